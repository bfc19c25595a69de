/* sql_metrics.h: metric history reads (SQL in sql_metrics.c). */
#ifndef MT_SQL_METRICS_H
#define MT_SQL_METRICS_H

#include "mt_json.h"
#include "server.h"

/* MLflow's GetMetricHistory answer for up to limit points of (run, key)
 * in (step, timestamp, value) order, from the start or strictly after
 * *after (may be NULL), rendered straight to JSON text (*json, request
 * memory; "{}" when there are none): a page is a few MB of text, not a
 * tree of 25,000 objects.  When points remain, next_page_token holds the
 * cursor of the last one (also in *next).  *points: how many. */
int sql_metrics_history(struct mt_req *req, const char *run_id, const char *key,
			long long limit, const struct mt_history_cursor *after,
			const char **json, int *points, struct mt_history_cursor *next,
			struct mt_err *err);
/* A metric's value as MLflow's JSON writes it, from PostgreSQL's text of
 * the float8 (0.99, 1e-07, 3.0; NaN and the infinities as the strings
 * "NaN", "Infinity", "-Infinity", quotes included), at out, which has
 * room for MT_JSON_DOUBLE_MAX + 2 bytes.  Returns its length. */
size_t sql_metrics_put_value(char *out, const char *text);
/* MLflow's get-history-bulk-interval; start/end may be NULL (both). */
int sql_metrics_bulk_interval(struct mt_req *req, const char **run_ids, size_t n,
			      const char *key, const char *start, const char *end,
			      long long max_results, json_t *list, struct mt_err *err);
/* MLflow's get-history-bulk: the points of key in the runs, ordered by
 * run id, timestamp, step, value, at most max_results in all. */
int sql_metrics_history_bulk(struct mt_req *req, const char **run_ids, size_t n,
			     const char *key, long long max_results, json_t *list,
			     struct mt_err *err);
/* At most max_points points keeping each bucket's first, last, min, max. */
int sql_metrics_sampled(struct mt_req *req, const char *run_id, const char *key,
			long long max_points, json_t *list, struct mt_err *err);

#endif
