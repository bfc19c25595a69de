#!/bin/sh
# The artifact store on S3 (--artifacts-root s3://BUCKET/PREFIX) against a
# real S3 implementation, Ceph's RADOS Gateway (rgw_start in tests/lib.sh),
# with what was stored cross-checked by Debian's s3cmd and by plain signed
# requests (s3_curl):
#   - content-addressed objects PREFIX/blobs/<sha256> holding exactly the
#     bytes uploaded; the same bytes under another path are not sent again
#     (mltrackd's own S3 byte counter);
#   - a 40 MB upload goes as a multipart upload (3 parts) and reads back
#     whole, by Range and by HEAD;
#   - an object damaged in the store is never served whole;
#   - the store unreachable: uploads and downloads answer 503 with a clear
#     message, nothing is recorded or left in staging, the tracking API
#     keeps working; once it is back, the same upload works;
#   - gc removes unreferenced objects, orphan objects older than --min-age
#     (none younger) and multipart uploads never completed;
#   - bad configuration is refused at start with one clear line.
set -eu
. "$ROOT/tests/lib.sh"
# A database of its own: gc's counts are this test's alone.
psql_q "CREATE DATABASE t_s3_$$" >/dev/null
PGCONN=$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=t_s3_$$/")
command -v radosgw >/dev/null && command -v s3cmd >/dev/null || fail "radosgw or s3cmd is missing (make deps)"
t0=$(date +%s)
rgw_start "$WORK/rgw" || fail "the RADOS gateway did not start"
trap 'rgw_stop' EXIT
bucket=mltrack-t0200
[ "$(s3_curl PUT "/$bucket")" = 200 ] || fail "cannot create bucket $bucket"
export AWS_ACCESS_KEY_ID=$RGW_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$RGW_SECRET_KEY
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_SESSION_TOKEN 2>/dev/null || true

# Refused at start: a bucket that does not exist, bad credentials, an
# endpoint without a scheme, S3 flags without an s3:// root.
for bad in "s3://no-such-bucket-$$/x|does not exist" "s3://Bad_Bucket/x|invalid bucket"; do
	uri=${bad%%|*}
	rc=0
	"$BUILD/mltrackd" --database-url "$PGCONN" --port "$(free_port)" --data-dir "$WORK/dbad" \
		--artifacts-root "$uri" --s3-endpoint "$RGW_URL" >"$WORK/bad.log" 2>&1 || rc=$?
	[ $rc -ne 0 ] || fail "mltrackd started with --artifacts-root $uri"
	grep -q "${bad#*|}" "$WORK/bad.log" || fail "$uri: $(cat "$WORK/bad.log")"
done
rc=0
AWS_SECRET_ACCESS_KEY=wrong-secret-key "$BUILD/mltrackd" --database-url "$PGCONN" --port "$(free_port)" \
	--data-dir "$WORK/dbad" --artifacts-root "s3://$bucket/p" --s3-endpoint "$RGW_URL" >"$WORK/bad.log" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "refused" "$WORK/bad.log" || fail "a wrong secret key: exit $rc, $(cat "$WORK/bad.log")"
grep -q wrong-secret-key "$WORK/bad.log" && fail "the secret key reached the log"
rc=0
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$(free_port)" --data-dir "$WORK/dbad" \
	--s3-endpoint "$RGW_URL" >"$WORK/bad.log" 2>&1 || rc=$?
[ $rc = 2 ] && grep -q "need --artifacts-root s3://" "$WORK/bad.log" || fail "S3 flags alone: exit $rc, $(cat "$WORK/bad.log")"

port=$(free_port)
BASE="http://127.0.0.1:$port"
prefix="team/a"
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$port" --data-dir "$WORK/ds3" \
	--artifacts-root "s3://$bucket/$prefix/" --s3-endpoint "$RGW_URL" >"$WORK/s3.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rgw_stop' EXIT
wait_http "$BASE/readyz" 60 || fail "server did not start: $(tail -n 5 "$WORK/s3.log")"
grep -q "artifacts in s3://$bucket/$prefix/ at $RGW_URL" "$WORK/s3.log" || fail "start line: $(cat "$WORK/s3.log")"
staging="$WORK/ds3/staging/tmp"
url="$BASE/api/2.0/mlflow-artifacts/artifacts/7/s3"
sent() { curl -s "$BASE/metrics" | sed -n 's/^mltrack_s3_bytes_total{direction="sent"} //p'; }
count() { curl -s "$BASE/metrics" | sed -n "s/^mltrack_s3_requests_total{method=\"$1\",outcome=\"ok\"} //p"; }
head -c 100000 /dev/urandom >"$WORK/small.bin"
head -c 40000000 /dev/urandom >"$WORK/big.bin"
small=$(sha256sum <"$WORK/small.bin" | cut -c1-64)
big=$(sha256sum <"$WORK/big.bin" | cut -c1-64)

