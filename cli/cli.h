/*
 * cli.h: the mltrack command-line tool's internal header.
 *
 * Three parts, used by every cmd_<group>.c:
 *  - options (opt.c): a command's options and positional arguments are one
 *    static table that drives parsing, `--help` and the usage line, so help
 *    cannot drift from behaviour (STYLE 2.8);
 *  - the HTTP client (client.c): one libcurl handle, keep-alive, the
 *    credentials of creds.c, retries with backoff on connection errors and
 *    5xx, never on 4xx;
 *  - progress (progress.c): a bar on stderr when it is a terminal.
 *
 * Errors: every failure is printed once, by cli_error() ("mltrack: <msg>"),
 * and turned into one of the exit codes below.
 */
#ifndef MT_CLI_H
#define MT_CLI_H

#include <stdio.h>

#include <jansson.h>

#define MLTRACK_VERSION "0.1.0"

/* Exit codes (DESIGN §7). */
enum cli_exit {
	CLI_OK = 0,
	CLI_CHECK_FAILED = 1, /* a check failed: gate, digest verification */
	CLI_USAGE = 2,        /* bad command line */
	CLI_SERVER = 3,       /* the server refused or could not be reached */
};

/* Print "mltrack: <msg>" to stderr and return code. */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a warning "mltrack: warning: <msg>" to stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- options (opt.c) ---- */

enum cli_opt_type {
	CLI_OPT_SWITCH, /* --name: *(int *)value = 1 */
	CLI_OPT_VALUE,  /* --name VALUE or --name=VALUE: *(const char **)value */
	CLI_OPT_LIST,   /* repeatable --name VALUE: appended to struct cli_list */
	CLI_OPT_ARG,    /* a positional argument: *(const char **)value */
	CLI_OPT_ARGS,   /* all remaining positionals (after "--" too): struct cli_list */
};

#define CLI_OPT_REQUIRED 1u

struct cli_list {
	const char **v; /* borrowed argv strings; the array is the parser's */
	int n;
};

struct cli_opt {
	enum cli_opt_type type;
	void *value;
	char alias;             /* short option letter, or 0 */
	const char *name;       /* long name (no dashes), or the positional's name */
	const char *value_name; /* shown in help: DIR, KEY=VALUE ... */
	unsigned flags;
	const char *help;
};

struct cli_spec {
	const char *name;    /* "artifacts upload" */
	const char *summary; /* one line */
	const struct cli_opt *opts; /* ends with an entry whose name is NULL */
	const char *more;    /* optional paragraph after the options */
	int stop_at_args;    /* options end at the first word of ARGS (a command to run) */
};

/* Parse argv (argv[0] is the command's own name) against spec.  Returns
 * CLI_OK; or -1 when --help was shown (the caller exits 0); or CLI_USAGE after
 * printing a one-line error.  The global options (--tracking-uri, -q) are
 * understood by every command. */
int cli_parse(const struct cli_spec *spec, int argc, char **argv);
void cli_usage(FILE *f, const struct cli_spec *spec);
/* Called after every successful parse (main.c: the quick sync). */
extern void (*cli_parsed_hook)(const struct cli_spec *spec);
/* Free the lists cli_parse allocated (the strings are argv's). */
void cli_list_free(struct cli_list *l);

/* A group of subcommands: "mltrack artifacts list ...". */
struct cli_sub {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};
int cli_group(const char *group, const char *summary, const struct cli_sub *subs, int argc,
	      char **argv);

/* Global settings, from the global options and the environment. */
extern const char *cli_tracking_uri; /* without a trailing '/' or user:password@ */
/* The URI as given (its userinfo kept: the environment of `mltrack run`'s
 * command gets it), and its userinfo's parts ("" when none), decoded. */
extern const char *cli_tracking_uri_given;
extern const char *cli_uri_user, *cli_uri_password;
extern int cli_quiet;                /* -q: no progress, no chatter */
extern const char *cli_uri_flag;     /* --tracking-uri, before or after the command */
/* Settle cli_tracking_uri from the flag and the environment. */
void cli_apply_globals(void);

/* ---- HTTP client (client.c) ---- */

/* Why a call failed: the exit code, and whether trying again later could
 * help (the server down or erring), which the spool of `mltrack run` uses. */
