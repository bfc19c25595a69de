#!/bin/sh
# tests/bench/history-memory.sh BUILD_DIR: mltrackd's memory under
# metrics/get-history of a long metric (docs/PERFORMANCE.md, issue 11).
# Starts its own PostgreSQL and mltrackd, puts a HISTORY_POINTS-point metric
# (default 300,000) into one run with SQL, then HISTORY_CLIENTS clients
# (default 8) at once each read the whole history, following
# next_page_token as MLflow's client does (max_results=25000), ROUNDS times
# (default 3).  VmRSS of mltrackd is sampled every 20 ms.  Prints one JSON
# line: RSS before, peak, and 2 s after the reads, in MB, the points each
# client got, and the wall time of a round.  Works against builds from
# before paging too (they answer the whole history in one page).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$1" && pwd)
. "$ROOT/tests/lib.sh"
POINTS=${HISTORY_POINTS:-300000}
CLIENTS=${HISTORY_CLIENTS:-8}
ROUNDS=${ROUNDS:-3}

WORK=$(mktemp -d /tmp/mltrack-histmem.XXXXXX)
chmod 755 "$WORK"
SERVER_PID=""
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait_gone "$SERVER_PID" 20 || true
	pg_down
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

pg_start "$WORK/pg"
PORT=$(free_port)
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$PORT" --data-dir "$WORK/data" \
	>"$WORK/mltrackd.log" 2>&1 &
SERVER_PID=$!
wait_http "http://127.0.0.1:$PORT/readyz" 60 || { cat "$WORK/mltrackd.log"; exit 1; }
BASE="http://127.0.0.1:$PORT"
RID=$(curl -sf -H 'Content-Type: application/json' -d '{"experiment_id":"0"}' \
	"$BASE/api/2.0/mlflow/runs/create" | python3 -c 'import json,sys; print(json.load(sys.stdin)["run"]["info"]["run_id"])')
psql_q "INSERT INTO metrics (run_id, key, step, timestamp, value, experiment_id)
	SELECT '$RID', 'loss', g, 1700000000000 + g, 1.0 / (g + 1), 0 FROM generate_series(0, $POINTS - 1) g;
	ANALYZE metrics"

python3 - "$BASE" "$RID" "$SERVER_PID" "$CLIENTS" "$ROUNDS" <<'EOF'
import http.client, json, sys, threading, time, urllib.parse
base, rid, pid, clients, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
u = urllib.parse.urlsplit(base)

def rss():
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0

def read_all(out, i):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    n, q = 0, ""
    while True:
        c.request("GET", "/api/2.0/mlflow/metrics/get-history?run_id=%s&metric_key=loss"
                  "&max_results=25000%s" % (rid, q))
        r = c.getresponse()
        b = json.loads(r.read())
        n += len(b.get("metrics", []))
        if not b.get("next_page_token"):
            break
        q = "&page_token=" + urllib.parse.quote(b["next_page_token"])
    c.close()
    out[i] = n

peak, stop = [0.0], [False]
def sample():
    while not stop[0]:
        peak[0] = max(peak[0], rss())
        time.sleep(0.02)

before = rss()
t = threading.Thread(target=sample)
t.start()
walls, got = [], []
for _ in range(rounds):
    out = [0] * clients
    t0 = time.time()
    ths = [threading.Thread(target=read_all, args=(out, i)) for i in range(clients)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    walls.append(time.time() - t0)
    got = out
time.sleep(2)
stop[0] = True
t.join()
print(json.dumps({"points": got, "clients": clients, "rounds": rounds,
                  "rss_before_mb": round(before, 1), "rss_peak_mb": round(peak[0], 1),
                  "rss_after_mb": round(rss(), 1),
                  "round_s": [round(w, 2) for w in walls]}))
EOF
