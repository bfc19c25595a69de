/* test_scrape.c: metrics scraped from a wrapped command's output (lib/mt_scrape).
 *
 * Emitted metrics are rendered as "key=%g@step;" and compared as strings.
 * Every table case is also fed one byte at a time and in random splits (empty
 * feeds included), and must give the same output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_check.h"
#include "mt_scrape.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define TIMEOUT 60

/* ---- recording what is emitted ---- */

struct rec {
	char *s;
	size_t len, cap;
	size_t n;
	double last_value;
	long long last_step;
};

static void rec_emit(void *arg, const char *key, double value, long long step)
{
	struct rec *r = arg;
	char one[400];
	int k = snprintf(one, sizeof(one), "%s=%g@%lld;", key, value, step);

	ck_assert(k > 0 && (size_t)k < sizeof(one));
	if (r->len + (size_t)k + 1 > r->cap) {
		r->cap = (r->len + (size_t)k + 1) * 2;
		r->s = realloc(r->s, r->cap);
		ck_assert_ptr_nonnull(r->s);
	}
	memcpy(r->s + r->len, one, (size_t)k + 1);
	r->len += (size_t)k;
	r->n++;
	r->last_value = value;
	r->last_step = step;
}

static const char *rec_str(struct rec *r)
{
	return r->s ? r->s : "";
}

static void rec_reset(struct rec *r)
{
	free(r->s);
	memset(r, 0, sizeof(*r));
}

static unsigned xs(unsigned *st)
{
	unsigned x = *st ? *st : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *st = x;
}

enum { WHOLE, BYTES, RANDOM };

/* Feed text on stream in the given way. */
static void feed(struct mt_scraper *s, int stream, const char *text, size_t len, int mode,
		 unsigned seed, struct rec *r)
{
	size_t i = 0;

	if (mode == WHOLE) {
		mt_scraper_feed(s, stream, text, len, rec_emit, r);
		return;
	}
	while (i < len) {
		size_t k = mode == BYTES ? 1 : xs(&seed) % 9;

		if (k > len - i)
			k = len - i;
		mt_scraper_feed(s, stream, text + i, k, rec_emit, r);
		i += k;
	}
}

static struct mt_scraper *make(int builtin, const char *spec1, const char *spec2)
{
	struct mt_scraper *s = mt_scraper_new(builtin);
	struct mt_err err = MT_ERR_INIT;

	ck_assert_ptr_nonnull(s);
	if (spec1)
		ck_assert_msg(mt_scraper_add(s, spec1, &err) == 0, "%s: %s", spec1, err.msg);
	if (spec2)
		ck_assert_msg(mt_scraper_add(s, spec2, &err) == 0, "%s: %s", spec2, err.msg);
	return s;
}

/* The whole text on stdout, then flush; the rendering, owned by the caller. */
static char *scrape(int builtin, const char *spec1, const char *spec2, const char *text,
		    size_t len, int mode, unsigned seed)
{
	struct mt_scraper *s = make(builtin, spec1, spec2);
	struct rec r = { 0 };
	char *out;

	feed(s, MT_SCRAPE_STDOUT, text, len, mode, seed, &r);
	mt_scraper_flush(s, rec_emit, &r);
	mt_scraper_free(s);
	out = strdup(rec_str(&r));
	rec_reset(&r);
	return out;
}

/* Same output whole, byte by byte and in 20 random splits. */
static void check_case(int builtin, const char *spec1, const char *spec2, const char *in,
		       size_t len, const char *want)
{
	char *got = scrape(builtin, spec1, spec2, in, len, WHOLE, 0);

	ck_assert_msg(strcmp(got, want) == 0, "input '%s'\n got '%s'\nwant '%s'", in, got, want);
	free(got);
	got = scrape(builtin, spec1, spec2, in, len, BYTES, 0);
	ck_assert_msg(strcmp(got, want) == 0, "bytewise '%s'\n got '%s'", in, got);
	free(got);
	for (unsigned seed = 1; seed <= 20; seed++) {
		got = scrape(builtin, spec1, spec2, in, len, RANDOM, seed * 2654435761u);
		ck_assert_msg(strcmp(got, want) == 0, "split seed %u '%s'\n got '%s'", seed, in, got);
		free(got);
	}
}

/* ---- the built-in pattern ---- */

