/*
 * api_logged_models.c: MLflow 3's logged models, /api/2.0/mlflow/logged-models
 * (MLFLOW-3X.md sections 2.1 and 3; MLflow's mlflow/server/handlers.py and
 * mlflow/store/tracking/sqlalchemy_store.py on the 3.x branches): create,
 * get, finalize (PATCH), delete, search, log params, set and delete tags,
 * and the web UI's artifact listing.  runs/outputs is in api_runs.c.
 *
 * Where MLflow's server lets a request through to a database error (a
 * duplicate key, an over-long value: 400 BAD_REQUEST with SQLAlchemy's
 * text) or a Python exception (500), this answers 400
 * INVALID_PARAMETER_VALUE with a message of its own; docs/api.md lists
 * those differences.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "api.h"
#include "api_common.h"
#include "mt_filter.h"
#include "mt_json.h"
#include "mt_limits.h"
#include "mt_path.h"
#include "mt_util.h"
#include "sql_artifacts.h"
#include "sql_experiments.h"
#include "sql_logged_models.h"

/* Column sizes of MLflow's tables: longer values fail there. */
#define LM_MAX_NAME_LEN        500
#define LM_MAX_TYPE_LEN        500
#define LM_MAX_RUN_ID_LEN      32
#define LM_MAX_KEY_LEN         255
#define LM_DEFAULT_MAX_RESULTS 50   /* the proto's default */
#define LM_STORE_MAX_RESULTS   100  /* max_results 0: the store's default */
#define LM_MAX_TOKEN_LEN       (256 * 1024)

/* ---- messages in MLflow's (Python's) words ---- */

/* Python's repr() of a str: single quotes unless the text holds one and no
 * double quote; backslash, the quote and control characters escaped.
 * Arena memory; long values are cut (with "...") to keep messages short. */
static const char *py_repr(struct mt_arena *a, const char *s)
{
	size_t n = strlen(s), max = n > 200 ? 200 : n;
	char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
	char *out = mt_arena_alloc(a, max * 4 + 8), *o = out;

	*o++ = q;
	for (size_t i = 0; i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\' || c == (unsigned char)q) {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c == '\n') {
			o += sprintf(o, "\\n");
		} else if (c == '\r') {
			o += sprintf(o, "\\r");
		} else if (c == '\t') {
			o += sprintf(o, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			o += sprintf(o, "\\x%02x", c);
		} else {
			*o++ = (char)c;
		}
	}
	if (max < n)
		o += sprintf(o, "...");
	*o++ = q;
	*o = '\0';
	return out;
}

/* Python's repr() of the value json.loads would give (lists, dicts, str,
 * True/False/None, numbers), for the page-token messages. */
static const char *py_repr_json(struct mt_arena *a, json_t *v)
{
	const char *out, *k;
	size_t i;
	json_t *x;
	int first = 1;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return py_repr(a, json_string_value(v));
	case JSON_TRUE:
		return "True";
	case JSON_FALSE:
		return "False";
	case JSON_NULL:
		return "None";
	case JSON_INTEGER:
		return mt_arena_printf(a, "%lld", (long long)json_integer_value(v));
	case JSON_REAL:
		return mt_arena_printf(a, "%.17g", json_real_value(v));
	case JSON_ARRAY:
		out = "[";
		json_array_foreach(v, i, x)
			out = mt_arena_printf(a, "%s%s%s", out, i ? ", " : "", py_repr_json(a, x));
		return mt_arena_printf(a, "%s]", out);
	default:
		out = "{";
		json_object_foreach(v, k, x) {
			out = mt_arena_printf(a, "%s%s%s: %s", out, first ? "" : ", ", py_repr(a, k),
					      py_repr_json(a, x));
			first = 0;
		}
		return mt_arena_printf(a, "%s}", out);
	}
}

/* MLflow's wrong-type message (2.17 and later): the value as compact JSON
 * with sorted keys, and its Python type. */
static int wrong_type(struct mt_req *req, const char *field, json_t *v)
{
	static const char *const types[] = {
		[JSON_OBJECT] = "dict", [JSON_ARRAY] = "list", [JSON_STRING] = "str",
		[JSON_INTEGER] = "int", [JSON_REAL] = "float", [JSON_TRUE] = "bool",
		[JSON_FALSE] = "bool", [JSON_NULL] = "NoneType",
	};
	char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY |
				   JSON_ENSURE_ASCII);
	int rc = mt_err_set(&req->err, MT_EINVAL,
			    "Invalid value %.200s for parameter '%s' supplied:  Hint: Value was of "
			    "type '%s'. See the API docs for more information about request "
			    "parameters.", text ? text : "?", field, types[json_typeof(v)]);

	free(text);
	return rc;
}

