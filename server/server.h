/*
 * server.h: the one internal header of mltrackd.
 *
 * Lifetimes (STYLE 2.6): *process* (struct mt_config, the route table, the
 * statement tables), *worker* (struct mt_worker: one per CivetWeb worker
 * thread, owning its PostgreSQL connection and request arena) and *request*
 * (struct mt_req and everything in its arena, reset when the reply is sent).
 *
 * Handlers get a request with a parsed body (POST/PATCH/DELETE JSON, or the
 * query string of a GET turned into a JSON object), do their resource's work
 * through the sql_* layer and leave a JSON object in req->resp.  The
 * dispatcher (http.c) owns transactions, error rendering, logging and the
 * reply itself, which is sent only after COMMIT.
 */
#ifndef MT_SERVER_H
#define MT_SERVER_H

#include <stdatomic.h>

#include <civetweb.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "mt_arena.h"
#include "mt_error.h"

#define MLTRACK_VERSION "0.1.0"

/* ---- configuration (process lifetime) ---- */
struct mt_config {
	const char *host;
	int port;
	const char *database_url;   /* NULL: run the embedded cluster */
	const char *data_dir;
	const char *artifacts_root;
	long long max_artifact_size; /* bytes; larger uploads get 413 */
	int threads;
	const char *web_root;       /* resolved next to the executable */
	const char *admin_token;    /* MLTRACK_ADMIN_TOKEN: may force gated transitions */
	char conninfo[1024];        /* what workers connect with */
};

extern struct mt_config mt_cfg;

/* ---- workers ---- */
struct mt_worker {
	PGconn *conn;        /* NULL until first use; reconnected when broken */
	struct mt_arena arena;
	unsigned long long requests;
};

/* ---- requests ---- */
struct mt_route;

struct mt_req {
	struct mg_connection *conn;
	const struct mg_request_info *ri;
	const struct mt_route *route;
	struct mt_worker *w;
	struct mt_arena *arena;
	json_t *body;         /* request fields (borrowed; freed at reset) */
	json_t *resp;         /* handler's answer (owned by the request) */
	const char *subpath;  /* R_PREFIX routes: the rest of the path */
	int status;           /* HTTP status sent */
	const char *etag;     /* ETag of a JSON answer ("\"<sha256>\"" after an upload) */
	int sent_continue;    /* a "100 Continue" went out: CivetWeb's header calls
			       * refuse after any write, so the answer's head is
			       * written by hand */
	int in_txn;
	struct mt_err err;
	json_t *err_extra;    /* more members of the error answer (request-owned) */
};

typedef int (*mt_handler_fn)(struct mt_req *req);

enum mt_route_flags {
	R_BODY   = 1 << 0,  /* parse a JSON body (POST/PATCH/DELETE) */
	R_TXN    = 1 << 1,  /* wrap in BEGIN/COMMIT; roll back on failure */
	R_READ   = 1 << 2,  /* permission needed: read */
	R_WRITE  = 1 << 3,  /* permission needed: write */
	R_PREFIX = 1 << 4,  /* path is a prefix; the rest is req->subpath */
	R_NODB   = 1 << 5,  /* needs no database connection */
	R_RAW    = 1 << 6,  /* handler writes its own reply (req->status set) */
	R_STREAM = 1 << 7,  /* handler reads the raw body itself: never run twice;
			     * it opens its transaction with http_txn() */
};

struct mt_route {
	const char *method;
	const char *path;
	mt_handler_fn fn;
	unsigned flags;
};

/* routes.c */
extern const struct mt_route mt_routes[];
extern const size_t mt_routes_count;
/* Find the route for (method, path); *path_found tells a 405 from a 404. */
const struct mt_route *routes_lookup(const char *method, const char *path,
				     int *path_found, const char **subpath);
/* Comma-separated methods served at path, into buf. */
void routes_allow(const char *path, char *buf, size_t size);

/* http.c */
int http_start(struct mg_context **out, struct mt_err *err);
void http_metrics_render(struct mt_req *req);
/* Run fn(req, arg) inside BEGIN/COMMIT as the dispatcher does for R_TXN
 * routes: rolled back when fn fails, run again (so fn must be idempotent)
 * on a deadlock, a serialization failure or a connection found dead.  For
 * R_STREAM handlers, once the body has been read.  0, or -1 with req->err. */
typedef int (*mt_txn_fn)(struct mt_req *req, void *arg);
int http_txn(struct mt_req *req, mt_txn_fn fn, void *arg);
/* Reply helpers for R_RAW handlers. */
void http_reply_text(struct mt_req *req, int status, const char *ctype, const char *body);

