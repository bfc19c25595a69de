/*
 * check_filter_bool: boolean filters (OR, NOT, parentheses), the grammar
 * mt_filter_parse_ext() takes with MT_FILTER_BOOL (runs/search).
 *
 * Data-driven like check_filter.c: each row is a filter with either its
 * rendered parse or a substring of the error.  The rendering is the flat
 * clauses as check_filter.c writes them ("kind:key OP value" joined by
 * " ; "), then, when there is a tree, " ; " (or nothing when there are no
 * flat clauses) and the tree: "(a & b)" for AND, "(a | b)" for OR, "!a"
 * for NOT.
 */
#include "mt_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_filter.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define TIMEOUT 10

#define R MT_FE_RUNS
#define E MT_FE_EXPERIMENTS

static void cat(char *buf, size_t size, const char *s)
{
	size_t used = strlen(buf);

	if (used < size)
		snprintf(buf + used, size - used, "%s", s);
}

static void render_clause(char *buf, size_t size, const struct mt_filter_clause *c)
{
	char tmp[64];

	cat(buf, size, mt_filter_kind_name(c->kind));
	cat(buf, size, ":");
	cat(buf, size, c->key);
	cat(buf, size, " ");
	cat(buf, size, mt_filter_op_name(c->op));
	cat(buf, size, " ");
	if (c->is_num) {
		if (c->is_int)
			snprintf(tmp, sizeof(tmp), "%lld", c->inum);
		else
			snprintf(tmp, sizeof(tmp), "%g", c->num);
		cat(buf, size, tmp);
	} else if (c->str) {
		cat(buf, size, "'");
		cat(buf, size, c->str);
		cat(buf, size, "'");
	} else {
		cat(buf, size, "(");
		for (size_t j = 0; j < c->nlist; j++) {
			cat(buf, size, j ? ", '" : "'");
			cat(buf, size, c->list[j]);
			cat(buf, size, "'");
		}
		cat(buf, size, ")");
	}
}

static void render_node(char *buf, size_t size, const struct mt_filter_node *n)
{
	switch (n->type) {
	case MT_FN_CLAUSE:
		render_clause(buf, size, &n->clause);
		break;
	case MT_FN_NOT:
		ck_assert_uint_eq(n->nkids, 1);
		cat(buf, size, "!");
		render_node(buf, size, n->kids[0]);
		break;
	default:
		/* Normalised: two kids or more, none of the node's own type. */
		ck_assert_uint_ge(n->nkids, 2);
		cat(buf, size, "(");
		for (size_t i = 0; i < n->nkids; i++) {
			ck_assert_int_ne(n->kids[i]->type, n->type);
			if (i)
				cat(buf, size, n->type == MT_FN_AND ? " & " : " | ");
			render_node(buf, size, n->kids[i]);
		}
		cat(buf, size, ")");
	}
}

static void render(char *buf, size_t size, const struct mt_filter *f)
{
	buf[0] = '\0';
	for (size_t i = 0; i < f->n; i++) {
		if (i)
			cat(buf, size, " ; ");
		render_clause(buf, size, &f->clauses[i]);
	}
	if (f->tree) {
		if (f->n)
			cat(buf, size, " ; ");
		render_node(buf, size, f->tree);
	}
}

struct bool_case {
	enum mt_filter_entity ent;
	const char *text;
	const char *want;  /* the rendering */
	const char *err;   /* or a substring of the error */
};

