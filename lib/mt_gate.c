/* mt_gate.c: see mt_gate.h. */
#include "mt_gate.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

#define SHOW_MAX 48     /* bytes of a token quoted in a parse error */
#define KEY_SHOW_MAX 64 /* bytes of a key or value quoted in a message */
#define MSG_MAX 1024    /* one evaluation message */

/* ------------------------------------------------------------------------
 * A growing string.  On allocation failure it stops growing and remembers
 * (oom), so callers check once at the end.
 */

struct sb {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_putn(struct sb *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->cap - b->len <= n) {
		size_t ncap = b->cap ? b->cap : 256;
		char *np;

		while (ncap - b->len <= n)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void sb_putc(struct sb *b, char c)
{
	sb_putn(b, &c, 1);
}

static void sb_printf(struct sb *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		sb_putn(b, small, (size_t)n);
		return;
	}
	{
		char *big = malloc((size_t)n + 1);

		if (!big) {
			b->oom = 1;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		sb_putn(b, big, (size_t)n);
		free(big);
	}
}

/* The text, owned by the caller; NULL when memory ran out. */
static char *sb_finish(struct sb *b)
{
	if (!b->oom && !b->p)
		sb_putn(b, "", 0);
	if (b->oom) {
		free(b->p);
		b->p = NULL;
		return NULL;
	}
	return b->p;
}

/* "" when memory ran out, so messages can always be read. */
static const char *sb_str(const struct sb *b)
{
	return b->p && !b->oom ? b->p : "";
}

/* ------------------------------------------------------------------------
 * UTF-8.
 */

/* Length (1-4) of the well-formed UTF-8 sequence at s[i] (no overlongs,
 * surrogates or values past U+10FFFF), 0 when there is none.  *cp gets the
 * code point. */
static size_t utf8_at(const char *str, size_t len, size_t i, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char c = s[i];
	size_t n;
	uint32_t v, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2; v = c & 0x1F; min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3; v = c & 0x0F; min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4; v = c & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (len - i < n)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((s[i + k] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i + k] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

static void sb_put_cp(struct sb *b, uint32_t cp)
{
	char u[4];

	if (cp < 0x80) {
		sb_putc(b, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		sb_putn(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		sb_putn(b, u, 3);
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		sb_putn(b, u, 4);
	}
}

#define REPLACEMENT 0xFFFD

/* s[0..n) with every ill-formed byte replaced by U+FFFD. */
static void sb_put_utf8_fixed(struct sb *b, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t k = utf8_at(s, n, i, &cp);

		if (k == 0) {
			sb_put_cp(b, REPLACEMENT);
			i++;
		} else {
			sb_putn(b, s + i, k);
			i += k;
		}
	}
}

/* The largest k <= max (and <= n) that does not split a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
	size_t k = n < max ? n : max;

	if (k < n)
		while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
			k--;
	return k;
}

/* Drop a character left incomplete at the end of s, as a truncating
 * snprintf leaves it. */
static void utf8_trim_tail(char *s)
{
	size_t n = strlen(s), j = n;
	uint32_t cp;

	if (n == 0 || (unsigned char)s[n - 1] < 0x80)
		return;
	while (j > 0 && n - j < 3 && ((unsigned char)s[j - 1] & 0xC0) == 0x80)
		j--;
	if (j > 0 && ((unsigned char)s[j - 1] & 0xC0) == 0xC0)
		j--;
	if (utf8_at(s, n, j, &cp) == 0)
		s[j] = '\0';
}

/* ------------------------------------------------------------------------
 * Numbers, always in the C locale whatever setlocale() says.
 */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale_obj;  /* process lifetime; (locale_t)0 if unavailable */

static void c_locale_init(void)
{
	c_locale_obj = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static locale_t c_locale(void)
{
	pthread_once(&c_locale_once, c_locale_init);
	return c_locale_obj;
}

/* strtod in the C locale; s is NUL-terminated. */
static double c_strtod(const char *s, char **end)
{
	locale_t loc = c_locale();

	return loc ? strtod_l(s, end, loc) : strtod(s, end);
}

/* snprintf of one double in the C locale. */
static void c_fmt_double(char *out, size_t size, int prec, double d)
{
	locale_t loc = c_locale(), old = (locale_t)0;

	if (loc)
		old = uselocale(loc);
	snprintf(out, size, "%.*g", prec, d);
	if (loc)
		uselocale(old);
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Length of the NUMBER at s[0..n): digits [. digits] [e [+-] digits] or
 * . digits [...]; 0 when there is none.  *bad_exp is set when an exponent
 * marker has no digits. */
static size_t scan_number(const char *s, size_t n, int *bad_exp)
{
	size_t i = 0, digits = 0;

	*bad_exp = 0;
	while (i < n && is_digit((unsigned char)s[i])) {
		i++;
		digits++;
	}
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && is_digit((unsigned char)s[i])) {
			i++;
			digits++;
		}
	}
	if (digits == 0)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t j = i + 1;

		if (j < n && (s[j] == '+' || s[j] == '-'))
			j++;
		if (j >= n || !is_digit((unsigned char)s[j])) {
			*bad_exp = 1;
			return i;
		}
		while (j < n && is_digit((unsigned char)s[j]))
			j++;
		i = j;
	}
	return i;
}

/* A string that is, in full, an optionally signed NUMBER with a finite
 * value: 1 and *out, else 0.  s[n] must be '\0'. */
static int str_to_num(const char *s, size_t n, double *out)
{
	size_t sign = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
	int bad_exp;
	char *end;
	double d;

	if (scan_number(s + sign, n - sign, &bad_exp) != n - sign || bad_exp || n == sign)
		return 0;
	d = c_strtod(s, &end);
	if (end != s + n || !isfinite(d))
		return 0;
	*out = d;
	return 1;
}

/* A value the data holds: the shortest of %.15g..%.17g that reads back the
 * same, so it is exact. */
static void fmt_exact(char *out, size_t size, double d)
{
	for (int prec = 15; prec <= 17; prec++) {
		char *end;

		c_fmt_double(out, size, prec, d);
		if (c_strtod(out, &end) == d)
			return;
	}
}

/* A value computed by arithmetic: 15 significant digits, so 0.25 * 1.01
 * shows as 0.2525 and not with the noise of binary fractions. */
static void fmt_computed(char *out, size_t size, double d)
{
	c_fmt_double(out, size, 15, d);
}

/* ------------------------------------------------------------------------
 * Parsed rules.
 *
 * A rule owns a copy of its text, an array of nodes and a pool of decoded
 * strings and keys, sized from the text so they never grow: every node is
 * made for a distinct token (a leaf, an operator, a unary minus) and every
 * token takes at least one byte, so there are at most len nodes (and never
 * more than MT_GATE_MAX_NODES); a decoded string or key plus its NUL is no
 * longer than its token.
 *
 * Every node records its depth: 0 for an operand, one more than its
 * deepest operand for an operator, plus one for each pair of parentheses
 * around it.  The parser refuses a node deeper than MT_GATE_MAX_DEPTH, and
 * the functions that walk the tree recursively (eval, has_candidate_ref,
 * sb_put_expr) carry the depth they are at and stop at the same bound, so
 * their recursion is bounded however the tree was made.  Nodes are created
 * children first, so a subtree is a contiguous run of the array ending in
 * its root.
 */

/* drift and live exist only in monitoring alert rules (mt_gate_validate
 * refuses them in a promotion gate). */
enum space { SP_METRICS, SP_PARAMS, SP_TAGS, SP_GIT, SP_BUNDLE, SP_DRIFT, SP_LIVE };

static const char *const space_names[] = {
	[SP_METRICS] = "metrics", [SP_PARAMS] = "params", [SP_TAGS] = "tags",
	[SP_GIT] = "git", [SP_BUNDLE] = "bundle", [SP_DRIFT] = "drift", [SP_LIVE] = "live",
};

/* What a key of each space is called in messages. */
static const char *const space_things[] = {
	[SP_METRICS] = "metric", [SP_PARAMS] = "param", [SP_TAGS] = "tag",
	[SP_GIT] = "git", [SP_BUNDLE] = "bundle", [SP_DRIFT] = "drift", [SP_LIVE] = "live value",
};

static const char *const git_fields[] = { "dirty", "commit", "branch", "repo_url" };
static const char *const bundle_fields[] = { "verified", "sha256" };
/* drift.STAT(FEATURE): the statistics a monitoring window has per feature. */
static const char *const drift_stats[] = { "psi", "ks", "chi2", "missing" };

enum nkind { N_NUM, N_STR, N_BOOL, N_REF, N_NEG, N_ADD, N_SUB, N_MUL, N_DIV };

struct node {
	enum nkind kind;
	size_t start, end;  /* span in the rule text (with any parentheses) */
	size_t idx;         /* index in the rule's node array */
	int depth;          /* levels below and including this node, see above */
	double num;         /* N_NUM */
	int bval;           /* N_BOOL */
	const char *str;    /* N_STR value or N_REF key: pool, NUL-terminated */
	size_t slen;
	const char *arg;    /* N_REF of drift: the feature, pool, NUL-terminated */
	size_t alen;
	int champion;       /* N_REF: champion.* */
	enum space sp;      /* N_REF */
	struct node *l, *r; /* operands (N_NEG uses l) */
};

enum cmp { C_NONE, C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE };

static const char *const cmp_names[] = {
	[C_NONE] = "", [C_EQ] = "==", [C_NE] = "!=", [C_LT] = "<", [C_LE] = "<=",
	[C_GT] = ">", [C_GE] = ">=",
};

struct mt_gate_rule {
	char *text;          /* owned copy */
	size_t len;
	struct node *nodes;  /* owned, cap entries */
	size_t nnodes, cap;
	char *pool;          /* owned, pool_cap bytes */
	size_t pool_used, pool_cap;
	struct node *lhs, *rhs; /* rhs NULL when op is C_NONE */
	enum cmp op;
	int negate;
	int uses_champion;
	int uses_monitor;    /* names drift.* or live.* */
};

void mt_gate_rule_free(struct mt_gate_rule *rule)
{
	if (!rule)
		return;
	free(rule->text);
	free(rule->nodes);
	free(rule->pool);
	free(rule);
}

int mt_gate_rule_uses_champion(const struct mt_gate_rule *rule)
{
	return rule ? rule->uses_champion : 0;
}

/* ------------------------------------------------------------------------
 * Lexer and parser.
 */

enum tok_type {
	T_END, T_NUM, T_STR, T_TRUE, T_FALSE, T_NOT, T_REF, T_LP, T_RP,
	T_ADD, T_SUB, T_MUL, T_DIV, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE
};

struct tok {
	enum tok_type type;
	size_t start, end;
	double num;
	const char *str;  /* T_STR value or T_REF key, in the pool */
	size_t slen;
	const char *arg;  /* T_REF of drift: the feature, in the pool */
	size_t alen;
	int champion;
	enum space sp;
};

struct parser {
	struct mt_gate_rule *r;
	const char *s;
	size_t len, pos;
	struct tok cur, prev;
	int started;    /* cur holds a token */
	int have_prev;
	int depth;
	char *err;
	size_t errlen;
};

/* Characters counted from 1 up to byte pos (the text is valid UTF-8). */
static size_t column(const char *s, size_t pos)
{
	size_t col = 1;

	for (size_t i = 0; i < pos; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			col++;
	return col;
}

static int perr(struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Set the parse error (the first one wins).  Always -1. */
static int perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err && p->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
		/* A cut message must not end in half a character. */
		utf8_trim_tail(p->err);
	}
	p->err = NULL;
	return -1;
}

/* s[0..n) for a message: at most max bytes, cut on a character, "..." after
 * a cut; tabs as spaces and other control characters (and ill-formed bytes)
 * as '?', so a message stays one line. */
struct shown {
	char b[KEY_SHOW_MAX + 4];
};

static const char *show(struct shown *sh, const char *s, size_t n, size_t max)
{
	size_t k = utf8_cut(s, n, max < KEY_SHOW_MAX ? max : KEY_SHOW_MAX), o = 0;

	for (size_t i = 0; i < k;) {
		uint32_t cp;
		size_t m = utf8_at(s, k, i, &cp);

		if (m == 0) {
			sh->b[o++] = '?';
			i++;
			continue;
		}
		if (cp == '\t')
			sh->b[o++] = ' ';
		else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F))
			sh->b[o++] = '?';
		else {
			memcpy(sh->b + o, s + i, m);
			o += m;
		}
		i += m;
	}
	if (k < n)
		memcpy(sh->b + o, "...", 4);
	else
		sh->b[o] = '\0';
	return sh->b;
}

static const char *show_tok(struct shown *sh, const struct parser *p, const struct tok *t)
{
	return show(sh, p->s + t->start, t->end - t->start, SHOW_MAX);
}

/* "expected <what> after '<previous token>' at column N". */
static int expected(struct parser *p, const char *what)
{
	struct shown sh;
	size_t col = column(p->s, p->cur.start);
	const char *tail = p->cur.type == T_END ? " (end of the rule)" : "";

	if (p->have_prev)
		return perr(p, "expected %s after '%s' at column %zu%s", what,
			    show_tok(&sh, p, &p->prev), col, tail);
	return perr(p, "expected %s at column %zu%s", what, col, tail);
}

static char *pool_take(struct parser *p, size_t n)
{
	struct mt_gate_rule *r = p->r;
	char *s;

	if (r->pool_cap - r->pool_used < n)
		return NULL;  /* cannot happen: see "Parsed rules" */
	s = r->pool + r->pool_used;
	r->pool_used += n;
	return s;
}

static int is_ws(int c)
{
	return c == ' ' || c == '\t';
}

static int is_word_ch(int c)
{
	return is_alpha(c) || is_digit(c) || c == '_';
}

/* An unquoted key: first character, then the rest. */
static int is_key_first(int c)
{
	return is_word_ch(c) || c >= 0x80;
}

static int is_key_ch(int c)
{
	return is_key_first(c) || c == '-' || c == '.' || c == '/' || c == ':';
}

static int word_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && memcmp(s, w, n) == 0;
}

/* ASCII case-insensitive. */
static int word_is_ci(const char *s, size_t n, const char *w)
{
	if (strlen(w) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int a = (unsigned char)s[i];

		if (a >= 'A' && a <= 'Z')
			a += 'a' - 'A';
		if (a != w[i])
			return 0;
	}
	return 1;
}

/*
 * At an opening quote: decode up to the matching close into the pool.
 * what is "string" or "quoted key" for messages.
 */
static int lex_quoted(struct parser *p, const char **out, size_t *outlen, const char *what)
{
	const char *s = p->s;
	char q = s[p->pos];
	size_t start = p->pos, i = p->pos + 1, n = 0;
	char *dst;

	/* First find the end, so the pool takes exactly what is needed. */
	while (i < p->len && s[i] != q) {
		if (s[i] == '\\')
			i++;
		i++;
	}
	if (i >= p->len)
		return perr(p, "unterminated %s starting at column %zu", what, column(s, start));
	dst = pool_take(p, i - start);  /* content plus NUL fits in i - start */
	if (!dst)
		return perr(p, "rule too complex");
	for (size_t j = start + 1; j < i; j++) {
		char c = s[j];

		if (c == '\\') {
			char e = s[++j];

			switch (e) {
			case '\\': case '\'': case '"': case '`': c = e; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			default: {
				uint32_t cp;
				size_t k = utf8_at(s, p->len, j, &cp);

				return perr(p, "unknown escape '\\%.*s' in %s at column %zu",
					    (int)(k ? k : 1), s + j, what, column(s, j - 1));
			}
			}
		}
		dst[n++] = c;
	}
	dst[n] = '\0';
	p->pos = i + 1;
	*out = dst;
	*outlen = n;
	return 0;
}

static int lex_number(struct parser *p)
{
	const char *s = p->s + p->pos;
	size_t rest = p->len - p->pos, n;
	int bad_exp;
	char buf[MT_GATE_MAX_RULE_LEN + 1];
	struct shown sh;
	char *end;

	n = scan_number(s, rest, &bad_exp);
	if (bad_exp || (n < rest && (is_word_ch((unsigned char)s[n]) || s[n] == '.'))) {
		while (n < rest && (is_word_ch((unsigned char)s[n]) || s[n] == '.' ||
				    ((s[n] == '+' || s[n] == '-') && (s[n - 1] == 'e' || s[n - 1] == 'E'))))
			n++;
		return perr(p, "invalid number '%s' at column %zu", show(&sh, s, n, SHOW_MAX),
			    column(p->s, p->pos));
	}
	memcpy(buf, s, n);  /* n <= len <= MT_GATE_MAX_RULE_LEN */
	buf[n] = '\0';
	p->cur.num = c_strtod(buf, &end);
	if (!isfinite(p->cur.num))
		return perr(p, "number '%s' at column %zu is out of range", show(&sh, s, n, SHOW_MAX),
			    column(p->s, p->pos));
	p->cur.type = T_NUM;
	p->pos += n;
	return 0;
}

static const struct { const char *word; const char *meant; } space_aliases[] = {
	{ "metric", "metrics" }, { "param", "params" }, { "parameter", "params" },
	{ "parameters", "params" }, { "tag", "tags" }, { "attributes", "metrics, params or tags" },
};

/* The "(FEATURE)" of drift.STAT(FEATURE) at pos into p->cur.arg: a key,
 * unquoted or quoted as keys are. */
static int lex_feature(struct parser *p)
{
	const char *s = p->s;
	size_t i = p->pos, kst;
	char *key;

	if (i >= p->len || s[i] != '(')
		return perr(p, "expected '(' and a feature after 'drift.%s' at column %zu, as in "
			    "drift.%s(age)", p->cur.str, column(s, i), p->cur.str);
	kst = ++i;
	if (i < p->len && (s[i] == '`' || s[i] == '"')) {
		p->pos = i;
		if (lex_quoted(p, &p->cur.arg, &p->cur.alen, "quoted feature"))
			return -1;
		i = p->pos;
	} else {
		if (i < p->len && is_key_first((unsigned char)s[i]))
			while (i < p->len && is_key_ch((unsigned char)s[i]))
				i++;
		if (i > kst) {
			key = pool_take(p, i - kst + 1);
			if (!key)
				return perr(p, "rule too complex");
			memcpy(key, s + kst, i - kst);
			key[i - kst] = '\0';
			p->cur.arg = key;
			p->cur.alen = i - kst;
		}
	}
	if (!p->cur.arg || p->cur.alen == 0)
		return perr(p, "expected a feature after 'drift.%s(' at column %zu", p->cur.str,
			    column(s, kst));
	if (i >= p->len || s[i] != ')')
		return perr(p, "expected ')' after the feature of 'drift.%s' at column %zu",
			    p->cur.str, column(s, i));
	p->pos = i + 1;
	return 0;
}

/* A word at pos: keyword or reference. */
static int lex_word(struct parser *p)
{
	const char *s = p->s;
	size_t st = p->pos, i = p->pos, n;
	struct shown sh;
	int champion = 0;
	int sp = -1;

	while (i < p->len && is_word_ch((unsigned char)s[i]))
		i++;
	n = i - st;
	if (word_is_ci(s + st, n, "true") || word_is_ci(s + st, n, "false") ||
	    word_is_ci(s + st, n, "not")) {
		p->cur.type = (s[st] | 0x20) == 't' ? T_TRUE : (s[st] | 0x20) == 'f' ? T_FALSE : T_NOT;
		p->pos = i;
		return 0;
	}
	if (word_is_ci(s + st, n, "and") || word_is_ci(s + st, n, "or"))
		return perr(p, "'%.*s' at column %zu: a rule is one condition; give each "
			    "condition as a rule of its own", (int)n, s + st, column(s, st));
	if (word_is(s + st, n, "champion")) {
		if (i >= p->len || s[i] != '.')
			return perr(p, "expected '.' after 'champion' at column %zu", column(s, i));
		champion = 1;
		st = ++i;
		while (i < p->len && is_word_ch((unsigned char)s[i]))
			i++;
		n = i - st;
	}
	for (size_t k = 0; k < N_ELEMS(space_names); k++)
		if (word_is(s + st, n, space_names[k]))
			sp = (int)k;
	if (sp < 0 || (champion && sp >= SP_DRIFT)) {
		if (champion)
			return perr(p, "expected metrics, params, tags, git or bundle after "
				    "'champion.' at column %zu", column(s, st));
		for (size_t k = 0; k < N_ELEMS(space_aliases); k++)
			if (word_is(s + st, n, space_aliases[k].word))
				return perr(p, "unknown name '%.*s' at column %zu: did you mean %s?",
					    (int)n, s + st, column(s, st), space_aliases[k].meant);
		return perr(p, "unknown name '%s' at column %zu: a reference starts with metrics., "
			    "params., tags., git., bundle. or champion.",
			    show(&sh, s + st, n, SHOW_MAX), column(s, st));
	}
	if (i >= p->len || s[i] != '.')
		return perr(p, "expected '.' and a key after '%s%s' at column %zu",
			    champion ? "champion." : "", space_names[sp], column(s, i));
	p->pos = ++i;
	if (i < p->len && (s[i] == '`' || s[i] == '"')) {
		if (lex_quoted(p, &p->cur.str, &p->cur.slen, "quoted key"))
			return -1;
		if (p->cur.slen == 0)
			return perr(p, "empty key after '%s%s.' at column %zu",
				    champion ? "champion." : "", space_names[sp], column(s, i));
	} else {
		size_t kst = i;
		char *key;

		if (i < p->len && s[i] == '\'')
			return perr(p, "quote keys with backticks or double quotes, not single "
				    "quotes, at column %zu", column(s, i));
		if (i < p->len && is_key_first((unsigned char)s[i]))
			while (i < p->len && is_key_ch((unsigned char)s[i]))
				i++;
		if (i == kst)
			return perr(p, "expected a key after '%s%s.' at column %zu",
				    champion ? "champion." : "", space_names[sp], column(s, i));
		key = pool_take(p, i - kst + 1);
		if (!key)
			return perr(p, "rule too complex");
		memcpy(key, s + kst, i - kst);
		key[i - kst] = '\0';
		p->cur.str = key;
		p->cur.slen = i - kst;
		p->pos = i;
	}
	if (sp == SP_GIT || sp == SP_BUNDLE || sp == SP_DRIFT) {
		const char *const *f = sp == SP_GIT ? git_fields :
				       sp == SP_BUNDLE ? bundle_fields : drift_stats;
		size_t nf = sp == SP_GIT ? N_ELEMS(git_fields) :
			    sp == SP_BUNDLE ? N_ELEMS(bundle_fields) : N_ELEMS(drift_stats);
		int found = 0;

		for (size_t k = 0; k < nf; k++)
			found |= strlen(f[k]) == p->cur.slen && strcmp(f[k], p->cur.str) == 0;
		if (!found)
			return perr(p, "unknown field '%s.%s' at column %zu: %s", space_names[sp],
				    show(&sh, p->cur.str, p->cur.slen, SHOW_MAX), column(s, st),
				    sp == SP_GIT ? "git has dirty, commit, branch and repo_url" :
				    sp == SP_BUNDLE ? "bundle has verified and sha256" :
				    "drift has psi, ks, chi2 and missing, as in drift.psi(age)");
	}
	if (sp == SP_DRIFT && lex_feature(p))
		return -1;
	p->cur.type = T_REF;
	p->cur.champion = champion;
	p->cur.sp = (enum space)sp;
	return 0;
}

/* Read the next token into p->cur; the current one becomes p->prev. */
static int next(struct parser *p)
{
	const char *s = p->s;
	int c, c2;

	if (p->started) {
		p->prev = p->cur;
		p->have_prev = 1;
	}
	p->started = 1;
	while (p->pos < p->len && is_ws((unsigned char)s[p->pos]))
		p->pos++;
	memset(&p->cur, 0, sizeof(p->cur));
	p->cur.start = p->pos;
	p->cur.end = p->pos;
	if (p->pos >= p->len) {
		p->cur.type = T_END;
		return 0;
	}
	c = (unsigned char)s[p->pos];
	c2 = p->pos + 1 < p->len ? (unsigned char)s[p->pos + 1] : 0;
	if (is_digit(c) || (c == '.' && is_digit(c2))) {
		if (lex_number(p))
			return -1;
	} else if (c == '\'' || c == '"') {
		if (lex_quoted(p, &p->cur.str, &p->cur.slen, "string"))
			return -1;
		p->cur.type = T_STR;
	} else if (is_alpha(c) || c == '_') {
		if (lex_word(p))
			return -1;
	} else {
		enum tok_type t = T_END;
		size_t n = 1;

		switch (c) {
		case '(': t = T_LP; break;
		case ')': t = T_RP; break;
		case '+': t = T_ADD; break;
		case '-': t = T_SUB; break;
		case '*': t = T_MUL; break;
		case '/': t = T_DIV; break;
		case '=':
			if (c2 == '<' || c2 == '>')
				return perr(p, "unknown operator '=%c' at column %zu: did you mean "
					    "'%c='?", c2, column(s, p->pos), c2);
			t = T_EQ;
			n = c2 == '=' ? 2 : 1;
			break;
		case '<':
			if (c2 == '>')
				return perr(p, "unknown operator '<>' at column %zu: did you mean "
					    "'!='?", column(s, p->pos));
			t = c2 == '=' ? T_LE : T_LT;
			n = c2 == '=' ? 2 : 1;
			break;
		case '>': t = c2 == '=' ? T_GE : T_GT; n = c2 == '=' ? 2 : 1; break;
		case '!':
			if (c2 != '=')
				return perr(p, "unexpected '!' at column %zu: write != or not",
					    column(s, p->pos));
			t = T_NE;
			n = 2;
			break;
		case '&': case '|':
			if (c2 == c)
				return perr(p, "'%c%c' at column %zu: a rule is one condition; give "
					    "each condition as a rule of its own", c, c,
					    column(s, p->pos));
			return perr(p, "unexpected '%c' at column %zu", c, column(s, p->pos));
		case '`':
			return perr(p, "unexpected '`' at column %zu: backticks quote a key after "
				    "the dot, as in metrics.`val loss`", column(s, p->pos));
		default: {
			static const struct { uint32_t cp; const char *ascii; } lookalikes[] = {
				{ 0x2264, "<=" }, { 0x2265, ">=" }, { 0x2260, "!=" },
				{ 0x2212, "-" }, { 0xD7, "*" }, { 0xF7, "/" },
			};
			uint32_t cp = 0;
			size_t k = utf8_at(s, p->len, p->pos, &cp);

			for (size_t i = 0; i < N_ELEMS(lookalikes); i++)
				if (k && cp == lookalikes[i].cp)
					return perr(p, "unexpected character '%.*s' at column %zu: "
						    "write '%s'", (int)k, s + p->pos,
						    column(s, p->pos), lookalikes[i].ascii);
			return perr(p, "unexpected character '%.*s' at column %zu",
				    (int)(k ? k : 1), s + p->pos, column(s, p->pos));
		}
		}
		p->cur.type = t;
		p->pos += n;
	}
	p->cur.end = p->pos;
	return 0;
}

#define DEPTH_MSG "deeper than %d levels at column %zu: each operator and pair of " \
		  "parentheses is a level"

/* A node for the token at byte `at` (for the message when there are too
 * many). */
static struct node *new_node(struct parser *p, enum nkind kind, size_t start, size_t end,
			     size_t at)
{
	struct mt_gate_rule *r = p->r;
	struct node *n;

	if (r->nnodes >= MT_GATE_MAX_NODES) {
		perr(p, "more than %d operands and operators at column %zu", MT_GATE_MAX_NODES,
		     column(p->s, at));
		return NULL;
	}
	if (r->nnodes >= r->cap) {
		perr(p, "rule too complex");  /* cannot happen: see "Parsed rules" */
		return NULL;
	}
	n = &r->nodes[r->nnodes];
	memset(n, 0, sizeof(*n));
	n->idx = r->nnodes++;
	n->kind = kind;
	n->start = start;
	n->end = end;
	return n;
}

static int is_cmp(enum tok_type t)
{
	return t == T_EQ || t == T_NE || t == T_LT || t == T_LE || t == T_GT || t == T_GE;
}

static struct node *parse_sum(struct parser *p);

/* Entering a parenthesis or a minus sign (the current token): the levels
 * open so far are a lower bound of the depth of what is being parsed, so
 * this stops the parser's own recursion at the bound. */
static int deeper(struct parser *p)
{
	if (++p->depth > MT_GATE_MAX_DEPTH)
		return perr(p, DEPTH_MSG, MT_GATE_MAX_DEPTH, column(p->s, p->cur.start));
	return 0;
}

/* n's depth is known: refuse it past the bound, naming the token at byte
 * at (the operator or the opening parenthesis). */
static struct node *depth_ok(struct parser *p, struct node *n, size_t at)
{
	if (n && n->depth > MT_GATE_MAX_DEPTH) {
		perr(p, DEPTH_MSG, MT_GATE_MAX_DEPTH, column(p->s, at));
		return NULL;
	}
	return n;
}

static struct node *parse_primary(struct parser *p)
{
	struct tok t = p->cur;
	struct node *n;

