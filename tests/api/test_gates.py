"""mltrack's registry extensions (docs/registry.md): gates (set, get, check),
gated transitions through MLflow's and mltrack's endpoints (412 GATE_FAILED
with the report, audited refusals, champions, forced moves with the admin
token), bundle verification at version creation, and the audit listing."""

import hashlib
import io
import json
import os
import tarfile
import threading
import unittest

import mtapi
from mtapi import API, MLTRACK, call, get, post, uniq

setUpModule = mtapi.wait_ready

ADMIN = os.environ.get("MLTRACK_TEST_ADMIN_TOKEN", "")
STORE = os.environ.get("MLTRACK_TEST_ARTIFACTS", "")


def ok(r):
    if r.status != 200 or not isinstance(r.body, dict):
        raise mtapi.ApiError("%d %r" % (r.status, r.body))
    return r.body


def ext_post(endpoint, body, headers=None):
    return call("POST", MLTRACK + endpoint, body=body, headers=headers)


def ext_get(endpoint, **query):
    return call("GET", MLTRACK + endpoint, query=query)


def model():
    name = uniq("gated")
    ok(post("registered-models/create", {"name": name}))
    return name


def run_with(metrics=None, params=None, tags=None):
    rid = mtapi.new_run()
    ok(post("runs/log-batch", {
        "run_id": rid,
        "metrics": [{"key": k, "value": v, "timestamp": mtapi.now_ms(), "step": 0}
                    for k, v in (metrics or {}).items()],
        "params": [{"key": k, "value": v} for k, v in (params or {}).items()],
        "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}))
    return rid


def version(name, run_id=None, source=None, tags=None):
    body = {"name": name, "source": source or "s3://bucket/%s" % uniq("m")}
    if run_id:
        body["run_id"] = run_id
    if tags:
        body["tags"] = tags
    return ok(post("model-versions/create", body))["model_version"]["version"]


def set_gate(name, stage, rules):
    return ext_post("gates/set", {"name": name, "stage": stage, "rules": rules})


def transition(name, v, stage, archive=True):
    return post("model-versions/transition-stage", {
        "name": name, "version": v, "stage": stage, "archive_existing_versions": archive})


def stage_of(name, v):
    return ok(get("model-versions/get", name=name, version=v))["model_version"]["current_stage"]


def trail(name, **q):
    return ok(ext_get("model-versions/transitions", name=name, **q))["transitions"]


def bundle_bytes(files, extra=None):
    """A bundle as mlt's format describes it: the manifest first, then the
    files in path order, each listed with size and SHA-256."""
    listed = [{"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest(),
               "mode": "0644"} for p, b in sorted(files.items())]
    manifest = {"format": "mltrack-bundle/1", "files": listed}
    manifest.update(extra or {})
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in [("MLTRACK-BUNDLE.json",
                            (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode())] + \
                sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def upload_bundle(data):
    sha = hashlib.sha256(data).hexdigest()
    r = call("PUT", "/api/2.0/mltrack/bundles/%s.tar" % sha,
             raw=data, headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200, (r.status, r.body)
    return sha


class TestGateSet(mtapi.ApiTestCase):
    def test_set_get_replace_remove(self):
        name = model()
        rules = ["metrics.acc >= 0.9", "git.dirty == false"]
        g = ok(set_gate(name, "production", rules))["gate"]
        self.assertEqual(g, {"name": name, "stage": "Production", "rules": rules})
        ok(set_gate(name, "Staging", ["bundle.verified"]))
        gates = ok(ext_get("gates/get", name=name))["gates"]
        self.assertEqual({x["stage"]: x["rules"] for x in gates},
                         {"Production": rules, "Staging": ["bundle.verified"]})
        ok(set_gate(name, "Production", ["metrics.acc >= 0.95"]))
        ok(set_gate(name, "Staging", []))
        gates = ok(ext_get("gates/get", name=name))["gates"]
        self.assertEqual([(x["stage"], x["rules"]) for x in gates],
                         [("Production", ["metrics.acc >= 0.95"])])

    def test_bad_rules_are_refused_and_nothing_stored(self):
        name = model()
        r = set_gate(name, "Production", ["metrics.acc >= 0.9", "metrics.acc >>= 1"])
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.body["error_code"], "INVALID_PARAMETER_VALUE")
        self.assertIn("metrics.acc >>= 1", r.body["message"])
        self.assertEqual(ok(ext_get("gates/get", name=name))["gates"], [])
        for bad in (["x"] * 101, ["a" * 1001], [7], "metrics.acc > 1"):
            r = set_gate(name, "Production", bad)
            self.assertEqual(r.status, 400, (bad if len(str(bad)) < 50 else "long", r.body))
        r = set_gate(name, "None", ["bundle.verified"])
        self.assertEqual(r.status, 400)
        r = set_gate(name, "Live", ["bundle.verified"])
        self.assertEqual(r.status, 400)
        self.assertIn("Invalid Model Version stage", r.body["message"])
        r = set_gate(uniq("nope"), "Production", ["bundle.verified"])
        self.assertEqual(r.status, 404)


class TestGatedTransitions(mtapi.ApiTestCase):
    def test_refusal_answers_412_with_the_report_and_is_audited(self):
        name = model()
        v = version(name, run_with({"acc": 0.8}))
        ok(set_gate(name, "Production", ["metrics.acc >= 0.9", "params.lr == '0.1'"]))
        r = transition(name, v, "production")
        self.assertEqual(r.status, 412, r.body)
        self.assertEqual(r.body["error_code"], "GATE_FAILED")
        self.assertIn("Production", r.body["message"])
        rep = r.body["report"]
        self.assertFalse(rep["passed"])
        st = {x["rule"]: (x["status"], x["actual"]) for x in rep["rules"]}
        self.assertEqual(st["metrics.acc >= 0.9"], ("fail", "0.8"))
        self.assertEqual(st["params.lr == '0.1'"][0], "error")  # the run has no param lr
        msg = [x["message"] for x in rep["rules"] if x["rule"].startswith("params")][0]
        self.assertIn("lr", msg)
        self.assertEqual(stage_of(name, v), "None")
        # mltrack's endpoint: the same gate, and the reason is kept
        r = ext_post("model-versions/transition-stage",
                     {"name": name, "version": v, "stage": "Production", "reason": "try"})
        self.assertEqual(r.status, 412)
        rows = trail(name)
        self.assertEqual([(x["version"], x["to_stage"], x["outcome"]) for x in rows],
                         [(v, "Production", "refused")] * 2)
        self.assertEqual(rows[1]["reason"], "try")
        self.assertFalse(rows[0]["report"]["passed"])
        self.assertEqual(rows[0]["from_stage"], "None")

    def test_ungated_stages_and_passing_gates_move(self):
        name = model()
        v = version(name, run_with({"acc": 0.95}))
        ok(set_gate(name, "Production", ["metrics.acc >= 0.9"]))
        self.assertEqual(ok(transition(name, v, "Staging"))["model_version"]["current_stage"],
                         "Staging")
        r = ok(ext_post("model-versions/transition-stage",
                        {"name": name, "version": v, "stage": "Production",
                         "archive_existing_versions": True, "reason": "good"}))
        self.assertEqual(r["model_version"]["current_stage"], "Production")
        self.assertTrue(r["report"]["passed"])
        self.assertFalse(r["forced"])
        rows = trail(name)
        self.assertEqual([(x["from_stage"], x["to_stage"], x["outcome"]) for x in rows],
                         [("None", "Staging", "allowed"), ("Staging", "Production", "allowed")])
        self.assertIsNone(rows[0]["report"])  # no gate on Staging
        self.assertEqual(rows[1]["reason"], "good")
        self.assertEqual(len(trail(name, version=v)), 2)

    def test_champion(self):
        name = model()
        v1 = version(name, run_with({"acc": 0.92, "loss": 0.3}))
        v2 = version(name, run_with({"acc": 0.95, "loss": 0.2}))
        v3 = version(name, run_with({"acc": 0.93, "loss": 0.25}))
        ok(set_gate(name, "Production", ["metrics.acc >= champion.metrics.acc",
                                         "metrics.loss <= champion.metrics.loss * 1.01"]))
        rep = ok(transition(name, v1, "Production"))  # no champion: passes
        rep = ok(ext_post("gates/check", {"name": name, "version": v2,
                                          "stage": "Production"}))["report"]
        self.assertTrue(rep["passed"], rep)
        self.assertEqual(rep["champion"]["version"], v1)
        ok(transition(name, v2, "Production"))
        self.assertEqual(stage_of(name, v1), "Archived")
        r = transition(name, v3, "Production")
        self.assertEqual(r.status, 412)
        rep = r.body["report"]
        self.assertEqual(rep["champion"]["version"], v2)
        self.assertEqual([x["status"] for x in rep["rules"]], ["fail", "fail"])
        self.assertEqual(stage_of(name, v2), "Production")

    def test_check_changes_nothing(self):
        name = model()
        v = version(name, run_with({"acc": 0.5}))
        rep = ok(ext_post("gates/check", {"name": name, "version": v, "stage": "Production"}))
        self.assertTrue(rep["report"]["passed"])  # no gate
        self.assertEqual(rep["report"]["rules"], [])
        ok(set_gate(name, "Production", ["metrics.acc > 0.6"]))
        rep = ok(ext_post("gates/check", {"name": name, "version": v, "stage": "Production"}))
        self.assertFalse(rep["report"]["passed"])
        self.assertEqual(trail(name), [])
        self.assertEqual(stage_of(name, v), "None")
        r = ext_post("gates/check", {"name": name, "version": "99", "stage": "Production"})
        self.assertEqual(r.status, 404)

    def test_force_needs_the_admin_token_and_a_reason(self):
        name = model()
        v = version(name, run_with({"acc": 0.1}))
        ok(set_gate(name, "Production", ["metrics.acc >= 0.9"]))
        body = {"name": name, "version": v, "stage": "Production", "force": True,
                "reason": "hotfix"}
        r = ext_post("model-versions/transition-stage", body)
        self.assertEqual(r.status, 403)
        self.assertEqual(r.body["error_code"], "PERMISSION_DENIED")
        r = ext_post("model-versions/transition-stage", body,
                     headers={"Authorization": "Bearer wrong-token"})
        self.assertEqual(r.status, 403)
        self.assertEqual(stage_of(name, v), "None")
        r = ext_post("model-versions/transition-stage", dict(body, reason=""),
                     headers={"Authorization": "Bearer " + ADMIN})
        self.assertEqual(r.status, 400)
        if not ADMIN:
            self.skipTest("the server under test has no MLTRACK_ADMIN_TOKEN")
        r = ok(ext_post("model-versions/transition-stage", body,
                        headers={"Authorization": "Bearer " + ADMIN}))
        self.assertTrue(r["forced"])
        self.assertFalse(r["report"]["passed"])
        self.assertEqual(stage_of(name, v), "Production")
        row = trail(name)[-1]
        self.assertEqual((row["outcome"], row["reason"]), ("forced", "hotfix"))

    def test_concurrent_gated_promotions_leave_one_production(self):
        name = model()
        versions = [version(name, run_with({"acc": 0.9 + i / 1000})) for i in range(12)]
        ok(set_gate(name, "Production", ["metrics.acc >= 0.9"]))
        codes = []

        def promote(v):
            codes.append(transition(name, v, "Production").status)

        threads = [threading.Thread(target=promote, args=(v,)) for v in versions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(codes, [200] * 12)
        stages = [stage_of(name, v) for v in versions]
        self.assertEqual(stages.count("Production"), 1, stages)
        rows = trail(name)
        self.assertEqual(len(rows), 12)
        self.assertEqual(sorted(x["version"] for x in rows), sorted(versions))
        self.assertEqual(stage_of(name, rows[-1]["version"]), "Production")

    def test_a_deleted_models_trail_is_kept(self):
        name = model()
        v = version(name)
        ok(transition(name, v, "Staging"))
        ok(call("DELETE", API + "registered-models/delete", body={"name": name}))
        rows = trail(name)
        self.assertEqual([(x["version"], x["to_stage"]) for x in rows], [(v, "Staging")])


class TestBundles(mtapi.ApiTestCase):
    def test_a_valid_bundle_is_recorded(self):
        name = model()
        data = bundle_bytes({"model.bin": b"\x00\x01weights", "conf/c.json": b"{}"},
                            {"provenance": {"run_id": "x"}})
        sha = upload_bundle(data)
        v = version(name, source="mlflow-artifacts:/mltrack-bundles/%s.tar" % sha,
                    tags=[{"key": "mltrack.bundle.sha256", "value": "0" * 64}])
        ext = ok(ext_get("model-versions/get", name=name, version=v))
        self.assertEqual(ext["bundle"]["sha256"], sha)
        self.assertEqual(ext["bundle"]["size"], len(data))
        self.assertEqual([f["path"] for f in ext["bundle"]["manifest"]["files"]],
                         ["conf/c.json", "model.bin"])
        self.assertEqual(ext["bundle"]["manifest"]["provenance"], {"run_id": "x"})
        tags = mtapi.kv(ext["model_version"]["tags"])
        self.assertEqual(tags["mltrack.bundle.sha256"], sha)  # the server's word
        ok(set_gate(name, "Staging", ["bundle.verified", "bundle.sha256 == '%s'" % sha]))
        rep = ok(ext_post("gates/check", {"name": name, "version": v, "stage": "Staging"}))
        self.assertTrue(rep["report"]["passed"], rep)
        # An MLflow-made version has no bundle: bundle.verified is false.
        v2 = version(name)
        self.assertNotIn("bundle", ok(ext_get("model-versions/get", name=name, version=v2)))
        rep = ok(ext_post("gates/check", {"name": name, "version": v2, "stage": "Staging"}))
        self.assertFalse(rep["report"]["passed"])
        if STORE:
            # A flipped byte in the stored blob: bundle.verified turns false.
            blob = os.path.join(STORE, "blobs", sha[:2], sha[2:4], sha)
            with open(blob, "r+b") as f:
                f.seek(600)
                b = f.read(1)
                f.seek(600)
                f.write(bytes([b[0] ^ 1]))
            rep = ok(ext_post("gates/check", {"name": name, "version": v, "stage": "Staging"}))
            self.assertFalse(rep["report"]["passed"])
            self.assertEqual(rep["report"]["rules"][0]["status"], "fail")

    def test_bad_bundles_create_no_version(self):
        name = model()
        garbage = b"not a tar at all" * 100
        sha = upload_bundle(garbage)
        r = post("model-versions/create", {
            "name": name, "source": "mlflow-artifacts:/mltrack-bundles/%s.tar" % sha})
        self.assertEqual(r.status, 400, r.body)
        self.assertIn("fails verification", r.body["message"])
        # A listed file whose bytes differ from the manifest.
        good = bundle_bytes({"a.bin": b"aaaa"})
        bad = good.replace(b"aaaa", b"aaab")
        sha = upload_bundle(bad)
        r = post("model-versions/create", {
            "name": name, "source": "mlflow-artifacts:/mltrack-bundles/%s.tar" % sha})
        self.assertEqual(r.status, 400, r.body)
        self.assertIn("a.bin", r.body["message"])
        # Never uploaded; a malformed name in the bundle store.
        r = post("model-versions/create", {
            "name": name, "source": "mlflow-artifacts:/mltrack-bundles/%s.tar" % ("ab" * 32)})
        self.assertEqual(r.status, 400)
        self.assertIn("not been uploaded", r.body["message"])
        r = post("model-versions/create", {
            "name": name, "source": "mlflow-artifacts:/mltrack-bundles/x.tar"})
        self.assertEqual(r.status, 400)
        # Nothing was created, and no number was used up.
        self.assertEqual(version(name), "1")


if __name__ == "__main__":
    unittest.main()
