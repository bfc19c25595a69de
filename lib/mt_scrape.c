/* mt_scrape.c: see mt_scrape.h. */
#include "mt_scrape.h"

#include <assert.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mt_limits.h"
#include "mt_validate.h"

/* One stream's partial line.  buf holds at most MT_SCRAPE_LINE_MAX bytes plus
 * room for a NUL; dropping says the current line already overflowed. */
struct scrape_stream {
	char *buf;
	size_t len, cap;
	int dropping;
	int after_cr; /* the last byte seen was '\r': a following '\n' is its pair */
};

struct scrape_pattern {
	regex_t re;
	char *name; /* form 2: the fixed name, owned; form 1: NULL */
};

/* A candidate metric of the current line: spans into the line (or into a
 * pattern's name), valid while the line is being scraped. */
struct scrape_hit {
	const char *name;
	size_t name_len;
	const char *val;
	size_t val_len;
	double value;
};

struct scrape_key {
	char *key;                /* owned; NULL for an empty slot */
	long long next;           /* per-key counter: the next step */
	unsigned long long line;  /* serial of the last line that emitted it */
};

struct mt_scraper {
	int builtin;
	struct scrape_stream st[2];
	struct scrape_pattern *pats;
	size_t npats, cappats;
	struct scrape_hit *hits;
	size_t nhits, caphits;
	struct scrape_key *keys; /* open addressing, cap a power of two */
	size_t nkeys, capkeys;
	unsigned long long serial;
	int have_step;
	long long step;
	locale_t c_locale;
};

/* ---- characters, names, numbers ---- */

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_name_start(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_name_char(int c)
{
	return is_name_start(c) || is_digit(c) || c == '.' || c == '/' || c == '-';
}

/* The character-class part of NAME (mt_validate_key does the rest). */
static int name_chars_ok(const char *s, size_t n)
{
	if (n == 0 || n > MT_MAX_KEY_LEN || !is_name_start((unsigned char)s[0]))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!is_name_char((unsigned char)s[i]))
			return 0;
	return 1;
}

/* A full NAME check of a NUL-terminated string. */
static int name_ok(const char *s)
{
	struct mt_err err = MT_ERR_INIT;

	return name_chars_ok(s, strlen(s)) && mt_validate_key("metric", s, &err) == 0;
}

static int word_ci(const char *s, size_t n, const char *w)
{
	size_t wn = strlen(w);

	if (n != wn)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != w[i])
			return 0;
	}
	return 1;
}

/* Whether s[0..n) is a whole NUMBER; its value in *out. */
static int number_parse(struct mt_scraper *sc, const char *s, size_t n, double *out)
{
	size_t i = 0, d1 = 0, d2 = 0;
	int neg = 0;
	char small[128], *tmp, *end;
	double v;

	if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (word_ci(s + i, n - i, "nan")) {
		*out = NAN; /* MLflow has no signed NaN */
		return 1;
	}
	if (word_ci(s + i, n - i, "inf") || word_ci(s + i, n - i, "infinity")) {
		*out = neg ? -INFINITY : INFINITY;
		return 1;
	}
	while (i < n && is_digit((unsigned char)s[i]))
		i++, d1++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && is_digit((unsigned char)s[i]))
			i++, d2++;
	}
	if (d1 + d2 == 0)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t d3 = 0;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < n && is_digit((unsigned char)s[i]))
			i++, d3++;
		if (d3 == 0)
			return 0;
	}
	if (i != n)
		return 0;
	/* strtod needs a terminated copy; overflow to +-inf and underflow are
	 * what we want, so errno is not looked at. */
	tmp = n < sizeof(small) ? small : malloc(n + 1);
	if (!tmp)
		return 0;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	v = strtod_l(tmp, &end, sc->c_locale);
	i = (size_t)(end - tmp);
	if (tmp != small)
		free(tmp);
	if (i != n)
		return 0;
	*out = v;
	return 1;
}

/* A step: digits only, 0..LLONG_MAX. */
static int step_parse(const char *s, size_t n, long long *out)
{
	unsigned long long v = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return 0;
		if (v > ((unsigned long long)LLONG_MAX - (unsigned)(s[i] - '0')) / 10)
			return 0;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = (long long)v;
	return 1;
}

