-- Monitoring alerts (issue 17; docs/monitoring.md, "Alerts").
--
-- monitor_alert_rules: a registered model's alert rules, in the gate rule
-- language with drift.STAT(FEATURE) and live.KEY (lib/mt_gate.h), as a
-- JSON array of rule texts.  They are checked for every monitored version
-- of the model when one of its windows closes.
CREATE TABLE monitor_alert_rules (
    model_id   bigint PRIMARY KEY REFERENCES registered_models ON DELETE CASCADE,
    rules      jsonb  NOT NULL,
    updated_at bigint NOT NULL
);

-- A window is closed once it has ended and no observation came for the
-- grace period (--monitor-grace); closed_at says when its rules were
-- checked (once: observations that come later are folded in, and not
-- checked again), alert_report the gate-style report of that check (NULL:
-- the model had no rules then).
ALTER TABLE monitor_windows ADD COLUMN closed_at bigint;
ALTER TABLE monitor_windows ADD COLUMN alert_report jsonb;
CREATE INDEX monitor_windows_open_idx ON monitor_windows (window_start) WHERE closed_at IS NULL;

-- monitor_alerts: one row per closed window where a rule failed (so an
-- alert fires exactly once per breached window), written in the
-- transaction that closes the window, with the webhook event
-- monitor_alert.fired.
CREATE TABLE monitor_alerts (
    id              bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id        bigint  NOT NULL,
    version         integer NOT NULL,
    window_seconds  integer NOT NULL,
    window_start    bigint  NOT NULL,
    report          jsonb   NOT NULL,
    created_at      bigint  NOT NULL,
    acknowledged_at bigint,
    acknowledged_by text,
    UNIQUE (model_id, version, window_seconds, window_start),
    FOREIGN KEY (model_id, version) REFERENCES model_versions ON DELETE CASCADE
);
CREATE INDEX monitor_alerts_model_idx ON monitor_alerts (model_id, created_at DESC, id DESC);
