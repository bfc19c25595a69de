"""Request validation as MLflow's server does it (MLFLOW-3X.md section 6;
handlers.py _get_request_message / _validate_param_against_schema, v2.9.2
wording): for every endpoint that takes fields, each field given each JSON
type its protobuf type does not take is a 400 INVALID_PARAMETER_VALUE with
MLflow's exact message, a missing required field is MLflow's "Missing
value" message, and nothing is written (the state read back before and
after each refused request is the same).

The expected messages are computed the way MLflow computes them: the
value as Python's str() shows the parsed JSON, and its Python type name.
"""

import unittest

import mtapi
from mtapi import API, MLTRACK, call, get, new_experiment, new_run, now_ms, post, uniq

setUpModule = mtapi.wait_ready

DOCS = " See the API docs for more information about request parameters."

# Wrong values for each protobuf type: every JSON type that type does not take.
WRONG = {
    "str": [123, 1.5, True, ["a"], {"a": "b"}],
    "int": ["abc", "1.0", 1.5, True, [1], {"a": 1}],
    "double": ["abc", True, [1.0], {"v": 1}],
    "bool": ["true", 1, [True], {"b": True}],
    "enum": ["NOT_A_VALUE", 99, True, [1]],
    "strs": ["abc", 5, [1], [None], [True], {"a": "b"}],
}
KV_WRONG = ["foo", [1], ["x"], {"key": "a"}, [{"key": 1, "value": "v"}],
            [{"key": "k", "value": 2}]]


def invalid_msg(param, value):
    return ("Invalid value %s for parameter '%s' supplied. Hint: Value was of type '%s'."
            % (value, param, type(value).__name__) + DOCS)


def missing_msg(param):
    return "Missing value for required parameter '%s'." % param + DOCS


class Fixture:
    """What the requests name: one experiment, one run, one registered model
    with one version.  Every refused request leaves them as they were."""

    def __init__(self):
        self.exp = new_experiment()
        self.run = new_run(self.exp)
        self.model = uniq("vmodel")
        mtapi._ok(post("registered-models/create", {"name": self.model}), "create model")
        mtapi._ok(post("model-versions/create",
                       {"name": self.model, "source": "s3://b/%s" % uniq("m")}), "create mv")

    def state(self):
        exps = get("experiments/search", max_results=1000, view_type="ALL").body
        models = get("registered-models/search", max_results=1000).body
        return {
            "experiments": exps,
            "run": get("runs/get", run_id=self.run).body,
            "runs": post("runs/search", {"experiment_ids": [self.exp], "run_view_type": "ALL"}).body,
            "models": models,
            "versions": get("model-versions/search", filter="name='%s'" % self.model).body,
            "gates": call("GET", MLTRACK + "gates/get", query={"name": self.model}).body,
        }


