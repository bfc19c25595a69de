/* check_json.c: lenient proto-JSON reading and page tokens. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mt_check.h"
#include "mt_json.h"

static const struct {
	const char *json;   /* {"v": ...} */
	int ok;
	long long want;
} i64_cases[] = {
	{ "{\"v\": 42}", 1, 42 },
	{ "{\"v\": \"42\"}", 1, 42 },
	{ "{\"v\": \"-7\"}", 1, -7 },
	{ "{\"v\": 3.0}", 1, 3 },
	{ "{\"v\": \"9223372036854775807\"}", 1, 9223372036854775807LL },
	{ "{\"v\": \"9223372036854775808\"}", 0, 0 },
	{ "{\"v\": 3.5}", 0, 0 },
	{ "{\"v\": \"12abc\"}", 0, 0 },
	{ "{\"v\": \"\"}", 0, 0 },
	{ "{\"v\": true}", 0, 0 },
	{ "{\"v\": [1]}", 0, 0 },
};

START_TEST(test_i64)
{
	json_t *j = json_loads(i64_cases[_i].json, 0, NULL);
	struct mt_err err = MT_ERR_INIT;
	long long v = 0;
	int rc = mt_json_i64(&v, json_object_get(j, "v"), "v", &err);

	ck_assert_int_eq(rc == 0, i64_cases[_i].ok);
	if (i64_cases[_i].ok)
		ck_assert_int_eq(v, i64_cases[_i].want);
	else
		ck_assert_int_eq(err.code, MT_EINVAL);
	json_decref(j);
}
END_TEST

static const struct {
	const char *json;
	int ok;
	double want; /* NAN for NaN */
} dbl_cases[] = {
	{ "{\"v\": 0.5}", 1, 0.5 },
	{ "{\"v\": 2}", 1, 2.0 },
	{ "{\"v\": \"NaN\"}", 1, NAN },
	{ "{\"v\": \"Infinity\"}", 1, INFINITY },
	{ "{\"v\": \"-Infinity\"}", 1, -INFINITY },
	{ "{\"v\": \"1e3\"}", 1, 1000.0 },
	{ "{\"v\": \"0x10\"}", 0, 0 },
	{ "{\"v\": true}", 0, 0 },
	{ "{\"v\": \"abc\"}", 0, 0 },
	{ "{\"v\": null}", 0, 0 },
};

START_TEST(test_double)
{
	json_t *j = json_loads(dbl_cases[_i].json, 0, NULL);
	struct mt_err err = MT_ERR_INIT;
	double v = 0;
	int rc = mt_json_double(&v, json_object_get(j, "v"), "v", &err);

	ck_assert_int_eq(rc == 0, dbl_cases[_i].ok);
	if (dbl_cases[_i].ok) {
		if (isnan(dbl_cases[_i].want))
			ck_assert(isnan(v));
		else
			ck_assert(v == dbl_cases[_i].want);
	}
	json_decref(j);
}
END_TEST

