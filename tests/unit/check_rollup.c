/* check_rollup.c: get-history-sampled from block aggregates (lib/mt_rollup)
 * against the one pass over every point (lib/mt_sample, itself checked
 * against the SQL it replaced in check_sample.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mt_check.h"
#include "mt_rollup.h"

static struct mt_arena arena;

static void setup(void)
{
	mt_arena_init(&arena);
}

static void teardown(void)
{
	mt_arena_release(&arena);
}

static int pt_cmp(const void *x, const void *y)
{
	const struct mt_sample_point *a = x, *b = y;

	if (a->step != b->step)
		return a->step < b->step ? -1 : 1;
	if (a->timestamp != b->timestamp)
		return a->timestamp < b->timestamp ? -1 : 1;
	return mt_rollup_cmp(a->value, b->value);
}

/* Whether step x is in one of the sorted, disjoint raw ranges r[0..n). */
static int bsearch_raw(const struct mt_rollup_range *r, size_t n, long long x)
{
	size_t lo = 0, hi = n;

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (r[mid].lo <= x)
			lo = mid;
		else
			hi = mid;
	}
	return n && r[lo].lo <= x && x <= r[lo].hi;
}

/* A block or a raw point, in step order for the sampler. */
struct item {
	long long step, ts;
	double v;
	const struct mt_rollup_block *b;
};

static int item_cmp(const void *x, const void *y)
{
	const struct item *a = x, *b = y;
	struct mt_sample_point pa = { a->step, a->ts, a->v }, pb = { b->step, b->ts, b->v };

	return pt_cmp(&pa, &pb);
}

/* Every level of the rollup of sorted p, as the server keeps it. */
static struct mt_rollup_block *build_all(const struct mt_sample_point *p, size_t n, size_t *nall)
{
	struct mt_rollup_block *lv, *all = NULL;
	size_t nlv, k = 0;
	struct mt_rollup_builder bd;
	struct mt_err err = MT_ERR_INIT;

	mt_rollup_builder_init(&bd, MT_ROLLUP_LMIN);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(mt_rollup_builder_point(&bd, p[i].step, p[i].timestamp, p[i].value,
							 &err), 0);
	if (n > 1) /* out of order, or a point again: refused */
		ck_assert_int_eq(mt_rollup_builder_point(&bd, p[n - 1].step, p[n - 1].timestamp,
							 p[n - 1].value, &err), -1);
	mt_rollup_builder_finish(&bd, &lv, &nlv);
	mt_rollup_builder_release(&bd);
	all = malloc(sizeof(*all) * (nlv + 1) * (MT_ROLLUP_LMAX - MT_ROLLUP_LMIN + 1));
	for (int l = MT_ROLLUP_LMIN;; l++) {
		memcpy(all + k, lv, sizeof(*lv) * nlv);
		k += nlv;
		if (l == MT_ROLLUP_LMAX)
			break;
		nlv = mt_rollup_parents(lv, nlv);
	}
	free(lv);
	*nall = k;
	return all;
}

/* The answer from the rollup for max_points, with steps [dlo, dhi] dirty
 * (their blocks poisoned: the plan must not read them). */
