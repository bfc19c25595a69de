-- The foreign key from metrics to runs was checked for every point: a
-- lookup and a row lock in runs per row, a third of PostgreSQL's time in
-- a 1000-point log-batch (perf), and +50-58% batches/s without it
-- (docs/PERFORMANCE.md).  What it guaranteed is kept another way:
--   * a point is only written for a run that exists: every statement that
--     writes points first takes the run's row with FOR KEY SHARE (once per
--     batch, server/sql_runs.c), in the same transaction, so a run cannot
--     be deleted while points for it are being written;
--   * a deleted run takes its points with it: the trigger below, as the
--     foreign key's ON DELETE CASCADE did.
ALTER TABLE metrics DROP CONSTRAINT metrics_run_id_fkey;

CREATE FUNCTION mltrack_runs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM metrics m USING gone g WHERE m.run_id = g.run_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER runs_delete_metrics AFTER DELETE ON runs
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION mltrack_runs_deleted();