static const char *model_id_arg(struct mt_req *req)
{
	const char *s = req->subpath ? req->subpath : "";
	size_t n = strcspn(s, "/");

	return mt_arena_strndup(req->arena, s, n);
}

/* An optional list field: NULL when absent or null, else an array. */
static int list_arg(struct mt_req *req, const char *field, json_t **out)
{
	json_t *v = json_object_get(req->body, field);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return wrong_type(req, field, v);
	*out = v;
	return 0;
}

/* LoggedModelParameter / LoggedModelTag lists: key required and at most
 * 255 characters, value "" when absent.  With unique, a key twice is
 * refused; otherwise the last value of a key wins. */
static int kv_arg(struct mt_req *req, const char *field, int unique, const char ***keys,
		  const char ***values, size_t *n)
{
	json_t *arr, *o;
	size_t i, m = 0;

	*n = 0;
	*keys = *values = NULL;
	if (list_arg(req, field, &arr))
		return -1;
	if (!arr)
		return 0;
	*keys = mt_arena_alloc(req->arena, sizeof(char *) * (json_array_size(arr) + 1));
	*values = mt_arena_alloc(req->arena, sizeof(char *) * (json_array_size(arr) + 1));
	json_array_foreach(arr, i, o) {
		const char *k, *v;
		size_t j;

		if (!json_is_object(o))
			return wrong_type(req, field, arr);
		if (mt_json_opt_str(&k, o, "key", req->arena, &req->err) ||
		    mt_json_opt_str(&v, o, "value", req->arena, &req->err))
			return -1;
		if (!k || !*k)
			return mt_err_set(&req->err, MT_EINVAL,
					  "Missing value for required parameter '%s[%zu].key'.", field, i);
		if (strlen(k) > LM_MAX_KEY_LEN)
			return mt_err_set(&req->err, MT_EINVAL,
					  "Invalid value for parameter '%s[%zu].key': longer than %d "
					  "characters", field, i, LM_MAX_KEY_LEN);
		for (j = 0; j < m && strcmp((*keys)[j], k) != 0; j++)
			;
		if (j < m && unique)
			return mt_err_set(&req->err, MT_EINVAL,
					  "Duplicate %s keys have been submitted: [%s]. Please ensure the "
					  "request contains only one value per key.",
					  strcmp(field, "params") == 0 ? "parameter" : "tag",
					  py_repr(req->arena, k));
		(*keys)[j] = k;
		(*values)[j] = v ? v : "";
		if (j == m)
			m++;
	}
	*n = m;
	return 0;
}

/* A string field of at most max characters; "" is unset. */
static int opt_str_max(struct mt_req *req, const char *field, size_t max, const char **out)
{
	if (req_opt_str(req, field, out))
		return -1;
	if (*out && !**out)
		*out = NULL;
	if (*out && strlen(*out) > max)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value for parameter '%s': longer than %zu characters",
				  field, max);
	return 0;
}

/* MLflow's _validate_logged_model_name. */
static int check_name(struct mt_req *req, const char *name)
{
	if (!strpbrk(name, "/:.%\"'") && strlen(name) <= LM_MAX_NAME_LEN)
		return 0;
	if (strlen(name) > LM_MAX_NAME_LEN)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid model name: longer than %d characters", LM_MAX_NAME_LEN);
	return mt_err_set(&req->err, MT_EINVAL,
			  "Invalid model name (%s) provided. Model name must be a non-empty string "
			  "and cannot contain the following characters: ('/', ':', '.', '%%', '\"', "
			  "\"'\")", py_repr(req->arena, name));
}

