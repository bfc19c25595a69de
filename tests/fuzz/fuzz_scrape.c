/*
 * fuzz_scrape: libFuzzer harness for lib/mt_scrape (metrics scraped from a
 * wrapped command's output).
 *
 * The input bytes are a child's output.  A PRNG seeded from the input picks
 * the splits, the streams and whether the built-in pattern is on; four custom
 * patterns are always added (form 1, form 2, form 2 named "step", and one
 * that can match empty).  Beyond "no crash, no leak, no out-of-bounds read,
 * no endless loop" (ASan, UBSan, LSan) the harness checks properties and
 * abort()s when one fails:
 *  - every emitted key is a NAME ([A-Za-z_][A-Za-z0-9_./-]*, at most
 *    MT_MAX_KEY_LEN bytes) that mt_validate_key() accepts, and never "step";
 *    every step is >= 0;
 *  - split invariance: the whole input fed at once, in random chunks (empty
 *    ones too) and, for small inputs, one byte at a time on one stream give
 *    the very same emissions (key, value bits, step);
 *  - fed in random chunks over both streams, the properties above still hold.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined, or link
 * tests/fuzz/standalone.c to replay the corpus in tests/fuzz/corpus/scrape/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_limits.h"
#include "mt_scrape.h"
#include "mt_validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BYTEWISE_MAX 20000

static const char *const specs[] = {
	"([[:alpha:]_][[:alnum:]_./-]*)[ ]*[:=][ ]*([^ ,;]+)",
	"acc=accuracy[: ]+([-+.0-9eE]+)%?",
	"step=^[Ee]poch ([0-9]+)",
	"([a-z]*)=?([0-9.]*)",
};

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_scrape: property failed: %s (%s)\n", what, detail ? detail : "");
	abort();
}

/* Emissions, serialised: key, NUL, value bits, step. */
struct rec {
	unsigned char *p;
	size_t len, cap;
	size_t n;
};

static void rec_put(struct rec *r, const void *b, size_t n)
{
	if (r->len + n > r->cap) {
		size_t ncap = (r->len + n) * 2 + 64;
		unsigned char *np = realloc(r->p, ncap);

		if (!np)
			fail("realloc", NULL);
		r->p = np;
		r->cap = ncap;
	}
	memcpy(r->p + r->len, b, n);
	r->len += n;
}

static int name_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > MT_MAX_KEY_LEN)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i];
		int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';

		if (!alpha && (i == 0 || !((c >= '0' && c <= '9') || c == '.' || c == '/' || c == '-')))
			return 0;
	}
	return 1;
}

static void on_emit(void *arg, const char *key, double value, long long step)
{
	struct rec *r = arg;
	struct mt_err err = MT_ERR_INIT;

	if (!key || !name_ok(key))
		fail("emitted key is not a NAME", key);
	if (mt_validate_key("metric", key, &err))
		fail("emitted key refused by mt_validate_key", err.msg);
	if (strcmp(key, "step") == 0)
		fail("\"step\" emitted as a metric", NULL);
	if (step < 0)
		fail("negative step", key);
	rec_put(r, key, strlen(key) + 1);
	rec_put(r, &value, sizeof(value));
	rec_put(r, &step, sizeof(step));
	r->n++;
}

static uint64_t rnd(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static struct mt_scraper *make(int builtin)
{
	struct mt_scraper *s = mt_scraper_new(builtin);
	struct mt_err err = MT_ERR_INIT;

	if (!s)
		fail("mt_scraper_new", NULL);
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		if (mt_scraper_add(s, specs[i], &err))
			fail("a harness pattern was refused", err.msg);
	/* A bad spec on the way must change nothing. */
	if (mt_scraper_add(s, "(x)(y)(z)", &err) == 0 || err.code != MT_EINVAL)
		fail("three groups accepted", err.msg);
	return s;
}

enum { WHOLE, BYTES, RANDOM, BOTH };

static void run(struct rec *r, const uint8_t *data, size_t size, int builtin, int mode,
		uint64_t seed)
{
	struct mt_scraper *s = make(builtin);
	const char *p = (const char *)data;
	size_t i = 0;

	if (mode == WHOLE) {
		mt_scraper_feed(s, MT_SCRAPE_STDOUT, p, size, on_emit, r);
	} else {
		while (i < size) {
			uint64_t x = rnd(&seed);
			size_t k = mode == BYTES ? 1 : (size_t)(x % 97 < 90 ? x % 13 : (x >> 8) % 4096);
			int stream = mode == BOTH ? (int)((x >> 40) & 1) : MT_SCRAPE_STDOUT;

			if (k > size - i)
				k = size - i;
			mt_scraper_feed(s, stream, p + i, k, on_emit, r);
			i += k;
		}
	}
	mt_scraper_flush(s, on_emit, r);
	mt_scraper_free(s);
}

static void same(const struct rec *a, const struct rec *b, const char *what)
{
	if (a->len != b->len || a->n != b->n || (a->len && memcmp(a->p, b->p, a->len) != 0))
		fail("split invariance", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seed = 1469598103934665603ULL;
	struct rec whole = { 0 }, other = { 0 };
	int builtin;

	for (size_t i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 1099511628211ULL;
	builtin = (int)(seed >> 63) | (size < 64); /* small inputs: built-in on */

	run(&whole, data, size, builtin, WHOLE, 0);
	run(&other, data, size, builtin, RANDOM, seed);
	same(&whole, &other, "random chunks");
	free(other.p);
	memset(&other, 0, sizeof(other));
	if (size <= BYTEWISE_MAX) {
		run(&other, data, size, builtin, BYTES, 0);
		same(&whole, &other, "one byte at a time");
		free(other.p);
		memset(&other, 0, sizeof(other));
	}
	run(&other, data, size, !builtin, BOTH, seed ^ 0x5bd1e995);
	free(other.p);
	free(whole.p);
	return 0;
}
