#!/bin/sh
# tests/bench/authz.sh BUILD_DIR: what authentication and authorization cost
# per request (docs/PERFORMANCE.md, "Authorization (issue 13)").
#
# Two mltrackd on two databases of one throwaway PostgreSQL cluster: one
# never has a user, the other has an admin and a user with EDIT on the
# experiment (a row).  wrk with one kept-alive connection, so a request's
# time is 1/throughput; BENCH_SECONDS (default 10) per run, the best of
# BENCH_REPEAT (default 3) runs, the cases interleaved; and the CPU time
# mltrackd and PostgreSQL spent per request (less disturbed by other load
# on the machine than throughput), and, from mltrackd's /metrics, the time
# spent authorizing and authenticating (mltrack_authz_seconds_total,
# mltrack_auth_seconds_total; lookups included, other load on the machine
# hardly).  runs/get and runs/log-metric, each:
#   off     no user exists: nothing is checked
#   admin   an admin's token: the token is looked up, authorization skipped
#   user    the user's token: the token is looked up, and the permission
#           (run -> its experiment -> the user's row) is one query more
#   scoped  the user's token scoped to experiment:ID:EDIT: the same, and the
#           scope parsed
# Run:  sh tests/bench/authz.sh build/default
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$1" && pwd)
DUR=${BENCH_SECONDS:-10}
REPEAT=${BENCH_REPEAT:-3}
. "$ROOT/tests/lib.sh"
command -v wrk >/dev/null || fail "wrk is missing (make deps)"

