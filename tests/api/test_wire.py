"""Wire conventions: Content-Type check, lenient parsing, JSON replies, the
/ajax-api mirror, 404/405, the operational endpoints, and schema/openapi.yaml
against the live server (MLFLOW-API.md sections 1, 6, 13; DESIGN.md 3-4)."""

import json
import os
import re
import unittest

import mtapi
from mtapi import (API, AJAX, ajax_get, ajax_post, call, get, get_run, kv, new_experiment,
                   new_run, norm, now_ms, post, uniq)

setUpModule = mtapi.wait_ready

SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schema",
                    "openapi.yaml")


def openapi_routes(path=SPEC):
    """(METHOD, path) pairs from the spec's paths: block, by a line scanner.

    Path keys sit at two spaces ("  /api/2.0/mlflow/runs/create:") and
    their method keys at four ("    post:").
    """
    routes, in_paths, cur = [], False, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if re.match(r"^paths:\s*$", line):
                in_paths = True
                continue
            if in_paths and re.match(r"^[^\s#]", line):
                break
            if not in_paths:
                continue
            m = re.match(r"^  (/\S*):\s*$", line)
            if m:
                cur = m.group(1)
                continue
            m = re.match(r"^    (get|post|put|patch|delete|head|options):\s*$", line)
            if m and cur:
                routes.append((m.group(1).upper(), cur))
    return routes


class TestContentType(mtapi.ApiTestCase):
    def test_missing_content_type_is_refused(self):
        name = uniq("ct")
        r = call("POST", API + "experiments/create", raw=json.dumps({"name": name}))
        self.assertInvalid(r, "Content-Type must be one of")
        self.assertNotFound(get("experiments/get-by-name", experiment_name=name))

    def test_wrong_content_types_are_refused(self):
        name = uniq("ct")
        for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx"):
            with self.subTest(content_type=ct):
                r = call("POST", API + "experiments/create", raw=json.dumps({"name": name}),
                         headers={"Content-Type": ct})
                self.assertInvalid(r, "Content-Type must be one of")
        self.assertNotFound(get("experiments/get-by-name", experiment_name=name))

    def test_wrong_content_type_writes_nothing(self):
        rid = new_run()
        r = call("POST", API + "runs/log-metric",
                 raw=json.dumps({"run_id": rid, "key": "m", "value": 1, "timestamp": 1}),
                 headers={"Content-Type": "text/plain"})
        self.assertInvalid(r)
        self.assertNotIn("metrics", get_run(rid)["data"])

    def test_charset_parameter_is_allowed(self):
        name = uniq("ct")
        r = call("POST", API + "experiments/create", raw=json.dumps({"name": name}),
                 headers={"Content-Type": "application/json; charset=utf-8"})
        eid = self.assertOk(r)["experiment_id"]
        self.assertEqual(mtapi.get_experiment(eid)["name"], name)

    def test_get_needs_no_content_type(self):
        r = call("GET", API + "experiments/get", query={"experiment_id": "0"})
        self.assertOk(r)


