# tests/bench/auth.sh (sourced by run.sh, section "auth"): what
# authentication (and, once landed, authorization) costs per request.
#
# A second mltrackd on a database of its own with users defined: "root"
# (the first user, an admin) and "bench", an ordinary user who creates the
# experiment the runs are in (so a permission check, where there is one,
# finds a row and lets the request through).  Against the auth-off server of
# run.sh, on the same PostgreSQL:
#   - one connection, serial GETs of runs/get: per-request time is 1/rate,
#     and the difference is what authenticating one request costs, with a
#     Bearer token and with Basic user:password (verified once, then
#     remembered);
#   - log-batch of 1000 points, 4 clients, with a token: points/s against
#     the auth-off server's.
echo "== 10. authentication cost (runs/get serially, log-batch 4 clients, ${DUR}s each, twice)"
auth_db="bench_auth"
psql_q "CREATE DATABASE $auth_db" >/dev/null
AUTH_CONN=$(echo "$PGCONN" | sed "s/dbname=postgres/dbname=$auth_db/")
AUTH_PORT=$(free_port)
AUTH_BASE="http://127.0.0.1:$AUTH_PORT"
"$BUILD/mltrackd" --database-url "$AUTH_CONN" --port "$AUTH_PORT" --data-dir "$WORK/data-auth" \
	>"$WORK/mltrackd-auth.log" 2>&1 &
AUTH_PID=$!
wait_http "$AUTH_BASE/readyz" 60
echo "bench-root-pass" | "$BUILD/mltrackd" user add root --admin --password-stdin \
	--database-url "$AUTH_CONN" >/dev/null 2>&1
echo "bench-user-pass" | "$BUILD/mltrackd" user add bench --password-stdin \
	--database-url "$AUTH_CONN" >/dev/null 2>&1
AUTH_TOKEN=$("$BUILD/mltrackd" token create --user bench --name bench --database-url "$AUTH_CONN" 2>/dev/null)
BEARER="Bearer $AUTH_TOKEN"
BASIC="Basic $(printf 'bench:bench-user-pass' | base64)"
sleep 1.2 # the running server notices its first user within a second

authed() { # authed AUTH METHOD PATH [JSON]: BODY from the auth-on server
	BODY=$(curl -s -X "$2" -H 'Content-Type: application/json' -H "Authorization: $1" \
		${4:+-d "$4"} "$AUTH_BASE$3")
}
authed "$BEARER" POST /api/2.0/mlflow/experiments/create '{"name":"bench-auth"}'
aexp=$(echo "$BODY" | json_get experiment_id)
aruns=""
for i in 1 2 3 4; do
	authed "$BEARER" POST /api/2.0/mlflow/runs/create "{\"experiment_id\":\"$aexp\"}"
	aruns="$aruns $(echo "$BODY" | json_get run info run_id)"
done
arun=$(echo $aruns | cut -d' ' -f1)
api POST /api/2.0/mlflow/experiments/create '{"name":"bench-noauth"}'
nexp=$(echo "$BODY" | json_get experiment_id)
nruns=$(new_runs 4 "$nexp")
nrun=$(echo $nruns | cut -d' ' -f1)

# Alternated, twice, and the better of the two kept: the machine's other
# load then weighs on each kind alike.
best_rps() { # best_rps FILE...: the highest Requests/sec
	for f in "$@"; do rps "$f"; done | sort -g | tail -n 1
}
for r in 1 2; do
	wrk_run "$WORK/get-off$r" -t1 -c1 -d"${DUR}s" -s "$ROOT/tests/bench/get.lua" \
		"$BASE/api/2.0/mlflow/runs/get?run_id=$nrun"
	BENCH_AUTH="$BEARER" wrk_run "$WORK/get-token$r" -t1 -c1 -d"${DUR}s" \
		-s "$ROOT/tests/bench/get.lua" "$AUTH_BASE/api/2.0/mlflow/runs/get?run_id=$arun"
	BENCH_AUTH="$BASIC" wrk_run "$WORK/get-basic$r" -t1 -c1 -d"${DUR}s" \
		-s "$ROOT/tests/bench/get.lua" "$AUTH_BASE/api/2.0/mlflow/runs/get?run_id=$arun"
