#!/bin/sh
# metrics partitioned by experiment (migration 0013): an experiment gets its
# partition when it is created; points logged every way (log-batch's plain
# insert of a big batch and INSERT ... ON CONFLICT, log-metric) land in it; every read of points the
# server makes (history, sampled with its rollup rebuild, bulk) touches that
# one partition, as auto_explain logs the plans the server's own statements
# ran; a deleted run still takes its points; gc --purge-deleted-experiments
# (--dry-run and --older-than first) removes a deleted experiment for good
# with its partition dropped (pg_class no longer has it) and leaves other
# experiments' points as they were, and drops a partition an interrupted
# purge left behind.
set -eu
. "$ROOT/tests/lib.sh"
db="part_$$"
psql_q "CREATE DATABASE $db" >/dev/null
conn=$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=$db/")
sql() { PGCONN="$conn" psql_q "$1"; }
# Every plan the server's sessions run, in the cluster's log.
sql "ALTER DATABASE $db SET session_preload_libraries = 'auto_explain'" >/dev/null
sql "ALTER DATABASE $db SET auto_explain.log_min_duration = 0" >/dev/null
port=$(free_port)
BASE="http://127.0.0.1:$port"
dir="$WORK/d23"
log="$WORK/part-server.log"
"$BUILD/mltrackd" --database-url "$conn" --port "$port" --data-dir "$dir" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
wait_http "$BASE/readyz" 60 || fail "server did not start: $(tail -n 5 "$log")"

