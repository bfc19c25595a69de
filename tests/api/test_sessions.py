"""Dashboard sessions (issue 13, item 2): POST/DELETE mltrack/auth/session.

The harness's server has no user (authentication off), so this suite runs
its own mltrackd on a database of its own (authsrv.AuthServer), with users
written with a cheap password hash (authsrv.add_user; a password change is
made by `mltrackd user passwd --password-stdin`), and a second one with a
2-second idle timeout on the same database for the idle expiry (and to show
that servers share sessions).

Checked: the cookie's attributes (HttpOnly, SameSite=Strict, Path=/, Secure
only over TLS or behind a proxy that says https), the CSRF token required for
every change made with a session and for none made with Authorization, logout,
expiry by lifetime and by idle time (the row deleted, the cookie cleared),
last_seen written at most once a minute, the login's rate limit (429 with
Retry-After), the login refused from another origin, a password change and a
user's deletion ending their sessions, malformed cookies, and that no session
id, CSRF token or password reaches the server's log.
"""

import base64
import hashlib
import re
import subprocess
import time
import unittest
import uuid

import authsrv
import mtapi

MLF = "/api/2.0/mlflow/"
EXT = "/api/2.0/mltrack/"
SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


class SameDatabase(authsrv.AuthServer):
    """A second mltrackd on the database of `first` (which creates and drops
    it): a login on one is a session on the other."""

    def __init__(self, first, name, args=()):
        super().__init__(name, args)
        self.dbname, self.conninfo = first.dbname, first.conninfo

    def _admin_sql(self, sql):
        if sql.startswith(("CREATE DATABASE", "DROP DATABASE")):
            return ""
        return super()._admin_sql(sql)


def parse_set_cookie(value):
    """'name=v; A; B=c' -> (name, v, {'a': True, 'b': 'c'})"""
    parts = [p.strip() for p in value.split(";")]
    name, _, val = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        k, eq, v = p.partition("=")
        attrs[k.lower()] = v if eq else True
    return name, val, attrs


