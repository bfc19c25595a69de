/* api_metrics.c: metric history endpoints, MLflow's and our sampled one. */
#include <malloc.h>
#include <string.h>

#include "api.h"
#include "mt_json.h"
#include "mt_limits.h"
#include "mt_validate.h"
#include "sql_metrics.h"
#include "sql_runs.h"

static int opt_i64(struct mt_req *req, const char *field, long long *out, int *present)
{
	return mt_json_opt_i64(out, present, req->body, field, &req->err);
}

static void set_list(struct mt_req *req, json_t *list)
{
	if (json_array_size(list))
		json_object_set(req_resp(req), "metrics", list);
}

/*
 * Memory.  A page of MLflow's maximum (25,000 points) is rendered straight
 * to text (sql_metrics_history): about 2 MB of PGresult and 2 MB of JSON,
 * freed at reset into glibc's per-thread malloc arena, which would keep
 * them (with 16 workers, that is what stayed held).  A request that sent
 * many points gives the memory back once everything it held is freed
 * (malloc_trim walks every arena): the cleanup is registered first, so it
 * runs last.
 */
#define TRIM_AFTER_POINTS 2000

static void trim_after(void *p)
{
	if (*(int *)p >= TRIM_AFTER_POINTS)
		malloc_trim(0);
}

/* MLflow's GetMetricHistory, with its paging: max_results (default and at
 * most MT_HISTORY_MAX_RESULTS) and page_token (mt_history_token_*).  Its
 * own reply (R_RAW): the JSON text sql_metrics_history rendered. */
int api_metrics_get_history(struct mt_req *req)
{
	const char *id, *key, *token, *json;
	struct mt_history_cursor after, next;
	long long max = MT_HISTORY_MAX_RESULTS;
	int has_max, *points = mt_arena_alloc(req->arena, sizeof(*points));

	mt_arena_defer(req->arena, trim_after, points);
	if (req_run_id(req, &id) || req_str(req, "metric_key", &key) ||
	    opt_i64(req, "max_results", &max, &has_max) ||
	    req_opt_str(req, "page_token", &token))
		return -1;
	if (max < 1 || max > MT_HISTORY_MAX_RESULTS)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value %lld for parameter 'max_results' supplied. It must be "
				  "between 1 and %d", max, MT_HISTORY_MAX_RESULTS);
	if (token && *token && mt_history_token_decode(&after, token, &req->err))
		return -1;
	if (sql_metrics_history(req, id, key, max, token && *token ? &after : NULL, &json, points,
				&next, &req->err))
		return -1;
	http_reply_text(req, 200, "application/json", json);
	return 0;
}

int api_metrics_bulk_interval(struct mt_req *req)
{
	const char **ids, *key, *start = NULL, *end = NULL;
	size_t n;
	long long s, e, max = MT_BULK_MAX_RESULTS;
	int has_s, has_e, has_max;
	json_t *list;

	if (mt_json_str_list(&ids, &n, req->body, "run_ids", req->arena, &req->err) ||
	    req_str(req, "metric_key", &key) || opt_i64(req, "start_step", &s, &has_s) ||
	    opt_i64(req, "end_step", &e, &has_e) || opt_i64(req, "max_results", &max, &has_max))
		return -1;
	if (n == 0)
		return mt_err_set(&req->err, MT_EINVAL, "Missing value for required parameter 'run_ids'.");
	if (n > MT_BULK_MAX_RUN_IDS)
		return mt_err_set(&req->err, MT_EINVAL,
				  "GetMetricHistoryBulkInterval request must specify at most %d run_ids. "
				  "Received %zu run_ids.", MT_BULK_MAX_RUN_IDS, n);
	for (size_t i = 0; i < n; i++)
		if (mt_validate_run_id(ids[i], &req->err))
			return -1;
	if (has_s != has_e)
		return mt_err_set(&req->err, MT_EINVAL,
				  "If either start step or end step are specified, both must be specified.");
	if (has_s && s > e)
		return mt_err_set(&req->err, MT_EINVAL, "end_step must be greater than start_step. "
				  "Found start_step=%lld and end_step=%lld.", s, e);
	if (has_max && (max < 1 || max > MT_BULK_MAX_RESULTS))
		return mt_err_set(&req->err, MT_EINVAL,
				  "max_results must be between 1 and %d.", MT_BULK_MAX_RESULTS);
	if (has_s) {
		start = mt_arena_printf(req->arena, "%lld", s);
		end = mt_arena_printf(req->arena, "%lld", e);
	}
	list = req_own(req, json_array());
	if (sql_metrics_bulk_interval(req, ids, n, key, start, end, max, list, &req->err))
		return -1;
	set_list(req, list);
	return 0;
}

int api_metrics_sampled(struct mt_req *req)
{
	const char *id, *key, *stage;
	long long max = 1000;
	int has;
	json_t *list;

	if (req_run_id(req, &id) || req_str(req, "metric_key", &key) ||
	    opt_i64(req, "max_points", &max, &has))
		return -1;
	if (max < 1 || max > MT_SAMPLED_MAX_POINTS)
		return mt_err_set(&req->err, MT_EINVAL, "max_points must be between 1 and %d.",
				  MT_SAMPLED_MAX_POINTS);
	if (sql_runs_stage(req, id, &stage, &req->err))
		return -1;
	list = req_own(req, json_array());
	if (sql_metrics_sampled(req, id, key, max, list, &req->err))
		return -1;
	set_list(req, list);
	return 0;
}
