/*
 * sql_artifacts.c: all SQL about artifacts and blobs.
 *
 * The blob lock.  Whoever adds a reference to a blob (an upload) holds
 * pg_advisory_xact_lock_shared on the blob's key from before it looks at the
 * blob's file until it commits; mltrackd gc holds pg_advisory_xact_lock on
 * it from before it re-checks that nothing refers to the blob until it has
 * deleted the row, unlinked the file and committed.  The lock is taken in a
 * statement of its own, so the statements after it (READ COMMITTED) see
 * whatever the other side committed before letting go.
 *
 * The key is PostgreSQL's two-int4 form: (BLOB_LOCK_CLASS, the digest's
 * first 32 bits as a signed int4).  Two-key advisory locks are a separate
 * space from one-bigint ones (pg_locks.objsubid 2 vs 1), so they can never
 * meet migrate.c's bigint key; two digests sharing 32 bits only share a lock,
 * which costs a wait, never correctness.
 */
#include <stdlib.h>
#include <string.h>

#include "mt_util.h"
#include "sql_artifacts.h"

#define BLOB_LOCK_CLASS "1836409452" /* 0x6d74626c, "mtbl" */
#define BLOB_LOCK_KEY BLOB_LOCK_CLASS ", ('x' || left($1, 8))::bit(32)::int"

/* "Nothing refers to blob b."  Every table that will refer to blobs belongs
 * here, and whatever writes it must take the shared blob lock first. */
#define BLOB_UNREFERENCED "NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.sha256 = b.sha256)"

static const struct db_stmt stmts[] = {
	{ "art_lock_shared", "SELECT pg_advisory_xact_lock_shared(" BLOB_LOCK_KEY ")" },
	{ "art_lock", "SELECT pg_advisory_xact_lock(" BLOB_LOCK_KEY ")" },
	/* The blob row first (a no-op when the bytes are known), then the path:
	 * the foreign key is checked at the end of the statement. */
	{ "art_put",
	  "WITH b AS (INSERT INTO blobs (sha256, size, created_at) VALUES ($2, $3, $5) "
	  "           ON CONFLICT (sha256) DO NOTHING) "
	  "INSERT INTO artifacts (path, sha256, size, run_id, created_at) VALUES ($1, $2, $3, $4, $5) "
	  "ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, "
	  "run_id = excluded.run_id, created_at = excluded.created_at" },
	{ "art_get", "SELECT sha256, size FROM artifacts WHERE path = $1" },
	/* A file, or a directory: everything between "dir/" and "dir0" ('0'
	 * follows '/' in byte order). */
	{ "art_delete",
	  "DELETE FROM artifacts WHERE path = $1 OR (path >= $2 AND path < $3)" },
	{ "art_under",
	  "SELECT path, size FROM artifacts WHERE path >= $1 AND path < $2 ORDER BY path" },
	{ "art_all", "SELECT path, size FROM artifacts ORDER BY path" },
	/* mltrackd gc: unreferenced blobs in digest order, a page at a time
	 * (only rows named like a digest: gc builds file names from them). */
	{ "art_gc_page",
	  "SELECT sha256, size FROM blobs b WHERE sha256 > $1 AND sha256 ~ '^[0-9a-f]{64}$' "
	  "AND " BLOB_UNREFERENCED " ORDER BY sha256 LIMIT $2" },
	{ "art_gc_delete",
	  "DELETE FROM blobs b WHERE sha256 = $1 AND " BLOB_UNREFERENCED " RETURNING size" },
	{ "art_blobs_known", "SELECT sha256 FROM blobs WHERE sha256 = ANY ($1::text[])" },
	{ "art_blob_count", "SELECT count(*) FROM blobs" },
};

const struct db_stmt_table sql_artifacts_table = { stmts, sizeof(stmts) / sizeof(stmts[0]), 0 };

/* "dir/" and "dir0": the bounds of everything under dir. */
static void bounds(struct mt_arena *a, const char *dir, const char **lo, const char **hi)
{
	*lo = mt_arena_printf(a, "%s/", dir);
	*hi = mt_arena_printf(a, "%s0", dir);
}

int sql_art_put(struct mt_req *req, const char *path, const char *sha256, long long size,
		const char *run_id, struct mt_err *err)
{
	const char *v[5] = { path, sha256, mt_arena_printf(req->arena, "%lld", size), run_id,
			     mt_arena_printf(req->arena, "%lld", mt_now_ms()) };

	return db_exec(req, "art_put", 5, v, err) ? 0 : -1;
}

