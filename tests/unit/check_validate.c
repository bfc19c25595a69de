/* check_validate.c: MLflow's name and value rules. */
#include <string.h>

#include "mt_check.h"
#include "mt_validate.h"

static const struct {
	const char *key;
	int ok;
} keys[] = {
	{ "loss", 1 }, { "val/loss", 1 }, { "a b", 1 }, { "x:y", 1 }, { "a-b_c.d", 1 },
	{ "caf\xc3\xa9", 1 },
	{ "", 0 }, { "bad key!", 0 }, { "a//b", 0 }, { "./x", 0 }, { "x/", 0 }, { "../x", 0 },
	{ "..", 0 }, { ".", 0 }, { "/abs", 0 }, { "a/./b", 0 }, { "a/../b", 0 }, { "tab\there", 0 },
	{ "\xff\xfe", 0 }, { "semi;colon", 0 },
};

START_TEST(test_keys)
{
	struct mt_err err = MT_ERR_INIT;
	int rc = mt_validate_key("metric", keys[_i].key, &err);

	ck_assert_msg((rc == 0) == keys[_i].ok, "key '%s': rc %d msg %s", keys[_i].key, rc, err.msg);
	if (!keys[_i].ok)
		ck_assert_int_eq(err.code, MT_EINVAL);
}
END_TEST

START_TEST(test_key_length)
{
	char k[300];
	struct mt_err err = MT_ERR_INIT;

	memset(k, 'a', 250);
	k[250] = '\0';
	ck_assert_int_eq(mt_validate_key("param", k, &err), 0);
	k[250] = 'a';
	k[251] = '\0';
	ck_assert_int_eq(mt_validate_key("param", k, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "exceeded length limit of 250"));
}
END_TEST

START_TEST(test_values)
{
	struct mt_err err = MT_ERR_INIT;
	static char v[6002];

	memset(v, 'v', 6000);
	v[6000] = '\0';
	ck_assert_int_eq(mt_validate_value_len("Param", "k", v, 6000, &err), 0);
	v[6000] = 'v';
	v[6001] = '\0';
	ck_assert_int_eq(mt_validate_value_len("Param", "k", v, 6000, &err), -1);
	ck_assert_int_eq(mt_validate_value_len("Param", "k", NULL, 6000, &err), 0);
	ck_assert_int_eq(mt_validate_value_len("Tag", "k", "\xc3", 10, &err), -1);
}
END_TEST

static const struct {
	const char *id;
	int run_ok, exp_ok;
} ids[] = {
	{ "0", 1, 1 }, { "123", 1, 1 }, { "0123456789abcdef0123456789abcdef", 1, 1 },
	{ "a-b_c", 1, 1 }, { "", 0, 0 }, { "-x", 0, 0 }, { "_x", 0, 0 }, { "a b", 0, 0 },
	{ "a/b", 0, 0 }, { "x'; DROP TABLE runs; --", 0, 0 },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1, 0 },
};

START_TEST(test_ids)
{
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(mt_validate_run_id(ids[_i].id, &err) == 0, ids[_i].run_ok);
	ck_assert_int_eq(mt_validate_experiment_id(ids[_i].id, &err) == 0, ids[_i].exp_ok);
}
END_TEST

START_TEST(test_experiment_names_and_locations)
{
	struct mt_err err = MT_ERR_INIT;
	char big[502];

	ck_assert_int_eq(mt_validate_experiment_name("exp", &err), 0);
	ck_assert_int_eq(mt_validate_experiment_name("", &err), -1);
	memset(big, 'n', 501);
	big[501] = '\0';
	ck_assert_int_eq(mt_validate_experiment_name(big, &err), -1);
	ck_assert_int_eq(mt_validate_artifact_location("s3://bucket/x", &err), 0);
	ck_assert_int_eq(mt_validate_artifact_location(NULL, &err), 0);
	ck_assert_int_eq(mt_validate_artifact_location("runs:/abc", &err), -1);
	ck_assert_int_eq(mt_validate_artifact_location("http://h/x#frag", &err), -1);
	ck_assert_int_eq(mt_validate_artifact_location("http://h/x?a=../b", &err), -1);
}
END_TEST

START_TEST(test_utf8)
{
	ck_assert_int_eq(mt_utf8_valid("abc", 3), 1);
	ck_assert_int_eq(mt_utf8_valid("\xe2\x82\xac", 3), 1);
	ck_assert_int_eq(mt_utf8_valid("\xc0\xaf", 2), 0);       /* overlong */
	ck_assert_int_eq(mt_utf8_valid("\xed\xa0\x80", 3), 0);   /* surrogate */
	ck_assert_int_eq(mt_utf8_valid("a\0b", 3), 0);
	ck_assert_int_eq(mt_utf8_valid("\xf4\x90\x80\x80", 4), 0); /* > U+10FFFF */
}
END_TEST

Suite *make_validate_suite(void)
{
	Suite *s = suite_create("validate");
	TCase *tc = tcase_create("names");

	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_keys, 0, sizeof(keys) / sizeof(keys[0]));
	tcase_add_test(tc, test_key_length);
	tcase_add_test(tc, test_values);
	tcase_add_loop_test(tc, test_ids, 0, sizeof(ids) / sizeof(ids[0]));
	tcase_add_test(tc, test_experiment_names_and_locations);
	tcase_add_test(tc, test_utf8);
	suite_add_tcase(s, tc);
	return s;
}
