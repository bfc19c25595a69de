/*
 * mt_rollup: the aggregates that let get-history-sampled answer from a few
 * thousand rows at any series length, exactly as mt_sample does from every
 * point (mt_sample.h defines the answer).
 *
 * A block of level L (MT_ROLLUP_LMIN <= L <= MT_ROLLUP_LMAX) and index blk
 * holds the steps [blk * 4^L, (blk + 1) * 4^L) (floor division: negative
 * steps too; 4^31 = 2^62, so level 31 has four blocks over all of int64).
 * Its aggregate (struct mt_rollup_agg) is what one bucket of the answer
 * needs: the first and last (step, timestamp), the earliest point with the
 * smallest value, and the earliest with the largest value, each with the
 * value the answer gives its (step, timestamp) (the smallest there).  A
 * (step, timestamp) lies in exactly one block per level, so aggregates of
 * consecutive blocks combine exactly (mt_rollup_merge), and a level's
 * blocks are its children's, four by four.
 *
 * A read cuts [min_step, max_step] at the answer's bucket boundaries and
 * covers each piece with the coarsest whole blocks that fit, and raw
 * points near the boundaries, where no block fits, and in the range whose
 * blocks may be stale (mt_rollup_plan); mt_rollup_sampler turns those
 * blocks and points, in step order, into mt_sample's answer.
 *
 * Everything here is arena memory or the caller's; nothing prints.
 */
#ifndef MT_ROLLUP_H
#define MT_ROLLUP_H

#include <stddef.h>

#include "mt_arena.h"
#include "mt_sample.h"

/* Level 1 (blocks of 4 steps) would hold a third as many rows as the
 * series; from level 2 a twelfth, for a few more raw points per read. */
#define MT_ROLLUP_LMIN 2
#define MT_ROLLUP_LMAX 31

/* A chosen point: where, and the value the answer gives it. */
struct mt_rollup_pick {
	long long step, ts;
	double value;
};

struct mt_rollup_agg {
	long long n;                    /* points; 0: empty */
	struct mt_rollup_pick first, last, lo, hi;
	double vlo, vhi;                /* the smallest and largest values
					 * (lo.value is vlo; hi.value the
					 * smallest at hi's (step, timestamp)) */
};

/* Points fed in (step, timestamp, value) order into one aggregate. */
struct mt_rollup_acc {
	struct mt_rollup_agg a;
	long long gstep, gts;           /* the (step, timestamp) being read */
	double gfirst;                  /* and its first (smallest) value */
};

struct mt_rollup_block {
	int lvl;
	long long blk;
	struct mt_rollup_agg a;
};

/* A range of the plan: lvl 0 is the raw points of steps [lo, hi]; lvl >=
 * MT_ROLLUP_LMIN the blocks lo..hi of that level. */
struct mt_rollup_range {
	int lvl;
	long long lo, hi;
};

/* PostgreSQL's float8 order: NaN above everything, -0 == 0. */
int mt_rollup_cmp(double a, double b);

/* floor(step / 4^lvl), and the first and last step of a block. */
long long mt_rollup_blk(long long step, int lvl);
long long mt_rollup_blk_first(int lvl, long long blk);
long long mt_rollup_blk_last(int lvl, long long blk);

void mt_rollup_acc_init(struct mt_rollup_acc *acc);
/* The next point in series order. */
void mt_rollup_acc_point(struct mt_rollup_acc *acc, long long step, long long ts, double v);
/* b, all of whose points come after a's and share no (step, timestamp)
 * with them, appended to a. */
void mt_rollup_merge(struct mt_rollup_agg *a, const struct mt_rollup_agg *b);

/* The rollup of a whole series from scratch, the definition the server's
 * streaming rebuild (mt_rollup_cascade, below) is checked against
 * (tests/unit/check_rollup.c).
 * The blocks of level lvl (>= MT_ROLLUP_LMIN) of points streamed in series
 * order (mt_rollup_builder_point is an mt_copy_point_fn): init, a point at
 * a time (-1, MT_EINTERNAL, when one is out of order or repeated), finish
 * for the blocks, in blk order: *out is owned by the caller (free()), NULL
 * when there are none.  The memory is malloc'd, not the arena's: a rebuild
 * of a whole series frees its levels as it goes. */
