/*
 * mt_gate: promotion-gate rules (DESIGN.md §8): parser, evaluator, report
 * renderers.
 *
 * A gate is a list of rules attached to (model, target stage).  The server
 * evaluates it on every transition into that stage (412 GATE_FAILED with the
 * report when it fails) and `mltrack gate check` prints the same report, so
 * both call mt_gate_evaluate() and mt_gate_render().  Every rule must pass;
 * an empty list passes.
 *
 * Grammar (one rule):
 *
 *   rule    := ['not'] sum [cmp sum]
 *   cmp     := '==' | '=' | '!=' | '<' | '<=' | '>' | '>='
 *   sum     := product (('+' | '-') product)*
 *   product := unary (('*' | '/') unary)*
 *   unary   := '-' unary | primary
 *   primary := NUMBER | STRING | 'true' | 'false' | reference | '(' sum ')'
 *
 *  - '=' is accepted as '==' (MLflow's search grammar spells equality '=');
 *    there is no assignment, so it cannot mean anything else.
 *  - 'not' may only start a rule; it negates the whole rule (`not git.dirty`,
 *    `not params.dataset == "v1"`).  An error stays an error.  A rule holds
 *    one comparison: there is no and/or (give one rule per condition; the
 *    policy is their conjunction).  'true', 'false' and 'not' are keywords in
 *    any case.
 *  - NUMBER: digits with an optional fraction and exponent (12, 0.5, .5, 5.,
 *    1e-3, 2E+4); it must be finite.  No hex, no inf/nan, no digit separators.
 *  - STRING: 'single' or "double" quoted; the escapes are \\ \' \" \` \n \t
 *    \r and any other backslash is an error.
 *  - reference := ['champion.'] space '.' key, where space is metrics,
 *    params or tags (any key), git (dirty, commit, branch, repo_url) or
 *    bundle (verified, sha256).  Prefixes are case-sensitive.  An unquoted
 *    key is a run of letters, digits, non-ASCII characters and _ - . / :
 *    (MLflow's key characters except space) that starts with a letter, digit,
 *    '_' or a non-ASCII character.  Because '-' belongs to keys,
 *    `metrics.a-1` is the metric "a-1": put spaces around a minus sign
 *    (`metrics.a - 1`).  Other keys are quoted with backticks or double
 *    quotes after the dot, with the string escapes: metrics.`val loss`.
 *  - Monitoring alert rules (mt_gate_validate_alert) have two more spaces,
 *    about a deployed version's live window: drift.STAT(FEATURE), STAT one
 *    of psi, ks, chi2 and missing (the change of the missing rate), FEATURE
 *    a key as above (`drift.psi(age)`, drift.ks(`annual income`)), and
 *    live.KEY for the window's own values (live.accuracy, live.rmse,
 *    live.count).  They are numbers, read as metrics are.  champion.drift
 *    and champion.live do not exist; in an alert rule champion.* is the
 *    monitored version itself (its run's metrics, params and tags), as in
 *    `live.accuracy >= champion.metrics.val_acc - 0.03`.  The subject gives
 *    them as {"drift": {"psi": {"age": 0.13}}, "live": {"accuracy": 0.91}}.
 *  - Whitespace is space and tab.  A rule is at most MT_GATE_MAX_RULE_LEN
 *    bytes of valid UTF-8 without control characters.
 *  - Size: a rule nests at most MT_GATE_MAX_DEPTH levels, where every
 *    operator (+ - * /, unary minus) and every pair of parentheses on the
 *    way from a side of the comparison down to an operand is a level (so
 *    a + b + c is two levels deep, -(a) two, ((a)) two), and holds at most
 *    MT_GATE_MAX_NODES operands and operators on both sides together.  The
 *    parser refuses anything bigger ("deeper than 32 levels at column 71:
 *    ...", "more than 128 operands and operators at column 258"), and
 *    everything here that walks a parsed rule is bounded by the same
 *    numbers, so evaluating or explaining an accepted rule takes a small,
 *    fixed amount of stack (a few KiB per 10 levels: it runs on a server
 *    worker's 100 KiB stack).  A rule stored before these limits existed
 *    is re-parsed when it is evaluated and reported as an error rule.
 *
 * Values and evaluation:
 *  - Values are numbers (double), strings and booleans.  A subject's JSON
 *    number is a number, a string a string, true/false a boolean; metrics are
 *    numbers, and a metric sent as a string ("0.5", MLflow's "NaN") is read
 *    as one.  NaN and infinities, division by zero and overflow are errors.
 *  - A number compared with a string: the string must parse fully as a
 *    number (the NUMBER syntax with an optional sign), else it is an error
 *    that says so.  Two strings support only == and != (compared byte for
 *    byte); ordering them is an error ("multiply by 1" makes a numeric
 *    string a number).  Booleans support == and !=; a string "true" or
 *    "false" (any case) compared with a boolean is that boolean.  + - * /
 *    take numbers (and numeric strings).
 *  - A rule without a comparison (`bundle.verified`) means "is true": its
 *    value must be a boolean (or "true"/"false").
 *  - A reference the candidate lacks is an error naming it ("candidate
 *    (version 3) has no metric 'val_loss'"); so is one the champion lacks.
 *    When there is no champion, a rule that uses champion.* passes with the
 *    message "no champion holds <stage> yet", unless its candidate side has
 *    an error.
 *
 * Report (mt_gate_evaluate; every member always present):
 *
 *   {"model": "churn" | null, "version": "3" | null, "run_id": "..." | null,
 *    "stage": "Production" | null, "passed": false,
 *    "champion": {"version": "2" | null, "run_id": "..." | null} | null,
 *    "rules": [{"rule": "metrics.val_loss <= champion.metrics.val_loss * 1.01",
 *               "status": "pass" | "fail" | "error", "passed": true,
 *               "no_champion": false,
 *               "actual": "0.25" | null,
 *               "required": "<= 0.2525 (champion 0.25 × 1.01)" | null,
 *               "message": "metrics.val_loss is 0.25, needs <= 0.2525 (...)"}],
 *    "summary": {"total": 6, "passed": 4, "failed": 1, "errors": 1}}
 *
 * "actual" is the candidate's side of the comparison (the left side, or the
 * right one when only it names the candidate: `0.9 < metrics.acc` reports
 * actual 0.93, required "> 0.9"); "required" the operator with the other
 * side evaluated, followed by how it was computed.  Either is null when it
 * could not be evaluated.  "rule" is the rule text as given (invalid UTF-8
 * replaced by U+FFFD, cut at MT_GATE_MAX_RULE_LEN bytes).  "no_champion" is
 * true when the rule passed only because no version holds the stage.
 *
 * Errors and messages are one line of UTF-8, lowercase first, in Git's
 * style.  Nothing here prints, exits or keeps global state; every function
 * is safe to call from several threads at once.
 */
