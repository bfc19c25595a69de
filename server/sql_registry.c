/* sql_registry.c: all SQL of the model registry (see sql_registry.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mt_filter.h"
#include "mt_json.h"
#include "sql_artifacts.h"
#include "sql_experiments.h" /* struct sqlb */
#include "sql_authz.h"
#include "sql_registry.h"

/* A version with its tags and aliases as JSON arrays built by PostgreSQL
 * (NULL when there are none).  Columns: see ver_row(). */
#define VER_SELECT                                                                              \
	"SELECT m.name, v.version, v.creation_time, v.last_updated_time, v.user_id, "           \
	"v.current_stage, v.description, v.source, v.run_id, v.status, v.status_message, "      \
	"v.run_link, "                                                                          \
	"(SELECT json_agg(json_build_object('key', t.key, 'value', t.value) ORDER BY t.key) "    \
	" FROM model_version_tags t WHERE t.model_id = v.model_id AND t.version = v.version), " \
	"(SELECT json_agg(a.alias ORDER BY a.alias) FROM model_aliases a "                      \
	" WHERE a.model_id = v.model_id AND a.version = v.version), "                           \
	"v.model_id, v.logged_model_id "                                                        \
	"FROM model_versions v JOIN registered_models m ON m.id = v.model_id "

#define VISIBLE "v.current_stage <> 'Deleted_Internal'"

/* A model with its tags and aliases.  Columns: see model_row(). */
#define MODEL_SELECT                                                                            \
	"SELECT m.id, m.name, m.creation_time, m.last_updated_time, m.description, "            \
	"(SELECT json_agg(json_build_object('key', t.key, 'value', t.value) ORDER BY t.key) "    \
	" FROM registered_model_tags t WHERE t.model_id = m.id), "                              \
	"(SELECT json_agg(json_build_object('alias', a.alias, 'version', a.version::text) "     \
	" ORDER BY a.alias) FROM model_aliases a WHERE a.model_id = m.id) "                     \
	"FROM registered_models m "

