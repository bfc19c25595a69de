/*
 * sql_logged_models.c: all SQL about MLflow 3's logged models: the models,
 * their params, tags and metrics, and logged-models/search.
 *
 * A LoggedModel answer is built as MLflow's server builds it
 * (mlflow/entities/logged_model.py to_proto): info with the model's
 * attributes and tags, data with its params and every metric point logged
 * for it; unset fields and empty lists are left out, data is always there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mt_filter.h"
#include "sql_authz.h"
#include "sql_experiments.h"
#include "sql_logged_models.h"
#include "sql_runs.h"

#define LM_COLS "m.model_id, m.experiment_id, m.name, m.artifact_location, " \
		"m.creation_timestamp_ms, m.last_updated_timestamp_ms, m.status, m.model_type, " \
		"m.source_run_id"

#define NOT_FOUND "Logged model with ID '%s' not found."

static const struct db_stmt stmts[] = {
	{ "lm_insert",
	  "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, "
	  "creation_timestamp_ms, last_updated_timestamp_ms, model_type, source_run_id) "
	  "VALUES ($1, $2::bigint, $3, $4, $5::bigint, $5::bigint, $6, $7)" },
	{ "lm_get",
	  "SELECT " LM_COLS " FROM logged_models m WHERE m.model_id = $1 "
	  "AND ($2::bool OR m.lifecycle_stage = 'active')" },
	{ "lm_lock", "SELECT experiment_id FROM logged_models WHERE model_id = $1 FOR KEY SHARE" },
	{ "lm_lock_x",
	  "SELECT experiment_id FROM logged_models WHERE model_id = $1 FOR NO KEY UPDATE" },
	{ "lm_known", "SELECT model_id FROM logged_models WHERE model_id = ANY($1::text[])" },
	{ "lm_finalize",
	  "UPDATE logged_models SET status = $2::smallint, last_updated_timestamp_ms = $3::bigint "
	  "WHERE model_id = $1" },
	{ "lm_delete",
	  "UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_timestamp_ms = $2::bigint "
	  "WHERE model_id = $1" },
	{ "lm_params_of",
	  "SELECT model_id, key, value FROM logged_model_params WHERE model_id = ANY($1::text[]) "
	  "ORDER BY model_id, key" },
	{ "lm_tags_of",
	  "SELECT model_id, key, value FROM logged_model_tags WHERE model_id = ANY($1::text[]) "
	  "ORDER BY model_id, key" },
	{ "lm_metrics_of",
	  "SELECT model_id, key, value, timestamp, step, dataset_name, dataset_digest, run_id "
	  "FROM logged_model_metrics WHERE model_id = ANY($1::text[]) "
	  "ORDER BY model_id, key, step, timestamp, run_id" },
	{ "lm_tags_set",
	  "INSERT INTO logged_model_tags (model_id, key, value) "
	  "SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v) ORDER BY k "
	  "ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value" },
	{ "lm_tag_get", "SELECT value FROM logged_model_tags WHERE model_id = $1 AND key = $2" },
	{ "lm_tag_delete", "DELETE FROM logged_model_tags WHERE model_id = $1 AND key = $2" },
	/* Like runs' params: new keys go in, a key logged before with another
	 * value comes back (and the caller refuses the request). */
	{ "lm_params_log",
	  "WITH t AS (SELECT * FROM unnest($2::text[], $3::text[]) AS t(k, v)), "
	  "ins AS (INSERT INTO logged_model_params (model_id, key, value) "
	  "        SELECT $1, k, v FROM t ORDER BY k ON CONFLICT (model_id, key) DO NOTHING) "
	  "SELECT t.k, p.value, t.v FROM t JOIN logged_model_params p "
	  "ON p.model_id = $1 AND p.key = t.k WHERE p.value <> t.v" },
};

const struct db_stmt_table sql_logged_models_table = { stmts, sizeof(stmts) / sizeof(stmts[0]), 0 };

static const char *const status_names[] = {
	"LOGGED_MODEL_STATUS_UNSPECIFIED", "LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY",
	"LOGGED_MODEL_UPLOAD_FAILED",
};

