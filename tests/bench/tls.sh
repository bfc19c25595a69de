# tests/bench/tls.sh: make bench, section "tls" (sourced by run.sh, which
# provides row, fail, free_port, wait_http, PGCONN, BUILD, WORK, ROOT).
#
# What HTTPS costs, on loopback: a plain mltrackd and one with --tls-cert
# (a throwaway CA made here; RSA-2048, then an ECDSA P-256 certificate
# swapped in by SIGHUP), the same flags otherwise.  For each:
#   - keep-alive: BENCH_TLS_N (default 1000) GETs of experiments/get over one
#     connection (tests/bench/tls_client.py: mean, p50, p99 as the client
#     sees them), and mltrackd's CPU per request (the sum of its threads'
#     /proc schedstat run times before and after);
#   - the same through curl (one process, one connection, BENCH_TLS_N URLs);
#   - new connections: BENCH_TLS_NEW (default 300) times connect, handshake,
#     one GET, close; the difference to plain HTTP is the handshake;
#   - openssl s_time -new: full handshakes per second for 5 s (client and
#     server on the same cores).
TLS_N=${BENCH_TLS_N:-1000}
TLS_NEW=${BENCH_TLS_NEW:-300}
TD="$WORK/tlsbench"
mkdir -p "$TD"
command -v openssl >/dev/null || fail "tls: the openssl command is missing (make deps)"
(
	cd "$TD"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
		-subj "/CN=bench CA" -addext basicConstraints=critical,CA:TRUE 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext
	openssl req -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.csr -subj /CN=localhost 2>/dev/null
	openssl x509 -req -in rsa.csr -CA ca.pem -CAkey ca.key -set_serial 1 -days 2 -extfile ext \
		-out rsa.pem 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key -out ec.csr \
		-subj /CN=localhost 2>/dev/null
	openssl x509 -req -in ec.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2 -extfile ext \
		-out ec.pem 2>/dev/null
	cp rsa.pem server.pem
	cp rsa.key server.key
) || fail "tls: certificates"

TLS_HTTP_PORT=$(free_port)
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$TLS_HTTP_PORT" --data-dir "$WORK/tls-data" \
	>"$WORK/tls-http.log" 2>&1 &
TLS_HTTP_PID=$!
TLS_PORT=$(free_port)
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$TLS_PORT" --data-dir "$WORK/tls-data" \
	--tls-cert "$TD/server.pem" --tls-key "$TD/server.key" >"$WORK/tls-https.log" 2>&1 &
TLS_PID=$!
wait_http "http://127.0.0.1:$TLS_HTTP_PORT/readyz" 60 || fail "tls: plain server did not start"
i=0
until curl -sf -o /dev/null --cacert "$TD/ca.pem" "https://127.0.0.1:$TLS_PORT/readyz"; do
	i=$((i + 1))
	[ $i -lt 600 ] || { tail "$WORK/tls-https.log"; fail "tls: HTTPS server did not start"; }
	sleep 0.1
done

cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
field() { echo "$1" | python3 -c "import json, sys; print(json.load(sys.stdin)['$2'])"; }
P=/api/2.0/mlflow/experiments/get?experiment_id=0

