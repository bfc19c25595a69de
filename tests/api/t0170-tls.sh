#!/bin/sh
# TLS (issue 13, part 5): --tls-cert, --tls-key, --tls-client-ca, rotation on
# SIGHUP, and the mltrack CLI verifying the server.  A throwaway CA and its
# certificates are made here with the openssl command, in the test's
# directory (never committed).
#   1. HTTPS only: an API call with curl --cacert (by address and by name),
#      plain HTTP refused, HSTS on every kind of answer (JSON, errors,
#      CivetWeb's own refusals, probes, the dashboard), /healthz and /readyz.
#   2. Protocols and ciphers, with openssl s_client at security level 0 so
#      that every refusal comes from the server: TLS 1.0 and 1.1 refused, 1.2
#      and 1.3 accepted; TLS 1.2 suites without ECDHE or without AEAD refused;
#      no compression, no renegotiation.
#   3. The Host/Origin guard: https://host:port is the server's own origin,
#      http://host:port is not.
#   4. The CLI: MLTRACK_CA_BUNDLE and MLFLOW_TRACKING_SERVER_CERT_PATH work
#      (a run with its output uploaded, listed and downloaded); without them
#      exit 3 naming the problem; MLFLOW_TRACKING_INSECURE_TLS=true works and
#      warns; contradictory or malformed variables are usage errors.
#   5. Rotation: new files and SIGHUP, a new connection gets the new
#      certificate (fingerprints) while a kept-alive one goes on; a broken
#      file and SIGHUP keep the last good certificate and the server serving;
#      a certificate from another CA, and the CLI refusing it.
#   6. Client certificates (--tls-client-ca, from the MLTRACK_TLS_*
#      variables): curl without a certificate and with one from another CA
#      refused, with the right one served; the CLI with MLTRACK_CLIENT_CERT
#      and MLTRACK_CLIENT_KEY, and with MLflow's one-file
#      MLFLOW_TRACKING_CLIENT_CERT_PATH.
#   7. The per-address cap under TLS: a third connection from an address
#      capped at two is answered 429 through TLS; failed handshakes are not
#      counted as connections.
#   8. Start-up errors: a missing key or certificate flag (exit 2), a
#      mismatched key, a missing, broken or encrypted file (one line naming
#      the file, non-zero exit, nothing listening).
#   9. With a user (a database of its own): 401 over HTTPS without
#      credentials, Basic and a bearer token accepted, the CLI with
#      MLTRACK_TOKEN and MLTRACK_CA_BUNDLE; neither the token nor the
#      password in the log.
#  10. Without TLS, no HSTS.  Every server exits 0 on SIGTERM (LeakSanitizer
#      under ASan); no key material in any log.
set -eu
. "$ROOT/tests/lib.sh"
log="$WORK/tls.log"
T="$WORK/tls"
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null || true' EXIT
command -v openssl >/dev/null || fail "the openssl command is missing (tools/deps.sh installs it)"
rm -rf "$T"
mkdir -p "$T/live" "$T/spool"
cd "$T"

# ---- certificates ----
ca() { # ca NAME: a self-signed CA
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days 2 \
		-subj "/CN=mltrack test $1" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || fail "openssl: CA $1"
}
leaf() { # leaf CA NAME CN SERIAL serverAuth|clientAuth
	openssl req -newkey rsa:2048 -nodes -keyout "$2.key" -out "$2.csr" -subj "/CN=$3" \
		2>/dev/null || fail "openssl: key $2"
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' \
		"$5" >"$2.ext"
	openssl x509 -req -in "$2.csr" -CA "$1.pem" -CAkey "$1.key" -set_serial "$4" -days 2 \
		-extfile "$2.ext" -out "$2.pem" 2>/dev/null || fail "openssl: certificate $2"
}
ca ca
ca otherca
leaf ca server localhost 1001 serverAuth
leaf ca server2 localhost-rotated 1002 serverAuth
leaf otherca foreign localhost 2001 serverAuth
leaf ca client alice 3001 clientAuth
leaf otherca intruder mallory 4001 clientAuth
cat client.pem client.key >client-both.pem
openssl pkey -in server.key -aes256 -passout pass:secret-passphrase -out encrypted.key 2>/dev/null
fpr() { openssl x509 -noout -fingerprint -sha256 -in "$1" | sed 's/.*=//'; }

