/*
 * mt_profile: data profiles for monitoring deployed model versions (issue
 * 17): the reference profile of a version's training/validation data, the
 * live profile of one window of served observations folded into the same
 * bins, and the drift and quality measures between the two.
 *
 * Everything is jansson values, so the server keeps profiles as jsonb and
 * the bundle manifest carries one as is.
 *
 * Reference profile ("mltrack-profile/1"), small and deterministic (the same
 * data give the same JSON, with sorted keys, anywhere):
 *   {"format": "mltrack-profile/1", "rows": N,
 *    "columns": {NAME: COLUMN, ...}}
 *   number COLUMN:   {"role": "feature"|"target"|"prediction", "type": "number",
 *                     "count": non-missing, "missing": M, "min", "max", "mean",
 *                     "std" (population), "edges": [e1 < e2 < ...],
 *                     "bins": [c0, ..., ck]}
 *   category COLUMN: {"role", "type": "category", "count", "missing",
 *                     "top": {VALUE: count, ...}, "other": count}
 * Number bins.  The edges are the distinct values of the reference's
 * quantiles at q = i/MT_PROFILE_BINS, i = 1..MT_PROFILE_BINS-1, computed as
 * numpy's default ("linear", Hyndman-Fan type 7; the position is split
 * exactly in integers, where numpy rounds i/BINS first, so numpy's values
 * can differ in the last bits).  A value v falls in bin
 * i = the number of edges < v (numpy.searchsorted(edges, v, side="left")):
 * bin 0 is v <= e1, the last bin v > ek.  "bins" are the reference's counts.
 * Categories: the MT_PROFILE_TOPK most frequent values (ties by value, in
 * byte order); every other value, and in live data any value not in "top",
 * is counted in "other".  At most MT_PROFILE_MAX_DISTINCT distinct values
 * are counted exactly per column; past that, new values go to "other".
 *
 * Types.  A column is a number when every non-missing value is a finite
 * number (CSV: strtod reads the whole cell; JSON lines: a JSON number), else
 * a category (a JSON number or boolean in a category column is its JSON
 * text).  Missing: an empty cell, "NA", "null", JSON null or an absent key.
 *
 * Live window:
 *   {"rows": N, "columns": {NAME: {"count", "missing", "bins": [...]} or
 *                           {"count", "missing", "top": {...}, "other"}},
 *    "labels": {"count": L, ...}}
 * "labels" folds the observations that came with a label, when the profile
 * has a prediction column: for a category prediction {"count",
 * "confusion": {LABEL: {PREDICTION: n}}} (at most MT_PROFILE_MAX_CLASSES
 * distinct labels and predictions: more is refused), for a number
 * {"count", "sse", "sae"} (sums of squared and absolute errors).
 *
 * Drift (mt_profile_drift), per column:
 *   PSI = sum over buckets (a - e) * ln(a / e), e and a the reference's
 *   and the window's shares with each share below MT_PROFILE_PSI_EPS raised
 *   to it (so an empty bucket counts, but finitely).  The buckets of a
 *   number are the reference's deciles, not the 100 bins (PSI's usual ten
 *   buckets, so the usual thresholds 0.1 and 0.25 mean what they do
 *   elsewhere; with 100 bins, sampling noise alone gives about
 *   99 * (1/n_ref + 1/n_window), 0.1 for two samples of 2,000): consecutive
 *   bins merged in order until the cumulative reference count reaches the
 *   next tenth (k * count >= tenths_passed + 1, in integers; a heavy bin may
 *   pass several tenths), the last bucket taking the rest.  The buckets of a
 *   category are its top values and "other";
 *   KS (numbers) = max over the edges of |F_ref(e) - F_live(e)|, the binned
 *   two-sample statistic: scipy's ks_2samp on the raw values is the sup
 *   over every point, so the binned one is never larger and differs by at
 *   most the largest share of one bin (about 1/MT_PROFILE_BINS of the
 *   reference for continuous data);
 *   chi-square (categories) = sum (o - x)^2 / x over the top values and
 *   "other" that the reference or the window has (a bucket empty in both
 *   is left out), x = the window's count times the reference's share, the
 *   shares raised to MT_PROFILE_PSI_EPS and renormalised to 1 over those
 *   buckets (scipy.stats.chisquare with those expected counts), and its
 *   degrees of freedom (buckets - 1);
 *   missing_rate_change = the window's missing rate minus the reference's.
 * Quality, when labels arrived: accuracy and macro F1 (over the classes seen
 * as label or prediction; a class without predictions or labels has F1 0)
 * for a category prediction, RMSE and MAE for a number.
 *
 * Errors: MT_EINVAL with a one-line message ("line 3: ..." for readers).
 * Results are owned by the caller (json_decref) unless said otherwise.
 * Nothing prints or keeps state; thread-safe.
 */
