"""Model registry: registered-models/* and model-versions/* (MLFLOW-API.md
sections 2, 4, 6, 7 and 8): shapes, error codes and messages, limits,
search grammar and paging, stages, aliases, redaction of deleted versions,
and concurrent promotions and creations."""

import threading
import time
import unittest

import mtapi
from mtapi import API, call, get, kv, new_run, now_ms, post, uniq

setUpModule = mtapi.wait_ready


def patch(endpoint, body):
    return call("PATCH", API + endpoint, body=body)


def delete(endpoint, body):
    return call("DELETE", API + endpoint, body=body)


def ok(r):
    if r.status != 200 or not isinstance(r.body, dict):
        raise mtapi.ApiError("%d %r" % (r.status, r.body))
    return r.body


def new_model(name=None, **fields):
    body = {"name": name or uniq("model")}
    body.update(fields)
    return ok(post("registered-models/create", body))["registered_model"]["name"]


def new_version(name, source=None, **fields):
    body = {"name": name, "source": source or "s3://bucket/%s/model" % uniq("src")}
    body.update(fields)
    return ok(post("model-versions/create", body))["model_version"]


def transition(name, version, stage, archive=False):
    return post("model-versions/transition-stage", {
        "name": name, "version": str(version), "stage": stage,
        "archive_existing_versions": archive})


def get_version(name, version):
    return get("model-versions/get", name=name, version=str(version))


def stage_of(name, version):
    return ok(get_version(name, version))["model_version"]["current_stage"]


class RegistryCase(mtapi.ApiTestCase):
    def assertVersionShape(self, mv, name, version):
        self.assertEqual(mv["name"], name)
        self.assertEqual(mv["version"], str(version))
        self.assertInt(mv["creation_timestamp"])
        self.assertInt(mv["last_updated_timestamp"])
        self.assertEqual(mv["status"], "READY")
        self.assertIn(mv["current_stage"], ("None", "Staging", "Production", "Archived"))
        self.assertNotIn("user_id", mv)  # never filled: left out


