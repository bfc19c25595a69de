/* check_arena.c: request arena allocation, growth and cleanups. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "mt_arena.h"
#include "mt_check.h"

static int order[8];
static int norder;

static void note(void *p)
{
	order[norder++] = *(int *)p;
}

START_TEST(test_alloc_aligned_zeroed)
{
	struct mt_arena a;

	mt_arena_init(&a);
	for (int i = 1; i < 200; i++) {
		unsigned char *p = mt_arena_alloc(&a, (size_t)i * 37);

		ck_assert_uint_eq((uintptr_t)p % 16, 0);
		for (int k = 0; k < i * 37; k++)
			ck_assert_uint_eq(p[k], 0);
		memset(p, 0xab, (size_t)i * 37);
	}
	mt_arena_release(&a);
}
END_TEST

START_TEST(test_big_allocation)
{
	struct mt_arena a;
	char *p;

	mt_arena_init(&a);
	p = mt_arena_alloc(&a, 5 * 1024 * 1024);
	p[5 * 1024 * 1024 - 1] = 'z';
	mt_arena_reset(&a);
	p = mt_arena_alloc(&a, 10);
	ck_assert_ptr_nonnull(p);
	mt_arena_release(&a);
}
END_TEST

START_TEST(test_strings)
{
	struct mt_arena a;

	mt_arena_init(&a);
	ck_assert_str_eq(mt_arena_strdup(&a, "hello"), "hello");
	ck_assert_str_eq(mt_arena_strndup(&a, "hello", 3), "hel");
	ck_assert_str_eq(mt_arena_printf(&a, "%d-%s", 42, "x"), "42-x");
	ck_assert_ptr_null(mt_arena_strdup(&a, NULL));
	mt_arena_release(&a);
}
END_TEST

START_TEST(test_defer_lifo_on_reset)
{
	struct mt_arena a;
	int one = 1, two = 2, three = 3;

	norder = 0;
	mt_arena_init(&a);
	mt_arena_defer(&a, note, &one);
	mt_arena_defer(&a, note, &two);
	mt_arena_defer(&a, note, NULL); /* not registered */
	mt_arena_defer(&a, note, &three);
	mt_arena_reset(&a);
	ck_assert_int_eq(norder, 3);
	ck_assert_int_eq(order[0], 3);
	ck_assert_int_eq(order[1], 2);
	ck_assert_int_eq(order[2], 1);
	mt_arena_reset(&a); /* nothing runs twice */
	ck_assert_int_eq(norder, 3);
	mt_arena_defer(&a, note, &one);
	mt_arena_release(&a);
	ck_assert_int_eq(norder, 4);
}
END_TEST

/* What an arena owns: its blocks' memory, kept or not, never another
 * arena's or malloc's; after a reset only the kept first block. */
START_TEST(test_owns)
{
	struct mt_arena a, b;
	char *small, *big, *other, *heap = malloc(64);

	mt_arena_init(&a);
	mt_arena_init(&b);
	ck_assert(!mt_arena_owns(&a, heap));
	small = mt_arena_alloc_uninit(&a, 100);
	big = mt_arena_alloc_uninit(&a, 3 * 1024 * 1024); /* past BLOCK_MAX: a block of its own */
	other = mt_arena_alloc(&b, 10);
	memset(big, 7, 3 * 1024 * 1024);
	ck_assert(mt_arena_owns(&a, small));
	ck_assert(mt_arena_owns(&a, big));
	ck_assert(mt_arena_owns(&a, big + 3 * 1024 * 1024 - 1));
	ck_assert(!mt_arena_owns(&a, other));
	ck_assert(!mt_arena_owns(&b, small));
	ck_assert(!mt_arena_owns(&a, heap));
	mt_arena_reset(&a);
	ck_assert(mt_arena_owns(&a, small)); /* the kept block */
	ck_assert(!mt_arena_owns(&a, heap));
	mt_arena_release(&a);
	ck_assert(!mt_arena_owns(&a, small));
	mt_arena_release(&b);
	free(heap);
}
END_TEST

/* Blocks given back at a reset serve the next arena that grows as far
 * (the shared pool), and come back zeroed from mt_arena_alloc. */
START_TEST(test_pool_reuse)
{
	struct mt_arena a, b;
	unsigned char *p, *q;
	size_t i;

	mt_arena_init(&a);
	mt_arena_init(&b);
	for (i = 0; i < 64; i++) /* 16, 32, 64, 128, 256 KiB... */
		memset(mt_arena_alloc_uninit(&a, 16 * 1024), 0xAB, 16 * 1024);
	p = mt_arena_alloc_uninit(&a, 200 * 1024);
	memset(p, 0xCD, 200 * 1024);
	mt_arena_reset(&a);
	for (i = 0; i < 64; i++) {
		q = mt_arena_alloc(&b, 16 * 1024);
		for (size_t j = 0; j < 16 * 1024; j += 997)
			ck_assert_int_eq(q[j], 0);
	}
	q = mt_arena_alloc(&b, 200 * 1024);
	for (i = 0; i < 200 * 1024; i += 101)
		ck_assert_int_eq(q[i], 0);
	/* b grew as a did, and took a's blocks (the newest in the pool). */
	ck_assert(mt_arena_owns(&b, p));
	mt_arena_release(&a);
	mt_arena_release(&b);
}
END_TEST

/* The pool is emptied by the first reset after a second unused. */
START_TEST(test_pool_emptied_when_unused)
{
	struct mt_arena a, b;

	mt_arena_init(&a);
	mt_arena_init(&b);
	for (int i = 0; i < 40; i++)
		mt_arena_alloc_uninit(&a, 16 * 1024);
	mt_arena_reset(&a);
	ck_assert_uint_gt(mt_arena_pooled(), 0);
	ck_assert_uint_le(mt_arena_pooled(), 4 * 1024 * 1024);
	mt_arena_reset(&b); /* within the second: kept */
	ck_assert_uint_gt(mt_arena_pooled(), 0);
	usleep(1100 * 1000);
	mt_arena_reset(&b);
	ck_assert_uint_eq(mt_arena_pooled(), 0);
	mt_arena_release(&a);
	mt_arena_release(&b);
}
END_TEST

Suite *make_arena_suite(void)
{
	Suite *s = suite_create("arena");
	TCase *tc = tcase_create("arena");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_alloc_aligned_zeroed);
	tcase_add_test(tc, test_big_allocation);
	tcase_add_test(tc, test_strings);
	tcase_add_test(tc, test_defer_lifo_on_reset);
	tcase_add_test(tc, test_owns);
	tcase_add_test(tc, test_pool_reuse);
	tcase_add_test(tc, test_pool_emptied_when_unused);
	suite_add_tcase(s, tc);
	return s;
}
