#!/bin/sh
# Backup and restore as docs/operations.md ("Backup and restore") tells
# operators to do it, on a live server:
#
#  1. A source PostgreSQL cluster of its own (WAL archiving on) and an
#     mltrackd on it: experiments, runs with params, metrics and tags,
#     artifacts (one content uploaded twice: one blob), a model version
#     registered as a bundle with the CLI.
#  2. While a writer keeps logging points to a live run: pg_dump -Fc, then
#     (after the dump, never before) a copy of ARTIFACTS_ROOT/blobs.  Between
#     the two an artifact the dump refers to is deleted and another one
#     uploaded; gc does not run in that window.
#  3. pg_restore into an empty database of a fresh cluster, mltrackd on it
#     and on the copied blobs: it applies no migration; every experiment,
#     run, param, metric history, tag, artifact listing, artifact byte and
#     the registered model read back equal to what the source served before
#     the dump; the live run holds a prefix of the acknowledged points that
#     covers everything acknowledged before the dump began and agrees with
#     its latest value; every blob row has its file with the right digest;
#     gc --dry-run would remove only the blob uploaded after the dump; the
#     bundle pulls and verifies; new writes work.  gc on the source, run
#     after the copy, removes the deleted artifact's blob: a copy taken after
#     it would miss a blob the dump needs (why gc must not run meanwhile).
#  4. Point in time: pg_basebackup (tar) of the running source cluster, more
#     writes, a named restore point, more writes, the WAL archived; a cluster
#     recovered from the base backup and the archive up to the restore point
#     holds what came before it and not what came after, and mltrackd serves
#     it and writes to it.
set -eu
. "$ROOT/tests/lib.sh"
dir="$WORK/bk"
mkdir -p "$dir"
[ "$(id -u)" -eq 0 ] && chmod 755 "$dir"

SRC="$dir/src" DST="$dir/dst" PIT="$dir/pit" ARCH="$dir/wal-archive"
spid="" rpid="" ppid="" wpid=""
cleanup() {
	touch "$dir/stop"
	for p in $wpid $spid $rpid $ppid; do kill "$p" 2>/dev/null || true; done
	for p in $wpid $spid $rpid $ppid; do wait_gone "$p" 10 || true; done
	for c in "$SRC" "$DST" "$PIT"; do
		[ -f "$c/data/postmaster.pid" ] &&
			as_pg "$PG_BINDIR/pg_ctl" -D "$c/data" -m immediate -w stop >/dev/null 2>&1 || true
	done
}
trap cleanup EXIT

# Clusters of this test's own (the harness's is shared with other suites, and
# WAL archiving must be on from the start).
cl_init() { # cl_init DIR
	mkdir -p "$1"
	[ "$(id -u)" -eq 0 ] && chown postgres "$1"
	as_pg "$PG_BINDIR/initdb" -D "$1/data" -U mltrack -A trust -E UTF8 --locale=C -N \
		>"$1/initdb.log" 2>&1 || fail "initdb $1: $(tail -n 5 "$1/initdb.log")"
}
cl_start() { # cl_start DIR [OPTIONS]
	as_pg "$PG_BINDIR/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 120 \
		-o "-c listen_addresses= -k $1 -c fsync=off -c synchronous_commit=off ${2:-}" \
		start >/dev/null || fail "cluster $1 did not start: $(tail -n 20 "$1/server.log")"
}
conn_of() { echo "host=$1 port=5432 user=mltrack dbname=${2:-mltrack}"; }
q() { # q CLUSTER SQL
	"$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$(conn_of "$1")" -c "$2"
}
server() { # server NAME CLUSTER ARTIFACTS: starts mltrackd, sets PID and URL
	_port=$(free_port)
	"$BUILD/mltrackd" --database-url "$(conn_of "$2")" --port "$_port" --data-dir "$dir/mltrackd-$1" \
		--artifacts-root "$3" >"$WORK/backup-$1.log" 2>&1 &
	PID=$!
	URL="http://127.0.0.1:$_port"
	wait_http "$URL/readyz" 60 || fail "mltrackd $1 did not start: $(tail -n 5 "$WORK/backup-$1.log")"
}
digest() { sha256sum "$1" | cut -d' ' -f1; }

