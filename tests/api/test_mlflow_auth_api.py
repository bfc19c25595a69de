"""MLflow's auth REST API (mlflow/server/auth, 2.9.2) on mltrackd: every
endpoint, with the request shapes MLflow's AuthServiceClient sends (JSON
bodies for POST, PATCH and DELETE, query parameters for GET, Basic auth from
MLFLOW_TRACKING_USERNAME/PASSWORD), the answers its entities parse
(User.from_json, ExperimentPermission.from_json,
RegisteredModelPermission.from_json) and its error codes.  Also who may call
them, the creator's MANAGE, the first user, the default permission, forcing
a gate with users, and GET mltrack/auth/permission.
"""

import os
import unittest

import authzsrv
import mtapi
from authzsrv import API, MLTRACK, basic, bearer, uniq

SRV = None
PW = "auth-api-password"


def setUpModule():
    global SRV
    SRV = authzsrv.AuthzServer("mlflow_auth_api").start()


def tearDownModule():
    if SRV:
        SRV.stop()


# ---- MLflow's client, request by request (mlflow/server/auth/client.py) ----

class Client:
    """What AuthServiceClient sends: _request(endpoint, method, json=|params=)."""

    def __init__(self, headers):
        self.h = headers

    def create_user(self, username, password):
        return SRV.call("POST", API + "users/create", {"username": username, "password": password},
                        headers=self.h)

    def get_user(self, username):
        return SRV.call("GET", API + "users/get", query={"username": username}, headers=self.h)

    def update_user_password(self, username, password):
        return SRV.call("PATCH", API + "users/update-password",
                        {"username": username, "password": password}, headers=self.h)

    def update_user_admin(self, username, is_admin):
        return SRV.call("PATCH", API + "users/update-admin",
                        {"username": username, "is_admin": is_admin}, headers=self.h)

    def delete_user(self, username):
        return SRV.call("DELETE", API + "users/delete", {"username": username}, headers=self.h)

    def create_experiment_permission(self, experiment_id, username, permission):
        return SRV.call("POST", API + "experiments/permissions/create",
                        {"experiment_id": experiment_id, "username": username,
                         "permission": permission}, headers=self.h)

    def get_experiment_permission(self, experiment_id, username):
        return SRV.call("GET", API + "experiments/permissions/get",
                        query={"experiment_id": experiment_id, "username": username},
                        headers=self.h)

    def update_experiment_permission(self, experiment_id, username, permission):
        return SRV.call("PATCH", API + "experiments/permissions/update",
                        {"experiment_id": experiment_id, "username": username,
                         "permission": permission}, headers=self.h)

    def delete_experiment_permission(self, experiment_id, username):
        return SRV.call("DELETE", API + "experiments/permissions/delete",
                        {"experiment_id": experiment_id, "username": username}, headers=self.h)

    def create_registered_model_permission(self, name, username, permission):
        return SRV.call("POST", API + "registered-models/permissions/create",
                        {"name": name, "username": username, "permission": permission},
                        headers=self.h)

    def get_registered_model_permission(self, name, username):
        return SRV.call("GET", API + "registered-models/permissions/get",
                        query={"name": name, "username": username}, headers=self.h)

    def update_registered_model_permission(self, name, username, permission):
        return SRV.call("PATCH", API + "registered-models/permissions/update",
                        {"name": name, "username": username, "permission": permission},
                        headers=self.h)

    def delete_registered_model_permission(self, name, username):
        return SRV.call("DELETE", API + "registered-models/permissions/delete",
                        {"name": name, "username": username}, headers=self.h)


def user():
    """A user with a cheap hash: (name, Basic headers)."""
    name = uniq("u")
    SRV.add_user(name, PW)
    return name, basic(name, PW)


def experiment(headers=None):
    return SRV.ok("POST", API + "experiments/create", {"name": uniq("e")},
                  headers=headers)["experiment_id"]


