/* api_runs.c: /api/2.0/mlflow/runs/... (MLFLOW-API.md §3, §7). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "webhooks.h"
#include "api_common.h"
#include "mt_filter.h"
#include "mt_json.h"
#include "mt_limits.h"
#include "mt_util.h"
#include "mt_validate.h"
#include "sql_experiments.h"
#include "sql_logged_models.h"
#include "sql_runs.h"

static const char *const statuses[] = { "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED" };

/* The run must exist (404) and be active (400): MLflow's rule for writes. */
static int require_active_run(struct mt_req *req, const char *run_id)
{
	const char *stage;

	if (sql_runs_stage(req, run_id, &stage, &req->err))
		return -1;
	return api_check_active(req, "run", run_id, stage);
}

/* The same, holding the run until the commit: before writing points;
 * *exp is the run's experiment (the partition its points go to). */
static int require_active_run_for_points(struct mt_req *req, const char *run_id,
					 const char **exp)
{
	const char *stage;

	if (sql_runs_stage_for_points(req, run_id, &stage, exp, &req->err))
		return -1;
	return api_check_active(req, "run", run_id, stage);
}

/* A list field of objects with key/value; parallel arena arrays out. */
static int kv_list(struct mt_req *req, json_t *arr, const char *what, const char ***keys,
		   const char ***values, size_t *n)
{
	size_t i;
	json_t *t;

	*n = 0;
	*keys = *values = NULL;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return mt_err_set(&req->err, MT_EINVAL, "Invalid value for parameter '%ss': expected a list", what);
	*keys = mt_arena_alloc(req->arena, sizeof(char *) * (json_array_size(arr) + 1));
	*values = mt_arena_alloc(req->arena, sizeof(char *) * (json_array_size(arr) + 1));
	json_array_foreach(arr, i, t) {
		if (!json_is_object(t))
			return mt_err_set(&req->err, MT_EINVAL, "Invalid %s at index %zu: expected an object",
					  what, i);
		if (mt_json_req_str(&(*keys)[i], t, "key", req->arena, &req->err) ||
		    mt_json_opt_str(&(*values)[i], t, "value", req->arena, &req->err))
			return -1;
		if (!(*values)[i])
			(*values)[i] = "";
	}
	*n = json_array_size(arr);
	return 0;
}

static int check_tag_list(struct mt_req *req, const char **keys, const char **values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (mt_validate_key("tag", keys[i], &req->err) ||
		    mt_validate_value_len("Tag", keys[i], values[i], MT_MAX_TAG_VALUE_LEN, &req->err))
			return -1;
	return 0;
}

/* Tags are last-write-wins: keep the last occurrence of each key, in order. */
static size_t dedupe_last(struct mt_arena *a, const char **keys, const char **values, size_t n)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		int later = 0;

		for (size_t j = i + 1; j < n && !later; j++)
			later = strcmp(keys[i], keys[j]) == 0;
		if (!later) {
			keys[out] = keys[i];
			values[out] = values[i];
			out++;
		}
	}
	(void)a;
	return out;
}

