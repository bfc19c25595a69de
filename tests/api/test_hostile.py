"""Hostile input for every route: bad input gets a clear 4xx in MLflow's error
shape, never a 5xx, a dropped connection, a hang or a partial write.

Cases are generated from tables, not written one by one:

  * a field sweep: for every route in server/routes.c (GET and POST where both
    exist, and the /ajax-api mirror for a few) and every field it reads
    (MLFLOW-API.md section 3), a valid base request with that one field
    replaced by each hostile value of a catalogue (wrong JSON types, 1 MB
    strings, NUL, control characters, lone surrogates, emoji, multi-byte
    strings long enough to be cut by a length limit, int64 edges, floats for
    ints, 1e400, odd ids...).  GET routes get the same values in the query
    string.  What the server must do is computed from the value by a small
    model of the server's readers (mt_json.c): "reject" (a 4xx) or "any" (a
    200 or a 4xx) when the value is acceptable data;
  * whole-body cases: not JSON, truncated, arrays/strings/numbers at the top
    level, duplicate keys, invalid UTF-8, 17 MB bodies, and (last, since a
    crash there takes the server down) nesting 100 to 10,000 levels deep;
  * query strings: %00, invalid %-escapes, invalid UTF-8, repeated keys;
    request lines beyond CivetWeb's 16 KB limit, refused by CivetWeb itself
    in its own plain-text shape (only "4xx and alive" is checked there);
  * ~60 hostile filters and order_by clauses for runs/search and
    experiments/search, and ~30 hostile page tokens;
  * extreme but valid metric points, which every read endpoint must still
    answer.

Every answer is checked: never 5xx and never a dropped connection; a 4xx has
a JSON object body with string error_code and message; the server answers
/healthz afterwards.  Every hostile write (log-batch, log-metric, set-tag,
log-parameter, log-inputs, runs/create, experiments/create,
set-experiment-tag, ...) goes to a real run or experiment that is read back
after every few refused requests and before any request that may be
accepted: a 4xx must leave it exactly as it was.

Failures are collected per test and reported together, each with the exact
request and response.
"""

import base64
import http.client
import json
import math
import random
import re
import socket
import unittest
import urllib.parse

import mtapi
from mtapi import API, AJAX, MLTRACK, call, get, new_experiment, new_run, norm, post, uniq

I64_MIN, I64_MAX = -2 ** 63, 2 ** 63 - 1
MB = 1 << 20
REJECT, ANY = "reject", "any"
JSON_CT = {"Content-Type": "application/json"}


class Raw:
    """A JSON token written into the body as is (1e400 has no Python form)."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return "Raw(%s)" % self.text


class Bad:
    """The server cannot read the value as the wanted type."""


BAD = Bad()

# ---- the hostile value catalogue ----

TYPES = [
    ("object", {"a": 1}), ("empty-object", {}), ("array", ["x"]), ("empty-array", []),
    ("nested-arrays", [[[[["x"]]]]]), ("true", True), ("false", False),
]
NULL = [("null", None)]
STRINGS = [
    ("empty", ""), ("1MB", "x" * MB), ("nul", "a\u0000b"), ("nul-only", "\u0000"),
    ("control", "a\u0001\u001f\u007fb\t\n\r"), ("surrogate", "\ud800"),
    ("low-surrogate", "x\udc00"), ("emoji", "\U0001F600\U0001F680"),
    # Multi-byte text longer than every limit: a message that quotes it cut
    # at a byte count must not split a character.
    ("utf8-2byte-odd", "a" + "\u00e9" * 3000), ("utf8-3byte", "\u4e2d" * 3000),
    ("utf8-4byte", "b" + "\U0001F600" * 3000), ("utf8-2byte-300", "a" + "\u00e9" * 150),
    ("dotdot", "../x"), ("sql", "1; DROP TABLE runs"), ("sql-quote", "' OR '1'='1"),
    ("300-chars", "a" * 300), ("minus-one", "-1"), ("20-digits", "99999999999999999999"),
    ("quotes", "'\"`\\"), ("NaN", "NaN"), ("Infinity", "Infinity"), ("1e400", "1e400"),
    ("hex", "0x10"), ("lead-space", " 1"), ("trail-space", "1 "), ("pct00", "%00"),
    ("rtl", "\u202eabc"), ("word-null", "null"), ("bom", "\ufeffx"),
]
NUMBERS = [
    ("minus-one", -1), ("float", 1.5), ("int64-max+1", 2 ** 63), ("int64-min-1", -2 ** 63 - 1),
    ("1e30-int", 10 ** 30), ("float-1e19", 1e19), ("1e400", Raw("1e400")),
    ("-1e400", Raw("-1e400")), ("1e-400", Raw("1e-400")), ("int64-max", I64_MAX),
    ("int64-min", I64_MIN), ("minus-zero", Raw("-0.0")),
]
INT_EXTRAS = [
    ("zero", 0), ("one-float", 1.0), ("str-int64-max", str(I64_MAX)),
    ("str-int64-min", str(I64_MIN)), ("str-int64-max+1", str(2 ** 63)), ("plus-one", "+1"),
    ("str-float", "1.5"), ("str-exp", "1e3"),
]
ODD_IDS = [
    ("path", "../x"), ("sql", "1; DROP TABLE runs"), ("300-chars", "a" * 300),
    ("minus-one", "-1"), ("20-digits", "99999999999999999999"), ("256-valid", "A" * 256),
    ("257", "a" * 257), ("hex32", "f" * 32), ("space", "a b"), ("slash", "a/b"),
]
GENERIC = TYPES + NULL + STRINGS + NUMBERS
# A smaller set for positions inside lists (tags, metrics, datasets).
NESTED = ([TYPES[0], TYPES[2], TYPES[5]] + NULL +
          [s for s in STRINGS if s[0] in ("empty", "1MB", "nul", "control", "surrogate",
                                          "emoji", "utf8-2byte-odd", "utf8-3byte",
                                          "dotdot", "sql", "300-chars", "minus-one",
                                          "NaN", "1e400", "trail-space")] +
          [n for n in NUMBERS if n[0] in ("minus-one", "float", "int64-max+1", "1e400",
                                          "int64-max", "1e-400")])

NESTED_SMALL = [v for v in NESTED if v[0] in (
    "object", "array", "null", "empty", "1MB", "nul", "control", "surrogate", "emoji",
    "utf8-2byte-odd", "300-chars", "minus-one", "int64-max+1", "float")]

# ---- a model of the server's readers (lib/mt_json.c) ----


SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogate(s):
    return SURROGATE.search(s) is not None


def jansson_rejects(v):
    """True when the whole body cannot be parsed: lone surrogates, integers
    beyond int64 and reals beyond double."""
    if isinstance(v, str):
        return has_surrogate(v)
    if isinstance(v, bool) or v is None:
        return False
    if isinstance(v, int):
        return not I64_MIN <= v <= I64_MAX
    if isinstance(v, Raw):
        return math.isinf(float(v.text))
    if isinstance(v, list):
        return any(jansson_rejects(x) for x in v)
    if isinstance(v, dict):
        return any(jansson_rejects(k) or jansson_rejects(x) for k, x in v.items())
    return False


def j_number(v):
    """('int', n) / ('real', f) for a JSON number, None for other types."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("real", v)
    if isinstance(v, Raw):
        return ("real", float(v.text))
    return None


def as_str(v):
    """mt_json_opt_str: None when absent, BAD when refused."""
    if v is None:
        return None
    if isinstance(v, str):
        return BAD if "\x00" in v else v
    n = j_number(v)
    if n is None:
        return BAD
    return str(n[1]) if n[0] == "int" else "%.17g" % n[1]


def as_i64(v):
    """mt_json_i64: a number, an integral real or a decimal string."""
    if v is None:
        return None
    if isinstance(v, str):
        m = re.fullmatch(r"[ \t\n\v\f\r]*([+-]?[0-9]+)", v)
        if not m:
            return BAD
        n = int(m.group(1))
        return n if I64_MIN <= n <= I64_MAX else BAD
    n = j_number(v)
    if n is None:
        return BAD
    if n[0] == "int":
        return n[1]
    f = n[1]
    if math.isfinite(f) and f == math.floor(f) and -9.2e18 <= f <= 9.2e18:
        return int(f)
    return BAD


def double_ok(v):
    """mt_json_double; "unsure" counts as acceptable (the result is ANY)."""
    if isinstance(v, str):
        if "\x00" in v or v.lower().lstrip("+-").startswith("0x"):
            return False
        try:
            float(v)
            return True
        except ValueError:
            return False
    return j_number(v) is not None


