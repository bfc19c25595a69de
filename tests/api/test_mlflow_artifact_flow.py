"""Wire-level replays of the artifact traffic of an unmodified MLflow 2.x
Python client (2.9 to 2.17) talking to a tracking server that serves
artifacts (`mlflow server --serve-artifacts`, the 2.x default).

PyPI is out of reach here, so instead of running MLflow this file sends, with
the standard library, the requests MLflow's client code sends (same methods,
paths, query strings, headers and body framing, in the same order, on one
keep-alive connection as a requests.Session does) and checks each answer
against what that client code needs in order to succeed.  Every test names
the MLflow function it replays and the MLflow source files the facts come
from (github.com/mlflow/mlflow, 2.x branch).  No MLflow code is copied.

Facts shared by every flow:

* Transport (mlflow/utils/rest_utils.py http_request; mlflow/utils/
  request_utils.py _get_request_session / _get_http_response_with_retries):
  every call goes through one cached requests.Session whose adapter retries
  (urllib3 Retry, default MLFLOW_HTTP_REQUEST_MAX_RETRIES=5, backoff 2) on
  connection errors and on 408, 429, 500, 502, 503 and 504, for every method.
  The URL is host_creds.host with the trailing "/" stripped, plus endpoint.
* Headers (mlflow/tracking/request_header/default_request_header_provider.py
  plus requests' own defaults): User-Agent: mlflow-python-client/<version>,
  Accept-Encoding: gzip, deflate, Accept: */*, Connection: keep-alive; no
  Authorization unless MLFLOW_TRACKING_TOKEN/USERNAME are set; never Expect.
* Tracking calls (mlflow/store/tracking/rest_store.py, rest_utils.py
  call_endpoint): GET sends the request message as query parameters, POST as
  a JSON body; the answer must be 200 and a JSON object (verify_rest_response)
  and is parsed with unknown fields ignored.
* Artifact URIs (mlflow/store/tracking/sqlalchemy_store.py
  _get_artifact_location, create_run): with the default artifact root
  "mlflow-artifacts:/" an experiment's artifact_location is
  "mlflow-artifacts:/<experiment_id>" and a run's artifact_uri is
  "<artifact_location>/<run_id>/artifacts".
* mlflow-artifacts:/ resolution (mlflow/store/artifact/mlflow_artifacts_repo.py
  MlflowArtifactsRepository.resolve_uri): scheme and host come from the
  tracking URI, the path is "<tracking path>/api/2.0/mlflow-artifacts/
  artifacts/<uri path>" with repeated slashes collapsed and no trailing slash;
  HttpArtifactRepository (mlflow/store/artifact/http_artifact_repo.py) then
  uses that URL as its host, appending "/<artifact path>" for files.
* Request framing for a file body (requests/models.py prepare_body,
  super_len): a file object of non-zero size goes out with Content-Length;
  an empty file has length 0, so requests sends "Transfer-Encoding: chunked"
  and a lone "0\\r\\n\\r\\n".  URL paths are requoted (requests/utils.py
  requote_uri: a space becomes %20), query values are form-encoded
  (urlencode: "/" becomes %2F, a space "+").
"""

import gzip
import hashlib
import http.client
import json
import math
import mimetypes
import os
import posixpath
import re
import shutil
import sys
import tempfile
import unittest
import urllib.parse
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also runnable by file name
import mtapi  # noqa: E402
from mtapi import uniq  # noqa: E402

setUpModule = mtapi.wait_ready

MLFLOW_VERSION = "2.17.2"
USER_AGENT = "mlflow-python-client/" + MLFLOW_VERSION
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
MPU_API = "/api/2.0/mlflow-artifacts/mpu"
# The statuses urllib3 retries for MLflow (request_utils.py
# _TRANSIENT_FAILURE_RESPONSE_CODES): an answer the client must not get when
# it is supposed to act on it at once.
RETRIED = {408, 429, 500, 502, 503, 504}
# mlflow/exceptions.py _UnsupportedMultipartUploadException.MESSAGE
MPU_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"
# Extensions that mlflow/utils/mime_type_utils.py _guess_mime_type calls
# text/plain before asking the mimetypes module (MLmodel and MLproject too).
TEXT_EXTENSIONS = {"txt", "log", "err", "cfg", "conf", "cnf", "cf", "ini", "properties",
                   "prop", "hocon", "toml", "yaml", "yml", "xml", "json", "js", "py", "py3",
                   "csv", "tsv", "md", "rst", "MLmodel", "MLproject"}


def guess_mime_type(file_name):
    """The Content-Type HttpArtifactRepository.log_artifact sends."""
    ext = os.path.splitext(file_name)[1].replace(".", "") or file_name
    if ext in TEXT_EXTENSIONS:
        return "text/plain"
    return mimetypes.guess_type(file_name)[0] or "application/octet-stream"


def requote(path):
    """requests' requote_uri for a path without %-escapes of its own."""
    return urllib.parse.quote(path, safe="!#$%&'()*+,/:;=?@[]~")