static const struct db_stmt stmts[] = {
	{ "reg_model_insert",
	  "INSERT INTO registered_models (name, creation_time, last_updated_time, description) "
	  "VALUES ($1, $2, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING id" },
	{ "reg_model_find", "SELECT id FROM registered_models WHERE name = $1" },
	{ "reg_model_find_lock", "SELECT id FROM registered_models WHERE name = $1 FOR UPDATE" },
	{ "reg_model_get", MODEL_SELECT "WHERE m.id = $1" },
	{ "reg_model_rename",
	  "UPDATE registered_models SET name = $2, last_updated_time = $3 WHERE id = $1" },
	{ "reg_model_versions_touch",
	  "UPDATE model_versions SET last_updated_time = $2 WHERE model_id = $1" },
	{ "reg_model_update",
	  "UPDATE registered_models SET description = $2, last_updated_time = $3 WHERE id = $1" },
	{ "reg_model_touch", "UPDATE registered_models SET last_updated_time = $2 WHERE id = $1" },
	{ "reg_model_delete", "DELETE FROM registered_models WHERE id = $1" },
	/* Bundles (sql_reg_bundles_release): the digests a model's or a
	 * version's rows name, and the bundle's artifact row, removed only
	 * when no live version names the digest any more. */
	{ "reg_model_bundles",
	  "SELECT DISTINCT bundle_sha256 FROM model_versions "
	  "WHERE model_id = $1 AND bundle_sha256 IS NOT NULL ORDER BY 1" },
	{ "reg_ver_bundle",
	  "SELECT bundle_sha256 FROM model_versions "
	  "WHERE model_id = $1 AND version = $2 AND bundle_sha256 IS NOT NULL" },
	{ "reg_bundle_release",
	  "DELETE FROM artifacts WHERE path = '" STORE_BUNDLE_DIR "/' || $1 || '.tar' "
	  "AND sha256 = $1 AND NOT EXISTS (SELECT 1 FROM model_versions v "
	  "WHERE v.bundle_sha256 = $1 AND " VISIBLE ")" },
	{ "reg_model_tag_set",
	  "INSERT INTO registered_model_tags (model_id, key, value) VALUES ($1, $2, $3) "
	  "ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value" },
	{ "reg_model_tag_delete",
	  "DELETE FROM registered_model_tags WHERE model_id = $1 AND key = $2" },
	/* The newest visible version per stage asked for, of each model. */
	{ "reg_latest",
	  VER_SELECT "WHERE v.model_id = ANY($1::bigint[]) AND v.current_stage = ANY($2::text[]) "
	  "AND v.version = (SELECT max(x.version) FROM model_versions x "
	  "WHERE x.model_id = v.model_id AND x.current_stage = v.current_stage) "
	  "ORDER BY v.model_id, v.version" },
	{ "reg_alias_set",
	  "INSERT INTO model_aliases (model_id, alias, version) VALUES ($1, $2, $3) "
	  "ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version" },
	{ "reg_alias_delete", "DELETE FROM model_aliases WHERE model_id = $1 AND alias = $2" },
	{ "reg_alias_get", "SELECT version FROM model_aliases WHERE model_id = $1 AND alias = $2" },
	/* Run after the model row is locked, so max() sees every committed
	 * version (this statement's snapshot is taken after the lock). */
	{ "reg_ver_insert",
	  "INSERT INTO model_versions (model_id, version, creation_time, last_updated_time, "
	  "description, source, storage_location, run_id, run_link, logged_model_id) "
	  "SELECT $1::bigint, COALESCE(max(version), 0) + 1, $2, $2, $3, $4, $5, $6, $7, $8 "
	  "FROM model_versions WHERE model_id = $1::bigint RETURNING version" },
	{ "reg_ver_tag_set",
	  "INSERT INTO model_version_tags (model_id, version, key, value) VALUES ($1, $2, $3, $4) "
	  "ON CONFLICT (model_id, version, key) DO UPDATE SET value = excluded.value" },
	{ "reg_ver_tag_delete",
	  "DELETE FROM model_version_tags WHERE model_id = $1 AND version = $2 AND key = $3" },
	{ "reg_ver_stage",
	  "SELECT current_stage FROM model_versions v WHERE model_id = $1 AND version = $2 AND "
	  VISIBLE },
	{ "reg_ver_get", VER_SELECT "WHERE v.model_id = $1 AND v.version = $2 AND " VISIBLE },
	{ "reg_ver_update",
	  "UPDATE model_versions v SET description = $3, last_updated_time = $4 "
	  "WHERE model_id = $1 AND version = $2 AND " VISIBLE },
	{ "reg_ver_redact",
	  "UPDATE model_versions v SET current_stage = 'Deleted_Internal', last_updated_time = $3, "
	  "description = NULL, user_id = NULL, source = 'REDACTED-SOURCE-PATH', "
	  "storage_location = NULL, run_id = 'REDACTED-RUN-ID', run_link = 'REDACTED-RUN-LINK', "
	  "status_message = NULL, logged_model_id = NULL "
	  "WHERE model_id = $1 AND version = $2 AND " VISIBLE },
	{ "reg_ver_aliases_drop",
	  "DELETE FROM model_aliases WHERE model_id = $1 AND version = $2 RETURNING alias" },
	{ "reg_ver_archive_others",
	  "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = $3 "
	  "WHERE model_id = $1 AND version <> $2 AND current_stage = $4" },
	{ "reg_ver_set_stage",
	  "UPDATE model_versions v SET current_stage = $3, last_updated_time = $4 "
	  "WHERE model_id = $1 AND version = $2 AND " VISIBLE },
	{ "reg_ver_uri",
	  "SELECT COALESCE(storage_location, source) FROM model_versions v "
	  "WHERE model_id = $1 AND version = $2 AND " VISIBLE },
	{ "reg_audit",
	  "INSERT INTO stage_transitions (at, model_id, model_name, version, from_stage, to_stage, "
	  "actor, outcome, report, reason, kind, alias, from_version, rules_before, rules_after) "
	  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14::jsonb, "
	  "$15::jsonb)" },
};

