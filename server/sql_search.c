/*
 * sql_search.c: runs/search, written in the shape its plan must have, so
 * that what a page costs depends on the page and not on how many runs the
 * experiments hold, nor on PostgreSQL's statistics (which lag behind a
 * sweep that has just created thousands of runs: the plan PostgreSQL chose
 * from them used to make one search 7x slower at 10,000 runs than at
 * 50,000).
 *
 * The order is MLflow's: the order_by keys in turn, then start_time DESC
 * (NULLs last) unless named, then run_id.  Every key of a row is read as a
 * pair (group, value): group 0 the value is there, 1 it is NaN (a metric)
 * or NULL (an attribute), 2 the run lacks the metric, param or tag; value
 * is the key's value in group 0, else 0 or ''.  Rows are ordered by the
 * pairs, the group ascending, the value in the key's direction, which puts
 * NaN after the values and missing keys last in both directions.  The
 * pairs of a page's last row go into its page token: the next page starts
 * after that row by a comparison (keyset), without counting the rows
 * before it again.
 *
 * Three plan shapes:
 *  A  walk an index in the result's order and stop when the page is full.
 *     The first order key's values come from one index range per
 *     experiment: latest_metrics, params or tags on (experiment_id, key,
 *     value, start_time, run_id), one index per direction of the value
 *     (migration 0011), or runs on (experiment_id, start_time, run_id).
 *     Experiments are merged in order (MergeAppend).  Every other clause
 *     is a probe of the candidate run (EXISTS on a primary key).  Runs
 *     with NaN, NULL or without the key are segments of their own, read
 *     only once the segments before them run out (UNION ALL).
 *     Cost: the rows of the page divided by the fraction of candidates
 *     that pass the filter.
 *  B  start from a selective clause: an equality on a param, a tag or
 *     run_id, a metric comparison, or a LIKE on a param or tag whose
 *     pattern starts with literal text (when the database's collation is
 *     C, the prefix bounds an index range: like_prefix()), whose matches
 *     are counted first (an index range read, up to a cap).  When it
 *     matches few runs, they are probed for the other clauses and sorted.
 *     Cost: its matches.  In a
 *     boolean filter (OR, NOT) an OR each of whose branches holds such a
 *     clause drives the same way, by the UNION of the branches' matches
 *     (or_driver()).
 *  C  every run of the experiments, probed and sorted: ordered by an
 *     attribute other than start_time with no selective clause, or more
 *     experiments than A merges.  Cost: the experiments' runs.
 * A filter's boolean part (mt_filter's tree: what is not a comparison
 * ANDed at the top) is one more condition on each candidate run
 * (tree_cond()), checked with the attributes; the comparisons ANDed at the
 * top drive and probe as in a filter of MLflow's grammar, so such a filter
 * is searched exactly as before.
 * Nothing is left for statistics to decide: subqueries are fenced (OFFSET
 * 0) and joined LATERAL, so the join order is the one written, and the
 * search's transaction turns off the paths that could replace an index
 * walk (sequential, bitmap, hash, merge, sort).  docs/PERFORMANCE.md has
 * the figures.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mt_filter.h"
#include "sql_authz.h"
#include "sql_experiments.h" /* struct sqlb */
#include "sql_runs.h"

/* Experiments plan A merges (each one index range).  Beyond them, plan B
 * or C probes and sorts every match: with 20 experiments, one of 1,000,000
 * runs, the search took plan B over 100,000 matches.  Merging costs
 * one index descent per experiment and, once per connection and number of
 * experiments, the planning of as many branches (about 20 ms for 20). */
#define MERGE_MAX 64
/* Plan B when its clause matches at most this many runs (or twice the rows
 * asked for, when more). */
#define B_CAP 1000

/* Local to the search's transaction (or savepoint).  JIT is off because a
 * disabled path's cost (10^10) would otherwise start it: compiling the
 * statement took 180 ms, for a search that runs in 2.  The statements are
 * prepared once per connection (db_exec_sql_cached) and planned once, for
 * any values: with everything else turned off their plan is the one their
 * text describes, whatever the values. */
#define SETTINGS                                                                        \
	"SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; "           \
	"SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; "           \
	"SET LOCAL enable_sort = off; SET LOCAL enable_memoize = off; "                 \
	"SET LOCAL enable_material = off; SET LOCAL max_parallel_workers_per_gather = 0; " \
	"SET LOCAL join_collapse_limit = 1; SET LOCAL from_collapse_limit = 1; "         \
	"SET LOCAL jit = off; SET LOCAL plan_cache_mode = force_generic_plan"

enum vtype { VT_FLOAT, VT_TEXT, VT_INT };

/* One key of the order. */
struct item {
	enum mt_filter_kind kind; /* MT_FK_METRIC, _PARAM, _TAG or _ATTR */
	const char *key;          /* the metric, param or tag key; an attribute's column */
	int asc;
	enum vtype vt;
	int excl;                 /* a clause names the key: no NaN, no missing runs */
	int nullable;             /* an attribute column that may be NULL */
	int implicit;             /* the tiebreakers MLflow adds */
};

/* How one statement reads an item's (group, value). */
struct ex {
	const char *g, *v;
	const char *ord; /* its ORDER BY text */
	int cst;         /* the same for every row of the segment */
};

/* The segments of plan A, in result order. */
enum seg {
	S_PRESENT,      /* the first key's values, from its index */
	S_NAN,          /* a metric's NaN values */
	S_MISSING,      /* runs without the key */
	S_MISSING_NN,   /* ... those with a start_time (order: key, start_time, run_id) */
	S_MISSING_NULL, /* ... and those without */
	S_NN,           /* ordered by start_time first: runs with one */
	S_NULL          /* ... and without */
};

struct srch {
	struct mt_req *req;
	struct mt_arena *a;
	const struct mt_filter *f;
	const char **exps;
	size_t nexp;
	int view;
	struct item *it;
	size_t nit;
	const char *const *after; /* 2 * nit strings, or NULL */
	long long limit, offset;
	const char *range;        /* the attribute clauses on start_time the runs index can
				   * start and stop at (alias r; part of attr_conds' too) */
};

#define P(...) mt_arena_printf(s->a, __VA_ARGS__)

static const char *table(int kind)
{
	return kind == MT_FK_METRIC ? "latest_metrics" : kind == MT_FK_PARAM ? "params" : "tags";
}

static const char *cast(enum vtype vt)
{
	return vt == VT_FLOAT ? "float8" : vt == VT_INT ? "bigint" : "text";
}