#ifndef MT_GATE_H
#define MT_GATE_H

#include <stddef.h>

#include <jansson.h>

#define MT_GATE_MAX_RULE_LEN 1000 /* bytes of one rule */
#define MT_GATE_MAX_DEPTH 32      /* levels: operators and parentheses, see above */
#define MT_GATE_MAX_NODES 128     /* operands and operators of one rule */
#define MT_GATE_MAX_RULES 100     /* rules in one policy */

struct mt_gate_rule;

/*
 * Parse one rule.  Returns an owned rule (free with mt_gate_rule_free), or
 * NULL with a one-line message in err (errlen bytes, always NUL-terminated
 * when errlen > 0; err may be NULL): what was expected and where, e.g.
 * "expected an operator after 'metrics.acc' at column 13".  Columns count
 * characters from 1.  Out of memory gives NULL and "out of memory".  text is
 * borrowed; NULL is an error ("empty rule").
 */
struct mt_gate_rule *mt_gate_parse(const char *text, char *err, size_t errlen);

/* Free a parsed rule; NULL is fine. */
void mt_gate_rule_free(struct mt_gate_rule *rule);

/* 1 when the rule names champion.*, else 0. */
int mt_gate_rule_uses_champion(const struct mt_gate_rule *rule);

/*
 * Check a whole policy (e.g. at `gate set` time): at most MT_GATE_MAX_RULES
 * rules, each of which parses.  0, or -1 with err naming the first bad rule:
 * "rule 2 'metrics.acc 0.9': expected an operator after 'metrics.acc' at
 * column 13".  rules[0..n) are borrowed; rules may be NULL when n is 0.
 */
