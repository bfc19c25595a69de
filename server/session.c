/* session.c: the dashboard's sessions: login, logout, the cookie and CSRF
 * (see session.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "mt_auth.h"
#include "mt_http.h"
#include "mt_util.h"
#include "session.h"
#include "sql_sessions.h"

#define SESSION_ID_BYTES 32     /* 256 bits of chance */
#define SESSION_ID_LEN 43       /* their base64url */
#define TOUCH_EVERY_MS 60000    /* last_seen is written at most this often */
#define DURATION_MAX_S (365LL * 86400)

/* Process lifetime: set by session_config before the server starts. */
static long long idle_ms = 8LL * 3600 * 1000;
static long long lifetime_ms = 24LL * 3600 * 1000;

/* "90", "90s", "30m", "8h", "7d" into milliseconds. */
static int parse_duration(const char *s, long long *ms)
{
	char *end;
	long long v, unit = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno)
		return -1;
	if (*end) {
		switch (*end) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		default: return -1;
		}
		if (end[1])
			return -1;
	}
	if (v < 1 || v > DURATION_MAX_S / unit)
		return -1;
	*ms = v * unit * 1000;
	return 0;
}

int session_config(const char *idle, const char *lifetime, struct mt_err *err)
{
	if (idle && !*idle)
		idle = NULL;
	if (lifetime && !*lifetime)
		lifetime = NULL;
	if (parse_duration(idle ? idle : SESSION_IDLE_DEFAULT, &idle_ms))
		return mt_err_set(err, MT_EINVAL, "invalid --session-idle-timeout '%s' (a number "
				  "with s, m, h or d, e.g. 30m; 1s to 365d)", idle);
	if (parse_duration(lifetime ? lifetime : SESSION_LIFETIME_DEFAULT, &lifetime_ms))
		return mt_err_set(err, MT_EINVAL, "invalid --session-lifetime '%s' (a number "
				  "with s, m, h or d, e.g. 24h; 1s to 365d)", lifetime);
	return 0;
}

/* How often last_seen is written: once a minute, or twice per idle
 * timeout when that is shorter, so that a short timeout still sees use. */
static long long touch_every_ms(void)
{
	return idle_ms / 2 < TOUCH_EVERY_MS ? idle_ms / 2 : TOUCH_EVERY_MS;
}

static const char *addr(struct mt_req *req)
{
	return auth_client_addr(req);
}

/* The cookie may only travel over TLS when the browser reached us over TLS:
 * directly, or through a proxy that says so.  A client that lies about the
 * proxy header only makes its own cookie stricter. */
static int secure_request(struct mt_req *req)
{
	const char *p = mg_get_header(req->conn, "X-Forwarded-Proto");

	return req->ri->is_ssl || (p && strcasecmp(p, "https") == 0);
}

/* The Set-Cookie value of the answer: the session id, or (NULL) one that
 * makes the browser forget it. */
static void set_cookie(struct mt_req *req, const char *id)
{
	req->set_cookie = mt_arena_printf(req->arena, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s",
					  SESSION_COOKIE, id ? id : "", id ? "" : "; Max-Age=0",
					  secure_request(req) ? "; Secure" : "");
}

