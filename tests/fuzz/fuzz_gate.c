/*
 * fuzz_gate: libFuzzer harness for lib/mt_gate (gate rules, their
 * evaluation and the report renderers).
 *
 * Everything runs on a thread with a 100 KiB stack, the size of a server
 * worker's (CivetWeb as Debian builds it), so a rule that needs more stack
 * than a worker has crashes the harness as it would crash mltrackd.
 *
 * The input is first expanded: "\x01*" followed by a count byte c, a length
 * byte n and n bytes stands for those n bytes repeated c times (a control
 * character is never part of a valid rule, so nothing is lost), which lets
 * a few bytes of corpus or mutation reach the deep and long expressions of
 * the limits (MT_GATE_MAX_DEPTH, MT_GATE_MAX_NODES, MT_GATE_MAX_RULE_LEN):
 * "1 <= 1\x01*\x77\x02+1" is the 120-term rule of issue 11.  The expanded
 * text is used three ways:
 *  - as one rule (a NUL-terminated copy) for mt_gate_parse(), with a full
 *    and a tiny error buffer;
 *  - split at newlines into a policy of up to 150 rules (past the limit of
 *    100) for mt_gate_validate() and mt_gate_evaluate() against a fixed
 *    candidate, with and without a champion, each report rendered in every
 *    format;
 *  - the same policy as the server stores and reloads it, never validated
 *    (a database from before the limits, or written by hand): a JSON array
 *    of strings dumped to text and read back, as sql_gates.c reads
 *    array_to_json(rules), then evaluated and rendered.
 * The raw input is also parsed as JSON, when it is: rendered as a
 * (hostile) report in every format, and used as the candidate and champion
 * subject for a fixed policy.
 * Beyond "no crash, no leak, no out-of-bounds read" (ASan, UBSan, LSan) the
 * harness checks properties and abort()s when one fails:
 *  - parse errors are one non-empty line of valid UTF-8, also when cut;
 *  - validate succeeds exactly when there are at most 100 rules and each
 *    parses;
 *  - a report has one item per rule with a known status, counts that add
 *    up, and passes exactly when every rule passes; a rule that does not
 *    parse is an error "does not parse: ...";
 *  - a rule without champion.* gets the same result with and without a
 *    champion; one with champion.* never fails when there is none;
 *  - "not RULE" swaps pass and fail and keeps errors;
 *  - the evaluator's own bound never fires: a rule that parses is never
 *    an error for its depth, which only the parser may refuse;
 *  - mt_gate_validate_alert accepts exactly the policies whose rules
 *    parse; mt_gate_validate the same, except those naming drift.* or
 *    live.*, which it refuses with a message that says so;
 *  - a reloaded policy gives the very report the original strings give,
 *    and each rule is an error exactly when it does not parse;
 *  - every rendering is valid UTF-8 ending in a newline; text has one line
 *    per rule plus three and no control characters; JUnit holds no control
 *    characters XML 1.0 forbids; every markdown table row has exactly five
 *    unescaped pipes; JSON reads back equal to the report.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined, or link
 * tests/fuzz/standalone.c to replay the corpus in tests/fuzz/corpus/gate/.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mt_gate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_SPLIT 150
#define MAX_EXPANDED 4096          /* past MT_GATE_MAX_RULE_LEN, to reach it */
#define WORKER_STACK (100 * 1024)  /* CivetWeb's worker stack in Debian */

static const char CANDIDATE[] =
	"{\"name\": \"churn\", \"version\": \"3\", \"run_id\": \"0123456789abcdef0123456789abcdef\","
	" \"metrics\": {\"val_accuracy\": 0.93, \"val_loss\": 0.3, \"a\": 1, \"b\": -2.5e3,"
	"   \"nan\": \"NaN\", \"zero\": 0, \"big\": 1e308, \"val loss\": 0.2},"
	" \"params\": {\"dataset\": \"v2\", \"lr\": \"0.01\", \"a\": \"x|y`z\", \"n\": 3},"
	" \"tags\": {\"reviewed\": \"true\", \"a\": \"<&>\\\"'\", \"b\": \"False\"},"
	" \"git\": {\"dirty\": false, \"commit\": \"abc\", \"branch\": \"main\", \"repo_url\": \"u\"},"
	" \"bundle\": {\"verified\": true, \"sha256\": \"00\"},"
	" \"drift\": {\"psi\": {\"age\": 0.3, \"a\": \"NaN\"}, \"ks\": {\"age\": 0.1}},"
	" \"live\": {\"accuracy\": 0.88, \"count\": 10, \"a\": true}}";

