"""runs/*: create, get, update, delete, restore, log-parameter, set-tag,
delete-tag, log-inputs, and the run_name / mlflow.runName sync
(MLFLOW-API.md sections 2, 3, 6, 7, 13)."""

import unittest

import mtapi
from mtapi import get, get_run, kv, new_experiment, new_run, now_ms, post, uniq

setUpModule = mtapi.wait_ready

UNKNOWN_RUN = "0123456789abcdef0123456789abcdef"
RUN_NAME_TAG = "mlflow.runName"


def deleted_run():
    rid = new_run()
    r = post("runs/delete", {"run_id": rid})
    if r.status != 200:
        raise mtapi.ApiError("runs/delete failed: %r" % (r.body,))
    return rid


class TestCreateGet(mtapi.ApiTestCase):
    def test_create_response_shape(self):
        eid = new_experiment()
        exp = mtapi.get_experiment(eid)
        start = now_ms()
        r = post("runs/create", {"experiment_id": eid, "user_id": "alice", "start_time": start,
                                 "run_name": "my-run",
                                 "tags": [{"key": "team", "value": "x"}]})
        run = self.assertOk(r)["run"]
        info = run["info"]
        self.assertRegex(info["run_id"], r"^[0-9a-f]{32}$")
        self.assertEqual(info["run_uuid"], info["run_id"])
        self.assertEqual(info["experiment_id"], eid)
        self.assertEqual(info["run_name"], "my-run")
        self.assertEqual(info["user_id"], "alice")
        self.assertEqual(info["status"], "RUNNING")
        self.assertEqual(info["start_time"], start)
        self.assertInt(info["start_time"])
        self.assertNotIn("end_time", info)
        self.assertEqual(info["lifecycle_stage"], "active")
        self.assertEqual(info["artifact_uri"],
                         "%s/%s/artifacts" % (exp["artifact_location"], info["run_id"]))
        self.assertEqual(kv(run["data"]["tags"]), {"team": "x", RUN_NAME_TAG: "my-run"})
        self.assertNotIn("metrics", run["data"])
        self.assertNotIn("params", run["data"])
        # The SQL store leaves inputs out of the create answer, or sends it empty.
        self.assertEqual(run.get("inputs", {}), {})

    def test_get_shape(self):
        eid = new_experiment()
        start = now_ms()
        rid = new_run(eid, run_name="got", start_time=start)
        r = get("runs/get", run_id=rid)
        run = self.assertOk(r)["run"]
        # MLflow 3's servers add outputs (the run's logged models), empty here.
        self.assertEqual(set(run), {"info", "data", "inputs", "outputs"})
        self.assertEqual(run["inputs"], {})
        self.assertEqual(run["outputs"], {})
        info = run["info"]
        self.assertEqual(info["run_id"], rid)
        self.assertEqual(info["run_uuid"], rid)
        self.assertEqual(info["experiment_id"], eid)
        self.assertEqual(info["run_name"], "got")
        self.assertEqual(info.get("user_id", ""), "")
        self.assertEqual(info["status"], "RUNNING")
        self.assertEqual(info["start_time"], start)
        self.assertNotIn("end_time", info)
        self.assertEqual(info["lifecycle_stage"], "active")
        self.assertEqual(run["data"], {"tags": [{"key": RUN_NAME_TAG, "value": "got"}]})

    def test_get_with_run_uuid(self):
        rid = new_run()
        run = self.assertOk(get("runs/get", run_uuid=rid))["run"]
        self.assertEqual(run["info"]["run_id"], rid)

    def test_get_missing_and_unknown(self):
        self.assertMissing(get("runs/get"), "run_id")
        self.assertNotFound(get("runs/get", run_id=UNKNOWN_RUN),
                            "Run with id=%s not found" % UNKNOWN_RUN)

    def test_create_default_experiment(self):
        r = post("runs/create", {"start_time": now_ms()})
        info = self.assertOk(r)["run"]["info"]
        self.assertEqual(info["experiment_id"], "0")
        self.assertEqual(get_run(info["run_id"])["info"]["experiment_id"], "0")

    def test_create_integer_experiment_id(self):
        # A string field given a JSON number: MLflow's 400, and no run.
        eid = new_experiment()
        r = post("runs/create", {"experiment_id": int(eid), "start_time": now_ms()})
        self.assertInvalid(r, "Invalid value %s for parameter 'experiment_id' supplied" % eid)
        self.assertEqual(self.assertOk(post("runs/search", {"experiment_ids": [eid]})), {})

    def test_create_unknown_experiment(self):
        r = post("runs/create", {"experiment_id": "987654321", "start_time": now_ms()})
        self.assertNotFound(r)

    def test_generated_run_name(self):
        rid = new_run()
        run = get_run(rid)
        name = run["info"]["run_name"]
        self.assertRegex(name, r"^[a-z]+-[a-z]+-[0-9]+$")
        self.assertEqual(kv(run["data"]["tags"])[RUN_NAME_TAG], name)

    def test_run_name_from_tag(self):
        rid = new_run(tags=[{"key": RUN_NAME_TAG, "value": "from-tag"}])
        run = get_run(rid)
        self.assertEqual(run["info"]["run_name"], "from-tag")
        self.assertEqual(kv(run["data"]["tags"]), {RUN_NAME_TAG: "from-tag"})

    def test_run_name_and_tag_agree(self):
        rid = new_run(run_name="same", tags=[{"key": RUN_NAME_TAG, "value": "same"}])
        run = get_run(rid)
        self.assertEqual(run["info"]["run_name"], "same")
        self.assertEqual(run["data"]["tags"], [{"key": RUN_NAME_TAG, "value": "same"}])

    def test_run_name_and_tag_disagree(self):
        eid = new_experiment()
        r = post("runs/create", {"experiment_id": eid, "start_time": now_ms(), "run_name": "a",
                                 "tags": [{"key": RUN_NAME_TAG, "value": "b"}]})
        self.assertInvalid(r)
        s = self.assertOk(post("runs/search", {"experiment_ids": [eid], "run_view_type": "ALL"}))
        self.assertEqual(s, {})

    def test_create_bad_tag_writes_nothing(self):
        eid = new_experiment()
        r = post("runs/create", {"experiment_id": eid, "start_time": now_ms(),
                                 "tags": [{"key": "bad key!", "value": "v"}]})
        self.assertInvalid(r, "Names may only contain")
        s = self.assertOk(post("runs/search", {"experiment_ids": [eid], "run_view_type": "ALL"}))
        self.assertEqual(s, {})