# ---- 1. the source: archiving on, a server, data.
mkdir -p "$ARCH"
[ "$(id -u)" -eq 0 ] && chown postgres "$ARCH"
cl_init "$SRC"
cl_start "$SRC" "-c wal_level=replica -c archive_mode=on \
-c archive_command='test ! -f $ARCH/%f && cp %p $ARCH/%f'"
"$PG_BINDIR/psql" -X -q -d "$(conn_of "$SRC" postgres)" -c "CREATE DATABASE mltrack" ||
	fail "CREATE DATABASE"
server src "$SRC" "$dir/src-artifacts"
spid=$PID
BASE=$URL
SURL=$URL

post() { # post PATH JSON: BODY, or fail
	api POST "$1" "$2"
	[ "$HTTP_STATUS" = 200 ] || fail "POST $1: $HTTP_STATUS $BODY"
}
exp_create() { post /api/2.0/mlflow/experiments/create "{\"name\": \"$1\"}"; EXP=$(echo "$BODY" | json_get experiment_id); }
run_create() {
	post /api/2.0/mlflow/runs/create "{\"experiment_id\": \"$1\", \"run_name\": \"$2\", \"start_time\": 1700000000000}"
	RUN=$(echo "$BODY" | json_get run info run_id)
}
upload() { # upload FILE EXP RUN NAME
	_c=$(curl -s -o "$dir/put.out" -w '%{http_code}' -T "$1" \
		"$BASE/api/2.0/mlflow-artifacts/artifacts/$2/$3/artifacts/$4")
	[ "$_c" = 200 ] || fail "upload $4: $_c $(cat "$dir/put.out")"
}

head -c 300000 /dev/urandom >"$dir/a.bin"
head -c 70000 /dev/urandom >"$dir/b.bin"
head -c 5000 /dev/urandom >"$dir/c.bin"
printf '{"note": "deleted after the dump"}\n' >"$dir/d.json"
RUNS=""
EXPS=""
for e in vision nlp; do
	exp_create "$e"
	EXPS="$EXPS $EXP"
	for r in 1 2 3; do
		run_create "$EXP" "$e-$r"
		RUNS="$RUNS $RUN"
		ms=""
		for s in 0 1 2 3 4 5 6 7 8 9; do
			ms="$ms{\"key\": \"loss\", \"value\": 0.$r$s, \"timestamp\": $((1700000000000 + s)), \"step\": $s},"
			ms="$ms{\"key\": \"acc\", \"value\": 1e-0$r, \"timestamp\": $((1700000000000 + s)), \"step\": $((s * 10))},"
		done
		post /api/2.0/mlflow/runs/log-batch "{\"run_id\": \"$RUN\",
			\"params\": [{\"key\": \"lr\", \"value\": \"0.0$r\"}, {\"key\": \"model\", \"value\": \"$e\"}],
			\"tags\": [{\"key\": \"team\", \"value\": \"t$r\"}, {\"key\": \"note\", \"value\": \"ünïcode $e\"}],
			\"metrics\": [${ms%,}]}"
		post /api/2.0/mlflow/runs/log-metric "{\"run_id\": \"$RUN\", \"key\": \"nan\", \"value\": \"NaN\", \"timestamp\": 1700000000001, \"step\": 0}"
		post /api/2.0/mlflow/runs/update "{\"run_id\": \"$RUN\", \"status\": \"FINISHED\", \"end_time\": 1700000100000}"
		upload "$dir/a.bin" "$EXP" "$RUN" "weights/a.bin" # the same bytes in every run: one blob
		if [ "$r" = 1 ]; then upload "$dir/b.bin" "$EXP" "$RUN" "b.bin"; fi
		if [ "$r" = 2 ]; then upload "$dir/c.bin" "$EXP" "$RUN" "nested/dir/c.bin"; fi
	done
