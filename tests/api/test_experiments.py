"""experiments/*: create, get, get-by-name, update, delete, restore,
set-experiment-tag and search (MLFLOW-API.md sections 2, 3, 6, 7, 8)."""

import unittest

import mtapi
from mtapi import get, kv, new_experiment, new_run, now_ms, post, uniq

setUpModule = mtapi.wait_ready


class TestCreateGet(mtapi.ApiTestCase):
    def test_create_returns_string_id_and_get_shape(self):
        name = uniq("exp")
        t0 = now_ms()
        r = post("experiments/create", {"name": name})
        body = self.assertOk(r)
        self.assertEqual(list(body), ["experiment_id"])
        eid = body["experiment_id"]
        self.assertIsInstance(eid, str)
        self.assertRegex(eid, r"^[0-9]+$")
        self.assertNotEqual(eid, "0")

        exp = self.assertOk(get("experiments/get", experiment_id=eid))["experiment"]
        self.assertEqual(exp["experiment_id"], eid)
        self.assertEqual(exp["name"], name)
        self.assertEqual(exp["lifecycle_stage"], "active")
        self.assertIsInstance(exp["artifact_location"], str)
        self.assertTrue(exp["artifact_location"].endswith("/" + eid), exp)
        self.assertInt(exp["creation_time"])
        self.assertInt(exp["last_update_time"])
        self.assertGreaterEqual(exp["creation_time"], t0 - 60000)
        self.assertLessEqual(exp["creation_time"], now_ms() + 60000)
        # Empty repeated fields are left out.
        self.assertNotIn("tags", exp)

    def test_create_with_tags_and_artifact_location(self):
        name = uniq("exp")
        loc = "s3://bucket/" + name
        eid = new_experiment(name, artifact_location=loc,
                             tags=[{"key": "team", "value": "vision"},
                                   {"key": "mlflow.note.content", "value": "hello"}])
        exp = mtapi.get_experiment(eid)
        self.assertEqual(exp["artifact_location"], loc)
        self.assertEqual(kv(exp["tags"]), {"team": "vision", "mlflow.note.content": "hello"})
        for t in exp["tags"]:
            self.assertEqual(set(t), {"key", "value"})

    def test_create_missing_or_empty_name(self):
        self.assertMissing(post("experiments/create", {}), "name")
        self.assertMissing(post("experiments/create", {"name": ""}), "name")

    def test_create_name_too_long(self):
        name = uniq("long") + "x" * 500
        self.assertInvalid(post("experiments/create", {"name": name}))
        self.assertNotFound(get("experiments/get-by-name", experiment_name=name))

    def test_create_duplicate_name(self):
        name = uniq("dup")
        eid = new_experiment(name)
        r = post("experiments/create", {"name": name})
        self.assertError(r, 400, "RESOURCE_ALREADY_EXISTS")
        # The original is untouched and there is still exactly one.
        got = self.assertOk(get("experiments/get-by-name", experiment_name=name))
        self.assertEqual(got["experiment"]["experiment_id"], eid)
        s = self.assertOk(post("experiments/search", {
            "max_results": 10, "filter": "name = '%s'" % name, "view_type": "ALL"}))
        self.assertEqual([e["experiment_id"] for e in s["experiments"]], [eid])

    def test_create_duplicate_of_deleted_name(self):
        name = uniq("dupdel")
        eid = new_experiment(name)
        self.assertEmptyOk(post("experiments/delete", {"experiment_id": eid}))
        self.assertError(post("experiments/create", {"name": name}), 400,
                         "RESOURCE_ALREADY_EXISTS")

    def test_create_rejects_runs_artifact_location(self):
        name = uniq("badloc")
        r = post("experiments/create", {"name": name, "artifact_location": "runs:/abc/x"})
        self.assertInvalid(r)
        self.assertNotFound(get("experiments/get-by-name", experiment_name=name))

    def test_get_missing_and_unknown(self):
        self.assertMissing(get("experiments/get"), "experiment_id")
        self.assertNotFound(get("experiments/get", experiment_id="987654321"))

    def test_default_experiment_exists(self):
        exp = self.assertOk(get("experiments/get", experiment_id="0"))["experiment"]
        self.assertEqual(exp["experiment_id"], "0")
        self.assertEqual(exp["name"], "Default")
        self.assertEqual(exp["lifecycle_stage"], "active")
        by_name = self.assertOk(get("experiments/get-by-name", experiment_name="Default"))
        self.assertEqual(by_name["experiment"]["experiment_id"], "0")

    def test_get_by_name(self):
        name = uniq("byname")
        eid = new_experiment(name)
        exp = self.assertOk(get("experiments/get-by-name", experiment_name=name))["experiment"]
        self.assertEqual(exp["experiment_id"], eid)
        self.assertEqual(exp["name"], name)
        self.assertEqual(mtapi.norm(exp), mtapi.get_experiment(eid))

    def test_get_by_name_missing_and_unknown(self):
        self.assertMissing(get("experiments/get-by-name"), "experiment_name")
        self.assertNotFound(get("experiments/get-by-name", experiment_name=uniq("nope")))

    def test_get_by_name_finds_deleted(self):
        name = uniq("bynamedel")
        eid = new_experiment(name)
        self.assertEmptyOk(post("experiments/delete", {"experiment_id": eid}))
        exp = self.assertOk(get("experiments/get-by-name", experiment_name=name))["experiment"]
        self.assertEqual(exp["experiment_id"], eid)
        self.assertEqual(exp["lifecycle_stage"], "deleted")


