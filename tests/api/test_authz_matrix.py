"""The permission matrix: every route of the route table (read from
`mltrackd routes`, with its resource class) against every kind of caller,
on a server with users (authzsrv.py), answers what its class says:

  401  no credentials, a wrong password, an expired token, a revoked token;
  403  a caller whose permission (their row or the default, narrowed by a
       token's scope) is below the route's need, and nothing is written;
  ok   (neither 401 nor 403, and no 5xx but 501): the handler ran.

The callers: users with READ, EDIT, MANAGE and NO_PERMISSIONS rows on the
fixture experiment and registered model, a user with no rows (the default,
READ), tokens scoped inside and outside those resources, a token that may
only promote the model up to Staging, an admin by password and by token.

A route whose class this file does not know fails the test: a route added
without a resource class (mltrackd also refuses to start then), or with a
new kind of class, needs its expectations written here.

Refused requests are sent first, all of them, and the database and the
artifact store are compared before and after: a refusal writes nothing.
"""

import hashlib
import os
import unittest

import authzsrv
from authzsrv import API, MLTRACK, basic, bearer, uniq

SRV = None

RESOURCES = {"public", "any", "search", "admin", "user", "token", "bundle", "experiment",
             "experiment-name", "run", "runs", "logged-model", "artifact", "model", "model-new"}
EXPERIMENT_KINDS = {"experiment", "experiment-name", "run", "runs", "logged-model", "artifact"}
FLAGS = {"unscoped", "password", "self", "promote", "stage", "force", "creator", "exp0",
         "links", "model-refs"}
LEVEL = {"NONE": 0, "NO_PERMISSIONS": 0, "READ": 1, "EDIT": 2, "MANAGE": 3}


