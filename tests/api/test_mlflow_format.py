"""What MLflow writes, byte for byte: doubles in the shortest form that reads
back (Python's repr, what MLflow's json.dumps emits: 0.99, 1e-07, 1e+300),
NaN as "NaN" (MLFLOW-3X.md section 1.2), in every answer that carries metric
values; and artifact downloads with MLflow's headers (section 7): the type
from the file name by MLflow's table, whatever the client asks for,
X-Content-Type-Options: nosniff, Content-Disposition: attachment, with
Range, ETag and 304 still working."""

import http.client
import re
import unittest

import mtapi
from mtapi import API, MLTRACK, call, new_run, post

setUpModule = mtapi.wait_ready

ART = "/api/2.0/mlflow-artifacts/artifacts/"
DBL_MAX_TEXT = "1.7976931348623157e+308"


def raw_get(path, query=None):
    """The answer's text, unparsed: the test is about the digits."""
    import urllib.parse
    url = mtapi._PREFIX + path
    if query:
        url += "?" + urllib.parse.urlencode(query, doseq=True)
    conn = http.client.HTTPConnection(mtapi._HOST, mtapi._PORT, timeout=mtapi.TIMEOUT)
    try:
        conn.request("GET", url, headers={"Accept": "application/json"})
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8")
    finally:
        conn.close()


def raw_post(path, body):
    import json
    conn = http.client.HTTPConnection(mtapi._HOST, mtapi._PORT, timeout=mtapi.TIMEOUT)
    try:
        conn.request("POST", mtapi._PREFIX + path, body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8")
    finally:
        conn.close()


# (value sent, text MLflow writes back)
VALUES = [
    (0.99, "0.99"), (1e-7, "1e-07"), (1e300, "1e+300"), (0.1 + 0.2, "0.30000000000000004"),
    (100.0, "100.0"), (-2.5, "-2.5"), (123.456, "123.456"), (1.5e16, "1.5e+16"),
    ("NaN", '"NaN"'),
    # MLflow's SQL store keeps +-Infinity as +-DBL_MAX, and reads that back.
    ("Infinity", DBL_MAX_TEXT), ("-Infinity", "-" + DBL_MAX_TEXT),
]


class TestNumbers(mtapi.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.rid = new_run()
        for i, (v, _) in enumerate(VALUES):
            key = "m%d" % i
            mtapi._ok(post("runs/log-metric", {"run_id": cls.rid, "key": key, "value": v,
                                               "timestamp": 1000 + i, "step": i}), "log")

    def values_in(self, text, key):
        """Every "value" written for metric key in the raw JSON text."""
        pat = r'\{"key":"%s","value":([^,}]+)' % re.escape(key)
        found = re.findall(pat, text)
        self.assertTrue(found, "no value for %s in %s" % (key, text[:300]))
        return found

    def check_all(self, text, where):
        for i, (v, want) in enumerate(VALUES):
            for got in self.values_in(text, "m%d" % i):
                self.assertEqual(got, want, "%s: %r written as %s" % (where, v, got))

    def test_runs_get(self):
        status, text = raw_get(API + "runs/get", {"run_id": self.rid})
        self.assertEqual(status, 200, text)
        self.check_all(text, "runs/get")
        # and each reads back as exactly the double sent
        got = {m["key"]: m["value"] for m in mtapi.get_run(self.rid)["data"]["metrics"]}
        for i, (v, _) in enumerate(VALUES[:8]):
            self.assertEqual(got["m%d" % i], v)
        self.assertEqual(got["m8"], "NaN")

    def test_runs_search(self):
        exp = mtapi.get_run(self.rid)["info"]["experiment_id"]
        status, text = raw_post(API + "runs/search", {"experiment_ids": [exp]})
        self.assertEqual(status, 200, text)
        self.check_all(text, "runs/search")

    def test_get_history_pages(self):
        # The paged writer (its own renderer): one page, and pages of one.
        for i, (v, want) in enumerate(VALUES):
            status, text = raw_get(API + "metrics/get-history",
                                   {"run_id": self.rid, "metric_key": "m%d" % i})
            self.assertEqual(status, 200, text)
            self.assertEqual(self.values_in(text, "m%d" % i), [want], v)
            status, text = raw_get(API + "metrics/get-history",
                                   {"run_id": self.rid, "metric_key": "m%d" % i,
                                    "max_results": 1})
            self.assertEqual(self.values_in(text, "m%d" % i), [want], v)

    def test_bulk_interval_and_sampled(self):
        for i, (v, want) in enumerate(VALUES):
            status, text = raw_get(API + "metrics/get-history-bulk-interval",
                                   {"run_ids": self.rid, "metric_key": "m%d" % i})
            self.assertEqual(status, 200, text)
            self.assertEqual(self.values_in(text, "m%d" % i), [want], v)
            status, text = raw_get(MLTRACK + "metrics/get-history-sampled",
                                   {"run_id": self.rid, "metric_key": "m%d" % i})
            self.assertEqual(status, 200, text)
            self.assertIn(want, text, v)
            self.assertNotIn("99999999999", text)



# (file name, Content-Type MLflow sends)
TYPES = [
    ("a.txt", "text/plain"), ("b.pkl", "application/octet-stream"), ("c.png", "image/png"),
    ("d.pdf", "application/pdf"), ("MLmodel", "text/plain"), ("mlproject", "text/plain"),
    ("conda.yaml", "text/plain"), ("meta.json", "text/plain"), ("page.html", "text/html"),
    ("data.parquet", "application/octet-stream"), ("train.py", "text/plain"),
]


class TestDownloadHeaders(mtapi.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = mtapi.uniq("dl")
        for name, _ in TYPES + [("my file.txt", None)]:
            r = call("PUT", ART + "%s/%s" % (cls.dir, name.replace(" ", "%20")),
                     raw=b"abcdefghij", headers={"Content-Type": "application/octet-stream"})
            assert r.status == 200, (name, r.status, r.body)

    def get(self, name, headers=None):
        return call("GET", ART + "%s/%s" % (self.dir, name.replace(" ", "%20")),
                    headers=headers)

    def test_type_from_the_name_and_attachment(self):
        for name, ctype in TYPES:
            r = self.get(name)
            self.assertEqual(r.status, 200, name)
            self.assertEqual(r.headers["Content-Type"], ctype, name)
            self.assertEqual(r.headers["Content-Disposition"], "attachment; filename=%s" % name)
            self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
            # a type the client asks for is ignored
            r = self.get(name, headers={"Accept": "text/html"})
            self.assertEqual(r.headers["Content-Type"], ctype, name)
        # a name that is not an HTTP token is quoted
        r = self.get("my file.txt")
        self.assertEqual(r.headers["Content-Disposition"], 'attachment; filename="my file.txt"')
        self.assertEqual(r.headers["Content-Type"], "text/plain")

    def test_range_etag_and_304_keep_their_headers(self):
        r = self.get("c.png", headers={"Range": "bytes=2-4"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, "cde")
        self.assertEqual(r.headers["Content-Range"], "bytes 2-4/10")
        self.assertEqual(r.headers["Content-Type"], "image/png")
        self.assertEqual(r.headers["Content-Disposition"], "attachment; filename=c.png")
        etag = self.get("c.png").headers["ETag"]
        r = self.get("c.png", headers={"If-None-Match": etag})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.headers["ETag"], etag)


if __name__ == "__main__":
    unittest.main()
