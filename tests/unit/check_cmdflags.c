/* test_cmdflags.c: params from a wrapped command's arguments (lib/mt_cmdflags).
 *
 * Each case is a NULL-terminated word list and the expected "key=value;"
 * rendering of what mt_cmdflags() emitted, in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_check.h"
#include "mt_cmdflags.h"
#include "mt_limits.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define TIMEOUT 10
#define MAX_WORDS 24

struct rec {
	char s[16384];
	int n;
	int stop_at; /* return 7 on this call (1-based); 0 never */
};

static int rec_emit(void *arg, const char *key, const char *value)
{
	struct rec *r = arg;
	size_t len = strlen(r->s);

	ck_assert_ptr_nonnull(key);
	ck_assert_ptr_nonnull(value);
	ck_assert_msg(len + strlen(key) + strlen(value) + 3 < sizeof(r->s), "record full");
	strcat(r->s, key);
	strcat(r->s, "=");
	strcat(r->s, value);
	strcat(r->s, ";");
	r->n++;
	return r->n == r->stop_at ? 7 : 0;
}

static int count(const char *const *w)
{
	int n = 0;

	while (w[n])
		n++;
	return n;
}

static const struct {
	const char *words[MAX_WORDS];
	const char *want;
} cases[] = {
	/* 0: the brief's example */
	{ { "train.py", "--lr", "0.1", "--epochs=3", "--fp16", "--out", "dir", "-v", "data.csv",
	    "--name=", "--x=a=b", "--lr2", "-0.5", "--", "--ignored", "1", NULL },
	  "lr=0.1;epochs=3;fp16=true;out=dir;name=;x=a=b;lr2=-0.5;" },
	/* 1: --name value; a value may start with one '-' */
	{ { "--lr", "-0.1", "--mode", "-", "--verbose", "-v", NULL },
	  "lr=-0.1;mode=-;verbose=-v;" },
	/* 2: a flag before another "--" word, or last, is "true" */
	{ { "--a", "--b", "--c", NULL }, "a=true;b=true;c=true;" },
	{ { "--a", "--b=1", NULL }, "a=true;b=1;" },
	/* 4: "--" ends the walk, also right after a flag that would take a value */
	{ { "--lr", "--", "x", "--y", "1", NULL }, "lr=true;" },
	{ { "--", "--lr", "1", NULL }, "" },
	/* 6: single-dash and positional words are ignored */
	{ { "-v", "-x", "3", "pos", "-", "-abc=1", "--k", "v", NULL }, "k=v;" },
	/* 7: no inversion */
	{ { "--no-cache", "--no_cache=0", NULL }, "no-cache=true;no_cache=0;" },
	/* 8: invalid keys are skipped (still consuming their value word) */
	{ { "---x", "3", "--=v", "--bad!key=1", "--a//b=1", "--x/", "v", "--./x=1", "--../x=1",
	    "--/abs=1", "--tab\tkey=1", "--ok", "1", NULL },
	  "ok=1;" },
	{ { "---x=1", "----", "--- ", "--ok=2", NULL }, "ok=2;" },
	/* 10: keys with what MLflow allows: '.', '/', ' ', ':' and non-ASCII UTF-8 */
	{ { "--model.lr=1", "--opt/beta=2", "--sp ace=3", "--x:y=4", "--caf\xc3\xa9=5", NULL },
	  "model.lr=1;opt/beta=2;sp ace=3;x:y=4;caf\xc3\xa9=5;" },
	/* 11: invalid UTF-8 in a key or a value: skipped */
	{ { "--k\xff=1", "--v=\xc3", "--w", "\xff", "--ok=\xc3\xa9", NULL }, "ok=\xc3\xa9;" },
	/* 12: duplicates are emitted both, in order */
	{ { "--lr=1", "--lr", "2", "--lr", NULL }, "lr=1;lr=2;lr=true;" },
	/* 13: values taken as they are */
	{ { "--cmd", "a b  c", "--eq=", "--e==", "--q='x'", "--v", "x=y", NULL },
	  "cmd=a b  c;eq=;e==;q='x';v=x=y;" },
	/* 14: an empty word after a flag is its value */
	{ { "--empty", "", "--z", NULL }, "empty=;z=true;" },
	{ { NULL }, "" },
};

START_TEST(test_cases)
{
	struct rec r = { .s = "" };
	int rc = mt_cmdflags(count(cases[_i].words), (char *const *)cases[_i].words, rec_emit, &r);

	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(r.s, cases[_i].want);
}
END_TEST

