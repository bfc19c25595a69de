/* check_fields.c: request schemas checked as MLflow's server checks them. */
#include <string.h>

#include "mt_check.h"
#include "mt_fields.h"

#define END { NULL, 0, 0, NULL, NULL, 0 }
#define DOCS " See the API docs for more information about request parameters."

static const char *const statuses[] = { "RUNNING", "FINISHED", NULL };
static const struct mt_field entry[] = {
	{ "key", MT_FT_STRING, MT_FF_REQUIRED, NULL, NULL, 0 },
	{ "value", MT_FT_DOUBLE, MT_FF_REQUIRED, NULL, NULL, 0 },
	{ "step", MT_FT_INT64, 0, NULL, NULL, 0 },
	END
};
/* Schema order: run_id, key, value, timestamp, then the rest. */
static const struct mt_field schema[] = {
	{ "run_id", MT_FT_STRING, MT_FF_REQUIRED | MT_FF_RUN_ID, NULL, NULL, 0 },
	{ "key", MT_FT_STRING, MT_FF_REQUIRED, NULL, NULL, 0 },
	{ "value", MT_FT_DOUBLE, 0, NULL, NULL, 0 },
	{ "timestamp", MT_FT_INT64, 0, NULL, NULL, 0 },
	{ "max_results", MT_FT_INT32, 0, NULL, NULL, 50000 },
	{ "status", MT_FT_ENUM, 0, NULL, statuses, 0 },
	{ "archive", MT_FT_BOOL, 0, NULL, NULL, 0 },
	{ "ids", MT_FT_STRING, MT_FF_REPEATED, NULL, NULL, 0 },
	{ "metrics", MT_FT_MESSAGE, MT_FF_REPEATED, entry, NULL, 0 },
	{ "run_uuid", MT_FT_STRING, 0, NULL, NULL, 0 },
	END
};

#define INV(v, p, t) "Invalid value " v " for parameter '" p "' supplied. Hint: Value was of type '" t "'." DOCS
#define MISS(p) "Missing value for required parameter '" p "'." DOCS

static const struct {
	const char *json;
	int query;
	const char *want; /* NULL: accepted */
} cases[] = {
	{ "{\"run_id\": \"r\", \"key\": \"k\"}", 0, NULL },
	{ "{\"run_uuid\": \"r\", \"key\": \"k\", \"unknown\": [1, {}]}", 0, NULL },
	{ "{\"run_id\": 31, \"key\": 31}", 0, INV("31", "run_id", "int") },
	{ "{\"run_uuid\": 5, \"key\": \"k\"}", 0, INV("5", "run_id", "int") },
	{ "{\"key\": \"k\"}", 0, MISS("run_id") },
	{ "{\"run_id\": null, \"key\": \"k\"}", 0, MISS("run_id") },
	{ "{\"run_id\": \"\", \"key\": \"k\"}", 0, MISS("run_id") },
	{ "{\"run_id\": \"r\", \"timestamp\": \"x\"}", 0, MISS("key") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"value\": \"1.5\", \"timestamp\": \"12\"}", 0, NULL },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"value\": \"NaN\", \"timestamp\": 3.0}", 0, NULL },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"value\": true}", 0, INV("True", "value", "bool") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"value\": \"abc\"}", 0, INV("abc", "value", "str") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"timestamp\": 1.5}", 0, INV("1.5", "timestamp", "float") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"timestamp\": \"1.0\"}", 0, INV("1.0", "timestamp", "str") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"timestamp\": true}", 0, INV("True", "timestamp", "bool") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"max_results\": 50000}", 0, NULL },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"max_results\": 50001}", 0, INV("50001", "max_results", "int") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"max_results\": -3000000000}", 0,
	  INV("-3000000000", "max_results", "int") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"status\": \"finished\"}", 0, NULL },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"status\": 2}", 0, NULL },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"status\": 3}", 0, INV("3", "status", "int") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"archive\": \"true\"}", 0, INV("true", "archive", "str") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"archive\": false}", 0, NULL },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"ids\": \"a\"}", 0, INV("a", "ids", "str") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"ids\": [\"a\", 1]}", 0, INV("['a', 1]", "ids", "list") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"ids\": []}", 0, NULL },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"metrics\": [{\"key\": \"m\", \"value\": 1}]}", 0, NULL },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"metrics\": [{\"key\": \"m\"}]}", 0,
	  INV("[{'key': 'm'}]", "metrics", "list") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"metrics\": [{\"key\": \"m\", \"value\": 1, \"step\": \"s\"}]}", 0,
	  INV("[{'key': 'm', 'value': 1, 'step': 's'}]", "metrics", "list") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"metrics\": {\"key\": \"m\"}}", 0,
	  INV("{'key': 'm'}", "metrics", "dict") },
	/* query strings: strings only */
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"timestamp\": \"12\", \"archive\": \"TRUE\", \"status\": \"2\"}", 1, NULL },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"ids\": \"a\"}", 1, NULL },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"archive\": \"yes\"}", 1, INV("yes", "archive", "str") },
	{ "{\"run_id\": \"r\", \"key\": \"k\", \"max_results\": \"3000000000\"}", 1,
	  INV("3000000000", "max_results", "str") },
	{ "{\"run_id\": [\"a\", \"b\"], \"key\": \"k\"}", 1, INV("['a', 'b']", "run_id", "list") },
};

START_TEST(test_check)
{
	json_t *j = json_loads(cases[_i].json, 0, NULL);
	struct mt_err err = MT_ERR_INIT;
	int rc;

	ck_assert_ptr_nonnull(j);
	rc = mt_fields_check(schema, j, cases[_i].query, &err);
	if (!cases[_i].want) {
		ck_assert_msg(rc == 0, "%s: %s", cases[_i].json, err.msg);
	} else {
		ck_assert_int_eq(rc, -1);
		ck_assert_int_eq(err.code, MT_EINVAL);
		ck_assert_str_eq(err.msg, cases[_i].want);
	}
	json_decref(j);
}
END_TEST

Suite *make_fields_suite(void)
{
	Suite *s = suite_create("fields");
	TCase *tc = tcase_create("check");

	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_check, 0, sizeof(cases) / sizeof(cases[0]));
	suite_add_tcase(s, tc);
	return s;
}
