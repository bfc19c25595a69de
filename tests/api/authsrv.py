"""authsrv: a server of its own, with authentication on, for the suites that
need users (test_auth.py and the other auth suites).

The shared server of tests/run-api.sh runs with no user defined (the
one-person mode every other suite relies on), and its database is shared
by the shell suites too: a user added there would turn authentication on
for all of them.  So an AuthServer makes a fresh database in the harness's
PostgreSQL cluster (MLTRACK_TEST_PGCONN), starts mltrackd (next to
$MLTRACK_CLI) on it on a free loopback port, adds users, and on stop
checks that mltrackd exited 0 (under ASan: no leak, no error) and drops the
database.

Test users get a cheap password hash: add_user() writes the user straight
into the database with PBKDF2 at 1000 iterations, in the stored format
lib/mt_auth.c reads (the server verifies a hash with the iteration count
the hash names).  The real count, 600,000 (MT_PBKDF2_ITERATIONS), costs a
third of a second of CPU per hash and per wrong password, which the suites
paid hundreds of times under make test.  add_user(..., command=True) adds
the user with `mltrackd user add --password-stdin` as an operator would,
hashing at the real count: for the tests of that command and of the KDF.

    srv = AuthServer("authz")           # database mt_authz_<random>
    srv.start(); srv.add_user("alice", "alicepass1", admin=True)
    r = srv.call("GET", "/api/2.0/mlflow/experiments/search", auth=("alice", "alicepass1"))
    r = srv.call("POST", ..., body={...}, token=srv.create_token("alice", "ci"))
    srv.stop()
    peer = srv.peer().start()            # another mltrackd on the same database
"""

import base64
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import uuid

import mtapi


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


# A test user's iterations of PBKDF2 (see above).
TEST_ITERATIONS = 1000


def password_hash(password, iterations=TEST_ITERATIONS):
    """$pbkdf2-sha256$<it>$<salt>$<dk>, standard base64 without padding, as
    mt_auth_password_hash_iter() writes it."""
    salt = os.urandom(16)
    dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, 32)

    def b64(b):
        return base64.b64encode(b).decode().rstrip("=")
    return "$pbkdf2-sha256$%d$%s$%s" % (iterations, b64(salt), b64(dk))


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


