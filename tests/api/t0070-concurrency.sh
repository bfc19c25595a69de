#!/bin/sh
# Concurrent log-batch: (a) 8 threads x 20 batches x 500 metrics into the SAME
# run, with heavily overlapping points and keys in different orders per thread
# (some reversed): every answer 200, metrics holds exactly the distinct points,
# latest_metrics the max by (step, timestamp, value) per key, and the server
# never had to retry (a retry means a deadlock or serialization failure).
# (b) 8 threads x 20 batches, each thread into its own run: exact counts.
set -eu
. "$ROOT/tests/lib.sh"
port=$(free_port)
BASE="http://127.0.0.1:$port"
log="$WORK/concurrency.log"
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$port" --data-dir "$WORK/d7" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
wait_http "$BASE/readyz" 60 || { cat "$log"; fail "server did not start"; }

out="$WORK/concurrency.out"
python3 - "$BASE" >"$out" <<'PY' || { cat "$out"; tail -n 40 "$log"; fail "concurrent log-batch"; }
import http.client, json, random, sys, threading, time, urllib.parse

base = urllib.parse.urlsplit(sys.argv[1])
THREADS, BATCHES, PER_BATCH = 8, 20, 500


def conn():
    return http.client.HTTPConnection(base.hostname, base.port, timeout=60)


