/* sql_experiments.c: all SQL about experiments and their tags. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_filter.h"
#include "sql_authz.h"
#include "sql_experiments.h"

#define EXP_COLS "experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time"

static const struct db_stmt stmts[] = {
	{ "exp_insert",
	  "WITH id AS (SELECT nextval(pg_get_serial_sequence('experiments', 'experiment_id')) AS v) "
	  "INSERT INTO experiments (experiment_id, name, artifact_location, creation_time, last_update_time) "
	  "SELECT v, $1, COALESCE(NULLIF($2, ''), 'mlflow-artifacts:/' || v), $3, $3 FROM id "
	  "RETURNING experiment_id" },
	{ "exp_tag_set",
	  "INSERT INTO experiment_tags (experiment_id, key, value) VALUES ($1, $2, $3) "
	  "ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value" },
	{ "exp_get", "SELECT " EXP_COLS " FROM experiments WHERE experiment_id = $1" },
	{ "exp_get_by_name", "SELECT " EXP_COLS " FROM experiments WHERE name = $1" },
	{ "exp_tags", "SELECT key, value FROM experiment_tags WHERE experiment_id = $1 ORDER BY key" },
	{ "exp_tags_many",
	  "SELECT experiment_id, key, value FROM experiment_tags "
	  "WHERE experiment_id = ANY($1::bigint[]) ORDER BY experiment_id, key" },
	{ "exp_stage", "SELECT lifecycle_stage, artifact_location FROM experiments WHERE experiment_id = $1" },
	{ "exp_rename",
	  "UPDATE experiments SET name = $2, last_update_time = $3 WHERE experiment_id = $1" },
	{ "exp_set_stage",
	  "UPDATE experiments SET lifecycle_stage = $2, last_update_time = $3 WHERE experiment_id = $1" },
	{ "exp_runs_delete",
	  "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = $2 "
	  "WHERE experiment_id = $1 AND lifecycle_stage = 'active'" },
	{ "exp_runs_restore",
	  "UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL "
	  "WHERE experiment_id = $1 AND lifecycle_stage = 'deleted'" },
	/* ---- permanent deletion (mltrackd gc --purge-deleted-experiments) ---- */
	{ "exp_purge_candidates",
	  "SELECT experiment_id FROM experiments WHERE lifecycle_stage = 'deleted' "
	  "AND last_update_time <= $1::bigint ORDER BY experiment_id" },
	/* Still deleted and old enough, and held: a restore waits, then finds
	 * nothing to restore. */
	{ "exp_purge_lock",
	  "SELECT 1 FROM experiments WHERE experiment_id = $1 AND lifecycle_stage = 'deleted' "
	  "AND last_update_time <= $2::bigint FOR UPDATE" },
	/* The runs' delete trigger leaves this experiment's points alone
	 * (migration 0013): its partition is dropped whole afterwards. */
	{ "exp_purge_mark", "SELECT set_config('mltrack.purge_experiment', $1, true)" },
	{ "exp_purge_artifacts",
	  "DELETE FROM artifacts WHERE run_id IN (SELECT run_id FROM runs WHERE experiment_id = $1)" },
	{ "exp_purge_runs", "DELETE FROM runs WHERE experiment_id = $1" },
	{ "exp_purge_models", "DELETE FROM logged_models WHERE experiment_id = $1" },
	{ "exp_purge_row", "DELETE FROM experiments WHERE experiment_id = $1" },
	/* Tables metrics_e<ID> whose experiment no longer exists: 0 detached,
	 * 1 attached, 2 detached half-way (DETACH ... CONCURRENTLY interrupted). */
	{ "exp_orphan_partitions",
	  "SELECT c.relname, CASE WHEN i.inhrelid IS NULL THEN 0 "
	  "WHEN i.inhdetachpending THEN 2 ELSE 1 END "
	  "FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid "
	  "AND i.inhparent = 'metrics'::regclass "
	  "WHERE c.relkind = 'r' AND c.relname ~ '^metrics_e[0-9]+$' "
	  "AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = 'metrics'::regclass) "
	  "AND NOT EXISTS (SELECT 1 FROM experiments e "
	  "                WHERE e.experiment_id = substr(c.relname, 10)::bigint) "
	  "ORDER BY substr(c.relname, 10)::bigint" },
};

