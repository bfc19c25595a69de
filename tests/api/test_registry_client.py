"""Wire-level replays of the model-registry traffic of an unmodified MLflow
2.x Python client (mlflow.register_model, MlflowClient registry calls,
models:/ URI resolution), as test_mlflow_artifact_flow.py does for
artifacts: PyPI is out of reach here, so the requests the client sends are
sent with the standard library, in the same order and shape, and each answer
is checked against what the client code needs to succeed.

Facts (github.com/mlflow/mlflow, 2.x: mlflow/tracking/_model_registry/
fluent.py, client.py, mlflow/store/model_registry/rest_store.py,
mlflow/utils/rest_utils.py; summarised in MLFLOW-API.md section 9):

* GET sends the request message as query parameters (requests' params=:
  lists become repeated keys); POST, PATCH and DELETE send it as a JSON body
  with Content-Type: application/json.
* register_model("runs:/R/path", name): POST registered-models/create,
  ignoring RESOURCE_ALREADY_EXISTS; GET runs/get to turn the runs:/ URI into
  <artifact_uri>/path; POST model-versions/create with name, source, run_id;
  then GET model-versions/get until status is not PENDING_REGISTRATION
  (FAILED_REGISTRATION raises).
* models:/name/1 -> GET model-versions/get-download-uri; models:/name@alias
  -> GET registered-models/alias, then get-download-uri of its version;
  models:/name/Production -> POST registered-models/get-latest-versions.
* Every 200 answer must be a JSON object; unknown fields are ignored.
"""

import json
import unittest

import mtapi
from mtapi import API, call, new_run, uniq

setUpModule = mtapi.wait_ready

UA = {"User-Agent": "mlflow-python-client/2.17.2"}


def client_get(endpoint, **params):
    return call("GET", API + endpoint, query=params, headers=UA)


def client_send(method, endpoint, message):
    return call(method, API + endpoint, body=message, headers=UA)


class ClientCase(mtapi.ApiTestCase):
    def answer(self, r):
        """What rest_utils.verify_rest_response needs: 200 and a JSON object."""
        self.assertEqual(r.status, 200, r.body)
        self.assertIsInstance(r.body, dict, r.body)
        return r.body


