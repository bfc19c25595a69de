"""Model bundles are the registry's (docs/registry.md "Where bundles live"):
the generic artifact API may read them but never write or delete them, in
any spelling of the path and through the /ajax-api mirror; bundles are
uploaded through PUT /api/2.0/mltrack/bundles/<sha256>.tar, which refuses a
body that does not hash to its name and leaves nothing behind when it
refuses; and a bundle's artifact row goes when the last live version made
from it is deleted (model-versions/delete, registered-models/delete), not
before."""

import hashlib
import os
import socket
import time
import unittest

import mtapi
from mtapi import call, post, uniq
from test_gates import bundle_bytes, ok

setUpModule = mtapi.wait_ready

STORE = os.environ.get("MLTRACK_TEST_ARTIFACTS", "")
ART = "/api/2.0/mlflow-artifacts/artifacts/"
AJAX_ART = "/ajax-api/2.0/mlflow-artifacts/artifacts/"
BUNDLES = "/api/2.0/mltrack/bundles/"


def put_bundle(data, name=None, prefix=BUNDLES):
    sha = hashlib.sha256(data).hexdigest()
    return call("PUT", prefix + "%s.tar" % (name or sha), raw=data,
                headers={"Content-Type": "application/octet-stream"})


def new_bundle(tag=None):
    data = bundle_bytes({"w.bin": os.urandom(64), "tag.txt": (tag or uniq("b")).encode()})
    r = put_bundle(data)
    assert r.status == 200, (r.status, r.body)
    return hashlib.sha256(data).hexdigest(), data


def register(name, sha):
    r = post("model-versions/create", {
        "name": name, "source": "mlflow-artifacts:/mltrack-bundles/%s.tar" % sha})
    return ok(r)["model_version"]["version"]


def raw_get(path):
    """GET returning the raw bytes (mtapi decodes text)."""
    import http.client
    conn = http.client.HTTPConnection(mtapi._HOST, mtapi._PORT, timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def verifies(sha):
    status, data = raw_get(ART + "mltrack-bundles/%s.tar" % sha)
    return status == 200 and hashlib.sha256(data).hexdigest() == sha


def tmp_files():
    d = os.path.join(STORE, "tmp")
    return set(os.listdir(d)) if os.path.isdir(d) else set()


def model():
    name = uniq("bundled")
    ok(post("registered-models/create", {"name": name}))
    return name


class TestArtifactApiRefuses(mtapi.ApiTestCase):
    def setUp(self):
        self.name = model()
        self.sha, self.data = new_bundle()
        register(self.name, self.sha)
        self.sha2, _ = new_bundle()
        register(self.name, self.sha2)

    def test_delete_under_the_prefix_is_refused_in_every_spelling(self):
        spellings = [
            "mltrack-bundles", "mltrack-bundles/", "./mltrack-bundles",
            "mltrack-bundles/.", "mltrack-bundles/%s.tar" % self.sha,
            "./mltrack-bundles/./%s.tar" % self.sha,
            "mltrack%%2Dbundles/%s.tar" % self.sha, "mltrack%2Dbundles",
        ]
        for sp in spellings:
            for prefix in (ART, AJAX_ART):
                r = call("DELETE", prefix + sp)
                self.assertError(r, 403, "PERMISSION_DENIED", "mltrack-bundles")
                self.assertIn("registry", r.body["message"])
        for sha in (self.sha, self.sha2):
            self.assertTrue(verifies(sha), sha)
        listing = ok(call("GET", "/api/2.0/mlflow-artifacts/artifacts",
                          query={"path": "mltrack-bundles"}))
        paths = {f["path"] for f in listing.get("files", [])}
        self.assertIn("%s.tar" % self.sha, paths)

    def test_put_under_the_prefix_is_refused(self):
        other = bundle_bytes({"evil.bin": b"x" * 100})
        for prefix in (ART, AJAX_ART):
            for sp in ("mltrack-bundles/%s.tar" % self.sha,
                       "./mltrack-bundles/%s.tar" % self.sha,
                       "mltrack-bundles/new.tar", "mltrack-bundles"):
                r = call("PUT", prefix + sp, raw=other,
                         headers={"Content-Type": "application/octet-stream"})
                self.assertError(r, 403, "PERMISSION_DENIED", "mltrack-bundles")
        self.assertTrue(verifies(self.sha))
        self.assertEqual(raw_get(ART + "mltrack-bundles/new.tar")[0], 404)

    def test_other_paths_still_work(self):
        # A path that only starts with the same letters is not the prefix.
        path = "mltrack-bundlesX/%s.txt" % uniq("f")
        self.assertEqual(call("PUT", ART + path, raw=b"hi").status, 200)
        self.assertEqual(call("DELETE", ART + path).status, 200)


class TestUploadRoute(mtapi.ApiTestCase):
    def test_good_repeated_and_wrong_digest(self):
        data = bundle_bytes({"a.bin": os.urandom(100)})
        sha = hashlib.sha256(data).hexdigest()
        before = tmp_files()
        r = put_bundle(data)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers.get("ETag"), '"%s"' % sha)
        self.assertTrue(verifies(sha))
        # Again: the same answer, nothing changes.
        r = put_bundle(data)
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(verifies(sha))
        # Through the mirror too.
        self.assertEqual(put_bundle(data, prefix="/ajax-api/2.0/mltrack/bundles/").status, 200)
        # A body that is not what the name says.
        other = "ab" * 32
        r = put_bundle(data, name=other)
        self.assertInvalid(r, [other, sha])
        self.assertEqual(raw_get(ART + "mltrack-bundles/%s.tar" % other)[0], 404)
        # Over an existing bundle's name: refused, the stored one intact.
        r = put_bundle(b"other bytes", name=sha)
        self.assertInvalid(r, sha)
        self.assertTrue(verifies(sha))
        self.assertEqual(tmp_files(), before)
        # The version registers from it.
        name = model()
        self.assertEqual(register(name, sha), "1")

    def test_bad_names(self):
        for bad in ("x.tar", ("AB" * 32) + ".tar", ("ab" * 32), ("ab" * 32) + ".tgz",
                    "sub/" + ("ab" * 32) + ".tar", ("ab" * 31) + ".tar", ""):
            r = call("PUT", BUNDLES + bad, raw=b"data")
            self.assertInvalid(r, "bundle")

    def test_short_body_leaves_nothing(self):
        data = bundle_bytes({"s.bin": os.urandom(2000)})
        sha = hashlib.sha256(data).hexdigest()
        before = tmp_files()
        s = socket.create_connection((mtapi._HOST, mtapi._PORT), timeout=30)
        s.sendall(("PUT %s%s.tar HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: application/octet-stream\r\n"
                   "Content-Length: %d\r\n\r\n" % (BUNDLES, sha, len(data))).encode()
                  + data[:1000])
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            reply += b
        s.close()
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply[:200])
        deadline = time.time() + 5
        while tmp_files() != before and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(tmp_files(), before)
        self.assertEqual(raw_get(ART + "mltrack-bundles/%s.tar" % sha)[0], 404)


