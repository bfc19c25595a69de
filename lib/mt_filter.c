/* mt_filter.c: see mt_filter.h. */
#include "mt_filter.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define OPBIT(op) (1u << (op))

/* ------------------------------------------------------------------------
 * What each entity accepts (MLFLOW-API.md §8).  Process lifetime tables.
 */

enum {
	A_NUM = 1 << 0,    /* numeric attribute */
	A_IN = 1 << 1,     /* accepts IN (...) */
	A_NOT_IN = 1 << 2  /* accepts NOT IN (...) */
};

struct prefix_def {
	const char *name;
	enum mt_filter_kind kind;
};

struct attr_def {
	const char *name;   /* as written in the filter */
	const char *canon;  /* what the clause carries */
	unsigned flags;
};

struct scope {
	const struct prefix_def *prefixes;
	size_t nprefixes;
	const struct attr_def *attrs;
	size_t nattrs;
};

static const struct prefix_def runs_filter_prefixes[] = {
	{ "metric", MT_FK_METRIC }, { "metrics", MT_FK_METRIC },
	{ "param", MT_FK_PARAM }, { "params", MT_FK_PARAM },
	{ "parameter", MT_FK_PARAM }, { "parameters", MT_FK_PARAM },
	{ "tag", MT_FK_TAG }, { "tags", MT_FK_TAG },
	{ "attribute", MT_FK_ATTR }, { "attributes", MT_FK_ATTR },
	{ "attr", MT_FK_ATTR }, { "run", MT_FK_ATTR },
	{ "dataset", MT_FK_DATASET }, { "datasets", MT_FK_DATASET },
};

/* Datasets cannot be ordered by. */
static const struct prefix_def runs_order_prefixes[] = {
	{ "metric", MT_FK_METRIC }, { "metrics", MT_FK_METRIC },
	{ "param", MT_FK_PARAM }, { "params", MT_FK_PARAM },
	{ "parameter", MT_FK_PARAM }, { "parameters", MT_FK_PARAM },
	{ "tag", MT_FK_TAG }, { "tags", MT_FK_TAG },
	{ "attribute", MT_FK_ATTR }, { "attributes", MT_FK_ATTR },
	{ "attr", MT_FK_ATTR }, { "run", MT_FK_ATTR },
};

/* Experiments, registered models and model versions: MLflow accepts only
 * these three prefixes there. */
static const struct prefix_def registry_filter_prefixes[] = {
	{ "attribute", MT_FK_ATTR }, { "tag", MT_FK_TAG }, { "tags", MT_FK_TAG },
};

static const struct prefix_def registry_order_prefixes[] = {
	{ "attribute", MT_FK_ATTR },
};

static const struct attr_def runs_filter_attrs[] = {
	{ "run_id", "run_id", A_IN | A_NOT_IN },
	{ "run_name", "run_name", 0 },
	{ "status", "status", 0 },
	{ "user_id", "user_id", 0 },
	{ "artifact_uri", "artifact_uri", 0 },
	{ "start_time", "start_time", A_NUM },
	{ "end_time", "end_time", A_NUM },
	{ "created", "start_time", A_NUM },
	{ "Created", "start_time", A_NUM },
	{ "run name", "run_name", 0 },
	{ "Run name", "run_name", 0 },
	{ "Run Name", "run_name", 0 },
};

/* MLflow's VALID_ORDER_BY_ATTRIBUTE_KEYS: the orderable attributes plus
 * created/Created (not the "run name" spellings). */
static const struct attr_def runs_order_attrs[] = {
	{ "start_time", "start_time", 0 },
	{ "end_time", "end_time", 0 },
	{ "run_name", "run_name", 0 },
	{ "run_id", "run_id", 0 },
	{ "status", "status", 0 },
	{ "user_id", "user_id", 0 },
	{ "artifact_uri", "artifact_uri", 0 },
	{ "created", "start_time", 0 },
	{ "Created", "start_time", 0 },
};

static const struct attr_def exp_filter_attrs[] = {
	{ "name", "name", 0 },
	{ "creation_time", "creation_time", A_NUM },
	{ "last_update_time", "last_update_time", A_NUM },
};

static const struct attr_def exp_order_attrs[] = {
	{ "name", "name", 0 },
	{ "experiment_id", "experiment_id", 0 },
	{ "creation_time", "creation_time", 0 },
	{ "last_update_time", "last_update_time", 0 },
};

static const struct attr_def model_filter_attrs[] = {
	{ "name", "name", 0 },
};

/* The SQL store sorts both timestamp spellings by last-updated and rejects
 * creation_timestamp (2.17). */
static const struct attr_def model_order_attrs[] = {
	{ "name", "name", 0 },
	{ "timestamp", "last_updated_timestamp", 0 },
	{ "last_updated_timestamp", "last_updated_timestamp", 0 },
};

/* MLflow's model-version string comparators are = != LIKE ILIKE IN: no
 * NOT IN. */
static const struct attr_def ver_filter_attrs[] = {
	{ "name", "name", 0 },
	{ "run_id", "run_id", A_IN },
	{ "source_path", "source_path", 0 },
	{ "version_number", "version_number", A_NUM },
};

static const struct attr_def ver_order_attrs[] = {
	{ "name", "name", 0 },
	{ "version_number", "version_number", 0 },
	{ "creation_timestamp", "creation_timestamp", 0 },
	{ "last_updated_timestamp", "last_updated_timestamp", 0 },
};

/* MLflow 3's logged models (SearchLoggedModels; the SQL store's
 * search_logged_model_utils.py): four plural prefixes only, the model's
 * string attributes with IN lists, and its two timestamps under each of
 * their names. */
static const struct prefix_def logged_model_prefixes[] = {
	{ "metrics", MT_FK_METRIC }, { "params", MT_FK_PARAM }, { "tags", MT_FK_TAG },
	{ "attributes", MT_FK_ATTR },
};

static const struct attr_def logged_model_attrs[] = {
	{ "name", "name", A_IN | A_NOT_IN },
	{ "model_id", "model_id", A_IN | A_NOT_IN },
	{ "model_type", "model_type", A_IN | A_NOT_IN },
	{ "status", "status", A_IN | A_NOT_IN },
	{ "source_run_id", "source_run_id", A_IN | A_NOT_IN },
	{ "creation_timestamp", "creation_timestamp", A_NUM },
	{ "creation_time", "creation_timestamp", A_NUM },
	{ "creation_timestamp_ms", "creation_timestamp", A_NUM },
	{ "last_updated_timestamp", "last_updated_timestamp", A_NUM },
	{ "last_updated_time", "last_updated_timestamp", A_NUM },
	{ "last_updated_timestamp_ms", "last_updated_timestamp", A_NUM },
};

static const struct attr_def dataset_keys[] = {
	{ "name", "name", A_IN | A_NOT_IN },
	{ "digest", "digest", A_IN | A_NOT_IN },
	{ "context", "context", A_IN | A_NOT_IN },
};

