-- Artifacts: a content-addressed store.  A blob is a file named by its
-- SHA-256 under ARTIFACTS_ROOT/blobs, written once; an artifact is a path in
-- the proxy's namespace (MLflow's "<experiment>/<run>/artifacts/<file>")
-- pointing at a blob.  The same bytes uploaded twice, anywhere, are stored
-- once.

CREATE TABLE blobs (
    sha256     text   PRIMARY KEY,
    size       bigint NOT NULL,
    created_at bigint NOT NULL
);

CREATE TABLE artifacts (
    path       text COLLATE "C" PRIMARY KEY,
    sha256     text   NOT NULL REFERENCES blobs,
    size       bigint NOT NULL,
    run_id     text,
    created_at bigint NOT NULL
);
-- Listing a directory is a range scan on path (C collation: byte order).
CREATE INDEX artifacts_run_idx ON artifacts (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX artifacts_sha_idx ON artifacts (sha256);