def model(headers=None):
    name = uniq("m")
    SRV.ok("POST", API + "registered-models/create", {"name": name}, headers=headers)
    return name


class Base(unittest.TestCase):
    maxDiff = None

    def error(self, r, status, code, contains=None):
        self.assertEqual(r.status, status, r.body)
        self.assertIsInstance(r.body, dict, r.body)
        self.assertEqual(r.body.get("error_code"), code, r.body)
        if contains:
            self.assertIn(contains, r.body["message"])

    def denied(self, r):
        self.error(r, 403, "PERMISSION_DENIED", "Permission denied")

    def unauth(self, r):
        self.error(r, 401, "UNAUTHENTICATED")

    def ok(self, r):
        self.assertEqual(r.status, 200, r.body)
        self.assertIsInstance(r.body, dict)
        return r.body

    def user_shape(self, u):
        """What User.from_json reads."""
        self.assertEqual(set(u), {"id", "username", "is_admin", "experiment_permissions",
                                  "registered_model_permissions"})
        self.assertIs(type(u["id"]), int)
        self.assertIs(type(u["is_admin"]), bool)
        for p in u["experiment_permissions"]:
            self.assertEqual(set(p), {"experiment_id", "user_id", "permission"})
            self.assertIsInstance(p["experiment_id"], str)
        for p in u["registered_model_permissions"]:
            self.assertEqual(set(p), {"name", "user_id", "permission"})