#define SCOPE(p, a) { p, N_ELEMS(p), a, N_ELEMS(a) }

/* [entity][0 filter, 1 order_by] */
static const struct scope scopes[][2] = {
	[MT_FE_RUNS] = { SCOPE(runs_filter_prefixes, runs_filter_attrs),
			 SCOPE(runs_order_prefixes, runs_order_attrs) },
	[MT_FE_EXPERIMENTS] = { SCOPE(registry_filter_prefixes, exp_filter_attrs),
				SCOPE(registry_order_prefixes, exp_order_attrs) },
	[MT_FE_MODELS] = { SCOPE(registry_filter_prefixes, model_filter_attrs),
			   SCOPE(registry_order_prefixes, model_order_attrs) },
	[MT_FE_VERSIONS] = { SCOPE(registry_filter_prefixes, ver_filter_attrs),
			     SCOPE(registry_order_prefixes, ver_order_attrs) },
	/* Their order_by is a list of objects, read by the server. */
	[MT_FE_LOGGED_MODELS] = { SCOPE(logged_model_prefixes, logged_model_attrs),
				  SCOPE(logged_model_prefixes, logged_model_attrs) },
};

#define OPS_NUM (OPBIT(MT_OP_EQ) | OPBIT(MT_OP_NE) | OPBIT(MT_OP_GT) | \
		 OPBIT(MT_OP_GE) | OPBIT(MT_OP_LT) | OPBIT(MT_OP_LE))
#define OPS_STR (OPBIT(MT_OP_EQ) | OPBIT(MT_OP_NE) | OPBIT(MT_OP_LIKE) | \
		 OPBIT(MT_OP_ILIKE))
#define OPS_LIST (OPBIT(MT_OP_IN) | OPBIT(MT_OP_NOT_IN))

static const char *const op_names[] = {
	[MT_OP_EQ] = "=", [MT_OP_NE] = "!=", [MT_OP_GT] = ">", [MT_OP_GE] = ">=",
	[MT_OP_LT] = "<", [MT_OP_LE] = "<=", [MT_OP_LIKE] = "LIKE",
	[MT_OP_ILIKE] = "ILIKE", [MT_OP_IN] = "IN", [MT_OP_NOT_IN] = "NOT IN",
};

static const char *const kind_names[] = {
	[MT_FK_METRIC] = "metric", [MT_FK_PARAM] = "param", [MT_FK_TAG] = "tag",
	[MT_FK_ATTR] = "attribute", [MT_FK_DATASET] = "dataset",
};

const char *mt_filter_op_name(enum mt_filter_op op)
{
	return (unsigned)op < N_ELEMS(op_names) ? op_names[op] : "?";
}

const char *mt_filter_kind_name(enum mt_filter_kind kind)
{
	return (unsigned)kind < N_ELEMS(kind_names) ? kind_names[kind] : "?";
}

/* ------------------------------------------------------------------------
 * Message helpers: quote at most SHOW_MAX bytes of a token, cut on a UTF-8
 * boundary, so a message never carries half a character.
 */

#define SHOW_MAX 64

struct show {
	char b[SHOW_MAX + 8];  /* room for "..." and, in show_value, two quotes */
};

static const char *show(struct show *sh, const char *s, size_t n)
{
	size_t k = n;

	if (k > SHOW_MAX) {
		k = SHOW_MAX;
		while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
			k--;
		memcpy(sh->b, s, k);
		memcpy(sh->b + k, "...", 4);
	} else {
		memcpy(sh->b, s, k);
		sh->b[k] = '\0';
	}
	return sh->b;
}

/* A value token as written: quoted strings and lists as they are, anything
 * else between single quotes. */
static const char *show_value(struct show *sh, const char *s, size_t n)
{
	struct show in;
	const char *t;
	size_t k;

	if (n > 0 && (s[0] == '\'' || s[0] == '"' || s[0] == '('))
		return show(sh, s, n);
	t = show(&in, s, n);
	k = strlen(t);  /* at most SHOW_MAX + 3 */
	sh->b[0] = '\'';
	memcpy(sh->b + 1, t, k);
	sh->b[k + 1] = '\'';
	sh->b[k + 2] = '\0';
	return sh->b;
}

static const char *show_str(struct show *sh, const char *s)
{
	return show(sh, s, strlen(s));
}

/* Append "'a', 'b', ..." to buf (always NUL-terminated, truncated if need be). */
static void list_append(char *buf, size_t size, size_t *used, const char *name)
{
	int w;

	if (*used >= size)
		return;
	w = snprintf(buf + *used, size - *used, "%s'%s'", *used ? ", " : "", name);
	if (w < 0)
		return;
	*used += (size_t)w;
	if (*used >= size)
		*used = size;
}

static void list_prefixes(char *buf, size_t size, const struct scope *sc)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sc->nprefixes; i++)
		list_append(buf, size, &used, sc->prefixes[i].name);
}

static void list_attrs(char *buf, size_t size, const struct attr_def *a, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		list_append(buf, size, &used, a[i].name);
}

static void list_ops(char *buf, size_t size, unsigned mask)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < N_ELEMS(op_names); i++)
		if (mask & OPBIT(i))
			list_append(buf, size, &used, op_names[i]);
}

static int oom(struct mt_err *err)
{
	return mt_err_set(err, MT_EINTERNAL, "Out of memory while parsing a search filter");
}

/* ------------------------------------------------------------------------
 * Lexing.
 */

struct lex {
	const char *s;     /* NUL-terminated, s[len] == '\0' */
	size_t len;
	size_t pos;
	const char *what;  /* "filter string" or "order_by clause", for messages */
};

