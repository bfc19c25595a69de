#!/bin/sh
# make bench: the issue-2 benchmarks, all in one run on this machine, against a
# PostgreSQL cluster with default (durable) settings started here.
#   1. log-batch, 1000 metrics per request, 4 keep-alive clients: points/s,
#      and COPY of the same rows into the same database for the ratio;
#      PostgreSQL alone in log-batch's transaction shape (copy_tx); the CPU
#      mltrackd and PostgreSQL spend per batch
#   2. single log-metric, 4 clients: calls/s and p50
#   3. runs/search with a metric filter and order over 100,000 runs: p50
#   4. get-history-sampled of a 1,000,000-point metric to 1,000 points: p50;
#      the full get-history of a 100,000-point metric, every page
#   5. mltrackd's resident memory (peak) after 1-4
#   6. artifacts: upload and download of a 1 GiB file over loopback against
#      cat and cp on the same disk, and mltrackd's RSS meanwhile
#      (tests/bench/artifacts.sh)
#   7. mltrack run: overhead over `true`, and a command printing 100,000
#      metric lines (tests/bench/cli.sh)
#   8. the dashboard in headless Chromium: a drawn experiment page of 10,000
#      runs, a drawn compare page of two 1,000,000-point metrics
#      (tests/bench/web.sh)
#   9. slow clients: normal requests timed (p50/p99/max) while 100 slow
#      clients of each kind hold connections from 127.0.0.2-101, and
#      mltrackd's RSS idle and under that load (tests/bench/slow.sh)
#  10. authentication: per-request cost of a token and of Basic
#      user:password on serial runs/get, and log-batch with a token against
#      the same without auth (tests/bench/auth.sh)
#  11. TLS: per-request cost over a kept-alive connection and the cost of a
#      handshake, HTTPS against HTTP (tests/bench/tls.sh)
# Output is the table that docs/PERFORMANCE.md records.
#
# Environment:
#   BENCH_SECONDS      length of each wrk run (default 15)
#   BENCH_ONLY         sections to run, space- or comma-separated, from
#                      batch metric search history memory artifacts cli web slow auth
#                      tls
#                      (default: all of them)
#   BENCH_SLOW_SECONDS how long requests are timed in each slow-client case
#                      (default 15)
#   BENCH_SLOW_FLAGS   extra mltrackd flags for that section (e.g. --threads 128)
#   BENCH_SLOW_PROXY   0: skip its case through nginx (deploy/nginx/mltrack.conf)
#   BENCH_ARTIFACT_MB  size of the artifact file in MiB (default 1024)
#   BENCH_TLS_N        requests over one kept-alive connection (default 1000)
#   BENCH_TLS_NEW      new connections, one request each (default 300)
#   BENCH_WAL_WARM     0: no WAL warm-up before the sections (default 1: about
#                      1 GB of WAL written, then a checkpoint, so that WAL
#                      segments are recycled as on a server that has run)
#   BENCH_SCALE        1: first load BENCH_SCALE_RUNS runs (default 1,000,000)
#                      and BENCH_SCALE_POINTS points (default 100,000,000)
#                      through log-batch, reporting the ingest rate at the
#                      start and at the end of the load (tests/bench/scale.sh)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$1" && pwd)
DUR=${BENCH_SECONDS:-15}
. "$ROOT/tests/lib.sh"

SECTIONS="batch metric search history memory artifacts cli web slow auth tls"
ONLY=$(echo "${BENCH_ONLY:-$SECTIONS}" | tr ',' ' ')
for s in $ONLY; do
	case " $SECTIONS " in
	*" $s "*) ;;
	*) fail "BENCH_ONLY: unknown section '$s' (sections: $SECTIONS)" ;;
	esac
done
[ -n "$(echo "$ONLY" | tr -d ' ')" ] || fail "BENCH_ONLY names no section (sections: $SECTIONS)"
want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
ART_MB=${BENCH_ARTIFACT_MB:-1024}
case $ART_MB in
'' | *[!0-9]* | 0*) fail "BENCH_ARTIFACT_MB must be a whole number of MiB from 1, not '$ART_MB'" ;;
esac
if want batch || want metric || want search || want history || want auth; then
	command -v wrk >/dev/null || { echo "bench: wrk is missing (make deps)"; exit 1; }
