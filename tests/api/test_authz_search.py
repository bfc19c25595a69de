"""Searches hold only what the caller may read, page by page: the filter is
in the SQL (sql_authz.c), so max_results and page tokens stay exact.

A user who may read 3 of 10 experiments (NO_PERMISSIONS rows on the other
7, the default being READ) sees exactly those 3 in experiments/search,
their runs in runs/search, their logged models, datasets and summaries, and
3 of 10 registered models with their versions; a scoped token sees the part
of that its scope names; an admin sees everything.
"""

import unittest

import authzsrv
from authzsrv import API, MLTRACK, basic, bearer, uniq

SRV = None
PW = "search-password"
N, READABLE = 10, (1, 4, 7)


def setUpModule():
    global SRV, FX
    SRV = authzsrv.AuthzServer("authz_search").start()
    try:
        FX = fixture()
    except BaseException:
        SRV.stop()
        raise


def tearDownModule():
    if SRV:
        SRV.stop()


class Fx:
    pass


def fixture():
    fx = Fx()
    fx.prefix = uniq("srch")
    fx.user = uniq("reader")
    SRV.add_user(fx.user, PW)
    fx.h = basic(fx.user, PW)
    fx.exps, fx.runs, fx.models, fx.lms = [], {}, [], {}
    for i in range(N):
        e = SRV.ok("POST", API + "experiments/create",
                   {"name": "%s-%02d" % (fx.prefix, i)})["experiment_id"]
        fx.exps.append(e)
        fx.runs[e] = []
        for j in range(3):
            r = SRV.ok("POST", API + "runs/create", {"experiment_id": e, "start_time": 1000 + j})
            fx.runs[e].append(r["run"]["info"]["run_id"])
        SRV.ok("POST", API + "runs/log-inputs", {"run_id": fx.runs[e][0], "datasets": [
            {"dataset": {"name": "ds%d" % i, "digest": "d%d" % i, "source_type": "local",
                         "source": "x"}}]})
        fx.lms[e] = SRV.ok("POST", API + "logged-models", {"experiment_id": e, "name": "lm"})[
            "model"]["info"]["model_id"]
        m = "%s-model-%02d" % (fx.prefix, i)
        SRV.ok("POST", API + "registered-models/create", {"name": m})
        for _ in range(2):
            SRV.ok("POST", API + "model-versions/create",
                   {"name": m, "source": "mlflow-artifacts:/%s" % e})
        fx.models.append(m)
        if i not in READABLE:
            for kind, key, value in (("experiments", "experiment_id", e),
                                     ("registered-models", "name", m)):
                SRV.ok("POST", API + kind + "/permissions/create",
                       {key: value, "username": fx.user, "permission": "NO_PERMISSIONS"})
    fx.readable = [fx.exps[i] for i in READABLE]
    fx.readable_models = [fx.models[i] for i in READABLE]
    return fx


def pages(method, path, body, key, headers, max_results=2):
    """Every page of a search: (items, number of pages)."""
    out, token, n = [], None, 0
    while True:
        b = dict(body, max_results=max_results)
        if token:
            b["page_token"] = token
        if method == "GET":
            r = SRV.call("GET", path, query=b, headers=headers)
        else:
            r = SRV.call("POST", path, body=b, headers=headers)
        assert r.status == 200, r
        out += r.body.get(key, [])
        n += 1
        assert len(r.body.get(key, [])) <= max_results
        token = r.body.get("next_page_token")
        if not token:
            return out, n
        assert n < 100


