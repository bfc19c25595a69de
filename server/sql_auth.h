/*
 * sql_auth.h: the SQL of users, API tokens and the login rate limit
 * (server/auth.c, server/api_auth.c and the `mltrackd user|token`
 * commands in server/admin_cmd.c).  No secret passes through here: only
 * password hashes and token hashes.
 *
 * Strings handed out are arena memory.  Every function returns 0, or -1
 * with err set.
 */
#ifndef MT_SQL_AUTH_H
#define MT_SQL_AUTH_H

#include "server.h"

struct sql_user {
	long long id;
	const char *username;
	const char *password_hash;
	int is_admin;
	long long created_at, updated_at;
	long long live_tokens;   /* sql_user_list only */
};

struct sql_token {
	long long id;
	const char *name;
	const char *prefix;
	const char *scope;       /* NULL: the owner's rights */
	long long created_at;
	long long expires_at;    /* 0: never */
	long long last_used_at;  /* 0: never */
	long long revoked_at;    /* 0: live */
	long long user_id;
	const char *username;
	int user_is_admin;
};

/* Whether any user exists. */
int sql_auth_any_user(struct mt_req *req, int *any, struct mt_err *err);
/* *found 0 when there is no such user. */
int sql_user_get(struct mt_req *req, const char *username, struct sql_user *u, int *found,
		 struct mt_err *err);
/* A password login: the user (*found 0: none) and, for the failure keys
 * (per user and address, per address), the failures counted since `since`
 * and when their window started (0, 0: none). */
int sql_user_login(struct mt_req *req, const char *username, const char *const keys[2],
		   long long since, struct sql_user *u, int *found, int counts[2],
		   long long starts[2], struct mt_err *err);
/* Users by name, into an arena array. */
int sql_user_list(struct mt_req *req, struct sql_user **out, int *n, struct mt_err *err);
/* RESOURCE_ALREADY_EXISTS when the name is taken. */
int sql_user_insert(struct mt_req *req, const char *username, const char *password_hash,
		    int is_admin, long long now, long long *id, struct mt_err *err);
/* RESOURCE_DOES_NOT_EXIST when there is no such user (for the three).  A
 * new password ends the user's dashboard sessions. */
int sql_user_set_password(struct mt_req *req, const char *username, const char *password_hash,
			  long long now, struct mt_err *err);
int sql_user_set_admin(struct mt_req *req, const char *username, int is_admin, long long now,
		       struct mt_err *err);
int sql_user_delete(struct mt_req *req, const char *username, struct mt_err *err);
/* The admins, their rows locked until the transaction ends (a delete or a
 * demotion of the last admin is refused under this lock). */
int sql_user_admins_locked(struct mt_req *req, long long *count, struct mt_err *err);

/* The token with this hash and its owner; *found 0 when none. */
int sql_token_by_hash(struct mt_req *req, const char *hash, struct sql_token *t, int *found,
		      struct mt_err *err);
/* RESOURCE_ALREADY_EXISTS when the owner has a live token of that name. */
int sql_token_insert(struct mt_req *req, long long user_id, const char *name, const char *hash,
		     const char *prefix, const char *scope, long long now, long long expires_at,
		     long long *id, struct mt_err *err);
/* Tokens of username (NULL: everyone's); revoked ones too when all. */
int sql_token_list(struct mt_req *req, const char *username, int all, struct sql_token **out,
		   int *n, struct mt_err *err);
/* Revoke a live token by id (name NULL) or by its owner's name and its
 * name; owner NULL: anybody's.  RESOURCE_DOES_NOT_EXIST when no live token
 * matches.  *t the token revoked. */
int sql_token_revoke(struct mt_req *req, long long id, const char *owner, const char *name,
		     long long now, struct sql_token *t, struct mt_err *err);
/* Record a use (callers do it at most once a minute per token). */
int sql_token_touch(struct mt_req *req, long long id, long long now, struct mt_err *err);

/* Count one failed login under key (a window older than window_ms starts
 * again). */
int sql_fail_bump(struct mt_req *req, const char *key, long long now, long long window_ms,
		  int *failures, long long *window_start, struct mt_err *err);
int sql_fail_clear(struct mt_req *req, const char *key, struct mt_err *err);

#endif