class TestUpdate(mtapi.ApiTestCase):
    def test_rename(self):
        old, new = uniq("old"), uniq("new")
        eid = new_experiment(old)
        self.assertEmptyOk(post("experiments/update", {"experiment_id": eid, "new_name": new}))
        self.assertEqual(mtapi.get_experiment(eid)["name"], new)
        self.assertNotFound(get("experiments/get-by-name", experiment_name=old))
        self.assertEqual(self.assertOk(get("experiments/get-by-name", experiment_name=new))
                         ["experiment"]["experiment_id"], eid)

    def test_rename_required_fields(self):
        name = uniq("ren")
        eid = new_experiment(name)
        self.assertMissing(post("experiments/update", {"experiment_id": eid}), "new_name")
        self.assertMissing(post("experiments/update", {"new_name": uniq("x")}), "experiment_id")
        self.assertEqual(mtapi.get_experiment(eid)["name"], name)

    def test_rename_unknown(self):
        self.assertNotFound(post("experiments/update",
                                 {"experiment_id": "987654321", "new_name": uniq("x")}))

    def test_rename_to_taken_name_is_refused(self):
        a, b = uniq("a"), uniq("b")
        ea = new_experiment(a)
        new_experiment(b)
        r = post("experiments/update", {"experiment_id": ea, "new_name": b})
        self.assertEqual(r.status, 400, r.body)
        self.assertIn(r.body.get("error_code"), ("RESOURCE_ALREADY_EXISTS", "BAD_REQUEST",
                                                 "INVALID_PARAMETER_VALUE"))
        self.assertEqual(mtapi.get_experiment(ea)["name"], a)

    def test_rename_deleted_is_refused(self):
        name = uniq("rendel")
        eid = new_experiment(name)
        self.assertEmptyOk(post("experiments/delete", {"experiment_id": eid}))
        r = post("experiments/update", {"experiment_id": eid, "new_name": uniq("x")})
        # MLflow answers INVALID_STATE (500); a 400 is the better answer.
        self.assertIn(r.status, (400, 500), r.body)
        self.assertIn(r.body.get("error_code"), ("INVALID_STATE", "INVALID_PARAMETER_VALUE"))
        self.assertEqual(mtapi.get_experiment(eid)["name"], name)


class TestDeleteRestore(mtapi.ApiTestCase):
    def test_delete_and_restore_cascade_to_runs(self):
        eid = new_experiment()
        r1, r2 = new_run(eid), new_run(eid)
        self.assertEmptyOk(post("experiments/delete", {"experiment_id": eid}))

        exp = mtapi.get_experiment(eid)
        self.assertEqual(exp["lifecycle_stage"], "deleted")
        for rid in (r1, r2):
            self.assertEqual(mtapi.get_run(rid)["info"]["lifecycle_stage"], "deleted")
        active = self.assertOk(post("runs/search", {"experiment_ids": [eid]}))
        self.assertEqual(active, {})
        deleted = self.assertOk(post("runs/search", {"experiment_ids": [eid],
                                                     "run_view_type": "DELETED_ONLY"}))
        self.assertEqual({x["info"]["run_id"] for x in deleted["runs"]}, {r1, r2})
        # Runs of a deleted experiment take no writes.
        r = post("runs/log-parameter", {"run_id": r1, "key": "p", "value": "1"})
        self.assertInvalid(r, "must be in the 'active' state")
        self.assertNotIn("params", mtapi.get_run(r1)["data"])

        self.assertEmptyOk(post("experiments/restore", {"experiment_id": eid}))
        self.assertEqual(mtapi.get_experiment(eid)["lifecycle_stage"], "active")
        for rid in (r1, r2):
            self.assertEqual(mtapi.get_run(rid)["info"]["lifecycle_stage"], "active")
        active = self.assertOk(post("runs/search", {"experiment_ids": [eid]}))
        self.assertEqual({x["info"]["run_id"] for x in active["runs"]}, {r1, r2})
        self.assertEmptyOk(post("runs/log-parameter", {"run_id": r1, "key": "p", "value": "1"}))

    def test_delete_required_and_unknown(self):
        self.assertMissing(post("experiments/delete", {}), "experiment_id")
        self.assertNotFound(post("experiments/delete", {"experiment_id": "987654321"}))

    def test_restore_required_unknown_and_active(self):
        self.assertMissing(post("experiments/restore", {}), "experiment_id")
        self.assertNotFound(post("experiments/restore", {"experiment_id": "987654321"}))
        eid = new_experiment()
        # Restoring an experiment that is not deleted: 404.
        self.assertNotFound(post("experiments/restore", {"experiment_id": eid}))
        self.assertEqual(mtapi.get_experiment(eid)["lifecycle_stage"], "active")

    def test_create_run_in_deleted_experiment_is_refused(self):
        eid = new_experiment()
        self.assertEmptyOk(post("experiments/delete", {"experiment_id": eid}))
        r = post("runs/create", {"experiment_id": eid, "start_time": now_ms()})
        self.assertInvalid(r, "must be in the 'active' state")
        s = self.assertOk(post("runs/search", {"experiment_ids": [eid], "run_view_type": "ALL"}))
        self.assertEqual(s, {})