done
set -- $RUNS
R1=$1
set -- $EXPS
E1=$1
upload "$dir/d.json" "$E1" "$R1" "d.json"
[ "$(q "$SRC" "SELECT count(*) FROM blobs")" = 4 ] ||
	fail "dedup: $(q "$SRC" "SELECT count(*) FROM blobs") blobs for 4 distinct contents"

# A model version registered as a bundle by the CLI (a blob of its own).
export MLTRACK_TRACKING_URI="$BASE" MLTRACK_SPOOL_DIR="$dir/spool" HOME="$dir"
mkdir -p "$dir/model/w"
printf '{"layers": 2}\n' >"$dir/model/config.json"
head -c 40000 /dev/urandom >"$dir/model/w/w0.bin"
V=$("$BUILD/mltrack" -q model register churn --run "$R1" --from "$dir/model") ||
	fail "model register failed"
[ "$V" = 1 ] || fail "model version '$V'"

# What the source serves for everything but the live run (which the writer
# below changes); compared with what the restored servers serve.
cat >"$dir/snap.py" <<'EOF'
# snap.py BASE EXPS RUNS: every answer below, as raw text, keyed by request.
import hashlib, json, sys, urllib.parse, urllib.request
base, exps, runs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
snap = {}
def get(url_path, data=None, **q):
    url = base + url_path + ("?" + urllib.parse.urlencode(q) if q else "")
    req = urllib.request.Request(url, data=data and json.dumps(data).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.read()
def js(url_path, data=None, **q):
    text = get(url_path, data, **q).decode()
    snap[url_path + " " + json.dumps(data or q, sort_keys=True)] = text
    return json.loads(text)
for e in exps:
    js("/api/2.0/mlflow/experiments/get", experiment_id=e)
js("/api/2.0/mlflow/runs/search", {"experiment_ids": exps, "max_results": 1000})
arts = "/api/2.0/mlflow-artifacts/artifacts"
def walk(path):
    for f in js(arts, path=path).get("files", []):
        p = path + "/" + f["path"]
        if f.get("is_dir"):
            walk(p)
        else:
            snap["bytes " + p] = hashlib.sha256(get(arts + "/" + urllib.parse.quote(p))).hexdigest()
for r in runs:
    run = js("/api/2.0/mlflow/runs/get", run_id=r)
    for m in run["run"]["data"].get("metrics", []):
        js("/api/2.0/mlflow/metrics/get-history", run_id=r, metric_key=m["key"], max_results=25000)
    walk(run["run"]["info"]["experiment_id"] + "/" + r + "/artifacts")
js("/api/2.0/mlflow/registered-models/get", name="churn")
js("/api/2.0/mlflow/model-versions/get", name="churn", version="1")
json.dump(snap, sys.stdout, sort_keys=True, indent=1)
EOF
snap() { python3 "$dir/snap.py" "$1" "$EXPS" "$RUNS" >"$2" || fail "snapshot of $1 failed"; }
snap "$SURL" "$dir/before.json"
grep -q '/d.json"' "$dir/before.json" && grep -q 'nested/dir/c.bin"' "$dir/before.json" ||
	fail "the snapshot lacks artifacts"

# ---- 2. the backup, with a writer logging to a live run all along.
exp_create live
LEXP=$EXP
run_create "$LEXP" live
LIVE=$RUN
echo 0 >"$dir/acked"
(
	i=0
	while [ ! -e "$dir/stop" ]; do
		c=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
			-d "{\"run_id\": \"$LIVE\", \"metrics\": [{\"key\": \"live\", \"value\": $i.5, \"timestamp\": $((1700000000000 + i)), \"step\": $i}]}" \
			"$SURL/api/2.0/mlflow/runs/log-batch")
		if [ "$c" = 200 ]; then
			i=$((i + 1))
			echo "$i" >"$dir/acked.tmp" && mv "$dir/acked.tmp" "$dir/acked"
		else
			echo "writer: $c" >>"$dir/writer.err"
		fi
	done
) &
wpid=$!
acked() { cat "$dir/acked"; }
i=0
while [ "$(acked)" -lt 20 ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "the writer does not write ($(acked) points)"
	sleep 0.1
done

# A base backup of the running cluster while the writer writes, for part 4.
"$PG_BINDIR/pg_basebackup" -d "$(conn_of "$SRC" postgres)" -D "$dir/base" -Ft -X stream \
	-c fast >"$dir/basebackup.log" 2>&1 || fail "pg_basebackup: $(cat "$dir/basebackup.log")"
[ -s "$dir/base/base.tar" ] && [ -s "$dir/base/pg_wal.tar" ] || fail "pg_basebackup wrote $(ls "$dir/base")"

n0=$(acked)
t0=$(date +%s.%N)
"$PG_BINDIR/pg_dump" -Fc -d "$(conn_of "$SRC")" -f "$dir/mltrack.dump" 2>"$dir/pg_dump.err" ||
	fail "pg_dump: $(cat "$dir/pg_dump.err")"
n1=$(acked)
[ ! -s "$dir/pg_dump.err" ] || fail "pg_dump said: $(cat "$dir/pg_dump.err")"
echo "pg_dump: $(stat -c %s "$dir/mltrack.dump") bytes in $(awk "BEGIN {print $(date +%s.%N) - $t0}") s, live points acknowledged $n0 before, $n1 after"

# Between the dump and the copy: an artifact the dump refers to is deleted
# (its blob stays: no gc now) and one the dump does not know is uploaded.
c=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$BASE/api/2.0/mlflow-artifacts/artifacts/$E1/$R1/artifacts/d.json")
[ "$c" = 200 ] || fail "delete d.json: $c"
head -c 9000 /dev/urandom >"$dir/late.bin"
upload "$dir/late.bin" "$E1" "$R1" "late.bin"
cp -a "$dir/src-artifacts/blobs" "$dir/blobs-copy" || fail "copying the blobs"
n2=$(acked)
[ "$n2" -gt "$n0" ] || fail "the writer stopped during the backup ($n0, $n2)"

# gc on the source only now that the copy is done.  It removes the blob of
# the deleted artifact, which the dump still refers to: a copy started after
# this gc would be missing it.
d=$(digest "$dir/d.json")
dblob="$(echo "$d" | cut -c1-2)/$(echo "$d" | cut -c3-4)/$d"
out=$("$BUILD/mltrackd" gc --database-url "$(conn_of "$SRC")" --artifacts-root "$dir/src-artifacts" 2>&1) ||
	fail "gc on the source: $out"
case "$out" in *"removed 1 blob ($(stat -c %s "$dir/d.json") bytes)"*) ;; *) fail "gc on the source said: $out" ;; esac
[ ! -e "$dir/src-artifacts/blobs/$dblob" ] || fail "gc left the deleted artifact's blob"
[ -f "$dir/blobs-copy/$dblob" ] || fail "the copy lacks the deleted artifact's blob"

