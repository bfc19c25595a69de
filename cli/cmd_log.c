/*
 * cmd_log.c: mltrack log metric|param|tag|artifact.
 *
 * Direct, best-effort logging into an existing run from a shell or a
 * training script: the run is --run ID, else $MLTRACK_RUN_ID (set by
 * `mltrack run` for its command), else $MLFLOW_RUN_ID.
 *
 * Everything the server would refuse for its form (keys, value lengths,
 * numbers) is checked here first and is a usage error (exit 2); what the
 * server refuses on its own knowledge (a param changed, an unknown or
 * deleted run) and network failures are exit 3.  Nothing is spooled: these
 * are single synchronous calls, and `mltrack run` is the path that never
 * loses anything (see docs/cli/log.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli.h"
#include "mt_json.h"
#include "mt_limits.h"
#include "mt_redact.h"
#include "mt_spool.h"
#include "mt_util.h"
#include "mt_validate.h"

/* Every subcommand's --run, and the positionals (one set: one parse per
 * process). */
static const char *o_run, *o_key, *o_value, *o_step, *o_timestamp, *o_path, *o_dest;

#define RUN_OPT                                                                        \
	{ CLI_OPT_VALUE, &o_run, 0, "run", "ID", 0,                                    \
	  "the run to log to [MLTRACK_RUN_ID, then MLFLOW_RUN_ID]" }
#define OPTS_END { 0, NULL, 0, NULL, NULL, 0, NULL }

#define MORE_RUN                                                                       \
	"The run is --run ID, else $MLTRACK_RUN_ID (which `mltrack run` gives its\n"    \
	"command), else $MLFLOW_RUN_ID.  One direct call to the server: when it\n"     \
	"cannot be reached the command fails with exit 3 after MLTRACK_HTTP_RETRIES\n" \
	"attempts (nothing is spooled; call it as `mltrack log ... || true` where\n"   \
	"training must go on).  Exit status: 2 bad arguments or no run, 3 the server\n" \
	"refused or could not be reached."

/* The run to log to, validated; NULL after printing why not. */
static const char *pick_run(void)
{
	const char *r = o_run;
	struct mt_err err = { 0 };

	if (!r || !*r)
		r = getenv("MLTRACK_RUN_ID");
	if (!r || !*r)
		r = getenv("MLFLOW_RUN_ID");
	if (!r || !*r) {
		cli_error(CLI_USAGE, "no run: pass --run ID or run inside `mltrack run`");
		return NULL;
	}
	if (mt_validate_run_id(r, &err)) {
		cli_error(CLI_USAGE, "%s", err.msg);
		return NULL;
	}
	return r;
}

/* A metric value: a decimal number, or nan / inf / infinity (any case, with
 * a sign); the whole string.  Hexadecimal floats and numbers too large for
 * a double are refused rather than silently turned into something else.
 * NULL, or why not. */
static const char *parse_value(const char *s, double *out)
{
	char *end;

	if (!*s || strchr(" \t\n\v\f\r", *s) || strpbrk(s, "xX"))
		return "is not a number";
	errno = 0;
	*out = strtod(s, &end);
	if (*end || end == s)
		return "is not a number";
	if (errno == ERANGE && isinf(*out))
		return "is too large for a double (write inf for infinity)";
	return NULL;
}

/* A base-10 int64, the whole string. */
static int parse_i64(const char *s, long long *out)
{
	char *end;

	if (!*s || strchr(" \t\n\v\f\r", *s))
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return *end || errno ? -1 : 0;
}

/*
 * Inside `mltrack run` (no --run given, MLTRACK_SPOOL_RUN names the run's
 * spool and its writer is alive), a value goes into the run's journal, not
 * over the network: the run sends it with everything else, so it is not
 * lost while the server is away and the training script does not wait.
 * Returns an exit code when it handled the value, -1 when it does not
 * apply (the caller posts).
 */
static int spool_into_run(const char *field, json_t *item)
{
	const char *dir = getenv("MLTRACK_SPOOL_RUN");
	char path[4200];
	json_t *rec;
	int fd, rc;

	if (o_run && *o_run)
		return -1; /* an explicit run: talk to the server */
	if (!dir || !*dir)
		return -1;
	/* The enclosing mltrack run holds the lock while it writes; if we can
	 * take it, that run is over and its journal must not grow. */
	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		close(fd);
		return -1;
	}
	close(fd);
	snprintf(path, sizeof(path), "%s/journal", dir);
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rec = json_pack("{s:s, s:[], s:[], s:[]}", "t", "batch", "metrics", "params", "tags");
	json_array_append(json_object_get(rec, field), item);
	rc = mt_spool_append(fd, rec);
	close(fd);
	json_decref(rec);
	if (rc)
		return cli_error(CLI_USAGE, "cannot write the run's spool %s: %s", path,
				 strerror(errno));
	return CLI_OK;
}