/* ---- keys: name -> counter, at most MT_SCRAPE_MAX_KEYS ---- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static struct scrape_key *key_slot(struct scrape_key *tab, size_t cap, const char *key)
{
	size_t i = (size_t)hash_str(key) & (cap - 1);

	while (tab[i].key && strcmp(tab[i].key, key) != 0)
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

static int keys_grow(struct mt_scraper *s)
{
	size_t ncap = s->capkeys ? s->capkeys * 2 : 64;
	struct scrape_key *tab = calloc(ncap, sizeof(*tab));

	if (!tab)
		return -1;
	for (size_t i = 0; i < s->capkeys; i++)
		if (s->keys[i].key)
			*key_slot(tab, ncap, s->keys[i].key) = s->keys[i];
	free(s->keys);
	s->keys = tab;
	s->capkeys = ncap;
	return 0;
}

/* The entry for key (NUL-terminated), added when new; NULL when the key is
 * not a NAME, the table is full or memory ran out. */
static struct scrape_key *key_get(struct mt_scraper *s, const char *key)
{
	struct scrape_key *e;

	if (s->capkeys) {
		e = key_slot(s->keys, s->capkeys, key);
		if (e->key)
			return e;
	}
	if (s->nkeys >= MT_SCRAPE_MAX_KEYS || !name_ok(key))
		return NULL;
	if ((s->nkeys + 1) * 2 > s->capkeys && keys_grow(s))
		return NULL;
	e = key_slot(s->keys, s->capkeys, key);
	e->key = strdup(key);
	if (!e->key)
		return NULL;
	e->next = 0;
	e->line = 0;
	s->nkeys++;
	return e;
}

/* ---- one line ---- */

static void trim(const char **p, size_t *n)
{
	while (*n && is_space((unsigned char)(*p)[0]))
		(*p)++, (*n)--;
	while (*n && is_space((unsigned char)(*p)[*n - 1]))
		(*n)--;
}

static void hit_add(struct mt_scraper *s, const char *name, size_t name_len,
		    const char *val, size_t val_len)
{
	struct scrape_hit *h;
	double v;

	trim(&name, &name_len);
	trim(&val, &val_len);
	if (!name_chars_ok(name, name_len) || !number_parse(s, val, val_len, &v))
		return;
	if (s->nhits == s->caphits) {
		size_t ncap = s->caphits ? s->caphits * 2 : 16;
		struct scrape_hit *nh = realloc(s->hits, ncap * sizeof(*nh));

		if (!nh)
			return;
		s->hits = nh;
		s->caphits = ncap;
	}
	h = &s->hits[s->nhits++];
	h->name = name;
	h->name_len = name_len;
	h->val = val;
	h->val_len = val_len;
	h->value = v;
}

/* Remove ANSI escape sequences in place; the new length. */
static size_t strip_ansi(char *p, size_t n)
{
	size_t i = 0, o = 0;

	while (i < n) {
		unsigned char c = (unsigned char)p[i];

		if (c != 0x1b) {
			p[o++] = p[i++];
			continue;
		}
		i++;
		if (i < n && p[i] == '[') {
			/* CSI: parameter and intermediate bytes, then a final byte. */
			i++;
			while (i < n && (unsigned char)p[i] >= 0x20 && (unsigned char)p[i] <= 0x3f)
				i++;
			if (i < n && (unsigned char)p[i] >= 0x40 && (unsigned char)p[i] <= 0x7e)
				i++;
		} else if (i < n && p[i] == ']') {
			/* OSC: up to BEL or ESC '\'. */
			i++;
			while (i < n && p[i] != '\a' && p[i] != 0x1b)
				i++;
			if (i < n && p[i] == '\a')
				i++;
			else if (i + 1 < n && p[i + 1] == '\\')
				i += 2;
		} else {
			/* nF / Fp / Fe / Fs: intermediates, then one final byte. */
			while (i < n && (unsigned char)p[i] >= 0x20 && (unsigned char)p[i] <= 0x2f)
				i++;
			if (i < n && (unsigned char)p[i] >= 0x30 && (unsigned char)p[i] <= 0x7e)
				i++;
		}
	}
	return o;
}

static void builtin_match(struct mt_scraper *s, const char *l, size_t n)
{
	size_t i = 0, name_len;

	if (n == 0 || !is_name_start((unsigned char)l[0]))
		return;
	while (i < n && is_name_char((unsigned char)l[i]))
		i++;
	name_len = i;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	if (i == n || (l[i] != ':' && l[i] != '='))
		return;
	i++;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	hit_add(s, l, name_len, l + i, n - i);
}

