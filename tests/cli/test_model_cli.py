"""mltrack model ... and mltrack gate ... against a live mltrackd
(tests/run-api.sh): usage errors, registering from a directory and from a
run's artifacts, provenance without a run, pulls (by version, alias, stage;
into an existing directory; of a version that is not a bundle), every gate
report format and its exit status, forced promotion with the admin token,
and the list, show and history tables; gates on aliases (a refused move
leaves NAME@ALIAS where it was for pull), forced and deleted aliases, stage
names that are not aliases, and `gate history`.  The CI flow as a whole is
tests/api/t0110-registry-scenario.sh.

Environment: MLTRACK_CLI, MLTRACK_TEST_URL, MLTRACK_TEST_ADMIN_TOKEN.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
import mtapi  # noqa: E402

CLI = os.path.abspath(os.environ.get("MLTRACK_CLI", "build/default/mltrack"))
ADMIN = os.environ.get("MLTRACK_TEST_ADMIN_TOKEN", "")


def setUpModule():
    mtapi.wait_ready()


def tree(d):
    """{relative path: sha256} of the files under d."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = hashlib.sha256(fh.read()).hexdigest()
    return out


class ModelCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mltrack-model-")
        self.model = mtapi.uniq("cli-model")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def env(self, **extra):
        e = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRACK_"))}
        e.update(MLTRACK_TRACKING_URI=mtapi.BASE, MLTRACK_SPOOL_DIR=os.path.join(self.tmp, "sp"),
                 HOME=self.tmp, MLTRACK_HTTP_RETRIES="1", TZ="UTC")
        e.update(extra)
        return e

    def mt(self, *args, check=0, cwd=None, **extra):
        p = subprocess.run([CLI] + list(args), capture_output=True, env=self.env(**extra),
                           cwd=cwd or self.tmp, timeout=120)
        if check is not None and p.returncode != check:
            raise AssertionError("mltrack %s: exit %d, want %d\nstdout: %s\nstderr: %s" % (
                " ".join(args), p.returncode, check, p.stdout.decode(), p.stderr.decode()))
        return p

    def files(self, name, content):
        d = os.path.join(self.tmp, name)
        for rel, data in content.items():
            p = os.path.join(d, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
        return d

    def run_with_metrics(self, **metrics):
        rid = mtapi.new_run()
        mtapi.post("runs/log-batch", {"run_id": rid, "metrics": [
            {"key": k, "value": v, "timestamp": mtapi.now_ms(), "step": 0}
            for k, v in metrics.items()]})
        return rid

    def register(self, src, *extra):
        return self.mt("-q", "model", "register", self.model, "--from", src,
                       *extra).stdout.decode().strip()


class TestUsage(ModelCase):
    def test_help_everywhere(self):
        for args in [["model"], ["gate"]] + [["model", c] for c in (
                "register", "list", "show", "pull", "promote", "alias", "history")] + \
                [["gate", c] for c in ("set", "show", "check", "history")]:
            p = self.mt(*args, "--help")
            self.assertIn(b"usage: mltrack " + " ".join(args).encode(), p.stdout)

    def test_bad_usage_exits_2_with_one_line(self):
        src = self.files("m", {"a": b"1"})
        cases = [
            (["model", "register", "x"], b"--from DIR, or --run RUN"),
            (["model", "register", "x", "--from", os.path.join(self.tmp, "none")],
             b"not a directory"),
            (["model", "register", "x", "--from", src, "--path", "p"], b"cannot go with --from"),
            (["model", "promote", "x", "1", "--to", "live"], b"staging, production or archived"),
            (["model", "promote", "x", "one", "--to", "staging"], b"not a version number"),
            (["model", "promote", "x", "1", "--to", "production", "--force"], b"--reason"),
            (["model", "pull", "x", "-o", "d"], b"NAME/VERSION"),
            (["model", "pull", "x/1"], b"-o"),
            (["gate", "set", "x", "--to", "production", "--rule", "metrics.a >>= 1"],
             b"metrics.a >>= 1"),
            (["gate", "set", "x", "--to", "none", "--rule", "bundle.verified"], b"staging"),
            (["gate", "check", "x", "1", "--to", "production", "--format", "yaml"], b"yaml"),
            (["gate", "set", "x", "--to", "live", "--rule", "bundle.verified"], b"@ALIAS"),
            (["gate", "set", "x", "--to", "@Production"], b"is a stage, not an alias"),
            (["gate", "set", "x", "--to", "@"], b"expected @ALIAS"),
            (["gate", "check", "x", "1", "--to", "@staging"], b"is a stage, not an alias"),
            (["gate", "set", "x", "--to", "production", "--rule",
              "1 <= " + "+".join(["1"] * 120)], b"deeper than 32 levels at column 71"),
            (["gate", "history", "x", "--format", "table"], b"not text or json"),
            (["model", "alias", "x", "champion"], b"give VERSION, or --delete"),
            (["model", "alias", "x", "champion", "1", "--delete"], b"give VERSION, or --delete"),
            (["model", "alias", "x", "champion", "one"], b"not a version number"),
            (["model", "alias", "x", "production", "1"], b"is a stage, not an alias"),
            (["model", "alias", "x", "champion", "1", "--force"], b"--reason"),
            (["model", "history", "x", "--kind", "promotions"], b"not stage, alias or gate"),
        ]
        for args, msg in cases:
            p = self.mt(*args, check=2)
            err = p.stderr.decode()
            self.assertIn(msg.decode(), err, args)
            self.assertEqual(err.count("\n"), 1, (args, err))

    def test_unknown_model_is_a_server_error(self):
        p = self.mt("model", "show", mtapi.uniq("nope"), check=3)
        self.assertIn(b"not found", p.stderr)
        p = self.mt("gate", "check", mtapi.uniq("nope"), "1", "--to", "staging", check=3)


class TestRegisterPull(ModelCase):
    def test_from_a_runs_artifacts(self):
        rid = mtapi.new_run()
        src = self.files("model", {"w/a.bin": os.urandom(5000), "conf.json": b"{}"})
        self.mt("-q", "artifacts", "upload", rid, src)  # as model/...
        v = self.mt("-q", "model", "register", self.model, "--run", rid).stdout.decode().strip()
        self.assertEqual(v, "1")
        out = os.path.join(self.tmp, "pulled")
        self.mt("-q", "model", "pull", "%s/1" % self.model, "-o", out)
        got = tree(out)
        self.assertIn("MLTRACK-BUNDLE.json", got)
        del got["MLTRACK-BUNDLE.json"]
        self.assertEqual(got, tree(src))
        show = json.loads(self.mt("model", "show", "%s/1" % self.model, "--format",
                                  "json").stdout)
        self.assertEqual(show["bundle"]["manifest"]["provenance"]["run_id"], rid)
        self.assertEqual(show["model_version"]["run_id"], rid)

    def test_missing_run_path_fails_cleanly(self):
        rid = mtapi.new_run()
        p = self.mt("model", "register", self.model, "--run", rid, "--path", "nothing", check=3)
        self.assertIn(b"nothing", p.stderr)

    def test_provenance_without_a_run_is_the_git_state(self):
        repo = self.files("repo", {"model/w.bin": b"weights", "train.py": b"print(1)\n"})
        for args in (["init", "-q"], ["add", "-A"],
                     ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "i"],
                     ["remote", "add", "origin", "https://u:pw@git.example.com/r.git"]):
            subprocess.run(["git", "-C", repo] + args, check=True)
        with open(os.path.join(repo, "train.py"), "a") as f:
            f.write("print(2)\n")
        self.mt("-q", "model", "register", self.model, "--from", "model", cwd=repo)
        show = json.loads(self.mt("model", "show", self.model + "/1", "--format",
                                  "json").stdout)
        prov = show["bundle"]["manifest"]["provenance"]
        head = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True,
                              check=True).stdout.decode().strip()
        self.assertEqual(prov["git"]["commit"], head)
        self.assertTrue(prov["git"]["dirty"])
        self.assertEqual(prov["git"]["repo_url"], "https://git.example.com/r.git")
        self.assertEqual(len(prov["uncommitted_diff_sha256"]), 64)
        self.assertNotIn("run_id", prov)

    def test_pull_by_alias_and_stage_into_an_existing_directory(self):
        src = self.files("m", {"a.txt": b"one"})
        self.register(src)
        src2 = self.files("m2", {"a.txt": b"two", "b.txt": b"new"})
        self.register(src2)
        self.mt("-q", "model", "alias", self.model, "best", "1")
        self.mt("-q", "model", "promote", self.model, "2", "--to", "staging")
        out = self.files("out", {"a.txt": b"old", "mine.txt": b"kept"})
        self.mt("-q", "model", "pull", self.model + "@best", "-o", out)
        with open(os.path.join(out, "a.txt"), "rb") as f:
            self.assertEqual(f.read(), b"one")
        self.mt("-q", "model", "pull", self.model + "@staging", "-o", out)
        got = tree(out)
        self.assertEqual(set(got), {"a.txt", "b.txt", "mine.txt", "MLTRACK-BUNDLE.json"})
        with open(os.path.join(out, "a.txt"), "rb") as f:
            self.assertEqual(f.read(), b"two")
        p = self.mt("model", "pull", self.model + "@production", "-o", out, check=3)
        self.assertIn(b"Production", p.stderr)

    def test_bundles_survive_the_artifact_api_and_shared_deletes(self):
        src = self.files("m", {"w.bin": os.urandom(3000), "c.json": b"{}"})
        self.assertEqual(self.register(src), "1")
        # The same bytes again: the upload is idempotent, a second version.
        self.assertEqual(self.register(src), "2")
        for path in ("mltrack-bundles", "./mltrack-bundles/"):
            r = mtapi.call("DELETE", "/api/2.0/mlflow-artifacts/artifacts/" + path)
            self.assertEqual(r.status, 403, r.body)
            self.assertEqual(r.body["error_code"], "PERMISSION_DENIED")
        out = os.path.join(self.tmp, "o1")
        self.mt("-q", "model", "pull", self.model + "/1", "-o", out)
        got = tree(out)
        del got["MLTRACK-BUNDLE.json"]
        self.assertEqual(got, tree(src))
        # Version 1 deleted: version 2 holds the same bundle, still pulled.
        r = mtapi.call("DELETE", mtapi.API + "model-versions/delete",
                       body={"name": self.model, "version": "1"})
        self.assertEqual(r.status, 200, r.body)
        out = os.path.join(self.tmp, "o2")
        self.mt("-q", "model", "pull", self.model + "/2", "-o", out)
        self.assertEqual(tree(out)["w.bin"], tree(src)["w.bin"])

    def test_an_mlflow_version_is_not_pulled(self):
        mtapi.post("registered-models/create", {"name": self.model})
        mtapi.post("model-versions/create", {"name": self.model, "source": "s3://b/m"})
        out = os.path.join(self.tmp, "o")
        p = self.mt("model", "pull", self.model + "/1", "-o", out, check=1)
        self.assertIn(b"not an mltrack bundle", p.stderr)
        self.assertFalse(os.path.exists(out))


