/* check_sample.c: the one-pass sample of get-history-sampled (lib/mt_sample)
 * against a direct reading of the SQL it replaced, and its binary COPY
 * parser. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_check.h"
#include "mt_sample.h"

__extension__ typedef __int128 i128;

static struct mt_arena arena;

static void setup(void)
{
	mt_arena_init(&arena);
}

static void teardown(void)
{
	mt_arena_release(&arena);
}

static int fcmp(double a, double b) /* PostgreSQL's float8 order */
{
	if (isnan(a))
		return isnan(b) ? 0 : 1;
	if (isnan(b))
		return -1;
	return a < b ? -1 : a > b;
}

static int pt_cmp(const void *x, const void *y)
{
	const struct mt_sample_point *a = x, *b = y;

	if (a->step != b->step)
		return a->step < b->step ? -1 : 1;
	if (a->timestamp != b->timestamp)
		return a->timestamp < b->timestamp ? -1 : 1;
	return fcmp(a->value, b->value);
}

static int same_key(const struct mt_sample_point *a, const struct mt_sample_point *b)
{
	return a->step == b->step && a->timestamp == b->timestamp;
}

/* The SQL, read literally: width_bucket of each point; per bucket the keys
 * of the first and last (step, timestamp) and of the earliest smallest and
 * largest value; every point at a chosen key, one per key, the smallest. */
static size_t reference(const struct mt_sample_point *p, size_t n, long long max_points,
			struct mt_sample_point *out)
{
	long long nb = max_points / 4 > 0 ? max_points / 4 : 1;
	long long lo = p[0].step, hi = p[n - 1].step;
	char *chosen = calloc(n, 1);
	size_t nout = 0;

	if ((long long)n <= max_points) {
		memcpy(out, p, n * sizeof(*p));
		free(chosen);
		return n;
	}
	for (size_t i = 0; i < n;) {
		i128 b = ((i128)p[i].step - lo) * nb / ((i128)hi - lo + 1);
		size_t j = i, imin = i, imax = i, last = i;

		for (; j < n && ((i128)p[j].step - lo) * nb / ((i128)hi - lo + 1) == b; j++) {
			if (fcmp(p[j].value, p[imin].value) < 0)
				imin = j;
			if (fcmp(p[j].value, p[imax].value) > 0)
				imax = j;
			last = j;
		}
		chosen[i] = chosen[imin] = chosen[imax] = chosen[last] = 1;
		i = j;
	}
	for (size_t i = 0; i < n; i++) {
		size_t g = i; /* the first point of i's (step, timestamp) */
		int any = 0;

		if (i > 0 && same_key(&p[i - 1], &p[i]))
			continue;
		for (; g < n && same_key(&p[g], &p[i]); g++)
			any |= chosen[g];
		if (any)
			out[nout++] = p[i];
	}
	free(chosen);
	return nout;
}

/* The text COPY of pts, as PostgreSQL writes it. */
static unsigned char *encode(const struct mt_sample_point *p, size_t n, size_t *len)
{
	char *buf = malloc(80 * n + 1), *q = buf;

	for (size_t i = 0; i < n; i++) {
		double v = p[i].value;

		q += sprintf(q, "%lld\t%lld\t", p[i].step, p[i].timestamp);
		if (isnan(v))
			q += sprintf(q, "NaN\n");
		else if (isinf(v))
			q += sprintf(q, "%sInfinity\n", v < 0 ? "-" : "");
		else
			q += sprintf(q, "%.17g\n", v);
	}
	*len = (size_t)(q - buf);
	return (unsigned char *)buf;
}

static void check_same(const struct mt_sample_point *got, size_t ngot,
		       const struct mt_sample_point *want, size_t nwant)
{
	ck_assert_uint_eq(ngot, nwant);
	for (size_t i = 0; i < ngot; i++) {
		ck_assert_int_eq(got[i].step, want[i].step);
		ck_assert_int_eq(got[i].timestamp, want[i].timestamp);
		ck_assert_int_eq(fcmp(got[i].value, want[i].value), 0);
		ck_assert_int_eq(signbit(got[i].value), signbit(want[i].value));
	}
}