static void run_case(const struct mt_sample_point *p, size_t n, long long max_points, int dirty,
		     long long dlo, long long dhi, long long gap)
{
	size_t nall, nr, nraw = 0, ni = 0, nfr, ngot, nwant;
	struct mt_rollup_block *all = build_all(p, n, &nall);
	struct mt_rollup_range *r, *raw, *fr;
	struct item *it;
	struct mt_rollup_sampler *rs;
	struct mt_sample *s;
	const struct mt_sample_point *got, *want;
	struct mt_err err = MT_ERR_INIT;

	for (size_t i = 0; i < nall; i++)
		if (dirty && mt_rollup_blk_first(all[i].lvl, all[i].blk) <= dhi &&
		    mt_rollup_blk_last(all[i].lvl, all[i].blk) >= dlo)
			all[i].a.vlo = all[i].a.vhi = -INFINITY, all[i].a.n = -1000000;
	mt_rollup_plan(&arena, p[0].step, p[n - 1].step, max_points, dirty, dlo, dhi, &r, &nr);
	for (size_t i = 0; i < nr; i++) {
		if (i) /* sorted by (lvl, lo), disjoint */
			ck_assert(r[i - 1].lvl < r[i].lvl || r[i - 1].hi < r[i].lo);
		if (r[i].lvl == 0)
			continue;
		ck_assert_int_ge(r[i].lvl, MT_ROLLUP_LMIN);
		ck_assert_int_le(r[i].lvl, MT_ROLLUP_LMAX);
		/* the plan never reads a block over the dirty steps */
		ck_assert(!dirty || mt_rollup_blk_first(r[i].lvl, r[i].lo) > dhi ||
			  mt_rollup_blk_last(r[i].lvl, r[i].hi) < dlo);
	}
	/* fetched as the server does: coalesced, then filtered */
	raw = malloc(sizeof(*raw) * (nr + 1));
	it = malloc(sizeof(*it) * (n + nall + 1));
	fr = malloc(sizeof(*fr) * (nr + 1));
	nfr = mt_rollup_coalesce(r, nr, gap, fr);
	ck_assert_uint_le(nfr, nr);
	for (size_t i = 0; i < nall; i++)
		if (mt_rollup_wanted(fr, nfr, all[i].lvl, all[i].blk) &&
		    mt_rollup_wanted(r, nr, all[i].lvl, all[i].blk))
			it[ni++] = (struct item){ all[i].a.first.step, all[i].a.first.ts,
						  all[i].a.first.value, &all[i] };
	for (size_t i = 0; i < nr; i++)
		if (r[i].lvl == 0)
			raw[nraw++] = r[i];
	for (size_t i = 0; i < n; i++) {
		int in = mt_rollup_wanted(fr, nfr, 0, p[i].step);

		ck_assert_int_eq(mt_rollup_wanted(r, nr, 0, p[i].step),
				 bsearch_raw(raw, nraw, p[i].step));
		if (in && mt_rollup_wanted(r, nr, 0, p[i].step))
			it[ni++] = (struct item){ p[i].step, p[i].timestamp, p[i].value, NULL };
	}
	qsort(it, ni, sizeof(*it), item_cmp);
	rs = mt_rollup_sampler_new(&arena, p[0].step, p[n - 1].step, max_points);
	for (size_t i = 0; i < ni; i++) {
		if (it[i].b)
			mt_rollup_sampler_block(rs, it[i].b);
		else
			mt_rollup_sampler_point(rs, it[i].step, it[i].ts, it[i].v);
	}
	ck_assert_int_eq(mt_rollup_sampler_count(rs), (long long)n);
	mt_rollup_sampler_finish(rs, &got, &ngot);

	s = mt_sample_new(&arena, p[0].step, p[n - 1].step, max_points);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(mt_sample_add(s, p[i].step, p[i].timestamp, p[i].value, &err), 0);
	ck_assert_int_eq(mt_sample_finish(s, &want, &nwant, &err), 0);
	if ((long long)n > max_points) {
		ck_assert_uint_eq(ngot, nwant);
		for (size_t i = 0; i < ngot; i++) {
			ck_assert_int_eq(got[i].step, want[i].step);
			ck_assert_int_eq(got[i].timestamp, want[i].timestamp);
			ck_assert_int_eq(mt_rollup_cmp(got[i].value, want[i].value), 0);
			ck_assert_int_eq(signbit(got[i].value), signbit(want[i].value));
		}
	}
	free(it);
	free(fr);
	free(raw);
	free(all);
}

