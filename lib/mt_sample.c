/* mt_sample.c: one-pass bucketed sample of a metric series (see mt_sample.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mt_sample.h"

__extension__ typedef unsigned __int128 mt_u128;

struct mt_sample {
	long long min_step, max_step, max_points, count;
	unsigned long long nbuckets;
	mt_u128 width;                 /* max_step - min_step + 1, up to 2^64 */

	/* every point while count <= max_points */
	struct mt_sample_point *all;

	/* the bucket being filled */
	int open;
	unsigned long long bucket;
	mt_u128 bucket_end;            /* offset of the next bucket's first step */
	struct mt_sample_point first, last, lo, hi; /* the bucket's picks */
	double vlo, vhi;

	/* the (step, timestamp) group being read and its first (smallest) value */
	long long gstep, gts;
	double gfirst, prev;

	struct mt_sample_point *out;   /* 4 per bucket at most */
	size_t nout;

	/* the COPY being read */
	struct mt_copy_lines lines;
};

/* PostgreSQL's float8 order: NaN above everything and equal to itself. */
static int pg_cmp(double a, double b)
{
	if (isnan(a))
		return isnan(b) ? 0 : 1;
	if (isnan(b))
		return -1;
	return a < b ? -1 : a > b;
}

struct mt_sample *mt_sample_new(struct mt_arena *a, long long min_step, long long max_step,
				long long max_points)
{
	struct mt_sample *s = mt_arena_alloc(a, sizeof(*s));
	long long nb = max_points / 4 > 0 ? max_points / 4 : 1;

	s->min_step = min_step;
	s->max_step = max_step;
	s->max_points = max_points;
	s->nbuckets = (unsigned long long)nb;
	s->width = (mt_u128)((unsigned long long)max_step - (unsigned long long)min_step) + 1;
	s->all = mt_arena_alloc(a, sizeof(*s->all) * (size_t)max_points);
	s->out = mt_arena_alloc(a, sizeof(*s->out) * 4 * (size_t)nb);
	return s;
}

long long mt_sample_count(const struct mt_sample *s)
{
	return s->count;
}

static int point_before(const struct mt_sample_point *a, const struct mt_sample_point *b)
{
	return a->step < b->step || (a->step == b->step && a->timestamp < b->timestamp);
}

size_t mt_sample_bucket_points(struct mt_sample_point *out, const struct mt_sample_point picks[4])
{
	struct mt_sample_point p[4] = { picks[0], picks[1], picks[2], picks[3] };
	size_t n = 0;

	for (int i = 1; i < 4; i++)
		for (int j = i; j > 0 && point_before(&p[j], &p[j - 1]); j--) {
			struct mt_sample_point t = p[j];

			p[j] = p[j - 1];
			p[j - 1] = t;
		}
	for (int i = 0; i < 4; i++) {
		if (i > 0 && p[i].step == p[i - 1].step && p[i].timestamp == p[i - 1].timestamp)
			continue;
		out[n++] = p[i];
	}
	return n;
}

/* The finished bucket's points, after those of the buckets before it. */
static void flush_bucket(struct mt_sample *s)
{
	const struct mt_sample_point picks[4] = { s->first, s->lo, s->hi, s->last };

	if (!s->open)
		return;
	s->nout += mt_sample_bucket_points(s->out + s->nout, picks);
	s->open = 0;
}

int mt_sample_add(struct mt_sample *s, long long step, long long ts, double value,
		  struct mt_err *err)
{
	mt_u128 off;
	int new_group;

	if (step < s->min_step || step > s->max_step) {
		mt_err_set(err, MT_EINTERNAL, "sampled history: a point outside the step range");
		return mt_err_detail(err, "step %lld not in [%lld, %lld]", step, s->min_step,
				     s->max_step);
	}
	new_group = s->count == 0 || step != s->gstep || ts != s->gts;
	if (s->count > 0 && (step < s->gstep || (step == s->gstep && ts < s->gts) ||
			     (!new_group && pg_cmp(value, s->prev) < 0))) {
		mt_err_set(err, MT_EINTERNAL, "sampled history: points out of order");
		return mt_err_detail(err, "(%lld, %lld, %g) after (%lld, %lld, %g)", step, ts, value,
				     s->gstep, s->gts, s->prev);
	}
	if (s->count < s->max_points)
		s->all[s->count] = (struct mt_sample_point){ step, ts, value };
	s->count++;
	s->prev = value;
	if (new_group) {
		s->gstep = step;
		s->gts = ts;
		s->gfirst = value;
	}

