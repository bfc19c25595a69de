"""MLflow 3's logged models (MLFLOW-3X.md sections 2.1 and 3): every endpoint
of the group at MLflow's own paths, its success and error paths with MLflow's
error codes and texts, and what goes with it: runs/outputs and model inputs
of runs, metrics that carry model_id / dataset_name / dataset_digest through
log-metric, log-batch and every read of history, model artifacts under
<experiment>/models/<model_id>/artifacts in the artifact proxy, and model
versions made from a logged model (model_id, source models:/<model_id>).

The facts come from MLflow's server (mlflow/server/handlers.py,
mlflow/store/tracking/sqlalchemy_store.py, mlflow/protos/service.proto on
the 3.x branches); where mltrack answers differently it says so in
docs/api.md and the test names the difference.
"""

import json
import re
import time
import unittest

import mtapi
from mtapi import API, AJAX, call, get, new_experiment, new_run, now_ms, post, uniq

setUpModule = mtapi.wait_ready

LM = API + "logged-models"
MODEL_ID_RE = re.compile(r"^m-[0-9a-f]{32}$")
BAD_CHARS = "('/', ':', '.', '%', '\"', \"'\")"


def lm_create(experiment_id, **fields):
    body = {"experiment_id": experiment_id}
    body.update(fields)
    return call("POST", LM, body=body)


def lm_get(model_id, **query):
    return call("GET", LM + "/" + model_id, query=query or None)


def lm_finalize(model_id, status, body_id=None):
    return call("PATCH", LM + "/" + model_id,
                body={"model_id": body_id or model_id, "status": status})


def lm_delete(model_id):
    return call("DELETE", LM + "/" + model_id, body={"model_id": model_id})


def lm_set_tags(model_id, tags):
    return call("PATCH", LM + "/" + model_id + "/tags",
                body={"tags": [{"key": k, "value": v} for k, v in tags]})


def lm_delete_tag(model_id, key):
    return call("DELETE", LM + "/" + model_id + "/tags/" + key)


def lm_params(model_id, params, body_id=None):
    return call("POST", LM + "/" + model_id + "/params",
                body={"model_id": body_id or model_id,
                      "params": [{"key": k, "value": v} for k, v in params]})


def lm_search(body):
    return call("POST", LM + "/search", body=body)


class Case(mtapi.ApiTestCase):
    def model(self, experiment_id=None, **fields):
        """A new logged model; returns its LoggedModel object."""
        if experiment_id is None:
            experiment_id = new_experiment()
        b = self.assertOk(lm_create(experiment_id, **fields))
        return b["model"]

    def mid(self, experiment_id=None, **fields):
        return self.model(experiment_id, **fields)["info"]["model_id"]

    def search_ids(self, body):
        b = self.assertOk(lm_search(body))
        return [m["info"]["model_id"] for m in b.get("models", [])]


class TestCreate(Case):
    def test_minimal(self):
        e = new_experiment()
        t0 = now_ms()
        b = self.assertOk(lm_create(e))
        self.assertEqual(set(b), {"model"})
        m = b["model"]
        self.assertEqual(set(m), {"info", "data"})
        self.assertEqual(m["data"], {})
        info = m["info"]
        self.assertRegex(info["model_id"], MODEL_ID_RE)
        self.assertEqual(info["experiment_id"], e)
        self.assertTrue(info["name"])
        self.assertNotRegex(info["name"], r"[/:.%\"']")
        self.assertEqual(info["artifact_uri"],
                         "mlflow-artifacts:/%s/models/%s/artifacts" % (e, info["model_id"]))
        self.assertEqual(info["status"], "LOGGED_MODEL_PENDING")
        self.assertInt(info["creation_timestamp_ms"])
        self.assertEqual(info["creation_timestamp_ms"], info["last_updated_timestamp_ms"])
        self.assertGreaterEqual(info["creation_timestamp_ms"], t0 - 5000)
        # Unset fields are left out, as proto JSON does.
        for absent in ("model_type", "source_run_id", "tags", "status_message", "creator_id",
                       "registrations"):
            self.assertNotIn(absent, info)

    def test_full(self):
        e = new_experiment()
        run = new_run(e)
        m = self.model(e, name="model", model_type="Classifier", source_run_id=run,
                       params=[{"key": "alpha", "value": "0.5"}, {"key": "l1", "value": ""}],
                       tags=[{"key": "mlflow.user", "value": "alice"},
                             {"key": "mlflow.source.name", "value": "train.py"}])
        info = m["info"]
        self.assertEqual(info["name"], "model")
        self.assertEqual(info["model_type"], "Classifier")
        self.assertEqual(info["source_run_id"], run)
        self.assertEqual(mtapi.kv(info["tags"]), {"mlflow.user": "alice",
                                                  "mlflow.source.name": "train.py"})
        self.assertEqual(mtapi.kv(m["data"]["params"]), {"alpha": "0.5", "l1": ""})
        self.assertNotIn("metrics", m["data"])
        # The same model on read-back.
        self.assertEqual(mtapi.norm(self.assertOk(lm_get(info["model_id"]))["model"]),
                         mtapi.norm(m))

    def test_empty_name_is_generated(self):
        # The handler passes `name or None`: "" gets a generated name.
        info = self.model(name="")["info"]
        self.assertTrue(info["name"])

    def test_source_run_id_is_not_checked(self):
        info = self.model(source_run_id="0" * 32)["info"]
        self.assertEqual(info["source_run_id"], "0" * 32)

    def test_artifact_uri_follows_the_experiment(self):
        e = new_experiment(artifact_location="s3://bucket/prefix/")
        info = self.model(e)["info"]
        self.assertEqual(info["artifact_uri"],
                         "s3://bucket/prefix/models/%s/artifacts" % info["model_id"])
        e = new_experiment(artifact_location="/srv/mlruns/x")
        info = self.model(e)["info"]
        self.assertEqual(info["artifact_uri"],
                         "/srv/mlruns/x/models/%s/artifacts" % info["model_id"])

    def test_ids_are_unique(self):
        e = new_experiment()
        ids = {self.mid(e) for _ in range(20)}
        self.assertEqual(len(ids), 20)

    def test_ajax_mirror(self):
        e = new_experiment()
        b = self.assertOk(call("POST", AJAX + "logged-models", body={"experiment_id": e}))
        mid = b["model"]["info"]["model_id"]
        self.assertOk(call("GET", AJAX + "logged-models/" + mid))

    def test_missing_experiment_id(self):
        self.assertMissing(call("POST", LM, body={"name": "m"}), "experiment_id")
        self.assertMissing(call("POST", LM, body={"experiment_id": ""}), "experiment_id")

    def test_unknown_experiment(self):
        self.assertNotFound(lm_create("987654321"), "No Experiment with id=987654321 exists")

    def test_deleted_experiment(self):
        e = new_experiment()
        self.assertEmptyOk(post("experiments/delete", {"experiment_id": e}))
        self.assertInvalid(lm_create(e), "The experiment %s must be in the 'active' state. "
                                         "Current state is deleted." % e)

    def test_bad_names(self):
        e = new_experiment()
        for name in ("a/b", "a:b", "a.b", "a%b", 'a"b'):
            r = lm_create(e, name=name)
            self.assertInvalid(r, "Invalid model name ('%s') provided. Model name must be a "
                                  "non-empty string and cannot contain the following "
                                  "characters: %s" % (name, BAD_CHARS))
        # Python's repr picks double quotes for a name holding a single one.
        self.assertInvalid(lm_create(e, name="it's"), "Invalid model name (\"it's\") provided.")

    def test_bad_fields(self):
        e = new_experiment()
        self.assertInvalid(lm_create(e, name="x" * 501))
        self.assertInvalid(lm_create(e, params="alpha"))
        self.assertInvalid(lm_create(e, tags={"a": "b"}))
        self.assertInvalid(lm_create(e, params=[{"value": "no key"}]))
        self.assertInvalid(lm_create(e, tags=[{"key": "k" * 256, "value": "v"}]))
        self.assertInvalid(lm_create(e, params=[{"key": "a", "value": "1"},
                                                {"key": "a", "value": "2"}]))
        # Nothing was created by the refusals.
        self.assertEqual(self.search_ids({"experiment_ids": [e]}), [])


