/* mt_path.c: see mt_path.h. */
#include "mt_path.h"

#include <assert.h>
#include <string.h>

#include "mt_validate.h"

#define QUOTE_MAX 64 /* bytes of the input quoted in a message */

static int is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void quote(char q[QUOTE_MAX + 4], const char *in, size_t len)
{
	mt_quote(q, QUOTE_MAX, in, len);
}

static int refuse(char *out, const char *in, size_t len, const char *why, struct mt_err *err)
{
	char q[QUOTE_MAX + 4];

	out[0] = '\0';
	quote(q, in, len);
	return mt_err_set(err, MT_EINVAL, "Invalid path: %s (got '%s')", why, q);
}

/* Byte-level refusals, whole input, before any structure is looked at. */
static const char *bad_byte(const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c == '\0')
			return "contains a NUL byte";
		if (c < 0x20 || c == 0x7f)
			return "contains a control character";
		if (c == '\\')
			return "contains a backslash";
		if (c == '#')
			return "contains '#'";
		if (c == '%' && i + 2 < len && is_hex(s[i + 1]) && is_hex(s[i + 2]))
			return "contains percent-encoding (paths are URL-decoded once; "
			       "double-encoded input is not allowed)";
	}
	if (!mt_utf8_valid(in, len))
		return "is not valid UTF-8";
	return NULL;
}

int mt_path_normalise(char *out, const char *in, size_t len, int allow_empty, struct mt_err *err)
{
	const char *why;
	size_t o = 0, start = 0;

	assert(out && (in || len == 0));
	out[0] = '\0';
	if (len == 0)
		in = "";
	why = bad_byte(in, len);
	if (why)
		return refuse(out, in, len, why, err);
	if (in[0] == '/')
		return refuse(out, in, len, "absolute paths are not allowed", err);

	/* in[0] != '/', so every empty segment found here follows a '/'; the
	 * loop stops when a '/' is the last byte, which tolerates one. */
	while (start < len) {
		const char *seg = in + start;
		const char *slash = memchr(seg, '/', len - start);
		size_t n = slash ? (size_t)(slash - seg) : len - start;

		if (n == 0)
			return refuse(out, in, len, "empty segments ('//') are not allowed", err);
		if (n == 2 && seg[0] == '.' && seg[1] == '.')
			return refuse(out, in, len, "'..' segments are not allowed", err);
		if (n > MT_PATH_MAX_SEGMENT)
			return refuse(out, in, len,
				      "a segment is longer than 255 bytes", err);
		if (!(n == 1 && seg[0] == '.')) {
			/* The first kept segment: "./C:" is as much a drive as "C:". */
			if (o == 0 && n >= 2 && is_alpha((unsigned char)seg[0]) && seg[1] == ':')
				return refuse(out, in, len,
					      "Windows drive prefixes are not allowed", err);
			if (o + (o > 0) + n > MT_PATH_MAX)
				return refuse(out, in, len,
					      "longer than 1024 bytes", err);
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, seg, n);
			o += n;
		}
		start += n + 1;
	}
	out[o] = '\0';
	if (o == 0 && !allow_empty)
		return refuse(out, in, len, "empty path (a file name is required)", err);
	return 0;
}

int mt_path_join(char *out, size_t outsz, const char *root, const char *rel, struct mt_err *err)
{
	char canon[MT_PATH_MAX + 1];
	size_t rlen, nlen, need;

	assert(root && rel && (out || outsz == 0));
	if (outsz > 0)
		out[0] = '\0';
	nlen = strlen(rel);
	if (mt_path_normalise(canon, rel, nlen, 1, err))
		return -1;
	if (strcmp(canon, rel) != 0) {
		char q[QUOTE_MAX + 4];

		quote(q, rel, nlen);
		return mt_err_set(err, MT_EINVAL, "Invalid path: not in normalised form (got '%s')", q);
	}

	rlen = strlen(root);
	while (rlen > 1 && root[rlen - 1] == '/')
		rlen--;
	if (rlen == 0) {
		root = ".";
		rlen = nlen ? 0 : 1;
	}
	/* root, a '/' unless root is "/" or rel is "" or the root is empty, rel, NUL */
	{
		int sep = rlen > 0 && nlen > 0 && !(rlen == 1 && root[0] == '/');

		need = rlen + (size_t)sep + nlen + 1;
		if (need > outsz) {
			char q[QUOTE_MAX + 4];

			quote(q, rel, nlen);
			return mt_err_set(err, MT_EINVAL,
					  "Invalid path: too long once joined to the artifact root (got '%s')",
					  q);
		}
		memcpy(out, root, rlen);
		if (sep)
			out[rlen] = '/';
		memcpy(out + rlen + (size_t)sep, rel, nlen);
		out[need - 1] = '\0';
	}
	return 0;
}

int mt_path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 0)
		return 1;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

const char *mt_path_base(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}