/* POST one JSON call with the patience a training script can afford: the
 * attempts of MLTRACK_HTTP_RETRIES, but a short connect timeout, so a
 * host that is down costs seconds, not minutes.  Steals body. */
static int post(const char *endpoint, json_t *body)
{
	char path[128];
	struct cli_fail f;
	int rc = CLI_OK;

	snprintf(path, sizeof(path), "/api/2.0/mlflow/%s", endpoint);
	if (!body)
		return cli_error(CLI_USAGE, "out of memory");
	if (cli_client_init(&f)) {
		rc = cli_fail_report(&f);
		goto out;
	}
	cli_client_patience(0, 3000, 30000);
	if (cli_api("POST", path, NULL, body, NULL, &f))
		rc = cli_fail_report(&f);
out:
	json_decref(body);
	return rc;
}

/* ---- metric ---- */

static const struct cli_opt metric_opts[] = {
	{ CLI_OPT_ARG, &o_key, 0, "KEY", NULL, CLI_OPT_REQUIRED, "the metric's name" },
	{ CLI_OPT_ARG, &o_value, 0, "VALUE", NULL, CLI_OPT_REQUIRED,
	  "a number: 0.25, -1e-3, nan, inf (-inf only after --)" },
	{ CLI_OPT_VALUE, &o_step, 0, "step", "N", 0, "the step, an integer (default 0)" },
	{ CLI_OPT_VALUE, &o_timestamp, 0, "timestamp", "MS", 0,
	  "Unix time in milliseconds (default: now)" },
	RUN_OPT,
	OPTS_END,
};

static const struct cli_spec metric_spec = {
	"log metric", "Log one point of a metric to a run.", metric_opts, MORE_RUN, 0,
};

