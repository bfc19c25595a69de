"""runs/log-metric, metrics/get-history, metrics/get-history-bulk-interval and
mltrack's metrics/get-history-sampled (MLFLOW-API.md sections 1, 2, 3, 7, 13)."""

import os
import time
import uuid
import unittest

import mtapi
from mtapi import DBL_MAX, get, get_run, history, metrics_by_key, mt_get, new_run, now_ms, post

setUpModule = mtapi.wait_ready

UNKNOWN_RUN = "fedcba9876543210fedcba9876543210"


def metric(key, value, step, ts):
    return {"key": key, "value": value, "timestamp": ts, "step": step}


class TestLogMetric(mtapi.ApiTestCase):
    def test_log_and_read_back(self):
        rid = new_run()
        ts = now_ms()
        self.assertEmptyOk(post("runs/log-metric", {"run_id": rid, "key": "acc", "value": 0.5,
                                                    "timestamp": ts, "step": 3}))
        m = metrics_by_key(get_run(rid))["acc"]
        self.assertEqual(m, metric("acc", 0.5, 3, ts))
        self.assertInt(m["timestamp"])
        self.assertInt(m["step"])

    def test_step_defaults_to_zero_and_is_emitted(self):
        rid = new_run()
        ts = now_ms()
        self.assertEmptyOk(post("runs/log-metric", {"run_id": rid, "key": "m", "value": 2,
                                                    "timestamp": ts}))
        self.assertEqual(metrics_by_key(get_run(rid))["m"], metric("m", 2, 0, ts))
        self.assertEqual(history(rid, "m"), [metric("m", 2, 0, ts)])

    def test_int64_as_strings_and_large_values(self):
        rid = new_run()
        big_step = 2 ** 40 + 7
        ts = 1700000000123
        self.assertEmptyOk(post("runs/log-metric", {"run_id": rid, "key": "m", "value": -1.25,
                                                    "timestamp": str(ts), "step": str(big_step)}))
        (p,) = history(rid, "m")
        self.assertEqual(p, metric("m", -1.25, big_step, ts))
        self.assertInt(p["step"])
        self.assertInt(p["timestamp"])

    def test_run_uuid_instead_of_run_id(self):
        rid = new_run()
        ts = now_ms()
        self.assertEmptyOk(post("runs/log-metric", {"run_uuid": rid, "key": "m", "value": 1,
                                                    "timestamp": ts}))
        self.assertEqual(history(rid, "m"), [metric("m", 1, 0, ts)])

    def test_required_fields(self):
        rid = new_run()
        ts = now_ms()
        full = {"run_id": rid, "key": "m", "value": 1.0, "timestamp": ts}
        for field in ("run_id", "key", "value", "timestamp"):
            with self.subTest(missing=field):
                body = dict(full)
                del body[field]
                self.assertMissing(post("runs/log-metric", body), field)
        self.assertNotIn("metrics", get_run(rid)["data"])

    def test_invalid_values(self):
        rid = new_run()
        ts = now_ms()
        bad = [
            {"run_id": rid, "key": "bad key!", "value": 1, "timestamp": ts},
            {"run_id": rid, "key": "./m", "value": 1, "timestamp": ts},
            {"run_id": rid, "key": "k" * 251, "value": 1, "timestamp": ts},
            {"run_id": rid, "key": "m", "value": "abc", "timestamp": ts},
            {"run_id": rid, "key": "m", "value": True, "timestamp": ts},
            {"run_id": rid, "key": "m", "value": 1, "timestamp": -5},
            {"run_id": rid, "key": "m", "value": 1, "timestamp": "soon"},
            {"run_id": rid, "key": "m", "value": 1, "timestamp": ts, "step": 1.5},
        ]
        for body in bad:
            with self.subTest(body=body):
                self.assertInvalid(post("runs/log-metric", body))
        self.assertNotIn("metrics", get_run(rid)["data"])

    def test_unknown_run(self):
        r = post("runs/log-metric", {"run_id": UNKNOWN_RUN, "key": "m", "value": 1,
                                     "timestamp": now_ms()})
        self.assertNotFound(r)

    def test_nan_and_infinity(self):
        rid = new_run()
        ts = now_ms()
        for key, v in (("nan", "NaN"), ("pinf", "Infinity"), ("ninf", "-Infinity")):
            self.assertEmptyOk(post("runs/log-metric", {"run_id": rid, "key": key, "value": v,
                                                        "timestamp": ts, "step": 1}))
        ms = metrics_by_key(get_run(rid))
        self.assertEqual(ms["nan"], metric("nan", "NaN", 1, ts))
        self.assertEqual(ms["pinf"], metric("pinf", DBL_MAX, 1, ts))
        self.assertEqual(ms["ninf"], metric("ninf", -DBL_MAX, 1, ts))
        self.assertEqual(history(rid, "nan"), [metric("nan", "NaN", 1, ts)])
        self.assertEqual(history(rid, "pinf"), [metric("pinf", DBL_MAX, 1, ts)])
        self.assertEqual(history(rid, "ninf"), [metric("ninf", -DBL_MAX, 1, ts)])

    def test_nan_replay_is_one_point(self):
        rid = new_run()
        body = {"run_id": rid, "key": "n", "value": "NaN", "timestamp": 1000, "step": 0}
        self.assertEmptyOk(post("runs/log-metric", body))
        self.assertEmptyOk(post("runs/log-metric", body))
        self.assertEqual(history(rid, "n"), [metric("n", "NaN", 0, 1000)])

    def test_latest_by_step_timestamp_value(self):
        rid = new_run()
        seq = [
            # (step, ts, value) logged -> expected latest (step, ts, value)
            ((2, 1000, 5.0), (2, 1000, 5.0)),
            ((1, 9999, 100.0), (2, 1000, 5.0)),   # lower step loses despite later ts
            ((2, 999, 50.0), (2, 1000, 5.0)),     # same step, earlier ts loses
            ((2, 1000, 4.0), (2, 1000, 5.0)),     # same step and ts, lower value loses
            ((2, 1000, 6.0), (2, 1000, 6.0)),     # same step and ts, higher value wins
            ((2, 1001, -1.0), (2, 1001, -1.0)),   # same step, later ts wins
            ((3, 1, 0.0), (3, 1, 0.0)),           # higher step wins despite earlier ts
        ]
        for (step, ts, v), (es, ets, ev) in seq:
            with self.subTest(logged=(step, ts, v)):
                self.assertEmptyOk(post("runs/log-metric", {"run_id": rid, "key": "m",
                                                            "value": v, "timestamp": ts,
                                                            "step": step}))
                self.assertEqual(metrics_by_key(get_run(rid))["m"], metric("m", ev, es, ets))
        self.assertEqual(len(history(rid, "m")), len(seq))

    def test_exact_duplicate_is_ignored(self):
        rid = new_run()
        body = {"run_id": rid, "key": "m", "value": 0.25, "timestamp": 1234, "step": 7}
        for _ in range(3):
            self.assertEmptyOk(post("runs/log-metric", body))
        self.assertEqual(history(rid, "m"), [metric("m", 0.25, 7, 1234)])
        # Same step and timestamp, other value: a second point.
        self.assertEmptyOk(post("runs/log-metric", dict(body, value=0.5)))
        self.assertEqual(history(rid, "m"), [metric("m", 0.25, 7, 1234),
                                             metric("m", 0.5, 7, 1234)])


