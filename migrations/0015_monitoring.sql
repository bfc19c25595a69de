-- Monitoring deployed model versions (issue 17; docs/monitoring.md).
--
-- monitor_references: the reference profile of a version (lib/mt_profile.h,
-- "mltrack-profile/1"), taken at version creation from the verified bundle
-- manifest's "reference_profile" member, so it is exactly what the bundle
-- (and its SHA-256) holds.  One per version, never changed.
CREATE TABLE monitor_references (
    model_id   bigint  NOT NULL,
    version    integer NOT NULL,
    profile    jsonb   NOT NULL,
    created_at bigint  NOT NULL,
    PRIMARY KEY (model_id, version),
    FOREIGN KEY (model_id, version) REFERENCES model_versions ON DELETE CASCADE
);

-- monitor_windows: the live profile of one window of observations posted
-- to monitor/log (counts in the reference's bins, top values, label
-- confusion counts or error sums); raw rows are not kept.  window_start is
-- in milliseconds since the epoch, a multiple of window_seconds * 1000;
-- a window size changed at a restart starts new rows beside the old.
-- Ingest locks the row (FOR UPDATE) and writes the folded counts back in
-- the same transaction, so concurrent posts to one window add up.
CREATE TABLE monitor_windows (
    model_id       bigint  NOT NULL,
    version        integer NOT NULL,
    window_seconds integer NOT NULL CHECK (window_seconds > 0),
    window_start   bigint  NOT NULL,
    row_count      bigint  NOT NULL DEFAULT 0 CHECK (row_count >= 0),
    live           jsonb   NOT NULL,
    updated_at     bigint  NOT NULL,
    PRIMARY KEY (model_id, version, window_seconds, window_start),
    FOREIGN KEY (model_id, version) REFERENCES model_versions ON DELETE CASCADE
);
CREATE INDEX monitor_windows_recent_idx ON monitor_windows (model_id, version, window_start DESC);