class TestUsers(Base):
    def test_create_user(self):
        admin = Client(SRV.as_admin())
        name = uniq("new")
        u = self.ok(admin.create_user(name, "a-good-password"))["user"]
        self.user_shape(u)
        self.assertEqual((u["username"], u["is_admin"], u["experiment_permissions"],
                          u["registered_model_permissions"]), (name, False, [], []))
        # The new user logs in (the real KDF, once).
        r = SRV.call("GET", MLTRACK + "auth/whoami", headers=basic(name, "a-good-password"))
        self.assertEqual(self.ok(r)["user"]["username"], name)
        self.error(admin.create_user(name, "another-password"), 400, "RESOURCE_ALREADY_EXISTS",
                   "User (username=%s) already exists." % name)
        self.error(admin.create_user(uniq("x"), "short"), 400, "INVALID_PARAMETER_VALUE")
        self.error(admin.create_user("", "a-good-password"), 400, "INVALID_PARAMETER_VALUE",
                   "'username'")
        self.error(SRV.call("POST", API + "users/create", {"username": uniq("x")},
                            headers=SRV.as_admin()), 400, "INVALID_PARAMETER_VALUE",
                   "Missing value for required parameter 'password'")
        self.error(admin.create_user("bad name!", "a-good-password"), 400,
                   "INVALID_PARAMETER_VALUE", "Invalid username")
        # Who may: an admin; not a user, not without credentials.
        _, h = user()
        self.denied(Client(h).create_user(uniq("x"), "a-good-password"))
        self.unauth(Client({}).create_user(uniq("x"), "a-good-password"))
        # Nothing of the password in the log.
        self.assertNotIn("a-good-password", SRV.log())

    def test_get_user(self):
        name, h = user()
        e = experiment()
        m = model()
        admin = Client(SRV.as_admin())
        self.ok(admin.create_experiment_permission(e, name, "EDIT"))
        self.ok(admin.create_registered_model_permission(m, name, "READ"))
        u = self.ok(admin.get_user(name))["user"]
        self.user_shape(u)
        self.assertEqual(u["experiment_permissions"],
                         [{"experiment_id": e, "user_id": u["id"], "permission": "EDIT"}])
        self.assertEqual(u["registered_model_permissions"],
                         [{"name": m, "user_id": u["id"], "permission": "READ"}])
        # Oneself, yes; another user, no.
        self.assertEqual(self.ok(Client(h).get_user(name))["user"]["id"], u["id"])
        other, h2 = user()
        self.denied(Client(h2).get_user(name))
        self.error(admin.get_user("nobody-" + uniq()), 404, "RESOURCE_DOES_NOT_EXIST",
                   "User with username=nobody-")
        self.unauth(Client({}).get_user(name))

    def test_update_password(self):
        name, h = user()
        me = Client(h)
        self.assertEqual(self.ok(me.update_user_password(name, "my-new-password")), {})
        self.unauth(Client(h).get_user(name))  # the old one no longer works
        h = basic(name, "my-new-password")
        self.ok(Client(h).get_user(name))
        # Not another user's; not with a token (it would outlive a leak).
        other, h2 = user()
        self.denied(Client(h2).update_user_password(name, "their-new-password"))
        _, tok = SRV.token(h)
        self.denied(Client(bearer(tok)).update_user_password(name, "token-password"))
        # An admin may; a missing user is 404; a bad password 400.
        admin = Client(SRV.as_admin())
        self.ok(admin.update_user_password(name, "admin-set-password"))
        self.ok(Client(basic(name, "admin-set-password")).get_user(name))
        self.error(admin.update_user_password("nobody-" + uniq(), "whatever-pass"), 404,
                   "RESOURCE_DOES_NOT_EXIST")
        self.error(admin.update_user_password(name, "x"), 400, "INVALID_PARAMETER_VALUE")
        self.assertNotIn("admin-set-password", SRV.log())

    def test_update_admin(self):
        name, h = user()
        admin = Client(SRV.as_admin())
        self.denied(Client(h).update_user_admin(name, True))
        self.assertEqual(self.ok(admin.update_user_admin(name, True)), {})
        self.assertTrue(self.ok(admin.get_user(name))["user"]["is_admin"])
        # Now an admin: may manage users.
        self.ok(Client(h).create_user(uniq("by-new-admin"), "a-good-password"))
        self.ok(admin.update_user_admin(name, False))
        self.denied(Client(h).create_user(uniq("x"), "a-good-password"))
        self.error(SRV.call("PATCH", API + "users/update-admin", {"username": name},
                            headers=SRV.as_admin()), 400, "INVALID_PARAMETER_VALUE",
                   "is_admin")
        self.error(admin.update_user_admin("nobody-" + uniq(), True), 404,
                   "RESOURCE_DOES_NOT_EXIST")

    def test_the_last_admin_stays(self):
        admin = Client(SRV.as_admin())
        admins = SRV.psql("SELECT count(*) FROM users WHERE is_admin")
        if admins != "1":
            self.skipTest("another test left a second admin")
        self.error(admin.update_user_admin(SRV.admin[0], False), 400, "INVALID_PARAMETER_VALUE",
                   "last admin")
        self.error(admin.delete_user(SRV.admin[0]), 400, "INVALID_PARAMETER_VALUE",
                   "last admin")
        self.assertEqual(SRV.psql("SELECT count(*) FROM users WHERE is_admin"), "1")

    def test_delete_user(self):
        name, h = user()
        _, tok = SRV.token(h)
        admin = Client(SRV.as_admin())
        other, h2 = user()
        self.denied(Client(h2).delete_user(name))
        self.assertEqual(self.ok(admin.delete_user(name)), {})
        self.error(admin.get_user(name), 404, "RESOURCE_DOES_NOT_EXIST",
                   "User with username=%s not found" % name)
        self.error(admin.delete_user(name), 404, "RESOURCE_DOES_NOT_EXIST")
        # Their password and their tokens stop at once.
        self.unauth(SRV.call("GET", MLTRACK + "auth/whoami", headers=h))
        self.unauth(SRV.call("GET", MLTRACK + "auth/whoami", headers=bearer(tok)))

    def test_scoped_tokens_manage_no_users(self):
        _, tok = SRV.token(SRV.as_admin(), scope="read:*")
        c = Client(bearer(tok))
        self.denied(c.create_user(uniq("x"), "a-good-password"))
        self.denied(c.get_user(SRV.admin[0]))


