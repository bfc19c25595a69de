/* check_path.c: artifact path normalisation and confinement (lib/mt_path). */
#include <string.h>

#include "mt_check.h"
#include "mt_path.h"

/* A literal with its length, so embedded NULs count. */
#define S(lit) lit, sizeof(lit) - 1

static const struct {
	const char *in;
	size_t len;
	const char *out;
} good[] = {
	{ S("a"), "a" },
	{ S("a/b"), "a/b" },
	{ S("a/b/c.txt"), "a/b/c.txt" },
	{ S("a/./b"), "a/b" },
	{ S("./a"), "a" },
	{ S("a/."), "a" },
	{ S("./a/./b/."), "a/b" },
	{ S("././a"), "a" },
	{ S("a/"), "a" },
	{ S("a/b/"), "a/b" },
	{ S("a/./"), "a" },
	{ S("28/0123456789abcdef0123456789abcdef/artifacts/model/MLmodel"),
	  "28/0123456789abcdef0123456789abcdef/artifacts/model/MLmodel" },
	{ S("caf\xc3\xa9/cr\xc3\xa8me.txt"), "caf\xc3\xa9/cr\xc3\xa8me.txt" },
	{ S("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/\xe6\x96\x87.bin"),
	  "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/\xe6\x96\x87.bin" },
	{ S("emoji/\xf0\x9f\x98\x80.png"), "emoji/\xf0\x9f\x98\x80.png" },
	{ S("my model/weights file.pt"), "my model/weights file.pt" },
	{ S(" lead/trail "), " lead/trail " },
	{ S("100%"), "100%" },
	{ S("a%zz"), "a%zz" },
	{ S("a%2"), "a%2" },
	{ S("%"), "%" },
	{ S("50%/x%g1"), "50%/x%g1" },
	{ S("..."), "..." },
	{ S("a..b"), "a..b" },
	{ S("..a/b.."), "..a/b.." },
	{ S(".hidden/.x"), ".hidden/.x" },
	{ S("ab:c"), "ab:c" },
	{ S("dir/C:"), "dir/C:" },
	{ S("1:x"), "1:x" },
	{ S(":x"), ":x" },
	{ S("a?b=c&d"), "a?b=c&d" },
	{ S("semi;colon,comma"), "semi;colon,comma" },
	{ S("~/x"), "~/x" },
	{ S("-rf"), "-rf" },
	{ S("'quoted\""), "'quoted\"" },
	{ S("a+b=c"), "a+b=c" },
	{ S("file:"), "file:" },
	{ S("\xc2\x85nel"), "\xc2\x85nel" },
	{ S("model.tar.gz"), "model.tar.gz" },
	{ S("a/b/c/d/e/f/g/h/i/j"), "a/b/c/d/e/f/g/h/i/j" },
};

START_TEST(test_good)
{
	char out[MT_PATH_MAX + 1];
	struct mt_err err = MT_ERR_INIT;
	int rc = mt_path_normalise(out, good[_i].in, good[_i].len, 0, &err);

	ck_assert_msg(rc == 0, "'%s' refused: %s", good[_i].in, err.msg);
	ck_assert_str_eq(out, good[_i].out);
	/* A fixed point. */
	rc = mt_path_normalise(out, good[_i].out, strlen(good[_i].out), 0, &err);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, good[_i].out);
}
END_TEST