/* The Python client's names (LoggedModelStatus), as a filter compares them. */
static const char *const status_short[] = { "UNSPECIFIED", "PENDING", "READY", "FAILED" };

const char *sql_lm_status_name(int status)
{
	return status >= 0 && status <= 3 ? status_names[status] : status_names[0];
}

int sql_lm_status_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, status_names[i]) == 0 || strcasecmp(s, status_short[i]) == 0)
			return i;
	if (s[0] >= '0' && s[0] <= '3' && s[1] == '\0')
		return s[0] - '0';
	return -1;
}

static json_t *kv_json(const char *k, const char *v)
{
	return json_pack("{s:s,s:s}", "key", k, "value", v);
}

static json_t *list_in(json_t *obj, const char *key)
{
	json_t *l = json_object_get(obj, key);

	if (!l) {
		l = json_array();
		json_object_set_new(obj, key, l);
	}
	return l;
}

static json_t *info_row(PGresult *r, int i)
{
	json_t *info = json_object();

	json_object_set_new(info, "model_id", json_string(PQgetvalue(r, i, 0)));
	json_object_set_new(info, "experiment_id", json_string(PQgetvalue(r, i, 1)));
	json_object_set_new(info, "name", json_string(PQgetvalue(r, i, 2)));
	json_object_set_new(info, "creation_timestamp_ms", json_integer(atoll(PQgetvalue(r, i, 4))));
	json_object_set_new(info, "last_updated_timestamp_ms",
			    json_integer(atoll(PQgetvalue(r, i, 5))));
	json_object_set_new(info, "artifact_uri", json_string(PQgetvalue(r, i, 3)));
	json_object_set_new(info, "status",
			    json_string(sql_lm_status_name(atoi(PQgetvalue(r, i, 6)))));
	if (!PQgetisnull(r, i, 7))
		json_object_set_new(info, "model_type", json_string(PQgetvalue(r, i, 7)));
	if (!PQgetisnull(r, i, 8))
		json_object_set_new(info, "source_run_id", json_string(PQgetvalue(r, i, 8)));
	return info;
}

/* LoggedModel objects for the rows of `rows` (LM_COLS), in order, into
 * list, then their tags, params and metrics with one query each. */
static int fill(struct mt_req *req, PGresult *rows, int n, json_t *list, struct mt_err *err)
{
	const char **ids;
	const char *arr;
	json_t *byid;
	PGresult *r;

	if (n == 0)
		return 0;
	ids = mt_arena_alloc(req->arena, sizeof(*ids) * (size_t)n);
	byid = req_own(req, json_object());
	for (int i = 0; i < n; i++) {
		json_t *m = json_object();

		ids[i] = PQgetvalue(rows, i, 0);
		json_object_set_new(m, "info", info_row(rows, i));
		json_object_set_new(m, "data", json_object());
		json_object_set(byid, ids[i], m);
		json_array_append_new(list, m);
	}
	arr = db_array_text(req->arena, ids, (size_t)n);
	if (!(r = db_exec(req, "lm_tags_of", 1, &arr, err)))
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *info = json_object_get(json_object_get(byid, PQgetvalue(r, i, 0)), "info");

		json_array_append_new(list_in(info, "tags"),
				      kv_json(PQgetvalue(r, i, 1), PQgetvalue(r, i, 2)));
	}
	if (!(r = db_exec(req, "lm_params_of", 1, &arr, err)))
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *data = json_object_get(json_object_get(byid, PQgetvalue(r, i, 0)), "data");

		json_array_append_new(list_in(data, "params"),
				      kv_json(PQgetvalue(r, i, 1), PQgetvalue(r, i, 2)));
	}
	if (!(r = db_exec(req, "lm_metrics_of", 1, &arr, err)))
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *mid = PQgetvalue(r, i, 0);
		json_t *data = json_object_get(json_object_get(byid, mid), "data");
		json_t *m = sql_metric_json(PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
					    PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));

		sql_metric_extras(m, db_value_or_null(r, i, 5), db_value_or_null(r, i, 6), mid);
		json_object_set_new(m, "run_id", json_string(PQgetvalue(r, i, 7)));
		json_array_append_new(list_in(data, "metrics"), m);
	}
	return 0;
}

