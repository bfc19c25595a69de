"""authsrv: a private mltrackd with authentication on, for the auth suites.

The other API suites share one server without users (authentication off),
and must keep it that way; a suite that needs users starts its own server
here, on a database of its own in the harness's PostgreSQL
($MLTRACK_TEST_PGCONN), from the build under test (the mltrackd next to
$MLTRACK_CLI, or $MLTRACK_TEST_MLTRACKD).  stop() asks it to exit and
fails when it did not exit 0 or its log shows a sanitizer report, as
tests/run-api.sh does for the shared server.

Users are written straight into the database with a cheap password hash
(PBKDF2 with 1000 iterations, the stored format lib/mt_auth.c reads, which
takes its iteration count from the hash), so a suite pays no 600k-iteration
KDF per user or per wrong password; users/create, which hashes for real,
is tested where it is the subject.
"""

import base64
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import uuid
from collections import namedtuple

Resp = namedtuple("Resp", "status headers body")

API = "/api/2.0/mlflow/"
MLTRACK = "/api/2.0/mltrack/"


def mltrackd_binary():
    b = os.environ.get("MLTRACK_TEST_MLTRACKD")
    if b:
        return b
    cli = os.environ.get("MLTRACK_CLI")
    if not cli:
        raise unittest.SkipTest("MLTRACK_CLI is not set: no build to start a server from")
    return os.path.join(os.path.dirname(cli), "mltrackd")


def routes():
    """`mltrackd routes`: [(method, path, class)]."""
    out = subprocess.run([mltrackd_binary(), "routes"], capture_output=True, text=True,
                         timeout=30)
    if out.returncode != 0:
        raise AssertionError("mltrackd routes failed: %s" % out.stderr.strip())
    rows = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) != 3:
            raise AssertionError("mltrackd routes: a line without a class: %r" % line)
        rows.append(tuple(parts))
    return rows


def password_hash(password, iterations=1000):
    """A hash in lib/mt_auth.c's format: $pbkdf2-sha256$<it>$<salt>$<dk>,
    standard base64 without padding."""
    salt = os.urandom(16)
    dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, 32)

    def b64(b):
        return base64.b64encode(b).decode().rstrip("=")
    return "$pbkdf2-sha256$%d$%s$%s" % (iterations, b64(salt), b64(dk))


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode()}


def bearer(token):
    return {"Authorization": "Bearer " + token}


def uniq(prefix="az"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class AuthServer:
    """One mltrackd on its own database; start() creates the first user
    (an admin) through MLflow's users/create, which turns authentication on."""

    def __init__(self, name, args=(), env=None, admin=("root", "root-password-1")):
        self.name = "%s_%s" % (name, uuid.uuid4().hex[:8])
        self.args = list(args)
        self.env = dict(env or {})
        self.admin = admin
        self.proc = None
        self.dir = None
        base = os.environ.get("MLTRACK_TEST_PGCONN")
        if not base:
            raise unittest.SkipTest("MLTRACK_TEST_PGCONN is not set")
        self.base_conninfo = base
        self.conninfo = " ".join(p for p in base.split() if not p.startswith("dbname=")) + \
            " dbname=" + self.name
        self.psql_bin = os.environ.get("MLTRACK_TEST_PSQL", "psql")

    # ---- the process ----
    def start(self):
        self._psql(self.base_conninfo, "CREATE DATABASE %s" % self.name)
        self.dir = tempfile.mkdtemp(prefix="mltrack-authsrv-")
        self.port = _free_port()
        self.log_path = os.path.join(self.dir, "mltrackd.log")
        env = dict(os.environ)
        env.update(self.env)
        env.pop("MLTRACK_ADMIN_TOKEN", None)
        env.update(self.env)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [mltrackd_binary(), "--database-url", self.conninfo, "--port", str(self.port),
                 "--data-dir", os.path.join(self.dir, "data")] + self.args,
                stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 60
        while True:
            try:
                if self.call("GET", "/readyz").status == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError("mltrackd did not start:\n" + self.log())
            time.sleep(0.1)
        if self.admin:
            r = self.call("POST", API + "users/create",
                          {"username": self.admin[0], "password": self.admin[1]})
            if r.status != 200 or not r.body["user"]["is_admin"]:
                raise AssertionError("the first user: %r" % (r,))
        return self

    def stop(self):
        """SIGTERM; the exit status (0 under ASan includes LeakSanitizer's
        verdict) and the log are checked."""
        if not self.proc:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        log = self.log()
        try:
            self._psql(self.base_conninfo, "DROP DATABASE IF EXISTS %s" % self.name)
        except AssertionError:
            pass
        bad = [w for w in ("AddressSanitizer", "LeakSanitizer", "runtime error") if w in log]
        shutil.rmtree(self.dir, ignore_errors=True)
        if rc != 0 or bad:
            raise AssertionError("mltrackd exited %s%s:\n%s" % (
                rc, " with a sanitizer report" if bad else "", log[-6000:]))

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # ---- the database ----
    def _psql(self, conninfo, sql):
        p = subprocess.run([self.psql_bin, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-d", conninfo, "-c", sql], capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:
            raise AssertionError("psql: %s" % p.stderr.strip())
        return p.stdout.strip()

    def psql(self, sql):
        return self._psql(self.conninfo, sql)

    def add_user(self, username, password, admin=False):
        """A user with a cheap hash; returns the id."""
        return int(self.psql(
            "INSERT INTO users (username, password_hash, is_admin, created_at, updated_at) "
            "VALUES (%s, %s, %s, 0, 0) RETURNING id" % (
                sql_str(username), sql_str(password_hash(password)),
                "true" if admin else "false")))

    # ---- HTTP ----
    def call(self, method, path, body=None, query=None, headers=None, raw=None):
        url = path
        if query:
            pairs = []
            for k, v in (query.items() if isinstance(query, dict) else query):
                for x in (v if isinstance(v, (list, tuple)) else [v]):
                    if x is not None:
                        pairs.append((k, "true" if x is True else "false" if x is False
                                      else str(x)))
            if pairs:
                url += "?" + urllib.parse.urlencode(pairs)
        hdrs = {"Host": "127.0.0.1", "Accept": "application/json"}
        data = None
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode()
        elif body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if data is not None or method in ("POST", "PUT", "PATCH"):
            hdrs["Content-Length"] = str(len(data or b""))
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, url, body=data, headers=hdrs)
            r = conn.getresponse()
            payload = r.read()
            status, rh = r.status, r.headers
        finally:
            conn.close()
        text = payload.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(text) if text.strip() else text
        except ValueError:
            parsed = text
        return Resp(status, rh, parsed)

    def as_admin(self):
        return basic(*self.admin)

    def ok(self, method, path, body=None, query=None, headers=None):
        """A set-up call as the admin (or with headers) that must succeed."""
        r = self.call(method, path, body=body, query=query,
                      headers=headers if headers is not None else self.as_admin())
        if r.status != 200:
            raise AssertionError("%s %s: %d %r" % (method, path, r.status, r.body))
        return r.body

    def token(self, user_headers, name=None, scope=None, days=None):
        """A token created by the user (password login); returns (id, secret)."""
        body = {"name": name or uniq("tok")}
        if scope is not None:
            body["scope"] = scope
        if days is not None:
            body["expires_in_days"] = days
        b = self.ok("POST", MLTRACK + "auth/tokens/create", body, headers=user_headers)
        return b["token"]["id"], b["secret"]