class TestRegistryDelete(mtapi.ApiTestCase):
    def test_version_delete_removes_an_unreferenced_bundle(self):
        name = model()
        sha, _ = new_bundle()
        v = register(name, sha)
        keep, _ = new_bundle()
        register(name, keep)
        ok(call("DELETE", mtapi.API + "model-versions/delete", body={"name": name, "version": v}))
        self.assertEqual(raw_get(ART + "mltrack-bundles/%s.tar" % sha)[0], 404)
        self.assertTrue(verifies(keep))

    def test_a_bundle_registered_twice_stays_until_the_last_version_goes(self):
        a, b = model(), model()
        sha, _ = new_bundle()
        va = register(a, sha)
        vb1 = register(b, sha)
        vb2 = register(b, sha)
        ok(call("DELETE", mtapi.API + "model-versions/delete", body={"name": a, "version": va}))
        self.assertTrue(verifies(sha))
        ok(call("DELETE", mtapi.API + "model-versions/delete",
                body={"name": b, "version": vb1}))
        self.assertTrue(verifies(sha))
        # A deleted version does not count; the last live one does.
        ok(call("DELETE", mtapi.API + "model-versions/delete",
                body={"name": b, "version": vb2}))
        self.assertEqual(raw_get(ART + "mltrack-bundles/%s.tar" % sha)[0], 404)

    def test_model_delete_removes_its_bundles_but_not_shared_ones(self):
        a, b = model(), model()
        own, _ = new_bundle()
        shared, _ = new_bundle()
        register(a, own)
        register(a, own)
        register(a, shared)
        register(b, shared)
        ok(call("DELETE", mtapi.API + "registered-models/delete", body={"name": a}))
        self.assertEqual(raw_get(ART + "mltrack-bundles/%s.tar" % own)[0], 404)
        self.assertTrue(verifies(shared))
        ok(call("DELETE", mtapi.API + "registered-models/delete", body={"name": b}))
        self.assertEqual(raw_get(ART + "mltrack-bundles/%s.tar" % shared)[0], 404)

    def test_a_deleted_bundle_can_be_uploaded_and_registered_again(self):
        name = model()
        sha, data = new_bundle()
        v = register(name, sha)
        ok(call("DELETE", mtapi.API + "model-versions/delete", body={"name": name, "version": v}))
        r = post("model-versions/create", {
            "name": name, "source": "mlflow-artifacts:/mltrack-bundles/%s.tar" % sha})
        self.assertInvalid(r, "not been uploaded")
        self.assertEqual(put_bundle(data).status, 200)
        self.assertEqual(register(name, sha), "2")
        self.assertTrue(verifies(sha))


if __name__ == "__main__":
    unittest.main()
