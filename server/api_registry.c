/*
 * api_registry.c: /api/2.0/mlflow/registered-models/... (MLFLOW-API.md §4):
 * create, get, rename, update (PATCH), delete (DELETE, hard), search (GET),
 * get-latest-versions (POST and GET), set-tag, delete-tag and aliases; plus
 * the argument checks every registry handler shares (api_registry.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "api_gates.h"
#include "api_registry.h"
#include "mt_filter.h"
#include "mt_json.h"
#include "mt_util.h"
#include "mt_validate.h"
#include "sql_registry.h"
#include "webhooks.h"

/* ---- shared argument checks ---- */

/* Characters (UTF-8 code points) in s. */
static size_t nchars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

int reg_name_arg(struct mt_req *req, const char *field, const char **out)
{
	size_t n;

	if (req_str(req, field, out))
		return -1;
	n = nchars(*out);
	if (n > REG_MAX_NAME_LEN)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Registered model name '%.40s...' had length %zu, which exceeded "
				  "length limit of %d", *out, n, REG_MAX_NAME_LEN);
	return 0;
}

int reg_version_arg(struct mt_req *req, const char *name, const char **out)
{
	const char *s;
	char *end;
	long long v;

	if (req_str(req, "version", &s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end || errno == ERANGE)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Model version must be an integer, got '%s'", s);
	if (v < 1 || v > 2147483647LL)
		return mt_err_set(&req->err, MT_ENOTFOUND,
				  "Model Version (name=%s, version=%s) not found", name, s);
	*out = mt_arena_printf(req->arena, "%lld", v);
	return 0;
}

int reg_description_arg(struct mt_req *req, const char **out)
{
	size_t n;

	if (req_opt_str(req, "description", out))
		return -1;
	if (*out && (n = nchars(*out)) > REG_MAX_DESCRIPTION_LEN)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Description had length %zu, which exceeded length limit of %d", n,
				  REG_MAX_DESCRIPTION_LEN);
	return 0;
}

int reg_check_tag(struct mt_req *req, const char *what, const char *key, const char *value)
{
	if (mt_validate_key("tag", key, &req->err))
		return -1;
	if (value && nchars(value) > REG_MAX_TAG_VALUE_LEN)
		return mt_err_set(&req->err, MT_EINVAL,
				  "%s value '%.40s...' for key '%s' had length %zu, which exceeded "
				  "length limit of %d", what, value, key, nchars(value),
				  REG_MAX_TAG_VALUE_LEN);
	return 0;
}

int reg_tags_arg(struct mt_req *req, const char *what, const char ***keys,
		 const char ***values, size_t *n)
{
	json_t *arr = json_object_get(req->body, "tags"), *t;
	size_t i, out = 0;

	*n = 0;
	*keys = *values = NULL;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value for parameter 'tags': expected a list");
	*keys = mt_arena_alloc(req->arena, sizeof(char *) * (json_array_size(arr) + 1));
	*values = mt_arena_alloc(req->arena, sizeof(char *) * (json_array_size(arr) + 1));
	json_array_foreach(arr, i, t) {
		const char *k, *v;
		size_t j;

		if (!json_is_object(t))
			return mt_err_set(&req->err, MT_EINVAL,
					  "Invalid tag at index %zu: expected an object", i);
		if (mt_json_req_str(&k, t, "key", req->arena, &req->err) ||
		    mt_json_opt_str(&v, t, "value", req->arena, &req->err) ||
		    reg_check_tag(req, what, k, v))
			return -1;
		for (j = 0; j < out && strcmp((*keys)[j], k) != 0; j++)
			;
		(*keys)[j] = k;
		(*values)[j] = v ? v : "";
		if (j == out)
			out++;
	}
	*n = out;
	return 0;
}

static const char *const stages[] = { "None", "Staging", "Production", "Archived" };

const char *reg_stage_of(const char *name)
{
	for (size_t i = 0; name && i < sizeof(stages) / sizeof(*stages); i++)
		if (strcasecmp(name, stages[i]) == 0)
			return stages[i];
	return NULL;
}

