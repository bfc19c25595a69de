/* auth.c: authentication of every request (see auth.h). */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth.h"
#include "authcache.h"
#include "mt_auth.h"
#include "mt_scope.h"
#include "mt_util.h"
#include "session.h"
#include "sql_auth.h"

#define AUTH_RECHECK_MS 1000          /* while off: how often to look for a first user */
#define PWCACHE_SLOTS 1024
#define PWCACHE_TTL_MS (15LL * 60 * 1000)
#define TOUCH_EVERY_MS 60000          /* a token's last use is written at most this often */

/* A hash of a random, forgotten password, verified against when the user
 * does not exist, so that an unknown name costs what a wrong password
 * costs. */
static const char dummy_hash[] =
	"$pbkdf2-sha256$600000$C1ra6aIzl7gwIEH0l198tw$Mc5frap95t6FIQy2oaGB7323pAmX518XV24yaBeUTac";

/* /metrics: authentications by method (none, password, token, session,
 * refused) and the time they took. */
static const char *const count_methods[] = { "none", "password", "token", "session", "proxy",
					      "refused" };
#define NCOUNT (sizeof(count_methods) / sizeof(count_methods[0]))
static atomic_ullong auth_n[NCOUNT], auth_ns[NCOUNT];

/* Reverse proxies (--trusted-proxy) and the header that names the user. */
#define MAX_PROXIES 16
static struct {
	unsigned char addr[MAX_PROXIES][16];
	int family[MAX_PROXIES];
	int bits[MAX_PROXIES]; /* the prefix that must match: 32 or 128 for one address */
	int n;
	const char *user_header;
} proxies;

static atomic_int enabled;          /* a user exists: sticky once seen */
static atomic_llong checked_at_ms;  /* last look while off */

static struct {
	pthread_mutex_t mu;
	unsigned char key[32];
	struct slot {
		unsigned char mac[32];
		long long expires_ms;
	} slots[PWCACHE_SLOTS];
} pwcache = { .mu = PTHREAD_MUTEX_INITIALIZER };

int auth_init(struct mt_err *err)
{
	if (RAND_bytes(pwcache.key, sizeof(pwcache.key)) != 1)
		return mt_err_set(err, MT_EINTERNAL, "cannot draw random bytes for the password cache");
	return 0;
}

void auth_users_changed(void)
{
	atomic_store(&checked_at_ms, 0);
	atomic_store(&enabled, 0);
}

int auth_enabled(struct mt_req *req, int *on)
{
	long long now = mt_mono_ns() / 1000000;
	int any = 0;

	if (atomic_load(&enabled)) {
		*on = 1;
		return 0;
	}
	if (atomic_load(&checked_at_ms) && now - atomic_load(&checked_at_ms) < AUTH_RECHECK_MS) {
		*on = 0;
		return 0;
	}
	if (sql_auth_any_user(req, &any, &req->err))
		return -1;
	atomic_store(&enabled, any);
	atomic_store(&checked_at_ms, now);
	*on = any;
	return 0;
}

/* Parse an IP literal into bytes[16]; its family, or 0. */
static int parse_ip(const char *s, unsigned char bytes[16])
{
	memset(bytes, 0, 16);
	if (inet_pton(AF_INET, s, bytes) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, bytes) == 1)
		return AF_INET6;
	return 0;
}

/* ADDR or ADDR/BITS (a range: a Kubernetes ingress controller's pods, say). */
int auth_trust_proxy(const char *addr, struct mt_err *err)
{
	unsigned char b[16] = { 0 };
	char ip[64];
	const char *slash = strchr(addr, '/');
	size_t n = slash ? (size_t)(slash - addr) : strlen(addr);
	int fam, bits, max;

	if (n >= sizeof(ip))
		return mt_err_set(err, MT_EINVAL, "--trusted-proxy '%.80s' is not an IP address or range",
				  addr);
	memcpy(ip, addr, n);
	ip[n] = '\0';
	if (!(fam = parse_ip(ip, b)))
		return mt_err_set(err, MT_EINVAL, "--trusted-proxy '%s' is not an IP address or range",
				  addr);
	max = fam == AF_INET ? 32 : 128;
	bits = max;
	if (slash) {
		char *end;
		long v = strtol(slash + 1, &end, 10);

		if (!slash[1] || *end || v < 1 || v > max)
			return mt_err_set(err, MT_EINVAL, "--trusted-proxy '%s': the prefix length must "
					  "be 1 to %d", addr, max);
		bits = (int)v;
	}
	if (proxies.n == MAX_PROXIES)
		return mt_err_set(err, MT_EINVAL, "at most %d --trusted-proxy addresses", MAX_PROXIES);
	memcpy(proxies.addr[proxies.n], b, 16);
	proxies.bits[proxies.n] = bits;
	proxies.family[proxies.n++] = fam;
	return 0;
}