static const struct {
	const char *in;
	size_t len;
	const char *msg; /* substring of the message */
} bad[] = {
	{ S(".."), "'..' segments" },
	{ S("../x"), "'..' segments" },
	{ S("a/../b"), "'..' segments" },
	{ S("a/.."), "'..' segments" },
	{ S("a/../"), "'..' segments" },
	{ S("../../../../etc/passwd"), "'..' segments" },
	{ S("./.."), "'..' segments" },
	{ S("a/b/../../.."), "'..' segments" },
	{ S("/etc/passwd"), "absolute paths" },
	{ S("/"), "absolute paths" },
	{ S("//server/share"), "absolute paths" },
	{ S("/a/b"), "absolute paths" },
	{ S("a\\b"), "backslash" },
	{ S("..\\x"), "backslash" },
	{ S("\\\\server\\share"), "backslash" },
	{ S("a\0b"), "NUL byte" },
	{ S("a.txt\0.png"), "NUL byte" },
	{ S("\0"), "NUL byte" },
	{ S("%2e%2e/x"), "percent-encoding" },
	{ S("%2E%2E/x"), "percent-encoding" },
	{ S("a%2fb"), "percent-encoding" },
	{ S("a%2Fb"), "percent-encoding" },
	{ S("..%2f"), "percent-encoding" },
	{ S("%2e%2e%5cx"), "percent-encoding" },
	{ S("%252e%252e/x"), "percent-encoding" },
	{ S("%00"), "percent-encoding" },
	{ S("%%41"), "percent-encoding" },
	{ S("C:/x"), "drive prefix" },
	{ S("c:"), "drive prefix" },
	{ S("C:x"), "drive prefix" },
	{ S("./D:/x"), "drive prefix" },
	{ S("a//b"), "empty segments" },
	{ S("a//"), "empty segments" },
	{ S("a/.//b"), "empty segments" },
	{ S("#x"), "'#'" },
	{ S("a#b"), "'#'" },
	{ S("model#../../x"), "'#'" },
	{ S("\x01"), "control character" },
	{ S("a\nb"), "control character" },
	{ S("a\r"), "control character" },
	{ S("tab\there"), "control character" },
	{ S("del\x7f"), "control character" },
	{ S("\x1b[31m"), "control character" },
	{ S("\xff"), "UTF-8" },
	{ S("\xc0\xae"), "UTF-8" },
	{ S("\xc0\xae\xc0\xae/x"), "UTF-8" },
	{ S("\xe0\x80\xae"), "UTF-8" },
	{ S("\xed\xa0\x80"), "UTF-8" },
	{ S("caf\xc3"), "UTF-8" },
	{ S("\xf4\x90\x80\x80"), "UTF-8" },
	{ S(""), "empty path" },
	{ S("."), "empty path" },
	{ S("./"), "empty path" },
	{ S("./././."), "empty path" },
};

START_TEST(test_bad)
{
	char out[MT_PATH_MAX + 1];
	struct mt_err err = MT_ERR_INIT;
	int rc;

	memcpy(out, "junk", 5);
	rc = mt_path_normalise(out, bad[_i].in, bad[_i].len, 0, &err);
	ck_assert_msg(rc == -1, "'%s' accepted as '%s'", bad[_i].in, out);
	ck_assert_int_eq(err.code, MT_EINVAL);
	ck_assert_str_eq(out, "");
	ck_assert_msg(strncmp(err.msg, "Invalid path", 12) == 0, "msg: %s", err.msg);
	ck_assert_msg(strstr(err.msg, bad[_i].msg) != NULL, "'%s': msg '%s' lacks '%s'",
		      bad[_i].in, err.msg, bad[_i].msg);
	ck_assert_ptr_null(strchr(err.msg, '\n'));
	/* allow_empty only rescues the empty path. */
	rc = mt_path_normalise(out, bad[_i].in, bad[_i].len, 1, &err);
	if (strcmp(bad[_i].msg, "empty path") == 0) {
		ck_assert_int_eq(rc, 0);
		ck_assert_str_eq(out, "");
	} else {
		ck_assert_int_eq(rc, -1);
	}
}
END_TEST

