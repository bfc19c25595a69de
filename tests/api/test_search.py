"""runs/search: filters, ordering, view types and pagination
(MLFLOW-API.md sections 3, 7, 8, 13)."""

import unittest

import mtapi
from mtapi import call, new_experiment, new_run, now_ms, post

setUpModule = mtapi.wait_ready


def ids(body):
    return [r["info"]["run_id"] for r in body.get("runs", [])]


_FIXTURE = {}


def _build_fixture():
    eid = new_experiment()
    T = now_ms() - 100000
    spec = [
        ("alpha", "alice", T + 10, "FINISHED",
         {"acc": 0.9, "val loss": 0.3}, {"lr": "0.01", "model": "ResNet50", "my-param": "x"},
         {"team": "red", "my tag": "v1"}),
        ("beta", "bob", T + 20, "RUNNING",
         {"acc": 0.5, "val loss": 0.6}, {"lr": "0.1", "model": "resnet18"}, {"team": "blue"}),
        ("gamma", "alice", T + 30, "FINISHED",
         {}, {"lr": "0.01", "model": "vgg"}, {"team": "red", "my tag": "v2"}),
        ("delta", "bob", T + 30, "KILLED", {"acc": 0.2}, {}, {}),
        ("eps", "carol", T + 40, "FINISHED", {"acc": 0.7}, {"lr": "0.01"}, {"team": "red"}),
    ]
    runs = []
    for name, user, start, status, metrics, params, tags in spec:
        rid = new_run(eid, run_name=name, user_id=user, start_time=start)
        mtapi.log_batch(rid,
                        metrics=[{"key": k, "value": v, "timestamp": start, "step": 0}
                                 for k, v in metrics.items()],
                        params=[{"key": k, "value": v} for k, v in params.items()],
                        tags=[{"key": k, "value": v} for k, v in tags.items()])
        if status != "RUNNING":
            r = post("runs/update", {"run_id": rid, "status": status, "end_time": start + 5})
            if r.status != 200:
                raise mtapi.ApiError("runs/update: %r" % (r.body,))
        runs.append(rid)
    r = post("runs/delete", {"run_id": runs[4]})
    if r.status != 200:
        raise mtapi.ApiError("runs/delete: %r" % (r.body,))
    r1, r2, r3, r4, r5 = runs
    # r3 and r4 share a start time: run_id ASC breaks the tie.
    return dict(eid=eid, T=T, r=runs, r1=r1, r2=r2, r3=r3, r4=r4, r5=r5,
                r34=sorted([r3, r4]))


class SearchFixture(mtapi.ApiTestCase):
    """Five runs in one experiment (r5 deleted); read-only for the tests.

    run  start  status    name   user   acc  val loss  lr    model     my-param team  my tag
    r1   T+10   FINISHED  alpha  alice  0.9  0.3       0.01  ResNet50  x        red   v1
    r2   T+20   RUNNING   beta   bob    0.5  0.6       0.1   resnet18           blue
    r3   T+30   FINISHED  gamma  alice                 0.01  vgg                red   v2
    r4   T+30   KILLED    delta  bob    0.2
    r5   T+40   (deleted)               0.7            0.01                     red
    """

    @classmethod
    def setUpClass(cls):
        # Built once per module and shared read-only by the subclasses.
        if not _FIXTURE:
            _FIXTURE.update(_build_fixture())
        for k, v in _FIXTURE.items():
            setattr(cls, k, v)

    def search(self, **body):
        body.setdefault("experiment_ids", [self.eid])
        return self.assertOk(post("runs/search", body))

    def found(self, flt, **body):
        return set(ids(self.search(filter=flt, **body)))

    def ordered(self, *order_by):
        return ids(self.search(order_by=list(order_by)))


