/*
 * mt_profile.c: reference profiles, live windows, drift (mt_profile.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_json.h"
#include "mt_profile.h"

/* ---- building a reference profile ---- */

struct col {
	char *name;
	int numeric;       /* every non-missing value so far is a number */
	long long missing;
	long long count;
	double *vals;
	size_t nvals, capvals;
	json_t *cats;      /* value -> count (integers) */
	long long overflow; /* values past MT_PROFILE_MAX_DISTINCT */
};

struct builder {
	struct col *cols;
	size_t ncols;
	long long rows;
};

static void builder_free(struct builder *b)
{
	for (size_t i = 0; i < b->ncols; i++) {
		free(b->cols[i].name);
		free(b->cols[i].vals);
		json_decref(b->cols[i].cats);
	}
	free(b->cols);
}

static int is_missing_text(const char *s, size_t n)
{
	return n == 0 || (n == 2 && memcmp(s, "NA", 2) == 0) ||
	       (n == 4 && memcmp(s, "null", 4) == 0);
}

static int col_add(struct builder *b, const char *name, size_t n, struct mt_err *err)
{
	struct col *c;

	if (n == 0 || n > MT_PROFILE_MAX_NAME || memchr(name, '\0', n))
		return mt_err_set(err, MT_EINVAL, "column %zu: a column name must be 1 to %d bytes "
				  "without NUL", b->ncols + 1, MT_PROFILE_MAX_NAME);
	if (b->ncols >= MT_PROFILE_MAX_COLUMNS)
		return mt_err_set(err, MT_EINVAL, "more than %d columns", MT_PROFILE_MAX_COLUMNS);
	{
		json_t *t = json_stringn(name, n);

		if (!t)
			return mt_err_set(err, MT_EINVAL, "column %zu: the name is not valid UTF-8",
					  b->ncols + 1);
		json_decref(t);
	}
	for (size_t i = 0; i < b->ncols; i++)
		if (strlen(b->cols[i].name) == n && memcmp(b->cols[i].name, name, n) == 0)
			return mt_err_set(err, MT_EINVAL, "column '%.*s' appears twice", (int)n,
					  name);
	c = realloc(b->cols, (b->ncols + 1) * sizeof(*c));
	if (!c)
		return mt_err_set(err, MT_EINTERNAL, "out of memory");
	b->cols = c;
	c = &b->cols[b->ncols];
	memset(c, 0, sizeof(*c));
	c->numeric = 1;
	c->name = strndup(name, n);
	c->cats = json_object();
	b->ncols++;
	if (!c->name || !c->cats)
		return mt_err_set(err, MT_EINTERNAL, "out of memory");
	return 0;
}

static int cat_count(json_t *cats, long long *overflow, const char *key)
{
	json_t *v = json_object_get(cats, key);

	if (v)
		return json_integer_set(v, json_integer_value(v) + 1);
	if (json_object_size(cats) >= MT_PROFILE_MAX_DISTINCT) {
		(*overflow)++;
		return 0;
	}
	return json_object_set_new(cats, key, json_integer(1));
}

/* One value: text (n bytes, NUL-terminated at n) and, when the source says
 * it is a number, num/is_num; CSV passes is_num = -1 (decide from text). */
static int col_value(struct col *c, const char *text, size_t n, int is_num, double num,
		     long long line, struct mt_err *err)
{
	if (is_num < 0) {
		char *end;

		is_num = 0;
		if (n > 0 && !strchr(" \t\n\r\f\v", text[0])) {
			num = strtod(text, &end);
			is_num = end == text + n && isfinite(num);
		}
	}
	if (n > MT_PROFILE_MAX_VALUE)
		return mt_err_set(err, MT_EINVAL, "line %lld: column '%s': a value longer than "
				  "%d bytes", line, c->name, MT_PROFILE_MAX_VALUE);
	if (memchr(text, '\0', n))
		return mt_err_set(err, MT_EINVAL, "line %lld: column '%s': a value holds NUL",
				  line, c->name);
	c->count++;
	if (c->numeric && !is_num)
		c->numeric = 0;
	if (c->numeric) {
		if (c->nvals == c->capvals) {
			size_t cap = c->capvals ? c->capvals * 2 : 256;
			double *v = realloc(c->vals, cap * sizeof(double));

			if (!v)
				return mt_err_set(err, MT_EINTERNAL, "out of memory");
			c->vals = v;
			c->capvals = cap;
		}
		c->vals[c->nvals++] = num;
	}
	if (json_object_size(c->cats) < MT_PROFILE_MAX_DISTINCT ||
	    json_object_get(c->cats, text)) {
		if (cat_count(c->cats, &c->overflow, text))
			return mt_err_set(err, MT_EINVAL, "line %lld: column '%s': a value that is "
					  "not valid UTF-8", line, c->name);
	} else {
		c->overflow++;
	}
	return 0;
}

static int dcmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/* numpy.quantile(x, i / MT_PROFILE_BINS) with its default "linear"
 * method (sorted x, n > 0).  The position (n - 1) * i / BINS is split into
 * its integer part and fraction exactly, in integers: numpy multiplies by
 * the rounded double i / BINS, so its result can differ in the last bits
 * (and land a hair below a data value that is an edge here). */