/* Sample p both ways (points; COPY bytes cut at random) and compare. */
static void run_case(struct mt_sample_point *p, size_t n, long long max_points, unsigned *seed)
{
	struct mt_sample_point *want = malloc(sizeof(*want) * (n + 1));
	const struct mt_sample_point *got;
	size_t nwant, ngot, len, off = 0;
	struct mt_err err = MT_ERR_INIT;
	struct mt_sample *s;
	unsigned char *bytes;

	qsort(p, n, sizeof(*p), pt_cmp);
	nwant = reference(p, n, max_points, want);

	s = mt_sample_new(&arena, p[0].step, p[n - 1].step, max_points);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(mt_sample_add(s, p[i].step, p[i].timestamp, p[i].value, &err), 0);
	ck_assert_int_eq(mt_sample_finish(s, &got, &ngot, &err), 0);
	check_same(got, ngot, want, nwant);
	ck_assert_uint_le(ngot, (size_t)(max_points < 4 ? 4 : max_points));

	bytes = encode(p, n, &len);
	s = mt_sample_new(&arena, p[0].step, p[n - 1].step, max_points);
	while (off < len) {
		size_t k = (size_t)rand_r(seed) % 80 + 1;

		if (k > len - off)
			k = len - off;
		ck_assert_msg(mt_sample_feed(s, bytes + off, k, &err) == 0, "%s", err.log_detail);
		off += k;
	}
	ck_assert_int_eq(mt_sample_count(s), (long long)n);
	ck_assert_int_eq(mt_sample_finish(s, &got, &ngot, &err), 0);
	check_same(got, ngot, want, nwant);
	free(bytes);
	free(want);
}

/* Random series with repeated (step, timestamp), repeated values, NaN,
 * infinities and -0, over small and int64-wide step ranges. */
START_TEST(test_matches_reference)
{
	static const double special[] = { NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.0, -1.0 };
	unsigned seed = 12345;

	for (int round = 0; round < 300; round++) {
		size_t n = (size_t)rand_r(&seed) % 3000 + 1;
		struct mt_sample_point *p = malloc(sizeof(*p) * n);
		long long max_points = (long long)(rand_r(&seed) % 400) + 1;
		int wide = round % 3;
		size_t m = 0;

		for (size_t i = 0; i < n; i++) {
			long long step;

			if (wide == 0)
				step = rand_r(&seed) % 500;
			else if (wide == 1)
				step = (long long)(((uint64_t)rand_r(&seed) << 44) ^
						   ((uint64_t)rand_r(&seed) << 13) ^ (uint64_t)rand_r(&seed));
			else
				step = rand_r(&seed) % 4 == 0 ? (rand_r(&seed) % 2 ? INT64_MAX - rand_r(&seed) % 3
									   : INT64_MIN + rand_r(&seed) % 3)
							      : (long long)rand_r(&seed) - RAND_MAX / 2;
			p[m].step = step;
			p[m].timestamp = rand_r(&seed) % 3;
			p[m].value = rand_r(&seed) % 5 == 0 ? special[rand_r(&seed) % 7]
							    : (double)(rand_r(&seed) % 20);
			/* the primary key: no two equal (step, timestamp, value) */
			m++;
			for (size_t j = 0; j + 1 < m; j++)
				if (p[j].step == p[m - 1].step && p[j].timestamp == p[m - 1].timestamp &&
				    fcmp(p[j].value, p[m - 1].value) == 0) {
					m--;
					break;
				}
		}
		run_case(p, m, max_points, &seed);
		free(p);
	}
}
END_TEST