class TestSearchShape(SearchFixture):
    def test_default_order_and_shape(self):
        b = self.search()
        self.assertEqual(ids(b), self.r34 + [self.r2, self.r1])
        self.assertNotIn("next_page_token", b)
        run1 = [x for x in b["runs"] if x["info"]["run_id"] == self.r1][0]
        # MLflow 3's servers add outputs (the run's logged models), empty here.
        self.assertEqual(set(run1), {"info", "data", "inputs", "outputs"})
        self.assertEqual(run1["inputs"], {})
        self.assertEqual(run1["outputs"], {})
        info = run1["info"]
        self.assertEqual(info["run_uuid"], self.r1)
        self.assertEqual(info["experiment_id"], self.eid)
        self.assertEqual(info["run_name"], "alpha")
        self.assertEqual(info["user_id"], "alice")
        self.assertEqual(info["status"], "FINISHED")
        self.assertEqual(info["start_time"], self.T + 10)
        self.assertEqual(info["end_time"], self.T + 15)
        self.assertEqual(info["lifecycle_stage"], "active")
        self.assertEqual(mtapi.norm(run1), mtapi.get_run(self.r1))
        run2 = [x for x in b["runs"] if x["info"]["run_id"] == self.r2][0]
        self.assertNotIn("end_time", run2["info"])

    def test_same_as_runs_get(self):
        for x in self.search()["runs"]:
            self.assertEqual(mtapi.norm(x), mtapi.get_run(x["info"]["run_id"]))

    def test_view_types(self):
        self.assertEqual(ids(self.search(run_view_type="DELETED_ONLY")), [self.r5])
        self.assertEqual(set(ids(self.search(run_view_type="ALL"))), set(self.r))
        self.assertEqual(set(ids(self.search(run_view_type="ACTIVE_ONLY"))), set(self.r[:4]))

    def test_empty_results(self):
        empty = new_experiment()
        self.assertEqual(self.search(experiment_ids=[empty]), {})
        self.assertEqual(self.search(filter="metrics.nope > 0"), {})
        self.assertEqual(self.assertOk(post("runs/search", {"filter": ""})), {})

    def test_several_experiments(self):
        other = new_experiment()
        o1 = new_run(other, start_time=self.T + 35)
        b = self.search(experiment_ids=[self.eid, other])
        self.assertEqual(ids(b), [o1] + self.r34 + [self.r2, self.r1])

    def test_max_results(self):
        b = self.search(max_results=2)
        self.assertEqual(ids(b), self.r34)
        self.assertIn("next_page_token", b)
        self.assertEqual(len(ids(self.search(max_results=50000))), 4)
        r = post("runs/search", {"experiment_ids": [self.eid], "max_results": 50001})
        self.assertInvalid(r)

    def test_get_is_not_allowed(self):
        r = call("GET", mtapi.API + "runs/search", query={"experiment_ids": self.eid})
        self.assertEqual(r.status, 405)


