/*
 * fuzz_filter: libFuzzer harness for lib/mt_filter (search filters and
 * order_by clauses).
 *
 * The input bytes, as a NUL-terminated copy, go to mt_filter_parse() for every
 * entity, and to mt_order_parse() both as one clause and split at newlines
 * into several.  Beyond "no crash, no leak, no out-of-bounds read" (ASan,
 * UBSan, LSan) the harness checks properties and abort()s when one fails:
 *  - failure leaves the output empty and sets a one-line, valid UTF-8
 *    message with code MT_EINVAL;
 *  - success gives clauses within the limits, each with exactly one value
 *    form, and a key that is never empty;
 *  - round trip: rendering the parse back to canonical text and parsing that
 *    gives the same clauses (the same for order_by).
 * The text is also parsed as a boolean filter (MT_FILTER_BOOL, runs/search:
 * OR, NOT, parentheses), with the same properties and these: the tree is
 * normalised (AND and OR nodes have two kids or more, none of their own
 * type; NOT has one kid that is not a NOT), no deeper than the nesting
 * limit allows, with at most MT_FILTER_MAX_CLAUSES comparisons in all; a
 * filter the flat grammar accepts parses to the same clauses and no tree;
 * and the round trip (tree rendered with parentheses everywhere) gives the
 * same clauses and the same tree.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined, or link
 * tests/fuzz/standalone.c to replay the corpus in tests/fuzz/corpus/filter/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_SPLIT 300

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_filter: property failed: %s (%s)\n", what, detail ? detail : "");
	abort();
}

/* ---- a small growable string for rendering ---- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t ncap = (b->len + n + 1) * 2;
		char *np = realloc(b->p, ncap);

		if (!np)
			fail("realloc", NULL);
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

/* q-quoted, with backslashes and q escaped. */
static void sb_quoted(struct sbuf *b, const char *s, char q)
{
	sb_putn(b, &q, 1);
	for (; *s; s++) {
		if (*s == '\\' || *s == q)
			sb_putn(b, "\\", 1);
		sb_putn(b, s, 1);
	}
	sb_putn(b, &q, 1);
}

static const char *prefix_of(enum mt_filter_kind k)
{
	switch (k) {
	case MT_FK_METRIC: return "metrics.";
	case MT_FK_PARAM: return "params.";
	case MT_FK_TAG: return "tags.";
	case MT_FK_DATASET: return "datasets.";
	default: return "";
	}
}

static void render_key(struct sbuf *b, enum mt_filter_kind kind, const char *key)
{
	sb_puts(b, prefix_of(kind));
	if (kind == MT_FK_ATTR || kind == MT_FK_DATASET)
		sb_puts(b, key);  /* canonical names are plain identifiers */
	else
		sb_quoted(b, key, '`');
}

static void render_clause(struct sbuf *b, const struct mt_filter_clause *c)
{
	char num[64];

	render_key(b, c->kind, c->key);
	sb_puts(b, " ");
	sb_puts(b, mt_filter_op_name(c->op));
	sb_puts(b, " ");
	if (c->is_num) {
		if (c->is_int)
			snprintf(num, sizeof(num), "%lld", c->inum);
		else
			snprintf(num, sizeof(num), "%.17g", c->num);
		sb_puts(b, num);
	} else if (c->op == MT_OP_IN || c->op == MT_OP_NOT_IN) {
		sb_puts(b, "(");
		if (c->nlist == 0)
			sb_puts(b, "'X'");  /* dropped again: an empty run_id list */
		for (size_t j = 0; j < c->nlist; j++) {
			if (j)
				sb_puts(b, ", ");
			sb_quoted(b, c->list[j], '\'');
		}
		sb_puts(b, ")");
	} else {
		sb_quoted(b, c->str, '\'');
	}
}

/* Parentheses where precedence needs them only (an OR under an AND, an AND
 * or OR under a NOT), so that the text nests no deeper than the text that
 * was parsed (which needed them there too) and stays within the limit. */