fi

WORK=$(mktemp -d /tmp/mltrack-bench.XXXXXX)
chmod 755 "$WORK"
SERVER_PID=""
SAMPLER_PID=""
cleanup() {
	[ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait_gone "$SERVER_PID" 20 || true
	pg_down
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Durable settings: PostgreSQL's defaults, fsync on.
PG_DURABLE=1 pg_start "$WORK/pg"

PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$PORT" --data-dir "$WORK/data" \
	>"$WORK/mltrackd.log" 2>&1 &
SERVER_PID=$!
wait_http "$BASE/readyz" 60

wrk_run() { # wrk_run OUT ARGS...: run wrk, keep its report, fail on errors
	out=$1
	shift
	wrk --latency "$@" >"$out" 2>"$out.err"
	if grep -q 'Non-2xx' "$out" || [ -s "$out.err" ]; then
		cat "$out" "$out.err"
		fail "requests failed"
	fi
}
rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
median3() { # the middle of three numbers
	echo "$@" | tr ' ' '\n' | sort -n | sed -n 2p
}
hwm() { # mltrackd's peak resident memory so far, MB
	awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER_PID/status"
}
p50() { awk '$1 == "50%" {print $2}' "$1"; }
to_ms() { # wrk prints 812.00us / 1.23ms / 1.02s
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
	}'
}
# row NAME RESULT [TARGET [POSTGRESQL]]: one line of the table; POSTGRESQL is
# what PostgreSQL alone did with the same rows in this run (the limit the
# result is measured against), where there is one.
row() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "${4:-}" "${3:-}" >>"$WORK/table"; }
: >"$WORK/table"
exp=""
bench_exp() { # the experiment of sections 1, 2 and 4, made on first use
	if [ -z "$exp" ]; then
		api POST /api/2.0/mlflow/experiments/create '{"name":"bench-batch"}'
		exp=$(echo "$BODY" | json_get experiment_id)
	fi
}
new_runs() { # new_runs N EXP
	i=0
	while [ $i -lt "$1" ]; do
		api POST /api/2.0/mlflow/runs/create "{\"experiment_id\":\"$2\"}"
		echo "$BODY" | json_get run info run_id
		i=$((i + 1))
	done
}

# BENCH_SCALE=1: load 1M runs and 100M points first (tests/bench/scale.sh),
# then every other section measures on that database.
if [ "${BENCH_SCALE:-0}" = 1 ]; then
	. "$ROOT/tests/bench/scale.sh"
fi

# WAL to recycle first, as a server that has run a while has.  On a fresh
# cluster each 16 MB WAL segment is first written as zeros, then with its
# records, until a checkpoint leaves old segments to reuse: 13% of the CPU
# of section 1 in perf (XLogFileInit), which the COPY references, run after
# that checkpoint, did not pay.  A table of about 1 GB is written and
# dropped, then a checkpoint.
if [ "${BENCH_WAL_WARM:-1}" = 1 ] && { want batch || want metric; }; then
	t0=$(date +%s.%N)
	psql_q "CREATE TABLE wal_warm AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 4000000) g" >/dev/null
	psql_q "DROP TABLE wal_warm" >/dev/null
	psql_q "CHECKPOINT" >/dev/null
	echo "WAL warm-up: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