class AuthServer:
    def __init__(self, name, args=(), database=None, env=None):
        conn = os.environ.get("MLTRACK_TEST_PGCONN")
        cli = os.environ.get("MLTRACK_CLI")
        if not conn or not cli:
            raise unittest.SkipTest("MLTRACK_TEST_PGCONN and MLTRACK_CLI are not set")
        self.mltrackd = os.path.join(os.path.dirname(cli), "mltrackd")
        self.admin_conn = conn
        # database: another server's, shared (created and dropped by it).
        self.shared = database is not None
        self.dbname = database or "mt_%s_%s" % (name, uuid.uuid4().hex[:8])
        self.conninfo = conn.replace("dbname=postgres", "") + " dbname=" + self.dbname
        self.args = list(args)
        self.env = dict(env or {})    # more environment for mltrackd
        self.proc = None
        self.dir = None
        self.port = None

    # ---- life ----
    def start(self):
        if not self.shared:
            self._admin_sql("CREATE DATABASE %s" % self.dbname)
        self.dir = tempfile.mkdtemp(prefix="mt-authsrv-")
        self.port = _free_port()
        self.log_path = os.path.join(self.dir, "mltrackd.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.mltrackd, "--database-url", self.conninfo, "--port", str(self.port),
             "--data-dir", os.path.join(self.dir, "data")] + self.args,
            stdout=self._log, stderr=subprocess.STDOUT,
            env=dict(os.environ, **self.env) if self.env else None)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("mltrackd exited %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                if self.call("GET", "/readyz").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("mltrackd did not start:\n" + self.log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            rc = self.proc.wait(30)
        else:
            rc = self.proc.returncode if self.proc else 0
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None
        log = self.log()
        for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
            if bad in log:
                raise AssertionError("mltrackd reported %s:\n%s" % (bad, log[-4000:]))
        if rc != 0:
            raise AssertionError("mltrackd exited %s:\n%s" % (rc, log[-4000:]))
        try:
            if not self.shared:
                self._admin_sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.dbname)
        finally:
            if os.environ.get("KEEP") is None:
                shutil.rmtree(self.dir, ignore_errors=True)

    def peer(self, args=(), env=None):
        """A second mltrackd on this server's database, as when several
        serve one database; stop it before this one."""
        return AuthServer("peer", args, database=self.dbname, env=env)

    def metric(self, name, **kw):
        """The value of one /metrics line (its name with labels), as a float."""
        text = self.call("GET", "/metrics", **kw).body
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        raise AssertionError("no metric %s in:\n%s" % (name, text))

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # ---- the operator's commands (on the database, as `mltrackd user|token`) ----
    # A change made on the database, not through this server (`mltrackd
    # user|token`, psql), reaches the server's auth cache by NOTIFY when it
    # commits (docs/security.md "Changes reach every server"): well under a
    # millisecond on an idle machine, more on a loaded one.  cmd() and sql()
    # give it this long before the test's next request, as a client of
    # another server would see it.
    ANNOUNCE_WAIT = 0.25

    def cmd(self, *args, stdin=None):
        """Run `mltrackd ARGS --database-url ...`; returns CompletedProcess."""
        p = subprocess.run([self.mltrackd] + list(args) + ["--database-url", self.conninfo],
                           input=stdin, capture_output=True, text=True, timeout=60)
        if "list" not in args[:2]:
            time.sleep(self.ANNOUNCE_WAIT)
        return p

    def add_user(self, name, password, admin=False, command=False):
        """A user with a cheap hash written into the database as `mltrackd
        user add` writes one (an admin when there is none; the server hears
        of it by NOTIFY); with command=True, by that command itself, hashing
        at the real count."""
        if command:
            p = self.cmd("user", "add", name, "--password-stdin",
                         *(["--admin"] if admin else []), stdin=password + "\n")
            if p.returncode != 0:
                raise AssertionError("user add %s: %s" % (name, p.stderr))
        else:
            # As the command does: an admin when the server has none.
            now = int(time.time() * 1000)
            self.sql("INSERT INTO users (username, password_hash, is_admin, created_at, "
                     "updated_at) SELECT %s, %s, %s OR NOT EXISTS "
                     "(SELECT 1 FROM users WHERE is_admin), %d, %d" % (
                         sql_str(name), sql_str(password_hash(password)),
                         "true" if admin else "false", now, now))
        self.wait_auth_on()

    def create_token(self, user, name, *extra):
        p = self.cmd("token", "create", "--user", user, "--name", name, *extra)
        if p.returncode != 0:
            raise AssertionError("token create: %s" % p.stderr)
        return p.stdout.strip()

    def wait_auth_on(self):
        """A server learns of a user another process added within a second."""
        deadline = time.time() + 5
        while time.time() < deadline:
            if self.call("GET", "/api/2.0/mltrack/auth/whoami").status == 401:
                return
            time.sleep(0.05)
        raise AssertionError("authentication did not turn on")

    def sql(self, sql):
        out = self._psql(self.conninfo, sql)
        if not sql.lstrip().upper().startswith("SELECT"):
            time.sleep(self.ANNOUNCE_WAIT)
        return out

    def _admin_sql(self, sql):
        return self._psql(self.admin_conn, sql)

    @staticmethod
    def _psql(conn, sql):
        p = subprocess.run([os.environ.get("MLTRACK_TEST_PSQL", "psql"), "-X", "-q", "-A", "-t",
                            "-v", "ON_ERROR_STOP=1", "-d", conn, "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("psql: %s" % p.stderr.strip())
        return p.stdout.strip()

    # ---- HTTP ----
    def call(self, method, path, body=None, query=None, auth=None, token=None, headers=None,
             raw=None):
        """One request; auth=(user, password) sends Basic, token= sends Bearer.
        Returns mtapi.Resp (status, headers, parsed JSON or text)."""
        url = path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        hdrs = {"Host": "127.0.0.1:%d" % self.port, "Accept": "application/json"}
        data = None
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode()
        elif body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if auth:
            hdrs["Authorization"] = basic(*auth)
        if token:
            hdrs["Authorization"] = "Bearer " + token
        for k, v in (headers or {}).items():
            if v is None:
                hdrs.pop(k, None)
            else:
                hdrs[k] = v
        if data is not None or method in ("POST", "PUT", "PATCH"):
            hdrs["Content-Length"] = str(len(data or b""))
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request(method, url, body=data, headers=hdrs)
            r = c.getresponse()
            payload = r.read()
            status, rh = r.status, r.headers
        finally:
            c.close()
        text = payload.decode("utf-8", "replace")
        parsed = text
        if text.strip():
            try:
                parsed = mtapi.parse_json(text)
            except ValueError:
                pass
        return mtapi.Resp(status, rh, parsed)