class TestRegisteredModels(RegistryCase):
    def test_create_shape(self):
        name = uniq("model")
        t0 = now_ms()
        body = self.assertOk(post("registered-models/create", {"name": name}))
        self.assertEqual(list(body), ["registered_model"])
        rm = body["registered_model"]
        self.assertEqual(rm["name"], name)
        self.assertInt(rm["creation_timestamp"])
        self.assertGreaterEqual(rm["creation_timestamp"], t0 - 60000)
        self.assertEqual(rm["last_updated_timestamp"], rm["creation_timestamp"])
        # Unset and empty fields are left out.
        for absent in ("description", "latest_versions", "tags", "aliases", "user_id"):
            self.assertNotIn(absent, rm)
        self.assertEqual(self.assertOk(get("registered-models/get", name=name)), body)

    def test_create_with_tags_and_description(self):
        name = new_model(tags=[{"key": "team", "value": "a"}, {"key": "team", "value": "b"},
                               {"key": "x.y", "value": "1"}], description="hello")
        rm = self.assertOk(get("registered-models/get", name=name))["registered_model"]
        self.assertEqual(rm["description"], "hello")
        # A repeated key: the last value wins.
        self.assertEqual(kv(rm["tags"]), {"team": "b", "x.y": "1"})

    def test_create_duplicate(self):
        name = new_model()
        r = post("registered-models/create", {"name": name})
        self.assertError(r, 400, "RESOURCE_ALREADY_EXISTS",
                         "Registered Model (name=%s) already exists" % name)

    def test_create_missing_or_bad_name(self):
        self.assertMissing(post("registered-models/create", {}), "name")
        self.assertMissing(post("registered-models/create", {"name": ""}), "name")
        self.assertInvalid(post("registered-models/create", {"name": "n" * 257}))
        self.assertInvalid(post("registered-models/create", {"name": ["a"]}))
        self.assertOk(post("registered-models/create", {"name": uniq("m") + "x" * 200}))

    def test_create_bad_tags_write_nothing(self):
        name = uniq("model")
        self.assertInvalid(post("registered-models/create", {
            "name": name, "tags": [{"key": "ok", "value": "1"}, {"key": "bad key!", "value": "1"}]}),
            "Invalid tag name")
        self.assertNotFound(get("registered-models/get", name=name))

    def test_create_needs_json_content_type(self):
        r = call("POST", API + "registered-models/create", raw='{"name": "x"}')
        self.assertInvalid(r, "Content-Type must be one of ['application/json']")

    def test_get_missing(self):
        name = uniq("nope")
        self.assertNotFound(get("registered-models/get", name=name),
                            "Registered Model with name=%s not found" % name)
        self.assertMissing(get("registered-models/get"), "name")

    def test_rename_versions_follow(self):
        name = new_model()
        new_version(name)
        new_version(name)
        new_name = uniq("renamed")
        before = ok(get("registered-models/get", name=name))["registered_model"]
        body = self.assertOk(post("registered-models/rename", {"name": name, "new_name": new_name}))
        rm = body["registered_model"]
        self.assertEqual(rm["name"], new_name)
        self.assertEqual(rm["creation_timestamp"], before["creation_timestamp"])
        self.assertNotFound(get("registered-models/get", name=name))
        self.assertNotFound(get_version(name, 1))
        for v in (1, 2):
            mv = self.assertOk(get_version(new_name, v))["model_version"]
            self.assertEqual(mv["name"], new_name)
        self.assertEqual(len(rm["latest_versions"]), 1)  # both in None: the newest
        self.assertEqual(rm["latest_versions"][0]["version"], "2")
        self.assertEqual(rm["latest_versions"][0]["name"], new_name)
        # The next version continues the numbering.
        self.assertEqual(new_version(new_name)["version"], "3")

    def test_rename_errors(self):
        a, b = new_model(), new_model()
        self.assertError(post("registered-models/rename", {"name": a, "new_name": b}), 400,
                         "RESOURCE_ALREADY_EXISTS", "Registered Model (name=%s) already exists" % b)
        self.assertOk(get("registered-models/get", name=a))
        missing = uniq("nope")
        self.assertNotFound(post("registered-models/rename", {"name": missing, "new_name": uniq("x")}),
                            "Registered Model with name=%s not found" % missing)
        self.assertMissing(post("registered-models/rename", {"name": a}), "new_name")

    def test_update_is_patch(self):
        name = new_model(description="old")
        before = ok(get("registered-models/get", name=name))["registered_model"]
        body = self.assertOk(patch("registered-models/update", {"name": name, "description": "new"}))
        self.assertEqual(body["registered_model"]["description"], "new")
        self.assertGreaterEqual(body["registered_model"]["last_updated_timestamp"],
                                before["last_updated_timestamp"])
        rm = ok(get("registered-models/get", name=name))["registered_model"]
        self.assertEqual(rm["description"], "new")
        self.assertError(post("registered-models/update", {"name": name}), 405)
        self.assertNotFound(patch("registered-models/update", {"name": uniq("nope"), "description": "x"}))
        self.assertInvalid(patch("registered-models/update", {"name": name, "description": "d" * 5001}))

    def test_delete_is_hard(self):
        name = new_model(tags=[{"key": "k", "value": "v"}])
        new_version(name)
        new_version(name)
        ok(post("registered-models/alias", {"name": name, "alias": "champ", "version": "1"}))
        self.assertEmptyOk(delete("registered-models/delete", {"name": name}))
        self.assertNotFound(get("registered-models/get", name=name))
        self.assertNotFound(get_version(name, 1))
        self.assertEqual(self.assertOk(get("model-versions/search", filter="name = '%s'" % name)), {})
        self.assertNotFound(delete("registered-models/delete", {"name": name}))
        # The name is free again and numbering starts over.
        new_model(name)
        self.assertEqual(new_version(name)["version"], "1")
        rm = ok(get("registered-models/get", name=name))["registered_model"]
        self.assertNotIn("tags", rm)
        self.assertNotIn("aliases", rm)

    def test_methods(self):
        self.assertError(call("POST", API + "registered-models/delete", body={"name": "x"}), 405)
        self.assertError(post("registered-models/search", {}), 405)
        self.assertError(post("model-versions/search", {}), 405)
        self.assertError(call("GET", API + "registered-models/create"), 405)

    def test_ajax_mirror(self):
        name = new_model()
        r = mtapi.ajax_get("registered-models/get", name=name)
        self.assertEqual(self.assertOk(r)["registered_model"]["name"], name)
        r = call("PATCH", mtapi.AJAX + "registered-models/update", body={"name": name, "description": "d"})
        self.assertEqual(self.assertOk(r)["registered_model"]["description"], "d")