const struct db_stmt_table sql_registry_table = { stmts, sizeof(stmts) / sizeof(stmts[0]), 0 };

static const char *const all_stages = "{None,Staging,Production,Archived}";

static const char *i64s(struct mt_req *req, long long v)
{
	return mt_arena_printf(req->arena, "%lld", v);
}

/* A json_agg column: the parsed array, or NULL for SQL NULL. */
static json_t *json_col(PGresult *r, int i, int col)
{
	if (PQgetisnull(r, i, col))
		return NULL;
	return json_loads(PQgetvalue(r, i, col), 0, NULL);
}

/* ModelVersion in MLflow's field order; unset fields are left out. */
static json_t *ver_row(PGresult *r, int i)
{
	json_t *v = json_object(), *tags = json_col(r, i, 12), *aliases = json_col(r, i, 13);
	const char *status_message = db_value_or_null(r, i, 10);

	mt_json_set_str(v, "name", PQgetvalue(r, i, 0));
	mt_json_set_str(v, "version", PQgetvalue(r, i, 1));
	mt_json_set_i64(v, "creation_timestamp", atoll(PQgetvalue(r, i, 2)));
	mt_json_set_i64(v, "last_updated_timestamp", atoll(PQgetvalue(r, i, 3)));
	mt_json_set_str(v, "user_id", db_value_or_null(r, i, 4));
	mt_json_set_str(v, "current_stage", PQgetvalue(r, i, 5));
	mt_json_set_str(v, "description", db_value_or_null(r, i, 6));
	mt_json_set_str(v, "source", PQgetvalue(r, i, 7));
	mt_json_set_str(v, "run_id", db_value_or_null(r, i, 8));
	mt_json_set_str(v, "status", PQgetvalue(r, i, 9));
	if (status_message && *status_message)
		mt_json_set_str(v, "status_message", status_message);
	if (tags)
		json_object_set_new(v, "tags", tags);
	mt_json_set_str(v, "run_link", db_value_or_null(r, i, 11));
	if (aliases)
		json_object_set_new(v, "aliases", aliases);
	/* MLflow 3: the logged model the version was made from. */
	mt_json_set_str(v, "model_id", db_value_or_null(r, i, 15));
	return v;
}

/* RegisteredModel without latest_versions (added by attach_latest). */
static json_t *model_row(PGresult *r, int i)
{
	json_t *m = json_object(), *tags = json_col(r, i, 5), *aliases = json_col(r, i, 6);
	const char *desc = db_value_or_null(r, i, 4);

	mt_json_set_str(m, "name", PQgetvalue(r, i, 1));
	mt_json_set_i64(m, "creation_timestamp", atoll(PQgetvalue(r, i, 2)));
	mt_json_set_i64(m, "last_updated_timestamp", atoll(PQgetvalue(r, i, 3)));
	if (desc && *desc)
		mt_json_set_str(m, "description", desc);
	if (tags)
		json_object_set_new(m, "tags", tags);
	if (aliases)
		json_object_set_new(m, "aliases", aliases);
	return m;
}

/* Give each model of byid (model id -> RegisteredModel) its latest
 * versions: ids[0..n) are the keys. */
static int attach_latest(struct mt_req *req, const char **ids, size_t n, json_t *byid,
			 struct mt_err *err)
{
	const char *v[2] = { db_array_text(req->arena, ids, n), all_stages };
	PGresult *r = db_exec(req, "reg_latest", 2, v, err);

	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *m = json_object_get(byid, PQgetvalue(r, i, 14));
		json_t *lv;