fi
if want batch; then
	echo "== 1. log-batch (1000 metrics/request, 4 clients, ${DUR}s)"
	bench_exp
	runs=$(new_runs 4 "$exp")
	cpu0=$(proc_ticks "$SERVER_PID")
	all0=$(cpu_ticks "$SERVER_PID")
	# shellcheck disable=SC2086
	wrk_run "$WORK/batch" -t4 -c4 -d"${DUR}s" -s "$ROOT/tests/bench/log_batch.lua" "$BASE" -- $runs
	cpu1=$(proc_ticks "$SERVER_PID")
	all1=$(cpu_ticks "$SERVER_PID")
	batch_rps=$(rps "$WORK/batch")
	batch_n=$(awk '/requests in/ {print $1}' "$WORK/batch")
	# mltrackd's own CPU (user + system) per 1000-point batch: the share of
	# the two cores it takes from PostgreSQL.
	batch_cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$batch_n" -v hz="$(getconf CLK_TCK)" \
		'BEGIN {printf "%.2f", (b - a) * 1000 / hz / n}')
	# PostgreSQL's (the whole cluster's) CPU per batch, beside what it
	# takes alone for the same rows in the same transaction shape below.
	batch_pgcpu=$(awk -v a="$((all0 - cpu0))" -v b="$((all1 - cpu1))" -v n="$batch_n" \
		-v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) * 1000 / hz / n}')
	# This section's rows only (under BENCH_SCALE the table holds 100M more).
	mine="run_id = ANY ('{$(echo $runs | tr ' ' ',')}'::text[])"
	points=$(psql_q "SELECT count(*) FROM metrics WHERE $mine")
	pps=$(awk -v r="$batch_rps" 'BEGIN {printf "%.0f", r * 1000}')
	echo "log-batch: $batch_rps requests/s = $pps points/s ($points points stored); CPU per batch: mltrackd $batch_cpu ms, PostgreSQL $batch_pgcpu ms; peak RSS so far $(hwm) MB"

	# The reference: COPY of the same rows into an empty table shaped as
	# metrics, three times (emptied between), the median: one COPY alone
	# moved by a quarter from run to run on this machine (302k-383k rows/s).
	psql_q "CREATE TABLE bench_copy (LIKE metrics INCLUDING ALL)" >/dev/null
	psql_q "COPY (SELECT * FROM metrics WHERE $mine) TO '$PGDIR/points.copy'" >/dev/null
	rates=""
	for _ in 1 2 3; do
		psql_q "TRUNCATE bench_copy" >/dev/null
		t0=$(date +%s.%N)
		psql_q "COPY bench_copy FROM '$PGDIR/points.copy'" >/dev/null
		t1=$(date +%s.%N)
		rates="$rates $(awk -v n="$points" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')"
	done
	copy_rate=$(median3 $rates)
	ratio=$(awk -v p="$pps" -v c="$copy_rate" 'BEGIN {printf "%.2f", p / c}')
	echo "COPY of the same $points rows: $copy_rate rows/s (median of$rates); log-batch/COPY = $ratio"
	psql_q "DROP TABLE bench_copy" >/dev/null

	# PostgreSQL alone in log-batch's transaction shape: the same rows by 4
	# connections, 1000 rows per statement and commit, into a table
	# partitioned as metrics (tests/bench/copy_tx.c), median of three; as
	# mltrackd sends them (one INSERT from arrays in binary format) and as
	# COPY.
	[ -x "$BUILD/copy_tx" ] || fail "$BUILD/copy_tx is missing (make bench builds it)"
	psql_q "CREATE TABLE bench_tx (LIKE metrics INCLUDING ALL) PARTITION BY LIST (experiment_id)" >/dev/null
	for e in $(psql_q "SELECT DISTINCT experiment_id FROM metrics WHERE $mine"); do
		psql_q "CREATE TABLE bench_tx_$e PARTITION OF bench_tx FOR VALUES IN ($e)" >/dev/null
	done
	for mode in insert copy; do
		tx_rates=""
		tx_cpus=""
		for _ in 1 2 3; do
			psql_q "TRUNCATE bench_tx" >/dev/null
			pg0=$(($(cpu_ticks "$SERVER_PID") - $(proc_ticks "$SERVER_PID")))
			out=$("$BUILD/copy_tx" "$PGCONN" bench_tx "$PGDIR/points.copy" 4 1000 "$mode") ||
				fail "copy_tx $mode failed"
			pg1=$(($(cpu_ticks "$SERVER_PID") - $(proc_ticks "$SERVER_PID")))
			tx_rates="$tx_rates $(echo "$out" | awk '{printf "%.0f", $1 / $2}')"
			# The cluster's CPU per 1000 rows: its lasting processes,
			# and the backends copy_tx read before they exited.
			tx_cpus="$tx_cpus $(echo "$out" | awk -v d="$((pg1 - pg0))" -v hz="$(getconf CLK_TCK)" \
				'{printf "%.2f", (d + $3) * 1000 / hz / ($1 / 1000)}')"
		done
		eval "tx_rate_$mode=$(median3 $tx_rates)"
		eval "tx_cpu_$mode=$(median3 $tx_cpus)"
		echo "PostgreSQL alone, 4 connections, 1000 rows per $mode and commit: $(median3 $tx_rates) rows/s (median of$tx_rates), CPU $(median3 $tx_cpus) ms per 1000 rows (median of$tx_cpus)"
	done
	tx_ratio=$(awk -v p="$pps" -v c="$tx_rate_insert" 'BEGIN {printf "%.2f", p / c}')
	echo "log-batch / PostgreSQL alone in its shape (insert) = $tx_ratio"
	psql_q "DROP TABLE bench_tx" >/dev/null
	rm -f "$PGDIR/points.copy"
	row "log-batch, 1000 metrics/request, 4 clients" "$pps points/s" "" "COPY: $copy_rate rows/s"
	row "log-batch / COPY" "$ratio" ">= 0.8"
	row "PostgreSQL alone in log-batch's shape: 4 connections, 1000 rows per INSERT from binary arrays and commit" "$tx_rate_insert rows/s" "" "(libpq, no HTTP: tests/bench/copy_tx.c)"
	row "the same with a COPY per 1000 rows" "$tx_rate_copy rows/s"
	row "log-batch / PostgreSQL alone in its shape" "$tx_ratio"
	row "CPU per 1000-point batch: mltrackd" "$batch_cpu ms"
	row "CPU per 1000-point batch: PostgreSQL" "$batch_pgcpu ms" "" "alone in that shape: $tx_cpu_insert ms; with COPY: $tx_cpu_copy ms"
