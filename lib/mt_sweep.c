/*
 * mt_sweep.c: the sweep grammar and the trial plan (mt_sweep.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_sweep.h"

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int ends(const char *s, size_t n, char c)
{
	return n > 0 && s[n - 1] == c;
}

/* Does the value text (n bytes) look like an expression? */
static int is_expr(const char *v, size_t n)
{
	if (n >= 1 && v[0] == '[')
		return ends(v, n, ']');
	if (starts(v, "range(") || starts(v, "uniform(") || starts(v, "loguniform(") ||
	    starts(v, "choice("))
		return ends(v, n, ')');
	return 0;
}

/* Words are shown in messages cut to a readable length. */
static int bad(struct mt_err *err, const char *word, const char *what)
{
	return mt_err_set(err, MT_EINVAL, "sweep expression '%.200s%s': %s", word,
			  strlen(word) > 200 ? "..." : "", what);
}

/* Split body (n bytes, between the brackets) at commas into trimmed items. */
static int split_items(struct mt_sweep_axis *a, const char *word, const char *body, size_t n,
		       char forbidden, struct mt_err *err)
{
	size_t cap = 0;
	const char *p = body, *end = body + n;

	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *q = comma ? comma : end, *b = p, *e = q;
		char *item;

		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (b == e)
			return bad(err, word, "empty item");
		if (memchr(b, forbidden, (size_t)(e - b)))
			return bad(err, word, forbidden == ']' ? "']' inside an item" :
								 "')' inside an item");
		if (memchr(b, '\0', (size_t)(e - b)))
			return bad(err, word, "NUL in an item");
		if (a->n_items >= MT_SWEEP_MAX_ITEMS)
			return bad(err, word, "too many items");
		if (a->n_items == cap) {
			size_t nc = cap ? cap * 2 : 8;
			char **v = realloc(a->items, nc * sizeof(*v));

			if (!v)
				return mt_err_set(err, MT_EINTERNAL, "out of memory");
			a->items = v;
			cap = nc;
		}
		if (!(item = dupn(b, (size_t)(e - b))))
			return mt_err_set(err, MT_EINTERNAL, "out of memory");
		a->items[a->n_items++] = item;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* Exactly want (2, or 2..3 when opt3) comma-separated trimmed numbers. */
static int split_numbers(double *out, int *count, int min, int max, const char *word,
			 const char *body, size_t n, struct mt_err *err)
{
	struct mt_sweep_axis tmp = { 0 };
	int rc = split_items(&tmp, word, body, n, ')', err);

	if (rc == 0 && ((int)tmp.n_items < min || (int)tmp.n_items > max))
		rc = bad(err, word, min == max ? "needs two numbers" : "needs two or three numbers");
	for (size_t i = 0; rc == 0 && i < tmp.n_items; i++) {
		char *e;

		errno = 0;
		out[i] = strtod(tmp.items[i], &e);
		if (*e || e == tmp.items[i] || !isfinite(out[i]) || errno == ERANGE)
			rc = bad(err, word, "not a finite number");
	}
	if (rc == 0)
		*count = (int)tmp.n_items;
	for (size_t i = 0; i < tmp.n_items; i++)
		free(tmp.items[i]);
	free(tmp.items);
	return rc;
}

static int parse_integer(long long *out, double d, const char *word, struct mt_err *err)
{
	if (d != floor(d) || fabs(d) > 9007199254740992.0)
		return bad(err, word, "range() takes integers");
	*out = (long long)d;
	return 0;
}

/* Parse value (n bytes, an expression) into a. */
static int parse_expr(struct mt_sweep_axis *a, const char *word, const char *v, size_t n,
		      struct mt_err *err)
{
	double num[3];
	int cnt = 0;

	if (n > MT_SWEEP_MAX_WORD)
		return bad(err, word, "too long");
	if (v[0] == '[') {
		a->kind = MT_SWEEP_LIST;
		return split_items(a, word, v + 1, n - 2, ']', err);
	}
	if (starts(v, "choice(")) {
		a->kind = MT_SWEEP_CHOICE;
		return split_items(a, word, v + 7, n - 8, ')', err);
	}
	if (starts(v, "range(")) {
		long long lo = 0, hi = 0, step = 1;
		unsigned long long count;

		a->kind = MT_SWEEP_RANGE;
		if (split_numbers(num, &cnt, 2, 3, word, v + 6, n - 7, err) ||
		    parse_integer(&lo, num[0], word, err) || parse_integer(&hi, num[1], word, err) ||
		    (cnt == 3 && parse_integer(&step, num[2], word, err)))
			return -1;
		if (step == 0)
			return bad(err, word, "step must not be 0");
		if ((step > 0 && lo >= hi) || (step < 0 && lo <= hi))
			return bad(err, word, "empty range");
		/* |hi - lo| <= 2^54: no overflow. */
		if (step > 0)
			count = (unsigned long long)((hi - lo + step - 1) / step);
		else
			count = (unsigned long long)((lo - hi + (-step) - 1) / (-step));
		if (count > MT_SWEEP_MAX_ITEMS)
			return bad(err, word, "too many values");
		a->start = lo;
		a->step = step;
		a->n_items = (size_t)count;
		return 0;
	}
	if (starts(v, "uniform(") || starts(v, "loguniform(")) {
		int log = v[0] == 'l';
		size_t open = log ? 11 : 8;

		a->kind = log ? MT_SWEEP_LOGUNIFORM : MT_SWEEP_UNIFORM;
		if (split_numbers(num, &cnt, 2, 2, word, v + open, n - open - 1, err))
			return -1;
		if (!(num[0] < num[1]))
			return bad(err, word, "needs a < b");
		if (log && !(num[0] > 0))
			return bad(err, word, "loguniform needs 0 < a");
		a->lo = num[0];
		a->hi = num[1];
		return 0;
	}
	return bad(err, word, "unknown expression");
}

int mt_sweep_is_grid(enum mt_sweep_kind kind)
{
	return kind == MT_SWEEP_LIST || kind == MT_SWEEP_RANGE;
}

static void axis_clear(struct mt_sweep_axis *a)
{
	for (size_t i = 0; a->items && i < a->n_items; i++)
		free(a->items[i]);
	free(a->items);
	free(a->name);
	memset(a, 0, sizeof(*a));
}

void mt_sweep_release(struct mt_sweep *s)
{
	for (size_t i = 0; i < s->n_axes; i++)
		axis_clear(&s->axes[i]);
	free(s->axes);
	for (int i = 0; s->argv && i < s->argc; i++)
		free(s->argv[i]);
	free(s->argv);
	memset(s, 0, sizeof(*s));
}

/* The name of the axis at word i: its flag (*flag = 1), or arg<i>. */
static char *axis_name(char *const argv[], int i, size_t prefix, int *flag)
{
	char buf[32];

	*flag = 1;
	if (prefix > 3) /* "--name=" */
		return dupn(argv[i] + 2, prefix - 3);
	if (i > 0 && starts(argv[i - 1], "--") && argv[i - 1][2] && !strchr(argv[i - 1], '=') &&
	    argv[i - 1][2] != '-')
		return dupn(argv[i - 1] + 2, strlen(argv[i - 1] + 2));
	*flag = 0;
	snprintf(buf, sizeof(buf), "arg%d", i);
	return dupn(buf, strlen(buf));
}

int mt_sweep_parse(struct mt_sweep *out, int argc, char *const argv[], struct mt_err *err)
{
	struct mt_sweep s = { 0 };

	memset(out, 0, sizeof(*out));
	if (argc < 1)
		return mt_err_set(err, MT_EINVAL, "no command to sweep");
	s.grid = 1;
	if (!(s.argv = calloc((size_t)argc + 1, sizeof(*s.argv))) ||
	    !(s.axes = calloc(MT_SWEEP_MAX_AXES, sizeof(*s.axes)))) {
		mt_sweep_release(&s);
		return mt_err_set(err, MT_EINTERNAL, "out of memory");
	}
	s.argc = argc;
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i], *v = w, *eq;
		size_t prefix = 0;
		struct mt_sweep_axis *a;

		if (i > 0 && w[0] == '\\') {
			if (!(s.argv[i] = dupn(w + 1, strlen(w + 1))))
				goto oom;
			continue;
		}
		if (!(s.argv[i] = dupn(w, strlen(w))))
			goto oom;
		if (starts(w, "--") && (eq = strchr(w, '=')) && eq > w + 2) {
			prefix = (size_t)(eq + 1 - w);
			v = eq + 1;
		}
		if (i == 0 || !is_expr(v, strlen(v)))
			continue;
		if (s.n_axes >= MT_SWEEP_MAX_AXES) {
			mt_sweep_release(&s);
			return mt_err_set(err, MT_EINVAL, "more than %d swept arguments",
					  MT_SWEEP_MAX_AXES);
		}
		a = &s.axes[s.n_axes++];
		a->word = i;
		a->prefix = prefix;
		if (!(a->name = axis_name(argv, i, prefix, &a->flag)))
			goto oom;
		if (parse_expr(a, w, v, strlen(v), err)) {
			mt_sweep_release(&s);
			return -1;
		}
		if (mt_sweep_is_grid(a->kind)) {
			if (s.grid > SIZE_MAX / a->n_items)
				s.grid = SIZE_MAX;
			else
				s.grid *= a->n_items;
		} else {
			s.drawn = 1;
		}
	}
	*out = s;
	return 0;