static int b64url_id(const char *s)
{
	size_t n = strlen(s);

	if (n != SESSION_ID_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return 0;
	return 1;
}

/* The hash of the session id the request's cookie carries: 0; 1 when it
 * carries none; -1 when the value is not a session id of ours. */
static int cookie_hash(struct mt_req *req, char hash[65])
{
	char buf[SESSION_ID_LEN + 2];
	const char *id = mt_auth_cookie(mg_get_header(req->conn, "Cookie"), SESSION_COOKIE, buf,
					sizeof(buf));
	int rc = 0;

	if (!id)
		return 1;
	if (b64url_id(id))
		mt_auth_sha256_hex(id, hash);
	else
		rc = -1;
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

static int state_changing(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	       strcmp(method, "OPTIONS") != 0;
}

static int ended(struct mt_req *req, const char *why)
{
	set_cookie(req, NULL);
	return mt_err_set(&req->err, MT_EUNAUTH, "%s", why);
}

int session_request(struct mt_req *req)
{
	struct sql_session s;
	const char *csrf;
	char hash[65];
	long long now = mt_now_ms();
	int found = 0, rc = cookie_hash(req, hash);

	if (rc > 0)
		return 1;
	if (rc < 0)
		return ended(req, "the session cookie is not valid: log in again");
	if (sql_session_get(req, hash, &s, &found, &req->err))
		return -1;
	if (!found)
		return ended(req, "the session has ended: log in again");
	if (now >= s.expires_at || now - s.last_seen >= idle_ms) {
		struct mt_err ignored = MT_ERR_INIT;

		sql_session_delete(req, hash, &ignored);
		fprintf(stderr, "mltrackd: session of user '%s' expired (%s)\n", s.username,
			now >= s.expires_at ? "lifetime" : "idle");
		return ended(req, "the session has expired: log in again");
	}
	if (now - s.last_seen >= touch_every_ms()) {
		struct mt_err ignored = MT_ERR_INIT;

		sql_session_touch(req, hash, now, &ignored);
	}
	auth_identify(req, "session", s.user_id, s.username, s.is_admin);
	req->who.csrf_token = s.csrf_token;
	if (!state_changing(req->ri->request_method))
		return 0;
	csrf = mg_get_header(req->conn, SESSION_CSRF_HEADER);
	if (!csrf || !mt_auth_streq(csrf, s.csrf_token)) {
		fprintf(stderr, "mltrackd: %s CSRF token on %s %s for user '%s' from %s\n",
			csrf ? "wrong" : "missing", req->ri->request_method,
			req->route ? req->route->path : "?", s.username, addr(req));
		return mt_err_set(&req->err, MT_EPERM,
				  "missing or wrong CSRF token: a change made with the dashboard's "
				  "session must send the %s header the login answered with",
				  SESSION_CSRF_HEADER);
	}
	return 0;
}

/* The login is refused from a page of another origin, whatever
 * --cors-origin grants: such a page could otherwise log the user's browser
 * into the attacker's account.  Programs send neither header. */
static int login_origin_ok(struct mt_req *req)
{
	const char *o = mg_get_header(req->conn, "Origin");
	const char *sfs = mg_get_header(req->conn, "Sec-Fetch-Site");
	const char *host = mg_get_header(req->conn, "Host");
	struct mt_http_origin origin;
	struct mt_http_host h;
	struct mt_err ignored = MT_ERR_INIT;

	if (sfs && (strcasecmp(sfs, "cross-site") == 0 || strcasecmp(sfs, "same-site") == 0))
		return mt_err_set(&req->err, MT_EPERM, "a login from another site is refused");
	if (o && (!host || mt_http_parse_origin(&origin, o, 0, &ignored) ||
		  mt_http_parse_host(&h, host, &ignored) ||
		  !mt_http_same_origin(&origin, &h, req->ri->is_ssl)))
		return mt_err_set(&req->err, MT_EPERM,
				  "a login from a page of another origin is refused");
	return 0;
}

static int bad_login(struct mt_req *req, const char *what)
{
	fprintf(stderr, "mltrackd: failed login from %s: %s\n", addr(req), what);
	return mt_err_set(&req->err, MT_EUNAUTH, "invalid username or password");
}

int api_session_login(struct mt_req *req)
{
	const char *user = NULL, *password = NULL;
	char id[SESSION_ID_LEN + 2], csrf[SESSION_ID_LEN + 2], hash[65];
	long long now, expires;
	int on = 0, rc;
	json_t *r;

	if (login_origin_ok(req) || auth_enabled(req, &on))
		return -1;
	if (!on)
		return mt_err_set(&req->err, MT_EINVAL,
				  "authentication is off (no user exists): the dashboard needs no "
				  "login; add a user with `mltrackd user add NAME`");
	if (req_str(req, "username", &user) || req_str(req, "password", &password))
		return -1;
	/* No user can have such a name, nor such a password: refused before
	 * the name reaches the failure counters or the log. */
	if (mt_auth_username_invalid(user))
		return bad_login(req, "not a user name");
	if (strlen(password) > MT_PASSWORD_MAX || !*password)
		return bad_login(req, "not a password");
	for (const char *p = password; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return bad_login(req, "not a password");
	if (auth_password(req, user, password))
		return -1;
	if (mt_auth_random_b64(id, SESSION_ID_BYTES) || mt_auth_random_b64(csrf, SESSION_ID_BYTES))
		return mt_err_set(&req->err, MT_EINTERNAL, "cannot draw random bytes for the session");
	mt_auth_sha256_hex(id, hash);
	now = mt_now_ms();
	expires = now + lifetime_ms;
	{
		struct mt_err ignored = MT_ERR_INIT;
		char old[65];

		/* A login from a browser that still holds a session ends that
		 * one: its cookie is about to be replaced. */
		if (cookie_hash(req, old) == 0)
			sql_session_delete(req, old, &ignored);
		sql_session_sweep_user(req, req->who.user_id, now, now - idle_ms, &ignored);
	}
	rc = sql_session_insert(req, hash, req->who.user_id, csrf, now, expires, &req->err);
	if (rc == 0)
		set_cookie(req, id);
	OPENSSL_cleanse(id, sizeof(id));
	if (rc)
		return -1;
	req->who.method = "session";
	req->who.csrf_token = mt_arena_strdup(req->arena, csrf);
	r = req_resp(req);
	json_object_set_new(r, "user", json_pack("{s:s, s:b}", "username", req->who.username,
						 "is_admin", req->who.is_admin));
	json_object_set_new(r, "csrf_token", json_string(csrf));
	json_object_set_new(r, "expires_at", json_integer(expires));
	json_object_set_new(r, "idle_timeout_ms", json_integer(idle_ms));
	fprintf(stderr, "mltrackd: session started for user '%s' from %s\n", req->who.username,
		addr(req));
	return 0;
}

int api_session_logout(struct mt_req *req)
{
	char hash[65];

	if (!req->who.method || strcmp(req->who.method, "session") != 0 || cookie_hash(req, hash))
		return mt_err_set(&req->err, MT_EINVAL,
				  "this request did not authenticate with a dashboard session: there "
				  "is no session to end");
	if (sql_session_delete(req, hash, &req->err))
		return -1;
	set_cookie(req, NULL);
	fprintf(stderr, "mltrackd: session of user '%s' ended (logout)\n", req->who.username);
	json_object_set_new(req_resp(req), "logged_out", json_true());
	return 0;
}
