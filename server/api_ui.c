/*
 * api_ui.c: the routes MLflow's server registers outside its RPC tables
 * for its web UI (mlflow/server/__init__.py and handlers.py, 2.9.2 to
 * 3.10; MLFLOW-3X.md §5.2), with MLflow's parameters, limits and texts:
 *
 *   GET  /ajax-api/2.0/mlflow/metrics/get-history-bulk
 *   POST /ajax-api/2.0/mlflow/experiments/search-datasets
 *   POST /ajax-api/2.0/mlflow/runs/create-promptlab-run
 *   POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=&path=  (raw body)
 *   GET  /get-artifact?run_id=|run_uuid=&path=
 *   GET  /model-versions/get-artifact?name=&version=&path=
 *
 * The first four are in the route table under /api/2.0/mlflow/ like every
 * MLflow route (the dispatcher maps /ajax-api/ onto it), so both prefixes
 * answer; MLflow serves them under /ajax-api/ only.  Downloads go through
 * the artifact proxy's GET (api_artifacts_get: its headers, ranges and
 * digest check), uploads through its two-phase store (art_upload_*).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "api_common.h"
#include "api_registry.h"
#include "mt_json.h"
#include "mt_limits.h"
#include "mt_path.h"
#include "mt_util.h"
#include "mt_validate.h"
#include "sql_metrics.h"
#include "sql_registry.h"
#include "sql_runs.h"

#define BULK_MAX_RESULTS      25000 /* MLflow's MAX_HISTORY_RESULTS */
#define DATASETS_MAX_EXP_IDS  20
#define UPLOAD_MAX            (10 * 1024 * 1024)

/* The store path of `path` under a run's or version's artifact URI, or
 * NULL when the URI is not one of this server's (mlflow-artifacts:/...). */
static const char *store_rel(struct mt_req *req, const char *uri, const char *path)
{
	const char *root;

	if (strncmp(uri, "mlflow-artifacts:", 17) != 0)
		return NULL;
	root = uri + 17;
	if (strncmp(root, "//", 2) == 0 && strchr(root + 2, '/'))
		root = strchr(root + 2, '/');
	while (*root == '/')
		root++;
	return *root ? mt_arena_printf(req->arena, "%s/%s", root, path) : path;
}

/* MLflow's validate_path_is_safe: a relative path without ".." or "#".
 * Its one message, "Invalid path". */
static int safe_path(struct mt_req *req, const char *in, char *out)
{
	if (mt_path_normalise(out, in, strlen(in), 0, &req->err) == 0)
		return 0;
	return mt_err_set(&req->err, MT_EINVAL, "Invalid path");
}

static int elsewhere(struct mt_req *req, const char *uri)
{
	return mt_err_set(&req->err, MT_ENOTFOUND,
			  "The artifacts at '%s' are not stored by this server", uri);
}

/* ---- GET metrics/get-history-bulk ---- */

int api_ui_history_bulk(struct mt_req *req)
{
	const char **ids;
	size_t n;
	const char *key;
	long long max = BULK_MAX_RESULTS;
	int has_max;
	json_t *list;

	if (mt_json_str_list(&ids, &n, req->body, "run_id", req->arena, &req->err))
		return -1;
	if (n == 0)
		return mt_err_set(&req->err, MT_EINVAL,
				  "GetMetricHistoryBulk request must specify at least one run_id.");
	if (n > MT_BULK_MAX_RUN_IDS)
		return mt_err_set(&req->err, MT_EINVAL,
				  "GetMetricHistoryBulk request cannot specify more than %d run_ids. "
				  "Received %zu run_ids.", MT_BULK_MAX_RUN_IDS, n);
	if (req_opt_str(req, "metric_key", &key))
		return -1;
	if (!key)
		return mt_err_set(&req->err, MT_EINVAL,
				  "GetMetricHistoryBulk request must specify a metric_key.");
	if (mt_json_opt_i64(&max, &has_max, req->body, "max_results", &req->err))
		return -1;
	if (!has_max)
		max = BULK_MAX_RESULTS;
	if (max < 0)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value %lld for parameter 'max_results' supplied.", max);
	if (max > BULK_MAX_RESULTS)
		max = BULK_MAX_RESULTS;
	list = req_own(req, json_array());
	if (sql_metrics_history_bulk(req, ids, n, key, max, list, &req->err))
		return -1;
	/* MLflow answers a plain dict here: the list even when empty. */
	json_object_set(req_resp(req), "metrics", list);
	return 0;
}

/* ---- POST experiments/search-datasets ---- */

