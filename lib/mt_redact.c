/* mt_redact.c: see mt_redact.h. */
#include "mt_redact.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_util.h"

static char *secrets[MT_REDACT_MAX];
static size_t lens[MT_REDACT_MAX];
static atomic_size_t count;
static atomic_size_t longest;

int mt_redact_add(const char *secret)
{
	size_t n = secret ? strlen(secret) : 0, k = atomic_load_explicit(&count, memory_order_acquire);
	char *copy;

	if (n < MT_REDACT_MIN)
		return 0;
	for (size_t i = 0; i < k; i++)
		if (lens[i] == n && memcmp(secrets[i], secret, n) == 0)
			return 0;
	if (k >= MT_REDACT_MAX || !(copy = malloc(n + 1)))
		return -1;
	memcpy(copy, secret, n + 1);
	secrets[k] = copy;
	lens[k] = n;
	if (n > atomic_load(&longest))
		atomic_store(&longest, n);
	atomic_store_explicit(&count, k + 1, memory_order_release);
	return 0;
}

void mt_redact_reset(void)
{
	size_t k = atomic_load(&count);

	atomic_store(&count, 0);
	atomic_store(&longest, 0);
	for (size_t i = 0; i < k; i++) {
		free(secrets[i]);
		secrets[i] = NULL;
	}
}

int mt_redact_active(void)
{
	return atomic_load_explicit(&count, memory_order_acquire) > 0;
}

/* ---- percent-decoding and conninfo passwords ---- */

/* in[0..n) percent-decoded into out (at most n + 1 bytes); 0, or -1 when a
 * '%' is not followed by two hex digits. */
static int pct_decode(const char *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (in[i] != '%') {
			out[o++] = in[i];
			continue;
		}
		if (i + 2 >= n)
			return -1;
		if (mt_hexval(in[i + 1]) < 0 || mt_hexval(in[i + 2]) < 0)
			return -1;
		out[o++] = (char)(mt_hexval(in[i + 1]) * 16 + mt_hexval(in[i + 2]));
		i += 2;
	}
	out[o] = '\0';
	return 0;
}

/* Register in[0..n) as written and, when it decodes, percent-decoded. */
static int add_raw_and_decoded(const char *in, size_t n)
{
	char *raw = malloc(n + 1), *dec = malloc(n + 1);
	int rc = -1;

	if (raw && dec) {
		memcpy(raw, in, n);
		raw[n] = '\0';
		rc = mt_redact_add(raw);
		if (rc == 0 && pct_decode(in, n, dec) == 0)
			rc = mt_redact_add(dec);
	}
	free(raw);
	free(dec);
	return rc;
}

/* A password's place in a connection string: s[start, start + len). */
typedef int (*span_fn)(void *arg, char *s, size_t start, size_t len, int quoted);

static int conninfo_uri(char *s, span_fn fn, void *arg)
{
	char *p = strstr(s, "://"), *auth_end, *at = NULL, *colon, *q;
	int rc = 0;

	auth_end = p + 3 + strcspn(p + 3, "/?#");
	for (char *c = p + 3; c < auth_end; c++)
		if (*c == '@')
			at = c;
	if (at) {
		colon = memchr(p + 3, ':', (size_t)(at - (p + 3)));
		if (colon && colon + 1 < at)
			rc = fn(arg, s, (size_t)(colon + 1 - s), (size_t)(at - colon - 1), 0);
	}
	/* ...?host=/tmp&password=secret */
	q = strchr(auth_end, '?');
	while (rc == 0 && q && *q) {
		size_t n;

		q++;
		n = strcspn(q, "&#");
		if (n > 9 && strncmp(q, "password=", 9) == 0)
			rc = fn(arg, s, (size_t)(q + 9 - s), n - 9, 0);
		q += n;
		if (*q != '&')
			break;
	}
	return rc;
}

/* The keyword form: key = value pairs, a value quoted '...' or bare, a
 * backslash escaping the next character (libpq's rules). */