static void render_node(struct sbuf *b, const struct mt_filter_node *n)
{
	if (n->type == MT_FN_CLAUSE) {
		render_clause(b, &n->clause);
		return;
	}
	for (size_t i = 0; i < n->nkids; i++) {
		const struct mt_filter_node *k = n->kids[i];
		int paren = n->type == MT_FN_NOT ? k->type == MT_FN_AND || k->type == MT_FN_OR :
			    n->type == MT_FN_AND && k->type == MT_FN_OR;

		if (n->type == MT_FN_NOT)
			sb_puts(b, "NOT ");
		else if (i)
			sb_puts(b, n->type == MT_FN_AND ? " AND " : " OR ");
		if (paren)
			sb_puts(b, "(");
		render_node(b, k);
		if (paren)
			sb_puts(b, ")");
	}
}

static void render_filter(struct sbuf *b, const struct mt_filter *f)
{
	for (size_t i = 0; i < f->n; i++) {
		if (i)
			sb_puts(b, " AND ");
		render_clause(b, &f->clauses[i]);
	}
	if (f->tree) {
		int paren = f->n && f->tree->type == MT_FN_OR;

		if (f->n)
			sb_puts(b, " AND ");
		if (paren)
			sb_puts(b, "(");
		render_node(b, f->tree);
		if (paren)
			sb_puts(b, ")");
	}
}

static int same_clause(const struct mt_filter_clause *a, const struct mt_filter_clause *b)
{
	if (a->kind != b->kind || a->op != b->op || strcmp(a->key, b->key) != 0 ||
	    a->is_num != b->is_num || a->is_int != b->is_int || a->nlist != b->nlist ||
	    !a->str != !b->str)
		return 0;
	if (a->is_num && (a->num != b->num || (a->is_int && a->inum != b->inum)))
		return 0;
	if (a->str && strcmp(a->str, b->str) != 0)
		return 0;
	for (size_t i = 0; i < a->nlist; i++)
		if (strcmp(a->list[i], b->list[i]) != 0)
			return 0;
	return 1;
}

static int valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = *p < 0x80 ? 1 : *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC2 ? 2 : 0;

		if (n == 0)
			return 0;
		for (size_t k = 1; k < n; k++)
			if ((p[k] & 0xC0) != 0x80)
				return 0;
		p += n;
	}
	return 1;
}

static void check_error(const struct mt_err *err, const char *input)
{
	(void)input;
	if (err->code != MT_EINVAL && err->code != MT_EINTERNAL)
		fail("error code", err->msg);
	if (err->msg[0] == '\0')
		fail("empty error message", NULL);
	if (strchr(err->msg, '\n') || !valid_utf8(err->msg))
		fail("error message not one line of UTF-8", err->msg);
}

static void check_clause(const struct mt_filter_clause *c);

/* A normalised tree no deeper than the parser allows; returns its
 * comparisons. */
static size_t check_node(const struct mt_filter_node *n, int depth)
{
	size_t k = 0;

	/* Each level of the text ('(' or NOT) adds at most two levels here:
	 * an OR in parentheses under an AND, say. */
	if (depth > 2 * MT_FILTER_MAX_DEPTH + 2)
		fail("tree deeper than the nesting limit", NULL);
	switch (n->type) {
	case MT_FN_CLAUSE:
		if (n->kids || n->nkids)
			fail("comparison with kids", NULL);
		check_clause(&n->clause);
		return 1;
	case MT_FN_NOT:
		if (n->nkids != 1 || !n->kids || n->kids[0]->type == MT_FN_NOT)
			fail("NOT node", NULL);
		break;
	case MT_FN_AND:
	case MT_FN_OR:
		if (n->nkids < 2 || !n->kids)
			fail("AND/OR node with fewer than two kids", NULL);
		for (size_t i = 0; i < n->nkids; i++)
			if (n->kids[i]->type == n->type)
				fail("AND/OR node not flattened", NULL);
		break;
	default:
		fail("node type out of range", NULL);
	}
	if (n->clause.key || n->clause.str || n->clause.list)
		fail("operator node with a clause", NULL);
	for (size_t i = 0; i < n->nkids; i++)
		k += check_node(n->kids[i], depth + 1);
	return k;
}