# What each route needs, written out a second time so that a change of the
# route table is a change of this test too (reviewed together, as Git's
# t0450 ties the docs to the commands).  The needs are MLflow's auth plugin's
# (2.9.2, BEFORE_REQUEST_HANDLERS), except: experiments/update and
# registered-models/rename need MANAGE (MLflow: EDIT), the artifact listing
# and multipart routes check the path's experiment (MLflow: the default
# permission, or nothing), and the UI routes and mltrack's own are classed
# like their MLflow counterparts.  Paths: MLF/ is /api/2.0/mlflow/, EXT/
# /api/2.0/mltrack/, ART/ /api/2.0/mlflow-artifacts/.
EXPECTED = {
    "GET MLF/artifacts/list": "run:READ",
    "GET MLF/experiments/get": "experiment:READ",
    "GET MLF/experiments/get-by-name": "experiment-name:READ",
    "POST MLF/experiments/permissions/create": "experiment:MANAGE+unscoped",
    "DELETE MLF/experiments/permissions/delete": "experiment:MANAGE+unscoped",
    "GET MLF/experiments/permissions/get": "experiment:MANAGE+unscoped",
    "PATCH MLF/experiments/permissions/update": "experiment:MANAGE+unscoped",
    "POST MLF/experiments/create": "any+unscoped+creator",
    "POST MLF/experiments/delete": "experiment:MANAGE",
    "POST MLF/experiments/restore": "experiment:MANAGE",
    "GET MLF/experiments/search": "search",
    "POST MLF/experiments/search": "search",
    "POST MLF/experiments/search-datasets": "search",
    "POST MLF/experiments/set-experiment-tag": "experiment:EDIT",
    "POST MLF/experiments/update": "experiment:MANAGE",
    "GET MLF/metrics/get-history": "run:READ",
    "GET MLF/metrics/get-history-bulk": "runs:READ",
    "GET MLF/metrics/get-history-bulk-interval": "runs:READ",
    "POST MLF/logged-models": "experiment:EDIT",
    "POST MLF/logged-models/search": "search",
    "DELETE MLF/logged-models/{model_id}": "logged-model:MANAGE",
    "GET MLF/logged-models/{model_id}": "logged-model:READ",
    "PATCH MLF/logged-models/{model_id}": "logged-model:EDIT",
    "GET MLF/logged-models/{model_id}/artifacts/directories": "logged-model:READ",
    "POST MLF/logged-models/{model_id}/params": "logged-model:EDIT",
    "PATCH MLF/logged-models/{model_id}/tags": "logged-model:EDIT",
    "DELETE MLF/logged-models/{model_id}/tags/{tag_key}": "logged-model:EDIT",
    "POST MLF/model-versions/create": "model:EDIT+promote+links",
    "DELETE MLF/model-versions/delete": "model:MANAGE",
    "DELETE MLF/model-versions/delete-tag": "model:MANAGE",
    "GET MLF/model-versions/get": "model:READ",
    "GET MLF/model-versions/get-download-uri": "model:READ",
    "GET MLF/model-versions/search": "search",
    "POST MLF/model-versions/set-tag": "model:EDIT+promote",
    "POST MLF/model-versions/transition-stage": "model:EDIT+promote+stage",
    "PATCH MLF/model-versions/update": "model:EDIT+promote",
    "DELETE MLF/registered-models/alias": "model:MANAGE",
    "GET MLF/registered-models/alias": "model:READ",
    "POST MLF/registered-models/alias": "model:EDIT",
    "POST MLF/registered-models/create": "model-new:EDIT+creator",
    "DELETE MLF/registered-models/delete": "model:MANAGE",
    "DELETE MLF/registered-models/delete-tag": "model:EDIT",
    "GET MLF/registered-models/get": "model:READ",
    "GET MLF/registered-models/get-latest-versions": "model:READ",
    "POST MLF/registered-models/get-latest-versions": "model:READ",
    "POST MLF/registered-models/permissions/create": "model:MANAGE+unscoped",
    "DELETE MLF/registered-models/permissions/delete": "model:MANAGE+unscoped",
    "GET MLF/registered-models/permissions/get": "model:MANAGE+unscoped",
    "PATCH MLF/registered-models/permissions/update": "model:MANAGE+unscoped",
    "POST MLF/registered-models/rename": "model:MANAGE",
    "GET MLF/registered-models/search": "search",
    "POST MLF/registered-models/set-tag": "model:EDIT",
    "PATCH MLF/registered-models/update": "model:EDIT",
    "POST MLF/runs/create": "experiment:EDIT+exp0",
    "POST MLF/runs/create-promptlab-run": "experiment:EDIT",
    "POST MLF/runs/delete": "run:MANAGE",
    "POST MLF/runs/delete-tag": "run:EDIT",
    "GET MLF/runs/get": "run:READ",
    "POST MLF/runs/log-batch": "run:EDIT+model-refs",
    "POST MLF/runs/log-inputs": "run:EDIT",
    "POST MLF/runs/log-metric": "run:EDIT+model-refs",
    "POST MLF/runs/log-model": "run:EDIT",
    "POST MLF/runs/log-parameter": "run:EDIT",
    "POST MLF/runs/outputs": "run:EDIT+model-refs",
    "POST MLF/runs/restore": "run:MANAGE",
    "POST MLF/runs/search": "search",
    "POST MLF/runs/set-tag": "run:EDIT",
    "POST MLF/runs/update": "run:EDIT",
    "POST MLF/upload-artifact": "run:EDIT",
    "POST MLF/users/create": "admin",
    "DELETE MLF/users/delete": "admin",
    "GET MLF/users/get": "user+self",
    "PATCH MLF/users/update-admin": "admin",
    "PATCH MLF/users/update-password": "user+password+self",
    "GET ART/artifacts": "artifact:READ",
    "DELETE ART/artifacts/{path}": "artifact:EDIT",
    "GET ART/artifacts/{path}": "artifact:READ",
    "PUT ART/artifacts/{path}": "artifact:EDIT",
    "POST ART/mpu/abort/{path}": "artifact:EDIT",
    "POST ART/mpu/complete/{path}": "artifact:EDIT",
    "POST ART/mpu/create/{path}": "artifact:EDIT",
    "GET MLF/webhooks": "admin",
    "POST MLF/webhooks": "admin",
    "DELETE MLF/webhooks/{webhook_id}": "admin",
    "GET MLF/webhooks/{webhook_id}": "admin",
    "PATCH MLF/webhooks/{webhook_id}": "admin",
    "POST MLF/webhooks/{webhook_id}/test": "admin",
    "GET EXT/auth/permission": "any",
    "DELETE EXT/auth/session": "any",
    "POST EXT/auth/session": "public",
    "POST EXT/auth/tokens/create": "any+password",
    "GET EXT/auth/tokens/list": "any+unscoped",
    "POST EXT/auth/tokens/revoke": "token",
    "GET EXT/auth/whoami": "any",
    "PUT EXT/bundles/{path}": "bundle",
    "GET EXT/experiments/summary": "search",
    "POST EXT/gates/check": "model:READ",
    "GET EXT/gates/get": "model:READ",
    "POST EXT/gates/set": "model:MANAGE",
    "GET EXT/metrics/get-history-sampled": "run:READ",
    "GET EXT/model-versions/get": "model:READ",
    "POST EXT/model-versions/transition-stage": "model:EDIT+promote+stage+force",
    "GET EXT/model-versions/transitions": "model:READ",
    "GET EXT/monitor/alert-rules/get": "model:READ",
    "POST EXT/monitor/alert-rules/set": "model:MANAGE",
    "POST EXT/monitor/alerts/acknowledge": "model:EDIT",
    "GET EXT/monitor/alerts/list": "model:READ",
    "GET EXT/monitor/get": "model:READ",
    "POST EXT/monitor/log": "model:EDIT",
    "GET EXT/monitor/reference": "model:READ",
    "DELETE EXT/registered-models/alias": "model:MANAGE",
    "POST EXT/registered-models/alias": "model:EDIT+force",
    "GET EXT/registered-models/history": "model:READ",
    "POST EXT/webhooks/redeliver": "admin",
    "GET EXT/webhooks/{webhook_id}/deliveries": "admin",
    "GET /get-artifact": "run:READ",
    "GET /health": "public",
    "GET /healthz": "public",
    "GET /metrics": "any",
    "GET /model-versions/get-artifact": "model:READ",
    "GET /readyz": "public",
    "GET /version": "public",
}


