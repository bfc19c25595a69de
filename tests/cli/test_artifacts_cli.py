"""mltrack artifacts list|upload|download against a live mltrackd.

Environment (set by tests/run-api.sh): MLTRACK_CLI (the mltrack binary),
MLTRACK_TEST_URL (the server), MLTRACK_TEST_ARTIFACTS (its artifact store),
MLTRACK_TEST_LOG (its access log).
"""

import filecmp
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
import mtapi  # noqa: E402
from ptyrun import run_on_pty  # noqa: E402

CLI = os.environ.get("MLTRACK_CLI", "build/default/mltrack")
LOG = os.environ.get("MLTRACK_TEST_LOG", "")
STORE = os.environ.get("MLTRACK_TEST_ARTIFACTS", "")
SPOOL = tempfile.mkdtemp(prefix="mltrack-spool-")  # empty: no quick sync to do


def mltrack(*args, env=None, check=None):
    e = dict(os.environ)
    e["MLTRACK_TRACKING_URI"] = mtapi.BASE
    e.pop("MLFLOW_TRACKING_URI", None)
    e.setdefault("MLTRACK_HTTP_RETRIES", "2")
    e["MLTRACK_SPOOL_DIR"] = SPOOL
    if env:
        e.update(env)
    p = subprocess.run([CLI] + list(args), capture_output=True, text=True, env=e, timeout=120)
    if check is not None and p.returncode != check:
        raise AssertionError("mltrack %s: exit %d, want %d\nstdout: %s\nstderr: %s"
                             % (" ".join(args), p.returncode, check, p.stdout, p.stderr))
    return p


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def log_lines():
    with open(LOG, encoding="utf-8", errors="replace") as f:
        return f.readlines()


def make_tree(root):
    """A tree with nesting, an empty file, spaces, '%' and non-ASCII names."""
    os.makedirs(os.path.join(root, "sub", "deep"))
    with open(os.path.join(root, "a.txt"), "w") as f:
        f.write("hello\n")
    open(os.path.join(root, "empty"), "w").close()
    with open(os.path.join(root, "sub", "b c%.txt"), "w") as f:
        f.write("spaces and percent\n")
    with open(os.path.join(root, "sub", "ünï.txt"), "w") as f:
        f.write("utf-8\n")
    with open(os.path.join(root, "sub", "deep", "blob.bin"), "wb") as f:
        f.write(os.urandom(3 * 1024 * 1024 + 17))


