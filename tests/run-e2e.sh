#!/bin/sh
# tests/run-e2e.sh BUILD_DIR: the dashboard's end-to-end tests
# (tests/e2e/*.test.mjs, Node's test runner + playwright-core) in Debian's
# headless Chromium, against mltrackd from BUILD_DIR and a real PostgreSQL
# started here.  Screenshots of every page go to build/e2e-screens/.
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
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait_gone "$SERVER_PID" 10 || true
	pg_down
	if [ "${KEEP:-}" = "" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT INT TERM

echo "== dashboard end-to-end tests against $BUILD/mltrackd in $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
pg_start "$WORK/pg"
PORT=$(free_port)
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$PORT" --data-dir "$WORK/data" \
	>"$WORK/mltrackd.log" 2>&1 &
SERVER_PID=$!
wait_http "http://127.0.0.1:$PORT/readyz" 60 || { cat "$WORK/mltrackd.log"; exit 1; }

SCREENS="$(dirname "$BUILD")/e2e-screens"
rm -rf "$SCREENS"
export MLTRACK_E2E_URL="http://127.0.0.1:$PORT"
export MLTRACK_E2E_SCREENS="$SCREENS"
export MLTRACK_CHROMIUM="$CHROMIUM"
export MLTRACK_CLI="$BUILD/mltrack"
cd "$ROOT"
if ! timeout 300 node --test --test-concurrency=1 tests/e2e/; then
	echo "--- last server log lines:"; tail -n 40 "$WORK/mltrackd.log"
	exit 1
fi
echo "screenshots: $SCREENS"
