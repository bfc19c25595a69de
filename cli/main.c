/*
 * main.c: mltrack, the command-line client.  Global options and the command
 * table; each command group lives in cmd_<group>.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mt_redact.h"
#include "spool.h"

struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct cli_cmd commands[] = {
	{ "run", cmd_run, "run a command as a tracked run (mltrack run -- ./train)" },
	{ "sweep", cmd_sweep, "run a command over a grid or random space of params, as child runs" },
	{ "reproduce", cmd_reproduce,
	  "run a run again from its recorded commit and patch, and compare" },
	{ "sync", cmd_sync, "upload runs spooled while the server was unreachable" },
	{ "artifacts", cmd_artifacts, "list, upload and download a run's artifacts" },
	{ "runs", cmd_runs, "list, show and compare runs" },
	{ "log", cmd_log, "log a metric, param, tag or artifact to a run" },
	{ "experiments", cmd_experiments, "list and create experiments" },
	{ "model", cmd_model, "register, promote and pull models (verified bundles)" },
	{ "monitor", cmd_monitor, "monitor deployed versions: log served data, show drift" },
	{ "gate", cmd_gate, "promotion gates: rules a version must pass to enter a stage" },
	{ "webhooks", cmd_webhooks, "webhooks: events POSTed to a URL, signed (admins only)" },
	{ "login", cmd_login, "log in to the server and keep a token in ~/.mltrack/credentials" },
	{ "logout", cmd_logout, "revoke the stored token and forget it" },
	{ "whoami", cmd_whoami, "who the server takes you for, and how" },
	{ NULL, NULL, NULL },
};

/* One line on stderr, secrets masked (mt_redact: the credentials in
 * force, URL passwords), whatever the message quotes. */
static void say(const char *prefix, const char *fmt, va_list ap)
{
	char msg[4096];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	mt_redact_inplace(msg, sizeof(msg));
	fprintf(stderr, "%s%s\n", prefix, msg);
}

int cli_error(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("mltrack: ", fmt, ap);
	va_end(ap);
	return code;
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("mltrack: warning: ", fmt, ap);
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mltrack [--tracking-uri URL] <command> [args]\n\n"
		"Track machine-learning runs and models on an mltrack (or MLflow) server.\n\n"
		"global options:\n"
		"  --tracking-uri URL  server to talk to [MLTRACK_TRACKING_URI, then\n"
		"                      MLFLOW_TRACKING_URI; default http://127.0.0.1:5170]\n"
		"  -q, --quiet         no progress bars or chatter\n"
		"  -h, --help          show this help\n"
		"  --version           print the version\n\n"
		"credentials, the first found: user:password@ in the tracking URI;\n"
		"MLTRACK_TOKEN; MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD;\n"
		"MLFLOW_TRACKING_TOKEN; the token `mltrack login` stored for the URI in\n"
		"~/.mltrack/credentials (see mltrack login --help).\n\n"
		"environment:\n"
		"  MLTRACK_CA_BUNDLE=FILE    verify an https:// server against the CA\n"
		"                            certificates in FILE (PEM) instead of the system's\n"
		"                            [MLFLOW_TRACKING_SERVER_CERT_PATH]\n"
		"  MLTRACK_INSECURE_TLS=true do not verify the server's certificate (warns)\n"
		"                            [MLFLOW_TRACKING_INSECURE_TLS]\n"
		"  MLTRACK_CLIENT_CERT=FILE  a client certificate (PEM) for servers that\n"
		"  MLTRACK_CLIENT_KEY=FILE   require one, and its key (default: in the same\n"
		"                            file) [MLFLOW_TRACKING_CLIENT_CERT_PATH: both]\n"
		"  MLTRACK_HTTP_RETRIES=N    attempts per request (default 4)\n\n");
	if (!commands[0].name) {
		fprintf(f, "No commands are available in this version yet.\n");
		return;
	}
	fprintf(f, "commands:\n");
	for (const struct cli_cmd *c = commands; c->name; c++)
		fprintf(f, "  %-12s %s\n", c->name, c->summary);
	fprintf(f, "\nSee 'mltrack <command> --help' for a command's options.\n"
		"Exit status: 0 success, 1 a check failed, 2 usage error, 3 server error.\n");
}

/* Every command first uploads what earlier runs spooled, briefly and quietly
 * (run and sync do their own; login, logout and whoami deal with credentials
 * only). */
static void quick_sync(const struct cli_spec *spec)
{
	struct cli_fail f;

	static const char *const own[] = { "run", "sync", "login", "logout", "whoami" };

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strcmp(spec->name, own[i]) == 0)
			return;
	if (cli_client_init(&f) == 0)
		cli_sync_all(1, 2000);
}

int main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return CLI_OK;
		}
		if (strcmp(a, "--version") == 0) {
			printf("mltrack %s\n", MLTRACK_VERSION);
			return CLI_OK;
		}
		if (strcmp(a, "--tracking-uri") == 0) {
			if (++i >= argc)
				return cli_error(CLI_USAGE, "option '--tracking-uri' needs a value");
			cli_uri_flag = argv[i];
			continue;
		}
		if (strncmp(a, "--tracking-uri=", 15) == 0) {
			cli_uri_flag = a + 15;
			continue;
		}
		if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			cli_quiet = 1;
			continue;
		}
		return cli_error(CLI_USAGE, "unknown option '%s' (see mltrack --help)", a);
	}
	cli_apply_globals();
	cli_parsed_hook = quick_sync;
	if (i >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	for (const struct cli_cmd *c = commands; c->name; c++)
		if (strcmp(c->name, argv[i]) == 0)
			return c->fn(argc - i, argv + i);
	return cli_error(CLI_USAGE, "unknown command '%s' (see mltrack --help)", argv[i]);
}
