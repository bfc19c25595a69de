/*
 * check_gate: promotion-gate rules (lib/mt_gate).
 *
 * Parser cases are tables walked by tcase_add_loop_test (a failure names the
 * row, _i): valid rules with whether they name champion, and invalid ones with
 * the exact message.  Evaluation cases are a table of rule -> status, actual,
 * required and message against one candidate and one champion, plus cases
 * with no champion.  Every renderer is checked on content; the JUnit XML is
 * also parsed by python3's xml.etree, which must read back every rule name
 * exactly, hostile characters included.
 */
#include "mt_check.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "mt_gate.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define TIMEOUT 20

static const char CANDIDATE[] =
	"{\"name\": \"churn\", \"version\": \"3\", \"run_id\": \"0123456789abcdef0123456789abcdef\","
	" \"metrics\": {\"val_accuracy\": 0.93, \"val_loss\": 0.3, \"f1\": 0.8, \"nan_m\": \"NaN\","
	"   \"inf_m\": \"Infinity\", \"str_m\": \"0.5\", \"bad_m\": \"high\", \"int_m\": 7,"
	"   \"bool_m\": true, \"val loss\": 0.2, \"null_m\": null},"
	" \"params\": {\"dataset\": \"v2\", \"lr\": \"0.01\", \"depth\": \"10\", \"n\": 12,"
	"   \"flag\": \"True\", \"obj\": {\"a\": 1}, \"a-1\": \"5\"},"
	" \"tags\": {\"reviewed\": \"true\", \"owner\": \"ana\", \"weird\": \"a|b`c\"},"
	" \"git\": {\"dirty\": false, \"commit\": \"abc123\", \"branch\": \"main\","
	"   \"repo_url\": \"https://example.com/r.git\"},"
	" \"bundle\": {\"verified\": true, \"sha256\": \"00ff\"}}";

static const char CHAMPION[] =
	"{\"name\": \"churn\", \"version\": \"2\", \"run_id\": \"fedcba9876543210fedcba9876543210\","
	" \"metrics\": {\"val_accuracy\": 0.91, \"val_loss\": 0.25},"
	" \"params\": {\"dataset\": \"v2\", \"lr\": \"0.02\"}, \"git\": {\"dirty\": true}}";

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_ALLOW_NUL | JSON_DECODE_ANY, &e);

	ck_assert_msg(j != NULL, "test JSON: %s", e.text);
	return j;
}

/* ------------------------------------------------------------------------
 * Parser: valid rules.
 */

struct ok_case {
	const char *text;
	int champion;
};

static const struct ok_case ok_cases[] = {
	/* DESIGN.md §8 */
	{ "metrics.val_accuracy >= 0.92", 0 },
	{ "metrics.val_loss <= champion.metrics.val_loss * 1.01", 1 },
	{ "params.dataset == champion.params.dataset", 1 },
	{ "tags.reviewed == \"true\"", 0 },
	{ "git.dirty == false", 0 },
	{ "bundle.verified", 0 },
	/* operators and spacing */
	{ "metrics.a=1", 0 },
	{ "metrics.a!=1", 0 },
	{ "metrics.a<1", 0 },
	{ "metrics.a<=1", 0 },
	{ "metrics.a>1", 0 },
	{ "metrics.a>=1", 0 },
	{ "\tmetrics.a\t>=\t1\t", 0 },
	{ "metrics.val_loss*1.01>0", 0 },
	{ "(metrics.a + metrics.b) / 2 >= -(1 - 3) * 0.5", 0 },
	{ "- -metrics.a > 0", 0 },
	{ "metrics.a - 1 > 0", 0 },
	/* numbers */
	{ "1 < 2", 0 },
	{ "0.5 < .5e1", 0 },
	{ "5. == 5", 0 },
	{ "1E+3 > 2e-3", 0 },
	{ "1e-400 == 0", 0 },  /* underflow is a finite value */
	{ "123456789012345678901234567890 > 0", 0 },
	/* strings and keywords */
	{ "tags.x == 'single'", 0 },
	{ "tags.x == \"dou\\\"ble\"", 0 },
	{ "tags.x == 'esc \\\\ \\' \\\" \\` \\n \\t \\r'", 0 },
	{ "tags.x != ''", 0 },
	{ "TRUE", 0 },
	{ "False == false", 0 },
	{ "NOT bundle.verified", 0 },
	{ "not params.dataset == 'v1'", 0 },
	/* keys */
	{ "metrics.a-1 > 0", 0 },
	{ "metrics.a.b/c:d_e-f > 0", 0 },
	{ "metrics.`val loss` < 1", 0 },
	{ "metrics.\"val loss\" < 1", 0 },
	{ "metrics.`we\\`ird` < 1", 0 },
	{ "tags.\xc3\xa9t\xc3\xa9 == 'x'", 0 },
	{ "metrics.9lives > 0", 0 },
	{ "metrics._x > 0", 0 },
	{ "champion.git.dirty == git.dirty", 1 },
	{ "champion.bundle.sha256 != bundle.sha256", 1 },
	{ "git.commit != '' ", 0 },
	{ "git.branch == 'main'", 0 },
	{ "git.repo_url != ''", 0 },
	{ "bundle.sha256 != ''", 0 },
	{ "champion.tags.`a b` == tags.`a b`", 1 },
	/* nesting at the limit: 32 */
	{ "((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))) == 1", 0 },
	{ "--------------------------------1 == 1", 0 },
	{ "-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(1)))))))))))))))) == 1", 0 },
	{ "1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - 1"
	  "))))))))))))))) == 1", 0 },
	{ "1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1 > 1", 0 },
	{ "metrics.a * (2 + (((((((((((((((((((((((((((((champion.metrics.a))))))))))))))))"
	  ")))))))))))))) > 1", 1 },
};

START_TEST(parse_ok)
{
	const struct ok_case *c = &ok_cases[_i];
	char err[256] = "untouched";
	struct mt_gate_rule *r = mt_gate_parse(c->text, err, sizeof(err));

	ck_assert_msg(r != NULL, "'%s' failed: %s", c->text, err);
	ck_assert_str_eq(err, "");
	ck_assert_int_eq(mt_gate_rule_uses_champion(r), c->champion);
	mt_gate_rule_free(r);
}
END_TEST

/* ------------------------------------------------------------------------
 * Parser: invalid rules, with the exact message.
 */

struct bad_case {
	const char *text;
	const char *msg;
};

static const struct bad_case bad_cases[] = {
	{ "", "empty rule" },
	{ " \t ", "empty rule" },
	{ "metrics.acc 0.9", "expected an operator after 'metrics.acc' at column 13" },
	{ "metrics.acc >=", "expected a value after '>=' at column 15 (end of the rule)" },
	{ ">= 1", "expected a value at column 1" },
	{ "metrics.acc >= 0.9 0.8", "expected the end of the rule after '0.9' at column 20" },
	{ "metrics.acc >= 0.9 >= 1",
	  "second comparison '>=' at column 20: a rule holds one comparison" },
	{ "0 < metrics.a < 1", "second comparison '<' at column 15: a rule holds one comparison" },
	{ "metric.acc > 1", "unknown name 'metric' at column 1: did you mean metrics?" },
	{ "param.lr > 1", "unknown name 'param' at column 1: did you mean params?" },
	{ "foo > 1", "unknown name 'foo' at column 1: a reference starts with metrics., params., "
		     "tags., git., bundle. or champion." },
	{ "Metrics.a > 1", "unknown name 'Metrics' at column 1: a reference starts with metrics., "
			   "params., tags., git., bundle. or champion." },
	{ "champion > 1", "expected '.' after 'champion' at column 9" },
	{ "champion.foo.x > 1",
	  "expected metrics, params, tags, git or bundle after 'champion.' at column 10" },
	{ "champion.champion.metrics.a > 1",
	  "expected metrics, params, tags, git or bundle after 'champion.' at column 10" },
	{ "metrics > 1", "expected '.' and a key after 'metrics' at column 8" },
	{ "metrics. > 1", "expected a key after 'metrics.' at column 9" },
	{ "metrics.-a > 1", "expected a key after 'metrics.' at column 9" },
	{ "git.foo", "unknown field 'git.foo' at column 1: git has dirty, commit, branch and "
		     "repo_url" },
	{ "champion.bundle.sha", "unknown field 'bundle.sha' at column 10: bundle has verified "
				 "and sha256" },
	{ "metrics.`` > 1", "empty key after 'metrics.' at column 9" },
	{ "metrics.`abc > 1", "unterminated quoted key starting at column 9" },
	{ "metrics.'x' > 1", "quote keys with backticks or double quotes, not single quotes, at "
			     "column 9" },
	{ "tags.x == 'abc", "unterminated string starting at column 11" },
	{ "tags.x == \"abc\\\"", "unterminated string starting at column 11" },
	{ "tags.x == 'a\\qb'", "unknown escape '\\q' in string at column 13" },
	{ "tags.x == '\\\xc3\xa9'", "unknown escape '\\\xc3\xa9' in string at column 12" },
	{ "1e999 > 1", "number '1e999' at column 1 is out of range" },
	{ "1e > 2", "invalid number '1e' at column 1" },
	{ "1e+ > 2", "invalid number '1e+' at column 1" },
	{ "1abc > 2", "invalid number '1abc' at column 1" },
	{ "1.2.3 > 1", "invalid number '1.2.3' at column 1" },
	{ "0x10 > 1", "invalid number '0x10' at column 1" },
	{ "(1 + 2 > 0", "expected ')' after '2' at column 8, to close the '(' at column 1" },
	{ "(1 + 2", "expected ')' after '2' at column 7 (end of the rule), to close the '(' at "
		    "column 1" },
	{ "1 + 2) > 0", "unmatched ')' at column 6" },
	{ "() > 0", "expected a value after '(' at column 2" },
	{ "metrics.a > 1 and metrics.b < 2",
	  "'and' at column 15: a rule is one condition; give each condition as a rule of its own" },
	{ "metrics.a > 1 OR metrics.b < 2",
	  "'OR' at column 15: a rule is one condition; give each condition as a rule of its own" },
	{ "metrics.a > 1 && metrics.b < 2",
	  "'&&' at column 15: a rule is one condition; give each condition as a rule of its own" },
	{ "metrics.a > 1 || 1", "'||' at column 15: a rule is one condition; give each condition "
			       "as a rule of its own" },
	{ "!git.dirty", "unexpected '!' at column 1: write != or not" },
	{ "metrics.a >= not 1", "'not' at column 14: not may only start a rule" },
	{ "not not git.dirty", "'not' at column 5: not may only start a rule" },
	{ "metrics.a => 1", "unknown operator '=>' at column 11: did you mean '>='?" },
	{ "metrics.a =< 1", "unknown operator '=<' at column 11: did you mean '<='?" },
	{ "metrics.a <> 1", "unknown operator '<>' at column 11: did you mean '!='?" },
	{ "metrics.a \xe2\x89\xa5 1", "unexpected character '\xe2\x89\xa5' at column 11: write '>='" },
	{ "metrics.a < > 1", "expected a value after '<' at column 13" },
	{ "`x` > 1", "unexpected '`' at column 1: backticks quote a key after the dot, as in "
		     "metrics.`val loss`" },
	{ "metrics.a > 1 # comment", "unexpected character '#' at column 15" },
	{ "metrics.a & 1", "unexpected '&' at column 11" },
	{ "+1 > 0", "expected a value at column 1" },
	/* hostile bytes */
	{ "metrics.a\x01 > 1", "control character 0x01 at column 10" },
	{ "metrics.a > 1\n", "control character 0x0a at column 14" },
	{ "metrics.a > 1\x7f", "control character 0x7f at column 14" },
	{ "\xc2\x85", "control character U+0085 at column 1" },
	{ "metrics.\xff > 1", "invalid UTF-8 at column 9" },
	{ "metrics.\xc3 > 1", "invalid UTF-8 at column 9" },
	{ "tags.x == '\xe2\x82'", "invalid UTF-8 at column 12" },
	{ "tags.x == '\xed\xa0\x80'", "invalid UTF-8 at column 12" },  /* a surrogate */
	{ "tags.x == '\xc0\xaf'", "invalid UTF-8 at column 12" },      /* overlong '/' */
	{ "tags.\xc3\xa9t\xc3\xa9 == 1 1", "expected the end of the rule after '1' at column 15" },
	/* nesting one past the limit */
	{ "(((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))) == 1",
	  "deeper than 32 levels at column 33: each operator and pair of parentheses is a level" },
	{ "---------------------------------1 == 1",
	  "deeper than 32 levels at column 33: each operator and pair of parentheses is a level" },
	{ "-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-1)))))))))))))))) == 1",
	  "deeper than 32 levels at column 33: each operator and pair of parentheses is a level" },
	{ "1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - (1 - ("
	  "1 - 1)))))))))))))))) == 1",
	  "deeper than 32 levels at column 3: each operator and pair of parentheses is a level" },
	{ "1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1 > 1",
	  "deeper than 32 levels at column 66: each operator and pair of parentheses is a level" },
	{ "metrics.a * (2 + (((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))"
	  ") > 1",
	  "deeper than 32 levels at column 13: each operator and pair of parentheses is a level" },
};