static const char CHAMPION[] =
	"{\"name\": \"churn\", \"version\": \"2\", \"run_id\": \"fedcba9876543210fedcba9876543210\","
	" \"metrics\": {\"val_accuracy\": 0.91, \"val_loss\": 0.25, \"a\": 2},"
	" \"params\": {\"dataset\": \"v2\", \"lr\": \"0.02\"}, \"tags\": {\"a\": \"b\"},"
	" \"git\": {\"dirty\": true}, \"bundle\": {\"verified\": false}}";

/* For the JSON-as-subject pass. */
static const char *const fixed_rules[] = {
	"metrics.val_accuracy >= 0.92",
	"metrics.val_loss <= champion.metrics.val_loss * 1.01",
	"params.dataset == champion.params.dataset",
	"tags.reviewed == \"true\"",
	"git.dirty == false",
	"bundle.verified",
	"not git.dirty",
	"params.lr * 2 < champion.params.lr",
	"-metrics.a / (metrics.b - 1) != tags.a",
	"tags.b == true",
};

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_gate: property failed: %s (%.300s)\n", what, detail ? detail : "");
	abort();
}

static int valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = *p < 0x80 ? 1 : *p >= 0xF5 ? 0 : *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 :
			   *p >= 0xC2 ? 2 : 0;

		if (n == 0)
			fail("invalid UTF-8 lead byte", s);
		for (size_t k = 1; k < n; k++)
			if ((p[k] & 0xC0) != 0x80)
				fail("invalid UTF-8 continuation", s);
		p += n;
	}
	return 1;
}

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j)
		fail("fixed subject", e.text);
	return j;
}