static const struct {
	const char *in;
	const char *want;
} builtin_cases[] = {
	/* 0: colons, equals, spacing */
	{ "loss: 0.5\n", "loss=0.5@0;" },
	{ "loss=0.5\n", "loss=0.5@0;" },
	{ "loss : 0.5\nloss = 0.5\nloss:0.5\nloss =0.5\n",
	  "loss=0.5@0;loss=0.5@1;loss=0.5@2;loss=0.5@3;" },
	{ "  loss:\t0.5  \n\tacc =\t0.9\f\v\n", "loss=0.5@0;acc=0.9@0;" },
	{ "train/loss: 1e-3\nval.acc=0.9\nmy-metric_2: -4\n_x: 1\nA/B.c-d_9=2\n",
	  "train/loss=0.001@0;val.acc=0.9@0;my-metric_2=-4@0;_x=1@0;A/B.c-d_9=2@0;" },
	/* 5: not metrics */
	{ "loss: 0.5 at epoch 3\nx: 0x10\nurl=http://a\n: 5\n1abc: 2\na b: 3\n=4\n"
	  "loss:\nloss: \nloss 0.5\nloss:: 1\nloss:=1\nloss: 5%\nloss: 1,000\n"
	  "loss: 1_000\nx: 0x1p3\nx: 1e\nx: e5\nx: .\nx: -\nx: +\nx: 1 2\nx: nan(1)\n"
	  "x: infinit\nx: infinityy\nx: 0.5s\nx: --1\nx: 1.2.3\nx: 1e5.0\nx: ++1\n"
	  "a//b: 1\na/: 1\na/../b: 1\na/./b: 1\na/.: 1\n-x: 1\n.x: 1\n/x: 1\n"
	  "x\xc3\xa9: 1\nx!: 1\nx:y: 1\n[x]: 1\nINFO loss: 0.5\nloss: 0.5 # note\n", "" },
	/* 6: numbers */
	{ "a: 1\nb: -1\nc: +1\nd: .5\ne: -.5\nf: 1.\ng: 1e5\nh: 1E-5\ni: 1.5e+2\n"
	  "j: 007\nk: 0\nl: 1.e2\nm: 12345678901234567890\n",
	  "a=1@0;b=-1@0;c=1@0;d=0.5@0;e=-0.5@0;f=1@0;g=100000@0;h=1e-05@0;i=150@0;"
	  "j=7@0;k=0@0;l=100@0;m=1.23457e+19@0;" },
	/* 7: nan and inf, any case; decimal overflow is inf */
	{ "a: nan\nb: NaN\nc: -nan\nd: inf\ne: -Inf\nf: Infinity\ng: +INFINITY\n"
	  "h: 1e999\ni: -1e999\nj: 1e-999\n",
	  "a=nan@0;b=nan@0;c=nan@0;d=inf@0;e=-inf@0;f=inf@0;g=inf@0;h=inf@0;i=-inf@0;j=0@0;" },
	/* 8: progress bars redraw with \r: each redraw is a line */
	{ "loss: 0.9\rloss: 0.8\rloss: 0.7\n", "loss=0.9@0;loss=0.8@1;loss=0.7@2;" },
	/* 9: \r\n, blank lines, \r\r\n, \n\r */
	{ "a: 1\r\nb: 2\r\n\r\nc: 3\r\r\nd: 4\n\re: 5\r", "a=1@0;b=2@0;c=3@0;d=4@0;e=5@0;" },
	/* 10: ANSI colours, OSC titles and hyperlinks, charset escapes */
	{ "\x1b[32mloss: 0.5\x1b[0m\n"
	  "\x1b[1;31macc\x1b[0m=\x1b[33m0.9\x1b[0m\n"
	  "\x1b]0;title\x07lr: 0.1\n"
	  "\x1b(B\x1b[mx: 1\n"
	  "\x1b[2K\rmem: 3\n"
	  "\x1b]8;;http://x\x1b\\y: 2\x1b]8;;\x1b\\\n"
	  "  \x1b[1m  z: 7  \x1b[0m  \n"
	  "w: 8\x1b[\n",
	  "loss=0.5@0;acc=0.9@0;lr=0.1@0;x=1@0;mem=3@0;y=2@0;z=7@0;w=8@0;" },
	/* 11: per-key counters, then step lines */
	{ "loss: 1\nloss: 2\nacc: 5\nstep: 10\nloss: 3\nacc: 6\nstep=20\nloss: 4\nnew: 1\n"
	  "step : 21\nnew: 2\n",
	  "loss=1@0;loss=2@1;acc=5@0;loss=3@10;acc=6@10;loss=4@20;new=1@20;new=2@21;" },
	/* 12: what a step is: digits only, up to 2^63-1; "Step" is a metric */
	{ "step: -1\nstep: 1.5\nstep: 9223372036854775808\nstep: abc\nstep: nan\nx: 1\n"
	  "Step: 3\nstep: 9223372036854775807\nx: 2\nstep: 0007\nx: 3\nstep: 0\nx: 4\n",
	  "x=1@0;Step=3@0;x=2@9223372036854775807;x=3@7;x=4@0;" },
	/* 13: a last line without a terminator counts (at flush) */
	{ "a: 1\nb: 2", "a=1@0;b=2@0;" },
	{ "", "" },
	{ "\n\r\n\r\r\n   \n", "" },
};