static long long rnd_step(unsigned *seed, int wide)
{
	if (wide == 0)
		return rand_r(seed) % 500;
	if (wide == 1)
		return (long long)(((uint64_t)rand_r(seed) << 44) ^ ((uint64_t)rand_r(seed) << 13) ^
				   (uint64_t)rand_r(seed));
	if (wide == 2)
		return rand_r(seed) % 4 == 0 ? (rand_r(seed) % 2 ? INT64_MAX - rand_r(seed) % 3
								 : INT64_MIN + rand_r(seed) % 3)
					     : (long long)rand_r(seed) - RAND_MAX / 2;
	return rand_r(seed) % 100000 - 50000;
}

/* Random series (repeated (step, timestamp), repeated values, NaN,
 * infinities, -0, small and int64-wide steps), random max_points, with and
 * without a dirty range. */
START_TEST(test_matches_sample)
{
	static const double special[] = { NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.0, -1.0 };
	unsigned seed = 4242;

	for (int round = 0; round < 200; round++) {
		size_t n = (size_t)rand_r(&seed) % 3000 + 1;
		struct mt_sample_point *p = malloc(sizeof(*p) * n);
		int wide = round % 4;
		size_t m = 0;

		for (size_t i = 0; i < n; i++) {
			p[m].step = rnd_step(&seed, wide);
			p[m].timestamp = rand_r(&seed) % 3;
			p[m].value = rand_r(&seed) % 5 == 0 ? special[rand_r(&seed) % 7]
							    : (double)(rand_r(&seed) % 20);
			m++;
		}
		qsort(p, m, sizeof(*p), pt_cmp);
		n = m;
		m = 0;
		for (size_t i = 0; i < n; i++) /* the primary key: no equal points */
			if (m == 0 || pt_cmp(&p[m - 1], &p[i]) != 0)
				p[m++] = p[i];
		for (int k = 0; k < 4; k++) {
			long long max_points = (long long)(rand_r(&seed) % 400) + 1;
			long long a = p[(size_t)rand_r(&seed) % m].step;
			long long b = p[(size_t)rand_r(&seed) % m].step;

			if (k == 3)
				max_points = (long long)(rand_r(&seed) % 8) + 1;
			run_case(p, m, max_points, k == 0, a < b ? a : b, a < b ? b : a,
				 k == 1 ? 0 : rand_r(&seed) % 40);
			mt_arena_reset(&arena);
		}
		free(p);
	}
}
END_TEST

/* Long series: every step, a million wide; reads whole blocks. */
START_TEST(test_long_series)
{
	size_t n = 50000;
	struct mt_sample_point *p = malloc(sizeof(*p) * n);

	for (size_t i = 0; i < n; i++)
		p[i] = (struct mt_sample_point){ (long long)i * 5 - 7, (long long)i,
						 sin((double)i / 1000.0) + (double)(i % 7) / 10 };
	run_case(p, n, 1000, 0, 0, 0, 32);
	run_case(p, n, 1000, 1, 999000, 999010, 32);
	run_case(p, n, 10000, 1, -7, -7, 0);
	run_case(p, n, 4, 0, 0, 0, 32);
	free(p);
}
END_TEST

static int blk_order(const void *x, const void *y)
{
	const struct mt_rollup_block *a = x, *b = y;

	if (a->lvl != b->lvl)
		return a->lvl < b->lvl ? -1 : 1;
	return a->blk < b->blk ? -1 : a->blk > b->blk;
}

static int pick_eq(const struct mt_rollup_pick *a, const struct mt_rollup_pick *b)
{
	return a->step == b->step && a->ts == b->ts && mt_rollup_cmp(a->value, b->value) == 0;
}

struct emitted {
	struct mt_rollup_block *b;
	size_t n, cap;
	long long dlo, dhi;
};

static int collect(void *ctx, const struct mt_rollup_block *b, struct mt_err *err)
{
	struct emitted *e = ctx;

	(void)err;
	/* only blocks over the dirty steps, each once, in order per level */
	ck_assert(mt_rollup_blk(e->dlo, b->lvl) <= b->blk && b->blk <= mt_rollup_blk(e->dhi, b->lvl));
	ck_assert_int_gt(b->a.n, 0);
	ck_assert_uint_lt(e->n, e->cap);
	e->b[e->n++] = *b;
	return 0;
}

