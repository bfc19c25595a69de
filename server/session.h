/*
 * session.h: the dashboard's sessions (issue 13, item 2).
 *
 * A browser logs in with POST /api/2.0/mltrack/auth/session {username,
 * password}: the password is checked as a Basic login is (auth_password:
 * the same rate limit, the same failure log), and the answer sets
 *
 *   Set-Cookie: mltrack_session=<id>; Path=/; HttpOnly; SameSite=Strict
 *
 * (plus Secure when the request came over TLS, or through a proxy that
 * says X-Forwarded-Proto: https).  The id is 32 random bytes in base64url;
 * PostgreSQL keeps only its SHA-256 (table sessions), with the user, a CSRF
 * token and the times, so every mltrackd on the database knows every
 * session and a restart logs nobody out.
 *
 * On a request without an Authorization header auth_request() asks
 * session_request(): a valid cookie authenticates as its user with method
 * "session".  A session ends
 *   - when unused for the idle timeout (--session-idle-timeout, 8h), or
 *     at its absolute end (--session-lifetime, 24h after the login),
 *     whichever comes first: the request is 401, the row deleted and the
 *     cookie cleared;
 *   - at logout (DELETE .../auth/session), or when the same browser logs
 *     in again (the cookie it sends is replaced);
 *   - when its user is deleted (ON DELETE CASCADE) or its user's password
 *     changes (sql_auth.c's user_set_password deletes them all).
 * last_seen is written at most once a minute (or a half of the idle
 * timeout when that is shorter), so a page polling every 2 seconds costs
 * one read per request and one write per minute.
 *
 * CSRF: a request authenticated by its session that may change something
 * (POST, PUT, PATCH, DELETE) must carry X-CSRF-Token equal to the session's
 * token (compared in constant time), else 403 PERMISSION_DENIED.  The
 * token is in the login's answer and in GET .../auth/whoami, never in a
 * cookie, so a page of another origin cannot learn it.  Requests with an
 * Authorization header need none: browsers do not add that header on
 * their own.  The login itself is refused from a page of another origin
 * even when --cors-origin grants that origin (login CSRF).
 */
#ifndef MT_SESSION_H
#define MT_SESSION_H

#include "server.h"

#define SESSION_COOKIE "mltrack_session"
#define SESSION_CSRF_HEADER "X-CSRF-Token"
#define SESSION_IDLE_DEFAULT "8h"
#define SESSION_LIFETIME_DEFAULT "24h"

/* The two durations (NULL or "": the default), each a whole number with an
 * optional unit s, m, h or d (no unit: seconds), 1 s to 365 d.  -1 with err
 * (MT_EINVAL, naming the flag) when one does not parse. */
int session_config(const char *idle, const char *lifetime, struct mt_err *err);
/* Authenticate req by its session cookie (auth.c, when the request has no
 * Authorization header and users exist).  0: req->who is the session's
 * user; 1: the request has no session cookie; -1: req->err (401 for a
 * session that is unknown or ended, with the cookie cleared; 403 for a
 * missing or wrong CSRF token). */
int session_request(struct mt_req *req);

/* POST /api/2.0/mltrack/auth/session: log in (R_PUBLIC). */
int api_session_login(struct mt_req *req);
/* DELETE /api/2.0/mltrack/auth/session: log out. */
int api_session_logout(struct mt_req *req);

#endif
