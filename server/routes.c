/*
 * routes.c: THE route table (STYLE 2.3).  Every endpoint is one row: method,
 * path, handler and what the dispatcher must do for it.  Sorted by path, then
 * method.  /ajax-api/2.0/mlflow/... is mapped onto /api/2.0/mlflow/... by the
 * dispatcher, so the mirror needs no rows.  A "{name}" segment is MLflow's
 * path parameter: it matches one segment, and the handler finds it (and
 * those after it) in req->subpath.  schema/openapi.yaml documents
 * exactly these rows; tests/api/t0060-openapi.sh compares the two.
 *
 * The last column is what authorization needs (authz.h): the resource the
 * route touches, found in the request (experiment_id, run_id, name...), the
 * permission needed on it (READ, EDIT, MANAGE) and refinements (a promote
 * grant may do it, "force" needs MANAGE...).  The dispatcher checks it
 * before the handler runs; a row without one stops the server at start
 * (authz_init) and fails tests/api/test_authz_matrix.py.  Needs follow
 * MLflow's auth plugin (2.9.2), except that renaming needs MANAGE.
 */
#include <string.h>

#include "api.h"
#include "session.h"
#include "authz.h"
#include "mt_scope.h"
#include "web.h"

#define MLF "/api/2.0/mlflow/"
#define EXT "/api/2.0/mltrack/"
#define ART "/api/2.0/mlflow-artifacts/"
/* The authorization columns (server.h, authz.c): the resource the route
 * touches, the permission it needs there and how that need is refined. */
#define A(res, need, az) RES_##res, MT_PERM_##need, (az)