class TestModelTags(RegistryCase):
    def test_set_and_delete(self):
        name = new_model()
        self.assertEmptyOk(post("registered-models/set-tag", {"name": name, "key": "a", "value": "1"}))
        self.assertEmptyOk(post("registered-models/set-tag", {"name": name, "key": "a", "value": "2"}))
        self.assertEmptyOk(post("registered-models/set-tag", {"name": name, "key": "b"}))
        rm = ok(get("registered-models/get", name=name))["registered_model"]
        self.assertEqual(kv(rm["tags"]), {"a": "2", "b": ""})
        self.assertEmptyOk(delete("registered-models/delete-tag", {"name": name, "key": "a"}))
        # A missing tag is a silent no-op, as in MLflow's SQL store.
        self.assertEmptyOk(delete("registered-models/delete-tag", {"name": name, "key": "a"}))
        rm = ok(get("registered-models/get", name=name))["registered_model"]
        self.assertEqual(kv(rm["tags"]), {"b": ""})

    def test_limits(self):
        name = new_model()
        self.assertEmptyOk(post("registered-models/set-tag",
                                {"name": name, "key": "k" * 250, "value": "v" * 5000}))
        self.assertInvalid(post("registered-models/set-tag",
                                {"name": name, "key": "k" * 251, "value": "v"}))
        self.assertInvalid(post("registered-models/set-tag",
                                {"name": name, "key": "big", "value": "v" * 5001}),
                           "exceeded length limit of 5000")
        self.assertInvalid(post("registered-models/set-tag", {"name": name, "key": "bad key!"}),
                           "Invalid tag name")
        self.assertInvalid(post("registered-models/set-tag", {"name": name, "key": "a//b"}))
        self.assertMissing(post("registered-models/set-tag", {"name": name}), "key")
        rm = ok(get("registered-models/get", name=name))["registered_model"]
        self.assertEqual(list(kv(rm["tags"])), ["k" * 250])

    def test_missing_model(self):
        name = uniq("nope")
        self.assertNotFound(post("registered-models/set-tag", {"name": name, "key": "a", "value": "1"}),
                            "Registered Model with name=%s not found" % name)
        self.assertNotFound(delete("registered-models/delete-tag", {"name": name, "key": "a"}))


class TestSearchModels(RegistryCase):
    @classmethod
    def setUpClass(cls):
        cls.prefix = uniq("srch")
        cls.names = [cls.prefix + "-" + s for s in ("a", "b", "c")]
        for i, n in enumerate(cls.names):
            new_model(n, tags=[{"key": "idx", "value": str(i)}, {"key": "grp", "value": "g"}])
        # b is touched last: it sorts first by last_updated_timestamp DESC.
        # (In a later millisecond than c's creation: a tie made the order
        # test fail now and then.)
        time.sleep(0.01)
        ok(patch("registered-models/update", {"name": cls.names[1], "description": "later"}))

    def search(self, **q):
        q.setdefault("filter", "name LIKE '%s-%%'" % self.prefix)
        return get("registered-models/search", **q)

    def names_of(self, body):
        return [m["name"] for m in body.get("registered_models", [])]

    def test_filter_and_default_order(self):
        self.assertEqual(self.names_of(self.assertOk(self.search())), self.names)
        b = self.assertOk(self.search(filter="name = '%s'" % self.names[2]))
        self.assertEqual(self.names_of(b), [self.names[2]])
        b = self.assertOk(self.search(filter="name ILIKE '%s-A'" % self.prefix.upper()))
        self.assertEqual(self.names_of(b), [self.names[0]])
        b = self.assertOk(self.search(filter="name LIKE '%s-%%' AND tags.idx != '1'" % self.prefix))
        self.assertEqual(self.names_of(b), [self.names[0], self.names[2]])
        b = self.assertOk(self.search(
            filter="tags.`idx` = '2' and tags.grp = 'g' AND name LIKE '%s%%'" % self.prefix))
        self.assertEqual(self.names_of(b), [self.names[2]])
        self.assertEqual(self.assertOk(self.search(filter="name = '%s-zzz'" % self.prefix)), {})

    def test_order_by(self):
        b = self.assertOk(self.search(order_by="name DESC"))
        self.assertEqual(self.names_of(b), self.names[::-1])
        b = self.assertOk(self.search(order_by=["last_updated_timestamp DESC"]))
        self.assertEqual(self.names_of(b)[0], self.names[1])
        b = self.assertOk(self.search(order_by=["timestamp ASC"]))
        self.assertEqual(self.names_of(b)[-1], self.names[1])

    def test_paging(self):
        seen = []
        token = None
        pages = 0
        while True:
            b = self.assertOk(self.search(max_results=2, page_token=token))
            seen += self.names_of(b)
            pages += 1
            token = b.get("next_page_token")
            if not token:
                break
        self.assertEqual(seen, self.names)
        self.assertEqual(pages, 2)  # a token only when more rows exist

    def test_bad_requests(self):
        self.assertInvalid(self.search(filter="name = 'a' OR name = 'b'"))
        self.assertInvalid(self.search(filter="version_number > 1"))
        self.assertInvalid(self.search(filter="name = unquoted"))
        self.assertInvalid(self.search(filter="run_id IN ('a')"))
        self.assertInvalid(self.search(order_by="creation_timestamp"))
        self.assertInvalid(self.search(order_by=["name", "name DESC"]))
        self.assertInvalid(self.search(max_results=1001), "It must be at most 1000")
        self.assertInvalid(self.search(max_results=0))
        self.assertInvalid(self.search(max_results="x"))
        self.assertInvalid(self.search(page_token="not-a-token"), "Invalid page token")
        self.assertOk(self.search(max_results=1000))