class TestGet(Case):
    def test_unknown(self):
        self.assertNotFound(lm_get("m-" + "0" * 32),
                            "Logged model with ID 'm-%s' not found." % ("0" * 32))

    def test_deleted(self):
        mid = self.mid()
        self.assertEmptyOk(lm_delete(mid))
        self.assertNotFound(lm_get(mid), "Logged model with ID '%s' not found." % mid)
        # allow_deleted=true (sent by the 3.7+ client's mlflow gc).
        b = self.assertOk(lm_get(mid, allow_deleted="true"))
        self.assertEqual(b["model"]["info"]["model_id"], mid)
        self.assertNotFound(lm_get(mid, allow_deleted="false"))

    def test_methods(self):
        mid = self.mid()
        self.assertError(call("PUT", LM + "/" + mid, body={}), 405)
        self.assertError(call("GET", LM), 405)


class TestFinalize(Case):
    def test_ready_and_failed(self):
        m = self.model()
        mid = m["info"]["model_id"]
        time.sleep(0.01)
        b = self.assertOk(lm_finalize(mid, "LOGGED_MODEL_READY"))
        info = b["model"]["info"]
        self.assertEqual(info["status"], "LOGGED_MODEL_READY")
        self.assertGreater(info["last_updated_timestamp_ms"], m["info"]["creation_timestamp_ms"])
        self.assertEqual(info["creation_timestamp_ms"], m["info"]["creation_timestamp_ms"])
        # Enum numbers are accepted as well (proto JSON).
        b = self.assertOk(lm_finalize(mid, 3))
        self.assertEqual(b["model"]["info"]["status"], "LOGGED_MODEL_UPLOAD_FAILED")
        self.assertEqual(self.assertOk(lm_get(mid))["model"]["info"]["status"],
                         "LOGGED_MODEL_UPLOAD_FAILED")

    def test_body_model_id_is_the_one_finalized(self):
        # MLflow's handler reads model_id from the body, not the URL.
        a, b = self.mid(), self.mid()
        self.assertOk(lm_finalize(a, "LOGGED_MODEL_READY", body_id=b))
        self.assertEqual(self.assertOk(lm_get(b))["model"]["info"]["status"],
                         "LOGGED_MODEL_READY")
        self.assertEqual(self.assertOk(lm_get(a))["model"]["info"]["status"],
                         "LOGGED_MODEL_PENDING")

    def test_errors(self):
        mid = self.mid()
        self.assertMissing(call("PATCH", LM + "/" + mid, body={"model_id": mid}), "status")
        self.assertMissing(call("PATCH", LM + "/" + mid, body={"status": "LOGGED_MODEL_READY"}),
                           "model_id")
        self.assertInvalid(lm_finalize(mid, "READYISH"),
                           "Invalid value \"READYISH\" for parameter 'status' supplied")
        self.assertInvalid(lm_finalize(mid, 9), "Unknown model status: 9")
        self.assertInvalid(lm_finalize(mid, True))
        self.assertNotFound(lm_finalize("m-" + "1" * 32, "LOGGED_MODEL_READY"),
                            "Logged model with ID 'm-%s' not found." % ("1" * 32))
        self.assertEqual(self.assertOk(lm_get(mid))["model"]["info"]["status"],
                         "LOGGED_MODEL_PENDING")


class TestDelete(Case):
    def test_delete(self):
        e = new_experiment()
        keep, gone = self.mid(e), self.mid(e)
        self.assertEmptyOk(lm_delete(gone))
        self.assertEqual(self.search_ids({"experiment_ids": [e]}), [keep])
        # Deleting again finds the record (MLflow looks it up whatever its stage).
        self.assertEmptyOk(lm_delete(gone))
        # A DELETE without a body works too.
        self.assertEmptyOk(call("DELETE", LM + "/" + keep))
        self.assertEqual(self.search_ids({"experiment_ids": [e]}), [])

    def test_unknown(self):
        self.assertNotFound(lm_delete("m-nope"), "Logged model with ID 'm-nope' not found.")


