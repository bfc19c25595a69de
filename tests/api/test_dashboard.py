"""The dashboard's server side: static files (server/web.c) and the
experiments/summary extension its experiments list is drawn from."""

import unittest

import mtapi
from mtapi import call, mt_get, new_experiment, new_run, post, uniq

setUpModule = mtapi.wait_ready


class TestSummary(mtapi.ApiTestCase):
    def test_counts_and_last_activity(self):
        eid = new_experiment(uniq("dash"))
        empty = new_experiment(uniq("dash-empty"))
        r1 = new_run(eid, start_time=1000)
        new_run(eid, start_time=2000)
        gone = new_run(eid, start_time=3000)
        self.assertOk(post("runs/update", {"run_id": r1, "status": "FINISHED", "end_time": 5000}))
        self.assertOk(post("runs/delete", {"run_id": gone}))
        body = self.assertOk(mt_get("experiments/summary", experiment_ids=[eid, empty, "999999999"]))
        by_id = {e["experiment_id"]: e for e in body["experiments"]}
        self.assertEqual(set(by_id), {eid, empty})
        self.assertEqual(by_id[eid]["run_count"], 2)
        self.assertEqual(by_id[eid]["running_count"], 1)
        self.assertEqual(by_id[empty]["run_count"], 0)
        self.assertEqual(by_id[empty]["running_count"], 0)
        # The experiment's own last update is later than these old runs.
        exp = self.assertOk(mtapi.get("experiments/get", experiment_id=eid))["experiment"]
        self.assertEqual(by_id[eid]["last_activity"], exp["last_update_time"])

    def test_bad_ids(self):
        self.assertInvalid(mt_get("experiments/summary"), "experiment_ids")
        self.assertInvalid(mt_get("experiments/summary", experiment_ids=["x1"]), "x1")
        self.assertEqual(mt_get("experiments/summary", experiment_ids=["1"] * 1001).status, 400)


class TestStatic(mtapi.ApiTestCase):
    """The build copies web/ next to mltrackd, so these run on every build."""

    def test_page_paths_answer_index_html(self):
        for path in ["/", "/experiments/1", "/runs/abc", "/compare", "/models", "/models/a/b"]:
            r = call("GET", path)
            self.assertEqual(r.status, 200, path)
            self.assertTrue(r.headers["Content-Type"].startswith("text/html"), path)
            self.assertEqual(r.headers["Content-Security-Policy"],
                             "default-src 'self'; frame-ancestors 'none'")
            self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
            self.assertIn('<script type="module" src="/js/app.js">', r.body)

    def test_not_found_and_no_listing(self):
        for path in ["/js/", "/js", "/runs/a/b", "/experiments/", "/nothing.css", "/.stamp"]:
            self.assertEqual(call("GET", path).status, 404, path)

    def test_etag_revalidation_and_types(self):
        r = call("GET", "/js/app.js")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/javascript"))
        etag = r.headers["ETag"]
        self.assertRegex(etag, r'^"[0-9a-f]{64}"$')
        self.assertEqual(call("GET", "/js/app.js", headers={"If-None-Match": etag}).status, 304)
        self.assertEqual(call("GET", "/js/app.js", headers={"If-None-Match": 'W/"x", ' + etag}).status, 304)
        self.assertEqual(call("GET", "/js/app.js", headers={"If-None-Match": '"x"'}).status, 200)
        self.assertTrue(call("GET", "/app.css").headers["Content-Type"].startswith("text/css"))
        self.assertTrue(call("GET", "/favicon.svg").headers["Content-Type"].startswith("image/svg+xml"))

    def test_methods(self):
        r = call("POST", "/", body={})
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers["Allow"], "GET, HEAD")
        r = call("HEAD", "/app.css")
        self.assertEqual(r.status, 200)


if __name__ == "__main__":
    unittest.main()