static const struct bool_case cases[] = {
	/* MLflow's grammar: the flat form, no tree */
	{ R, "", "", NULL },
	{ R, "metrics.acc > 0.9", "metric:acc > 0.9", NULL },
	{ R, "metrics.acc > 0.9 and params.m = 'x'", "metric:acc > 0.9 ; param:m = 'x'", NULL },
	{ R, "run_id NOT IN ('a') AND tags.t LIKE 'x%'",
	  "attribute:run_id NOT IN ('a') ; tag:t LIKE 'x%'", NULL },
	/* parentheses around ANDs stay flat */
	{ R, "(metrics.a > 1)", "metric:a > 1", NULL },
	{ R, "((metrics.a > 1))", "metric:a > 1", NULL },
	{ R, "(metrics.a > 1 AND metrics.b < 2) AND (params.p = 'x')",
	  "metric:a > 1 ; metric:b < 2 ; param:p = 'x'", NULL },
	/* the query */
	{ R, "(metrics.acc > 0.9 OR params.model = 'xgb') AND NOT tags.bad = 'true'",
	  "((metric:acc > 0.9 | param:model = 'xgb') & !tag:bad = 'true')", NULL },
	/* precedence: NOT > AND > OR */
	{ R, "metrics.a > 1 OR metrics.b > 2 AND metrics.c > 3",
	  "(metric:a > 1 | (metric:b > 2 & metric:c > 3))", NULL },
	{ R, "metrics.a > 1 AND metrics.b > 2 OR metrics.c > 3",
	  "((metric:a > 1 & metric:b > 2) | metric:c > 3)", NULL },
	{ R, "NOT metrics.a > 1 AND metrics.b > 2", "metric:b > 2 ; !metric:a > 1", NULL },
	{ R, "NOT metrics.a > 1 OR metrics.b > 2", "(!metric:a > 1 | metric:b > 2)", NULL },
	{ R, "NOT (metrics.a > 1 OR metrics.b > 2)", "!(metric:a > 1 | metric:b > 2)", NULL },
	/* top-level comparisons become flat clauses, in text order */
	{ R, "params.p = 'x' AND (metrics.a > 1 OR metrics.b > 2) AND tags.t = 'y'",
	  "param:p = 'x' ; tag:t = 'y' ; (metric:a > 1 | metric:b > 2)", NULL },
	{ R, "(metrics.a > 1 OR metrics.b > 2) AND (tags.t = 'y' OR tags.t = 'z')",
	  "((metric:a > 1 | metric:b > 2) & (tag:t = 'y' | tag:t = 'z'))", NULL },
	/* nested ORs and ANDs are flattened, NOT NOT x is x */
	{ R, "metrics.a > 1 OR (metrics.b > 2 OR (metrics.c > 3))",
	  "(metric:a > 1 | metric:b > 2 | metric:c > 3)", NULL },
	{ R, "NOT NOT metrics.a > 1", "metric:a > 1", NULL },
	{ R, "NOT NOT NOT metrics.a > 1", "!metric:a > 1", NULL },
	{ R, "NOT (NOT (metrics.a > 1 OR metrics.b > 1))", "(metric:a > 1 | metric:b > 1)", NULL },
	/* keywords in any case, no spaces around parentheses */
	{ R, "not(metrics.a>1)or(params.p='x')", "(!metric:a > 1 | param:p = 'x')", NULL },
	{ R, "metrics.a > 1 Or metrics.b > 2", "(metric:a > 1 | metric:b > 2)", NULL },
	{ R, "\tNOT\n(metrics.a > 1)\nOR\r\nmetrics.b > 2", "(!metric:a > 1 | metric:b > 2)", NULL },
	/* NOT IN stays the comparator; keys and values that look like keywords */
	{ R, "NOT run_id NOT IN ('a') OR run_id IN ('b')",
	  "(!attribute:run_id NOT IN ('a') | attribute:run_id IN ('b'))", NULL },
	{ R, "tags.`OR` = 'NOT' OR tags.`and` = ')'", "(tag:OR = 'NOT' | tag:and = ')')", NULL },
	{ R, "tags.or = 'x' OR tags.not = 'y'", "(tag:or = 'x' | tag:not = 'y')", NULL },
	{ R, "datasets.name IN ('a', 'b') OR NOT attributes.status = 'FINISHED'",
	  "(dataset:name IN ('a', 'b') | !attribute:status = 'FINISHED')", NULL },

	/* errors */
	{ R, "(metrics.a > 1", NULL, "missing ')'" },
	{ R, "metrics.a > 1)", NULL, "')' without '('" },
	{ R, "metrics.a > 1 OR", NULL, "ends where a comparison is expected" },
	{ R, "NOT", NULL, "ends where a comparison is expected" },
	{ R, "()", NULL, "Invalid clause(s) in filter string: ')'" },
	{ R, "metrics.a > 1 OR OR metrics.b > 1", NULL, "Invalid clause(s) in filter string: 'OR'" },
	{ R, "metrics.a > 1 AND OR metrics.b > 1", NULL, "Invalid clause(s) in filter string: 'OR'" },
	{ R, "OR metrics.a > 1", NULL, "Invalid clause(s) in filter string: 'OR'" },
	{ R, "metrics.a > 1 metrics.b > 2", NULL, "Invalid clause(s) in filter string: 'metrics.b'" },
	{ R, "(metrics.a > 1) (metrics.b > 2)", NULL, "Invalid clause(s) in filter string: '('" },
	{ R, "(metrics.a > 1 metrics.b > 2)", NULL, "Invalid clause(s) in filter string: 'metrics.b'" },
	{ R, "metrics.a NOT > 1", NULL, "Invalid comparator 'NOT >'" },
	{ R, "tags.a NOT LIKE 'x'", NULL, "Invalid comparator 'NOT LIKE'" },
	{ R, "metrics.a > 'x' OR metrics.b > 1", NULL, "Expected numeric value type for metric 'a'" },
	{ R, "metrics.a > 1 OR foo = 'x'", NULL, "Invalid attribute key 'foo'" },
	{ R, "metrics.a > 1 OR run_id IN ('a'", NULL, "ill-formed list" },
	/* other searches keep MLflow's grammar, and so does mt_filter_parse() */
	{ E, "name = 'a' OR name = 'b'", NULL, "Invalid clause(s) in filter string: 'OR'" },
};