/* The whole int64 range in four buckets: boundaries at exact quarters. */
START_TEST(test_int64_extremes)
{
	struct mt_sample_point p[] = {
		{ INT64_MIN, 0, 5 }, { INT64_MIN, 1, 1 }, { -4611686018427387905LL, 0, 9 },
		{ -4611686018427387904LL, 0, 2 }, { -1, 0, 3 }, { 0, 0, 4 }, { 1, 0, -7 },
		{ INT64_MAX - 1, 0, 8 }, { INT64_MAX, 0, 6 }, { INT64_MAX, 0, NAN },
	};
	unsigned seed = 7;
	struct mt_err err = MT_ERR_INIT;
	struct mt_sample *s;
	const struct mt_sample_point *got;
	size_t n;

	for (long long max = 4; max <= 16; max += 4)
		run_case(p, sizeof(p) / sizeof(p[0]), max, &seed);
	/* A step outside the announced range is refused, not bucketed. */
	s = mt_sample_new(&arena, 0, 10, 16);
	ck_assert_int_eq(mt_sample_add(s, 11, 0, 1, &err), -1);
	ck_assert_int_eq(err.code, MT_EINTERNAL);
	ck_assert_int_eq(mt_sample_add(s, 5, 0, 1, &err), 0);
	ck_assert_int_eq(mt_sample_add(s, 4, 0, 1, &err), -1); /* out of order */
	ck_assert_int_eq(mt_sample_finish(s, &got, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
}
END_TEST

/* Four points from a long series are its first, lowest, highest, last. */
START_TEST(test_four_points)
{
	struct mt_err err = MT_ERR_INIT;
	struct mt_sample *s = mt_sample_new(&arena, 0, 999, 4);
	const struct mt_sample_point *got;
	size_t n;

	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(mt_sample_add(s, i, i, i == 211 ? -1000 : i == 537 ? NAN : i % 50,
					       &err), 0);
	ck_assert_int_eq(mt_sample_finish(s, &got, &n, &err), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(got[0].step, 0);
	ck_assert_int_eq(got[1].step, 211);
	ck_assert_int_eq(got[2].step, 537); /* NaN is the largest value */
	ck_assert(isnan(got[2].value));
	ck_assert_int_eq(got[3].step, 999);
}
END_TEST

static int feed_all(const unsigned char *b, size_t len, struct mt_err *err, size_t *count)
{
	struct mt_sample *s = mt_sample_new(&arena, 0, 100, 10);
	const struct mt_sample_point *got;
	size_t n;
	int rc = mt_sample_feed(s, b, len, err);

	if (rc == 0)
		rc = mt_sample_finish(s, &got, &n, err);
	*count = (size_t)mt_sample_count(s);
	return rc;
}

START_TEST(test_copy_errors)
{
	static const char *bad[] = {
		"1\t2\t\\N\n", "1\t2\n", "1\t2\t3\t4\n", "x\t2\t3\n", "1\t2\t3x\n", "1\t\t3\n",
		"99999999999999999999\t2\t3\n", "1\t2\t\n", "1 \t2\t3\n", "1\t2\t 3\n",
		"1\t2\t3", /* ends inside a line */
		"1\t2\t3\n2\t1\t3\n1\t2\t3\n", /* out of order */
		"101\t2\t3\n", /* outside [0, 100] */
	};
	struct mt_sample_point p[3] = { { 1, 2, 3.5 }, { 4, 5, -0.0 }, { 4, 6, NAN } };
	struct mt_err err = MT_ERR_INIT;
	size_t len, count;
	unsigned char *b = encode(p, 3, &len);
	char longline[300];

	ck_assert_int_eq(feed_all(b, len, &err, &count), 0);
	ck_assert_uint_eq(count, 3);
	/* cut anywhere: never a crash; an error unless cut after a line */
	for (size_t k = 0; k < len; k++) {
		mt_err_clear(&err);
		ck_assert_int_eq(feed_all(b, k, &err, &count), k == 0 || b[k - 1] == '\n' ? 0 : -1);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mt_err_clear(&err);
		ck_assert_msg(feed_all((const unsigned char *)bad[i], strlen(bad[i]), &err, &count) == -1,
			      "accepted %s", bad[i]);
		ck_assert_int_eq(err.code, MT_EINTERNAL);
	}
	memset(longline, '1', sizeof(longline));
	ck_assert_int_eq(feed_all((unsigned char *)longline, sizeof(longline), &err, &count), -1);
	ck_assert_str_eq(err.msg, "sampled history: unreadable COPY data");
	free(b);
}
END_TEST

Suite *make_sample_suite(void)
{
	Suite *s = suite_create("sample");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_matches_reference);
	tcase_add_test(tc, test_int64_extremes);
	tcase_add_test(tc, test_four_points);
	tcase_add_test(tc, test_copy_errors);
	suite_add_tcase(s, tc);
	return s;
}