static int is_ws(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_kwch(int c)
{
	return is_alpha(c) || is_digit(c) || c == '_';
}

/* Ends an unquoted identifier. */
static int is_delim(int c)
{
	return c == '\0' || is_ws(c) || (c && strchr("=!<>'\"`(),", c) != NULL);
}

/* Characters allowed in an unquoted identifier. */
static int is_identch(int c)
{
	return is_kwch(c) || c == '.' || c >= 0x80;
}

static int cur(const struct lex *lx)
{
	return lx->pos < lx->len ? (unsigned char)lx->s[lx->pos] : 0;
}

static void skip_ws(struct lex *lx)
{
	while (lx->pos < lx->len && is_ws((unsigned char)lx->s[lx->pos]))
		lx->pos++;
}

/* Advance over an unquoted identifier; returns its length. */
static size_t lex_word(struct lex *lx)
{
	size_t st = lx->pos;

	while (lx->pos < lx->len && !is_delim((unsigned char)lx->s[lx->pos]))
		lx->pos++;
	return lx->pos - st;
}

/* Advance over [A-Za-z0-9_]* (a keyword); returns its length. */
static size_t lex_kw(struct lex *lx)
{
	size_t st = lx->pos;

	while (lx->pos < lx->len && is_kwch((unsigned char)lx->s[lx->pos]))
		lx->pos++;
	return lx->pos - st;
}

/* Length of the token at pos, for messages: one punctuation character or a
 * run of non-whitespace. */
static size_t tok_len(const struct lex *lx, size_t pos)
{
	size_t i = pos;
	int c = pos < lx->len ? (unsigned char)lx->s[pos] : 0;

	if (c == '(' || c == ')' || c == ',')
		return 1;
	while (i < lx->len && !is_ws((unsigned char)lx->s[i]))
		i++;
	return i - pos;
}

/* ASCII case-insensitive keyword match of s[0..n). */
static int kw_eq(const char *s, size_t n, const char *kw)
{
	size_t i;

	for (i = 0; i < n && kw[i]; i++) {
		int a = (unsigned char)s[i], b = (unsigned char)kw[i];

		if (a >= 'a' && a <= 'z')
			a -= 'a' - 'A';
		if (a != b)
			return 0;
	}
	return i == n && kw[i] == '\0';
}

/* Valid UTF-8 (no overlongs, surrogates or values past U+10FFFF) with no
 * control characters other than whitespace. */
static int check_text(const char *s, size_t len, const char *what, struct mt_err *err)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n, k;
		uint32_t cp, min;

		if (c < 0x80) {
			if ((c < 0x20 && !is_ws(c)) || c == 0x7f)
				return mt_err_set(err, MT_EINVAL,
						  "Invalid %s: control character 0x%02x at byte %zu",
						  what, c, i);
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			n = 2; cp = c & 0x1F; min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 3; cp = c & 0x0F; min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 4; cp = c & 0x07; min = 0x10000;
		} else {
			goto bad;
		}
		if (len - i < n)
			goto bad;
		for (k = 1; k < n; k++) {
			unsigned char d = (unsigned char)s[i + k];

			if ((d & 0xC0) != 0x80)
				goto bad;
			cp = (cp << 6) | (d & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			goto bad;
		i += n;
	}
	return 0;
bad:
	return mt_err_set(err, MT_EINVAL, "Invalid %s: invalid UTF-8 at byte %zu", what, i);
}

/*
 * At an opening quote (' " or `): read up to the matching close.  As in
 * MySQL, a doubled quote or a backslash before the quote stands for the
 * quote and \\ for one backslash; a backslash before anything else is kept
 * with that character (so '50\%' reaches LIKE as 50\%).  *out gets an
 * owned copy.
 */
static int lex_quoted(struct lex *lx, char **out, struct mt_err *err)
{
	const char *s = lx->s;
	char q = s[lx->pos];
	size_t start = lx->pos, i = lx->pos + 1, end, j, n = 0;
	char *buf;
	struct show sh;

	for (;;) {
		if (i >= lx->len)
			return mt_err_set(err, MT_EINVAL,
					  "Invalid %s: unterminated quoted string %s",
					  lx->what, show(&sh, s + start, lx->len - start));
		if (s[i] == '\\' && i + 1 < lx->len) {
			i += 2;
			continue;
		}
		if (s[i] == q) {
			if (i + 1 < lx->len && s[i + 1] == q) {
				i += 2;
				continue;
			}
			break;
		}
		i++;
	}
	end = i;
	buf = malloc(end - start);  /* content is at most end - start - 1 bytes */
	if (!buf)
		return oom(err);
	for (j = start + 1; j < end; j++) {
		if (s[j] == '\\' && j + 1 < end) {
			if (s[j + 1] != q && s[j + 1] != '\\')
				buf[n++] = '\\';
			buf[n++] = s[j + 1];
			j++;
		} else if (s[j] == q) {
			buf[n++] = q;  /* first of a doubled quote */
			j++;
		} else {
			buf[n++] = s[j];
		}
	}
	buf[n] = '\0';
	lx->pos = end + 1;
	*out = buf;
	return 0;
}

/* ------------------------------------------------------------------------
 * Identifiers: [prefix '.'] key, either part quoted with ` or ".
 */

struct ident {
	enum mt_filter_kind kind;
	char *key;                    /* owned */
	const struct attr_def *attr;  /* for attributes and dataset keys */
	size_t start, end;            /* span in the text */
};

static int check_ident_chars(const struct lex *lx, size_t st, size_t n, struct mt_err *err)
{
	struct show sh;

	for (size_t i = 0; i < n; i++)
		if (!is_identch((unsigned char)lx->s[st + i]))
			return mt_err_set(err, MT_EINVAL,
					  "Invalid identifier '%s'. Keys with special characters must "
					  "be quoted with backticks or double quotes, e.g. tags.`my-key`",
					  show(&sh, lx->s + st, n));
	return 0;
}

static int is_quote_open(int c)
{
	return c == '`' || c == '"';
}

static int single_quoted_key(const struct lex *lx, size_t id_start, struct mt_err *err)
{
	struct show sh;

	return mt_err_set(err, MT_EINVAL,
			  "Invalid identifier '%s': quote keys with backticks or double quotes, "
			  "not single quotes",
			  show(&sh, lx->s + id_start, tok_len(lx, id_start)));
}

/* The key after "prefix.": quoted, or an unquoted run (maybe empty). */
static int lex_key(struct lex *lx, size_t id_start, char **key, struct mt_err *err)
{
	size_t st, n;

	if (is_quote_open(cur(lx)))
		return lex_quoted(lx, key, err);
	if (cur(lx) == '\'')
		return single_quoted_key(lx, id_start, err);
	st = lx->pos;
	n = lex_word(lx);
	if (check_ident_chars(lx, st, n, err))
		return -1;
	*key = strndup(lx->s + st, n);
	return *key ? 0 : oom(err);
}

static const struct attr_def *find_attr(const struct attr_def *a, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i].name, name) == 0)
			return &a[i];
	return NULL;
}

/* On success id->key is owned by the caller. */
static int parse_ident(struct lex *lx, const struct scope *sc, struct ident *id,
		       struct mt_err *err)
{
	char *prefix = NULL, *key = NULL;
	int has_prefix = 0, rc = -1;
	struct show sh, sh2;
	char names[512];