class TestVersions(RegistryCase):
    def test_create_numbers_and_shape(self):
        name = new_model()
        t0 = now_ms()
        mv = new_version(name, "s3://b/m1", run_id="r" * 32, run_link="http://x/r",
                         description="first", tags=[{"key": "k", "value": "v"}])
        self.assertVersionShape(mv, name, 1)
        self.assertEqual(mv["current_stage"], "None")
        self.assertEqual(mv["source"], "s3://b/m1")
        self.assertEqual(mv["run_id"], "r" * 32)
        self.assertEqual(mv["run_link"], "http://x/r")
        self.assertEqual(mv["description"], "first")
        self.assertEqual(mv["tags"], [{"key": "k", "value": "v"}])
        self.assertNotIn("aliases", mv)
        self.assertGreaterEqual(mv["creation_timestamp"], t0 - 60000)
        self.assertEqual(self.assertOk(get_version(name, 1))["model_version"], mv)
        self.assertEqual(new_version(name)["version"], "2")
        self.assertEqual(new_version(name)["version"], "3")
        # Creating a version touches the model.
        rm = ok(get("registered-models/get", name=name))["registered_model"]
        self.assertGreaterEqual(rm["last_updated_timestamp"], mv["creation_timestamp"])

    def test_numbers_never_reused(self):
        name = new_model()
        for _ in range(3):
            new_version(name)
        self.assertEmptyOk(delete("model-versions/delete", {"name": name, "version": "3"}))
        self.assertEqual(new_version(name)["version"], "4")
        self.assertEmptyOk(delete("model-versions/delete", {"name": name, "version": "4"}))
        self.assertEmptyOk(delete("model-versions/delete", {"name": name, "version": "1"}))
        self.assertEqual(new_version(name)["version"], "5")

    def test_create_errors(self):
        missing = uniq("nope")
        self.assertNotFound(post("model-versions/create", {"name": missing, "source": "s3://b/m"}),
                            "Registered Model with name=%s not found" % missing)
        name = new_model()
        self.assertMissing(post("model-versions/create", {"name": name}), "source")
        self.assertMissing(post("model-versions/create", {"source": "s3://b/m"}), "name")
        self.assertInvalid(post("model-versions/create", {
            "name": name, "source": "s3://b/m", "tags": [{"key": "k", "value": "v" * 5001}]}))
        self.assertInvalid(post("model-versions/create", {
            "name": name, "source": "s3://b/m", "description": "d" * 5001}))
        # Nothing was created by the failures.
        self.assertEqual(new_version(name)["version"], "1")

    def test_source_validation(self):
        name = new_model()
        for bad in ("s3://b/a/../x", "s3://b/a/%2e%2e/x", "s3://b/a/%252E%252E/x",
                    "http://h/a/./b", "mlflow-artifacts:/1/../../etc", "s3://b/x%00y"):
            self.assertInvalid(post("model-versions/create", {"name": name, "source": bad}),
                               "Invalid model version source")
        # Local paths need a run whose (local) artifact directory holds them.
        for local in ("/tmp/model", "file:///tmp/model", "relative/model"):
            self.assertInvalid(post("model-versions/create", {"name": name, "source": local}),
                               "To use a local path as a model version source")
        run_id = new_run()
        self.assertInvalid(post("model-versions/create",
                                {"name": name, "source": "/tmp/model", "run_id": run_id}),
                           "contained within the artifact directory")
        ok_sources = ["s3://bucket/path/model", "mlflow-artifacts:/1/%s/artifacts/model" % run_id,
                      "gs://b/a/b/c", "https://host/a/b?x=1", "runs:/%s/model" % run_id]
        for i, src in enumerate(ok_sources, start=1):
            mv = self.assertOk(post("model-versions/create", {"name": name, "source": src}))
            self.assertEqual(mv["model_version"]["version"], str(i))
            self.assertEqual(mv["model_version"]["source"], src)

    def test_local_source_inside_run_artifacts(self):
        exp = mtapi.new_experiment(artifact_location="/tmp/%s" % uniq("art"))
        run_id = new_run(exp)
        art = mtapi.get_run(run_id)["info"]["artifact_uri"]
        name = new_model()
        mv = self.assertOk(post("model-versions/create",
                                {"name": name, "source": art + "/model", "run_id": run_id}))
        self.assertEqual(mv["model_version"]["source"], art + "/model")
        self.assertInvalid(post("model-versions/create",
                                {"name": name, "source": art + "/../../escape", "run_id": run_id}))

    def test_models_source_resolves_storage_location(self):
        src_model = new_model()
        new_version(src_model, "s3://bucket/original/model")
        name = new_model()
        mv = ok(post("model-versions/create",
                     {"name": name, "source": "models:/%s/1" % src_model}))["model_version"]
        self.assertEqual(mv["source"], "models:/%s/1" % src_model)
        r = self.assertOk(get("model-versions/get-download-uri", name=name, version="1"))
        self.assertEqual(r, {"artifact_uri": "s3://bucket/original/model"})
        self.assertInvalid(post("model-versions/create",
                                {"name": name, "source": "models:/%s/9" % src_model}),
                           "Unable to fetch model from model URI source")

    def test_get_errors(self):
        name = new_model()
        new_version(name)
        self.assertNotFound(get_version(name, 2), "Model Version (name=%s, version=2) not found" % name)
        self.assertNotFound(get_version(name, 0))
        self.assertNotFound(get_version(name, 99999999999))
        self.assertInvalid(get_version(name, "abc"), "must be an integer")
        self.assertMissing(get("model-versions/get", name=name), "version")
        self.assertNotFound(get_version(uniq("nope"), 1))

    def test_update(self):
        name = new_model()
        v = new_version(name, description="a")
        body = self.assertOk(patch("model-versions/update",
                                   {"name": name, "version": "1", "description": "b"}))
        self.assertEqual(body["model_version"]["description"], "b")
        self.assertGreaterEqual(body["model_version"]["last_updated_timestamp"],
                                v["last_updated_timestamp"])
        self.assertEqual(ok(get_version(name, 1))["model_version"]["description"], "b")
        self.assertNotFound(patch("model-versions/update", {"name": name, "version": "2", "description": "x"}))
        self.assertError(post("model-versions/update", {"name": name, "version": "1"}), 405)

    def test_delete_redacts(self):
        name = new_model()
        run_id = new_run()
        new_version(name, "s3://b/secret", run_id=run_id, run_link="http://secret",
                    description="secret")
        new_version(name)
        ok(transition(name, 1, "Production"))
        ok(post("registered-models/alias", {"name": name, "alias": "champ", "version": "1"}))
        self.assertEmptyOk(delete("model-versions/delete", {"name": name, "version": "1"}))
        # Hidden from every read.
        self.assertNotFound(get_version(name, 1))
        self.assertNotFound(get("model-versions/get-download-uri", name=name, version="1"))
        self.assertNotFound(delete("model-versions/delete", {"name": name, "version": "1"}))
        self.assertNotFound(transition(name, 1, "Staging"))
        self.assertNotFound(post("model-versions/set-tag", {"name": name, "version": "1", "key": "k"}))
        self.assertNotFound(post("registered-models/alias", {"name": name, "alias": "a", "version": "1"}))
        found = ok(get("model-versions/search", filter="name = '%s'" % name)).get("model_versions", [])
        self.assertEqual([v["version"] for v in found], ["2"])
        self.assertEqual(ok(get("model-versions/search", filter="run_id = '%s'" % run_id)), {})
        rm = ok(get("registered-models/get", name=name))["registered_model"]
        self.assertEqual([v["version"] for v in rm["latest_versions"]], ["2"])
        self.assertNotIn("aliases", rm)  # aliases of the version went with it
        self.assertInvalid(get("registered-models/alias", name=name, alias="champ"))
        lv = ok(post("registered-models/get-latest-versions", {"name": name, "stages": ["Production"]}))
        self.assertEqual(lv, {})
        self.assertNotIn("secret", str(ok(get("registered-models/search",
                                                 filter="name = '%s'" % name))))

    def test_download_uri(self):
        name = new_model()
        new_version(name, "s3://bucket/a/model")
        self.assertEqual(self.assertOk(get("model-versions/get-download-uri", name=name, version="1")),
                         {"artifact_uri": "s3://bucket/a/model"})
        self.assertNotFound(get("model-versions/get-download-uri", name=name, version="2"))


