"""mltrack login, logout, whoami and the credentials every command sends,
against an mltrackd of its own with authentication on (tests/api/authsrv.py:
a database of its own, users written with a cheap password hash, tokens made
with `mltrackd token create`).

Each test has its own HOME (so its own ~/.mltrack/credentials) and spool,
and an environment without any MLTRACK_* or MLFLOW_* variable but those it
sets.  Users: alice (admin), bob; carol only for the login rate limit.
"""

import json
import os
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from authsrv import AuthServer  # noqa: E402

CLI = os.environ.get("MLTRACK_CLI", "build/default/mltrack")
DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port
ALICE_PW = "alice-password-1"
BOB_PW = "bob-password-22"
SRV = None


class Server(AuthServer):
    """authsrv's server, with the names these tests use."""

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def token(self, user, name, *extra):
        return self.create_token(user, name, *extra)

    def revoke(self, user, name):
        p = self.cmd("token", "revoke", "--user", user, "--name", name)
        if p.returncode != 0:
            raise AssertionError("token revoke: %s" % p.stderr)


def setUpModule():
    global SRV
    SRV = Server("authcli").start()
    SRV.add_user("alice", ALICE_PW, admin=True)
    SRV.add_user("bob", BOB_PW)
    SRV.add_user("carol", "carol-password-3")


def tearDownModule():
    if SRV:
        SRV.stop()


class AuthCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mltrack-auth-")
        self.home = os.path.join(self.tmp, "home")
        os.mkdir(self.home)
        self.spool = os.path.join(self.tmp, "spool")
        self.creds = os.path.join(self.home, ".mltrack", "credentials")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def env(self, uri=None, **extra):
        e = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRACK_"))}
        e["MLTRACK_TRACKING_URI"] = uri or SRV.url
        e["MLTRACK_SPOOL_DIR"] = self.spool
        e["MLTRACK_HTTP_RETRIES"] = "2"
        e["HOME"] = self.home
        e.update(extra)
        return e

    def mltrack(self, *args, uri=None, check=None, stdin=None, **extra):
        p = subprocess.run([CLI] + list(args), capture_output=True, text=True,
                           env=self.env(uri, **extra), cwd=self.tmp, input=stdin, timeout=120)
        if check is not None and p.returncode != check:
            raise AssertionError("mltrack %s: exit %d, want %d\nstdout: %r\nstderr: %r"
                                 % (" ".join(args), p.returncode, check, p.stdout, p.stderr))
        for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
            self.assertNotIn(bad, p.stderr)
        return p

    def one_line_error(self, p, code, *contains):
        self.assertEqual(p.returncode, code, (p.stdout, p.stderr))
        lines = [l for l in p.stderr.splitlines() if not l.startswith("mltrack: warning:")]
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("mltrack: "), p.stderr)
        for c in contains:
            self.assertIn(c, lines[0])

    def login(self, user="alice", password=ALICE_PW, *args, **kw):
        return self.mltrack("login", "--username", user, "--password-stdin", *args,
                            stdin=password + "\n", **kw)

    def stored(self):
        """The credentials file's sections: {uri: {key: value}}."""
        out, cur = {}, None
        with open(self.creds) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith("["):
                    cur = out.setdefault(line[1:-1], {})
                else:
                    k, v = line.split("=", 1)
                    cur[k.strip()] = v.strip()
        return out

    def whoami(self, **kw):
        p = self.mltrack("whoami", check=0, **kw)
        return dict(l.split(": ", 1) for l in p.stdout.splitlines())