class ArtifactsCli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mltrack-cli-")
        self.run_id = mtapi.new_run(mtapi.new_experiment())

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *p):
        return os.path.join(self.tmp, *p)

    def assert_same_tree(self, a, b):
        cmp = filecmp.dircmp(a, b)
        self.assertEqual((cmp.left_only, cmp.right_only, cmp.diff_files), ([], [], []),
                         "%s vs %s" % (a, b))
        for f in cmp.common_files:
            self.assertEqual(sha256(os.path.join(a, f)), sha256(os.path.join(b, f)), f)
        for d in cmp.common_dirs:
            self.assert_same_tree(os.path.join(a, d), os.path.join(b, d))

    def test_directory_tree_round_trip(self):
        make_tree(self.path("model"))
        p = mltrack("artifacts", "upload", self.run_id, self.path("model"), check=0)
        self.assertIn("uploaded 5 files", p.stderr)
        p = mltrack("artifacts", "list", self.run_id, "-r", "--json", check=0)
        listed = {e["path"]: e for e in json.loads(p.stdout)}
        self.assertEqual(sorted(listed), ["model", "model/a.txt", "model/empty", "model/sub",
                                          "model/sub/b c%.txt", "model/sub/deep",
                                          "model/sub/deep/blob.bin", "model/sub/ünï.txt"])
        self.assertEqual(listed["model/sub/deep/blob.bin"]["file_size"], 3 * 1024 * 1024 + 17)
        self.assertTrue(listed["model/sub"]["is_dir"])
        # The table form: one line per entry, directories ending in '/'.
        p = mltrack("artifacts", "list", self.run_id, "model", check=0)
        self.assertEqual([l.split()[-1] for l in p.stdout.splitlines()],
                         ["model/a.txt", "model/empty", "model/sub/"])
        mltrack("artifacts", "download", self.run_id, "-o", self.path("out"), check=0)
        self.assert_same_tree(self.path("model"), self.path("out", "model"))
        # A subdirectory lands under its own name.
        mltrack("artifacts", "download", self.run_id, "model/sub", "-o", self.path("o2"), check=0)
        self.assert_same_tree(self.path("model", "sub"), self.path("o2", "sub"))
        leftovers = [f for _, _, fs in os.walk(self.tmp) for f in fs if f.endswith(".mltrack-part")]
        self.assertEqual(leftovers, [])

    def test_file_to_destination_and_single_download(self):
        with open(self.path("weights.bin"), "wb") as f:
            f.write(os.urandom(100000))
        mltrack("artifacts", "upload", self.run_id, self.path("weights.bin"), "ckpt/epoch1",
                check=0)
        r = mtapi.get("artifacts/list", run_id=self.run_id, path="ckpt/epoch1")
        self.assertEqual([(f["path"], f["file_size"]) for f in r.body["files"]],
                         [("ckpt/epoch1/weights.bin", 100000)])
        mltrack("artifacts", "download", self.run_id, "ckpt/epoch1/weights.bin", "-o",
                self.path("dl"), check=0)
        self.assertEqual(sha256(self.path("dl", "weights.bin")), sha256(self.path("weights.bin")))

    def test_download_resumes_a_partial_file_by_range(self):
        data = os.urandom(2 * 1024 * 1024)
        with open(self.path("big.bin"), "wb") as f:
            f.write(data)
        mltrack("artifacts", "upload", self.run_id, self.path("big.bin"), check=0)
        os.makedirs(self.path("dl"))
        # What an interrupted download leaves: the first part of the file.
        with open(self.path("dl", "big.bin.mltrack-part"), "wb") as f:
            f.write(data[:700000])
        before = len(log_lines())
        mltrack("artifacts", "download", self.run_id, "big.bin", "-o", self.path("dl"), check=0)
        with open(self.path("dl", "big.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertFalse(os.path.exists(self.path("dl", "big.bin.mltrack-part")))
        gets = [l for l in log_lines()[before:] if "/big.bin " in l and l.startswith("GET")]
        self.assertEqual(len(gets), 1, gets)
        self.assertIn(" 206 ", gets[0])

    def test_a_part_file_of_other_bytes_is_fetched_again_whole(self):
        data = os.urandom(1024 * 1024)
        with open(self.path("m.bin"), "wb") as f:
            f.write(data)
        mltrack("artifacts", "upload", self.run_id, self.path("m.bin"), check=0)
        os.makedirs(self.path("dl"))
        with open(self.path("dl", "m.bin.mltrack-part"), "wb") as f:
            f.write(os.urandom(300000))
        mltrack("artifacts", "download", self.run_id, "m.bin", "-o", self.path("dl"), check=0)
        with open(self.path("dl", "m.bin"), "rb") as f:
            self.assertEqual(f.read(), data)

    def test_files_already_in_place_are_not_fetched_again(self):
        make_tree(self.path("t"))
        mltrack("artifacts", "upload", self.run_id, self.path("t"), check=0)
        mltrack("artifacts", "download", self.run_id, "-o", self.path("dl"), check=0)
        with open(self.path("dl", "t", "a.txt"), "w") as f:
            f.write("changed locally\n")
        before = len(log_lines())
        p = mltrack("artifacts", "download", self.run_id, "-o", self.path("dl"), check=0)
        self.assertIn("4 already up to date", p.stderr)
        statuses = [l.split()[-2] for l in log_lines()[before:]
                    if l.startswith("GET /api/2.0/mlflow-artifacts/")]
        self.assertEqual(sorted(statuses), ["200", "304", "304", "304", "304"])
        self.assert_same_tree(self.path("t"), self.path("dl", "t"))

    @unittest.skipUnless(STORE, "needs MLTRACK_TEST_ARTIFACTS")
    def test_a_corrupted_blob_is_not_written_in_place(self):
        data = os.urandom(600000)
        with open(self.path("c.bin"), "wb") as f:
            f.write(data)
        mltrack("artifacts", "upload", self.run_id, self.path("c.bin"), check=0)
        digest = hashlib.sha256(data).hexdigest()
        blob = os.path.join(STORE, "blobs", digest[:2], digest[2:4], digest)
        with open(blob, "r+b") as f:
            f.seek(1000)
            f.write(b"\0" * 8 if data[1000:1008] != b"\0" * 8 else b"\1" * 8)
        try:
            p = mltrack("artifacts", "download", self.run_id, "c.bin", "-o", self.path("dl"))
            self.assertIn(p.returncode, (1, 3), p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertFalse(os.path.exists(self.path("dl", "c.bin")))
        finally:
            with open(blob, "r+b") as f:
                f.seek(1000)
                f.write(data[1000:1008])

    def test_a_name_the_server_refuses_uploads_nothing(self):
        make_tree(self.path("t"))
        with open(self.path("t", "sub", "bad#name"), "w") as f:
            f.write("x")
        p = mltrack("artifacts", "upload", self.run_id, self.path("t"), check=2)
        self.assertIn("bad#name", p.stderr)
        r = mtapi.get("artifacts/list", run_id=self.run_id)
        self.assertNotIn("files", r.body)

    def test_progress_bar_only_on_a_terminal(self):
        with open(self.path("p.bin"), "wb") as f:
            f.write(os.urandom(8 * 1024 * 1024))
        p = mltrack("artifacts", "upload", self.run_id, self.path("p.bin"), check=0)
        self.assertNotIn("\r", p.stderr)
        self.assertNotIn("%", p.stderr)
        # Under a pseudo-terminal the bar is drawn (bytes, rate, percent).
        env = dict(os.environ, MLTRACK_TRACKING_URI=mtapi.BASE, MLTRACK_SPOOL_DIR=SPOOL)
        rc, out, _ = run_on_pty([CLI, "artifacts", "download", self.run_id, "-o",
                                 self.path("dl")], env=env, cols=100)
        self.assertEqual(rc, 0, out)
        text = out.decode("utf-8", "replace")
        self.assertIn("downloading [", text)
        self.assertIn("100%", text)
        self.assertIn("8.4 MB / 8.4 MB", text)
        self.assertIn("MB/s", text)
        self.assertEqual(sha256(self.path("dl", "p.bin")), sha256(self.path("p.bin")))

    def test_usage_and_server_errors(self):
        cases = [
            (("artifacts",), 2, "usage: mltrack artifacts"),
            (("artifacts", "upload", self.run_id), 2, "missing LOCAL"),
            (("artifacts", "upload", self.run_id, "/nonexistent/x"), 2, "cannot read"),
            (("artifacts", "upload", self.run_id, CLI, "../up"), 2, "Invalid path"),
            (("artifacts", "download", self.run_id, "--bogus"), 2, "unknown option '--bogus'"),
            (("artifacts", "frobnicate"), 2, "unknown command"),
            (("artifacts", "list", "0" * 32), 3, "RESOURCE_DOES_NOT_EXIST"),
            (("artifacts", "download", self.run_id, "nope.txt", "-o", self.path("x")), 3,
             "has no artifact 'nope.txt'"),
        ]
        for args, code, text in cases:
            with self.subTest(args=args):
                p = mltrack(*args, check=code)
                self.assertIn(text, p.stderr)
        p = mltrack("--tracking-uri", "http://127.0.0.1:9", "artifacts", "list", self.run_id,
                    check=3)
        self.assertIn("cannot reach http://127.0.0.1:9", p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1)

    def test_help_is_complete(self):
        for sub in ("list", "upload", "download"):
            p = mltrack("artifacts", sub, "--help", check=0)
            self.assertTrue(p.stdout.startswith("usage: mltrack artifacts " + sub), p.stdout)
            self.assertIn("--tracking-uri", p.stdout)
        p = mltrack("artifacts", "download", "--help", check=0)
        self.assertIn("-o, --output DIR", p.stdout)


if __name__ == "__main__":
    unittest.main()
