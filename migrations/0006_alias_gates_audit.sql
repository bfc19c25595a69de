-- Gates on aliases, and one audit trail for every registry decision
-- (issue 11): stage transitions, alias moves and gate changes.
--
-- An alias gate is the list of rules a version must pass before an alias
-- may point at it.  Like gate_policies it belongs to the model (it goes
-- when the model goes, and a rename keeps it); the alias need not be set.
CREATE TABLE alias_gate_policies (
    model_id   bigint NOT NULL REFERENCES registered_models ON DELETE CASCADE,
    alias      text   NOT NULL,
    rules      text[] NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (model_id, alias)
);

-- stage_transitions becomes the trail of three kinds of rows, in one id
-- order so that a model's history reads top to bottom:
--   stage  a stage transition (as before): version, from_stage, to_stage,
--          outcome allowed | refused | forced, report, reason;
--   alias  an alias set or deleted: alias, from_version (where it pointed
--          before, NULL when unset) and version (where it points now, NULL
--          after a delete), outcome allowed | refused | forced, report,
--          reason;
--   gate   a gate created, replaced or removed: to_stage or alias (what it
--          guards), rules_before and rules_after (JSON arrays of the rule
--          texts, NULL when there was or is no gate), outcome created |
--          replaced | removed, reason.
-- Existing rows are stage rows.  The append-only triggers of 0004 cover
-- every kind.
ALTER TABLE stage_transitions
    ADD COLUMN kind text NOT NULL DEFAULT 'stage',
    ADD COLUMN alias text,
    ADD COLUMN from_version integer,
    ADD COLUMN rules_before jsonb,
    ADD COLUMN rules_after jsonb,
    ALTER COLUMN version DROP NOT NULL,
    ALTER COLUMN from_stage DROP NOT NULL,
    ALTER COLUMN to_stage DROP NOT NULL,
    DROP CONSTRAINT stage_transitions_outcome_check,
    ADD CONSTRAINT stage_transitions_kind_check CHECK (
        (kind = 'stage' AND version IS NOT NULL AND from_stage IS NOT NULL
         AND to_stage IS NOT NULL AND alias IS NULL AND from_version IS NULL
         AND rules_before IS NULL AND rules_after IS NULL
         AND outcome IN ('allowed', 'refused', 'forced'))
     OR (kind = 'alias' AND alias IS NOT NULL AND from_stage IS NULL AND to_stage IS NULL
         AND (version IS NOT NULL OR from_version IS NOT NULL)
         AND rules_before IS NULL AND rules_after IS NULL
         AND outcome IN ('allowed', 'refused', 'forced'))
     OR (kind = 'gate' AND (to_stage IS NULL) <> (alias IS NULL) AND version IS NULL
         AND from_stage IS NULL AND from_version IS NULL AND report IS NULL
         AND ((outcome = 'created' AND rules_before IS NULL AND rules_after IS NOT NULL)
           OR (outcome = 'replaced' AND rules_before IS NOT NULL AND rules_after IS NOT NULL)
           OR (outcome = 'removed' AND rules_before IS NOT NULL AND rules_after IS NULL))));