class TestExperimentTags(mtapi.ApiTestCase):
    def test_set_tag_upserts(self):
        eid = new_experiment()
        self.assertEmptyOk(post("experiments/set-experiment-tag",
                                {"experiment_id": eid, "key": "k", "value": "v1"}))
        self.assertEmptyOk(post("experiments/set-experiment-tag",
                                {"experiment_id": eid, "key": "other", "value": "x"}))
        self.assertEmptyOk(post("experiments/set-experiment-tag",
                                {"experiment_id": eid, "key": "k", "value": "v2"}))
        tags = mtapi.get_experiment(eid)["tags"]
        self.assertEqual(len(tags), 2)
        self.assertEqual(kv(tags), {"k": "v2", "other": "x"})

    def test_set_tag_errors(self):
        eid = new_experiment()
        self.assertMissing(post("experiments/set-experiment-tag",
                                {"experiment_id": eid, "value": "v"}), "key")
        self.assertMissing(post("experiments/set-experiment-tag",
                                {"key": "k", "value": "v"}), "experiment_id")
        self.assertNotFound(post("experiments/set-experiment-tag",
                                 {"experiment_id": "987654321", "key": "k", "value": "v"}))
        self.assertInvalid(post("experiments/set-experiment-tag",
                                {"experiment_id": eid, "key": "bad key!", "value": "v"}))
        self.assertNotIn("tags", mtapi.get_experiment(eid))

    def test_set_tag_on_deleted_experiment_is_refused(self):
        eid = new_experiment()
        self.assertEmptyOk(post("experiments/delete", {"experiment_id": eid}))
        r = post("experiments/set-experiment-tag", {"experiment_id": eid, "key": "k", "value": "v"})
        self.assertInvalid(r)
        self.assertNotIn("tags", mtapi.get_experiment(eid))