class TestVersionTags(RegistryCase):
    def test_set_delete_and_limits(self):
        name = new_model()
        new_version(name)
        q = {"name": name, "version": "1"}
        self.assertEmptyOk(post("model-versions/set-tag", dict(q, key="a", value="1")))
        self.assertEmptyOk(post("model-versions/set-tag", dict(q, key="a", value="2")))
        self.assertEmptyOk(post("model-versions/set-tag", dict(q, key="b", value="v" * 5000)))
        self.assertInvalid(post("model-versions/set-tag", dict(q, key="c", value="v" * 5001)))
        self.assertInvalid(post("model-versions/set-tag", dict(q, key="k" * 251, value="v")))
        self.assertInvalid(post("model-versions/set-tag", dict(q, key="bad key!", value="v")))
        self.assertMissing(post("model-versions/set-tag", q), "key")
        mv = ok(get_version(name, 1))["model_version"]
        self.assertEqual(kv(mv["tags"]), {"a": "2", "b": "v" * 5000})
        self.assertEmptyOk(delete("model-versions/delete-tag", dict(q, key="a")))
        self.assertEmptyOk(delete("model-versions/delete-tag", dict(q, key="a")))
        mv = ok(get_version(name, 1))["model_version"]
        self.assertEqual(list(kv(mv["tags"])), ["b"])
        self.assertNotFound(post("model-versions/set-tag",
                                 {"name": name, "version": "7", "key": "a", "value": "1"}),
                            "Model Version (name=%s, version=7) not found" % name)
        self.assertNotFound(delete("model-versions/delete-tag",
                                   {"name": name, "version": "7", "key": "a"}))


