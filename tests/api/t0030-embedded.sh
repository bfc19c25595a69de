#!/bin/sh
# The embedded default: no database URL, mltrackd runs its own PostgreSQL in
# DATA_DIR/pg.  After kill -9 the cluster stops by itself (parent-death
# signal), a restart on the same data dir comes back with the data, a stale
# postmaster.pid does not block it, and SIGTERM stops the cluster too.
set -eu
. "$ROOT/tests/lib.sh"
port=$(free_port)
BASE="http://127.0.0.1:$port"
dir="$WORK/embedded"
log="$WORK/embedded.log"
start() {
	"$BUILD/mltrackd" --port "$port" --data-dir "$dir" >>"$log" 2>&1 &
	pid=$!
	wait_http "$BASE/readyz" 120 || { cat "$log"; fail "embedded server did not start"; }
}
postmaster_pid() {
	head -n 1 "$dir/pg/postmaster.pid" 2>/dev/null || true
}
start
[ -f "$dir/pg/PG_VERSION" ] || fail "no cluster in $dir/pg"
api POST /api/2.0/mlflow/experiments/create '{"name":"survives-kill-9"}'
[ "$HTTP_STATUS" = 200 ] || fail "create: $HTTP_STATUS"
pm=$(postmaster_pid)
[ -n "$pm" ] || fail "no postmaster.pid"

kill -9 "$pid"
wait "$pid" 2>/dev/null || true
wait_gone "$pm" 60 || fail "PostgreSQL $pm still running 60 s after mltrackd was killed"

# A stale pid file naming a live process that is not PostgreSQL.
sleep 600 &
decoy=$!
if [ -f "$dir/pg/postmaster.pid" ]; then
	sed -i "1s/.*/$decoy/" "$dir/pg/postmaster.pid"
else
	printf '%s\n%s\n' "$decoy" "$dir/pg" >"$dir/pg/postmaster.pid"
fi
start
kill "$decoy" 2>/dev/null || true
api GET "/api/2.0/mlflow/experiments/get-by-name?experiment_name=survives-kill-9"
[ "$HTTP_STATUS" = 200 ] || fail "data lost after kill -9: $HTTP_STATUS $BODY"

# A second server on the same data dir is refused, not corrupting anything.
port2=$(free_port)
if "$BUILD/mltrackd" --port "$port2" --data-dir "$dir" >"$WORK/second.log" 2>&1; then
	fail "second mltrackd on the same data dir started"
fi
grep -q 'another mltrackd is using the data dir' "$WORK/second.log" || fail "no clear message: $(cat "$WORK/second.log")"

# As root the cluster runs as 'postgres': a data dir it cannot reach is
# refused with a message that says so, not a bare initdb failure.
if [ "$(id -u)" -eq 0 ]; then
	mkdir -m 700 "$WORK/locked"
	if "$BUILD/mltrackd" --port "$port2" --data-dir "$WORK/locked/data" >"$WORK/locked.log" 2>&1; then
		fail "mltrackd started on a data dir postgres cannot reach"
	fi
	grep -q "cannot reach $WORK/locked/data" "$WORK/locked.log" || fail "message: $(cat "$WORK/locked.log")"
fi

pm=$(postmaster_pid)
kill -TERM "$pid"
wait "$pid" || fail "SIGTERM exit status"
wait_gone "$pm" 30 || fail "PostgreSQL still running after SIGTERM"
grep -E '(AddressSanitizer|runtime error)' "$log" && fail "sanitizer report"
echo "embedded: kill -9 recovery, stale pid file, exclusive data dir, clean stop"
