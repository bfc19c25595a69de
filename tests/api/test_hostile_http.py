"""Hostile HTTP at the edge of the server, over raw sockets (issue 11, items 4
and 9): what a web page in the user's browser, a DNS-rebinding page or a
request smuggler can make mltrackd do.

Every probe is written byte by byte (no http.client: it would fix up or
refuse the very framing under test) and then:

  * the status is asserted, with an MLflow error body on every 4xx;
  * the server still answers /healthz on a new connection;
  * nothing was written: the experiment, run, artifact and registered model
    each probe aims at are read back (and, for probes whose old misreading
    created something, that it does not exist).

Probes:
  * cross-origin writes: CORS preflights from other origins get no grant;
    POST, PUT, PATCH and DELETE with a foreign Origin (another host, another
    port of the same host, "null") or Sec-Fetch-Site cross-site/same-site are
    refused with 403 PERMISSION_DENIED; a text/plain or form body without
    Origin is refused by its Content-Type;
  * Host: a name the server does not answer to (DNS rebinding), a missing or
    duplicated Host; the health endpoints stay open to probes;
  * %00 in artifact paths (model.txt%00.png overwrote model.txt) and in any
    path;
  * malformed chunked bodies on JSON endpoints (they were read as {} and made
    a stray run) and on artifact uploads;
  * more headers than the server keeps (64) with a Content-Length after them
    and a body that is a whole second request: 431 and the connection closed;
  * Content-Length with chunked, and Content-Length values that are not a
    number: 400 and the connection closed;
  * X-Content-Type-Options: nosniff and X-Frame-Options: DENY on every kind
    of answer: JSON, JSON errors, CivetWeb's own errors, artifact downloads
    (200, 206, 304, 416), uploads, /metrics, /health, /readyz, /version,
    the dashboard (with frame-ancestors 'none' in its CSP) and the
    refusals above.
And what must keep working: same-origin requests as the dashboard sends
them, clients that send no Origin (curl, MLflow's Python client, mltrack),
Host names localhost, 127.0.0.1 and [::1], reads from any origin (without a
CORS grant).  Allowed --cors-origin and --allowed-host settings are tested in
t0120-cors-hosts.sh with a server of their own.
"""

import json
import socket
import time
import unittest
import urllib.parse

import mtapi
from mtapi import API, uniq

HOST, PORT = mtapi._HOST, mtapi._PORT
HOSTHDR = "%s:%d" % (HOST, PORT)
SELF_ORIGIN = "http://%s" % HOSTHDR
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
FOREIGN = "http://evil.example"


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # [(lower-case name, value)]
        self.body = body

    def header(self, name):
        vals = [v for k, v in self.headers if k == name.lower()]
        return vals[0] if vals else None

    def has(self, name):
        return any(k == name.lower() for k, _ in self.headers)

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    def __repr__(self):
        return "%d %s" % (self.status, self.body[:200])


