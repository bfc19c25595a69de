/* check_sweep.c: the sweep grammar and trial plans (lib/mt_sweep).
 *
 * Grammar cases: a NULL-terminated command, and either the error message
 * expected (a substring) or the rendering of the space: each axis as
 * "name:kind:n" and then every trial's command, "a b c|" per trial. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_check.h"
#include "mt_sweep.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define TIMEOUT 10
#define MAX_WORDS 16

static int count(const char *const *w)
{
	int n = 0;

	while (w[n])
		n++;
	return n;
}

static const char *kind_name(enum mt_sweep_kind k)
{
	static const char *const names[] = { "list", "range", "uniform", "loguniform", "choice" };

	return names[k];
}

/* Render the space and (for grid-only spaces) every trial. */
static void render(char *out, size_t n, const struct mt_sweep *s, long long trials, uint64_t seed)
{
	struct mt_sweep_plan p;
	struct mt_err err = MT_ERR_INIT;
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < s->n_axes; i++)
		len += (size_t)snprintf(out + len, n - len, "%s:%s:%zu ", s->axes[i].name,
					kind_name(s->axes[i].kind), s->axes[i].n_items);
	ck_assert_int_eq(mt_sweep_plan_init(&p, s, trials, seed, &err), 0);
	len += (size_t)snprintf(out + len, n - len, "=%zu=", p.total);
	for (size_t t = 0; t < p.total && !s->drawn; t++) {
		char **vals, **av;

		ck_assert_int_eq(mt_sweep_trial_make(&vals, &av, s, &p, t, &err), 0);
		for (int w = 0; w < s->argc; w++)
			len += (size_t)snprintf(out + len, n - len, "%s%s", w ? " " : "", av[w]);
		ck_assert_ptr_null(av[s->argc]);
		len += (size_t)snprintf(out + len, n - len, "|");
		mt_sweep_trial_free(s, vals, av);
	}
	mt_sweep_plan_release(&p);
}

static const struct {
	const char *words[MAX_WORDS];
	const char *want; /* rendering, or "!" + error substring */
} cases[] = {
	/* 0: no expression: one trial, the command as it is */
	{ { "./train", "--lr", "0.1", NULL }, "=1=./train --lr 0.1|" },
	/* 1: a list after a flag, and --flag=list */
	{ { "./t", "--lr", "[0.1, 0.01]", "--bs=[8,16]", NULL },
	  "lr:list:2 bs:list:2 =4=./t --lr 0.1 --bs=8|./t --lr 0.1 --bs=16|"
	  "./t --lr 0.01 --bs=8|./t --lr 0.01 --bs=16|" },
	/* 2: ranges, Python's: end excluded, steps, negative steps */
	{ { "t", "--d", "range(2,5)", "range(10, 0, -4)", NULL },
	  "d:range:3 arg3:range:3 =9=t --d 2 10|t --d 2 6|t --d 2 2|t --d 3 10|t --d 3 6|"
	  "t --d 3 2|t --d 4 10|t --d 4 6|t --d 4 2|" },
	{ { "t", "range(0,10,3)", NULL }, "arg1:range:4 =4=t 0|t 3|t 6|t 9|" },
	{ { "t", "range(-3,-1)", NULL }, "arg1:range:2 =2=t -3|t -2|" },
	/* 5: the backslash escape, and words that only look alike */
	{ { "t", "\\[1,2]", "\\x", "[1,2", "range(1,2", "ranges(1,2)", "x[1,2]", NULL },
	  "=1=t [1,2] x [1,2 range(1,2 ranges(1,2) x[1,2]|" },
	/* 6: the program itself is never swept */
	{ { "[a,b]", "[c]", NULL }, "arg1:list:1 =1=[a,b] c|" },
	/* 7: items are text, trimmed */
	{ { "t", "--opt", "[ adam ,sgd,\tx y ]", NULL },
	  "opt:list:3 =3=t --opt adam|t --opt sgd|t --opt x y|" },
	/* 8: distributions are drawn: count only */
	{ { "t", "--p", "uniform(0, 0.5)", "--q=loguniform(1e-5,1e-2)", "--o", "choice(a,b)",
	    NULL },
	  "p:uniform:0 q:loguniform:0 o:choice:2 =10=" },
	{ { "t", "--lr", "[1,2,3]", "--p", "uniform(0,1)", NULL }, "lr:list:3 p:uniform:0 =3=" },
	/* 10: errors: a typo is never passed on */
	{ { "t", "[]", NULL }, "!empty item" },
	{ { "t", "[a,,b]", NULL }, "!empty item" },
	{ { "t", "range(1)", NULL }, "!needs two or three numbers" },
	{ { "t", "range(1,2,3,4)", NULL }, "!needs two or three numbers" },
	{ { "t", "range(1.5,3)", NULL }, "!integers" },
	{ { "t", "range(1,5,0)", NULL }, "!step must not be 0" },
	{ { "t", "range(5,1)", NULL }, "!empty range" },
	{ { "t", "range(1,5,-1)", NULL }, "!empty range" },
	{ { "t", "range(0,100000)", NULL }, "!too many values" },
	{ { "t", "uniform(1,1)", NULL }, "!needs a < b" },
	{ { "t", "uniform(0,x)", NULL }, "!not a finite number" },
	{ { "t", "uniform(0,inf)", NULL }, "!not a finite number" },
	{ { "t", "uniform(0,1,2)", NULL }, "!needs two numbers" },
	{ { "t", "loguniform(0,1)", NULL }, "!0 < a" },
	{ { "t", "choice()", NULL }, "!empty item" },
	{ { "t", "choice(a,b))", NULL }, "!')' inside an item" },
	{ { "t", "[a]b]", NULL }, "!']' inside an item" },
	{ { "t", "--x=range(a,b)", NULL }, "!not a finite number" },
	{ { "t", "range(1e300,2e300)", NULL }, "!integers" },
	{ { NULL }, "!no command" },
};