class TestPermissions(Base):
    def test_experiment_permissions(self):
        owner, oh = user()
        target, th = user()
        e = experiment(oh)  # the creator has MANAGE: may manage its permissions
        c = Client(oh)
        r = self.ok(c.create_experiment_permission(e, target, "EDIT"))
        uid = self.ok(Client(SRV.as_admin()).get_user(target))["user"]["id"]
        self.assertEqual(r, {"experiment_permission": {"experiment_id": e, "user_id": uid,
                                                       "permission": "EDIT"}})
        self.error(c.create_experiment_permission(e, target, "READ"), 400,
                   "RESOURCE_ALREADY_EXISTS",
                   "Experiment permission (experiment_id=%s, username=%s) already exists."
                   % (e, target))
        self.error(c.create_experiment_permission(e, target, "WRITE"), 400,
                   "INVALID_PARAMETER_VALUE",
                   "Invalid permission 'WRITE'. Valid permissions are: ('READ', 'EDIT', "
                   "'MANAGE', 'NO_PERMISSIONS')")
        self.error(c.create_experiment_permission(e, "nobody-" + uniq(), "READ"), 404,
                   "RESOURCE_DOES_NOT_EXIST", "User with username=nobody-")
        self.assertEqual(self.ok(c.get_experiment_permission(e, target)),
                         {"experiment_permission": {"experiment_id": e, "user_id": uid,
                                                    "permission": "EDIT"}})
        # The row works: EDIT lets the target create a run.
        self.ok(SRV.call("POST", API + "runs/create", {"experiment_id": e}, headers=th))
        self.assertEqual(self.ok(c.update_experiment_permission(e, target, "NO_PERMISSIONS")),
                         {})
        self.denied(SRV.call("GET", API + "experiments/get", query={"experiment_id": e},
                             headers=th))
        self.error(c.update_experiment_permission(e, target, "ALL"), 400,
                   "INVALID_PARAMETER_VALUE", "Invalid permission 'ALL'")
        self.assertEqual(self.ok(c.delete_experiment_permission(e, target)), {})
        self.error(c.get_experiment_permission(e, target), 404, "RESOURCE_DOES_NOT_EXIST",
                   "Experiment permission with experiment_id=%s and username=%s not found"
                   % (e, target))
        self.error(c.update_experiment_permission(e, target, "READ"), 404,
                   "RESOURCE_DOES_NOT_EXIST")
        self.error(c.delete_experiment_permission(e, target), 404, "RESOURCE_DOES_NOT_EXIST")
        # Missing fields, in MLflow's order and words.
        r = SRV.call("POST", API + "experiments/permissions/create",
                     {"experiment_id": e, "username": target}, headers=oh)
        self.error(r, 400, "INVALID_PARAMETER_VALUE",
                   "Missing value for required parameter 'permission'")
        # A missing experiment: the admin hears 404 (MLflow would store a row).
        self.error(Client(SRV.as_admin()).create_experiment_permission("999999", target, "READ"),
                   404, "RESOURCE_DOES_NOT_EXIST", "No Experiment with id=999999")

    def test_who_may_manage_experiment_permissions(self):
        owner, oh = user()
        e = experiment(oh)
        for level in ("READ", "EDIT"):
            name, h = user()
            self.ok(Client(oh).create_experiment_permission(e, name, level))
            self.denied(Client(h).create_experiment_permission(e, name, "MANAGE"))
            self.denied(Client(h).get_experiment_permission(e, name))
        name, h = user()
        self.ok(Client(oh).create_experiment_permission(e, name, "MANAGE"))
        other, _ = user()
        self.ok(Client(h).create_experiment_permission(e, other, "READ"))
        # A token scoped to MANAGE on the experiment manages no permissions.
        _, tok = SRV.token(oh, scope="experiment:%s:MANAGE" % e)
        self.denied(Client(bearer(tok)).get_experiment_permission(e, other))
        self.unauth(Client({}).get_experiment_permission(e, other))
        # An admin may, on anyone's.
        self.ok(Client(SRV.as_admin()).get_experiment_permission(e, other))

    def test_registered_model_permissions(self):
        owner, oh = user()
        target, th = user()
        m = model(oh)
        c = Client(oh)
        uid = self.ok(Client(SRV.as_admin()).get_user(target))["user"]["id"]
        self.assertEqual(self.ok(c.create_registered_model_permission(m, target, "READ")),
                         {"registered_model_permission": {"name": m, "user_id": uid,
                                                          "permission": "READ"}})
        self.error(c.create_registered_model_permission(m, target, "EDIT"), 400,
                   "RESOURCE_ALREADY_EXISTS",
                   "Registered model permission (name=%s, username=%s) already exists."
                   % (m, target))
        self.error(c.create_registered_model_permission(m, target, "OWNER"), 400,
                   "INVALID_PARAMETER_VALUE", "Invalid permission 'OWNER'")
        self.assertEqual(self.ok(c.get_registered_model_permission(m, target)),
                         {"registered_model_permission": {"name": m, "user_id": uid,
                                                          "permission": "READ"}})
        self.denied(SRV.call("POST", API + "registered-models/set-tag",
                             {"name": m, "key": "k", "value": "v"}, headers=th))
        self.assertEqual(self.ok(c.update_registered_model_permission(m, target, "EDIT")), {})
        self.ok(SRV.call("POST", API + "registered-models/set-tag",
                         {"name": m, "key": "k", "value": "v"}, headers=th))
        self.denied(c.__class__(th).get_registered_model_permission(m, target))
        self.assertEqual(self.ok(c.delete_registered_model_permission(m, target)), {})
        self.error(c.get_registered_model_permission(m, target), 404, "RESOURCE_DOES_NOT_EXIST",
                   "Registered model permission with name=%s and username=%s not found"
                   % (m, target))
        self.error(c.delete_registered_model_permission(m, target), 404,
                   "RESOURCE_DOES_NOT_EXIST")
        self.error(Client(SRV.as_admin()).create_registered_model_permission(
            "no-such-" + uniq(), target, "READ"), 404, "RESOURCE_DOES_NOT_EXIST",
            "Registered Model with name=no-such-")
        # Permissions follow a rename (they are kept by the model's id).
        self.ok(c.create_registered_model_permission(m, target, "EDIT"))
        new = uniq("renamed")
        self.ok(SRV.call("POST", API + "registered-models/rename", {"name": m, "new_name": new},
                         headers=oh))
        self.assertEqual(self.ok(c.get_registered_model_permission(new, target))[
            "registered_model_permission"]["permission"], "EDIT")

    def test_creator_gets_manage(self):
        name, h = user()
        e = experiment(h)
        m = model(h)
        u = self.ok(Client(SRV.as_admin()).get_user(name))["user"]
        self.assertIn({"experiment_id": e, "user_id": u["id"], "permission": "MANAGE"},
                      u["experiment_permissions"])
        self.assertIn({"name": m, "user_id": u["id"], "permission": "MANAGE"},
                      u["registered_model_permissions"])
        # MANAGE: the creator may delete what they made; another user may not.
        _, h2 = user()
        self.denied(SRV.call("POST", API + "experiments/delete", {"experiment_id": e},
                             headers=h2))
        self.ok(SRV.call("POST", API + "experiments/delete", {"experiment_id": e}, headers=h))
        # A refused create writes no row (registered-models/create of a
        # taken name is the handler's 400, in the same transaction).
        self.error(SRV.call("POST", API + "registered-models/create", {"name": m}, headers=h2),
                   400, "RESOURCE_ALREADY_EXISTS")
        self.assertEqual(SRV.psql("SELECT count(*) FROM registered_model_permissions p JOIN "
                                  "registered_models m ON m.id = p.model_id "
                                  "WHERE m.name = '%s'" % m), "1")


