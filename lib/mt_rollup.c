/* mt_rollup.c: block aggregates for get-history-sampled (see mt_rollup.h). */
#include <stdlib.h>
#include <string.h>

#include "mt_rollup.h"

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

int mt_rollup_cmp(double a, double b)
{
	if (a != a)
		return b != b ? 0 : 1;
	if (b != b)
		return -1;
	return a < b ? -1 : a > b;
}

static i128 width(int lvl)
{
	return (i128)1 << (2 * lvl);
}

static i128 fdiv(i128 a, i128 w)
{
	i128 q = a / w;

	if (a % w != 0 && a < 0)
		q--;
	return q;
}

long long mt_rollup_blk(long long step, int lvl)
{
	return (long long)fdiv(step, width(lvl));
}

long long mt_rollup_blk_first(int lvl, long long blk)
{
	return (long long)((i128)blk * width(lvl));
}

long long mt_rollup_blk_last(int lvl, long long blk)
{
	return (long long)((i128)blk * width(lvl) + width(lvl) - 1);
}

void mt_rollup_acc_init(struct mt_rollup_acc *acc)
{
	memset(acc, 0, sizeof(*acc));
}

/* As mt_sample_add does within a bucket: strict comparisons keep the
 * earliest of equal values; each pick answers its group's first value. */
void mt_rollup_acc_point(struct mt_rollup_acc *acc, long long step, long long ts, double v)
{
	struct mt_rollup_agg *a = &acc->a;

	if (a->n == 0) {
		a->first = a->lo = a->hi = a->last = (struct mt_rollup_pick){ step, ts, v };
		a->vlo = a->vhi = v;
		acc->gstep = step;
		acc->gts = ts;
		acc->gfirst = v;
		a->n = 1;
		return;
	}
	if (step != acc->gstep || ts != acc->gts) {
		acc->gstep = step;
		acc->gts = ts;
		acc->gfirst = v;
	}
	if (mt_rollup_cmp(v, a->vlo) < 0) {
		a->vlo = v;
		a->lo = (struct mt_rollup_pick){ step, ts, acc->gfirst };
	}
	if (mt_rollup_cmp(v, a->vhi) > 0) {
		a->vhi = v;
		a->hi = (struct mt_rollup_pick){ step, ts, acc->gfirst };
	}
	a->last = (struct mt_rollup_pick){ step, ts, acc->gfirst };
	a->n++;
}

void mt_rollup_merge(struct mt_rollup_agg *a, const struct mt_rollup_agg *b)
{
	if (b->n == 0)
		return;
	if (a->n == 0) {
		*a = *b;
		return;
	}
	if (mt_rollup_cmp(b->vlo, a->vlo) < 0) {
		a->vlo = b->vlo;
		a->lo = b->lo;
	}
	if (mt_rollup_cmp(b->vhi, a->vhi) > 0) {
		a->vhi = b->vhi;
		a->hi = b->hi;
	}
	a->last = b->last;
	a->n += b->n;
}

/* A point that comes after *prev (when there is one, after) in series
 * order, never the same (step, timestamp, value) twice: 0, and it is the
 * new *prev; else -1 (MT_EINTERNAL, with both points in the log detail). */
static int next_point(struct mt_rollup_pick *prev, int after, long long step, long long ts,
		      double v, struct mt_err *err)
{
	if (after && (step < prev->step || (step == prev->step && ts < prev->ts) ||
		      (step == prev->step && ts == prev->ts &&
		       mt_rollup_cmp(v, prev->value) <= 0))) {
		mt_err_set(err, MT_EINTERNAL, "sampled history: points out of order");
		return mt_err_detail(err, "(%lld, %lld, %g) after (%lld, %lld, %g)", step, ts, v,
				     prev->step, prev->ts, prev->value);
	}
	*prev = (struct mt_rollup_pick){ step, ts, v };
	return 0;
}

void mt_rollup_builder_init(struct mt_rollup_builder *bd, int lvl)
{
	memset(bd, 0, sizeof(*bd));
	bd->lvl = lvl;
}

static void builder_close(struct mt_rollup_builder *bd)
{
	if (bd->n)
		bd->b[bd->n - 1].a = bd->acc.a;
}

