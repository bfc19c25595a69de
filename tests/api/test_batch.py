"""runs/log-batch: limits, validation, atomicity and idempotent replay
(MLFLOW-API.md sections 3, 7, 13; DESIGN.md section 4: a rejected batch
writes nothing)."""

import unittest

import mtapi
from mtapi import get_run, history, kv, metrics_by_key, new_run, post

setUpModule = mtapi.wait_ready

UNKNOWN_RUN = "00000000000000000000000000000bad"


def metric(key, value, step=0, ts=1000):
    return {"key": key, "value": value, "timestamp": ts, "step": step}


def param(key, value):
    return {"key": key, "value": value}


tag = param


class TestLogBatch(mtapi.ApiTestCase):
    def test_success_writes_everything(self):
        rid = new_run(run_name="b")
        body = {"run_id": rid,
                "metrics": [metric("acc", 0.1, 0, 100), metric("acc", 0.2, 1, 200),
                            metric("loss", 3.5, 0, 100)],
                "params": [param("lr", "0.01"), param("opt", "adam")],
                "tags": [tag("team", "x")]}
        self.assertEmptyOk(post("runs/log-batch", body))
        run = get_run(rid)
        self.assertEqual(kv(run["data"]["params"]), {"lr": "0.01", "opt": "adam"})
        self.assertEqual(kv(run["data"]["tags"]), {"team": "x", "mlflow.runName": "b"})
        ms = metrics_by_key(run)
        self.assertEqual(ms, {"acc": metric("acc", 0.2, 1, 200),
                              "loss": metric("loss", 3.5, 0, 100)})
        self.assertEqual(history(rid, "acc"), [metric("acc", 0.1, 0, 100),
                                               metric("acc", 0.2, 1, 200)])

    def test_empty_batch(self):
        rid = new_run()
        before = get_run(rid)
        self.assertEmptyOk(post("runs/log-batch", {"run_id": rid}))
        self.assertEmptyOk(post("runs/log-batch", {"run_id": rid, "metrics": [], "params": [],
                                                   "tags": []}))
        self.assertEqual(get_run(rid), before)

    def test_run_uuid_and_string_int64(self):
        rid = new_run()
        self.assertEmptyOk(post("runs/log-batch", {
            "run_uuid": rid,
            "metrics": [{"key": "m", "value": 1.5, "timestamp": "1700000000000", "step": "12"}]}))
        p = history(rid, "m")[0]
        self.assertEqual(p, metric("m", 1.5, 12, 1700000000000))
        self.assertInt(p["step"])
        self.assertInt(p["timestamp"])

    def test_missing_run_and_unknown_run(self):
        self.assertMissing(post("runs/log-batch", {"params": [param("a", "1")]}), "run_id")
        self.assertNotFound(post("runs/log-batch", {"run_id": UNKNOWN_RUN,
                                                    "params": [param("a", "1")]}))

    def test_replay_adds_no_history(self):
        rid = new_run()
        body = {"run_id": rid,
                "metrics": [metric("m", float(i), i, 1000 + i) for i in range(20)],
                "params": [param("p", "1")], "tags": [tag("t", "1")]}
        self.assertEmptyOk(post("runs/log-batch", body))
        first = get_run(rid)
        self.assertEmptyOk(post("runs/log-batch", body))
        self.assertEmptyOk(post("runs/log-batch", body))
        self.assertEqual(get_run(rid), first)
        self.assertEqual(len(history(rid, "m")), 20)

    def test_nan_and_infinity_in_batch(self):
        rid = new_run()
        self.assertEmptyOk(post("runs/log-batch", {"run_id": rid, "metrics": [
            metric("n", "NaN"), metric("p", "Infinity"), metric("q", "-Infinity")]}))
        ms = metrics_by_key(get_run(rid))
        self.assertEqual(ms["n"]["value"], "NaN")
        self.assertEqual(ms["p"]["value"], mtapi.DBL_MAX)
        self.assertEqual(ms["q"]["value"], -mtapi.DBL_MAX)

    def test_tags_last_write_wins(self):
        rid = new_run(run_name="lww")
        self.assertEmptyOk(post("runs/log-batch", {"run_id": rid, "tags": [
            tag("k", "1"), tag("k", "2"), tag("k", "3")]}))
        self.assertEqual(kv(get_run(rid)["data"]["tags"]), {"k": "3", "mlflow.runName": "lww"})

    def test_run_name_tag_renames(self):
        rid = new_run(run_name="old")
        self.assertEmptyOk(post("runs/log-batch", {"run_id": rid,
                                                   "tags": [tag("mlflow.runName", "new")]}))
        run = get_run(rid)
        self.assertEqual(run["info"]["run_name"], "new")
        self.assertEqual(kv(run["data"]["tags"])["mlflow.runName"], "new")

    def test_same_param_value_again_is_ok(self):
        rid = new_run()
        self.assertEmptyOk(post("runs/log-parameter", {"run_id": rid, "key": "a", "value": "1"}))
        self.assertEmptyOk(post("runs/log-batch", {"run_id": rid, "params": [
            param("a", "1"), param("b", "2")]}))
        self.assertEqual(kv(get_run(rid)["data"]["params"]), {"a": "1", "b": "2"})

    def test_changed_param_refused_and_nothing_written(self):
        rid = new_run()
        self.assertEmptyOk(post("runs/log-parameter", {"run_id": rid, "key": "a", "value": "1"}))
        before = get_run(rid)
        r = post("runs/log-batch", {"run_id": rid,
                                    "params": [param("b", "2"), param("a", "changed")],
                                    "metrics": [metric("m", 1)], "tags": [tag("t", "v")]})
        self.assertInvalid(r, "Changing param values is not allowed")
        self.assertEqual(get_run(rid), before)
        self.assertEqual(history(rid, "m"), [])

    def test_duplicate_param_keys_in_batch(self):
        rid = new_run()
        before = get_run(rid)
        for params in ([param("a", "1"), param("a", "2")], [param("a", "1"), param("a", "1")]):
            with self.subTest(params=params):
                r = post("runs/log-batch", {"run_id": rid, "params": params})
                self.assertInvalid(r)
        self.assertEqual(get_run(rid), before)

    def test_one_invalid_item_writes_nothing(self):
        good_m = [metric("good", 1.0, 0, 10), metric("good", 2.0, 1, 20)]
        good_p = [param("gp", "1")]
        good_t = [tag("gt", "1")]
        bad_items = [
            ("metric key", {"metrics": [{"key": "bad key!", "value": 1, "timestamp": 1}]}),
            ("metric value", {"metrics": [{"key": "x", "value": "abc", "timestamp": 1}]}),
            ("metric timestamp missing", {"metrics": [{"key": "x", "value": 1}]}),
            ("metric key missing", {"metrics": [{"value": 1, "timestamp": 1}]}),
            ("param key missing", {"params": [{"value": "1"}]}),
            ("param key", {"params": [param("a//b", "1")]}),
            ("param value too long", {"params": [param("long", "x" * 6001)]}),
            ("tag key missing", {"tags": [{"value": "1"}]}),
            ("tag key", {"tags": [tag("../t", "1")]}),
            ("tag value too long", {"tags": [tag("long", "x" * 8001)]}),
        ]
        for what, extra in bad_items:
            with self.subTest(bad=what):
                rid = new_run(run_name="atomic")
                before = get_run(rid)
                body = {"run_id": rid, "metrics": list(good_m), "params": list(good_p),
                        "tags": list(good_t)}
                for k, v in extra.items():
                    body[k] = body[k] + v
                self.assertInvalid(post("runs/log-batch", body))
                self.assertEqual(get_run(rid), before)
                self.assertEqual(history(rid, "good"), [])

    def test_inactive_run(self):
        rid = new_run()
        self.assertEmptyOk(post("runs/delete", {"run_id": rid}))
        r = post("runs/log-batch", {"run_id": rid, "params": [param("a", "1")]})
        self.assertInvalid(r, "must be in the 'active' state")


