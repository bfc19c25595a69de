/*
 * server.h: the one internal header of mltrackd.
 *
 * Lifetimes (STYLE 2.6): *process* (struct mt_config, the route table, the
 * statement tables, the pool of PostgreSQL connections), *worker* (struct
 * mt_worker: one per CivetWeb worker thread, owning its request arena) and
 * *request* (struct mt_req and everything in its arena, reset when the reply
 * is sent; the PostgreSQL connection borrowed from the pool at the request's
 * first database use, returned when the request ends).
 *
 * Handlers get a request with a parsed body (POST/PATCH/DELETE JSON, or the
 * query string of a GET turned into a JSON object), do their resource's work
 * through the sql_* layer and leave a JSON object in req->resp.  The
 * dispatcher (http.c) owns transactions, error rendering, logging and the
 * reply itself, which is sent only after COMMIT.
 */
#ifndef MT_SERVER_H
#define MT_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include <civetweb.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "mt_arena.h"
#include "mt_error.h"

#define MLTRACK_VERSION "0.1.0"
/* The MLflow release whose REST API mltrackd serves; GET /version answers
 * it with mltrack's version as a PEP 440 local label ("2.9.2+mltrack.0.1.0"):
 * MLflow 3.4+ clients export trace spans by OTLP only to servers >= 3.4
 * (docs/api.md, "Service endpoints"). */
#define MT_MLFLOW_API_VERSION "2.9.2"

/* ---- configuration (process lifetime) ---- */
struct mt_config {
	const char *host;
	int port;
	const char *database_url;   /* NULL: run the embedded cluster */
	const char *data_dir;
	const char *artifacts_root;
	long long max_artifact_size; /* bytes; larger uploads get 413 */
	int threads;                /* CivetWeb workers: connections served at once */
	int db_pool;                /* PostgreSQL connections shared by the workers */
	int statement_timeout_ms;   /* per statement of a request; 0: none */
	int request_timeout_ms;     /* a request head; a body gets this plus 1 s/KiB */
	int keep_alive_timeout_ms;  /* an idle kept-alive connection */
	int max_conns_per_addr;     /* connections served at once per client address; 0: no cap */
	const char *web_root;       /* resolved next to the executable */
	const char *admin_token;    /* MLTRACK_ADMIN_TOKEN: may force gated transitions
				     * while no user exists (authz.c) */
	int default_permission;     /* enum mt_perm: a user's permission on an experiment
				     * or registered model without a row (authz.c) */
	const char *tls_cert;       /* --tls-cert: PEM chain; NULL: plain HTTP (tls.h) */
	const char *tls_key;        /* --tls-key */
	const char *tls_client_ca;  /* --tls-client-ca: clients need a certificate */
	char conninfo[1024];        /* what workers connect with */
	int pooler;                 /* --database-pooler transaction: a pooler in
				     * transaction mode (PgBouncer) is between us and
				     * PostgreSQL: no named prepared statements, no
				     * session settings, no LISTEN through it (db.c) */
	const char *listen_url;     /* --database-listen-url: PostgreSQL itself, for the
				     * auth cache's LISTEN; NULL: conninfo, unless pooler
				     * (then no auth cache) */
	int monitor_window;         /* --monitor-window: seconds per live window (api_monitor.c) */
	int monitor_max_rows;       /* --monitor-max-rows: observations per monitor/log request */
	long long monitor_max_window_rows; /* --monitor-max-window-rows: per window */
	int monitor_grace;          /* --monitor-grace: seconds a window stays open after it
				     * ends and after its last observation (monitor_alerts.c) */
	int db_bytewise;            /* the database's collation is C or POSIX: text
				     * sorts byte by byte (migrate.c finds out) */
	int search_plan;            /* MLTRACK_SEARCH_PLAN: 0, or 'A', 'B', 'C' to make
				     * runs/search take that plan where it can
				     * (sql_search.c; for tests and diagnosis) */
};

extern struct mt_config mt_cfg;

/* ---- workers ---- */
struct mt_worker {
	PGconn *conn;        /* borrowed from the pool at the request's first database
			      * use (db_ensure), back at its end (db_release); NULL
			      * in between.  One-shot commands (gc) own theirs. */
	int cancelled;       /* the current query was cancelled: the client left */
	pthread_t thread;    /* the worker's thread (conns.c's watchdog signals it) */
	atomic_llong read_deadline_ns; /* inside conns_read: its deadline; else 0 */
	struct mt_arena arena;
	unsigned long long requests;
};

