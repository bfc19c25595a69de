#!/bin/sh
# The CI flow of the registry end to end, driven by the mltrack CLI as a
# pipeline would drive it (deploy/ci/): train under `mltrack run` in a clean
# git work tree -> register the model -> the production gate fails (exit 1,
# markdown report) and promotion is refused -> a better run -> register ->
# the gate passes -> promote -> pull by @production gives the very files
# that were registered.  Then: a worse third version fails against the
# champion, the same files from the same run give the same bundle digest,
# a gate on the alias @champion refuses the worse version (the alias stays,
# and pull @champion still gives the old files) and lets a better one move
# it, every gate change (set, replace, remove) is recorded with the rules
# before it, a flipped byte in the stored bundle is caught by pull (the
# output directory untouched), and the audit trail holds every attempt and
# cannot be altered.
#
# With SCENARIO_URL set (make test-cluster), against that server instead of
# one of its own: SCENARIO_PGCONN is its database, SCENARIO_ARTIFACTS its
# artifact store, or SCENARIO_S3 (/BUCKET/PREFIX, with rgw_start's RGW_*
# variables) when that is on S3.
set -eu
. "$ROOT/tests/lib.sh"
dir="$WORK/scenario"
mkdir -p "$dir"
if [ -n "${SCENARIO_URL:-}" ]; then
	BASE=$SCENARIO_URL
	conn=$SCENARIO_PGCONN
	artifacts=${SCENARIO_ARTIFACTS:-}
else
	db="scenario_$$"
	psql_q "CREATE DATABASE $db" >/dev/null
	conn=$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=$db/")
	port=$(free_port)
	BASE="http://127.0.0.1:$port"
	artifacts="$dir/data/artifacts"
	log="$WORK/scenario-server.log"
	"$BUILD/mltrackd" --database-url "$conn" --port "$port" --data-dir "$dir/data" >"$log" 2>&1 &
	pid=$!
	trap 'kill $pid 2>/dev/null || true' EXIT
	wait_http "$BASE/readyz" 60 || fail "server did not start"
fi
sql() { PGCONN="$conn" psql_q "$1"; }

export MLTRACK_TRACKING_URI="$BASE" MLTRACK_SPOOL_DIR="$dir/spool" HOME="$dir"
mt="$BUILD/mltrack"

# The project: a training script that writes a model and prints its score.
proj="$dir/proj"
mkdir -p "$proj"
cat >"$proj/train.sh" <<'EOF'
#!/bin/sh
# train.sh ACCURACY: "trains" a model into out/model and reports its score.
set -e
mkdir -p out/model/weights
printf '{"layers": 3, "accuracy": %s}\n' "$1" >out/model/config.json
printf 'weights trained to %s\n' "$1" >out/model/weights/w0.bin
head -c 200000 /dev/urandom >out/model/weights/w1.bin
echo "val_accuracy: $1"
echo "val_loss: 0.$(echo "$1" | cut -c3-)"
EOF
chmod +x "$proj/train.sh"
printf 'out/\n*.txt\n*.md\n*.xml\n' >"$proj/.gitignore"
git -C "$proj" init -q
git -C "$proj" add -A
git -C "$proj" -c user.name=ci -c user.email=ci@example.com commit -q -m "train"
git -C "$proj" remote add origin https://ci:s3cret@git.example.com/team/churn.git
cd "$proj"

# train ACCURACY: one CI pipeline's training and registration; sets RUN, V.
train() {
	rm -rf out
	"$mt" -q run -e churn --run-id-file run.txt -- ./train.sh "$1" >/dev/null ||
		fail "training run failed"
	RUN=$(cat run.txt)
	V=$("$mt" -q model register churn --run "$RUN" --from out/model) ||
		fail "register failed"
	echo "registered churn/$V from run $RUN (accuracy $1)"
}

train 0.85
[ "$V" = 1 ] || fail "first version is '$V'"
"$mt" -q gate set churn --to production \
	--rule 'metrics.val_accuracy >= 0.9' \
	--rule 'metrics.val_accuracy >= champion.metrics.val_accuracy' \
	--rule 'git.dirty == false' \
	--rule 'bundle.verified' || fail "gate set failed"

