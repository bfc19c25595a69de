/*
 * mt_filter: MLflow's search grammar (filter strings and order_by clauses).
 *
 * A filter is `<identifier> <op> <value>` comparisons joined by AND (any
 * case), as in MLflow's search_utils.py; OR, NOT and parentheses are rejected
 * (MLflow has refused OR since 2021, its issue #4135).  mt_filter_parse_ext()
 * with MT_FILTER_BOOL (runs/search) also takes OR, NOT and parentheses; see
 * "Boolean filters" below.
 * The parser turns it into a flat list of clauses with canonical names: entity
 * prefixes and attribute aliases are resolved (`metrics.` -> MT_FK_METRIC,
 * `created` -> "start_time", `attributes.` -> MT_FK_ATTR), string values are
 * unquoted, numbers converted, IN lists split.  What may be compared with what
 * depends on the entity searched (MLFLOW-API.md §8): runs, experiments,
 * registered models or model versions.
 *
 * The module only parses.  It holds no SQL: server/sql_*.c turns the clauses
 * into parameterised statements.  Everything is bounded: the text length
 * (MT_FILTER_MAX_LEN), the number of clauses and the length of IN lists; the
 * text must be valid UTF-8 without control characters other than whitespace.
 * Errors are MT_EINVAL (INVALID_PARAMETER_VALUE) with a one-line message that
 * quotes the offending token (truncated, cut on a UTF-8 boundary), or
 * MT_EINTERNAL when memory runs out.
 *
 * Lexical details, where MLflow leaves room:
 *  - Keys may be quoted with backticks or double quotes; the prefix may be too
 *    (`tags`.`a b`).  Unquoted keys are [A-Za-z0-9_.] and non-ASCII letters;
 *    the first '.' separates the prefix (tags.mlflow.user is tag mlflow.user).
 *  - String values take single or double quotes.  Inside, as in MySQL, a
 *    doubled quote ('it''s') or a backslash before the quote ('it\'s') stands
 *    for the quote and \\ for one backslash; a backslash before any other
 *    character is kept with it, so LIKE escapes such as '50\%' reach the
 *    database unchanged.  Quoted keys follow the same rules.  (MLflow itself
 *    resolves no escapes: it only strips the outer quotes.)
 *  - Numbers: [+-]digits[.digits][(e|E)[+-]digits] or .digits...; they must be
 *    finite.
 *  - Prefixes and attribute names are case-sensitive (as in MLflow); keywords
 *    (AND, LIKE, ILIKE, IN, NOT IN, ASC, DESC) are not.
 */
#ifndef MT_FILTER_H
#define MT_FILTER_H

#include <stddef.h>

#include "mt_error.h"

#define MT_FILTER_MAX_LEN 65536     /* bytes of one filter or order_by string */
/* Comparisons in one filter, and order_by entries in one request, for
 * every search.  MLflow has no such limits; these bound what one search
 * costs the database (each metric, param or tag key filtered or ordered
 * on is a join) while staying far above what MLflow's UI (one order key,
 * a typed filter) or a scripted search sends.  Measured in
 * docs/PERFORMANCE.md ("Search bounds"). */
#define MT_FILTER_MAX_CLAUSES 50
#define MT_FILTER_MAX_LIST 1000     /* values in one IN list */
/* Nesting of parentheses and NOT in a boolean filter (each '(' and each NOT
 * is a level).  It bounds the parser's recursion and the SQL's nesting. */
#define MT_FILTER_MAX_DEPTH 32
#define MT_ORDER_MAX_CLAUSES 20

enum mt_filter_entity {
	MT_FE_RUNS, MT_FE_EXPERIMENTS, MT_FE_MODELS, MT_FE_VERSIONS, MT_FE_LOGGED_MODELS
};

enum mt_filter_kind { MT_FK_METRIC, MT_FK_PARAM, MT_FK_TAG, MT_FK_ATTR, MT_FK_DATASET };

enum mt_filter_op {
	MT_OP_EQ, MT_OP_NE, MT_OP_GT, MT_OP_GE, MT_OP_LT, MT_OP_LE,
	MT_OP_LIKE, MT_OP_ILIKE, MT_OP_IN, MT_OP_NOT_IN
};

/*
 * One comparison.  Exactly one of the value forms is set:
 *  - is_num: num (and, when is_int, the same value exactly in inum);
 *  - str != NULL: a string (MT_OP_IN/NOT_IN never use it);
 *  - MT_OP_IN / MT_OP_NOT_IN: list[0..nlist).  nlist may be 0 after run_id
 *    values holding upper-case letters were dropped (MLflow does the same):
 *    IN () then matches nothing and NOT IN () matches everything.
 *
 * key is canonical for MT_FK_ATTR:
 *   runs:        run_id run_name status user_id artifact_uri (strings),
 *                start_time end_time (numbers)
 *   experiments: name (string), creation_time last_update_time (numbers)
 *   models:      name
 *   versions:    name run_id source_path (strings), version_number (number)
 *   logged models (MLflow 3): name model_id model_type status source_run_id
 *                (strings, IN and NOT IN too), creation_timestamp
 *                last_updated_timestamp (numbers; also spelled _time and
 *                _timestamp_ms); prefixes metrics. params. tags. attributes.
 * and for MT_FK_DATASET one of name, digest, context.  For metrics, params and
 * tags it is the user's key, never empty.
 */
