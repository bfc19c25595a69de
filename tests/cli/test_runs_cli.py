"""mltrack runs list|show|compare against a live mltrackd (tests/run-api.sh).

Environment: MLTRACK_CLI (the mltrack binary), MLTRACK_TEST_URL (the server).
Every command runs with its own empty MLTRACK_SPOOL_DIR (so the quick sync
each command starts with has nothing to do), TZ=UTC (so local times are
predictable) and without any MLFLOW_* or MLTRACK_* variable of the caller's.
The fixtures are made through the REST API (mtapi); the assertions are on
the command's real output: tables, CSV through python's csv module, JSON.
"""

import csv
import datetime
import io
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

CLI = os.path.abspath(os.environ.get("MLTRACK_CLI", "build/default/mltrack"))

NOTE = 'a, "quoted"\nvalue'  # a comma, quotes and a line break in one param


def setUpModule():
    mtapi.wait_ready()


def utc_minutes(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M")


class RunsCase(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        """Three runs in a fresh experiment, started a second apart:
        alpha (FINISHED, 90 s), beta (FINISHED, 65 min), gamma (FAILED)."""
        cls.exp_name = mtapi.uniq("runs-cli")
        cls.exp = mtapi.new_experiment(cls.exp_name)
        base = mtapi.now_ms() - 3 * 3600 * 1000
        cls.start = {}
        cls.ids = {}
        specs = [
            ("alpha", {"lr": "0.1", "epochs": "10", "note": NOTE},
             {"loss": (0.5, 3), "acc": (1 / 3, 3)}, 90 * 1000, "FINISHED"),
            ("beta", {"lr": "0.01", "epochs": "10", "note": NOTE},
             {"loss": (0.25, 3), "acc": (2 / 3, 3)}, 65 * 60 * 1000, "FINISHED"),
            ("gamma", {"lr": "0.001", "epochs": "10", "opt": "adam"},
             {"loss": (0.125, 7)}, 5 * 1000, "FAILED"),
        ]
        for i, (name, params, metrics, dur, status) in enumerate(specs):
            start = base + i * 1000
            rid = mtapi.new_run(cls.exp, run_name=name, start_time=start)
            tags = [{"key": "team", "value": "ml"}]
            if name == "alpha":
                tags += [{"key": "mlflow.source.git.commit", "value": "0123abcd" * 5},
                         {"key": "mlflow.source.git.branch", "value": "main"},
                         {"key": "mlflow.source.git.repoURL",
                          "value": "https://example.com/ml.git"},
                         {"key": "mltrack.git.dirty", "value": "true"},
                         {"key": "mlflow.source.name", "value": "train.py"}]
            mtapi.log_batch(
                rid,
                metrics=[{"key": k, "value": v, "timestamp": start + 10, "step": s}
                         for k, (v, s) in metrics.items()],
                params=[{"key": k, "value": v} for k, v in params.items()],
                tags=tags)
            r = mtapi.post("runs/update", {"run_id": rid, "status": status,
                                           "end_time": start + dur})
            assert r.status == 200, r.body
            cls.ids[name] = rid
            cls.start[name] = start

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mltrack-runs-")
        self.spool = os.path.join(self.tmp, "spool")
        os.makedirs(self.spool)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def env(self, **extra):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith(("MLFLOW_", "MLTRACK_")) or k in ("COLUMNS", "NO_COLOR"):
                del e[k]
        e["MLTRACK_TRACKING_URI"] = mtapi.BASE
        e["MLTRACK_SPOOL_DIR"] = self.spool
        e["MLTRACK_HTTP_RETRIES"] = "2"
        e["HOME"] = self.tmp
        e["TZ"] = "UTC"
        e.update(extra)
        return e

    def mltrack(self, *args, check=None, **extra):
        p = subprocess.run([CLI] + list(args), capture_output=True, text=True,
                           env=self.env(**extra), cwd=self.tmp, timeout=120)
        if check is not None and p.returncode != check:
            raise AssertionError("mltrack %s: exit %d, want %d\nstdout: %r\nstderr: %r"
                                 % (" ".join(args), p.returncode, check, p.stdout, p.stderr))
        return p

    def on_tty(self, *args, cols=None, **extra):
        """Run with stdout on a pseudo-terminal (window cols wide when
        given); returns (exit code, stdout lines without '\\r', stderr)."""
        rc, out, err = run_on_pty([CLI] + list(args), env=self.env(**extra), cwd=self.tmp,
                                  cols=cols, stderr_too=False)
        return rc, out.decode().replace("\r", "").splitlines(), err.decode()

    def assert_one_line_error(self, p, code, *contains):
        self.assertEqual(p.returncode, code, (p.stdout, p.stderr))
        self.assertEqual(p.stdout, "")
        # Other suites share this server and may have made over 1000
        # experiments: the warning about searching the newest 1000 is
        # expected then, and is not the error.
        lines = [l for l in p.stderr.splitlines()
                 if not l.startswith("mltrack: warning: over 1000 experiments")]
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("mltrack: "), p.stderr)
        for s in contains:
            self.assertIn(s, lines[0])
        return lines[0]

    def short(self, name):
        return self.ids[name][:12]

    def table_ids(self, out):
        """The RUN column of a table, header first."""
        return [line.split()[0] for line in out.splitlines() if line.strip()]


class TestList(RunsCase):
    def test_table_newest_first_with_metrics_and_params(self):
        p = self.mltrack("runs", "list", "-e", self.exp_name, check=0)
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 4, p.stdout)
        self.assertEqual(lines[0].split(),
                         ["RUN", "NAME", "STATUS", "START", "DURATION", "acc", "loss",
                          "epochs", "lr", "note", "opt"])
        self.assertEqual(self.table_ids(p.stdout)[1:],
                         [self.short("gamma"), self.short("beta"), self.short("alpha")])
        by_id = {line.split()[0]: line for line in lines[1:]}
        alpha = by_id[self.short("alpha")].split()
        self.assertEqual(alpha[:8], [self.short("alpha"), "alpha", "FINISHED",
                                     *utc_minutes(self.start["alpha"]).split(), "1m30s",
                                     "0.333333", "0.5"])
        self.assertEqual(alpha[8:10], ["10", "0.1"])
        self.assertIn("1h05m", by_id[self.short("beta")])
        gamma = by_id[self.short("gamma")]
        self.assertIn("FAILED", gamma)
        self.assertIn("adam", gamma)
        # gamma has no acc and no note: '-' marks them.
        self.assertEqual(gamma.split()[6:9], ["-", "0.125", "10"])
        # Piped: nothing cut, every line whole.
        self.assertNotIn("\u2026", p.stdout)
        self.assertIn('a, "quoted"?value', by_id[self.short("alpha")])

    def test_experiment_by_id_or_name(self):
        by_name = self.mltrack("runs", "list", "-e", self.exp_name, check=0).stdout
        by_id = self.mltrack("runs", "list", "-e", self.exp, check=0).stdout
        self.assertEqual(self.table_ids(by_name), self.table_ids(by_id))
        # Two experiments: the runs of both.
        other = mtapi.new_experiment()
        rid = mtapi.new_run(other, run_name="other")
        p = self.mltrack("runs", "list", "-e", self.exp, "-e", other, "--format", "json",
                         check=0)
        self.assertEqual(sorted(r["info"]["run_id"] for r in json.loads(p.stdout)),
                         sorted(list(self.ids.values()) + [rid]))

    def test_without_experiment_searches_them_all(self):
        p = self.mltrack("runs", "list", "--filter", "tags.team = 'ml' and params.opt = 'adam'",
                         "--format", "json", check=0)
        found = [r["info"]["run_id"] for r in json.loads(p.stdout)]
        self.assertIn(self.ids["gamma"], found)

    def test_order_by(self):
        p = self.mltrack("runs", "list", "-e", self.exp_name, "--order-by", "metrics.loss",
                         check=0)
        self.assertEqual(self.table_ids(p.stdout)[1:],
                         [self.short("gamma"), self.short("beta"), self.short("alpha")])
        p = self.mltrack("runs", "list", "-e", self.exp_name, "--order-by", "metrics.loss DESC",
                         check=0)
        self.assertEqual(self.table_ids(p.stdout)[1:],
                         [self.short("alpha"), self.short("beta"), self.short("gamma")])
        # Two keys: the name breaks the status tie.
        p = self.mltrack("runs", "list", "-e", self.exp_name, "--order-by", "status",
                         "--order-by", "run_name", check=0)
        self.assertEqual(self.table_ids(p.stdout)[1:],
                         [self.short("gamma"), self.short("alpha"), self.short("beta")])

    def test_filter(self):
        p = self.mltrack("runs", "list", "-e", self.exp_name, "--filter", "params.lr = '0.01'",
                         check=0)
        self.assertEqual(self.table_ids(p.stdout)[1:], [self.short("beta")])
        p = self.mltrack("runs", "list", "-e", self.exp_name, "--filter",
                         "metrics.loss < 0.3 and status = 'FINISHED'", check=0)
        self.assertEqual(self.table_ids(p.stdout)[1:], [self.short("beta")])
        p = self.mltrack("runs", "list", "-e", self.exp_name, "--filter",
                         "params.lr = 'nothing'", check=0)
        self.assertEqual(p.stdout.splitlines()[0].split()[:2], ["RUN", "NAME"])
        self.assertEqual(len(p.stdout.splitlines()), 1)

    def test_csv(self):
        p = self.mltrack("runs", "list", "-e", self.exp_name, "--format", "csv", check=0)
        rows = list(csv.reader(io.StringIO(p.stdout, newline="")))
        header, body = rows[0], rows[1:]
        self.assertEqual(header, [
            "run_id", "run_name", "status", "start_time", "end_time", "experiment_id",
            "params.epochs", "params.lr", "params.note", "params.opt",
            "metrics.acc", "metrics.loss",
            "tags.mlflow.runName", "tags.mlflow.source.git.branch",
            "tags.mlflow.source.git.commit", "tags.mlflow.source.git.repoURL",
            "tags.mlflow.source.name", "tags.mltrack.git.dirty", "tags.team"])
        recs = [dict(zip(header, r)) for r in body]
        self.assertTrue(all(len(r) == len(header) for r in body), body)
        self.assertEqual([r["run_id"] for r in recs],
                         [self.ids["gamma"], self.ids["beta"], self.ids["alpha"]])
        alpha = recs[2]
        self.assertEqual(alpha["run_name"], "alpha")
        self.assertEqual(alpha["status"], "FINISHED")
        self.assertEqual(int(alpha["start_time"]), self.start["alpha"])
        self.assertEqual(int(alpha["end_time"]), self.start["alpha"] + 90000)
        self.assertEqual(alpha["experiment_id"], self.exp)
        self.assertEqual(alpha["params.note"], NOTE)  # quotes, comma, newline intact
        self.assertEqual(float(alpha["metrics.acc"]), 1 / 3)  # exact, not %.6g
        self.assertEqual(alpha["tags.mlflow.source.git.branch"], "main")
        gamma = recs[0]
        self.assertEqual((gamma["params.note"], gamma["metrics.acc"], gamma["params.opt"]),
                         ("", "", "adam"))
        self.assertEqual(float(gamma["metrics.loss"]), 0.125)

    def test_json(self):
        p = self.mltrack("runs", "list", "-e", self.exp_name, "--format", "json", check=0)
        runs = json.loads(p.stdout)
        self.assertEqual([r["info"]["run_id"] for r in runs],
                         [self.ids["gamma"], self.ids["beta"], self.ids["alpha"]])
        # As the server sent them.
        self.assertEqual(mtapi.norm(runs[2]), mtapi.get_run(self.ids["alpha"]))
        p = self.mltrack("runs", "list", "-e", self.exp_name, "--filter", "params.lr = 'x'",
                         "--format", "json", check=0)
        self.assertEqual(json.loads(p.stdout), [])

    def test_max(self):
        p = self.mltrack("runs", "list", "-e", self.exp_name, "--max", "2", check=0)
        self.assertEqual(self.table_ids(p.stdout)[1:], [self.short("gamma"), self.short("beta")])
        self.assertIn("--max", p.stderr)
        p = self.mltrack("runs", "list", "-e", self.exp_name, "--max", "3", check=0)
        self.assertEqual(len(self.table_ids(p.stdout)), 4)
        self.assertEqual(p.stderr, "")
        self.assert_one_line_error(self.mltrack("runs", "list", "--max", "0"), 2, "--max")
        self.assert_one_line_error(self.mltrack("runs", "list", "--max", "ten"), 2, "--max")

    def test_table_fits_the_terminal(self):
        for cols, extra in ((60, {"COLUMNS": "60"}), (72, {})):
            rc, lines, err = self.on_tty("runs", "list", "-e", self.exp_name,
                                         cols=None if extra else cols, **extra)
            self.assertEqual(rc, 0, err)
            self.assertEqual(len(lines), 4, lines)
            for line in lines:
                self.assertLessEqual(len(line), cols, line)
            self.assertEqual([l.split()[0] for l in lines[1:]],
                             [self.short("gamma"), self.short("beta"), self.short("alpha")])
            self.assertIn("more metric and param column", err)
        # A wide window shows every column.
        rc, lines, err = self.on_tty("runs", "list", "-e", self.exp_name, cols=200)
        self.assertEqual(rc, 0, err)
        self.assertIn("opt", lines[0].split())
        self.assertEqual(err, "")
        rc, lines, _ = self.on_tty("runs", "list", "-e", self.exp_name, "--width", "0",
                                   COLUMNS="60")
        self.assertTrue(any(len(l) > 60 for l in lines), lines)
        # --width applies to piped output too.
        p = self.mltrack("runs", "list", "-e", self.exp_name, "--width", "50", check=0)
        self.assertTrue(all(len(l) <= 50 for l in p.stdout.splitlines()), p.stdout)
        self.assertIn("\u2026", p.stdout)