int api_runs_create(struct mt_req *req)
{
	struct run_new rn = { 0 };
	const char *exp_id = "0", *stage, *loc, *run_name, *tag_name = NULL;
	const char **keys, **values;
	size_t ntags;
	char id[33], gen[64];
	json_t *run, *v = json_object_get(req->body, "experiment_id");

	if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0) &&
	    api_exp_id(req, "experiment_id", &exp_id))
		return -1;
	if (req_opt_str(req, "run_name", &run_name) || req_opt_str(req, "user_id", &rn.user_id) ||
	    mt_json_opt_i64(&rn.start_time, &rn.has_start, req->body, "start_time", &req->err) ||
	    kv_list(req, json_object_get(req->body, "tags"), "tag", &keys, &values, &ntags) ||
	    check_tag_list(req, keys, values, ntags))
		return -1;
	if (run_name && strlen(run_name) > MT_MAX_RUN_NAME_LEN)
		return mt_err_set(&req->err, MT_EINVAL, "Run name exceeds %d characters",
				  MT_MAX_RUN_NAME_LEN);
	if (run_name && !mt_utf8_valid(run_name, strlen(run_name)))
		return mt_err_set(&req->err, MT_EINVAL, "Run name is not valid UTF-8");
	for (size_t i = 0; i < ntags; i++)
		if (strcmp(keys[i], "mlflow.runName") == 0)
			tag_name = values[i];
	if (run_name && *run_name && tag_name && strcmp(run_name, tag_name) != 0)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Both 'run_name' argument and 'mlflow.runName' tag are specified, but "
				  "with different values (run_name='%s', mlflow.runName='%s').",
				  run_name, tag_name);
	if (!run_name || !*run_name)
		run_name = tag_name && *tag_name ? tag_name : NULL;
	if (!run_name) {
		mt_run_name_generate(gen, sizeof(gen));
		run_name = gen;
	}
	if (sql_exp_stage(req, exp_id, &stage, &req->err) ||
	    sql_exp_artifact_location(req, exp_id, &loc, &req->err))
		return -1;
	if (api_check_active(req, "experiment", exp_id, stage))
		return -1;
	if (mt_random_hex32(id, &req->err))
		return -1;
	rn.run_id = id;
	rn.experiment_id = exp_id;
	rn.name = run_name;
	rn.artifact_uri = mt_arena_printf(req->arena, "%s%s%s/artifacts", loc,
					  loc[0] && loc[strlen(loc) - 1] == '/' ? "" : "/", id);
	/* mlflow.runName always mirrors the run's name. */
	{
		const char **k2 = mt_arena_alloc(req->arena, sizeof(char *) * (ntags + 1));
		const char **v2 = mt_arena_alloc(req->arena, sizeof(char *) * (ntags + 1));

		for (size_t i = 0; i < ntags; i++) {
			k2[i] = keys[i];
			v2[i] = values[i];
		}
		k2[ntags] = "mlflow.runName";
		v2[ntags] = run_name;
		ntags = dedupe_last(req->arena, k2, v2, ntags + 1);
		if (sql_runs_insert(req, &rn, &req->err) ||
		    sql_runs_set_tags(req, id, k2, v2, ntags, &req->err))
			return -1;
	}
	if (sql_runs_get(req, id, &run, &req->err))
		return -1;
	json_object_set(req_resp(req), "run", run);
	return 0;
}

int api_runs_get(struct mt_req *req)
{
	const char *id;
	json_t *run;

	if (req_run_id(req, &id) || sql_runs_get(req, id, &run, &req->err))
		return -1;
	json_object_set(req_resp(req), "run", run);
	return 0;
}

static int parse_status(struct mt_req *req, const char **out)
{
	json_t *v = json_object_get(req->body, "status");

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))
		goto bad;
	for (size_t i = 0; i < sizeof(statuses) / sizeof(*statuses); i++) {
		if ((json_is_string(v) && strcasecmp(json_string_value(v), statuses[i]) == 0) ||
		    (json_is_integer(v) && json_integer_value(v) == (json_int_t)i + 1)) {
			*out = statuses[i];
			return 0;
		}
	}
bad:
	return mt_err_set(&req->err, MT_EINVAL,
			  "Invalid value for parameter 'status': expected one of RUNNING, "
			  "SCHEDULED, FINISHED, FAILED, KILLED");
}

int api_runs_update(struct mt_req *req)
{
	const char *id, *status, *name, *end = NULL, *before;
	long long end_time;
	int has_end, ending;
	json_t *info;

	if (req_run_id(req, &id) || parse_status(req, &status) ||
	    mt_json_opt_i64(&end_time, &has_end, req->body, "end_time", &req->err) ||
	    req_opt_str(req, "run_name", &name))
		return -1;
	if (name && (strlen(name) > MT_MAX_RUN_NAME_LEN || !mt_utf8_valid(name, strlen(name))))
		return mt_err_set(&req->err, MT_EINVAL, "Invalid run name");
	if (name && !*name)
		name = NULL;
	if (has_end)
		end = mt_arena_printf(req->arena, "%lld", end_time);
	ending = status && (strcmp(status, "FINISHED") == 0 || strcmp(status, "FAILED") == 0 ||
			    strcmp(status, "KILLED") == 0);
	if (require_active_run(req, id) || (ending && sql_runs_info(req, id, &info, &req->err)))
		return -1;
	before = ending ? mt_arena_strdup(req->arena,
					  json_string_value(json_object_get(info, "status")))
			: NULL;
	if (sql_runs_update(req, id, status, end, name, &req->err) ||
	    sql_runs_info(req, id, &info, &req->err))
		return -1;
	/* A run that ends (FINISHED, FAILED, KILLED) is announced once, when
	 * its status changes to it, in this transaction. */
	if (ending && before && strcmp(status, before) != 0) {
		char action[16];
		size_t i;

		for (i = 0; status[i] && i < sizeof(action) - 1; i++)
			action[i] = (char)(status[i] - 'A' + 'a');
		action[i] = '\0';
		if (webhook_enqueue(req, "run", action, info, &req->err))
			return -1;
	}
	json_object_set(req_resp(req), "run_info", info);
	return 0;
}

