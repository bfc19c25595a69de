# tests/bench/slow.sh: make bench, section "slow" (sourced by run.sh, which
# provides row, fail, free_port, wait_http, PGCONN, BUILD, WORK, ROOT).
#
# A fresh mltrackd with its default settings (plus $BENCH_SLOW_FLAGS, e.g.
# "--threads 128"), its resident memory idle, then for each case 100 slow
# clients of one kind (tests/bench/slow_clients.py: idle keep-alive, a head
# trickled a byte a second, a body trickled a byte a second after its
# Content-Length), each from its own loopback address 127.0.0.2-101, while
# one client at 127.0.0.1 times requests on new connections for
# BENCH_SLOW_SECONDS (default 15): p50, p99 and max, failures, and the
# server's peak RSS during the case.  The last case runs the three kinds at
# once (300 clients: more than the 256 workers); when nginx is installed, it
# runs again through deploy/nginx/mltrack.conf (TLS taken out, ports
# rewritten) in front of a second mltrackd with the cap off, as
# docs/operations.md describes.
SLOW_S=${BENCH_SLOW_SECONDS:-15}
SLOW_PORT=$(free_port)
# shellcheck disable=SC2086
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$SLOW_PORT" --data-dir "$WORK/slow-data" \
	${BENCH_SLOW_FLAGS:-} >"$WORK/slow.log" 2>&1 &
SLOW_PID=$!
wait_http "http://127.0.0.1:$SLOW_PORT/readyz" 60 || { tail "$WORK/slow.log"; fail "slow: server did not start"; }
curl -sf -o /dev/null "http://127.0.0.1:$SLOW_PORT/api/2.0/mlflow/experiments/get?experiment_id=0"
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$SLOW_PID/status"; }
idle_rss=$(rss_kb)
threads=$(ls "/proc/$SLOW_PID/task" | wc -l)
echo "== slow clients: mltrackd ${BENCH_SLOW_FLAGS:-(defaults)}, $threads threads, idle RSS $((idle_rss / 1024)) MB"
row "mltrackd idle RSS (${BENCH_SLOW_FLAGS:-defaults}, $threads threads)" "$((idle_rss / 1024)) MB"

for case in none idle head body idle,head,body; do
	: >"$WORK/slow.rss"
	( while kill -0 "$SLOW_PID" 2>/dev/null; do rss_kb >>"$WORK/slow.rss"; sleep 0.5; done ) &
	sampler=$!
	out=$(python3 "$ROOT/tests/bench/slow_clients.py" "$SLOW_PORT" "$case" 100 "$SLOW_S")
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	peak=$(sort -n "$WORK/slow.rss" | tail -n 1)
	set -- $(echo "$out" | python3 -c 'import json, sys
r = json.load(sys.stdin)
print(r["slow"], r["requests"], r["failures"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["slow_connects"])')
	label=$case
	[ "$case" = none ] && label="no slow clients"
	[ "$case" = idle,head,body ] && label="idle + head + body at once"
	echo "slow: $label ($1 slow, $7 slow connections opened): $2 requests, $3 failed," \
		"p50 $4 ms, p99 $5 ms, max $6 ms; peak RSS $((peak / 1024)) MB"
	row "normal requests, $label ($1 slow): p50 / p99 / max" "$4 / $5 / $6 ms ($3 of $2 failed)" \
		"max < 1000 ms"
	row "mltrackd peak RSS, $label" "$((peak / 1024)) MB"
done
kill "$SLOW_PID" 2>/dev/null && wait_gone "$SLOW_PID" 20 || true

if [ "${BENCH_SLOW_PROXY:-1}" = 0 ]; then
	echo "slow: BENCH_SLOW_PROXY=0: the case through deploy/nginx/mltrack.conf is skipped"
elif command -v nginx >/dev/null 2>&1; then
	NGX=$WORK/nginx
	mkdir -p "$NGX"
	for d in body proxy fastcgi uwsgi scgi; do mkdir -p "$NGX/$d" && chmod 777 "$NGX/$d"; done
	UP_PORT=$(free_port)
	NGX_PORT=$(free_port)
	"$BUILD/mltrackd" --database-url "$PGCONN" --port "$UP_PORT" --data-dir "$WORK/slow-data2" \
		--max-connections-per-address 0 >"$WORK/slow-up.log" 2>&1 &
	UP_PID=$!
	sed -e "s/listen 443 ssl;/listen 127.0.0.1:$NGX_PORT;/" -e '/listen \[::\]:443 ssl;/d' \
		-e '/ssl_certificate/d' -e "s/server 127.0.0.1:5170;/server 127.0.0.1:$UP_PORT;/" \
		"$ROOT/deploy/nginx/mltrack.conf" >"$NGX/mltrack.conf"
	printf '%s\n' "daemon off;" "worker_processes 1;" "pid $NGX/nginx.pid;" \
		"error_log $NGX/error.log;" "events { worker_connections 4096; }" "http {" \
		"	access_log off;" "	client_body_temp_path $NGX/body;" \
		"	proxy_temp_path $NGX/proxy;" "	fastcgi_temp_path $NGX/fastcgi;" \
		"	uwsgi_temp_path $NGX/uwsgi;" "	scgi_temp_path $NGX/scgi;" \
		"	include $NGX/mltrack.conf;" "}" >"$NGX/nginx.conf"
	nginx -p "$NGX" -c "$NGX/nginx.conf" &
	NGX_PID=$!
	wait_http "http://127.0.0.1:$UP_PORT/readyz" 60 || fail "slow: upstream mltrackd did not start"
	wait_http "http://127.0.0.1:$NGX_PORT/readyz" 30 || { cat "$NGX/error.log"; fail "slow: nginx did not start"; }
	out=$(python3 "$ROOT/tests/bench/slow_clients.py" "$NGX_PORT" idle,head,body 100 "$SLOW_S")
	set -- $(echo "$out" | python3 -c 'import json, sys
r = json.load(sys.stdin)
print(r["slow"], r["requests"], r["failures"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["slow_connects"])')
	up_rss=$(awk '/^VmHWM/ {print $2}' "/proc/$UP_PID/status")
	echo "slow: through nginx, idle + head + body at once ($1 slow, $7 slow connections opened):" \
		"$2 requests, $3 failed, p50 $4 ms, p99 $5 ms, max $6 ms; mltrackd peak RSS $((up_rss / 1024)) MB"
	row "normal requests through nginx (deploy/nginx), idle + head + body at once ($1 slow): p50 / p99 / max" \
		"$4 / $5 / $6 ms ($3 of $2 failed)" "max < 1000 ms"
	kill "$NGX_PID" "$UP_PID" 2>/dev/null || true
	wait_gone "$UP_PID" 20 || true
	wait "$NGX_PID" 2>/dev/null || true
else
	echo "slow: nginx is not installed: the case through deploy/nginx/mltrack.conf is skipped"
fi