ok() { [ "$HTTP_STATUS" = 200 ] || fail "$1: HTTP $HTTP_STATUS $BODY"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
new_exp() {
	api POST /api/2.0/mlflow/experiments/create "{\"name\":\"$1\"}"
	ok "experiments/create $1"
	echo "$BODY" | json_get experiment_id
}
new_run() {
	api POST /api/2.0/mlflow/runs/create "{\"experiment_id\":\"$1\"}"
	ok "runs/create in $1"
	echo "$BODY" | json_get run info run_id
}
# batch RUN KEY FIRST N: N points of KEY at steps FIRST.. in one log-batch
batch() {
	body=$(python3 -c 'import json, sys
r, k, a, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
print(json.dumps({"run_id": r, "metrics": [{"key": k, "value": (s * 37 % 101) / 7.0,
      "timestamp": 1700000000000 + s, "step": s} for s in range(a, a + n)]}))' "$@")
	api POST /api/2.0/mlflow/runs/log-batch "$body"
	ok "log-batch $1 $2 $3 $4"
}
attached() { # attached EXP: 1 when metrics_e<EXP> is a partition of metrics
	sql "SELECT count(*) FROM pg_inherits WHERE inhparent = 'metrics'::regclass
		AND inhrelid = to_regclass('metrics_e$1')"
}

e0=$(sql "SELECT count(*) FROM pg_class WHERE relname = 'metrics_e0'")
[ "$e0" = 1 ] || fail "the Default experiment has no partition"
ea=$(new_exp part-a)
eb=$(new_exp part-b)
[ "$(attached "$ea")" = 1 ] || fail "experiment $ea has no partition"
[ "$(attached "$eb")" = 1 ] || fail "experiment $eb has no partition"
ra=$(new_run "$ea")
ra2=$(new_run "$ea")
rb=$(new_run "$eb")
rb2=$(new_run "$eb")

batch "$ra" loss 0 500    # a big batch: INSERT without ON CONFLICT
batch "$ra" loss 500 5    # INSERT ... ON CONFLICT
batch "$ra" loss 0 500    # a replay: the plain insert fails, ON CONFLICT writes nothing new
api POST /api/2.0/mlflow/runs/log-metric \
	"{\"run_id\":\"$ra\",\"key\":\"loss\",\"value\":0.5,\"timestamp\":1,\"step\":1000}"
ok "log-metric"
batch "$ra2" acc 0 40
batch "$rb" loss 0 300
batch "$rb2" loss 0 50

n=$(sql "SELECT count(*) FROM metrics_e$ea WHERE run_id = '$ra'")
[ "$n" = 506 ] || fail "run $ra has $n points in metrics_e$ea, want 506"
n=$(sql "SELECT count(*) FROM metrics WHERE experiment_id <> $ea AND run_id IN ('$ra', '$ra2')")
[ "$n" = 0 ] || fail "$n points of experiment $ea's runs outside its partition"
n=$(sql "SELECT count(*) FROM metrics_e$eb")
[ "$n" = 350 ] || fail "metrics_e$eb holds $n points, want 350"

# The reads, with the plans they ran logged from here on.
from=$(($(wc -c <"$PGDIR/server.log") + 1))
api GET "/api/2.0/mlflow/metrics/get-history?run_id=$ra&metric_key=loss&max_results=100"
ok "get-history"
token=$(echo "$BODY" | json_get next_page_token)
api GET "/api/2.0/mlflow/metrics/get-history?run_id=$ra&metric_key=loss&max_results=100&page_token=$token"
ok "get-history, second page"
# More than five times: a named prepared statement would then run a
# generic plan over every partition (pruned only when it starts, "Subplans
# Removed"); the reads are planned with their values each time instead.
for i in 1 2 3 4 5 6 7; do
	api GET "/api/2.0/mlflow/metrics/get-history?run_id=$rb&metric_key=loss&max_results=10"
	ok "get-history $i"
done
api GET "/api/2.0/mltrack/metrics/get-history-sampled?run_id=$ra&metric_key=loss&max_points=20"
ok "get-history-sampled"
n=$(echo "$BODY" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["metrics"]))')
[ "$n" -ge 10 ] && [ "$n" -le 20 ] || fail "get-history-sampled returned $n points"
api GET "/api/2.0/mltrack/metrics/get-history-sampled?run_id=$rb&metric_key=loss&max_points=1000"
ok "get-history-sampled, every point"
api GET "/api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids=$ra&run_ids=$ra2&metric_key=loss&max_results=50"
ok "get-history-bulk-interval"
sleep 0.5
tail -c "+$from" "$PGDIR/server.log" >"$WORK/plans.log"
python3 - "$WORK/plans.log" "$ea" "$eb" <<'PY' || fail "a read of metrics touched more than its partition (plans in $WORK/plans.log)"
import re, sys
text = open(sys.argv[1]).read()
want = {"metrics_e" + sys.argv[2], "metrics_e" + sys.argv[3]}
plans = re.split(r"\n\S[^\n]*LOG:\s+duration: [0-9.]+ ms\s+plan:\n", "\n" + text)
reads = 0
for p in plans:
    q = re.search(r"Query Text: (.*)", p)
    if not q or not re.search(r"\b(FROM|JOIN) metrics\b", p) or "INSERT" in q.group(1):
        continue
    reads += 1
    parts = set(re.findall(r"\bmetrics_e\d+\b", p))
    if len(parts) != 1 or not parts <= want or "Subplans Removed" in p:
        print("touches %s:\n%s" % (sorted(parts), p))
        sys.exit(1)
# history twice, the sampled range and its COPY (twice), the rollup
# rebuild's pages, the bulk read
if reads < 6:
    print("only %d plans of reads of metrics logged" % reads)
    sys.exit(1)
print("%d reads of metrics, each one partition" % reads)
PY

# A history page is read by the primary key in its order whatever the
# statistics say: here ANALYZE has seen 300,000 points of 30 other runs and
# 10 keys, so it takes run and key as independent and expects under 3,000
# rows for a 30,000-point series; left to choose, PostgreSQL then reads
# the whole series with a bitmap scan and sorts it (server/sql_metrics.c,
# HISTORY_SETTINGS).
ef=$(new_exp part-f)
rf=$(new_run "$ef")
sql "INSERT INTO metrics (run_id, key, step, timestamp, value, experiment_id)
	SELECT 'other' || (i % 30), 'k' || (i / 30 % 10), i, i, 0.5, $ef
	FROM generate_series(1, 300000) i" >/dev/null
sql "INSERT INTO metrics (run_id, key, step, timestamp, value, experiment_id)
	SELECT '$rf', 'loss', i, i, i * 0.25, $ef FROM generate_series(1, 30000) i" >/dev/null
sql "ANALYZE metrics_e$ef" >/dev/null
from=$(($(wc -c <"$PGDIR/server.log") + 1))
api GET "/api/2.0/mlflow/metrics/get-history?run_id=$rf&metric_key=loss"
ok "get-history of a series the statistics underestimate"
n=$(echo "$BODY" | python3 -c 'import json, sys; b = json.load(sys.stdin); print(len(b["metrics"]), "next_page_token" in b)')
[ "$n" = "25000 True" ] || fail "get-history's first page: $n (points, more)"
sleep 0.5
tail -c "+$from" "$PGDIR/server.log" >"$WORK/plans-f.log"
python3 - "$WORK/plans-f.log" "$ef" <<'PY' || fail "a history page was not an ordered index scan (plans in $WORK/plans-f.log)"
import re, sys
text = open(sys.argv[1]).read()
plans = re.split(r"\n\S[^\n]*LOG:\s+duration: [0-9.]+ ms\s+plan:\n", "\n" + text)
pages = [p for p in plans if re.search(r"Query Text: SELECT key, value, timestamp, step", p)]
if len(pages) != 1:
    print("%d plans of history pages logged, want 1" % len(pages))
    sys.exit(1)
p = pages[0]
if not re.search(r"Index Scan using metrics_e%s_pkey" % sys.argv[2], p) or "Sort" in p or "Bitmap" in p:
    print(p)
    sys.exit(1)
PY
sql "TRUNCATE metrics_e$ef" >/dev/null # the counts below are of the other experiments

# An experiment is created while a transaction that wrote points is still
# open: its partition is attached (SHARE UPDATE EXCLUSIVE on metrics)
# without waiting for that transaction (PARTITION OF would: ACCESS EXCLUSIVE).
"$PG_BINDIR/psql" -X -q -d "$conn" -c "BEGIN; INSERT INTO metrics (run_id, key, step,
	timestamp, value, experiment_id) VALUES ('$rb', 'held', 0, 0, 0, $eb);
	SELECT pg_sleep(5); ROLLBACK" >/dev/null &