fi

if want metric; then
	echo "== 2. log-metric (single points, 4 clients, ${DUR}s)"
	bench_exp
	runs=$(new_runs 4 "$exp")
	# shellcheck disable=SC2086
	wrk_run "$WORK/metric" -t4 -c4 -d"${DUR}s" -s "$ROOT/tests/bench/log_metric.lua" "$BASE" -- $runs
	metric_rps=$(rps "$WORK/metric")
	metric_p50=$(to_ms "$(p50 "$WORK/metric")")
	echo "log-metric: $metric_rps calls/s, p50 ${metric_p50} ms; mltrackd peak RSS so far $(hwm) MB"
	# PostgreSQL's own limit: the same statement (history insert and
	# latest upsert, one durable commit each) from 4 pgbench clients on
	# their own runs, no HTTP, no mltrackd.
	prun=$(new_runs 4 "$exp" | tr '\n' ' ')
	cat >"$WORK/one.sql" <<EOF
\\set c random(1, 4)
\\set s random(1, 1000000000)
WITH r AS (SELECT lifecycle_stage, experiment_id, start_time FROM runs
      WHERE run_id = (string_to_array('$prun', ' '))[:c] FOR KEY SHARE),
ok AS (SELECT experiment_id, start_time FROM r WHERE lifecycle_stage = 'active'),
h AS (INSERT INTO metrics (run_id, key, step, timestamp, value, experiment_id)
      SELECT (string_to_array('$prun', ' '))[:c], 'loss', :s, :s, :s + 0.5, experiment_id FROM ok
      ON CONFLICT DO NOTHING)
INSERT INTO latest_metrics AS l (run_id, key, step, timestamp, value, experiment_id, start_time,
      dirty_lo, dirty_hi)
      SELECT (string_to_array('$prun', ' '))[:c], 'loss', :s, :s, :s + 0.5, experiment_id,
      start_time, :s, :s FROM ok
      ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp,
      value = excluded.value, dirty_lo = least(l.dirty_lo, excluded.dirty_lo),
      dirty_hi = greatest(l.dirty_hi, excluded.dirty_hi);