class TestTags(Case):
    def test_set_and_delete(self):
        mid = self.mid(tags=[{"key": "a", "value": "1"}])
        self.assertEmptyOk(lm_set_tags(mid, [("b", "2"), ("a", "3"),
                                             ("mlflow.model.isExternal", "true")]))
        info = self.assertOk(lm_get(mid))["model"]["info"]
        self.assertEqual(mtapi.kv(info["tags"]),
                         {"a": "3", "b": "2", "mlflow.model.isExternal": "true"})
        self.assertEmptyOk(lm_delete_tag(mid, "mlflow.model.isExternal"))
        info = self.assertOk(lm_get(mid))["model"]["info"]
        self.assertEqual(mtapi.kv(info["tags"]), {"a": "3", "b": "2"})
        # The client's body carries no model_id; an empty list is fine.
        self.assertEmptyOk(call("PATCH", LM + "/" + mid + "/tags", body={"tags": []}))
        self.assertEmptyOk(call("PATCH", LM + "/" + mid + "/tags", body={}))

    def test_last_value_wins_in_one_request(self):
        mid = self.mid()
        self.assertEmptyOk(lm_set_tags(mid, [("k", "1"), ("k", "2")]))
        self.assertEqual(mtapi.kv(self.assertOk(lm_get(mid))["model"]["info"]["tags"]),
                         {"k": "2"})

    def test_errors(self):
        mid = self.mid()
        self.assertNotFound(lm_delete_tag(mid, "nope"),
                            "No tag with key 'nope' found for model with ID '%s'." % mid)
        self.assertNotFound(lm_set_tags("m-nope", [("a", "b")]),
                            "Logged model with ID 'm-nope' not found.")
        self.assertNotFound(lm_delete_tag("m-nope", "a"),
                            "Logged model with ID 'm-nope' not found.")
        self.assertInvalid(call("PATCH", LM + "/" + mid + "/tags", body={"tags": "a"}))
        self.assertInvalid(call("PATCH", LM + "/" + mid + "/tags", body={"tags": [{"value": "v"}]}))
        self.assertInvalid(lm_set_tags(mid, [("k" * 256, "v")]))
        self.assertNotIn("tags", self.assertOk(lm_get(mid))["model"]["info"])


class TestParams(Case):
    def test_log_params(self):
        mid = self.mid(params=[{"key": "a", "value": "1"}])
        self.assertEmptyOk(lm_params(mid, [("b%03d" % i, str(i)) for i in range(100)]))
        params = mtapi.kv(self.assertOk(lm_get(mid))["model"]["data"]["params"])
        self.assertEqual(len(params), 101)
        self.assertEqual(params["b042"], "42")
        # The same value again is a no-op; a different one is refused.
        self.assertEmptyOk(lm_params(mid, [("a", "1")]))
        self.assertInvalid(lm_params(mid, [("a", "2")]), "'a'")
        self.assertEqual(mtapi.kv(self.assertOk(lm_get(mid))["model"]["data"]["params"])["a"], "1")

    def test_errors(self):
        mid = self.mid()
        self.assertMissing(call("POST", LM + "/" + mid + "/params",
                                body={"params": [{"key": "a", "value": "1"}]}), "model_id")
        self.assertInvalid(call("POST", LM + "/" + mid + "/params",
                                body={"model_id": mid, "params": {"a": "1"}}))
        self.assertNotFound(lm_params("m-nope", [("a", "1")]),
                            "Logged model with ID 'm-nope' not found.")
        self.assertEmptyOk(call("POST", LM + "/" + mid + "/params", body={"model_id": mid}))
        self.assertNotIn("params", self.assertOk(lm_get(mid))["model"]["data"])


