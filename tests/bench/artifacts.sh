# tests/bench/artifacts.sh: section 6 of make bench, sourced by run.sh, which
# provides WORK, BASE, SERVER_PID, SAMPLER_PID, api, json_get, fail, row, and
# the cleanup that stops the RSS sampler and mltrackd and removes WORK.
#
# Upload and download of a BENCH_ARTIFACT_MB (default 1024) MiB file of random
# bytes through the artifact proxy over loopback, in MB/s (MB = 2^20 bytes
# throughout), against cat and cp of the same file on the same disk in the
# same run, and mltrackd's resident memory meanwhile.
#
# What is compared with what:
# - The file lives in WORK, on the same file system as mltrackd's artifact
#   store (WORK/data/artifacts).  Its bytes come from /dev/urandom, so the
#   content-addressed store cannot dedup them against anything.
# - Warm cache throughout: the file has just been written and hashed, and
#   evicting it would need root and drop_caches.  So cat measures reading from
#   the page cache, and so does a download (the blob was written by the
#   upload just before).
# - cp is timed alone (the copy lands in the page cache) and together with
#   `sync FILE`, an fsync of the copy.  mltrackd fsyncs every uploaded blob
#   before it answers, so upload is compared with cp + sync.
# - A download to /dev/null is compared with cat (both read the file and
#   write nothing), a download to a file with cp (read and write, no fsync).
#   The downloaded file's SHA-256 must equal the source's.
# - Every upload goes to a fresh run.  The figure is the first upload of the
#   bytes; a second upload of the same bytes takes the store's dedup path
#   (streamed, hashed and fsync'd to a temporary file like any upload, which is
#   then dropped because the blob exists) and is reported apart.
# - RSS: VmRSS from /proc/PID/status every 100 ms while a transfer runs, and
#   VmHWM reset through /proc/PID/clear_refs before it where the kernel allows
#   (so a peak between two samples is not missed); the peak is the larger.
#   The same is measured for a 16 MiB file, so growth with size would show.

# ART_MB: BENCH_ARTIFACT_MB, checked by run.sh before anything starts.
ART_SMALL_MB=16
ART_BYTES=$((ART_MB * 1048576))
ART_SMALL_BYTES=$((ART_SMALL_MB * 1048576))
ART=$WORK/art
mkdir -p "$ART"

now() { date +%s.%N; }
# mbps BYTES T0 T1: MB/s
mbps() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { d = b - a; if (d < 1e-6) d = 1e-6; printf "%.1f", n / 1048576 / d }'; }
# ratio A B: A / B
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
sha() { sha256sum "$1" | cut -d ' ' -f 1; }
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER_PID/status"; }
blob_count() { find "$WORK/data/artifacts/blobs" -type f 2>/dev/null | wc -l | tr -d ' '; }

# sampler_start: VmRSS of mltrackd (kB) into $ART/rss every 100 ms, in the
# background, and VmHWM reset if the kernel lets us.
sampler_start() {
	if (echo 5 >"/proc/$SERVER_PID/clear_refs") 2>/dev/null; then hwm_ok=1; else hwm_ok=0; fi
	(
		while kill -0 "$SERVER_PID" 2>/dev/null; do
			awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"
			sleep 0.1
		done
	) >"$ART/rss" 2>/dev/null &
	SAMPLER_PID=$!
}

