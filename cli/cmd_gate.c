/*
 * cmd_gate.c: mltrack gate set|show|check.
 *
 * A gate is the list of rules a version must pass to enter a stage
 * (DESIGN §8).  The server stores it and evaluates it on every transition
 * into the stage; `gate check` asks the server for the same evaluation
 * without changing anything and renders the report with lib/mt_gate.c, so
 * what CI prints is what a promotion would decide.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "mt_gate.h"

#define OPTS_END { 0, NULL, 0, NULL, NULL, 0, NULL }
#define EXT "/api/2.0/mltrack/"

/* ---- set ---- */

static const char *g_name, *g_to;
static struct cli_list g_rules;

static const struct cli_opt set_opts[] = {
	{ CLI_OPT_ARG, &g_name, 0, "NAME", NULL, CLI_OPT_REQUIRED, "the registered model" },
	{ CLI_OPT_VALUE, &g_to, 0, "to", "STAGE", CLI_OPT_REQUIRED,
	  "the stage it guards: staging, production or archived" },
	{ CLI_OPT_LIST, &g_rules, 0, "rule", "RULE", 0,
	  "a rule every version entering the stage must pass (repeatable)" },
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
	"The rules replace the stage's previous ones; no --rule removes the gate.\n"
	"A rule that does not parse is refused here (exit 2), before anything is sent.",
	0,
};

static int cmd_set(int argc, char **argv)
{
	struct cli_fail f;
	char err[512];
	const char *stage;
	json_t *body, *rules;
	int rc;

	if ((rc = cli_parse(&set_spec, argc, argv)))
		goto out;
	if (!(stage = cli_stage_name(g_to, 0))) {
		rc = cli_error(CLI_USAGE, "--to '%s': expected staging, production or archived", g_to);
		goto out;
	}
	if (mt_gate_validate(g_rules.v, (size_t)g_rules.n, err, sizeof(err))) {
		rc = cli_error(CLI_USAGE, "%s", err);
		goto out;
	}
	rules = json_array();
	for (int i = 0; i < g_rules.n; i++)
		json_array_append_new(rules, json_string(g_rules.v[i]));
	body = json_pack("{s:s, s:s, s:o}", "name", g_name, "stage", stage, "rules", rules);
	if (cli_client_init(&f) || cli_api("POST", EXT "gates/set", NULL, body, NULL, &f)) {
		json_decref(body);
		rc = cli_fail_report(&f);
		goto out;
	}
	json_decref(body);
	if (!cli_quiet) {
		if (g_rules.n)
			fprintf(stderr, "%s: %d rule%s guard %s\n", g_name, g_rules.n,
				g_rules.n == 1 ? "" : "s", stage);
		else
			fprintf(stderr, "%s: no gate guards %s any more\n", g_name, stage);
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
	"gate show", "Show the gates of a model, one per stage.", show_opts, NULL, 0,
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
		printf("%s:\n", json_string_value(json_object_get(g, "stage")));
		json_array_foreach(json_object_get(g, "rules"), k, rule)
			printf("  %s\n", json_string_value(rule));
	}
	json_decref(r);
	return CLI_OK;
}

/* ---- check ---- */

static const char *c_name, *c_version, *c_to, *c_format;

static const struct cli_opt check_opts[] = {
	{ CLI_OPT_ARG, &c_name, 0, "NAME", NULL, CLI_OPT_REQUIRED, "the registered model" },
	{ CLI_OPT_ARG, &c_version, 0, "VERSION", NULL, CLI_OPT_REQUIRED, "the candidate version" },
	{ CLI_OPT_VALUE, &c_to, 0, "to", "STAGE", CLI_OPT_REQUIRED,
	  "the stage it would enter: staging, production or archived" },
	{ CLI_OPT_VALUE, &c_format, 0, "format", "text|json|junit|markdown", 0,
	  "how to print the report (default: text)" },
	OPTS_END,
};

static const struct cli_spec check_spec = {
	"gate check", "Evaluate a stage's gate for a version, changing nothing.", check_opts,
	"The server evaluates the gate exactly as a promotion would, against the\n"
	"version that holds the stage now, and the report goes to stdout: text for a\n"
	"terminal, json, junit (a test report CI systems display) or markdown (a\n"
	"table ready to paste into a pull-request comment, with links to the runs).\n"
	"Exit status: 0 the gate passes, 1 it fails, 2 usage, 3 server error.",
	0,
};

static int cmd_check(int argc, char **argv)
{
	enum mt_gate_format fmt = MT_GATE_TEXT;
	struct cli_fail f;
	const char *stage;
	json_t *body, *r = NULL, *rep;
	char *out;
	int rc;

	if ((rc = cli_parse(&check_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (!(stage = cli_stage_name(c_to, 0)))
		return cli_error(CLI_USAGE, "--to '%s': expected staging, production or archived", c_to);
	if (c_format && mt_gate_format_parse(c_format, &fmt))
		return cli_error(CLI_USAGE, "option '--format': '%s' is not text, json, junit or "
					    "markdown", c_format);
	if (strspn(c_version, "0123456789") != strlen(c_version) || !*c_version)
		return cli_error(CLI_USAGE, "VERSION '%s' is not a version number", c_version);
	body = json_pack("{s:s, s:s, s:s}", "name", c_name, "version", c_version, "stage", stage);
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

static const struct cli_sub subs[] = {
	{ "set", cmd_set, "set (or remove) the rules guarding a stage" },
	{ "show", cmd_show, "show a model's gates" },
	{ "check", cmd_check, "evaluate a gate for a version without promoting it" },
	{ NULL, NULL, NULL },
};

int cmd_gate(int argc, char **argv)
{
	int rc = cli_group("gate", "Promotion gates: rules a version must pass to enter a stage.",
			   subs, argc, argv);

	cli_client_cleanup();
	return rc;
}