class TestShow(RunsCase):
    def sections(self, out):
        """{title: [lines]}; the untitled info block is ''."""
        secs, cur = {"": []}, ""
        for line in out.splitlines():
            if line in ("git", "params", "metrics", "tags", "system tags"):
                cur = line
                secs[cur] = []
            elif line:
                secs[cur].append(line)
        return secs

    def test_sections(self):
        p = self.mltrack("runs", "show", self.ids["alpha"], check=0)
        s = self.sections(p.stdout)
        info = dict(line.split(None, 1) for line in s[""])
        self.assertEqual(info["run"], self.ids["alpha"])
        self.assertEqual(info["name"], "alpha")
        self.assertEqual(info["experiment"], "%s (%s)" % (self.exp_name, self.exp))
        self.assertEqual(info["status"], "FINISHED")
        self.assertEqual(info["duration"], "1m30s")
        self.assertEqual(info["artifacts"],
                         mtapi.get_run(self.ids["alpha"])["info"]["artifact_uri"])
        self.assertEqual(info["start"][:16], utc_minutes(self.start["alpha"]))
        git = dict(line.split(None, 1) for line in s["git"])
        self.assertEqual(git["commit"], "0123abcd" * 5)
        self.assertEqual(git["branch"], "main")
        self.assertEqual(git["repo"], "https://example.com/ml.git")
        self.assertTrue(git["dirty"].startswith("yes"), git)
        self.assertEqual(s["params"][0].split(), ["epochs", "10"])
        self.assertEqual(s["params"][1].split(), ["lr", "0.1"])
        # A value's second line is indented under its first.
        self.assertEqual(s["params"][2].split(None, 1), ["note", 'a, "quoted"'])
        col = s["params"][2].index("a,")
        self.assertEqual(s["params"][3], " " * col + "value")
        self.assertEqual(s["metrics"][0].split(), ["acc", repr(1 / 3), "step", "3"])
        self.assertEqual(s["metrics"][1].split(), ["loss", "0.5", "step", "3"])
        self.assertEqual(s["tags"], ["  team  ml"])
        system = [line.split()[0] for line in s["system tags"]]
        self.assertEqual(system, ["mlflow.runName", "mlflow.source.name"])  # git ones above

    def test_no_git_and_failed(self):
        p = self.mltrack("runs", "show", self.ids["gamma"], check=0)
        s = self.sections(p.stdout)
        self.assertNotIn("git", s)
        self.assertEqual(dict(line.split(None, 1) for line in s[""])["status"], "FAILED")
        self.assertEqual(s["metrics"][0].split(), ["loss", "0.125", "step", "7"])

    def test_json_and_prefix(self):
        p = self.mltrack("runs", "show", self.short("beta"), "--format", "json", check=0)
        self.assertEqual(mtapi.norm(json.loads(p.stdout)), mtapi.get_run(self.ids["beta"]))
        p = self.mltrack("runs", "show", self.short("beta"), check=0)
        self.assertIn(self.ids["beta"], p.stdout.splitlines()[0])

    def test_ambiguous_and_unknown_prefix(self):
        exp = mtapi.new_experiment()
        ids = [mtapi.new_run(exp) for _ in range(17)]  # 16 hex digits: two must share one
        first = [i[0] for i in ids]
        shared = next(c for c in first if first.count(c) > 1)
        err = self.assert_one_line_error(self.mltrack("runs", "show", shared), 2, "ambiguous")
        self.assertIn(shared, err)
        # A prefix no run has (one chance in 16^31 that one does).
        self.assert_one_line_error(self.mltrack("runs", "show", "e" * 31), 3,
                                   "no run id starts with")

    def test_unknown_run(self):
        self.assert_one_line_error(
            self.mltrack("runs", "show", "0123456789abcdef0123456789abcdef"), 3, "not found")
        self.assert_one_line_error(self.mltrack("runs", "show", "no-such-run"), 3)