def as_str_list(v):
    """mt_json_str_list: a list of strings/integers or one string."""
    if v is None:
        return []
    if isinstance(v, list):
        out = []
        for x in v:
            if isinstance(x, str):
                out.append(x)
            elif isinstance(x, int) and not isinstance(x, bool):
                out.append(str(x))
            else:
                return BAD
        return out
    s = as_str(v)
    return BAD if s is BAD else [s]


def key_ok(s):
    """mt_validate_key."""
    if not isinstance(s, str) or not s or nbytes(s) > 250:
        return False
    if any(ord(c) < 0x80 and not (c.isalnum() or c in "_-./ :") for c in s):
        return False
    if s == "." or s.startswith("..") or s.startswith("/") or s.endswith("/"):
        return False
    return all(seg not in ("", ".", "..") for seg in s.split("/"))


def run_id_pattern(s):
    return isinstance(s, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,255}", s) is not None


def token_ok(s, longest=168):
    """Is s a page token the server accepts?  Unsure counts as yes.  runs/search
    takes longer tokens (longest=10924: its tokens carry a keyset)."""
    if s == "":
        return True
    if len(s) % 4 or len(s) > longest:
        return False
    try:
        raw = base64.b64decode(s, validate=True)
    except ValueError:
        # Outside the alphabet: EVP_DecodeBlock refuses too.  Inside it
        # (odd padding): OpenSSL may differ from Python, so unsure.
        return bool(re.fullmatch(r"[A-Za-z0-9+/=]*", s))
    try:
        j = json.loads(raw)
    except ValueError:
        return False
    off = j.get("offset") if isinstance(j, dict) else None
    return isinstance(off, int) and not isinstance(off, bool) and 0 <= off <= I64_MAX


def nbytes(s):
    return len(s.encode("utf-8", "surrogatepass"))

# ---- field kinds: each returns True when the value must be refused ----


def k_run_id(v):
    return as_str(v) not in F.run_ids  # no hostile value names a real run


def k_exp_id(v):
    return as_str(v) not in F.exp_ids


def k_exp_id_opt(v):
    # A string starting with NUL reads as "" (the C string), i.e. absent.
    return not (v is None or v == "" or as_str(v) in F.exp_ids or
                (isinstance(v, str) and v.startswith("\0")))


def k_run_id_lookup(v):
    """metrics/get-history: an unknown run gives {}, as MLflow does; only
    an id of the wrong shape is refused."""
    s = as_str(v)
    return s is BAD or not run_id_pattern(s)


def str_req(v):
    s = as_str(v)
    return s is BAD or not s


def k_key(v):
    s = as_str(v)
    return s is BAD or not key_ok(s)


def k_value(limit):
    def check(v):
        s = as_str(v)
        return s is BAD or (s is not None and nbytes(s) > limit)
    return check


def k_name_req(limit):
    def check(v):
        s = as_str(v)
        return s is BAD or not s or nbytes(s) > limit
    return check


def k_artifact_location(v):
    s = as_str(v)
    if s is BAD:
        return True
    if not s:
        return False
    q = s.find("?")
    return (nbytes(s) > 2048 or s.startswith("runs:") or "#" in s or ";" in s or
            (q >= 0 and (".." in s[q:] or "%2e%2e" in s[q:].lower())))


def k_i64(required=False, lo=I64_MIN, hi=I64_MAX):
    def check(v):
        n = as_i64(v)
        if n is None:
            return required
        return n is BAD or not lo <= n <= hi
    return check


def k_double_req(v):
    return v is None or not double_ok(v)


def k_enum(names, numbers):
    def check(v):
        if v is None:
            return False
        if isinstance(v, str):
            # The server compares the C string, so "ALL\0x" reads as "ALL"
            # (lenient, not harmful): only the part before a NUL counts.
            return v.split("\0")[0].upper() not in names
        return not (isinstance(v, int) and not isinstance(v, bool) and v in numbers)
    return check


def k_str_list(v):
    return as_str_list(v) is BAD


def k_optional_str(v):
    return as_str(v) is BAD


def k_token(v, longest=168):
    s = as_str(v)
    if s is None:
        return False
    return s is BAD or not token_ok(s, longest)


def k_runs_token(v):
    return k_token(v, 10924)


K_STATUS = k_enum({"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"}, range(1, 6))
K_VIEW = k_enum({"ACTIVE_ONLY", "DELETED_ONLY", "ALL", "1", "2", "3"}, range(1, 4))


def k_kv_list(key_check, value_limit, max_items=None, unique=False):
    """tags / params: a list of {key, value} objects."""
    def check(v):
        if v is None:
            return False
        if not isinstance(v, list):
            return True
        if max_items is not None and len(v) > max_items:
            return True
        seen = {}
        for t in v:
            if not isinstance(t, dict):
                return True
            k, val = as_str(t.get("key")), as_str(t.get("value"))
            if k is BAD or not k or val is BAD or key_check(k):
                return True
            if value_limit is not None and val is not None and nbytes(val) > value_limit:
                return True
            if unique and k in seen and seen[k] != (val or ""):
                return True
            seen[k] = val or ""
        return False
    return check


def metric_rejected(m):
    if not isinstance(m, dict):
        return True
    k = as_str(m.get("key"))
    if k is BAD or not key_ok(k):
        return True
    if m.get("value") is None or not double_ok(m["value"]):
        return True
    ts = as_i64(m.get("timestamp"))
    if ts is None or ts is BAD or ts < 0:
        return True
    return as_i64(m.get("step")) is BAD


def k_metric_list(v):
    if v is None:
        return False
    if not isinstance(v, list) or len(v) > 1000:
        return True
    return any(metric_rejected(m) for m in v)


DATASET_LIMITS = {"name": (500, True), "digest": (36, True), "source_type": (500, True),
                  "source": (65535, True), "schema": (MB - 1, False),
                  "profile": (16 * MB - 1, False)}


def k_dataset_list(v):
    if not isinstance(v, list):
        return True  # required
    for di in v:
        if not isinstance(di, dict) or not isinstance(di.get("dataset"), dict):
            return True
        ds = di["dataset"]
        for f, (limit, req) in DATASET_LIMITS.items():
            s = as_str(ds.get(f))
            if s is BAD or (req and not s) or (s is not None and nbytes(s) > limit):
                return True
        tags = di.get("tags")
        if tags is not None:
            if not isinstance(tags, list):
                return True
            for t in tags:
                if not isinstance(t, dict):
                    return True
                k, val = as_str(t.get("key")), as_str(t.get("value"))
                if k is BAD or not k or val is BAD or nbytes(k) > 255 or nbytes(val or "") > 500:
                    return True
    return False

# ---- routes: fields, a valid base request, cross-field rules, read-back ----


class Counter:
    n = 1000

    @classmethod
    def next(cls):
        cls.n += 1
        return cls.n


def page_token(offset):
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


class Route:
    def __init__(self, method, path, fields, base, rules=None, snap=None, destructive=False,
                 after_ok=None):
        self.method, self.path, self.fields = method, path, fields
        self.after_ok = after_ok      # (Resp) -> None, after an accepted request
        self.base = base              # () -> a valid request (dict)
        self.rules = rules            # (request dict) -> True when refused
        self.snap = snap              # () -> state a refused request must not change
        self.destructive = destructive

    def __repr__(self):
        return "%s %s" % (self.method, self.path)

    def refused(self, req):
        if req is BAD:
            return True
        for f, check in self.fields.items():
            if check(req.get(f)):
                return True
        return bool(self.rules and self.rules(req))


class F:
    """Fixtures, made in setUpModule."""


def _snap_run():
    r = get("runs/get", run_id=F.wrun)
    hist = [get("metrics/get-history", run_id=F.wrun, metric_key=k).body
            for k in ("hx_m", "hk")]
    return (r.status, norm(r.body), norm(hist))


def _snap_exp():
    r = get("experiments/get", experiment_id=F.wexp)
    return (r.status, norm(r.body))


def _snap_new_runs():
    """Active runs in the runs/create target (accepted creates are deleted
    again, so that this stays small)."""
    r = post("runs/search", {"experiment_ids": [F.rcexp], "max_results": 50000})
    return sorted(x["info"]["run_id"] for x in r.body.get("runs", []))


def _forget_new_run(resp):
    run = resp.body.get("run", {}).get("info", {}).get("run_id")
    if run:
        post("runs/delete", {"run_id": run})


def _snap_new_experiments():
    r = post("experiments/search", {"max_results": 3, "view_type": "ALL",
                                    "order_by": ["experiment_id DESC"]})
    return [(e["experiment_id"], e["name"]) for e in r.body.get("experiments", [])]


