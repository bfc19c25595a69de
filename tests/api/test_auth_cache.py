"""The auth cache (server/authcache.c): two mltrackd on one database, as a
team runs them behind a load balancer.

Each server keeps the tokens, users and permissions it looked up, and
LISTENs for the changes the database announces (triggers of
migrations/0009_auth_notify.sql).  What must hold:

  * repeated requests are served from the cache (its hit counters move);
  * a change made through one server holds on that server at once, and on
    the other within a notification's delay; a change made on the
    database (psql, `mltrackd token revoke`) on both;
  * a failed-login lock-out reached on one server holds on the other, also
    for a password the other had verified and cached;
  * when the listening connection is cut, the server looks everything up
    in PostgreSQL, listens again, and misses no change.

"Within a notification's delay" is checked by polling for up to 5 s and
the delay seen is reported in the assertion's message when it fails.
"""

import os
import signal
import time
import unittest

import mtapi
from authsrv import AuthServer

API = "/api/2.0/mlflow/"
EXT = "/api/2.0/mltrack/"
ADMIN = ("admin", "admin-pass-1")
ALICE = ("alice", "alice-pass-1")
ARGS = ("--default-permission", "NO_PERMISSIONS")


def eventually(fn, want, timeout=5.0):
    """Poll fn() until it returns want; returns the seconds it took."""
    t0 = time.time()
    got = fn()
    while got != want and time.time() - t0 < timeout:
        time.sleep(0.01)
        got = fn()
    if got != want:
        raise AssertionError("still %r after %.1f s, want %r" % (got, timeout, want))
    return time.time() - t0