static double quantile(const double *x, size_t n, int i)
{
	unsigned long long pos = (unsigned long long)(n - 1) * (unsigned long long)i;
	size_t lo = (size_t)(pos / MT_PROFILE_BINS);
	double t = (double)(pos % MT_PROFILE_BINS) / MT_PROFILE_BINS, a, b, d;

	if (lo + 1 >= n || t == 0)
		return x[lo];
	a = x[lo];
	b = x[lo + 1];
	d = b - a;
	/* numpy's _lerp: from the nearer end, so the result stays in [a, b]. */
	return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

static size_t bin_of(const double *edges, size_t nedges, double v)
{
	size_t lo = 0, hi = nedges;

	while (lo < hi) { /* the first edge >= v */
		size_t mid = (lo + hi) / 2;

		if (edges[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct catn {
	const char *key;
	long long n;
};

static int catn_cmp(const void *x, const void *y)
{
	const struct catn *a = x, *b = y;

	if (a->n != b->n)
		return a->n > b->n ? -1 : 1;
	return strcmp(a->key, b->key);
}

static json_t *col_profile(struct col *c, const char *role)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "role", role, "type",
			      c->numeric && c->count ? "number" : "category", "count",
			      (json_int_t)c->count, "missing", (json_int_t)c->missing);

	if (!o)
		return NULL;
	if (c->numeric && c->count) {
		double *x = c->vals, mean = 0, ss = 0, edges[MT_PROFILE_BINS];
		size_t n = c->nvals, ne = 0;
		json_t *je = json_array(), *jb = json_array();
		long long counts[MT_PROFILE_BINS] = { 0 };

		qsort(x, n, sizeof(double), dcmp);
		for (size_t i = 0; i < n; i++)
			mean += x[i];
		mean /= (double)n;
		for (size_t i = 0; i < n; i++)
			ss += (x[i] - mean) * (x[i] - mean);
		for (int i = 1; i < MT_PROFILE_BINS; i++) {
			double q = quantile(x, n, i);

			if (ne == 0 || q > edges[ne - 1])
				edges[ne++] = q;
		}
		for (size_t i = 0; i < n; i++)
			counts[bin_of(edges, ne, x[i])]++;
		for (size_t i = 0; i < ne; i++)
			json_array_append_new(je, json_real(edges[i]));
		for (size_t i = 0; i <= ne; i++)
			json_array_append_new(jb, json_integer(counts[i]));
		json_object_set_new(o, "min", json_real(x[0]));
		json_object_set_new(o, "max", json_real(x[n - 1]));
		json_object_set_new(o, "mean", json_real(mean));
		json_object_set_new(o, "std", json_real(sqrt(ss / (double)n)));
		json_object_set_new(o, "edges", je);
		json_object_set_new(o, "bins", jb);
	} else {
		size_t n = json_object_size(c->cats), i = 0;
		struct catn *v = calloc(n ? n : 1, sizeof(*v));
		const char *k;
		json_t *x, *top = json_object();
		long long other = c->overflow;

		if (!v || !top) {
			free(v);
			json_decref(top);
			json_decref(o);
			return NULL;
		}
		json_object_foreach(c->cats, k, x) {
			v[i].key = k;
			v[i++].n = json_integer_value(x);
		}
		qsort(v, n, sizeof(*v), catn_cmp);
		for (i = 0; i < n; i++) {
			if (i < MT_PROFILE_TOPK)
				json_object_set_new(top, v[i].key, json_integer(v[i].n));
			else
				other += v[i].n;
		}
		free(v);
		json_object_set_new(o, "top", top);
		json_object_set_new(o, "other", json_integer(other));
	}
	return o;
}

static int builder_finish(json_t **out, struct builder *b, const char *target,
			  const char *prediction, struct mt_err *err)
{
	json_t *cols = json_object(), *p;
	int found_t = 0, found_p = 0;

	if (target && prediction && strcmp(target, prediction) == 0)
		return json_decref(cols), mt_err_set(err, MT_EINVAL, "the target and the "
						     "prediction must be different columns");
	for (size_t i = 0; i < b->ncols; i++) {
		const char *role = "feature";
		json_t *c;

		if (target && strcmp(b->cols[i].name, target) == 0)
			role = "target", found_t = 1;
		if (prediction && strcmp(b->cols[i].name, prediction) == 0)
			role = "prediction", found_p = 1;
		c = col_profile(&b->cols[i], role);
		if (!c || json_object_set_new(cols, b->cols[i].name, c)) {
			json_decref(cols);
			return mt_err_set(err, MT_EINTERNAL, "out of memory");
		}
	}
	if ((target && !found_t) || (prediction && !found_p)) {
		json_decref(cols);
		return mt_err_set(err, MT_EINVAL, "no column '%s' in the data",
				  target && !found_t ? target : prediction);
	}
	if (b->rows == 0 || b->ncols == 0) {
		json_decref(cols);
		return mt_err_set(err, MT_EINVAL, "the data has no %s", b->rows ? "columns" : "rows");
	}
	p = json_pack("{s:s, s:I, s:o}", "format", MT_PROFILE_FORMAT, "rows",
		      (json_int_t)b->rows, "columns", cols);
	if (!p)
		return mt_err_set(err, MT_EINTERNAL, "out of memory");
	*out = p;
	return 0;
}

/* One CSV field from *pos (RFC 4180) into buf; *eol is set at the end of a
 * record.  Returns -1 on a bad quote. */
static int csv_field(const char *d, size_t n, size_t *pos, char **buf, size_t *cap,
		     size_t *len, int *eol, long long *line)
{
	size_t i = *pos, o = 0;
	int quoted = i < n && d[i] == '"';

	if (quoted)
		i++;
	for (;;) {
		char ch;

		if (i >= n) {
			if (quoted)
				return -1;
			*eol = 1;
			break;
		}
		ch = d[i];
		if (quoted) {
			if (ch == '"') {
				if (i + 1 < n && d[i + 1] == '"') {
					i += 2;
					goto put_quote;
				}
				i++;
				quoted = 0;
				if (i < n && d[i] != ',' && d[i] != '\n' && d[i] != '\r')
					return -1;
				continue;
			}
			if (ch == '\n')
				(*line)++;
			i++;
		} else {
			if (ch == ',') {
				i++;
				break;
			}
			if (ch == '\n' || ch == '\r') {
				i += ch == '\r' && i + 1 < n && d[i + 1] == '\n' ? 2 : 1;
				*eol = 1;
				break;
			}
			if (ch == '"')
				return -1;
			i++;
		}
		if (0) {
put_quote:
			ch = '"';
		}
		if (o + 2 > *cap) {
			size_t nc = *cap ? *cap * 2 : 256;
			char *nb = realloc(*buf, nc);

			if (!nb)
				return -1;
			*buf = nb;
			*cap = nc;
		}
		(*buf)[o++] = ch;
	}
	if (o + 1 > *cap) {
		char *nb = realloc(*buf, o + 1);

		if (!nb)
			return -1;
		*buf = nb;
		*cap = o + 1;
	}
	(*buf)[o] = '\0';
	*len = o;
	*pos = i;
	return 0;
}

static int build_csv(struct builder *b, const char *d, size_t n, struct mt_err *err)
{
	size_t pos = 0, len, cap = 0;
	char *buf = NULL;
	long long line = 1;
	int rc = -1;

	/* The header. */
	for (int eol = 0; !eol;) {
		if (csv_field(d, n, &pos, &buf, &cap, &len, &eol, &line)) {
			mt_err_set(err, MT_EINVAL, "line %lld: a quote out of place", line);
			goto done;
		}
		if (pos >= n && len == 0 && b->ncols == 0) {
			mt_err_set(err, MT_EINVAL, "the data has no header row");
			goto done;
		}
		if (col_add(b, buf, len, err))
			goto done;
	}
	while (pos < n) {
		size_t k = 0;
		long long start;

		line++;
		start = line;
		if (d[pos] == '\n' || d[pos] == '\r') { /* a blank line */
			pos += d[pos] == '\r' && pos + 1 < n && d[pos + 1] == '\n' ? 2 : 1;
			continue;
		}
		for (int eol = 0; !eol; k++) {
			if (csv_field(d, n, &pos, &buf, &cap, &len, &eol, &line)) {
				mt_err_set(err, MT_EINVAL, "line %lld: a quote out of place", start);
				goto done;
			}
			if (k >= b->ncols) {
				mt_err_set(err, MT_EINVAL, "line %lld: more fields than the header's "
					   "%zu", start, b->ncols);
				goto done;
			}
			if (is_missing_text(buf, len))
				b->cols[k].missing++;
			else if (col_value(&b->cols[k], buf, len, -1, 0, start, err))
				goto done;
		}
		if (k != b->ncols) {
			mt_err_set(err, MT_EINVAL, "line %lld: %zu field%s, the header has %zu", start,
				   k, k == 1 ? "" : "s", b->ncols);
			goto done;
		}
		if (++b->rows > MT_PROFILE_MAX_ROWS) {
			mt_err_set(err, MT_EINVAL, "more than %d rows", MT_PROFILE_MAX_ROWS);
			goto done;
		}
	}
	rc = 0;
done:
	free(buf);
	return rc;
}

/* The text of a JSON scalar for a category: strings as they are, numbers
 * and booleans as JSON writes them.  Into buf (MT_JSON_DOUBLE_MAX + 1). */
static const char *scalar_text(const json_t *v, char *buf, size_t *len)
{
	const char *s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		*len = json_string_length(v);
		return json_string_value(v);
	case JSON_INTEGER:
		*len = (size_t)snprintf(buf, MT_JSON_DOUBLE_MAX + 1, "%lld",
					(long long)json_integer_value(v));
		return buf;
	case JSON_REAL:
		*len = mt_json_fmt_double(buf, json_real_value(v));
		buf[*len] = '\0';
		return buf;
	case JSON_TRUE:
	case JSON_FALSE:
		s = json_is_true(v) ? "true" : "false";
		*len = strlen(s);
		return s;
	default:
		return NULL;
	}
}

static int value_missing(const json_t *v)
{
	return !v || json_is_null(v) ||
	       (json_is_string(v) && is_missing_text(json_string_value(v), json_string_length(v)));
}

static int build_jsonl(struct builder *b, const char *d, size_t n, struct mt_err *err)
{
	size_t pos = 0;
	long long line = 0;
	char buf[MT_JSON_DOUBLE_MAX + 1];

	while (pos < n) {
		const char *nl = memchr(d + pos, '\n', n - pos);
		size_t len = nl ? (size_t)(nl - (d + pos)) : n - pos, blank = 1;
		json_error_t je;
		json_t *o, *v;
		const char *k;

		line++;
		for (size_t i = 0; i < len; i++)
			if (!strchr(" \t\r", d[pos + i]))
				blank = 0;
		if (blank) {
			pos += len + 1;
			continue;
		}
		if (!mt_json_depth_ok(d + pos, len, MT_JSON_MAX_DEPTH))
			return mt_err_set(err, MT_EINVAL, "line %lld: nested too deeply", line);
		o = json_loadb(d + pos, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
		if (!o)
			return mt_err_set(err, MT_EINVAL, "line %lld: not JSON: %s", line, je.text);
		if (!json_is_object(o)) {
			json_decref(o);
			return mt_err_set(err, MT_EINVAL, "line %lld: not a JSON object", line);
		}
		json_object_foreach(o, k, v) {
			size_t i, kl = strlen(k);

			for (i = 0; i < b->ncols; i++)
				if (strcmp(b->cols[i].name, k) == 0)
					break;
			if (i == b->ncols) {
				if (col_add(b, k, kl, err))
					goto bad;
				/* Rows before this one lacked it. */
				b->cols[i].missing = b->rows;
			}
		}
		for (size_t i = 0; i < b->ncols; i++) {
			struct col *c = &b->cols[i];
			const char *t;
			size_t tl;

			v = json_object_get(o, c->name);
			if (value_missing(v)) {
				c->missing++;
				continue;
			}
			t = scalar_text(v, buf, &tl);
			if (!t) {
				mt_err_set(err, MT_EINVAL, "line %lld: column '%s': an object or "
					   "array is not a value", line, c->name);
				goto bad;
			}
			if (col_value(c, t, tl, json_is_number(v),
				      json_is_number(v) ? json_number_value(v) : 0, line, err))
				goto bad;
		}
		json_decref(o);
		if (++b->rows > MT_PROFILE_MAX_ROWS)
			return mt_err_set(err, MT_EINVAL, "more than %d rows", MT_PROFILE_MAX_ROWS);
		pos += len + 1;
		continue;
bad:
		json_decref(o);
		return -1;
	}
	return 0;
}

int mt_profile_build(json_t **out, const char *data, size_t n, enum mt_profile_fmt fmt,
		     const char *target, const char *prediction, struct mt_err *err)
{
	struct builder b = { 0 };
	int rc;

	*out = NULL;
	rc = fmt == MT_PROFILE_CSV ? build_csv(&b, data, n, err) : build_jsonl(&b, data, n, err);
	if (rc == 0)
		rc = builder_finish(out, &b, target, prediction, err);
	builder_free(&b);
	return rc;
}

/* ---- checking stored profiles ---- */

/* A count as stored: an integer in 0..MT_PROFILE_MAX_COUNT, so that sums
 * over every bin and column (and the decile arithmetic, ten times a sum)
 * stay far from overflowing. */
static int count_ok(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0 &&
	       json_integer_value(v) <= MT_PROFILE_MAX_COUNT;
}

static int col_check(const char *name, const json_t *c, struct mt_err *err)
{
	const char *role = json_string_value(json_object_get(c, "role"));
	const char *type = json_string_value(json_object_get(c, "type"));
	long long total = 0;

	if (!json_is_object(c) || !role || !type || !count_ok(json_object_get(c, "count")) ||
	    !count_ok(json_object_get(c, "missing")))
		goto bad;
	if (strcmp(role, "feature") && strcmp(role, "target") && strcmp(role, "prediction"))
		goto bad;
	if (strcmp(type, "number") == 0) {
		const json_t *e = json_object_get(c, "edges"), *b = json_object_get(c, "bins"), *x;
		size_t i;
		double prev = -INFINITY;

		if (!json_is_array(e) || !json_is_array(b) || json_array_size(e) >= MT_PROFILE_BINS ||
		    json_array_size(b) != json_array_size(e) + 1)
			goto bad;
		json_array_foreach(e, i, x) {
			if (!json_is_number(x) || !isfinite(json_number_value(x)) ||
			    !(json_number_value(x) > prev))
				goto bad;
			prev = json_number_value(x);
		}
		json_array_foreach(b, i, x) {
			if (!count_ok(x))
				goto bad;
			total += json_integer_value(x);
		}
		if (total != json_integer_value(json_object_get(c, "count")))
			goto bad;
	} else if (strcmp(type, "category") == 0) {
		const json_t *t = json_object_get(c, "top"), *x;
		const char *k;

		if (!json_is_object(t) || json_object_size(t) > MT_PROFILE_TOPK ||
		    !count_ok(json_object_get(c, "other")))
			goto bad;
		json_object_foreach((json_t *)t, k, x)
			if (!count_ok(x) || strlen(k) > MT_PROFILE_MAX_VALUE)
				goto bad;
	} else {
		goto bad;
	}
	return 0;
bad:
	return mt_err_set(err, MT_EINVAL, "invalid reference profile: column '%.250s' is not a "
			  "valid number or category column", name);
}

int mt_profile_check(const json_t *p, struct mt_err *err)
{
	const json_t *cols = json_object_get(p, "columns"), *c;
	const char *fmt = json_string_value(json_object_get(p, "format")), *k;
	int nt = 0, np = 0;

	if (!json_is_object(p) || !fmt || strcmp(fmt, MT_PROFILE_FORMAT) != 0)
		return mt_err_set(err, MT_EINVAL, "invalid reference profile: format is not '"
				  MT_PROFILE_FORMAT "'");
	if (!json_is_object(cols) || json_object_size(cols) == 0 ||
	    json_object_size(cols) > MT_PROFILE_MAX_COLUMNS || !count_ok(json_object_get(p, "rows")))
		return mt_err_set(err, MT_EINVAL, "invalid reference profile: it needs 'rows' and "
				  "1 to %d 'columns'", MT_PROFILE_MAX_COLUMNS);
	json_object_foreach((json_t *)cols, k, c) {
		const char *role;

		if (strlen(k) == 0 || strlen(k) > MT_PROFILE_MAX_NAME)
			return mt_err_set(err, MT_EINVAL, "invalid reference profile: a column name "
					  "must be 1 to %d bytes", MT_PROFILE_MAX_NAME);
		if (col_check(k, c, err))
			return -1;
		role = json_string_value(json_object_get(c, "role"));
		nt += strcmp(role, "target") == 0;
		np += strcmp(role, "prediction") == 0;
	}
	if (nt > 1 || np > 1)
		return mt_err_set(err, MT_EINVAL, "invalid reference profile: more than one "
				  "target or prediction column");
	return 0;
}

/* ---- live windows ---- */

static int is_number_col(const json_t *c)
{
	return strcmp(json_string_value(json_object_get(c, "type")), "number") == 0;
}

static const char *col_role(const json_t *c)
{
	return json_string_value(json_object_get(c, "role"));
}

/* The profile's column with role (NULL when none); *name gets its name. */
static const json_t *role_col(const json_t *p, const char *role, const char **name)
{
	const char *k;
	json_t *c;

	json_object_foreach(json_object_get(p, "columns"), k, c)
		if (strcmp(col_role(c), role) == 0) {
			if (name)
				*name = k;
			return c;
		}
	return NULL;
}

json_t *mt_profile_live_new(const json_t *p)
{
	json_t *cols = json_object(), *c;
	const char *k;

	json_object_foreach(json_object_get(p, "columns"), k, c) {
		json_t *lc = json_pack("{s:I, s:I}", "count", (json_int_t)0, "missing",
				       (json_int_t)0);

		if (is_number_col(c)) {
			json_t *b = json_array();

			for (size_t i = 0; i < json_array_size(json_object_get(c, "bins")); i++)
				json_array_append_new(b, json_integer(0));
			json_object_set_new(lc, "bins", b);
		} else {
			json_object_set_new(lc, "top", json_object());
			json_object_set_new(lc, "other", json_integer(0));
		}
		json_object_set_new(cols, k, lc);
	}
	return json_pack("{s:I, s:o, s:{s:I}}", "rows", (json_int_t)0, "columns", cols, "labels",
			 "count", (json_int_t)0);
}

/* The value obs gives column name (role as in the profile); NULL when
 * missing. */
static const json_t *obs_value(const json_t *obs, const char *name, const char *role)
{
	const json_t *v;

	if (strcmp(role, "prediction") == 0)
		v = json_object_get(obs, "prediction");
	else if (strcmp(role, "target") == 0)
		v = json_object_get(obs, "label");
	else
		v = json_object_get(json_object_get(obs, "features"), name);
	return value_missing(v) ? NULL : v;
}

static int value_fits(const json_t *c, const json_t *v)
{
	if (is_number_col(c))
		return json_is_number(v) && isfinite(json_number_value(v));
	return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

int mt_profile_obs_check(const json_t *p, const json_t *live, const json_t *obs,
			 struct mt_err *err)
{
	const json_t *cols = json_object_get(p, "columns"), *feats, *c, *v, *pc;
	const char *k;

	if (!json_is_object(obs))
		return mt_err_set(err, MT_EINVAL, "an observation must be a JSON object");
	json_object_foreach((json_t *)obs, k, v)
		if (strcmp(k, "features") && strcmp(k, "prediction") && strcmp(k, "label") &&
		    strcmp(k, "timestamp"))
			return mt_err_set(err, MT_EINVAL, "unknown field '%.100s' (an observation "
					  "has features, prediction, label, timestamp)", k);
	feats = json_object_get(obs, "features");
	if (feats && !json_is_object(feats) && !json_is_null(feats))
		return mt_err_set(err, MT_EINVAL, "'features' must be an object");
	json_object_foreach((json_t *)feats, k, v) {
		c = json_object_get(cols, k);
		if (!c || strcmp(col_role(c), "feature") != 0)
			return mt_err_set(err, MT_EINVAL, "unknown feature '%.250s': the reference "
					  "profile has no such feature", k);
	}
	json_object_foreach((json_t *)cols, k, c) {
		v = obs_value(obs, k, col_role(c));
		if (v && !value_fits(c, v))
			return mt_err_set(err, MT_EINVAL, "%s '%.250s': expected a %s", 
					  strcmp(col_role(c), "feature") == 0 ? "feature" :
					  strcmp(col_role(c), "target") == 0 ? "label for" :
					  "prediction for", k, is_number_col(c) ? "number" :
					  "string (a category)");
		if (v && json_is_string(v) && json_string_length(v) > MT_PROFILE_MAX_VALUE)
			return mt_err_set(err, MT_EINVAL, "'%.250s': a value longer than %d bytes", k,
					  MT_PROFILE_MAX_VALUE);
	}
	if ((v = json_object_get(obs, "prediction")) && !json_is_null(v) &&
	    !role_col(p, "prediction", NULL))
		return mt_err_set(err, MT_EINVAL, "a prediction, but the reference profile has no "
				  "prediction column (register with --prediction COL)");
	if ((v = json_object_get(obs, "label")) && !json_is_null(v) &&
	    !role_col(p, "target", NULL) && !role_col(p, "prediction", NULL))
		return mt_err_set(err, MT_EINVAL, "a label, but the reference profile has no "
				  "target or prediction column");
	pc = role_col(p, "prediction", NULL);
	if (pc && !is_number_col(pc) && (v = json_object_get(obs, "label")) && !value_missing(v)) {
		const json_t *pv = json_object_get(obs, "prediction");
		const json_t *conf = json_object_get(json_object_get(live, "labels"), "confusion");
		char b1[MT_JSON_DOUBLE_MAX + 1];
		size_t l;
		const char *lt;

		if (!value_fits(pc, v))
			return mt_err_set(err, MT_EINVAL, "a label must be a string (a category) "
					  "like the prediction");
		lt = scalar_text(v, b1, &l);
		if (!value_missing(pv) && !json_object_get(conf, lt) &&
		    json_object_size(conf) >= MT_PROFILE_MAX_CLASSES)
			return mt_err_set(err, MT_EINVAL, "more than %d distinct labels in one window",
					  MT_PROFILE_MAX_CLASSES);
	} else if (pc && (v = json_object_get(obs, "label")) && !value_missing(v)) {
		const json_t *pv = json_object_get(obs, "prediction");

		if (!(json_is_number(v) && isfinite(json_number_value(v))))
			return mt_err_set(err, MT_EINVAL, "a label must be a number like the "
					  "prediction");
		/* Squared errors are summed: keep them finite. */
		if (fabs(json_number_value(v)) > MT_PROFILE_MAX_REGRESSION ||
		    (json_is_number(pv) && fabs(json_number_value(pv)) > MT_PROFILE_MAX_REGRESSION))
			return mt_err_set(err, MT_EINVAL, "a label or prediction beyond +-1e150 "
					  "cannot be scored");
	}
	if ((v = json_object_get(obs, "timestamp")) && !json_is_null(v) && !json_is_integer(v))
		return mt_err_set(err, MT_EINVAL, "'timestamp' must be an integer (milliseconds "
				  "since the epoch)");
	return 0;
}

static void add_int(json_t *o, const char *key, long long d)
{
	json_t *v = json_object_get(o, key);

	if (v)
		json_integer_set(v, json_integer_value(v) + d);
	else
		json_object_set_new(o, key, json_integer(d));
}

static void add_real(json_t *o, const char *key, double d)
{
	json_t *v = json_object_get(o, key);

	json_object_set_new(o, key, json_real((v ? json_number_value(v) : 0) + d));
}

void mt_profile_fold(const json_t *p, json_t *live, const json_t *obs)
{
	const json_t *c, *pc;
	json_t *lcols = json_object_get(live, "columns"), *labels = json_object_get(live, "labels");
	const char *k;
	char buf[MT_JSON_DOUBLE_MAX + 1];

	add_int(live, "rows", 1);
	json_object_foreach(json_object_get(p, "columns"), k, c) {
		json_t *lc = json_object_get(lcols, k);
		const json_t *v = obs_value(obs, k, col_role(c));

		if (!lc)
			continue;
		if (!v) {
			/* A label is not expected on every row: a missing one is
			 * not a missing value of the target. */
			if (strcmp(col_role(c), "target") != 0)
				add_int(lc, "missing", 1);
			continue;
		}
		add_int(lc, "count", 1);
		if (is_number_col(c)) {
			const json_t *e = json_object_get(c, "edges");
			size_t ne = json_array_size(e), i = 0;
			double x = json_number_value(v);

			while (i < ne && json_number_value(json_array_get(e, i)) < x)
				i++;
			json_t *b = json_array_get(json_object_get(lc, "bins"), i);
			json_integer_set(b, json_integer_value(b) + 1);
		} else {
			size_t l;
			const char *t = scalar_text(v, buf, &l);

			if (json_object_get(json_object_get(c, "top"), t))
				add_int(json_object_get(lc, "top"), t, 1);
			else
				add_int(lc, "other", 1);
		}
	}
	pc = role_col(p, "prediction", NULL);
	if (pc && !value_missing(json_object_get(obs, "label")) &&
	    !value_missing(json_object_get(obs, "prediction"))) {
		const json_t *lv = json_object_get(obs, "label"), *pv = json_object_get(obs, "prediction");

		add_int(labels, "count", 1);
		if (is_number_col(pc)) {
			double d = json_number_value(pv) - json_number_value(lv);

			add_real(labels, "sse", d * d);
			add_real(labels, "sae", fabs(d));
		} else {
			char b2[MT_JSON_DOUBLE_MAX + 1];
			size_t l;
			const char *lt = scalar_text(lv, buf, &l), *pt = scalar_text(pv, b2, &l);
			json_t *conf = json_object_get(labels, "confusion"), *row;

			if (!conf) {
				conf = json_object();
				json_object_set_new(labels, "confusion", conf);
			}
			if (!(row = json_object_get(conf, lt))) {
				row = json_object();
				json_object_set_new(conf, lt, row);
			}
			add_int(row, pt, 1);
		}
	}
}

int mt_profile_live_check(const json_t *p, const json_t *live, struct mt_err *err)
{
	const json_t *lcols = json_object_get(live, "columns"), *c;
	const char *k;

	const json_t *labels = json_object_get(live, "labels"), *conf, *row, *x;
	const char *lk, *pk;

	if (!json_is_object(live) || !count_ok(json_object_get(live, "rows")) ||
	    !json_is_object(lcols) || !json_is_object(labels) ||
	    !count_ok(json_object_get(labels, "count")))
		goto bad;
	conf = json_object_get(labels, "confusion");
	if (conf && (!json_is_object(conf) || json_object_size(conf) > MT_PROFILE_MAX_CLASSES))
		goto bad;
	json_object_foreach((json_t *)conf, lk, row) {
		if (!json_is_object(row) || json_object_size(row) > MT_PROFILE_MAX_CLASSES)
			goto bad;
		json_object_foreach((json_t *)row, pk, x)
			if (!count_ok(x))
				goto bad;
	}
	for (int i = 0; i < 2; i++) {
		x = json_object_get(labels, i ? "sae" : "sse");
		if (x && !(json_is_number(x) && json_number_value(x) >= 0))
			goto bad;
	}
	json_object_foreach(json_object_get(p, "columns"), k, c) {
		const json_t *lc = json_object_get(lcols, k);

		if (!json_is_object(lc) || !count_ok(json_object_get(lc, "count")) ||
		    !count_ok(json_object_get(lc, "missing")))
			goto bad;
		if (is_number_col(c)) {
			const json_t *b = json_object_get(lc, "bins");
			size_t i;

			if (json_array_size(b) != json_array_size(json_object_get(c, "bins")))
				goto bad;
			json_array_foreach(b, i, x)
				if (!count_ok(x))
					goto bad;
		} else {
			const json_t *t = json_object_get(lc, "top");

			if (!json_is_object(t) || !count_ok(json_object_get(lc, "other")))
				goto bad;
			json_object_foreach((json_t *)t, pk, x)
				if (!count_ok(x))
					goto bad;
		}
	}
	return 0;
bad:
	return mt_err_set(err, MT_EINVAL, "a stored live window does not match its reference "
			  "profile");
}

/* ---- drift ---- */

static double share(long long c, long long n)
{
	double s = n > 0 ? (double)c / (double)n : 0;

	return s < MT_PROFILE_PSI_EPS ? MT_PROFILE_PSI_EPS : s;
}

static double psi_of(const long long *ref, const long long *live, size_t k, long long nr,
		     long long nl)
{
	double psi = 0;

	for (size_t i = 0; i < k; i++) {
		double e = share(ref[i], nr), a = share(live[i], nl);

		psi += (a - e) * log(a / e);
	}
	return psi;
}

/* PSI of a number column over the reference's deciles: consecutive bins
 * merged, in order, until the group's cumulative reference count reaches
 * the next tenth of the reference (a heavy bin may pass several tenths at
 * once: the next group then aims at the tenth after those); the last group
 * takes what is left.  ref and liv are rewritten with the group counts. */
static double decile_psi(long long *ref, long long *liv, size_t k, long long nr, long long nl)
{
	size_t ng = 0;
	long long cum = 0, g = 0, r = 0, l = 0;

	for (size_t i = 0; i < k; i++) {
		cum += ref[i];
		r += ref[i];
		l += liv[i];
		if (i + 1 == k || cum * 10 >= nr * (g + 1)) {
			ref[ng] = r;
			liv[ng++] = l;
			r = l = 0;
			g = cum * 10 / nr;
		}
	}
	return psi_of(ref, liv, ng, nr, nl);
}

static json_t *col_drift(const json_t *c, const json_t *lc, long long rows)
{
	long long rc = json_integer_value(json_object_get(c, "count"));
	long long rm = json_integer_value(json_object_get(c, "missing"));
	long long lcn = json_integer_value(json_object_get(lc, "count"));
	long long lm = json_integer_value(json_object_get(lc, "missing"));
	double rrate = rc + rm > 0 ? (double)rm / (double)(rc + rm) : 0;
	double lrate = lcn + lm > 0 ? (double)lm / (double)(lcn + lm) : 0;
	json_t *o = json_pack("{s:s, s:I}", "type", is_number_col(c) ? "number" : "category",
			      "count", (json_int_t)lcn);
	size_t k;
	long long *ref, *liv;

	(void)rows;
	json_object_set_new(o, "missing_rate", mt_json_double_new(lrate));
	json_object_set_new(o, "missing_rate_change", mt_json_double_new(lrate - rrate));
	if (lcn == 0 || rc == 0)
		return o;
	if (is_number_col(c)) {
		const json_t *rb = json_object_get(c, "bins"), *lb = json_object_get(lc, "bins");
		double fr = 0, fl = 0, ks = 0;

		k = json_array_size(rb);
		ref = calloc(k, sizeof(long long));
		liv = calloc(k, sizeof(long long));
		if (!ref || !liv)
			goto oom;
		for (size_t i = 0; i < k; i++) {
			ref[i] = json_integer_value(json_array_get(rb, i));
			liv[i] = json_integer_value(json_array_get(lb, i));
		}
		for (size_t i = 0; i + 1 < k; i++) {
			fr += (double)ref[i] / (double)rc;
			fl += (double)liv[i] / (double)lcn;
			if (fabs(fr - fl) > ks)
				ks = fabs(fr - fl);
		}
		json_object_set_new(o, "psi", mt_json_double_new(decile_psi(ref, liv, k, rc, lcn)));
		json_object_set_new(o, "ks", mt_json_double_new(ks));
	} else {
		const json_t *top = json_object_get(c, "top"), *x;
		const char *key;
		size_t i = 0;
		double chi = 0, tot = 0;
		long long df = -1;

		k = json_object_size(top) + 1;
		ref = calloc(k, sizeof(long long));
		liv = calloc(k, sizeof(long long));
		if (!ref || !liv)
			goto oom;
		json_object_foreach((json_t *)top, key, x) {
			ref[i] = json_integer_value(x);
			liv[i++] = json_integer_value(json_object_get(json_object_get(lc, "top"), key));
		}
		ref[i] = json_integer_value(json_object_get(c, "other"));
		liv[i] = json_integer_value(json_object_get(lc, "other"));
		/* Only values seen in the reference or in the window count. */
		for (i = 0; i < k; i++)
			if (ref[i] || liv[i]) {
				tot += share(ref[i], rc);
				df++;
			}
		for (i = 0; i < k; i++) {
			double x2 = share(ref[i], rc) / tot * (double)lcn;

			if (ref[i] || liv[i])
				chi += ((double)liv[i] - x2) * ((double)liv[i] - x2) / x2;
		}
		json_object_set_new(o, "psi", mt_json_double_new(psi_of(ref, liv, k, rc, lcn)));
		json_object_set_new(o, "chi2", mt_json_double_new(chi));
		json_object_set_new(o, "chi2_df", json_integer((json_int_t)df));
	}
	free(ref);
	free(liv);
	return o;
oom:
	free(ref);
	free(liv);
	json_decref(o);
	return NULL;
}

static json_t *quality(const json_t *p, const json_t *labels)
{
	const json_t *pc = role_col(p, "prediction", NULL), *conf, *row, *x;
	long long n = json_integer_value(json_object_get(labels, "count"));
	json_t *q, *classes;
	const char *lk, *pk;
	long long right = 0;
	double f1 = 0;

	if (!pc || n <= 0)
		return NULL;
	if (is_number_col(pc)) {
		double sse = json_number_value(json_object_get(labels, "sse"));
		double sae = json_number_value(json_object_get(labels, "sae"));

		return json_pack("{s:I, s:o, s:o}", "labels", (json_int_t)n, "rmse",
				 mt_json_double_new(sqrt(sse / (double)n)), "mae",
				 mt_json_double_new(sae / (double)n));
	}
	/* classes -> [true positives, predicted, actual] */
	conf = json_object_get(labels, "confusion");
	classes = json_object();
	json_object_foreach((json_t *)conf, lk, row) {
		if (!json_object_get(classes, lk))
			json_object_set_new(classes, lk, json_integer(0));
		json_object_foreach((json_t *)row, pk, x)
			if (!json_object_get(classes, pk))
				json_object_set_new(classes, pk, json_integer(0));
	}
	json_object_foreach(classes, lk, x) {
		long long tp = 0, pred = 0, act = 0;
		const json_t *r;

		json_object_foreach((json_t *)conf, pk, r) {
			long long c = json_integer_value(json_object_get(r, lk));

			pred += c;
			if (strcmp(pk, lk) == 0) {
				tp = c;
			}
		}
		json_object_foreach((json_t *)json_object_get(conf, lk), pk, r)
			act += json_integer_value(r);
		right += tp;
		if (pred + act > 0)
			f1 += 2.0 * (double)tp / (double)(pred + act);
	}
	q = json_pack("{s:I, s:o, s:o}", "labels", (json_int_t)n, "accuracy",
		      mt_json_double_new((double)right / (double)n), "f1_macro",
		      mt_json_double_new(json_object_size(classes) ?
					 f1 / (double)json_object_size(classes) : 0));
	json_decref(classes);
	return q;
}

json_t *mt_profile_drift(const json_t *p, const json_t *live)
{
	long long rows = json_integer_value(json_object_get(live, "rows"));
	json_t *cols = json_object(), *out, *q;
	const json_t *c;
	const char *k;

	json_object_foreach(json_object_get(p, "columns"), k, c) {
		const json_t *lc = json_object_get(json_object_get(live, "columns"), k);
		json_t *d = lc ? col_drift(c, lc, rows) : NULL;

		if (d)
			json_object_set_new(cols, k, d);
	}
	out = json_pack("{s:I, s:o}", "rows", (json_int_t)rows, "columns", cols);
	if (out && (q = quality(p, json_object_get(live, "labels"))))
		json_object_set_new(out, "quality", q);
	return out;
}