START_TEST(test_builtin)
{
	check_case(1, NULL, NULL, builtin_cases[_i].in, strlen(builtin_cases[_i].in),
		   builtin_cases[_i].want);
}
END_TEST

START_TEST(test_builtin_off)
{
	/* --no-scrape without --scrape: nothing at all. */
	for (size_t i = 0; i < N_ELEMS(builtin_cases); i++)
		check_case(0, NULL, NULL, builtin_cases[i].in, strlen(builtin_cases[i].in), "");
}
END_TEST

START_TEST(test_values_exact)
{
	struct mt_scraper *s = mt_scraper_new(1);
	struct rec r = { 0 };

	mt_scraper_feed(s, 0, "x: 0.1\n", 7, rec_emit, &r);
	ck_assert(r.last_value == 0.1);
	mt_scraper_feed(s, 0, "x: -0\n", 6, rec_emit, &r);
	ck_assert(r.last_value == 0.0 && signbit(r.last_value));
	mt_scraper_feed(s, 0, "x: 1e999\n", 9, rec_emit, &r);
	ck_assert(isinf(r.last_value) && r.last_value > 0);
	mt_scraper_feed(s, 0, "x: -NaN\n", 8, rec_emit, &r);
	ck_assert(isnan(r.last_value) && !signbit(r.last_value));
	mt_scraper_feed(s, 0, "x: 2.5e-310\n", 12, rec_emit, &r);
	ck_assert(r.last_value == 2.5e-310);
	ck_assert_int_eq(r.n, 5);
	ck_assert_int_eq(r.last_step, 4);
	rec_reset(&r);
	mt_scraper_free(s);
}
END_TEST

START_TEST(test_names_length)
{
	char line[600];
	char *got;

	memset(line, 'k', 250);
	memcpy(line + 250, ": 1\n", 5);
	got = scrape(1, NULL, NULL, line, strlen(line), WHOLE, 0);
	ck_assert_int_eq(strlen(got), 250 + strlen("=1@0;"));
	free(got);
	memset(line, 'k', 251);
	memcpy(line + 251, ": 1\n", 5);
	got = scrape(1, NULL, NULL, line, strlen(line), WHOLE, 0);
	ck_assert_str_eq(got, "");
	free(got);
	/* The same through a custom pattern. */
	got = scrape(0, "([a-z]+)=([0-9]+)", NULL, "kk=1\n", 5, WHOLE, 0);
	ck_assert_str_eq(got, "kk=1@0;");
	free(got);
	memset(line, 'k', 251);
	memcpy(line + 251, "=1\n", 4);
	got = scrape(0, "([a-z]+)=([0-9]+)", NULL, line, strlen(line), WHOLE, 0);
	ck_assert_str_eq(got, "");
	free(got);
}
END_TEST

START_TEST(test_nul_line)
{
	static const char in[] = "a: 1\0\nb: 2\n\0c: 3\nd: 4";

	check_case(1, NULL, NULL, in, sizeof(in) - 1, "b=2@0;d=4@0;");
}
END_TEST

/* ---- custom patterns ---- */

#define FORM1 "([[:alpha:]_]+)=([^ ,]+)"

