"""mltrack sweep against a live mltrackd (tests/run-api.sh).

Each test sweeps a small shell script in its own temporary directory and
checks what the server recorded: one parent run, one child run per trial
(mlflow.parentRunId, mltrack.sweep.trial, params), the plan in the parent's
tags, the best child; and the behaviours of the issue: seeded draws, resume
after a killed sweep, --parallel overlapping trials, Ctrl-C, early stopping.
"""

import fcntl
import json
import os
import pty
import re
import signal
import subprocess
import sys
import termios
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
import mtapi  # noqa: E402
from test_run import CLI, RunCase  # noqa: E402


class SweepCase(RunCase):
    def sweep(self, *args, check=None, timeout=120, **extra):
        return self.mltrack("sweep", "-e", self.exp, *args, check=check, timeout=timeout,
                            **extra)

    def children(self, parent):
        return [r for r in self.runs()
                if mtapi.kv(r["data"].get("tags", [])).get("mlflow.parentRunId") == parent]

    def parents(self):
        return [r for r in self.runs()
                if "mltrack.sweep.command" in mtapi.kv(r["data"].get("tags", []))]

    def only_parent(self):
        p = self.parents()
        self.assertEqual(len(p), 1, p)
        return mtapi.get_run(p[0]["info"]["run_id"])

    def by_trial(self, parent):
        out = {}
        for r in self.children(parent):
            tags = mtapi.kv(r["data"]["tags"])
            out.setdefault(int(tags["mltrack.sweep.trial"]), []).append(r)
        return out

    def plan(self, parent):
        plan = self.artifact(parent, "sweep/plan.json")
        return json.loads(plan) if isinstance(plan, (bytes, str)) else plan

    def params_of(self, parent):
        """{trial: params} of a sweep's children (one run per trial)."""
        out = {}
        for trial, runs in self.by_trial(parent).items():
            self.assertEqual(len(runs), 1, runs)
            out[trial] = mtapi.kv(runs[0]["data"].get("params", []))
        return out