class SessionTest(unittest.TestCase):
    secrets = set()   # passwords, session ids, CSRF tokens and API tokens handed out
    passwords = {}
    srv = idle_srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = authsrv.AuthServer("sessions")
        cls.srv.start()
        for user in ("alice", "bob", "carol", "dave", "erin"):
            cls.add_user(user)

    @classmethod
    def tearDownClass(cls):
        # Each stop checks a clean exit (under ASan: no leak, no error).
        try:
            if cls.idle_srv:
                cls.idle_srv.stop()
        finally:
            if cls.srv:
                cls.srv.stop()

    @classmethod
    def add_user(cls, user, cmd="add"):
        pw = "pw-" + uuid.uuid4().hex
        if cmd == "add":
            cls.srv.add_user(user, pw)
        else:
            p = cls.srv.cmd("user", cmd, user, "--password-stdin", stdin=pw + "\n")
            if p.returncode != 0:
                raise AssertionError("mltrackd user %s %s: %s" % (cmd, user, p.stderr))
        cls.passwords[user] = pw
        cls.secrets.add(pw)
        return pw

    @classmethod
    def db_q(cls, sql):
        return cls.srv.sql(sql)

    # ---- helpers ----

    def login(self, user, srv=None, headers=None, password=None):
        srv = srv or self.srv
        r = srv.call("POST", EXT + "auth/session",
                     {"username": user, "password": password or self.passwords[user]}, headers=headers)
        self.assertEqual(r.status, 200, r.body)
        cookies = r.headers.get_all("Set-Cookie") or []
        self.assertEqual(len(cookies), 1, cookies)
        name, sid, attrs = parse_set_cookie(cookies[0])
        self.assertEqual(name, "mltrack_session")
        self.secrets.update([sid, r.body["csrf_token"]])
        return sid, r.body["csrf_token"], attrs, r

    @staticmethod
    def jar(sid):
        return {"Cookie": "theme=dark; mltrack_session=%s; other=1" % sid}

    def with_session(self, sid, csrf=None):
        h = self.jar(sid)
        if csrf is not None:
            h["X-CSRF-Token"] = csrf
        return h

    def row(self, sid, cols="count(*)"):
        h = hashlib.sha256(sid.encode()).hexdigest()
        return self.db_q("SELECT %s FROM sessions WHERE id_hash = '%s'" % (cols, h))

    def exp_exists(self, name):
        r = self.srv.call("GET", MLF + "experiments/get-by-name?experiment_name=" + name,
                          headers={"Authorization": self.basic("alice")})
        return r.status == 200

    def basic(self, user):
        return "Basic " + base64.b64encode(("%s:%s" % (user, self.passwords[user])).encode()).decode()

    def assert_cleared(self, r):
        cookies = r.headers.get_all("Set-Cookie") or []
        self.assertEqual(len(cookies), 1, cookies)
        name, val, attrs = parse_set_cookie(cookies[0])
        self.assertEqual((name, val, attrs.get("max-age")), ("mltrack_session", "", "0"))

    # ---- the login and the cookie ----

    def test_cookie_attributes(self):
        t0 = mtapi.now_ms()
        sid, csrf, attrs, r = self.login("alice")
        self.assertRegex(sid, SESSION_RE)
        self.assertRegex(csrf, SESSION_RE)
        self.assertNotEqual(sid, csrf)
        self.assertEqual(attrs, {"path": "/", "httponly": True, "samesite": "Strict"},
                         "plain HTTP: no Secure (the browser would never send it back), no "
                         "Domain, no Max-Age or Expires (the browser forgets it when it closes)")
        self.assertEqual(r.body["user"], {"username": "alice", "is_admin": True})
        day = 24 * 3600 * 1000
        self.assertTrue(t0 + day <= r.body["expires_at"] <= mtapi.now_ms() + day, r.body)
        self.assertEqual(r.body["idle_timeout_ms"], 8 * 3600 * 1000)
        # Only the id's hash is stored.
        self.assertEqual(self.row(sid), "1")
        self.assertEqual(self.db_q("SELECT count(*) FROM sessions WHERE id_hash = '%s'" % sid), "0")
        # whoami names the session and gives a reloaded page its token.
        w = self.srv.call("GET", EXT + "auth/whoami", headers=self.jar(sid))
        self.assertEqual(w.status, 200, w.body)
        self.assertEqual((w.body["method"], w.body["user"]["username"], w.body["csrf_token"]),
                         ("session", "alice", csrf))
        # Authenticated otherwise, whoami has no CSRF token to give.
        w = self.srv.call("GET", EXT + "auth/whoami", headers={"Authorization": self.basic("alice")})
        self.assertEqual(w.body["method"], "password")
        self.assertNotIn("csrf_token", w.body)

    def test_secure_behind_tls(self):
        # A TLS-terminating proxy says so; the cookie then travels over TLS only.
        _, _, attrs, _ = self.login("alice", headers={"X-Forwarded-Proto": "https"})
        self.assertIs(attrs.get("secure"), True)
        _, _, attrs, _ = self.login("alice", headers={"X-Forwarded-Proto": "http"})
        self.assertNotIn("secure", attrs)

    def test_login_refusals(self):
        r = self.srv.call("POST", EXT + "auth/session", {"username": "alice", "password": "wrong-password"})
        self.assertEqual((r.status, r.body["error_code"]), (401, "UNAUTHENTICATED"))
        self.assertEqual(r.body["message"], "invalid username or password")
        self.assertIsNone(r.headers.get("Set-Cookie"))
        r = self.srv.call("POST", EXT + "auth/session", {"username": "nobody", "password": "whatever-pw"})
        self.assertEqual(r.status, 401)
        self.assertEqual(r.body["message"], "invalid username or password")
        for body in ({"username": "alice"}, {"password": "x"}, {"username": 1, "password": "x"},
                     {"username": "", "password": "whatever-pw"}):
            r = self.srv.call("POST", EXT + "auth/session", body)
            self.assertEqual(r.status, 400, (body, r.body))
        # A name no user can have, or control bytes: refused before the log
        # or the failure counters see them.
        for user in ("a\nmltrackd: forged line", "x" * 5000, "-alice", "alice bob"):
            r = self.srv.call("POST", EXT + "auth/session", {"username": user, "password": "whatever-pw"})
            self.assertEqual(r.status, 401, r.body)
        r = self.srv.call("POST", EXT + "auth/session", {"username": "alice", "password": "a\x01b\nc"})
        self.assertEqual(r.status, 401)
        r = self.srv.call("POST", EXT + "auth/session", {"username": "alice", "password": "a\x00b"})
        self.assertEqual(r.status, 400, "a NUL in a JSON string")
        self.assertNotIn("forged line", self.srv.log())
        # From a page of another origin (login CSRF): refused, whatever the password.
        for h in ({"Origin": "http://evil.example"},
                  {"Origin": "http://127.0.0.1:%d" % (self.srv.port + 1)},
                  {"Origin": "null"},
                  {"Sec-Fetch-Site": "cross-site"},
                  {"Sec-Fetch-Site": "same-site"}):
            r = self.srv.call("POST", EXT + "auth/session",
                              {"username": "alice", "password": self.passwords["alice"]}, headers=h)
            self.assertEqual(r.status, 403, (h, r.body))
            self.assertIsNone(r.headers.get("Set-Cookie"))
        # The dashboard's own page: same origin.
        self.login("alice", headers={"Origin": "http://127.0.0.1:%d" % self.srv.port,
                                     "Sec-Fetch-Site": "same-origin"})

    def test_login_while_auth_is_off(self):
        # The harness's server has no user: nothing to log in to.
        r = mtapi.call("POST", EXT + "auth/session", body={"username": "alice", "password": "whatever-pw"})
        self.assertEqual((r.status, r.body["error_code"]), (400, "INVALID_PARAMETER_VALUE"), r.body)
        self.assertIn("authentication is off", r.body["message"])

    # ---- CSRF ----

    def test_csrf_required_for_changes(self):
        sid, csrf, _, _ = self.login("alice")
        name = mtapi.uniq("csrf")
        for label, h in (("none", self.with_session(sid)),
                         ("wrong", self.with_session(sid, "A" * 43)),
                         ("empty", self.with_session(sid, "")),
                         ("prefix", self.with_session(sid, csrf[:-1])),
                         ("longer", self.with_session(sid, csrf + "A"))):
            r = self.srv.call("POST", MLF + "experiments/create", {"name": name + label}, headers=h)
            self.assertEqual((r.status, r.body["error_code"]), (403, "PERMISSION_DENIED"), (label, r.body))
            self.assertIn("missing or wrong CSRF token", r.body["message"])
            self.assertFalse(self.exp_exists(name + label), label)
        # PATCH and DELETE too.
        model = mtapi.uniq("csrf-model")
        r = self.srv.call("POST", MLF + "registered-models/create", {"name": model, "description": "orig"},
                          headers=self.with_session(sid, csrf))
        self.assertEqual(r.status, 200, r.body)
        r = self.srv.call("PATCH", MLF + "registered-models/update", {"name": model, "description": "x"},
                          headers=self.with_session(sid))
        self.assertEqual(r.status, 403)
        r = self.srv.call("DELETE", MLF + "registered-models/delete", {"name": model},
                          headers=self.with_session(sid))
        self.assertEqual(r.status, 403)
        r = self.srv.call("GET", MLF + "registered-models/get?name=" + model, headers=self.jar(sid))
        self.assertEqual((r.status, r.body["registered_model"]["description"]), (200, "orig"))
        # Reads need no token; with it, changes go through.
        self.assertEqual(self.srv.call("GET", MLF + "experiments/search?max_results=5",
                                       headers=self.jar(sid)).status, 200)
        r = self.srv.call("POST", MLF + "experiments/create", {"name": name}, headers=self.with_session(sid, csrf))
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(self.exp_exists(name))
        # Another session's token does not fit.
        _, other_csrf, _, _ = self.login("alice")
        r = self.srv.call("POST", MLF + "experiments/create", {"name": name + "-other"},
                          headers=self.with_session(sid, other_csrf))
        self.assertEqual(r.status, 403)

    def test_authorization_needs_no_csrf(self):
        sid, csrf, _, _ = self.login("bob")
        r = self.srv.call("POST", EXT + "auth/tokens/create", {"name": mtapi.uniq("t")},
                          headers=self.with_session(sid, csrf))
        self.assertEqual(r.status, 200, r.body)
        token = r.body["secret"]
        self.secrets.add(token)
        for auth in ("Bearer " + token, self.basic("bob")):
            name = mtapi.uniq("bearer")
            r = self.srv.call("POST", MLF + "experiments/create", {"name": name},
                              headers={"Authorization": auth})
            self.assertEqual(r.status, 200, r.body)
            # Authorization wins over a cookie sent alongside: still no token needed.
            h = self.jar(sid)
            h["Authorization"] = auth
            r = self.srv.call("POST", MLF + "experiments/create", {"name": name + "-both"}, headers=h)
            self.assertEqual(r.status, 200, r.body)

    # ---- logout and expiry ----

    def test_login_again_replaces_the_session(self):
        sid, _, _, _ = self.login("alice")
        sid2, _, _, _ = self.login("alice", headers=self.jar(sid))
        self.assertNotEqual(sid, sid2)
        self.assertEqual((self.row(sid), self.row(sid2)), ("0", "1"))
        self.assertEqual(self.srv.call("GET", EXT + "auth/whoami", headers=self.jar(sid)).status, 401)

    def test_logout(self):
        sid, csrf, _, _ = self.login("alice")
        r = self.srv.call("DELETE", EXT + "auth/session", headers=self.with_session(sid))
        self.assertEqual(r.status, 403, "a logout without the CSRF token")
        self.assertEqual(self.row(sid), "1")
        r = self.srv.call("DELETE", EXT + "auth/session", headers=self.with_session(sid, csrf))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.body, {"logged_out": True})
        self.assert_cleared(r)
        self.assertEqual(self.row(sid), "0")
        r = self.srv.call("GET", EXT + "auth/whoami", headers=self.jar(sid))
        self.assertEqual(r.status, 401)
        self.assert_cleared(r)
        r = self.srv.call("POST", MLF + "experiments/create", {"name": mtapi.uniq("gone")},
                          headers=self.with_session(sid, csrf))
        self.assertEqual(r.status, 401)
        # Authenticated otherwise there is no session to end.
        r = self.srv.call("DELETE", EXT + "auth/session", headers={"Authorization": self.basic("alice")})
        self.assertEqual(r.status, 400, r.body)

    def test_expired_by_lifetime(self):
        sid, csrf, _, _ = self.login("alice")
        self.assertEqual(self.srv.call("GET", EXT + "auth/whoami", headers=self.jar(sid)).status, 200)
        h = hashlib.sha256(sid.encode()).hexdigest()
        self.db_q("UPDATE sessions SET expires_at = %d WHERE id_hash = '%s'" % (mtapi.now_ms() - 1, h))
        r = self.srv.call("GET", MLF + "experiments/search?max_results=1", headers=self.jar(sid))
        self.assertEqual((r.status, r.body["error_code"]), (401, "UNAUTHENTICATED"))
        self.assertIn("expired", r.body["message"])
        self.assert_cleared(r)
        self.assertEqual(self.row(sid), "0", "the expired session's row stays")
        self.assertIn("session of user 'alice' expired (lifetime)", self.srv.log())

    def test_idle_timeout_and_servers_share_sessions(self):
        if not self.idle_srv:
            type(self).idle_srv = SameDatabase(self.srv, "idle", ("--session-idle-timeout", "2s",
                                                                  "--session-lifetime", "1h")).start()
        b = self.idle_srv
        # A login on one server is a session on every server of the database.
        sid, csrf, _, _ = self.login("erin")
        r = b.call("POST", MLF + "experiments/create", {"name": mtapi.uniq("shared")},
                   headers=self.with_session(sid, csrf))
        self.assertEqual(r.status, 200, r.body)
        # Used within the timeout it lives on; last_seen moves (every second
        # with a 2 s timeout).
        sid, csrf, _, r = self.login("erin", srv=b)
        self.assertEqual(r.body["idle_timeout_ms"], 2000)
        seen0 = int(self.row(sid, "last_seen"))
        for _ in range(3):
            time.sleep(1.1)
            self.assertEqual(b.call("GET", EXT + "auth/whoami", headers=self.jar(sid)).status, 200)
        self.assertGreater(int(self.row(sid, "last_seen")), seen0)
        # Unused for longer: ended.
        time.sleep(2.5)
        r = b.call("GET", EXT + "auth/whoami", headers=self.jar(sid))
        self.assertEqual(r.status, 401)
        self.assert_cleared(r)
        self.assertEqual(self.row(sid), "0")
        self.assertIn("session of user 'erin' expired (idle)", b.log())

    def test_last_seen_written_at_most_once_a_minute(self):
        sid, _, _, _ = self.login("alice")
        h = hashlib.sha256(sid.encode()).hexdigest()
        self.db_q("UPDATE sessions SET last_seen = last_seen - 30000 WHERE id_hash = '%s'" % h)
        seen = self.row(sid, "last_seen")
        for _ in range(3):
            self.assertEqual(self.srv.call("GET", EXT + "auth/whoami", headers=self.jar(sid)).status, 200)
        self.assertEqual(self.row(sid, "last_seen"), seen, "written again within a minute")
        self.db_q("UPDATE sessions SET last_seen = last_seen - 40000 WHERE id_hash = '%s'" % h)
        before = int(self.row(sid, "last_seen"))
        self.assertEqual(self.srv.call("GET", EXT + "auth/whoami", headers=self.jar(sid)).status, 200)
        self.assertGreaterEqual(int(self.row(sid, "last_seen")), before + 70000 - 5000)

    # ---- the rate limit ----

    def test_rate_limit(self):
        for i in range(10):
            r = self.srv.call("POST", EXT + "auth/session", {"username": "carol", "password": "wrong-%d-pw" % i})
            self.assertEqual(r.status, 401, (i, r.body))
        for pw in ("wrong-again-pw", self.passwords["carol"]):
            r = self.srv.call("POST", EXT + "auth/session", {"username": "carol", "password": pw})
            self.assertEqual((r.status, r.body["error_code"]), (429, "RESOURCE_EXHAUSTED"), r.body)
            retry = int(r.headers["Retry-After"])
            self.assertTrue(0 < retry <= 15 * 60, retry)
            self.assertIn("try again in %d seconds" % retry, r.body["message"])
            self.assertIsNone(r.headers.get("Set-Cookie"))
        # Basic logins of the same user from the same address share the count.
        r = self.srv.call("GET", EXT + "auth/whoami", headers={"Authorization": self.basic("carol")})
        self.assertEqual(r.status, 429)

    # ---- the ends of a user's sessions ----

    def test_password_change_ends_sessions(self):
        sid, csrf, _, _ = self.login("bob")
        sid2, _, _, _ = self.login("bob")
        r = self.srv.call("POST", EXT + "auth/tokens/create", {"name": mtapi.uniq("keep")},
                          headers=self.with_session(sid, csrf))
        token = r.body["secret"]
        self.secrets.add(token)
        old_pw = self.passwords["bob"]
        self.add_user("bob", cmd="passwd")
        for s in (sid, sid2):
            r = self.srv.call("GET", EXT + "auth/whoami", headers=self.jar(s))
            self.assertEqual(r.status, 401, "a session from before the password change lives on")
            self.assertEqual(self.row(s), "0")
        # API tokens stay (revoked one by one); the old password is refused,
        # the new one logs in.
        r = self.srv.call("GET", EXT + "auth/whoami", headers={"Authorization": "Bearer " + token})
        self.assertEqual(r.status, 200)
        r = self.srv.call("POST", EXT + "auth/session", {"username": "bob", "password": old_pw})
        self.assertEqual(r.status, 401)
        self.login("bob")

    def test_password_change_through_the_api_ends_the_callers_session_too(self):
        # MLflow's users/update-password, from the dashboard's own session:
        # every session of the user ends, this one included (documented).
        sid, csrf, _, _ = self.login("bob")
        other, _, _, _ = self.login("bob")
        pw = "pw-" + uuid.uuid4().hex
        r = self.srv.call("PATCH", MLF + "users/update-password", {"username": "bob", "password": pw},
                          headers=self.with_session(sid))
        self.assertEqual(r.status, 403, "without the CSRF token")
        r = self.srv.call("PATCH", MLF + "users/update-password", {"username": "bob", "password": pw},
                          headers=self.with_session(sid, csrf))
        self.assertEqual(r.status, 200, r.body)
        type(self).passwords["bob"] = pw
        self.secrets.add(pw)
        for s in (sid, other):
            self.assertEqual(self.srv.call("GET", EXT + "auth/whoami", headers=self.jar(s)).status, 401)
            self.assertEqual(self.row(s), "0")
        self.login("bob")

    def test_deleted_user_sessions_go(self):
        sid, _, _, _ = self.login("dave")
        self.assertEqual(self.row(sid), "1")
        p = self.srv.cmd("user", "del", "dave")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.row(sid), "0")
        self.assertEqual(self.srv.call("GET", EXT + "auth/whoami", headers=self.jar(sid)).status, 401)

    # ---- the flags ----

    def test_duration_flags(self):
        for flag in ("--session-idle-timeout", "--session-lifetime"):
            for bad in ("0", "-5m", "1x", "5 m", "366d", "1.5h", "99999999999999999999"):
                p = subprocess.run([self.srv.mltrackd, flag, bad, "--port", "1", "--database-url",
                                    "host=/nonexistent"], capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 2, (flag, bad, p.stderr))
                self.assertIn("invalid %s '%s'" % (flag, bad), p.stderr)
        p = subprocess.run([self.srv.mltrackd, "--help"], capture_output=True, text=True, timeout=30)
        self.assertRegex(p.stdout, r"--session-idle-timeout DURATION\n.*default 8h\) \[MLTRACK_SESSION_IDLE_TIMEOUT\]")
        self.assertRegex(p.stdout, r"--session-lifetime DURATION\n.*default 24h\) \[MLTRACK_SESSION_LIFETIME\]")

    # ---- cookies that are not ours ----

    def test_malformed_cookies(self):
        for value in ("x", "A" * 42 + "!", "A" * 43, "%00" * 15, '"' + "A" * 43 + '"', "B" * 5000):
            r = self.srv.call("GET", EXT + "auth/whoami", headers={"Cookie": "mltrack_session=" + value})
            self.assertEqual(r.status, 401, (value[:20], r.body))
        for header in ("mltrack_session", "mltrack_session=", ";;;", "=; =x", "mltrack_sessionx=" + "A" * 43,
                       "xmltrack_session=" + "A" * 43):
            r = self.srv.call("GET", EXT + "auth/whoami", headers={"Cookie": header})
            self.assertEqual(r.status, 401, (header, r.body))
        # A valid session among other cookies, quoted: found.
        sid, _, _, _ = self.login("alice")
        r = self.srv.call("GET", EXT + "auth/whoami", headers={"Cookie": 'a=b;mltrack_session="%s" ; c=d' % sid})
        self.assertEqual(r.status, 200, r.body)

    # ---- last: nothing secret in the log ----

    def test_zz_no_secret_in_the_log(self):
        self.assertGreaterEqual(len(self.secrets), 6)
        text = self.srv.log() + (self.idle_srv.log() if self.idle_srv else "")
        self.assertIn("session started for user 'alice'", text)
        for s in self.secrets:
            self.assertNotIn(s, text, "a session id, CSRF token or API token is in the log")
            self.assertNotIn(s[:16], text)
        for user, pw in self.passwords.items():
            self.assertNotIn(pw, text, "%s's password is in the log" % user)


if __name__ == "__main__":
    unittest.main()
