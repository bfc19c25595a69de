#!/bin/sh
# The registry's audit trail: every model-versions/transition-stage writes
# one stage_transitions row in its transaction (12 concurrent promotions: 12
# rows, one version left in Production); alias moves (allowed and refused)
# and gate changes (created, replaced, removed) write theirs in the same
# table; PostgreSQL refuses UPDATE, DELETE and TRUNCATE on every kind of
# row, and a row that does not fit its kind; the rows outlive the model,
# whose deletion records the removal of its gates.
set -eu
. "$ROOT/tests/lib.sh"

port=$(free_port)
BASE="http://127.0.0.1:$port"
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$port" --data-dir "$WORK/d100" \
	>"$WORK/audit.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
wait_http "$BASE/readyz" 60 || fail "server did not start"

M="/api/2.0/mlflow"
name="audit-$$-$(date +%s)"
api POST "$M/registered-models/create" "{\"name\": \"$name\"}"
[ "$HTTP_STATUS" = 200 ] || fail "create model: $HTTP_STATUS $BODY"
i=1
while [ $i -le 12 ]; do
	api POST "$M/model-versions/create" "{\"name\": \"$name\", \"source\": \"s3://b/$i\"}"
	[ "$HTTP_STATUS" = 200 ] || fail "create version $i: $HTTP_STATUS $BODY"
	i=$((i + 1))
done

# 12 concurrent promotions to Production, each archiving the others.
pids=""
i=1
while [ $i -le 12 ]; do
	curl -s -o "$WORK/audit.$i" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-d "{\"name\": \"$name\", \"version\": \"$i\", \"stage\": \"production\",
		     \"archive_existing_versions\": true}" \
		"$BASE$M/model-versions/transition-stage" >"$WORK/audit.$i.code" &
	pids="$pids $!"
	i=$((i + 1))
done
for p in $pids; do
	wait "$p" || fail "a promotion request failed"
done
for j in 1 2 3 4 5 6 7 8 9 10 11 12; do
	[ "$(cat "$WORK/audit.$j.code")" = 200 ] ||
		fail "promotion $j: $(cat "$WORK/audit.$j.code") $(cat "$WORK/audit.$j")"
done