struct mt_rollup_builder {
	int lvl;
	struct mt_rollup_block *b;
	size_t n, cap;
	int oom;
	struct mt_rollup_acc acc;
	struct mt_rollup_pick prev;     /* the point before, when n > 0 */
};
void mt_rollup_builder_init(struct mt_rollup_builder *bd, int lvl);
int mt_rollup_builder_point(void *bd, long long step, long long ts, double v, struct mt_err *err);
void mt_rollup_builder_finish(struct mt_rollup_builder *bd, struct mt_rollup_block **out,
			      size_t *nout);
/* Free what an unfinished builder holds. */
void mt_rollup_builder_release(struct mt_rollup_builder *bd);

/* The parents (level + 1) of blocks c[0..n) of one level in blk order,
 * written over c[0..k), in blk order; returns k. */
size_t mt_rollup_parents(struct mt_rollup_block *c, size_t n);

/*
 * A rebuild of the blocks over dirty steps [dlo, dhi], streaming: the
 * points of the level-2 blocks over the range, in series order, go in one
 * at a time (mt_rollup_cascade_point is an mt_copy_point_fn); each block
 * over the range is handed to emit as soon as it is complete (its parent
 * then takes it in), so memory holds one open block per level.  The clean
 * blocks beside the range that complete its blocks' parents, of levels
 * MT_ROLLUP_LMIN to MT_ROLLUP_LMAX - 1, are given up front, sorted by
 * (lvl, blk): those left of the range and those right of it.  Empty blocks
 * are not emitted.  emit's -1 stops the cascade.
 */
typedef int mt_rollup_emit_fn(void *ctx, const struct mt_rollup_block *b, struct mt_err *err);
struct mt_rollup_cascade {
	long long dlo, dhi;
	struct mt_rollup_block open[MT_ROLLUP_LMAX + 1]; /* lvl 0: none open */
	struct mt_rollup_acc acc;                        /* of open[MT_ROLLUP_LMIN] */
	long long npoints;
	struct mt_rollup_pick prev;                      /* the point before, when npoints > 0 */
	mt_rollup_emit_fn *emit;
	void *ctx;
};
int mt_rollup_cascade_init(struct mt_rollup_cascade *c, long long dlo, long long dhi,
			   const struct mt_rollup_block *left, size_t nleft,
			   mt_rollup_emit_fn *emit, void *ctx, struct mt_err *err);
int mt_rollup_cascade_point(void *c, long long step, long long ts, double v, struct mt_err *err);
int mt_rollup_cascade_finish(struct mt_rollup_cascade *c, const struct mt_rollup_block *right,
			     size_t nright, struct mt_err *err);

/* The ranges to read for the answer over [min_step, max_step] with
 * max_points (mt_sample.h): whole blocks and raw steps, disjoint,
 * contiguous ones of a level merged; the steps [dirty_lo, dirty_hi] (when dirty) are
 * read raw.  *out (arena), *nout. */
void mt_rollup_plan(struct mt_arena *ar, long long min_step, long long max_step,
		    long long max_points, int dirty, long long dirty_lo, long long dirty_hi,
		    struct mt_rollup_range **out, size_t *nout);

/* What to fetch for plan r[0..n): its ranges of one level less than gap + 1
 * apart (blocks, or steps for lvl 0) made one, since reading a few rows
 * more costs less than another index descent; returns the count written
 * to out (room for n).  What the merged ranges bring beyond the plan
 * (which may be stale blocks) is dropped with mt_rollup_wanted. */
size_t mt_rollup_coalesce(const struct mt_rollup_range *r, size_t n, long long gap,
			  struct mt_rollup_range *out);
/* Whether the plan r[0..n) reads block x of level lvl (lvl 0: raw step x). */
int mt_rollup_wanted(const struct mt_rollup_range *r, size_t n, int lvl, long long x);

/* The answer from blocks and points given in step order (each block whole
 * inside one bucket, as the plan's are; points in series order). */
struct mt_rollup_sampler;
struct mt_rollup_sampler *mt_rollup_sampler_new(struct mt_arena *ar, long long min_step,
						long long max_step, long long max_points);
void mt_rollup_sampler_point(struct mt_rollup_sampler *s, long long step, long long ts, double v);
void mt_rollup_sampler_block(struct mt_rollup_sampler *s, const struct mt_rollup_block *b);
/* The answer (arena memory, mt_sample's order), for a series of more than
 * max_points points.  Call once. */
void mt_rollup_sampler_finish(struct mt_rollup_sampler *s, const struct mt_sample_point **out,
			      size_t *n);
/* Points seen (blocks' included). */
long long mt_rollup_sampler_count(const struct mt_rollup_sampler *s);

#endif