# ---- 3. restore into a fresh cluster and a fresh artifact directory.
cl_init "$DST"
cl_start "$DST"
"$PG_BINDIR/psql" -X -q -d "$(conn_of "$DST" postgres)" -c "CREATE DATABASE mltrack TEMPLATE template0" ||
	fail "CREATE DATABASE on the restore cluster"
t0=$(date +%s.%N)
"$PG_BINDIR/pg_restore" --exit-on-error --no-owner -d "$(conn_of "$DST")" "$dir/mltrack.dump" \
	2>"$dir/pg_restore.err" || fail "pg_restore: $(cat "$dir/pg_restore.err")"
[ ! -s "$dir/pg_restore.err" ] || fail "pg_restore said: $(cat "$dir/pg_restore.err")"
q "$DST" "ANALYZE" >/dev/null
echo "pg_restore: $(awk "BEGIN {print $(date +%s.%N) - $t0}") s"
mkdir -p "$dir/dst-artifacts"
cp -a "$dir/blobs-copy" "$dir/dst-artifacts/blobs"
server dst "$DST" "$dir/dst-artifacts"
rpid=$PID
RURL=$URL
! grep -q 'applied migration' "$WORK/backup-dst.log" ||
	fail "mltrackd migrated the restored database: $(grep 'applied migration' "$WORK/backup-dst.log")"

