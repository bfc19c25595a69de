/* check_profile.c: lib/mt_profile: the CSV and JSON-lines readers, the
 * reference profile (types, quantile edges, top-k), live windows and the
 * drift and quality measures, each against values worked out by hand. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_check.h"
#include "mt_profile.h"

static json_t *build(const char *text, enum mt_profile_fmt fmt, const char *target,
		     const char *pred)
{
	struct mt_err err = MT_ERR_INIT;
	json_t *p = NULL;

	ck_assert_msg(mt_profile_build(&p, text, strlen(text), fmt, target, pred, &err) == 0,
		      "build: %s", err.msg);
	ck_assert_int_eq(mt_profile_check(p, &err), 0);
	return p;
}

static const char *build_err(const char *text, enum mt_profile_fmt fmt, const char *target)
{
	static struct mt_err err;
	json_t *p = NULL;

	err = (struct mt_err)MT_ERR_INIT;
	ck_assert_int_eq(mt_profile_build(&p, text, strlen(text), fmt, target, NULL, &err), -1);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(err.code, MT_EINVAL);
	return err.msg;
}

static const json_t *col(const json_t *p, const char *name)
{
	const json_t *c = json_object_get(json_object_get(p, "columns"), name);

	ck_assert_msg(c != NULL, "no column %s", name);
	return c;
}

static long long ival(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static double dval(const json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

START_TEST(csv_quoting_and_types)
{
	json_t *p = build("n,c,\"q,uoted\"\r\n1.5,\"a,b\",x\r\nNA,\"say \"\"hi\"\"\",\r\n"
			  "2.5,,\"multi\nline\"\n\n", MT_PROFILE_CSV, NULL, NULL);
	const json_t *n = col(p, "n"), *c = col(p, "c"), *q = col(p, "q,uoted");

	ck_assert_int_eq(ival(p, "rows"), 3);
	ck_assert_str_eq(json_string_value(json_object_get(n, "type")), "number");
	ck_assert_int_eq(ival(n, "count"), 2);
	ck_assert_int_eq(ival(n, "missing"), 1);
	ck_assert(dval(n, "mean") == 2.0 && dval(n, "std") == 0.5);
	ck_assert_str_eq(json_string_value(json_object_get(c, "type")), "category");
	ck_assert_int_eq(ival(json_object_get(c, "top"), "a,b"), 1);
	ck_assert_int_eq(ival(json_object_get(c, "top"), "say \"hi\""), 1);
	ck_assert_int_eq(ival(c, "missing"), 1);
	ck_assert_int_eq(ival(json_object_get(q, "top"), "multi\nline"), 1);
	ck_assert_int_eq(ival(q, "missing"), 1);
	json_decref(p);
}
END_TEST

/* 1..101: the quantile at i/100 is i + 1 exactly, so the edges are 2..100,
 * bin 0 holds 1 and 2, bins 1..98 one value each, the last one 101. */
START_TEST(quantile_edges)
{
	char buf[2048];
	size_t o = (size_t)snprintf(buf, sizeof(buf), "x,role\n");
	json_t *p;
	const json_t *x, *e, *b;

	for (int i = 1; i <= 101; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%d,%s\n", i, i % 2 ? "odd" : "even");
	p = build(buf, MT_PROFILE_CSV, "role", NULL);
	x = col(p, "x");
	e = json_object_get(x, "edges");
	b = json_object_get(x, "bins");
	ck_assert_int_eq(json_array_size(e), 99);
	for (int i = 0; i < 99; i++)
		ck_assert(json_number_value(json_array_get(e, (size_t)i)) == i + 2);
	ck_assert_int_eq(json_integer_value(json_array_get(b, 0)), 2);
	for (int i = 1; i < 99; i++)
		ck_assert_int_eq(json_integer_value(json_array_get(b, (size_t)i)), 1);
	ck_assert_int_eq(json_integer_value(json_array_get(b, 99)), 1);
	ck_assert(dval(x, "min") == 1 && dval(x, "max") == 101 && dval(x, "mean") == 51);
	ck_assert_str_eq(json_string_value(json_object_get(col(p, "role"), "role")), "target");
	json_decref(p);
}
END_TEST

/* Repeated values: edges stay distinct, and numpy's interpolation. */
START_TEST(quantile_ties_and_interpolation)
{
	json_t *p = build("v\n0\n0\n0\n10\n", MT_PROFILE_CSV, NULL, NULL);
	const json_t *e = json_object_get(col(p, "v"), "edges");

	/* numpy.quantile([0,0,0,10], i/100): 0 up to i = 66, then
	 * 10 * (3 i/100 - 2) for i = 67..99, all distinct. */
	ck_assert_int_eq(json_array_size(e), 34);
	ck_assert(json_number_value(json_array_get(e, 0)) == 0);
	ck_assert(fabs(json_number_value(json_array_get(e, 1)) - 0.1) < 1e-12);
	ck_assert(fabs(json_number_value(json_array_get(e, 33)) - 9.7) < 1e-12);
	ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(col(p, "v"), "bins"), 0)),
			 3);
	json_decref(p);
}
END_TEST