def valid_metric():
    c = Counter.next()
    return {"key": "hx_m", "value": c, "timestamp": c, "step": c}


def valid_param():
    return {"key": "hx_p%d" % Counter.next(), "value": "v"}


def valid_tag():
    return {"key": "hx_t", "value": str(Counter.next())}


def valid_dataset():
    return {"dataset": {"name": "hx-ds-%d" % Counter.next(), "digest": "d0d0", "source_type": "local",
                        "source": "/data", "schema": "{}", "profile": "{}"},
            "tags": [{"key": "mlflow.data.context", "value": "train"}]}


def bulk_rules(req):
    ids = as_str_list(req.get("run_ids"))
    if ids is BAD or not ids or len(ids) > 100 or not all(run_id_pattern(i) for i in ids):
        return True
    s, e = as_i64(req.get("start_step")), as_i64(req.get("end_step"))
    if (s is None) != (e is None):
        return True
    return s is not None and s > e


def create_run_rules(req):
    name = as_str(req.get("run_name"))
    tags = req.get("tags") or []
    for t in tags:
        if isinstance(t, dict) and t.get("key") == "mlflow.runName" and name and \
                as_str(t.get("value")) != name:
            return True
    return False


def routes():
    K_RUN_TAGS = k_kv_list(lambda k: not key_ok(k), 8000)
    return [
        Route("POST", "experiments/create",
              {"name": k_name_req(500), "artifact_location": k_artifact_location,
               "tags": k_kv_list(lambda k: not key_ok(k), 5000)},
              lambda: {"name": uniq("hx-exp"), "artifact_location": "/tmp/hx-loc",
                       "tags": [{"key": "hxt", "value": "v"}]},
              snap=_snap_new_experiments),
        Route("GET", "experiments/get", {"experiment_id": k_exp_id},
              lambda: {"experiment_id": F.exp}),
        Route("GET", "experiments/get-by-name", {"experiment_name": str_req},
              lambda: {"experiment_name": F.exp_name}),
        Route("POST", "experiments/delete", {"experiment_id": k_exp_id},
              lambda: {"experiment_id": F.wexp}, snap=_snap_exp, destructive=True),
        Route("POST", "experiments/restore", {"experiment_id": k_exp_id},
              lambda: {"experiment_id": F.wexp}, snap=_snap_exp, destructive=True),
        Route("GET", "experiments/search", SEARCH_EXP_FIELDS, search_exp_base),
        Route("POST", "experiments/search", SEARCH_EXP_FIELDS, search_exp_base),
        Route("POST", "experiments/set-experiment-tag",
              {"experiment_id": k_exp_id, "key": k_key, "value": k_value(5000)},
              lambda: {"experiment_id": F.wexp, "key": "hxk", "value": uniq()}, snap=_snap_exp),
        Route("POST", "experiments/update",
              {"experiment_id": k_exp_id, "new_name": k_name_req(500)},
              lambda: {"experiment_id": F.wexp, "new_name": uniq("hx-ren")}, snap=_snap_exp),
        Route("GET", "metrics/get-history", {"run_id": k_run_id_lookup, "metric_key": str_req},
              lambda: {"run_id": F.run, "metric_key": "m"}),
        Route("GET", "metrics/get-history-bulk-interval",
              {"run_ids": k_str_list, "metric_key": str_req, "start_step": k_i64(),
               "end_step": k_i64(), "max_results": k_i64(lo=1, hi=2500)},
              lambda: {"run_ids": [F.run], "metric_key": "m", "start_step": 0, "end_step": 100,
                       "max_results": 10}, rules=bulk_rules),
        Route("POST", "runs/create",
              {"experiment_id": k_exp_id_opt, "user_id": k_optional_str,
               "run_name": k_value(250), "start_time": k_i64(), "tags": K_RUN_TAGS},
              lambda: {"experiment_id": F.rcexp, "run_name": "hx-run", "user_id": "hx",
                       "start_time": mtapi.now_ms(), "tags": [{"key": "hxt", "value": "v"}]},
              rules=create_run_rules, snap=_snap_new_runs, after_ok=_forget_new_run),
        Route("POST", "runs/delete", {"run_id": k_run_id}, lambda: {"run_id": F.wrun},
              snap=_snap_run, destructive=True),
        Route("POST", "runs/delete-tag", {"run_id": k_run_id, "key": k_key},
              lambda: {"run_id": F.wrun, "key": "hx-keep"}, snap=_snap_run, destructive=True),
        Route("GET", "runs/get", {"run_id": k_run_id}, lambda: {"run_id": F.run}),
        Route("POST", "runs/log-batch",
              {"run_id": k_run_id, "metrics": k_metric_list,
               "params": k_kv_list(lambda k: not key_ok(k), 6000, 100, unique=True),
               "tags": k_kv_list(lambda k: not key_ok(k), 8000, 100)},
              lambda: {"run_id": F.wrun, "metrics": [valid_metric()], "params": [valid_param()],
                       "tags": [valid_tag()]},
              rules=lambda r: sum(len(r.get(f) or []) for f in ("metrics", "params", "tags")
                                  if isinstance(r.get(f), list)) > 1000,
              snap=_snap_run),
        Route("POST", "runs/log-inputs", {"run_id": k_run_id, "datasets": k_dataset_list},
              lambda: {"run_id": F.wrun, "datasets": [valid_dataset()]}, snap=_snap_run),
        Route("POST", "runs/log-metric",
              {"run_id": k_run_id, "key": k_key, "value": k_double_req,
               "timestamp": k_i64(required=True, lo=0), "step": k_i64()},
              lambda: dict(valid_metric(), run_id=F.wrun), snap=_snap_run),
        Route("POST", "runs/log-parameter",
              {"run_id": k_run_id, "key": k_key, "value": k_value(6000)},
              lambda: dict(valid_param(), run_id=F.wrun), snap=_snap_run),
        Route("POST", "runs/restore", {"run_id": k_run_id}, lambda: {"run_id": F.wrun},
              snap=_snap_run, destructive=True),
        Route("POST", "runs/search",
              {"experiment_ids": k_str_list, "filter": k_optional_str, "run_view_type": K_VIEW,
               "max_results": k_i64(lo=1, hi=50000), "order_by": k_str_list,
               "page_token": k_runs_token},
              lambda: {"experiment_ids": [F.exp], "filter": "params.p = 'v'",
                       "run_view_type": "ALL", "max_results": 10, "order_by": ["metrics.m DESC"],
                       "page_token": page_token(0)},
              rules=lambda r: len(as_str_list(r.get("experiment_ids"))) > 1000),
        Route("POST", "runs/set-tag", {"run_id": k_run_id, "key": k_key, "value": k_value(8000)},
              lambda: dict(valid_tag(), run_id=F.wrun), snap=_snap_run),
        Route("POST", "runs/update",
              {"run_id": k_run_id, "status": K_STATUS, "end_time": k_i64(),
               "run_name": k_value(250)},
              lambda: {"run_id": F.wrun, "status": "RUNNING", "end_time": mtapi.now_ms(),
                       "run_name": "hx-upd"}, snap=_snap_run),
        Route("GET", MLTRACK + "metrics/get-history-sampled",
              {"run_id": k_run_id, "metric_key": str_req, "max_points": k_i64(lo=1, hi=10000)},
              lambda: {"run_id": F.run, "metric_key": "m", "max_points": 10}),
    ]


SEARCH_EXP_FIELDS = {"max_results": k_i64(required=True, lo=1, hi=50000),
                     "filter": k_optional_str, "order_by": k_str_list, "view_type": K_VIEW,
                     "page_token": k_token}


def search_exp_base():
    return {"max_results": 5, "filter": "name LIKE 'hx%'", "order_by": ["name ASC"],
            "view_type": "ALL", "page_token": page_token(0)}


SYSTEM_ROUTES = ["/health", "/healthz", "/metrics", "/readyz", "/version"]


def route_path(route, prefix=API):
    return route.path if route.path.startswith("/") else prefix + route.path

# ---- sending ----


def encode_body(obj):
    """JSON text for obj, with Raw tokens written as is."""
    raws = {}

    def walk(v):
        if isinstance(v, Raw):
            ph = "\u0001RAW%d\u0001" % len(raws)
            raws[json.dumps(ph)] = v.text
            return ph
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return v

    text = json.dumps(walk(obj), allow_nan=False)
    for ph, tok in raws.items():
        text = text.replace(ph, tok)
    return text.encode("utf-8", "surrogatepass")


def q1(x):
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, Raw):
        return x.text
    if isinstance(x, (dict, list)):
        return json.dumps(x)
    return str(x)