static const struct {
	int builtin;
	const char *spec1, *spec2;
	const char *in;
	const char *want;
} custom_cases[] = {
	/* 0: form 1, several matches per line, a bad value skipped */
	{ 1, FORM1, NULL, "epoch 3: loss=0.5, acc=0.9, lr=bad\nloss=0.4, acc=0.95\n",
	  "loss=0.5@0;acc=0.9@0;loss=0.4@1;acc=0.95@1;" },
	/* 1: built-in and custom both match: one value per key per line */
	{ 1, FORM1, NULL, "loss=0.5\nloss=0.6\n", "loss=0.5@0;loss=0.6@1;" },
	/* 2: custom alone (builtin = 0) */
	{ 0, FORM1, NULL, "loss: 0.5\nloss=0.7\nacc: 1\n", "loss=0.7@0;" },
	/* 3: form 2 */
	{ 1, "val_acc=val acc ([0-9.]+)", NULL,
	  "Epoch 1 val acc 0.75\nEpoch 2 val acc 0.8\nval acc x\n",
	  "val_acc=0.75@0;val_acc=0.8@1;" },
	/* 4: form 2, two matches on one line: the first wins */
	{ 1, "val_acc=val acc ([0-9.]+)", NULL, "val acc 0.1 val acc 0.2\n", "val_acc=0.1@0;" },
	/* 5: a custom "step" sets the step */
	{ 1, "step=^Epoch ([0-9]+)", NULL, "Epoch 1/10\nloss: 0.5\nEpoch 2/10\nloss: 0.4\n",
	  "loss=0.5@1;loss=0.4@2;" },
	/* 6: a step on a line applies to that line's metrics, the last wins */
	{ 0, "([a-z_]+)=([0-9.]+)", NULL, "loss=0.5 step=3\nloss=0.6\nstep=1 step=2 a=1\n",
	  "loss=0.5@3;loss=0.6@3;a=1@2;" },
	/* 7: an ERE that can match empty: no endless loop, empty captures skipped */
	{ 0, "([a-z]*)=?([0-9.]*)", NULL, "a=1 b=2 zz 33\n\n+\n", "a=1@0;b=2@0;" },
	{ 0, "()()", NULL, "abc\nx: 1\n", "" },
	{ 0, "x*(y*)(z*)$", NULL, "abc\nx\n", "" },
	/* 10: REG_NOTBOL: '^' matches at the start of the line only */
	{ 0, "^([a-z]+)=([0-9]+)", NULL, "a=1 b=2\n", "a=1@0;" },
	/* 11: captures are trimmed, then must be NAME and NUMBER */
	{ 0, "([a-z ]+):(.*)$", NULL, "loss: 0.5 \n loss : x\n", "loss=0.5@0;" },
	{ 0, "([^ =]+)=([0-9]+)", NULL, "1a=2 a//b=3 ok=4 a.b/c=5 a/=6 -x=7\n",
	  "ok=4@0;a.b/c=5@0;" },
	/* 13: patterns apply in the order given, each left to right */
	{ 0, "b=b([0-9]+)", "a=a([0-9]+)", "a1 b2 a3\n", "b=2@0;a=1@0;" },
	/* 14: a group that did not take part is skipped */
	{ 0, "(x)?=([0-9]+)", NULL, "=1 x=2 y\n", "x=2@0;" },
	/* 15: custom patterns see the cleaned line (no ANSI, trimmed) */
	{ 0, "^([a-z]+) is ([0-9]+)$", NULL, "  \x1b[1mloss is 3\x1b[0m \n", "loss=3@0;" },
	/* 16: form 1 of the shape x=(a)(b) */
	{ 0, "x=([a-z]+)(-?[0-9]+)", NULL, "x=a1 x=b-2 y=c3\n", "a=1@0;b=-2@0;" },
	/* 17: counters are shared with the built-in pattern */
	{ 1, "acc=accuracy ([0-9.]+)%", NULL, "acc: 0.5\naccuracy 60%\n", "acc=0.5@0;acc=60@1;" },
};

START_TEST(test_custom)
{
	check_case(custom_cases[_i].builtin, custom_cases[_i].spec1, custom_cases[_i].spec2,
		   custom_cases[_i].in, strlen(custom_cases[_i].in), custom_cases[_i].want);
}
END_TEST