def _parse_one(buf, head, closed):
    """One whole response from the front of buf: (Resp, rest) or (None, buf)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None, buf
    lines = buf[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip().lower(), v.strip()))
    rest = buf[end + 4:]
    hd = dict(headers)
    if head or status in (204, 304) or 100 <= status < 200:
        return Resp(status, headers, b""), rest
    if "content-length" in hd:
        n = int(hd["content-length"])
        if len(rest) < n:
            return None, buf
        return Resp(status, headers, rest[:n]), rest[n:]
    if hd.get("transfer-encoding", "").lower() == "chunked":
        body, pos = b"", 0
        while True:
            eol = rest.find(b"\r\n", pos)
            if eol < 0:
                return None, buf
            size = int(rest[pos:eol].split(b";")[0], 16)
            if len(rest) < eol + 2 + size + 2:
                return None, buf
            body += rest[eol + 2:eol + 2 + size]
            pos = eol + 2 + size + 2
            if size == 0:
                return Resp(status, headers, body), rest[pos:]
    if not closed:
        return None, buf
    return Resp(status, headers, rest), b""


def exchange(data, head=False, quiet=0.3, total=20.0, half_close=False):
    """Send data on a new connection; read answers until the server closes
    it, or `quiet` seconds pass with nothing more after a whole answer.
    Returns ([Resp...], closed).  Interim 1xx answers are dropped."""
    s = socket.create_connection((HOST, PORT), timeout=total)
    responses, buf, closed = [], b"", False
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        deadline = time.time() + total
        while time.time() < deadline:
            while True:
                r, buf = _parse_one(buf, head, False)
                if r is None:
                    break
                if r.status >= 200:
                    responses.append(r)
            left = deadline - time.time()
            s.settimeout(max(0.05, min(quiet, left) if responses else left))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                if responses:
                    break
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
        while buf:
            r, buf = _parse_one(buf, head, closed)
            if r is None:
                break
            if r.status >= 200:
                responses.append(r)
    finally:
        s.close()
    return responses, closed


def build(method, path, headers=(), body=b"", host=HOSTHDR, length=True, close=True,
          version="HTTP/1.1"):
    """A request head (and body) as bytes.  headers: [(name, value)];
    host None leaves Host out; length adds Content-Length for a body."""
    if isinstance(body, str):
        body = body.encode()
    lines = ["%s %s %s" % (method, path, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    lines += ["%s: %s" % (k, v) for k, v in headers]
    if length and (body or method in ("POST", "PUT", "PATCH")):
        lines.append("Content-Length: %d" % len(body))
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def one(method, path, headers=(), body=b"", **kw):
    """One request on its own connection; the single answer."""
    head = method == "HEAD"
    responses, _ = exchange(build(method, path, headers, body, **kw), head=head)
    if len(responses) != 1:
        raise AssertionError("%s %s: %d answers: %r" % (method, path, len(responses), responses))
    return responses[0]


JSON_CT = [("Content-Type", "application/json")]


def api_json(method, endpoint, obj=None, headers=(), **kw):
    body = json.dumps(obj).encode() if obj is not None else b""
    return one(method, API + endpoint, list(headers) + (JSON_CT if obj is not None else []),
               body, **kw)


def api_get(endpoint, **query):
    return one("GET", API + endpoint + "?" + urllib.parse.urlencode(query))


def chunked(*pieces):
    """A well-formed chunked body from pieces."""
    out = b""
    for p in pieces:
        p = p.encode() if isinstance(p, str) else p
        out += b"%x\r\n" % len(p) + p + b"\r\n"
    return out + b"0\r\n\r\n"


class EdgeCase(unittest.TestCase):
    """Fixtures every probe aims at, and the checks after each."""

    @classmethod
    def setUpClass(cls):
        mtapi.wait_ready()
        cls.eid = mtapi.new_experiment()
        cls.rid = mtapi.new_run(cls.eid)
        cls.root = "%s/%s/artifacts" % (cls.eid, cls.rid)
        cls.model_url = PROXY + "/" + cls.root + "/model.txt"
        cls.model_bytes = b"the real model\n"
        r = mtapi.call("PUT", cls.model_url, raw=cls.model_bytes,
                       headers={"Content-Type": "application/octet-stream"})
        assert r.status == 200, r
        cls.rm = uniq("rm")
        r = mtapi.post("registered-models/create", {"name": cls.rm, "description": "orig"})
        assert r.status == 200, r
        cls.snap0 = cls.snapshot(cls)

    def snapshot(self):
        """Everything a probe could have changed, as read back over raw HTTP."""
        run = api_get("runs/get", run_id=self.rid)
        exp = api_get("experiments/get", experiment_id=self.eid)
        rm = api_get("registered-models/get", name=self.rm)
        art = one("GET", self.model_url)
        listing = one("GET", PROXY + "?" + urllib.parse.urlencode({"path": self.root}))
        for r in (run, exp, rm, art, listing):
            assert r.status == 200, r
        rj = rm.json()["registered_model"]
        return {
            "run": run.json(), "exp": exp.json(), "art": art.body,
            "rm": (rj.get("description"), rj.get("last_updated_timestamp")),
            "files": listing.json(),
        }

    def assertAlive(self, what):
        r = one("GET", "/healthz")
        self.assertEqual(r.status, 200, "server not healthy after %s" % what)

    def assertUnchanged(self, what):
        self.assertAlive(what)
        self.assertEqual(self.snapshot(), self.snap0, "%s changed something" % what)

    def assertError(self, r, status, code=None, what=""):
        self.assertEqual(r.status, status, "%s: %r" % (what, r))
        j = r.json()
        self.assertIsInstance(j, dict, "%s: no JSON error body: %r" % (what, r))
        self.assertIsInstance(j.get("message"), str, what)
        if code:
            self.assertEqual(j.get("error_code"), code, "%s: %r" % (what, r))
        self.assertSecurityHeaders(r, what)

    def assertSecurityHeaders(self, r, what):
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff",
                         "%s: no nosniff: %r" % (what, r.headers))
        self.assertEqual(r.header("X-Frame-Options"), "DENY",
                         "%s: no X-Frame-Options: %r" % (what, r.headers))

    def assertNoCors(self, r, what):
        for k, v in r.headers:
            self.assertFalse(k.startswith("access-control-"),
                             "%s: CORS header %s: %s" % (what, k, v))

    def experiment_exists(self, name):
        r = api_get("experiments/get-by-name", experiment_name=name)
        self.assertIn(r.status, (200, 404), r)
        return r.status == 200

    def runs_in(self, eid):
        """Every run id in an experiment (deleted ones too)."""
        ids, token = [], None
        while True:
            q = {"experiment_ids": [eid], "max_results": 1000, "run_view_type": "ALL"}
            if token:
                q["page_token"] = token
            r = api_json("POST", "runs/search", q)
            self.assertEqual(r.status, 200, r)
            j = r.json()
            ids += [x["info"]["run_id"] for x in j.get("runs", [])]
            token = j.get("next_page_token")
            if not token:
                return sorted(ids)


class TestCrossOrigin(EdgeCase):
    """A page on another origin, through the user's browser."""

    def test_preflights_get_no_grant(self):
        for origin in (FOREIGN, "http://localhost:3000", "http://127.0.0.1:1", "null",
                       "http://%s.evil.example" % HOST):
            for method in ("POST", "PUT", "DELETE", "PATCH"):
                what = "preflight %s from %s" % (method, origin)
                r = one("OPTIONS", API + "experiments/create",
                        [("Origin", origin), ("Access-Control-Request-Method", method),
                         ("Access-Control-Request-Headers", "content-type")])
                self.assertNoCors(r, what)
                self.assertError(r, 403, "PERMISSION_DENIED", what)
        r = one("OPTIONS", PROXY + "/" + self.root + "/model.txt",
                [("Origin", FOREIGN), ("Access-Control-Request-Method", "PUT")])
        self.assertNoCors(r, "artifact preflight")
        self.assertEqual(r.status, 403)
        self.assertUnchanged("preflights")

    def test_writes_with_a_foreign_origin(self):
        name = uniq("xo")
        foreign = (FOREIGN, "http://localhost:%d" % PORT, "http://localhost:3000",
                   "http://127.0.0.1:%d" % (PORT + 1 if PORT < 65535 else PORT - 1),
                   "null", "https://evil.example:%d" % PORT, "http://[::1]:3000",
                   "http://127.0.0.1:%d@evil.example" % PORT, "file://", "garbage")
        for origin in foreign:
            hdr = [("Origin", origin)]
            cases = [
                ("POST", API + "experiments/create", JSON_CT, json.dumps({"name": name})),
                ("POST", API + "runs/create", JSON_CT, json.dumps({"experiment_id": self.eid})),
                ("POST", API + "experiments/update", JSON_CT,
                 json.dumps({"experiment_id": self.eid, "new_name": name})),
                ("POST", API + "runs/set-tag", JSON_CT,
                 json.dumps({"run_id": self.rid, "key": "pwned", "value": "1"})),
                ("PATCH", API + "registered-models/update", JSON_CT,
                 json.dumps({"name": self.rm, "description": "pwned"})),
                ("DELETE", API + "registered-models/delete", JSON_CT,
                 json.dumps({"name": self.rm})),
                ("PUT", self.model_url, [("Content-Type", "application/octet-stream")], "pwned"),
                ("DELETE", self.model_url, [], ""),
                # Simple requests (no preflight in a browser).
                ("POST", API + "experiments/create", [("Content-Type", "text/plain")],
                 json.dumps({"name": name})),
                ("POST", API + "experiments/create",
                 [("Content-Type", "application/x-www-form-urlencoded")], "name=" + name),
            ]
            for method, path, hdrs, body in cases:
                what = "%s %s with Origin %s" % (method, path, origin)
                r = one(method, path, hdr + hdrs, body)
                self.assertError(r, 403, "PERMISSION_DENIED", what)
                self.assertNoCors(r, what)
        self.assertFalse(self.experiment_exists(name))
        self.assertEqual(self.runs_in(self.eid), [self.rid])
        self.assertUnchanged("foreign-origin writes")

    def test_writes_marked_cross_site_by_the_browser(self):
        name = uniq("sfs")
        for site in ("cross-site", "same-site", "CROSS-SITE"):
            for origin in (None, SELF_ORIGIN):
                hdr = [("Sec-Fetch-Site", site)] + ([("Origin", origin)] if origin else [])
                for method, path, hdrs, body in (
                        ("POST", API + "experiments/create", JSON_CT, json.dumps({"name": name})),
                        ("DELETE", API + "registered-models/delete", JSON_CT,
                         json.dumps({"name": self.rm})),
                        ("PUT", self.model_url, [], "pwned"),
                        ("DELETE", self.model_url, [], "")):
                    what = "%s %s with Sec-Fetch-Site %s, Origin %s" % (method, path, site, origin)
                    self.assertError(one(method, path, hdr + hdrs, body), 403,
                                     "PERMISSION_DENIED", what)
        self.assertFalse(self.experiment_exists(name))
        self.assertUnchanged("Sec-Fetch-Site writes")

    def test_non_json_bodies_without_origin(self):
        """What a form or a text/plain fetch sends, minus Origin (a browser
        always sends it; a proxy might drop it): refused by Content-Type."""
        name = uniq("ct")
        for method, endpoint, ct, body in (
                ("POST", "experiments/create", "text/plain", json.dumps({"name": name})),
                ("POST", "experiments/create", "application/x-www-form-urlencoded", "name=" + name),
                ("POST", "experiments/create", "multipart/form-data; boundary=x",
                 '--x\r\nContent-Disposition: form-data; name="name"\r\n\r\n%s\r\n--x--\r\n' % name),
                ("POST", "experiments/create", None, json.dumps({"name": name})),
                ("PATCH", "registered-models/update", "text/plain",
                 json.dumps({"name": self.rm, "description": "pwned"})),
                ("PATCH", "registered-models/update", None,
                 json.dumps({"name": self.rm, "description": "pwned"})),
                ("DELETE", "registered-models/delete", "text/plain", json.dumps({"name": self.rm})),
                ("DELETE", "registered-models/delete", None, json.dumps({"name": self.rm}))):
            what = "%s %s with Content-Type %s" % (method, endpoint, ct)
            hdrs = [("Content-Type", ct)] if ct else []
            self.assertError(one(method, API + endpoint, hdrs, body), 400,
                             "INVALID_PARAMETER_VALUE", what)
        self.assertFalse(self.experiment_exists(name))
        self.assertUnchanged("non-JSON bodies")

    def test_reads_from_another_origin_get_no_grant(self):
        r = one("GET", API + "experiments/get?experiment_id=" + self.eid, [("Origin", FOREIGN)])
        self.assertEqual(r.status, 200, r)
        self.assertNoCors(r, "GET from a foreign origin")
        self.assertSecurityHeaders(r, "GET from a foreign origin")

    def test_same_origin_and_originless_clients_still_write(self):
        """The dashboard (same origin, with the headers Chromium sends) and
        clients that send no Origin at all."""
        variants = (
            [("Origin", SELF_ORIGIN), ("Sec-Fetch-Site", "same-origin"),
             ("Sec-Fetch-Mode", "cors"), ("Referer", SELF_ORIGIN + "/")],
            [("Origin", "http://LOCALHOST:%d" % PORT)],  # checked against Host below
            [],
            [("Sec-Fetch-Site", "none")],
            [("User-Agent", "mlflow-python-client/3.1.0")],
        )
        for i, extra in enumerate(variants):
            host = HOSTHDR
            if any(v.startswith("http://LOCALHOST") for _, v in extra):
                host = "localhost:%d" % PORT
            name = uniq("ok%d" % i)
            r = api_json("POST", "experiments/create", {"name": name}, extra, host=host)
            self.assertEqual(r.status, 200, "%r: %r" % (extra, r))
            self.assertNoCors(r, "same-origin write")
            self.assertTrue(self.experiment_exists(name))
        # JSON with a charset, as some clients send it.
        r = one("POST", API + "experiments/create",
                [("Content-Type", "application/json; charset=utf-8")],
                json.dumps({"name": uniq("cs")}))
        self.assertEqual(r.status, 200, r)
        # PATCH and DELETE with their JSON body, and an artifact PUT of any
        # type, same origin.
        rm = uniq("rm")
        self.assertEqual(api_json("POST", "registered-models/create", {"name": rm}).status, 200)
        same = [("Origin", SELF_ORIGIN), ("Sec-Fetch-Site", "same-origin")]
        r = api_json("PATCH", "registered-models/update", {"name": rm, "description": "d"}, same)
        self.assertEqual(r.status, 200, r)
        r = api_json("DELETE", "registered-models/delete", {"name": rm}, same)
        self.assertEqual(r.status, 200, r)
        url = PROXY + "/" + self.root + "/same-origin.csv"
        r = one("PUT", url, same + [("Content-Type", "text/csv")], "a,b\n1,2\n")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(one("GET", url).body, b"a,b\n1,2\n")
        self.assertEqual(one("DELETE", url, same).status, 200)
        # An OPTIONS that is not a preflight is an ordinary request: 405.
        r = one("OPTIONS", API + "experiments/create")
        self.assertError(r, 405, "METHOD_NOT_ALLOWED", "plain OPTIONS")
        self.assertNoCors(r, "plain OPTIONS")