class TestLogin(AuthCase):
    def test_login_stores_a_private_token_and_whoami_uses_it(self):
        p = self.login(check=0)
        self.assertRegex(p.stdout, r"^logged in to %s as alice \(token mltrack-cli@[^)]+\)\n$"
                         % SRV.url)
        self.assertEqual(stat.S_IMODE(os.stat(self.creds).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(self.creds)).st_mode), 0o700)
        entry = self.stored()[SRV.url]
        self.assertTrue(entry["token"].startswith("mlt_"))
        self.assertEqual(entry["username"], "alice")
        # The token is never printed, not even by login.
        self.assertNotIn(entry["token"], p.stdout + p.stderr)
        who = self.whoami()
        self.assertEqual(who["user"], "alice")
        self.assertEqual(who["admin"], "yes")
        self.assertEqual(who["method"], "token")
        self.assertTrue(who["token"].startswith(entry["token_name"] + " (id "))
        self.assertEqual(who["credentials"], self.creds)
        self.assertEqual(who["server"], SRV.url)
        # Every command sends it: a listing works with nothing else set.
        self.mltrack("experiments", "list", check=0)

    def test_wrong_password_stores_nothing(self):
        p = self.login("alice", "not-the-password")
        self.one_line_error(p, 3, "invalid username or password", "UNAUTHENTICATED")
        self.assertFalse(os.path.exists(self.creds))
        self.assertNotIn("not-the-password", p.stderr)

    def test_login_again_replaces_and_revokes_the_old_token(self):
        self.login(check=0)
        first = self.stored()[SRV.url]
        self.login(check=0)
        second = self.stored()[SRV.url]
        self.assertNotEqual(first["token"], second["token"])
        self.assertNotEqual(first["token_name"], second["token_name"])  # -2 while taken
        p = self.mltrack("whoami", MLTRACK_TOKEN=first["token"])
        self.one_line_error(p, 3, "was revoked", "MLTRACK_TOKEN")
        self.assertEqual(self.whoami()["user"], "alice")

    def test_token_name_and_expiry(self):
        self.login("alice", ALICE_PW, "--token-name", "laptop", "--expires", "30", check=0)
        self.assertEqual(self.stored()[SRV.url]["token_name"], "laptop")
        exp = SRV.sql("SELECT expires_at - created_at FROM api_tokens WHERE name = 'laptop' "
                      "AND revoked_at IS NULL")
        self.assertEqual(int(exp), 30 * 86400000)
        p = self.login("alice", ALICE_PW, "--expires", "0")
        self.one_line_error(p, 2, "--expires")
        # An explicit name that is taken is not renamed.
        p = self.login("bob", BOB_PW, "--token-name", "laptop", check=0)
        p = self.login("bob", BOB_PW, "--token-name", "laptop")
        self.one_line_error(p, 3, "already exists")

    def test_login_with_an_existing_token(self):
        t = SRV.token("bob", "given-by-admin")
        p = self.mltrack("login", "--token", stdin=t + "\n", check=0)
        self.assertIn("as bob (token given-by-admin)", p.stdout)
        entry = self.stored()[SRV.url]
        self.assertEqual(entry["token"], t)
        self.assertNotIn("created_by", entry)
        self.assertEqual(self.whoami()["user"], "bob")
        # A token the server refuses is not stored.
        shutil.rmtree(os.path.dirname(self.creds))
        p = self.mltrack("login", "--token", stdin="mlt_" + "x" * 43 + "\n")
        self.one_line_error(p, 3, "not valid")
        self.assertFalse(os.path.exists(self.creds))
        p = self.mltrack("login", "--token", "--username", "bob", stdin=t + "\n")
        self.one_line_error(p, 2, "--token")

    def test_password_asked_on_the_terminal_without_echo(self):
        import pty
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its controlling terminal
            os.chdir(self.tmp)
            os.execve(CLI, [CLI, "login"], self.env(USER="alice"))
        out = b""

        def read_until(marker):
            nonlocal out
            deadline = time.monotonic() + 60
            while marker not in out:
                self.assertLess(time.monotonic(), deadline, out)
                if not select.select([fd], [], [], 1)[0]:
                    continue
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child has exited
                    break
                if not chunk:
                    break
                out += chunk

        read_until(b"Username for %s [alice]: " % SRV.url.encode())
        os.write(fd, b"\n")  # Enter takes $USER
        read_until(b"Password for alice at %s: " % SRV.url.encode())
        os.write(fd, ALICE_PW.encode() + b"\n")
        read_until(b"\0")  # all of it, to the end (EIO once the child is gone)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, out)
        self.assertNotIn(ALICE_PW.encode(), out)  # not echoed
        self.assertIn(b"as alice (token mltrack-cli@", out)
        self.assertEqual(self.stored()[SRV.url]["username"], "alice")

    def test_no_terminal_and_no_username(self):
        p = self.mltrack("login", "--password-stdin", stdin="x\n")
        self.one_line_error(p, 2, "--username")

    def test_failed_logins_are_rate_limited(self):
        for _ in range(10):
            p = self.login("carol", "wrong-password-x")
            self.assertEqual(p.returncode, 3, p.stderr)
        t0 = time.monotonic()
        p = self.login("carol", "carol-password-3")
        self.one_line_error(p, 3, "too many failed logins", "try again in")
        # Not retried: a wait of minutes is the server's answer.
        self.assertLess(time.monotonic() - t0, 5)
        self.assertFalse(os.path.exists(self.creds))


