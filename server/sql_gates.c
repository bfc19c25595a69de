/* sql_gates.c: the SQL of gates, gated transitions and bundles (see sql_gates.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_json.h"
#include "sql_gates.h"

/* The audit trail's columns, in audit_row()'s order. */
#define AUDIT_SELECT                                                                           \
	"SELECT id, at, model_name, kind, version::text, from_stage, to_stage, alias, "          \
	"from_version::text, outcome, actor, reason, report::text, rules_before::text, "         \
	"rules_after::text FROM stage_transitions "
/* $2 a version or NULL, $3 a kind or NULL. */
#define AUDIT_FILTER                                                                           \
	"($2::int IS NULL OR version = $2::int OR from_version = $2::int) "                      \
	"AND ($3::text IS NULL OR kind = $3::text) ORDER BY id"

static const struct db_stmt stmts[] = {
	{ "gate_upsert",
	  "INSERT INTO gate_policies (model_id, stage, rules, updated_at) "
	  "VALUES ($1, $2, $3::text[], $4) ON CONFLICT (model_id, stage) "
	  "DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at" },
	{ "gate_delete", "DELETE FROM gate_policies WHERE model_id = $1 AND stage = $2" },
	{ "gate_get",
	  "SELECT array_to_json(rules)::text FROM gate_policies WHERE model_id = $1 AND stage = $2" },
	{ "alias_gate_upsert",
	  "INSERT INTO alias_gate_policies (model_id, alias, rules, updated_at) "
	  "VALUES ($1, $2, $3::text[], $4) ON CONFLICT (model_id, alias) "
	  "DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at" },
	{ "alias_gate_delete", "DELETE FROM alias_gate_policies WHERE model_id = $1 AND alias = $2" },
	{ "alias_gate_get",
	  "SELECT array_to_json(rules)::text FROM alias_gate_policies "
	  "WHERE model_id = $1 AND alias = $2" },
	/* Stage gates first, then alias gates. */
	{ "gate_list",
	  "SELECT 's', stage, array_to_json(rules)::text, updated_at FROM gate_policies "
	  "WHERE model_id = $1 UNION ALL "
	  "SELECT 'a', alias, array_to_json(rules)::text, updated_at FROM alias_gate_policies "
	  "WHERE model_id = $1 ORDER BY 1 DESC, 2" },
	{ "gate_version",
	  "SELECT COALESCE(run_id, ''), COALESCE(bundle_sha256, '') FROM model_versions "
	  "WHERE model_id = $1 AND version = $2 AND current_stage <> 'Deleted_Internal'" },
	/* The champion: the newest other version that holds the stage. */
	{ "gate_champion",
	  "SELECT version::text FROM model_versions WHERE model_id = $1 AND current_stage = $2 "
	  "AND version <> $3 ORDER BY version DESC LIMIT 1" },
	{ "gate_run_metrics",
	  "SELECT key, value FROM latest_metrics WHERE run_id = $1 ORDER BY key" },
	{ "gate_run_params", "SELECT key, value FROM params WHERE run_id = $1 ORDER BY key" },
	{ "gate_run_tags", "SELECT key, value FROM tags WHERE run_id = $1 ORDER BY key" },
	{ "bundle_record",
	  "UPDATE model_versions SET bundle_sha256 = $3, bundle_size = $4, "
	  "bundle_manifest = $5::jsonb WHERE model_id = $1 AND version = $2" },
	{ "bundle_get",
	  "SELECT bundle_sha256, bundle_size, bundle_manifest::text FROM model_versions "
	  "WHERE model_id = $1 AND version = $2 AND bundle_sha256 IS NOT NULL" },
	{ "bundle_artifact", "SELECT sha256, size FROM artifacts WHERE path = $1" },
	{ "audit_by_model", AUDIT_SELECT "WHERE model_id = $1 AND " AUDIT_FILTER },
	{ "audit_by_name", AUDIT_SELECT "WHERE model_name = $1 AND " AUDIT_FILTER },
};

const struct db_stmt_table sql_gates_table = { stmts, sizeof(stmts) / sizeof(stmts[0]), 0 };

static const char *i64s(struct mt_req *req, long long v)
{
	return mt_arena_printf(req->arena, "%lld", v);
}