# ---- helpers ----
CURL_CERT=""
DBURL=$PGCONN
start() { # start ARGS...: mltrackd on DBURL and a free port; sets port, pid
	port=$(free_port)
	"$BUILD/mltrackd" --database-url "$DBURL" --port "$port" --data-dir "$WORK/d17" "$@" \
		>>"$log" 2>&1 &
	pid=$!
	i=0
	# shellcheck disable=SC2086
	until curl -sf -o /dev/null --cacert ca.pem $CURL_CERT "https://127.0.0.1:$port/healthz"; do
		kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log"; fail "server did not start: $*"; }
		i=$((i + 1))
		[ $i -lt 600 ] || { tail -n 20 "$log"; fail "server did not answer over HTTPS: $*"; }
		sleep 0.1
	done
}
stop() {
	kill -TERM "$pid"
	wait "$pid" || fail "mltrackd exited $? on SIGTERM"
	pid=""
}
# get PATH [curl args...]: sets CODE, HDRS (lower case), BODY over HTTPS
get() {
	p=$1
	shift
	CODE=$(curl -s -o body -D hdrs -w '%{http_code}' --cacert ca.pem "$@" "https://127.0.0.1:$port$p") || true
	HDRS=$(tr -d '\r' <hdrs | tr 'A-Z' 'a-z')
	BODY=$(cat body)
}
hsts() { # hsts WHAT: the last answer carried HSTS
	printf '%s\n' "$HDRS" | grep -qx 'strict-transport-security: max-age=31536000' ||
		fail "$1: no Strict-Transport-Security: $HDRS"
}
# hello ARGS...: one handshake with openssl s_client; its output in ./hello
hello() {
	openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile ca.pem "$@" \
		</dev/null >hello 2>&1 || true
}
refused() { # refused WHAT: the handshake ended with an alert from the server
	grep -q 'SSL alert number' hello || { cat hello; fail "$1: not refused by the server"; }
}
accepted() { # accepted WHAT PROTOCOL
	grep -q "^New, $2, Cipher is " hello || { cat hello; fail "$1: not accepted with $2"; }
}
served_fpr() { # the SHA-256 fingerprint of the certificate a new connection gets
	openssl s_client -connect "127.0.0.1:$port" -servername localhost $CURL_CERT_S </dev/null \
		2>/dev/null | openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//'
}
CURL_CERT_S=""
EXPURL=/api/2.0/mlflow/experiments/get?experiment_id=0
reloads() { grep -c 'SIGHUP: TLS certificate reloaded' "$log" || true; }
reload_fails() { grep -c 'SIGHUP: TLS reload failed' "$log" || true; }
wait_count() { # wait_count FN N: until FN prints N
	i=0
	while [ "$($1)" != "$2" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || { tail -n 5 "$log"; fail "$1 stayed at $($1), not $2"; }
		sleep 0.1
	done
}

# ---- 1. HTTPS only, HSTS everywhere ----
cp server.pem server.key live/
start --tls-cert live/server.pem --tls-key live/server.key
grep -q "listening on https://127.0.0.1:$port " "$log" || fail "start-up line without https://"
get "$EXPURL"
[ "$CODE" = 200 ] || fail "API over HTTPS: $CODE $BODY"
printf '%s' "$BODY" | grep -q '"name":"Default"' || fail "API over HTTPS: $BODY"
hsts "a JSON answer"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert ca.pem "https://localhost:$port$EXPURL") || true
[ "$code" = 200 ] || fail "by name (https://localhost): $code"
for p in /healthz /readyz; do
	get $p
	[ "$CODE" = 200 ] || fail "probe $p over HTTPS: $CODE"
	hsts "$p"
done
get /api/2.0/mlflow/nothing-here
[ "$CODE" = 404 ] || fail "unknown route: $CODE"
hsts "an error answer"
get "$EXPURL" -H 'Host: evil.example'
[ "$CODE" = 403 ] || fail "foreign Host over HTTPS: $CODE"
hsts "a refusal"
get / -H 'Content-Length: x'
[ "$CODE" = 411 ] || [ "$CODE" = 400 ] || fail "CivetWeb's own refusal: $CODE"
hsts "CivetWeb's own refusal"
if [ -f "$BUILD/web/index.html" ]; then
	get /
	[ "$CODE" = 200 ] || fail "dashboard over HTTPS: $CODE"
	hsts "the dashboard"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz") || true
