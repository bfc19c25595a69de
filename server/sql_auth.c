/* sql_auth.c: the SQL of users, tokens and failed logins (see sql_auth.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql_auth.h"

#define USER_COLS "id, username, password_hash, is_admin, created_at, updated_at"
#define TOKEN_COLS                                                                             \
	"t.id, t.name, t.prefix, t.scope, t.created_at, coalesce(t.expires_at, 0), "           \
	"coalesce(t.last_used_at, 0), coalesce(t.revoked_at, 0), u.id, u.username, u.is_admin "

static const struct db_stmt stmts[] = {
	{ "auth_any_user", "SELECT EXISTS (SELECT 1 FROM users)" },
	{ "user_get", "SELECT " USER_COLS " FROM users WHERE username = $1" },
	/* A login: the user (if any) and the failures of its two keys in the
	 * current window, in one round trip. */
	{ "user_login",
	  "SELECT u.id, u.username, u.password_hash, u.is_admin, u.created_at, u.updated_at, "
	  "coalesce(f1.failures, 0), coalesce(f1.window_start, 0), "
	  "coalesce(f2.failures, 0), coalesce(f2.window_start, 0) "
	  "FROM (SELECT 1) one LEFT JOIN users u ON u.username = $1 "
	  "LEFT JOIN auth_failures f1 ON f1.key = $2 AND f1.window_start > $4 "
	  "LEFT JOIN auth_failures f2 ON f2.key = $3 AND f2.window_start > $4" },
	{ "user_list",
	  "SELECT " USER_COLS ", (SELECT count(*) FROM api_tokens t WHERE t.user_id = users.id "
	  "AND t.revoked_at IS NULL) FROM users ORDER BY username" },
	{ "user_insert",
	  "INSERT INTO users (username, password_hash, is_admin, created_at, updated_at) "
	  "VALUES ($1, $2, $3, $4, $4) RETURNING id" },
	/* A new password ends every dashboard session of the user
	 * (session.h); API tokens stay. */
	{ "user_set_password",
	  "WITH u AS (UPDATE users SET password_hash = $2, updated_at = $3 WHERE username = $1 "
	  "RETURNING id), s AS (DELETE FROM sessions WHERE user_id IN (SELECT id FROM u)) "
	  "SELECT id FROM u" },
	{ "user_set_admin",
	  "UPDATE users SET is_admin = $2, updated_at = $3 WHERE username = $1 RETURNING id" },
	{ "user_delete", "DELETE FROM users WHERE username = $1 RETURNING id" },
	{ "user_admins_locked", "SELECT id FROM users WHERE is_admin ORDER BY id FOR UPDATE" },
	{ "token_by_hash",
	  "SELECT " TOKEN_COLS "FROM api_tokens t JOIN users u ON u.id = t.user_id "
	  "WHERE t.token_hash = $1" },
	{ "token_insert",
	  "INSERT INTO api_tokens (user_id, name, token_hash, prefix, scope, created_at, "
	  "expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id" },
	{ "token_list",
	  "SELECT " TOKEN_COLS "FROM api_tokens t JOIN users u ON u.id = t.user_id "
	  "WHERE ($1::text IS NULL OR u.username = $1) AND ($2::bool OR t.revoked_at IS NULL) "
	  "ORDER BY u.username, t.id" },
	{ "token_revoke",
	  "UPDATE api_tokens t SET revoked_at = $4 FROM users u "
	  "WHERE u.id = t.user_id AND t.revoked_at IS NULL "
	  "AND ($1::bigint IS NULL OR t.id = $1) AND ($2::text IS NULL OR u.username = $2) "
	  "AND ($3::text IS NULL OR t.name = $3) RETURNING " TOKEN_COLS },
	{ "token_touch", "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1" },
	/* A window older than $3 ms starts again at $2. */
	{ "fail_bump",
	  "INSERT INTO auth_failures AS f (key, failures, window_start) VALUES ($1, 1, $2) "
	  "ON CONFLICT (key) DO UPDATE SET "
	  "failures = CASE WHEN f.window_start <= $2 - $3 THEN 1 ELSE f.failures + 1 END, "
	  "window_start = CASE WHEN f.window_start <= $2 - $3 THEN $2 ELSE f.window_start END "
	  "RETURNING failures, window_start" },
	{ "fail_clear", "DELETE FROM auth_failures WHERE key = $1" },
};

const struct db_stmt_table sql_auth_table = { stmts, sizeof(stmts) / sizeof(stmts[0]), 0 };

