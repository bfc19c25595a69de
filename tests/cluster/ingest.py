#!/usr/bin/env python3
"""tests/cluster/ingest.py: concurrent log-batch clients against several
mltrackd, for the cluster's fault tests (tests/cluster/run.sh).

    ingest.py STATE_DIR URL [URL...]

Each of CLIENTS threads owns a run (made at start) and sends batches of
BATCH points with steps of its own, round-robin over the URLs, as a load
balancer would.  A batch that fails (connection refused or reset, timeout,
any non-200) is sent again, unchanged, to the next URL, until acknowledged:
a replayed batch must not duplicate a point.  The run goes on while the
file STATE_DIR/go exists; each second of the run falls in the phase named
by STATE_DIR/phase (written by run.sh around each fault); a request counts
in the phase it ended in.

Output (STATE_DIR/result.json): per phase, the requests sent and the
answers by status ("refused" for a connection that failed), and the
acknowledged points of every run, which run.sh compares with PostgreSQL.
"""
import http.client
import json
import os
import sys
import threading
import time
from urllib.parse import urlparse

CLIENTS = int(os.environ.get("CLUSTER_CLIENTS", "8"))
BATCH = int(os.environ.get("CLUSTER_BATCH", "50"))

state, urls = sys.argv[1], sys.argv[2:]
lock = threading.Lock()
stats = {}   # phase -> {"requests": n, "status": {code: n}}
acked = {}   # run_id -> acknowledged points
errors = []


def phase():
    try:
        with open(os.path.join(state, "phase")) as f:
            return f.read().strip() or "none"
    except OSError:
        return "none"


def note(ph, status):
    with lock:
        s = stats.setdefault(ph, {"requests": 0, "status": {}})
        s["requests"] += 1
        s["status"][status] = s["status"].get(status, 0) + 1


def call(url, method, path, body):
    u = urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=15)
    try:
        c.request(method, path, json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def until_ok(i, method, path, body):
    """Send until a 200, rotating over the servers; count every answer."""
    k = i
    while True:
        url = urls[k % len(urls)]
        k += 1
        try:
            status, data = call(url, method, path, body)
            ph = phase()  # a request counts in the phase it ended in
        except (OSError, http.client.HTTPException) as e:
            ph = phase()
            # No answer: the server is down (refused), or went away during
            # the request (reset, closed, timed out).
            note(ph, "refused" if isinstance(e, ConnectionRefusedError) else
                 "no answer (%s)" % type(e).__name__)
            if not isinstance(e, ConnectionRefusedError):
                print("%.3f %s %s %s: %r" % (time.time(), ph, url, path, e), file=sys.stderr,
                      flush=True)
            time.sleep(0.05)
            continue
        note(ph, str(status))
        if status == 200:
            return json.loads(data or b"{}")
        if status >= 500 and status not in (502, 503, 504):
            with lock:
                errors.append("%s %s: %d %s" % (method, path, status, data[:300]))
        time.sleep(0.05)


def client(i, exp):
    run = until_ok(i, "POST", "/api/2.0/mlflow/runs/create",
                   {"experiment_id": exp, "run_name": "ingest-%d" % i})["run"]["info"]["run_id"]
    step = 0
    n = 0
    while os.path.exists(os.path.join(state, "go")):
        pts = [{"key": "loss", "value": (step + j) / 7.0, "timestamp": 1700000000000 + step + j,
                "step": step + j} for j in range(BATCH)]
        until_ok(i, "POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": run, "metrics": pts})
        step += BATCH
        n += BATCH
        with lock:
            acked[run] = n


def main():
    exp = until_ok(0, "POST", "/api/2.0/mlflow/experiments/create",
                   {"name": "cluster-ingest-%d" % os.getpid()})["experiment_id"]
    ts = [threading.Thread(target=client, args=(i, exp)) for i in range(CLIENTS)]
    for t in ts:
        t.start()
    with open(os.path.join(state, "started"), "w") as f:
        f.write(exp)
    for t in ts:
        t.join()
    with open(os.path.join(state, "result.json"), "w") as f:
        json.dump({"experiment_id": exp, "stats": stats, "acked": acked, "errors": errors}, f)


main()