class TestCredentialFile(AuthCase):
    def test_a_file_others_can_read_is_refused(self):
        self.login(check=0)
        os.chmod(self.creds, 0o644)
        p = self.mltrack("whoami")
        self.one_line_error(p, 2, "refusing to use %s" % self.creds, "chmod 600 %s" % self.creds)
        # Nothing is sent meanwhile, and a variable still works.
        self.assertEqual(self.whoami(MLTRACK_TOKEN=SRV.token("bob", "while-0644"))["user"], "bob")
        os.chmod(self.creds, 0o600)
        self.assertEqual(self.whoami()["user"], "alice")
        os.chmod(os.path.dirname(self.creds), 0o777)
        p = self.mltrack("whoami")
        self.one_line_error(p, 2, "chmod 700")
        os.chmod(os.path.dirname(self.creds), 0o700)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to give the file away")
    def test_a_file_of_another_user_is_refused(self):
        self.login(check=0)
        os.chown(self.creds, 65534, 65534)
        p = self.mltrack("whoami")
        self.one_line_error(p, 2, "belongs to uid 65534")

    def test_a_damaged_file_names_the_line_only(self):
        os.makedirs(os.path.dirname(self.creds), mode=0o700)
        with open(self.creds, "w") as f:
            f.write("[%s]\nmlt_%s\n" % (SRV.url, "s" * 43))
        os.chmod(self.creds, 0o600)
        p = self.mltrack("whoami")
        self.one_line_error(p, 2, "line 2")
        self.assertNotIn("mlt_", p.stderr)

    def test_logout_revokes_on_the_server_and_removes_locally(self):
        self.login(check=0)
        token = self.stored()[SRV.url]["token"]
        p = self.mltrack("logout", check=0)
        self.assertIn("logged out of %s (token mltrack-cli@" % SRV.url, p.stdout)
        self.assertFalse(os.path.exists(self.creds))  # its last entry: the file goes
        p = self.mltrack("whoami", MLTRACK_TOKEN=token)
        self.one_line_error(p, 3, "was revoked")
        p = self.mltrack("logout", check=0)
        self.assertIn("not logged in", p.stderr)
        p = self.mltrack("whoami")
        self.one_line_error(p, 3, "requires authentication", "mltrack login")

    def test_logout_with_the_server_down_still_forgets(self):
        os.makedirs(os.path.dirname(self.creds), mode=0o700)
        with open(self.creds, "w") as f:
            f.write("[%s]\ntoken = mlt_%s\ntoken_name = old\nusername = bob\n[%s]\ntoken = %s\n"
                    % (DEAD, "d" * 43, SRV.url, SRV.token("bob", "kept")))
        os.chmod(self.creds, 0o600)
        p = self.mltrack("logout", uri=DEAD, MLTRACK_HTTP_RETRIES="1")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("cannot reach %s" % DEAD, p.stderr)
        self.assertIn("removed from %s but not revoked" % self.creds, p.stderr)
        self.assertNotIn("mlt_", p.stderr)
        self.assertEqual(list(self.stored()), [SRV.url])  # the other server's entry stays
        self.assertEqual(self.whoami()["token"].split(" ")[0], "kept")