	switch (t.type) {
	case T_NUM:
	case T_STR:
	case T_TRUE:
	case T_FALSE:
	case T_REF:
		n = new_node(p, t.type == T_NUM ? N_NUM : t.type == T_STR ? N_STR :
			     t.type == T_REF ? N_REF : N_BOOL, t.start, t.end, t.start);
		if (!n)
			return NULL;
		n->num = t.num;
		n->bval = t.type == T_TRUE;
		n->str = t.str;
		n->slen = t.slen;
		n->arg = t.arg;
		n->alen = t.alen;
		n->champion = t.champion;
		n->sp = t.sp;
		return next(p) ? NULL : n;
	case T_LP:
		if (deeper(p) || next(p))
			return NULL;
		n = parse_sum(p);
		if (!n)
			return NULL;
		if (p->cur.type != T_RP) {
			struct shown sh;

			perr(p, "expected ')' after '%s' at column %zu%s, to close the '(' at "
			     "column %zu", show_tok(&sh, p, &p->prev), column(p->s, p->cur.start),
			     p->cur.type == T_END ? " (end of the rule)" : "", column(p->s, t.start));
			return NULL;
		}
		p->depth--;
		n->start = t.start;
		n->end = p->cur.end;
		n->depth++;
		if (!depth_ok(p, n, t.start))
			return NULL;
		return next(p) ? NULL : n;
	case T_NOT:
		perr(p, "'not' at column %zu: not may only start a rule",
		     column(p->s, t.start));
		return NULL;
	default:
		expected(p, "a value");
		return NULL;
	}
}

static struct node *parse_unary(struct parser *p)
{
	struct tok t = p->cur;
	struct node *n, *operand;