int sql_gate_set(struct mt_req *req, const char *model_id, const struct gate_target *t,
		 const char *const *rules, size_t n, long long now, struct mt_err *err)
{
	const char *key = t->alias ? t->alias : t->stage;

	if (n == 0) {
		const char *v[2] = { model_id, key };

		return db_exec(req, t->alias ? "alias_gate_delete" : "gate_delete", 2, v, err) ? 0
											      : -1;
	}
	{
		const char *v[4] = { model_id, key, db_array_text(req->arena, rules, n),
				     i64s(req, now) };

		return db_exec(req, t->alias ? "alias_gate_upsert" : "gate_upsert", 4, v, err) ? 0
											      : -1;
	}
}

int sql_gate_get(struct mt_req *req, const char *model_id, const struct gate_target *t,
		 json_t **out, struct mt_err *err)
{
	const char *v[2] = { model_id, t->alias ? t->alias : t->stage };
	PGresult *res = db_exec(req, t->alias ? "alias_gate_get" : "gate_get", 2, v, err);

	*out = NULL;
	if (!res)
		return -1;
	if (PQntuples(res) == 1)
		*out = req_own(req, json_loads(PQgetvalue(res, 0, 0), 0, NULL));
	return 0;
}

int sql_gate_list(struct mt_req *req, const char *model_id, json_t *list, struct mt_err *err)
{
	const char *v[1] = { model_id };
	PGresult *res = db_exec(req, "gate_list", 1, v, err);

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		json_array_append_new(list,
				      json_pack("{s:s, s:o, s:I}",
						*PQgetvalue(res, i, 0) == 's' ? "stage" : "alias",
						PQgetvalue(res, i, 1), "rules",
						json_loads(PQgetvalue(res, i, 2), 0, NULL),
						"updated_timestamp",
						(json_int_t)atoll(PQgetvalue(res, i, 3))));
	return 0;
}

int sql_gate_champion(struct mt_req *req, const char *model_id, const char *stage,
		      const char *candidate, const char **out, struct mt_err *err)
{
	const char *v[3] = { model_id, stage, candidate };
	PGresult *res = db_exec(req, "gate_champion", 3, v, err);

	*out = NULL;
	if (!res)
		return -1;
	if (PQntuples(res) == 1)
		*out = mt_arena_strdup(req->arena, PQgetvalue(res, 0, 0));
	return 0;
}

/* key/value rows into an object; numbers when numeric is set. */
static int kv_object(struct mt_req *req, const char *stmt, const char *run_id, int numeric,
		     json_t *obj, struct mt_err *err)
{
	const char *v[1] = { run_id };
	PGresult *res = db_exec(req, stmt, 1, v, err);

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *val = PQgetvalue(res, i, 1);

		if (numeric) {
			double d = strtod(val, NULL);

			/* JSON has no NaN or infinity: such a metric reads as missing
			 * to a rule, which then says so instead of passing. */
			if (isfinite(d))
				json_object_set_new(obj, PQgetvalue(res, i, 0), json_real(d));
		} else {
			json_object_set_new(obj, PQgetvalue(res, i, 0), json_string(val));
		}
	}
	return 0;
}

int sql_gate_subject(struct mt_req *req, const char *model_id, const char *name,
		     const char *version, json_t **out, const char **bundle_sha,
		     struct mt_err *err)
{
	const char *v[2] = { model_id, version };
	PGresult *res = db_exec(req, "gate_version", 2, v, err);
	json_t *s, *metrics, *params, *tags, *git;
	const char *run_id, *t;

