/* sql_runs.h: typed access to runs, params, tags, metrics (SQL in sql_runs.c). */
#ifndef MT_SQL_RUNS_H
#define MT_SQL_RUNS_H

#include "server.h"

struct mt_filter;
struct mt_order_list;

/* A run's row as sql_runs_fill() reads it (columns 0-8), runs aliased r. */
#define SQL_RUN_COLS "r.run_id, r.experiment_id, r.name, r.user_id, r.status, r.start_time, " \
		     "r.end_time, r.artifact_uri, r.lifecycle_stage"

struct run_new {
	const char *run_id, *experiment_id, *name, *user_id, *artifact_uri;
	long long start_time;
	int has_start;
};

/* A batch of points.  model_ids, ds_names and ds_digests are NULL when no
 * point of the batch carries any of those fields (MLflow 3's Metric
 * model_id, dataset_name, dataset_digest), else parallel arrays whose items
 * may be NULL. */
struct metric_batch {
	size_t n;
	const char **keys;
	long long *steps, *timestamps;
	double *values;
	const char **model_ids, **ds_names, **ds_digests;
};

int sql_runs_insert(struct mt_req *req, const struct run_new *r, struct mt_err *err);
/* Full Run JSON (request-owned), or ENOTFOUND "Run with id=X not found". */
int sql_runs_get(struct mt_req *req, const char *run_id, json_t **out, struct mt_err *err);
/* RunInfo JSON only. */
int sql_runs_info(struct mt_req *req, const char *run_id, json_t **out, struct mt_err *err);
/* lifecycle_stage of a run, or ENOTFOUND. */
int sql_runs_stage(struct mt_req *req, const char *run_id, const char **out, struct mt_err *err);
/* The same, holding the run's row (FOR KEY SHARE) until the transaction
 * ends: what a transaction that writes points calls first, since metrics
 * has no foreign key to runs (migration 0010).  *experiment_id is the
 * run's experiment (digits), the partition of metrics its points go to
 * (migration 0013).  Both strings live until the request ends. */
int sql_runs_stage_for_points(struct mt_req *req, const char *run_id, const char **out,
			      const char **experiment_id, struct mt_err *err);
/* The experiment of a run (digits), "-1" when there is no such run: what a
 * read of metrics names so that it touches one partition.  *out lives until
 * the request ends. */
int sql_runs_experiment(struct mt_req *req, const char *run_id, const char **out,
			struct mt_err *err);
/* The same for runs run_ids[0..n): the distinct experiments as a bigint[]
 * literal ("{}" when none exists). */
int sql_runs_experiments(struct mt_req *req, const char **run_ids, size_t n, const char **out,
			 struct mt_err *err);
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
/* History, latest values and, for points with a model_id, the models'
 * metrics (the models must exist: sql_lm_check_ids).  In the request's
 * transaction. */
int sql_runs_log_metrics(struct mt_req *req, const char *run_id, const char *experiment_id,
			 const struct metric_batch *m, struct mt_err *err);
/* One point without a transaction; *stage is the run's lifecycle stage
 * (nothing is written unless it is "active").  model_id, ds_name and
 * ds_digest may be NULL; a model_id that names no logged model writes
 * nothing and sets *model_found to 0 (else 1). */
int sql_runs_log_metric_one(struct mt_req *req, const char *run_id, const char *key,
			    long long step, long long ts, double value, const char *model_id,
			    const char *ds_name, const char *ds_digest, const char **stage,
			    int *model_found, struct mt_err *err);
/* runs/outputs: (model, step) links, a repeated one kept once. */
int sql_runs_log_outputs(struct mt_req *req, const char *run_id, const char **model_ids,
			 const long long *steps, size_t n, struct mt_err *err);
/* log-inputs' models: model links, a repeated one kept once. */
int sql_runs_log_model_inputs(struct mt_req *req, const char *run_id, const char **model_ids,
			      size_t n, struct mt_err *err);
/* One dataset input of a run, with its tags (parallel arrays). */
int sql_runs_log_input(struct mt_req *req, const char *run_id, json_t *dataset,
		       const char **tag_keys, const char **tag_values, size_t ntags,
		       struct mt_err *err);
/* Run objects for the rows of `rows` (SQL_RUN_COLS first), in order, with
 * their data and inputs, appended to list. */
int sql_runs_fill(struct mt_req *req, PGresult *rows, json_t *list, struct mt_err *err);
/* The same as JSON text: the Run objects for the rows of `rows` (RUN_COLS),
 * comma-separated (*out, request memory; "" for no rows), as mt_json_dumps()
 * would write sql_runs_fill()'s, written straight from run_children's rows
 * (one statement, seven scans of the page's ids): no tree of objects, but
 * for the rare runs with inputs or outputs. */
int sql_runs_render(struct mt_req *req, PGresult *rows, const char **out, struct mt_err *err);

/* Where a runs/search page starts, and (out) where it ended.  after is the
 * previous page's last row as sql_runs_search() described it (keyset), or
 * NULL: then the page starts offset rows into the result. */
struct runs_page {
	long long offset;
	const char *const *after;
	size_t nafter;
	const char **last;   /* out: the page's last row (arena strings), NULL: none */
	size_t nlast;
};

/* runs/search (SQL in sql_search.c).  view: 1 active, 2 deleted, 3 all.
 * At most limit Run objects, as JSON text, comma-separated (*runs, request
 * memory), and how many (*n).  A page->after that does not describe a row
 * of this search's order is INVALID_PARAMETER_VALUE. */
int sql_runs_search(struct mt_req *req, const char **exp_ids, size_t nexp,
		    const struct mt_filter *f, const struct mt_order_list *o, int view,
		    long long limit, struct runs_page *page, const char **runs, size_t *n,
		    struct mt_err *err);

/* The Metric JSON object MLflow sends (a new reference), from PostgreSQL's
 * text of the fields or from their values. */
json_t *sql_metric_json(const char *key, const char *value, const char *timestamp,
			const char *step);
json_t *sql_metric_point_json(const char *key, double value, long long timestamp,
			      long long step);
/* Add MLflow 3's fields to a Metric object, each when not NULL or empty, in
 * the proto's order (dataset_name, dataset_digest, model_id). */
void sql_metric_extras(json_t *m, const char *ds_name, const char *ds_digest,
		       const char *model_id);

#endif
