/*
 * routes.c: THE route table (STYLE 2.3).  Every endpoint is one row: method,
 * path, handler and what the dispatcher must do for it.  Sorted by path, then
 * method.  /ajax-api/2.0/mlflow/... is mapped onto /api/2.0/mlflow/... by the
 * dispatcher, so the mirror needs no rows.  A "{name}" segment is MLflow's
 * path parameter: it matches one segment, and the handler finds it (and
 * those after it) in req->subpath.  schema/openapi.yaml documents
 * exactly these rows; tests/api/check_openapi.sh compares the two.
 */
#include <string.h>

#include "api.h"
#include "session.h"
#include "web.h"

#define MLF "/api/2.0/mlflow/"
#define EXT "/api/2.0/mltrack/"
#define ART "/api/2.0/mlflow-artifacts/"

const struct mt_route mt_routes[] = {
	{ "GET",  MLF "artifacts/list",                    api_artifacts_list_run,      R_READ },
	{ "GET",  MLF "experiments/get",                   api_experiments_get,         R_READ },
	{ "GET",  MLF "experiments/get-by-name",           api_experiments_get_by_name, R_READ },
	{ "POST", MLF "experiments/create",                api_experiments_create,      R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "experiments/delete",                api_experiments_delete,      R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "experiments/restore",               api_experiments_restore,     R_BODY | R_TXN | R_WRITE },
	{ "GET",  MLF "experiments/search",                api_experiments_search,      R_READ },
	{ "POST", MLF "experiments/search",                api_experiments_search,      R_BODY | R_READ },
	{ "POST", MLF "experiments/search-datasets",       api_ui_search_datasets,      R_BODY | R_READ },
	{ "POST", MLF "experiments/set-experiment-tag",    api_experiments_set_tag,     R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "experiments/update",                api_experiments_update,      R_BODY | R_TXN | R_WRITE },
	{ "GET",  MLF "metrics/get-history",               api_metrics_get_history,     R_READ | R_RAW },
	{ "GET",  MLF "metrics/get-history-bulk",          api_ui_history_bulk,         R_READ },
	{ "GET",  MLF "metrics/get-history-bulk-interval", api_metrics_bulk_interval,   R_READ },
	{ "POST", MLF "logged-models",                     api_lm_create,               R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "logged-models/search",              api_lm_search,               R_BODY | R_READ },
	{ "DELETE", MLF "logged-models/{model_id}",        api_lm_delete,               R_BODY | R_TXN | R_WRITE },
	{ "GET",  MLF "logged-models/{model_id}",          api_lm_get,                  R_READ },
	{ "PATCH", MLF "logged-models/{model_id}",         api_lm_finalize,             R_BODY | R_TXN | R_WRITE },
	{ "GET",  MLF "logged-models/{model_id}/artifacts/directories", api_lm_list_artifacts, R_READ },
	{ "POST", MLF "logged-models/{model_id}/params",   api_lm_log_params,           R_BODY | R_TXN | R_WRITE },
	{ "PATCH", MLF "logged-models/{model_id}/tags",    api_lm_set_tags,             R_BODY | R_TXN | R_WRITE },
	{ "DELETE", MLF "logged-models/{model_id}/tags/{tag_key}", api_lm_delete_tag,   R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "model-versions/create",             api_model_versions_create,   R_BODY | R_TXN | R_WRITE },
	{ "DELETE", MLF "model-versions/delete",           api_model_versions_delete,   R_BODY | R_TXN | R_WRITE },
	{ "DELETE", MLF "model-versions/delete-tag",       api_model_versions_delete_tag, R_BODY | R_TXN | R_WRITE },
	{ "GET",  MLF "model-versions/get",                api_model_versions_get,      R_READ },
	{ "GET",  MLF "model-versions/get-download-uri",   api_model_versions_download_uri, R_READ },
	{ "GET",  MLF "model-versions/search",             api_model_versions_search,   R_READ },
	{ "POST", MLF "model-versions/set-tag",            api_model_versions_set_tag,  R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "model-versions/transition-stage",   api_model_versions_transition, R_BODY | R_WRITE }, /* own txn */
	{ "PATCH", MLF "model-versions/update",            api_model_versions_update,   R_BODY | R_TXN | R_WRITE },
	{ "DELETE", MLF "registered-models/alias",         api_reg_alias_delete,        R_BODY | R_WRITE }, /* own txn */
	{ "GET",  MLF "registered-models/alias",           api_reg_alias_get,           R_READ },
	{ "POST", MLF "registered-models/alias",           api_reg_alias_set,           R_BODY | R_WRITE }, /* own txn */
	{ "POST", MLF "registered-models/create",          api_reg_models_create,       R_BODY | R_TXN | R_WRITE },
	{ "DELETE", MLF "registered-models/delete",        api_reg_models_delete,       R_BODY | R_TXN | R_WRITE },
	{ "DELETE", MLF "registered-models/delete-tag",    api_reg_models_delete_tag,   R_BODY | R_TXN | R_WRITE },
	{ "GET",  MLF "registered-models/get",             api_reg_models_get,          R_READ },
	{ "GET",  MLF "registered-models/get-latest-versions", api_reg_models_latest_versions, R_READ },
	{ "POST", MLF "registered-models/get-latest-versions", api_reg_models_latest_versions, R_BODY | R_READ },
	{ "POST", MLF "registered-models/rename",          api_reg_models_rename,       R_BODY | R_TXN | R_WRITE },
	{ "GET",  MLF "registered-models/search",          api_reg_models_search,       R_READ },
	{ "POST", MLF "registered-models/set-tag",         api_reg_models_set_tag,      R_BODY | R_TXN | R_WRITE },
	{ "PATCH", MLF "registered-models/update",         api_reg_models_update,       R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "runs/create",                       api_runs_create,             R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "runs/create-promptlab-run",         api_ui_promptlab_run,        R_BODY | R_WRITE }, /* own txns */
	{ "POST", MLF "runs/delete",                       api_runs_delete,             R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "runs/delete-tag",                   api_runs_delete_tag,         R_BODY | R_TXN | R_WRITE },
	{ "GET",  MLF "runs/get",                          api_runs_get,                R_READ },
	{ "POST", MLF "runs/log-batch",                    api_runs_log_batch,          R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "runs/log-inputs",                   api_runs_log_inputs,         R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "runs/log-metric",                   api_runs_log_metric,         R_BODY | R_WRITE }, /* one statement */
	{ "POST", MLF "runs/log-model",                    api_runs_log_model,          R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "runs/log-parameter",                api_runs_log_parameter,      R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "runs/outputs",                      api_runs_log_outputs,        R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "runs/restore",                      api_runs_restore,            R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "runs/search",                       api_runs_search,             R_BODY | R_READ },
	{ "POST", MLF "runs/set-tag",                      api_runs_set_tag,            R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "runs/update",                       api_runs_update,             R_BODY | R_TXN | R_WRITE },
	{ "POST", MLF "upload-artifact",                   api_ui_upload_artifact,      R_STREAM | R_RAW | R_WRITE }, /* own txn */
	{ "GET",  ART "artifacts",                         api_artifacts_list,          R_READ },
	{ "DELETE", ART "artifacts/",                      api_artifacts_delete,        R_PREFIX | R_TXN | R_WRITE },
	{ "GET",  ART "artifacts/",                        api_artifacts_get,           R_PREFIX | R_RAW | R_READ },
	{ "PUT",  ART "artifacts/",                        api_artifacts_put,           R_PREFIX | R_STREAM | R_WRITE }, /* own txn */
	{ "POST", ART "mpu/abort/",                        api_artifacts_mpu,           R_PREFIX | R_WRITE },
	{ "POST", ART "mpu/complete/",                     api_artifacts_mpu,           R_PREFIX | R_WRITE },
	{ "POST", ART "mpu/create/",                       api_artifacts_mpu,           R_PREFIX | R_WRITE },
	{ "DELETE", EXT "auth/session",                    api_session_logout,          R_READ },
	{ "POST", EXT "auth/session",                      api_session_login,           R_PUBLIC | R_BODY },
	{ "POST", EXT "auth/tokens/create",                api_auth_tokens_create,      R_BODY | R_READ },
	{ "GET",  EXT "auth/tokens/list",                  api_auth_tokens_list,        R_READ },
	{ "POST", EXT "auth/tokens/revoke",                api_auth_tokens_revoke,      R_BODY | R_READ },
	{ "GET",  EXT "auth/whoami",                       api_auth_whoami,             R_READ },
	{ "PUT",  EXT "bundles/",                          api_bundles_put,             R_PREFIX | R_STREAM | R_WRITE }, /* own txn */
	{ "GET",  EXT "experiments/summary",               api_web_experiments_summary, R_READ },
	{ "POST", EXT "gates/check",                       api_gates_check,             R_BODY | R_TXN | R_READ },
	{ "GET",  EXT "gates/get",                         api_gates_get,               R_READ },
	{ "POST", EXT "gates/set",                         api_gates_set,               R_BODY | R_TXN | R_WRITE },
	{ "GET",  EXT "metrics/get-history-sampled",       api_metrics_sampled,         R_READ },
	{ "GET",  EXT "model-versions/get",                api_gates_version_get,       R_READ },
	{ "POST", EXT "model-versions/transition-stage",   api_gates_transition,        R_BODY | R_WRITE }, /* own txn */
	{ "GET",  EXT "model-versions/transitions",        api_gates_transitions,       R_READ },
	{ "DELETE", EXT "registered-models/alias",         api_gates_alias_delete,      R_BODY | R_WRITE }, /* own txn */
	{ "POST", EXT "registered-models/alias",           api_gates_alias_set,         R_BODY | R_WRITE }, /* own txn */
	{ "GET",  EXT "registered-models/history",         api_gates_history,           R_READ },
	{ "GET",  "/get-artifact",                         api_ui_get_artifact,         R_RAW | R_READ },
	{ "GET",  "/health",                               api_health,                  R_PUBLIC | R_NODB | R_RAW },
	{ "GET",  "/healthz",                              api_healthz,                 R_PUBLIC | R_NODB },
	{ "GET",  "/metrics",                              api_metrics,                 R_NODB | R_RAW | R_READ },
	{ "GET",  "/model-versions/get-artifact",          api_ui_model_version_artifact, R_RAW | R_READ },
	{ "GET",  "/readyz",                               api_readyz,                  R_PUBLIC | R_NODB | R_RAW },
	{ "GET",  "/version",                              api_version,                 R_PUBLIC | R_NODB | R_RAW },
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