class TestHost(EdgeCase):
    """DNS rebinding: a name the attacker controls, pointed at 127.0.0.1."""

    BAD = ("evil.example", "evil.example:%d" % PORT, "127.0.0.1.nip.io:%d" % PORT,
           "localhost.evil.example", "mltrack.local", "127.0.0.1.", "0x7f.0.0.1")

    def test_foreign_names_are_refused_everywhere(self):
        name = uniq("dns")
        for host in self.BAD:
            for method, path, hdrs, body in (
                    ("GET", API + "experiments/get?experiment_id=" + self.eid, [], b""),
                    ("GET", API + "registered-models/search", [], b""),
                    ("GET", self.model_url, [], b""),
                    ("GET", "/", [], b""),
                    ("GET", "/js/app.js", [], b""),
                    ("GET", "/metrics", [], b""),
                    ("POST", API + "experiments/create", JSON_CT, json.dumps({"name": name})),
                    ("POST", API + "experiments/create",
                     JSON_CT + [("Origin", "http://" + host), ("Sec-Fetch-Site", "same-origin")],
                     json.dumps({"name": name})),
                    ("PUT", self.model_url, [], b"pwned"),
                    ("DELETE", API + "registered-models/delete", JSON_CT,
                     json.dumps({"name": self.rm}))):
                what = "%s %s with Host %s" % (method, path, host)
                r = one(method, path, hdrs, body, host=host)
                self.assertError(r, 403, "PERMISSION_DENIED", what)
                self.assertNotIn(b"the real model", r.body)
        self.assertFalse(self.experiment_exists(name))
        self.assertUnchanged("foreign Host names")

    def test_missing_or_repeated_host(self):
        name = uniq("nohost")
        body = json.dumps({"name": name})
        for what, req in (
                ("no Host", build("POST", API + "experiments/create", JSON_CT, body, host=None)),
                ("empty Host", build("POST", API + "experiments/create", JSON_CT, body, host="")),
                ("two Hosts", build("POST", API + "experiments/create",
                                    [("Host", HOSTHDR)] + JSON_CT, body)),
                ("Host with a path", build("POST", API + "experiments/create", JSON_CT, body,
                                           host=HOSTHDR + "/x")),
                ("Host with userinfo", build("POST", API + "experiments/create", JSON_CT, body,
                                             host="a@" + HOSTHDR)),
                ("HTTP/1.0 without Host", build("GET", API + "experiments/get?experiment_id=0",
                                                host=None, version="HTTP/1.0"))):
            responses, _ = exchange(req)
            self.assertEqual(len(responses), 1, what)
            self.assertError(responses[0], 400, "INVALID_PARAMETER_VALUE", what)
        self.assertFalse(self.experiment_exists(name))
        self.assertUnchanged("missing Host")

    def test_local_names_are_answered(self):
        for host in ("127.0.0.1:%d" % PORT, "localhost:%d" % PORT, "LocalHost:%d" % PORT,
                     "[::1]:%d" % PORT, "127.0.0.1", "localhost", "[0:0:0:0:0:0:0:1]:%d" % PORT):
            r = one("GET", API + "experiments/get?experiment_id=" + self.eid, host=host)
            self.assertEqual(r.status, 200, "Host %s: %r" % (host, r))

    def test_health_probes_need_no_host(self):
        """Liveness and readiness answer whatever Host a probe sends (they
        hold no data); everything else does not."""
        for path in ("/healthz", "/readyz", "/health", "/version"):
            for host in ("10.1.2.3:%d" % PORT, "evil.example", None):
                r = one("GET", path, host=host)
                self.assertEqual(r.status, 200, "%s with Host %s: %r" % (path, host, r))
                self.assertSecurityHeaders(r, path)


