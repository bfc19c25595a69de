/*
 * stopsig.h: how mltrackd's background threads (the auth cache's listener,
 * the webhook deliverers, the monitoring alert thread) are told to stop: a
 * flag, and a pipe whose read end they poll while they wait, so that a stop
 * ends a wait at once instead of at its timeout.  The byte written stays in
 * the pipe, so it wakes every thread that waits on it, once or many times.
 */
#ifndef MT_STOPSIG_H
#define MT_STOPSIG_H

#include <stdatomic.h>

#include "mt_error.h"

struct stopsig {
	atomic_int stopping;
	int fd[2]; /* -1 when closed */
};

#define STOPSIG_INIT { 0, { -1, -1 } }

/* Open the pipe and clear the flag; what names the threads in the message. */
int stopsig_open(struct stopsig *s, const char *what, struct mt_err *err);
/* Whether a stop was asked for. */
int stopsig_stopping(struct stopsig *s);
/* Wait ms milliseconds, or less when a stop comes. */
void stopsig_nap(struct stopsig *s, long ms);
/* The fd to poll (POLLIN) beside others: readable once a stop is asked. */
int stopsig_fd(const struct stopsig *s);
/* Ask the threads to stop (they are joined by the caller). */
void stopsig_raise(struct stopsig *s);
/* Close the pipe (after the threads are joined); fine if never opened. */
void stopsig_close(struct stopsig *s);

#endif
