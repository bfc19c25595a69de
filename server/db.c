/*
 * db.c: the pool of PostgreSQL connections, statement preparation, queries
 * that a statement timeout and a departed client can stop, SQLSTATE mapping
 * and array literals.  No statement text lives here: every resource keeps its
 * SQL in sql_<resource>.c, and this file prepares all of them on every new
 * connection, so a broken statement fails at start-up.
 *
 * The pool decouples CivetWeb's workers (many: an idle or slow client holds
 * one) from PostgreSQL connections (few: each is a backend process).  A
 * request borrows a connection at its first database use (db_ensure, called
 * lazily by db_exec and friends) and gives it back when it ends
 * (db_release, from the dispatcher, before the reply is written), so a
 * transaction and its prepared statements stay on one connection, and an
 * upload streaming its body, or a client slow to read its answer, holds
 * none.  Connections are opened on demand up to the pool's size; one found
 * broken is closed, with the idle ones (the database restarted, most
 * likely), and new ones are opened as requests need them; the request that
 * found it runs again once when nothing was committed (http.c).  A request
 * that finds all of them busy waits DB_POOL_WAIT_MS at most, then gets 503
 * TEMPORARILY_UNAVAILABLE (with Retry-After).
 *
 * Queries are sent asynchronously (PQsendQueryPrepared/Params) and waited
 * for with poll() on the connection's socket.  Once one has run for
 * DB_WATCH_AFTER_MS, the client's socket is watched too: when the client
 * hangs up, the query is cancelled (PQcancel) and the request ends with 499
 * CANCELLED, its transaction rolled back.  Pooled connections carry the
 * statement timeout (SET statement_timeout): a query that runs longer ends
 * with SQLSTATE 57014, answered 504 DEADLINE_EXCEEDED.  One-shot commands
 * (gc) connect without a pool and without the timeout; migrations have
 * their own connection (migrate.c).
 *
 * Behind a pooler in transaction mode (--database-pooler transaction:
 * PgBouncer), a connection here is a client of the pooler, and each of its
 * transactions may run on another server connection, so nothing may live
 * in the session: the statements are checked once, at the first connection,
 * as unnamed ones, and each is then sent with its text (PQsendQueryParams,
 * which the pooler passes through), and no session setting is made (the
 * statement timeout is the pooler's or the role's: docs/operations.md).
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <float.h>
#include <time.h>

#include <libpq-events.h>

#include "mt_pgbin.h"
#include "server.h"

#define DB_POOL_WAIT_MS 5000   /* longest wait for a free connection */
#define DB_WATCH_AFTER_MS 100  /* a query this old has its client watched */
#define DB_POOL_MAX 1000

static const struct db_stmt_table *const tables[] = {
	&sql_experiments_table,
	&sql_runs_table,
	&sql_metrics_table,
	&sql_metrics_reads_table,
	&sql_artifacts_table,
	&sql_registry_table,
	&sql_gates_table,
	&sql_logged_models_table,
	&sql_auth_table,
	&sql_sessions_table,
	&sql_authz_table,
	&sql_webhooks_table,
	&sql_monitor_table,
	&sql_alerts_table,
};

/* ---- the pool (process lifetime) ---- */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;  /* a connection came back, or a slot freed */
	PGconn **idle;      /* a stack of idle connections */
	int nidle;
	int open;           /* idle + borrowed + being opened */
	int max;
	int on;             /* 0: no pool (one-shot commands) */
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER };

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
	if (code == MT_EDEADLINE)
		mt_err_set(err, code, "The request's query ran longer than the statement timeout "
			   "(%d ms)", mt_cfg.statement_timeout_ms);
	else
		mt_err_set(err, code, "%s", msg);
	err->retryable = retry;
	return mt_err_detail(err, "SQLSTATE %s: %s", state, text);
}

/* Frees res: 0 when its status is want, else -1 with its error in err. */
static int result_check(PGresult *res, ExecStatusType want, PGconn *conn, struct mt_err *err)
{
	int rc = 0;

	if (PQresultStatus(res) != want)
		rc = db_err_from_result(res, conn, err);
	PQclear(res);
	return rc;
}

/* Every statement prepared on conn under its name, or, behind a pooler,
 * checked as the unnamed statement (which the next one replaces). */
