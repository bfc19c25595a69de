"""The routes MLflow's web UI and its REST tests call outside the RPC table
(mlflow/server/__init__.py and handlers.py, 2.9.2 to 3.10; MLFLOW-3X.md
§5.2): /ajax-api/2.0/mlflow/metrics/get-history-bulk,
experiments/search-datasets, runs/create-promptlab-run, upload-artifact,
/get-artifact and /model-versions/get-artifact, with MLflow's parameters,
limits and error texts (the cases of MLflow 2.9.2's
tests/tracking/test_rest_tracking.py and more).
"""

import json
import socket
import unittest

import mtapi
from mtapi import AJAX, ApiTestCase, call, get_run, kv, new_experiment, new_run, post, uniq

BULK = AJAX + "metrics/get-history-bulk"


def setUpModule():
    mtapi.wait_ready()


def upload(run_id=None, path=None, data=None, headers=None, query=None):
    q = query if query is not None else {"run_uuid": run_id, "path": path}
    return call("POST", AJAX + "upload-artifact", query=q, raw=data, headers=headers)


def get_artifact(**q):
    return call("GET", "/get-artifact", query=q)


def put_artifact(run_id, rel, data):
    """What MLflow's client does for log_artifact on a proxied run root."""
    info = mtapi._ok(mtapi.get("runs/get", run_id=run_id), "runs/get")["run"]["info"]
    root = info["artifact_uri"][len("mlflow-artifacts:/"):]
    r = call("PUT", "/api/2.0/mlflow-artifacts/artifacts/%s/%s" % (root, rel), raw=data)
    assert r.status == 200, r


class TestGetHistoryBulk(ApiTestCase):
    def test_rejects_invalid_requests(self):
        r = call("GET", BULK, query={"metric_key": "key"})
        self.assertInvalid(r)
        self.assertEqual(r.body["message"],
                         "GetMetricHistoryBulk request must specify at least one run_id.")
        r = call("GET", BULK, query={"run_id": ["id_%d" % i for i in range(101)],
                                     "metric_key": "key"})
        self.assertEqual(r.body["message"], "GetMetricHistoryBulk request cannot specify more "
                         "than 100 run_ids. Received 101 run_ids.")
        self.assertInvalid(r)
        r = call("GET", BULK, query={"run_id": ["123"]})
        self.assertInvalid(r)
        self.assertEqual(r.body["message"],
                         "GetMetricHistoryBulk request must specify a metric_key.")
        for bad in ("abc", "-1", "1.5"):
            self.assertInvalid(call("GET", BULK, query={"run_id": "x", "metric_key": "k",
                                                        "max_results": bad}))

    def test_expected_metrics_in_expected_order(self):
        """MLflow's own case: ordered by run id, then timestamp, step, value."""
        exp = new_experiment()
        run1, run2, run3 = sorted(new_run(exp) for _ in range(3))
        hist_a = [{"key": "metricA", "timestamp": 1, "step": 2, "value": 10.0},
                  {"key": "metricA", "timestamp": 1, "step": 3, "value": 11.0},
                  {"key": "metricA", "timestamp": 1, "step": 3, "value": 12.0},
                  {"key": "metricA", "timestamp": 2, "step": 3, "value": 12.0}]
        for m in reversed(hist_a):
            mtapi.log_metric(run1, m["key"], m["value"], m["step"], m["timestamp"])
            mtapi.log_metric(run2, m["key"], m["value"] + 1.0, m["step"], m["timestamp"])
        r = call("GET", BULK, query={"run_id": [run1], "metric_key": "metricA"})
        self.assertEqual(self.assertOk(r)["metrics"], [dict(m, run_id=run1) for m in hist_a])
        r = call("GET", BULK, query={"run_id": [run3, run2, run1], "metric_key": "metricA"})
        want = [dict(m, run_id=run1) for m in hist_a] + \
            [dict(m, run_id=run2, value=m["value"] + 1.0) for m in hist_a]
        self.assertEqual(self.assertOk(r)["metrics"], want)
        # max_results is one limit over all runs; above 25000 it is 25000.
        r = call("GET", BULK, query={"run_id": [run1, run2], "metric_key": "metricA",
                                     "max_results": 2})
        self.assertEqual(self.assertOk(r)["metrics"], want[:2])
        r = call("GET", BULK, query={"run_id": [run1], "metric_key": "metricA",
                                     "max_results": 10 ** 9})
        self.assertEqual(len(self.assertOk(r)["metrics"]), 4)
        # Nothing logged, or ids that name no run: an empty list, as MLflow.
        r = call("GET", BULK, query={"run_id": [run3, "id_5"], "metric_key": "metricA"})
        self.assertEqual(self.assertOk(r), {"metrics": []})

    def test_bulk_interval_ajax_form(self):
        run = new_run()
        for s in range(5):
            mtapi.log_metric(run, "m", float(s), s, 100 + s)
        q = {"run_ids": [run], "metric_key": "m", "max_results": 10}
        a = self.assertOk(call("GET", AJAX + "metrics/get-history-bulk-interval", query=q))
        b = self.assertOk(mtapi.get("metrics/get-history-bulk-interval", **q))
        self.assertEqual(a, b)
        self.assertEqual([m["step"] for m in a["metrics"]], [0, 1, 2, 3, 4])