class TestCompare(RunsCase):
    def parse(self, out):
        """{section: {key: (marked, [values])}}; the header block is ''."""
        secs, cur = {"": {}}, ""
        for line in out.splitlines():
            if not line:
                continue
            if line in ("params", "metrics"):
                cur = line
                secs[cur] = {}
                continue
            self.assertIn(line[:2], ("* ", "  "), line)
            parts = line[2:].split("  ")
            cells = [c.strip() for c in parts if c.strip()]
            secs[cur][cells[0]] = (line.startswith("*"), cells[1:])
        return secs

    def test_marks_exactly_the_differing_params(self):
        p = self.mltrack("runs", "compare", self.ids["alpha"], self.ids["beta"], check=0)
        s = self.parse(p.stdout)
        self.assertEqual(s[""]["run"], (False, [self.short("alpha"), self.short("beta")]))
        self.assertEqual(s[""]["name"], (False, ["alpha", "beta"]))
        self.assertEqual(s[""]["duration"], (False, ["1m30s", "1h05m"]))
        self.assertEqual(s["params"], {
            "epochs": (False, ["10", "10"]),
            "lr": (True, ["0.1", "0.01"]),
            "note": (False, ['a, "quoted"?value', 'a, "quoted"?value']),
        })
        self.assertEqual(s["metrics"], {
            "acc": (True, ["0.333333", "0.666667"]),
            "loss": (True, ["0.5", "0.25"]),
        })

    def test_three_runs_missing_values_and_diff_only(self):
        ids = [self.ids["alpha"], self.ids["beta"], self.short("gamma")]
        p = self.mltrack("runs", "compare", *ids, check=0)
        s = self.parse(p.stdout)
        self.assertEqual(s["params"], {
            "epochs": (False, ["10", "10", "10"]),
            "lr": (True, ["0.1", "0.01", "0.001"]),
            "note": (True, ['a, "quoted"?value', 'a, "quoted"?value', "-"]),
            "opt": (True, ["-", "-", "adam"]),
        })
        self.assertEqual(s["metrics"]["acc"], (True, ["0.333333", "0.666667", "-"]))
        p = self.mltrack("runs", "compare", "--diff", *ids, check=0)
        s = self.parse(p.stdout)
        self.assertEqual(sorted(s["params"]), ["lr", "note", "opt"])
        self.assertTrue(all(marked for marked, _ in s["params"].values()))
        # Nothing differs between a run and itself.
        p = self.mltrack("runs", "compare", "--diff", ids[0], ids[0], check=0)
        self.assertIn("(no differences)", p.stdout)

    def test_bold_on_a_terminal(self):
        rc, lines, err = self.on_tty("runs", "compare", self.ids["alpha"], self.ids["beta"])
        self.assertEqual(rc, 0, err)
        lr = next(l for l in lines if "0.01" in l)
        self.assertTrue(lr.startswith("* \x1b[1m"), repr(lr))
        epochs = next(l for l in lines if l.startswith("  epochs"))
        self.assertNotIn("\x1b[", epochs)
        rc, lines, err = self.on_tty("runs", "compare", self.ids["alpha"], self.ids["beta"],
                                     NO_COLOR="1")
        self.assertFalse(any("\x1b[" in l for l in lines), lines)

    def test_usage_errors(self):
        self.assert_one_line_error(self.mltrack("runs", "compare", self.ids["alpha"]), 2,
                                   "at least two runs")
        self.assert_one_line_error(self.mltrack("runs", "compare"), 2)
        self.assert_one_line_error(
            self.mltrack("runs", "compare", self.ids["alpha"], "0123456789abcdef" * 2), 3,
            "not found")


