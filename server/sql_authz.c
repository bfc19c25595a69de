/* sql_authz.c: the SQL of authorization and permission rows (see sql_authz.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authcache.h"
#include "authz.h"
#include "sql_authz.h"
#include "sql_experiments.h" /* struct sqlb */

/* The user's row on the resource a request names; a run or a logged model
 * joined to its experiment, a version to its model.  $2 is the user. */
static const struct db_stmt stmts[] = {
	{ "authz_exp",
	  "SELECT permission FROM experiment_permissions "
	  "WHERE experiment_id = $1::bigint AND user_id = $2::bigint" },
	{ "authz_exp_name",
	  "SELECT e.experiment_id, p.permission FROM experiments e "
	  "LEFT JOIN experiment_permissions p ON p.experiment_id = e.experiment_id "
	  "AND p.user_id = $2::bigint WHERE e.name = $1" },
	{ "authz_run",
	  "SELECT r.experiment_id, p.permission FROM runs r "
	  "LEFT JOIN experiment_permissions p ON p.experiment_id = r.experiment_id "
	  "AND p.user_id = $2::bigint WHERE r.run_id = $1" },
	{ "authz_runs",
	  "SELECT r.experiment_id, p.permission FROM runs r "
	  "LEFT JOIN experiment_permissions p ON p.experiment_id = r.experiment_id "
	  "AND p.user_id = $2::bigint WHERE r.run_id = ANY($1::text[])" },
	{ "authz_lm",
	  "SELECT m.experiment_id, p.permission FROM logged_models m "
	  "LEFT JOIN experiment_permissions p ON p.experiment_id = m.experiment_id "
	  "AND p.user_id = $2::bigint WHERE m.model_id = $1" },
	{ "authz_lms",
	  "SELECT m.experiment_id, p.permission FROM logged_models m "
	  "LEFT JOIN experiment_permissions p ON p.experiment_id = m.experiment_id "
	  "AND p.user_id = $2::bigint WHERE m.model_id = ANY($1::text[])" },
	{ "authz_model",
	  "SELECT p.permission, v.current_stage FROM registered_models m "
	  "LEFT JOIN registered_model_permissions p ON p.model_id = m.id AND p.user_id = $2::bigint "
	  "LEFT JOIN model_versions v ON v.model_id = m.id AND v.version = $3::int "
	  "WHERE m.name = $1" },
	/* The listed experiments the user may read, in their order: when the
	 * default reads, all but those with a NO_PERMISSIONS row; else those
	 * with a row that reads.  $3: the scope's experiments, NULL: any. */
	{ "authz_readable_exps_default",
	  "SELECT x::text FROM unnest($1::bigint[]) WITH ORDINALITY AS u(x, i) "
	  "WHERE x NOT IN (SELECT experiment_id FROM experiment_permissions "
	  "WHERE user_id = $2::bigint AND permission = 'NO_PERMISSIONS') "
	  "AND ($3::bigint[] IS NULL OR x = ANY($3::bigint[])) ORDER BY i" },
	{ "authz_readable_exps_rows",
	  "SELECT x::text FROM unnest($1::bigint[]) WITH ORDINALITY AS u(x, i) "
	  "WHERE x IN (SELECT experiment_id FROM experiment_permissions "
	  "WHERE user_id = $2::bigint AND permission <> 'NO_PERMISSIONS') "
	  "AND ($3::bigint[] IS NULL OR x = ANY($3::bigint[])) ORDER BY i" },
	{ "authz_grant_exp",
	  "INSERT INTO experiment_permissions (experiment_id, user_id, permission) "
	  "VALUES ($1::bigint, $2::bigint, $3) ON CONFLICT (experiment_id, user_id) "
	  "DO UPDATE SET permission = excluded.permission" },
	{ "authz_grant_model",
	  "INSERT INTO registered_model_permissions (model_id, user_id, permission) "
	  "SELECT m.id, $2::bigint, $3 FROM registered_models m WHERE m.name = $1 "
	  "ON CONFLICT (model_id, user_id) DO UPDATE SET permission = excluded.permission" },
	{ "authz_exp_exists",
	  "SELECT EXISTS (SELECT 1 FROM experiments WHERE experiment_id = $1::bigint)" },
	{ "authz_model_id", "SELECT id FROM registered_models WHERE name = $1" },
	{ "authz_model_perm",
	  "SELECT permission FROM registered_model_permissions "
	  "WHERE model_id = $1::bigint AND user_id = $2::bigint" },
	{ "authz_exp_perm_insert",
	  "INSERT INTO experiment_permissions (experiment_id, user_id, permission) "
	  "VALUES ($1::bigint, $2::bigint, $3)" },
	{ "authz_exp_perm_update",
	  "UPDATE experiment_permissions SET permission = $3 "
	  "WHERE experiment_id = $1::bigint AND user_id = $2::bigint RETURNING 1" },
	{ "authz_exp_perm_delete",
	  "DELETE FROM experiment_permissions "
	  "WHERE experiment_id = $1::bigint AND user_id = $2::bigint RETURNING 1" },
	{ "authz_model_perm_insert",
	  "INSERT INTO registered_model_permissions (model_id, user_id, permission) "
	  "VALUES ($1::bigint, $2::bigint, $3)" },
	{ "authz_model_perm_update",
	  "UPDATE registered_model_permissions SET permission = $3 "
	  "WHERE model_id = $1::bigint AND user_id = $2::bigint RETURNING 1" },
	{ "authz_model_perm_delete",
	  "DELETE FROM registered_model_permissions "
	  "WHERE model_id = $1::bigint AND user_id = $2::bigint RETURNING 1" },
	{ "authz_user_exp_perms",
	  "SELECT experiment_id::text, permission FROM experiment_permissions "
	  "WHERE user_id = $1::bigint ORDER BY experiment_id" },
	{ "authz_user_model_perms",
	  "SELECT m.name, p.permission FROM registered_model_permissions p "
	  "JOIN registered_models m ON m.id = p.model_id WHERE p.user_id = $1::bigint "
	  "ORDER BY m.name" },
};