class TestUpdate(mtapi.ApiTestCase):
    def test_update_status_only(self):
        rid = new_run(run_name="keep")
        r = post("runs/update", {"run_id": rid, "status": "FINISHED"})
        info = self.assertOk(r)["run_info"]
        self.assertEqual(info["run_id"], rid)
        self.assertEqual(info["run_uuid"], rid)
        self.assertEqual(info["status"], "FINISHED")
        self.assertEqual(info["run_name"], "keep")
        self.assertNotIn("end_time", info)
        got = get_run(rid)["info"]
        self.assertEqual(got["status"], "FINISHED")
        self.assertNotIn("end_time", got)
        self.assertEqual(got["run_name"], "keep")

    def test_update_end_time_only(self):
        rid = new_run()
        end = now_ms() + 5000
        info = self.assertOk(post("runs/update", {"run_id": rid, "end_time": end}))["run_info"]
        self.assertEqual(info["end_time"], end)
        self.assertInt(info["end_time"])
        self.assertEqual(info["status"], "RUNNING")
        got = get_run(rid)["info"]
        self.assertEqual(got["end_time"], end)
        self.assertEqual(got["status"], "RUNNING")

    def test_update_all_and_run_name_syncs_tag(self):
        rid = new_run(run_name="before")
        end = now_ms()
        info = self.assertOk(post("runs/update", {"run_id": rid, "status": "FAILED",
                                                  "end_time": str(end),
                                                  "run_name": "after"}))["run_info"]
        self.assertEqual((info["status"], info["end_time"], info["run_name"]),
                         ("FAILED", end, "after"))
        run = get_run(rid)
        self.assertEqual(run["info"]["run_name"], "after")
        self.assertEqual(kv(run["data"]["tags"])[RUN_NAME_TAG], "after")

    def test_update_with_run_uuid(self):
        rid = new_run()
        info = self.assertOk(post("runs/update", {"run_uuid": rid, "status": "KILLED"}))["run_info"]
        self.assertEqual(info["status"], "KILLED")

    def test_update_errors(self):
        rid = new_run()
        self.assertMissing(post("runs/update", {"status": "FINISHED"}), "run_id")
        self.assertNotFound(post("runs/update", {"run_id": UNKNOWN_RUN, "status": "FINISHED"}))
        self.assertEqual(post("runs/update", {"run_id": rid, "status": "BOGUS"}).status, 400)
        self.assertEqual(get_run(rid)["info"]["status"], "RUNNING")

    def test_update_deleted_run_is_refused(self):
        rid = deleted_run()
        r = post("runs/update", {"run_id": rid, "status": "FINISHED"})
        self.assertInvalid(r, "must be in the 'active' state")
        self.assertEqual(get_run(rid)["info"]["status"], "RUNNING")


