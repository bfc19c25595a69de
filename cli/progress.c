/*
 * progress.c: a transfer progress bar on stderr, drawn only when stderr is a
 * terminal (and not -q), at most ten times a second:
 *
 *   uploading  [#########...........]  45%  123.4 MB / 270.0 MB  56.7 MB/s  ETA 0:03  (3/12 files)
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *cli_human_bytes(char *buf, size_t n, long long bytes)
{
	static const char *units[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%lld B", bytes);
	else
		snprintf(buf, n, "%.1f %s", v, units[u]);
	return buf;
}

static int term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		return ws.ws_col;
	return 80;
}

static void draw(struct cli_progress *p, int final)
{
	long long moved = p->done + p->cur;
	double el = cli_now() - p->start, rate = el > 0 ? (double)moved / el : 0;
	char a[32], b[32], r[32], eta[32] = "", files[32] = "", line[512], bar[64];
	int pct = p->total > 0 ? (int)(moved * 100 / p->total) : 0, w, barw, fill;

	if (pct > 100)
		pct = 100;
	if (p->total > 0 && rate > 0 && !final) {
		long long left = (long long)((double)(p->total - moved) / rate);

		if (left < 0)
			left = 0;
		snprintf(eta, sizeof(eta), "  ETA %lld:%02lld", left / 60, left % 60);
	}
	if (p->files_total > 1)
		snprintf(files, sizeof(files), "  (%d/%d files)", p->files_done, p->files_total);
	cli_human_bytes(a, sizeof(a), moved);
	cli_human_bytes(b, sizeof(b), p->total);
	cli_human_bytes(r, sizeof(r), (long long)rate);
	w = term_width();
	snprintf(line, sizeof(line), "%s / %s  %s/s%s%s", a, b, r, eta, files);
	/* The bar takes what the words leave, at most 40 columns, and never
	 * grows back (so it does not jitter as the words change length). */
	barw = w - 1 - (int)strlen(p->verb) - 10 - (int)strlen(line);
	if (barw > 40)
		barw = 40;
	if (p->barw && barw > p->barw)
		barw = p->barw;
	p->barw = barw;
	if (barw < 10) {
		fprintf(stderr, "\r%s  %3d%%  %s\033[K", p->verb, pct, line);
		return;
	}
	fill = barw * pct / 100;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(barw - fill));
	bar[barw] = 0;
	fprintf(stderr, "\r%s [%s] %3d%%  %s\033[K", p->verb, bar, pct, line);
}

void cli_progress_start(struct cli_progress *p, const char *verb, long long total, int files)
{
	memset(p, 0, sizeof(*p));
	p->on = !cli_quiet && isatty(STDERR_FILENO);
	p->verb = verb;
	p->total = total;
	p->files_total = files;
	p->start = cli_now();
}

void cli_progress_update(struct cli_progress *p, long long cur)
{
	double now;

	p->cur = cur;
	if (!p->on)
		return;
	now = cli_now();
	if (now - p->last_draw < 0.1)
		return;
	p->last_draw = now;
	draw(p, 0);
}

void cli_progress_file_done(struct cli_progress *p, long long size)
{
	p->done += size;
	p->cur = 0;
	p->files_done++;
	if (p->on) {
		p->last_draw = cli_now();
		draw(p, 0);
	}
}

void cli_progress_end(struct cli_progress *p)
{
	if (p->on)
		fputs("\r\033[K", stderr);
}
