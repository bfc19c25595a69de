/*
 * authcache.h: what authentication and authorization looked up, kept in
 * memory so that a request costs no round trip to PostgreSQL to say who
 * sent it and what it may do, and kept exact by the database itself.
 *
 * A background thread holds one connection that LISTENs on the channel
 * mltrack_auth.  Triggers on users, api_tokens, the two permission tables
 * and auth_failures (migrations/0009_auth_notify.sql) announce every change
 * when it commits, from this server, another mltrackd on the same database,
 * `mltrackd user|token` or psql.  On 'i' the generation goes up and every
 * cached token, user and permission is stale at once; 'f' carries a
 * failed-login counter.  So a revoked token, a deleted user, a new password
 * or a changed permission is refused by every server within the delay of
 * a notification (well under a millisecond on one machine), and at once on
 * the server that made the change (authcache_invalidate).
 *
 * While the listening connection is down, nothing is served from the
 * cache: every lookup goes to PostgreSQL, as without a cache, until the
 * thread has listened again (it retries every second) and reloaded the
 * failed-login counters.  A connection that dies without a word (a
 * network cut) is noticed by a query every 3 s that must be answered
 * within 3 s (and TCP keepalives): a revocation made during such a cut
 * may be missed for up to about 6 s.
 *
 * What is cached, each bounded (the whole table is dropped when full):
 *   tokens       by the SHA-256 of the secret: the row and its owner
 *   users        by name: id, password hash, admin flag (Basic, proxy)
 *   permissions  (user, experiment) -> the user's row, or none
 *   runs         run id -> experiment id (a run never moves)
 *   failures     failed-login counters at or over AUTH_FAIL_PER_USER, so
 *                that the limit holds for a password this server already
 *                verified
 * Not cached: what does not exist (an unknown token is looked up each
 * time), sessions, registered models (their stage moves with every
 * transition).
 *
 * A lookup is a hit only when its entry was filled in the current
 * generation: a filler takes authcache_gen() BEFORE its query and passes
 * it to the put, so a change that commits during the query makes the
 * entry stale.  authcache_gen() is 0 while the cache is off; a put with
 * generation 0 stores nothing.  Strings handed out are copies in the
 * arena given.
 */
#ifndef MT_AUTHCACHE_H
#define MT_AUTHCACHE_H

#include <stdio.h>

#include "mt_arena.h"
#include "mt_error.h"
#include "sql_auth.h"

/* Start the listening thread (mltrackd serving only).  0, or -1 with err. */
int authcache_start(struct mt_err *err);
/* Stop it and free every entry. */
void authcache_stop(void);

/* The current generation; 0 while the cache is off. */
unsigned long long authcache_gen(void);
/* This server changed users, tokens or permissions: drop everything now,
 * without waiting for the notification. */
void authcache_invalidate(void);

/* 1 and *t (strings in a) on a hit, else 0. */
int authcache_token_get(const char *hash, struct mt_arena *a, struct sql_token *t);
void authcache_token_put(unsigned long long gen, const char *hash, const struct sql_token *t);
/* The token's last use, as this server last wrote it. */
void authcache_token_touched(const char *hash, long long when);

int authcache_user_get(const char *username, struct mt_arena *a, struct sql_user *u);
void authcache_user_put(unsigned long long gen, const struct sql_user *u);

/* 1 on a hit: *perm is the user's row on the experiment (a copy in a), or
 * NULL when the user has none. */
int authcache_perm_get(long long user_id, long long experiment_id, struct mt_arena *a,
		       const char **perm);
void authcache_perm_put(unsigned long long gen, long long user_id, long long experiment_id,
			const char *perm);

/* 1 and *experiment_id on a hit. */
int authcache_run_get(const char *run_id, long long *experiment_id);
void authcache_run_put(const char *run_id, long long experiment_id);

/* The failed logins counted under key since `since`: 1 with *count and
 * *start (0, 0: under AUTH_FAIL_PER_USER) when the cache knows, 0 when it
 * cannot tell (off, or too many counters to keep). */
int authcache_failures(const char *key, long long since, int *count, long long *start);

/* A failed-login counter this server just wrote (the database's value):
 * kept at once, before its announcement comes back. */
void authcache_failure_seen(const char *key, int failures, long long start);

/* /metrics lines: hits and misses by table, whether it listens. */
void authcache_metrics(FILE *f);

#endif
