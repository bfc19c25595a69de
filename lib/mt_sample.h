/*
 * mt_sample: the sample of one metric series that get-history-sampled
 * answers, computed in one pass over the series.
 *
 * The points arrive in (step, timestamp, value) order, either one at a time
 * (mt_sample_add) or as the bytes of a PostgreSQL text COPY of
 * (bigint step, bigint timestamp, float8 value) rows (mt_sample_feed), in
 * pieces of any size.  (Text, not binary: PostgreSQL 15 sends a million
 * rows as text in less than half the time it takes for binary, whose
 * per-value send functions allocate.)  The step range [min_step, max_step] of the series must
 * be known before the pass: it sets the bucket boundaries.
 *
 * The answer (mt_sample_finish):
 *   - every point, when the series has at most max_points of them;
 *   - otherwise max(max_points / 4, 1) buckets of equal step width over
 *     [min_step, max_step + 1) (PostgreSQL's width_bucket: the bucket of a
 *     step s is floor((s - min_step) * buckets / (max_step - min_step + 1)),
 *     computed exactly for any int64 steps); from each non-empty bucket the
 *     first and the last (step, timestamp), the (step, timestamp) of the
 *     smallest and of the largest value (the earliest of equals), each
 *     (step, timestamp) once, in order.  Values compare as PostgreSQL's
 *     float8 does: NaN above every number and equal to itself, -0 equal to 0.
 *     A (step, timestamp) holding several values is answered with its
 *     smallest one (the first in series order), as the SQL this replaces
 *     did.
 *
 * Memory: about 100 bytes per bucket plus max_points points kept in case the
 * series turns out to be short, all from the arena; nothing depends on the
 * length of the series.
 */
#ifndef MT_SAMPLE_H
#define MT_SAMPLE_H

#include <stddef.h>

#include "mt_arena.h"
#include "mt_error.h"

struct mt_sample_point {
	long long step;
	long long timestamp;
	double value;
};

struct mt_sample;

/* The lines of a text COPY of (int8, int8, float8) rows, fed in pieces of
 * any size: each line is checked (two integers in range, one number,
 * nothing else) and handed to fn, whose -1 stops the feed.  Zero the
 * struct to start. */
#define MT_COPY_LINE_MAX 128
struct mt_copy_lines {
	char part[MT_COPY_LINE_MAX]; /* a line split across pieces */
	size_t npart;
};
typedef int mt_copy_point_fn(void *ctx, long long step, long long timestamp, double value,
			     struct mt_err *err);
int mt_copy_lines_feed(struct mt_copy_lines *l, const void *buf, size_t len, mt_copy_point_fn *fn,
		       void *ctx, struct mt_err *err);
/* -1 (MT_EINTERNAL) when the bytes fed end inside a line. */
int mt_copy_lines_end(const struct mt_copy_lines *l, struct mt_err *err);

/* The points one bucket answers, from its four picks: the first point, the
 * earliest with the smallest value, the earliest with the largest, and the
 * last (each with the value answered at its (step, timestamp)).  They are
 * written to out (room for 4) in (step, timestamp) order, each (step,
 * timestamp) once; returns how many (1 to 4).  mt_rollup_sampler's buckets
 * answer through it too. */
size_t mt_sample_bucket_points(struct mt_sample_point *out, const struct mt_sample_point picks[4]);

/* A new pass (arena memory).  max_points >= 1; min_step <= max_step. */
struct mt_sample *mt_sample_new(struct mt_arena *a, long long min_step, long long max_step,
				long long max_points);

/* One point, in (step, timestamp, value) order.  -1 (MT_EINTERNAL, with a
 * log detail) when the point is out of order or outside the step range. */
int mt_sample_add(struct mt_sample *s, long long step, long long timestamp, double value,
		  struct mt_err *err);

/* The next len bytes of a text COPY of (int8, int8, float8) rows.  Each
 * line is checked: two integers in range, one number (NaN, Infinity and
 * -Infinity as PostgreSQL writes them), nothing else; anything else (a
 * NULL, a line over 127 bytes) is -1 (MT_EINTERNAL). */
int mt_sample_feed(struct mt_sample *s, const void *buf, size_t len, struct mt_err *err);

/* The answer: *out (arena memory, *n points, in order).  -1 when fed
 * bytes end inside a line.  Call once. */
int mt_sample_finish(struct mt_sample *s, const struct mt_sample_point **out, size_t *n,
		     struct mt_err *err);

/* Points seen so far. */
long long mt_sample_count(const struct mt_sample *s);

#endif