class TestSearchFilters(SearchFixture):
    def test_metric_filters(self):
        cases = {
            "metrics.acc > 0.6": {self.r1},
            "metrics.acc >= 0.5": {self.r1, self.r2},
            "metrics.acc = 0.5": {self.r2},
            "metric.acc <= 0.5": {self.r2, self.r4},
            "metrics.acc < 1": {self.r1, self.r2, self.r4},
            # A run without the key never matches, not even for !=.
            "metrics.acc != 0.9": {self.r2, self.r4},
            "metrics.`val loss` < 0.5": {self.r1},
            'metrics."val loss" >= 0.3': {self.r1, self.r2},
            "`metrics`.`acc` > 0.8": {self.r1},
            "metrics.acc >= 0.2": {self.r1, self.r2, self.r4},
        }
        for flt, want in cases.items():
            with self.subTest(filter=flt):
                self.assertEqual(self.found(flt), want)

    def test_param_filters(self):
        cases = {
            "params.lr = '0.01'": {self.r1, self.r3},
            "params.lr != '0.01'": {self.r2},
            'param.lr = "0.1"': {self.r2},
            "parameters.lr = '0.1'": {self.r2},
            "params.\"my-param\" = 'x'": {self.r1},
            "params.`my-param` != 'y'": {self.r1},
            "params.model LIKE 'res%'": {self.r2},
            "params.model ILIKE 'res%'": {self.r1, self.r2},
            "params.model LIKE '%Net%'": {self.r1},
            "params.model LIKE 'vg_'": {self.r3},
            "params.model LIKE 'VGG'": set(),
            "params.model ILIKE 'VGG'": {self.r3},
        }
        for flt, want in cases.items():
            with self.subTest(filter=flt):
                self.assertEqual(self.found(flt), want)

    def test_tag_filters(self):
        cases = {
            "tags.team = 'red'": {self.r1, self.r3},
            "tags.team != 'red'": {self.r2},
            "tag.team ILIKE 'RED'": {self.r1, self.r3},
            "tags.`my tag` = 'v2'": {self.r3},
            "tags.`my tag` LIKE 'v%'": {self.r1, self.r3},
            "tags.\"my tag\" != 'v1'": {self.r3},
            "tags.`mlflow.runName` = 'beta'": {self.r2},
        }
        for flt, want in cases.items():
            with self.subTest(filter=flt):
                self.assertEqual(self.found(flt), want)

    def test_attribute_filters(self):
        T = self.T
        cases = {
            "attributes.status = 'FINISHED'": {self.r1, self.r3},
            "status != 'FINISHED'": {self.r2, self.r4},
            "attribute.run_name = 'gamma'": {self.r3},
            "run_name LIKE 'g%'": {self.r3},
            "attributes.run_name ILIKE 'ALPHA'": {self.r1},
            "attributes.user_id = 'bob'": {self.r2, self.r4},
            "attributes.start_time >= %d" % (T + 30): {self.r3, self.r4},
            "attributes.start_time < %d" % (T + 20): {self.r1},
            "attributes.end_time > %d" % (T + 20): {self.r3, self.r4},
            "attributes.artifact_uri LIKE '%%%s%%'" % self.r1: {self.r1},
            "attributes.run_id = '%s'" % self.r2: {self.r2},
            "run_id = '%s'" % self.r2: {self.r2},
            "attributes.run_id IN ('%s', '%s')" % (self.r1, self.r3): {self.r1, self.r3},
            "attributes.run_id IN ('%s','%s')" % (self.r4, self.r5): {self.r4},
            "attributes.run_id NOT IN ('%s')" % self.r1: {self.r2, self.r3, self.r4},
            # a fractional number compares as a number, not truncated to 0
            "attributes.start_time > %d.5" % (T + 29): {self.r3, self.r4},
            "attributes.start_time < 0.5": set(),
        }
        for flt, want in cases.items():
            with self.subTest(filter=flt):
                self.assertEqual(self.found(flt), want)

    def test_conjunctions(self):
        cases = {
            "metrics.acc > 0.1 AND params.lr = '0.01' AND tags.team = 'red'": {self.r1},
            "attributes.status = 'FINISHED' and params.lr = '0.01'": {self.r1, self.r3},
            "params.lr = '0.01' AND metrics.acc < 0.5": set(),
            "tags.team = 'red' And attributes.run_name != 'alpha'": {self.r3},
        }
        for flt, want in cases.items():
            with self.subTest(filter=flt):
                self.assertEqual(self.found(flt), want)

    def test_filter_with_view_type(self):
        self.assertEqual(self.found("params.lr = '0.01'", run_view_type="ALL"),
                         {self.r1, self.r3, self.r5})
        self.assertEqual(self.found("metrics.acc > 0.6", run_view_type="DELETED_ONLY"), {self.r5})

    def test_bad_filters(self):
        bad = [
            "metrics.acc > 0.5 OR",
            "(metrics.acc > 0.5",
            "metrics.acc > 0.5)",
            "params.lr = 0.01",
            "tags.team = red",
            "metrics.acc > 'high'",
            "attributes.status IN ('FINISHED')",
            "bogus.key = 'x'",
            "metrics.acc >",
            "()",
            "params.lr > '0.01'",
            "attributes.start_time = 'yesterday'",
            "metrics.acc ~ 1",
            "metrics.acc NOT > 1",
            "tags.team NOT LIKE 'r%'",
        ]
        for flt in bad:
            with self.subTest(filter=flt):
                r = post("runs/search", {"experiment_ids": [self.eid], "filter": flt})
                self.assertInvalid(r)
        r = post("runs/search", {"experiment_ids": [self.eid],
                                 "filter": "metrics.acc > 0.5 OR OR metrics.acc < 0.1"})
        self.assertInvalid(r, "Invalid clause")
        r = post("runs/search", {"experiment_ids": [self.eid],
                                 "filter": "attributes.status IN ('FINISHED')"})
        self.assertInvalid(r, "Only the 'run_id' attribute supports comparison with a list")