/* ---- requests ---- */
struct mt_route;
struct mt_scope;

/* Who sent the request (auth.c): set before the handler runs. */
struct mt_identity {
	int authenticated;      /* a user was identified */
	const char *method;     /* "password", "token", "session"; "none" while auth is off */
	long long user_id;
	const char *username;   /* arena */
	int is_admin;
	long long token_id;     /* a token: its id, name and scope (NULL: unscoped) */
	const char *token_name;
	const char *scope;
	const char *csrf_token; /* a session (session.c): what its changes must carry */
	const struct mt_scope *grants; /* scope parsed, once, by authz.c (arena) */
};

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
	int body_done;        /* the whole request body was read */
	int client_fd;        /* the client's socket once looked up, else -1 */
	int client_fd_looked; /* looked up already (found or not) */
	long long start_ns;   /* monotonic, when the dispatcher got the request */
	struct mt_identity who;
	int auth_changed;     /* users, tokens or permissions were written: the
			       * dispatcher drops the auth cache after the
			       * handler (authcache.h) */
	int points_insert;    /* a COPY of points met one already stored: the
			       * transaction's retry writes them with INSERT ...
			       * ON CONFLICT DO NOTHING (sql_runs.c) */
	int retry_expected;   /* the failure is a replay's, not a deadlock or a
			       * serialization failure: its retry is not logged */
	const char *retry_after; /* 429: seconds, sent as Retry-After */
	const char *set_cookie;  /* a Set-Cookie value for the answer (session.c) */
	struct mt_err err;
	json_t *err_extra;    /* more members of the error answer (request-owned) */
};

typedef int (*mt_handler_fn)(struct mt_req *req);

enum mt_route_flags {
	R_BODY   = 1 << 0,  /* parse a JSON body (POST/PATCH/DELETE) */
	R_TXN    = 1 << 1,  /* wrap in BEGIN/COMMIT; roll back on failure */
	R_READ   = 1 << 2,  /* unused: what a route needs is its resource class */
	R_WRITE  = 1 << 3,  /* unused: what a route needs is its resource class */
	R_PREFIX = 1 << 4,  /* path is a prefix; the rest is req->subpath */
	R_NODB   = 1 << 5,  /* needs no database connection */
	R_RAW    = 1 << 6,  /* handler writes its own reply (req->status set) */
	R_STREAM = 1 << 7,  /* handler reads the raw body itself: never run twice;
			     * it opens its transaction with http_txn() */
	R_PUBLIC = 1 << 8,  /* answered without authentication (probes, /version) */
};

/* What a route touches, for authorization (authz.h): the dispatcher finds
 * the resource in the request and checks the caller's permission on it
 * before the handler runs.  Every row has one; RES_UNSET fails start-up. */
enum mt_resource {
	RES_UNSET = 0,
	RES_PUBLIC,           /* no authentication at all (R_PUBLIC) */
	RES_ANY,              /* any authenticated caller */
	RES_SEARCH,           /* any caller; the answer holds only what it may read */
	RES_ADMIN,            /* admins only */
	RES_USER,             /* users/...: admins, or the user named by username (AZ_SELF) */
	RES_TOKEN,            /* tokens/revoke: a scoped token only itself */
	RES_BUNDLE,           /* a bundle upload: anyone who may register a version */
	RES_EXPERIMENT,       /* experiment_id */
	RES_EXPERIMENT_NAME,  /* experiment_name */
	RES_RUN,              /* run_id (or run_uuid): its experiment */
	RES_RUNS,             /* run_ids / run_id (repeated): their experiments */
	RES_LOGGED_MODEL,     /* {model_id} in the path: its experiment */
	RES_ARTIFACT,         /* an artifact path "<experiment id>/...": that experiment */
	RES_MODEL,            /* name: the registered model (versions: their model's) */
	RES_MODEL_NEW,        /* registered-models/create: name, for a scoped token */
	RES_COUNT
};