static const char *const good_specs[] = {
	"([a-z]+)=([0-9.]+)",
	"loss=loss ([0-9.]+)",
	"x=(a)(b)",                 /* NAME=, but two groups: form 1 */
	"loss=([0-9]+)([0-9]+)",    /* likewise */
	"step=Epoch ([0-9]+)",
	"a/b.c-d=(.*)",
	"(a|b)(c)",
	"=([a-z]+)([0-9]+)",        /* empty NAME: form 1 */
};

START_TEST(test_spec_good)
{
	struct mt_scraper *s = mt_scraper_new(0);
	struct mt_err err = MT_ERR_INIT;

	ck_assert_msg(mt_scraper_add(s, good_specs[_i], &err) == 0, "'%s': %s", good_specs[_i],
		      err.msg);
	ck_assert_int_eq(err.code, MT_OK);
	mt_scraper_free(s);
}
END_TEST

#define NEEDS "needs two groups (name, value) or NAME=REGEX with one group"

static const struct {
	const char *spec;
	const char *msg; /* the whole message, or NULL: a regerror text */
} bad_specs[] = {
	{ "", "--scrape '': " NEEDS },
	{ "([a-z]+)", "--scrape '([a-z]+)': " NEEDS },
	{ "(a)(b)(c)", "--scrape '(a)(b)(c)': " NEEDS },
	{ "loss=[0-9]+", "--scrape 'loss=[0-9]+': " NEEDS },
	{ "1bad=([0-9]+)", "--scrape '1bad=([0-9]+)': " NEEDS },
	{ "a//b=([0-9]+)", "--scrape 'a//b=([0-9]+)': " NEEDS },
	{ "a b=([0-9]+)", "--scrape 'a b=([0-9]+)': " NEEDS },
	{ "x", "--scrape 'x': " NEEDS },
	{ "a=(b)=(c)=(d)", "--scrape 'a=(b)=(c)=(d)': " NEEDS },
	{ "(", NULL },
	{ "loss=(", NULL },
	{ "([a-z]+)=([0-9]+", NULL },
	{ "a{2,1}(x)(y)", NULL },
	{ "[z-a](x)(y)", NULL },
};

START_TEST(test_spec_bad)
{
	struct mt_scraper *s = mt_scraper_new(1);
	struct mt_err err = MT_ERR_INIT;
	struct rec r = { 0 };
	char prefix[128];

	ck_assert_int_eq(mt_scraper_add(s, bad_specs[_i].spec, &err), -1);
	ck_assert_int_eq(err.code, MT_EINVAL);
	ck_assert_ptr_null(strchr(err.msg, '\n'));
	if (bad_specs[_i].msg) {
		ck_assert_str_eq(err.msg, bad_specs[_i].msg);
	} else {
		snprintf(prefix, sizeof(prefix), "--scrape '%s': ", bad_specs[_i].spec);
		ck_assert_msg(strncmp(err.msg, prefix, strlen(prefix)) == 0, "%s", err.msg);
		ck_assert_msg(strlen(err.msg) > strlen(prefix) + 3, "%s", err.msg);
		ck_assert_ptr_null(strstr(err.msg, "needs two groups"));
	}
	/* A failed add leaves the scraper as it was. */
	mt_scraper_feed(s, 0, "a: 1\nb=c 2\n", 11, rec_emit, &r);
	ck_assert_str_eq(rec_str(&r), "a=1@0;");
	rec_reset(&r);
	mt_scraper_free(s);
}
END_TEST

START_TEST(test_spec_message_quoting)
{
	struct mt_scraper *s = mt_scraper_new(1);
	struct mt_err err = MT_ERR_INIT;
	char spec[200];

	/* Long: cut at 60 bytes with "...". */
	memset(spec, 'a', 150);
	spec[150] = '\0';
	ck_assert_int_eq(mt_scraper_add(s, spec, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "aaa...': needs two groups"));
	ck_assert_int_lt(strlen(err.msg), 160);
	/* Control bytes shown as '?': the message stays one line. */
	ck_assert_int_eq(mt_scraper_add(s, "a\nb\tc", &err), -1);
	ck_assert_str_eq(err.msg, "--scrape 'a?b?c': " NEEDS);
	/* Invalid UTF-8 shown as '?', valid UTF-8 kept, never cut inside a character. */
	ck_assert_int_eq(mt_scraper_add(s, "\xff(x)", &err), -1);
	ck_assert_str_eq(err.msg, "--scrape '?(x)': " NEEDS);
	ck_assert_int_eq(mt_scraper_add(s, "caf\xc3\xa9", &err), -1);
	ck_assert_str_eq(err.msg, "--scrape 'caf\xc3\xa9': " NEEDS);
	memset(spec, 'a', 59);
	memcpy(spec + 59, "\xc3\xa9xxxxx", 8);
	ck_assert_int_eq(mt_scraper_add(s, spec, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "aaaa...'"));
	mt_scraper_free(s);
}
END_TEST

