/*
 * s3.c: a small S3 client on libcurl for the artifact store (s3.h).
 *
 * Every request is one easy handle, signed by libcurl's SigV4 with the
 * payload digest given in x-amz-content-sha256 (libcurl 7.88 takes the
 * header's value as the payload hash; it does not hash a streamed body
 * itself).  Connections and DNS answers are shared between the worker
 * threads through one share handle, so requests reuse kept-alive
 * connections.  libcurl 7.88 signs the query string as written: every
 * query below is already canonical (names sorted, values percent-encoded,
 * "name=" for an empty value).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "mt_redact.h"
#include "mt_util.h"
#include "s3.h"

/* Parts of a multipart upload: at least this, and few enough for S3's
 * 10,000-part limit at any size. */
#define S3_PART (16LL * 1024 * 1024)
#define S3_MAX_PARTS 9000
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ERRBODY_MAX 4096

static struct {
	int on;
	char *endpoint; /* scheme://host[:port], no trailing slash */
	char *region;
	char *bucket;
	char *prefix;   /* "" or "a/b/" (with its slash) */
	char *access, *secret, *token;
	char sigv4[128];
	char desc[1024];
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
} s3;

/* Requests by operation and outcome, and body bytes each way (/metrics). */
enum { OP_HEAD, OP_GET, OP_PUT, OP_POST, OP_DELETE, OP_N };
static const char *const op_names[OP_N] = { "HEAD", "GET", "PUT", "POST", "DELETE" };
static atomic_ullong op_count[OP_N][2]; /* [op][0 ok, 1 failed] */
static atomic_ullong bytes_sent, bytes_received;

void s3_metrics(FILE *f)
{
	if (!s3.on)
		return;
	fputs("# HELP mltrack_s3_requests_total Requests to the S3 artifact store, by method "
	      "and outcome (error: unreachable or refused).\n"
	      "# TYPE mltrack_s3_requests_total counter\n", f);
	for (int i = 0; i < OP_N; i++)
		for (int k = 0; k < 2; k++)
			fprintf(f, "mltrack_s3_requests_total{method=\"%s\",outcome=\"%s\"} %llu\n",
				op_names[i], k ? "error" : "ok", atomic_load(&op_count[i][k]));
	fprintf(f, "# HELP mltrack_s3_bytes_total Body bytes to and from the S3 artifact store.\n"
		"# TYPE mltrack_s3_bytes_total counter\n"
		"mltrack_s3_bytes_total{direction=\"sent\"} %llu\n"
		"mltrack_s3_bytes_total{direction=\"received\"} %llu\n",
		atomic_load(&bytes_sent), atomic_load(&bytes_received));
}

int s3_enabled(void)
{
	return s3.on;
}

