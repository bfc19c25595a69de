"""mltrack model register --reference, mltrack monitor log and mltrack
monitor show against a live mltrackd (tests/run-api.sh): the profile the
CLI computes (lib/mt_profile) against numpy on the same data, its place in
the bundle (the same data give the same digest), usage errors, logging a
JSON-lines file in batches by alias and by version, errors with the file's
line number, and the show table and --json.

numpy comes from Debian (python3-numpy with python3-scipy, tools/deps.sh).
Environment: MLTRACK_CLI, MLTRACK_TEST_URL."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
except ImportError:  # a python3 other than Debian's (pyenv) is first on PATH
    sys.path.append("/usr/lib/python3/dist-packages")
    import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
import mtapi  # noqa: E402

CLI = os.path.abspath(os.environ.get("MLTRACK_CLI", "build/default/mltrack"))
BASE_T = 1767225600000  # 2026-01-01T00:00:00Z


def setUpModule():
    mtapi.wait_ready()


class MonitorCli(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mltrack-monitor-")
        self.model = mtapi.uniq("cli-mon")
        rng = np.random.default_rng(11)
        n = 1001
        self.age = np.round(rng.normal(40, 12, n), 3)
        self.city = rng.choice(["paris", "oslo", "lima"], n, p=[0.5, 0.3, 0.2])
        self.pred = np.where(self.age > 40, "yes", "no")
        self.csv = os.path.join(self.tmp, "ref.csv")
        with open(self.csv, "w") as f:
            f.write("age,city,\"the label\",pred\n")
            for i in range(n):
                f.write("%s,%s,%s,%s\n" % ("" if i == 7 else repr(float(self.age[i])),
                                           self.city[i], self.pred[i], self.pred[i]))
        self.src = os.path.join(self.tmp, "model")
        os.makedirs(self.src)
        with open(os.path.join(self.src, "w.bin"), "wb") as f:
            f.write(b"weights")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def mt(self, *args, check=0):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRACK_"))}
        env.update(MLTRACK_TRACKING_URI=mtapi.BASE, HOME=self.tmp, MLTRACK_HTTP_RETRIES="1",
                   TZ="UTC")
        p = subprocess.run([CLI] + list(args), capture_output=True, env=env, cwd=self.tmp,
                           timeout=120)
        if check is not None and p.returncode != check:
            raise AssertionError("mltrack %s: exit %d, want %d\nstdout: %s\nstderr: %s" % (
                " ".join(args), p.returncode, check, p.stdout.decode(), p.stderr.decode()))
        return p

    def register(self, name=None):
        return self.mt("-q", "model", "register", name or self.model, "--from", self.src,
                       "--reference", self.csv, "--target", "the label",
                       "--prediction", "pred").stdout.decode().strip()

    def jsonl(self, rows, name="batch.jsonl"):
        p = os.path.join(self.tmp, name)
        with open(p, "w") as f:
            for r in rows:
                f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
        return p

    def test_register_reference_profile_matches_numpy(self):
        self.assertEqual(self.register(), "1")
        prof = mtapi.mt_get("monitor/reference", name=self.model, version="1").body["profile"]
        self.assertEqual(prof["rows"], 1001)
        age = prof["columns"]["age"]
        self.assertEqual((age["type"], age["role"], age["count"], age["missing"]),
                         ("number", "feature", 1000, 1))
        vals = np.delete(self.age, 7)
        want = np.unique(np.quantile(vals, np.arange(1, 100) / 100.0))
        np.testing.assert_allclose(age["edges"], want, rtol=0, atol=1e-9)
        bins = np.bincount(np.searchsorted(age["edges"], vals, side="left"),
                           minlength=len(age["edges"]) + 1)
        self.assertEqual(age["bins"], [int(b) for b in bins])
        self.assertAlmostEqual(age["mean"], float(vals.mean()), places=9)
        self.assertAlmostEqual(age["std"], float(vals.std()), places=9)
        city = prof["columns"]["city"]
        self.assertEqual(city["top"], {c: int(np.sum(self.city == c))
                                       for c in ("paris", "oslo", "lima")})
        self.assertEqual(prof["columns"]["the label"]["role"], "target")
        self.assertEqual(prof["columns"]["pred"]["role"], "prediction")
        # The profile is in the manifest, so the same data give the same
        # bundle digest.
        other = mtapi.uniq("cli-mon")
        self.register(other)
        sha = [mtapi.mt_get("model-versions/get", name=n, version="1").body["bundle"]["sha256"]
               for n in (self.model, other)]
        self.assertEqual(sha[0], sha[1])
        manifest = mtapi.mt_get("model-versions/get", name=self.model,
                                version="1").body["bundle"]["manifest"]
        self.assertEqual(manifest["reference_profile"], prof)

    def test_usage_errors(self):
        p = self.mt("model", "register", self.model, "--from", self.src, "--target", "x",
                    check=2)
        self.assertIn(b"go with --reference", p.stderr)
        bad = os.path.join(self.tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write("a,b\n1,2\n3\n")
        p = self.mt("model", "register", self.model, "--from", self.src, "--reference", bad,
                    check=2)
        self.assertEqual(p.stderr.decode().strip(),
                         "mltrack: --reference '%s': line 3: 1 field, the header has 2" % bad)
        p = self.mt("model", "register", self.model, "--from", self.src, "--reference",
                    self.csv, "--prediction", "nope", check=2)
        self.assertIn(b"no column 'nope'", p.stderr)
        p = self.mt("model", "register", self.model, "--from", self.src, "--reference",
                    os.path.join(self.tmp, "x.parquet"), check=2)
        self.assertIn(b".csv, .jsonl or .ndjson", p.stderr)
        for args, msg in ((["monitor", "log", self.model, "--file", "f"], b"NAME@ALIAS"),
                          (["monitor", "show", "m@"], b"NAME@ALIAS"),
                          (["monitor", "log", "m@a"], b"--file"),
                          (["monitor", "log", "m@a", "--file", "f", "--batch", "0"],
                           b"--batch '0'")):
            p = self.mt(*args, check=2)
            self.assertIn(msg, p.stderr)
            self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
        for args in (["monitor"], ["monitor", "log"], ["monitor", "show"]):
            self.assertIn(b"usage: mltrack " + " ".join(args).encode(),
                          self.mt(*args, "--help").stdout)

    def test_log_and_show(self):
        self.register()
        mtapi.post("registered-models/alias", {"name": self.model, "alias": "champion",
                                               "version": "1"})
        rows = [{"features": {"age": float(a), "city": "oslo"}, "prediction": "yes",
                 "label": "yes" if i % 4 else "no", "timestamp": BASE_T + i}
                for i, a in enumerate(self.age[:23] + 10)]
        rows.insert(5, "")  # a blank line is skipped
        f = self.jsonl(rows)
        p = self.mt("monitor", "log", self.model + "@champion", "--file", f, "--batch", "7")
        self.assertIn(b"logged 23 observations to " + self.model.encode() + b"@champion",
                      p.stderr)
        self.mt("-q", "monitor", "log", self.model + "/1", "--file", f)
        out = json.loads(self.mt("monitor", "show", self.model + "@champion", "--json").stdout)
        (w,) = out["windows"]
        self.assertEqual(w["rows"], 46)
        self.assertEqual(w["quality"]["labels"], 46)
        self.assertAlmostEqual(w["quality"]["accuracy"], 34 / 46, places=12)
        self.assertAlmostEqual(w["columns"]["city"]["missing_rate"], 0)
        table = self.mt("monitor", "show", self.model + "/1").stdout.decode()
        self.assertIn("reference of 1001 rows", table)
        self.assertIn("2026-01-01 00:00:00", table)
        for word in ("WINDOW", "PSI", "KS", "CHI2", "age", "city", "ACCURACY", "0.7391"):
            self.assertIn(word, table)

    def test_log_errors_name_the_line(self):
        self.register()
        good = {"features": {"age": 30.0}, "timestamp": BASE_T}
        f = self.jsonl([good, good, good, {"features": {"height": 2}}, good])
        # A refusal by the server exits 3 (DESIGN §7), naming the line.
        p = self.mt("monitor", "log", self.model + "/1", "--file", f, "--batch", "2", check=3)
        err = p.stderr.decode().strip()
        self.assertEqual(err, "mltrack: %s:4: unknown feature 'height': the reference profile "
                         "has no such feature (INVALID_PARAMETER_VALUE) (2 observations "
                         "logged before)" % f)
        f = self.jsonl([good, "{not json"], name="broken.jsonl")
        p = self.mt("monitor", "log", self.model + "/1", "--file", f, check=2)
        self.assertTrue(p.stderr.decode().startswith("mltrack: %s:2: " % f), p.stderr)
        p = self.mt("monitor", "log", self.model + "/9", "--file", f, check=None)
        self.assertNotEqual(p.returncode, 0)
        p = self.mt("monitor", "log", self.model + "@nope",
                    "--file", self.jsonl([good], name="one.jsonl"), check=3)
        self.assertIn(b"alias nope not found", p.stderr)
        out = json.loads(self.mt("monitor", "show", self.model + "/1", "--json").stdout)
        self.assertEqual(out["windows"][0]["rows"], 2)


if __name__ == "__main__":
    unittest.main()