oom:
	mt_sweep_release(&s);
	return mt_err_set(err, MT_EINTERNAL, "out of memory");
}

/* ---- the plan ---- */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The random word for (seed, a, b): a pure function. */
static uint64_t rnd(uint64_t seed, uint64_t a, uint64_t b)
{
	return splitmix64(splitmix64(splitmix64(seed) ^ a) ^ (b * 0x632be59bd9b4e019ULL));
}

/* A number in [0, n) from a random word (multiply-shift, bias < n / 2^64). */
static uint64_t below(uint64_t r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)r * n) >> 64);
}

static double unit(uint64_t r)
{
	return (double)(r >> 11) * 0x1.0p-53;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

void mt_sweep_plan_release(struct mt_sweep_plan *p)
{
	free(p->pick);
	memset(p, 0, sizeof(*p));
}

int mt_sweep_plan_init(struct mt_sweep_plan *out, const struct mt_sweep *s, long long trials,
		       uint64_t seed, struct mt_err *err)
{
	struct mt_sweep_plan p = { .seed = seed };

	memset(out, 0, sizeof(*out));
	if (trials == 0 || trials < -1)
		return mt_err_set(err, MT_EINVAL, "--trials must be at least 1");
	if (s->drawn) {
		p.per_point = trials > 0 ? (size_t)trials : s->grid > 1 || s->n_axes == 0 ? 1 : 10;
		if (trials > MT_SWEEP_MAX_TRIALS || s->grid > MT_SWEEP_MAX_TRIALS / p.per_point)
			return mt_err_set(err, MT_EINVAL,
					  "%zu grid points x %zu draws: more than %d trials",
					  s->grid, p.per_point, MT_SWEEP_MAX_TRIALS);
		p.total = s->grid * p.per_point;
	} else if (trials > 0 && (unsigned long long)trials < s->grid) {
		/* K of the grid's points, Floyd's algorithm, then in grid order. */
		size_t k = (size_t)trials, n = 0;

		if (k > MT_SWEEP_MAX_TRIALS)
			return mt_err_set(err, MT_EINVAL, "--trials: more than %d trials",
					  MT_SWEEP_MAX_TRIALS);
		if (!(p.pick = malloc(k * sizeof(*p.pick))))
			return mt_err_set(err, MT_EINTERNAL, "out of memory");
		for (size_t j = s->grid - k; j < s->grid; j++) {
			size_t t = (size_t)below(rnd(seed, UINT64_MAX, j), (uint64_t)j + 1);
			int seen = 0;

			for (size_t q = 0; q < n && !seen; q++)
				seen = p.pick[q] == t;
			p.pick[n++] = seen ? j : t;
		}
		qsort(p.pick, k, sizeof(*p.pick), cmp_size);
		p.per_point = 1;
		p.total = k;
	} else {
		if (s->grid > MT_SWEEP_MAX_TRIALS)
			return mt_err_set(err, MT_EINVAL,
					  "the grid has %zu points: more than %d trials (pick "
					  "some with --trials K)", s->grid, MT_SWEEP_MAX_TRIALS);
		p.per_point = 1;
		p.total = s->grid;
	}
	*out = p;
	return 0;
}

void mt_sweep_trial_free(const struct mt_sweep *s, char **values, char **argv)
{
	for (size_t i = 0; values && i < s->n_axes; i++)
		free(values[i]);
	free(values);
	for (int i = 0; argv && i < s->argc; i++)
		free(argv[i]);
	free(argv);
}

int mt_sweep_trial_make(char ***values, char ***argv, const struct mt_sweep *s,
			const struct mt_sweep_plan *p, size_t i, struct mt_err *err)
{
	char **val = calloc(s->n_axes + 1, sizeof(*val));
	char **av = calloc((size_t)s->argc + 1, sizeof(*av));
	size_t point, g;

	*values = NULL;
	*argv = NULL;
	if (!val || !av)
		goto oom;
	point = i / p->per_point;
	g = p->pick ? p->pick[point] : point;
	/* Grid digits: the last grid axis varies fastest. */
	for (size_t k = s->n_axes; k-- > 0;) {
		const struct mt_sweep_axis *a = &s->axes[k];
		char buf[64];
		uint64_t r = rnd(p->seed, i, k);

		switch (a->kind) {
		case MT_SWEEP_LIST:
			val[k] = dupn(a->items[g % a->n_items], strlen(a->items[g % a->n_items]));
			g /= a->n_items;
			break;
		case MT_SWEEP_RANGE:
			snprintf(buf, sizeof(buf), "%lld",
				 a->start + (long long)(g % a->n_items) * a->step);
			g /= a->n_items;
			val[k] = dupn(buf, strlen(buf));
			break;
		case MT_SWEEP_CHOICE: {
			size_t c = (size_t)below(r, a->n_items);

			val[k] = dupn(a->items[c], strlen(a->items[c]));
			break;
		}
		case MT_SWEEP_UNIFORM:
			snprintf(buf, sizeof(buf), "%.6g", a->lo + (a->hi - a->lo) * unit(r));
			val[k] = dupn(buf, strlen(buf));
			break;
		case MT_SWEEP_LOGUNIFORM:
			snprintf(buf, sizeof(buf), "%.6g",
				 exp(log(a->lo) + (log(a->hi) - log(a->lo)) * unit(r)));
			val[k] = dupn(buf, strlen(buf));
			break;
		}
		if (!val[k])
			goto oom;
	}
	for (int w = 0; w < s->argc; w++)
		if (!(av[w] = dupn(s->argv[w], strlen(s->argv[w]))))
			goto oom;
	for (size_t k = 0; k < s->n_axes; k++) {
		const struct mt_sweep_axis *a = &s->axes[k];
		size_t vl = strlen(val[k]);
		char *w = malloc(a->prefix + vl + 1);

		if (!w)
			goto oom;
		memcpy(w, s->argv[a->word], a->prefix);
		memcpy(w + a->prefix, val[k], vl + 1);
		free(av[a->word]);
		av[a->word] = w;
	}
	*values = val;
	*argv = av;
	return 0;
oom:
	mt_sweep_trial_free(s, val, av);
	return mt_err_set(err, MT_EINTERNAL, "out of memory");
}