const struct db_stmt_table sql_experiments_table = { stmts, sizeof(stmts) / sizeof(stmts[0]), 0 };

/* ---- the small SQL builder used by the search functions ---- */
void sqlb_init(struct sqlb *b, struct mt_arena *a)
{
	b->a = a;
	b->sql = mt_arena_strdup(a, "");
	b->n = 0;
	b->cap = 16;
	b->params = mt_arena_alloc(a, sizeof(*b->params) * (size_t)b->cap);
}

void sqlb_add(struct sqlb *b, const char *fmt, ...)
{
	va_list ap;
	char *piece;

	va_start(ap, fmt);
	piece = mt_arena_vprintf(b->a, fmt, ap);
	va_end(ap);
	b->sql = mt_arena_printf(b->a, "%s%s", b->sql, piece);
}

int sqlb_param(struct sqlb *b, const char *value)
{
	if (b->n == b->cap) {
		const char **np = mt_arena_alloc(b->a, sizeof(*np) * (size_t)b->cap * 2);

		memcpy(np, b->params, sizeof(*np) * (size_t)b->n);
		b->params = np;
		b->cap *= 2;
	}
	b->params[b->n++] = value;
	return b->n;
}

const char *sqlb_num(struct sqlb *b, const struct mt_filter_clause *c)
{
	if (c->is_int)
		return mt_arena_printf(b->a, "$%d::bigint",
				       sqlb_param(b, mt_arena_printf(b->a, "%lld", c->inum)));
	return mt_arena_printf(b->a, "$%d::float8",
			       sqlb_param(b, mt_arena_printf(b->a, "%.17g", c->num)));
}

PGresult *sqlb_exec_page(struct sqlb *b, struct mt_req *req, long long limit, long long offset,
			 int *n, int *more, struct mt_err *err)
{
	int l = sqlb_param(b, mt_arena_printf(req->arena, "%lld", limit + 1));
	int o = sqlb_param(b, mt_arena_printf(req->arena, "%lld", offset));
	PGresult *r;

	sqlb_add(b, " LIMIT $%d::bigint OFFSET $%d::bigint", l, o);
	r = db_exec_sql(req, b->sql, b->n, b->params, err);
	if (!r)
		return NULL;
	*n = PQntuples(r);
	*more = *n > limit;
	if (*more)
		*n = (int)limit;
	return r;
}

const char *sqlb_op(int op)
{
	switch (op) {
	case MT_OP_EQ: return "=";
	case MT_OP_NE: return "<>";
	case MT_OP_GT: return ">";
	case MT_OP_GE: return ">=";
	case MT_OP_LT: return "<";
	case MT_OP_LE: return "<=";
	case MT_OP_LIKE: return "LIKE";
	case MT_OP_ILIKE: return "ILIKE";
	default: return "=";
	}
}

/* ---- typed functions ---- */
int sql_exp_create(struct mt_req *req, const char *name, const char *artifact_location,
		   long long now, const char **out_id, struct mt_err *err)
{
	const char *now_s = mt_arena_printf(req->arena, "%lld", now);
	const char *v[3] = { name, artifact_location ? artifact_location : "", now_s };
	PGresult *r = db_exec(req, "exp_insert", 3, v, err);

	if (!r) {
		if (err->code == MT_EEXISTS)
			mt_err_set(err, MT_EEXISTS, "Experiment(name=%s) already exists. Error: "
				   "experiment names must be unique", name);
		return -1;
	}
	*out_id = PQgetvalue(r, 0, 0);
	return 0;
}

int sql_exp_set_tag(struct mt_req *req, const char *id, const char *key, const char *value,
		    struct mt_err *err)
{
	const char *v[3] = { id, key, value ? value : "" };