q() { psql_q "$1"; }
id=$(q "SELECT id FROM registered_models WHERE name = '$name'")
[ -n "$id" ] || fail "model row not found"
n=$(q "SELECT count(*) FROM stage_transitions WHERE model_id = $id")
[ "$n" = 12 ] || fail "expected 12 audit rows, found $n"
n=$(q "SELECT count(*) FROM model_versions WHERE model_id = $id AND current_stage = 'Production'")
[ "$n" = 1 ] || fail "expected exactly one version in Production, found $n"
n=$(q "SELECT count(*) FROM stage_transitions WHERE model_id = $id AND model_name = '$name'
       AND to_stage = 'Production' AND outcome = 'allowed' AND actor = 'anonymous'
       AND from_stage IN ('None', 'Archived') AND at > 0 AND report IS NULL")
[ "$n" = 12 ] || fail "audit rows lack the expected fields ($n of 12 match)"
# The promotions ran one after another: the version left in Production is
# the one of the last audit row.
last=$(q "SELECT version FROM stage_transitions WHERE model_id = $id ORDER BY id DESC LIMIT 1")
prod=$(q "SELECT version FROM model_versions WHERE model_id = $id AND current_stage = 'Production'")
[ "$last" = "$prod" ] || fail "last audit row is version $last, Production holds $prod"

# A refused transition writes nothing.
api POST "$M/model-versions/transition-stage" "{\"name\": \"$name\", \"version\": \"1\", \"stage\": \"bogus\"}"
[ "$HTTP_STATUS" = 400 ] || fail "bad stage: $HTTP_STATUS"
n=$(q "SELECT count(*) FROM stage_transitions WHERE model_id = $id")
[ "$n" = 12 ] || fail "a refused transition wrote an audit row"

# Alias moves and gate changes: rows of their own kinds in the same trail.
X="/api/2.0/mltrack"
api POST "$X/gates/set" "{\"name\": \"$name\", \"stage\": \"Production\", \"rules\": [\"bundle.verified\"]}"
[ "$HTTP_STATUS" = 200 ] || fail "gate set: $HTTP_STATUS $BODY"
api POST "$X/gates/set" "{\"name\": \"$name\", \"stage\": \"Production\", \"rules\": [\"git.dirty == false\"]}"
[ "$HTTP_STATUS" = 200 ] || fail "gate replace: $HTTP_STATUS $BODY"
api POST "$X/gates/set" "{\"name\": \"$name\", \"alias\": \"live\", \"rules\": [\"bundle.verified\"]}"
[ "$HTTP_STATUS" = 200 ] || fail "alias gate set: $HTTP_STATUS $BODY"
api POST "$M/registered-models/alias" "{\"name\": \"$name\", \"alias\": \"live\", \"version\": \"1\"}"
[ "$HTTP_STATUS" = 412 ] || fail "a gated alias move without a bundle: $HTTP_STATUS $BODY"
api POST "$M/registered-models/alias" "{\"name\": \"$name\", \"alias\": \"other\", \"version\": \"1\"}"
[ "$HTTP_STATUS" = 200 ] || fail "alias set: $HTTP_STATUS $BODY"
kinds=$(q "SELECT string_agg(kind || ':' || outcome, ' ' ORDER BY id) FROM stage_transitions
           WHERE model_id = $id AND kind <> 'stage'")
[ "$kinds" = "gate:created gate:replaced gate:created alias:refused alias:allowed" ] ||
	fail "alias and gate rows: $kinds"
n=$(q "SELECT count(*) FROM stage_transitions WHERE model_id = $id AND kind = 'gate'
       AND outcome = 'replaced' AND rules_before = '[\"bundle.verified\"]'::jsonb
       AND rules_after = '[\"git.dirty == false\"]'::jsonb AND to_stage = 'Production'")
[ "$n" = 1 ] || fail "the replaced gate's row lacks its rules"
# A row that does not fit its kind is refused by the table's CHECK.
if out=$(q "INSERT INTO stage_transitions (at, model_id, model_name, version, actor, outcome, kind)
            VALUES (1, $id, '$name', 1, 'x', 'created', 'gate')" 2>&1); then
	fail "a malformed gate row was accepted"
fi
case "$out" in *stage_transitions_kind_check*) ;; *) fail "malformed row: $out" ;; esac

# Append-only: PostgreSQL refuses UPDATE, DELETE and TRUNCATE, on every kind.
for sql in "UPDATE stage_transitions SET actor = 'x'" "DELETE FROM stage_transitions" \
	"TRUNCATE stage_transitions" \
	"UPDATE stage_transitions SET rules_before = NULL WHERE kind = 'gate'" \
	"UPDATE stage_transitions SET outcome = 'allowed' WHERE kind = 'alias'" \
	"DELETE FROM stage_transitions WHERE kind = 'gate'" \
	"DELETE FROM stage_transitions WHERE kind = 'alias' AND outcome = 'refused'"; do
	if out=$(q "$sql" 2>&1); then
		fail "'$sql' was allowed"
	fi
	case "$out" in
	*append-only*) ;;
	*) fail "'$sql' failed for another reason: $out" ;;
	esac
done
n=$(q "SELECT count(*) FROM stage_transitions WHERE model_id = $id")
[ "$n" = 17 ] || fail "audit rows changed ($n, expected 12 + 5)"

# The trail outlives the model (no foreign key).
last_id=$(q "SELECT max(id) FROM stage_transitions WHERE model_id = $id")
api DELETE "$M/registered-models/delete" "{\"name\": \"$name\"}"
[ "$HTTP_STATUS" = 200 ] || fail "delete model: $HTTP_STATUS $BODY"
n=$(q "SELECT count(*) FROM model_versions WHERE model_id = $id")
[ "$n" = 0 ] || fail "versions survived the model"
n=$(q "SELECT count(*) FROM stage_transitions WHERE model_id = $id AND id <= $last_id")
[ "$n" = 17 ] || fail "audit rows did not survive the model's deletion"
# The gates that went with the model are recorded as removed.
gone=$(q "SELECT string_agg(coalesce(to_stage, '@' || alias), ' ' ORDER BY id) FROM stage_transitions
          WHERE model_id = $id AND kind = 'gate' AND outcome = 'removed'
          AND reason = 'the model was deleted'")
[ "$gone" = "Production @live" ] || fail "gate removals at model deletion: '$gone'"
n=$(q "SELECT count(*) FROM alias_gate_policies WHERE model_id = $id")
[ "$n" = 0 ] || fail "alias gates survived the model"

kill -TERM "$pid"
wait "$pid" || fail "server exit status"
trap - EXIT
echo "registry audit: 12 concurrent promotions, 12 rows, one Production; alias and gate rows;" \
	"append-only enforced"