# Stored once, under its digest, holding its bytes.
s0=$(sent)
code=$(curl -s -o "$WORK/out" -w '%{http_code}' -T "$WORK/small.bin" "$url/small.bin")
[ "$code" = 200 ] || fail "upload: $code $(cat "$WORK/out")"
s1=$(sent)
code=$(curl -s -o /dev/null -w '%{http_code}' -T "$WORK/small.bin" "$url/copy/small.bin")
[ "$code" = 200 ] || fail "second upload of the same bytes: $code"
s2=$(sent)
[ $((s1 - s0)) = 100000 ] || fail "first upload sent $((s1 - s0)) bytes to S3, want 100000"
[ "$s2" = "$s1" ] || fail "the same bytes were sent to S3 again ($((s2 - s1)) bytes)"
[ "$(s3_curl GET "/$bucket/$prefix/blobs/$small" "" "$WORK/obj")" = 200 ] || fail "no object $prefix/blobs/$small"
cmp -s "$WORK/obj" "$WORK/small.bin" || fail "the object does not hold the uploaded bytes"

# What is stored, seen by another S3 client (Debian's s3cmd): one object per
# content, named by its digest, holding its bytes.
s3cmd_config "$WORK/s3cfg"
s3cmd -c "$WORK/s3cfg" ls "s3://$bucket/$prefix/blobs/" >"$WORK/ls" 2>&1 || fail "s3cmd ls: $(cat "$WORK/ls")"
[ "$(wc -l <"$WORK/ls")" = 1 ] && grep -q " 100000 *s3://$bucket/$prefix/blobs/$small\$" "$WORK/ls" ||
	fail "s3cmd ls after two uploads of one content: $(cat "$WORK/ls")"
s3cmd -c "$WORK/s3cfg" --no-progress get "s3://$bucket/$prefix/blobs/$small" "$WORK/by-s3cmd" >/dev/null 2>&1 ||
	fail "s3cmd get"
[ "$(sha256sum <"$WORK/by-s3cmd" | cut -c1-64)" = "$small" ] || fail "s3cmd reads other bytes than the digest names"

# Multipart: 40 MB in three parts, read back whole, by range and by HEAD.
p0=$(count POST)
code=$(curl -s -o "$WORK/out" -w '%{http_code}' -T "$WORK/big.bin" "$url/big.bin")
[ "$code" = 200 ] || fail "40 MB upload: $code $(cat "$WORK/out")"
[ $(($(count POST) - p0)) = 2 ] || fail "40 MB upload: not one multipart upload (POSTs: $(($(count POST) - p0)))"
[ "$(s3_curl GET "/$bucket/$prefix/blobs/$big" "" "$WORK/obj")" = 200 ] || fail "no object for the 40 MB upload"
[ "$(sha256sum <"$WORK/obj" | cut -c1-64)" = "$big" ] || fail "the multipart object does not hold the uploaded bytes"
[ "$(curl -s "$url/big.bin" | sha256sum | cut -c1-64)" = "$big" ] || fail "40 MB download"
curl -s -r 30000000-30000999 -o "$WORK/range" -w '%{http_code}' "$url/big.bin" >"$WORK/code"
[ "$(cat "$WORK/code")" = 206 ] || fail "range: $(cat "$WORK/code")"
dd if="$WORK/big.bin" bs=1000 skip=30000 count=1 2>/dev/null | cmp -s - "$WORK/range" || fail "range bytes"
curl -sI "$url/big.bin" | tr -d '\r' | grep -qi '^content-length: 40000000$' || fail "HEAD: $(curl -sI "$url/big.bin")"

# Damaged in the store (same length, one byte changed): never served whole.
python3 - "$WORK/small.bin" "$WORK/damaged.bin" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[50000] ^= 1
open(sys.argv[2], "wb").write(b)
EOF
[ "$(s3_curl PUT "/$bucket/$prefix/blobs/$small" "$WORK/damaged.bin")" = 200 ] || fail "cannot damage the object"
: >"$WORK/got"
rc=0
curl -s -o "$WORK/got" "$url/small.bin" || rc=$?
[ $rc -ne 0 ] || ! cmp -s "$WORK/got" "$WORK/damaged.bin" || fail "a damaged object was served whole"
[ "$(stat -c %s "$WORK/got")" -lt 100000 ] || fail "a damaged object was served in full length"
[ "$(s3_curl PUT "/$bucket/$prefix/blobs/$small" "$WORK/small.bin")" = 200 ] || fail "cannot repair the object"

