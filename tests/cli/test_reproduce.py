"""mltrack reproduce against a live mltrackd (tests/run-api.sh).

Every case builds a real git repository (the git command, an empty HOME, no
system config) with a deterministic training script in a subdirectory:
its metrics are a function of a data file, a --lr flag and a checksum of
the files it can see, so the same files and the same flags give the same
metrics.  The original run is made with `mltrack run` from a dirty tree;
`mltrack reproduce` must give the same metrics from a fresh checkout, tag
the new run, and leave the user's repository byte for byte as it was.
The error cases (a commit the repository lacks, a patch that does not
apply, a run not made by `mltrack run`) must say so and exit 1, changing
nothing.
"""

import hashlib
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
import mtapi  # noqa: E402
from test_run import CLI, RunCase  # noqa: E402

TRAIN = "\n".join([
    "#!/bin/sh",
    "# ./train.sh --lr L: acc = lines of data.txt / 4 + L; fingerprint: the",
    "# checksum of the files the run depends on",
    "n=$(wc -l < data.txt)",
    "echo \"acc: $(awk -v n=$n -v lr=$2 'BEGIN{print n/4 + lr}')\"",
    "echo \"fingerprint: $(cat train.sh data.txt ../README | cksum | cut -d' ' -f1)\"",
    ""])