/* A statement that writes users or tokens: the auth cache is dropped
 * after the handler (authcache.h). */
static PGresult *changed(struct mt_req *req, const char *stmt, int n, const char *const *v,
			 struct mt_err *err)
{
	req->auth_changed = 1;
	return db_exec(req, stmt, n, v, err);
}

static const char *i64s(struct mt_req *req, long long v)
{
	return mt_arena_printf(req->arena, "%lld", v);
}

static long long i64(PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static const char *str(struct mt_req *req, PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL
					  : mt_arena_strdup(req->arena, PQgetvalue(res, row, col));
}

static void user_row(struct mt_req *req, PGresult *res, int i, struct sql_user *u)
{
	u->id = i64(res, i, 0);
	u->username = str(req, res, i, 1);
	u->password_hash = str(req, res, i, 2);
	u->is_admin = *PQgetvalue(res, i, 3) == 't';
	u->created_at = i64(res, i, 4);
	u->updated_at = i64(res, i, 5);
	u->live_tokens = PQnfields(res) == 7 ? i64(res, i, 6) : 0;
}

static void token_row(struct mt_req *req, PGresult *res, int i, struct sql_token *t)
{
	t->id = i64(res, i, 0);
	t->name = str(req, res, i, 1);
	t->prefix = str(req, res, i, 2);
	t->scope = str(req, res, i, 3);
	t->created_at = i64(res, i, 4);
	t->expires_at = i64(res, i, 5);
	t->last_used_at = i64(res, i, 6);
	t->revoked_at = i64(res, i, 7);
	t->user_id = i64(res, i, 8);
	t->username = str(req, res, i, 9);
	t->user_is_admin = *PQgetvalue(res, i, 10) == 't';
}

int sql_auth_any_user(struct mt_req *req, int *any, struct mt_err *err)
{
	PGresult *res = db_exec(req, "auth_any_user", 0, NULL, err);

	if (!res)
		return -1;
	*any = *PQgetvalue(res, 0, 0) == 't';
	return 0;
}

int sql_user_get(struct mt_req *req, const char *username, struct sql_user *u, int *found,
		 struct mt_err *err)
{
	const char *v[1] = { username };
	PGresult *res = db_exec(req, "user_get", 1, v, err);

	*found = 0;
	if (!res)
		return -1;
	if (PQntuples(res) == 1) {
		user_row(req, res, 0, u);
		*found = 1;
	}
	return 0;
}

int sql_user_login(struct mt_req *req, const char *username, const char *const keys[2],
		   long long since, struct sql_user *u, int *found, int counts[2],
		   long long starts[2], struct mt_err *err)
{
	const char *v[4] = { username, keys[0], keys[1], i64s(req, since) };
	PGresult *res = db_exec(req, "user_login", 4, v, err);

	*found = 0;
	if (!res)
		return -1;
	if (!PQgetisnull(res, 0, 0)) {
		user_row(req, res, 0, u);
		*found = 1;
	}
	for (int i = 0; i < 2; i++) {
		counts[i] = (int)i64(res, 0, 6 + 2 * i);
		starts[i] = i64(res, 0, 7 + 2 * i);
	}
	return 0;
}

int sql_user_list(struct mt_req *req, struct sql_user **out, int *n, struct mt_err *err)
{
	PGresult *res = db_exec(req, "user_list", 0, NULL, err);

	if (!res)
		return -1;
	*n = PQntuples(res);
	*out = mt_arena_alloc(req->arena, sizeof(**out) * (size_t)(*n ? *n : 1));
	for (int i = 0; i < *n; i++)
		user_row(req, res, i, &(*out)[i]);
	return 0;
}

int sql_user_insert(struct mt_req *req, const char *username, const char *password_hash,
		    int is_admin, long long now, long long *id, struct mt_err *err)
{
	const char *v[4] = { username, password_hash, is_admin ? "true" : "false", i64s(req, now) };
	PGresult *res = changed(req, "user_insert", 4, v, err);

	if (!res) {
		if (err->code == MT_EEXISTS)
			mt_err_set(err, MT_EEXISTS, "User '%s' already exists.", username);
		return -1;
	}
	*id = i64(res, 0, 0);
	return 0;
}

static int one_row(PGresult *res, const char *username, struct mt_err *err)
{
	if (!res)
		return -1;
	if (PQntuples(res) == 0)
		return mt_err_set(err, MT_ENOTFOUND, "User with username=%s not found", username);
	return 0;
}

int sql_user_set_password(struct mt_req *req, const char *username, const char *password_hash,
			  long long now, struct mt_err *err)
{
	const char *v[3] = { username, password_hash, i64s(req, now) };

	return one_row(changed(req, "user_set_password", 3, v, err), username, err);
}

int sql_user_set_admin(struct mt_req *req, const char *username, int is_admin, long long now,
		       struct mt_err *err)
{
	const char *v[3] = { username, is_admin ? "true" : "false", i64s(req, now) };

	return one_row(changed(req, "user_set_admin", 3, v, err), username, err);
}

int sql_user_delete(struct mt_req *req, const char *username, struct mt_err *err)
{
	const char *v[1] = { username };

	return one_row(changed(req, "user_delete", 1, v, err), username, err);
}

int sql_user_admins_locked(struct mt_req *req, long long *count, struct mt_err *err)
{
	PGresult *res = db_exec(req, "user_admins_locked", 0, NULL, err);

	if (!res)
		return -1;
	*count = PQntuples(res);
	return 0;
}

int sql_token_by_hash(struct mt_req *req, const char *hash, struct sql_token *t, int *found,
		      struct mt_err *err)
{
	const char *v[1] = { hash };
	PGresult *res = db_exec(req, "token_by_hash", 1, v, err);

	*found = 0;
	if (!res)
		return -1;
	if (PQntuples(res) == 1) {
		token_row(req, res, 0, t);
		*found = 1;
	}
	return 0;
}

int sql_token_insert(struct mt_req *req, long long user_id, const char *name, const char *hash,
		     const char *prefix, const char *scope, long long now, long long expires_at,
		     long long *id, struct mt_err *err)
{
	const char *v[7] = { i64s(req, user_id), name, hash, prefix, scope, i64s(req, now),
			     expires_at ? i64s(req, expires_at) : NULL };
	PGresult *res = db_exec(req, "token_insert", 7, v, err);

	if (!res) {
		if (err->code == MT_EEXISTS)
			mt_err_set(err, MT_EEXISTS, "a live token named '%s' already exists", name);
		return -1;
	}
	*id = i64(res, 0, 0);
	return 0;
}

int sql_token_list(struct mt_req *req, const char *username, int all, struct sql_token **out,
		   int *n, struct mt_err *err)
{
	const char *v[2] = { username, all ? "true" : "false" };
	PGresult *res = db_exec(req, "token_list", 2, v, err);

	if (!res)
		return -1;
	*n = PQntuples(res);
	*out = mt_arena_alloc(req->arena, sizeof(**out) * (size_t)(*n ? *n : 1));
	for (int i = 0; i < *n; i++)
		token_row(req, res, i, &(*out)[i]);
	return 0;
}

int sql_token_revoke(struct mt_req *req, long long id, const char *owner, const char *name,
		     long long now, struct sql_token *t, struct mt_err *err)
{
	const char *v[4] = { id ? i64s(req, id) : NULL, owner, name, i64s(req, now) };
	PGresult *res = changed(req, "token_revoke", 4, v, err);

	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		if (name)
			return mt_err_set(err, MT_ENOTFOUND, "no live token named '%s'%s%s", name,
					  owner ? " of user " : "", owner ? owner : "");
		return mt_err_set(err, MT_ENOTFOUND, "no live token with id %lld%s%s", id,
				  owner ? " of user " : "", owner ? owner : "");
	}
	token_row(req, res, 0, t);
	return 0;
}

int sql_token_touch(struct mt_req *req, long long id, long long now, struct mt_err *err)
{
	const char *v[2] = { i64s(req, id), i64s(req, now) };

	return db_exec(req, "token_touch", 2, v, err) ? 0 : -1;
}

int sql_fail_bump(struct mt_req *req, const char *key, long long now, long long window_ms,
		  int *failures, long long *window_start, struct mt_err *err)
{
	const char *v[3] = { key, i64s(req, now), i64s(req, window_ms) };
	PGresult *res = db_exec(req, "fail_bump", 3, v, err);

	if (!res || PQntuples(res) != 1)
		return -1;
	*failures = (int)i64(res, 0, 0);
	*window_start = i64(res, 0, 1);
	return 0;
}

int sql_fail_clear(struct mt_req *req, const char *key, struct mt_err *err)
{
	const char *v[1] = { key };

	return db_exec(req, "fail_clear", 1, v, err) ? 0 : -1;
}
