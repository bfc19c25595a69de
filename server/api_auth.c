/*
 * api_auth.c: mltrack's own authentication endpoints.
 *
 *   GET  /api/2.0/mltrack/auth/whoami         who the request authenticated as
 *   POST /api/2.0/mltrack/auth/tokens/create  {name, expires_in_days?, scope?}: a
 *                                              token for the caller, shown once;
 *                                              a scope narrows it (lib/mt_scope.h)
 *   GET  /api/2.0/mltrack/auth/tokens/list    the caller's tokens (an admin:
 *                                              ?username=, or everyone's)
 *   POST /api/2.0/mltrack/auth/tokens/revoke  {id}: the caller's token (an
 *                                              admin: anyone's); a token may
 *                                              revoke itself (logout)
 *
 * Tokens are created only by a caller who gave a password (or holds a
 * dashboard session): a token cannot mint another, so a leaked token, or a
 * narrowed one, cannot widen or outlive itself.  The route table says so
 * (AZ_PASSWORD: authz.c refuses a token before this runs).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api.h"
#include "auth.h"
#include "mt_auth.h"
#include "mt_json.h"
#include "mt_util.h"
#include "sql_auth.h"

#define MAX_TOKEN_DAYS 3650

static json_t *token_json(struct mt_req *req, const struct sql_token *t)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I}", "id",
			      mt_arena_printf(req->arena, "%lld", t->id), "name", t->name, "username", t->username, "prefix",
			      t->prefix, "created_at", (json_int_t)t->created_at);

	if (j && t->expires_at)
		json_object_set_new(j, "expires_at", json_integer(t->expires_at));
	if (j && t->last_used_at)
		json_object_set_new(j, "last_used_at", json_integer(t->last_used_at));
	if (j && t->revoked_at)
		json_object_set_new(j, "revoked_at", json_integer(t->revoked_at));
	if (j && t->scope)
		json_object_set_new(j, "scope", json_string(t->scope));
	return j;
}

int api_auth_whoami(struct mt_req *req)
{
	json_t *r = req_resp(req);
	int on = 0;

	if (auth_enabled(req, &on))
		return -1;
	json_object_set_new(r, "auth_enabled", json_boolean(on));
	json_object_set_new(r, "method", json_string(req->who.method));
	if (!req->who.authenticated)
		return 0;
	json_object_set_new(r, "user", json_pack("{s:s, s:b}", "username", req->who.username,
						 "is_admin", req->who.is_admin));
	/* A reloaded dashboard page finds its session's CSRF token here. */
	if (req->who.csrf_token)
		json_object_set_new(r, "csrf_token", json_string(req->who.csrf_token));
	if (req->who.token_id) {
		json_t *t = json_pack("{s:s, s:s}", "id", mt_arena_printf(req->arena, "%lld", req->who.token_id), "name",
				      req->who.token_name);

		if (t && req->who.scope)
			json_object_set_new(t, "scope", json_string(req->who.scope));
		json_object_set_new(r, "token", t);
	}
	return 0;
}

static int need_auth(struct mt_req *req)
{
	if (!req->who.authenticated)
		return mt_err_set(&req->err, MT_EINVAL,
				  "authentication is off (no user exists): there are no tokens to "
				  "manage; add a user with `mltrackd user add NAME`");
	return 0;
}

int api_auth_tokens_create(struct mt_req *req)
{
	const char *name = NULL, *scope = NULL;
	json_t *days = json_object_get(req->body, "expires_in_days");
	char token[MT_TOKEN_LEN + 1];
	struct sql_token t;
	long long now = mt_now_ms(), expires = 0;

	if (need_auth(req) || req_str(req, "name", &name) || req_opt_str(req, "scope", &scope))
		return -1;
	if (days && !json_is_null(days)) {
		if (!json_is_integer(days) || json_integer_value(days) < 1 ||
		    json_integer_value(days) > MAX_TOKEN_DAYS)
			return mt_err_set(&req->err, MT_EINVAL,
					  "expires_in_days must be a whole number of days, 1 to %d",
					  MAX_TOKEN_DAYS);
		expires = now + json_integer_value(days) * 86400000LL;
	}
	if (auth_token_issue(req, req->who.user_id, name, scope, expires, token, &t, &req->err))
		return -1;
	t.username = req->who.username;
	json_object_set_new(req_resp(req), "token", token_json(req, &t));
	json_object_set_new(req_resp(req), "secret", json_string(token));
	OPENSSL_cleanse(token, sizeof(token));
	return 0;
}

int api_auth_tokens_list(struct mt_req *req)
{
	const char *user = NULL;
	struct sql_token *t;
	json_t *list = json_array();
	int n;

	json_object_set_new(req_resp(req), "tokens", list);
	if (need_auth(req) || req_opt_str(req, "username", &user))
		return -1;
	if (!req->who.is_admin) {
		if (user && strcmp(user, req->who.username) != 0)
			return mt_err_set(&req->err, MT_EPERM,
					  "only an admin may list another user's tokens");
		user = req->who.username;
	}
	if (sql_token_list(req, user, 0, &t, &n, &req->err))
		return -1;
	for (int i = 0; i < n; i++)
		json_array_append_new(list, token_json(req, &t[i]));
	return 0;
}

int api_auth_tokens_revoke(struct mt_req *req)
{
	const char *ids = NULL;
	struct sql_token t;
	long long id;
	char *end;

	if (need_auth(req) || req_str(req, "id", &ids))
		return -1;
	id = strtoll(ids, &end, 10);
	if (!*ids || *end || id < 1)
		return mt_err_set(&req->err, MT_EINVAL, "invalid token id '%s'", ids);
	if (sql_token_revoke(req, id, req->who.is_admin ? NULL : req->who.username, NULL,
			     mt_now_ms(), &t, &req->err))
		return -1;
	json_object_set_new(req_resp(req), "token", token_json(req, &t));
	return 0;
}
