/*
 * authz.h: may the caller do this?  Authorization of every request, in one
 * place: the dispatcher calls authz_check() after authentication
 * (auth_request) and after the body or query string is parsed and checked
 * (fields_check), before the handler runs, so no handler can forget it and
 * none checks a permission itself.
 *
 * The route table says what each route touches and what it needs there
 * (server.h: enum mt_resource, enum mt_authz_flags; routes.c).  authz_check
 * finds the resource in the request (experiment_id, run_id, a logged
 * model's id in the path, an artifact path's first segment, a model's
 * name...), looks up the caller's permission on it with one prepared query
 * (sql_authz.c: a run is joined to its experiment), narrows it by the
 * token's scope (lib/mt_scope.h) and compares it with the need:
 *
 *   permission  = admin ? MANAGE : (the user's row on the experiment or
 *                 registered model, else --default-permission)
 *   effective   = a scoped token: min(permission, what the scope grants)
 *   allowed     = effective >= need (and a promote grant's limits)
 *
 * MLflow's auth plugin (2.9.2) decides the same way, and so do the needs:
 * READ reads, EDIT updates (logging, tags, runs, versions, transitions,
 * aliases), MANAGE deletes, renames, manages permissions and gates, and
 * forces a gate.  A refusal is 403 PERMISSION_DENIED naming the resource
 * and the permission needed; nothing has been read or written.
 *
 * Missing resources follow MLflow: a run, a logged model or an experiment
 * name that names nothing lets the handler answer its 404; an experiment id
 * or a model name without a row gets the default permission (so with the
 * default READ a read of a missing one is the handler's 404, and with
 * NO_PERMISSIONS nobody learns whether it exists).
 *
 * While no user exists (auth off) nothing is refused, except forcing a
 * gate without the admin token (MLTRACK_ADMIN_TOKEN), as before users.
 * Searches (RES_SEARCH) are not refused: the SQL layer keeps out what the
 * caller may not read (sql_authz.h).
 */
#ifndef MT_AUTHZ_H
#define MT_AUTHZ_H

#include "mt_scope.h"
#include "server.h"

/* Check the route table: every row has a resource class that fits it.
 * 0, or -1 with err naming the first row that does not. */
int authz_init(struct mt_err *err);
/* The dispatcher's check.  0: the handler may run; -1 with req->err (403,
 * or 400 for a scope the token was stored with and no longer parses). */
int authz_check(struct mt_req *req);
/* After an AZ_CREATOR route's handler succeeded, in its transaction: give
 * the authenticated caller MANAGE on what it created.  0, or -1 with
 * req->err. */
int authz_created(struct mt_req *req);
/* The route's class as `mltrackd routes` prints it ("run:EDIT",
 * "model:EDIT+promote+stage", "public"...): static, or in buf. */
const char *authz_class(const struct mt_route *r, char *buf, size_t size);

/* The caller's scope, parsed once per request: NULL when the caller holds
 * no scoped token.  Borrowed (request arena). */
const struct mt_scope *authz_scope(struct mt_req *req);
/* Whether searches must be filtered for this caller: auth on, and not an
 * admin with an unscoped credential. */
int authz_filters(struct mt_req *req);
/* Whether the default permission lets a user read. */
int authz_default_reads(void);

/* GET /api/2.0/mltrack/auth/permission?experiment_id=ID | ?name=MODEL:
 * {"permission": READ|EDIT|MANAGE|NO_PERMISSIONS}, the caller's effective
 * permission (admin and auth off: MANAGE). */
int api_authz_permission(struct mt_req *req);

#endif
