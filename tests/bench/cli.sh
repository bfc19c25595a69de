# tests/bench/cli.sh: section 7 of make bench, sourced by run.sh (which
# provides WORK, BASE, BUILD, api, json_get, fail and row).
#
# 1. `mltrack run -- true`: wall time against `true` alone, median of 30
#    alternating runs each (the difference is mltrack's overhead: creating
#    the run, provenance, the pump, sending the end and the output log).
# 2. A command printing 100,000 metric lines as fast as it can (awk), run
#    alone and under mltrack, 5 times each: the command's own wall time
#    (under mltrack: its mltrack.wall_time_s metric, measured from fork to
#    exit with wait4) against the same command alone; mltrack's total time,
#    which also covers sending all the points; and the points that arrived.
#    The same command piped to cat is measured too: the price of a pipe
#    alone, which any wrapper that sees the output pays.
# 3. Where the time of `mltrack run -- true` goes: MLTRACK_TRACE=1 over 15
#    runs, the median moment of each phase, the CPU time before cmd_run and
#    what lies outside it (docs/PERFORMANCE.md's phase table).
# BENCH_CLI_COMPARE=PATH: another mltrack binary (say, built from an earlier
# commit) run alternately with this build's in 1, and traced in 3 too (if it
# traces), so a before/after comparison sees the same machine.
# All against this run's mltrackd with durable PostgreSQL, over loopback,
# run from a small clean git work tree (so provenance is included).  The
# load average goes with the figures: the machine may be shared.
echo "== 7. mltrack run: overhead and a command printing 100,000 metric lines"
export MLTRACK_TRACKING_URI="$BASE" MLTRACK_SPOOL_DIR="$WORK/spool" HOME="$WORK"
# Where a user runs training: a small, clean git work tree (provenance is
# part of the cost), not this source tree with whatever it has uncommitted.
mkdir -p "$WORK/proj/src"
for i in 1 2 3 4 5 6 7 8; do echo "print($i)" >"$WORK/proj/src/m$i.py"; done
git -C "$WORK/proj" init -q
git -C "$WORK/proj" add -A
git -C "$WORK/proj" -c user.name=bench -c user.email=bench@example.com commit -q -m init
git -C "$WORK/proj" remote add origin https://example.com/team/proj.git
cd "$WORK/proj"
printf '#!/bin/sh\nexec awk '"'"'BEGIN { for (i = 0; i < 100000; i++) printf "loss: %%d\\n", i }'"'"'\n' \
	>"$WORK/hundredk.sh"
chmod +x "$WORK/hundredk.sh"
python3 - "$BUILD/mltrack" "$WORK" "$BASE" >"$WORK/cli.out" <<'PY' || fail "cli bench failed: $(cat "$WORK/cli.out")"
import json, os, statistics, subprocess, sys, time, urllib.parse, urllib.request
cli, work, base = sys.argv[1:4]

def timed(cmd):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise SystemExit("%s: exit %d: %s" % (cmd, p.returncode, p.stderr.decode()))
    return time.perf_counter() - t

def api(path, body=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)

alone, wrapped, compared = [], [], []
other = os.environ.get("BENCH_CLI_COMPARE")
timed([cli, "-q", "run", "-e", "bench-cli", "--", "true"])  # warm: experiment exists
if other:
    timed([other, "-q", "run", "-e", "bench-cli", "--", "true"])
load_before = float(open("/proc/loadavg").read().split()[0])
for _ in range(30):
    alone.append(timed(["true"]))
    wrapped.append(timed([cli, "-q", "run", "-e", "bench-cli", "--", "true"]))
    if other:  # alternated, so both see the same machine
        compared.append(timed([other, "-q", "run", "-e", "bench-cli", "--", "true"]))
over = statistics.median(wrapped) * 1000 - statistics.median(alone) * 1000
load_after = float(open("/proc/loadavg").read().split()[0])

def timed_piped(cmd):
    # The cheapest capture there is: the command's stdout a pipe that cat
    # drains, which is what any wrapper that sees the output has to pay.
    cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    t = time.perf_counter()
    subprocess.run(cmd, stdout=cat.stdin, check=True)
    t = time.perf_counter() - t
    cat.stdin.close()
    cat.wait()
    return t

child_alone, child_piped, child_wrapped, total = [], [], [], []
for i in range(5):
    child_alone.append(timed([work + "/hundredk.sh"]))
    child_piped.append(timed_piped([work + "/hundredk.sh"]))
    total.append(timed([cli, "-q", "run", "-e", "bench-cli-100k", "-n", "r%d" % i, "--",
                        work + "/hundredk.sh"]))
exp = api("/api/2.0/mlflow/experiments/get-by-name?experiment_name=bench-cli-100k")
exp_id = exp["experiment"]["experiment_id"]
runs = api("/api/2.0/mlflow/runs/search", {"experiment_ids": [exp_id], "max_results": 10})["runs"]
points = []
for r in runs:
    rid = r["info"]["run_id"]
    m = {x["key"]: x["value"] for x in r["data"]["metrics"]}
    child_wrapped.append(m["mltrack.wall_time_s"])
    n, q = 0, ""
    while True:  # every page of 25,000 (next_page_token)
        h = api("/api/2.0/mlflow/metrics/get-history?run_id=%s&metric_key=loss%s" % (rid, q))
        n += len(h.get("metrics", []))
        if not h.get("next_page_token"):
            break
        q = "&page_token=" + urllib.parse.quote(h["next_page_token"])
    points.append(n)
