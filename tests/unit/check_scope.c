/* check_scope.c: permission levels and token scopes (lib/mt_scope). */
#include <stdio.h>
#include <string.h>

#include "mt_check.h"
#include "mt_scope.h"

/* ---- levels ---- */

START_TEST(test_perm_names)
{
	enum mt_perm p;

	ck_assert_str_eq(mt_perm_name(MT_PERM_NONE), "NO_PERMISSIONS");
	ck_assert_str_eq(mt_perm_name(MT_PERM_MANAGE), "MANAGE");
	ck_assert_int_eq(mt_perm_parse("EDIT", &p), 0);
	ck_assert_int_eq(p, MT_PERM_EDIT);
	ck_assert_int_eq(mt_perm_parse("NO_PERMISSIONS", &p), 0);
	ck_assert_int_eq(p, MT_PERM_NONE);
	/* MLflow's names exactly. */
	ck_assert_int_eq(mt_perm_parse("edit", &p), -1);
	ck_assert_int_eq(mt_perm_parse("", &p), -1);
	ck_assert_int_eq(mt_perm_parse(NULL, &p), -1);
	ck_assert(MT_PERM_NONE < MT_PERM_READ && MT_PERM_READ < MT_PERM_EDIT &&
		  MT_PERM_EDIT < MT_PERM_MANAGE);
}
END_TEST

/* ---- parsing: {input, canonical form} ---- */

static const struct {
	const char *in, *out;
} good[] = {
	{ "read:*", "read:*" },
	{ "READ:*", "read:*" },
	{ "experiment:7:EDIT", "experiment:7:EDIT" },
	{ "experiment:007:read", "experiment:7:READ" },
	{ "model:churn:MANAGE", "model:churn:MANAGE" },
	{ "model:churn:promote:Staging", "model:churn:promote:Staging" },
	{ "Model:churn:PROMOTE:production", "model:churn:promote:Production" },
	{ " experiment:1:READ , model:x:READ ", "experiment:1:READ,model:x:READ" },
	{ "model:my%3Amodel%2Cv2:READ", "model:my%3Amodel%2Cv2:READ" },
	{ "model:a%20b:EDIT", "model:a%20b:EDIT" },
	{ "model:100%25:EDIT", "model:100%25:EDIT" },
	{ "model:caf\xc3\xa9:READ", "model:caf\xc3\xa9:READ" },
	{ "model:%41:READ", "model:A:READ" },
	{ "read:*,experiment:3:EDIT,model:churn:promote:Staging",
	  "read:*,experiment:3:EDIT,model:churn:promote:Staging" },
	{ "experiment:999999999999999999:MANAGE", "experiment:999999999999999999:MANAGE" },
};

START_TEST(test_good)
{
	struct mt_arena a;
	struct mt_scope s, s2;
	struct mt_err err = MT_ERR_INIT;
	const char *out;

	mt_arena_init(&a);
	ck_assert_msg(mt_scope_parse(&s, good[_i].in, &a, &err) == 0, "%s: %s", good[_i].in,
		      err.msg);
	out = mt_scope_format(&s, &a);
	ck_assert_str_eq(out, good[_i].out);
	ck_assert_int_eq(mt_scope_parse(&s2, out, &a, &err), 0);
	ck_assert_str_eq(mt_scope_format(&s2, &a), out);
	mt_arena_release(&a);
}
END_TEST

/* ---- refusals: {input, words the message must hold} ---- */

