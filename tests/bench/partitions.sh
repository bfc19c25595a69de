#!/bin/sh
# tests/bench/partitions.sh BUILD_DIR [N...]: what the number of metrics
# partitions (experiments, migration 0013) costs.  For each N (default
# "1 4000"), on a fresh cluster: mltrackd from BUILD_DIR, N experiments
# inserted by SQL, then one run's serial requests: 30 log-batch of 1,000
# points, 50 get-history pages of 1,000, 20 get-history-sampled each right
# after a 1-point write (medians); then, with pgbench on the same database,
# a history page by a named prepared statement (generic after five runs)
# against the same planned with its values (-M simple).  A BUILD_DIR of an
# unpartitioned mltrackd runs the requests only.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$1" && pwd)
shift
. "$ROOT/tests/lib.sh"
W=$(mktemp -d /tmp/mltrack-parts.XXXXXX)
chmod 755 "$W"
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; pg_down; rm -rf "$W"' EXIT
for ne in ${*:-1 4000}; do
	pg_start "$W/pg$ne" >/dev/null
	psql_q "CREATE DATABASE p" >/dev/null
	conn=$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=p/")
	port=$(free_port)
	"$BUILD/mltrackd" --database-url "$conn" --port "$port" --data-dir "$W/d$ne" >"$W/log$ne" 2>&1 &
	pid=$!
	wait_http "http://127.0.0.1:$port/readyz" 60
	"$PG_BINDIR/psql" -X -q -d "$conn" -c "INSERT INTO experiments (experiment_id, name,
		artifact_location, creation_time, last_update_time) SELECT e, 'e' || e, 'x', 0, 0
		FROM generate_series(1000, 999 + $ne) e; ANALYZE" >/dev/null
	exp=$((1000 + ne / 2))
	printf '%s experiments: ' "$ne"
	run=$(python3 - "$port" "$exp" <<'PY'
import http.client, json, sys, time
port, exp = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port)
def call(m, p, b=None):
    c.request(m, p, json.dumps(b) if b else None,
              {"Content-Type": "application/json", "Host": "127.0.0.1"})
    r = c.getresponse(); d = r.read()
    assert r.status == 200, (r.status, d)
    return json.loads(d or b"{}")
run = call("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
tb, th, ts = [], [], []
for k in range(30):
    pts = [{"key": "m%d" % (i % 10), "value": i + 0.25, "timestamp": 1, "step": k * 100 + i // 10}
           for i in range(1000)]
    t0 = time.perf_counter()
    call("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": run, "metrics": pts})
    tb.append(time.perf_counter() - t0)
for k in range(50):
    t0 = time.perf_counter()
    r = call("GET", "/api/2.0/mlflow/metrics/get-history?run_id=%s&metric_key=m3&max_results=1000" % run)
    th.append(time.perf_counter() - t0)
    assert len(r["metrics"]) == 1000
for k in range(20):
    call("POST", "/api/2.0/mlflow/runs/log-batch",
         {"run_id": run, "metrics": [{"key": "m3", "value": 1, "timestamp": 2, "step": 5000 + k}]})
    t0 = time.perf_counter()
    call("GET", "/api/2.0/mltrack/metrics/get-history-sampled?run_id=%s&metric_key=m3&max_points=100" % run)
    ts.append(time.perf_counter() - t0)
med = lambda v: sorted(v)[len(v) // 2] * 1000
print("log-batch of 1000 points %.2f ms, get-history page of 1000 %.2f ms, sampled after a write "
      "%.2f ms (medians)" % (med(tb), med(th), med(ts)), file=sys.stderr)
print(run)
PY
)
	if [ "$(PGCONN=$conn psql_q "SELECT to_regclass('metrics_e$exp') IS NOT NULL")" = t ]; then
		cat >"$W/h.sql" <<SQL
\\set e $exp
SELECT step, timestamp, value FROM metrics WHERE experiment_id = :e AND run_id = '$run'
AND key = 'm3' ORDER BY step, timestamp, value LIMIT 100;
SQL
		for m in prepared simple; do
			lat=$("$PG_BINDIR/pgbench" -n -M $m -c 1 -T 5 -f "$W/h.sql" "$conn" 2>&1 |
				awk '/latency average/ {print $4}')
			echo "  a history page of 100 by pgbench -M $m: $lat ms on average"
		done
	fi
	kill "$pid"
	wait_gone "$pid" 20 || true
	pid=""
	pg_down
done