class TestSweepGrid(SweepCase):
    def test_grid_children_tags_table_and_best(self):
        train = self.script("train.sh", "\n".join([
            "#!/bin/sh",
            "# --lr L --depth D: val_acc = D/10 + L",
            "echo \"val_acc: $(awk \"BEGIN{print $4/10 + $2}\")\"", ""]))
        p = self.sweep("--objective", "metrics.val_acc", "--maximize", "--seed", "3", "--",
                       train, "--lr", "[0.01, 0.02]", "--depth", "range(2,5)", check=0)
        parent = self.only_parent()
        pid = parent["info"]["run_id"]
        ptags = mtapi.kv(parent["data"]["tags"])
        self.assertEqual(json.loads(ptags["mltrack.sweep.command"]),
                         [train, "--lr", "[0.01, 0.02]", "--depth", "range(2,5)"])
        self.assertEqual(ptags["mltrack.sweep.seed"], "3")
        self.assertEqual(ptags["mltrack.sweep.total"], "6")
        self.assertEqual(ptags["mltrack.sweep.objective"], "val_acc")
        self.assertEqual(ptags["mltrack.sweep.direction"], "maximize")
        self.assertEqual(parent["info"]["status"], "FINISHED")
        # 2 x 3 grid points, nested loops in the order written.
        params = self.params_of(pid)
        self.assertEqual(params, {
            0: {"lr": "0.01", "depth": "2"}, 1: {"lr": "0.01", "depth": "3"},
            2: {"lr": "0.01", "depth": "4"}, 3: {"lr": "0.02", "depth": "2"},
            4: {"lr": "0.02", "depth": "3"}, 5: {"lr": "0.02", "depth": "4"}})
        for trial, runs in self.by_trial(pid).items():
            run = mtapi.get_run(runs[0]["info"]["run_id"])
            self.assertEqual(run["info"]["status"], "FINISHED")
            self.assertEqual(run["info"]["run_name"], "sweep-3-%d" % trial)
            # A full mltrack run: its command line, output, scraped metric.
            tags = mtapi.kv(run["data"]["tags"])
            self.assertIn("--depth %s" % params[trial]["depth"], tags["mltrack.command"])
            self.assertIn("val_acc", mtapi.kv(run["data"]["metrics"]))
        # The best child: depth 4, lr 0.02.
        best = self.by_trial(pid)[5][0]["info"]["run_id"]
        self.assertEqual(ptags["mltrack.sweep.best_run"], best)
        self.assertEqual(ptags["mltrack.sweep.best_trial"], "5")
        self.assertEqual(float(ptags["mltrack.sweep.best_value"]), 0.42)
        # The table, sorted by the objective, then the command to copy.
        out = p.stdout.decode()
        rows = [l.split() for l in out.splitlines() if re.match(r"^\d+\s", l)]
        self.assertEqual([r[0] for r in rows], ["5", "2", "4", "1", "3", "0"])
        self.assertEqual(rows[0][:5], ["5", "FINISHED", "0.42", "0.02", "4"])
        self.assertIn("best: trial 5, val_acc 0.42, run %s" % best, out)
        self.assertIn("\n  %s --lr 0.02 --depth 4\n" % train, out)
        # The plan, every trial's values, as the artifact sweep/plan.json.
        plan = self.plan(pid)
        self.assertEqual(plan["seed"], "3")
        self.assertEqual(plan["axes"], ["lr", "depth"])
        self.assertEqual([t["values"] for t in plan["trials"]], [params[i] for i in range(6)])
        self.assertEqual(plan["trials"][5]["args"], [train, "--lr", "0.02", "--depth", "4"])

    def test_minimize_positional_and_failures(self):
        # A trial that fails makes the sweep exit 1 and shows FAILED.
        train = self.script("t.sh", "#!/bin/sh\necho \"loss: $1\"\n[ \"$1\" != 3 ]\n")
        p = self.sweep("--objective", "loss", "--minimize", "--", train, "[2,3,1]", check=1)
        pid = self.only_parent()["info"]["run_id"]
        params = self.params_of(pid)
        # A positional swept word is logged as the param arg<N>.
        self.assertEqual({t: v["arg1"] for t, v in params.items()}, {0: "2", 1: "3", 2: "1"})
        rows = [l.split() for l in p.stdout.decode().splitlines() if re.match(r"^\d+\s", l)]
        self.assertEqual([(r[0], r[1]) for r in rows],
                         [("2", "FINISHED"), ("0", "FINISHED"), ("1", "FAILED")])
        self.assertEqual(self.only_parent()["info"]["status"], "FAILED")
        self.assertEqual(mtapi.kv(self.only_parent()["data"]["tags"])["mltrack.sweep.best_trial"],
                         "2")

    def test_secrets_are_masked_in_what_the_sweep_records_and_prints(self):
        secret = "tok-" + mtapi.uniq("s")
        train = self.script("t.sh", "#!/bin/sh\necho done\n")
        p = self.sweep("--", train, "--db", "postgres://u:pw1234@h/db", "--tok", secret,
                       "--x", "[1,2]", check=0, MLTRACK_TOKEN=secret)
        self.assertNotIn(secret.encode(), p.stdout + p.stderr)
        self.assertNotIn(b"pw1234", p.stdout + p.stderr)
        parent = self.only_parent()
        pid = parent["info"]["run_id"]
        recorded = json.dumps([parent["data"]["tags"], self.plan(pid)] +
                              [mtapi.get_run(r["info"]["run_id"])["data"]
                               for r in self.children(pid)])
        self.assertNotIn(secret, recorded)
        self.assertNotIn("pw1234", recorded)
        self.assertIn("postgres://u:***@h/db", recorded)

    def test_nan_ranks_last(self):
        train = self.script("t.sh", "#!/bin/sh\necho \"loss: $2\"\n")
        p = self.sweep("--objective", "loss", "--minimize", "--", train, "--x",
                       "[nan,3,1,inf,-inf]", check=0)
        rows = [l.split() for l in p.stdout.decode().splitlines() if re.match(r"^\d+\s", l)]
        self.assertEqual([r[0] for r in rows], ["4", "2", "1", "3", "0"])

    def test_objective_logged_by_the_command_itself(self):
        # Not in the output: logged with `mltrack log` (as an MLflow client
        # would log it); the sweep takes it from the server.
        train = self.script("t.sh", "#!/bin/sh\n%s log metric loss \"$2\"\necho quiet\n"
                            % os.path.abspath(CLI))
        p = self.sweep("--objective", "loss", "--minimize", "--", train, "--x", "[3,1,2]",
                       check=0)
        rows = [l.split() for l in p.stdout.decode().splitlines() if re.match(r"^\d+\s", l)]
        self.assertEqual([(r[0], r[2]) for r in rows], [("1", "1"), ("2", "2"), ("0", "3")])
        self.assertEqual(mtapi.kv(self.only_parent()["data"]["tags"])["mltrack.sweep.best_trial"],
                         "1")

    def test_scrape_patterns_reach_the_trials_and_the_objective(self):
        train = self.script("t.sh", "#!/bin/sh\necho \"epoch 1 accuracy $2\"\n")
        p = self.sweep("--scrape", "acc=accuracy ([0-9.]+)", "--objective", "acc", "--", train,
                       "--x", "[0.2,0.7,0.5]", check=0)
        rows = [l.split() for l in p.stdout.decode().splitlines() if re.match(r"^\d+\s", l)]
        self.assertEqual([(r[0], r[2]) for r in rows], [("1", "0.7"), ("2", "0.5"), ("0", "0.2")])
        parent = self.only_parent()
        self.assertEqual(json.loads(mtapi.kv(parent["data"]["tags"])["mltrack.sweep.scrape"]),
                         ["acc=accuracy ([0-9.]+)"])
        for run in self.children(parent["info"]["run_id"]):
            self.assertIn("acc", mtapi.kv(mtapi.get_run(run["info"]["run_id"])["data"]["metrics"]))
        # A pattern that does not compile is a usage error.
        p = self.sweep("--scrape", "x=(", "--", train, "[1]", check=2)
        self.assertIn("--scrape", p.stderr.decode())

    def test_parent_has_the_git_provenance(self):
        repo = os.path.join(self.tmp, "repo")
        os.mkdir(repo)
        git = ["git", "-c", "user.email=a@b", "-c", "user.name=a", "-C", repo]
        subprocess.run(git + ["init", "-q", "-b", "main"], check=True)
        with open(os.path.join(repo, "t.sh"), "w") as f:
            f.write("#!/bin/sh\necho \"acc: $2\"\n")
        os.chmod(os.path.join(repo, "t.sh"), 0o755)
        subprocess.run(git + ["add", "t.sh"], check=True)
        subprocess.run(git + ["commit", "-q", "-m", "x"], check=True)
        head = subprocess.run(git + ["rev-parse", "HEAD"], check=True,
                              capture_output=True).stdout.decode().strip()
        self.mltrack("sweep", "-e", self.exp, "--", "./t.sh", "--x", "[1,2]", cwd=repo, check=0)
        parent = self.only_parent()
        for run in [parent] + self.children(parent["info"]["run_id"]):
            tags = mtapi.kv(run["data"]["tags"])
            self.assertEqual(tags["mlflow.source.git.commit"], head)
            self.assertEqual(tags["mlflow.source.git.branch"], "main")
            self.assertEqual(tags["mltrack.git.dirty"], "false")

    def test_usage_errors_create_nothing(self):
        train = self.script("t.sh", "#!/bin/sh\ntrue\n")
        for args, msg in [
                (["--", train, "--lr", "[0.1,,0.2]"], "empty item"),
                (["--", train, "range(5,1)"], "empty range"),
                (["--", train, "uniform(1,x)"], "not a finite number"),
                (["--", train, "loguniform(0,1)"], "0 < a"),
                (["--", train, "range(0,1000)", "range(0,1000)"], "--trials"),
                (["--parallel", "0", "--", train], "--parallel"),
                (["--trials", "x", "--", train], "--trials"),
                (["--stop-early", "median", "--", train], "--objective"),
                (["--stop-early", "mean", "--objective", "a", "--", train], "median"),
                (["--maximize", "--", train], "--objective"),
                (["--resume", "abc", "--", train], "--resume"),
                (["--resume", "abc", "--scrape", "a=(b)"], "--resume"),
                (["--resume", "abc", "-p", "a=1"], "--resume"),
                (["--resume", "abc", "-t", "a=1"], "--resume"),
                (["-p", "noequals", "--", train, "[1,2]"], "expected KEY=VALUE"),
                (["-t", "=v", "--", train, "[1,2]"], "expected KEY=VALUE"),
                (["-p", "lr=1", "--", train, "--lr", "[1,2]"], "-p lr: the param lr is swept"),
                (["-p", "arg1=1", "--", train, "[1,2]"], "the param arg1 is swept"),
                (["-t", "mltrack.sweep.seed=1", "--", train, "[1,2]"],
                 "the sweep sets this tag itself"),
                (["-t", "mlflow.parentRunId=x", "--", train, "[1,2]"],
                 "the sweep sets this tag itself"),
                ([], "COMMAND")]:
            p = self.sweep(*args, check=2)
            self.assertIn(msg, p.stderr.decode(), args)
        self.assertEqual(self.runs(), [])

    def test_server_down_exits_3(self):
        train = self.script("t.sh", "#!/bin/sh\ntrue\n")
        p = self.mltrack("sweep", "--", train, "[1,2]", uri="http://127.0.0.1:9", check=3)
        self.assertIn("cannot reach", p.stderr.decode())

    def test_help(self):
        p = self.mltrack("sweep", "--help", check=0)
        out = p.stdout.decode()
        for word in ("--parallel", "--trials", "--seed", "--objective", "--stop-early",
                     "--resume", "loguniform(a,b)", "mlflow.parentRunId", "--param KEY=VALUE",
                     "--tag KEY=VALUE"):
            self.assertIn(word, out)
        self.assertIn("sweep", self.mltrack("--help", check=0).stdout.decode())