/* ---- streams, flush, long lines ---- */

START_TEST(test_streams_interleaved)
{
	struct mt_scraper *s = mt_scraper_new(1);
	struct rec r = { 0 };

	mt_scraper_feed(s, MT_SCRAPE_STDOUT, "lo", 2, rec_emit, &r);
	mt_scraper_feed(s, MT_SCRAPE_STDERR, "acc: 0.", 7, rec_emit, &r);
	mt_scraper_feed(s, MT_SCRAPE_STDOUT, "ss: 1", 5, rec_emit, &r);
	ck_assert_str_eq(rec_str(&r), "");
	mt_scraper_feed(s, MT_SCRAPE_STDERR, "5\nlr: 2", 7, rec_emit, &r);
	ck_assert_str_eq(rec_str(&r), "acc=0.5@0;");
	mt_scraper_feed(s, MT_SCRAPE_STDOUT, "\nx", 2, rec_emit, &r);
	ck_assert_str_eq(rec_str(&r), "acc=0.5@0;loss=1@0;");
	mt_scraper_flush(s, rec_emit, &r);
	/* stdout's "x" is not a metric; stderr's unterminated "lr: 2" is. */
	ck_assert_str_eq(rec_str(&r), "acc=0.5@0;loss=1@0;lr=2@0;");
	rec_reset(&r);
	mt_scraper_free(s);
}
END_TEST

START_TEST(test_streams_cr_pairing)
{
	struct mt_scraper *s = mt_scraper_new(1);
	struct rec r = { 0 };

	/* A '\r' on stdout pairs only with stdout's next '\n'. */
	mt_scraper_feed(s, MT_SCRAPE_STDOUT, "a: 1\r", 5, rec_emit, &r);
	mt_scraper_feed(s, MT_SCRAPE_STDERR, "\nb: 2\n", 6, rec_emit, &r);
	mt_scraper_feed(s, MT_SCRAPE_STDOUT, "\nc: 3\r", 6, rec_emit, &r);
	mt_scraper_feed(s, MT_SCRAPE_STDOUT, "", 0, rec_emit, &r);
	mt_scraper_feed(s, MT_SCRAPE_STDOUT, "\nd: 4\n", 6, rec_emit, &r);
	ck_assert_str_eq(rec_str(&r), "a=1@0;b=2@0;c=3@0;d=4@0;");
	rec_reset(&r);
	mt_scraper_free(s);
}
END_TEST

START_TEST(test_streams_share_step)
{
	struct mt_scraper *s = mt_scraper_new(1);
	struct rec r = { 0 };

	mt_scraper_feed(s, MT_SCRAPE_STDOUT, "loss: 1\n", 8, rec_emit, &r);
	mt_scraper_feed(s, MT_SCRAPE_STDERR, "loss: 2\n", 8, rec_emit, &r);
	mt_scraper_feed(s, MT_SCRAPE_STDERR, "step: 5\n", 8, rec_emit, &r);
	mt_scraper_feed(s, MT_SCRAPE_STDOUT, "loss: 3\n", 8, rec_emit, &r);
	ck_assert_str_eq(rec_str(&r), "loss=1@0;loss=2@1;loss=3@5;");
	rec_reset(&r);
	mt_scraper_free(s);
}
END_TEST