int sql_lm_insert(struct mt_req *req, const struct lm_new *m, struct mt_err *err)
{
	const char *v[7] = { m->model_id, m->experiment_id, m->name, m->artifact_location,
			     mt_arena_printf(req->arena, "%lld", m->now), m->model_type,
			     m->source_run_id };

	if (!db_exec(req, "lm_insert", 7, v, err))
		return -1;
	if (m->nparams && sql_lm_log_params(req, m->model_id, m->param_keys, m->param_values,
					    m->nparams, err))
		return -1;
	return sql_lm_set_tags(req, m->model_id, m->tag_keys, m->tag_values, m->ntags, err);
}

int sql_lm_get(struct mt_req *req, const char *model_id, int allow_deleted, json_t **out,
	       struct mt_err *err)
{
	const char *v[2] = { model_id, allow_deleted ? "true" : "false" };
	PGresult *r = db_exec(req, "lm_get", 2, v, err);
	json_t *list;

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return mt_err_set(err, MT_ENOTFOUND, NOT_FOUND, model_id);
	list = req_own(req, json_array());
	if (fill(req, r, 1, list, err))
		return -1;
	*out = json_array_get(list, 0);
	return 0;
}

int sql_lm_lock(struct mt_req *req, const char *model_id, int exclusive,
		const char **experiment_id, struct mt_err *err)
{
	PGresult *r = db_exec(req, exclusive ? "lm_lock_x" : "lm_lock", 1, &model_id, err);

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return mt_err_set(err, MT_ENOTFOUND, NOT_FOUND, model_id);
	if (experiment_id)
		*experiment_id = PQgetvalue(r, 0, 0);
	return 0;
}

int sql_lm_check_ids(struct mt_req *req, const char *const *ids, size_t n, struct mt_err *err)
{
	const char *arr;
	PGresult *r;

	if (n == 0)
		return 0;
	arr = db_array_text(req->arena, ids, n);
	if (!(r = db_exec(req, "lm_known", 1, &arr, err)))
		return -1;
	for (size_t i = 0; i < n; i++) {
		int found = 0;

		for (int k = 0; k < PQntuples(r) && !found; k++)
			found = strcmp(PQgetvalue(r, k, 0), ids[i]) == 0;
		if (!found)
			return mt_err_set(err, MT_ENOTFOUND, NOT_FOUND, ids[i]);
	}
	return 0;
}

/* An UPDATE of one model by id: ENOTFOUND when it touched nothing. */
static int update_one(struct mt_req *req, const char *stmt, int n, const char *const *v,
		      struct mt_err *err)
{
	PGresult *r = db_exec(req, stmt, n, v, err);

	if (!r)
		return -1;
	if (strcmp(PQcmdTuples(r), "0") == 0)
		return mt_err_set(err, MT_ENOTFOUND, NOT_FOUND, v[0]);
	return 0;
}

int sql_lm_finalize(struct mt_req *req, const char *model_id, int status, long long now,
		    struct mt_err *err)
{
	const char *v[3] = { model_id, mt_arena_printf(req->arena, "%d", status),
			     mt_arena_printf(req->arena, "%lld", now) };

	return update_one(req, "lm_finalize", 3, v, err);
}

int sql_lm_delete(struct mt_req *req, const char *model_id, long long now, struct mt_err *err)
{
	const char *v[2] = { model_id, mt_arena_printf(req->arena, "%lld", now) };

	return update_one(req, "lm_delete", 2, v, err);
}

int sql_lm_set_tags(struct mt_req *req, const char *model_id, const char **keys,
		    const char **values, size_t n, struct mt_err *err)
{
	const char *v[3];

	if (n == 0)
		return 0;
	v[0] = model_id;
	v[1] = db_array_text(req->arena, keys, n);
	v[2] = db_array_text(req->arena, values, n);
	return db_exec(req, "lm_tags_set", 3, v, err) ? 0 : -1;
}