[ "$code" = 000 ] || fail "plain HTTP on the HTTPS port answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/healthz") || true
[ "$code" = 000 ] || fail "an unverifiable certificate was accepted by curl ($code)"
echo "1. HTTPS only, HSTS on answers, errors and probes"

# ---- 2. protocols and ciphers ----
LOW='DEFAULT@SECLEVEL=0'
hello -tls1 -cipher "$LOW"
refused "TLS 1.0"
grep -q 'protocol version' hello || { cat hello; fail "TLS 1.0: not a protocol_version alert"; }
hello -tls1_1 -cipher "$LOW"
refused "TLS 1.1"
hello -tls1_2 -cipher "$LOW"
accepted "TLS 1.2" TLSv1.2
grep -q 'Compression: NONE' hello || fail "TLS 1.2 with compression"
hello -tls1_3
accepted "TLS 1.3" TLSv1.3
for c in AES128-SHA AES256-SHA256 AES128-GCM-SHA256 ECDHE-RSA-AES128-SHA ECDHE-RSA-AES256-SHA384 \
	DHE-RSA-AES128-GCM-SHA256; do
	hello -tls1_2 -cipher "$c@SECLEVEL=0"
	refused "TLS 1.2 with $c"
done
for c in ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305; do
	hello -tls1_2 -cipher "$c"
	accepted "TLS 1.2 with $c" TLSv1.2
done
# A renegotiation ("R" to s_client) is refused.
(sleep 1; printf 'R\n'; sleep 1) | openssl s_client -connect "127.0.0.1:$port" -tls1_2 \
	-CAfile ca.pem >hello 2>&1 || true
grep -q 'RENEGOTIATING' hello && grep -q 'no renegotiation' hello ||
	{ cat hello; fail "renegotiation not refused"; }
echo "2. TLS 1.0/1.1 and weak TLS 1.2 suites refused; 1.2 (ECDHE+AEAD) and 1.3 accepted"

# ---- 3. the guard: https://host:port is the server's own origin ----
JSON='Content-Type: application/json'
get /api/2.0/mlflow/experiments/create -X POST -H "$JSON" -H "Origin: https://127.0.0.1:$port" \
	-H 'Sec-Fetch-Site: same-origin' -d "{\"name\": \"tls-own-$$\"}"
[ "$CODE" = 200 ] || fail "a write from https://127.0.0.1:$port: $CODE $BODY"
get /api/2.0/mlflow/experiments/create -X POST -H "$JSON" -H "Origin: http://127.0.0.1:$port" \
	-d "{\"name\": \"tls-plain-$$\"}"
[ "$CODE" = 403 ] || fail "a write from http://127.0.0.1:$port under TLS: $CODE $BODY"
echo "3. same-origin writes from https://, not from http://"

# ---- 4. the CLI ----
export MLTRACK_SPOOL_DIR="$T/spool" MLTRACK_HTTP_RETRIES=1
URI="https://127.0.0.1:$port"
cli() { "$BUILD/mltrack" --tracking-uri "$URI" "$@"; }
out=$(MLTRACK_CA_BUNDLE=ca.pem cli experiments create "tls-cli-$$") || fail "CLI with MLTRACK_CA_BUNDLE: $out"
MLTRACK_CA_BUNDLE=ca.pem cli experiments list | grep -q "tls-cli-$$" || fail "CLI list over HTTPS"
MLFLOW_TRACKING_SERVER_CERT_PATH="$T/ca.pem" cli experiments list >/dev/null ||
	fail "CLI with MLFLOW_TRACKING_SERVER_CERT_PATH"
# A run: created, its output uploaded (spool sync), listed, downloaded.
MLTRACK_CA_BUNDLE=ca.pem cli -q run -e "tls-cli-$$" --run-id-file run.txt -- \
	sh -c 'echo "loss: 0.25"; echo "cert=$MLFLOW_TRACKING_SERVER_CERT_PATH"' >run.out 2>run.err ||
	{ cat run.err; fail "mltrack run over HTTPS"; }
grep -q "cert=$T/ca.pem" run.out || grep -q "cert=ca.pem" run.out ||
	fail "the command did not get MLFLOW_TRACKING_SERVER_CERT_PATH: $(cat run.out)"