def endpoints(f):
    """(method, path, valid body, {field: wrong values}, [required fields])."""
    run, exp, model = f.run, f.exp, f.model
    kv = [{"key": "k", "value": "v"}]
    metric = [{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}]
    dataset = [{"dataset": {"name": "d", "digest": "x", "source_type": "local",
                            "source": "{}"}, "tags": kv}]
    S, I, D, B, E, SS = (WRONG[k] for k in ("str", "int", "double", "bool", "enum", "strs"))
    mv = {"name": model, "version": "1"}
    return [
        ("POST", API + "experiments/create", {"name": uniq("v")},
         {"name": S, "artifact_location": S, "tags": KV_WRONG}, ["name"]),
        ("POST", API + "experiments/delete", {"experiment_id": exp},
         {"experiment_id": S}, ["experiment_id"]),
        ("POST", API + "experiments/restore", {"experiment_id": exp},
         {"experiment_id": S}, ["experiment_id"]),
        ("POST", API + "experiments/update", {"experiment_id": exp, "new_name": uniq("v")},
         {"experiment_id": S, "new_name": S}, ["experiment_id", "new_name"]),
        ("POST", API + "experiments/set-experiment-tag",
         {"experiment_id": exp, "key": "k", "value": "v"},
         {"experiment_id": S, "key": S, "value": S}, ["experiment_id", "key"]),
        ("POST", API + "experiments/search", {"max_results": 10},
         {"view_type": E, "max_results": I, "order_by": SS, "filter": S, "page_token": S}, []),
        ("POST", API + "runs/create",
         {"experiment_id": exp, "start_time": 1, "run_name": "r", "user_id": "u", "tags": kv},
         {"experiment_id": S, "start_time": I, "run_name": S, "user_id": S, "tags": KV_WRONG}, []),
        ("POST", API + "runs/update",
         {"run_id": run, "status": "FINISHED", "end_time": 2, "run_name": "n"},
         {"run_id": S, "end_time": I, "status": E, "run_name": S}, ["run_id"]),
        ("POST", API + "runs/delete", {"run_id": run}, {"run_id": S}, ["run_id"]),
        ("POST", API + "runs/restore", {"run_id": run}, {"run_id": S}, ["run_id"]),
        ("POST", API + "runs/log-metric",
         {"run_id": run, "key": "vm", "value": 1.0, "timestamp": 1, "step": 0},
         {"run_id": S, "key": S, "value": D, "timestamp": I, "step": I, "run_uuid": S},
         ["run_id", "key", "value", "timestamp"]),
        ("POST", API + "runs/log-parameter", {"run_id": run, "key": "vp", "value": "v"},
         {"run_id": S, "key": S, "value": S, "run_uuid": S}, ["run_id", "key"]),
        ("POST", API + "runs/set-tag", {"run_id": run, "key": "vt", "value": "v"},
         {"run_id": S, "key": S, "value": S, "run_uuid": S}, ["run_id", "key"]),
        ("POST", API + "runs/delete-tag", {"run_id": run, "key": "vt"},
         {"run_id": S, "key": S}, ["run_id", "key"]),
        ("POST", API + "runs/log-batch",
         {"run_id": run, "metrics": metric, "params": [{"key": "bp", "value": "v"}], "tags": kv},
         {"run_id": S,
          "metrics": ["foo", [1], {"key": "m"}, [{"key": "m", "value": "abc", "timestamp": 1}],
                      [{"key": "m", "value": 1.0, "timestamp": "x"}],
                      [{"key": "m", "value": 1.0, "timestamp": 1, "step": 1.5}]],
          "params": KV_WRONG, "tags": KV_WRONG}, ["run_id"]),
        ("POST", API + "runs/log-inputs", {"run_id": run, "datasets": dataset},
         {"run_id": S, "datasets": ["foo", [1], {"dataset": {}},
                                    [{"dataset": {"name": 1, "digest": "x"}}],
                                    [{"dataset": "d"}], [{"dataset": {"name": "d"}, "tags": "t"}]]},
         ["run_id", "datasets"]),
        ("POST", API + "runs/search", {"experiment_ids": [exp]},
         {"experiment_ids": SS, "filter": S, "max_results": I + [50001, 2 ** 31],
          "order_by": SS, "run_view_type": E, "page_token": S}, []),
        ("POST", API + "registered-models/create", {"name": uniq("vm")},
         {"name": S, "tags": KV_WRONG, "description": S}, ["name"]),
        ("POST", API + "registered-models/rename", {"name": model, "new_name": uniq("vm")},
         {"name": S, "new_name": S}, ["name", "new_name"]),
        ("PATCH", API + "registered-models/update", {"name": model, "description": "d"},
         {"name": S, "description": S}, ["name"]),
        ("DELETE", API + "registered-models/delete", {"name": model}, {"name": S}, ["name"]),
        ("POST", API + "registered-models/set-tag", {"name": model, "key": "k", "value": "v"},
         {"name": S, "key": S, "value": S}, ["name", "key"]),
        ("DELETE", API + "registered-models/delete-tag", {"name": model, "key": "k"},
         {"name": S, "key": S}, ["name", "key"]),
        ("POST", API + "registered-models/get-latest-versions",
         {"name": model, "stages": ["None"]}, {"name": S, "stages": SS}, ["name"]),
        ("POST", API + "registered-models/alias", {"name": model, "alias": "a", "version": "1"},
         {"name": S, "alias": S, "version": S}, ["name", "alias", "version"]),
        ("DELETE", API + "registered-models/alias", {"name": model, "alias": "a"},
         {"name": S, "alias": S}, ["name", "alias"]),
        ("POST", API + "model-versions/create",
         {"name": model, "source": "s3://b/x", "run_id": run, "tags": kv, "run_link": "l",
          "description": "d"},
         {"name": S, "source": S, "run_id": S, "tags": KV_WRONG, "run_link": S,
          "description": S}, ["name", "source"]),
        ("PATCH", API + "model-versions/update", dict(mv, description="d"),
         {"name": S, "version": S, "description": S}, ["name", "version"]),
        ("DELETE", API + "model-versions/delete", mv, {"name": S, "version": S},
         ["name", "version"]),
        ("POST", API + "model-versions/transition-stage",
         dict(mv, stage="Staging", archive_existing_versions=False),
         {"name": S, "version": S, "stage": S, "archive_existing_versions": B},
         ["name", "version", "stage"]),
        ("POST", API + "model-versions/set-tag", dict(mv, key="k", value="v"),
         {"name": S, "version": S, "key": S, "value": S}, ["name", "version", "key"]),
        ("DELETE", API + "model-versions/delete-tag", dict(mv, key="k"),
         {"name": S, "version": S, "key": S}, ["name", "version", "key"]),
        # mltrack's own endpoints go through the same layer.
        ("POST", MLTRACK + "gates/set", {"name": model, "stage": "Production", "rules": []},
         {"name": S, "stage": S, "alias": S, "rules": SS, "reason": S}, ["name"]),
        ("POST", MLTRACK + "gates/check", dict(mv, stage="Production"),
         {"name": S, "version": S, "stage": S}, ["name", "version"]),
        ("POST", MLTRACK + "model-versions/transition-stage",
         dict(mv, stage="Staging", archive_existing_versions=False, force=False, reason="r"),
         {"name": S, "version": S, "stage": S, "archive_existing_versions": B, "force": B,
          "reason": S}, ["name", "version", "stage"]),
        ("POST", MLTRACK + "registered-models/alias",
         {"name": model, "alias": "a", "version": "1", "force": False, "reason": "r"},
         {"name": S, "alias": S, "version": S, "force": B, "reason": S},
         ["name", "alias", "version"]),
        ("DELETE", MLTRACK + "registered-models/alias", {"name": model, "alias": "a"},
         {"name": S, "alias": S, "reason": S}, ["name", "alias"]),
    ]