/* How a route's need is refined (authz.c). */
enum mt_authz_flags {
	AZ_UNSCOPED = 1 << 0, /* a scoped token is refused outright */
	AZ_PASSWORD = 1 << 1, /* needs a password login or a session, not a token
			       * (for RES_USER: only when acting on oneself) */
	AZ_SELF     = 1 << 2, /* RES_USER: the user may act on themself */
	AZ_PROMOTE  = 1 << 3, /* RES_MODEL EDIT: a promote grant may do it */
	AZ_STAGE    = 1 << 4, /* "stage" is a target stage: a promote grant's limit applies */
	AZ_FORCE    = 1 << 5, /* "force": true needs MANAGE (no user: the admin token) */
	AZ_CREATOR  = 1 << 6, /* the caller gets MANAGE on what the route created */
	AZ_EXP0     = 1 << 7, /* RES_EXPERIMENT: no experiment_id means "0" */
	AZ_LINKS    = 1 << 8, /* model-versions/create: the run, logged model, artifacts
			       * or version it is made from must be readable (by the
			       * owner: a scope does not narrow this) */
	AZ_MODEL_REFS = 1 << 9, /* the logged models a run's metrics or outputs name
			       * (model_id) need the same permission, on their
			       * experiments: points are written to them */
};

struct mt_route {
	const char *method;
	const char *path;
	mt_handler_fn fn;
	unsigned flags;
	unsigned char res;    /* enum mt_resource */
	unsigned char need;   /* enum mt_perm on that resource */
	unsigned short az;    /* enum mt_authz_flags */
};

/* routes.c */
extern const struct mt_route mt_routes[];
extern const size_t mt_routes_count;
/* Find the route for (method, path); *path_found tells a 405 from a 404. */
const struct mt_route *routes_lookup(const char *method, const char *path,
				     int *path_found, const char **subpath);
/* Whether r is answered without authentication (R_PUBLIC). */
int route_public(const struct mt_route *r);
/* Comma-separated methods served at path, into buf. */
void routes_allow(const char *path, char *buf, size_t size);

/* http.c */
int http_start(struct mg_context **out, struct mt_err *err);
/* jansson's allocator (request bodies in the worker's arena): once, first
 * in main(), before any thread starts or any JSON value exists. */
void http_json_alloc_init(void);
/* mg_stop(), without waiting out the accept loop's poll timeout.  Needs
 * conns_watch_start()'s SIGURG handler. */
void http_stop(struct mg_context *ctx);
void http_metrics_render(struct mt_req *req);
/* Run fn(req, arg) inside BEGIN/COMMIT as the dispatcher does for R_TXN
 * routes: rolled back when fn fails, run again (so fn must be idempotent)
 * on a deadlock, a serialization failure or a connection found dead.  For
 * R_STREAM handlers, once the body has been read.  0, or -1 with req->err. */
typedef int (*mt_txn_fn)(struct mt_req *req, void *arg);
int http_txn(struct mt_req *req, mt_txn_fn fn, void *arg);
/* mg_read() of the request body under its deadline: request_timeout_ms
 * from the start of the request plus 1 s per KiB received (received: bytes
 * read before this call).  Returns what mg_read() does (> 0, 0 at the end,
 * -1 when the body broke off), or -1 with a 408 in req->err (ESLOW) and the
 * connection marked for closing when the client is too slow. */
int http_body_read(struct mt_req *req, void *buf, size_t len, long long received);
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

/* DB_TABLE_CUSTOM_PLAN: the table's statements are never prepared by
 * name but sent with their text every time (as behind a pooler), so
 * PostgreSQL plans each run with its values.  For the reads of the
 * partitioned metrics (migration 0013): a named statement turns generic
 * after five runs, and PostgreSQL 15 plans a generic plan over every
 * partition and locks each one at every run (a history page took 2.4 s
 * with 4,000 partitions, 0.24 ms planned with its values;
 * docs/PERFORMANCE.md). */
enum { DB_TABLE_CUSTOM_PLAN = 1 << 0 };

struct db_stmt_table {
	const struct db_stmt *stmts;
	size_t n;
	int flags; /* DB_TABLE_* */
};

extern const struct db_stmt_table sql_experiments_table;
extern const struct db_stmt_table sql_runs_table;
extern const struct db_stmt_table sql_metrics_table;
extern const struct db_stmt_table sql_metrics_reads_table;
extern const struct db_stmt_table sql_artifacts_table;
extern const struct db_stmt_table sql_gates_table;
extern const struct db_stmt_table sql_registry_table;
extern const struct db_stmt_table sql_logged_models_table;
extern const struct db_stmt_table sql_auth_table;
extern const struct db_stmt_table sql_sessions_table;
extern const struct db_stmt_table sql_authz_table;
extern const struct db_stmt_table sql_webhooks_table;
extern const struct db_stmt_table sql_monitor_table;
extern const struct db_stmt_table sql_alerts_table;

