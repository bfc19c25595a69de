"""The artifact proxy (/api/2.0/mlflow-artifacts/...) and artifacts/list on the
content-addressed store (MLFLOW-API.md section 5, DESIGN.md section 6)."""

import hashlib
import http.client
import os
import socket
import tempfile
import unittest
import urllib.parse

import mtapi
from mtapi import new_experiment, new_run

setUpModule = mtapi.wait_ready

PROXY = "/api/2.0/mlflow-artifacts/artifacts"
STORE = os.environ.get("MLTRACK_TEST_ARTIFACTS", "")


def raw(method, path, data=None, headers=None):
    """(status, headers, body bytes); the body may be cut short (IncompleteRead)."""
    conn = http.client.HTTPConnection(mtapi._HOST, mtapi._PORT, timeout=30)
    try:
        conn.request(method, path, body=data, headers=headers or {})
        r = conn.getresponse()
        try:
            body = r.read()
        except http.client.IncompleteRead as e:
            body = e.partial
        return r.status, r.headers, body
    finally:
        conn.close()


def put(path, data, ctype="application/octet-stream"):
    return raw("PUT", PROXY + "/" + urllib.parse.quote(path), data, {"Content-Type": ctype})


def get(path):
    return raw("GET", PROXY + "/" + urllib.parse.quote(path))


def blobs():
    """Every file in the store's blob tree."""
    out = set()
    for d, _, files in os.walk(os.path.join(STORE, "blobs")):
        out.update(os.path.join(d, f) for f in files)
    return out


def tmp_files():
    return os.listdir(os.path.join(STORE, "tmp"))