done
us() { awk -v r="$(best_rps "$@")" 'BEGIN {printf "%.1f", 1e6 / r}'; }
get_off=$(us "$WORK/get-off1" "$WORK/get-off2")
get_token=$(us "$WORK/get-token1" "$WORK/get-token2")
get_basic=$(us "$WORK/get-basic1" "$WORK/get-basic2")
cost_token=$(awk -v a="$get_token" -v b="$get_off" 'BEGIN {printf "%.1f", a - b}')
cost_basic=$(awk -v a="$get_basic" -v b="$get_off" 'BEGIN {printf "%.1f", a - b}')
echo "runs/get serially: ${get_off} us/request without auth, ${get_token} with a token" \
	"(${cost_token} us more), ${get_basic} with Basic user:password (${cost_basic} us more)"

for r in 1 2; do
	# shellcheck disable=SC2086
	wrk_run "$WORK/abatch-off$r" -t4 -c4 -d"${DUR}s" -s "$ROOT/tests/bench/log_batch.lua" \
		"$BASE" -- $nruns
	# shellcheck disable=SC2086
	BENCH_AUTH="$BEARER" wrk_run "$WORK/abatch-token$r" -t4 -c4 -d"${DUR}s" \
		-s "$ROOT/tests/bench/log_batch.lua" "$AUTH_BASE" -- $aruns
done
abatch_off=$(awk -v r="$(best_rps "$WORK/abatch-off1" "$WORK/abatch-off2")" 'BEGIN {printf "%.0f", r * 1000}')
abatch_token=$(awk -v r="$(best_rps "$WORK/abatch-token1" "$WORK/abatch-token2")" 'BEGIN {printf "%.0f", r * 1000}')
abatch_pct=$(awk -v a="$abatch_token" -v b="$abatch_off" 'BEGIN {printf "%+.1f", (a / b - 1) * 100}')
echo "log-batch 4 clients: $abatch_off points/s without auth, $abatch_token with a token ($abatch_pct%)"
# Measured inside the server too, free of the client's and the machine's
# noise: the time auth_request() took, per method (GET /metrics).
curl -s -H "Authorization: $BEARER" "$AUTH_BASE/metrics" >"$WORK/auth-metrics"
in_server() { # in_server METHOD: mean microseconds per authentication
	awk -v m="method=\"$1\"" '
		index($0, "mltrack_auth_total{" m "}") == 1 { n = $2 }
		index($0, "mltrack_auth_seconds_total{" m "}") == 1 { s = $2 }
		END { if (n > 0) printf "%.1f", s / n * 1e6; else print "-" }' "$WORK/auth-metrics"
}
srv_token=$(in_server token)
srv_basic=$(in_server password)
echo "inside mltrackd: ${srv_token} us per token authentication, ${srv_basic} us per password one" \
	"(mean over every request of this section, the first password's KDF included)"
kill -TERM "$AUTH_PID"
wait "$AUTH_PID" || true
grep -q "$AUTH_TOKEN" "$WORK/mltrackd-auth.log" && fail "the token is in the server's log"
row "runs/get, one connection: per request without auth" "$get_off us"
row "... cost of a Bearer token" "$cost_token us" "< 50 us"
row "... cost of Basic user:password (remembered after the first)" "$cost_basic us" "< 50 us"
row "... time in auth_request() per request, token (mltrackd's /metrics)" "$srv_token us" "< 50 us"
row "... the same, Basic user:password" "$srv_basic us" "< 50 us"
row "log-batch 1000 points, 4 clients, token vs no auth" "$abatch_token vs $abatch_off points/s ($abatch_pct%)" "> -5%"
