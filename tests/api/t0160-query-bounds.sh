#!/bin/sh
# Query bounds (issue 11, item 7): a request blocked inside PostgreSQL, made
# deterministic by a row lock that a separate psql session holds on the
# registered model (a stage transition locks that row first).
#   a. With MLTRACK_STATEMENT_TIMEOUT=1000 the transition answers 504
#      DEADLINE_EXCEEDED (MLflow's code for it) within seconds, and nothing
#      was written: the stage is unchanged and no audit row exists.
#   b. With a long statement timeout, the client closes its socket while the
#      transition waits for the lock: the backend's query is cancelled within
#      seconds (pg_stat_activity shows no waiter any more), the transition
#      is not applied when the lock goes, and the server stays healthy.
#   c. With a pool of one connection (MLTRACK_DATABASE_POOL=1): an upload
#      whose body is still coming holds no connection (a query is served
#      meanwhile); with the connection held by the blocked transition,
#      another query waits for it, boundedly, and gets 503
#      TEMPORARILY_UNAVAILABLE with Retry-After, /readyz says "busy",
#      /healthz stays 200; once the holder leaves, queries are served.
# The settings go through the environment, so that a server without them
# starts all the same and fails the checks.
set -eu
. "$ROOT/tests/lib.sh"
log="$WORK/bounds.log"
pids=""
locker=""
trap 'for p in $pids $locker; do kill $p 2>/dev/null || true; done' EXIT

start() { # start NAME [ENV=VALUE...]: a server on a free port; sets PORT_<NAME>
	name=$1
	shift
	p=$(free_port)
	env "$@" "$BUILD/mltrackd" --database-url "$PGCONN" --port "$p" \
		--data-dir "$WORK/d16$name" >>"$log" 2>&1 &
	pids="$pids $!"
	wait_http "http://127.0.0.1:$p/readyz" 60 || { tail -n 30 "$log"; fail "server $name did not start"; }
	eval "PORT_$name=$p"
}
start A MLTRACK_STATEMENT_TIMEOUT=1000
start B MLTRACK_STATEMENT_TIMEOUT=120000
start C MLTRACK_STATEMENT_TIMEOUT=120000 MLTRACK_DATABASE_POOL=1

BASE="http://127.0.0.1:$PORT_A"
m="bounds-$$-$(date +%s)"
api POST /api/2.0/mlflow/registered-models/create "{\"name\":\"$m\"}"
[ "$HTTP_STATUS" = 200 ] || fail "create model: $HTTP_STATUS $BODY"
api POST /api/2.0/mlflow/model-versions/create "{\"name\":\"$m\",\"source\":\"s3://b/$m\"}"
[ "$HTTP_STATUS" = 200 ] || fail "create version: $HTTP_STATUS $BODY"

stage() {
	psql_q "SELECT mv.current_stage FROM model_versions mv JOIN registered_models r
		ON r.id = mv.model_id WHERE r.name = '$m' AND mv.version = 1"
}
audit_rows() { psql_q "SELECT count(*) FROM stage_transitions WHERE model_name = '$m'"; }
# Backends (other than the locker) waiting for a lock on the model's row.
waiters() {
	psql_q "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
		AND query LIKE '%registered_models%' AND application_name <> 'bounds-locker'"
}

# The lock holder: BEGIN, lock the row, sleep (killed at the end).
PGAPPNAME=bounds-locker "$PG_BINDIR/psql" -X -q -d "$PGCONN" -c "BEGIN" \
	-c "SELECT id FROM registered_models WHERE name = '$m' FOR UPDATE" \
	-c "SELECT pg_sleep(300)" -c "COMMIT" >/dev/null 2>&1 &
locker=$!
i=0
until [ "$(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bounds-locker'
	AND query LIKE '%pg_sleep%'")" = 1 ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "the lock holder did not start"
	sleep 0.1
done

# ---- a. the statement timeout ----
t0=$(date +%s)
out=$(curl -s --max-time 30 -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
	-d "{\"name\":\"$m\",\"version\":\"1\",\"stage\":\"Staging\"}" \
	"$BASE/api/2.0/mlflow/model-versions/transition-stage") || true
took=$(($(date +%s) - t0))
code=$(printf '%s' "$out" | tail -n 1)
body=$(printf '%s' "$out" | sed '$d')
[ "$code" = 504 ] || fail "a. blocked transition with a 1 s statement timeout: '$code' $body (after ${took}s)"
echo "$body" | json_get error_code | grep -qx DEADLINE_EXCEEDED || fail "a. error body: $body"
echo "$body" | json_get message >/dev/null || fail "a. no message: $body"
[ "$took" -le 10 ] || fail "a. the timeout took ${took}s"
[ "$(stage)" = None ] || fail "a. stage changed to $(stage)"
[ "$(audit_rows)" = 0 ] || fail "a. $(audit_rows) audit rows written"
[ "$(waiters)" = 0 ] || fail "a. a backend still waits for the lock after the timeout"
echo "a. statement timeout: 504 DEADLINE_EXCEEDED after ${took}s, nothing written"

# ---- b. the client goes away ----
python3 - "$PORT_B" "$m" "$PGCONN" "$PG_BINDIR/psql" <<'PY' || fail "b. cancel on disconnect"
import socket, subprocess, sys, time, json

port, model, conninfo, psql = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]


