/* check_cookie.c: the pieces of lib/mt_auth the dashboard's sessions stand
 * on: the Cookie header parser (mt_auth_cookie), the random ids
 * (mt_auth_random_b64), their hash (mt_auth_sha256_hex) and the
 * constant-time comparison of CSRF tokens (mt_auth_streq). */
#include <stdio.h>
#include <string.h>

#include "mt_auth.h"
#include "mt_check.h"

#define SID "z089WhuPlRI53dqoH6x-W-SodTRXP9w0Ts5mJiY1WOI"

/* header, name, buffer size, expected value (NULL: none). */
static const struct {
	const char *header, *name;
	size_t size;
	const char *want;
} cases[] = {
	{ "mltrack_session=" SID, "mltrack_session", 64, SID },
	{ "theme=dark; mltrack_session=" SID "; other=1", "mltrack_session", 64, SID },
	{ "theme=dark;mltrack_session=" SID, "mltrack_session", 64, SID },
	{ "  \t;; mltrack_session=" SID " \t", "mltrack_session", 64, SID },
	{ "mltrack_session=\"" SID "\"", "mltrack_session", 64, SID },
	{ "a=1; a=2", "a", 8, "1" },                       /* the first wins */
	{ "a=; a=2", "a", 8, NULL },                       /* ...even when empty */
	{ "a=\"\"", "a", 8, NULL },                        /* quotes around nothing */
	{ "a=\"", "a", 8, "\"" },                          /* one quote is a value */
	{ "a=x=y", "a", 8, "x=y" },                        /* '=' in a value */
	{ "a= v", "a", 8, " v" },                          /* leading space kept */
	{ "xa=1; a=2", "a", 8, "2" },                      /* no suffix match */
	{ "ab=1; a=2", "a", 8, "2" },                      /* no prefix match */
	{ "a =1", "a", 8, NULL },                          /* a space before '=' */
	{ "A=1", "a", 8, NULL },                           /* names are case-sensitive */
	{ "a", "a", 8, NULL },                             /* no '=' */
	{ "a;b=2", "b", 8, "2" },
	{ "b=2;a", "a", 8, NULL },
	{ "", "a", 8, NULL },
	{ ";;;", "a", 8, NULL },
	{ "=1; a=2", "a", 8, "2" },                        /* an empty name */
	{ "a=12345678", "a", 8, NULL },                    /* longer than size - 1 */
	{ "a=1234567", "a", 8, "1234567" },                /* exactly size - 1 */
	{ "a=1\x01" "2", "a", 8, NULL },                   /* control byte */
	{ "a=1\t2", "a", 8, NULL },                        /* tab inside */
	{ "a=1\x7f", "a", 8, NULL },
	{ "a=caf\xc3\xa9", "a", 8, "caf\xc3\xa9" },          /* bytes >= 0x80 pass */
	{ "a=1", "", 8, NULL },                            /* no name */
};

START_TEST(test_cookie)
{
	char buf[128];
	const char *got;

	ck_assert_uint_le(cases[_i].size, sizeof(buf));
	memset(buf, 'X', sizeof(buf));
	got = mt_auth_cookie(cases[_i].header, cases[_i].name, buf, cases[_i].size);
	if (!cases[_i].want) {
		ck_assert_msg(got == NULL, "'%s' [%s]: got '%s'", cases[_i].header, cases[_i].name,
			      got ? got : "");
		return;
	}
	ck_assert_msg(got == buf, "'%s' [%s]: no value", cases[_i].header, cases[_i].name);
	ck_assert_str_eq(got, cases[_i].want);
	/* Nothing written past the buffer's size. */
	ck_assert_int_eq(buf[cases[_i].size], 'X');
}
END_TEST

START_TEST(test_cookie_null)
{
	char buf[8];

	ck_assert_ptr_null(mt_auth_cookie(NULL, "a", buf, sizeof(buf)));
	ck_assert_ptr_null(mt_auth_cookie("a=1", NULL, buf, sizeof(buf)));
	ck_assert_ptr_null(mt_auth_cookie("a=1", "a", NULL, sizeof(buf)));
	ck_assert_ptr_null(mt_auth_cookie("a=1", "a", buf, 0));
	ck_assert_ptr_null(mt_auth_cookie("a=1", "a", buf, 1));
	ck_assert_ptr_nonnull(mt_auth_cookie("a=1", "a", buf, 2));
}
END_TEST

START_TEST(test_random_ids)
{
	char a[64], b[64];

	ck_assert_int_eq(mt_auth_random_b64(a, 32), 0);
	ck_assert_int_eq(mt_auth_random_b64(b, 32), 0);
	ck_assert_uint_eq(strlen(a), 43);
	ck_assert_uint_eq(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
			  43);
	ck_assert_str_ne(a, b);
	/* An id survives the cookie parser unchanged. */
	{
		char hdr[128], out[64];

		snprintf(hdr, sizeof(hdr), "mltrack_session=%s", a);
		ck_assert_str_eq(mt_auth_cookie(hdr, "mltrack_session", out, 44), a);
	}
	ck_assert_int_eq(mt_auth_random_b64(a, 65), -1); /* more than it draws */
}
END_TEST

START_TEST(test_sha256_hex)
{
	char out[65];

	mt_auth_sha256_hex("", out);
	ck_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	mt_auth_sha256_hex("abc", out);
	ck_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(test_streq)
{
	ck_assert(mt_auth_streq(SID, SID));
	ck_assert(!mt_auth_streq(SID, SID "x"));
	ck_assert(!mt_auth_streq(SID "x", SID));
	ck_assert(!mt_auth_streq(SID, ""));
	ck_assert(!mt_auth_streq("", SID));
	ck_assert(mt_auth_streq("", ""));
	ck_assert(!mt_auth_streq("abc", "abd"));
}
END_TEST

Suite *make_cookie_suite(void)
{
	Suite *s = suite_create("cookie");
	TCase *tc = tcase_create("cookie");
	TCase *ts = tcase_create("secrets");

	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_cookie, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_cookie_null);
	suite_add_tcase(s, tc);
	tcase_set_timeout(ts, 10);
	tcase_add_test(ts, test_random_ids);
	tcase_add_test(ts, test_sha256_hex);
	tcase_add_test(ts, test_streq);
	suite_add_tcase(s, ts);
	return s;
}