class TestSearchDatasets(ApiTestCase):
    def test_rejects_invalid_requests(self):
        for body in ({}, {"experiment_ids": []}):
            r = mtapi.ajax_post("experiments/search-datasets", body)
            self.assertInvalid(r)
            self.assertEqual(r.body["message"],
                             "SearchDatasets request must specify at least one experiment_id.")
        r = mtapi.ajax_post("experiments/search-datasets",
                            {"experiment_ids": ["id_%d" % i for i in range(1000)]})
        self.assertInvalid(r)
        self.assertEqual(r.body["message"], "SearchDatasets request cannot specify more than 20 "
                         "experiment_ids. Received 1000 experiment_ids.")
        r = call("POST", AJAX + "experiments/search-datasets", raw='{"experiment_ids": ["0"]}',
                 headers={"Content-Type": "text/plain"})
        self.assertInvalid(r, "Content-Type must be one of ['application/json']")

    def test_returns_expected_results(self):
        exp = new_experiment()
        run = new_run(exp)
        ds = {"name": "name1", "digest": "digest1", "source_type": "source_type1",
              "source": "source1"}
        self.assertOk(post("runs/log-inputs", {"run_id": run, "datasets": [
            {"dataset": ds, "tags": [{"key": "mlflow.data.context", "value": "training"}]},
            {"dataset": dict(ds, name="name2", digest="d2")}]}))
        other = new_run(exp)
        self.assertOk(post("runs/log-inputs", {"run_id": other, "datasets": [
            {"dataset": ds, "tags": [{"key": "mlflow.data.context", "value": "training"}]}]}))
        r = mtapi.ajax_post("experiments/search-datasets", {"experiment_ids": [exp, "nope"]})
        self.assertEqual(self.assertOk(r)["dataset_summaries"], [
            {"experiment_id": exp, "name": "name1", "digest": "digest1", "context": "training"},
            {"experiment_id": exp, "name": "name2", "digest": "d2"}])
        r = mtapi.ajax_post("experiments/search-datasets", {"experiment_ids": [new_experiment()]})
        self.assertEqual(self.assertOk(r), {})


PROMPTLAB = {
    "run_name": "my_run_name", "prompt_template": "my_prompt_template {{ my_key }}",
    "prompt_parameters": [{"key": "my_key", "value": "my_value"}], "model_route": "my_route",
    "model_parameters": [{"key": "temperature", "value": "0.1"}], "model_input": "my_input",
    "model_output": "my_output", "model_output_parameters": [{"key": "latency", "value": "100"}],
    "mlflow_version": "1.0.0", "user_id": "username", "start_time": 456}