RUN=$(cat run.txt)
[ -n "$RUN" ] || fail "no run id"
MLTRACK_CA_BUNDLE=ca.pem cli artifacts list "$RUN" mltrack | grep -q 'output.log' ||
	fail "run's output not uploaded over HTTPS"
echo "extra" >extra.txt
MLTRACK_CA_BUNDLE=ca.pem cli -q artifacts upload "$RUN" extra.txt || fail "artifacts upload over HTTPS"
MLTRACK_CA_BUNDLE=ca.pem cli -q artifacts download "$RUN" -o dl || fail "artifacts download over HTTPS"
grep -q 'loss: 0.25' dl/mltrack/output.log && grep -q extra dl/extra.txt || fail "downloaded files"
# Without the CA: exit 3, one line naming the problem and the remedy.
rc=0
cli experiments list >out 2>err || rc=$?
[ "$rc" = 3 ] || fail "CLI without the CA: exit $rc"
[ "$(wc -l <err)" = 1 ] && grep -q "cannot verify the server's certificate for $URI" err &&
	grep -q MLTRACK_CA_BUNDLE err || fail "CLI without the CA: $(cat err)"
rc=0
MLTRACK_CA_BUNDLE=otherca.pem cli experiments list >out 2>err || rc=$?
[ "$rc" = 3 ] && grep -q "cannot verify" err || fail "CLI with another CA: exit $rc $(cat err)"
# Verification off: works, says so.
MLFLOW_TRACKING_INSECURE_TLS=true cli experiments list >out 2>err || fail "CLI insecure: $(cat err)"
grep -q "tls-cli-$$" out && grep -q 'warning: MLFLOW_TRACKING_INSECURE_TLS' err ||
	fail "CLI insecure: $(cat out err)"
MLTRACK_INSECURE_TLS=1 cli experiments list >/dev/null 2>&1 || fail "MLTRACK_INSECURE_TLS=1"
for bad in "MLTRACK_INSECURE_TLS=yes" "MLFLOW_TRACKING_INSECURE_TLS=true MLTRACK_CA_BUNDLE=ca.pem" \
	"MLTRACK_CA_BUNDLE=missing.pem" "MLTRACK_CLIENT_KEY=client.key"; do
	rc=0
	# shellcheck disable=SC2086
	env $bad "$BUILD/mltrack" --tracking-uri "$URI" experiments list >out 2>err || rc=$?
	[ "$rc" = 2 ] && [ "$(wc -l <err)" = 1 ] || fail "CLI with $bad: exit $rc $(cat err)"
done
echo "4. CLI: CA bundle (both names), exit 3 unverified, insecure with a warning"

# ---- 5. rotation ----
[ "$(served_fpr)" = "$(fpr server.pem)" ] || fail "not serving server.pem"
python3 - "$port" "$pid" "$log" <<'PY' || { tail -n 20 "$log"; fail "rotation with a kept-alive connection"; }
import hashlib, http.client, os, shutil, signal, ssl, sys, time

port, pid, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile="ca.pem")


def fp(conn):
    return hashlib.sha256(conn.sock.getpeercert(binary_form=True)).hexdigest()


def get(conn):
    conn.request("GET", "/healthz")
    r = conn.getresponse()
    r.read()
    return r.status


old = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
assert get(old) == 200
before = fp(old)
n = open(log).read().count("TLS certificate reloaded")
shutil.copy("server2.pem", "live/server.pem")
shutil.copy("server2.key", "live/server.key")
os.kill(pid, signal.SIGHUP)
deadline = time.time() + 10
while open(log).read().count("TLS certificate reloaded") == n:
    if time.time() > deadline:
        raise SystemExit("no reload logged")
    time.sleep(0.05)
assert get(old) == 200, "the kept-alive connection broke"
assert fp(old) == before
new = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
assert get(new) == 200
assert fp(new) != before, "a new connection still gets the old certificate"
old.close()
new.close()
PY
[ "$(served_fpr)" = "$(fpr server2.pem)" ] || fail "not serving server2.pem after SIGHUP"
grep -q 'reloaded: subject CN=localhost-rotated, serial 03EA' "$log" || fail "reload log line"
# A broken certificate file: the reload fails, the last good one stays.
n=$(reload_fails)
echo "not a certificate" >live/server.pem
kill -HUP "$pid"
wait_count reload_fails $((n + 1))
grep 'SIGHUP: TLS reload failed' "$log" | tail -n 1 | grep -q "live/server.pem" ||
	fail "the failed reload does not name the file"