class TestBatchLimits(mtapi.ApiTestCase):
    def limit_case(self, n_metrics, n_params, n_tags):
        rid = new_run(run_name="lim")
        body = {"run_id": rid,
                "metrics": [metric("m%d" % i, float(i), 0, 1000) for i in range(n_metrics)],
                "params": [param("p%d" % i, str(i)) for i in range(n_params)],
                "tags": [tag("t%d" % i, str(i)) for i in range(n_tags)]}
        return rid, post("runs/log-batch", body)

    def assertNothingWritten(self, rid):
        data = get_run(rid)["data"]
        self.assertNotIn("metrics", data)
        self.assertNotIn("params", data)
        self.assertEqual(kv(data["tags"]), {"mlflow.runName": "lim"})

    def test_at_the_limits(self):
        rid, r = self.limit_case(1000, 0, 0)
        self.assertEmptyOk(r)
        self.assertEqual(len(get_run(rid)["data"]["metrics"]), 1000)
        rid, r = self.limit_case(800, 100, 100)
        self.assertEmptyOk(r)
        data = get_run(rid)["data"]
        self.assertEqual((len(data["metrics"]), len(data["params"]), len(data["tags"])),
                         (800, 100, 101))

    def test_too_many_metrics(self):
        rid, r = self.limit_case(1001, 0, 0)
        self.assertInvalid(r, ["A batch logging request can contain at most 1000 metrics",
                               "Got 1001 metrics"])
        self.assertNothingWritten(rid)

    def test_too_many_params(self):
        rid, r = self.limit_case(0, 101, 0)
        self.assertInvalid(r, ["A batch logging request can contain at most 100 params",
                               "Got 101 params"])
        self.assertNothingWritten(rid)

    def test_too_many_tags(self):
        rid, r = self.limit_case(0, 0, 101)
        self.assertInvalid(r, ["A batch logging request can contain at most 100 tags",
                               "Got 101 tags"])
        self.assertNothingWritten(rid)

    def test_too_many_in_total(self):
        rid, r = self.limit_case(901, 50, 50)
        self.assertInvalid(r, ["at most 1000 metrics, params, and tags", "Got 1001"])
        self.assertNothingWritten(rid)