EOF
	pg_tps=$("$PG_BINDIR/pgbench" -n -M prepared -c 4 -j 2 -T "$DUR" -f "$WORK/one.sql" "$PGCONN" 2>&1 |
		awk '/^tps = / {printf "%.0f", $3} /latency average/ {lat = $4} END {printf " %s", lat}')
	echo "PostgreSQL alone, the same statement from 4 pgbench clients: ${pg_tps% *} commits/s, mean latency ${pg_tps#* } ms"
	row "log-metric, 4 clients" "$metric_rps calls/s" ">= 5000" \
		"the same statement, 4 pgbench clients: ${pg_tps% *} commits/s"
	row "log-metric p50" "$metric_p50 ms" "< 1 ms" "mean ${pg_tps#* } ms"
fi

if want search; then
	echo "== 3. runs/search over 100,000 runs"
	api POST /api/2.0/mlflow/experiments/create '{"name":"bench-search"}'
	sexp=$(echo "$BODY" | json_get experiment_id)
	psql_q "INSERT INTO runs (run_id, experiment_id, name, status, start_time, artifact_uri)
		SELECT md5('run' || i), $sexp, 'run-' || i, 'FINISHED', 1700000000000 + i, 'mlflow-artifacts:/x'
		FROM generate_series(1, 100000) i" >/dev/null
	psql_q "INSERT INTO latest_metrics (run_id, key, step, timestamp, value, experiment_id, start_time)
		SELECT md5('run' || i), k, 100, 1700000000000 + i, random(), $sexp, 1700000000000 + i
		FROM generate_series(1, 100000) i, (VALUES ('acc'), ('loss'), ('f1')) AS ks(k)" >/dev/null
	psql_q "INSERT INTO params (run_id, key, value, experiment_id, start_time)
		SELECT md5('run' || i), k, (i % 7)::text, $sexp, 1700000000000 + i FROM generate_series(1, 100000) i,
		(VALUES ('lr'), ('batch'), ('opt')) AS ks(k)" >/dev/null
	psql_q "INSERT INTO tags (run_id, key, value, experiment_id, start_time)
		SELECT md5('run' || i), 'mlflow.runName', 'run-' || i, $sexp, 1700000000000 + i
		FROM generate_series(1, 100000) i" >/dev/null
	psql_q "VACUUM ANALYZE" >/dev/null
	for max in 100 1000; do
		body="{\"experiment_ids\":[\"$sexp\"],\"filter\":\"metrics.acc > 0.5\",\"order_by\":[\"metrics.acc DESC\"],\"max_results\":$max}"
		wrk_run "$WORK/search$max" -t1 -c1 -d"${DUR}s" -s "$ROOT/tests/bench/post.lua" \
			"$BASE/api/2.0/mlflow/runs/search" -- "$body"
		eval "search_p50_$max=$(to_ms "$(p50 "$WORK/search$max")")"
		echo "runs/search max_results=$max: p50 $(to_ms "$(p50 "$WORK/search$max")") ms ($(rps "$WORK/search$max") requests/s); mltrackd peak RSS so far $(hwm) MB"
	done
	row "runs/search 100k runs, filter + order, max_results=100, p50" "$search_p50_100 ms" "< 50 ms"
	row "runs/search 100k runs, filter + order, max_results=1000, p50" "$search_p50_1000 ms"
fi

