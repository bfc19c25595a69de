"""Monitoring deployed versions (issue 17, docs/monitoring.md): a reference
profile carried in a bundle's manifest is stored with the version at
creation and read back from monitor/reference; observations posted to
monitor/log fold into hourly windows; monitor/get answers drift (PSI, binned
KS, chi-square, missing-rate change) and quality (accuracy, macro F1, RMSE,
MAE) per window, checked here against numpy and scipy on the same bins and
raw data, on synthetic data with no shift and with a known one.  Bad input
(unknown feature, wrong type, missing version or alias, too many rows in a
request or in a window) is a 4xx and folds nothing; concurrent posts to one
window lose no count.

The reference profiles are built here with numpy (edges from numpy.quantile,
bins from numpy.searchsorted), so the server's maths is checked against an
independent computation.  numpy and scipy come from Debian (python3-scipy,
tools/deps.sh)."""

import collections
import json
import sys
import threading
import unittest

try:
    import numpy as np
    from scipy import stats
except ImportError:  # a python3 other than Debian's (pyenv) is first on PATH
    sys.path.append("/usr/lib/python3/dist-packages")
    import numpy as np
    from scipy import stats

import mtapi
from mtapi import call, post, uniq
from test_gates import bundle_bytes, ok, upload_bundle

setUpModule = mtapi.wait_ready

EPS = 1e-4            # MT_PROFILE_PSI_EPS
HOUR = 3600 * 1000
BASE_T = 1767225600000  # 2026-01-01T00:00:00Z, a window start


def number_col(x, role="feature"):
    x = np.asarray(x, dtype=float)
    vals = x[~np.isnan(x)]
    edges = np.unique(np.quantile(vals, np.arange(1, 100) / 100.0))
    bins = np.bincount(np.searchsorted(edges, vals, side="left"), minlength=len(edges) + 1)
    return {"role": role, "type": "number", "count": int(len(vals)),
            "missing": int(np.isnan(x).sum()), "min": float(vals.min()),
            "max": float(vals.max()), "mean": float(vals.mean()), "std": float(vals.std()),
            "edges": [float(e) for e in edges], "bins": [int(b) for b in bins]}


def category_col(values, role="feature"):
    c = collections.Counter(v for v in values if v is not None)
    top = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
    return {"role": role, "type": "category", "count": sum(c.values()),
            "missing": sum(1 for v in values if v is None),
            "top": dict(top[:50]), "other": sum(n for _, n in top[50:])}


def profile(cols, rows):
    return {"format": "mltrack-profile/1", "rows": rows, "columns": cols}


def new_version(prof, alias=None):
    """A new model with version 1 registered from a bundle whose manifest
    carries prof; returns the model name."""
    name = uniq("mon")
    ok(post("registered-models/create", {"name": name}))
    data = bundle_bytes({"model.bin": uniq("w").encode()},
                        extra=None if prof is None else {"reference_profile": prof})
    sha = upload_bundle(data)
    ok(post("model-versions/create", {
        "name": name, "source": "mlflow-artifacts:/mltrack-bundles/%s.tar" % sha}))
    if alias:
        ok(post("registered-models/alias", {"name": name, "alias": alias, "version": "1"}))
    return name


def log(name, observations, **ref):
    body = {"name": name, "observations": observations}
    body.update(ref or {"version": "1"})
    return call("POST", mtapi.MLTRACK + "monitor/log", body)


def windows(name, **ref):
    q = {"name": name}
    q.update(ref or {"version": "1"})
    return ok(mtapi.mt_get("monitor/get", **q))["windows"]


def live_bins(edges, x):
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    return np.bincount(np.searchsorted(edges, x, side="left"), minlength=len(edges) + 1)


