/*
 * main.c: mltrackd's entry point: options (flags win over MLTRACK_*
 * environment), the database (embedded or --database-url), migrations, the
 * HTTP(S) server, a graceful stop on SIGTERM/SIGINT and, with TLS, the
 * certificate reloaded on SIGHUP (tls.c).
 *
 *   mltrackd [options]            serve
 *   mltrackd migrate [options]    apply pending migrations and exit
 *   mltrackd gc [--dry-run] [--purge-deleted-experiments [--older-than S]]
 *                                 remove unreferenced blobs, orphan blob files
 *                                 and abandoned temporary uploads (gc.c); safe
 *                                 while servers run.  With the purge, first
 *                                 experiments in the deleted stage, for good.  With the embedded
 *                                 cluster it uses the running server's, or
 *                                 starts its own as migrate does.
 *   mltrackd routes               print the route table (for the docs test)
 *   mltrackd user|token ...       manage users and API tokens on the database
 *                                 (admin_cmd.c)
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_cmd.h"
#include "auth.h"
#include "authcache.h"
#include "authz.h"
#include "guard.h"
#include "mt_redact.h"
#include "mt_util.h"
#include "s3.h"
#include "server.h"
#include "session.h"
#include "tls.h"
#include "api.h"
#include "webhooks.h"

struct mt_config mt_cfg;

static const struct opt {
	const char *flag;
	const char *env;
	const char *arg;
	const char *help;
} opts[] = {
	{ "--host", "MLTRACK_HOST", "HOST", "address to listen on (default 127.0.0.1)" },
	{ "--port", "MLTRACK_PORT", "PORT", "port to listen on (default 5170)" },
	{ "--database-url", "MLTRACK_DATABASE_URL", "URL",
	  "PostgreSQL to use (default: an embedded cluster in DATA_DIR/pg)" },
	{ "--data-dir", "MLTRACK_DATA_DIR", "DIR", "where mltrackd keeps its data (default ./mltrack-data)" },
	{ "--artifacts-root", "MLTRACK_ARTIFACTS_ROOT", "DIR",
	  "artifact store: a directory, or s3://BUCKET/PREFIX with credentials from "
	  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (default DATA_DIR/artifacts)" },
	{ "--threads", "MLTRACK_THREADS", "N",
	  "worker threads: client connections served at once (default 256)" },
	{ "--max-artifact-size", "MLTRACK_MAX_ARTIFACT_SIZE", "BYTES", "largest artifact upload (default 10 GiB)" },
	{ "--database-pool", "MLTRACK_DATABASE_POOL", "N",
	  "PostgreSQL connections the workers share (default 16)" },
	{ "--database-pooler", "MLTRACK_DATABASE_POOLER", "MODE",
	  "'transaction' when --database-url is a pooler in transaction mode (PgBouncer): "
	  "no named prepared statements, no session state (default: none)" },
	{ "--database-listen-url", "MLTRACK_DATABASE_LISTEN_URL", "URL",
	  "PostgreSQL itself, not a pooler, for the auth cache's LISTEN (default: "
	  "--database-url; with --database-pooler: no auth cache)" },
	{ "--statement-timeout", "MLTRACK_STATEMENT_TIMEOUT", "MS",
	  "cancel a request's statement after MS, 0 for never (default 30000)" },
	{ "--request-timeout", "MLTRACK_REQUEST_TIMEOUT", "MS",
	  "deadline for a request's head; a body gets MS plus 1 s per KiB (default 10000)" },
	{ "--keep-alive-timeout", "MLTRACK_KEEP_ALIVE_TIMEOUT", "MS",
	  "close a kept-alive connection idle for MS (default 5000)" },
	{ "--max-connections-per-address", "MLTRACK_MAX_CONNECTIONS_PER_ADDRESS", "N",
	  "connections one client address may hold, 0 for no cap (default 64)" },
	{ "--allowed-host", "MLTRACK_ALLOWED_HOSTS", "HOST",
	  "answer to this Host name too (always: localhost, 127.0.0.1, ::1, the listen address, "
	  "any IP on 0.0.0.0 or ::); '*': no Host check" },
	{ "--cors-origin", "MLTRACK_CORS_ORIGINS", "ORIGIN",
	  "let web pages from this origin (scheme://host[:port]) call the API (default: none)" },
	{ "--trusted-proxy", "MLTRACK_TRUSTED_PROXIES", "ADDR",
	  "a reverse proxy's IP address, or a range (10.42.0.0/16): its X-Forwarded-For names "
	  "the client (for the login rate limit), and its --proxy-user-header the user" },
	{ "--proxy-user-header", "MLTRACK_PROXY_USER_HEADER", "NAME",
	  "trust this header (e.g. X-Forwarded-User) from a --trusted-proxy to name the user, "
	  "who must exist; without a password (default: none)" },
	{ "--tls-cert", "MLTRACK_TLS_CERT", "FILE",
	  "serve HTTPS only, with this PEM certificate chain (needs --tls-key; reloaded on SIGHUP)" },
	{ "--tls-key", "MLTRACK_TLS_KEY", "FILE", "the certificate's private key (PEM, no passphrase)" },
	{ "--tls-client-ca", "MLTRACK_TLS_CLIENT_CA", "FILE",
	  "require client certificates signed by a CA in this PEM file" },
	{ "--session-idle-timeout", "MLTRACK_SESSION_IDLE_TIMEOUT", "DURATION",
	  "end a dashboard session unused for this long: 90s, 30m, 8h, 2d (default "
	  SESSION_IDLE_DEFAULT ")" },
	{ "--session-lifetime", "MLTRACK_SESSION_LIFETIME", "DURATION",
	  "end a dashboard session this long after its login, used or not (default "
	  SESSION_LIFETIME_DEFAULT ")" },
	{ "--default-permission", "MLTRACK_DEFAULT_PERMISSION", "PERM",
	  "a user's permission where no row gives one: READ, EDIT, MANAGE or "
	  "NO_PERMISSIONS (default READ, as MLflow)" },
	{ "--s3-endpoint", "MLTRACK_S3_ENDPOINT", "URL",
	  "with an s3:// artifact root: the S3 service (default AWS_ENDPOINT_URL_S3, "
	  "AWS_ENDPOINT_URL, else AWS's https://s3.REGION.amazonaws.com)" },
	{ "--s3-region", "MLTRACK_S3_REGION", "REGION",
	  "with an s3:// artifact root: the region requests are signed for (default "
	  "AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)" },
	{ "--monitor-window", "MLTRACK_MONITOR_WINDOW", "SECONDS",
	  "monitoring: the span of one live window of observations (default 3600)" },
	{ "--monitor-max-rows", "MLTRACK_MONITOR_MAX_ROWS", "N",
	  "monitoring: observations one monitor/log request may carry (default 10000)" },
	{ "--monitor-max-window-rows", "MLTRACK_MONITOR_MAX_WINDOW_ROWS", "N",
	  "monitoring: observations one window may fold (default 1000000)" },
	{ "--monitor-grace", "MLTRACK_MONITOR_GRACE", "SECONDS",
	  "monitoring: a window closes, and its alert rules are checked, once it has ended "
	  "and no observation came for this long (default 60)" },
};
enum { O_HOST, O_PORT, O_DBURL, O_DATADIR, O_ARTROOT, O_THREADS, O_MAXART, O_POOL, O_POOLER,
       O_LISTEN_URL, O_STMT_TO,
       O_REQ_TO, O_KA_TO, O_PER_ADDR, O_ALLOWED_HOST, O_CORS_ORIGIN, O_TRUSTED_PROXY,
       O_PROXY_USER_HEADER, O_TLS_CERT, O_TLS_KEY, O_TLS_CLIENT_CA,
       O_SESSION_IDLE, O_SESSION_LIFETIME, O_DEFAULT_PERM, O_S3_ENDPOINT, O_S3_REGION,
       O_MON_WINDOW, O_MON_MAX_ROWS, O_MON_MAX_WINDOW_ROWS, O_MON_GRACE, O_COUNT };
#define NOPTS (sizeof(opts) / sizeof(opts[0]))
_Static_assert(NOPTS == O_COUNT, "opts[] and the O_* names must match");

/* Options that may be given more than once (guard.c takes each value);
 * their variable is a comma-separated list. */