		if (!m)
			continue;
		lv = json_object_get(m, "latest_versions");
		if (!lv) {
			lv = json_array();
			/* latest_versions comes before tags and aliases in
			 * MLflow's field order: rebuild the tail. */
			json_t *tags = json_incref(json_object_get(m, "tags"));
			json_t *aliases = json_incref(json_object_get(m, "aliases"));

			json_object_del(m, "tags");
			json_object_del(m, "aliases");
			json_object_set_new(m, "latest_versions", lv);
			if (tags)
				json_object_set_new(m, "tags", tags);
			if (aliases)
				json_object_set_new(m, "aliases", aliases);
		}
		json_array_append_new(lv, ver_row(r, i));
	}
	return 0;
}

/* ---- registered models ---- */

int sql_reg_model_create(struct mt_req *req, const char *name, const char *description,
			 long long now, const char **out_id, struct mt_err *err)
{
	const char *v[3] = { name, i64s(req, now), description };
	PGresult *r = db_exec(req, "reg_model_insert", 3, v, err);

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return mt_err_set(err, MT_EEXISTS, "Registered Model (name=%s) already exists.", name);
	*out_id = PQgetvalue(r, 0, 0);
	return 0;
}

int sql_reg_model_find(struct mt_req *req, const char *name, int lock, const char **out_id,
		       struct mt_err *err)
{
	PGresult *r = db_exec(req, lock ? "reg_model_find_lock" : "reg_model_find", 1, &name, err);

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return mt_err_set(err, MT_ENOTFOUND, "Registered Model with name=%s not found", name);
	*out_id = PQgetvalue(r, 0, 0);
	return 0;
}

int sql_reg_model_get(struct mt_req *req, const char *id, json_t **out, struct mt_err *err)
{
	PGresult *r = db_exec(req, "reg_model_get", 1, &id, err);
	json_t *m, *byid;

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return mt_err_set(err, MT_ENOTFOUND, "Registered Model with id=%s not found", id);
	m = req_own(req, model_row(r, 0));
	byid = req_own(req, json_object());
	json_object_set(byid, id, m);
	if (attach_latest(req, &id, 1, byid, err))
		return -1;
	*out = m;
	return 0;
}

int sql_reg_model_rename(struct mt_req *req, const char *id, const char *new_name,
			 long long now, struct mt_err *err)
{
	const char *now_s = i64s(req, now);
	const char *v[3] = { id, new_name, now_s };
	const char *tv[2] = { id, now_s };

	if (!db_exec(req, "reg_model_rename", 3, v, err)) {
		if (err->code == MT_EEXISTS)
			mt_err_set(err, MT_EEXISTS, "Registered Model (name=%s) already exists.",
				   new_name);
		return -1;
	}
	return db_exec(req, "reg_model_versions_touch", 2, tv, err) ? 0 : -1;
}

int sql_reg_model_update(struct mt_req *req, const char *id, const char *description,
			 long long now, struct mt_err *err)
{
	const char *v[3] = { id, description, i64s(req, now) };

	return db_exec(req, "reg_model_update", 3, v, err) ? 0 : -1;
}

/*
 * Bundles a delete may leave unreferenced.  Before the delete: the digests
 * the rows being deleted name (stmt over v), each digest's blob lock taken
 * exclusively, in digest order, so that a model-versions/create verifying
 * the same bundle (it holds the shared lock, gate_bundle_on_create) either
 * committed before, and its live version is seen by the release, or runs
 * after, and finds the bundle gone.  After the delete, release: the
 * bundle's artifact row goes when no live version names the digest (the
 * blob is then mltrackd gc's).
 */
static int bundles_lock(struct mt_req *req, const char *stmt, int n, const char *const *v,
			PGresult **out, struct mt_err *err)
{
	PGresult *r = db_exec(req, stmt, n, v, err);

	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		if (sql_art_lock_blob(req, PQgetvalue(r, i, 0), 1, err))
			return -1;
	*out = r;
	return 0;
}

