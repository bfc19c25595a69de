/*
 * cmd_gate.c: mltrack gate set|show|check|history.
 *
 * A gate is the list of rules a version must pass to enter a stage
 * (DESIGN §8), or before an alias may point at it (--to @ALIAS).  The
 * server stores it and evaluates it on every transition into the stage and
 * every move of the alias; `gate check` asks the server for the same
 * evaluation without changing anything and renders the report with
 * lib/mt_gate.c, so what CI prints is what a promotion would decide.
 * Every change of a gate is kept in the model's audit trail, which
 * `gate history` shows with the rules before and after.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "mt_gate.h"

#define OPTS_END { 0, NULL, 0, NULL, NULL, 0, NULL }
#define EXT "/api/2.0/mltrack/"

/* The target of --to into body ("stage": canonical, or "alias"); returns
 * how messages name it ("Production", "@champion"), or NULL after a usage
 * error. */
static const char *target_arg(const char *to, json_t *body)
{
	const char *stage;

	if (to[0] == '@') {
		if (!to[1]) {
			cli_error(CLI_USAGE, "--to '@': expected @ALIAS");
			return NULL;
		}
		if ((stage = cli_stage_name(to + 1, 1))) {
			cli_error(CLI_USAGE, "--to '%s': %s is a stage, not an alias: write --to %s",
				  to, stage, to + 1);
			return NULL;
		}
		json_object_set_new(body, "alias", json_string(to + 1));
		return to;
	}
	if (!(stage = cli_stage_name(to, 0))) {
		cli_error(CLI_USAGE, "--to '%s': expected staging, production, archived or @ALIAS",
			  to);
		return NULL;
	}
	json_object_set_new(body, "stage", json_string(stage));
	return stage;
}

/* ---- set ---- */

static const char *g_name, *g_to, *g_reason;
static struct cli_list g_rules;

static const struct cli_opt set_opts[] = {
	{ CLI_OPT_ARG, &g_name, 0, "NAME", NULL, CLI_OPT_REQUIRED, "the registered model" },
	{ CLI_OPT_VALUE, &g_to, 0, "to", "STAGE|@ALIAS", CLI_OPT_REQUIRED,
	  "what it guards: staging, production, archived, or an alias (@champion)" },
	{ CLI_OPT_LIST, &g_rules, 0, "rule", "RULE", 0,
	  "a rule every version must pass to enter the stage or take the alias (repeatable)" },
	{ CLI_OPT_VALUE, &g_reason, 0, "reason", "TEXT", 0,
	  "why (kept with the change in the model's history)" },
	OPTS_END,
};

static const struct cli_spec set_spec = {
	"gate set", "Set the rules a version must pass to enter a stage.", set_opts,
	"Rules compare the candidate's run and bundle with constants, or with the\n"
	"version that holds the stage now (champion.):\n"
	"  metrics.val_accuracy >= 0.92\n"
	"  metrics.val_loss <= champion.metrics.val_loss * 1.01\n"
	"  params.dataset == champion.params.dataset\n"
	"  tags.reviewed == \"true\"\n"
	"  git.dirty == false\n"
	"  bundle.verified\n"
	"The rules replace the previous ones; no --rule removes the gate.  Every\n"
	"change is recorded with the rules before and after (mltrack gate history).\n"
	"With --to @ALIAS the champion is the version the alias points at now.\n"
	"A rule that does not parse, or nests deeper than 32 levels or holds more\n"
	"than 128 operands and operators, is refused here (exit 2), before anything\n"
	"is sent.",
	0,
};

static int cmd_set(int argc, char **argv)
{
	struct cli_fail f;
	char err[512];
	const char *label;
	json_t *body = NULL, *rules;
	int rc;

	if ((rc = cli_parse(&set_spec, argc, argv)))
		goto out;
	body = json_pack("{s:s}", "name", g_name);
	if (!(label = target_arg(g_to, body))) {
		json_decref(body);
		rc = CLI_USAGE;
		goto out;
	}
	if (mt_gate_validate(g_rules.v, (size_t)g_rules.n, err, sizeof(err))) {
		json_decref(body);
		rc = cli_error(CLI_USAGE, "%s", err);
		goto out;
	}
	rules = json_array();
	for (int i = 0; i < g_rules.n; i++)
		json_array_append_new(rules, json_string(g_rules.v[i]));
	json_object_set_new(body, "rules", rules);
	if (g_reason)
		json_object_set_new(body, "reason", json_string(g_reason));
	if (cli_client_init(&f) || cli_api("POST", EXT "gates/set", NULL, body, NULL, &f)) {
		json_decref(body);
		rc = cli_fail_report(&f);
		goto out;
	}
	json_decref(body);
	if (!cli_quiet) {
		if (g_rules.n)
			fprintf(stderr, "%s: %d rule%s guard %s\n", g_name, g_rules.n,
				g_rules.n == 1 ? "" : "s", label);
		else
			fprintf(stderr, "%s: no gate guards %s any more\n", g_name, label);
	}
	rc = CLI_OK;
out:
	cli_list_free(&g_rules);
	return rc < 0 ? CLI_OK : rc;
}