class TestStages(RegistryCase):
    def test_transition_canonical_and_touches(self):
        name = new_model()
        v = new_version(name)
        body = self.assertOk(transition(name, 1, "staging"))
        mv = body["model_version"]
        self.assertEqual(mv["current_stage"], "Staging")
        self.assertGreaterEqual(mv["last_updated_timestamp"], v["last_updated_timestamp"])
        rm = ok(get("registered-models/get", name=name))["registered_model"]
        self.assertEqual(rm["last_updated_timestamp"], mv["last_updated_timestamp"])
        for stage, canon in (("PRODUCTION", "Production"), ("archived", "Archived"),
                             ("none", "None"), ("Production", "Production")):
            self.assertEqual(ok(transition(name, 1, stage))["model_version"]["current_stage"], canon)

    def test_invalid_stage(self):
        name = new_model()
        new_version(name)
        for bad in ("Prod", "Deleted_Internal", " Staging"):
            self.assertInvalid(transition(name, 1, bad), "Invalid Model Version stage")
        self.assertMissing(post("model-versions/transition-stage", {"name": name, "version": "1"}),
                           "stage")
        self.assertInvalid(post("model-versions/transition-stage", {
            "name": name, "version": "1", "stage": "Staging", "archive_existing_versions": "maybe"}))
        self.assertEqual(stage_of(name, 1), "None")

    def test_archive_existing_versions(self):
        name = new_model()
        for _ in range(4):
            new_version(name)
        ok(transition(name, 1, "Production"))
        ok(transition(name, 2, "Production"))  # without archiving: both stay
        self.assertEqual([stage_of(name, v) for v in (1, 2)], ["Production", "Production"])
        ok(transition(name, 3, "Staging"))
        ok(transition(name, 4, "Production", archive=True))
        self.assertEqual([stage_of(name, v) for v in (1, 2, 3, 4)],
                         ["Archived", "Archived", "Staging", "Production"])
        # Only Staging and Production may archive the others.
        self.assertInvalid(transition(name, 3, "Archived", archive=True), "is not an Active stage")
        self.assertInvalid(transition(name, 3, "None", archive=True))
        self.assertEqual(stage_of(name, 3), "Staging")

    def test_transition_missing(self):
        name = new_model()
        self.assertNotFound(transition(name, 1, "Staging"),
                            "Model Version (name=%s, version=1) not found" % name)
        self.assertNotFound(transition(uniq("nope"), 1, "Staging"))

    def test_get_latest_versions(self):
        name = new_model()
        for _ in range(5):
            new_version(name)
        ok(transition(name, 1, "Production"))
        ok(transition(name, 2, "Staging"))
        ok(transition(name, 3, "Production"))
        ok(transition(name, 4, "Archived"))

        def latest(method, stages):
            if method == "POST":
                body = {"name": name}
                if stages is not None:
                    body["stages"] = stages
                r = post("registered-models/get-latest-versions", body)
            else:
                r = get("registered-models/get-latest-versions", name=name, stages=stages)
            return {v["current_stage"]: v["version"]
                    for v in self.assertOk(r).get("model_versions", [])}

        for method in ("POST", "GET"):
            self.assertEqual(latest(method, ["production"]), {"Production": "3"})
            self.assertEqual(latest(method, ["Staging", "None"]), {"Staging": "2", "None": "5"})
            self.assertEqual(latest(method, None), {"Production": "3", "Staging": "2",
                                                    "Archived": "4", "None": "5"})
        self.assertInvalid(post("registered-models/get-latest-versions",
                                {"name": name, "stages": ["Bogus"]}), "Invalid Model Version stage")
        self.assertNotFound(post("registered-models/get-latest-versions", {"name": uniq("nope")}))
        other = new_model()
        self.assertEqual(self.assertOk(post("registered-models/get-latest-versions",
                                            {"name": other})), {})