WORK=$(mktemp -d /tmp/mltrack-bench-authz.XXXXXX)
chmod 755 "$WORK"
cleanup() {
	for f in "$WORK"/*.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null && wait_gone "$(cat "$f")" 10 || true
	done
	pg_down
	[ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
pg_start "$WORK/pg"

J='Content-Type: application/json'
post() { # post PATH JSON [curl args...]: the answer
	p=$1 b=$2
	shift 2
	curl -sf -H "$J" -X POST "$@" -d "$b" "$BASE/api/2.0/$p"
}

# start NAME: a server on database NAME, an experiment and a run; sets BASE,
# EXP and writes the wrk scripts into $WORK/NAME/.
start() {
	psql_q "CREATE DATABASE $1"
	mkdir -p "$WORK/$1"
	port=$(free_port)
	"$BUILD/mltrackd" --database-url "$(echo "$PGCONN" | sed "s/dbname=postgres/dbname=$1/")" \
		--port "$port" --data-dir "$WORK/$1/data" >"$WORK/$1/mltrackd.log" 2>&1 &
	echo $! >"$WORK/$1.pid"
	BASE="http://127.0.0.1:$port"
	wait_http "$BASE/readyz" 60 || { cat "$WORK/$1/mltrackd.log"; exit 1; }
	EXP=$(post mlflow/experiments/create '{"name":"bench-authz"}' | json_get experiment_id)
	run=$(post mlflow/runs/create "{\"experiment_id\":\"$EXP\"}" | json_get run info run_id)
	printf 'wrk.method = "GET"\nwrk.path = "/api/2.0/mlflow/runs/get?run_id=%s"\n' "$run" \
		>"$WORK/$1/get.lua"
	cat >"$WORK/$1/metric.lua" <<EOF
local seq = 0
function request()
	seq = seq + 1
	local h = { ["Content-Type"] = "application/json" }
	for k, v in pairs(wrk.headers) do h[k] = v end -- the -H Authorization
	return wrk.format("POST", "/api/2.0/mlflow/runs/log-metric", h,
		string.format('{"run_id":"$run","key":"loss","value":%d.5,"timestamp":%d,"step":%d}',
			seq, 1700000000000 + seq, seq))
end
EOF
}

start benchoff
BASE_OFF=$BASE
start benchon
post mlflow/users/create '{"username":"root","password":"bench-root-pw"}' >/dev/null
post mlflow/users/create '{"username":"bench","password":"bench-user-pw"}' -u root:bench-root-pw \
	>/dev/null
post mlflow/experiments/permissions/create \
	"{\"experiment_id\":\"$EXP\",\"username\":\"bench\",\"permission\":\"EDIT\"}" \
	-u root:bench-root-pw >/dev/null
ADMIN=$(post mltrack/auth/tokens/create '{"name":"b"}' -u root:bench-root-pw | json_get secret)
USER=$(post mltrack/auth/tokens/create '{"name":"b"}' -u bench:bench-user-pw | json_get secret)
SCOPED=$(post mltrack/auth/tokens/create "{\"name\":\"s\",\"scope\":\"experiment:$EXP:EDIT\"}" \
	-u bench:bench-user-pw | json_get secret)

# The auth-on server's own counters (/metrics): "authz-seconds authz-count
# auth-seconds auth-count", the token methods' for authentication.
counters() {
	curl -s -H "Authorization: Bearer $ADMIN" "$BASE/metrics" | awk '
		/^mltrack_authz_seconds_total / {zs = $2}
		/^mltrack_authz_total\{/ {zn += $2}
		/^mltrack_auth_seconds_total\{method="token"\}/ {as = $2}
		/^mltrack_auth_total\{method="token"\}/ {an = $2}
		END {print zs, zn, as, an}'
}

# one CASE WHAT: "requests/s CPU-us/request" of one wrk run (fails on any
# non-2xx answer); for the auth-on cases, the microseconds authorization
# and authentication took per request inside mltrackd are appended to
# $WORK/inproc.CASE.WHAT.
one() {
	case $1 in
	off) u=$BASE_OFF d=benchoff h="" ;;
	admin) u=$BASE d=benchon h="Authorization: Bearer $ADMIN" ;;
	user) u=$BASE d=benchon h="Authorization: Bearer $USER" ;;
	scoped) u=$BASE d=benchon h="Authorization: Bearer $SCOPED" ;;
	esac
	pid=$(cat "$WORK/$d.pid")
	[ "$1" = off ] || c0=$(counters)
	t0=$(cpu_ticks "$pid")
	r=$(wrk -t1 -c1 -d"${DUR}s" -s "$WORK/$d/$2.lua" ${h:+-H "$h"} "$u" 2>&1 |
		awk '/Non-2xx/ {bad = 1} /requests in/ {n = $1} /Requests\/sec/ {rps = $2}
		     END {print bad ? "ERR" : rps " " n}')
	t1=$(cpu_ticks "$pid")
	[ "$r" = ERR ] && fail "$1 $2: requests were refused"
	[ "$1" = off ] || echo "$c0 $(counters)" | awk '{
		printf "%.1f %.1f\n", ($5 - $1) * 1e6 / ($6 - $2), ($7 - $3) * 1e6 / ($8 - $4) }' \
		>>"$WORK/inproc.$1.$2"
	echo "$r $t0 $t1 $(getconf CLK_TCK)" | awk '{printf "%s %.1f\n", $1, ($4 - $3) * 1e6 / $5 / $2}'
}

echo "== authentication and authorization per request: wrk, 1 connection, ${DUR} s runs," \
	"best of $REPEAT; CPU: mltrackd and PostgreSQL together"
for what in get metric; do
	for c in off admin user scoped; do
		eval "rps_$c=0 cpu_$c=999999"
	done
	for i in $(seq "$REPEAT"); do
		for c in off admin user scoped; do
			set -- $(one $c $what)
			eval "rps_$c=\$(echo $1 \$rps_$c | awk '{print (\$1 > \$2) ? \$1 : \$2}')"
			eval "cpu_$c=\$(echo $2 \$cpu_$c | awk '{print (\$1 < \$2) ? \$1 : \$2}')"
		done
	done
	name=$( [ $what = get ] && echo runs/get || echo runs/log-metric)
	for c in admin user scoped; do
		sort -n "$WORK/inproc.$c.$what" | awk -v n="$name" -v c="$c" '
			{z[NR] = $1; a[NR] = $2}
			END {m = int((NR + 1) / 2)
			     printf "%-16s %-7s inside mltrackd, median of %d runs: authorization " \
				"%5.1f us/req, authentication %5.1f us/req\n", n, c, NR, z[m], a[m]}'
	done
	for c in off admin user scoped; do
		eval "v=\$rps_$c cpu=\$cpu_$c"
		echo "$name $c $v $rps_off $rps_admin $cpu $cpu_off $cpu_admin" | awk '{
			us = 1e6 / $3
			printf "%-16s %-7s %6.0f req/s %7.1f us/req", $1, $2, $3, us
			if ($2 != "off") printf " (%+6.1f vs off", us - 1e6 / $4
			if ($2 == "user" || $2 == "scoped") printf ", %+6.1f vs admin", us - 1e6 / $5
			printf "%s   CPU %6.1f us/req", $2 != "off" ? ")" : "", $6
			if ($2 != "off") printf " (%+5.1f vs off", $6 - $7
			if ($2 == "user" || $2 == "scoped") printf ", %+5.1f vs admin", $6 - $8
			printf "%s\n", $2 != "off" ? ")" : "" }'
	done
done