class TestSearch(Case):
    def test_required_and_types(self):
        self.assertMissing(lm_search({}), "experiment_ids")
        self.assertInvalid(lm_search({"experiment_ids": "1"}))
        self.assertInvalid(lm_search({"experiment_ids": [1]}))
        self.assertInvalid(lm_search({"experiment_ids": ["1"], "max_results": "many"}))
        self.assertInvalid(lm_search({"experiment_ids": ["1"], "order_by": "name"}))
        self.assertInvalid(lm_search({"experiment_ids": ["1"], "datasets": {"a": 1}}))
        # An empty list is allowed and matches nothing.
        self.assertEqual(self.assertOk(lm_search({"experiment_ids": []})), {})

    def test_default_order_and_paging(self):
        e = new_experiment()
        ids = []
        for _ in range(5):
            ids.append(self.mid(e, name="m"))
            time.sleep(0.002)
        newest_first = list(reversed(ids))
        self.assertEqual(self.search_ids({"experiment_ids": [e]}), newest_first)
        seen, token = [], None
        while True:
            body = {"experiment_ids": [e], "max_results": 2}
            if token:
                body["page_token"] = token
            b = self.assertOk(lm_search(body))
            seen += [m["info"]["model_id"] for m in b.get("models", [])]
            token = b.get("next_page_token")
            if not token:
                break
        self.assertEqual(seen, newest_first)
        # A token belongs to its search.
        b = self.assertOk(lm_search({"experiment_ids": [e], "max_results": 2}))
        tok = b["next_page_token"]
        self.assertInvalid(lm_search({"experiment_ids": [e], "max_results": 2, "page_token": tok,
                                      "filter": "name = 'm'"}),
                           "Filter string in the page token does not match the requested "
                           "filter string.")
        self.assertInvalid(lm_search({"experiment_ids": [e, "0"], "page_token": tok}),
                           "Experiment IDs in the page token do not match the requested "
                           "experiment IDs.")
        self.assertInvalid(lm_search({"experiment_ids": [e], "page_token": "!!not base64"}),
                           "Invalid page token")

    def test_default_page_size_is_50(self):
        e = new_experiment()
        for _ in range(51):
            lm_create(e)
        b = self.assertOk(lm_search({"experiment_ids": [e]}))
        self.assertEqual(len(b["models"]), 50)
        self.assertIn("next_page_token", b)
        b = self.assertOk(lm_search({"experiment_ids": [e], "page_token": b["next_page_token"]}))
        self.assertEqual(len(b["models"]), 1)
        self.assertNotIn("next_page_token", b)

    def test_filters(self):
        e = new_experiment()
        run = new_run(e)
        a = self.mid(e, name="alpha", model_type="Classifier", source_run_id=run,
                     params=[{"key": "lr", "value": "0.1"}], tags=[{"key": "team", "value": "x"}])
        b = self.mid(e, name="beta", params=[{"key": "lr", "value": "0.2"}],
                     tags=[{"key": "team", "value": "y"}])
        self.assertOk(lm_finalize(b, "LOGGED_MODEL_READY"))
        f = lambda s: self.search_ids({"experiment_ids": [e], "filter": s})  # noqa: E731
        self.assertEqual(f("name = 'alpha'"), [a])
        self.assertEqual(f("name != 'alpha'"), [b])
        self.assertEqual(f("name LIKE 'al%'"), [a])
        self.assertEqual(f("name ILIKE 'BE%'"), [b])
        self.assertEqual(sorted(f("name IN ('alpha', 'beta')")), sorted([a, b]))
        self.assertEqual(f("model_type = 'Classifier'"), [a])
        self.assertEqual(f("source_run_id = '%s'" % run), [a])
        self.assertEqual(f("model_id = '%s'" % b), [b])
        self.assertEqual(f("status = 'READY'"), [b])
        self.assertEqual(f("status = 'LOGGED_MODEL_PENDING'"), [a])
        self.assertEqual(f("params.lr = '0.2'"), [b])
        self.assertEqual(f("params.lr LIKE '0.%' AND tags.team = 'x'"), [a])
        self.assertEqual(f("tags.team != 'x'"), [b])
        self.assertEqual(f("attributes.name = 'beta'"), [b])
        created = self.assertOk(lm_get(a))["model"]["info"]["creation_timestamp_ms"]
        self.assertIn(a, f("creation_timestamp >= %d" % created))
        self.assertEqual(f("creation_time < %d" % created), [])
        self.assertEqual(sorted(f("last_updated_timestamp > 0")), sorted([a, b]))

    def test_bad_filters(self):
        e = new_experiment()
        for bad in ("bogus = 'x'", "metrics.acc = 'x'", "name > 'a'", "name = 'a' OR name = 'b'",
                    "params.lr > '1'", "foo.bar = 'x'", "status = 'SOMETIMES'"):
            self.assertInvalid(lm_search({"experiment_ids": [e], "filter": bad}), None)

    def test_bounds(self):
        e = new_experiment()
        ok = " AND ".join(["params.p%d = 'x'" % i for i in range(50)])
        self.assertOk(lm_search({"experiment_ids": [e], "filter": ok}))
        self.assertInvalid(lm_search({"experiment_ids": [e], "filter": ok + " AND name = 'x'"}),
                           "more than 50")
        order = [{"field_name": "metrics.m%d" % i} for i in range(20)]
        self.assertOk(lm_search({"experiment_ids": [e], "order_by": order}))
        self.assertInvalid(lm_search({"experiment_ids": [e],
                                      "order_by": order + [{"field_name": "name"}]}),
                           "more than 20")

    def test_metrics_filter_order_and_datasets(self):
        e = new_experiment()
        run = new_run(e)
        a, b, c = self.mid(e, name="a"), self.mid(e, name="b"), self.mid(e, name="c")
        t = now_ms()
        mtapi.log_batch(run, metrics=[
            {"key": "acc", "value": 0.9, "timestamp": t, "step": 0, "model_id": a,
             "dataset_name": "test", "dataset_digest": "d1"},
            {"key": "acc", "value": 0.7, "timestamp": t, "step": 0, "model_id": b,
             "dataset_name": "train", "dataset_digest": "d2"},
            {"key": "acc", "value": 0.8, "timestamp": t + 1, "step": 1, "model_id": b,
             "dataset_name": "test", "dataset_digest": "d1"},
        ])
        f = lambda s, **kw: self.search_ids(dict({"experiment_ids": [e], "filter": s}, **kw))  # noqa
        self.assertEqual(sorted(f("metrics.acc > 0.75")), sorted([a, b]))
        self.assertEqual(f("metrics.acc < 0.75"), [b])
        self.assertEqual(f("metrics.acc < 0.75", datasets=[{"dataset_name": "test"}]), [])
        self.assertEqual(f("metrics.acc < 0.75", datasets=[{"dataset_name": "train"}]), [b])
        # Datasets alone: models with any metric on them.
        self.assertEqual(sorted(f("", datasets=[{"dataset_name": "test"}])), sorted([a, b]))
        self.assertEqual(f("", datasets=[{"dataset_name": "train", "dataset_digest": "d2"}]), [b])
        self.assertEqual(f("", datasets=[{"dataset_name": "train", "dataset_digest": "zz"}]), [])
        self.assertInvalid(lm_search({"experiment_ids": [e], "datasets": [{"dataset_digest": "d"}]}),
                           "`dataset_name` in the `datasets` clause must be specified.")
        # Order by a metric: its latest value per model (by timestamp, then
        # step), missing values last in both directions.
        o = lambda **ob: self.search_ids({"experiment_ids": [e],  # noqa: E731
                                          "order_by": [dict({"field_name": "metrics.acc"}, **ob)]})
        self.assertEqual(o(ascending=True), [b, a, c])
        self.assertEqual(o(ascending=False), [a, b, c])
        # Only b has the metric on "train"; the others follow, newest first.
        self.assertEqual(o(ascending=True, dataset_name="train"), [b, c, a])
        self.assertEqual(o(ascending=False, dataset_name="train")[0], b)
        self.assertEqual(self.search_ids({"experiment_ids": [e],
                                          "order_by": [{"field_name": "name",
                                                        "ascending": False}]}), [c, b, a])
        self.assertEqual(self.search_ids({"experiment_ids": [e],
                                          "order_by": [{"field_name": "name"}]}), [a, b, c])
        self.assertInvalid(lm_search({"experiment_ids": [e], "order_by": [{"field_name": "bogus"}]}),
                           "Invalid order by field name: bogus")
        self.assertInvalid(lm_search({"experiment_ids": [e],
                                      "order_by": [{"field_name": "params.lr"}]}),
                           "Invalid order by field name: params.lr. Only metrics are supported.")
        self.assertInvalid(lm_search({"experiment_ids": [e], "order_by": [{"ascending": True}]}))

    def test_models_carry_their_metrics(self):
        e = new_experiment()
        run = new_run(e)
        mid = self.mid(e)
        t = now_ms()
        mtapi.log_batch(run, metrics=[
            {"key": "loss", "value": 0.5, "timestamp": t, "step": 1, "model_id": mid},
            {"key": "loss", "value": 0.25, "timestamp": t + 1, "step": 2, "model_id": mid,
             "dataset_name": "eval", "dataset_digest": "abc"}])
        b = self.assertOk(lm_search({"experiment_ids": [e]}))
        metrics = sorted(b["models"][0]["data"]["metrics"], key=lambda m: m["step"])
        self.assertEqual(metrics, [
            {"key": "loss", "value": 0.5, "timestamp": t, "step": 1, "model_id": mid,
             "run_id": run},
            {"key": "loss", "value": 0.25, "timestamp": t + 1, "step": 2,
             "dataset_name": "eval", "dataset_digest": "abc", "model_id": mid, "run_id": run}])

    def test_deleted_models_and_experiment_scope(self):
        e1, e2 = new_experiment(), new_experiment()
        a, b = self.mid(e1), self.mid(e2)
        self.assertEqual(sorted(self.search_ids({"experiment_ids": [e1, e2]})), sorted([a, b]))
        self.assertEqual(self.search_ids({"experiment_ids": [e2]}), [b])
        self.assertEmptyOk(lm_delete(b))
        self.assertEqual(self.search_ids({"experiment_ids": [e1, e2]}), [a])
        self.assertEqual(self.search_ids({"experiment_ids": ["not-a-number"]}), [])


