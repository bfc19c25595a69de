/* mt_json.c: see mt_json.h. */
#include "mt_json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

int mt_json_depth_ok(const char *text, size_t len, int max)
{
	int depth = 0, in_str = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return 0;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return 1;
}

int mt_json_opt_str(const char **out, json_t *obj, const char *key,
		    struct mt_arena *a, struct mt_err *err)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		if (memchr(json_string_value(v), '\0', json_string_length(v)))
			return mt_err_set(err, MT_EINVAL,
					  "Invalid value for parameter '%s': NUL byte", key);
		*out = json_string_value(v);
		return 0;
	}
	if (json_is_integer(v)) {
		*out = mt_arena_printf(a, "%lld", (long long)json_integer_value(v));
		return 0;
	}
	if (json_is_real(v)) {
		*out = mt_arena_printf(a, "%.17g", json_real_value(v));
		return 0;
	}
	return mt_err_set(err, MT_EINVAL,
			  "Invalid value for parameter '%s' supplied: expected a string", key);
}

int mt_json_req_str(const char **out, json_t *obj, const char *key,
		    struct mt_arena *a, struct mt_err *err)
{
	if (mt_json_opt_str(out, obj, key, a, err))
		return -1;
	if (!*out || !**out)
		return mt_err_set(err, MT_EINVAL,
				  "Missing value for required parameter '%s'.", key);
	return 0;
}

int mt_json_i64(long long *out, json_t *v, const char *name, struct mt_err *err)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (d == floor(d) && d >= -9.2e18 && d <= 9.2e18) {
			*out = (long long)d;
			return 0;
		}
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		errno = 0;
		*out = strtoll(s, &end, 10);
		if (*s && !*end && errno == 0 && end - s == (long)json_string_length(v))
			return 0;
	}
	return mt_err_set(err, MT_EINVAL,
			  "Invalid value for parameter '%s' supplied: expected an integer", name);
}

int mt_json_opt_i64(long long *out, int *present, json_t *obj, const char *key,
		    struct mt_err *err)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;

	*present = 0;
	if (!v || json_is_null(v))
		return 0;
	if (mt_json_i64(out, v, key, err))
		return -1;
	*present = 1;
	return 0;
}

int mt_json_double(double *out, json_t *v, const char *name, struct mt_err *err)
{
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		if (strcmp(s, "NaN") == 0) {
			*out = NAN;
			return 0;
		}
		if (strcmp(s, "Infinity") == 0 || strcmp(s, "inf") == 0) {
			*out = INFINITY;
			return 0;
		}
		if (strcmp(s, "-Infinity") == 0 || strcmp(s, "-inf") == 0) {
			*out = -INFINITY;
			return 0;
		}
		errno = 0;
		*out = strtod(s, &end);
		if (*s && !*end && end - s == (long)json_string_length(v) &&
		    strncasecmp(s, "0x", 2) != 0 && strncasecmp(s, "-0x", 3) != 0)
			return 0;
	}
	return mt_err_set(err, MT_EINVAL,
			  "Invalid value for parameter '%s' supplied: expected a number", name);
}

int mt_json_str_list(const char ***out, size_t *n, json_t *obj, const char *key,
		     struct mt_arena *a, struct mt_err *err)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;
	const char **list;
	size_t i;
	json_t *item;

	*out = NULL;
	*n = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v)) {
		const char *s;

		if (mt_json_opt_str(&s, obj, key, a, err))
			return -1;
		list = mt_arena_alloc(a, sizeof(*list));
		list[0] = s;
		*out = list;
		*n = 1;
		return 0;
	}
	list = mt_arena_alloc(a, sizeof(*list) * (json_array_size(v) + 1));
	json_array_foreach(v, i, item) {
		if (json_is_string(item)) {
			if (memchr(json_string_value(item), '\0', json_string_length(item)))
				return mt_err_set(err, MT_EINVAL,
						  "Invalid value for parameter '%s': NUL byte", key);
			list[i] = json_string_value(item);
		} else if (json_is_integer(item)) {
			list[i] = mt_arena_printf(a, "%lld", (long long)json_integer_value(item));
		} else {
			return mt_err_set(err, MT_EINVAL,
					  "Invalid value for parameter '%s' supplied: expected a list of strings",
					  key);
		}
	}
	*out = list;
	*n = json_array_size(v);
	return 0;
}

void mt_json_set_str(json_t *obj, const char *key, const char *val)
{
	if (val)
		json_object_set_new(obj, key, json_string(val));
}

void mt_json_set_i64(json_t *obj, const char *key, long long v)
{
	json_object_set_new(obj, key, json_integer(v));
}