START_TEST(jsonl_and_topk)
{
	char *buf = malloc(200000);
	size_t o = 0;
	json_t *p;
	const json_t *c;

	for (int i = 0; i < 60; i++)
		for (int j = 0; j <= i % 7; j++)
			o += (size_t)sprintf(buf + o, "{\"city\": \"c%02d\", \"n\": %d, \"flag\": %s}\n",
					     i, j, j % 2 ? "true" : "false");
	o += (size_t)sprintf(buf + o, "\n{\"late\": 7, \"n\": null}\n");
	buf[o] = 0;
	p = build(buf, MT_PROFILE_JSONL, NULL, NULL);
	c = col(p, "city");
	ck_assert_int_eq(json_object_size(json_object_get(c, "top")), MT_PROFILE_TOPK);
	/* 60 cities with 1..7 rows each (i % 7 + 1): 9 rows of count 7, ...;
	 * the 50 largest counts and, at equal counts, the smaller names. */
	{
		long long sum = 0;
		const char *k;
		json_t *v;

		json_object_foreach(json_object_get(c, "top"), k, v)
			sum += json_integer_value(v);
		ck_assert_int_eq(ival(c, "count") - ival(c, "other"), sum);
		/* 60 cities with i % 7 + 1 rows each: the 50 kept are the
		 * largest counts, and at equal counts the smaller names. */
		ck_assert_int_eq(ival(json_object_get(c, "top"), "c06"), 7);
		ck_assert_ptr_null(json_object_get(json_object_get(c, "top"), "c56"));
		ck_assert_int_eq(ival(json_object_get(c, "top"), "c55"), 7);
	}
	ck_assert_int_eq(ival(c, "missing"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(col(p, "flag"), "type")), "category");
	ck_assert(ival(json_object_get(col(p, "flag"), "top"), "true") > 0);
	ck_assert_int_eq(ival(col(p, "late"), "missing"), ival(p, "rows") - 1);
	ck_assert_int_eq(ival(col(p, "n"), "missing"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(col(p, "n"), "type")), "number");
	free(buf);
	json_decref(p);
}
END_TEST

START_TEST(deterministic)
{
	const char *t = "b,a\n3,x\n1,y\n2,x\n";
	json_t *p1 = build(t, MT_PROFILE_CSV, NULL, NULL), *p2 = build(t, MT_PROFILE_CSV, NULL, NULL);
	char *s1 = json_dumps(p1, JSON_SORT_KEYS | JSON_COMPACT);
	char *s2 = json_dumps(p2, JSON_SORT_KEYS | JSON_COMPACT);

	ck_assert_str_eq(s1, s2);
	free(s1);
	free(s2);
	json_decref(p1);
	json_decref(p2);
}
END_TEST

START_TEST(reader_errors)
{
	ck_assert_str_eq(build_err("a,b\n1,2\n3\n", MT_PROFILE_CSV, NULL),
			 "line 3: 1 field, the header has 2");
	ck_assert_str_eq(build_err("a,b\n1,2,3\n", MT_PROFILE_CSV, NULL),
			 "line 2: more fields than the header's 2");
	ck_assert_str_eq(build_err("a\n\"x\"y\n", MT_PROFILE_CSV, NULL),
			 "line 2: a quote out of place");
	ck_assert_str_eq(build_err("a\n\"open\n", MT_PROFILE_CSV, NULL),
			 "line 2: a quote out of place");
	ck_assert_str_eq(build_err("a,a\n1,2\n", MT_PROFILE_CSV, NULL), "column 'a' appears twice");
	ck_assert_str_eq(build_err("a\n1\n", MT_PROFILE_CSV, "y"), "no column 'y' in the data");
	ck_assert_str_eq(build_err("a\n", MT_PROFILE_CSV, NULL), "the data has no rows");
	ck_assert_str_eq(build_err("{}\n{}\n", MT_PROFILE_JSONL, NULL), "the data has no columns");
	ck_assert_str_eq(build_err("{\"a\":1}\n[1]\n", MT_PROFILE_JSONL, NULL),
			 "line 2: not a JSON object");
	ck_assert_str_eq(build_err("{\"a\":{\"b\":1}}\n", MT_PROFILE_JSONL, NULL),
			 "line 1: column 'a': an object or array is not a value");
	ck_assert(strncmp(build_err("{\"a\":1}\n{\"a\":\n", MT_PROFILE_JSONL, NULL),
			  "line 2: not JSON", 16) == 0);
}
END_TEST

