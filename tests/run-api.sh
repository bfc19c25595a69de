#!/bin/sh
# tests/run-api.sh BUILD_DIR [SUITE...]: the API and server suites against a
# live mltrackd from BUILD_DIR and a real PostgreSQL started here.
#   1. tests/api/test_*.py (python3 unittest, stdlib only) over HTTP
#   2. tests/cli/test_*.py: the mltrack CLI from BUILD_DIR against the same server
#   3. tests/api/t*.sh: restarts, readiness, embedded cluster, migrations,
#      schema drift, route table vs openapi.yaml, gc
# With SUITEs (file names from tests/api or tests/cli, such as test_hostile.py,
# test_run.py or t0170-tls.sh), only those run, still on a cluster and a
# server of their own: make test runs groups of suites side by side this way
# (tests/test.mk).  The shared server starts only when a Python suite is
# chosen.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$1" && pwd)
shift
. "$ROOT/tests/lib.sh"

# The chosen suites, by kind: Python modules of tests/api, of tests/cli,
# and shell suites (all of them without arguments).
API_MODS="" CLI_MODS="" SH_SUITES=""
if [ $# -eq 0 ]; then
	for f in "$ROOT"/tests/api/test_*.py; do API_MODS="$API_MODS $(basename "$f" .py)"; done
	for f in "$ROOT"/tests/cli/test_*.py; do CLI_MODS="$CLI_MODS $(basename "$f" .py)"; done
	for f in "$ROOT"/tests/api/t*.sh; do SH_SUITES="$SH_SUITES $(basename "$f")"; done
fi
for s in "$@"; do
	s=$(basename "$s")
	case "$s" in
	test_*.py)
		if [ -f "$ROOT/tests/api/$s" ]; then API_MODS="$API_MODS ${s%.py}"
		elif [ -f "$ROOT/tests/cli/$s" ]; then CLI_MODS="$CLI_MODS ${s%.py}"
		else fail "no suite $s in tests/api or tests/cli"; fi ;;
	t*.sh)
		[ -f "$ROOT/tests/api/$s" ] || fail "no suite $s in tests/api"
		SH_SUITES="$SH_SUITES $s" ;;
	*) fail "not a suite: $s (test_*.py or t*.sh)" ;;
	esac
done

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

pg_start "$WORK/pg"
# The server log the failure messages below show (the shared server's).
touch "$WORK/mltrackd.log"

if [ -n "$API_MODS$CLI_MODS" ]; then
	echo "== API suites against $BUILD/mltrackd"
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
	failed=""
	for suite in api cli; do
		if [ "$suite" = api ]; then mods=$API_MODS; else mods=$CLI_MODS; fi
		for mod in $mods; do
			echo "== tests/$suite/$mod.py"
			# With its directory first on the path, as unittest
			# discover -s puts it.
			t0=$(date +%s)
			PYTHONPATH="$ROOT/tests/$suite${PYTHONPATH:+:$PYTHONPATH}" \
				python3 -m unittest "$mod" || failed="$failed $mod"
			echo "-- $mod: $(($(date +%s) - t0)) s"
		done
	done
	if [ -n "$failed" ]; then
		echo "--- failed:$failed; last server log lines:"; tail -n 40 "$WORK/mltrackd.log"
		exit 1
	fi
	# A graceful stop exits 0; under ASan that includes LeakSanitizer's verdict.
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" && rc=0 || rc=$?
	SERVER_PID=""
	if grep -E '(AddressSanitizer|runtime error|LeakSanitizer)' "$WORK/mltrackd.log" || [ "$rc" != 0 ]; then
		tail -n 60 "$WORK/mltrackd.log"
		fail "mltrackd exited $rc or reported a sanitizer error"
	fi
fi

export ROOT BUILD WORK PGCONN PGDIR PG_BINDIR
passed=0
for t in $SH_SUITES; do
	echo "== $t"
	t0=$(date +%s)
	if ! sh "$ROOT/tests/api/$t"; then
		# The suite's own server log is the newest one in WORK.
		log=$(ls -t "$WORK"/*.log 2>/dev/null | head -n 1)
		echo "--- last lines of $log:"; tail -n 40 "$log"
		exit 1
	fi
	echo "-- $t: $(($(date +%s) - t0)) s"
	passed=$((passed + 1))
done
[ -z "$SH_SUITES" ] || echo "shell suites: $passed passed, 0 failed"
