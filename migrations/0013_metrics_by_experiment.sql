-- metrics partitioned by experiment (issue 15 item 7): LIST on a new
-- column experiment_id, one partition per experiment, metrics_e<ID>.
--
-- Why the experiment: what goes away at once is an experiment (mltrackd gc
-- --purge-deleted-experiments): its partition is detached and dropped, not
-- deleted from row by row.  Every read is of one run's series (history,
-- sampled, rollup rebuild) or of a few runs of one page (bulk), and a run
-- never changes experiment, so a read that names its experiment_id is
-- pruned to one partition at plan time.  By time would make every read of
-- a long run touch many partitions and leave a deleted experiment's points
-- spread over all of them; by run hash would not make an experiment
-- droppable at all.
--
-- The primary key must include the partition key; experiment_id goes last
-- so the index is still walked by (run_id, key, step, timestamp, value) as
-- before.  Writers supply experiment_id (server/sql_runs.c: they hold the
-- run's row first and read its experiment there).
--
-- A partition is made with its experiment, in the same transaction, by the
-- trigger below on experiments, so every way an experiment is inserted
-- gets one.  CREATE TABLE ... PARTITION OF would hold ACCESS EXCLUSIVE on
-- metrics until the commit (every write and read of points waits);
-- CREATE TABLE (LIKE metrics) then ATTACH PARTITION holds only SHARE UPDATE
-- EXCLUSIVE on metrics, which no INSERT, COPY or SELECT waits for
-- (docs/operations.md, "Metrics partitions").
--
-- The conversion: writes to metrics wait from the LOCK below to the commit
-- (the whole migration; reads go on until the DROP near the end).  The
-- points are copied into the new table without an index, then the primary
-- key is built per partition: on 10M points, docs/operations.md.

LOCK TABLE metrics IN SHARE MODE;

CREATE TABLE metrics_part (
    run_id         text             NOT NULL,
    key            text             NOT NULL,
    step           bigint           NOT NULL,
    timestamp      bigint           NOT NULL,
    value          double precision NOT NULL,
    model_id       text,
    dataset_name   text,
    dataset_digest text,
    experiment_id  bigint           NOT NULL
) PARTITION BY LIST (experiment_id);

DO $$
DECLARE
    e bigint;
BEGIN
    FOR e IN SELECT experiment_id FROM experiments ORDER BY experiment_id LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF metrics_part FOR VALUES IN (%s)',
                       'metrics_e' || e, e);
    END LOOP;
END
$$;

-- Points of a run that no longer exists (none: runs' delete trigger takes
-- them) have no experiment and are left behind.
INSERT INTO metrics_part
SELECT m.run_id, m.key, m.step, m.timestamp, m.value, m.model_id, m.dataset_name,
       m.dataset_digest, r.experiment_id
FROM metrics m JOIN runs r USING (run_id);

ALTER TABLE metrics_part ADD CONSTRAINT metrics_part_pkey
    PRIMARY KEY (run_id, key, step, timestamp, value, experiment_id);

DROP TABLE metrics;
ALTER TABLE metrics_part RENAME TO metrics;
ALTER INDEX metrics_part_pkey RENAME TO metrics_pkey;

-- The partition of experiment e, empty, attached with the weaker lock.
CREATE FUNCTION mltrack_metrics_partition(e bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I (LIKE metrics INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   'metrics_e' || e);
    EXECUTE format('ALTER TABLE metrics ATTACH PARTITION %I FOR VALUES IN (%s)',
                   'metrics_e' || e, e);
END
$$;

CREATE FUNCTION mltrack_experiment_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mltrack_metrics_partition(NEW.experiment_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER experiments_metrics_partition AFTER INSERT ON experiments
    FOR EACH ROW EXECUTE FUNCTION mltrack_experiment_created();

-- Deleted runs take their points, one run at a time so that each DELETE
-- names its experiment and touches one partition: run by EXECUTE, so it is
-- planned with the values each time (a cached generic plan would cover, and
-- lock, every partition).  The runs of an experiment being purged
-- (mltrack.purge_experiment, set by mltrackd gc for its transaction) are
-- left out: their partition is dropped whole.
CREATE OR REPLACE FUNCTION mltrack_runs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT run_id, experiment_id FROM gone
             WHERE experiment_id IS DISTINCT FROM
                   nullif(current_setting('mltrack.purge_experiment', true), '')::bigint
    LOOP
        EXECUTE 'DELETE FROM metrics WHERE experiment_id = $1 AND run_id = $2'
            USING g.experiment_id, g.run_id;
    END LOOP;
    RETURN NULL;
END
$$;
