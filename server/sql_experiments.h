/* sql_experiments.h: typed access to experiments (all SQL in sql_experiments.c). */
#ifndef MT_SQL_EXPERIMENTS_H
#define MT_SQL_EXPERIMENTS_H

#include "server.h"

struct mt_filter;
struct mt_order_list;

/* *out_id is arena memory. */
int sql_exp_create(struct mt_req *req, const char *name, const char *artifact_location,
		   long long now, const char **out_id, struct mt_err *err);
int sql_exp_set_tag(struct mt_req *req, const char *id, const char *key, const char *value,
		    struct mt_err *err);
/* Experiment JSON (request-owned) or ENOTFOUND.  id must be numeric. */
int sql_exp_get(struct mt_req *req, const char *id, json_t **out, struct mt_err *err);
int sql_exp_get_by_name(struct mt_req *req, const char *name, json_t **out, struct mt_err *err);
/* lifecycle_stage of an experiment ("active"/"deleted") or ENOTFOUND. */
int sql_exp_stage(struct mt_req *req, const char *id, const char **out, struct mt_err *err);
int sql_exp_rename(struct mt_req *req, const char *id, const char *name, long long now,
		   struct mt_err *err);
/* Set the experiment's stage to `to` and cascade to its runs. */
int sql_exp_set_stage(struct mt_req *req, const char *id, const char *to, long long now,
		      struct mt_err *err);
/* view: 1 active, 2 deleted, 3 all.  Appends Experiment objects to list;
 * *more says whether further rows exist. */
int sql_exp_search(struct mt_req *req, const struct mt_filter *f,
		   const struct mt_order_list *o, int view, long long limit,
		   long long offset, json_t *list, int *more, struct mt_err *err);
/* The artifact_location of an experiment. */
int sql_exp_artifact_location(struct mt_req *req, const char *id, const char **out,
			      struct mt_err *err);

/* Helpers shared with sql_runs.c for search SQL. */
struct sqlb {
	struct mt_arena *a;
	char *sql;            /* arena string being built */
	const char **params;  /* arena array */
	int n, cap;
};
void sqlb_init(struct sqlb *b, struct mt_arena *a);
void sqlb_add(struct sqlb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds a parameter and returns its number ($N). */
int sqlb_param(struct sqlb *b, const char *value);
struct mt_filter_clause;
/* A bound numeric filter value: "$N::bigint" for integers, else "$N::float8". */
const char *sqlb_num(struct sqlb *b, const struct mt_filter_clause *c);
/* The SQL operator for a filter op (=, <>, <, LIKE, ILIKE ...). */
const char *sqlb_op(int op);
/* Run the search b holds as one page: LIMIT limit + 1 OFFSET offset is
 * appended, *n gets the rows of the page (at most limit) and *more whether
 * a further row exists.  The result is request-owned; NULL with err set. */
PGresult *sqlb_exec_page(struct sqlb *b, struct mt_req *req, long long limit, long long offset,
			 int *n, int *more, struct mt_err *err);

/* Permanent deletion (mltrackd gc --purge-deleted-experiments).  Ids of
 * the experiments in the deleted stage since cutoff (epoch ms) or before
 * (arena memory). */
int sql_exp_purge_candidates(struct mt_req *req, long long cutoff, const char ***ids, size_t *n,
			     struct mt_err *err);
/* Within the caller's transaction: lock experiment id, and if it is still
 * deleted since cutoff, delete it with its runs, their artifacts rows and
 * its logged models (*purged 1), all but its points: its metrics partition
 * is left whole for sql_exp_drop_partition. */
int sql_exp_purge(struct mt_req *req, const char *id, long long cutoff, int *purged,
		  struct mt_err *err);
/* Tables metrics_e<ID> of experiments that no longer exist, with their
 * state: 0 detached, 1 attached, 2 detach pending (arena memory). */
int sql_exp_orphan_partitions(struct mt_req *req, const char ***names, int **state, size_t *n,
			      struct mt_err *err);
/* Detach (concurrently, or finish a pending detach) and drop one of those;
 * outside any transaction. */
int sql_exp_drop_partition(struct mt_req *req, const char *name, int state, struct mt_err *err);

#endif