	return db_exec(req, "exp_tag_set", 3, v, err) ? 0 : -1;
}

static json_t *tag_json(const char *k, const char *v)
{
	return json_pack("{s:s,s:s}", "key", k, "value", v);
}

static json_t *exp_row(PGresult *r, int i)
{
	json_t *e = json_object();

	json_object_set_new(e, "experiment_id", json_string(PQgetvalue(r, i, 0)));
	json_object_set_new(e, "name", json_string(PQgetvalue(r, i, 1)));
	json_object_set_new(e, "artifact_location", json_string(PQgetvalue(r, i, 2)));
	json_object_set_new(e, "lifecycle_stage", json_string(PQgetvalue(r, i, 3)));
	json_object_set_new(e, "last_update_time", json_integer(atoll(PQgetvalue(r, i, 5))));
	json_object_set_new(e, "creation_time", json_integer(atoll(PQgetvalue(r, i, 4))));
	return e;
}

static int get_one(struct mt_req *req, const char *stmt, const char *arg, json_t **out,
		   struct mt_err *err)
{
	PGresult *r = db_exec(req, stmt, 1, &arg, err), *t;
	const char *id;
	json_t *e, *tags;

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return mt_err_set(err, MT_ENOTFOUND, "%s", "");
	e = req_own(req, exp_row(r, 0));
	id = PQgetvalue(r, 0, 0);
	t = db_exec(req, "exp_tags", 1, &id, err);
	if (!t)
		return -1;
	if (PQntuples(t)) {
		tags = json_array();
		for (int i = 0; i < PQntuples(t); i++)
			json_array_append_new(tags, tag_json(PQgetvalue(t, i, 0), PQgetvalue(t, i, 1)));
		json_object_set_new(e, "tags", tags);
	}
	*out = e;
	return 0;
}

int sql_exp_get(struct mt_req *req, const char *id, json_t **out, struct mt_err *err)
{
	if (get_one(req, "exp_get", id, out, err)) {
		if (err->code == MT_ENOTFOUND)
			mt_err_set(err, MT_ENOTFOUND, "No Experiment with id=%s exists", id);
		return -1;
	}
	return 0;
}

int sql_exp_get_by_name(struct mt_req *req, const char *name, json_t **out, struct mt_err *err)
{
	if (get_one(req, "exp_get_by_name", name, out, err)) {
		if (err->code == MT_ENOTFOUND)
			mt_err_set(err, MT_ENOTFOUND, "Could not find experiment with name '%s'", name);
		return -1;
	}
	return 0;
}

static int stage_row(struct mt_req *req, const char *id, PGresult **out, struct mt_err *err)
{
	PGresult *r = db_exec(req, "exp_stage", 1, &id, err);

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return mt_err_set(err, MT_ENOTFOUND, "No Experiment with id=%s exists", id);
	*out = r;
	return 0;
}

int sql_exp_stage(struct mt_req *req, const char *id, const char **out, struct mt_err *err)
{
	PGresult *r;

	if (stage_row(req, id, &r, err))
		return -1;
	*out = PQgetvalue(r, 0, 0);
	return 0;
}

int sql_exp_artifact_location(struct mt_req *req, const char *id, const char **out,
			      struct mt_err *err)
{
	PGresult *r;

	if (stage_row(req, id, &r, err))
		return -1;
	*out = PQgetvalue(r, 0, 1);
	return 0;
}

int sql_exp_rename(struct mt_req *req, const char *id, const char *name, long long now,
		   struct mt_err *err)
{
	const char *v[3] = { id, name, mt_arena_printf(req->arena, "%lld", now) };

	if (!db_exec(req, "exp_rename", 3, v, err)) {
		if (err->code == MT_EEXISTS)
			mt_err_set(err, MT_EEXISTS, "Experiment(name=%s) already exists.", name);
		return -1;
	}
	return 0;
}

