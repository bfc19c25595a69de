"""authserver: an mltrackd of its own with authentication on, for the CLI's
credential suites (test_auth_cli.py).

The shared server of tests/run-api.sh has no user (the one-person mode the
other suites rely on) and its database is shared by the shell suites, where
a user would turn authentication on for all of them.  So this makes a fresh
database in the harness's cluster (MLTRACK_TEST_PGCONN), starts mltrackd
(next to $MLTRACK_CLI) on it, adds users and tokens with `mltrackd user add
--password-stdin` and `mltrackd token create` as an operator would, and on
stop checks that mltrackd exited 0 (under ASan: no leak, no error) and drops
the database.
"""

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import uuid


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class AuthServer:
    def __init__(self, name):
        conn = os.environ.get("MLTRACK_TEST_PGCONN")
        cli = os.environ.get("MLTRACK_CLI")
        if not conn or not cli:
            raise unittest.SkipTest("MLTRACK_TEST_PGCONN and MLTRACK_CLI are not set")
        self.mltrackd = os.path.join(os.path.dirname(os.path.abspath(cli)), "mltrackd")
        self.psql_bin = os.environ.get("MLTRACK_TEST_PSQL", "psql")
        self.admin_conn = conn
        self.dbname = "mt_%s_%s" % (name, uuid.uuid4().hex[:8])
        self.conninfo = conn.replace("dbname=postgres", "").strip() + " dbname=" + self.dbname
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="mt-authcli-")
        self.port = None
        self.url = None
        self.log_path = os.path.join(self.dir, "mltrackd.log")
        self._log = None

    def start(self):
        self._psql(self.admin_conn, "CREATE DATABASE %s" % self.dbname)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.mltrackd, "--database-url", self.conninfo, "--port", str(self.port),
             "--data-dir", os.path.join(self.dir, "data")],
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("mltrackd exited %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                if self.call("GET", "/readyz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("mltrackd did not start:\n" + self.log())

    def stop(self):
        rc = 0
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            rc = self.proc.wait(60)
        elif self.proc:
            rc = self.proc.returncode
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None
        log = self.log()
        try:
            for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
                if bad in log:
                    raise AssertionError("mltrackd reported %s:\n%s" % (bad, log[-4000:]))
            if rc != 0:
                raise AssertionError("mltrackd exited %s:\n%s" % (rc, log[-4000:]))
        finally:
            self._psql(self.admin_conn, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.dbname)
            if not os.environ.get("KEEP"):
                shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # ---- the operator's commands ----
    def cmd(self, *args, stdin=None):
        return subprocess.run([self.mltrackd] + list(args) + ["--database-url", self.conninfo],
                              input=stdin, capture_output=True, text=True, timeout=120)

    def add_user(self, name, password, admin=False):
        p = self.cmd("user", "add", name, "--password-stdin", *(["--admin"] if admin else []),
                     stdin=password + "\n")
        if p.returncode != 0:
            raise AssertionError("user add %s: %s" % (name, p.stderr))
        # A server learns of a user another process added within a second.
        deadline = time.time() + 10
        while self.call("GET", "/api/2.0/mltrack/auth/whoami")[0] != 401:
            if time.time() > deadline:
                raise AssertionError("authentication did not turn on")
            time.sleep(0.05)

    def token(self, user, name, *extra):
        p = self.cmd("token", "create", "--user", user, "--name", name, *extra)
        if p.returncode != 0:
            raise AssertionError("token create: %s" % p.stderr)
        return p.stdout.strip()

    def revoke(self, user, name):
        p = self.cmd("token", "revoke", "--user", user, "--name", name)
        if p.returncode != 0:
            raise AssertionError("token revoke: %s" % p.stderr)

    def sql(self, sql):
        return self._psql(self.conninfo, sql)

    def _psql(self, conn, sql):
        p = subprocess.run([self.psql_bin, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-d", conn, "-c", sql], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("psql: %s" % p.stderr.strip())
        return p.stdout.strip()

    # ---- HTTP ----
    def call(self, method, path, body=None, token=None, auth=None):
        """(status, parsed JSON or text) of one request."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        elif auth:
            headers["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % auth).encode()).decode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            text = r.read().decode("utf-8", "replace")
        finally:
            conn.close()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text