static const struct {
	const char *in, *why;
} bad[] = {
	{ "", "empty" },
	{ "read", "read:*" },
	{ "read:x", "read:*" },
	{ "write:*", "read:, experiment: or model:" },
	{ "experiment:7", "experiment:ID" },
	{ "experiment:x:READ", "not a number" },
	{ "experiment::READ", "not a number" },
	{ "experiment:-1:READ", "not a number" },
	{ "experiment:1234567890123456789:READ", "not a number" },
	{ "experiment:7:WRITE", "READ, EDIT or MANAGE" },
	{ "experiment:7:NO_PERMISSIONS", "grants nothing" },
	{ "model:churn:NO_PERMISSIONS", "grants nothing" },
	{ "model::READ", "empty" },
	{ "model:churn", "model:NAME" },
	{ "model:a:b:c:READ", "too many ':'" },
	{ "model:churn:promote:QA", "Staging or Production" },
	{ "model:churn:promote:None", "Staging or Production" },
	{ "model:churn:demote:Staging", "promote:STAGE" },
	{ "model:churn:OWN", "READ, EDIT or MANAGE" },
	{ "model:a b:READ", "%XX" },
	{ "model:a%2:READ", "%XX" },
	{ "model:a%zz:READ", "%XX" },
	{ "model:a%00:READ", "NUL" },
	{ "model:%ff:READ", "UTF-8" },
	{ "read:*,", "grant 2 is empty" },
	{ ",read:*", "grant 1 is empty" },
	{ "read:*,,read:*", "grant 2 is empty" },
	{ "read:*\n", "control byte" },
};

START_TEST(test_bad)
{
	struct mt_arena a;
	struct mt_scope s;
	struct mt_err err = MT_ERR_INIT;

	mt_arena_init(&a);
	ck_assert_msg(mt_scope_parse(&s, bad[_i].in, &a, &err) == -1, "accepted: %s", bad[_i].in);
	ck_assert_int_eq(err.code, MT_EINVAL);
	ck_assert_msg(strstr(err.msg, bad[_i].why) != NULL, "%s: %s", bad[_i].in, err.msg);
	ck_assert_msg(strncmp(err.msg, "invalid scope", 13) == 0, "%s", err.msg);
	mt_arena_release(&a);
}
END_TEST