# Every blob row has its file, with its digest.
for s in $(q "$DST" "SELECT sha256 FROM blobs UNION SELECT sha256 FROM artifacts"); do
	f="$dir/dst-artifacts/blobs/$(echo "$s" | cut -c1-2)/$(echo "$s" | cut -c3-4)/$s"
	[ -f "$f" ] || fail "blob $s is missing from the restored store"
	[ "$(digest "$f")" = "$s" ] || fail "blob $s has other bytes"
done
nb=$(q "$DST" "SELECT count(*) FROM blobs")
[ "$nb" = 5 ] || fail "the restored database has $nb blobs, want 5 (4 files and a bundle)"
snap "$RURL" "$dir/restored.json"
cmp -s "$dir/before.json" "$dir/restored.json" ||
	fail "the restored server serves other data: $(diff "$dir/before.json" "$dir/restored.json" | head -n 20)"

# The live run: a prefix 0..k-1 of the acknowledged points, with everything
# acknowledged before pg_dump began (n0) and nothing after it ended (n1; one
# more may have committed before its answer arrived), its latest value the
# history's last.
BASE=$RURL
api GET "/api/2.0/mlflow/metrics/get-history?run_id=$LIVE&metric_key=live&max_results=25000"
[ "$HTTP_STATUS" = 200 ] || fail "live history: $HTTP_STATUS $BODY"
k=$(echo "$BODY" | python3 -c 'import json, sys
ms = json.load(sys.stdin).get("metrics", [])
steps = [m["step"] for m in ms]
assert steps == [str(i) for i in range(len(ms))] or steps == list(range(len(ms))), steps[:5]
assert all(m["value"] == int(m["step"]) + 0.5 for m in ms), "values"
print(len(ms))') || fail "the restored live history is not a prefix: $(echo "$BODY" | head -c 300)"
[ "$k" -ge "$n0" ] && [ "$k" -le $((n1 + 1)) ] ||
	fail "the restored live run has $k points; $n0 were acknowledged before the dump, $n1 at its end"
api GET "/api/2.0/mlflow/runs/get?run_id=$LIVE"
latest=$(echo "$BODY" | python3 -c 'import json, sys
print([m for m in json.load(sys.stdin)["run"]["data"]["metrics"] if m["key"] == "live"][0]["step"])')
[ "$latest" = $((k - 1)) ] || fail "latest_metrics says step $latest, the history ends at $((k - 1))"
[ "$(acked)" -gt "$k" ] || fail "no point was written after the dump ($k)"
echo "live run: $k points restored ($n0 acknowledged before the dump, $n1 after it, $(acked) by now)"

# The upload after the dump is not there; its blob is the one orphan.
c=$(curl -s -o /dev/null -w '%{http_code}' "$RURL/api/2.0/mlflow-artifacts/artifacts/$E1/$R1/artifacts/late.bin")
[ "$c" = 404 ] || fail "the upload after the dump answers $c on the restored server"
gcd() { "$BUILD/mltrackd" gc --database-url "$(conn_of "$DST")" --artifacts-root "$dir/dst-artifacts" "$@" 2>&1; }
out=$(gcd --dry-run) || fail "gc --dry-run on the restored store: $out"
[ "$out" = "gc: would remove 0 blobs, 1 orphan file (9.0 kB), 0 temporary files; kept 5 blobs (dry run)" ] ||
	fail "gc --dry-run on the restored store said: $out"
out=$(gcd) || fail "gc on the restored store: $out"
out=$(gcd --dry-run) || fail "gc --dry-run on the restored store: $out"
[ "$out" = "gc: would remove 0 blobs, 0 orphan files, 0 temporary files; kept 5 blobs (dry run)" ] ||
	fail "gc --dry-run after gc on the restored store said: $out"

# The bundle pulls and verifies, the deleted-after-dump artifact downloads.
MLTRACK_TRACKING_URI=$RURL "$BUILD/mltrack" -q model pull churn/1 -o "$dir/pulled" >/dev/null 2>"$dir/pull.err" ||
	fail "pull from the restored server: $(cat "$dir/pull.err")"
diff -r -x MLTRACK-BUNDLE.json "$dir/model" "$dir/pulled" >/dev/null || fail "the pulled model differs"
curl -s -o "$dir/d.out" "$RURL/api/2.0/mlflow-artifacts/artifacts/$E1/$R1/artifacts/d.json"
[ "$(digest "$dir/d.out")" = "$d" ] || fail "d.json does not download from the restored server"

# New writes on the restored server: a run, points, an artifact (its
# bytes already stored: dedup against restored blobs), a model version.
# Identifiers continue after the restored ones (the sequences came back).
exp_create after-restore
[ "$EXP" -gt "$LEXP" ] || fail "the restored server's new experiment got id $EXP (the last restored: $LEXP)"
run_create "$LEXP" after-restore
post /api/2.0/mlflow/runs/log-batch "{\"run_id\": \"$RUN\", \"metrics\": [{\"key\": \"m\", \"value\": 1, \"timestamp\": 1, \"step\": 1}]}"
post /api/2.0/mlflow/runs/log-batch "{\"run_id\": \"$LIVE\", \"metrics\": [{\"key\": \"live\", \"value\": 1e6, \"timestamp\": 1, \"step\": 1000000}]}"
upload "$dir/a.bin" "$LEXP" "$RUN" "a-again.bin"
upload "$dir/late.bin" "$LEXP" "$RUN" "late.bin"
V=$(MLTRACK_TRACKING_URI=$RURL "$BUILD/mltrack" -q model register churn --run "$RUN" --from "$dir/model") ||
	fail "model register on the restored server"
[ "$V" = 2 ] || fail "the restored server's next version is '$V'"
api GET "/api/2.0/mlflow/metrics/get-history?run_id=$RUN&metric_key=m"
[ "$HTTP_STATUS" = 200 ] && echo "$BODY" | grep -q '"step":"1"\|"step":1' || fail "new run's history: $BODY"
nb=$(q "$DST" "SELECT count(*) FROM blobs")
out=$(gcd --dry-run) || fail "gc --dry-run: $out"
[ "$out" = "gc: would remove 0 blobs, 0 orphan files, 0 temporary files; kept $nb blobs (dry run)" ] ||
	fail "gc --dry-run after new writes said: $out"

# ---- 4. point in time: base backup + archived WAL up to a restore point.
BASE=$SURL
run_create "$LEXP" before-target
BEFORE=$RUN
post /api/2.0/mlflow/runs/log-batch "{\"run_id\": \"$RUN\", \"params\": [{\"key\": \"p\", \"value\": \"v\"}], \"metrics\": [{\"key\": \"m\", \"value\": 2, \"timestamp\": 2, \"step\": 2}]}"
head -c 12000 /dev/urandom >"$dir/pit.bin"
upload "$dir/pit.bin" "$LEXP" "$BEFORE" "pit.bin"
q "$SRC" "SELECT pg_create_restore_point('before-mistake')" >/dev/null
run_create "$LEXP" after-target
AFTER=$RUN
touch "$dir/stop"
wait "$wpid" 2>/dev/null || true
wpid=""
[ ! -s "$dir/writer.err" ] || fail "the live writer got errors: $(sort "$dir/writer.err" | uniq -c)"
wal=$(q "$SRC" "SELECT pg_walfile_name(pg_switch_wal())")
i=0
until [ -f "$ARCH/$wal" ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "WAL $wal was never archived: $(tail -n 5 "$SRC/server.log")"
	sleep 0.1
done
cp -a "$dir/src-artifacts/blobs" "$dir/blobs-copy2"

mkdir -p "$PIT/data"
tar -xf "$dir/base/base.tar" -C "$PIT/data"
tar -xf "$dir/base/pg_wal.tar" -C "$PIT/data/pg_wal"
cat >>"$PIT/data/postgresql.auto.conf" <<EOF
restore_command = 'cp $ARCH/%f "%p"'
recovery_target_name = 'before-mistake'
recovery_target_action = 'promote'
EOF
touch "$PIT/data/recovery.signal"
[ "$(id -u)" -eq 0 ] && chown -R postgres "$PIT"
chmod 700 "$PIT/data"
cl_start "$PIT"
i=0
until [ "$(q "$PIT" "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ]; do
	i=$((i + 1))
	[ $i -lt 600 ] || fail "recovery did not end: $(tail -n 10 "$PIT/server.log")"
	sleep 0.1
done
grep -q 'recovery stopping at restore point "before-mistake"' "$PIT/server.log" ||
	fail "recovery did not stop at the restore point: $(grep -i recover "$PIT/server.log" | tail -n 5)"
mkdir -p "$dir/pit-artifacts"
cp -a "$dir/blobs-copy2" "$dir/pit-artifacts/blobs"
server pit "$PIT" "$dir/pit-artifacts"
ppid=$PID
BASE=$URL
! grep -q 'applied migration' "$WORK/backup-pit.log" || fail "mltrackd migrated the recovered database"
api GET "/api/2.0/mlflow/runs/get?run_id=$BEFORE"
[ "$HTTP_STATUS" = 200 ] && echo "$BODY" | grep -q '"key":"p"' || fail "the run before the restore point: $HTTP_STATUS $BODY"
api GET "/api/2.0/mlflow/runs/get?run_id=$AFTER"
[ "$HTTP_STATUS" = 404 ] || fail "the run after the restore point answers $HTTP_STATUS"
curl -s -o "$dir/pit.out" "$BASE/api/2.0/mlflow-artifacts/artifacts/$LEXP/$BEFORE/artifacts/pit.bin"
[ "$(digest "$dir/pit.out")" = "$(digest "$dir/pit.bin")" ] || fail "pit.bin after point-in-time recovery"
snap "$BASE" "$dir/pit.json"
# The source's state before the dump is what was there at the restore point,
# but d.json (deleted later) and late.bin (added later): compare without them.
python3 - "$dir/before.json" "$dir/pit.json" "$R1" <<'EOF' || fail "the recovered server serves other data"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
# The listing of R1's artifacts and the two files that differ by design.
skip = lambda k: ("/" + sys.argv[3] + "/artifacts" in k and "mlflow-artifacts" in k) or k.endswith(("/d.json", "/late.bin"))
a, b = ({k: v for k, v in s.items() if not skip(k)} for s in (a, b))
if a != b:
    sys.exit("differ: " + ", ".join(sorted(set(k for k in a.keys() | b.keys() if a.get(k) != b.get(k)))))
EOF
out=$("$BUILD/mltrackd" gc --dry-run --database-url "$(conn_of "$PIT")" --artifacts-root "$dir/pit-artifacts" 2>&1) ||
	fail "gc --dry-run after recovery: $out"
# At the restore point d.json's blob was gone (gc ran before it), late.bin's
# and pit.bin's referenced; the copy was taken after it with no gc between.
[ "$out" = "gc: would remove 0 blobs, 0 orphan files, 0 temporary files; kept 6 blobs (dry run)" ] ||
	fail "gc --dry-run after recovery said: $out"
post /api/2.0/mlflow/runs/log-batch "{\"run_id\": \"$BEFORE\", \"metrics\": [{\"key\": \"m\", \"value\": 3, \"timestamp\": 3, \"step\": 3}]}"

# A graceful stop of each server exits 0 (LeakSanitizer's verdict under ASan).
for p in $spid $rpid $ppid; do
	kill -TERM "$p"
	wait "$p" || fail "mltrackd $p exited $?"
done
spid="" rpid="" ppid=""
if grep -E '(AddressSanitizer|runtime error|LeakSanitizer)' "$WORK"/backup-*.log; then
	fail "a sanitizer report"
fi
echo "backup: pg_dump + blob copy of a live server restored exactly; gc rule shown; point-in-time recovery to a restore point"