class TestSearchBoolean(SearchFixture):
    """OR, NOT and parentheses: mltrack's extension of MLflow's grammar
    (docs/api.md, "Boolean filters")."""

    def test_issue_query(self):
        flt = "(metrics.acc > 0.8 OR params.model = 'vgg') AND NOT tags.team = 'blue'"
        self.assertEqual(self.found(flt), {self.r1, self.r3})
        self.assertEqual(self.found(flt, run_view_type="ALL"), {self.r1, self.r3})
        self.assertEqual(self.found("metrics.acc > 0.6 OR params.lr = '0.01'",
                                    run_view_type="ALL"), {self.r1, self.r3, self.r5})

    def test_precedence_and_case(self):
        cases = {
            # NOT > AND > OR
            "metrics.acc > 0.8 OR params.lr = '0.1' AND tags.team = 'red'": {self.r1},
            "(metrics.acc > 0.8 OR params.lr = '0.1') AND tags.team = 'blue'": {self.r2},
            "NOT params.lr = '0.01' AND metrics.acc > 0.1": {self.r2, self.r4},
            "NOT (params.lr = '0.01' AND metrics.acc > 0.1)": {self.r2, self.r3, self.r4},
            "not(params.lr='0.01')or(tags.team='red')": {self.r1, self.r2, self.r3, self.r4},
            "NOT NOT tags.team = 'red'": {self.r1, self.r3},
            "((((tags.team = 'red'))))": {self.r1, self.r3},
            "attributes.status = 'FINISHED' Or attributes.run_name = 'delta'":
                {self.r1, self.r3, self.r4},
        }
        for flt, want in cases.items():
            with self.subTest(filter=flt):
                self.assertEqual(self.found(flt), want)

    def test_not_on_a_missing_key(self):
        """NOT is the complement of its comparison: a run without the key
        does not satisfy `metrics.acc > 0.8`, so it matches its NOT.  `!=`
        keeps MLflow's meaning (the run must have the key)."""
        everyone = {self.r1, self.r2, self.r3, self.r4}
        cases = {
            "NOT metrics.acc > 0.8": {self.r2, self.r3, self.r4},      # r3 has no acc
            "metrics.acc <= 0.8": {self.r2, self.r4},
            "NOT metrics.acc = 0.9": {self.r2, self.r3, self.r4},
            "metrics.acc != 0.9": {self.r2, self.r4},
            "NOT metrics.acc != 0.9": {self.r1, self.r3},
            "NOT params.model LIKE '%'": {self.r4},
            "NOT tags.`my tag` = 'v1'": {self.r2, self.r3, self.r4},
            "tags.`my tag` != 'v1' OR NOT tags.`my tag` LIKE '%'": {self.r2, self.r3, self.r4},
            # an attribute that is NULL (r2 has no end_time) fails its comparison
            "NOT attributes.end_time > 0": {self.r2},
            "metrics.acc > 0.8 OR NOT metrics.acc > 0.8": everyone,
            "metrics.acc > 0.8 AND NOT metrics.acc > 0.8": set(),
        }
        for flt, want in cases.items():
            with self.subTest(filter=flt):
                self.assertEqual(self.found(flt), want)

    def test_mlflow_forms_unchanged(self):
        """A filter without OR or NOT gives what the flat grammar gives."""
        for flt in ("metrics.acc > 0.1 AND params.lr = '0.01'", "tags.team = 'red'",
                    "attributes.run_id NOT IN ('%s')" % self.r1):
            with self.subTest(filter=flt):
                self.assertEqual(self.found("(%s)" % flt), self.found(flt))

    def test_order_and_pages(self):
        flt = "metrics.acc > 0.4 OR NOT params.lr = '0.01'"
        self.assertEqual(self.ordered_found(flt, ["metrics.acc DESC"]),
                         [self.r1, self.r2, self.r4])
        got, token = [], None
        for _ in range(5):
            body = {"filter": flt, "max_results": 1, "order_by": ["metrics.acc ASC"]}
            if token:
                body["page_token"] = token
            b = self.search(**body)
            got += ids(b)
            token = b.get("next_page_token")
            if not token:
                break
        self.assertEqual(got, [self.r4, self.r2, self.r1])

    def ordered_found(self, flt, order_by):
        return ids(self.search(filter=flt, order_by=order_by))

    def test_limits(self):
        deep = "(" * 32 + "tags.team = 'red'" + ")" * 32
        self.assertEqual(self.found(deep), {self.r1, self.r3})
        r = post("runs/search", {"experiment_ids": [self.eid], "filter": "(" + deep + ")"})
        self.assertInvalid(r, "more than 32 levels deep")
        r = post("runs/search", {"experiment_ids": [self.eid],
                                 "filter": " OR ".join(["tags.team = 'red'"] * 51)})
        self.assertInvalid(r, "more than 50 clauses")

    def test_values_are_bound(self):
        """Quotes, parentheses and keywords inside values are values."""
        for flt in ("tags.team = 'x'' OR 1=1 --' OR tags.team = 'blue'",
                    "tags.team = ') OR (true' OR tags.team = 'blue'",
                    "NOT tags.`team') OR ('1` = 'x' AND tags.team = 'blue'"):
            with self.subTest(filter=flt):
                self.assertEqual(self.found(flt), {self.r2})

    def test_other_searches_keep_mlflow_grammar(self):
        r = post("experiments/search", {"max_results": 10,
                                        "filter": "name = 'a' OR name = 'b'"})
        self.assertInvalid(r, "Invalid clause(s) in filter string: 'OR'")