[ "$(served_fpr)" = "$(fpr server2.pem)" ] || fail "the old certificate is gone after a failed reload"
get /readyz
[ "$CODE" = 200 ] || fail "server not serving after a failed reload"
# A key that does not match: refused too.
cp server.pem live/server.pem
kill -HUP "$pid"
wait_count reload_fails $((n + 2))
[ "$(served_fpr)" = "$(fpr server2.pem)" ] || fail "a mismatched pair was loaded"
# A certificate from another CA: the CLI trusting only ca.pem refuses it.
n=$(reloads)
cp foreign.pem live/server.pem
cp foreign.key live/server.key
kill -HUP "$pid"
wait_count reloads $((n + 1))
rc=0
MLTRACK_CA_BUNDLE=ca.pem cli experiments list >out 2>err || rc=$?
[ "$rc" = 3 ] && grep -q "cannot verify the server's certificate" err && grep -q "ca.pem" err ||
	fail "CLI against a server of another CA: exit $rc $(cat err)"
MLTRACK_CA_BUNDLE=otherca.pem cli experiments list >/dev/null || fail "CLI with the new CA"
stop
echo "5. rotation: new connections get the new certificate, kept-alive ones go on, bad files change nothing"

# ---- 6. client certificates, configured from the environment ----
CURL_CERT="--cert client.pem --key client.key"
CURL_CERT_S="-cert client.pem -key client.key"
cp server.pem server.key live/
MLTRACK_TLS_CERT=live/server.pem MLTRACK_TLS_KEY=live/server.key MLTRACK_TLS_CLIENT_CA=ca.pem start
grep -q 'client certificates required' "$log" || fail "start-up line does not say client certificates are required"
get "$EXPURL"
[ "$CODE" = 000 ] || fail "no client certificate: $CODE"
get "$EXPURL" --cert intruder.pem --key intruder.key
[ "$CODE" = 000 ] || fail "a client certificate from another CA: $CODE"
get "$EXPURL" --cert client.pem --key client.key
[ "$CODE" = 200 ] || fail "the right client certificate: $CODE"
hello -tls1_2
refused "TLS 1.2 without a client certificate"
URI="https://127.0.0.1:$port"
rc=0
MLTRACK_CA_BUNDLE=ca.pem cli experiments list >out 2>err || rc=$?
[ "$rc" = 3 ] && grep -q 'MLTRACK_CLIENT_CERT' err || fail "CLI without a client certificate: exit $rc $(cat err)"
MLTRACK_CA_BUNDLE=ca.pem MLTRACK_CLIENT_CERT=client.pem MLTRACK_CLIENT_KEY=client.key \
	cli experiments list | grep -q "tls-cli-$$" || fail "CLI with MLTRACK_CLIENT_CERT/KEY"
MLTRACK_CA_BUNDLE=ca.pem MLFLOW_TRACKING_CLIENT_CERT_PATH="$T/client-both.pem" \
	cli experiments list >/dev/null || fail "CLI with MLFLOW_TRACKING_CLIENT_CERT_PATH"
rc=0
MLTRACK_CA_BUNDLE=ca.pem MLTRACK_CLIENT_CERT=intruder.pem MLTRACK_CLIENT_KEY=intruder.key \
	cli experiments list >out 2>err || rc=$?
[ "$rc" = 3 ] && grep -q 'intruder.pem' err || fail "CLI with a foreign client certificate: exit $rc $(cat err)"
# The client CA is reloaded too: swapped for otherca, alice is refused and
# mallory let in.
stop
cp ca.pem live/clientca.pem
start --tls-cert live/server.pem --tls-key live/server.key --tls-client-ca live/clientca.pem
n=$(reloads)
cp otherca.pem live/clientca.pem
kill -HUP "$pid"
wait_count reloads $((n + 1))
get "$EXPURL" --cert client.pem --key client.key
[ "$CODE" = 000 ] || fail "a client of the old client CA after the reload: $CODE"
get "$EXPURL" --cert intruder.pem --key intruder.key
[ "$CODE" = 200 ] || fail "a client of the new client CA after the reload: $CODE"
stop
CURL_CERT=""
CURL_CERT_S=""
echo "6. client certificates: none or a foreign one refused, the right one served, CA reloaded"