def waiters():
    out = subprocess.run([psql, "-X", "-q", "-A", "-t", "-d", conninfo, "-c",
                          "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                          "AND query LIKE '%registered_models%' "
                          "AND application_name <> 'bounds-locker'"],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())


body = json.dumps({"name": model, "version": "1", "stage": "Production"}).encode()
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(b"POST /api/2.0/mlflow/model-versions/transition-stage HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
t0 = time.time()
while waiters() != 1:
    if time.time() - t0 > 15:
        raise SystemExit("the transition never waited for the lock")
    time.sleep(0.1)
time.sleep(0.5)
s.close()
t1 = time.time()
while waiters() != 0:
    if time.time() - t1 > 10:
        raise SystemExit("the backend still waits for the lock %.0f s after the client left" % (time.time() - t1))
    time.sleep(0.1)
print("b. client closed: backend query cancelled after %.2f s" % (time.time() - t1))
PY

# ---- c. a pool of one ----
python3 - "$PORT_C" "$m" <<'PY' || fail "c. pool of one"
import json, socket, sys, time

port, model = int(sys.argv[1]), sys.argv[2]


def raw(data, timeout=30):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    return s


def answer(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("connection closed without an answer")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    hdrs = dict((k.strip().lower(), v.strip()) for k, v in (l.split(":", 1) for l in lines[1:]))
    n = int(hdrs.get("content-length", "0"))
    while len(body) < n:
        body += s.recv(65536)
    return int(lines[0].split()[1]), hdrs, body


def get(path):
    s = raw(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path.encode())
    try:
        return answer(s)
    finally:
        s.close()


# An upload whose body is still coming holds no database connection.
up = raw(b"PUT /api/2.0/mlflow-artifacts/artifacts/0/pool.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         b"Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
time.sleep(0.3)
st, _, body = get("/api/2.0/mlflow/experiments/get?experiment_id=0")
if st != 200:
    raise SystemExit("a query during an upload, pool of one: %d %r" % (st, body[:200]))
up.sendall(b"x" * 990)
st, _, body = answer(up)
up.close()
if st != 200:
    raise SystemExit("the upload: %d %r" % (st, body[:200]))

# The one connection held by a transition blocked on the row lock.
b = json.dumps({"name": model, "version": "1", "stage": "Archived"}).encode()
holder = raw(b"POST /api/2.0/mlflow/model-versions/transition-stage HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(b) + b)
time.sleep(0.5)
t0 = time.time()
st, hdrs, body = get("/api/2.0/mlflow/experiments/get?experiment_id=0")
took = time.time() - t0
err = json.loads(body)
if st != 503 or err.get("error_code") != "TEMPORARILY_UNAVAILABLE":
    raise SystemExit("a query with the pool's one connection busy: %d %r" % (st, body[:200]))
if "retry-after" not in hdrs:
    raise SystemExit("503 without Retry-After: %r" % hdrs)
if took > 20:
    raise SystemExit("the wait for a connection took %.1f s" % took)
st, _, body = get("/readyz")
if st != 503 or json.loads(body).get("database") != "busy":
    raise SystemExit("readyz with the pool busy: %d %r" % (st, body))
st, _, _ = get("/healthz")
if st != 200:
    raise SystemExit("healthz with the pool busy: %d" % st)
holder.close()  # its query is cancelled, the connection comes back (replaced)
deadline = time.time() + 10
while True:
    st, _, body = get("/api/2.0/mlflow/experiments/get?experiment_id=0")
    if st == 200:
        break
    if time.time() > deadline:
        raise SystemExit("still %d after the holder left: %r" % (st, body[:200]))
    time.sleep(0.2)
print("c. pool of one: upload held none; busy pool -> 503 + Retry-After after %.1f s, readyz busy; recovered" % took)
PY

# Release the lock: the cancelled transition must not go through now.
psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bounds-locker'" >/dev/null
wait "$locker" 2>/dev/null || true
locker=""
sleep 1
[ "$(stage)" = None ] || fail "b. the abandoned transition was applied: stage $(stage)"
[ "$(audit_rows)" = 0 ] || fail "b. $(audit_rows) audit rows written"
BASE="http://127.0.0.1:$PORT_B"
code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz")
[ "$code" = 200 ] || fail "b. readyz after the cancel: $code"
api POST /api/2.0/mlflow/model-versions/transition-stage "{\"name\":\"$m\",\"version\":\"1\",\"stage\":\"Staging\"}"
[ "$HTTP_STATUS" = 200 ] || fail "b. a transition after the cancel: $HTTP_STATUS $BODY"
[ "$(stage)" = Staging ] || fail "b. stage after a normal transition: $(stage)"

for p in $pids; do
	kill -TERM "$p"
	wait "$p" || fail "mltrackd exited $? on SIGTERM"
done
pids=""
trap - EXIT
if grep -nE '(AddressSanitizer|runtime error|LeakSanitizer)' "$log"; then
	fail "sanitizer report"
fi
echo "query bounds: statement timeout answered 504 and wrote nothing; a client's hang-up cancels its query; a busy pool answers 503"
