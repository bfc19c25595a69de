/* mt_json.c: see mt_json.h. */
#include "mt_json.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mt_validate.h"

int mt_json_depth_ok(const char *text, size_t len, int max)
{
	int depth = 0, in_str = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return 0;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return 1;
}

int mt_json_opt_str(const char **out, json_t *obj, const char *key,
		    struct mt_arena *a, struct mt_err *err)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		if (memchr(json_string_value(v), '\0', json_string_length(v)))
			return mt_err_set(err, MT_EINVAL,
					  "Invalid value for parameter '%s': NUL byte", key);
		*out = json_string_value(v);
		return 0;
	}
	(void)a;
	return mt_json_invalid(err, key, v);
}

int mt_json_req_str(const char **out, json_t *obj, const char *key,
		    struct mt_arena *a, struct mt_err *err)
{
	if (mt_json_opt_str(out, obj, key, a, err))
		return -1;
	if (!*out || !**out)
		return mt_json_missing(err, key);
	return 0;
}

int mt_json_i64(long long *out, json_t *v, const char *name, struct mt_err *err)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (d == floor(d) && d >= -9.2e18 && d <= 9.2e18) {
			*out = (long long)d;
			return 0;
		}
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		errno = 0;
		*out = strtoll(s, &end, 10);
		if (*s && !*end && errno == 0 && end - s == (long)json_string_length(v))
			return 0;
	}
	return mt_json_invalid(err, name, v);
}

int mt_json_opt_i64(long long *out, int *present, json_t *obj, const char *key,
		    struct mt_err *err)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;

	*present = 0;
	if (!v || json_is_null(v))
		return 0;
	if (mt_json_i64(out, v, key, err))
		return -1;
	*present = 1;
	return 0;
}

int mt_json_double(double *out, json_t *v, const char *name, struct mt_err *err)
{
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		if (strcmp(s, "NaN") == 0) {
			*out = NAN;
			return 0;
		}
		if (strcmp(s, "Infinity") == 0 || strcmp(s, "inf") == 0) {
			*out = INFINITY;
			return 0;
		}
		if (strcmp(s, "-Infinity") == 0 || strcmp(s, "-inf") == 0) {
			*out = -INFINITY;
			return 0;
		}
		errno = 0;
		*out = strtod(s, &end);
		if (*s && !*end && end - s == (long)json_string_length(v) &&
		    strncasecmp(s, "0x", 2) != 0 && strncasecmp(s, "-0x", 3) != 0)
			return 0;
	}
	return mt_json_invalid(err, name, v);
}

int mt_json_str_list(const char ***out, size_t *n, json_t *obj, const char *key,
		     struct mt_arena *a, struct mt_err *err)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;
	const char **list;
	size_t i;
	json_t *item;

	*out = NULL;
	*n = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v)) {
		const char *s;

		if (mt_json_opt_str(&s, obj, key, a, err))
			return -1;
		list = mt_arena_alloc(a, sizeof(*list));
		list[0] = s;
		*out = list;
		*n = 1;
		return 0;
	}
	list = mt_arena_alloc(a, sizeof(*list) * (json_array_size(v) + 1));
	json_array_foreach(v, i, item) {
		if (json_is_string(item)) {
			if (memchr(json_string_value(item), '\0', json_string_length(item)))
				return mt_err_set(err, MT_EINVAL,
						  "Invalid value for parameter '%s': NUL byte", key);
			list[i] = json_string_value(item);
		} else {
			return mt_json_invalid(err, key, v);
		}
	}
	*out = list;
	*n = json_array_size(v);
	return 0;
}

void mt_json_set_str(json_t *obj, const char *key, const char *val)
{
	if (val)
		json_object_set_new(obj, key, json_string(val));
}

void mt_json_set_i64(json_t *obj, const char *key, long long v)
{
	json_object_set_new(obj, key, json_integer(v));
}

json_t *mt_json_double_new(double v)
{
	if (isnan(v))
		return json_string("NaN");
	if (isinf(v))
		return json_string(v > 0 ? "Infinity" : "-Infinity");
	return json_real(v);
}

const char *mt_page_token_encode(struct mt_arena *a, long long offset)
{
	char raw[64];
	int n = snprintf(raw, sizeof(raw), "{\"offset\": %lld}", offset);
	char *out = mt_arena_alloc(a, 4 * ((size_t)n + 2) / 3 + 4);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)raw, n);
	return out;
}

/* The token's text, base64-decoded into raw (size bytes; a token whose text
 * and NUL would not fit is -1), NUL-terminated: its length, or -1. */