/* ---- show ---- */

static const char *w_name;

static const struct cli_opt show_opts[] = {
	{ CLI_OPT_ARG, &w_name, 0, "NAME", NULL, CLI_OPT_REQUIRED, "the registered model" },
	OPTS_END,
};

static const struct cli_spec show_spec = {
	"gate show", "Show the gates of a model: one per stage, then one per alias.", show_opts,
	NULL, 0,
};

static int cmd_show(int argc, char **argv)
{
	const char *q[] = { "name", NULL, NULL };
	struct cli_fail f;
	json_t *r = NULL, *g, *rule;
	size_t i, k;
	int rc;

	if ((rc = cli_parse(&show_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	q[1] = w_name;
	if (cli_client_init(&f) || cli_api("GET", EXT "gates/get", q, NULL, &r, &f))
		return cli_fail_report(&f);
	if (json_array_size(json_object_get(r, "gates")) == 0 && !cli_quiet)
		fprintf(stderr, "%s has no gates: try `mltrack gate set %s --to production --rule "
				"'metrics.accuracy >= 0.9'`\n", w_name, w_name);
	json_array_foreach(json_object_get(r, "gates"), i, g) {
		const char *stage = json_string_value(json_object_get(g, "stage"));

		if (stage)
			printf("%s:\n", stage);
		else
			printf("@%s:\n", json_string_value(json_object_get(g, "alias")));
		json_array_foreach(json_object_get(g, "rules"), k, rule) {
			fputs("  ", stdout);
			cli_print_safe(stdout, json_string_value(rule));
			putchar('\n');
		}
	}
	json_decref(r);
	return CLI_OK;
}

/* ---- check ---- */

static const char *c_name, *c_version, *c_to, *c_format;

static const struct cli_opt check_opts[] = {
	{ CLI_OPT_ARG, &c_name, 0, "NAME", NULL, CLI_OPT_REQUIRED, "the registered model" },
	{ CLI_OPT_ARG, &c_version, 0, "VERSION", NULL, CLI_OPT_REQUIRED, "the candidate version" },
	{ CLI_OPT_VALUE, &c_to, 0, "to", "STAGE|@ALIAS", CLI_OPT_REQUIRED,
	  "the stage it would enter (staging, production, archived) or the alias it would take" },
	{ CLI_OPT_VALUE, &c_format, 0, "format", "text|json|junit|markdown", 0,
	  "how to print the report (default: text)" },
	OPTS_END,
};

static const struct cli_spec check_spec = {
	"gate check", "Evaluate a stage's gate for a version, changing nothing.", check_opts,
	"The server evaluates the gate exactly as a promotion would, against the\n"
	"version that holds the stage (or the alias) now, and the report goes to stdout: text for a\n"
	"terminal, json, junit (a test report CI systems display) or markdown (a\n"
	"table ready to paste into a pull-request comment, with links to the runs).\n"
	"Exit status: 0 the gate passes, 1 it fails, 2 usage, 3 server error.",
	0,
};

static int cmd_check(int argc, char **argv)
{
	enum mt_gate_format fmt = MT_GATE_TEXT;
	struct cli_fail f;
	json_t *body, *r = NULL, *rep;
	char *out;
	int rc;

	if ((rc = cli_parse(&check_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (c_format && mt_gate_format_parse(c_format, &fmt))
		return cli_error(CLI_USAGE, "option '--format': '%s' is not text, json, junit or "
					    "markdown", c_format);
	if (strspn(c_version, "0123456789") != strlen(c_version) || !*c_version)
		return cli_error(CLI_USAGE, "VERSION '%s' is not a version number", c_version);
	body = json_pack("{s:s, s:s}", "name", c_name, "version", c_version);
	if (!target_arg(c_to, body)) {
		json_decref(body);
		return CLI_USAGE;
	}
	if (cli_client_init(&f) || cli_api("POST", EXT "gates/check", NULL, body, &r, &f)) {
		json_decref(body);
		return cli_fail_report(&f);
	}
	json_decref(body);
	rep = json_object_get(r, "report");
	if (!json_is_object(rep)) {
		json_decref(r);
		return cli_error(CLI_SERVER, "the server's answer to gates/check has no report");
	}
	out = mt_gate_render(rep, fmt, cli_tracking_uri);
	if (!out) {
		json_decref(r);
		return cli_error(CLI_USAGE, "out of memory");
	}
	fputs(out, stdout);
	free(out);
	rc = json_is_true(json_object_get(rep, "passed")) ? CLI_OK : CLI_CHECK_FAILED;
	json_decref(r);
	return rc;
}

/* ---- history ---- */

static const char *h_name, *h_format;

static const struct cli_opt history_opts[] = {
	{ CLI_OPT_ARG, &h_name, 0, "NAME", NULL, CLI_OPT_REQUIRED, "the registered model" },
	{ CLI_OPT_VALUE, &h_format, 0, "format", "text|json", 0, "output format (default: text)" },
	OPTS_END,
};

static const struct cli_spec history_spec = {
	"gate history", "Every change of a model's gates, oldest first, with the rules.",
	history_opts,
	"One entry per change: when, what it guards, created, replaced or removed, who,\n"
	"the reason, then the rules it removed (-) and the rules it set (+).  The\n"
	"server keeps this trail append-only; `mltrack model history` shows it with\n"
	"the promotions and alias moves.",
	0,
};

static void print_rules(const char *mark, const json_t *rules)
{
	const json_t *r;
	size_t i;

	json_array_foreach(rules, i, r) {
		printf("  %s ", mark);
		cli_print_safe(stdout, json_string_value(r));
		putchar('\n');
	}
}

static int cmd_history(int argc, char **argv)
{
	const char *q[] = { "name", NULL, "kind", "gate", NULL };
	struct cli_fail f;
	json_t *r = NULL, *e;
	size_t i;
	int rc;

	if ((rc = cli_parse(&history_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (h_format && strcmp(h_format, "text") && strcmp(h_format, "json"))
		return cli_error(CLI_USAGE, "option '--format': '%s' is not text or json", h_format);
	q[1] = h_name;
	if (cli_client_init(&f) ||
	    cli_api("GET", EXT "registered-models/history", q, NULL, &r, &f))
		return cli_fail_report(&f);
	if (h_format && strcmp(h_format, "json") == 0) {
		json_dumpf(json_object_get(r, "events"), stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(r);
		return CLI_OK;
	}
	if (json_array_size(json_object_get(r, "events")) == 0 && !cli_quiet)
		fprintf(stderr, "%s: no gate has been set yet\n", h_name);
	json_array_foreach(json_object_get(r, "events"), i, e) {
		const char *stage = json_string_value(json_object_get(e, "to_stage"));
		const char *alias = json_string_value(json_object_get(e, "alias"));
		const char *reason = json_string_value(json_object_get(e, "reason"));
		char at[32];

		cli_local_time(at, sizeof(at), json_object_get(e, "timestamp"));
		printf("%s  %s%s  %s by ", at, stage ? "" : "@", stage ? stage : alias ? alias : "?",
		       json_string_value(json_object_get(e, "outcome")));
		cli_print_safe(stdout, json_string_value(json_object_get(e, "actor")));
		if (reason) {
			fputs(": ", stdout);
			cli_print_safe(stdout, reason);
		}
		putchar('\n');
		print_rules("-", json_object_get(e, "rules_before"));
		print_rules("+", json_object_get(e, "rules_after"));
	}
	json_decref(r);
	return CLI_OK;
}

static const struct cli_sub subs[] = {
	{ "set", cmd_set, "set (or remove) the rules guarding a stage or an alias" },
	{ "show", cmd_show, "show a model's gates" },
	{ "check", cmd_check, "evaluate a gate for a version without promoting it" },
	{ "history", cmd_history, "every change of a model's gates, with the rules" },
	{ NULL, NULL, NULL },
};

int cmd_gate(int argc, char **argv)
{
	int rc = cli_group("gate", "Promotion gates: rules a version must pass to enter a stage "
			   "or take an alias.", subs, argc, argv);

	cli_client_cleanup();
	return rc;
}