static void custom_match(struct mt_scraper *s, const struct scrape_pattern *pat, const char *line)
{
	const char *p = line;
	int flags = 0;

	while (*p) {
		regmatch_t m[3];
		const regmatch_t *v = pat->name ? &m[1] : &m[2];

		if (regexec(&pat->re, p, 3, m, flags) != 0)
			break;
		if (v->rm_so >= 0 && v->rm_eo >= v->rm_so) {
			if (pat->name)
				hit_add(s, pat->name, strlen(pat->name), p + v->rm_so,
					(size_t)(v->rm_eo - v->rm_so));
			else if (m[1].rm_so >= 0 && m[1].rm_eo >= m[1].rm_so)
				hit_add(s, p + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so),
					p + v->rm_so, (size_t)(v->rm_eo - v->rm_so));
		}
		if (m[0].rm_eo <= m[0].rm_so) {
			/* Empty: the leftmost-longest match here is empty, so no
			 * other starts at this byte. */
			if (p[m[0].rm_so] == '\0')
				break;
			p += m[0].rm_so + 1;
		} else {
			p += m[0].rm_eo;
		}
		flags = REG_NOTBOL;
	}
}

static void emit_hits(struct mt_scraper *s, mt_scrape_emit emit, void *arg)
{
	char key[MT_MAX_KEY_LEN + 1];

	for (size_t i = 0; i < s->nhits; i++) {
		const struct scrape_hit *h = &s->hits[i];
		long long st;

		if (h->name_len == 4 && memcmp(h->name, "step", 4) == 0 &&
		    step_parse(h->val, h->val_len, &st)) {
			s->have_step = 1;
			s->step = st;
		}
	}
	s->serial++;
	for (size_t i = 0; i < s->nhits; i++) {
		const struct scrape_hit *h = &s->hits[i];
		struct scrape_key *e;
		long long st;

		if (h->name_len == 4 && memcmp(h->name, "step", 4) == 0)
			continue;
		memcpy(key, h->name, h->name_len); /* name_chars_ok: <= MT_MAX_KEY_LEN */
		key[h->name_len] = '\0';
		e = key_get(s, key);
		if (!e || e->line == s->serial)
			continue;
		e->line = s->serial;
		if (s->have_step) {
			st = s->step;
		} else {
			st = e->next;
			if (e->next < LLONG_MAX)
				e->next++;
		}
		if (emit)
			emit(arg, e->key, h->value, st);
	}
	s->nhits = 0;
}

/* line[0..n) with room for a NUL at line[n]; modified in place. */
static void scrape_line(struct mt_scraper *s, char *line, size_t n, mt_scrape_emit emit, void *arg)
{
	const char *l = line;

	if (memchr(line, '\0', n))
		return;
	n = strip_ansi(line, n);
	trim(&l, &n);
	if (n == 0)
		return;
	((char *)l)[n] = '\0';
	s->nhits = 0;
	if (s->builtin)
		builtin_match(s, l, n);
	for (size_t i = 0; i < s->npats; i++)
		custom_match(s, &s->pats[i], l);
	if (s->nhits)
		emit_hits(s, emit, arg);
}

/* ---- streams ---- */

static void stream_append(struct scrape_stream *st, const char *p, size_t n)
{
	if (st->dropping || n == 0)
		return;
	if (n > MT_SCRAPE_LINE_MAX - st->len) {
		st->dropping = 1;
		st->len = 0;
		return;
	}
	if (st->len + n + 1 > st->cap) {
		size_t ncap = st->cap ? st->cap : 256;
		char *nb;

		while (ncap < st->len + n + 1)
			ncap *= 2;
		if (ncap > MT_SCRAPE_LINE_MAX + 1)
			ncap = MT_SCRAPE_LINE_MAX + 1;
		nb = realloc(st->buf, ncap);
		if (!nb) {
			st->dropping = 1;
			st->len = 0;
			return;
		}
		st->buf = nb;
		st->cap = ncap;
	}
	memcpy(st->buf + st->len, p, n);
	st->len += n;
}

static void stream_end_line(struct mt_scraper *s, struct scrape_stream *st,
			    mt_scrape_emit emit, void *arg)
{
	if (!st->dropping && st->len > 0)
		scrape_line(s, st->buf, st->len, emit, arg);
	st->dropping = 0;
	st->len = 0;
}