# sampler_stop: stop sampling; sets PEAK (MB: the larger of the sampled peak
# and VmHWM since sampler_start) and PEAK_NOTE (how it was found).
sampler_stop() {
	kill "$SAMPLER_PID" 2>/dev/null || true
	wait "$SAMPLER_PID" 2>/dev/null || true
	SAMPLER_PID=""
	awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status" >>"$ART/rss"
	sampled=$(awk 'm < $1 + 0 {m = $1 + 0} END {printf "%.1f", m / 1024}' "$ART/rss")
	nsamples=$(wc -l <"$ART/rss" | tr -d ' ')
	if [ "$hwm_ok" = 1 ]; then
		hwm=$(awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER_PID/status")
		PEAK=$(awk -v a="$sampled" -v b="$hwm" 'BEGIN {printf "%.1f", (a > b ? a : b)}')
		PEAK_NOTE="sampled $sampled MB over $nsamples samples, VmHWM $hwm MB"
	else
		PEAK=$sampled
		PEAK_NOTE="sampled over $nsamples samples; VmHWM could not be reset"
	fi
}

# art_run NAME: a fresh run; sets ART_URL, the proxy URL of NAME in it.
art_run() {
	api POST /api/2.0/mlflow/runs/create "{\"experiment_id\":\"$art_exp\"}"
	[ "$HTTP_STATUS" = 200 ] || fail "runs/create answered HTTP $HTTP_STATUS: $BODY"
	ART_URL="$BASE/api/2.0/mlflow-artifacts/artifacts/$art_exp/$(echo "$BODY" | json_get run info run_id)/artifacts/$1"
}

# art_put FILE: PUT FILE to ART_URL; fails unless answered 200.  (No
# "Expect: 100-continue", so curl never waits for an interim answer.)
art_put() {
	code=$(curl -sS -H 'Expect:' -T "$1" -o "$ART/put.out" -w '%{http_code}' "$ART_URL") ||
		fail "upload of $1 to $ART_URL: curl failed"
	[ "$code" = 200 ] || fail "upload of $1 answered HTTP $code: $(cat "$ART/put.out")"
}

# art_get OUT BYTES SHA: GET ART_URL into OUT; fails unless answered 200 with
# BYTES bytes and ETag SHA.  mltrackd closes the connection short when the
# blob fails its digest check, which curl reports as a failure.
art_get() {
	out=$(curl -sS -o "$1" -D "$ART/get.hdr" -w '%{http_code} %{size_download}' "$ART_URL") ||
		fail "download of $ART_URL: curl failed (cut short: the blob failed its digest check?)"
	[ "${out% *}" = 200 ] || fail "download of $ART_URL answered HTTP ${out% *}"
	[ "${out#* }" = "$2" ] || fail "download of $ART_URL: ${out#* } bytes, expected $2"
	etag=$(awk 'tolower($1) == "etag:" {gsub(/[\r"]/, "", $2); print $2}' "$ART/get.hdr")
	[ "$etag" = "$3" ] || fail "download of $ART_URL: ETag '$etag', expected the SHA-256 $3"
}

echo "== 6. artifacts: a $ART_MB MiB file over loopback, against cat and cp on the same disk"
need_kb=$(((3 * ART_BYTES + 2 * ART_SMALL_BYTES) / 1024 + 262144))
free_kb=$(df -Pk "$ART" | awk 'NR == 2 {print $4}')
[ "$free_kb" -ge "$need_kb" ] ||
	fail "artifacts: $((need_kb / 1024)) MiB free needed in $ART, $((free_kb / 1024)) MiB free"
[ "$(stat -c %d "$ART")" = "$(stat -c %d "$WORK/data")" ] ||
	fail "artifacts: $ART and mltrackd's data dir are on different file systems"

t0=$(now)
head -c "$ART_BYTES" /dev/urandom >"$ART/big.bin"
head -c "$ART_SMALL_BYTES" /dev/urandom >"$ART/small.bin"
sync # written back now, not during what is timed
t1=$(now)
src_sha=$(sha "$ART/big.bin")
small_sha=$(sha "$ART/small.bin")
echo "generated $ART_MB + $ART_SMALL_MB MiB from /dev/urandom in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s; sha256 $src_sha"

t0=$(now)
cat "$ART/big.bin" >/dev/null
t1=$(now)
cat_rate=$(mbps "$ART_BYTES" "$t0" "$t1")
echo "cat file >/dev/null (warm page cache): $cat_rate MB/s"

t0=$(now)
cp "$ART/big.bin" "$ART/copy.bin"
t1=$(now)
sync "$ART/copy.bin"
t2=$(now)
rm -f "$ART/copy.bin"
cp_rate=$(mbps "$ART_BYTES" "$t0" "$t1")
cpsync_rate=$(mbps "$ART_BYTES" "$t0" "$t2")
echo "cp file copy: $cp_rate MB/s; cp + sync copy (fsync): $cpsync_rate MB/s"

api POST /api/2.0/mlflow/experiments/create '{"name":"bench-artifacts"}'
[ "$HTTP_STATUS" = 200 ] || fail "experiments/create answered HTTP $HTTP_STATUS: $BODY"
art_exp=$(echo "$BODY" | json_get experiment_id)
rss_before=$(rss_mb)
blobs0=$(blob_count)
echo "mltrackd RSS before: $rss_before MB"

art_run big.bin
sampler_start
t0=$(now)
art_put "$ART/big.bin"
t1=$(now)
sampler_stop
up_rate=$(mbps "$ART_BYTES" "$t0" "$t1")
up_ratio=$(ratio "$up_rate" "$cpsync_rate")
rss_up=$PEAK
blobs1=$(blob_count)
echo "upload (PUT, fresh run): $up_rate MB/s = $up_ratio of cp + sync; RSS peak $rss_up MB ($PEAK_NOTE)"

sampler_start
t0=$(now)
art_get /dev/null "$ART_BYTES" "$src_sha"
t1=$(now)
dl_rate=$(mbps "$ART_BYTES" "$t0" "$t1")
t0=$(now)
art_get "$ART/down.bin" "$ART_BYTES" "$src_sha"
t1=$(now)
sampler_stop
dlf_rate=$(mbps "$ART_BYTES" "$t0" "$t1")
rss_down=$PEAK
got_sha=$(sha "$ART/down.bin")
rm -f "$ART/down.bin"
[ "$got_sha" = "$src_sha" ] || fail "artifacts: downloaded SHA-256 $got_sha, uploaded $src_sha"
dl_ratio=$(ratio "$dl_rate" "$cat_rate")
dlf_ratio=$(ratio "$dlf_rate" "$cp_rate")
echo "download (GET) to /dev/null: $dl_rate MB/s = $dl_ratio of cat"
echo "download (GET) to a file: $dlf_rate MB/s = $dlf_ratio of cp; SHA-256 matches the source"
echo "RSS peak over both downloads: $rss_down MB ($PEAK_NOTE)"

art_run big-again.bin
t0=$(now)
art_put "$ART/big.bin"
t1=$(now)
dedup_rate=$(mbps "$ART_BYTES" "$t0" "$t1")
blobs2=$(blob_count)
echo "upload of the same bytes to another run (dedup path): $dedup_rate MB/s"
echo "blob files in the store: $blobs0 before, $blobs1 after the first upload, $blobs2 after the second"
[ "$blobs1" -eq $((blobs0 + 1)) ] || echo "NOTE: the first upload did not add exactly one blob"
[ "$blobs2" -eq "$blobs1" ] || echo "NOTE: the second upload of the same bytes added a blob (no dedup)"

art_run small.bin
sampler_start
t0=$(now)
art_put "$ART/small.bin"
t1=$(now)
art_get /dev/null "$ART_SMALL_BYTES" "$small_sha"
t2=$(now)
sampler_stop
rss_small=$PEAK
echo "$ART_SMALL_MB MiB file: upload $(mbps "$ART_SMALL_BYTES" "$t0" "$t1") MB/s, download $(mbps "$ART_SMALL_BYTES" "$t1" "$t2") MB/s; RSS peak $rss_small MB ($PEAK_NOTE)"
rm -rf "$ART"

row "artifacts: cat of the $ART_MB MiB file >/dev/null (warm cache)" "$cat_rate MB/s"
row "artifacts: cp of the file, same disk" "$cp_rate MB/s"
row "artifacts: cp + sync (fsync of the copy)" "$cpsync_rate MB/s"
row "artifacts: upload (PUT), fresh run, blob fsync'd" "$up_rate MB/s"
row "artifacts: upload / cp + sync" "$up_ratio" ">= 0.5"
row "artifacts: upload of the same bytes again (dedup path)" "$dedup_rate MB/s"
row "artifacts: download (GET) to /dev/null" "$dl_rate MB/s"
row "artifacts: download to /dev/null / cat" "$dl_ratio" ">= 0.5"
row "artifacts: download (GET) to a file" "$dlf_rate MB/s"
row "artifacts: download to a file / cp" "$dlf_ratio" ">= 0.5"
row "artifacts: mltrackd RSS before" "$rss_before MB"
row "artifacts: mltrackd RSS peak, $ART_MB MiB upload" "$rss_up MB" "< 50 MB"
row "artifacts: mltrackd RSS peak, $ART_MB MiB downloads" "$rss_down MB" "< 50 MB"
row "artifacts: mltrackd RSS peak, $ART_SMALL_MB MiB upload + download" "$rss_small MB" "same as above"