class AuthCacheTest(unittest.TestCase):
    a = b = None

    @classmethod
    def setUpClass(cls):
        cls.a = AuthServer("authcache", ARGS).start()
        cls.b = cls.a.peer(ARGS).start()
        cls.a.add_user(*ADMIN, admin=True)
        cls.a.add_user(*ALICE)
        cls.b.wait_auth_on()

    @classmethod
    def tearDownClass(cls):
        for s in (cls.b, cls.a):
            if s:
                s.stop()

    def status(self, srv, *a, **kw):
        return srv.call(*a, **kw).status

    def whoami(self, srv, **kw):
        return srv.call("GET", EXT + "auth/whoami", **kw).status

    def hits(self, srv, table):
        return srv.metric('mltrack_auth_cache_lookups_total{table="%s",result="hit"}' % table,
                          auth=ADMIN)

    def alice_token(self, name):
        r = self.a.call("POST", EXT + "auth/tokens/create", body={"name": name}, auth=ALICE)
        self.assertEqual(r.status, 200, r)
        return r.body

    def experiment_with_run(self):
        r = self.a.call("POST", API + "experiments/create", body={"name": mtapi.uniq("cache")},
                        auth=ADMIN)
        self.assertEqual(r.status, 200, r)
        exp = r.body["experiment_id"]
        r = self.a.call("POST", API + "runs/create", body={"experiment_id": exp}, auth=ADMIN)
        self.assertEqual(r.status, 200, r)
        return exp, r.body["run"]["info"]["run_id"]

    def log(self, srv, run, secret):
        return self.status(srv, "POST", API + "runs/log-metric",
                           body={"run_id": run, "key": "m", "value": 1.0, "timestamp": 1, "step": 0},
                           token=secret)

    # ---- served from the cache ----
    def test_repeated_requests_hit_the_cache(self):
        self.assertEqual(self.a.metric("mltrack_auth_cache_listening", auth=ADMIN), 1)
        self.assertEqual(self.b.metric("mltrack_auth_cache_listening", auth=ADMIN), 1)
        t = self.alice_token("hits")["secret"]
        exp, run = self.experiment_with_run()
        self.a.call("POST", API + "experiments/permissions/create", auth=ADMIN,
                    body={"experiment_id": exp, "username": "alice", "permission": "EDIT"})
        eventually(lambda: self.log(self.b, run, t), 200)
        before = {k: self.hits(self.b, k) for k in ("token", "run", "permission")}
        for _ in range(10):
            self.assertEqual(self.log(self.b, run, t), 200)
        for k, v in before.items():
            # /metrics itself (the admin's password) adds no token, run or
            # permission lookup; an announcement still on its way (the
            # permission above) may cost one miss.
            self.assertGreaterEqual(self.hits(self.b, k) - v, 8, k)
        # The basic login is cached too (the user by name).  An
        # announcement still on its way (the permission above) may empty
        # the cache once more: a few tries.
        u = self.hits(self.b, "user")
        for _ in range(5):
            self.assertEqual(self.whoami(self.b, auth=ALICE), 200)
        self.assertGreaterEqual(self.hits(self.b, "user") - u, 3)

    # ---- revocation ----
    def test_revoked_through_one_server(self):
        t = self.alice_token("revoke-api")
        for s in (self.a, self.b, self.a, self.b):
            self.assertEqual(self.whoami(s, token=t["secret"]), 200)
        r = self.a.call("POST", EXT + "auth/tokens/revoke", body={"id": t["token"]["id"]},
                        auth=ALICE)
        self.assertEqual(r.status, 200, r)
        # At once on the server that revoked it...
        self.assertEqual(self.whoami(self.a, token=t["secret"]), 401)
        # ...and on the other as soon as the notification arrives.
        eventually(lambda: self.whoami(self.b, token=t["secret"]), 401)

    def test_revoked_on_the_database(self):
        t = self.alice_token("revoke-psql")
        for s in (self.a, self.b):
            self.assertEqual(self.whoami(s, token=t["secret"]), 200)
        self.a.sql("UPDATE api_tokens SET revoked_at = %d WHERE id = %s"
                   % (mtapi.now_ms(), t["token"]["id"]))
        for s in (self.a, self.b):
            eventually(lambda: self.whoami(s, token=t["secret"]), 401)
        # The operator's command too.
        secret = self.a.create_token("alice", "revoke-cmd")
        for s in (self.a, self.b):
            self.assertEqual(self.whoami(s, token=secret), 200)
        p = self.a.cmd("token", "revoke", "--user", "alice", "--name", "revoke-cmd")
        self.assertEqual(p.returncode, 0, p.stderr)
        for s in (self.a, self.b):
            eventually(lambda: self.whoami(s, token=secret), 401)

    def test_a_token_s_last_use_does_not_empty_the_caches(self):
        # last_used_at is written at most once a minute and is not
        # announced: touching it must not drop every cache.
        t = self.alice_token("touch")["secret"]
        self.assertEqual(self.whoami(self.a, token=t), 200)
        n = self.a.metric("mltrack_auth_cache_notifications_total", auth=ADMIN)
        self.a.sql("UPDATE api_tokens SET last_used_at = 1 WHERE name = 'touch'")
        self.assertEqual(self.whoami(self.a, token=t), 200)
        time.sleep(0.2)
        self.assertEqual(self.a.metric("mltrack_auth_cache_notifications_total", auth=ADMIN), n)

    # ---- users and passwords ----
    def test_password_change_and_deletion(self):
        self.a.add_user("carol", "carol-pass-1")
        for s in (self.a, self.b, self.a, self.b):
            self.assertEqual(self.whoami(s, auth=("carol", "carol-pass-1")), 200)
        r = self.a.call("PATCH", API + "users/update-password", auth=ADMIN,
                        body={"username": "carol", "password": "carol-pass-2"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.whoami(self.a, auth=("carol", "carol-pass-1")), 401)
        eventually(lambda: self.whoami(self.b, auth=("carol", "carol-pass-1")), 401)
        self.assertEqual(self.whoami(self.b, auth=("carol", "carol-pass-2")), 200)
        p = self.a.cmd("user", "del", "carol")
        self.assertEqual(p.returncode, 0, p.stderr)
        for s in (self.a, self.b):
            eventually(lambda: self.whoami(s, auth=("carol", "carol-pass-2")), 401)

    def test_admin_flag(self):
        self.a.add_user("dan", "dan-pass-12")
        for s in (self.a, self.b):
            self.assertEqual(self.status(s, "GET", API + "users/get",
                                         query={"username": "alice"},
                                         auth=("dan", "dan-pass-12")), 403)
        r = self.a.call("PATCH", API + "users/update-admin", auth=ADMIN,
                        body={"username": "dan", "is_admin": True})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.status(self.a, "GET", API + "users/get",
                                     query={"username": "alice"}, auth=("dan", "dan-pass-12")),
                         200)
        eventually(lambda: self.status(self.b, "GET", API + "users/get",
                                       query={"username": "alice"},
                                       auth=("dan", "dan-pass-12")), 200)

    def test_lockout_reached_on_one_server_holds_on_the_other(self):
        self.a.add_user("erin", "erin-pass-12")
        # b verified erin's password and keeps it.
        for _ in range(2):
            self.assertEqual(self.whoami(self.b, auth=("erin", "erin-pass-12")), 200)
        for _ in range(10):
            self.assertEqual(self.whoami(self.a, auth=("erin", "wrong-pass-1")), 401)
        self.assertEqual(self.whoami(self.a, auth=("erin", "erin-pass-12")), 429)
        # The same address (loopback): b refuses the right password too.
        eventually(lambda: self.whoami(self.b, auth=("erin", "erin-pass-12")), 429)
        # The window ends (on the database): both let erin in again.
        self.a.sql("UPDATE auth_failures SET window_start = window_start - 3600000 "
                   "WHERE key LIKE 'ua:erin %'")
        for s in (self.a, self.b):
            eventually(lambda: self.whoami(s, auth=("erin", "erin-pass-12")), 200)

    # ---- permissions ----
    def test_permission_changes(self):
        t = self.alice_token("perm")["secret"]
        exp, run = self.experiment_with_run()
        for s in (self.a, self.b):
            self.assertEqual(self.log(s, run, t), 403)
        r = self.a.call("POST", API + "experiments/permissions/create", auth=ADMIN,
                        body={"experiment_id": exp, "username": "alice", "permission": "EDIT"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.log(self.a, run, t), 200)
        eventually(lambda: self.log(self.b, run, t), 200)
        # Lowered on the database.
        self.a.sql("UPDATE experiment_permissions SET permission = 'READ' "
                   "WHERE experiment_id = %s" % exp)
        for s in (self.a, self.b):
            eventually(lambda: self.log(s, run, t), 403)
            self.assertEqual(self.status(s, "GET", API + "runs/get", query={"run_id": run},
                                         token=t), 200)
        # Removed through the other server.
        r = self.b.call("DELETE", API + "experiments/permissions/delete", auth=ADMIN,
                        body={"experiment_id": exp, "username": "alice"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.status(self.b, "GET", API + "runs/get", query={"run_id": run},
                                     token=t), 403)
        eventually(lambda: self.status(self.a, "GET", API + "runs/get",
                                       query={"run_id": run}, token=t), 403)

    def test_creator_gets_manage_at_once(self):
        # Alice creates an experiment (MANAGE is hers) and logs to it at
        # once on the same server, and on the other.
        t = self.alice_token("creator")["secret"]
        r = self.a.call("POST", API + "experiments/create", body={"name": mtapi.uniq("mine")},
                        token=t)
        self.assertEqual(r.status, 200, r)
        exp = r.body["experiment_id"]
        r = self.a.call("POST", API + "runs/create", body={"experiment_id": exp}, token=t)
        self.assertEqual(r.status, 200, r)
        run = r.body["run"]["info"]["run_id"]
        self.assertEqual(self.log(self.a, run, t), 200)
        eventually(lambda: self.log(self.b, run, t), 200)

    # ---- the listening connection ----
    def test_listener_cut(self):
        t = self.alice_token("cut")
        self.assertEqual(self.whoami(self.b, token=t["secret"]), 200)
        subs = self.b.metric("mltrack_auth_cache_subscriptions_total", auth=ADMIN)
        killed = self.a.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = 'mltrackd-listen' "
                            "AND datname = current_database()")
        self.assertEqual(killed, "2")
        # Revoked while nobody listens: looked up in PostgreSQL meanwhile,
        # and dropped when they listen again.
        self.a.sql("UPDATE api_tokens SET revoked_at = %d WHERE id = %s"
                   % (mtapi.now_ms(), t["token"]["id"]))
        for s in (self.a, self.b):
            eventually(lambda: self.whoami(s, token=t["secret"]), 401)
        eventually(lambda: self.b.metric("mltrack_auth_cache_subscriptions_total",
                                         auth=ADMIN) > subs, True)
        self.assertEqual(self.b.metric("mltrack_auth_cache_listening", auth=ADMIN), 1)
        self.assertEqual(self.whoami(self.b, token=t["secret"]), 401)
        self.assertIn("auth cache off", self.b.log())
        self.assertIn("auth cache on again", self.b.log())

    def test_listener_that_stops_answering(self):
        # A connection that dies without a word (a network cut) is found
        # by the listener's ping: here its PostgreSQL sessions are frozen
        # (SIGSTOP), so announcements stop while the sockets stay open.
        t = self.alice_token("frozen")
        for s in (self.a, self.b):
            self.assertEqual(self.whoami(s, token=t["secret"]), 200)
        pids = [int(p) for p in self.a.sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'mltrackd-listen' "
            "AND datname = current_database()").split()]
        self.assertEqual(len(pids), 2)
        try:
            for p in pids:
                os.kill(p, signal.SIGSTOP)
        except PermissionError:
            raise unittest.SkipTest("cannot signal PostgreSQL's processes")
        try:
            self.a.sql("UPDATE api_tokens SET revoked_at = %d WHERE id = %s"
                       % (mtapi.now_ms(), t["token"]["id"]))
            for s in (self.a, self.b):
                eventually(lambda: self.whoami(s, token=t["secret"]), 401, timeout=15)
                self.assertIn("auth cache off", s.log())
        finally:
            for p in pids:
                os.kill(p, signal.SIGCONT)
        for s in (self.a, self.b):
            eventually(lambda: s.metric("mltrack_auth_cache_listening", auth=ADMIN), 1,
                       timeout=15)


if __name__ == "__main__":
    unittest.main()
