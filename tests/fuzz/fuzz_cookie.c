/*
 * fuzz_cookie: libFuzzer harness for mt_auth_cookie() (lib/mt_auth.c), the
 * parser of the Cookie header that carries the dashboard's session id
 * (server/session.c reads every request's with it).
 *
 * The first byte of the input picks the cookie name asked for, the second
 * the output buffer's size; the rest is the header (cut at a NUL, as a
 * header string is).  Beyond "no crash, no leak, no out-of-bounds read or
 * write" (ASan, UBSan, LSan; the buffer is exactly the size given) the
 * harness checks, and abort()s when one fails:
 *  - the result is NULL or the buffer, holding 1 to size - 1 bytes with no
 *    control byte and no ';';
 *  - it equals what a plain reference reading of RFC 6265's grammar gives:
 *    split at ';', drop leading spaces and tabs, the first pair whose name
 *    is exactly the one asked for decides (its value with trailing spaces
 *    and tabs and one pair of surrounding double quotes removed; refused
 *    when empty, too long or holding a control byte);
 *  - a larger buffer gives the same value when a smaller one gave one.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined, or link
 * tests/fuzz/standalone.c to replay the corpus in tests/fuzz/corpus/cookie/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = { "mltrack_session", "a", "", "a b", "mltrack_session=" };
static const size_t sizes[] = { 1, 2, 3, 8, 43, 44, 45, 64, 4096 };

static void fail(const char *what, const char *header)
{
	fprintf(stderr, "fuzz_cookie: property failed: %s (header '%s')\n", what, header);
	abort();
}

static int ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

/* The reference reading: the value's start and length, or -1 for none. */
static int reference(const char *h, const char *name, size_t size, const char **val, size_t *len)
{
	size_t nl = strlen(name);

	if (!nl || size == 0)
		return -1;
	while (*h) {
		const char *seg, *eq, *end;
		size_t n;

		while (*h == ' ' || *h == '\t' || *h == ';')
			h++;
		if (!*h)
			break;
		seg = h;
		end = strchr(seg, ';');
		if (!end)
			end = seg + strlen(seg);
		eq = memchr(seg, '=', (size_t)(end - seg));
		if (eq && (size_t)(eq - seg) == nl && strncmp(seg, name, nl) == 0) {
			const char *v = eq + 1, *e = end;

			while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if (e - v >= 2 && v[0] == '"' && e[-1] == '"') {
				v++;
				e--;
			}
			n = (size_t)(e - v);
			if (n == 0 || n >= size || ctl(v, n))
				return -1;
			*val = v;
			*len = n;
			return 0;
		}
		h = end;
	}
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *name;
	size_t bufsize, hlen;
	char *header, *buf, *big;
	const char *got, *want = NULL, *again;
	size_t wlen = 0;
	int ref;

	if (size < 2)
		return 0;
	name = names[data[0] % (sizeof(names) / sizeof(names[0]))];
	bufsize = sizes[data[1] % (sizeof(sizes) / sizeof(sizes[0]))];
	hlen = strnlen((const char *)data + 2, size - 2);
	header = malloc(hlen + 1);
	buf = malloc(bufsize);
	big = malloc(hlen + 2);
	if (!header || !buf || !big)
		abort();
	memcpy(header, data + 2, hlen);
	header[hlen] = '\0';

	got = mt_auth_cookie(header, name, buf, bufsize);
	ref = reference(header, name, bufsize, &want, &wlen);
	if (got && got != buf)
		fail("result is neither NULL nor the buffer", header);
	if (!got != (ref != 0))
		fail(got ? "a value the reference does not find" : "no value where the reference finds one",
		     header);
	if (got) {
		size_t n = strlen(got);

		if (n == 0 || n >= bufsize)
			fail("value length", header);
		if (ctl(got, n) || strchr(got, ';'))
			fail("control byte or ';' in the value", header);
		if (n != wlen || memcmp(got, want, n) != 0)
			fail("value differs from the reference", header);
		/* Room for anything: the same value. */
		again = mt_auth_cookie(header, name, big, hlen + 2);
		if (!again || strcmp(again, got) != 0)
			fail("a larger buffer changed the value", header);
	}
	free(big);
	free(buf);
	free(header);
	return 0;
}
