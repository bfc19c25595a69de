/* sql_artifacts.c: all SQL about artifacts and blobs. */
#include <stdlib.h>
#include <string.h>

#include "mt_util.h"
#include "sql_artifacts.h"

static const struct db_stmt stmts[] = {
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
};

const struct db_stmt_table sql_artifacts_table = { stmts, sizeof(stmts) / sizeof(stmts[0]) };

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