/* Request field helpers: thin wrappers over mt_json with the request's arena. */
int req_str(struct mt_req *req, const char *key, const char **out);     /* required */
int req_opt_str(struct mt_req *req, const char *key, const char **out);
int req_run_id(struct mt_req *req, const char **out); /* run_id or run_uuid */
json_t *req_resp(struct mt_req *req); /* the response object, created on demand */
/* Hand a json_t to the request: it is decref'd at reset.  Returns it. */
json_t *req_own(struct mt_req *req, json_t *j);

/* ---- database (db.c) ---- */
struct db_stmt {
	const char *name;
	const char *sql;
};

struct db_stmt_table {
	const struct db_stmt *stmts;
	size_t n;
};

extern const struct db_stmt_table sql_experiments_table;
extern const struct db_stmt_table sql_runs_table;
extern const struct db_stmt_table sql_metrics_table;
extern const struct db_stmt_table sql_artifacts_table;
extern const struct db_stmt_table sql_gates_table;
extern const struct db_stmt_table sql_registry_table;

/* Make sure w->conn is up and prepared; reconnects when broken. */
int db_ensure(struct mt_worker *w, struct mt_err *err);
void db_close(struct mt_worker *w);
/* Execute a prepared statement.  The result belongs to the request (PQclear
 * at reset).  On failure returns NULL with err mapped from the SQLSTATE. */
PGresult *db_exec(struct mt_req *req, const char *stmt, int n,
		  const char *const *values, struct mt_err *err);
/* Execute ad-hoc parameterised SQL (search queries built at run time). */
PGresult *db_exec_sql(struct mt_req *req, const char *sql, int n,
		      const char *const *values, struct mt_err *err);
int db_command(struct mt_worker *w, const char *sql, struct mt_err *err);
/* Run `copy_sql` (COPY ... FROM STDIN) and send data (COPY text format). */
int db_copy_in(struct mt_req *req, const char *copy_sql, const char *data, size_t len,
	       struct mt_err *err);
/* Fill err from a failed result (maps SQLSTATE to a code). */
int db_err_from_result(const PGresult *res, PGconn *conn, struct mt_err *err);

/* Build a PostgreSQL array literal from strings (quoted) into the arena. */
const char *db_array_text(struct mt_arena *a, const char *const *items, size_t n);
const char *db_array_i64(struct mt_arena *a, const long long *items, size_t n);
const char *db_array_f64(struct mt_arena *a, const double *items, size_t n);

/* ---- the artifact store on disk (store.c) ---- */
/* The directory of model bundles in the artifact store: only the registry
 * writes or deletes there (api_artifacts.c, sql_registry.c). */
#define STORE_BUNDLE_DIR "mltrack-bundles"
/* ARTIFACTS_ROOT/blobs/aa/bb/<sha>: arena memory. */
const char *store_blob_path(struct mt_arena *a, const char *sha);
/* 64 lowercase hex digits: a name a blob file may have. */
int store_is_digest(const char *s);
/* fsync the directory holding file (after a rename or unlink in it). */
void store_fsync_dir(const char *file);
/* A new temporary upload file in ARTIFACTS_ROOT/tmp, its name into path and
 * an fd (owned: close it to release the lock) holding flock(LOCK_EX) on it
 * into *out.  The lock tells store_tmp_sweep the upload is in flight. */
int store_tmp_create(char *path, size_t size, int *out, struct mt_err *err);
/* Remove temporary upload files nobody holds a lock on and that are at
 * least min_age seconds old; with dry_run only count them.  Adds to *count
 * and *bytes. */
int store_tmp_sweep(long min_age, int dry_run, long long *count, long long *bytes,
		    struct mt_err *err);
/* Create blobs/ and tmp/, and remove day-old abandoned uploads. */
int store_prepare(struct mt_err *err);

/* ---- start-up ---- */
int migrate_run(const char *conninfo, struct mt_err *err);     /* migrate.c */
int pgembed_start(struct mt_config *cfg, struct mt_err *err);  /* pgembed.c */
/* For one-shot commands (gc): when a server holds DATA_DIR's lock, point
 * cfg->conninfo at its running cluster (*attached = 1); otherwise start the
 * cluster as pgembed_start does (*attached = 0; pgembed_stop stops it). */
int pgembed_attach(struct mt_config *cfg, int *attached, struct mt_err *err);
void pgembed_stop(void);
/* mltrackd gc (gc.c): remove unreferenced blobs, orphan blob files and
 * abandoned temporary uploads; the one-line summary goes to stdout. */
int gc_run(int dry_run, struct mt_err *err);

#endif
