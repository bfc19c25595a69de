"""mltrack run and mltrack sync against a live mltrackd (tests/run-api.sh).

Each test works in its own temporary directory with its own spool
(MLTRACK_SPOOL_DIR), runs the real mltrack binary on real commands and checks
what the server recorded through the REST API.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
import mtapi  # noqa: E402
from ptyrun import run_on_pty  # noqa: E402

CLI = os.environ.get("MLTRACK_CLI", "build/default/mltrack")
DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port


class RunCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mltrack-run-")
        self.spool = os.path.join(self.tmp, "spool")
        self.exp = mtapi.uniq("run")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def env(self, uri=None, **extra):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith(("MLFLOW_", "MLTRACK_")) and k not in ("MLTRACK_CLI",):
                del e[k]
        e["MLTRACK_TRACKING_URI"] = uri or mtapi.BASE
        e["MLTRACK_SPOOL_DIR"] = self.spool
        e["MLTRACK_HTTP_RETRIES"] = "2"
        e["HOME"] = self.tmp
        if "ASAN_OPTIONS" in os.environ:
            e["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"]
        e.update(extra)
        return e

    def mltrack(self, *args, uri=None, cwd=None, check=None, timeout=120, **extra):
        p = subprocess.run([CLI] + list(args), capture_output=True, env=self.env(uri, **extra),
                           cwd=cwd or self.tmp, timeout=timeout)
        if check is not None and p.returncode != check:
            raise AssertionError("mltrack %s: exit %d, want %d\nstdout: %r\nstderr: %r"
                                 % (" ".join(args), p.returncode, check, p.stdout, p.stderr))
        return p

    def script(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
        return path

    def runs(self):
        r = mtapi.get("experiments/get-by-name", experiment_name=self.exp)
        if r.status == 404:
            return []
        exp_id = r.body["experiment"]["experiment_id"]
        r = mtapi.post("runs/search", {"experiment_ids": [exp_id], "max_results": 100})
        return r.body.get("runs", [])

    def only_run(self):
        runs = self.runs()
        self.assertEqual(len(runs), 1, runs)
        return mtapi.get_run(runs[0]["info"]["run_id"])

    def artifact(self, run_id, path):
        exp = mtapi.get_run(run_id)["info"]["experiment_id"]
        r = mtapi.call("GET", "/api/2.0/mlflow-artifacts/artifacts/%s/%s/artifacts/%s"
                       % (exp, run_id, path))
        self.assertEqual(r.status, 200, (path, r.body))
        return r.body if isinstance(r.body, (bytes, str)) else r.body

    def wait_for_file(self, path, seconds=10):
        """Until the command under test has created path (it is running)."""
        deadline = time.monotonic() + seconds
        while not os.path.exists(path):
            self.assertLess(time.monotonic(), deadline, "%s never appeared" % path)
            time.sleep(0.05)

    def spooled(self):
        return sorted(os.listdir(self.spool)) if os.path.isdir(self.spool) else []


class TestRun(RunCase):
    def test_params_metrics_tags_output_and_status(self):
        train = self.script("train.sh", "\n".join([
            "#!/bin/sh",
            "echo starting",
            "for i in 1 2 3; do echo \"loss: 0.$i\"; echo \"acc=0.9$i\"; done",
            "echo 'not a metric: 1 2'",
            "echo 'step: 10'",
            "echo 'loss: 0.05'",
            "echo 'val/acc = 0.5' >&2",
            "exit 0", ""]))
        p = self.mltrack("run", "-e", self.exp, "-n", "first", "-p", "lr=0.5", "-t", "team=ml",
                         "--", train, "data.csv", "--lr", "0.1", "--epochs=3", "--fp16", check=0)
        # The command's output passes through unchanged, stream by stream.
        direct = subprocess.run([train, "data.csv", "--lr", "0.1", "--epochs=3", "--fp16"],
                                capture_output=True)
        self.assertEqual(p.stdout, direct.stdout)
        self.assertIn(b"val/acc = 0.5\n", p.stderr)
        run = self.only_run()
        info, data = run["info"], run["data"]
        self.assertEqual(info["status"], "FINISHED")
        self.assertEqual(info["run_name"], "first")
        params = mtapi.kv(data["params"])
        # -p wins over the command's own --lr; bare --fp16 is "true".
        self.assertEqual(params, {"lr": "0.5", "epochs": "3", "fp16": "true"})
        tags = mtapi.kv(data["tags"])
        self.assertEqual(tags["team"], "ml")
        self.assertEqual(tags["mltrack.exit_code"], "0")
        self.assertEqual(tags["mlflow.source.type"], "LOCAL")
        self.assertEqual(tags["mlflow.source.name"], train)
        self.assertTrue(tags["mltrack.command"].endswith("data.csv --lr 0.1 --epochs=3 --fp16"))
        self.assertNotIn("mlflow.source.git.commit", tags)  # not in a repository
        loss = [(m["step"], m["value"]) for m in mtapi.history(info["run_id"], "loss")]
        self.assertEqual(sorted(loss), [(0, 0.1), (1, 0.2), (2, 0.3), (10, 0.05)])
        acc = sorted((m["step"], m["value"]) for m in mtapi.history(info["run_id"], "acc"))
        self.assertEqual(acc, [(0, 0.91), (1, 0.92), (2, 0.93)])
        self.assertEqual([m["step"] for m in mtapi.history(info["run_id"], "val/acc")], [10])
        metrics = mtapi.metrics_by_key(run)
        for k in ("mltrack.wall_time_s", "mltrack.cpu_time_s", "mltrack.peak_rss_mb"):
            self.assertIn(k, metrics)
        # The shell script's own peak, not mltrack's: a vfork-style start
        # reported ours (13 MB), since the memory before exec was ours.  A
        # fork still counts the few MB of our memory it copied, more under
        # AddressSanitizer, whose shadow memory the fork copies too.
        self.assertGreater(metrics["mltrack.peak_rss_mb"]["value"], 0)
        if "/asan/" not in CLI:
            self.assertLess(metrics["mltrack.peak_rss_mb"]["value"], 8)
        # The combined output is the artifact mltrack/output.log.
        log = self.artifact(info["run_id"], "mltrack/output.log")
        self.assertIn("starting", log)
        self.assertIn("val/acc = 0.5", log)
        self.assertEqual(self.spooled(), [])  # everything acknowledged: spool removed

    def test_wraps_python_shell_and_c_programs_unchanged(self):
        # The three examples of docs/cli.md, as a new user would write them.
        with open(os.path.join(self.tmp, "train.py"), "w") as f:
            f.write("import argparse, math\n"
                    "p = argparse.ArgumentParser(); p.add_argument('--lr', type=float); "
                    "p.add_argument('--epochs', type=int)\n"
                    "a = p.parse_args()\n"
                    "for epoch in range(a.epochs):\n"
                    "    print(f'step: {epoch}')\n"
                    "    print(f'loss: {math.exp(-a.lr * epoch):.4f}')\n")
        self.script("train.sh", "#!/bin/sh\nfor i in 1 2 3; do echo \"acc=0.$((80 + i))\"; done\n")
        with open(os.path.join(self.tmp, "train.c"), "w") as f:
            f.write('#include <stdio.h>\nint main(void) { for (int i = 0; i < 3; i++) '
                    'printf("loss: %g\\n", 1.0 / (i + 1)); return 0; }\n')
        subprocess.run(["cc", "-o", "train", "train.c"], cwd=self.tmp, check=True)
        self.mltrack("run", "-e", self.exp, "-n", "py", "--", sys.executable, "train.py",
                     "--lr", "0.5", "--epochs", "5", check=0)
        self.mltrack("run", "-e", self.exp, "-n", "sh", "-p", "dataset=v2", "--", "./train.sh",
                     check=0)
        self.mltrack("run", "-e", self.exp, "-n", "c", "--artifacts", "train.c", "--", "./train",
                     check=0)
        runs = {r["info"]["run_name"]: r for r in self.runs()}
        self.assertEqual(sorted(runs), ["c", "py", "sh"])
        py = runs["py"]
        self.assertEqual(py["info"]["status"], "FINISHED")
        self.assertEqual(mtapi.kv(py["data"]["params"]), {"lr": "0.5", "epochs": "5"})
        self.assertEqual(mtapi.kv(py["data"]["tags"])["mlflow.source.name"], "train.py")
        loss = sorted((m["step"], m["value"]) for m in mtapi.history(py["info"]["run_id"], "loss"))
        self.assertEqual([s for s, _ in loss], [0, 1, 2, 3, 4])
        self.assertAlmostEqual(loss[4][1], 0.1353, places=4)
        acc = sorted(m["value"] for m in mtapi.history(runs["sh"]["info"]["run_id"], "acc"))
        self.assertEqual(acc, [0.81, 0.82, 0.83])
        self.assertEqual(mtapi.kv(runs["sh"]["data"]["params"]), {"dataset": "v2"})
        c_loss = sorted((m["step"], m["value"]) for m in mtapi.history(runs["c"]["info"]["run_id"],
                                                                    "loss"))
        self.assertEqual([s for s, _ in c_loss], [0, 1, 2])
        for (_, got), want in zip(c_loss, (1.0, 0.5, 1.0 / 3)):
            self.assertAlmostEqual(got, want, places=5)
        r = mtapi.get("artifacts/list", run_id=runs["c"]["info"]["run_id"])
        self.assertIn("train.c", [f["path"] for f in r.body["files"]])

    def test_no_flags_no_scrape_and_custom_scrape(self):
        cmd = self.script("t.sh", "#!/bin/sh\necho 'loss: 1'\necho 'Epoch 3 | top1 72.5% | top5 91'\n"
                          "echo 'acc=5'\n")
        self.mltrack("run", "-e", self.exp, "--no-flags", "--no-scrape",
                     "--scrape", r"(top[0-9]) ([0-9.]+)", "--scrape", r"epoch=Epoch ([0-9]+)",
                     "--", cmd, "--lr", "1", check=0)
        run = self.only_run()
        self.assertEqual(run["data"].get("params", []), [])
        m = {k: v["value"] for k, v in mtapi.metrics_by_key(run).items()}
        self.assertEqual(m["top1"], 72.5)
        self.assertEqual(m["top5"], 91)
        self.assertEqual(m["epoch"], 3)
        self.assertNotIn("loss", m)
        self.assertNotIn("acc", m)

    def test_bad_usage(self):
        cases = [
            (("run",), "missing COMMAND"),
            (("run", "-p", "novalue", "--", "true"), "expected KEY=VALUE"),
            (("run", "--scrape", "no groups", "--", "true"), "--scrape"),
            (("run", "--bogus", "--", "true"), "unknown option"),
        ]
        for args, text in cases:
            with self.subTest(args=args):
                p = self.mltrack(*args, check=2)
                self.assertIn(text.encode(), p.stderr)
                self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertEqual(self.runs(), [])

    def test_child_environment(self):
        out = os.path.join(self.tmp, "env.txt")
        self.mltrack("run", "-e", self.exp, "--", "sh", "-c", "env > " + out, check=0)
        with open(out) as f:
            env = dict(l.split("=", 1) for l in f.read().splitlines() if "=" in l)
        run = self.only_run()
        rid = run["info"]["run_id"]
        self.assertEqual(env["MLTRACK_RUN_ID"], rid)
        self.assertEqual(env["MLFLOW_RUN_ID"], rid)
        self.assertEqual(env["MLFLOW_EXPERIMENT_ID"], run["info"]["experiment_id"])
        self.assertEqual(env["MLFLOW_TRACKING_URI"], mtapi.BASE)
        self.assertEqual(env["MLTRACK_TRACKING_URI"], mtapi.BASE)

    def test_run_id_file(self):
        # Written when the run is created (the command can read it), and for
        # a failing command too; an offline run, never reaching the server,
        # writes none.
        idf = os.path.join(self.tmp, "id.txt")
        seen = os.path.join(self.tmp, "seen.txt")
        self.mltrack("run", "-e", self.exp, "--run-id-file", idf, "--", "sh", "-c",
                     "cat %s > %s; exit 4" % (idf, seen), check=4)
        rid = self.only_run()["info"]["run_id"]
        with open(idf) as f:
            self.assertEqual(f.read(), rid + "\n")
        with open(seen) as f:
            self.assertEqual(f.read(), rid + "\n")
        off = os.path.join(self.tmp, "off.txt")
        self.mltrack("run", "-e", self.exp, "--run-id-file", off, "--", "true",
                     uri="http://127.0.0.1:9", check=0)
        self.assertFalse(os.path.exists(off))

    def test_peak_rss_is_the_commands(self):
        # A command that holds 64 MB reports at least that (wait4's ru_maxrss).
        self.mltrack("run", "-e", self.exp, "--", sys.executable, "-c",
                     "x = bytearray(64 << 20); x[::4096] = b'1' * len(x[::4096])", check=0)
        peak = mtapi.metrics_by_key(self.only_run())["mltrack.peak_rss_mb"]["value"]
        self.assertGreaterEqual(peak, 64)
        self.assertLess(peak, 400)

    def test_exit_codes_and_statuses(self):
        p = self.mltrack("run", "-e", self.exp, "-n", "fails", "--", "sh", "-c", "exit 3", check=3)
        p = self.mltrack("run", "-e", self.exp, "-n", "nope", "--", "/no/such/program", check=127)
        self.assertIn(b"cannot run '/no/such/program'", p.stderr)
        p = self.mltrack("run", "-e", self.exp, "-n", "sig", "--", "sh", "-c", "kill -KILL $$",
                         check=137)
        status = {r["info"]["run_name"]: r["info"]["status"] for r in self.runs()}
        self.assertEqual(status, {"fails": "FAILED", "nope": "FAILED", "sig": "KILLED"})
        tags = {r["info"]["run_name"]: mtapi.kv(r["data"]["tags"]) for r in self.runs()}
        self.assertEqual(tags["fails"]["mltrack.exit_code"], "3")
        self.assertEqual(tags["sig"]["mltrack.exit_code"], "137")

    def test_sigterm_is_forwarded_and_the_run_is_killed(self):
        mark = os.path.join(self.tmp, "started")
        child = self.script("long.sh", "#!/bin/sh\ntrap 'echo got-term; exit 0' TERM\n"
                            "touch %s\nwhile true; do sleep 0.1; done\n" % mark)
        proc = subprocess.Popen([CLI, "run", "-e", self.exp, "--", child],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self.env(), cwd=self.tmp)
        self.wait_for_file(mark)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        self.assertIn(b"got-term", out)
        self.assertEqual(proc.returncode, 0)  # the command's own status
        run = self.only_run()
        self.assertEqual(run["info"]["status"], "KILLED")

    def test_grace_period_then_sigkill(self):
        mark = os.path.join(self.tmp, "started")
        child = self.script("stubborn.sh", "#!/bin/sh\ntrap '' TERM\ntouch %s\n"
                            "while true; do sleep 0.1; done\n" % mark)
        proc = subprocess.Popen([CLI, "run", "-e", self.exp, "--", child],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self.env(MLTRACK_KILL_GRACE="0.5"), cwd=self.tmp)
        self.wait_for_file(mark)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 137)
        self.assertEqual(self.only_run()["info"]["status"], "KILLED")

    def test_artifacts_option(self):
        os.makedirs(os.path.join(self.tmp, "ckpt", "sub"))
        with open(os.path.join(self.tmp, "ckpt", "sub", "w.bin"), "wb") as f:
            f.write(os.urandom(50000))
        with open(os.path.join(self.tmp, "metrics.json"), "w") as f:
            f.write('{"a": 1}')
        p = self.mltrack("run", "-e", self.exp, "--artifacts", "ckpt", "--artifacts",
                         "metrics.json", "--artifacts", "missing.txt", "--", "true", check=0)
        self.assertIn(b"--artifacts 'missing.txt'", p.stderr)
        rid = self.only_run()["info"]["run_id"]
        r = mtapi.get("artifacts/list", run_id=rid)
        # `true` prints nothing, so there is no mltrack/output.log to keep.
        self.assertEqual(sorted(f["path"] for f in r.body["files"]), ["ckpt", "metrics.json"])
        r = mtapi.get("artifacts/list", run_id=rid, path="ckpt/sub")
        self.assertEqual([(f["path"], f["file_size"]) for f in r.body["files"]],
                         [("ckpt/sub/w.bin", 50000)])

    def test_system_metrics_sampled(self):
        self.mltrack("run", "-e", self.exp, "--", "sh", "-c",
                     "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 0.5",
                     check=0, MLTRACK_SYSTEM_METRICS_INTERVAL="0.2")
        rid = self.only_run()["info"]["run_id"]
        cpu = mtapi.history(rid, "system/cpu_percent")
        mem = mtapi.history(rid, "system/memory_mb")
        self.assertGreaterEqual(len(cpu), 1)
        self.assertGreaterEqual(len(mem), 1)
        self.assertTrue(all(m["value"] >= 0 for m in cpu))
        self.assertTrue(any(m["value"] > 0 for m in mem))

    def test_carriage_returns_and_terminal(self):
        child = self.script("bar.sh", "#!/bin/sh\nprintf 'progress 1\\rprogress 2\\rdone\\n'\n"
                            "if [ -t 1 ]; then echo tty; else echo notty; fi\n")
        p = self.mltrack("run", "-e", self.exp, "--", child, check=0)
        self.assertEqual(p.stdout, b"progress 1\rprogress 2\rdone\nnotty\n")
        # Under a terminal the command gets one too (line buffering, bars).
        rc, out, _ = run_on_pty([CLI, "-q", "run", "-e", self.exp, "--", child],
                                env=self.env(), cwd=self.tmp, stdin_too=True)
        self.assertEqual(rc, 0, out)
        self.assertIn(b"tty\r\n", out)
        self.assertIn(b"progress 1\rprogress 2\rdone", out)


class TestProvenance(RunCase):
    def git(self, *args, cwd):
        subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com",
                        "-c", "init.defaultBranch=main"] + list(args), cwd=cwd, check=True,
                       capture_output=True, env=dict(os.environ, HOME=self.tmp))

    def test_git_tags_and_uncommitted_patch(self):
        repo = os.path.join(self.tmp, "repo")
        os.makedirs(os.path.join(repo, "src"))
        self.git("init", "-q", repo, cwd=self.tmp)
        with open(os.path.join(repo, "train.py"), "w") as f:
            f.write("print('v1')\n")
        self.git("add", "train.py", cwd=repo)
        self.git("commit", "-q", "-m", "one", cwd=repo)
        self.git("remote", "add", "origin",
                 "https://alice:s3cr3t-pw@git.example.com/team/model.git", cwd=repo)
        with open(os.path.join(repo, "train.py"), "w") as f:
            f.write("print('v2')\n")
        with open(os.path.join(repo, "untracked.txt"), "w") as f:
            f.write("not in the patch\n")
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                              text=True).stdout.strip()
        self.mltrack("run", "-e", self.exp, "--", "sh", "-c", "echo hi",
                     cwd=os.path.join(repo, "src"), check=0)
        run = self.only_run()
        tags = mtapi.kv(run["data"]["tags"])
        self.assertEqual(tags["mlflow.source.git.commit"], head)
        self.assertEqual(tags["mlflow.source.git.branch"], "main")
        self.assertEqual(tags["mlflow.source.git.repoURL"],
                         "https://git.example.com/team/model.git")
        self.assertEqual(tags["mltrack.git.dirty"], "true")
        self.assertNotIn("s3cr3t", str(run))
        patch = self.artifact(run["info"]["run_id"], "mltrack/uncommitted.patch")
        self.assertIn("-print('v1')", patch)
        self.assertIn("+print('v2')", patch)
        self.assertNotIn("untracked", patch)


class TestProvenanceAfterCreation(RunCase):
    """The provenance is read beside the run's creation and follows it as a
    batch record: it must arrive however soon or however badly the run
    ends, and travel with the spool when the server is away."""

    git = TestProvenance.git

    def repo(self, dirty):
        repo = os.path.join(self.tmp, "repo")
        os.makedirs(repo)
        self.git("init", "-q", repo, cwd=self.tmp)
        with open(os.path.join(repo, "train.py"), "w") as f:
            f.write("print('v1')\n")
        self.git("add", "train.py", cwd=repo)
        self.git("commit", "-q", "-m", "one", cwd=repo)
        self.git("remote", "add", "origin", "https://git.example.com/team/model.git", cwd=repo)
        if dirty:
            with open(os.path.join(repo, "train.py"), "w") as f:
                f.write("print('v2')\n")
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                              text=True).stdout.strip()
        return repo, head

    def assert_provenance(self, run, head, dirty):
        tags = mtapi.kv(run["data"]["tags"])
        self.assertEqual(tags["mlflow.source.git.commit"], head)
        self.assertEqual(tags["mlflow.source.git.branch"], "main")
        self.assertEqual(tags["mlflow.source.git.repoURL"], "https://git.example.com/team/model.git")
        self.assertEqual(tags["mltrack.git.dirty"], "true" if dirty else "false")
        self.assertEqual(tags["mlflow.source.type"], "LOCAL")  # the creation's tags too
        if dirty:
            patch = self.artifact(run["info"]["run_id"], "mltrack/uncommitted.patch")
            self.assertIn("+print('v2')", patch)

    def test_command_that_exits_at_once(self):
        repo, head = self.repo(dirty=True)
        self.mltrack("run", "-e", self.exp, "--", "true", cwd=repo, check=0)
        run = self.only_run()
        self.assertEqual(run["info"]["status"], "FINISHED")
        self.assert_provenance(run, head, dirty=True)

    def test_command_killed_by_a_signal(self):
        repo, head = self.repo(dirty=False)
        self.mltrack("run", "-e", self.exp, "--", "sh", "-c", "kill -KILL $$", cwd=repo,
                     check=137)
        run = self.only_run()
        self.assertEqual(run["info"]["status"], "KILLED")
        self.assert_provenance(run, head, dirty=False)

    def test_server_down_spooled_then_synced(self):
        repo, head = self.repo(dirty=True)
        p = self.mltrack("run", "-e", self.exp, "--", "true", cwd=repo, uri=DEAD, check=0)
        self.assertIn(b"spooled", p.stderr)
        self.assertEqual(self.runs(), [])
        self.assertEqual(len(self.spooled()), 1)
        self.mltrack("sync", check=0)
        self.assertEqual(self.spooled(), [])
        run = self.only_run()
        self.assertEqual(run["info"]["status"], "FINISHED")
        self.assert_provenance(run, head, dirty=True)

    def assert_killed_then_synced(self, uri=None):
        """mltrack run and its command killed once the command runs, then
        mltrack sync: the run is KILLED, with its provenance."""
        repo, head = self.repo(dirty=True)
        mark = os.path.join(self.tmp, "started")
        proc = subprocess.Popen([CLI, "run", "-e", self.exp, "--", "sh", "-c",
                                 "touch %s; sleep 30" % mark],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=self.env(uri), cwd=repo, start_new_session=True)
        self.wait_for_file(mark)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        self.mltrack("sync", check=0)
        run = self.only_run()
        self.assertEqual(run["info"]["status"], "KILLED")
        self.assert_provenance(run, head, dirty=True)

    def test_mltrack_killed_with_its_command_then_synced(self):
        # Killed before any push after the creation (the server is away):
        # the provenance is in the journal, and sync sends it.
        self.assert_killed_then_synced(uri=DEAD)

    def test_killed_while_the_server_answers(self):
        # The same with the server up: the creation reached it, the
        # provenance may or may not have; sync completes it.
        self.assert_killed_then_synced()

    def test_libgit2_that_cannot_be_loaded(self):
        # A broken installation: the run goes on, without provenance.
        repo, _ = self.repo(dirty=True)
        try:  # the library mltrack was built for: libgit2.so.<LIBGIT2_SOVERSION>
            with open("/usr/include/git2/version.h") as f:
                soversion = re.search(r'#define LIBGIT2_SOVERSION\s+"([^"]+)"', f.read()).group(1)
        except (OSError, AttributeError):
            self.skipTest("no git2/version.h to name the library")
        libdir = os.path.join(self.tmp, "lib")
        os.makedirs(libdir)
        with open(os.path.join(libdir, "libgit2.so." + soversion), "w") as f:
            f.write("not a library\n")
        p = self.mltrack("run", "-e", self.exp, "--", "true", cwd=repo, check=0,
                         LD_LIBRARY_PATH=libdir)
        self.assertIn(b"git provenance not recorded: cannot load libgit2.so.", p.stderr)
        run = self.only_run()
        self.assertEqual(run["info"]["status"], "FINISHED")
        tags = mtapi.kv(run["data"]["tags"])
        self.assertNotIn("mlflow.source.git.commit", tags)
        self.assertEqual(tags["mlflow.source.name"], "true")


class TestSpool(RunCase):
    def count_points(self, run_id, key):
        return len(mtapi.history(run_id, key))

    def test_offline_run_then_sync_twice(self):
        cmd = self.script("t.sh", "#!/bin/sh\nfor i in $(seq 1 2500); do echo \"loss: $i\"; done\n"
                          "echo done\n")
        p = self.mltrack("run", "-e", self.exp, "-p", "a=1", "--", cmd, "--lr", "3", uri=DEAD,
                         check=0)
        self.assertIn(b"spooled", p.stderr)
        self.assertEqual(p.stdout.count(b"\n"), 2501)  # the command ran all the same
        self.assertEqual(self.runs(), [])
        self.assertEqual(len(self.spooled()), 1)
        p = self.mltrack("sync", check=0)
        self.assertIn(b"synced 1 run", p.stderr)
        self.assertEqual(self.spooled(), [])
        run = self.only_run()
        rid = run["info"]["run_id"]
        self.assertEqual(run["info"]["status"], "FINISHED")
        self.assertEqual(mtapi.kv(run["data"]["params"]), {"a": "1", "lr": "3"})
        self.assertEqual(self.count_points(rid, "loss"), 2500)
        self.assertIn("done", self.artifact(rid, "mltrack/output.log"))
        p = self.mltrack("sync", check=0)
        self.assertIn(b"synced 0 runs", p.stderr)
        self.assertEqual(len(self.runs()), 1)
        self.assertEqual(self.count_points(rid, "loss"), 2500)

    def test_mltrack_log_inside_an_offline_run_is_spooled(self):
        # The training script calls `mltrack log` itself; the server is down
        # for the whole run, so those values must travel with the spool.
        cmd = self.script("t.sh", "#!/bin/sh\n"
                          "%s log metric acc 0.75 --step 4\n"
                          "%s log param optimizer adam\n"
                          "%s log tag phase warmup\n" % (CLI, CLI, CLI))
        self.mltrack("run", "-e", self.exp, "--", cmd, uri=DEAD, check=0)
        self.assertEqual(self.runs(), [])
        self.mltrack("sync", check=0)
        run = self.only_run()
        self.assertEqual(mtapi.kv(run["data"]["params"]), {"optimizer": "adam"})
        self.assertEqual(mtapi.kv(run["data"]["tags"])["phase"], "warmup")
        acc = mtapi.history(run["info"]["run_id"], "acc")
        self.assertEqual([(m["step"], m["value"]) for m in acc], [(4, 0.75)])

    def test_sync_killed_halfway_then_rerun(self):
        cmd = self.script("t.sh", "#!/bin/sh\nseq 1 30000 | sed 's/^/m: /'\n")
        self.mltrack("run", "-e", self.exp, "--", cmd, uri=DEAD, check=0)
        (spool_dir,) = self.spooled()
        state = os.path.join(self.spool, spool_dir, "state")
        journal = os.path.getsize(os.path.join(self.spool, spool_dir, "journal"))
        proc = subprocess.Popen([CLI, "sync"], env=self.env(), cwd=self.tmp,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill it once the server has acknowledged part, not all, of it.
        acked = 0
        for _ in range(2000):
            try:
                with open(state) as f:
                    acked = int(f.read().split('"acked":')[1].strip(" }\n"))
            except (OSError, IndexError, ValueError):
                acked = 0
            if acked > 0:
                break
            time.sleep(0.002)
        proc.kill()
        proc.wait()
        self.assertGreater(acked, 0)
        self.assertLess(acked, journal, "sync finished before it could be killed")
        self.mltrack("sync", check=0)
        self.assertEqual(self.spooled(), [])
        runs = self.runs()
        self.assertEqual(len(runs), 1)  # found again by its spool id, not created twice
        rid = runs[0]["info"]["run_id"]
        hist = mtapi.history(rid, "m")
        self.assertEqual(len(hist), 30000)
        self.assertEqual(sorted(m["value"] for m in hist), [float(i) for i in range(1, 30001)])
        self.assertEqual(mtapi.get_run(rid)["info"]["status"], "FINISHED")

    def test_crashed_run_is_closed_as_killed(self):
        mark = os.path.join(self.tmp, "started")
        child = self.script("c.sh", "#!/bin/sh\necho 'x: 1'\ntouch %s\nsleep 30\n" % mark)
        proc = subprocess.Popen([CLI, "run", "-e", self.exp, "--", child],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=self.env(uri=DEAD), cwd=self.tmp, start_new_session=True)
        self.wait_for_file(mark)
        time.sleep(0.5)  # the scraped point reaches the journal within 250 ms
        os.killpg(proc.pid, signal.SIGKILL)  # mltrack and its command die at once
        proc.wait()
        self.mltrack("sync", check=0)
        run = self.only_run()
        self.assertEqual(run["info"]["status"], "KILLED")
        self.assertEqual(mtapi.metrics_by_key(run)["x"]["value"], 1)
        self.assertEqual(self.spooled(), [])

    def test_every_command_syncs_quickly_first(self):
        self.mltrack("run", "-e", self.exp, "--", "true", uri=DEAD, check=0)
        self.assertEqual(len(self.spooled()), 1)
        run_id = mtapi.new_run(mtapi.new_experiment())
        p = self.mltrack("artifacts", "list", run_id, check=0)
        self.assertIn(b"uploaded 1 spooled run", p.stderr)
        self.assertEqual(self.spooled(), [])
        self.assertEqual(len(self.runs()), 1)


if __name__ == "__main__":
    unittest.main()