START_TEST(bool_table)
{
	const struct bool_case *tc = &cases[_i];
	struct mt_filter f = { (struct mt_filter_clause *)&f, 99, (struct mt_filter_node *)&f };
	struct mt_err err = MT_ERR_INIT;
	unsigned flags = tc->ent == R ? MT_FILTER_BOOL : 0;
	char got[2048];
	int rc;

	rc = mt_filter_parse_ext(&f, tc->ent, tc->text, flags, &err);
	if (tc->err) {
		ck_assert_msg(rc == -1, "filter \"%s\": accepted", tc->text);
		ck_assert_int_eq(err.code, MT_EINVAL);
		ck_assert_msg(strstr(err.msg, tc->err) != NULL,
			      "filter \"%s\":\n got  %s\n want ...%s...", tc->text, err.msg, tc->err);
		ck_assert_msg(strchr(err.msg, '\n') == NULL, "message is not one line");
		ck_assert_ptr_null(f.clauses);
		ck_assert_ptr_null(f.tree);
		ck_assert_uint_eq(f.n, 0);
		return;
	}
	ck_assert_msg(rc == 0, "filter \"%s\": unexpected error: %s", tc->text, err.msg);
	render(got, sizeof(got), &f);
	ck_assert_msg(strcmp(got, tc->want) == 0, "filter \"%s\":\n got  %s\n want %s", tc->text,
		      got, tc->want);
	mt_filter_release(&f);
	ck_assert_ptr_null(f.clauses);
	ck_assert_ptr_null(f.tree);
	ck_assert_uint_eq(f.n, 0);
}
END_TEST

/* Without the flag, runs filters keep MLflow's errors. */
START_TEST(flag_off)
{
	struct mt_filter f;
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(mt_filter_parse(&f, R, "metrics.a > 1 OR metrics.b > 2", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "'OR'"));
	ck_assert_int_eq(mt_filter_parse_ext(&f, R, "(metrics.a > 1)", 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "'('"));
}
END_TEST

static char *repeat(const char *unit, size_t times, const char *head, const char *tail)
{
	size_t ul = strlen(unit), hl = strlen(head), tl = strlen(tail);
	char *s = malloc(hl + ul * times + tl + 1), *p = s;

	ck_assert_ptr_nonnull(s);
	memcpy(p, head, hl);
	p += hl;
	for (size_t i = 0; i < times; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl);
	p[tl] = '\0';
	return s;
}