	memset(id, 0, sizeof(*id));
	id->start = lx->pos;
	if (is_quote_open(cur(lx))) {
		char *q;

		if (lex_quoted(lx, &q, err))
			goto done;
		if (cur(lx) == '.') {
			prefix = q;
			has_prefix = 1;
			lx->pos++;
			if (lex_key(lx, id->start, &key, err))
				goto done;
		} else {
			key = q;
		}
	} else {
		size_t st = lx->pos, n = lex_word(lx);
		const char *w = lx->s + st;
		const char *dot;

		if (n == 0) {
			mt_err_set(err, MT_EINVAL, "Invalid clause(s) in filter string: '%s'",
				   show(&sh, w, tok_len(lx, st)));
			goto done;
		}
		if (check_ident_chars(lx, st, n, err))
			goto done;
		dot = memchr(w, '.', n);
		if (dot) {
			has_prefix = 1;
			prefix = strndup(w, (size_t)(dot - w));
			if (!prefix) {
				oom(err);
				goto done;
			}
			if (dot + 1 == w + n && (is_quote_open(cur(lx)) || cur(lx) == '\'')) {
				if (lex_key(lx, id->start, &key, err))
					goto done;
			} else {
				key = strndup(dot + 1, (size_t)(w + n - dot - 1));
				if (!key) {
					oom(err);
					goto done;
				}
			}
		} else {
			key = strndup(w, n);
			if (!key) {
				oom(err);
				goto done;
			}
		}
	}
	id->end = lx->pos;

	id->kind = MT_FK_ATTR;
	if (has_prefix) {
		size_t i;

		for (i = 0; i < sc->nprefixes; i++)
			if (strcmp(sc->prefixes[i].name, prefix) == 0)
				break;
		if (i == sc->nprefixes) {
			list_prefixes(names, sizeof(names), sc);
			mt_err_set(err, MT_EINVAL, "Invalid entity type '%s'. Valid values are %s",
				   show_str(&sh, prefix), names);
			goto done;
		}
		id->kind = sc->prefixes[i].kind;
	}

	if (id->kind == MT_FK_ATTR || id->kind == MT_FK_DATASET) {
		const struct attr_def *tab = id->kind == MT_FK_ATTR ? sc->attrs : dataset_keys;
		size_t ntab = id->kind == MT_FK_ATTR ? sc->nattrs : N_ELEMS(dataset_keys);
		const struct attr_def *a = find_attr(tab, ntab, key);
		char *canon;

		if (!a) {
			list_attrs(names, sizeof(names), tab, ntab);
			mt_err_set(err, MT_EINVAL, "Invalid %s key '%s' specified. Valid keys are %s",
				   id->kind == MT_FK_ATTR ? "attribute" : "dataset",
				   show_str(&sh, key), names);
			goto done;
		}
		canon = strdup(a->canon);
		if (!canon) {
			oom(err);
			goto done;
		}
		free(key);
		key = canon;
		id->attr = a;
	} else if (key[0] == '\0') {
		mt_err_set(err, MT_EINVAL, "Invalid identifier '%s': the %s key is empty",
			   show(&sh2, lx->s + id->start, id->end - id->start),
			   mt_filter_kind_name(id->kind));
		goto done;
	}
	id->key = key;
	key = NULL;
	rc = 0;
done:
	free(prefix);
	free(key);
	return rc;
}

/* ------------------------------------------------------------------------
 * Comparators and values.
 */

static int parse_op(struct lex *lx, const struct ident *id, enum mt_filter_op *op,
		    struct mt_err *err)
{
	static const struct { const char *s; enum mt_filter_op op; } sym[] = {
		{ "=", MT_OP_EQ }, { "!=", MT_OP_NE }, { ">", MT_OP_GT },
		{ ">=", MT_OP_GE }, { "<", MT_OP_LT }, { "<=", MT_OP_LE },
	};
	struct show sh;
	size_t st = lx->pos, n;
	int c = cur(lx);

	if (c == 0)
		return mt_err_set(err, MT_EINVAL,
				  "Invalid comparison clause '%s': expected a comparator",
				  show(&sh, lx->s + id->start, id->end - id->start));
	if (strchr("=!<>", c)) {
		while (lx->pos < lx->len && lx->s[lx->pos] && strchr("=!<>", lx->s[lx->pos]))
			lx->pos++;
		n = lx->pos - st;
		for (size_t i = 0; i < N_ELEMS(sym); i++)
			if (strlen(sym[i].s) == n && memcmp(sym[i].s, lx->s + st, n) == 0) {
				*op = sym[i].op;
				return 0;
			}
		return mt_err_set(err, MT_EINVAL, "Invalid comparator '%s'",
				  show(&sh, lx->s + st, n));
	}
	n = lex_kw(lx);
	if (n > 0) {
		const char *w = lx->s + st;

		if (kw_eq(w, n, "LIKE")) {
			*op = MT_OP_LIKE;
			return 0;
		}
		if (kw_eq(w, n, "ILIKE")) {
			*op = MT_OP_ILIKE;
			return 0;
		}
		if (kw_eq(w, n, "IN")) {
			*op = MT_OP_IN;
			return 0;
		}
		if (kw_eq(w, n, "NOT")) {
			size_t st2;

			skip_ws(lx);
			st2 = lx->pos;
			if (kw_eq(lx->s + st2, lex_kw(lx), "IN")) {
				*op = MT_OP_NOT_IN;
				return 0;
			}
			return mt_err_set(err, MT_EINVAL, "Invalid comparator 'NOT %s'",
					  show(&sh, lx->s + st2, tok_len(lx, st2)));
		}
	}
	return mt_err_set(err, MT_EINVAL, "Invalid comparator '%s'",
			  show(&sh, lx->s + st, n ? n : tok_len(lx, st)));
}

enum vtype { V_NONE, V_STR, V_NUM, V_LIST, V_WORD };

/* [+-]digits[.digits][(e|E)[+-]digits], or with the digits after the point
 * only; *intlit tells whether there was neither point nor exponent. */
static int is_number(const char *s, size_t n, int *intlit)
{
	size_t i = 0, mant = 0, exp = 0;
	int dotted = 0, has_exp = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	while (i < n && is_digit((unsigned char)s[i]))
		i++, mant++;
	if (i < n && s[i] == '.') {
		dotted = 1;
		i++;
		while (i < n && is_digit((unsigned char)s[i]))
			i++, mant++;
	}
	if (mant == 0)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		has_exp = 1;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < n && is_digit((unsigned char)s[i]))
			i++, exp++;
		if (exp == 0)
			return 0;
	}
	*intlit = !dotted && !has_exp;
	return i == n;
}

/* s[0..n) is a valid number followed by a character strtod cannot take. */
static int convert_number(struct mt_filter_clause *c, const char *s, size_t n, int intlit,
			  struct mt_err *err)
{
	struct show sh;
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (end != s + n || !isfinite(d))
		return mt_err_set(err, MT_EINVAL, "Numeric value '%s' is out of range",
				  show(&sh, s, n));
	c->is_num = 1;
	c->num = d;
	c->is_int = 0;
	if (intlit) {
		long long v;

		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno == 0 && end == s + n) {
			c->is_int = 1;
			c->inum = v;
		}
	} else if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
		long long v = (long long)d;

		if ((double)v == d) {
			c->is_int = 1;
			c->inum = v;
		}
	}
	return 0;
}

static int list_error(struct mt_err *err)
{
	return mt_err_set(err, MT_EINVAL,
			  "While parsing a list in the query, expected a non-empty list of "
			  "string values, but got ill-formed list.");
}