START_TEST(test_strings_and_lists)
{
	struct mt_arena a;
	struct mt_err err = MT_ERR_INIT;
	json_t *j = json_loads("{\"id\": 7, \"s\": \"x\", \"e\": \"\", \"o\": {}, "
			       "\"l\": [\"a\", 2], \"one\": \"b\", \"bad\": [{}]}", 0, NULL);
	const char *s, **l;
	size_t n;

	mt_arena_init(&a);
	/* A number is not a string (protobuf's JSON rule): MLflow's message. */
	ck_assert_int_eq(mt_json_opt_str(&s, j, "id", &a, &err), -1);
	ck_assert_str_eq(err.msg, "Invalid value 7 for parameter 'id' supplied. Hint: Value was "
				  "of type 'int'. See the API docs for more information about "
				  "request parameters.");
	ck_assert_int_eq(mt_json_opt_str(&s, j, "s", &a, &err), 0);
	ck_assert_str_eq(s, "x");
	ck_assert_int_eq(mt_json_opt_str(&s, j, "missing", &a, &err), 0);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(mt_json_req_str(&s, j, "e", &a, &err), -1);
	ck_assert_str_eq(err.msg, "Missing value for required parameter 'e'. See the API docs for "
				  "more information about request parameters.");
	ck_assert_int_eq(mt_json_opt_str(&s, j, "o", &a, &err), -1);
	ck_assert_int_eq(mt_json_str_list(&l, &n, j, "l", &a, &err), -1);
	ck_assert_str_eq(err.msg, "Invalid value ['a', 2] for parameter 'l' supplied. Hint: Value "
				  "was of type 'list'. See the API docs for more information about "
				  "request parameters.");
	ck_assert_int_eq(mt_json_str_list(&l, &n, j, "one", &a, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(l[0], "b");
	ck_assert_int_eq(mt_json_str_list(&l, &n, j, "bad", &a, &err), -1);
	json_decref(j);
	mt_arena_release(&a);
}
END_TEST

START_TEST(test_page_token)
{
	struct mt_arena a;
	struct mt_err err = MT_ERR_INIT;
	long long off = -1;

	mt_arena_init(&a);
	/* MLflow's own token for offset 1. */
	ck_assert_str_eq(mt_page_token_encode(&a, 1), "eyJvZmZzZXQiOiAxfQ==");
	ck_assert_int_eq(mt_page_token_decode(&off, "eyJvZmZzZXQiOiAxfQ==", &err), 0);
	ck_assert_int_eq(off, 1);
	ck_assert_int_eq(mt_page_token_decode(&off, mt_page_token_encode(&a, 123456), &err), 0);
	ck_assert_int_eq(off, 123456);
	ck_assert_int_eq(mt_page_token_decode(&off, "not a token", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "Invalid page token"));
	ck_assert_int_eq(mt_page_token_decode(&off, "e30=", &err), -1); /* {} */
	ck_assert_int_eq(mt_page_token_decode(&off, "", &err), -1);
	mt_arena_release(&a);
}
END_TEST

START_TEST(test_history_token)
{
	static const double vals[] = { 0.0, -0.0, 1.5, -2.25e-300, 1.7976931348623157e308,
				       0.1, 1e300, 12345678901234567.0 };
	struct mt_arena a;
	struct mt_err err = MT_ERR_INIT;
	struct mt_history_cursor c = { -5, 1700000000123LL, 0 }, back;

	mt_arena_init(&a);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]) + 3; i++) {
		c.value = i < 8 ? vals[i] : i == 8 ? NAN : i == 9 ? INFINITY : -INFINITY;
		c.step = (long long)i * 1000000007LL - 3;
		ck_assert_int_eq(mt_history_token_decode(&back, mt_history_token_encode(&a, &c),
							 &err), 0);
		ck_assert_int_eq(back.step, c.step);
		ck_assert_int_eq(back.timestamp, c.timestamp);
		if (isnan(c.value))
			ck_assert(isnan(back.value));
		else
			ck_assert(memcmp(&back.value, &c.value, sizeof(double)) == 0);
	}
	/* {"step": 1, "timestamp": 2, "value": 3} is one; search's offsets,
	 * fractions, text values, missing or extra members are not. */
	ck_assert_int_eq(mt_history_token_decode(&back,
		"eyJzdGVwIjogMSwgInRpbWVzdGFtcCI6IDIsICJ2YWx1ZSI6IDN9", &err), 0);
	ck_assert(back.step == 1 && back.timestamp == 2 && back.value == 3.0);
	ck_assert_int_eq(mt_history_token_decode(&back, "eyJvZmZzZXQiOiAxfQ==", &err), -1);
	ck_assert_str_eq(err.msg, "Invalid page token");
	ck_assert_int_eq(mt_history_token_decode(&back, "", &err), -1);
	ck_assert_int_eq(mt_history_token_decode(&back, "not a token", &err), -1);
	/* {"step": 1.5, "timestamp": 2, "value": 3} */
	ck_assert_int_eq(mt_history_token_decode(&back,
		"eyJzdGVwIjogMS41LCAidGltZXN0YW1wIjogMiwgInZhbHVlIjogM30=", &err), -1);
	/* {"step": 1, "timestamp": 2, "value": "3"} */
	ck_assert_int_eq(mt_history_token_decode(&back,
		"eyJzdGVwIjogMSwgInRpbWVzdGFtcCI6IDIsICJ2YWx1ZSI6ICIzIn0=", &err), -1);
	/* {"step": 1, "timestamp": 2, "value": 3, "x": 0} */
	ck_assert_int_eq(mt_history_token_decode(&back,
		"eyJzdGVwIjogMSwgInRpbWVzdGFtcCI6IDIsICJ2YWx1ZSI6IDMsICJ4IjogMH0=", &err), -1);
	mt_arena_release(&a);
}
END_TEST

START_TEST(test_double_out)
{
	json_t *n = mt_json_double_new(NAN), *p = mt_json_double_new(INFINITY);
	json_t *r = mt_json_double_new(0.25);

	ck_assert_str_eq(json_string_value(n), "NaN");
	ck_assert_str_eq(json_string_value(p), "Infinity");
	ck_assert(json_real_value(r) == 0.25);
	json_decref(n);
	json_decref(p);
	json_decref(r);
}
END_TEST