int reg_stage_canonical(struct mt_req *req, const char *in, const char **out)
{
	for (size_t i = 0; i < sizeof(stages) / sizeof(*stages); i++) {
		if (in && strcasecmp(in, stages[i]) == 0) {
			*out = stages[i];
			return 0;
		}
	}
	return mt_err_set(&req->err, MT_EINVAL,
			  "Invalid Model Version stage: %s. Value must be one of None, Staging, "
			  "Production, Archived.", in ? in : "");
}

int reg_max_results(struct mt_req *req, long long def, long long max, long long *out)
{
	int have;

	if (mt_json_opt_i64(out, &have, req->body, "max_results", &req->err))
		return -1;
	if (!have)
		*out = def;
	if (*out < 1)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value for request parameter max_results. It must be a "
				  "positive integer, but got value %lld", *out);
	if (*out > max)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value for request parameter max_results. It must be at "
				  "most %lld, but got value %lld", max, *out);
	return 0;
}

/* ---- registered models ---- */

/* The model named by "name": its id (404 when missing). */
static int find_model(struct mt_req *req, int lock, const char **name, const char **id)
{
	if (reg_name_arg(req, "name", name))
		return -1;
	return sql_reg_model_find(req, *name, lock, id, &req->err);
}

static int reply_model(struct mt_req *req, const char *id)
{
	json_t *m;

	if (sql_reg_model_get(req, id, &m, &req->err))
		return -1;
	json_object_set(req_resp(req), "registered_model", m);
	return 0;
}

int api_reg_models_create(struct mt_req *req)
{
	const char *name, *desc, *id;
	const char **keys, **values;
	size_t ntags;

	if (reg_name_arg(req, "name", &name) || reg_description_arg(req, &desc) ||
	    reg_tags_arg(req, "Registered model", &keys, &values, &ntags))
		return -1;
	if (sql_reg_model_create(req, name, desc, mt_now_ms(), &id, &req->err))
		return -1;
	for (size_t i = 0; i < ntags; i++)
		if (sql_reg_model_set_tag(req, id, keys[i], values[i], &req->err))
			return -1;
	{
		/* A prompt (MLflow's prompt tag) is announced as MLflow does:
		 * PROMPT CREATED, without the prompt's own tags. */
		json_t *tags = json_object();
		int prompt = 0;

		for (size_t i = 0; i < ntags; i++)
			prompt |= strcmp(keys[i], "mlflow.prompt.is_prompt") == 0;
		for (size_t i = 0; i < ntags; i++)
			if (!prompt || (strcmp(keys[i], "mlflow.prompt.is_prompt") != 0 &&
					strcmp(keys[i], "_mlflow_prompt_type") != 0))
				json_object_set_new(tags, keys[i],
						    json_string(values[i] ? values[i] : ""));
		if (webhook_enqueue(req, prompt ? "prompt" : "registered_model", "created",
				    req_own(req, json_pack("{s:s, s:o, s:o}", "name", name, "tags",
							   tags, "description",
							   desc && *desc ? json_string(desc)
									 : json_null())),
				    &req->err))
			return -1;
	}
	return reply_model(req, id);
}

int api_reg_models_get(struct mt_req *req)
{
	const char *name, *id;

	if (find_model(req, 0, &name, &id))
		return -1;
	return reply_model(req, id);
}

int api_reg_models_rename(struct mt_req *req)
{
	const char *name, *new_name, *id;

	if (reg_name_arg(req, "name", &name) || reg_name_arg(req, "new_name", &new_name) ||
	    sql_reg_model_find(req, name, 1, &id, &req->err) ||
	    sql_reg_model_rename(req, id, new_name, mt_now_ms(), &req->err))
		return -1;
	return reply_model(req, id);
}

int api_reg_models_update(struct mt_req *req)
{
	const char *name, *desc, *id;

	if (find_model(req, 1, &name, &id) || reg_description_arg(req, &desc) ||
	    sql_reg_model_update(req, id, desc, mt_now_ms(), &req->err))
		return -1;
	return reply_model(req, id);
}

