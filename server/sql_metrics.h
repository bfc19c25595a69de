/* sql_metrics.h: metric history reads (SQL in sql_metrics.c). */
#ifndef MT_SQL_METRICS_H
#define MT_SQL_METRICS_H

#include "server.h"

/* Every point of (run, key), ordered by step, timestamp, value. */
int sql_metrics_history(struct mt_req *req, const char *run_id, const char *key,
			json_t *list, struct mt_err *err);
/* MLflow's get-history-bulk-interval; start/end may be NULL (both). */
int sql_metrics_bulk_interval(struct mt_req *req, const char **run_ids, size_t n,
			      const char *key, const char *start, const char *end,
			      long long max_results, json_t *list, struct mt_err *err);
/* At most max_points points keeping each bucket's first, last, min, max. */
int sql_metrics_sampled(struct mt_req *req, const char *run_id, const char *key,
			long long max_points, json_t *list, struct mt_err *err);

#endif