class TestDeleteRestore(mtapi.ApiTestCase):
    def test_delete_restore(self):
        eid = new_experiment()
        rid = new_run(eid)
        self.assertEmptyOk(post("runs/delete", {"run_id": rid}))
        self.assertEqual(get_run(rid)["info"]["lifecycle_stage"], "deleted")
        self.assertEqual(self.assertOk(post("runs/search", {"experiment_ids": [eid]})), {})
        s = self.assertOk(post("runs/search", {"experiment_ids": [eid],
                                               "run_view_type": "DELETED_ONLY"}))
        self.assertEqual([x["info"]["run_id"] for x in s["runs"]], [rid])
        self.assertEqual(s["runs"][0]["info"]["lifecycle_stage"], "deleted")
        self.assertEmptyOk(post("runs/restore", {"run_id": rid}))
        self.assertEqual(get_run(rid)["info"]["lifecycle_stage"], "active")
        s = self.assertOk(post("runs/search", {"experiment_ids": [eid]}))
        self.assertEqual([x["info"]["run_id"] for x in s["runs"]], [rid])

    def test_delete_restore_errors(self):
        for ep in ("runs/delete", "runs/restore"):
            with self.subTest(endpoint=ep):
                self.assertMissing(post(ep, {}), "run_id")
                self.assertNotFound(post(ep, {"run_id": UNKNOWN_RUN}))

    def test_writes_to_deleted_run_are_refused(self):
        rid = new_run()
        self.assertEmptyOk(post("runs/set-tag", {"run_id": rid, "key": "t", "value": "1"}))
        self.assertEmptyOk(post("runs/delete", {"run_id": rid}))
        before = get_run(rid)
        ts = now_ms()
        writes = [
            ("runs/log-metric", {"run_id": rid, "key": "m", "value": 1.0, "timestamp": ts}),
            ("runs/log-parameter", {"run_id": rid, "key": "p", "value": "v"}),
            ("runs/set-tag", {"run_id": rid, "key": "t2", "value": "v"}),
            ("runs/set-tag", {"run_id": rid, "key": "t", "value": "changed"}),
            ("runs/delete-tag", {"run_id": rid, "key": "t"}),
            ("runs/log-batch", {"run_id": rid, "params": [{"key": "bp", "value": "1"}],
                                "metrics": [{"key": "bm", "value": 1, "timestamp": ts}]}),
            ("runs/update", {"run_id": rid, "run_name": "renamed"}),
            ("runs/log-inputs", {"run_id": rid, "datasets": [{"dataset": {
                "name": "d", "digest": "abc", "source_type": "local", "source": "{}"}}]}),
        ]
        for ep, body in writes:
            with self.subTest(endpoint=ep, body=body):
                self.assertInvalid(post(ep, body),
                                   "must be in the 'active' state. Current state is deleted")
        self.assertEqual(get_run(rid), before)
        self.assertEqual(self.assertOk(get("metrics/get-history", run_id=rid, metric_key="m")), {})