class TestEffectivePermission(Base):
    def perm(self, headers, **q):
        return self.ok(SRV.call("GET", MLTRACK + "auth/permission", query=q,
                                headers=headers))["permission"]

    def test_levels(self):
        name, h = user()
        e, m = experiment(), model()
        admin = Client(SRV.as_admin())
        self.assertEqual(self.perm(SRV.as_admin(), experiment_id=e), "MANAGE")
        self.assertEqual(self.perm(h, experiment_id=e), "READ")  # the default
        self.assertEqual(self.perm(h, name=m), "READ")
        self.ok(admin.create_experiment_permission(e, name, "EDIT"))
        self.ok(admin.create_registered_model_permission(m, name, "NO_PERMISSIONS"))
        self.assertEqual(self.perm(h, experiment_id=e), "EDIT")
        self.assertEqual(self.perm(h, name=m), "NO_PERMISSIONS")
        # A scope narrows: min(owner, scope); a promote grant reads as EDIT.
        _, tok = SRV.token(SRV.as_admin(),
                           scope="experiment:%s:READ,model:%s:promote:Staging" % (e, m))
        self.assertEqual(self.perm(bearer(tok), experiment_id=e), "READ")
        self.assertEqual(self.perm(bearer(tok), name=m), "EDIT")
        self.assertEqual(self.perm(bearer(tok), experiment_id=experiment()), "NO_PERMISSIONS")
        # A missing resource: the default.
        self.assertEqual(self.perm(h, experiment_id="987654"), "READ")
        for q in ({}, {"experiment_id": e, "name": m}, {"experiment_id": "x"}):
            self.error(SRV.call("GET", MLTRACK + "auth/permission", query=q, headers=h), 400,
                       "INVALID_PARAMETER_VALUE")
        self.unauth(SRV.call("GET", MLTRACK + "auth/permission", query={"experiment_id": e}))

    def test_auth_off_is_manage(self):
        # The shared server of the other suites has no users.
        try:
            r = mtapi.mt_get("auth/permission", experiment_id="0")
        except OSError:
            self.skipTest("no shared server")
        if r.status == 401:
            self.skipTest("the shared server has users")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.body, {"permission": "MANAGE"})