class TestCreatePromptlabRun(ApiTestCase):
    def test_rejects_invalid_requests(self):
        """MLflow's sequence: each required field in turn."""
        body = {}
        for field, value in (("experiment_id", "987654321098"), ("prompt_template", "t"),
                             ("prompt_parameters", [{"key": "k", "value": "v"}]),
                             ("model_route", "r"), ("model_input", "i"),
                             ("mlflow_version", None)):
            r = mtapi.ajax_post("runs/create-promptlab-run", body)
            self.assertInvalid(r)
            self.assertEqual(r.body["message"],
                             "CreatePromptlabRun request must specify %s." % field)
            body[field] = value
        # Empty values count as missing ("if not arg").
        r = mtapi.ajax_post("runs/create-promptlab-run", dict(body, mlflow_version="1",
                                                               prompt_parameters=[]))
        self.assertInvalid(r, "CreatePromptlabRun request must specify prompt_parameters.")
        # All there, the experiment unknown: nothing is created.
        r = mtapi.ajax_post("runs/create-promptlab-run", dict(body, mlflow_version="1"))
        self.assertNotFound(r)

    def test_returns_expected_results(self):
        exp = new_experiment()
        r = mtapi.ajax_post("runs/create-promptlab-run", dict(PROMPTLAB, experiment_id=exp))
        run = self.assertOk(r)["run"]
        info, data = run["info"], run["data"]
        self.assertEqual(info["run_name"], "my_run_name")
        self.assertEqual(info["experiment_id"], exp)
        self.assertEqual(info["user_id"], "username")
        self.assertEqual(info["status"], "FINISHED")
        self.assertEqual(info["start_time"], 456)
        self.assertIn("end_time", info)
        params = kv(data["params"])
        self.assertEqual(params, {"model_route": "my_route", "temperature": "0.1",
                                  "prompt_template": "my_prompt_template {{ my_key }}"})
        tags = kv(data["tags"])
        self.assertEqual(tags["mlflow.loggedArtifacts"],
                         '[{"path": "eval_results_table.json", "type": "table"}]')
        self.assertEqual(tags["mlflow.runSourceType"], "PROMPT_ENGINEERING")
        hist = json.loads(tags["mlflow.log-model.history"])
        self.assertEqual([(m["artifact_path"], m["run_id"]) for m in hist],
                         [("model", info["run_id"])])
        # The evaluation table the UI shows, as MLflow writes it.
        r = get_artifact(run_id=info["run_id"], path="eval_results_table.json")
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body) if isinstance(r.body, str) else r.body, {
            "columns": ["my_key", "prompt", "output", "latency"],
            "data": [["my_value", "my_input", "my_output", "100"]]})
        self.assertEqual(get_run(info["run_id"])["info"]["status"], "FINISHED")

    def test_tags_and_defaults(self):
        exp = new_experiment()
        body = {k: v for k, v in PROMPTLAB.items()
                if k not in ("user_id", "start_time", "run_name", "model_output")}
        body.update(experiment_id=exp, tags=[{"key": "t", "value": "v"}])
        run = self.assertOk(mtapi.ajax_post("runs/create-promptlab-run", body))["run"]
        self.assertEqual(run["info"]["user_id"], "unknown")
        self.assertGreater(run["info"]["start_time"], 1_600_000_000_000)
        self.assertEqual(kv(run["data"]["tags"])["t"], "v")


