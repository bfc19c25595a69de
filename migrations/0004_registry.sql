-- Model registry: registered models, their versions, tags and aliases
-- (MLFLOW-API.md §4), plus the promotion audit trail and gate policies
-- (DESIGN.md §8).
--
-- Unlike MLflow's schema (§10), versions, tags and aliases point at a
-- surrogate model id, so a rename touches one row.  Version numbers are
-- per model and never reused: a deleted version stays as a redacted row in
-- the internal stage Deleted_Internal.

CREATE TABLE registered_models (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text   NOT NULL UNIQUE,
    creation_time     bigint NOT NULL,
    last_updated_time bigint NOT NULL,
    description       text
);
-- registered-models/search orders by last-updated time.
CREATE INDEX registered_models_updated_idx ON registered_models (last_updated_time, name);

CREATE TABLE registered_model_tags (
    model_id bigint NOT NULL REFERENCES registered_models ON DELETE CASCADE,
    key      text   NOT NULL,
    value    text   NOT NULL,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE model_versions (
    model_id          bigint NOT NULL REFERENCES registered_models ON DELETE CASCADE,
    version           integer NOT NULL CHECK (version > 0),
    creation_time     bigint NOT NULL,
    last_updated_time bigint NOT NULL,
    description       text,
    user_id           text,
    current_stage     text   NOT NULL DEFAULT 'None'
                      CHECK (current_stage IN ('None', 'Staging', 'Production', 'Archived',
                                               'Deleted_Internal')),
    source            text   NOT NULL,
    -- Where the artifacts are read from when not at source (a models:/
    -- source resolved at creation); NULL means source.
    storage_location  text,
    run_id            text,
    run_link          text,
    status            text   NOT NULL DEFAULT 'READY'
                      CHECK (status IN ('PENDING_REGISTRATION', 'FAILED_REGISTRATION', 'READY')),
    status_message    text,
    -- SHA-256 of the mltrack bundle this version was made from (filled by
    -- the bundle registration path; NULL for plain MLflow versions).
    bundle_sha256     text,
    PRIMARY KEY (model_id, version)
);
-- model-versions/search by run (mlflow.search_model_versions("run_id=...")).
CREATE INDEX model_versions_run_idx ON model_versions (run_id);
-- Latest version per stage, and versions in a stage.
CREATE INDEX model_versions_stage_idx ON model_versions (model_id, current_stage, version);

CREATE TABLE model_version_tags (
    model_id bigint  NOT NULL,
    version  integer NOT NULL,
    key      text    NOT NULL,
    value    text    NOT NULL,
    PRIMARY KEY (model_id, version, key),
    FOREIGN KEY (model_id, version) REFERENCES model_versions ON DELETE CASCADE
);

CREATE TABLE model_aliases (
    model_id bigint  NOT NULL REFERENCES registered_models ON DELETE CASCADE,
    alias    text    NOT NULL,
    version  integer NOT NULL,
    PRIMARY KEY (model_id, alias),
    FOREIGN KEY (model_id, version) REFERENCES model_versions ON DELETE CASCADE
);

-- Every stage transition, allowed or not: who, when, from, to, and the gate
-- report.  No foreign key: the trail outlives a deleted model, which is why
-- it keeps the model's name as it was.  Append-only: the triggers below make
-- PostgreSQL refuse UPDATE, DELETE and TRUNCATE.
CREATE TABLE stage_transitions (
    id         bigserial PRIMARY KEY,
    at         bigint  NOT NULL,
    model_id   bigint  NOT NULL,
    model_name text    NOT NULL,
    version    integer NOT NULL,
    from_stage text    NOT NULL,
    to_stage   text    NOT NULL,
    actor      text    NOT NULL,
    outcome    text    NOT NULL CHECK (outcome IN ('allowed', 'refused', 'forced')),
    report     jsonb,
    reason     text
);
CREATE INDEX stage_transitions_model_idx ON stage_transitions (model_id, id);

CREATE FUNCTION stage_transitions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stage_transitions is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER stage_transitions_no_change
    BEFORE UPDATE OR DELETE ON stage_transitions
    FOR EACH ROW EXECUTE FUNCTION stage_transitions_append_only();

CREATE TRIGGER stage_transitions_no_truncate
    BEFORE TRUNCATE ON stage_transitions
    FOR EACH STATEMENT EXECUTE FUNCTION stage_transitions_append_only();

-- Promotion gates: the rules a version must pass to enter a stage.
CREATE TABLE gate_policies (
    model_id   bigint NOT NULL REFERENCES registered_models ON DELETE CASCADE,
    stage      text   NOT NULL CHECK (stage IN ('None', 'Staging', 'Production', 'Archived')),
    rules      text[] NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (model_id, stage)
);
