/*
 * mt_redact: keeping secrets out of what is printed, logged and stored.
 *
 * Two kinds of secret are recognised in text:
 *  - values this process registered with mt_redact_add(): mltrackd's
 *    database password and admin token, the CLI's token or password.  Every
 *    occurrence becomes "***";
 *  - the password of a URL's userinfo ("scheme://user:password@host"),
 *    wherever a URL appears: it becomes "scheme://user:***@host".
 * mt_err_set() and mt_err_detail() pass every message through here, so an
 * error may quote a libpq message or a URL without leaking what it holds;
 * the CLI does the same for all it prints and for the tags and params it
 * records.
 *
 * Registration happens as a process starts, from one thread; a slot is
 * published with release/acquire ordering, so readers on other threads take
 * no lock.  At most MT_REDACT_MAX values are kept (process lifetime), and
 * values shorter than MT_REDACT_MIN are not: scrubbing a short value out of
 * every text would blank out ordinary words (mltrackd's own passwords are
 * at least that long).  Nothing here prints.
 */
#ifndef MT_REDACT_H
#define MT_REDACT_H

#include <stddef.h>

#define MT_REDACT_MAX 16
#define MT_REDACT_MIN 8
#define MT_REDACT_MASK "***"

/* Register a secret (copied).  0; also when it is too short to register, or
 * known already; -1 when the table is full. */
int mt_redact_add(const char *secret);
/* Register the passwords a libpq connection string holds, as written and
 * percent-decoded: "password=..." of the keyword form (quoted or not), the
 * userinfo and a "password" query parameter of the URI form.  Does not
 * need the string to be valid (libpq's complaint about an invalid one may
 * quote it).  0 or -1 (table full). */
int mt_redact_add_conninfo(const char *conninfo);
/* Overwrite the passwords of a connection string with '*' in place (the
 * same length: for a command line as ps shows it). */
void mt_redact_conninfo_hide(char *conninfo);
/* Forget every registered value (tests). */
void mt_redact_reset(void);
/* Whether anything is registered. */
int mt_redact_active(void);

/* in, redacted, into out (always NUL-terminated; cut at n - 1 bytes).
 * Returns the number of secrets masked. */
size_t mt_redact_copy(char *out, size_t n, const char *in);
/* The same into a new string (malloc'd, the caller frees); NULL out of
 * memory. */
char *mt_redact_dup(const char *in);
/* The same in place: s holds at most cap bytes with its NUL. */
size_t mt_redact_inplace(char *s, size_t cap);
/* 1 when in holds a registered secret or a URL password. */
int mt_redact_needed(const char *in);

/* A URL split at its userinfo: bare gets the URL without "user[:password]@"
 * (an empty string if it does not fit); user and password (either may be
 * NULL) get the userinfo's parts, percent-decoded ("" when absent).
 * Returns 1 when the URL had userinfo, 0 when not, -1 when a part did not
 * fit its buffer. */
int mt_url_userinfo(const char *url, char *bare, size_t bn, char *user, size_t un,
		    char *password, size_t pn);

/*
 * A byte stream with the registered secrets masked (the output log of
 * `mltrack run`): what could be the start of a secret is held back until
 * the next bytes show whether it is one.  Bytes go to out(arg, p, n), which
 * returns 0 or -1.  State is plain data: zero it to start.
 */
struct mt_redact_stream {
	char *held;   /* malloc'd, bytes not passed on yet */
	size_t n_held;
};
int mt_redact_stream_write(struct mt_redact_stream *s, const char *buf, size_t n,
			   int (*out)(void *arg, const char *p, size_t n), void *arg);
/* Pass on what is held and free the state.  0 or out's -1. */
int mt_redact_stream_finish(struct mt_redact_stream *s,
			    int (*out)(void *arg, const char *p, size_t n), void *arg);

#endif
