/*
 * fields.c: the request schema of each route (lib/mt_fields.h), next to
 * the route table: one row per (method, path) of routes.c that takes
 * fields, naming them in the order of the schema MLflow's handler checks
 * (mlflow/server/handlers.py, v2.9.2), then the message's other fields,
 * with their protobuf types (service.proto, model_registry.proto).
 *
 * The dispatcher checks a request against its route's schema after parsing
 * the body or query string and before the handler runs (fields_check), so
 * a wrong type or a missing required field is a 400 before anything is
 * read or written.  fields_init resolves each row to its route once, at
 * start-up, and fails when a row names no route.
 */
#include <string.h>

#include "fields.h"
#include "mt_limits.h"

#define END { NULL, 0, 0, NULL, NULL, 0 }
#define STR(n, fl) { n, MT_FT_STRING, fl, NULL, NULL, 0 }
#define STRS(n) { n, MT_FT_STRING, MT_FF_REPEATED, NULL, NULL, 0 }
#define I64(n, fl) { n, MT_FT_INT64, fl, NULL, NULL, 0 }
#define I32(n, fl, max) { n, MT_FT_INT32, fl, NULL, NULL, max }
#define DBL(n, fl) { n, MT_FT_DOUBLE, fl, NULL, NULL, 0 }
#define BOOL(n) { n, MT_FT_BOOL, 0, NULL, NULL, 0 }
#define ENUM(n, names) { n, MT_FT_ENUM, 0, NULL, names, 0 }
#define MSG(n, fl, sub) { n, MT_FT_MESSAGE, fl, sub, NULL, 0 }
#define MSGS(n, fl, sub) { n, MT_FT_MESSAGE, (fl) | MT_FF_REPEATED, sub, NULL, 0 }
#define REQ MT_FF_REQUIRED
#define RUN_ID STR("run_id", REQ | MT_FF_RUN_ID)

static const char *const view_types[] = { "ACTIVE_ONLY", "DELETED_ONLY", "ALL", NULL };
static const char *const run_statuses[] = { "RUNNING", "SCHEDULED", "FINISHED", "FAILED",
					    "KILLED", NULL };

/* ---- messages inside requests ---- */
static const struct mt_field kv_tag[] = { STR("key", 0), STR("value", 0), END };
/* LogBatch's entries: MLflow 2.9.2 asserts these present (handlers.py
 * _assert_metrics_fields_present, _assert_params_tags_fields_present). */
static const struct mt_field batch_metric[] = {
	STR("key", REQ), DBL("value", REQ), I64("timestamp", REQ), I64("step", 0),
	STR("model_id", 0), STR("dataset_name", 0), STR("dataset_digest", 0), END
};
static const struct mt_field batch_kv[] = { STR("key", REQ), STR("value", 0), END };
static const struct mt_field dataset[] = {
	STR("name", 0), STR("digest", 0), STR("source_type", 0), STR("source", 0),
	STR("schema", 0), STR("profile", 0), END
};
static const struct mt_field dataset_input[] = {
	MSGS("tags", 0, kv_tag), MSG("dataset", 0, dataset), END
};

/* ---- experiments ---- */
static const struct mt_field exp_create[] = {
	STR("name", REQ), STR("artifact_location", 0), MSGS("tags", 0, kv_tag), END
};
static const struct mt_field exp_id[] = { STR("experiment_id", REQ), END };
static const struct mt_field exp_by_name[] = { STR("experiment_name", REQ), END };
static const struct mt_field exp_update[] = {
	STR("experiment_id", REQ), STR("new_name", REQ), END
};
static const struct mt_field exp_search[] = {
	ENUM("view_type", view_types), I64("max_results", 0), STRS("order_by"),
	STR("filter", 0), STR("page_token", 0), END
};
static const struct mt_field exp_set_tag[] = {
	STR("experiment_id", REQ), STR("key", REQ), STR("value", 0), END
};

/* ---- runs ---- */
static const struct mt_field run_create[] = {
	STR("experiment_id", 0), I64("start_time", 0), STR("run_name", 0), STR("user_id", 0),
	MSGS("tags", 0, kv_tag), END
};
static const struct mt_field run_update[] = {
	RUN_ID, I64("end_time", 0), ENUM("status", run_statuses), STR("run_name", 0),
	STR("run_uuid", 0), END
};
static const struct mt_field run_id_only[] = { RUN_ID, STR("run_uuid", 0), END };
static const struct mt_field log_metric[] = {
	RUN_ID, STR("key", REQ), DBL("value", REQ), I64("timestamp", REQ), I64("step", 0),
	STR("run_uuid", 0), STR("model_id", 0), STR("dataset_name", 0), STR("dataset_digest", 0),
	END
};
static const struct mt_field log_param[] = {
	RUN_ID, STR("key", REQ), STR("value", 0), STR("run_uuid", 0), END
};
/* MLflow 3 logs a model's input without datasets (its handler dropped the
 * "required" of 2.9.2), and 3.x clients send exactly that. */