/* ( 'a' [, 'b']* [,] ) into c->list. */
static int parse_list(struct lex *lx, struct mt_filter_clause *c, struct mt_err *err)
{
	size_t cap = 0;

	lx->pos++;  /* '(' */
	skip_ws(lx);
	if (cur(lx) == ')')
		return list_error(err);
	for (;;) {
		int q;

		skip_ws(lx);
		q = cur(lx);
		if (q != '\'' && q != '"')
			return list_error(err);
		if (c->nlist == MT_FILTER_MAX_LIST)
			return mt_err_set(err, MT_EINVAL,
					  "A list in the query has more than %d values",
					  MT_FILTER_MAX_LIST);
		if (c->nlist == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **nl;

			if (ncap > MT_FILTER_MAX_LIST)
				ncap = MT_FILTER_MAX_LIST;
			nl = realloc(c->list, ncap * sizeof(*nl));
			if (!nl)
				return oom(err);
			c->list = nl;
			cap = ncap;
		}
		if (lex_quoted(lx, &c->list[c->nlist], err))
			return -1;
		c->nlist++;
		skip_ws(lx);
		if (cur(lx) == ',') {
			lx->pos++;
			skip_ws(lx);
			if (cur(lx) == ')') {
				lx->pos++;
				return 0;
			}
			continue;
		}
		if (cur(lx) == ')') {
			lx->pos++;
			return 0;
		}
		return list_error(err);
	}
}

/* Ends a bare value token. */
static int is_value_delim(int c)
{
	return c == '\0' || is_ws(c) || (c && strchr("'\"(),", c) != NULL);
}

static int parse_value(struct lex *lx, struct mt_filter_clause *c, enum vtype *vt,
		       struct mt_err *err)
{
	int ch = cur(lx);
	size_t st = lx->pos, n;
	int intlit = 0;

	if (ch == 0) {
		*vt = V_NONE;
		return 0;
	}
	if (ch == '\'' || ch == '"') {
		*vt = V_STR;
		return lex_quoted(lx, &c->str, err);
	}
	if (ch == '(') {
		*vt = V_LIST;
		return parse_list(lx, c, err);
	}
	while (lx->pos < lx->len && !is_value_delim((unsigned char)lx->s[lx->pos]))
		lx->pos++;
	n = lx->pos - st;
	if (n == 0) {  /* a lone ')' or ',' */
		lx->pos++;
		*vt = V_WORD;
		return 0;
	}
	if (is_number(lx->s + st, n, &intlit)) {
		*vt = V_NUM;
		return convert_number(c, lx->s + st, n, intlit, err);
	}
	*vt = V_WORD;
	return 0;
}

static int has_upper(const char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			return 1;
	return 0;
}

/* MLflow drops run_id list values with upper-case letters (run IDs are lower
 * case, and MySQL's IN ignores case). */
static void drop_upper(struct mt_filter_clause *c)
{
	size_t j = 0;

	for (size_t i = 0; i < c->nlist; i++) {
		if (has_upper(c->list[i]))
			free(c->list[i]);
		else
			c->list[j++] = c->list[i];
	}
	c->nlist = j;
	if (j == 0) {
		free(c->list);
		c->list = NULL;
	}
}

static int scope_has_list_attr(const struct scope *sc)
{
	for (size_t i = 0; i < sc->nattrs; i++)
		if (sc->attrs[i].flags & A_IN)
			return 1;
	return 0;
}

static int run_id_only(struct mt_err *err)
{
	return mt_err_set(err, MT_EINVAL,
			  "Only the 'run_id' attribute supports comparison with a list of "
			  "quoted string values.");
}

/* Check the value form and the comparator against the identifier, as
 * MLflow does: the value first, then the comparator. */
static int bad_comparator(const struct scope *sc, const struct mt_filter_clause *c,
			  unsigned flags, unsigned allowed, struct mt_err *err)
{
	struct show sk;
	char names[128];

	if ((c->op == MT_OP_IN || c->op == MT_OP_NOT_IN) && c->kind == MT_FK_ATTR &&
	    !(flags & (A_NUM | A_IN)) && scope_has_list_attr(sc))
		return run_id_only(err);
	list_ops(names, sizeof(names), allowed);
	return mt_err_set(err, MT_EINVAL,
			  "Invalid comparator '%s' for %s '%s'. Valid comparators are %s",
			  mt_filter_op_name(c->op), mt_filter_kind_name(c->kind),
			  show_str(&sk, c->key), names);
}

static int want_string(const struct mt_filter_clause *c, const char *v, size_t n,
		       struct mt_err *err)
{
	struct show sk, sv;

	return mt_err_set(err, MT_EINVAL,
			  "Expected a quoted string value for %s '%s' (e.g. 'my-value'). "
			  "Got value %s",
			  mt_filter_kind_name(c->kind), show_str(&sk, c->key),
			  show_value(&sv, v, n));
}

/* Check the value form and the comparator against the identifier, as
 * MLflow does: the value first, then the comparator. */
static int check_clause(const struct scope *sc, const struct ident *id,
			struct mt_filter_clause *c, enum vtype vt, const struct lex *lx,
			size_t vst, size_t vend, struct mt_err *err)
{
	unsigned flags = id->attr ? id->attr->flags : 0;
	int want_num = 0;
	int is_list_op = c->op == MT_OP_IN || c->op == MT_OP_NOT_IN;
	const char *v = lx->s + vst;
	size_t vn = vend - vst;
	unsigned allowed;
	struct show sk, sv;

	switch (c->kind) {
	case MT_FK_METRIC:
		want_num = 1;
		allowed = OPS_NUM;
		break;
	case MT_FK_ATTR:
		want_num = (flags & A_NUM) != 0;
		allowed = want_num ? OPS_NUM : OPS_STR;
		if (flags & A_IN)
			allowed |= OPBIT(MT_OP_IN);
		if (flags & A_NOT_IN)
			allowed |= OPBIT(MT_OP_NOT_IN);
		break;
	case MT_FK_DATASET:
		allowed = OPS_STR | OPS_LIST;
		break;
	default:
		allowed = OPS_STR;
		break;
	}

	if (vt == V_NONE)
		return mt_err_set(err, MT_EINVAL,
				  "Invalid comparison clause '%s': expected a value",
				  show(&sv, lx->s + id->start, vst - id->start));
	if (want_num && vt != V_NUM)
		return mt_err_set(err, MT_EINVAL,
				  "Expected numeric value type for %s '%s'. Found %s",
				  mt_filter_kind_name(c->kind), show_str(&sk, c->key),
				  show_value(&sv, v, vn));
	if (!want_num && vt == V_LIST && !(allowed & OPS_LIST)) {
		if (c->kind == MT_FK_ATTR && scope_has_list_attr(sc))
			return run_id_only(err);
		if (is_list_op)
			return bad_comparator(sc, c, flags, allowed, err);
		return want_string(c, v, vn, err);
	}
	if (!want_num && vt != V_LIST && vt != V_STR)
		return want_string(c, v, vn, err);

	if (!(allowed & OPBIT(c->op)))
		return bad_comparator(sc, c, flags, allowed, err);
	if (is_list_op && vt != V_LIST)
		return mt_err_set(err, MT_EINVAL,
				  "Expected a list of quoted string values in parentheses after "
				  "'%s' for %s '%s'. Got value %s",
				  mt_filter_op_name(c->op), mt_filter_kind_name(c->kind),
				  show_str(&sk, c->key), show_value(&sv, v, vn));
	if (!is_list_op && vt == V_LIST)
		return mt_err_set(err, MT_EINVAL,
				  "Invalid comparator '%s' for a list of values in %s '%s': use IN",
				  mt_filter_op_name(c->op), mt_filter_kind_name(c->kind),
				  show_str(&sk, c->key));
	if (vt == V_LIST && c->kind == MT_FK_ATTR && strcmp(c->key, "run_id") == 0)
		drop_upper(c);
	return 0;
}