static int same_node(const struct mt_filter_node *a, const struct mt_filter_node *b)
{
	if (a->type != b->type || a->nkids != b->nkids)
		return 0;
	if (a->type == MT_FN_CLAUSE)
		return same_clause(&a->clause, &b->clause);
	for (size_t i = 0; i < a->nkids; i++)
		if (!same_node(a->kids[i], b->kids[i]))
			return 0;
	return 1;
}

static void check_filter(const struct mt_filter *f)
{
	size_t total = f->n;

	if (f->n > MT_FILTER_MAX_CLAUSES || (f->n && !f->clauses))
		fail("clause count", NULL);
	if (f->tree) {
		/* A tree on top of flat clauses is never one more AND. */
		if (f->tree->type == MT_FN_CLAUSE || (f->n && f->tree->type == MT_FN_AND &&
						      f->tree->nkids < 2))
			fail("tree holds a top-level comparison", NULL);
		if (f->tree->type == MT_FN_AND)
			for (size_t i = 0; i < f->tree->nkids; i++)
				if (f->tree->kids[i]->type == MT_FN_CLAUSE)
					fail("top-level comparison left in the tree", NULL);
		total += check_node(f->tree, 0);
		if (mt_filter_tree_clauses(f->tree) != total - f->n)
			fail("mt_filter_tree_clauses", NULL);
	}
	if (total > MT_FILTER_MAX_CLAUSES)
		fail("comparisons in all", NULL);
	for (size_t i = 0; i < f->n; i++)
		check_clause(&f->clauses[i]);
}

static void check_clause(const struct mt_filter_clause *c)
{
	{
		int forms = !!c->is_num + !!c->str + (c->op == MT_OP_IN || c->op == MT_OP_NOT_IN);

		if (!c->key || (c->key[0] == '\0'))
			fail("empty key", NULL);
		if ((unsigned)c->kind > MT_FK_DATASET || (unsigned)c->op > MT_OP_NOT_IN)
			fail("enum out of range", c->key);
		if (forms != 1)
			fail("value forms", c->key);
		if (c->nlist > MT_FILTER_MAX_LIST || (c->nlist && !c->list) ||
		    (c->list && c->nlist == 0))
			fail("list", c->key);
		/* Both are the correctly rounded value of the same literal. */
		if (c->is_int && (!c->is_num || (double)c->inum != c->num))
			fail("inum disagrees with num", c->key);
	}
}

/* Parse text with flags and check the properties.  When ref is not NULL
 * (a flat parse of the same text), the parse must equal it.  Returns
 * whether text parsed; then *keep, when not NULL, gets the parse (the
 * caller releases it). */
static int filter_one(enum mt_filter_entity ent, const char *text, unsigned flags,
		      const struct mt_filter *ref, struct mt_filter *keep)
{
	struct mt_filter f, g;
	struct mt_err err = MT_ERR_INIT;
	struct sbuf b = { NULL, 0, 0 };

	if (mt_filter_parse_ext(&f, ent, text, flags, &err)) {
		check_error(&err, text);
		if (f.clauses || f.n || f.tree)
			fail("output not empty after an error", err.msg);
		mt_filter_release(&f);
		return 0;
	}
	check_filter(&f);
	if (!(flags & MT_FILTER_BOOL) && f.tree)
		fail("a tree without MT_FILTER_BOOL", text);
	if (ref) {
		if (f.tree || f.n != ref->n)
			fail("flat filter parses differently as boolean", text);
		for (size_t i = 0; i < f.n; i++)
			if (!same_clause(&f.clauses[i], &ref->clauses[i]))
				fail("flat filter parses differently as boolean", text);
	}

	render_filter(&b, &f);
	if (b.len <= MT_FILTER_MAX_LEN) {
		if (mt_filter_parse_ext(&g, ent, b.p ? b.p : "", flags, &err))
			fail("round trip does not parse", err.msg);
		if (g.n != f.n || !g.tree != !f.tree)
			fail("round trip clause count", b.p);
		for (size_t i = 0; i < f.n; i++)
			if (!same_clause(&f.clauses[i], &g.clauses[i]))
				fail("round trip differs", b.p);
		if (f.tree && !same_node(f.tree, g.tree))
			fail("round trip tree differs", b.p);
		mt_filter_release(&g);
	}
	free(b.p);
	if (keep) {
		*keep = f;
		return 1;
	}
	mt_filter_release(&f);
	if (f.clauses || f.n || f.tree)
		fail("release left something", NULL);
	return 1;
}

