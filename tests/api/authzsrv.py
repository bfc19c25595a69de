"""authzsrv: what the authorization suites add to authsrv.AuthServer.

An AuthzServer is an authsrv.AuthServer (a private mltrackd on a database of
its own, stopped with its exit status and log checked) whose first user, an
admin, is created through MLflow's users/create while no user exists, which
turns authentication on at once.  Other users are written straight into the
database with a cheap password hash (authsrv.password_hash: PBKDF2 with 1000
iterations, in the stored format lib/mt_auth.c reads, which takes its
iteration count from the hash), so a suite pays no 600k-iteration KDF per
user or per wrong password; users/create, which hashes for real, is tested
where it is the subject.

Requests take their credentials as headers: basic(user, password) and
bearer(token) make them.
"""

import base64
import os
import subprocess
import uuid

import authsrv

API = "/api/2.0/mlflow/"
MLTRACK = "/api/2.0/mltrack/"


def mltrackd_binary():
    return os.path.join(os.path.dirname(os.environ.get("MLTRACK_CLI", "")), "mltrackd")


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


password_hash = authsrv.password_hash
sql_str = authsrv.sql_str


def basic(user, password):
    return {"Authorization": authsrv.basic(user, password)}


def bearer(token):
    return {"Authorization": "Bearer " + token}


def user_of(headers):
    """The user name of basic() headers."""
    return base64.b64decode(headers["Authorization"].split()[1]).decode().split(":")[0]


def uniq(prefix="az"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


class AuthzServer(authsrv.AuthServer):
    def __init__(self, name, args=(), admin=("root", "root-password-1")):
        super().__init__(name, args)
        self.admin = admin

    def start(self):
        super().start()
        if self.admin:
            try:
                r = self.call("POST", API + "users/create",
                              {"username": self.admin[0], "password": self.admin[1]})
                if r.status != 200 or not r.body["user"]["is_admin"]:
                    raise AssertionError("the first user: %r" % (r,))
            except BaseException:
                self.stop()
                raise
        return self

    def psql(self, sql):
        return self.sql(sql)

    def add_user(self, username, password, admin=False):
        """A user with a cheap hash (authentication is on already); its id."""
        return int(self.sql(
            "INSERT INTO users (username, password_hash, is_admin, created_at, updated_at) "
            "VALUES (%s, %s, %s, 0, 0) RETURNING id" % (
                sql_str(username), sql_str(password_hash(password)),
                "true" if admin else "false")))

    def call(self, method, path, body=None, query=None, headers=None, raw=None):
        return super().call(method, path, body=body, query=query, headers=headers, raw=raw)

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
        """A token created by the user (password login): (id, secret)."""
        body = {"name": name or uniq("tok")}
        if scope is not None:
            body["scope"] = scope
        if days is not None:
            body["expires_in_days"] = days
        b = self.ok("POST", MLTRACK + "auth/tokens/create", body, headers=user_headers)
        return b["token"]["id"], b["secret"]
