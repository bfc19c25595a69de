/* mt_validate.c: see mt_validate.h. */
#include "mt_validate.h"

#include <string.h>

#include "mt_limits.h"

int mt_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t len;
		unsigned cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + len > n)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

static int key_char_ok(unsigned char c)
{
	/* Python's \w is Unicode-aware: accept any non-ASCII byte of valid
	 * UTF-8 (checked separately) as a word character. */
	return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
	       c == '/' || c == ' ' || c == ':';
}

/* posixpath.normpath(key) == key, key != ".", no leading ".." or "/". */
static int path_normal(const char *key)
{
	size_t n = strlen(key);
	const char *seg = key;

	if (strcmp(key, ".") == 0 || strncmp(key, "..", 2) == 0 || key[0] == '/')
		return 0;
	if (n > 0 && key[n - 1] == '/')
		return 0;
	for (;;) {
		const char *slash = strchr(seg, '/');
		size_t len = slash ? (size_t)(slash - seg) : strlen(seg);

		if (len == 0 && n > 0)
			return 0; /* "a//b" */
		if ((len == 1 && seg[0] == '.') ||
		    (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		if (!slash)
			break;
		seg = slash + 1;
	}
	return 1;
}

int mt_validate_key(const char *what, const char *key, struct mt_err *err)
{
	size_t n;

	if (!key || !*key)
		return mt_err_set(err, MT_EINVAL, "Missing value for required parameter 'key'.");
	n = strlen(key);
	if (n > MT_MAX_KEY_LEN)
		return mt_err_set(err, MT_EINVAL,
				  "%s name '%.40s...' had length %zu, which exceeded length limit of %d",
				  what, key, n, MT_MAX_KEY_LEN);
	if (!mt_utf8_valid(key, n))
		return mt_err_set(err, MT_EINVAL, "Invalid %s name: not valid UTF-8", what);
	for (size_t i = 0; i < n; i++)
		if (!key_char_ok((unsigned char)key[i]))
			return mt_err_set(err, MT_EINVAL,
					  "Invalid %s name: '%s'. Names may only contain alphanumerics, "
					  "underscores (_), dashes (-), periods (.), spaces ( ), colons (:) "
					  "and slashes (/).", what, key);
	if (!path_normal(key))
		return mt_err_set(err, MT_EINVAL,
				  "Invalid %s name: '%s'. Names may be treated as files in certain "
				  "cases, and must not resolve to other names when treated as such. "
				  "This name would resolve to '%s'", what, key, key);
	return 0;
}

int mt_validate_value_len(const char *what, const char *key, const char *value,
			  size_t max, struct mt_err *err)
{
	size_t n = value ? strlen(value) : 0;

	if (n > max)
		return mt_err_set(err, MT_EINVAL,
				  "%s value '%.40s...' for key '%s' had length %zu, which exceeded "
				  "length limit of %zu", what, value, key, n, max);
	if (value && !mt_utf8_valid(value, n))
		return mt_err_set(err, MT_EINVAL, "%s value for key '%s' is not valid UTF-8",
				  what, key);
	return 0;
}

static int word(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int id_ok(const char *id, size_t max)
{
	size_t n;

	if (!id || !*id || !(word((unsigned char)id[0]) && id[0] != '_' && id[0] != '-'))
		return 0;
	n = strlen(id);
	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!word((unsigned char)id[i]))
			return 0;
	return 1;
}

int mt_validate_run_id(const char *run_id, struct mt_err *err)
{
	if (!id_ok(run_id, 256))
		return mt_err_set(err, MT_EINVAL, "Invalid run ID: '%.300s'", run_id ? run_id : "");
	return 0;
}

int mt_validate_experiment_id(const char *id, struct mt_err *err)
{
	if (!id_ok(id, 64))
		return mt_err_set(err, MT_EINVAL, "Invalid experiment ID: '%.100s'", id ? id : "");
	return 0;
}

int mt_validate_experiment_name(const char *name, struct mt_err *err)
{
	size_t n;

	if (!name || !*name)
		return mt_err_set(err, MT_EINVAL, "Invalid experiment name: '%s'", name ? name : "");
	n = strlen(name);
	if (n > MT_MAX_EXP_NAME_LEN)
		return mt_err_set(err, MT_EINVAL,
				  "Experiment name exceeds the maximum length of %d characters",
				  MT_MAX_EXP_NAME_LEN);
	if (!mt_utf8_valid(name, n))
		return mt_err_set(err, MT_EINVAL, "Invalid experiment name: not valid UTF-8");
	return 0;
}

int mt_validate_artifact_location(const char *loc, struct mt_err *err)
{
	const char *q;

	if (!loc || !*loc)
		return 0;
	if (strlen(loc) > MT_MAX_ARTIFACT_LOC_LEN || !mt_utf8_valid(loc, strlen(loc)))
		return mt_err_set(err, MT_EINVAL, "Invalid artifact location");
	if (strncmp(loc, "runs:", 5) == 0)
		return mt_err_set(err, MT_EINVAL,
				  "Artifact location cannot be a runs:/ URI. Given: '%s'", loc);
	if (strchr(loc, '#'))
		return mt_err_set(err, MT_EINVAL,
				  "'artifact_location' URL can't include fragments. Given: '%s'", loc);
	if (strchr(loc, ';'))
		return mt_err_set(err, MT_EINVAL,
				  "'artifact_location' URL can't include params. Given: '%s'", loc);
	q = strchr(loc, '?');
	if (q && (strstr(q, "..") || strstr(q, "%2e%2e") || strstr(q, "%2E%2E")))
		return mt_err_set(err, MT_EINVAL,
				  "'artifact_location' URL can't include '..' in the query. Given: '%s'", loc);
	return 0;
}

const char *mt_quote(char *q, size_t max, const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;

		if (n > 1 && (i + n > len || !mt_utf8_valid(in + i, n)))
			n = 0; /* invalid: one '?' for this byte */
		if (o + (n ? n : 1) > max)
			break;
		if (n == 0 || (n == 1 && (c < 0x20 || c == 0x7f))) {
			q[o++] = '?';
			i++;
		} else {
			memcpy(q + o, s + i, n);
			o += n;
			i += n;
		}
	}
	if (i < len) {
		memcpy(q + o, "...", 3);
		o += 3;
	}
	q[o] = '\0';
	return q;
}