const char *s3_describe(void)
{
	return s3.desc;
}

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
	(void)h, (void)a, (void)u;
	pthread_mutex_lock(&s3.locks[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
	(void)h, (void)u;
	pthread_mutex_unlock(&s3.locks[d]);
}

static const char *env_first(const char *a, const char *b)
{
	const char *v = getenv(a);

	if (v && *v)
		return v;
	v = b ? getenv(b) : NULL;
	return v && *v ? v : NULL;
}

int s3_configure(const char *uri, const char *endpoint, const char *region, struct mt_err *err)
{
	const char *p = uri + 5, *slash;
	const char *key = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
	const char *token = getenv("AWS_SESSION_TOKEN");
	size_t blen, plen;

	if (strncmp(uri, "s3://", 5) != 0)
		return mt_err_set(err, MT_EINVAL, "'%s' is not an s3:// address", uri);
	slash = strchr(p, '/');
	blen = slash ? (size_t)(slash - p) : strlen(p);
	if (blen < 3 || blen > 63 || strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789.-") < blen)
		return mt_err_set(err, MT_EINVAL,
				  "invalid bucket in '%s': 3 to 63 lowercase letters, digits, '.' "
				  "or '-'", uri);
	if (!key || !*key || !secret || !*secret)
		return mt_err_set(err, MT_EINVAL,
				  "--artifacts-root %s needs AWS_ACCESS_KEY_ID and "
				  "AWS_SECRET_ACCESS_KEY in the environment", uri);
	region = region && *region ? region : env_first("AWS_REGION", "AWS_DEFAULT_REGION");
	if (!region)
		region = "us-east-1";
	endpoint = endpoint && *endpoint ? endpoint : env_first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
	if (endpoint && strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)
		return mt_err_set(err, MT_EINVAL, "invalid S3 endpoint '%s': expected http:// or https://",
				  endpoint);
	if (strchr(region, ':') || strlen(region) > 64)
		return mt_err_set(err, MT_EINVAL, "invalid S3 region '%s'", region);
	s3.bucket = strndup(p, blen);
	slash = slash ? slash + 1 : "";
	plen = strlen(slash);
	while (plen && slash[plen - 1] == '/')
		plen--;
	if (asprintf(&s3.prefix, "%.*s%s", (int)plen, slash, plen ? "/" : "") < 0)
		s3.prefix = NULL;
	if (endpoint) {
		s3.endpoint = strdup(endpoint);
		if (s3.endpoint)
			for (size_t n = strlen(s3.endpoint); n > 8 && s3.endpoint[n - 1] == '/'; n--)
				s3.endpoint[n - 1] = '\0';
	} else if (asprintf(&s3.endpoint, "https://s3.%s.amazonaws.com", region) < 0) {
		s3.endpoint = NULL;
	}
	s3.region = strdup(region);
	s3.access = strdup(key);
	s3.secret = strdup(secret);
	s3.token = token && *token ? strdup(token) : NULL;
	if (!s3.bucket || !s3.prefix || !s3.endpoint || !s3.region || !s3.access || !s3.secret ||
	    (token && *token && !s3.token))
		return mt_err_set(err, MT_EINTERNAL, "out of memory");
	mt_redact_add(s3.secret);
	if (s3.token)
		mt_redact_add(s3.token);
	snprintf(s3.sigv4, sizeof(s3.sigv4), "aws:amz:%s:s3", s3.region);
	snprintf(s3.desc, sizeof(s3.desc), "s3://%s/%s at %s", s3.bucket, s3.prefix, s3.endpoint);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return mt_err_set(err, MT_EINTERNAL, "cannot initialise libcurl");
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s3.locks[i], NULL);
	s3.share = curl_share_init();
	if (!s3.share)
		return mt_err_set(err, MT_EINTERNAL, "cannot initialise libcurl");
	curl_share_setopt(s3.share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(s3.share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(s3.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(s3.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	s3.on = 1;
	return 0;
}

void s3_shutdown(void)
{
	if (!s3.on)
		return;
	curl_share_cleanup(s3.share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s3.locks[i]);
	free(s3.endpoint);
	free(s3.region);
	free(s3.bucket);
	free(s3.prefix);
	free(s3.access);
	free(s3.secret);
	free(s3.token);
	curl_global_cleanup();
	memset(&s3, 0, sizeof(s3));
}

/* ---- one request ---- */

struct call {
	CURL *h;
	struct curl_slist *hdrs;
	char url[4096];
	char errbuf[CURL_ERROR_SIZE];
	/* The answer's body when it is not the caller's (errors, XML). */
	char *body;
	size_t blen, bcap;
	char etag[128];
	/* A request body from memory or from a file range. */
	const char *mem;
	size_t mlen, mpos;
	int fd;
	long long foff, fleft;
	/* get */
	s3_sink sink;
	void *sink_ctx;
	int began, stopped;
	long status;
};

/* Percent-encode s into out (S3's rules: unreserved kept; '/' kept when
 * keep_slash). */
static void enc(char *out, size_t cap, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s && n + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
}

static size_t on_body(char *p, size_t sz, size_t nm, void *u)
{
	struct call *c = u;
	size_t n = sz * nm;

	if (c->sink && !c->began) {
		curl_off_t len = -1;

		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
		if (c->status == 200) {
			curl_easy_getinfo(c->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
			c->began = 1;
			if (c->sink(c->sink_ctx, NULL, (size_t)len)) {
				c->stopped = 1;
				return 0;
			}
		}
	}
	if (c->began) {
		if (c->sink(c->sink_ctx, p, n)) {
			c->stopped = 1;
			return 0;
		}
		return n;
	}
	if (c->blen + n + 1 > c->bcap) {
		size_t keep = c->bcap > c->blen + 1 ? c->bcap - c->blen - 1 : 0;

		if (c->bcap >= (c->sink ? ERRBODY_MAX : 1 << 24)) {
			n = keep < n ? keep : n; /* keep the head of an error */
		} else {
			size_t cap = c->bcap ? c->bcap * 2 : 4096;
			char *b;

			while (cap < c->blen + n + 1)
				cap *= 2;
			if (!(b = realloc(c->body, cap)))
				return 0;
			c->body = b;
			c->bcap = cap;
		}
	}
	memcpy(c->body + c->blen, p, n);
	c->blen += n;
	c->body[c->blen] = '\0';
	return sz * nm;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *u)
{
	struct call *c = u;
	size_t n = sz * nm;

	if (n > 5 && strncasecmp(p, "etag:", 5) == 0) {
		const char *v = p + 5;
		size_t l;

		while (*v == ' ' || *v == '\t')
			v++;
		l = (size_t)(p + n - v);
		while (l && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' '))
			l--;
		if (l < sizeof(c->etag)) {
			memcpy(c->etag, v, l);
			c->etag[l] = '\0';
		}
	}
	return n;
}

static size_t on_read(char *p, size_t sz, size_t nm, void *u)
{
	struct call *c = u;
	size_t n = sz * nm;

	if (c->mem) {
		if (n > c->mlen - c->mpos)
			n = c->mlen - c->mpos;
		memcpy(p, c->mem + c->mpos, n);
		c->mpos += n;
		return n;
	}
	if ((long long)n > c->fleft)
		n = (size_t)c->fleft;
	if (n == 0)
		return 0;
	for (;;) {
		ssize_t r = pread(c->fd, p, n, c->foff);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return CURL_READFUNC_ABORT;
		c->foff += r;
		c->fleft -= r;
		return (size_t)r;
	}
}

/* A request on key (relative to PREFIX; NULL: the bucket) with an already
 * canonical query (or NULL) and the payload's digest. */
static int call_init(struct call *c, const char *method, const char *key, const char *query,
		     const char *payload_sha, struct mt_err *err)
{
	char ekey[3 * 1024 + 1], h[160], *full = NULL;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (key) {
		if (asprintf(&full, "%s%s", s3.prefix, key) < 0)
			return mt_err_set(err, MT_EINTERNAL, "out of memory");
		enc(ekey, sizeof(ekey), full, 1);
		free(full);
	}
	snprintf(c->url, sizeof(c->url), "%s/%s%s%s%s%s", s3.endpoint, s3.bucket, key ? "/" : "",
		 key ? ekey : "", query ? "?" : "", query ? query : "");
	if (!(c->h = curl_easy_init()))
		return mt_err_set(err, MT_EINTERNAL, "cannot initialise libcurl");
	snprintf(h, sizeof(h), "x-amz-content-sha256: %s", payload_sha ? payload_sha : EMPTY_SHA);
	c->hdrs = curl_slist_append(c->hdrs, h);
	if (s3.token) {
		char *t = NULL;

		if (asprintf(&t, "x-amz-security-token: %s", s3.token) >= 0) {
			c->hdrs = curl_slist_append(c->hdrs, t);
			free(t);
		}
	}
	curl_easy_setopt(c->h, CURLOPT_URL, c->url);
	curl_easy_setopt(c->h, CURLOPT_SHARE, s3.share);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_AWS_SIGV4, s3.sigv4);
	curl_easy_setopt(c->h, CURLOPT_USERNAME, s3.access);
	curl_easy_setopt(c->h, CURLOPT_PASSWORD, s3.secret);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	/* "Expect:" in the header list would be signed (libcurl 7.88 signs
	 * every listed header, sent or not): a short wait instead. */
	curl_easy_setopt(c->h, CURLOPT_EXPECT_100_TIMEOUT_MS, 200L);
	/* A store that stops moving bytes for 30 s is unreachable. */
	curl_easy_setopt(c->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c->h, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(c->h, CURLOPT_READDATA, c);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c->h, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "PUT") == 0)
		curl_easy_setopt(c->h, CURLOPT_UPLOAD, 1L);
	else if (strcmp(method, "POST") == 0)
		curl_easy_setopt(c->h, CURLOPT_POST, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
	return 0;
}

static void call_free(struct call *c)
{
	if (c->h)
		curl_easy_cleanup(c->h);
	curl_slist_free_all(c->hdrs);
	free(c->body);
	c->h = NULL;
	c->hdrs = NULL;
	c->body = NULL;
}

/* The text of <tag>...</tag> at or after *from in the body, unescaped into
 * out; *from moves past it.  0, or -1 when absent. */
static int xml_get(const char *body, const char **from, const char *tag, char *out, size_t cap)
{
	char open[64], close[64];
	const char *a, *b;
	size_t n = 0;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	if (!body || !(a = strstr(from && *from ? *from : body, open)))
		return -1;
	a += strlen(open);
	if (!(b = strstr(a, close)))
		return -1;
	if (from)
		*from = b + strlen(close);
	while (a < b && n + 1 < cap) {
		static const struct { const char *e; char c; } ent[] = {
			{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' },
			{ "&apos;", '\'' },
		};
		size_t i;

		for (i = 0; i < sizeof(ent) / sizeof(ent[0]); i++)
			if (strncmp(a, ent[i].e, strlen(ent[i].e)) == 0)
				break;
		if (i < sizeof(ent) / sizeof(ent[0])) {
			out[n++] = ent[i].c;
			a += strlen(ent[i].e);
		} else {
			out[n++] = *a++;
		}
	}
	out[n] = '\0';
	return 0;
}

/* Why the store refused: its <Code> and <Message>, HTTP status status. */
static int store_refused(struct call *c, const char *what, struct mt_err *err)
{
	char code[128] = "", msg[256] = "";

	xml_get(c->body, NULL, "Code", code, sizeof(code));
	xml_get(c->body, NULL, "Message", msg, sizeof(msg));
	if (c->status >= 500 || strcmp(code, "SlowDown") == 0)
		mt_err_set(err, MT_EUNAVAIL,
			   "The artifact store is unavailable (S3 answered %ld %s), please retry",
			   c->status, code);
	else if (strcmp(code, "QuotaExceeded") == 0 || strcmp(code, "EntityTooLarge") == 0)
		mt_err_set(err, MT_ENOSPACE, "The artifact store is full (S3: %s)", code);
	else
		mt_err_set(err, MT_EINTERNAL, "The artifact store refused the request (S3 %ld %s)",
			   c->status, *code ? code : "error");
	return mt_err_detail(err, "S3 %s %s: %ld %s %s", what, c->url, c->status, code, msg);
}

/* Perform; 0 with c->status set, or -1: the store could not be reached. */
static int call_run(struct call *c, const char *what, struct mt_err *err)
{
	CURLcode rc = curl_easy_perform(c->h);
	curl_off_t up = 0, down = 0;
	int op;

	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
	curl_easy_getinfo(c->h, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(c->h, CURLINFO_SIZE_DOWNLOAD_T, &down);
	atomic_fetch_add(&bytes_sent, (unsigned long long)up);
	atomic_fetch_add(&bytes_received, (unsigned long long)down);
	for (op = 0; op < OP_N - 1; op++)
		if (strncmp(what, op_names[op], strlen(op_names[op])) == 0)
			break;
	atomic_fetch_add(&op_count[op][rc != CURLE_OK || (c->status >= 400 && c->status != 404)], 1);
	if (rc == CURLE_OK || (c->stopped && rc == CURLE_WRITE_ERROR))
		return 0;
	mt_err_set(err, MT_EUNAVAIL, "The artifact store is unreachable, please retry");
	return mt_err_detail(err, "S3 %s %s: %s", what, c->url,
			     c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
}

/* ---- operations ---- */

int s3_check(struct mt_err *err)
{
	struct call c;
	int rc;

	if (call_init(&c, "HEAD", NULL, NULL, NULL, err))
		return -1;
	rc = call_run(&c, "HEAD bucket", err);
	if (rc == 0 && c.status != 200)
		rc = c.status == 404 ? (mt_err_set(err, MT_EINTERNAL, "S3 bucket '%s' does not exist at %s",
						   s3.bucket, s3.endpoint), -1)
				     : store_refused(&c, "HEAD bucket", err);
	call_free(&c);
	return rc;
}

int s3_head(const char *key, int *found, long long *size, struct mt_err *err)
{
	struct call c;
	int rc;

	*found = 0;
	*size = -1;
	if (call_init(&c, "HEAD", key, NULL, NULL, err))
		return -1;
	rc = call_run(&c, "HEAD", err);
	if (rc == 0 && c.status == 200) {
		curl_off_t len = -1;

		curl_easy_getinfo(c.h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
		*found = 1;
		*size = (long long)len;
	} else if (rc == 0 && c.status != 404) {
		rc = store_refused(&c, "HEAD", err);
	}
	call_free(&c);
	return rc;
}

int s3_delete(const char *key, struct mt_err *err)
{
	struct call c;
	int rc;

	if (call_init(&c, "DELETE", key, NULL, NULL, err))
		return -1;
	rc = call_run(&c, "DELETE", err);
	if (rc == 0 && c.status != 204 && c.status != 200 && c.status != 404)
		rc = store_refused(&c, "DELETE", err);
	call_free(&c);
	return rc;
}

int s3_get(const char *key, s3_sink sink, void *ctx, struct mt_err *err)
{
	struct call c;
	int rc;

	if (call_init(&c, "GET", key, NULL, NULL, err))
		return -1;
	c.sink = sink;
	c.sink_ctx = ctx;
	rc = call_run(&c, "GET", err);
	if (c.stopped) {
		rc = 1;
	} else if (rc == 0 && c.status == 200) {
		if (!c.began) { /* an empty object: no body callback */
			c.began = 1;
			rc = sink(ctx, NULL, 0) ? 1 : 0;
		}
	} else if (rc == 0) {
		rc = store_refused(&c, "GET", err);
	} else if (c.began) {
		rc = -1; /* cut off mid-body: err says so */
	}
	call_free(&c);
	return rc;
}

/* PUT of [off, off + len) of fd whose digest is sha, with query q. */
static int put_range(const char *key, const char *q, int fd, long long off, long long len,
		     const char *sha, char *etag, size_t ecap, struct mt_err *err)
{
	struct call c;
	int rc;

	if (call_init(&c, "PUT", key, q, sha, err))
		return -1;
	c.fd = fd;
	c.foff = off;
	c.fleft = len;
	curl_easy_setopt(c.h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	rc = call_run(&c, "PUT", err);
	if (rc == 0 && c.status != 200)
		rc = store_refused(&c, "PUT", err);
	if (rc == 0 && etag)
		snprintf(etag, ecap, "%s", c.etag);
	call_free(&c);
	return rc;
}

/* A POST of body (length n) with query q; the answer's body into *out
 * (malloc'd) when out is set. */
static int post(const char *key, const char *q, const char *body, size_t n, char **out,
		struct mt_err *err)
{
	char sha[65];
	struct call c;
	int rc;

	mt_sha256_hex(sha, body, n);
	if (call_init(&c, "POST", key, q, sha, err))
		return -1;
	curl_easy_setopt(c.h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c.h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	rc = call_run(&c, "POST", err);
	/* CompleteMultipartUpload may say 200 and still fail, in its body. */
	if (rc == 0 && (c.status != 200 || (c.body && strstr(c.body, "<Error>"))))
		rc = store_refused(&c, "POST", err);
	if (rc == 0 && out) {
		*out = c.body;
		c.body = NULL;
	}
	call_free(&c);
	return rc;
}

/* The SHA-256 of [off, off + len) of fd. */
static int range_sha(int fd, long long off, long long len, char out[65], struct mt_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE], *buf = malloc(1 << 18);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int mdlen;
	int rc = 0;

	if (!buf || !ctx) {
		rc = mt_err_set(err, MT_EINTERNAL, "out of memory");
		goto done;
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while (len > 0) {
		ssize_t r = pread(fd, buf, len < (1 << 18) ? (size_t)len : (1 << 18), off);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			rc = mt_err_set(err, MT_EINTERNAL, "Cannot store the artifact");
			mt_err_detail(err, "read of the staged upload: %s", r ? strerror(errno) : "short");
			goto done;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)r);
		off += r;
		len -= r;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	mt_hex(out, md, 32);
done:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

static void abort_upload(const char *key, const char *id)
{
	char q[1200], eid[1100];
	struct mt_err ignored = MT_ERR_INIT;
	struct call c;

	enc(eid, sizeof(eid), id, 0);
	snprintf(q, sizeof(q), "uploadId=%s", eid);
	if (call_init(&c, "DELETE", key, q, NULL, &ignored) == 0)
		call_run(&c, "DELETE upload", &ignored);
	call_free(&c);
}

int s3_put_file(const char *key, int fd, long long size, const char *sha, struct mt_err *err)
{
	long long part = S3_PART, nparts;
	char *answer = NULL, id[1024], eid[1100], q[1200];
	char *done = NULL;
	size_t dlen = 0, dcap = 0;
	int rc = -1;

	if (size <= S3_PART)
		return put_range(key, NULL, fd, 0, size, sha, NULL, 0, err);
	if ((size + part - 1) / part > S3_MAX_PARTS)
		part = (size + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
	nparts = (size + part - 1) / part;
	if (post(key, "uploads=", "", 0, &answer, err))
		return -1;
	if (xml_get(answer, NULL, "UploadId", id, sizeof(id)) || !*id) {
		free(answer);
		mt_err_set(err, MT_EINTERNAL, "The artifact store refused the request");
		return mt_err_detail(err, "S3 multipart upload of %s: no UploadId in the answer", key);
	}
	free(answer);
	enc(eid, sizeof(eid), id, 0);
	dcap = 128 + (size_t)nparts * 200;
	if (!(done = malloc(dcap))) {
		mt_err_set(err, MT_EINTERNAL, "out of memory");
		goto fail;
	}
	dlen = (size_t)snprintf(done, dcap, "<CompleteMultipartUpload>");
	for (long long i = 0; i < nparts; i++) {
		long long off = i * part, len = size - off < part ? size - off : part;
		char psha[65], etag[128];

		if (range_sha(fd, off, len, psha, err))
			goto fail;
		snprintf(q, sizeof(q), "partNumber=%lld&uploadId=%s", i + 1, eid);
		if (put_range(key, q, fd, off, len, psha, etag, sizeof(etag), err))
			goto fail;
		dlen += (size_t)snprintf(done + dlen, dcap - dlen,
					 "<Part><PartNumber>%lld</PartNumber><ETag>%s</ETag></Part>",
					 i + 1, etag);
	}
	dlen += (size_t)snprintf(done + dlen, dcap - dlen, "</CompleteMultipartUpload>");
	snprintf(q, sizeof(q), "uploadId=%s", eid);
	if (post(key, q, done, dlen, NULL, err))
		goto fail;
	rc = 0;
	free(done);
	return rc;
fail:
	free(done);
	abort_upload(key, id);
	return -1;
}

/* Seconds since the epoch of an ISO 8601 UTC time ("2026-12-02T13:48:35.000Z"). */
static long long iso_time(const char *s)
{
	struct tm tm = { 0 };

	if (sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm);
}

/* GET on the bucket with query q; the XML answer in *out. */
static int bucket_get(const char *q, char **out, struct mt_err *err)
{
	struct call c;
	int rc;

	if (call_init(&c, "GET", NULL, q, NULL, err))
		return -1;
	rc = call_run(&c, "GET bucket", err);
	if (rc == 0 && c.status != 200)
		rc = store_refused(&c, "GET bucket", err);
	if (rc == 0) {
		*out = c.body ? c.body : strdup("");
		c.body = NULL;
	}
	call_free(&c);
	return rc;
}

int s3_list(const char *prefix, s3_each each, void *ctx, struct mt_err *err)
{
	char token[2048] = "", etok[6200], epre[3200], q[9600], *full = NULL;
	int rc = 0;

	if (asprintf(&full, "%s%s", s3.prefix, prefix) < 0)
		return mt_err_set(err, MT_EINTERNAL, "out of memory");
	enc(epre, sizeof(epre), full, 0);
	free(full);
	for (;;) {
		char *xml = NULL, trunc[16] = "";
		const char *at;
		char item[4096];

		enc(etok, sizeof(etok), token, 0);
		snprintf(q, sizeof(q), "%s%s%slist-type=2&max-keys=1000&prefix=%s",
			 *token ? "continuation-token=" : "", *token ? etok : "", *token ? "&" : "",
			 epre);
		if (bucket_get(q, &xml, err))
			return -1;
		at = xml;
		while (rc == 0 && xml_get(xml, &at, "Contents", item, sizeof(item)) == 0) {
			char key[1100], size[32], mod[64];

			if (xml_get(item, NULL, "Key", key, sizeof(key)) ||
			    xml_get(item, NULL, "Size", size, sizeof(size)))
				continue;
			if (xml_get(item, NULL, "LastModified", mod, sizeof(mod)))
				mod[0] = '\0';
			if (strncmp(key, s3.prefix, strlen(s3.prefix)) != 0)
				continue;
			rc = each(ctx, key + strlen(s3.prefix), atoll(size), iso_time(mod));
		}
		xml_get(xml, NULL, "IsTruncated", trunc, sizeof(trunc));
		if (rc || strcmp(trunc, "true") != 0 ||
		    xml_get(xml, NULL, "NextContinuationToken", token, sizeof(token)) || !*token) {
			free(xml);
			return rc;
		}
		free(xml);
	}
}

int s3_abort_stale_uploads(const char *prefix, long long min_start, int dry_run, long long *count,
			   struct mt_err *err)
{
	char epre[3200], q[3400], *full = NULL, *xml = NULL, item[4096];
	const char *at;

	if (asprintf(&full, "%s%s", s3.prefix, prefix) < 0)
		return mt_err_set(err, MT_EINTERNAL, "out of memory");
	enc(epre, sizeof(epre), full, 0);
	free(full);
	/* One page of up to 1000: what is left goes at the next gc. */
	snprintf(q, sizeof(q), "prefix=%s&uploads=", epre);
	if (bucket_get(q, &xml, err))
		return -1;
	at = xml;
	while (xml_get(xml, &at, "Upload", item, sizeof(item)) == 0) {
		char key[1100], id[1024], init[64];

		if (xml_get(item, NULL, "Key", key, sizeof(key)) ||
		    xml_get(item, NULL, "UploadId", id, sizeof(id)) ||
		    xml_get(item, NULL, "Initiated", init, sizeof(init)) ||
		    iso_time(init) > min_start || strncmp(key, s3.prefix, strlen(s3.prefix)) != 0)
			continue;
		if (!dry_run)
			abort_upload(key + strlen(s3.prefix), id);
		*count += 1;
	}
	free(xml);
	return 0;
}