/* The pool (server only; one-shot commands connect on their own): size
 * connections at most, opened on demand, each with every statement
 * prepared and the statement timeout set.  db_pool_free after mg_stop. */
int db_pool_init(int size, struct mt_err *err);
void db_pool_free(void);
/* Connections open and idle in the pool (for /metrics). */
void db_pool_stats(int *open, int *idle, int *max);
/* Make sure w->conn is up and prepared: borrowed from the pool (waiting at
 * most DB_POOL_WAIT_MS for one, then 503 TEMPORARILY_UNAVAILABLE), or
 * connected when there is no pool.  A connection found broken or left
 * inside a transaction is replaced. */
int db_ensure(struct mt_worker *w, struct mt_err *err);
/* Give w->conn back to the pool (closed instead when broken or not idle).
 * The request's results stay valid: they do not depend on the connection. */
void db_release(struct mt_worker *w);
/* Close w->conn for good (it is broken); the pool opens another on demand. */
void db_close(struct mt_worker *w);
/* A column's value in row i, or NULL when it is SQL NULL (the result's
 * storage: valid as long as r). */
const char *db_value_or_null(const PGresult *r, int i, int col);
/* Execute a prepared statement.  The result belongs to the request (PQclear
 * at reset).  On failure returns NULL with err mapped from the SQLSTATE. */
PGresult *db_exec(struct mt_req *req, const char *stmt, int n,
		  const char *const *values, struct mt_err *err);
/* The same, but the result is the caller's to PQclear: for results read
 * and dropped in a loop, which the request would otherwise hold to its end. */
PGresult *db_exec_owned(struct mt_req *req, const char *stmt, int n,
			const char *const *values, struct mt_err *err);
/* Execute ad-hoc parameterised SQL (search queries built at run time). */
PGresult *db_exec_sql(struct mt_req *req, const char *sql, int n,
		      const char *const *values, struct mt_err *err);
/* The same, with sql prepared on the connection the first time it is seen
 * there and kept (the DB_SQL_CACHE last used), so that PostgreSQL parses
 * and plans it once per connection, not once per request: for statements
 * whose text repeats (runs/search's, which keep every value a parameter).
 * Under plan_cache_mode = force_generic_plan the plan does not depend on
 * the values either. */
PGresult *db_exec_sql_cached(struct mt_req *req, const char *sql, int n,
			     const char *const *values, struct mt_err *err);
int db_command(struct mt_worker *w, const char *sql, struct mt_err *err);
/* Run what follows under settings ("SET LOCAL ...; ..."), planner settings
 * for one read: in a transaction of its own, or in a savepoint inside the
 * request's (req->in_txn).  A session setting would outlive the statement
 * on a pooled connection, and through PgBouncer in transaction mode would
 * reach another client's queries.  db_settings_end ends it: its own
 * transaction committed (ok) or rolled back; the savepoint rolled back to
 * and released (the work inside is reads).  Both return 0 or -1; err is
 * set by db_settings_end only when ok. */
int db_settings_begin(struct mt_req *req, const char *settings, struct mt_err *err);
int db_settings_end(struct mt_req *req, int ok, struct mt_err *err);
/* A worker and a request for one-shot work outside any HTTP request (gc,
 * the admin commands, start-up checks): zeroed, the request on the
 * worker's arena.  The caller releases w->arena and the connection. */
void db_oneshot(struct mt_worker *w, struct mt_req *req);
/* Run `copy_sql` (COPY ... FROM STDIN) and send data (COPY text format). */
int db_copy_in(struct mt_req *req, const char *copy_sql, const char *data, size_t len,
	       struct mt_err *err);
/* Fill err from a failed result (maps SQLSTATE to a code). */
int db_err_from_result(const PGresult *res, PGconn *conn, struct mt_err *err);

/* A statement parameter: text (binary 0, len unused) or in PostgreSQL's
 * binary format for its type (binary 1, len bytes). */
struct db_param {
	const char *value;
	int len;
	int binary;
};
/* Execute a prepared statement whose parameters may be binary; otherwise
 * as db_exec. */
PGresult *db_exec_bin(struct mt_req *req, const char *stmt, int n, const struct db_param *p,
		      struct mt_err *err);
/* Arrays of text (a NULL item is an SQL NULL), int8 and float8 in
 * PostgreSQL's binary format, in the arena: no digits written here, none
 * parsed by the server, every double sent bit for bit. */