if want history; then
	echo "== 4. get-history-sampled of 1,000,000 points to 1,000"
	bench_exp
	srun=$(new_runs 1 "$exp")
	psql_q "INSERT INTO metrics (run_id, key, step, timestamp, value, experiment_id)
		SELECT '$srun', 'loss', i, 1700000000000 + i, sin(i / 1000.0) + random() / 10, $exp
		FROM generate_series(1, 1000000) i" >/dev/null
	# What the write path keeps alongside history (loaded directly here for speed).
	psql_q "INSERT INTO latest_metrics (run_id, key, step, timestamp, value, experiment_id, start_time)
		SELECT m.run_id, key, step, timestamp, value, r.experiment_id, r.start_time
		FROM metrics m JOIN runs r USING (run_id)
		WHERE m.run_id = '$srun' AND key = 'loss' ORDER BY step DESC LIMIT 1" >/dev/null
	psql_q "VACUUM ANALYZE metrics" >/dev/null
	# The first read computes the sample (and, with metric_rollup, builds the
	# series' whole rollup: the series was loaded by SQL); later reads of the
	# unchanged series come from metric_samples.  Both are reported.
	cold_ms=$(curl -s -o /dev/null -w '%{time_total}' \
		"$BASE/api/2.0/mltrack/metrics/get-history-sampled?run_id=$srun&metric_key=loss&max_points=1000" |
		awk '{printf "%.1f", $1 * 1000}')
	echo "get-history-sampled, first (uncached) read: ${cold_ms} ms"
	wrk_run "$WORK/sampled" -t1 -c1 -d"${DUR}s" \
		"$BASE/api/2.0/mltrack/metrics/get-history-sampled?run_id=$srun&metric_key=loss&max_points=1000"
	sampled_p50=$(to_ms "$(p50 "$WORK/sampled")")
	npts=$(curl -s "$BASE/api/2.0/mltrack/metrics/get-history-sampled?run_id=$srun&metric_key=loss&max_points=1000" |
		python3 -c 'import sys, json; print(len(json.load(sys.stdin)["metrics"]))')
	echo "get-history-sampled: p50 ${sampled_p50} ms, $npts points returned; mltrackd peak RSS so far $(hwm) MB"
	row "get-history-sampled 1M points to 1000, p50 (series unchanged: cached)" "$sampled_p50 ms" "< 50 ms"
	row "get-history-sampled 1M points to 1000, first read (computed)" "$cold_ms ms"
	# A live run: a few points logged with log-batch (acknowledged), then the
	# first sampled read, which cannot come from the cache.  Seven times
	# each, the median: points after the last step, and points at old steps
	# (the middle of the series).
	after_write_ms=$(python3 - "$PORT" "$srun" <<'PY'
import http.client, json, sys, time
port, run = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port)
q = "/api/2.0/mltrack/metrics/get-history-sampled?run_id=%s&metric_key=loss&max_points=1000" % run
def once(k, steps):
    pts = [{"key": "loss", "value": 0.5 + i / 100, "timestamp": 1800000000000 + k, "step": s}
           for i, s in enumerate(steps)]
    c.request("POST", "/api/2.0/mlflow/runs/log-batch", json.dumps({"run_id": run, "metrics": pts}),
              {"Content-Type": "application/json", "Host": "127.0.0.1"})
    r = c.getresponse(); r.read(); assert r.status == 200, r.status
    t0 = time.perf_counter()
    c.request("GET", q, headers={"Host": "127.0.0.1"})
    r = c.getresponse(); body = r.read(); assert r.status == 200, r.status
    ms = (time.perf_counter() - t0) * 1000
    assert 4 < body.count(b'"key":') <= 1000
    return ms