class TestArtifacts(mtapi.ApiTestCase):
    def setUp(self):
        self.eid = new_experiment()
        self.rid = new_run(experiment_id=self.eid)
        self.root = "%s/%s/artifacts" % (self.eid, self.rid)

    def test_round_trip_by_digest(self):
        for name, data in (("small.txt", b"hello artifacts\n"), ("empty.bin", b""),
                           ("big.bin", os.urandom(3 * 1024 * 1024 + 17))):
            with self.subTest(name=name):
                st, ph, body = put(self.root + "/" + name, data)
                self.assertEqual(st, 200, body)
                self.assertEqual(mtapi.parse_json(body.decode()), {})
                # The upload's answer names the digest stored (for clients to check).
                self.assertEqual(ph["ETag"], '"%s"' % hashlib.sha256(data).hexdigest())
                st, h, got = get(self.root + "/" + name)
                self.assertEqual(st, 200)
                self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest())
                self.assertEqual(int(h["Content-Length"]), len(data))
                self.assertEqual(h["ETag"], '"%s"' % hashlib.sha256(data).hexdigest())
                self.assertIn(name, h["Content-Disposition"])
        self.assertEqual(get(self.root + "/small.txt")[1]["Content-Type"], "text/plain")

    def test_200mb_round_trip_streamed(self):
        """200 MB up and down without holding it in memory on either side."""
        size = 200 * 1024 * 1024
        block = 1024 * 1024
        want = hashlib.sha256()
        path = PROXY + "/" + urllib.parse.quote(self.root + "/big/200mb.bin")
        with tempfile.TemporaryFile() as f:
            for _ in range(size // block):
                chunk = os.urandom(block)
                want.update(chunk)
                f.write(chunk)
            f.seek(0)
            conn = http.client.HTTPConnection(mtapi._HOST, mtapi._PORT, timeout=120,
                                              blocksize=block)
            try:
                conn.request("PUT", path, body=f, headers={
                    "Content-Type": "application/octet-stream", "Content-Length": str(size)})
                r = conn.getresponse()
                body = r.read()
                self.assertEqual(r.status, 200, body[:200])
            finally:
                conn.close()
        digest = want.hexdigest()
        conn = http.client.HTTPConnection(mtapi._HOST, mtapi._PORT, timeout=120)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(int(r.headers["Content-Length"]), size)
            self.assertEqual(r.headers["ETag"], '"%s"' % digest)
            got, n = hashlib.sha256(), 0
            while True:
                chunk = r.read(block)
                if not chunk:
                    break
                got.update(chunk)
                n += len(chunk)
        finally:
            conn.close()
        self.assertEqual(n, size)
        self.assertEqual(got.hexdigest(), digest)
        self.assertEqual(raw("DELETE", path)[0], 200)

    def test_expect_100_continue_is_answered(self):
        data = os.urandom(2 * 1024 * 1024)
        with socket.create_connection((mtapi._HOST, mtapi._PORT), timeout=10) as s:
            # Twice on one connection: the answer after the interim one is
            # a whole, correct HTTP answer that keeps the connection usable.
            for name in ("expect1.bin", "expect2.bin"):
                path = PROXY + "/" + self.root + "/" + name
                s.sendall(("PUT %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n"
                           "Expect: 100-continue\r\n\r\n" % (path, len(data))).encode())
                # The interim answer comes before any byte of the body is sent.
                s.settimeout(5)
                interim = s.recv(25)
                self.assertEqual(interim, b"HTTP/1.1 100 Continue\r\n\r\n")
                s.sendall(data)
                s.settimeout(30)
                reply = b""
                while b"\r\n\r\n" not in reply:
                    reply += s.recv(4096)
                head, _, body = reply.partition(b"\r\n\r\n")
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                self.assertIn(('etag: "%s"' % hashlib.sha256(data).hexdigest()).encode(),
                              head.lower())
                self.assertIn(b"content-length: 2", head.lower())
                while len(body) < 2:
                    body += s.recv(4096)
                self.assertEqual(body, b"{}")
        for name in ("expect1.bin", "expect2.bin"):
            st, _, got = get(self.root + "/" + name)
            self.assertEqual((st, got == data), (200, True))

    def test_ranges(self):
        data = os.urandom(600 * 1024 + 3)  # spans several server chunks
        n = len(data)
        path = PROXY + "/" + self.root + "/r.bin"
        self.assertEqual(put(self.root + "/r.bin", data)[0], 200)
        cases = {"bytes=0-9": (0, 9), "bytes=10-": (10, n - 1), "bytes=-5": (n - 5, n - 1),
                 "bytes=5-5": (5, 5), "bytes=262140-262150": (262140, 262150),
                 "bytes=100-999999999": (100, n - 1), "bytes=-999999999": (0, n - 1)}
        for rng, (lo, hi) in cases.items():
            with self.subTest(range=rng):
                st, h, got = raw("GET", path, headers={"Range": rng})
                self.assertEqual(st, 206)
                self.assertEqual(got, data[lo:hi + 1])
                self.assertEqual(h["Content-Range"], "bytes %d-%d/%d" % (lo, hi, n))
                self.assertEqual(int(h["Content-Length"]), hi - lo + 1)
        for rng in ("bytes=%d-" % n, "bytes=%d-%d" % (n + 5, n + 9), "bytes=-0"):
            with self.subTest(range=rng):
                st, h, _ = raw("GET", path, headers={"Range": rng})
                self.assertEqual(st, 416)
                self.assertEqual(h["Content-Range"], "bytes */%d" % n)
        for rng in ("bytes=abc", "items=0-5", "bytes=5-1", "bytes=0-1,4-5"):
            with self.subTest(range=rng):  # not understood: the whole file
                st, _, got = raw("GET", path, headers={"Range": rng})
                self.assertEqual((st, got), (200, data))

    def test_if_none_match(self):
        data = b"cache me"
        put(self.root + "/c.txt", data)
        etag = '"%s"' % hashlib.sha256(data).hexdigest()
        st, h, got = raw("GET", PROXY + "/" + self.root + "/c.txt", headers={"If-None-Match": etag})
        self.assertEqual((st, got), (304, b""))
        self.assertEqual(h["ETag"], etag)
        st, _, got = raw("GET", PROXY + "/" + self.root + "/c.txt",
                         headers={"If-None-Match": '"0000"'})
        self.assertEqual((st, got), (200, data))

    def test_replacing_a_file(self):
        put(self.root + "/f.txt", b"one")
        put(self.root + "/f.txt", b"two")
        self.assertEqual(get(self.root + "/f.txt")[2], b"two")

    def test_missing_file_is_404(self):
        st, _, body = get(self.root + "/nothing.txt")
        self.assertEqual(st, 404)
        self.assertEqual(mtapi.parse_json(body.decode())["error_code"], "RESOURCE_DOES_NOT_EXIST")

    def test_proxy_listing_one_level(self):
        for p in ("a.txt", "sub/b.txt", "sub/deeper/c.txt", "sub2/d.txt"):
            self.assertEqual(put(self.root + "/" + p, p.encode())[0], 200)
        r = mtapi.call("GET", PROXY, query={"path": self.root})
        self.assertOk(r)
        files = sorted(r.body["files"], key=lambda f: f["path"])
        self.assertEqual(files, [{"path": "a.txt", "is_dir": False, "file_size": 5},
                                 {"path": "sub", "is_dir": True},
                                 {"path": "sub2", "is_dir": True}])
        r = mtapi.call("GET", PROXY, query={"path": self.root + "/sub"})
        self.assertEqual(sorted(f["path"] for f in r.body["files"]), ["b.txt", "deeper"])
        r = mtapi.call("GET", PROXY, query={"path": self.root + "/none"})
        self.assertOk(r)
        self.assertEqual(r.body, {})

    def test_run_listing_relative_to_run_root(self):
        put(self.root + "/model.pkl", b"m" * 10)
        put(self.root + "/sub/probe.txt", b"probe")
        r = mtapi.get("artifacts/list", run_id=self.rid)
        self.assertOk(r)
        self.assertEqual(r.body["root_uri"], "mlflow-artifacts:/%s" % self.root)
        self.assertEqual(sorted(r.body["files"], key=lambda f: f["path"]),
                         [{"path": "model.pkl", "is_dir": False, "file_size": 10},
                          {"path": "sub", "is_dir": True}])
        r = mtapi.get("artifacts/list", run_id=self.rid, path="sub")
        self.assertEqual(r.body["files"], [{"path": "sub/probe.txt", "is_dir": False,
                                            "file_size": 5}])
        self.assertNotFound(mtapi.get("artifacts/list", run_id="0" * 32))

    @unittest.skipUnless(STORE, "MLTRACK_TEST_ARTIFACTS not set")
    def test_same_bytes_stored_once(self):
        data = os.urandom(100000)
        other = new_run(experiment_id=self.eid)
        self.assertEqual(put(self.root + "/x.bin", data)[0], 200)
        before = blobs()
        self.assertEqual(put("%s/%s/artifacts/copy.bin" % (self.eid, other), data)[0], 200)
        self.assertEqual(put(self.root + "/again/x.bin", data)[0], 200)
        self.assertEqual(blobs(), before)
        sha = hashlib.sha256(data).hexdigest()
        self.assertIn(os.path.join(STORE, "blobs", sha[:2], sha[2:4], sha), before)

    @unittest.skipUnless(STORE, "MLTRACK_TEST_ARTIFACTS not set")
    def test_concurrent_uploads_of_the_same_bytes(self):
        import threading
        data = os.urandom(512 * 1024)
        sha = hashlib.sha256(data).hexdigest()
        results = []

        def upload(i):
            results.append(put("%s/conc/%d.bin" % (self.root, i), data)[0])

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 8)
        for i in range(8):
            self.assertEqual(hashlib.sha256(get("%s/conc/%d.bin" % (self.root, i))[2]).hexdigest(), sha)
        self.assertEqual([b for b in blobs() if b.endswith(sha)],
                         [os.path.join(STORE, "blobs", sha[:2], sha[2:4], sha)])
        self.assertEqual(tmp_files(), [])

    def test_traversal_and_bad_paths_refused(self):
        bad = ["..", "../x", "a/../../x", self.root + "/../../../etc/passwd",
               "a/..%2f..%2fx", "%2e%2e/x", "%252e%252e/x", "a\\b", "#x", "a//b", "C:/x",
               "x" * 2000, "a/" + "y" * 300]
        outside = set(os.listdir(os.path.dirname(STORE))) if STORE else set()
        for p in bad:
            with self.subTest(path=p):
                st, _, body = raw("PUT", PROXY + "/" + p.replace("#", "%23").replace("\\", "%5C"),
                                  b"evil")
                self.assertIn(st, (400,), body)
                self.assertEqual(mtapi.parse_json(body.decode())["error_code"],
                                 "INVALID_PARAMETER_VALUE")
                st, _, body = raw("GET", PROXY + "/" + p.replace("#", "%23"))
                self.assertIn(st, (400,), body)
        # (A %00 in the URL path is decoded by CivetWeb before mltrackd sees
        # it, so it is checked here, in the query that mltrackd decodes.)
        for q in ("../x", "/abs", "a/../..", "%2e%2e", "a\x00b", "a\x01b"):
            r = mtapi.call("GET", PROXY, query={"path": q})
            self.assertEqual(r.status, 400, q)
        if STORE:
            self.assertEqual(set(os.listdir(os.path.dirname(STORE))), outside)
            self.assertEqual(tmp_files(), [])

    def test_short_body_leaves_nothing(self):
        path = self.root + "/short.bin"
        before = blobs() if STORE else set()
        s = socket.create_connection((mtapi._HOST, mtapi._PORT), timeout=10)
        s.sendall(("PUT %s/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n"
                   % (PROXY, path)).encode() + b"only a little")
        s.shutdown(socket.SHUT_WR)
        try:
            s.recv(4096)
        except OSError:
            pass
        s.close()
        mtapi.wait_ready()
        self.assertEqual(get(path)[0], 404)
        if STORE:
            self.assertEqual(blobs(), before)
            self.assertEqual(tmp_files(), [])

    def test_delete_file_and_directory(self):
        for p in ("keep.txt", "d/a.txt", "d/e/b.txt"):
            put(self.root + "/" + p, b"x")
        st, _, _ = raw("DELETE", PROXY + "/" + self.root + "/d")
        self.assertEqual(st, 200)
        self.assertEqual(get(self.root + "/d/a.txt")[0], 404)
        self.assertEqual(get(self.root + "/d/e/b.txt")[0], 404)
        self.assertEqual(get(self.root + "/keep.txt")[0], 200)
        self.assertEqual(raw("DELETE", PROXY + "/" + self.root + "/keep.txt")[0], 200)
        self.assertEqual(get(self.root + "/keep.txt")[0], 404)

    def test_multipart_not_implemented(self):
        for op in ("create", "complete", "abort"):
            r = mtapi.call("POST", "/api/2.0/mlflow-artifacts/mpu/%s/%s" % (op, self.root),
                           body={"path": "f.bin", "num_parts": 2})
            self.assertEqual(r.status, 501)
            self.assertEqual(r.body["error_code"], "NOT_IMPLEMENTED")
            self.assertTrue(r.body["message"].startswith(
                "Multipart upload is not supported for the current artifact repository"))

    @unittest.skipUnless(STORE, "MLTRACK_TEST_ARTIFACTS not set")
    def test_corrupted_blob_never_served_whole(self):
        data = b"precious model weights " * 20000
        put(self.root + "/w.bin", data)
        sha = hashlib.sha256(data).hexdigest()
        blob = os.path.join(STORE, "blobs", sha[:2], sha[2:4], sha)
        with open(blob, "r+b") as f:
            f.seek(len(data) // 2)
            f.write(b"X")
        try:
            st, h, got = get(self.root + "/w.bin")
            self.assertFalse(st == 200 and len(got) == len(data),
                             "a corrupted blob was served in full")
            mtapi.wait_ready()
            # a range away from the damage is refused too: the whole blob is checked
            st, h, got = raw("GET", PROXY + "/" + self.root + "/w.bin",
                             headers={"Range": "bytes=0-99"})
            self.assertFalse(st == 206 and len(got) == 100, "a range of a corrupted blob was served")
        finally:
            with open(blob, "r+b") as f:
                f.seek(len(data) // 2)
                f.write(data[len(data) // 2:len(data) // 2 + 1])
        mtapi.wait_ready()
        self.assertEqual(get(self.root + "/w.bin")[2], data)


if __name__ == "__main__":
    unittest.main()