class TestSweepRandom(SweepCase):
    def draw(self, seed, trials="5"):
        train = self.script("t.sh", "#!/bin/sh\ntrue\n")
        self.exp = mtapi.uniq("sweep")
        self.sweep("--seed", seed, "--trials", trials, "--", train, "--lr",
                   "loguniform(1e-5,1e-1)", "--p", "uniform(0,0.5)", "--opt", "choice(a,b,c)",
                   check=0)
        parent = self.only_parent()
        return parent, self.params_of(parent["info"]["run_id"])

    def test_counts_bounds_and_seeded_draws(self):
        parent, a = self.draw("77")
        self.assertEqual(sorted(a), [0, 1, 2, 3, 4])
        for v in a.values():
            self.assertTrue(1e-5 <= float(v["lr"]) <= 1e-1, v)
            self.assertTrue(0 <= float(v["p"]) <= 0.5, v)
            self.assertIn(v["opt"], ("a", "b", "c"))
        self.assertEqual(mtapi.kv(parent["data"]["tags"])["mltrack.sweep.trials"], "5")
        # The same seed: the same draws; another: others.  More trials with
        # the same seed begin with the same ones.
        _, b = self.draw("77")
        self.assertEqual(a, b)
        _, c = self.draw("78")
        self.assertNotEqual([a[i]["lr"] for i in a], [c[i]["lr"] for i in c])
        _, d = self.draw("77", trials="7")
        self.assertEqual({i: d[i] for i in range(5)}, a)
        # Without --seed a random one is chosen and recorded: replaying it
        # gives the same draws.
        train = self.script("t.sh", "#!/bin/sh\ntrue\n")
        self.exp = mtapi.uniq("sweep")
        self.sweep("--trials", "3", "--", train, "--lr", "uniform(0,1)", check=0)
        parent = self.only_parent()
        seed = mtapi.kv(parent["data"]["tags"])["mltrack.sweep.seed"]
        first = self.params_of(parent["info"]["run_id"])
        self.exp = mtapi.uniq("sweep")
        self.sweep("--trials", "3", "--seed", seed, "--", train, "--lr", "uniform(0,1)", check=0)
        self.assertEqual(self.params_of(self.only_parent()["info"]["run_id"]), first)

    def test_grid_times_draws(self):
        train = self.script("t.sh", "#!/bin/sh\ntrue\n")
        # Default: one draw per grid point; --trials K: K per point.
        self.sweep("--seed", "1", "--", train, "--a", "[x,y]", "--p", "uniform(0,1)", check=0)
        self.assertEqual(len(self.children(self.only_parent()["info"]["run_id"])), 2)
        self.exp = mtapi.uniq("sweep")
        self.sweep("--seed", "1", "--trials", "3", "--", train, "--a", "[x,y]", "--p",
                   "uniform(0,1)", check=0)
        params = self.params_of(self.only_parent()["info"]["run_id"])
        self.assertEqual([params[i]["a"] for i in range(6)], ["x", "x", "x", "y", "y", "y"])
        self.assertEqual(len({params[i]["p"] for i in range(6)}), 6)
        # Only distributions: 10 trials by default.
        self.exp = mtapi.uniq("sweep")
        self.sweep("--", train, "--p", "uniform(0,1)", check=0)
        self.assertEqual(len(self.children(self.only_parent()["info"]["run_id"])), 10)
        # A grid with --trials K and no distribution: K of its points.
        self.exp = mtapi.uniq("sweep")
        self.sweep("--seed", "4", "--trials", "3", "--", train, "--a", "range(0,20)", check=0)
        params = self.params_of(self.only_parent()["info"]["run_id"])
        picked = [int(params[i]["a"]) for i in range(3)]
        self.assertEqual(picked, sorted(set(picked)))