START_TEST(check_rejects)
{
	struct mt_err err = MT_ERR_INIT;
	json_t *p = build("x\n1\n2\n3\n", MT_PROFILE_CSV, NULL, NULL);
	json_t *x = json_object_get(json_object_get(p, "columns"), "x");

	json_array_set_new(json_object_get(x, "bins"), 0, json_integer(5));
	ck_assert_int_eq(mt_profile_check(p, &err), -1);
	ck_assert_str_eq(err.msg, "invalid reference profile: column 'x' is not a valid number or "
			 "category column");
	json_decref(p);
	p = json_pack("{s:s}", "format", "other");
	ck_assert_int_eq(mt_profile_check(p, &err), -1);
	json_decref(p);
}
END_TEST

static json_t *obs(const char *text)
{
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);

	ck_assert_msg(o != NULL, "%s", je.text);
	return o;
}

static void fold(const json_t *p, json_t *live, const char *text)
{
	struct mt_err err = MT_ERR_INIT;
	json_t *o = obs(text);

	ck_assert_msg(mt_profile_obs_check(p, live, o, &err) == 0, "%s: %s", text, err.msg);
	mt_profile_fold(p, live, o);
	json_decref(o);
}

static const char *obs_err(const json_t *p, const char *text)
{
	static struct mt_err err;
	json_t *o = obs(text);

	err = (struct mt_err)MT_ERR_INIT;
	ck_assert_int_eq(mt_profile_obs_check(p, NULL, o, &err), -1);
	json_decref(o);
	return err.msg;
}

/* Reference x: 1..4 (edges 1.03..3.97, one value in each of bins 0, 33,
 * 66 and 99 ... computed below from the edges themselves). */
START_TEST(drift_psi_ks_chi2)
{
	json_t *p = build("x,c\n1,a\n2,a\n3,b\n4,b\n", MT_PROFILE_CSV, NULL, NULL);
	json_t *same = mt_profile_live_new(p), *shift = mt_profile_live_new(p), *d, *dx, *dc;
	struct mt_err err = MT_ERR_INIT;
	double eps = MT_PROFILE_PSI_EPS, psi, chi;

	for (int r = 0; r < 2; r++) {
		fold(p, same, "{\"features\": {\"x\": 1, \"c\": \"a\"}}");
		fold(p, same, "{\"features\": {\"x\": 2, \"c\": \"a\"}}");
		fold(p, same, "{\"features\": {\"x\": 3, \"c\": \"b\"}}");
		fold(p, same, "{\"features\": {\"x\": 4, \"c\": \"b\"}}");
	}
	ck_assert_int_eq(mt_profile_live_check(p, same, &err), 0);
	d = mt_profile_drift(p, same);
	dx = json_object_get(json_object_get(d, "columns"), "x");
	dc = json_object_get(json_object_get(d, "columns"), "c");
	ck_assert(fabs(dval(dx, "psi")) < 1e-12 && dval(dx, "ks") < 1e-12);
	ck_assert(fabs(dval(dc, "psi")) < 1e-12 && dval(dc, "chi2") < 1e-12);
	ck_assert_int_eq(ival(dc, "chi2_df"), 1); /* a, b: "other" is empty in both */
	json_decref(d);

	/* Everything at 4 (the last bin), categories all "z" (other), one
	 * row missing x. */
	fold(p, shift, "{\"features\": {\"x\": 4, \"c\": \"z\"}}");
	fold(p, shift, "{\"features\": {\"x\": 9, \"c\": \"z\"}}");
	fold(p, shift, "{\"features\": {\"c\": \"z\"}}");
	d = mt_profile_drift(p, shift);
	dx = json_object_get(json_object_get(d, "columns"), "x");
	dc = json_object_get(json_object_get(d, "columns"), "c");
	/* Reference: shares 1/4 in bins 0, 33, 66, 99 (1, 2, 3, 4 against
	 * edges from 1.03 to 3.97); live: all in bin 99. */
	psi = 3 * (eps - 0.25) * log(eps / 0.25) + (1 - 0.25) * log(1 / 0.25);
	ck_assert_msg(fabs(dval(dx, "psi") - psi) < 1e-9, "psi %g vs %g", dval(dx, "psi"), psi);
	ck_assert(fabs(dval(dx, "ks") - 0.75) < 1e-12);
	ck_assert(fabs(dval(dx, "missing_rate") - 1.0 / 3) < 1e-12);
	ck_assert(fabs(dval(dx, "missing_rate_change") - 1.0 / 3) < 1e-12);
	/* c: reference a, b 1/2 each, other eps (renormalised); live 3 x other. */
	{
		double t = 1 + eps, ea = 0.5 / t * 3, eo = eps / t * 3;

		chi = 2 * (ea * ea / ea) + (3 - eo) * (3 - eo) / eo;
	}
	ck_assert_msg(fabs(dval(dc, "chi2") / chi - 1) < 1e-9, "chi2 %g vs %g", dval(dc, "chi2"),
		      chi);
	ck_assert(!json_object_get(d, "quality"));
	json_decref(d);
	json_decref(same);
	json_decref(shift);
	json_decref(p);
}
END_TEST