class TestGateCli(ModelCase):
    def setUp(self):
        super().setUp()
        src = self.files("m", {"w.bin": b"w"})
        self.good = self.run_with_metrics(acc=0.95)
        self.bad = self.run_with_metrics(acc=0.5)
        self.mt("-q", "model", "register", self.model, "--from", src, "--run", self.good)
        self.mt("-q", "model", "register", self.model, "--from", src, "--run", self.bad)
        self.mt("-q", "gate", "set", self.model, "--to", "production",
                "--rule", "metrics.acc >= 0.9", "--rule", "bundle.verified")

    def test_formats_and_exit_status(self):
        p = self.mt("gate", "check", self.model, "1", "--to", "production")
        self.assertIn(b"PASS", p.stdout)
        p = self.mt("gate", "check", self.model, "2", "--to", "production", check=1)
        self.assertIn(b"FAIL", p.stdout)
        self.assertIn(b"metrics.acc", p.stdout)
        rep = json.loads(self.mt("gate", "check", self.model, "2", "--to", "production",
                                 "--format", "json", check=1).stdout)
        self.assertFalse(rep["passed"])
        self.assertEqual([r["status"] for r in rep["rules"]], ["fail", "pass"])
        md = self.mt("gate", "check", self.model, "2", "--to", "production", "--format",
                     "markdown", check=1).stdout.decode()
        self.assertIn("| Rule |", md)
        self.assertIn("%s/runs/%s" % (mtapi.BASE, self.bad), md)
        xml = self.mt("gate", "check", self.model, "2", "--to", "production", "--format",
                      "junit", check=1).stdout
        root = ET.fromstring(xml)
        cases = root.iter("testcase")
        self.assertEqual([c.find("failure") is not None for c in cases], [True, False])
        show = self.mt("gate", "show", self.model).stdout.decode()
        self.assertIn("Production:\n  metrics.acc >= 0.9\n  bundle.verified\n", show)

    def test_promote_refused_then_forced(self):
        p = self.mt("model", "promote", self.model, "2", "--to", "production", check=1)
        self.assertIn(b"the gate failed", p.stderr)
        self.assertIn(b"metrics.acc is 0.5", p.stderr)
        p = self.mt("model", "promote", self.model, "2", "--to", "production", "--force",
                    "--reason", "demo", check=3)
        self.assertIn(b"admin token", p.stderr)
        if ADMIN:
            p = self.mt("model", "promote", self.model, "2", "--to", "production", "--force",
                        "--reason", "demo", MLTRACK_TOKEN=ADMIN)
            self.assertIn(b"forced", p.stderr)
        self.mt("model", "promote", self.model, "1", "--to", "production",
                "--reason", "passes")
        hist = self.mt("model", "history", self.model, "--kind", "stage").stdout.decode()
        lines = hist.splitlines()
        self.assertTrue(lines[0].startswith("TIME"), hist)
        outcomes = [l.split()[6] for l in lines[1:]]  # the time is two words
        want = ["refused", "forced", "allowed"] if ADMIN else ["refused", "allowed"]
        self.assertEqual(outcomes, want, hist)
        self.assertIn("passes", lines[-1])
        self.assertIn("pass 2/2", lines[-1])
        listing = self.mt("model", "list", "--filter", "name = '%s'" % self.model)
        self.assertIn(("Production: v1").encode(), listing.stdout)
        show = self.mt("model", "show", self.model).stdout.decode()
        self.assertIn("gate into Production:", show)
        self.assertRegex(show, r"\n1 +Production ")
        self.assertRegex(show, r"\n2 +Archived ") if ADMIN else None


