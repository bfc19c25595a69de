/* table.c: plain text tables for the CLI; see cli.h. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

int cli_table_init(struct cli_table *t, size_t ncol, const char *const *headers)
{
	memset(t, 0, sizeof(*t));
	t->ncol = ncol;
	return cli_table_add(t, headers);
}

/* Characters on screen of a UTF-8 string (continuation bytes don't count). */
static size_t width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

int cli_table_add(struct cli_table *t, const char *const *cells)
{
	if (t->nrow == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **cell = realloc(t->cell, cap * t->ncol * sizeof(*cell));

		if (!cell)
			return -1;
		t->cell = cell;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->ncol; c++) {
		char *s = strdup(cells[c] ? cells[c] : "");

		/* One row stays one line: control characters show as '?'. */
		for (char *p = s; p && *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		t->cell[t->nrow * t->ncol + c] = s;
		if (!s) {
			for (size_t k = 0; k < c; k++)
				free(t->cell[t->nrow * t->ncol + k]);
			return -1;
		}
	}
	t->nrow++;
	return 0;
}

/* Print s cut to at most max characters on screen ("..." ending a cut
 * one); returns the characters printed.  The last column is never cut. */
static size_t put_cut(FILE *out, const char *s, size_t max)
{
	size_t n = width(s), shown = 0;

	if (n <= max) {
		fputs(s, out);
		return n;
	}
	for (; *s && shown < max - 3; s++) {
		fputc(*s, out);
		shown += ((unsigned char)*s & 0xc0) != 0x80;
	}
	while (((unsigned char)*s & 0xc0) == 0x80) /* finish the last character */
		fputc(*s++, out);
	fputs("...", out);
	return max;
}

void cli_table_print(const struct cli_table *t, FILE *out)
{
	size_t *w = calloc(t->ncol ? t->ncol : 1, sizeof(*w));

	if (!w)
		return;
	for (size_t r = 0; r < t->nrow; r++)
		for (size_t c = 0; c < t->ncol; c++) {
			size_t n = width(t->cell[r * t->ncol + c]);

			if (c + 1 < t->ncol && n > CLI_TABLE_MAX_CELL)
				n = CLI_TABLE_MAX_CELL;
			if (n > w[c])
				w[c] = n;
		}
	for (size_t r = 0; r < t->nrow; r++) {
		for (size_t c = 0; c < t->ncol; c++) {
			const char *s = t->cell[r * t->ncol + c];

			if (c + 1 == t->ncol) {
				fputs(s, out);
				break;
			}
			for (size_t k = put_cut(out, s, CLI_TABLE_MAX_CELL); k < w[c] + 2; k++)
				fputc(' ', out);
		}
		fputc('\n', out);
	}
	free(w);
}

void cli_table_release(struct cli_table *t)
{
	for (size_t i = 0; i < t->nrow * t->ncol; i++)
		free(t->cell[i]);
	free(t->cell);
	memset(t, 0, sizeof(*t));
}

const char *cli_local_time(char *buf, size_t n, json_t *ms)
{
	time_t t;
	struct tm tm;

	if (!json_is_integer(ms)) {
		snprintf(buf, n, "-");
		return buf;
	}
	t = (time_t)(json_integer_value(ms) / 1000);
	if (!localtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, n, "-");
	return buf;
}

void cli_print_safe(FILE *out, const char *s)
{
	for (; s && *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}