int sql_exp_set_stage(struct mt_req *req, const char *id, const char *to, long long now,
		      struct mt_err *err)
{
	const char *now_s = mt_arena_printf(req->arena, "%lld", now);
	const char *v[3] = { id, to, now_s };
	const char *rv[2] = { id, now_s };

	if (!db_exec(req, "exp_set_stage", 3, v, err))
		return -1;
	if (strcmp(to, "deleted") == 0)
		return db_exec(req, "exp_runs_delete", 2, rv, err) ? 0 : -1;
	return db_exec(req, "exp_runs_restore", 1, rv, err) ? 0 : -1;
}

int sql_exp_search(struct mt_req *req, const struct mt_filter *f,
		   const struct mt_order_list *o, int view, long long limit,
		   long long offset, json_t *list, int *more, struct mt_err *err)
{
	struct sqlb b;
	PGresult *r, *t;
	int has_creation = 0, n;
	const char **ids;
	json_t *byid;

	sqlb_init(&b, req->arena);
	sqlb_add(&b, "SELECT " EXP_COLS " FROM experiments e WHERE ");
	if (view == 1)
		sqlb_add(&b, "lifecycle_stage = 'active'");
	else if (view == 2)
		sqlb_add(&b, "lifecycle_stage = 'deleted'");
	else
		sqlb_add(&b, "TRUE");
	sqlz_exp_filter(&b, req, "e.experiment_id"); /* only what the caller may read */
	for (size_t i = 0; i < f->n; i++) {
		const struct mt_filter_clause *c = &f->clauses[i];

		if (c->kind == MT_FK_TAG) {
			int k = sqlb_param(&b, c->key);
			int v = sqlb_param(&b, c->str);

			sqlb_add(&b, " AND EXISTS (SELECT 1 FROM experiment_tags t WHERE "
				 "t.experiment_id = e.experiment_id AND t.key = $%d AND t.value %s $%d)",
				 k, sqlb_op(c->op), v);
		} else if (strcmp(c->key, "name") == 0) {
			int v = sqlb_param(&b, c->str);

			sqlb_add(&b, " AND e.name %s $%d", sqlb_op(c->op), v);
		} else {
			sqlb_add(&b, " AND e.%s %s %s",
				 strcmp(c->key, "creation_time") == 0 ? "creation_time" : "last_update_time",
				 sqlb_op(c->op), sqlb_num(&b, c));
		}
	}
	sqlb_add(&b, " ORDER BY ");
	for (size_t i = 0; o && i < o->n; i++) {
		const char *col = o->items[i].key;

		if (strcmp(col, "creation_time") == 0)
			has_creation = 1;
		if (strcmp(col, "name") && strcmp(col, "experiment_id") &&
		    strcmp(col, "creation_time") && strcmp(col, "last_update_time"))
			return mt_err_set(err, MT_EINVAL, "Invalid order_by key '%s'", col);
		sqlb_add(&b, "e.%s %s, ", col, o->items[i].asc ? "ASC" : "DESC");
	}
	if (!o || o->n == 0)
		sqlb_add(&b, "e.creation_time DESC, e.experiment_id ASC");
	else if (!has_creation)
		sqlb_add(&b, "e.experiment_id DESC");
	else
		sqlb_add(&b, "e.experiment_id ASC");
	if (!(r = sqlb_exec_page(&b, req, limit, offset, &n, more, err)))
		return -1;
	if (n == 0)
		return 0;
	ids = mt_arena_alloc(req->arena, sizeof(*ids) * (size_t)n);
	byid = req_own(req, json_object());
	for (int i = 0; i < n; i++) {
		json_t *e = exp_row(r, i);

		ids[i] = PQgetvalue(r, i, 0);
		json_array_append_new(list, e);
		json_object_set(byid, ids[i], e);
	}
	{
		const char *arr = db_array_text(req->arena, ids, (size_t)n);

		t = db_exec(req, "exp_tags_many", 1, &arr, err);
	}
	if (!t)
		return -1;
	for (int i = 0; i < PQntuples(t); i++) {
		json_t *e = json_object_get(byid, PQgetvalue(t, i, 0));
		json_t *tags = json_object_get(e, "tags");

		if (!tags) {
			tags = json_array();
			json_object_set_new(e, "tags", tags);
		}
		json_array_append_new(tags, tag_json(PQgetvalue(t, i, 1), PQgetvalue(t, i, 2)));
	}
	return 0;
}