	*out = NULL;
	*bundle_sha = NULL;
	if (!res)
		return -1;
	if (PQntuples(res) != 1)
		return mt_err_set(err, MT_ENOTFOUND, "Model Version (name=%s, version=%s) not found",
				  name, version);
	run_id = mt_arena_strdup(req->arena, PQgetvalue(res, 0, 0));
	if (*PQgetvalue(res, 0, 1))
		*bundle_sha = mt_arena_strdup(req->arena, PQgetvalue(res, 0, 1));
	s = req_own(req, json_pack("{s:s, s:s, s:s}", "name", name, "version", version, "run_id",
				   run_id));
	metrics = json_object();
	params = json_object();
	tags = json_object();
	json_object_set_new(s, "metrics", metrics);
	json_object_set_new(s, "params", params);
	json_object_set_new(s, "tags", tags);
	if (*run_id && (kv_object(req, "gate_run_metrics", run_id, 1, metrics, err) ||
			kv_object(req, "gate_run_params", run_id, 0, params, err) ||
			kv_object(req, "gate_run_tags", run_id, 0, tags, err)))
		return -1;
	git = json_object();
	if ((t = json_string_value(json_object_get(tags, "mlflow.source.git.commit"))))
		json_object_set_new(git, "commit", json_string(t));
	if ((t = json_string_value(json_object_get(tags, "mlflow.source.git.branch"))))
		json_object_set_new(git, "branch", json_string(t));
	if ((t = json_string_value(json_object_get(tags, "mlflow.source.git.repoURL"))))
		json_object_set_new(git, "repo_url", json_string(t));
	if ((t = json_string_value(json_object_get(tags, "mltrack.git.dirty"))))
		json_object_set_new(git, "dirty", json_boolean(strcmp(t, "true") == 0));
	json_object_set_new(s, "git", git);
	*out = s;
	return 0;
}

int sql_bundle_record(struct mt_req *req, const char *model_id, const char *version,
		      const char *sha, long long size, const char *manifest, struct mt_err *err)
{
	const char *v[5] = { model_id, version, sha, i64s(req, size), manifest };

	return db_exec(req, "bundle_record", 5, v, err) ? 0 : -1;
}

int sql_bundle_get(struct mt_req *req, const char *model_id, const char *version, json_t **out,
		   struct mt_err *err)
{
	const char *v[2] = { model_id, version };
	PGresult *res = db_exec(req, "bundle_get", 2, v, err);

	*out = NULL;
	if (!res)
		return -1;
	if (PQntuples(res) == 1)
		*out = req_own(req, json_pack("{s:s, s:I, s:o}", "sha256", PQgetvalue(res, 0, 0),
					      "size", (json_int_t)atoll(PQgetvalue(res, 0, 1)),
					      "manifest",
					      PQgetisnull(res, 0, 2)
						      ? json_null()
						      : json_loads(PQgetvalue(res, 0, 2), 0, NULL)));
	return 0;
}

int sql_bundle_artifact(struct mt_req *req, const char *path, const char **sha,
			long long *size, struct mt_err *err)
{
	const char *v[1] = { path };
	PGresult *res = db_exec(req, "bundle_artifact", 1, v, err);

	*sha = NULL;
	*size = 0;
	if (!res)
		return -1;
	if (PQntuples(res) == 1) {
		*sha = mt_arena_strdup(req->arena, PQgetvalue(res, 0, 0));
		*size = atoll(PQgetvalue(res, 0, 1));
	}
	return 0;
}

/* A text column as a JSON string, or null. */
static json_t *str_or_null(PGresult *res, int i, int col)
{
	return PQgetisnull(res, i, col) ? json_null() : json_string(PQgetvalue(res, i, col));
}

/* A jsonb column as JSON, or null. */
static json_t *json_or_null(PGresult *res, int i, int col)
{
	json_t *j = PQgetisnull(res, i, col) ? NULL : json_loads(PQgetvalue(res, i, col), 0, NULL);

	return j ? j : json_null();
}

static json_t *audit_row(PGresult *res, int i)
{
	static const char *const names[] = {
		"id", NULL, "name", "kind", "version", "from_stage", "to_stage", "alias",
		"from_version", "outcome", "actor", "reason",
	};
	json_t *e = json_object();

	for (int c = 0; c < (int)(sizeof(names) / sizeof(names[0])); c++)
		if (names[c])
			json_object_set_new(e, names[c], str_or_null(res, i, c));
	json_object_set_new(e, "timestamp", json_integer((json_int_t)atoll(PQgetvalue(res, i, 1))));
	json_object_set_new(e, "report", json_or_null(res, i, 12));
	json_object_set_new(e, "rules_before", json_or_null(res, i, 13));
	json_object_set_new(e, "rules_after", json_or_null(res, i, 14));
	return e;
}

int sql_audit_list(struct mt_req *req, const char *model_id, const char *name,
		   const char *version, const char *kind, json_t *list, struct mt_err *err)
{
	const char *v[3] = { model_id ? model_id : name, version, kind };
	PGresult *res = db_exec(req, model_id ? "audit_by_model" : "audit_by_name", 3, v, err);

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		json_array_append_new(list, audit_row(res, i));
	return 0;
}
