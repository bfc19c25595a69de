#!/bin/sh
# /readyz says 503 while PostgreSQL is down, API calls get 503 (MLflow clients
# retry those), and everything recovers when the database returns.
set -eu
. "$ROOT/tests/lib.sh"
port=$(free_port)
BASE="http://127.0.0.1:$port"
log="$WORK/readyz.log"
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$port" --data-dir "$WORK/d3" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; pg_up >/dev/null 2>&1 || true' EXIT
wait_http "$BASE/readyz" 60 || fail "server did not start"

pg_down
code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz")
[ "$code" = 503 ] || fail "readyz with the database down: $code"
api GET "/api/2.0/mlflow/experiments/get?experiment_id=0"
body=$BODY
[ "$HTTP_STATUS" = 503 ] || fail "API with the database down: $HTTP_STATUS $body"
echo "$body" | grep -q TEMPORARILY_UNAVAILABLE || fail "503 body: $body"
code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz")
[ "$code" = 200 ] || fail "healthz must stay 200 (the process is alive): $code"

pg_up
wait_http "$BASE/readyz" 30 || fail "readyz did not recover"
api GET "/api/2.0/mlflow/experiments/get?experiment_id=0"
[ "$HTTP_STATUS" = 200 ] || fail "API did not recover: $HTTP_STATUS"
kill -TERM "$pid"
wait "$pid" || fail "exit status after SIGTERM"
trap - EXIT
echo "readyz: 503 while down, recovered"
