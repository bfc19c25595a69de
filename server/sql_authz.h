/*
 * sql_authz.h: the SQL of authorization (server/authz.c) and of MLflow's
 * permission API (server/api_users.c): a caller's permission on the
 * resource a request names, in one prepared query per request; the
 * conditions that keep searches to what the caller may read; the creator's
 * MANAGE row; permission rows by user.
 *
 * Permissions are rows of experiment_permissions and
 * registered_model_permissions (migration 0008), keyed by ids, so a rename
 * keeps them and a delete takes them along.  Every value is a parameter.
 * Strings handed out are arena memory.  Every function returns 0, or -1
 * with err set.
 */
#ifndef MT_SQL_AUTHZ_H
#define MT_SQL_AUTHZ_H

#include <jansson.h>

#include "server.h"

/* The caller's standing on a resource. */
struct sqlz_perm {
	int found;               /* the run, logged model, experiment name or model
				  * exists (an experiment id is not looked up) */
	long long experiment_id; /* what a run, logged model or name resolved to */
	const char *permission;  /* the caller's row ("READ"...), NULL: none */
	const char *stage;       /* a model version's current stage, NULL: no such version */
};

/* By experiment id (digits), by name, by run id, by logged model id, for
 * the user user_id. */
int sqlz_experiment(struct mt_req *req, const char *id, long long user_id, struct sqlz_perm *out,
		    struct mt_err *err);
int sqlz_experiment_name(struct mt_req *req, const char *name, long long user_id,
			 struct sqlz_perm *out, struct mt_err *err);
int sqlz_run(struct mt_req *req, const char *run_id, long long user_id, struct sqlz_perm *out,
	     struct mt_err *err);
int sqlz_logged_model(struct mt_req *req, const char *model_id, long long user_id,
		      struct sqlz_perm *out, struct mt_err *err);
/* Runs: one entry per run found, into an arena array. */
int sqlz_runs(struct mt_req *req, const char *const *run_ids, size_t n, long long user_id,
	      struct sqlz_perm **out, size_t *nout, struct mt_err *err);
/* Logged models: one entry per model found, into an arena array. */
int sqlz_logged_models(struct mt_req *req, const char *const *model_ids, size_t n,
		       long long user_id, struct sqlz_perm **out, size_t *nout, struct mt_err *err);
/* A registered model by name, and the current stage of its version
 * `version` (digits, or NULL). */
int sqlz_model(struct mt_req *req, const char *name, const char *version, long long user_id,
	       struct sqlz_perm *out, struct mt_err *err);

/* ---- searches: only what the caller may read (authz_filters) ---- */
struct sqlb;
/* Append " AND <condition>" on the experiment id column col: the caller's
 * permission on it reads, and its scope covers it.  Nothing for a caller
 * authz does not filter.  One hashed subquery, not one per row. */
void sqlz_exp_filter(struct sqlb *b, struct mt_req *req, const char *col);
/* The same for registered models: their id and name columns. */
void sqlz_model_filter(struct sqlb *b, struct mt_req *req, const char *idcol,
		       const char *namecol);
/* Keep in ids[0..*n) the experiments (digit strings) the caller may read,
 * in their order (one query); *n becomes their number. */
int sqlz_readable_experiments(struct mt_req *req, const char **ids, size_t *n,
			      struct mt_err *err);

/* ---- rows ---- */
/* Give user_id `permission` on the experiment, or on the model named name
 * (insert or update). */
int sqlz_grant_experiment(struct mt_req *req, const char *experiment_id, long long user_id,
			  const char *permission, struct mt_err *err);
int sqlz_grant_model(struct mt_req *req, const char *name, long long user_id,
		     const char *permission, struct mt_err *err);

/* MLflow's permission API.  A resource: an experiment id (digits) or a
 * model id; *found 0 when it does not exist. */
int sqlz_experiment_exists(struct mt_req *req, const char *id, int *found, struct mt_err *err);
int sqlz_model_id(struct mt_req *req, const char *name, long long *id, int *found,
		  struct mt_err *err);
/* The row of (resource, user): *permission NULL when there is none. */
int sqlz_exp_perm_get(struct mt_req *req, const char *experiment_id, long long user_id,
		      const char **permission, struct mt_err *err);
int sqlz_model_perm_get(struct mt_req *req, long long model_id, long long user_id,
			const char **permission, struct mt_err *err);
/* Insert (RESOURCE_ALREADY_EXISTS when the row exists), update or delete
 * (*found 0 when there was no row). */
int sqlz_exp_perm_insert(struct mt_req *req, const char *experiment_id, long long user_id,
			 const char *permission, struct mt_err *err);
int sqlz_exp_perm_update(struct mt_req *req, const char *experiment_id, long long user_id,
			 const char *permission, int *found, struct mt_err *err);
int sqlz_exp_perm_delete(struct mt_req *req, const char *experiment_id, long long user_id,
			 int *found, struct mt_err *err);
int sqlz_model_perm_insert(struct mt_req *req, long long model_id, long long user_id,
			   const char *permission, struct mt_err *err);
int sqlz_model_perm_update(struct mt_req *req, long long model_id, long long user_id,
			   const char *permission, int *found, struct mt_err *err);
int sqlz_model_perm_delete(struct mt_req *req, long long model_id, long long user_id,
			   int *found, struct mt_err *err);
/* A user's rows as MLflow's User.to_json lists them: experiment_permissions
 * [{experiment_id, user_id, permission}] and registered_model_permissions
 * [{name, user_id, permission}], appended to the two arrays. */
int sqlz_user_perms(struct mt_req *req, long long user_id, json_t *experiments, json_t *models,
		    struct mt_err *err);

#endif
