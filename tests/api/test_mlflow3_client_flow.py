"""Wire-level replay of an unmodified MLflow 3.x Python client (3.0 to 3.10)
logging, registering and loading a model against a tracking server with
proxied artifacts (MLFLOW-3X.md section 4), as test_mlflow_artifact_flow.py
does for 2.x artifact traffic: PyPI is out of reach in CI, so the requests
the client sends are sent with the standard library, in the same order and
shape, on one keep-alive session, and each answer is checked against what
the client code needs to go on.  No MLflow code is copied.

The script replayed:

    mlflow.set_experiment(E)
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", 0.5); mlflow.log_metric("rmse", 0.78)
        mlflow.sklearn.log_model(model, name="model", registered_model_name=NAME)
    mlflow.pyfunc.load_model("models:/NAME/1")      # registry
    mlflow.pyfunc.load_model("models:/<model_id>")  # the logged model
    mlflow.artifacts.download_artifacts("runs:/<run>/model")
    mlflow.artifacts.list_artifacts(run_id=run, artifact_path="model")
    mlflow.search_logged_models(...); mlflow.search_runs(...)

Sources (github.com/mlflow/mlflow, branch-3.0 and master 3.10):
mlflow/models/model.py (Model.log and its log_model_metrics_for_step),
mlflow/tracking/fluent.py (_create_logged_model, log_metric, log_param),
mlflow/tracking/_model_registry/fluent.py (_register_model),
mlflow/store/tracking/rest_store.py (every tracking call's message),
mlflow/store/artifact/{runs,models,mlflow_artifacts,http}_artifact_repo.py,
mlflow/utils/rest_utils.py (GET as query parameters, the rest as JSON).
"""

import json
import os
import posixpath
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also runnable by file name
import mtapi  # noqa: E402
import test_mlflow_artifact_flow as af  # noqa: E402
from mtapi import uniq  # noqa: E402

setUpModule = mtapi.wait_ready

VERSION = "3.5.0"
HEADERS = {"User-Agent": "mlflow-python-client/" + VERSION,
           "X-MLflow-Client-Version": VERSION}
T = "/api/2.0/mlflow/"
LM = T + "logged-models"
# The files mlflow.sklearn.log_model writes (with an input example).
SKLEARN_FILES = ("MLmodel", "conda.yaml", "model.pkl", "python_env.yaml", "requirements.txt",
                 "input_example.json", "serving_input_example.json")


class Session(af.Session):
    """The client's requests.Session with the 3.x default headers."""

    def request(self, method, path, params=None, json_body=None, data=None, headers=None):
        h = dict(HEADERS)
        h.update(headers or {})
        return super().request(method, path, params=params, json_body=json_body, data=data,
                               headers=h)