int sql_lm_tag(struct mt_req *req, const char *model_id, const char *key, const char **out,
	       struct mt_err *err)
{
	const char *v[2] = { model_id, key };
	PGresult *r = db_exec(req, "lm_tag_get", 2, v, err);

	if (!r)
		return -1;
	*out = PQntuples(r) ? PQgetvalue(r, 0, 0) : NULL;
	return 0;
}

int sql_lm_delete_tag(struct mt_req *req, const char *model_id, const char *key,
		      struct mt_err *err)
{
	const char *v[2] = { model_id, key };
	PGresult *r = db_exec(req, "lm_tag_delete", 2, v, err);

	if (!r)
		return -1;
	if (strcmp(PQcmdTuples(r), "0") == 0)
		return mt_err_set(err, MT_ENOTFOUND,
				  "No tag with key '%s' found for model with ID '%s'.", key, model_id);
	return 0;
}

int sql_lm_log_params(struct mt_req *req, const char *model_id, const char **keys,
		      const char **values, size_t n, struct mt_err *err)
{
	const char *v[3];
	PGresult *r;

	if (n == 0)
		return 0;
	v[0] = model_id;
	v[1] = db_array_text(req->arena, keys, n);
	v[2] = db_array_text(req->arena, values, n);
	if (!(r = db_exec(req, "lm_params_log", 3, v, err)))
		return -1;
	if (PQntuples(r))
		return mt_err_set(err, MT_EINVAL,
				  "Changing param values is not allowed. Param with key='%s' was "
				  "already logged with value='%s' for logged model ID '%s'. Attempted "
				  "logging new value '%s'.", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
				  model_id, PQgetvalue(r, 0, 2));
	return 0;
}

/* ---- logged-models/search ---- */

/* The column of an attribute the filter grammar canonicalised (or an order
 * field, which may also be experiment_id or artifact_location). */
static const char *attr_col(const char *key)
{
	static const struct { const char *key, *col; } cols[] = {
		{ "name", "m.name" }, { "model_id", "m.model_id" }, { "model_type", "m.model_type" },
		{ "status", "m.status" }, { "source_run_id", "m.source_run_id" },
		{ "creation_timestamp", "m.creation_timestamp_ms" },
		{ "last_updated_timestamp", "m.last_updated_timestamp_ms" },
		{ "experiment_id", "m.experiment_id" }, { "artifact_location", "m.artifact_location" },
	};

	for (size_t i = 0; i < sizeof(cols) / sizeof(*cols); i++)
		if (strcmp(cols[i].key, key) == 0)
			return cols[i].col;
	return NULL;
}

/* status compares as its short name for LIKE (the Python client's
 * LoggedModelStatus values), as its number otherwise. */
#define STATUS_TEXT "(CASE m.status WHEN 1 THEN 'PENDING' WHEN 2 THEN 'READY' " \
		    "WHEN 3 THEN 'FAILED' ELSE 'UNSPECIFIED' END)"

static int bad_status(const char *v, struct mt_err *err)
{
	return mt_err_set(err, MT_EINVAL,
			  "Invalid status '%.100s' in filter: expected one of READY, PENDING, "
			  "FAILED, UNSPECIFIED (or LOGGED_MODEL_READY, ...)", v);
}

static int status_clause(struct sqlb *b, const struct mt_filter_clause *c, struct mt_err *err)
{
	if (c->op == MT_OP_LIKE || c->op == MT_OP_ILIKE) {
		sqlb_add(b, " AND " STATUS_TEXT " %s $%d", sqlb_op(c->op), sqlb_param(b, c->str));
	} else if (c->op == MT_OP_IN || c->op == MT_OP_NOT_IN) {
		char *nums = mt_arena_strdup(b->a, "{");

		for (size_t i = 0; i < c->nlist; i++) {
			int s = sql_lm_status_parse(c->list[i]);

			if (s < 0)
				return bad_status(c->list[i], err);
			nums = mt_arena_printf(b->a, "%s%s%d", nums, i ? "," : "", s);
		}
		sqlb_add(b, " AND %sm.status = ANY($%d::smallint[])", c->op == MT_OP_NOT_IN ? "NOT " : "",
			 sqlb_param(b, mt_arena_printf(b->a, "%s}", nums)));
	} else {
		int s = sql_lm_status_parse(c->str);

		if (s < 0)
			return bad_status(c->str, err);
		sqlb_add(b, " AND m.status %s $%d::smallint", sqlb_op(c->op),
			 sqlb_param(b, mt_arena_printf(b->a, "%d", s)));
	}
	return 0;
}