/* POST logged-models */
int api_lm_create(struct mt_req *req)
{
	struct lm_new m = { 0 };
	const char *exp_id, *stage, *loc;
	char hex[33], gen[64];
	json_t *model;

	if (api_exp_id(req, "experiment_id", &exp_id) ||
	    opt_str_max(req, "name", LM_MAX_NAME_LEN + 1, &m.name) ||
	    opt_str_max(req, "model_type", LM_MAX_TYPE_LEN, &m.model_type) ||
	    opt_str_max(req, "source_run_id", LM_MAX_RUN_ID_LEN, &m.source_run_id) ||
	    kv_arg(req, "params", 1, &m.param_keys, &m.param_values, &m.nparams) ||
	    kv_arg(req, "tags", 1, &m.tag_keys, &m.tag_values, &m.ntags))
		return -1;
	if (m.name && check_name(req, m.name))
		return -1;
	if (sql_exp_stage(req, exp_id, &stage, &req->err) ||
	    api_check_active(req, "experiment", exp_id, stage) ||
	    sql_exp_artifact_location(req, exp_id, &loc, &req->err) || mt_random_hex32(hex, &req->err))
		return -1;
	if (!m.name) {
		mt_run_name_generate(gen, sizeof(gen));
		m.name = gen;
	}
	m.model_id = mt_arena_printf(req->arena, "m-%s", hex);
	m.experiment_id = exp_id;
	m.artifact_location = mt_arena_printf(req->arena, "%s%smodels/%s/artifacts", loc,
					      *loc && loc[strlen(loc) - 1] == '/' ? "" : "/",
					      m.model_id);
	m.now = mt_now_ms();
	if (sql_lm_insert(req, &m, &req->err) || sql_lm_get(req, m.model_id, 0, &model, &req->err))
		return -1;
	json_object_set(req_resp(req), "model", model);
	return 0;
}

/* GET logged-models/{model_id}[?allow_deleted=true] (the query: 3.7+, mlflow gc) */
int api_lm_get(struct mt_req *req)
{
	const char *allow;
	json_t *model;

	if (req_opt_str(req, "allow_deleted", &allow) ||
	    sql_lm_get(req, model_id_arg(req), allow && strcasecmp(allow, "true") == 0, &model,
		       &req->err))
		return -1;
	json_object_set(req_resp(req), "model", model);
	return 0;
}

/* LoggedModelStatus by name or number. */
static int status_arg(struct mt_req *req, int *out)
{
	json_t *v = json_object_get(req->body, "status");
	static const char *const names[] = {
		"LOGGED_MODEL_STATUS_UNSPECIFIED", "LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY",
		"LOGGED_MODEL_UPLOAD_FAILED",
	};

	if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Missing value for required parameter 'status'.");
	if (json_is_integer(v)) {
		long long n = json_integer_value(v);

		if (n < 0 || n > 3)
			return mt_err_set(&req->err, MT_EINVAL, "Unknown model status: %lld", n);
		*out = (int)n;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		for (int i = 0; i < 4; i++)
			if (strcmp(s, names[i]) == 0) {
				*out = i;
				return 0;
			}
		if (s[0] >= '0' && s[0] <= '3' && !s[1]) {
			*out = s[0] - '0';
			return 0;
		}
	}
	return wrong_type(req, "status", v);
}

/* PATCH logged-models/{model_id}: MLflow finalizes the model the body
 * names (its handler reads model_id from the body, not the path). */
int api_lm_finalize(struct mt_req *req)
{
	const char *id;
	int status = 0;
	json_t *model;

	if (req_str(req, "model_id", &id) || status_arg(req, &status) ||
	    sql_lm_finalize(req, id, status, mt_now_ms(), &req->err) ||
	    sql_lm_get(req, id, 1, &model, &req->err))
		return -1;
	json_object_set(req_resp(req), "model", model);
	return 0;
}

/* DELETE logged-models/{model_id}: a lifecycle stage, as for runs. */
int api_lm_delete(struct mt_req *req)
{
	return sql_lm_delete(req, model_id_arg(req), mt_now_ms(), &req->err);
}

/* POST logged-models/{model_id}/params: the body's model_id is required
 * (MLflow's schema), the path's is the model written. */
int api_lm_log_params(struct mt_req *req)
{
	const char *id = model_id_arg(req), *body_id, **keys, **values;
	size_t n;

	if (req_str(req, "model_id", &body_id) ||
	    kv_arg(req, "params", 1, &keys, &values, &n) ||
	    sql_lm_lock(req, id, 0, NULL, &req->err))
		return -1;
	return sql_lm_log_params(req, id, keys, values, n, &req->err);
}

/* PATCH logged-models/{model_id}/tags */
int api_lm_set_tags(struct mt_req *req)
{
	const char *id = model_id_arg(req), **keys, **values;
	size_t n;

	if (kv_arg(req, "tags", 0, &keys, &values, &n) || sql_lm_lock(req, id, 0, NULL, &req->err))
		return -1;
	return sql_lm_set_tags(req, id, keys, values, n, &req->err);
}