class TestForce(Base):
    """--force with users: MANAGE on the model, and the audit names who."""

    def test_force_needs_manage(self):
        editor, eh = user()
        manager, mh = user()
        m = model()
        admin = Client(SRV.as_admin())
        self.ok(admin.create_registered_model_permission(m, editor, "EDIT"))
        self.ok(admin.create_registered_model_permission(m, manager, "MANAGE"))
        e = experiment()
        run = SRV.ok("POST", API + "runs/create", {"experiment_id": e})["run"]["info"]["run_id"]
        SRV.ok("POST", API + "model-versions/create",
               {"name": m, "source": "mlflow-artifacts:/x", "run_id": run})
        SRV.ok("POST", MLTRACK + "gates/set",
               {"name": m, "stage": "Production", "rules": ["metrics.acc >= 0.9"]})
        body = {"name": m, "version": "1", "stage": "Production", "force": True,
                "reason": "hotfix"}
        r = SRV.call("POST", MLTRACK + "model-versions/transition-stage", body, headers=eh)
        self.denied(r)
        self.assertIn("MANAGE on registered model '%s' is needed" % m, r.body["message"])
        # Without force the editor reaches the gate (412), as EDIT allows.
        r = SRV.call("POST", MLTRACK + "model-versions/transition-stage",
                     dict(body, force=False), headers=eh)
        self.error(r, 412, "GATE_FAILED")
        # The admin token of a server without users is no credential here.
        r = SRV.call("POST", MLTRACK + "model-versions/transition-stage", body,
                     headers=bearer("0123456789abcdef0123456789abcdef"))
        self.unauth(r)
        r = self.ok(SRV.call("POST", MLTRACK + "model-versions/transition-stage", body,
                             headers=mh))
        self.assertTrue(r["forced"])
        events = self.ok(SRV.call("GET", MLTRACK + "registered-models/history",
                                  query={"name": m}, headers=mh))["events"]
        actors = [(x["outcome"], x["actor"]) for x in events if x["kind"] == "stage"]
        self.assertEqual(actors, [("refused", editor), ("forced", manager)])
        # Gate policies need MANAGE too.
        self.denied(SRV.call("POST", MLTRACK + "gates/set",
                             {"name": m, "stage": "Staging", "rules": []}, headers=eh))
        self.ok(SRV.call("POST", MLTRACK + "gates/set",
                         {"name": m, "stage": "Staging", "rules": []}, headers=mh))