def to_query(req):
    """A request dict as a query string: lists become repeated keys."""
    parts = []
    for k, v in req.items():
        if v is None:
            continue
        for x in (v if isinstance(v, list) else [v]):
            parts.append("%s=%s" % (urllib.parse.quote(k, safe=""),
                                    urllib.parse.quote(q1(x).encode("utf-8", "surrogatepass"),
                                                       safe="")))
    return "&".join(parts)


def decode_query(qs):
    """What the dispatcher makes of a query string (http.c parse_query):
    BAD for a decoded NUL or invalid UTF-8; repeated keys become lists."""
    out = {}
    for part in qs.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        kb = urllib.parse.unquote_to_bytes(k.replace("+", " "))
        vb = urllib.parse.unquote_to_bytes(v.replace("+", " "))
        if b"\0" in kb or b"\0" in vb:
            return BAD
        try:
            ks, vs = kb.decode("utf-8"), vb.decode("utf-8")
        except UnicodeDecodeError:
            return BAD
        if ks in out:
            out[ks] = (out[ks] if isinstance(out[ks], list) else [out[ks]]) + [vs]
        else:
            out[ks] = vs
    return out


RUN1 = re.compile(r"(.)\1{15,}", re.S)
RUN_N = re.compile(r"(.{2,12}?)\1{7,}", re.S)
U_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unescape(m):
    c = int(m.group(1), 16)
    return m.group(0) if 0xD800 <= c <= 0xDFFF or c < 0x20 else chr(c)


