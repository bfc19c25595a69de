#!/bin/sh
# tests/cluster/run.sh BUILD_DIR (make test-cluster): the scale-out topology
# on loopback and the faults it must survive.
#
# PostgreSQL, PgBouncer in transaction pooling, three mltrackd through it
# (--database-pooler transaction, the auth cache listening on PostgreSQL
# itself), their artifacts on S3 (Ceph's RADOS Gateway, rgw_start) with
# uploads staged on a 48 MiB tmpfs, and nginx in front of them with
# deploy/nginx/mltrack.conf (TLS taken out, the three servers as its
# upstream).  tests/cluster/ingest.py
# keeps CLUSTER_CLIENTS clients sending log-batch requests to nginx, each
# failed batch sent again, unchanged, while these faults happen in turn:
#   steady              nothing (the reference)
#   mltrackd SIGKILL    one server killed mid-ingest, restarted 2 s later
#   after the kill      2 s
#   PostgreSQL restart  the database stopped (fast), started again 2 s later
#   after the restart   2 s, from 3 s after it was back
#   S3 unreachable      the gateway stopped: uploads answer 503 and leave
#                       nothing; tracking goes on
#   S3 back             the gateway started again: the same upload works
#   staging volume full an upload larger than the staging volume: 507, and
#                       nothing left; grown, the same upload works
# Afterwards every acknowledged point must be in PostgreSQL exactly once,
# and no request may have been answered 500 (a server whose database is
# away answers 503, which clients retry).  The outcome is printed as a
# table: fault, requests during it, answers by status, points lost,
# duplicates.  Then: uploads cut off by a killed client or a killed server
# leave nothing visible, the mltrack CLI's registry flow and the API suites
# of the main resources pass through nginx.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$1" && pwd)
. "$ROOT/tests/lib.sh"