/* A rollup built from old points, then new points logged over [dlo, dhi]
 * and the blocks over those steps rebuilt by the cascade with their clean
 * neighbours: the same rollup as one built from every point. */
static void cascade_case(const struct mt_sample_point *p, size_t n, const char *old_mask,
			 long long dlo, long long dhi)
{
	struct mt_sample_point *op = malloc(sizeof(*op) * (n + 1));
	size_t nop = 0, nold, nnew, nl = 0, nr = 0, nres = 0;
	struct mt_rollup_block *old, *want, *left, *right, *res;
	struct emitted e = { .dlo = dlo, .dhi = dhi };
	struct mt_rollup_cascade c;
	struct mt_err err = MT_ERR_INIT;
	long long first = mt_rollup_blk_first(MT_ROLLUP_LMIN, mt_rollup_blk(dlo, MT_ROLLUP_LMIN));
	long long last = mt_rollup_blk_last(MT_ROLLUP_LMIN, mt_rollup_blk(dhi, MT_ROLLUP_LMIN));

	for (size_t i = 0; i < n; i++)
		if (old_mask[i] || p[i].step < dlo || p[i].step > dhi)
			op[nop++] = p[i];
	old = build_all(op, nop, &nold);
	want = build_all(p, n, &nnew);
	left = malloc(sizeof(*left) * (nold + 1));
	right = malloc(sizeof(*right) * (nold + 1));
	for (size_t i = 0; i < nold; i++) {
		int l = old[i].lvl;

		if (l == MT_ROLLUP_LMAX)
			continue;
		if (old[i].blk >= mt_rollup_blk(dlo, l + 1) * 4 && old[i].blk < mt_rollup_blk(dlo, l))
			left[nl++] = old[i];
		if (old[i].blk > mt_rollup_blk(dhi, l) && old[i].blk <= mt_rollup_blk(dhi, l + 1) * 4 + 3)
			right[nr++] = old[i];
	}
	qsort(left, nl, sizeof(*left), blk_order);
	qsort(right, nr, sizeof(*right), blk_order);
	e.cap = nnew + 1;
	e.b = malloc(sizeof(*e.b) * e.cap);
	ck_assert_int_eq(mt_rollup_cascade_init(&c, dlo, dhi, left, nl, collect, &e, &err), 0);
	for (size_t i = 0; i < n; i++)
		if (p[i].step >= first && p[i].step <= last)
			ck_assert_int_eq(mt_rollup_cascade_point(&c, p[i].step, p[i].timestamp,
								 p[i].value, &err), 0);
	ck_assert_msg(mt_rollup_cascade_finish(&c, right, nr, &err) == 0, "%s", err.log_detail);

	/* the old rollup without the blocks over the range, with the new ones */
	res = malloc(sizeof(*res) * (nold + e.n + 1));
	for (size_t i = 0; i < nold; i++)
		if (old[i].blk < mt_rollup_blk(dlo, old[i].lvl) ||
		    old[i].blk > mt_rollup_blk(dhi, old[i].lvl))
			res[nres++] = old[i];
	memcpy(res + nres, e.b, sizeof(*e.b) * e.n);
	nres += e.n;
	qsort(res, nres, sizeof(*res), blk_order);
	qsort(want, nnew, sizeof(*want), blk_order);
	ck_assert_uint_eq(nres, nnew);
	for (size_t i = 0; i < nres; i++) {
		const struct mt_rollup_agg *a = &res[i].a, *b = &want[i].a;

		ck_assert_int_eq(res[i].lvl, want[i].lvl);
		ck_assert_int_eq(res[i].blk, want[i].blk);
		ck_assert_int_eq(a->n, b->n);
		ck_assert(pick_eq(&a->first, &b->first) && pick_eq(&a->last, &b->last));
		ck_assert(pick_eq(&a->lo, &b->lo) && pick_eq(&a->hi, &b->hi));
		ck_assert_int_eq(mt_rollup_cmp(a->vhi, b->vhi), 0);
		ck_assert_int_eq(mt_rollup_cmp(a->vlo, b->vlo), 0);
	}
	free(res);
	free(e.b);
	free(left);
	free(right);
	free(want);
	free(old);
	free(op);
}

