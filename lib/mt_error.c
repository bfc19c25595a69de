/* mt_error.c: see mt_error.h. */
#include "mt_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mt_redact.h"

static const struct {
	const char *name;
	int http;
	int exit;
} rows[] = {
#define MT_X_ROW(e, s, h, x) { s, h, x },
	MT_ERRORS(MT_X_ROW)
#undef MT_X_ROW
};

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_seq(const unsigned char *s)
{
	size_t len;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL of a cut sequence */
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Messages go into JSON and logs: keep them one line of valid UTF-8.
 * Control bytes become spaces and invalid bytes (a user's, or a multibyte
 * character cut by truncation) become '?'. */
static void one_line(char *str)
{
	unsigned char *s = (unsigned char *)str;

	while (*s) {
		size_t n = utf8_seq(s);

		if (n == 0) {
			*s++ = '?';
		} else if (n == 1) {
			if (*s < 0x20 || *s == 0x7f)
				*s = ' ';
			s++;
		} else {
			s += n;
		}
	}
}

int mt_err_set(struct mt_err *err, enum mt_code code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	mt_redact_inplace(err->msg, sizeof(err->msg));
	one_line(err->msg);
	err->log_detail[0] = '\0';
	err->retryable = 0;
	return -1;
}

int mt_err_detail(struct mt_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err->log_detail, sizeof(err->log_detail), fmt, ap);
	va_end(ap);
	mt_redact_inplace(err->log_detail, sizeof(err->log_detail));
	one_line(err->log_detail);
	return -1;
}

void mt_err_clear(struct mt_err *err)
{
	err->code = MT_OK;
	err->msg[0] = '\0';
	err->log_detail[0] = '\0';
	err->retryable = 0;
}

const char *mt_code_name(enum mt_code code)
{
	return (unsigned)code < MT_CODE_COUNT ? rows[code].name : "INTERNAL_ERROR";
}

int mt_code_http(enum mt_code code)
{
	return (unsigned)code < MT_CODE_COUNT ? rows[code].http : 500;
}

int mt_code_exit(enum mt_code code)
{
	return (unsigned)code < MT_CODE_COUNT ? rows[code].exit : 3;
}

enum mt_code mt_code_from_name(const char *name)
{
	for (unsigned i = 0; i < MT_CODE_COUNT; i++)
		if (name && strcmp(rows[i].name, name) == 0)
			return (enum mt_code)i;
	return MT_EINTERNAL;
}

static const struct {
	const char *prefix; /* SQLSTATE or its class */
	enum mt_code code;
	int retry;
	const char *msg;
} sqlstates[] = {
	{ "23505", MT_EEXISTS, 0, "Resource already exists" },
	{ "23503", MT_ENOTFOUND, 0, "Referenced resource does not exist" },
	{ "40P01", MT_EUNAVAIL, 1, "Database deadlock, please retry" },
	{ "40001", MT_EUNAVAIL, 1, "Serialization failure, please retry" },
	{ "54", MT_EINVAL, 0, "Request exceeds a database limit" },
	{ "22", MT_EINVAL, 0, "Invalid value in request" },
	{ "08", MT_EUNAVAIL, 0, "Database connection lost" },
	{ "57014", MT_EDEADLINE, 0, "Query exceeded the statement timeout" },
	{ "57P", MT_EUNAVAIL, 0, "Database is shutting down" },
	{ "53", MT_EUNAVAIL, 0, "Database is out of resources" },
};

enum mt_code mt_code_from_sqlstate(const char *sqlstate, const char **msg, int *retry)
{
	*retry = 0;
	for (size_t i = 0; sqlstate && i < sizeof(sqlstates) / sizeof(*sqlstates); i++) {
		if (strncmp(sqlstate, sqlstates[i].prefix, strlen(sqlstates[i].prefix)) == 0) {
			*msg = sqlstates[i].msg;
			*retry = sqlstates[i].retry;
			return sqlstates[i].code;
		}
	}
	*msg = "Internal database error";
	return MT_EINTERNAL;
}