static int set_stage(struct mt_req *req, const char *stage)
{
	const char *id, *cur;

	if (req_run_id(req, &id) || sql_runs_stage(req, id, &cur, &req->err))
		return -1;
	return sql_runs_set_stage(req, id, stage,
				  strcmp(stage, "deleted") == 0 ? mt_now_ms() : 0, &req->err);
}

int api_runs_delete(struct mt_req *req)
{
	return set_stage(req, "deleted");
}

int api_runs_restore(struct mt_req *req)
{
	return set_stage(req, "active");
}

/* MLflow 3's optional Metric fields: "" is unset (proto3 defaults), the
 * dataset fields bounded as MLflow's tables bound them. */
static int metric_extras(struct mt_req *req, json_t *o, const char **mi, const char **dn,
			 const char **dd)
{
	if (mt_json_opt_str(mi, o, "model_id", req->arena, &req->err) ||
	    mt_json_opt_str(dn, o, "dataset_name", req->arena, &req->err) ||
	    mt_json_opt_str(dd, o, "dataset_digest", req->arena, &req->err))
		return -1;
	if (*mi && !**mi)
		*mi = NULL;
	if (*dn && !**dn)
		*dn = NULL;
	if (*dd && !**dd)
		*dd = NULL;
	if (*dn && strlen(*dn) > MT_MAX_DATASET_NAME_LEN)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value for parameter 'dataset_name': longer than %d "
				  "characters", MT_MAX_DATASET_NAME_LEN);
	if (*dd && strlen(*dd) > MT_MAX_DATASET_DIGEST_LEN)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value for parameter 'dataset_digest': longer than %d "
				  "characters", MT_MAX_DATASET_DIGEST_LEN);
	return 0;
}

/* One Metric object into slot i of m (its MLflow 3 fields too when m has
 * room for them). */
static int parse_metric(struct mt_req *req, json_t *o, struct metric_batch *m, size_t i)
{
	json_t *v = json_object_get(o, "value"), *ts = json_object_get(o, "timestamp");
	json_t *st = json_object_get(o, "step");

	if (m->model_ids && metric_extras(req, o, &m->model_ids[i], &m->ds_names[i],
					  &m->ds_digests[i]))
		return -1;

	if (mt_json_req_str(&m->keys[i], o, "key", req->arena, &req->err) ||
	    mt_validate_key("metric", m->keys[i], &req->err))
		return -1;
	if (!v || json_is_null(v))
		return mt_err_set(&req->err, MT_EINVAL, "Missing value for required parameter 'value'.");
	if (!ts || json_is_null(ts))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Missing value for required parameter 'timestamp'.");
	if (mt_json_double(&m->values[i], v, "value", &req->err) ||
	    mt_json_i64(&m->timestamps[i], ts, "timestamp", &req->err))
		return -1;
	if (m->timestamps[i] < 0)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value %lld for parameter 'timestamp' supplied: must be "
				  "non-negative", m->timestamps[i]);
	m->steps[i] = 0;
	if (st && !json_is_null(st) && mt_json_i64(&m->steps[i], st, "step", &req->err))
		return -1;
	/* MLflow's SQL store keeps ±Inf as ±DBL_MAX. */
	if (isinf(m->values[i]))
		m->values[i] = m->values[i] > 0 ? DBL_MAX : -DBL_MAX;
	return 0;
}

static void batch_alloc(struct mt_arena *a, struct metric_batch *m, size_t n)
{
	m->n = n;
	m->keys = mt_arena_alloc(a, sizeof(char *) * (n + 1));
	m->steps = mt_arena_alloc(a, sizeof(long long) * (n + 1));
	m->timestamps = mt_arena_alloc(a, sizeof(long long) * (n + 1));
	m->values = mt_arena_alloc(a, sizeof(double) * (n + 1));
	m->model_ids = mt_arena_alloc(a, sizeof(char *) * (n + 1));
	m->ds_names = mt_arena_alloc(a, sizeof(char *) * (n + 1));
	m->ds_digests = mt_arena_alloc(a, sizeof(char *) * (n + 1));
}