def call(c, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    c.request(method, path, body=data, headers=hdrs)
    r = c.getresponse()
    return r.status, r.read()


def ok(c, method, path, body=None):
    st, raw = call(c, method, path, body)
    if st != 200:
        raise SystemExit("%s %s -> %d %s" % (method, path, st, raw[:300]))
    return json.loads(raw)


setup = conn()
exp = ok(setup, "POST", "/api/2.0/mlflow/experiments/create",
         {"name": "concurrency-%d-%d" % (time.time(), random.randrange(10 ** 6))})["experiment_id"]


def new_run():
    return ok(setup, "POST", "/api/2.0/mlflow/runs/create",
              {"experiment_id": exp, "start_time": 1})["run"]["info"]["run_id"]


# A pool of 3000 distinct points over 12 keys.  Points share (key, step,
# timestamp) with different values, and every batch draws from the same
# pool, so the threads overlap heavily.
KEYS = ["k%02d" % i for i in range(12)]
POOL = []
for k in KEYS:
    for step in range(125):
        ts = 1000 + step % 5
        POOL.append((k, step, ts, float(step % 9)))
        POOL.append((k, step, ts, float(step % 9) + 0.5))
assert len(set(POOL)) == len(POOL) == 3000


def batch_points(rnd, order):
    pts = [rnd.choice(POOL) for _ in range(PER_BATCH - 20)]
    pts += pts[:20]  # exact duplicates inside one batch
    if order == "sorted":
        pts.sort()
    elif order == "reversed":
        pts.sort(reverse=True)
    else:
        rnd.shuffle(pts)
    return pts


def metrics_json(pts):
    return [{"key": k, "value": v, "timestamp": ts, "step": s} for k, s, ts, v in pts]


errors, sent_a, sent_b = [], [set() for _ in range(THREADS)], {}
lock = threading.Lock()


def worker(i, run_a, run_b):
    rnd = random.Random(i)
    order = ["sorted", "reversed", "shuffled", "reversed"][i % 4]
    c = conn()  # one keep-alive connection per thread
    try:
        for b in range(BATCHES):
            pts = batch_points(rnd, order)
            st, raw = call(c, "POST", "/api/2.0/mlflow/runs/log-batch",
                           {"run_id": run_a, "metrics": metrics_json(pts)})
            if st != 200:
                with lock:
                    errors.append("(a) thread %d batch %d: %d %s" % (i, b, st, raw[:200]))
            sent_a[i].update(pts)
            # (b): the thread's own run, its own points.
            own = [("o%02d" % (j % 7), b * 1000 + j, 5 + j % 3, float(j)) for j in range(PER_BATCH)]
            rnd.shuffle(own)
            st, raw = call(c, "POST", "/api/2.0/mlflow/runs/log-batch",
                           {"run_id": run_b, "metrics": metrics_json(own)})
            if st != 200:
                with lock:
                    errors.append("(b) thread %d batch %d: %d %s" % (i, b, st, raw[:200]))
            with lock:
                sent_b.setdefault(run_b, set()).update(own)
    except Exception as e:  # a dropped connection counts as a failure
        with lock:
            errors.append("thread %d: %s: %s" % (i, type(e).__name__, e))
    finally:
        c.close()


run_a = new_run()
runs_b = [new_run() for _ in range(THREADS)]
t0 = time.time()
threads = [threading.Thread(target=worker, args=(i, run_a, runs_b[i])) for i in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.time() - t0
if errors:
    raise SystemExit("\n".join(errors[:20]))
# The set-up connection sat idle while the threads ran, longer than the
# server's keep-alive timeout (5 s) on a loaded machine: the server closed
# it.  The reads below go on a new one.
setup.close()
setup = conn()

distinct = set().union(*sent_a)
# Latest per key: the max by (step, timestamp, value) of what was sent.
want = {}
for k, s, ts, v in distinct:
    if k not in want or (s, ts, v) > want[k]:
        want[k] = (s, ts, v)
run = ok(setup, "GET", "/api/2.0/mlflow/runs/get?run_id=" + run_a)["run"]
got = {m["key"]: (m["step"], m["timestamp"], m["value"]) for m in run["data"].get("metrics", [])}
if got != want:
    raise SystemExit("latest metrics differ:\n got %s\nwant %s" % (sorted(got.items()), sorted(want.items())))
hist, q = {"metrics": []}, ""
while True:  # every page (next_page_token)
    page = ok(setup, "GET", "/api/2.0/mlflow/metrics/get-history?run_id=%s&metric_key=k00%s"
              % (run_a, q))
    hist["metrics"] += page.get("metrics", [])
    if not page.get("next_page_token"):
        break
    q = "&page_token=" + urllib.parse.quote(page["next_page_token"])
if len(hist.get("metrics", [])) != len([p for p in distinct if p[0] == "k00"]):
    raise SystemExit("get-history k00: %d points, sent %d distinct"
                     % (len(hist.get("metrics", [])), len([p for p in distinct if p[0] == "k00"])))
print("RUN_A=%s" % run_a)
print("EXPECT_A=%d" % len(distinct))
print("SENT_A=%d" % (THREADS * BATCHES * PER_BATCH))
print("RUNS_B='%s'" % " ".join("%s:%d" % (r, len(sent_b[r])) for r in runs_b))
print("ELAPSED=%.1f" % elapsed)
PY
eval "$(cat "$out")"

n=$(psql_q "SELECT count(*) FROM metrics WHERE run_id = '$RUN_A'")
[ "$n" = "$EXPECT_A" ] || fail "(a) metrics rows for the shared run: $n, distinct points sent: $EXPECT_A"
nl=$(psql_q "SELECT count(*) FROM latest_metrics WHERE run_id = '$RUN_A'")
[ "$nl" = 12 ] || fail "(a) latest_metrics rows: $nl, want 12"
set -- $RUNS_B
[ $# = 8 ] || fail "(b) expected 8 runs, got: $RUNS_B"
for rb in "$@"; do
	r=${rb%%:*}
	want=${rb##*:}
	n=$(psql_q "SELECT count(*) FROM metrics WHERE run_id = '$r'")
	[ "$n" = "$want" ] || fail "(b) metrics rows for run $r: $n, sent $want"
done
if grep -n 'retrying' "$log"; then
	fail "the server retried a transaction (deadlock or serialization failure)"
fi
if grep -nE ' 5[0-9][0-9] [0-9.]+ms$' "$log"; then
	fail "5xx answers in the server log"
fi

kill -TERM "$pid"
wait "$pid" && rc=0 || rc=$?
trap - EXIT
[ "$rc" = 0 ] || fail "mltrackd exited $rc on SIGTERM"
grep -E '(AddressSanitizer|runtime error|LeakSanitizer)' "$log" && fail "sanitizer report"
echo "concurrency: (a) 8x20x500 points into one run -> $EXPECT_A distinct rows, latest exact, no retries;" \
	"(b) 8 runs x 20 batches exact; ${ELAPSED}s"