/* The gates go with the model: their removal is recorded first, so that
 * deleting a model and making it again under the same name cannot remove
 * a gate silently. */
int api_reg_models_delete(struct mt_req *req)
{
	const char *name, *id;

	if (find_model(req, 1, &name, &id) || gate_audit_model_delete(req, id, name))
		return -1;
	return sql_reg_model_delete(req, id, &req->err);
}

int reg_search(struct mt_req *req, enum mt_filter_entity ent, long long def, long long max,
	       reg_search_fn fn, const char *field)
{
	long long limit, offset = 0;
	const char *filter, *token;
	const char **order;
	size_t norder;
	int more = 0, rc = -1;
	struct mt_filter f = MT_FILTER_INIT;
	struct mt_order_list o = MT_ORDER_LIST_INIT;
	json_t *list;

	if (reg_max_results(req, def, max, &limit) ||
	    req_opt_str(req, "filter", &filter) || req_opt_str(req, "page_token", &token) ||
	    mt_json_str_list(&order, &norder, req->body, "order_by", req->arena, &req->err))
		return -1;
	if (token && *token && mt_page_token_decode(&offset, token, &req->err))
		return -1;
	if (mt_filter_parse(&f, ent, filter, &req->err) ||
	    mt_order_parse(&o, ent, order, norder, &req->err))
		goto done;
	list = req_own(req, json_array());
	if (fn(req, &f, &o, limit, offset, list, &more, &req->err))
		goto done;
	if (json_array_size(list))
		json_object_set(req_resp(req), field, list);
	if (more)
		mt_json_set_str(req_resp(req), "next_page_token",
				mt_page_token_encode(req->arena, offset + limit));
	rc = 0;
done:
	mt_filter_release(&f);
	mt_order_release(&o);
	return rc;
}

int api_reg_models_search(struct mt_req *req)
{
	return reg_search(req, MT_FE_MODELS, REG_SEARCH_MODELS_DEFAULT, REG_SEARCH_MODELS_MAX,
			  sql_reg_model_search, "registered_models");
}

int api_reg_models_latest_versions(struct mt_req *req)
{
	const char *name, *id;
	const char **want;
	size_t n;
	json_t *list;

	if (reg_name_arg(req, "name", &name) ||
	    mt_json_str_list(&want, &n, req->body, "stages", req->arena, &req->err))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (reg_stage_canonical(req, want[i], &want[i]))
			return -1;
	if (n == 0) {
		want = (const char **)stages;
		n = sizeof(stages) / sizeof(*stages);
	}
	if (sql_reg_model_find(req, name, 0, &id, &req->err))
		return -1;
	list = req_own(req, json_array());
	if (sql_reg_latest_versions(req, id, want, n, list, &req->err))
		return -1;
	if (json_array_size(list))
		json_object_set(req_resp(req), "model_versions", list);
	return 0;
}

int api_reg_models_set_tag(struct mt_req *req)
{
	const char *name, *id, *key, *value;

	if (reg_name_arg(req, "name", &name) || req_str(req, "key", &key) ||
	    req_opt_str(req, "value", &value) || reg_check_tag(req, "Registered model", key, value) ||
	    sql_reg_model_find(req, name, 0, &id, &req->err))
		return -1;
	return sql_reg_model_set_tag(req, id, key, value, &req->err);
}

int api_reg_models_delete_tag(struct mt_req *req)
{
	const char *name, *id, *key;

	if (reg_name_arg(req, "name", &name) || req_str(req, "key", &key) ||
	    mt_validate_key("tag", key, &req->err) ||
	    sql_reg_model_find(req, name, 0, &id, &req->err))
		return -1;
	return sql_reg_model_delete_tag(req, id, key, &req->err);
}

/* ---- aliases ---- */