class TestRegisterModel(ClientCase):
    def register_model(self, model_uri, name):
        """mlflow.register_model, request by request."""
        r = client_send("POST", "registered-models/create", {"name": name})
        if r.status != 200:
            self.assertEqual(r.body.get("error_code"), "RESOURCE_ALREADY_EXISTS", r.body)
        else:
            self.assertEqual(r.body["registered_model"]["name"], name)
        self.assertTrue(model_uri.startswith("runs:/"))
        run_id, path = model_uri[len("runs:/"):].split("/", 1)
        run = self.answer(client_get("runs/get", run_uuid=run_id, run_id=run_id))["run"]
        source = run["info"]["artifact_uri"].rstrip("/") + "/" + path
        mv = self.answer(client_send("POST", "model-versions/create",
                                     {"name": name, "source": source, "run_id": run_id}))
        mv = mv["model_version"]
        for _ in range(10):  # _await_model_version_creation
            got = self.answer(client_get("model-versions/get", name=name,
                                         version=mv["version"]))["model_version"]
            if got["status"] != "PENDING_REGISTRATION":
                break
        self.assertEqual(got["status"], "READY")
        return got

    def test_register_twice(self):
        run_id = new_run()
        name = uniq("reg")
        v1 = self.register_model("runs:/%s/model" % run_id, name)
        self.assertEqual(v1["version"], "1")
        self.assertEqual(v1["run_id"], run_id)
        self.assertTrue(v1["source"].startswith("mlflow-artifacts:/"), v1)
        self.assertTrue(v1["source"].endswith("/%s/artifacts/model" % run_id), v1)
        self.assertEqual(v1["current_stage"], "None")
        # Again: the model exists (ignored), the version is new.
        v2 = self.register_model("runs:/%s/model" % run_id, name)
        self.assertEqual(v2["version"], "2")

    def test_model_uris_resolve(self):
        run_id = new_run()
        name = uniq("uri")
        v1 = self.register_model("runs:/%s/model" % run_id, name)
        # models:/name/1
        uri = self.answer(client_get("model-versions/get-download-uri", name=name, version="1"))
        self.assertEqual(uri["artifact_uri"], v1["source"])
        # MlflowClient.set_registered_model_alias, then models:/name@champion
        self.assertEqual(self.answer(client_send("POST", "registered-models/alias", {
            "name": name, "alias": "champion", "version": "1"})), {})
        mv = self.answer(client_get("registered-models/alias", name=name,
                                    alias="champion"))["model_version"]
        self.assertEqual(mv["version"], "1")
        self.assertIn("champion", mv["aliases"])
        # models:/name/Production: transition, then get-latest-versions.
        r = client_send("POST", "model-versions/transition-stage", {
            "name": name, "version": "1", "stage": "Production",
            "archive_existing_versions": False})
        self.assertEqual(self.answer(r)["model_version"]["current_stage"], "Production")
        lv = self.answer(client_send("POST", "registered-models/get-latest-versions",
                                     {"name": name, "stages": ["Production"]}))
        self.assertEqual([v["version"] for v in lv["model_versions"]], ["1"])

    def test_client_registry_calls(self):
        run_id = new_run()
        name = uniq("cli")
        self.register_model("runs:/%s/m" % run_id, name)
        # MlflowClient.search_model_versions("run_id='...'") (max_results 10000).
        found = self.answer(client_get("model-versions/search", filter="run_id='%s'" % run_id,
                                       max_results=10000))
        self.assertEqual([(v["name"], v["version"]) for v in found["model_versions"]],
                         [(name, "1")])
        self.assertNotIn("next_page_token", found)
        # MlflowClient.search_registered_models(filter_string="name='...'") (max_results 100).
        found = self.answer(client_get("registered-models/search", filter="name='%s'" % name,
                                       max_results=100))
        self.assertEqual([m["name"] for m in found["registered_models"]], [name])
        # update_model_version (PATCH), set/delete tags (POST/DELETE), delete alias.
        r = client_send("PATCH", "model-versions/update",
                        {"name": name, "version": "1", "description": "d"})
        self.assertEqual(self.answer(r)["model_version"]["description"], "d")
        self.assertEqual(self.answer(client_send("POST", "model-versions/set-tag", {
            "name": name, "version": "1", "key": "k", "value": "v"})), {})
        self.assertEqual(self.answer(client_send("DELETE", "model-versions/delete-tag", {
            "name": name, "version": "1", "key": "k"})), {})
        self.assertEqual(self.answer(client_send("POST", "registered-models/set-tag", {
            "name": name, "key": "k", "value": "v"})), {})
        self.assertEqual(self.answer(client_send("DELETE", "registered-models/delete-tag", {
            "name": name, "key": "k"})), {})
        self.assertEqual(self.answer(client_send("DELETE", "registered-models/alias", {
            "name": name, "alias": "nothing"})), {})
        new = uniq("cli-renamed")
        r = client_send("POST", "registered-models/rename", {"name": name, "new_name": new})
        self.assertEqual(self.answer(r)["registered_model"]["name"], new)
        self.assertEqual(self.answer(client_send("DELETE", "model-versions/delete", {
            "name": new, "version": "1"})), {})
        self.assertEqual(self.answer(client_send("DELETE", "registered-models/delete", {
            "name": new})), {})

    def test_json_string_body_and_int64_strings(self):
        """Old clients send the message as a JSON string; ints may be strings."""
        name = uniq("old")
        r = call("POST", API + "registered-models/create", headers=dict(
            UA, **{"Content-Type": "application/json"}), raw=json.dumps(json.dumps({"name": name})))
        self.assertEqual(self.answer(r)["registered_model"]["name"], name)
        r = client_get("registered-models/search", filter="name='%s'" % name, max_results="5")
        self.assertEqual(len(self.answer(r)["registered_models"]), 1)


if __name__ == "__main__":
    unittest.main()