def short(path):
    return path.replace("/api/2.0/mlflow/", "MLF/").replace(
        "/api/2.0/mltrack/", "EXT/").replace("/api/2.0/mlflow-artifacts/", "ART/")


def parse_class(cls):
    head, *flags = cls.split("+")
    res, _, need = head.partition(":")
    return res, need or "NONE", set(flags)


class Principal:
    def __init__(self, name, headers, level=None, admin=False, token=False, scope=None,
                 unauth=False):
        self.name = name
        self.headers = headers
        self.level = level      # the owner's level on the fixture experiment and model
        self.admin = admin
        self.token = token
        self.scope = scope      # {"exp": level, "model": level, "cap": stage or None,
                                #  "edits_model": bool}
        self.unauth = unauth


def expected(res, need, flags, p):
    """401, 403 or "ok" for principal p on a route of class (res, need, flags)."""
    if res == "public":
        return "ok"
    if p.unauth:
        return 401
    need = LEVEL[need]
    if "force" in flags:  # the matrix sends force: true
        need = LEVEL["MANAGE"]
    s = p.scope
    if s is not None and ("unscoped" in flags or res in ("admin", "user")):
        return 403
    if "password" in flags and p.token and not (res == "user" and p.admin):
        return 403
    if p.admin and s is None:
        return "ok"
    if res in ("any", "search"):
        return "ok"
    if res in ("admin", "user"):
        return 403  # the matrix acts on another user
    if res == "token":
        return 403 if s is not None else "ok"  # the matrix revokes another token
    if res == "bundle":
        return "ok" if s is None or s["edits_model"] else 403
    if res == "model-new":
        return "ok" if s is None else 403  # a fresh name, in no scope
    owner = 3 if p.admin else p.level
    if res in EXPERIMENT_KINDS:
        granted = 3 if s is None else s["exp"]
        return "ok" if min(owner, granted) >= need else 403
    assert res == "model", res
    granted, cap = (3, None) if s is None else (s["model"], s["cap"])
    if min(owner, granted) < need:
        return 403
    if need == LEVEL["EDIT"] and granted == LEVEL["EDIT"] and cap and "promote" not in flags:
        return 403
    return "ok"  # the matrix moves versions into Staging only


class Fixture:
    pass


def setUpModule():
    global SRV, FX, PRINCIPALS
    SRV = authzsrv.AuthzServer("authz_matrix").start()
    try:
        FX = make_fixture()
        PRINCIPALS = make_principals()
    except BaseException:
        SRV.stop()
        raise