/* DELETE logged-models/{model_id}/tags/{tag_key} */
int api_lm_delete_tag(struct mt_req *req)
{
	const char *id = model_id_arg(req);
	const char *key = req->subpath + strlen(id) + strlen("/tags/");

	if (sql_lm_lock(req, id, 0, NULL, &req->err))
		return -1;
	if (sql_lm_delete_tag(req, id, key, &req->err)) {
		if (req->err.code == MT_ENOTFOUND)
			mt_err_set(&req->err, MT_ENOTFOUND,
				   "No tag with key %s found for model with ID %s.",
				   py_repr(req->arena, key), py_repr(req->arena, id));
		return -1;
	}
	return 0;
}

/* GET logged-models/{model_id}/artifacts/directories: one level of the
 * model's artifacts, paths relative to its root, as the web UI lists them
 * (MLflow's _list_logged_model_artifacts). */
int api_lm_list_artifacts(struct mt_req *req)
{
	char rel[MT_PATH_MAX + 1];
	const char *path;
	json_t *model;

	if (req_opt_str(req, "artifact_directory_path", &path) ||
	    mt_path_normalise(rel, path ? path : "", path ? strlen(path) : 0, 1, &req->err) ||
	    sql_lm_get(req, model_id_arg(req), 0, &model, &req->err))
		return -1;
	return art_list_root(req, json_string_value(json_object_get(json_object_get(model, "info"),
								     "artifact_uri")), rel);
}

/* ---- logged-models/search ---- */

/* The search a page token belongs to, in MLflow's token form
 * (SearchLoggedModelsPaginationToken): experiment_ids, filter_string
 * (null when empty), order_by (null when none, else the handler's dicts),
 * and the offset. */
static json_t *token_search(struct mt_req *req, json_t *exps, const char *filter, json_t *order)
{
	return req_own(req, json_pack("{s:O,s:s?,s:O}", "experiment_ids", exps, "filter_string",
				      filter && *filter ? filter : NULL, "order_by",
				      json_array_size(order) ? order : json_null()));
}

static const char *token_encode(struct mt_req *req, json_t *search, long long offset)
{
	json_t *t = req_own(req, json_deep_copy(search));
	char *text;
	size_t n;
	char *out;

	json_object_set_new(t, "offset", json_integer(offset));
	text = json_dumps(t, JSON_COMPACT);
	if (!text)
		return NULL;
	n = strlen(text);
	out = mt_arena_alloc(req->arena, 4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)text, (int)n);
	free(text);
	return out;
}

static int bad_token(struct mt_req *req, const char *token)
{
	return mt_err_set(&req->err, MT_EINVAL, "Invalid page token: %.100s%s", token,
			  strlen(token) > 100 ? "..." : "");
}

/* The offset of a token, which must belong to this search. */
static int token_decode(struct mt_req *req, const char *token, json_t *search, long long *out)
{
	size_t n = strlen(token);
	unsigned char *raw;
	int len, pad = 0;
	json_t *t, *off;
	struct {
		const char *key, *what, *name;
	} parts[] = {
		{ "experiment_ids", "Experiment IDs", "experiment IDs" },
		{ "filter_string", "Filter string", "filter string" },
		{ "order_by", "Order by", "order by" },
	};

	if (n == 0 || n % 4 != 0 || n > LM_MAX_TOKEN_LEN)
		return bad_token(req, token);
	raw = mt_arena_alloc(req->arena, n);
	len = EVP_DecodeBlock(raw, (const unsigned char *)token, (int)n);
	if (len < 0)
		return bad_token(req, token);
	pad = (token[n - 1] == '=') + (token[n - 2] == '=');
	t = memchr(raw, '\0', (size_t)(len - pad)) ? NULL :
	    json_loadb((const char *)raw, (size_t)(len - pad), 0, NULL);
	req_own(req, t);
	off = t ? json_object_get(t, "offset") : NULL;
	if (!json_is_object(t) || (off && (!json_is_integer(off) || json_integer_value(off) < 0)))
		return bad_token(req, token);
	for (size_t i = 0; i < sizeof(parts) / sizeof(*parts); i++) {
		json_t *want = json_object_get(search, parts[i].key);
		json_t *got = json_object_get(t, parts[i].key);

		if (!got)
			got = json_null();
		if (!json_equal(want, got))
			return mt_err_set(&req->err, MT_EINVAL,
					  "%s in the page token do%s not match the requested %s. "
					  "Expected: %.300s. Found: %.300s", parts[i].what,
					  i ? "es" : "", parts[i].name, py_repr_json(req->arena, want),
					  py_repr_json(req->arena, got));
	}
	*out = off ? json_integer_value(off) : 0;
	return 0;
}