static int bundles_release(struct mt_req *req, PGresult *r, struct mt_err *err)
{
	for (int i = 0; i < PQntuples(r); i++) {
		const char *sha = PQgetvalue(r, i, 0);

		if (!db_exec(req, "reg_bundle_release", 1, &sha, err))
			return -1;
	}
	return 0;
}

int sql_reg_model_delete(struct mt_req *req, const char *id, struct mt_err *err)
{
	PGresult *b;

	if (bundles_lock(req, "reg_model_bundles", 1, &id, &b, err) ||
	    !db_exec(req, "reg_model_delete", 1, &id, err))
		return -1;
	return bundles_release(req, b, err);
}

static int touch_model(struct mt_req *req, const char *id, long long now, struct mt_err *err)
{
	const char *v[2] = { id, i64s(req, now) };

	return db_exec(req, "reg_model_touch", 2, v, err) ? 0 : -1;
}

int sql_reg_model_set_tag(struct mt_req *req, const char *id, const char *key,
			  const char *value, struct mt_err *err)
{
	const char *v[3] = { id, key, value ? value : "" };

	return db_exec(req, "reg_model_tag_set", 3, v, err) ? 0 : -1;
}

int sql_reg_model_delete_tag(struct mt_req *req, const char *id, const char *key,
			     struct mt_err *err)
{
	const char *v[2] = { id, key };

	return db_exec(req, "reg_model_tag_delete", 2, v, err) ? 0 : -1;
}

/*
 * Prompts (MLflow 2.21+) are registered models and versions tagged
 * mlflow.prompt.is_prompt = 'true', and MLflow's SQL store searches models
 * and versions as follows (sqlalchemy_store._is_querying_prompt and
 * _update_query_to_exclude_prompts, 2.21 to 3.10): the first clause on that
 * tag decides.  `= 'true'` or `!= 'false'` (the value compared without
 * case) asks for prompts, and then every clause on the tag is an ordinary
 * tag clause.  Anything else, or no such clause, asks for the rest: every
 * clause on the tag is dropped and whatever carries the tag with the exact
 * value 'true' is left out (for versions: every version of a model one of
 * whose versions does).  So the term `tag.`mlflow.prompt.is_prompt` !=
 * 'true'` that 2.21+ clients add to each registered-model search matches
 * the models that have no such tag.
 */
#define PROMPT_TAG "mlflow.prompt.is_prompt"

static int is_prompt_clause(const struct mt_filter_clause *c)
{
	return c->kind == MT_FK_TAG && strcmp(c->key, PROMPT_TAG) == 0;
}

static int asks_for_prompts(const struct mt_filter *f)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct mt_filter_clause *c = &f->clauses[i];

		if (!is_prompt_clause(c))
			continue;
		return c->str && ((c->op == MT_OP_EQ && strcasecmp(c->str, "true") == 0) ||
				  (c->op == MT_OP_NE && strcasecmp(c->str, "false") == 0));
	}
	return 0;
}

/* A string comparison of the search grammar on column col. */
static void str_clause(struct sqlb *b, const char *col, const struct mt_filter_clause *c)
{
	if (c->op == MT_OP_IN || c->op == MT_OP_NOT_IN) {
		int p = sqlb_param(b, db_array_text(b->a, (const char *const *)c->list, c->nlist));

		sqlb_add(b, " AND %s%s = ANY($%d::text[])", c->op == MT_OP_NOT_IN ? "NOT " : "",
			 col, p);
		return;
	}
	sqlb_add(b, " AND %s %s $%d", col, sqlb_op(c->op), sqlb_param(b, c->str));
}