/* ---- permanent deletion (mltrackd gc --purge-deleted-experiments) ---- */

int sql_exp_purge_candidates(struct mt_req *req, long long cutoff, const char ***ids, size_t *n,
			     struct mt_err *err)
{
	const char *v = mt_arena_printf(req->arena, "%lld", cutoff);
	PGresult *r = db_exec(req, "exp_purge_candidates", 1, &v, err);

	if (!r)
		return -1;
	*n = (size_t)PQntuples(r);
	*ids = mt_arena_alloc(req->arena, sizeof(char *) * (*n + 1));
	for (size_t i = 0; i < *n; i++)
		(*ids)[i] = PQgetvalue(r, (int)i, 0);
	return 0;
}

int sql_exp_purge(struct mt_req *req, const char *id, long long cutoff, int *purged,
		  struct mt_err *err)
{
	const char *v[2] = { id, mt_arena_printf(req->arena, "%lld", cutoff) };
	PGresult *r;

	*purged = 0;
	if (!(r = db_exec(req, "exp_purge_lock", 2, v, err)))
		return -1;
	if (PQntuples(r) == 0)
		return 0; /* restored or purged meanwhile */
	if (!db_exec(req, "exp_purge_mark", 1, v, err) ||
	    !db_exec(req, "exp_purge_artifacts", 1, v, err) ||
	    !db_exec(req, "exp_purge_runs", 1, v, err) ||
	    !db_exec(req, "exp_purge_models", 1, v, err) ||
	    !db_exec(req, "exp_purge_row", 1, v, err))
		return -1;
	*purged = 1;
	return 0;
}

int sql_exp_orphan_partitions(struct mt_req *req, const char ***names, int **state, size_t *n,
			      struct mt_err *err)
{
	PGresult *r = db_exec(req, "exp_orphan_partitions", 0, NULL, err);

	if (!r)
		return -1;
	*n = (size_t)PQntuples(r);
	*names = mt_arena_alloc(req->arena, sizeof(char *) * (*n + 1));
	*state = mt_arena_alloc(req->arena, sizeof(int) * (*n + 1));
	for (size_t i = 0; i < *n; i++) {
		(*names)[i] = PQgetvalue(r, (int)i, 0);
		(*state)[i] = atoi(PQgetvalue(r, (int)i, 1));
	}
	return 0;
}

/*
 * Detach without blocking: DETACH PARTITION ... CONCURRENTLY takes only
 * SHARE UPDATE EXCLUSIVE on metrics (plain DETACH, and DROP TABLE of an
 * attached partition, take ACCESS EXCLUSIVE: every write and read of points
 * would queue behind it).  It cannot run in a transaction block, and waits
 * for transactions that may still see the partition; interrupted, it leaves
 * the partition "detach pending", which FINALIZE completes.  The table is
 * then dropped on its own.  name is a pg_class name matched by
 * ^metrics_e[0-9]+$ (exp_orphan_partitions), quoted all the same.
 */
int sql_exp_drop_partition(struct mt_req *req, const char *name, int state, struct mt_err *err)
{
	if (state == 1 &&
	    db_command(req->w, mt_arena_printf(req->arena, "ALTER TABLE metrics DETACH PARTITION "
					       "\"%s\" CONCURRENTLY", name), err))
		return -1;
	if (state == 2 &&
	    db_command(req->w, mt_arena_printf(req->arena, "ALTER TABLE metrics DETACH PARTITION "
					       "\"%s\" FINALIZE", name), err))
		return -1;
	return db_command(req->w, mt_arena_printf(req->arena, "DROP TABLE \"%s\"", name), err);
}
