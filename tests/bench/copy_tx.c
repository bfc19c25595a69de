/*
 * copy_tx: PostgreSQL alone, loading rows the way 4 log-batch clients make
 * mltrackd load them: N connections, each taking every Nth chunk of ROWS
 * lines of a COPY text file and writing it as its own transaction
 * (BEGIN; COPY ... FROM STDIN; COMMIT), with nothing between the chunks but
 * libpq.  make bench (section 1) runs it on the rows log-batch stored, into
 * a table shaped and partitioned as metrics, and prints rows/s: the limit
 * of that transaction shape on this machine, beside one bulk COPY.
 *
 *   copy_tx CONNINFO TABLE FILE CONNECTIONS ROWS
 *
 * Prints "ROWS_LOADED SECONDS" on success; exits 1 with a message on any
 * failure.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct chunk {
	const char *text;
	size_t len;
	long rows;
};

static const char *conninfo, *table;
static struct chunk *chunks;
static size_t nchunks;
static int nconns;

struct worker {
	pthread_t thread;
	int index;
	char err[512];
};

static int run_sql(PGconn *c, const char *sql, ExecStatusType want, char *err, size_t size)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == want;

	if (!ok)
		snprintf(err, size, "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok ? 0 : -1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	PGconn *c = PQconnectdb(conninfo);
	char copy[256];

	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(w->err, sizeof(w->err), "connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	snprintf(copy, sizeof(copy), "COPY %s FROM STDIN", table);
	for (size_t i = (size_t)w->index; i < nchunks; i += (size_t)nconns) {
		PGresult *r;

		if (run_sql(c, "BEGIN", PGRES_COMMAND_OK, w->err, sizeof(w->err)) ||
		    run_sql(c, copy, PGRES_COPY_IN, w->err, sizeof(w->err)))
			break;
		if (PQputCopyData(c, chunks[i].text, (int)chunks[i].len) != 1 ||
		    PQputCopyEnd(c, NULL) != 1) {
			snprintf(w->err, sizeof(w->err), "COPY data: %s", PQerrorMessage(c));
			break;
		}
		r = PQgetResult(c);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			snprintf(w->err, sizeof(w->err), "COPY: %s", PQerrorMessage(c));
			PQclear(r);
			break;
		}
		PQclear(r);
		while ((r = PQgetResult(c)))
			PQclear(r);
		if (run_sql(c, "COMMIT", PGRES_COMMAND_OK, w->err, sizeof(w->err)))
			break;
	}
	PQfinish(c);
	return NULL;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	struct worker *workers;
	struct timespec t0, t1;
	size_t len, cap = 0;
	long per, total = 0;
	char *text;
	int failed = 0;

	if (argc != 6 || (nconns = atoi(argv[4])) < 1 || (per = atol(argv[5])) < 1) {
		fprintf(stderr, "usage: copy_tx CONNINFO TABLE FILE CONNECTIONS ROWS\n");
		return 2;
	}
	conninfo = argv[1];
	table = argv[2];
	if (!(text = read_file(argv[3], &len))) {
		fprintf(stderr, "copy_tx: cannot read %s\n", argv[3]);
		return 1;
	}
	/* Chunks of `per` whole lines. */
	for (size_t off = 0; off < len;) {
		struct chunk ch = { text + off, 0, 0 };
		size_t end = off;

		while (end < len && ch.rows < per) {
			const char *nl = memchr(text + end, '\n', len - end);

			end = nl ? (size_t)(nl - text) + 1 : len;
			ch.rows++;
		}
		ch.len = end - off;
		if (nchunks == cap) {
			cap = cap ? cap * 2 : 1024;
			chunks = realloc(chunks, cap * sizeof(*chunks));
			if (!chunks)
				return 1;
		}
		chunks[nchunks++] = ch;
		total += ch.rows;
		off = end;
	}
	workers = calloc((size_t)nconns, sizeof(*workers));
	if (!workers)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < nconns; i++) {
		workers[i].index = i;
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
			return 1;
	}
	for (int i = 0; i < nconns; i++) {
		pthread_join(workers[i].thread, NULL);
		if (workers[i].err[0]) {
			fprintf(stderr, "copy_tx: connection %d: %s\n", i, workers[i].err);
			failed = 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(workers);
	free(chunks);
	free(text);
	if (failed)
		return 1;
	printf("%ld %.3f\n", total,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