START_TEST(test_cases)
{
	struct mt_sweep s;
	struct mt_err err = MT_ERR_INIT;
	const char *want = cases[_i].want;
	static char got[8192];
	int rc = mt_sweep_parse(&s, count(cases[_i].words), (char *const *)cases[_i].words, &err);

	if (want[0] == '!') {
		ck_assert_int_eq(rc, -1);
		ck_assert_int_eq(err.code, MT_EINVAL);
		ck_assert_msg(strstr(err.msg, want + 1), "message '%s' lacks '%s'", err.msg, want + 1);
		ck_assert_ptr_null(strchr(err.msg, '\n'));
		ck_assert_int_eq(s.n_axes, 0);
		return;
	}
	ck_assert_msg(rc == 0, "%s", err.msg);
	render(got, sizeof(got), &s, -1, 1);
	ck_assert_str_eq(got, want);
	mt_sweep_release(&s);
}
END_TEST

static struct mt_sweep parse_ok(const char *const *w)
{
	struct mt_sweep s;
	struct mt_err err = MT_ERR_INIT;

	ck_assert_msg(mt_sweep_parse(&s, count(w), (char *const *)w, &err) == 0, "%s", err.msg);
	return s;
}

/* The example: 3 x 6 grid points, K draws of two distributions. */
START_TEST(test_counts)
{
	const char *w[] = { "./train", "--lr", "[0.1,0.01,0.001]", "--depth", "range(2,8)",
			    "--dropout", "uniform(0,0.5)", "--wd", "loguniform(1e-5,1e-2)", NULL };
	struct mt_sweep s = parse_ok(w);
	struct mt_sweep_plan p;
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(s.grid, 18);
	ck_assert_int_eq(s.drawn, 1);
	ck_assert_int_eq(mt_sweep_plan_init(&p, &s, -1, 7, &err), 0);
	ck_assert_int_eq(p.total, 18); /* one draw per grid point by default */
	mt_sweep_plan_release(&p);
	ck_assert_int_eq(mt_sweep_plan_init(&p, &s, 4, 7, &err), 0);
	ck_assert_int_eq(p.total, 72);
	/* Trial i is grid point i / K: the first four share lr and depth. */
	for (size_t i = 0; i < p.total; i++) {
		char **v, **av;
		static const char *const lrs[] = { "0.1", "0.01", "0.001" };

		ck_assert_int_eq(mt_sweep_trial_make(&v, &av, &s, &p, i, &err), 0);
		ck_assert_str_eq(v[0], lrs[i / 4 / 6]);
		ck_assert_int_eq(atoi(v[1]), 2 + (int)(i / 4 % 6));
		ck_assert(atof(v[2]) >= 0 && atof(v[2]) <= 0.5);
		ck_assert(atof(v[3]) >= 1e-5 && atof(v[3]) <= 1e-2);
		ck_assert_str_eq(av[6], v[2]);
		mt_sweep_trial_free(&s, v, av);
	}
	mt_sweep_plan_release(&p);
	/* Too many, and nonsense. */
	ck_assert_int_eq(mt_sweep_plan_init(&p, &s, 1000, 7, &err), -1);
	ck_assert_int_eq(err.code, MT_EINVAL);
	ck_assert_int_eq(mt_sweep_plan_init(&p, &s, 0, 7, &err), -1);
	mt_sweep_release(&s);
}
END_TEST