class TestSearchOrder(SearchFixture):
    def test_metric_order_missing_last(self):
        self.assertEqual(self.ordered("metrics.acc ASC"), [self.r4, self.r2, self.r1, self.r3])
        self.assertEqual(self.ordered("metrics.acc"), [self.r4, self.r2, self.r1, self.r3])
        self.assertEqual(self.ordered("metrics.acc DESC"), [self.r1, self.r2, self.r4, self.r3])
        self.assertEqual(self.ordered("metrics.`val loss` desc"),
                         [self.r2, self.r1] + self.r34)

    def test_param_and_tag_order_missing_last(self):
        # Ties fall back to start_time DESC, then run_id ASC.
        self.assertEqual(self.ordered("params.lr ASC"), [self.r3, self.r1, self.r2, self.r4])
        self.assertEqual(self.ordered("params.lr DESC"), [self.r2, self.r3, self.r1, self.r4])
        self.assertEqual(self.ordered("tags.team ASC"), [self.r2, self.r3, self.r1, self.r4])
        self.assertEqual(self.ordered("tags.team DESC"), [self.r3, self.r1, self.r2, self.r4])

    def test_attribute_order(self):
        self.assertEqual(self.ordered("attributes.start_time ASC"),
                         [self.r1, self.r2] + self.r34)
        self.assertEqual(self.ordered("start_time DESC"), self.r34 + [self.r2, self.r1])
        self.assertEqual(self.ordered("attributes.run_name ASC"),
                         [self.r1, self.r2, self.r4, self.r3])
        self.assertEqual(self.ordered("attributes.run_name DESC"),
                         [self.r3, self.r4, self.r2, self.r1])

    def test_two_keys(self):
        self.assertEqual(self.ordered("params.lr ASC", "metrics.acc DESC"),
                         [self.r1, self.r3, self.r2, self.r4])

    def test_bad_order_by(self):
        for ob in (["metrics.acc SIDEWAYS"], ["bogus.acc"], ["metrics.acc ASC", "metrics.acc DESC"],
                   ["metrics.acc ASC DESC"]):
            with self.subTest(order_by=ob):
                r = post("runs/search", {"experiment_ids": [self.eid], "order_by": ob})
                self.assertInvalid(r)