class Session:
    """What a requests.Session with MLflow's headers puts on the wire: one
    keep-alive connection, reopened only when the server closes it.  Every
    request is logged as (method, path below the tracking URI, query dict)."""

    def __init__(self):
        self.conn = None
        self.log = []
        self.targets = []
        self.framing = []

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _connection(self):
        if self.conn is None:
            cls = (http.client.HTTPSConnection if mtapi._u.scheme == "https"
                   else http.client.HTTPConnection)
            self.conn = cls(mtapi._HOST, mtapi._PORT, timeout=mtapi.TIMEOUT)
        return self.conn

    def request(self, method, path, params=None, json_body=None, data=None, headers=None):
        """Send like requests.Session.request(method, url, params=, json=,
        data=, headers=); returns (status, headers, decoded body bytes)."""
        target = mtapi._PREFIX + requote(path)
        if params:
            target += "?" + urllib.parse.urlencode(list(params.items()))
        hdrs = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate",
                "Accept": "*/*", "Connection": "keep-alive"}
        hdrs.update(headers or {})  # before the framing headers, as requests orders them
        body, chunked, start = None, False, None
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode("utf-8")
            hdrs["Content-Length"] = str(len(body))
            hdrs["Content-Type"] = "application/json"
        elif data is not None:
            body = data
            start = data.tell()
            length = os.fstat(data.fileno()).st_size - start
            if length:
                hdrs["Content-Length"] = str(length)
            else:
                hdrs["Transfer-Encoding"] = "chunked"
                chunked = True
        self.log.append((method, path, dict(params) if params else None))
        self.targets.append((method, target))
        self.framing.append((method, path, "chunked" if chunked else
                             hdrs.get("Content-Length")))
        for attempt in (1, 2):
            reused = self.conn is not None
            conn = self._connection()
            try:
                conn.request(method, target, body=body, headers=hdrs, encode_chunked=chunked)
                r = conn.getresponse()
                payload = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server had already dropped:
                # urllib3 opens a new one and sends again.
                self.close()
                if not reused or attempt == 2:
                    raise
                if start is not None:
                    data.seek(start)
        if r.will_close:
            self.close()
        encoding = (r.headers.get("Content-Encoding") or "").strip().lower()
        if encoding == "gzip":
            payload = gzip.decompress(payload)
        elif encoding == "deflate":
            payload = zlib.decompress(payload)
        return r.status, r.headers, payload


def parse_json_object(test, status, payload, what):
    test.assertEqual(status, 200, "%s: %d %r" % (what, status, payload[:300]))
    try:
        body = mtapi.parse_json(payload.decode("utf-8"))
    except ValueError as e:
        test.fail("%s: the answer is not JSON (%s): %r" % (what, e, payload[:300]))
    test.assertIsInstance(body, dict, "%s: %r" % (what, body))
    return body


class Client:
    """The client-side state of one MLflow process: the Session, and
    TrackingServiceClient._artifact_repos_cache (run id -> repository)."""

    def __init__(self, test):
        self.t = test
        self.s = Session()
        self.repo_cache = {}

    # -- tracking REST calls (mlflow/store/tracking/rest_store.py) --

    def get_run(self, run_id):
        """RestStore.get_run: GET runs/get with run_uuid and run_id both set."""
        st, _, p = self.s.request("GET", "/api/2.0/mlflow/runs/get",
                                  params={"run_uuid": run_id, "run_id": run_id})
        body = parse_json_object(self.t, st, p, "runs/get")
        self.t.assertIn("run", body)
        return body["run"]

    def create_experiment(self, name):
        """RestStore.create_experiment: POST experiments/create {"name"}."""
        st, _, p = self.s.request("POST", "/api/2.0/mlflow/experiments/create",
                                  json_body={"name": name})
        return parse_json_object(self.t, st, p, "experiments/create")["experiment_id"]

    def get_experiment(self, experiment_id):
        st, _, p = self.s.request("GET", "/api/2.0/mlflow/experiments/get",
                                  params={"experiment_id": experiment_id})
        return parse_json_object(self.t, st, p, "experiments/get")["experiment"]

    def create_run(self, experiment_id, run_name):
        """RestStore.create_run as mlflow.start_run calls it."""
        st, _, p = self.s.request("POST", "/api/2.0/mlflow/runs/create", json_body={
            "experiment_id": experiment_id, "user_id": "replay",
            "start_time": mtapi.now_ms(), "run_name": run_name,
            "tags": [{"key": "mlflow.user", "value": "replay"},
                     {"key": "mlflow.source.name", "value": "replay.py"},
                     {"key": "mlflow.source.type", "value": "LOCAL"},
                     {"key": "mlflow.runName", "value": run_name}]})
        return parse_json_object(self.t, st, p, "runs/create")["run"]

    # -- artifact repositories --

    def resolve(self, artifact_uri):
        """MlflowArtifactsRepository.resolve_uri, as a path below the host."""
        u = urllib.parse.urlparse(artifact_uri)
        self.t.assertEqual(u.scheme, "mlflow-artifacts", artifact_uri)
        self.t.assertEqual(u.netloc, "", "an mlflow-artifacts URI with a host sends the "
                           "client to that host: %s" % artifact_uri)
        path = re.sub("//+", "/", "/%s/%s" % (ARTIFACTS_API, u.path))
        return path.rstrip("/")

    def repo_for_run(self, run_id):
        """TrackingServiceClient._get_artifact_repo: runs/get once per run."""
        if run_id not in self.repo_cache:
            uri = self.get_run(run_id)["info"]["artifact_uri"]
            self.repo_cache[run_id] = Repo(self, self.resolve(uri))
        return self.repo_cache[run_id]

    def repo_for_runs_uri(self, runs_uri):
        """RunsArtifactRepository.get_underlying_uri: parse runs:/<run_id>/<path>,
        runs/get (artifact_utils.get_artifact_uri, not cached), append the path
        to the run's artifact_uri (uri.append_to_uri_path)."""
        u = urllib.parse.urlparse(runs_uri)
        self.t.assertEqual(u.scheme, "runs")
        run_id, _, rel = u.path[1:].partition("/")
        uri = self.get_run(run_id)["info"]["artifact_uri"]
        if rel:
            uri = uri.rstrip("/") + "/" + rel
        return Repo(self, self.resolve(uri))


