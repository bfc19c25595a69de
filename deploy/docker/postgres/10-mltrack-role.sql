-- Run once by the postgres image when it creates the cluster
-- (/docker-entrypoint-initdb.d).  Behind PgBouncer in transaction pooling,
-- mltrackd sets no session settings, so its statement timeout is the
-- role's (docs/operations.md, "PgBouncer").  The role is POSTGRES_USER of
-- deploy/docker/compose.yaml.
ALTER ROLE mltrack SET statement_timeout = '30s';