class TestSweepResume(SweepCase):
    def test_resume_after_a_killed_sweep_repeats_nothing(self):
        log = os.path.join(self.tmp, "ran.log")
        hang = os.path.join(self.tmp, "hang")
        train = self.script("t.sh", "\n".join([
            "#!/bin/sh",
            "echo \"$2\" >> %s" % log,
            "if [ \"$2\" = 3 ] && [ ! -f %s ]; then touch %s; sleep 60; fi" % (hang, hang),
            "echo \"acc: $2\"", ""]))
        # The whole sweep dies at once (a crash): the sweep, the running
        # trial's mltrack run and its command.
        p = subprocess.Popen([CLI, "sweep", "-e", self.exp, "--seed", "9", "--objective", "acc",
                              "--", train, "--x", "[1,2,3,4,5]"], env=self.env(), cwd=self.tmp,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        self.wait_for_file(hang, 60)
        time.sleep(0.3)
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        with open(log) as f:
            self.assertEqual(f.read().split(), ["1", "2", "3"])
        pid = self.only_parent()["info"]["run_id"]
        # What resume runs is the recorded plan, not what this mltrack
        # would make of the seed: rewrite trial 4's command in it.
        plan = self.plan(pid)
        plan["trials"][4]["args"][2] = "55"
        plan["trials"][4]["values"]["x"] = "55"
        os.mkdir(os.path.join(self.tmp, "sweep"))
        with open(os.path.join(self.tmp, "sweep", "plan.json"), "w") as f:
            json.dump(plan, f)
        self.mltrack("artifacts", "upload", pid, os.path.join(self.tmp, "sweep"), check=0)
        self.assertEqual(self.plan(pid)["trials"][4]["args"][2], "55")
        # Resume by a prefix of the parent's id: trials 0 and 1 are done.
        r = self.mltrack("sweep", "--resume", pid[:12], check=0)
        self.assertIn("2 of 5 trials done before, 3 to run", r.stderr.decode())
        with open(log) as f:
            self.assertEqual(f.read().split(), ["1", "2", "3", "3", "4", "55"])
        trials = self.by_trial(pid)
        finished = {t: [x for x in runs if x["info"]["status"] == "FINISHED"]
                    for t, runs in trials.items()}
        self.assertEqual({t: len(v) for t, v in finished.items()}, {0: 1, 1: 1, 2: 1, 3: 1, 4: 1})
        parent = mtapi.get_run(pid)
        self.assertEqual(parent["info"]["status"], "FINISHED")
        tags = mtapi.kv(parent["data"]["tags"])
        self.assertEqual(tags["mltrack.sweep.best_trial"], "4")
        # The table has every trial, those of before too.
        rows = [l.split() for l in r.stdout.decode().splitlines() if re.match(r"^\d+\s", l)]
        self.assertEqual([x[0] for x in rows], ["4", "3", "2", "1", "0"])
        self.assertEqual(rows[0][:4], ["4", "FINISHED", "55", "55"])
        # A second resume has nothing to run.
        r = self.mltrack("sweep", "--resume", pid, check=0)
        self.assertIn("5 of 5 trials done before, 0 to run", r.stderr.decode())
        with open(log) as f:
            self.assertEqual(len(f.read().split()), 6)

    def test_params_and_tags_reach_every_trial_and_resume_keeps_them(self):
        # Trial 1 fails the first time (its marker is not there yet).
        mark = os.path.join(self.tmp, "mark")
        train = self.script("t.sh", "\n".join([
            "#!/bin/sh",
            "echo \"acc: $2\"",
            "if [ \"$2\" = 2 ] && [ ! -f %s ]; then touch %s; exit 1; fi" % (mark, mark), ""]))
        p = self.sweep("--objective", "acc", "-p", "data=v2", "-p", "note=a b=c",
                       "-t", "team=ml", "-t", "ticket=ML-7", "--", train, "--x", "[1,2,3]",
                       check=1)
        self.assertIn("FAILED", p.stdout.decode())
        parent = self.only_parent()
        pid = parent["info"]["run_id"]
        ptags = mtapi.kv(parent["data"]["tags"])
        # The parent: the -t tags, and both lists for --resume; no params
        # (they are the trials').
        self.assertEqual((ptags["team"], ptags["ticket"]), ("ml", "ML-7"))
        self.assertEqual(json.loads(ptags["mltrack.sweep.params"]), ["data=v2", "note=a b=c"])
        self.assertEqual(json.loads(ptags["mltrack.sweep.tags"]), ["team=ml", "ticket=ML-7"])
        self.assertEqual(mtapi.kv(parent["data"].get("params", [])), {})
        self.assertEqual(parent["info"]["status"], "FAILED")

        def check_trial(run):
            tags = mtapi.kv(run["data"]["tags"])
            self.assertEqual((tags["team"], tags["ticket"]), ("ml", "ML-7"))
            self.assertEqual(tags["mlflow.parentRunId"], pid)
            self.assertEqual(mtapi.kv(run["data"]["params"]),
                             {"data": "v2", "note": "a b=c",
                              "x": str(int(tags["mltrack.sweep.trial"]) + 1)})

        for run in self.children(pid):
            check_trial(run)
        # --resume runs trial 1 again, with the same -p and -t.
        r = self.mltrack("sweep", "--resume", pid, check=0)
        self.assertIn("2 of 3 trials done before, 1 to run", r.stderr.decode())
        again = [x for x in self.by_trial(pid)[1] if x["info"]["status"] == "FINISHED"]
        self.assertEqual(len(again), 1)
        check_trial(again[0])
        self.assertEqual(mtapi.get_run(pid)["info"]["status"], "FINISHED")

    def test_resume_refuses_other_runs(self):
        run_id = mtapi.new_run(mtapi.new_experiment(self.exp))
        p = self.mltrack("sweep", "--resume", run_id, check=2)
        self.assertIn("not a sweep's parent run", p.stderr.decode())
        # A parent whose -p words are not a JSON array of strings.
        exp_id = mtapi.get_run(run_id)["info"]["experiment_id"]
        for bad in ("[1]", "{", "\"a=1\""):
            tags = [{"key": "mltrack.sweep.command", "value": '["true","[1,2]"]'},
                    {"key": "mltrack.sweep.seed", "value": "1"},
                    {"key": "mltrack.sweep.trials", "value": "default"},
                    {"key": "mltrack.sweep.params", "value": bad}]
            damaged = mtapi.new_run(exp_id, tags=tags)
            p = self.mltrack("sweep", "--resume", damaged, check=2)
            self.assertIn("mltrack.sweep.params or .tags is damaged", p.stderr.decode())
            self.assertEqual(self.children(damaged), [])


class TestSweepParallelAndSignals(SweepCase):
    def test_parallel_overlaps_and_prefixes(self):
        stamps = os.path.join(self.tmp, "stamps")
        os.mkdir(stamps)
        train = self.script("t.sh", "\n".join([
            "#!/bin/sh",
            "date +%%s.%%N > %s/start-$2" % stamps,
            "echo \"hello from $2\"",
            "sleep 1",
            "echo \"acc: $2\"",
            "date +%%s.%%N > %s/end-$2" % stamps, ""]))
        t0 = time.monotonic()
        p = self.sweep("--parallel", "3", "--", train, "--x", "[1,2,3]", check=0)
        elapsed = time.monotonic() - t0
        spans = []
        for x in "123":
            with open(os.path.join(stamps, "start-" + x)) as f:
                s = float(f.read())
            with open(os.path.join(stamps, "end-" + x)) as f:
                spans.append((s, float(f.read())))
        # Every trial started before any other ended: all three overlapped.
        self.assertLess(max(s for s, _ in spans), min(e for _, e in spans), spans)
        self.assertLess(elapsed, 2.9)
        out = p.stdout.decode().splitlines()
        for i, x in enumerate("123"):
            self.assertIn("[%d] hello from %s" % (i, x), out)
            self.assertIn("[%d] acc: %s" % (i, x), out)
        # Sequential, nothing is prefixed.
        self.exp = mtapi.uniq("sweep")
        p = self.sweep("--", train, "--x", "[1]", check=0)
        self.assertIn("hello from 1", p.stdout.decode().splitlines())

    def interrupt(self, how, terminal=False):
        started = os.path.join(self.tmp, "started")
        os.mkdir(started)
        train = self.script("t.sh", "\n".join([
            "#!/bin/sh",
            "touch %s/$2" % started,
            "sleep 60 & wait", ""]))
        argv = [CLI, "sweep", "-e", self.exp, "--parallel", "2", "--", train, "--x",
                "[1,2,3,4]"]
        if terminal:
            # On a terminal of its own, in its foreground process group:
            # a Ctrl-C typed there is the kernel's SIGINT to the group.
            master, slave = pty.openpty()

            def take_terminal():
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)

            p = subprocess.Popen(argv, env=self.env(), cwd=self.tmp, stdin=slave,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 start_new_session=True, preexec_fn=take_terminal)
            os.close(slave)
            self.addCleanup(os.close, master)
            how = lambda p: os.write(master, b"\x03")  # noqa: E731
        else:
            p = subprocess.Popen(argv, env=self.env(), cwd=self.tmp, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 30
        while len(os.listdir(started)) < 2:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        time.sleep(0.5)  # both runs created
        how(p)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 130, err)
        self.assertEqual(sorted(os.listdir(started)), ["1", "2"])  # no new trial started
        pid = self.only_parent()["info"]["run_id"]
        kids = self.children(pid)
        self.assertEqual(len(kids), 2)
        for k in kids:
            self.assertEqual(mtapi.get_run(k["info"]["run_id"])["info"]["status"], "KILLED")
        self.assertEqual(mtapi.get_run(pid)["info"]["status"], "KILLED")
        self.assertIn(b"interrupted", err)

    def test_sigint_to_the_sweep_kills_every_trial(self):
        self.interrupt(lambda p: p.send_signal(signal.SIGINT))

    def test_sigint_to_the_process_group_kills_every_trial(self):
        # SIGINT to every process of the group, sent by a process.
        self.interrupt(lambda p: os.killpg(p.pid, signal.SIGINT))

    def test_ctrl_c_at_the_terminal_kills_every_trial(self):
        self.interrupt(None, terminal=True)


