/*
 * sql_sessions.h: the SQL of the dashboard's sessions (server/session.c).
 * A session is found by the SHA-256 of its id: the id itself, which the
 * browser holds in its cookie, never reaches the database.
 *
 * Strings handed out are arena memory.  Every function returns 0, or -1
 * with err set.
 */
#ifndef MT_SQL_SESSIONS_H
#define MT_SQL_SESSIONS_H

#include "server.h"

struct sql_session {
	long long user_id;
	const char *username;
	int is_admin;
	const char *csrf_token;
	long long created_at;
	long long expires_at;   /* the absolute end (created_at + the lifetime) */
	long long last_seen;    /* written at most once per touch interval */
};

/* A new session of user_id (its last_seen is now). */
int sql_session_insert(struct mt_req *req, const char *id_hash, long long user_id,
		       const char *csrf_token, long long now, long long expires_at,
		       struct mt_err *err);
/* The session with this hash and its user; *found 0 when none. */
int sql_session_get(struct mt_req *req, const char *id_hash, struct sql_session *s, int *found,
		    struct mt_err *err);
int sql_session_touch(struct mt_req *req, const char *id_hash, long long now,
		      struct mt_err *err);
/* Deleting a session that is gone already is no error. */
int sql_session_delete(struct mt_req *req, const char *id_hash, struct mt_err *err);
/* Remove the user's sessions past their end or unused since idle_since:
 * run at each login, so the rows of sessions nobody presents again do not
 * pile up. */
int sql_session_sweep_user(struct mt_req *req, long long user_id, long long now,
			   long long idle_since, struct mt_err *err);

#endif
