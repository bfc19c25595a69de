/*
 * copy_tx: PostgreSQL alone, loading rows the way 4 log-batch clients make
 * mltrackd load them: N connections, each taking every Nth chunk of ROWS
 * lines of a COPY text file (of metrics' columns) and writing it as its own
 * transaction, with nothing between the chunks but libpq.  MODE says how:
 *
 *   copy    BEGIN; COPY ... FROM STDIN; COMMIT
 *   insert  one INSERT ... SELECT FROM unnest() of six arrays in binary
 *           format (run ids, keys, steps, timestamps, values, experiments),
 *           prepared once per connection: what mltrackd sends for a batch
 *           (server/sql_runs.c, run_metrics_ins), in its own transaction
 *
 * make bench (section 1) runs it on the rows log-batch stored, into a table
 * shaped and partitioned as metrics, and prints rows/s: the limit of that
 * transaction shape on this machine, beside one bulk COPY.
 *
 *   copy_tx CONNINFO TABLE FILE CONNECTIONS ROWS [MODE]
 *
 * Prints "ROWS_LOADED SECONDS BACKEND_TICKS" on success, BACKEND_TICKS being
 * the CPU time (user + system, clock ticks) its server backends used, read
 * from /proc before they exit; exits 1 with a message on any failure.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mt_pgbin.h"

/* The six arrays of a chunk, in binary format (insert mode). */
#define NARRAYS 6

struct chunk {
	const char *text;
	size_t len;
	long rows;
	char *arr[NARRAYS];
	int arr_len[NARRAYS];
};

static const char *conninfo, *table;
static struct chunk *chunks;
static size_t nchunks;
static int nconns, insert_mode;

struct worker {
	pthread_t thread;
	int index;
	long ticks;
	char err[512];
};

