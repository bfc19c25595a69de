/*
 * mt_scrape: metrics scraped from the output of a wrapped command
 * (`mltrack run -- COMMAND`).
 *
 * The caller reads the child's stdout and stderr and hands every chunk to
 * mt_scraper_feed() as it arrives; the scraper cuts the bytes into lines and
 * calls emit(arg, key, value, step) for every metric it finds.  At the end of
 * the output mt_scraper_flush() scrapes a last line that has no terminator.
 * The scraper never prints, never does I/O and keeps no pointer to the
 * caller's buffers.
 *
 * Lines
 *  - A line ends at "\n", "\r\n" or a lone "\r" (a progress bar redrawn with
 *    "\r" gives one line per redraw).  A "\r\n" split over two feeds is one
 *    line end.  stdout (stream 0) and stderr (stream 1) each have their own
 *    partial line, so interleaved chunks do not mix.
 *  - A line longer than MT_SCRAPE_LINE_MAX bytes (its terminator not
 *    counted) is dropped whole; the buffer never holds more than that.
 *  - A line with a NUL byte is binary noise and is skipped.
 *  - ANSI escape sequences are removed (CSI "ESC [ params final", OSC
 *    "ESC ] ... BEL" or "ESC ] ... ESC \", and other two- or three-byte
 *    ESC sequences such as "ESC ( B"), then leading and trailing ASCII
 *    whitespace (space, \t, \v, \f) is trimmed.
 *
 * NAME and NUMBER
 *  - NAME is [A-Za-z_][A-Za-z0-9_./-]*, at most MT_MAX_KEY_LEN bytes, that
 *    mt_validate_key() accepts as a metric key (so "a//b", "a/" and "a/../b"
 *    are not names: the server would refuse them).
 *  - NUMBER is [+-]? then digits [. digits*] or . digits, then an optional
 *    exponent [eE][+-]?digits; or [+-]? nan, inf, infinity in any case.
 *    "1." is a number (numpy prints it, strtod takes it); "-nan" is NaN,
 *    without a sign.  Hex floats, "1e",
 *    "1_000", "1,000", units and '%' are not.  Decimal overflow gives +-inf
 *    (MLflow stores it).  Parsing uses the C locale whatever setlocale says.
 *
 * Built-in pattern (builtin != 0): the whole cleaned line is NAME, optional
 * spaces or tabs, ':' or '=', optional spaces or tabs, NUMBER.  So
 * "loss: 0.5", "acc=0.9" and "train/loss = 1e-3" are metrics, and
 * "loss: 0.5 at epoch 3", "x: 0x10", "url=http://a", ": 5", "1abc: 2" and
 * "a b: 3" are not.
 *
 * Custom patterns (mt_scraper_add, one per --scrape option), POSIX EREs:
 *  1. an ERE with exactly two groups: group 1 is the name, group 2 the value;
 *  2. NAME=ERE where the ERE has exactly one group: the value, under NAME.
 *     E.g. 'val_acc=val acc ([0-9.]+)'.
 * When the text before the first '=' is a NAME and the rest compiles with one
 * group the spec is form 2; otherwise the whole spec must compile with two
 * groups (so 'x=(a)(b)' is form 1, a regex that starts with "x=").
 * Patterns are not anchored; every non-overlapping match in a line counts,
 * left to right (REG_NOTBOL after the first; an empty match moves on one
 * byte).  Captured text is trimmed of ASCII whitespace and must then be a
 * NAME and a NUMBER, or the match is skipped.  Custom patterns apply to the
 * cleaned line in addition to the built-in one, or alone when builtin is 0.
 *
 * Steps
 *  - A metric named exactly "step" (case-sensitive; from the built-in
 *    pattern or a custom one) is never emitted.  When its value is a plain
 *    integer 0..2^63-1 (digits only) it sets the step of this line's metrics
 *    and of every later metric in both streams; otherwise it is ignored.
 *    Several on one line: the last wins.
 *  - Before the first step, each key has its own counter: its first value
 *    gets step 0, the next 1, and so on.  After it, counters are not used.
 *
 * Per line, the built-in match comes first, then each custom pattern in the
 * order added, each left to right; a key is emitted at most once per line
 * (the first match wins), so a custom pattern that also matches a built-in
 * line does not log the value twice.  At most MT_SCRAPE_MAX_KEYS distinct
 * keys are emitted per scraper; metrics under further new keys are ignored.
 *
 * Cost: the built-in pattern is linear in the output.  Custom patterns run
 * through the C library's regexec(), which tries every start position: a
 * pattern that can begin almost anywhere and then fails, such as
 * '([a-z]+)=([0-9]+)' on a long run of letters, costs time quadratic in the
 * line's length (glibc: about 8 s for one 64 KiB line, 0.5 s for 16 KiB).
 * Callers should not scrape on the thread that forwards the child's output.
 *
 * Out of memory while scraping loses lines or metrics, never crashes.
 * A scraper is not thread-safe: feed it from one thread.
 */
#ifndef MT_SCRAPE_H
#define MT_SCRAPE_H

#include <stddef.h>

#include "mt_error.h"

#define MT_SCRAPE_LINE_MAX (64 * 1024) /* bytes of one line, terminator excluded */
#define MT_SCRAPE_MAX_KEYS 10000       /* distinct keys per scraper */

#define MT_SCRAPE_STDOUT 0
#define MT_SCRAPE_STDERR 1

struct mt_scraper;

/* One metric.  key is borrowed: valid during the call only. */
typedef void (*mt_scrape_emit)(void *arg, const char *key, double value, long long step);

/* A new scraper, owned: free with mt_scraper_free().  builtin = 0 turns the
 * built-in pattern off (--no-scrape).  NULL when out of memory. */
struct mt_scraper *mt_scraper_new(int builtin);

/* Add a custom pattern (one --scrape option).  0, or -1 with MT_EINVAL and a
 * one-line message that quotes the spec ("--scrape '...': needs two groups
 * (name, value) or NAME=REGEX with one group", or regerror's text), or
 * MT_EINTERNAL when out of memory.  spec is copied. */
int mt_scraper_add(struct mt_scraper *s, const char *spec, struct mt_err *err);

/* Scrape n bytes of stream (MT_SCRAPE_STDOUT or MT_SCRAPE_STDERR): every line
 * completed by these bytes is scraped now, a partial line waits for the next
 * feed.  buf is not kept.  emit may be NULL (steps and counters still
 * advance). */
void mt_scraper_feed(struct mt_scraper *s, int stream, const char *buf, size_t n,
		     mt_scrape_emit emit, void *arg);

/* End of output: scrape each stream's unterminated last line (stdout's
 * first), then forget it.  Feeding may go on afterwards. */
void mt_scraper_flush(struct mt_scraper *s, mt_scrape_emit emit, void *arg);

/* Free the scraper and everything it holds; NULL is fine. */
void mt_scraper_free(struct mt_scraper *s);

#endif
