/* authcache.c: tokens, users and permissions kept in memory, exact by
 * LISTEN/NOTIFY (see authcache.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "auth.h"
#include "authcache.h"
#include "mt_util.h"
#include "server.h"
#include "stopsig.h"

#define RETRY_MS 1000
#define POLL_MS 200
#define PING_EVERY_MS 3000
#define PING_TIMEOUT_MS 3000

/* ---- one table: string keys, a few numbers and strings per entry ---- */

#define NNUM 8
#define NSTR 4

struct ent {
	struct ent *next;
	unsigned long long gen;
	long long n[NNUM];
	char *s[NSTR];     /* into the same block, or NULL */
	char key[];
};

struct table {
	const char *name;
	pthread_mutex_t mu;
	size_t nbuckets, count, cap;
	struct ent **b;
	atomic_ullong hits, misses;
};

#define TABLE(nm, nb, cp) { nm, PTHREAD_MUTEX_INITIALIZER, nb, 0, cp, NULL, 0, 0 }

enum { T_TOKEN, T_USER, T_PERM, T_RUN, T_FAIL, NTABLES };

static struct table tables[NTABLES] = {
	[T_TOKEN] = TABLE("token", 4096, 16384),
	[T_USER] = TABLE("user", 1024, 4096),
	[T_PERM] = TABLE("permission", 4096, 16384),
	[T_RUN] = TABLE("run", 4096, 16384),
	[T_FAIL] = TABLE("failure", 1024, 4096),
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void table_clear_locked(struct table *t)
{
	if (!t->b)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct ent *e = t->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
		t->b[i] = NULL;
	}
	t->count = 0;
}

static struct ent **slot(struct table *t, const char *key)
{
	struct ent **p = &t->b[hash(key) & (t->nbuckets - 1)];

	while (*p && strcmp((*p)->key, key) != 0)
		p = &(*p)->next;
	return p;
}

/* Replace key's entry with one holding n[] and s[] (copied).  Silently
 * nothing when memory is short: the next lookup goes to PostgreSQL. */
static void put(struct table *t, const char *key, unsigned long long gen, const long long *n,
		const char *const *s)
{
	size_t kl = strlen(key) + 1, size = sizeof(struct ent) + kl;
	struct ent *e, **p;
	char *at;

	for (int i = 0; i < NSTR; i++)
		size += s[i] ? strlen(s[i]) + 1 : 0;
	if (!(e = malloc(size)))
		return;
	e->gen = gen;
	memcpy(e->n, n, sizeof(e->n));
	memcpy(e->key, key, kl);
	at = e->key + kl;
	for (int i = 0; i < NSTR; i++) {
		e->s[i] = NULL;
		if (s[i]) {
			size_t l = strlen(s[i]) + 1;

			e->s[i] = memcpy(at, s[i], l);
			at += l;
		}
	}
	pthread_mutex_lock(&t->mu);
	if (!t->b && !(t->b = calloc(t->nbuckets, sizeof(*t->b)))) {
		pthread_mutex_unlock(&t->mu);
		free(e);
		return;
	}
	p = slot(t, key);
	if (*p) {
		e->next = (*p)->next;
		free(*p);
		*p = e;
	} else {
		if (t->count == t->cap) {
			table_clear_locked(t);
			p = slot(t, key);
		}
		e->next = NULL;
		*p = e;
		t->count++;
	}
	pthread_mutex_unlock(&t->mu);
}

static void drop(struct table *t, const char *key)
{
	struct ent **p, *e;

	pthread_mutex_lock(&t->mu);
	if (t->b && (e = *(p = slot(t, key)))) {
		*p = e->next;
		free(e);
		t->count--;
	}
	pthread_mutex_unlock(&t->mu);
}

static char *dup_in(struct mt_arena *a, const char *s)
{
	return s ? mt_arena_strdup(a, s) : NULL;
}

/* Under the table's lock: the entry of key filled in generation gen (any
 * generation when gen is 0), or NULL.  Counts the hit or the miss. */