class TestParsing(mtapi.ApiTestCase):
    def test_unknown_fields_are_ignored(self):
        name = uniq("unk")
        r = post("experiments/create", {"name": name, "bogus": 1, "nested": {"a": [1, {"b": None}]},
                                        "tags": [{"key": "k", "value": "v", "extra": True}]})
        eid = self.assertOk(r)["experiment_id"]
        self.assertEqual(kv(mtapi.get_experiment(eid)["tags"]), {"k": "v"})
        r = post("runs/create", {"experiment_id": eid, "start_time": now_ms(), "whatever": "x"})
        rid = self.assertOk(r)["run"]["info"]["run_id"]
        self.assertEmptyOk(post("runs/log-batch", {
            "run_id": rid, "future_field": [1, 2],
            "metrics": [{"key": "m", "value": 1, "timestamp": 5, "step": 0, "extra": "x"}]}))
        self.assertEqual(mtapi.history(rid, "m"), [{"key": "m", "value": 1, "timestamp": 5,
                                                    "step": 0}])
        r = get("runs/get", run_id=rid, unexpected="1")
        self.assertEqual(self.assertOk(r)["run"]["info"]["run_id"], rid)

    def test_int64_as_numeric_strings(self):
        eid = new_experiment()
        r = post("runs/create", {"experiment_id": eid, "start_time": "1700000000000"})
        info = self.assertOk(r)["run"]["info"]
        self.assertEqual(info["start_time"], 1700000000000)
        self.assertInt(info["start_time"])
        r = post("runs/search", {"experiment_ids": [eid], "max_results": "5"})
        self.assertEqual(len(self.assertOk(r)["runs"]), 1)

    def test_integer_experiment_id(self):
        # experiment_id is a string in MLflow's protos: a JSON number is the
        # wrong type, refused as MLflow 2.9.2 refuses it, and nothing is set.
        eid = new_experiment()
        r = post("experiments/set-experiment-tag",
                 {"experiment_id": int(eid), "key": "k", "value": "v"})
        self.assertInvalid(r, "Invalid value %s for parameter 'experiment_id' supplied. "
                              "Hint: Value was of type 'int'." % eid)
        self.assertEqual(kv(mtapi.get_experiment(eid).get("tags")), {})
        r = post("runs/search", {"experiment_ids": [int(eid)]})
        self.assertInvalid(r, "Invalid value [%s] for parameter 'experiment_ids' supplied. "
                              "Hint: Value was of type 'list'." % eid)

    def test_enum_names(self):
        rid = new_run()
        info = self.assertOk(post("runs/update", {"run_id": rid, "status": "SCHEDULED"}))["run_info"]
        self.assertEqual(info["status"], "SCHEDULED")

    def test_json_string_body_is_decoded_twice(self):
        name = uniq("twice")
        r = call("POST", API + "experiments/create", raw=json.dumps(json.dumps({"name": name})),
                 headers={"Content-Type": "application/json"})
        eid = self.assertOk(r)["experiment_id"]
        self.assertEqual(mtapi.get_experiment(eid)["name"], name)

    def test_empty_body_is_empty_message(self):
        r = call("POST", API + "experiments/create", raw=b"",
                 headers={"Content-Type": "application/json"})
        self.assertMissing(r, "name")

    def test_malformed_json_is_400(self):
        name = uniq("bad")
        for raw in ('{"name": "%s"' % name, '{"name": "%s",}' % name, "[1, 2]", "nul",
                    '{"name": "%s", "tags": 5}' % name, '{"name": ["%s"]}' % name):
            with self.subTest(body=raw):
                r = call("POST", API + "experiments/create", raw=raw,
                         headers={"Content-Type": "application/json"})
                self.assertEqual(r.status, 400, r.body)
                self.assertIsInstance(r.body, dict)
                self.assertIn(r.body.get("error_code"), ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"))
        self.assertNotFound(get("experiments/get-by-name", experiment_name=name))


class TestReplies(mtapi.ApiTestCase):
    def test_json_content_type_on_success_and_error(self):
        r = get("experiments/get", experiment_id="0")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"),
                        r.headers.get("Content-Type"))
        r = get("runs/get", run_id="0" * 32)
        self.assertNotFound(r)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"))
        self.assertTrue({"error_code", "message"} <= set(r.body), r.body)

    def test_int64_fields_are_numbers(self):
        rid = new_run()
        mtapi.log_metric(rid, "m", 1.5, step=4, timestamp=1700000000000)
        self.assertOk(post("runs/update", {"run_id": rid, "end_time": 1700000000999}))
        run = get_run(rid)
        for v in (run["info"]["start_time"], run["info"]["end_time"],
                  run["data"]["metrics"][0]["timestamp"], run["data"]["metrics"][0]["step"]):
            self.assertInt(v)
        exp = mtapi.get_experiment(run["info"]["experiment_id"])
        self.assertInt(exp["creation_time"])
        self.assertInt(exp["last_update_time"])

    def test_strict_json_for_nan(self):
        rid = new_run()
        mtapi.log_metric(rid, "n", "NaN", timestamp=1)
        r = get("metrics/get-history", run_id=rid, metric_key="n")
        # mtapi only parses strict JSON; a bare NaN token would leave text here.
        self.assertIsInstance(r.body, dict, r.body)
        self.assertEqual(r.body["metrics"][0]["value"], "NaN")


class TestRouting(mtapi.ApiTestCase):
    def test_unknown_route_is_404(self):
        for method, path in (("GET", API + "no-such-endpoint"), ("POST", API + "runs/nope"),
                             ("GET", API + "runs/get/extra"), ("GET", "/api/2.0/mltrack/nope"),
                             ("GET", AJAX + "no-such-endpoint")):
            with self.subTest(method=method, path=path):
                r = call(method, path, body={} if method == "POST" else None)
                self.assertEqual(r.status, 404, r.body)

    def test_wrong_method_is_405(self):
        cases = (("GET", "runs/search", "POST"), ("POST", "runs/get", "GET"),
                 ("GET", "runs/create", "POST"), ("DELETE", "experiments/create", "POST"),
                 ("PUT", "runs/log-metric", "POST"))
        for method, ep, allowed in cases:
            with self.subTest(method=method, endpoint=ep):
                r = call(method, API + ep, body={} if method in ("POST", "PUT") else None)
                self.assertEqual(r.status, 405, r.body)
                self.assertIn(allowed, r.headers.get("Allow", ""), dict(r.headers))

    def test_experiments_search_takes_get_and_post(self):
        self.assertOk(get("experiments/search", max_results=1))
        self.assertOk(post("experiments/search", {"max_results": 1}))