static int prepare_all(PGconn *conn, struct mt_err *err)
{
	for (size_t t = 0; t < sizeof(tables) / sizeof(*tables); t++) {
		for (size_t i = 0; i < tables[t]->n; i++) {
			const struct db_stmt *s = &tables[t]->stmts[i];
			int unnamed = mt_cfg.pooler || (tables[t]->flags & DB_TABLE_CUSTOM_PLAN);
			PGresult *res = PQprepare(conn, unnamed ? "" : s->name, s->sql, 0, NULL);

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

/* ---- behind a pooler: each statement's text by its name ---- */
#define STMT_SLOTS 1024 /* a power of two, over twice the statements */

static struct {
	const struct db_stmt *st;
	int flags; /* its table's */
} stmt_slots[STMT_SLOTS];
static pthread_once_t stmt_once = PTHREAD_ONCE_INIT;

static unsigned long long sql_hash(const char *s);

static void stmt_index(void)
{
	for (size_t t = 0; t < sizeof(tables) / sizeof(*tables); t++)
		for (size_t i = 0; i < tables[t]->n; i++) {
			const struct db_stmt *st = &tables[t]->stmts[i];
			size_t h = (size_t)sql_hash(st->name) & (STMT_SLOTS - 1);

			while (stmt_slots[h].st)
				h = (h + 1) & (STMT_SLOTS - 1);
			stmt_slots[h].st = st;
			stmt_slots[h].flags = tables[t]->flags;
		}
}

/* The text of the statement named name (NULL if there is none) and its
 * table's flags. */
static const char *stmt_sql(const char *name, int *flags)
{
	size_t h;

	pthread_once(&stmt_once, stmt_index);
	for (h = (size_t)sql_hash(name) & (STMT_SLOTS - 1); stmt_slots[h].st;
	     h = (h + 1) & (STMT_SLOTS - 1))
		if (strcmp(stmt_slots[h].st->name, name) == 0) {
			*flags = stmt_slots[h].flags;
			return stmt_slots[h].st->sql;
		}
	*flags = 0;
	return NULL;
}

/* Send statement stmt: by name, or, behind a pooler or when it is planned
 * with its values (DB_TABLE_CUSTOM_PLAN), with its text. */
static int send_stmt(PGconn *c, const char *stmt, int n, const char *const *values,
		     const int *lengths, const int *formats)
{
	int flags;
	const char *sql = stmt_sql(stmt, &flags);

	if (!mt_cfg.pooler && !(flags & DB_TABLE_CUSTOM_PLAN))
		return PQsendQueryPrepared(c, stmt, n, values, lengths, formats, 0);
	if (!sql) {
		fprintf(stderr, "mltrackd: no statement named %s\n", stmt);
		return 0;
	}
	return PQsendQueryParams(c, sql, n, NULL, values, lengths, formats, 0);
}

/* ---- statements built at run time, prepared once per connection ---- */
#define DB_SQL_CACHE 32

/* Kept with the connection (libpq instance data), freed with it. */
struct sql_cache {
	unsigned long long tick;
	struct {
		unsigned long long hash, used;
		char *sql;    /* owned; NULL: a free slot */
	} e[DB_SQL_CACHE];    /* slot i is the prepared statement "dyn_<i>" */
};

static int sql_cache_event(PGEventId id, void *info, void *pass)
{
	(void)pass;
	if (id == PGEVT_CONNRESET || id == PGEVT_CONNDESTROY) {
		PGconn *c = id == PGEVT_CONNRESET ? ((PGEventConnReset *)info)->conn :
						    ((PGEventConnDestroy *)info)->conn;
		struct sql_cache *sc = PQinstanceData(c, sql_cache_event);

		if (sc) {
			for (int i = 0; i < DB_SQL_CACHE; i++) {
				free(sc->e[i].sql);
				sc->e[i].sql = NULL;
			}
			if (id == PGEVT_CONNDESTROY)
				free(sc);
		}
	}
	return 1;
}

static unsigned long long sql_hash(const char *s)
{
	unsigned long long h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* A new connection, prepared; a pooled one also gets the statement timeout.
 * Every one gets extra_float_digits 1 (PostgreSQL's default, set in case
 * the server or the database says otherwise): a float8 then comes as its
 * shortest exact digits, which answers copy as they are
 * (mt_json_fmt_pg_float8).  Owned by the caller (PQfinish), NULL on
 * failure. */
static PGconn *connect_new(int pooled, struct mt_err *err)
{
	static const char *const keys[] = { "dbname", "fallback_application_name", NULL };
	const char *vals[] = { mt_cfg.conninfo, "mltrackd", NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	char sql[96];
	int n;

	if (PQstatus(c) != CONNECTION_OK) {
		mt_err_set(err, MT_EUNAVAIL, "Database unavailable, please retry");
		mt_err_detail(err, "connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	if (mt_cfg.pooler) {
		/* No session state through a pooler; the statements are
		 * checked once. */
		static atomic_int checked;

		if (!atomic_load(&checked)) {
			if (prepare_all(c, err)) {
				PQfinish(c);
				return NULL;
			}
			atomic_store(&checked, 1);
		}
		return c;
	}
	n = snprintf(sql, sizeof(sql), "SET extra_float_digits = 1");
	if (pooled && mt_cfg.statement_timeout_ms > 0)
		snprintf(sql + n, sizeof(sql) - (size_t)n, "; SET statement_timeout = %d",
			 mt_cfg.statement_timeout_ms);
	if (result_check(PQexec(c, sql), PGRES_COMMAND_OK, c, err) || prepare_all(c, err)) {
		PQfinish(c);
		return NULL;
	}
	{
		struct sql_cache *sc = calloc(1, sizeof(*sc));

		/* Without it (out of memory) db_exec_sql_cached just does not cache. */
		if (sc && (!PQregisterEventProc(c, sql_cache_event, "mltrack-sql-cache", NULL) ||
			   !PQsetInstanceData(c, sql_cache_event, sc)))
			free(sc);
	}
	return c;
}

int db_pool_init(int size, struct mt_err *err)
{
	pthread_condattr_t ca;

	if (size < 1 || size > DB_POOL_MAX)
		return mt_err_set(err, MT_EINVAL, "database pool size must be 1 to %d", DB_POOL_MAX);
	pool.idle = calloc((size_t)size, sizeof(*pool.idle));
	if (!pool.idle)
		return mt_err_set(err, MT_EINTERNAL, "out of memory");
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pool.cv, &ca);
	pthread_condattr_destroy(&ca);
	pool.max = size;
	pool.nidle = pool.open = 0;
	pool.on = 1;
	return 0;
}

void db_pool_free(void)
{
	if (!pool.on)
		return;
	pthread_mutex_lock(&pool.mu);
	for (int i = 0; i < pool.nidle; i++)
		PQfinish(pool.idle[i]);
	pool.open -= pool.nidle;
	pool.nidle = 0;
	pool.on = 0;
	pthread_mutex_unlock(&pool.mu);
	pthread_cond_destroy(&pool.cv);
	free(pool.idle);
	pool.idle = NULL;
}

void db_pool_stats(int *open, int *idle, int *max)
{
	pthread_mutex_lock(&pool.mu);
	*open = pool.open;
	*idle = pool.nidle;
	*max = pool.max;
	pthread_mutex_unlock(&pool.mu);
}

static void slot_freed(int closed)
{
	pthread_mutex_lock(&pool.mu);
	if (closed)
		pool.open--;
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
}

static int pool_get(struct mt_worker *w, struct mt_err *err)
{
	struct timespec dl;
	PGconn *c = NULL;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += DB_POOL_WAIT_MS / 1000;
	dl.tv_nsec += (long)(DB_POOL_WAIT_MS % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pool.mu);
	for (;;) {
		if (pool.nidle > 0) {
			c = pool.idle[--pool.nidle];
			pthread_mutex_unlock(&pool.mu);
			break;
		}
		if (pool.open < pool.max) {
			pool.open++;
			pthread_mutex_unlock(&pool.mu);
			c = connect_new(1, err);
			if (!c) {
				slot_freed(1);
				return -1;
			}
			break;
		}
		rc = pthread_cond_timedwait(&pool.cv, &pool.mu, &dl);
		if (rc == ETIMEDOUT) {
			pthread_mutex_unlock(&pool.mu);
			mt_err_set(err, MT_EUNAVAIL,
				   "All %d database connections are busy, please retry", pool.max);
			return mt_err_detail(err, "no pooled connection came free in %d ms",
					     DB_POOL_WAIT_MS);
		}
	}
	w->conn = c;
	return 0;
}

void db_close(struct mt_worker *w)
{
	if (!w->conn)
		return;
	PQfinish(w->conn);
	w->conn = NULL;
	if (!pool.on)
		return;
	/* A broken connection usually means the database restarted: the idle
	 * ones are as dead, and each would cost a request its one retry. */
	pthread_mutex_lock(&pool.mu);
	for (int i = 0; i < pool.nidle; i++)
		PQfinish(pool.idle[i]);
	pool.open -= pool.nidle + 1;
	pool.nidle = 0;
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
}

void db_release(struct mt_worker *w)
{
	PGconn *c = w->conn;
	int keep, cancelled = w->cancelled;

	w->cancelled = 0;
	if (!c || !pool.on)
		return; /* a one-shot command keeps its own */
	w->conn = NULL;
	/* After a cancel, the backend may still get the signal when it is
	 * already running another statement (the cancel protocol's race): the
	 * connection must not serve another request. */
	keep = !cancelled && PQstatus(c) == CONNECTION_OK &&
	       PQtransactionStatus(c) == PQTRANS_IDLE;
	if (!keep)
		PQfinish(c);
	pthread_mutex_lock(&pool.mu);
	if (keep)
		pool.idle[pool.nidle++] = c;
	else
		pool.open--;
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
}

int db_ensure(struct mt_worker *w, struct mt_err *err)
{
	if (w->conn && PQstatus(w->conn) == CONNECTION_OK &&
	    PQtransactionStatus(w->conn) == PQTRANS_IDLE)
		return 0;
	db_close(w);
	if (pool.on)
		return pool_get(w, err);
	w->conn = connect_new(0, err);
	return w->conn ? 0 : -1;
}

/* ---- queries ---- */
static void clear_result(void *p)
{
	PQclear(p);
}

/* The connection for a request's next statement, borrowed on first use; a
 * request whose client has gone runs nothing more. */
static PGconn *conn_for(struct mt_req *req, struct mt_err *err)
{
	if (req->w->cancelled) {
		mt_err_set(err, MT_ECANCELLED, "Request cancelled: the client closed the connection");
		return NULL;
	}
	if (!req->w->conn && db_ensure(req->w, err))
		return NULL;
	return req->w->conn;
}

static void cancel_query(PGconn *c)
{
	char ebuf[256];
	PGcancel *k = PQgetCancel(c);

	if (!k || !PQcancel(k, ebuf, sizeof(ebuf)))
		fprintf(stderr, "mltrackd: cannot cancel a query: %s\n", k ? ebuf : "no cancel handle");
	PQfreeCancel(k);
}

/* Wait until the query sent on c has its results in, watching the client
 * once the query is DB_WATCH_AFTER_MS old and cancelling the query when the
 * client hangs up.  On a socket error, returns and lets PQgetResult report. */
static void wait_result(struct mt_req *req, PGconn *c)
{
	struct pollfd p[2];
	int n = 1, timeout = DB_WATCH_AFTER_MS;

	p[0].fd = PQsocket(c);
	p[0].events = POLLIN;
	while (PQisBusy(c)) {
		int r = poll(p, (nfds_t)n, timeout);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (r == 0) {
			/* A slow query: from now on, wait for it and for the
			 * client's hang-up together. */
			timeout = -1;
			if (req->conn && !req->client_fd_looked) {
				req->client_fd = conns_client_fd(req->conn);
				req->client_fd_looked = 1;
			}
			if (req->conn && req->client_fd >= 0) {
				p[1].fd = req->client_fd;
				p[1].events = POLLRDHUP;
				p[1].revents = 0;
				n = 2;
			}
			continue;
		}
		if (n == 2 && (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
			n = 1;
			if (!(p[1].revents & POLLNVAL)) {
				fprintf(stderr, "mltrackd: %s %s: the client closed the connection; "
					"cancelling its query\n", req->ri->request_method,
					req->ri->local_uri ? req->ri->local_uri : "");
				req->w->cancelled = 1;
				cancel_query(c);
			}
		}
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !PQconsumeInput(c))
			return;
	}
}

/* All results of the query: the first failed one, else the last. */
static PGresult *collect(PGconn *c)
{
	PGresult *res, *out = NULL;

	while ((res = PQgetResult(c))) {
		ExecStatusType st = PQresultStatus(out);

		if (out && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
			PQclear(res);
			continue;
		}
		PQclear(out);
		out = res;
	}
	return out;
}

static PGresult *finish(struct mt_req *req, PGresult *res, struct mt_err *err)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		mt_arena_defer(req->arena, clear_result, res);
		return res;
	}
	db_err_from_result(res, req->w->conn, err);
	if (req->w->cancelled)
		mt_err_set(err, MT_ECANCELLED, "Request cancelled: the client closed the connection");
	PQclear(res);
	return NULL;
}

static PGresult *send_failed(struct mt_req *req, PGconn *c, struct mt_err *err)
{
	db_err_from_result(NULL, c, err);
	(void)req;
	return NULL;
}

void db_oneshot(struct mt_worker *w, struct mt_req *req)
{
	memset(w, 0, sizeof(*w));
	memset(req, 0, sizeof(*req));
	mt_arena_init(&w->arena);
	req->w = w;
	req->arena = &w->arena;
}

const char *db_value_or_null(const PGresult *r, int i, int col)
{
	return PQgetisnull(r, i, col) ? NULL : PQgetvalue(r, i, col);
}

/* db_exec and db_exec_bin: lengths and formats NULL for text values. */
static PGresult *exec_stmt(struct mt_req *req, const char *stmt, int n, const char *const *values,
			   const int *lengths, const int *formats, struct mt_err *err)
{
	PGconn *c = conn_for(req, err);

	if (!c)
		return NULL;
	if (!send_stmt(c, stmt, n, values, lengths, formats))
		return send_failed(req, c, err);
	wait_result(req, c);
	return finish(req, collect(c), err);
}

PGresult *db_exec(struct mt_req *req, const char *stmt, int n,
		  const char *const *values, struct mt_err *err)
{
	return exec_stmt(req, stmt, n, values, NULL, NULL, err);
}

PGresult *db_exec_bin(struct mt_req *req, const char *stmt, int n, const struct db_param *p,
		      struct mt_err *err)
{
	const char **values = mt_arena_alloc(req->arena, sizeof(*values) * (size_t)n);
	int *lengths = mt_arena_alloc(req->arena, sizeof(*lengths) * (size_t)n);
	int *formats = mt_arena_alloc(req->arena, sizeof(*formats) * (size_t)n);

	for (int i = 0; i < n; i++) {
		values[i] = p[i].value;
		lengths[i] = p[i].len;
		formats[i] = p[i].binary;
	}
	return exec_stmt(req, stmt, n, values, lengths, formats, err);
}

PGresult *db_exec_owned(struct mt_req *req, const char *stmt, int n,
			const char *const *values, struct mt_err *err)
{
	PGconn *c = conn_for(req, err);
	PGresult *res;
	ExecStatusType st;

	if (!c)
		return NULL;
	if (!send_stmt(c, stmt, n, values, NULL, NULL))
		return send_failed(req, c, err);
	wait_result(req, c);
	res = collect(c);
	st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	/* finish() maps the error and frees res */
	return finish(req, res, err);
}

PGresult *db_exec_sql(struct mt_req *req, const char *sql, int n,
		      const char *const *values, struct mt_err *err)
{
	PGconn *c = conn_for(req, err);

	if (!c)
		return NULL;
	if (!PQsendQueryParams(c, sql, n, NULL, values, NULL, NULL, 0))
		return send_failed(req, c, err);
	wait_result(req, c);
	return finish(req, collect(c), err);
}

PGresult *db_exec_sql_cached(struct mt_req *req, const char *sql, int n,
			     const char *const *values, struct mt_err *err)
{
	PGconn *c = conn_for(req, err);
	struct sql_cache *sc;
	unsigned long long h;
	char name[16];
	int slot = -1;

	if (!c)
		return NULL;
	if (mt_cfg.pooler || !(sc = PQinstanceData(c, sql_cache_event)))
		return db_exec_sql(req, sql, n, values, err);
	h = sql_hash(sql);
	for (int i = 0; i < DB_SQL_CACHE && slot < 0; i++)
		if (sc->e[i].sql && sc->e[i].hash == h && strcmp(sc->e[i].sql, sql) == 0)
			slot = i;
	if (slot < 0) {
		char *copy = strdup(sql);

		if (!copy)
			return db_exec_sql(req, sql, n, values, err);
		/* A free slot, else the least recently used one. */
		slot = 0;
		for (int i = 0; i < DB_SQL_CACHE; i++)
			if (!sc->e[i].sql || (sc->e[slot].sql && sc->e[i].used < sc->e[slot].used))
				slot = i;
		snprintf(name, sizeof(name), "dyn_%d", slot);
		if (sc->e[slot].sql) {
			const char *dealloc = mt_arena_printf(req->arena, "DEALLOCATE %s", name);

			free(sc->e[slot].sql);
			sc->e[slot].sql = NULL;
			if (result_check(PQexec(c, dealloc), PGRES_COMMAND_OK, c, err)) {
				free(copy);
				return NULL;
			}
		}
		if (result_check(PQprepare(c, name, sql, n, NULL), PGRES_COMMAND_OK, c, err)) {
			free(copy);
			return NULL;
		}
		sc->e[slot].sql = copy;
		sc->e[slot].hash = h;
	}
	sc->e[slot].used = ++sc->tick;
	snprintf(name, sizeof(name), "dyn_%d", slot);
	if (!PQsendQueryPrepared(c, name, n, values, NULL, NULL, 0))
		return send_failed(req, c, err);
	wait_result(req, c);
	return finish(req, collect(c), err);
}

int db_command(struct mt_worker *w, const char *sql, struct mt_err *err)
{
	PGresult *res;
	int rc = 0;

	if (!w->conn && db_ensure(w, err))
		return -1;
	res = PQexec(w->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = db_err_from_result(res, w->conn, err);
	PQclear(res);
	return rc;
}

/* The savepoint db_settings_begin takes inside the request's transaction. */
#define SETTINGS_SAVEPOINT "mt_settings"

int db_settings_begin(struct mt_req *req, const char *settings, struct mt_err *err)
{
	struct mt_err rerr = MT_ERR_INIT;
	int own = !req->in_txn;

	if (db_command(req->w, mt_arena_printf(req->arena, "%s; %s",
					       own ? "BEGIN" : "SAVEPOINT " SETTINGS_SAVEPOINT,
					       settings), err) == 0)
		return 0;
	db_command(req->w, own ? "ROLLBACK" : "ROLLBACK TO SAVEPOINT " SETTINGS_SAVEPOINT, &rerr);
	return -1;
}

int db_settings_end(struct mt_req *req, int ok, struct mt_err *err)
{
	struct mt_err rerr = MT_ERR_INIT;

	if (!req->in_txn)
		return db_command(req->w, ok ? "COMMIT" : "ROLLBACK", ok ? err : &rerr);
	return db_command(req->w,
			  "ROLLBACK TO SAVEPOINT " SETTINGS_SAVEPOINT "; "
			  "RELEASE SAVEPOINT " SETTINGS_SAVEPOINT,
			  ok ? err : &rerr);
}

int db_copy_in(struct mt_req *req, const char *copy_sql, const char *data, size_t len,
	       struct mt_err *err)
{
	PGconn *c = conn_for(req, err);
	PGresult *r;
	int rc = 0;

	if (!c || result_check(PQexec(c, copy_sql), PGRES_COPY_IN, c, err))
		return -1;
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
		len += items[i] ? 2 * strlen(items[i]) + 3 : 5;
	out = p = mt_arena_alloc(a, len);
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		if (!items[i]) {
			memcpy(p, "NULL", 4);
			p += 4;
			continue;
		}
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

/* ---- arrays in PostgreSQL's binary format (lib/mt_pgbin.h) ---- */
struct db_param db_bin_text(struct mt_arena *a, const char *const *items, size_t n)
{
	size_t len = MT_PGBIN_HEADER;
	int has_null = 0;
	char *out, *p;

	for (size_t i = 0; i < n; i++) {
		len += 4 + (items[i] ? strlen(items[i]) : 0);
		has_null |= !items[i];
	}
	out = mt_arena_alloc_uninit(a, len);
	p = mt_pgbin_header(out, has_null, MT_PGBIN_OID_TEXT, n);
	for (size_t i = 0; i < n; i++)
		p = items[i] ? mt_pgbin_text(p, items[i], strlen(items[i])) : mt_pgbin_null(p);
	return (struct db_param){ out, (int)(p - out), 1 };
}

struct db_param db_bin_i64(struct mt_arena *a, const long long *items, size_t n)
{
	char *out = mt_arena_alloc_uninit(a, MT_PGBIN_HEADER + MT_PGBIN_NUM * n);
	char *p = mt_pgbin_header(out, 0, MT_PGBIN_OID_INT8, n);

	for (size_t i = 0; i < n; i++)
		p = mt_pgbin_i64(p, items[i]);
	return (struct db_param){ out, (int)(p - out), 1 };
}

struct db_param db_bin_f64(struct mt_arena *a, const double *items, size_t n)
{
	char *out = mt_arena_alloc_uninit(a, MT_PGBIN_HEADER + MT_PGBIN_NUM * n);
	char *p = mt_pgbin_header(out, 0, MT_PGBIN_OID_FLOAT8, n);

	for (size_t i = 0; i < n; i++)
		p = mt_pgbin_f64(p, items[i]);
	return (struct db_param){ out, (int)(p - out), 1 };
}
