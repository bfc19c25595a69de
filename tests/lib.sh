# tests/lib.sh: shared helpers for the shell test harness (sourced).
# A real PostgreSQL cluster per harness run, started here (PostgreSQL refuses
# root, so as root the cluster runs as the postgres user), and mltrackd
# processes on free loopback ports.

PG_BINDIR=${MLTRACK_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# pg_start DIR: initdb + start a throwaway cluster on a Unix socket in DIR.
# Sets PGCONN (a libpq conninfo) and PGDIR.  Tests trade durability for
# speed (fsync off); PG_DURABLE=1 keeps PostgreSQL's defaults (make bench).
pg_start() {
	PGDIR=$1
	mkdir -p "$PGDIR"
	[ "$(id -u)" -eq 0 ] && chown postgres "$PGDIR" && chmod 755 "$(dirname "$PGDIR")"
	as_pg "$PG_BINDIR/initdb" -D "$PGDIR/data" -U mltrack -A trust -E UTF8 --locale=C -N \
		>"$PGDIR/initdb.log" 2>&1 || { cat "$PGDIR/initdb.log"; return 1; }
	pg_up
	PGCONN="host=$PGDIR port=5432 user=mltrack dbname=postgres"
}

pg_up() {
	PG_FAST_OPTS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	[ "${PG_DURABLE:-}" = 1 ] && PG_FAST_OPTS=""
	as_pg "$PG_BINDIR/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
		-o "-c listen_addresses= -k $PGDIR $PG_FAST_OPTS -c max_connections=300" \
		start >/dev/null || { cat "$PGDIR/server.log"; return 1; }
}

pg_down() {
	as_pg "$PG_BINDIR/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true
}

# psql_q SQL...: run SQL against the harness database, unaligned output.
psql_q() {
	"$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$PGCONN" -c "$1"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL [seconds]: until the URL answers 200.
wait_http() {
	i=0
	while [ $i -lt $((${2:-30} * 10)) ]; do
		if curl -sf -o /dev/null "$1"; then return 0; fi
		sleep 0.1
		i=$((i + 1))
	done
	echo "timed out waiting for $1" >&2
	return 1
}

# wait_gone PID [seconds]
wait_gone() {
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt $((${2:-30} * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	! kill -0 "$1" 2>/dev/null
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# api METHOD PATH [JSON]: sets BODY and HTTP_STATUS (no subshell, so the
# caller sees both).
api() {
	_out=$(curl -s -w '\n%{http_code}' -X "$1" -H 'Content-Type: application/json' \
		${3:+-d "$3"} "$BASE$2")
	HTTP_STATUS=$(printf '%s' "$_out" | tail -n 1)
	BODY=$(printf '%s' "$_out" | sed '$d')
}

# cpu_ticks PID: the CPU time (clock ticks, user + system) of process PID
# and of every process of the harness cluster (the postmaster and its
# children) together.
cpu_ticks() {
	_pm=$(head -n 1 "$PGDIR/data/postmaster.pid")
	{ cat "/proc/$1/stat"; for _p in $_pm $(pgrep -P "$_pm"); do cat "/proc/$_p/stat" 2>/dev/null; done; } |
		sed 's/^.*) //' | awk '{t += $12 + $13} END {print t}'
}

# api_suites WHAT SUITE...: tests/api's python SUITEs (module names) against
# the server MLTRACK_TEST_URL names; on a failure, the suite's last output,
# the last lines of the server log SUITES_LOG names (if set) and "FAIL:
# SUITE WHAT".  Output per suite in $WORK/SUITE.out.
api_suites() {
	_what=$1
	shift
	for _s in "$@"; do
		(cd "$ROOT/tests/api" && python3 -m unittest -q "$_s") 2>"$WORK/$_s.out" || {
			tail -n 30 "$WORK/$_s.out"
			[ -z "${SUITES_LOG:-}" ] || { echo "--- $SUITES_LOG:"; tail -n 20 "$SUITES_LOG"; }
			fail "$_s $_what"
		}
	done
}

# json_get FIELD...: read JSON on stdin, print a nested field.
json_get() {
	python3 -c 'import sys, json
v = json.load(sys.stdin)
for k in sys.argv[1:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$@"
}

# pgb_start DIR: Debian's PgBouncer in transaction pooling mode in front of
# the harness cluster (pg_start), on a free loopback port; the pooler, not
# PostgreSQL, decides which server connection each transaction runs on.
# Sets PGB_CONN (a libpq conninfo through it, dbname to be replaced) and
# PGB_DIR.  PgBouncer refuses root, so as root it runs as postgres.
pgb_start() {
	PGB_DIR=$1
	PGB_PORT=$(free_port)
	mkdir -p "$PGB_DIR"
	[ "$(id -u)" -eq 0 ] && chown postgres "$PGB_DIR"
	printf '"mltrack" ""\n' >"$PGB_DIR/users.txt"
	cat >"$PGB_DIR/pgbouncer.ini" <<PGB
[databases]
* = host=$PGDIR port=5432 user=mltrack
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $PGB_DIR/users.txt
pool_mode = transaction
server_login_retry = 1
default_pool_size = ${PGB_POOL:-4}
max_client_conn = 1000
logfile = $PGB_DIR/pgbouncer.log
pidfile = $PGB_DIR/pgbouncer.pid
PGB
	as_pg /usr/sbin/pgbouncer -d "$PGB_DIR/pgbouncer.ini" ||
		{ cat "$PGB_DIR/pgbouncer.log"; return 1; }
	PGB_CONN="host=127.0.0.1 port=$PGB_PORT user=mltrack dbname=postgres"
}

pgb_down() {
	[ -n "${PGB_DIR:-}" ] && [ -f "$PGB_DIR/pgbouncer.pid" ] &&
		kill "$(cat "$PGB_DIR/pgbouncer.pid")" 2>/dev/null || true
}

# s3_curl METHOD PATH [IN [OUT]]: a request to the gateway of rgw_start,
# signed with SigV4 by curl: PATH is path-style, /BUCKET[/KEY][?QUERY] (the
# query canonical: names sorted, values encoded, "name=" when empty); IN a
# file to send ("" for none), OUT where the answer's body goes (default
# /dev/null).  Prints the HTTP status.
s3_curl() {
	if [ -n "${3:-}" ]; then _s3sha=$(sha256sum <"$3" | cut -c1-64)
	else _s3sha=$(printf '' | sha256sum | cut -c1-64); fi
	if [ -n "${3:-}" ]; then
		curl -s -o "${4:-/dev/null}" -w '%{http_code}' -X "$1" -T "$3" \
			--aws-sigv4 "aws:amz:${RGW_REGION:-us-east-1}:s3" --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
			-H "x-amz-content-sha256: $_s3sha" "$RGW_URL$2"
	else
		curl -s -o "${4:-/dev/null}" -w '%{http_code}' -X "$1" \
			--aws-sigv4 "aws:amz:${RGW_REGION:-us-east-1}:s3" --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
			-H "x-amz-content-sha256: $_s3sha" "$RGW_URL$2"
	fi
}

# s3_keys BUCKET PREFIX: the keys under PREFIX, one a line (up to 1000).
s3_keys() {
	s3_curl GET "/$1?list-type=2&prefix=$(printf '%s' "$2" | sed 's|/|%2F|g')" "" "$WORK/s3_keys.xml" >/dev/null
	grep -o '<Key>[^<]*</Key>' "$WORK/s3_keys.xml" | sed -e 's/<Key>//' -e 's|</Key>||' || true
}