/* A batch none of whose points carries MLflow 3's fields is written as
 * before they existed (sql_runs_log_metrics' fast path). */
static void batch_trim(struct metric_batch *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->model_ids[i] || m->ds_names[i] || m->ds_digests[i])
			return;
	m->model_ids = m->ds_names = m->ds_digests = NULL;
}

/* The distinct model ids of a batch's points must name logged models. */
static int check_models(struct mt_req *req, const struct metric_batch *m)
{
	const char **ids;
	size_t n = 0;

	if (!m->model_ids)
		return 0;
	ids = mt_arena_alloc(req->arena, sizeof(char *) * (m->n + 1));
	for (size_t i = 0; i < m->n; i++) {
		int dup = !m->model_ids[i];

		for (size_t j = 0; j < n && !dup; j++)
			dup = strcmp(ids[j], m->model_ids[i]) == 0;
		if (!dup)
			ids[n++] = m->model_ids[i];
	}
	return sql_lm_check_ids(req, ids, n, &req->err);
}

int api_runs_log_metric(struct mt_req *req)
{
	const char *id;
	struct metric_batch m;
	const char *stage;
	int found;

	batch_alloc(req->arena, &m, 1);
	if (req_run_id(req, &id) || parse_metric(req, req->body, &m, 0) ||
	    sql_runs_log_metric_one(req, id, m.keys[0], m.steps[0], m.timestamps[0], m.values[0],
				    m.model_ids[0], m.ds_names[0], m.ds_digests[0], &stage, &found,
				    &req->err) ||
	    api_check_active(req, "run", id, stage))
		return -1;
	if (!found)
		return mt_err_set(&req->err, MT_ENOTFOUND, "Logged model with ID '%s' not found.",
				  m.model_ids[0]);
	return 0;
}

static int check_param(struct mt_req *req, const char *key, const char *value)
{
	return mt_validate_key("param", key, &req->err) ||
	       mt_validate_value_len("Param", key, value, MT_MAX_PARAM_VALUE_LEN, &req->err) ? -1 : 0;
}

int api_runs_log_parameter(struct mt_req *req)
{
	const char *id, *key, *value;

	if (req_run_id(req, &id) || req_str(req, "key", &key) || req_opt_str(req, "value", &value))
		return -1;
	if (!value)
		value = "";
	if (check_param(req, key, value) || require_active_run(req, id))
		return -1;
	return sql_runs_log_params(req, id, &key, &value, 1, &req->err);
}

static int list_field(struct mt_req *req, const char *name, json_t **out)
{
	json_t *v = json_object_get(req->body, name);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value for parameter '%s': expected a list", name);
	*out = v;
	return 0;
}

