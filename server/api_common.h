/* api_common.h: argument helpers shared by the api_*.c files. */
#ifndef MT_API_COMMON_H
#define MT_API_COMMON_H

#include "server.h"

/* A numeric experiment id from field; pattern errors 400, unknown 404. */
int api_exp_id(struct mt_req *req, const char *field, const char **out);
/* ViewType by name or number; default ACTIVE_ONLY (1). */
int api_view_type(struct mt_req *req, const char *field, int *out);

#endif