static int repeatable(const char *flag)
{
	return strcmp(flag, "--allowed-host") == 0 || strcmp(flag, "--cors-origin") == 0 ||
	       strcmp(flag, "--trusted-proxy") == 0;
}

/* One value of a repeatable option. */
static int config_repeatable(const char *flag, const char *value, struct mt_err *err)
{
	if (strcmp(flag, "--trusted-proxy") == 0)
		return auth_trust_proxy(value, err);
	return guard_config(flag, value, err);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mltrackd [migrate|gc|routes|user ...|token ...] [options]\n\n"
		"The mltrack tracking server: MLflow's REST API on PostgreSQL.\n\n"
		"commands:\n"
		"  (none)    serve the API and the dashboard\n"
		"  migrate   apply pending database migrations and exit\n"
		"  gc        remove blobs no artifact refers to, blob files without a row and\n"
		"            abandoned temporary uploads; safe while servers run\n"
		"            (--purge-deleted-experiments: first deleted experiments, for good)\n"
		"  routes    print the route table and exit\n");
	admin_usage(f);
	fprintf(f, "\noptions:\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char lhs[64];

		snprintf(lhs, sizeof(lhs), "%s %s", opts[i].flag, opts[i].arg);
		if (strlen(lhs) > 22)
			fprintf(f, "  %s\n  %-22s %s%s [%s]\n", lhs, "", opts[i].help,
				repeatable(opts[i].flag) ? " (repeatable)" : "", opts[i].env);
		else
			fprintf(f, "  %-22s %s%s [%s]\n", lhs, opts[i].help,
				repeatable(opts[i].flag) ? " (repeatable)" : "", opts[i].env);
	}
	fprintf(f, "  %-22s %s\n  %-22s %s\n", "--insecure-no-auth",
		"listen on a non-loopback address although no user exists, so that",
		"", "anyone who can reach it may do anything (default: refused)");
	fprintf(f, "  %-22s %s\n", "--dry-run", "gc: report what would be removed, remove nothing");
	fprintf(f, "  %-22s %s\n  %-22s %s\n", "--purge-deleted-experiments",
		"gc: remove experiments in the deleted stage for good, with their runs,",
		"", "artifacts and points (their metrics partition dropped whole)");
	fprintf(f, "  %-22s %s\n  %-22s %s\n", "--older-than SECONDS",
		"gc --purge-deleted-experiments: only experiments deleted at least",
		"", "this long ago (default 0)");
	fprintf(f, "  %-22s %s\n  %-22s %s\n", "--min-age SECONDS",
		"gc with S3: leave unreferenced objects and unfinished multipart uploads",
		"", "younger than this, which an upload may be about to commit (default 3600)");
	fprintf(f, "  %-22s %s\n  %-22s %s\n", "-h, --help", "show this help",
		"--version", "print the version");
	fprintf(f, "\nenvironment:\n  %-22s %s\n  %-22s %s\n", "MLTRACK_ADMIN_TOKEN",
		"a bearer token that may force a model past a failing gate while no",
		"", "user exists (once users exist: MANAGE on the model)");
	fprintf(f, "  %-22s %s\n  %-22s %s\n", "MLTRACK_WEBHOOK_*",
		"webhook delivery: _THREADS, _POLL_MS, _TIMEOUT_MS, _RETRY_MS,",
		"", "_RETRY_MAX_MS, _MAX_ATTEMPTS (docs/operations.md, \"Webhook delivery\")");
	fprintf(f, "\nsignals:\n  %-22s %s\n  %-22s %s\n", "SIGTERM, SIGINT",
		"finish requests and webhook deliveries in flight, then exit", "SIGHUP",
		"with --tls-cert: reload the certificate, key and client CA files");
}