class TestRunOutputsAndInputs(Case):
    def test_outputs(self):
        e = new_experiment()
        run = new_run(e)
        m1, m2 = self.mid(e), self.mid(e)
        self.assertEmptyOk(post("runs/outputs", {"run_id": run, "models": [
            {"model_id": m1, "step": 0}, {"model_id": m2, "step": "5"}]}))
        # A replay adds nothing.
        self.assertEmptyOk(post("runs/outputs", {"run_id": run,
                                                 "models": [{"model_id": m1, "step": 0}]}))
        r = self.assertOk(get("runs/get", run_id=run))["run"]
        self.assertEqual(sorted(r["outputs"]["model_outputs"], key=lambda x: x["model_id"]),
                         sorted([{"model_id": m1, "step": 0}, {"model_id": m2, "step": 5}],
                                key=lambda x: x["model_id"]))
        found = self.assertOk(post("runs/search", {"experiment_ids": [e]}))["runs"]
        self.assertEqual(len(found[0]["outputs"]["model_outputs"]), 2)
        # A run without outputs answers an empty object.
        other = new_run(e)
        self.assertEqual(self.assertOk(get("runs/get", run_id=other))["run"]["outputs"], {})

    def test_outputs_errors(self):
        e = new_experiment()
        run = new_run(e)
        mid = self.mid(e)
        self.assertMissing(post("runs/outputs", {"run_id": run}), "models")
        self.assertMissing(post("runs/outputs", {"models": [{"model_id": mid, "step": 0}]}),
                           "run_id")
        self.assertInvalid(post("runs/outputs", {"run_id": run, "models": {"model_id": mid}}))
        self.assertInvalid(post("runs/outputs", {"run_id": run, "models": [{"step": 1}]}))
        self.assertInvalid(post("runs/outputs", {"run_id": run,
                                                 "models": [{"model_id": mid, "step": "x"}]}))
        self.assertNotFound(post("runs/outputs", {"run_id": "f" * 32, "models": [
            {"model_id": mid, "step": 0}]}), "Run with id=%s not found" % ("f" * 32))
        self.assertEmptyOk(post("runs/delete", {"run_id": run}))
        self.assertInvalid(post("runs/outputs", {"run_id": run, "models": [
            {"model_id": mid, "step": 0}]}),
            "The run %s must be in the 'active' state. Current state is deleted." % run)
        self.assertEmptyOk(post("runs/restore", {"run_id": run}))
        self.assertEqual(self.assertOk(get("runs/get", run_id=run))["run"]["outputs"], {})

    def test_model_inputs(self):
        e = new_experiment()
        run = new_run(e)
        mid = self.mid(e)
        # What the 3.x client sends for a metric of an active model: no datasets.
        self.assertEmptyOk(post("runs/log-inputs", {"run_id": run, "models": [{"model_id": mid}]}))
        self.assertEmptyOk(post("runs/log-inputs", {"run_id": run, "models": [{"model_id": mid}]}))
        inputs = self.assertOk(get("runs/get", run_id=run))["run"]["inputs"]
        self.assertEqual(inputs["model_inputs"], [{"model_id": mid}])
        self.assertNotIn("dataset_inputs", inputs)
        self.assertInvalid(post("runs/log-inputs", {"run_id": run, "models": [{}]}))
        self.assertInvalid(post("runs/log-inputs", {"run_id": run, "models": "m"}))


