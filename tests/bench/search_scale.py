"""The client side of tests/bench/search-scale.sh (see there).

  time SIZE EXP OTHERS N URL [OLD_URL]    every shape, N requests per build
  profile SIZE EXP OTHERS N URL [OLD_URL] N issue searches per build (untimed
                                          beside PostgreSQL's statement log)
  log SIZE LOGFILE OFFSET HTTPFILE        PostgreSQL's durations per statement
  pgalone SIZE EXP PSQL CONNINFO          the same rows in PostgreSQL alone
  table RESULTS                           the Markdown table of the JSON lines
"""

import hashlib
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse

T0 = 1_700_000_000_000
PATH = "/api/2.0/mlflow/runs/search"
ISSUE = "metrics.acc > 0.9 and params.lr = '3'"
MAX_SECONDS = float(os.environ.get("SEARCH_MAX_SECONDS", "60"))


def run_id(exp, i):
    return hashlib.md5(("%s:%d" % (exp, i)).encode()).hexdigest()


def shapes(size, exp, others):
    one = [exp]
    ids = ", ".join("'%s'" % run_id(exp, i * size // 20) for i in range(20))
    return [
        ("issue", one, ISSUE, ["metrics.acc DESC"]),
        ("porder", one, "metrics.acc > 0.5", ["params.batch_size DESC"]),
        ("tag", one, "tags.team = 'nlp'", []),
        ("attr", one, "attributes.status = 'FINISHED' and attributes.start_time > %d"
         % (T0 + size // 2 * 1000), ["attributes.start_time ASC"]),
        ("like", one, "params.optimizer LIKE 'ad%'", ["metrics.loss ASC"]),
        ("in", one, "attributes.run_id IN (%s)" % ids, ["metrics.acc DESC"]),
        ("none", one, "", []),
        ("deep", one, ISSUE, ["metrics.acc DESC"]),
        ("exps5", one + others[:4], ISSUE, ["metrics.acc DESC"]),
        ("exps20", one + others[:19], ISSUE, ["metrics.acc DESC"]),
        # boolean filters (OR, NOT, parentheses; runs/search only)
        ("bool", one, "(metrics.acc > 0.9 OR params.lr = '3') AND NOT tags.team = 'nlp'",
         ["metrics.acc DESC"]),
        ("or", one, "metrics.acc > 0.9 OR params.lr = '3'", []),
        ("orsel", one, "params.lr = '9' OR tags.team = 'none' OR attributes.run_id IN (%s)"
         % ids, ["metrics.acc DESC"]),
        ("not", one, "NOT params.optimizer = 'sgd' AND NOT tags.team = 'rl'", []),
        ("ornone", one, "params.lr = '9' OR NOT tags.`mlflow.user` = 'bench'", []),
        # MLflow's grammar's own worst case beside it: no clause drives, nothing matches
        ("likenone", one, "params.optimizer LIKE 'zz%'", []),
    ]


class Client:
    """One keep-alive connection to a server."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def post(self, body):
        data = json.dumps(body).encode()
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
            try:
                t = time.perf_counter()
                self.conn.request("POST", PATH, data, {"Content-Type": "application/json"})
                r = self.conn.getresponse()
                out = r.read()
                dt = time.perf_counter() - t
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                if r.status != 200:
                    raise SystemExit("search answered %d: %s" % (r.status, out[:300]))
                return dt, out
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError


def body(exps, filt, order, token=None):
    b = {"experiment_ids": exps, "filter": filt, "order_by": order, "max_results": 100}
    if token:
        b["page_token"] = token
    return b


def deep_token(c, b, pages=9):
    tok = None
    for _ in range(pages):
        _, out = c.post(dict(b, page_token=tok) if tok else b)
        tok = json.loads(out).get("next_page_token")
        if not tok:
            return None
    return tok


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def cmd_time(size, exp, others, n, urls, only=None):
    clients = [Client(u) for u in urls]
    names = ["new", "old"][:len(urls)]
    for name, exps, filt, order in shapes(size, exp, others.split()):
        if only and name not in only:
            continue
        la = loadavg()
        bodies = []
        for c in clients:
            b = body(exps, filt, order)
            if name == "deep":
                b["page_token"] = deep_token(c, b)
            bodies.append(b)
        answers = [c.post(b)[1] for c, b in zip(clients, bodies)]  # warm, and compared
        for c, b in zip(clients, bodies):
            for _ in range(4):
                c.post(b)
        times = [[] for _ in clients]
        t_end = time.monotonic() + MAX_SECONDS
        for k in range(n):
            order_ = range(len(clients)) if k % 2 == 0 else reversed(range(len(clients)))
            for j in order_:
                times[j].append(clients[j].post(bodies[j])[0] * 1000)
            if time.monotonic() > t_end and k >= 10:
                break
        parsed = [json.loads(a) for a in answers]
        same = all(p == parsed[0] for p in parsed)
        for j, name_ in enumerate(names):
            print(json.dumps({
                "size": size, "shape": name, "build": name_, "n": len(times[j]),
                "p50_ms": round(statistics.median(times[j]), 2),
                "p95_ms": round(pct(times[j], 95), 2),
                "runs": len(parsed[j].get("runs", [])),
                "same_answer": same, "load": la + loadavg()}), flush=True)


def cmd_profile(size, exp, others, n, urls):
    out = {}
    clients = [Client(u) for u in urls]
    names = ["new", "old"][:len(urls)]
    b = body([exp], ISSUE, ["metrics.acc DESC"])
    times = [[] for _ in clients]
    for k in range(n):
        for j in (range(len(clients)) if k % 2 == 0 else reversed(range(len(clients)))):
            times[j].append(clients[j].post(b)[0] * 1000)
    for j, name in enumerate(names):
        out[name] = {"n": n, "http_p50_ms": round(statistics.median(times[j]), 3)}
    print(json.dumps(out))


def classify(text):
    t = text.strip()
    if t.startswith("BEGIN") or t.startswith("SAVEPOINT"):
        return "begin+settings"
    if t.startswith("COMMIT") or t.startswith("ROLLBACK"):
        return "commit"
    if "FROM latest_metrics WHERE run_id = ANY" in t and "UNION ALL SELECT 1" in t:
        return "fill (run_children)"
    if t.startswith("SELECT (SELECT count(*)"):
        return "plan B counts"
    if "json_agg" in t or "jsonb_agg" in t or "array_agg" in t:
        return "plan + fill"
    if t.startswith("SELECT"):
        return "plan"
    return "other"


def cmd_log(size, path, offset, httpfile):
    http = json.loads(open(httpfile).read())
    with open(path, "rb") as f:
        f.seek(int(offset))
        lines = f.read().decode("utf-8", "replace").split("\n")
    # app|LOG:  duration: 0.123 ms  execute dyn_1: SELECT ...  (parse, bind too)
    rx = re.compile(r"^(\w+)\|LOG:  duration: ([0-9.]+) ms  "
                    r"(?:(parse|bind|execute) ([^:]+)|statement): (.*)$")
    per, execs = {}, {}
    for ln in lines:
        m = rx.match(ln)
        if not m or m.group(1) not in http:
            continue
        app, ms, phase, text = m.group(1), float(m.group(2)), m.group(3) or "simple", m.group(5)
        cls = classify(text)
        per.setdefault(app, {}).setdefault(cls, []).append(ms)
        if phase == "execute":
            execs.setdefault(app, {}).setdefault(cls, []).append(ms)
    for app, classes in per.items():
        n = http[app]["n"]
        ex = execs.get(app, {})
        res = {k: {"per_request_ms": round(sum(v) / n, 3), "statements": round(len(v) / n, 1),
                   "execute_median_ms": round(statistics.median(ex[k]), 3) if ex.get(k) else None}
               for k, v in sorted(classes.items())}
        tot = sum(sum(v) for v in classes.values()) / n
        print(json.dumps({"size": size, "profile": app, "http_p50_ms": http[app]["http_p50_ms"],
                          "postgres_per_request_ms": round(tot, 3), "statements": res}),
              flush=True)


def explain_ms(psql, conninfo, sql, n=21, settings=""):
    script = settings + "".join("EXPLAIN (ANALYZE, TIMING OFF) %s;\n" % sql for _ in range(n))
    out = subprocess.run([psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo],
                         input=script, capture_output=True, text=True, check=True).stdout
    ex = [float(x) for x in re.findall(r"Execution Time: ([0-9.]+) ms", out)]
    return round(statistics.median(ex[1:]), 3)


def cmd_pgalone(size, exp, psql, conninfo):
    walk = ("SELECT run_id FROM latest_metrics WHERE experiment_id = %s AND key = 'acc' "
            "AND value > 0.9 ORDER BY value DESC, start_time DESC NULLS LAST, run_id" % exp)
    search = ("SELECT r.* FROM latest_metrics d JOIN runs r USING (run_id) "
              "WHERE d.experiment_id = %s AND d.key = 'acc' AND d.value > 0.9 AND EXISTS "
              "(SELECT 1 FROM params p WHERE p.run_id = d.run_id AND p.key = 'lr' AND "
              "p.value = '3') ORDER BY d.value DESC, d.start_time DESC NULLS LAST, d.run_id "
              "LIMIT 100" % exp)
    ids = subprocess.run([psql, "-X", "-q", "-A", "-t", "-d", conninfo, "-c",
                          "SELECT array_agg(run_id) FROM (%s) s" % search],
                         capture_output=True, text=True, check=True).stdout.strip()
    fill = ("SELECT run_id, key, value::text FROM latest_metrics WHERE run_id = ANY('%s') "
            "UNION ALL SELECT run_id, key, value FROM params WHERE run_id = ANY('%s') "
            "UNION ALL SELECT run_id, key, value FROM tags WHERE run_id = ANY('%s') "
            "ORDER BY 1, 2" % (ids, ids, ids))
    print(json.dumps({"size": size, "pgalone": {
        "walk 100 of acc > 0.9": explain_ms(psql, conninfo, walk + " LIMIT 100"),
        "walk 500 of acc > 0.9": explain_ms(psql, conninfo, walk + " LIMIT 500"),
        "issue search, PostgreSQL's own plan": explain_ms(psql, conninfo, search),
        "the page's params, tags, metrics, PostgreSQL's own plan": explain_ms(psql, conninfo, fill),
        "the same by index": explain_ms(psql, conninfo, fill, settings=(
            "SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_hashjoin = off; "
            "SET enable_mergejoin = off;\n"))}}), flush=True)


def cmd_table(path):
    rows = [json.loads(x) for x in open(path) if x.startswith("{")]
    t = [r for r in rows if "shape" in r]
    sizes = sorted({r["size"] for r in t})
    builds = [b for b in ("old", "new") if any(r["build"] == b for r in t)]
    print("\n| shape | build | " + " | ".join("%s runs" % f"{s:,}" for s in sizes) + " |")
    print("| --- | --- |" + " --- |" * len(sizes))
    for shape in dict.fromkeys(r["shape"] for r in t):
        for b in builds:
            cells = []
            for s in sizes:
                r = [x for x in t if x["shape"] == shape and x["build"] == b and x["size"] == s]
                cells.append("%.1f (%.1f)%s" % (r[0]["p50_ms"], r[0]["p95_ms"],
                                                "" if r[0]["same_answer"] else " DIFF")
                             if r else "")
            print("| %s | %s | %s |" % (shape, b, " | ".join(cells)))
    print("\np50 (p95) in ms; load averages per row in the JSON lines above.")


def main(a):
    if a[0] == "time":
        only = [x for x in os.environ.get("SEARCH_SHAPES", "").split(",") if x]
        cmd_time(int(a[1]), a[2], a[3], int(a[4]), a[5:], only or None)
    elif a[0] == "profile":
        cmd_profile(int(a[1]), a[2], a[3], int(a[4]), a[5:])
    elif a[0] == "log":
        cmd_log(int(a[1]), a[2], a[3], a[4])
    elif a[0] == "pgalone":
        cmd_pgalone(int(a[1]), a[2], a[3], a[4])
    elif a[0] == "table":
        cmd_table(a[1])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
