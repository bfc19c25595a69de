#!/bin/sh
# --cors-origin and --allowed-host (and MLTRACK_CORS_ORIGINS,
# MLTRACK_ALLOWED_HOSTS): an allowed origin gets its preflights answered and
# its writes through, with Access-Control-Allow-Origin and Vary: Origin;
# every other origin gets no grant and its writes refused; Host names the
# server was told about are answered, others refused; a server bound to a
# wildcard address answers any IP literal but no DNS name; '*' turns the
# Host check off; flags win over the environment; bad values are usage
# errors.  (tests/api/test_hostile_http.py covers the defaults.)
set -eu
. "$ROOT/tests/lib.sh"
log="$WORK/cors.log"
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null || true' EXIT

start() { # start ARGS...: a server on a free port; sets port, BASE, pid
	port=$(free_port)
	BASE="http://127.0.0.1:$port"
	"$BUILD/mltrackd" --database-url "$PGCONN" --port "$port" --data-dir "$WORK/d12" "$@" \
		>>"$log" 2>&1 &
	pid=$!
	wait_http "$BASE/healthz" 60 || { tail -n 20 "$log"; fail "server did not start: $*"; }
}
stop() {
	kill -TERM "$pid"
	wait "$pid" || fail "server exit status"
	pid=""
}

# req METHOD PATH [curl args...]: sets CODE, HDRS (lower-case header lines), BODY
req() {
	m=$1 p=$2
	shift 2
	CODE=$(curl -s -o "$WORK/body" -D "$WORK/hdrs" -w '%{http_code}' -X "$m" "$@" "$BASE$p")
	HDRS=$(tr -d '\r' <"$WORK/hdrs" | tr 'A-Z' 'a-z')
	BODY=$(cat "$WORK/body")
}
hdr() { printf '%s\n' "$HDRS" | sed -n "s/^$1: //p" | head -n 1; }
no_cors() { printf '%s\n' "$HDRS" | grep -q '^access-control-' && fail "$1: CORS headers: $HDRS" || true; }
JSON='Content-Type: application/json'
exists() { # exists NAME: 200 when the experiment exists
	curl -s -o /dev/null -w '%{http_code}' "$BASE/api/2.0/mlflow/experiments/get-by-name?experiment_name=$1"
}

# ---- 1. flags: two allowed origins, one more host name ----
start --cors-origin http://app.example:8080 --cors-origin HTTPS://Notebook.Example/ \
	--allowed-host mltrack.example
APP=http://app.example:8080
for o in $APP https://notebook.example https://notebook.example:443; do
	req OPTIONS /api/2.0/mlflow/experiments/create -H "Origin: $o" \
		-H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type'
	[ "$CODE" = 204 ] || fail "preflight from $o: $CODE $BODY"
	[ "$(hdr access-control-allow-origin)" = "$o" ] || fail "preflight from $o: $HDRS"
	hdr vary | grep -qi origin || fail "preflight without Vary: Origin: $HDRS"
	hdr access-control-allow-methods | grep -qi post || fail "preflight methods: $HDRS"
	hdr access-control-allow-methods | grep -qi delete || fail "preflight methods: $HDRS"
	hdr access-control-allow-headers | grep -qi content-type || fail "preflight headers: $HDRS"
	[ -n "$(hdr access-control-max-age)" ] || fail "preflight max-age: $HDRS"
	[ "$(hdr x-content-type-options)" = nosniff ] || fail "preflight nosniff: $HDRS"
done
for o in http://app.example:8081 http://app.example https://app.example:8080 http://evil.example null; do
	req OPTIONS /api/2.0/mlflow/experiments/create -H "Origin: $o" \
		-H 'Access-Control-Request-Method: POST'
	[ "$CODE" = 403 ] || fail "preflight from $o: $CODE"
	no_cors "preflight from $o"
done

n1=cors-ok-$$
req POST /api/2.0/mlflow/experiments/create -H "$JSON" -H "Origin: $APP" \
	-H 'Sec-Fetch-Site: cross-site' -d "{\"name\": \"$n1\"}"
[ "$CODE" = 200 ] || fail "write from the allowed origin: $CODE $BODY"
[ "$(hdr access-control-allow-origin)" = "$APP" ] || fail "no grant on the answer: $HDRS"
hdr vary | grep -qi origin || fail "no Vary: Origin: $HDRS"
[ "$(exists "$n1")" = 200 ] || fail "allowed write not stored"
req GET "/api/2.0/mlflow/experiments/get-by-name?experiment_name=$n1" -H "Origin: $APP"
[ "$CODE" = 200 ] && [ "$(hdr access-control-allow-origin)" = "$APP" ] || fail "read grant: $HDRS"
req GET "/api/2.0/mlflow/experiments/get-by-name?experiment_name=nope-$$" -H "Origin: $APP"
[ "$CODE" = 404 ] && [ "$(hdr access-control-allow-origin)" = "$APP" ] || fail "error grant: $HDRS"

n2=cors-no-$$
for o in http://app.example:8081 http://evil.example; do
	req POST /api/2.0/mlflow/experiments/create -H "$JSON" -H "Origin: $o" -d "{\"name\": \"$n2\"}"
	[ "$CODE" = 403 ] || fail "write from $o: $CODE"
	no_cors "write from $o"
	echo "$BODY" | grep -q PERMISSION_DENIED || fail "403 body: $BODY"
done
req POST /api/2.0/mlflow/experiments/create -H "$JSON" -H 'Sec-Fetch-Site: cross-site' \
	-d "{\"name\": \"$n2\"}"