class TestAliasCli(ModelCase):
    def setUp(self):
        super().setUp()
        self.src1 = self.files("m1", {"w.bin": b"one"})
        self.src2 = self.files("m2", {"w.bin": b"two"})
        self.src3 = self.files("m3", {"w.bin": b"three"})
        self.register(self.src1, "--run", self.run_with_metrics(acc=0.95))
        self.register(self.src2, "--run", self.run_with_metrics(acc=0.5))
        self.register(self.src3, "--run", self.run_with_metrics(acc=0.97))

    def pulled(self, ref):
        out = os.path.join(self.tmp, mtapi.uniq("out"))
        self.mt("-q", "model", "pull", "%s%s" % (self.model, ref), "-o", out)
        with open(os.path.join(out, "w.bin"), "rb") as f:
            return f.read()

    def test_a_gate_on_an_alias_holds_for_pull(self):
        self.mt("-q", "model", "alias", self.model, "champion", "1")
        p = self.mt("gate", "set", self.model, "--to", "@champion", "--rule",
                    "metrics.acc >= champion.metrics.acc", "--reason", "no regressions")
        self.assertIn(b"1 rule guard @champion", p.stderr)
        show = self.mt("gate", "show", self.model).stdout.decode()
        self.assertIn("@champion:\n  metrics.acc >= champion.metrics.acc\n", show)
        p = self.mt("gate", "check", self.model, "2", "--to", "@champion", check=1)
        self.assertIn(b"FAIL", p.stdout)
        self.assertIn(b"-> @champion", p.stdout)
        p = self.mt("model", "alias", self.model, "champion", "2", check=1)
        self.assertIn(b"was not moved to version 2: the gate failed", p.stderr)
        self.assertIn(b"metrics.acc is 0.5", p.stderr)
        self.assertEqual(self.pulled("@champion"), b"one")
        p = self.mt("model", "alias", self.model, "@champion", "3")
        self.assertIn(b"@champion is version 3 (gate passed: 1 rule)", p.stderr)
        self.assertEqual(self.pulled("@champion"), b"three")
        events = json.loads(self.mt("model", "history", self.model, "--format", "json").stdout)
        self.assertEqual([(e["kind"], e["outcome"], e["version"]) for e in events],
                         [("alias", "allowed", "1"), ("gate", "created", None),
                          ("alias", "refused", "2"), ("alias", "allowed", "3")])
        table = self.mt("model", "history", self.model).stdout.decode()
        self.assertRegex(table, r"alias +2 +1 +@champion=2 +refused +anonymous +fail 0/1")
        self.assertRegex(table, r"gate +- +- +@champion +created +anonymous +rules 0->1 +"
                                r"no regressions")

    def test_forced_and_deleted_aliases(self):
        self.mt("-q", "gate", "set", self.model, "--to", "@live", "--rule", "metrics.acc > 0.9")
        p = self.mt("model", "alias", self.model, "live", "2", "--force", "--reason", "demo",
                    check=3)
        self.assertIn(b"admin token", p.stderr)
        if ADMIN:
            p = self.mt("model", "alias", self.model, "live", "2", "--force", "--reason",
                        "demo", MLTRACK_TOKEN=ADMIN)
            self.assertIn(b"forced past a failing gate", p.stderr)
            self.assertEqual(self.pulled("@live"), b"two")
        else:
            self.mt("-q", "model", "alias", self.model, "live", "1")
        p = self.mt("model", "alias", self.model, "live", "--delete", "--reason", "retired")
        self.assertIn(b"removed (it was version", p.stderr)
        p = self.mt("model", "pull", self.model + "@live", "-o", os.path.join(self.tmp, "x"),
                    check=3)
        self.assertIn(b"not found", p.stderr)
        p = self.mt("model", "alias", self.model, "live", "--delete")
        self.assertIn(b"was not set", p.stderr)
        events = json.loads(self.mt("model", "history", self.model, "--kind", "alias",
                                    "--format", "json").stdout)
        self.assertEqual(events[-1]["version"], None)
        self.assertEqual(events[-1]["reason"], "retired")

    def test_at_a_stage_name_is_the_stage(self):
        self.mt("-q", "model", "promote", self.model, "3", "--to", "production")
        # An alias an older mltrackd stored as 'production' is kept but
        # never resolved: NAME@production is the stage.
        mid = mtapi.psql("SELECT id FROM registered_models WHERE name = %s" %
                         mtapi.sql_str(self.model))
        mtapi.psql("INSERT INTO model_aliases (model_id, alias, version) "
                   "VALUES (%s, 'production', 2)" % mid)
        self.assertEqual(self.pulled("@production"), b"three")
        self.assertEqual(self.pulled("@Production"), b"three")
        show = json.loads(self.mt("model", "show", self.model + "@production", "--format",
                                  "json").stdout)
        self.assertEqual(show["model_version"]["version"], "3")
        p = self.mt("model", "pull", self.model + "@staging", "-o",
                    os.path.join(self.tmp, "s"), check=3)
        self.assertIn(b"Staging", p.stderr)

    def test_gate_history_shows_the_rules(self):
        self.mt("-q", "gate", "set", self.model, "--to", "production", "--rule", "metrics.acc > 0.9")
        self.mt("-q", "gate", "set", self.model, "--to", "production", "--rule",
                "metrics.acc > 0.95", "--rule", "bundle.verified", "--reason", "stricter")
        self.mt("-q", "gate", "set", self.model, "--to", "production")
        text = self.mt("gate", "history", self.model).stdout.decode()
        blocks = text.split("\n")
        self.assertRegex(blocks[0], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  Production  created "
                                    r"by anonymous$")
        self.assertEqual(blocks[1], "  + metrics.acc > 0.9")
        self.assertRegex(blocks[2], r"Production  replaced by anonymous: stricter$")
        self.assertEqual(blocks[3:6], ["  - metrics.acc > 0.9", "  + metrics.acc > 0.95",
                                       "  + bundle.verified"])
        self.assertRegex(blocks[6], r"Production  removed by anonymous$")
        self.assertEqual(blocks[7:9], ["  - metrics.acc > 0.95", "  - bundle.verified"])
        rows = json.loads(self.mt("gate", "history", self.model, "--format", "json").stdout)
        self.assertEqual([r["outcome"] for r in rows], ["created", "replaced", "removed"])


if __name__ == "__main__":
    unittest.main()
