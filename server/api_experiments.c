/* api_experiments.c: /api/2.0/mlflow/experiments/... (MLFLOW-API.md §3). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "api_common.h"
#include "mt_filter.h"
#include "mt_json.h"
#include "mt_limits.h"
#include "mt_util.h"
#include "mt_validate.h"
#include "sql_experiments.h"

int api_exp_id(struct mt_req *req, const char *field, const char **out)
{
	const char *id;
	size_t n;

	if (req_str(req, field, &id) || mt_validate_experiment_id(id, &req->err))
		return -1;
	n = strlen(id);
	if (n > 18 || strspn(id, "0123456789") != n)
		return mt_err_set(&req->err, MT_ENOTFOUND, "No Experiment with id=%s exists", id);
	*out = id;
	return 0;
}

int api_check_active(struct mt_req *req, const char *what, const char *id, const char *stage)
{
	if (strcmp(stage, "active") == 0)
		return 0;
	return mt_err_set(&req->err, MT_EINVAL,
			  "The %s %s must be in the 'active' state. Current state is %s.", what, id,
			  stage);
}

int api_view_type(struct mt_req *req, const char *field, int *out)
{
	json_t *v = json_object_get(req->body, field);

	*out = 1;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (strlen(s) != json_string_length(v))
			goto bad;

		if (strcasecmp(s, "ACTIVE_ONLY") == 0 || strcmp(s, "1") == 0)
			*out = 1;
		else if (strcasecmp(s, "DELETED_ONLY") == 0 || strcmp(s, "2") == 0)
			*out = 2;
		else if (strcasecmp(s, "ALL") == 0 || strcmp(s, "3") == 0)
			*out = 3;
		else
			goto bad;
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 3) {
		*out = (int)json_integer_value(v);
		return 0;
	}
bad:
	return mt_err_set(&req->err, MT_EINVAL,
			  "Invalid value for parameter '%s': expected ACTIVE_ONLY, DELETED_ONLY or ALL",
			  field);
}

static int check_tags(struct mt_req *req, json_t *tags, size_t maxval)
{
	size_t i;
	json_t *t;

	if (!tags || json_is_null(tags))
		return 0;
	if (!json_is_array(tags))
		return mt_err_set(&req->err, MT_EINVAL, "Invalid value for parameter 'tags': expected a list");
	json_array_foreach(tags, i, t) {
		const char *k, *v;

		if (!json_is_object(t))
			return mt_err_set(&req->err, MT_EINVAL, "Invalid tag at index %zu: expected an object", i);
		if (mt_json_req_str(&k, t, "key", req->arena, &req->err) ||
		    mt_json_opt_str(&v, t, "value", req->arena, &req->err) ||
		    mt_validate_key("tag", k, &req->err) ||
		    mt_validate_value_len("Tag", k, v, maxval, &req->err))
			return -1;
	}
	return 0;
}

int api_experiments_create(struct mt_req *req)
{
	const char *name, *loc, *id;
	json_t *tags = json_object_get(req->body, "tags"), *t;
	size_t i;
	long long now = mt_now_ms();

	if (req_str(req, "name", &name) || mt_validate_experiment_name(name, &req->err) ||
	    req_opt_str(req, "artifact_location", &loc) ||
	    mt_validate_artifact_location(loc, &req->err) ||
	    check_tags(req, tags, MT_MAX_EXP_TAG_VALUE_LEN))
		return -1;
	if (sql_exp_create(req, name, loc, now, &id, &req->err))
		return -1;
	if (tags && json_is_array(tags)) {
		json_array_foreach(tags, i, t) {
			const char *k, *v;

			mt_json_opt_str(&k, t, "key", req->arena, &req->err);
			mt_json_opt_str(&v, t, "value", req->arena, &req->err);
			if (sql_exp_set_tag(req, id, k, v, &req->err))
				return -1;
		}
	}
	json_object_set_new(req_resp(req), "experiment_id", json_string(id));
	return 0;
}

int api_experiments_get(struct mt_req *req)
{
	const char *id;
	json_t *e;

	if (api_exp_id(req, "experiment_id", &id) || sql_exp_get(req, id, &e, &req->err))
		return -1;
	json_object_set(req_resp(req), "experiment", e);
	return 0;
}

int api_experiments_get_by_name(struct mt_req *req)
{
	const char *name;
	json_t *e;

	if (req_str(req, "experiment_name", &name) ||
	    sql_exp_get_by_name(req, name, &e, &req->err))
		return -1;
	json_object_set(req_resp(req), "experiment", e);
	return 0;
}

int api_experiments_search(struct mt_req *req)
{
	long long max = 0, offset = 0;
	int have_max, view, more = 0, rc = -1;
	const char *filter, *token;
	const char **order;
	size_t norder;
	struct mt_filter f = { 0 };
	struct mt_order_list o = { 0 };
	json_t *list;

	if (mt_json_opt_i64(&max, &have_max, req->body, "max_results", &req->err))
		return -1;
	/* MLflow's SQL store's words (an absent max_results is proto's 0). */
	if (!have_max || max <= 0)
		return mt_err_set(&req->err, MT_EINVAL, "Invalid value for max_results. It must be a "
				  "positive integer, but got %lld", have_max ? max : 0);
	if (max > MT_SEARCH_EXPS_MAX)
		return mt_err_set(&req->err, MT_EINVAL, "Invalid value for max_results. It must be at "
				  "most %d, but got %lld", MT_SEARCH_EXPS_MAX, max);
	if (req_opt_str(req, "filter", &filter) || req_opt_str(req, "page_token", &token) ||
	    mt_json_str_list(&order, &norder, req->body, "order_by", req->arena, &req->err) ||
	    api_view_type(req, "view_type", &view))
		return -1;
	if (token && *token && mt_page_token_decode(&offset, token, &req->err))
		return -1;
	if (mt_filter_parse(&f, MT_FE_EXPERIMENTS, filter, &req->err) ||
	    mt_order_parse(&o, MT_FE_EXPERIMENTS, order, norder, &req->err))
		goto done;
	list = req_own(req, json_array());
	if (sql_exp_search(req, &f, &o, view, max, offset, list, &more, &req->err))
		goto done;
	if (json_array_size(list))
		json_object_set(req_resp(req), "experiments", list);
	if (more)
		mt_json_set_str(req_resp(req), "next_page_token",
				mt_page_token_encode(req->arena, offset + max));
	rc = 0;