class Repo:
    """HttpArtifactRepository (via MlflowArtifactsRepository) rooted at
    `root`, a path like /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts."""

    def __init__(self, client, root):
        self.c = client
        self.t = client.t
        self.s = client.s
        self.root = root

    def log_artifact(self, local_file, artifact_path=None):
        """HttpArtifactRepository.log_artifact: one PUT of the file to
        <root>/[<artifact_path>/]<basename>, Content-Type from the name."""
        name = os.path.basename(local_file)
        path = posixpath.join(self.root, *((artifact_path, name) if artifact_path else (name,)))
        with open(local_file, "rb") as f:
            st, _, p = self.s.request("PUT", path, data=f,
                                      headers={"Content-Type": guess_mime_type(name)})
        # augmented_raise_for_status: any status >= 400 fails the upload.
        self.t.assertEqual(st, 200, "PUT %s: %d %r" % (path, st, p[:300]))

    def log_artifacts(self, local_dir, artifact_path=None):
        """HttpArtifactRepository.log_artifacts: os.walk, one log_artifact per
        file, one after the other; empty directories send nothing."""
        local_dir = os.path.abspath(local_dir)
        for d, _, files in os.walk(local_dir):
            rel = os.path.relpath(d, local_dir).replace(os.sep, "/")
            target = artifact_path if rel == "." else (
                posixpath.join(artifact_path, rel) if artifact_path else rel)
            for f in files:
                self.log_artifact(os.path.join(d, f), target)

    def list_artifacts(self, path=None):
        """HttpArtifactRepository.list_artifacts: GET <ARTIFACTS_API>?path=
        <root below ARTIFACTS_API>[/<path>]; reads files[] (absent = empty),
        needs path and is_dir in each, int(file_size) when present, joins each
        path to the listed one and sorts by path.  Later 2.x versions refuse
        an unsafe entry path (mlflow/utils/uri.py validate_path_is_safe)."""
        tail = self.root.split(ARTIFACTS_API, 1)[1].lstrip("/")
        st, _, p = self.s.request("GET", ARTIFACTS_API,
                                  params={"path": posixpath.join(tail, path) if path else tail})
        body = parse_json_object(self.t, st, p, "mlflow-artifacts listing")
        out = []
        for f in body.get("files", []):
            self.t.assertIsInstance(f.get("path"), str, f)
            self.t.assertIn("is_dir", f, "the client reads f['is_dir'] unconditionally")
            self.t.assertIsInstance(f["is_dir"], bool, f)
            name = f["path"]
            self.t.assertTrue(name and "#" not in name and "\\" not in name
                              and ".." not in name.split("/")
                              and not name.startswith("/"), "unsafe entry path %r" % name)
            size = int(f["file_size"]) if "file_size" in f else None
            out.append((posixpath.join(path, name) if path else name, f["is_dir"], size))
        return sorted(out)

    def is_directory(self, path):
        """ArtifactRepository._is_directory: a non-empty listing means a directory,
        so listing a file must come back empty."""
        return len(self.list_artifacts(path)) > 0

    def iter_recursive(self, path):
        """ArtifactRepository._iter_artifacts_recursive: list, drop "." and the
        path itself, recurse into directories; an empty one is yielded as a
        directory."""
        entries = [e for e in self.list_artifacts(path) if e[0] not in (".", path)]
        if not entries:
            yield (path, True, None)
            return
        for e in entries:
            if e[1]:
                yield from self.iter_recursive(e[0])
            else:
                yield e

    def download_file(self, remote_path, local_path):
        """HttpArtifactRepository._download_file: GET <root>/<remote_path>
        (stream=True), body written as it comes."""
        path = posixpath.join(self.root, remote_path)
        st, h, p = self.s.request("GET", path)
        self.t.assertEqual(st, 200, "GET %s: %d %r" % (path, st, p[:300]))
        if "Content-Length" in h and not h.get("Content-Encoding"):
            self.t.assertEqual(len(p), int(h["Content-Length"]))  # urllib3 enforces it
        with open(local_path, "wb") as f:
            f.write(p)

    def download_artifacts(self, artifact_path, dst_path):
        """ArtifactRepository.download_artifacts (mlflow/store/artifact/
        artifact_repo.py): _is_directory(artifact_path); a directory is walked
        with _iter_artifacts_recursive and each file fetched, otherwise the path
        itself is fetched as a file.  Returns dst_path/artifact_path."""
        def dest(src):
            src = src.rstrip("/")
            os.makedirs(os.path.join(dst_path, posixpath.dirname(src)), exist_ok=True)
            return os.path.join(dst_path, src)

        if self.is_directory(artifact_path):
            for path, is_dir, _ in self.iter_recursive(artifact_path):
                if is_dir:
                    os.makedirs(os.path.join(dst_path, path), exist_ok=True)
                else:
                    self.download_file(path, dest(path))
        else:
            self.download_file(artifact_path, dest(artifact_path))
        return os.path.join(dst_path, artifact_path)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def tree(top):
    """{relative posix path: sha256} of every file under top."""
    out = {}
    for d, _, files in os.walk(top):
        for f in files:
            full = os.path.join(d, f)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, top).replace(os.sep, "/")] = \
                    hashlib.sha256(fh.read()).hexdigest()
    return out


