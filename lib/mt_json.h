/*
 * mt_json: reading MLflow's proto-JSON leniently and writing it back.
 *
 * Requests follow proto3 JSON rules: unknown fields are ignored, int64 may be
 * a number or a numeric string, doubles may be "NaN" / "Infinity" strings,
 * and integer ids are turned into strings.  These helpers encode those rules
 * once.  Strings handed out are borrowed from the json_t (valid while it
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

/* Optional string field: *out = NULL when absent or null.  A number is
 * formatted into the arena; an object, array or bool is an error. */
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
 * one value when the key appears once).  *out is an arena array. */
int mt_json_str_list(const char ***out, size_t *n, json_t *obj, const char *key,
		     struct mt_arena *a, struct mt_err *err);

/* Steal-style setters that skip NULL values (MLflow leaves unset fields out). */
void mt_json_set_str(json_t *obj, const char *key, const char *val);
void mt_json_set_i64(json_t *obj, const char *key, long long v);
/* A double as MLflow writes it: NaN as "NaN", ±Inf as "Infinity". */
json_t *mt_json_double_new(double v);

/* Page tokens: base64 of {"offset": N}, MLflow's form.  Encoded token is
 * arena memory.  Decoding a bad token gives "Invalid page token". */
const char *mt_page_token_encode(struct mt_arena *a, long long offset);
int mt_page_token_decode(long long *out, const char *token, struct mt_err *err);

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