def tearDownModule():
    if SRV:
        SRV.stop()


def make_fixture():
    fx = Fixture()
    a = SRV.as_admin()
    fx.e_name = uniq("mx-exp")
    fx.e = SRV.ok("POST", API + "experiments/create", {"name": fx.e_name})["experiment_id"]
    fx.other_e = SRV.ok("POST", API + "experiments/create", {"name": uniq("mx-other")})[
        "experiment_id"]
    fx.run = SRV.ok("POST", API + "runs/create", {"experiment_id": fx.e, "start_time": 1})[
        "run"]["info"]["run_id"]
    fx.art = "%s/%s/artifacts" % (fx.e, fx.run)
    r = SRV.call("PUT", "/api/2.0/mlflow-artifacts/artifacts/%s/f.txt" % fx.art, raw=b"hello",
                 headers=dict(a, **{"Content-Type": "text/plain"}))
    assert r.status == 200, r
    fx.lm = SRV.ok("POST", API + "logged-models", {"experiment_id": fx.e, "name": "lm"})[
        "model"]["info"]["model_id"]
    fx.model = uniq("mx-model")
    fx.other_model = uniq("mx-other-model")
    SRV.ok("POST", API + "registered-models/create", {"name": fx.model})
    SRV.ok("POST", API + "registered-models/create", {"name": fx.other_model})
    SRV.ok("POST", API + "model-versions/create",
           {"name": fx.model, "source": "mlflow-artifacts:/" + fx.art, "run_id": fx.run})
    fx.victim = uniq("victim")
    SRV.add_user(fx.victim, "victim-password")
    fx.throwaway_token, _ = SRV.token(a)
    fx.bundle = b"not really a bundle"
    fx.bundle_name = hashlib.sha256(fx.bundle).hexdigest() + ".tar"
    return fx


def grant(user, level):
    for kind, key, value in (("experiments", "experiment_id", FX.e),
                             ("registered-models", "name", FX.model)):
        SRV.ok("POST", API + kind + "/permissions/create",
               {key: value, "username": user, "permission": level})


def make_principals():
    ps = []
    pw = "matrix-password"
    users = {}
    for name, level in (("reader", "READ"), ("editor", "EDIT"), ("manager", "MANAGE"),
                        ("noperm", "NO_PERMISSIONS"), ("plain", None)):
        u = uniq(name)
        SRV.add_user(u, pw)
        if level:
            grant(u, level)
        users[name] = basic(u, pw)
        ps.append(Principal(name, users[name], level=LEVEL[level or "READ"]))
    ps.append(Principal("anonymous", {}, unauth=True))
    SRV.add_user("pwuser", pw)
    ps.append(Principal("wrong-password", basic("pwuser", "not-the-password"), unauth=True))
    _, expired = SRV.token(users["reader"], days=1)
    SRV.psql("UPDATE api_tokens SET expires_at = 1 WHERE token_hash = '%s'" %
             hashlib.sha256(expired.encode()).hexdigest())
    ps.append(Principal("expired-token", bearer(expired), unauth=True))
    rid, revoked = SRV.token(users["reader"])
    SRV.ok("POST", MLTRACK + "auth/tokens/revoke", {"id": rid}, headers=users["reader"])
    ps.append(Principal("revoked-token", bearer(revoked), unauth=True))
    _, t = SRV.token(users["manager"],
                     scope="experiment:%s:EDIT,model:%s:EDIT" % (FX.e, FX.model))
    ps.append(Principal("scoped-inside", bearer(t), level=3, token=True,
                        scope={"exp": 2, "model": 2, "cap": None, "edits_model": True}))
    _, t = SRV.token(users["manager"],
                     scope="experiment:%s:MANAGE,model:%s:MANAGE" % (FX.other_e, FX.other_model))
    ps.append(Principal("scoped-outside", bearer(t), level=3, token=True,
                        scope={"exp": 0, "model": 0, "cap": None, "edits_model": True}))
    _, t = SRV.token(users["editor"], scope="model:%s:promote:Staging" % FX.model)
    ps.append(Principal("promote-staging", bearer(t), level=2, token=True,
                        scope={"exp": 0, "model": 2, "cap": "Staging", "edits_model": True}))
    _, t = SRV.token(users["manager"], scope="read:*")
    ps.append(Principal("read-all", bearer(t), level=3, token=True,
                        scope={"exp": 1, "model": 1, "cap": None, "edits_model": False}))
    ps.append(Principal("admin", SRV.as_admin(), admin=True))
    _, t = SRV.token(SRV.as_admin())
    ps.append(Principal("admin-token", bearer(t), admin=True, token=True))
    return ps