int mt_rollup_builder_point(void *ctx, long long step, long long ts, double v, struct mt_err *err)
{
	struct mt_rollup_builder *bd = ctx;
	long long blk = mt_rollup_blk(step, bd->lvl);

	if (next_point(&bd->prev, bd->n > 0, step, ts, v, err))
		return -1;
	if (bd->n == 0 || bd->b[bd->n - 1].blk != blk) {
		builder_close(bd);
		if (bd->n == bd->cap) {
			size_t cap = bd->cap ? 2 * bd->cap : 256;
			struct mt_rollup_block *b = realloc(bd->b, sizeof(*b) * cap);

			if (!b)
				return mt_err_set(err, MT_EINTERNAL, "out of memory");
			bd->b = b;
			bd->cap = cap;
		}
		bd->b[bd->n++] = (struct mt_rollup_block){ .lvl = bd->lvl, .blk = blk };
		mt_rollup_acc_init(&bd->acc);
	}
	mt_rollup_acc_point(&bd->acc, step, ts, v);
	return 0;
}

void mt_rollup_builder_finish(struct mt_rollup_builder *bd, struct mt_rollup_block **out,
			      size_t *nout)
{
	builder_close(bd);
	*out = bd->b;
	*nout = bd->n;
	bd->b = NULL;
	bd->n = bd->cap = 0;
}

void mt_rollup_builder_release(struct mt_rollup_builder *bd)
{
	free(bd->b);
	bd->b = NULL;
	bd->n = bd->cap = 0;
}

size_t mt_rollup_parents(struct mt_rollup_block *c, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		struct mt_rollup_block ci = c[i]; /* c[k - 1] may be c[i] */
		long long pb = (long long)fdiv(ci.blk, 4);

		if (k == 0 || c[k - 1].blk != pb)
			c[k++] = (struct mt_rollup_block){ .lvl = ci.lvl + 1, .blk = pb };
		mt_rollup_merge(&c[k - 1].a, &ci.a);
	}
	return k;
}

/* ---- a rebuild, streaming ---- */

static int cascade_push(struct mt_rollup_cascade *c, int lvl, const struct mt_rollup_block *ch,
			struct mt_err *err);

/* Hand the open block of lvl to emit and to its parent. */
static int cascade_close(struct mt_rollup_cascade *c, int lvl, struct mt_err *err)
{
	struct mt_rollup_block b = c->open[lvl];

	c->open[lvl].lvl = 0;
	if (b.lvl == 0 || b.a.n == 0)
		return 0;
	if (c->emit(c->ctx, &b, err))
		return -1;
	return lvl < MT_ROLLUP_LMAX ? cascade_push(c, lvl + 1, &b, err) : 0;
}

/* Open block blk of lvl, closing the one open before it. */
static int cascade_open(struct mt_rollup_cascade *c, int lvl, long long blk, struct mt_err *err)
{
	if (c->open[lvl].lvl && c->open[lvl].blk == blk)
		return 0;
	if (c->open[lvl].lvl && cascade_close(c, lvl, err))
		return -1;
	c->open[lvl] = (struct mt_rollup_block){ .lvl = lvl, .blk = blk };
	if (lvl == MT_ROLLUP_LMIN)
		mt_rollup_acc_init(&c->acc);
	return 0;
}

/* A complete child (level lvl - 1) into its parent at lvl. */
static int cascade_push(struct mt_rollup_cascade *c, int lvl, const struct mt_rollup_block *ch,
			struct mt_err *err)
{
	if (cascade_open(c, lvl, (long long)fdiv(ch->blk, 4), err))
		return -1;
	mt_rollup_merge(&c->open[lvl].a, &ch->a);
	return 0;
}

static int cascade_bad(struct mt_err *err, const struct mt_rollup_block *b)
{
	mt_err_set(err, MT_EINTERNAL, "sampled history: a rollup neighbour out of place");
	return mt_err_detail(err, "level %d block %lld", b->lvl, b->blk);
}

int mt_rollup_cascade_init(struct mt_rollup_cascade *c, long long dlo, long long dhi,
			   const struct mt_rollup_block *left, size_t nleft,
			   mt_rollup_emit_fn *emit, void *ctx, struct mt_err *err)
{
	memset(c, 0, sizeof(*c));
	c->dlo = dlo;
	c->dhi = dhi;
	c->emit = emit;
	c->ctx = ctx;
	for (int l = MT_ROLLUP_LMIN; l <= MT_ROLLUP_LMAX; l++)
		c->open[l] = (struct mt_rollup_block){ .lvl = l, .blk = mt_rollup_blk(dlo, l) };
	mt_rollup_acc_init(&c->acc);
	for (size_t i = 0; i < nleft; i++) {
		const struct mt_rollup_block *b = &left[i];

		if (b->lvl < MT_ROLLUP_LMIN || b->lvl >= MT_ROLLUP_LMAX ||
		    b->blk >= mt_rollup_blk(dlo, b->lvl) ||
		    fdiv(b->blk, 4) != c->open[b->lvl + 1].blk)
			return cascade_bad(err, b);
		mt_rollup_merge(&c->open[b->lvl + 1].a, &b->a);
	}
	return 0;
}