START_TEST(test_cascade_rebuild)
{
	static const double special[] = { NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.0, -1.0 };
	unsigned seed = 99;

	for (int round = 0; round < 80; round++) {
		size_t n = (size_t)rand_r(&seed) % 2000 + 1, m = 0;
		struct mt_sample_point *p = malloc(sizeof(*p) * n);
		char *mask = malloc(n);
		int wide = round % 4;

		for (size_t i = 0; i < n; i++)
			p[i] = (struct mt_sample_point){ rnd_step(&seed, wide), rand_r(&seed) % 3,
							 rand_r(&seed) % 5 == 0 ? special[rand_r(&seed) % 7]
										: (double)(rand_r(&seed) % 20) };
		qsort(p, n, sizeof(*p), pt_cmp);
		for (size_t i = 0; i < n; i++)
			if (m == 0 || pt_cmp(&p[m - 1], &p[i]) != 0)
				p[m++] = p[i];
		for (size_t i = 0; i < m; i++)
			mask[i] = rand_r(&seed) % 3 != 0;
		for (int k = 0; k < 3; k++) {
			long long a = p[(size_t)rand_r(&seed) % m].step;
			long long b = p[(size_t)rand_r(&seed) % m].step;

			if (k == 2) /* the whole of int64, as a series with no rollup yet */
				a = INT64_MIN, b = INT64_MAX;
			cascade_case(p, m, mask, a < b ? a : b, a < b ? b : a);
			mt_arena_reset(&arena);
		}
		free(mask);
		free(p);
	}
}
END_TEST

/* Blocks at the ends of int64, and the plan of a range of one step. */
START_TEST(test_block_bounds)
{
	struct mt_rollup_range *r;
	size_t nr;

	ck_assert_int_eq(mt_rollup_blk(INT64_MIN, MT_ROLLUP_LMAX), -2);
	ck_assert_int_eq(mt_rollup_blk(INT64_MAX, MT_ROLLUP_LMAX), 1);
	ck_assert_int_eq(mt_rollup_blk(-1, 2), -1);
	ck_assert_int_eq(mt_rollup_blk(-16, 2), -1);
	ck_assert_int_eq(mt_rollup_blk(-17, 2), -2);
	ck_assert_int_eq(mt_rollup_blk_first(MT_ROLLUP_LMAX, -2), INT64_MIN);
	ck_assert_int_eq(mt_rollup_blk_last(MT_ROLLUP_LMAX, 1), INT64_MAX);
	mt_rollup_plan(&arena, INT64_MIN, INT64_MAX, 4, 0, 0, 0, &r, &nr);
	ck_assert_uint_eq(nr, 1);
	ck_assert_int_eq(r[0].lvl, MT_ROLLUP_LMAX);
	ck_assert_int_eq(r[0].lo, -2);
	ck_assert_int_eq(r[0].hi, 1);
	mt_rollup_plan(&arena, 5, 5, 100, 0, 0, 0, &r, &nr);
	ck_assert_uint_eq(nr, 1);
	ck_assert_int_eq(r[0].lvl, 0);
}
END_TEST

Suite *make_rollup_suite(void)
{
	Suite *s = suite_create("rollup");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_matches_sample);
	tcase_add_test(tc, test_long_series);
	tcase_add_test(tc, test_cascade_rebuild);
	tcase_add_test(tc, test_block_bounds);
	suite_add_tcase(s, tc);
	return s;
}