const struct db_stmt_table sql_authz_table = { stmts, sizeof(stmts) / sizeof(stmts[0]), 0 };

/* A statement that writes permission rows: the auth cache is dropped
 * after the handler (authcache.h). */
static PGresult *changed(struct mt_req *req, const char *stmt, int n, const char *const *v,
			 struct mt_err *err)
{
	req->auth_changed = 1;
	return db_exec(req, stmt, n, v, err);
}

static const char *i64s(struct mt_req *req, long long v)
{
	return mt_arena_printf(req->arena, "%lld", v);
}

static const char *str(struct mt_req *req, PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL
					  : mt_arena_strdup(req->arena, PQgetvalue(res, row, col));
}

/* ---- a request's resource ---- */

/* The permission rows of experiments and the experiments of runs are
 * cached (authcache.h): a request on a run costs no round trip once its
 * run and its user's row on the experiment were looked up. */
int sqlz_experiment(struct mt_req *req, const char *id, long long user_id, struct sqlz_perm *out,
		    struct mt_err *err)
{
	const char *v[2] = { id, i64s(req, user_id) };
	long long exp = strtoll(id, NULL, 10);
	unsigned long long gen = authcache_gen();
	PGresult *res;

	memset(out, 0, sizeof(*out));
	out->found = 1;
	out->experiment_id = exp;
	if (authcache_perm_get(user_id, exp, req->arena, &out->permission))
		return 0;
	if (!(res = db_exec(req, "authz_exp", 2, v, err)))
		return -1;
	out->permission = PQntuples(res) ? str(req, res, 0, 0) : NULL;
	authcache_perm_put(gen, user_id, exp, out->permission);
	return 0;
}

/* A query answering (experiment_id, permission) rows: the first row. */
static int exp_row(struct mt_req *req, const char *stmt, const char *key, long long user_id,
		   struct sqlz_perm *out, struct mt_err *err)
{
	const char *v[2] = { key, i64s(req, user_id) };
	PGresult *res = db_exec(req, stmt, 2, v, err);