/* Only distributions: 10 trials by default, K with --trials. */
START_TEST(test_random_only)
{
	const char *w[] = { "t", "--o", "choice(a,b,c)", "--p", "uniform(-1,1)", NULL };
	struct mt_sweep s = parse_ok(w);
	struct mt_sweep_plan p;
	struct mt_err err = MT_ERR_INIT;
	int seen[3] = { 0 };

	ck_assert_int_eq(mt_sweep_plan_init(&p, &s, -1, 3, &err), 0);
	ck_assert_int_eq(p.total, 10);
	mt_sweep_plan_release(&p);
	ck_assert_int_eq(mt_sweep_plan_init(&p, &s, 300, 3, &err), 0);
	ck_assert_int_eq(p.total, 300);
	for (size_t i = 0; i < p.total; i++) {
		char **v, **av;

		ck_assert_int_eq(mt_sweep_trial_make(&v, &av, &s, &p, i, &err), 0);
		ck_assert(strlen(v[0]) == 1 && v[0][0] >= 'a' && v[0][0] <= 'c');
		seen[v[0][0] - 'a']++;
		ck_assert(atof(v[1]) >= -1 && atof(v[1]) <= 1);
		mt_sweep_trial_free(&s, v, av);
	}
	/* Each choice comes up (300 draws of 3: P(none) ~ 1e-53). */
	ck_assert(seen[0] && seen[1] && seen[2]);
	mt_sweep_plan_release(&p);
	mt_sweep_release(&s);
}
END_TEST

static void trial_line(char *out, size_t n, const struct mt_sweep *s,
		       const struct mt_sweep_plan *p, size_t i)
{
	char **v, **av;
	struct mt_err err = MT_ERR_INIT;
	size_t len = 0;

	ck_assert_int_eq(mt_sweep_trial_make(&v, &av, s, p, i, &err), 0);
	out[0] = '\0';
	for (int w = 0; w < s->argc; w++)
		len += (size_t)snprintf(out + len, n - len, "%s ", av[w]);
	mt_sweep_trial_free(s, v, av);
}

/* Same seed, same trials, whatever was asked before; another seed, others. */
START_TEST(test_seeded)
{
	const char *w[] = { "t", "--lr", "loguniform(1e-5,1)", "--o", "choice(a,b,c,d,e,f,g)",
			    NULL };
	struct mt_sweep s = parse_ok(w);
	struct mt_sweep_plan p1, p2, p3;
	struct mt_err err = MT_ERR_INIT;
	char a[256], b[256];
	int differ = 0;

	ck_assert_int_eq(mt_sweep_plan_init(&p1, &s, 20, 42, &err), 0);
	ck_assert_int_eq(mt_sweep_plan_init(&p2, &s, 50, 42, &err), 0);
	ck_assert_int_eq(mt_sweep_plan_init(&p3, &s, 20, 43, &err), 0);
	for (size_t i = 20; i-- > 0;) { /* backwards: order does not matter */
		trial_line(a, sizeof(a), &s, &p1, i);
		trial_line(b, sizeof(b), &s, &p2, i);
		ck_assert_str_eq(a, b);
		trial_line(b, sizeof(b), &s, &p3, i);
		differ += strcmp(a, b) != 0;
	}
	ck_assert_int_ge(differ, 15);
	/* Known values: the draws are part of the contract (resume, docs). */
	trial_line(a, sizeof(a), &s, &p1, 0);
	ck_assert_str_eq(a, "t --lr 0.000860739 --o e ");
	trial_line(b, sizeof(b), &s, &p1, 1);
	ck_assert_str_eq(b, "t --lr 0.00768474 --o d ");
	mt_sweep_plan_release(&p1);
	mt_sweep_plan_release(&p2);
	mt_sweep_plan_release(&p3);
	mt_sweep_release(&s);
}
END_TEST