ART_NUL = ("model.txt%00.png", "model.txt%00", "model.txt%00/x", "%00model.txt")


class TestNul(EdgeCase):
    def test_nul_in_artifact_paths(self):
        base = PROXY + "/" + self.root + "/"
        for tail in ART_NUL:
            url = base + tail
            for method, body in (("PUT", b"pwned"), ("GET", b""), ("HEAD", b""),
                                 ("DELETE", b"")):
                r = one(method, url, [], body)
                if method == "HEAD":
                    self.assertEqual(r.status, 400, "HEAD %s" % url)
                    self.assertSecurityHeaders(r, "HEAD %s" % url)
                else:
                    self.assertError(r, 400, "INVALID_PARAMETER_VALUE", "%s %s" % (method, url))
                    self.assertNotIn(b"the real model", r.body)
        self.assertUnchanged("%00 in artifact paths")

    def test_nul_in_any_path(self):
        for path in (API + "runs/get%00x?run_id=" + self.rid, API + "experiments/get%00",
                     "/%00", "/runs/%00", "/js/app.js%00.html", "/healthz%00",
                     "/ajax-api/2.0/mlflow/runs/get%00?run_id=" + self.rid):
            self.assertError(one("GET", path), 400, "INVALID_PARAMETER_VALUE", "GET " + path)
        self.assertError(one("POST", API + "experiments/create%00", JSON_CT,
                             json.dumps({"name": uniq("nul")})), 400, None, "POST %00")
        self.assertUnchanged("%00 in paths")

    def test_escaped_paths_still_work(self):
        """Percent-encoding is decoded once, as before."""
        url = PROXY + "/" + self.root + "/dir%20with%20space/caf%C3%A9.txt"
        self.assertEqual(one("PUT", url, [], b"ok").status, 200)
        r = one("GET", url)
        self.assertEqual((r.status, r.body), (200, b"ok"))
        r = one("GET", PROXY + "?" + urllib.parse.urlencode({"path": self.root}))
        self.assertIn("dir with space", json.dumps(r.json()))
        r = one("GET", API + "runs%2Fget?run_id=" + self.rid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(one("DELETE", url).status, 200)


def chunked_request(method, path, body, headers=JSON_CT):
    return build(method, path, list(headers) + [("Transfer-Encoding", "chunked")], body,
                 length=False, close=False)


BAD_CHUNKS = (
    ("size not hex", b"zz\r\n{}\r\n0\r\n\r\n"),
    ("negative size", b"-2\r\n{}\r\n0\r\n\r\n"),
    ("0x prefix", b"0x2\r\n{}\r\n0\r\n\r\n"),
    ("space in size", b"2 \r\n{}\r\n0\r\n\r\n"),
    ("size too long", b"1" * 70 + b"\r\n{}\r\n0\r\n\r\n"),
    ("data longer than size", b"1\r\n{}\r\n0\r\n\r\n"),
    ("data shorter than size", b"3\r\n{}\r\n0\r\n\r\n"),
    ("no CRLF after data", b"2\r\n{}0\r\n\r\n"),
    ("LF only", b"2\n{}\n0\n\n"),
    ("empty size line", b"\r\n{}\r\n0\r\n\r\n"),
)


class TestChunked(EdgeCase):
    def check_json_endpoint(self, endpoint, body_obj):
        for what, raw in BAD_CHUNKS + (
                ("valid chunk then garbage", chunked(json.dumps(body_obj))[:-5] + b"zz\r\n\r\n"),):
            responses, closed = exchange(chunked_request("POST", API + endpoint, raw), quiet=2)
            what = "POST %s, chunked body: %s" % (endpoint, what)
            self.assertEqual(len(responses), 1, "%s: %r" % (what, responses))
            self.assertError(responses[0], 400, None, what)
            self.assertTrue(closed, "%s: connection left open" % what)
        # The last chunk never comes: end of stream.
        for what, raw in (("no last chunk", b"2\r\n{}\r\n"), ("cut in a chunk", b"10\r\n{}"),
                          ("cut in the size", b"2")):
            responses, _ = exchange(chunked_request("POST", API + endpoint, raw), half_close=True)
            what = "POST %s, chunked body: %s" % (endpoint, what)
            self.assertEqual(len(responses), 1, "%s: %r" % (what, responses))
            self.assertError(responses[0], 400, None, what)

    def test_runs_create(self):
        """A malformed chunked body was read as {} and made a stray run in
        the Default experiment."""
        before = self.runs_in("0")
        self.check_json_endpoint("runs/create", {"experiment_id": self.eid})
        self.assertEqual(self.runs_in("0"), before, "stray runs in the Default experiment")
        self.assertEqual(self.runs_in(self.eid), [self.rid])
        self.assertUnchanged("chunked runs/create")

    def test_other_json_endpoints(self):
        name = uniq("ch")
        self.check_json_endpoint("experiments/create", {"name": name})
        self.check_json_endpoint("runs/set-tag", {"run_id": self.rid, "key": "k", "value": "v"})
        self.assertFalse(self.experiment_exists(name))
        self.assertUnchanged("chunked JSON bodies")

    def test_artifact_uploads(self):
        for what, raw in BAD_CHUNKS + (("valid chunk then garbage", b"5\r\npwned\r\nzz\r\n\r\n"),):
            for url in (self.model_url, PROXY + "/" + self.root + "/chunk-new.bin"):
                responses, closed = exchange(chunked_request("PUT", url, raw, headers=()),
                                             quiet=2)
                w = "PUT %s, chunked body: %s" % (url, what)
                self.assertEqual(len(responses), 1, "%s: %r" % (w, responses))
                self.assertError(responses[0], 400, None, w)
                self.assertTrue(closed, "%s: connection left open" % w)
        responses, _ = exchange(chunked_request("PUT", self.model_url, b"5\r\npwned\r\n",
                                                headers=()), half_close=True)
        self.assertEqual([r.status for r in responses], [400])
        self.assertEqual(one("GET", PROXY + "/" + self.root + "/chunk-new.bin").status, 404)
        self.assertUnchanged("chunked uploads")

    def test_well_formed_chunked_bodies_still_work(self):
        name = uniq("okchunk")
        body = json.dumps({"name": name})
        responses, _ = exchange(chunked_request("POST", API + "experiments/create",
                                                chunked(body[:5], body[5:]))
                                + build("GET", "/healthz"))
        self.assertEqual([r.status for r in responses], [200, 200], responses)
        self.assertTrue(self.experiment_exists(name))
        url = PROXY + "/" + self.root + "/chunked-ok.bin"
        responses, _ = exchange(chunked_request("PUT", url, chunked("abc", "def"), headers=())
                                + build("GET", url))
        self.assertEqual([(r.status, r.body[:6]) for r in responses][1], (200, b"abcdef"))
        self.assertEqual(one("DELETE", url).status, 200)


def smuggled(name):
    """A whole second request, carried as the first one's body."""
    return build("POST", API + "experiments/create", JSON_CT, json.dumps({"name": name}),
                 close=False)


class TestFraming(EdgeCase):
    def test_more_headers_than_kept(self):
        """Headers after the 64th were dropped, Content-Length with them, so
        the body was read as a second request."""
        for pad in (64, 70, 200):
            name = uniq("h%d" % pad)
            second = smuggled(name)
            hdrs = [("X-Pad-%d" % i, "x") for i in range(pad)]
            hdrs += JSON_CT + [("Content-Length", str(len(second)))]
            req = build("POST", API + "experiments/create", hdrs, second, length=False,
                        close=False)
            responses, closed = exchange(req, quiet=2)
            what = "%d padding headers" % pad
            self.assertEqual(len(responses), 1, "%s: %r" % (what, responses))
            self.assertError(responses[0], 431, None, what)
            self.assertTrue(closed, "%s: connection left open" % what)
            self.assertFalse(self.experiment_exists(name), what)
        # Up to the limit, requests are answered.
        hdrs = [("X-Pad-%d" % i, "x") for i in range(58)]
        r = api_json("POST", "experiments/create", {"name": uniq("pad")}, hdrs)
        self.assertEqual(r.status, 200, r)
        self.assertUnchanged("many headers")

    def test_content_length_with_chunked(self):
        name = uniq("clte")
        second = smuggled(uniq("clte2"))
        body = chunked(json.dumps({"name": name})) + second
        for te in ("chunked", "Chunked"):
            for order in (0, 1):
                cl = ("Content-Length", str(len(body) - len(second)))
                te_h = ("Transfer-Encoding", te)
                hdrs = JSON_CT + ([cl, te_h] if order else [te_h, cl])
                req = build("POST", API + "experiments/create", hdrs, body, length=False,
                            close=False)
                responses, closed = exchange(req, quiet=2)
                what = "Content-Length and Transfer-Encoding: %s" % te
                self.assertEqual(len(responses), 1, "%s: %r" % (what, responses))
                self.assertError(responses[0], 400, None, what)
                self.assertTrue(closed, "%s: connection left open" % what)
        self.assertFalse(self.experiment_exists(name))
        self.assertUnchanged("CL + TE")

    def test_content_length_that_is_not_a_number(self):
        name = uniq("cl")
        body = json.dumps({"name": name}).encode()
        for what, hdrs in (
                ("trailing junk", [("Content-Length", "%dx" % len(body))]),
                ("sign", [("Content-Length", "+%d" % len(body))]),
                ("two values", [("Content-Length", "%d, %d" % (len(body), len(body)))]),
                ("two headers", [("Content-Length", str(len(body))),
                                 ("Content-Length", str(len(body) + 10))]),
                ("two equal headers", [("Content-Length", str(len(body)))] * 2),
                ("hex", [("Content-Length", hex(len(body)))]),
                ("huge", [("Content-Length", "9" * 30)]),
                ("TE identity", [("Content-Length", str(len(body))),
                                 ("Transfer-Encoding", "identity")]),
                ("TE twice", [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")]),
                ("TE list", [("Transfer-Encoding", "gzip, chunked")])):
            req = build("POST", API + "experiments/create", JSON_CT + hdrs, body, length=False,
                        close=False)
            responses, closed = exchange(req, quiet=2)
            self.assertEqual(len(responses), 1, "%s: %r" % (what, responses))
            self.assertTrue(400 <= responses[0].status < 500, "%s: %r" % (what, responses))
            if responses[0].status != 411:
                self.assertError(responses[0], 400, None, what)
            self.assertTrue(closed, "%s: connection left open" % what)
        self.assertFalse(self.experiment_exists(name))
        self.assertUnchanged("bad Content-Length")

    def test_keep_alive_still_works(self):
        reqs = b"".join(build("GET", "/healthz", close=False) for _ in range(3))
        reqs += build("POST", API + "experiments/create", JSON_CT,
                      json.dumps({"name": uniq("ka")}), close=False)
        reqs += build("GET", "/healthz")
        responses, _ = exchange(reqs)
        self.assertEqual([r.status for r in responses], [200] * 5)


class TestSecurityHeaders(EdgeCase):
    """nosniff and framing protection on every kind of answer."""

    def check(self, what, r, status=None):
        if status is not None:
            self.assertEqual(r.status, status, "%s: %r" % (what, r))
        self.assertSecurityHeaders(r, what)

    def test_api_answers(self):
        self.check("JSON 200", api_get("experiments/get", experiment_id=self.eid), 200)
        self.check("JSON 404", api_get("experiments/get", experiment_id="999999999"), 404)
        self.check("JSON 400", one("GET", API + "runs/get"), 400)
        self.check("no endpoint", one("GET", API + "nope"), 404)
        self.check("405", one("PUT", API + "runs/get", JSON_CT, "{}"), 405)
        self.check("HEAD", one("HEAD", API + "experiments/get?experiment_id=" + self.eid), 200)
        self.check("ajax", one("GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id="
                               + self.eid), 200)
        self.check("413", one("POST", API + "experiments/create",
                              JSON_CT + [("Content-Length", str(64 << 20))], b"",
                              length=False), 413)

    def test_system_answers(self):
        for path in ("/healthz", "/readyz", "/health", "/version", "/metrics"):
            self.check(path, one("GET", path), 200)

    def test_civetweb_own_errors(self):
        for what, req in (
                ("bad request line", b"GARBAGE\r\n\r\n"),
                ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: %s\r\n\r\n" % HOSTHDR.encode()),
                ("bad TE", b"POST /x HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: gzip\r\n\r\n"
                 % HOSTHDR.encode()),
                ("long URI", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")):
            responses, _ = exchange(req, quiet=1)
            self.assertEqual(len(responses), 1, "%s: %r" % (what, responses))
            self.assertTrue(400 <= responses[0].status < 600, what)
            self.check(what, responses[0])

    def test_artifact_answers(self):
        url = self.model_url
        full = one("GET", url)
        self.check("download", full, 200)
        etag = full.header("ETag")
        self.check("range", one("GET", url, [("Range", "bytes=0-2")]), 206)
        self.check("304", one("GET", url, [("If-None-Match", etag)]), 304)
        self.check("416", one("GET", url, [("Range", "bytes=900-")]), 416)
        self.check("HEAD", one("HEAD", url), 200)
        self.check("missing", one("GET", PROXY + "/" + self.root + "/nope"), 404)
        self.check("list", one("GET", PROXY + "?path=" + self.root), 200)
        up = PROXY + "/" + self.root + "/hdr.bin"
        self.check("upload", one("PUT", up, [], b"x"), 200)
        data = b"y" * 1000
        responses, _ = exchange(build("PUT", up, [("Expect", "100-continue")], data))
        self.assertEqual(len(responses), 1)
        self.check("upload after 100-continue", responses[0], 200)
        self.check("delete", one("DELETE", up), 200)

    def test_dashboard_answers(self):
        r = one("GET", "/")
        self.check("index", r, 200)
        csp = r.header("Content-Security-Policy") or ""
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertIn("default-src 'self'", csp)
        js = one("GET", "/js/app.js")
        self.check("js", js, 200)
        self.check("js 304", one("GET", "/js/app.js", [("If-None-Match", js.header("ETag"))]), 304)
        self.check("page path", one("GET", "/runs/abc"), 200)
        self.check("web 404", one("GET", "/nope.js"), 404)
        self.check("web 405", one("POST", "/index.html", JSON_CT, "{}"), 405)

    def test_refusals(self):
        self.check("bad host", one("GET", "/", host="evil.example"), 403)
        self.check("foreign origin", api_json("POST", "experiments/create", {"name": "x"},
                                              [("Origin", FOREIGN)]), 403)
        self.check("preflight", one("OPTIONS", API + "runs/create",
                                    [("Origin", FOREIGN),
                                     ("Access-Control-Request-Method", "POST")]), 403)
        self.check("nul", one("GET", "/%00"), 400)
        responses, _ = exchange(build("GET", "/healthz", [("X-%d" % i, "x") for i in range(70)]))
        self.check("431", responses[0], 431)


class TestAccessLog(EdgeCase):
    """The access log prints the decoded path: an escaped line break must not
    start a line of its own (a forged entry), nor an escape byte reach the
    terminal of whoever tails the log."""

    def test_control_bytes_in_paths_cannot_forge_log_lines(self):
        import os
        log = os.environ.get("MLTRACK_TEST_LOG")
        if not log:
            self.skipTest("MLTRACK_TEST_LOG is not set (tests/run-api.sh sets it)")
        marker = uniq("forged")
        for path in ("/api/2.0/mlflow/experiments/get%0a" + marker + "%20200%200.1ms",
                     "/no-such-page%0d%0a" + marker + "%1b[2J",
                     "/api/2.0/mlflow/runs/get%0a" + marker):
            r = one("GET", path)
            self.assertLess(r.status, 500, r)
        self.assertAlive("control bytes in paths")
        time.sleep(0.2)
        with open(log, "rb") as f:
            lines = f.read().split(b"\n")
        hits = [l for l in lines if marker.encode() in l]
        self.assertTrue(hits, "the probes were not logged")
        for l in hits:
            self.assertFalse(l.startswith(marker.encode()), "forged log line: %r" % l)
            self.assertNotIn(b"\x1b", l, "escape byte in the log: %r" % l)
            self.assertNotIn(b"\r", l, "carriage return in the log: %r" % l)


if __name__ == "__main__":
    unittest.main()