	memset(out, 0, sizeof(*out));
	if (!res)
		return -1;
	if (PQntuples(res) == 0)
		return 0;
	out->found = 1;
	out->experiment_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->permission = str(req, res, 0, 1);
	return 0;
}

int sqlz_experiment_name(struct mt_req *req, const char *name, long long user_id,
			 struct sqlz_perm *out, struct mt_err *err)
{
	return exp_row(req, "authz_exp_name", name, user_id, out, err);
}

int sqlz_run(struct mt_req *req, const char *run_id, long long user_id, struct sqlz_perm *out,
	     struct mt_err *err)
{
	unsigned long long gen = authcache_gen();
	long long exp;

	if (authcache_run_get(run_id, &exp))
		return sqlz_experiment(req, i64s(req, exp), user_id, out, err);
	if (exp_row(req, "authz_run", run_id, user_id, out, err))
		return -1;
	if (out->found) {
		authcache_run_put(run_id, out->experiment_id);
		authcache_perm_put(gen, user_id, out->experiment_id, out->permission);
	}
	return 0;
}

int sqlz_logged_model(struct mt_req *req, const char *model_id, long long user_id,
		      struct sqlz_perm *out, struct mt_err *err)
{
	return exp_row(req, "authz_lm", model_id, user_id, out, err);
}

/* A query answering (experiment_id, permission) rows: all of them. */
static int exp_rows(struct mt_req *req, const char *stmt, const char *const *keys, size_t n,
		    long long user_id, struct sqlz_perm **out, size_t *nout, struct mt_err *err)
{
	const char *v[2] = { db_array_text(req->arena, keys, n), i64s(req, user_id) };
	PGresult *res = db_exec(req, stmt, 2, v, err);

	*out = NULL;
	*nout = 0;
	if (!res)
		return -1;
	*nout = (size_t)PQntuples(res);
	*out = mt_arena_alloc(req->arena, sizeof(**out) * (*nout ? *nout : 1));
	for (size_t i = 0; i < *nout; i++) {
		(*out)[i].found = 1;
		(*out)[i].experiment_id = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
		(*out)[i].permission = str(req, res, (int)i, 1);
		(*out)[i].stage = NULL;
	}
	return 0;
}

int sqlz_runs(struct mt_req *req, const char *const *run_ids, size_t n, long long user_id,
	      struct sqlz_perm **out, size_t *nout, struct mt_err *err)
{
	return exp_rows(req, "authz_runs", run_ids, n, user_id, out, nout, err);
}

int sqlz_logged_models(struct mt_req *req, const char *const *model_ids, size_t n,
		       long long user_id, struct sqlz_perm **out, size_t *nout, struct mt_err *err)
{
	return exp_rows(req, "authz_lms", model_ids, n, user_id, out, nout, err);
}

int sqlz_model(struct mt_req *req, const char *name, const char *version, long long user_id,
	       struct sqlz_perm *out, struct mt_err *err)
{
	const char *v[3] = { name, i64s(req, user_id), version };
	PGresult *res = db_exec(req, "authz_model", 3, v, err);

	memset(out, 0, sizeof(*out));
	if (!res)
		return -1;
	if (PQntuples(res) == 0)
		return 0;
	out->found = 1;
	out->permission = str(req, res, 0, 0);
	out->stage = str(req, res, 0, 1);
	return 0;
}

/* ---- searches ---- */

/* The scope's experiment ids or model names as an array literal, or NULL
 * when the scope reads everything. */
static const char *scope_exps(struct mt_req *req, const struct mt_scope *s)
{
	long long *ids = mt_arena_alloc(req->arena, sizeof(*ids) * (s->n + 1));
	size_t n = 0;

	if (mt_scope_reads_all(s))
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (s->grants[i].kind == MT_GRANT_EXPERIMENT)
			ids[n++] = s->grants[i].experiment_id;
	return db_array_i64(req->arena, ids, n);
}

static const char *scope_models(struct mt_req *req, const struct mt_scope *s)
{
	const char **names = mt_arena_alloc(req->arena, sizeof(*names) * (s->n + 1));
	size_t n = 0;

	if (mt_scope_reads_all(s))
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (s->grants[i].kind == MT_GRANT_MODEL)
			names[n++] = s->grants[i].model;
	return db_array_text(req->arena, names, n);
}

