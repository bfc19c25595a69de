"""runs/search's plan shapes (server/sql_search.c) against a reference.

The server chooses among three plans: A walks an index in the result's order
(segments for NaN, NULL and missing keys after it), B starts from a
selective clause and sorts, C sorts every run.  MLTRACK_SEARCH_PLAN makes a
server take one of them wherever it can, so four servers on one database
(auto, A, B, C) answer the same searches here, and every answer is compared
with a straightforward evaluation in Python of what this test logged:
every clause kind (metric, param, tag, attribute, dataset; =, !=, <, >,
LIKE, ILIKE, IN, NOT IN) alone and combined, with every kind of order
(metric, param, tag, attribute, several keys, none), one and two
experiments, every view type, ties, NaN, missing keys and NULL start
times, whole and paged (the next page from the token's keyset, and from a
plain offset token as MLflow's are).  Boolean filters (OR, NOT, parentheses)
are generated at random, a few hundred, and compared the same way.

The data also goes in by every write path (log-metric, small and large
log-batch, set-tag, log-parameter, runs/create with tags, MLflow 3 points),
and the columns search's indexes copy from the run (experiment_id,
start_time) are checked against runs.
"""

import base64
import functools
import json
import math
import random
import re
import unittest

import mtapi
from authsrv import AuthServer

API = "/api/2.0/mlflow/"
T0 = 1_700_000_000_000
NAN = float("nan")


class Model:
    """What was logged to one run."""

    def __init__(self, run_id, exp, start, name):
        self.run_id, self.exp, self.start, self.name = run_id, exp, start, name
        self.status, self.end, self.stage, self.user = "RUNNING", None, "active", ""
        self.metrics, self.params, self.tags, self.datasets = {}, {}, {"mlflow.runName": name}, []


def like(pattern, text, ci):
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, text, re.S | (re.I if ci else 0)) is not None


OPS = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b,
       ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}


def passes(m, clause):
    kind, key, op, val = clause
    if kind == "metrics":
        v = m.metrics.get(key)
        return v is not None and not math.isnan(v) and OPS[op](v, val)
    if kind in ("params", "tags"):
        v = (m.params if kind == "params" else m.tags).get(key)
        if v is None:
            return False
        if op in ("LIKE", "ILIKE"):
            return like(val, v, op == "ILIKE")
        return OPS[op](v, val)
    if kind == "attributes":
        v = {"run_name": m.name, "status": m.status, "run_id": m.run_id, "user_id": m.user,
             "start_time": m.start, "end_time": m.end}[key]
        if op == "IN":
            return v in val
        if op == "NOT IN":
            return v not in val
        if v is None:
            return False
        if op in ("LIKE", "ILIKE"):
            return like(val, v, op == "ILIKE")
        return OPS[op](v, val)
    # datasets
    for name, digest, context in m.datasets:
        v = {"name": name, "digest": digest, "context": context}[key]
        if key == "context" and v is None:
            continue
        if op == "IN" and v in val:
            return True
        if op == "NOT IN" and v not in val:
            return True
        if op in ("=", "!=") and OPS[op](v, val):
            return True
        if op in ("LIKE", "ILIKE") and like(val, v, op == "ILIKE"):
            return True
    return False


def render(clause):
    kind, key, op, val = clause
    ident = "%s.`%s`" % (kind, key)
    if isinstance(val, (list, tuple)):
        return "%s %s (%s)" % (ident, op, ", ".join("'%s'" % v for v in val))
    if isinstance(val, str):
        return "%s %s '%s'" % (ident, op, val)
    return "%s %s %r" % (ident, op, val)


def group_value(m, item):
    """(group, value) of an order item: MLflow puts NaN after values and
    missing keys (NULL attributes) last."""
    kind, key = item[0], item[1]
    if kind == "metrics":
        v = m.metrics.get(key)
        return (2, 0) if v is None else (1, 0) if math.isnan(v) else (0, v)
    if kind in ("params", "tags"):
        v = (m.params if kind == "params" else m.tags).get(key)
        return (2, "") if v is None else (0, v)
    v = {"start_time": m.start, "end_time": m.end, "run_name": m.name, "status": m.status,
         "run_id": m.run_id, "user_id": m.user}[key]
    return (1, 0) if v is None else (0, v)