START_TEST(parse_bad)
{
	const struct bad_case *c = &bad_cases[_i];
	char err[512];
	struct mt_gate_rule *r = mt_gate_parse(c->text, err, sizeof(err));

	ck_assert_msg(r == NULL, "'%s' parsed", c->text);
	ck_assert_str_eq(err, c->msg);
}
END_TEST

START_TEST(parse_limits)
{
	char text[MT_GATE_MAX_RULE_LEN + 2], err[256];
	struct mt_gate_rule *r;

	/* Exactly the limit parses; one byte more does not. */
	memset(text, ' ', sizeof(text));
	memcpy(text, "1 == 1", 6);
	text[MT_GATE_MAX_RULE_LEN] = '\0';
	r = mt_gate_parse(text, err, sizeof(err));
	ck_assert_ptr_nonnull(r);
	mt_gate_rule_free(r);
	text[MT_GATE_MAX_RULE_LEN] = ' ';
	text[MT_GATE_MAX_RULE_LEN + 1] = '\0';
	ck_assert_ptr_null(mt_gate_parse(text, err, sizeof(err)));
	ck_assert_str_eq(err, "rule is longer than 1000 bytes");

	/* A long string literal at the limit. */
	memset(text, 'x', sizeof(text));
	memcpy(text, "tags.t == '", 11);
	text[MT_GATE_MAX_RULE_LEN - 1] = '\'';
	text[MT_GATE_MAX_RULE_LEN] = '\0';
	r = mt_gate_parse(text, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	mt_gate_rule_free(r);

	/* NULL text; NULL or tiny error buffers. */
	ck_assert_ptr_null(mt_gate_parse(NULL, err, sizeof(err)));
	ck_assert_str_eq(err, "empty rule");
	ck_assert_ptr_null(mt_gate_parse("metrics.acc 0.9", NULL, 0));
	ck_assert_ptr_null(mt_gate_parse("metrics.acc 0.9", err, 0));
	ck_assert_ptr_null(mt_gate_parse("metrics.acc 0.9", err, 12));
	ck_assert_str_eq(err, "expected an");
	/* A cut never leaves half a character. */
	ck_assert_ptr_null(mt_gate_parse("tags.\xc3\xa9 == 1 1", err, 36));
	ck_assert_str_eq(err, "expected the end of the rule after ");
	ck_assert_ptr_null(mt_gate_parse("'\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9' 1", err, 33));
	ck_assert_str_eq(err, "expected an operator after ''\xc3\xa9");
	ck_assert_int_eq(mt_gate_rule_uses_champion(NULL), 0);
	mt_gate_rule_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------------
 * Size and depth: one bound, MT_GATE_MAX_DEPTH levels (every operator,
 * minus sign and pair of parentheses) and MT_GATE_MAX_NODES operands and
 * operators, for the parser and everything that walks what it built.
 */

#define DEPTH_MSG "deeper than 32 levels at column %d: each operator and pair of parentheses " \
		  "is a level"

/* head followed by terms "1" joined by op, then tail: malloc'd. */
static char *chain(const char *head, size_t terms, const char *op, const char *tail)
{
	size_t n = strlen(head) + terms * (strlen(op) + 1) + strlen(tail) + 1;
	char *t = malloc(n);

	ck_assert_ptr_nonnull(t);
	strcpy(t, head);
	for (size_t i = 0; i < terms; i++) {
		if (i)
			strcat(t, op);
		strcat(t, "1");
	}
	strcat(t, tail);
	return t;
}

/* A balanced sum of 2^levels leaves, "((1+1)+(1+1))": 2^(levels+1) - 1
 * nodes, 2 * levels deep.  Appended to out. */
static void balanced(char *out, int levels)
{
	if (levels == 0) {
		strcat(out, "1");
		return;
	}
	strcat(out, "(");
	balanced(out, levels - 1);
	strcat(out, "+");
	balanced(out, levels - 1);
	strcat(out, ")");
}

START_TEST(limits_depth_and_nodes)
{
	char err[512], want[512], tree[600];
	struct mt_gate_rule *r;
	char *t;
	const char *one[1];

	ck_assert_int_eq(MT_GATE_MAX_DEPTH, 32);
	ck_assert_int_eq(MT_GATE_MAX_NODES, 128);

	/* The rule of issue 11: 120 terms, 244 bytes.  It used to be stored,
	 * and to crash the server at the next check. */
	t = chain("1 <= ", 120, "+", "");
	ck_assert_uint_eq(strlen(t), 244);
	ck_assert_ptr_null(mt_gate_parse(t, err, sizeof(err)));
	snprintf(want, sizeof(want), DEPTH_MSG, 71);
	ck_assert_str_eq(err, want);
	one[0] = t;
	ck_assert_int_eq(mt_gate_validate(one, 1, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "rule 1 '1 <= 1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1...': "
			      "deeper than 32 levels at column 71: each operator and pair of "
			      "parentheses is a level");
	free(t);

	/* A chain of 33 terms is 32 deep: accepted; 34 is not, on either side. */
	t = chain("", 33, " * ", " >= 1");
	r = mt_gate_parse(t, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	mt_gate_rule_free(r);
	free(t);
	t = chain("0 < ", 34, " - ", "");
	ck_assert_ptr_null(mt_gate_parse(t, err, sizeof(err)));
	snprintf(want, sizeof(want), DEPTH_MSG, 5 + 33 * 4 - 2);
	ck_assert_str_eq(err, want);
	free(t);

	/* 127 nodes in 12 levels, and one more operand: 128, the limit. */
	tree[0] = '\0';
	balanced(tree, 6);
	ck_assert_uint_eq(strlen(tree), 253);
	strcat(tree, " == 1");
	r = mt_gate_parse(tree, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	mt_gate_rule_free(r);
	/* A minus sign is the 129th. */
	strcpy(tree + 253, " == -1");
	ck_assert_ptr_null(mt_gate_parse(tree, err, sizeof(err)));
	ck_assert_str_eq(err, "more than 128 operands and operators at column 258");
	/* So is a second operand, before its operator. */
	strcpy(tree + 253, " == 1 + 1");
	ck_assert_ptr_null(mt_gate_parse(tree, err, sizeof(err)));
	ck_assert_str_eq(err, "more than 128 operands and operators at column 262");
}
END_TEST

/* Run fn on a thread with a stack of `size` bytes, as CivetWeb's workers
 * have (Debian builds it with a 100 KiB stack).  Returns the bytes of stack
 * fn used, measured by painting the unused stack first (0 under ASan, which
 * keeps its own shadow of the stack). */
struct small_stack {
	void (*fn)(void);
	size_t used;
};

#define PAINT 0xA5

#if defined(__SANITIZE_ADDRESS__)
static void *small_stack_main(void *arg)
{
	struct small_stack *ss = arg;

	ss->fn();
	return NULL;
}
#else
static void *small_stack_main(void *arg)
{
	struct small_stack *ss = arg;
	uintptr_t top = (uintptr_t)__builtin_frame_address(0) - 2048;
	volatile unsigned char *p;
	pthread_attr_t a;
	void *lo;
	size_t size;

	ck_assert_int_eq(pthread_getattr_np(pthread_self(), &a), 0);
	ck_assert_int_eq(pthread_attr_getstack(&a, &lo, &size), 0);
	pthread_attr_destroy(&a);
	for (p = lo; (uintptr_t)p < top; p++)
		*p = PAINT;
	ss->fn();
	for (p = lo; (uintptr_t)p < top && *p == PAINT; p++)
		;
	ss->used = (size_t)(top + 2048 - (uintptr_t)p);
	return NULL;
}
#endif

static size_t on_small_stack(void (*fn)(void), size_t size)
{
	struct small_stack ss = { fn, 0 };
	pthread_attr_t a;
	pthread_t t;

	ck_assert_int_eq(pthread_attr_init(&a), 0);
	ck_assert_int_eq(pthread_attr_setstacksize(&a, size), 0);
	ck_assert_int_eq(pthread_create(&t, &a, small_stack_main, &ss), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	pthread_attr_destroy(&a);
	return ss.used;
}

/* The deepest and longest rules a gate accepts; each evaluates without an
 * error against CANDIDATE and CHAMPION. */
static char *deepest_rules(size_t *n)
{
	static char buf[8][1024];
	char *t;
	size_t k = 0;

	/* 32 deep both sides: a chain, and minus signs. */
	t = chain("", 33, "+", " >= --------------------------------1");
	snprintf(buf[k++], sizeof(buf[0]), "%s", t);
	free(t);
	/* 32 parentheses around a comparison with the champion. */
	snprintf(buf[k], sizeof(buf[0]), "%.32s metrics.val_loss %.32s <= champion.metrics.val_loss "
		 "* 2", "((((((((((((((((((((((((((((((((", "))))))))))))))))))))))))))))))))");
	k++;
	/* An operator and a parenthesis per level, to the right. */
	snprintf(buf[k], sizeof(buf[0]), "metrics.f1 - ");
	for (int i = 0; i < 15; i++)
		strcat(buf[k], "(metrics.f1 - ");
	strcat(buf[k], "metrics.val_accuracy");
	for (int i = 0; i < 15; i++)
		strcat(buf[k], ")");
	strcat(buf[k], " < 1");
	k++;
	/* Minus signs and parentheses alternating. */
	buf[k][0] = '\0';
	for (int i = 0; i < 16; i++)
		strcat(buf[k], "-(");
	strcat(buf[k], "metrics.val_accuracy");
	for (int i = 0; i < 16; i++)
		strcat(buf[k], ")");
	strcat(buf[k], " > 0");
	k++;
	/* 128 nodes. */
	buf[k][0] = '\0';
	balanced(buf[k], 6);
	strcat(buf[k], " > 1");
	k++;
	/* A 32-deep chain of the candidate's and the champion's metrics, so
	 * that the explanation names every value. */
	buf[k][0] = '\0';
	for (int i = 0; i < 16; i++)
		strcat(buf[k], "metrics.f1 + champion.metrics.val_loss + ");
	strcat(buf[k], "metrics.val_accuracy > champion.metrics.val_accuracy");
	k++;
	*n = k;
	return &buf[0][0];
}

static void deepest_work(void)
{
	static const enum mt_gate_format fmts[] = {
		MT_GATE_TEXT, MT_GATE_JSON, MT_GATE_JUNIT, MT_GATE_MARKDOWN,
	};
	const char *rules[8];
	char err[512];
	size_t n;
	char *base = deepest_rules(&n);
	json_t *cand = load(CANDIDATE), *champ = load(CHAMPION);

	for (size_t i = 0; i < n; i++)
		rules[i] = base + i * 1024;
	ck_assert_msg(mt_gate_validate(rules, n, err, sizeof(err)) == 0, "%s", err);
	for (int with = 0; with < 2; with++) {
		json_t *rep = mt_gate_evaluate(rules, n, cand, with ? champ : NULL, "Production");
		const json_t *list = json_object_get(rep, "rules");

		ck_assert_ptr_nonnull(rep);
		ck_assert_uint_eq(json_array_size(list), n);
		for (size_t i = 0; i < n; i++) {
			const json_t *item = json_array_get(list, i);

			ck_assert_msg(strcmp(json_string_value(json_object_get(item, "status")),
					     "error") != 0, "rule %zu: %s", i,
				      json_string_value(json_object_get(item, "message")));
		}
		for (size_t f = 0; f < N_ELEMS(fmts); f++) {
			char *out = mt_gate_render(rep, fmts[f], "http://h:5170");

			ck_assert_ptr_nonnull(out);
			ck_assert_uint_gt(strlen(out), 0);
			free(out);
		}
		json_decref(rep);
	}
	json_decref(cand);
	json_decref(champ);
}

/* The rule of issue 11 as a database from before the limit holds it: read
 * back and evaluated, it is an error rule that fails the gate. */
static void stored_hostile_work(void)
{
	char *chains[3] = { chain("1 <= ", 120, "+", ""), chain("", 498, "+", " > 1"),
			    chain("0 < ", 300, "*", "") };
	const char *rules[4] = { chains[0], chains[1], chains[2], "metrics.f1 > 0" };
	json_t *cand = load(CANDIDATE), *rep;
	const json_t *list;
	char want[512];

	rep = mt_gate_evaluate(rules, 4, cand, NULL, "Production");
	ck_assert_ptr_nonnull(rep);
	ck_assert(!mt_gate_report_passed(rep));
	list = json_object_get(rep, "rules");
	snprintf(want, sizeof(want), "does not parse: " DEPTH_MSG, 71);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "message")),
			 want);
	for (size_t i = 0; i < 3; i++)
		ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, i),
								   "status")), "error");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 3), "status")),
			 "pass");
	for (int f = MT_GATE_TEXT; f <= MT_GATE_MARKDOWN; f++)
		free(mt_gate_render(rep, (enum mt_gate_format)f, NULL));
	json_decref(rep);
	json_decref(cand);
	for (size_t i = 0; i < 3; i++)
		free(chains[i]);
}