int sql_art_get(struct mt_req *req, const char *path, const char **sha256, long long *size,
		struct mt_err *err)
{
	PGresult *r = db_exec(req, "art_get", 1, &path, err);

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return mt_err_set(err, MT_ENOTFOUND, "No artifact at '%s'", path);
	*sha256 = PQgetvalue(r, 0, 0);
	*size = atoll(PQgetvalue(r, 0, 1));
	return 0;
}

int sql_art_delete(struct mt_req *req, const char *path, long long *n, struct mt_err *err)
{
	const char *v[3] = { path };
	PGresult *r;

	bounds(req->arena, path, &v[1], &v[2]);
	if (!(r = db_exec(req, "art_delete", 3, v, err)))
		return -1;
	*n = atoll(PQcmdTuples(r));
	return 0;
}

int sql_art_list(struct mt_req *req, const char *dir, const char *name_prefix, json_t *list,
		 struct mt_err *err)
{
	const char *v[2];
	size_t skip = *dir ? strlen(dir) + 1 : 0;
	const char *last_dir = "";
	PGresult *r;

	if (*dir) {
		bounds(req->arena, dir, &v[0], &v[1]);
		r = db_exec(req, "art_under", 2, v, err);
	} else {
		r = db_exec(req, "art_all", 0, NULL, err);
	}
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *rest = PQgetvalue(r, i, 0) + skip;
		const char *slash = strchr(rest, '/');
		json_t *f;

		if (slash) {
			const char *name = mt_arena_strndup(req->arena, rest, (size_t)(slash - rest));

			if (strcmp(name, last_dir) == 0)
				continue;
			last_dir = name;
			f = json_pack("{s:s,s:b}", "path",
				      mt_arena_printf(req->arena, "%s%s", name_prefix, name), "is_dir", 1);
		} else {
			f = json_pack("{s:s,s:b,s:I}", "path",
				      mt_arena_printf(req->arena, "%s%s", name_prefix, rest), "is_dir", 0,
				      "file_size", (json_int_t)atoll(PQgetvalue(r, i, 1)));
		}
		json_array_append_new(list, f);
	}
	return 0;
}

int sql_art_lock_blob(struct mt_req *req, const char *sha256, int exclusive, struct mt_err *err)
{
	return db_exec(req, exclusive ? "art_lock" : "art_lock_shared", 1, &sha256, err) ? 0 : -1;
}

int sql_art_gc_page(struct mt_req *req, const char *after, int limit, struct sql_blob **out,
		    int *n, struct mt_err *err)
{
	const char *v[2] = { after, mt_arena_printf(req->arena, "%d", limit) };
	PGresult *r = db_exec(req, "art_gc_page", 2, v, err);

	if (!r)
		return -1;
	*n = PQntuples(r);
	*out = mt_arena_alloc(req->arena, sizeof(**out) * (size_t)(*n + 1));
	for (int i = 0; i < *n; i++) {
		(*out)[i].sha256 = PQgetvalue(r, i, 0);
		(*out)[i].size = atoll(PQgetvalue(r, i, 1));
	}
	return 0;
}

int sql_art_gc_delete(struct mt_req *req, const char *sha256, int *deleted, long long *size,
		      struct mt_err *err)
{
	PGresult *r = db_exec(req, "art_gc_delete", 1, &sha256, err);

	if (!r)
		return -1;
	*deleted = PQntuples(r) > 0;
	*size = *deleted ? atoll(PQgetvalue(r, 0, 0)) : 0;
	return 0;
}

int sql_art_blobs_known(struct mt_req *req, const char *const *sha256, size_t n,
			unsigned char *known, struct mt_err *err)
{
	const char *arr = db_array_text(req->arena, sha256, n);
	PGresult *r = db_exec(req, "art_blobs_known", 1, &arr, err);

	if (!r)
		return -1;
	memset(known, 0, n);
	for (int i = 0; i < PQntuples(r); i++)
		for (size_t k = 0; k < n; k++)
			if (strcmp(PQgetvalue(r, i, 0), sha256[k]) == 0)
				known[k] = 1;
	return 0;
}

int sql_art_blob_count(struct mt_req *req, long long *out, struct mt_err *err)
{
	PGresult *r = db_exec(req, "art_blob_count", 0, NULL, err);

	if (!r)
		return -1;
	*out = atoll(PQgetvalue(r, 0, 0));
	return 0;
}
