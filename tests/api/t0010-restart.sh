#!/bin/sh
# Acknowledged writes survive a graceful stop (SIGTERM exits 0 after finishing
# requests) and a restart against the same database.
set -eu
. "$ROOT/tests/lib.sh"
port=$(free_port)
BASE="http://127.0.0.1:$port"
log="$WORK/restart.log"
start() {
	"$BUILD/mltrackd" --database-url "$PGCONN" --port "$port" --data-dir "$WORK/d2" >>"$log" 2>&1 &
	pid=$!
	wait_http "$BASE/readyz" 60 || { cat "$log"; fail "server did not start"; }
}
start
name="restart-$$"
api POST /api/2.0/mlflow/experiments/create "{\"name\":\"$name\"}"
[ "$HTTP_STATUS" = 200 ] || fail "create experiment: $HTTP_STATUS $BODY"
exp=$(echo "$BODY" | json_get experiment_id)
api POST /api/2.0/mlflow/runs/create "{\"experiment_id\":\"$exp\"}"
run=$(echo "$BODY" | json_get run info run_id)
api POST /api/2.0/mlflow/runs/log-batch "{\"run_id\":\"$run\",\"metrics\":[{\"key\":\"m\",\"value\":1.5,\"timestamp\":5,\"step\":3}],\"params\":[{\"key\":\"p\",\"value\":\"v\"}]}"
[ "$HTTP_STATUS" = 200 ] || fail "log-batch: $HTTP_STATUS $BODY"
api GET "/api/2.0/mlflow/runs/get?run_id=$run"
before=$BODY

kill -TERM "$pid"
wait "$pid" && rc=0 || rc=$?
[ "$rc" = 0 ] || fail "mltrackd exited $rc on SIGTERM"
grep -q 'SIGTERM received' "$log" || fail "no shutdown message"

start
api GET "/api/2.0/mlflow/runs/get?run_id=$run"
after=$BODY
[ "$before" = "$after" ] || fail "run changed across restart: $before / $after"
echo "$after" | grep -q '"key":"m","value":1.5,"timestamp":5,"step":3' || fail "metric lost: $after"
kill -TERM "$pid"
wait "$pid" || fail "second SIGTERM exit"
grep -E '(AddressSanitizer|runtime error)' "$log" && fail "sanitizer report"
echo "restart: data survived, SIGTERM exits 0"