static const struct mt_field model_input[] = { STR("model_id", REQ), END };
static const struct mt_field log_inputs[] = {
	RUN_ID, MSGS("datasets", 0, dataset_input), MSGS("models", 0, model_input), END
};
static const struct mt_field delete_tag[] = { RUN_ID, STR("key", REQ), END };
static const struct mt_field log_batch[] = {
	RUN_ID, MSGS("metrics", 0, batch_metric), MSGS("params", 0, batch_kv),
	MSGS("tags", 0, batch_kv), END
};
static const struct mt_field run_search[] = {
	STRS("experiment_ids"), STR("filter", 0), I32("max_results", 0, MT_SEARCH_RUNS_MAX),
	STRS("order_by"), ENUM("run_view_type", view_types), STR("page_token", 0), END
};
static const struct mt_field list_artifacts[] = {
	RUN_ID, STR("path", 0), STR("page_token", 0), STR("run_uuid", 0), END
};
static const struct mt_field get_history[] = {
	RUN_ID, STR("metric_key", REQ), STR("page_token", 0), I32("max_results", 0, 0),
	STR("run_uuid", 0), END
};
/* Steps are int64 here (MLflow's proto says int32; ours are int64 end to end). */
static const struct mt_field bulk_interval[] = {
	STRS("run_ids"), STR("metric_key", REQ), I64("start_step", 0), I64("end_step", 0),
	I32("max_results", 0, 0), END
};

/* ---- registry ---- */
static const struct mt_field rm_create[] = {
	STR("name", REQ), MSGS("tags", 0, kv_tag), STR("description", 0), END
};
static const struct mt_field rm_name[] = { STR("name", REQ), END };
static const struct mt_field rm_update[] = { STR("name", REQ), STR("description", 0), END };
static const struct mt_field rm_rename[] = { STR("name", REQ), STR("new_name", REQ), END };
static const struct mt_field search_paged[] = {
	STR("filter", 0), I64("max_results", 0), STRS("order_by"), STR("page_token", 0), END
};
static const struct mt_field rm_latest[] = { STR("name", REQ), STRS("stages"), END };
static const struct mt_field rm_set_tag[] = {
	STR("name", REQ), STR("key", REQ), STR("value", 0), END
};
static const struct mt_field rm_delete_tag[] = { STR("name", REQ), STR("key", REQ), END };
static const struct mt_field mv_create[] = {
	STR("name", REQ), STR("source", REQ), STR("run_id", 0), MSGS("tags", 0, kv_tag),
	STR("run_link", 0), STR("description", 0), END
};
static const struct mt_field mv_name_version[] = { STR("name", REQ), STR("version", REQ), END };
static const struct mt_field mv_update[] = {
	STR("name", REQ), STR("version", REQ), STR("description", 0), END
};
static const struct mt_field mv_transition[] = {
	STR("name", REQ), STR("version", REQ), STR("stage", REQ),
	BOOL("archive_existing_versions"), END
};
static const struct mt_field mv_set_tag[] = {
	STR("name", REQ), STR("version", REQ), STR("key", REQ), STR("value", 0), END
};
static const struct mt_field mv_delete_tag[] = {
	STR("name", REQ), STR("version", REQ), STR("key", REQ), END
};
static const struct mt_field alias_set[] = {
	STR("name", REQ), STR("alias", REQ), STR("version", REQ), END
};
static const struct mt_field alias_name[] = { STR("name", REQ), STR("alias", REQ), END };

/* ---- mlflow-artifacts ---- */
static const struct mt_field art_list[] = { STR("path", 0), END };

/* ---- mltrack's own endpoints ---- */
static const struct mt_field sampled[] = {
	RUN_ID, STR("metric_key", REQ), I64("max_points", 0), STR("run_uuid", 0), END
};
static const struct mt_field auth_token_create[] = {
	STR("name", REQ), I64("expires_in_days", 0), STR("scope", 0), END
};
static const struct mt_field auth_permission[] = {
	STR("experiment_id", 0), STR("name", 0), END
};

