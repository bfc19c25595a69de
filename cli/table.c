/* table.c: plain text tables for the CLI; see cli.h. */
#include <stdlib.h>
#include <string.h>

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

void cli_table_print(const struct cli_table *t, FILE *out)
{
	size_t *w = calloc(t->ncol ? t->ncol : 1, sizeof(*w));

	if (!w)
		return;
	for (size_t r = 0; r < t->nrow; r++)
		for (size_t c = 0; c < t->ncol; c++) {
			size_t n = width(t->cell[r * t->ncol + c]);

			if (n > w[c])
				w[c] = n;
		}
	for (size_t r = 0; r < t->nrow; r++) {
		for (size_t c = 0; c < t->ncol; c++) {
			const char *s = t->cell[r * t->ncol + c];

			fputs(s, out);
			if (c + 1 < t->ncol)
				for (size_t k = width(s); k < w[c] + 2; k++)
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