static const char *item_str(const json_t *item, const char *key)
{
	const json_t *v = json_object_get(item, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int status_of(const json_t *item)
{
	const char *s = item_str(item, "status");

	if (!s)
		fail("rule without status", NULL);
	if (strcmp(s, "pass") == 0)
		return 0;
	if (strcmp(s, "fail") == 0)
		return 1;
	if (strcmp(s, "error") == 0)
		return 2;
	fail("unknown status", s);
	return -1;
}

/* ---- renderings ---- */

static void check_text(const char *out, size_t nrules)
{
	size_t lines = 0;

	for (const unsigned char *p = (const unsigned char *)out; *p; p++) {
		if (*p == '\n')
			lines++;
		else if (*p < 0x20 || *p == 0x7F)
			fail("control character in text output", out);
		else if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F)
			fail("C1 control in text output", out);
	}
	if (lines != nrules + 3)
		fail("text line count", out);
}

static void check_junit(const char *out)
{
	if (strncmp(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites ", 51) != 0)
		fail("junit prologue", out);
	for (const unsigned char *p = (const unsigned char *)out; *p; p++) {
		if (*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r')
			fail("control character in junit", out);
		if (p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF))
			fail("U+FFFE/U+FFFF in junit", out);
	}
	if (strstr(out, "]]>"))
		fail("]]> in junit", out);
}

static void check_markdown(const char *out, size_t nrules)
{
	const char *rows = strstr(out, "\n| Rule | Actual | Required | Result |\n");
	size_t lines = 0;

	if (nrules == 0)
		return;
	if (!rows)
		fail("markdown table header", out);
	for (const char *l = rows + 1; *l == '|'; l = strchr(l, '\n') + 1) {
		int pipes = 0;
		const char *c;

		for (c = l; *c && *c != '\n'; c++)
			if (*c == '|' && (c == l || c[-1] != '\\'))
				pipes++;
		if (*c != '\n')
			fail("markdown row without newline", l);
		if (pipes != 5)
			fail("markdown row pipes", l);
		lines++;
	}
	if (lines != nrules + 2)
		fail("markdown row count", out);
}

static void render_all(const json_t *report, size_t nrules)
{
	static const enum mt_gate_format fmts[] = {
		MT_GATE_TEXT, MT_GATE_JSON, MT_GATE_JUNIT, MT_GATE_MARKDOWN,
	};

	for (size_t f = 0; f < N_ELEMS(fmts); f++) {
		char *out = mt_gate_render(report, fmts[f], "http://h:5170/x (y)/");
		size_t n;

		if (!out)
			fail("render returned NULL", NULL);
		n = strlen(out);
		if (n == 0 || out[n - 1] != '\n')
			fail("rendering does not end in a newline", out);
		valid_utf8(out);
		switch (fmts[f]) {
		case MT_GATE_TEXT:
			check_text(out, nrules);
			break;
		case MT_GATE_JUNIT:
			check_junit(out);
			break;
		case MT_GATE_MARKDOWN:
			check_markdown(out, nrules);
			break;
		case MT_GATE_JSON: {
			json_error_t e;
			json_t *back = json_loads(out, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

			if (report && (!back || !json_equal(back, report)))
				fail("json rendering does not read back", e.text);
			json_decref(back);
			break;
		}
		}
		free(out);
	}
}

/* ---- reports ---- */

/* Properties of a report for rules[0..n); returns it (owned). */
static json_t *evaluate_checked(const char *const *rules, size_t n, const json_t *cand,
				const json_t *champ)
{
	json_t *rep = mt_gate_evaluate(rules, n, cand, champ, "Production");
	const json_t *list, *sum;
	size_t counts[3] = { 0, 0, 0 };

	if (!rep)
		fail("evaluate returned NULL", NULL);
	list = json_object_get(rep, "rules");
	sum = json_object_get(rep, "summary");
	if (json_array_size(list) != n)
		fail("one item per rule", NULL);
	for (size_t i = 0; i < n; i++) {
		const json_t *item = json_array_get(list, i);
		int st = status_of(item);
		const char *msg = item_str(item, "message");
		char err[512];
		struct mt_gate_rule *r = mt_gate_parse(rules[i], err, sizeof(err));

		counts[st]++;
		if (json_is_true(json_object_get(item, "passed")) != (st == 0))
			fail("passed disagrees with status", rules[i]);
		if (!msg || !msg[0] || strchr(msg, '\n'))
			fail("message not one non-empty line", msg);
		if (!item_str(item, "rule"))
			fail("rule text missing", NULL);
		if (!r && (st != 2 || strncmp(msg, "does not parse: ", 16) != 0 ||
			   strcmp(msg + 16, err) != 0))
			fail("unparsable rule not reported as such", msg);
		/* (A key may itself say "deeper than": messages quote keys.) */
		if (r && strstr(msg, "deeper than 32 levels") && !strstr(rules[i], "deeper than"))
			fail("the evaluator refused the depth of a rule that parses", rules[i]);
		if (json_is_true(json_object_get(item, "no_champion")) && (st != 0 || champ))
			fail("no_champion on a rule that is not a pass without champion", msg);
		mt_gate_rule_free(r);
	}
	if (json_integer_value(json_object_get(sum, "total")) != (json_int_t)n ||
	    json_integer_value(json_object_get(sum, "passed")) != (json_int_t)counts[0] ||
	    json_integer_value(json_object_get(sum, "failed")) != (json_int_t)counts[1] ||
	    json_integer_value(json_object_get(sum, "errors")) != (json_int_t)counts[2])
		fail("summary counts", NULL);
	if (mt_gate_report_passed(rep) != (counts[0] == n))
		fail("report verdict", NULL);
	return rep;
}

static void policy_pass(char *text)
{
	const char *lines[MAX_SPLIT];
	size_t n = 0;
	char err[512];
	int all_parse = 1;
	json_t *cand = load(CANDIDATE), *champ = load(CHAMPION), *with, *without;

	for (char *p = text, *nl; n < MAX_SPLIT; p = nl + 1) {
		lines[n++] = p;
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
	}
	for (size_t i = 0; i < n; i++) {
		struct mt_gate_rule *r = mt_gate_parse(lines[i], NULL, 0);

		all_parse &= r != NULL;
		mt_gate_rule_free(r);
	}
	/* Alert rules: exactly the policies whose rules parse.  A gate: those
	 * too, less the ones naming drift.* or live.*, refused with that. */
	if ((mt_gate_validate_alert(lines, n, err, sizeof(err)) == 0) !=
	    (all_parse && n <= MT_GATE_MAX_RULES))
		fail("validate_alert disagrees with parse", err);
	if (err[0] && (strchr(err, '\n') || !valid_utf8(err)))
		fail("validate_alert message", err);
	if (mt_gate_validate(lines, n, err, sizeof(err)) == 0) {
		if (!(all_parse && n <= MT_GATE_MAX_RULES))
			fail("validate accepts what does not parse", err);
	} else if (all_parse && n <= MT_GATE_MAX_RULES && !strstr(err, "drift.* and live.*")) {
		fail("validate refuses a policy that parses", err);
	}
	if (err[0] && (strchr(err, '\n') || !valid_utf8(err)))
		fail("validate message", err);

	with = evaluate_checked(lines, n, cand, champ);
	without = evaluate_checked(lines, n, cand, NULL);
	for (size_t i = 0; i < n; i++) {
		const json_t *a = json_array_get(json_object_get(with, "rules"), i);
		const json_t *b = json_array_get(json_object_get(without, "rules"), i);
		struct mt_gate_rule *r = mt_gate_parse(lines[i], NULL, 0);
		int parsed = r != NULL, uses = mt_gate_rule_uses_champion(r);

		mt_gate_rule_free(r);
		if (parsed && !uses && !json_equal(a, b))
			fail("champion changed a rule that does not use it", lines[i]);
		if (parsed && uses && status_of(b) == 1)
			fail("champion rule failed without a champion", lines[i]);

		/* "not RULE" swaps pass and fail. */
		if (parsed && i < 20) {
			char neg[MT_GATE_MAX_RULE_LEN + 8];
			const char *one[1] = { neg };
			json_t *rep;
			int st, nst;

			snprintf(neg, sizeof(neg), "not %s", lines[i]);
			r = mt_gate_parse(neg, NULL, 0);
			if (!r)
				continue;  /* already negated, or too long */
			mt_gate_rule_free(r);
			rep = evaluate_checked(one, 1, cand, champ);
			st = status_of(a);
			nst = status_of(json_array_get(json_object_get(rep, "rules"), 0));
			if ((st == 2) != (nst == 2) || (st != 2 && st == nst))
				fail("not does not negate", lines[i]);
			json_decref(rep);
		}
	}
	render_all(with, n);
	render_all(without, n);
	json_decref(with);
	json_decref(without);
	json_decref(cand);
	json_decref(champ);
}

/* The policy as mltrackd stores it and reads it back: a JSON array of
 * strings (lines that are not UTF-8 cannot be stored and are left out),
 * dumped and loaded again; never validated. */
static void stored_pass(char *text)
{
	const char *lines[MAX_SPLIT], *back[MAX_SPLIT];
	json_t *arr = json_array(), *loaded, *cand = load(CANDIDATE), *champ = load(CHAMPION);
	json_t *direct, *reloaded;
	json_error_t e;
	size_t n = 0, nb;
	char *stored;

	for (char *p = text, *nl; p && n < MAX_SPLIT; p = nl ? nl + 1 : NULL) {
		json_t *str;

		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if ((str = json_string(p))) {
			json_array_append_new(arr, str);
			lines[n++] = p;
		}
	}
	stored = json_dumps(arr, JSON_COMPACT);
	if (!stored)
		fail("dump the stored policy", NULL);
	loaded = json_loads(stored, 0, &e);
	if (!json_is_array(loaded) || json_array_size(loaded) != n)
		fail("the stored policy does not read back", e.text);
	nb = json_array_size(loaded);
	for (size_t i = 0; i < nb; i++)
		back[i] = json_string_value(json_array_get(loaded, i));

	direct = evaluate_checked(lines, n, cand, champ);
	reloaded = evaluate_checked(back, nb, cand, champ);
	if (!json_equal(direct, reloaded))
		fail("a reloaded policy evaluates differently", stored);
	for (size_t i = 0; i < nb; i++) {
		struct mt_gate_rule *r = mt_gate_parse(back[i], NULL, 0);
		int st = status_of(json_array_get(json_object_get(reloaded, "rules"), i));

		if (!r && st != 2)
			fail("a stored rule that does not parse is not an error", back[i]);
		mt_gate_rule_free(r);
	}
	render_all(reloaded, nb);
	json_decref(direct);
	json_decref(reloaded);
	json_decref(loaded);
	json_decref(arr);
	json_decref(cand);
	json_decref(champ);
	free(stored);
}

/* The input with every "\x01*" c n <n bytes> replaced by the n bytes
 * repeated c times, at most MAX_EXPANDED bytes, NUL-terminated (malloc'd,
 * *len its length). */
static char *expand(const uint8_t *data, size_t size, size_t *len)
{
	char *out = malloc(MAX_EXPANDED + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < size && o < MAX_EXPANDED;) {
		if (i + 3 < size && data[i] == 0x01 && data[i + 1] == '*') {
			size_t c = data[i + 2], n = data[i + 3];
			const uint8_t *rep = data + i + 4;

			if (n > size - i - 4)
				n = size - i - 4;
			for (size_t k = 0; k < c && o < MAX_EXPANDED; k++)
				for (size_t j = 0; j < n && o < MAX_EXPANDED; j++)
					out[o++] = (char)rep[j];
			i += 4 + n;
			continue;
		}
		out[o++] = (char)data[i++];
	}
	out[o] = '\0';
	*len = o;
	return out;
}

static void json_pass(const uint8_t *data, size_t size)
{
	json_error_t e;
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	json_t *rep;
	const json_t *rules;

	if (!j)
		return;
	/* As a report from elsewhere. */
	rules = json_object_get(j, "rules");
	render_all(j, json_is_array(rules) ? json_array_size(rules) : 0);
	/* As both subjects. */
	rep = evaluate_checked(fixed_rules, N_ELEMS(fixed_rules), j, j);
	render_all(rep, N_ELEMS(fixed_rules));
	json_decref(rep);
	json_decref(j);
}

struct input {
	const uint8_t *data;
	size_t size;
};

static void *one_input(void *arg)
{
	const struct input *in = arg;
	size_t len;
	char *text = expand(in->data, in->size, &len), *copy;
	char err[512], tiny[7];
	struct mt_gate_rule *r;

	if (!text)
		return NULL;

	r = mt_gate_parse(text, err, sizeof(err));
	if (!r) {
		if (!err[0] || strchr(err, '\n'))
			fail("parse error not one non-empty line", err);
		valid_utf8(err);
		if (mt_gate_parse(text, tiny, sizeof(tiny)))
			fail("parse result depends on the error buffer", text);
		if (strlen(tiny) > sizeof(tiny) - 1 || strncmp(tiny, err, strlen(tiny)) != 0)
			fail("cut error message", tiny);
		valid_utf8(tiny);
	} else {
		if (err[0])
			fail("error message on success", err);
		if (mt_gate_rule_uses_champion(r) && !strstr(text, "champion"))
			fail("uses_champion without champion", text);
	}
	mt_gate_rule_free(r);

	copy = strdup(text);
	if (!copy)
		fail("out of memory", NULL);
	policy_pass(text);
	stored_pass(copy);
	json_pass(in->data, in->size);
	free(copy);
	free(text);
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	pthread_attr_t a;
	pthread_t t;

	if (pthread_attr_init(&a) || pthread_attr_setstacksize(&a, WORKER_STACK) ||
	    pthread_create(&t, &a, one_input, &in) || pthread_join(t, NULL))
		fail("cannot run on a worker-sized stack", NULL);
	pthread_attr_destroy(&a);
	return 0;
}