# GET endpoints: a query string carries strings only, so the wrong "types"
# are strings that do not read as the field's type, and a field given twice.
GET_WRONG = {
    "int": ["abc", "1.5", "", "9223372036854775808"],
    "int32": ["abc", "3000000000"],
    "enum": ["NOPE", "7"],
}


def get_endpoints(f):
    """(path, valid query, {field: wrong strings}, [required fields])."""
    run, exp, model = f.run, f.exp, f.model
    I, I32, E = GET_WRONG["int"], GET_WRONG["int32"], GET_WRONG["enum"]
    return [
        (API + "experiments/get", {"experiment_id": exp}, {}, ["experiment_id"]),
        (API + "experiments/get-by-name", {"experiment_name": "x"}, {}, ["experiment_name"]),
        (API + "experiments/search", {"max_results": "10"},
         {"max_results": I, "view_type": E}, []),
        (API + "runs/get", {"run_id": run}, {}, ["run_id"]),
        (API + "artifacts/list", {"run_id": run}, {}, ["run_id"]),
        (API + "metrics/get-history", {"run_id": run, "metric_key": "m"},
         {"max_results": I32}, ["run_id", "metric_key"]),
        (API + "metrics/get-history-bulk-interval", {"run_ids": run, "metric_key": "m"},
         {"start_step": I, "end_step": I, "max_results": I32}, ["metric_key"]),
        (API + "registered-models/get", {"name": model}, {}, ["name"]),
        (API + "registered-models/search", {}, {"max_results": I}, []),
        (API + "registered-models/get-latest-versions", {"name": model}, {}, ["name"]),
        (API + "registered-models/alias", {"name": model, "alias": "a"}, {}, ["name", "alias"]),
        (API + "model-versions/get", {"name": model, "version": "1"}, {}, ["name", "version"]),
        (API + "model-versions/get-download-uri", {"name": model, "version": "1"}, {},
         ["name", "version"]),
        (API + "model-versions/search", {}, {"max_results": I}, []),
        (MLTRACK + "metrics/get-history-sampled", {"run_id": run, "metric_key": "m"},
         {"max_points": I}, ["run_id", "metric_key"]),
    ]