json_t *mt_json_double_new(double v)
{
	if (isnan(v))
		return json_string("NaN");
	if (isinf(v))
		return json_string(v > 0 ? "Infinity" : "-Infinity");
	return json_real(v);
}

const char *mt_page_token_encode(struct mt_arena *a, long long offset)
{
	char raw[64];
	int n = snprintf(raw, sizeof(raw), "{\"offset\": %lld}", offset);
	char *out = mt_arena_alloc(a, 4 * ((size_t)n + 2) / 3 + 4);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)raw, n);
	return out;
}

int mt_page_token_decode(long long *out, const char *token, struct mt_err *err)
{
	size_t n = token ? strlen(token) : 0;
	unsigned char raw[128];
	int len, pad = 0;
	json_t *j, *off;
	int rc = -1;

	if (n == 0 || n % 4 != 0 || n > 4 * (sizeof(raw) / 3))
		return mt_err_set(err, MT_EINVAL, "Invalid page token, could not base64-decode");
	len = EVP_DecodeBlock(raw, (const unsigned char *)token, (int)n);
	if (len < 0)
		return mt_err_set(err, MT_EINVAL, "Invalid page token, could not base64-decode");
	if (token[n - 1] == '=')
		pad++;
	if (token[n - 2] == '=')
		pad++;
	len -= pad;
	j = memchr(raw, '\0', (size_t)len) ? NULL : json_loadb((const char *)raw, (size_t)len, 0, NULL);
	off = j ? json_object_get(j, "offset") : NULL;
	if (!off || !json_is_integer(off) || json_integer_value(off) < 0) {
		mt_err_set(err, MT_EINVAL, "Invalid page token, decoded value=%.*s",
			   len > 64 ? 64 : len, (const char *)raw);
		for (char *p = err->msg; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
	} else {
		*out = json_integer_value(off);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

/* The token's text, base64-decoded into raw (NUL-terminated), or -1. */
static int token_raw(char *raw, size_t size, const char *token)
{
	size_t n = token ? strlen(token) : 0;
	int len, pad = 0;

	if (n == 0 || n % 4 != 0 || n / 4 * 3 >= size)
		return -1;
	len = EVP_DecodeBlock((unsigned char *)raw, (const unsigned char *)token, (int)n);
	if (len < 0)
		return -1;
	if (token[n - 1] == '=')
		pad++;
	if (token[n - 2] == '=')
		pad++;
	len -= pad;
	raw[len] = '\0';
	return len;
}

const char *mt_history_token_encode(struct mt_arena *a, const struct mt_history_cursor *c)
{
	char raw[160], val[40];
	int n;
	char *out;

	if (isnan(c->value))
		snprintf(val, sizeof(val), "\"NaN\"");
	else if (isinf(c->value))
		snprintf(val, sizeof(val), "\"%s\"", c->value > 0 ? "Infinity" : "-Infinity");
	else if (snprintf(val, sizeof(val), "%.17g", c->value) > 0 && !strpbrk(val, ".e"))
		strcat(val, ".0"); /* a real, so that -0 stays -0 */
	n = snprintf(raw, sizeof(raw), "{\"step\": %lld, \"timestamp\": %lld, \"value\": %s}",
		     c->step, c->timestamp, val);
	out = mt_arena_alloc(a, 4 * ((size_t)n + 2) / 3 + 4);
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)raw, n);
	return out;
}

int mt_history_token_decode(struct mt_history_cursor *out, const char *token, struct mt_err *err)
{
	char raw[256];
	int len = token_raw(raw, sizeof(raw), token);
	json_t *j = NULL, *step, *ts, *val;
	struct mt_err ignored = MT_ERR_INIT;
	int rc = -1;

	if (len < 0 || memchr(raw, '\0', (size_t)len))
		goto bad;
	j = json_loadb(raw, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
	step = json_object_get(j, "step");
	ts = json_object_get(j, "timestamp");
	val = json_object_get(j, "value");
	if (!json_is_object(j) || json_object_size(j) != 3 || !json_is_integer(step) ||
	    !json_is_integer(ts) || !val)
		goto bad;
	if (json_is_string(val)) {
		const char *s = json_string_value(val);

		if (strcmp(s, "NaN") != 0 && strcmp(s, "Infinity") != 0 &&
		    strcmp(s, "-Infinity") != 0)
			goto bad;
	} else if (!json_is_number(val)) {
		goto bad;
	}
	if (mt_json_double(&out->value, val, "value", &ignored) ||
	    (json_is_number(val) && !isfinite(out->value)))
		goto bad;
	out->step = json_integer_value(step);
	out->timestamp = json_integer_value(ts);
	rc = 0;
bad:
	json_decref(j);
	if (rc)
		mt_err_set(err, MT_EINVAL, "Invalid page token");
	return rc;
}
