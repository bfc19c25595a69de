"""Authentication (issue 13, items 1, 2 and 4), against a server of its own
(authsrv.AuthServer: a fresh database, users written with a cheap password
hash; `mltrackd user add` and `user passwd` tested as commands).

  * while no user exists nothing is asked; the first user (added by another
    process, on the database) turns authentication on for every request;
  * Basic user:password, Basic user:token and Bearer token, as MLflow's
    client sends them from MLFLOW_TRACKING_USERNAME/_PASSWORD and
    MLFLOW_TRACKING_TOKEN; 401 UNAUTHENTICATED otherwise, with a challenge
    a browser does not turn into its own login dialog;
  * tokens: created by a password login only, shown once, listed without
    their secret, revoked and expired ones refused, one user's token useless
    under another's name;
  * `mltrackd user add|list|passwd|del` and `token create|list|revoke`;
  * failed logins: 429 with Retry-After past the limit, also for the right
    password, per user and address;
  * the audit trail names the user, and the token;
  * nothing is written by a refused request; no secret reaches the log;
  * a non-loopback address with no user is refused at start unless
    --insecure-no-auth.
"""

import os
import subprocess
import time
import unittest

import authsrv
import mtapi
from authsrv import AuthServer, basic

API = "/api/2.0/mlflow/"
EXT = "/api/2.0/mltrack/"
ADMIN = ("admin", "admin-pass-1")
ALICE = ("alice", "alice-pass-1")
BOB = ("bob", "bob-pass-12")