static int alias_char(unsigned char c)
{
	/* Python's \w is Unicode-aware: non-ASCII bytes of (valid) UTF-8 pass. */
	return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int reg_alias_arg(struct mt_req *req, const char *field, enum reg_alias_use use,
		  const char **out)
{
	const char *a, *stage;
	size_t n;

	if (req_str(req, field, &a))
		return -1;
	for (const char *p = a; *p; p++)
		if (!alias_char((unsigned char)*p))
			return mt_err_set(&req->err, MT_EINVAL,
					  "Invalid alias name: '%s'. Names may only contain "
					  "alphanumerics, underscores (_), and dashes (-).", a);
	n = nchars(a);
	if (n > REG_MAX_ALIAS_LEN)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Registered model alias name '%.40s...' had length %zu, which "
				  "exceeded length limit of %d", a, n, REG_MAX_ALIAS_LEN);
	if (strcasecmp(a, "latest") == 0)
		return mt_err_set(&req->err, MT_EINVAL,
				  "'latest' alias name (case insensitive) is reserved.");
	if ((a[0] == 'v' || a[0] == 'V') && a[1] && strspn(a + 1, "0123456789") == strlen(a + 1))
		return mt_err_set(&req->err, MT_EINVAL, "Version alias name '%s' is reserved.", a);
	if (use == REG_ALIAS_NEW && (stage = reg_stage_of(a)))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid alias name: '%s' is the stage %s (NAME@%s means the "
				  "stage). Stage names (None, Staging, Production, Archived, in any "
				  "case) cannot be aliases.", a, stage, a);
	*out = a;
	return 0;
}

/* MLflow's alias routes go through the alias's gate (api_gates.c), in their
 * own transaction, so that a refusal is recorded: an MLflow client is held
 * to the same gates as mltrack's. */
int api_reg_alias_set(struct mt_req *req)
{
	struct gate_alias_move m = { 0 };
	json_t *version, *report;
	const char *previous;
	int forced;

	if (reg_name_arg(req, "name", &m.name) || reg_alias_arg(req, "alias", REG_ALIAS_NEW, &m.alias) ||
	    reg_version_arg(req, m.name, &m.version))
		return -1;
	return gate_alias(req, &m, &version, &report, &forced, &previous);
}

int api_reg_alias_delete(struct mt_req *req)
{
	struct gate_alias_move m = { 0 };
	json_t *version, *report;
	const char *previous;
	int forced;

	if (reg_name_arg(req, "name", &m.name) || reg_alias_arg(req, "alias", REG_ALIAS_ANY, &m.alias))
		return -1;
	return gate_alias(req, &m, &version, &report, &forced, &previous);
}

/* NAME@X: a stage name (any case) is the stage, and gives the newest
 * version in it, whatever alias an older mltrackd may have stored under
 * that name; anything else is the alias. */
int api_reg_alias_get(struct mt_req *req)
{
	const char *name, *id, *alias, *version, *stage;
	json_t *mv;

	if (reg_name_arg(req, "name", &name) || reg_alias_arg(req, "alias", REG_ALIAS_ANY, &alias) ||
	    sql_reg_model_find(req, name, 0, &id, &req->err))
		return -1;
	if ((stage = reg_stage_of(alias))) {
		json_t *list = req_own(req, json_array());

		if (sql_reg_latest_versions(req, id, &stage, 1, list, &req->err))
			return -1;
		if (!json_array_size(list))
			return mt_err_set(&req->err, MT_EINVAL,
					  "Registered model alias %s not found: '%s' is the stage "
					  "%s, and no version of model '%s' is in it.", alias, alias,
					  stage, name);
		json_object_set(req_resp(req), "model_version", json_array_get(list, 0));
		return 0;
	}
	if (sql_reg_alias_get(req, id, alias, &version, &req->err))
		return -1;
	if (!version)
		return mt_err_set(&req->err, MT_EINVAL, "Registered model alias %s not found.",
				  alias);
	if (sql_reg_version_get(req, id, name, version, &mv, &req->err))
		return -1;
	json_object_set(req_resp(req), "model_version", mv);
	return 0;
}
