-- runs/search drives its plan from an index that returns runs in the order
-- asked for (server/sql_search.c), so that a page costs about its own size
-- whatever the experiment's size and whether statistics are current.
--
-- latest_metrics, params and tags carry their run's experiment_id and
-- start_time (neither ever changes once the run exists), so that one index
-- range walks one experiment's runs by a key's value with runs/search's own
-- tiebreakers: start_time DESC NULLS LAST, then run_id.  A value order and
-- its reverse each get an index, because the tiebreakers keep their
-- direction when the value's direction changes.
--
-- runs gets the same tiebreakers for the default order (start_time DESC):
-- the index it had put NULL start times first, which search never asks for.

ALTER TABLE latest_metrics ADD COLUMN experiment_id bigint, ADD COLUMN start_time bigint;
ALTER TABLE params ADD COLUMN experiment_id bigint, ADD COLUMN start_time bigint;
ALTER TABLE tags ADD COLUMN experiment_id bigint, ADD COLUMN start_time bigint;

UPDATE latest_metrics c SET experiment_id = r.experiment_id, start_time = r.start_time
FROM runs r WHERE r.run_id = c.run_id;
UPDATE params c SET experiment_id = r.experiment_id, start_time = r.start_time
FROM runs r WHERE r.run_id = c.run_id;
UPDATE tags c SET experiment_id = r.experiment_id, start_time = r.start_time
FROM runs r WHERE r.run_id = c.run_id;

ALTER TABLE latest_metrics ALTER COLUMN experiment_id SET NOT NULL;
ALTER TABLE params ALTER COLUMN experiment_id SET NOT NULL;
ALTER TABLE tags ALTER COLUMN experiment_id SET NOT NULL;

DROP INDEX latest_metrics_key_value_idx;
CREATE INDEX latest_metrics_search_asc ON latest_metrics
    (experiment_id, key, value, start_time DESC NULLS LAST, run_id);
CREATE INDEX latest_metrics_search_desc ON latest_metrics
    (experiment_id, key, value DESC, start_time DESC NULLS LAST, run_id);
CREATE INDEX params_search_asc ON params
    (experiment_id, key, value, start_time DESC NULLS LAST, run_id);
CREATE INDEX params_search_desc ON params
    (experiment_id, key, value DESC, start_time DESC NULLS LAST, run_id);
CREATE INDEX tags_search_asc ON tags
    (experiment_id, key, value, start_time DESC NULLS LAST, run_id);
CREATE INDEX tags_search_desc ON tags
    (experiment_id, key, value DESC, start_time DESC NULLS LAST, run_id);

DROP INDEX runs_experiment_start_idx;
CREATE INDEX runs_experiment_start_idx ON runs
    (experiment_id, start_time DESC NULLS LAST, run_id);