static int conninfo_keywords(char *s, span_fn fn, void *arg)
{
	char *p = s;
	int rc = 0;

	while (rc == 0 && *p) {
		char *key, *v;
		size_t klen;
		int quoted;

		while (isspace((unsigned char)*p))
			p++;
		key = p;
		while (*p && *p != '=' && !isspace((unsigned char)*p))
			p++;
		klen = (size_t)(p - key);
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '=' || !klen)
			return 0; /* not a connection string we can read: nothing more */
		p++;
		while (isspace((unsigned char)*p))
			p++;
		v = p;
		quoted = *p == '\'';
		if (quoted) {
			for (p++; *p && *p != '\''; p++)
				if (*p == '\\' && p[1])
					p++;
			if (*p == '\'')
				p++;
		} else {
			for (; *p && !isspace((unsigned char)*p); p++)
				if (*p == '\\' && p[1])
					p++;
		}
		if (klen == 8 && strncmp(key, "password", 8) == 0 && p > v)
			rc = fn(arg, s, (size_t)(v - s), (size_t)(p - v), quoted ? 1 : 2);
	}
	return rc;
}

static int each_password(char *conninfo, span_fn fn, void *arg)
{
	if (strncmp(conninfo, "postgresql://", 13) == 0 || strncmp(conninfo, "postgres://", 11) == 0)
		return conninfo_uri(conninfo, fn, arg);
	return conninfo_keywords(conninfo, fn, arg);
}

/* Register a span as written and as libpq reads it (percent-decoded in a
 * URI; unquoted and unescaped in the keyword form). */
static int register_span(void *arg, char *s, size_t start, size_t len, int kind)
{
	const char *v = s + start;
	char *val;
	size_t o = 0;
	int rc;

	(void)arg;
	if (kind == 0)
		return add_raw_and_decoded(v, len);
	if (!(val = malloc(len + 1)))
		return -1;
	for (size_t i = kind == 1 ? 1 : 0; i < len; i++) {
		if (kind == 1 && i == len - 1 && v[i] == '\'')
			break;
		if (v[i] == '\\' && i + 1 < len)
			i++;
		val[o++] = v[i];
	}
	val[o] = '\0';
	rc = mt_redact_add(val);
	if (rc == 0 && (val = realloc(val, len + 1))) {
		memcpy(val, v, len);
		val[len] = '\0';
		rc = mt_redact_add(val);
	}
	free(val);
	return rc;
}

static int hide_span(void *arg, char *s, size_t start, size_t len, int kind)
{
	(void)arg;
	/* Quotes stay, so the string still reads as one value. */
	if (kind == 1 && len >= 2) {
		start++;
		len -= s[start + len - 2] == '\'' ? 2 : 1;
	}
	memset(s + start, '*', len);
	return 0;
}

int mt_redact_add_conninfo(const char *conninfo)
{
	char *copy;
	int rc;

	if (!conninfo || !(copy = strdup(conninfo)))
		return conninfo ? -1 : 0;
	rc = each_password(copy, register_span, NULL);
	free(copy);
	return rc;
}

void mt_redact_conninfo_hide(char *conninfo)
{
	if (conninfo)
		each_password(conninfo, hide_span, NULL);
}

/* ---- masking ---- */

/* The length of the longest registered secret at in[i..n), or 0. */
static size_t secret_at(const char *in, size_t i, size_t n, size_t k)
{
	size_t best = 0;

	for (size_t s = 0; s < k; s++)
		if (lens[s] > best && lens[s] <= n - i && in[i] == secrets[s][0] &&
		    memcmp(in + i, secrets[s], lens[s]) == 0)
			best = lens[s];
	return best;
}

/* Whether in[i..n) is a proper prefix of some registered secret. */
static int prefix_of_secret(const char *in, size_t i, size_t n, size_t k)
{
	for (size_t s = 0; s < k; s++)
		if (lens[s] > n - i && memcmp(secrets[s], in + i, n - i) == 0)
			return 1;
	return 0;
}

/* Mask the registered secrets of in[0..n) into out (room for n bytes: a
 * mask is shorter than any secret).  Returns the length written; *masked
 * counts. */