LIST = ("GET", ARTIFACTS_API)


class TestMlflowArtifactFlow(mtapi.ApiTestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mlflow-replay-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.c = Client(self)
        self.addCleanup(self.c.s.close)
        # mlflow.set_experiment / mlflow.start_run, through the same session.
        self.eid = self.c.create_experiment(uniq("replay"))
        run = self.c.create_run(self.eid, uniq("run"))
        self.rid = run["info"]["run_id"]
        self.run_root = "%s/%s/artifacts" % (self.eid, self.rid)
        self.url_root = ARTIFACTS_API + "/" + self.run_root
        self.c.s.log.clear()
        self.c.s.targets.clear()
        self.c.s.framing.clear()

    def local(self, rel, data):
        path = os.path.join(self.tmp, "src", rel)
        write(path, data)
        return path

    def get_run_call(self):
        return ("GET", "/api/2.0/mlflow/runs/get", {"run_uuid": self.rid, "run_id": self.rid})

    def upload(self, rel, data):
        """Store a file the way log_artifact does, on a separate client."""
        c = Client(self)
        try:
            c.repo_for_run(self.rid).log_artifact(self.local(rel, data), posixpath.dirname(rel)
                                                  or None)
        finally:
            c.s.close()

    # ------------------------------------------------------------------

    def test_artifact_uri_layout_and_resolution(self):
        # Replays: mlflow.set_experiment + mlflow.start_run, then the
        # resolution every artifact call starts with.
        # Sources: mlflow/store/tracking/rest_store.py (create_experiment,
        # get_experiment, create_run, get_run); mlflow/store/tracking/
        # sqlalchemy_store.py (_get_artifact_location, create_run: the URI
        # layout the MLflow server hands out with the default artifact root
        # mlflow-artifacts:/); mlflow/store/artifact/artifact_repository_registry.py
        # (the mlflow-artifacts scheme maps to MlflowArtifactsRepository);
        # mlflow/store/artifact/mlflow_artifacts_repo.py (resolve_uri).
        exp = self.c.get_experiment(self.eid)
        self.assertEqual(exp["artifact_location"], "mlflow-artifacts:/%s" % self.eid)
        run = self.c.get_run(self.rid)
        uri = run["info"]["artifact_uri"]
        self.assertEqual(uri, "mlflow-artifacts:/%s/%s/artifacts" % (self.eid, self.rid))
        self.assertEqual(self.c.resolve(uri), self.url_root)
        # a second run of the same experiment gets its own directory
        other = self.c.create_run(self.eid, uniq("run"))["info"]
        self.assertEqual(other["artifact_uri"], "mlflow-artifacts:/%s/%s/artifacts"
                         % (self.eid, other["run_id"]))

    def test_log_artifact(self):
        # Replays: mlflow.log_artifact(local_file, artifact_path) and
        # MlflowClient().log_artifact(run_id, local_file, artifact_path).
        # Sources: mlflow/tracking/fluent.py log_artifact -> mlflow/tracking/
        # client.py MlflowClient.log_artifact -> mlflow/tracking/
        # _tracking_service/client.py TrackingServiceClient.log_artifact and
        # _get_artifact_repo (runs/get once per run id, then cached);
        # mlflow/store/artifact/http_artifact_repo.py log_artifact (a PUT of the
        # open file to <artifact URL>/<artifact_path>/<basename>, Content-Type
        # from mlflow/utils/mime_type_utils.py _guess_mime_type, success =
        # status < 400 via augmented_raise_for_status).  With
        # MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD unset (the default) there is no
        # multipart probe (see test_multipart_probe_falls_back_to_put).
        model = os.urandom(300 * 1024 + 7)
        notes = "résumé of the run\n".encode("utf-8")
        f1 = self.local("model.pkl", model)
        f2 = self.local("notes.txt", notes)
        f3 = self.local("plot.png", b"\x89PNG\r\n\x1a\n" + os.urandom(1000))
        repo = self.c.repo_for_run(self.rid)
        repo.log_artifact(f1, "models/sk")
        repo.log_artifact(f2)                    # artifact_path=None: the run's root
        self.c.repo_for_run(self.rid).log_artifact(f3, "plots")   # cached: no runs/get
        self.assertEqual(self.c.s.log, [
            self.get_run_call(),
            ("PUT", self.url_root + "/models/sk/model.pkl", None),
            ("PUT", self.url_root + "/notes.txt", None),
            ("PUT", self.url_root + "/plots/plot.png", None)])
        self.assertEqual([x[2] for x in self.c.s.framing[1:]],
                         [str(len(model)), str(len(notes)), str(os.path.getsize(f3))])
        self.assertEqual([guess_mime_type(n) for n in ("notes.txt", "plot.png")],
                         ["text/plain", "image/png"])
        # what was stored is byte for byte what was sent
        for rel, data in (("models/sk/model.pkl", model), ("notes.txt", notes)):
            st, _, got = self.c.s.request("GET", self.url_root + "/" + rel)
            self.assertEqual((st, hashlib.sha256(got).hexdigest()),
                             (200, hashlib.sha256(data).hexdigest()))

    def test_log_artifact_empty_file_is_sent_chunked(self):
        # Replays: mlflow.log_artifact of an empty file (e.g. an empty
        # requirements or log file).  Sources: mlflow/store/artifact/
        # http_artifact_repo.py log_artifact (data=<open file>); requests
        # models.py prepare_body: super_len() is 0, so the request carries
        # "Transfer-Encoding: chunked" and no Content-Length, and the body is
        # the last-chunk marker alone.
        f = self.local("empty.log", b"")
        self.c.repo_for_run(self.rid).log_artifact(f, "logs")
        self.assertEqual(self.c.s.log[-1], ("PUT", self.url_root + "/logs/empty.log", None))
        self.assertEqual(self.c.s.framing[-1], ("PUT", self.url_root + "/logs/empty.log",
                                                "chunked"))
        # the next request on the same keep-alive connection still works
        files = self.c.repo_for_run(self.rid).list_artifacts("logs")
        self.assertEqual(files, [("logs/empty.log", False, 0)])
        st, h, got = self.c.s.request("GET", self.url_root + "/logs/empty.log")
        self.assertEqual((st, got), (200, b""))

    def test_log_artifacts_directory(self):
        # Replays: mlflow.log_artifacts(local_dir, artifact_path) and
        # MlflowClient().log_artifacts.  Sources: mlflow/tracking/fluent.py
        # log_artifacts -> mlflow/tracking/_tracking_service/client.py
        # TrackingServiceClient.log_artifacts; mlflow/store/artifact/
        # http_artifact_repo.py log_artifacts (os.walk; one sequential PUT per
        # file at <artifact_path>/<relative dir>/<name>, relative dirs via
        # mlflow/utils/file_utils.py relative_path_to_artifact_path; empty
        # directories produce no request).
        src = os.path.join(self.tmp, "outdir")
        files = {"a.txt": b"alpha\n", "my notes.txt": b"spaced name\n",
                 "v1+final (copy),x=1;y@2.txt": b"odd name\n", "naïve.txt": b"unicode name\n",
                 "sub/b.csv": b"x,y\n1,2\n", "sub/deeper/c.bin": os.urandom(70000),
                 "sub/empty.json": b""}
        for rel, data in files.items():
            write(os.path.join(src, rel), data)
        os.makedirs(os.path.join(src, "nothing"))
        self.c.repo_for_run(self.rid).log_artifacts(src, "outputs")
        puts = [x for x in self.c.s.log if x[0] == "PUT"]
        self.assertEqual(sorted(p[1] for p in puts),
                         sorted(self.url_root + "/outputs/" + r for r in files))
        self.assertEqual(self.c.s.log[0], self.get_run_call())
        self.assertEqual(len(self.c.s.log), 1 + len(files))
        # requests' quoting of the space in the URL path
        # requests' quoting of the URL path: a space and non-ASCII are escaped,
        # "+", "(", ",", "=", ";" and "@" are sent as they are
        for sent in ("my%20notes.txt", "v1+final%20(copy),x=1;y@2.txt", "na%C3%AFve.txt"):
            self.assertIn(("PUT", mtapi._PREFIX + self.url_root + "/outputs/" + sent),
                          self.c.s.targets)
        # the tree reads back the same (one level at a time, as the client lists)
        repo = self.c.repo_for_run(self.rid)
        self.assertEqual(repo.list_artifacts("outputs"), [
            ("outputs/a.txt", False, 6), ("outputs/my notes.txt", False, 12),
            ("outputs/naïve.txt", False, 13), ("outputs/sub", True, None),
            ("outputs/v1+final (copy),x=1;y@2.txt", False, 9)])
        # and each file comes back under the name it was listed with
        for rel, data in files.items():
            st, _, got = self.c.s.request("GET", self.url_root + "/outputs/" + rel)
            self.assertEqual((rel, st, got), (rel, 200, data))
        self.assertEqual(repo.list_artifacts("outputs/sub"), [
            ("outputs/sub/b.csv", False, 8), ("outputs/sub/deeper", True, None),
            ("outputs/sub/empty.json", False, 0)])

    def test_log_dict_and_log_text(self):
        # Replays: mlflow.log_dict(d, "conf/x.json"), mlflow.log_dict(d,
        # "x.json") and mlflow.log_text(text, "notes/readme.md").  Sources:
        # mlflow/tracking/fluent.py log_dict/log_text -> mlflow/tracking/
        # client.py MlflowClient.log_dict (json.dump(indent=2) unless the name
        # ends .yml/.yaml), log_text (utf-8) and _log_artifact_helper (writes a
        # temp file named basename(artifact_file), then log_artifact(run_id,
        # tmp, dirname or None)); then as test_log_artifact.
        d = {"lr": 0.01, "layers": [64, 32], "name": "ünïcode", "nested": {"ok": True}}
        text = "# Readme\nline two — with unicode\n"
        repo = self.c.repo_for_run(self.rid)
        repo.log_artifact(self.local("tmp1/x.json", json.dumps(d, indent=2).encode()), "conf")
        repo.log_artifact(self.local("tmp2/x.json", json.dumps(d, indent=2).encode()))
        repo.log_artifact(self.local("tmp3/readme.md", text.encode("utf-8")), "notes")
        self.assertEqual(self.c.s.log, [
            self.get_run_call(),
            ("PUT", self.url_root + "/conf/x.json", None),
            ("PUT", self.url_root + "/x.json", None),
            ("PUT", self.url_root + "/notes/readme.md", None)])
        self.assertEqual(guess_mime_type("x.json"), "text/plain")
        for rel in ("conf/x.json", "x.json"):
            st, _, got = self.c.s.request("GET", self.url_root + "/" + rel)
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(got.decode("utf-8")), d)
        st, _, got = self.c.s.request("GET", self.url_root + "/notes/readme.md")
        self.assertEqual(got.decode("utf-8"), text)

    def test_list_artifacts(self):
        # Replays: MlflowClient().list_artifacts(run_id) and
        # list_artifacts(run_id, path).  Sources: mlflow/tracking/client.py
        # MlflowClient.list_artifacts -> mlflow/tracking/_tracking_service/
        # client.py TrackingServiceClient.list_artifacts (runs/get, cached) ->
        # mlflow/store/artifact/http_artifact_repo.py list_artifacts (GET
        # /api/2.0/mlflow-artifacts/artifacts?path=<exp>/<run>/artifacts[/<path>],
        # files[] optional, path/is_dir required, file_size optional);
        # the server side it expects is mlflow/server/handlers.py
        # _list_artifacts_mlflow_artifacts (one level, basenames, is_dir always
        # present, file_size only for files, {} when there is nothing).
        for rel in ("model.pkl", "conf/x.json", "conf/sub/y.txt", "metrics/m.csv"):
            self.upload(rel, rel.encode() * 3)
        repo = self.c.repo_for_run(self.rid)
        self.assertEqual(repo.list_artifacts(), [
            ("conf", True, None), ("metrics", True, None), ("model.pkl", False, 27)])
        self.assertEqual(repo.list_artifacts("conf"), [
            ("conf/sub", True, None), ("conf/x.json", False, 33)])
        self.assertEqual(repo.list_artifacts("conf/sub"), [("conf/sub/y.txt", False, 42)])
        self.assertEqual(repo.list_artifacts("does/not/exist"), [])   # {} -> []
        self.assertEqual(repo.list_artifacts("model.pkl"), [])        # a file -> []
        self.assertEqual(self.c.s.log, [
            self.get_run_call(),
            (*LIST, {"path": self.run_root}),
            (*LIST, {"path": self.run_root + "/conf"}),
            (*LIST, {"path": self.run_root + "/conf/sub"}),
            (*LIST, {"path": self.run_root + "/does/not/exist"}),
            (*LIST, {"path": self.run_root + "/model.pkl"})])
        # the query as requests encodes it
        self.assertIn(("GET", mtapi._PREFIX + ARTIFACTS_API + "?path="
                       + urllib.parse.quote_plus(self.run_root + "/conf/sub")),
                      self.c.s.targets)
        # the raw shape: empty listing is a bare {} (MessageToJson drops an
        # empty repeated field), entries carry basenames and explicit is_dir
        st, _, p = self.c.s.request("GET", ARTIFACTS_API,
                                    params={"path": self.run_root + "/does/not/exist"})
        self.assertEqual(parse_json_object(self, st, p, "empty listing"), {})
        st, _, p = self.c.s.request("GET", ARTIFACTS_API, params={"path": self.run_root})
        body = parse_json_object(self, st, p, "root listing")
        for f in body["files"]:
            self.assertNotIn("/", f["path"])
            if f["is_dir"]:
                self.assertNotIn("file_size", f)
            else:
                int(f["file_size"])  # what the client does with it
        # a run without artifacts lists as empty, not as an error
        empty = Client(self)
        self.addCleanup(empty.s.close)
        rid2 = empty.create_run(self.eid, uniq("run"))["info"]["run_id"]
        self.assertEqual(empty.repo_for_run(rid2).list_artifacts(), [])

    def test_download_artifacts_file(self):
        # Replays: mlflow.artifacts.download_artifacts(run_id=..., artifact_path=
        # "models/sk/model.pkl", dst_path=...).  Sources: mlflow/artifacts/
        # __init__.py download_artifacts (store.get_run -> runs/get, uncached;
        # get_artifact_repository(artifact_uri).download_artifacts);
        # mlflow/store/artifact/artifact_repo.py download_artifacts and
        # _is_directory (a listing of the path itself; empty = a file);
        # mlflow/store/artifact/http_artifact_repo.py _download_file (GET
        # <artifact URL>/<path>, stream=True, 200 required).
        data = os.urandom(1024 * 1024 + 123)
        self.upload("models/sk/model.pkl", data)
        dst = os.path.join(self.tmp, "dst")
        os.makedirs(dst)
        repo = Repo(self.c, self.c.resolve(self.c.get_run(self.rid)["info"]["artifact_uri"]))
        out = repo.download_artifacts("models/sk/model.pkl", dst)
        self.assertEqual(out, os.path.join(dst, "models/sk/model.pkl"))
        with open(out, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(),
                             hashlib.sha256(data).hexdigest())
        self.assertEqual(self.c.s.log, [
            self.get_run_call(),
            (*LIST, {"path": self.run_root + "/models/sk/model.pkl"}),
            ("GET", self.url_root + "/models/sk/model.pkl", None)])

    def test_download_artifacts_directory(self):
        # Replays: mlflow.artifacts.download_artifacts(run_id=..., artifact_path=
        # "outputs") and with artifact_path omitted (the whole run, path "").
        # Sources: mlflow/artifacts/__init__.py download_artifacts;
        # mlflow/store/artifact/artifact_repo.py download_artifacts,
        # _is_directory, _iter_artifacts_recursive (the directory is listed
        # once to decide, then again to walk; each subdirectory is listed in
        # turn; file FileInfo paths are <dir>/<basename>; files are then fetched
        # on a thread pool, in any order) and _create_download_destination;
        # mlflow/store/artifact/http_artifact_repo.py list_artifacts and
        # _download_file.
        files = {"outputs/a.txt": b"alpha\n", "outputs/sub/b.csv": b"x,y\n1,2\n",
                 "outputs/sub/deeper/c.bin": os.urandom(200000),
                 "outputs/sub/empty.json": b"", "top.txt": b"top level\n"}
        for rel, data in files.items():
            self.upload(rel, data)
        want = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}

        dst = os.path.join(self.tmp, "dst1")
        os.makedirs(dst)
        repo = Repo(self.c, self.c.resolve(self.c.get_run(self.rid)["info"]["artifact_uri"]))
        out = repo.download_artifacts("outputs", dst)
        self.assertEqual(out, os.path.join(dst, "outputs"))
        self.assertEqual(tree(dst), {k: v for k, v in want.items() if k.startswith("outputs/")})
        # (MLflow submits each file to its thread pool as the walk yields it,
        # so file GETs interleave with the listings; here they go one by one.)
        r = self.run_root
        calls = self.c.s.log
        self.assertEqual(calls[0], self.get_run_call())
        self.assertEqual([c for c in calls if c[:2] == LIST], [
            (*LIST, {"path": r + "/outputs"}),            # _is_directory
            (*LIST, {"path": r + "/outputs"}),            # _iter_artifacts_recursive
            (*LIST, {"path": r + "/outputs/sub"}),
            (*LIST, {"path": r + "/outputs/sub/deeper"})])
        self.assertEqual(sorted(c for c in calls[1:] if c[:2] != LIST), sorted(
            ("GET", self.url_root + "/" + k, None) for k in files if k.startswith("outputs/")))

        # the whole run: artifact_path "" lists the root (path=<run root>)
        self.c.s.log.clear()
        dst = os.path.join(self.tmp, "dst2")
        os.makedirs(dst)
        repo.download_artifacts("", dst)
        self.assertEqual(tree(dst), want)
        self.assertEqual([c for c in self.c.s.log if c[:2] == LIST], [
            (*LIST, {"path": r}), (*LIST, {"path": r}), (*LIST, {"path": r + "/outputs"}),
            (*LIST, {"path": r + "/outputs/sub"}), (*LIST, {"path": r + "/outputs/sub/deeper"})])

    def test_load_dict_from_runs_uri(self):
        # Replays: mlflow.artifacts.load_dict("runs:/<run_id>/conf/x.json") and
        # load_text("runs:/<run_id>/notes/readme.md").  Sources: mlflow/
        # artifacts/__init__.py load_dict/load_text (download_artifacts(uri,
        # dst_path=tmpdir), then json.load / read); mlflow/tracking/
        # artifact_utils.py _download_artifact_from_uri and
        # _get_root_uri_and_artifact_path (root "runs:/<run_id>/conf", artifact
        # path "x.json") and get_artifact_uri (runs/get, artifact_uri +
        # "/conf"); mlflow/store/artifact/runs_artifact_repo.py
        # RunsArtifactRepository (get_underlying_uri, download_artifacts
        # delegating to the mlflow-artifacts repository);
        # mlflow/store/artifact/artifact_repo.py download_artifacts.
        d = {"alpha": 0.5, "tags": ["a", "b"], "deep": {"x": None}}
        self.upload("conf/x.json", json.dumps(d, indent=2).encode())
        self.upload("notes/readme.md", "héllo\n".encode("utf-8"))
        for uri, check in (("runs:/%s/conf/x.json" % self.rid,
                            lambda b: self.assertEqual(json.loads(b.decode()), d)),
                           ("runs:/%s/notes/readme.md" % self.rid,
                            lambda b: self.assertEqual(b.decode("utf-8"), "héllo\n"))):
            with self.subTest(uri=uri):
                self.c.s.log.clear()
                u = urllib.parse.urlparse(uri)
                root = urllib.parse.urlunparse(u._replace(path=posixpath.dirname(u.path)))
                name = posixpath.basename(u.path)
                repo = self.c.repo_for_runs_uri(root)
                dst = tempfile.mkdtemp(dir=self.tmp)
                with open(repo.download_artifacts(name, dst), "rb") as f:
                    check(f.read())
                rel = u.path.split("/", 2)[2]
                self.assertEqual(self.c.s.log, [
                    self.get_run_call(),
                    (*LIST, {"path": self.run_root + "/" + rel}),
                    ("GET", self.url_root + "/" + rel, None)])

    def test_multipart_probe_falls_back_to_put(self):
        # Replays: mlflow.log_artifact of a file at least
        # MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE (default 500 MB; lowered
        # here) with MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true.  Sources:
        # mlflow/store/artifact/http_artifact_repo.py log_artifact,
        # _try_multipart_upload, create_multipart_upload and
        # _construct_mpu_uri_and_path (POST /api/2.0/mlflow-artifacts/mpu/create/
        # <exp>/<run>/artifacts[/<artifact_path>] with JSON {"path": <local
        # file path>, "num_parts": ceil(size / MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE
        # (10 MB))}; on an HTTPError whose JSON "message" starts with
        # mlflow/exceptions.py _UnsupportedMultipartUploadException.MESSAGE it
        # falls back to the plain PUT); mlflow/server/handlers.py
        # _create_multipart_upload_artifact (MLflow's own server answers 501
        # NOT_IMPLEMENTED with that message for a non-multipart store).  The
        # answer must not be one of the retried statuses (the client would
        # back off and end in RetryError, not HTTPError) and must be JSON (the
        # client calls response.json() on it).  The first version with proxy
        # multipart upload (2.8) built the endpoint without the run's root:
        # mpu/create[/<artifact_path>].
        data = os.urandom(64 * 1024)
        f = self.local("big/weights.bin", data)
        tail = self.run_root
        for artifact_path in ("ckpt", None):
            with self.subTest(artifact_path=artifact_path):
                self.c.s.log.clear()
                repo = self.c.repo_for_run(self.rid)
                endpoint = posixpath.join(MPU_API, "create", tail,
                                          *((artifact_path,) if artifact_path else ()))
                st, _, p = self.c.s.request("POST", endpoint, json_body={
                    "path": f, "num_parts": math.ceil(len(data) / (10 * 1024 * 1024))})
                self.assertGreaterEqual(st, 400, p)
                self.assertNotIn(st, RETRIED, "a retried status: the client would not fall back")
                self.assertEqual(st, 501, p)
                body = mtapi.parse_json(p.decode("utf-8"))
                self.assertIsInstance(body.get("message"), str, body)
                self.assertTrue(body["message"].startswith(MPU_UNSUPPORTED), body)
                self.assertEqual(body.get("error_code"), "NOT_IMPLEMENTED", body)
                repo.log_artifact(f, artifact_path)
                where = posixpath.join(self.url_root, *((artifact_path,) if artifact_path
                                                         else ()), "weights.bin")
                self.assertEqual(self.c.s.log[-2:],
                                 [("POST", endpoint, None), ("PUT", where, None)])
                st, _, got = self.c.s.request("GET", where)
                self.assertEqual((st, got), (200, data))
        # the 2.8 shape, with an artifact_path (a path outside any run)
        st, _, p = self.c.s.request("POST", MPU_API + "/create/ckpt",
                                    json_body={"path": f, "num_parts": 1})
        self.assertNotIn(st, RETRIED, p)
        self.assertTrue(mtapi.parse_json(p.decode("utf-8"))["message"].startswith(MPU_UNSUPPORTED))


if __name__ == "__main__":
    unittest.main()
