#!/usr/bin/env python3
"""A webhook receiver that starts retraining when a monitoring alert fires.

    MLTRACK_WEBHOOK_SECRET=... receiver.py --port 8600 --on-alert './retrain.sh'

It stands where a CI system's webhook trigger would (docs/monitoring.md,
"From an alert to a new model"), with what such a receiver must do:

- verify each POST: the X-MLflow-Signature HMAC-SHA256 over
  "<delivery id>.<timestamp>.<raw body>" with the webhook's secret, and a
  timestamp within --tolerance seconds (a replay of an old POST is refused);
  a POST that fails is answered 401 and ignored;
- answer 2xx at once, and do the work after: mltrack waits for the answer
  (10 s at most) and retries what it did not get;
- treat X-MLflow-Delivery-Id as an idempotency key: delivery is at least
  once, so a repeated id is answered 200 and not acted on again;
- start one job per alerted model version: the windows after the first
  breached one fire alerts too, and retraining once is enough.  The command
  runs with MLTRACK_ALERT_NAME, MLTRACK_ALERT_VERSION, MLTRACK_ALERT_ID and
  MLTRACK_ALERT_FAILED (the failed rules, one per line) in its environment.

Every POST is logged to stdout as one JSON line: {delivery_id, event,
verified, outcome}; the job's own output follows it.  --port 0 takes a free
port; the first line printed is "listening on PORT".
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import subprocess
import sys
import threading
import time


def verify(secret, headers, body, tolerance):
    """Whether a POST is mltrack's (or MLflow's), signed with secret."""
    delivery_id = headers.get("X-MLflow-Delivery-Id", "")
    timestamp = headers.get("X-MLflow-Timestamp", "")
    signature = headers.get("X-MLflow-Signature", "")
    if not (delivery_id and timestamp.isdigit() and signature):
        return False
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    want = "v1," + base64.b64encode(
        hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(want, signature)


class State:
    def __init__(self, args, secret):
        self.args = args
        self.secret = secret
        self.lock = threading.Lock()
        self.seen = set()       # delivery ids processed
        self.started = set()    # (name, version) with a job started
        self.jobs = []

    def log(self, **kv):
        with self.lock:
            print(json.dumps(kv, sort_keys=True), flush=True)

    def run_job(self, data):
        env = dict(os.environ, MLTRACK_ALERT_NAME=str(data.get("name", "")),
                   MLTRACK_ALERT_VERSION=str(data.get("version", "")),
                   MLTRACK_ALERT_ID=str(data.get("alert_id", "")),
                   MLTRACK_ALERT_FAILED="\n".join(data.get("failed") or []))
        env.pop("MLTRACK_WEBHOOK_SECRET", None)
        p = subprocess.run(self.args.on_alert, shell=True, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        self.log(job=self.args.on_alert, name=data.get("name"), version=data.get("version"),
                 exit_code=p.returncode, output=p.stdout[-4000:])


def handler(state):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n > 1 << 20:
                return self.answer(413, "too large")
            body = self.rfile.read(n)
            did = self.headers.get("X-MLflow-Delivery-Id", "")
            if not verify(state.secret, self.headers, body, state.args.tolerance):
                state.log(delivery_id=did, event=None, verified=False, outcome="refused")
                return self.answer(401, "bad signature")
            try:
                event = json.loads(body)
                kind = f"{event['entity']}.{event['action']}"
                data = event.get("data") or {}
            except (ValueError, KeyError, TypeError):
                return self.answer(400, "not an event")
            with state.lock:
                repeat = did in state.seen
                state.seen.add(did)
                key = (data.get("name"), data.get("version"))
                start = (not repeat and kind == "monitor_alert.fired" and state.args.on_alert
                         and key not in state.started)
                if start:
                    state.started.add(key)
            outcome = ("duplicate" if repeat else "job started" if start
                       else "job already started" if kind == "monitor_alert.fired" else "noted")
            state.log(delivery_id=did, event=kind, verified=True, outcome=outcome,
                      name=data.get("name"), version=data.get("version"))
            self.answer(200, outcome)
            if start:
                t = threading.Thread(target=state.run_job, args=(data,))
                t.start()
                state.jobs.append(t)

        def answer(self, status, text):
            b = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def log_message(self, *args):
            pass

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8600, help="0: any free port")
    p.add_argument("--on-alert", help="a shell command to run once per alerted model version")
    p.add_argument("--tolerance", type=int, default=300, help="seconds a signed timestamp may be off")
    p.add_argument("--secret-env", default="MLTRACK_WEBHOOK_SECRET",
                   help="the environment variable holding the webhook's secret")
    args = p.parse_args()
    secret = os.environ.get(args.secret_env)
    if not secret:
        sys.exit(f"receiver.py: set {args.secret_env} to the webhook's secret")
    state = State(args, secret)
    srv = http.server.ThreadingHTTPServer((args.host, args.port), handler(state))
    print(f"listening on {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for t in state.jobs:
            t.join()


if __name__ == "__main__":
    main()
