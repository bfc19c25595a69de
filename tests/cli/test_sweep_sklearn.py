"""A real scikit-learn sweep, and the reproduction of its best trial
(tests/run-api.sh; needs Debian's python3-sklearn, which tools/deps.sh
installs).

examples/sklearn/train.py is committed to a fresh git repository, then
changed without a commit (so each trial records an uncommitted.patch and
the reproduction must apply it).  `mltrack sweep --parallel 2` runs 24
trials of it: a 3 x 4 grid times 2 draws of a loguniform axis.  The server
must hold 24 finished children, two of them running at any moment, and the
parent's best tags must name the child with the highest val_acc the REST
API reports, and the table it prints is docs/sweeps.md's (the same seed).
`mltrack reproduce --check` of that child, from another directory, must
give a run with the very same metric histories and leave the user's
repository as it was.
"""

import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
import mtapi  # noqa: E402
from test_reproduce import ReproCase  # noqa: E402
from test_sweep import SweepCase  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
EXAMPLE = os.path.join(ROOT, "examples", "sklearn", "train.py")


def sklearn_python():
    """An interpreter that has scikit-learn: this one, or Debian's (where a
    python3 of its own, pyenv's say, comes first on the PATH); else None."""
    for py in (sys.executable, "/usr/bin/python3"):
        if py and os.path.exists(py) and subprocess.run(
                [py, "-c", "import sklearn"], capture_output=True).returncode == 0:
            return py
    return None


def model_metrics(run):
    """The metric keys of a run that the model produced (not mltrack.* or
    system/*, which measure the machine)."""
    return sorted(m["key"] for m in run["data"].get("metrics", [])
                  if not m["key"].startswith(("mltrack.", "system/")))