class Client3(af.Client):
    """MlflowClient / fluent state of one 3.x process."""

    def __init__(self, test):
        super().__init__(test)
        self.s = Session()
        self.model_repos = {}  # _get_artifact_repo_for_logged_model's cache

    def call(self, method, endpoint, body=None, params=None, what=None):
        """rest_utils.call_endpoint: 200 and a JSON object, or the test fails."""
        st, _, p = self.s.request(method, endpoint, params=params, json_body=body)
        return af.parse_json_object(self.t, st, p, what or endpoint)

    # -- tracking (rest_store.py) --

    def get_experiment_by_name(self, name):
        st, _, p = self.s.request("GET", T + "experiments/get-by-name",
                                  params={"experiment_name": name})
        if st == 404:
            return None
        return af.parse_json_object(self.t, st, p, "get-by-name")["experiment"]

    def log_param(self, run_id, key, value):
        self.call("POST", T + "runs/log-parameter",
                  {"run_uuid": run_id, "run_id": run_id, "key": key, "value": value})

    def log_metric(self, run_id, key, value, timestamp, step=0):
        # LogMetric without model_id / dataset fields: no active model.
        self.call("POST", T + "runs/log-metric",
                  {"run_uuid": run_id, "run_id": run_id, "key": key, "value": value,
                   "timestamp": timestamp, "step": step})

    def get_metric_history(self, run_id, key):
        """TrackingServiceClient.get_metric_history: pages of 25,000."""
        out, token = [], None
        while True:
            params = {"run_uuid": run_id, "run_id": run_id, "metric_key": key,
                      "max_results": 25000}
            if token:
                params["page_token"] = token
            b = self.call("GET", T + "metrics/get-history", params=params)
            out += b.get("metrics", [])
            token = b.get("next_page_token")
            if not token:
                return out

    def create_logged_model(self, experiment_id, name, source_run_id, params, tags):
        body = {"experiment_id": experiment_id, "name": name, "source_run_id": source_run_id,
                "params": [{"key": k, "value": v} for k, v in params.items()],
                "tags": [{"key": k, "value": v} for k, v in tags.items()]}
        return self.call("POST", LM, body)["model"]

    def get_logged_model(self, model_id):
        return self.call("GET", LM + "/" + model_id)["model"]

    def search_logged_models(self, experiment_ids, filter_string=None, page_token=None,
                             max_results=None, order_by=None):
        body = {"experiment_ids": experiment_ids}
        if filter_string is not None:
            body["filter"] = filter_string
        if max_results is not None:
            body["max_results"] = max_results
        if order_by:
            body["order_by"] = order_by
        if page_token:
            body["page_token"] = page_token
        return self.call("POST", LM + "/search", body)

    def model_repo(self, model_id):
        """TrackingServiceClient._get_artifact_repo_for_logged_model: one
        GetLoggedModel per model id, then cached."""
        if model_id not in self.model_repos:
            uri = self.get_logged_model(model_id)["info"]["artifact_uri"]
            self.model_repos[model_id] = af.Repo(self, self.resolve(uri))
        return self.model_repos[model_id]

    # -- runs:/ resolution (runs_artifact_repo.py, 3.1+) --

    def logged_model_repo_for_run(self, run_id, name):
        """RunsArtifactRepository._get_logged_model_artifact_repo: runs/get,
        then every page of search for name = '<name>' in the run's
        experiment, keeping the first model whose source_run_id is the run."""
        exp = self.get_run(run_id)["info"]["experiment_id"]
        token = None
        while True:
            page = self.search_logged_models([exp], "name = '%s'" % name, page_token=token)
            for m in page.get("models", []):
                if m["info"].get("source_run_id") == run_id:
                    return af.Repo(self, self.resolve(m["info"]["artifact_uri"]))
            token = page.get("next_page_token")
            if not token:
                return None


def sklearn_model_dir(top, model_id, artifact_uri, run_id):
    """What mlflow.sklearn.save_model leaves in the temporary directory."""
    files = {
        "MLmodel": ("artifact_path: %s\nflavors:\n  python_function:\n    loader_module: "
                    "mlflow.sklearn\n  sklearn:\n    pickled_model: model.pkl\n"
                    "mlflow_version: %s\nmodel_id: %s\nmodel_uuid: %s\nrun_id: %s\n"
                    % (artifact_uri, VERSION, model_id, model_id, run_id)).encode(),
        "conda.yaml": b"channels:\n- conda-forge\ndependencies:\n- python=3.11\n",
        "model.pkl": os.urandom(4096),
        "python_env.yaml": b"python: 3.11\n",
        "requirements.txt": b"mlflow==3.5.0\nscikit-learn==1.2.1\n",
        "input_example.json": b'{"columns": ["x"], "data": [[1.0]]}',
        "serving_input_example.json": b'{"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}',
    }
    for name, data in files.items():
        af.write(os.path.join(top, name), data)
    return af.tree(top)