START_TEST(test_limits)
{
	struct mt_arena a;
	struct mt_scope s;
	struct mt_err err = MT_ERR_INIT;
	char buf[MT_SCOPE_MAX_LEN + 64];
	size_t n = 0;

	mt_arena_init(&a);
	for (int i = 0; i < MT_SCOPE_MAX_GRANTS; i++)
		n += (size_t)sprintf(buf + n, "%sexperiment:%d:READ", i ? "," : "", i);
	ck_assert_int_eq(mt_scope_parse(&s, buf, &a, &err), 0);
	ck_assert_uint_eq(s.n, MT_SCOPE_MAX_GRANTS);
	sprintf(buf + n, ",read:*");
	ck_assert_int_eq(mt_scope_parse(&s, buf, &a, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than"));
	memset(buf, 'x', MT_SCOPE_MAX_LEN + 1);
	memcpy(buf, "model:", 6);
	buf[MT_SCOPE_MAX_LEN + 1] = '\0';
	ck_assert_int_eq(mt_scope_parse(&s, buf, &a, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "longer than"));
	mt_arena_release(&a);
}
END_TEST

/* ---- what a scope grants ---- */

START_TEST(test_grants)
{
	struct mt_arena a;
	struct mt_scope s;
	struct mt_err err = MT_ERR_INIT;
	enum mt_stage_cap cap;

	mt_arena_init(&a);
	ck_assert_int_eq(mt_scope_parse(&s, "experiment:7:EDIT,model:churn:promote:Staging,"
					 "model:x%3Ay:MANAGE", &a, &err), 0);
	ck_assert_int_eq(mt_scope_experiment(&s, 7), MT_PERM_EDIT);
	ck_assert_int_eq(mt_scope_experiment(&s, 8), MT_PERM_NONE);
	ck_assert_int_eq(mt_scope_model(&s, "churn", &cap), MT_PERM_EDIT);
	ck_assert_int_eq(cap, MT_CAP_STAGING);
	ck_assert_int_eq(mt_scope_model(&s, "x:y", &cap), MT_PERM_MANAGE);
	ck_assert_int_eq(cap, MT_CAP_ANY);
	ck_assert_int_eq(mt_scope_model(&s, "Churn", &cap), MT_PERM_NONE); /* names are exact */
	ck_assert_int_eq(mt_scope_model(&s, "other", &cap), MT_PERM_NONE);
	ck_assert_int_eq(mt_scope_reads_all(&s), 0);
	ck_assert_int_eq(mt_scope_edits_a_model(&s), 1);

	/* Grants add up; a plain EDIT lifts a promote limit, in either order. */
	ck_assert_int_eq(mt_scope_parse(&s, "read:*,model:m:promote:Staging,model:m:EDIT", &a,
					 &err), 0);
	ck_assert_int_eq(mt_scope_model(&s, "m", &cap), MT_PERM_EDIT);
	ck_assert_int_eq(cap, MT_CAP_ANY);
	ck_assert_int_eq(mt_scope_model(&s, "n", &cap), MT_PERM_READ);
	ck_assert_int_eq(mt_scope_experiment(&s, 42), MT_PERM_READ);
	ck_assert_int_eq(mt_scope_reads_all(&s), 1);
	ck_assert_int_eq(mt_scope_parse(&s, "model:m:EDIT,model:m:promote:Staging", &a, &err), 0);
	ck_assert_int_eq(mt_scope_model(&s, "m", &cap), MT_PERM_EDIT);
	ck_assert_int_eq(cap, MT_CAP_ANY);
	ck_assert_int_eq(mt_scope_parse(&s, "model:m:promote:Staging,model:m:promote:Production",
					 &a, &err), 0);
	ck_assert_int_eq(mt_scope_model(&s, "m", &cap), MT_PERM_EDIT);
	ck_assert_int_eq(cap, MT_CAP_PRODUCTION);
	ck_assert_int_eq(mt_scope_parse(&s, "read:*", &a, &err), 0);
	ck_assert_int_eq(mt_scope_edits_a_model(&s), 0);
	ck_assert_int_eq(mt_scope_parse(&s, "model:m:READ", &a, &err), 0);
	ck_assert_int_eq(mt_scope_edits_a_model(&s), 0);
	mt_arena_release(&a);
}
END_TEST

START_TEST(test_stages)
{
	/* A Staging limit: into None or Staging, never out of Production. */
	ck_assert(mt_stage_allowed(MT_CAP_STAGING, "None", "Staging"));
	ck_assert(mt_stage_allowed(MT_CAP_STAGING, "Staging", "None"));
	ck_assert(mt_stage_allowed(MT_CAP_STAGING, "Archived", "Staging"));
	ck_assert(!mt_stage_allowed(MT_CAP_STAGING, "Staging", "Production"));
	ck_assert(!mt_stage_allowed(MT_CAP_STAGING, "Staging", "Archived"));
	ck_assert(!mt_stage_allowed(MT_CAP_STAGING, "Production", "Staging"));
	ck_assert(!mt_stage_allowed(MT_CAP_STAGING, "None", NULL));
	ck_assert(mt_stage_allowed(MT_CAP_PRODUCTION, "Production", "Archived"));
	ck_assert(mt_stage_allowed(MT_CAP_PRODUCTION, "None", "Production"));
	ck_assert(mt_stage_allowed(MT_CAP_ANY, "Production", "None"));
}
END_TEST

Suite *make_scope_suite(void)
{
	Suite *s = suite_create("scope");
	TCase *tc;

	tc = tcase_create("perm_names");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_perm_names);
	suite_add_tcase(s, tc);
	tc = tcase_create("good");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_good, 0, (int)(sizeof(good) / sizeof(good[0])));
	suite_add_tcase(s, tc);
	tc = tcase_create("bad");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_bad, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("grants");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_grants);
	suite_add_tcase(s, tc);
	tc = tcase_create("stages");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_stages);
	suite_add_tcase(s, tc);
	return s;
}
