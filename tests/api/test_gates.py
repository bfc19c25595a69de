"""mltrack's registry extensions (docs/registry.md): gates (set, get, check),
gated transitions through MLflow's and mltrack's endpoints (412 GATE_FAILED
with the report, audited refusals, champions, forced moves with the admin
token), bundle verification at version creation, and the audit listing.
Issue 11: the size limits of rules (refused at gates/set; a hostile rule
stored by SQL fails its gate and the server stays up), gates on aliases
(through MLflow's alias routes and mltrack's), stage names that are not
aliases, and every gate change and alias move in the audit trail."""

import hashlib
import io
import json
import os
import tarfile
import threading
import unittest

import mtapi
from mtapi import API, MLTRACK, call, get, post, psql, sql_str, uniq

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


def history(name, **q):
    return ok(ext_get("registered-models/history", name=name, **q))["events"]


def alias_of(name, alias):
    r = get("registered-models/alias", name=name, alias=alias)
    return r.body["model_version"]["version"] if r.status == 200 else None


def set_alias(name, alias, v):
    return post("registered-models/alias", {"name": name, "alias": alias, "version": v})


def healthy():
    r = call("GET", "/healthz")
    return r.status == 200


def model_id(name):
    return psql("SELECT id FROM registered_models WHERE name = %s" % sql_str(name))


def chain(head, terms, op="+", tail=""):
    return head + op.join(["1"] * terms) + tail


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


# The rule of issue 11: 120 terms, 244 bytes, accepted before and fatal to
# the server at the next check.
CHAIN_120 = chain("1 <= ", 120)
DEPTH_MSG = ("deeper than 32 levels at column %d: each operator and pair of parentheses "
             "is a level")


class TestRuleLimits(mtapi.ApiTestCase):
    def test_set_refuses_a_rule_too_deep_and_stores_nothing(self):
        name = model()
        r = set_gate(name, "Production", ["metrics.acc > 0.5", CHAIN_120])
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.body["error_code"], "INVALID_PARAMETER_VALUE")
        self.assertEqual(r.body["message"],
                         "rule 2 '1 <= 1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1...': "
                         + DEPTH_MSG % 71)
        r = set_gate(name, "Production", [chain("0 < ", 200, " * ")])
        self.assertEqual(r.status, 400, r.body)
        self.assertIn("deeper than 32 levels", r.body["message"])
        self.assertEqual(ok(ext_get("gates/get", name=name))["gates"], [])
        self.assertTrue(healthy())

    def test_the_deepest_rules_accepted_evaluate_on_the_server(self):
        name = model()
        v = version(name, run_with({"acc": 0.95, "loss": 0.2}))
        deep = [chain("", 33, "+", " >= " + "-" * 32 + "1"),
                "(" * 32 + "metrics.acc" + ")" * 32 + " >= 0.9",
                "metrics.loss - " + "(metrics.loss - " * 15 + "metrics.acc" + ")" * 15 + " < 1",
                "metrics.acc + champion.metrics.loss + " * 16
                + "metrics.acc > champion.metrics.acc - 100"]
        ok(set_gate(name, "Production", deep))
        rep = ok(ext_post("gates/check", {"name": name, "version": v,
                                          "stage": "Production"}))["report"]
        self.assertTrue(rep["passed"], rep)
        ok(transition(name, v, "Production"))
        v2 = version(name, run_with({"acc": 0.96, "loss": 0.1}))
        rep = ok(transition(name, v2, "Production"))
        self.assertEqual(stage_of(name, v2), "Production")
        self.assertTrue(healthy())

    def test_a_stored_hostile_rule_fails_the_gate_and_the_server_stays_up(self):
        """As a database from before the limits holds it: written by SQL,
        past gates/set."""
        name = model()
        v = version(name, run_with({"acc": 0.95}))
        ok(set_alias(name, "live", v))
        hostile = [CHAIN_120, chain("", 450, "+", " > 1"), chain("0 < ", 300, "*"),
                   "metrics.acc > 0.9"]
        arr = "ARRAY[%s]::text[]" % ", ".join(sql_str(x) for x in hostile)
        mid = model_id(name)
        psql("INSERT INTO gate_policies (model_id, stage, rules, updated_at) "
             "VALUES (%s, 'Production', %s, 0)" % (mid, arr))
        rep = ok(ext_post("gates/check", {"name": name, "version": v,
                                          "stage": "Production"}))["report"]
        self.assertFalse(rep["passed"])
        self.assertEqual([x["status"] for x in rep["rules"]], ["error"] * 3 + ["pass"])
        self.assertEqual(rep["rules"][0]["message"], "does not parse: " + DEPTH_MSG % 71)
        self.assertTrue(healthy())
        # A promotion: 412 with the report, recorded; MLflow's endpoint too.
        r = ext_post("model-versions/transition-stage",
                     {"name": name, "version": v, "stage": "Production"})
        self.assertEqual(r.status, 412, r.body)
        self.assertEqual(r.body["error_code"], "GATE_FAILED")
        self.assertEqual(r.body["report"]["summary"]["errors"], 3)
        r = transition(name, v, "Production")
        self.assertEqual(r.status, 412, r.body)
        self.assertEqual(stage_of(name, v), "None")
        self.assertEqual([x["outcome"] for x in trail(name)], ["refused", "refused"])
        # The same rules guarding an alias.
        psql("INSERT INTO alias_gate_policies (model_id, alias, rules, updated_at) "
             "VALUES (%s, 'live', %s, 0)" % (mid, arr))
        v2 = version(name, run_with({"acc": 0.97}))
        r = set_alias(name, "live", v2)
        self.assertEqual(r.status, 412, r.body)
        self.assertEqual(alias_of(name, "live"), v)
        self.assertTrue(healthy())
        # Replacing the stored rules by gates/set mends the gate.
        ok(set_gate(name, "Production", ["metrics.acc > 0.9"]))
        ok(transition(name, v, "Production"))
        before = [x for x in history(name, kind="gate")][-1]["rules_before"]
        self.assertEqual(before, hostile)