/* One comparison into *c, which the caller releases on failure. */
static int parse_clause(struct lex *lx, const struct scope *sc, struct mt_filter_clause *c,
			struct mt_err *err)
{
	struct ident id;
	enum vtype vt;
	size_t vst;

	if (parse_ident(lx, sc, &id, err))
		return -1;
	c->kind = id.kind;
	c->key = id.key;
	skip_ws(lx);
	if (parse_op(lx, &id, &c->op, err))
		return -1;
	skip_ws(lx);
	vst = lx->pos;
	if (parse_value(lx, c, &vt, err))
		return -1;
	return check_clause(sc, &id, c, vt, lx, vst, lx->pos, err);
}

static void clause_release(struct mt_filter_clause *c)
{
	free(c->key);
	free(c->str);
	for (size_t i = 0; i < c->nlist; i++)
		free(c->list[i]);
	free(c->list);
	memset(c, 0, sizeof(*c));
}

static void node_free(struct mt_filter_node *n)
{
	if (!n)
		return;
	clause_release(&n->clause);
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n);
}

void mt_filter_release(struct mt_filter *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		clause_release(&f->clauses[i]);
	free(f->clauses);
	f->clauses = NULL;
	f->n = 0;
	node_free(f->tree);
	f->tree = NULL;
}

size_t mt_filter_tree_clauses(const struct mt_filter_node *n)
{
	size_t k = 0;

	if (!n)
		return 0;
	if (n->type == MT_FN_CLAUSE)
		return 1;
	for (size_t i = 0; i < n->nkids; i++)
		k += mt_filter_tree_clauses(n->kids[i]);
	return k;
}

/* A clause cannot start with OR, NOT, AND, a parenthesis or punctuation. */
static int check_clause_start(struct lex *lx, struct mt_err *err)
{
	struct show sh;
	int c = cur(lx);
	size_t n;

	if (c == '`' || c == '"')
		return 0;
	if (!is_delim(c)) {
		struct lex peek = *lx;

		n = lex_word(&peek);
		if (!kw_eq(lx->s + lx->pos, n, "OR") && !kw_eq(lx->s + lx->pos, n, "NOT") &&
		    !kw_eq(lx->s + lx->pos, n, "AND"))
			return 0;
	} else {
		n = tok_len(lx, lx->pos);
	}
	return mt_err_set(err, MT_EINVAL, "Invalid clause(s) in filter string: '%s'",
			  show(&sh, lx->s + lx->pos, n));
}

/*
 * MLflow reports OR and NOT before anything else in the filter is looked at;
 * so does this scan over the unquoted words (NOT IN is a comparator).
 */
