/*
 * cmd_monitor.c: mltrack monitor log|show|rules|alerts|ack (issue 17,
 * docs/cli/monitor.md).
 *
 * `monitor log NAME@ALIAS|NAME/VERSION --file F` sends the observations of
 * a JSON-lines file ({"features": {...}, "prediction": ..., "label": ...,
 * "timestamp": ms}, one a line) to POST /api/2.0/mltrack/monitor/log in
 * batches of at most --batch; each line is checked to be a JSON object
 * before its batch goes, and a refused batch is reported with the file's
 * line number.  Batches sent before a refusal stay logged (each batch is
 * one transaction on the server; the message says how many went in).
 * `monitor show REF` reads GET /api/2.0/mltrack/monitor/get: a table of
 * windows by column with PSI, KS or chi-square and the change of missing
 * rate, and one of label quality; --json prints the answer as is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "mt_gate.h"
#include "mt_json.h"

#define EXT "/api/2.0/mltrack/"
#define OPTS_END { 0, NULL, 0, NULL, NULL, 0, NULL }
#define BATCH_DEFAULT 5000
#define BATCH_MAX 1000000

/* NAME@ALIAS (or NAME@STAGE) or NAME/VERSION: the name into name (n
 * bytes), and *alias or *version (borrowed from ref) set.  CLI exit code. */
static int parse_ref(const char *ref, char *name, size_t n, const char **alias,
		     const char **version)
{
	const char *at = strrchr(ref, '@'), *slash = strrchr(ref, '/');

	*alias = *version = NULL;
	if (at && at != ref && at[1] && (size_t)(at - ref) < n) {
		snprintf(name, n, "%.*s", (int)(at - ref), ref);
		*alias = at + 1;
		return CLI_OK;
	}
	if (!at && slash && slash != ref && slash[1] &&
	    strspn(slash + 1, "0123456789") == strlen(slash + 1) && (size_t)(slash - ref) < n) {
		snprintf(name, n, "%.*s", (int)(slash - ref), ref);
		*version = slash + 1;
		return CLI_OK;
	}
	return cli_error(CLI_USAGE, "'%s': expected NAME@ALIAS, NAME@STAGE or NAME/VERSION", ref);
}

/* ---- log ---- */

static const char *l_ref, *l_file, *l_batch;

static const struct cli_opt log_opts[] = {
	{ CLI_OPT_ARG, &l_ref, 0, "MODEL", NULL, CLI_OPT_REQUIRED,
	  "NAME@ALIAS, NAME@STAGE or NAME/VERSION" },
	{ CLI_OPT_VALUE, &l_file, 'f', "file", "F", CLI_OPT_REQUIRED,
	  "observations, one JSON object a line ('-': standard input)" },
	{ CLI_OPT_VALUE, &l_batch, 0, "batch", "N", 0,
	  "observations per request (default 5000; the server's cap is --monitor-max-rows)" },
	OPTS_END,
};

static const struct cli_spec log_spec = {
	"monitor log", "Send served observations to the model version's live windows.",
	log_opts,
	"Each line is {\"features\": {NAME: VALUE, ...}, \"prediction\": P,\n"
	"\"label\": L, \"timestamp\": MS}; all but features may be left out (the\n"
	"timestamp defaults to the server's clock).  The server folds them into\n"
	"windows (--monitor-window, an hour by default) without keeping the rows.\n"
	"A batch the server refuses is reported with its line number; the batches\n"
	"before it stay logged.",
	0,
};

struct batch {
	json_t *obs;      /* array */
	long long *lines; /* the file line of each */
	size_t cap;
};

static int send_batch(const char *name, const char *alias, const char *version,
		      struct batch *b, const char *file, long long *sent)
{
	json_t *body = json_pack("{s:s, s:O}", "name", name, "observations", b->obs), *r = NULL;
	struct cli_fail f;
	int rc;