	if (t.type != T_SUB)
		return parse_primary(p);
	if (deeper(p) || next(p))
		return NULL;
	operand = parse_unary(p);
	if (!operand)
		return NULL;
	p->depth--;
	n = new_node(p, N_NEG, t.start, operand->end, t.start);
	if (!n)
		return NULL;
	n->l = operand;
	n->depth = operand->depth + 1;
	return depth_ok(p, n, t.start);
}

/* The operator at byte at, with operands l and r. */
static struct node *binary(struct parser *p, enum nkind kind, struct node *l, struct node *r,
			   size_t at)
{
	struct node *n = new_node(p, kind, l->start, r->end, at);

	if (!n)
		return NULL;
	n->l = l;
	n->r = r;
	n->depth = 1 + (l->depth > r->depth ? l->depth : r->depth);
	return depth_ok(p, n, at);
}

static struct node *parse_product(struct parser *p)
{
	struct node *l = parse_unary(p);

	while (l && (p->cur.type == T_MUL || p->cur.type == T_DIV)) {
		enum nkind k = p->cur.type == T_MUL ? N_MUL : N_DIV;
		size_t at = p->cur.start;
		struct node *r;

		if (next(p) || !(r = parse_unary(p)))
			return NULL;
		l = binary(p, k, l, r, at);
	}
	return l;
}

static struct node *parse_sum(struct parser *p)
{
	struct node *l = parse_product(p);