# ---- requests ----

def fields_for(method, path, res, flags, model=None):
    fx = FX
    f = {}
    if res in ("experiment", "experiment-name"):
        f.update(experiment_id=fx.e, experiment_name=fx.e_name, username=fx.victim,
                 permission="READ", key="k", value="v", name=uniq("lm"),
                 new_name=uniq("mx-renamed"))
    elif res == "run":
        f.update(run_id=fx.run, key="k", value="v", metric_key="m", path="f.txt")
        if path.endswith("runs/log-metric"):
            f.update(value=1.5, timestamp=1)
    elif res == "runs":
        f.update(run_ids=[fx.run], run_id=[fx.run], metric_key="m")
    elif res == "artifact":
        f.update(path=fx.art)
    elif res == "model":
        f.update(name=model or fx.model, version="1", stage="Staging", alias="a1", key="k",
                 value="v", source="mlflow-artifacts:/" + fx.art, username=fx.victim,
                 permission="READ", description="d", new_name=uniq("renamed"))
        if "force" in flags:
            f.update(force=True, reason="matrix")
    elif res == "model-new":
        f.update(name=uniq("new-model"))
    elif res in ("user", "admin"):
        f.update(username=fx.victim, password="victim-password-2", is_admin=False)
        if path.endswith("users/create"):
            f.update(username=uniq("u"))
    elif res == "token":
        f.update(id=fx.throwaway_token)
    elif res == "any":
        f.update(name=uniq("n"), experiment_id=fx.e)
    elif res == "search":
        f.update(max_results=10, experiment_ids=[fx.e])
    return f


def send(method, path, cls, principal, model=None):
    res, need, flags = cls
    p = path.replace("{model_id}", FX.lm).replace("{tag_key}", "k").replace(
        "{webhook_id}", "wh-none")
    raw = None
    headers = dict(principal.headers)
    if p.endswith("{path}"):
        base = p[:-len("{path}")]
        if base.endswith("/bundles/"):
            p, raw = base + FX.bundle_name, FX.bundle
        elif "/mpu/" in base:
            p = base + FX.art
        else:
            p, raw = base + FX.art + "/f.txt", b"matrix"
        if method != "PUT":
            raw = None
    f = fields_for(method, path, res, flags, model)
    if method == "GET":
        return SRV.call(method, p, query=f, headers=headers)
    if method == "PUT":
        headers["Content-Type"] = "application/octet-stream"
        return SRV.call(method, p, raw=raw or b"", headers=headers)
    if path.endswith("/upload-artifact"):
        headers["Content-Type"] = "text/plain"
        return SRV.call(method, p, query=f, raw=b"x", headers=headers)
    return SRV.call(method, p, body=f, headers=headers)


# Routes whose allowed request destroys what later cases use: each gets a
# fresh model, on which the caller has the level it has on the fixture's.
FRESH_MODEL = ("registered-models/delete", "registered-models/rename")


def fresh_model(principal):
    name = uniq("mx-fresh")
    SRV.ok("POST", API + "registered-models/create", {"name": name})
    SRV.ok("POST", API + "model-versions/create",
           {"name": name, "source": "mlflow-artifacts:/" + FX.art})
    if not principal.admin:
        username = authzsrv.user_of(principal.headers)  # Basic: a user of make_principals
        level = {1: "READ", 2: "EDIT", 3: "MANAGE", 0: "NO_PERMISSIONS"}[principal.level]
        SRV.ok("POST", API + "registered-models/permissions/create",
               {"name": name, "username": username, "permission": level})
    return name