int api_ui_search_datasets(struct mt_req *req)
{
	const char **ids;
	size_t n, keep = 0;
	json_t *list;

	if (mt_json_str_list(&ids, &n, req->body, "experiment_ids", req->arena, &req->err))
		return -1;
	if (n == 0)
		return mt_err_set(&req->err, MT_EINVAL,
				  "SearchDatasets request must specify at least one experiment_id.");
	if (n > DATASETS_MAX_EXP_IDS)
		return mt_err_set(&req->err, MT_EINVAL,
				  "SearchDatasets request cannot specify more than %d experiment_ids. "
				  "Received %zu experiment_ids.", DATASETS_MAX_EXP_IDS, n);
	for (size_t i = 0; i < n; i++) { /* an id that is no number names nothing */
		size_t len = strlen(ids[i]);

		if (len && len <= 18 && strspn(ids[i], "0123456789") == len)
			ids[keep++] = ids[i];
	}
	if (keep == 0)
		return 0;
	list = req_own(req, json_array());
	if (sql_runs_dataset_summaries(req, ids, keep, list, &req->err))
		return -1;
	if (json_array_size(list))
		json_object_set(req_resp(req), "dataset_summaries", list);
	return 0;
}

/* ---- POST runs/create-promptlab-run ---- */

/* Python's str() of a JSON scalar, as MLflow stores a parameter value. */
static const char *py_str(struct mt_req *req, json_t *v)
{
	char *s;
	const char *out;

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_true(v))
		return "True";
	if (json_is_false(v))
		return "False";
	if (!v || json_is_null(v))
		return "None";
	if (json_is_real(v)) { /* repr(): the shortest text that reads back */
		double d = json_real_value(v);
		char buf[40];

		for (int prec = 1; prec <= 17; prec++) {
			snprintf(buf, sizeof(buf), "%.*g", prec, d);
			if (strtod(buf, NULL) == d)
				break;
		}
		if (!strpbrk(buf, ".e"))
			strcat(buf, ".0");
		return mt_arena_strdup(req->arena, buf);
	}
	s = json_dumps(v, JSON_ENCODE_ANY);
	out = mt_arena_strdup(req->arena, s ? s : "");
	free(s);
	return out;
}

/* A [{key, value}] list as MLflow's handler reads it: keys kept, values
 * through str().  Copies into the arena; anything else is 400. */
static int kv_params(struct mt_req *req, json_t *arr, const char *field, json_t **out)
{
	size_t i;
	json_t *p;

	*out = req_own(req, json_array());
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value for parameter '%s': expected a list", field);
	json_array_foreach(arr, i, p) {
		json_t *k = json_is_object(p) ? json_object_get(p, "key") : NULL;

		if (!json_is_string(k))
			return mt_err_set(&req->err, MT_EINVAL,
					  "Missing value for required parameter '%s[%zu].key'.", field, i);
		json_array_append_new(*out, json_pack("{s:O,s:s}", "key", k, "value",
						      py_str(req, json_object_get(p, "value"))));
	}
	return 0;
}

/* MLflow's "if not arg": absent, null, "", 0, false, [] and {} are missing. */
static int promptlab_required(struct mt_req *req, const char *field)
{
	json_t *v = json_object_get(req->body, field);
	int empty = !v || json_is_null(v) || json_is_false(v) ||
		    (json_is_string(v) && json_string_length(v) == 0) ||
		    (json_is_integer(v) && json_integer_value(v) == 0) ||
		    (json_is_real(v) && json_real_value(v) == 0) ||
		    (json_is_array(v) && json_array_size(v) == 0) ||
		    (json_is_object(v) && json_object_size(v) == 0);

	if (empty)
		return mt_err_set(&req->err, MT_EINVAL,
				  "CreatePromptlabRun request must specify %s.", field);
	return 0;
}

/* datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S.%f") */
static void utc_time_created(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char sec[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out, size, "%.20s.%06d", sec, (int)(ts.tv_nsec / 1000 % 1000000));
}

struct promptlab {
	json_t *create, *batch, *model; /* bodies for the runs handlers */
	const char *run_id;
};

/* One transaction: the run, its parameters and tags, the logged model. */
static int promptlab_run(struct mt_req *req, void *arg)
{
	struct promptlab *p = arg;
	json_t *saved = req->body;
	int rc;

	req->resp = NULL;
	req->body = p->create;
	rc = api_runs_create(req);
	if (rc == 0) {
		json_t *info = json_object_get(json_object_get(req->resp, "run"), "info");

		p->run_id = mt_arena_strdup(req->arena,
					    json_string_value(json_object_get(info, "run_id")));
		json_object_set_new(p->batch, "run_id", json_string(p->run_id));
		req->body = p->batch;
		rc = api_runs_log_batch(req);
	}
	if (rc == 0) {
		/* Model(artifact_path="model", run_id, utc_time_created) as a
		 * 2.16+ client sends it (get_tags_dict): no flavors yet. */
		char now[64], uuid[33];

		rc = mt_random_hex32(uuid, &req->err);
		if (rc == 0) {
			json_t *m;
			char *text;

			utc_time_created(now, sizeof(now));
			m = json_pack("{s:s,s:s,s:s,s:s,s:{}}", "run_id", p->run_id, "artifact_path",
				      "model", "utc_time_created", now, "model_uuid", uuid, "flavors");
			text = m ? json_dumps(m, 0) : NULL;
			json_decref(m);
			p->model = req_own(req, json_pack("{s:s,s:s}", "run_id", p->run_id,
							  "model_json", text ? text : "{}"));
			free(text);
			req->body = p->model;
			rc = api_runs_log_model(req);
		}
	}
	req->body = saved;
	req->resp = NULL;
	return rc;
}

