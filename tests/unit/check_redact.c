/* check_redact.c: masking secrets (lib/mt_redact) and the credentials
 * file's format (lib/mt_credfile). */
#include <stdlib.h>
#include <string.h>

#include "mt_check.h"
#include "mt_credfile.h"
#include "mt_error.h"
#include "mt_redact.h"

static void reset(void)
{
	mt_redact_reset();
}

static const struct {
	const char *in, *want;
} url_cases[] = {
	{ "cannot reach http://alice:s3cret@host:5170/x", "cannot reach http://alice:***@host:5170/x" },
	{ "http://alice@host", "http://alice@host" },           /* no password */
	{ "http://host:5170/a@b", "http://host:5170/a@b" },     /* '@' in the path */
	{ "postgresql://u:p%40ss@db/x?sslmode=require", "postgresql://u:***@db/x?sslmode=require" },
	{ "'https://a:b@h' and ftp://c:d@e", "'https://a:***@h' and ftp://c:***@e" },
	{ "git@github.com:org/repo", "git@github.com:org/repo" },
	{ "://a:b@c", "://a:b@c" },                             /* no scheme */
	{ "http://u:***@h", "http://u:***@h" },                 /* masked already */
	{ "x://u:pw@h x://v:pw2@i", "x://u:***@h x://v:***@i" },
	{ "", "" },
};

START_TEST(test_url_passwords)
{
	char out[256];

	mt_redact_copy(out, sizeof(out), url_cases[_i].in);
	ck_assert_str_eq(out, url_cases[_i].want);
}
END_TEST

START_TEST(test_registered)
{
	char out[256];
	char *d;

	ck_assert_int_eq(mt_redact_active(), 0);
	ck_assert_int_eq(mt_redact_add("short"), 0); /* below MT_REDACT_MIN: not kept */
	ck_assert_int_eq(mt_redact_active(), 0);
	ck_assert_int_eq(mt_redact_add("mlt_abcdefghijklmnop"), 0);
	ck_assert_int_eq(mt_redact_add("mlt_abcdefghijklmnop"), 0); /* once */
	ck_assert_int_eq(mt_redact_add("hunter2hunter2"), 0);
	ck_assert_int_eq(mt_redact_copy(out, sizeof(out),
					"token mlt_abcdefghijklmnop and hunter2hunter2, short"), 2);
	ck_assert_str_eq(out, "token *** and ***, short");
	/* The longest match wins. */
	ck_assert_int_eq(mt_redact_add("mlt_abcdefghijklmnopqrst"), 0);
	mt_redact_copy(out, sizeof(out), "=mlt_abcdefghijklmnopqrst=");
	ck_assert_str_eq(out, "=***=");
	d = mt_redact_dup("a hunter2hunter2 in http://u:hunter2hunter2@h");
	ck_assert_str_eq(d, "a *** in http://u:***@h");
	free(d);
	ck_assert_int_eq(mt_redact_needed("nothing here"), 0);
	ck_assert_int_eq(mt_redact_needed("x hunter2hunter2"), 1);
	/* Cut to the buffer, in place. */
	strcpy(out, "hunter2hunter2 tail");
	mt_redact_inplace(out, 6);
	ck_assert_str_eq(out, "*** t");
}
END_TEST

START_TEST(test_errors_are_masked)
{
	struct mt_err err = MT_ERR_INIT;

	mt_redact_add("dbpassword123");
	mt_err_set(&err, MT_EUNAVAIL, "cannot connect: bad \"dbpassword123\" to http://a:b@c");
	ck_assert_str_eq(err.msg, "cannot connect: bad \"***\" to http://a:***@c");
	mt_err_detail(&err, "libpq: password=dbpassword123");
	ck_assert_str_eq(err.log_detail, "libpq: password=***");
}
END_TEST

static const struct {
	const char *conninfo;
	const char *secret; /* a value that must now be masked */
} conn_cases[] = {
	{ "host=/tmp dbname=x password=plainsecret1", "plainsecret1" },
	{ "host=/tmp password = 'quoted secret\\'s' user=x", "quoted secret's" },
	{ "host=/tmp password = 'quoted secret\\'s' user=x", "'quoted secret\\'s'" },
	{ "postgresql://user:url%2Fsecret@db/x", "url/secret" },
	{ "postgresql://user:url%2Fsecret@db/x", "url%2Fsecret" },
	{ "postgres://db/x?sslmode=disable&password=querysecret", "querysecret" },
	{ "postgresql://user:bad%zzsecret@db", "bad%zzsecret" }, /* libpq would quote it */
};