# ---- 7. the per-address cap under TLS ----
MLTRACK_MAX_CONNECTIONS_PER_ADDRESS=2 start --tls-cert live/server.pem --tls-key live/server.key
# Failed handshakes first: they must not count as open connections.
for i in 1 2 3 4 5; do
	curl -s -o /dev/null "https://127.0.0.1:$port/healthz" || true
	curl -s -o /dev/null "http://127.0.0.1:$port/healthz" || true
done
python3 - "$port" <<'PY' || { tail -n 20 "$log"; fail "per-address cap under TLS"; }
import http.client, socket, ssl, sys, time

port = int(sys.argv[1])
ctx = ssl.create_default_context(cafile="ca.pem")


def conn():
    c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
    c.request("GET", "/healthz")
    r = c.getresponse()
    body = r.read()
    return c, r.status, body


def connections():
    c, st, _ = conn()
    c.request("GET", "/metrics")
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    for line in text.splitlines():
        if line.startswith("mltrack_http_connections "):
            return int(line.split()[1])
    raise SystemExit("no mltrack_http_connections in /metrics")


time.sleep(0.3)
n = connections()
assert n == 1, "connections counted after failed handshakes: %d (want 1, the metrics request)" % n
a, sa, _ = conn()
b, sb, _ = conn()
assert sa == sb == 200
c, sc, body = conn()
assert sc == 429 and b"RESOURCE_EXHAUSTED" in body, (sc, body)
c.close()
a.close()
b.close()
deadline = time.time() + 10
while True:
    d, sd, _ = conn()
    d.close()
    if sd == 200:
        break
    if time.time() > deadline:
        raise SystemExit("still refused after the connections closed: %d" % sd)
    time.sleep(0.1)
PY
grep -q 'refused a connection from 127.0.0.1: 2 open' "$log" || fail "the refusal is not logged"
stop
echo "7. per-address cap: the third TLS connection answered 429; failed handshakes not counted"

# ---- 8. start-up errors ----
startup_fails() { # startup_fails WANT_EXIT PATTERN ARGS...: exits, one line, nothing listens
	want=$1 pattern=$2
	shift 2
	p=$(free_port)
	rc=0
	timeout 60 "$BUILD/mltrackd" --database-url "$PGCONN" --port "$p" --data-dir "$WORK/d17" "$@" \
		>err 2>&1 || rc=$?
	[ "$rc" != 0 ] || fail "mltrackd $* started"
	[ "$want" = any ] || [ "$rc" = "$want" ] || fail "mltrackd $*: exit $rc, not $want: $(cat err)"
	grep -q -- "$pattern" err || fail "mltrackd $*: '$pattern' not in: $(cat err)"
	# One line (a usage error adds its pointer to --help).
	[ "$(grep -cv '^(see mltrackd --help)$' err)" = 1 ] ||
		fail "mltrackd $*: more than one line: $(cat err)"
	code=$(curl -s -o /dev/null -w '%{http_code}' -k "https://127.0.0.1:$p/healthz") || true
	[ "$code" = 000 ] || fail "mltrackd $*: something listens"
	cat err >>"$log"
}
startup_fails 2 'needs --tls-key' --tls-cert server.pem
startup_fails 2 'needs --tls-cert' --tls-key server.key
startup_fails 2 'needs --tls-cert' --tls-client-ca ca.pem
startup_fails 2 "does not belong to the certificate 'server.pem'" --tls-cert server.pem --tls-key server2.key
startup_fails 2 "cannot read the TLS certificate 'missing.pem'" --tls-cert missing.pem --tls-key server.key
startup_fails 2 "cannot read the TLS key 'missing.key'" --tls-cert server.pem --tls-key missing.key
echo garbage >garbage.pem
startup_fails 2 "cannot use the TLS certificate 'garbage.pem'" --tls-cert garbage.pem --tls-key server.key
startup_fails 2 "the TLS key 'encrypted.key' is encrypted" --tls-cert server.pem --tls-key encrypted.key
startup_fails 2 "client CA file 'garbage.pem'" --tls-cert server.pem --tls-key server.key \
	--tls-client-ca garbage.pem