# tls_case NAME URL PID [ENV=VALUE]: the keep-alive, curl and new-connection
# measurements of one configuration, as rows.
tls_case() {
	name=$1 url=$2 spid=$3
	shift 3
	c0=$(cpu_ns "$spid")
	ka=$(env "$@" python3 "$ROOT/tests/bench/tls_client.py" keepalive "$url$P" "$TLS_N" "$TD/ca.pem")
	c1=$(cpu_ns "$spid")
	ka_cpu=$(awk -v a="$c0" -v b="$c1" -v n="$((TLS_N + 1))" 'BEGIN {printf "%.0f", (b - a) / n / 1000}')
	# curl: one process, one connection, TLS_N requests.
	: >"$TD/urls"
	j=0
	while [ $j -lt "$TLS_N" ]; do
		echo "url = \"$url$P\"" >>"$TD/urls"
		echo "output = /dev/null" >>"$TD/urls"
		j=$((j + 1))
	done
	tls12=""
	[ "${1:-}" = MLTRACK_BENCH_TLS12=1 ] && tls12="--tls-max 1.2"
	t0=$(date +%s.%N)
	# shellcheck disable=SC2086
	curl -s --cacert "$TD/ca.pem" $tls12 -K "$TD/urls" || fail "tls: curl $name"
	t1=$(date +%s.%N)
	curl_us=$(awk -v a="$t0" -v b="$t1" -v n="$TLS_N" 'BEGIN {printf "%.0f", (b - a) / n * 1e6}')
	c0=$(cpu_ns "$spid")
	nc=$(env "$@" python3 "$ROOT/tests/bench/tls_client.py" newconn "$url$P" "$TLS_NEW" "$TD/ca.pem")
	c1=$(cpu_ns "$spid")
	nc_cpu=$(awk -v a="$c0" -v b="$c1" -v n="$TLS_NEW" 'BEGIN {printf "%.0f", (b - a) / n / 1000}')
	echo "tls: $name: keep-alive $ka, server ${ka_cpu} us/request; curl ${curl_us} us/request;" \
		"new connection $nc, server ${nc_cpu} us/connection"
	row "$name, keep-alive: per request p50 / mean (client), mltrackd CPU" \
		"$(field "$ka" p50_us) / $(field "$ka" mean_us) µs, $ka_cpu µs"
	row "$name, keep-alive through curl, per request" "$curl_us µs"
	row "$name, new connection + 1 GET: p50 / mean (client), mltrackd CPU" \
		"$(field "$nc" p50_us) / $(field "$nc" mean_us) µs, $nc_cpu µs"
}
s_time() { # s_time NAME [ARGS]: full handshakes/s (s_time prints whole seconds: timed here)
	name=$1
	shift
	c0=$(cpu_ns "$TLS_PID")
	t0=$(date +%s.%N)
	n=$(openssl s_time -connect "127.0.0.1:$TLS_PORT" -new -time 5 -CAfile "$TD/ca.pem" "$@" 2>/dev/null |
		awk '/connections in .* real seconds/ {print $1; exit}')
	t1=$(date +%s.%N)
	c1=$(cpu_ns "$TLS_PID")
	r=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
	cpu=$(awk -v n="$n" -v a="$c0" -v b="$c1" 'BEGIN {printf "%.0f", (b - a) / n / 1000}')
	echo "tls: $name: openssl s_time -new: $n handshakes, $r/s, server ${cpu} us/handshake"
	row "$name: full handshakes/s (openssl s_time -new, 5 s), mltrackd CPU per handshake" "$r/s, $cpu µs"
}

echo "== tls: $TLS_N requests kept alive, $TLS_NEW new connections, per configuration"
# Warm both (prepared statements, pool).
python3 "$ROOT/tests/bench/tls_client.py" keepalive "http://127.0.0.1:$TLS_HTTP_PORT$P" 200 >/dev/null
python3 "$ROOT/tests/bench/tls_client.py" keepalive "https://127.0.0.1:$TLS_PORT$P" 200 "$TD/ca.pem" >/dev/null
tls_case "HTTP" "http://127.0.0.1:$TLS_HTTP_PORT" "$TLS_HTTP_PID"
tls_case "HTTPS TLS 1.3, RSA-2048" "https://127.0.0.1:$TLS_PORT" "$TLS_PID"
tls_case "HTTPS TLS 1.2, RSA-2048" "https://127.0.0.1:$TLS_PORT" "$TLS_PID" MLTRACK_BENCH_TLS12=1
s_time "TLS 1.3, RSA-2048"
s_time "TLS 1.2, RSA-2048" -tls1_2
cp "$TD/ec.pem" "$TD/server.pem"
cp "$TD/ec.key" "$TD/server.key"
kill -HUP "$TLS_PID"
sleep 1
grep -q 'TLS certificate reloaded' "$WORK/tls-https.log" || fail "tls: no reload to the ECDSA certificate"
tls_case "HTTPS TLS 1.3, ECDSA P-256" "https://127.0.0.1:$TLS_PORT" "$TLS_PID"
s_time "TLS 1.3, ECDSA P-256"
for p in $TLS_HTTP_PID $TLS_PID; do
	kill -TERM "$p"
	wait "$p" || fail "tls: mltrackd exited $? on SIGTERM"
done