static int die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "mltrackd: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(see mltrackd --help)\n");
	return 2;
}

/* The dashboard lives next to the executable: BIN/../web or BIN/web. */
static const char *find_web_root(void)
{
	static char buf[PATH_MAX + 32];
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *env = getenv("MLTRACK_WEB_ROOT");

	if (env && *env)
		return env;
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(buf, sizeof(buf), "%s/web/index.html", exe);
	if (access(buf, R_OK) == 0) {
		buf[strlen(buf) - strlen("/index.html")] = '\0';
		return buf;
	}
	return NULL;
}

/* A database URL option's value v (NULL or empty: not given, *out NULL):
 * its password is never printed, as every error message is masked
 * (mt_redact), libpq's quoting of a bad URL included.  Given on the command
 * line (arg: where argv holds it), it is also overwritten there, so ps
 * shows stars (the environment or ~/.pgpass keep it out of ps altogether;
 * docs/security.md).  *out: a copy, for the process's lifetime.  -1: out
 * of memory. */
static int conninfo_opt(const char *v, char *arg, const char **out)
{
	char *copy;

	*out = NULL;
	if (!v || !*v)
		return 0;
	if (!(copy = strdup(v)) || mt_redact_add_conninfo(copy))
		return -1;
	if (arg && arg == v)
		mt_redact_conninfo_hide(arg);
	*out = copy;
	return 0;
}

