#!/bin/sh
# tests/bench/search-bounds.sh BUILD_DIR: what the largest runs/search the
# limits allow costs (docs/PERFORMANCE.md "Search bounds", issue 11).
# Starts its own PostgreSQL and mltrackd and puts SEARCH_RUNS runs (default
# 20,000) into one experiment with SQL, each with 50 params, 20 metrics and
# 5 tags, so that every clause below joins rows that exist.  Then times, 3
# times each (median in seconds, one JSON line per shape):
#   worst   50 LIKE clauses on 50 different params + 20 order_by keys
#           (10 metrics, 10 params): the most joins the limits allow
#   half    25 LIKE clauses on 25 params + 10 order_by keys
#   samekey 50 LIKE clauses on one param + 20 order_by keys
#   typical 5 clauses + 1 order_by key
#   issue   100 LIKE clauses + 100 order_by keys (the issue's request)
# Works against older builds too; SEARCH_TIMEOUT (default 300 s) caps each
# request, and PostgreSQL's statement_timeout is set to the same, so a
# runaway query stops with its client.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$1" && pwd)
. "$ROOT/tests/lib.sh"
RUNS=${SEARCH_RUNS:-20000}
TMO=${SEARCH_TIMEOUT:-300}

WORK=$(mktemp -d /tmp/mltrack-searchb.XXXXXX)
chmod 755 "$WORK"
SERVER_PID=""
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait_gone "$SERVER_PID" 20 || true
	pg_down
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

pg_start "$WORK/pg"
psql_q "ALTER DATABASE postgres SET statement_timeout = '${TMO}s'"
PORT=$(free_port)
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$PORT" --data-dir "$WORK/data" \
	>"$WORK/mltrackd.log" 2>&1 &
SERVER_PID=$!
wait_http "http://127.0.0.1:$PORT/readyz" 60 || { cat "$WORK/mltrackd.log"; exit 1; }
BASE="http://127.0.0.1:$PORT"
EXP=$(curl -sf -H 'Content-Type: application/json' -d '{"name":"bench-bounds"}' \
	"$BASE/api/2.0/mlflow/experiments/create" | python3 -c 'import json,sys; print(json.load(sys.stdin)["experiment_id"])')
psql_q "INSERT INTO runs (run_id, experiment_id, name, status, start_time, artifact_uri)
	SELECT md5('b' || i), $EXP, 'run-' || i, 'FINISHED', 1700000000000 + i, 'mlflow-artifacts:/x'
	FROM generate_series(1, $RUNS) i" >/dev/null
psql_q "INSERT INTO params (run_id, key, value, experiment_id, start_time)
	SELECT md5('b' || i), 'p' || k, 'v' || (i % 97), $EXP, 1700000000000 + i
	FROM generate_series(1, $RUNS) i, generate_series(0, 49) k" >/dev/null
psql_q "INSERT INTO latest_metrics (run_id, key, step, timestamp, value, experiment_id, start_time)
	SELECT md5('b' || i), 'm' || k, 100, 1700000000000 + i, random(), $EXP, 1700000000000 + i
	FROM generate_series(1, $RUNS) i, generate_series(0, 19) k" >/dev/null
psql_q "INSERT INTO tags (run_id, key, value, experiment_id, start_time)
	SELECT md5('b' || i), 't' || k, 'tag-' || (i % 13), $EXP, 1700000000000 + i
	FROM generate_series(1, $RUNS) i, generate_series(0, 4) k" >/dev/null
psql_q "VACUUM ANALYZE" >/dev/null

python3 - "$BASE" "$EXP" "$TMO" <<'EOF'
import json, statistics, sys, time, urllib.error, urllib.request
base, exp, tmo = sys.argv[1], sys.argv[2], float(sys.argv[3])

def body(nf, no, same):
    f = " AND ".join("params.p%d LIKE '%%v%%'" % (0 if same else i % 50) for i in range(nf))
    order = ["params.p%d DESC" % (i // 2) if i % 2 else "metrics.m%d ASC" % (i // 2)
             for i in range(no)]
    return {"experiment_ids": [exp], "filter": f, "order_by": order, "max_results": 100}

def once(b):
    req = urllib.request.Request(base + "/api/2.0/mlflow/runs/search", json.dumps(b).encode(),
                                 {"Content-Type": "application/json"})
    t = time.time()
    try:
        with urllib.request.urlopen(req, timeout=tmo) as r:
            status, n = r.status, len(json.load(r).get("runs", []))
    except urllib.error.HTTPError as e:
        status, n = e.code, 0
    except OSError:
        status, n = "timeout", 0
    return time.time() - t, status, n

for name, nf, no, same in (("typical", 5, 1, False), ("samekey", 50, 20, True),
                           ("half", 25, 10, False), ("worst", 50, 20, False),
                           ("issue", 100, 100, False)):
    res = [once(body(nf, no, same)) for _ in range(3)]
    print(json.dumps({"shape": name, "filter_clauses": nf, "order_keys": no,
                      "median_s": round(statistics.median(r[0] for r in res), 3),
                      "all_s": [round(r[0], 3) for r in res], "status": res[0][1],
                      "runs": res[0][2]}), flush=True)
EOF