def short(b, n=300):
    """A one-line excerpt for reports: \\uXXXX shown as the character,
    runs shown as 'x{1048576}', the whole cut at n characters."""
    if isinstance(b, (bytes, bytearray)):
        b = b.decode("utf-8", "backslashreplace")
    if not isinstance(b, str):
        b = json.dumps(b, ensure_ascii=True)
    full = len(b)
    cut = full > (1 << 21)
    b = U_ESCAPE.sub(_unescape, b[:1 << 21])
    b = RUN1.sub(lambda m: "%s{%d}" % (m.group(1), len(m.group(0))), b)
    cut = cut or len(b) > 20 * n
    b = RUN_N.sub(lambda m: "(%s){%d}" % (m.group(1), len(m.group(0)) // len(m.group(1))),
                  b[:20 * n])
    b = b.replace("\n", "\\n").replace("\r", "\\r")
    b = "".join(c if c.isprintable() else "\\x%02x" % ord(c) if ord(c) < 256 else
                "\\u%04x" % ord(c) for c in b)
    return b if len(b) <= n and not cut else "%s...(%d chars)" % (b[:n], full)


class Sent:
    count = 0


def send(method, path, data=None, headers=None):
    """Returns (Resp, None) or (None, 'exception text')."""
    Sent.count += 1
    try:
        if data is None:
            return call(method, path, headers=headers), None
        return call(method, path, raw=data, headers=headers), None
    except (OSError, http.client.HTTPException) as e:
        return None, "%s: %s" % (type(e).__name__, e)


def raw_exchange(data, shut=True, timeout=20):
    """Send raw bytes on a fresh socket; returns (status, body bytes) or
    (None, error).  A server that answers early and closes is fine."""
    Sent.count += 1
    s = socket.create_connection((mtapi._HOST, mtapi._PORT), timeout=timeout)
    out, err = b"", None
    try:
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err = "send: %s" % e
        while True:
            try:
                chunk = s.recv(65536)
            except OSError as e:
                err = err or "recv: %s" % e
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", out)
    if not m:
        return None, err or "no HTTP answer: %r" % out[:100]
    return int(m.group(1)), out.split(b"\r\n\r\n", 1)[-1]

# ---- the checks ----


class HostileCase(mtapi.ApiTestCase):
    def setUp(self):
        self.problems = []
        self.dead = False
        # A fresh target run per test keeps the read-backs small.
        F.wrun = new_run(F.wexp)
        F.run_ids = {F.run, F.wrun}
        r = post("runs/set-tag", {"run_id": F.wrun, "key": "hx-keep", "value": "keep"})
        assert r.status == 200, r

    def tearDown(self):
        pass

    @staticmethod
    def alive():
        r, err = send("GET", "/healthz")
        return not err and r.status == 200

    def finish(self):
        r, err = (None, "server down") if self.dead else send("GET", "/healthz")
        if err or r.status != 200:
            self.problems.append("/healthz after the cases: %s" % (err or r.status))
        if self.problems:
            self.fail("%d problem(s):\n  %s" % (len(self.problems),
                                               "\n  ".join(self.problems[:40])))

    def judge(self, what, resp, err, expect, json_errors=True):
        """Record a problem unless the answer is acceptable; True when 4xx.
        what: the request's description, or a function making it (only
        called when there is something to report)."""
        if callable(what):
            if not err and 400 <= resp.status < 500 and not json_errors:
                return True
            if not err and resp.status == 200 and expect == ANY:
                return False
            if not err and 400 <= resp.status < 500 and isinstance(resp.body, dict) and \
                    isinstance(resp.body.get("error_code"), str) and resp.body["error_code"] and \
                    isinstance(resp.body.get("message"), str):
                return True
            what = what()
        if err:
            if "Connection refused" in err:
                # The request before this one killed the server.
                self.dead = True
                self.problems.append("%s -> SERVER IS DOWN (%s); stopping" % (what, err))
            else:
                self.problems.append("%s -> no answer (%s)" % (what, err))
            return False
        st, body = resp.status, resp.body
        if st >= 500 or st < 200 or (300 <= st < 400):
            self.problems.append("%s -> %d %s" % (what, st, short(body)))
            return False
        if 400 <= st < 500:
            if json_errors and not (isinstance(body, dict) and
                                    isinstance(body.get("error_code"), str) and
                                    body["error_code"] and isinstance(body.get("message"), str)):
                self.problems.append("%s -> %d without an MLflow error body: %s"
                                     % (what, st, short(body)))
            return True
        if expect == REJECT:
            self.problems.append("%s -> %d but should be refused: %s" % (what, st, short(body)))
        return False

    def run_cases(self, route, cases, prefix=API):
        """cases: (label, request dict | ('raw-body', bytes) | ('raw-query', str), expect).

        Routes with a read-back (route.snap) are checked for partial writes:
        the state is read again after every few refused requests (and before
        any request that may be accepted, since that one may change it), and
        must not have moved."""
        path = route_path(route, prefix)
        state = route.snap() if route.snap else None
        pending = []  # refused since the last read-back

        def flush():
            nonlocal state
            if not pending:
                return
            now = route.snap()
            if now != state:
                self.problems.append(
                    "PARTIAL WRITE by %s: state before %s, after %s"
                    % (pending[0]() if len(pending) == 1 else
                       "one of these %d refused requests:\n    %s"
                       % (len(pending), "\n    ".join(p() for p in pending)),
                       short(state, 300), short(now, 300)))
            state = now
            pending.clear()

        for label, req, expect in cases:
            if self.dead:
                return
            if route.snap and expect == ANY:
                flush()
            if isinstance(req, tuple) and req[0] == "raw-query":
                qs = req[1]
                what = (lambda qs=qs, label=label:
                        "%s %s?%s [%s]" % (route.method, path, short(qs, 200), label))
                resp, err = send(route.method, path + "?" + qs)
            elif route.method == "GET":
                qs = to_query(req)
                what = lambda qs=qs, label=label: "GET %s?%s [%s]" % (path, short(qs, 200), label)
                if len(qs) > 15000:
                    continue  # beyond CivetWeb's request-line limit: see test_long_urls
                resp, err = send("GET", path + "?" + qs)
            else:
                if isinstance(req, tuple) and req[0] == "raw-body":
                    data = req[1]
                else:
                    data = encode_body(req)
                what = lambda data=data, label=label: "POST %s %s [%s]" % (path, short(data, 300), label)
                resp, err = send("POST", path, data, JSON_CT)
            refused = self.judge(what, resp, err, expect)
            if self.dead:
                return
            if resp is not None and resp.status == 200 and route.after_ok:
                route.after_ok(resp)
            if route.snap:
                if refused:
                    pending.append(lambda what=what, resp=resp: "%s -> %d %s" % (
                        what(), resp.status, short(resp.body, 120)))
                    if len(pending) >= 8:
                        flush()
                else:
                    state = route.snap()  # accepted: the new state is the reference
                    pending.clear()
        if route.snap and not self.dead:
            flush()

    # ---- case generation ----

    def field_cases(self, route, values=GENERIC, get=False):
        cases = []
        for field, check in route.fields.items():
            vals = list(values)
            if check in (k_run_id, k_exp_id, k_exp_id_opt, k_run_id_lookup):
                vals += ODD_IDS
            if getattr(check, "__qualname__", "").startswith("k_i64"):
                vals += INT_EXTRAS
            if check is K_STATUS or check is K_VIEW:
                vals += [("lower", "running"), ("lower-view", "all"), ("zero", 0), ("six", 6),
                         ("str-two", "2"), ("nul", "ALL\u0000")]
            for label, v in vals:
                if check in (k_exp_id, k_exp_id_opt, k_run_id) and self.names_real_id(v):
                    continue
                if route.destructive and field != "run_id" and field != "experiment_id" \
                        and not check(v):
                    continue  # a valid value would delete the fixture
                req = route.base()
                req[field] = v
                if get:
                    qs = to_query(req)
                    exp = REJECT if route.refused(decode_query(qs)) else ANY
                else:
                    exp = REJECT if (jansson_rejects(v) or route.refused(req)) else ANY
                cases.append(("%s=%s" % (field, label), req, exp))
        return cases

    @staticmethod
    def names_real_id(v):
        """Numbers print as short digit strings: "0" is the Default experiment."""
        s = as_str(v) if not jansson_rejects(v) else None
        return isinstance(s, str) and s.isdigit() and len(s) < 7


def setUpModule():
    mtapi.wait_ready()
    F.exp_name = uniq("hx-fix")
    F.exp = new_experiment(F.exp_name)
    F.run = new_run(F.exp)
    mtapi.log_batch(F.run, metrics=[{"key": "m", "value": float(i), "timestamp": 1000 + i, "step": i}
                                    for i in range(30)],
                    params=[{"key": "p", "value": "v"}], tags=[{"key": "t", "value": "x"}])
    F.wexp = new_experiment(uniq("hx-wexp"))
    F.wrun = new_run(F.wexp)
    r = post("runs/set-tag", {"run_id": F.wrun, "key": "hx-keep", "value": "keep"})
    assert r.status == 200, r
    F.rcexp = new_experiment(uniq("hx-rcexp"))
    F.run_ids = {F.run, F.wrun}
    F.exp_ids = {F.exp, F.wexp, F.rcexp}


def tearDownModule():
    print("\ntest_hostile: %d hostile requests sent" % Sent.count)


ROUTES = None


def all_routes():
    global ROUTES
    if ROUTES is None:
        ROUTES = routes()
    return ROUTES


def route(method, path):
    for r in all_routes():
        if r.method == method and r.path == path:
            return r
    raise KeyError(path)


class TestBases(HostileCase):
    """The base requests of the sweeps are valid: a refusal in a sweep is
    the hostile field's doing."""

    def test_bases_are_valid(self):
        for r in all_routes():
            if r.destructive:
                continue
            req = r.base()
            self.assertFalse(r.refused(req), r)
            if r.method == "GET":
                resp = call("GET", route_path(r) + "?" + to_query(req))
            else:
                resp = call("POST", route_path(r), raw=encode_body(req), headers=JSON_CT)
            self.assertEqual(resp.status, 200, "%r: %s" % (r, resp.body))

    def test_destructive_bases_are_valid(self):
        e = new_experiment(uniq("hx-d"))
        run = new_run(e)
        self.assertOk(post("runs/set-tag", {"run_id": run, "key": "k", "value": "v"}))
        for path, body in (("runs/delete-tag", {"run_id": run, "key": "k"}),
                           ("runs/delete", {"run_id": run}), ("runs/restore", {"run_id": run}),
                           ("experiments/delete", {"experiment_id": e}),
                           ("experiments/restore", {"experiment_id": e})):
            self.assertEmptyOk(post(path, body))


class TestFieldSweep(HostileCase):
    """Every field of every route, each hostile value."""

    def sweep(self, method, path):
        r = route(method, path)
        self.run_cases(r, self.field_cases(r, get=(method == "GET")))
        self.finish()

    def test_experiments_create(self):
        self.sweep("POST", "experiments/create")

    def test_experiments_get(self):
        self.sweep("GET", "experiments/get")

    def test_experiments_get_by_name(self):
        self.sweep("GET", "experiments/get-by-name")

    def test_experiments_delete(self):
        self.sweep("POST", "experiments/delete")

    def test_experiments_restore(self):
        self.sweep("POST", "experiments/restore")

    def test_experiments_search_get(self):
        self.sweep("GET", "experiments/search")

    def test_experiments_search_post(self):
        self.sweep("POST", "experiments/search")

    def test_experiments_set_tag(self):
        self.sweep("POST", "experiments/set-experiment-tag")

    def test_experiments_update(self):
        self.sweep("POST", "experiments/update")

    def test_metrics_get_history(self):
        self.sweep("GET", "metrics/get-history")

    def test_metrics_bulk_interval(self):
        self.sweep("GET", "metrics/get-history-bulk-interval")

    def test_metrics_sampled(self):
        self.sweep("GET", MLTRACK + "metrics/get-history-sampled")

    def test_runs_create(self):
        self.sweep("POST", "runs/create")

    def test_runs_delete(self):
        self.sweep("POST", "runs/delete")

    def test_runs_delete_tag(self):
        self.sweep("POST", "runs/delete-tag")

    def test_runs_get(self):
        self.sweep("GET", "runs/get")

    def test_runs_log_batch(self):
        self.sweep("POST", "runs/log-batch")

    def test_runs_log_inputs(self):
        self.sweep("POST", "runs/log-inputs")

    def test_runs_log_metric(self):
        self.sweep("POST", "runs/log-metric")

    def test_runs_log_parameter(self):
        self.sweep("POST", "runs/log-parameter")

    def test_runs_restore(self):
        self.sweep("POST", "runs/restore")

    def test_runs_search(self):
        self.sweep("POST", "runs/search")

    def test_runs_set_tag(self):
        self.sweep("POST", "runs/set-tag")

    def test_runs_update(self):
        self.sweep("POST", "runs/update")

    def test_ajax_mirror(self):
        """The /ajax-api mirror goes through the same dispatcher: a few routes."""
        small = TYPES[:3] + NULL + [s for s in STRINGS if s[0] in (
            "nul", "surrogate", "utf8-2byte-odd", "1MB", "sql")] + NUMBERS[:3]
        for method, path in (("GET", "runs/get"), ("POST", "runs/log-metric"),
                             ("GET", "experiments/search"), ("POST", "experiments/search"),
                             ("POST", "runs/search")):
            r = route(method, path)
            self.run_cases(r, self.field_cases(r, small, get=(method == "GET")), prefix=AJAX)
        self.finish()


class TestNestedLists(HostileCase):
    """Hostile entries inside tags, params, metrics and datasets, after a
    valid entry (so that a write that is not atomic would show)."""

    def entry_cases(self, route, field, valid, make, positions, values=NESTED):
        cases = []
        for pos in positions:
            for label, v in values:
                entry = make(pos, v)
                req = route.base()
                req[field] = [valid(), entry]
                exp = REJECT if (jansson_rejects(v) or route.refused(req)) else ANY
                cases.append(("%s[1].%s=%s" % (field, pos, label), req, exp))
        return cases

    def shape_cases(self, route, field, valid, limit=None):
        shapes = [("object", {"key": "a", "value": "b"}), ("string", "k=v"), ("number", 5),
                  ("true", True), ("empty", []), ("null", None), ("item-number", [1]),
                  ("item-string", ["k"]), ("item-null", [None]), ("item-array", [[]]),
                  ("item-empty-object", [{}]), ("nested", [[valid()]]),
                  ("valid-then-number", [valid(), 7])]
        if limit:
            shapes.append(("over-limit", [valid() for _ in range(limit + 1)]))
        cases = []
        for label, v in shapes:
            req = route.base()
            req[field] = v
            cases.append(("%s=%s" % (field, label), req,
                          REJECT if route.refused(req) else ANY))
        return cases

    def kv(self, route, field, valid, limit=None):
        cases = self.shape_cases(route, field, valid, limit)

        def make(pos, v):
            return {"key": v, "value": "x"} if pos == "key" else {"key": "hk", "value": v}
        cases += self.entry_cases(route, field, valid, make, ("key", "value"))
        # Duplicate keys in one list: params must not change (400), tags are
        # last-write-wins.
        req = route.base()
        req[field] = [valid(), {"key": "hk_dup", "value": "1"}, {"key": "hk_dup", "value": "2"}]
        cases.append(("%s=duplicate-keys" % field, req, REJECT if route.refused(req) else ANY))
        self.run_cases(route, cases)

    def test_log_batch_params(self):
        r = route("POST", "runs/log-batch")
        self.kv(r, "params", valid_param, 100)
        # A param already logged with another value: the whole batch fails.
        self.assertEmptyOk(post("runs/log-batch", {"run_id": F.wrun,
                                                   "params": [{"key": "hx_fixed", "value": "1"}]}))
        self.run_cases(r, [("param-change", {"run_id": F.wrun, "metrics": [valid_metric()],
                                             "params": [valid_param(),
                                                        {"key": "hx_fixed", "value": "2"}],
                                             "tags": [valid_tag()]}, REJECT)])
        self.finish()

    def test_log_batch_tags(self):
        self.kv(route("POST", "runs/log-batch"), "tags", valid_tag, 100)
        self.finish()

    def test_log_batch_metrics(self):
        r = route("POST", "runs/log-batch")
        cases = self.shape_cases(r, "metrics", valid_metric, 1000)

        def make(pos, v):
            m = {"key": "hk", "value": 1.0, "timestamp": 5, "step": 0}
            m[pos] = v
            return m
        cases += self.entry_cases(r, "metrics", valid_metric, make,
                                  ("key", "value", "timestamp", "step"))
        for label, drop in (("no-value", "value"), ("no-timestamp", "timestamp"),
                            ("no-key", "key")):
            m = make("step", 1)
            del m[drop]
            req = r.base()
            req["metrics"] = [valid_metric(), m]
            cases.append(("metrics[1]." + label, req, REJECT))
        req = r.base()
        req["metrics"] = [valid_metric() for _ in range(600)]
        req["params"] = [valid_param() for _ in range(100)]
        req["tags"] = [valid_tag() for _ in range(100)] + [valid_tag()]
        cases.append(("total-over-1000", req, REJECT))
        self.run_cases(r, cases)
        self.finish()

    def test_runs_create_tags(self):
        r = route("POST", "runs/create")
        self.kv(r, "tags", lambda: {"key": "hxt%d" % Counter.next(), "value": "v"})
        req = r.base()
        req["tags"] = [{"key": "mlflow.runName", "value": "other"}]
        self.run_cases(r, [("runName-conflict", req, REJECT)])
        self.finish()

    def test_experiments_create_tags(self):
        r = route("POST", "experiments/create")
        self.kv(r, "tags", lambda: {"key": "hxt%d" % Counter.next(), "value": "v"})
        self.finish()

    def test_log_inputs(self):
        r = route("POST", "runs/log-inputs")
        cases = self.shape_cases(r, "datasets", valid_dataset)
        for label, d in (("no-dataset", {"tags": []}), ("dataset-number", {"dataset": 1}),
                         ("dataset-empty", {"dataset": {}}),
                         ("digest-37", dict(valid_dataset(), dataset=dict(
                             valid_dataset()["dataset"], digest="d" * 37))),
                         ("schema-1MiB", dict(valid_dataset(), dataset=dict(
                             valid_dataset()["dataset"], schema="s" * MB)))):
            req = r.base()
            req["datasets"] = [valid_dataset(), d]
            cases.append(("datasets[1]=" + label, req, REJECT))

        def make_tag(pos, v):
            d = valid_dataset()
            d["tags"] = [{"key": v, "value": "v"}] if pos == "tag-key" else [{"key": "k", "value": v}]
            return d
        cases += self.entry_cases(r, "datasets", valid_dataset, make_tag, ("tag-key", "tag-value"))
        # The dataset fields; profile (16 MiB limit) last, since an accepted
        # 1 MB profile makes every later read-back 1 MB.
        for f in DATASET_LIMITS:
            def make(pos, v):
                d = valid_dataset()
                d["dataset"][pos] = v
                return d
            cases += self.entry_cases(r, "datasets", valid_dataset, make, (f,), NESTED_SMALL)
        self.run_cases(r, cases)
        self.finish()


def body_cases(route):
    """Whole-body hostility for a POST route."""
    base = route.base()
    text = encode_body(base).decode()
    first = next(iter(route.fields))
    needs_field = route.refused({})
    empty_exp = REJECT if needs_field else ANY
    cases = [
        ("not-json", "hello", REJECT), ("truncated", text[:len(text) // 2], REJECT),
        ("open-brace", "{", REJECT), ("top-array", "[]", REJECT),
        ("array-of-base", "[" + text + "]", REJECT), ("top-string", '"x"', REJECT),
        ("string-holding-base", json.dumps(text), ANY),
        ("string-holding-array", json.dumps("[1]"), REJECT),
        ("string-holding-string", json.dumps(json.dumps("x")), REJECT),
        ("string-holding-garbage", json.dumps("{x"), REJECT),
        ("number", "123", REJECT), ("true", "true", REJECT), ("null", "null", REJECT),
        ("empty", "", empty_exp), ("whitespace", " \r\n\t ", empty_exp), ("empty-object", "{}", empty_exp),
        ("dup-key-last-hostile", text[:-1] + ', "%s": {"x": 1}}' % first, REJECT),
        ("dup-key-first-hostile", '{"%s": {"x": 1}, ' % first + text[1:], ANY),
        ("trailing-garbage", text + "x", REJECT), ("two-objects", text + text, REJECT),
        ("comment", "// c\n" + text, REJECT), ("single-quotes", text.replace('"', "'"), REJECT),
        ("nan-literal", '{"zz": NaN, ' + text[1:], REJECT),
        ("infinity-literal", '{"zz": Infinity, ' + text[1:], REJECT),
        ("bom", "\ufeff" + text, REJECT),
        ("huge-int-token", '{"zz": ' + "9" * 100000 + ", " + text[1:], REJECT),
        ("huge-real-token", '{"zz": 1' + "0" * 400 + ".0, " + text[1:], REJECT),
        ("many-unknown-keys", "{" + "".join('"k%d": %d, ' % (i, i) for i in range(10000)) +
         text[1:], ANY),
        ("1MB-unknown-key", '{"%s": 1, ' % ("k" * MB) + text[1:], ANY),
    ]
    # On delete/restore routes a body that is acceptable would act on the
    # fixture: only the refused ones are sent there.
    out = [(label, ("raw-body", body.encode("utf-8", "surrogatepass")), exp)
           for label, body, exp in cases if not (route.destructive and exp == ANY)]
    for label, b in (("nul-outside-string", text[:-1].encode() + b"\0}"),
                     ("invalid-utf8", b'{"zz": "\xff", ' + text[1:].encode()),
                     ("overlong-utf8", b'{"zz": "\xc0\xaf", ' + text[1:].encode()),
                     ("cesu-surrogate", b'{"zz": "\xed\xa0\x80", ' + text[1:].encode()),
                     ("above-10ffff", b'{"zz": "\xf4\x90\x80\x80", ' + text[1:].encode()),
                     ("utf16", text.encode("utf-16")), ("latin1", b'{"zz": "caf\xe9"}'),
                     ("binary", bytes(random.Random(7).randrange(256) for _ in range(4096)))):
        out.append((label, ("raw-body", b), REJECT))
    return out


class TestBodies(HostileCase):
    """Bodies that are not the JSON object the route wants."""

    def test_post_routes(self):
        for r in all_routes():
            if r.method != "POST":
                continue
            self.run_cases(r, body_cases(r))
        self.finish()

    def test_ajax_post_routes(self):
        for path in ("runs/log-batch", "experiments/create", "runs/search"):
            r = route("POST", path)
            self.run_cases(r, body_cases(r)[:20], prefix=AJAX)
        self.finish()

    def test_content_types(self):
        r = route("POST", "runs/log-metric")
        path = route_path(r)
        state = r.snap()
        for ct, exp in ((None, REJECT), ("text/plain", REJECT), ("application/jsonx", REJECT),
                        ("application/x-www-form-urlencoded", REJECT), ("", REJECT),
                        ("multipart/form-data; boundary=x", REJECT),
                        ("APPLICATION/JSON", ANY), ("application/json; charset=utf-16", ANY)):
            data = encode_body(r.base())
            hdrs = {"Content-Type": ct} if ct is not None else {"Content-Type": None}
            try:
                resp, err = send("POST", path, data, hdrs)
            except ValueError:  # http.client refuses a NUL in a header
                continue
            refused = self.judge("POST %s Content-Type %r" % (path, ct), resp, err, exp)
            now = r.snap()
            if refused and now != state:
                self.problems.append("PARTIAL WRITE with Content-Type %r" % ct)
            state = now
        self.finish()

    def test_17mb_bodies(self):
        """Over the 16 MiB limit: 413 (or 400), by Content-Length and chunked."""
        big = b'{"name": "' + b"x" * (17 * MB) + b'"}'
        for path in ("experiments/create", "runs/log-batch", "runs/search"):
            for chunked in (False, True):
                head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        "Connection: close\r\n" % (API + path)).encode()
                if chunked:
                    req = head + b"Transfer-Encoding: chunked\r\n\r\n" + \
                        b"%x\r\n" % len(big) + big + b"\r\n0\r\n\r\n"
                else:
                    req = head + b"Content-Length: %d\r\n\r\n" % len(big) + big
                st, body = raw_exchange(req)
                what = "POST %s 17 MB body%s" % (path, " (chunked)" if chunked else "")
                if st not in (400, 413):
                    self.problems.append("%s -> %s %s" % (what, st, short(body)))
                    continue
                try:
                    j = json.loads(body)
                    assert isinstance(j.get("error_code"), str) and isinstance(j.get("message"), str)
                except (ValueError, AssertionError, AttributeError):
                    self.problems.append("%s -> %d without an MLflow error body: %s"
                                         % (what, st, short(body)))
        self.finish()

    def test_short_body(self):
        """A body shorter than its Content-Length, then end of stream: 400."""
        for path in ("runs/log-batch", "experiments/create"):
            st, body = raw_exchange(
                ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: 100\r\nConnection: close\r\n\r\n{\"run_id\": \"a" % (API + path))
                .encode())
            if st is None or not 400 <= st < 500:
                self.problems.append("POST %s short body -> %s %s" % (path, st, short(body)))
        self.finish()


def raw_query_cases(field):
    f = field
    return [
        ("pct00", "%s=%%00" % f), ("a-pct00-b", "%s=a%%00b" % f), ("bad-escape", "%s=%%zz" % f),
        ("lone-pct", "%s=%%" % f), ("half-escape", "%s=%%f" % f), ("ff", "%s=%%ff" % f),
        ("overlong", "%s=%%c0%%af" % f), ("surrogate", "%s=%%ed%%a0%%80" % f),
        ("above-10ffff", "%s=%%f4%%90%%80%%80" % f), ("truncated-utf8", "%s=%%e2%%82" % f),
        ("repeated", "%s=a&%s=b" % (f, f)), ("repeated-empty", "%s=&%s=" % (f, f)),
        ("no-equals", f), ("nul-key", "%%00=%s" % f), ("nul-in-key", "%s%%00=x" % f),
        ("ampersands", "&&&&"), ("equals", "="), ("double-equals", "%s==x" % f),
        ("plus", "%s=+" % f), ("pct-plus", "%s=%%2B" % f), ("double-encoded", "%s=%%2541" % f),
        ("many-keys", "&".join("k%d=%d" % (i, i) for i in range(1000))),
        ("escaped-5000", "%s=%s" % (f, "%41" * 4000)), ("raw-utf8-emoji", "%s=%%F0%%9F%%98%%80" % f),
    ]


class TestQueryStrings(HostileCase):
    def test_get_routes(self):
        for r in all_routes():
            if r.method != "GET":
                continue
            base = r.base()
            for field in r.fields:
                cases = []
                for label, qs in raw_query_cases(field):
                    rest = to_query({k: v for k, v in base.items() if k != field})
                    full = qs + ("&" + rest if rest else "")
                    d = decode_query(full)
                    cases.append(("%s:%s" % (field, label), ("raw-query", full),
                                  REJECT if r.refused(d) else ANY))
                self.run_cases(r, cases)
            # The /ajax-api mirror, once per route.
            self.run_cases(r, [("ajax:%s" % label, ("raw-query", qs), ANY)
                               for label, qs in raw_query_cases(next(iter(r.fields)))[:8]],
                           prefix=AJAX)
        self.finish()

    def test_system_routes(self):
        """The operational endpoints read no field: junk queries and wrong
        methods must not hurt them."""
        for path in SYSTEM_ROUTES:
            for label, qs in raw_query_cases("x")[:12]:
                resp, err = send("GET", path + "?" + qs)
                self.judge("GET %s?%s" % (path, qs), resp, err, ANY, json_errors=False)
            for m in ("POST", "PUT", "DELETE", "PATCH"):
                resp, err = send(m, path, b"{}", JSON_CT)
                self.judge("%s %s" % (m, path), resp, err, REJECT)
        self.finish()

    def test_methods_and_paths(self):
        """Wrong methods on every route, and odd paths under /api: 404/405
        in MLflow's shape."""
        for r in all_routes():
            path = route_path(r)
            for m in ("PUT", "DELETE", "PATCH", "OPTIONS", "GET" if r.method == "POST" else "POST"):
                if r.path == "experiments/search" and m in ("GET", "POST"):
                    continue
                resp, err = send(m, path, b"{}" if m != "GET" else None, JSON_CT)
                self.judge("%s %s" % (m, path), resp, err, REJECT)
        for p in (API + "runs/get/", API + "runs/GET", API + "runs", API, "/api/", "/api/2.0/",
                  API + "x" * 5000, AJAX + "x" * 3000, "/ajax-api/", API + "runs/get%2F",
                  API + "runs/%2e%2e/runs/get", API + "runs/get;x", API + "%ff",
                  API + "runs/get%00x", "/api/2.0/mltrack/", MLTRACK + "nope"):
            resp, err = send("GET", p + "?run_id=x")
            self.judge("GET %s" % short(p, 80), resp, err, ANY)
        self.finish()

    def test_long_urls(self):
        """Query strings beyond CivetWeb's 16 KB request limit (100k-char
        filter, 1 MB run_id) are refused at the HTTP layer, before the
        dispatcher: a 4xx (in CivetWeb's plain-text shape) and a live
        server.  A 1 MB request line cannot even be sent whole: the server
        answers and closes after 16 KB, so a reset while sending is fine as
        long as the server lives."""
        for path, qs in ((API + "runs/get", "run_id=" + "a" * 20000),
                         (API + "experiments/search",
                          "max_results=5&filter=" + urllib.parse.quote("name = '%s'" % ("x" * 100000))),
                         (API + "metrics/get-history", "run_id=x&metric_key=" + "%F0%9F%98%80" * 4000)):
            resp, err = send("GET", path + "?" + qs)
            if err and ("reset" in err or "Broken pipe" in err):
                err = None if self.alive() else err + ", and the server is down"
                if err is None:
                    continue
            self.judge("GET %s?%s" % (path, short(qs, 60)), resp, err, REJECT, json_errors=False)
        st, body = raw_exchange(("GET %srun_id=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                                 % (API + "runs/get?", "a" * MB)).encode())
        if st is not None and not 400 <= st < 500:
            self.problems.append("GET runs/get with a 1 MB run_id -> %s %s" % (st, short(body)))
        self.finish()

# ---- search: filters, order_by, page tokens ----


LONG = 100000
FILTERS = [
    "'", '"', "`", "attributes.run_name = 'x", 'params.p = "x', "tags.`t = 'x'", "metrics.`m > 1",
    "1=1", "' OR 1=1 --", "params.p = 'x' OR 1=1", "params.p = 'x'; DROP TABLE runs; --",
    "params.p = 'x' UNION SELECT * FROM runs", "params.`p'; DROP TABLE runs; --` = 'x'",
    "tags.t = 'x'' OR ''1''=''1'", "tags.t = 'x\\' OR 1=1 --'", "metrics.m > 1 OR metrics.m < 1",
    "NOT params.p = 'v'", "(params.p = 'v')", "((((params.p = 'v'))))", "params.p = 'v' AND",
    "AND params.p = 'v'", "params.p = 'v' AND AND params.p = 'v'", "params.p == 'v'",
    "params.p = ", "= 'v'", "params. = 'v'", "params.p IN ('a', 'b')", "run_id IN ()",
    "run_id IN ('a',", "attributes.run_id IN ('a' 'b')", "attributes.run_id NOT IN ('a', 'b',)",
    "metrics.m > 1e400", "metrics.m > NaN", "metrics.m > 'x'", "metrics.m > 99999999999999999999",
    "metrics.m >= -1e308", "attributes.start_time > 1.5",
    "attributes.start_time > 99999999999999999999", "attributes.start_time > -9223372036854775809",
    "attributes.start_time = 1e18", "attributes.end_time < 9223372036854775807",
    "params.p LIKE '%%%%'", "params.p ILIKE '\\'", "params.p LIKE '_%\\%'",
    "tags.\"mlflow.runName\" = '\u00e9\u4e2d\U0001F600'", "params.\u00e9 = 'v'",
    "params.p = '\u202e'", "params.p = 'a\u0001b'", "params.p = 'a\u0000b'", "params.`` = 'v'",
    "params.p = 'v' and params.p = 'v'", "x" * LONG, "params.p = '" + "x" * LONG + "'",
    " AND ".join(["params.p = 'v'"] * 2000), "params.p = 'v'" + " " * LONG,
    "\t\n\r params.p = 'v'", "datasets.name = 'x'", "datasets.bogus = 'x'",
    "attributes.bogus = 'x'", "status IN ('RUNNING')", "attributes.status != 'RUNNING'",
    "run_name = 'x'", "`run name` = 'x'", "created > 0", "params.p = 'v' -- c", "/* */ params.p = 'v'",
    "params.p = $$x$$", "params.p = E'\\x41'", "params.p = 'v'::text", "params.p = 'v')",
    "metrics.`a" + "`" * 1000, "tags.t = '" + "\\" * 1001 + "'", "\ud800",
    "name = 'x' OR 1=1", "tags.t = 'x'", "creation_time > 1e400", "name LIKE '%'",
    "attribute.name = 'x'", "experiment_id = 1", "name = 'a" + "\u00e9" * 3000 + "'",
    "a" + "\u00e9" * 3000,
]
ORDER_BYS = [
    "", " ", "DESC", "metrics.", "metrics.m DESCC", "metrics.m ASC DESC",
    "start_time; DROP TABLE runs", "`", "metrics.`m", "params.p, params.q", "1", "(SELECT 1)",
    "start_time\u0000", "x" * LONG, "metrics.\U0001F600 DESC", "random()", 'run_id COLLATE "C"',
    "attributes.bogus", "name ASC", "name", "experiment_id DESC", "creation_time", "metrics.m NULLS FIRST",
    "tags.`a'b` DESC", "params.\"p\"\"\" ASC", "\ud800", "a" + "\u00e9" * 3000,
]
ORDER_LISTS = [["start_time", "start_time"], ["name", "name"], ["metrics.m"] * 1000, [None], [{}],
               [["name"]], [1], [True], ["name", 5], []]


def tokens():
    rnd = random.Random(42)
    out = [base64.b64encode(bytes(rnd.randrange(256) for _ in range(n))).decode()
           for n in (3, 16, 48, 120)]
    for raw in (b"not json", b'{"offset": -1}', b'{"offset": "x"}', b'{"offset": 1e400}',
                b'{"offset": 99999999999999999999}', b'{"offset": 9223372036854775807}',
                b'{"offset": 1.5}', b'{"offset": null}', b"[]", b"{}", b'"x"',
b'{"offset": [1]}', b'{"offset": {"a": 1}}',
                b'{"offset": true}', b'{"offset": 1, "offset": -1}', b'{"offset": -0}',
                b'{"offset": 0}' + b" " * 200, b"\xff\xfe"):
        out.append(base64.b64encode(raw).decode())
    out += ["====", "=", "a", "abc", "ab=c", "-_-_", "eyJvZmZzZXQiOiAxfQ", "eyJvZmZzZXQiOiAxfQ==\n",
            " eyJvZmZzZXQiOiAxfQ==", "A" * 10000, "\u00e9\u00e9\u00e9\u00e9", "\u0000AAA",
            "eyJvZmZzZXQiOiAxfQ==" * 2, page_token(2 ** 62)]
    return out


class TestSearch(HostileCase):
    def search_cases(self, r, field, values):
        cases = []
        for v in values:
            req = r.base()
            req[field] = v
            if r.method == "GET":
                exp = REJECT if r.refused(decode_query(to_query(req))) else ANY
            else:
                exp = REJECT if (jansson_rejects(v) or r.refused(req)) else ANY
            cases.append(("%s=%s" % (field, short(v, 40)), req, exp))
        return cases

    def test_filters(self):
        for method, path in (("POST", "runs/search"), ("POST", "experiments/search"),
                             ("GET", "experiments/search")):
            r = route(method, path)
            self.run_cases(r, self.search_cases(r, "filter", FILTERS))
        self.finish()
        # The tables are all still there.
        self.assertOk(get("runs/get", run_id=F.run))
        self.assertOk(get("experiments/get", experiment_id=F.exp))

    def test_order_by(self):
        for method, path in (("POST", "runs/search"), ("POST", "experiments/search"),
                             ("GET", "experiments/search")):
            r = route(method, path)
            self.run_cases(r, self.search_cases(r, "order_by", ORDER_BYS + ORDER_LISTS +
                                                [[x] for x in ORDER_BYS[:10]]))
        self.finish()

    def test_page_tokens(self):
        for method, path in (("POST", "runs/search"), ("POST", "experiments/search"),
                             ("GET", "experiments/search")):
            r = route(method, path)
            self.run_cases(r, self.search_cases(r, "page_token", tokens()))
        self.finish()

    def test_max_results_edges(self):
        for method, path in (("POST", "runs/search"), ("POST", "experiments/search")):
            r = route(method, path)
            vals = [0, -1, 50000, 50001, I64_MAX, I64_MIN, 2 ** 31, -2 ** 31, "50000", 1.0]
            self.run_cases(r, self.search_cases(r, "max_results", vals))
        self.finish()

# ---- extreme but valid data stays readable ----


class TestExtremeValues(HostileCase):
    """Points at the edges of int64 and double are accepted, and every read
    endpoint still answers 200 for them."""

    def test_extreme_points_are_readable(self):
        exp = new_experiment(uniq("hx-extreme"))
        run = new_run(exp)
        steps = [I64_MIN, -1, 0, 1, 2 ** 53 + 1, I64_MAX - 1, I64_MAX]
        values = [1.7976931348623157e308, -1.7976931348623157e308, 5e-324, -0.0, "NaN",
                  "Infinity", "-Infinity", 0.1]
        metrics, i = [], 0
        for s in steps:
            for v in values:
                metrics.append({"key": "ex", "value": v, "timestamp": [0, I64_MAX, 2 ** 53 + 1][i % 3],
                                "step": s})
                i += 1
        self.assertEmptyOk(post("runs/log-batch", {"run_id": run, "metrics": metrics}))
        reads = [
            ("runs/get", lambda: get("runs/get", run_id=run)),
            ("get-history", lambda: get("metrics/get-history", run_id=run, metric_key="ex")),
            ("bulk-interval", lambda: get("metrics/get-history-bulk-interval", run_ids=run,
                                          metric_key="ex", max_results=3)),
            ("bulk-interval-full-range", lambda: get(
                "metrics/get-history-bulk-interval", run_ids=run, metric_key="ex",
                start_step=I64_MIN, end_step=I64_MAX, max_results=2500)),
            ("runs/search order", lambda: post("runs/search", {
                "experiment_ids": [exp], "order_by": ["metrics.ex DESC"]})),
            ("runs/search filter", lambda: post("runs/search", {
                "experiment_ids": [exp], "filter": "metrics.ex >= -1e308"})),
        ]
        for mp in (1, 2, 3, 10, 10000):
            reads.append(("sampled max_points=%d" % mp, lambda mp=mp: mtapi.mt_get(
                "metrics/get-history-sampled", run_id=run, metric_key="ex", max_points=mp)))
        for label, fn in reads:
            Sent.count += 1
            r = fn()
            if r.status != 200:
                self.problems.append("%s of valid extreme points (run %s) -> %d %s"
                                     % (label, run, r.status, short(r.body)))
        self.finish()


# ---- deep nesting (last: a crash here takes the server down) ----


def deep_cases(route, depths=(100, 1000, 2048, 2049, 10000)):
    """jansson refuses more than 2048 levels; up to that the body parses and
    the route decides (an unknown field is ignored)."""
    text = encode_body(route.base()).decode()
    first = next(iter(route.fields))
    out = []
    for d in depths:
        parses = d < 2048  # the unknown-field case adds one level
        for label, body, exp in (
                ("array", "[" * d + "]" * d, REJECT),
                ("object", '{"a":' * d + "1" + "}" * d,
                 REJECT if not parses or route.refused({}) else ANY),
                ("in-field", text[:-1] + ', "%s": ' % first + "[" * d + "]" * d + "}", REJECT),
                ("unknown-field", '{"zz": ' + "[" * d + "]" * d + ", " + text[1:],
                 REJECT if not parses else ANY),
                ("unclosed", "[" * d, REJECT)):
            if not (route.destructive and exp == ANY):
                out.append(("deep-%s-%d" % (label, d), ("raw-body", body.encode()), exp))
    return out


class TestZzDeepNesting(HostileCase):
    """JSON nested 100 to 10,000 levels deep, in every POST route: a 400,
    and the server lives.  Named to run last in this module, since a
    crash here (a parser recursing on a small worker stack) takes the
    server down for everything after it."""

    def test_deep_nesting(self):
        for r in all_routes():
            if r.method == "POST":
                self.run_cases(r, deep_cases(r))
        self.finish()


if __name__ == "__main__":
    unittest.main()