/* ---- MLflow's auth API (mlflow/server/auth/__init__.py: the order its
 * handlers read their parameters in) ---- */
static const struct mt_field user_new[] = {
	STR("username", REQ), STR("password", REQ), END
};
static const struct mt_field user_name[] = { STR("username", REQ), END };
static const struct mt_field user_admin[] = {
	STR("username", REQ), BOOL("is_admin"), END
};
static const struct mt_field exp_perm[] = {
	STR("experiment_id", REQ), STR("username", REQ), STR("permission", REQ), END
};
static const struct mt_field exp_perm_key[] = {
	STR("experiment_id", REQ), STR("username", REQ), END
};
static const struct mt_field model_perm[] = {
	STR("name", REQ), STR("username", REQ), STR("permission", REQ), END
};
static const struct mt_field model_perm_key[] = {
	STR("name", REQ), STR("username", REQ), END
};
static const struct mt_field auth_session[] = {
	STR("username", REQ), STR("password", REQ), END
};
static const struct mt_field auth_token_list[] = { STR("username", 0), END };
static const struct mt_field auth_token_revoke[] = { STR("id", REQ), END };
static const struct mt_field gate_set[] = {
	STR("name", REQ), STR("stage", 0), STR("alias", 0), STRS("rules"), STR("reason", 0), END
};
static const struct mt_field gate_check[] = {
	STR("name", REQ), STR("version", REQ), STR("stage", 0), STR("alias", 0), END
};
static const struct mt_field ext_transition[] = {
	STR("name", REQ), STR("version", REQ), STR("stage", REQ),
	BOOL("archive_existing_versions"), BOOL("force"), STR("reason", 0), END
};
static const struct mt_field ext_alias_set[] = {
	STR("name", REQ), STR("alias", REQ), STR("version", REQ), BOOL("force"),
	STR("reason", 0), END
};
static const struct mt_field ext_alias_delete[] = {
	STR("name", REQ), STR("alias", REQ), STR("reason", 0), END
};
static const struct mt_field ext_history[] = {
	STR("name", REQ), STR("version", 0), STR("kind", 0), END
};

#define MLF "/api/2.0/mlflow/"
#define EXT "/api/2.0/mltrack/"
#define ART "/api/2.0/mlflow-artifacts/"

