/*
 * api_registry.h: argument checks shared by the model-registry handlers
 * (api_registry.c: registered models and aliases; api_model_versions.c:
 * versions).  Each returns 0, or -1 with req->err set in MLflow's wording
 * (MLFLOW-API.md §4, §7).  Strings handed out are borrowed from the request
 * body or are arena memory.
 */
#ifndef MT_API_REGISTRY_H
#define MT_API_REGISTRY_H

#include "mt_filter.h"
#include "server.h"

#define REG_MAX_NAME_LEN         256  /* MLflow's registered_models.name column */
#define REG_MAX_DESCRIPTION_LEN  5000 /* MLflow's description columns */
#define REG_MAX_TAG_VALUE_LEN    5000
#define REG_MAX_ALIAS_LEN        255
#define REG_MAX_URI_LEN          8192 /* source and run_link */
#define REG_SEARCH_MODELS_DEFAULT   100
#define REG_SEARCH_MODELS_MAX       1000
#define REG_SEARCH_VERSIONS_DEFAULT 200000
#define REG_SEARCH_VERSIONS_MAX     200000

/* A required model name from field ("name", "new_name"): non-empty, at
 * most REG_MAX_NAME_LEN characters. */
int reg_name_arg(struct mt_req *req, const char *field, const char **out);
/* The required "version" field, as a canonical decimal string.  Not an
 * integer: 400; an integer no version can have (< 1, > 2^31-1): 404 naming
 * the model `name`. */
int reg_version_arg(struct mt_req *req, const char *name, const char **out);
/* An optional description of at most REG_MAX_DESCRIPTION_LEN characters. */
int reg_description_arg(struct mt_req *req, const char **out);
/* A registry tag (key rules of run tags, value at most 5000 characters);
 * what names the owner in messages ("Registered model", "Model version"). */
int reg_check_tag(struct mt_req *req, const char *what, const char *key, const char *value);
/* The "tags" list field: parallel arena arrays, checked, keys unique (the
 * last value of a repeated key wins, as in MLflow). */
int reg_tags_arg(struct mt_req *req, const char *what, const char ***keys,
		 const char ***values, size_t *n);
/* A stage name, any case, to its canonical spelling (static string);
 * anything else is 400 "Invalid Model Version stage: X. ...". */
int reg_stage_canonical(struct mt_req *req, const char *in, const char **out);
/* The canonical stage a name means ("production", "STAGING"...: a stage
 * in any case), or NULL.  NAME@X means the stage X when X is one. */
const char *reg_stage_of(const char *name);

/* An alias from field, checked as MLflow checks it: [\w-]+, at most
 * REG_MAX_ALIAS_LEN characters, neither "latest" (any case) nor v<digits>.
 * REG_ALIAS_NEW (setting an alias, or gating one) also refuses the name of
 * a stage in any case, which NAME@X resolves to the stage; REG_ALIAS_ANY
 * (reading or deleting) lets such a name through, so an alias an older
 * mltrackd stored under it can still be removed. */
enum reg_alias_use { REG_ALIAS_NEW, REG_ALIAS_ANY };
int reg_alias_arg(struct mt_req *req, const char *field, enum reg_alias_use use,
		  const char **out);

/* max_results of a registry search: default def, 1..max. */
int reg_max_results(struct mt_req *req, long long def, long long max, long long *out);

/* A registry search (registered-models/search, model-versions/search):
 * max_results (default def, at most max), filter, order_by and page_token
 * checked as MLflow does, fn run, and its list answered as `field` with a
 * next_page_token when more rows exist. */
typedef int (*reg_search_fn)(struct mt_req *req, const struct mt_filter *f,
			     const struct mt_order_list *o, long long limit, long long offset,
			     json_t *list, int *more, struct mt_err *err);
int reg_search(struct mt_req *req, enum mt_filter_entity ent, long long def, long long max,
	       reg_search_fn fn, const char *field);

#endif