rc=0
"$mt" gate check churn 1 --to production --format markdown >gate1.md || rc=$?
[ "$rc" = 1 ] || fail "gate check of a 0.85 model exited $rc, expected 1"
grep -q 'val_accuracy' gate1.md || fail "markdown report lacks the rule: $(cat gate1.md)"
grep -q '0.85' gate1.md || fail "markdown report lacks the actual value: $(cat gate1.md)"
grep -q "/runs/$RUN" gate1.md || fail "markdown report lacks the run link: $(cat gate1.md)"

rc=0
"$mt" model promote churn 1 --to production 2>promote1.txt || rc=$?
[ "$rc" = 1 ] || fail "promotion past a failing gate exited $rc: $(cat promote1.txt)"
grep -q 'val_accuracy' promote1.txt || fail "refusal without the report: $(cat promote1.txt)"
stage() { "$mt" model show "churn/$1" --format json | json_get model_version current_stage; }
[ "$(stage 1)" = None ] || fail "a refused version changed stage: $(stage 1)"

train 0.93
[ "$V" = 2 ] || fail "second version is '$V'"
"$mt" gate check churn 2 --to production --format junit >gate2.xml ||
	fail "gate check of a 0.93 model failed: $(cat gate2.xml)"
python3 - gate2.xml <<'EOF' || fail "the JUnit report is not what CI expects: $(cat gate2.xml)"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
cases = [c for s in suites for c in s.findall("testcase")]
assert len(cases) == 4, len(cases)
assert not any(c.find("failure") is not None or c.find("error") is not None for c in cases)
EOF
"$mt" -q model promote churn 2 --to production --reason "better accuracy" ||
	fail "promotion of a passing version failed"
"$mt" -q model alias churn champion 2 || fail "alias failed"

rm -rf pulled
"$mt" -q model pull churn@production -o pulled || fail "pull @production failed"
[ -f pulled/MLTRACK-BUNDLE.json ] || fail "the manifest was not pulled"
rm pulled/MLTRACK-BUNDLE.json
diff -r out/model pulled >/dev/null || fail "pulled files differ from the registered ones"
rm -rf pulled2
"$mt" -q model pull churn@champion -o pulled2 || fail "pull by alias failed"
"$mt" -q model pull churn/2 -o pulled3 || fail "pull by version failed"
cmp pulled2/weights/w1.bin pulled3/weights/w1.bin || fail "alias and version pulls differ"

# The manifest carries the run's provenance, credentials stripped.
"$mt" model show churn/2 --format json >show2.json
python3 - show2.json "$RUN" "$(git rev-parse HEAD)" <<'EOF' || fail "provenance: $(cat show2.json)"
import json, sys
doc = json.load(open(sys.argv[1]))
man = doc["bundle"]["manifest"]
prov = man["provenance"]
assert prov["run_id"] == sys.argv[2], prov
assert prov["git"]["commit"] == sys.argv[3], prov
assert prov["git"]["branch"] in ("master", "main"), prov
assert prov["git"]["repo_url"] == "https://git.example.com/team/churn.git", prov
assert prov["git"]["dirty"] is False, prov
assert "train.sh 0.93" in prov["command"], prov
assert man["metrics"]["val_accuracy"] == 0.93, man["metrics"]
paths = sorted(f["path"] for f in man["files"])
assert paths == ["config.json", "weights/w0.bin", "weights/w1.bin"], paths
assert doc["model_version"]["current_stage"] == "Production"
EOF
grep -q s3cret show2.json && fail "credentials reached the manifest"

# A worse candidate fails against the champion, though above the constant.
train 0.91
rc=0
"$mt" gate check churn 3 --to production --format json >gate3.json || rc=$?
[ "$rc" = 1 ] || fail "0.91 against a 0.93 champion exited $rc"
python3 - gate3.json <<'EOF' || fail "champion report: $(cat gate3.json)"
import json, sys
rep = json.load(open(sys.argv[1]))
assert rep["passed"] is False
assert rep["champion"]["version"] == "2", rep["champion"]
st = {r["rule"]: r["status"] for r in rep["rules"]}
assert st["metrics.val_accuracy >= 0.9"] == "pass", st
assert st["metrics.val_accuracy >= champion.metrics.val_accuracy"] == "fail", st
EOF