/* experiment_ids: a required list of strings. */
static int exp_ids_arg(struct mt_req *req, json_t **out)
{
	json_t *v = json_object_get(req->body, "experiment_ids"), *x;
	size_t i;

	if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Missing value for required parameter 'experiment_ids'.");
	if (!json_is_array(v))
		return wrong_type(req, "experiment_ids", v);
	if (json_array_size(v) > MT_MAX_EXPERIMENT_IDS)
		return mt_err_set(&req->err, MT_EINVAL, "At most %d experiment ids may be searched",
				  MT_MAX_EXPERIMENT_IDS);
	json_array_foreach(v, i, x)
		if (!json_is_string(x) || memchr(json_string_value(x), '\0', json_string_length(x)))
			return wrong_type(req, "experiment_ids", v);
	*out = v;
	return 0;
}

/* An optional string in an object of a list field. */
static int item_str(struct mt_req *req, json_t *o, const char *key, const char **out)
{
	if (mt_json_opt_str(out, o, key, req->arena, &req->err))
		return -1;
	if (*out && !**out)
		*out = NULL;
	return 0;
}

static int datasets_arg(struct mt_req *req, struct lm_dataset **out, size_t *n)
{
	json_t *arr, *o;
	size_t i;

	*n = 0;
	if (list_arg(req, "datasets", &arr))
		return -1;
	if (!arr)
		return 0;
	if (json_array_size(arr) > MT_FILTER_MAX_CLAUSES)
		return mt_err_set(&req->err, MT_EINVAL, "datasets has more than %d entries",
				  MT_FILTER_MAX_CLAUSES);
	*out = mt_arena_alloc(req->arena, sizeof(**out) * (json_array_size(arr) + 1));
	json_array_foreach(arr, i, o) {
		if (!json_is_object(o))
			return wrong_type(req, "datasets", arr);
		if (item_str(req, o, "dataset_name", &(*out)[i].name) ||
		    item_str(req, o, "dataset_digest", &(*out)[i].digest))
			return -1;
		if (!(*out)[i].name)
			return mt_err_set(&req->err, MT_EINVAL,
					  "`dataset_name` in the `datasets` clause must be specified.");
	}
	*n = json_array_size(arr);
	return 0;
}

/* order_by: [{field_name, ascending, dataset_name, dataset_digest}] into
 * out, and the handler's dicts (for the page token) into *norm. */