/* "(x.dataset_name = $a [AND x.dataset_digest = $b] OR ...)" for the
 * request's datasets, on table alias x. */
static const char *datasets_sql(struct sqlb *b, const struct lm_search *s, const char *x)
{
	const char *out = "(";

	for (size_t i = 0; i < s->ndatasets; i++) {
		const struct lm_dataset *d = &s->datasets[i];

		out = mt_arena_printf(b->a, "%s%s(%s.dataset_name = $%d", out, i ? " OR " : "", x,
				      sqlb_param(b, d->name));
		if (d->digest)
			out = mt_arena_printf(b->a, "%s AND %s.dataset_digest = $%d", out, x,
					      sqlb_param(b, d->digest));
		out = mt_arena_printf(b->a, "%s)", out);
	}
	return mt_arena_printf(b->a, "%s)", out);
}

/* EXISTS clauses the planner may turn into joins.  It searches the join
 * orders of all of them at once: 50 took 3 s to plan (and 66 ms with
 * join_collapse_limit = 1); past this many, each is fenced (OFFSET 0 keeps
 * an EXISTS a subplan: one primary-key probe per model and clause, the
 * clauses of a model evaluated until one fails), planned in 1 ms. */
#define SEARCH_FREE_EXISTS 8

static int where_clause(struct sqlb *b, const struct lm_search *s,
			const struct mt_filter_clause *c, const char *fence, struct mt_err *err)
{
	if (c->kind == MT_FK_METRIC) {
		int k = sqlb_param(b, c->key);

		sqlb_add(b, " AND EXISTS (SELECT 1 FROM logged_model_metrics x WHERE x.model_id = "
			 "m.model_id AND x.key = $%d AND x.value %s %s", k, sqlb_op(c->op),
			 sqlb_num(b, c));
		if (s->ndatasets)
			sqlb_add(b, " AND %s", datasets_sql(b, s, "x"));
		sqlb_add(b, "%s)", fence);
	} else if (c->kind == MT_FK_PARAM || c->kind == MT_FK_TAG) {
		int k = sqlb_param(b, c->key);
		int v = sqlb_param(b, c->str);

		sqlb_add(b, " AND EXISTS (SELECT 1 FROM %s x WHERE x.model_id = m.model_id "
			 "AND x.key = $%d AND x.value %s $%d%s)",
			 c->kind == MT_FK_PARAM ? "logged_model_params" : "logged_model_tags", k,
			 sqlb_op(c->op), v, fence);
	} else if (strcmp(c->key, "status") == 0) {
		return status_clause(b, c, err);
	} else {
		const char *col = attr_col(c->key);

		if (!col)
			return mt_err_set(err, MT_EINVAL, "Invalid logged model search key '%s'", c->key);
		if (c->op == MT_OP_IN || c->op == MT_OP_NOT_IN)
			sqlb_add(b, " AND %s%s = ANY($%d::text[])", c->op == MT_OP_NOT_IN ? "NOT " : "",
				 col, sqlb_param(b, db_array_text(b->a, (const char *const *)c->list,
								  c->nlist)));
		else if (c->is_num)
			sqlb_add(b, " AND %s %s %s", col, sqlb_op(c->op), sqlb_num(b, c));
		else
			sqlb_add(b, " AND %s %s $%d", col, sqlb_op(c->op), sqlb_param(b, c->str));
	}
	return 0;
}

/*
 * Models of the experiments, active, matching every clause (each metric,
 * param or tag clause an EXISTS on its table: a model without the key
 * never matches), in the requested order: attributes with missing values
 * last; a metric by its latest point per model (by timestamp, then step,
 * on the order's dataset when it names one), models without it last in
 * both directions; then newest first unless creation time was ordered
 * on, then model_id.  Offset paging, as MLflow pages.
 */
