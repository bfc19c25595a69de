#!/bin/sh
# mltrackd behind PgBouncer in transaction pooling (--database-pooler
# transaction): two servers started at once on a fresh database through a
# pool of two server connections migrate it once and both serve; the API
# suites of runs, experiments, metrics, batches, search, artifacts, the
# registry and gates pass through one of them (every statement then runs on
# whichever server connection PgBouncer picks: a named prepared statement or
# a session setting would fail or leak); without --database-listen-url the
# auth cache is off (a LISTEN through the pooler would hear nothing), with
# it the cache listens on PostgreSQL itself.
set -eu
. "$ROOT/tests/lib.sh"
PGB_POOL=2 pgb_start "$WORK/pgb0190"
pids=""
cleanup0190() {
	for p in $pids; do kill "$p" 2>/dev/null && wait_gone "$p" 10 || true; done
	pgb_down
}
trap cleanup0190 EXIT
db="pgb_$$"
psql_q "CREATE DATABASE $db" >/dev/null
conn=$(echo "$PGB_CONN" | sed "s/dbname=[^ ]*/dbname=$db/")
direct=$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=$db/")

start() { # start NAME [flags...]: an mltrackd through PgBouncer; sets URL_<NAME>
	name=$1
	shift
	port=$(free_port)
	MLTRACK_ADMIN_TOKEN=${MLTRACK_TEST_ADMIN_TOKEN:-} \
		"$BUILD/mltrackd" --database-url "$conn" --database-pooler transaction "$@" \
		--port "$port" --data-dir "$WORK/data-$name" >"$WORK/$name.log" 2>&1 &
	pids="$pids $!"
	eval "URL_$name=http://127.0.0.1:$port"
}
start a
start b --database-listen-url "$direct"
wait_http "$URL_a/readyz" 60 || fail "server a: $(cat "$WORK/a.log")"
wait_http "$URL_b/readyz" 60 || fail "server b: $(cat "$WORK/b.log")"
n=$(ls "$ROOT"/migrations/*.sql | wc -l)
applied=$(cat "$WORK/a.log" "$WORK/b.log" | grep -c 'applied migration' || true)
[ "$applied" = "$n" ] || fail "two servers through PgBouncer applied $applied migrations, want $n"

grep -q 'auth cache off: behind --database-pooler' "$WORK/a.log" ||
	fail "server a does not say its auth cache is off: $(cat "$WORK/a.log")"
curl -s "$URL_a/metrics" | grep -qx 'mltrack_auth_cache_listening 0' ||
	fail "server a's auth cache listens through the pooler"
i=0
until curl -s "$URL_b/metrics" | grep -qx 'mltrack_auth_cache_listening 1'; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "server b's auth cache never listened on --database-listen-url"
	sleep 0.1
done

# What one server wrote, the other reads.
BASE=$URL_a api POST /api/2.0/mlflow/experiments/create '{"name":"through-pgbouncer"}'
[ "$HTTP_STATUS" = 200 ] || fail "a: experiments/create $HTTP_STATUS $BODY"
exp=$(echo "$BODY" | json_get experiment_id)
BASE=$URL_b api GET "/api/2.0/mlflow/experiments/get?experiment_id=$exp"
[ "$(echo "$BODY" | json_get experiment name)" = through-pgbouncer ] || fail "b reads: $BODY"

export MLTRACK_TEST_URL="$URL_a" MLTRACK_TEST_ARTIFACTS="$WORK/data-a/artifacts" \
	MLTRACK_TEST_LOG="$WORK/a.log" MLTRACK_TEST_PGCONN="$direct"
SUITES_LOG="$WORK/a.log" api_suites "through PgBouncer" test_runs test_experiments \
	test_metrics test_batch test_search test_artifacts test_registry test_gates
# A graceful stop exits 0 (under ASan, LeakSanitizer's verdict included).
for p in $pids; do
	kill -TERM "$p"
	wait "$p" || fail "an mltrackd through PgBouncer exited $? on SIGTERM: $(tail -n 30 "$WORK/a.log" "$WORK/b.log")"
done
pids=""
for name in a b; do
	if grep -E 'prepared statement|AddressSanitizer|LeakSanitizer|runtime error' "$WORK/$name.log"; then
		fail "server $name reported the above"
	fi
done
echo "pgbouncer: two servers through transaction pooling migrate once and serve; 8 API suites pass; the auth cache listens only on PostgreSQL itself"