	while (l && (p->cur.type == T_ADD || p->cur.type == T_SUB)) {
		enum nkind k = p->cur.type == T_ADD ? N_ADD : N_SUB;
		size_t at = p->cur.start;
		struct node *r;

		if (next(p) || !(r = parse_product(p)))
			return NULL;
		l = binary(p, k, l, r, at);
	}
	return l;
}

static int parse_rule(struct parser *p)
{
	struct mt_gate_rule *r = p->r;

	if (next(p))
		return -1;
	if (p->cur.type == T_NOT) {
		r->negate = 1;
		if (next(p))
			return -1;
	}
	r->lhs = parse_sum(p);
	if (!r->lhs)
		return -1;
	if (is_cmp(p->cur.type)) {
		static const enum cmp map[] = {
			[T_EQ] = C_EQ, [T_NE] = C_NE, [T_LT] = C_LT, [T_LE] = C_LE,
			[T_GT] = C_GT, [T_GE] = C_GE,
		};

		r->op = map[p->cur.type];
		if (next(p))
			return -1;
		r->rhs = parse_sum(p);
		if (!r->rhs)
			return -1;
	}
	if (p->cur.type == T_END)
		return 0;
	if (is_cmp(p->cur.type)) {
		struct shown sh;

		return perr(p, "second comparison '%s' at column %zu: a rule holds one comparison",
			    show_tok(&sh, p, &p->cur), column(p->s, p->cur.start));
	}
	if (p->cur.type == T_NOT)
		return perr(p, "'not' at column %zu: not may only start a rule",
			    column(p->s, p->cur.start));
	if (p->cur.type == T_RP)
		return perr(p, "unmatched ')' at column %zu", column(p->s, p->cur.start));
	return expected(p, r->rhs ? "the end of the rule" : "an operator");
}

/* Valid UTF-8, no control characters but tab, not empty.  0 or -1. */
static int check_text(struct parser *p)
{
	size_t i = 0;
	int blank = 1;

	while (i < p->len) {
		uint32_t cp;
		size_t k = utf8_at(p->s, p->len, i, &cp);

		if (k == 0)
			return perr(p, "invalid UTF-8 at column %zu", column(p->s, i));
		if ((cp < 0x20 && cp != '\t') || cp == 0x7F)
			return perr(p, "control character 0x%02x at column %zu", (unsigned)cp,
				    column(p->s, i));
		if (cp >= 0x80 && cp <= 0x9F)
			return perr(p, "control character U+%04X at column %zu", (unsigned)cp,
				    column(p->s, i));
		if (!is_ws((int)cp))
			blank = 0;
		i += k;
	}
	return blank ? perr(p, "empty rule") : 0;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

struct mt_gate_rule *mt_gate_parse(const char *text, char *err, size_t errlen)
{
	struct parser p;
	struct mt_gate_rule *r;
	size_t len;

	if (err && errlen > 0)
		err[0] = '\0';
	if (!text) {
		set_err(err, errlen, "empty rule");
		return NULL;
	}
	len = strnlen(text, MT_GATE_MAX_RULE_LEN + 1);
	if (len > MT_GATE_MAX_RULE_LEN) {
		if (err && errlen > 0)
			snprintf(err, errlen, "rule is longer than %d bytes", MT_GATE_MAX_RULE_LEN);
		return NULL;
	}
	memset(&p, 0, sizeof(p));
	p.s = text;
	p.len = len;
	p.err = err;
	p.errlen = errlen;
	if (check_text(&p))
		return NULL;

	r = calloc(1, sizeof(*r));
	if (!r)
		goto oom;
	r->len = len;
	r->cap = len + 1 < MT_GATE_MAX_NODES ? len + 1 : MT_GATE_MAX_NODES;
	r->pool_cap = len + 1;
	r->text = malloc(len + 1);
	r->nodes = calloc(r->cap, sizeof(*r->nodes));
	r->pool = malloc(r->pool_cap);
	if (!r->text || !r->nodes || !r->pool)
		goto oom;
	memcpy(r->text, text, len + 1);
	p.r = r;
	p.s = r->text;
	if (parse_rule(&p)) {
		mt_gate_rule_free(r);
		return NULL;
	}
	for (size_t i = 0; i < r->nnodes; i++)
		if (r->nodes[i].kind == N_REF && r->nodes[i].champion)
			r->uses_champion = 1;
		else if (r->nodes[i].kind == N_REF && r->nodes[i].sp >= SP_DRIFT)
			r->uses_monitor = 1;
	return r;
oom:
	mt_gate_rule_free(r);
	set_err(err, errlen, "out of memory");
	return NULL;
}

/* "'<rule>'" for a message: cut, invalid bytes and control characters as
 * '?', so the message stays one line of UTF-8. */
static void quote_rule(char *out, size_t size, const char *text)
{
	struct sb b = { 0 };
	size_t n = text ? strnlen(text, MT_GATE_MAX_RULE_LEN + 1) : 0;
	size_t cut = text ? utf8_cut(text, n, SHOW_MAX) : 0;

	for (size_t i = 0; i < cut;) {
		uint32_t cp;
		size_t k = utf8_at(text, cut, i, &cp);

		if (k == 0 || cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) {
			sb_putc(&b, '?');
			i += k ? k : 1;
		} else {
			sb_putn(&b, text + i, k);
			i += k;
		}
	}
	snprintf(out, size, "'%s%s'", sb_str(&b), cut < n ? "..." : "");
	free(b.p);
}

static int validate(const char *const *rules, size_t n, int alert, char *err, size_t errlen)
{
	char msg[512], quoted[128];

	if (err && errlen > 0)
		err[0] = '\0';
	if (n > MT_GATE_MAX_RULES) {
		if (err && errlen > 0)
			snprintf(err, errlen, "a gate has at most %d rules, not %zu",
				 MT_GATE_MAX_RULES, n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct mt_gate_rule *r = mt_gate_parse(rules ? rules[i] : NULL, msg, sizeof(msg));

		if (r && r->uses_monitor && !alert) {
			snprintf(msg, sizeof(msg), "drift.* and live.* describe a deployed version's "
				 "live data: they belong in monitoring alert rules, not in a gate");
			mt_gate_rule_free(r);
			r = NULL;
		}
		if (!r) {
			quote_rule(quoted, sizeof(quoted), rules ? rules[i] : NULL);
			if (err && errlen > 0) {
				snprintf(err, errlen, "rule %zu %s: %s", i + 1, quoted, msg);
				utf8_trim_tail(err);
			}
			return -1;
		}
		mt_gate_rule_free(r);
	}
	return 0;
}

int mt_gate_validate(const char *const *rules, size_t n, char *err, size_t errlen)
{
	return validate(rules, n, 0, err, errlen);
}

int mt_gate_validate_alert(const char *const *rules, size_t n, char *err, size_t errlen)
{
	return validate(rules, n, 1, err, errlen);
}

/* ------------------------------------------------------------------------
 * Evaluation.
 */

enum vtype { V_NUM, V_STR, V_BOOL };

struct val {
	enum vtype t;
	double num;
	const char *str;  /* borrowed from the rule or a subject; NUL at slen */
	size_t slen;
	int b;
};

enum ev { EV_OK, EV_ERR, EV_ABSENT };

struct ectx {
	const struct mt_gate_rule *r;
	const json_t *subj[2];  /* [0] candidate, [1] champion (may be NULL) */
	const char *who[2];     /* "candidate (version 3)", "champion (version 2)" */
	struct val *vals;       /* per node */
	enum ev *evs;           /* per node */
	char msg[MSG_MAX];      /* the first error */
	int have_msg;
};

static int emsg(struct ectx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record the first error.  Returns EV_ERR. */
static int emsg(struct ectx *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->have_msg) {
		va_start(ap, fmt);
		vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
		va_end(ap);
		utf8_trim_tail(c->msg);
		c->have_msg = 1;
	}
	return EV_ERR;
}

/* A value for people: numbers exact (or with 15 digits when computed),
 * strings double-quoted with JSON-like escapes and cut, booleans. */
static void sb_put_val(struct sb *b, const struct val *v, int computed)
{
	char num[64];

	switch (v->t) {
	case V_NUM:
		if (computed)
			fmt_computed(num, sizeof(num), v->num);
		else
			fmt_exact(num, sizeof(num), v->num);
		sb_puts(b, num);
		break;
	case V_BOOL:
		sb_puts(b, v->b ? "true" : "false");
		break;
	case V_STR: {
		size_t cut = utf8_cut(v->str, v->slen, KEY_SHOW_MAX);

		sb_putc(b, '"');
		for (size_t i = 0; i < cut;) {
			uint32_t cp;
			size_t k = utf8_at(v->str, cut, i, &cp);

			if (k == 0) {
				sb_put_cp(b, REPLACEMENT);
				i++;
				continue;
			}
			if (cp == '"' || cp == '\\') {
				sb_putc(b, '\\');
				sb_putc(b, (char)cp);
			} else if (cp == '\n') {
				sb_puts(b, "\\n");
			} else if (cp == '\t') {
				sb_puts(b, "\\t");
			} else if (cp == '\r') {
				sb_puts(b, "\\r");
			} else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) {
				sb_printf(b, "\\u%04x", (unsigned)cp);
			} else {
				sb_putn(b, v->str + i, k);
			}
			i += k;
		}
		if (cut < v->slen)
			sb_puts(b, "...");
		sb_putc(b, '"');
		break;
	}
	}
}

/* A value into a fixed buffer, for messages. */
struct vshown {
	char b[KEY_SHOW_MAX * 6 + 16];
};

static const char *show_val(struct vshown *vs, const struct val *v)
{
	struct sb b = { 0 };

	sb_put_val(&b, v, 0);
	snprintf(vs->b, sizeof(vs->b), "%s", sb_str(&b));
	free(b.p);
	return vs->b;
}

/* The source text of a node, for messages. */
static const char *show_node(struct shown *sh, const struct ectx *c, const struct node *n)
{
	return show(sh, c->r->text + n->start, n->end - n->start, KEY_SHOW_MAX);
}

/* "metric 'val_loss'", "git.dirty" */
static void thing(char *out, size_t size, const struct node *n)
{
	struct shown sh;

	if (n->sp == SP_GIT || n->sp == SP_BUNDLE)
		snprintf(out, size, "%s.%s", space_names[n->sp], n->str);
	else if (n->sp == SP_DRIFT)
		snprintf(out, size, "drift %s of feature '%s'", n->str,
			 show(&sh, n->arg, n->alen, KEY_SHOW_MAX));
	else
		snprintf(out, size, "%s '%s'", space_things[n->sp],
			 show(&sh, n->str, n->slen, KEY_SHOW_MAX));
}

static int parse_metric_string(const char *s, size_t n, double *out)
{
	if (str_to_num(s, n, out))
		return 1;
	if (strcmp(s, "NaN") == 0 || strcmp(s, "nan") == 0) {
		*out = NAN;
		return 1;
	}
	if (strcmp(s, "Infinity") == 0 || strcmp(s, "inf") == 0) {
		*out = INFINITY;
		return 1;
	}
	if (strcmp(s, "-Infinity") == 0 || strcmp(s, "-inf") == 0) {
		*out = -INFINITY;
		return 1;
	}
	return 0;
}

static __attribute__((noinline)) enum ev lookup(struct ectx *c, const struct node *n,
						struct val *out)
{
	int who = n->champion ? 1 : 0;
	const json_t *subj = c->subj[who], *ns, *v;
	char what[KEY_SHOW_MAX + 32];
	struct vshown vs;

	if (who == 1 && !subj)
		return EV_ABSENT;
	thing(what, sizeof(what), n);
	ns = json_object_get(subj, space_names[n->sp]);
	v = json_is_object(ns) ? json_object_get(ns, n->str) : NULL;
	if (n->sp == SP_DRIFT)  /* {"drift": {"psi": {"age": 0.1}}} */
		v = json_is_object(v) ? json_object_get(v, n->arg) : NULL;
	if (!v || json_is_null(v)) {
		if (!json_is_object(ns) && n->sp == SP_GIT)
			return emsg(c, "%s has no %s (no git provenance recorded)", c->who[who], what);
		if (!json_is_object(ns) && n->sp == SP_BUNDLE)
			return emsg(c, "%s has no %s (no bundle)", c->who[who], what);
		return emsg(c, "%s has no %s", c->who[who], what);
	}
	memset(out, 0, sizeof(*out));
	if (json_is_string(v)) {
		out->t = V_STR;
		out->str = json_string_value(v);
		out->slen = json_string_length(v);
	} else if (json_is_integer(v)) {
		out->t = V_NUM;
		out->num = (double)json_integer_value(v);
	} else if (json_is_real(v)) {
		out->t = V_NUM;
		out->num = json_real_value(v);
	} else if (json_is_boolean(v)) {
		out->t = V_BOOL;
		out->b = json_is_true(v);
	} else {
		return emsg(c, "%s of %s is %s, not a number, string or boolean", what, c->who[who],
			    json_is_object(v) ? "an object" : "an array");
	}
	if (n->sp == SP_METRICS || n->sp == SP_DRIFT || n->sp == SP_LIVE) {
		if (out->t == V_BOOL)
			return emsg(c, "%s of %s is a boolean, not a number", what, c->who[who]);
		if (out->t == V_STR) {
			double d;

			if (!parse_metric_string(out->str, out->slen, &d))
				return emsg(c, "%s of %s is %s, not a number", what, c->who[who],
					    show_val(&vs, out));
			out->t = V_NUM;
			out->num = d;
		}
	}
	if (out->t == V_NUM && !isfinite(out->num))
		return emsg(c, "%s of %s is %s, which cannot be compared", what, c->who[who],
			    isnan(out->num) ? "NaN" : out->num > 0 ? "infinite" : "-infinite");
	return EV_OK;
}

/* "division by zero in <expression>".  Out of line, as every message
 * helper eval calls, so that eval's own frame stays small: it recurses. */
static __attribute__((noinline)) enum ev arith_error(struct ectx *c, const char *what,
						     const struct node *n)
{
	struct shown sh;

	return emsg(c, "%s in %s", what, show_node(&sh, c, n));
}

/* A value as a number: numbers, and strings that are numbers in full. */
static __attribute__((noinline)) enum ev to_num(struct ectx *c, const struct node *n,
						const struct val *v, double *out)
{
	struct shown sh;
	struct vshown vs;

	if (v->t == V_NUM) {
		*out = v->num;
		return EV_OK;
	}
	if (v->t == V_STR && str_to_num(v->str, v->slen, out))
		return EV_OK;
	if (v->t == V_BOOL)
		return emsg(c, "%s is %s, a boolean, not a number", show_node(&sh, c, n),
			    v->b ? "true" : "false");
	return emsg(c, "%s is %s, which is not a number", show_node(&sh, c, n), show_val(&vs, v));
}

/* Evaluate n, `level` levels below the top of its side (at most its
 * depth, so never more than MT_GATE_MAX_DEPTH for a parsed rule: the check
 * bounds the recursion whatever made the tree). */
static enum ev eval(struct ectx *c, const struct node *n, int level)
{
	struct val *out = &c->vals[n->idx];
	enum ev e = EV_OK, el, er;
	double a, b, d = 0;

	memset(out, 0, sizeof(*out));
	if (level > MT_GATE_MAX_DEPTH)
		return c->evs[n->idx] = emsg(c, "deeper than %d levels", MT_GATE_MAX_DEPTH);
	switch (n->kind) {
	case N_NUM:
		out->t = V_NUM;
		out->num = n->num;
		break;
	case N_STR:
		out->t = V_STR;
		out->str = n->str;
		out->slen = n->slen;
		break;
	case N_BOOL:
		out->t = V_BOOL;
		out->b = n->bval;
		break;
	case N_REF:
		e = lookup(c, n, out);
		break;
	case N_NEG:
		e = eval(c, n->l, level + 1);
		if (e == EV_OK)
			e = to_num(c, n->l, &c->vals[n->l->idx], &a);
		if (e == EV_OK) {
			out->t = V_NUM;
			out->num = -a;
		}
		break;
	default:
		/* Both sides always, so an error on the right is found even when
		 * the left has no champion. */
		el = eval(c, n->l, level + 1);
		er = eval(c, n->r, level + 1);
		if (el == EV_ERR || er == EV_ERR) {
			e = EV_ERR;
			break;
		}
		if (el == EV_ABSENT || er == EV_ABSENT) {
			e = EV_ABSENT;
			break;
		}
		if ((e = to_num(c, n->l, &c->vals[n->l->idx], &a)) != EV_OK ||
		    (e = to_num(c, n->r, &c->vals[n->r->idx], &b)) != EV_OK)
			break;
		switch (n->kind) {
		case N_ADD: d = a + b; break;
		case N_SUB: d = a - b; break;
		case N_MUL: d = a * b; break;
		default:
			if (b == 0) {
				e = arith_error(c, "division by zero", n);
				break;
			}
			d = a / b;
			break;
		}
		if (e == EV_OK && !isfinite(d))
			e = arith_error(c, "arithmetic overflow", n);
		out->t = V_NUM;
		out->num = d;
		break;
	}
	c->evs[n->idx] = e;
	return e;
}

static int has_candidate_ref(const struct node *n, int level)
{
	if (!n || level > MT_GATE_MAX_DEPTH)
		return 0;
	if (n->kind == N_REF)
		return !n->champion;
	return has_candidate_ref(n->l, level + 1) || has_candidate_ref(n->r, level + 1);
}

static int is_leaf(const struct node *n)
{
	return n->kind == N_NUM || n->kind == N_STR || n->kind == N_BOOL || n->kind == N_REF;
}

static int prec(enum nkind k)
{
	switch (k) {
	case N_ADD: case N_SUB: return 1;
	case N_MUL: case N_DIV: return 2;
	case N_NEG: return 3;
	default: return 4;
	}
}

/* The expression with every value filled in: "champion 0.25 × 1.01";
 * level as for eval. */
static void sb_put_expr(struct sb *b, const struct ectx *c, const struct node *n, int level)
{
	static const char *const ops[] = {
		[N_ADD] = " + ", [N_SUB] = " - ", [N_MUL] = " \xC3\x97 ", [N_DIV] = " / ",
	};
	const struct node *kid[2] = { n->l, n->r };

	if (level > MT_GATE_MAX_DEPTH) {
		sb_puts(b, "\xE2\x80\xA6");
		return;
	}
	if (is_leaf(n)) {
		if (n->kind == N_REF && n->champion)
			sb_puts(b, "champion ");
		sb_put_val(b, &c->vals[n->idx], 0);
		return;
	}
	if (n->kind == N_NEG) {
		sb_putc(b, '-');
		if (prec(n->l->kind) < prec(N_NEG)) {
			sb_putc(b, '(');
			sb_put_expr(b, c, n->l, level + 1);
			sb_putc(b, ')');
		} else {
			sb_put_expr(b, c, n->l, level + 1);
		}
		return;
	}
	for (int i = 0; i < 2; i++) {
		int pk = prec(kid[i]->kind), pn = prec(n->kind);
		int paren = pk < pn || (i == 1 && pk == pn && (n->kind == N_SUB || n->kind == N_DIV));

		if (i == 1)
			sb_puts(b, ops[n->kind]);
		if (paren)
			sb_putc(b, '(');
		sb_put_expr(b, c, kid[i], level + 1);
		if (paren)
			sb_putc(b, ')');
	}
}

/* " (how it was computed)" after a side's value, or nothing for a literal
 * and for the candidate's own reference on the actual side. */
static void sb_put_explain(struct sb *b, const struct ectx *c, const struct node *n, int actual)
{
	struct shown sh;

	if (n->kind == N_NUM || n->kind == N_STR || n->kind == N_BOOL)
		return;
	if (n->kind == N_REF) {
		if (n->champion)
			sb_puts(b, " (champion)");
		else if (!actual)
			sb_printf(b, " (%s)", show_node(&sh, c, n));
		return;
	}
	sb_puts(b, " (");
	sb_put_expr(b, c, n, 0);
	sb_putc(b, ')');
}

static void sb_put_side(struct sb *b, const struct ectx *c, const struct node *n, int actual)
{
	sb_put_val(b, &c->vals[n->idx], !is_leaf(n));
	sb_put_explain(b, c, n, actual);
}

static enum cmp mirror(enum cmp op)
{
	switch (op) {
	case C_LT: return C_GT;
	case C_LE: return C_GE;
	case C_GT: return C_LT;
	case C_GE: return C_LE;
	default: return op;
	}
}

/* Exact, since every comparison that is not true or false is an error. */
static enum cmp negated(enum cmp op)
{
	switch (op) {
	case C_EQ: return C_NE;
	case C_NE: return C_EQ;
	case C_LT: return C_GE;
	case C_LE: return C_GT;
	case C_GT: return C_LE;
	case C_GE: return C_LT;
	default: return op;
	}
}

/* "true"/"false" in any case. */
static int str_bool(const struct val *v, int *out)
{
	if (v->t != V_STR)
		return 0;
	if (word_is_ci(v->str, v->slen, "true")) {
		*out = 1;
		return 1;
	}
	if (word_is_ci(v->str, v->slen, "false")) {
		*out = 0;
		return 1;
	}
	return 0;
}

static enum ev to_bool(struct ectx *c, const struct node *n, const struct val *v, int *out)
{
	struct shown sh;
	struct vshown vs;

	if (v->t == V_BOOL) {
		*out = v->b;
		return EV_OK;
	}
	if (str_bool(v, out))
		return EV_OK;
	if (v->t == V_NUM)
		return emsg(c, "%s is a number, %s; a rule without a comparison needs true or "
			    "false, as in bundle.verified", show_node(&sh, c, n), show_val(&vs, v));
	return emsg(c, "%s is %s, which is not true or false", show_node(&sh, c, n),
		    show_val(&vs, v));
}

/* Compare two evaluated sides: *out 1 or 0, or EV_ERR. */
static enum ev compare(struct ectx *c, enum cmp op, const struct node *na, const struct node *nb,
		       int *out)
{
	const struct val *a = &c->vals[na->idx], *b = &c->vals[nb->idx];
	int ordering = op != C_EQ && op != C_NE;
	struct shown sh;
	struct vshown vs;
	int r = 0;

	if (a->t == V_NUM || b->t == V_NUM) {
		double x, y;

		if (a->t == V_BOOL || b->t == V_BOOL)
			return emsg(c, "cannot compare a number with a boolean (%s is %s)",
				    show_node(&sh, c, a->t == V_BOOL ? na : nb),
				    (a->t == V_BOOL ? a : b)->b ? "true" : "false");
		if (to_num(c, na, a, &x) != EV_OK || to_num(c, nb, b, &y) != EV_OK)
			return EV_ERR;
		switch (op) {
		case C_EQ: r = x == y; break;
		case C_NE: r = x != y; break;
		case C_LT: r = x < y; break;
		case C_LE: r = x <= y; break;
		case C_GT: r = x > y; break;
		case C_GE: r = x >= y; break;
		default: break;
		}
	} else if (a->t == V_BOOL || b->t == V_BOOL) {
		int x, y;

		if (to_bool(c, na, a, &x) != EV_OK || to_bool(c, nb, b, &y) != EV_OK)
			return EV_ERR;
		if (ordering)
			return emsg(c, "cannot order booleans with %s: use == or !=", cmp_names[op]);
		r = (x == y) == (op == C_EQ);
	} else {
		if (ordering)
			return emsg(c, "cannot order strings (%s is %s): strings support only == "
				    "and !=; multiply by 1 to compare a number held in a string",
				    show_node(&sh, c, na), show_val(&vs, a));
		r = (a->slen == b->slen && memcmp(a->str, b->str, a->slen) == 0) == (op == C_EQ);
	}
	*out = r;
	return EV_OK;
}

/* The result of one rule, as the report shows it. */
struct outcome {
	enum { O_PASS, O_FAIL, O_ERROR } status;
	int no_champion;
	struct sb actual, required, message;  /* actual/required empty: unknown */
	int has_actual, has_required;
};

static void absent_message(struct outcome *o, const char *stage)
{
	o->status = O_PASS;
	o->no_champion = 1;
	sb_printf(&o->message, "no champion holds %s yet", stage ? stage : "the stage");
}

static void eval_rule(struct ectx *c, const char *stage, struct outcome *o)
{
	const struct mt_gate_rule *r = c->r;
	struct shown sh;

	if (r->op == C_NONE) {
		enum ev e = eval(c, r->lhs, 0);
		int v = 0;

		sb_puts(&o->required, r->negate ? "false" : "true");
		o->has_required = 1;
		if (e == EV_OK && to_bool(c, r->lhs, &c->vals[r->lhs->idx], &v) != EV_OK)
			e = EV_ERR;
		if (e == EV_ERR) {
			o->status = O_ERROR;
			sb_puts(&o->message, c->msg);
			return;
		}
		if (e == EV_ABSENT) {
			absent_message(o, stage);
			return;
		}
		sb_put_side(&o->actual, c, r->lhs, 1);
		o->has_actual = 1;
		o->status = (v != r->negate) ? O_PASS : O_FAIL;
		sb_printf(&o->message, "%s is %s, needs %s", show_node(&sh, c, r->lhs),
			  sb_str(&o->actual), sb_str(&o->required));
		return;
	}
	{
		int swap = !has_candidate_ref(r->lhs, 0) && has_candidate_ref(r->rhs, 0);
		const struct node *a = swap ? r->rhs : r->lhs, *q = swap ? r->lhs : r->rhs;
		enum cmp op = swap ? mirror(r->op) : r->op;
		enum ev ea, eq;
		int v = 0;

		if (r->negate)
			op = negated(op);
		ea = eval(c, a, 0);
		eq = eval(c, q, 0);
		if (ea == EV_OK) {
			sb_put_side(&o->actual, c, a, 1);
			o->has_actual = 1;
		}
		if (eq == EV_OK) {
			sb_printf(&o->required, "%s ", cmp_names[op]);
			sb_put_side(&o->required, c, q, 0);
			o->has_required = 1;
		} else if (eq == EV_ABSENT) {
			sb_printf(&o->required, "%s %s", cmp_names[op], show_node(&sh, c, q));
			o->has_required = 1;
		}
		if (ea == EV_ERR || eq == EV_ERR) {
			o->status = O_ERROR;
			sb_puts(&o->message, c->msg);
			return;
		}
		if (ea == EV_ABSENT || eq == EV_ABSENT) {
			absent_message(o, stage);
			return;
		}
		if (compare(c, op, a, q, &v) != EV_OK) {
			o->status = O_ERROR;
			sb_puts(&o->message, c->msg);
			return;
		}
		o->status = v ? O_PASS : O_FAIL;
		sb_printf(&o->message, "%s is %s, needs %s", show_node(&sh, c, a),
			  sb_str(&o->actual), sb_str(&o->required));
	}
}

/* ------------------------------------------------------------------------
 * The report.
 */

/* A JSON string from bytes that may not be valid UTF-8 (jansson refuses
 * those): ill-formed bytes become U+FFFD.  NULL s gives null. */
static json_t *jstr_n(const char *s, size_t n)
{
	struct sb b = { 0 };
	json_t *j;

	if (!s)
		return json_null();
	j = json_stringn(s, n);
	if (j)
		return j;
	sb_put_utf8_fixed(&b, s, n);
	j = b.oom ? NULL : json_stringn(b.p ? b.p : "", b.len);
	free(b.p);
	return j;
}

static json_t *jstr(const char *s)
{
	return jstr_n(s, s ? strlen(s) : 0);
}

struct jb {
	int oom;
};

/* json_object_set_new that remembers failure; v may be NULL (OOM). */
static void jset(struct jb *jb, json_t *obj, const char *key, json_t *v)
{
	if (!v || !obj || json_object_set_new(obj, key, v) != 0)
		jb->oom = 1;
}

/* A subject's string member (or an integer one, as text), else NULL. */
static const char *subject_str(const json_t *subj, const char *key, char *buf, size_t size)
{
	const json_t *v = json_is_object(subj) ? json_object_get(subj, key) : NULL;

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	return NULL;
}

/* "candidate (version 3)", cut so messages stay short. */
static void who_name(char *out, size_t size, const char *role, const json_t *subj)
{
	char buf[32];
	const char *ver = subject_str(subj, "version", buf, sizeof(buf));
	struct shown sh;

	if (ver)
		snprintf(out, size, "%s (version %s)", role,
			 show(&sh, ver, strlen(ver), 24));
	else
		snprintf(out, size, "%s", role);
}

/* The rule text for the report: at most MT_GATE_MAX_RULE_LEN bytes, ill-formed
 * UTF-8 replaced. */
static json_t *rule_text_json(const char *text)
{
	struct sb b = { 0 };
	size_t n, cut;
	json_t *j;

	if (!text)
		return json_string("");
	n = strnlen(text, MT_GATE_MAX_RULE_LEN + 1);
	cut = utf8_cut(text, n, MT_GATE_MAX_RULE_LEN);
	sb_put_utf8_fixed(&b, text, cut);
	if (cut < n)
		sb_puts(&b, "\xE2\x80\xA6");
	j = b.oom ? NULL : json_stringn(b.p ? b.p : "", b.len);
	free(b.p);
	return j;
}

static const char *const status_names[] = { "pass", "fail", "error" };

static json_t *evaluate_one(struct jb *jb, const char *text, const json_t *candidate,
			    const json_t *champion, const char *stage, const char *who[2],
			    int *status)
{
	struct outcome o;
	json_t *item = json_object();
	char err[512];
	struct mt_gate_rule *r;

	memset(&o, 0, sizeof(o));
	if (!item) {
		jb->oom = 1;
		return NULL;
	}
	r = mt_gate_parse(text, err, sizeof(err));
	if (!r) {
		o.status = O_ERROR;
		sb_printf(&o.message, "does not parse: %s", err);
	} else {
		struct ectx *c = calloc(1, sizeof(*c));

		if (c) {
			c->vals = calloc(r->nnodes ? r->nnodes : 1, sizeof(*c->vals));
			c->evs = calloc(r->nnodes ? r->nnodes : 1, sizeof(*c->evs));
		}
		if (!c || !c->vals || !c->evs) {
			jb->oom = 1;
		} else {
			c->r = r;
			c->subj[0] = candidate;
			c->subj[1] = champion;
			c->who[0] = who[0];
			c->who[1] = who[1];
			eval_rule(c, stage, &o);
		}
		if (c) {
			free(c->vals);
			free(c->evs);
		}
		free(c);
		mt_gate_rule_free(r);
	}
	jset(jb, item, "rule", rule_text_json(text));
	jset(jb, item, "status", json_string(status_names[o.status]));
	jset(jb, item, "passed", json_boolean(o.status == O_PASS));
	jset(jb, item, "no_champion", json_boolean(o.no_champion));
	jset(jb, item, "actual", o.has_actual ? jstr(sb_str(&o.actual)) : json_null());
	jset(jb, item, "required", o.has_required ? jstr(sb_str(&o.required)) : json_null());
	jset(jb, item, "message", jstr(sb_str(&o.message)));
	if (o.actual.oom || o.required.oom || o.message.oom)
		jb->oom = 1;
	free(o.actual.p);
	free(o.required.p);
	free(o.message.p);
	*status = (int)o.status;
	return item;
}

json_t *mt_gate_evaluate(const char *const *rules, size_t n, const json_t *candidate,
			 const json_t *champion, const char *stage)
{
	struct jb jb = { 0 };
	json_t *report = json_object(), *list = json_array(), *ch = NULL, *summary = json_object();
	char who_cand[64], who_champ[64], buf[32];
	const char *who[2] = { who_cand, who_champ };
	const char *stage_shown = NULL;
	struct shown stage_sh;
	size_t counts[3] = { 0, 0, 0 };

	if (!report || !list || !summary) {
		json_decref(report);
		json_decref(list);
		json_decref(summary);
		return NULL;
	}
	if (!json_is_object(candidate))
		candidate = NULL;
	if (!json_is_object(champion))
		champion = NULL;  /* not a subject: no champion */
	who_name(who_cand, sizeof(who_cand), "candidate", candidate);
	who_name(who_champ, sizeof(who_champ), "champion", champion);
	if (stage)
		stage_shown = show(&stage_sh, stage, strlen(stage), KEY_SHOW_MAX);

	jset(&jb, report, "model", jstr(subject_str(candidate, "name", buf, sizeof(buf))));
	jset(&jb, report, "version", jstr(subject_str(candidate, "version", buf, sizeof(buf))));
	jset(&jb, report, "run_id", jstr(subject_str(candidate, "run_id", buf, sizeof(buf))));
	jset(&jb, report, "stage", jstr(stage));
	jset(&jb, report, "passed", json_false());  /* set below */
	if (champion) {
		ch = json_object();
		jset(&jb, ch, "version", jstr(subject_str(champion, "version", buf, sizeof(buf))));
		jset(&jb, ch, "run_id", jstr(subject_str(champion, "run_id", buf, sizeof(buf))));
		jset(&jb, report, "champion", ch);
	} else {
		jset(&jb, report, "champion", json_null());
	}
	for (size_t i = 0; i < n && !jb.oom; i++) {
		int status = O_ERROR;
		json_t *item = evaluate_one(&jb, rules ? rules[i] : NULL, candidate, champion,
					    stage_shown, who, &status);

		if (!item || json_array_append_new(list, item) != 0)
			jb.oom = 1;
		counts[status]++;
	}
	jset(&jb, report, "rules", list);
	jset(&jb, report, "passed", json_boolean(counts[O_FAIL] == 0 && counts[O_ERROR] == 0));
	jset(&jb, summary, "total", json_integer((json_int_t)n));
	jset(&jb, summary, "passed", json_integer((json_int_t)counts[O_PASS]));
	jset(&jb, summary, "failed", json_integer((json_int_t)counts[O_FAIL]));
	jset(&jb, summary, "errors", json_integer((json_int_t)counts[O_ERROR]));
	jset(&jb, report, "summary", summary);
	if (jb.oom) {
		json_decref(report);
		return NULL;
	}
	return report;
}

int mt_gate_report_passed(const json_t *report)
{
	return json_is_object(report) && json_is_true(json_object_get(report, "passed"));
}

int mt_gate_format_parse(const char *name, enum mt_gate_format *out)
{
	static const struct { const char *name; enum mt_gate_format fmt; } names[] = {
		{ "text", MT_GATE_TEXT }, { "json", MT_GATE_JSON }, { "junit", MT_GATE_JUNIT },
		{ "markdown", MT_GATE_MARKDOWN }, { "md", MT_GATE_MARKDOWN },
	};

	if (!name)
		return -1;
	for (size_t i = 0; i < N_ELEMS(names); i++)
		if (strcmp(name, names[i].name) == 0) {
			*out = names[i].fmt;
			return 0;
		}
	return -1;
}

/* ------------------------------------------------------------------------
 * Rendering.  The report is read defensively: it may have come over the
 * network.
 */

struct view_rule {
	const char *rule, *status_name, *actual, *required, *message;
	int status;  /* O_PASS, O_FAIL, O_ERROR */
	int no_champion;
};

struct view {
	const char *model, *version, *run_id, *stage;
	const char *champ_version, *champ_run_id;
	int has_champion;
	int passed;
	size_t counts[3], total;
	const json_t *rules;  /* array or NULL */
};

static const char *jget_str(const json_t *o, const char *key)
{
	const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void view_rule_at(const struct view *v, size_t i, struct view_rule *vr)
{
	const json_t *o = json_array_get(v->rules, i);
	const char *st;

	memset(vr, 0, sizeof(*vr));
	vr->rule = jget_str(o, "rule");
	vr->actual = jget_str(o, "actual");
	vr->required = jget_str(o, "required");
	vr->message = jget_str(o, "message");
	vr->no_champion = json_is_true(json_object_get(o, "no_champion"));
	st = jget_str(o, "status");
	vr->status = O_ERROR;
	if (st && strcmp(st, "pass") == 0)
		vr->status = O_PASS;
	else if (st && strcmp(st, "fail") == 0)
		vr->status = O_FAIL;
}

static void view_init(struct view *v, const json_t *report)
{
	const json_t *ch = json_is_object(report) ? json_object_get(report, "champion") : NULL;
	const json_t *rules = json_is_object(report) ? json_object_get(report, "rules") : NULL;

	memset(v, 0, sizeof(*v));
	v->model = jget_str(report, "model");
	v->version = jget_str(report, "version");
	v->run_id = jget_str(report, "run_id");
	v->stage = jget_str(report, "stage");
	v->has_champion = json_is_object(ch);
	v->champ_version = jget_str(ch, "version");
	v->champ_run_id = jget_str(ch, "run_id");
	v->rules = json_is_array(rules) ? rules : NULL;
	v->total = v->rules ? json_array_size(v->rules) : 0;
	for (size_t i = 0; i < v->total; i++) {
		struct view_rule vr;

		view_rule_at(v, i, &vr);
		v->counts[vr.status]++;
	}
	/* The verdict says passed only when the rules agree. */
	v->passed = mt_gate_report_passed(report) && v->counts[O_FAIL] == 0 &&
		    v->counts[O_ERROR] == 0;
}

static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* ---- text ---- */

/* Text for a terminal: control characters as \xNN (\u00NN for C1), so a
 * report cannot move the cursor or change colours; ill-formed UTF-8 bytes
 * as \xNN too. */
static void text_put(struct sb *b, const char *s)
{
	size_t n;

	if (!s) {
		sb_putc(b, '?');
		return;
	}
	n = strlen(s);
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = utf8_at(s, n, i, &cp);

		if (k == 0) {
			sb_printf(b, "\\x%02x", (unsigned char)s[i]);
			i++;
			continue;
		}
		if (cp == '\t')
			sb_putc(b, ' ');
		else if (cp < 0x20 || cp == 0x7F)
			sb_printf(b, "\\x%02x", (unsigned)cp);
		else if (cp >= 0x80 && cp <= 0x9F)
			sb_printf(b, "\\u%04x", (unsigned)cp);
		else
			sb_putn(b, s + i, k);
		i += k;
	}
}

static void render_text(struct sb *b, const struct view *v)
{
	static const char *const labels[] = { "PASS  ", "FAIL  ", "ERROR " };

	sb_puts(b, "gate: ");
	text_put(b, v->model);
	sb_puts(b, " version ");
	text_put(b, v->version);
	sb_puts(b, " -> ");
	text_put(b, v->stage);
	sb_putc(b, '\n');
	if (v->has_champion) {
		sb_puts(b, "champion: version ");
		text_put(b, v->champ_version);
		if (v->champ_run_id) {
			sb_puts(b, ", run ");
			text_put(b, v->champ_run_id);
		}
	} else {
		sb_puts(b, "champion: none (no version holds ");
		text_put(b, v->stage);
		sb_putc(b, ')');
	}
	sb_putc(b, '\n');
	for (size_t i = 0; i < v->total; i++) {
		struct view_rule vr;

		view_rule_at(v, i, &vr);
		sb_puts(b, labels[vr.status]);
		text_put(b, vr.rule);
		sb_puts(b, " -- ");
		text_put(b, vr.message);
		sb_putc(b, '\n');
	}
	if (v->total == 0)
		sb_puts(b, "PASSED: no rules\n");
	else if (v->passed)
		sb_printf(b, "PASSED: %zu of %zu %s passed\n", v->counts[O_PASS], v->total,
			  plural(v->total, "rule", "rules"));
	else
		sb_printf(b, "FAILED: %zu passed, %zu failed, %zu %s (%zu %s)\n",
			  v->counts[O_PASS], v->counts[O_FAIL], v->counts[O_ERROR],
			  plural(v->counts[O_ERROR], "error", "errors"), v->total,
			  plural(v->total, "rule", "rules"));
}

/* ---- JUnit XML ---- */

/* XML 1.0 character data or attribute value: & < > " ' escaped, tab/newline/
 * CR as references in attributes (so they survive normalisation), and
 * everything XML 1.0 cannot hold (other controls, U+FFFE/U+FFFF, ill-formed
 * UTF-8) as U+FFFD. */
static void xml_put(struct sb *b, const char *s, int attr)
{
	size_t n = s ? strlen(s) : 0;

	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = utf8_at(s, n, i, &cp);

		if (k == 0) {
			sb_put_cp(b, REPLACEMENT);
			i++;
			continue;
		}
		switch (cp) {
		case '&': sb_puts(b, "&amp;"); break;
		case '<': sb_puts(b, "&lt;"); break;
		case '>': sb_puts(b, "&gt;"); break;
		case '"': sb_puts(b, "&quot;"); break;
		case '\'': sb_puts(b, "&apos;"); break;
		case '\t': case '\n': case '\r':
			if (attr)
				sb_printf(b, "&#%u;", (unsigned)cp);
			else
				sb_putc(b, (char)cp);
			break;
		default:
			if (cp < 0x20 || cp == 0xFFFE || cp == 0xFFFF)
				sb_put_cp(b, REPLACEMENT);
			else
				sb_putn(b, s + i, k);
		}
		i += k;
	}
}

static void xml_property(struct sb *b, const char *name, const char *value)
{
	if (!value)
		return;
	sb_printf(b, "      <property name=\"%s\" value=\"", name);
	xml_put(b, value, 1);
	sb_puts(b, "\"/>\n");
}

static void render_junit(struct sb *b, const struct view *v)
{
	struct sb cls = { 0 };
	const char *cname;

	sb_puts(&cls, "gate.");
	sb_puts(&cls, v->model ? v->model : "unknown");
	sb_putc(&cls, '.');
	sb_puts(&cls, v->stage ? v->stage : "unknown");
	if (cls.oom)
		b->oom = 1;
	cname = sb_str(&cls);

	sb_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	sb_printf(b, "<testsuites name=\"mltrack gate\" tests=\"%zu\" failures=\"%zu\" "
		  "errors=\"%zu\">\n", v->total, v->counts[O_FAIL], v->counts[O_ERROR]);
	sb_puts(b, "  <testsuite name=\"");
	xml_put(b, cname, 1);
	sb_printf(b, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"0\">\n",
		  v->total, v->counts[O_FAIL], v->counts[O_ERROR]);
	sb_puts(b, "    <properties>\n");
	xml_property(b, "model", v->model);
	xml_property(b, "version", v->version);
	xml_property(b, "stage", v->stage);
	xml_property(b, "run_id", v->run_id);
	if (v->has_champion) {
		xml_property(b, "champion_version", v->champ_version);
		xml_property(b, "champion_run_id", v->champ_run_id);
	}
	xml_property(b, "passed", v->passed ? "true" : "false");
	sb_puts(b, "    </properties>\n");
	for (size_t i = 0; i < v->total; i++) {
		struct view_rule vr;
		const char *el = NULL;

		view_rule_at(v, i, &vr);
		sb_puts(b, "    <testcase classname=\"");
		xml_put(b, cname, 1);
		sb_puts(b, "\" name=\"");
		xml_put(b, vr.rule ? vr.rule : "", 1);
		sb_puts(b, "\">\n");
		if (vr.status == O_FAIL)
			el = "failure";
		else if (vr.status == O_ERROR)
			el = "error";
		if (el) {
			sb_printf(b, "      <%s message=\"", el);
			xml_put(b, vr.message ? vr.message : "", 1);
			sb_printf(b, "\" type=\"%s\">", vr.status == O_FAIL ? "GateRuleFailed"
									     : "GateRuleError");
			sb_puts(b, "actual: ");
			xml_put(b, vr.actual ? vr.actual : "unknown", 0);
			sb_puts(b, "\nrequired: ");
			xml_put(b, vr.required ? vr.required : "unknown", 0);
			sb_printf(b, "</%s>\n", el);
		} else {
			sb_puts(b, "      <system-out>");
			xml_put(b, vr.message ? vr.message : "", 0);
			sb_puts(b, "</system-out>\n");
		}
		sb_puts(b, "    </testcase>\n");
	}
	sb_puts(b, "  </testsuite>\n</testsuites>\n");
	free(cls.p);
}

/* ---- Markdown (GitHub-flavoured) ---- */

/* Control characters and line breaks in a table cell or heading. */
static int md_blank(uint32_t cp)
{
	return cp == '\n' || cp == '\r' || cp == '\t';
}

static int md_bad(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

/* A code span: fenced with one backtick more than the longest run inside,
 * padded with spaces when the content starts or ends with a backtick or a
 * space (CommonMark strips one of each), pipes escaped for the table; line
 * breaks become spaces and other controls U+FFFD.  NULL or "" gives an em
 * dash. */
static void md_code(struct sb *b, const char *s)
{
	size_t n = s ? strlen(s) : 0, run = 0, longest = 0;
	int pad;

	if (n == 0) {
		sb_puts(b, "\xE2\x80\x94");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		run = s[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	pad = s[0] == '`' || s[0] == ' ' || s[n - 1] == '`' || s[n - 1] == ' ';
	for (size_t i = 0; i <= longest; i++)
		sb_putc(b, '`');
	if (pad)
		sb_putc(b, ' ');
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = utf8_at(s, n, i, &cp);

		if (k == 0) {
			sb_put_cp(b, REPLACEMENT);
			i++;
			continue;
		}
		if (md_blank(cp))
			sb_putc(b, ' ');
		else if (md_bad(cp))
			sb_put_cp(b, REPLACEMENT);
		else if (cp == '|')
			sb_puts(b, "\\|");
		else
			sb_putn(b, s + i, k);
		i += k;
	}
	if (pad)
		sb_putc(b, ' ');
	for (size_t i = 0; i <= longest; i++)
		sb_putc(b, '`');
}

/* Plain text: markdown's active characters backslash-escaped, line breaks as
 * spaces, other controls U+FFFD.  NULL gives "?". */
static void md_text(struct sb *b, const char *s)
{
	size_t n;

	if (!s) {
		sb_putc(b, '?');
		return;
	}
	n = strlen(s);
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = utf8_at(s, n, i, &cp);

		if (k == 0) {
			sb_put_cp(b, REPLACEMENT);
			i++;
			continue;
		}
		if (md_blank(cp)) {
			sb_putc(b, ' ');
		} else if (md_bad(cp)) {
			sb_put_cp(b, REPLACEMENT);
		} else {
			if (cp < 0x80 && strchr("\\`*_[]<>|~&", (int)cp))
				sb_putc(b, '\\');
			sb_putn(b, s + i, k);
		}
		i += k;
	}
}

/* A run id worth linking to: 1 to 64 of [0-9A-Za-z_-]. */
static int run_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_word_ch((unsigned char)id[i]) && id[i] != '-')
			return 0;
	return 1;
}

