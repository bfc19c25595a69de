"""Monitoring alerts (issue 17, item 4; docs/monitoring.md, "Alerts"):
alert rules in the gate rule language, checked once per live window when it
closes, an alert per breached window, its webhook event signed.

The suite runs its own mltrackd (authsrv's AuthServer, authentication off)
with one-minute windows and a one-second grace (MLTRACK_MONITOR_WINDOW,
MLTRACK_MONITOR_GRACE), and a real HTTP receiver (test_webhooks.Receiver).

The scenario: a model version trained with val_acc 0.95 and registered with
a reference profile of age (a number) and color (a category) and a category
prediction; rules `drift.psi(age) < 0.2` and `live.accuracy >=
champion.metrics.val_acc - 0.03`; six windows in the past, each posted in
one request: three like the reference, then three whose age drifts (the
last one's accuracy drops too).  Exactly the three drifted windows fire,
each once, each reaching the receiver with a signature that verifies and
the failing rules named; the quiet windows close without an alert; late
observations into closed windows fire nothing; an acknowledged alert leaves
the open list; rule validation refuses bad rules, and drift rules in a
promotion gate.
"""

import hashlib
import json
import os
import subprocess
import sys
import time
import unittest

try:
    import numpy as np
except ImportError:  # a python3 other than Debian's (pyenv) is first on PATH
    sys.path.append("/usr/lib/python3/dist-packages")
    import numpy as np

import authsrv
from test_gates import bundle_bytes
from test_monitor import category_col, number_col, profile
from test_webhooks import Receiver, sign

MLF = "/api/2.0/mlflow/"
EXT = "/api/2.0/mltrack/"
WINDOW_MS = 60 * 1000
COLORS = ["red", "green", "blue"]
CLI = os.path.abspath(os.environ.get("MLTRACK_CLI", "build/default/mltrack"))
RULES = ["drift.psi(age) < 0.2", "live.accuracy >= champion.metrics.val_acc - 0.03"]