def snapshot():
    """The database (but the login counters and token last-use times) and
    the artifact store, as digests."""
    tables = SRV.psql("SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables "
                      "WHERE schemaname = 'public' AND tablename NOT IN "
                      "('auth_failures', 'sessions', 'schema_migrations', 'api_tokens')").split()
    parts = ["SELECT '%s', md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
             "FROM %s x" % (t, t) for t in tables]
    parts.append("SELECT 'api_tokens', md5(coalesce(string_agg(x::text, '|' ORDER BY "
                 "x::text), '')) FROM (SELECT id, user_id, name, token_hash, scope, "
                 "expires_at, revoked_at FROM api_tokens) x")
    db = SRV.psql(" UNION ALL ".join(parts))
    files = []
    root = os.path.join(SRV.dir, "data", "artifacts")
    for d, _, names in os.walk(root):
        if os.path.basename(d) == "tmp":
            continue
        for n in names:
            files.append((os.path.relpath(os.path.join(d, n), root),
                          os.path.getsize(os.path.join(d, n))))
    return db, sorted(files)


class TestMatrix(unittest.TestCase):
    maxDiff = None

    def test_every_route_against_every_caller(self):
        rows = authzsrv.routes()
        self.assertGreater(len(rows), 90)
        served = {"%s %s" % (m, short(p)): c for m, p, c in rows}
        self.assertEqual(sorted(set(served) - set(EXPECTED)), [],
                         "routes without a class in EXPECTED: write what they need")
        self.assertEqual(sorted(set(EXPECTED) - set(served)), [], "EXPECTED routes not served")
        self.assertEqual({k: v for k, v in served.items() if EXPECTED[k] != v},
                         {}, "classes that differ from EXPECTED")
        cases = []
        for method, path, cls in rows:
            res, need, flags = parse_class(cls)
            self.assertIn(res, RESOURCES, "%s %s: a resource class this test does not know "
                          "(%s): write its expectations" % (method, path, cls))
            self.assertFalse(flags - FLAGS, "%s %s: flags this test does not know (%s)" %
                             (method, path, cls))
            self.assertIn(need, LEVEL, "%s %s: need %s" % (method, path, need))
            for p in PRINCIPALS:
                cases.append((method, path, (res, need, flags), p,
                              expected(res, need, flags, p)))
        refused = [c for c in cases if c[4] != "ok"]
        allowed = [c for c in cases if c[4] == "ok"]
        failures = []

        before = snapshot()
        wrong_passwords = 0
        for method, path, cls, p, want in refused:
            if p.name == "wrong-password":
                wrong_passwords += 1
                if wrong_passwords % 8 == 0:  # below the login rate limit
                    SRV.psql("DELETE FROM auth_failures")
            r = send(method, path, cls, p)
            if r.status != want:
                failures.append("%s %s as %s: %d, expected %d: %r" % (
                    method, path, p.name, r.status, want, r.body))
            elif want == 403 and not (isinstance(r.body, dict) and
                                      r.body.get("error_code") == "PERMISSION_DENIED" and
                                      r.body["message"].startswith("Permission denied")):
                failures.append("%s %s as %s: 403 without MLflow's shape: %r" % (
                    method, path, p.name, r.body))
        SRV.psql("DELETE FROM auth_failures")
        after = snapshot()
        if before != after:
            failures.append("a refused request wrote something: %r != %r" % (before, after))

        for method, path, cls, p, want in allowed:
            model = None
            if cls[0] == "model" and path.endswith(FRESH_MODEL):
                model = fresh_model(p)
            r = send(method, path, cls, p, model)
            if r.status in (401, 403) or (r.status >= 500 and r.status != 501):
                failures.append("%s %s as %s: %d, expected the handler to run: %r" % (
                    method, path, p.name, r.status, r.body))
        self.assertEqual(failures, [], "\n".join(failures))
        self.assertGreater(len(refused), 500)
        self.assertGreater(len(allowed), 500)
        # /metrics counts the decisions: every 403 above was one.
        text = SRV.call("GET", "/metrics", headers=SRV.as_admin()).body
        counts = dict(line.rsplit(" ", 1) for line in text.splitlines()
                      if line.startswith("mltrack_authz_total{"))
        self.assertGreaterEqual(int(counts['mltrack_authz_total{outcome="refused"}']),
                                sum(1 for c in refused if c[4] == 403))
        self.assertIn("mltrack_authz_seconds_total ", text)


if __name__ == "__main__":
    unittest.main()