int sql_reg_model_search(struct mt_req *req, const struct mt_filter *f,
			 const struct mt_order_list *o, long long limit, long long offset,
			 json_t *list, int *more, struct mt_err *err)
{
	struct sqlb b;
	PGresult *r;
	int n, by_name = 0, prompts = asks_for_prompts(f);
	const char **ids;
	json_t *byid;

	sqlb_init(&b, req->arena);
	sqlb_add(&b, MODEL_SELECT "WHERE TRUE");
	sqlz_model_filter(&b, req, "m.id", "m.name"); /* only what the caller may read */
	if (!prompts)
		sqlb_add(&b, " AND NOT EXISTS (SELECT 1 FROM registered_model_tags p WHERE "
			 "p.model_id = m.id AND p.key = '" PROMPT_TAG "' AND p.value = 'true')");
	for (size_t i = 0; i < f->n; i++) {
		const struct mt_filter_clause *c = &f->clauses[i];

		if (!prompts && is_prompt_clause(c))
			continue;
		if (c->kind == MT_FK_TAG) {
			int k = sqlb_param(&b, c->key);
			int v = sqlb_param(&b, c->str);

			sqlb_add(&b, " AND EXISTS (SELECT 1 FROM registered_model_tags t WHERE "
				 "t.model_id = m.id AND t.key = $%d AND t.value %s $%d)",
				 k, sqlb_op(c->op), v);
		} else {
			str_clause(&b, "m.name", c); /* the only attribute */
		}
	}
	sqlb_add(&b, " ORDER BY ");
	for (size_t i = 0; o && i < o->n; i++) {
		const char *key = o->items[i].key;

		int is_name = strcmp(key, "name") == 0;

		by_name |= is_name;
		sqlb_add(&b, "%s %s, ", is_name ? "m.name" : "m.last_updated_time",
			 o->items[i].asc ? "ASC" : "DESC");
	}
	sqlb_add(&b, by_name ? "m.id ASC" : "m.name ASC");
	if (!(r = sqlb_exec_page(&b, req, limit, offset, &n, more, err)))
		return -1;
	if (n == 0)
		return 0;
	ids = mt_arena_alloc(req->arena, sizeof(*ids) * (size_t)n);
	byid = req_own(req, json_object());
	for (int i = 0; i < n; i++) {
		json_t *m = model_row(r, i);

		ids[i] = PQgetvalue(r, i, 0);
		json_array_append_new(list, m);
		json_object_set(byid, ids[i], m);
	}
	return attach_latest(req, ids, (size_t)n, byid, err);
}

int sql_reg_latest_versions(struct mt_req *req, const char *id, const char *const *stages,
			    size_t n, json_t *list, struct mt_err *err)
{
	const char *v[2] = { db_array_text(req->arena, &id, 1),
			     db_array_text(req->arena, stages, n) };
	PGresult *r = db_exec(req, "reg_latest", 2, v, err);

	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(list, ver_row(r, i));
	return 0;
}

/* ---- aliases ---- */

int sql_reg_alias_set(struct mt_req *req, const char *id, const char *name,
		      const char *alias, const char *version, struct mt_err *err)
{
	const char *stage;
	const char *v[3] = { id, alias, version };

	if (sql_reg_version_stage(req, id, name, version, &stage, err))
		return -1;
	return db_exec(req, "reg_alias_set", 3, v, err) ? 0 : -1;
}

int sql_reg_alias_delete(struct mt_req *req, const char *id, const char *alias,
			 struct mt_err *err)
{
	const char *v[2] = { id, alias };

	return db_exec(req, "reg_alias_delete", 2, v, err) ? 0 : -1;
}

int sql_reg_alias_get(struct mt_req *req, const char *id, const char *alias,
		      const char **out, struct mt_err *err)
{
	const char *v[2] = { id, alias };
	PGresult *r = db_exec(req, "reg_alias_get", 2, v, err);

	if (!r)
		return -1;
	*out = PQntuples(r) ? PQgetvalue(r, 0, 0) : NULL;
	return 0;
}

/* ---- model versions ---- */

