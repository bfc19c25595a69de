/*
 * mt_spool: the on-disk format of the CLI's spool (DESIGN §7: the server being
 * down never stops or fails training).
 *
 * A spooled run is a directory holding
 *   journal  append-only records, one compact JSON object per line;
 *   state    {"run_id": "<server id or empty>", "acked": <journal offset>},
 *            replaced by rename, not fsync'd: losing it only means a replay;
 *   lock     flock'd by the live `mltrack run` that writes the journal;
 *   files the journal names (output.log, uncommitted.patch).
 *
 * Each record is written with one write(2) and ends with '\n'.  A crash can
 * only cut the last record short, so a last line without its '\n' is not a
 * record yet (it is left for later, or ignored for good when its writer is
 * gone).  A complete line that is not a JSON object is corruption, reported
 * with its offset.  Records (field "t"):
 *   run       the run's creation: spool_id, experiment name or id, run_name,
 *             start_time, user
 *   batch     a log-batch body (metrics, params, tags) within MLflow's limits
 *   artifact  a file or directory to upload: local, dest
 *   end       status, end_time
 */
#ifndef MT_SPOOL_H
#define MT_SPOOL_H

#include <stddef.h>

#include <jansson.h>

#include "mt_error.h"

#define MT_SPOOL_MAX_RECORD (8 * 1024 * 1024) /* bytes of one journal line */

/* Append rec as one line with a single write(2).  0, or -1 with errno. */
int mt_spool_append(int fd, json_t *rec);
/* Append a record already serialised: line[0..n) is one compact JSON
 * object ending in '\n' (the caller's promise; the reader checks).  0, or -1
 * with errno (EINVAL when it does not end in '\n' or is too long). */
int mt_spool_append_line(int fd, const char *line, size_t n);

/* Called for each complete record; end is the offset just past its '\n'
 * (relative to the buffer's start).  Nonzero stops the parse and is
 * returned. */
typedef int (*mt_spool_fn)(void *arg, json_t *rec, size_t end);

/* Parse the complete records in buf[0..n).  *consumed gets the offset past
 * the last complete record handed to fn (a trailing partial line is left).
 * Returns 0; fn's nonzero value; or -1 with err (MT_EINVAL) when a complete
 * line is not a JSON object, or a line longer than MT_SPOOL_MAX_RECORD has no
 * end; *consumed then is that line's offset. */
int mt_spool_parse(const char *buf, size_t n, size_t *consumed, mt_spool_fn fn, void *arg,
		   struct mt_err *err);

struct mt_spool_state {
	char run_id[64]; /* "" until the server created the run */
	long long acked; /* journal bytes the server has acknowledged */
};

/* Read dir/state.  0: read, or missing (the initial state: 0, "").  1: it
 * was damaged (a crash can do that, since it is not fsync'd): st is the
 * initial state, err says so, and the caller replays from the start, which
 * is harmless. */
int mt_spool_state_read(const char *dir, struct mt_spool_state *st, struct mt_err *err);
/* Replace dir/state atomically (rename), without fsync.  0, or -1 with err. */
int mt_spool_state_write(const char *dir, const struct mt_spool_state *st, struct mt_err *err);

#endif