static int token_raw(char *raw, size_t size, const char *token)
{
	size_t n = token ? strlen(token) : 0;
	int len, pad = 0;

	if (n == 0 || n % 4 != 0 || n / 4 * 3 >= size)
		return -1;
	len = EVP_DecodeBlock((unsigned char *)raw, (const unsigned char *)token, (int)n);
	if (len < 0)
		return -1;
	if (token[n - 1] == '=')
		pad++;
	if (token[n - 2] == '=')
		pad++;
	len -= pad;
	raw[len] = '\0';
	return len;
}

/* The JSON of a page token whose text token_raw() decoded into raw (len
 * bytes, or -1: not base64 of a size that fits), with its "offset", a
 * non-negative integer, in *offset.  Owned by the caller (json_decref);
 * NULL with "Invalid page token" in err. */
static json_t *token_offset(long long *offset, const char *raw, int len, struct mt_err *err)
{
	json_t *j, *off;

	if (len < 0) {
		mt_err_set(err, MT_EINVAL, "Invalid page token, could not base64-decode");
		return NULL;
	}
	j = memchr(raw, '\0', (size_t)len) ? NULL : json_loadb(raw, (size_t)len, 0, NULL);
	off = j ? json_object_get(j, "offset") : NULL;
	if (!off || !json_is_integer(off) || json_integer_value(off) < 0) {
		mt_err_set(err, MT_EINVAL, "Invalid page token, decoded value=%.*s",
			   len > 64 ? 64 : len, raw);
		for (char *p = err->msg; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
		json_decref(j);
		return NULL;
	}
	*offset = json_integer_value(off);
	return j;
}

int mt_page_token_decode(long long *out, const char *token, struct mt_err *err)
{
	char raw[128];
	json_t *j = token_offset(out, raw, token_raw(raw, sizeof(raw), token), err);

	if (!j)
		return -1;
	json_decref(j);
	return 0;
}

static const char *b64(struct mt_arena *a, const char *raw, size_t n)
{
	char *out = mt_arena_alloc(a, 4 * (n + 2) / 3 + 4);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)raw, (int)n);
	return out;
}

const char *mt_runs_token_encode(struct mt_arena *a, long long offset, const char *sig,
				 const char *const *keys, size_t nkeys)
{
	json_t *j = json_object(), *k = json_array();
	const char *out = NULL;
	char *text;

	json_object_set_new(j, "offset", json_integer(offset));
	json_object_set_new(j, "s", json_string(sig));
	for (size_t i = 0; i < nkeys; i++)
		json_array_append_new(k, json_string(keys[i]));
	json_object_set_new(j, "k", k);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text && strlen(text) <= MT_RUNS_TOKEN_MAX)
		out = b64(a, text, strlen(text));
	free(text);
	return out ? out : mt_page_token_encode(a, offset);
}

int mt_runs_token_decode(struct mt_arena *a, long long *offset, const char **sig,
			 const char ***keys, size_t *nkeys, const char *token, struct mt_err *err)
{
	size_t size = (token ? strlen(token) : 0) / 4 * 3 + 1;
	char *raw = NULL;
	int len = -1;
	json_t *j, *s, *k;

	*sig = NULL;
	*keys = NULL;
	*nkeys = 0;
	/* base64 of MT_RUNS_TOKEN_MAX bytes decodes to 2 more at most, and a NUL */
	if (size <= MT_RUNS_TOKEN_MAX + 3) {
		raw = mt_arena_alloc(a, size);
		len = token_raw(raw, size, token);
	}
	if (!(j = token_offset(offset, raw, len, err)))
		return -1;
	s = json_object_get(j, "s");
	k = json_object_get(j, "k");
	if (!json_is_string(s) || !json_is_array(k))
		goto done;
	for (size_t i = 0; i < json_array_size(k); i++)
		if (!json_is_string(json_array_get(k, i)))
			goto done;
	*keys = mt_arena_alloc(a, sizeof(**keys) * (json_array_size(k) + 1));
	for (size_t i = 0; i < json_array_size(k); i++)
		(*keys)[i] = mt_arena_strdup(a, json_string_value(json_array_get(k, i)));
	*nkeys = json_array_size(k);
	*sig = mt_arena_strdup(a, json_string_value(s));
done:
	json_decref(j);
	return 0;
}