class TestSklearnSweep(ReproCase, SweepCase):
    def test_sweep_24_trials_in_parallel_then_reproduce_the_best(self):
        t0 = time.monotonic()
        py = sklearn_python()
        if py is None:
            self.fail("scikit-learn is missing: install Debian's python3-sklearn "
                      "(sh tools/deps.sh does)")
        # The user's repository: the example committed, then changed.
        os.makedirs(self.repo)
        self.git("init", "-q", "-b", "main")
        with open(EXAMPLE) as f:
            train = f.read()
        self.write("train.py", train)
        self.write("README", "a scikit-learn example\n")
        self.git("add", ".")
        self.git("commit", "-q", "-m", "the example")
        edited = train.replace("default=5, help=\"gbt: stages between reports\"",
                               "default=10, help=\"gbt: stages between reports\"")
        self.assertNotEqual(edited, train, "examples/sklearn/train.py: --report-every moved")
        self.write("train.py", edited)

        # The sweep: [1,2,3] x 4 subsamples, 2 draws of the learning rate.
        p = self.sweep("--parallel", "2", "--seed", "7", "--trials", "2",
                       "--objective", "metrics.val_acc", "--maximize",
                       "-p", "dataset=breast_cancer", "-t", "suite=sklearn", "--",
                       py, "train.py", "--max-depth", "[1,2,3]",
                       "--subsample", "[0.5,0.7,0.85,1.0]", "--lr", "loguniform(0.02,0.5)",
                       cwd=self.repo, check=0, timeout=300)
        parent = self.only_parent()
        pid = parent["info"]["run_id"]
        ptags = mtapi.kv(parent["data"]["tags"])
        self.assertEqual(parent["info"]["status"], "FINISHED")
        self.assertEqual(ptags["mltrack.sweep.total"], "24")
        self.assertEqual(ptags["suite"], "sklearn")
        self.assertEqual(ptags["mltrack.git.dirty"], "true")
        self.assertEqual(mtapi.kv(parent["data"].get("params", [])), {})

        children = self.children(pid)
        self.assertEqual(len(children), 24, [c["info"]["run_name"] for c in children])
        trials, spans, acc = set(), [], {}
        for c in children:
            info, tags = c["info"], mtapi.kv(c["data"]["tags"])
            params = mtapi.kv(c["data"]["params"])
            self.assertEqual(info["status"], "FINISHED", info)
            self.assertEqual(tags["mlflow.parentRunId"], pid)
            self.assertEqual(tags["mltrack.git.dirty"], "true")
            self.assertEqual(tags["suite"], "sklearn")
            self.assertEqual(params["dataset"], "breast_cancer")
            self.assertIn(params["max-depth"], ("1", "2", "3"))
            self.assertTrue(0.02 <= float(params["lr"]) <= 0.5, params)
            self.assertEqual(model_metrics(c), ["train_loss", "val_acc", "val_loss"])
            trials.add(int(tags["mltrack.sweep.trial"]))
            acc[info["run_id"]] = (mtapi.metrics_by_key(c)["val_acc"]["value"],
                                   int(tags["mltrack.sweep.trial"]))
            spans.append((int(info["start_time"]), int(info["end_time"])))
        self.assertEqual(trials, set(range(24)))
        # Two at once: some trials overlapped, and never three.
        overlapping = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:]
                       if a[0] < b[1] and b[0] < a[1]]
        self.assertGreaterEqual(len(overlapping), 12, spans)
        for s, _ in spans:
            self.assertLessEqual(sum(1 for a, b in spans if a <= s < b), 2, spans)

        # The best: the highest val_acc the server holds (ties: the first
        # trial), on the parent and first in the table.
        best_value = max(v for v, _ in acc.values())
        best_trial = min(t for v, t in acc.values() if v == best_value)
        best = [r for r, (v, t) in acc.items() if t == best_trial][0]
        self.assertEqual(ptags["mltrack.sweep.best_run"], best)
        self.assertEqual(ptags["mltrack.sweep.best_trial"], str(best_trial))
        self.assertEqual(float(ptags["mltrack.sweep.best_value"]), best_value)
        out = p.stdout.decode()
        rows = [l.split() for l in out.splitlines() if re.match(r"^\d+\s", l)]
        self.assertEqual(len(rows), 24, out)
        self.assertEqual(rows[0][:3], [str(best_trial), "FINISHED", "%.6g" % best_value])
        self.assertEqual(rows[0][-1], best)
        self.assertIn("best: trial %d, val_acc %.6g, run %s" % (best_trial, best_value, best),
                      out)
        # docs/sweeps.md shows this sweep (its command, seed 7): the same
        # table, run ids aside.
        with open(os.path.join(ROOT, "docs", "sweeps.md")) as f:
            doc = f.read()
        doc = doc[doc.index("## A real sweep: scikit-learn"):]
        self.assertIn("--seed 7 --trials 2", doc)
        self.assertIn("--max-depth '[1,2,3]' --subsample '[0.5,0.7,0.85,1.0]'", doc)
        self.assertIn("--lr 'loguniform(0.02,0.5)'", doc)
        table = [l.split()[:6] for l in doc.split("\n\n```\ntrial  status")[1].split("```")[0]
                 .splitlines() if re.match(r"^\d+\s", l)]
        self.assertEqual(len(table), 24)
        self.assertEqual([r[:6] for r in rows], table)

        # Reproduce the best trial from elsewhere, naming the repository.
        before = self.snapshot()
        elsewhere = os.path.join(self.tmp, "elsewhere")
        os.makedirs(elsewhere)
        p = self.reproduce(best, "-C", self.repo, "--check", cwd=elsewhere, check=0)
        self.assertIn("check passed", p.stderr.decode())
        self.assertEqual(self.snapshot(), before)
        self.assert_no_temp_left()
        new = [r for r in self.runs()
               if mtapi.kv(r["data"]["tags"]).get("mltrack.reproduces") == best]
        self.assertEqual(len(new), 1)
        new = mtapi.get_run(new[0]["info"]["run_id"])
        orig = mtapi.get_run(best)
        self.assertEqual(new["info"]["status"], "FINISHED")
        self.assertEqual(mtapi.kv(new["data"]["params"]), mtapi.kv(orig["data"]["params"]))
        keys = model_metrics(orig)
        self.assertEqual(model_metrics(new), keys)
        for k in keys:
            want = [(m["step"], m["value"]) for m in mtapi.history(best, k)]
            got = [(m["step"], m["value"]) for m in mtapi.history(new["info"]["run_id"], k)]
            # Every 10 stages (the uncommitted change) of 40: 4 points.
            self.assertEqual([s for s, _ in want], [10, 20, 30, 40], k)
            self.assertEqual(got, want, k)
        elapsed = time.monotonic() - t0
        if os.environ.get("SHOW_TIMES"):
            sys.stderr.write("sklearn sweep and reproduce: %.1f s\n" % elapsed)


if __name__ == "__main__":
    unittest.main()