class TestParams(mtapi.ApiTestCase):
    def test_log_param_and_idempotent_same_value(self):
        rid = new_run()
        self.assertEmptyOk(post("runs/log-parameter", {"run_id": rid, "key": "lr", "value": "0.01"}))
        self.assertEmptyOk(post("runs/log-parameter", {"run_id": rid, "key": "lr", "value": "0.01"}))
        self.assertEmptyOk(post("runs/log-parameter",
                                {"run_uuid": rid, "key": "layers", "value": "3"}))
        params = get_run(rid)["data"]["params"]
        self.assertEqual(len(params), 2)
        self.assertEqual(kv(params), {"lr": "0.01", "layers": "3"})
        for p in params:
            self.assertEqual(set(p), {"key", "value"})

    def test_param_is_immutable(self):
        rid = new_run()
        self.assertEmptyOk(post("runs/log-parameter", {"run_id": rid, "key": "lr", "value": "0.01"}))
        r = post("runs/log-parameter", {"run_id": rid, "key": "lr", "value": "0.02"})
        self.assertInvalid(r, ["Changing param values is not allowed", "lr", "0.01"])
        self.assertEqual(kv(get_run(rid)["data"]["params"]), {"lr": "0.01"})

    def test_log_param_errors(self):
        rid = new_run()
        self.assertMissing(post("runs/log-parameter", {"key": "k", "value": "v"}), "run_id")
        self.assertMissing(post("runs/log-parameter", {"run_id": rid, "value": "v"}), "key")
        self.assertNotFound(post("runs/log-parameter",
                                 {"run_id": UNKNOWN_RUN, "key": "k", "value": "v"}))
        self.assertInvalid(post("runs/log-parameter",
                                {"run_id": rid, "key": "bad key!", "value": "v"}),
                           "Names may only contain")
        self.assertInvalid(post("runs/log-parameter",
                                {"run_id": rid, "key": "a//b", "value": "v"}))
        self.assertInvalid(post("runs/log-parameter",
                                {"run_id": rid, "key": "k" * 251, "value": "v"}))
        self.assertInvalid(post("runs/log-parameter",
                                {"run_id": rid, "key": "big", "value": "v" * 6001}))
        self.assertNotIn("params", get_run(rid)["data"])

    def test_param_value_at_limit(self):
        rid = new_run()
        self.assertEmptyOk(post("runs/log-parameter",
                                {"run_id": rid, "key": "big", "value": "v" * 6000}))
        self.assertEqual(kv(get_run(rid)["data"]["params"]), {"big": "v" * 6000})


class TestTags(mtapi.ApiTestCase):
    def test_set_tag_upserts(self):
        rid = new_run(run_name="r")
        self.assertEmptyOk(post("runs/set-tag", {"run_id": rid, "key": "k", "value": "1"}))
        self.assertEmptyOk(post("runs/set-tag", {"run_id": rid, "key": "k", "value": "2"}))
        self.assertEmptyOk(post("runs/set-tag", {"run_uuid": rid, "key": "j", "value": ""}))
        tags = get_run(rid)["data"]["tags"]
        self.assertEqual(len(tags), 3)
        self.assertEqual(kv(tags), {"k": "2", "j": "", RUN_NAME_TAG: "r"})

    def test_set_tag_run_name_renames_run(self):
        rid = new_run(run_name="before")
        self.assertEmptyOk(post("runs/set-tag", {"run_id": rid, "key": RUN_NAME_TAG,
                                                 "value": "after"}))
        run = get_run(rid)
        self.assertEqual(run["info"]["run_name"], "after")
        self.assertEqual(kv(run["data"]["tags"])[RUN_NAME_TAG], "after")

    def test_set_tag_errors(self):
        rid = new_run()
        before = get_run(rid)
        self.assertMissing(post("runs/set-tag", {"key": "k", "value": "v"}), "run_id")
        self.assertMissing(post("runs/set-tag", {"run_id": rid, "value": "v"}), "key")
        self.assertNotFound(post("runs/set-tag", {"run_id": UNKNOWN_RUN, "key": "k", "value": "v"}))
        self.assertInvalid(post("runs/set-tag", {"run_id": rid, "key": "bad key!", "value": "v"}),
                           "Names may only contain")
        self.assertInvalid(post("runs/set-tag", {"run_id": rid, "key": "big", "value": "v" * 8001}))
        self.assertEqual(get_run(rid), before)

    def test_delete_tag(self):
        rid = new_run(run_name="r")
        self.assertEmptyOk(post("runs/set-tag", {"run_id": rid, "key": "gone", "value": "1"}))
        self.assertEmptyOk(post("runs/set-tag", {"run_id": rid, "key": "stay", "value": "2"}))
        self.assertEmptyOk(post("runs/delete-tag", {"run_id": rid, "key": "gone"}))
        self.assertEqual(kv(get_run(rid)["data"]["tags"]), {"stay": "2", RUN_NAME_TAG: "r"})
        r = post("runs/delete-tag", {"run_id": rid, "key": "gone"})
        self.assertNotFound(r, "No tag with name: gone in run with id %s" % rid)
        self.assertEmptyOk(post("runs/delete-tag", {"run_uuid": rid, "key": "stay"}))
        self.assertEqual(kv(get_run(rid)["data"]["tags"]), {RUN_NAME_TAG: "r"})

    def test_delete_tag_errors(self):
        rid = new_run()
        self.assertMissing(post("runs/delete-tag", {"key": "k"}), "run_id")
        self.assertMissing(post("runs/delete-tag", {"run_id": rid}), "key")
        self.assertNotFound(post("runs/delete-tag", {"run_id": UNKNOWN_RUN, "key": "k"}))