START_TEST(test_conninfo)
{
	char out[256];

	ck_assert_int_eq(mt_redact_add_conninfo(conn_cases[_i].conninfo), 0);
	mt_redact_copy(out, sizeof(out), conn_cases[_i].secret);
	ck_assert_str_eq(out, "***");
}
END_TEST

START_TEST(test_conninfo_hide)
{
	char kw[] = "host=/tmp password='it\\'s secret' dbname=x", uri[] =
		"postgresql://u:pw@h/db?password=abc&sslmode=require", plain[] = "password=ab user=x";

	mt_redact_conninfo_hide(kw);
	ck_assert_str_eq(kw, "host=/tmp password='************' dbname=x");
	mt_redact_conninfo_hide(uri);
	ck_assert_str_eq(uri, "postgresql://u:**@h/db?password=***&sslmode=require");
	mt_redact_conninfo_hide(plain); /* short ones too */
	ck_assert_str_eq(plain, "password=** user=x");
}
END_TEST

START_TEST(test_url_userinfo)
{
	char bare[128], user[64], pw[64];

	ck_assert_int_eq(mt_url_userinfo("http://al%40ice:p%3Aw@h:1/x@y", bare, sizeof(bare), user,
					 sizeof(user), pw, sizeof(pw)), 1);
	ck_assert_str_eq(bare, "http://h:1/x@y");
	ck_assert_str_eq(user, "al@ice");
	ck_assert_str_eq(pw, "p:w");
	ck_assert_int_eq(mt_url_userinfo("https://bob@h", bare, sizeof(bare), user, sizeof(user), pw,
					 sizeof(pw)), 1);
	ck_assert_str_eq(bare, "https://h");
	ck_assert_str_eq(user, "bob");
	ck_assert_str_eq(pw, "");
	ck_assert_int_eq(mt_url_userinfo("http://h:5170", bare, sizeof(bare), user, sizeof(user), pw,
					 sizeof(pw)), 0);
	ck_assert_str_eq(bare, "http://h:5170");
	ck_assert_int_eq(mt_url_userinfo("http://h:5170", bare, 4, NULL, 0, NULL, 0), -1);
}
END_TEST

/* ---- streams ---- */

struct sink {
	char buf[512];
	size_t n;
	int calls;
};

static int to_sink(void *arg, const char *p, size_t n)
{
	struct sink *s = arg;

	ck_assert_uint_le(s->n + n, sizeof(s->buf));
	memcpy(s->buf + s->n, p, n);
	s->n += n;
	s->calls++;
	return 0;
}

START_TEST(test_stream_split_secret)
{
	static const char text[] = "tok=mlt_SECRETVALUE1; again mlt_SECRETVALUE1\0bin mlt_SECRET";
	struct mt_redact_stream st = { 0 };
	struct sink out = { 0 };
	size_t n = sizeof(text) - 1, step = (size_t)_i + 1;

	mt_redact_add("mlt_SECRETVALUE1");
	/* Fed in pieces of every size, the secret split anywhere. */
	for (size_t i = 0; i < n; i += step)
		ck_assert_int_eq(mt_redact_stream_write(&st, text + i, i + step > n ? n - i : step,
							to_sink, &out), 0);
	ck_assert_int_eq(mt_redact_stream_finish(&st, to_sink, &out), 0);
	ck_assert_uint_eq(out.n, sizeof("tok=***; again ***\0bin mlt_SECRET") - 1);
	ck_assert_int_eq(memcmp(out.buf, "tok=***; again ***\0bin mlt_SECRET", out.n), 0);
}
END_TEST

START_TEST(test_stream_passthrough)
{
	struct mt_redact_stream st = { 0 };
	struct sink out = { 0 };

	ck_assert_int_eq(mt_redact_stream_write(&st, "abc", 3, to_sink, &out), 0);
	ck_assert_int_eq(out.calls, 1); /* nothing registered: straight through */
	ck_assert_int_eq(mt_redact_stream_finish(&st, to_sink, &out), 0);
	ck_assert_uint_eq(out.n, 3);
}
END_TEST

/* ---- the credentials file ---- */

