#!/bin/sh
# mltrackd gc: an unreferenced blob's row and file go, a referenced one stays
# and still downloads; --dry-run removes nothing; a blob file without a row
# and an abandoned temporary upload go; an upload streaming while gc runs
# (its bytes' blob garbage at the time) and a transaction committing a
# reference under the blob lock both survive gc; gc against a running
# embedded server uses that server's PostgreSQL, and without one starts and
# stops its own.
set -eu
. "$ROOT/tests/lib.sh"
db="gc_$$"
psql_q "CREATE DATABASE $db" >/dev/null
conn=$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=$db/")
port=$(free_port)
BASE="http://127.0.0.1:$port"
dir="$WORK/d9"
store="$dir/artifacts"
log="$WORK/gc-server.log"
"$BUILD/mltrackd" --database-url "$conn" --port "$port" --data-dir "$dir" >"$log" 2>&1 &
pid=$!
cpid=""
epid=""
trap 'kill $pid $cpid $epid 2>/dev/null || true' EXIT
wait_http "$BASE/readyz" 60 || fail "server did not start"
url="$BASE/api/2.0/mlflow-artifacts/artifacts/1/gc"

sql() { PGCONN="$conn" psql_q "$1"; }
digest() { sha256sum "$1" | cut -d' ' -f1; }
blob() { echo "$store/blobs/$(echo "$1" | cut -c1-2)/$(echo "$1" | cut -c3-4)/$1"; }
rows() { sql "SELECT count(*) FROM blobs WHERE sha256 = '$1'"; }
put() {
	code=$(curl -s -o "$WORK/put.out" -w '%{http_code}' -T "$1" "$url/$2")
	[ "$code" = 200 ] || fail "upload $2: $code $(cat "$WORK/put.out")"
}
del() {
	code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$url/$1")
	[ "$code" = 200 ] || fail "delete $1: $code"
}
# downloads NAME SHA: the artifact comes back with that digest and ETag
downloads() {
	curl -s -D "$WORK/get.h" -o "$WORK/get.out" "$url/$1"
	[ "$(digest "$WORK/get.out")" = "$2" ] || fail "$1 downloads with the wrong digest"
	grep -qi "^etag: \"$2\"" "$WORK/get.h" || fail "$1: ETag $(grep -i etag "$WORK/get.h")"
}
gc() {
	"$BUILD/mltrackd" gc --database-url "$conn" --data-dir "$dir" "$@" 2>>"$WORK/gc.log" ||
		fail "gc $*: exit $?: $(tail -n 3 "$WORK/gc.log")"
}
expect() { # expect OUTPUT TEXT
	case "$1" in *"$2"*) ;; *) fail "gc said '$1', expected '$2'" ;; esac
}

# (a) one of two blobs unreferenced; --dry-run first.
head -c 100000 /dev/urandom >"$WORK/a.bin"
head -c 200000 /dev/urandom >"$WORK/b.bin"
a=$(digest "$WORK/a.bin")
b=$(digest "$WORK/b.bin")
put "$WORK/a.bin" a.bin
put "$WORK/b.bin" b.bin
del a.bin
out=$(gc --dry-run)
expect "$out" "gc: would remove 1 blob (100.0 kB), 0 orphan files, 0 temporary files; kept 1 blob (dry run)"
[ -f "$(blob "$a")" ] && [ "$(rows "$a")" = 1 ] || fail "--dry-run removed something"
out=$(gc)
expect "$out" "gc: removed 1 blob (100.0 kB), 0 orphan files, 0 temporary files; kept 1 blob"
[ ! -e "$(blob "$a")" ] || fail "unreferenced blob file still there"
[ "$(rows "$a")" = 0 ] || fail "unreferenced blob row still there"
[ -f "$(blob "$b")" ] && [ "$(rows "$b")" = 1 ] || fail "referenced blob removed"
downloads b.bin "$b"
# The same bytes again after their blob was collected.
put "$WORK/a.bin" a-again.bin
downloads a-again.bin "$a"
del a-again.bin

