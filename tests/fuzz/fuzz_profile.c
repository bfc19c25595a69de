/*
 * fuzz_profile: libFuzzer harness for lib/mt_profile: the CSV and JSON-lines
 * readers of `mltrack model register --reference`, the reference-profile
 * check the server runs on a bundle's profile, and the observation check,
 * fold and drift of POST /api/2.0/mltrack/monitor/log.
 *
 * The first byte picks the reader (even: CSV, odd: JSON lines) and whether
 * the last column is the prediction; the rest is the data.  The raw input
 * is also parsed as JSON, when it is, and used three ways: as a reference
 * profile (checked; when it passes, a window is made for it, fixed
 * observations folded in and drift computed), as an observation against a
 * fixed profile, and as a stored live window of that profile.
 * Beyond "no crash, no leak" (ASan, UBSan, LSan) the harness checks, and
 * abort()s when one fails:
 *  - errors are MT_EINVAL (or MT_EINTERNAL for memory) with one non-empty
 *    line that jansson takes as a string;
 *  - a profile that builds passes mt_profile_check, also after a round
 *    trip through JSON text, and is the same built twice;
 *  - its bin counts add up to each column's count;
 *  - an observation that passes the check folds into a window that passes
 *    mt_profile_live_check, whose row count goes up by one;
 *  - drift values are finite, PSI >= 0 and KS in [0, 1].
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_error.h"
#include "mt_profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_profile: property failed: %s (%s)\n", what, detail ? detail : "");
	abort();
}

static void check_err(const struct mt_err *err, const char *what)
{
	json_t *s;

	if (err->code != MT_EINVAL && err->code != MT_EINTERNAL)
		fail("error code", what);
	if (!err->msg[0] || strchr(err->msg, '\n') || strchr(err->msg, '\r'))
		fail("error message not one non-empty line", err->msg);
	if (!(s = json_string(err->msg)))
		fail("error message not UTF-8", err->msg);
	json_decref(s);
}

static const char *const observations[] = {
	"{\"features\": {\"a\": 1, \"b\": \"x\"}, \"prediction\": 1, \"label\": 2}",
	"{\"features\": {\"a\": \"x\"}, \"prediction\": \"y\", \"label\": \"y\"}",
	"{\"features\": {}, \"timestamp\": 1700000000000}",
	"{\"features\": {\"c\": null}, \"prediction\": true}",
	"{\"features\": {\"0\": -1e300, \"1\": 3}, \"label\": \"n\"}",
};

static void check_drift(const json_t *p, const json_t *live)
{
	json_t *d = mt_profile_drift(p, live), *c, *q;
	const char *k;

	if (!d)
		fail("drift gave nothing", NULL);
	json_object_foreach(json_object_get(d, "columns"), k, c) {
		json_t *psi = json_object_get(c, "psi"), *ks = json_object_get(c, "ks");

		if (psi && !(json_is_number(psi) && json_number_value(psi) >= -1e-12))
			fail("psi negative or not finite", k);
		if (ks && !(json_is_number(ks) && json_number_value(ks) >= 0 &&
			    json_number_value(ks) <= 1 + 1e-12))
			fail("ks outside [0, 1]", k);
	}
	q = json_object_get(d, "quality");
	if (q) {
		json_t *a = json_object_get(q, "accuracy");

		if (a && !(json_is_number(a) && json_number_value(a) >= 0 &&
			   json_number_value(a) <= 1))
			fail("accuracy outside [0, 1]", NULL);
	}
	json_decref(d);
}

/* Fold the fixed observations that fit p into a new window. */
static void exercise(const json_t *p)
{
	json_t *live = mt_profile_live_new(p);
	struct mt_err err = MT_ERR_INIT;

	if (!live)
		fail("live_new gave nothing", NULL);
	for (size_t i = 0; i < sizeof(observations) / sizeof(observations[0]); i++) {
		json_t *o = json_loads(observations[i], 0, NULL);
		json_int_t rows = json_integer_value(json_object_get(live, "rows"));

		if (mt_profile_obs_check(p, live, o, &err) == 0) {
			mt_profile_fold(p, live, o);
			if (json_integer_value(json_object_get(live, "rows")) != rows + 1)
				fail("fold did not count the row", observations[i]);
			if (mt_profile_live_check(p, live, &err))
				fail("a folded window fails live_check", err.msg);
		} else {
			check_err(&err, "obs_check");
		}
		json_decref(o);
	}
	check_drift(p, live);
	json_decref(live);
}

static void bins_add_up(const json_t *p)
{
	const char *k;
	json_t *c;

	json_object_foreach(json_object_get(p, "columns"), k, c) {
		json_t *b = json_object_get(c, "bins"), *x;
		long long sum = 0;
		size_t i;

		if (!b)
			continue;
		json_array_foreach(b, i, x)
			sum += json_integer_value(x);
		if (sum != json_integer_value(json_object_get(c, "count")))
			fail("bins do not add up", k);
	}
}

static void from_reader(const uint8_t *data, size_t size)
{
	enum mt_profile_fmt fmt = data[0] & 1 ? MT_PROFILE_JSONL : MT_PROFILE_CSV;
	struct mt_err err = MT_ERR_INIT;
	json_t *p = NULL, *p2 = NULL, *back;
	const char *text = (const char *)data + 1;
	char *s1, *s2;

	if (mt_profile_build(&p, text, size - 1, fmt, NULL, NULL, &err)) {
		check_err(&err, "build");
		if (p)
			fail("a failed build left a profile", NULL);
		return;
	}
	if (mt_profile_check(p, &err))
		fail("a built profile fails the check", err.msg);
	bins_add_up(p);
	if (mt_profile_build(&p2, text, size - 1, fmt, NULL, NULL, &err))
		fail("a second build failed", err.msg);
	s1 = json_dumps(p, JSON_SORT_KEYS | JSON_COMPACT);
	s2 = json_dumps(p2, JSON_SORT_KEYS | JSON_COMPACT);
	if (!s1 || !s2 || strcmp(s1, s2) != 0)
		fail("two builds differ", NULL);
	back = json_loads(s1, 0, NULL);
	if (!back || mt_profile_check(back, &err))
		fail("a profile fails the check after a JSON round trip", err.msg);
	exercise(back);
	free(s1);
	free(s2);
	json_decref(back);
	json_decref(p);
	json_decref(p2);
}

static const char fixed_csv[] = "a,b,y\n1,x,u\n2,y,v\n3,x,u\n";

static void from_json(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL), *p = NULL, *live;
	struct mt_err err = MT_ERR_INIT;

	if (!j)
		return;
	if (mt_profile_check(j, &err) == 0)
		exercise(j);
	else
		check_err(&err, "check");
	if (mt_profile_build(&p, fixed_csv, strlen(fixed_csv), MT_PROFILE_CSV, NULL, "y", &err))
		fail("the fixed profile does not build", err.msg);
	live = mt_profile_live_new(p);
	if (mt_profile_obs_check(p, live, j, &err) == 0)
		mt_profile_fold(p, live, j);
	else
		check_err(&err, "obs_check");
	check_drift(p, live);
	if (mt_profile_live_check(p, j, &err) == 0)
		check_drift(p, j);
	else
		check_err(&err, "live_check");
	json_decref(live);
	json_decref(p);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	from_reader(data, size);
	from_json(data, size);
	return 0;
}