class TestAjaxMirror(mtapi.ApiTestCase):
    def test_get_same_answer(self):
        self.assertEqual(ajax_get("experiments/get", experiment_id="0").body,
                         get("experiments/get", experiment_id="0").body)
        rid = new_run()
        self.assertEqual(norm(ajax_get("runs/get", run_id=rid).body),
                         norm(get("runs/get", run_id=rid).body))

    def test_writes_and_search_through_ajax(self):
        eid = new_experiment()
        r = ajax_post("runs/create", {"experiment_id": eid, "start_time": now_ms(),
                                      "run_name": "via-ajax"})
        run = self.assertOk(r)["run"]
        rid = run["info"]["run_id"]
        self.assertEmptyOk(ajax_post("runs/log-metric", {"run_id": rid, "key": "m", "value": 2,
                                                         "timestamp": 7}))
        got = get_run(rid)
        self.assertEqual(got["info"]["run_name"], "via-ajax")
        self.assertEqual(got["data"]["metrics"], [{"key": "m", "value": 2, "timestamp": 7,
                                                   "step": 0}])
        a = self.assertOk(ajax_post("runs/search", {"experiment_ids": [eid]}))
        self.assertEqual(norm(a), norm(self.assertOk(post("runs/search", {"experiment_ids": [eid]}))))
        b = ajax_get("metrics/get-history", run_id=rid, metric_key="m")
        self.assertEqual(b.body, get("metrics/get-history", run_id=rid, metric_key="m").body)

    def test_errors_are_the_same(self):
        self.assertNotFound(ajax_get("runs/get", run_id="0" * 32))
        self.assertMissing(ajax_post("experiments/create", {}), "name")
        r = call("GET", AJAX + "runs/search")
        self.assertEqual(r.status, 405)
        r = call("POST", AJAX + "experiments/create", raw=json.dumps({"name": uniq("x")}),
                 headers={"Content-Type": "text/plain"})
        self.assertInvalid(r, "Content-Type must be one of")


class TestOperational(mtapi.ApiTestCase):
    def test_healthz(self):
        r = call("GET", "/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, {"status": "ok"})

    def test_readyz(self):
        self.assertEqual(call("GET", "/readyz").status, 200)

    def test_metrics(self):
        get("experiments/get", experiment_id="0")
        r = call("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertIsInstance(r.body, str)
        self.assertIn("mltrack_http_requests_total", r.body)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("text/plain"),
                        r.headers.get("Content-Type"))

    def test_health(self):
        r = call("GET", "/health")
        self.assertEqual(r.status, 200)
        self.assertEqual(str(r.body).strip(), "OK")

    def test_version(self):
        r = call("GET", "/version")
        self.assertEqual(r.status, 200)
        self.assertTrue(str(r.body).strip())


REQUIRED_ROUTES = {
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/health"),
    ("GET", "/version"),
    ("POST", API + "experiments/create"), ("GET", API + "experiments/get"),
    ("GET", API + "experiments/get-by-name"), ("POST", API + "experiments/search"),
    ("GET", API + "experiments/search"), ("POST", API + "experiments/update"),
    ("POST", API + "experiments/delete"), ("POST", API + "experiments/restore"),
    ("POST", API + "experiments/set-experiment-tag"),
    ("POST", API + "runs/create"), ("GET", API + "runs/get"), ("POST", API + "runs/update"),
    ("POST", API + "runs/delete"), ("POST", API + "runs/restore"),
    ("POST", API + "runs/log-metric"), ("POST", API + "runs/log-parameter"),
    ("POST", API + "runs/log-batch"), ("POST", API + "runs/log-inputs"),
    ("POST", API + "runs/set-tag"), ("POST", API + "runs/delete-tag"),
    ("POST", API + "runs/search"),
    ("GET", API + "metrics/get-history"), ("GET", API + "metrics/get-history-bulk-interval"),
    ("GET", "/api/2.0/mltrack/metrics/get-history-sampled"),
    ("POST", API + "runs/log-model"), ("GET", API + "metrics/get-history-bulk"),
    ("POST", API + "experiments/search-datasets"), ("POST", API + "runs/create-promptlab-run"),
    ("POST", API + "upload-artifact"), ("GET", "/get-artifact"),
    ("GET", "/model-versions/get-artifact"),
}


class TestOpenApi(mtapi.ApiTestCase):
    def test_spec_lists_the_routes(self):
        routes = openapi_routes()
        self.assertEqual(len(routes), len(set(routes)), "a route is listed twice")
        missing = REQUIRED_ROUTES - set(routes)
        self.assertEqual(missing, set())
        for _, path in routes:
            self.assertFalse(path.startswith("/ajax-api/"), path)

    def test_every_documented_route_answers(self):
        # A body/query that names nothing real: each route must answer as
        # itself (200, 400, or 404 RESOURCE_DOES_NOT_EXIST), never with an
        # endpoint-level 404/405 or a 5xx.  Nothing is written.
        for method, path in openapi_routes():
            with self.subTest(method=method, path=path):
                if method == "GET":
                    r = call("GET", path)
                else:
                    r = call(method, path, body={"experiment_id": "987654321"})
                self.assertNotEqual(r.status, 405, r.body)
                if "/mpu/" in path:  # documented as MLflow's 501 answer
                    self.assertEqual((r.status, r.body.get("error_code")), (501, "NOT_IMPLEMENTED"))
                    continue
                self.assertLess(r.status, 500, r.body)
                if r.status == 404:
                    self.assertIsInstance(r.body, dict, r.body)
                    self.assertEqual(r.body.get("error_code"), "RESOURCE_DOES_NOT_EXIST", r.body)


if __name__ == "__main__":
    unittest.main()