/* A grid subsampled by --trials: K distinct points, in grid order, seeded. */
START_TEST(test_grid_subsample)
{
	const char *w[] = { "t", "range(0,100)", "range(0,100)", NULL };
	struct mt_sweep s = parse_ok(w);
	struct mt_sweep_plan p, q;
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(s.grid, 10000);
	ck_assert_int_eq(mt_sweep_plan_init(&p, &s, 50, 9, &err), 0);
	ck_assert_int_eq(mt_sweep_plan_init(&q, &s, 50, 9, &err), 0);
	ck_assert_int_eq(p.total, 50);
	for (size_t i = 0; i < 50; i++) {
		ck_assert_int_lt(p.pick[i], 10000);
		ck_assert_int_eq(p.pick[i], q.pick[i]);
		if (i)
			ck_assert_int_lt(p.pick[i - 1], p.pick[i]);
	}
	mt_sweep_plan_release(&p);
	mt_sweep_plan_release(&q);
	/* K at or above the grid: the whole grid. */
	ck_assert_int_eq(mt_sweep_plan_init(&p, &s, 20000, 9, &err), 0);
	ck_assert_int_eq(p.total, 10000);
	ck_assert_ptr_null(p.pick);
	mt_sweep_plan_release(&p);
	mt_sweep_release(&s);
	/* A grid too big to run whole needs --trials. */
	{
		const char *big[] = { "t", "range(0,1000)", "range(0,1000)", NULL };

		s = parse_ok(big);
		ck_assert_int_eq(mt_sweep_plan_init(&p, &s, -1, 9, &err), -1);
		ck_assert_ptr_nonnull(strstr(err.msg, "--trials"));
		ck_assert_int_eq(mt_sweep_plan_init(&p, &s, 100, 9, &err), 0);
		ck_assert_int_eq(p.total, 100);
		mt_sweep_plan_release(&p);
		mt_sweep_release(&s);
	}
}
END_TEST

/* Axes are named after their flag, or by position. */
START_TEST(test_names)
{
	const char *w[] = { "t", "--lr", "[1,2]", "--bs=[3]", "[4]", "--argmax", "[5]", "-x",
			    "[6]", "--a=b", "[7]", "---z", "[8]", NULL };
	struct mt_sweep s = parse_ok(w);
	static const char *const names[] = { "lr", "bs", "arg4", "argmax", "arg8", "arg10",
					     "arg12" };
	static const int flags[] = { 1, 1, 0, 1, 0, 0, 0 };

	ck_assert_int_eq(s.n_axes, 7);
	for (size_t i = 0; i < 7; i++) {
		ck_assert_str_eq(s.axes[i].name, names[i]);
		ck_assert_int_eq(s.axes[i].flag, flags[i]);
	}
	ck_assert_int_eq(s.axes[1].prefix, 5);
	mt_sweep_release(&s);
}
END_TEST

START_TEST(test_too_many_axes)
{
	const char *w[MT_SWEEP_MAX_AXES + 3];
	struct mt_sweep s;
	struct mt_err err = MT_ERR_INIT;

	w[0] = "t";
	for (int i = 1; i <= MT_SWEEP_MAX_AXES + 1; i++)
		w[i] = "[1]";
	ck_assert_int_eq(mt_sweep_parse(&s, MT_SWEEP_MAX_AXES + 1, (char *const *)w, &err), 0);
	ck_assert_int_eq(s.n_axes, MT_SWEEP_MAX_AXES);
	mt_sweep_release(&s);
	ck_assert_int_eq(mt_sweep_parse(&s, MT_SWEEP_MAX_AXES + 2, (char *const *)w, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than"));
}
END_TEST

Suite *make_sweep_suite(void)
{
	Suite *s = suite_create("sweep");
	TCase *tc = tcase_create("grammar");
	TCase *tp = tcase_create("plan");

	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_loop_test(tc, test_cases, 0, (int)N_ELEMS(cases));
	tcase_add_test(tc, test_too_many_axes);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	tcase_set_timeout(tp, TIMEOUT);
	tcase_add_test(tp, test_counts);
	tcase_add_test(tp, test_random_only);
	tcase_add_test(tp, test_seeded);
	tcase_add_test(tp, test_grid_subsample);
	suite_add_tcase(s, tp);
	return s;
}