class TestSearchExperiments(mtapi.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.prefix = uniq("srch") + "-"
        cls.ids = {}
        for i, team in enumerate(["red", "blue", "red", "green", "Red"]):
            name = "%s%d" % (cls.prefix, i)
            cls.ids[name] = new_experiment(name, tags=[{"key": "team", "value": team}])
        cls.deleted_name = cls.prefix + "deleted"
        cls.deleted_id = new_experiment(cls.deleted_name)
        r = post("experiments/delete", {"experiment_id": cls.deleted_id})
        if r.status != 200:
            raise mtapi.ApiError("delete failed: %r" % (r.body,))

    def search(self, **body):
        body.setdefault("max_results", 1000)
        return self.assertOk(post("experiments/search", body))

    def names(self, body):
        return [e["name"] for e in body.get("experiments", [])]

    def test_max_results_required(self):
        r = post("experiments/search", {"filter": "name LIKE '%s%%'" % self.prefix})
        self.assertInvalid(r, "positive integer")
        r = post("experiments/search", {"max_results": 0})
        self.assertEqual(r.body["message"],
                         "Invalid value for max_results. It must be a positive integer, but got 0")
        r = post("experiments/search", {"max_results": 50001})
        self.assertEqual(r.body["message"],
                         "Invalid value for max_results. It must be at most 50000, but got 50001")

    def test_filter_name_like_default_active_only(self):
        b = self.search(filter="name LIKE '%s%%'" % self.prefix, order_by=["name ASC"])
        self.assertEqual(self.names(b), ["%s%d" % (self.prefix, i) for i in range(5)])
        self.assertNotIn("next_page_token", b)
        for e in b["experiments"]:
            self.assertEqual(e["lifecycle_stage"], "active")
            self.assertEqual(e["experiment_id"], self.ids[e["name"]])

    def test_filter_name_equals_and_attribute_prefix(self):
        name = self.prefix + "3"
        self.assertEqual(self.names(self.search(filter="name = '%s'" % name)), [name])
        self.assertEqual(self.names(self.search(filter="attribute.name = '%s'" % name)), [name])

    def test_filter_ilike(self):
        b = self.search(filter="name ILIKE '%s%%'" % self.prefix.upper())
        self.assertEqual(len(b["experiments"]), 5)

    def test_filter_tags(self):
        b = self.search(filter="name LIKE '%s%%' AND tags.team = 'red'" % self.prefix,
                        order_by=["name ASC"])
        self.assertEqual(self.names(b), [self.prefix + "0", self.prefix + "2"])
        b = self.search(filter="name LIKE '%s%%' and tags.team ILIKE 'red'" % self.prefix,
                        order_by=["name ASC"])
        self.assertEqual(self.names(b), [self.prefix + "0", self.prefix + "2", self.prefix + "4"])
        b = self.search(filter="name LIKE '%s%%' AND tags.team != 'red'" % self.prefix,
                        order_by=["name ASC"])
        self.assertEqual(self.names(b), [self.prefix + "1", self.prefix + "3", self.prefix + "4"])

    def test_view_type(self):
        flt = "name LIKE '%s%%'" % self.prefix
        self.assertEqual(self.names(self.search(filter=flt, view_type="DELETED_ONLY")),
                         [self.deleted_name])
        b = self.search(filter=flt, view_type="ALL")
        self.assertEqual(set(self.names(b)), set(self.ids) | {self.deleted_name})
        b = self.search(filter=flt, view_type="ACTIVE_ONLY")
        self.assertEqual(set(self.names(b)), set(self.ids))

    def test_order_by_name_desc(self):
        b = self.search(filter="name LIKE '%s%%'" % self.prefix, order_by=["name DESC"])
        self.assertEqual(self.names(b), ["%s%d" % (self.prefix, i) for i in range(4, -1, -1)])

    def test_no_match_is_empty_object(self):
        self.assertEqual(self.search(filter="name = '%s'" % uniq("none")), {})

    def test_pagination(self):
        flt = "name LIKE '%s%%'" % self.prefix
        seen, token, pages = [], None, 0
        while True:
            body = {"max_results": 2, "filter": flt, "order_by": ["name ASC"]}
            if token:
                body["page_token"] = token
            b = self.search(**body)
            pages += 1
            self.assertLessEqual(len(b.get("experiments", [])), 2)
            seen += self.names(b)
            token = b.get("next_page_token")
            if not token:
                break
            self.assertLess(pages, 10, "pagination does not end")
        self.assertEqual(seen, ["%s%d" % (self.prefix, i) for i in range(5)])
        # Experiments fetch one row more than asked: no token after the last row.
        self.assertEqual(pages, 3)

    def test_get_form(self):
        r = get("experiments/search", max_results=2, filter="name LIKE '%s%%'" % self.prefix,
                order_by="name ASC")
        b = self.assertOk(r)
        self.assertEqual(self.names(b), [self.prefix + "0", self.prefix + "1"])
        self.assertIn("next_page_token", b)
        b2 = self.assertOk(get("experiments/search", max_results=2,
                               filter="name LIKE '%s%%'" % self.prefix,
                               order_by="name ASC", page_token=b["next_page_token"]))
        self.assertEqual(self.names(b2), [self.prefix + "2", self.prefix + "3"])
        b3 = self.assertOk(get("experiments/search", max_results=10, view_type="DELETED_ONLY",
                               filter="name LIKE '%s%%'" % self.prefix))
        self.assertEqual(self.names(b3), [self.deleted_name])
        self.assertInvalid(get("experiments/search", filter="name LIKE 'x%'"))

    def test_bad_filter_and_token(self):
        for flt in ("name = unquoted", "name LIKE 'a%' OR name LIKE 'b%'",
                    "metrics.acc > 1", "name =", "(name = 'a')"):
            with self.subTest(filter=flt):
                r = post("experiments/search", {"max_results": 10, "filter": flt})
                self.assertInvalid(r)
        r = post("experiments/search", {"max_results": 10, "page_token": "!!not a token!!"})
        self.assertInvalid(r, "Invalid page token")

    def test_bad_order_by(self):
        r = post("experiments/search", {"max_results": 10, "order_by": ["name SIDEWAYS"]})
        self.assertInvalid(r)
        r = post("experiments/search", {"max_results": 10, "order_by": ["metrics.acc"]})
        self.assertInvalid(r)


if __name__ == "__main__":
    unittest.main()