/* "<base_url>/runs/<run_id>" as a link destination: bytes that could end
 * or break it percent-encoded. */
static void md_url(struct sb *b, const char *base, const char *run_id)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)base[i];

		if (c <= 0x20 || c >= 0x7F || strchr("<>()[]\"'\\`|^{}", c))
			sb_printf(b, "%%%02X", c);
		else
			sb_putc(b, (char)c);
	}
	sb_puts(b, "/runs/");
	sb_puts(b, run_id);
}

/* "version 3, run [`0123abcd`](url)" */
static void md_version(struct sb *b, const char *version, const char *run_id, const char *base)
{
	sb_puts(b, "version ");
	md_text(b, version);
	if (!run_id)
		return;
	sb_puts(b, ", run ");
	if (base && *base && run_id_ok(run_id)) {
		sb_printf(b, "[`%.8s`](", run_id);
		md_url(b, base, run_id);
		sb_putc(b, ')');
	} else {
		md_code(b, run_id);
	}
}

static void render_markdown(struct sb *b, const struct view *v, const char *base)
{
	sb_puts(b, v->passed ? "### \xE2\x9C\x85 Gate passed: " : "### \xE2\x9D\x8C Gate failed: ");
	md_code(b, v->model);
	sb_puts(b, " version ");
	md_text(b, v->version);
	sb_puts(b, " \xE2\x86\x92 ");
	md_text(b, v->stage);
	sb_puts(b, "\n\n**Candidate:** ");
	md_version(b, v->version, v->run_id, base);
	sb_puts(b, " \xC2\xB7 **Champion:** ");
	if (v->has_champion) {
		md_version(b, v->champ_version, v->champ_run_id, base);
	} else {
		sb_puts(b, "none (no version holds ");
		md_text(b, v->stage);
		sb_puts(b, " yet)");
	}
	sb_puts(b, "\n\n");
	if (v->total == 0) {
		sb_puts(b, "No rules: the gate passes.\n");
		return;
	}
	sb_puts(b, "| Rule | Actual | Required | Result |\n| --- | --- | --- | --- |\n");
	for (size_t i = 0; i < v->total; i++) {
		struct view_rule vr;

		view_rule_at(v, i, &vr);
		sb_puts(b, "| ");
		md_code(b, vr.rule);
		sb_puts(b, " | ");
		md_code(b, vr.actual);
		sb_puts(b, " | ");
		md_code(b, vr.required);
		sb_puts(b, " | ");
		if (vr.status == O_PASS) {
			sb_puts(b, "\xE2\x9C\x85 pass");
			if (vr.no_champion)
				sb_puts(b, " (no champion yet)");
		} else if (vr.status == O_FAIL) {
			sb_puts(b, "\xE2\x9D\x8C fail");
		} else {
			sb_puts(b, "\xE2\x9A\xA0\xEF\xB8\x8F error: ");
			md_text(b, vr.message);
		}
		sb_puts(b, " |\n");
	}
	sb_printf(b, "\n%zu passed \xC2\xB7 %zu failed \xC2\xB7 %zu %s \xC2\xB7 %zu %s\n",
		  v->counts[O_PASS], v->counts[O_FAIL], v->counts[O_ERROR],
		  plural(v->counts[O_ERROR], "error", "errors"), v->total,
		  plural(v->total, "rule", "rules"));
}

/* ---- JSON ---- */

static int json_sink(const char *buffer, size_t size, void *data)
{
	struct sb *b = data;

	sb_putn(b, buffer, size);
	return b->oom ? -1 : 0;
}

char *mt_gate_render(const json_t *report, enum mt_gate_format fmt, const char *base_url)
{
	struct sb b = { 0 };
	struct view v;

	view_init(&v, report);
	switch (fmt) {
	case MT_GATE_JSON:
		if (!report) {
			sb_puts(&b, "null");
		} else if (json_dump_callback(report, json_sink, &b,
					      JSON_INDENT(2) | JSON_ENCODE_ANY) != 0) {
			b.oom = 1;
		}
		sb_putc(&b, '\n');
		break;
	case MT_GATE_JUNIT:
		render_junit(&b, &v);
		break;
	case MT_GATE_MARKDOWN:
		render_markdown(&b, &v, base_url);
		break;
	case MT_GATE_TEXT:
	default:
		render_text(&b, &v);
		break;
	}
	return sb_finish(&b);
}