# (c) a blob file without a row (a crash between rename and commit), and a
# row without a file or references.
head -c 5000 /dev/urandom >"$WORK/c.bin"
c=$(digest "$WORK/c.bin")
mkdir -p "$(dirname "$(blob "$c")")"
cp "$WORK/c.bin" "$(blob "$c")"
ghost=$(printf 'ghost' | sha256sum | cut -d' ' -f1)
sql "INSERT INTO blobs (sha256, size, created_at) VALUES ('$ghost', 7, 0)" >/dev/null
out=$(gc --dry-run)
expect "$out" "would remove 2 blobs (100.0 kB), 1 orphan file (5.0 kB)"
[ -f "$(blob "$c")" ] || fail "--dry-run removed the orphan file"
out=$(gc)
expect "$out" "removed 2 blobs (100.0 kB), 1 orphan file (5.0 kB), 0 temporary files; kept 1 blob"
[ ! -e "$(blob "$c")" ] || fail "orphan blob file still there"
[ "$(rows "$ghost")" = 0 ] || fail "row without a file still there"

# (b) gc while an upload streams bytes whose blob is garbage at the time,
# with an abandoned temporary file beside it.
head -c 4000000 /dev/urandom >"$WORK/x.bin"
x=$(digest "$WORK/x.bin")
put "$WORK/x.bin" x.bin
del x.bin
[ -f "$(blob "$x")" ] || fail "no blob for x"
printf 'left by a crash' >"$store/tmp/upload-abandoned"
curl -s -o "$WORK/x2.out" -w '%{http_code}' --limit-rate 600k -T "$WORK/x.bin" "$url/x2.bin" \
	>"$WORK/x2.code" &
cpid=$!
inflight=""
i=0
while [ -z "$inflight" ] && [ $i -lt 100 ]; do
	sleep 0.1
	inflight=$(ls "$store/tmp" | grep -v '^upload-abandoned$' || true)
	i=$((i + 1))
done
[ -n "$inflight" ] || fail "the slow upload never made a temporary file"
sleep 1
out=$(gc)
expect "$out" "removed 1 blob (4.0 MB), 0 orphan files, 1 temporary file (15 bytes)"
[ ! -e "$(blob "$x")" ] || fail "garbage blob of the in-flight bytes not collected"
[ ! -e "$store/tmp/upload-abandoned" ] || fail "abandoned temporary file still there"
[ -f "$store/tmp/$inflight" ] || fail "gc removed the in-flight upload's temporary file"
kill -0 "$cpid" 2>/dev/null || fail "the upload finished before gc did: rate limit too high"
wait "$cpid" || fail "curl failed"
cpid=""
[ "$(cat "$WORK/x2.code")" = 200 ] || fail "in-flight upload: $(cat "$WORK/x2.code") $(cat "$WORK/x2.out")"
downloads x2.bin "$x"
[ -f "$(blob "$x")" ] && [ "$(rows "$x")" = 1 ] || fail "the in-flight upload's blob is missing"
[ -z "$(ls "$store/tmp")" ] || fail "temporary files left: $(ls "$store/tmp")"