/* A whole number in [min, max] (NULL: keep *out, the default). */
static int parse_int(const char *s, long min, long max, int *out)
{
	char *end;
	long v;

	if (!s)
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_port(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < 1 || v > 65535)
		return -1;
	*out = (int)v;
	return 0;
}

/*
 * Memory.  glibc gives each thread that allocates its own malloc arena, up
 * to eight per core; with hundreds of workers, each arena keeps what its
 * requests freed, so a large page served on one worker and then on another
 * is resident twice.  As many arenas as cores (at least two) keep the
 * peak near one request's working set.  And glibc raises its mmap
 * threshold each time a large block is freed, after which large blocks
 * (a history page's text, a search page's PGresult) stay in the heap once
 * freed; a fixed threshold hands them back.  On 2 cores, peak RSS after
 * `make bench`'s sections 1-4: 30-32 MB, against 37 with the arenas alone and
 * 46 with neither; log-batch unchanged (docs/PERFORMANCE.md).  The
 * MALLOC_ARENA_MAX and MALLOC_MMAP_THRESHOLD_ variables, when set, win.
 */
static void tune_malloc(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (!getenv("MALLOC_ARENA_MAX"))
		mallopt(M_ARENA_MAX, n > 2 ? (int)n : 2);
	if (!getenv("MALLOC_MMAP_THRESHOLD_"))
		mallopt(M_MMAP_THRESHOLD, 256 * 1024);
}

