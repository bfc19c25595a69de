/*
 * fields.h: each route's request schema (fields.c, lib/mt_fields.h) and the
 * check the dispatcher runs before a handler.
 */
#ifndef MT_SERVER_FIELDS_H
#define MT_SERVER_FIELDS_H

#include "mt_fields.h"
#include "server.h"

/* Index the schemas by route, once, before the workers start.  Fails when
 * a schema names a route routes.c does not have. */
int fields_init(struct mt_err *err);
/* req->body against the schema of req->route (none: nothing to check):
 * 0, or -1 with req->err set to MLflow's INVALID_PARAMETER_VALUE. */
int fields_check(struct mt_req *req);

#endif