START_TEST(test_depth)
{
	static const char nested[] = "{\"a\":[{\"b\":1}]}";
	static const char quoted[] = "{\"k\":\"[[[[\\\"[[[\"}";
	char deep[300];
	int i;

	ck_assert_int_eq(mt_json_depth_ok(nested, strlen(nested), 3), 1);
	ck_assert_int_eq(mt_json_depth_ok(nested, strlen(nested), 2), 0);
	/* brackets inside strings, with escaped quotes, do not count */
	ck_assert_int_eq(mt_json_depth_ok(quoted, strlen(quoted), 1), 1);
	for (i = 0; i < 100; i++)
		deep[i] = '[';
	for (; i < 200; i++)
		deep[i] = ']';
	ck_assert_int_eq(mt_json_depth_ok(deep, 200, 64), 0);
	ck_assert_int_eq(mt_json_depth_ok(deep, 200, 100), 1);
	ck_assert_int_eq(mt_json_depth_ok("", 0, 1), 1);
}
END_TEST


/* Doubles as Python's repr() (and so MLflow's JSON) writes them. */
static const struct {
	double v;
	const char *want;
} fmt_cases[] = {
	{ 0.99, "0.99" }, { 1e-7, "1e-07" }, { 1e300, "1e+300" }, { 100.0, "100.0" },
	{ 0.1 + 0.2, "0.30000000000000004" }, { -0.0, "-0.0" }, { 0.0, "0.0" },
	{ 0.0001, "0.0001" }, { 0.00001, "1e-05" }, { 1e16, "1e+16" },
	{ 9999999999999998.0, "9999999999999998.0" }, { 1.5e16, "1.5e+16" },
	{ 123.456, "123.456" }, { -2.5, "-2.5" }, { 5e-324, "5e-324" },
	{ 1.7976931348623157e308, "1.7976931348623157e+308" }, { 1234567.0, "1234567.0" },
	{ 0.000123, "0.000123" }, { 3.14159, "3.14159" },
};

START_TEST(test_fmt_double)
{
	char out[MT_JSON_DOUBLE_MAX];
	size_t n = mt_json_fmt_double(out, fmt_cases[_i].v);

	ck_assert_str_eq(out, fmt_cases[_i].want);
	ck_assert_uint_eq(n, strlen(fmt_cases[_i].want));
	ck_assert(strtod(out, NULL) == fmt_cases[_i].v);
}
END_TEST

/* The same values as PostgreSQL's float8out writes them. */
static const char *const pg_texts[] = {
	"0.99", "1e-07", "1e+300", "100", "0.30000000000000004", "-0", "0", "0.0001", "1e-05",
	"1e+16", "9.999999999999998e+15", "1.5e+16", "123.456", "-2.5", "5e-324",
	"1.7976931348623157e+308", "1234567", "0.000123", "3.14159",
};

_Static_assert(sizeof(pg_texts) / sizeof(pg_texts[0]) == sizeof(fmt_cases) / sizeof(fmt_cases[0]),
	       "one PostgreSQL text per case");

START_TEST(test_fmt_pg_float8)
{
	char out[MT_JSON_DOUBLE_MAX];
	size_t n = mt_json_fmt_pg_float8(out, pg_texts[_i]);

	ck_assert_str_eq(out, fmt_cases[_i].want);
	ck_assert_uint_eq(n, strlen(fmt_cases[_i].want));
}
END_TEST

/* The shortest digits found the slow way: every precision from 1 digit. */
static int shortest_prec(double v)
{
	char sci[40];
	int prec;

	for (prec = 0; prec < 16; prec++) {
		snprintf(sci, sizeof(sci), "%.*e", prec, v);
		if (strtod(sci, NULL) == v)
			break;
	}
	return prec;
}

/* Random doubles of every exponent: mt_json_fmt_double reads back exactly
 * with the fewest digits, and mt_json_fmt_pg_float8 gives the same text
 * from those digits however they are laid out (exponent or fixed, as
 * PostgreSQL may write them). */