class TestMetricsWithModels(Case):
    def setUp(self):
        self.e = new_experiment()
        self.run = new_run(self.e)
        self.mid = Case.mid(self, self.e)

    def hist(self, key):
        return self.assertOk(get("metrics/get-history", run_id=self.run,
                                 metric_key=key)).get("metrics", [])

    def model_metrics(self):
        return self.assertOk(lm_get(self.mid))["model"]["data"].get("metrics", [])

    def test_log_metric(self):
        t = now_ms()
        self.assertEmptyOk(post("runs/log-metric", {
            "run_id": self.run, "key": "acc", "value": 0.5, "timestamp": t, "step": 3,
            "model_id": self.mid, "dataset_name": "eval", "dataset_digest": "123abc"}))
        self.assertEqual(self.hist("acc"), [
            {"key": "acc", "value": 0.5, "timestamp": t, "step": 3, "dataset_name": "eval",
             "dataset_digest": "123abc", "model_id": self.mid}])
        self.assertEqual(self.model_metrics(), [
            {"key": "acc", "value": 0.5, "timestamp": t, "step": 3, "dataset_name": "eval",
             "dataset_digest": "123abc", "model_id": self.mid, "run_id": self.run}])
        # runs/get's latest metrics stay as MLflow's SQL store answers them.
        latest = mtapi.metrics_by_key(self.assertOk(get("runs/get", run_id=self.run))["run"])
        self.assertEqual(latest["acc"], {"key": "acc", "value": 0.5, "timestamp": t, "step": 3})

    def test_dataset_without_model(self):
        t = now_ms()
        self.assertEmptyOk(post("runs/log-metric", {
            "run_id": self.run, "key": "d", "value": 1, "timestamp": t,
            "dataset_name": "eval", "dataset_digest": "abc", "model_id": ""}))
        self.assertEqual(self.hist("d"), [{"key": "d", "value": 1.0, "timestamp": t, "step": 0,
                                           "dataset_name": "eval", "dataset_digest": "abc"}])
        self.assertEqual(self.model_metrics(), [])

    def test_log_batch_and_dedup(self):
        t = now_ms()
        plain = {"key": "loss", "value": 0.3, "timestamp": t, "step": 0}
        mtapi.log_batch(self.run, metrics=[plain])
        # What log_model sends at step 0: the run's points again, now with
        # the model's id (the client copies run_id from the history: absent).
        mtapi.log_batch(self.run, metrics=[dict(plain, model_id=self.mid)])
        # History keys on (key, step, timestamp, value) as MLflow's metrics
        # table does: one point, as first logged.
        self.assertEqual(self.hist("loss"), [plain])
        self.assertEqual(self.model_metrics(), [dict(plain, model_id=self.mid, run_id=self.run)])
        # And again: nothing new anywhere.
        mtapi.log_batch(self.run, metrics=[dict(plain, model_id=self.mid)])
        self.assertEqual(len(self.model_metrics()), 1)
        self.assertEqual(self.hist("loss"), [plain])

    def test_big_batch_replayed_with_model(self):
        # log_model's copies of a step with many keys: a batch big enough for the plain insert, of
        # points the history holds already, now with the model's id.
        t = now_ms()
        plain = [{"key": "c%02d" % i, "value": i * 0.5, "timestamp": t, "step": 0}
                 for i in range(60)]
        mtapi.log_batch(self.run, metrics=plain)
        mtapi.log_batch(self.run, metrics=[dict(p, model_id=self.mid) for p in plain])
        self.assertEqual(self.hist("c07"), [plain[7]])
        got = sorted(self.model_metrics(), key=lambda m: m["key"])
        self.assertEqual(got, [dict(p, model_id=self.mid, run_id=self.run) for p in plain])

    def test_big_batch(self):
        # Big enough for the plain insert, with and without model ids mixed
        # (text arrays with NULLs in binary format).
        t = now_ms()
        ms = []
        for i in range(200):
            m = {"key": "k%d" % (i % 3), "value": i / 7, "timestamp": t + i, "step": i}
            if i % 2:
                m["model_id"] = self.mid
                m["dataset_name"] = "ds"
                m["dataset_digest"] = "dg"
            ms.append(m)
        mtapi.log_batch(self.run, metrics=ms)
        h = self.hist("k1")
        self.assertEqual(len(h), 67)
        for p in h:
            if p["step"] % 2:
                self.assertEqual((p["model_id"], p["dataset_name"], p["dataset_digest"]),
                                 (self.mid, "ds", "dg"), p)
            else:
                self.assertNotIn("model_id", p)
        self.assertEqual(len(self.model_metrics()), 100)
        # And every read of history: bulk-interval and the sampled history.
        b = self.assertOk(get("metrics/get-history-bulk-interval", run_ids=self.run,
                              metric_key="k1", max_results=2500))
        with_model = [p for p in b["metrics"] if p["step"] % 2]
        self.assertTrue(with_model)
        self.assertTrue(all(p["model_id"] == self.mid and p["run_id"] == self.run
                            for p in with_model), with_model)
        # The UI's get-history-bulk (MLflow 2.9's route) carries them too.
        r = mtapi.call("GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk",
                       query={"run_id": self.run, "metric_key": "k1"})
        self.assertEqual(r.status, 200, r)
        bulk = r.body["metrics"]
        self.assertEqual(len(bulk), 67)
        for p in bulk:
            self.assertEqual(p["run_id"], self.run, p)
            if p["step"] % 2:
                self.assertEqual((p.get("model_id"), p.get("dataset_name"),
                                  p.get("dataset_digest")), (self.mid, "ds", "dg"), p)
            else:
                self.assertNotIn("model_id", p)
        for max_points in (1000, 8):  # every point, then a bucketed sample
            for _ in range(2):  # computed, then from the cache
                s = self.assertOk(mtapi.mt_get("metrics/get-history-sampled", run_id=self.run,
                                               metric_key="k1", max_points=max_points))
                pts = s["metrics"]
                self.assertTrue(pts)
                for p in pts:
                    if p["step"] % 2:
                        self.assertEqual(p.get("model_id"), self.mid, p)
                        self.assertEqual(p.get("dataset_digest"), "dg", p)
                    else:
                        self.assertNotIn("model_id", p)

    def test_paged_history_keeps_the_fields(self):
        t = now_ms()
        mtapi.log_batch(self.run, metrics=[
            {"key": "p", "value": i, "timestamp": t, "step": i, "model_id": self.mid}
            for i in range(5)])
        b = self.assertOk(get("metrics/get-history", run_id=self.run, metric_key="p",
                              max_results=2))
        self.assertEqual([p["model_id"] for p in b["metrics"]], [self.mid] * 2)
        b = self.assertOk(get("metrics/get-history", run_id=self.run, metric_key="p",
                              max_results=2, page_token=b["next_page_token"]))
        self.assertEqual([p["step"] for p in b["metrics"]], [2, 3])
        self.assertTrue(all(p["model_id"] == self.mid for p in b["metrics"]))

    def test_unknown_model_writes_nothing(self):
        t = now_ms()
        r = post("runs/log-metric", {"run_id": self.run, "key": "x", "value": 1, "timestamp": t,
                                     "model_id": "m-nope"})
        self.assertNotFound(r, "Logged model with ID 'm-nope' not found.")
        r = post("runs/log-batch", {"run_id": self.run, "metrics": [
            {"key": "x", "value": 1, "timestamp": t},
            {"key": "y", "value": 1, "timestamp": t, "model_id": "m-nope"}]})
        self.assertNotFound(r, "Logged model with ID 'm-nope' not found.")
        self.assertEqual(self.hist("x"), [])
        self.assertEqual(self.hist("y"), [])

    def test_field_checks(self):
        t = now_ms()
        base = {"run_id": self.run, "key": "x", "value": 1, "timestamp": t}
        self.assertInvalid(post("runs/log-metric", dict(base, dataset_digest="d" * 37)))
        self.assertInvalid(post("runs/log-metric", dict(base, dataset_name="n" * 501)))
        self.assertInvalid(post("runs/log-metric", dict(base, model_id=["m"])))
        self.assertInvalid(post("runs/log-batch", {"run_id": self.run, "metrics": [
            dict(base, dataset_digest="d" * 37)]}))
        self.assertEqual(self.hist("x"), [])

    def test_deleted_model_still_takes_metrics(self):
        # The model row is there (deletion is a lifecycle stage), as in MLflow.
        self.assertEmptyOk(lm_delete(self.mid))
        self.assertEmptyOk(post("runs/log-metric", {"run_id": self.run, "key": "z", "value": 1,
                                                    "timestamp": now_ms(), "model_id": self.mid}))


