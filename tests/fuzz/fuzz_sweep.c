/*
 * fuzz_sweep: libFuzzer harness for lib/mt_sweep (the words of
 * `mltrack sweep -- CMD ARGS`, typed by a user, and the trial plan).
 *
 * The input is cut into words at newlines (at most 40 words; the first is
 * the program); the first byte, when the input is not empty, also picks
 * --trials (0: not given) and the seed.  Beyond "no crash, no leak, no
 * out-of-bounds read" (ASan, UBSan, LSan) the harness checks properties and
 * abort()s when one fails:
 *  - failure: MT_EINVAL with a one-line message that starts with "sweep
 *    expression" or "more than", or MT_EINTERNAL;
 *  - success: every axis names a word > 0 of the command and is named after
 *    its flag ("--name=" or the word "--name" before it) or "arg<word>"; grid axes have
 *    1..MT_SWEEP_MAX_ITEMS values, s.grid is their product;
 *  - the plan has 1..MT_SWEEP_MAX_TRIALS trials (or is refused for size);
 *    for a few trials, each value of a list/choice axis is one of its
 *    items, of a range one of its integers, of uniform/loguniform a number
 *    within its bounds (as rounded to 6 digits), and the trial's argv is
 *    the command with exactly those words replaced (prefix kept);
 *  - the same trial made twice is the same (draws are a pure function).
 *
 * Build with clang -fsanitize=fuzzer,address,undefined, or link
 * tests/fuzz/standalone.c to replay the corpus in tests/fuzz/corpus/sweep/.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_WORDS 40

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_sweep: property failed: %s (%s)\n", what, detail ? detail : "");
	abort();
}

static void check_error(const struct mt_err *err)
{
	if (err->code == MT_EINTERNAL)
		return;
	if (err->code != MT_EINVAL)
		fail("error code", err->msg);
	if (strncmp(err->msg, "sweep expression", 16) != 0 &&
	    strncmp(err->msg, "more than", 9) != 0 && strncmp(err->msg, "no command", 10) != 0)
		fail("message", err->msg);
	for (const unsigned char *p = (const unsigned char *)err->msg; *p; p++)
		if (*p == '\n')
			fail("message not one line", err->msg);
}

static void check_value(const struct mt_sweep_axis *a, const char *v)
{
	char *end;
	double d;

	switch (a->kind) {
	case MT_SWEEP_LIST:
	case MT_SWEEP_CHOICE:
		for (size_t i = 0; i < a->n_items; i++)
			if (strcmp(a->items[i], v) == 0)
				return;
		fail("value not an item", v);
		break;
	case MT_SWEEP_RANGE: {
		long long x = strtoll(v, &end, 10);

		if (*end || (x - a->start) % a->step != 0 || (x - a->start) / a->step < 0 ||
		    (unsigned long long)((x - a->start) / a->step) >= a->n_items)
			fail("value not in the range", v);
		break;
	}
	case MT_SWEEP_UNIFORM:
	case MT_SWEEP_LOGUNIFORM:
		d = strtod(v, &end);
		/* 6 significant digits: within a relative 1e-5 of the bounds. */
		if (*end || !isfinite(d) || d < a->lo - fabs(a->lo) * 1e-5 ||
		    d > a->hi + fabs(a->hi) * 1e-5)
			fail("draw out of bounds", v);
		break;
	}
}