static void order_check(enum mt_filter_entity ent, const char *const *cl, size_t n)
{
	struct mt_order_list o, p;
	struct mt_err err = MT_ERR_INIT;
	struct sbuf *bs;
	const char **again;

	if (mt_order_parse(&o, ent, cl, n, &err)) {
		check_error(&err, n ? cl[0] : "");
		if (o.items || o.n)
			fail("order output not empty after an error", err.msg);
		return;
	}
	if (o.n != n)
		fail("order count", NULL);
	for (size_t i = 0; i < o.n; i++) {
		if (!o.items[i].key || !o.items[i].key[0])
			fail("empty order key", NULL);
		for (size_t j = 0; j < i; j++)
			if (o.items[j].kind == o.items[i].kind &&
			    strcmp(o.items[j].key, o.items[i].key) == 0)
				fail("duplicate order field accepted", o.items[i].key);
	}

	/* Round trip. */
	bs = calloc(o.n ? o.n : 1, sizeof(*bs));
	again = calloc(o.n ? o.n : 1, sizeof(*again));
	if (!bs || !again)
		fail("calloc", NULL);
	for (size_t i = 0; i < o.n; i++) {
		render_key(&bs[i], o.items[i].kind, o.items[i].key);
		sb_puts(&bs[i], o.items[i].asc ? " ASC" : " DESC");
		again[i] = bs[i].p;
	}
	if (mt_order_parse(&p, ent, again, o.n, &err)) {
		int too_long = 0;

		for (size_t i = 0; i < o.n; i++)
			too_long |= bs[i].len > MT_FILTER_MAX_LEN;
		if (!too_long)
			fail("order round trip does not parse", err.msg);
	} else {
		for (size_t i = 0; i < o.n; i++)
			if (p.items[i].kind != o.items[i].kind || p.items[i].asc != o.items[i].asc ||
			    strcmp(p.items[i].key, o.items[i].key) != 0)
				fail("order round trip differs", again[i]);
		mt_order_release(&p);
	}
	for (size_t i = 0; i < o.n; i++)
		free(bs[i].p);
	free(bs);
	free(again);
	mt_order_release(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum mt_filter_entity ents[] = {
		MT_FE_RUNS, MT_FE_EXPERIMENTS, MT_FE_MODELS, MT_FE_VERSIONS, MT_FE_LOGGED_MODELS,
	};
	char *text = malloc(size + 1);
	char *split;
	const char *cl[MAX_SPLIT];
	const char *one[1];
	size_t n = 0;

	if (!text)
		return 0;
	if (size)
		memcpy(text, data, size);
	text[size] = '\0';

	for (size_t e = 0; e < N_ELEMS(ents); e++) {
		struct mt_filter flat;

		if (ents[e] != MT_FE_RUNS) {
			filter_one(ents[e], text, 0, NULL, NULL);
			continue;
		}
		/* runs: the flat grammar, then the boolean one (which must give
		 * the same parse where the flat one succeeded). */
		if (filter_one(ents[e], text, 0, NULL, &flat)) {
			if (!filter_one(ents[e], text, MT_FILTER_BOOL, &flat, NULL))
				fail("flat filter refused as boolean", text);
			mt_filter_release(&flat);
		} else {
			filter_one(ents[e], text, MT_FILTER_BOOL, NULL, NULL);
		}
	}

	/* order_by: the whole text as one clause, then one clause per line. */
	split = strdup(text);
	if (!split)
		fail("strdup", NULL);
	one[0] = text;
	for (char *p = split, *nl; n < MAX_SPLIT; p = nl + 1) {
		cl[n++] = p;
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
	}
	for (size_t e = 0; e < N_ELEMS(ents); e++) {
		order_check(ents[e], one, 1);
		order_check(ents[e], cl, n);
	}
	free(split);
	free(text);
	return 0;
}