/* The first bits bits of a and b agree. */
static int prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)whole) != 0)
		return 0;
	return rest == 0 || ((a[whole] ^ b[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

int auth_proxy_user_header(const char *name, struct mt_err *err)
{
	static const char *const never[] = { "authorization", "cookie", "host", "x-forwarded-for",
					     "content-type", "content-length", NULL };

	if (!proxies.n)
		return mt_err_set(err, MT_EINVAL, "--proxy-user-header needs --trusted-proxy: the "
						  "address of the proxy that sets it");
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return mt_err_set(err, MT_EINVAL, "invalid header name '%s'", name);
	for (int i = 0; never[i]; i++)
		if (strcasecmp(name, never[i]) == 0)
			return mt_err_set(err, MT_EINVAL, "--proxy-user-header cannot be %s", name);
	if (!*name)
		return mt_err_set(err, MT_EINVAL, "--proxy-user-header needs a header name");
	proxies.user_header = name;
	return 0;
}

static int from_trusted_proxy(struct mt_req *req)
{
	unsigned char b[16];
	int fam;

	if (!proxies.n || !(fam = parse_ip(req->ri->remote_addr, b)))
		return 0;
	for (int i = 0; i < proxies.n; i++)
		if (proxies.family[i] == fam && prefix_match(proxies.addr[i], b, proxies.bits[i]))
			return 1;
	return 0;
}

const char *auth_client_addr(struct mt_req *req)
{
	const char *xff;

	if (from_trusted_proxy(req) && (xff = mg_get_header(req->conn, "X-Forwarded-For"))) {
		const char *last = strrchr(xff, ',');
		char ip[64];
		size_t n;

		last = last ? last + 1 : xff;
		last += strspn(last, " \t");
		n = strcspn(last, " \t");
		if (n > 0 && n < sizeof(ip)) {
			unsigned char b[16];

			memcpy(ip, last, n);
			ip[n] = '\0';
			if (parse_ip(ip, b))
				return mt_arena_strdup(req->arena, ip);
		}
	}
	return req->ri->remote_addr[0] ? req->ri->remote_addr : "?";
}

static int loopback(const char *host)
{
	return strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
	       strncmp(host, "127.", 4) == 0;
}

int auth_startup(const char *host, int insecure, struct mt_err *err)
{
	struct mt_worker w;
	struct mt_req req;
	int any = 0, rc;

	db_oneshot(&w, &req);
	rc = db_ensure(&w, err) || sql_auth_any_user(&req, &any, err) ? -1 : 0;
	db_release(&w);
	mt_arena_release(&w.arena);
	if (rc)
		return -1;
	atomic_store(&enabled, any);
	atomic_store(&checked_at_ms, mt_mono_ns() / 1000000);
	if (!any && !loopback(host) && !insecure)
		return mt_err_set(err, MT_EINVAL,
				  "refusing to listen on %s with no user defined: anyone who can "
				  "reach it could read and change everything. Add an admin first "
				  "(mltrackd user add NAME --admin), or pass --insecure-no-auth",
				  host);
	if (!any && !loopback(host))
		fprintf(stderr, "mltrackd: WARNING: no user is defined and --insecure-no-auth is "
			"given: anyone who can reach %s may read and change everything\n", host);
	else if (any)
		fprintf(stderr, "mltrackd: users are defined: every request must authenticate\n");
	return 0;
}

/* ---- the password cache ---- */

/* 0, or -1 (no memory: then nothing is cached or looked up). */
static int pw_mac(const struct sql_user *u, const char *password, unsigned char mac[32])
{
	size_t hl = strlen(u->password_hash), pl = strlen(password);
	char stack[512], *buf = hl + pl + 32 <= sizeof(stack) ? stack : malloc(hl + pl + 32);
	unsigned int n = 32;
	int k;

	if (!buf)
		return -1;
	k = snprintf(buf, 32, "%lld", u->id) + 1;
	memcpy(buf + k, u->password_hash, hl + 1);
	memcpy(buf + k + hl + 1, password, pl);
	HMAC(EVP_sha256(), pwcache.key, sizeof(pwcache.key), (const unsigned char *)buf,
	     (size_t)k + hl + 1 + pl, mac, &n);
	OPENSSL_cleanse(buf, (size_t)k + hl + 1 + pl);
	if (buf != stack)
		free(buf);
	return 0;
}

static int pw_cached(const unsigned char mac[32])
{
	struct slot *s = &pwcache.slots[(mac[0] | mac[1] << 8) % PWCACHE_SLOTS];
	long long now = mt_mono_ns() / 1000000;
	int hit;

	pthread_mutex_lock(&pwcache.mu);
	hit = s->expires_ms > now && CRYPTO_memcmp(s->mac, mac, 32) == 0;
	pthread_mutex_unlock(&pwcache.mu);
	return hit;
}

static void pw_remember(const unsigned char mac[32])
{
	struct slot *s = &pwcache.slots[(mac[0] | mac[1] << 8) % PWCACHE_SLOTS];

	pthread_mutex_lock(&pwcache.mu);
	memcpy(s->mac, mac, 32);
	s->expires_ms = mt_mono_ns() / 1000000 + PWCACHE_TTL_MS;
	pthread_mutex_unlock(&pwcache.mu);
}

/* ---- failures ---- */

static const char *addr(struct mt_req *req)
{
	return auth_client_addr(req);
}

static int unauth(struct mt_req *req, const char *why)
{
	return mt_err_set(&req->err, MT_EUNAUTH, "%s", why);
}

/* The two keys failures are counted under. */
static void fail_keys(struct mt_req *req, const char *user, const char *keys[2])
{
	keys[0] = mt_arena_printf(req->arena, "ua:%s %s", user, addr(req));
	keys[1] = mt_arena_printf(req->arena, "a:%s", addr(req));
}

/* 429 with Retry-After when the failures of the user from this address,
 * or of the address, in the window reached their limit. */
static int over_limit(struct mt_req *req, const char *user, const int counts[2],
		      const long long starts[2])
{
	static const int limits[2] = { AUTH_FAIL_PER_USER, AUTH_FAIL_PER_ADDR };
	long long now = mt_now_ms();

	for (int i = 0; i < 2; i++) {
		long long wait;

		if (counts[i] < limits[i])
			continue;
		wait = (starts[i] + AUTH_FAIL_WINDOW_MS - now + 999) / 1000;
		req->retry_after = mt_arena_printf(req->arena, "%lld", wait > 0 ? wait : 1);
		fprintf(stderr, "mltrackd: login refused for user '%s' from %s: %d failures in "
			"%lld minutes\n", user, addr(req), counts[i], AUTH_FAIL_WINDOW_MS / 60000);
		return mt_err_set(&req->err, MT_EEXHAUSTED,
				  "too many failed logins; try again in %s seconds", req->retry_after);
	}
	return 0;
}

static int failed_login(struct mt_req *req, const char *user, const char *const keys[2],
			const char *what)
{
	struct mt_err ignored = MT_ERR_INIT;
	long long now = mt_now_ms();

	for (int i = 0; i < 2; i++) {
		int n;
		long long start;

		/* Counted here at once, not when the announcement comes back:
		 * this server's next login sees the limit. */
		if (sql_fail_bump(req, keys[i], now, AUTH_FAIL_WINDOW_MS, &n, &start, &ignored) == 0)
			authcache_failure_seen(keys[i], n, start);
	}
	fprintf(stderr, "mltrackd: failed login for user '%s' from %s: %s\n", user, addr(req), what);
	return unauth(req, "invalid username or password");
}

/* ---- the three ways in ---- */

static int by_token(struct mt_req *req, const char *secret, const char *user)
{
	struct sql_token t;
	char hash[65];
	int found = 0;
	long long now = mt_now_ms();

	if (!mt_auth_token_wellformed(secret)) {
		fprintf(stderr, "mltrackd: authentication failed from %s: not an mltrack token\n",
			addr(req));
		return unauth(req, "the token is not an mltrack token (mlt_...)");
	}
	mt_auth_sha256_hex(secret, hash);
	if (!authcache_token_get(hash, req->arena, &t)) {
		unsigned long long gen = authcache_gen();

		if (sql_token_by_hash(req, hash, &t, &found, &req->err))
			return -1;
		if (found)
			authcache_token_put(gen, hash, &t);
	} else {
		found = 1;
	}
	if (!found || (user && strcmp(user, t.username) != 0)) {
		fprintf(stderr, "mltrackd: authentication failed from %s: unknown token %.*s...\n",
			addr(req), MT_TOKEN_SHOWN, secret);
		return unauth(req, "the token is not valid");
	}
	if (t.revoked_at)
		return unauth(req, mt_arena_printf(req->arena, "the token '%s' of user %s was revoked",
						   t.name, t.username));
	if (t.expires_at && now >= t.expires_at)
		return unauth(req, mt_arena_printf(req->arena, "the token '%s' of user %s has expired",
						   t.name, t.username));
	if (now - t.last_used_at >= TOUCH_EVERY_MS) {
		struct mt_err ignored = MT_ERR_INIT;

		sql_token_touch(req, t.id, now, &ignored);
		authcache_token_touched(hash, now);
	}
	auth_identify(req, "token", t.user_id, t.username, t.user_is_admin);
	req->who.token_id = t.id;
	req->who.token_name = t.name;
	req->who.scope = t.scope;
	return 0;
}

/* A login the cache can answer: the user and both failure counters known
 * (authcache.h).  1, or 0: ask PostgreSQL. */
static int cached_login(struct mt_req *req, const char *user, const char *const keys[2],
			long long since, struct sql_user *u, int counts[2], long long starts[2])
{
	return authcache_user_get(user, req->arena, u) &&
	       authcache_failures(keys[0], since, &counts[0], &starts[0]) &&
	       authcache_failures(keys[1], since, &counts[1], &starts[1]);
}

int auth_password(struct mt_req *req, const char *user, const char *password)
{
	struct sql_user u;
	unsigned char mac[32];
	const char *keys[2];
	int have_mac = 0;
	long long starts[2];
	int found = 0, cached, counts[2], ok;
	long long since = mt_now_ms() - AUTH_FAIL_WINDOW_MS;

	fail_keys(req, user, keys);
	if ((cached = cached_login(req, user, keys, since, &u, counts, starts))) {
		found = 1;
	} else {
		unsigned long long gen = authcache_gen();

		if (sql_user_login(req, user, keys, since, &u, &found, counts, starts, &req->err))
			return -1;
		if (found)
			authcache_user_put(gen, &u);
	}
	/* Before the cache: past the limit even the right password waits, or
	 * a guesser would tell a hit (200) from a miss (429). */
	if (over_limit(req, user, counts, starts))
		return -1;
	if (found) {
		have_mac = pw_mac(&u, password, mac) == 0;
		if (have_mac && pw_cached(mac))
			goto in;
	}
	/* The KDF takes a while: hold no database connection meanwhile. */
	db_release(req->w);
	ok = mt_auth_password_verify(password, found ? u.password_hash : dummy_hash);
	if (ok != 1 || !found)
		return failed_login(req, user, keys, !found ? "no such user" :
						     ok < 0 ? "stored hash unreadable" : "wrong password");
	if (have_mac)
		pw_remember(mac);
	/* The cache keeps only counters that reached a limit: clear the
	 * user's, which may be under it. */
	if (counts[0] || cached) {
		struct mt_err ignored = MT_ERR_INIT;

		sql_fail_clear(req, keys[0], &ignored);
	}
in:
	auth_identify(req, "password", u.id, u.username, u.is_admin);
	return 0;
}

/* The user a trusted proxy authenticated (its --proxy-user-header). */
static int by_proxy(struct mt_req *req, const char *name)
{
	struct sql_user u;
	int found = 0;

	if (authcache_user_get(name, req->arena, &u)) {
		found = 1;
	} else {
		unsigned long long gen = authcache_gen();

		if (sql_user_get(req, name, &u, &found, &req->err))
			return -1;
		if (found)
			authcache_user_put(gen, &u);
	}
	if (!found) {
		fprintf(stderr, "mltrackd: the proxy at %s named user '%s', who does not exist\n",
			req->ri->remote_addr, mt_auth_username_invalid(name) ? "(invalid name)" : name);
		return unauth(req, "the user your proxy authenticated is not a user of this server");
	}
	auth_identify(req, "proxy", u.id, u.username, u.is_admin);
	return 0;
}

int auth_token_issue(struct mt_req *req, long long user_id, const char *name,
		     const char *scope, long long expires_at, char *token, struct sql_token *t,
		     struct mt_err *err)
{
	struct mt_scope grants;
	char hash[65], *prefix;
	long long now = mt_now_ms();

	if (!*name || strlen(name) > 100)
		return mt_err_set(err, MT_EINVAL, "a token name has 1 to 100 characters");
	if (scope && (mt_scope_parse(&grants, scope, req->arena, err) ||
		      !(scope = mt_scope_format(&grants, req->arena))))
		return -1;
	if (mt_auth_token_new(token))
		return mt_err_set(err, MT_EINTERNAL, "cannot draw random bytes for the token");
	mt_auth_sha256_hex(token, hash);
	prefix = mt_arena_alloc(req->arena, MT_TOKEN_SHOWN + 1);
	memcpy(prefix, token, MT_TOKEN_SHOWN);
	prefix[MT_TOKEN_SHOWN] = '\0';
	memset(t, 0, sizeof(*t));
	if (sql_token_insert(req, user_id, name, hash, prefix, scope, now, expires_at, &t->id,
			     err)) {
		OPENSSL_cleanse(token, MT_TOKEN_LEN + 1);
		return -1;
	}
	t->name = name;
	t->prefix = prefix;
	t->scope = scope;
	t->created_at = now;
	t->expires_at = expires_at;
	t->user_id = user_id;
	return 0;
}

void auth_identify(struct mt_req *req, const char *method, long long user_id,
		   const char *username, int is_admin)
{
	req->who.authenticated = 1;
	req->who.method = method;
	req->who.user_id = user_id;
	req->who.username = username;
	req->who.is_admin = is_admin;
}

int auth_request(struct mt_req *req)
{
	struct mt_credential cred;
	char *buf = mt_arena_alloc(req->arena, MT_CREDENTIAL_MAX + 1);
	int on = 0;

	req->who.method = "none";
	if (auth_enabled(req, &on))
		return -1;
	if (!on)
		return 0;
	if (proxies.user_header && from_trusted_proxy(req)) {
		const char *name = mg_get_header(req->conn, proxies.user_header);

		if (name && *name)
			return by_proxy(req, name);
	}
	switch (mt_auth_parse_header(mg_get_header(req->conn, "Authorization"), buf,
				     MT_CREDENTIAL_MAX + 1, &cred)) {
	case MT_AUTH_NONE: {
		/* The dashboard's session cookie (session.c). */
		int rc = session_request(req);

		if (rc <= 0)
			return rc;
		return unauth(req, "authentication required: send a token (Authorization: Bearer) "
				   "or a user name and password (Authorization: Basic)");
	}
	case MT_AUTH_INVALID:
		return unauth(req, mt_arena_printf(req->arena, "malformed Authorization header: %s",
						   cred.why));
	case MT_AUTH_BEARER:
		return by_token(req, cred.secret, NULL);
	case MT_AUTH_BASIC:
		if (strncmp(cred.secret, MT_TOKEN_PREFIX, strlen(MT_TOKEN_PREFIX)) == 0 &&
		    mt_auth_token_wellformed(cred.secret))
			return by_token(req, cred.secret, cred.user);
		return auth_password(req, cred.user, cred.secret);
	}
	return unauth(req, "authentication required");
}

const char *auth_actor(struct mt_req *req)
{
	if (!req->who.authenticated)
		return "anonymous";
	if (req->who.token_name)
		return mt_arena_printf(req->arena, "%s (token %s)", req->who.username,
				       req->who.token_name);
	return req->who.username;
}

void auth_count(struct mt_req *req, long long ns)
{
	size_t i = NCOUNT - 1; /* refused */

	if (req->err.code == MT_OK)
		for (i = 0; i < NCOUNT - 1; i++)
			if (req->who.method && strcmp(req->who.method, count_methods[i]) == 0)
				break;
	atomic_fetch_add_explicit(&auth_n[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&auth_ns[i], (unsigned long long)(ns > 0 ? ns : 0),
				  memory_order_relaxed);
}

void auth_metrics(FILE *f)
{
	fputs("# HELP mltrack_auth_total Requests authenticated, by method (refused: 401/429).\n"
	      "# TYPE mltrack_auth_total counter\n", f);
	for (size_t i = 0; i < NCOUNT; i++)
		fprintf(f, "mltrack_auth_total{method=\"%s\"} %llu\n", count_methods[i],
			atomic_load(&auth_n[i]));
	fputs("# HELP mltrack_auth_seconds_total Time spent authenticating, by method.\n"
	      "# TYPE mltrack_auth_seconds_total counter\n", f);
	for (size_t i = 0; i < NCOUNT; i++)
		fprintf(f, "mltrack_auth_seconds_total{method=\"%s\"} %.6f\n", count_methods[i],
			(double)atomic_load(&auth_ns[i]) / 1e9);
}