START_TEST(obs_errors)
{
	json_t *p = build("x,c,y\n1,a,u\n2,b,v\n", MT_PROFILE_CSV, NULL, "y");

	ck_assert_str_eq(obs_err(p, "{\"features\": {\"nope\": 1}}"),
			 "unknown feature 'nope': the reference profile has no such feature");
	ck_assert_str_eq(obs_err(p, "{\"features\": {\"x\": \"1\"}}"),
			 "feature 'x': expected a number");
	ck_assert_str_eq(obs_err(p, "{\"features\": {\"c\": [1]}}"),
			 "feature 'c': expected a string (a category)");
	ck_assert_str_eq(obs_err(p, "{\"features\": {\"y\": \"u\"}}"),
			 "unknown feature 'y': the reference profile has no such feature");
	ck_assert_str_eq(obs_err(p, "{\"prediction\": {}}"),
			 "prediction for 'y': expected a string (a category)");
	ck_assert_str_eq(obs_err(p, "{\"features\": {}, \"extra\": 1}"),
			 "unknown field 'extra' (an observation has features, prediction, label, "
			 "timestamp)");
	ck_assert_str_eq(obs_err(p, "{\"timestamp\": 1.5}"),
			 "'timestamp' must be an integer (milliseconds since the epoch)");
	ck_assert_str_eq(obs_err(p, "[]"), "an observation must be a JSON object");
	json_decref(p);
}
END_TEST

START_TEST(quality_classification)
{
	json_t *p = build("x,pred\n1,cat\n2,dog\n", MT_PROFILE_CSV, NULL, "pred");
	json_t *live = mt_profile_live_new(p), *d, *q;

	/* labels:      cat cat dog dog bird
	 * predictions: cat dog dog dog cat   (plus one without label) */
	fold(p, live, "{\"features\": {\"x\": 1}, \"prediction\": \"cat\", \"label\": \"cat\"}");
	fold(p, live, "{\"features\": {\"x\": 1}, \"prediction\": \"dog\", \"label\": \"cat\"}");
	fold(p, live, "{\"features\": {\"x\": 1}, \"prediction\": \"dog\", \"label\": \"dog\"}");
	fold(p, live, "{\"features\": {\"x\": 1}, \"prediction\": \"dog\", \"label\": \"dog\"}");
	fold(p, live, "{\"features\": {\"x\": 1}, \"prediction\": \"cat\", \"label\": \"bird\"}");
	fold(p, live, "{\"features\": {\"x\": 1}, \"prediction\": \"cat\"}");
	d = mt_profile_drift(p, live);
	q = json_object_get(d, "quality");
	ck_assert_int_eq(ival(q, "labels"), 5);
	ck_assert(fabs(dval(q, "accuracy") - 0.6) < 1e-12);
	/* F1: cat 2*1/(2+2) = 0.5, dog 2*2/(3+2) = 0.8, bird 0: mean 0.4333.. */
	ck_assert(fabs(dval(q, "f1_macro") - (0.5 + 0.8 + 0) / 3) < 1e-12);
	ck_assert_int_eq(ival(json_object_get(json_object_get(d, "columns"), "pred"), "count"), 6);
	json_decref(d);
	json_decref(live);
	json_decref(p);
}
END_TEST

