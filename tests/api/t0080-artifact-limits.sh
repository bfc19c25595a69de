#!/bin/sh
# Artifact uploads against a size limit (--max-artifact-size): over the limit
# is 413 and leaves no row, no blob and no temporary file, with
# Content-Length or chunked; under it, chunked uploads round-trip.
set -eu
. "$ROOT/tests/lib.sh"
port=$(free_port)
BASE="http://127.0.0.1:$port"
store="$WORK/d8/artifacts"
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$port" --data-dir "$WORK/d8" \
	--max-artifact-size 1000 >"$WORK/limits.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
wait_http "$BASE/readyz" 60 || fail "server did not start"
url="$BASE/api/2.0/mlflow-artifacts/artifacts/9/limits"
head -c 2000 /dev/urandom >"$WORK/big.bin"
head -c 500 /dev/urandom >"$WORK/small.bin"

code=$(curl -s -o "$WORK/out" -w '%{http_code}' -T "$WORK/big.bin" "$url/big.bin")
[ "$code" = 413 ] || fail "over the limit with Content-Length: $code"
grep -q REQUEST_LIMIT_EXCEEDED "$WORK/out" || fail "body: $(cat "$WORK/out")"
code=$(curl -s -o "$WORK/out" -w '%{http_code}' -T "$WORK/big.bin" -H 'Transfer-Encoding: chunked' "$url/big2.bin")
[ "$code" = 413 ] || fail "over the limit, chunked: $code"
for f in big.bin big2.bin; do
	code=$(curl -s -o /dev/null -w '%{http_code}' "$url/$f")
	[ "$code" = 404 ] || fail "$f was recorded after a refused upload: $code"
done
[ -z "$(ls "$store/tmp")" ] || fail "temporary files left: $(ls "$store/tmp")"
[ -z "$(find "$store/blobs" -type f)" ] || fail "blobs left: $(find "$store/blobs" -type f)"

code=$(curl -s -o /dev/null -w '%{http_code}' -T "$WORK/small.bin" -H 'Transfer-Encoding: chunked' "$url/small.bin")
[ "$code" = 200 ] || fail "chunked upload under the limit: $code"
curl -s -o "$WORK/back.bin" "$url/small.bin"
cmp -s "$WORK/small.bin" "$WORK/back.bin" || fail "chunked upload did not round-trip"
kill -TERM "$pid"
wait "$pid" || fail "server exit status"
trap - EXIT
grep -E '(AddressSanitizer|runtime error)' "$WORK/limits.log" && fail "sanitizer report"
echo "artifact limits: 413 leaves nothing (Content-Length and chunked); chunked round-trips"