struct db_param db_bin_text(struct mt_arena *a, const char *const *items, size_t n);
struct db_param db_bin_i64(struct mt_arena *a, const long long *items, size_t n);
struct db_param db_bin_f64(struct mt_arena *a, const double *items, size_t n);

/* Build a PostgreSQL array literal from strings (quoted; a NULL item is
 * an SQL NULL) into the arena. */
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
/* Create blobs/ (local store) and tmp/, remove day-old abandoned uploads,
 * and with S3 check that the bucket answers (a refusal stops start-up; an
 * unreachable store only warns: the tracking API works without it). */
int store_prepare(struct mt_err *err);

/* Where blobs live: ARTIFACTS_ROOT/blobs (local) or S3 (--artifacts-root
 * s3://...: ARTIFACTS_ROOT is then only the staging directory of uploads,
 * DATA_DIR/staging).  Uploads are staged in tmp/ either way, hashed and
 * fsync'd, before they reach the store (api_artifacts.c). */
/* The S3 key of a blob ("blobs/<sha>", under the prefix): arena memory. */
const char *store_blob_key(struct mt_arena *a, const char *sha);
/* S3 only, before the commit transaction: send the staged upload (fd, size
 * bytes, digest sha) unless the store has the blob already (dedup). */
int store_blob_send(struct mt_req *req, const char *sha, int fd, long long size,
		    struct mt_err *err);
/* Remove a blob the caller holds the exclusive lock on.  *bytes comes in
 * as the size the caller knows (its row's, or its listing's); the local
 * store measures the file instead (0 when it was not there). */
int store_blob_remove(struct mt_req *req, const char *sha, long long *bytes, struct mt_err *err);
/* A local file holding blob sha (size bytes), for readers that need a file
 * (bundle verification): the blob itself, or with S3 a staged download
 * removed at the request's end.  *path is arena memory. */
int store_blob_file(struct mt_req *req, const char *sha, const char **path, struct mt_err *err);

/* ---- start-up ---- */
int migrate_run(const char *conninfo, struct mt_err *err);     /* migrate.c */
int pgembed_start(struct mt_config *cfg, struct mt_err *err);  /* pgembed.c */
/* For one-shot commands (gc): when a server holds DATA_DIR's lock, point
 * cfg->conninfo at its running cluster (*attached = 1); otherwise start the
 * cluster as pgembed_start does (*attached = 0; pgembed_stop stops it). */
int pgembed_attach(struct mt_config *cfg, int *attached, struct mt_err *err);
void pgembed_stop(void);
/* ---- client connections (conns.c) ---- */
/* The per-address cap (CivetWeb's init_connection / connection_close
 * callbacks): a new connection from an address that has max_per_addr
 * connections open already is answered 429 RESOURCE_EXHAUSTED and closed
 * before anything is read from it.  port: the one the server listens on. */
int conns_init(int max_per_addr, int port, struct mt_err *err);
int conns_open(const struct mg_connection *conn, void **conn_data);
void conns_close(const struct mg_connection *conn);
/* /metrics lines: connections on workers now, refused since start. */
void conns_metrics(FILE *f);
/* The watchdog of body reads: conns_watch_start before the workers start,
 * conns_watch_stop after they have stopped; each worker adds itself at
 * init_thread and removes itself at exit_thread. */
int conns_watch_start(int workers, struct mt_err *err);
void conns_watch_stop(void);
void conns_watch_add(struct mt_worker *w);
void conns_watch_remove(struct mt_worker *w);
/* mg_read(), cut short (returning what it has, or -1) once the monotonic
 * clock passes deadline_ns. */
int conns_read(struct mt_worker *w, struct mg_connection *conn, void *buf, size_t len,
	       long long deadline_ns);
/* The socket of conn, found by matching every socket's peer and local port
 * against the request info (CivetWeb 1.15 does not expose it); -1 when not
 * exactly one matches.  Borrowed: CivetWeb closes it. */
int conns_client_fd(const struct mg_connection *conn);

/* mltrackd gc (gc.c): remove unreferenced blobs, orphan blob files and
 * abandoned temporary uploads; the one-line summary goes to stdout.  With
 * purge, first experiments deleted older_than seconds ago or more, for
 * good, their metrics partitions dropped whole. */
int gc_run(int dry_run, long min_age, int purge, long older_than, struct mt_err *err);

#endif