int main(int argc, char **argv)
{
	const char *val[NOPTS] = { 0 };
	const char *cmd = NULL;
	struct mt_err err = MT_ERR_INIT;
	struct mg_context *ctx = NULL;
	static char artroot[PATH_MAX];
	sigset_t sigs;
	int sig, embedded, dry_run = 0, gc, insecure_no_auth = 0, admin, purge = 0;
	long min_age = -1, older_than = -1;
	char *in_argv[NOPTS] = { 0 }; /* an option's value, when argv holds it */
	int given[NOPTS] = { 0 };
	/* An admin command's arguments; static, so the early returns (usage
	 * errors, migrate, routes) leave it reachable, not leaked. */
	static char **sub;
	int nsub = 0;

	tune_malloc();
	http_json_alloc_init(); /* before any thread or JSON value */
	if (!(sub = calloc((size_t)argc + 1, sizeof(*sub))))
		return die_usage("%s", "out of memory");

	for (size_t i = 0; i < NOPTS; i++)
		val[i] = getenv(opts[i].env);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		size_t k;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--version") == 0) {
			printf("mltrackd %s\n", MLTRACK_VERSION);
			return 0;
		}
		if (strcmp(a, "--dry-run") == 0) {
			dry_run = 1;
			continue;
		}
		if (strcmp(a, "--purge-deleted-experiments") == 0) {
			purge = 1;
			continue;
		}
		if (strcmp(a, "--older-than") == 0) {
			char *end;

			if (i + 1 >= argc)
				return die_usage("option '%s' needs a value", a);
			older_than = strtol(argv[++i], &end, 10);
			if (!*argv[i] || *end || older_than < 0)
				return die_usage("invalid --older-than '%s': seconds, 0 or more", argv[i]);
			continue;
		}
		if (strcmp(a, "--min-age") == 0) {
			char *end;

			if (i + 1 >= argc)
				return die_usage("option '%s' needs a value", a);
			min_age = strtol(argv[++i], &end, 10);
			if (!*argv[i] || *end || min_age < 0)
				return die_usage("invalid --min-age '%s': seconds, 0 or more", argv[i]);
			continue;
		}
		if (strcmp(a, "--insecure-no-auth") == 0) {
			insecure_no_auth = 1;
			continue;
		}
		if (a[0] != '-') {
			if (cmd && admin_is_command(cmd)) {
				sub[nsub++] = argv[i];
				continue;
			}
			if (cmd)
				return die_usage("unexpected argument '%s'", a);
			if (strcmp(a, "migrate") && strcmp(a, "gc") && strcmp(a, "routes") &&
			    !admin_is_command(a))
				return die_usage("unknown command '%s'", a);
			cmd = a;
			continue;
		}
		if (cmd && admin_is_command(cmd) && admin_flag(a) >= 0) {
			sub[nsub++] = argv[i];
			if (admin_flag(a) == 1) {
				if (i + 1 >= argc)
					return die_usage("option '%s' needs a value", a);
				sub[nsub++] = argv[++i];
			}
			continue;
		}
		for (k = 0; k < NOPTS; k++) {
			size_t fl = strlen(opts[k].flag);

			if (strcmp(a, opts[k].flag) == 0) {
				if (i + 1 >= argc)
					return die_usage("option '%s' needs a value", a);
				val[k] = in_argv[k] = argv[++i];
				break;
			}
			if (strncmp(a, opts[k].flag, fl) == 0 && a[fl] == '=') {
				val[k] = in_argv[k] = argv[i] + fl + 1;
				break;
			}
		}
		if (k == NOPTS)
			return die_usage("unknown option '%s'", a);
		if (repeatable(opts[k].flag)) {
			given[k] = 1;
			if (config_repeatable(opts[k].flag, val[k], &err))
				return die_usage("%s", err.msg);
		}
	}
	/* Repeatable options from the environment when no flag gave any. */
	for (size_t k = 0; k < NOPTS; k++) {
		char *list, *item, *save = NULL;

		if (!repeatable(opts[k].flag) || given[k] || !val[k] || !*val[k])
			continue;
		list = strdup(val[k]);
		if (!list)
			return die_usage("%s", "out of memory");
		for (item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
			size_t len;

			item += strspn(item, " \t");
			len = strlen(item);
			while (len && (item[len - 1] == ' ' || item[len - 1] == '\t'))
				item[--len] = '\0';
			if (*item && config_repeatable(opts[k].flag, item, &err)) {
				free(list);
				return die_usage("%s (in the environment)", err.msg);
			}
		}
		free(list);
	}
	gc = cmd && strcmp(cmd, "gc") == 0;
	admin = cmd && admin_is_command(cmd);
	if (dry_run && !gc)
		return die_usage("%s is an option of gc only", "--dry-run");
	if (min_age >= 0 && !gc)
		return die_usage("%s is an option of gc only", "--min-age");
	if (purge && !gc)
		return die_usage("%s is an option of gc only", "--purge-deleted-experiments");
	if (older_than >= 0 && !purge)
		return die_usage("%s is an option of gc --purge-deleted-experiments only",
				 "--older-than");
	if (cmd && strcmp(cmd, "routes") == 0) {
		/* METHOD PATH CLASS: the class is what authorization needs
		 * (authz.h), e.g. run:EDIT, model:EDIT+promote+stage, public. */
		for (size_t i = 0; i < mt_routes_count; i++) {
			char cls[128];

			printf("%s %s%s %s\n", mt_routes[i].method, mt_routes[i].path,
			       mt_routes[i].flags & R_PREFIX ? "{path}" : "",
			       authz_class(&mt_routes[i], cls, sizeof(cls)));
		}
		return authz_init(&err) ? die_usage("%s", err.msg) : 0;
	}

	mt_cfg.host = val[0] && *val[0] ? val[0] : "127.0.0.1";
	mt_cfg.port = 5170;
	if (val[1] && parse_port(val[1], &mt_cfg.port))
		return die_usage("invalid port '%s'", val[1]);
	/* Database URLs: their passwords are never printed (conninfo_opt). */
	if (conninfo_opt(val[O_DBURL], in_argv[O_DBURL], &mt_cfg.database_url) ||
	    conninfo_opt(val[O_LISTEN_URL], in_argv[O_LISTEN_URL], &mt_cfg.listen_url))
		return die_usage("%s", "out of memory");
	mt_cfg.data_dir = val[3] && *val[3] ? val[3] : "./mltrack-data";
	if (val[4] && strncmp(val[4], "s3://", 5) == 0) {
		struct mt_err e = MT_ERR_INIT;

		if (s3_configure(val[4], val[O_S3_ENDPOINT], val[O_S3_REGION], &e))
			return die_usage("%s", e.msg);
		/* Uploads are staged here before they are sent. */
		snprintf(artroot, sizeof(artroot), "%s/staging", mt_cfg.data_dir);
		mt_cfg.artifacts_root = artroot;
	} else if (in_argv[O_S3_ENDPOINT] || in_argv[O_S3_REGION]) {
		return die_usage("%s", "--s3-endpoint and --s3-region need --artifacts-root s3://...");
	} else if (val[4] && *val[4]) {
		mt_cfg.artifacts_root = val[4];
	} else {
		snprintf(artroot, sizeof(artroot), "%s/artifacts", mt_cfg.data_dir);
		mt_cfg.artifacts_root = artroot;
	}
	mt_cfg.max_artifact_size = 10LL * 1024 * 1024 * 1024;
	if (val[6]) {
		char *end;
		long long m = strtoll(val[6], &end, 10);

		if (!*val[6] || *end || m < 1)
			return die_usage("invalid artifact size limit '%s'", val[6]);
		mt_cfg.max_artifact_size = m;
	}
	/* Defaults measured in docs/PERFORMANCE.md ("Slow clients"). */
	mt_cfg.threads = 256;
	if (parse_int(val[O_THREADS], 1, 4096, &mt_cfg.threads))
		return die_usage("invalid thread count '%s' (1 to 4096)", val[O_THREADS]);
	mt_cfg.db_pool = 16;
	if (parse_int(val[O_POOL], 1, 1000, &mt_cfg.db_pool))
		return die_usage("invalid database pool size '%s' (1 to 1000)", val[O_POOL]);
	if (val[O_POOLER] && *val[O_POOLER] && strcmp(val[O_POOLER], "none") != 0) {
		if (strcmp(val[O_POOLER], "transaction") != 0)
			return die_usage("invalid --database-pooler '%s' (transaction or none)",
					 val[O_POOLER]);
		mt_cfg.pooler = 1;
	}
	mt_cfg.statement_timeout_ms = 30000;
	if (parse_int(val[O_STMT_TO], 0, INT_MAX, &mt_cfg.statement_timeout_ms))
		return die_usage("invalid statement timeout '%s' (milliseconds)", val[O_STMT_TO]);
	mt_cfg.request_timeout_ms = 10000;
	if (parse_int(val[O_REQ_TO], 100, 3600000, &mt_cfg.request_timeout_ms))
		return die_usage("invalid request timeout '%s' (100 to 3600000 ms)", val[O_REQ_TO]);
	mt_cfg.keep_alive_timeout_ms = 5000;
	if (parse_int(val[O_KA_TO], 100, 3600000, &mt_cfg.keep_alive_timeout_ms))
		return die_usage("invalid keep-alive timeout '%s' (100 to 3600000 ms)", val[O_KA_TO]);
	mt_cfg.monitor_window = 3600;
	if (parse_int(val[O_MON_WINDOW], 1, 31 * 86400, &mt_cfg.monitor_window))
		return die_usage("invalid monitoring window '%s' (1 to 2678400 seconds)",
				 val[O_MON_WINDOW]);
	mt_cfg.monitor_max_rows = 10000;
	if (parse_int(val[O_MON_MAX_ROWS], 1, 1000000, &mt_cfg.monitor_max_rows))
		return die_usage("invalid --monitor-max-rows '%s' (1 to 1000000)", val[O_MON_MAX_ROWS]);
	{
		int w = 1000000;

		if (parse_int(val[O_MON_MAX_WINDOW_ROWS], 1, INT_MAX, &w))
			return die_usage("invalid --monitor-max-window-rows '%s'",
					 val[O_MON_MAX_WINDOW_ROWS]);
		mt_cfg.monitor_max_window_rows = w;
	}
	mt_cfg.monitor_grace = 60;
	if (parse_int(val[O_MON_GRACE], 0, 86400, &mt_cfg.monitor_grace))
		return die_usage("invalid --monitor-grace '%s' (0 to 86400 seconds)",
				 val[O_MON_GRACE]);
	mt_cfg.max_conns_per_addr = 64;
	if (parse_int(val[O_PER_ADDR], 0, 1000000, &mt_cfg.max_conns_per_addr))
		return die_usage("invalid connection cap '%s'", val[O_PER_ADDR]);
	mt_cfg.tls_cert = val[O_TLS_CERT] && *val[O_TLS_CERT] ? val[O_TLS_CERT] : NULL;
	mt_cfg.tls_key = val[O_TLS_KEY] && *val[O_TLS_KEY] ? val[O_TLS_KEY] : NULL;
	mt_cfg.tls_client_ca = val[O_TLS_CLIENT_CA] && *val[O_TLS_CLIENT_CA] ? val[O_TLS_CLIENT_CA]
									     : NULL;
	if (!mt_cfg.tls_cert != !mt_cfg.tls_key)
		return die_usage("%s", mt_cfg.tls_cert ? "--tls-cert needs --tls-key (the certificate's key)"
						       : "--tls-key needs --tls-cert (the certificate)");
	if (mt_cfg.tls_client_ca && !mt_cfg.tls_cert)
		return die_usage("%s", "--tls-client-ca needs --tls-cert and --tls-key");
	mt_cfg.default_permission = MT_PERM_READ;
	if (val[O_DEFAULT_PERM] && *val[O_DEFAULT_PERM]) {
		enum mt_perm p;
		char up[32];
		size_t k;

		for (k = 0; k + 1 < sizeof(up) && val[O_DEFAULT_PERM][k]; k++)
			up[k] = (char)toupper((unsigned char)val[O_DEFAULT_PERM][k]);
		up[k] = '\0';
		if (mt_perm_parse(up, &p))
			return die_usage("invalid default permission '%s' (READ, EDIT, MANAGE or "
					 "NO_PERMISSIONS)", val[O_DEFAULT_PERM]);
		mt_cfg.default_permission = p;
	}
	if (guard_init(mt_cfg.host, mt_cfg.tls_cert != NULL, &err))
		return die_usage("%s", err.msg);
	if (val[O_PROXY_USER_HEADER] && *val[O_PROXY_USER_HEADER] &&
	    auth_proxy_user_header(val[O_PROXY_USER_HEADER], &err))
		return die_usage("%s", err.msg);
	if (session_config(val[O_SESSION_IDLE], val[O_SESSION_LIFETIME], &err))
		return die_usage("%s", err.msg);
	mt_cfg.web_root = find_web_root();
	/* From the environment only: a flag would show in ps. */
	mt_cfg.admin_token = getenv("MLTRACK_ADMIN_TOKEN");
	mt_redact_add(mt_cfg.admin_token);
	{
		const char *plan = getenv("MLTRACK_SEARCH_PLAN");

		if (plan && *plan && (strlen(plan) != 1 || !strchr("ABC", plan[0])))
			return die_usage("MLTRACK_SEARCH_PLAN must be A, B or C, not '%s'", plan);
		mt_cfg.search_plan = plan && *plan ? plan[0] : 0;
	}

	/* Signals are taken by sigwait() in this thread only; every thread
	 * started from here on (CivetWeb's) inherits the block.  gc keeps the
	 * default: interrupted, it dies, and so (PR_SET_PDEATHSIG) does an
	 * embedded cluster it started; an interrupted transaction rolls back. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	/* SIGHUP reloads the certificate; without TLS it keeps its default
	 * meaning (the terminal went away: stop). */
	if (mt_cfg.tls_cert && !cmd)
		sigaddset(&sigs, SIGHUP);
	if (!gc && !admin)
		pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The certificate before anything starts: a bad file is reported
	 * before the database is touched and nothing listens. */
	if (mt_cfg.tls_cert && !cmd) {
		char desc[512];

		if (tls_init(mt_cfg.tls_cert, mt_cfg.tls_key, mt_cfg.tls_client_ca, &err)) {
			fprintf(stderr, "mltrackd: %s\n", err.msg);
			return 2;
		}
		fprintf(stderr, "mltrackd: TLS certificate %s: %s%s\n", mt_cfg.tls_cert,
			tls_describe(desc, sizeof(desc)),
			mt_cfg.tls_client_ca ? "; client certificates required" : "");
	}

	embedded = !mt_cfg.database_url;
	if (embedded && (gc || admin)) {
		int attached;

		if (pgembed_attach(&mt_cfg, &attached, &err))
			goto fail;
	} else if (embedded) {
		if (pgembed_start(&mt_cfg, &err))
			goto fail;
	} else {
		snprintf(mt_cfg.conninfo, sizeof(mt_cfg.conninfo), "%s", mt_cfg.database_url);
	}
	if (migrate_run(mt_cfg.conninfo, &err))
		goto fail;
	if (cmd && strcmp(cmd, "migrate") == 0) {
		fprintf(stderr, "mltrackd: database is up to date\n");
		pgembed_stop();
		return 0;
	}
	if (gc) {
		if (gc_run(dry_run, min_age < 0 ? 3600 : min_age, purge, older_than < 0 ? 0 : older_than,
			   &err))
			goto fail;
		pgembed_stop();
		s3_shutdown();
		return 0;
	}
	if (admin) {
		int rc = admin_run(cmd, nsub, sub, &err);

		free(sub);
		pgembed_stop();
		if (rc == 0)
			return 0;
		fprintf(stderr, "mltrackd: %s\n", err.msg);
		return err.code == MT_EBADREQ ? 2 : 1;
	}
	free(sub);
	sub = NULL;
	if (auth_init(&err) || store_prepare(&err) || db_pool_init(mt_cfg.db_pool, &err) ||
	    auth_startup(mt_cfg.host, insecure_no_auth, &err) || authcache_start(&err) ||
	    conns_init(mt_cfg.max_conns_per_addr, mt_cfg.port, &err) ||
	    conns_watch_start(mt_cfg.threads, &err) || webhooks_start(&err) ||
	    monitor_alerts_start(&err))
		goto fail;
	mg_init_library(0);
	if (http_start(&ctx, &err))
		goto fail;
	fprintf(stderr, "mltrackd %s listening on %s://%s%s%s:%d (%s database)\n", MLTRACK_VERSION,
		tls_on() ? "https" : "http", strchr(mt_cfg.host, ':') ? "[" : "", mt_cfg.host,
		strchr(mt_cfg.host, ':') ? "]" : "", mt_cfg.port, embedded ? "embedded" : "external");

	for (;;) {
		char desc[512];

		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		if (tls_reload(&err))
			fprintf(stderr, "mltrackd: SIGHUP: TLS reload failed, still serving %s: %s\n",
				tls_describe(desc, sizeof(desc)), err.msg);
		else
			fprintf(stderr, "mltrackd: SIGHUP: TLS certificate reloaded: %s\n",
				tls_describe(desc, sizeof(desc)));
		mt_err_clear(&err);
	}
	fprintf(stderr, "mltrackd: %s received, finishing requests in flight\n",
		sig == SIGTERM ? "SIGTERM" : "SIGINT");
	http_stop(ctx);
	webhooks_stop(); /* a delivery in flight is finished and recorded */
	monitor_alerts_stop(); /* a window being closed is closed */
	mg_exit_library();
	tls_free(); /* no connection is left on any certificate */
	db_pool_free(); /* the workers are gone: every connection is back */
	authcache_stop();
	conns_watch_stop();
	pgembed_stop();
	s3_shutdown();
	fprintf(stderr, "mltrackd: stopped\n");
	return 0;
fail:
	free(sub);
	if ((gc || admin) && err.log_detail[0]) /* a one-shot command: one line */
		fprintf(stderr, "mltrackd: %s (%s)\n", err.msg, err.log_detail);
	else
		fprintf(stderr, "mltrackd: %s\n", err.msg);
	if (!gc && !admin && err.log_detail[0])
		fprintf(stderr, "mltrackd: detail: %s\n", err.log_detail);
	http_stop(ctx);
	webhooks_stop();
	monitor_alerts_stop();
	tls_free();
	db_pool_free();
	authcache_stop();
	conns_watch_stop();
	pgembed_stop();
	s3_shutdown();
	return mt_code_exit(err.code) ? mt_code_exit(err.code) : 1;
}