int mt_gate_validate(const char *const *rules, size_t n, char *err, size_t errlen);

/*
 * The same for monitoring alert rules: drift.* and live.* are allowed
 * (mt_gate_validate refuses a rule that names them: "rule 1 '...': drift.*
 * and live.* describe a deployed version's live data: they belong in
 * monitoring alert rules, not in a gate").  Evaluation is mt_gate_evaluate's.
 */
int mt_gate_validate_alert(const char *const *rules, size_t n, char *err, size_t errlen);

/*
 * Evaluate rule texts against subjects and return the report described
 * above: an owned new JSON object (json_decref), NULL only when memory runs
 * out.  A rule that does not parse is reported as an error ("does not parse:
 * ..."), never skipped.  The count limit is mt_gate_validate's business:
 * every rule given is evaluated.
 *
 * A subject is built by the caller from a model version, its run and its
 * bundle; any member may be absent:
 *   {"name": "churn", "version": "3", "run_id": "<32 hex>",
 *    "metrics": {"val_accuracy": 0.93}, "params": {"dataset": "v2"},
 *    "tags": {"reviewed": "true"},
 *    "git": {"commit": "...", "branch": "main", "dirty": false, "repo_url": "..."},
 *    "bundle": {"sha256": "...", "verified": true}}
 * candidate and champion are borrowed; champion is NULL when no version
 * holds the stage.  A candidate that is not an object has no members; a
 * champion that is not an object counts as no champion.  stage (borrowed,
 * may be NULL) is the target stage, for the report and its messages.
 */
json_t *mt_gate_evaluate(const char *const *rules, size_t n, const json_t *candidate,
			 const json_t *champion, const char *stage);

/* 1 when report is a gate report whose "passed" is true, else 0. */
int mt_gate_report_passed(const json_t *report);

enum mt_gate_format { MT_GATE_TEXT, MT_GATE_JSON, MT_GATE_JUNIT, MT_GATE_MARKDOWN };

/* "text", "json", "junit", "markdown" (or "md") to *out: 0, or -1 for any
 * other name (NULL included), *out untouched. */
int mt_gate_format_parse(const char *name, enum mt_gate_format *out);

/*
 * Render a report.  Returns an owned malloc'd NUL-terminated string (free),
 * ending in a newline; NULL only when memory runs out.  report is borrowed
 * and may come from elsewhere (the server's 412 body): members that are
 * missing or of the wrong type are shown as unknown, never trusted to be
 * well-formed, and counts are taken from the rules themselves.
 *
 *  - text: one line per rule, "PASS  ", "FAIL  " or "ERROR ", the rule,
 *    " -- " and its message, after a header line (model, version, stage)
 *    and a champion line, before a summary line ("PASSED: ..." or
 *    "FAILED: ...");
 *    control characters are shown as \xNN, so a report cannot drive the
 *    terminal.
 *  - json: the report, indented by two.
 *  - junit: <testsuites><testsuite name="gate.<model>.<stage>" ...> with one
 *    <testcase classname="gate.<model>.<stage>" name="<rule>"> per rule and
 *    <failure>/<error message=...> children; well-formed XML 1.0, characters
 *    XML cannot carry replaced by U+FFFD.
 *  - markdown: a heading with the verdict, candidate and champion (linked
 *    to "<base_url>/runs/<run_id>" when base_url is given and the run id
 *    looks like one), and a | Rule | Actual | Required | Result | table with
 *    code spans fenced and pipes escaped, ready for a pull-request comment.
 * base_url is borrowed and may be NULL (no links).
 */
char *mt_gate_render(const json_t *report, enum mt_gate_format fmt, const char *base_url);

#endif
