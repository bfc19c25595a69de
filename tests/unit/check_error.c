/* check_error.c: the error table and mt_err. */
#include <string.h>

#include "mt_check.h"
#include "mt_error.h"

static const struct {
	enum mt_code code;
	const char *name;
	int http, exit;
} rows[] = {
	{ MT_EINVAL, "INVALID_PARAMETER_VALUE", 400, 2 },
	{ MT_EEXISTS, "RESOURCE_ALREADY_EXISTS", 400, 1 },
	{ MT_ENOTFOUND, "RESOURCE_DOES_NOT_EXIST", 404, 1 },
	{ MT_EPERM, "PERMISSION_DENIED", 403, 3 },
	{ MT_EUNAUTH, "UNAUTHENTICATED", 401, 3 },
	{ MT_EGATE, "GATE_FAILED", 412, 1 },
	{ MT_EINTERNAL, "INTERNAL_ERROR", 500, 3 },
	{ MT_ENOTIMPL, "NOT_IMPLEMENTED", 501, 3 },
	{ MT_EUNAVAIL, "TEMPORARILY_UNAVAILABLE", 503, 3 },
	{ MT_EDEADLINE, "DEADLINE_EXCEEDED", 504, 3 },
	{ MT_ECANCELLED, "CANCELLED", 499, 3 },
	{ MT_EEXHAUSTED, "RESOURCE_EXHAUSTED", 429, 3 },
};

START_TEST(test_rows)
{
	ck_assert_str_eq(mt_code_name(rows[_i].code), rows[_i].name);
	ck_assert_int_eq(mt_code_http(rows[_i].code), rows[_i].http);
	ck_assert_int_eq(mt_code_exit(rows[_i].code), rows[_i].exit);
	ck_assert_int_eq(mt_code_from_name(rows[_i].name), rows[_i].code);
}
END_TEST

START_TEST(test_set_returns_minus_one_and_one_line)
{
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(mt_err_set(&err, MT_EINVAL, "bad %s\nnext\tline", "key"), -1);
	ck_assert_int_eq(err.code, MT_EINVAL);
	ck_assert_str_eq(err.msg, "bad key next line");
	ck_assert_int_eq(mt_err_detail(&err, "SQLSTATE %s", "23505"), -1);
	ck_assert_str_eq(err.log_detail, "SQLSTATE 23505");
	ck_assert_str_eq(err.msg, "bad key next line");
	mt_err_clear(&err);
	ck_assert_int_eq(err.code, MT_OK);
	ck_assert_str_eq(err.msg, "");
}
END_TEST

START_TEST(test_message_stays_utf8)
{
	struct mt_err err = MT_ERR_INIT;
	char big[3000];
	size_t n;

	/* 'é' is two bytes: 1023 bytes of message cut the last one in half */
	for (n = 0; n + 2 < sizeof(big); n += 2) {
		big[n] = (char)0xc3;
		big[n + 1] = (char)0xa9;
	}
	big[n] = '\0';
	mt_err_set(&err, MT_EINVAL, "%s", big);
	n = strlen(err.msg);
	ck_assert_int_eq(err.msg[n - 1], '?');
	ck_assert_int_eq((unsigned char)err.msg[n - 2], 0xa9);
	mt_err_set(&err, MT_EINVAL, "bad \xff\xfe byte, cut \xe4\xb8");
	ck_assert_str_eq(err.msg, "bad ?? byte, cut ??");
	mt_err_set(&err, MT_EINVAL, "ok \xe4\xb8\xad\xf0\x9f\x98\x80");
	ck_assert_str_eq(err.msg, "ok \xe4\xb8\xad\xf0\x9f\x98\x80");
}
END_TEST

START_TEST(test_unknown_code)
{
	ck_assert_str_eq(mt_code_name((enum mt_code)9999), "INTERNAL_ERROR");
	ck_assert_int_eq(mt_code_http((enum mt_code)9999), 500);
	ck_assert_int_eq(mt_code_from_name("NO_SUCH_CODE"), MT_EINTERNAL);
	ck_assert_int_eq(mt_code_from_name(NULL), MT_EINTERNAL);
}
END_TEST

