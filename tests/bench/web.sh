# tests/bench/web.sh: section 8 of tests/bench/run.sh (sourced; uses its
# BASE, WORK, row and psql_q).  The dashboard in headless Chromium:
#   - time to a drawn experiment page of 10,000 runs (3 params, 3 metrics,
#     git tags each), from navigation start, median of 5 loads
#   - time to a drawn compare page of two runs with a 1,000,000-point metric
#     each: the first load (the server computes both samples) and later
#     loads (samples cached), median of 5
# The rows go in with SQL, as in section 3: the bench measures the page,
# not the seeding.
echo "== 8. dashboard in headless Chromium"
CHROMIUM=${MLTRACK_CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "bench web: no Chromium at $CHROMIUM (make deps)"
[ -d "$ROOT/node_modules/playwright-core" ] || fail "bench web: node_modules is missing (make)"
api POST /api/2.0/mlflow/experiments/create '{"name":"bench-web"}'
wexp=$(echo "$BODY" | json_get experiment_id)
psql_q "INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time, end_time, artifact_uri)
	SELECT md5('web' || i), $wexp, 'run-' || i, 'bench', 'FINISHED', 1700000000000 + i * 1000,
		1700000000000 + i * 1000 + 60000 + i, 'mlflow-artifacts:/$wexp/' || md5('web' || i) || '/artifacts'
	FROM generate_series(1, 10000) i" >/dev/null
# latest_metrics, params and tags carry their run's experiment_id and
# start_time (migration 0011).
psql_q "INSERT INTO latest_metrics (run_id, key, step, timestamp, value, experiment_id, start_time)
	SELECT md5('web' || i), k, 100, 1700000000000 + i, random(), $wexp, 1700000000000 + i * 1000
	FROM generate_series(1, 10000) i, (VALUES ('acc'), ('loss'), ('f1')) AS ks(k)" >/dev/null
psql_q "INSERT INTO params (run_id, key, value, experiment_id, start_time)
	SELECT md5('web' || i), k, (i % 7)::text, $wexp, 1700000000000 + i * 1000
	FROM generate_series(1, 10000) i, (VALUES ('lr'), ('batch'), ('opt')) AS ks(k)" >/dev/null
psql_q "INSERT INTO tags (run_id, key, value, experiment_id, start_time)
	SELECT md5('web' || i), k, v, $wexp, 1700000000000 + i * 1000 FROM generate_series(1, 10000) i,
	LATERAL (VALUES ('mlflow.runName', 'run-' || i), ('mlflow.source.git.commit', md5('c' || i)),
		('mlflow.source.git.branch', 'main')) AS kv(k, v)" >/dev/null
wruns=""
for n in 1 2; do
	api POST /api/2.0/mlflow/runs/create "{\"experiment_id\":\"$wexp\",\"run_name\":\"big-$n\"}"
	r=$(echo "$BODY" | json_get run info run_id)
	wruns="$wruns${wruns:+,}$r"
	psql_q "INSERT INTO metrics (run_id, key, step, timestamp, value, experiment_id)
		SELECT '$r', 'loss', i, 1700000000000 + i, exp(-i / 200000.0) + $n * random() / 20, $wexp
		FROM generate_series(1, 1000000) i" >/dev/null
	psql_q "INSERT INTO latest_metrics (run_id, key, step, timestamp, value, experiment_id, start_time)
		SELECT run_id, 'loss', 1000000, 1700000000000 + 1000000, 0.01, experiment_id, start_time
		FROM runs WHERE run_id = '$r'" >/dev/null
done
psql_q "VACUUM ANALYZE" >/dev/null
MLTRACK_CHROMIUM="$CHROMIUM" node "$ROOT/tests/bench/web.mjs" "$BASE" "$wexp" "$wruns" >"$WORK/web.json" ||
	fail "bench web: the browser run failed"
cat "$WORK/web.json"
wget_field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/web.json" "$1"; }
row "dashboard: experiment page with 10,000 runs drawn, median of 5" "$(wget_field experiment_ms) ms" "< 1000 ms"
row "dashboard: compare, two 1,000,000-point metrics, first load (samples computed)" "$(wget_field compare_cold_ms) ms" "< 500 ms"
row "dashboard: compare, two 1,000,000-point metrics, samples cached, median of 5" "$(wget_field compare_warm_ms) ms" "< 500 ms"
row "dashboard: runs table, 10,000 rows loaded, steady scroll 60 px/frame, median / p95 frame" "$(wget_field scroll_steady_median_ms) / $(wget_field scroll_steady_p95_ms) ms" "smooth: ~16.7 ms"
row "dashboard: runs table, 10,000 rows loaded, fling (1/120 of the table per frame), median / p95 frame" "$(wget_field scroll_fling_median_ms) / $(wget_field scroll_fling_p95_ms) ms"
