/*
 * fuzz_scope: libFuzzer harness for lib/mt_scope (the scope of an API
 * token, which a user types and the server parses on every request made
 * with the token).
 *
 * The input, cut at its first NUL, is parsed.  Beyond "no crash, no leak,
 * no out-of-bounds read" (ASan, UBSan, LSan) the harness checks properties
 * and abort()s when one fails:
 *  - failure: code MT_EINVAL, a one-line valid UTF-8 message that starts
 *    with "invalid scope";
 *  - success: 1 to MT_SCOPE_MAX_GRANTS grants, each of a known kind with a
 *    level from READ to MANAGE (a promote grant: EDIT with a stage), a
 *    model grant with a non-empty valid UTF-8 name;
 *  - the canonical text parses again to the same grants and formats to
 *    itself (a fixed point);
 *  - the questions agree with the grants: what the scope grants on a
 *    grant's experiment or model is at least that grant's level, and a
 *    Staging limit never lets a version into Production.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined, or link
 * tests/fuzz/standalone.c to replay the corpus in tests/fuzz/corpus/scope/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_scope.h"
#include "mt_validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_scope: property failed: %s (%s)\n", what, detail ? detail : "");
	abort();
}

static void check_error(const struct mt_err *err)
{
	if (err->code != MT_EINVAL)
		fail("error code", err->msg);
	if (strncmp(err->msg, "invalid scope", 13) != 0)
		fail("message does not start with \"invalid scope\"", err->msg);
	if (!mt_utf8_valid(err->msg, strlen(err->msg)))
		fail("message not valid UTF-8", err->msg);
	for (const unsigned char *p = (const unsigned char *)err->msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			fail("message not one line", err->msg);
}

static void check_grants(const struct mt_scope *s)
{
	if (s->n < 1 || s->n > MT_SCOPE_MAX_GRANTS)
		fail("number of grants", NULL);
	for (size_t i = 0; i < s->n; i++) {
		const struct mt_grant *g = &s->grants[i];
		enum mt_stage_cap cap;

		if (g->perm < MT_PERM_READ || g->perm > MT_PERM_MANAGE)
			fail("level out of range", NULL);
		if (g->promote != MT_CAP_ANY && (g->kind != MT_GRANT_MODEL || g->perm != MT_PERM_EDIT))
			fail("a promote grant that is not EDIT on a model", NULL);
		switch (g->kind) {
		case MT_GRANT_READ_ALL:
			if (g->perm != MT_PERM_READ || !mt_scope_reads_all(s))
				fail("read:*", NULL);
			break;
		case MT_GRANT_EXPERIMENT:
			if (g->experiment_id < 0 || mt_scope_experiment(s, g->experiment_id) < g->perm)
				fail("experiment grant not granted", NULL);
			break;
		case MT_GRANT_MODEL:
			if (!g->model || !*g->model || !mt_utf8_valid(g->model, strlen(g->model)))
				fail("model name", g->model);
			if (mt_scope_model(s, g->model, &cap) < g->perm)
				fail("model grant not granted", g->model);
			if (cap == MT_CAP_STAGING && mt_stage_allowed(cap, "None", "Production"))
				fail("a Staging limit lets a version into Production", g->model);
			if (g->perm >= MT_PERM_EDIT && !mt_scope_edits_a_model(s))
				fail("mt_scope_edits_a_model", g->model);
			break;
		default:
			fail("unknown kind", NULL);
		}
	}
}

static int same(const struct mt_scope *a, const struct mt_scope *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct mt_grant *x = &a->grants[i], *y = &b->grants[i];

		if (x->kind != y->kind || x->perm != y->perm || x->promote != y->promote ||
		    (x->kind == MT_GRANT_EXPERIMENT && x->experiment_id != y->experiment_id) ||
		    (x->kind == MT_GRANT_MODEL && strcmp(x->model, y->model) != 0))
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mt_arena a;
	struct mt_scope s, s2;
	struct mt_err err = MT_ERR_INIT;
	char *text = malloc(size + 1);
	const char *canon;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	mt_arena_init(&a);
	if (mt_scope_parse(&s, text, &a, &err)) {
		check_error(&err);
		goto done;
	}
	if (err.code != MT_OK)
		fail("error set on success", err.msg);
	check_grants(&s);
	canon = mt_scope_format(&s, &a);
	if (mt_scope_parse(&s2, canon, &a, &err))
		fail("the canonical text does not parse", err.msg);
	if (!same(&s, &s2))
		fail("the canonical text parses to other grants", canon);
	if (strcmp(mt_scope_format(&s2, &a), canon) != 0)
		fail("format is not a fixed point", canon);
done:
	mt_arena_release(&a);
	free(text);
	return 0;
}