const struct mt_route mt_routes[] = {
	{ "GET",  MLF "artifacts/list",                    api_artifacts_list_run,      0, A(RUN, READ, 0) },
	{ "GET",  MLF "experiments/get",                   api_experiments_get,         0, A(EXPERIMENT, READ, 0) },
	{ "GET",  MLF "experiments/get-by-name",           api_experiments_get_by_name, 0, A(EXPERIMENT_NAME, READ, 0) },
	{ "POST", MLF "experiments/permissions/create",    api_users_exp_perm_create,   R_BODY | R_TXN, A(EXPERIMENT, MANAGE, AZ_UNSCOPED) },
	{ "DELETE", MLF "experiments/permissions/delete",  api_users_exp_perm_delete,   R_BODY | R_TXN, A(EXPERIMENT, MANAGE, AZ_UNSCOPED) },
	{ "GET",  MLF "experiments/permissions/get",       api_users_exp_perm_get,      0, A(EXPERIMENT, MANAGE, AZ_UNSCOPED) },
	{ "PATCH", MLF "experiments/permissions/update",   api_users_exp_perm_update,   R_BODY | R_TXN, A(EXPERIMENT, MANAGE, AZ_UNSCOPED) },
	{ "POST", MLF "experiments/create",                api_experiments_create,      R_BODY | R_TXN, A(ANY, NONE, AZ_UNSCOPED | AZ_CREATOR) },
	{ "POST", MLF "experiments/delete",                api_experiments_delete,      R_BODY | R_TXN, A(EXPERIMENT, MANAGE, 0) },
	{ "POST", MLF "experiments/restore",               api_experiments_restore,     R_BODY | R_TXN, A(EXPERIMENT, MANAGE, 0) },
	{ "GET",  MLF "experiments/search",                api_experiments_search,      0, A(SEARCH, NONE, 0) },
	{ "POST", MLF "experiments/search",                api_experiments_search,      R_BODY, A(SEARCH, NONE, 0) },
	{ "POST", MLF "experiments/search-datasets",       api_ui_search_datasets,      R_BODY, A(SEARCH, NONE, 0) },
	{ "POST", MLF "experiments/set-experiment-tag",    api_experiments_set_tag,     R_BODY | R_TXN, A(EXPERIMENT, EDIT, 0) },
	{ "POST", MLF "experiments/update",                api_experiments_update,      R_BODY | R_TXN, A(EXPERIMENT, MANAGE, 0) },
	{ "GET",  MLF "metrics/get-history",               api_metrics_get_history,     R_RAW, A(RUN, READ, 0) },
	{ "GET",  MLF "metrics/get-history-bulk",          api_ui_history_bulk,         0, A(RUNS, READ, 0) },
	{ "GET",  MLF "metrics/get-history-bulk-interval", api_metrics_bulk_interval,   0, A(RUNS, READ, 0) },
	{ "POST", MLF "logged-models",                     api_lm_create,               R_BODY | R_TXN, A(EXPERIMENT, EDIT, 0) },
	{ "POST", MLF "logged-models/search",              api_lm_search,               R_BODY, A(SEARCH, NONE, 0) },
	{ "DELETE", MLF "logged-models/{model_id}",        api_lm_delete,               R_BODY | R_TXN, A(LOGGED_MODEL, MANAGE, 0) },
	{ "GET",  MLF "logged-models/{model_id}",          api_lm_get,                  0, A(LOGGED_MODEL, READ, 0) },
	{ "PATCH", MLF "logged-models/{model_id}",         api_lm_finalize,             R_BODY | R_TXN, A(LOGGED_MODEL, EDIT, 0) },
	{ "GET",  MLF "logged-models/{model_id}/artifacts/directories", api_lm_list_artifacts, 0, A(LOGGED_MODEL, READ, 0) },
	{ "POST", MLF "logged-models/{model_id}/params",   api_lm_log_params,           R_BODY | R_TXN, A(LOGGED_MODEL, EDIT, 0) },
	{ "PATCH", MLF "logged-models/{model_id}/tags",    api_lm_set_tags,             R_BODY | R_TXN, A(LOGGED_MODEL, EDIT, 0) },
	{ "DELETE", MLF "logged-models/{model_id}/tags/{tag_key}", api_lm_delete_tag,   R_BODY | R_TXN, A(LOGGED_MODEL, EDIT, 0) },
	{ "POST", MLF "model-versions/create",             api_model_versions_create,   R_BODY | R_TXN, A(MODEL, EDIT, AZ_PROMOTE | AZ_LINKS) },
	{ "DELETE", MLF "model-versions/delete",           api_model_versions_delete,   R_BODY | R_TXN, A(MODEL, MANAGE, 0) },
	{ "DELETE", MLF "model-versions/delete-tag",       api_model_versions_delete_tag, R_BODY | R_TXN, A(MODEL, MANAGE, 0) },
	{ "GET",  MLF "model-versions/get",                api_model_versions_get,      0, A(MODEL, READ, 0) },
	{ "GET",  MLF "model-versions/get-download-uri",   api_model_versions_download_uri, 0, A(MODEL, READ, 0) },
	{ "GET",  MLF "model-versions/search",             api_model_versions_search,   0, A(SEARCH, NONE, 0) },
	{ "POST", MLF "model-versions/set-tag",            api_model_versions_set_tag,  R_BODY | R_TXN, A(MODEL, EDIT, AZ_PROMOTE) },
	{ "POST", MLF "model-versions/transition-stage",   api_model_versions_transition, R_BODY, A(MODEL, EDIT, AZ_PROMOTE | AZ_STAGE) }, /* own txn */
	{ "PATCH", MLF "model-versions/update",            api_model_versions_update,   R_BODY | R_TXN, A(MODEL, EDIT, AZ_PROMOTE) },
	{ "DELETE", MLF "registered-models/alias",         api_reg_alias_delete,        R_BODY, A(MODEL, MANAGE, 0) }, /* own txn */
	{ "GET",  MLF "registered-models/alias",           api_reg_alias_get,           0, A(MODEL, READ, 0) },
	{ "POST", MLF "registered-models/alias",           api_reg_alias_set,           R_BODY, A(MODEL, EDIT, 0) }, /* own txn */
	{ "POST", MLF "registered-models/create",          api_reg_models_create,       R_BODY | R_TXN, A(MODEL_NEW, EDIT, AZ_CREATOR) },
	{ "DELETE", MLF "registered-models/delete",        api_reg_models_delete,       R_BODY | R_TXN, A(MODEL, MANAGE, 0) },
	{ "DELETE", MLF "registered-models/delete-tag",    api_reg_models_delete_tag,   R_BODY | R_TXN, A(MODEL, EDIT, 0) },
	{ "GET",  MLF "registered-models/get",             api_reg_models_get,          0, A(MODEL, READ, 0) },
	{ "GET",  MLF "registered-models/get-latest-versions", api_reg_models_latest_versions, 0, A(MODEL, READ, 0) },
	{ "POST", MLF "registered-models/get-latest-versions", api_reg_models_latest_versions, R_BODY, A(MODEL, READ, 0) },
	{ "POST", MLF "registered-models/permissions/create", api_users_model_perm_create, R_BODY | R_TXN, A(MODEL, MANAGE, AZ_UNSCOPED) },
	{ "DELETE", MLF "registered-models/permissions/delete", api_users_model_perm_delete, R_BODY | R_TXN, A(MODEL, MANAGE, AZ_UNSCOPED) },
	{ "GET",  MLF "registered-models/permissions/get", api_users_model_perm_get,    0, A(MODEL, MANAGE, AZ_UNSCOPED) },
	{ "PATCH", MLF "registered-models/permissions/update", api_users_model_perm_update, R_BODY | R_TXN, A(MODEL, MANAGE, AZ_UNSCOPED) },
	{ "POST", MLF "registered-models/rename",          api_reg_models_rename,       R_BODY | R_TXN, A(MODEL, MANAGE, 0) },
	{ "GET",  MLF "registered-models/search",          api_reg_models_search,       0, A(SEARCH, NONE, 0) },
	{ "POST", MLF "registered-models/set-tag",         api_reg_models_set_tag,      R_BODY | R_TXN, A(MODEL, EDIT, 0) },
	{ "PATCH", MLF "registered-models/update",         api_reg_models_update,       R_BODY | R_TXN, A(MODEL, EDIT, 0) },
	{ "POST", MLF "runs/create",                       api_runs_create,             R_BODY | R_TXN, A(EXPERIMENT, EDIT, AZ_EXP0) },
	{ "POST", MLF "runs/create-promptlab-run",         api_ui_promptlab_run,        R_BODY, A(EXPERIMENT, EDIT, 0) }, /* own txns */
	{ "POST", MLF "runs/delete",                       api_runs_delete,             R_BODY | R_TXN, A(RUN, MANAGE, 0) },
	{ "POST", MLF "runs/delete-tag",                   api_runs_delete_tag,         R_BODY | R_TXN, A(RUN, EDIT, 0) },
	{ "GET",  MLF "runs/get",                          api_runs_get,                0, A(RUN, READ, 0) },
	{ "POST", MLF "runs/log-batch",                    api_runs_log_batch,          R_BODY | R_TXN, A(RUN, EDIT, AZ_MODEL_REFS) },
	{ "POST", MLF "runs/log-inputs",                   api_runs_log_inputs,         R_BODY | R_TXN, A(RUN, EDIT, 0) },
	{ "POST", MLF "runs/log-metric",                   api_runs_log_metric,         R_BODY, A(RUN, EDIT, AZ_MODEL_REFS) }, /* one statement */
	{ "POST", MLF "runs/log-model",                    api_runs_log_model,          R_BODY | R_TXN, A(RUN, EDIT, 0) },
	{ "POST", MLF "runs/log-parameter",                api_runs_log_parameter,      R_BODY | R_TXN, A(RUN, EDIT, 0) },
	{ "POST", MLF "runs/outputs",                      api_runs_log_outputs,        R_BODY | R_TXN, A(RUN, EDIT, AZ_MODEL_REFS) },
	{ "POST", MLF "runs/restore",                      api_runs_restore,            R_BODY | R_TXN, A(RUN, MANAGE, 0) },
	{ "POST", MLF "runs/search",                       api_runs_search,             R_BODY | R_RAW, A(SEARCH, NONE, 0) },
	{ "POST", MLF "runs/set-tag",                      api_runs_set_tag,            R_BODY | R_TXN, A(RUN, EDIT, 0) },
	{ "POST", MLF "runs/update",                       api_runs_update,             R_BODY | R_TXN, A(RUN, EDIT, 0) },
	{ "POST", MLF "upload-artifact",                   api_ui_upload_artifact,      R_STREAM | R_RAW, A(RUN, EDIT, 0) }, /* own txn */
	{ "POST", MLF "users/create",                      api_users_create,            R_BODY, A(ADMIN, NONE, 0) }, /* own txn */
	{ "DELETE", MLF "users/delete",                    api_users_delete,            R_BODY | R_TXN, A(ADMIN, NONE, 0) },
	{ "GET",  MLF "users/get",                         api_users_get,               0, A(USER, NONE, AZ_SELF) },
	{ "PATCH", MLF "users/update-admin",               api_users_update_admin,      R_BODY | R_TXN, A(ADMIN, NONE, 0) },
	{ "PATCH", MLF "users/update-password",            api_users_update_password,   R_BODY, A(USER, NONE, AZ_SELF | AZ_PASSWORD) }, /* own txn */
	{ "GET",  MLF "webhooks",                          api_webhooks_list,           0, A(ADMIN, NONE, 0) },
	{ "POST", MLF "webhooks",                          api_webhooks_create,         R_BODY | R_TXN, A(ADMIN, NONE, 0) },
	{ "DELETE", MLF "webhooks/{webhook_id}",           api_webhooks_delete,         R_BODY | R_TXN, A(ADMIN, NONE, 0) },
	{ "GET",  MLF "webhooks/{webhook_id}",             api_webhooks_get,            0, A(ADMIN, NONE, 0) },
	{ "PATCH", MLF "webhooks/{webhook_id}",            api_webhooks_update,         R_BODY | R_TXN, A(ADMIN, NONE, 0) },
	{ "POST", MLF "webhooks/{webhook_id}/test",        api_webhooks_test,           R_BODY, A(ADMIN, NONE, 0) },
	{ "GET",  ART "artifacts",                         api_artifacts_list,          0, A(ARTIFACT, READ, 0) },
	{ "DELETE", ART "artifacts/",                      api_artifacts_delete,        R_PREFIX | R_TXN, A(ARTIFACT, EDIT, 0) },
	{ "GET",  ART "artifacts/",                        api_artifacts_get,           R_PREFIX | R_RAW, A(ARTIFACT, READ, 0) },
	{ "PUT",  ART "artifacts/",                        api_artifacts_put,           R_PREFIX | R_STREAM, A(ARTIFACT, EDIT, 0) }, /* own txn */
	{ "POST", ART "mpu/abort/",                        api_artifacts_mpu,           R_PREFIX, A(ARTIFACT, EDIT, 0) },
	{ "POST", ART "mpu/complete/",                     api_artifacts_mpu,           R_PREFIX, A(ARTIFACT, EDIT, 0) },
	{ "POST", ART "mpu/create/",                       api_artifacts_mpu,           R_PREFIX, A(ARTIFACT, EDIT, 0) },
	{ "GET",  EXT "auth/permission",                   api_authz_permission,        0, A(ANY, NONE, 0) },
	{ "DELETE", EXT "auth/session",                    api_session_logout,          0, A(ANY, NONE, 0) },
	{ "POST", EXT "auth/session",                      api_session_login,           R_PUBLIC | R_BODY, A(PUBLIC, NONE, 0) },
	{ "POST", EXT "auth/tokens/create",                api_auth_tokens_create,      R_BODY, A(ANY, NONE, AZ_PASSWORD) },
	{ "GET",  EXT "auth/tokens/list",                  api_auth_tokens_list,        0, A(ANY, NONE, AZ_UNSCOPED) },
	{ "POST", EXT "auth/tokens/revoke",                api_auth_tokens_revoke,      R_BODY, A(TOKEN, NONE, 0) },
	{ "GET",  EXT "auth/whoami",                       api_auth_whoami,             0, A(ANY, NONE, 0) },
	{ "PUT",  EXT "bundles/",                          api_bundles_put,             R_PREFIX | R_STREAM, A(BUNDLE, NONE, 0) }, /* own txn */
	{ "GET",  EXT "experiments/summary",               api_web_experiments_summary, 0, A(SEARCH, NONE, 0) },
	{ "POST", EXT "gates/check",                       api_gates_check,             R_BODY | R_TXN, A(MODEL, READ, 0) },
	{ "GET",  EXT "gates/get",                         api_gates_get,               0, A(MODEL, READ, 0) },
	{ "POST", EXT "gates/set",                         api_gates_set,               R_BODY | R_TXN, A(MODEL, MANAGE, 0) },
	{ "GET",  EXT "metrics/get-history-sampled",       api_metrics_sampled,         0, A(RUN, READ, 0) },
	{ "GET",  EXT "model-versions/get",                api_gates_version_get,       0, A(MODEL, READ, 0) },
	{ "POST", EXT "model-versions/transition-stage",   api_gates_transition,        R_BODY, A(MODEL, EDIT, AZ_PROMOTE | AZ_STAGE | AZ_FORCE) }, /* own txn */
	{ "GET",  EXT "model-versions/transitions",        api_gates_transitions,       0, A(MODEL, READ, 0) },
	{ "GET",  EXT "monitor/alert-rules/get",           api_monitor_alert_rules_get, 0, A(MODEL, READ, 0) },
	{ "POST", EXT "monitor/alert-rules/set",           api_monitor_alert_rules_set, R_BODY | R_TXN, A(MODEL, MANAGE, 0) },
	{ "POST", EXT "monitor/alerts/acknowledge",        api_monitor_alerts_ack,      R_BODY | R_TXN, A(MODEL, EDIT, 0) },
	{ "GET",  EXT "monitor/alerts/list",               api_monitor_alerts_list,     0, A(MODEL, READ, 0) },
	{ "GET",  EXT "monitor/get",                       api_monitor_get,             0, A(MODEL, READ, 0) },
	{ "POST", EXT "monitor/log",                       api_monitor_log,             R_BODY | R_TXN, A(MODEL, EDIT, 0) },
	{ "GET",  EXT "monitor/reference",                 api_monitor_reference,       0, A(MODEL, READ, 0) },
	{ "DELETE", EXT "registered-models/alias",         api_gates_alias_delete,      R_BODY, A(MODEL, MANAGE, 0) }, /* own txn */
	{ "POST", EXT "registered-models/alias",           api_gates_alias_set,         R_BODY, A(MODEL, EDIT, AZ_FORCE) }, /* own txn */
	{ "GET",  EXT "registered-models/history",         api_gates_history,           0, A(MODEL, READ, 0) },
	{ "GET",  "/get-artifact",                         api_ui_get_artifact,         R_RAW, A(RUN, READ, 0) },
	{ "GET",  "/health",                               api_health,                  R_PUBLIC | R_NODB | R_RAW, A(PUBLIC, NONE, 0) },
	{ "GET",  "/healthz",                              api_healthz,                 R_PUBLIC | R_NODB, A(PUBLIC, NONE, 0) },
	{ "GET",  "/metrics",                              api_metrics,                 R_NODB | R_RAW, A(ANY, NONE, 0) },
	{ "GET",  "/model-versions/get-artifact",          api_ui_model_version_artifact, R_RAW, A(MODEL, READ, 0) },
	{ "GET",  "/readyz",                               api_readyz,                  R_PUBLIC | R_NODB | R_RAW, A(PUBLIC, NONE, 0) },
	{ "POST", EXT "webhooks/redeliver",                api_webhooks_redeliver,      R_BODY | R_TXN, A(ADMIN, NONE, 0) },
	{ "GET",  EXT "webhooks/{webhook_id}/deliveries",  api_webhooks_deliveries,     0, A(ADMIN, NONE, 0) },
	{ "GET",  "/version",                              api_version,                 R_PUBLIC | R_NODB | R_RAW, A(PUBLIC, NONE, 0) },
};