class TestNanOrder(mtapi.ApiTestCase):
    def test_nan_after_numbers_before_missing(self):
        eid = new_experiment()
        T = now_ms()
        x1 = new_run(eid, start_time=T)
        x2 = new_run(eid, start_time=T)
        y = new_run(eid, start_time=T)
        z = new_run(eid, start_time=T)
        mtapi.log_metric(x1, "acc", 1.0, timestamp=T)
        mtapi.log_metric(x2, "acc", 2.0, timestamp=T)
        mtapi.log_metric(y, "acc", "NaN", timestamp=T)
        asc = ids(self.assertOk(post("runs/search", {"experiment_ids": [eid],
                                                     "order_by": ["metrics.acc ASC"]})))
        desc = ids(self.assertOk(post("runs/search", {"experiment_ids": [eid],
                                                      "order_by": ["metrics.acc DESC"]})))
        self.assertEqual(asc, [x1, x2, y, z])
        self.assertEqual(desc, [x2, x1, y, z])


class TestPagination(mtapi.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.eid = new_experiment()
        T = now_ms() - 100000
        cls.runs = []
        for i in range(25):
            rid = new_run(cls.eid, start_time=T + i)
            cls.runs.append(rid)
        # A metric with many ties, to page through an order that needs tiebreakers.
        for i, rid in enumerate(cls.runs):
            mtapi.log_metric(rid, "m", float(i % 4), timestamp=T)

    def pages(self, page_size, **body):
        body.setdefault("experiment_ids", [self.eid])
        out, token, sizes = [], None, []
        for _ in range(50):
            req = dict(body, max_results=page_size)
            if token is not None:
                req["page_token"] = token
            b = self.assertOk(post("runs/search", req))
            got = ids(b)
            sizes.append(len(got))
            out += got
            token = b.get("next_page_token")
            if not token:
                return out, sizes
            self.assertIsInstance(token, str)
        self.fail("pagination does not end")

    def test_default_order_pages(self):
        out, sizes = self.pages(10)
        self.assertEqual(out, list(reversed(self.runs)))
        self.assertEqual(sizes, [10, 10, 5])

    def test_ordered_pages_match_one_page(self):
        whole = ids(self.assertOk(post("runs/search", {"experiment_ids": [self.eid],
                                                       "order_by": ["metrics.m DESC"]})))
        self.assertEqual(len(whole), 25)
        self.assertEqual(len(set(whole)), 25)
        for size in (1, 7, 10):
            with self.subTest(page_size=size):
                out, _ = self.pages(size, order_by=["metrics.m DESC"])
                self.assertEqual(out, whole)

    def test_filtered_pages(self):
        out, _ = self.pages(3, filter="metrics.m = 1")
        want = [rid for i, rid in enumerate(self.runs) if i % 4 == 1]
        self.assertEqual(out, list(reversed(want)))

    def test_bad_page_token(self):
        for tok in ("!!!not base64!!!", "bm90IGpzb24=", "eyJmb28iOiAxfQ=="):
            with self.subTest(token=tok):
                r = post("runs/search", {"experiment_ids": [self.eid], "page_token": tok})
                self.assertInvalid(r, "Invalid page token")


if __name__ == "__main__":
    unittest.main()


class TestDatasetFilters(mtapi.ApiTestCase):
    """datasets.name / digest / context, with values and with IN lists."""

    @classmethod
    def setUpClass(cls):
        cls.eid = mtapi.new_experiment()
        cls.ra = mtapi.new_run(experiment_id=cls.eid)
        cls.rb = mtapi.new_run(experiment_id=cls.eid)
        cls.rc = mtapi.new_run(experiment_id=cls.eid)
        for rid, name, digest, ctx in ((cls.ra, "mnist", "d1", "train"),
                                       (cls.rb, "cifar", "d2", "eval")):
            ds = {"dataset": {"name": name, "digest": digest, "source_type": "local",
                              "source": "/data/" + name},
                  "tags": [{"key": "mlflow.data.context", "value": ctx}]}
            r = mtapi.post("runs/log-inputs", {"run_id": rid, "datasets": [ds]})
            assert r.status == 200, r.body

    def found(self, flt):
        r = mtapi.post("runs/search", {"experiment_ids": [self.eid], "filter": flt})
        self.assertOk(r)
        return {run["info"]["run_id"] for run in r.body.get("runs", [])}

    def test_dataset_filters(self):
        cases = {
            "datasets.name = 'mnist'": {self.ra},
            "datasets.digest IN ('d1', 'd2')": {self.ra, self.rb},
            "datasets.digest IN ('d2')": {self.rb},
            "datasets.digest NOT IN ('d1')": {self.rb},
            "datasets.context = 'eval'": {self.rb},
            "datasets.name LIKE '%i%'": {self.ra, self.rb},
        }
        for flt, want in cases.items():
            with self.subTest(filter=flt):
                self.assertEqual(self.found(flt), want)


# The bounds on one search (docs/PERFORMANCE.md "Search bounds"): at most
# MAX_CLAUSES comparisons in a filter and MAX_ORDER order_by keys, for every
# search endpoint; the limit itself is accepted.
MAX_CLAUSES = 50
MAX_ORDER = 20


class TestSearchBounds(mtapi.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.eid = new_experiment()
        rid = new_run(cls.eid)
        mtapi.log_batch(rid, metrics=[{"key": "m%d" % i, "value": i, "timestamp": 1, "step": 0}
                                      for i in range(MAX_ORDER + 1)],
                        params=[{"key": "p%d" % i, "value": "v%d" % i} for i in range(60)])
        cls.rid = rid

    def runs(self, nclauses, norder, same_key=False):
        f = " AND ".join("params.%s LIKE 'v%%'" % ("p0" if same_key else "p%d" % i)
                         for i in range(nclauses))
        order = ["metrics.m%d %s" % (i, "DESC" if i % 2 else "ASC") for i in range(norder)]
        return post("runs/search", {"experiment_ids": [self.eid], "filter": f,
                                    "order_by": order})

    def test_runs_at_the_limits(self):
        b = self.assertOk(self.runs(MAX_CLAUSES, MAX_ORDER))
        self.assertEqual([r["info"]["run_id"] for r in b["runs"]], [self.rid])
        # Many clauses on one key: one join, the same answer.
        b = self.assertOk(self.runs(MAX_CLAUSES, MAX_ORDER, same_key=True))
        self.assertEqual([r["info"]["run_id"] for r in b["runs"]], [self.rid])

    def test_runs_one_over(self):
        self.assertInvalid(self.runs(MAX_CLAUSES + 1, 1),
                           ["more than %d clauses" % MAX_CLAUSES])
        self.assertInvalid(self.runs(1, MAX_ORDER + 1),
                           ["order_by", "more than %d" % MAX_ORDER])
        # What the issue sent: 100 LIKE clauses and 100 order_by keys.
        self.assertInvalid(self.runs(100, 100), "more than")

    def test_other_searches(self):
        tags = " AND ".join("tags.t%d = 'x'" % i for i in range(MAX_CLAUSES))
        over = tags + " AND tags.t99 = 'x'"
        order = ["name ASC", "last_update_time DESC", "experiment_id ASC"]
        self.assertOk(post("experiments/search", {"max_results": 10, "filter": tags,
                                                  "order_by": order}))
        self.assertInvalid(post("experiments/search", {"max_results": 10, "filter": over}),
                           "more than %d clauses" % MAX_CLAUSES)
        names = " AND ".join("name LIKE '%%x%d%%'" % i for i in range(MAX_CLAUSES))
        self.assertOk(mtapi.get("registered-models/search", filter=names))
        r = mtapi.get("registered-models/search", filter=names + " AND name LIKE 'y'")
        self.assertInvalid(r, "more than %d clauses" % MAX_CLAUSES)
        self.assertOk(mtapi.get("model-versions/search", filter=" AND ".join(
            "name = 'x%d'" % i for i in range(MAX_CLAUSES))))
        r = mtapi.get("model-versions/search", filter=" AND ".join(
            "name = 'x%d'" % i for i in range(MAX_CLAUSES + 1)))
        self.assertInvalid(r, "more than %d clauses" % MAX_CLAUSES)
        r = mtapi.get("registered-models/search",
                      order_by=["name ASC"] * 2 + ["x%d" % i for i in range(MAX_ORDER)])
        self.assertInvalid(r, "order_by")