# Same files, same run: the same bundle; a changed byte: another one.
V3=$V
RUN3=$RUN
V4=$("$mt" -q model register churn --run "$RUN3" --from out/model)
sha() { "$mt" model show "churn/$1" --format json | json_get bundle sha256; }
[ -n "$(sha "$V3")" ] && [ "$(sha "$V3")" = "$(sha "$V4")" ] ||
	fail "same files, same run: digests $(sha "$V3") and $(sha "$V4")"
printf 'x' >>out/model/config.json
V5=$("$mt" -q model register churn --run "$RUN3" --from out/model)
[ "$(sha "$V5")" != "$(sha "$V3")" ] || fail "a changed byte kept the digest"

# Gates hold on aliases too: @champion (version 2) may only move to a
# version at least as good, with a verified bundle.
"$mt" -q gate set churn --to @champion \
	--rule 'metrics.val_accuracy >= champion.metrics.val_accuracy' ||
	fail "gate set @champion failed"
"$mt" -q gate set churn --to @champion --reason "bundles must verify" \
	--rule 'metrics.val_accuracy >= champion.metrics.val_accuracy' \
	--rule 'bundle.verified' || fail "gate replace @champion failed"
rc=0
"$mt" gate check churn "$V3" --to @champion --format json >gate-alias.json || rc=$?
[ "$rc" = 1 ] || fail "gate check of a 0.91 model against @champion exited $rc"
rc=0
"$mt" model alias churn champion "$V3" 2>alias-refused.txt || rc=$?
[ "$rc" = 1 ] || fail "moving @champion to a worse version exited $rc: $(cat alias-refused.txt)"
grep -q 'val_accuracy' alias-refused.txt || fail "refusal without the report: $(cat alias-refused.txt)"
rm -rf pulled4
"$mt" -q model pull churn@champion -o pulled4 || fail "pull @champion after a refusal failed"
cmp pulled4/weights/w1.bin pulled3/weights/w1.bin ||
	fail "a refused alias move changed what @champion delivers"
# MLflow's own alias endpoint is held to the same gate.
api POST /api/2.0/mlflow/registered-models/alias \
	"{\"name\": \"churn\", \"alias\": \"champion\", \"version\": \"$V3\"}"
[ "$HTTP_STATUS" = 412 ] || fail "MLflow's alias endpoint past the gate: $HTTP_STATUS $BODY"
# A stage name is not an alias.
rc=0
"$mt" model alias churn production "$V3" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "an alias named production was not refused ($rc)"
api POST /api/2.0/mlflow/registered-models/alias \
	"{\"name\": \"churn\", \"alias\": \"Production\", \"version\": \"$V3\"}"
[ "$HTTP_STATUS" = 400 ] || fail "MLflow's alias endpoint took 'Production': $HTTP_STATUS"
# A better version moves it.
train 0.96
V6=$V
"$mt" -q model alias churn champion "$V6" || fail "moving @champion to a better version failed"
rm -rf pulled5
"$mt" -q model pull churn@champion -o pulled5 || fail "pull @champion after the move failed"
cmp pulled5/weights/w1.bin out/model/weights/w1.bin || fail "@champion does not deliver the new version"
# Removing the gate is recorded too.
"$mt" -q gate set churn --to @champion --reason "experiment over" || fail "gate removal failed"
"$mt" gate history churn --format json >gate-history.json
python3 - gate-history.json <<'EOF' || fail "gate history: $(cat gate-history.json)"
import json, sys
h = json.load(open(sys.argv[1]))
rows = [(e["to_stage"] or "@" + e["alias"], e["outcome"], e["rules_before"], e["rules_after"])
        for e in h]
rel = "metrics.val_accuracy >= champion.metrics.val_accuracy"
assert rows[0][:2] == ("Production", "created"), rows
assert rows[1] == ("@champion", "created", None, [rel]), rows
assert rows[2] == ("@champion", "replaced", [rel], [rel, "bundle.verified"]), rows
assert rows[3] == ("@champion", "removed", [rel, "bundle.verified"], None), rows
assert [e["reason"] for e in h[1:]] == [None, "bundles must verify", "experiment over"], h
assert all(e["actor"] == "anonymous" and e["kind"] == "gate" for e in h), h
EOF

