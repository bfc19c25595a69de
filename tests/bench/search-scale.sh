#!/bin/sh
# tests/bench/search-scale.sh BUILD_DIR: runs/search at every size from 1,000
# to 1,000,000 runs in one experiment, right after the load, with no ANALYZE
# (nor VACUUM) between load and query (docs/PERFORMANCE.md, issue 14,
# "runs/search").
#
# Starts its own PostgreSQL and mltrackd.  First SEARCH_EXPS other
# experiments (default 40) of SEARCH_EXP_RUNS runs each (default 2,500) are
# loaded, so that the tables hold more than the experiment searched; then
# one experiment grows through SEARCH_SIZES (default 1000 10000 50000 200000
# 1000000 runs) and after each step every shape below is timed over HTTP
# (keep-alive, one client): SEARCH_N requests each (default 200; fewer, but
# at least 11, once a shape has taken SEARCH_MAX_SECONDS, default 60), p50
# and p95 from the request's first byte to the answer's last.
#
# The load is SQL (INSERT ... SELECT generate_series) into the real schema,
# every column filled as mltrackd's writers fill it: runs as runs/create
# then runs/update leave them; params, tags and latest_metrics with the
# run's experiment_id and start_time (search's indexes, migration 0011);
# latest_metrics with version 1 and dirty_lo = dirty_hi = the step, as
# log-metric writes one point; the point itself in metrics too.  Each run
# has params lr (1-5), batch_size (32-256), optimizer (3 values); metrics
# acc (uniform in [0, 1)) and loss; tags mlflow.runName, mlflow.user and
# team (4 values).  Values come from md5 of the run, so every load is the
# same.  Autovacuum is off (SEARCH_AUTOVACUUM=on leaves it on): what a
# search finds right after a sweep has created its runs.
#
# Shapes (experiment E is the one that grows; O1..On the others):
#   issue    metrics.acc > 0.9 and params.lr = '3', order metrics.acc DESC
#   porder   metrics.acc > 0.5, order params.batch_size DESC
#   tag      tags.team = 'nlp', default order (start_time DESC)
#   attr     attributes.status = 'FINISHED' and attributes.start_time > (middle),
#            order attributes.start_time ASC
#   like     params.optimizer LIKE 'ad%', order metrics.loss ASC
#   in       attributes.run_id IN (20 runs of E), order metrics.acc DESC
#   none     no filter, default order (the UI's first page)
#   deep     the issue's search, its 10th page (the 9 before it followed by
#            page_token, untimed)
#   exps5    the issue's search over E and 4 others
#   exps20   the same over E and 19 others (more than plan A merges)
#   bool     (metrics.acc > 0.9 OR params.lr = '3') AND NOT tags.team = 'nlp',
#            order metrics.acc DESC (mltrack's boolean filters)
#   or       metrics.acc > 0.9 OR params.lr = '3', default order
#   orsel    an OR of two clauses matching nothing and a run_id IN of 20 runs
#            (plan B from the UNION of the branches)
#   not      NOT params.optimizer = 'sgd' AND NOT tags.team = 'rl'
#   ornone   params.lr = '9' OR NOT tags.`mlflow.user` = 'bench': matches
#            nothing, and no branch can drive (every run is probed)
#   likenone params.optimizer LIKE 'zz%': the same worst case in MLflow's grammar
# every one with max_results 100.  SEARCH_SHAPES=issue,bool,... times only
# those (a build without boolean filters answers bool..ornone 400).
#
# SEARCH_COMPARE=OLD_BUILD_DIR: a second mltrackd from another build on the
# same database; every request alternates between the two (the order
# flipped each round), and their answers are compared once per shape.
# SEARCH_PROFILE=1: after the timing at each size, 30 more issue searches
# per build with log_min_duration_statement = 0; the median time PostgreSQL
# reports per statement (and per request) is printed beside the HTTP time,
# with PostgreSQL alone (EXPLAIN ANALYZE, in psql) for the bare index walk
# of the issue's first key and for the same search's 100 runs.
# SEARCH_KEEP=1 keeps the work directory (PostgreSQL's log among it).
# Output: one JSON line per size, shape and build, then a Markdown table.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$1" && pwd)
. "$ROOT/tests/lib.sh"
SIZES=${SEARCH_SIZES:-1000 10000 50000 200000 1000000}
N=${SEARCH_N:-200}
NEXP=${SEARCH_EXPS:-40}
EXP_RUNS=${SEARCH_EXP_RUNS:-2500}
OLD=""
[ -n "${SEARCH_COMPARE:-}" ] && OLD=$(cd "$SEARCH_COMPARE" && pwd)
[ "$NEXP" -ge 19 ] || fail "SEARCH_EXPS must be at least 19 (shape exps20)"