class TestMlflow3ClientFlow(mtapi.ApiTestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mlflow3-replay-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.c = Client3(self)
        self.addCleanup(self.c.s.close)

    def log_model(self, run_id, exp_id, name="model", step=0):
        """Model.log (models/model.py), request by request; returns
        (model_id, {file: sha256}, the requests it sent)."""
        c = self.c
        start = len(c.s.log)
        # The run's params become the model's (client.get_run).
        run = c.get_run(run_id)
        params = mtapi.kv(run["data"].get("params"))
        # _create_logged_model: tags from the context providers.
        model = c.create_logged_model(exp_id, name, run_id, params, {
            "mlflow.user": "replay", "mlflow.source.name": "train.py",
            "mlflow.source.type": "LOCAL"})
        info = model["info"]
        mid = info["model_id"]
        self.assertEqual(info["status"], "LOGGED_MODEL_PENDING")
        self.assertEqual(info["source_run_id"], run_id)
        self.assertEqual(mtapi.kv(model["data"].get("params")), params)
        # with _use_logged_model(model): ...
        c.call("POST", T + "runs/outputs", {"run_id": run_id,
                                            "models": [{"model_id": mid, "step": step}]})
        # log_model_metrics_for_step: the run's points at this step, copied
        # with the model's id when they carry none.
        copies = []
        for key in c.get_run(run_id)["data"].get("metrics", []):
            for m in c.get_metric_history(run_id, key["key"]):
                if m["step"] == step and m.get("model_id") is None:
                    copy = {"key": m["key"], "value": m["value"], "timestamp": m["timestamp"],
                            "step": m["step"], "model_id": mid}
                    for f in ("dataset_name", "dataset_digest", "run_id"):
                        if m.get(f):
                            copy[f] = m[f]
                    copies.append(copy)
        if copies:  # the client returns early on an empty batch
            c.call("POST", T + "runs/log-batch", {"run_id": run_id, "metrics": copies})
        # save_model writes MLmodel with the model's artifact location.
        local = os.path.join(self.tmp, "model-" + mid)
        files = sklearn_model_dir(local, mid, info["artifact_uri"], run_id)
        # client.log_model_artifacts: GetLoggedModel, then one PUT per file.
        c.model_repo(mid).log_artifacts(local)
        # end of the with block: finalize.
        b = c.call("PATCH", LM + "/" + mid, {"model_id": mid, "status": "LOGGED_MODEL_READY"})
        self.assertEqual(b["model"]["info"]["status"], "LOGGED_MODEL_READY")
        return mid, files, c.s.log[start:]

    def register(self, model_id, name):
        """_register_model("models:/<id>", name) of log_model(registered_model_name=)."""
        c = self.c
        st, _, p = c.s.request("POST", T + "registered-models/create", json_body={"name": name})
        if st != 200:
            body = json.loads(p)
            self.assertIn(body["error_code"], ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"))
        mv = c.call("POST", T + "model-versions/create",
                    {"name": name, "source": "models:/" + model_id, "model_id": model_id})
        mv = mv["model_version"]
        # _await_model_version_creation: polls only while PENDING_REGISTRATION.
        self.assertEqual(mv["status"], "READY")
        new_value = [{"name": mv["name"], "version": mv["version"]}]
        existing = mtapi.kv(c.get_logged_model(model_id)["info"].get("tags")).get(
            "mlflow.modelVersions")
        if existing:
            new_value = json.loads(existing) + new_value
        self.assertEqual(c.call("PATCH", LM + "/" + model_id + "/tags", {"tags": [
            {"key": "mlflow.modelVersions", "value": json.dumps(new_value)}]}), {})
        return mv

    def download(self, repo, dst):
        """ArtifactRepository.download_artifacts of the whole repository:
        list recursively, then one GET per file."""
        out = os.path.join(self.tmp, dst)
        os.makedirs(out)
        for path, is_dir, _ in repo.iter_recursive(""):
            if not is_dir:
                os.makedirs(os.path.dirname(os.path.join(out, path)), exist_ok=True)
                repo.download_file(path, os.path.join(out, path))
        return af.tree(out)

    def test_log_register_load(self):
        c = self.c
        # mlflow.set_experiment: get-by-name, then create.
        name = uniq("mlflow3")
        self.assertIsNone(c.get_experiment_by_name(name))
        exp = c.create_experiment(name)
        # mlflow.start_run
        run = c.create_run(exp, uniq("run"))["info"]
        rid = run["run_id"]
        self.assertEqual(run["artifact_uri"], "mlflow-artifacts:/%s/%s/artifacts" % (exp, rid))
        c.log_param(rid, "alpha", "0.5")
        t = mtapi.now_ms()
        c.log_metric(rid, "rmse", 0.78, t)
        c.log_metric(rid, "rmse", 0.70, t + 1, step=1)
        c.log_metric(rid, "r2", 0.25, t)
        reg = uniq("reg")

        mid, files, sent = self.log_model(rid, exp)
        self.assertEqual(set(files), set(SKLEARN_FILES))
        model_root = "%s/models/%s/artifacts" % (exp, mid)
        puts = [(m, p) for m, p, _ in sent if m == "PUT"]
        self.assertEqual([(m, p) for m, p, _ in sent], [
            ("GET", T + "runs/get"),
            ("POST", LM),
            ("POST", T + "runs/outputs"),
            ("GET", T + "runs/get"),
            ("GET", T + "metrics/get-history"),
            ("GET", T + "metrics/get-history"),
            ("POST", T + "runs/log-batch"),
            ("GET", LM + "/" + mid)] + puts + [("PATCH", LM + "/" + mid)])
        self.assertEqual(sorted(p for m, p, _ in sent if m == "PUT"),
                         sorted(af.ARTIFACTS_API + "/" + model_root + "/" + f for f in files))

        # The model now carries the run's step-0 metrics, the run its output.
        model = c.get_logged_model(mid)
        self.assertEqual(sorted((m["key"], m["value"], m["run_id"]) for m in
                                model["data"]["metrics"]),
                         [("r2", 0.25, rid), ("rmse", 0.78, rid)])
        self.assertEqual(c.get_run(rid)["outputs"], {"model_outputs": [{"model_id": mid,
                                                                        "step": 0}]})
        # The run's history did not grow: the copies are the same points.
        self.assertEqual(len(c.get_metric_history(rid, "rmse")), 2)

        mv = self.register(mid, reg)
        self.assertEqual((mv["version"], mv["run_id"], mv["source"]), ("1", rid, "models:/" + mid))
        tag = mtapi.kv(c.get_logged_model(mid)["info"]["tags"])["mlflow.modelVersions"]
        # The server's entry, then the client's own (it does not dedup).
        self.assertEqual(json.loads(tag), [{"name": reg, "version": 1},
                                           {"name": reg, "version": "1"}])

        # mlflow.end_run
        c.call("POST", T + "runs/update", {"run_uuid": rid, "run_id": rid, "status": "FINISHED",
                                           "end_time": mtapi.now_ms()})

        # load_model("models:/NAME/1"): get-download-uri, then the proxy.
        u = c.call("GET", T + "model-versions/get-download-uri",
                   params={"name": reg, "version": "1"})["artifact_uri"]
        self.assertEqual(u, "mlflow-artifacts:/" + model_root)
        self.assertEqual(self.download(af.Repo(c, c.resolve(u)), "by-version"), files)

        # load_model("models:/<model_id>"): GetLoggedModel, then the proxy.
        u = c.get_logged_model(mid)["info"]["artifact_uri"]
        self.assertEqual(self.download(af.Repo(c, c.resolve(u)), "by-id"), files)

        # download_artifacts("runs:/<run>/model") (3.1+): the run has no
        # such directory, so the logged model named "model" of the run is used.
        self.assertEqual(c.repo_for_runs_uri("runs:/%s/model" % rid).list_artifacts(), [])
        repo = c.logged_model_repo_for_run(rid, "model")
        self.assertIsNotNone(repo)
        self.assertEqual(self.download(repo, "by-run"), files)

        # list_artifacts(run_id=..., artifact_path="model") (3.1+): the run's
        # listing plus the model's, with the model name in front.
        run_part = c.repo_for_run(rid).list_artifacts("model")
        model_part = [("model/" + p, d, s) for p, d, s in
                      c.logged_model_repo_for_run(rid, "model").list_artifacts("")]
        listing = run_part + model_part
        self.assertEqual(sorted(p for p, _, _ in listing),
                         sorted("model/" + f for f in files))
        self.assertTrue(all(s == os.path.getsize(os.path.join(self.tmp, "by-id", p[6:]))
                            for p, _, s in listing))

        # mlflow.search_logged_models and MlflowClient.search_logged_models.
        page = c.search_logged_models([exp], "name = 'model'")
        self.assertEqual([m["info"]["model_id"] for m in page["models"]], [mid])
        page = c.search_logged_models([exp], "metrics.rmse < 1", order_by=[
            {"field_name": "metrics.rmse", "ascending": True}], max_results=10)
        self.assertEqual([m["info"]["model_id"] for m in page["models"]], [mid])
        # mlflow.search_runs finds the run with its model output.
        found = c.call("POST", T + "runs/search", {"experiment_ids": [exp], "filter": "",
                                                   "run_view_type": "ACTIVE_ONLY",
                                                   "max_results": 1000})["runs"]
        self.assertEqual(found[0]["outputs"]["model_outputs"][0]["model_id"], mid)

    def test_second_model_in_the_same_run(self):
        # Two log_model calls in one run: the second model gets the step-0
        # metrics too (they carry no model_id in the run's history), and
        # runs:/<run>/<name> finds each by its name.
        c = self.c
        exp = c.create_experiment(uniq("mlflow3"))
        rid = c.create_run(exp, uniq("run"))["info"]["run_id"]
        c.log_metric(rid, "acc", 0.9, mtapi.now_ms())
        m1, f1, _ = self.log_model(rid, exp, name="first")
        m2, f2, _ = self.log_model(rid, exp, name="second")
        for mid in (m1, m2):
            self.assertEqual([m["key"] for m in c.get_logged_model(mid)["data"]["metrics"]],
                             ["acc"])
        self.assertEqual(self.download(c.logged_model_repo_for_run(rid, "second"), "2"), f2)
        self.assertEqual(self.download(c.logged_model_repo_for_run(rid, "first"), "1"), f1)
        self.assertIsNone(c.logged_model_repo_for_run(rid, "third"))

    def test_model_without_run(self):
        # log_model outside a run: no runs/outputs, no metric copies, and the
        # model lands in the active (default "0") experiment.
        c = self.c
        model = c.call("POST", LM, {"experiment_id": "0", "name": "loose", "tags": [
            {"key": "mlflow.user", "value": "replay"}]})["model"]
        mid = model["info"]["model_id"]
        self.assertNotIn("source_run_id", model["info"])
        self.assertEqual(model["info"]["artifact_uri"],
                         "mlflow-artifacts:/0/models/%s/artifacts" % mid)
        local = os.path.join(self.tmp, "loose")
        files = sklearn_model_dir(local, mid, model["info"]["artifact_uri"], "")
        c.model_repo(mid).log_artifacts(local)
        c.call("PATCH", LM + "/" + mid, {"model_id": mid, "status": "LOGGED_MODEL_READY"})
        self.assertEqual(self.download(c.model_repo(mid), "loose-dl"), files)
        c.call("DELETE", LM + "/" + mid, {"model_id": mid})

    def test_upload_failure_is_recorded(self):
        # An exception inside _use_logged_model: the client finalizes with
        # LOGGED_MODEL_UPLOAD_FAILED, then re-raises.
        c = self.c
        exp = c.create_experiment(uniq("mlflow3"))
        model = c.call("POST", LM, {"experiment_id": exp, "name": "broken"})["model"]
        mid = model["info"]["model_id"]
        b = c.call("PATCH", LM + "/" + mid, {"model_id": mid,
                                              "status": "LOGGED_MODEL_UPLOAD_FAILED"})
        self.assertEqual(b["model"]["info"]["status"], "LOGGED_MODEL_UPLOAD_FAILED")
        page = c.search_logged_models([exp], "status = 'FAILED'")
        self.assertEqual([m["info"]["model_id"] for m in page["models"]], [mid])

    def test_many_params_are_sent_in_batches(self):
        # create_logged_model with more than 100 params: the first 100 in the
        # create, the rest through logged-models/<id>/params in batches of
        # 100, then GetLoggedModel.
        c = self.c
        exp = c.create_experiment(uniq("mlflow3"))
        params = {"p%03d" % i: str(i) for i in range(250)}
        items = sorted(params.items())
        model = c.call("POST", LM, {"experiment_id": exp, "name": "wide", "params": [
            {"key": k, "value": v} for k, v in items[:100]]})["model"]
        mid = model["info"]["model_id"]
        for i in range(100, 250, 100):
            self.assertEqual(c.call("POST", LM + "/" + mid + "/params", {
                "model_id": mid, "params": [{"key": k, "value": v}
                                            for k, v in items[i:i + 100]]}), {})
        self.assertEqual(mtapi.kv(c.get_logged_model(mid)["data"]["params"]), params)


if __name__ == "__main__":
    unittest.main()
