/*
 * fuzz_json: libFuzzer harness for lib/mt_json (MLflow's lenient proto-JSON
 * readers and the page-token codec).
 *
 * The input bytes are parsed as the server parses a request body (jansson,
 * JSON_DECODE_ANY | JSON_ALLOW_NUL).  When that gives an object, every
 * mt_json_* reader runs on the fields a handler reads ("run_id", "value",
 * "timestamp", "step", "tags", "order_by", "max_results", "page_token") and
 * on every other key, list items are read the way kv_list() and
 * parse_metric() read tags and metrics, and every string value goes to
 * mt_page_token_decode().  The raw bytes (a NUL-terminated copy) go to
 * mt_page_token_decode() too.  Each call gets a fresh struct mt_err; one
 * struct mt_arena per input is released at the end.
 *
 * Beyond "no crash, no leak, no out-of-bounds read" (ASan, UBSan, LSan) the
 * harness checks properties and abort()s when one fails:
 *  - a failure sets MT_EINVAL and a non-empty, one-line, valid UTF-8
 *    message (it goes into a JSON error body as is);
 *  - a required string is never NULL or empty and has no NUL inside; an
 *    optional one is NULL exactly when the field is absent or null;
 *  - an int64 read from a JSON integer is that integer; a list has n
 *    non-NULL entries;
 *  - round trips: a double written by mt_json_double_new() encodes as
 *    JSON (mt_json_dumps, the server's writer) and reads back to the same
 *    value (NaN as NaN), the whole parsed input written by mt_json_dumps
 *    parses back equal (json_equal: every real in its shortest form reads
 *    back exactly), and a page token for any offset >= 0 decodes to that
 *    offset.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined, or link
 * tests/fuzz/standalone.c to replay the corpus in tests/fuzz/corpus/json/.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_arena.h"
#include "mt_error.h"
#include "mt_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_KEYS 64
#define MAX_ITEMS 64

static const char *const fields[] = {
	"run_id", "value", "timestamp", "step", "tags", "order_by", "max_results", "page_token",
};

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_json: property failed: %s (%s)\n", what, detail ? detail : "");
	abort();
}

static int valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = *p < 0x80 ? 1 : *p >= 0xF5 ? 0 : *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 :
			   *p >= 0xC2 ? 2 : 0;

		if (n == 0)
			return 0;
		for (size_t k = 1; k < n; k++)
			if ((p[k] & 0xC0) != 0x80)
				return 0;
		p += n;
	}
	return 1;
}

/* rc is the reader's return value; err its error. */
static void check_rc(int rc, const struct mt_err *err, const char *what)
{
	if (rc == 0) {
		if (err->code != MT_OK)
			fail("success with an error code", what);
		return;
	}
	if (rc != -1)
		fail("return value not 0 or -1", what);
	if (err->code != MT_EINVAL)
		fail("error code is not MT_EINVAL", what);
	if (err->msg[0] == '\0')
		fail("empty error message", what);
	if (strchr(err->msg, '\n') || strchr(err->msg, '\r') || !valid_utf8(err->msg))
		fail("error message not one line of UTF-8", err->msg);
	/* The server puts the message in a JSON body: jansson must take it. */
	{
		json_t *s = json_string(err->msg);

		if (!s)
			fail("error message refused by json_string()", err->msg);
		json_decref(s);
	}
}

static int absent(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return !v || json_is_null(v);
}

static void same_double(double a, double b, const char *what)
{
	if (isnan(a) ? !isnan(b) : (a != b || signbit(a) != signbit(b)))
		fail("double round trip", what);
}

/* mt_json_double_new() writes what mt_json_double() reads back. */
static void double_round_trip(double d)
{
	json_t *w = mt_json_double_new(d), *back;
	struct mt_err err = MT_ERR_INIT;
	char *text;
	double again;

	if (!w)
		fail("mt_json_double_new returned NULL", NULL);
	text = mt_json_dumps(w, NULL);
	if (!text)
		fail("mt_json_dumps of a double failed", NULL);
	back = json_loads(text, JSON_DECODE_ANY, NULL);
	if (!back)
		fail("written double does not parse", text);
	check_rc(mt_json_double(&again, back, "value", &err), &err, "double round trip");
	if (err.code != MT_OK)
		fail("written double does not read back", text);
	if (isinf(d))
		same_double(d, again, text);
	else if (!isnan(d) && again != d)
		fail("double round trip", text);
	else if (isnan(d) && !isnan(again))
		fail("NaN round trip", text);
	free(text);
	json_decref(back);
	json_decref(w);
}

static void token_round_trip(struct mt_arena *a, long long off)
{
	struct mt_err err = MT_ERR_INIT;
	const char *tok;
	long long back = -1;

	if (off < 0)
		return;
	tok = mt_page_token_encode(a, off);
	if (!tok || !*tok)
		fail("empty page token", NULL);
	if (mt_page_token_decode(&back, tok, &err) || back != off)
		fail("page token round trip", tok);
}

static void token_decode(struct mt_arena *a, const char *s)
{
	struct mt_err err = MT_ERR_INIT;
	long long off = -1;
	int rc = mt_page_token_decode(&off, s, &err);

	check_rc(rc, &err, "mt_page_token_decode");
	if (rc == 0) {
		if (off < 0)
			fail("decoded a negative offset", s);
		token_round_trip(a, off);
	}
}

/* metrics/get-history's cursor tokens: what decodes encodes back to the
 * same cursor (NaN as NaN, -0 as -0). */
