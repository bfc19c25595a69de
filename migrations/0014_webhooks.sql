-- PLACEHOLDER on branch wip-mon only: migrations/0014_webhooks.sql belongs
-- to the webhooks work (another branch).  The migration runner refuses a
-- gap, so this branch carries an empty 0014 to apply its 0015; take the
-- webhooks branch's file instead of this one when merging.
SELECT 1;
