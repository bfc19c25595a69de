/*
 * fuzz_path: libFuzzer harness for lib/mt_path (artifact path normalising
 * and confinement).
 *
 * The input bytes, with their length (so embedded NULs reach the code), go to
 * mt_path_normalise() with and without allow_empty.  Beyond "no crash, no
 * leak, no out-of-bounds read" (ASan, UBSan, LSan) the harness checks
 * properties and abort()s when one fails:
 *  - success gives at most MT_PATH_MAX bytes of valid UTF-8 with no "..",
 *    "." or empty segment, no segment over MT_PATH_MAX_SEGMENT, no leading
 *    or trailing '/', no '\\', '#', control byte or "%XX", and no drive
 *    prefix; normalising the output again gives the output (a fixed point);
 *    mt_path_base() and mt_path_under() agree with the segments and
 *    mt_path_join() puts the output under the root;
 *  - failure leaves the output "" with code MT_EINVAL and a one-line, valid
 *    UTF-8 message starting with "Invalid path";
 *  - allow_empty changes only whether "" is accepted;
 *  - prefix: when the input cut at a point chosen by its first byte and the
 *    whole input both normalise, the whole lies under the cut one (when the
 *    cut ends just before a '/').
 *
 * Build with clang -fsanitize=fuzzer,address,undefined, or link
 * tests/fuzz/standalone.c to replay the corpus in tests/fuzz/corpus/path/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_path.h"
#include "mt_validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_path: property failed: %s (%s)\n", what, detail ? detail : "");
	abort();
}

static int is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static void check_error(const struct mt_err *err, const char *out)
{
	if (err->code != MT_EINVAL)
		fail("error code", err->msg);
	if (strncmp(err->msg, "Invalid path", 12) != 0)
		fail("message does not start with \"Invalid path\"", err->msg);
	if (!mt_utf8_valid(err->msg, strlen(err->msg)))
		fail("message not valid UTF-8", err->msg);
	for (const unsigned char *p = (const unsigned char *)err->msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			fail("message not one line", err->msg);
	if (out[0] != '\0')
		fail("output not empty after an error", out);
}

static void check_canonical(const char *out, int allow_empty)
{
	size_t n = strlen(out);
	const char *seg = out;

	if (n > MT_PATH_MAX)
		fail("longer than MT_PATH_MAX", NULL);
	if (n == 0) {
		if (!allow_empty)
			fail("empty accepted without allow_empty", NULL);
		return;
	}
	if (out[0] == '/' || out[n - 1] == '/')
		fail("leading or trailing '/'", out);
	if (strstr(out, "//"))
		fail("'//'", out);
	if (!mt_utf8_valid(out, n))
		fail("not valid UTF-8", out);
	if (((out[0] >= 'a' && out[0] <= 'z') || (out[0] >= 'A' && out[0] <= 'Z')) &&
	    out[1] == ':')
		fail("drive prefix", out);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c < 0x20 || c == 0x7f || c == '\\' || c == '#')
			fail("forbidden byte", out);
		if (c == '%' && i + 2 < n && is_hex((unsigned char)out[i + 1]) &&
		    is_hex((unsigned char)out[i + 2]))
			fail("percent-encoding", out);
	}
	for (;;) {
		const char *slash = strchr(seg, '/');
		size_t len = slash ? (size_t)(slash - seg) : strlen(seg);

		if (len == 0 || len > MT_PATH_MAX_SEGMENT)
			fail("segment length", out);
		if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			fail("'.' or '..' segment", out);
		if (!slash) {
			if (mt_path_base(out) != seg)
				fail("mt_path_base", out);
			break;
		}
		seg = slash + 1;
	}
}

/* The output's own properties with the library's other functions. */
static void check_helpers(const char *out)
{
	char parent[MT_PATH_MAX + 1];
	char joined[MT_PATH_MAX + 64];
	const char *base = mt_path_base(out);
	size_t plen = base > out ? (size_t)(base - out) - 1 : 0;
	struct mt_err err = MT_ERR_INIT;

	memcpy(parent, out, plen);
	parent[plen] = '\0';
	if (!mt_path_under(out, out) || !mt_path_under(out, parent) || !mt_path_under(out, ""))
		fail("mt_path_under of own parent", out);
	if (out[0] && mt_path_under(parent, out))
		fail("parent under child", out);
	if (mt_path_join(joined, sizeof(joined), "/srv/root/", out, &err))
		fail("mt_path_join refused a normalised path", err.msg);
	if (strncmp(joined, "/srv/root", 9) != 0 ||
	    (out[0] && (joined[9] != '/' || strcmp(joined + 10, out) != 0)) ||
	    (!out[0] && joined[9] != '\0'))
		fail("mt_path_join", joined);
}

static int normalise_one(char *out, const char *in, size_t len, int allow_empty)
{
	struct mt_err err = MT_ERR_INIT;
	char again[MT_PATH_MAX + 1];

	if (mt_path_normalise(out, in, len, allow_empty, &err)) {
		check_error(&err, out);
		return -1;
	}
	if (err.code != MT_OK)
		fail("error set on success", err.msg);
	check_canonical(out, allow_empty);
	if (mt_path_normalise(again, out, strlen(out), allow_empty, &err))
		fail("output does not normalise again", err.msg);
	if (strcmp(again, out) != 0)
		fail("not a fixed point", out);
	check_helpers(out);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char strict[MT_PATH_MAX + 1], loose[MT_PATH_MAX + 1], cut[MT_PATH_MAX + 1];
	int rs, rl;

	rs = normalise_one(strict, in, size, 0);
	rl = normalise_one(loose, in, size, 1);
	if (rs == 0 && (rl != 0 || strcmp(strict, loose) != 0))
		fail("allow_empty changed a non-empty result", strict);
	if (rs != 0 && rl == 0 && loose[0] != '\0')
		fail("allow_empty accepted a non-empty path", loose);

	/* A prefix that ends at a '/' is a parent of the whole. */
	if (size >= 2 && rl == 0) {
		size_t k = (size_t)data[0] % size;

		if (k > 0 && data[k] == '/' && normalise_one(cut, in, k, 1) == 0 &&
		    !mt_path_under(loose, cut))
			fail("prefix not a parent", cut);
	}
	return 0;
}
