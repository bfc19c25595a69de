#!/bin/sh
# tests/rgw-smoke.sh: checks tests/lib.sh's S3 (rgw_start: Ceph's RADOS
# Gateway on a throwaway single-node Ceph) with s3cmd and with curl's own
# SigV4: a bucket; put, get, head, delete; a 20 MiB multipart upload and a
# Range GET, content compared by sha256; a PUT whose x-amz-content-sha256 is
# wrong is refused; rgw_down makes requests fail, rgw_up makes them work
# again; rgw_stop.  Run as root (the daemons then run as postgres) or as the
# user who would run them.  Needs tools/deps.sh's radosgw, ceph-mon, ceph-osd,
# s3cmd and curl.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib.sh"

WORK=$(mktemp -d /tmp/mltrack-rgw-smoke.XXXXXX)
chmod 755 "$WORK"
RGW_DIR=""
cleanup() {
	[ -z "$RGW_DIR" ] || rgw_stop
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

t0=$(date +%s)
rgw_start "$WORK/rgw" || fail "rgw_start"
echo "rgw: $RGW_URL up in $(($(date +%s) - t0)) s; pids $RGW_PIDS"
for p in $RGW_PIDS; do
	echo "rgw: $(ps -o comm= -p "$p") $(awk '/VmRSS/ {print $2 " " $3}' "/proc/$p/status") RSS"
done

s3cmd_config "$WORK/s3cfg"
s3() { s3cmd -c "$WORK/s3cfg" --no-progress "$@"; }

sha() { sha256sum "$1" | cut -d ' ' -f 1; }

s3 mb s3://smoke >/dev/null || fail "s3cmd mb"
printf 'hello rgw\n' >"$WORK/small"
s3 put "$WORK/small" s3://smoke/small >/dev/null || fail "s3cmd put"
s3 get --force s3://smoke/small "$WORK/small.got" >/dev/null || fail "s3cmd get"
[ "$(sha "$WORK/small")" = "$(sha "$WORK/small.got")" ] || fail "small object differs"
s3 info s3://smoke/small | grep -q 'File size: *10$' || fail "s3cmd info (HEAD): size"

# 20 MiB in 5 MiB parts: a multipart upload of 4 parts.
head -c $((20 * 1024 * 1024)) /dev/urandom >"$WORK/big"
s3 put --multipart-chunk-size-mb=5 "$WORK/big" s3://smoke/big >"$WORK/put.out" || fail "s3cmd multipart put"
s3 get --force s3://smoke/big "$WORK/big.got" >/dev/null || fail "s3cmd get big"
[ "$(sha "$WORK/big")" = "$(sha "$WORK/big.got")" ] || fail "big object differs"
echo "rgw: s3cmd put/get/info of 10 B and a 4-part 20 MiB upload round-trip"

# curl's SigV4.  curl 7.88 sends no x-amz-content-sha256 of its own, and
# radosgw refuses a SigV4 request without it (403 SignatureDoesNotMatch):
# the header is always given, and curl signs it.
EMPTY=$(printf '' | sha256sum | cut -d ' ' -f 1)
SIG="aws:amz:$RGW_REGION:s3"
KEYS="$RGW_ACCESS_KEY:$RGW_SECRET_KEY"
# sigv4 SHA256 CURL-ARGS...: prints the HTTP status; the body in $WORK/resp
sigv4() {
	_h=$1
	shift
	curl -s -o "$WORK/resp" -w '%{http_code}' --aws-sigv4 "$SIG" --user "$KEYS" \
		-H "x-amz-content-sha256: $_h" "$@" || true
}

# Range GET: bytes 1000..1999 of the multipart object.
st=$(sigv4 "$EMPTY" -H 'Range: bytes=1000-1999' "$RGW_URL/smoke/big")
[ "$st" = 206 ] || fail "range GET: $st $(cat "$WORK/resp")"
tail -c +1001 "$WORK/big" | head -c 1000 >"$WORK/range"
[ "$(sha "$WORK/range")" = "$(sha "$WORK/resp")" ] || fail "range GET: wrong bytes"
# A multipart object's ETag ends in -PARTS.
curl -s -o /dev/null -D "$WORK/head" --aws-sigv4 "$SIG" --user "$KEYS" \
	-H "x-amz-content-sha256: $EMPTY" -I "$RGW_URL/smoke/big"
grep -qi '^etag: "[0-9a-f]*-4"' "$WORK/head" || { cat "$WORK/head"; fail "big: not a 4-part upload"; }

printf 'curl sigv4 body\n' >"$WORK/c"
st=$(sigv4 "$(sha "$WORK/c")" -T "$WORK/c" "$RGW_URL/smoke/c")
[ "$st" = 200 ] || fail "curl sigv4 PUT: $st $(cat "$WORK/resp")"
st=$(sigv4 "$EMPTY" "$RGW_URL/smoke/c")
[ "$st" = 200 ] && cmp -s "$WORK/c" "$WORK/resp" || fail "curl sigv4 GET: $st"
st=$(sigv4 "$EMPTY" -I "$RGW_URL/smoke/c")
[ "$st" = 200 ] || fail "curl sigv4 HEAD: $st"
st=$(sigv4 "$(printf wrong | sha256sum | cut -d ' ' -f 1)" -T "$WORK/c" "$RGW_URL/smoke/bad")
grep -q '<Code>XAmzContentSHA256Mismatch</Code>' "$WORK/resp" && [ "$st" = 400 ] ||
	fail "a wrong x-amz-content-sha256: $st $(cat "$WORK/resp")"
st=$(sigv4 "$EMPTY" -I "$RGW_URL/smoke/bad")
[ "$st" = 404 ] || fail "the refused PUT stored an object: HEAD $st"
st=$(curl -s -o "$WORK/resp" -w '%{http_code}' --aws-sigv4 "$SIG" --user "$KEYS" "$RGW_URL/smoke/c" || true)
echo "rgw: curl sigv4 without x-amz-content-sha256: GET $st $(sed -n 's/.*<Code>\(.*\)<\/Code>.*/\1/p' "$WORK/resp")"
st=$(sigv4 UNSIGNED-PAYLOAD -T "$WORK/c" "$RGW_URL/smoke/unsigned")
[ "$st" = 200 ] || fail "PUT with UNSIGNED-PAYLOAD: $st"
echo "rgw: curl sigv4 PUT/GET/HEAD, Range GET 206; wrong x-amz-content-sha256: 400 XAmzContentSHA256Mismatch"

s3 del s3://smoke/small >/dev/null || fail "s3cmd del"
st=$(sigv4 "$EMPTY" -I "$RGW_URL/smoke/small")
[ "$st" = 404 ] || fail "deleted object still there: HEAD $st"

for p in $RGW_PIDS; do
	echo "rgw: after the uploads: $(ps -o comm= -p "$p") $(awk '/VmRSS/ {print $2 " " $3}' "/proc/$p/status") RSS"
done

# S3 unreachable, and back.
rgw_down
if s3 ls s3://smoke >/dev/null 2>&1; then fail "s3cmd ls worked with the gateway down"; fi
st=$(sigv4 "$EMPTY" "$RGW_URL/smoke/c")
[ "$st" = 000 ] || fail "GET with the gateway down: $st"
t0=$(date +%s)
rgw_up || fail "rgw_up"
echo "rgw: down (requests fail: connection refused), up again in $(($(date +%s) - t0)) s"
s3 ls s3://smoke | grep -q 's3://smoke/big' || fail "s3cmd ls after rgw_up"
st=$(sigv4 "$EMPTY" "$RGW_URL/smoke/c")
[ "$st" = 200 ] && cmp -s "$WORK/c" "$WORK/resp" || fail "GET after rgw_up: $st"

t0=$(date +%s)
rgw_stop
RGW_DIR=""
echo "rgw: stopped in $(($(date +%s) - t0)) s"
echo "rgw-smoke: ok"