/* The evaluation table MLflow writes (promptlab_utils.create_eval_results_json). */
static json_t *eval_table(json_t *prompt_params, json_t *input, json_t *output,
			  json_t *output_params)
{
	json_t *cols = json_array(), *row = json_array(), *p;
	size_t i;

	json_array_foreach(prompt_params, i, p) {
		json_array_append(cols, json_object_get(p, "key"));
		json_array_append(row, json_object_get(p, "value"));
	}
	json_array_append_new(cols, json_string("prompt"));
	json_array_append_new(cols, json_string("output"));
	json_array_append(row, input);
	json_array_append(row, output && !json_is_null(output) ? output : json_null());
	json_array_foreach(output_params, i, p) {
		json_array_append(cols, json_object_get(p, "key"));
		json_array_append(row, json_object_get(p, "value"));
	}
	return json_pack("{s:o,s:[o]}", "columns", cols, "data", row);
}

static int finish_run(struct mt_req *req, void *arg)
{
	json_t *saved = req->body;
	int rc;

	req->body = arg;
	rc = api_runs_update(req);
	req->body = saved;
	req->resp = NULL;
	return rc;
}

int api_ui_promptlab_run(struct mt_req *req)
{
	static const char *const required[] = { "experiment_id", "prompt_template",
						"prompt_parameters", "model_route", "model_input",
						"mlflow_version" };
	struct promptlab p = { 0 };
	json_t *b = req->body, *prompt_params, *model_params, *output_params, *params, *run;
	json_t *table;
	const char *user, *name, *rel, *status = "FINISHED";
	long long start;
	int has_start;
	char *text;
	struct upload *up;

	for (size_t i = 0; i < sizeof(required) / sizeof(*required); i++)
		if (promptlab_required(req, required[i]))
			return -1;
	if (kv_params(req, json_object_get(b, "prompt_parameters"), "prompt_parameters",
		      &prompt_params) ||
	    kv_params(req, json_object_get(b, "model_parameters"), "model_parameters",
		      &model_params) ||
	    kv_params(req, json_object_get(b, "model_output_parameters"),
		      "model_output_parameters", &output_params) ||
	    req_opt_str(req, "user_id", &user) || req_opt_str(req, "run_name", &name) ||
	    mt_json_opt_i64(&start, &has_start, b, "start_time", &req->err))
		return -1;
	if (!json_is_string(json_object_get(b, "prompt_template")) ||
	    !json_is_string(json_object_get(b, "model_route")) ||
	    !json_is_string(json_object_get(b, "model_input")))
		return mt_err_set(&req->err, MT_EINVAL, "CreatePromptlabRun request fields "
				  "prompt_template, model_route and model_input must be strings.");

	p.create = req_own(req, json_pack("{s:O,s:s,s:I}", "experiment_id",
					  json_object_get(b, "experiment_id"), "user_id",
					  user ? user : "unknown", "start_time",
					  (json_int_t)(has_start ? start : mt_now_ms())));
	if (name)
		json_object_set_new(p.create, "run_name", json_string(name));
	if (json_object_get(b, "tags"))
		json_object_set(p.create, "tags", json_object_get(b, "tags"));
	params = json_deep_copy(model_params);
	json_array_append_new(params, json_pack("{s:s,s:O}", "key", "model_route", "value",
						json_object_get(b, "model_route")));
	json_array_append_new(params, json_pack("{s:s,s:O}", "key", "prompt_template", "value",
						json_object_get(b, "prompt_template")));
	p.batch = req_own(req, json_pack("{s:o,s:[{s:s,s:s},{s:s,s:s}]}", "params", params,
					 "tags", "key", "mlflow.loggedArtifacts", "value",
					 "[{\"path\": \"eval_results_table.json\", \"type\": \"table\"}]",
					 "key", "mlflow.runSourceType", "value", "PROMPT_ENGINEERING"));
	if (http_txn(req, promptlab_run, &p))
		return -1;

	/* The run exists from here on: as MLflow, a failure to store its
	 * artifact leaves it FAILED rather than undone. */
	if (sql_runs_info(req, p.run_id, &run, &req->err))
		return -1;
	table = req_own(req, eval_table(prompt_params, json_object_get(b, "model_input"),
					json_object_get(b, "model_output"), output_params));
	text = api_json_dumps_py(req, table);
	rel = store_rel(req, json_string_value(json_object_get(run, "artifact_uri")),
			"eval_results_table.json");
	up = art_upload_new(req, 0);
	if (!text || !rel || art_upload_bytes(req, up, text, strlen(text)) ||
	    art_upload_commit(req, up, rel)) {
		fprintf(stderr, "mltrackd: create-promptlab-run %s: eval table not stored: %s\n",
			p.run_id, req->err.msg);
		mt_err_clear(&req->err);
		status = "FAILED";
	}
	if (http_txn(req, finish_run,
		     req_own(req, json_pack("{s:s,s:s,s:I}", "run_id", p.run_id, "status", status,
					    "end_time", (json_int_t)mt_now_ms()))) ||
	    sql_runs_get(req, p.run_id, &run, &req->err))
		return -1;
	json_object_set(req_resp(req), "run", run);
	return 0;
}

