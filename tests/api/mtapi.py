"""mtapi: a tiny stdlib-only HTTP client for the mltrack API tests.

The server under test is at $MLTRACK_TEST_URL (default http://127.0.0.1:5170).
Nothing here raises on a 4xx or 5xx answer: every call returns a Resp
(status, headers, body), where body is the parsed JSON when the answer is
strict JSON (bare NaN/Infinity tokens are *not* accepted, since MLflow
clients reject them), else the text.

Built on http.client rather than urllib.request so that the tests control
every header (urllib adds a form Content-Type to any body on its own, which
would make "POST without a Content-Type" impossible to send).
"""

import http.client
import json
import os
import time
import unittest
import urllib.parse
import uuid
from collections import namedtuple

BASE = os.environ.get("MLTRACK_TEST_URL", "http://127.0.0.1:5170").rstrip("/")
TIMEOUT = float(os.environ.get("MLTRACK_TEST_TIMEOUT", "30"))

_u = urllib.parse.urlsplit(BASE)
_HOST = _u.hostname or "127.0.0.1"
_PORT = _u.port or (443 if _u.scheme == "https" else 80)
_PREFIX = _u.path.rstrip("/")

API = "/api/2.0/mlflow/"
AJAX = "/ajax-api/2.0/mlflow/"
MLTRACK = "/api/2.0/mltrack/"

# What the SQL store returns for +/-Infinity (MLFLOW-API.md section 1).
DBL_MAX = 1.7976931348623157e308

Resp = namedtuple("Resp", "status headers body")


class ApiError(AssertionError):
    """A set-up call (new_experiment, new_run...) did not succeed."""


def _strict_constant(name):
    raise ValueError("non-standard JSON constant %s" % name)


def parse_json(text):
    """Strict JSON: NaN, Infinity and -Infinity tokens are errors."""
    return json.loads(text, parse_constant=_strict_constant)


def _query_pairs(query):
    pairs = []
    if not query:
        return pairs
    items = query.items() if isinstance(query, dict) else query
    for k, v in items:
        if v is None:
            continue
        if isinstance(v, (list, tuple)):
            for x in v:
                pairs.append((k, _qstr(x)))
        else:
            pairs.append((k, _qstr(v)))
    return pairs


