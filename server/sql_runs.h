/* sql_runs.h: typed access to runs, params, tags, metrics (SQL in sql_runs.c). */
#ifndef MT_SQL_RUNS_H
#define MT_SQL_RUNS_H

#include "server.h"

struct mt_filter;
struct mt_order_list;

struct run_new {
	const char *run_id, *experiment_id, *name, *user_id, *artifact_uri;
	long long start_time;
	int has_start;
};

struct metric_batch {
	size_t n;
	const char **keys;
	long long *steps, *timestamps;
	double *values;
};

int sql_runs_insert(struct mt_req *req, const struct run_new *r, struct mt_err *err);
/* Full Run JSON (request-owned), or ENOTFOUND "Run with id=X not found". */
int sql_runs_get(struct mt_req *req, const char *run_id, json_t **out, struct mt_err *err);
/* RunInfo JSON only. */
int sql_runs_info(struct mt_req *req, const char *run_id, json_t **out, struct mt_err *err);
/* lifecycle_stage of a run, or ENOTFOUND. */
int sql_runs_stage(struct mt_req *req, const char *run_id, const char **out, struct mt_err *err);
/* Lock the run (FOR UPDATE, inside a transaction) and read its stage and
 * the tag key (*value NULL when the run has no such tag); ENOTFOUND as
 * sql_runs_stage.  Both strings live until the request ends. */
int sql_runs_tag_locked(struct mt_req *req, const char *run_id, const char *key,
			const char **stage, const char **value, struct mt_err *err);
/* MLflow's dataset summaries ({experiment_id, name, digest, context?}) of
 * the experiments (numeric ids), appended to list. */
int sql_runs_dataset_summaries(struct mt_req *req, const char **exp_ids, size_t n,
			       json_t *list, struct mt_err *err);
/* NULL arguments leave the column as it is. */
int sql_runs_update(struct mt_req *req, const char *run_id, const char *status,
		    const char *end_time, const char *name, struct mt_err *err);
int sql_runs_set_stage(struct mt_req *req, const char *run_id, const char *stage,
		       long long deleted_time, struct mt_err *err);
/* keys/values are parallel; keys must be unique.  Fails with MLflow's
 * message when a key already has a different value. */
int sql_runs_log_params(struct mt_req *req, const char *run_id, const char **keys,
			const char **values, size_t n, struct mt_err *err);
/* Upsert tags (keys unique); mlflow.runName also renames the run. */
int sql_runs_set_tags(struct mt_req *req, const char *run_id, const char **keys,
		      const char **values, size_t n, struct mt_err *err);
int sql_runs_delete_tag(struct mt_req *req, const char *run_id, const char *key,
			struct mt_err *err);
int sql_runs_log_metrics(struct mt_req *req, const char *run_id, const struct metric_batch *m,
			 struct mt_err *err);
/* One point without a transaction; *stage is the run's lifecycle stage
 * (nothing is written unless it is "active"). */
int sql_runs_log_metric_one(struct mt_req *req, const char *run_id, const char *key,
			    long long step, long long ts, double value, const char **stage,
			    struct mt_err *err);
/* One dataset input of a run, with its tags (parallel arrays). */
int sql_runs_log_input(struct mt_req *req, const char *run_id, json_t *dataset,
		       const char **tag_keys, const char **tag_values, size_t ntags,
		       struct mt_err *err);
/* view: 1 active, 2 deleted, 3 all.  Appends Run objects to list. */
int sql_runs_search(struct mt_req *req, const char **exp_ids, size_t nexp,
		    const struct mt_filter *f, const struct mt_order_list *o, int view,
		    long long limit, long long offset, json_t *list, struct mt_err *err);

/* The Metric JSON object MLflow sends (a new reference), from PostgreSQL's
 * text of the fields or from their values. */
json_t *sql_metric_json(const char *key, const char *value, const char *timestamp,
			const char *step);
json_t *sql_metric_point_json(const char *key, double value, long long timestamp,
			      long long step);

#endif
