/* api_common.h: argument helpers shared by the api_*.c files. */
#ifndef MT_API_COMMON_H
#define MT_API_COMMON_H

#include "server.h"

/* A numeric experiment id from field; pattern errors 400, unknown 404. */
int api_exp_id(struct mt_req *req, const char *field, const char **out);
/* ViewType by name or number; default ACTIVE_ONLY (1). */
int api_view_type(struct mt_req *req, const char *field, int *out);

/* MLflow's rule for writes: the experiment or run ("experiment", "run")
 * must be active; otherwise 400 naming its current stage. */
int api_check_active(struct mt_req *req, const char *what, const char *id, const char *stage);

/* j as Python's json.dumps writes it (", " and ": ", \\u escapes in
 * lower case for non-ASCII): request memory, NULL when j cannot be
 * encoded.  (api_runs.c) */
char *api_json_dumps_py(struct mt_req *req, json_t *j);

#endif