static int order_arg(struct mt_req *req, struct lm_order **out, size_t *n, json_t **norm)
{
	static const struct { const char *name, *canon; } attrs[] = {
		{ "name", "name" }, { "model_id", "model_id" }, { "model_type", "model_type" },
		{ "status", "status" }, { "source_run_id", "source_run_id" },
		{ "experiment_id", "experiment_id" }, { "artifact_location", "artifact_location" },
		{ "creation_timestamp", "creation_timestamp" },
		{ "creation_time", "creation_timestamp" },
		{ "creation_timestamp_ms", "creation_timestamp" },
		{ "last_updated_timestamp", "last_updated_timestamp" },
		{ "last_updated_timestamp_ms", "last_updated_timestamp" },
	};
	json_t *arr, *o;
	size_t i;

	*n = 0;
	*norm = req_own(req, json_array());
	if (list_arg(req, "order_by", &arr))
		return -1;
	if (!arr)
		return 0;
	if (json_array_size(arr) > MT_ORDER_MAX_CLAUSES)
		return mt_err_set(&req->err, MT_EINVAL, "order_by has more than %d clauses",
				  MT_ORDER_MAX_CLAUSES);
	*out = mt_arena_alloc(req->arena, sizeof(**out) * (json_array_size(arr) + 1));
	json_array_foreach(arr, i, o) {
		struct lm_order *it = &(*out)[i];
		const char *field;
		json_t *asc;

		if (!json_is_object(o))
			return wrong_type(req, "order_by", arr);
		if (item_str(req, o, "field_name", &field) ||
		    item_str(req, o, "dataset_name", &it->ds_name) ||
		    item_str(req, o, "dataset_digest", &it->ds_digest))
			return -1;
		if (!field)
			return mt_err_set(&req->err, MT_EINVAL,
					  "`field_name` in the `order_by` clause must be specified.");
		asc = json_object_get(o, "ascending");
		if (asc && !json_is_null(asc) && !json_is_boolean(asc))
			return wrong_type(req, "order_by", arr);
		it->asc = !asc || json_is_null(asc) || json_is_true(asc);
		if (strchr(field, '.')) {
			if (strncmp(field, "metrics.", 8) != 0)
				return mt_err_set(&req->err, MT_EINVAL,
						  "Invalid order by field name: %.300s. Only metrics are "
						  "supported.", field);
			it->metric = 1;
			it->field = field + 8;
			if (!*it->field)
				return mt_err_set(&req->err, MT_EINVAL,
						  "Invalid order by field name: %.300s", field);
		} else {
			size_t k;

			for (k = 0; k < sizeof(attrs) / sizeof(*attrs); k++)
				if (strcmp(attrs[k].name, field) == 0)
					break;
			if (k == sizeof(attrs) / sizeof(*attrs))
				return mt_err_set(&req->err, MT_EINVAL,
						  "Invalid order by field name: %.300s", field);
			it->field = attrs[k].canon;
		}
		json_array_append_new(*norm, json_pack("{s:s,s:b,s:s?,s:s?}", "field_name", field,
						       "ascending", it->asc, "dataset_name",
						       it->ds_name, "dataset_digest", it->ds_digest));
	}
	*n = json_array_size(arr);
	return 0;
}

/* POST logged-models/search */
int api_lm_search(struct mt_req *req)
{
	struct lm_search s = { 0 };
	struct lm_dataset *datasets = NULL;
	struct lm_order *order = NULL;
	struct mt_filter f = MT_FILTER_INIT;
	const char *filter, *token, **ids;
	json_t *exps = NULL, *order_norm, *search, *list, *v;
	long long max = LM_DEFAULT_MAX_RESULTS;
	size_t i, keep = 0;
	int more = 0, rc = -1;

	if (exp_ids_arg(req, &exps) || req_opt_str(req, "filter", &filter) ||
	    datasets_arg(req, &datasets, &s.ndatasets) || order_arg(req, &order, &s.norder, &order_norm) ||
	    req_opt_str(req, "page_token", &token))
		return -1;
	v = json_object_get(req->body, "max_results");
	if (v && !json_is_null(v) && (json_is_boolean(v) || mt_json_i64(&max, v, "max_results", &req->err)))
		return json_is_boolean(v) ? wrong_type(req, "max_results", v) : -1;
	if (max == 0) /* the handler passes `max_results or None` */
		max = LM_STORE_MAX_RESULTS;
	if (max < 0 || max > MT_SEARCH_LOGGED_MODELS_MAX)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value %lld for parameter 'max_results' supplied. It must be "
				  "at most %d", max, MT_SEARCH_LOGGED_MODELS_MAX);
	search = token_search(req, exps, filter, order_norm);
	if (token && *token && token_decode(req, token, search, &s.offset))
		return -1;
	if (mt_filter_parse(&f, MT_FE_LOGGED_MODELS, filter, &req->err))
		return -1;
	/* Ids that are not numbers name no experiment. */
	ids = mt_arena_alloc(req->arena, sizeof(char *) * (json_array_size(exps) + 1));
	json_array_foreach(exps, i, v) {
		const char *e = json_string_value(v);
		size_t n = strlen(e);

		if (n && n <= 18 && strspn(e, "0123456789") == n)
			ids[keep++] = e;
	}
	if (keep == 0) {
		rc = 0;
		goto done;
	}
	s.exp_ids = ids;
	s.nexp = keep;
	s.filter = &f;
	s.datasets = datasets;
	s.order = order;
	s.limit = max;
	list = req_own(req, json_array());
	if (sql_lm_search(req, &s, list, &more, &req->err))
		goto done;
	if (json_array_size(list))
		json_object_set(req_resp(req), "models", list);
	if (more)
		mt_json_set_str(req_resp(req), "next_page_token",
				token_encode(req, search, s.offset + max));
	rc = 0;
done:
	mt_filter_release(&f);
	return rc;
}
