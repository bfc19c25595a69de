/*
 * auth.h: who is asking.  The dispatcher calls auth_request() for every
 * route that is not public, after the route is found and before the body
 * is read or the handler runs, so no handler can forget it; the identity
 * it establishes is req->who.
 *
 * While no user exists mltrackd is a one-person server: nothing is asked
 * (req->who.method is "none") and main.c refuses a non-loopback address
 * unless --insecure-no-auth.  Once a user exists (another process may add
 * it: `mltrackd user add` works on the database) every request must
 * authenticate, by
 *   Authorization: Basic user:password   (MLflow's MLFLOW_TRACKING_USERNAME
 *                                         and _PASSWORD)
 *   Authorization: Basic user:<token>    (a token of that user)
 *   Authorization: Bearer <token>        (MLFLOW_TRACKING_TOKEN, MLTRACK_TOKEN)
 * A password is verified with PBKDF2 once, then remembered for a while as
 * an HMAC under a per-process random key of (user, stored hash, password),
 * so MLflow's client, which sends it with every request, pays the KDF
 * once; a changed password changes the stored hash and misses.  Failed
 * password logins are counted per (user, address) and per address in
 * PostgreSQL, shared by every server: past the limit the answer is 429
 * with Retry-After, before any KDF runs.
 */
#ifndef MT_AUTH_SERVER_H
#define MT_AUTH_SERVER_H

#include <stdio.h>

#include "server.h"
#include "sql_auth.h"

#define AUTH_FAIL_WINDOW_MS (15LL * 60 * 1000)
#define AUTH_FAIL_PER_USER 10   /* per (user, address) and window */
#define AUTH_FAIL_PER_ADDR 100  /* per address and window */

/* --trusted-proxy ADDR (an IP literal; repeatable): requests from it may
 * name the client in X-Forwarded-For (its last address) and, with
 * --proxy-user-header, the user. */
int auth_trust_proxy(const char *addr, struct mt_err *err);
/* --proxy-user-header NAME: a request from a trusted proxy carrying it is
 * the user it names (who must exist), method "proxy".  Needs a trusted
 * proxy: an error otherwise. */
int auth_proxy_user_header(const char *name, struct mt_err *err);
/* The client's address: the socket's peer, or for a trusted proxy the last
 * address of its X-Forwarded-For. */
const char *auth_client_addr(struct mt_req *req);
/* The per-process key of the password cache.  0, or -1 with err. */
int auth_init(struct mt_err *err);
/* At start, with the pool up: refuse a non-loopback host while no user
 * exists, unless insecure (--insecure-no-auth); say which mode serves. */
int auth_startup(const char *host, int insecure, struct mt_err *err);
/* Whether users exist (cached: a server learns of the first user another
 * process added within AUTH_RECHECK_MS; of one it added itself at once). */
int auth_enabled(struct mt_req *req, int *on);
/* A user was added or removed through this process: ask again. */
void auth_users_changed(void);
/* Authenticate req (req->who); 0, or -1 with req->err (401, or 429 with
 * req->retry_after). */
int auth_request(struct mt_req *req);
/* Check a user name and password as a Basic login does (rate limit, KDF,
 * cache) and fill req->who with method "password"; for other ways in (the
 * dashboard's login form).  0, or -1 with req->err (401 or 429). */
int auth_password(struct mt_req *req, const char *user, const char *password);
/* Count one authentication of ns nanoseconds (by method and outcome), and
 * write the counters in Prometheus's text format (for /metrics). */
void auth_count(struct mt_req *req, long long ns);
void auth_metrics(FILE *f);
/* Make a token for user_id: its name checked (1 to 100 characters), its
 * scope (NULL: none) checked and put in canonical form, the secret drawn
 * into token (MT_TOKEN_LEN + 1 bytes; the caller shows it once and cleanses
 * it) and only its hash stored.  *t describes the token (username is the
 * caller's to add).  0, or -1 with err (token cleansed). */
int auth_token_issue(struct mt_req *req, long long user_id, const char *name,
		     const char *scope, long long expires_at, char *token, struct sql_token *t,
		     struct mt_err *err);
/* req->who is the user: authenticated by method ("password", "token",
 * "session", "proxy"); the token fields are the caller's to add. */
void auth_identify(struct mt_req *req, const char *method, long long user_id,
		   const char *username, int is_admin);
/* The name the audit trail records: the user, "user (token NAME)" for a
 * token, "anonymous" while authentication is off. */
const char *auth_actor(struct mt_req *req);

#endif