START_TEST(test_fmt_random)
{
	unsigned seed = 4242;

	for (int i = 0; i < 20000; i++) {
		uint64_t bits = ((uint64_t)rand_r(&seed) << 42) ^ ((uint64_t)rand_r(&seed) << 21) ^
				(uint64_t)rand_r(&seed);
		char out[MT_JSON_DOUBLE_MAX], pg[MT_JSON_DOUBLE_MAX], text[64];
		int prec, nsig = 0;
		double v;

		if (i % 4 == 0) /* short decimals, as people log them */
			v = (double)(rand_r(&seed) % 100000) / 1000.0 * (rand_r(&seed) % 2 ? 1 : -1);
		else
			memcpy(&v, &bits, sizeof(v));
		if (!isfinite(v))
			continue;
		mt_json_fmt_double(out, v);
		ck_assert_msg(strtod(out, NULL) == v, "%s does not read back", out);
		prec = shortest_prec(v);
		for (const char *c = out; *c && *c != 'e'; c++)
			nsig += *c >= '1' && *c <= '9' ? 1 : 0;
		ck_assert_msg(nsig <= prec + 1, "%s: more than %d digits", out, prec + 1);
		snprintf(text, sizeof(text), "%.*e", prec, v);
		ck_assert_uint_gt(mt_json_fmt_pg_float8(pg, text), 0);
		ck_assert_str_eq(pg, out);
		snprintf(text, sizeof(text), "%.*g", prec + 1, v);
		ck_assert_uint_gt(mt_json_fmt_pg_float8(pg, text), 0);
		ck_assert_str_eq(pg, out);
	}
}
END_TEST

/* The shortest precision found from 15 digits up: the same as trying
 * every precision from the shortest, for doubles of every kind (random
 * bit patterns, random()'s values, short decimals, integers). */
START_TEST(test_fmt_double_shortest)
{
	unsigned long long x = 88172645463325252ULL;

	for (int i = 0; i < 200000; i++) {
		char out[MT_JSON_DOUBLE_MAX], sci[40], want[40];
		double v;
		int prec;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		switch (i % 4) {
		case 0: memcpy(&v, &x, sizeof(v)); break;
		case 1: v = (double)(x >> 11) / 9007199254740992.0; break;
		case 2: v = (double)(x % 100000) / 1000.0; break;
		default: v = (double)(long long)(x % 2000000000) - 1e9; break;
		}
		if (!isfinite(v))
			continue;
		for (prec = 0; prec < 17; prec++) {
			snprintf(sci, sizeof(sci), "%.*e", prec, v);
			if (strtod(sci, NULL) == v)
				break;
		}
		snprintf(want, sizeof(want), "%.*e", prec, v);
		mt_json_fmt_double(out, v);
		ck_assert(strtod(out, NULL) == v);
		/* The same digits: out read back in %e at that precision. */
		snprintf(sci, sizeof(sci), "%.*e", prec, strtod(out, NULL));
		ck_assert_str_eq(sci, want);
		/* And no shorter: one digit less does not read back. */
		if (prec > 0) {
			snprintf(sci, sizeof(sci), "%.*e", prec - 1, v);
			ck_assert(strtod(sci, NULL) != v);
		}
	}
}
END_TEST

START_TEST(test_fmt_pg_float8_other)
{
	char out[MT_JSON_DOUBLE_MAX];

	ck_assert_uint_eq(mt_json_fmt_pg_float8(out, "NaN"), 3);
	ck_assert_str_eq(out, "NaN");
	mt_json_fmt_pg_float8(out, "-Infinity");
	ck_assert_str_eq(out, "-Infinity");
	for (const char *const *bad = (const char *const[]){ "", "-", "x", "1..2", "1e", "1e+x",
							   "1 ", "1e999", "12345678901234567890123",
							   NULL };
	     *bad; bad++)
		ck_assert_msg(mt_json_fmt_pg_float8(out, *bad) == 0, "'%s' accepted", *bad);
}
END_TEST

START_TEST(test_fmt_nonfinite)
{
	char out[MT_JSON_DOUBLE_MAX];

	mt_json_fmt_double(out, NAN);
	ck_assert_str_eq(out, "NaN");
	mt_json_fmt_double(out, INFINITY);
	ck_assert_str_eq(out, "Infinity");
	mt_json_fmt_double(out, -INFINITY);
	ck_assert_str_eq(out, "-Infinity");
}
END_TEST