static int check_connectives(const char *s, size_t len, struct mt_err *err)
{
	struct show sh;
	size_t i = 0;

	while (i < len) {
		int c = (unsigned char)s[i];

		if (c == '\'' || c == '"' || c == '`') {
			for (i++; i < len; i++) {
				if (s[i] == '\\' && i + 1 < len) {
					i++;
				} else if (s[i] == c) {
					if (i + 1 < len && s[i + 1] == c)
						i++;
					else
						break;
				}
			}
			i++;
		} else if (is_delim(c)) {
			i++;
		} else {
			size_t st = i, n;

			while (i < len && !is_delim((unsigned char)s[i]))
				i++;
			n = i - st;
			if (kw_eq(s + st, n, "OR"))
				goto bad;
			if (kw_eq(s + st, n, "NOT")) {
				size_t j = i, k;

				while (j < len && is_ws((unsigned char)s[j]))
					j++;
				for (k = j; k < len && is_kwch((unsigned char)s[k]); k++)
					;
				if (!kw_eq(s + j, k - j, "IN"))
					goto bad;
			}
			continue;
bad:
			return mt_err_set(err, MT_EINVAL,
					  "Invalid clause(s) in filter string: '%s'",
					  show(&sh, s + st, n));
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Boolean filters (MT_FILTER_BOOL): a recursive descent over
 *   or := and (OR and)*   and := unary (AND unary)*
 *   unary := NOT unary | '(' or ')' | comparison
 * whose recursion goes deeper only through '(' and NOT, both counted
 * against MT_FILTER_MAX_DEPTH.
 */

struct bparse {
	struct lex lx;
	const struct scope *sc;
	size_t nclauses;  /* comparisons so far */
};

static struct mt_filter_node *node_new(enum mt_filter_node_type type)
{
	struct mt_filter_node *n = calloc(1, sizeof(*n));

	if (n)
		n->type = type;
	return n;
}

/* Append kid to n (AND/OR), splicing in kid's own kids when it has n's
 * type; kid is consumed, even on failure. */
static int node_add(struct mt_filter_node *n, struct mt_filter_node *kid, struct mt_err *err)
{
	size_t add = kid->type == n->type ? kid->nkids : 1;
	struct mt_filter_node **nk = realloc(n->kids, (n->nkids + add) * sizeof(*nk));

	if (!nk) {
		node_free(kid);
		return oom(err);
	}
	n->kids = nk;
	if (kid->type == n->type) {
		memcpy(n->kids + n->nkids, kid->kids, kid->nkids * sizeof(*nk));
		n->nkids += kid->nkids;
		free(kid->kids);
		free(kid);
	} else {
		n->kids[n->nkids++] = kid;
	}
	return 0;
}

/* The word at pos, when it is the keyword kw (followed by a delimiter). */
static int at_kw(const struct lex *lx, const char *kw)
{
	struct lex peek = *lx;
	size_t n;

	if (is_delim(cur(lx)))
		return 0;
	n = lex_word(&peek);
	return kw_eq(lx->s + lx->pos, n, kw);
}

static int too_deep(struct mt_err *err)
{
	return mt_err_set(err, MT_EINVAL,
			  "Filter string nests parentheses and NOT more than %d levels deep",
			  MT_FILTER_MAX_DEPTH);
}

static int b_or(struct bparse *p, int depth, struct mt_filter_node **out, struct mt_err *err);

static int b_unary(struct bparse *p, int depth, struct mt_filter_node **out, struct mt_err *err)
{
	struct lex *lx = &p->lx;
	struct mt_filter_node *n, *kid;
	struct show sh;

	*out = NULL;
	skip_ws(lx);
	if (lx->pos == lx->len)
		return mt_err_set(err, MT_EINVAL,
				  "Invalid clause(s) in filter string: it ends where a comparison "
				  "is expected");
	if (cur(lx) == '(') {
		if (depth >= MT_FILTER_MAX_DEPTH)
			return too_deep(err);
		lx->pos++;
		if (b_or(p, depth + 1, &n, err))
			return -1;
		skip_ws(lx);
		if (cur(lx) != ')') {
			node_free(n);
			if (lx->pos == lx->len)
				return mt_err_set(err, MT_EINVAL,
						  "Invalid clause(s) in filter string: missing ')'");
			return mt_err_set(err, MT_EINVAL, "Invalid clause(s) in filter string: '%s'",
					  show(&sh, lx->s + lx->pos, tok_len(lx, lx->pos)));
		}
		lx->pos++;
		*out = n;
		return 0;
	}
	if (at_kw(lx, "NOT")) {
		if (depth >= MT_FILTER_MAX_DEPTH)
			return too_deep(err);
		lex_word(lx);
		if (b_unary(p, depth + 1, &kid, err))
			return -1;
		if (kid->type == MT_FN_NOT) {  /* NOT NOT x is x */
			n = kid->kids[0];
			free(kid->kids);
			free(kid);
			*out = n;
			return 0;
		}
		if (!(n = node_new(MT_FN_NOT)) || !(n->kids = malloc(sizeof(*n->kids)))) {
			free(n);
			node_free(kid);
			return oom(err);
		}
		n->kids[0] = kid;
		n->nkids = 1;
		*out = n;
		return 0;
	}
	if (check_clause_start(lx, err))
		return -1;
	if (p->nclauses == MT_FILTER_MAX_CLAUSES)
		return mt_err_set(err, MT_EINVAL, "Filter string has more than %d clauses",
				  MT_FILTER_MAX_CLAUSES);
	if (!(n = node_new(MT_FN_CLAUSE)))
		return oom(err);
	p->nclauses++;
	if (parse_clause(lx, p->sc, &n->clause, err)) {
		node_free(n);
		return -1;
	}
	*out = n;
	return 0;
}

/* and := unary (AND unary)*; or := and (OR and)* */
static int b_list(struct bparse *p, int depth, enum mt_filter_node_type type,
		  struct mt_filter_node **out, struct mt_err *err)
{
	const char *kw = type == MT_FN_AND ? "AND" : "OR";
	struct mt_filter_node *first, *n = NULL, *kid;
	int rc;

	*out = NULL;
	rc = type == MT_FN_AND ? b_unary(p, depth, &first, err) : b_list(p, depth, MT_FN_AND,
									   &first, err);
	if (rc)
		return -1;
	for (;;) {
		skip_ws(&p->lx);
		if (!at_kw(&p->lx, kw))
			break;
		lex_word(&p->lx);
		if (!n) {
			if (!(n = node_new(type))) {
				node_free(first);
				return oom(err);
			}
			if (node_add(n, first, err))
				goto fail;
		}
		rc = type == MT_FN_AND ? b_unary(p, depth, &kid, err) : b_list(p, depth, MT_FN_AND,
									     &kid, err);
		if (rc || node_add(n, kid, err))
			goto fail;
	}
	*out = n ? n : first;
	return 0;
fail:
	node_free(n);
	return -1;
}

static int b_or(struct bparse *p, int depth, struct mt_filter_node **out, struct mt_err *err)
{
	return b_list(p, depth, MT_FN_OR, out, err);
}

/* Move the top-level comparisons of root (consumed) into f->clauses and
 * keep the rest as f->tree. */
static int b_normalise(struct mt_filter *f, struct mt_filter_node *root, struct mt_err *err)
{
	size_t nleaf = 0, j = 0;

	if (root->type == MT_FN_CLAUSE) {
		if (!(f->clauses = malloc(sizeof(*f->clauses)))) {
			node_free(root);
			return oom(err);
		}
		f->clauses[0] = root->clause;
		f->n = 1;
		free(root);
		return 0;
	}
	if (root->type != MT_FN_AND) {
		f->tree = root;
		return 0;
	}
	for (size_t i = 0; i < root->nkids; i++)
		nleaf += root->kids[i]->type == MT_FN_CLAUSE;
	if (nleaf && !(f->clauses = malloc(nleaf * sizeof(*f->clauses)))) {
		node_free(root);
		return oom(err);
	}
	for (size_t i = 0; i < root->nkids; i++) {
		struct mt_filter_node *k = root->kids[i];

		if (k->type == MT_FN_CLAUSE) {
			f->clauses[f->n++] = k->clause;
			free(k);
		} else {
			root->kids[j++] = k;
		}
	}
	root->nkids = j;
	if (j == 0) {
		node_free(root);
	} else if (j == 1) {
		f->tree = root->kids[0];
		root->nkids = 0;
		node_free(root);
	} else {
		f->tree = root;
	}
	return 0;
}

static int parse_bool(struct mt_filter *out, struct lex *lx, const struct scope *sc,
		      struct mt_err *err)
{
	struct bparse p = { *lx, sc, 0 };
	struct mt_filter f = MT_FILTER_INIT;
	struct mt_filter_node *root;
	struct show sh;

	if (b_or(&p, 0, &root, err))
		return -1;
	skip_ws(&p.lx);
	if (p.lx.pos < p.lx.len) {
		node_free(root);
		if (cur(&p.lx) == ')')
			return mt_err_set(err, MT_EINVAL,
					  "Invalid clause(s) in filter string: ')' without '('");
		return mt_err_set(err, MT_EINVAL, "Invalid clause(s) in filter string: '%s'",
				  show(&sh, p.lx.s + p.lx.pos, tok_len(&p.lx, p.lx.pos)));
	}
	if (b_normalise(&f, root, err))
		return -1;
	*out = f;
	return 0;
}

int mt_filter_parse(struct mt_filter *out, enum mt_filter_entity ent,
		    const char *text, struct mt_err *err)
{
	return mt_filter_parse_ext(out, ent, text, 0, err);
}

int mt_filter_parse_ext(struct mt_filter *out, enum mt_filter_entity ent,
			const char *text, unsigned flags, struct mt_err *err)
{
	struct mt_filter f = MT_FILTER_INIT;
	const struct scope *sc;
	struct lex lx;
	struct show sh;
	size_t cap = 0, len;

	out->clauses = NULL;
	out->n = 0;
	out->tree = NULL;
	if ((unsigned)ent >= N_ELEMS(scopes))
		return mt_err_set(err, MT_EINTERNAL, "Unknown search entity %d", (int)ent);
	sc = &scopes[ent][0];
	if (!text)
		return 0;
	len = strnlen(text, (size_t)MT_FILTER_MAX_LEN + 1);
	if (len > MT_FILTER_MAX_LEN)
		return mt_err_set(err, MT_EINVAL, "Filter string is longer than %d bytes",
				  MT_FILTER_MAX_LEN);
	if (check_text(text, len, "filter string", err) ||
	    (!(flags & MT_FILTER_BOOL) && check_connectives(text, len, err)))
		return -1;
	lx.s = text;
	lx.len = len;
	lx.pos = 0;
	lx.what = "filter string";
	skip_ws(&lx);
	if (lx.pos == lx.len)
		return 0;
	if (flags & MT_FILTER_BOOL)
		return parse_bool(out, &lx, sc, err);

	for (;;) {
		size_t st, n;

		skip_ws(&lx);
		if (lx.pos == lx.len) {  /* after a trailing AND */
			mt_err_set(err, MT_EINVAL,
				   "Invalid clause(s) in filter string: 'AND' ends the filter");
			goto fail;
		}
		if (check_clause_start(&lx, err))
			goto fail;
		if (f.n == MT_FILTER_MAX_CLAUSES) {
			mt_err_set(err, MT_EINVAL, "Filter string has more than %d clauses",
				   MT_FILTER_MAX_CLAUSES);
			goto fail;
		}
		if (f.n == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct mt_filter_clause *nc;

			if (ncap > MT_FILTER_MAX_CLAUSES)
				ncap = MT_FILTER_MAX_CLAUSES;
			nc = realloc(f.clauses, ncap * sizeof(*nc));
			if (!nc) {
				oom(err);
				goto fail;
			}
			f.clauses = nc;
			cap = ncap;
		}
		memset(&f.clauses[f.n], 0, sizeof(f.clauses[0]));
		f.n++;
		if (parse_clause(&lx, sc, &f.clauses[f.n - 1], err))
			goto fail;

		skip_ws(&lx);
		if (lx.pos == lx.len)
			break;
		st = lx.pos;
		n = lex_kw(&lx);
		if (!kw_eq(lx.s + st, n, "AND")) {
			mt_err_set(err, MT_EINVAL, "Invalid clause(s) in filter string: '%s'",
				   show(&sh, lx.s + st, tok_len(&lx, st)));
			goto fail;
		}
	}
	*out = f;
	return 0;
fail:
	mt_filter_release(&f);
	return -1;
}

/* ------------------------------------------------------------------------
 * order_by.
 */

void mt_order_release(struct mt_order_list *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n; i++)
		free(o->items[i].key);
	free(o->items);
	o->items = NULL;
	o->n = 0;
}

static int order_unparsable(const char *s, size_t len, struct mt_err *err)
{
	struct show sh;

	return mt_err_set(err, MT_EINVAL, "Invalid order_by clause '%s'. Could not be parsed.",
			  show(&sh, s, len));
}

static int parse_one_order(const struct scope *sc, const char *s, struct mt_order *o,
			   struct mt_err *err)
{
	struct lex lx;
	struct ident id;
	struct show sh, sh2;
	size_t len, st, n;

	if (!s)
		return mt_err_set(err, MT_EINVAL, "Invalid order_by clause: null");
	len = strnlen(s, (size_t)MT_FILTER_MAX_LEN + 1);
	if (len > MT_FILTER_MAX_LEN)
		return mt_err_set(err, MT_EINVAL, "order_by clause is longer than %d bytes",
				  MT_FILTER_MAX_LEN);
	if (check_text(s, len, "order_by clause", err))
		return -1;
	lx.s = s;
	lx.len = len;
	lx.pos = 0;
	lx.what = "order_by clause";
	skip_ws(&lx);
	if (!is_quote_open(cur(&lx)) && is_delim(cur(&lx)))
		return order_unparsable(s, len, err);
	if (parse_ident(&lx, sc, &id, err))
		return -1;
	o->kind = id.kind;
	o->key = id.key;
	o->asc = 1;
	skip_ws(&lx);
	if (lx.pos < lx.len) {
		st = lx.pos;
		n = lex_kw(&lx);
		if (n == 0 || (lx.pos < lx.len && !is_ws(cur(&lx))))
			return order_unparsable(s, len, err);
		if (kw_eq(s + st, n, "DESC"))
			o->asc = 0;
		else if (!kw_eq(s + st, n, "ASC"))
			return mt_err_set(err, MT_EINVAL,
					  "Invalid ordering key '%s' in order_by clause '%s'. "
					  "Expected ASC or DESC.",
					  show(&sh, s + st, n), show(&sh2, s, len));
		skip_ws(&lx);
		if (lx.pos < lx.len)
			return order_unparsable(s, len, err);
	}
	return 0;
}

int mt_order_parse(struct mt_order_list *out, enum mt_filter_entity ent,
		   const char *const *clauses, size_t nclauses, struct mt_err *err)
{
	struct mt_order_list l = MT_ORDER_LIST_INIT;
	const struct scope *sc;
	struct show s1, s2;

	out->items = NULL;
	out->n = 0;
	if ((unsigned)ent >= N_ELEMS(scopes))
		return mt_err_set(err, MT_EINTERNAL, "Unknown search entity %d", (int)ent);
	if (nclauses == 0)
		return 0;
	if (!clauses)
		return mt_err_set(err, MT_EINVAL, "Invalid order_by: no clauses");
	if (nclauses > MT_ORDER_MAX_CLAUSES)
		return mt_err_set(err, MT_EINVAL, "order_by has more than %d clauses",
				  MT_ORDER_MAX_CLAUSES);
	sc = &scopes[ent][1];
	l.items = calloc(nclauses, sizeof(*l.items));
	if (!l.items)
		return oom(err);
	for (size_t i = 0; i < nclauses; i++) {
		struct mt_order *o = &l.items[i];

		l.n = i;
		if (parse_one_order(sc, clauses[i], o, err)) {
			free(o->key);
			goto fail;
		}
		l.n = i + 1;
		for (size_t j = 0; j < i; j++)
			if (l.items[j].kind == o->kind && strcmp(l.items[j].key, o->key) == 0) {
				mt_err_set(err, MT_EINVAL,
					   "order_by contains duplicate fields: '%s' and '%s'",
					   show_str(&s1, clauses[j]), show_str(&s2, clauses[i]));
				goto fail;
			}
	}
	*out = l;
	return 0;
fail:
	mt_order_release(&l);
	return -1;
}