START_TEST(test_random_two_streams)
{
	/* Each stream's own metrics come out in its order whatever the split. */
	static const char out[] = "a: 1\nb: 2\r\na: 3\rb: 4\nc: 5";
	static const char errs[] = "x=1\r\ny=2\n\nx=3\ry = 4\nz: 5";

	for (unsigned seed = 1; seed < 200; seed++) {
		struct mt_scraper *s = mt_scraper_new(1);
		struct rec r = { 0 };
		size_t io = 0, ie = 0;
		unsigned st = seed;
		char got_out[200] = "", got_err[200] = "";
		const char *p;

		while (io < sizeof(out) - 1 || ie < sizeof(errs) - 1) {
			int e = xs(&st) & 1;
			size_t k = xs(&st) % 6;
			const char *src = e ? errs : out;
			size_t *i = e ? &ie : &io, len = (e ? sizeof(errs) : sizeof(out)) - 1;

			if (k > len - *i)
				k = len - *i;
			mt_scraper_feed(s, e, src + *i, k, rec_emit, &r);
			*i += k;
		}
		mt_scraper_flush(s, rec_emit, &r);
		/* Split the record by key family. */
		for (p = rec_str(&r); *p;) {
			const char *end = strchr(p, ';');

			strncat(strchr("abc", *p) ? got_out : got_err, p, (size_t)(end - p + 1));
			p = end + 1;
		}
		ck_assert_str_eq(got_out, "a=1@0;b=2@0;a=3@1;b=4@1;c=5@0;");
		ck_assert_str_eq(got_err, "x=1@0;y=2@0;x=3@1;y=4@1;z=5@0;");
		rec_reset(&r);
		mt_scraper_free(s);
	}
}
END_TEST

START_TEST(test_flush)
{
	struct mt_scraper *s = mt_scraper_new(1);
	struct rec r = { 0 };

	mt_scraper_feed(s, 0, "loss: 1", 7, rec_emit, &r);
	ck_assert_str_eq(rec_str(&r), "");
	mt_scraper_flush(s, rec_emit, &r);
	ck_assert_str_eq(rec_str(&r), "loss=1@0;");
	mt_scraper_flush(s, rec_emit, &r);
	ck_assert_str_eq(rec_str(&r), "loss=1@0;");
	/* A line ended by '\r' is scraped once, not again at flush. */
	mt_scraper_feed(s, 0, "loss: 2\r", 8, rec_emit, &r);
	mt_scraper_flush(s, rec_emit, &r);
	ck_assert_str_eq(rec_str(&r), "loss=1@0;loss=2@1;");
	/* Feeding goes on after a flush. */
	mt_scraper_feed(s, 0, "\nloss: 3\n", 9, rec_emit, &r);
	ck_assert_str_eq(rec_str(&r), "loss=1@0;loss=2@1;loss=3@2;");
	rec_reset(&r);
	mt_scraper_free(s);
}
END_TEST

START_TEST(test_null_emit)
{
	struct mt_scraper *s = mt_scraper_new(1);
	struct rec r = { 0 };

	mt_scraper_feed(s, 0, "loss: 1\nstep", 12, NULL, NULL);
	mt_scraper_feed(s, 0, ": 3\nacc", 7, NULL, NULL);
	mt_scraper_flush(s, NULL, NULL);
	mt_scraper_feed(s, 0, "acc: 1\n", 7, rec_emit, &r);
	ck_assert_str_eq(rec_str(&r), "acc=1@3;");
	rec_reset(&r);
	mt_scraper_free(s);
	mt_scraper_free(NULL);
	mt_scraper_feed(NULL, 0, "x", 1, NULL, NULL);
	mt_scraper_flush(NULL, NULL, NULL);
}
END_TEST

/* text: prefix padded with c to total bytes, then suffix. */
static char *padded(const char *prefix, char c, size_t total, const char *suffix)
{
	size_t np = strlen(prefix), ns = strlen(suffix);
	char *p = malloc(total + ns + 1);

	ck_assert_ptr_nonnull(p);
	memset(p, c, total);
	memcpy(p, prefix, np);
	memcpy(p + total, suffix, ns + 1);
	return p;
}

