# tests/bench/scale.sh (sourced by run.sh when BENCH_SCALE=1): the scale
# run of issue 14.  Before the other sections:
#   - BENCH_SCALE_RUNS runs (default 1,000,000) in one experiment, with
#     three latest metrics, two params and a tag each, written by SQL (the
#     rows log-batch would write, only faster to make);
#   - BENCH_SCALE_POINTS points (default 100,000,000) through mltrackd's
#     log-batch, 4 clients, in windows of BENCH_SCALE_WINDOW seconds
#     (default 60) on fresh runs each, until the total is reached; the
#     rate of the first and of the last window are compared (the target:
#     the last at least 0.8 of the first), and so is the CPU time mltrackd
#     and PostgreSQL spent per 1000 points in each (less disturbed than the
#     rate by whatever else runs on the machine).
# Disk: about 29 GB of PostgreSQL data for the points of the defaults (286
# bytes a point with these keys, docs/operations.md "Sizing"), plus the runs.
SCALE_RUNS=${BENCH_SCALE_RUNS:-1000000}
SCALE_POINTS=${BENCH_SCALE_POINTS:-100000000}
SCALE_WINDOW=${BENCH_SCALE_WINDOW:-60}
echo "== 0. scale: $SCALE_RUNS runs, $SCALE_POINTS points through log-batch"
api POST /api/2.0/mlflow/experiments/create '{"name":"bench-scale"}'
scale_exp=$(echo "$BODY" | json_get experiment_id)
t0=$(date +%s)
psql_q "INSERT INTO runs (run_id, experiment_id, name, status, start_time, artifact_uri)
	SELECT md5('scale' || i), $scale_exp, 'scale-' || i, 'FINISHED', 1700000000000 + i,
	       'mlflow-artifacts:/scale/' || i
	FROM generate_series(1, $SCALE_RUNS) i" >/dev/null
psql_q "INSERT INTO latest_metrics (run_id, key, step, timestamp, value, experiment_id, start_time)
	SELECT md5('scale' || i), k, 100, 1700000000000 + i, random(), $scale_exp, 1700000000000 + i
	FROM generate_series(1, $SCALE_RUNS) i, (VALUES ('acc'), ('loss'), ('f1')) AS ks(k)" >/dev/null
psql_q "INSERT INTO params (run_id, key, value, experiment_id, start_time)
	SELECT md5('scale' || i), k, (i % 7)::text, $scale_exp, 1700000000000 + i
	FROM generate_series(1, $SCALE_RUNS) i, (VALUES ('lr'), ('depth')) AS ks(k)" >/dev/null
psql_q "INSERT INTO tags (run_id, key, value, experiment_id, start_time)
	SELECT md5('scale' || i), 'team', 'team-' || (i % 13), $scale_exp, 1700000000000 + i
	FROM generate_series(1, $SCALE_RUNS) i" >/dev/null
echo "scale: $SCALE_RUNS runs with their metrics, params and tags in $(( $(date +%s) - t0 )) s"

loaded=0
first_rate="" last_rate="" windows=0 first_cpu="" last_cpu=""
while [ "$loaded" -lt "$SCALE_POINTS" ]; do
	runs=$(new_runs 4 "$scale_exp")
	k0=$(cpu_ticks "$SERVER_PID")
	# shellcheck disable=SC2086
	wrk_run "$WORK/scale" -t4 -c4 -d"${SCALE_WINDOW}s" -s "$ROOT/tests/bench/log_batch.lua" \
		"$BASE" -- $runs
	k1=$(cpu_ticks "$SERVER_PID")
	rate=$(awk '/^Requests\/sec:/ {printf "%.0f", $2 * 1000}' "$WORK/scale")
	n=$(awk '/requests in/ {print $1 * 1000}' "$WORK/scale")
	cpu=$(awk -v a="$k0" -v b="$k1" -v n="$n" -v hz="$(getconf CLK_TCK)" \
		'BEGIN {printf "%.1f", (b - a) / hz * 1e6 / (n / 1000)}')
	[ -n "$first_cpu" ] || first_cpu=$cpu
	last_cpu=$cpu
	loaded=$((loaded + n))
	windows=$((windows + 1))
	[ -n "$first_rate" ] || first_rate=$rate
	last_rate=$rate
	echo "scale: window $windows: $rate points/s, CPU $cpu us per 1000 points, $loaded points in all (load $(cut -d" " -f1-3 /proc/loadavg))"
done
scale_ratio=$(awk -v a="$first_rate" -v b="$last_rate" 'BEGIN {printf "%.2f", b / a}')
echo "scale: ingest $first_rate points/s at the start, $last_rate at the end: $scale_ratio"
echo "scale: CPU (mltrackd + PostgreSQL) per 1000 points: $first_cpu us at the start, $last_cpu at the end"
row "scale: ingest at the end of the load / at its start ($loaded points, $SCALE_RUNS runs)" \
	"$last_rate / $first_rate points/s = $scale_ratio" ">= 0.8"
row "scale: CPU (mltrackd + PostgreSQL) per 1000 points, start and end of the load" \
	"$first_cpu / $last_cpu us"