int mt_rollup_cascade_point(void *ctx, long long step, long long ts, double v, struct mt_err *err)
{
	struct mt_rollup_cascade *c = ctx;

	if (next_point(&c->prev, c->npoints > 0, step, ts, v, err))
		return -1;
	c->npoints++;
	if (cascade_open(c, MT_ROLLUP_LMIN, mt_rollup_blk(step, MT_ROLLUP_LMIN), err))
		return -1;
	mt_rollup_acc_point(&c->acc, step, ts, v);
	c->open[MT_ROLLUP_LMIN].a = c->acc.a;
	return 0;
}

int mt_rollup_cascade_finish(struct mt_rollup_cascade *c, const struct mt_rollup_block *right,
			     size_t nright, struct mt_err *err)
{
	size_t k = 0;

	for (int l = MT_ROLLUP_LMIN; l <= MT_ROLLUP_LMAX; l++) {
		if (cascade_open(c, l, mt_rollup_blk(c->dhi, l), err))
			return -1;
		for (; k < nright && right[k].lvl == l - 1; k++) {
			if (right[k].blk <= mt_rollup_blk(c->dhi, l - 1) ||
			    fdiv(right[k].blk, 4) != c->open[l].blk)
				return cascade_bad(err, &right[k]);
			mt_rollup_merge(&c->open[l].a, &right[k].a);
		}
		if (cascade_close(c, l, err))
			return -1;
	}
	return k == nright ? 0 : cascade_bad(err, &right[k]);
}

/* ---- the plan of a read ---- */

struct plan {
	struct mt_arena *ar;
	struct mt_rollup_range *r;
	size_t n, cap;
	size_t last[MT_ROLLUP_LMAX + 1]; /* 1 + index of each level's last range */
};

static void emit(struct plan *p, int lvl, long long lo, long long hi)
{
	size_t k = p->last[lvl];

	if (k && p->r[k - 1].hi + 1 == lo) { /* hi < lo: no overflow */
		p->r[k - 1].hi = hi;
		return;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		struct mt_rollup_range *r = mt_arena_alloc(p->ar, sizeof(*r) * cap);

		if (p->n)
			memcpy(r, p->r, sizeof(*r) * p->n);
		p->r = r;
		p->cap = cap;
	}
	p->r[p->n++] = (struct mt_rollup_range){ lvl, lo, hi };
	p->last[lvl] = p->n;
}

/* Steps [a, end): the coarsest aligned whole blocks that fit, raw steps
 * where none does (or everywhere, raw). */
static void cover(struct plan *p, i128 a, i128 end, int raw)
{
	while (a < end) {
		unsigned long long ua = (unsigned long long)(long long)a;
		int az = ua ? __builtin_ctzll(ua) / 2 : MT_ROLLUP_LMAX;
		int lvl = 0;
		i128 w;

		while (!raw && lvl < MT_ROLLUP_LMAX && lvl + 1 <= az && width(lvl + 1) <= end - a)
			lvl++;
		if (!raw && lvl >= MT_ROLLUP_LMIN) {
			w = width(lvl);
			emit(p, lvl, (long long)fdiv(a, w), (long long)fdiv(a, w));
			a += w;
			continue;
		}
		w = width(MT_ROLLUP_LMIN);
		{
			i128 next = raw ? end : fdiv(a, w) * w + w;

			if (next > end)
				next = end;
			emit(p, 0, (long long)a, (long long)(next - 1));
			a = next;
		}
	}
}

