/* check_pgbin.c: arrays in PostgreSQL's binary format (lib/mt_pgbin), byte
 * for byte; the API suites send them to a real server (test_metrics.py,
 * TestBatchBinaryArrays). */
#include <math.h>
#include <string.h>

#include "mt_check.h"
#include "mt_pgbin.h"

START_TEST(test_header)
{
	static const unsigned char want[MT_PGBIN_HEADER] = { 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 25,
							     0, 0, 1, 2, 0, 0, 0, 1 };
	char buf[MT_PGBIN_HEADER + 1];

	ck_assert_ptr_eq(mt_pgbin_header(buf, 1, MT_PGBIN_OID_TEXT, 258), buf + MT_PGBIN_HEADER);
	ck_assert_mem_eq(buf, want, sizeof(want));
	mt_pgbin_header(buf, 0, MT_PGBIN_OID_FLOAT8, 0);
	ck_assert_int_eq(buf[7], 0);
	ck_assert_int_eq((unsigned char)buf[10], 701 >> 8);
	ck_assert_int_eq((unsigned char)buf[11], 701 & 0xff);
}
END_TEST

START_TEST(test_int8_big_endian)
{
	static const unsigned char want[] = { 0, 0, 0, 8, 0x80, 0, 0, 0, 0, 0, 0, 0,
					      0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
					      0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x01, 0x02 };
	char buf[3 * MT_PGBIN_NUM], *p = buf;

	p = mt_pgbin_i64(p, (-9223372036854775807LL - 1));
	p = mt_pgbin_i64(p, -2);
	p = mt_pgbin_i64(p, 258);
	ck_assert_ptr_eq(p, buf + sizeof(buf));
	ck_assert_mem_eq(buf, want, sizeof(want));
}
END_TEST

START_TEST(test_float8_bits)
{
	/* 1.5 = 0x3FF8000000000000, -0.0 keeps its sign bit, NaN its
	 * exponent of all ones. */
	static const unsigned char want[] = { 0, 0, 0, 8, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,
					      0, 0, 0, 8, 0x80, 0, 0, 0, 0, 0, 0, 0 };
	char buf[3 * MT_PGBIN_NUM], *p = buf;

	p = mt_pgbin_f64(p, 1.5);
	p = mt_pgbin_f64(p, -0.0);
	ck_assert_mem_eq(buf, want, sizeof(want));
	mt_pgbin_f64(p, NAN);
	ck_assert_int_eq((unsigned char)p[4] & 0x7f, 0x7f);
	ck_assert_int_eq((unsigned char)p[5] & 0xf0, 0xf0);
}
END_TEST

START_TEST(test_text_and_null)
{
	static const unsigned char want[] = { 0, 0, 0, 3, 'a', '\t', 'b', 0xff, 0xff, 0xff, 0xff,
					      0, 0, 0, 0 };
	char buf[sizeof(want)], *p = buf;

	p = mt_pgbin_text(p, "a\tbc", 3);
	p = mt_pgbin_null(p);
	p = mt_pgbin_text(p, "", 0);
	ck_assert_ptr_eq(p, buf + sizeof(want));
	ck_assert_mem_eq(buf, want, sizeof(want));
}
END_TEST

Suite *make_pgbin_suite(void)
{
	Suite *s = suite_create("pgbin");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_header);
	tcase_add_test(tc, test_int8_big_endian);
	tcase_add_test(tc, test_float8_bits);
	tcase_add_test(tc, test_text_and_null);
	suite_add_tcase(s, tc);
	return s;
}