START_TEST(depth_limit)
{
	struct mt_filter f;
	struct mt_err err = MT_ERR_INIT;
	char *open = repeat("(", MT_FILTER_MAX_DEPTH, "", "");
	char *close = repeat(")", MT_FILTER_MAX_DEPTH, "", "");
	char *s = malloc(strlen(open) + strlen(close) + 64);

	/* 32 parentheses, 32 NOTs, 16 of each: accepted; one more: refused */
	sprintf(s, "%smetrics.a > 1%s", open, close);
	ck_assert_int_eq(mt_filter_parse_ext(&f, R, s, MT_FILTER_BOOL, &err), 0);
	mt_filter_release(&f);
	sprintf(s, "(%smetrics.a > 1%s)", open, close);
	ck_assert_int_eq(mt_filter_parse_ext(&f, R, s, MT_FILTER_BOOL, &err), -1);
	ck_assert_int_eq(err.code, MT_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than 32 levels deep"));
	ck_assert_ptr_null(f.clauses);
	free(s);

	s = repeat("NOT ", MT_FILTER_MAX_DEPTH, "", "metrics.a > 1");
	ck_assert_int_eq(mt_filter_parse_ext(&f, R, s, MT_FILTER_BOOL, &err), 0);
	ck_assert_uint_eq(f.n, 1);  /* an even number of NOTs */
	mt_filter_release(&f);
	free(s);
	s = repeat("NOT ", MT_FILTER_MAX_DEPTH + 1, "", "metrics.a > 1");
	ck_assert_int_eq(mt_filter_parse_ext(&f, R, s, MT_FILTER_BOOL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than 32 levels deep"));
	free(s);
	s = repeat("NOT (", MT_FILTER_MAX_DEPTH / 2, "", "metrics.a > 1");
	s = realloc(s, strlen(s) + MT_FILTER_MAX_DEPTH + 1);
	strcat(s, close + MT_FILTER_MAX_DEPTH / 2);
	ck_assert_int_eq(mt_filter_parse_ext(&f, R, s, MT_FILTER_BOOL, &err), 0);
	mt_filter_release(&f);
	free(s);
	/* Deep input far past the limit fails cleanly (no deep recursion). */
	s = repeat("(", 100000 / 2, "", "");
	ck_assert_int_eq(mt_filter_parse_ext(&f, R, s, MT_FILTER_BOOL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "levels deep"));
	free(s);
	free(open);
	free(close);
}
END_TEST

/* The clause limit counts every comparison, in the tree too. */
START_TEST(clause_limit)
{
	struct mt_filter f;
	struct mt_err err = MT_ERR_INIT;
	char *s = repeat("metrics.a > 1 OR ", MT_FILTER_MAX_CLAUSES - 1, "", "metrics.a > 1");

	ck_assert_int_eq(mt_filter_parse_ext(&f, R, s, MT_FILTER_BOOL, &err), 0);
	ck_assert_uint_eq(f.n, 0);
	ck_assert_uint_eq(mt_filter_tree_clauses(f.tree), MT_FILTER_MAX_CLAUSES);
	mt_filter_release(&f);
	free(s);
	s = repeat("metrics.a > 1 OR ", MT_FILTER_MAX_CLAUSES, "", "metrics.a > 1");
	ck_assert_int_eq(mt_filter_parse_ext(&f, R, s, MT_FILTER_BOOL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than 50 clauses"));
	free(s);
	s = repeat("metrics.a > 1 AND ", MT_FILTER_MAX_CLAUSES - 1, "(metrics.b > 1 OR NOT ",
		   "metrics.a > 1)");
	ck_assert_int_eq(mt_filter_parse_ext(&f, R, s, MT_FILTER_BOOL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than 50 clauses"));
	free(s);
	ck_assert_uint_eq(mt_filter_tree_clauses(NULL), 0);
}
END_TEST

/* An error deep in a tree frees what was built before it (LSan). */
START_TEST(release_after_error)
{
	struct mt_filter f;
	struct mt_err err = MT_ERR_INIT;
	const char *texts[] = {
		"(tags.a = 'x' OR run_id IN ('a','b')) AND NOT (metrics.m > 1 OR params.p = 1)",
		"tags.a = 'x' OR (run_id IN ('a','b') AND NOT tags.b = 'y'",
		"NOT NOT (tags.a = 'x' OR tags.b = 'y') AND tags.`c",
		"(datasets.name IN ('a','b') OR tags.a = 'x') foo",
		"tags.a = 'x' OR tags.b = 'y' OR tags.c = 'z' AND NOT",
	};

	for (size_t i = 0; i < N_ELEMS(texts); i++) {
		ck_assert_int_eq(mt_filter_parse_ext(&f, R, texts[i], MT_FILTER_BOOL, &err), -1);
		ck_assert_ptr_null(f.clauses);
		ck_assert_ptr_null(f.tree);
		mt_filter_release(&f);
	}
}
END_TEST

Suite *make_filter_bool_suite(void)
{
	Suite *s = suite_create("filter_bool");
	TCase *tc;

	tc = tcase_create("grammar");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_loop_test(tc, bool_table, 0, (int)N_ELEMS(cases));
	tcase_add_test(tc, flag_off);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_test(tc, depth_limit);
	tcase_add_test(tc, clause_limit);
	tcase_add_test(tc, release_after_error);
	suite_add_tcase(s, tc);

	return s;
}
