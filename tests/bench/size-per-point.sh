#!/bin/sh
# tests/bench/size-per-point.sh BUILD_DIR: disk per metric point, and what a
# logical backup of them costs (docs/operations.md, "Sizing").
#
# Starts its own PostgreSQL and mltrackd and logs SIZE_RUNS runs x SIZE_KEYS
# keys x SIZE_STEPS steps (default 100 x 10 x 1000 = 1,000,000 points)
# through runs/log-batch, the write path clients use: 1,000 points per
# request, each request 100 steps of one run's 10 keys (as a client flushing
# a step's metrics together does), values random doubles, timestamps in
# milliseconds, keys like "train/loss_3" (SIZE_KEY_PREFIX="train/loss_").
# Then one get-history-sampled read per series (max_points=100), so that
# metric_rollup is built as a dashboard builds it.  Prints, as JSON: the WAL
# the load wrote (pg_current_wal_lsn before and after; with PG_DURABLE=1
# PostgreSQL's full_page_writes stays on, as in production); the time of the
# load; pg_relation_size / pg_indexes_size / pg_total_relation_size of
# metrics, latest_metrics, metric_rollup and metric_samples before and after
# VACUUM, and the whole database's size; the size and time of pg_dump -Fc
# and of pg_restore (into an empty database of the same cluster, index
# builds included); and the same sizes in the restored database (indexes
# built in one pass, so packed tighter than the ones inserts grew).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$1" && pwd)
. "$ROOT/tests/lib.sh"
RUNS=${SIZE_RUNS:-100}
KEYS=${SIZE_KEYS:-10}
STEPS=${SIZE_STEPS:-1000}
PREFIX=${SIZE_KEY_PREFIX:-train/loss_}

WORK=$(mktemp -d /tmp/mltrack-size.XXXXXX)
chmod 755 "$WORK"
SERVER_PID=""
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait_gone "$SERVER_PID" 20 || true
	pg_down
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

pg_start "$WORK/pg"
psql_q "CREATE DATABASE size" >/dev/null
conn=$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=size/")
PORT=$(free_port)
"$BUILD/mltrackd" --database-url "$conn" --port "$PORT" --data-dir "$WORK/data" \
	>"$WORK/mltrackd.log" 2>&1 &
SERVER_PID=$!
wait_http "http://127.0.0.1:$PORT/readyz" 60 || { cat "$WORK/mltrackd.log"; exit 1; }

lsn0=$(PGCONN=$conn psql_q "SELECT pg_current_wal_lsn()")
python3 - "http://127.0.0.1:$PORT" "$RUNS" "$KEYS" "$STEPS" "$WORK" "$PREFIX" <<'EOF'
import http.client, json, random, sys, time, urllib.parse
base, runs, keys, steps, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
prefix = sys.argv[6]
u = urllib.parse.urlsplit(base)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
def call(method, path, body=None):
    c.request(method, path, body=body and json.dumps(body),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    text = r.read()
    if r.status != 200:
        sys.exit("%s %s: %d %s" % (method, path, r.status, text[:200]))
    return json.loads(text)
exp = call("POST", "/api/2.0/mlflow/experiments/create", {"name": "size"})["experiment_id"]
rids = [call("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
        for _ in range(runs)]
names = ["%s%d" % (prefix, k) for k in range(keys)]
per = max(1, 1000 // keys)
rnd = random.Random(1)
t0 = time.time()
for rid in rids:
    for s0 in range(0, steps, per):
        ms = [{"key": k, "value": rnd.random(), "timestamp": 1700000000000 + 1000 * s, "step": s}
              for s in range(s0, min(steps, s0 + per)) for k in names]
        call("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": rid, "metrics": ms})
load = time.time() - t0
json.dump({"points": runs * keys * steps, "load_s": round(load, 1),
           "points_per_s_one_client": round(runs * keys * steps / load)}, open(work + "/load.json", "w"))
open(work + "/series", "w").write("".join("%s %s\n" % (r, k) for r in rids for k in names))
EOF
wal=$(PGCONN=$conn psql_q "SELECT pg_current_wal_lsn() - '$lsn0'")
python3 - "http://127.0.0.1:$PORT" "$WORK/series" <<'EOF'
import http.client, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
for line in open(sys.argv[2]):
    rid, key = line.split()
    c.request("GET", "/api/2.0/mltrack/metrics/get-history-sampled?" +
              urllib.parse.urlencode({"run_id": rid, "metric_key": key, "max_points": 100}))
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("get-history-sampled: %d" % r.status)
EOF

sizes() { # sizes CONNINFO
	PGCONN=$1 psql_q "SELECT json_build_object('database', pg_database_size(current_database()),
		'tables', (SELECT json_object_agg(t, json_build_object(
		'rows', (SELECT reltuples::bigint FROM pg_class WHERE oid = t::regclass),
		'heap', pg_relation_size(t), 'indexes', pg_indexes_size(t),
		'total', pg_total_relation_size(t)))
		FROM unnest(ARRAY['metrics', 'latest_metrics', 'metric_rollup', 'metric_samples']) t))"
}
PGCONN=$conn psql_q "ANALYZE" >/dev/null
before=$(sizes "$conn")
PGCONN=$conn psql_q "VACUUM (ANALYZE)" >/dev/null
after=$(sizes "$conn")
t0=$(date +%s.%N)
"$PG_BINDIR/pg_dump" -Fc -d "$conn" -f "$WORK/size.dump"
dump_s=$(awk "BEGIN {print $(date +%s.%N) - $t0}")
psql_q "CREATE DATABASE size_restored TEMPLATE template0" >/dev/null
t0=$(date +%s.%N)
"$PG_BINDIR/pg_restore" --exit-on-error --no-owner -d "$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=size_restored/")" "$WORK/size.dump"
restore_s=$(awk "BEGIN {print $(date +%s.%N) - $t0}")
restored=$(sizes "$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=size_restored/")")
python3 - "$(cat "$WORK/load.json")" "$before" "$after" "$(stat -c %s "$WORK/size.dump")" "$dump_s" "$restore_s" "$restored" "$wal" <<'EOF'
import json, sys
load, before, after = (json.loads(a) for a in sys.argv[1:4])
dump, dump_s, restore_s, restored = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), json.loads(sys.argv[7])
n = load["points"]
out = dict(load)
out["wal_bytes_per_point_load"] = round(int(sys.argv[8]) / n, 1)
for name, s in (("before_vacuum", before), ("after_vacuum", after), ("restored", restored)):
    out[name] = {k: dict(v, total_bytes_per_point=round(v["total"] / n, 1)) for k, v in s["tables"].items()}
    out[name]["database_bytes_per_point"] = round(s["database"] / n, 1)
out["pg_dump_Fc"] = {"bytes": dump, "bytes_per_point": round(dump / n, 1), "seconds": round(dump_s, 2)}
out["pg_restore"] = {"seconds": round(restore_s, 2)}
print(json.dumps(out, indent=1))
EOF