done:
	mt_filter_release(&f);
	mt_order_release(&o);
	return rc;
}

/* The experiment must exist (404) and be active (400). */
static int require_active(struct mt_req *req, const char *id)
{
	const char *stage;

	if (sql_exp_stage(req, id, &stage, &req->err))
		return -1;
	return api_check_active(req, "experiment", id, stage);
}

int api_experiments_update(struct mt_req *req)
{
	const char *id, *name;

	if (api_exp_id(req, "experiment_id", &id) || req_str(req, "new_name", &name) ||
	    mt_validate_experiment_name(name, &req->err) || require_active(req, id))
		return -1;
	return sql_exp_rename(req, id, name, mt_now_ms(), &req->err);
}

static int set_stage(struct mt_req *req, const char *from, const char *to)
{
	const char *id, *stage;

	if (api_exp_id(req, "experiment_id", &id) || sql_exp_stage(req, id, &stage, &req->err))
		return -1;
	if (strcmp(stage, from) != 0)
		return mt_err_set(&req->err, MT_ENOTFOUND,
				  "No %s experiment with id=%s exists", from, id);
	return sql_exp_set_stage(req, id, to, mt_now_ms(), &req->err);
}

int api_experiments_delete(struct mt_req *req)
{
	return set_stage(req, "active", "deleted");
}

int api_experiments_restore(struct mt_req *req)
{
	return set_stage(req, "deleted", "active");
}

int api_experiments_set_tag(struct mt_req *req)
{
	const char *id, *key, *value;

	if (api_exp_id(req, "experiment_id", &id) || req_str(req, "key", &key) ||
	    req_opt_str(req, "value", &value) || mt_validate_key("tag", key, &req->err) ||
	    mt_validate_value_len("Tag", key, value, MT_MAX_EXP_TAG_VALUE_LEN, &req->err) ||
	    require_active(req, id))
		return -1;
	return sql_exp_set_tag(req, id, key, value, &req->err);
}
