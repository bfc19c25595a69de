"""Token scopes (lib/mt_scope.h, docs/security.md "Token scopes"): the CI
story end to end, and scopes at creation.

The story: an admin creates the model `churn` and a user `ci` with EDIT on
it; ci holds a token scoped "model:churn:promote:Staging".  With it a job
uploads a bundle, registers a version, tags it and moves it to Staging; it
cannot move it to Production, take a version out of Production, set an
alias, touch the model `other` or any experiment, or mint tokens; and the
audit trail names "ci (token NAME)".
"""

import hashlib
import subprocess
import unittest

import authzsrv
from authzsrv import API, MLTRACK, basic, bearer, uniq

SRV = None
PW = "ci-password"


def setUpModule():
    global SRV
    SRV = authzsrv.AuthzServer("authz_scopes").start()


def tearDownModule():
    if SRV:
        SRV.stop()


class Base(unittest.TestCase):
    maxDiff = None

    def status(self, r, want, code=None, contains=None):
        self.assertEqual(r.status, want, r.body)
        if code:
            self.assertEqual(r.body["error_code"], code, r.body)
        if contains:
            self.assertIn(contains, r.body["message"])
        return r.body


class TestCiStory(Base):
    def test_promote_churn_up_to_staging(self):
        admin = SRV.as_admin()
        churn, other = uniq("churn"), uniq("other")
        for m in (churn, other):
            SRV.ok("POST", API + "registered-models/create", {"name": m})
        e = SRV.ok("POST", API + "experiments/create", {"name": uniq("train")})["experiment_id"]
        run = SRV.ok("POST", API + "runs/create", {"experiment_id": e})["run"]["info"]["run_id"]
        ci = uniq("ci")
        SRV.add_user(ci, PW)
        for m in (churn, other):
            SRV.ok("POST", API + "registered-models/permissions/create",
                   {"name": m, "username": ci, "permission": "EDIT"})
        SRV.ok("POST", API + "experiments/permissions/create",
               {"experiment_id": e, "username": ci, "permission": "EDIT"})
        tname = "ci-job"
        _, secret = SRV.token(basic(ci, PW), name=tname,
                              scope="model:%s:promote:Staging" % churn)
        h = bearer(secret)
        who = SRV.ok("GET", MLTRACK + "auth/whoami", headers=h)
        self.assertEqual(who["token"]["scope"], "model:%s:promote:Staging" % churn)

        # What a CI job does: register (create is allowed for its model, and
        # answers ALREADY_EXISTS as MLflow's client expects), a version, a tag.
        self.status(SRV.call("POST", API + "registered-models/create", {"name": churn},
                             headers=h), 400, "RESOURCE_ALREADY_EXISTS")
        data = b"bytes of a model"
        sha = hashlib.sha256(data).hexdigest()
        self.status(SRV.call("PUT", MLTRACK + "bundles/%s.tar" % sha, raw=data,
                             headers=dict(h, **{"Content-Type": "application/x-tar"})), 200)
        v = self.status(SRV.call("POST", API + "model-versions/create",
                                 {"name": churn, "source": "mlflow-artifacts:/%s" % e,
                                  "run_id": run}, headers=h), 200)["model_version"]["version"]
        self.status(SRV.call("POST", API + "model-versions/set-tag",
                             {"name": churn, "version": v, "key": "ci", "value": "ok"},
                             headers=h), 200)
        r = self.status(SRV.call("POST", MLTRACK + "model-versions/transition-stage",
                                 {"name": churn, "version": v, "stage": "staging"}, headers=h),
                        200)
        self.assertEqual(r["model_version"]["current_stage"], "Staging")
        self.status(SRV.call("POST", API + "model-versions/transition-stage",
                             {"name": churn, "version": v, "stage": "None"}, headers=h), 200)
        self.status(SRV.call("GET", API + "registered-models/get", query={"name": churn},
                             headers=h), 200)

        # Not to Production, by either route; not forced.
        for path in (API, MLTRACK):
            self.status(SRV.call("POST", path + "model-versions/transition-stage",
                                 {"name": churn, "version": v, "stage": "Production"},
                                 headers=h), 403, "PERMISSION_DENIED", "not into Production")
        self.status(SRV.call("POST", MLTRACK + "model-versions/transition-stage",
                             {"name": churn, "version": v, "stage": "Production", "force": True,
                              "reason": "please"}, headers=h), 403, "PERMISSION_DENIED")
        self.status(SRV.call("POST", API + "model-versions/transition-stage",
                             {"name": churn, "version": v, "stage": "Archived"}, headers=h),
                    403, "PERMISSION_DENIED", "not into Archived")
        # Not a version that is in Production now.
        SRV.ok("POST", API + "model-versions/transition-stage",
               {"name": churn, "version": v, "stage": "Production"})
        self.status(SRV.call("POST", API + "model-versions/transition-stage",
                             {"name": churn, "version": v, "stage": "Staging"}, headers=h),
                    403, "PERMISSION_DENIED", "not out of Production")
        # Not an alias, not the model itself, not deletes.
        for method, path, body in (
                ("POST", API + "registered-models/alias", {"name": churn, "alias": "champ",
                                                           "version": v}),
                ("POST", API + "registered-models/set-tag", {"name": churn, "key": "k",
                                                             "value": "v"}),
                ("PATCH", API + "registered-models/update", {"name": churn,
                                                             "description": "x"}),
                ("DELETE", API + "model-versions/delete", {"name": churn, "version": v}),
                ("POST", MLTRACK + "gates/set", {"name": churn, "stage": "Staging",
                                                 "rules": []})):
            self.status(SRV.call(method, path, body, headers=h), 403, "PERMISSION_DENIED")
        # Nothing outside its scope, though its owner may.
        self.status(SRV.call("POST", API + "model-versions/create",
                             {"name": other, "source": "mlflow-artifacts:/x"}, headers=h),
                    403, "PERMISSION_DENIED", "scoped to")
        self.status(SRV.call("GET", API + "registered-models/get", query={"name": other},
                             headers=h), 403)
        self.status(SRV.call("POST", API + "runs/create", {"experiment_id": e}, headers=h), 403)
        self.status(SRV.call("GET", API + "runs/get", query={"run_id": run}, headers=h), 403)
        self.status(SRV.call("POST", API + "experiments/create", {"name": uniq("x")},
                             headers=h), 403)
        self.status(SRV.call("POST", API + "model-versions/create",
                             {"name": other, "source": "mlflow-artifacts:/x"},
                             headers=basic(ci, PW)), 200)
        # No tokens, no permissions, no token list; but itself it may revoke.
        self.status(SRV.call("POST", MLTRACK + "auth/tokens/create", {"name": "more"},
                             headers=h), 403, "PERMISSION_DENIED")
        self.status(SRV.call("GET", MLTRACK + "auth/tokens/list", headers=h), 403)
        self.status(SRV.call("POST", API + "registered-models/permissions/create",
                             {"name": churn, "username": ci, "permission": "MANAGE"},
                             headers=h), 403)

        # The audit trail names the token.
        events = SRV.ok("GET", MLTRACK + "registered-models/history",
                        query={"name": churn, "kind": "stage"}, headers=h)["events"]
        actors = [(x["to_stage"], x["actor"]) for x in events]
        self.assertEqual(actors[:2], [("Staging", "%s (token %s)" % (ci, tname)),
                                      ("None", "%s (token %s)" % (ci, tname))])
        self.assertEqual(actors[2], ("Production", SRV.admin[0]))

    def test_a_scoped_token_revokes_itself_only(self):
        ci = uniq("ci")
        SRV.add_user(ci, PW)
        other_id, _ = SRV.token(basic(ci, PW))
        tid, secret = SRV.token(basic(ci, PW), scope="read:*")
        h = bearer(secret)
        self.status(SRV.call("POST", MLTRACK + "auth/tokens/revoke", {"id": other_id},
                             headers=h), 403, "PERMISSION_DENIED", "revoke itself")
        self.status(SRV.call("POST", MLTRACK + "auth/tokens/revoke", {"id": tid}, headers=h),
                    200)
        self.status(SRV.call("GET", MLTRACK + "auth/whoami", headers=h), 401)

    def test_experiment_scope(self):
        """"may log to experiment 7 only": EDIT there, nothing elsewhere."""
        owner = uniq("owner")
        SRV.add_user(owner, PW)
        oh = basic(owner, PW)
        mine = SRV.ok("POST", API + "experiments/create", {"name": uniq("a")},
                      headers=oh)["experiment_id"]
        also = SRV.ok("POST", API + "experiments/create", {"name": uniq("b")},
                      headers=oh)["experiment_id"]
        _, secret = SRV.token(oh, scope="experiment:%s:EDIT" % mine)
        h = bearer(secret)
        run = self.status(SRV.call("POST", API + "runs/create", {"experiment_id": mine},
                                   headers=h), 200)["run"]["info"]["run_id"]
        self.status(SRV.call("POST", API + "runs/log-metric",
                             {"run_id": run, "key": "m", "value": 1, "timestamp": 1},
                             headers=h), 200)
        self.status(SRV.call("PUT", "/api/2.0/mlflow-artifacts/artifacts/%s/%s/artifacts/a.txt"
                             % (mine, run), raw=b"a",
                             headers=dict(h, **{"Content-Type": "text/plain"})), 200)
        # EDIT, not MANAGE: no deleting, though the owner created it.
        self.status(SRV.call("POST", API + "runs/delete", {"run_id": run}, headers=h), 403)
        self.status(SRV.call("POST", API + "runs/create", {"experiment_id": also}, headers=h),
                    403)
        self.status(SRV.call("POST", API + "runs/create", {}, headers=h), 403)  # "0"