static void history_token_decode(struct mt_arena *a, const char *s)
{
	struct mt_err err = MT_ERR_INIT;
	struct mt_history_cursor c, back;
	int rc = mt_history_token_decode(&c, s, &err);

	check_rc(rc, &err, "mt_history_token_decode");
	if (rc != 0)
		return;
	err = (struct mt_err)MT_ERR_INIT;
	if (mt_history_token_decode(&back, mt_history_token_encode(a, &c), &err) ||
	    back.step != c.step || back.timestamp != c.timestamp ||
	    (isnan(c.value) ? !isnan(back.value)
			    : memcmp(&back.value, &c.value, sizeof(double)) != 0))
		fail("history token round trip", s);
}

/* Every reader on one key of obj. */
static void read_field(struct mt_arena *a, json_t *obj, const char *key)
{
	struct mt_err err;
	const char *s;
	const char **list;
	size_t n;
	long long i64;
	double d;
	int present, rc;
	json_t *v = json_object_get(obj, key);

	err = (struct mt_err)MT_ERR_INIT;
	rc = mt_json_opt_str(&s, obj, key, a, &err);
	check_rc(rc, &err, "mt_json_opt_str");
	if (rc == 0) {
		if (absent(obj, key) != (s == NULL))
			fail("opt_str NULL exactly when absent", key);
		if (s && json_is_string(v) && strlen(s) != json_string_length(v))
			fail("opt_str let a NUL through", key);
	}

	err = (struct mt_err)MT_ERR_INIT;
	rc = mt_json_req_str(&s, obj, key, a, &err);
	check_rc(rc, &err, "mt_json_req_str");
	if (rc == 0 && (!s || !*s))
		fail("req_str gave an empty string", key);

	err = (struct mt_err)MT_ERR_INIT;
	rc = mt_json_opt_i64(&i64, &present, obj, key, &err);
	check_rc(rc, &err, "mt_json_opt_i64");
	if (rc == 0) {
		if (present == absent(obj, key))
			fail("opt_i64 present flag", key);
		if (present && json_is_integer(v) && i64 != (long long)json_integer_value(v))
			fail("opt_i64 changed an integer", key);
		if (present)
			token_round_trip(a, i64);
	}

	if (v) {
		err = (struct mt_err)MT_ERR_INIT;
		check_rc(mt_json_i64(&i64, v, key, &err), &err, "mt_json_i64");
		err = (struct mt_err)MT_ERR_INIT;
		rc = mt_json_double(&d, v, key, &err);
		check_rc(rc, &err, "mt_json_double");
		if (rc == 0) {
			if (json_is_real(v))
				same_double(d, json_real_value(v), key);
			double_round_trip(d);
		}
	}

	err = (struct mt_err)MT_ERR_INIT;
	rc = mt_json_str_list(&list, &n, obj, key, a, &err);
	check_rc(rc, &err, "mt_json_str_list");
	if (rc == 0) {
		if (n && !list)
			fail("str_list without a list", key);
		for (size_t i = 0; i < n; i++)
			if (!list[i])
				fail("str_list NULL entry", key);
	}

	if (json_is_string(v))
		token_decode(a, json_string_value(v));
}

/* Items of a list field, read as kv_list() and parse_metric() read them. */
static void read_items(struct mt_arena *a, json_t *arr)
{
	size_t i;
	json_t *item;

	json_array_foreach(arr, i, item) {
		static const char *const item_fields[] = { "key", "value", "timestamp", "step" };

		if (i >= MAX_ITEMS)
			break;
		if (!json_is_object(item))
			continue;
		for (size_t f = 0; f < N_ELEMS(item_fields); f++)
			read_field(a, item, item_fields[f]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mt_arena arena;
	char *text = malloc(size + 1);
	json_t *j;
	json_error_t jerr;

	if (!text)
		return 0;
	if (size)
		memcpy(text, data, size);
	text[size] = '\0';
	mt_arena_init(&arena);

	token_decode(&arena, text);
	history_token_decode(&arena, text);

	j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	/* What the server would parse: no deeper than MT_JSON_MAX_DEPTH. */
	if (j && mt_json_depth_ok((const char *)data, size, MT_JSON_MAX_DEPTH)) {
		size_t len;
		char *dump = mt_json_dumps(j, &len);
		json_t *back = dump ? json_loadb(dump, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;

		if (!dump)
			fail("mt_json_dumps refused a parsed body", NULL);
		if (!back || !json_equal(j, back))
			fail("mt_json_dumps does not read back equal", dump);
		json_decref(back);
		free(dump);
	}
	if (j && json_is_object(j)) {
		const char *key;
		json_t *v;
		size_t nkeys = 0;

		for (size_t f = 0; f < N_ELEMS(fields); f++)
			read_field(&arena, j, fields[f]);
		json_object_foreach(j, key, v) {
			if (nkeys++ >= MAX_KEYS)
				break;
			read_field(&arena, j, key);
			if (json_is_array(v))
				read_items(&arena, v);
		}
		/* The setters on a copy: they must keep the object encodable. */
		{
			json_t *out = json_object();
			char *dump;

			mt_json_set_str(out, "run_id", NULL);
			mt_json_set_str(out, "page_token", mt_page_token_encode(&arena, (long long)size));
			mt_json_set_i64(out, "timestamp", (long long)size - 1);
			json_object_set_new(out, "value", mt_json_double_new((double)size / 3.0));
			dump = json_dumps(out, JSON_COMPACT);
			if (!dump)
				fail("setters made an object json_dumps refuses", NULL);
			free(dump);
			json_decref(out);
		}
	} else if (j && json_is_array(j)) {
		read_items(&arena, j);
	} else if (j && json_is_string(j)) {
		token_decode(&arena, json_string_value(j));
		history_token_decode(&arena, json_string_value(j));
	}
	json_decref(j);
	mt_arena_release(&arena);
	free(text);
	return 0;
}