	off = (mt_u128)((unsigned long long)step - (unsigned long long)s->min_step);
	if (!s->open || off >= s->bucket_end) {
		/* A new bucket: floor(off * n / width); it ends where
		 * off * n reaches (bucket + 1) * width. */
		flush_bucket(s);
		s->bucket = (unsigned long long)(off * s->nbuckets / s->width);
		s->bucket_end = ((s->bucket + 1) * s->width + s->nbuckets - 1) / s->nbuckets;
		s->open = 1;
		s->first = s->lo = s->hi = (struct mt_sample_point){ step, ts, value };
		s->vlo = s->vhi = value;
	} else {
		if (pg_cmp(value, s->vlo) < 0) {
			s->vlo = value;
			s->lo = (struct mt_sample_point){ step, ts, s->gfirst };
		}
		if (pg_cmp(value, s->vhi) > 0) {
			s->vhi = value;
			s->hi = (struct mt_sample_point){ step, ts, s->gfirst };
		}
	}
	s->last = (struct mt_sample_point){ step, ts, s->gfirst };
	return 0;
}

static int copy_bad(struct mt_err *err, const char *what)
{
	mt_err_set(err, MT_EINTERNAL, "sampled history: unreadable COPY data");
	return mt_err_detail(err, "COPY: %s", what);
}

static int parse_i64(const char **p, const char *end, long long *out)
{
	char *e;

	if (*p == end || !(**p == '-' || (**p >= '0' && **p <= '9')))
		return -1;
	errno = 0;
	*out = strtoll(*p, &e, 10);
	if (errno || e >= end || *e != '\t')
		return -1;
	*p = e + 1;
	return 0;
}

/* One line without its newline, NUL-terminated at end. */
static int parse_line(const char *p, const char *end, mt_copy_point_fn *fn, void *ctx,
		      struct mt_err *err)
{
	long long step, ts;
	double v;
	char *e;

	if (parse_i64(&p, end, &step) || parse_i64(&p, end, &ts))
		return copy_bad(err, "a line without two integers");
	if (p == end || *p == '\\' || *p == ' ')
		return copy_bad(err, "a value that is NULL or empty");
	v = strtod(p, &e);
	if (e != end)
		return copy_bad(err, "a value that is not one number");
	return fn(ctx, step, ts, v, err);
}

int mt_copy_lines_feed(struct mt_copy_lines *l, const void *buf, size_t len, mt_copy_point_fn *fn,
		       void *ctx, struct mt_err *err)
{
	const char *p = buf;
	char line[MT_COPY_LINE_MAX + 1];

	while (len > 0) {
		const char *nl = memchr(p, '\n', len);
		size_t k = nl ? (size_t)(nl - p) : len;

		if (l->npart + k >= MT_COPY_LINE_MAX)
			return copy_bad(err, "a line too long");
		if (!nl) { /* the rest of this line comes in the next buffer */
			memcpy(l->part + l->npart, p, k);
			l->npart += k;
			return 0;
		}
		memcpy(line, l->part, l->npart);
		memcpy(line + l->npart, p, k);
		line[l->npart + k] = '\0';
		if (parse_line(line, line + l->npart + k, fn, ctx, err))
			return -1;
		l->npart = 0;
		p += k + 1;
		len -= k + 1;
	}
	return 0;
}

int mt_copy_lines_end(const struct mt_copy_lines *l, struct mt_err *err)
{
	return l->npart ? copy_bad(err, "the data ends inside a line") : 0;
}

static int add_point(void *ctx, long long step, long long ts, double v, struct mt_err *err)
{
	return mt_sample_add(ctx, step, ts, v, err);
}

int mt_sample_feed(struct mt_sample *s, const void *buf, size_t len, struct mt_err *err)
{
	return mt_copy_lines_feed(&s->lines, buf, len, add_point, s, err);
}

int mt_sample_finish(struct mt_sample *s, const struct mt_sample_point **out, size_t *n,
		     struct mt_err *err)
{
	if (mt_copy_lines_end(&s->lines, err))
		return -1;
	if (s->count <= s->max_points) {
		*out = s->all;
		*n = (size_t)s->count;
		return 0;
	}
	flush_bucket(s);
	*out = s->out;
	*n = s->nout;
	return 0;
}