static struct ent *find_locked(struct table *t, const char *key, unsigned long long gen)
{
	struct ent *e = t->b ? *slot(t, key) : NULL;

	if (e && gen && e->gen != gen)
		e = NULL;
	atomic_fetch_add_explicit(e ? &t->hits : &t->misses, 1, memory_order_relaxed);
	return e;
}

/* ---- the generation ---- */

static pthread_mutex_t gen_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long gen_next = 1;
static atomic_ullong gen_cur;          /* 0: off */
static atomic_ullong notified, reconnects;

/* Under gen_mu. */
static void gen_set(int on)
{
	atomic_store(&gen_cur, on ? ++gen_next : 0);
}

unsigned long long authcache_gen(void)
{
	return atomic_load(&gen_cur);
}

void authcache_invalidate(void)
{
	pthread_mutex_lock(&gen_mu);
	if (atomic_load(&gen_cur))
		gen_set(1);
	pthread_mutex_unlock(&gen_mu);
}

/* ---- tokens ---- */

int authcache_token_get(const char *hash_hex, struct mt_arena *a, struct sql_token *t)
{
	unsigned long long gen = authcache_gen();
	struct table *tb = &tables[T_TOKEN];
	struct ent *e;

	if (!gen)
		return 0;
	pthread_mutex_lock(&tb->mu);
	if ((e = find_locked(tb, hash_hex, gen))) {
		t->id = e->n[0];
		t->created_at = e->n[1];
		t->expires_at = e->n[2];
		t->last_used_at = e->n[3];
		t->revoked_at = e->n[4];
		t->user_id = e->n[5];
		t->user_is_admin = (int)e->n[6];
		t->name = dup_in(a, e->s[0]);
		t->prefix = dup_in(a, e->s[1]);
		t->scope = dup_in(a, e->s[2]);
		t->username = dup_in(a, e->s[3]);
	}
	pthread_mutex_unlock(&tb->mu);
	return e != NULL;
}

void authcache_token_put(unsigned long long gen, const char *hash_hex, const struct sql_token *t)
{
	long long n[NNUM] = { t->id, t->created_at, t->expires_at, t->last_used_at,
			      t->revoked_at, t->user_id, t->user_is_admin, 0 };
	const char *s[NSTR] = { t->name, t->prefix, t->scope, t->username };

	if (gen)
		put(&tables[T_TOKEN], hash_hex, gen, n, s);
}

void authcache_token_touched(const char *hash_hex, long long when)
{
	struct table *tb = &tables[T_TOKEN];
	struct ent *e;

	pthread_mutex_lock(&tb->mu);
	if (tb->b && (e = *slot(tb, hash_hex)))
		e->n[3] = when;
	pthread_mutex_unlock(&tb->mu);
}

/* ---- users ---- */

int authcache_user_get(const char *username, struct mt_arena *a, struct sql_user *u)
{
	unsigned long long gen = authcache_gen();
	struct table *tb = &tables[T_USER];
	struct ent *e;

	if (!gen)
		return 0;
	pthread_mutex_lock(&tb->mu);
	if ((e = find_locked(tb, username, gen))) {
		memset(u, 0, sizeof(*u));
		u->id = e->n[0];
		u->is_admin = (int)e->n[1];
		u->created_at = e->n[2];
		u->updated_at = e->n[3];
		u->username = dup_in(a, e->key);
		u->password_hash = dup_in(a, e->s[0]);
	}
	pthread_mutex_unlock(&tb->mu);
	return e != NULL;
}

void authcache_user_put(unsigned long long gen, const struct sql_user *u)
{
	long long n[NNUM] = { u->id, u->is_admin, u->created_at, u->updated_at, 0, 0, 0, 0 };
	const char *s[NSTR] = { u->password_hash, NULL, NULL, NULL };

	if (gen)
		put(&tables[T_USER], u->username, gen, n, s);
}

/* ---- permissions and runs ---- */