static size_t mask_secrets(const char *in, size_t n, char *out, size_t *masked)
{
	size_t k = atomic_load_explicit(&count, memory_order_acquire), o = 0;

	for (size_t i = 0; i < n;) {
		size_t len = k ? secret_at(in, i, n, k) : 0;

		if (len) {
			memcpy(out + o, MT_REDACT_MASK, sizeof(MT_REDACT_MASK) - 1);
			o += sizeof(MT_REDACT_MASK) - 1;
			i += len;
			++*masked;
		} else {
			out[o++] = in[i++];
		}
	}
	return o;
}

static int scheme_char(char c)
{
	return isalnum((unsigned char)c) || c == '+' || c == '-' || c == '.';
}

/* Characters that end a URL's authority in running text. */
static int authority_end(char c)
{
	return !c || strchr("/?#\"'<>`()[]{}|\\^", c) || isspace((unsigned char)c);
}

/* Mask URL passwords of s (NUL-terminated) into a new string of room for
 * its growth (a short password becomes the longer mask). */
static char *mask_urls(const char *s, size_t *masked)
{
	size_t n = strlen(s), cap = n + 1, o = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		const char *p = strstr(s + i, "://");
		size_t a, e, at = 0, colon = 0;
		int has_at = 0;

		if (!p) {
			memcpy(out + o, s + i, n - i);
			o += n - i;
			break;
		}
		a = (size_t)(p - s) + 3;
		for (e = a; !authority_end(s[e]); e++)
			if (s[e] == '@') {
				at = e;
				has_at = 1;
			}
		if (has_at && p > s && scheme_char(p[-1])) {
			for (colon = a; colon < at && s[colon] != ':'; colon++)
				;
		}
		if (has_at && p > s && scheme_char(p[-1]) && colon + 1 < at &&
		    !(at - colon - 1 == sizeof(MT_REDACT_MASK) - 1 &&
		      memcmp(s + colon + 1, MT_REDACT_MASK, at - colon - 1) == 0)) {
			/* ...//user: then the mask, then @host... */
			size_t keep = colon + 1 - i, need = o + keep + 3 + (e - at) + (n - e) + 1;

			if (need > cap) {
				char *t = realloc(out, need);

				if (!t) {
					free(out);
					return NULL;
				}
				out = t;
				cap = need;
			}
			memcpy(out + o, s + i, keep);
			o += keep;
			memcpy(out + o, MT_REDACT_MASK, 3);
			o += 3;
			i = at;
			++*masked;
		} else {
			memcpy(out + o, s + i, e - i);
			o += e - i;
			i = e;
		}
	}
	out[o] = '\0';
	return out;
}

/* The redacted copy of in (malloc'd); NULL out of memory. */
static char *redact(const char *in, size_t *masked)
{
	size_t n = strlen(in);
	char *tmp = malloc(n + 1), *out;

	*masked = 0;
	if (!tmp)
		return NULL;
	tmp[mask_secrets(in, n, tmp, masked)] = '\0';
	out = mask_urls(tmp, masked);
	free(tmp);
	return out;
}

int mt_redact_needed(const char *in)
{
	size_t masked = 0;
	char *r;

	if (!in || (!mt_redact_active() && !strstr(in, "://")))
		return 0;
	r = redact(in, &masked);
	free(r);
	return masked > 0 || !r;
}

size_t mt_redact_copy(char *out, size_t n, const char *in)
{
	size_t masked = 0, len;
	char *r;

	if (!n)
		return 0;
	if (!in)
		in = "";
	if (!mt_redact_active() && !strstr(in, "://")) {
		len = strlen(in);
		if (len >= n)
			len = n - 1;
		memmove(out, in, len);
		out[len] = '\0';
		return 0;
	}
	if (!(r = redact(in, &masked))) {
		snprintf(out, n, "%s", "(text withheld: out of memory while masking secrets)");
		return 1;
	}
	len = strlen(r);
	if (len >= n)
		len = n - 1;
	memcpy(out, r, len);
	out[len] = '\0';
	free(r);
	return masked;
}