int api_runs_log_batch(struct mt_req *req)
{
	const char *id, *exp;
	json_t *metrics, *params, *tags, *o;
	size_t nm, np, nt, i;
	struct metric_batch m;
	const char **pk, **pv, **tk, **tv;

	if (req_run_id(req, &id) || list_field(req, "metrics", &metrics) ||
	    list_field(req, "params", &params) || list_field(req, "tags", &tags))
		return -1;
	nm = metrics ? json_array_size(metrics) : 0;
	np = params ? json_array_size(params) : 0;
	nt = tags ? json_array_size(tags) : 0;
	if (nm > MT_MAX_BATCH_METRICS)
		return mt_err_set(&req->err, MT_EINVAL,
				  "A batch logging request can contain at most %d metrics. Got %zu "
				  "metrics. Please split up metrics across multiple requests and try again.",
				  MT_MAX_BATCH_METRICS, nm);
	if (np > MT_MAX_BATCH_PARAMS)
		return mt_err_set(&req->err, MT_EINVAL,
				  "A batch logging request can contain at most %d params. Got %zu "
				  "params. Please split up params across multiple requests and try again.",
				  MT_MAX_BATCH_PARAMS, np);
	if (nt > MT_MAX_BATCH_TAGS)
		return mt_err_set(&req->err, MT_EINVAL,
				  "A batch logging request can contain at most %d tags. Got %zu tags. "
				  "Please split up tags across multiple requests and try again.",
				  MT_MAX_BATCH_TAGS, nt);
	if (nm + np + nt > MT_MAX_BATCH_TOTAL)
		return mt_err_set(&req->err, MT_EINVAL,
				  "A batch logging request can contain at most %d metrics, params, and "
				  "tags in total. Got %zu total. Please split up metrics, params, and tags "
				  "across multiple requests and try again.", MT_MAX_BATCH_TOTAL, nm + np + nt);
	batch_alloc(req->arena, &m, nm);
	for (i = 0; i < nm; i++) {
		o = json_array_get(metrics, i);
		if (!json_is_object(o))
			return mt_err_set(&req->err, MT_EINVAL, "Invalid metric at index %zu", i);
		if (parse_metric(req, o, &m, i))
			return -1;
	}
	batch_trim(&m);
	if (kv_list(req, params, "param", &pk, &pv, &np) ||
	    kv_list(req, tags, "tag", &tk, &tv, &nt) || check_tag_list(req, tk, tv, nt))
		return -1;
	for (i = 0; i < np; i++) {
		if (check_param(req, pk[i], pv[i]))
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(pk[i], pk[j]) == 0)
				return mt_err_set(&req->err, MT_EINVAL,
						  "Duplicate parameter keys have been submitted: ['%s']. "
						  "Please ensure the request contains only one param value "
						  "per param key.", pk[i]);
	}
	nt = dedupe_last(req->arena, tk, tv, nt);
	/* MLflow's order of work: params, metrics, tags.  It all commits or
	 * nothing does (R_TXN). */
	if (require_active_run_for_points(req, id, &exp) || check_models(req, &m) ||
	    sql_runs_log_params(req, id, pk, pv, np, &req->err) ||
	    sql_runs_log_metrics(req, id, exp, &m, &req->err) ||
	    sql_runs_set_tags(req, id, tk, tv, nt, &req->err))
		return -1;
	return 0;
}

static int check_len(struct mt_req *req, json_t *o, const char *field, size_t max, int required)
{
	const char *s;

	if (mt_json_opt_str(&s, o, field, req->arena, &req->err))
		return -1;
	if (required && (!s || !*s))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Missing value for required parameter 'dataset.%s'.", field);
	if (s && (strlen(s) > max || !mt_utf8_valid(s, strlen(s))))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Dataset %s is invalid or exceeds the maximum length of %zu", field, max);
	if (s)
		json_object_set_new(o, field, json_string(s)); /* numbers become strings */
	return 0;
}

/* MLflow 3's models field (ModelInput or ModelOutput objects): each
 * model_id required; with steps, each step an int64 (0 when absent, as the
 * proto's default).  Parallel arena arrays; n bounded by the caller. */
static int model_list(struct mt_req *req, json_t *arr, const char ***ids, long long **steps,
		      size_t *n)
{
	size_t i;
	json_t *o;

	*n = json_array_size(arr);
	if (*n > MT_MAX_DATASETS_PER_CALL)
		return mt_err_set(&req->err, MT_EINVAL, "At most %d models may be logged at once",
				  MT_MAX_DATASETS_PER_CALL);
	*ids = mt_arena_alloc(req->arena, sizeof(char *) * (*n + 1));
	if (steps)
		*steps = mt_arena_alloc(req->arena, sizeof(long long) * (*n + 1));
	json_array_foreach(arr, i, o) {
		json_t *st;

		if (!json_is_object(o))
			return mt_err_set(&req->err, MT_EINVAL,
					  "Invalid value for parameter 'models': expected a list of "
					  "objects");
		if (mt_json_opt_str(&(*ids)[i], o, "model_id", req->arena, &req->err))
			return -1;
		if (!(*ids)[i] || !*(*ids)[i])
			return mt_err_set(&req->err, MT_EINVAL,
					  "Missing value for required parameter 'models[%zu].model_id'.",
					  i);
		if (!steps)
			continue;
		st = json_object_get(o, "step");
		(*steps)[i] = 0;
		if (st && !json_is_null(st) && mt_json_i64(&(*steps)[i], st, "step", &req->err))
			return -1;
	}
	return 0;
}

/* POST runs/outputs (MLflow 3's LogOutputs): the models the run produced.
 * The model ids are not checked, as MLflow does not check them. */