START_TEST(test_credfile_roundtrip)
{
	static const char text[] = "# comment\n"
				   "[http://127.0.0.1:5170]\n"
				   "  username = alice \r\n"
				   "token = mlt_x=y#z\n"
				   "\n; other\n"
				   "[ https://mltrack.example ]\n"
				   "token=mlt_2\n";
	struct mt_credfile cf = MT_CREDFILE_INIT, again = MT_CREDFILE_INIT;
	struct mt_err err = MT_ERR_INIT;
	char *out;

	ck_assert_int_eq(mt_credfile_parse(&cf, text, sizeof(text) - 1, &err), 0);
	ck_assert_str_eq(mt_credfile_get(&cf, "http://127.0.0.1:5170", "username"), "alice");
	ck_assert_str_eq(mt_credfile_get(&cf, "http://127.0.0.1:5170", "token"), "mlt_x=y#z");
	ck_assert_str_eq(mt_credfile_get(&cf, "https://mltrack.example", "token"), "mlt_2");
	ck_assert_ptr_null(mt_credfile_get(&cf, "https://mltrack.example", "username"));
	ck_assert_ptr_null(mt_credfile_get(&cf, "http://other", "token"));
	ck_assert_int_eq(mt_credfile_set(&cf, "http://127.0.0.1:5170", "token", "mlt_new"), 0);
	ck_assert_int_eq(mt_credfile_set(&cf, "http://new:1", "token", "mlt_3"), 0);
	ck_assert_int_eq(mt_credfile_set(&cf, "http://127.0.0.1:5170", "username", NULL), 0);
	ck_assert_int_eq(mt_credfile_remove(&cf, "https://mltrack.example"), 1);
	ck_assert_int_eq(mt_credfile_remove(&cf, "https://mltrack.example"), 0);
	/* What cannot be written back is refused. */
	ck_assert_int_eq(mt_credfile_set(&cf, "http://x", "token", "a\nb"), -1);
	ck_assert_int_eq(mt_credfile_set(&cf, "http://x]", "token", "a"), -1);
	ck_assert_int_eq(mt_credfile_set(&cf, "http://x", "[k", "a"), -1);
	out = mt_credfile_format(&cf);
	ck_assert_ptr_nonnull(strstr(out, "\n[http://127.0.0.1:5170]\ntoken = mlt_new\n\n"
					  "[http://new:1]\ntoken = mlt_3\n"));
	ck_assert_int_eq(mt_credfile_parse(&again, out, strlen(out), &err), 0);
	ck_assert_uint_eq(again.n, 2);
	ck_assert_str_eq(mt_credfile_get(&again, "http://new:1", "token"), "mlt_3");
	free(out);
	mt_credfile_release(&cf);
	mt_credfile_release(&again);
}
END_TEST

static const struct {
	const char *text, *why;
} bad_files[] = {
	{ "token = mlt_secretvalue\n", "line 1: a key before the first [TRACKING-URI]" },
	{ "[http://h]\nmlt_secretvalue\n", "line 2: expected [TRACKING-URI] or key = value" },
	{ "[http://h]\n= mlt_secretvalue\n", "line 2: a value without a key" },
	{ "[]\n", "line 1: a section is [TRACKING-URI]" },
	{ "[ ]\n", "line 1: an empty section name" },
	{ "[http://h\n", "line 1: a section is [TRACKING-URI]" },
};

START_TEST(test_credfile_errors)
{
	struct mt_credfile cf = MT_CREDFILE_INIT;
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(mt_credfile_parse(&cf, bad_files[_i].text, strlen(bad_files[_i].text), &err),
			 -1);
	ck_assert_str_eq(err.msg, bad_files[_i].why);
	ck_assert_ptr_null(strstr(err.msg, "secret")); /* a line is never quoted */
	mt_credfile_release(&cf);
}
END_TEST

Suite *make_redact_suite(void)
{
	Suite *s = suite_create("redact");
	TCase *tc = tcase_create("redact");

	tcase_add_checked_fixture(tc, reset, reset);
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_url_passwords, 0, sizeof(url_cases) / sizeof(url_cases[0]));
	tcase_add_test(tc, test_registered);
	tcase_add_test(tc, test_errors_are_masked);
	tcase_add_loop_test(tc, test_conninfo, 0, sizeof(conn_cases) / sizeof(conn_cases[0]));
	tcase_add_test(tc, test_conninfo_hide);
	tcase_add_test(tc, test_url_userinfo);
	tcase_add_loop_test(tc, test_stream_split_secret, 0, 24);
	tcase_add_test(tc, test_stream_passthrough);
	suite_add_tcase(s, tc);
	tc = tcase_create("credfile");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_credfile_roundtrip);
	tcase_add_loop_test(tc, test_credfile_errors, 0, sizeof(bad_files) / sizeof(bad_files[0]));
	suite_add_tcase(s, tc);
	return s;
}