/* ---- POST upload-artifact ---- */

static int is_form(const char *ctype)
{
	return ctype && (strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0 ||
			 strncasecmp(ctype, "multipart/form-data", 19) == 0);
}

int api_ui_upload_artifact(struct mt_req *req)
{
	char rel[MT_PATH_MAX + 1];
	const char *run_id, *path, *dest;
	long long cl = req->ri->content_length, size;
	int chunked = mg_get_header(req->conn, "Transfer-Encoding") != NULL;
	struct upload *t;
	json_t *info;

	if (req_opt_str(req, "run_uuid", &run_id))
		return -1;
	if (!run_id || !*run_id)
		return mt_err_set(&req->err, MT_EINVAL, "Request must specify run_uuid.");
	if (req_opt_str(req, "path", &path))
		return -1;
	if (!path || !*path)
		return mt_err_set(&req->err, MT_EINVAL, "Request must specify path.");
	if (safe_path(req, path, rel))
		return -1;
	if (cl > UPLOAD_MAX)
		return mt_err_set(&req->err, MT_EINVAL, "Artifact size is too large. Max size is 10MB.");
	/* Flask reads a form into request.form, leaving request.data empty. */
	if ((cl <= 0 && !chunked) || is_form(mg_get_header(req->conn, "Content-Type")))
		return mt_err_set(&req->err, MT_EINVAL, "Request must specify data.");
	t = art_upload_new(req, UPLOAD_MAX);
	if (art_upload_body(req, t, &size)) {
		if (req->err.code == MT_ETOOBIG)
			mt_err_set(&req->err, MT_EINVAL,
				   "Artifact size is too large. Max size is 10MB.");
		return -1;
	}
	if (size == 0)
		return mt_err_set(&req->err, MT_EINVAL, "Request must specify data.");
	/* The body is in: only now is a database connection needed. */
	if (mt_validate_run_id(run_id, &req->err) ||
	    sql_runs_info(req, run_id, &info, &req->err))
		return -1;
	dest = store_rel(req, json_string_value(json_object_get(info, "artifact_uri")), rel);
	if (!dest)
		return elsewhere(req, json_string_value(json_object_get(info, "artifact_uri")));
	if (art_upload_commit(req, t, dest))
		return -1;
	http_reply_text(req, 200, "application/json", "");
	return 0;
}

/* ---- GET /get-artifact and /model-versions/get-artifact ---- */

/* path, required and safe, into rel. */
static int path_arg(struct mt_req *req, char *rel)
{
	const char *path;

	if (req_opt_str(req, "path", &path))
		return -1;
	if (!path)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Missing value for required parameter 'path'.");
	return safe_path(req, path, rel);
}

static int send_from(struct mt_req *req, const char *uri, const char *rel)
{
	const char *dest = store_rel(req, uri, rel);

	if (!dest)
		return elsewhere(req, uri);
	req->subpath = dest;
	return api_artifacts_get(req);
}

int api_ui_get_artifact(struct mt_req *req)
{
	char rel[MT_PATH_MAX + 1];
	const char *run_id;
	json_t *info;

	if (path_arg(req, rel) || req_run_id(req, &run_id) ||
	    sql_runs_info(req, run_id, &info, &req->err))
		return -1;
	return send_from(req, json_string_value(json_object_get(info, "artifact_uri")), rel);
}

int api_ui_model_version_artifact(struct mt_req *req)
{
	char rel[MT_PATH_MAX + 1];
	const char *name, *version, *id, *uri;

	if (path_arg(req, rel) || reg_name_arg(req, "name", &name) ||
	    reg_version_arg(req, name, &version) ||
	    sql_reg_model_find(req, name, 0, &id, &req->err) ||
	    sql_reg_version_download_uri(req, id, name, version, &uri, &req->err))
		return -1;
	return send_from(req, uri, rel);
}