int api_runs_log_outputs(struct mt_req *req)
{
	const char *id, **ids;
	long long *steps;
	json_t *models;
	size_t n;

	if (req_str(req, "run_id", &id) || list_field(req, "models", &models))
		return -1;
	if (!models)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Missing value for required parameter 'models'.");
	if (model_list(req, models, &ids, &steps, &n) || require_active_run(req, id))
		return -1;
	return sql_runs_log_outputs(req, id, ids, steps, n, &req->err);
}

int api_runs_log_inputs(struct mt_req *req)
{
	struct input {
		json_t *dataset;
		const char **tk, **tv;
		size_t nt;
	} *in;
	const char *id, **model_ids = NULL;
	json_t *datasets, *models, *di;
	size_t i, nmodels = 0;

	if (req_run_id(req, &id) || list_field(req, "datasets", &datasets) ||
	    list_field(req, "models", &models))
		return -1;
	/* MLflow 3 sends models alone (a metric of an active model); with
	 * neither, 2.9.2's "datasets is required" (its REST tests check it). */
	if (!datasets && !models)
		return mt_json_missing(&req->err, "datasets");
	if (models && model_list(req, models, &model_ids, NULL, &nmodels))
		return -1;
	if (!datasets)
		datasets = req_own(req, json_array());
	if (json_array_size(datasets) > MT_MAX_DATASETS_PER_CALL)
		return mt_err_set(&req->err, MT_EINVAL, "At most %d datasets may be logged at once",
				  MT_MAX_DATASETS_PER_CALL);
	in = mt_arena_alloc(req->arena, sizeof(*in) * (json_array_size(datasets) + 1));
	json_array_foreach(datasets, i, di) {
		json_t *ds = json_object_get(di, "dataset");

		if (!json_is_object(di) || !json_is_object(ds))
			return mt_err_set(&req->err, MT_EINVAL,
					  "Missing value for required parameter 'dataset' at index %zu", i);
		if (check_len(req, ds, "name", MT_MAX_DATASET_NAME_LEN, 1) ||
		    check_len(req, ds, "digest", MT_MAX_DATASET_DIGEST_LEN, 1) ||
		    check_len(req, ds, "source_type", MT_MAX_DATASET_NAME_LEN, 1) ||
		    check_len(req, ds, "source", MT_MAX_DATASET_SOURCE_LEN, 1) ||
		    check_len(req, ds, "schema", MT_MAX_DATASET_SCHEMA_LEN, 0) ||
		    check_len(req, ds, "profile", MT_MAX_DATASET_PROFILE_LEN, 0) ||
		    kv_list(req, json_object_get(di, "tags"), "tag", &in[i].tk, &in[i].tv, &in[i].nt))
			return -1;
		for (size_t k = 0; k < in[i].nt; k++) {
			const char *tk = in[i].tk[k], *tv = in[i].tv[k];

			if (strlen(tk) > MT_MAX_INPUT_TAG_KEY_LEN || strlen(tv) > MT_MAX_INPUT_TAG_VALUE_LEN ||
			    !mt_utf8_valid(tk, strlen(tk)) || !mt_utf8_valid(tv, strlen(tv)))
				return mt_err_set(&req->err, MT_EINVAL,
						  "Input tag '%.100s' is invalid or too long", tk);
		}
		in[i].dataset = ds;
		in[i].nt = dedupe_last(req->arena, in[i].tk, in[i].tv, in[i].nt);
	}
	if (require_active_run(req, id))
		return -1;
	for (i = 0; i < json_array_size(datasets); i++)
		if (sql_runs_log_input(req, id, in[i].dataset, in[i].tk, in[i].tv, in[i].nt, &req->err))
			return -1;
	return sql_runs_log_model_inputs(req, id, model_ids, nmodels, &req->err);
}

int api_runs_set_tag(struct mt_req *req)
{
	const char *id, *key, *value;

	if (req_run_id(req, &id) || req_str(req, "key", &key) || req_opt_str(req, "value", &value))
		return -1;
	if (!value)
		value = "";
	if (check_tag_list(req, &key, &value, 1) || require_active_run(req, id))
		return -1;
	return sql_runs_set_tags(req, id, &key, &value, 1, &req->err);
}

