/*
 * fuzz_bundle: libFuzzer harness for lib/mt_bundle's verifier, the code the
 * server runs on every bundle a client uploads.
 *
 * The input bytes go to mt_bundle_verify_mem() as an archive, twice.
 * Beyond "no crash, no leak, no out-of-bounds read" (ASan, UBSan, LSan) the
 * harness checks properties and abort()s when one fails:
 *  - both calls give the same result and the same message;
 *  - failure: *out is NULL, the digest "", the code MT_EINVAL (MT_EINTERNAL
 *    only for "out of memory") and the message one line of valid UTF-8
 *    starting with "Invalid bundle: ";
 *  - success: the code is MT_OK, the digest is the SHA-256 of the input,
 *    the manifest is an object with "format" "mltrack-bundle/1" and at most
 *    MT_BUNDLE_MAX_FILES "files", whose paths are strictly sorted, each
 *    unchanged by mt_path_normalise(), none the manifest's name, with a
 *    size >= 0, 64 lowercase hex digits and mode "0644" or "0755".
 *
 * Seeds (tests/fuzz/corpus/bundle/, a few KiB each): bundles made by
 * mt_bundle_pack() (valid-*), the same in GNU and ustar formats, and
 * archives written with libarchive that break one rule each (traversal,
 * links, devices, duplicates, order, manifest damage, truncation, sparse
 * entries, a flipped byte).
 *
 * Build with clang -fsanitize=fuzzer,address,undefined, or link
 * tests/fuzz/standalone.c to replay the corpus.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_bundle.h"
#include "mt_path.h"
#include "mt_util.h"
#include "mt_validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_bundle: property failed: %s (%s)\n", what, detail ? detail : "");
	abort();
}

static void check_failure(const struct mt_err *err, const json_t *out, const char *sha)
{
	size_t n = strlen(err->msg);

	if (out)
		fail("manifest handed out on failure", err->msg);
	if (sha[0])
		fail("digest set on failure", sha);
	if (err->code == MT_EINTERNAL) {
		if (strcmp(err->msg, "out of memory") != 0)
			fail("internal error", err->msg);
		return;
	}
	if (err->code != MT_EINVAL)
		fail("error code", err->msg);
	if (strncmp(err->msg, "Invalid bundle: ", 16) != 0)
		fail("message does not start with \"Invalid bundle: \"", err->msg);
	if (!mt_utf8_valid(err->msg, n))
		fail("message not valid UTF-8", err->msg);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)err->msg[i] < 0x20 || err->msg[i] == 0x7f)
			fail("message not one line", err->msg);
}

static int is_hex64(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 64;
}

static void check_success(const json_t *m, const char *sha, const uint8_t *data, size_t size)
{
	char want[65], canon[MT_PATH_MAX + 1];
	const char *prev = NULL;
	json_t *files;

	mt_sha256_hex(want, data, size);
	if (strcmp(sha, want) != 0)
		fail("digest is not the input's SHA-256", sha);
	if (!json_is_object(m))
		fail("manifest not an object", NULL);
	if (!json_is_string(json_object_get(m, "format")) ||
	    strcmp(json_string_value(json_object_get(m, "format")), MT_BUNDLE_FORMAT) != 0)
		fail("format", NULL);
	files = json_object_get(m, "files");
	if (!json_is_array(files) || json_array_size(files) > MT_BUNDLE_MAX_FILES)
		fail("files", NULL);
	for (size_t i = 0; i < json_array_size(files); i++) {
		json_t *f = json_array_get(files, i);
		const char *path = json_string_value(json_object_get(f, "path"));
		const char *fsha = json_string_value(json_object_get(f, "sha256"));
		const char *mode = json_string_value(json_object_get(f, "mode"));
		json_t *fsize = json_object_get(f, "size");
		struct mt_err err = MT_ERR_INIT;

		if (!path || mt_path_normalise(canon, path, strlen(path), 0, &err) ||
		    strcmp(canon, path) != 0)
			fail("path not normalised", path);
		if (strcmp(path, MT_BUNDLE_MANIFEST) == 0)
			fail("manifest listed as a file", path);
		if (prev && strcmp(prev, path) >= 0)
			fail("paths not strictly sorted", path);
		if (!json_is_integer(fsize) || json_integer_value(fsize) < 0)
			fail("size", path);
		if (!fsha || !is_hex64(fsha))
			fail("sha256", path);
		if (!mode || (strcmp(mode, "0644") != 0 && strcmp(mode, "0755") != 0))
			fail("mode", path);
		prev = path;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mt_err e1 = MT_ERR_INIT, e2 = MT_ERR_INIT;
	json_t *m1 = NULL, *m2 = NULL;
	char s1[65], s2[65];
	int r1, r2;

	r1 = mt_bundle_verify_mem(data, size, &m1, s1, &e1);
	r2 = mt_bundle_verify_mem(data, size, &m2, s2, &e2);
	if (r1 != r2 || strcmp(e1.msg, e2.msg) != 0 || strcmp(s1, s2) != 0)
		fail("two verifications differ", e1.msg);
	if (r1 == 0) {
		if (e1.code != MT_OK)
			fail("error set on success", e1.msg);
		check_success(m1, s1, data, size);
		if (!json_equal(m1, m2))
			fail("two manifests differ", NULL);
	} else {
		check_failure(&e1, m1, s1);
	}
	json_decref(m1);
	json_decref(m2);
	return 0;
}