START_TEST(test_long_lines)
{
	static const int modes[] = { WHOLE, BYTES, RANDOM };
	const size_t max = MT_SCRAPE_LINE_MAX;
	struct {
		char *in;
		const char *want;
	} cases[] = {
		/* just over: dropped whole, the next line still parsed */
		{ padded("", 'x', max + 1, "\nloss: 1\n"), "loss=1@0;" },
		/* "loss: 1" then spaces: a metric if it were trimmed, but too long */
		{ padded("loss: 1", ' ', max + 1, "\nacc: 2\n"), "acc=2@0;" },
		{ padded("loss: 1", ' ', max + 1, "\r\nacc: 2\r"), "acc=2@0;" },
		{ padded("loss: 1", ' ', 3 * max, "\racc: 2"), "acc=2@0;" },
		/* exactly the limit: kept */
		{ padded("loss: 1", ' ', max, "\nacc: 2\n"), "loss=1@0;acc=2@0;" },
		{ padded("loss: 1", ' ', max, ""), "loss=1@0;" },
		/* an overlong last line is dropped at flush too */
		{ padded("acc: 2\nloss: 1", ' ', max + 8, ""), "acc=2@0;" },
	};

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		for (size_t m = 0; m < N_ELEMS(modes); m++) {
			char *got = scrape(1, FORM1, NULL, cases[i].in, strlen(cases[i].in),
					   modes[m], (unsigned)(i + 1));

			ck_assert_msg(strcmp(got, cases[i].want) == 0, "case %zu mode %zu: '%s'", i,
				      m, got);
			free(got);
		}
		free(cases[i].in);
	}
}
END_TEST

START_TEST(test_endless_line)
{
	/* 64 MiB without a line end: bounded memory, then the next line works. */
	struct mt_scraper *s = mt_scraper_new(1);
	struct rec r = { 0 };
	char *chunk = malloc(1 << 20);

	ck_assert_ptr_nonnull(chunk);
	memset(chunk, '7', 1 << 20);
	memcpy(chunk, "loss: ", 6);
	for (int i = 0; i < 64; i++)
		mt_scraper_feed(s, 0, chunk, 1 << 20, rec_emit, &r);
	mt_scraper_feed(s, 0, "\nacc: 1\n", 8, rec_emit, &r);
	ck_assert_str_eq(rec_str(&r), "acc=1@0;");
	free(chunk);
	rec_reset(&r);
	mt_scraper_free(s);
}
END_TEST

START_TEST(test_key_cap)
{
	struct mt_scraper *s = mt_scraper_new(1);
	struct rec r = { 0 };
	char line[64];

	for (int i = 0; i <= MT_SCRAPE_MAX_KEYS; i++) {
		int k = snprintf(line, sizeof(line), "k%d: %d\n", i, i);

		mt_scraper_feed(s, 0, line, (size_t)k, rec_emit, &r);
	}
	ck_assert_int_eq(r.n, MT_SCRAPE_MAX_KEYS);
	ck_assert(r.last_value == MT_SCRAPE_MAX_KEYS - 1);
	/* A known key still counts on; a new one stays ignored. */
	mt_scraper_feed(s, 0, "k0: 5\n", 6, rec_emit, &r);
	ck_assert_int_eq(r.n, MT_SCRAPE_MAX_KEYS + 1);
	ck_assert_int_eq(r.last_step, 1);
	mt_scraper_feed(s, 0, "k10000: 5\nnew: 1\n", 17, rec_emit, &r);
	ck_assert_int_eq(r.n, MT_SCRAPE_MAX_KEYS + 1);
	rec_reset(&r);
	mt_scraper_free(s);
}
END_TEST

Suite *make_scrape_suite(void)
{
	Suite *s = suite_create("scrape");
	TCase *tc = tcase_create("builtin");

	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_loop_test(tc, test_builtin, 0, (int)N_ELEMS(builtin_cases));
	tcase_add_test(tc, test_builtin_off);
	tcase_add_test(tc, test_values_exact);
	tcase_add_test(tc, test_names_length);
	tcase_add_test(tc, test_nul_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("custom");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_loop_test(tc, test_custom, 0, (int)N_ELEMS(custom_cases));
	tcase_add_loop_test(tc, test_spec_good, 0, (int)N_ELEMS(good_specs));
	tcase_add_loop_test(tc, test_spec_bad, 0, (int)N_ELEMS(bad_specs));
	tcase_add_test(tc, test_spec_message_quoting);
	suite_add_tcase(s, tc);

	tc = tcase_create("streams");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_test(tc, test_streams_interleaved);
	tcase_add_test(tc, test_streams_cr_pairing);
	tcase_add_test(tc, test_streams_share_step);
	tcase_add_test(tc, test_random_two_streams);
	tcase_add_test(tc, test_flush);
	tcase_add_test(tc, test_null_emit);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_test(tc, test_long_lines);
	tcase_add_test(tc, test_endless_line);
	tcase_add_test(tc, test_key_cap);
	suite_add_tcase(s, tc);
	return s;
}