class TestFirstUserAndDefault(Base):
    """A server that starts without users, and one whose default is
    NO_PERMISSIONS."""

    def test_first_user_through_the_api_is_an_admin(self):
        srv = authzsrv.AuthzServer("first_user", admin=None).start()
        try:
            # Authentication is off: anyone (on the loopback) may create the first user.
            r = srv.call("GET", MLTRACK + "auth/whoami")
            self.assertEqual(self.ok(r)["auth_enabled"], False)
            r = srv.call("POST", API + "users/create",
                         {"username": "first", "password": "first-password"})
            self.assertTrue(self.ok(r)["user"]["is_admin"])
            # ... and authentication is on at once.
            self.unauth(srv.call("GET", MLTRACK + "auth/whoami"))
            self.unauth(srv.call("POST", API + "users/create",
                                 {"username": "second", "password": "second-password"}))
            r = srv.call("POST", API + "users/create",
                         {"username": "second", "password": "second-password"},
                         headers=basic("first", "first-password"))
            self.assertFalse(self.ok(r)["user"]["is_admin"])
        finally:
            srv.stop()

    def test_default_no_permissions(self):
        srv = authzsrv.AuthzServer("default_none",
                                 args=["--default-permission", "no_permissions"]).start()
        try:
            srv.add_user("alice", PW)
            srv.add_user("bob", PW)
            a, b = basic("alice", PW), basic("bob", PW)
            e = srv.ok("POST", API + "experiments/create", {"name": "alices"},
                       headers=a)["experiment_id"]
            srv.ok("POST", API + "runs/create", {"experiment_id": e}, headers=a)
            r = srv.call("GET", API + "experiments/get", query={"experiment_id": e}, headers=b)
            self.denied(r)
            r = srv.ok("POST", API + "experiments/search", {"max_results": 100}, headers=b)
            self.assertEqual(r, {})  # not even Default
            names = [x["name"] for x in srv.ok("POST", API + "experiments/search",
                                               {"max_results": 100}, headers=a)["experiments"]]
            self.assertEqual(names, ["alices"])
            # A missing experiment gets the default, as MLflow: 403, not 404.
            self.denied(srv.call("GET", API + "experiments/get",
                                 query={"experiment_id": "424242"}, headers=b))
            self.error(srv.call("GET", API + "experiments/get",
                                query={"experiment_id": "424242"}, headers=srv.as_admin()),
                       404, "RESOURCE_DOES_NOT_EXIST")
            srv.ok("POST", API + "experiments/permissions/create",
                   {"experiment_id": e, "username": "bob", "permission": "READ"}, headers=a)
            srv.ok("GET", API + "experiments/get", query={"experiment_id": e}, headers=b)
            self.denied(srv.call("POST", API + "runs/create", {"experiment_id": e}, headers=b))
        finally:
            srv.stop()

    def test_invalid_default_is_refused_at_start(self):
        import subprocess
        p = subprocess.run([authzsrv.mltrackd_binary(), "--default-permission", "OWNER",
                            "--database-url", "host=/nonexistent"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("invalid default permission 'OWNER'", p.stderr)


if __name__ == "__main__":
    unittest.main()
