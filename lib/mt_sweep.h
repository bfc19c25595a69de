/*
 * mt_sweep: the search space of `mltrack sweep` and its trial plan.
 *
 * `mltrack sweep -- ./train --lr '[0.1,0.01]' --depth 'range(2,8)'
 * --dropout 'uniform(0,0.5)'` runs ./train once per trial, each time with
 * the swept words replaced by one value.  This module parses the command's
 * words into a space (mt_sweep_parse), fixes how many trials there are and
 * which (mt_sweep_plan_init), and gives each trial's words
 * (mt_sweep_trial_make).  No I/O, no output, no global state.
 *
 * The grammar of one word (the whole word, or what follows the first '=' of
 * a word "--name=..."):
 *   [a,b,c]              list: a grid axis, one value per item, in order
 *   range(a,b[,step])    integers a, a+step, ... up to but not including b
 *                        (Python's range; step defaults to 1, may be
 *                        negative, not 0): a grid axis
 *   uniform(a,b)         a number drawn uniformly from [a,b), a < b
 *   loguniform(a,b)      a number whose logarithm is uniform, 0 < a < b
 *   choice(a,b,...)      one of the items, drawn with equal chances
 * A word that starts with '[' and ends with ']', or starts with "range(",
 * "uniform(", "loguniform(" or "choice(" and ends with ')', is an
 * expression and must be a valid one: a typo is an error, never passed on
 * as it stands.  Any other word is passed on unchanged.  A word that
 * starts with '\' has that backslash removed and is never an expression
 * ('\[1,2]' passes "[1,2]").  Items are trimmed of spaces and tabs, must
 * not be empty and cannot hold ',' (nor ']' in a list, nor ')' in
 * choice); numbers are C-locale decimals (strtod), finite.  At most
 * MT_SWEEP_MAX_AXES expressions, MT_SWEEP_MAX_ITEMS values per axis.
 *
 * An axis is named after its flag: the value of "--lr" or "--lr=" is "lr";
 * any other position gives "arg<N>" (N: the word's index in the command,
 * the program being 0).
 *
 * The plan.  Lists and ranges are grid axes, enumerated as a cartesian
 * product in the order written, the last axis varying fastest (nested
 * loops).  uniform, loguniform and choice are drawn axes.
 *  - No drawn axis: every grid point, once.  With --trials K < grid size: K
 *    grid points picked at random (seeded), without repetition, run in grid
 *    order.
 *  - Drawn axes: each grid point K times (K = --trials), each time with
 *    fresh draws.  Without --trials K is 10 when there is no grid axis, 1
 *    otherwise.  Trial i is grid point i / K, draw i % K.
 *  - At most MT_SWEEP_MAX_TRIALS trials in all.
 * Draws are a pure function of (seed, trial index, axis index), through
 * splitmix64: a trial's values do not depend on which other trials ran,
 * in what order or in parallel, and the same seed gives the same trials on
 * any machine.  A drawn number is written with 6 significant digits
 * ("%.6g", so a value can round to a bound), and the command gets that
 * text: what it ran with is what is recorded.
 */
#ifndef MT_SWEEP_H
#define MT_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "mt_error.h"

#define MT_SWEEP_MAX_AXES 64
#define MT_SWEEP_MAX_ITEMS 10000
#define MT_SWEEP_MAX_TRIALS 10000
#define MT_SWEEP_MAX_WORD 4096 /* bytes of one expression */

enum mt_sweep_kind {
	MT_SWEEP_LIST,
	MT_SWEEP_RANGE,
	MT_SWEEP_UNIFORM,
	MT_SWEEP_LOGUNIFORM,
	MT_SWEEP_CHOICE,
};

struct mt_sweep_axis {
	enum mt_sweep_kind kind;
	char *name;      /* "lr", "arg3" (owned) */
	int flag;        /* named after its flag (else positional: arg<N>) */
	int word;        /* index in argv */
	size_t prefix;   /* bytes of argv[word] kept before the value ("--lr=": 5) */
	char **items;    /* LIST, CHOICE: n_items strings (owned) */
	size_t n_items;  /* LIST, CHOICE; RANGE: the number of values */
	long long start, step; /* RANGE */
	double lo, hi;   /* UNIFORM, LOGUNIFORM */
};

struct mt_sweep {
	int argc;
	char **argv;     /* the command as given, backslash escapes removed (owned) */
	struct mt_sweep_axis *axes; /* n_axes (owned) */
	size_t n_axes;
	size_t grid;     /* grid points: product of grid axes' sizes (1 when none) */
	int drawn;       /* some axis is drawn */
};

struct mt_sweep_plan {
	uint64_t seed;
	size_t per_point; /* trials per grid point (1 without drawn axes) */
	size_t total;
	size_t *pick;     /* total grid indices when a grid is subsampled, else NULL (owned) */
};

/* Parse argv[0..argc) (the command and its arguments).  On success *out owns
 * copies of everything; release it with mt_sweep_release.  -1 with
 * MT_EINVAL and a one-line message quoting the word on bad grammar, or
 * MT_EINTERNAL when out of memory; *out is then empty. */
int mt_sweep_parse(struct mt_sweep *out, int argc, char *const argv[], struct mt_err *err);
void mt_sweep_release(struct mt_sweep *s);

/* Is kind a grid axis (LIST, RANGE)? */
int mt_sweep_is_grid(enum mt_sweep_kind kind);

/* The plan for trials (-1: not given) and seed.  -1 with MT_EINVAL (trials
 * < 1, or more than MT_SWEEP_MAX_TRIALS in all), or MT_EINTERNAL. */
int mt_sweep_plan_init(struct mt_sweep_plan *out, const struct mt_sweep *s, long long trials,
		       uint64_t seed, struct mt_err *err);
void mt_sweep_plan_release(struct mt_sweep_plan *p);

/* Trial i (< p->total): values gets n_axes strings, the value of each
 * axis, and argv the command's argc words with those values in place and a
 * NULL after them.  Both arrays and their strings are owned: free them with
 * mt_sweep_trial_free.  0, or -1 with MT_EINTERNAL (out of memory). */
int mt_sweep_trial_make(char ***values, char ***argv, const struct mt_sweep *s,
			const struct mt_sweep_plan *p, size_t i, struct mt_err *err);
void mt_sweep_trial_free(const struct mt_sweep *s, char **values, char **argv);

#endif