/*
 * POST runs/log-model (MLflow's LogModel; every log_model in a run, 2.9 to
 * 3.x): model_json, a JSON object with artifact_path, flavors,
 * utc_time_created and run_id, is appended to the run's tag
 * mlflow.log-model.history, a JSON list, as MLflow's SQL store does
 * (record_logged_model): the whole list re-serialised as Python's
 * json.dumps writes it (", " and ": ", \u escapes for non-ASCII), checked
 * against the run-tag limit.  The model is kept as the client sent it: a
 * 2.9 client sends the whole MLmodel dict, a 2.16+ one only run_id,
 * artifact_path, utc_time_created, model_uuid and flavors.  The run is
 * locked for the read-modify-write, so concurrent calls append both.
 */
#define LOG_MODEL_HISTORY "mlflow.log-model.history"

/* jansson writes \u00E8 where Python writes \u00e8. */
static void lower_unicode_escapes(char *s)
{
	for (; *s; s++) {
		if (*s != '\\')
			continue;
		if (s[1] == 'u')
			for (int i = 2; i < 6 && s[i]; i++)
				if (s[i] >= 'A' && s[i] <= 'F')
					s[i] = (char)(s[i] - 'A' + 'a');
		s++; /* the escaped character */
	}
}

static void free_str(void *p)
{
	free(p);
}

char *api_json_dumps_py(struct mt_req *req, json_t *j)
{
	char *text = json_dumps(j, JSON_ENSURE_ASCII);

	if (!text)
		return NULL;
	mt_arena_defer(req->arena, free_str, text);
	lower_unicode_escapes(text);
	return text;
}

int api_runs_log_model(struct mt_req *req)
{
	static const char *const mandatory[] = { "artifact_path", "flavors", "utc_time_created",
						 "run_id" };
	const char *id, *model_json, *stage, *old, *key = LOG_MODEL_HISTORY;
	char missing[128] = "";
	json_t *model = NULL, *hist;
	json_error_t jerr;
	size_t len;
	char *text;

	if (req_run_id(req, &id) || req_str(req, "model_json", &model_json))
		return -1;
	len = strlen(model_json);
	if (mt_json_depth_ok(model_json, len, MT_JSON_MAX_DEPTH))
		model = req_own(req, json_loadb(model_json, len, 0, &jerr));
	if (!json_is_object(model))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Malformed model info. \n %s \n is not a valid JSON.", model_json);
	for (size_t i = 0; i < sizeof(mandatory) / sizeof(*mandatory); i++)
		if (!json_object_get(model, mandatory[i]))
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
				 "%s'%s'", *missing ? ", " : "", mandatory[i]);
	if (*missing) /* a Python set's repr */
		return mt_err_set(&req->err, MT_EINVAL,
				  "Model json is missing mandatory fields: {%s}", missing);
	if (sql_runs_tag_locked(req, id, key, &stage, &old, &req->err) ||
	    api_check_active(req, "run", id, stage))
		return -1;
	hist = NULL;
	if (!old)
		hist = req_own(req, json_array());
	else if (mt_json_depth_ok(old, strlen(old), MT_JSON_MAX_DEPTH))
		hist = req_own(req, json_loads(old, 0, &jerr));
	if (!json_is_array(hist))
		return mt_err_set(&req->err, MT_EINVAL,
				  "The tag '%s' of run %s holds no JSON list, so no model can be added "
				  "to it; delete or fix the tag first", key, id);
	json_array_append(hist, model);
	if (!(text = api_json_dumps_py(req, hist)))
		return mt_err_set(&req->err, MT_EINTERNAL, "Cannot encode the model history");
	if (check_tag_list(req, &key, (const char **)&text, 1))
		return -1;
	return sql_runs_set_tags(req, id, &key, (const char **)&text, 1, &req->err);
}

int api_runs_delete_tag(struct mt_req *req)
{
	const char *id, *key;

	if (req_run_id(req, &id) || req_str(req, "key", &key) || require_active_run(req, id))
		return -1;
	return sql_runs_delete_tag(req, id, key, &req->err);
}

/* What a runs/search page token's keyset belongs to: the same
 * experiments, filter, order and view (FNV-1a, hex).  A token from another
 * search pages by its offset, as MLflow's do. */