struct cli_fail {
	int code;       /* CLI_SERVER, CLI_CHECK_FAILED, ... */
	int transient;  /* connection error or 5xx after all retries */
	long status;    /* HTTP status, 0 when none arrived */
	char error_code[64]; /* MLflow's error_code, when the server sent one */
	char msg[512];
};

/* Check the tracking URI and the TLS variables (MLTRACK_CA_BUNDLE, ...;
 * client.c) and set up the client (again: a no-op).  0 or -1. */
int cli_client_init(struct cli_fail *f);
/* For a command mltrack runs (mltrack run): the TLS settings in force, in
 * the variables MLflow's client reads (MLFLOW_TRACKING_SERVER_CERT_PATH,
 * MLFLOW_TRACKING_INSECURE_TLS, MLFLOW_TRACKING_CLIENT_CERT_PATH), where
 * they are not set already.  After cli_client_init. */
void cli_client_child_env(void);
void cli_client_cleanup(void);
/* Attempts per request (0: MLTRACK_HTTP_RETRIES, default 4), the connect
 * timeout (0: 10 s) and the time a JSON call may take (0: 120 s; a file
 * transfer may stall that long, 0: a minute).  Quick syncs, a run's start
 * and its last words are impatient: training never waits long for us. */
void cli_client_patience(int attempts, long connect_timeout_ms, long total_timeout_ms);
/* Fill f (not transient); returns -1. */
int cli_fail_set(struct cli_fail *f, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Print f's message with cli_error and return its exit code. */
int cli_fail_report(const struct cli_fail *f);

/* A JSON API call.  path starts with '/' ("/api/2.0/mlflow/runs/get");
 * query is NULL or NULL-terminated name, value pairs (values escaped here);
 * body is NULL (GET) or sent as JSON.  On 2xx *reply (may be NULL) gets the
 * parsed answer, owned by the caller.  Returns 0, or -1 with f filled. */
int cli_api(const char *method, const char *path, const char *const *query, json_t *body,
	    json_t **reply, struct cli_fail *f);

/* The same; when the server answered with an error, *err_body (if not
 * NULL) gets its JSON body (owned; NULL when it was not JSON), for errors
 * that carry more than a message (412 GATE_FAILED and its report). */
int cli_api_ex(const char *method, const char *path, const char *const *query, json_t *body,
	       json_t **reply, json_t **err_body, struct cli_fail *f);

/* Percent-encode an artifact path for a URL, keeping '/' (malloc'd). */
char *cli_escape_path(const char *path);

/* The id of the experiment named name, created when missing (spool.c). */
int cli_experiment_ensure(const char *name, char *out, size_t n, struct cli_fail *f);

/* argv shell-quoted into one line to copy and paste, cut at max bytes on a
 * UTF-8 boundary (malloc'd; NULL when out of memory) (cmd_run.c). */
char *cli_shell_quote(int argc, char *const *argv, size_t max);

/* The -p/-t KEY=VALUE words of l (opt names the option, what is "param" or
 * "tag") checked as MLflow keys and values, appended to list as {key, value}
 * objects: 0, or CLI_USAGE after a one-line message (cmd_run.c). */
int cli_kv_pairs(const struct cli_list *l, const char *opt, const char *what, json_t *list);

struct cli_progress;

/* Stream a local file to a PUT at path, hashing it on the way.  sha256
 * (65 bytes) gets the local digest; the upload is checked against the ETag
 * the server answers with.  Returns 0 or -1 with f filled. */
int cli_put_file(const char *path, const char *local, long long size, char sha256[65],
		 struct cli_progress *p, struct cli_fail *f);

/* Download path into the file `dest`, through `dest`.mltrack-part, resuming
 * a partial file by Range and verifying the SHA-256 the server names in its
 * ETag before the file is renamed into place.  expect_size < 0: unknown.
 * *skipped is set when dest already held the same bytes (304).  Returns 0,
 * or -1 with f filled (a digest mismatch is CLI_CHECK_FAILED). */
int cli_get_file(const char *path, const char *dest, long long expect_size,
		 struct cli_progress *p, int *skipped, struct cli_fail *f);

/* ---- credentials (creds.c) ---- */

/* Where the credentials a request sends come from, in the order they are
 * looked for (creds.c explains the order). */
enum cli_cred_source {
	CLI_CRED_NONE,
	CLI_CRED_URI,           /* user:password@ in the tracking URI: Basic */
	CLI_CRED_MLTRACK_TOKEN, /* Bearer */
	CLI_CRED_MLFLOW_BASIC,  /* MLFLOW_TRACKING_USERNAME + _PASSWORD */
	CLI_CRED_MLFLOW_TOKEN,  /* Bearer */
	CLI_CRED_FILE,          /* ~/.mltrack/credentials: Bearer */
	CLI_CRED_EXPLICIT,      /* set by a command for its calls (login, logout) */
};

#define CLI_SECRET_MAX 2048

struct cli_cred {
	enum cli_cred_source source;
	char user[256];                  /* Basic when not empty, else Bearer */
	char secret[CLI_SECRET_MAX + 1]; /* the password or the token */
	char token_name[128];            /* CLI_CRED_FILE: as stored */
	char stored_user[256];           /* CLI_CRED_FILE: as stored */
};

/* What the credentials file holds for one tracking URI. */
struct cli_stored {
	char username[256];
	char token_name[128];
	char token[CLI_SECRET_MAX + 1];
	int by_login; /* created by `mltrack login` (revoked when replaced) */
};

struct curl_slist;

/* Find the credentials in force (once per process; cli_client_init calls
 * it) and register every secret in reach with mt_redact.  0, or -1 with f
 * (a credentials file others could read, a control character in a
 * variable: CLI_USAGE). */
int cli_cred_load(struct cli_fail *f);
/* Send these instead: CLI_CRED_EXPLICIT with user (NULL: Bearer) and
 * secret, or CLI_CRED_NONE for nothing; any other source goes back to what
 * cli_cred_load found.  0, or -1 with f. */
int cli_cred_use(enum cli_cred_source src, const char *user, const char *secret,
		 struct cli_fail *f);
/* The credentials requests send now (borrowed). */
const struct cli_cred *cli_cred_current(void);
/* Append the Authorization line, if any, to a request's headers: the one
 * place every request gets its credentials (client.c). */
struct curl_slist *cli_cred_header(struct curl_slist *hl);
/* "MLTRACK_TOKEN", the credentials file's path, ... (borrowed, static). */
const char *cli_cred_source_name(enum cli_cred_source src);
/* Reword a 401 to say where the credentials came from and what to do, and
 * a 429 to say when to try again (retry_after: the header, or NULL). */
void cli_cred_explain(struct cli_fail *f, const char *retry_after);
/* Before `mltrack run` starts its command: hand a token of ours on as
 * MLFLOW_TRACKING_TOKEN when the environment has no MLflow credentials. */
void cli_cred_export_child(void);
/* Mask secrets in the "value" of each {key, value} of list (tags, params
 * the CLI records). */
void cli_cred_scrub_kv(json_t *list);

/* The credentials file's section for the tracking URI (scheme and host in
 * lower case; borrowed, static). */
const char *cli_cred_uri_key(void);
/* ~/.mltrack/credentials into out.  0, or -1 (no home, too long). */
int cli_credfile_path(char *out, size_t n);
/* The entry of key: *found, and out.  0, or -1 with f (the file or its
 * directory is others' to read or change: refused, with how to fix). */
int cli_creds_lookup(const char *key, struct cli_stored *out, int *found, struct cli_fail *f);
/* Store s as key's entry (replacing it), atomically.  0, or -1 with f. */
int cli_creds_store(const char *key, const struct cli_stored *s, struct cli_fail *f);
/* Remove key's entry: *had says whether there was one.  0, or -1 with f. */
int cli_creds_forget(const char *key, int *had, struct cli_fail *f);

/* ---- progress (progress.c) ---- */

struct cli_progress {
	int on;              /* drawing (stderr is a terminal and not -q) */
	const char *verb;    /* "uploading", "downloading" */
	long long total;     /* bytes expected in all, 0 when unknown */
	long long done;      /* bytes of finished files */
	long long cur;       /* bytes of the file in flight */
	int files_total, files_done;
	double start, last_draw;
	int barw;            /* columns of the bar, once drawn */
};

void cli_progress_start(struct cli_progress *p, const char *verb, long long total,
			int files);
/* Bytes moved so far in the current file (absolute, not a delta). */
void cli_progress_update(struct cli_progress *p, long long cur);
void cli_progress_file_done(struct cli_progress *p, long long size);
/* Clear the bar (a final line is the caller's business). */
void cli_progress_end(struct cli_progress *p);
/* "1.5 MB" into buf. */
const char *cli_human_bytes(char *buf, size_t n, long long bytes);
double cli_now(void);

/* ---- tables (table.c) ---- */

/* Rows of strings printed in columns as wide as their widest cell, at most
 * CLI_TABLE_MAX_CELL characters (longer cells end in "...", except in the
 * last column). */
#define CLI_TABLE_MAX_CELL 48
struct cli_table {
	size_t ncol, nrow, cap;
	char **cell; /* nrow * ncol copies, owned */
};

/* Start a table whose first row is headers.  0, or -1 out of memory. */
int cli_table_init(struct cli_table *t, size_t ncol, const char *const *headers);
/* Append a row of ncol strings (copied; NULL shows as ""; control
 * characters as '?').  0, or -1 out of memory. */
int cli_table_add(struct cli_table *t, const char *const *cells);
void cli_table_print(const struct cli_table *t, FILE *out);
void cli_table_release(struct cli_table *t);
/* Epoch milliseconds (a JSON integer) as "YYYY-MM-DD HH:MM:SS" local time
 * into buf; "-" when ms is not an integer.  Returns buf. */
const char *cli_local_time(char *buf, size_t n, json_t *ms);
/* Print s (NULL prints nothing) with control characters shown as '?', as
 * table cells are, so text from the server stays on its line and cannot
 * drive the terminal. */
void cli_print_safe(FILE *out, const char *s);

/* ---- commands ---- */

int cmd_artifacts(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_log(int, char **);
int cmd_experiments(int, char **);
int cmd_run(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_reproduce(int argc, char **argv);
int cmd_model(int argc, char **argv);
/* A model stage as MLflow spells it (Staging, Production, Archived, and
 * None when allow_none), from any case; NULL for anything else
 * (cmd_model.c). */
const char *cli_stage_name(const char *s, int allow_none);
int cmd_gate(int argc, char **argv);
int cmd_webhooks(int argc, char **argv);
/* mltrack monitor log|show (cmd_monitor.c). */
int cmd_monitor(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_whoami(int argc, char **argv);

/* Shared with `mltrack run --artifacts`: upload each of locals (files or
 * directories, placed as DEST/basename) to the run; quiet: no progress bar
 * and no summary line.  Returns an exit code; on a server failure f says
 * why (the caller reports it). */
int cli_artifacts_upload(const char *run_id, const char *const *locals, int n,
			 const char *dest, int quiet, struct cli_fail *f);
/* Download the run's artifact file or directory `remote` ("" for all of
 * them) into out_dir, as out_dir/<last name of remote>, each file verified
 * by its digest.  quiet: no progress and no summary.  Returns an exit code,
 * the failure already reported. */
int cli_artifacts_download(const char *run_id, const char *remote, const char *out_dir, int quiet,
			   struct cli_fail *f);
/* The run named by spec, a full run id or a unique prefix of one (cmd_runs.c):
 * *out gets the Run object {info, data, inputs}, owned.  0, or -1 with f. */
int cli_run_fetch(const char *spec, json_t **out, struct cli_fail *f);
/* One point of a metric's history. */
struct cli_metric_point {
	long long step, timestamp;
	double value; /* NaN and infinities as MLflow sends them, as strings, read back */
};
/* The whole history of metric key of run_id (metrics/get-history, every
 * page): *out (malloc'd, free it), *n points, in the server's order.  0,
 * or -1 with f filled. */
int cli_metric_history(const char *run_id, const char *key, struct cli_metric_point **out,
		       size_t *n, struct cli_fail *f);
/* Tell the artifact commands a run's artifact_uri, saving them a lookup. */
void cli_artifacts_known_uri(const char *run_id, const char *artifact_uri);

#endif