class TestUploadArtifact(ApiTestCase):
    def test_rejects_invalid_requests(self):
        run = new_run()
        cases = [({}, "Request must specify run_uuid."),
                 ({"run_uuid": run}, "Request must specify path."),
                 ({"run_uuid": run, "path": ""}, "Request must specify path."),
                 ({"run_uuid": run, "path": "../test.txt"}, "Invalid path"),
                 ({"run_uuid": run, "path": "/etc/x"}, "Invalid path"),
                 ({"run_uuid": run, "path": "test.txt"}, "Request must specify data.")]
        for q, msg in cases:
            r = upload(query=q, data=b"")
            self.assertInvalid(r)
            self.assertEqual(r.body["message"], msg, q)
        # A form is not data (Flask parses it away): refused the same way.
        r = upload(run, "f.txt", b"a=b", {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertInvalid(r, "Request must specify data.")
        r = upload("f" * 32, "t.txt", b"x")
        self.assertNotFound(r, "Run with id=%s not found" % ("f" * 32))
        self.assertEqual(get_artifact(run_id=run, path="test.txt").status, 404)

    def test_size_limit(self):
        """10 MB, checked on Content-Length before the body is read (so the
        answer comes while the client would still be sending)."""
        run = new_run()
        s = socket.create_connection((mtapi._HOST, mtapi._PORT), timeout=30)
        try:
            s.sendall(("POST %s%supload-artifact?run_uuid=%s&path=big.bin HTTP/1.1\r\n"
                       "Host: 127.0.0.1\r\nContent-Length: %d\r\n\r\n"
                       % (mtapi._PREFIX, AJAX, run, 10 * 1024 * 1024 + 1)).encode())
            resp = b""
            while b"\r\n\r\n" not in resp or not resp.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                resp += chunk
        finally:
            s.close()
        head, _, body = resp.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 400"), head)
        self.assertEqual(json.loads(body), {"error_code": "INVALID_PARAMETER_VALUE",
                                            "message": "Artifact size is too large. "
                                                       "Max size is 10MB."})
        ok = upload(run, "ten.bin", b"x" * (10 * 1024 * 1024))
        self.assertEqual(ok.status, 200, ok.body)
        self.assertEqual(get_artifact(run_id=run, path="big.bin").status, 404)

    def test_upload_then_get(self):
        """MLflow's test, then the UI's way (JSON content type, a subdirectory)."""
        run = new_run()
        r = upload(run, "test.txt", "hello world")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.body, "")
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"))
        r = get_artifact(run_uuid=run, path="test.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, "hello world")
        r = upload(run, "dir/note.json", json.dumps("some text"),
                   {"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(get_artifact(run_id=run, path="dir/note.json").body, "some text")
        files = self.assertOk(mtapi.get("artifacts/list", run_id=run))["files"]
        self.assertEqual(sorted(f["path"] for f in files), ["dir", "test.txt"])

    def test_cross_origin_refused(self):
        run = new_run()
        r = upload(run, "x.txt", b"evil", {"Origin": "http://evil.example"})
        self.assertEqual(r.status, 403, r.body)
        self.assertEqual(get_artifact(run_id=run, path="x.txt").status, 404)


class TestGetArtifact(ApiTestCase):
    def test_path_validation(self):
        """MLflow 2.9.2's test_path_validation, the two routes of this file."""
        run = new_run()
        for path, q in (("/get-artifact", {"run_id": run, "path": "../path"}),
                        ("//model-versions/get-artifact",
                         {"name": "model", "version": 1, "path": "../path"}),
                        ("/model-versions/get-artifact",
                         {"name": uniq("none"), "version": 1, "path": "a/../../b"})):
            r = call("GET", path, query=q)
            self.assertEqual(r.status, 400, (path, r.body))
            self.assertEqual(r.body, {"error_code": "INVALID_PARAMETER_VALUE",
                                      "message": "Invalid path"})

    def test_errors(self):
        run = new_run()
        self.assertMissing(get_artifact(run_id=run), "path")
        self.assertMissing(get_artifact(path="a.txt"), "run_id")
        self.assertNotFound(get_artifact(run_id="f" * 32, path="a.txt"))
        self.assertNotFound(get_artifact(run_id=run, path="missing.txt"))

    def test_headers_and_ranges(self):
        run = new_run()
        put_artifact(run, "model/MLmodel", b"flavors: {}\n")
        r = call("GET", "/get-artifact", query={"run_uuid": run, "path": "model/MLmodel"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, "flavors: {}\n")
        self.assertIn("attachment", r.headers.get("Content-Disposition", ""))
        self.assertIn("MLmodel", r.headers.get("Content-Disposition", ""))
        self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff")
        r = call("GET", "/get-artifact", query={"run_id": run, "path": "model/MLmodel"},
                 headers={"Range": "bytes=0-6"})
        self.assertEqual((r.status, r.body), (206, "flavors"))
        self.assertEqual(call("HEAD", "/get-artifact?run_id=%s&path=model/MLmodel" % run).status,
                         200)

    def test_model_version_artifact(self):
        run = new_run()
        put_artifact(run, "model/MLmodel", b"artifact_path: model\n")
        info = get_run(run)["info"]
        name = uniq("mvga")
        self.assertOk(post("registered-models/create", {"name": name}))
        self.assertOk(post("model-versions/create", {
            "name": name, "source": info["artifact_uri"] + "/model", "run_id": run}))
        q = {"name": name, "version": 1, "path": "MLmodel"}
        r = call("GET", "/model-versions/get-artifact", query=q)
        self.assertEqual((r.status, r.body), (200, "artifact_path: model\n"))
        self.assertIn("attachment", r.headers.get("Content-Disposition", ""))
        r = call("GET", "//model-versions/get-artifact", query=q)
        self.assertEqual(r.status, 200)
        self.assertNotFound(call("GET", "/model-versions/get-artifact",
                                 query={"name": name, "version": 2, "path": "MLmodel"}))
        self.assertNotFound(call("GET", "/model-versions/get-artifact",
                                 query={"name": uniq("none"), "version": 1, "path": "MLmodel"}))
        self.assertNotFound(call("GET", "/model-versions/get-artifact",
                                 query={"name": name, "version": 1, "path": "nope"}))


if __name__ == "__main__":
    unittest.main()
