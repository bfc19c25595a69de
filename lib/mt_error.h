/*
 * mt_error: the one error type of mltrack.
 *
 * Every failure has a code (a row of MT_ERRORS below).  A row gives the enum
 * name, MLflow's "error_code" string, the HTTP status the server answers with
 * and the exit code the CLI ends with (DESIGN.md §7: 1 check failed, 2 usage,
 * 3 server or network).  Codes and statuses follow MLflow's
 * (databricks.proto, mlflow/exceptions.py): DEADLINE_EXCEEDED is 504 (a
 * statement timeout), CANCELLED 499 (the client went away), RESOURCE_EXHAUSTED
 * 429 (too many connections from one address); ENOSPACE, the artifact
 * store out of space, answers 507 with RESOURCE_EXHAUSTED too (MLflow's
 * clients retry 429 and 5xx but not 507: a full disk does not empty itself).  ESLOW, a body that did not
 * arrive in time, answers 408 with BAD_REQUEST (MLflow has no code of its
 * own for it; mt_code_from_name("BAD_REQUEST") stays EBADREQ).
 *
 * struct mt_err carries a one-line message that is safe to send to a client
 * and a log_detail that goes to stderr only (SQLSTATE, libpq text), in the
 * way PostgreSQL splits errmsg from errdetail_log.  Both have secrets masked
 * (mt_redact.h: registered values and URL passwords), so a message may quote
 * a libpq error or a URL without leaking a password.
 *
 * Fallible functions return 0 or -1 and take `struct mt_err *err` last;
 * mt_err_set() returns -1 so that `return mt_err_set(...)` reads naturally.
 * The struct holds fixed buffers: nothing to free.
 */
#ifndef MT_ERROR_H
#define MT_ERROR_H

#include <stddef.h>

/*   enum            MLflow error_code           HTTP exit */
#define MT_ERRORS(X)                                                      \
	X(OK,             "OK",                        200, 0)                \
	X(EINVAL,         "INVALID_PARAMETER_VALUE",   400, 2)                \
	X(EBADREQ,        "BAD_REQUEST",               400, 2)                \
	X(EEXISTS,        "RESOURCE_ALREADY_EXISTS",   400, 1)                \
	X(ENOTFOUND,      "RESOURCE_DOES_NOT_EXIST",   404, 1)                \
	X(ENOENDPOINT,    "ENDPOINT_NOT_FOUND",        404, 2)                \
	X(EMETHOD,        "METHOD_NOT_ALLOWED",        405, 2)                \
	X(ETOOBIG,        "REQUEST_LIMIT_EXCEEDED",    413, 2)                \
	X(EHEADERS,       "REQUEST_LIMIT_EXCEEDED",    431, 2)                \
	X(EUNAUTH,        "UNAUTHENTICATED",           401, 3)                \
	X(EPERM,          "PERMISSION_DENIED",         403, 3)                \
	X(ECONFLICT,      "RESOURCE_CONFLICT",         409, 1)                \
	X(EGATE,          "GATE_FAILED",               412, 1)                \
	X(EINTERNAL,      "INTERNAL_ERROR",            500, 3)                \
	X(ENOTIMPL,       "NOT_IMPLEMENTED",           501, 3)                \
	X(EUNAVAIL,       "TEMPORARILY_UNAVAILABLE",   503, 3)                \
	X(EDEADLINE,      "DEADLINE_EXCEEDED",         504, 3)                \
	X(ECANCELLED,     "CANCELLED",                 499, 3)                \
	X(EEXHAUSTED,     "RESOURCE_EXHAUSTED",        429, 3)                \
	X(ENOSPACE,       "RESOURCE_EXHAUSTED",        507, 3)                \
	X(ESLOW,          "BAD_REQUEST",               408, 2)

enum mt_code {
#define MT_X_ENUM(e, s, h, x) MT_##e,
	MT_ERRORS(MT_X_ENUM)
#undef MT_X_ENUM
	MT_CODE_COUNT
};

#define MT_ERR_MSG_MAX 1024

struct mt_err {
	enum mt_code code;
	char msg[MT_ERR_MSG_MAX];        /* one line, safe for clients */
	char log_detail[MT_ERR_MSG_MAX]; /* stderr only */
	int retryable; /* running the whole transaction again may succeed */
};

#define MT_ERR_INIT { MT_OK, "", "", 0 }

/* Set code and client message; clears log_detail and retryable.  Always
 * returns -1. */
int mt_err_set(struct mt_err *err, enum mt_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Set the log-only detail; keeps code and msg.  Always returns -1. */
int mt_err_detail(struct mt_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void mt_err_clear(struct mt_err *err);

/* Borrowed static strings / numbers for a code. */
const char *mt_code_name(enum mt_code code);
int mt_code_http(enum mt_code code);
int mt_code_exit(enum mt_code code);
/* MLflow error_code string to code; MT_EINTERNAL when unknown. */
enum mt_code mt_code_from_name(const char *name);

/* A PostgreSQL SQLSTATE (five characters) to the code a client gets, with
 * a one-line message safe to send: 23505 is RESOURCE_ALREADY_EXISTS, 22xxx
 * INVALID_PARAMETER_VALUE, 40P01/40001 and 08xxx TEMPORARILY_UNAVAILABLE,
 * anything unknown INTERNAL_ERROR.  *retry says whether running the whole
 * transaction again may succeed (deadlock, serialization failure).  msg is a
 * borrowed static string. */
enum mt_code mt_code_from_sqlstate(const char *sqlstate, const char **msg, int *retry);

#endif