START_TEST(test_long_message_truncated)
{
	struct mt_err err = MT_ERR_INIT;
	char big[4000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mt_err_set(&err, MT_EINVAL, "%s", big);
	ck_assert_uint_eq(strlen(err.msg), MT_ERR_MSG_MAX - 1);
}
END_TEST

static const struct {
	const char *state;
	enum mt_code code;
	int retry;
} states[] = {
	{ "23505", MT_EEXISTS, 0 },     /* unique_violation */
	{ "23503", MT_ENOTFOUND, 0 },   /* foreign_key_violation */
	{ "22P02", MT_EINVAL, 0 },      /* invalid_text_representation */
	{ "22003", MT_EINVAL, 0 },      /* numeric_value_out_of_range */
	{ "54000", MT_EINVAL, 0 },      /* program_limit_exceeded (index row too big) */
	{ "40P01", MT_EUNAVAIL, 1 },    /* deadlock_detected */
	{ "40001", MT_EUNAVAIL, 1 },    /* serialization_failure */
	{ "08006", MT_EUNAVAIL, 0 },    /* connection_failure */
	{ "57P01", MT_EUNAVAIL, 0 },    /* admin_shutdown */
	{ "57014", MT_EDEADLINE, 0 },   /* query_canceled: statement_timeout, a 504 */
	{ "53300", MT_EUNAVAIL, 0 },    /* too_many_connections */
	{ "42P01", MT_EINTERNAL, 0 },   /* undefined_table: our bug, a 500 */
	{ "XX000", MT_EINTERNAL, 0 },
};

START_TEST(test_sqlstate)
{
	const char *msg = NULL;
	int retry = -1;

	ck_assert_int_eq(mt_code_from_sqlstate(states[_i].state, &msg, &retry), states[_i].code);
	ck_assert_int_eq(retry, states[_i].retry);
	ck_assert_ptr_nonnull(msg);
	ck_assert_ptr_null(strchr(msg, '\n'));
	/* user errors map below 500, server-side ones to 5xx */
	ck_assert_int_eq(mt_code_http(states[_i].code) >= 500,
			 states[_i].code == MT_EUNAVAIL || states[_i].code == MT_EINTERNAL ||
			 states[_i].code == MT_EDEADLINE);
}
END_TEST

/* A body too slow to arrive answers 408 under MLflow's BAD_REQUEST; the
 * name still reads back as BAD_REQUEST's own row (400). */
START_TEST(test_slow_body_row)
{
	ck_assert_int_eq(mt_code_http(MT_ESLOW), 408);
	ck_assert_str_eq(mt_code_name(MT_ESLOW), "BAD_REQUEST");
	ck_assert_int_eq(mt_code_from_name("BAD_REQUEST"), MT_EBADREQ);
}
END_TEST

/* A full artifact store: 507, with MLflow's RESOURCE_EXHAUSTED (whose own
 * row stays 429's). */
START_TEST(test_no_space_row)
{
	ck_assert_int_eq(mt_code_http(MT_ENOSPACE), 507);
	ck_assert_str_eq(mt_code_name(MT_ENOSPACE), "RESOURCE_EXHAUSTED");
	ck_assert_int_eq(mt_code_exit(MT_ENOSPACE), 3);
	ck_assert_int_eq(mt_code_from_name("RESOURCE_EXHAUSTED"), MT_EEXHAUSTED);
}
END_TEST

START_TEST(test_sqlstate_null)
{
	const char *msg;
	int retry;

	ck_assert_int_eq(mt_code_from_sqlstate(NULL, &msg, &retry), MT_EINTERNAL);
	ck_assert_int_eq(retry, 0);
}
END_TEST

Suite *make_error_suite(void)
{
	Suite *s = suite_create("error");
	TCase *tc = tcase_create("table");

	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_rows, 0, sizeof(rows) / sizeof(rows[0]));
	tcase_add_test(tc, test_unknown_code);
	tcase_add_test(tc, test_slow_body_row);
	tcase_add_test(tc, test_no_space_row);
	suite_add_tcase(s, tc);
	tc = tcase_create("err");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_set_returns_minus_one_and_one_line);
	tcase_add_test(tc, test_long_message_truncated);
	tcase_add_test(tc, test_message_stays_utf8);
	suite_add_tcase(s, tc);
	tc = tcase_create("sqlstate");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_sqlstate, 0, sizeof(states) / sizeof(states[0]));
	tcase_add_test(tc, test_sqlstate_null);
	suite_add_tcase(s, tc);
	return s;
}
