-- Cache for get-history-sampled.  Every write to a (run, key) bumps
-- latest_metrics.version; a cached sample is served only while its version
-- equals the current one, so it can never be stale.  Finished runs, which a
-- dashboard charts again and again, are read in one primary-key lookup
-- instead of a pass over their whole history.

ALTER TABLE latest_metrics ADD COLUMN version bigint NOT NULL DEFAULT 1;

CREATE TABLE metric_samples (
    run_id     text     NOT NULL REFERENCES runs ON DELETE CASCADE,
    key        text     NOT NULL,
    max_points integer  NOT NULL,
    version    bigint   NOT NULL,
    steps      bigint[] NOT NULL,
    timestamps bigint[] NOT NULL,
    vals       float8[] NOT NULL,
    PRIMARY KEY (run_id, key, max_points)
);