int authcache_perm_get(long long user_id, long long experiment_id, struct mt_arena *a,
		       const char **perm)
{
	unsigned long long gen = authcache_gen();
	struct table *tb = &tables[T_PERM];
	char key[48];
	struct ent *e;

	if (!gen)
		return 0;
	snprintf(key, sizeof(key), "%lld:%lld", user_id, experiment_id);
	pthread_mutex_lock(&tb->mu);
	if ((e = find_locked(tb, key, gen)))
		*perm = dup_in(a, e->s[0]);
	pthread_mutex_unlock(&tb->mu);
	return e != NULL;
}

void authcache_perm_put(unsigned long long gen, long long user_id, long long experiment_id,
			const char *perm)
{
	long long n[NNUM] = { 0 };
	const char *s[NSTR] = { perm, NULL, NULL, NULL };
	char key[48];

	if (!gen)
		return;
	snprintf(key, sizeof(key), "%lld:%lld", user_id, experiment_id);
	put(&tables[T_PERM], key, gen, n, s);
}

int authcache_run_get(const char *run_id, long long *experiment_id)
{
	struct table *tb = &tables[T_RUN];
	struct ent *e;

	if (!authcache_gen())
		return 0;
	pthread_mutex_lock(&tb->mu);
	if ((e = find_locked(tb, run_id, 0)))
		*experiment_id = e->n[0];
	pthread_mutex_unlock(&tb->mu);
	return e != NULL;
}

void authcache_run_put(const char *run_id, long long experiment_id)
{
	long long n[NNUM] = { experiment_id };
	const char *s[NSTR] = { NULL };

	if (authcache_gen())
		put(&tables[T_RUN], run_id, 1, n, s);
}

/* ---- failed logins ---- */

/* The failure table is exact while fail_known: loaded after LISTEN, and
 * nothing dropped for want of room since. */
static atomic_int fail_known;

int authcache_failures(const char *key, long long since, int *count, long long *start)
{
	struct table *tb = &tables[T_FAIL];
	struct ent *e;

	if (!authcache_gen() || !atomic_load(&fail_known))
		return 0;
	*count = 0;
	*start = 0;
	pthread_mutex_lock(&tb->mu);
	if (tb->b && (e = *slot(tb, key)) && e->n[1] > since) {
		*count = (int)e->n[0];
		*start = e->n[1];
	}
	pthread_mutex_unlock(&tb->mu);
	return 1;
}

/* A counter as the database now has it; only those that may refuse are
 * kept (the limits are AUTH_FAIL_PER_USER and the larger
 * AUTH_FAIL_PER_ADDR). */
static void fail_set(const char *key, long long failures, long long start)
{
	struct table *tb = &tables[T_FAIL];
	long long n[NNUM] = { failures, start };
	const char *s[NSTR] = { NULL };
	struct ent *e;
	int stale;

	/* This server's own count (authcache_failure_seen) may be ahead of an
	 * announcement still on its way: within one window a count only
	 * grows, until a deletion (0) starts it again. */
	pthread_mutex_lock(&tb->mu);
	stale = failures > 0 && tb->b && (e = *slot(tb, key)) && e->n[1] == start &&
		e->n[0] > failures;
	pthread_mutex_unlock(&tb->mu);
	if (stale)
		return;
	if (failures < AUTH_FAIL_PER_USER) {
		drop(tb, key);
		return;
	}
	pthread_mutex_lock(&tb->mu);
	if (tb->count >= tb->cap) {
		/* No room: say nothing rather than forget a lock-out. */
		atomic_store(&fail_known, 0);
		pthread_mutex_unlock(&tb->mu);
		return;
	}
	pthread_mutex_unlock(&tb->mu);
	put(tb, key, 1, n, s);
}

void authcache_failure_seen(const char *key, int failures, long long start)
{
	if (authcache_gen())
		fail_set(key, failures, start);
}

static void fail_clear_all(void)
{
	pthread_mutex_lock(&tables[T_FAIL].mu);
	table_clear_locked(&tables[T_FAIL]);
	pthread_mutex_unlock(&tables[T_FAIL].mu);
}

/* ---- the listening thread ---- */