class MonitorAlerts(unittest.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = authsrv.AuthServer("alerts", env={
            "MLTRACK_MONITOR_WINDOW": "60", "MLTRACK_MONITOR_GRACE": "1",
            "MLTRACK_WEBHOOK_POLL_MS": "100", "MLTRACK_WEBHOOK_RETRY_MS": "300"})
        cls.srv.start()
        cls.rec = Receiver().start()

    @classmethod
    def tearDownClass(cls):
        cls.rec.stop()
        if cls.srv:
            cls.srv.stop()

    def ok(self, method, path, body=None, query=None, raw=None, headers=None):
        r = self.srv.call(method, path, body=body, query=query, raw=raw, headers=headers)
        self.assertEqual(r.status, 200, (method, path, r.body))
        return r.body

    def refused(self, path, body, message):
        r = self.srv.call("POST", path, body=body)
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.body["error_code"], "INVALID_PARAMETER_VALUE", r.body)
        self.assertIn(message, r.body["message"])

    def cli(self, *args):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MLTRACK_", "MLFLOW_"))}
        env["MLTRACK_TRACKING_URI"] = "http://127.0.0.1:%d" % self.srv.port
        return subprocess.run([CLI] + list(args), capture_output=True, text=True, env=env,
                              timeout=60)

    def alerts(self, name, **q):
        q["name"] = name
        return self.ok("GET", EXT + "monitor/alerts/list", query=q)["alerts"]

    def metric(self, text, key):
        for line in text.splitlines():
            if line.startswith(key + " "):
                return float(line.split()[1])
        raise AssertionError("no %s in /metrics" % key)

    def closed(self):
        return self.metric(self.srv.call("GET", "/metrics").body,
                           "mltrack_monitor_windows_closed_total")

    def version(self, rng):
        """A model whose version 1 comes from a run with val_acc 0.95 and a
        bundle carrying the reference profile."""
        name = "churn-%d" % int(time.time() * 1000)
        self.ok("POST", MLF + "registered-models/create", {"name": name})
        exp = self.ok("POST", MLF + "experiments/create", {"name": name})["experiment_id"]
        run = self.ok("POST", MLF + "runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
        self.ok("POST", MLF + "runs/log-metric", {"run_id": run, "key": "val_acc", "value": 0.95,
                                                  "timestamp": 1, "step": 0})
        age = rng.normal(40, 10, 4000)
        color = list(rng.choice(COLORS, 4000))
        prof = profile({"age": number_col(age), "color": category_col(color),
                        "churn": category_col(list(rng.choice(["yes", "no"], 4000)),
                                              role="prediction")}, 4000)
        data = bundle_bytes({"model.bin": name.encode()}, extra={"reference_profile": prof})
        sha = hashlib.sha256(data).hexdigest()
        self.ok("PUT", EXT + "bundles/%s.tar" % sha, raw=data,
                headers={"Content-Type": "application/octet-stream"})
        self.ok("POST", MLF + "model-versions/create", {
            "name": name, "run_id": run,
            "source": "mlflow-artifacts:/mltrack-bundles/%s.tar" % sha})
        self.ok("POST", MLF + "model-versions/transition-stage",
                {"name": name, "version": "1", "stage": "Production",
                 "archive_existing_versions": False})
        return name

    def window(self, rng, name, start, age_mean, accuracy, n=500):
        obs = []
        for i, a in enumerate(rng.normal(age_mean, 10, n)):
            pred = "yes" if i % 2 else "no"
            right = i < int(accuracy * n)
            obs.append({"features": {"age": float(a), "color": COLORS[i % 3]},
                        "prediction": pred,
                        "label": pred if right else ("no" if pred == "yes" else "yes"),
                        "timestamp": start + i})
        self.ok("POST", EXT + "monitor/log",
                {"name": name, "alias": "production", "observations": obs})

    def test_rules_are_validated(self):
        rng = np.random.default_rng(1)
        name = self.version(rng)
        path = EXT + "monitor/alert-rules/set"
        self.refused(path, {"name": name, "rules": ["drift.psi(age) <"]},
                     "rule 1 'drift.psi(age) <': expected a value")
        self.refused(path, {"name": name, "rules": ["drift.mean(age) < 1"]},
                     "drift has psi, ks, chi2 and missing")
        self.refused(path, {"name": name, "rules": ["live.accuracy > 0.9", 3]},
                     "rules[1] is not a string")
        # A promotion gate refuses them.
        r = self.srv.call("POST", EXT + "gates/set",
                          {"name": name, "stage": "Production", "rules": ["drift.psi(age) < 0.2"]})
        self.assertEqual(r.status, 400, r.body)
        self.assertIn("belong in monitoring alert rules", r.body["message"])
        self.assertEqual(self.ok("GET", EXT + "monitor/alert-rules/get",
                                 query={"name": name})["rules"], [])
        self.ok("POST", path, {"name": name, "rules": RULES})
        self.assertEqual(self.ok("GET", EXT + "monitor/alert-rules/get",
                                 query={"name": name})["rules"], RULES)
        self.ok("POST", path, {"name": name, "rules": []})
        self.assertEqual(self.ok("GET", EXT + "monitor/alert-rules/get",
                                 query={"name": name})["rules"], [])
        r = self.srv.call("POST", path, {"name": name + "-none", "rules": RULES})
        self.assertEqual(r.status, 404, r.body)

    def test_drift_halfway_fires_once_per_breached_window(self):
        rng = np.random.default_rng(7)
        name = self.version(rng)
        secret = "s3cr3t-alerts"
        hook = self.ok("POST", MLF + "webhooks", {
            "name": "alerts-%d" % int(time.time() * 1000), "url": self.rec.url, "secret": secret,
            "events": [{"entity": "MONITOR_ALERT", "action": "FIRED"}]})["webhook"]
        self.ok("POST", EXT + "monitor/alert-rules/set", {"name": name, "rules": RULES})
        closed0 = self.closed()
        # Six windows ending at least a minute ago: three like the
        # reference, three drifted (the last one's accuracy low too).
        first = (int(time.time() * 1000) // WINDOW_MS - 8) * WINDOW_MS
        starts = [first + k * WINDOW_MS for k in range(6)]
        plan = [(40, 0.97), (40, 0.96), (41, 0.98), (55, 0.97), (58, 0.96), (60, 0.80)]
        for start, (mean, acc) in zip(starts, plan):
            self.window(rng, name, start, mean, acc)

        deadline = time.time() + 30
        while time.time() < deadline and (len(self.alerts(name)) < 3 or
                                          self.closed() < closed0 + 6):
            time.sleep(0.2)
        time.sleep(2.5)  # time for anything that would fire twice
        got = sorted(self.alerts(name), key=lambda a: a["window_start"])
        self.assertEqual([a["window_start"] for a in got], starts[3:], got)
        self.assertGreaterEqual(self.closed(), closed0 + 6)
        for a in got:
            self.assertEqual(a["version"], "1")
            self.assertEqual(a["window_end"], a["window_start"] + WINDOW_MS)
            self.assertIn(RULES[0], a["failed"])
            self.assertFalse(a["report"]["passed"])
            self.assertEqual(a["report"]["rows"], 500)
        self.assertEqual(got[0]["failed"], [RULES[0]])
        self.assertEqual(got[2]["failed"], RULES)
        acc_rule = got[2]["report"]["rules"][1]
        self.assertEqual(acc_rule["actual"], "0.8")
        self.assertIn("0.92", acc_rule["required"])  # champion 0.95 - 0.03

        # Each alert reached the receiver once, signed.
        events = self.rec.wait(lambda b: b["entity"] == "monitor_alert", timeout=15)
        deadline = time.time() + 15
        while time.time() < deadline and len([e for e in self.rec.events()
                                              if e[1]["data"].get("name") == name]) < 3:
            time.sleep(0.1)
        events = [(h, b) for h, b in self.rec.events() if b["data"].get("name") == name]
        self.assertEqual(len(events), 3, events)
        raw = {h["X-MLflow-Delivery-Id"]: b for h, b in self.rec.posts
               if json.loads(b)["data"].get("name") == name}
        for h, body in events:
            self.assertEqual((body["entity"], body["action"]), ("monitor_alert", "fired"))
            self.assertEqual(h["X-MLflow-Signature"],
                             sign(secret, h, raw[h["X-MLflow-Delivery-Id"]]))
            self.assertNotEqual(h["X-MLflow-Signature"],
                                sign("other", h, raw[h["X-MLflow-Delivery-Id"]]))
        self.assertEqual(sorted(b["data"]["window_start"] for _, b in events), starts[3:])
        self.assertEqual(sorted(b["data"]["alert_id"] for _, b in events),
                         sorted(a["alert_id"] for a in got))
        d = self.ok("GET", EXT + "webhooks/%s/deliveries" % hook["webhook_id"])["deliveries"]
        self.assertEqual(len(d), 3)

        # Late observations into closed windows: folded, nothing fires again.
        self.window(rng, name, starts[0], 70, 0.5, n=50)
        self.window(rng, name, starts[4], 70, 0.5, n=50)
        time.sleep(3)
        self.assertEqual(len(self.alerts(name)), 3)
        self.assertEqual(len([e for e in self.rec.events()
                              if e[1]["data"].get("name") == name]), 3)

        # The CLI's view: three open alerts, the rules, one acknowledged.
        out = self.cli("monitor", "alerts", name + "@production")
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(lines[0].split()[:4], ["ALERT", "VERSION", "WINDOW", "ROWS"])
        self.assertEqual(sorted(l.split()[0] for l in lines[1:]),
                         sorted(a["alert_id"] for a in got))
        self.assertTrue(all(RULES[0] in l for l in lines[1:]), lines)
        out = self.cli("monitor", "rules", name)
        self.assertEqual(out.stdout.splitlines(), RULES)
        out = self.cli("monitor", "rules", name, "--rule", "drift.psi(age) <")
        self.assertEqual(out.returncode, 2)
        self.assertIn("rule 1 'drift.psi(age) <'", out.stderr)
        self.assertEqual(self.cli("monitor", "rules", name).stdout.splitlines(), RULES)
        out = self.cli("monitor", "ack", name, got[1]["alert_id"])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(len(self.alerts(name)), 2)
        out = self.cli("monitor", "ack", name, "99999999")
        self.assertEqual(out.returncode, 3, out.stderr)
        self.assertIn("has no alert 99999999", out.stderr)

        # Acknowledged: no longer open.
        got.pop(1)
        ack = self.ok("POST", EXT + "monitor/alerts/acknowledge",
                      {"name": name, "alert_id": got[0]["alert_id"]})
        self.assertEqual(ack["alert_id"], got[0]["alert_id"])
        self.assertEqual(len(self.alerts(name)), 1)
        self.assertEqual(len(self.alerts(name, include_acknowledged="true")), 3)
        self.assertEqual(len(self.alerts(name, version="1")), 1)
        self.assertEqual(len(self.alerts(name, alias="production")), 1)
        self.assertEqual(len(self.cli("monitor", "alerts", name, "--all").stdout.splitlines()), 4)
        r = self.srv.call("POST", EXT + "monitor/alerts/acknowledge",
                          {"name": name, "alert_id": "99999999"})
        self.assertEqual(r.status, 404, r.body)
        r = self.srv.call("POST", EXT + "monitor/alerts/acknowledge",
                          {"name": name, "alert_id": "x"})
        self.assertEqual(r.status, 400, r.body)
        text = self.srv.call("GET", "/metrics").body
        self.assertGreaterEqual(self.metric(text, "mltrack_monitor_alerts_fired_total"), 3)

        # monitor/get says each window's check: closed, its report, its alert.
        ws = self.ok("GET", EXT + "monitor/get", query={"name": name, "version": "1"})["windows"]
        by_start = {w["start"]: w for w in ws}
        self.assertEqual(sorted(by_start), starts)
        alert_of = {a["window_start"]: a for a in
                    self.alerts(name, include_acknowledged="true")}
        for start in starts:
            w = by_start[start]
            self.assertIn("closed_at", w)
            self.assertEqual(w["report"]["window_start"], start)
            if start in starts[3:]:
                self.assertFalse(w["report"]["passed"])
                self.assertEqual(w["alert"]["alert_id"], alert_of[start]["alert_id"])
                self.assertEqual("acknowledged_at" in w["alert"],
                                 "acknowledged_at" in alert_of[start])
            else:
                self.assertTrue(w["report"]["passed"], w["report"])
                self.assertNotIn("alert", w)
        self.assertEqual(sum("acknowledged_at" in by_start[s]["alert"] for s in starts[3:]), 2)
        out = self.cli("monitor", "show", name + "/1")
        self.assertEqual(out.returncode, 0, out.stderr)
        checks = out.stdout[out.stdout.rindex("WINDOW"):].splitlines()
        self.assertEqual(checks[0].split(), ["WINDOW", "ROWS", "CHECK", "FAILED"])
        self.assertEqual(sum(" passed" in l for l in checks[1:]), 3, checks)
        self.assertEqual(sum(" ALERT " in l for l in checks[1:]), 3, checks)
        self.assertEqual(sum("(acknowledged)" in l for l in checks[1:]), 2, checks)
        self.assertTrue(all(RULES[0] in l for l in checks[1:] if "ALERT" in l), checks)

        # The delivery log of one model's events (the dashboard's model page).
        d = self.ok("GET", EXT + "webhooks/%s/deliveries" % hook["webhook_id"],
                    query={"model": name})["deliveries"]
        self.assertEqual(sorted(x["payload"]["data"]["alert_id"] for x in d),
                         sorted(a["alert_id"] for a in alert_of.values()))
        d = self.ok("GET", EXT + "webhooks/%s/deliveries" % hook["webhook_id"],
                    query={"model": name + "-other"})["deliveries"]
        self.assertEqual(d, [])


if __name__ == "__main__":
    unittest.main()