ca, cw = statistics.median(child_alone), statistics.median(child_wrapped)
cp = statistics.median(child_piped)
print(json.dumps({
    "true_alone_ms": statistics.median(alone) * 1000,
    "true_wrapped_ms": statistics.median(wrapped) * 1000,
    "overhead_ms": over, "load_before": load_before, "load_after": load_after,
    "compared_ms": statistics.median(compared) * 1000 if compared else 0,
    "child_alone_ms": ca * 1000, "child_wrapped_ms": cw * 1000,
    "child_ratio": cw / ca, "total_ms": statistics.median(total) * 1000,
    "child_piped_ms": cp * 1000, "piped_ratio": cp / ca, "child_ratio_piped": cw / cp,
    "points": points,
}))
PY
cli_json=$(cat "$WORK/cli.out")
echo "where the time of 'mltrack run -- true' goes (MLTRACK_TRACE=1, medians of 15 runs):"
python3 - "$BUILD/mltrack" ${BENCH_CLI_COMPARE:+"$BENCH_CLI_COMPARE"} <<'PY' || fail "cli trace failed"
# Each trace line is a moment since cmd_run began; the first also gives the
# CPU time spent before it (exec, loading the libraries).  The wall time,
# measured here from the spawn to the exit, minus the last moment is what
# no trace can see: the exec and loading before cmd_run, the exit after.
# With a binary to compare, the two alternate.
import os, re, statistics, subprocess, sys, time
clis = sys.argv[1:]
at = {c: {} for c in clis}
cpu = {c: [] for c in clis}
wall = {c: [] for c in clis}
last = {c: [] for c in clis}
order = {c: [] for c in clis}
env = dict(os.environ, MLTRACK_TRACE="1")
for _ in range(15):
    for cli in clis:
        t = time.perf_counter()
        p = subprocess.run([cli, "-q", "run", "-e", "bench-cli", "--", "true"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall[cli].append((time.perf_counter() - t) * 1000)
        lastv = 0.0
        for line in p.stderr.splitlines():
            m = re.match(r"mltrack: trace +([0-9.]+) ms  (.*)", line)
            if not m:
                continue
            what = m.group(2)
            c = re.search(r"CPU so far: ([0-9.]+) ms", what)
            if c:
                cpu[cli].append(float(c.group(1)))
                what = "start"
            if what not in at[cli]:
                at[cli][what] = []
                order[cli].append(what)
            at[cli][what].append(float(m.group(1)))
            lastv = float(m.group(1))
        last[cli].append(lastv)
med = statistics.median
for cli in clis:
    if len(clis) > 1:
        print("  %s:" % cli)
    if cpu[cli]:  # an older mltrack does not say
        print("  %7.1f ms  CPU before cmd_run: the exec and loading the libraries" % med(cpu[cli]))
    prev = 0.0
    for what in order[cli]:
        m = med(at[cli][what])
        print("  %7.1f ms  %-45s (+%.1f)" % (m, what, m - prev))
        prev = m
    print("  %7.1f ms  wall, spawn to exit; outside cmd_run (exec, loading, exit): %.1f ms" %
          (med(wall[cli]), med([w - l for w, l in zip(wall[cli], last[cli])])))
PY
echo "and of one run of the 100,000-line command:"
MLTRACK_TRACE=1 "$BUILD/mltrack" -q run -e bench-cli-trace -- "$WORK/hundredk.sh" 2>&1 >/dev/null | sed 's/^/  /'
cj() { echo "$cli_json" | python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(v if isinstance(v, list) else "%.1f" % v)' "$1"; }
echo "mltrack run -- true: $(cj true_wrapped_ms) ms median; true alone $(cj true_alone_ms) ms; overhead $(cj overhead_ms) ms; load average $(cj load_before) before, $(cj load_after) after"
echo "100,000 metric lines: command alone $(cj child_alone_ms) ms, into a pipe drained by cat $(cj child_piped_ms) ms (ratio $(cj piped_ratio)), under mltrack $(cj child_wrapped_ms) ms (ratio $(cj child_ratio)); mltrack until all points sent $(cj total_ms) ms; points stored per run $(cj points)"
row "mltrack run -- true, wall time (median of 30)" "$(cj true_wrapped_ms) ms (load $(cj load_before) before, $(cj load_after) after)" "< 25 ms"
row "mltrack run -- true, overhead over true (median of 30)" "$(cj overhead_ms) ms" "< 30 ms"
if [ -n "${BENCH_CLI_COMPARE:-}" ]; then
	row "the same with $BENCH_CLI_COMPARE, alternated with it (median of 30)" "$(cj compared_ms) ms" ""
fi
row "100k metric lines: the command's wall time under mltrack / alone" "$(cj child_ratio)" "<= 1.10"
row "100k metric lines: the same, against the command piped to cat" "$(cj child_ratio_piped) (piped / alone: $(cj piped_ratio))" ""
row "100k metric lines: mltrack's total time, all points sent" "$(cj total_ms) ms (command alone $(cj child_alone_ms) ms)" ""
row "100k metric lines: points stored per run (5 runs)" "$(cj points)" "100000 each"
cd "$ROOT"