START_TEST(test_argc_bounds)
{
	/* argc counts, even without a NULL at argv[argc]... */
	const char *w[] = { "--a", "1", "--b", "2" };
	struct rec r = { .s = "" };

	ck_assert_int_eq(mt_cmdflags(3, (char *const *)w, rec_emit, &r), 0);
	ck_assert_str_eq(r.s, "a=1;b=true;");
	/* ...and a NULL before argc ends the words. */
	const char *v[] = { "--a", NULL, "--b", "2" };

	r.s[0] = '\0';
	ck_assert_int_eq(mt_cmdflags(4, (char *const *)v, rec_emit, &r), 0);
	ck_assert_str_eq(r.s, "a=true;");
	r.s[0] = '\0';
	ck_assert_int_eq(mt_cmdflags(0, (char *const *)v, rec_emit, &r), 0);
	ck_assert_int_eq(mt_cmdflags(-1, (char *const *)v, rec_emit, &r), 0);
	ck_assert_str_eq(r.s, "");
}
END_TEST

START_TEST(test_stop)
{
	const char *w[] = { "--a=1", "--b=2", "--c=3", NULL };
	struct rec r = { .s = "", .stop_at = 2 };

	ck_assert_int_eq(mt_cmdflags(3, (char *const *)w, rec_emit, &r), 7);
	ck_assert_str_eq(r.s, "a=1;b=2;");
}
END_TEST

START_TEST(test_limits)
{
	static char key[MT_MAX_KEY_LEN + 8], val[MT_MAX_PARAM_VALUE_LEN + 8];
	const char *w[3] = { key, val, NULL };
	struct rec *r = calloc(1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	/* A key of 250 bytes with a value of 6000: both at the limit. */
	memcpy(key, "--", 2);
	memset(key + 2, 'k', MT_MAX_KEY_LEN);
	key[2 + MT_MAX_KEY_LEN] = '\0';
	memset(val, 'v', MT_MAX_PARAM_VALUE_LEN);
	val[MT_MAX_PARAM_VALUE_LEN] = '\0';
	ck_assert_int_eq(mt_cmdflags(2, (char *const *)w, rec_emit, r), 0);
	ck_assert_int_eq(r->n, 1);
	ck_assert_int_eq(strlen(r->s), MT_MAX_KEY_LEN + 1 + MT_MAX_PARAM_VALUE_LEN + 1);
	/* One byte over, either: skipped whole, not truncated. */
	r->s[0] = '\0';
	r->n = 0;
	val[MT_MAX_PARAM_VALUE_LEN] = 'v';
	val[MT_MAX_PARAM_VALUE_LEN + 1] = '\0';
	ck_assert_int_eq(mt_cmdflags(2, (char *const *)w, rec_emit, r), 0);
	ck_assert_int_eq(r->n, 0);
	val[MT_MAX_PARAM_VALUE_LEN] = '\0';
	key[2 + MT_MAX_KEY_LEN] = 'k';
	key[3 + MT_MAX_KEY_LEN] = '\0';
	ck_assert_int_eq(mt_cmdflags(2, (char *const *)w, rec_emit, r), 0);
	ck_assert_int_eq(r->n, 0);
	/* The same with --key=value. */
	{
		static char kv[2 * (MT_MAX_KEY_LEN + MT_MAX_PARAM_VALUE_LEN + 16)];
		const char *one[2] = { kv, NULL };

		snprintf(kv, sizeof(kv), "--%.*s=%s", MT_MAX_KEY_LEN, key + 2, val);
		ck_assert_int_eq(mt_cmdflags(1, (char *const *)one, rec_emit, r), 0);
		ck_assert_int_eq(r->n, 1);
		snprintf(kv, sizeof(kv), "--%s=%s", key + 2, val);
		ck_assert_int_eq(mt_cmdflags(1, (char *const *)one, rec_emit, r), 0);
		ck_assert_int_eq(r->n, 1);
	}
	free(r);
}
END_TEST

Suite *make_cmdflags_suite(void)
{
	Suite *s = suite_create("cmdflags");
	TCase *tc = tcase_create("rules");

	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_loop_test(tc, test_cases, 0, (int)N_ELEMS(cases));
	tcase_add_test(tc, test_argc_bounds);
	tcase_add_test(tc, test_stop);
	tcase_add_test(tc, test_limits);
	suite_add_tcase(s, tc);
	return s;
}