static const struct {
	const char *method;
	const char *path;
	const struct mt_field *fields;
} rows[] = {
	{ "GET",  MLF "artifacts/list",                    list_artifacts },
	{ "GET",  MLF "experiments/get",                   exp_id },
	{ "GET",  MLF "experiments/get-by-name",           exp_by_name },
	{ "POST", MLF "experiments/create",                exp_create },
	{ "POST", MLF "experiments/delete",                exp_id },
	{ "POST", MLF "experiments/permissions/create",    exp_perm },
	{ "DELETE", MLF "experiments/permissions/delete",  exp_perm_key },
	{ "GET",  MLF "experiments/permissions/get",       exp_perm_key },
	{ "PATCH", MLF "experiments/permissions/update",   exp_perm },
	{ "POST", MLF "experiments/restore",               exp_id },
	{ "GET",  MLF "experiments/search",                exp_search },
	{ "POST", MLF "experiments/search",                exp_search },
	{ "POST", MLF "experiments/set-experiment-tag",    exp_set_tag },
	{ "POST", MLF "experiments/update",                exp_update },
	{ "GET",  MLF "metrics/get-history",               get_history },
	{ "GET",  MLF "metrics/get-history-bulk-interval", bulk_interval },
	{ "POST", MLF "model-versions/create",             mv_create },
	{ "DELETE", MLF "model-versions/delete",           mv_name_version },
	{ "DELETE", MLF "model-versions/delete-tag",       mv_delete_tag },
	{ "GET",  MLF "model-versions/get",                mv_name_version },
	{ "GET",  MLF "model-versions/get-download-uri",   mv_name_version },
	{ "GET",  MLF "model-versions/search",             search_paged },
	{ "POST", MLF "model-versions/set-tag",            mv_set_tag },
	{ "POST", MLF "model-versions/transition-stage",   mv_transition },
	{ "PATCH", MLF "model-versions/update",            mv_update },
	{ "DELETE", MLF "registered-models/alias",         alias_name },
	{ "GET",  MLF "registered-models/alias",           alias_name },
	{ "POST", MLF "registered-models/alias",           alias_set },
	{ "POST", MLF "registered-models/create",          rm_create },
	{ "DELETE", MLF "registered-models/delete",        rm_name },
	{ "DELETE", MLF "registered-models/delete-tag",    rm_delete_tag },
	{ "GET",  MLF "registered-models/get",             rm_name },
	{ "GET",  MLF "registered-models/get-latest-versions", rm_latest },
	{ "POST", MLF "registered-models/get-latest-versions", rm_latest },
	{ "POST", MLF "registered-models/permissions/create", model_perm },
	{ "DELETE", MLF "registered-models/permissions/delete", model_perm_key },
	{ "GET",  MLF "registered-models/permissions/get", model_perm_key },
	{ "PATCH", MLF "registered-models/permissions/update", model_perm },
	{ "POST", MLF "registered-models/rename",          rm_rename },
	{ "GET",  MLF "registered-models/search",          search_paged },
	{ "POST", MLF "registered-models/set-tag",         rm_set_tag },
	{ "PATCH", MLF "registered-models/update",         rm_update },
	{ "POST", MLF "runs/create",                       run_create },
	{ "POST", MLF "runs/delete",                       run_id_only },
	{ "POST", MLF "runs/delete-tag",                   delete_tag },
	{ "GET",  MLF "runs/get",                          run_id_only },
	{ "POST", MLF "runs/log-batch",                    log_batch },
	{ "POST", MLF "runs/log-inputs",                   log_inputs },
	{ "POST", MLF "runs/log-metric",                   log_metric },
	{ "POST", MLF "runs/log-parameter",                log_param },
	{ "POST", MLF "runs/restore",                      run_id_only },
	{ "POST", MLF "runs/search",                       run_search },
	{ "POST", MLF "runs/set-tag",                      log_param },
	{ "POST", MLF "runs/update",                       run_update },
	{ "POST", MLF "users/create",                      user_new },
	{ "DELETE", MLF "users/delete",                    user_name },
	{ "GET",  MLF "users/get",                         user_name },
	{ "PATCH", MLF "users/update-admin",               user_admin },
	{ "PATCH", MLF "users/update-password",            user_new },
	{ "GET",  ART "artifacts",                         art_list },
	{ "GET",  EXT "auth/permission",                   auth_permission },
	{ "POST", EXT "auth/session",                      auth_session },
	{ "POST", EXT "auth/tokens/create",                auth_token_create },
	{ "GET",  EXT "auth/tokens/list",                  auth_token_list },
	{ "POST", EXT "auth/tokens/revoke",                auth_token_revoke },
	{ "POST", EXT "gates/check",                       gate_check },
	{ "GET",  EXT "gates/get",                         rm_name },
	{ "POST", EXT "gates/set",                         gate_set },
	{ "GET",  EXT "metrics/get-history-sampled",       sampled },
	{ "GET",  EXT "model-versions/get",                mv_name_version },
	{ "POST", EXT "model-versions/transition-stage",   ext_transition },
	{ "GET",  EXT "model-versions/transitions",        ext_history },
	{ "DELETE", EXT "registered-models/alias",         ext_alias_delete },
	{ "POST", EXT "registered-models/alias",           ext_alias_set },
	{ "GET",  EXT "registered-models/history",         ext_history },
};

/* The schema of each route, by its index in mt_routes (process lifetime,
 * set once before the workers start). */
#define MAX_ROUTES 512
static const struct mt_field *by_route[MAX_ROUTES];

int fields_init(struct mt_err *err)
{
	if (mt_routes_count > MAX_ROUTES)
		return mt_err_set(err, MT_EINTERNAL, "fields.c: more than %d routes", MAX_ROUTES);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t r;

		for (r = 0; r < mt_routes_count; r++)
			if (strcmp(mt_routes[r].method, rows[i].method) == 0 &&
			    strcmp(mt_routes[r].path, rows[i].path) == 0)
				break;
		if (r == mt_routes_count)
			return mt_err_set(err, MT_EINTERNAL, "fields.c: no route %s %s",
					  rows[i].method, rows[i].path);
		by_route[r] = rows[i].fields;
	}
	return 0;
}

int fields_check(struct mt_req *req)
{
	const struct mt_field *f;

	if (!req->route || !req->body)
		return 0;
	f = by_route[req->route - mt_routes];
	if (!f)
		return 0;
	return mt_fields_check(f, req->body, !(req->route->flags & R_BODY), &req->err);
}
