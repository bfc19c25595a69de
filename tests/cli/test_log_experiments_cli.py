"""mltrack log metric|param|tag|artifact and mltrack experiments list|create
against a live mltrackd (tests/run-api.sh).

Environment: MLTRACK_CLI (the mltrack binary), MLTRACK_TEST_URL (the server).
Every command runs with its own empty MLTRACK_SPOOL_DIR (so the quick sync
each command starts with has nothing to do) and without any MLFLOW_* or
MLTRACK_* variable of the caller's; what the server recorded is checked
through the REST API.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
import mtapi  # noqa: E402

CLI = os.path.abspath(os.environ.get("MLTRACK_CLI", "build/default/mltrack"))
DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port


def setUpModule():
    mtapi.wait_ready()


class CliCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mltrack-logexp-")
        self.spool = os.path.join(self.tmp, "spool")
        os.makedirs(self.spool)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def env(self, uri=None, **extra):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith(("MLFLOW_", "MLTRACK_")) and k != "MLTRACK_CLI":
                del e[k]
        e["MLTRACK_TRACKING_URI"] = uri or mtapi.BASE
        e["MLTRACK_SPOOL_DIR"] = self.spool
        e["MLTRACK_HTTP_RETRIES"] = "2"
        e["HOME"] = self.tmp
        e.update(extra)
        return e

    def mltrack(self, *args, uri=None, check=None, **extra):
        p = subprocess.run([CLI] + list(args), capture_output=True, text=True,
                           env=self.env(uri, **extra), cwd=self.tmp, timeout=120)
        if check is not None and p.returncode != check:
            raise AssertionError("mltrack %s: exit %d, want %d\nstdout: %r\nstderr: %r"
                                 % (" ".join(args), p.returncode, check, p.stdout, p.stderr))
        return p

    def assert_one_line_error(self, p, code, *contains):
        """Exit code, nothing on stdout, one 'mltrack: ...' line on stderr."""
        self.assertEqual(p.returncode, code, (p.stdout, p.stderr))
        self.assertEqual(p.stdout, "")
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("mltrack: "), p.stderr)
        for s in contains:
            self.assertIn(s, lines[0])
        return lines[0]

    def path(self, *p):
        return os.path.join(self.tmp, *p)

    def write(self, rel, text):
        full = self.path(rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
        return full


class LogCli(CliCase):
    def setUp(self):
        super().setUp()
        self.run_id = mtapi.new_run(mtapi.new_experiment())

    def artifacts(self, path=None):
        r = mtapi.get("artifacts/list", run_id=self.run_id, path=path)
        self.assertEqual(r.status, 200, r.body)
        return sorted((f["path"], f.get("file_size")) for f in r.body.get("files", []))

    # ---- metrics ----

    def test_metric_with_run_flag(self):
        p = self.mltrack("log", "metric", "loss", "0.25", "--step", "3", "--timestamp",
                         "1700000000123", "--run", self.run_id, check=0)
        self.assertEqual((p.stdout, p.stderr), ("", ""))
        self.assertEqual(mtapi.history(self.run_id, "loss"),
                         [{"key": "loss", "value": 0.25, "timestamp": 1700000000123, "step": 3}])

    def test_metric_from_the_environment_defaults_step_and_time(self):
        before = mtapi.now_ms()
        self.mltrack("log", "metric", "acc", "0.9", check=0, MLTRACK_RUN_ID=self.run_id)
        after = mtapi.now_ms()
        [m] = mtapi.history(self.run_id, "acc")
        self.assertEqual((m["value"], m["step"]), (0.9, 0))
        self.assertTrue(before - 1000 <= m["timestamp"] <= after + 1000, (before, m, after))

    def test_mlflow_run_id_is_the_fallback_and_run_flag_wins(self):
        other = mtapi.new_run(mtapi.new_experiment())
        self.mltrack("log", "metric", "m", "1", check=0, MLFLOW_RUN_ID=self.run_id)
        self.mltrack("log", "metric", "m", "2", check=0, MLFLOW_RUN_ID=other,
                     MLTRACK_RUN_ID=self.run_id)
        self.mltrack("log", "metric", "m", "3", "--run", other, check=0,
                     MLTRACK_RUN_ID=self.run_id)
        self.assertEqual([x["value"] for x in mtapi.history(self.run_id, "m")], [1, 2])
        self.assertEqual([x["value"] for x in mtapi.history(other, "m")], [3])

    def test_special_and_negative_values(self):
        env = {"MLTRACK_RUN_ID": self.run_id}
        self.mltrack("log", "metric", "s", "nan", "--step", "1", check=0, **env)
        self.mltrack("log", "metric", "s", "inf", "--step", "2", check=0, **env)
        # -inf looks like an option: it is a value only after "--".
        self.mltrack("log", "metric", "s", "--step", "3", "--", "-inf", check=0, **env)
        self.mltrack("log", "metric", "s", "-1.5e-3", "--step", "-4", check=0, **env)
        self.mltrack("log", "metric", "s", "1e-400", "--step", "5", check=0, **env)
        got = {m["step"]: m["value"] for m in mtapi.history(self.run_id, "s")}
        self.assertEqual(got, {1: "NaN", 2: mtapi.DBL_MAX, 3: -mtapi.DBL_MAX, -4: -0.0015,
                               5: 0})

    def test_invalid_numbers_are_usage_errors_and_send_nothing(self):
        env = {"MLTRACK_RUN_ID": self.run_id}
        for bad in ("abc", "1.5x", "", " 1", "0x10", "1e999", "1,5", "--"):
            with self.subTest(value=bad):
                p = self.mltrack("log", "metric", "k", "--", bad, **env)
                if bad == "--":  # the second "--" is the value
                    self.assert_one_line_error(p, 2, "'--' is not a number")
                else:
                    self.assert_one_line_error(p, 2, "metric 'k'")
        for opt, bad in (("--step", "1.5"), ("--step", "ten"), ("--step", "99999999999999999999"),
                         ("--timestamp", "-1"), ("--timestamp", "soon")):
            with self.subTest(option=opt, value=bad):
                p = self.mltrack("log", "metric", "k", "1", opt, bad, **env)
                self.assert_one_line_error(p, 2, opt)
        self.assertEqual(mtapi.history(self.run_id, "k"), [])

    def test_invalid_keys_and_long_values_are_usage_errors(self):
        env = {"MLTRACK_RUN_ID": self.run_id}
        for cmd in ("metric", "param", "tag"):
            for key in ("bad!", "a//b", "../x", "k" * 251, ""):
                with self.subTest(cmd=cmd, key=key[:10]):
                    p = self.mltrack("log", cmd, key, "1", **env)
                    self.assert_one_line_error(p, 2)
        p = self.mltrack("log", "param", "p", "v" * 6001, **env)
        self.assert_one_line_error(p, 2, "length limit of 6000")
        self.mltrack("log", "param", "p", "v" * 6000, check=0, **env)
        p = self.mltrack("log", "tag", "t", "v" * 8001, **env)
        self.assert_one_line_error(p, 2, "length limit of 8000")
        run = mtapi.get_run(self.run_id)
        self.assertEqual(mtapi.kv(run["data"].get("params")), {"p": "v" * 6000})
        self.assertNotIn("t", mtapi.kv(run["data"].get("tags")))

    # ---- params and tags ----

    def test_param_and_tag(self):
        self.mltrack("log", "param", "lr", "0.01", "--run", self.run_id, check=0)
        self.mltrack("log", "param", "opt", "adam w", check=0, MLTRACK_RUN_ID=self.run_id)
        self.mltrack("log", "tag", "stage", "dev", "--run", self.run_id, check=0)
        self.mltrack("log", "tag", "stage", "prod", check=0, MLTRACK_RUN_ID=self.run_id)
        self.mltrack("log", "tag", "empty", "", check=0, MLTRACK_RUN_ID=self.run_id)
        # The same param value again is fine.
        self.mltrack("log", "param", "lr", "0.01", check=0, MLTRACK_RUN_ID=self.run_id)
        run = mtapi.get_run(self.run_id)
        self.assertEqual(mtapi.kv(run["data"]["params"]), {"lr": "0.01", "opt": "adam w"})
        tags = mtapi.kv(run["data"]["tags"])
        self.assertEqual((tags["stage"], tags["empty"]), ("prod", ""))

    def test_changing_a_param_is_refused(self):
        self.mltrack("log", "param", "lr", "0.01", "--run", self.run_id, check=0)
        p = self.mltrack("log", "param", "lr", "0.02", "--run", self.run_id)
        self.assert_one_line_error(p, 3, "Changing param values is not allowed", "'lr'",
                                   "INVALID_PARAMETER_VALUE")
        run = mtapi.get_run(self.run_id)
        self.assertEqual(mtapi.kv(run["data"]["params"]), {"lr": "0.01"})

    # ---- artifacts ----

    def test_artifact_file_and_directory(self):
        f = self.write("model.txt", "weights\n")
        self.mltrack("log", "artifact", f, "--run", self.run_id, check=0)
        self.write("ckpt/a.bin", "a")
        self.write("ckpt/sub/b.bin", "bb")
        self.mltrack("log", "artifact", self.path("ckpt"), "out/epoch1", check=0,
                     MLTRACK_RUN_ID=self.run_id)
        self.assertEqual(self.artifacts(), [("model.txt", 8), ("out", None)])
        self.assertEqual(self.artifacts("out/epoch1/ckpt"),
                         [("out/epoch1/ckpt/a.bin", 1), ("out/epoch1/ckpt/sub", None)])
        self.assertEqual(self.artifacts("out/epoch1/ckpt/sub"),
                         [("out/epoch1/ckpt/sub/b.bin", 2)])

    def test_artifact_errors(self):
        env = {"MLTRACK_RUN_ID": self.run_id}
        p = self.mltrack("log", "artifact", self.path("missing"), **env)
        self.assert_one_line_error(p, 2, "missing")
        f = self.write("x.txt", "x")
        p = self.mltrack("log", "artifact", f, "../up", **env)
        self.assert_one_line_error(p, 2)
        self.assertEqual(self.artifacts(), [])

    # ---- which run ----

    def test_no_run(self):
        f = self.write("x.txt", "x")
        for args in (("metric", "m", "1"), ("param", "p", "v"), ("tag", "t", "v"),
                     ("artifact", f)):
            with self.subTest(cmd=args[0]):
                p = self.mltrack("log", *args)
                self.assert_one_line_error(
                    p, 2, "no run: pass --run ID or run inside `mltrack run`")
                p = self.mltrack("log", *args, MLTRACK_RUN_ID="", MLFLOW_RUN_ID="")
                self.assert_one_line_error(p, 2, "no run")

    def test_malformed_run_id(self):
        p = self.mltrack("log", "metric", "m", "1", "--run", "not a run/id")
        self.assert_one_line_error(p, 2, "Invalid run ID")

    def test_unknown_run(self):
        ghost = "0123456789abcdef0123456789abcdef"
        f = self.write("x.txt", "x")
        for args in (("metric", "m", "1"), ("param", "p", "v"), ("tag", "t", "v"),
                     ("artifact", f)):
            with self.subTest(cmd=args[0]):
                p = self.mltrack("log", *args, "--run", ghost)
                self.assert_one_line_error(p, 3, ghost)

    def test_deleted_run_is_refused(self):
        mtapi.post("runs/delete", {"run_id": self.run_id})
        p = self.mltrack("log", "metric", "m", "1", "--run", self.run_id)
        self.assert_one_line_error(p, 3, "active")

    def test_server_down_fails_fast(self):
        start = time.time()
        p = self.mltrack("log", "metric", "m", "1", "--run", self.run_id, uri=DEAD,
                         MLTRACK_HTTP_RETRIES="1")
        self.assert_one_line_error(p, 3, "cannot reach")
        self.assertLess(time.time() - start, 10)

    def test_inside_mltrack_run(self):
        exp = mtapi.uniq("logexp")
        script = self.write("train.sh",
                            '#!/bin/sh\nset -e\n'
                            '"$MLTRACK_CLI" log metric acc 0.75 --step 2\n'
                            '"$MLTRACK_CLI" log param depth 12\n'
                            '"$MLTRACK_CLI" log tag phase train\n'
                            'echo result > result.txt\n'
                            '"$MLTRACK_CLI" -q log artifact result.txt outputs\n')
        os.chmod(script, 0o755)
        self.mltrack("run", "-e", exp, "--no-scrape", "--no-flags", "--", script, check=0,
                     MLTRACK_CLI=CLI, MLTRACK_SYSTEM_METRICS_INTERVAL="0")
        exp_id = mtapi.get("experiments/get-by-name", experiment_name=exp).body[
            "experiment"]["experiment_id"]
        [run] = mtapi.post("runs/search", {"experiment_ids": [exp_id]}).body["runs"]
        self.run_id = run["info"]["run_id"]
        self.assertEqual([(m["value"], m["step"]) for m in mtapi.history(self.run_id, "acc")],
                         [(0.75, 2)])
        run = mtapi.get_run(self.run_id)
        self.assertEqual(mtapi.kv(run["data"]["params"])["depth"], "12")
        self.assertEqual(mtapi.kv(run["data"]["tags"])["phase"], "train")
        self.assertEqual(self.artifacts("outputs"), [("outputs/result.txt", 7)])


class ExperimentsCli(CliCase):
    def by_name(self, name):
        r = mtapi.get("experiments/get-by-name", experiment_name=name)
        self.assertEqual(r.status, 200, r.body)
        return r.body["experiment"]

    def table(self, *args):
        p = self.mltrack("experiments", "list", *args, check=0)
        lines = p.stdout.splitlines()
        return lines[0].split(), [l.split() for l in lines[1:]]

    def test_create_prints_only_the_id(self):
        name = mtapi.uniq("exp cli")
        p = self.mltrack("experiments", "create", name, "-t", "team=vision", "--tag",
                         "note=a=b", check=0)
        self.assertRegex(p.stdout, r"^[0-9]+\n$")
        exp = self.by_name(name)
        self.assertEqual(exp["experiment_id"], p.stdout.strip())
        self.assertEqual(mtapi.kv(exp.get("tags")), {"team": "vision", "note": "a=b"})
        self.assertEqual(exp["artifact_location"], "mlflow-artifacts:/" + exp["experiment_id"])

    def test_create_with_artifact_location(self):
        name = mtapi.uniq("exp")
        loc = "s3://bucket/" + name
        p = self.mltrack("experiments", "create", name, "--artifact-location", loc, check=0)
        exp = self.by_name(name)
        self.assertEqual((exp["experiment_id"], exp["artifact_location"]), (p.stdout.strip(), loc))

    def test_duplicate_name_is_refused(self):
        name = mtapi.uniq("dup")
        self.mltrack("experiments", "create", name, check=0)
        p = self.mltrack("experiments", "create", name)
        self.assert_one_line_error(p, 3, "RESOURCE_ALREADY_EXISTS", name)
        # A deleted experiment keeps its name.
        exp_id = self.by_name(name)["experiment_id"]
        mtapi.post("experiments/delete", {"experiment_id": exp_id})
        p = self.mltrack("experiments", "create", name)
        self.assert_one_line_error(p, 3, "RESOURCE_ALREADY_EXISTS")

    def test_create_usage_errors(self):
        for args in (("",), ("x" * 501,), (mtapi.uniq("e"), "-t", "novalue"),
                     (mtapi.uniq("e"), "-t", "bad!=1"),
                     (mtapi.uniq("e"), "-t", "k=" + "v" * 5001),
                     (mtapi.uniq("e"), "--artifact-location", "runs:/abc"), ()):
            with self.subTest(args=[a[:20] for a in args]):
                p = self.mltrack("experiments", "create", *args)
                self.assert_one_line_error(p, 2)

    def test_list_table_and_json(self):
        name = mtapi.uniq("listed")
        exp_id = self.mltrack("experiments", "create", name, check=0).stdout.strip()
        head, rows = self.table()
        self.assertEqual(head, ["ID", "NAME", "ARTIFACT_LOCATION", "CREATED"])
        mine = [r for r in rows if r[0] == exp_id]
        self.assertEqual(len(mine), 1, rows)
        # id, name, location, date, time
        self.assertEqual(mine[0][:3], [exp_id, name, "mlflow-artifacts:/" + exp_id])
        self.assertRegex(" ".join(mine[0][3:]), r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        self.assertIn(["0", "Default"], [r[:2] for r in rows])
        p = self.mltrack("experiments", "list", "--format", "json", check=0)
        listed = {e["experiment_id"]: e for e in json.loads(p.stdout)}
        self.assertEqual(listed[exp_id]["name"], name)
        self.assertEqual(listed[exp_id]["lifecycle_stage"], "active")
        self.assertEqual(len(listed), len(rows))

    def test_deleted_only_with_all(self):
        name = mtapi.uniq("gone")
        exp_id = self.mltrack("experiments", "create", name, check=0).stdout.strip()
        self.assertEqual(mtapi.post("experiments/delete", {"experiment_id": exp_id}).status, 200)
        _, rows = self.table()
        self.assertNotIn(exp_id, [r[0] for r in rows])
        head, rows = self.table("--all")
        self.assertEqual(head, ["ID", "NAME", "LIFECYCLE", "ARTIFACT_LOCATION", "CREATED"])
        self.assertIn([exp_id, name, "deleted"], [r[:3] for r in rows])
        self.assertIn(["0", "Default", "active"], [r[:3] for r in rows])
        p = self.mltrack("experiments", "list", "--format", "json", check=0)
        self.assertNotIn(exp_id, [e["experiment_id"] for e in json.loads(p.stdout)])
        p = self.mltrack("experiments", "list", "-a", "--format", "json", check=0)
        got = {e["experiment_id"]: e["lifecycle_stage"] for e in json.loads(p.stdout)}
        self.assertEqual(got[exp_id], "deleted")

    def test_list_pages_through_everything(self):
        # More experiments than one page (1000) of experiments/search.
        def count():
            n, token = 0, None
            while True:
                body = {"max_results": 500, "view_type": "ALL"}
                if token:
                    body["page_token"] = token
                b = mtapi.post("experiments/search", body).body
                n += len(b.get("experiments", []))
                token = b.get("next_page_token")
                if not token:
                    return n
        for _ in range(max(0, 1005 - count())):
            mtapi.new_experiment(mtapi.uniq("page"))
        total = count()
        self.assertGreater(total, 1000)
        p = self.mltrack("experiments", "list", "--all", "--format", "json", check=0)
        ids = [e["experiment_id"] for e in json.loads(p.stdout)]
        self.assertEqual(len(ids), total)
        self.assertEqual(len(set(ids)), total)
        _, rows = self.table("--all")
        self.assertEqual(len(rows), total)

    def test_list_usage_and_server_errors(self):
        p = self.mltrack("experiments", "list", "--format", "csv")
        self.assert_one_line_error(p, 2, "csv")
        p = self.mltrack("experiments", "list", uri=DEAD, MLTRACK_HTTP_RETRIES="1")
        self.assert_one_line_error(p, 3, "cannot reach")


class Help(CliCase):
    def test_help_of_every_subcommand(self):
        for cmd in (("log", "metric"), ("log", "param"), ("log", "tag"), ("log", "artifact"),
                    ("experiments", "list"), ("experiments", "create")):
            for flag in ("--help", "-h"):
                with self.subTest(cmd=cmd, flag=flag):
                    p = self.mltrack(*cmd, flag, check=0)
                    self.assertTrue(p.stdout.startswith("usage: mltrack %s %s" % cmd),
                                    p.stdout)
                    self.assertEqual(p.stderr, "")

    def test_groups(self):
        for group, subs in (("log", ("metric", "param", "tag", "artifact")),
                            ("experiments", ("list", "create"))):
            with self.subTest(group=group):
                p = self.mltrack(group, "--help", check=0)
                self.assertTrue(p.stdout.startswith("usage: mltrack %s <command>" % group))
                for s in subs:
                    self.assertIn("\n  %s " % s, p.stdout)
                p = self.mltrack(group, check=2)
                self.assertTrue(p.stderr.startswith("usage: mltrack %s" % group))
                p = self.mltrack(group, "frobnicate")
                self.assert_one_line_error(p, 2, "frobnicate")
        p = self.mltrack("--help", check=0)
        self.assertIn("\n  log ", p.stdout)
        self.assertIn("\n  experiments ", p.stdout)

    def test_missing_arguments(self):
        p = self.mltrack("log", "metric", "loss")
        self.assert_one_line_error(p, 2, "missing VALUE")
        p = self.mltrack("log", "param", "a", "b", "c")
        self.assert_one_line_error(p, 2, "unexpected argument 'c'")
        p = self.mltrack("log", "artifact")
        self.assert_one_line_error(p, 2, "missing PATH")


if __name__ == "__main__":
    unittest.main()
