/* sql_logged_models.h: MLflow 3's logged models (SQL in sql_logged_models.c). */
#ifndef MT_SQL_LOGGED_MODELS_H
#define MT_SQL_LOGGED_MODELS_H

#include "server.h"

struct mt_filter;

/* LoggedModelStatus: the proto's numbers and names. */
enum { LM_STATUS_UNSPECIFIED, LM_STATUS_PENDING, LM_STATUS_READY, LM_STATUS_FAILED };
/* "LOGGED_MODEL_READY" ... for 0..3 (a borrowed static string). */
const char *sql_lm_status_name(int status);

struct lm_new {
	const char *model_id, *experiment_id, *name, *artifact_location;
	const char *model_type, *source_run_id;  /* NULL: unset */
	long long now;
	const char **param_keys, **param_values;  /* keys unique */
	size_t nparams;
	const char **tag_keys, **tag_values;      /* keys unique */
	size_t ntags;
};

int sql_lm_insert(struct mt_req *req, const struct lm_new *m, struct mt_err *err);
/* The LoggedModel JSON (request-owned); ENOTFOUND "Logged model with ID
 * '<id>' not found." when there is none, or it is deleted and
 * allow_deleted is 0. */
int sql_lm_get(struct mt_req *req, const char *model_id, int allow_deleted, json_t **out,
	       struct mt_err *err);
/* The model's row, whatever its stage, locked until the end of the
 * transaction: against its removal (FOR KEY SHARE), or with exclusive
 * against other writers that lock it so too (FOR NO KEY UPDATE; a
 * read-modify-write of a tag).  *experiment_id (request memory; may be
 * NULL); ENOTFOUND as sql_lm_get. */
int sql_lm_lock(struct mt_req *req, const char *model_id, int exclusive,
		const char **experiment_id, struct mt_err *err);
/* ENOTFOUND for the first of ids[0..n) that names no model (any stage). */
int sql_lm_check_ids(struct mt_req *req, const char *const *ids, size_t n, struct mt_err *err);
int sql_lm_finalize(struct mt_req *req, const char *model_id, int status, long long now,
		    struct mt_err *err);
int sql_lm_delete(struct mt_req *req, const char *model_id, long long now, struct mt_err *err);
/* Upsert (keys unique). */
int sql_lm_set_tags(struct mt_req *req, const char *model_id, const char **keys,
		    const char **values, size_t n, struct mt_err *err);
/* The tag's value (request memory) or NULL when unset. */
int sql_lm_tag(struct mt_req *req, const char *model_id, const char *key, const char **out,
	       struct mt_err *err);
/* ENOTFOUND "No tag with key '<k>' found for model with ID '<id>'." */
int sql_lm_delete_tag(struct mt_req *req, const char *model_id, const char *key,
		      struct mt_err *err);
/* Insert params (keys unique); a key already logged with another value is
 * EINVAL, one with the same value a no-op. */
int sql_lm_log_params(struct mt_req *req, const char *model_id, const char **keys,
		      const char **values, size_t n, struct mt_err *err);

/* logged-models/search.  order[i]: a field ("name", "creation_timestamp",
 * ... canonical attribute names) or, when metric is set, the metric key;
 * ds_name/ds_digest restrict a metric order to points on that dataset. */
struct lm_order {
	const char *field;
	int metric;
	int asc;
	const char *ds_name, *ds_digest;  /* NULL: any */
};

struct lm_dataset {
	const char *name;
	const char *digest;  /* NULL: any */
};

struct lm_search {
	const char **exp_ids;
	size_t nexp;
	const struct mt_filter *filter;
	const struct lm_dataset *datasets;
	size_t ndatasets;
	const struct lm_order *order;
	size_t norder;
	long long limit, offset;
};

/* Appends LoggedModel objects to list; *more says whether a next page
 * exists. */
int sql_lm_search(struct mt_req *req, const struct lm_search *s, json_t *list, int *more,
		  struct mt_err *err);

/* The status number a filter value names: "READY" or "LOGGED_MODEL_READY"
 * (any case) ... or "0".."3"; -1 when it names none. */
int sql_lm_status_parse(const char *s);

#endif
