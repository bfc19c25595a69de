#!/bin/sh
# tests/run-api.sh BUILD_DIR: the API and server suites against a live
# mltrackd from BUILD_DIR and a real PostgreSQL started here.
#   1. tests/api/test_*.py (python3 unittest, stdlib only) over HTTP
#   2. tests/cli/test_*.py: the mltrack CLI from BUILD_DIR against the same server
#   3. tests/api/t*.sh: restarts, readiness, embedded cluster, migrations,
#      schema drift, route table vs openapi.yaml, gc
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$1" && pwd)
. "$ROOT/tests/lib.sh"

WORK=$(mktemp -d /tmp/mltrack-test.XXXXXX)
chmod 755 "$WORK"
SERVER_PID=""
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait_gone "$SERVER_PID" 10 || true
	pg_down
	if [ "${KEEP:-}" = "" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT INT TERM

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

echo "== API suites against $BUILD/mltrackd"
pg_start "$WORK/pg"
PORT=$(free_port)
# An admin token, so that forced transitions can be tested (test_gates.py).
MLTRACK_TEST_ADMIN_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export MLTRACK_TEST_ADMIN_TOKEN
MLTRACK_ADMIN_TOKEN=$MLTRACK_TEST_ADMIN_TOKEN \
	"$BUILD/mltrackd" --database-url "$PGCONN" --port "$PORT" --data-dir "$WORK/data" \
	>"$WORK/mltrackd.log" 2>&1 &
SERVER_PID=$!
wait_http "http://127.0.0.1:$PORT/readyz" 60 || { cat "$WORK/mltrackd.log"; exit 1; }
BASE="http://127.0.0.1:$PORT"
export MLTRACK_TEST_URL="$BASE"
export MLTRACK_TEST_ARTIFACTS="$WORK/data/artifacts"
export MLTRACK_TEST_LOG="$WORK/mltrackd.log"
export MLTRACK_CLI="$BUILD/mltrack"
# The database itself, for suites that set up what only an older mltrackd
# (or a hand edit) could have stored (mtapi.psql).
export MLTRACK_TEST_PGCONN="$PGCONN" MLTRACK_TEST_PSQL="$PG_BINDIR/psql"
for suite in api cli; do
	echo "== tests/$suite/test_*.py"
	if ! python3 -m unittest discover -s "$ROOT/tests/$suite" -p 'test_*.py'; then
		echo "--- last server log lines:"; tail -n 40 "$WORK/mltrackd.log"
		exit 1
	fi
done
# A graceful stop exits 0; under ASan that includes LeakSanitizer's verdict.
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" && rc=0 || rc=$?
SERVER_PID=""
if grep -E '(AddressSanitizer|runtime error|LeakSanitizer)' "$WORK/mltrackd.log" || [ "$rc" != 0 ]; then
	tail -n 60 "$WORK/mltrackd.log"
	fail "mltrackd exited $rc or reported a sanitizer error"
fi

export ROOT BUILD WORK PGCONN PGDIR PG_BINDIR
passed=0
for t in "$ROOT"/tests/api/t*.sh; do
	echo "== $(basename "$t")"
	sh "$t" || { echo "--- server log:"; tail -n 40 "$WORK/mltrackd.log"; exit 1; }
	passed=$((passed + 1))
done
echo "shell suites: $passed passed, 0 failed"