/* The owner's part: rows of `table` keyed by `key` for the user, against
 * the default (an admin reads everything). */
static void owner_filter(struct sqlb *b, struct mt_req *req, const char *col, const char *table,
			 const char *key)
{
	int u;

	if (req->who.is_admin)
		return;
	u = sqlb_param(b, i64s(req, req->who.user_id));
	if (authz_default_reads())
		sqlb_add(b, " AND %s NOT IN (SELECT %s FROM %s WHERE user_id = $%d::bigint "
			 "AND permission = 'NO_PERMISSIONS')", col, key, table, u);
	else
		sqlb_add(b, " AND %s IN (SELECT %s FROM %s WHERE user_id = $%d::bigint "
			 "AND permission <> 'NO_PERMISSIONS')", col, key, table, u);
}

void sqlz_exp_filter(struct sqlb *b, struct mt_req *req, const char *col)
{
	const struct mt_scope *s;
	const char *ids;

	if (!authz_filters(req))
		return;
	owner_filter(b, req, col, "experiment_permissions", "experiment_id");
	s = authz_scope(req);
	if (s && (ids = scope_exps(req, s)))
		sqlb_add(b, " AND %s = ANY($%d::bigint[])", col, sqlb_param(b, ids));
}

void sqlz_model_filter(struct sqlb *b, struct mt_req *req, const char *idcol,
		       const char *namecol)
{
	const struct mt_scope *s;
	const char *names;

	if (!authz_filters(req))
		return;
	owner_filter(b, req, idcol, "registered_model_permissions", "model_id");
	s = authz_scope(req);
	if (s && (names = scope_models(req, s)))
		sqlb_add(b, " AND %s = ANY($%d::text[])", namecol, sqlb_param(b, names));
}

int sqlz_readable_experiments(struct mt_req *req, const char **ids, size_t *n,
			      struct mt_err *err)
{
	const struct mt_scope *s;
	const char *v[3];
	PGresult *res;
	int admin = req->who.is_admin;

	if (!authz_filters(req) || *n == 0)
		return 0;
	s = authz_scope(req);
	v[0] = db_array_text(req->arena, ids, *n);
	v[1] = i64s(req, admin ? 0 : req->who.user_id); /* user 0 has no rows */
	v[2] = s ? scope_exps(req, s) : NULL;
	res = db_exec(req, admin || authz_default_reads() ? "authz_readable_exps_default"
							   : "authz_readable_exps_rows", 3, v, err);
	if (!res)
		return -1;
	*n = (size_t)PQntuples(res);
	for (size_t i = 0; i < *n; i++)
		ids[i] = mt_arena_strdup(req->arena, PQgetvalue(res, (int)i, 0));
	return 0;
}

/* ---- rows ---- */

int sqlz_grant_experiment(struct mt_req *req, const char *experiment_id, long long user_id,
			  const char *permission, struct mt_err *err)
{
	const char *v[3] = { experiment_id, i64s(req, user_id), permission };

	return changed(req, "authz_grant_exp", 3, v, err) ? 0 : -1;
}

int sqlz_grant_model(struct mt_req *req, const char *name, long long user_id,
		     const char *permission, struct mt_err *err)
{
	const char *v[3] = { name, i64s(req, user_id), permission };

	return changed(req, "authz_grant_model", 3, v, err) ? 0 : -1;
}

int sqlz_experiment_exists(struct mt_req *req, const char *id, int *found, struct mt_err *err)
{
	const char *v[1] = { id };
	PGresult *res = db_exec(req, "authz_exp_exists", 1, v, err);

	*found = 0;
	if (!res)
		return -1;
	*found = *PQgetvalue(res, 0, 0) == 't';
	return 0;
}

int sqlz_model_id(struct mt_req *req, const char *name, long long *id, int *found,
		  struct mt_err *err)
{
	const char *v[1] = { name };
	PGresult *res = db_exec(req, "authz_model_id", 1, v, err);