struct mt_filter_clause {
	enum mt_filter_kind kind;
	char *key;          /* owned, NUL-terminated, never NULL */
	enum mt_filter_op op;
	int is_num;         /* value is numeric */
	double num;         /* numeric value (finite) */
	long long inum;     /* the same value when is_int */
	int is_int;         /* num is an integer that fits in long long */
	char *str;          /* owned string value (unquoted, escapes resolved), or NULL */
	char **list;        /* owned IN-list values, each owned; NULL when nlist is 0 */
	size_t nlist;
};

/*
 * Boolean filters (MT_FILTER_BOOL):
 *
 *   filter := or ; or := and (OR and)* ; and := unary (AND unary)*
 *   unary  := NOT unary | '(' or ')' | comparison
 *
 * NOT binds tighter than AND, AND tighter than OR; the keywords are
 * case-insensitive; `NOT IN` after an identifier stays the comparator.
 * Nesting is at most MT_FILTER_MAX_DEPTH levels and the comparisons, in all,
 * at most MT_FILTER_MAX_CLAUSES.
 *
 * The parse is normalised so that MLflow's grammar keeps its flat form: the
 * filter is the conjunction of clauses[0..n) AND, when tree is not NULL, the
 * tree.  The comparisons ANDed at the top level (outside any OR or NOT,
 * parentheses around ANDs included) are the flat clauses, in text order; only
 * what remains (OR groups, NOT) is the tree.  Nested ANDs and ORs are
 * flattened into their parent and NOT NOT x is x, so an AND node has no AND
 * child and an OR node no OR child.  A filter without OR or NOT has tree
 * NULL and parses exactly as mt_filter_parse() parses it.
 *
 * Each comparison is true or false for a run, never unknown: one on a metric,
 * param, tag or dataset is true when the run has the key with a value that
 * passes (as for a flat clause), and NOT of it is true otherwise, missing key
 * included.
 */
enum mt_filter_node_type { MT_FN_CLAUSE, MT_FN_AND, MT_FN_OR, MT_FN_NOT };

struct mt_filter_node {
	enum mt_filter_node_type type;
	struct mt_filter_clause clause;   /* MT_FN_CLAUSE: owned */
	struct mt_filter_node **kids;     /* owned, each owned: AND and OR >= 2, NOT 1 */
	size_t nkids;
};

struct mt_filter {
	struct mt_filter_clause *clauses; /* owned array of n clauses, ANDed */
	size_t n;
	struct mt_filter_node *tree;      /* owned; NULL unless MT_FILTER_BOOL */
};

#define MT_FILTER_INIT { NULL, 0, NULL }

enum mt_filter_flags {
	MT_FILTER_BOOL = 1 << 0   /* accept OR, NOT and parentheses */
};

/*
 * Parse `text` as a filter for entity `ent` into *out, which this overwrites
 * (it does not free what *out held).  NULL, empty or all-whitespace text gives
 * n = 0.  On success *out owns everything: free it with mt_filter_release().
 * On failure returns -1 with err set and leaves *out empty (nothing to free,
 * though calling mt_filter_release() is harmless).  `text` is borrowed.
 */
int mt_filter_parse(struct mt_filter *out, enum mt_filter_entity ent,
		    const char *text, struct mt_err *err);

/* mt_filter_parse() with flags (enum mt_filter_flags); flags 0 is
 * mt_filter_parse().  The same ownership rules. */
int mt_filter_parse_ext(struct mt_filter *out, enum mt_filter_entity ent,
			const char *text, unsigned flags, struct mt_err *err);

/* Leaves (comparisons) in a tree; 0 for NULL. */
size_t mt_filter_tree_clauses(const struct mt_filter_node *n);

/* Free every clause and the tree and leave an empty filter; NULL and empty
 * are fine. */
void mt_filter_release(struct mt_filter *f);

/* One order_by entry: kind is MT_FK_METRIC, MT_FK_PARAM, MT_FK_TAG or
 * MT_FK_ATTR.  For attributes key is canonical: runs start_time end_time
 * run_name run_id status user_id artifact_uri (created -> start_time);
 * experiments name experiment_id creation_time last_update_time; models name
 * last_updated_timestamp (timestamp -> last_updated_timestamp); versions name
 * version_number creation_timestamp last_updated_timestamp. */
struct mt_order {
	enum mt_filter_kind kind;
	char *key;          /* owned, never NULL */
	int asc;            /* 1 ascending (the default), 0 descending */
};

struct mt_order_list {
	struct mt_order *items; /* owned array of n entries, in request order */
	size_t n;
};

#define MT_ORDER_LIST_INIT { NULL, 0 }

/*
 * Parse the request's repeated order_by strings, each "<identifier> [ASC|DESC]",
 * into *out (overwritten, not freed).  clauses[0..nclauses) are borrowed;
 * nclauses 0 gives n = 0.  Fields named twice (after aliases are resolved,
 * whatever the direction) are an error.  On success free *out with
 * mt_order_release(); on failure returns -1 with err set and *out empty.
 */
int mt_order_parse(struct mt_order_list *out, enum mt_filter_entity ent,
		   const char *const *clauses, size_t nclauses, struct mt_err *err);

/* Free every entry and leave an empty list; NULL and empty are fine. */
void mt_order_release(struct mt_order_list *o);

/* Borrowed static names: "=", "!=", ..., "LIKE", "NOT IN"; and "metric",
 * "param", "tag", "attribute", "dataset".  "?" for values out of range. */
const char *mt_filter_op_name(enum mt_filter_op op);
const char *mt_filter_kind_name(enum mt_filter_kind kind);

#endif