class TestVariables(AuthCase):
    def test_mltrack_token_overrides_the_file(self):
        self.login(check=0)
        who = self.whoami(MLTRACK_TOKEN=SRV.token("bob", "ci-override"))
        self.assertEqual(who["user"], "bob")
        self.assertEqual(who["credentials"], "MLTRACK_TOKEN")
        p = self.login(check=0, MLTRACK_TOKEN=SRV.token("bob", "ci-note"))
        self.assertIn("MLTRACK_TOKEN is set: it is used, not the stored token", p.stderr)

    def test_mlflow_username_and_password(self):
        who = self.whoami(MLFLOW_TRACKING_USERNAME="bob", MLFLOW_TRACKING_PASSWORD=BOB_PW)
        self.assertEqual((who["user"], who["method"]), ("bob", "password"))
        self.assertEqual(who["credentials"],
                         "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
        # As MLflow's client: a user name and password win over its token.
        who = self.whoami(MLFLOW_TRACKING_USERNAME="bob", MLFLOW_TRACKING_PASSWORD=BOB_PW,
                          MLFLOW_TRACKING_TOKEN=SRV.token("alice", "mlflow-ignored"))
        self.assertEqual(who["user"], "bob")
        # Half of the pair is ignored, with a warning.
        p = self.mltrack("whoami", MLFLOW_TRACKING_USERNAME="bob")
        self.assertIn("MLFLOW_TRACKING_USERNAME is set without MLFLOW_TRACKING_PASSWORD",
                      p.stderr)
        self.assertEqual(p.returncode, 3)
        p = self.mltrack("whoami", MLFLOW_TRACKING_USERNAME="bob",
                         MLFLOW_TRACKING_PASSWORD="not-bobs-password")
        self.one_line_error(p, 3, "invalid username or password",
                            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
        self.assertNotIn("not-bobs-password", p.stderr)

    def test_mlflow_tracking_token(self):
        who = self.whoami(MLFLOW_TRACKING_TOKEN=SRV.token("bob", "mlflow-token"))
        self.assertEqual((who["user"], who["credentials"]), ("bob", "MLFLOW_TRACKING_TOKEN"))
        self.assertTrue(who["token"].startswith("mlflow-token (id "))

    def test_user_and_password_in_the_uri(self):
        uri = SRV.url.replace("http://", "http://bob:%s@" % BOB_PW)
        who = self.whoami(uri=uri)
        self.assertEqual((who["user"], who["method"]), ("bob", "password"))
        self.assertEqual(who["server"], SRV.url)  # printed without its userinfo
        p = self.mltrack("experiments", "list",
                         uri="http://bob:%s@127.0.0.1:9" % BOB_PW, MLTRACK_HTTP_RETRIES="1")
        self.one_line_error(p, 3, "cannot reach http://127.0.0.1:9")
        self.assertNotIn(BOB_PW, p.stderr)

    def test_revoked_and_expired_tokens(self):
        t = SRV.token("bob", "soon-revoked")
        self.assertEqual(self.whoami(MLTRACK_TOKEN=t)["user"], "bob")
        SRV.revoke("bob", "soon-revoked")
        p = self.mltrack("runs", "list", MLTRACK_TOKEN=t)
        self.one_line_error(p, 3, "the token 'soon-revoked' of user bob was revoked",
                            "MLTRACK_TOKEN")
        t = SRV.token("bob", "expiring", "--expires", "1")
        SRV.sql("UPDATE api_tokens SET expires_at = created_at - 1 WHERE name = 'expiring'")
        p = self.mltrack("experiments", "list", MLFLOW_TRACKING_TOKEN=t)
        self.one_line_error(p, 3, "has expired", "MLFLOW_TRACKING_TOKEN")
        self.assertNotIn(t, p.stderr)

    def test_no_credentials(self):
        p = self.mltrack("experiments", "list")
        self.one_line_error(p, 3, "%s requires authentication" % SRV.url, "mltrack login",
                            "MLTRACK_TOKEN")

    def test_a_control_character_in_a_variable_is_refused(self):
        p = self.mltrack("whoami", MLTRACK_TOKEN="mlt_x\r\nX-Injected: 1")
        self.one_line_error(p, 2, "MLTRACK_TOKEN", "control character")

    def test_help(self):
        for cmd in ("login", "logout", "whoami"):
            p = self.mltrack(cmd, "--help", check=0)
            self.assertTrue(p.stdout.startswith("usage: mltrack %s" % cmd), p.stdout)
        p = self.mltrack("--help", check=0)
        for cmd in ("login", "logout", "whoami"):
            self.assertIn("\n  %s " % cmd, p.stdout)
        self.assertIn("MLFLOW_TRACKING_TOKEN", p.stdout)

    def test_authentication_off(self):
        # The shared server of the other suites has no user.
        url = os.environ.get("MLTRACK_TEST_URL")
        if not url:
            self.skipTest("MLTRACK_TEST_URL is not set")
        p = self.mltrack("whoami", uri=url, check=0)
        self.assertIn("authentication is off on this server", p.stdout)


class TestRunAndSpool(AuthCase):
    def script(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
        return path

    def runs(self, exp, token):
        r = SRV.call("GET", "/api/2.0/mlflow/experiments/get-by-name",
                     query={"experiment_name": exp}, token=token)
        if r.status == 404:
            return []
        self.assertEqual(r.status, 200, r.body)
        r = SRV.call("POST", "/api/2.0/mlflow/runs/search",
                     {"experiment_ids": [r.body["experiment"]["experiment_id"]]}, token=token)
        return r.body.get("runs", [])

    def spool_bytes(self):
        out = {}
        for root, _, files in os.walk(self.spool):
            for n in files:
                with open(os.path.join(root, n), "rb") as f:
                    out[os.path.relpath(os.path.join(root, n), self.spool)] = f.read()
        return out

    def test_run_with_a_token_records_no_secret(self):
        t = SRV.token("alice", "run-token")
        train = self.script("train.sh", "#!/bin/sh\necho 'loss: 0.5'\n"
                            "echo \"env: $MLTRACK_TOKEN / $MLFLOW_TRACKING_TOKEN\"\n")
        p = self.mltrack("run", "-e", "authrun", "-p", "note=%s" % t, "--", train,
                         "--api-key", t, "--db", "postgresql://u:db-secret-9@h/x",
                         check=0, MLTRACK_TOKEN=t)
        self.assertIn(t, p.stdout)  # the command's own output passes through unchanged
        self.assertNotIn(t, p.stderr)
        runs = self.runs("authrun", t)
        self.assertEqual(len(runs), 1)
        data = runs[0]["data"]
        params = {x["key"]: x["value"] for x in data["params"]}
        tags = {x["key"]: x["value"] for x in data["tags"]}
        self.assertEqual(params["api-key"], "***")
        self.assertEqual(params["note"], "***")
        self.assertEqual(params["db"], "postgresql://u:***@h/x")
        self.assertTrue(tags["mltrack.command"].endswith("--api-key *** --db postgresql://u:***@h/x"),
                        tags["mltrack.command"])
        self.assertNotIn(t, json.dumps(runs))
        self.assertEqual(runs[0]["info"]["status"], "FINISHED")
        # output.log is kept with the secret masked; the command got the
        # token as MLFLOW_TRACKING_TOKEN for an MLflow client.
        exp, rid = runs[0]["info"]["experiment_id"], runs[0]["info"]["run_id"]
        r = SRV.call("GET", "/api/2.0/mlflow-artifacts/artifacts/%s/%s/artifacts/"
                     "mltrack/output.log" % (exp, rid), token=t)
        self.assertEqual(r.status, 200)
        self.assertIn("env: *** / ***", r.body)
        self.assertEqual(self.spool_bytes(), {})

    def test_spool_is_sent_with_the_credentials_of_sync_time(self):
        t1 = SRV.token("alice", "spool-1")
        t2 = SRV.token("alice", "spool-2")
        train = self.script("t.sh", "#!/bin/sh\necho 'acc: 0.75'\necho \"t=$MLTRACK_TOKEN\"\n")
        # Server unreachable: everything is spooled.
        p = self.mltrack("run", "-e", "spooled-auth", "--", train, "--token", t1, uri=DEAD,
                         MLTRACK_TOKEN=t1, MLTRACK_HTTP_RETRIES="1")
        self.assertEqual(p.returncode, 0, p.stderr)
        spooled = self.spool_bytes()
        self.assertTrue(any(k.endswith("journal") for k in spooled), spooled.keys())
        for name, data in spooled.items():
            self.assertNotIn(t1.encode(), data, name)
        SRV.revoke("alice", "spool-1")
        # With the revoked token: refused, said so, the spool untouched.
        p = self.mltrack("sync", MLTRACK_TOKEN=t1)
        self.assertEqual(p.returncode, 3)
        self.assertIn("the token 'spool-1' of user alice was revoked", p.stderr)
        self.assertEqual(self.spool_bytes(), spooled)
        # With none: the same.
        p = self.mltrack("sync")
        self.assertEqual(p.returncode, 3)
        self.assertIn("requires authentication", p.stderr)
        self.assertEqual(self.spool_bytes(), spooled)
        # Another command's quick sync fails quietly and leaves it too.
        p = self.mltrack("experiments", "list", MLTRACK_TOKEN=t1)
        self.assertEqual(self.spool_bytes(), spooled)
        # With a token that works: sent, and the spool is gone.
        p = self.mltrack("sync", check=0, MLTRACK_TOKEN=t2)
        self.assertIn("synced 1 run", p.stderr)
        self.assertEqual(self.spool_bytes(), {})
        runs = self.runs("spooled-auth", t2)
        self.assertEqual(len(runs), 1)
        self.assertEqual(runs[0]["info"]["status"], "FINISHED")
        self.assertEqual({x["key"]: x["value"] for x in runs[0]["data"]["params"]},
                         {"token": "***"})


if __name__ == "__main__":
    unittest.main()