#ifndef MT_PROFILE_H
#define MT_PROFILE_H

#include <stddef.h>

#include <jansson.h>

#include "mt_error.h"

#define MT_PROFILE_FORMAT "mltrack-profile/1"
#define MT_PROFILE_BINS 100
#define MT_PROFILE_TOPK 50
#define MT_PROFILE_MAX_COLUMNS 1000
#define MT_PROFILE_MAX_NAME 250
#define MT_PROFILE_MAX_VALUE 1000
#define MT_PROFILE_MAX_DISTINCT 100000
#define MT_PROFILE_MAX_ROWS 10000000
#define MT_PROFILE_MAX_CLASSES 100
#define MT_PROFILE_PSI_EPS 1e-4
/* The largest count a stored profile or window may hold (checks refuse
 * more): far above any real window, far below overflow. */
#define MT_PROFILE_MAX_COUNT 1000000000000LL
/* A number label (and its prediction) beyond this is refused: squared
 * errors must stay finite when summed. */
#define MT_PROFILE_MAX_REGRESSION 1e150

enum mt_profile_fmt { MT_PROFILE_CSV, MT_PROFILE_JSONL };

/* Profile the n bytes at data (CSV with a header row, RFC 4180 quoting, LF
 * or CRLF; or one JSON object per line, blank lines skipped).  target and
 * prediction (may be NULL) name the columns with those roles; they must
 * exist. */
int mt_profile_build(json_t **out, const char *data, size_t n, enum mt_profile_fmt fmt,
		     const char *target, const char *prediction, struct mt_err *err);

/* 0 when p is a well-formed reference profile (as above, within the
 * limits, edges increasing, bin counts adding up), else MT_EINVAL. */
int mt_profile_check(const json_t *p, struct mt_err *err);

/* A new empty live window for profile p (checked). */
json_t *mt_profile_live_new(const json_t *p);

/* 0 when the observation obs ({"features": {...}, "prediction"?,
 * "label"?, "timestamp"?}) fits p: an object, no unknown feature, each
 * value of its column's type or missing.  live (may be NULL) is the window
 * it would go to, to check the class limit of labels. */
int mt_profile_obs_check(const json_t *p, const json_t *live, const json_t *obs,
			 struct mt_err *err);

/* Fold obs (which passed mt_profile_obs_check) into live. */
void mt_profile_fold(const json_t *p, json_t *live, const json_t *obs);

/* 0 when live is a window of p's shape (what the server stored). */
int mt_profile_live_check(const json_t *p, const json_t *live, struct mt_err *err);

/* Drift and quality of window live against p:
 *   {"rows": N, "columns": {NAME: {"type", "count", "missing_rate",
 *     "missing_rate_change", "psi", "ks" (numbers) | "chi2", "chi2_df"
 *     (categories)}}, "quality": {"labels": L, "accuracy", "f1_macro"} or
 *    {"labels", "rmse", "mae"} (absent without labels)}
 * A column with no non-missing value in the window has no psi/ks/chi2. */
json_t *mt_profile_drift(const json_t *p, const json_t *live);

#endif
