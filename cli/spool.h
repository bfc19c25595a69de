/*
 * spool.h: the CLI's local spool of runs (format: lib/mt_spool.h).
 *
 * `mltrack run` writes everything it learns to a spooled run first and
 * uploads from there, so the server being down loses nothing: the journal
 * keeps what was not acknowledged, and `mltrack sync` (or the quick sync every
 * command starts with) uploads it later.  Replays are harmless: a run is
 * found again by its mltrack.spool_id tag, the server ignores metric points it
 * has, and params, tags, artifacts and the end status are idempotent.
 */
#ifndef MT_CLI_SPOOL_H
#define MT_CLI_SPOOL_H

#include <jansson.h>

#include "cli.h"

struct cli_spool {
	char dir[4096];
	char id[64];    /* the directory's name, also the run's mltrack.spool_id */
	int journal_fd; /* O_APPEND, written by the run's main thread */
	int lock_fd;    /* flock'd for the life of the run */
};

/* The spool directory: $MLTRACK_SPOOL_DIR, else ~/.mltrack/spool.  0 or -1. */
int cli_spool_root(char *out, size_t n);

/* A new spooled run, locked.  0, or -1 with f. */
int cli_spool_create(struct cli_spool *s, struct cli_fail *f);
/* Append a record (steals nothing: rec stays the caller's).  0 or -1 (errno). */
int cli_spool_append(struct cli_spool *s, json_t *rec);
/* fsync the journal. */
void cli_spool_flush(struct cli_spool *s);
/* Close; the directory stays unless it was removed. */
void cli_spool_close(struct cli_spool *s);

/* What a push learned. */
struct cli_push {
	char run_id[64];  /* the server's run id, once known */
	char experiment_id[32]; /* its experiment, when this push created or found it */
	long long acked;  /* journal bytes acknowledged */
	long long size;   /* journal bytes complete (records) */
	int ended;        /* the end record was acknowledged */
	int progressed;   /* something new was acknowledged by this push */
};

/* Upload the journal of the spooled run in dir from where the server's
 * acknowledgements stopped.  live: its writer is still running (a missing end
 * is not a crash).  Returns 0 when everything complete so far is sent; -1 with
 * f otherwise (f->transient: try again later). */
int cli_spool_push(const char *dir, int live, struct cli_push *p, struct cli_fail *f);

/* Remove a spooled run's directory and everything in it. */
void cli_spool_remove(const char *dir);

/* Upload every spooled run that no live `mltrack run` holds, oldest first,
 * and remove each once the server acknowledged all of it.  quick: one attempt
 * per request and at most budget_ms in all, silent unless something was
 * synced (the start of every command).  Returns an exit code. */
int cli_sync_all(int quick, long budget_ms);

int cmd_sync(int argc, char **argv);

#endif