static pthread_t listener;
static atomic_int running, listening;
/* authcache_stop() raises it: the thread's poll()s and naps end at once
 * instead of at their next timeout. */
static struct stopsig stop = STOPSIG_INIT;

static void nap(int ms)
{
	stopsig_nap(&stop, ms);
}

static void on_notify(const char *payload)
{
	atomic_fetch_add_explicit(&notified, 1, memory_order_relaxed);
	if (payload[0] == 'f' && payload[1] == ' ') {
		char *end;
		long long failures = strtoll(payload + 2, &end, 10);
		long long start = strtoll(end, &end, 10);

		if (*end == ' ')
			fail_set(end + 1, failures, start);
		return;
	}
	if (payload[0] == 'F') {
		fail_clear_all();
		return;
	}
	/* 'i', or anything this version does not know: drop everything. */
	auth_users_changed();
	authcache_invalidate();
}

/* LISTEN, then read the counters that may refuse: in this order, no change
 * falls between the two.  0, or -1 (the connection is then useless). */
static int subscribe(PGconn *c)
{
	char limit[16];
	const char *v[1] = { limit };
	PGresult *r = PQexec(c, "LISTEN mltrack_auth");
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	PQclear(r);
	if (!ok)
		return -1;
	snprintf(limit, sizeof(limit), "%d", AUTH_FAIL_PER_USER);
	r = PQexecParams(c, "SELECT failures, window_start, key FROM auth_failures "
			    "WHERE failures >= $1::int", 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return -1;
	}
	fail_clear_all();
	atomic_store(&fail_known, 1);
	for (int i = 0; i < PQntuples(r); i++)
		fail_set(PQgetvalue(r, i, 2), strtoll(PQgetvalue(r, i, 0), NULL, 10),
			 strtoll(PQgetvalue(r, i, 1), NULL, 10));
	PQclear(r);
	return 0;
}