class ReproCase(RunCase):
    def setUp(self):
        super().setUp()
        self.tmp = os.path.realpath(self.tmp)
        self.repo = os.path.join(self.tmp, "repo")
        self.tmpdir = os.path.join(self.tmp, "tmpdir")
        os.makedirs(self.tmpdir)
        self.genv = dict(os.environ)
        for k in list(self.genv):
            if k.startswith("GIT_"):
                del self.genv[k]
        self.genv.update({
            "HOME": self.tmp, "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
        })

    def env(self, uri=None, **extra):
        e = super().env(uri, **extra)
        e["GIT_CONFIG_NOSYSTEM"] = "1"
        e.setdefault("TMPDIR", self.tmpdir)
        return e

    def git(self, *args, cwd=None):
        p = subprocess.run(["git"] + list(args), cwd=cwd or self.repo, env=self.genv,
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("git %s: %s" % (" ".join(args), p.stderr))
        return p.stdout.strip()

    def write(self, rel, text, root=None):
        path = os.path.join(root or self.repo, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def make_repo(self):
        os.makedirs(self.repo)
        self.git("init", "-q", "-b", "main")
        self.write("README", "readme v1\n")
        os.chmod(self.write("src/train.sh", TRAIN), 0o755)
        self.write("src/data.txt", "a\nb\n")
        self.git("add", ".")
        self.git("commit", "-q", "-m", "first")

    def dirty(self):
        """An unstaged change, a staged one, and an untracked file."""
        self.write("src/data.txt", "a\nb\nc\n")
        self.write("README", "readme v2 (staged)\n")
        self.git("add", "README")
        self.write("src/untracked.txt", "not in any commit\n")

    def original(self, *extra):
        self.mltrack("run", "-e", self.exp, "-n", "orig", *extra, "--", "./train.sh", "--lr",
                     "0.5", cwd=os.path.join(self.repo, "src"), check=0)
        run = self.only_run()
        return run["info"]["run_id"], run

    def snapshot(self, repo=None):
        """Everything about the user's repository reproduce must not change."""
        repo = repo or self.repo
        files = {}
        for d, dirs, names in os.walk(repo):
            for n in names:
                p = os.path.join(d, n)
                with open(p, "rb") as f:
                    files[os.path.relpath(p, repo)] = hashlib.sha256(f.read()).hexdigest()
        return {
            # --no-optional-locks: looking must not refresh the index itself
            "status": self.git("--no-optional-locks", "status", "--porcelain", cwd=repo),
            "head": self.git("rev-parse", "HEAD", cwd=repo),
            "branch": self.git("symbolic-ref", "HEAD", cwd=repo),
            "refs": self.git("for-each-ref", cwd=repo),
            "worktrees": self.git("worktree", "list", "--porcelain", cwd=repo),
            "files": files,  # the work tree and all of .git (index included)
        }

    def metrics(self, run):
        return {m["key"]: m["value"] for m in run["data"].get("metrics", [])
                if not m["key"].startswith("mltrack.")}

    def reproduce(self, *args, check=None, cwd=None):
        return self.mltrack("reproduce", *args, cwd=cwd or self.repo, check=check)

    def assert_no_temp_left(self):
        self.assertEqual(os.listdir(self.tmpdir), [])


class TestReproduce(ReproCase):
    def test_dirty_tree_same_files_same_metrics_user_tree_untouched(self):
        self.make_repo()
        self.dirty()
        orig_id, orig = self.original()
        otags = mtapi.kv(orig["data"]["tags"])
        self.assertEqual(otags["mltrack.git.dirty"], "true")
        self.assertEqual(otags["mltrack.workdir"], "src")
        om = self.metrics(orig)
        self.assertEqual(om["acc"], 0.75 + 0.5)
        # The user moves on: a new commit, more edits.  The reproduction is
        # of the run, not of today's tree.
        self.git("commit", "-q", "-am", "second")
        self.write("src/data.txt", "x\n")
        before = self.snapshot()
        keep = os.path.join(self.tmp, "kept")
        p = self.reproduce(orig_id[:10], "--keep", keep, check=0)
        self.assertEqual(self.snapshot(), before)
        self.assert_no_temp_left()
        runs = self.runs()
        self.assertEqual(len(runs), 2, runs)
        new = [r for r in runs if r["info"]["run_id"] != orig_id][0]
        new = mtapi.get_run(new["info"]["run_id"])
        ntags = mtapi.kv(new["data"]["tags"])
        self.assertEqual(ntags["mltrack.reproduces"], orig_id)
        self.assertEqual(new["info"]["run_name"], "reproduce-of-orig")
        self.assertEqual(new["info"]["experiment_id"], orig["info"]["experiment_id"])
        self.assertEqual(ntags["mlflow.source.git.commit"], otags["mlflow.source.git.commit"])
        self.assertEqual(self.metrics(new), om)
        self.assertEqual(mtapi.kv(new["data"]["params"]), mtapi.kv(orig["data"]["params"]))
        # The kept tree holds the files the original ran on: the commit plus
        # the uncommitted changes, not the untracked file.
        with open(os.path.join(keep, "src", "data.txt")) as f:
            self.assertEqual(f.read(), "a\nb\nc\n")
        with open(os.path.join(keep, "README")) as f:
            self.assertEqual(f.read(), "readme v2 (staged)\n")
        self.assertFalse(os.path.exists(os.path.join(keep, "src", "untracked.txt")))
        self.assertFalse(os.path.exists(os.path.join(keep, ".git")))
        # The comparison is printed: the metrics section, no differing acc.
        out = p.stdout.decode()
        if os.environ.get("SHOW_REPRODUCE"):
            sys.stderr.write(out + p.stderr.decode())
        self.assertIn("reproduces %s" % orig_id, out)
        self.assertIn("metrics", out)
        self.assertNotIn("* acc", out)

    def test_clean_tree_without_keep_leaves_nothing(self):
        self.make_repo()
        orig_id, orig = self.original("-p", "seed=7")
        self.assertEqual(mtapi.kv(orig["data"]["tags"])["mltrack.git.dirty"], "false")
        before = self.snapshot()
        self.reproduce(orig_id, check=0, cwd=os.path.join(self.repo, "src"))
        self.assertEqual(self.snapshot(), before)
        self.assert_no_temp_left()
        new = [r for r in self.runs() if r["info"]["run_id"] != orig_id][0]
        new = mtapi.get_run(new["info"]["run_id"])
        self.assertEqual(self.metrics(new), self.metrics(orig))
        self.assertEqual(mtapi.kv(new["data"]["params"]),
                         {"lr": "0.5", "seed": "7"})

    def test_dry_run_changes_nothing(self):
        self.make_repo()
        self.dirty()
        orig_id, _ = self.original()
        commit = self.git("rev-parse", "HEAD")
        before = self.snapshot()
        p = self.reproduce(orig_id, "--dry-run", check=0)
        out = p.stdout.decode()
        self.assertIn(commit, out)
        self.assertIn("patch:       yes", out)
        self.assertIn("workdir:     src", out)
        self.assertIn("./train.sh --lr 0.5", out)
        self.assertEqual(len(self.runs()), 1)
        self.assertEqual(self.snapshot(), before)
        self.assert_no_temp_left()

    def test_commit_missing_from_the_repository(self):
        self.make_repo()
        other = os.path.join(self.tmp, "other")
        self.git("clone", "-q", self.repo, other, cwd=self.tmp)
        self.write("src/data.txt", "a\nb\nc\nd\n")
        self.git("commit", "-q", "-am", "second: only in repo")
        orig_id, _ = self.original()
        before = self.snapshot(other)
        p = self.reproduce(orig_id, "-C", other, check=1)
        err = p.stderr.decode()
        self.assertIn("commit %s" % self.git("rev-parse", "HEAD"), err)
        self.assertIn("is not in the repository at %s" % other, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertEqual(self.snapshot(other), before)
        self.assertEqual(len(self.runs()), 1)
        self.assert_no_temp_left()

    def test_patch_that_does_not_apply(self):
        self.make_repo()
        self.dirty()
        orig_id, orig = self.original()
        exp = orig["info"]["experiment_id"]
        bad = ("diff --git a/src/data.txt b/src/data.txt\n"
               "--- a/src/data.txt\n+++ b/src/data.txt\n"
               "@@ -1,2 +1,2 @@\n-nothing\n-like this\n+x\n+y\n")
        r = mtapi.call("PUT", "/api/2.0/mlflow-artifacts/artifacts/%s/%s/artifacts/"
                       "mltrack/uncommitted.patch" % (exp, orig_id), raw=bad)
        self.assertIn(r.status, (200, 201, 204), r.body)
        self.assertEqual(self.artifact(orig_id, "mltrack/uncommitted.patch"), bad)
        before = self.snapshot()
        p = self.reproduce(orig_id, check=1)
        err = p.stderr.decode()
        self.assertIn("uncommitted.patch of run %s does not apply" % orig_id, err)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(len(self.runs()), 1)
        self.assert_no_temp_left()

    def test_binary_change_cannot_be_reproduced(self):
        # The patch names a changed binary file without its bytes: it cannot
        # be applied, and reproduce says so rather than run other code.
        self.make_repo()
        with open(os.path.join(self.repo, "src", "blob.bin"), "wb") as f:
            f.write(b"\0\1\2")
        self.git("add", ".")
        self.git("commit", "-q", "-m", "blob")
        with open(os.path.join(self.repo, "src", "blob.bin"), "wb") as f:
            f.write(b"\0\3\4")
        orig_id, _ = self.original()
        before = self.snapshot()
        p = self.reproduce(orig_id, check=1)
        self.assertIn("does not apply", p.stderr.decode())
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(len(self.runs()), 1)
        self.assert_no_temp_left()

    def test_sigterm_ends_the_new_run_and_cleans_up(self):
        self.make_repo()
        self.write("src/train.sh", TRAIN + 'if [ -n "$WAIT_FILE" ]; then touch "$WAIT_FILE"; '
                   'sleep 30; fi\n')
        self.git("commit", "-q", "-am", "waits when told to")
        orig_id, _ = self.original()
        marker = os.path.join(self.tmp, "started")
        p = subprocess.Popen([CLI, "reproduce", orig_id], cwd=self.repo,
                             env=self.env(WAIT_FILE=marker, MLTRACK_KILL_GRACE="5"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.wait_for_file(marker, 30)
            p.send_signal(signal.SIGTERM)
            p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 128 + signal.SIGTERM)
        self.assert_no_temp_left()
        new = [r for r in self.runs() if r["info"]["run_id"] != orig_id]
        self.assertEqual(len(new), 1)
        self.assertEqual(new[0]["info"]["status"], "KILLED")

    def test_run_not_made_by_mltrack_run(self):
        self.make_repo()
        r = mtapi.post("experiments/create", {"name": self.exp})
        self.assertEqual(r.status, 200, r.body)
        r = mtapi.post("runs/create", {"experiment_id": r.body["experiment_id"],
                                       "run_name": "by-hand",
                                       "tags": [{"key": "mlflow.source.git.commit",
                                                 "value": self.git("rev-parse", "HEAD")}]})
        self.assertEqual(r.status, 200, r.body)
        run_id = r.body["run"]["info"]["run_id"]
        before = self.snapshot()
        p = self.reproduce(run_id, check=1)
        self.assertIn("run %s was not made by `mltrack run`" % run_id, p.stderr.decode())
        p = self.reproduce(run_id, "--dry-run", check=1)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(len(self.runs()), 1)
        self.assert_no_temp_left()

    def test_command_cut_short_or_no_commit(self):
        self.make_repo()
        self.mltrack("run", "-e", self.exp, "--", "./train.sh", "--lr", "0.5", "x" * 9000,
                     cwd=os.path.join(self.repo, "src"), check=0)
        run_id = self.only_run()["info"]["run_id"]
        p = self.reproduce(run_id, "--dry-run", check=1)
        self.assertIn("is cut short or malformed", p.stderr.decode())
        # Made by `mltrack run` outside any git work tree: no commit.
        self.mltrack("run", "-e", self.exp, "-n", "nogit", "--", "true", check=0)
        nogit = [r for r in self.runs() if r["info"]["run_name"] == "nogit"][0]
        p = self.reproduce(nogit["info"]["run_id"], check=1)
        self.assertIn("has no git commit", p.stderr.decode())
        self.assertEqual(len(self.runs()), 2)
        self.assert_no_temp_left()

    def test_check_passes_for_a_deterministic_script(self):
        self.make_repo()
        self.dirty()
        orig_id, _ = self.original()
        p = self.reproduce(orig_id, "--check", check=0)
        self.assertIn("reproduces %s" % orig_id, p.stdout.decode())
        self.assertIn("check passed: 2 metrics of run %s are the same" % orig_id,
                      p.stderr.decode())
        self.assert_no_temp_left()

    def test_check_names_the_metric_that_differs(self):
        self.make_repo()
        # noise (with NOISE set): a fresh random number each time; val and
        # zz_extra as the environment says; FAIL makes the command fail.
        self.write("src/train.sh", TRAIN + "\n".join([
            "echo 'step: 3'",
            "[ -z \"$NOISE\" ] || echo \"noise: $(od -An -N4 -tu4 /dev/urandom | tr -d ' ')\"",
            "echo \"val: ${VAL:-1.0}\"",
            "[ -n \"$NO_EXTRA\" ] || echo 'zz_extra: 5'",
            "[ -z \"$FAIL\" ] || exit 7", ""]))
        self.git("commit", "-q", "-am", "noisy")
        src = os.path.join(self.repo, "src")
        self.mltrack("run", "-e", self.exp, "-n", "noisy", "--", "./train.sh", "--lr", "0.5",
                     cwd=src, check=0, NOISE="1")
        self.mltrack("run", "-e", self.exp, "-n", "plain", "--", "./train.sh", "--lr", "0.5",
                     cwd=src, check=0)
        ids = {r["info"]["run_name"]: r["info"]["run_id"] for r in self.runs()}
        noisy, plain = ids["noisy"], ids["plain"]

        def repro(run, *args, check, **env):
            p = self.mltrack("reproduce", run, *args, cwd=self.repo, check=check, **env)
            return p.stdout.decode(), p.stderr.decode().strip().splitlines()

        # The random metric fails the check, named in the last line, after
        # the comparison table.
        out, err = repro(noisy, "--check", check=1, NOISE="1")
        self.assertIn("reproduces %s" % noisy, out)
        self.assertIn("noise", out)
        self.assertRegex(err[-1], r"^mltrack: check failed: metric noise at step 3: \d+ in "
                         r"run %s, \d+ in run [0-9a-f]{32}$" % noisy)
        # |a-b| <= REL * max(1, |a|, |b|): with REL 1, any two of its
        # non-negative values agree.
        _, err = repro(noisy, "--check", "--tolerance", "1", check=0, NOISE="1")
        self.assertIn("check passed: 5 metrics of run %s agree" % noisy, err[-1])
        # 1.0 and 1.05 differ by 0.05: more than 0.04 * 1.05, less than 0.05 * 1.05.
        _, err = repro(plain, "--check", "--tolerance", "0.04", check=1, VAL="1.05")
        self.assertRegex(err[-1], r"^mltrack: check failed: metric val at step 3: 1 in run "
                         r"%s, 1.05\d* in run [0-9a-f]{32}$" % plain)
        repro(plain, "--check", "--tolerance", "0.05", check=0, VAL="1.05")
        _, err = repro(plain, "--check", check=1, NO_EXTRA="1")
        self.assertRegex(err[-1], r"^mltrack: check failed: metric zz_extra of run %s is "
                         r"missing from run [0-9a-f]{32}$" % plain)
        # The command's own failure is the exit status, not the check's.
        repro(plain, "--check", check=7, FAIL="1")
        self.assertEqual(len(self.runs()), 2 + 6)
        self.assert_no_temp_left()

    def test_usage(self):
        self.make_repo()
        out = self.mltrack("reproduce", "--help", check=0).stdout
        for word in (b"mltrack.reproduces", b"--check", b"--tolerance REL",
                     b"1 when a metric of RUN is missing"):
            self.assertIn(word, out)
        self.mltrack("reproduce", check=2)
        self.reproduce("0123456789abcdef0123456789abcdef", check=3)
        for args, msg in [(["--tolerance", "0.1"], "--tolerance needs --check"),
                          (["--check", "--tolerance", "-1"], "--tolerance: a number"),
                          (["--check", "--tolerance", "x"], "--tolerance: a number"),
                          (["--check", "--tolerance", "inf"], "--tolerance: a number")]:
            p = self.reproduce("0123456789abcdef", *args, check=2)
            self.assertIn(msg, p.stderr.decode())
        orig_id, _ = self.original()
        os.makedirs(os.path.join(self.tmp, "plain"))
        p = self.reproduce(orig_id, "-C", os.path.join(self.tmp, "plain"), check=2)
        self.assertIn("not in a git work tree", p.stderr.decode())
        # --keep inside a work tree: the new run would take that tree's
        # provenance; refused, and the directory it made is gone.
        before = self.snapshot()
        p = self.reproduce(orig_id, "--keep", "kept", check=2)
        self.assertIn("is inside the git work tree", p.stderr.decode())
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(len(self.runs()), 1)
        self.assert_no_temp_left()


if __name__ == "__main__":
    unittest.main()