class TestAliases(RegistryCase):
    def test_set_get_delete(self):
        name = new_model()
        new_version(name)
        new_version(name)
        self.assertEmptyOk(post("registered-models/alias",
                                {"name": name, "alias": "champion", "version": "1"}))
        body = self.assertOk(get("registered-models/alias", name=name, alias="champion"))
        self.assertEqual(body["model_version"]["version"], "1")
        self.assertEqual(body["model_version"]["aliases"], ["champion"])
        rm = ok(get("registered-models/get", name=name))["registered_model"]
        self.assertEqual(rm["aliases"], [{"alias": "champion", "version": "1"}])
        # Upsert moves it.
        # version is a string in MLflow's protos: a JSON number is refused
        # (MLflow's 400) and the alias stays where it was.
        self.assertInvalid(post("registered-models/alias",
                                {"name": name, "alias": "champion", "version": 2}),
                           "Invalid value 2 for parameter 'version' supplied")
        body = self.assertOk(get("registered-models/alias", name=name, alias="champion"))
        self.assertEqual(body["model_version"]["version"], "1")
        self.assertEmptyOk(post("registered-models/alias",
                                {"name": name, "alias": "champion", "version": "2"}))
        body = self.assertOk(get("registered-models/alias", name=name, alias="champion"))
        self.assertEqual(body["model_version"]["version"], "2")
        self.assertNotIn("aliases", ok(get_version(name, 1))["model_version"])
        self.assertEmptyOk(delete("registered-models/alias", {"name": name, "alias": "champion"}))
        self.assertInvalid(get("registered-models/alias", name=name, alias="champion"),
                           "Registered model alias champion not found.")
        # Deleting a missing alias is a silent no-op; the model must exist.
        self.assertEmptyOk(delete("registered-models/alias", {"name": name, "alias": "champion"}))
        self.assertNotFound(delete("registered-models/alias", {"name": uniq("nope"), "alias": "a"}))

    def test_reserved_and_bad_names(self):
        name = new_model()
        new_version(name)
        for alias in ("latest", "LATEST", "Latest"):
            self.assertInvalid(post("registered-models/alias",
                                    {"name": name, "alias": alias, "version": "1"}),
                               "'latest' alias name (case insensitive) is reserved.")
        for alias in ("v1", "V12", "v007"):
            self.assertInvalid(post("registered-models/alias",
                                    {"name": name, "alias": alias, "version": "1"}),
                               "Version alias name '%s' is reserved." % alias)
        for alias in ("has space", "a.b", "a/b"):
            self.assertInvalid(post("registered-models/alias",
                                    {"name": name, "alias": alias, "version": "1"}),
                               "Invalid alias name")
        self.assertInvalid(post("registered-models/alias",
                                {"name": name, "alias": "a" * 256, "version": "1"}))
        self.assertEmptyOk(post("registered-models/alias",
                                {"name": name, "alias": "a" * 255, "version": "1"}))
        self.assertEmptyOk(post("registered-models/alias",
                                {"name": name, "alias": "v1x", "version": "1"}))
        self.assertMissing(post("registered-models/alias", {"name": name, "version": "1"}), "alias")

    def test_errors(self):
        name = new_model()
        new_version(name)
        self.assertNotFound(post("registered-models/alias",
                                 {"name": name, "alias": "a", "version": "5"}),
                            "Model Version (name=%s, version=5) not found" % name)
        self.assertNotFound(post("registered-models/alias",
                                 {"name": uniq("nope"), "alias": "a", "version": "1"}))
        self.assertNotFound(get("registered-models/alias", name=uniq("nope"), alias="a"))
        r = self.assertInvalid(get("registered-models/alias", name=name, alias="ghost"))
        self.assertEqual(r["message"], "Registered model alias ghost not found.")