int sql_lm_search(struct mt_req *req, const struct lm_search *search, json_t *list, int *more,
		  struct mt_err *err)
{
	struct lm_search readable = *search;
	const struct lm_search *s = &readable;
	struct sqlb b, ord;
	const char *from = "";
	int has_metric_filter = 0, created = 0, n;
	size_t nexists = 0;
	PGresult *r;

	/* Only the experiments the caller may read (sql_authz.h). */
	if (sqlz_readable_experiments(req, readable.exp_ids, &readable.nexp, err))
		return -1;
	if (readable.nexp == 0)
		return 0;
	sqlb_init(&b, req->arena);
	sqlb_init(&ord, req->arena);
	for (size_t i = 0; i < s->norder; i++) {
		const struct lm_order *o = &s->order[i];
		const char *dir = o->asc ? "ASC" : "DESC";

		if (!o->metric) {
			const char *col = attr_col(o->field);

			if (strcmp(o->field, "creation_timestamp") == 0)
				created = 1;
			sqlb_add(&ord, "(%s IS NULL), %s %s, ", col, col, dir);
			continue;
		}
		from = mt_arena_printf(req->arena,
				       "%s LEFT JOIN LATERAL (SELECT x.value FROM logged_model_metrics x "
				       "WHERE x.model_id = m.model_id AND x.key = $%d", from,
				       sqlb_param(&b, o->field));
		if (o->ds_name)
			from = mt_arena_printf(req->arena, "%s AND x.dataset_name = $%d", from,
					       sqlb_param(&b, o->ds_name));
		if (o->ds_digest)
			from = mt_arena_printf(req->arena, "%s AND x.dataset_digest = $%d", from,
					       sqlb_param(&b, o->ds_digest));
		from = mt_arena_printf(req->arena, "%s ORDER BY x.timestamp DESC, x.step DESC "
				       "LIMIT 1) o%zu ON true", from, i);
		sqlb_add(&ord, "(o%zu.value IS NULL), o%zu.value %s, ", i, i, dir);
	}
	/* One experiment as "=": an ANY() condition keeps PostgreSQL 15 from
	 * reading the experiment index in order (a sort of every model). */
	if (s->nexp == 1)
		b.sql = mt_arena_printf(req->arena, "SELECT " LM_COLS " FROM logged_models m%s "
					"WHERE m.experiment_id = $%d::bigint", from,
					sqlb_param(&b, s->exp_ids[0]));
	else
		b.sql = mt_arena_printf(req->arena, "SELECT " LM_COLS " FROM logged_models m%s "
					"WHERE m.experiment_id = ANY($%d::bigint[])", from,
					sqlb_param(&b, db_array_text(req->arena, s->exp_ids, s->nexp)));
	sqlb_add(&b, " AND m.lifecycle_stage = 'active'");
	for (size_t i = 0; s->filter && i < s->filter->n; i++)
		nexists += s->filter->clauses[i].kind != MT_FK_ATTR;
	for (size_t i = 0; s->filter && i < s->filter->n; i++) {
		has_metric_filter |= s->filter->clauses[i].kind == MT_FK_METRIC;
		if (where_clause(&b, s, &s->filter->clauses[i],
				 nexists > SEARCH_FREE_EXISTS ? " OFFSET 0" : "", err))
			return -1;
	}
	/* Datasets without a metric clause: models with any point on them. */
	if (s->ndatasets && !has_metric_filter)
		sqlb_add(&b, " AND EXISTS (SELECT 1 FROM logged_model_metrics x WHERE x.model_id = "
			 "m.model_id AND %s)", datasets_sql(&b, s, "x"));
	sqlb_add(&b, " ORDER BY %s%sm.model_id", ord.sql,
		 created ? "" : "m.creation_timestamp_ms DESC, ");
	if (!(r = sqlb_exec_page(&b, req, s->limit, s->offset, &n, more, err)))
		return -1;
	return fill(req, r, n, list, err);
}