static void *listen_main(void *arg)
{
	static const char *const keys[] = { "dbname", "application_name", "keepalives",
					    "keepalives_idle", "keepalives_interval",
					    "keepalives_count", NULL };
	const char *vals[] = { mt_cfg.listen_url ? mt_cfg.listen_url : mt_cfg.conninfo,
			       "mltrackd-listen", "1", "5", "2", "3", NULL };
	long long last_ok, ping_sent;
	int said = 0;

	(void)arg;
	while (!stopsig_stopping(&stop)) {
		PGconn *c = PQconnectdbParams(keys, vals, 1);

		if (PQstatus(c) != CONNECTION_OK || subscribe(c)) {
			if (!said++)
				fprintf(stderr, "mltrackd: auth cache off, looking everything up in "
					"PostgreSQL: cannot listen for changes: %s",
					PQerrorMessage(c));
			PQfinish(c);
			nap(RETRY_MS);
			continue;
		}
		if (said)
			fprintf(stderr, "mltrackd: auth cache on again: listening for changes\n");
		said = 0;
		pthread_mutex_lock(&gen_mu);
		gen_set(1);
		pthread_mutex_unlock(&gen_mu);
		atomic_store(&listening, 1);
		atomic_fetch_add(&reconnects, 1);
		last_ok = mt_mono_ns() / 1000000;
		ping_sent = 0;
		while (!stopsig_stopping(&stop)) {
			struct pollfd p[2] = { { PQsocket(c), POLLIN, 0 }, { stopsig_fd(&stop), POLLIN, 0 } };
			long long now = mt_mono_ns() / 1000000;
			PGnotify *n;
			int rc;

			/* A connection can die without a word (a network cut):
			 * ask something every PING_EVERY_MS, give up after
			 * PING_TIMEOUT_MS without an answer. */
			if (ping_sent && now - ping_sent > PING_TIMEOUT_MS)
				break;
			if (!ping_sent && now - last_ok >= PING_EVERY_MS) {
				if (!PQsendQuery(c, "SELECT 1"))
					break;
				ping_sent = now;
			}
			rc = poll(p, 2, POLL_MS);
			if (rc < 0 && errno != EINTR)
				break;
			if (rc <= 0 || !(p[0].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			if (!PQconsumeInput(c))
				break;
			while (ping_sent && !PQisBusy(c)) {
				PGresult *r = PQgetResult(c);

				if (!r) {
					ping_sent = 0;
					last_ok = mt_mono_ns() / 1000000;
				}
				PQclear(r);
			}
			while ((n = PQnotifies(c))) {
				on_notify(n->extra);
				PQfreemem(n);
			}
			if (PQstatus(c) != CONNECTION_OK)
				break;
		}
		/* Off before anything else: no lookup trusts what may be stale. */
		pthread_mutex_lock(&gen_mu);
		gen_set(0);
		pthread_mutex_unlock(&gen_mu);
		atomic_store(&listening, 0);
		atomic_store(&fail_known, 0);
		if (!stopsig_stopping(&stop)) {
			fprintf(stderr, "mltrackd: auth cache off, looking everything up in "
				"PostgreSQL: lost the connection that listens for changes: %s",
				PQerrorMessage(c));
			said = 1;
		}
		PQfinish(c);
		if (!stopsig_stopping(&stop))
			nap(RETRY_MS);
	}
	return NULL;
}

int authcache_start(struct mt_err *err)
{
	/* A pooler in transaction mode would take the LISTEN on whichever
	 * server connection the statement ran on, and deliver nothing: the
	 * cache would trust what it never hears change. */
	if (mt_cfg.pooler && !mt_cfg.listen_url) {
		fprintf(stderr, "mltrackd: auth cache off: behind --database-pooler, LISTEN "
			"needs --database-listen-url (PostgreSQL itself); every request looks "
			"its credentials up\n");
		return 0;
	}
	if (stopsig_open(&stop, "auth cache", err))
		return -1;
	if (pthread_create(&listener, NULL, listen_main, NULL) != 0)
		return mt_err_set(err, MT_EINTERNAL, "cannot start the auth cache's thread");
	atomic_store(&running, 1);
	return 0;
}

void authcache_stop(void)
{
	if (atomic_exchange(&running, 0)) {
		stopsig_raise(&stop);
		pthread_join(listener, NULL);
	}
	stopsig_close(&stop);
	for (int i = 0; i < NTABLES; i++) {
		pthread_mutex_lock(&tables[i].mu);
		table_clear_locked(&tables[i]);
		free(tables[i].b);
		tables[i].b = NULL;
		pthread_mutex_unlock(&tables[i].mu);
	}
}

void authcache_metrics(FILE *f)
{
	fprintf(f, "# HELP mltrack_auth_cache_listening Whether the auth cache listens for changes "
		"(0: every lookup goes to PostgreSQL).\n"
		"# TYPE mltrack_auth_cache_listening gauge\n"
		"mltrack_auth_cache_listening %d\n"
		"# HELP mltrack_auth_cache_subscriptions_total Times the auth cache began to listen.\n"
		"# TYPE mltrack_auth_cache_subscriptions_total counter\n"
		"mltrack_auth_cache_subscriptions_total %llu\n"
		"# HELP mltrack_auth_cache_notifications_total Changes announced by the database.\n"
		"# TYPE mltrack_auth_cache_notifications_total counter\n"
		"mltrack_auth_cache_notifications_total %llu\n",
		atomic_load(&listening), atomic_load(&reconnects), atomic_load(&notified));
	fputs("# HELP mltrack_auth_cache_lookups_total Auth cache lookups, by table and result.\n"
	      "# TYPE mltrack_auth_cache_lookups_total counter\n", f);
	for (int i = 0; i < T_FAIL; i++)
		fprintf(f, "mltrack_auth_cache_lookups_total{table=\"%s\",result=\"hit\"} %llu\n"
			"mltrack_auth_cache_lookups_total{table=\"%s\",result=\"miss\"} %llu\n",
			tables[i].name, atomic_load(&tables[i].hits), tables[i].name,
			atomic_load(&tables[i].misses));
}
