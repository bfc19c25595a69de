"""mltrack webhooks list|create|delete|test|deliveries|redeliver against a
live mltrackd (tests/run-api.sh) and a real HTTP receiver on loopback.

The server's delivery settings are its defaults (a first retry after 1 s),
so the receiver here always answers 200 when an event must arrive.  The
webhook subscribes to registered_model.created only and is deleted at the
end: other suites on the same server are not disturbed.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
import mtapi  # noqa: E402

CLI = os.path.abspath(os.environ.get("MLTRACK_CLI", "build/default/mltrack"))


def setUpModule():
    mtapi.wait_ready()


class Receiver(http.server.ThreadingHTTPServer):
    def __init__(self):
        self.posts = []
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                rec.posts.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"thanks")

            def log_message(self, *a):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.server_address[1]


class WebhooksCliTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mltrack-webhooks-")
        self.rec = Receiver()

    def tearDown(self):
        self.rec.shutdown()
        self.rec.server_close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def mltrack(self, *args, check=0, stdin=None):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MLFLOW_", "MLTRACK_"))}
        env.update(MLTRACK_TRACKING_URI=mtapi.BASE, HOME=self.tmp,
                   MLTRACK_SPOOL_DIR=os.path.join(self.tmp, "spool"),
                   MLTRACK_HTTP_RETRIES="2")
        p = subprocess.run([CLI] + list(args), capture_output=True, text=True, env=env,
                           input=stdin, cwd=self.tmp, timeout=120)
        if check is not None and p.returncode != check:
            raise AssertionError("mltrack %s: exit %d, want %d\nstdout: %r\nstderr: %r"
                                 % (" ".join(args), p.returncode, check, p.stdout, p.stderr))
        return p

    def one_line_error(self, p, code, text):
        self.assertEqual(p.returncode, code, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn(text, p.stderr)

    def test_lifecycle(self):
        name = mtapi.uniq("clihook")
        secret = "cli-secret-" + mtapi.uniq("s")
        wid = self.mltrack("webhooks", "create", name, "--url", self.rec.url,
                           "--event", "registered_model.created", "--description", "cli",
                           "--secret-stdin", stdin=secret + "\n").stdout.strip()
        self.assertRegex(wid, r"^[0-9a-f-]{36}$")
        try:
            out = self.mltrack("webhooks", "list").stdout
            row = [line for line in out.splitlines() if wid in line]
            self.assertEqual(len(row), 1, out)
            self.assertIn(name, row[0])
            self.assertIn("registered_model.created", row[0])
            self.assertIn("ACTIVE", row[0])
            listed = json.loads(self.mltrack("webhooks", "list", "--format", "json").stdout)
            mine, = [w for w in listed if w["webhook_id"] == wid]
            self.assertEqual(mine["events"], [{"entity": "REGISTERED_MODEL", "action": "CREATED"}])
            self.assertNotIn(secret, json.dumps(listed))

            # test: the receiver gets a signed example
            p = self.mltrack("webhooks", "test", wid)
            self.assertEqual(p.stdout, "ok: 200 thanks\n")
            h, body = self.rec.posts[-1]
            self.assertEqual(json.loads(body)["entity"], "registered_model")
            msg = "%s.%s.%s" % (h["X-MLflow-Delivery-Id"], h["X-MLflow-Timestamp"],
                                body.decode())
            self.assertEqual(h["X-MLflow-Signature"], "v1," + base64.b64encode(
                hmac.new(secret.encode(), msg.encode(), hashlib.sha256).digest()).decode())

            # a real event, then its delivery log and a redelivery
            model = mtapi.uniq("clihook-model")
            self.assertEqual(mtapi.post("registered-models/create", {"name": model}).status, 200)
            deadline = time.time() + 15
            while time.time() < deadline:
                d = json.loads(self.mltrack("webhooks", "deliveries", wid,
                                            "--format", "json").stdout)
                if d and d[0]["state"] == "DELIVERED":
                    break
                time.sleep(0.1)
            self.assertEqual(d[0]["state"], "DELIVERED", d)
            self.assertEqual(d[0]["payload"]["data"]["name"], model)
            table = self.mltrack("webhooks", "deliveries", wid, "--max", "1").stdout
            self.assertIn(d[0]["delivery_id"], table)
            self.assertIn("registered_model.created", table)
            self.assertIn("DELIVERED", table)
            n = len(self.rec.posts)
            self.mltrack("webhooks", "redeliver", d[0]["delivery_id"])
            deadline = time.time() + 15
            while len(self.rec.posts) == n and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(self.rec.posts[-1][0]["X-MLflow-Delivery-Id"], d[0]["delivery_id"])
        finally:
            self.mltrack("webhooks", "delete", wid)
        self.one_line_error(self.mltrack("webhooks", "delete", wid, check=None), 3,
                            "Webhook with ID %s not found." % wid)
        self.assertNotIn(wid, self.mltrack("webhooks", "list").stdout)

    def test_errors(self):
        dead = "http://127.0.0.1:9/"
        self.one_line_error(self.mltrack("webhooks", "create", "x", "--url", dead,
                                         "--event", "nodot", check=None), 2, "ENTITY.ACTION")
        self.one_line_error(self.mltrack("webhooks", "create", "x", "--url", "ftp://h/",
                                         "--event", "run.failed", check=None), 3,
                            "Invalid webhook URL scheme: 'ftp'")
        self.one_line_error(self.mltrack("webhooks", "create", "x", "--url", dead,
                                         "--event", "run.failed", "--secret-stdin",
                                         stdin="", check=None), 2, "no secret")
        self.one_line_error(self.mltrack("webhooks", "deliveries", "x", "--max", "0",
                                         check=None), 2, "--max")
        self.one_line_error(self.mltrack("webhooks", "list", "--format", "xml", check=None), 2,
                            "--format")
        wid = self.mltrack("webhooks", "create", mtapi.uniq("dead"), "--url", dead,
                           "--event", "run.killed", "--disabled").stdout.strip()
        try:
            p = self.mltrack("webhooks", "test", wid, check=None)
            self.one_line_error(p, 1, "Failed to test webhook")
            p = self.mltrack("webhooks", "test", wid, "--event", "model_version.deleted",
                             check=None)
            self.one_line_error(p, 3, "Invalid action 'deleted' for entity 'model_version'")
        finally:
            self.mltrack("webhooks", "delete", wid)
        for sub in ("list", "create", "delete", "test", "deliveries", "redeliver"):
            p = self.mltrack("webhooks", sub, "--help")
            self.assertIn("usage: mltrack webhooks " + sub, p.stdout)


if __name__ == "__main__":
    unittest.main()
