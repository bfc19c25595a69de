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

# proc_ticks PID: the CPU time (clock ticks, user + system) of process PID
# alone.
proc_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
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
	_s3sha=$(if [ -n "${3:-}" ]; then sha256sum <"$3"; else printf '' | sha256sum; fi | cut -c1-64)
	curl -s -o "${4:-/dev/null}" -w '%{http_code}' -X "$1" ${3:+-T "$3"} \
		--aws-sigv4 "aws:amz:${RGW_REGION:-us-east-1}:s3" --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
		-H "x-amz-content-sha256: $_s3sha" "$RGW_URL$2"
}

# s3cmd_config FILE: an s3cmd configuration for the gateway of rgw_start:
# path-style addressing (no %(bucket)s in host_bucket), plain HTTP, SigV4
# (s3cmd's default; said anyway), the region SigV4 signs for.
s3cmd_config() {
	cat >"$1" <<CFG
[default]
access_key = $RGW_ACCESS_KEY
secret_key = $RGW_SECRET_KEY
host_base = ${RGW_URL#http://}
host_bucket = ${RGW_URL#http://}
use_https = False
signature_v2 = False
bucket_location = ${RGW_REGION:-us-east-1}
CFG
}

# s3_keys BUCKET PREFIX: the keys under PREFIX, one a line (up to 1000).
s3_keys() {
	s3_curl GET "/$1?list-type=2&prefix=$(printf '%s' "$2" | sed 's|/|%2F|g')" "" "$WORK/s3_keys.xml" >/dev/null
	grep -o '<Key>[^<]*</Key>' "$WORK/s3_keys.xml" | sed -e 's/<Key>//' -e 's|</Key>||' || true
}

# rgw_start DIR: a real S3, Ceph's RADOS Gateway (Debian's radosgw, Ceph
# 16.2), on a throwaway single-node Ceph under DIR: one monitor, one OSD that
# keeps its objects in memory (memstore, 1 GiB at most), no manager, no
# cephx, pools of 8 placement groups and one copy, all on 127.0.0.1: the
# monitor and the gateway (beast) on free_port ports, the OSD on ports of its
# own choosing in Ceph's 6800-7300.  As root the daemons run as the postgres
# user (as_pg), every path they use is under DIR (DIR/ceph.conf, logs in
# DIR/log), and they are stopped by pid, never by name.  Sets RGW_URL
# (http://127.0.0.1:PORT; path-style addressing, PORT/BUCKET/KEY),
# RGW_ACCESS_KEY, RGW_SECRET_KEY, RGW_REGION (us-east-1, for SigV4), RGW_DIR,
# RGW_CONF, RGW_PID (the gateway's) and RGW_PIDS (monitor, OSD and gateway:
# what rgw_stop stops).  Measured on the 2-core CI box (Debian 12, Ceph
# 16.2.15), tests/rgw-smoke.sh: rgw_start 2.6-4 s, rgw_down + rgw_up 1 s,
# rgw_stop 0.6 s; RSS after start: ceph-mon 31 MB, ceph-osd 42 MB, radosgw
# 33 MB (106 MB together); after a 20 MiB upload and a few small ones:
# 32 MB, 81 MB, 50 MB.
rgw_start() {
	RGW_DIR=$1
	RGW_CONF=$RGW_DIR/ceph.conf
	[ ! -e "$RGW_CONF" ] || { echo "rgw_start: $RGW_DIR holds a cluster already" >&2; return 1; }
	RGW_PORT=$(free_port)
	RGW_URL=http://127.0.0.1:$RGW_PORT
	RGW_REGION=us-east-1
	RGW_ACCESS_KEY=MLTRACKTEST$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
	RGW_SECRET_KEY=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
	RGW_CEPH_PIDS=""
	RGW_PID=""
	RGW_PIDS=""
	_rgw_mon_port=$(free_port)
	_rgw_fsid=$(cat /proc/sys/kernel/random/uuid)
	_rgw_osd_uuid=$(cat /proc/sys/kernel/random/uuid)
	mkdir -p "$RGW_DIR/mon" "$RGW_DIR/osd" "$RGW_DIR/run" "$RGW_DIR/log" "$RGW_DIR/rgw" "$RGW_DIR/crash"
	[ "$(id -u)" -eq 0 ] && chown -R postgres "$RGW_DIR" && chmod 755 "$(dirname "$RGW_DIR")"
	# ms_mon_client_mode: radosgw asks the monitor for an encrypted
	# ("secure") connection by default, which auth none cannot give: it
	# would retry for rgw_init_timeout, silently.  mon_data_avail_*: the
	# monitor warns under 30% free disk and stops under 5%; a CI disk may be
	# that full, and nothing here needs the room.  osd_memory_target:
	# Ceph's minimum (896 MiB; a lower value is refused and 4 GiB used); it
	# steers bluestore's caches, memstore has none: the OSD's RSS is about
	# 40 MB and what it stores, up to memstore_device_bytes.  paxos_*: one
	# monitor commit every 100 ms, not every second; the gateway's first
	# start creates pools in a dozen of them (12 s to 3 s).
	cat >"$RGW_CONF" <<CEPH
[global]
fsid = $_rgw_fsid
mon_host = v2:127.0.0.1:$_rgw_mon_port
public_addr = 127.0.0.1
ms_bind_msgr1 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
run_dir = $RGW_DIR/run
admin_socket = $RGW_DIR/run/\$name.asok
pid_file = $RGW_DIR/run/\$name.pid
log_file = $RGW_DIR/log/\$name.log
mon_cluster_log_file = $RGW_DIR/log/cluster.log
keyring = $RGW_DIR/keyring
crash_dir = $RGW_DIR/crash
client_mount_timeout = 30
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
mon_data_avail_warn = 1
mon_data_avail_crit = 0
[mon]
mon_data = $RGW_DIR/mon
paxos_propose_interval = 0.1
paxos_min_wait = 0.01
[osd]
osd_data = $RGW_DIR/osd
osd_objectstore = memstore
memstore_device_bytes = 1073741824
osd_memory_target = 939524096
[client]
rgw_data = $RGW_DIR/rgw
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw_thread_pool_size = 16
rgw_init_timeout = 60
CEPH
	_rgw_log=$RGW_DIR/log/setup.log
	{
		as_pg monmaptool --create --fsid "$_rgw_fsid" --add a "v2:127.0.0.1:$_rgw_mon_port" "$RGW_DIR/monmap" &&
			as_pg ceph-mon -c "$RGW_CONF" --mkfs -i a --monmap "$RGW_DIR/monmap" &&
			as_pg ceph-mon -c "$RGW_CONF" -i a &&
			as_pg ceph -c "$RGW_CONF" --connect-timeout 30 osd new "$_rgw_osd_uuid" 0 &&
			as_pg ceph-osd -c "$RGW_CONF" -i 0 --mkfs --osd-uuid "$_rgw_osd_uuid" &&
			as_pg ceph-osd -c "$RGW_CONF" -i 0
	} >"$_rgw_log" 2>&1
	_rgw_st=$?
	# The daemons detach; their pid files (gone when they exit cleanly) say
	# what to stop, also after a failure half-way.
	RGW_CEPH_PIDS=$(cat "$RGW_DIR/run/mon.a.pid" "$RGW_DIR/run/osd.0.pid" 2>/dev/null | paste -sd ' ' -)
	[ $_rgw_st -eq 0 ] || {
		echo "rgw_start: Ceph did not start; $_rgw_log, the monitor's and the OSD's logs:" >&2
		tail -n 20 "$_rgw_log" "$RGW_DIR/log/mon.a.log" "$RGW_DIR/log/osd.0.log" >&2 2>/dev/null
		rgw_stop
		return 1
	}
	rgw_up || { rgw_stop; return 1; }
	# radosgw-admin after the gateway: the gateway makes the default zone.
	as_pg radosgw-admin -c "$RGW_CONF" user create --uid mltrack --display-name mltrack \
		--access-key "$RGW_ACCESS_KEY" --secret-key "$RGW_SECRET_KEY" >>"$_rgw_log" 2>&1 || {
		echo "rgw_start: radosgw-admin user create failed:" >&2
		tail -n 20 "$_rgw_log" >&2
		rgw_stop
		return 1
	}
}

# rgw_up: start the gateway of rgw_start again (rgw_down), on the same
# port, and wait until it answers (60 s at most).
rgw_up() {
	rm -f "$RGW_DIR/run/client.rgw.pid"
	_rgw_l=$(cat "$RGW_DIR/log/client.rgw.log" 2>/dev/null | wc -l)
	as_pg radosgw -c "$RGW_CONF" -n client.rgw >>"$RGW_DIR/log/setup.log" 2>&1 || {
		echo "rgw_up: radosgw failed to start:" >&2
		tail -n 20 "$RGW_DIR/log/setup.log" "$RGW_DIR/log/client.rgw.log" >&2 2>/dev/null
		return 1
	}
	_rgw_i=0
	_rgw_why="did not answer at $RGW_URL in 60 s"
	while [ $_rgw_i -lt 600 ]; do
		_rgw_p=$(cat "$RGW_DIR/run/client.rgw.pid" 2>/dev/null || true)
		if [ -n "$_rgw_p" ] && ! _rgw_alive "$_rgw_p"; then
			_rgw_why="exited"
			break
		fi
		# The gateway detaches first; when it then cannot listen (the
		# port taken since rgw_down), it says so and exits.
		if tail -n +$((_rgw_l + 1)) "$RGW_DIR/log/client.rgw.log" 2>/dev/null |
			grep -q 'ERROR: failed initializing'; then
			_rgw_why="failed"
			break
		fi
		if [ -n "$_rgw_p" ] && curl -s -o /dev/null -m 2 "$RGW_URL/"; then
			RGW_PID=$_rgw_p
			RGW_PIDS="$RGW_CEPH_PIDS $RGW_PID"
			return 0
		fi
		sleep 0.1
		_rgw_i=$((_rgw_i + 1))
	done
	echo "rgw_up: radosgw $_rgw_why; the end of its log and of the OSD's:" >&2
	tail -n 20 "$RGW_DIR/log/client.rgw.log" >&2 2>/dev/null
	tail -n 5 "$RGW_DIR/log/osd.0.log" >&2 2>/dev/null
	[ ! -s "$RGW_DIR/run/client.rgw.pid" ] || _rgw_kill "$(cat "$RGW_DIR/run/client.rgw.pid")"
	return 1
}

# rgw_down: stop only the gateway (S3 unreachable: connections to RGW_URL
# are refused); rgw_up brings it back.
rgw_down() {
	[ -n "${RGW_PID:-}" ] || return 0
	_rgw_kill "$RGW_PID"
	RGW_PID=""
	RGW_PIDS=$RGW_CEPH_PIDS
}

# rgw_stop: stop what rgw_start started (gateway, OSD, monitor, in that
# order, each gone before the next) and leave RGW_DIR removable.  The OSD
# shuts down fast (osd_fast_shutdown): memstore does not write its objects
# out.
rgw_stop() {
	rgw_down
	for _rgw_p in $(echo "${RGW_CEPH_PIDS:-}" | awk '{for (i = NF; i > 0; i--) print $i}'); do
		_rgw_kill "$_rgw_p"
	done
	RGW_CEPH_PIDS=""
	RGW_PIDS=""
}

# _rgw_kill PID: SIGTERM, and SIGKILL if still there after 30 s; returns
# once PID has exited.  The daemons are not this shell's children: once they
# exit they are zombies until init reaps them (a second or two in some
# containers), so a zombie counts as gone, unlike for wait_gone.
_rgw_kill() {
	kill "$1" 2>/dev/null || return 0
	_rgw_i=0
	while _rgw_alive "$1"; do
		[ $_rgw_i -ne 300 ] || kill -9 "$1" 2>/dev/null
		[ $_rgw_i -lt 400 ] || { echo "rgw: pid $1 did not exit" >&2; return 1; }
		sleep 0.1
		_rgw_i=$((_rgw_i + 1))
	done
}

_rgw_alive() {
	[ -e "/proc/$1" ] && ! sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'
}