char *mt_redact_dup(const char *in)
{
	size_t masked;

	return redact(in ? in : "", &masked);
}

size_t mt_redact_inplace(char *s, size_t cap)
{
	return mt_redact_copy(s, cap, s);
}

/* ---- URLs ---- */

int mt_url_userinfo(const char *url, char *bare, size_t bn, char *user, size_t un,
		    char *password, size_t pn)
{
	const char *p = strstr(url, "://"), *a, *e, *at = NULL, *colon;
	size_t head, ulen, plen;

	if (user && un)
		user[0] = '\0';
	if (password && pn)
		password[0] = '\0';
	if (bn)
		bare[0] = '\0';
	for (const char *c = url; p && c < p; c++)
		if (!scheme_char(*c))
			p = NULL;
	if (!p || p == url) {
		if (strlen(url) >= bn)
			return -1;
		memcpy(bare, url, strlen(url) + 1);
		return 0;
	}
	a = p + 3;
	e = a + strcspn(a, "/?#");
	for (const char *c = a; c < e; c++)
		if (*c == '@')
			at = c;
	if (!at) {
		if (strlen(url) >= bn)
			return -1;
		memcpy(bare, url, strlen(url) + 1);
		return 0;
	}
	head = (size_t)(a - url);
	if (head + strlen(at + 1) >= bn)
		return -1;
	memcpy(bare, url, head);
	memcpy(bare + head, at + 1, strlen(at + 1) + 1);
	colon = memchr(a, ':', (size_t)(at - a));
	ulen = (size_t)((colon ? colon : at) - a);
	plen = colon ? (size_t)(at - colon - 1) : 0;
	if ((user && ulen >= un) || (password && plen >= pn))
		return -1;
	if (user && pct_decode(a, ulen, user))
		memcpy(user, a, ulen), user[ulen] = '\0';
	if (password && colon && pct_decode(colon + 1, plen, password))
		memcpy(password, colon + 1, plen), password[plen] = '\0';
	return 1;
}

/* ---- streams ---- */

int mt_redact_stream_write(struct mt_redact_stream *s, const char *buf, size_t n,
			   int (*out)(void *arg, const char *p, size_t n), void *arg)
{
	size_t k = atomic_load_explicit(&count, memory_order_acquire), total, longest_now, i, o = 0;
	char *in, *res;
	int rc;

	if (!k && !s->n_held)
		return n ? out(arg, buf, n) : 0;
	total = s->n_held + n;
	if (!(in = malloc(total ? total : 1)) || !(res = malloc(total ? total : 1))) {
		free(in);
		return -1;
	}
	if (s->n_held)
		memcpy(in, s->held, s->n_held);
	memcpy(in + s->n_held, buf, n);
	longest_now = atomic_load(&longest);
	for (i = 0; i < total;) {
		size_t len = secret_at(in, i, total, k);

		if (len) {
			memcpy(res + o, MT_REDACT_MASK, sizeof(MT_REDACT_MASK) - 1);
			o += sizeof(MT_REDACT_MASK) - 1;
			i += len;
			continue;
		}
		/* What is left might be the start of a secret: hold it. */
		if (total - i < longest_now && prefix_of_secret(in, i, total, k))
			break;
		res[o++] = in[i++];
	}
	free(s->held);
	s->held = NULL;
	s->n_held = total - i;
	if (s->n_held) {
		if (!(s->held = malloc(s->n_held))) {
			s->n_held = 0;
			free(in);
			free(res);
			return -1;
		}
		memcpy(s->held, in + i, s->n_held);
	}
	rc = o ? out(arg, res, o) : 0;
	free(in);
	free(res);
	return rc;
}

int mt_redact_stream_finish(struct mt_redact_stream *s,
			    int (*out)(void *arg, const char *p, size_t n), void *arg)
{
	int rc = s->n_held ? out(arg, s->held, s->n_held) : 0;

	free(s->held);
	s->held = NULL;
	s->n_held = 0;
	return rc;
}