class AuthTest(unittest.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = AuthServer("auth").start()
        # Off until a user exists: the one-person server of `make run`.
        r = cls.srv.call("GET", EXT + "auth/whoami")
        assert r.status == 200 and r.body == {"auth_enabled": False, "method": "none"}, r
        assert cls.srv.call("POST", API + "experiments/create",
                            body={"name": "before-users"}).status == 200
        # With a cheap hash (authsrv.add_user), like the others: the real
        # KDF of an admin re-verified after each user change took 17 s
        # under ASan on a loaded machine, longer than a POST's body
        # deadline (408).  The real count stays tested: `user passwd` and a
        # login with its password here (test_passwd), `mltrackd user add`
        # and logins in t0170-tls.sh, t0180-secret-scan.sh and the e2e tests.
        cls.srv.add_user(*ADMIN, admin=True)
        cls.srv.add_user(*ALICE)
        cls.srv.add_user(*BOB)

    @classmethod
    def tearDownClass(cls):
        log = cls.srv.log()
        cls.srv.stop()
        # No password or token value ever reaches the log.
        for secret in (ADMIN[1], ALICE[1], BOB[1], "new-alice-pass", "wrong-pass-1") + \
                tuple(AuthTest.secrets):
            assert secret not in log, "secret %r in the server log" % secret

    secrets = []

    def call(self, *a, **kw):
        return self.srv.call(*a, **kw)

    def token(self, who, name, **kw):
        r = self.call("POST", EXT + "auth/tokens/create", body=dict(name=name, **kw), auth=who)
        self.assertEqual(r.status, 200, r)
        AuthTest.secrets.append(r.body["secret"])
        return r.body

    def assertUnauth(self, r, contains=None):
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.body["error_code"], "UNAUTHENTICATED")
        if contains:
            self.assertIn(contains, r.body["message"])

    # ---- the first user turns it on ----
    def test_every_route_needs_credentials(self):
        r = self.call("GET", API + "experiments/search", query={"max_results": 10})
        self.assertUnauth(r, "authentication required")
        self.assertEqual(r.headers["WWW-Authenticate"], 'Basic realm="mltrack", charset="UTF-8"')
        # A browser's fetch gets a challenge it shows no dialog for.
        r = self.call("GET", API + "experiments/search", headers={"Sec-Fetch-Mode": "cors"})
        self.assertUnauth(r)
        self.assertEqual(r.headers["WWW-Authenticate"], 'Bearer realm="mltrack"')
        # The ajax mirror, mltrack's extensions, artifacts and /metrics too.
        for m, p in (("GET", "/ajax-api/2.0/mlflow/experiments/search"),
                     ("GET", EXT + "experiments/summary"),
                     ("GET", "/api/2.0/mlflow-artifacts/artifacts"),
                     ("GET", "/metrics"),
                     ("GET", "/get-artifact")):
            r = self.call(m, p)
            self.assertEqual(r.status, 401, (p, r))
        # Probes and the dashboard's files answer anyone.
        for p in ("/healthz", "/readyz", "/health", "/version", "/", "/static/app.js"):
            r = self.call("GET", p)
            self.assertIn(r.status, (200, 404), p)
            self.assertNotEqual(r.status, 401, p)

    def test_refused_write_writes_nothing(self):
        name = mtapi.uniq("unauth")
        self.assertUnauth(self.call("POST", API + "experiments/create", body={"name": name}))
        self.assertUnauth(self.call("POST", API + "experiments/create", body={"name": name},
                                    auth=("alice", "wrong-pass-1")))
        r = self.call("GET", API + "experiments/get-by-name", query={"experiment_name": name},
                      auth=ADMIN)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(self.srv.sql("SELECT count(*) FROM experiments WHERE name = '%s'" % name),
                         "0")

    # ---- passwords ----
    def test_basic_password(self):
        r = self.call("GET", EXT + "auth/whoami", auth=ALICE)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, {"auth_enabled": True, "method": "password",
                                  "user": {"username": "alice", "is_admin": False}})
        r = self.call("POST", API + "experiments/create", body={"name": mtapi.uniq("alice")},
                      auth=ALICE)
        self.assertEqual(r.status, 200, r)
        # The same message for a wrong password and an unknown user.
        a = self.call("GET", EXT + "auth/whoami", auth=("bob", "wrong-pass-1"))
        b = self.call("GET", EXT + "auth/whoami", auth=("nobody", "wrong-pass-1"))
        self.assertUnauth(a, "invalid username or password")
        self.assertEqual(a.body, b.body)

    def test_malformed_headers(self):
        for h in ("Basic", "Basic !!!", "Basic YWxpY2U=", "Bearer", "Bearer a b", "Digest x=1",
                  "Basic " + "A" * 5000):
            r = self.call("GET", EXT + "auth/whoami", headers={"Authorization": h})
            self.assertUnauth(r, "malformed Authorization header")
        self.assertUnauth(self.call("GET", EXT + "auth/whoami", token="not-a-token"),
                          "not an mltrack token")

    # ---- tokens ----
    def test_tokens(self):
        t = self.token(ALICE, "laptop", expires_in_days=30)
        secret = t["secret"]
        self.assertRegex(secret, r"^mlt_[A-Za-z0-9_-]{43}$")
        self.assertEqual(t["token"]["name"], "laptop")
        self.assertEqual(t["token"]["username"], "alice")
        self.assertEqual(t["token"]["prefix"], secret[:12])
        self.assertGreater(t["token"]["expires_at"], mtapi.now_ms() + 29 * 86400000)
        # Bearer (MLFLOW_TRACKING_TOKEN), and Basic user:token.
        for kw in ({"token": secret}, {"auth": ("alice", secret)}):
            r = self.call("GET", EXT + "auth/whoami", **kw)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body["method"], "token")
            self.assertEqual(r.body["token"], {"id": t["token"]["id"], "name": "laptop"})
        # Under another user's name it is nothing.
        self.assertUnauth(self.call("GET", EXT + "auth/whoami", auth=("bob", secret)))
        # A token cannot mint tokens.
        r = self.call("POST", EXT + "auth/tokens/create", body={"name": "more"}, token=secret)
        self.assertEqual(r.status, 403, r)
        # Listed without the secret; only the owner's.
        r = self.call("GET", EXT + "auth/tokens/list", auth=ALICE)
        self.assertEqual(r.status, 200, r)
        self.assertIn("laptop", [x["name"] for x in r.body["tokens"]])
        self.assertNotIn(secret, str(r.body))
        r = self.call("GET", EXT + "auth/tokens/list", auth=BOB)
        self.assertNotIn("laptop", [x["name"] for x in r.body.get("tokens", [])])
        self.assertEqual(self.call("GET", EXT + "auth/tokens/list", auth=BOB,
                                   query={"username": "alice"}).status, 403)
        # Only the hash is stored.
        self.assertEqual(self.srv.sql("SELECT count(*) FROM api_tokens WHERE token_hash = '%s' "
                                      "OR prefix = '%s'" % (secret, secret)), "0")
        # A live name is unique per user.
        r = self.call("POST", EXT + "auth/tokens/create", body={"name": "laptop"}, auth=ALICE)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.body["error_code"], "RESOURCE_ALREADY_EXISTS")
        # Bob cannot revoke it; its own token can (logout).
        r = self.call("POST", EXT + "auth/tokens/revoke", body={"id": t["token"]["id"]}, auth=BOB)
        self.assertEqual(r.status, 404, r)
        r = self.call("POST", EXT + "auth/tokens/revoke", body={"id": t["token"]["id"]},
                      token=secret)
        self.assertEqual(r.status, 200, r)
        self.assertUnauth(self.call("GET", EXT + "auth/whoami", token=secret), "was revoked")

    def test_token_expiry(self):
        t = self.token(BOB, "short")
        self.assertEqual(self.call("GET", EXT + "auth/whoami", token=t["secret"]).status, 200)
        self.srv.sql("UPDATE api_tokens SET expires_at = %d WHERE id = %s"
                     % (mtapi.now_ms() - 1, t["token"]["id"]))
        self.assertUnauth(self.call("GET", EXT + "auth/whoami", token=t["secret"]), "has expired")

    def test_bad_token_requests(self):
        for body in ({}, {"name": ""}, {"name": "x" * 101}, {"name": "t", "expires_in_days": 0},
                     {"name": "t", "expires_in_days": 99999}):
            r = self.call("POST", EXT + "auth/tokens/create", body=body, auth=BOB)
            self.assertEqual(r.status, 400, (body, r))
        r = self.call("POST", EXT + "auth/tokens/revoke", body={"id": "x"}, auth=BOB)
        self.assertEqual(r.status, 400, r)

    # ---- the operator's commands ----
    def test_token_commands(self):
        secret = self.srv.create_token("bob", "ci-job", "--expires", "7")
        AuthTest.secrets.append(secret)
        r = self.call("GET", EXT + "auth/whoami", token=secret)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["user"]["username"], "bob")
        p = self.srv.cmd("token", "list", "--user", "bob")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("ci-job", p.stdout)
        self.assertIn(secret[:12], p.stdout)
        self.assertNotIn(secret, p.stdout)
        self.assertIn("(all of the user's rights)", p.stdout)
        scoped = self.srv.create_token("bob", "reader", "--scope", "read:*")
        AuthTest.secrets.append(scoped)
        p = self.srv.cmd("token", "list", "--user", "bob")
        line = [l for l in p.stdout.splitlines() if " reader " in l]
        self.assertEqual(len(line), 1, p.stdout)
        self.assertIn("read:*", line[0])
        p = self.srv.cmd("token", "revoke", "--user", "bob", "--name", "ci-job")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertUnauth(self.call("GET", EXT + "auth/whoami", token=secret))
        p = self.srv.cmd("token", "revoke", "--user", "bob", "--name", "ci-job")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no live token", p.stderr)
        for bad in (("token", "create", "--user", "nobody", "--name", "x"),
                    ("token", "create", "--user", "bob"),
                    ("token", "create", "--user", "bob", "--name", "x", "--expires", "0"),
                    ("user", "frob"), ("user", "add", "bad name", "--password-stdin")):
            p = self.srv.cmd(*bad, stdin="long-enough-1\n")
            self.assertNotEqual(p.returncode, 0, bad)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, (bad, p.stderr))

    def test_user_commands(self):
        p = self.srv.cmd("user", "list")
        self.assertEqual(p.returncode, 0, p.stderr)
        for name in ("admin", "alice", "bob"):
            self.assertIn(name, p.stdout)
        self.assertNotIn("pbkdf2", p.stdout)
        # Short password, and no terminal to ask on.
        p = self.srv.cmd("user", "add", "carol", "--password-stdin", stdin="short\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("at least 8", p.stderr)
        p = subprocess.run([self.srv.mltrackd, "user", "add", "carol", "--database-url",
                            self.srv.conninfo], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--password-stdin", p.stderr)
        # Duplicate.
        p = self.srv.cmd("user", "add", "alice", "--password-stdin", stdin="another-pass-1\n")
        self.assertEqual(p.returncode, 1)
        self.assertIn("already exists", p.stderr)
        # The last admin stays.
        p = self.srv.cmd("user", "del", "admin")
        self.assertEqual(p.returncode, 1)
        self.assertIn("last admin", p.stderr)
        # Deleting a user ends their tokens and their password.
        self.srv.add_user("dave", "dave-pass-1")
        t = self.token(("dave", "dave-pass-1"), "d")
        p = self.srv.cmd("user", "del", "dave")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertUnauth(self.call("GET", EXT + "auth/whoami", token=t["secret"]))
        self.assertUnauth(self.call("GET", EXT + "auth/whoami", auth=("dave", "dave-pass-1")))

    def test_passwd(self):
        self.srv.add_user("erin", "erin-pass-1")
        self.assertEqual(self.call("GET", EXT + "auth/whoami", auth=("erin", "erin-pass-1")).status,
                         200)
        p = self.srv.cmd("user", "passwd", "erin", "--password-stdin", stdin="new-alice-pass\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        # The old password stops at once, although this server verified it before.
        self.assertUnauth(self.call("GET", EXT + "auth/whoami", auth=("erin", "erin-pass-1")))
        self.assertEqual(self.call("GET", EXT + "auth/whoami",
                                   auth=("erin", "new-alice-pass")).status, 200)

    # ---- failed logins ----
    def test_rate_limit(self):
        self.srv.add_user("frank", "frank-pass-1")
        for i in range(10):
            self.assertUnauth(self.call("GET", EXT + "auth/whoami", auth=("frank", "wrong-pass-1")))
        r = self.call("GET", EXT + "auth/whoami", auth=("frank", "wrong-pass-1"))
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.body["error_code"], "RESOURCE_EXHAUSTED")
        self.assertGreater(int(r.headers["Retry-After"]), 0)
        self.assertLessEqual(int(r.headers["Retry-After"]), 900)
        # The right password too: a guesser must not tell a hit from a miss.
        self.assertEqual(self.call("GET", EXT + "auth/whoami",
                                   auth=("frank", "frank-pass-1")).status, 429)
        # Other users from the same address are not locked out, nor tokens.
        self.assertEqual(self.call("GET", EXT + "auth/whoami", auth=BOB).status, 200)
        self.assertIn("login refused for user 'frank'", self.srv.log())
        # The window ends: frank is back.
        self.srv.sql("UPDATE auth_failures SET window_start = window_start - 3600000")
        self.assertEqual(self.call("GET", EXT + "auth/whoami",
                                   auth=("frank", "frank-pass-1")).status, 200)

    # ---- the audit trail names who ----
    def test_audit_actor(self):
        name = mtapi.uniq("audited")
        t = self.token(ADMIN, "deployer")
        self.assertEqual(self.call("POST", API + "registered-models/create", body={"name": name},
                                   auth=ADMIN).status, 200)
        for v in (1, 2):
            r = self.call("POST", API + "model-versions/create",
                          body={"name": name, "source": "s3://b/m%d" % v}, auth=ADMIN)
            self.assertEqual(r.status, 200, r)
        r = self.call("POST", API + "model-versions/transition-stage",
                      body={"name": name, "version": "1", "stage": "Staging",
                            "archive_existing_versions": False}, auth=ADMIN)
        self.assertEqual(r.status, 200, r)
        r = self.call("POST", API + "model-versions/transition-stage",
                      body={"name": name, "version": "2", "stage": "Staging",
                            "archive_existing_versions": False}, token=t["secret"])
        self.assertEqual(r.status, 200, r)
        r = self.call("GET", EXT + "registered-models/history", query={"name": name}, auth=ADMIN)
        self.assertEqual(r.status, 200, r)
        actors = [e.get("actor") for e in r.body.get("events", [])]
        self.assertEqual(actors, ["admin", "admin (token deployer)"], r.body)
        self.assertNotIn("anonymous", str(r.body))

    # ---- MLflow's client, as it sends credentials ----
    def test_mlflow_client_shapes(self):
        h = {"User-Agent": "mlflow-python-client/2.9.2"}
        r = self.call("POST", API + "experiments/create", body={"name": mtapi.uniq("mlf")},
                      headers=dict(h, Authorization=basic(*ALICE)))
        self.assertEqual(r.status, 200, r)
        exp = r.body["experiment_id"]
        t = self.token(ALICE, "mlflow-token")
        r = self.call("POST", API + "runs/create", body={"experiment_id": exp},
                      headers=dict(h, Authorization="Bearer " + t["secret"]))
        self.assertEqual(r.status, 200, r)


class ProxyTest(unittest.TestCase):
    """--trusted-proxy and --proxy-user-header: behind a reverse proxy that
    authenticates (SSO), its header names the user; from anywhere else the
    header is nothing.  X-Forwarded-For from the proxy names the client for
    the login rate limit."""

    def test_proxy_user_header(self):
        srv = AuthServer("proxy", args=["--trusted-proxy", "127.0.0.1",
                                        "--proxy-user-header", "X-Forwarded-User"]).start()
        try:
            srv.add_user("root", "root-pass-1", admin=True)
            srv.add_user("gina", "gina-pass-1")
            r = srv.call("GET", EXT + "auth/whoami", headers={"X-Forwarded-User": "gina"})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body["method"], "proxy")
            self.assertEqual(r.body["user"]["username"], "gina")
            r = srv.call("GET", EXT + "auth/whoami", headers={"X-Forwarded-User": "nobody"})
            self.assertEqual(r.status, 401, r)
            # Without the header: the usual ways in.
            self.assertEqual(srv.call("GET", EXT + "auth/whoami").status, 401)
            self.assertEqual(srv.call("GET", EXT + "auth/whoami",
                                      auth=("gina", "gina-pass-1")).status, 200)
            # The rate limit counts the client the proxy names.
            for i in range(10):
                srv.call("GET", EXT + "auth/whoami", auth=("gina", "wrong-pass-1"),
                         headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.1"})
            r = srv.call("GET", EXT + "auth/whoami", auth=("gina", "gina-pass-1"),
                         headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.1"})
            self.assertEqual(r.status, 429, r)
            r = srv.call("GET", EXT + "auth/whoami", auth=("gina", "gina-pass-1"),
                         headers={"X-Forwarded-For": "198.51.100.2"})
            self.assertEqual(r.status, 200, r)
            self.assertIn("from 198.51.100.1", srv.log())
        finally:
            srv.stop()

    def test_untrusted_address(self):
        srv = AuthServer("proxy2", args=["--trusted-proxy", "192.0.2.1",
                                         "--proxy-user-header", "X-Forwarded-User"]).start()
        try:
            srv.add_user("root", "root-pass-1", admin=True)
            r = srv.call("GET", EXT + "auth/whoami", headers={"X-Forwarded-User": "root"})
            self.assertEqual(r.status, 401, r)
        finally:
            srv.stop()

    def test_range(self):
        # A range trusts every address in it (127.0.0.0/8 holds the test's
        # 127.0.0.1) and none outside it (192.0.2.0/25 and a /31 that stops
        # one bit short of 127.0.0.1).
        for rng, trusted in (("127.0.0.0/8", True), ("127.0.0.0/31", True),
                             ("127.0.0.0/32", False), ("127.0.0.2/31", False),
                             ("192.0.2.0/25", False), ("::1/128", False)):
            srv = AuthServer("proxyr", args=["--trusted-proxy", rng,
                                             "--proxy-user-header", "X-Forwarded-User"]).start()
            try:
                srv.add_user("root", "root-pass-1", admin=True)
                r = srv.call("GET", EXT + "auth/whoami", headers={"X-Forwarded-User": "root"})
                self.assertEqual(r.status, 200 if trusted else 401, (rng, r))
            finally:
                srv.stop()

    def test_usage_errors(self):
        srv = AuthServer("proxy3")
        for args, why in ((["--proxy-user-header", "X-Forwarded-User"], "needs --trusted-proxy"),
                          (["--trusted-proxy", "proxy.example"], "not an IP address"),
                          (["--trusted-proxy", "10.0.0.0/33"], "prefix length must be 1 to 32"),
                          (["--trusted-proxy", "10.0.0.0/"], "prefix length must be 1 to 32"),
                          (["--trusted-proxy", "fd00::/129"], "prefix length must be 1 to 128"),
                          (["--trusted-proxy", "127.0.0.1", "--proxy-user-header",
                            "Authorization"], "cannot be Authorization")):
            p = subprocess.run([srv.mltrackd, "--database-url", srv.conninfo] + args,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn(why, p.stderr)


class StartupTest(unittest.TestCase):
    """A non-loopback address with no user defined is refused at start."""

    def test_wildcard_without_users(self):
        srv = AuthServer("startup")
        try:
            srv._admin_sql("CREATE DATABASE %s" % srv.dbname)
            p = subprocess.run([srv.mltrackd, "--database-url", srv.conninfo, "--host", "0.0.0.0",
                                "--port", str(authsrv._free_port()), "--data-dir", "/tmp/mt-never"],
                               capture_output=True, text=True, timeout=60)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("refusing to listen on 0.0.0.0 with no user defined", p.stderr)
            self.assertIn("--insecure-no-auth", p.stderr)
        finally:
            srv._admin_sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % srv.dbname)
        # Given explicitly, it serves (and warns).
        srv = AuthServer("startup", args=["--host", "0.0.0.0", "--insecure-no-auth"]).start()
        try:
            self.assertEqual(srv.call("GET", EXT + "auth/whoami").body["auth_enabled"], False)
            self.assertIn("WARNING: no user is defined", srv.log())
        finally:
            srv.stop()

    def test_wildcard_with_users(self):
        srv = AuthServer("startup2").start()
        srv.add_user("root", "root-pass-1")
        srv.proc.terminate()
        srv.proc.wait(30)
        srv.proc = subprocess.Popen([srv.mltrackd, "--database-url", srv.conninfo, "--host",
                                     "0.0.0.0", "--port", str(srv.port), "--data-dir",
                                     os.path.join(srv.dir, "data")],
                                    stdout=srv._log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    if srv.call("GET", "/readyz").status == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            self.assertEqual(srv.call("GET", EXT + "auth/whoami").status, 401)
            self.assertIn("every request must authenticate", srv.log())
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