# The store unreachable, then back.
rgw_down
code=$(curl -s -o "$WORK/out" -w '%{http_code}' -T "$WORK/big.bin" "$url/while-down.bin")
[ "$code" = 503 ] || fail "upload while S3 is down: $code $(cat "$WORK/out")"
grep -q '"TEMPORARILY_UNAVAILABLE"' "$WORK/out" && grep -q 'artifact store is unreachable' "$WORK/out" ||
	fail "503 body: $(cat "$WORK/out")"
code=$(curl -s -o "$WORK/out" -w '%{http_code}' "$url/small.bin")
[ "$code" = 503 ] || fail "download while S3 is down: $code $(head -c 300 "$WORK/out")"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/while-down.bin")
[ "$code" = 503 ] || [ "$code" = 404 ] || fail "the refused upload: $code"
curl -s "$BASE/api/2.0/mlflow-artifacts/artifacts?path=7/s3" | grep -q while-down && fail "the refused upload is listed"
[ -z "$(ls "$staging")" ] || fail "staging files left: $(ls "$staging")"
api POST /api/2.0/mlflow/experiments/create '{"name": "s3-down"}'
[ "$HTTP_STATUS" = 200 ] || fail "tracking while S3 is down: $HTTP_STATUS $BODY"
rgw_up || fail "the gateway did not come back"
code=$(curl -s -o "$WORK/out" -w '%{http_code}' -T "$WORK/big.bin" "$url/while-down.bin")
[ "$code" = 200 ] || fail "upload once S3 is back: $code $(cat "$WORK/out")"
[ "$(curl -s "$url/while-down.bin" | sha256sum | cut -c1-64)" = "$big" ] || fail "download once S3 is back"

# gc: unreferenced objects, orphans by age, unfinished multipart uploads.
for f in small.bin copy/small.bin; do
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$url/$f")" = 200 ] || fail "delete $f"
done
echo "an orphan" >"$WORK/orphan"
orphan=$(sha256sum <"$WORK/orphan" | cut -c1-64)
[ "$(s3_curl PUT "/$bucket/$prefix/blobs/$orphan" "$WORK/orphan")" = 200 ] || fail "cannot put an orphan"
[ "$(s3_curl POST "/$bucket/$prefix/blobs/$orphan?uploads=" "" "$WORK/mpu.xml")" = 200 ] ||
	fail "cannot start a multipart upload: $(cat "$WORK/mpu.xml")"
gc() { "$BUILD/mltrackd" gc --database-url "$PGCONN" --data-dir "$WORK/ds3" \
	--artifacts-root "s3://$bucket/$prefix" --s3-endpoint "$RGW_URL" "$@"; }
gc >"$WORK/gc1" 2>&1 || fail "gc: $(cat "$WORK/gc1")"
grep -q "removed 1 blob (100.0 kB), 0 orphan files, 0 temporary files, 0 unfinished uploads; kept 1 blob" "$WORK/gc1" ||
	fail "gc (an hour's grace): $(cat "$WORK/gc1")"
keys=$(s3_keys "$bucket" "$prefix/blobs/")
echo "$keys" | grep -q "$small" && fail "gc left the unreferenced object"
echo "$keys" | grep -q "$orphan" || fail "gc took an orphan younger than --min-age"
gc --min-age 0 >"$WORK/gc2" 2>&1 || fail "gc --min-age 0: $(cat "$WORK/gc2")"
grep -q "removed 0 blobs, 1 orphan file (10 bytes), 0 temporary files, 1 unfinished upload; kept 1 blob" "$WORK/gc2" ||
	fail "gc --min-age 0: $(cat "$WORK/gc2")"
keys=$(s3_keys "$bucket" "$prefix/blobs/")
[ "$(echo "$keys" | sort)" = "$(printf '%s\n' "$prefix/blobs/$big" | sort)" ] || fail "objects after gc: $keys"
[ "$(s3_curl GET "/$bucket?prefix=$(echo "$prefix" | sed 's|/|%2F|g')%2Fblobs%2F&uploads=" "" "$WORK/mpus.xml")" = 200 ] &&
	! grep -q "<UploadId>" "$WORK/mpus.xml" || fail "multipart uploads left: $(cat "$WORK/mpus.xml")"
[ "$(curl -s "$url/big.bin" | sha256sum | cut -c1-64)" = "$big" ] || fail "a referenced object after gc"

kill -TERM "$pid"
wait "$pid" || fail "server exit status"
grep -E '(AddressSanitizer|runtime error)' "$WORK/s3.log" && fail "sanitizer report"
grep -q "$RGW_SECRET_KEY" "$WORK/s3.log" && fail "the secret key reached the log"
echo "s3: objects by digest, dedup, multipart, range, damage caught, 503 while unreachable and back, gc by reference and age ($(($(date +%s) - t0)) s with the gateway's start)"