START_TEST(hostile_counts_refused)
{
	struct mt_err err = MT_ERR_INIT;
	json_t *p = build("x,c\n1,a\n2,b\n", MT_PROFILE_CSV, NULL, NULL);
	json_t *live = mt_profile_live_new(p), *lx, *o;

	ck_assert_int_eq(mt_profile_live_check(p, live, &err), 0);
	lx = json_object_get(json_object_get(live, "columns"), "x");
	json_array_set_new(json_object_get(lx, "bins"), 0, json_integer(MT_PROFILE_MAX_COUNT + 1));
	ck_assert_int_eq(mt_profile_live_check(p, live, &err), -1);
	json_array_set_new(json_object_get(lx, "bins"), 0, json_integer(-1));
	ck_assert_int_eq(mt_profile_live_check(p, live, &err), -1);
	json_decref(live);
	live = mt_profile_live_new(p);
	json_object_set_new(json_object_get(live, "labels"), "confusion",
			    json_pack("{s:{s:s}}", "a", "b", "x"));
	ck_assert_int_eq(mt_profile_live_check(p, live, &err), -1);
	json_decref(live);
	/* A profile whose counts would overflow the sums. */
	lx = json_object_get(json_object_get(p, "columns"), "x");
	json_object_set_new(lx, "count", json_integer(MT_PROFILE_MAX_COUNT * 2));
	json_array_set_new(json_object_get(lx, "bins"), 0, json_integer(MT_PROFILE_MAX_COUNT));
	json_array_set_new(json_object_get(lx, "bins"), 1, json_integer(MT_PROFILE_MAX_COUNT));
	ck_assert_int_eq(mt_profile_check(p, &err), -1);
	json_decref(p);
	/* Regression labels whose squares would not be finite. */
	p = build("x,yhat\n1,1.5\n2,2.5\n", MT_PROFILE_CSV, NULL, "yhat");
	o = obs("{\"features\": {}, \"prediction\": 1e200, \"label\": 1}");
	ck_assert_int_eq(mt_profile_obs_check(p, NULL, o, &err), -1);
	ck_assert_str_eq(err.msg, "a label or prediction beyond +-1e150 cannot be scored");
	json_decref(o);
	json_decref(p);
}
END_TEST

START_TEST(mixed_types_and_names)
{
	json_t *p = build("{\"v\": 1}\n{\"v\": \"x\"}\n{\"v\": 2.5}\n", MT_PROFILE_JSONL,
			  NULL, NULL);
	const json_t *v = col(p, "v");

	/* A string among numbers makes a category of JSON texts. */
	ck_assert_str_eq(json_string_value(json_object_get(v, "type")), "category");
	ck_assert_int_eq(ival(json_object_get(v, "top"), "1"), 1);
	ck_assert_int_eq(ival(json_object_get(v, "top"), "2.5"), 1);
	ck_assert_int_eq(ival(json_object_get(v, "top"), "x"), 1);
	json_decref(p);
	ck_assert_str_eq(build_err("a,\xff\n1,2\n", MT_PROFILE_CSV, NULL),
			 "column 2: the name is not valid UTF-8");
	ck_assert_str_eq(build_err("a\n\xff\n", MT_PROFILE_CSV, NULL),
			 "line 2: column 'a': a value that is not valid UTF-8");
}
END_TEST

START_TEST(quality_regression)
{
	json_t *p = build("x,yhat\n1,1.5\n2,2.5\n", MT_PROFILE_CSV, NULL, "yhat");
	json_t *live = mt_profile_live_new(p), *d, *q;

	fold(p, live, "{\"features\": {\"x\": 1}, \"prediction\": 1, \"label\": 2}");
	fold(p, live, "{\"features\": {\"x\": 1}, \"prediction\": 5, \"label\": 2}");
	d = mt_profile_drift(p, live);
	q = json_object_get(d, "quality");
	ck_assert(fabs(dval(q, "rmse") - sqrt(5)) < 1e-12);
	ck_assert(fabs(dval(q, "mae") - 2) < 1e-12);
	json_decref(d);
	json_decref(live);
	json_decref(p);
}
END_TEST

Suite *make_profile_suite(void)
{
	Suite *s = suite_create("profile");
	TCase *tc = tcase_create("profile");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, csv_quoting_and_types);
	tcase_add_test(tc, quantile_edges);
	tcase_add_test(tc, quantile_ties_and_interpolation);
	tcase_add_test(tc, jsonl_and_topk);
	tcase_add_test(tc, deterministic);
	tcase_add_test(tc, reader_errors);
	tcase_add_test(tc, check_rejects);
	tcase_add_test(tc, drift_psi_ks_chi2);
	tcase_add_test(tc, obs_errors);
	tcase_add_test(tc, quality_classification);
	tcase_add_test(tc, quality_regression);
	tcase_add_test(tc, hostile_counts_refused);
	tcase_add_test(tc, mixed_types_and_names);
	suite_add_tcase(s, tc);
	return s;
}