class TestSearchVersions(RegistryCase):
    @classmethod
    def setUpClass(cls):
        cls.a = new_model(uniq("sva"))
        cls.b = new_model(uniq("svb"))
        cls.run1, cls.run2 = new_run(), new_run()
        cls.bkt = uniq("bkt")
        src = "s3://" + cls.bkt + "/%s"
        new_version(cls.a, src % "a/1", run_id=cls.run1, tags=[{"key": "t", "value": "x"}])
        new_version(cls.a, src % "a/2", run_id=cls.run2)
        new_version(cls.a, src % "a/3", run_id=cls.run1, tags=[{"key": "t", "value": "y"}])
        new_version(cls.b, src % "b/1", run_id=cls.run2)

    def versions(self, **q):
        b = self.assertOk(get("model-versions/search", **q))
        return [(v["name"], v["version"]) for v in b.get("model_versions", [])]

    def test_filters(self):
        a, b = self.a, self.b
        self.assertEqual(sorted(self.versions(filter="name = '%s'" % a)),
                         [(a, "1"), (a, "2"), (a, "3")])
        self.assertEqual(sorted(self.versions(filter="run_id = '%s'" % self.run1)),
                         [(a, "1"), (a, "3")])
        self.assertEqual(sorted(self.versions(
            filter="run_id IN ('%s', '%s')" % (self.run1, self.run2))),
            [(a, "1"), (a, "2"), (a, "3"), (b, "1")])
        self.assertEqual(self.versions(filter="name = '%s' AND version_number > 2" % a), [(a, "3")])
        self.assertEqual(self.versions(filter="name = '%s' AND tags.t = 'y'" % a), [(a, "3")])
        self.assertEqual(self.versions(filter="source_path LIKE 's3://%s/b/%%'" % self.bkt), [(b, "1")])
        self.assertEqual(self.versions(filter="name ILIKE '%s'" % b.upper()), [(b, "1")])
        self.assertEqual(self.assertOk(get("model-versions/search", filter="name = 'zz-none'")), {})

    def test_order_and_paging(self):
        a = self.a
        f = "name = '%s'" % a
        self.assertEqual(self.versions(filter=f, order_by="version_number ASC"),
                         [(a, "1"), (a, "2"), (a, "3")])
        self.assertEqual(self.versions(filter=f, order_by=["creation_timestamp DESC"]),
                         [(a, "3"), (a, "2"), (a, "1")])
        # Default: last_updated_timestamp DESC.
        ok(patch("model-versions/update", {"name": a, "version": "1", "description": "touch"}))
        self.assertEqual(self.versions(filter=f)[0], (a, "1"))
        got, token = [], None
        for _ in range(5):
            b = self.assertOk(get("model-versions/search", filter=f, max_results=2,
                                  order_by="version_number", page_token=token))
            got += [v["version"] for v in b.get("model_versions", [])]
            token = b.get("next_page_token")
            if not token:
                break
        self.assertEqual(got, ["1", "2", "3"])

    def test_bad_requests(self):
        for bad in ("name = 'a' OR name = 'b'", "status = 'READY'", "version_number = 'x'",
                    "name IN ('a')", "tags.t > 1", "(name = 'a')"):
            self.assertInvalid(get("model-versions/search", filter=bad))
        self.assertInvalid(get("model-versions/search", order_by="stage"))
        self.assertInvalid(get("model-versions/search", max_results=200001),
                           "It must be at most 200000")
        self.assertInvalid(get("model-versions/search", max_results=-1))
        self.assertInvalid(get("model-versions/search", page_token="%%%"))


class TestConcurrency(RegistryCase):
    def test_concurrent_promotions_leave_one_production(self):
        name = new_model()
        n = 12
        for _ in range(n):
            new_version(name)
        results = [None] * n
        barrier = threading.Barrier(n)

        def promote(i):
            barrier.wait()
            results[i] = transition(name, i + 1, "Production", archive=True).status

        threads = [threading.Thread(target=promote, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * n)
        stages = [stage_of(name, v) for v in range(1, n + 1)]
        self.assertEqual(stages.count("Production"), 1, stages)
        self.assertEqual(stages.count("Archived"), n - 1, stages)
        lv = ok(post("registered-models/get-latest-versions",
                     {"name": name, "stages": ["Production"]}))["model_versions"]
        self.assertEqual(len(lv), 1)

    def test_concurrent_creations_get_distinct_numbers(self):
        name = new_model()
        n = 10
        got = [None] * n
        barrier = threading.Barrier(n)

        def create(i):
            barrier.wait()
            r = post("model-versions/create", {"name": name, "source": "s3://b/%d" % i})
            got[i] = r.body["model_version"]["version"] if r.status == 200 else r

        threads = [threading.Thread(target=create, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(got, key=int), [str(i) for i in range(1, n + 1)])


if __name__ == "__main__":
    unittest.main()