"$BUILD/mltrackd" --help >help
for f in --tls-cert --tls-key --tls-client-ca MLTRACK_TLS_CERT MLTRACK_TLS_KEY MLTRACK_TLS_CLIENT_CA SIGHUP; do
	grep -q -- "$f" help || fail "mltrackd --help lacks $f"
done
echo "8. start-up errors: one line naming the file, nothing listening"

# ---- 9. with a user: authentication over HTTPS ----
db="tls_$$"
psql_q "CREATE DATABASE $db" >/dev/null
DBURL=$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=$db/")
PASS="alice-pw-$$-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$PASS" | "$BUILD/mltrackd" user add alice --admin --password-stdin \
	--database-url "$DBURL" >>"$log" 2>&1 || fail "user add"
TOKEN=$("$BUILD/mltrackd" token create --user alice --name ci --database-url "$DBURL" 2>>"$log") ||
	fail "token create"
start --tls-cert live/server.pem --tls-key live/server.key
get "$EXPURL"
[ "$CODE" = 401 ] || fail "no credentials over HTTPS: $CODE $BODY"
hsts "a 401"
get "$EXPURL" -u "alice:$PASS"
[ "$CODE" = 200 ] || fail "Basic over HTTPS: $CODE $BODY"
get "$EXPURL" -H "Authorization: Bearer $TOKEN"
[ "$CODE" = 200 ] || fail "a bearer token over HTTPS: $CODE $BODY"
# The dashboard's login over HTTPS: its session cookie is Secure.
get /api/2.0/mltrack/auth/session -X POST -H 'Content-Type: application/json' \
	-d "{\"username\": \"alice\", \"password\": \"$PASS\"}"
[ "$CODE" = 200 ] || fail "a dashboard login over HTTPS: $CODE $BODY"
SID=$(printf '%s\n' "$HDRS" | sed -n 's/^set-cookie: mltrack_session=\([a-z0-9_-]*\); path=\/; httponly; samesite=strict; secure$/\1/p')
[ -n "$SID" ] || fail "the session cookie over HTTPS is not Secure: $HDRS"
SID=$(sed -n 's/^[Ss]et-[Cc]ookie: mltrack_session=\([A-Za-z0-9_-]*\);.*/\1/p' hdrs)
get /api/2.0/mltrack/auth/whoami -H "Cookie: mltrack_session=$SID"
[ "$CODE" = 200 ] || fail "the session over HTTPS: $CODE $BODY"
get /readyz
[ "$CODE" = 200 ] || fail "probe with authentication on: $CODE"
URI="https://127.0.0.1:$port"
MLTRACK_CA_BUNDLE=ca.pem MLTRACK_TOKEN="$TOKEN" cli experiments list >out 2>err ||
	fail "CLI with MLTRACK_TOKEN over HTTPS: $(cat err)"
rc=0
MLTRACK_CA_BUNDLE=ca.pem cli experiments list >out 2>err || rc=$?
[ "$rc" = 3 ] || fail "CLI without a token: exit $rc $(cat err)"
stop
DBURL=$PGCONN
psql_q "DROP DATABASE $db WITH (FORCE)" >/dev/null
grep -qF -- "$TOKEN" "$log" && fail "the token in the server log"
grep -qF -- "$PASS" "$log" && fail "the password in the server log"
grep -qF -- "$SID" "$log" && fail "the session id in the server log"
echo "9. authentication over HTTPS: 401 without credentials, Basic, bearer token, a Secure session cookie, the CLI's token"

# ---- 10. without TLS no HSTS; logs ----
port=$(free_port)
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$port" --data-dir "$WORK/d17" >>"$log" 2>&1 &
pid=$!
wait_http "http://127.0.0.1:$port/healthz" 60 || fail "plain server did not start"
curl -s -D hdrs -o /dev/null "http://127.0.0.1:$port$EXPURL"
grep -qi 'strict-transport-security' hdrs && fail "HSTS without TLS"
stop
trap - EXIT
if grep -nE '(AddressSanitizer|runtime error|LeakSanitizer)' "$log"; then
	fail "sanitizer report"
fi
for k in server.key server2.key client.key; do
	line=$(sed -n 2p "$k")
	grep -qF -- "$line" "$log" && fail "key material of $k in the server log"
done
grep -q 'secret-passphrase' "$log" && fail "a passphrase in the log"
echo "tls: HTTPS with TLS 1.2+/modern suites, HSTS, client certificates, rotation on SIGHUP, CLI verification"