int sql_reg_version_create(struct mt_req *req, const char *id, const struct reg_version_new *nv,
			   long long now, const char **out_version, struct mt_err *err)
{
	const char *now_s = i64s(req, now);
	const char *v[8] = { id, now_s, nv->description ? nv->description : "", nv->source,
			     nv->storage_location, nv->run_id ? nv->run_id : "",
			     nv->run_link ? nv->run_link : "", nv->logged_model_id };
	PGresult *r = db_exec(req, "reg_ver_insert", 8, v, err);
	const char *ver;

	if (!r)
		return -1;
	ver = PQgetvalue(r, 0, 0);
	for (size_t i = 0; i < nv->ntags; i++)
		if (sql_reg_version_set_tag(req, id, ver, nv->tag_keys[i], nv->tag_values[i], err))
			return -1;
	if (touch_model(req, id, now, err))
		return -1;
	*out_version = ver;
	return 0;
}

static int ver_not_found(struct mt_err *err, const char *name, const char *version)
{
	return mt_err_set(err, MT_ENOTFOUND, "Model Version (name=%s, version=%s) not found", name,
			  version);
}

int sql_reg_version_stage(struct mt_req *req, const char *id, const char *name,
			  const char *version, const char **out, struct mt_err *err)
{
	const char *v[2] = { id, version };
	PGresult *r = db_exec(req, "reg_ver_stage", 2, v, err);

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return ver_not_found(err, name, version);
	*out = PQgetvalue(r, 0, 0);
	return 0;
}

int sql_reg_version_get(struct mt_req *req, const char *id, const char *name,
			const char *version, json_t **out, struct mt_err *err)
{
	const char *v[2] = { id, version };
	PGresult *r = db_exec(req, "reg_ver_get", 2, v, err);

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return ver_not_found(err, name, version);
	*out = req_own(req, ver_row(r, 0));
	return 0;
}

int sql_reg_version_update(struct mt_req *req, const char *id, const char *version,
			   const char *description, long long now, struct mt_err *err)
{
	const char *v[4] = { id, version, description ? description : "", i64s(req, now) };

	return db_exec(req, "reg_ver_update", 4, v, err) ? 0 : -1;
}

int sql_reg_version_delete(struct mt_req *req, const char *id, const char *version,
			   long long now, json_t *dropped, struct mt_err *err)
{
	const char *v[3] = { id, version, i64s(req, now) };
	PGresult *b, *r;

	if (bundles_lock(req, "reg_ver_bundle", 2, v, &b, err) ||
	    !db_exec(req, "reg_ver_redact", 3, v, err) ||
	    !(r = db_exec(req, "reg_ver_aliases_drop", 2, v, err)) || bundles_release(req, b, err))
		return -1;
	for (int i = 0; dropped && i < PQntuples(r); i++)
		json_array_append_new(dropped, json_string(PQgetvalue(r, i, 0)));
	return touch_model(req, id, now, err);
}

int sql_reg_version_transition(struct mt_req *req, const char *id, const char *version,
			       const char *stage, int archive, long long now,
			       struct mt_err *err)
{
	const char *now_s = i64s(req, now);
	const char *av[4] = { id, version, now_s, stage };
	const char *sv[4] = { id, version, stage, now_s };

	if (archive && !db_exec(req, "reg_ver_archive_others", 4, av, err))
		return -1;
	if (!db_exec(req, "reg_ver_set_stage", 4, sv, err))
		return -1;
	return touch_model(req, id, now, err);
}

int sql_reg_version_download_uri(struct mt_req *req, const char *id, const char *name,
				 const char *version, const char **out, struct mt_err *err)
{
	const char *v[2] = { id, version };
	PGresult *r = db_exec(req, "reg_ver_uri", 2, v, err);

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return ver_not_found(err, name, version);
	*out = PQgetvalue(r, 0, 0);
	return 0;
}

