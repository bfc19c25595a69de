"""POST /api/2.0/mlflow/runs/log-model: what every `mlflow.<flavor>.log_model`
inside a run sends, 2.9 to 3.x (MLFLOW-3X.md §5.1).

Body {"run_id", "model_json"}: model_json is json.dumps of the model's dict
(the whole MLmodel dict up to 2.15, Model.get_tags_dict() from 2.16).  The
server parses it, checks the four mandatory keys and appends the model to
the run's `mlflow.log-model.history` tag, a JSON list, re-serialised as
Python's json.dumps writes it, within the run-tag length limit.  Clients
swallow any error of this call with a warning.
"""

import json
import threading
import unittest

import mtapi
from mtapi import ApiTestCase, get_run, kv, new_run, post

HISTORY = "mlflow.log-model.history"


def setUpModule():
    mtapi.wait_ready()


def model_2_9(run_id, path, uuid="0" * 32):
    """Model.to_dict() of a pyfunc model logged by MLflow 2.9.2."""
    return {
        "run_id": run_id, "artifact_path": path,
        "utc_time_created": "2024-01-05 10:11:12.123456",
        "flavors": {"python_function": {"loader_module": "mlflow.pyfunc.model",
                                        "python_version": "3.11.2",
                                        "env": {"conda": "conda.yaml",
                                                "virtualenv": "python_env.yaml"}}},
        "signature": None, "saved_input_example_info": None, "model_uuid": uuid,
        "mlflow_version": "2.9.2", "metadata": None, "model_size_bytes": 1234,
    }


def model_2_16(run_id, path, uuid="1" * 32):
    """Model.get_tags_dict() of MLflow 2.16+ (and 3.x): flavors without config."""
    return {"run_id": run_id, "artifact_path": path,
            "utc_time_created": "2025-02-03 04:05:06.000007", "model_uuid": uuid,
            "flavors": {"sklearn": {"pickled_model": "model.pkl", "sklearn_version": "1.2.1",
                                    "serialization_format": "cloudpickle", "code": None}}}


def log_model(run_id, model, **extra):
    body = {"run_id": run_id, "model_json": json.dumps(model)}
    body.update(extra)
    return post("runs/log-model", body)


def history_text(run_id):
    return kv(get_run(run_id)["data"].get("tags")).get(HISTORY)


class TestLogModel(ApiTestCase):
    def test_appends_as_mlflow_does(self):
        run = new_run()
        first = model_2_9(run, "model/path/0")
        self.assertEmptyOk(log_model(run, first))
        text = history_text(run)
        self.assertEqual(json.loads(text), [first])
        # Python's json.dumps: ", " and ": " separators, keys in sent order.
        self.assertEqual(text, json.dumps([first]))
        second = model_2_16(run, "model/path/1")
        self.assertEmptyOk(log_model(run, second))
        text = history_text(run)
        self.assertEqual(json.loads(text), [first, second])
        self.assertEqual(text, json.dumps([first, second]))
        self.assertEqual([m["artifact_path"] for m in json.loads(text)],
                         ["model/path/0", "model/path/1"])

    def test_run_uuid_and_double_encoded_body(self):
        run = new_run()
        m = model_2_16(run, "m")
        r = mtapi.call("POST", mtapi.API + "runs/log-model",
                       raw=json.dumps(json.dumps({"run_uuid": run, "model_json": json.dumps(m)})),
                       headers={"Content-Type": "application/json"})
        self.assertEmptyOk(r)
        self.assertEqual(json.loads(history_text(run)), [m])

    def test_non_ascii_is_escaped(self):
        run = new_run()
        m = model_2_16(run, "mod\u00e8le")
        self.assertEmptyOk(log_model(run, m))
        text = history_text(run)
        self.assertTrue(text.isascii(), text)
        self.assertEqual(json.loads(text), [m])

    def test_required_fields(self):
        run = new_run()
        self.assertMissing(post("runs/log-model", {"model_json": "{}"}), "run_id")
        self.assertMissing(post("runs/log-model", {"run_id": run}), "model_json")
        self.assertMissing(post("runs/log-model", {"run_id": run, "model_json": ""}),
                           "model_json")
        self.assertInvalid(post("runs/log-model", {"run_id": run, "model_json": {"a": 1}}))
        self.assertInvalid(post("runs/log-model", {"run_id": 5, "model_json": "{}"}))
        self.assertIsNone(history_text(run))

    def test_malformed_model_json(self):
        run = new_run()
        for bad in ("{not json", "[1, 2]", "42"):
            r = post("runs/log-model", {"run_id": run, "model_json": bad})
            self.assertInvalid(r)
            # MLflow's text, its two newlines as spaces (one-line messages).
            self.assertEqual(r.body["message"],
                             "Malformed model info.   %s   is not a valid JSON." % bad)
        self.assertIsNone(history_text(run))

    def test_missing_mandatory_fields(self):
        run = new_run()
        m = model_2_16(run, "m")
        del m["flavors"]
        r = log_model(run, m)
        self.assertInvalid(r)
        self.assertEqual(r.body["message"],
                         "Model json is missing mandatory fields: {'flavors'}")
        r = log_model(run, {"model_uuid": "x"})
        self.assertInvalid(r, "Model json is missing mandatory fields: {")
        for f in ("artifact_path", "flavors", "utc_time_created", "run_id"):
            self.assertIn("'%s'" % f, r.body["message"])
        self.assertIsNone(history_text(run))

    def test_unknown_and_deleted_runs(self):
        r = log_model("f" * 32, model_2_16("f" * 32, "m"))
        self.assertNotFound(r, "Run with id=%s not found" % ("f" * 32))
        run = new_run()
        self.assertOk(post("runs/delete", {"run_id": run}))
        self.assertInvalid(log_model(run, model_2_16(run, "m")), "must be in the 'active' state")

    def test_tag_length_limit(self):
        """The history is a run tag: past 8000 characters the call is refused
        (MLflow: INVALID_PARAMETER_VALUE, which the client logs and
        ignores) and the tag keeps its value."""
        run = new_run()
        m = model_2_16(run, "m")
        n = 0
        while True:
            r = log_model(run, m)
            if r.status != 200:
                break
            n += 1
            self.assertLess(n, 100)
        self.assertInvalid(r, ["mlflow.log-model.history", "8000"])
        self.assertGreater(n, 5)
        text = history_text(run)
        self.assertLessEqual(len(text), 8000)
        self.assertEqual(len(json.loads(text)), n)

    def test_history_that_is_not_a_list(self):
        """A history someone overwrote with set-tag: refused, never a 5xx."""
        run = new_run()
        for junk in ("not json", '{"a": 1}'):
            self.assertOk(post("runs/set-tag", {"run_id": run, "key": HISTORY, "value": junk}))
            r = log_model(run, model_2_16(run, "m"))
            self.assertInvalid(r, HISTORY)
            self.assertEqual(history_text(run), junk)

    def test_concurrent_appends_lose_nothing(self):
        run = new_run()
        results = []

        def one(i):
            results.append(log_model(run, model_2_16(run, "m%d" % i, uuid="%032d" % i)).status)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 8)
        paths = sorted(m["artifact_path"] for m in json.loads(history_text(run)))
        self.assertEqual(paths, sorted("m%d" % i for i in range(8)))


if __name__ == "__main__":
    unittest.main()