START_TEST(deepest_rules_on_a_worker_stack)
{
	size_t used = on_small_stack(deepest_work, 100 * 1024);

	/* Measured: 13.7 KiB (gcc 12 -O2), of the worker's 100 KiB; the rest
	 * is CivetWeb's and the request's.  Asserted with room to spare.  Not
	 * measured under ASan (used is 0), where the rules must still fit. */
	if (used) {
		ck_assert_msg(used < 48 * 1024, "the deepest rules took %zu bytes of stack", used);
		fprintf(stderr, "gate: the deepest accepted rules used %zu bytes of stack\n", used);
	}
}
END_TEST

START_TEST(stored_hostile_rule_on_a_worker_stack)
{
	on_small_stack(stored_hostile_work, 100 * 1024);
}
END_TEST

/* ------------------------------------------------------------------------
 * Validation of a whole policy.
 */

START_TEST(validate_policy)
{
	const char *good[] = { "metrics.a > 1", "bundle.verified", "champion.git.dirty == false" };
	const char *bad[] = { "metrics.a > 1", "metrics.acc 0.9", "foo" };
	const char *ctl[] = { "metrics.a\x1b[31m > 1" };
	const char *null_rule[] = { NULL };
	const char *many[MT_GATE_MAX_RULES + 1];
	char long_rule[200], err[512];
	const char *lr[1] = { long_rule };

	ck_assert_int_eq(mt_gate_validate(good, N_ELEMS(good), err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	ck_assert_int_eq(mt_gate_validate(NULL, 0, err, sizeof(err)), 0);

	ck_assert_int_eq(mt_gate_validate(bad, N_ELEMS(bad), err, sizeof(err)), -1);
	ck_assert_str_eq(err, "rule 2 'metrics.acc 0.9': expected an operator after "
			      "'metrics.acc' at column 13");
	ck_assert_int_eq(mt_gate_validate(ctl, 1, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "rule 1 'metrics.a?[31m > 1': control character 0x1b at column 10");
	ck_assert_int_eq(mt_gate_validate(null_rule, 1, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "rule 1 '': empty rule");

	memset(long_rule, 'a', sizeof(long_rule));
	memcpy(long_rule, "metrics.", 8);
	memcpy(long_rule + sizeof(long_rule) - 3, " 1", 3);
	ck_assert_int_eq(mt_gate_validate(lr, 1, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "rule 1 'metrics.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': "
			      "expected an operator after 'metrics.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			      "aaaaaaaaaa...' at column 199");

	for (size_t i = 0; i < N_ELEMS(many); i++)
		many[i] = "bundle.verified";
	ck_assert_int_eq(mt_gate_validate(many, MT_GATE_MAX_RULES, err, sizeof(err)), 0);
	ck_assert_int_eq(mt_gate_validate(many, MT_GATE_MAX_RULES + 1, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "a gate has at most 100 rules, not 101");
	ck_assert_int_eq(mt_gate_validate(bad, N_ELEMS(bad), NULL, 0), -1);
	ck_assert_int_eq(mt_gate_validate(bad, N_ELEMS(bad), err, 8), -1);
	ck_assert_str_eq(err, "rule 2 ");
}
END_TEST

/* ------------------------------------------------------------------------
 * Evaluation, one rule at a time, against CANDIDATE and CHAMPION.
 */

struct eval_case {
	const char *rule;
	const char *status;
	const char *actual;    /* NULL: JSON null */
	const char *required;  /* NULL: JSON null */
	const char *message;
};

static const struct eval_case eval_cases[] = {
	/* constants */
	{ "metrics.val_accuracy >= 0.92", "pass", "0.93", ">= 0.92",
	  "metrics.val_accuracy is 0.93, needs >= 0.92" },
	{ "metrics.val_accuracy >= 0.95", "fail", "0.93", ">= 0.95",
	  "metrics.val_accuracy is 0.93, needs >= 0.95" },
	{ "metrics.val_accuracy = 0.93", "pass", "0.93", "== 0.93",
	  "metrics.val_accuracy is 0.93, needs == 0.93" },
	{ "metrics.val_accuracy != 0.93", "fail", "0.93", "!= 0.93",
	  "metrics.val_accuracy is 0.93, needs != 0.93" },
	{ "metrics.val_accuracy < 0.93", "fail", "0.93", "< 0.93",
	  "metrics.val_accuracy is 0.93, needs < 0.93" },
	{ "metrics.val_accuracy <= 0.93", "pass", "0.93", "<= 0.93",
	  "metrics.val_accuracy is 0.93, needs <= 0.93" },
	{ "metrics.val_accuracy > 0.93", "fail", "0.93", "> 0.93",
	  "metrics.val_accuracy is 0.93, needs > 0.93" },
	{ "0.9 < metrics.val_accuracy", "pass", "0.93", "> 0.9",
	  "metrics.val_accuracy is 0.93, needs > 0.9" },
	{ "0.95 <= metrics.val_accuracy", "fail", "0.93", ">= 0.95",
	  "metrics.val_accuracy is 0.93, needs >= 0.95" },
	{ "not metrics.val_accuracy >= 0.92", "fail", "0.93", "< 0.92",
	  "metrics.val_accuracy is 0.93, needs < 0.92" },
	{ "metrics.int_m == 7", "pass", "7", "== 7", "metrics.int_m is 7, needs == 7" },
	{ "metrics.str_m == 0.5", "pass", "0.5", "== 0.5", "metrics.str_m is 0.5, needs == 0.5" },
	{ "metrics.`val loss` < 0.25", "pass", "0.2", "< 0.25",
	  "metrics.`val loss` is 0.2, needs < 0.25" },
	{ "tags.reviewed == \"true\"", "pass", "\"true\"", "== \"true\"",
	  "tags.reviewed is \"true\", needs == \"true\"" },
	{ "tags.owner != 'ana'", "fail", "\"ana\"", "!= \"ana\"",
	  "tags.owner is \"ana\", needs != \"ana\"" },
	{ "tags.weird == 'a|b`c'", "pass", "\"a|b`c\"", "== \"a|b`c\"",
	  "tags.weird is \"a|b`c\", needs == \"a|b`c\"" },
	{ "git.dirty == false", "pass", "false", "== false", "git.dirty is false, needs == false" },
	{ "git.branch == 'main'", "pass", "\"main\"", "== \"main\"",
	  "git.branch is \"main\", needs == \"main\"" },
	{ "bundle.verified", "pass", "true", "true", "bundle.verified is true, needs true" },
	{ "not bundle.verified", "fail", "true", "false", "bundle.verified is true, needs false" },
	{ "git.dirty", "fail", "false", "true", "git.dirty is false, needs true" },
	{ "not git.dirty", "pass", "false", "false", "git.dirty is false, needs false" },
	/* strings meet numbers and booleans */
	{ "params.lr < 0.05", "pass", "\"0.01\"", "< 0.05", "params.lr is \"0.01\", needs < 0.05" },
	{ "params.depth >= 10", "pass", "\"10\"", ">= 10", "params.depth is \"10\", needs >= 10" },
	{ "params.n == 12", "pass", "12", "== 12", "params.n is 12, needs == 12" },
	{ "params.`a-1` == 5", "pass", "\"5\"", "== 5", "params.`a-1` is \"5\", needs == 5" },
	{ "params.a-1 == 5", "pass", "\"5\"", "== 5", "params.a-1 is \"5\", needs == 5" },
	{ "tags.reviewed == true", "pass", "\"true\"", "== true",
	  "tags.reviewed is \"true\", needs == true" },
	{ "params.flag", "pass", "\"True\"", "true", "params.flag is \"True\", needs true" },
	{ "params.dataset > 1", "error", "\"v2\"", "> 1",
	  "params.dataset is \"v2\", which is not a number" },
	{ "params.dataset < \"v3\"", "error", "\"v2\"", "< \"v3\"",
	  "cannot order strings (params.dataset is \"v2\"): strings support only == and !=; "
	  "multiply by 1 to compare a number held in a string" },
	{ "tags.owner == true", "error", "\"ana\"", "== true",
	  "tags.owner is \"ana\", which is not true or false" },
	{ "tags.owner", "error", NULL, "true", "tags.owner is \"ana\", which is not true or false" },
	{ "metrics.val_accuracy", "error", NULL, "true",
	  "metrics.val_accuracy is a number, 0.93; a rule without a comparison needs true or "
	  "false, as in bundle.verified" },
	{ "git.dirty == 0", "error", "false", "== 0",
	  "cannot compare a number with a boolean (git.dirty is false)" },
	{ "git.dirty < true", "error", "false", "< true",
	  "cannot order booleans with <: use == or !=" },
	/* arithmetic and how "required" shows it */
	{ "metrics.val_accuracy - metrics.f1 >= 0.1", "pass", "0.13 (0.93 - 0.8)", ">= 0.1",
	  "metrics.val_accuracy - metrics.f1 is 0.13 (0.93 - 0.8), needs >= 0.1" },
	{ "(metrics.val_accuracy + metrics.f1) / 2 > 0.8", "pass", "0.865 ((0.93 + 0.8) / 2)",
	  "> 0.8", "(metrics.val_accuracy + metrics.f1) / 2 is 0.865 ((0.93 + 0.8) / 2), "
		   "needs > 0.8" },
	{ "metrics.f1 > metrics.val_loss * 2 + 0.1", "pass", "0.8", "> 0.7 (0.3 \xc3\x97 2 + 0.1)",
	  "metrics.f1 is 0.8, needs > 0.7 (0.3 \xc3\x97 2 + 0.1)" },
	{ "metrics.f1 > metrics.val_loss", "pass", "0.8", "> 0.3 (metrics.val_loss)",
	  "metrics.f1 is 0.8, needs > 0.3 (metrics.val_loss)" },
	{ "-metrics.val_loss < -(0.1 + 0.1)", "pass", "-0.3 (-0.3)", "< -0.2 (-(0.1 + 0.1))",
	  "-metrics.val_loss is -0.3 (-0.3), needs < -0.2 (-(0.1 + 0.1))" },
	{ "params.lr * 2 < 1", "pass", "0.02 (\"0.01\" \xc3\x97 2)", "< 1",
	  "params.lr * 2 is 0.02 (\"0.01\" \xc3\x97 2), needs < 1" },
	{ "metrics.f1 >= 1 - (0.5 - 0.3)", "pass", "0.8", ">= 0.8 (1 - (0.5 - 0.3))",
	  "metrics.f1 is 0.8, needs >= 0.8 (1 - (0.5 - 0.3))" },
	{ "metrics.val_accuracy / 0 > 1", "error", NULL, "> 1",
	  "division by zero in metrics.val_accuracy / 0" },
	{ "1e308 * 10 > 1", "error", NULL, "> 1", "arithmetic overflow in 1e308 * 10" },
	{ "tags.owner * 2 > 1", "error", NULL, "> 1", "tags.owner is \"ana\", which is not a number" },
	{ "git.dirty + 1 > 1", "error", NULL, "> 1", "git.dirty is false, a boolean, not a number" },
	/* against the champion */
	{ "metrics.val_loss <= champion.metrics.val_loss * 1.01", "fail", "0.3",
	  "<= 0.2525 (champion 0.25 \xc3\x97 1.01)",
	  "metrics.val_loss is 0.3, needs <= 0.2525 (champion 0.25 \xc3\x97 1.01)" },
	{ "metrics.val_loss <= champion.metrics.val_loss * 1.5", "pass", "0.3",
	  "<= 0.375 (champion 0.25 \xc3\x97 1.5)",
	  "metrics.val_loss is 0.3, needs <= 0.375 (champion 0.25 \xc3\x97 1.5)" },
	{ "metrics.val_accuracy > champion.metrics.val_accuracy", "pass", "0.93", "> 0.91 (champion)",
	  "metrics.val_accuracy is 0.93, needs > 0.91 (champion)" },
	{ "champion.metrics.val_accuracy < metrics.val_accuracy", "pass", "0.93",
	  "> 0.91 (champion)", "metrics.val_accuracy is 0.93, needs > 0.91 (champion)" },
	{ "params.dataset == champion.params.dataset", "pass", "\"v2\"", "== \"v2\" (champion)",
	  "params.dataset is \"v2\", needs == \"v2\" (champion)" },
	{ "params.lr * 1 < champion.params.lr * 1", "pass", "0.01 (\"0.01\" \xc3\x97 1)",
	  "< 0.02 (champion \"0.02\" \xc3\x97 1)",
	  "params.lr * 1 is 0.01 (\"0.01\" \xc3\x97 1), needs < 0.02 (champion \"0.02\" \xc3\x97 1)" },
	{ "git.dirty != champion.git.dirty", "pass", "false", "!= true (champion)",
	  "git.dirty is false, needs != true (champion)" },
	{ "champion.git.dirty", "pass", "true (champion)", "true",
	  "champion.git.dirty is true (champion), needs true" },
	/* missing keys and bad values */
	{ "metrics.recall > 0.5", "error", NULL, "> 0.5",
	  "candidate (version 3) has no metric 'recall'" },
	{ "metrics.null_m > 0.5", "error", NULL, "> 0.5",
	  "candidate (version 3) has no metric 'null_m'" },
	{ "params.missing == 'x'", "error", NULL, "== \"x\"",
	  "candidate (version 3) has no param 'missing'" },
	{ "tags.nope == 'x'", "error", NULL, "== \"x\"", "candidate (version 3) has no tag 'nope'" },
	{ "metrics.f1 > champion.metrics.f1", "error", "0.8", NULL,
	  "champion (version 2) has no metric 'f1'" },
	{ "champion.bundle.verified", "error", NULL, "true",
	  "champion (version 2) has no bundle.verified (no bundle)" },
	{ "champion.git.branch == 'main'", "error", NULL, "== \"main\"",
	  "champion (version 2) has no git.branch" },
	{ "metrics.nan_m > 0", "error", NULL, "> 0",
	  "metric 'nan_m' of candidate (version 3) is NaN, which cannot be compared" },
	{ "metrics.inf_m > 0", "error", NULL, "> 0",
	  "metric 'inf_m' of candidate (version 3) is infinite, which cannot be compared" },
	{ "metrics.bad_m > 0", "error", NULL, "> 0",
	  "metric 'bad_m' of candidate (version 3) is \"high\", not a number" },
	{ "metrics.bool_m > 0", "error", NULL, "> 0",
	  "metric 'bool_m' of candidate (version 3) is a boolean, not a number" },
	{ "params.obj == 1", "error", NULL, "== 1",
	  "param 'obj' of candidate (version 3) is an object, not a number, string or boolean" },
	/* the first error wins; both sides are reported when they can be */
	{ "metrics.recall > metrics.precision", "error", NULL, NULL,
	  "candidate (version 3) has no metric 'recall'" },
	/* does not parse */
	{ "metrics.acc 0.9", "error", NULL, NULL,
	  "does not parse: expected an operator after 'metrics.acc' at column 13" },
};

/* Evaluate one rule; returns the report (owned) and its one rule item. */
static json_t *eval_one(const char *rule, const json_t *cand, const json_t *champ,
			const char *stage, json_t **item)
{
	const char *rules[1] = { rule };
	json_t *rep = mt_gate_evaluate(rules, 1, cand, champ, stage);

	ck_assert_ptr_nonnull(rep);
	*item = json_array_get(json_object_get(rep, "rules"), 0);
	ck_assert_ptr_nonnull(*item);
	return rep;
}

static void assert_str_or_null(const json_t *obj, const char *key, const char *want,
			       const char *rule)
{
	const json_t *v = json_object_get(obj, key);

	if (!want) {
		ck_assert_msg(json_is_null(v), "%s: %s should be null, is %s", rule, key,
			      json_is_string(v) ? json_string_value(v) : "not a string");
		return;
	}
	ck_assert_msg(json_is_string(v), "%s: %s is not a string", rule, key);
	ck_assert_msg(strcmp(json_string_value(v), want) == 0, "%s: %s is [%s], want [%s]", rule,
		      key, json_string_value(v), want);
}

/* Alert rules: drift.STAT(FEATURE) and live.KEY, allowed only by
 * mt_gate_validate_alert, evaluated against a window's subject with the
 * monitored version as champion. */
START_TEST(monitor_rules)
{
	static const struct bad_case bad[] = {
		{ "drift.psi < 0.2", "expected '(' and a feature after 'drift.psi' at column 10, as in "
				     "drift.psi(age)" },
		{ "drift.psi() < 0.2", "expected a feature after 'drift.psi(' at column 11" },
		{ "drift.psi(age < 0.2", "expected ')' after the feature of 'drift.psi' at column 14" },
		{ "drift.mean(age) < 1", "unknown field 'drift.mean' at column 1: drift has psi, ks, "
					 "chi2 and missing, as in drift.psi(age)" },
		{ "champion.drift.psi(age) < 1", "expected metrics, params, tags, git or bundle after "
						 "'champion.' at column 10" },
		{ "champion.live.accuracy > 1", "expected metrics, params, tags, git or bundle after "
						"'champion.' at column 10" },
		{ "drift.psi(`age) < 1", "unterminated quoted feature starting at column 11" },
	};
	const char *alerts[] = { "drift.psi(age) < 0.2", "drift.ks(`annual income`) <= 0.1",
				 "drift.missing(\"x y\") < 0.05", "drift.chi2(city) < 30",
				 "live.accuracy >= champion.metrics.val_acc - 0.03" };
	const char *gate[] = { "metrics.a > 1", "live.accuracy > 0.9" };
	json_t *cand = load("{\"name\": \"churn\", \"version\": \"4\","
			    " \"drift\": {\"psi\": {\"age\": 0.31, \"annual income\": 0.01},"
			    "   \"ks\": {\"age\": \"0.05\", \"bad\": true}},"
			    " \"live\": {\"accuracy\": 0.88, \"count\": 1000}}");
	json_t *champ = load("{\"version\": \"4\", \"metrics\": {\"val_acc\": 0.93}}");
	json_t *rep, *item;
	char err[512];

	for (size_t i = 0; i < N_ELEMS(bad); i++) {
		struct mt_gate_rule *r = mt_gate_parse(bad[i].text, err, sizeof(err));

		ck_assert_msg(r == NULL, "%s parsed", bad[i].text);
		ck_assert_msg(strcmp(err, bad[i].msg) == 0, "%s: [%s], want [%s]", bad[i].text, err,
			      bad[i].msg);
	}
	ck_assert_int_eq(mt_gate_validate_alert(alerts, N_ELEMS(alerts), err, sizeof(err)), 0);
	ck_assert_int_eq(mt_gate_validate(alerts, 1, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "rule 1 'drift.psi(age) < 0.2': drift.* and live.* describe a "
			      "deployed version's live data: they belong in monitoring alert rules, "
			      "not in a gate");
	ck_assert_int_eq(mt_gate_validate(gate, 2, err, sizeof(err)), -1);
	ck_assert(starts_with(err, "rule 2 'live.accuracy > 0.9': drift.*"));
	ck_assert_int_eq(mt_gate_validate_alert(gate, 2, err, sizeof(err)), 0);

	rep = eval_one("drift.psi(age) < 0.2", cand, champ, NULL, &item);
	assert_str_or_null(item, "status", "fail", "psi");
	assert_str_or_null(item, "actual", "0.31", "psi");
	json_decref(rep);
	rep = eval_one("drift.psi(`annual income`) < 0.2", cand, champ, NULL, &item);
	assert_str_or_null(item, "status", "pass", "psi quoted");
	json_decref(rep);
	rep = eval_one("drift.ks(age) <= 0.1", cand, champ, NULL, &item);
	assert_str_or_null(item, "status", "pass", "ks as a string");
	json_decref(rep);
	rep = eval_one("drift.ks(bad) <= 0.1", cand, champ, NULL, &item);
	assert_str_or_null(item, "status", "error", "ks boolean");
	json_decref(rep);
	rep = eval_one("drift.psi(income) < 0.2", cand, champ, NULL, &item);
	assert_str_or_null(item, "status", "error", "no feature");
	ck_assert(strstr(json_string_value(json_object_get(item, "message")),
			 "has no drift psi of feature 'income'"));
	json_decref(rep);
	rep = eval_one("drift.chi2(age) < 1", cand, champ, NULL, &item);
	assert_str_or_null(item, "status", "error", "no stat");
	json_decref(rep);
	rep = eval_one("live.accuracy >= champion.metrics.val_acc - 0.03", cand, champ, NULL,
		       &item);
	assert_str_or_null(item, "status", "fail", "live vs champion");
	assert_str_or_null(item, "actual", "0.88", "live vs champion");
	json_decref(rep);
	rep = eval_one("live.count >= 500", cand, champ, NULL, &item);
	assert_str_or_null(item, "status", "pass", "live.count");
	json_decref(rep);
	json_decref(cand);
	json_decref(champ);
}
END_TEST

START_TEST(eval_table)
{
	const struct eval_case *c = &eval_cases[_i];
	json_t *cand = load(CANDIDATE), *champ = load(CHAMPION), *item;
	json_t *rep = eval_one(c->rule, cand, champ, "Production", &item);
	int pass = strcmp(c->status, "pass") == 0;

	assert_str_or_null(item, "rule", c->rule, c->rule);
	assert_str_or_null(item, "status", c->status, c->rule);
	assert_str_or_null(item, "actual", c->actual, c->rule);
	assert_str_or_null(item, "required", c->required, c->rule);
	assert_str_or_null(item, "message", c->message, c->rule);
	ck_assert(json_is_boolean(json_object_get(item, "passed")));
	ck_assert_int_eq(json_is_true(json_object_get(item, "passed")), pass);
	ck_assert(json_is_false(json_object_get(item, "no_champion")));
	ck_assert_int_eq(mt_gate_report_passed(rep), pass);
	json_decref(rep);
	json_decref(cand);
	json_decref(champ);
}
END_TEST

/* No version holds the stage. */
START_TEST(eval_no_champion)
{
	json_t *cand = load(CANDIDATE), *item, *rep;

	rep = eval_one("metrics.val_loss <= champion.metrics.val_loss * 1.01", cand, NULL,
		       "Production", &item);
	assert_str_or_null(item, "status", "pass", "");
	ck_assert(json_is_true(json_object_get(item, "no_champion")));
	assert_str_or_null(item, "actual", "0.3", "");
	assert_str_or_null(item, "required", "<= champion.metrics.val_loss * 1.01", "");
	assert_str_or_null(item, "message", "no champion holds Production yet", "");
	ck_assert(json_is_null(json_object_get(rep, "champion")));
	ck_assert(mt_gate_report_passed(rep));
	json_decref(rep);

	rep = eval_one("champion.bundle.verified", cand, NULL, NULL, &item);
	assert_str_or_null(item, "status", "pass", "");
	assert_str_or_null(item, "message", "no champion holds the stage yet", "");
	assert_str_or_null(item, "actual", NULL, "");
	ck_assert(json_is_null(json_object_get(rep, "stage")));
	json_decref(rep);

	/* The candidate's side is still checked: a missing metric is an error. */
	rep = eval_one("metrics.recall <= champion.metrics.recall", cand, NULL, "Staging", &item);
	assert_str_or_null(item, "status", "error", "");
	assert_str_or_null(item, "message", "candidate (version 3) has no metric 'recall'", "");
	ck_assert(json_is_false(json_object_get(item, "no_champion")));
	ck_assert(!mt_gate_report_passed(rep));
	json_decref(rep);
	rep = eval_one("champion.metrics.a * (metrics.x + 1) > 0", cand, NULL, "Staging", &item);
	assert_str_or_null(item, "message", "candidate (version 3) has no metric 'x'", "");
	json_decref(rep);

	/* Rules without champion are unaffected. */
	rep = eval_one("metrics.val_accuracy >= 0.95", cand, NULL, "Staging", &item);
	assert_str_or_null(item, "status", "fail", "");
	json_decref(rep);

	/* A champion that is not an object counts as none. */
	{
		json_t *bogus = json_string("2");

		rep = eval_one("champion.git.dirty == false", cand, bogus, "Staging", &item);
		assert_str_or_null(item, "message", "no champion holds Staging yet", "");
		json_decref(rep);
		json_decref(bogus);
	}
	json_decref(cand);
}
END_TEST

/* Subjects with odd shapes. */
START_TEST(eval_subjects)
{
	json_t *item, *rep, *s;

	/* No candidate at all, or one without a version. */
	rep = eval_one("metrics.a > 1", NULL, NULL, "Staging", &item);
	assert_str_or_null(item, "message", "candidate has no metric 'a'", "");
	ck_assert(json_is_null(json_object_get(rep, "model")));
	ck_assert(json_is_null(json_object_get(rep, "version")));
	ck_assert(json_is_null(json_object_get(rep, "run_id")));
	json_decref(rep);

	/* An integer version; namespaces that are not objects; no git or bundle. */
	s = load("{\"name\": \"m\", \"version\": 7, \"metrics\": [1], \"tags\": \"x\"}");
	rep = eval_one("metrics.a > 1", s, s, "Staging", &item);
	assert_str_or_null(rep, "version", "7", "");
	assert_str_or_null(json_object_get(rep, "champion"), "version", "7", "");
	assert_str_or_null(item, "message", "candidate (version 7) has no metric 'a'", "");
	json_decref(rep);
	rep = eval_one("git.dirty == false", s, NULL, "Staging", &item);
	assert_str_or_null(item, "message",
			   "candidate (version 7) has no git.dirty (no git provenance recorded)", "");
	json_decref(rep);
	rep = eval_one("tags.t == ''", s, NULL, "Staging", &item);
	assert_str_or_null(item, "message", "candidate (version 7) has no tag 't'", "");
	json_decref(rep);
	json_decref(s);

	/* Strings with embedded NUL and control characters compare by length and
	 * show escaped. */
	s = load("{\"tags\": {\"t\": \"a\\u0000b\", \"c\": \"x\\u001b[2Jy\\n\"}}");
	rep = eval_one("tags.t == 'a'", s, NULL, "Staging", &item);
	assert_str_or_null(item, "status", "fail", "");
	assert_str_or_null(item, "actual", "\"a\\u0000b\"", "");
	json_decref(rep);
	rep = eval_one("tags.c != ''", s, NULL, "Staging", &item);
	assert_str_or_null(item, "actual", "\"x\\u001b[2Jy\\n\"", "");
	json_decref(rep);
	json_decref(s);

	/* Messages stay one line whatever the version, stage or key holds; the
	 * report's own members keep the text. */
	s = load("{\"version\": \"3\\n\\u001b\"}");
	rep = eval_one("metrics.`a\\nb` > 1", s, NULL, "Pro\nd", &item);
	assert_str_or_null(item, "message", "candidate (version 3?\?) has no metric 'a?b'", "");
	assert_str_or_null(rep, "stage", "Pro\nd", "");
	assert_str_or_null(rep, "version", "3\n\x1b", "");
	json_decref(rep);
	rep = eval_one("champion.bundle.verified", s, NULL, "Pro\nd\t", &item);
	assert_str_or_null(item, "message", "no champion holds Pro?d  yet", "");
	json_decref(rep);
	json_decref(s);

	/* Long values are cut in what is shown, not in what is compared. */
	{
		char big[400], rule[500];

		memset(big, 'v', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		s = json_pack("{s:{s:s}}", "params", "p", big);
		snprintf(rule, sizeof(rule), "params.p == '%s'", big);
		rep = eval_one(rule, s, NULL, "Staging", &item);
		assert_str_or_null(item, "status", "pass", "");
		ck_assert_uint_eq(strlen(json_string_value(json_object_get(item, "actual"))),
				  64 + 2 + 3);
		json_decref(rep);
		json_decref(s);
	}
}
END_TEST

/* ------------------------------------------------------------------------
 * The whole report.
 */

static const char *const design_rules[] = {
	"metrics.val_accuracy >= 0.92",
	"metrics.val_loss <= champion.metrics.val_loss * 1.01",
	"params.dataset == champion.params.dataset",
	"tags.reviewed == \"true\"",
	"git.dirty == false",
	"bundle.verified",
};

START_TEST(report_shape)
{
	json_t *cand = load(CANDIDATE), *champ = load(CHAMPION);
	json_t *rep = mt_gate_evaluate(design_rules, N_ELEMS(design_rules), cand, champ,
				       "Production");
	json_t *want = load(
		"{\"model\": \"churn\", \"version\": \"3\","
		" \"run_id\": \"0123456789abcdef0123456789abcdef\", \"stage\": \"Production\","
		" \"passed\": false,"
		" \"champion\": {\"version\": \"2\", \"run_id\": \"fedcba9876543210fedcba9876543210\"},"
		" \"summary\": {\"total\": 6, \"passed\": 5, \"failed\": 1, \"errors\": 0}}");
	const char *key;
	json_t *v;

	ck_assert_ptr_nonnull(rep);
	json_object_foreach(want, key, v)
		ck_assert_msg(json_equal(v, json_object_get(rep, key)), "report member %s", key);
	ck_assert_uint_eq(json_array_size(json_object_get(rep, "rules")), 6);
	ck_assert_uint_eq(json_object_size(rep), 8);
	ck_assert(!mt_gate_report_passed(rep));
	json_decref(rep);

	/* Without the failing rule the gate passes. */
	{
		const char *rules[] = { design_rules[0], design_rules[2], design_rules[5] };

		rep = mt_gate_evaluate(rules, N_ELEMS(rules), cand, champ, "Production");
		ck_assert(json_is_true(json_object_get(rep, "passed")));
		ck_assert(mt_gate_report_passed(rep));
		json_decref(rep);
	}

	/* An empty policy passes. */
	rep = mt_gate_evaluate(NULL, 0, cand, champ, "Production");
	ck_assert(mt_gate_report_passed(rep));
	ck_assert_uint_eq(json_array_size(json_object_get(rep, "rules")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(rep, "summary"),
							    "total")), 0);
	json_decref(rep);

	/* One error among passes fails the gate and is counted as an error. */
	{
		const char *rules[] = { design_rules[0], "metrics.nope > 1", NULL };

		rep = mt_gate_evaluate(rules, N_ELEMS(rules), cand, champ, "Production");
		ck_assert(!mt_gate_report_passed(rep));
		v = json_object_get(rep, "summary");
		ck_assert_int_eq(json_integer_value(json_object_get(v, "passed")), 1);
		ck_assert_int_eq(json_integer_value(json_object_get(v, "failed")), 0);
		ck_assert_int_eq(json_integer_value(json_object_get(v, "errors")), 2);
		v = json_array_get(json_object_get(rep, "rules"), 2);
		assert_str_or_null(v, "rule", "", "NULL rule");
		assert_str_or_null(v, "message", "does not parse: empty rule", "NULL rule");
		json_decref(rep);
	}
	json_decref(want);
	json_decref(cand);
	json_decref(champ);
}
END_TEST

/* Rule texts jansson could not carry, or too long, are still reported. */
START_TEST(report_hostile_rules)
{
	char big[3000];
	const char *rules[] = { "metrics.\xff\xfe > 1", big, "tags.t == '\xe2\x80'" };
	json_t *rep, *v;
	const char *s;

	memset(big, 'x', sizeof(big) - 1);
	memcpy(big, "metrics.a > 1 ", 14);
	big[sizeof(big) - 1] = '\0';
	rep = mt_gate_evaluate(rules, N_ELEMS(rules), NULL, NULL, "Stage\xff");
	ck_assert_ptr_nonnull(rep);
	assert_str_or_null(rep, "stage", "Stage\xef\xbf\xbd", "");
	v = json_array_get(json_object_get(rep, "rules"), 0);
	assert_str_or_null(v, "rule", "metrics.\xef\xbf\xbd\xef\xbf\xbd > 1", "");
	assert_str_or_null(v, "message", "does not parse: invalid UTF-8 at column 9", "");
	v = json_array_get(json_object_get(rep, "rules"), 1);
	s = json_string_value(json_object_get(v, "rule"));
	ck_assert_uint_eq(strlen(s), MT_GATE_MAX_RULE_LEN + 3);
	ck_assert_str_eq(s + MT_GATE_MAX_RULE_LEN, "\xe2\x80\xa6");
	assert_str_or_null(v, "message", "does not parse: rule is longer than 1000 bytes", "");
	v = json_array_get(json_object_get(rep, "rules"), 2);
	assert_str_or_null(v, "rule", "tags.t == '\xef\xbf\xbd\xef\xbf\xbd'", "");
	json_decref(rep);
}
END_TEST

/* ------------------------------------------------------------------------
 * Renderers.
 */

static json_t *small_report(const json_t *champ)
{
	static const char *const rules[] = {
		"metrics.val_accuracy >= 0.92",
		"metrics.val_loss <= champion.metrics.val_loss * 1.01",
		"tags.owner == 'bob'",
		"metrics.f2 > 0.5",
	};
	json_t *cand = load(CANDIDATE);
	json_t *rep = mt_gate_evaluate(rules, N_ELEMS(rules), cand, champ, "Production");

	json_decref(cand);
	ck_assert_ptr_nonnull(rep);
	return rep;
}

START_TEST(render_text)
{
	json_t *champ = load(CHAMPION), *rep = small_report(champ);
	char *out = mt_gate_render(rep, MT_GATE_TEXT, NULL);

	ck_assert_str_eq(out,
		"gate: churn version 3 -> Production\n"
		"champion: version 2, run fedcba9876543210fedcba9876543210\n"
		"PASS  metrics.val_accuracy >= 0.92 -- metrics.val_accuracy is 0.93, needs >= 0.92\n"
		"FAIL  metrics.val_loss <= champion.metrics.val_loss * 1.01 -- metrics.val_loss is "
		"0.3, needs <= 0.2525 (champion 0.25 \xc3\x97 1.01)\n"
		"FAIL  tags.owner == 'bob' -- tags.owner is \"ana\", needs == \"bob\"\n"
		"ERROR metrics.f2 > 0.5 -- candidate (version 3) has no metric 'f2'\n"
		"FAILED: 1 passed, 2 failed, 1 error (4 rules)\n");
	free(out);
	json_decref(rep);

	rep = small_report(NULL);
	out = mt_gate_render(rep, MT_GATE_TEXT, NULL);
	ck_assert_ptr_nonnull(strstr(out, "champion: none (no version holds Production)\n"));
	ck_assert_ptr_nonnull(strstr(out, "PASS  metrics.val_loss <= champion.metrics.val_loss * "
					  "1.01 -- no champion holds Production yet\n"));
	free(out);
	json_decref(rep);

	/* Passing and empty policies. */
	{
		const char *rules[] = { "bundle.verified", "git.dirty == false" };
		json_t *cand = load(CANDIDATE);

		rep = mt_gate_evaluate(rules, 2, cand, NULL, "Staging");
		out = mt_gate_render(rep, MT_GATE_TEXT, NULL);
		ck_assert_ptr_nonnull(strstr(out, "\nPASSED: 2 of 2 rules passed\n"));
		free(out);
		json_decref(rep);
		rep = mt_gate_evaluate(rules, 0, cand, NULL, "Staging");
		out = mt_gate_render(rep, MT_GATE_TEXT, NULL);
		ck_assert_str_eq(out, "gate: churn version 3 -> Staging\n"
				      "champion: none (no version holds Staging)\n"
				      "PASSED: no rules\n");
		free(out);
		json_decref(rep);
		json_decref(cand);
	}

	/* A report cannot drive the terminal. */
	rep = load("{\"model\": \"m\\u001b]0;x\\u0007\", \"passed\": true, \"rules\": [{\"rule\": "
		   "\"a\\tb\", \"status\": \"pass\", \"message\": \"x\\u001b[31m\\r\\n\\u009b1m\"}]}");
	out = mt_gate_render(rep, MT_GATE_TEXT, NULL);
	ck_assert_str_eq(out, "gate: m\\x1b]0;x\\x07 version ? -> ?\n"
			      "champion: none (no version holds ?)\n"
			      "PASS  a b -- x\\x1b[31m\\x0d\\x0a\\u009b1m\n"
			      "PASSED: 1 of 1 rule passed\n");
	free(out);
	json_decref(rep);
	json_decref(champ);
}
END_TEST

START_TEST(render_json)
{
	json_t *champ = load(CHAMPION), *rep = small_report(champ), *back;
	char *out = mt_gate_render(rep, MT_GATE_JSON, "http://x");
	json_error_t e;

	ck_assert_ptr_nonnull(out);
	ck_assert_uint_gt(strlen(out), 2);
	ck_assert_int_eq(out[strlen(out) - 1], '\n');
	ck_assert_ptr_nonnull(strstr(out, "\n  \"model\": \"churn\",\n"));
	back = json_loads(out, 0, &e);
	ck_assert_msg(back != NULL, "%s", e.text);
	ck_assert(json_equal(back, rep));
	json_decref(back);
	free(out);
	json_decref(rep);
	json_decref(champ);

	out = mt_gate_render(NULL, MT_GATE_JSON, NULL);
	ck_assert_str_eq(out, "null\n");
	free(out);
}
END_TEST

/* Run python3 on the XML: parse it, check the JUnit shape (counts agree with
 * the children), and print every testcase name as a JSON list. */
static const char junit_check_py[] =
	"import json, sys, xml.etree.ElementTree as ET\n"
	"root = ET.parse(sys.argv[1]).getroot()\n"
	"assert root.tag == 'testsuites', root.tag\n"
	"suites = root.findall('testsuite')\n"
	"assert len(suites) == 1\n"
	"s = suites[0]\n"
	"for a in ('name', 'tests', 'failures', 'errors'):\n"
	"    assert a in s.attrib, a\n"
	"cases = s.findall('testcase')\n"
	"assert int(s.get('tests')) == len(cases) == int(root.get('tests'))\n"
	"f = [c for c in cases if c.find('failure') is not None]\n"
	"e = [c for c in cases if c.find('error') is not None]\n"
	"assert int(s.get('failures')) == len(f) == int(root.get('failures'))\n"
	"assert int(s.get('errors')) == len(e) == int(root.get('errors'))\n"
	"for c in cases:\n"
	"    assert c.get('classname') == s.get('name'), c.get('classname')\n"
	"    for x in c.findall('failure') + c.findall('error'):\n"
	"        assert x.get('message') is not None\n"
	"print(json.dumps({'suite': s.get('name'), 'names': [c.get('name') for c in cases],\n"
	"                  'messages': [(c.find('failure') if c.find('failure') is not None\n"
	"                                else c.find('error')).get('message') for c in f + e]}))\n";

/* The python3 summary of xml (owned), or a failed check. */
static json_t *junit_parse(const char *xml)
{
	char dir[] = "/tmp/check_gate.XXXXXX", xpath[64], ppath[64], cmd[256], buf[65536];
	FILE *f, *p;
	size_t n;
	int status;
	json_t *out;
	json_error_t e;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(xpath, sizeof(xpath), "%s/junit.xml", dir);
	snprintf(ppath, sizeof(ppath), "%s/check.py", dir);
	f = fopen(xpath, "w");
	ck_assert_ptr_nonnull(f);
	fputs(xml, f);
	fclose(f);
	f = fopen(ppath, "w");
	ck_assert_ptr_nonnull(f);
	fputs(junit_check_py, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "python3 %s %s", ppath, xpath);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	status = pclose(p);
	unlink(xpath);
	unlink(ppath);
	rmdir(dir);
	ck_assert_msg(status == 0, "python3 rejected the JUnit XML (status %d):\n%s", status, xml);
	out = json_loads(buf, 0, &e);
	ck_assert_msg(out != NULL, "python3 output: %s", buf);
	return out;
}

START_TEST(render_junit)
{
	json_t *champ = load(CHAMPION), *rep = small_report(champ), *sum;
	char *out = mt_gate_render(rep, MT_GATE_JUNIT, NULL);

	ck_assert(starts_with(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "));
	ck_assert_ptr_nonnull(strstr(out, "<testsuite name=\"gate.churn.Production\" tests=\"4\" "
					  "failures=\"2\" errors=\"1\" skipped=\"0\">"));
	ck_assert_ptr_nonnull(strstr(out, "<testcase classname=\"gate.churn.Production\" "
					  "name=\"metrics.val_accuracy &gt;= 0.92\">\n"
					  "      <system-out>metrics.val_accuracy is 0.93, needs &gt;= "
					  "0.92</system-out>\n    </testcase>"));
	ck_assert_ptr_nonnull(strstr(out, "<failure message=\"metrics.val_loss is 0.3, needs &lt;= "
					  "0.2525 (champion 0.25 \xc3\x97 1.01)\" type=\"GateRuleFailed\">"
					  "actual: 0.3\nrequired: &lt;= 0.2525 (champion 0.25 \xc3\x97 "
					  "1.01)</failure>"));
	ck_assert_ptr_nonnull(strstr(out, "<error message=\"candidate (version 3) has no metric "
					  "&apos;f2&apos;\" type=\"GateRuleError\">actual: unknown\n"
					  "required: &gt; 0.5</error>"));
	ck_assert_ptr_nonnull(strstr(out, "<property name=\"champion_version\" value=\"2\"/>"));
	ck_assert_ptr_nonnull(strstr(out, "<property name=\"passed\" value=\"false\"/>"));
	sum = junit_parse(out);
	ck_assert_str_eq(json_string_value(json_object_get(sum, "suite")), "gate.churn.Production");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(sum, "names"), 2)),
			 "tags.owner == 'bob'");
	json_decref(sum);
	free(out);
	json_decref(rep);
	json_decref(champ);
}
END_TEST

/* Hostile rule texts: every name reads back exactly from the parsed XML. */
START_TEST(render_junit_hostile)
{
	static const char *const rules[] = {
		"tags.x == '<b>&amp;</b>'",
		"tags.y == \"]]>\" ",
		"tags.z == 'it\\'s \"quoted\"'",
		"<![CDATA[ x ]]>",
		"--> <!-- & &#0; &bogus;",
		"tags.`\xe2\x9c\x93 <&>` == '\xf0\x9f\x98\x80'",
		"metrics.a\t>\t1",
	};
	json_t *cand = load(CANDIDATE), *rep, *sum, *names;
	char *out;

	rep = mt_gate_evaluate((const char *const *)rules, N_ELEMS(rules), cand, NULL,
			       "Prod\"<&>'uction");
	json_object_set_new(rep, "model", json_string("m<&>\"'"));
	out = mt_gate_render(rep, MT_GATE_JUNIT, NULL);
	ck_assert_ptr_null(strstr(out, "]]>"));
	ck_assert_ptr_null(strstr(out, "<b>"));
	sum = junit_parse(out);
	ck_assert_str_eq(json_string_value(json_object_get(sum, "suite")),
			 "gate.m<&>\"'.Prod\"<&>'uction");
	names = json_object_get(sum, "names");
	ck_assert_uint_eq(json_array_size(names), N_ELEMS(rules));
	for (size_t i = 0; i < N_ELEMS(rules); i++)
		ck_assert_str_eq(json_string_value(json_array_get(names, i)), rules[i]);
	json_decref(sum);
	free(out);
	json_decref(rep);

	/* Characters XML 1.0 cannot hold at all become U+FFFD; the document
	 * still parses. */
	rep = load("{\"model\": \"m\\u0001\", \"stage\": \"S\", \"passed\": false, \"rules\": ["
		   "{\"rule\": \"a\\u0000b\\u0008c\\ufffed\\uffff\", \"status\": \"error\","
		   " \"message\": \"m\\u001b\\u000b\"}, {\"rule\": 5}, 7]}");
	out = mt_gate_render(rep, MT_GATE_JUNIT, NULL);
	sum = junit_parse(out);
	names = json_object_get(sum, "names");
	ck_assert_uint_eq(json_array_size(names), 3);
	/* jansson's string stops at the NUL */
	ck_assert_str_eq(json_string_value(json_array_get(names, 0)), "a");
	ck_assert_str_eq(json_string_value(json_array_get(names, 1)), "");
	ck_assert_str_eq(json_string_value(json_object_get(sum, "suite")), "gate.m\xef\xbf\xbd.S");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(sum, "messages"), 0)),
			 "m\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(sum);
	free(out);
	json_decref(rep);

	rep = load("{\"rules\": [{\"rule\": \"x\\u0008y\\ufffez\", \"status\": \"pass\"}]}");
	out = mt_gate_render(rep, MT_GATE_JUNIT, NULL);
	ck_assert_ptr_nonnull(strstr(out, "name=\"x\xef\xbf\xbdy\xef\xbf\xbdz\""));
	sum = junit_parse(out);
	json_decref(sum);
	free(out);
	json_decref(rep);
	json_decref(cand);
}
END_TEST

START_TEST(render_markdown)
{
	json_t *champ = load(CHAMPION), *rep = small_report(champ);
	char *out = mt_gate_render(rep, MT_GATE_MARKDOWN, "https://mltrack.example.com/");

	ck_assert_str_eq(out,
		"### \xe2\x9d\x8c Gate failed: `churn` version 3 \xe2\x86\x92 Production\n"
		"\n"
		"**Candidate:** version 3, run [`01234567`](https://mltrack.example.com/runs/"
		"0123456789abcdef0123456789abcdef) \xc2\xb7 **Champion:** version 2, run [`fedcba98`]"
		"(https://mltrack.example.com/runs/fedcba9876543210fedcba9876543210)\n"
		"\n"
		"| Rule | Actual | Required | Result |\n"
		"| --- | --- | --- | --- |\n"
		"| `metrics.val_accuracy >= 0.92` | `0.93` | `>= 0.92` | \xe2\x9c\x85 pass |\n"
		"| `metrics.val_loss <= champion.metrics.val_loss * 1.01` | `0.3` | "
		"`<= 0.2525 (champion 0.25 \xc3\x97 1.01)` | \xe2\x9d\x8c fail |\n"
		"| `tags.owner == 'bob'` | `\"ana\"` | `== \"bob\"` | \xe2\x9d\x8c fail |\n"
		"| `metrics.f2 > 0.5` | \xe2\x80\x94 | `> 0.5` | \xe2\x9a\xa0\xef\xb8\x8f error: "
		"candidate (version 3) has no metric 'f2' |\n"
		"\n"
		"1 passed \xc2\xb7 2 failed \xc2\xb7 1 error \xc2\xb7 4 rules\n");
	free(out);

	/* Without a base URL: run ids, no links. */
	out = mt_gate_render(rep, MT_GATE_MARKDOWN, NULL);
	ck_assert_ptr_null(strstr(out, "]("));
	ck_assert_ptr_nonnull(strstr(out, "**Candidate:** version 3, run "
					  "`0123456789abcdef0123456789abcdef`"));
	free(out);
	json_decref(rep);

	/* No champion; a passing gate. */
	{
		const char *rules[] = { "bundle.verified", "champion.git.dirty == false" };
		json_t *cand = load(CANDIDATE);

		rep = mt_gate_evaluate(rules, 2, cand, NULL, "Staging");
		out = mt_gate_render(rep, MT_GATE_MARKDOWN, "http://h:5170");
		ck_assert(starts_with(out, "### \xe2\x9c\x85 Gate passed: `churn` version 3 "
					   "\xe2\x86\x92 Staging\n"));
		ck_assert_ptr_nonnull(strstr(out, "(http://h:5170/runs/0123456789abcdef0123456789abcdef)"));
		ck_assert_ptr_nonnull(strstr(out, "**Champion:** none (no version holds Staging yet)"));
		ck_assert_ptr_nonnull(strstr(out, "| `champion.git.dirty == false` | \xe2\x80\x94 | "
						  "`== false` | \xe2\x9c\x85 pass (no "
						  "champion yet) |\n"));
		free(out);
		json_decref(rep);
		rep = mt_gate_evaluate(rules, 0, cand, NULL, "Staging");
		out = mt_gate_render(rep, MT_GATE_MARKDOWN, NULL);
		ck_assert_ptr_nonnull(strstr(out, "\n\nNo rules: the gate passes.\n"));
		ck_assert_ptr_null(strstr(out, "| Rule |"));
		free(out);
		json_decref(rep);
		json_decref(cand);
	}
	json_decref(champ);
}
END_TEST

/* Pipes, backticks, markdown syntax, line breaks and odd URLs. */
START_TEST(render_markdown_escaping)
{
	json_t *rep = load(
		"{\"model\": \"a*b_c\", \"version\": \"1 | 2\", \"stage\": \"<b>P</b>\","
		" \"run_id\": \"abc) [x](javascript:alert(1)\", \"passed\": false,"
		" \"champion\": {\"version\": \"2\", \"run_id\": \"0123abcd\"},"
		" \"rules\": ["
		"  {\"rule\": \"tags.`a|b` == 'x``y'\", \"status\": \"fail\", \"actual\": \"`v`\","
		"   \"required\": \" == \\\"b|c\\\" \", \"message\": \"m\"},"
		"  {\"rule\": \"line\\nbreak\\r|\", \"status\": \"error\", \"actual\": null,"
		"   \"required\": \"\", \"message\": \"bad *rule* _x_ [l](u) <i> | ~s~ \\\\ & \\n x\"},"
		"  {\"rule\": \"\", \"status\": \"weird\"}]}");
	char *out = mt_gate_render(rep, MT_GATE_MARKDOWN, "http://h/a b(c)");
	const char *rows;
	size_t lines = 0;

	ck_assert_ptr_nonnull(strstr(out, "Gate failed: `a*b_c` version 1 \\| 2 \xe2\x86\x92 "
					  "\\<b\\>P\\</b\\>\n"));
	/* A run id that is not one is never put into a URL. */
	ck_assert_ptr_nonnull(strstr(out, "**Candidate:** version 1 \\| 2, run "
					  "`abc) [x](javascript:alert(1)`"));
	ck_assert_ptr_nonnull(strstr(out, "run [`0123abcd`](http://h/a%20b%28c%29/runs/0123abcd)"));
	ck_assert_ptr_nonnull(strstr(out, "| ```tags.`a\\|b` == 'x``y'``` | `` `v` `` | "
					  "`  == \"b\\|c\"  ` | \xe2\x9d\x8c fail |\n"));
	ck_assert_ptr_nonnull(strstr(out, "| `line break \\|` | \xe2\x80\x94 | \xe2\x80\x94 | "
					  "\xe2\x9a\xa0\xef\xb8\x8f error: bad \\*rule\\* \\_x\\_ "
					  "\\[l\\](u) \\<i\\> \\| \\~s\\~ \\\\ \\&   x |\n"));
	/* An unknown status is an error; an empty rule shows a dash. */
	ck_assert_ptr_nonnull(strstr(out, "| \xe2\x80\x94 | \xe2\x80\x94 | \xe2\x80\x94 | "
					  "\xe2\x9a\xa0\xef\xb8\x8f error: ? |\n"));
	ck_assert_ptr_nonnull(strstr(out, "0 passed \xc2\xb7 1 failed \xc2\xb7 2 errors"));
	/* Every table row is one line with exactly five unescaped pipes. */
	rows = strstr(out, "| Rule |");
	ck_assert_ptr_nonnull(rows);
	for (const char *l = rows; *l == '|'; l = strchr(l, '\n') + 1) {
		int pipes = 0;

		for (const char *c = l; *c != '\n'; c++)
			if (*c == '|' && c[-1] != '\\')
				pipes++;
		ck_assert_msg(pipes == 5, "row with %d pipes: %.80s", pipes, l);
		lines++;
	}
	ck_assert_uint_eq(lines, 2 + 3);
	free(out);
	json_decref(rep);
}
END_TEST

/* Reports of any shape render without trusting them. */
START_TEST(render_malformed)
{
	static const char *const reports[] = {
		"[]", "\"x\"", "{}", "{\"rules\": 5}", "{\"rules\": [1, null, [], {\"status\": 7}]}",
		"{\"passed\": \"yes\", \"champion\": 3, \"model\": 5, \"summary\": \"s\"}",
	};
	const enum mt_gate_format fmts[] = {
		MT_GATE_TEXT, MT_GATE_JSON, MT_GATE_JUNIT, MT_GATE_MARKDOWN,
	};

	for (size_t i = 0; i < N_ELEMS(reports); i++) {
		json_t *rep = load(reports[i]);

		for (size_t f = 0; f < N_ELEMS(fmts); f++) {
			char *out = mt_gate_render(rep, fmts[f], "http://h");

			ck_assert_ptr_nonnull(out);
			ck_assert_int_eq(out[strlen(out) - 1], '\n');
			if (fmts[f] == MT_GATE_TEXT)
				ck_assert_ptr_nonnull(strstr(out, i == 4 ? "FAILED: 0 passed, 0 failed, "
									   "4 errors (4 rules)\n"
									 : "PASSED: no rules\n"));
			free(out);
		}
		ck_assert_int_eq(mt_gate_report_passed(rep), 0);
		json_decref(rep);
	}

	/* "passed": true is not believed when a rule says otherwise. */
	{
		json_t *rep = load("{\"passed\": true, \"rules\": [{\"status\": \"pass\"},"
				   " {\"status\": \"fail\"}]}");
		char *out = mt_gate_render(rep, MT_GATE_MARKDOWN, NULL);

		ck_assert(starts_with(out, "### \xe2\x9d\x8c Gate failed"));
		free(out);
		out = mt_gate_render(rep, MT_GATE_TEXT, NULL);
		ck_assert_ptr_nonnull(strstr(out, "FAILED: 1 passed, 1 failed, 0 errors (2 rules)\n"));
		free(out);
		json_decref(rep);
	}
	{
		char *out = mt_gate_render(NULL, MT_GATE_JUNIT, NULL);

		ck_assert_ptr_nonnull(strstr(out, "tests=\"0\""));
		free(out);
	}
}
END_TEST

START_TEST(format_names)
{
	enum mt_gate_format f = MT_GATE_JSON;

	ck_assert_int_eq(mt_gate_format_parse("text", &f), 0);
	ck_assert_int_eq(f, MT_GATE_TEXT);
	ck_assert_int_eq(mt_gate_format_parse("json", &f), 0);
	ck_assert_int_eq(f, MT_GATE_JSON);
	ck_assert_int_eq(mt_gate_format_parse("junit", &f), 0);
	ck_assert_int_eq(f, MT_GATE_JUNIT);
	ck_assert_int_eq(mt_gate_format_parse("markdown", &f), 0);
	ck_assert_int_eq(f, MT_GATE_MARKDOWN);
	f = MT_GATE_TEXT;
	ck_assert_int_eq(mt_gate_format_parse("md", &f), 0);
	ck_assert_int_eq(f, MT_GATE_MARKDOWN);
	ck_assert_int_eq(mt_gate_format_parse("xml", &f), -1);
	ck_assert_int_eq(mt_gate_format_parse("JSON", &f), -1);
	ck_assert_int_eq(mt_gate_format_parse("", &f), -1);
	ck_assert_int_eq(mt_gate_format_parse(NULL, &f), -1);
	ck_assert_int_eq(f, MT_GATE_MARKDOWN);
}
END_TEST

Suite *make_gate_suite(void)
{
	Suite *s = suite_create("gate");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_loop_test(tc, parse_ok, 0, (int)N_ELEMS(ok_cases));
	tcase_add_loop_test(tc, parse_bad, 0, (int)N_ELEMS(bad_cases));
	tcase_add_test(tc, parse_limits);
	tcase_add_test(tc, limits_depth_and_nodes);
	tcase_add_test(tc, validate_policy);
	suite_add_tcase(s, tc);

	tc = tcase_create("stack");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_test(tc, deepest_rules_on_a_worker_stack);
	tcase_add_test(tc, stored_hostile_rule_on_a_worker_stack);
	suite_add_tcase(s, tc);

	tc = tcase_create("evaluate");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_loop_test(tc, eval_table, 0, (int)N_ELEMS(eval_cases));
	tcase_add_test(tc, eval_no_champion);
	tcase_add_test(tc, eval_subjects);
	tcase_add_test(tc, monitor_rules);
	suite_add_tcase(s, tc);

	tc = tcase_create("report");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_test(tc, report_shape);
	tcase_add_test(tc, report_hostile_rules);
	suite_add_tcase(s, tc);

	tc = tcase_create("render");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_test(tc, render_text);
	tcase_add_test(tc, render_json);
	tcase_add_test(tc, render_junit);
	tcase_add_test(tc, render_junit_hostile);
	tcase_add_test(tc, render_markdown);
	tcase_add_test(tc, render_markdown_escaping);
	tcase_add_test(tc, render_malformed);
	tcase_add_test(tc, format_names);
	suite_add_tcase(s, tc);

	return s;
}
