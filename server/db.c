/*
 * db.c: the worker's PostgreSQL connection, statement preparation, SQLSTATE
 * mapping and array literals.  No statement text lives here: every resource
 * keeps its SQL in sql_<resource>.c, and this file prepares all of them when
 * a worker connects, so a broken statement fails at start-up.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <float.h>

#include "server.h"

static const struct db_stmt_table *const tables[] = {
	&sql_experiments_table,
	&sql_runs_table,
	&sql_metrics_table,
	&sql_artifacts_table,
	&sql_registry_table,
	&sql_gates_table,
};

int db_err_from_result(const PGresult *res, PGconn *conn, struct mt_err *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *text = res ? PQresultErrorMessage(res) : NULL;
	const char *msg;
	int retry;
	enum mt_code code;

	if (!text || !*text)
		text = conn ? PQerrorMessage(conn) : "no result";
	if (!state || (conn && PQstatus(conn) != CONNECTION_OK)) {
		mt_err_set(err, MT_EUNAVAIL, "Database unavailable, please retry");
		return mt_err_detail(err, "SQLSTATE none: %s", text);
	}
	code = mt_code_from_sqlstate(state, &msg, &retry);
	mt_err_set(err, code, "%s", msg);
	err->retryable = retry;
	return mt_err_detail(err, "SQLSTATE %s: %s", state, text);
}

static int prepare_all(PGconn *conn, struct mt_err *err)
{
	for (size_t t = 0; t < sizeof(tables) / sizeof(*tables); t++) {
		for (size_t i = 0; i < tables[t]->n; i++) {
			const struct db_stmt *s = &tables[t]->stmts[i];
			PGresult *res = PQprepare(conn, s->name, s->sql, 0, NULL);

			if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				db_err_from_result(res, conn, err);
				mt_err_set(err, MT_EINTERNAL, "cannot prepare statement %s", s->name);
				mt_err_detail(err, "%s", PQresultErrorMessage(res));
				PQclear(res);
				return -1;
			}
			PQclear(res);
		}
	}
	return 0;
}

void db_close(struct mt_worker *w)
{
	if (w->conn) {
		PQfinish(w->conn);
		w->conn = NULL;
	}
}

int db_ensure(struct mt_worker *w, struct mt_err *err)
{
	if (w->conn && PQstatus(w->conn) == CONNECTION_OK &&
	    PQtransactionStatus(w->conn) == PQTRANS_IDLE)
		return 0;
	db_close(w);
	w->conn = PQconnectdb(mt_cfg.conninfo);
	if (PQstatus(w->conn) != CONNECTION_OK) {
		mt_err_set(err, MT_EUNAVAIL, "Database unavailable, please retry");
		mt_err_detail(err, "connect: %s", PQerrorMessage(w->conn));
		db_close(w);
		return -1;
	}
	if (prepare_all(w->conn, err)) {
		db_close(w);
		return -1;
	}
	return 0;
}

static void clear_result(void *p)
{
	PQclear(p);
}

static PGresult *finish(struct mt_req *req, PGresult *res, struct mt_err *err)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		mt_arena_defer(req->arena, clear_result, res);
		return res;
	}
	db_err_from_result(res, req->w->conn, err);
	PQclear(res);
	return NULL;
}

PGresult *db_exec(struct mt_req *req, const char *stmt, int n,
		  const char *const *values, struct mt_err *err)
{
	return finish(req, PQexecPrepared(req->w->conn, stmt, n, values, NULL, NULL, 0), err);
}

PGresult *db_exec_sql(struct mt_req *req, const char *sql, int n,
		      const char *const *values, struct mt_err *err)
{
	return finish(req, PQexecParams(req->w->conn, sql, n, NULL, values, NULL, NULL, 0), err);
}

int db_command(struct mt_worker *w, const char *sql, struct mt_err *err)
{
	PGresult *res = PQexec(w->conn, sql);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = db_err_from_result(res, w->conn, err);
	PQclear(res);
	return rc;
}

int db_copy_in(struct mt_req *req, const char *copy_sql, const char *data, size_t len,
	       struct mt_err *err)
{
	PGconn *c = req->w->conn;
	PGresult *r = PQexec(c, copy_sql);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COPY_IN) {
		db_err_from_result(r, c, err);
		PQclear(r);
		return -1;
	}
	PQclear(r);
	if (PQputCopyData(c, data, (int)len) != 1 || PQputCopyEnd(c, NULL) != 1) {
		mt_err_set(err, MT_EUNAVAIL, "Database connection lost");
		return mt_err_detail(err, "COPY: %s", PQerrorMessage(c));
	}
	while ((r = PQgetResult(c))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
			rc = db_err_from_result(r, c, err);
		PQclear(r);
	}
	return rc;
}

const char *db_array_text(struct mt_arena *a, const char *const *items, size_t n)
{
	size_t len = 3;
	char *out, *p;

	for (size_t i = 0; i < n; i++)
		len += 2 * strlen(items[i]) + 3;
	out = p = mt_arena_alloc(a, len);
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		*p++ = '"';
		for (const char *s = items[i]; *s; s++) {
			if (*s == '"' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return out;
}

const char *db_array_i64(struct mt_arena *a, const long long *items, size_t n)
{
	char *out = mt_arena_alloc(a, n * 22 + 3), *p = out;

	*p++ = '{';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, i ? ",%lld" : "%lld", items[i]);
	*p++ = '}';
	*p = '\0';
	return out;
}

const char *db_array_f64(struct mt_arena *a, const double *items, size_t n)
{
	char *out = mt_arena_alloc(a, n * 26 + 3), *p = out;

	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		if (isnan(items[i]))
			p += sprintf(p, "NaN");
		else
			p += sprintf(p, "%.17g", items[i]);
	}
	*p++ = '}';
	*p = '\0';
	return out;
}