class TestAliasGates(mtapi.ApiTestCase):
    def test_set_get_check_a_gate_on_an_alias(self):
        name = model()
        v = version(name, run_with({"acc": 0.95}))
        g = ok(ext_post("gates/set", {"name": name, "alias": "champion",
                                      "rules": ["metrics.acc >= 0.9"]}))["gate"]
        self.assertEqual(g, {"name": name, "alias": "champion", "rules": ["metrics.acc >= 0.9"]})
        ok(set_gate(name, "Production", ["bundle.verified"]))
        gates = ok(ext_get("gates/get", name=name))["gates"]
        self.assertEqual([(x.get("stage"), x.get("alias"), x["rules"]) for x in gates],
                         [("Production", None, ["bundle.verified"]),
                          (None, "champion", ["metrics.acc >= 0.9"])])
        rep = ok(ext_post("gates/check", {"name": name, "version": v,
                                          "alias": "champion"}))["report"]
        self.assertTrue(rep["passed"], rep)
        self.assertEqual(rep["stage"], "@champion")
        for bad in ({"stage": "Production", "alias": "champion"}, {}):
            r = ext_post("gates/set", dict(bad, name=name, rules=["bundle.verified"]))
            self.assertEqual(r.status, 400, r.body)
            self.assertIn("'stage' or 'alias'", r.body["message"])
        for alias in ("Production", "staging", "NONE", "archived", "latest", "v3", "a b"):
            r = ext_post("gates/set", {"name": name, "alias": alias, "rules": []})
            self.assertEqual(r.status, 400, (alias, r.body))

    def test_a_refused_alias_move_leaves_the_alias_and_is_recorded(self):
        name = model()
        good = version(name, run_with({"acc": 0.95}))
        bad = version(name, run_with({"acc": 0.5}))
        ok(set_alias(name, "champion", good))
        ok(ext_post("gates/set", {"name": name, "alias": "champion",
                                  "rules": ["metrics.acc >= 0.9"]}))
        # MLflow's route: 412 with the report, the alias where it was.
        r = set_alias(name, "champion", bad)
        self.assertEqual(r.status, 412, r.body)
        self.assertEqual(r.body["error_code"], "GATE_FAILED")
        self.assertIn("@champion", r.body["message"])
        self.assertEqual(r.body["report"]["rules"][0]["status"], "fail")
        self.assertEqual(r.body["report"]["stage"], "@champion")
        self.assertEqual(alias_of(name, "champion"), good)
        # mltrack's route, with a reason: the same.
        r = ext_post("registered-models/alias", {"name": name, "alias": "champion",
                                                  "version": bad, "reason": "try"})
        self.assertEqual(r.status, 412, r.body)
        self.assertEqual(alias_of(name, "champion"), good)
        rows = history(name, kind="alias")
        self.assertEqual([(x["alias"], x["from_version"], x["version"], x["outcome"])
                          for x in rows],
                         [("champion", None, good, "allowed"),
                          ("champion", good, bad, "refused"),
                          ("champion", good, bad, "refused")])
        self.assertIsNone(rows[0]["report"])  # no gate then
        self.assertFalse(rows[1]["report"]["passed"])
        self.assertEqual(rows[2]["reason"], "try")
        self.assertEqual(rows[2]["actor"], "anonymous")
        # A passing version moves it, with the report.
        better = version(name, run_with({"acc": 0.97}))
        r = ok(ext_post("registered-models/alias", {"name": name, "alias": "champion",
                                                     "version": better}))
        self.assertEqual(r["model_version"]["version"], better)
        self.assertTrue(r["report"]["passed"])
        self.assertEqual(r["previous_version"], good)
        self.assertFalse(r["forced"])
        self.assertEqual(alias_of(name, "champion"), better)
        self.assertEqual(history(name, kind="alias")[-1]["outcome"], "allowed")

    def test_the_champion_is_the_version_the_alias_names(self):
        name = model()
        v1 = version(name, run_with({"acc": 0.90}))
        v2 = version(name, run_with({"acc": 0.95}))
        v3 = version(name, run_with({"acc": 0.92}))
        ok(ext_post("gates/set", {"name": name, "alias": "prod",
                                  "rules": ["metrics.acc >= champion.metrics.acc"]}))
        r = ok(ext_post("registered-models/alias",
                        {"name": name, "alias": "prod", "version": v1}))
        self.assertTrue(r["report"]["rules"][0]["no_champion"])
        ok(set_alias(name, "prod", v2))
        r = set_alias(name, "prod", v3)
        self.assertEqual(r.status, 412, r.body)
        self.assertEqual(r.body["report"]["champion"]["version"], v2)
        rep = ok(ext_post("gates/check", {"name": name, "version": v3,
                                          "alias": "prod"}))["report"]
        self.assertFalse(rep["passed"])
        # Setting it to the version it names: no champion but itself.
        ok(set_alias(name, "prod", v2))
        self.assertEqual(alias_of(name, "prod"), v2)

    def test_forcing_an_alias_needs_the_admin_token_and_a_reason(self):
        name = model()
        v = version(name, run_with({"acc": 0.1}))
        ok(ext_post("gates/set", {"name": name, "alias": "live", "rules": ["metrics.acc > 0.9"]}))
        body = {"name": name, "alias": "live", "version": v, "force": True, "reason": "hotfix"}
        r = ext_post("registered-models/alias", body)
        self.assertEqual(r.status, 403, r.body)
        r = ext_post("registered-models/alias", dict(body, reason=""),
                     headers={"Authorization": "Bearer " + ADMIN})
        self.assertEqual(r.status, 400, r.body)
        self.assertIsNone(alias_of(name, "live"))
        if not ADMIN:
            self.skipTest("the server under test has no MLTRACK_ADMIN_TOKEN")
        r = ok(ext_post("registered-models/alias", body,
                        headers={"Authorization": "Bearer " + ADMIN}))
        self.assertTrue(r["forced"])
        self.assertEqual(alias_of(name, "live"), v)
        row = history(name, kind="alias")[-1]
        self.assertEqual((row["outcome"], row["reason"], row["version"]), ("forced", "hotfix", v))

    def test_deleting_an_alias_is_allowed_and_recorded(self):
        name = model()
        v1 = version(name, run_with({"acc": 0.95}))
        v2 = version(name, run_with({"acc": 0.96}))
        ok(set_alias(name, "champion", v1))
        ok(set_alias(name, "backup", v2))
        ok(ext_post("gates/set", {"name": name, "alias": "champion",
                                  "rules": ["metrics.acc >= 0.9"]}))
        self.assertEqual(ok(call("DELETE", API + "registered-models/alias",
                                 body={"name": name, "alias": "champion"})), {})
        self.assertIsNone(alias_of(name, "champion"))
        r = ok(call("DELETE", MLTRACK + "registered-models/alias",
                    body={"name": name, "alias": "backup", "reason": "retired"}))
        self.assertEqual(r["previous_version"], v2)
        # An alias that is not set: nothing happens, nothing is recorded.
        r = ok(call("DELETE", MLTRACK + "registered-models/alias",
                    body={"name": name, "alias": "backup"}))
        self.assertIsNone(r["previous_version"])
        rows = history(name, kind="alias")
        self.assertEqual([(x["alias"], x["from_version"], x["version"], x["outcome"], x["reason"])
                          for x in rows[2:]],
                         [("champion", v1, None, "allowed", None),
                          ("backup", v2, None, "allowed", "retired")])
        # The gate still guards the next set.
        bad = version(name, run_with({"acc": 0.2}))
        self.assertEqual(set_alias(name, "champion", bad).status, 412)
        # Deleting a version drops its aliases: recorded too.
        ok(set_alias(name, "champion", v1))
        ok(call("DELETE", API + "model-versions/delete", body={"name": name, "version": v1}))
        row = history(name, kind="alias")[-1]
        self.assertEqual((row["alias"], row["from_version"], row["version"], row["reason"]),
                         ("champion", v1, None, "version %s was deleted" % v1))

    def test_a_stage_name_is_not_an_alias(self):
        name = model()
        v = version(name)
        for alias in ("production", "Production", "STAGING", "None", "archived"):
            for path in (API, MLTRACK):
                r = call("POST", path + "registered-models/alias",
                         body={"name": name, "alias": alias, "version": v})
                self.assertEqual(r.status, 400, (alias, path, r.body))
                self.assertEqual(r.body["error_code"], "INVALID_PARAMETER_VALUE")
                self.assertIn("is the stage", r.body["message"])
        self.assertNotIn("aliases", ok(get("registered-models/get",
                                           name=name))["registered_model"])
        ok(set_alias(name, "productions", v))  # not a stage name

    def test_at_a_stage_name_resolves_to_the_stage(self):
        name = model()
        v1 = version(name)
        v2 = version(name)
        r = get("registered-models/alias", name=name, alias="production")
        self.assertEqual(r.status, 400, r.body)
        self.assertIn("no version of model", r.body["message"])
        ok(transition(name, v2, "Production"))
        for alias in ("production", "PRODUCTION", "Production"):
            mv = ok(get("registered-models/alias", name=name, alias=alias))["model_version"]
            self.assertEqual((mv["version"], mv["current_stage"]), (v2, "Production"))
        ok(transition(name, v1, "Staging"))
        self.assertEqual(alias_of(name, "staging"), v1)

    def test_an_alias_named_like_a_stage_in_an_old_database(self):
        """An older mltrackd let an alias be called 'production': the row is
        kept and listed, NAME@production means the stage, and it can be
        deleted (recorded)."""
        name = model()
        v1 = version(name)
        v2 = version(name)
        ok(transition(name, v2, "Production"))
        psql("INSERT INTO model_aliases (model_id, alias, version) VALUES (%s, 'production', %s)"
             % (model_id(name), v1))
        rm = ok(get("registered-models/get", name=name))["registered_model"]
        self.assertEqual(rm["aliases"], [{"alias": "production", "version": v1}])
        self.assertEqual(alias_of(name, "production"), v2)
        self.assertEqual(set_alias(name, "production", v1).status, 400)
        ok(call("DELETE", API + "registered-models/alias",
                body={"name": name, "alias": "production"}))
        self.assertNotIn("aliases", ok(get("registered-models/get",
                                           name=name))["registered_model"])
        row = history(name, kind="alias")[-1]
        self.assertEqual((row["alias"], row["from_version"], row["version"]),
                         ("production", v1, None))
        self.assertEqual(alias_of(name, "production"), v2)

    def test_ungated_alias_moves_are_recorded(self):
        name = model()
        v1, v2 = version(name), version(name)
        ok(set_alias(name, "a", v1))
        ok(set_alias(name, "a", v2))
        ok(call("DELETE", API + "registered-models/alias", body={"name": name, "alias": "a"}))
        self.assertEqual([(x["from_version"], x["version"], x["outcome"])
                          for x in history(name, kind="alias")],
                         [(None, v1, "allowed"), (v1, v2, "allowed"), (v2, None, "allowed")])
        self.assertEqual(trail(name), [])  # model-versions/transitions: stages only