int sql_reg_version_set_tag(struct mt_req *req, const char *id, const char *version,
			    const char *key, const char *value, struct mt_err *err)
{
	const char *v[4] = { id, version, key, value ? value : "" };

	return db_exec(req, "reg_ver_tag_set", 4, v, err) ? 0 : -1;
}

int sql_reg_version_delete_tag(struct mt_req *req, const char *id, const char *version,
			       const char *key, struct mt_err *err)
{
	const char *v[3] = { id, version, key };

	return db_exec(req, "reg_ver_tag_delete", 3, v, err) ? 0 : -1;
}

static const char *ver_order_col(const char *key)
{
	if (strcmp(key, "name") == 0)
		return "m.name";
	if (strcmp(key, "version_number") == 0)
		return "v.version";
	if (strcmp(key, "creation_timestamp") == 0)
		return "v.creation_time";
	return "v.last_updated_time";
}

int sql_reg_version_search(struct mt_req *req, const struct mt_filter *f,
			   const struct mt_order_list *o, long long limit, long long offset,
			   json_t *list, int *more, struct mt_err *err)
{
	struct sqlb b;
	PGresult *r;
	int n, prompts = asks_for_prompts(f);

	sqlb_init(&b, req->arena);
	sqlb_add(&b, VER_SELECT "WHERE " VISIBLE);
	sqlz_model_filter(&b, req, "m.id", "m.name"); /* only what the caller may read */
	if (!prompts)
		sqlb_add(&b, " AND NOT EXISTS (SELECT 1 FROM model_version_tags p WHERE "
			 "p.model_id = v.model_id AND p.key = '" PROMPT_TAG "' AND p.value = 'true')");
	for (size_t i = 0; i < f->n; i++) {
		const struct mt_filter_clause *c = &f->clauses[i];

		if (!prompts && is_prompt_clause(c))
			continue;
		if (c->kind == MT_FK_TAG) {
			int k = sqlb_param(&b, c->key);
			int v = sqlb_param(&b, c->str);

			sqlb_add(&b, " AND EXISTS (SELECT 1 FROM model_version_tags t WHERE "
				 "t.model_id = v.model_id AND t.version = v.version AND "
				 "t.key = $%d AND t.value %s $%d)", k, sqlb_op(c->op), v);
		} else if (strcmp(c->key, "version_number") == 0) {
			sqlb_add(&b, " AND v.version %s %s", sqlb_op(c->op), sqlb_num(&b, c));
		} else if (strcmp(c->key, "run_id") == 0) {
			str_clause(&b, "v.run_id", c);
		} else if (strcmp(c->key, "source_path") == 0) {
			str_clause(&b, "v.source", c);
		} else {
			str_clause(&b, "m.name", c);
		}
	}
	sqlb_add(&b, " ORDER BY ");
	for (size_t i = 0; o && i < o->n; i++)
		sqlb_add(&b, "%s %s, ", ver_order_col(o->items[i].key),
			 o->items[i].asc ? "ASC" : "DESC");
	if (!o || o->n == 0)
		sqlb_add(&b, "v.last_updated_time DESC, ");
	sqlb_add(&b, "m.name ASC, v.version DESC");
	if (!(r = sqlb_exec_page(&b, req, limit, offset, &n, more, err)))
		return -1;
	for (int i = 0; i < n; i++)
		json_array_append_new(list, ver_row(r, i));
	return 0;
}

/* ---- audit ---- */

int sql_reg_audit(struct mt_req *req, const struct reg_transition *t, long long now,
		  struct mt_err *err)
{
	const char *v[15] = { i64s(req, now), t->model_id, t->model_name, t->version,
			      t->from_stage, t->to_stage, t->actor, t->outcome, t->report,
			      t->reason, t->kind ? t->kind : "stage", t->alias, t->from_version,
			      t->rules_before, t->rules_after };

	return db_exec(req, "reg_audit", 15, v, err) ? 0 : -1;
}