tail = sorted(once(k, [1000000 + 5 * k + i for i in range(5)]) for k in range(1, 8))[3]
mid = sorted(once(100 + k, [500000 + 997 * k + i for i in range(5)]) for k in range(1, 8))[3]
print("%.1f %.1f" % (tail, mid))
PY
)
	aw_tail=${after_write_ms% *}
	aw_mid=${after_write_ms#* }
	echo "get-history-sampled, first read after a 5-point log-batch: ${aw_tail} ms (new steps), ${aw_mid} ms (old steps)"
	row "get-history-sampled 1M points to 1000, first read after a 5-point log-batch (new steps), median of 7" "$aw_tail ms" "< 50 ms"
	row "get-history-sampled 1M points to 1000, first read after a 5-point log-batch (old steps), median of 7" "$aw_mid ms" "< 50 ms"

	echo "== 4b. full metrics/get-history of 100,000 points, every page, as MLflow's client reads it"
	hrun=$(new_runs 1 "$exp")
	psql_q "INSERT INTO metrics (run_id, key, step, timestamp, value, experiment_id)
		SELECT '$hrun', 'loss', i, 1700000000000 + i, sin(i / 1000.0) + random() / 10, $exp
		FROM generate_series(1, 100000) i" >/dev/null
	psql_q "VACUUM ANALYZE metrics" >/dev/null
	# Seven reads of every page (25,000 points each) over one kept-alive
	# connection, the body read but not parsed: the median.  Beside it,
	# PostgreSQL alone: the same rows in the same order, COPY to psql.
	full_ms=$(python3 - "$PORT" "$hrun" <<'PY'
import http.client, json, re, sys, time
port, run = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port)
def once():
    tok, n, t0 = None, 0, time.perf_counter()
    while True:
        q = "/api/2.0/mlflow/metrics/get-history?run_id=%s&metric_key=loss" % run
        c.request("GET", q + ("&page_token=" + tok if tok else ""), headers={"Host": "127.0.0.1"})
        body = c.getresponse().read()
        n += body.count(b'"key":')
        m = re.search(rb'"next_page_token":"([^"]+)"', body)
        if not m:
            break
        tok = m.group(1).decode()
    assert n == 100000, n
    return (time.perf_counter() - t0) * 1000
print("%.1f" % sorted(once() for _ in range(7))[3])
PY
)
	t0=$(date +%s%N)
	for i in 1 2 3; do
		psql_q "COPY (SELECT key, value, timestamp, step FROM metrics WHERE run_id = '$hrun'
			AND key = 'loss' ORDER BY step, timestamp, value) TO STDOUT" >/dev/null
	done
	copy_ms=$(( ($(date +%s%N) - t0) / 3000000 ))
	echo "get-history, 100,000 points in 4 pages: ${full_ms} ms (PostgreSQL alone, COPY to psql, its start included: ${copy_ms} ms)"
	row "full metrics/get-history, 100k points, every page, median of 7" "$full_ms ms" "< 150 ms" \
		"COPY of the rows to psql: $copy_ms ms"
fi

# Before section 6, so that this stays the peak of sections 1-4 (section 6
# reports its own).
if want memory; then
	rss=$(hwm)
	echo "== 5. mltrackd peak resident memory: ${rss} MB"
	row "mltrackd peak RSS" "$rss MB" "< 32 MB"
fi

if want artifacts; then
	. "$ROOT/tests/bench/artifacts.sh"
fi

if want cli; then
	. "$ROOT/tests/bench/cli.sh"
fi

if want web; then
	. "$ROOT/tests/bench/web.sh"
fi

if want slow; then
	. "$ROOT/tests/bench/slow.sh"
fi

if want auth; then
	. "$ROOT/tests/bench/auth.sh"
fi

if want tls; then
	. "$ROOT/tests/bench/tls.sh"
fi

# The table, headed by when, where and what it measured; also written into
# docs/PERFORMANCE.md between its bench markers when every section ran
# (BENCH_WRITE=0 keeps the file as it is).
{
	echo "\`make bench\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit" \
		"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" \
		diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)'), load average" \
		"$(cut -d' ' -f1-3 /proc/loadavg), BENCH_SECONDS=$DUR."
	echo
	echo "| Benchmark | mltrackd | PostgreSQL alone, same run | Target |"
	echo "| --- | --- | --- | --- |"
	cat "$WORK/table"
} >"$WORK/report"
echo
cat "$WORK/report"
if [ -z "${BENCH_ONLY:-}" ] && [ "${BENCH_WRITE:-1}" = 1 ]; then
	doc="$ROOT/docs/PERFORMANCE.md"
	if grep -q '^<!-- bench:begin -->$' "$doc" && grep -q '^<!-- bench:end -->$' "$doc"; then
		awk -v rep="$WORK/report" '
			/^<!-- bench:begin -->$/ { print; while ((getline l < rep) > 0) print l; skip = 1; next }
			/^<!-- bench:end -->$/ { skip = 0 }
			!skip' "$doc" >"$WORK/doc.new" && cat "$WORK/doc.new" >"$doc"
		echo "bench: the table is in docs/PERFORMANCE.md (\"The latest make bench\")"
	fi
fi