class TestGateAudit(mtapi.ApiTestCase):
    def test_set_replace_remove_each_leave_a_row_with_the_previous_rules(self):
        name = model()
        ok(ext_post("gates/set", {"name": name, "stage": "production",
                                  "rules": ["metrics.acc >= 0.9"], "reason": "first"}))
        ok(set_gate(name, "Production", ["metrics.acc >= 0.95", "git.dirty == false"]))
        ok(set_gate(name, "Production", []))
        ok(set_gate(name, "Production", []))  # no gate: nothing changes
        ok(ext_post("gates/set", {"name": name, "alias": "live", "rules": ["bundle.verified"]}))
        ok(ext_post("gates/set", {"name": name, "alias": "live", "rules": None}))
        rows = history(name, kind="gate")
        self.assertEqual([(x["to_stage"], x["alias"], x["outcome"], x["rules_before"],
                           x["rules_after"]) for x in rows],
                         [("Production", None, "created", None, ["metrics.acc >= 0.9"]),
                          ("Production", None, "replaced", ["metrics.acc >= 0.9"],
                           ["metrics.acc >= 0.95", "git.dirty == false"]),
                          ("Production", None, "removed",
                           ["metrics.acc >= 0.95", "git.dirty == false"], None),
                          (None, "live", "created", None, ["bundle.verified"]),
                          (None, "live", "removed", ["bundle.verified"], None)])
        self.assertEqual(rows[0]["reason"], "first")
        for x in rows:
            self.assertEqual((x["kind"], x["actor"], x["version"], x["report"]),
                             ("gate", "anonymous", None, None))
            self.assertGreater(x["timestamp"], 0)
        # A refused gates/set records nothing.
        self.assertEqual(set_gate(name, "Production", ["metrics.acc >>= 1"]).status, 400)
        self.assertEqual(len(history(name, kind="gate")), 5)

    def test_deleting_a_model_records_the_removal_of_its_gates(self):
        name = model()
        ok(set_gate(name, "Staging", ["bundle.verified"]))
        ok(ext_post("gates/set", {"name": name, "alias": "live", "rules": ["metrics.a > 1"]}))
        ok(call("DELETE", API + "registered-models/delete", body={"name": name}))
        rows = history(name, kind="gate")
        self.assertEqual([(x["to_stage"], x["alias"], x["outcome"], x["rules_before"],
                           x["reason"]) for x in rows[2:]],
                         [("Staging", None, "removed", ["bundle.verified"],
                           "the model was deleted"),
                          (None, "live", "removed", ["metrics.a > 1"], "the model was deleted")])
        # The same name again starts without gates, and the trail says why.
        model_again = ok(post("registered-models/create", {"name": name}))
        self.assertTrue(model_again)
        self.assertEqual(ok(ext_get("gates/get", name=name))["gates"], [])
        self.assertEqual(len(history(name)), 0)  # a new model: its own trail

    def test_one_trail_in_order(self):
        name = model()
        v = version(name, run_with({"acc": 0.95}))
        ok(set_gate(name, "Production", ["metrics.acc > 0.9"]))
        ok(transition(name, v, "Production"))
        ok(set_alias(name, "live", v))
        ok(ext_post("gates/set", {"name": name, "alias": "live", "rules": ["metrics.acc > 0.99"]}))
        self.assertEqual(set_alias(name, "live", v).status, 412)
        rows = history(name)
        self.assertEqual([(x["kind"], x["outcome"]) for x in rows],
                         [("gate", "created"), ("stage", "allowed"), ("alias", "allowed"),
                          ("gate", "created"), ("alias", "refused")])
        ids = [int(x["id"]) for x in rows]
        self.assertEqual(ids, sorted(ids))
        keys = {"id", "timestamp", "kind", "name", "version", "from_stage", "to_stage", "alias",
                "from_version", "outcome", "actor", "reason", "report", "rules_before",
                "rules_after"}
        for x in rows:
            self.assertEqual(set(x), keys)
        self.assertEqual([x["kind"] for x in history(name, version=v)],
                         ["stage", "alias", "alias"])
        self.assertEqual([x["kind"] for x in trail(name)], ["stage"])
        r = ext_get("registered-models/history", name=name, kind="promotion")
        self.assertEqual(r.status, 400, r.body)
        r = ext_get("registered-models/history", name=uniq("gone"))
        self.assertEqual(ok(r)["events"], [])


if __name__ == "__main__":
    unittest.main()
