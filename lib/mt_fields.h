/*
 * mt_fields: request field schemas, checked the way MLflow's server checks
 * a request before its handler runs (handlers.py: _get_request_message with
 * a handler's schema, _validate_param_against_schema; MLFLOW-3X.md §6).
 *
 * A schema is an array of struct mt_field ended by one with name NULL, in
 * the order of the handler's schema in MLflow (the first failing field is
 * the one reported), then the message's other fields.  Each field has its
 * protobuf type; a value of another JSON type than protobuf's JSON parser
 * takes for that type is refused with MLflow's wrong-type message
 * (mt_json_invalid), never coerced.  A required field that is absent, null
 * or "" gets MLflow's missing-value message (mt_json_missing).  Fields the
 * schema does not name are ignored, as MLflow ignores unknown fields.
 *
 * Inside a message field (tags, metrics, datasets), a sub-field of the
 * wrong type or a missing required one is reported on the top-level field
 * with its whole value, as MLflow 2.9.2 reports log-batch's entries:
 * "Invalid value [{'key': 'mae', 'value': 2.5}] for parameter 'metrics'".
 *
 * Query strings (GET) carry strings only: there, a number, a bool or an
 * enum is checked by reading the string, and a repeated field may be given
 * once (a single string).  A field given twice that is not repeated is a
 * list, and refused.
 */
#ifndef MT_FIELDS_H
#define MT_FIELDS_H

#include <jansson.h>

#include "mt_error.h"

enum mt_ftype {
	MT_FT_STRING = 1,
	MT_FT_INT64,   /* an integer, an integral number, or a string of one */
	MT_FT_INT32,   /* the same, within int32's range */
	MT_FT_DOUBLE,  /* a number, a numeric string, "NaN", "Infinity", "-Infinity" */
	MT_FT_BOOL,    /* true or false ("true"/"false" in a query string) */
	MT_FT_ENUM,    /* a name of .names (any case), or its number: index + 1 */
	MT_FT_MESSAGE, /* an object whose fields are .sub */
};

enum mt_fflags {
	MT_FF_REQUIRED = 1 << 0, /* absent, null or "" is "Missing value" */
	MT_FF_REPEATED = 1 << 1, /* a list of the type */
	MT_FF_RUN_ID   = 1 << 2, /* absent or null: run_uuid stands in (MLflow's rule) */
};

struct mt_field {
	const char *name;
	enum mt_ftype type;
	unsigned flags;
	const struct mt_field *sub;  /* MT_FT_MESSAGE: its fields */
	const char *const *names;    /* MT_FT_ENUM: names, NULL-ended */
	long long max;               /* integers: largest allowed when > 0 */
};

/* Check obj (a request body, or a query string turned into an object of
 * strings when query is set) against fields.  0, or -1 with err set. */
int mt_fields_check(const struct mt_field *fields, json_t *obj, int query, struct mt_err *err);

#endif