class TestPointsNeedTheirRun(mtapi.ApiTestCase):
    """metrics has no foreign key to runs (it cost a lookup and a lock per
    point; migration 0010): the writers lock the run once per batch, and a
    trigger deletes a run's points with the run."""

    def points(self, rid):
        return int(mtapi.psql("SELECT count(*) FROM metrics WHERE run_id = %s" % mtapi.sql_str(rid)))

    def batch(self, rid, n, step0=0):
        return post("runs/log-batch", {"run_id": rid, "metrics": [
            {"key": "k%d" % (i % 3), "value": i + 0.5, "timestamp": 1000 + i, "step": step0 + i}
            for i in range(n)]})

    def test_no_run_no_points(self):
        ghost = uuid.uuid4().hex
        for n in (1, 5, 100):  # a statement, and COPY from 32 points
            r = self.batch(ghost, n)
            self.assertEqual(r.status, 404, r)
            self.assertEqual(r.body["error_code"], "RESOURCE_DOES_NOT_EXIST")
        r = post("runs/log-metric", {"run_id": ghost, "key": "m", "value": 1, "timestamp": 1})
        self.assertEqual(r.status, 404, r)
        self.assertEqual(self.points(ghost), 0)

    def test_a_deleted_run_takes_its_points(self):
        rid = new_run()
        self.assertEmptyOk(self.batch(rid, 100))
        self.assertEmptyOk(post("runs/log-metric", {"run_id": rid, "key": "m", "value": 1,
                                                    "timestamp": 1}))
        self.assertEqual(self.points(rid), 101)
        mtapi.psql("DELETE FROM runs WHERE run_id = %s" % mtapi.sql_str(rid))
        self.assertEqual(self.points(rid), 0)
        self.assertEqual(mtapi.psql("SELECT count(*) FROM latest_metrics WHERE run_id = %s"
                                    % mtapi.sql_str(rid)), "0")

    def test_a_batch_waits_for_a_deletion_in_flight(self):
        # A deletion holds the run's row for a second; a batch and a single
        # point sent meanwhile wait for it, then find no run and write
        # nothing (no point outlives its run).
        import subprocess
        rid = new_run()
        self.assertEmptyOk(self.batch(rid, 40))
        p = subprocess.Popen([os.environ.get("MLTRACK_TEST_PSQL", "psql"), "-X", "-q", "-d",
                              os.environ["MLTRACK_TEST_PGCONN"], "-c",
                              "DELETE FROM runs WHERE run_id = %s; SELECT pg_sleep(1)"
                              % mtapi.sql_str(rid)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 10
            while mtapi.psql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                             "WHERE c.relname = 'runs' AND l.mode = 'RowExclusiveLock' "
                             "AND l.pid <> pg_backend_pid()") == "0":
                self.assertLess(time.time(), deadline, "the deletion never started")
                time.sleep(0.02)
            r = self.batch(rid, 40, step0=1000)
            self.assertEqual(r.status, 404, r)
            r = post("runs/log-metric", {"run_id": rid, "key": "m", "value": 1, "timestamp": 1})
            self.assertEqual(r.status, 404, r)
        finally:
            _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(self.points(rid), 0)


class TestBatchBinaryArrays(mtapi.ApiTestCase):
    """A batch's points go to PostgreSQL as arrays in binary format, built
    by mltrackd (int8 and float8 as their 8 bytes, keys as bytes); a batch
    of 32 points or more is inserted without ON CONFLICT: every extreme
    comes back as sent."""

    def test_extremes_round_trip(self):
        rid = new_run()
        steps = [-(2 ** 63), 2 ** 63 - 1, -1, 0, 1, -10, 10 ** 18, -(10 ** 18), 9, 99]
        stamps = [0, 2 ** 63 - 1, 1, 1700000000123]
        values = [0.0, -0.0, 1e-300, -2.5e300, 0.1, 1 / 3, DBL_MAX, -DBL_MAX, 5e-324, 123456789.0]
        keys = ["m", "a/b c-d.e_f", "k" * 250]
        pts = [metric(keys[i % 3], values[i % 10], steps[i % 10], stamps[i % 4])
               for i in range(40)]
        self.assertEmptyOk(post("runs/log-batch", {"run_id": rid, "metrics": pts}))
        for key in keys:
            want = sorted((p for p in pts if p["key"] == key),
                          key=lambda p: (p["step"], p["timestamp"], p["value"]))
            got = history(rid, key)
            self.assertEqual(len(got), len(want), key)
            for g, w in zip(got, want):
                self.assertEqual((g["step"], g["timestamp"]), (w["step"], w["timestamp"]))
                self.assertEqual(g["value"], w["value"])

    def test_nan_and_infinities_in_a_big_batch(self):
        rid = new_run()
        sent = ["NaN", "Infinity", "-Infinity", 1.5, -0.0]
        want = ["NaN", DBL_MAX, -DBL_MAX, 1.5, 0.0]
        pts = [metric("s", sent[i % 5], i, 1000 + i) for i in range(40)]
        self.assertEmptyOk(post("runs/log-batch", {"run_id": rid, "metrics": pts}))
        got = history(rid, "s")
        self.assertEqual([g["step"] for g in got], list(range(40)))
        self.assertEqual([g["value"] for g in got], [want[i % 5] for i in range(40)])
        self.assertEqual(metrics_by_key(get_run(rid))["s"], metric("s", 0.0, 39, 1039))


class TestGetHistory(mtapi.ApiTestCase):
    def test_all_points_with_shape(self):
        rid = new_run()
        pts = [metric("loss", 1.0 / (i + 1), i, 1000 + i) for i in range(5)]
        pts.append(metric("loss", 9.0, 2, 5000))
        mtapi.log_batch(rid, metrics=pts)
        r = get("metrics/get-history", run_id=rid, metric_key="loss")
        body = self.assertOk(r)
        self.assertEqual(list(body), ["metrics"])
        got = sorted(body["metrics"], key=mtapi._metric_sort_key)
        self.assertEqual(got, sorted(pts, key=mtapi._metric_sort_key))
        for p in body["metrics"]:
            self.assertEqual(set(p), {"key", "value", "timestamp", "step"})
            self.assertInt(p["step"])
            self.assertInt(p["timestamp"])

    def test_only_the_named_key(self):
        rid = new_run()
        mtapi.log_batch(rid, metrics=[metric("a", 1, 0, 1), metric("b", 2, 0, 1)])
        self.assertEqual(history(rid, "a"), [metric("a", 1, 0, 1)])

    def test_run_uuid(self):
        rid = new_run()
        mtapi.log_metric(rid, "m", 3, step=1, timestamp=10)
        b = self.assertOk(get("metrics/get-history", run_uuid=rid, metric_key="m"))
        self.assertEqual(b["metrics"], [metric("m", 3, 1, 10)])

    def test_unknown_key_or_run_is_empty(self):
        rid = new_run()
        self.assertEqual(self.assertOk(get("metrics/get-history", run_id=rid, metric_key="x")), {})
        self.assertEqual(self.assertOk(get("metrics/get-history", run_id=UNKNOWN_RUN,
                                           metric_key="x")), {})

    def test_required(self):
        rid = new_run()
        self.assertMissing(get("metrics/get-history", metric_key="m"), "run_id")
        self.assertMissing(get("metrics/get-history", run_id=rid), "metric_key")



HISTORY_MAX = 25000


def history_pages(rid, key, **query):
    """Every page of metrics/get-history: a list of (metrics, token)."""
    pages, token = [], None
    while True:
        q = dict(query, run_id=rid, metric_key=key)
        if token:
            q["page_token"] = token
        r = get("metrics/get-history", **q)
        if r.status != 200:
            raise AssertionError("%d %r" % (r.status, r.body))
        token = r.body.get("next_page_token")
        pages.append((r.body.get("metrics", []), token))
        if not token or len(pages) > 1000:
            return pages


class TestGetHistoryPages(mtapi.ApiTestCase):
    """MLflow's pagination of get-history: max_results (default and maximum
    25,000) and page_token, as MLflow's client sends them
    (GET_METRIC_HISTORY_MAX_RESULTS, following next_page_token)."""

    @classmethod
    def setUpClass(cls):
        # 26,001 points: steps 0..12999 twice (timestamps 1 and 2), and one
        # more; in an order unlike the answer's.
        cls.rid = new_run()
        pts = [metric("big", float(i % 97), i // 2, 1 + i % 2) for i in range(26000)]
        pts.append(metric("big", -1.0, 13000, 0))
        pts.reverse()
        for i in range(0, len(pts), 1000):
            mtapi.log_batch(cls.rid, metrics=pts[i:i + 1000])
        cls.want = sorted(pts, key=mtapi._metric_sort_key)

    def test_default_page_is_25000_and_the_rest_follows(self):
        pages = history_pages(self.rid, "big")
        self.assertEqual([len(p) for p, _ in pages], [HISTORY_MAX, 1001])
        self.assertIsInstance(pages[0][1], str)
        self.assertIsNone(pages[-1][1])
        got = [m for p, _ in pages for m in p]
        self.assertEqual(got, self.want)

    def test_what_mlflows_client_sends(self):
        pages = history_pages(self.rid, "big", max_results=HISTORY_MAX, run_uuid=self.rid)
        self.assertEqual([len(p) for p, _ in pages], [HISTORY_MAX, 1001])
        self.assertEqual([m for p, _ in pages for m in p], self.want)

    def test_uneven_pages(self):
        pages = history_pages(self.rid, "big", max_results=9999)
        self.assertEqual([len(p) for p, _ in pages], [9999, 9999, 6003])
        self.assertEqual([m for p, _ in pages for m in p], self.want)

    def test_max_results_edges(self):
        for bad in (0, -1, HISTORY_MAX + 1, 10 ** 12, "abc", "1.5", "", "1e3"):
            r = get("metrics/get-history", run_id=self.rid, metric_key="big", max_results=bad)
            self.assertInvalid(r, "max_results")
        r = get("metrics/get-history", run_id=self.rid, metric_key="big",
                max_results=HISTORY_MAX + 1)
        self.assertInvalid(r, ["25001", "25000"])
        b = self.assertOk(get("metrics/get-history", run_id=self.rid, metric_key="big",
                              max_results=1))
        self.assertEqual(b["metrics"], self.want[:1])
        self.assertIn("next_page_token", b)

    def test_bad_tokens(self):
        import base64
        import json
        b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
        first = self.assertOk(get("metrics/get-history", run_id=self.rid, metric_key="big",
                                  max_results=2))
        good = json.loads(base64.b64decode(first["next_page_token"]))
        for bad in ("x", "!!!!", b64("junk"), b64('{"offset": 3}'), b64("[]"),
                    b64(json.dumps(dict(good, step="one"))),
                    b64(json.dumps(dict(good, timestamp=1.5))),
                    b64(json.dumps(dict(good, value="pi"))),
                    b64(json.dumps(dict(good, value="1e999"))),
                    b64(json.dumps({k: v for k, v in good.items() if k != "step"})),
                    first["next_page_token"] + "AAAA"):
            r = get("metrics/get-history", run_id=self.rid, metric_key="big", page_token=bad)
            self.assertInvalid(r, "Invalid page token")


class TestGetHistoryPageEdges(mtapi.ApiTestCase):
    def test_ties_and_special_values_each_once_in_order(self):
        rid = new_run()
        pts = [metric("t", v, s, ts) for s in (0, 1, 2 ** 40) for ts in (5, 6)
               for v in (-1.5, 0.0, 2.0, "NaN", "Infinity", "-Infinity", 1e300)]
        mtapi.log_batch(rid, metrics=pts)
        want = history_pages(rid, "t")[0][0]
        self.assertEqual(len(want), len(pts))
        for size in (1, 2, 3, 7, 41, 42, 43):
            pages = history_pages(rid, "t", max_results=size)
            got = [m for p, _ in pages for m in p]
            self.assertEqual(got, want, size)
            # A last page that is full ends the answer: no empty page after it.
            self.assertEqual(len(pages), -(-len(pts) // size), size)
            self.assertTrue(all(len(p) == size for p, _ in pages[:-1]))

    def test_points_logged_while_paging(self):
        rid = new_run()
        mtapi.log_batch(rid, metrics=[metric("a", float(i), i, 100) for i in range(10)])
        b = self.assertOk(get("metrics/get-history", run_id=rid, metric_key="a", max_results=4))
        self.assertEqual([m["step"] for m in b["metrics"]], [0, 1, 2, 3])
        # Before the cursor, at it (a later timestamp at step 3) and after it.
        mtapi.log_batch(rid, metrics=[metric("a", 0.5, 1, 100), metric("a", 7.0, 3, 101),
                                      metric("a", 9.0, 20, 100)])
        rest, token = [], b["next_page_token"]
        while token:
            r = self.assertOk(get("metrics/get-history", run_id=rid, metric_key="a",
                                  max_results=4, page_token=token))
            rest += r.get("metrics", [])
            token = r.get("next_page_token")
        self.assertEqual([(m["step"], m["timestamp"]) for m in rest],
                         [(3, 101)] + [(s, 100) for s in range(4, 10)] + [(20, 100)])

    def test_unknown_run_or_key_with_a_token(self):
        rid = new_run()
        mtapi.log_batch(rid, metrics=[metric("a", 1.0, i, 1) for i in range(3)])
        tok = self.assertOk(get("metrics/get-history", run_id=rid, metric_key="a",
                                max_results=1))["next_page_token"]
        self.assertEqual(self.assertOk(get("metrics/get-history", run_id=UNKNOWN_RUN,
                                           metric_key="a", page_token=tok)), {})
        self.assertEqual(self.assertOk(get("metrics/get-history", run_id=rid,
                                           metric_key="b", page_token=tok)), {})

class TestBulkInterval(mtapi.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = new_run()
        cls.b = new_run()
        cls.a_pts = [metric("loss", float(100 - i), i, 10000 + i) for i in range(100)]
        cls.a_pts.append(metric("loss", 0.5, 0, 20000))  # a second point at step 0
        cls.b_pts = [metric("loss", float(i), i, 30000 + i) for i in range(10, 60)]
        mtapi.log_batch(cls.a, metrics=cls.a_pts)
        mtapi.log_batch(cls.b, metrics=cls.b_pts)

    def bulk(self, **q):
        q.setdefault("run_ids", [self.a, self.b])
        q.setdefault("metric_key", "loss")
        return get("metrics/get-history-bulk-interval", **q)

    def split(self, body):
        """{run_id: [points without run_id]}; checks shape and per-run order."""
        out = {}
        for p in body.get("metrics", []):
            self.assertEqual(set(p), {"key", "value", "timestamp", "step", "run_id"})
            self.assertEqual(p["key"], "loss")
            self.assertInt(p["step"])
            self.assertInt(p["timestamp"])
            q = dict(p)
            out.setdefault(q.pop("run_id"), []).append(q)
        for rid, pts in out.items():
            self.assertIn(rid, (self.a, self.b))
            self.assertEqual(pts, sorted(pts, key=mtapi._metric_sort_key), "not step-ordered")
        return out

    def test_everything_when_under_max(self):
        got = self.split(self.assertOk(self.bulk()))
        self.assertEqual(got[self.a], sorted(self.a_pts, key=mtapi._metric_sort_key))
        self.assertEqual(got[self.b], sorted(self.b_pts, key=mtapi._metric_sort_key))

    def test_sampled_keeps_min_and_max_steps(self):
        got = self.split(self.assertOk(self.bulk(max_results=10)))
        a_steps = {p["step"] for p in got[self.a]}
        b_steps = {p["step"] for p in got[self.b]}
        self.assertTrue({0, 99} <= a_steps, a_steps)
        self.assertTrue({10, 59} <= b_steps, b_steps)
        self.assertLessEqual(len(a_steps | b_steps), 10 + 4)
        self.assertLess(len(got[self.a]), len(self.a_pts))
        # Every point at a sampled step is returned (both step-0 points of run a).
        for rid, pts in ((self.a, self.a_pts), (self.b, self.b_pts)):
            steps = {p["step"] for p in got[rid]}
            want = sorted([p for p in pts if p["step"] in steps], key=mtapi._metric_sort_key)
            self.assertEqual(got[rid], want)

    def test_step_window(self):
        got = self.split(self.assertOk(self.bulk(start_step=20, end_step=30)))
        self.assertEqual(got[self.a], [p for p in self.a_pts if 20 <= p["step"] <= 30])
        self.assertEqual(got[self.b], [p for p in self.b_pts if 20 <= p["step"] <= 30])

    def test_single_run_and_unknown_key(self):
        got = self.split(self.assertOk(self.bulk(run_ids=[self.b], max_results=2500)))
        self.assertEqual(list(got), [self.b])
        self.assertEqual(self.assertOk(self.bulk(metric_key="nope")), {})

    def test_errors(self):
        cases = [
            dict(run_ids=[]),
            dict(run_ids=["%032x" % i for i in range(101)]),
            dict(metric_key=None),
            dict(start_step=5),
            dict(end_step=5),
            dict(start_step=10, end_step=5),
            dict(max_results=0),
            dict(max_results=2501),
        ]
        for q in cases:
            with self.subTest(query=q):
                self.assertInvalid(self.bulk(**q))


class TestSampledHistory(mtapi.ApiTestCase):
    """GET /api/2.0/mltrack/metrics/get-history-sampled (mltrack extension)."""

    N = 1000
    DIP, SPIKE = 211, 537

    @classmethod
    def setUpClass(cls):
        cls.rid = new_run()
        pts = []
        for i in range(cls.N):
            v = (i % 50) / 50.0
            if i == cls.SPIKE:
                v = 1000.0
            elif i == cls.DIP:
                v = -1000.0
            pts.append(metric("curve", v, i, 50000 + i))
        cls.pts = pts
        mtapi.log_batch(cls.rid, metrics=pts)

    def sampled(self, max_points, run_id=None, key="curve"):
        return mt_get("metrics/get-history-sampled", run_id=run_id or self.rid,
                      metric_key=key, max_points=max_points)

    def check_subset(self, got):
        steps = [p["step"] for p in got]
        self.assertEqual(steps, sorted(steps), "not sorted by step")
        for p in got:
            self.assertEqual(p, self.pts[p["step"]])
        self.assertEqual(len({p["step"] for p in got}), len(got), "duplicate points")

    def test_downsampled_keeps_extremes(self):
        for n in (40, 100, 400):
            with self.subTest(max_points=n):
                body = self.assertOk(self.sampled(n))
                got = body["metrics"]
                self.assertLessEqual(len(got), n)
                self.check_subset(got)
                steps = {p["step"] for p in got}
                self.assertTrue({0, self.N - 1, self.DIP, self.SPIKE} <= steps, sorted(steps))
                # About n/4 buckets each keep their first and last point: no gap
                # can be wider than a few bucket widths.
                ordered = sorted(steps)
                gap = max(b - a for a, b in zip(ordered, ordered[1:]))
                self.assertLessEqual(gap, 8 * self.N // n + 1, ordered)

    def test_four_points_is_first_last_min_max(self):
        got = self.assertOk(self.sampled(4))["metrics"]
        self.check_subset(got)
        self.assertEqual([p["step"] for p in got], [0, self.DIP, self.SPIKE, self.N - 1])

    def test_all_points_when_enough(self):
        for n in (self.N, 10000):
            with self.subTest(max_points=n):
                got = self.assertOk(self.sampled(n))["metrics"]
                self.assertEqual(got, self.pts)

    def test_bad_max_points(self):
        for n in (0, -1, 10001, "many"):
            with self.subTest(max_points=n):
                self.assertInvalid(self.sampled(n))

    def test_unknown_run_and_missing_key(self):
        self.assertNotFound(self.sampled(10, run_id=UNKNOWN_RUN))
        r = mt_get("metrics/get-history-sampled", run_id=self.rid, max_points=10)
        self.assertInvalid(r)

    def test_unknown_key_has_no_points(self):
        body = self.assertOk(self.sampled(10, key="nope"))
        self.assertEqual(body.get("metrics", []), [])

    def test_int64_steps_nan_and_ties(self):
        """Steps at both ends of int64 (bucket width 2^64 / buckets), a NaN
        (above every number), ties (the earliest wins) and two values at one
        (step, timestamp) (answered with the smaller)."""
        rid = new_run()
        lo, hi = -2 ** 63, 2 ** 63 - 1
        pts = [(lo + i, i, float(i % 5)) for i in range(20)] + \
              [(hi - 19 + i, i, float(i % 5)) for i in range(20)]
        pts[7] = (lo + 7, 7, -1e300)       # the low half's minimum
        pts[30] = (hi - 9, 10, "NaN")      # the high half's maximum
        for s, t, v in pts:
            mtapi.log_metric(rid, "x", v, step=s, timestamp=t)
        mtapi.log_metric(rid, "x", 100.0, step=lo + 3, timestamp=3)  # shares (step, ts) with 3.0
        got = [(p["step"], p["value"]) for p in self.assertOk(self.sampled(4, run_id=rid, key="x"))["metrics"]]
        # one bucket: first, min, max (NaN), last
        self.assertEqual(got, [(lo, 0.0), (lo + 7, -1e300), (hi - 9, "NaN"), (hi, 4.0)])
        got = [(p["step"], p["value"]) for p in self.assertOk(self.sampled(8, run_id=rid, key="x"))["metrics"]]
        # [lo, 0): the max 100.0 sits at lo + 3, answered with its smaller value 3.0;
        # [0, hi]: first (value 0.0 is also the earliest minimum), NaN, last
        self.assertEqual(got, [(lo, 0.0), (lo + 3, 3.0), (lo + 7, -1e300), (lo + 19, 4.0),
                               (hi - 19, 0.0), (hi - 9, "NaN"), (hi, 4.0)])


if __name__ == "__main__":
    unittest.main()


class TestSampledCache(mtapi.ApiTestCase):
    """Samples are cached per series version: any write to the series must
    show on the next read, whatever max_points was cached before."""

    def sampled(self, rid, key, n):
        r = mtapi.mt_get("metrics/get-history-sampled", run_id=rid, metric_key=key, max_points=n)
        self.assertOk(r)
        return r.body.get("metrics", [])

    def test_writes_invalidate_cached_samples(self):
        rid = mtapi.new_run()
        pts = [{"key": "c", "value": float(i % 7), "timestamp": 1000 + i, "step": i}
               for i in range(400)]
        for i in range(0, 400, 100):
            r = mtapi.post("runs/log-batch", {"run_id": rid, "metrics": pts[i:i + 100]})
            self.assertOk(r)
        first = {n: self.sampled(rid, "c", n) for n in (8, 40)}
        for n, got in first.items():
            self.assertLessEqual(len(got), n)
            self.assertEqual(self.sampled(rid, "c", n), got)  # served again, unchanged
        # an out-of-order point (old step) with a new extreme, via log-metric
        r = mtapi.post("runs/log-metric", {"run_id": rid, "key": "c", "value": 1e6,
                                           "timestamp": 5, "step": 150})
        self.assertOk(r)
        for n in (8, 40):
            got = self.sampled(rid, "c", n)
            self.assertIn(1e6, [m["value"] for m in got], "max_points=%d served a stale sample" % n)
        # and a new minimum through log-batch (the COPY path needs 32+ points)
        low = [{"key": "c", "value": -5.0 if i == 0 else 1.0, "timestamp": 9000 + i, "step": 401 + i}
               for i in range(40)]
        self.assertOk(mtapi.post("runs/log-batch", {"run_id": rid, "metrics": low}))
        for n in (8, 40):
            got = self.sampled(rid, "c", n)
            self.assertIn(-5.0, [m["value"] for m in got], "max_points=%d served a stale sample" % n)
            self.assertEqual(got[-1]["step"], 440)

    def test_small_series_cached_whole(self):
        rid = mtapi.new_run()
        mtapi.log_metric(rid, "s", 1.0, step=1, timestamp=10)
        self.assertEqual(len(self.sampled(rid, "s", 100)), 1)
        mtapi.log_metric(rid, "s", 2.0, step=2, timestamp=20)
        self.assertEqual([m["value"] for m in self.sampled(rid, "s", 100)], [1.0, 2.0])


def _pgkey(v):
    """PostgreSQL's float8 order: NaN above every number, -0 == 0."""
    return (1, 0.0) if v != v else (0, v)


def _sample_reference(pts, max_points):
    """The answer of get-history-sampled (lib/mt_sample.h) from every point
    of a series, pts sorted by (step, timestamp, value), no duplicates."""
    if len(pts) <= max_points:
        return list(pts)
    nb = max(max_points // 4, 1)
    lo, width = pts[0][0], pts[-1][0] - pts[0][0] + 1
    chosen, i = set(), 0
    while i < len(pts):
        b = (pts[i][0] - lo) * nb // width
        j = imin = imax = i
        while j < len(pts) and (pts[j][0] - lo) * nb // width == b:
            if _pgkey(pts[j][2]) < _pgkey(pts[imin][2]):
                imin = j
            if _pgkey(pts[j][2]) > _pgkey(pts[imax][2]):
                imax = j
            j += 1
        chosen.update(pts[k][:2] for k in (i, imin, imax, j - 1))
        i = j
    out, seen = [], set()
    for p in pts:
        if p[:2] in chosen and p[:2] not in seen:
            out.append(p)
            seen.add(p[:2])
    return out


def _wire(v):
    """A value as sent (JSON has no NaN or infinities)."""
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def _as_answered(v):
    """A value as answers carry it (infinities clamped, as MLflow does)."""
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return DBL_MAX if v > 0 else -DBL_MAX
    return v


class TestSampledRollup(mtapi.ApiTestCase):
    """get-history-sampled answered from metric_rollup (lib/mt_rollup.h) must
    equal the answer computed from every point, after every write: batches
    of both write paths (COPY from 32 points), log-metric, out-of-order
    steps, replays, points sharing a (step, timestamp), NaN, infinities, -0,
    int64-wide steps; and concurrent writers and readers never see a stale
    answer once a write is acknowledged."""

    MAX_POINTS = (4, 8, 40, 100, 400)
    SPECIAL = (float("nan"), float("inf"), float("-inf"), 0.0, -0.0)

    def sampled(self, rid, key, n):
        r = mtapi.mt_get("metrics/get-history-sampled", run_id=rid, metric_key=key, max_points=n)
        self.assertOk(r)
        return [(p["step"], p["timestamp"], p["value"]) for p in r.body.get("metrics", [])]

    def check(self, rid, key, model, what):
        pts = sorted(model.values(), key=lambda p: (p[0], p[1], _pgkey(p[2])))
        for n in self.MAX_POINTS:
            want = [(s, t, _as_answered(v)) for s, t, v in _sample_reference(pts, n)]
            self.assertEqual(self.sampled(rid, key, n), want, "%s, max_points=%d" % (what, n))

    @staticmethod
    def add(model, pts):
        for s, t, v in pts:
            k = (s, t, "nan" if v != v else v + 0.0)  # -0 and 0 are one point
            model.setdefault(k, (s, t, v))

    def log(self, rid, key, pts):
        if len(pts) == 1:
            s, t, v = pts[0]
            self.assertEmptyOk(mtapi.post("runs/log-metric", {"run_id": rid, "key": key,
                                                              "value": _wire(v), "timestamp": t,
                                                              "step": s}))
            return
        body = {"run_id": rid, "metrics": [{"key": key, "value": _wire(v), "timestamp": t,
                                            "step": s} for s, t, v in pts]}
        self.assertEmptyOk(mtapi.post("runs/log-batch", body))

    def value(self, rng):
        return rng.choice(self.SPECIAL) if rng.random() < 0.1 else float(rng.randrange(-30, 30))

    def test_random_batches_match_the_full_series(self):
        import random
        rng = random.Random(1414)
        rid, model, top, logged = new_run(), {}, 0, []
        for batch in range(14):
            n = rng.choice((1, 5, 31, 32, 200, 700))
            pts = []
            for _ in range(n):
                r = rng.random()
                if r < 0.6 or not logged:      # appended steps
                    top += rng.randrange(1, 4)
                    s = top
                elif r < 0.8:                    # out of order: an old step
                    s = rng.randrange(-50, top + 1)
                elif r < 0.9:                    # a (step, timestamp) again, another value
                    s, t, _ = rng.choice(logged)
                    pts.append((s, t, self.value(rng)))
                    continue
                else:                            # a replay
                    pts.append(rng.choice(logged))
                    continue
                pts.append((s, rng.randrange(3), self.value(rng)))
            self.log(rid, "r", pts)
            self.add(model, pts)
            logged += pts
            self.check(rid, "r", model, "after batch %d" % batch)
        # the rollup served: clean, with blocks of several levels
        out = mtapi.psql("SELECT (SELECT count(*) FROM latest_metrics WHERE run_id = %s "
                         "AND key = 'r' AND dirty_lo IS NULL), (SELECT count(DISTINCT lvl) "
                         "FROM metric_rollup WHERE run_id = %s AND key = 'r')"
                         % (mtapi.sql_str(rid), mtapi.sql_str(rid)))
        clean, levels = out.strip().split("|")
        self.assertEqual(clean, "1")
        self.assertGreater(int(levels), 3)

    def test_int64_wide_steps(self):
        import random
        rng = random.Random(77)
        rid, model = new_run(), {}
        for batch in range(6):
            pts = []
            for _ in range(rng.choice((3, 40, 300))):
                r = rng.random()
                if r < 0.2:
                    s = rng.choice((-2 ** 63, 2 ** 63 - 1)) + rng.randrange(-2, 3)
                    s = max(-2 ** 63, min(2 ** 63 - 1, s))
                elif r < 0.6:
                    s = rng.randrange(-2 ** 63, 2 ** 63)
                else:
                    s = rng.randrange(-5000, 5000)
                pts.append((s, rng.randrange(2), self.value(rng)))
            self.log(rid, "w", pts)
            self.add(model, pts)
            self.check(rid, "w", model, "after batch %d" % batch)

    def test_bulk_loaded_series_is_built_on_first_read(self):
        """Points loaded by SQL, with a latest_metrics row that does not name
        the dirty range (its default: all of int64), are answered exactly
        (the first read builds the whole rollup, in several pages of points)."""
        rid = new_run()
        mtapi.psql("INSERT INTO metrics (run_id, key, step, timestamp, value, experiment_id) "
                   "SELECT run_id, 'b', i / 3, i %% 3, (i * 7919 %% 1000) / 10.0, experiment_id "
                   "FROM runs, generate_series(0, 44999) i WHERE run_id = %s" % mtapi.sql_str(rid))
        mtapi.psql("INSERT INTO latest_metrics (run_id, key, step, timestamp, value, "
                   "experiment_id, start_time) SELECT run_id, 'b', 14999, 2, 0, experiment_id, "
                   "start_time FROM runs WHERE run_id = %s" % mtapi.sql_str(rid))
        model = {}
        self.add(model, [(i // 3, i % 3, (i * 7919 % 1000) / 10.0) for i in range(45000)])
        self.check(rid, "b", model, "first read")
        self.add(model, [(1000, 5, -1.0), (12500, 0, 500.0)])
        self.log(rid, "b", [(1000, 5, -1.0), (12500, 0, 500.0)])
        self.check(rid, "b", model, "after a write")

    def test_concurrent_writers_and_readers(self):
        import random
        import threading
        rid, failures, lock = new_run(), [], threading.Lock()
        state = {"low": 0.0, "step": 0}
        stop = threading.Event()

        def writer(seed):
            rng = random.Random(seed)
            try:
                for _ in range(12):
                    with lock:
                        state["low"] -= 1.0
                        low = state["low"]
                        state["step"] += 40
                        base = state["step"]
                    pts = [(base + i if rng.random() < 0.8 else rng.randrange(0, base + 1),
                            rng.randrange(2), float(rng.randrange(0, 100))) for i in range(40)]
                    pts[rng.randrange(40)] = (rng.randrange(0, base + 40), 7, low)
                    self.log(rid, "c", pts)
                    # acknowledged: the next read must see the new minimum
                    got = self.sampled(rid, "c", 4)
                    if min(v for _, _, v in got) > low:
                        failures.append("min %r after logging %r" % (got, low))
            except Exception as e:  # noqa: BLE001 (reported below)
                failures.append(repr(e))

        def reader(seed):
            rng = random.Random(seed)
            while not stop.is_set():
                try:
                    self.sampled(rid, "c", rng.choice(self.MAX_POINTS))
                except Exception as e:  # noqa: BLE001
                    failures.append(repr(e))
                    return

        writers = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
        readers = [threading.Thread(target=reader, args=(10 + i,)) for i in range(2)]
        for t in writers + readers:
            t.start()
        for t in writers:
            t.join()
        stop.set()
        for t in readers:
            t.join()
        self.assertEqual(failures, [])
        model = {}
        self.add(model, [(p["step"], p["timestamp"], p["value"]) for p in history(rid, "c")])
        self.check(rid, "c", model, "after the writers")