def reference(models, exps, clauses, order, view):
    rows = [m for m in models if m.exp in exps and
            (view == "ALL" or m.stage == ("active" if view == "ACTIVE_ONLY" else "deleted"))
            and all(passes(m, c) for c in clauses)]
    items = list(order)
    if not any(i[0] == "attributes" and i[1] == "start_time" for i in items):
        items.append(("attributes", "start_time", False))
    items.append(("attributes", "run_id", True))

    def cmp(a, b):
        for it in items:
            (ga, va), (gb, vb) = group_value(a, it), group_value(b, it)
            if ga != gb:
                return -1 if ga < gb else 1
            if va != vb:
                less = va < vb
                return (-1 if less else 1) if it[2] else (1 if less else -1)
        return 0
    return [m.run_id for m in sorted(rows, key=functools.cmp_to_key(cmp))]


def order_strings(order):
    return ["%s.`%s` %s" % (k, key, "ASC" if asc else "DESC") for k, key, asc in order]


class SearchPlans(unittest.TestCase):
    srv = None
    peers = {}

    @classmethod
    def setUpClass(cls):
        cls.srv = AuthServer("search").start()
        cls.peers = {}
        try:
            for plan in "ABC":
                cls.peers[plan] = cls.srv.peer(env={"MLTRACK_SEARCH_PLAN": plan}).start()
            cls.populate()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in cls.peers.values():
            p.stop()
        cls.peers = {}
        if cls.srv:
            cls.srv.stop()
            cls.srv = None

    @classmethod
    def ok(cls, path, body, srv=None):
        r = (srv or cls.srv).call("POST", API + path, body=body)
        if r.status != 200:
            raise AssertionError("%s %s -> %s %s" % (path, json.dumps(body)[:300], r.status,
                                                     r.body))
        return r.body

    @classmethod
    def populate(cls):
        rnd = random.Random(14)
        cls.models = []
        cls.exps = [cls.ok("experiments/create", {"name": mtapi.uniq("plans")})["experiment_id"]
                    for _ in range(3)]
        for e, n in zip(cls.exps, (90, 40, 5)):
            for i in range(n):
                cls.new_run(rnd, e, i)
        # A run with a long metric batch (COPY), and MLflow 3 points.
        m = cls.models[3]
        cls.ok("runs/log-batch", {"run_id": m.run_id, "metrics": [
            {"key": "k%02d" % k, "value": k / 7, "timestamp": T0, "step": s}
            for k in range(40) for s in range(2)]})
        for k in range(40):
            m.metrics["k%02d" % k] = k / 7
        lm = cls.ok("logged-models", {"experiment_id": m.exp, "name": "plans-model"})
        mid = lm["model"]["info"]["model_id"]
        cls.ok("runs/log-metric", {"run_id": m.run_id, "key": "x3", "value": 2.5,
                                   "timestamp": T0, "step": 1, "model_id": mid})
        m.metrics["x3"] = 2.5

    @classmethod
    def new_run(cls, rnd, exp, i):
        body = {"experiment_id": exp, "run_name": "run-%03d" % i}
        start = None
        if i % 13 != 5:                       # a few runs without a start time
            start = T0 + (i % 17) * 1000      # ties on start_time
            body["start_time"] = start
        if i % 4 == 0:
            body["tags"] = [{"key": "team", "value": rnd.choice(["red", "blue", "Blue"])}]
        r = cls.ok("runs/create", body)["run"]["info"]
        m = Model(r["run_id"], exp, start, "run-%03d" % i)
        for t in body.get("tags", []):
            m.tags[t["key"]] = t["value"]
        cls.models.append(m)
        metrics, params, tags = [], [], []
        # m: few values, many ties, NaN and missing
        if i % 7 != 3:
            v = rnd.choice([0.25, 0.5, 0.5, 0.75, 1.0, NAN])
            metrics.append({"key": "m", "value": "NaN" if math.isnan(v) else v,
                            "timestamp": T0, "step": 0})
            m.metrics["m"] = v
        # acc: distinct values, a later step sometimes replaces the first
        if i % 5 != 2:
            v = round(rnd.random(), 6)
            metrics.append({"key": "acc", "value": v, "timestamp": T0 + 5, "step": 3})
            m.metrics["acc"] = v
            if i % 3 == 0:
                metrics.append({"key": "acc", "value": v + 1, "timestamp": T0, "step": 1})
        if i % 6 != 1:
            params.append({"key": "lr", "value": rnd.choice(["0.1", "0.01", "0.001"])})
        params.append({"key": "seed", "value": "s%04d" % rnd.randrange(10000)})
        if i % 5 == 1:
            tags.append({"key": "team", "value": rnd.choice(["red", "green"])})
        for p in params:
            m.params[p["key"]] = p["value"]
        for t in tags:
            m.tags[t["key"]] = t["value"]
        if i % 9 == 4:
            # one point, one param, one tag each by its own call
            if metrics:
                x = metrics.pop()
                cls.ok("runs/log-metric", dict(x, run_id=m.run_id))
            if params:
                x = params.pop()
                cls.ok("runs/log-parameter", dict(x, run_id=m.run_id))
            if tags:
                x = tags.pop()
                cls.ok("runs/set-tag", dict(x, run_id=m.run_id))
        if metrics or params or tags:
            cls.ok("runs/log-batch", {"run_id": m.run_id, "metrics": metrics, "params": params,
                                      "tags": tags})
        if i % 8 == 2:
            name, ctx = rnd.choice([("train-set", "train"), ("eval-set", "eval"),
                                    ("train-set", None)])
            ds = {"dataset": {"name": name, "digest": "d" + name[:4], "source_type": "local",
                              "source": "/data/" + name}}
            if ctx:
                ds["tags"] = [{"key": "mlflow.data.context", "value": ctx}]
            cls.ok("runs/log-inputs", {"run_id": m.run_id, "datasets": [ds]})
            m.datasets.append((name, "d" + name[:4], ctx))
        if i % 10 == 7:
            m.status, m.end = "FINISHED", T0 + 10_000 + i
            cls.ok("runs/update", {"run_id": m.run_id, "status": "FINISHED", "end_time": m.end})
        if i % 11 == 6:
            m.stage = "deleted"
            cls.ok("runs/delete", {"run_id": m.run_id})

    # ---- asking ----
    def search(self, srv, exps, clauses, order, view, max_results=1000, token=None):
        body = {"experiment_ids": exps, "filter": " and ".join(render(c) for c in clauses),
                "order_by": order_strings(order), "run_view_type": view,
                "max_results": max_results}
        if token:
            body["page_token"] = token
        b = self.ok("runs/search", body, srv)
        return [r["info"]["run_id"] for r in b.get("runs", [])], b.get("next_page_token")

    def pages(self, srv, exps, clauses, order, view, size, offset_tokens=False):
        out, token = [], None
        for _ in range(500):
            got, token = self.search(srv, exps, clauses, order, view, size, token)
            out += got
            if not token:
                return out
            if offset_tokens:   # MLflow's own form: the offset alone
                off = json.loads(base64.b64decode(token))["offset"]
                token = base64.b64encode(json.dumps({"offset": off}).encode()).decode()
        self.fail("pagination does not end")

    def servers(self):
        return [("auto", self.srv)] + sorted(self.peers.items())

    def check(self, exps, clauses, order, view="ACTIVE_ONLY"):
        want = reference(self.models, exps, clauses, order, view)
        for name, srv in self.servers():
            got, _ = self.search(srv, exps, clauses, order, view)
            self.assertEqual(got, want, "plan %s, filter %r, order %r, view %s, exps %r" % (
                name, [render(c) for c in clauses], order_strings(order), view, exps))
        return want

    # ---- the searches ----
    CLAUSES = [
        [],
        [("metrics", "m", ">=", 0.5)],
        [("metrics", "m", "=", 0.5)],
        [("metrics", "acc", "<", 0.5)],
        [("metrics", "acc", "!=", 0.0)],
        [("params", "lr", "=", "0.01")],
        [("params", "lr", "!=", "0.1")],
        [("params", "seed", "LIKE", "s1%")],
        [("params", "seed", "LIKE", "s12%")],      # a literal prefix: drives plan B
        [("params", "seed", "LIKE", "s12_5")],
        [("params", "seed", "LIKE", "zz%")],       # ... matching nothing
        [("tags", "team", "LIKE", "re%"), ("params", "lr", "=", "0.1")],
        [("tags", "mlflow.runName", "LIKE", "run-01%"), ("metrics", "acc", ">", 0.3)],
        [("params", "lr", "ILIKE", "%0_")],
        [("tags", "team", "=", "red")],
        [("tags", "team", "ILIKE", "blue")],
        [("tags", "team", "LIKE", "%e%")],
        [("attributes", "run_name", "LIKE", "run-0_1")],
        [("attributes", "status", "=", "FINISHED")],
        [("attributes", "start_time", ">", T0 + 8000)],
        [("attributes", "end_time", "<=", T0 + 10_050)],
        [("datasets", "name", "=", "train-set")],
        [("datasets", "context", "IN", ["eval", "x"])],
        [("datasets", "digest", "NOT IN", ["dtrai"])],
        [("metrics", "acc", ">", 0.2), ("params", "lr", "=", "0.001")],
        [("metrics", "m", "<", 1.0), ("metrics", "acc", ">", 0.1), ("tags", "team", "!=", "x")],
        [("params", "lr", "LIKE", "0.%"), ("params", "lr", "!=", "0.1"),
         ("attributes", "run_name", "ILIKE", "RUN-%")],
    ]
    ORDERS = [
        [],
        [("metrics", "m", False)],
        [("metrics", "m", True)],
        [("metrics", "acc", False)],
        [("params", "lr", True)],
        [("params", "lr", False)],
        [("tags", "team", False)],
        [("attributes", "start_time", True)],
        [("attributes", "start_time", False)],
        [("attributes", "run_name", False)],
        [("attributes", "end_time", True)],
        [("metrics", "m", False), ("params", "lr", True)],
        [("params", "lr", False), ("metrics", "acc", True)],
        [("metrics", "m", True), ("attributes", "start_time", True)],
        [("tags", "team", True), ("attributes", "start_time", False), ("metrics", "acc", False)],
    ]

    def test_every_clause_with_every_order(self):
        e1, e2 = self.exps[0], self.exps[1]
        for clauses in self.CLAUSES:
            for order in self.ORDERS:
                with self.subTest(filter=[render(c) for c in clauses], order=order):
                    self.check([e1], clauses, order)
        # Two experiments, and the other view types, on a subset.
        for clauses in self.CLAUSES[::3]:
            for order in self.ORDERS[::2]:
                for view in ("ACTIVE_ONLY", "ALL", "DELETED_ONLY"):
                    with self.subTest(filter=[render(c) for c in clauses], order=order,
                                      view=view):
                        self.check([e1, e2], clauses, order, view)

    def test_run_id_in(self):
        e1, e2 = self.exps[0], self.exps[1]
        ids = [m.run_id for m in self.models[::9]]
        for order in self.ORDERS[:6]:
            self.check([e1, e2], [("attributes", "run_id", "IN", ids)], order)
            self.check([e1], [("attributes", "run_id", "=", ids[1])], order)
            self.check([e1], [("attributes", "run_id", "NOT IN", ids)], order)
        self.check([e1], [("attributes", "run_id", "IN", ids), ("params", "lr", "=", "0.1")],
                   [("metrics", "acc", True)])

    def test_pages_follow_the_whole_result(self):
        e1, e2 = self.exps[0], self.exps[1]
        cases = [([e1], [], []), ([e1], [], [("metrics", "m", False)]),
                 ([e1, e2], [], [("metrics", "m", True)]),
                 ([e1], [("params", "lr", "!=", "0.1")], [("params", "lr", False)]),
                 ([e1, e2], [("metrics", "acc", ">", 0.3)], [("metrics", "acc", False)]),
                 ([e1], [], [("attributes", "start_time", True)]),
                 ([e1], [], [("tags", "team", True)]),
                 ([e1], [("tags", "team", "LIKE", "%")], [("attributes", "run_name", True)]),
                 ([e1], [], [("metrics", "m", False), ("params", "lr", True)])]
        for exps, clauses, order in cases:
            want = reference(self.models, exps, clauses, order, "ACTIVE_ONLY")
            for name, srv in self.servers():
                for size in (1, 7, 25):
                    with self.subTest(plan=name, size=size, filter=clauses, order=order):
                        self.assertEqual(self.pages(srv, exps, clauses, order, "ACTIVE_ONLY",
                                                    size), want)
                with self.subTest(plan=name, offsets=True, filter=clauses, order=order):
                    self.assertEqual(self.pages(srv, exps, clauses, order, "ACTIVE_ONLY", 6,
                                                offset_tokens=True), want)

    def test_token_of_another_search_pages_by_offset(self):
        e1 = self.exps[0]
        want = reference(self.models, [e1], [], [("metrics", "acc", False)], "ACTIVE_ONLY")
        _, token = self.search(self.srv, [e1], [], [("params", "lr", True)], "ACTIVE_ONLY", 10)
        got, _ = self.search(self.srv, [e1], [], [("metrics", "acc", False)], "ACTIVE_ONLY", 10,
                             token)
        self.assertEqual(got, want[10:20])

    def test_keyset_token_tampered(self):
        e1 = self.exps[0]
        _, token = self.search(self.srv, [e1], [], [("metrics", "acc", False)], "ACTIVE_ONLY", 5)
        tok = json.loads(base64.b64decode(token))
        self.assertEqual(tok["offset"], 5)
        for bad in (tok["k"][:-2], ["9"] + tok["k"][1:], tok["k"][:1] + ["x"] + tok["k"][2:]):
            t = base64.b64encode(json.dumps(dict(tok, k=bad)).encode()).decode()
            r = self.srv.call("POST", API + "runs/search", body={
                "experiment_ids": [e1], "filter": "", "order_by": ["metrics.`acc` DESC"],
                "run_view_type": "ACTIVE_ONLY", "max_results": 5, "page_token": t})
            self.assertEqual(r.status, 400, r.body)
            self.assertIn("Invalid page token", r.body["message"])

    def test_pages_stay_put_when_runs_come_first(self):
        """A keyset page starts after the last row seen, so runs created
        meanwhile at the top neither repeat nor push rows into the next page."""
        e3 = self.exps[2]
        first, token = self.search(self.srv, [e3], [], [], "ACTIVE_ONLY", 2)
        r = self.ok("runs/create", {"experiment_id": e3, "start_time": T0 + 10 ** 9})
        self.models.append(Model(r["run"]["info"]["run_id"], e3, T0 + 10 ** 9, ""))
        self.models[-1].name = r["run"]["info"]["run_name"]
        self.models[-1].tags["mlflow.runName"] = self.models[-1].name
        rest, _ = self.search(self.srv, [e3], [], [], "ACTIVE_ONLY", 100, token)
        everything = reference(self.models, [e3], [], [], "ACTIVE_ONLY")
        self.assertEqual(first + rest, everything[1:])

    # ---- boolean filters: OR, NOT, parentheses (mltrack's extension) ----
    def bool_atoms(self):
        atoms = [c for cl in self.CLAUSES for c in cl]
        ids = [m.run_id for m in self.models[::7]]
        atoms += [("attributes", "run_id", "IN", ids), ("attributes", "run_id", "NOT IN", ids[:3]),
                  ("metrics", "m", "<=", 0.5), ("metrics", "x3", ">", 1),
                  ("metrics", "k03", "<", 1), ("params", "lr", "=", "0.1"),
                  ("tags", "team", "=", "green"), ("tags", "nope", "!=", "x"),
                  ("attributes", "end_time", ">", T0), ("attributes", "start_time", "<", T0 + 4000),
                  ("attributes", "status", "!=", "RUNNING"), ("datasets", "context", "=", "train")]
        return atoms

    @staticmethod
    def rand_tree(rnd, atoms, depth=0):
        r = rnd.random()
        if depth >= 4 or r < 0.3 + 0.1 * depth:
            return ("atom", rnd.choice(atoms))
        if r < 0.5:
            return ("not", SearchPlans.rand_tree(rnd, atoms, depth + 1))
        return (rnd.choice(("and", "or")),
                [SearchPlans.rand_tree(rnd, atoms, depth + 1) for _ in range(rnd.randint(2, 3))])

    @staticmethod
    def holds(m, t):
        if t[0] == "atom":
            return passes(m, t[1])
        if t[0] == "not":
            return not SearchPlans.holds(m, t[1])
        return (all if t[0] == "and" else any)(SearchPlans.holds(m, k) for k in t[1])

    PREC = {"or": 1, "and": 2, "not": 3, "atom": 4}

    @staticmethod
    def render_tree(rnd, t):
        """Precedence-aware, with parentheses where needed and now and then
        where not, keywords in random case, spacing varied."""
        def kw(w):
            return rnd.choice((w, w.lower(), w.capitalize()))

        def sub(child, need):
            text = SearchPlans.render_tree(rnd, child)
            if SearchPlans.PREC[child[0]] < need or rnd.random() < 0.15:
                return rnd.choice(("(%s)", "( %s )")) % text
            return text
        if t[0] == "atom":
            return render(t[1])
        if t[0] == "not":
            return "%s %s" % (kw("NOT"), sub(t[1], 3))
        p = SearchPlans.PREC[t[0]]
        # a child of the same operator needs no parentheses (associative)
        return (" %s " % kw(t[0].upper())).join(sub(k, p) for k in t[1])

    def reference_bool(self, exps, tree, order, view):
        keep = {m.run_id for m in self.models if self.holds(m, tree)}
        return [r for r in reference(self.models, exps, [], order, view) if r in keep]

    def search_text(self, srv, exps, flt, order, view, max_results=1000, token=None):
        body = {"experiment_ids": exps, "filter": flt, "order_by": order_strings(order),
                "run_view_type": view, "max_results": max_results}
        if token:
            body["page_token"] = token
        b = self.ok("runs/search", body, srv)
        return [r["info"]["run_id"] for r in b.get("runs", [])], b.get("next_page_token")

    def test_boolean_filters_match_brute_force(self):
        """A few hundred random filters with AND, OR, NOT and parentheses over
        every clause kind, each compared with a Python evaluation of what was
        logged (NOT is the complement of its comparison: a run without the
        key matches NOT metrics.k > x), on every plan (auto, A, B, C)."""
        rnd = random.Random(16)
        atoms = self.bool_atoms()
        e1, e2 = self.exps[0], self.exps[1]
        nonempty = 0
        for i in range(300):
            tree = self.rand_tree(rnd, atoms)
            # sometimes a plain clause ANDed on top: the flat part plus the tree
            if rnd.random() < 0.3:
                tree = ("and", [("atom", rnd.choice(atoms)), tree])
            flt = self.render_tree(rnd, tree)
            exps = [e1] if i % 3 else [e1, e2]
            order = rnd.choice(self.ORDERS)
            view = "ACTIVE_ONLY" if i % 5 else rnd.choice(("ALL", "DELETED_ONLY"))
            want = self.reference_bool(exps, tree, order, view)
            nonempty += bool(want)
            for name, srv in self.servers():
                got, _ = self.search_text(srv, exps, flt, order, view)
                self.assertEqual(got, want, "#%d plan %s, filter %r, order %r, view %s, exps %r"
                                 % (i, name, flt, order_strings(order), view, exps))
        # the filters are not all trivially empty (or full)
        self.assertGreater(nonempty, 150)

    def test_boolean_filters_pages(self):
        rnd = random.Random(17)
        atoms = self.bool_atoms()
        e1, e2 = self.exps[0], self.exps[1]
        for i in range(12):
            tree = ("or", [self.rand_tree(rnd, atoms, 1), ("not", self.rand_tree(rnd, atoms, 2))])
            flt = self.render_tree(rnd, tree)
            order = self.ORDERS[i % len(self.ORDERS)]
            exps = [e1, e2] if i % 2 else [e1]
            want = self.reference_bool(exps, tree, order, "ACTIVE_ONLY")
            for name, srv in self.servers():
                out, token = [], None
                for _ in range(200):
                    got, token = self.search_text(srv, exps, flt, order, "ACTIVE_ONLY", 7, token)
                    out += got
                    if not token:
                        break
                self.assertEqual(out, want, "plan %s, filter %r, order %r" % (
                    name, flt, order_strings(order)))

    def test_indexed_copies_match_runs(self):
        for table in ("params", "tags", "latest_metrics"):
            bad = self.srv.sql(
                "SELECT count(*) FROM %s c JOIN runs r USING (run_id) WHERE c.experiment_id <> "
                "r.experiment_id OR c.start_time IS DISTINCT FROM r.start_time" % table)
            self.assertEqual(bad, "0", table)
            n = self.srv.sql("SELECT count(*) FROM %s" % table)
            self.assertGreater(int(n), 100, table)


if __name__ == "__main__":
    unittest.main()
