-- Bundles: a version registered from an mltrack bundle keeps, next to its
-- digest (0004), the bundle's size and its manifest (MLTRACK-BUNDLE.json:
-- files with digests, provenance, metrics, params), read once when the
-- bundle was verified at registration, so showing a version never re-reads
-- a multi-gigabyte archive.
ALTER TABLE model_versions ADD COLUMN bundle_size bigint;
ALTER TABLE model_versions ADD COLUMN bundle_manifest jsonb;