static int cmd_metric(int argc, char **argv)
{
	long long step = 0, ts;
	struct mt_err err = { 0 };
	const char *run, *why;
	double v;
	int rc;

	if ((rc = cli_parse(&metric_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (mt_validate_key("metric", o_key, &err))
		return cli_error(CLI_USAGE, "%s", err.msg);
	if ((why = parse_value(o_value, &v)))
		return cli_error(CLI_USAGE, "metric '%s': '%s' %s", o_key, o_value, why);
	if (o_step && parse_i64(o_step, &step))
		return cli_error(CLI_USAGE, "option '--step': '%s' is not an integer", o_step);
	ts = mt_now_ms();
	if (o_timestamp && (parse_i64(o_timestamp, &ts) || ts < 0))
		return cli_error(CLI_USAGE,
				 "option '--timestamp': '%s' is not a time in milliseconds since 1970",
				 o_timestamp);
	{
		json_t *m = json_pack("{s:s, s:o, s:I, s:I}", "key", o_key, "value",
				      mt_json_double_new(v), "timestamp", (json_int_t)ts, "step",
				      (json_int_t)step);

		rc = spool_into_run("metrics", m);
		json_decref(m);
		if (rc >= 0)
			return rc;
	}
	if (!(run = pick_run()))
		return CLI_USAGE;
	return post("runs/log-metric",
		    json_pack("{s:s, s:s, s:s, s:o, s:I, s:I}", "run_id", run, "run_uuid", run,
			      "key", o_key, "value", mt_json_double_new(v), "timestamp",
			      (json_int_t)ts, "step", (json_int_t)step));
}

/* ---- param and tag ---- */

static const struct cli_opt param_opts[] = {
	{ CLI_OPT_ARG, &o_key, 0, "KEY", NULL, CLI_OPT_REQUIRED, "the param's name" },
	{ CLI_OPT_ARG, &o_value, 0, "VALUE", NULL, CLI_OPT_REQUIRED,
	  "its value (at most 6000 bytes)" },
	RUN_OPT,
	OPTS_END,
};

static const struct cli_spec param_spec = {
	"log param", "Log a param of a run.  A param is set once: the same value again is\n"
	"fine, a different one is refused by the server.",
	param_opts, MORE_RUN, 0,
};

static const struct cli_opt tag_opts[] = {
	{ CLI_OPT_ARG, &o_key, 0, "KEY", NULL, CLI_OPT_REQUIRED, "the tag's name" },
	{ CLI_OPT_ARG, &o_value, 0, "VALUE", NULL, CLI_OPT_REQUIRED,
	  "its value (at most 8000 bytes)" },
	RUN_OPT,
	OPTS_END,
};

static const struct cli_spec tag_spec = {
	"log tag", "Set a tag of a run (a new value replaces the old one).", tag_opts, MORE_RUN,
	0,
};

static int log_kv(const struct cli_spec *spec, const char *what, size_t max,
		  const char *endpoint, int argc, char **argv)
{
	struct mt_err err = { 0 };
	struct cli_fail ignored;
	const char *run;
	char *masked = NULL;
	int rc;

	if ((rc = cli_parse(spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	/* No credential in reach, nor a URL's password, is ever recorded
	 * (creds.c): the value is masked first.  A credentials file that
	 * cannot be used is reported when the server is asked, not here. */
	cli_cred_load(&ignored);
	if (mt_redact_needed(o_value) && (masked = mt_redact_dup(o_value)))
		o_value = masked;
	if (mt_validate_key(what, o_key, &err) ||
	    mt_validate_value_len(what, o_key, o_value, max, &err)) {
		free(masked);
		return cli_error(CLI_USAGE, "%s", err.msg);
	}
	{
		json_t *kv = json_pack("{s:s, s:s}", "key", o_key, "value", o_value);

		rc = spool_into_run(strcmp(what, "param") == 0 ? "params" : "tags", kv);
		json_decref(kv);
	}
	if (rc < 0) {
		if (!(run = pick_run()))
			rc = CLI_USAGE;
		else
			rc = post(endpoint, json_pack("{s:s, s:s, s:s, s:s}", "run_id", run, "run_uuid",
						      run, "key", o_key, "value", o_value));
	}
	free(masked);
	return rc;
}

static int cmd_param(int argc, char **argv)
{
	return log_kv(&param_spec, "param", MT_MAX_PARAM_VALUE_LEN, "runs/log-parameter", argc,
		      argv);
}

static int cmd_tag(int argc, char **argv)
{
	return log_kv(&tag_spec, "tag", MT_MAX_TAG_VALUE_LEN, "runs/set-tag", argc, argv);
}

/* ---- artifact ---- */

static const struct cli_opt artifact_opts[] = {
	{ CLI_OPT_ARG, &o_path, 0, "PATH", NULL, CLI_OPT_REQUIRED,
	  "a file, or a directory uploaded with everything under it" },
	{ CLI_OPT_ARG, &o_dest, 0, "DEST", NULL, 0,
	  "artifact directory to put it in (default: the run's root)" },
	RUN_OPT,
	OPTS_END,
};

static const struct cli_spec artifact_spec = {
	"log artifact", "Upload a file or a directory tree to a run's artifacts.", artifact_opts,
	"PATH lands at DEST/<name of PATH>, as with `mltrack artifacts upload`; each\n"
	"file is streamed and checked against the SHA-256 the server stored.\n" MORE_RUN,
	0,
};

static int cmd_artifact(int argc, char **argv)
{
	const char *locals[1], *run;
	struct cli_fail f;
	int rc;

	if ((rc = cli_parse(&artifact_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (!(run = pick_run()))
		return CLI_USAGE;
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	locals[0] = o_path;
	rc = cli_artifacts_upload(run, locals, 1, o_dest, 0, &f);
	if (rc && f.msg[0])
		cli_fail_report(&f);
	return rc;
}

static const struct cli_sub subs[] = {
	{ "metric", cmd_metric, "log one point of a metric" },
	{ "param", cmd_param, "log a param (set once)" },
	{ "tag", cmd_tag, "set a tag" },
	{ "artifact", cmd_artifact, "upload a file or directory" },
	{ NULL, NULL, NULL },
};

int cmd_log(int argc, char **argv)
{
	int rc = cli_group("log",
			   "Log a metric, param, tag or artifact to a run: --run ID, or the run\n"
			   "of the enclosing `mltrack run` (MLTRACK_RUN_ID).",
			   subs, argc, argv);

	cli_client_cleanup();
	return rc;
}
