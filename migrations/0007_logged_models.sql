-- MLflow 3's logged models (issue 12; MLFLOW-3X.md sections 2.1 and 3):
-- the models themselves with their params, tags and metrics, the links
-- between runs and models (runs/outputs, model inputs of runs), the fields
-- MLflow 3 metrics carry, and model versions made from a logged model.

-- A logged model.  status is LoggedModelStatus's number (0 unspecified,
-- 1 pending, 2 ready, 3 upload failed); deletion is a lifecycle stage, as
-- for runs.  source_run_id is not a foreign key: MLflow stores it
-- unchecked.
CREATE TABLE logged_models (
    model_id                  text     PRIMARY KEY,
    experiment_id             bigint   NOT NULL REFERENCES experiments,
    name                      text     NOT NULL,
    artifact_location         text     NOT NULL,
    creation_timestamp_ms     bigint   NOT NULL,
    last_updated_timestamp_ms bigint   NOT NULL,
    status                    smallint NOT NULL DEFAULT 1 CHECK (status BETWEEN 0 AND 3),
    lifecycle_stage           text     NOT NULL DEFAULT 'active'
                              CHECK (lifecycle_stage IN ('active', 'deleted')),
    model_type                text,
    source_run_id             text,
    status_message            text
);
-- logged-models/search's default order within an experiment.
CREATE INDEX logged_models_experiment_idx
    ON logged_models (experiment_id, creation_timestamp_ms DESC, model_id);
-- Every runs:/ download and list_artifacts of a 3.x client searches its
-- run's experiment for a model name.
CREATE INDEX logged_models_name_idx ON logged_models (experiment_id, name);
-- A run's models (the dashboard's run page).
CREATE INDEX logged_models_source_run_idx ON logged_models (source_run_id)
    WHERE source_run_id IS NOT NULL;

CREATE TABLE logged_model_params (
    model_id text NOT NULL REFERENCES logged_models ON DELETE CASCADE,
    key      text NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE logged_model_tags (
    model_id text NOT NULL REFERENCES logged_models ON DELETE CASCADE,
    key      text NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (model_id, key)
);

-- Every point logged with a model_id, keyed as MLflow keys it (model,
-- key, timestamp, step, run): the same point logged again for the same
-- model is one row.  The primary key also serves search (a model's points
-- of one key, the latest first).  run_id is not a foreign key: a point is
-- written only to an active run, in the statement or transaction that
-- checks it, runs are never removed, and PostgreSQL checks a foreign key
-- row by row (log-batch of 1000 points with a model_id, 4 clients: about
-- 42 batches/s with this key, 50 to 58 without it).
CREATE TABLE logged_model_metrics (
    model_id       text             NOT NULL REFERENCES logged_models ON DELETE CASCADE,
    key            text             NOT NULL,
    timestamp      bigint           NOT NULL,
    step           bigint           NOT NULL,
    run_id         text             NOT NULL,
    value          double precision NOT NULL,
    dataset_name   text,
    dataset_digest text,
    PRIMARY KEY (model_id, key, timestamp, step, run_id)
);

-- runs/outputs: the models a run produced, at a step.  model_id is not a
-- foreign key: MLflow links whatever id it is given.
CREATE TABLE run_model_outputs (
    run_id   text   NOT NULL REFERENCES runs ON DELETE CASCADE,
    model_id text   NOT NULL,
    step     bigint NOT NULL,
    PRIMARY KEY (run_id, model_id, step)
);

-- runs/log-inputs' models: the models a run used.
CREATE TABLE run_model_inputs (
    run_id   text NOT NULL REFERENCES runs ON DELETE CASCADE,
    model_id text NOT NULL,
    PRIMARY KEY (run_id, model_id)
);

-- What an MLflow 3 point carries besides its value.  The primary key stays
-- (run_id, key, step, timestamp, value), MLflow's: a point logged again
-- with a model_id (as log_model does for the run's points at its step) is
-- the same point, kept as first logged; its link to the model is a
-- logged_model_metrics row.  Nullable columns cost plain points nothing.
ALTER TABLE metrics
    ADD COLUMN model_id       text,
    ADD COLUMN dataset_name   text,
    ADD COLUMN dataset_digest text;

-- The series (run, key) that hold a point with any of those fields, so the
-- sampled history looks them up only where they can be.
CREATE TABLE metric_extra_keys (
    run_id text NOT NULL REFERENCES runs ON DELETE CASCADE,
    key    text NOT NULL,
    PRIMARY KEY (run_id, key)
);

-- The fields of the sampled points, parallel to steps (NULL when none of
-- the sample's points has any).
ALTER TABLE metric_samples
    ADD COLUMN model_ids       text[],
    ADD COLUMN dataset_names   text[],
    ADD COLUMN dataset_digests text[];

-- A model version made from a logged model (model-versions/create's
-- model_id, or a models:/<model_id> source).
ALTER TABLE model_versions ADD COLUMN logged_model_id text;
