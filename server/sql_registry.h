/*
 * sql_registry.h: typed access to the model registry (all SQL in
 * sql_registry.c): registered models, their tags and aliases, model
 * versions and their tags, and the stage-transition audit trail.
 *
 * A model is found by name once (sql_reg_model_find) and then named by its
 * surrogate id, a decimal string.  Writes that must not interleave (version
 * creation, stage transitions) find the model with lock = 1, which takes
 * the model row FOR UPDATE until the transaction ends, so they run one at a
 * time per model.
 *
 * JSON results are request-owned (freed at the request's reset); strings
 * handed out are arena memory or borrowed from a request-owned PGresult.
 * Every function returns 0, or -1 with err set; "not found" messages are
 * MLflow's.  Deleted (redacted, stage Deleted_Internal) versions are
 * invisible to every function here except version creation, which counts
 * them so a number is never reused.
 */
#ifndef MT_SQL_REGISTRY_H
#define MT_SQL_REGISTRY_H

#include "server.h"

struct mt_filter;
struct mt_order_list;

/* ---- registered models ---- */

/* A new model (description NULL for none); *out_id is arena memory.
 * RESOURCE_ALREADY_EXISTS when the name is taken. */
int sql_reg_model_create(struct mt_req *req, const char *name, const char *description,
			 long long now, const char **out_id, struct mt_err *err);
/* The id of the model called name (ENOTFOUND otherwise); with lock, the row
 * stays locked FOR UPDATE until the transaction ends. */
int sql_reg_model_find(struct mt_req *req, const char *name, int lock, const char **out_id,
		       struct mt_err *err);
/* RegisteredModel JSON with latest_versions, tags and aliases. */
int sql_reg_model_get(struct mt_req *req, const char *id, json_t **out, struct mt_err *err);
/* New name; every version's last-updated time moves too.  EEXISTS when
 * new_name is taken. */
int sql_reg_model_rename(struct mt_req *req, const char *id, const char *new_name,
			 long long now, struct mt_err *err);
/* description NULL clears it. */
int sql_reg_model_update(struct mt_req *req, const char *id, const char *description,
			 long long now, struct mt_err *err);
/* Hard delete: versions, tags, aliases and gate policies go too; the audit
 * trail stays. */
int sql_reg_model_delete(struct mt_req *req, const char *id, struct mt_err *err);
int sql_reg_model_set_tag(struct mt_req *req, const char *id, const char *key,
			  const char *value, struct mt_err *err);
/* A missing tag is no error (MLflow). */
int sql_reg_model_delete_tag(struct mt_req *req, const char *id, const char *key,
			     struct mt_err *err);
/* Appends RegisteredModel objects to list, ordered by o then name;
 * *more says whether rows exist past limit. */
int sql_reg_model_search(struct mt_req *req, const struct mt_filter *f,
			 const struct mt_order_list *o, long long limit, long long offset,
			 json_t *list, int *more, struct mt_err *err);
/* The newest version in each of stages[0..n) (canonical names), appended
 * to list as ModelVersion objects. */
int sql_reg_latest_versions(struct mt_req *req, const char *id, const char *const *stages,
			    size_t n, json_t *list, struct mt_err *err);

/* ---- aliases ---- */

/* Upsert; the version must exist (ENOTFOUND with MLflow's message). */
int sql_reg_alias_set(struct mt_req *req, const char *id, const char *name,
		      const char *alias, const char *version, struct mt_err *err);
int sql_reg_alias_delete(struct mt_req *req, const char *id, const char *alias,
			 struct mt_err *err);
/* The version an alias points at (arena string), or NULL when unset. */
int sql_reg_alias_get(struct mt_req *req, const char *id, const char *alias,
		      const char **out, struct mt_err *err);

/* ---- model versions ---- */

struct reg_version_new {
	const char *source;           /* required */
	const char *storage_location; /* NULL: read from source */
	const char *run_id, *run_link, *description; /* NULL stored as "" */
	const char *logged_model_id;  /* MLflow 3's model_id; NULL: none */
	const char **tag_keys, **tag_values; /* parallel, keys unique */
	size_t ntags;
};

/* The next version number (max + 1 over every row, deleted ones included);
 * the caller holds the model row lock.  *out_version is arena memory. */
int sql_reg_version_create(struct mt_req *req, const char *id, const struct reg_version_new *v,
			   long long now, const char **out_version, struct mt_err *err);
/* The current stage of a visible version, or ENOTFOUND "Model Version
 * (name=X, version=N) not found" (name is only for the message). */
int sql_reg_version_stage(struct mt_req *req, const char *id, const char *name,
			  const char *version, const char **out, struct mt_err *err);
/* ModelVersion JSON of a visible version (ENOTFOUND as above). */
int sql_reg_version_get(struct mt_req *req, const char *id, const char *name,
			const char *version, json_t **out, struct mt_err *err);
/* description NULL stores "". */
int sql_reg_version_update(struct mt_req *req, const char *id, const char *version,
			   const char *description, long long now, struct mt_err *err);
/* Soft delete: redact the row, drop its aliases (their names appended to
 * dropped, a JSON array, when it is not NULL), touch the model. */
int sql_reg_version_delete(struct mt_req *req, const char *id, const char *version,
			   long long now, json_t *dropped, struct mt_err *err);
/* Move a version to stage (canonical); with archive, every other version
 * in that stage becomes Archived.  Touches the model.  The caller holds
 * the model row lock. */
int sql_reg_version_transition(struct mt_req *req, const char *id, const char *version,
			       const char *stage, int archive, long long now,
			       struct mt_err *err);
/* storage_location, else source (arena or result memory). */
int sql_reg_version_download_uri(struct mt_req *req, const char *id, const char *name,
				 const char *version, const char **out, struct mt_err *err);
int sql_reg_version_set_tag(struct mt_req *req, const char *id, const char *version,
			    const char *key, const char *value, struct mt_err *err);
int sql_reg_version_delete_tag(struct mt_req *req, const char *id, const char *version,
			       const char *key, struct mt_err *err);
/* Appends ModelVersion objects (visible versions only) to list. */
int sql_reg_version_search(struct mt_req *req, const struct mt_filter *f,
			   const struct mt_order_list *o, long long limit, long long offset,
			   json_t *list, int *more, struct mt_err *err);

/* ---- audit ---- */

/* One row of the audit trail (migrations/0006 lists what each kind
 * fills); NULL members are SQL NULL. */
struct reg_transition {
	const char *kind;    /* "stage" (NULL means it too), "alias" or "gate" */
	const char *model_id, *model_name, *version, *from_stage, *to_stage, *actor;
	const char *alias, *from_version;
	const char *outcome; /* "allowed", "refused" or "forced"; for gates "created",
			      * "replaced" or "removed" */
	const char *report;  /* JSON text or NULL */
	const char *reason;  /* or NULL */
	const char *rules_before, *rules_after; /* gate rows: JSON text or NULL */
};

/* Append one row to stage_transitions (in the caller's transaction). */
int sql_reg_audit(struct mt_req *req, const struct reg_transition *t, long long now,
		  struct mt_err *err);

#endif