[ "$CODE" = 403 ] || fail "cross-site write without Origin: $CODE"
[ "$(exists "$n2")" = 404 ] || fail "refused write was stored"

for h in mltrack.example "mltrack.example:$port" MLTRACK.EXAMPLE localhost "127.0.0.1:$port" "[::1]"; do
	req GET /api/2.0/mlflow/experiments/get?experiment_id=0 -H "Host: $h"
	[ "$CODE" = 200 ] || fail "Host $h: $CODE $BODY"
done
for h in other.example mltrack.example.evil.example 10.0.0.1; do
	req GET /api/2.0/mlflow/experiments/get?experiment_id=0 -H "Host: $h"
	[ "$CODE" = 403 ] || fail "Host $h: $CODE"
done
stop

# ---- 2. the environment, and flags winning over it ----
MLTRACK_CORS_ORIGINS='http://a.example, http://b.example:9000' \
MLTRACK_ALLOWED_HOSTS='h1.example,h2.example' start
for o in http://a.example http://b.example:9000; do
	req OPTIONS /api/2.0/mlflow/runs/create -H "Origin: $o" -H 'Access-Control-Request-Method: POST'
	[ "$CODE" = 204 ] && [ "$(hdr access-control-allow-origin)" = "$o" ] || fail "env origin $o: $CODE"
done
for h in h1.example h2.example:80; do
	req GET /api/2.0/mlflow/experiments/get?experiment_id=0 -H "Host: $h"
	[ "$CODE" = 200 ] || fail "env Host $h: $CODE"
done
stop
MLTRACK_CORS_ORIGINS='http://a.example' MLTRACK_ALLOWED_HOSTS='h1.example' \
	start --allowed-host h3.example --cors-origin http://c.example
req GET /api/2.0/mlflow/experiments/get?experiment_id=0 -H 'Host: h1.example'
[ "$CODE" = 403 ] || fail "flag did not replace MLTRACK_ALLOWED_HOSTS: $CODE"
req GET /api/2.0/mlflow/experiments/get?experiment_id=0 -H 'Host: h3.example'
[ "$CODE" = 200 ] || fail "flag host: $CODE"
req OPTIONS /api/2.0/mlflow/runs/create -H 'Origin: http://a.example' -H 'Access-Control-Request-Method: POST'
[ "$CODE" = 403 ] || fail "flag did not replace MLTRACK_CORS_ORIGINS: $CODE"
req OPTIONS /api/2.0/mlflow/runs/create -H 'Origin: http://c.example' -H 'Access-Control-Request-Method: POST'
[ "$CODE" = 204 ] || fail "flag origin: $CODE"
stop

# ---- 3. bound to a wildcard address: any IP literal, no DNS name ----
# (No user is defined: a non-loopback bind then needs --insecure-no-auth;
# tests/api/test_auth.py tests the refusal.)
start --host 0.0.0.0 --insecure-no-auth
for h in "10.1.2.3:$port" 192.168.0.7 "[fe80::1]:$port" "[2001:db8::5]" localhost; do
	req GET /api/2.0/mlflow/experiments/get?experiment_id=0 -H "Host: $h"
	[ "$CODE" = 200 ] || fail "wildcard bind, Host $h: $CODE"
done
for h in evil.example "$(hostname).evil.example" 10.1.2.3.nip.io; do
	req GET /api/2.0/mlflow/experiments/get?experiment_id=0 -H "Host: $h"
	[ "$CODE" = 403 ] || fail "wildcard bind, Host $h: $CODE"
done
stop

# ---- 4. '*': the Host check off (a proxy in front checks it) ----
start --allowed-host '*'
for h in evil.example anything.at.all; do
	req GET /api/2.0/mlflow/experiments/get?experiment_id=0 -H "Host: $h"
	[ "$CODE" = 200 ] || fail "--allowed-host '*', Host $h: $CODE"
done
# Origins are still checked against the Host the request names.
req POST /api/2.0/mlflow/experiments/create -H "$JSON" -H 'Host: evil.example' \
	-H 'Origin: http://other.example' -d '{"name": "star-no"}'
[ "$CODE" = 403 ] || fail "cross-origin write behind '*': $CODE"
req POST /api/2.0/mlflow/experiments/create -H "$JSON" -H 'Host: proxy.example' \
	-H 'Origin: https://proxy.example' -d "{\"name\": \"star-ok-$$\"}"
[ "$CODE" = 200 ] || fail "same-origin write through a TLS proxy: $CODE $BODY"
stop

# ---- 5. bad values are usage errors ----
for args in "--cors-origin *" "--cors-origin null" "--cors-origin http://x.example/path" \
	"--cors-origin x.example" "--cors-origin http://x.example:99999" "--allowed-host a/b" \
	"--allowed-host a@b" "--allowed-host ''" "--cors-origin"; do
	# shellcheck disable=SC2086
	rc=0
	eval "\"\$BUILD/mltrackd\" --database-url \"\$PGCONN\" --port 1 $args" >"$WORK/usage" 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "mltrackd $args: exit $rc: $(cat "$WORK/usage")"
done
"$BUILD/mltrackd" --help | grep -q -- '--cors-origin ORIGIN' || fail "--help lacks --cors-origin"
"$BUILD/mltrackd" --help | grep -q -- '--allowed-host HOST' || fail "--help lacks --allowed-host"

trap - EXIT
grep -E '(AddressSanitizer|runtime error)' "$log" && fail "sanitizer report"
echo "cors and hosts: allowed origins granted, others refused; Host lists, wildcard bind, '*'"