START_TEST(test_empty_root)
{
	char out[MT_PATH_MAX + 1];
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(mt_path_normalise(out, NULL, 0, 1, &err), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(mt_path_normalise(out, NULL, 0, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "empty path"));
	/* Only the length given counts: bytes after it are not read. */
	ck_assert_int_eq(mt_path_normalise(out, "ab/../x", 2, 0, &err), 0);
	ck_assert_str_eq(out, "ab");
}
END_TEST

START_TEST(test_lengths)
{
	static char in[4096];
	char out[MT_PATH_MAX + 1];
	struct mt_err err = MT_ERR_INIT;

	/* One segment: 255 bytes pass, 256 do not. */
	memset(in, 's', 256);
	ck_assert_int_eq(mt_path_normalise(out, in, 255, 0, &err), 0);
	ck_assert_uint_eq(strlen(out), 255);
	ck_assert_int_eq(mt_path_normalise(out, in, 256, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "longer than 255"));
	/* A 256-byte segment after short ones. */
	memset(in, 's', 260);
	memcpy(in, "a/b/", 4);
	ck_assert_int_eq(mt_path_normalise(out, in, 259, 0, &err), 0);
	ck_assert_int_eq(mt_path_normalise(out, in, 260, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "longer than 255"));

	/* Total: 200-byte segments, the last of 23: exactly 1024 bytes. */
	memset(in, 'p', sizeof(in));
	for (size_t i = 200; i < 1024; i += 200)
		in[i] = '/';
	ck_assert_int_eq(mt_path_normalise(out, in, 1024, 0, &err), 0);
	ck_assert_uint_eq(strlen(out), 1024);
	ck_assert_int_eq(mt_path_normalise(out, in, 1025, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "longer than 1024"));
	ck_assert_str_eq(out, "");
	/* A 1024-byte result from a longer input: the limit is on the output. */
	memmove(in + 4, in, 1024);
	memcpy(in, "././", 4);
	ck_assert_int_eq(mt_path_normalise(out, in, 1028, 0, &err), 0);
	ck_assert_uint_eq(strlen(out), 1024);
	/* With a trailing '/', still 1024. */
	in[1028] = '/';
	ck_assert_int_eq(mt_path_normalise(out, in, 1029, 0, &err), 0);
	ck_assert_uint_eq(strlen(out), 1024);

	/* Very many "./": linear, and empty. */
	for (size_t i = 0; i + 1 < sizeof(in); i += 2)
		memcpy(in + i, "./", 2);
	ck_assert_int_eq(mt_path_normalise(out, in, sizeof(in), 1, &err), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_message_quoting)
{
	static char in[600];
	char out[MT_PATH_MAX + 1], want[128];
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(mt_path_normalise(out, S("../x"), 0, &err), -1);
	ck_assert_str_eq(err.msg, "Invalid path: '..' segments are not allowed (got '../x')");

	/* Control bytes and NUL are shown as '?'. */
	ck_assert_int_eq(mt_path_normalise(out, S("a\x01" "b\0c"), 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "(got 'a?b?c')"));

	/* Invalid UTF-8 bytes too; valid characters are kept. */
	ck_assert_int_eq(mt_path_normalise(out, S("\xc3\xa9\xff\xc0\xae"), 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "(got '\xc3\xa9??" "?')"));

	/* At most 64 bytes of input, never cutting a character. */
	memset(in, 'x', sizeof(in));
	memcpy(in + 300, "/..", 3);
	ck_assert_int_eq(mt_path_normalise(out, in, sizeof(in), 0, &err), -1);
	memset(want, 'x', 64);
	strcpy(want + 64, "...')");
	ck_assert_ptr_nonnull(strstr(err.msg, want));
	/* '\\' then 2-byte characters: the 32nd would end at byte 65. */
	in[0] = '\\';
	for (size_t i = 1; i + 2 <= 81; i += 2)
		memcpy(in + i, "\xc3\xa9", 2);
	ck_assert_int_eq(mt_path_normalise(out, in, 81, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "backslash"));
	want[0] = '\\';
	for (size_t i = 1; i + 2 <= 63; i += 2)
		memcpy(want + i, "\xc3\xa9", 2);
	strcpy(want + 63, "...')");
	ck_assert_ptr_nonnull(strstr(err.msg, want));
	ck_assert_uint_lt(strlen(err.msg), 200);
}
END_TEST

static const struct {
	const char *root, *rel, *out;
} joins[] = {
	{ "/srv/artifacts", "a/b", "/srv/artifacts/a/b" },
	{ "/srv/artifacts/", "a/b", "/srv/artifacts/a/b" },
	{ "/srv/artifacts//", "a", "/srv/artifacts/a" },
	{ "/srv/artifacts", "", "/srv/artifacts" },
	{ "/srv/artifacts/", "", "/srv/artifacts" },
	{ "/", "a", "/a" },
	{ "/", "", "/" },
	{ "//", "x", "/x" },
	{ "mlartifacts", "1/run/x.txt", "mlartifacts/1/run/x.txt" },
	{ "", "a", "a" },
	{ "", "", "." },
	{ ".", "a", "./a" },
};

START_TEST(test_join)
{
	char out[256];
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(mt_path_join(out, sizeof(out), joins[_i].root, joins[_i].rel, &err), 0);
	ck_assert_str_eq(out, joins[_i].out);
}
END_TEST

START_TEST(test_join_refused)
{
	char out[16];
	struct mt_err err = MT_ERR_INIT;

	/* "/r/" + "abcdefghijk" + NUL is 15 bytes: fits; one more does not. */
	ck_assert_int_eq(mt_path_join(out, sizeof(out), "/r", "abcdefghijkl", &err), 0);
	ck_assert_str_eq(out, "/r/abcdefghijkl");
	ck_assert_int_eq(mt_path_join(out, sizeof(out), "/r", "abcdefghijklm", &err), -1);
	ck_assert_int_eq(err.code, MT_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "too long"));
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(mt_path_join(out, 3, "/r", "", &err), 0);
	ck_assert_int_eq(mt_path_join(out, 2, "/r", "", &err), -1);
	ck_assert_int_eq(mt_path_join(out, 0, "/r", "", &err), -1);

	/* rel that is not normalised never reaches the output. */
	ck_assert_int_eq(mt_path_join(out, sizeof(out), "/r", "../etc", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "'..'"));
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(mt_path_join(out, sizeof(out), "/r", "/etc", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "absolute"));
	ck_assert_int_eq(mt_path_join(out, sizeof(out), "/r", "a/./b", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "normalised form"));
	ck_assert_int_eq(mt_path_join(out, sizeof(out), "/r", "a/", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "normalised form"));
	ck_assert_int_eq(err.code, MT_EINVAL);
}
END_TEST

static const struct {
	const char *path, *dir;
	int under;
} unders[] = {
	{ "a/b", "a", 1 }, { "a", "a", 1 }, { "a/b/c", "a/b", 1 }, { "a/b/c", "a", 1 },
	{ "a", "", 1 }, { "", "", 1 }, { "ab", "a", 0 }, { "a", "a/b", 0 },
	{ "b/a", "a", 0 }, { "", "a", 0 }, { "a.b/c", "a", 0 }, { "a/bc", "a/b", 0 },
	{ "caf\xc3\xa9/x", "caf\xc3\xa9", 1 }, { "caf\xc3\xa9", "caf", 0 },
};

START_TEST(test_under)
{
	ck_assert_msg(mt_path_under(unders[_i].path, unders[_i].dir) == unders[_i].under,
		      "under('%s', '%s')", unders[_i].path, unders[_i].dir);
}
END_TEST

START_TEST(test_base)
{
	const char *p = "a/b/c.txt";

	ck_assert_ptr_eq(mt_path_base(p), p + 4);
	ck_assert_str_eq(mt_path_base("c.txt"), "c.txt");
	ck_assert_str_eq(mt_path_base("dir/my model.pt"), "my model.pt");
	ck_assert_str_eq(mt_path_base("x/caf\xc3\xa9"), "caf\xc3\xa9");
	ck_assert_str_eq(mt_path_base(""), "");
}
END_TEST

Suite *make_path_suite(void)
{
	Suite *s = suite_create("path");
	TCase *tn = tcase_create("normalise");
	TCase *tj = tcase_create("join");

	tcase_set_timeout(tn, 10);
	tcase_add_loop_test(tn, test_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tn, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tn, test_empty_root);
	tcase_add_test(tn, test_lengths);
	tcase_add_test(tn, test_message_quoting);
	suite_add_tcase(s, tn);

	tcase_set_timeout(tj, 10);
	tcase_add_loop_test(tj, test_join, 0, sizeof(joins) / sizeof(joins[0]));
	tcase_add_test(tj, test_join_refused);
	tcase_add_loop_test(tj, test_under, 0, sizeof(unders) / sizeof(unders[0]));
	tcase_add_test(tj, test_base);
	suite_add_tcase(s, tj);
	return s;
}
