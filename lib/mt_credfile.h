/*
 * mt_credfile: the text of the CLI's credentials file, ~/.mltrack/credentials
 * (cli/creds.c reads and writes the file itself, with its modes).
 *
 * INI-like, one section per tracking URI, so one file holds tokens for
 * several servers:
 *
 *   # mltrack credentials: written by `mltrack login`; keep it private (0600)
 *   [http://127.0.0.1:5170]
 *   username = alice
 *   token_name = mltrack-cli@laptop
 *   token = mlt_...
 *
 * A line is blank, a comment ('#' or ';' first), "[SECTION]" or
 * "key = value" (spaces around both trimmed; the value runs to the end of
 * the line, so it may hold '=' and '#').  Keys before any section, and any
 * other line, are errors, reported by line number only: a line of this
 * file may hold a token, so it is never quoted.  Sections and keys keep
 * their order; formatting writes comments away (the file is the CLI's).
 */
#ifndef MT_CREDFILE_H
#define MT_CREDFILE_H

#include <stddef.h>

#include "mt_error.h"

#define MT_CREDFILE_MAX (1024 * 1024) /* bytes of a credentials file */

struct mt_credfile_kv {
	char *key, *value;
};

struct mt_credfile_section {
	char *name;
	struct mt_credfile_kv *kv;
	size_t n;
};

struct mt_credfile {
	struct mt_credfile_section *s;
	size_t n;
};

#define MT_CREDFILE_INIT { NULL, 0 }

/* Parse text[0..n) into cf (which must be empty).  0, or -1 with err
 * (MT_EINVAL; "line N: ...").  On failure cf holds what came before. */
int mt_credfile_parse(struct mt_credfile *cf, const char *text, size_t n, struct mt_err *err);
/* The value of key in section, borrowed from cf; NULL when absent. */
const char *mt_credfile_get(const struct mt_credfile *cf, const char *section, const char *key);
/* Set key in section (both made when missing); value NULL removes the key.
 * Section names, keys and values hold no line breaks, and keys no '=' or
 * leading '[', '#' or ';' (EINVAL otherwise).  0, or -1 (errno). */
int mt_credfile_set(struct mt_credfile *cf, const char *section, const char *key,
		    const char *value);
/* Remove a section: 1 when it was there, 0 when not. */
int mt_credfile_remove(struct mt_credfile *cf, const char *section);
/* The file's text with a header comment (malloc'd, the caller frees);
 * NULL out of memory. */
char *mt_credfile_format(const struct mt_credfile *cf);
/* Free everything cf holds and empty it. */
void mt_credfile_release(struct mt_credfile *cf);

#endif