WORK=$(mktemp -d /tmp/mltrack-cluster.XXXXXX)
chmod 755 "$WORK"
PIDS=""
INGEST=""
TRAIN=""
cleanup() {
	rm -f "$WORK/state/go"
	[ -n "$INGEST" ] && kill "$INGEST" 2>/dev/null || true
	for p in $PIDS; do kill "$p" 2>/dev/null && wait_gone "$p" 10 || true; done
	[ -f "$WORK/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true
	rgw_stop
	umount "$WORK/data/staging" 2>/dev/null || true
	pgb_down
	pg_down
	if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

echo "== cluster: PostgreSQL, PgBouncer (transaction pooling), 3 mltrackd from $BUILD on S3 (RADOS Gateway), nginx"
command -v nginx >/dev/null || fail "nginx is missing (make deps)"
command -v radosgw >/dev/null || fail "radosgw is missing (make deps)"
pg_start "$WORK/pg"
PGB_POOL=8 pgb_start "$WORK/pgb"
psql_q "CREATE DATABASE cluster" >/dev/null
conn=$(echo "$PGB_CONN" | sed "s/dbname=[^ ]*/dbname=cluster/")
direct=$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=cluster/")
rgw_start "$WORK/rgw" || fail "the RADOS gateway did not start"
BUCKET=mltrack-cluster
[ "$(s3_curl PUT "/$BUCKET")" = 200 ] || fail "cannot create bucket $BUCKET"
export AWS_ACCESS_KEY_ID=$RGW_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$RGW_SECRET_KEY
S3ROOT="s3://$BUCKET/c"
# Every server stages its uploads in DATA_DIR/staging: one small volume.
mkdir -p "$WORK/data/staging"
mount -t tmpfs -o size=48m,mode=0777 tmpfs "$WORK/data/staging" ||
	fail "cannot mount the staging volume (a tmpfs: root needed)"

URLS=""
MLTRACK_TEST_ADMIN_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export MLTRACK_TEST_ADMIN_TOKEN
serve() { # serve I: start (or restart) server I on its port
	MLTRACK_ADMIN_TOKEN=$MLTRACK_TEST_ADMIN_TOKEN "$BUILD/mltrackd" --database-url "$conn" --database-pooler transaction \
		--database-listen-url "$direct" --port "$(cat "$WORK/port$1")" \
		--max-connections-per-address 0 --artifacts-root "$S3ROOT" --s3-endpoint "$RGW_URL" \
		--data-dir "$WORK/data" >>"$WORK/mltrackd$1.log" 2>&1 &
	echo $! >"$WORK/pid$1"
	PIDS="$PIDS $!"
}
for i in 1 2 3; do
	free_port >"$WORK/port$i"
	serve "$i"
	URLS="$URLS http://127.0.0.1:$(cat "$WORK/port$i")"
done
for u in $URLS; do
	wait_http "$u/readyz" 60 || { tail -n 20 "$WORK"/mltrackd*.log; fail "$u never became ready"; }
done

# nginx: deploy/nginx/mltrack.conf on a loopback port, without TLS, its
# upstream the three servers (a server that refuses connections is
# skipped for 2 s, and a request it refused goes to the next one).
NGX=$WORK/nginx
mkdir -p "$NGX"
for d in body proxy fastcgi uwsgi scgi; do mkdir -p "$NGX/$d" && chmod 777 "$NGX/$d"; done
NGX_PORT=$(free_port)
ups=""
for i in 1 2 3; do ups="$ups\\n\\tserver 127.0.0.1:$(cat "$WORK/port$i") max_fails=1 fail_timeout=2s;"; done
sed -e "s/listen 443 ssl;/listen 127.0.0.1:$NGX_PORT;/" -e '/listen \[::\]:443 ssl;/d' \
	-e '/ssl_certificate/d' -e "s/^\tserver 127.0.0.1:5170;/$ups/" \
	"$ROOT/deploy/nginx/mltrack.conf" >"$NGX/mltrack.conf"
grep -q "server 127.0.0.1:$(cat "$WORK/port3")" "$NGX/mltrack.conf" ||
	fail "deploy/nginx/mltrack.conf: no 'server 127.0.0.1:5170;' line to replace"
printf '%s\n' "daemon on;" "worker_processes 1;" "pid $NGX/nginx.pid;" \
	"error_log $NGX/error.log;" "events { worker_connections 1024; }" "http {" \
	"	access_log off;" "	client_body_temp_path $NGX/body;" \
	"	proxy_temp_path $NGX/proxy;" "	fastcgi_temp_path $NGX/fastcgi;" \
	"	uwsgi_temp_path $NGX/uwsgi;" "	scgi_temp_path $NGX/scgi;" \
	"	include $NGX/mltrack.conf;" "}" >"$NGX/nginx.conf"
nginx -p "$NGX" -c "$NGX/nginx.conf" || { cat "$NGX/error.log"; fail "nginx did not start"; }
wait_http "http://127.0.0.1:$NGX_PORT/readyz" 30 || { cat "$NGX/error.log"; fail "nginx does not answer"; }

NGX_URL="http://127.0.0.1:$NGX_PORT"
J='Content-Type: application/json'
aexp=$(curl -sf -H "$J" -d '{"name":"cluster-uploads"}' "$NGX_URL/api/2.0/mlflow/experiments/create" |
	json_get experiment_id)
arun=$(curl -sf -H "$J" -d "{\"experiment_id\":\"$aexp\"}" "$NGX_URL/api/2.0/mlflow/runs/create" |
	json_get run info run_id)
head -c 20000000 /dev/urandom >"$WORK/upload.bin"
head -c 5000000 /dev/urandom >"$WORK/down.bin"
head -c 60000000 /dev/urandom >"$WORK/huge.bin"
visible() { # visible NAME: 0 when the run lists NAME or it can be downloaded
	curl -s "$NGX_URL/api/2.0/mlflow/artifacts/list?run_id=$arun" | grep -q "\"$1\"" && return 0
	[ "$(curl -s -o /dev/null -w '%{http_code}' \
		"$NGX_URL/api/2.0/mlflow-artifacts/artifacts/$aexp/$arun/artifacts/$1")" = 200 ]
}
upload_try() { # upload_try PHASE FILE NAME WANT: one upload through nginx, its answer noted
	_c=$(curl -s -o "$WORK/up.out" -w '%{http_code}' -T "$2" \
		"$NGX_URL/api/2.0/mlflow-artifacts/artifacts/$aexp/$arun/artifacts/$3")
	printf '%s\t%s\n' "$1" "$_c" >>"$WORK/state/uploads"
	[ "$_c" = "$4" ] || fail "upload $3 during '$1': $_c, want $4: $(head -c 300 "$WORK/up.out")"
}
staged() { ls "$WORK/data/staging/tmp"; }

mkdir -p "$WORK/state"
touch "$WORK/state/go"
ph() { # the phase the clients' next requests count under (replaced at once)
	echo "$1" >"$WORK/state/phase.new"
	mv "$WORK/state/phase.new" "$WORK/state/phase"
}
ph steady
python3 "$ROOT/tests/cluster/ingest.py" "$WORK/state" "http://127.0.0.1:$NGX_PORT" \
	>"$WORK/ingest.log" 2>&1 &
INGEST=$!
i=0
until [ -f "$WORK/state/started" ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || { cat "$WORK/ingest.log"; fail "the clients never started"; }
	sleep 0.1
done
sleep 3

ph "mltrackd SIGKILL"
kill -KILL "$(cat "$WORK/pid2")"
sleep 2
serve 2
wait_http "http://127.0.0.1:$(cat "$WORK/port2")/readyz" 60 || fail "server 2 did not come back"
sleep 1
ph "after the kill"
sleep 2

ph "PostgreSQL restart"
# A training run under `mltrack run` across the restart: 3000 points over
# about 6 s, sent to nginx as they come; what cannot be sent is spooled.
export MLTRACK_SPOOL_DIR="$WORK/spool" HOME="$WORK"
"$BUILD/mltrack" -q --tracking-uri "http://127.0.0.1:$NGX_PORT" run -e cluster-spool \
	-n "spooled-$$" -- sh -c 'i=0; while [ $i -lt 3000 ]; do echo "step: $i"; echo "loss: $i.5"
		i=$((i + 1)); [ $((i % 500)) = 0 ] && sleep 1; done; true' >"$WORK/run.out" 2>"$WORK/run.err" &
TRAIN=$!
sleep 0.5
pg_down
sleep 2
pg_up
sleep 3
ph "after the restart"
sleep 2

# The artifact store's faults, with the clients still sending: tracking
# does not depend on it.
ph "S3 unreachable"
rgw_down
for i in 1 2 3; do
	upload_try "S3 unreachable" "$WORK/down.bin" "s3-down.bin" 503
	grep -q 'artifact store is unreachable' "$WORK/up.out" || fail "503 body: $(cat "$WORK/up.out")"
done
visible s3-down.bin && fail "an upload refused while S3 was down is visible"
[ -z "$(staged)" ] || fail "staging files left while S3 was down: $(staged)"
rgw_up || fail "the gateway did not come back"
down_sha=$(sha256sum <"$WORK/down.bin" | cut -c1-64)
s3_keys "$BUCKET" "c/blobs/" | grep -q "$down_sha" && fail "an object of the refused upload is in S3"
ph "S3 back"
upload_try "S3 back" "$WORK/down.bin" "s3-down.bin" 200
curl -sf "$NGX_URL/api/2.0/mlflow-artifacts/artifacts/$aexp/$arun/artifacts/s3-down.bin" |
	cmp -s - "$WORK/down.bin" || fail "the upload once S3 was back does not read back"
sleep 1
ph "staging volume full"
upload_try "staging volume full" "$WORK/huge.bin" "huge.bin" 507
upload_try "staging volume full" "$WORK/huge.bin" "huge.bin" 507
visible huge.bin && fail "an upload refused for space is visible"
[ -z "$(staged)" ] || fail "staging files left after a full volume: $(staged)"
huge_sha=$(sha256sum <"$WORK/huge.bin" | cut -c1-64)
s3_keys "$BUCKET" "c/blobs/" | grep -q "$huge_sha" && fail "an object of the refused upload is in S3"
# Room again (test_artifacts below sends 200 MB at once).
mount -o remount,size=1g "$WORK/data/staging" || fail "cannot grow the staging volume"
upload_try "staging volume full" "$WORK/huge.bin" "huge.bin" 200
sleep 1

rm -f "$WORK/state/go"
wait "$INGEST" || { cat "$WORK/ingest.log"; fail "the clients failed"; }
INGEST=""
wait "$TRAIN" || { cat "$WORK/run.err"; fail "mltrack run failed across the restart"; }
"$BUILD/mltrack" -q --tracking-uri "http://127.0.0.1:$NGX_PORT" sync 2>"$WORK/sync.err" ||
	{ cat "$WORK/sync.err"; fail "mltrack sync failed"; }
got=$(PGCONN=$direct psql_q "SELECT count(*) || ' ' || count(DISTINCT step) FROM metrics m
	JOIN runs r USING (run_id) WHERE r.name = 'spooled-$$' AND m.key = 'loss'")
[ "$got" = "3000 3000" ] ||
	fail "mltrack run across the restart: $got points stored (count, distinct steps), want 3000 3000: $(cat "$WORK/run.err" "$WORK/sync.err")"
spooled=$(grep -c . "$WORK/run.err" || true)
echo "cluster: mltrack run across the PostgreSQL restart: 3000 points stored once (its stderr: $spooled lines)"

# Uploads cut off mid-stream leave nothing visible: a client killed during
# its upload through nginx, and a server killed during an upload to it.
curl -s -o /dev/null --limit-rate 4M -T "$WORK/upload.bin" \
	"$NGX_URL/api/2.0/mlflow-artifacts/artifacts/$aexp/$arun/artifacts/client-killed.bin" &
up=$!
sleep 1.5
kill -KILL "$up"
wait "$up" 2>/dev/null || true
curl -s -o /dev/null --limit-rate 4M -T "$WORK/upload.bin" \
	"http://127.0.0.1:$(cat "$WORK/port3")/api/2.0/mlflow-artifacts/artifacts/$aexp/$arun/artifacts/server-killed.bin" &
up=$!
sleep 1.5
kill -KILL "$(cat "$WORK/pid3")"
wait "$up" 2>/dev/null && fail "an upload to a killed server succeeded"
serve 3
wait_http "http://127.0.0.1:$(cat "$WORK/port3")/readyz" 60 || fail "server 3 did not come back"
sleep 2.5 # nginx's fail_timeout for server 3
for f in client-killed.bin server-killed.bin; do
	visible "$f" && fail "the cut-off upload $f is visible"
done
# The killed server's temporary file is left to gc, which any server's
# host may run while the others serve (nobody holds its lock).
[ -n "$(staged)" ] || fail "the killed server left no temporary file: is this test still cutting an upload?"
"$BUILD/mltrackd" gc --database-url "$direct" --data-dir "$WORK/data" --artifacts-root "$S3ROOT" \
	--s3-endpoint "$RGW_URL" >"$WORK/gc.log" 2>&1 || { cat "$WORK/gc.log"; fail "mltrackd gc failed"; }
[ -z "$(staged)" ] || fail "gc left $(staged) in the staging directory: $(cat "$WORK/gc.log")"
# The same upload, whole, is then stored and read back intact.
curl -sf -o /dev/null -T "$WORK/upload.bin" \
	"$NGX_URL/api/2.0/mlflow-artifacts/artifacts/$aexp/$arun/artifacts/server-killed.bin" ||
	fail "the upload after the kill failed"
curl -sf "$NGX_URL/api/2.0/mlflow-artifacts/artifacts/$aexp/$arun/artifacts/server-killed.bin" |
	cmp -s - "$WORK/upload.bin" || fail "the upload after the kill does not read back"
echo "cluster: uploads cut off by a killed client or a killed server leave nothing visible"

# The registry's CI flow with the mltrack CLI (tests/api/t0110), through
# nginx: train under `mltrack run`, register, gate, promote, pull.
export RGW_URL RGW_ACCESS_KEY RGW_SECRET_KEY RGW_REGION
SCENARIO_URL="http://127.0.0.1:$NGX_PORT" SCENARIO_PGCONN="$direct" \
	SCENARIO_S3="/$BUCKET/c" ROOT="$ROOT" BUILD="$BUILD" WORK="$WORK" \
	PGCONN="$direct" sh "$ROOT/tests/api/t0110-registry-scenario.sh" ||
	fail "the mltrack CLI's registry scenario through nginx"

# The API suites of runs, experiments, metrics, batches, search, artifacts,
# the registry and gates, and the wire-level replays of MLflow 2.x and 3.x
# clients' artifact and model flows, through nginx: consecutive requests of one test
# land on different servers (their artifact store is one bucket; the tests
# that look into a local store are left to make test).
export MLTRACK_TEST_URL="http://127.0.0.1:$NGX_PORT" \
	MLTRACK_TEST_PGCONN="$direct" MLTRACK_TEST_PSQL="$PG_BINDIR/psql"
api_suites "through nginx and three servers" test_runs test_experiments test_metrics \
	test_batch test_search test_artifacts test_registry test_gates \
	test_mlflow_artifact_flow test_mlflow3_client_flow
echo "cluster: 10 API suites (MLflow 2.x and 3.x clients' artifact and model flows among them) pass through nginx and three servers on S3"

# Graceful stops: exit 0, and no sanitizer report.
for i in 1 2 3; do
	p=$(cat "$WORK/pid$i")
	kill -TERM "$p"
	wait "$p" || { tail -n 30 "$WORK/mltrackd$i.log"; fail "server $i exited $? on SIGTERM"; }
done
PIDS=""
if grep -E 'AddressSanitizer|LeakSanitizer|runtime error' "$WORK"/mltrackd*.log; then
	fail "a server reported the above"
fi

# What was acknowledged, against what PostgreSQL holds.
PGCONN=$direct psql_q "COPY (SELECT run_id, count(*), count(DISTINCT (key, step)) FROM metrics
	GROUP BY run_id) TO STDOUT" >"$WORK/stored"
python3 - "$WORK/state/result.json" "$WORK/stored" "$WORK/state/uploads" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
uploads = {}
for line in open(sys.argv[3]):
    ph, code = line.rstrip("\n").split("\t")
    uploads.setdefault(ph, {})
    uploads[ph][code] = uploads[ph].get(code, 0) + 1
stored = {}
for line in open(sys.argv[2]):
    run, n, distinct = line.split("\t")
    stored[run] = (int(n), int(distinct))
lost = sum(max(0, n - stored.get(run, (0, 0))[0]) for run, n in res["acked"].items())
extra = sum(max(0, stored.get(run, (0, 0))[0] - n) for run, n in res["acked"].items())
dups = sum(stored[run][0] - stored[run][1] for run in res["acked"] if run in stored)
acked = sum(res["acked"].values())
print("%-20s | %8s | %-40s | %6s | %10s" % ("fault", "requests", "answers by status", "lost",
                                             "duplicates"))
print("-" * 96)
order = ["steady", "mltrackd SIGKILL", "after the kill", "PostgreSQL restart",
         "after the restart", "S3 unreachable", "S3 back", "staging volume full"]
for ph in order + sorted(set(res["stats"]) - set(order)):
    s = res["stats"].get(ph, {"requests": 0, "status": {}})
    by = ", ".join("%s: %d" % kv for kv in sorted(s["status"].items()))
    print("%-20s | %8d | %-40s | %6s | %10s" % (ph, s["requests"], by, "", ""))
    if ph in uploads:
        by = ", ".join("%s: %d" % kv for kv in sorted(uploads[ph].items()))
        print("%-20s | %8d | %-40s | %6s | %10s" % ("  its uploads", sum(uploads[ph].values()),
                                                     by, "", ""))
print("%-20s | %8s | %-40s | %6d | %10d" % ("all", "", "%d points acknowledged" % acked,
                                             lost, dups))
bad = []
if lost:
    bad.append("%d acknowledged points are not in PostgreSQL" % lost)
if extra:
    bad.append("%d points are stored that no client sent" % extra)
if dups:
    bad.append("%d points are stored twice" % dups)
for ph, s in res["stats"].items():
    if "500" in s["status"]:
        bad.append("%d answers 500 during '%s'" % (s["status"]["500"], ph))
if res["errors"]:
    bad.append("server errors: " + "; ".join(res["errors"][:5]))
if acked == 0:
    bad.append("nothing was acknowledged")
for ph in order:
    if res["stats"].get(ph, {}).get("status", {}).get("200", 0) == 0 and "after" in ph:
        bad.append("nothing was acknowledged during '%s'" % ph)
    if res["stats"].get(ph, {}).get("requests", 0) == 0:
        bad.append("no request was sent during '%s'" % ph)
if bad:
    print("FAIL: " + "\n      ".join(bad))
    sys.exit(1)
PY
echo "cluster: every acknowledged point stored once through each fault"