# A flipped byte in the stored bundle: pull refuses, the directory untouched.
digest=$(sha 2)
if [ -n "${SCENARIO_S3:-}" ]; then # on S3: the object fetched, flipped, put back
	blob="$dir/bundle-$digest"
	[ "$(s3_curl GET "$SCENARIO_S3/blobs/$digest" "" "$blob")" = 200 ] || fail "no object $SCENARIO_S3/blobs/$digest"
else
	blob="$artifacts/blobs/$(echo "$digest" | cut -c1-2)/$(echo "$digest" | cut -c3-4)/$digest"
	[ -f "$blob" ] || fail "no blob at $blob"
fi
mkdir -p keep && echo mine >keep/own.txt
python3 - "$blob" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(-2000, 2)
    b = f.read(1)
    f.seek(-2000, 2)
    f.write(bytes([b[0] ^ 0x01]))
EOF
if [ -n "${SCENARIO_S3:-}" ]; then
	[ "$(s3_curl PUT "$SCENARIO_S3/blobs/$digest" "$blob")" = 200 ] || fail "cannot put the flipped bundle back"
fi
# The server hashes what it sends and cuts the transfer short when the blob
# no longer matches its digest (exit 3, a failed transfer); a client facing
# a server that did not would fail the bundle's digest check (exit 1; the
# unit tests of lib/mt_bundle.c flip bytes in the archive itself).
rc=0
MLTRACK_HTTP_RETRIES=1 "$mt" -q model pull churn/2 -o keep 2>pull-bad.txt || rc=$?
[ "$rc" = 1 ] || [ "$rc" = 3 ] || fail "a tampered bundle pulled with exit $rc: $(cat pull-bad.txt)"
[ "$(ls keep)" = own.txt ] || fail "a failed pull changed the directory: $(ls keep)"

# The audit trail: the refusal and the promotion, the alias moves and the
# gate changes in the order they happened, and nothing can alter it.
"$mt" model history churn --format json >history.json
python3 - history.json "$V3" "$V6" <<'EOF' || fail "history: $(cat history.json)"
import json, sys
h = json.load(open(sys.argv[1]))
v3, v6 = sys.argv[2], sys.argv[3]
stages = [t for t in h if t["kind"] == "stage"]
out = [(t["version"], t["to_stage"], t["outcome"]) for t in stages]
assert ("1", "Production", "refused") in out, out
assert ("2", "Production", "allowed") in out, out
ok = [t for t in stages if t["outcome"] == "allowed"][0]
assert ok["reason"] == "better accuracy", ok
assert ok["report"]["passed"] is True, ok
moves = [(t["alias"], t["from_version"], t["version"], t["outcome"])
         for t in h if t["kind"] == "alias"]
assert moves == [("champion", None, "2", "allowed"), ("champion", "2", v3, "refused"),
                 ("champion", "2", v3, "refused"), ("champion", "2", v6, "allowed")], moves
refused = [t for t in h if t["kind"] == "alias" and t["outcome"] == "refused"][0]
assert refused["report"]["passed"] is False and refused["report"]["stage"] == "@champion"
kinds = [t["kind"] for t in h]
assert kinds.index("gate") < kinds.index("stage"), kinds  # the gate came first
ids = [int(t["id"]) for t in h]
assert ids == sorted(ids), ids
EOF
for stmt in "UPDATE stage_transitions SET outcome = 'allowed'" "DELETE FROM stage_transitions" \
	"TRUNCATE stage_transitions" "DELETE FROM stage_transitions WHERE kind = 'gate'" \
	"UPDATE stage_transitions SET version = 2 WHERE kind = 'alias'"; do
	if sql "$stmt" >/dev/null 2>&1; then fail "the audit table accepted: $stmt"; fi
done
[ "$(sql "SELECT count(*) FROM stage_transitions")" -ge 10 ] || fail "audit rows went missing"
echo "registry scenario: ok"
