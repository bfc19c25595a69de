/* sql_sessions.c: the SQL of dashboard sessions (see sql_sessions.h). */
#include <stdlib.h>

#include "sql_sessions.h"

static const struct db_stmt stmts[] = {
	{ "session_insert",
	  "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, last_seen) "
	  "VALUES ($1, $2, $3, $4, $5, $4)" },
	{ "session_get",
	  "SELECT s.user_id, u.username, u.is_admin, s.csrf_token, s.created_at, s.expires_at, "
	  "s.last_seen FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1" },
	{ "session_touch", "UPDATE sessions SET last_seen = $2 WHERE id_hash = $1" },
	{ "session_delete", "DELETE FROM sessions WHERE id_hash = $1" },
	{ "session_sweep_user",
	  "DELETE FROM sessions WHERE user_id = $1 AND (expires_at <= $2 OR last_seen <= $3)" },
};

const struct db_stmt_table sql_sessions_table = { stmts, sizeof(stmts) / sizeof(stmts[0]), 0 };

static const char *i64s(struct mt_req *req, long long v)
{
	return mt_arena_printf(req->arena, "%lld", v);
}

static long long i64(PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int sql_session_insert(struct mt_req *req, const char *id_hash, long long user_id,
		       const char *csrf_token, long long now, long long expires_at,
		       struct mt_err *err)
{
	const char *v[5] = { id_hash, i64s(req, user_id), csrf_token, i64s(req, now),
			     i64s(req, expires_at) };

	return db_exec(req, "session_insert", 5, v, err) ? 0 : -1;
}

int sql_session_get(struct mt_req *req, const char *id_hash, struct sql_session *s, int *found,
		    struct mt_err *err)
{
	const char *v[1] = { id_hash };
	PGresult *res = db_exec(req, "session_get", 1, v, err);

	*found = 0;
	if (!res)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	s->user_id = i64(res, 0, 0);
	s->username = mt_arena_strdup(req->arena, PQgetvalue(res, 0, 1));
	s->is_admin = *PQgetvalue(res, 0, 2) == 't';
	s->csrf_token = mt_arena_strdup(req->arena, PQgetvalue(res, 0, 3));
	s->created_at = i64(res, 0, 4);
	s->expires_at = i64(res, 0, 5);
	s->last_seen = i64(res, 0, 6);
	*found = 1;
	return 0;
}

int sql_session_touch(struct mt_req *req, const char *id_hash, long long now,
		      struct mt_err *err)
{
	const char *v[2] = { id_hash, i64s(req, now) };

	return db_exec(req, "session_touch", 2, v, err) ? 0 : -1;
}

int sql_session_delete(struct mt_req *req, const char *id_hash, struct mt_err *err)
{
	const char *v[1] = { id_hash };

	return db_exec(req, "session_delete", 1, v, err) ? 0 : -1;
}

int sql_session_sweep_user(struct mt_req *req, long long user_id, long long now,
			   long long idle_since, struct mt_err *err)
{
	const char *v[3] = { i64s(req, user_id), i64s(req, now), i64s(req, idle_since) };

	return db_exec(req, "session_sweep_user", 3, v, err) ? 0 : -1;
}
