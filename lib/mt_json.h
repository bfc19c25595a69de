/*
 * mt_json: reading MLflow's proto-JSON leniently and writing it back.
 *
 * Requests follow proto3 JSON rules: unknown fields are ignored, int64 may be
 * a number or a numeric string, doubles may be "NaN" / "Infinity" strings,
 * and a string field takes a JSON string only.  These helpers encode those
 * rules once; their errors are MLflow's (mt_json_invalid, mt_json_missing).
 * Responses are written by mt_json_dumps, with doubles as MLflow writes
 * them.  Strings handed out are borrowed from the json_t (valid while it
 * lives) or from the arena.
 */
#ifndef MT_JSON_H
#define MT_JSON_H

#include <jansson.h>

#include "mt_arena.h"
#include "mt_error.h"

/* Maximum nesting of a request body.  MLflow's messages nest four deep;
 * jansson parses (and frees) recursively, so a deep body would exhaust a
 * worker thread's stack. */
#define MT_JSON_MAX_DEPTH 64

/* 1 when the JSON text never nests arrays/objects deeper than max (strings
 * and escapes skipped), else 0.  Cheap: one pass, no allocation. */
int mt_json_depth_ok(const char *text, size_t len, int max);

/* Optional string field: *out = NULL when absent or null.  Any other JSON
 * type is an error in MLflow's words (mt_json_invalid): a number is not a
 * string, as protobuf's JSON parser says.  a is unused (kept for callers). */
int mt_json_opt_str(const char **out, json_t *obj, const char *key,
		    struct mt_arena *a, struct mt_err *err);
/* Required: absent, null or "" gives "Missing value for required parameter
 * 'key'." */
int mt_json_req_str(const char **out, json_t *obj, const char *key,
		    struct mt_arena *a, struct mt_err *err);
/* Optional int64: *present says whether it was given. */
int mt_json_opt_i64(long long *out, int *present, json_t *obj, const char *key,
		    struct mt_err *err);
/* A JSON value as int64 (number or numeric string). */
int mt_json_i64(long long *out, json_t *v, const char *name, struct mt_err *err);
/* A JSON value as a double: number, numeric string, "NaN", "Infinity". */
int mt_json_double(double *out, json_t *v, const char *name, struct mt_err *err);
/* A field that is a list of strings, or a single string (query strings give
 * one value when the key appears once).  *out is an arena array.  Anything
 * else (a number among the strings) is mt_json_invalid. */
int mt_json_str_list(const char ***out, size_t *n, json_t *obj, const char *key,
		     struct mt_arena *a, struct mt_err *err);

/* A double as MLflow's JSON writes it (Python's repr(), what json.dumps
 * emits): the fewest digits that read back to exactly v, in fixed notation
 * for exponents -4 to 15 and in exponent notation outside ("0.99", "100.0",
 * "1e-07", "1.5e+16", "1e+300", "-0.0").  NaN and the infinities give
 * "NaN", "Infinity", "-Infinity" (MLflow's JSON strings, unquoted here).
 * out has room for MT_JSON_DOUBLE_MAX bytes; returns the length. */
#define MT_JSON_DOUBLE_MAX 32
size_t mt_json_fmt_double(char *out, double v);
/* The same from the text PostgreSQL gives for a float8 (float8out with
 * extra_float_digits >= 1, which mltrackd sets on every connection: the
 * shortest digits that read back, "1.5e-07", "123.25", "1e+16", "-0"), by
 * moving digits only: no conversion to double and back.  0 when text is
 * not such a number (the caller then parses it). */
size_t mt_json_fmt_pg_float8(char *out, const char *text);

/* json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY), except that reals are
 * written by mt_json_fmt_double (jansson writes %.17g: 0.98999999999999999).
 * Owned: free() it.  *len (when not NULL) gets its length.  NULL when out of
 * memory or when j nests deeper than MT_JSON_MAX_DEPTH. */
char *mt_json_dumps(const json_t *j, size_t *len);

/* v as Python's str() shows the value json.loads() made of it, which is
 * what MLflow's validation messages quote: a string bare at the top and
 * quoted inside lists and dicts ('a'), numbers as Python writes them,
 * true/false/null as True/False/None, [..., ...] and {'k': v}.  At most
 * size - 1 bytes; a value cut short ends in "...".  Returns out. */
const char *mt_json_pystr(char *out, size_t size, const json_t *v);

/* MLflow's request-validation messages (handlers.py, 2.9.2 wording), each
 * INVALID_PARAMETER_VALUE; both return -1.
 * Wrong type: "Invalid value <pystr> for parameter '<param>' supplied.
 * Hint: Value was of type '<python type>'. See the API docs for more
 * information about request parameters."
 * Missing: "Missing value for required parameter '<param>'. See the API
 * docs for more information about request parameters." */
int mt_json_invalid(struct mt_err *err, const char *param, const json_t *value);
int mt_json_missing(struct mt_err *err, const char *param);

/* Steal-style setters that skip NULL values (MLflow leaves unset fields out). */
void mt_json_set_str(json_t *obj, const char *key, const char *val);
void mt_json_set_i64(json_t *obj, const char *key, long long v);
/* A double as MLflow writes it: NaN as "NaN", ±Inf as "Infinity". */
json_t *mt_json_double_new(double v);

/* Page tokens: base64 of {"offset": N}, MLflow's form.  Encoded token is
 * arena memory.  Decoding a bad token gives "Invalid page token". */
const char *mt_page_token_encode(struct mt_arena *a, long long offset);
int mt_page_token_decode(long long *out, const char *token, struct mt_err *err);

/* runs/search's page tokens: MLflow's {"offset": N}, and with it the
 * search's keyset: "s", a signature of the search it came from, and "k",
 * the sort key of the page's last row as strings, so that the next page
 * starts after that row instead of counting rows again (server/sql_search.c).
 * A keyset longer than MT_RUNS_TOKEN_MAX bytes of JSON is left out (the
 * token then pages by offset).  Decoding accepts any token
 * mt_page_token_decode() does, with its errors; *sig and *keys are NULL
 * (and *nkeys 0) unless the token carries a well-formed keyset.  All
 * strings are arena memory. */
#define MT_RUNS_TOKEN_MAX 8192
const char *mt_runs_token_encode(struct mt_arena *a, long long offset, const char *sig,
				 const char *const *keys, size_t nkeys);
int mt_runs_token_decode(struct mt_arena *a, long long *offset, const char **sig,
			 const char ***keys, size_t *nkeys, const char *token, struct mt_err *err);

/* metrics/get-history's page tokens: a keyset cursor, the last point sent
 * in the metrics primary key's order (step, timestamp, value), as base64 of
 * {"step": N, "timestamp": N, "value": X} (X a number, or "NaN",
 * "Infinity", "-Infinity").  The next page starts strictly after it, so
 * points appended meanwhile neither repeat nor shift what follows.
 * Encoded token is arena memory; decoding anything else (or a value that
 * is not a double) gives "Invalid page token". */
struct mt_history_cursor {
	long long step;
	long long timestamp;
	double value;
};
const char *mt_history_token_encode(struct mt_arena *a, const struct mt_history_cursor *c);
int mt_history_token_decode(struct mt_history_cursor *out, const char *token, struct mt_err *err);

#endif