class TestCiWithTheCli(Base):
    """The same story through `mltrack` with MLTRACK_TOKEN, as a CI job runs it."""

    def test_register_and_promote(self):
        import os
        import shutil
        import tempfile
        cli = os.environ.get("MLTRACK_CLI")
        if not cli:
            self.skipTest("MLTRACK_CLI is not set")
        churn = uniq("churn")
        SRV.ok("POST", API + "registered-models/create", {"name": churn})
        ci = uniq("ci")
        SRV.add_user(ci, PW)
        SRV.ok("POST", API + "registered-models/permissions/create",
               {"name": churn, "username": ci, "permission": "EDIT"})
        _, secret = SRV.token(basic(ci, PW), name="cli",
                              scope="model:%s:promote:Staging" % churn)
        tmp = tempfile.mkdtemp(prefix="mltrack-ci-")
        try:
            src = os.path.join(tmp, "model")
            os.makedirs(src)
            with open(os.path.join(src, "weights.bin"), "wb") as f:
                f.write(os.urandom(2000))
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("MLFLOW_", "MLTRACK_"))}
            env.update(MLTRACK_TRACKING_URI="http://127.0.0.1:%d" % SRV.port,
                       MLTRACK_TOKEN=secret, HOME=tmp, MLTRACK_HTTP_RETRIES="1",
                       MLTRACK_SPOOL_DIR=os.path.join(tmp, "sp"))

            def mt(*args):
                return subprocess.run([cli] + list(args), capture_output=True, text=True,
                                      env=env, cwd=tmp, timeout=120)
            p = mt("-q", "model", "register", churn, "--from", src)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.strip(), "1")
            p = mt("model", "promote", churn, "1", "--to", "staging", "--reason", "ci")
            self.assertEqual(p.returncode, 0, p.stderr)
            p = mt("model", "promote", churn, "1", "--to", "production")
            self.assertEqual(p.returncode, 3, p.stderr)
            self.assertIn("Permission denied", p.stderr)
            self.assertIn("not into Production", p.stderr)
            p = mt("model", "register", uniq("elsewhere"), "--from", src)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("Permission denied", p.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        events = SRV.ok("GET", MLTRACK + "registered-models/history",
                        query={"name": churn, "kind": "stage"})["events"]
        self.assertEqual([(x["to_stage"], x["actor"]) for x in events],
                         [("Staging", "%s (token cli)" % ci)])


class TestScopeAtCreation(Base):
    def test_api_validates_and_canonicalises(self):
        h = SRV.as_admin()
        r = SRV.call("POST", MLTRACK + "auth/tokens/create",
                     {"name": uniq("t"), "scope": " Model:my%3Amodel:PROMOTE:staging , read:* "},
                     headers=h)
        self.assertEqual(self.status(r, 200)["token"]["scope"],
                         "model:my%3Amodel:promote:Staging,read:*")
        for scope, why in (("model:churn:promote:QA", "Staging or Production"),
                           ("experiment:seven:READ", "not a number"),
                           ("", "empty"),
                           ("write:*", "read:, experiment: or model:"),
                           ("model:a:b:READ", "%3A")):
            r = SRV.call("POST", MLTRACK + "auth/tokens/create",
                         {"name": uniq("t"), "scope": scope}, headers=h)
            self.status(r, 400, "INVALID_PARAMETER_VALUE", why)
            self.assertTrue(r.body["message"].startswith("invalid scope"), r.body)
        self.status(SRV.call("POST", MLTRACK + "auth/tokens/create",
                             {"name": uniq("t"), "scope": 7}, headers=h), 400)

    def test_mltrackd_token_create_scope(self):
        ci = uniq("ci")
        SRV.add_user(ci, PW)

        def run(*args):
            return subprocess.run([authzsrv.mltrackd_binary(), "token", "create", "--user", ci,
                                   "--database-url", SRV.conninfo] + list(args),
                                  capture_output=True, text=True, timeout=60)
        p = run("--name", "bad", "--scope", "model:churn:promote:Prod")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("invalid scope: grant 1 'model:churn:promote:Prod'", p.stderr)
        self.assertEqual(p.stdout, "")
        p = run("--name", "good", "--scope", "MODEL:churn:promote:staging")
        self.assertEqual(p.returncode, 0, p.stderr)
        secret = p.stdout.strip()
        self.assertIn("scope model:churn:promote:Staging", p.stderr)
        who = SRV.ok("GET", MLTRACK + "auth/whoami", headers=bearer(secret))
        self.assertEqual(who["token"]["scope"], "model:churn:promote:Staging")

    def test_a_stored_scope_that_does_not_parse_grants_nothing(self):
        ci = uniq("ci")
        SRV.add_user(ci, PW)
        tid, secret = SRV.token(basic(ci, PW), scope="read:*")
        SRV.psql("UPDATE api_tokens SET scope = 'read:everything' WHERE id = %s" % tid)
        r = SRV.call("POST", API + "experiments/search", {"max_results": 10},
                     headers=bearer(secret))
        self.status(r, 403, "PERMISSION_DENIED", "does not parse")


if __name__ == "__main__":
    unittest.main()
