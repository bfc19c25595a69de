"""MLflow endpoints mltrackd does not implement, and the probes newer
clients send (MLFLOW-3X.md §2.4 to §2.6).

MLflow's clients retry 5xx answers for minutes and fall back to an older
endpoint only on ENDPOINT_NOT_FOUND (traces v3 to v2, get-latest-versions
POST to GET, the multipart download probe), so every unimplemented route
answers 404 with MLflow's JSON error body, whatever the method, on /api/2.0,
/api/3.0, /ajax-api and MLflow's other top-level prefixes (/graphql,
/v1/traces, /gateway/); none of them falls through to the dashboard.
"""

import re
import unittest

import mtapi
from mtapi import ApiTestCase, call

ID = "tr-0123456789abcdef0123456789abcdef"

# (method, path): one row per route family of MLFLOW-3X.md §2.4-2.6.
UNIMPLEMENTED = [
    # capability probes (§2.4)
    ("GET", "/api/3.0/mlflow/server-info"),
    ("GET", "/ajax-api/3.0/mlflow/server-info"),
    ("GET", "/api/3.0/mlflow/server-features"),
    ("GET", "/api/2.0/mlflow-artifacts/presigned/1/abc/artifacts/model.pkl"),
    # traces v2 (§2.5)
    ("POST", "/api/2.0/mlflow/traces"),
    ("GET", "/api/2.0/mlflow/traces"),
    ("PATCH", "/api/2.0/mlflow/traces/" + ID),
    ("GET", "/api/2.0/mlflow/traces/%s/info" % ID),
    ("POST", "/api/2.0/mlflow/traces/delete-traces"),
    ("PATCH", "/api/2.0/mlflow/traces/%s/tags" % ID),
    ("DELETE", "/api/2.0/mlflow/traces/%s/tags" % ID),
    ("POST", "/api/2.0/mlflow/traces/link-to-run"),
    ("POST", "/api/2.0/mlflow/traces/link-prompts"),
    ("GET", "/api/2.0/mlflow/unified-traces"),
    ("GET", "/api/2.0/mlflow/get-online-trace-details"),
    # traces v3 and assessments
    ("POST", "/api/3.0/mlflow/traces"),
    ("GET", "/api/3.0/mlflow/traces/" + ID),
    ("POST", "/api/3.0/mlflow/traces/search"),
    ("PATCH", "/api/3.0/mlflow/traces/%s/tags" % ID),
    ("POST", "/api/3.0/mlflow/traces/delete-traces"),
    ("POST", "/api/3.0/mlflow/traces/calculate-filter-correlation"),
    ("GET", "/api/3.0/mlflow/traces/batchGet"),
    ("GET", "/api/3.0/mlflow/traces/get"),
    ("POST", "/api/3.0/mlflow/traces/metrics"),
    ("POST", "/api/3.0/mlflow/traces/%s/assessments" % ID),
    ("POST", "/v1/traces"),
    ("GET", "/ajax-api/2.0/mlflow/get-trace-artifact"),
    ("GET", "/ajax-api/3.0/mlflow/get-trace-artifact"),
    # evaluation datasets, scorers (§2.6)
    ("POST", "/api/3.0/mlflow/datasets/create"),
    ("POST", "/api/3.0/mlflow/datasets/search"),
    ("GET", "/api/3.0/mlflow/datasets/d-123/records"),
    ("POST", "/api/3.0/mlflow/scorers/register"),
    ("GET", "/api/3.0/mlflow/scorers/list"),
    ("DELETE", "/api/3.0/mlflow/scorers/delete"),
    ("GET", "/api/3.0/mlflow/scorers/online-configs"),
    ("POST", "/ajax-api/3.0/mlflow/scorer/invoke"),
    # gateway, jobs, workspaces, issues, UI extras
    ("POST", "/api/3.0/mlflow/gateway/secrets/create"),
    ("GET", "/api/3.0/mlflow/gateway/endpoints/list"),
    ("GET", "/ajax-api/3.0/mlflow/gateway/supported-providers"),
    ("POST", "/gateway/chat/mlflow/invocations"),
    ("GET", "/ajax-api/2.0/mlflow/gateway-proxy"),
    ("POST", "/ajax-api/2.0/mlflow/gateway-proxy"),
    ("POST", "/api/3.0/mlflow/prompt-optimization/jobs"),
    ("GET", "/ajax-api/3.0/jobs/search"),
    ("GET", "/api/3.0/mlflow/workspaces"),
    ("POST", "/api/3.0/mlflow/workspaces"),
    ("POST", "/api/3.0/mlflow/issues/search"),
    ("GET", "/ajax-api/3.0/mlflow/ui-telemetry"),
    ("POST", "/ajax-api/3.0/mlflow/ui-telemetry"),
    ("POST", "/ajax-api/3.0/mlflow/demo/generate"),
    ("GET", "/graphql"),
    ("POST", "/graphql"),
    # a 3.0 spelling of a 2.0 route is not served either (MLflow 3.x
    # registers /api/3.0 only for RPCs declared since 3.0)
    ("GET", "/api/3.0/mlflow/experiments/search"),
]