def psi(ref_counts, live_counts):
    e = np.maximum(np.asarray(ref_counts) / np.sum(ref_counts), EPS)
    a = np.maximum(np.asarray(live_counts) / np.sum(live_counts), EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def deciles(ref_counts, live_counts):
    """The reference's deciles as mt_profile groups its bins for PSI."""
    n = int(np.sum(ref_counts))
    r_out, l_out = [], []
    cum = g = r = l = 0
    for i, (rc, lc) in enumerate(zip(ref_counts, live_counts)):
        cum += int(rc)
        r += int(rc)
        l += int(lc)
        if i + 1 == len(ref_counts) or cum * 10 >= n * (g + 1):
            r_out.append(r)
            l_out.append(l)
            r = l = 0
            g = cum * 10 // n
    return r_out, l_out


def number_psi(ref_counts, live_counts):
    r, l = deciles(ref_counts, live_counts)
    assert len(r) == 10
    return psi(r, l)


def binned_ks(ref_counts, live_counts):
    fr = np.cumsum(ref_counts)[:-1] / np.sum(ref_counts)
    fl = np.cumsum(live_counts)[:-1] / np.sum(live_counts)
    return float(np.max(np.abs(fr - fl)))


def obs_rows(age, income, color, pred=None, label=None, t=BASE_T):
    out = []
    for i in range(len(age)):
        f = {"age": float(age[i]), "color": color[i]}
        if not np.isnan(income[i]):
            f["income"] = float(income[i])
        o = {"features": f, "timestamp": int(t) + i}
        if pred is not None:
            o["prediction"] = pred[i]
        if label is not None:
            o["label"] = label[i]
        out.append(o)
    return out


COLORS = ["red", "green", "blue", "black"]


class Drift(mtapi.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(17)
        n = 2000
        cls.age = rng.normal(40, 10, n)
        cls.income = rng.lognormal(10, 0.5, n)
        cls.color = list(rng.choice(COLORS, n, p=[0.4, 0.3, 0.2, 0.1]))
        cls.prof = profile({"age": number_col(cls.age), "income": number_col(cls.income),
                            "color": category_col(cls.color)}, n)
        cls.rng = rng

    def test_reference_stored_and_read(self):
        name = new_version(self.prof, alias="champion")
        r = ok(mtapi.mt_get("monitor/reference", name=name, version="1"))
        self.assertEqual(r["version"], "1")
        self.assertEqual(r["profile"]["rows"], 2000)
        for c in ("age", "income"):
            self.assertEqual(r["profile"]["columns"][c]["bins"], self.prof["columns"][c]["bins"])
            np.testing.assert_array_equal(r["profile"]["columns"][c]["edges"],
                                          self.prof["columns"][c]["edges"])
        self.assertEqual(r["profile"]["columns"]["color"]["top"],
                         self.prof["columns"]["color"]["top"])
        by_alias = ok(mtapi.mt_get("monitor/reference", name=name, alias="champion"))
        self.assertEqual(by_alias["profile"], r["profile"])
        # Nothing logged yet: no windows.
        self.assertEqual(windows(name), [])

    def test_no_shift(self):
        name = new_version(self.prof)
        n = 2000
        age = self.rng.normal(40, 10, n)
        income = self.rng.lognormal(10, 0.5, n)
        color = list(self.rng.choice(COLORS, n, p=[0.4, 0.3, 0.2, 0.1]))
        r = log(name, obs_rows(age, income, color, t=BASE_T))
        self.assertOk(r)
        self.assertEqual(r.body["logged"], n)
        self.assertEqual(r.body["windows"], [BASE_T])
        (w,) = windows(name)
        self.assertEqual((w["start"], w["end"], w["rows"]), (BASE_T, BASE_T + HOUR, n))
        for c, x in (("age", age), ("income", income)):
            ref = self.prof["columns"][c]
            lb = live_bins(ref["edges"], x)
            d = w["columns"][c]
            self.assertAlmostEqual(d["psi"], number_psi(ref["bins"], lb), places=9)
            self.assertLess(d["psi"], 0.03)
            ks = binned_ks(ref["bins"], lb)
            self.assertAlmostEqual(d["ks"], ks, places=9)
            raw = stats.ks_2samp(getattr(self, c), x).statistic
            # The binned statistic never exceeds the raw one, and is within
            # the mass of one bin (about 1/100 of each sample) of it.
            self.assertLessEqual(d["ks"], raw + 1e-12)
            self.assertLess(raw - d["ks"], 0.025)
            self.assertLess(d["ks"], 0.06)
            self.assertEqual(d["missing_rate_change"], 0)
        self.assertLess(w["columns"]["color"]["chi2"], 15)

    def test_known_shift(self):
        name = new_version(self.prof)
        n = 1500
        age = self.rng.normal(45, 10, n)            # +5 years
        income = self.rng.lognormal(10, 0.5, n)
        income[: n // 10] = np.nan                  # 10 % missing
        color = list(self.rng.choice(COLORS + ["purple"], n, p=[0.1, 0.2, 0.2, 0.3, 0.2]))
        # Two windows: the first 1000 rows in one hour, the rest in the next.
        rows = obs_rows(age, income, color, t=BASE_T)
        for i, o in enumerate(rows):
            o["timestamp"] = BASE_T + (0 if i < 1000 else HOUR) + i
        self.assertOk(log(name, rows))
        ws = windows(name)
        self.assertEqual([w["start"] for w in ws], [BASE_T + HOUR, BASE_T])  # newest first
        self.assertEqual([w["rows"] for w in ws], [500, 1000])
        w = ws[1]
        ref = self.prof["columns"]["age"]
        lb = live_bins(ref["edges"], age[:1000])
        self.assertAlmostEqual(w["columns"]["age"]["psi"], number_psi(ref["bins"], lb), places=9)
        self.assertGreater(w["columns"]["age"]["psi"], 0.2)
        self.assertAlmostEqual(w["columns"]["age"]["ks"], binned_ks(ref["bins"], lb), places=9)
        raw = stats.ks_2samp(self.age, age[:1000]).statistic
        self.assertLessEqual(w["columns"]["age"]["ks"], raw + 1e-12)
        self.assertLess(raw - w["columns"]["age"]["ks"], 0.025)
        self.assertGreater(raw, 0.15)
        # Missing rate: 150 of the first 1000 rows, none in the reference.
        self.assertAlmostEqual(w["columns"]["income"]["missing_rate"], 0.15, places=12)
        self.assertAlmostEqual(w["columns"]["income"]["missing_rate_change"], 0.15, places=12)
        self.assertEqual(w["columns"]["income"]["count"], 850)
        # Categories: chi-square against the reference's shares (purple is
        # "other", 0 in the reference: raised to EPS), as scipy computes it.
        top = self.prof["columns"]["color"]["top"]
        keys = sorted(top)
        live = collections.Counter(color[:1000])
        obs = np.array([live[k] for k in keys] + [live["purple"]], dtype=float)
        shares = np.maximum(np.array([top[k] for k in keys] + [0]) / 2000.0, EPS)
        exp = shares / shares.sum() * obs.sum()
        chi = stats.chisquare(obs, exp)
        self.assertAlmostEqual(w["columns"]["color"]["chi2"] / chi.statistic, 1, places=9)
        self.assertEqual(w["columns"]["color"]["chi2_df"], 4)
        self.assertAlmostEqual(w["columns"]["color"]["psi"],
                               psi(np.array([top[k] for k in keys] + [0]), obs), places=9)


class Quality(mtapi.ApiTestCase):
    def test_classification(self):
        rng = np.random.default_rng(3)
        x = rng.normal(0, 1, 500)
        yhat = ["yes" if v > 0 else "no" for v in x]
        prof = profile({"x": number_col(x), "pred": category_col(yhat, "prediction"),
                        "y": category_col(yhat, "target")}, 500)
        name = new_version(prof)
        labels = ["yes", "no", "maybe"]
        pred = list(rng.choice(["yes", "no"], 300))
        lab = list(rng.choice(labels, 300, p=[0.45, 0.45, 0.1]))
        rows = [{"features": {"x": float(rng.normal())}, "prediction": pred[i],
                 "label": lab[i], "timestamp": BASE_T} for i in range(300)]
        rows.append({"features": {"x": 0.5}, "prediction": "yes", "timestamp": BASE_T})
        self.assertOk(log(name, rows))
        (w,) = windows(name)
        q = w["quality"]
        self.assertEqual(q["labels"], 300)
        p, t = np.array(pred), np.array(lab)
        self.assertAlmostEqual(q["accuracy"], float(np.mean(p == t)), places=12)
        f1 = []
        for c in sorted(set(pred) | set(lab)):
            tp = np.sum((p == c) & (t == c))
            f1.append(2 * tp / (np.sum(p == c) + np.sum(t == c)))
        self.assertAlmostEqual(q["f1_macro"], float(np.mean(f1)), places=12)
        # The prediction column drifts like any other; the 301st row has
        # no label, which is not a missing label.
        self.assertEqual(w["columns"]["pred"]["count"], 301)
        self.assertEqual(w["columns"]["y"]["count"], 300)
        self.assertEqual(w["columns"]["y"]["missing_rate"], 0)

    def test_regression(self):
        rng = np.random.default_rng(5)
        x = rng.normal(0, 1, 400)
        prof = profile({"x": number_col(x), "yhat": number_col(2 * x, "prediction")}, 400)
        name = new_version(prof)
        pred = rng.normal(0, 2, 200)
        lab = pred + rng.normal(0.3, 0.5, 200)
        rows = [{"features": {"x": float(x[i])}, "prediction": float(pred[i]),
                 "label": float(lab[i]), "timestamp": BASE_T} for i in range(200)]
        self.assertOk(log(name, rows[:120]))
        self.assertOk(log(name, rows[120:]))
        (w,) = windows(name)
        err = pred - lab
        self.assertAlmostEqual(w["quality"]["rmse"], float(np.sqrt(np.mean(err ** 2))), places=9)
        self.assertAlmostEqual(w["quality"]["mae"], float(np.mean(np.abs(err))), places=9)


class BadInput(mtapi.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        x = np.arange(100, dtype=float)
        cls.prof = profile({"x": number_col(x), "c": category_col(["a", "b"] * 50)}, 100)
        cls.name = new_version(cls.prof, alias="live")
        ok(log(cls.name, [{"features": {"x": 1.0, "c": "a"}, "timestamp": BASE_T}]))

    def unchanged(self):
        (w,) = windows(self.name)
        self.assertEqual(w["rows"], 1)
        self.assertEqual(w["columns"]["x"]["count"], 1)

    def refused(self, r, status, contains):
        self.assertEqual(r.status, status, r.body)
        self.assertIn("error_code", r.body)
        self.assertIn(contains, r.body["message"])
        self.unchanged()

    def good(self, k=3):
        return [{"features": {"x": 2.0, "c": "b"}, "timestamp": BASE_T} for _ in range(k)]

    def test_unknown_feature(self):
        self.refused(log(self.name, self.good() + [{"features": {"z": 1}}]), 400,
                     "observations[3]: unknown feature 'z'")

    def test_wrong_type(self):
        self.refused(log(self.name, self.good() + [{"features": {"x": "old"}}]), 400,
                     "observations[3]: feature 'x': expected a number")
        self.refused(log(self.name, [{"features": {"c": {"a": 1}}}]), 400,
                     "expected a string")
        self.refused(log(self.name, [{"features": {}, "timestamp": "soon"}]), 400,
                     "'timestamp' must be an integer")
        self.refused(log(self.name, [{"features": {}, "timestamp": -1}]), 400, "out of range")
        self.refused(log(self.name, [{"features": {}, "extra": 1}]), 400, "unknown field 'extra'")
        self.refused(log(self.name, [{"features": {}, "prediction": "p"}]), 400,
                     "no prediction column")
        self.refused(log(self.name, [5]), 400, "must be a JSON object")
        self.refused(call("POST", mtapi.MLTRACK + "monitor/log",
                          {"name": self.name, "version": "1", "observations": {}}), 400,
                     "observations")
        self.refused(log(self.name, []), 400, "'observations' is empty")

    def test_missing_version_or_alias(self):
        self.refused(log(self.name, self.good(), version="7"), 404, "not found")
        self.refused(log(self.name, self.good(), alias="nope"), 404, "alias nope not found")
        self.refused(log(self.name, self.good(), alias="Production"), 404, "stage Production")
        self.refused(log(uniq("absent"), self.good()), 404, "not found")
        self.refused(log(self.name, self.good(), version="1", alias="live"), 400, "not both")
        self.refused(call("POST", mtapi.MLTRACK + "monitor/log",
                          {"name": self.name, "observations": self.good()}), 400, "version")

    def test_version_without_profile(self):
        name = new_version(None)
        r = log(name, self.good())
        self.assertEqual(r.status, 400)
        self.assertIn("has no reference profile", r.body["message"])
        r = mtapi.mt_get("monitor/get", name=name, version="1")
        self.assertEqual(r.status, 400)

    def test_rows_per_request_cap(self):
        self.refused(log(self.name, self.good(10001)), 413, "at most 10000")

    def test_rows_per_window_cap(self):
        # A window that is nearly full, as a busy day would leave it.
        name = new_version(self.prof)
        self.assertOk(log(name, self.good(2)))
        mtapi.psql("UPDATE monitor_windows SET row_count = 999999 WHERE model_id = "
                   "(SELECT id FROM registered_models WHERE name = %s)" % mtapi.sql_str(name))
        r = log(name, self.good(2))
        self.assertEqual(r.status, 429, r.body)
        self.assertIn("--monitor-max-window-rows", r.body["message"])
        (w,) = windows(name)
        self.assertEqual(w["columns"]["x"]["count"], 2)
        self.assertOk(log(name, self.good(1)))  # exactly at the cap
        self.assertEqual(windows(name)[0]["columns"]["x"]["count"], 3)

    def test_one_bad_row_folds_nothing_across_windows(self):
        rows = [{"features": {"x": 3.0}, "timestamp": BASE_T + 5 * HOUR},
                {"features": {"x": 3.0}, "timestamp": BASE_T}]
        rows.append({"features": {"x": None, "c": 7}, "label": "l", "timestamp": BASE_T})
        self.refused(log(self.name, rows), 400, "observations[2]")
        self.assertEqual(len(windows(self.name)), 1)

    def test_invalid_profile_refuses_the_version(self):
        name = uniq("mon-bad")
        ok(post("registered-models/create", {"name": name}))
        bad = json.loads(json.dumps(self.prof))
        bad["columns"]["x"]["bins"][0] += 1
        sha = upload_bundle(bundle_bytes({"m.bin": b"m"}, extra={"reference_profile": bad}))
        r = post("model-versions/create", {
            "name": name, "source": "mlflow-artifacts:/mltrack-bundles/%s.tar" % sha})
        self.assertEqual(r.status, 400, r.body)
        self.assertIn("reference_profile", r.body["message"])
        r = mtapi.get("model-versions/get", name=name, version="1")
        self.assertEqual(r.status, 404)


class Naming(mtapi.ApiTestCase):
    def test_stage_alias_and_default_timestamp(self):
        x = np.arange(50, dtype=float)
        prof = profile({"x": number_col(x)}, 50)
        name = new_version(prof)
        # Version 2, also with a profile, goes to Production: NAME@production
        # (any case) is it, and version 1 stays untouched.
        sha = upload_bundle(bundle_bytes({"model.bin": b"v2"}, extra={"reference_profile": prof}))
        ok(post("model-versions/create", {
            "name": name, "source": "mlflow-artifacts:/mltrack-bundles/%s.tar" % sha}))
        ok(post("model-versions/transition-stage", {"name": name, "version": "2",
                                                    "stage": "Production"}))
        before = mtapi.now_ms()
        r = log(name, [{"features": {"x": 3.0}}], alias="production")
        after = mtapi.now_ms()
        self.assertOk(r)
        self.assertEqual(r.body["version"], "2")
        # No timestamp: the server's clock picks the window.
        (start,) = r.body["windows"]
        self.assertIn(start, {before // HOUR * HOUR, after // HOUR * HOUR})
        (w,) = windows(name, alias="Production")
        self.assertEqual((w["start"], w["rows"], w["window_seconds"]), (start, 1, 3600))
        self.assertEqual(windows(name, version="2"), [w])
        self.assertEqual(windows(name), [])
        self.assertEqual(ok(mtapi.mt_get("monitor/get", name=name, alias="production",
                                         max_windows="1"))["version"], "2")
        r = mtapi.mt_get("monitor/get", name=name, version="2", max_windows="0")
        self.assertEqual(r.status, 400)


class Concurrency(mtapi.ApiTestCase):
    def test_concurrent_posts_add_up(self):
        x = np.arange(100, dtype=float)
        name = new_version(profile({"x": number_col(x)}, 100), alias="prod")
        errors = []

        def worker(k):
            for j in range(8):
                rows = [{"features": {"x": float((k * 8 + j + i) % 100)},
                         "timestamp": BASE_T + i} for i in range(50)]
                r = log(name, rows, alias="prod")
                if r.status != 200:
                    errors.append((r.status, r.body))

        ts = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(errors, [])
        (w,) = windows(name, alias="prod")
        self.assertEqual(w["rows"], 6 * 8 * 50)
        self.assertEqual(w["columns"]["x"]["count"], 6 * 8 * 50)
        raw = mtapi.psql("SELECT live->'columns'->'x'->'bins' FROM monitor_windows WHERE "
                         "model_id = (SELECT id FROM registered_models WHERE name = %s)"
                         % mtapi.sql_str(name))
        self.assertEqual(sum(json.loads(raw.strip())), 6 * 8 * 50)


if __name__ == "__main__":
    unittest.main()