class TestWrongTypes(mtapi.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Fixture()

    def check_refused(self, r, expected, what):
        self.assertEqual(r.status, 400, "%s: %r" % (what, r.body))
        self.assertEqual(r.body, {"error_code": "INVALID_PARAMETER_VALUE", "message": expected},
                         what)

    def test_each_field_each_wrong_type_is_400_and_writes_nothing(self):
        before = self.f.state()
        sent = 0
        for method, path, body, fields, _ in endpoints(self.f):
            for field, values in fields.items():
                for v in values:
                    what = "%s %s %s=%r" % (method, path, field, v)
                    r = call(method, path, body=dict(body, **{field: v}))
                    self.check_refused(r, invalid_msg(field, v), what)
                    self.assertEqual(self.f.state(), before, "%s wrote something" % what)
                    sent += 1
        self.assertGreater(sent, 300)
        # What protobuf's JSON parser takes still passes: int64 as a numeric
        # string or an integral real, a double as a string or "NaN".
        rid = self.f.run
        self.assertEmptyOk(post("runs/log-metric", {"run_id": rid, "key": "m", "value": "0.5",
                                                    "timestamp": "12", "step": 3.0}))
        self.assertEmptyOk(post("runs/log-metric", {"run_id": rid, "key": "n", "value": "NaN",
                                                    "timestamp": now_ms()}))

    def test_each_required_field_missing_null_or_empty(self):
        before = self.f.state()
        for method, path, body, fields, required in endpoints(self.f):
            for field in required:
                absent = {k: v for k, v in body.items() if k != field}
                cases = [absent, dict(body, **{field: None})]
                if fields.get(field) is WRONG["str"]:
                    cases.append(dict(body, **{field: ""}))
                for b in cases:
                    what = "%s %s %r" % (method, path, b)
                    self.check_refused(call(method, path, body=b), missing_msg(field), what)
                    self.assertEqual(self.f.state(), before, "%s wrote something" % what)

    def test_query_strings(self):
        for path, query, fields, required in get_endpoints(self.f):
            for field, values in fields.items():
                for v in values:
                    r = call("GET", path, query=dict(query, **{field: v}))
                    self.check_refused(r, invalid_msg(field, v), "%s %s=%r" % (path, field, v))
            for field in required:
                q = {k: v for k, v in query.items() if k != field}
                self.check_refused(call("GET", path, query=q), missing_msg(field),
                                   "%s without %s" % (path, field))
                r = call("GET", path, query=dict(query, **{field: ""}))
                self.check_refused(r, missing_msg(field), "%s %s=''" % (path, field))
                # A field that is not repeated, given twice: a list.
                q = [(k, v) for k, v in query.items() if k != field] + [(field, "a"), (field, "b")]
                self.check_refused(call("GET", path, query=q), invalid_msg(field, ["a", "b"]),
                                   "%s %s twice" % (path, field))


class TestMLflowCases(mtapi.ApiTestCase):
    """MLflow's own cases (tests/tracking/test_rest_tracking.py, v2.9.2),
    with the whole message."""

    def test_schema_order_decides_which_field_is_reported(self):
        rid = new_run()
        r = post("runs/log-metric", {"run_id": 31, "key": 31, "value": "x", "timestamp": "y"})
        self.assertInvalid(r, "Invalid value 31 for parameter 'run_id' supplied")
        r = post("runs/log-metric", {"run_id": rid, "key": "foo", "value": 31,
                                     "timestamp": 59, "step": "foo"})
        self.assertEqual(r.body["message"], invalid_msg("step", "foo"))
        # The required check of an earlier field comes before the type of a later one.
        r = post("runs/log-metric", {"run_id": rid, "value": 31, "timestamp": "x"})
        self.assertEqual(r.body["message"], missing_msg("key"))
        self.assertNotIn("metrics", mtapi.get_run(rid)["data"])

    def test_log_batch_entry_without_timestamp(self):
        rid = new_run()
        r = post("runs/log-batch", {"run_id": rid, "metrics": [{"key": "mae", "value": 2.5}]})
        self.assertEqual(r.body["message"],
                         invalid_msg("metrics", [{"key": "mae", "value": 2.5}]))
        self.assertEmptyOk(post("runs/log-batch", {
            "run_id": rid, "metrics": [{"key": "mae", "value": 2.5, "timestamp": 123456789}]}))

    def test_run_uuid_stands_in_for_run_id(self):
        rid = new_run()
        self.assertEmptyOk(post("runs/set-tag", {"run_uuid": rid, "key": "k", "value": "v"}))
        r = post("runs/set-tag", {"run_uuid": 5, "key": "k", "value": "v"})
        self.assertEqual(r.body["message"], invalid_msg("run_id", 5))

    def test_search_runs_max_results_over_the_cap(self):
        eid = new_experiment()
        r = post("runs/search", {"experiment_ids": [eid], "max_results": 123456789})
        self.assertEqual(r.body["message"], invalid_msg("max_results", 123456789))

    def test_model_version_not_an_integer(self):
        name = uniq("mvint")
        mtapi._ok(post("registered-models/create", {"name": name}), "create")
        r = get("model-versions/get", name=name, version="something not correct")
        self.assertInvalid(r)
        self.assertEqual(r.body["message"],
                         "Model version must be an integer, got 'something not correct'")

    def test_invalid_path_is_worded_as_mlflow(self):
        rid = new_run()
        r = get("artifacts/list", run_id=rid, path="../path")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.body, {"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid path"})
        r = call("GET", "/api/2.0/mlflow-artifacts/artifacts", query={"path": "a/../../b"})
        self.assertEqual(r.body, {"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid path"})


if __name__ == "__main__":
    unittest.main()