class TestModelVersions(Case):
    def test_register_logged_model(self):
        e = new_experiment()
        run = new_run(e)
        m = self.model(e, name="model", source_run_id=run)
        mid = m["info"]["model_id"]
        name = uniq("reg")
        self.assertOk(post("registered-models/create", {"name": name}))
        b = self.assertOk(post("model-versions/create", {"name": name, "source": "models:/" + mid,
                                                         "model_id": mid}))
        mv = b["model_version"]
        self.assertEqual(mv["version"], "1")
        self.assertEqual(mv["source"], "models:/" + mid)
        self.assertEqual(mv["run_id"], run)  # from the model's source run
        self.assertEqual(mv["model_id"], mid)
        self.assertEqual(mv["status"], "READY")
        u = self.assertOk(get("model-versions/get-download-uri", name=name, version="1"))
        self.assertEqual(u["artifact_uri"], m["info"]["artifact_uri"])
        got = self.assertOk(get("model-versions/get", name=name, version="1"))["model_version"]
        self.assertEqual(got["model_id"], mid)
        tags = mtapi.kv(self.assertOk(lm_get(mid))["model"]["info"]["tags"])
        self.assertEqual(tags["mlflow.modelVersions"], '[{"name": "%s", "version": 1}]' % name)
        # A second version of the same model is appended to the tag.
        self.assertOk(post("model-versions/create", {"name": name, "source": "models:/" + mid,
                                                     "model_id": mid}))
        tags = mtapi.kv(self.assertOk(lm_get(mid))["model"]["info"]["tags"])
        self.assertEqual(json.loads(tags["mlflow.modelVersions"]),
                         [{"name": name, "version": 1}, {"name": name, "version": 2}])
        # A models:/<id> source without model_id resolves too (no tag then).
        b = self.assertOk(post("model-versions/create", {"name": name,
                                                         "source": "models:/" + mid}))
        self.assertEqual(b["model_version"]["run_id"], run)
        u = self.assertOk(get("model-versions/get-download-uri", name=name, version="3"))
        self.assertEqual(u["artifact_uri"], m["info"]["artifact_uri"])
        # An explicit run_id is kept.
        other = new_run(e)
        b = self.assertOk(post("model-versions/create", {"name": name, "source": "models:/" + mid,
                                                         "model_id": mid, "run_id": other}))
        self.assertEqual(b["model_version"]["run_id"], other)

    def test_errors(self):
        name = uniq("reg")
        self.assertOk(post("registered-models/create", {"name": name}))
        r = post("model-versions/create", {"name": name, "source": "models:/m-nope"})
        self.assertInvalid(r, "Unable to fetch model from model URI source artifact location "
                              "'models:/m-nope'")
        self.assertIn("Logged model with ID 'm-nope' not found.", r.body["message"])
        r = post("model-versions/create", {"name": name, "source": "s3://b/k", "model_id": "m-nope"})
        self.assertNotFound(r, "Logged model with ID 'm-nope' not found.")
        # A local source with a model_id must lie in the model's artifacts.
        mid = self.mid()
        r = post("model-versions/create", {"name": name, "source": "/etc", "model_id": mid})
        self.assertInvalid(r, "To use a local path as a model version source, the model_id "
                              "request parameter has to be specified and the local path has to "
                              "be contained within the artifact directory of the run specified "
                              "by the model_id.")
        self.assertNotIn("model_versions",
                         self.assertOk(get("model-versions/search", filter="name='%s'" % name)))