hold=$!
sleep 1
a=$(now_ms)
ed=$(new_exp part-d)
b=$(now_ms)
kill -0 "$hold" 2>/dev/null || fail "the open transaction ended before the test"
[ $((b - a)) -lt 2500 ] || fail "experiments/create took $((b - a)) ms beside an open write"
[ "$(attached "$ed")" = 1 ] || fail "experiment $ed has no partition"
wait "$hold"

# A run deleted (no API deletes runs for good: SQL) still takes its points.
sql "DELETE FROM runs WHERE run_id = '$rb2'" >/dev/null
n=$(sql "SELECT count(*) FROM metrics_e$eb")
[ "$n" = 300 ] || fail "after deleting run $rb2, metrics_e$eb holds $n points, want 300"

gc() {
	"$BUILD/mltrackd" gc --database-url "$conn" --data-dir "$dir" "$@" 2>>"$WORK/gc.log" ||
		fail "gc $*: exit $?: $(tail -n 3 "$WORK/gc.log")"
}
api POST /api/2.0/mlflow/experiments/delete "{\"experiment_id\":\"$ea\"}"
ok "experiments/delete"
out=$(gc --purge-deleted-experiments --dry-run)
case "$out" in *"would purge 1 deleted experiment and 1 metrics partition"*) ;;
*) fail "gc --dry-run said: $out" ;; esac
out=$(gc --purge-deleted-experiments --older-than 3600)
case "$out" in *"purged 0 deleted experiments"*) ;; *) fail "gc --older-than 3600 said: $out" ;; esac
[ "$(attached "$ea")" = 1 ] || fail "a dry run or a too recent deletion dropped the partition"
# A partition a purge left behind: its experiment gone, the table still there.
ec=$(new_exp part-c)
sql "DELETE FROM experiments WHERE experiment_id = $ec" >/dev/null
out=$(gc --purge-deleted-experiments)
case "$out" in *"purged 1 deleted experiment and 2 metrics partitions"*) ;;
*) fail "gc --purge-deleted-experiments said: $out" ;; esac
n=$(sql "SELECT count(*) FROM pg_class WHERE relname IN ('metrics_e$ea', 'metrics_e$ec')")
[ "$n" = 0 ] || fail "pg_class still has metrics_e$ea or metrics_e$ec"
n=$(sql "SELECT (SELECT count(*) FROM experiments WHERE experiment_id = $ea)
	+ (SELECT count(*) FROM runs WHERE experiment_id = $ea)
	+ (SELECT count(*) FROM latest_metrics WHERE experiment_id = $ea)")
[ "$n" = 0 ] || fail "experiment $ea left $n rows behind"
n=$(sql "SELECT count(*) FROM metrics")
[ "$n" = 300 ] || fail "metrics holds $n points after the purge, want experiment $eb's 300"
api GET "/api/2.0/mlflow/metrics/get-history?run_id=$rb&metric_key=loss"
ok "get-history of the other experiment"
n=$(echo "$BODY" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["metrics"]))')
[ "$n" = 300 ] || fail "experiment $eb's run reads $n points after the purge, want 300"
api GET "/api/2.0/mlflow/experiments/get?experiment_id=$ea"
[ "$HTTP_STATUS" = 404 ] || fail "the purged experiment answers $HTTP_STATUS"
batch "$rb" loss 300 40
[ "$(sql "SELECT count(*) FROM metrics_e$eb")" = 340 ] || fail "writes after the purge"
kill "$pid"
wait_gone "$pid" 20 || true
psql_q "DROP DATABASE $db" >/dev/null
echo "metrics partitions: one per experiment, reads pruned to it, purge drops it"