WORK=$(mktemp -d /tmp/mltrack-searchs.XXXXXX)
chmod 755 "$WORK"
PIDS=""
cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null && wait_gone "$p" 20 || true
	done
	pg_down
	if [ "${SEARCH_KEEP:-}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

pg_start "$WORK/pg"
psql_q "ALTER SYSTEM SET autovacuum = ${SEARCH_AUTOVACUUM:-off}" >/dev/null
psql_q "ALTER SYSTEM SET log_line_prefix = '%a|'" >/dev/null
psql_q "SELECT pg_reload_conf()" >/dev/null

# start NAME BUILD: an mltrackd whose connections PostgreSQL's log names NAME;
# its URL in URL.  Not in a subshell: cleanup needs its pid in PIDS.
start() {
	port=$(free_port)
	"$2/mltrackd" --database-url "$PGCONN application_name=$1" --port "$port" \
		--data-dir "$WORK/data-$1" >"$WORK/mltrackd-$1.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_http "http://127.0.0.1:$port/readyz" 60 || { cat "$WORK/mltrackd-$1.log"; exit 1; }
	URL="http://127.0.0.1:$port"
}
start new "$BUILD"
NEW_URL=$URL
OLD_URL=""
if [ -n "$OLD" ]; then
	start old "$OLD"
	OLD_URL=$URL
fi
BASE=$NEW_URL

T0=1700000000000
# seed EXP FROM TO: runs FROM..TO-1 of experiment EXP.
seed() {
	e=$1
	loc=$(psql_q "SELECT artifact_location FROM experiments WHERE experiment_id = $e")
	rid="md5($e || ':' || i)"
	st="$T0 + i * 1000"
	h="('x' || substr(md5(k || ':' || $e || ':' || i), 1, 8))::bit(32)::bigint"
	psql_q "INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time,
		end_time, artifact_uri)
		SELECT $rid, $e, 'run-' || i, 'bench', 'FINISHED', $st, $st + 60000,
		'$loc' || '/' || $rid || '/artifacts' FROM generate_series($2, $3 - 1) i" >/dev/null
	psql_q "INSERT INTO params (run_id, key, value, experiment_id, start_time)
		SELECT $rid, k, CASE k WHEN 'lr' THEN (1 + $h % 5)::text
		WHEN 'batch_size' THEN (32 << ($h % 4)::int)::text
		ELSE (ARRAY['adam', 'sgd', 'adamw'])[1 + $h % 3] END, $e, $st
		FROM generate_series($2, $3 - 1) i,
		(VALUES ('batch_size'), ('lr'), ('optimizer')) ks(k)" >/dev/null
	psql_q "INSERT INTO tags (run_id, key, value, experiment_id, start_time)
		SELECT $rid, k, CASE k WHEN 'mlflow.runName' THEN 'run-' || i
		WHEN 'mlflow.user' THEN 'bench'
		ELSE (ARRAY['vision', 'nlp', 'speech', 'rl'])[1 + $h % 4] END, $e, $st
		FROM generate_series($2, $3 - 1) i,
		(VALUES ('mlflow.runName'), ('mlflow.user'), ('team')) ks(k)" >/dev/null
	val="CASE k WHEN 'acc' THEN $h / 4294967296.0 ELSE 2 * $h / 4294967296.0 END"
	psql_q "INSERT INTO metrics (run_id, key, step, timestamp, value, experiment_id)
		SELECT $rid, k, 10, $st + 10000, $val, $e
		FROM generate_series($2, $3 - 1) i, (VALUES ('acc'), ('loss')) ks(k)" >/dev/null
	psql_q "INSERT INTO latest_metrics (run_id, key, step, timestamp, value, experiment_id,
		start_time, dirty_lo, dirty_hi)
		SELECT $rid, k, 10, $st + 10000, $val, $e, $st, 10, 10
		FROM generate_series($2, $3 - 1) i, (VALUES ('acc'), ('loss')) ks(k)" >/dev/null
}

newexp() {
	api POST /api/2.0/mlflow/experiments/create "{\"name\":\"$1\"}"
	echo "$BODY" | json_get experiment_id
}

echo "== load: $NEXP experiments of $EXP_RUNS runs"
OTHERS=""
i=0
while [ $i -lt "$NEXP" ]; do
	x=$(newexp "other-$i")
	seed "$x" 0 "$EXP_RUNS"
	OTHERS="$OTHERS $x"
	i=$((i + 1))
done
E=$(newexp "scale")

have=0
: >"$WORK/results"
for size in $SIZES; do
	t=$(date +%s)
	[ "$size" -gt "$have" ] && seed "$E" "$have" "$size"
	have=$size
	echo "== $size runs in experiment $E (loaded in $(($(date +%s) - t)) s; load average $(cut -d' ' -f1-3 /proc/loadavg))"
	python3 "$ROOT/tests/bench/search_scale.py" time "$size" "$E" "$OTHERS" "$N" \
		"$NEW_URL" ${OLD_URL:+"$OLD_URL"} | tee -a "$WORK/results"
	if [ "${SEARCH_PROFILE:-}" = 1 ]; then
		from=$(wc -c <"$PGDIR/server.log")
		psql_q "ALTER SYSTEM SET log_min_duration_statement = 0" >/dev/null
		psql_q "SELECT pg_reload_conf()" >/dev/null
		python3 "$ROOT/tests/bench/search_scale.py" profile "$size" "$E" "$OTHERS" 30 \
			"$NEW_URL" ${OLD_URL:+"$OLD_URL"} >"$WORK/profile-http"
		psql_q "ALTER SYSTEM RESET log_min_duration_statement" >/dev/null
		psql_q "SELECT pg_reload_conf()" >/dev/null
		sleep 0.5
		python3 "$ROOT/tests/bench/search_scale.py" log "$size" "$PGDIR/server.log" "$from" \
			"$WORK/profile-http" | tee -a "$WORK/results"
		python3 "$ROOT/tests/bench/search_scale.py" pgalone "$size" "$E" "$PG_BINDIR/psql" \
			"$PGCONN" | tee -a "$WORK/results"
	fi
done
python3 "$ROOT/tests/bench/search_scale.py" table "$WORK/results"