static int range_cmp(const void *x, const void *y)
{
	const struct mt_rollup_range *a = x, *b = y;

	if (a->lvl != b->lvl)
		return a->lvl < b->lvl ? -1 : 1;
	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

void mt_rollup_plan(struct mt_arena *ar, long long min_step, long long max_step,
		    long long max_points, int dirty, long long dirty_lo, long long dirty_hi,
		    struct mt_rollup_range **out, size_t *nout)
{
	struct plan p = { .ar = ar };
	unsigned long long nb = (unsigned long long)(max_points / 4 > 0 ? max_points / 4 : 1);
	u128 w = (u128)((unsigned long long)max_step - (unsigned long long)min_step) + 1;
	i128 dlo = dirty_lo, dend = (i128)dirty_hi + 1;

	for (unsigned long long k = 0; k < nb; k++) {
		i128 s = min_step + (i128)((k * w + nb - 1) / nb);
		i128 e = min_step + (i128)(((k + 1) * w + nb - 1) / nb);

		if (s >= e)
			continue;
		if (!dirty || dend <= s || dlo >= e) {
			cover(&p, s, e, 0);
			continue;
		}
		if (s < dlo)
			cover(&p, s, dlo, 0);
		cover(&p, s > dlo ? s : dlo, e < dend ? e : dend, 1);
		if (dend < e)
			cover(&p, dend, e, 0);
	}
	if (p.n)
		qsort(p.r, p.n, sizeof(*p.r), range_cmp);
	*out = p.r;
	*nout = p.n;
}

size_t mt_rollup_coalesce(const struct mt_rollup_range *r, size_t n, long long gap,
			  struct mt_rollup_range *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (k && out[k - 1].lvl == r[i].lvl &&
		    (i128)r[i].lo - out[k - 1].hi - 1 <= (i128)gap) {
			out[k - 1].hi = r[i].hi;
			continue;
		}
		out[k++] = r[i];
	}
	return k;
}

int mt_rollup_wanted(const struct mt_rollup_range *r, size_t n, int lvl, long long x)
{
	size_t lo = 0, hi = n;

	/* the first range after (lvl, x) */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r[mid].lvl < lvl || (r[mid].lvl == lvl && r[mid].lo <= x))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && r[lo - 1].lvl == lvl && r[lo - 1].lo <= x && x <= r[lo - 1].hi;
}

/* ---- the answer ---- */

struct mt_rollup_sampler {
	long long min_step, count;
	unsigned long long nb, bucket;
	u128 w;
	int open;
	struct mt_rollup_acc acc;
	struct mt_sample_point *out;
	size_t nout;
};

struct mt_rollup_sampler *mt_rollup_sampler_new(struct mt_arena *ar, long long min_step,
						long long max_step, long long max_points)
{
	struct mt_rollup_sampler *s = mt_arena_alloc(ar, sizeof(*s));
	long long nb = max_points / 4 > 0 ? max_points / 4 : 1;

	memset(s, 0, sizeof(*s));
	s->min_step = min_step;
	s->nb = (unsigned long long)nb;
	s->w = (u128)((unsigned long long)max_step - (unsigned long long)min_step) + 1;
	s->out = mt_arena_alloc(ar, sizeof(*s->out) * 4 * (size_t)nb);
	return s;
}

static struct mt_sample_point as_point(const struct mt_rollup_pick *p)
{
	return (struct mt_sample_point){ p->step, p->ts, p->value };
}

/* The bucket's points, as mt_sample answers a bucket. */
static void flush(struct mt_rollup_sampler *s)
{
	const struct mt_rollup_agg *a = &s->acc.a;
	const struct mt_sample_point picks[4] = { as_point(&a->first), as_point(&a->lo),
						  as_point(&a->hi), as_point(&a->last) };

	if (!s->open)
		return;
	s->nout += mt_sample_bucket_points(s->out + s->nout, picks);
	s->open = 0;
}

static void enter(struct mt_rollup_sampler *s, long long step)
{
	u128 off = (u128)((unsigned long long)step - (unsigned long long)s->min_step);
	unsigned long long b = (unsigned long long)(off * s->nb / s->w);

	if (s->open && b == s->bucket)
		return;
	flush(s);
	mt_rollup_acc_init(&s->acc);
	s->bucket = b;
	s->open = 1;
}

void mt_rollup_sampler_point(struct mt_rollup_sampler *s, long long step, long long ts, double v)
{
	enter(s, step);
	mt_rollup_acc_point(&s->acc, step, ts, v);
	s->count++;
}

void mt_rollup_sampler_block(struct mt_rollup_sampler *s, const struct mt_rollup_block *b)
{
	if (b->a.n == 0)
		return;
	enter(s, b->a.first.step);
	mt_rollup_merge(&s->acc.a, &b->a);
	/* the next point is at a later step: a new (step, timestamp) */
	s->acc.gstep = b->a.last.step;
	s->acc.gts = b->a.last.ts;
	s->acc.gfirst = b->a.last.value;
	s->count += b->a.n;
}

void mt_rollup_sampler_finish(struct mt_rollup_sampler *s, const struct mt_sample_point **out,
			      size_t *n)
{
	flush(s);
	*out = s->out;
	*n = s->nout;
}

long long mt_rollup_sampler_count(const struct mt_rollup_sampler *s)
{
	return s->count;
}