def setUpModule():
    mtapi.wait_ready()


class TestUnimplemented(ApiTestCase):
    def check(self, method, path, **kw):
        r = call(method, path, **kw)
        self.assertEqual(r.status, 404, "%s %s: %d %r" % (method, path, r.status, r.body))
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"),
                        "%s %s: %s" % (method, path, r.headers.get("Content-Type")))
        self.assertIsInstance(r.body, dict, "%s %s: %r" % (method, path, r.body))
        self.assertEqual(r.body.get("error_code"), "ENDPOINT_NOT_FOUND", (method, path))
        self.assertIn(path.split("?")[0].replace("/ajax-api/", "/api/"), r.body["message"])

    def test_each_answers_json_404(self):
        for method, path in UNIMPLEMENTED:
            with self.subTest(method=method, path=path):
                body = None if method == "GET" else {}
                self.check(method, path, body=body)

    def test_every_method(self):
        """GET, HEAD, POST, PUT, PATCH and DELETE alike; never 405 or 5xx."""
        for path in ("/api/3.0/mlflow/traces", "/ajax-api/3.0/mlflow/traces",
                     "/api/3.0/mlflow/scorers/list", "/graphql", "/v1/traces",
                     "/gateway/x/mlflow/invocations"):
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                with self.subTest(method=method, path=path):
                    self.check(method, path, body=None if method == "GET" else {})
            r = call("HEAD", path)
            self.assertEqual(r.status, 404, path)

    def test_otlp_body_is_not_read(self):
        """A 3.4+ client's OTLP export (protobuf body) gets the JSON 404."""
        self.check("POST", "/v1/traces", raw=b"\x0a\x02\x08\x01",
                   headers={"Content-Type": "application/x-protobuf",
                            "x-mlflow-experiment-id": "0"})

    def test_not_the_dashboard(self):
        """The dashboard's index.html is for its page paths only."""
        for path in ("/api/3.0/mlflow/experiments/get", "/ajax-api/3.0/mlflow/runs/get",
                     "/graphql", "/v1/traces", "/gateway/x"):
            r = call("GET", path, headers={"Accept": "text/html"})
            self.assertEqual(r.status, 404, path)
            self.assertNotIn("<html", str(r.body).lower(), path)


class TestVersion(ApiTestCase):
    def test_version_is_an_mlflow_version_below_3_4(self):
        """GET /version is what MLflow 3.4+ clients read (RestStore.
        _get_server_version, 3 s, no retries) before exporting trace spans
        by OTLP, which they do only when the version parses and is >= 3.4.
        mltrackd answers the MLflow release whose REST API it serves, with
        its own version as a PEP 440 local label."""
        r = call("GET", "/version")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("text/plain"))
        text = str(r.body)
        m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)\+mltrack\.([0-9]+(?:\.[0-9]+)*)", text)
        self.assertIsNotNone(m, text)
        self.assertLess((int(m.group(1)), int(m.group(2))), (3, 4), text)
        self.assertGreaterEqual((int(m.group(1)), int(m.group(2))), (2, 9), text)


if __name__ == "__main__":
    unittest.main()