class TestSearch(unittest.TestCase):
    maxDiff = None

    def exp_names(self, headers, max_results=2):
        items, n = pages("POST", API + "experiments/search",
                         {"filter": "name LIKE '%s%%'" % FX.prefix, "order_by": ["name ASC"]},
                         "experiments", headers, max_results)
        return [x["experiment_id"] for x in items], n

    def test_experiments(self):
        ids, n = self.exp_names(FX.h)
        self.assertEqual(ids, FX.readable)
        self.assertEqual(n, 2)  # 2 + 1: MLflow returns a token only when more exist
        ids, _ = self.exp_names(SRV.as_admin(), max_results=3)
        self.assertEqual(ids, FX.exps)
        # GET too, and the default experiment is readable (the default is READ).
        r = SRV.call("GET", API + "experiments/search", query={"max_results": 1000},
                     headers=FX.h)
        got = {x["experiment_id"] for x in r.body["experiments"]}
        self.assertTrue(set(FX.readable) | {"0"} <= got)
        self.assertFalse(got & (set(FX.exps) - set(FX.readable)))

    def test_runs(self):
        items, n = pages("POST", API + "runs/search", {"experiment_ids": FX.exps}, "runs", FX.h)
        want = sorted(r for e in FX.readable for r in FX.runs[e])
        self.assertEqual(sorted(x["info"]["run_id"] for x in items), want)
        self.assertEqual(len(items), 9)
        # An unreadable experiment named alone: nothing, as MLflow's plugin filters.
        r = SRV.call("POST", API + "runs/search", {"experiment_ids": [FX.exps[0]]},
                     headers=FX.h)
        self.assertEqual((r.status, r.body), (200, {}))
        items, _ = pages("POST", API + "runs/search", {"experiment_ids": FX.exps}, "runs",
                         SRV.as_admin(), max_results=7)
        self.assertEqual(len(items), 3 * N)

    def test_logged_models_datasets_summary(self):
        items, _ = pages("POST", API + "logged-models/search", {"experiment_ids": FX.exps},
                         "models", FX.h)
        self.assertEqual(sorted(x["info"]["model_id"] for x in items),
                         sorted(FX.lms[e] for e in FX.readable))
        r = SRV.call("POST", API + "experiments/search-datasets",
                     {"experiment_ids": FX.exps[:10]}, headers=FX.h)
        self.assertEqual(sorted(x["experiment_id"] for x in r.body["dataset_summaries"]),
                         sorted(FX.readable))
        r = SRV.call("GET", MLTRACK + "experiments/summary",
                     query={"experiment_ids": FX.exps}, headers=FX.h)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual([x["experiment_id"] for x in r.body["experiments"]], FX.readable)
        self.assertEqual([x["run_count"] for x in r.body["experiments"]], [3, 3, 3])

    def test_registry(self):
        items, n = pages("GET", API + "registered-models/search",
                         {"filter": "name LIKE '%s-model%%'" % FX.prefix, "order_by": ["name"]},
                         "registered_models", FX.h)
        self.assertEqual([x["name"] for x in items], FX.readable_models)
        items, _ = pages("GET", API + "model-versions/search",
                         {"filter": "name LIKE '%s-model%%'" % FX.prefix}, "model_versions",
                         FX.h)
        self.assertEqual(sorted((x["name"], x["version"]) for x in items),
                         sorted((m, v) for m in FX.readable_models for v in ("1", "2")))
        items, _ = pages("GET", API + "registered-models/search",
                         {"filter": "name LIKE '%s-model%%'" % FX.prefix}, "registered_models",
                         SRV.as_admin(), max_results=4)
        self.assertEqual(len(items), N)

    def test_reads_by_id_are_refused(self):
        hidden = FX.exps[0]
        for method, path, q in (
                ("GET", API + "experiments/get", {"experiment_id": hidden}),
                ("GET", API + "runs/get", {"run_id": FX.runs[hidden][0]}),
                ("GET", API + "metrics/get-history-bulk",
                 {"run_id": [FX.runs[FX.readable[0]][0], FX.runs[hidden][0]], "metric_key": "m"}),
                ("GET", API + "registered-models/get-latest-versions", {"name": FX.models[0]}),
                ("GET", API + "logged-models/" + FX.lms[hidden], {})):
            r = SRV.call(method, path, query=q, headers=FX.h)
            self.assertEqual(r.status, 403, (path, r.body))
        r = SRV.call("GET", API + "metrics/get-history-bulk",
                     query={"run_id": FX.runs[FX.readable[0]], "metric_key": "m"}, headers=FX.h)
        self.assertEqual(r.status, 200, r.body)

    def test_a_version_needs_to_read_what_it_is_made_from(self):
        """Else a version would hand a hidden run's artifacts (downloads) and
        metrics (gate reports) to whoever reads the model."""
        mine = uniq("mine")
        SRV.ok("POST", API + "registered-models/create", {"name": mine}, headers=FX.h)
        hidden, seen = FX.exps[0], FX.readable[0]
        hidden_lm = FX.lms[hidden]
        for body in ({"source": "mlflow-artifacts:/x", "run_id": FX.runs[hidden][0]},
                     {"source": "mlflow-artifacts:/%s/%s/artifacts/model"
                      % (hidden, FX.runs[hidden][0])},
                     {"source": "mlflow-artifacts://host:5170/%s/x" % hidden},
                     {"source": "runs:/%s/model" % FX.runs[hidden][1]},
                     {"source": "models:/%s/1" % FX.models[0]},
                     {"source": "models:/%s" % hidden_lm},
                     {"source": "mlflow-artifacts:/x", "model_id": hidden_lm}):
            r = SRV.call("POST", API + "model-versions/create", dict(body, name=mine),
                         headers=FX.h)
            self.assertEqual(r.status, 403, (body, r.body))
            self.assertIn("is needed to make a version", r.body["message"])
        self.assertEqual(SRV.psql("SELECT count(*) FROM model_versions v JOIN registered_models"
                                  " m ON m.id = v.model_id WHERE m.name = '%s'" % mine), "0")
        for body in ({"source": "mlflow-artifacts:/%s/%s/artifacts/model"
                      % (seen, FX.runs[seen][0]), "run_id": FX.runs[seen][0]},
                     {"source": "runs:/%s/model" % FX.runs[seen][1]},
                     {"source": "models:/%s/1" % FX.readable_models[0]}):
            r = SRV.call("POST", API + "model-versions/create", dict(body, name=mine),
                         headers=FX.h)
            self.assertEqual(r.status, 200, (body, r.body))

    def test_points_into_hidden_logged_models(self):
        """A metric or an output naming a logged model writes into it: EDIT on
        its experiment too."""
        mine = SRV.ok("POST", API + "experiments/create", {"name": uniq("own")},
                      headers=FX.h)["experiment_id"]
        run = SRV.ok("POST", API + "runs/create", {"experiment_id": mine},
                     headers=FX.h)["run"]["info"]["run_id"]
        own_lm = SRV.ok("POST", API + "logged-models", {"experiment_id": mine, "name": "m"},
                        headers=FX.h)["model"]["info"]["model_id"]
        for lm in (FX.lms[FX.exps[0]], FX.lms[FX.readable[0]]):  # hidden; read-only
            for path, body in (
                    ("runs/log-metric", {"run_id": run, "key": "k", "value": 1, "timestamp": 1,
                                         "model_id": lm}),
                    ("runs/log-batch", {"run_id": run, "metrics": [
                        {"key": "k", "value": 1, "timestamp": 1, "model_id": own_lm},
                        {"key": "k", "value": 2, "timestamp": 1, "model_id": lm}]}),
                    ("runs/outputs", {"run_id": run, "models": [{"model_id": lm, "step": 0}]})):
                r = SRV.call("POST", API + path, body, headers=FX.h)
                self.assertEqual(r.status, 403, (path, r.body))
                self.assertIn("a logged model the request names", r.body["message"])
        self.assertEqual(SRV.psql("SELECT count(*) FROM metrics WHERE run_id = '%s'" % run), "0")
        for path, body in (
                ("runs/log-metric", {"run_id": run, "key": "k", "value": 1, "timestamp": 1,
                                     "model_id": own_lm}),
                ("runs/outputs", {"run_id": run, "models": [{"model_id": own_lm, "step": 0}]}),
                ("runs/log-inputs", {"run_id": run,
                                     "models": [{"model_id": FX.lms[FX.readable[0]]}]})):
            r = SRV.call("POST", API + path, body, headers=FX.h)
            self.assertEqual(r.status, 200, (path, r.body))

    def test_scoped_token_sees_its_scope(self):
        one, model = FX.readable[1], FX.readable_models[2]
        _, tok = SRV.token(FX.h, scope="experiment:%s:READ,model:%s:READ,experiment:%s:EDIT"
                           % (one, model, FX.exps[0]))
        h = bearer(tok)
        ids, _ = self.exp_names(h)
        self.assertEqual(ids, [one])  # exps[0] is in the scope, but its owner may not read it
        items, _ = pages("POST", API + "runs/search", {"experiment_ids": FX.exps}, "runs", h)
        self.assertEqual(sorted(x["info"]["run_id"] for x in items), sorted(FX.runs[one]))
        items, _ = pages("GET", API + "registered-models/search", {}, "registered_models", h)
        self.assertEqual([x["name"] for x in items], [model])
        # read:* is whatever the owner may read.
        _, tok = SRV.token(FX.h, scope="read:*")
        ids, _ = self.exp_names(bearer(tok))
        self.assertEqual(ids, FX.readable)


if __name__ == "__main__":
    unittest.main()