static void check_trial(const struct mt_sweep *s, const struct mt_sweep_plan *p, size_t i)
{
	char **v, **av, **v2, **av2;
	struct mt_err err = MT_ERR_INIT;

	if (mt_sweep_trial_make(&v, &av, s, p, i, &err))
		return; /* out of memory */
	if (av[s->argc])
		fail("argv not NULL-terminated", NULL);
	for (int w = 0; w < s->argc; w++) {
		const struct mt_sweep_axis *a = NULL;

		for (size_t k = 0; k < s->n_axes; k++)
			if (s->axes[k].word == w)
				a = &s->axes[k];
		if (!a) {
			if (strcmp(av[w], s->argv[w]) != 0)
				fail("a literal word changed", av[w]);
			continue;
		}
		check_value(a, v[a - s->axes]);
		if (strncmp(av[w], s->argv[w], a->prefix) != 0 ||
		    strcmp(av[w] + a->prefix, v[a - s->axes]) != 0)
			fail("swept word is not prefix + value", av[w]);
	}
	if (mt_sweep_trial_make(&v2, &av2, s, p, i, &err) == 0) {
		for (int w = 0; w < s->argc; w++)
			if (strcmp(av[w], av2[w]) != 0)
				fail("the same trial twice differs", av[w]);
		mt_sweep_trial_free(s, v2, av2);
	}
	mt_sweep_trial_free(s, v, av);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *words[MAX_WORDS];
	int n = 0;
	long long trials = -1;
	uint64_t seed = 0;
	struct mt_sweep s;
	struct mt_sweep_plan p;
	struct mt_err err = MT_ERR_INIT;
	size_t grid = 1;

	if (!text)
		return 0;
	if (size > 0) {
		trials = data[0] % 16 ? (long long)(data[0] % 16) * (data[0] & 0x80 ? 97 : 1) : -1;
		seed = data[0];
		data++;
		size--;
	}
	memcpy(text, data, size);
	text[size] = '\0';
	for (char *p0 = text, *nl; n < MAX_WORDS; p0 = nl + 1) {
		words[n++] = p0;
		if (!(nl = strchr(p0, '\n')))
			break;
		*nl = '\0';
	}
	if (mt_sweep_parse(&s, n, words, &err)) {
		check_error(&err);
		goto done;
	}
	if (s.argc != n)
		fail("argc", NULL);
	for (size_t k = 0; k < s.n_axes; k++) {
		const struct mt_sweep_axis *a = &s.axes[k];

		if (a->word <= 0 || a->word >= n || !a->name || !*a->name)
			fail("axis word or name", a->name);
		/* Named after its flag ("--name=" or the word before), or arg<N>. */
		if (a->flag && a->prefix) {
			if (strlen(a->name) != a->prefix - 3 ||
			    strncmp(words[a->word] + 2, a->name, a->prefix - 3) != 0)
				fail("axis named after --name=", a->name);
		} else if (a->flag) {
			if (strncmp(words[a->word - 1], "--", 2) != 0 ||
			    strcmp(words[a->word - 1] + 2, a->name) != 0)
				fail("axis named after the flag before it", a->name);
		} else if (strncmp(a->name, "arg", 3) != 0 || atoi(a->name + 3) != a->word) {
			fail("positional axis name", a->name);
		}
		if (mt_sweep_is_grid(a->kind)) {
			if (a->n_items < 1 || a->n_items > MT_SWEEP_MAX_ITEMS)
				fail("grid axis size", a->name);
			grid = grid > SIZE_MAX / a->n_items ? SIZE_MAX : grid * a->n_items;
		} else if (a->kind == MT_SWEEP_CHOICE ? a->n_items < 1 : !(a->lo < a->hi)) {
			fail("drawn axis", a->name);
		}
	}
	if (grid != s.grid)
		fail("grid is not the product", NULL);
	if (mt_sweep_plan_init(&p, &s, trials, seed, &err) == 0) {
		if (p.total < 1 || p.total > MT_SWEEP_MAX_TRIALS)
			fail("plan size", NULL);
		check_trial(&s, &p, 0);
		check_trial(&s, &p, p.total - 1);
		check_trial(&s, &p, p.total / 2);
		mt_sweep_plan_release(&p);
	} else if (err.code != MT_EINVAL && err.code != MT_EINTERNAL) {
		fail("plan error code", err.msg);
	}
	mt_sweep_release(&s);
done:
	free(text);
	return 0;
}