static const char *zero(enum vtype vt)
{
	return vt == VT_FLOAT ? "0::float8" : vt == VT_INT ? "0::bigint" : "''::text";
}

static const char *dir(int asc)
{
	return asc ? "ASC" : "DESC";
}

/* A runs column for an attribute's canonical name, or NULL. */
static const char *attr_col(const char *key)
{
	static const char *const map[][2] = {
		{ "run_name", "name" },     { "run_id", "run_id" },   { "status", "status" },
		{ "user_id", "user_id" },   { "artifact_uri", "artifact_uri" },
		{ "start_time", "start_time" }, { "created", "start_time" },
		{ "end_time", "end_time" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(key, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

static int is_time(const char *col)
{
	return strcmp(col, "start_time") == 0 || strcmp(col, "end_time") == 0;
}

static int keyed(const struct mt_filter_clause *c)
{
	return c->kind == MT_FK_METRIC || c->kind == MT_FK_PARAM || c->kind == MT_FK_TAG;
}

/* The first clause on clause i's metric, param or tag key. */
static size_t first_of_key(const struct mt_filter *f, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (f->clauses[j].kind == f->clauses[i].kind &&
		    strcmp(f->clauses[j].key, f->clauses[i].key) == 0)
			return j;
	return i;
}

static int names(const struct mt_filter_clause *c, int kind, const char *key)
{
	return (int)c->kind == kind && strcmp(c->key, key) == 0;
}

/* A LIKE on a param or tag whose pattern starts with literal text bounds
 * an index range when the database sorts text byte by byte (collation C):
 * every value with the prefix p is >= p and < p with its last byte raised.
 * The prefix is the pattern up to its first % or _ (PostgreSQL's LIKE: a
 * backslash escapes the character after it); it must end in an ASCII
 * character below DEL, so that the raised one is valid UTF-8.  Its length
 * (0: no range), written to lo when lo is not NULL. */
static size_t like_prefix(const struct mt_filter_clause *c, char *lo)
{
	size_t k = 0;
	unsigned char last = 0;

	if (!mt_cfg.db_bytewise || c->op != MT_OP_LIKE || !c->str ||
	    (c->kind != MT_FK_PARAM && c->kind != MT_FK_TAG))
		return 0;
	for (const char *p = c->str; *p && *p != '%' && *p != '_'; p++) {
		if (*p == '\\' && !*++p)
			break;
		if (lo)
			lo[k] = *p;
		last = (unsigned char)*p;
		k++;
	}
	return k && last < 0x7f ? k : 0;
}

/* " AND col >= lo AND col < hi" for c's LIKE prefix, or "". */
static const char *like_range(struct srch *s, struct sqlb *b, const struct mt_filter_clause *c,
			      const char *col)
{
	char *lo, *hi;
	size_t k;

	if (c->op != MT_OP_LIKE || !c->str)
		return "";
	lo = mt_arena_alloc(s->a, strlen(c->str) + 1);
	if (!(k = like_prefix(c, lo)))
		return "";
	lo[k] = 0;
	hi = mt_arena_strdup(s->a, lo);
	hi[k - 1]++;
	return P(" AND %s >= $%d AND %s < $%d", col, sqlb_param(b, lo), col, sqlb_param(b, hi));
}

/* " AND col ..." for every clause on (kind, key): a run that has the key
 * matches when its value passes them all (a metric's NaN never does). */
static const char *key_conds(struct srch *s, struct sqlb *b, int kind, const char *key,
			     const char *col)
{
	const char *out = "";

	for (size_t i = 0; i < s->f->n; i++) {
		const struct mt_filter_clause *c = &s->f->clauses[i];
		int v;

		if (!names(c, kind, key))
			continue;
		if (kind == MT_FK_METRIC) {
			v = sqlb_param(b, P("%.17g", c->num));
			out = P("%s AND %s <> 'NaN'::float8 AND %s %s $%d::float8", out, col, col,
				sqlb_op(c->op), v);
		} else {
			v = sqlb_param(b, c->str);
			out = P("%s AND %s %s $%d%s", out, col, sqlb_op(c->op), v,
				like_range(s, b, c, col));
		}
	}
	return out;
}

/* A dataset clause on the run `run`. */
static const char *dataset_cond(struct srch *s, struct sqlb *b, const struct mt_filter_clause *c,
				const char *run)
{
	int list = c->op == MT_OP_IN || c->op == MT_OP_NOT_IN;
	int v = sqlb_param(b, list ? db_array_text(s->a, (const char *const *)c->list, c->nlist)
				   : c->str ? c->str : "");
	int ctx = strcmp(c->key, "context") == 0;
	const char *col = ctx ? "it.value" : strcmp(c->key, "digest") == 0 ? "ds.digest" : "ds.name";
	const char *cmp = list ? P("%s%s = ANY($%d::text[])", c->op == MT_OP_NOT_IN ? "NOT " : "",
				   col, v)
			       : P("%s %s $%d", col, sqlb_op(c->op), v);

	if (ctx)
		return P("EXISTS (SELECT 1 FROM run_input_tags it WHERE it.run_id = %s AND "
			 "it.key = 'mlflow.data.context' AND %s OFFSET 0)", run, cmp);
	return P("EXISTS (SELECT 1 FROM run_inputs ri JOIN datasets ds USING (dataset_id) "
		 "WHERE ri.run_id = %s AND %s OFFSET 0)", run, cmp);
}

/* Whether a clause on (kind, key) is an equality: the run's row is then
 * found by its value in the search index (below). */
static int has_eq(struct srch *s, int kind, const char *key)
{
	for (size_t i = 0; i < s->f->n; i++)
		if (names(&s->f->clauses[i], kind, key) && s->f->clauses[i].op == MT_OP_EQ)
			return 1;
	return 0;
}

/* " AND <probe>" on the run `run` for every metric, param and tag key the
 * filter names (skipping skip_kind/skip_key, which the plan's driver
 * checks) and every dataset clause.  A probe is a subplan: one lookup of
 * the run, made only for rows that got this far.
 *
 * A key with an equality clause is looked up where the value puts it in
 * the search index, (experiment, key, value, start_time) of the run (exp
 * and st, when the caller has them): a few neighbouring entries of one
 * experiment's range instead of the whole table's primary key, and no
 * heap page (half the time of a primary-key probe in a million-run
 * table).  The run id is compared after the range is found (`|| ''`), so
 * that the primary key, which could serve the same probe, is not a path
 * PostgreSQL may choose.  A run without a start_time, whose range would
 * be every such run with the value, is looked up by primary key. */
static const char *probes(struct srch *s, struct sqlb *b, const char *run, const char *exp,
			  const char *st, int skip_kind, const char *skip_key)
{
	const char *out = "";

	for (size_t i = 0; i < s->f->n; i++) {
		const struct mt_filter_clause *c = &s->f->clauses[i];

		if (keyed(c)) {
			const char *kc, *pk;
			int k;

			if (first_of_key(s->f, i) != i || (skip_key && names(c, skip_kind, skip_key)))
				continue;
			k = sqlb_param(b, c->key);
			kc = key_conds(s, b, c->kind, c->key, "p.value");
			pk = P("EXISTS (SELECT 1 FROM %s p WHERE p.run_id = %s AND p.key = $%d%s OFFSET 0)",
			       table(c->kind), run, k, kc);
			if (exp && st && has_eq(s, c->kind, c->key))
				pk = P("CASE WHEN %s IS NULL THEN %s ELSE EXISTS (SELECT 1 FROM %s p WHERE "
				       "p.experiment_id = %s AND p.key = $%d%s AND p.start_time = %s AND "
				       "p.run_id || '' = %s OFFSET 0) END", st, pk, table(c->kind), exp, k,
				       kc, st, run);
			out = P("%s AND %s", out, pk);
		} else if (c->kind == MT_FK_DATASET) {
			out = P("%s AND %s", out, dataset_cond(s, b, c, run));
		}
	}
	return out;
}

/*
 * The boolean part of a filter (OR, NOT: f->tree) as one condition on the
 * run whose row is alias r.  Each comparison is true or false, never NULL,
 * so that NOT is its complement: a metric, param or tag comparison is an
 * EXISTS on the run's (run_id, key) row, true when the run has the key with
 * a value that passes (a metric's NaN never does), as a flat clause's probe;
 * a dataset one is dataset_cond(); an attribute one is COALESCEd to false
 * where the column is NULL (end_time, start_time).  Every value is a bound
 * parameter.  The tree's depth is bounded by the parser
 * (MT_FILTER_MAX_DEPTH).
 */
static const char *tree_cond(struct srch *s, struct sqlb *b, const struct mt_filter_node *n,
			     struct mt_err *err)
{
	const struct mt_filter_clause *c = &n->clause;
	const char *out = NULL, *col;

	if (n->type == MT_FN_NOT) {
		const char *k = tree_cond(s, b, n->kids[0], err);

		return k ? P("NOT %s", k) : NULL;
	}
	if (n->type != MT_FN_CLAUSE) {
		for (size_t i = 0; i < n->nkids; i++) {
			const char *k = tree_cond(s, b, n->kids[i], err);

			if (!k)
				return NULL;
			out = out ? P("%s %s %s", out, n->type == MT_FN_AND ? "AND" : "OR", k) : k;
		}
		return P("(%s)", out);
	}
	if (keyed(c)) {
		int k = sqlb_param(b, c->key), v;

		if (c->kind == MT_FK_METRIC) {
			v = sqlb_param(b, P("%.17g", c->num));
			out = P("p.value <> 'NaN'::float8 AND p.value %s $%d::float8", sqlb_op(c->op), v);
		} else {
			v = sqlb_param(b, c->str);
			out = P("p.value %s $%d", sqlb_op(c->op), v);
		}
		return P("EXISTS (SELECT 1 FROM %s p WHERE p.run_id = r.run_id AND p.key = $%d AND %s "
			 "OFFSET 0)", table(c->kind), k, out);
	}
	if (c->kind == MT_FK_DATASET)
		return dataset_cond(s, b, c, "r.run_id");
	if (!(col = attr_col(c->key))) {
		mt_err_set(err, MT_EINVAL, "Invalid attribute key '%s'", c->key);
		return NULL;
	}
	if (c->op == MT_OP_IN || c->op == MT_OP_NOT_IN)
		out = P("%sr.%s = ANY($%d::text[])", c->op == MT_OP_NOT_IN ? "NOT " : "", col,
			sqlb_param(b, db_array_text(s->a, (const char *const *)c->list, c->nlist)));
	else if (c->is_num)
		out = P("r.%s %s %s", col, sqlb_op(c->op), sqlb_num(b, c));
	else
		out = P("r.%s %s $%d", col, sqlb_op(c->op), sqlb_param(b, c->str));
	return P("COALESCE(%s, false)", out);
}

/* " AND r.col ..." for the attribute clauses and the view type, and the
 * filter's boolean part (tree_cond()). */
static int attr_conds(struct srch *s, struct sqlb *b, const char **out, struct mt_err *err)
{
	const char *o = s->view == 1 ? " AND r.lifecycle_stage = 'active'" :
			s->view == 2 ? " AND r.lifecycle_stage = 'deleted'" : "";

	s->range = ""; /* this statement's parameters */

	for (size_t i = 0; i < s->f->n; i++) {
		const struct mt_filter_clause *c = &s->f->clauses[i];
		const char *col;

		if (c->kind != MT_FK_ATTR)
			continue;
		if (!(col = attr_col(c->key)))
			return mt_err_set(err, MT_EINVAL, "Invalid attribute key '%s'", c->key);
		if (c->op == MT_OP_IN || c->op == MT_OP_NOT_IN) {
			int v = sqlb_param(b, db_array_text(s->a, (const char *const *)c->list, c->nlist));

			o = P("%s AND %sr.%s = ANY($%d::text[])", o, c->op == MT_OP_NOT_IN ? "NOT " : "",
			      col, v);
		} else if (c->is_num) {
			const char *cond = P(" AND r.%s %s %s", col, sqlb_op(c->op), sqlb_num(b, c));

			o = P("%s%s", o, cond);
			if (strcmp(col, "start_time") == 0 && c->is_int && c->op != MT_OP_NE)
				s->range = P("%s%s", s->range, cond);
		} else {
			int v = sqlb_param(b, c->str);

			o = P("%s AND r.%s %s $%d", o, col, sqlb_op(c->op), v);
		}
	}
	if (s->f->tree) {
		const char *t = tree_cond(s, b, s->f->tree, err);

		if (!t)
			return -1;
		o = P("%s AND %s", o, t);
	}
	*out = o;
	return 0;
}

/* The experiment id, one parameter each. */
static int *exp_params(struct srch *s, struct sqlb *b)
{
	int *e = mt_arena_alloc(s->a, sizeof(*e) * s->nexp);

	for (size_t i = 0; i < s->nexp; i++)
		e[i] = sqlb_param(b, s->exps[i]);
	return e;
}

static int exps_array(struct srch *s, struct sqlb *b)
{
	return sqlb_param(b, db_array_text(s->a, s->exps, s->nexp));
}

/* ---- reading the order keys ---- */

/* Item i read from an order probe o<i> (metrics, params, tags) or from the
 * run: alias `r` for attributes, `st` for start_time when a driver carries
 * it. */
static void ex_generic(struct srch *s, size_t i, const char *st, struct ex *e)
{
	const struct item *t = &s->it[i];

	memset(e, 0, sizeof(*e));
	if (t->kind == MT_FK_METRIC) {
		e->g = P("CASE WHEN o%zu.value IS NULL THEN 2 WHEN o%zu.value = 'NaN'::float8 THEN 1 "
			 "ELSE 0 END", i, i);
		e->v = P("COALESCE(NULLIF(o%zu.value, 'NaN'::float8), 0)", i);
	} else if (t->kind != MT_FK_ATTR) {
		e->g = P("CASE WHEN o%zu.value IS NULL THEN 2 ELSE 0 END", i);
		e->v = P("COALESCE(o%zu.value, '')", i);
	} else {
		const char *col = strcmp(t->key, "start_time") == 0 && st ? st :
				  P("r.%s", t->key);

		if (t->nullable) {
			e->g = P("CASE WHEN %s IS NULL THEN 1 ELSE 0 END", col);
			e->v = P("COALESCE(%s, 0)", col);
			e->ord = P("%s %s NULLS LAST", col, dir(t->asc));
		} else {
			e->g = "0";
			e->v = col;
			e->ord = P("%s %s", col, dir(t->asc));
		}
		return;
	}
	e->ord = P("%s ASC, %s %s", e->g, e->v, dir(t->asc));
}

/* " LEFT JOIN LATERAL" order probes for the items from `from` on whose
 * values a statement sorts (metrics, params and tags). */
static const char *order_probes(struct srch *s, struct sqlb *b, size_t from, const char *run)
{
	const char *out = "";

	for (size_t i = from; i < s->nit; i++) {
		const struct item *t = &s->it[i];
		int k;

		if (t->kind == MT_FK_ATTR)
			continue;
		k = sqlb_param(b, t->key);
		out = P("%s LEFT JOIN LATERAL (SELECT o.value FROM %s o WHERE o.run_id = %s AND "
			"o.key = $%d OFFSET 0) o%zu ON true", out, table(t->kind), run, k, i);
	}
	return out;
}

/* The select list after the run's columns: each item's group and value as
 * text, for the page token. */
static const char *tuple_cols(struct srch *s, const struct ex *e)
{
	const char *out = "";

	for (size_t i = 0; i < s->nit; i++)
		out = P("%s, (%s)::text, (%s)::text", out, e[i].g, e[i].v);
	return out;
}

static const char *order_list(struct srch *s, const struct ex *e)
{
	const char *out = NULL;

	for (size_t i = 0; i < s->nit; i++)
		if (!e[i].cst)
			out = out ? P("%s, %s", out, e[i].ord) : e[i].ord;
	return out ? out : "r.run_id";
}

/* The rows after the page token's row: the pairs compared in order. */
static const char *after_pred(struct srch *s, struct sqlb *b, const struct ex *e)
{
	const char *acc = NULL;

	for (size_t i = s->nit; i-- > 0;) {
		const struct item *t = &s->it[i];
		int tg = sqlb_param(b, s->after[2 * i]);
		int tv = sqlb_param(b, s->after[2 * i + 1]);
		const char *ty = cast(t->vt);
		const char *cmp = P("%s %s $%d::%s", e[i].v, t->asc ? ">" : "<", tv, ty);

		if (acc)
			cmp = P("(%s OR (%s = $%d::%s AND %s))", cmp, e[i].v, tv, ty, acc);
		acc = P("((%s) > $%d::int OR ((%s) = $%d::int AND %s))", e[i].g, tg, e[i].g, tg, cmp);
	}
	return P(" AND %s", acc);
}

/* ---- plan A ---- */

/* Where the page token's row lies against a segment whose rows all have
 * the groups gs[0..n) in their first items: -1 before it, 0 in it, 1 after
 * it (the segment is done); 0 and -1 without a token. */
static int token_vs(struct srch *s, const int *gs, size_t n)
{
	if (!s->after)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int tg = atoi(s->after[2 * i]);

		if (tg != gs[i])
			return tg < gs[i] ? -1 : 1;
	}
	return 0;
}

/* One segment of plan A, or "" when the token's row lies past it. */
static const char *seg_sql(struct srch *s, struct sqlb *b, enum seg sg, const char *attrs,
			   int lim, int budget)
{
	const struct item *k0 = &s->it[0];
	int table_drv = sg == S_PRESENT || sg == S_NAN;
	int split = sg == S_MISSING_NN || sg == S_MISSING_NULL;
	int gs[2] = { sg == S_PRESENT || sg == S_NN ? 0 : sg == S_NAN || sg == S_NULL ? 1 : 2,
		      sg == S_MISSING_NULL };
	int pos = token_vs(s, gs, split ? 2 : 1);
	struct ex *e = mt_arena_alloc(s->a, sizeof(*e) * s->nit);
	const char *drv = "", *bound = "", *cond = "", *dord, *sql, *pre;
	/* The driver, fenced: OFFSET 0, or LIMIT budget (candidates). */
	const char *fence = budget ? P("LIMIT $%d::bigint", budget) : "OFFSET 0";
	int *ep;

	if (pos > 0)
		return "";
	/* The first key. */
	memset(&e[0], 0, sizeof(e[0]));
	switch (sg) {
	case S_PRESENT:
		e[0] = (struct ex){ "0", "d.value", P("d.value %s", dir(k0->asc)), 0 };
		break;
	case S_NN:
		e[0] = (struct ex){ "0", "r.start_time",
				    k0->asc ? "r.start_time ASC NULLS FIRST" :
					      "r.start_time DESC NULLS LAST", 0 };
		break;
	case S_NULL:
		/* NULL everywhere here; ordered on all the same, by the index's
		 * own order, so that the index is what gives run_id's order
		 * (`start_time IS NULL` makes no equivalence PostgreSQL could
		 * use to drop start_time, and ordering by run_id alone would let
		 * it walk the primary key over every experiment's runs). */
		e[0] = (struct ex){ "1", zero(k0->vt), "r.start_time DESC NULLS LAST", 0 };
		break;
	default:
		e[0] = (struct ex){ P("%d", gs[0]), zero(k0->vt), NULL, 1 };
	}
	for (size_t i = 1; i < s->nit; i++)
		ex_generic(s, i, table_drv ? "d.start_time" : NULL, &e[i]);
	/* Drivers carry start_time and run_id in their index's order. */
	if (table_drv)
		e[s->nit - 1].v = e[s->nit - 1].ord = "d.run_id";
	if (split) {
		const struct item *st = &s->it[1];

		e[1] = sg == S_MISSING_NN ?
		       (struct ex){ "0", "r.start_time",
				    st->asc ? "r.start_time ASC NULLS FIRST" :
					      "r.start_time DESC NULLS LAST", 0 } :
		       (struct ex){ "1", "0::bigint", "r.start_time DESC NULLS LAST", 0 };
	}
	if (pos == 0) {
		/* In this segment: after the token's row, with the index range
		 * starting there where the first ordered item allows. */
		cond = after_pred(s, b, e);
		if (sg == S_PRESENT || sg == S_NN || sg == S_MISSING_NN) {
			size_t i = sg == S_MISSING_NN ? 1 : 0;
			int t = sqlb_param(b, s->after[2 * i + 1]);

			bound = P(" AND %s %s $%d::%s", sg == S_PRESENT ? "d.value" : "r.start_time",
				  s->it[i].asc ? ">=" : "<=", t, cast(s->it[i].vt));
		} else if ((sg == S_NULL && s->nit == 2) || (sg == S_MISSING_NULL && s->nit == 3)) {
			int t = sqlb_param(b, s->after[2 * (s->nit - 1) + 1]);

			bound = P(" AND r.run_id >= $%d", t);
		}
	}

	/* The driver: one index range per experiment, merged in order.  For
	 * PostgreSQL to merge them (MergeAppend), each range is ordered itself
	 * and their UNION ALL is a subquery of the ordered query: a UNION ALL
	 * with an ORDER BY of its own, or of branches without one, was
	 * appended whole and sorted, every match of every experiment read
	 * (enable_sort = off notwithstanding: no other path existed). */
	ep = exp_params(s, b);
	if (table_drv) {
		int k = sqlb_param(b, k0->key);
		const char *kc = sg == S_NAN ? " AND d.value = 'NaN'::float8" :
				 P("%s%s", k0->kind == MT_FK_METRIC ? " AND d.value < 'NaN'::float8" : "",
				   key_conds(s, b, k0->kind, k0->key, "d.value"));

		dord = sg == S_NAN ? "start_time DESC NULLS LAST, run_id" :
		       P("value %s, start_time DESC NULLS LAST, run_id", dir(k0->asc));
		for (size_t j = 0; j < s->nexp; j++)
			drv = P("%s%s%sSELECT d.run_id, d.value, d.start_time, d.experiment_id FROM %s d "
				"WHERE d.experiment_id = $%d::bigint AND d.key = $%d%s%s%s%s", drv,
				j ? " UNION ALL " : "", s->nexp > 1 ? "(" : "", table(k0->kind), ep[j], k,
				kc, bound, s->nexp > 1 ? " ORDER BY " : "", s->nexp > 1 ? P("%s)", dord) : "");
		sql = P("SELECT " SQL_RUN_COLS "%s FROM (SELECT * FROM (%s) m ORDER BY %s %s) d%s "
			"CROSS JOIN LATERAL (SELECT " SQL_RUN_COLS " FROM runs r WHERE r.run_id = "
			"d.run_id%s OFFSET 0) r WHERE TRUE%s%s",
			tuple_cols(s, e), drv, dord, fence, order_probes(s, b, 1, "d.run_id"), attrs,
			probes(s, b, "d.run_id", "d.experiment_id", "d.start_time", k0->kind, k0->key),
			cond);
	} else {
		const char *sc = sg == S_NN || sg == S_MISSING_NN ? " AND r.start_time IS NOT NULL" :
				 sg == S_NULL || sg == S_MISSING_NULL ? " AND r.start_time IS NULL" : "";
		const char *miss = "";

		if (sg == S_MISSING || split) {
			int k = sqlb_param(b, k0->key);

			miss = P(" AND NOT EXISTS (SELECT 1 FROM %s m WHERE m.run_id = r.run_id AND "
				 "m.key = $%d OFFSET 0)", table(k0->kind), k);
		}
		/* The start_time range, where the index can use it: a search of
		 * the runs after a time no longer reads every run before it. */
		pre = (sg == S_NN && k0->asc) || (sg == S_MISSING_NN && s->it[1].asc) ?
		      "start_time ASC NULLS FIRST" : "start_time DESC NULLS LAST, run_id";
		dord = sg == S_NULL || sg == S_MISSING_NULL ? "start_time DESC NULLS LAST, run_id" : pre;
		for (size_t j = 0; j < s->nexp; j++)
			drv = P("%s%s%sSELECT " SQL_RUN_COLS " FROM runs r WHERE r.experiment_id = "
				"$%d::bigint%s%s%s%s%s", drv, j ? " UNION ALL " : "", s->nexp > 1 ? "(" : "",
				ep[j], sc, bound, s->range, s->nexp > 1 ? " ORDER BY " : "",
				s->nexp > 1 ? P("%s)", dord) : "");
		sql = P("SELECT r.*%s FROM (SELECT * FROM (%s) m ORDER BY %s %s) r%s WHERE TRUE%s%s%s%s",
			tuple_cols(s, e), drv, dord, fence, order_probes(s, b, 1, "r.run_id"), attrs, miss,
			probes(s, b, "r.run_id", "r.experiment_id", "r.start_time", -1, NULL), cond);
	}
	return P("(%s ORDER BY %s LIMIT $%d::bigint)", sql, order_list(s, e), lim);
}

/* Plan A: the segments after each other; each reads at most budget
 * candidates when budget > 0. */
static const char *plan_a(struct srch *s, struct sqlb *b, const char *attrs, long long budget)
{
	const struct item *k0 = &s->it[0];
	enum seg segs[4];
	size_t n = 0;
	const char *u = "";
	int lim = sqlb_param(b, P("%lld", s->limit + s->offset));
	int bp = budget > 0 ? sqlb_param(b, P("%lld", budget)) : 0;

	if (k0->kind == MT_FK_ATTR) {
		segs[n++] = S_NN;
		segs[n++] = S_NULL;
	} else {
		segs[n++] = S_PRESENT;
		if (k0->kind == MT_FK_METRIC && !k0->excl)
			segs[n++] = S_NAN;
		if (!k0->excl && s->nit == 3 && strcmp(s->it[1].key, "start_time") == 0) {
			segs[n++] = S_MISSING_NN;
			segs[n++] = S_MISSING_NULL;
		} else if (!k0->excl) {
			segs[n++] = S_MISSING;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const char *q = seg_sql(s, b, segs[i], attrs, lim, bp);

		if (*q)
			u = *u ? P("%s UNION ALL %s", u, q) : q;
	}
	if (!*u)
		return NULL;
	return P("SELECT * FROM (%s) u", u);
}

/* ---- plans B and C ---- */

/* A clause that may drive plan B: kind/key (a metric, param or tag key
 * group), or the run_id clause ri. */
struct cand {
	int kind;
	const char *key;
	const struct mt_filter_clause *ri;
	long long n; /* its matches (up to the cap) */
	/* Or an OR of the filter's tree whose every branch has a clause that
	 * may drive (br[0..nbr)): the union of their matches drives, and the
	 * tree's condition (attrs) checks each run.  n is the sum. */
	const struct mt_filter_clause **br;
	size_t nbr;
};

/* A clause that may drive plan B or a branch of an OR driver: an equality
 * on a param, a tag or run_id (IN too), a LIKE with a literal prefix on a
 * param or tag (like_prefix()), or a metric comparison other than !=. */
static int drives(const struct mt_filter_clause *c)
{
	if (c->kind == MT_FK_ATTR)
		return strcmp(c->key, "run_id") == 0 && (c->op == MT_OP_IN || c->op == MT_OP_EQ);
	if (!keyed(c))
		return 0;
	return c->kind == MT_FK_METRIC ? c->op != MT_OP_NE
				       : c->op == MT_OP_EQ || like_prefix(c, NULL) > 0;
}

/* " AND col ..." for the one clause c on (kind, key). */
static const char *one_cond(struct srch *s, struct sqlb *b, const struct mt_filter_clause *c,
			    const char *col)
{
	if (c->kind == MT_FK_METRIC)
		return P(" AND %s <> 'NaN'::float8 AND %s %s $%d::float8", col, col, sqlb_op(c->op),
			 sqlb_param(b, P("%.17g", c->num)));
	return P(" AND %s %s $%d%s", col, sqlb_op(c->op), sqlb_param(b, c->str),
		 like_range(s, b, c, col));
}

/* The first OR of the tree (itself, or one of the ANDed kids at its top)
 * each of whose branches is a clause that drives or an AND holding one:
 * its branches' clauses in br (arena), or 0. */
static size_t or_driver(struct srch *s, const struct mt_filter_clause ***br)
{
	const struct mt_filter_node *t = s->f->tree;
	size_t nt = t ? (t->type == MT_FN_AND ? t->nkids : 1) : 0;

	for (size_t i = 0; i < nt; i++) {
		const struct mt_filter_node *o = t->type == MT_FN_AND ? t->kids[i] : t;
		const struct mt_filter_clause **out;
		size_t j;

		if (o->type != MT_FN_OR)
			continue;
		out = mt_arena_alloc(s->a, sizeof(*out) * o->nkids);
		for (j = 0; j < o->nkids; j++) {
			const struct mt_filter_node *k = o->kids[j];

			out[j] = NULL;
			if (k->type == MT_FN_CLAUSE && drives(&k->clause))
				out[j] = &k->clause;
			for (size_t m = 0; k->type == MT_FN_AND && m < k->nkids && !out[j]; m++)
				if (k->kids[m]->type == MT_FN_CLAUSE && drives(&k->kids[m]->clause))
					out[j] = &k->kids[m]->clause;
			if (!out[j])
				break;
		}
		if (j == o->nkids) {
			*br = out;
			return o->nkids;
		}
	}
	return 0;
}

/* A driver's SELECT of run ids for the clause c (see drives()). */
static const char *clause_driver(struct srch *s, struct sqlb *b, const struct mt_filter_clause *c,
				 int ea)
{
	if (c->kind == MT_FK_ATTR) {
		int v = sqlb_param(b, c->op == MT_OP_IN ?
				   db_array_text(s->a, (const char *const *)c->list, c->nlist) :
				   db_array_text(s->a, (const char *const *)&c->str, 1));

		return P("SELECT d.run_id FROM runs d WHERE d.run_id = ANY($%d::text[]) AND "
			 "d.experiment_id = ANY($%d::bigint[])", v, ea);
	}
	return P("SELECT d.run_id FROM %s d WHERE d.experiment_id = ANY($%d::bigint[]) AND "
		 "d.key = $%d%s", table(c->kind), ea, sqlb_param(b, c->key),
		 one_cond(s, b, c, "d.value"));
}

static const char *plan_bc(struct srch *s, struct sqlb *b, const struct cand *c, const char *attrs)
{
	struct ex *e = mt_arena_alloc(s->a, sizeof(*e) * s->nit);
	const char *sql, *cond = "";
	int ea = exps_array(s, b);

	for (size_t i = 0; i < s->nit; i++)
		ex_generic(s, i, NULL, &e[i]);
	if (s->after)
		cond = after_pred(s, b, e);
	if (!c) {
		/* Fenced, so that the sort is the only way to the order: left
		 * free, an order PostgreSQL can read off the primary key (run_id)
		 * would walk every experiment's runs instead. */
		sql = P("SELECT " SQL_RUN_COLS "%s FROM (SELECT " SQL_RUN_COLS " FROM runs r WHERE "
			"r.experiment_id = ANY($%d::bigint[]) OFFSET 0) r%s WHERE TRUE%s%s%s",
			tuple_cols(s, e), ea, order_probes(s, b, 0, "r.run_id"), attrs,
			probes(s, b, "r.run_id", "r.experiment_id", "r.start_time", -1, NULL), cond);
	} else {
		const char *drv;

		if (c->nbr) {
			/* UNION: a run two branches match is driven once. */
			drv = "";
			for (size_t i = 0; i < c->nbr; i++)
				drv = P("%s%s%s", drv, i ? " UNION " : "",
					clause_driver(s, b, c->br[i], ea));
		} else if (c->ri) {
			const struct mt_filter_clause *ri = c->ri;
			int v = sqlb_param(b, ri->op == MT_OP_IN ?
					   db_array_text(s->a, (const char *const *)ri->list, ri->nlist) :
					   db_array_text(s->a, (const char *const *)&ri->str, 1));

			drv = P("SELECT d.run_id FROM runs d WHERE d.run_id = ANY($%d::text[]) AND "
				"d.experiment_id = ANY($%d::bigint[])", v, ea);
		} else {
			int k = sqlb_param(b, c->key);

			drv = P("SELECT d.run_id FROM %s d WHERE d.experiment_id = ANY($%d::bigint[]) AND "
				"d.key = $%d%s", table(c->kind), ea, k,
				key_conds(s, b, c->kind, c->key, "d.value"));
		}
		sql = P("SELECT " SQL_RUN_COLS "%s FROM (%s OFFSET 0) c CROSS JOIN LATERAL (SELECT "
			SQL_RUN_COLS " FROM runs r WHERE r.run_id = c.run_id%s OFFSET 0) r%s "
			"WHERE TRUE%s%s", tuple_cols(s, e), drv, attrs,
			order_probes(s, b, 0, "c.run_id"),
			probes(s, b, "c.run_id", "r.experiment_id", "r.start_time",
			       c->ri || c->nbr ? -1 : c->kind, c->ri || c->nbr ? NULL : c->key), cond);
	}
	return P("%s ORDER BY %s", sql, order_list(s, e));
}

/* The clauses that may drive plan B, with their matches counted up to
 * cap + 1 (one statement, an index range each).  Skips the key plan A would walk. */
static int candidates(struct srch *s, int skip_kind, const char *skip_key, long long cap,
		      struct cand **out, size_t *nout, struct mt_err *err)
{
	struct cand *c = mt_arena_alloc(s->a, sizeof(*c) * (s->f->n + 2));
	size_t n = 0, counted = 0;
	struct sqlb b;
	const char *sel = "";
	int ea = 0, lim = 0;
	const struct mt_filter_clause **br = NULL;
	size_t nbr = or_driver(s, &br);

	sqlb_init(&b, s->a);
	for (size_t i = 0; i < s->f->n; i++) {
		const struct mt_filter_clause *fc = &s->f->clauses[i];
		int eligible = 0;

		if (fc->kind == MT_FK_ATTR && strcmp(fc->key, "run_id") == 0 &&
		    (fc->op == MT_OP_IN || fc->op == MT_OP_EQ)) {
			c[n++] = (struct cand){ -1, NULL, fc,
						fc->op == MT_OP_IN ? (long long)fc->nlist : 1, NULL, 0 };
			continue;
		}
		if (!keyed(fc) || first_of_key(s->f, i) != i ||
		    (skip_key && names(fc, skip_kind, skip_key)))
			continue;
		for (size_t j = i; j < s->f->n; j++) {
			const struct mt_filter_clause *cj = &s->f->clauses[j];

			if (names(cj, fc->kind, fc->key))
				eligible |= drives(cj);
		}
		if (!eligible)
			continue;
		if (!ea) {
			ea = exps_array(s, &b);
			lim = sqlb_param(&b, P("%lld", cap + 1));
		}
		{
			int k = sqlb_param(&b, fc->key);

			sel = P("%s%s(SELECT count(*) FROM (SELECT 1 FROM %s d WHERE d.experiment_id = "
				"ANY($%d::bigint[]) AND d.key = $%d%s LIMIT $%d::bigint) x)", sel,
				counted ? ", " : "", table(fc->kind), ea, k,
				key_conds(s, &b, fc->kind, fc->key, "d.value"), lim);
		}
		c[n++] = (struct cand){ fc->kind, fc->key, NULL, -1, NULL, 0 };
		counted++;
	}
	/* The OR driver: its branches counted each (run_id ones by their
	 * lists), the candidate last. */
	if (nbr) {
		long long known = 0;

		for (size_t i = 0; i < nbr; i++) {
			if (br[i]->kind == MT_FK_ATTR) {
				known += br[i]->op == MT_OP_IN ? (long long)br[i]->nlist : 1;
				continue;
			}
			if (!ea) {
				ea = exps_array(s, &b);
				lim = sqlb_param(&b, P("%lld", cap + 1));
			}
			sel = P("%s%s(SELECT count(*) FROM (SELECT 1 FROM %s d WHERE d.experiment_id = "
				"ANY($%d::bigint[]) AND d.key = $%d%s LIMIT $%d::bigint) x)", sel,
				counted ? ", " : "", table(br[i]->kind), ea, sqlb_param(&b, br[i]->key),
				one_cond(s, &b, br[i], "d.value"), lim);
			counted++;
		}
		c[n++] = (struct cand){ -1, NULL, NULL, known, br, nbr };
	}
	if (counted) {
		PGresult *r = db_exec_sql_cached(s->req, P("SELECT %s", sel), b.n, b.params, err);
		size_t col = 0;

		if (!r)
			return -1;
		for (size_t i = 0; i < n; i++) {
			if (c[i].nbr) {
				for (size_t j = 0; j < c[i].nbr; j++)
					if (c[i].br[j]->kind != MT_FK_ATTR)
						c[i].n += atoll(PQgetvalue(r, 0, (int)col++));
			} else if (c[i].n < 0) {
				c[i].n = atoll(PQgetvalue(r, 0, (int)col++));
			}
		}
	}
	*out = c;
	*nout = n;
	return 0;
}

/* ---- the search ---- */

/* The order: the request's keys, then start_time DESC unless named, then
 * run_id. */
static int items(struct srch *s, const struct mt_order_list *o, struct mt_err *err)
{
	int named_start = 0;
	size_t n = 0;

	s->it = mt_arena_alloc(s->a, sizeof(*s->it) * ((o ? o->n : 0) + 2));
	for (size_t i = 0; o && i < o->n; i++) {
		const struct mt_order *oi = &o->items[i];
		struct item *t = &s->it[n++];

		memset(t, 0, sizeof(*t));
		t->kind = oi->kind;
		t->asc = oi->asc;
		if (oi->kind == MT_FK_ATTR) {
			if (!(t->key = attr_col(oi->key)))
				return mt_err_set(err, MT_EINVAL, "Invalid order_by key '%s'", oi->key);
			t->nullable = is_time(t->key);
			t->vt = t->nullable ? VT_INT : VT_TEXT;
			named_start |= strcmp(t->key, "start_time") == 0;
			continue;
		}
		t->key = oi->key;
		t->vt = oi->kind == MT_FK_METRIC ? VT_FLOAT : VT_TEXT;
		for (size_t j = 0; j < s->f->n; j++)
			t->excl |= names(&s->f->clauses[j], oi->kind, oi->key);
	}
	if (!named_start)
		s->it[n++] = (struct item){ MT_FK_ATTR, "start_time", 0, VT_INT, 0, 1, 1 };
	s->it[n++] = (struct item){ MT_FK_ATTR, "run_id", 1, VT_TEXT, 0, 0, 1 };
	s->nit = n;
	return 0;
}

/* The page token's keyset must describe a row of this order. */
static int check_after(struct srch *s, struct mt_err *err)
{
	if (!s->after)
		return 0;
	for (size_t i = 0; i < s->nit; i++) {
		const struct item *t = &s->it[i];
		const char *g = s->after[2 * i], *v = s->after[2 * i + 1];
		char *end;
		int gmax = t->kind == MT_FK_METRIC ? 2 : t->kind == MT_FK_ATTR ? t->nullable : 2;

		if (strlen(g) != 1 || g[0] < '0' || g[0] > '0' + gmax ||
		    (t->kind != MT_FK_METRIC && t->kind != MT_FK_ATTR && g[0] == '1'))
			goto bad;
		errno = 0;
		if (t->vt == VT_FLOAT)
			(void)strtod(v, &end);
		else if (t->vt == VT_INT)
			(void)strtoll(v, &end, 10);
		else
			continue;
		if (!*v || *end || errno)
			goto bad;
	}
	return 0;
bad:
	return mt_err_set(err, MT_EINVAL, "Invalid page token: it does not fit this search's order");
}

/* Build and run one plan: 'A' (budget > 0: each segment reads at most that
 * many candidates), 'B' from the clause c, or 'C'. */
static PGresult *run_plan(struct srch *s, int plan, const struct cand *c, long long budget,
			  struct mt_err *err)
{
	struct sqlb b;
	const char *attrs = "", *sql;
	int l, of;

	sqlb_init(&b, s->a);
	if (attr_conds(s, &b, &attrs, err))
		return NULL;
	if (plan != 'A')
		sql = plan_bc(s, &b, plan == 'B' ? c : NULL, attrs);
	else if (!(sql = plan_a(s, &b, attrs, budget)))
		return db_exec_sql(s->req, "SELECT 1 WHERE false", 0, NULL, err);
	l = sqlb_param(&b, P("%lld", s->limit));
	of = sqlb_param(&b, P("%lld", s->after ? 0 : s->offset));
	return db_exec_sql_cached(s->req, P("%s LIMIT $%d::bigint OFFSET $%d::bigint", sql, l, of),
				  b.n, b.params, err);
}

/*
 * Choose the plan and run it inside the search's transaction.  Without
 * statistics, what is known is counted: the matches of each clause that
 * could drive plan B, up to a cap.  A clause over the cap leaves plan A
 * (its page costs the rows asked for over the fraction that passes the
 * filter, whatever that is).  A clause under it bounds plan B's cost
 * (about three lookups per match); when it matches no more runs than the
 * page asks for, B is as cheap as A can be; between the two, A is tried
 * first with at most twice B's matches as candidates, and B follows when
 * that did not fill the page.
 */
static PGresult *choose_and_run(struct srch *s, struct mt_err *err)
{
	const struct item *k0 = &s->it[0];
	int can_a = s->nexp <= MERGE_MAX &&
		    (k0->kind != MT_FK_ATTR || strcmp(k0->key, "start_time") == 0);
	long long want = s->limit + s->offset;
	long long cap = want * 2 > B_CAP ? want * 2 : B_CAP;
	struct cand *c = NULL, *best = NULL;
	size_t nc = 0;
	int force = mt_cfg.search_plan;
	PGresult *r;

	if (force == 'C')
		return run_plan(s, 'C', NULL, 0, err);
	if (!(force == 'A' && can_a) &&
	    candidates(s, can_a && k0->kind != MT_FK_ATTR ? (int)k0->kind : -1,
		       can_a && k0->kind != MT_FK_ATTR ? k0->key : NULL, cap, &c, &nc, err))
		return NULL;
	for (size_t i = 0; i < nc; i++)
		if (!best || c[i].n < best->n)
			best = &c[i];
	if (force == 'B' && best)
		return run_plan(s, 'B', best, 0, err);
	if (can_a && (force == 'A' || !best || best->n > cap))
		return run_plan(s, 'A', NULL, 0, err);
	if (!can_a || best->n <= want)
		return run_plan(s, best ? 'B' : 'C', best, 0, err);
	r = run_plan(s, 'A', NULL, 2 * best->n, err);
	if (!r || PQntuples(r) >= s->limit)
		return r;
	return run_plan(s, 'B', best, 0, err);
}

#define SEARCH_OFFSET_MAX (1LL << 60)

int sql_runs_search(struct mt_req *req, const char **exp_ids, size_t nexp,
		    const struct mt_filter *f, const struct mt_order_list *o, int view,
		    long long limit, struct runs_page *page, const char **runs, size_t *nruns,
		    struct mt_err *err)
{
	/* An offset past any table's size answers an empty page all the same;
	 * capped, limit + offset (and twice it) cannot overflow. */
	struct srch s = { req, req->arena, f, exp_ids, nexp, view, NULL, 0, NULL, limit,
			  page->offset < SEARCH_OFFSET_MAX ? page->offset : SEARCH_OFFSET_MAX, "" };
	int n, ok;
	PGresult *r;

	page->last = NULL;
	page->nlast = 0;
	*runs = "";
	*nruns = 0;
	if (items(&s, o, err))
		return -1;
	if (page->after) {
		if (page->nafter != 2 * s.nit)
			return mt_err_set(err, MT_EINVAL,
					  "Invalid page token: it does not fit this search's order");
		s.after = page->after;
		if (check_after(&s, err))
			return -1;
	}
	/* Only the experiments the caller may read (the list is the caller's:
	 * an unreadable one is left out, as MLflow's auth plugin filters). */
	if (sqlz_readable_experiments(req, exp_ids, &s.nexp, err))
		return -1;
	if (s.nexp == 0)
		return 0;
	if (db_settings_begin(req, SETTINGS, err))
		return -1;
	/* The page's runs are filled in the same transaction, under the same
	 * settings: no parallel plan (whose workers take longer to start than
	 * the page takes to read) for a page of many runs. */
	r = choose_and_run(&s, err);
	if (r && (n = PQntuples(r)) > 0) {
		page->nlast = 2 * s.nit;
		page->last = mt_arena_alloc(req->arena, sizeof(*page->last) * page->nlast);
		for (size_t i = 0; i < page->nlast; i++)
			page->last[i] = PQgetvalue(r, n - 1, (int)(9 + i));
	}
	ok = r && sql_runs_render(req, r, runs, err) == 0;
	if (ok)
		*nruns = (size_t)PQntuples(r);
	if (db_settings_end(req, ok, err))
		return -1;
	return ok ? 0 : -1;
}