const char *mt_history_token_encode(struct mt_arena *a, const struct mt_history_cursor *c)
{
	char raw[160], val[40];
	int n;
	char *out;

	if (isnan(c->value))
		snprintf(val, sizeof(val), "\"NaN\"");
	else if (isinf(c->value))
		snprintf(val, sizeof(val), "\"%s\"", c->value > 0 ? "Infinity" : "-Infinity");
	else if (snprintf(val, sizeof(val), "%.17g", c->value) > 0 && !strpbrk(val, ".e"))
		strcat(val, ".0"); /* a real, so that -0 stays -0 */
	n = snprintf(raw, sizeof(raw), "{\"step\": %lld, \"timestamp\": %lld, \"value\": %s}",
		     c->step, c->timestamp, val);
	out = mt_arena_alloc(a, 4 * ((size_t)n + 2) / 3 + 4);
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)raw, n);
	return out;
}

int mt_history_token_decode(struct mt_history_cursor *out, const char *token, struct mt_err *err)
{
	char raw[256];
	int len = token_raw(raw, sizeof(raw), token);
	json_t *j = NULL, *step, *ts, *val;
	struct mt_err ignored = MT_ERR_INIT;
	int rc = -1;

	if (len < 0 || memchr(raw, '\0', (size_t)len))
		goto bad;
	j = json_loadb(raw, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
	step = json_object_get(j, "step");
	ts = json_object_get(j, "timestamp");
	val = json_object_get(j, "value");
	if (!json_is_object(j) || json_object_size(j) != 3 || !json_is_integer(step) ||
	    !json_is_integer(ts) || !val)
		goto bad;
	if (json_is_string(val)) {
		const char *s = json_string_value(val);

		if (strcmp(s, "NaN") != 0 && strcmp(s, "Infinity") != 0 &&
		    strcmp(s, "-Infinity") != 0)
			goto bad;
	} else if (!json_is_number(val)) {
		goto bad;
	}
	if (mt_json_double(&out->value, val, "value", &ignored) ||
	    (json_is_number(val) && !isfinite(out->value)))
		goto bad;
	out->step = json_integer_value(step);
	out->timestamp = json_integer_value(ts);
	rc = 0;
bad:
	json_decref(j);
	if (rc)
		mt_err_set(err, MT_EINVAL, "Invalid page token");
	return rc;
}

/* ---- numbers and values as MLflow (Python) writes them ---- */

/* Python's layout of the significant digits digits[0..nd) (no leading or
 * trailing zeros, nd >= 1) with the decimal point after decpt of them:
 * fixed for decpt -3 to 16, else d.ddde+XX. */
static size_t fmt_digits(char *out, int neg, const char *digits, int nd, int decpt)
{
	int n = 0;

	if (neg)
		out[n++] = '-';
	if (decpt > -4 && decpt <= 16) {
		if (decpt <= 0) {
			out[n++] = '0';
			out[n++] = '.';
			for (int i = 0; i < -decpt; i++)
				out[n++] = '0';
			memcpy(out + n, digits, (size_t)nd);
			n += nd;
		} else if (decpt >= nd) {
			memcpy(out + n, digits, (size_t)nd);
			n += nd;
			for (int i = nd; i < decpt; i++)
				out[n++] = '0';
			out[n++] = '.';
			out[n++] = '0';
		} else {
			memcpy(out + n, digits, (size_t)decpt);
			n += decpt;
			out[n++] = '.';
			memcpy(out + n, digits + decpt, (size_t)(nd - decpt));
			n += nd - decpt;
		}
	} else {
		int e = decpt - 1;

		out[n++] = digits[0];
		if (nd > 1) {
			out[n++] = '.';
			memcpy(out + n, digits + 1, (size_t)(nd - 1));
			n += nd - 1;
		}
		n += sprintf(out + n, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
	}
	out[n] = '\0';
	return (size_t)n;
}

size_t mt_json_fmt_double(char *out, double v)
{
	char sci[40], digits[24];
	int prec, nd = 0;
	const char *p;

	if (isnan(v))
		return (size_t)sprintf(out, "NaN");
	if (isinf(v))
		return (size_t)sprintf(out, "%s", v > 0 ? "Infinity" : "-Infinity");
	/* The shortest digits that read back to v.  Any decimal of at most 15
	 * significant digits survives a trip through a double (DBL_DIG), so
	 * when one reads back to v, v printed to 15 digits is that decimal
	 * with zeros after it; else the correctly rounded 16 digits read back
	 * if any 16 do (they are the nearest); 17 always do.  Subnormals hold
	 * fewer digits: every length is tried. */
	for (prec = fabs(v) < DBL_MIN ? 0 : 14; prec < 16; prec++) {
		snprintf(sci, sizeof(sci), "%.*e", prec, v);
		if (strtod(sci, NULL) == v)
			break;
	}
	if (prec == 16)
		snprintf(sci, sizeof(sci), "%.16e", v);
	/* sci is [-]d[.ddd]e(+|-)XX: split into digits and exponent. */
	p = sci;
	if (*p == '-')
		p++;
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (nd == 1 && digits[0] == '0') /* zero: its exponent is +00 */
		return fmt_digits(out, signbit(v) != 0, "0", 1, 1);
	return fmt_digits(out, signbit(v) != 0, digits, nd, atoi(p + 1) + 1);
}

size_t mt_json_fmt_pg_float8(char *out, const char *text)
{
	char digits[24];
	int nd = 0, decpt = 0, seen_point = 0, neg = 0, lead = 1;
	const char *p = text;
	long e = 0;

	if (strcmp(p, "NaN") == 0 || strcmp(p, "Infinity") == 0 || strcmp(p, "-Infinity") == 0)
		return (size_t)sprintf(out, "%s", p);
	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (!(*p >= '0' && *p <= '9') && *p != '.')
		return 0;
	for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
		if (*p == '.') {
			if (seen_point++)
				return 0;
			continue;
		}
		if (lead && *p == '0') {
			if (seen_point)
				decpt--; /* 0.00ddd */
			continue;
		}
		lead = 0;
		if (nd == 20)
			return 0; /* longer than any shortest double (17) */
		digits[nd++] = *p;
		if (!seen_point)
			decpt++;
	}
	if (*p == 'e' || *p == 'E') {
		char *end;

		e = strtol(p + 1, &end, 10);
		if (end == p + 1 || e < -400 || e > 400)
			return 0;
		p = end;
	}
	if (*p)
		return 0;
	while (nd > 0 && digits[nd - 1] == '0')
		nd--;
	if (nd == 0)
		return fmt_digits(out, neg, "0", 1, 1);
	return fmt_digits(out, neg, digits, nd, decpt + (int)e);
}

struct dbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void dput(struct dbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (b->len + n + 1 > cap)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* A JSON string, escaped as jansson escapes it by default. */
static void dput_str(struct dbuf *b, const char *s, size_t n)
{
	size_t run = 0;

	dput(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		dput(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': dput(b, "\\\"", 2); break;
		case '\\': dput(b, "\\\\", 2); break;
		case '\b': dput(b, "\\b", 2); break;
		case '\f': dput(b, "\\f", 2); break;
		case '\n': dput(b, "\\n", 2); break;
		case '\r': dput(b, "\\r", 2); break;
		case '\t': dput(b, "\\t", 2); break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			dput(b, esc, 6);
		}
	}
	dput(b, s + run, n - run);
	dput(b, "\"", 1);
}

static int dump_value(struct dbuf *b, const json_t *j, int depth)
{
	char num[MT_JSON_DOUBLE_MAX + 8];

	if (depth > MT_JSON_MAX_DEPTH)
		return -1;
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *v;
		int first = 1;

		dput(b, "{", 1);
		json_object_foreach((json_t *)j, k, v) {
			if (!first)
				dput(b, ",", 1);
			first = 0;
			dput_str(b, k, strlen(k));
			dput(b, ":", 1);
			if (dump_value(b, v, depth + 1))
				return -1;
		}
		dput(b, "}", 1);
		break;
	}
	case JSON_ARRAY:
		dput(b, "[", 1);
		for (size_t i = 0; i < json_array_size(j); i++) {
			if (i)
				dput(b, ",", 1);
			if (dump_value(b, json_array_get(j, i), depth + 1))
				return -1;
		}
		dput(b, "]", 1);
		break;
	case JSON_STRING:
		dput_str(b, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		dput(b, num, (size_t)sprintf(num, "%" JSON_INTEGER_FORMAT, json_integer_value(j)));
		break;
	case JSON_REAL:
		dput(b, num, mt_json_fmt_double(num, json_real_value(j)));
		break;
	case JSON_TRUE:
		dput(b, "true", 4);
		break;
	case JSON_FALSE:
		dput(b, "false", 5);
		break;
	case JSON_NULL:
		dput(b, "null", 4);
		break;
	}
	return 0;
}

char *mt_json_dumps(const json_t *j, size_t *len)
{
	struct dbuf b = { 0 };

	if (!j || dump_value(&b, j, 0) || b.oom) {
		free(b.p);
		return NULL;
	}
	if (len)
		*len = b.len;
	return b.p;
}

/* Appends to a fixed buffer; once full, marks the cut with "..." and
 * drops the rest. */
struct pbuf {
	char *p;
	size_t len, size;
	int full;
};

static void pput(struct pbuf *b, const char *s, size_t n)
{
	if (b->full)
		return;
	if (b->len + n + 4 > b->size) {
		size_t room = b->size > b->len + 4 ? b->size - b->len - 4 : 0;

		/* never cut a UTF-8 character */
		while (room > 0 && room < n && ((unsigned char)s[room] & 0xc0) == 0x80)
			room--;
		memcpy(b->p + b->len, s, room < n ? room : n);
		b->len += room < n ? room : n;
		memcpy(b->p + b->len, "...", 4);
		b->len += 3;
		b->full = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* A string as Python's repr() quotes it: '...' unless it holds a ' and no
 * ", escapes for the backslash, the quote and control bytes. */
static void pput_repr(struct pbuf *b, const char *s, size_t n)
{
	char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
	size_t run = 0;

	pput(b, &q, 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		if (c >= 0x20 && c != 0x7f && c != '\\' && c != (unsigned char)q)
			continue;
		pput(b, s + run, i - run);
		run = i + 1;
		if (c == '\n')
			pput(b, "\\n", 2);
		else if (c == '\r')
			pput(b, "\\r", 2);
		else if (c == '\t')
			pput(b, "\\t", 2);
		else if (c == '\\' || c == (unsigned char)q)
			pput(b, (char[]){ '\\', (char)c }, 2);
		else
			pput(b, esc, (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c));
	}
	pput(b, s + run, n - run);
	pput(b, &q, 1);
}

static void pystr(struct pbuf *b, const json_t *v, int top, int depth)
{
	char num[MT_JSON_DOUBLE_MAX + 8];
	size_t n;

	if (b->full)
		return;
	if (depth > MT_JSON_MAX_DEPTH) {
		pput(b, "...", 3);
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *x;
		int first = 1;

		pput(b, "{", 1);
		json_object_foreach((json_t *)v, k, x) {
			if (!first)
				pput(b, ", ", 2);
			first = 0;
			pput_repr(b, k, strlen(k));
			pput(b, ": ", 2);
			pystr(b, x, 0, depth + 1);
		}
		pput(b, "}", 1);
		break;
	}
	case JSON_ARRAY:
		pput(b, "[", 1);
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				pput(b, ", ", 2);
			pystr(b, json_array_get(v, i), 0, depth + 1);
		}
		pput(b, "]", 1);
		break;
	case JSON_STRING:
		if (top)
			pput(b, json_string_value(v), json_string_length(v));
		else
			pput_repr(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		pput(b, num, (size_t)sprintf(num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)));
		break;
	case JSON_REAL:
		n = mt_json_fmt_double(num, json_real_value(v));
		pput(b, num, n);
		break;
	case JSON_TRUE:
		pput(b, "True", 4);
		break;
	case JSON_FALSE:
		pput(b, "False", 5);
		break;
	case JSON_NULL:
		pput(b, "None", 4);
		break;
	}
}

const char *mt_json_pystr(char *out, size_t size, const json_t *v)
{
	struct pbuf b = { out, 0, size, 0 };

	if (size < 8) {
		if (size)
			out[0] = '\0';
		return out;
	}
	out[0] = '\0';
	pystr(&b, v, 1, 0);
	return out;
}

static const char *pytype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "dict";
	case JSON_ARRAY: return "list";
	case JSON_STRING: return "str";
	case JSON_INTEGER: return "int";
	case JSON_REAL: return "float";
	case JSON_TRUE:
	case JSON_FALSE: return "bool";
	default: return "NoneType";
	}
}

#define API_DOCS " See the API docs for more information about request parameters."

/* A parameter name for a message: at most 200 bytes, one line (mt_quote). */
#define PARAM_MAX 200

int mt_json_invalid(struct mt_err *err, const char *param, const json_t *value)
{
	char shown[512], name[PARAM_MAX + 4];

	/* The message must stay one line that is safe to show: control
	 * bytes of a bare string become '?'. */
	mt_json_pystr(shown, sizeof(shown), value);
	for (char *p = shown; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	mt_quote(name, PARAM_MAX, param, strlen(param));
	return mt_err_set(err, MT_EINVAL,
			  "Invalid value %s for parameter '%s' supplied. Hint: Value was of "
			  "type '%s'." API_DOCS, shown, name, pytype(value));
}

int mt_json_missing(struct mt_err *err, const char *param)
{
	char name[PARAM_MAX + 4];

	mt_quote(name, PARAM_MAX, param, strlen(param));
	return mt_err_set(err, MT_EINVAL, "Missing value for required parameter '%s'." API_DOCS,
			  name);
}