def _qstr(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def call(method, path, body=None, query=None, headers=None, raw=None):
    """Send one request; never raises for an HTTP error status.

    body: a JSON-able object, sent with Content-Type: application/json.
    raw: bytes/str sent as is; no Content-Type unless given in headers.
    headers: extra headers; a value of None removes a default header.
    query: dict (or list of pairs); list values become repeated keys.
    """
    url = _PREFIX + path
    pairs = _query_pairs(query)
    if pairs:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(pairs)
    hdrs = {"Accept": "application/json", "User-Agent": "mltrack-api-tests"}
    data = None
    if raw is not None:
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
    elif body is not None:
        data = json.dumps(body, allow_nan=False).encode("utf-8")
        hdrs["Content-Type"] = "application/json"
    for k, v in (headers or {}).items():
        for old in [h for h in hdrs if h.lower() == k.lower()]:
            del hdrs[old]
        if v is not None:
            hdrs[k] = v
    if data is not None or method in ("POST", "PUT", "PATCH"):
        hdrs["Content-Length"] = str(len(data or b""))
    if _u.scheme == "https":
        conn = http.client.HTTPSConnection(_HOST, _PORT, timeout=TIMEOUT)
    else:
        conn = http.client.HTTPConnection(_HOST, _PORT, timeout=TIMEOUT)
    try:
        conn.request(method, url, body=data, headers=hdrs)
        r = conn.getresponse()
        payload = r.read()
        status, rh = r.status, r.headers
    finally:
        conn.close()
    text = payload.decode("utf-8", errors="replace")
    parsed = text
    if text.strip():
        try:
            parsed = parse_json(text)
        except ValueError:
            parsed = text
    return Resp(status, rh, parsed)


def post(endpoint, body=None, **kw):
    """POST /api/2.0/mlflow/<endpoint> with a JSON body ({} when None)."""
    return call("POST", API + endpoint, body={} if body is None else body, **kw)


def get(endpoint, **query):
    """GET /api/2.0/mlflow/<endpoint>?<query>."""
    return call("GET", API + endpoint, query=query)


def ajax_post(endpoint, body=None):
    return call("POST", AJAX + endpoint, body={} if body is None else body)


def ajax_get(endpoint, **query):
    return call("GET", AJAX + endpoint, query=query)


def mt_get(endpoint, **query):
    """GET /api/2.0/mltrack/<endpoint>?<query> (mltrack extensions)."""
    return call("GET", MLTRACK + endpoint, query=query)


# ---- the database under the server ----

def psql(sql):
    """Run SQL against the server's database with psql, as a database made
    by an older mltrackd (or edited by hand) would hold it; returns the
    unaligned output.  Skips the test when the harness did not say where the
    database is (MLTRACK_TEST_PGCONN, MLTRACK_TEST_PSQL)."""
    import subprocess
    conn = os.environ.get("MLTRACK_TEST_PGCONN")
    if not conn:
        raise unittest.SkipTest("MLTRACK_TEST_PGCONN is not set")
    p = subprocess.run([os.environ.get("MLTRACK_TEST_PSQL", "psql"), "-X", "-q", "-A", "-t",
                        "-v", "ON_ERROR_STOP=1", "-d", conn, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise ApiError("psql: %s" % p.stderr.strip())
    return p.stdout.strip()


def sql_str(s):
    """A string literal for SQL."""
    return "'" + s.replace("'", "''") + "'"


# ---- helpers that build fixtures ----

def uniq(prefix="mt"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:16])


def now_ms():
    return int(time.time() * 1000)


def _ok(r, what):
    if r.status != 200 or not isinstance(r.body, dict):
        raise ApiError("%s failed: %d %r" % (what, r.status, r.body))
    return r.body


def new_experiment(name=None, **fields):
    """Create an experiment with a unique name; returns its id (str)."""
    body = {"name": name or uniq("exp")}
    body.update(fields)
    return _ok(post("experiments/create", body), "experiments/create")["experiment_id"]


def new_run(experiment_id=None, **fields):
    """Create a run (in a fresh experiment when none is given); returns run_id."""
    if experiment_id is None:
        experiment_id = new_experiment()
    body = {"experiment_id": experiment_id, "start_time": now_ms()}
    body.update(fields)
    return _ok(post("runs/create", body), "runs/create")["run"]["info"]["run_id"]


def norm(obj):
    """An order-insensitive copy for comparisons: lists of {key, ...} objects
    (tags, params, metrics) and of dataset inputs are sorted, since the
    protocol leaves their order open.  Other lists keep their order."""
    if isinstance(obj, dict):
        return {k: norm(v) for k, v in obj.items()}
    if isinstance(obj, list):
        items = [norm(x) for x in obj]
        if items and all(isinstance(x, dict) and ("key" in x or "dataset" in x) for x in items):
            items.sort(key=lambda x: json.dumps(x, sort_keys=True))
        return items
    return obj


def get_run(run_id):
    """runs/get; returns the Run object, normalised (see norm)."""
    return norm(_ok(get("runs/get", run_id=run_id), "runs/get")["run"])


def get_experiment(experiment_id):
    """experiments/get; returns the Experiment object, normalised (see norm)."""
    return norm(_ok(get("experiments/get", experiment_id=experiment_id),
                    "experiments/get")["experiment"])


def log_metric(run_id, key, value, step=0, timestamp=None):
    body = {"run_id": run_id, "key": key, "value": value,
            "timestamp": now_ms() if timestamp is None else timestamp, "step": step}
    return _ok(post("runs/log-metric", body), "runs/log-metric")


def log_batch(run_id, metrics=(), params=(), tags=()):
    body = {"run_id": run_id, "metrics": list(metrics), "params": list(params),
            "tags": list(tags)}
    return _ok(post("runs/log-batch", body), "runs/log-batch")


def history(run_id, key):
    """metrics/get-history points (every page, following next_page_token),
    sorted by (step, timestamp, value)."""
    out, token = [], None
    while True:
        b = _ok(get("metrics/get-history", run_id=run_id, metric_key=key, page_token=token),
                "get-history")
        out += b.get("metrics", [])
        token = b.get("next_page_token")
        if not token:
            return sorted(out, key=_metric_sort_key)


def _metric_sort_key(m):
    v = m["value"]
    return (m["step"], m["timestamp"], float("inf") if v == "NaN" else v)


def kv(items):
    """[{key, value}] -> {key: value}."""
    return {x["key"]: x["value"] for x in (items or [])}


def metrics_by_key(run):
    return {m["key"]: m for m in run.get("data", {}).get("metrics", [])}


def wait_ready(seconds=15.0):
    """Wait for /healthz; used as setUpModule so a slow start is not a failure."""
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        try:
            r = call("GET", "/healthz")
            if r.status == 200:
                return
            last = r.status
        except OSError as e:
            last = e
        time.sleep(0.2)
    raise ApiError("server at %s not ready: %r" % (BASE, last))


class ApiTestCase(unittest.TestCase):
    """Assertions shared by the API tests."""

    maxDiff = None

    def assertOk(self, r, msg=None):
        self.assertEqual(r.status, 200, msg or r.body)
        self.assertIsInstance(r.body, dict, msg or r.body)
        return r.body

    def assertEmptyOk(self, r):
        """200 with exactly {} (MLflow's empty success)."""
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.body, {})

    def assertError(self, r, status, code=None, contains=None):
        """An error reply: status, JSON {error_code, message}, optional substring."""
        self.assertEqual(r.status, status, r.body)
        if code is None:
            return r.body
        self.assertIsInstance(r.body, dict, "error body is not JSON: %r" % (r.body,))
        self.assertEqual(r.body.get("error_code"), code, r.body)
        self.assertIsInstance(r.body.get("message"), str, r.body)
        self.assertTrue(r.body["message"], r.body)
        if contains is not None:
            for s in ([contains] if isinstance(contains, str) else contains):
                self.assertIn(s, r.body["message"], r.body)
        return r.body

    def assertInvalid(self, r, contains=None):
        return self.assertError(r, 400, "INVALID_PARAMETER_VALUE", contains)

    def assertNotFound(self, r, contains=None):
        return self.assertError(r, 404, "RESOURCE_DOES_NOT_EXIST", contains)

    def assertMissing(self, r, field):
        """MLflow's required-field error."""
        return self.assertInvalid(
            r, ["Missing value for required parameter", "'%s'" % field])

    def assertInt(self, v):
        """An int64 emitted as a JSON number (not a string, not a float)."""
        self.assertIs(type(v), int, "expected a JSON integer, got %r" % (v,))