if __name__ == "__main__":
    unittest.main()


class TestBigBatches(mtapi.ApiTestCase):
    """Batches of 32+ points are inserted without ON CONFLICT; a replayed or
    overlapping batch fails that insert, and its transaction runs again with
    INSERT ... ON CONFLICT DO NOTHING."""

    def big(self, base, n=200, keys=("a", "b", "c", "d")):
        return [metric(keys[i % len(keys)], base + i * 0.5, base + i, 1000 + base + i)
                for i in range(n)]

    def test_big_batch_every_point_and_latest(self):
        rid = new_run()
        pts = self.big(0)
        self.assertEmptyOk(post("runs/log-batch", {"run_id": rid, "metrics": pts}))
        for k in "abcd":
            want = sorted((p for p in pts if p["key"] == k), key=lambda p: p["step"])
            self.assertEqual(history(rid, k), want)
        latest = metrics_by_key(get_run(rid))
        self.assertEqual(latest["d"], pts[-1])
        self.assertEqual(latest["a"], pts[-4])

    def test_replay_and_overlap_of_big_batches(self):
        rid = new_run()
        first = self.big(0)
        second = self.big(100)  # half overlaps the first batch
        self.assertEmptyOk(post("runs/log-batch", {"run_id": rid, "metrics": first}))
        self.assertEmptyOk(post("runs/log-batch", {"run_id": rid, "metrics": first}))
        self.assertEmptyOk(post("runs/log-batch", {"run_id": rid, "metrics": second}))
        union = {(p["key"], p["step"], p["timestamp"], p["value"]) for p in first + second}
        got = [(m["key"], m["step"], m["timestamp"], m["value"])
               for k in "abcd" for m in history(rid, k)]
        self.assertEqual(len(got), len(set(got)))
        self.assertEqual(set(got), union)
        self.assertEqual(metrics_by_key(get_run(rid))["d"], second[-1])

    def test_replay_with_params_and_tags_runs_again_whole(self):
        # A replayed big batch fails on its first stored point; the request's
        # transaction then runs again with INSERT ... ON CONFLICT for the
        # points, params and tags included, and answers 200 once.
        rid = new_run()
        body = {"run_id": rid, "metrics": self.big(0), "params": [param("p", "1")],
                "tags": [{"key": "t", "value": "v"}]}
        self.assertEmptyOk(post("runs/log-batch", body))
        body["metrics"] = self.big(0) + self.big(1000, 40)
        self.assertEmptyOk(post("runs/log-batch", body))
        self.assertEqual(sum(len(history(rid, k)) for k in "abcd"), 240)
        data = get_run(rid)["data"]
        self.assertEqual(data["params"], [param("p", "1")])
        self.assertIn({"key": "t", "value": "v"}, data["tags"])
        self.assertEqual(metrics_by_key(get_run(rid))["d"], self.big(1000, 40)[-1])

    def test_duplicates_inside_one_big_batch(self):
        rid = new_run()
        pts = self.big(0, 50)
        self.assertEmptyOk(post("runs/log-batch", {"run_id": rid, "metrics": pts + pts[:20]}))
        self.assertEqual(sum(len(history(rid, k)) for k in "abcd"), 50)

    def test_big_batch_with_a_bad_point_writes_nothing(self):
        rid = new_run()
        pts = self.big(0) + [{"key": "bad key!", "value": 1, "timestamp": 1}]
        self.assertInvalid(post("runs/log-batch", {"run_id": rid, "metrics": pts}))
        self.assertEqual(sum(len(history(rid, k)) for k in "abcd"), 0)

    def test_big_batch_and_changed_param_writes_nothing(self):
        rid = new_run()
        self.assertEmptyOk(post("runs/log-batch", {"run_id": rid, "params": [param("p", "1")]}))
        body = {"run_id": rid, "metrics": self.big(0), "params": [param("p", "2")]}
        self.assertInvalid(post("runs/log-batch", body), "Changing param values is not allowed")
        self.assertEqual(sum(len(history(rid, k)) for k in "abcd"), 0)