	*found = 0;
	if (!res)
		return -1;
	if (PQntuples(res) == 1) {
		*found = 1;
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	}
	return 0;
}

static int perm_get(struct mt_req *req, const char *stmt, const char *key, long long user_id,
		    const char **permission, struct mt_err *err)
{
	const char *v[2] = { key, i64s(req, user_id) };
	PGresult *res = db_exec(req, stmt, 2, v, err);

	*permission = NULL;
	if (!res)
		return -1;
	if (PQntuples(res) == 1)
		*permission = str(req, res, 0, 0);
	return 0;
}

int sqlz_exp_perm_get(struct mt_req *req, const char *experiment_id, long long user_id,
		      const char **permission, struct mt_err *err)
{
	return perm_get(req, "authz_exp", experiment_id, user_id, permission, err);
}

int sqlz_model_perm_get(struct mt_req *req, long long model_id, long long user_id,
			const char **permission, struct mt_err *err)
{
	return perm_get(req, "authz_model_perm", i64s(req, model_id), user_id, permission, err);
}

/* insert (found NULL), update or delete a row; *found whether one was there */
static int perm_write(struct mt_req *req, const char *stmt, const char *key, long long user_id,
		      const char *permission, int *found, struct mt_err *err)
{
	const char *v[3] = { key, i64s(req, user_id), permission };
	PGresult *res = changed(req, stmt, permission ? 3 : 2, v, err);

	if (!res)
		return -1;
	if (found)
		*found = PQntuples(res) > 0;
	return 0;
}

int sqlz_exp_perm_insert(struct mt_req *req, const char *experiment_id, long long user_id,
			 const char *permission, struct mt_err *err)
{
	return perm_write(req, "authz_exp_perm_insert", experiment_id, user_id, permission, NULL,
			  err);
}

int sqlz_exp_perm_update(struct mt_req *req, const char *experiment_id, long long user_id,
			 const char *permission, int *found, struct mt_err *err)
{
	return perm_write(req, "authz_exp_perm_update", experiment_id, user_id, permission, found,
			  err);
}

int sqlz_exp_perm_delete(struct mt_req *req, const char *experiment_id, long long user_id,
			 int *found, struct mt_err *err)
{
	return perm_write(req, "authz_exp_perm_delete", experiment_id, user_id, NULL, found, err);
}

int sqlz_model_perm_insert(struct mt_req *req, long long model_id, long long user_id,
			   const char *permission, struct mt_err *err)
{
	return perm_write(req, "authz_model_perm_insert", i64s(req, model_id), user_id,
			  permission, NULL, err);
}

int sqlz_model_perm_update(struct mt_req *req, long long model_id, long long user_id,
			   const char *permission, int *found, struct mt_err *err)
{
	return perm_write(req, "authz_model_perm_update", i64s(req, model_id), user_id,
			  permission, found, err);
}

int sqlz_model_perm_delete(struct mt_req *req, long long model_id, long long user_id,
			   int *found, struct mt_err *err)
{
	return perm_write(req, "authz_model_perm_delete", i64s(req, model_id), user_id, NULL,
			  found, err);
}

int sqlz_user_perms(struct mt_req *req, long long user_id, json_t *experiments, json_t *models,
		    struct mt_err *err)
{
	const char *v[1] = { i64s(req, user_id) };
	PGresult *e = db_exec(req, "authz_user_exp_perms", 1, v, err);
	PGresult *m = e ? db_exec(req, "authz_user_model_perms", 1, v, err) : NULL;

	if (!m)
		return -1;
	for (int i = 0; i < PQntuples(e); i++)
		json_array_append_new(experiments,
				      json_pack("{s:s, s:I, s:s}", "experiment_id",
						PQgetvalue(e, i, 0), "user_id", (json_int_t)user_id,
						"permission", PQgetvalue(e, i, 1)));
	for (int i = 0; i < PQntuples(m); i++)
		json_array_append_new(models,
				      json_pack("{s:s, s:I, s:s}", "name", PQgetvalue(m, i, 0),
						"user_id", (json_int_t)user_id, "permission",
						PQgetvalue(m, i, 1)));
	return 0;
}