	json_object_set_new(body, alias ? "alias" : "version", json_string(alias ? alias : version));
	rc = cli_api("POST", EXT "monitor/log", NULL, body, &r, &f);
	json_decref(body);
	json_decref(r);
	if (rc) {
		size_t idx;
		int used = 0;

		if (sscanf(f.msg, "observations[%zu]: %n", &idx, &used) == 1 && used > 0 &&
		    idx < json_array_size(b->obs))
			return cli_error(f.code ? f.code : CLI_SERVER, "%s:%lld: %s (%lld observation%s "
					 "logged before)", file, b->lines[idx], f.msg + used, *sent,
					 *sent == 1 ? "" : "s");
		return cli_error(f.code ? f.code : CLI_SERVER, "%s: lines %lld-%lld: %s (%lld "
				 "observation%s logged before)", file, b->lines[0],
				 b->lines[json_array_size(b->obs) - 1], f.msg, *sent,
				 *sent == 1 ? "" : "s");
	}
	*sent += (long long)json_array_size(b->obs);
	json_array_clear(b->obs);
	return CLI_OK;
}

static int cmd_mon_log(int argc, char **argv)
{
	char name[1024], *line = NULL;
	const char *alias, *version, *label;
	size_t cap = 0;
	ssize_t len;
	long long lineno = 0, sent = 0, batch = BATCH_DEFAULT, done = 0;
	struct batch b = { 0 };
	struct cli_fail f;
	struct cli_progress p;
	struct stat st;
	FILE *fp = NULL;
	int rc;

	if ((rc = cli_parse(&log_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if ((rc = parse_ref(l_ref, name, sizeof(name), &alias, &version)))
		return rc;
	if (l_batch) {
		char *end;

		batch = strtoll(l_batch, &end, 10);
		if (!*l_batch || *end || batch < 1 || batch > BATCH_MAX)
			return cli_error(CLI_USAGE, "--batch '%s': expected 1 to %d", l_batch,
					 BATCH_MAX);
	}
	label = strcmp(l_file, "-") == 0 ? "<stdin>" : l_file;
	fp = strcmp(l_file, "-") == 0 ? stdin : fopen(l_file, "rb");
	if (!fp)
		return cli_error(CLI_USAGE, "--file '%s': %s", l_file, strerror(errno));
	if (cli_client_init(&f)) {
		rc = cli_fail_report(&f);
		goto out;
	}
	b.obs = json_array();
	b.cap = (size_t)batch;
	b.lines = calloc(b.cap, sizeof(long long));
	if (!b.obs || !b.lines) {
		rc = cli_error(CLI_USAGE, "out of memory");
		goto out;
	}
	cli_progress_start(&p, "logging", fp != stdin && fstat(fileno(fp), &st) == 0 ?
				(long long)st.st_size : 0, 1);
	while ((len = getline(&line, &cap, fp)) >= 0) {
		json_error_t je;
		json_t *o;
		size_t k = 0;

		lineno++;
		done += len;
		while (k < (size_t)len && strchr(" \t\r\n", line[k]))
			k++;
		if (k == (size_t)len)
			continue;
		if (!mt_json_depth_ok(line, (size_t)len, MT_JSON_MAX_DEPTH)) {
			cli_progress_end(&p);
			rc = cli_error(CLI_USAGE, "%s:%lld: nested too deeply", label, lineno);
			goto out;
		}
		o = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &je);
		if (!o || !json_is_object(o)) {
			cli_progress_end(&p);
			rc = cli_error(CLI_USAGE, "%s:%lld: %s", label, lineno,
				       o ? "not a JSON object" : je.text);
			json_decref(o);
			goto out;
		}
		b.lines[json_array_size(b.obs)] = lineno;
		json_array_append_new(b.obs, o);
		if (json_array_size(b.obs) == b.cap) {
			if ((rc = send_batch(name, alias, version, &b, label, &sent))) {
				cli_progress_end(&p);
				goto out;
			}
			cli_progress_update(&p, done);
		}
	}
	if (ferror(fp)) {
		cli_progress_end(&p);
		rc = cli_error(CLI_USAGE, "%s: cannot read it", label);
		goto out;
	}
	if (json_array_size(b.obs) && (rc = send_batch(name, alias, version, &b, label, &sent))) {
		cli_progress_end(&p);
		goto out;
	}
	cli_progress_end(&p);
	if (sent == 0) {
		rc = cli_error(CLI_USAGE, "%s: no observations", label);
		goto out;
	}
	if (!cli_quiet)
		fprintf(stderr, "logged %lld observation%s to %s\n", sent, sent == 1 ? "" : "s",
			l_ref);
	rc = CLI_OK;
out:
	if (fp && fp != stdin)
		fclose(fp);
	free(line);
	free(b.lines);
	json_decref(b.obs);
	return rc;
}

/* ---- show ---- */

static const char *s_ref, *s_max;
static int s_json;

static const struct cli_opt show_opts[] = {
	{ CLI_OPT_ARG, &s_ref, 0, "MODEL", NULL, CLI_OPT_REQUIRED,
	  "NAME@ALIAS, NAME@STAGE or NAME/VERSION" },
	{ CLI_OPT_VALUE, &s_max, 'n', "windows", "N", 0, "the newest N windows (default 24)" },
	{ CLI_OPT_SWITCH, &s_json, 0, "json", NULL, 0, "print the server's answer as JSON" },
	OPTS_END,
};

static const struct cli_spec show_spec = {
	"monitor show", "Drift and quality of a model version's live windows.", show_opts,
	"One row per window and column: the rows folded, PSI against the reference\n"
	"profile, the binned Kolmogorov-Smirnov statistic (numbers) or chi-square\n"
	"(categories), and the change of the missing rate.  Windows with labels get\n"
	"accuracy and macro F1 (a category prediction) or RMSE and MAE (a number).\n"
	"A last table says each window's check against the alert rules: open (not\n"
	"closed yet), no rules, passed, or the alert it fired with the rules that\n"
	"failed.  Newest window first.  docs/monitoring.md defines each measure.",
	0,
};

static const char *num(char *buf, size_t n, json_t *v, const char *fmt)
{
	if (!json_is_number(v))
		return "-";
	snprintf(buf, n, fmt, json_number_value(v));
	return buf;
}

/* Append rule (and note) to the "; "-separated list in buf; what does not
 * fit is cut. */
static void add_rule(char *buf, size_t cap, size_t *used, const char *rule, const char *note)
{
	if (*used < cap)
		*used += (size_t)snprintf(buf + *used, cap - *used, "%s%s%s", *used ? "; " : "",
					  rule ? rule : "", note);
}

/* A row of the checks table: how window w's alert rules came out. */
static int window_check(struct cli_table *ct, json_t *w, const char *when, const char *rows)
{
	json_t *alert = json_object_get(w, "alert"), *rep = json_object_get(w, "report"), *it;
	char state[96], failed[1024] = "";
	size_t i, len = 0;

	if (!json_object_get(w, "closed_at"))
		snprintf(state, sizeof(state), "open");
	else if (!rep)
		snprintf(state, sizeof(state), "no rules");
	else if (alert)
		snprintf(state, sizeof(state), "ALERT %s%s",
			 json_string_value(json_object_get(alert, "alert_id")),
			 json_object_get(alert, "acknowledged_at") ? " (acknowledged)" : "");
	else
		snprintf(state, sizeof(state), "passed");
	json_array_foreach(json_object_get(rep, "rules"), i, it) {
		const char *st = json_string_value(json_object_get(it, "status"));

		if (st && strcmp(st, "pass"))
			add_rule(failed, sizeof(failed), &len,
				 json_string_value(json_object_get(it, "rule")),
				 strcmp(st, "fail") ? " (error)" : "");
	}
	{
		const char *cells[4] = { when, rows, state, failed };

		return cli_table_add(ct, cells);
	}
}

static int cmd_mon_show(int argc, char **argv)
{
	char name[1024];
	const char *alias, *version, *q[7];
	struct cli_fail f;
	json_t *r = NULL, *w, *c;
	struct cli_table t = { 0 }, qt = { 0 }, ct = { 0 };
	size_t i;
	int rc, nq = 0;

	if ((rc = cli_parse(&show_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if ((rc = parse_ref(s_ref, name, sizeof(name), &alias, &version)))
		return rc;
	q[0] = "name";
	q[1] = name;
	q[2] = alias ? "alias" : "version";
	q[3] = alias ? alias : version;
	q[4] = s_max ? "max_windows" : NULL;
	q[5] = s_max;
	q[6] = NULL;
	if (cli_client_init(&f) || cli_api("GET", EXT "monitor/get", q, NULL, &r, &f))
		return cli_fail_report(&f);
	if (s_json) {
		json_dumpf(r, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(r);
		return CLI_OK;
	}
	printf("%s version %s: reference of %lld rows\n",
	       json_string_value(json_object_get(r, "name")),
	       json_string_value(json_object_get(r, "version")),
	       (long long)json_integer_value(json_object_get(r, "reference_rows")));
	if (json_array_size(json_object_get(r, "windows")) == 0) {
		printf("\nno observations yet: send some with `mltrack monitor log %s --file F`\n",
		       s_ref);
		json_decref(r);
		return CLI_OK;
	}
	{
		const char *h[] = { "WINDOW", "ROWS", "COLUMN", "TYPE", "PSI", "KS", "CHI2",
				    "MISSING", "CHANGE" };
		const char *hq[] = { "WINDOW", "LABELS", "ACCURACY", "F1_MACRO", "RMSE", "MAE" };
		const char *hc[] = { "WINDOW", "ROWS", "CHECK", "FAILED" };

		if (cli_table_init(&t, 9, h) || cli_table_init(&qt, 6, hq) ||
		    cli_table_init(&ct, 4, hc)) {
			rc = cli_error(CLI_USAGE, "out of memory");
			goto out;
		}
	}
	json_array_foreach(json_object_get(r, "windows"), i, w) {
		char when[64], rows[32], b[6][48];
		const char *k;
		json_t *qu = json_object_get(w, "quality");

		cli_local_time(when, sizeof(when), json_object_get(w, "start"));
		snprintf(rows, sizeof(rows), "%lld",
			 (long long)json_integer_value(json_object_get(w, "rows")));
		json_object_foreach(json_object_get(w, "columns"), k, c) {
			const char *cells[9] = {
				when, rows, k, json_string_value(json_object_get(c, "type")),
				num(b[0], sizeof(b[0]), json_object_get(c, "psi"), "%.4f"),
				num(b[1], sizeof(b[1]), json_object_get(c, "ks"), "%.4f"),
				num(b[2], sizeof(b[2]), json_object_get(c, "chi2"), "%.2f"),
				num(b[3], sizeof(b[3]), json_object_get(c, "missing_rate"), "%.3f"),
				num(b[4], sizeof(b[4]), json_object_get(c, "missing_rate_change"),
				    "%+.3f"),
			};

			if (cli_table_add(&t, cells)) {
				rc = cli_error(CLI_USAGE, "out of memory");
				goto out;
			}
		}
		if (qu) {
			char labels[32];
			const char *cells[6] = {
				when, labels,
				num(b[0], sizeof(b[0]), json_object_get(qu, "accuracy"), "%.4f"),
				num(b[1], sizeof(b[1]), json_object_get(qu, "f1_macro"), "%.4f"),
				num(b[2], sizeof(b[2]), json_object_get(qu, "rmse"), "%.4g"),
				num(b[3], sizeof(b[3]), json_object_get(qu, "mae"), "%.4g"),
			};

			snprintf(labels, sizeof(labels), "%lld",
				 (long long)json_integer_value(json_object_get(qu, "labels")));
			if (cli_table_add(&qt, cells)) {
				rc = cli_error(CLI_USAGE, "out of memory");
				goto out;
			}
			nq++;
		}
		if (window_check(&ct, w, when, rows)) {
			rc = cli_error(CLI_USAGE, "out of memory");
			goto out;
		}
	}
	putchar('\n');
	cli_table_print(&t, stdout);
	if (nq) {
		putchar('\n');
		cli_table_print(&qt, stdout);
	}
	putchar('\n');
	cli_table_print(&ct, stdout);
	rc = CLI_OK;
out:
	cli_table_release(&t);
	cli_table_release(&qt);
	cli_table_release(&ct);
	json_decref(r);
	return rc;
}

/* ---- rules ---- */

static const char *r_name;
static struct cli_list r_rules;
static int r_clear, r_json;

static const struct cli_opt rules_opts[] = {
	{ CLI_OPT_ARG, &r_name, 0, "NAME", NULL, CLI_OPT_REQUIRED, "the registered model" },
	{ CLI_OPT_LIST, &r_rules, 0, "rule", "RULE", 0,
	  "an alert rule (repeat for more): replaces the model's rules" },
	{ CLI_OPT_SWITCH, &r_clear, 0, "clear", NULL, 0, "remove the model's alert rules" },
	{ CLI_OPT_SWITCH, &r_json, 0, "json", NULL, 0, "print the server's answer as JSON" },
	OPTS_END,
};

static const struct cli_spec rules_spec = {
	"monitor rules", "Show or set a registered model's alert rules.", rules_opts,
	"Alert rules are gate rules (docs/registry.md) with two more spaces:\n"
	"drift.STAT(FEATURE), STAT one of psi, ks, chi2 and missing, and live.KEY\n"
	"(rows, labels, accuracy, f1, rmse, mae); champion.* is the monitored\n"
	"version's own training run.  They are checked once for each window of\n"
	"every monitored version of the model, when the window closes; a failing\n"
	"rule fires one alert for the window (the webhook event monitor_alert.fired).\n"
	"  mltrack monitor rules churn --rule 'drift.psi(age) < 0.2' \\\n"
	"      --rule 'live.accuracy >= champion.metrics.val_acc - 0.03'\n"
	"Without --rule or --clear the rules are shown.",
	0,
};

static int mon_rules(void)
{
	struct cli_fail f;
	json_t *r = NULL, *body, *list, *x;
	const char *q[3];
	char err[512];
	size_t i;
	int rc;

	if (r_clear && r_rules.n)
		return cli_error(CLI_USAGE, "give --rule or --clear, not both");
	if (r_rules.n && mt_gate_validate_alert(r_rules.v, (size_t)r_rules.n, err, sizeof(err)))
		return cli_error(CLI_USAGE, "%s", err);
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	if (r_clear || r_rules.n) {
		list = json_array();
		for (int k = 0; k < r_rules.n; k++)
			json_array_append_new(list, json_string(r_rules.v[k]));
		body = json_pack("{s:s, s:o}", "name", r_name, "rules", list);
		rc = cli_api("POST", EXT "monitor/alert-rules/set", NULL, body, &r, &f);
		json_decref(body);
	} else {
		q[0] = "name";
		q[1] = r_name;
		q[2] = NULL;
		rc = cli_api("GET", EXT "monitor/alert-rules/get", q, NULL, &r, &f);
	}
	if (rc)
		return cli_fail_report(&f);
	if (r_json) {
		json_dumpf(r, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (json_array_size(json_object_get(r, "rules")) == 0) {
		printf("%s has no alert rules\n", r_name);
	} else {
		json_array_foreach(json_object_get(r, "rules"), i, x)
			printf("%s\n", json_string_value(x));
	}
	json_decref(r);
	return CLI_OK;
}

static int cmd_mon_rules(int argc, char **argv)
{
	int rc = cli_parse(&rules_spec, argc, argv);

	if (rc == 0)
		rc = mon_rules();
	else if (rc < 0)
		rc = CLI_OK;
	cli_list_free(&r_rules);
	return rc;
}

/* ---- alerts ---- */

static const char *a_ref, *a_max;
static int a_all, a_json;

static const struct cli_opt alerts_opts[] = {
	{ CLI_OPT_ARG, &a_ref, 0, "MODEL", NULL, CLI_OPT_REQUIRED,
	  "NAME, NAME@ALIAS, NAME@STAGE or NAME/VERSION" },
	{ CLI_OPT_SWITCH, &a_all, 'a', "all", NULL, 0, "acknowledged alerts too" },
	{ CLI_OPT_VALUE, &a_max, 'n', "max", "N", 0, "the newest N alerts (default 100)" },
	{ CLI_OPT_SWITCH, &a_json, 0, "json", NULL, 0, "print the server's answer as JSON" },
	OPTS_END,
};

static const struct cli_spec alerts_spec = {
	"monitor alerts", "A model's monitoring alerts, newest first.", alerts_opts,
	"One line per alert: its id, the version, the window, and the rules that\n"
	"failed.  Open alerts only, unless --all; `mltrack monitor ack NAME ID`\n"
	"acknowledges one.  With NAME@ALIAS or NAME/VERSION, that version's only.",
	0,
};

static int cmd_mon_alerts(int argc, char **argv)
{
	char name[1024];
	const char *alias = NULL, *version = NULL, *q[9];
	struct cli_fail f;
	json_t *r = NULL, *a, *x;
	struct cli_table t = { 0 };
	size_t i, k;
	int rc, nq = 0;

	if ((rc = cli_parse(&alerts_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (strchr(a_ref, '@') || strchr(a_ref, '/')) {
		if ((rc = parse_ref(a_ref, name, sizeof(name), &alias, &version)))
			return rc;
	} else {
		snprintf(name, sizeof(name), "%s", a_ref);
	}
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	q[nq++] = "name";
	q[nq++] = name;
	if (version || alias) {
		q[nq++] = version ? "version" : "alias";
		q[nq++] = version ? version : alias;
	}
	if (a_all) {
		q[nq++] = "include_acknowledged";
		q[nq++] = "true";
	}
	if (a_max) {
		q[nq++] = "max_results";
		q[nq++] = a_max;
	}
	q[nq] = NULL;
	if (cli_api("GET", EXT "monitor/alerts/list", q, NULL, &r, &f))
		return cli_fail_report(&f);
	if (a_json) {
		json_dumpf(r, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(r);
		return CLI_OK;
	}
	if (json_array_size(json_object_get(r, "alerts")) == 0) {
		printf("no %salerts for %s\n", a_all ? "" : "open ", a_ref);
		json_decref(r);
		return CLI_OK;
	}
	{
		const char *h[] = { "ALERT", "VERSION", "WINDOW", "ROWS", "FAILED", "ACKNOWLEDGED" };

		if (cli_table_init(&t, 6, h)) {
			json_decref(r);
			return cli_error(CLI_USAGE, "out of memory");
		}
	}
	rc = CLI_OK;
	json_array_foreach(json_object_get(r, "alerts"), i, a) {
		char when[64], rows[32], failed[2048] = "", acked[64] = "no";
		size_t used = 0;
		const char *cells[6];

		cli_local_time(when, sizeof(when), json_object_get(a, "window_start"));
		snprintf(rows, sizeof(rows), "%lld", (long long)json_integer_value(
			json_object_get(json_object_get(a, "report"), "rows")));
		json_array_foreach(json_object_get(a, "failed"), k, x)
			add_rule(failed, sizeof(failed), &used, json_string_value(x), "");
		if (json_object_get(a, "acknowledged_at"))
			cli_local_time(acked, sizeof(acked), json_object_get(a, "acknowledged_at"));
		cells[0] = json_string_value(json_object_get(a, "alert_id"));
		cells[1] = json_string_value(json_object_get(a, "version"));
		cells[2] = when;
		cells[3] = rows;
		cells[4] = failed;
		cells[5] = acked;
		if (cli_table_add(&t, cells)) {
			rc = cli_error(CLI_USAGE, "out of memory");
			break;
		}
	}
	if (rc == CLI_OK)
		cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(r);
	return rc;
}

/* ---- ack ---- */

static const char *k_name, *k_id;

static const struct cli_opt ack_opts[] = {
	{ CLI_OPT_ARG, &k_name, 0, "NAME", NULL, CLI_OPT_REQUIRED, "the registered model" },
	{ CLI_OPT_ARG, &k_id, 0, "ALERT", NULL, CLI_OPT_REQUIRED, "the alert's id" },
	OPTS_END,
};

static const struct cli_spec ack_spec = {
	"monitor ack", "Acknowledge a monitoring alert: it is no longer open.", ack_opts,
	NULL, 0,
};

static int cmd_mon_ack(int argc, char **argv)
{
	struct cli_fail f;
	json_t *r = NULL, *body;
	int rc;

	if ((rc = cli_parse(&ack_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	body = json_pack("{s:s, s:s}", "name", k_name, "alert_id", k_id);
	rc = cli_api("POST", EXT "monitor/alerts/acknowledge", NULL, body, &r, &f);
	json_decref(body);
	if (rc)
		return cli_fail_report(&f);
	printf("alert %s acknowledged (by %s)\n", k_id,
	       *json_string_value(json_object_get(r, "acknowledged_by")) ?
	       json_string_value(json_object_get(r, "acknowledged_by")) : "anonymous");
	json_decref(r);
	return CLI_OK;
}

static const struct cli_sub subs[] = {
	{ "log", cmd_mon_log, "send served observations (JSON lines) to a version's live windows" },
	{ "show", cmd_mon_show, "drift and quality of a version's live windows" },
	{ "rules", cmd_mon_rules, "show or set a model's alert rules" },
	{ "alerts", cmd_mon_alerts, "a model's monitoring alerts, newest first" },
	{ "ack", cmd_mon_ack, "acknowledge an alert" },
	{ NULL, NULL, NULL },
};

int cmd_monitor(int argc, char **argv)
{
	int rc = cli_group("monitor", "Monitor deployed model versions: drift and quality.", subs,
			   argc, argv);

	cli_client_cleanup();
	return rc;
}