START_TEST(test_dumps)
{
	json_t *j = json_pack("{s:f,s:f,s:I,s:s,s:[b,n],s:{}}", "v", 0.99, "w", 1e-7, "i",
			      (json_int_t)-5, "s", "a\"b\\c\n\x01/é", "l", 1, "o");
	size_t len;
	char *s = mt_json_dumps(j, &len);

	ck_assert_str_eq(s, "{\"v\":0.99,\"w\":1e-07,\"i\":-5,\"s\":\"a\\\"b\\\\c\\n\\u0001/é\","
			    "\"l\":[true,null],\"o\":{}}");
	ck_assert_uint_eq(len, strlen(s));
	free(s);
	/* a NUL inside a string is escaped, not a cut */
	json_decref(j);
	j = json_stringn("a\0b", 3);
	s = mt_json_dumps(j, NULL);
	ck_assert_str_eq(s, "\"a\\u0000b\"");
	free(s);
	json_decref(j);
}
END_TEST

/* MLflow quotes the value as Python's str() of what json.loads made. */
static const struct {
	const char *json;
	const char *want;
} pystr_cases[] = {
	{ "\"foo\"", "foo" }, { "123", "123" }, { "9.0", "9.0" }, { "1e2", "100.0" },
	{ "true", "True" }, { "null", "None" }, { "[]", "[]" }, { "{}", "{}" },
	{ "[{\"key\": \"mae\", \"value\": 2.5}]", "[{'key': 'mae', 'value': 2.5}]" },
	{ "[\"it's\", \"a\\\"b\", \"back\\\\slash\", \"nl\\n\"]",
	  "[\"it's\", 'a\"b', 'back\\\\slash', 'nl\\n']" },
	{ "[null, false, 1.5, [1, \"2\"]]", "[None, False, 1.5, [1, '2']]" },
};

START_TEST(test_pystr)
{
	json_t *j = json_loads(pystr_cases[_i].json, JSON_DECODE_ANY, NULL);
	char out[256];

	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(mt_json_pystr(out, sizeof(out), j), pystr_cases[_i].want);
	json_decref(j);
}
END_TEST

START_TEST(test_messages)
{
	struct mt_err err = MT_ERR_INIT;
	json_t *j = json_loads("[{\"key\": \"mae\", \"value\": 2.5}]", 0, NULL);
	json_t *big = json_array();
	char out[64];

	ck_assert_int_eq(mt_json_invalid(&err, "metrics", j), -1);
	ck_assert_int_eq(err.code, MT_EINVAL);
	ck_assert_str_eq(err.msg, "Invalid value [{'key': 'mae', 'value': 2.5}] for parameter "
				  "'metrics' supplied. Hint: Value was of type 'list'. See the API "
				  "docs for more information about request parameters.");
	mt_json_missing(&err, "key");
	ck_assert_str_eq(err.msg, "Missing value for required parameter 'key'. See the API docs "
				  "for more information about request parameters.");
	/* a long value is cut, with "...", and the message stays one line */
	for (int i = 0; i < 1000; i++)
		json_array_append_new(big, json_string("x\ny"));
	mt_json_invalid(&err, "tags", big);
	ck_assert_ptr_nonnull(strstr(err.msg, "... for parameter 'tags' supplied."));
	ck_assert_ptr_null(strchr(err.msg, '\n'));
	mt_json_pystr(out, sizeof(out), big);
	ck_assert_uint_lt(strlen(out), sizeof(out));
	ck_assert_str_eq(out + strlen(out) - 3, "...");
	json_decref(big);
	json_decref(j);
}
END_TEST

Suite *make_json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("read");

	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_i64, 0, sizeof(i64_cases) / sizeof(i64_cases[0]));
	tcase_add_loop_test(tc, test_double, 0, sizeof(dbl_cases) / sizeof(dbl_cases[0]));
	tcase_add_test(tc, test_strings_and_lists);
	tcase_add_test(tc, test_depth);
	suite_add_tcase(s, tc);
	tc = tcase_create("write");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_page_token);
	tcase_add_test(tc, test_history_token);
	tcase_add_test(tc, test_double_out);
	tcase_add_loop_test(tc, test_fmt_double, 0, sizeof(fmt_cases) / sizeof(fmt_cases[0]));
	tcase_add_loop_test(tc, test_fmt_pg_float8, 0, sizeof(pg_texts) / sizeof(pg_texts[0]));
	tcase_add_test(tc, test_fmt_random);
	tcase_add_test(tc, test_fmt_pg_float8_other);
	tcase_add_test(tc, test_fmt_double_shortest);
	tcase_add_test(tc, test_fmt_nonfinite);
	tcase_add_test(tc, test_dumps);
	tcase_add_loop_test(tc, test_pystr, 0, sizeof(pystr_cases) / sizeof(pystr_cases[0]));
	tcase_add_test(tc, test_messages);
	suite_add_tcase(s, tc);
	return s;
}