void mt_scraper_feed(struct mt_scraper *s, int stream, const char *buf, size_t n,
		     mt_scrape_emit emit, void *arg)
{
	struct scrape_stream *st;

	assert(stream == MT_SCRAPE_STDOUT || stream == MT_SCRAPE_STDERR);
	if (!s || (stream != MT_SCRAPE_STDOUT && stream != MT_SCRAPE_STDERR))
		return;
	st = &s->st[stream];
	while (n > 0) {
		size_t k = 0;

		if (st->after_cr) {
			st->after_cr = 0;
			if (buf[0] == '\n') {
				buf++, n--;
				continue;
			}
		}
		while (k < n && buf[k] != '\n' && buf[k] != '\r')
			k++;
		stream_append(st, buf, k);
		if (k == n)
			break;
		stream_end_line(s, st, emit, arg);
		st->after_cr = buf[k] == '\r';
		buf += k + 1;
		n -= k + 1;
	}
}

void mt_scraper_flush(struct mt_scraper *s, mt_scrape_emit emit, void *arg)
{
	if (!s)
		return;
	for (int i = 0; i < 2; i++) {
		stream_end_line(s, &s->st[i], emit, arg);
		s->st[i].after_cr = 0;
	}
}

/* ---- lifecycle and patterns ---- */

struct mt_scraper *mt_scraper_new(int builtin)
{
	struct mt_scraper *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->builtin = builtin != 0;
	s->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (s->c_locale == (locale_t)0) {
		free(s);
		return NULL;
	}
	return s;
}

void mt_scraper_free(struct mt_scraper *s)
{
	if (!s)
		return;
	for (int i = 0; i < 2; i++)
		free(s->st[i].buf);
	for (size_t i = 0; i < s->npats; i++) {
		regfree(&s->pats[i].re);
		free(s->pats[i].name);
	}
	free(s->pats);
	free(s->hits);
	for (size_t i = 0; i < s->capkeys; i++)
		free(s->keys[i].key);
	free(s->keys);
	freelocale(s->c_locale);
	free(s);
}

/* The spec for a message: at most 60 bytes, one line, valid UTF-8. */
static void spec_quote(char *out, size_t size, const char *spec)
{
	size_t n = strlen(spec), k = n > 60 ? 60 : n, o = 0;
	int utf8 = mt_utf8_valid(spec, n);

	if (k < n)
		while (k > 0 && ((unsigned char)spec[k] & 0xc0) == 0x80)
			k--;
	for (size_t i = 0; i < k && o + 4 < size; i++) {
		unsigned char c = (unsigned char)spec[i];

		out[o++] = (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) ? '?' : (char)c;
	}
	if (k < n && o + 4 < size) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static int pattern_push(struct mt_scraper *s, const regex_t *re, char *name, struct mt_err *err)
{
	if (s->npats == s->cappats) {
		size_t ncap = s->cappats ? s->cappats * 2 : 4;
		struct scrape_pattern *np = realloc(s->pats, ncap * sizeof(*np));

		if (!np)
			return mt_err_set(err, MT_EINTERNAL, "out of memory");
		s->pats = np;
		s->cappats = ncap;
	}
	s->pats[s->npats].re = *re;
	s->pats[s->npats].name = name;
	s->npats++;
	return 0;
}

int mt_scraper_add(struct mt_scraper *s, const char *spec, struct mt_err *err)
{
	char q[80];
	const char *eq = strchr(spec, '=');
	regex_t re;
	int rc;

	/* Form 2: NAME=ERE with one group. */
	if (eq && eq > spec) {
		char *name = strndup(spec, (size_t)(eq - spec));

		if (!name)
			return mt_err_set(err, MT_EINTERNAL, "out of memory");
		if (name_ok(name) && regcomp(&re, eq + 1, REG_EXTENDED) == 0) {
			if (re.re_nsub == 1) {
				if (pattern_push(s, &re, name, err) == 0)
					return 0;
				regfree(&re);
				free(name);
				return -1;
			}
			regfree(&re);
		}
		free(name);
	}
	/* Form 1: the whole spec, two groups. */
	spec_quote(q, sizeof(q), spec);
	rc = regcomp(&re, spec, REG_EXTENDED);
	if (rc != 0) {
		char msg[256];

		regerror(rc, &re, msg, sizeof(msg));
		if (rc == REG_ESPACE)
			return mt_err_set(err, MT_EINTERNAL, "--scrape '%s': %s", q, msg);
		return mt_err_set(err, MT_EINVAL, "--scrape '%s': %s", q, msg);
	}
	if (re.re_nsub != 2) {
		regfree(&re);
		return mt_err_set(err, MT_EINVAL,
				  "--scrape '%s': needs two groups (name, value) or NAME=REGEX "
				  "with one group", q);
	}
	if (pattern_push(s, &re, NULL, err)) {
		regfree(&re);
		return -1;
	}
	return 0;
}