const size_t mt_routes_count = sizeof(mt_routes) / sizeof(mt_routes[0]);

int route_public(const struct mt_route *r)
{
	return (r->flags & R_PUBLIC) != 0;
}

/* A route path with "{name}" segments (MLflow's path parameters, e.g.
 * logged-models/{model_id}/tags/{tag_key}): each matches one non-empty
 * segment; *subpath is the path from the first of them on. */
static int pattern_match(const char *pat, const char *path, const char **subpath)
{
	*subpath = NULL;
	while (*pat) {
		if (*pat == '{') {
			size_t n = strcspn(path, "/");

			if (n == 0)
				return 0;
			if (!*subpath)
				*subpath = path;
			path += n;
			pat = strchr(pat, '}');
			pat = pat ? pat + 1 : "";
			continue;
		}
		if (*pat != *path)
			return 0;
		pat++;
		path++;
	}
	return *path == '\0';
}

static int path_match(const struct mt_route *r, const char *path, const char **subpath)
{
	size_t n = strlen(r->path);

	if (strchr(r->path, '{'))
		return pattern_match(r->path, path, subpath);
	if (r->flags & R_PREFIX) {
		if (strncmp(path, r->path, n) != 0)
			return 0;
		*subpath = path + n;
		return 1;
	}
	return strcmp(path, r->path) == 0;
}

const struct mt_route *routes_lookup(const char *method, const char *path,
				     int *path_found, const char **subpath)
{
	*path_found = 0;
	for (size_t i = 0; i < mt_routes_count; i++) {
		const struct mt_route *r = &mt_routes[i];

		if (!path_match(r, path, subpath))
			continue;
		*path_found = 1;
		if (strcmp(r->method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
			return r;
	}
	return NULL;
}

void routes_allow(const char *path, char *buf, size_t size)
{
	const char *sub;
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < mt_routes_count; i++) {
		if (!path_match(&mt_routes[i], path, &sub))
			continue;
		if (len + strlen(mt_routes[i].method) + 3 >= size)
			break;
		len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "",
					mt_routes[i].method);
	}
}