class TestModelArtifacts(Case):
    def test_proxy_paths_and_listing(self):
        e = new_experiment()
        m = self.model(e)
        mid = m["info"]["model_id"]
        root = "/api/2.0/mlflow-artifacts/artifacts/%s/models/%s/artifacts" % (e, mid)
        files = {"MLmodel": b"artifact_path: x\n", "model.pkl": b"\x80\x04pickle",
                 "sub/conda.yaml": b"name: env\n"}
        for rel, data in files.items():
            r = call("PUT", root + "/" + rel, raw=data,
                     headers={"Content-Type": "application/octet-stream"})
            self.assertEqual(r.status, 200, r.body)
        for rel, data in files.items():
            r = call("GET", root + "/" + rel)
            self.assertEqual(r.status, 200)
        lst = self.assertOk(call("GET", "/api/2.0/mlflow-artifacts/artifacts",
                                 query={"path": "%s/models/%s/artifacts" % (e, mid)}))
        self.assertEqual(sorted((f["path"], f["is_dir"]) for f in lst["files"]),
                         [("MLmodel", False), ("model.pkl", False), ("sub", True)])
        # ListLoggedModelArtifacts (the web UI's call).
        b = self.assertOk(call("GET", LM + "/" + mid + "/artifacts/directories"))
        self.assertEqual(b["root_uri"], m["info"]["artifact_uri"])
        self.assertEqual(sorted((f["path"], f["is_dir"]) for f in b["files"]),
                         [("MLmodel", False), ("model.pkl", False), ("sub", True)])
        b = self.assertOk(call("GET", LM + "/" + mid + "/artifacts/directories",
                               query={"artifact_directory_path": "sub"}))
        self.assertEqual([(f["path"], f["file_size"]) for f in b["files"]],
                         [("sub/conda.yaml", len(files["sub/conda.yaml"]))])
        self.assertInvalid(call("GET", LM + "/" + mid + "/artifacts/directories",
                                query={"artifact_directory_path": "../x"}))
        self.assertNotFound(call("GET", LM + "/m-nope/artifacts/directories"))


# Wrong JSON types, edges and hostile strings for every field of the new
# routes: each answer is a 200 or a 4xx in MLflow's error shape, never a
# 5xx, and a refused write leaves the model and the run as they were.
HOSTILE = [None, True, False, 0, -1, 1.5, 1e300, 2 ** 63, -(2 ** 63) - 1, "", "x", "\u0000",
           "a\u0000b", "\ud83d\ude00" * 300, "é" * 3000, "x" * (1 << 20), [], [1], ["x"], [None],
           [{}], [{"key": None}], [{"key": 1, "value": []}], {}, {"a": 1}, [[["deep"]]]]


class TestHostile(Case):
    def setUp(self):
        self.e = new_experiment()
        self.run = new_run(self.e)
        self.m = self.mid(self.e, name="h", params=[{"key": "p", "value": "1"}],
                          tags=[{"key": "t", "value": "1"}])

    def snapshot(self):
        m = self.assertOk(lm_get(self.m, allow_deleted="true"))
        r = self.assertOk(get("runs/get", run_id=self.run))
        return mtapi.norm(m), mtapi.norm(r)

    def check(self, method, path, body, write):
        before = self.snapshot() if write else None
        r = call(method, path, body=body) if method != "GET" else call(method, path, query=body)
        self.assertLess(r.status, 500, "%s %s %r: %s" % (method, path, body, r.body))
        if r.status >= 400:
            self.assertIsInstance(r.body, dict, r.body)
            self.assertIsInstance(r.body.get("error_code"), str, r.body)
            self.assertIsInstance(r.body.get("message"), str, r.body)
            if write:
                self.assertEqual(self.snapshot(), before, "%s %s %r" % (method, path, body))
        return r

    def sweep(self, method, path, base, write=True):
        for field in base:
            for v in HOSTILE:
                body = dict(base)
                body[field] = v
                self.check(method, path, body, write)

    def test_create(self):
        self.sweep("POST", LM, {"experiment_id": self.e, "name": "n", "model_type": "t",
                                "source_run_id": self.run, "params": [], "tags": []},
                   write=False)

    def test_finalize_params_tags(self):
        self.sweep("PATCH", LM + "/" + self.m, {"model_id": self.m, "status": "LOGGED_MODEL_READY"})
        self.sweep("POST", LM + "/" + self.m + "/params",
                   {"model_id": self.m, "params": [{"key": "q", "value": "1"}]})
        self.sweep("PATCH", LM + "/" + self.m + "/tags", {"tags": [{"key": "u", "value": "1"}]})

    def test_search(self):
        self.sweep("POST", LM + "/search",
                   {"experiment_ids": [self.e], "filter": "name = 'h'", "max_results": 5,
                    "order_by": [{"field_name": "name", "ascending": False}],
                    "datasets": [{"dataset_name": "d"}], "page_token": ""}, write=False)
        for bad in ([{"field_name": None}], [{"field_name": "metrics."}], [{"field_name": 1}],
                    [{"field_name": "name", "ascending": "yes"}], [{"field_name": "x" * 70000}],
                    [{"field_name": "metrics.a", "dataset_name": ["x"]}]):
            self.check("POST", LM + "/search", {"experiment_ids": [self.e], "order_by": bad}, False)
        for tok in ("=", "AAAA", "e30=", "bnVsbA==", "W10=", "eyJvZmZzZXQiOiAtMX0=",
                    "eyJvZmZzZXQiOiAiMSJ9", "x" * 300000):
            self.check("POST", LM + "/search", {"experiment_ids": [self.e], "page_token": tok},
                       False)

    def test_outputs_inputs_metrics(self):
        self.sweep("POST", API + "runs/outputs",
                   {"run_id": self.run, "models": [{"model_id": self.m, "step": 1}]})
        for v in HOSTILE:
            self.check("POST", API + "runs/outputs",
                       {"run_id": self.run, "models": [{"model_id": v, "step": v}]}, True)
            self.check("POST", API + "runs/log-inputs", {"run_id": self.run, "models": [
                {"model_id": v}]}, True)
            for f in ("model_id", "dataset_name", "dataset_digest"):
                self.check("POST", API + "runs/log-metric", {
                    "run_id": self.run, "key": "hm", "value": 1, "timestamp": 1, f: v}, True)
                self.check("POST", API + "runs/log-batch", {"run_id": self.run, "metrics": [
                    {"key": "hm", "value": 1, "timestamp": 1, f: v}]}, True)

    def test_paths(self):
        for mid in ("m-nope", "%2e%2e", "a%00b", "x" * 5000, "..", "search"):
            for method in ("GET", "PATCH", "DELETE"):
                self.check(method, LM + "/" + mid, {} if method != "GET" else None, False)
            self.check("DELETE", LM + "/" + self.m + "/tags/" + mid, None, True)
            self.check("GET", LM + "/" + mid + "/artifacts/directories", None, False)
        self.assertEqual(call("GET", "/healthz").status, 200)


if __name__ == "__main__":
    unittest.main()