def dataset(name="ds", digest="d1g35t", **extra):
    d = {"name": name, "digest": digest, "source_type": "local",
         "source": '{"uri": "/data/train.csv"}'}
    d.update(extra)
    return d


class TestLogInputs(mtapi.ApiTestCase):
    def test_log_inputs_shows_in_run(self):
        rid = new_run()
        ds = dataset(schema='{"mlflow_colspec": []}', profile='{"num_rows": 10}')
        tags = [{"key": "mlflow.data.context", "value": "training"}]
        self.assertEmptyOk(post("runs/log-inputs", {"run_id": rid, "datasets": [
            {"tags": tags, "dataset": ds}]}))
        inputs = get_run(rid)["inputs"]
        self.assertEqual(list(inputs), ["dataset_inputs"])
        self.assertEqual(len(inputs["dataset_inputs"]), 1)
        di = inputs["dataset_inputs"][0]
        self.assertEqual(di["tags"], tags)
        self.assertEqual(di["dataset"], ds)

    def test_log_inputs_twice_is_one_input(self):
        rid = new_run()
        body = {"run_id": rid, "datasets": [{"dataset": dataset()}]}
        self.assertEmptyOk(post("runs/log-inputs", body))
        self.assertEmptyOk(post("runs/log-inputs", body))
        inputs = get_run(rid)["inputs"]["dataset_inputs"]
        self.assertEqual(len(inputs), 1)
        self.assertEqual(inputs[0]["dataset"], dataset())

    def test_log_inputs_two_datasets_and_run_uuid(self):
        rid = new_run()
        self.assertEmptyOk(post("runs/log-inputs", {"run_uuid": rid, "datasets": [
            {"dataset": dataset("a", "1")}, {"dataset": dataset("b", "2")}]}))
        names = sorted(d["dataset"]["name"] for d in get_run(rid)["inputs"]["dataset_inputs"])
        self.assertEqual(names, ["a", "b"])

    def test_log_inputs_errors_write_nothing(self):
        rid = new_run()
        self.assertMissing(post("runs/log-inputs", {"run_id": rid}), "datasets")
        self.assertMissing(post("runs/log-inputs", {"datasets": [{"dataset": dataset()}]}),
                           "run_id")
        self.assertNotFound(post("runs/log-inputs", {"run_id": UNKNOWN_RUN,
                                                     "datasets": [{"dataset": dataset()}]}))
        bad = dataset()
        del bad["digest"]
        r = post("runs/log-inputs", {"run_id": rid, "datasets": [
            {"dataset": dataset("good", "1")}, {"dataset": bad}]})
        self.assertInvalid(r)
        r = post("runs/log-inputs", {"run_id": rid, "datasets": [
            {"dataset": dataset("toolong", "x" * 37)}]})
        self.assertInvalid(r)
        self.assertEqual(get_run(rid)["inputs"], {})


class TestRunNameSync(mtapi.ApiTestCase):
    def test_search_by_run_name_after_rename(self):
        eid = new_experiment()
        rid = new_run(eid, run_name="first")
        self.assertOk(post("runs/update", {"run_id": rid, "run_name": "second"}))
        s = self.assertOk(post("runs/search", {"experiment_ids": [eid],
                                               "filter": "attributes.run_name = 'second'"}))
        self.assertEqual([x["info"]["run_id"] for x in s["runs"]], [rid])
        s = self.assertOk(post("runs/search", {"experiment_ids": [eid],
                                               "filter": "tags.`mlflow.runName` = 'second'"}))
        self.assertEqual([x["info"]["run_id"] for x in s["runs"]], [rid])
        s = self.assertOk(post("runs/search", {"experiment_ids": [eid],
                                               "filter": "attributes.run_name = 'first'"}))
        self.assertEqual(s, {})

    def test_name_unique_per_run(self):
        eid = new_experiment()
        name = uniq("n")
        a = new_run(eid, run_name=name)
        b = new_run(eid, run_name=name)
        self.assertNotEqual(a, b)
        self.assertEqual(get_run(a)["info"]["run_name"], get_run(b)["info"]["run_name"])


if __name__ == "__main__":
    unittest.main()