class TestSweepStopEarly(SweepCase):
    def test_median_rule_on_a_scripted_series(self):
        # Trial with --q Q reports acc = Q*s/10 at steps 1..4; Q = 5, 6, 7
        # run whole; 1 and 2 are below the median at step 1 and stop; 8 is
        # above and runs; 6.6 stays above the median at every step and runs.
        train = self.script("t.sh", "\n".join([
            "#!/bin/sh",
            "for s in 1 2 3 4; do",
            "  echo \"step: $s\"; echo \"acc: $(awk \"BEGIN{print $2*$s/10}\")\"",
            "  sleep 0.2",
            "done",
            "echo \"done $2\"", ""]))
        p = self.sweep("--objective", "metrics.acc", "--stop-early", "median", "--", train,
                       "--q", "[5,6,7,1,8,2,6.6]", check=0)
        out = p.stdout.decode()
        pid = self.only_parent()["info"]["run_id"]
        status = {}
        for t, runs in self.by_trial(pid).items():
            run = mtapi.get_run(runs[0]["info"]["run_id"])
            status[t] = (run["info"]["status"],
                         mtapi.kv(run["data"]["tags"]).get("mltrack.sweep.stopped_early"))
        self.assertEqual(status, {0: ("FINISHED", None), 1: ("FINISHED", None),
                                  2: ("FINISHED", None), 3: ("KILLED", "true"),
                                  4: ("FINISHED", None), 5: ("KILLED", "true"),
                                  6: ("FINISHED", None)})
        for q in ("5", "6", "7", "8", "6.6"):
            self.assertIn("done %s\n" % q, out)
        self.assertNotIn("done 1\n", out)
        self.assertNotIn("done 2\n", out)
        rows = {r.split()[0]: r.split()[1] for r in out.splitlines() if re.match(r"^\d+\s", r)}
        self.assertEqual(rows["3"], "STOPPED")
        self.assertEqual(rows["5"], "STOPPED")
        self.assertIn("stopping trial 3 early", p.stderr.decode())
        self.assertEqual(mtapi.kv(self.only_parent()["data"]["tags"])["mltrack.sweep.best_trial"],
                         "4")

    def test_median_rule_after_resume_counts_the_trials_of_before(self):
        # The first sweep dies while trial 3 (--q 1) hangs; on --resume,
        # trials 0-2 (5, 6, 7) are not run again, so the median at step 1
        # (0.6) can only come from their histories on the server
        # (metrics/get-history): trial 3 reports 0.1 and must stop early.
        hang = os.path.join(self.tmp, "hang")
        train = self.script("t.sh", "\n".join([
            "#!/bin/sh",
            "if [ \"$2\" = 1 ] && [ ! -f %s ]; then touch %s; sleep 60; fi" % (hang, hang),
            "for s in 1 2 3 4; do",
            "  echo \"step: $s\"; echo \"acc: $(awk \"BEGIN{print $2*$s/10}\")\"",
            "  sleep 0.2",
            "done",
            "echo \"done $2\"", ""]))
        p = subprocess.Popen([CLI, "sweep", "-e", self.exp, "--objective", "metrics.acc",
                              "--stop-early", "median", "--", train, "--q", "[5,6,7,1]"],
                             env=self.env(), cwd=self.tmp, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        self.wait_for_file(hang, 60)
        time.sleep(0.3)
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        pid = self.only_parent()["info"]["run_id"]
        r = self.mltrack("sweep", "--resume", pid, check=0)
        self.assertIn("3 of 4 trials done before, 1 to run", r.stderr.decode())
        self.assertIn("stopping trial 3 early", r.stderr.decode())
        self.assertNotIn("done 1\n", r.stdout.decode())
        last = [x for x in self.by_trial(pid)[3]
                if mtapi.kv(mtapi.get_run(x["info"]["run_id"])["data"]["tags"])
                .get("mltrack.sweep.stopped_early") == "true"]
        self.assertEqual(len(last), 1)


class TestSweepDocs(SweepCase):
    def test_the_worked_example_of_docs_sweeps_md(self):
        # docs/sweeps.md's script and command, run as written: the table
        # and the best command line it shows (run ids aside) are what a
        # user gets, the draws of seed 42 included.
        root = os.path.join(os.path.dirname(__file__), "..", "..")
        with open(os.path.join(root, "docs", "sweeps.md")) as f:
            doc = f.read()
        blocks = re.findall(r"```(\w*)\n(.*?)```", doc, re.S)
        script = blocks[0][1]
        self.assertTrue(script.startswith("#!/bin/sh"))
        # The same script is examples/shell/train.sh.
        with open(os.path.join(root, "examples", "shell", "train.sh")) as f:
            self.assertEqual(f.read(), script)
        self.script("train.sh", script)
        table = [l.split()[:6] for l in blocks[3][1].splitlines() if re.match(r"^\d+\s", l)]
        self.assertEqual(len(table), 12)
        p = self.sweep("--seed", "42", "--trials", "2", "--objective", "metrics.val_acc",
                       "--maximize", "--", "./train.sh", "--lr", "[0.1,0.01]", "--depth",
                       "range(2,5)", "--dropout", "uniform(0,0.5)", check=0)
        out = p.stdout.decode()
        got = [l.split()[:6] for l in out.splitlines() if re.match(r"^\d+\s", l)]
        self.assertEqual(got, table)
        self.assertIn("\n  ./train.sh --lr 0.01 --depth 4 --dropout 0.132915\n", out)
        self.assertIn("  ./train.sh --lr 0.01 --depth 4 --dropout 0.132915", doc)


if __name__ == "__main__":
    unittest.main()