/* The CPU time (user + system, clock ticks) of process pid so far, or -1. */
static long proc_ticks(int pid)
{
	char path[64], buf[1024];
	unsigned long ut, st;
	const char *p;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After the command's closing parenthesis: state is field 3, utime 14. */
	if (!(p = strrchr(buf, ')')) ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

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
	if (insert_mode) {
		char sql[512];
		PGresult *r;

		snprintf(sql, sizeof(sql),
			 "INSERT INTO %s (run_id, key, step, timestamp, value, experiment_id) "
			 "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], "
			 "$5::float8[], $6::bigint[])",
			 table);
		r = PQprepare(c, "ins", sql, 0, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			snprintf(w->err, sizeof(w->err), "prepare: %s", PQerrorMessage(c));
		PQclear(r);
	}
	for (size_t i = (size_t)w->index; i < nchunks && !w->err[0]; i += (size_t)nconns) {
		PGresult *r;

		if (insert_mode) {
			static const int formats[NARRAYS] = { 1, 1, 1, 1, 1, 1 };

			if (run_sql(c, "BEGIN", PGRES_COMMAND_OK, w->err, sizeof(w->err)))
				break;
			r = PQexecPrepared(c, "ins", NARRAYS, (const char *const *)chunks[i].arr,
					   chunks[i].arr_len, formats, 0);
			if (PQresultStatus(r) != PGRES_COMMAND_OK) {
				snprintf(w->err, sizeof(w->err), "INSERT: %s", PQerrorMessage(c));
				PQclear(r);
				break;
			}
			PQclear(r);
			if (run_sql(c, "COMMIT", PGRES_COMMAND_OK, w->err, sizeof(w->err)))
				break;
			continue;
		}
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
	w->ticks = proc_ticks(PQbackendPID(c));
	if (w->ticks < 0 && !w->err[0])
		snprintf(w->err, sizeof(w->err), "cannot read the backend's /proc/%d/stat",
			 PQbackendPID(c));
	PQfinish(c);
	return NULL;
}

/* ---- insert mode: a chunk's lines as arrays in PostgreSQL's binary
 * format (lib/mt_pgbin.h), as mltrackd sends a batch. */
static const unsigned elem_oid[NARRAYS] = { MT_PGBIN_OID_TEXT,  MT_PGBIN_OID_TEXT,
					    MT_PGBIN_OID_INT8,  MT_PGBIN_OID_INT8,
					    MT_PGBIN_OID_FLOAT8, MT_PGBIN_OID_INT8 };
/* Where each array's field is in a line of metrics' nine columns. */
static const int field_of[NARRAYS] = { 0, 1, 2, 3, 4, 8 };

/* Fill ch->arr from its lines; -1 on a line not of nine fields or a
 * number that does not parse. */
static int chunk_arrays(struct chunk *ch)
{
	char *p[NARRAYS];

	for (int a = 0; a < NARRAYS; a++) {
		/* Text fields are at most the chunk's length, numbers 12 bytes. */
		size_t cap = MT_PGBIN_HEADER + (size_t)ch->rows * MT_PGBIN_NUM +
			     (elem_oid[a] == MT_PGBIN_OID_TEXT ? ch->len : 0);

		if (!(ch->arr[a] = malloc(cap)))
			return -1;
		p[a] = mt_pgbin_header(ch->arr[a], 0, elem_oid[a], (size_t)ch->rows);
	}
	for (const char *line = ch->text, *end = ch->text + ch->len; line < end;) {
		const char *f[9], *nl = memchr(line, '\n', (size_t)(end - line));
		size_t flen[9];
		int nf = 0;

		if (!nl)
			nl = end;
		for (const char *q = line; nf < 9;) {
			const char *tab = memchr(q, '\t', (size_t)(nl - q));

			f[nf] = q;
			flen[nf++] = (size_t)((tab ? tab : nl) - q);
			if (!tab)
				break;
			q = tab + 1;
		}
		if (nf != 9)
			return -1;
		for (int a = 0; a < NARRAYS; a++) {
			const char *v = f[field_of[a]];
			size_t vl = flen[field_of[a]];
			char num[64], *e;

			if (elem_oid[a] == MT_PGBIN_OID_TEXT) {
				p[a] = mt_pgbin_text(p[a], v, vl);
				continue;
			}
			if (vl == 0 || vl >= sizeof(num))
				return -1;
			memcpy(num, v, vl);
			num[vl] = '\0';
			if (elem_oid[a] == MT_PGBIN_OID_FLOAT8)
				p[a] = mt_pgbin_f64(p[a], strtod(num, &e));
			else
				p[a] = mt_pgbin_i64(p[a], strtoll(num, &e, 10));
			if (*e)
				return -1;
		}
		line = nl + 1;
	}
	for (int a = 0; a < NARRAYS; a++)
		ch->arr_len[a] = (int)(p[a] - ch->arr[a]);
	return 0;
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
	long per, total = 0, ticks = 0;
	char *text;
	int failed = 0;

	if ((argc != 6 && argc != 7) || (nconns = atoi(argv[4])) < 1 || (per = atol(argv[5])) < 1 ||
	    (argc == 7 && strcmp(argv[6], "copy") != 0 && strcmp(argv[6], "insert") != 0)) {
		fprintf(stderr, "usage: copy_tx CONNINFO TABLE FILE CONNECTIONS ROWS [copy|insert]\n");
		return 2;
	}
	insert_mode = argc == 7 && strcmp(argv[6], "insert") == 0;
	conninfo = argv[1];
	table = argv[2];
	if (!(text = read_file(argv[3], &len))) {
		fprintf(stderr, "copy_tx: cannot read %s\n", argv[3]);
		return 1;
	}
	/* Chunks of `per` whole lines. */
	for (size_t off = 0; off < len;) {
		struct chunk ch = { text + off, 0, 0, { NULL }, { 0 } };
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
		if (insert_mode && chunk_arrays(&ch)) {
			fprintf(stderr, "copy_tx: %s: a line is not metrics' nine columns\n", argv[3]);
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
		ticks += workers[i].ticks;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(workers);
	for (size_t i = 0; i < nchunks; i++)
		for (int a = 0; a < NARRAYS; a++)
			free(chunks[i].arr[a]);
	free(chunks);
	free(text);
	if (failed)
		return 1;
	printf("%ld %.3f %ld\n", total,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, ticks);
	return 0;
}