class TestErrorsAndHelp(RunsCase):
    def test_help_everywhere(self):
        for sub in ("list", "show", "compare"):
            p = self.mltrack("runs", sub, "--help", check=0)
            self.assertTrue(p.stdout.startswith("usage: mltrack runs %s" % sub), p.stdout)
            self.assertEqual(p.stderr, "")
        p = self.mltrack("runs", "--help", check=0)
        for sub in ("list", "show", "compare"):
            self.assertIn(sub, p.stdout)
        self.assertEqual(self.mltrack("runs").returncode, 2)
        self.assert_one_line_error(self.mltrack("runs", "frobnicate"), 2, "frobnicate")

    def test_bad_usage_is_one_line_exit_2(self):
        self.assert_one_line_error(self.mltrack("runs", "list", "--format", "xml"), 2, "xml")
        self.assert_one_line_error(
            self.mltrack("runs", "show", self.ids["alpha"], "--format", "csv"), 2, "csv")
        self.assert_one_line_error(self.mltrack("runs", "list", "--width", "-3"), 2, "--width")
        self.assert_one_line_error(self.mltrack("runs", "list", "--bogus"), 2, "--bogus")
        self.assert_one_line_error(self.mltrack("runs", "show"), 2, "RUN")

    def test_server_refusals_are_exit_3(self):
        self.assert_one_line_error(
            self.mltrack("runs", "list", "-e", self.exp_name, "--filter", "params.lr = 1 OR x"),
            3, "INVALID_PARAMETER_VALUE")
        self.assert_one_line_error(
            self.mltrack("runs", "list", "-e", mtapi.uniq("no-such-exp")), 3,
            "RESOURCE_DOES_NOT_EXIST")
        self.assert_one_line_error(
            self.mltrack("runs", "list", "-e", self.exp_name, "--order-by", "bogus.key"), 3)
        self.assert_one_line_error(
            self.mltrack("runs", "list", MLTRACK_TRACKING_URI="http://127.0.0.1:9"), 3,
            "cannot reach")


if __name__ == "__main__":
    unittest.main()
