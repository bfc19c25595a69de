#!/bin/sh
# Migration 0013 converts a database of the previous schema: migrations
# 0001-0012 applied as mltrackd would have (their checksums recorded), points
# loaded into the unpartitioned metrics (NaN and infinities, MLflow 3's
# fields), then mltrackd migrate: every point is kept (count and checksum
# before and after), each in its run's experiment's partition, every
# experiment has one with its primary key, and an experiment created after
# gets one.
#
# MIGRATE_SCALE=EXPxRUNSxPOINTS (default 6x5x400) sets the load: e.g.
# 100x100x1000 is 10M points.  Then the time of the load and of the
# migration are printed, and while it runs two probes, a one-row INSERT and
# a one-series SELECT on metrics repeated every 0.1 s, report the longest
# each waited: how long the migration held writes, and reads.
set -eu
. "$ROOT/tests/lib.sh"
db="migm_$$"
psql_q "CREATE DATABASE $db" >/dev/null
conn=$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=$db/")
sql() { PGCONN="$conn" psql_q "$1"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b - a}'; }
scale=${MIGRATE_SCALE:-6x5x400}
ne=${scale%%x*}
nr=${scale#*x}
nr=${nr%%x*}
np=${scale##*x}

sql "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
	sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())" >/dev/null
for f in "$ROOT"/migrations/00*.sql; do
	name=$(basename "$f" .sql)
	v=$(echo "$name" | cut -c1-4 | sed 's/^0*//')
	[ "$v" -le 12 ] || continue
	"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -1 -d "$conn" -f "$f" >/dev/null ||
		fail "applying $name by hand"
	sql "INSERT INTO schema_migrations (version, name, sha256)
		VALUES ($v, '$name', '$(sha256sum "$f" | cut -d' ' -f1)')" >/dev/null
done
[ "$(sql "SELECT max(version) FROM schema_migrations")" = 12 ] || fail "not at 0012"

t0=$(now)
sql "INSERT INTO experiments (experiment_id, name, artifact_location, creation_time,
	last_update_time) SELECT e, 'e' || e, 'mlflow-artifacts:/' || e, 0, 0
	FROM generate_series(1, $ne) e" >/dev/null
sql "INSERT INTO runs (run_id, experiment_id, artifact_uri, start_time)
	SELECT md5(e || '/' || r), e, 'x', 0 FROM generate_series(0, $ne) e,
	generate_series(1, $nr) r" >/dev/null
sql "INSERT INTO metrics (run_id, key, step, timestamp, value)
	SELECT md5(e || '/' || r), 'loss', s, 1700000000000 + s, (s * 7919 % 1000) / 10.0
	FROM generate_series(1, $ne) e, generate_series(1, $nr) r, generate_series(1, $np) s" >/dev/null
# The Default experiment (0), and what else a point may carry.
sql "INSERT INTO metrics (run_id, key, step, timestamp, value, model_id, dataset_name,
	dataset_digest) VALUES (md5('0/1'), 'acc', 1, 1, 'NaN', NULL, NULL, NULL),
	(md5('0/1'), 'acc', 2, 2, 'Infinity', 'm-1', 'train', 'abc'),
	(md5('0/1'), 'acc', 3, 3, '-Infinity', NULL, 'eval', NULL),
	(md5('1/1'), 'x	tab', 0, 0, -0.5, 'm-2', NULL, 'd')" >/dev/null
t1=$(now)
sum="SELECT count(*) || ' ' || COALESCE(sum(hashtextextended(concat_ws('|', run_id, key, step,
	timestamp, value, model_id, dataset_name, dataset_digest), 0)::numeric), 0)
	FROM metrics WHERE key <> 'probe'"
before=$(sql "$sum")
total=$(sql "SELECT count(*) FROM metrics")
echo "loaded ${before%% *} points into $ne experiments x $nr runs in $(secs "$t0" "$t1") s"

# The probes: each attempt's wait; the longest is printed at the end.
probe() { # probe NAME SQL
	i=0
	while [ ! -e "$WORK/migm.stop" ]; do
		a=$(now)
		sql "$2" >/dev/null 2>&1 || true
		b=$(now)
		echo "$(secs "$a" "$b")"
		i=$((i + 1))
		sleep 0.1
	done >"$WORK/probe.$1"
}
rm -f "$WORK/migm.stop"
ppids=""
if [ -n "${MIGRATE_SCALE:-}" ]; then
	probe write "INSERT INTO metrics (run_id, key, step, timestamp, value)
		VALUES (md5('1/1'), 'probe', -(extract(epoch FROM clock_timestamp()) * 1000)::bigint, 0, 0)" &
	ppids="$ppids $!"
	probe read "SELECT count(*) FROM metrics WHERE run_id = md5('1/2') AND key = 'loss'" &
	ppids="$ppids $!"
	sleep 1
fi
t2=$(now)
"$BUILD/mltrackd" migrate --database-url "$conn" >"$WORK/migm.log" 2>&1 ||
	fail "mltrackd migrate: $(cat "$WORK/migm.log")"
t3=$(now)
touch "$WORK/migm.stop"
for p in $ppids; do wait "$p"; done
grep -q 'applied migration 0013_metrics_by_experiment' "$WORK/migm.log" ||
	fail "0013 not applied: $(cat "$WORK/migm.log")"
echo "mltrackd migrate (0013 on ${before%% *} points): $(secs "$t2" "$t3") s"
if [ -n "${MIGRATE_SCALE:-}" ]; then
	for p in write read; do
		echo "longest $p probe wait: $(sort -n "$WORK/probe.$p" | tail -n 1) s ($(wc -l <"$WORK/probe.$p") attempts)"
	done
fi

after=$(sql "$sum")
[ "$after" = "$before" ] || fail "points before: $before, after: $after"
n=$(sql "SELECT count(*) FROM metrics")
[ "$n" -ge "$total" ] || fail "metrics holds $n rows, $total before"
n=$(sql "SELECT count(*) FROM metrics m JOIN runs r USING (run_id) WHERE m.experiment_id <> r.experiment_id")
[ "$n" = 0 ] || fail "$n points in another experiment's partition"
n=$(sql "SELECT count(*) FROM experiments e WHERE NOT EXISTS (SELECT 1 FROM pg_inherits i
	JOIN pg_index x ON x.indrelid = i.inhrelid AND x.indisprimary
	WHERE i.inhparent = 'metrics'::regclass AND i.inhrelid = to_regclass('metrics_e' || e.experiment_id))")
[ "$n" = 0 ] || fail "$n experiments without a partition with its primary key"
n=$(sql "SELECT count(*) FROM metrics_e0")
[ "$n" = 3 ] || fail "metrics_e0 holds $n points, want 3"
sql "INSERT INTO experiments (experiment_id, name, artifact_location, creation_time,
	last_update_time) VALUES ($ne + 1, 'after', 'x', 0, 0)" >/dev/null
n=$(sql "SELECT count(*) FROM pg_inherits WHERE inhparent = 'metrics'::regclass
	AND inhrelid = to_regclass('metrics_e' || (SELECT experiment_id FROM experiments WHERE name = 'after'))")
[ "$n" = 1 ] || fail "an experiment created after the migration has no partition"
psql_q "DROP DATABASE $db" >/dev/null
echo "migrate metrics: ${before%% *} points kept (count and checksum), each in its experiment's partition"
