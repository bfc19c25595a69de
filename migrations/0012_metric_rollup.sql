-- The rollup of get-history-sampled (issue 14 item 4; lib/mt_rollup.h):
-- per (run, key), level L (2..31) and block blk, the aggregates of the
-- steps [blk * 4^L, (blk + 1) * 4^L): point count, first and last
-- (step, timestamp) with the value the answer gives them, the earliest
-- point with the smallest value, and the earliest with the largest value
-- (hi_val: the smallest value at its (step, timestamp); hi_max: the largest
-- value itself).  A sampled read combines a few thousand of these rows
-- instead of reading every point.
--
-- Writers do not touch it: every upsert of latest_metrics widens the
-- series' dirty step range [dirty_lo, dirty_hi] (NULL: clean) with the
-- batch's steps.  The first sampled read after writes rebuilds the blocks
-- over that range and clears it, unless a writer committed meanwhile
-- (server/sql_metrics.c).  The defaults mark every existing series, and any
-- row written without naming the columns (a load by SQL), dirty over all of
-- int64: its first sampled read builds its whole rollup.
ALTER TABLE latest_metrics
    ADD COLUMN dirty_lo bigint DEFAULT -9223372036854775808,
    ADD COLUMN dirty_hi bigint DEFAULT 9223372036854775807;

CREATE TABLE metric_rollup (
    run_id  text             NOT NULL REFERENCES runs ON DELETE CASCADE,
    key     text             NOT NULL,
    lvl     smallint         NOT NULL,
    blk     bigint           NOT NULL,
    n       bigint           NOT NULL,
    f_step  bigint           NOT NULL,
    f_ts    bigint           NOT NULL,
    f_val   double precision NOT NULL,
    l_step  bigint           NOT NULL,
    l_ts    bigint           NOT NULL,
    l_val   double precision NOT NULL,
    lo_step bigint           NOT NULL,
    lo_ts   bigint           NOT NULL,
    lo_val  double precision NOT NULL,
    hi_step bigint           NOT NULL,
    hi_ts   bigint           NOT NULL,
    hi_val  double precision NOT NULL,
    hi_max  double precision NOT NULL,
    PRIMARY KEY (run_id, key, lvl, blk)
);