static const char *search_sig(struct mt_req *req, const char *const *exps, size_t nexp,
			      const char *filter, const char *const *order, size_t norder, int view)
{
	unsigned long long h = 1469598103934665603ULL;
	const char *part;

	for (size_t i = 0; i < nexp + norder + 3; i++) {
		part = i < nexp ? exps[i] : i < nexp + norder ? order[i - nexp] :
		       i == nexp + norder ? (filter ? filter : "") :
		       i == nexp + norder + 1 ? mt_arena_printf(req->arena, "%d", view) : "|";
		for (const unsigned char *p = (const unsigned char *)part; ; p++) {
			h = (h ^ *p) * 1099511628211ULL; /* the NUL separates the parts */
			if (!*p)
				break;
		}
		h = (h ^ (i < nexp ? 1 : i < nexp + norder ? 2 : 3)) * 1099511628211ULL;
	}
	return mt_arena_printf(req->arena, "%016llx", h);
}

int api_runs_search(struct mt_req *req)
{
	const char **exps, **order, *filter, *token, *sig;
	size_t nexp, norder, keep = 0;
	long long max = MT_SEARCH_RUNS_DEFAULT;
	int have_max, view, rc = -1;
	struct mt_filter f = { 0 };
	struct mt_order_list o = { 0 };
	struct runs_page page = { 0 };
	const char *tsig = NULL, **tkeys = NULL, *runs = "", *next = NULL;
	size_t ntkeys = 0, nruns = 0;

	if (mt_json_str_list(&exps, &nexp, req->body, "experiment_ids", req->arena, &req->err) ||
	    mt_json_str_list(&order, &norder, req->body, "order_by", req->arena, &req->err) ||
	    req_opt_str(req, "filter", &filter) || req_opt_str(req, "page_token", &token) ||
	    api_view_type(req, "run_view_type", &view) ||
	    mt_json_opt_i64(&max, &have_max, req->body, "max_results", &req->err))
		return -1;
	if (!have_max)
		max = MT_SEARCH_RUNS_DEFAULT;
	/* Over MT_SEARCH_RUNS_MAX is refused by the route's schema (fields.c),
	 * in MLflow's handler's words; what is left is MLflow's store's. */
	if (max <= 0 || max > MT_SEARCH_RUNS_MAX)
		return mt_err_set(&req->err, MT_EINVAL, "Invalid value for max_results. It must be a "
				  "positive integer, but got %lld", max);
	if (nexp > MT_MAX_EXPERIMENT_IDS)
		return mt_err_set(&req->err, MT_EINVAL, "At most %d experiment ids may be searched",
				  MT_MAX_EXPERIMENT_IDS);
	/* Ids that are not numbers name no experiment: drop them. */
	for (size_t i = 0; i < nexp; i++) {
		size_t n = strlen(exps[i]);

		if (n && n <= 18 && strspn(exps[i], "0123456789") == n)
			exps[keep++] = exps[i];
	}
	if (token && *token && mt_runs_token_decode(req->arena, &page.offset, &tsig, &tkeys, &ntkeys,
						    token, &req->err))
		return -1;
	if (mt_filter_parse_ext(&f, MT_FE_RUNS, filter, MT_FILTER_BOOL, &req->err) ||
	    mt_order_parse(&o, MT_FE_RUNS, order, norder, &req->err))
		goto done;
	if (keep == 0) {
		rc = 0;
		goto done;
	}
	sig = search_sig(req, exps, keep, filter, order, norder, view);
	if (tsig && strcmp(tsig, sig) == 0) {
		page.after = tkeys;
		page.nafter = ntkeys;
	}
	if (sql_runs_search(req, exps, keep, &f, &o, view, max, &page, &runs, &nruns, &req->err))
		goto done;
	if ((long long)nruns == max)
		next = mt_runs_token_encode(req->arena, page.offset + max, sig, page.last,
					    page.nlast);
	rc = 0;
done:
	mt_filter_release(&f);
	mt_order_release(&o);
	if (rc == 0) {
		/* Its own reply (R_RAW): the runs are JSON text already.  The
		 * database connection goes back first, as the dispatcher's
		 * replies do: a slow reader holds none. */
		db_release(req->w);
		http_reply_text(req, 200, "application/json",
				!nruns ? "{}" :
				next ?
				mt_arena_printf(req->arena, "{\"runs\":[%s],\"next_page_token\":\"%s\"}",
						runs, next) :
				mt_arena_printf(req->arena, "{\"runs\":[%s]}", runs));
	}
	return rc;
}
