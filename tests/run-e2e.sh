#!/bin/sh
# tests/run-e2e.sh BUILD_DIR: the dashboard's end-to-end tests
# (tests/e2e/*.test.mjs, Node's test runner + playwright-core) in Debian's
# headless Chromium, against mltrackd from BUILD_DIR and a real PostgreSQL
# started here: one mltrackd with authentication off (no user, as `make
# run`), and one with users for the login tests (auth.test.mjs).
# Screenshots of every page go to build/e2e-screens/.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$1" && pwd)
. "$ROOT/tests/lib.sh"

CHROMIUM=${MLTRACK_CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "no Chromium at $CHROMIUM (make deps installs Debian's chromium)"
[ -d "$ROOT/node_modules/playwright-core" ] || fail "node_modules is missing: run make (npm ci)"
[ -f "$BUILD/web/index.html" ] || fail "$BUILD/web is missing: run make"

WORK=$(mktemp -d /tmp/mltrack-e2e.XXXXXX)
chmod 755 "$WORK"
SERVER_PID=""
AUTH_PID=""
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait_gone "$SERVER_PID" 10 || true
	[ -n "$AUTH_PID" ] && kill "$AUTH_PID" 2>/dev/null && wait_gone "$AUTH_PID" 10 || true
	pg_down
	if [ "${KEEP:-}" = "" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT INT TERM

echo "== dashboard end-to-end tests against $BUILD/mltrackd in $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
pg_start "$WORK/pg"
PORT=$(free_port)
# A monitoring window closes 2 s after its last observation (default 60 s),
# for tests/e2e/monitor.test.mjs.
MLTRACK_MONITOR_GRACE=2 "$BUILD/mltrackd" --database-url "$PGCONN" --port "$PORT" --data-dir "$WORK/data" \
	>"$WORK/mltrackd.log" 2>&1 &
SERVER_PID=$!
wait_http "http://127.0.0.1:$PORT/readyz" 60 || { cat "$WORK/mltrackd.log"; exit 1; }

# A second mltrackd with users defined, on its own database, for the login,
# session and CSRF tests (tests/e2e/auth.test.mjs); the first one keeps
# authentication off, as `make run` does.  Passwords are drawn per run so
# that the test can look for them in the server's log.  The attacker page
# of the CSRF test listens on ATTACK_PORT, an origin --cors-origin grants:
# there only the session's CSRF token stands in its way.
"$PG_BINDIR/psql" -X -q -d "$PGCONN" -c 'CREATE DATABASE mltrack_auth' >/dev/null
AUTH_PGCONN="host=$PGDIR port=5432 user=mltrack dbname=mltrack_auth"
pw() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
MLTRACK_E2E_ADMIN_PASSWORD=$(pw)
MLTRACK_E2E_READER_PASSWORD=$(pw)
MLTRACK_E2E_LOCKED_PASSWORD=$(pw)
for u in admin:$MLTRACK_E2E_ADMIN_PASSWORD reader:$MLTRACK_E2E_READER_PASSWORD \
	locked:$MLTRACK_E2E_LOCKED_PASSWORD; do
	printf '%s\n' "${u#*:}" | "$BUILD/mltrackd" user add "${u%%:*}" --password-stdin \
		--database-url "$AUTH_PGCONN" >>"$WORK/users.log" 2>&1 || { cat "$WORK/users.log"; exit 1; }
done
AUTH_PORT=$(free_port)
ATTACK_PORT=$(free_port)
"$BUILD/mltrackd" --database-url "$AUTH_PGCONN" --port "$AUTH_PORT" --data-dir "$WORK/auth-data" \
	--cors-origin "http://127.0.0.1:$ATTACK_PORT" >"$WORK/mltrackd-auth.log" 2>&1 &
AUTH_PID=$!
wait_http "http://127.0.0.1:$AUTH_PORT/readyz" 60 || { cat "$WORK/mltrackd-auth.log"; exit 1; }
export MLTRACK_E2E_AUTH_URL="http://127.0.0.1:$AUTH_PORT"
export MLTRACK_E2E_AUTH_PGCONN="$AUTH_PGCONN" MLTRACK_E2E_PSQL="$PG_BINDIR/psql"
export MLTRACK_E2E_AUTH_LOG="$WORK/mltrackd-auth.log" MLTRACK_E2E_ATTACK_PORT="$ATTACK_PORT"
export MLTRACK_E2E_ADMIN_PASSWORD MLTRACK_E2E_READER_PASSWORD MLTRACK_E2E_LOCKED_PASSWORD

SCREENS="$(dirname "$BUILD")/e2e-screens"
rm -rf "$SCREENS"
export MLTRACK_E2E_URL="http://127.0.0.1:$PORT"
export MLTRACK_E2E_SCREENS="$SCREENS"
export MLTRACK_CHROMIUM="$CHROMIUM"
export MLTRACK_CLI="$BUILD/mltrack"
cd "$ROOT"
if ! timeout 420 node --test --test-concurrency=1 tests/e2e/; then
	echo "--- last server log lines:"; tail -n 40 "$WORK/mltrackd.log"
	echo "--- last lines of the server with users:"; tail -n 40 "$WORK/mltrackd-auth.log"
	exit 1
fi
echo "screenshots: $SCREENS"