# (e) a writer committing a reference to a garbage blob under the shared
# lock (what an upload does) while gc waits for the exclusive one.  The key
# is the one sql_artifacts.c documents.
head -c 4000 /dev/urandom >"$WORK/y.bin"
y=$(digest "$WORK/y.bin")
put "$WORK/y.bin" y.bin
del y.bin
PGCONN="$conn" psql_q "BEGIN;
SELECT pg_advisory_xact_lock_shared(1836409452, ('x' || left('$y', 8))::bit(32)::int);
SELECT pg_sleep(2);
INSERT INTO artifacts (path, sha256, size, created_at) VALUES ('1/gc/y-late.bin', '$y', 4000, 0);
COMMIT;" >/dev/null &
wpid=$!
i=0
until [ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND mode = 'ShareLock' AND granted")" = 1 ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "the writer never took the blob lock"
	sleep 0.05
done
out=$(gc)
wait "$wpid" || fail "the writer failed"
expect "$out" "removed 0 blobs"
[ -f "$(blob "$y")" ] && [ "$(rows "$y")" = 1 ] || fail "gc removed a blob referenced under its lock"
downloads y-late.bin "$y"
downloads b.bin "$b"

# An error is one line on stderr and a non-zero exit.
if "$BUILD/mltrackd" gc --database-url "host=$WORK/nowhere dbname=x" --data-dir "$dir" \
	>"$WORK/gc-err.out" 2>"$WORK/gc-err.err"; then
	fail "gc without a database succeeded"
fi
[ "$(wc -l <"$WORK/gc-err.err")" = 1 ] && grep -q '^mltrackd: ' "$WORK/gc-err.err" ||
	fail "gc error output: $(cat "$WORK/gc-err.err")"
[ ! -s "$WORK/gc-err.out" ] || fail "gc printed a summary after an error"

kill -TERM "$pid"
wait "$pid" || fail "server exit status"
grep -E '(AddressSanitizer|runtime error|LeakSanitizer)' "$log" "$WORK/gc.log" && fail "sanitizer report"
psql_q "DROP DATABASE $db" >/dev/null

# (d) the embedded cluster: gc uses a running server's, else its own.
eport=$(free_port)
BASE="http://127.0.0.1:$eport"
edir="$WORK/gc-embedded"
elog="$WORK/gc-embedded.log"
url="$BASE/api/2.0/mlflow-artifacts/artifacts/1/gc"
store="$edir/artifacts"
"$BUILD/mltrackd" --port "$eport" --data-dir "$edir" >>"$elog" 2>&1 &
epid=$!
wait_http "$BASE/readyz" 120 || { cat "$elog"; fail "embedded server did not start"; }
put "$WORK/a.bin" a.bin
put "$WORK/b.bin" b.bin
del a.bin
out=$("$BUILD/mltrackd" gc --data-dir "$edir" 2>"$WORK/gc-emb.err") ||
	fail "gc on a running embedded server: $(cat "$WORK/gc-emb.err")"
expect "$out" "gc: removed 1 blob (100.0 kB), 0 orphan files, 0 temporary files; kept 1 blob"
grep -q 'using the PostgreSQL of the mltrackd running on' "$WORK/gc-emb.err" ||
	fail "gc did not attach: $(cat "$WORK/gc-emb.err")"
[ ! -e "$(blob "$a")" ] || fail "embedded: unreferenced blob file still there"
downloads b.bin "$b"
put "$WORK/a.bin" a2.bin
downloads a2.bin "$a"
api GET /readyz
[ "$HTTP_STATUS" = 200 ] || fail "server not ready after gc: $HTTP_STATUS"
kill -TERM "$epid"
wait "$epid" || fail "embedded server exit status"
epid=""
# No server: gc starts the cluster, collects, and stops it again; its
# chatter goes to stderr, stdout has the summary line only.
[ ! -f "$edir/pg/postmaster.pid" ] || fail "postmaster.pid left after SIGTERM"
out=$("$BUILD/mltrackd" gc --data-dir "$edir" 2>"$WORK/gc-emb2.err") ||
	fail "gc with no server running: $(cat "$WORK/gc-emb2.err")"
[ "$out" = "gc: removed 0 blobs, 0 orphan files, 0 temporary files; kept 2 blobs" ] ||
	fail "gc printed: $out"
[ ! -f "$edir/pg/postmaster.pid" ] || fail "gc left its PostgreSQL running"
grep -E '(AddressSanitizer|runtime error|LeakSanitizer)' "$elog" "$WORK/gc-emb.err" "$WORK/gc-emb2.err" &&
	fail "sanitizer report"
trap - EXIT
echo "gc: unreferenced blobs, orphan and temporary files removed; uploads in flight and references under the lock kept; embedded attach"
