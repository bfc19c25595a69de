/*
 * cmd_experiments.c: mltrack experiments list|create.
 *
 * list pages through experiments/search (the server's order: newest first)
 * and prints a table, or the experiments as the server sent them (--format
 * json).  create prints only the new experiment's id on stdout, so that
 * scripts can write EXP=$(mltrack experiments create NAME).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mt_limits.h"
#include "mt_validate.h"

#define OPTS_END { 0, NULL, 0, NULL, NULL, 0, NULL }

/* ---- list ---- */

/* Experiments per page: the server's maximum is far higher, but a page of
 * this size keeps every answer small. */
#define PAGE_SIZE 1000

static int l_all;
static const char *l_format;

static const struct cli_opt list_opts[] = {
	{ CLI_OPT_SWITCH, &l_all, 'a', "all", NULL, 0,
	  "include deleted experiments (and show a lifecycle column)" },
	{ CLI_OPT_VALUE, &l_format, 0, "format", "table|json", 0,
	  "output format (default: table)" },
	OPTS_END,
};

static const struct cli_spec list_spec = {
	"experiments list", "List experiments, newest first.", list_opts,
	"The table has the id, the name, the lifecycle stage (with --all only), the\n"
	"artifact location and the creation time in local time.  --format json\n"
	"prints a JSON array of the experiments as the server describes them (id,\n"
	"name, artifact_location, lifecycle_stage, creation_time, tags ...).",
	0,
};

/* Every experiment, page after page, appended to out. */
static int fetch_all(json_t *out, int all, struct cli_fail *f)
{
	char *token = NULL;
	int rc = 0;

	do {
		json_t *body = json_pack("{s:i, s:s}", "max_results", PAGE_SIZE, "view_type",
					 all ? "ALL" : "ACTIVE_ONLY");
		json_t *r = NULL, *page, *next;

		if (body && token)
			json_object_set_new(body, "page_token", json_string(token));
		free(token);
		token = NULL;
		if (!body) {
			rc = cli_fail_set(f, CLI_USAGE, "out of memory");
			break;
		}
		rc = cli_api("POST", "/api/2.0/mlflow/experiments/search", NULL, body, &r, f);
		json_decref(body);
		if (rc)
			break;
		page = json_object_get(r, "experiments");
		if (json_is_array(page))
			json_array_extend(out, page);
		next = json_object_get(r, "next_page_token");
		if (json_is_string(next) && json_string_length(next) &&
		    !(token = strdup(json_string_value(next))))
			rc = cli_fail_set(f, CLI_USAGE, "out of memory");
		json_decref(r);
	} while (!rc && token);
	free(token);
	return rc;
}

/* Columns of the table. */
enum { C_ID, C_NAME, C_STAGE, C_LOC, C_CREATED, NCOL };

static const char *const headers[NCOL] = { "ID", "NAME", "LIFECYCLE", "ARTIFACT_LOCATION",
					   "CREATED" };

/* Characters on screen of a UTF-8 string (continuation bytes don't count). */
static size_t width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* s with control characters shown as '?', so one experiment stays one line
 * (malloc'd). */
static char *printable(const char *s)
{
	char *out = strdup(s ? s : "");

	for (char *p = out; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return out;
}

static int print_table(json_t *exps, int all)
{
	size_t n = json_array_size(exps), w[NCOL] = { 0 }, i;
	char **cell = calloc(n * NCOL + 1, sizeof(*cell));
	int rc = CLI_OK;
	json_t *e;

	if (!cell)
		return cli_error(CLI_USAGE, "out of memory");
	for (int c = 0; c < NCOL; c++)
		w[c] = width(headers[c]);
	json_array_foreach(exps, i, e) {
		char **row = cell + i * NCOL, when[32];

		cli_local_time(when, sizeof(when), json_object_get(e, "creation_time"));
		row[C_ID] = printable(json_string_value(json_object_get(e, "experiment_id")));
		row[C_NAME] = printable(json_string_value(json_object_get(e, "name")));
		row[C_STAGE] = printable(json_string_value(json_object_get(e, "lifecycle_stage")));
		row[C_LOC] = printable(json_string_value(json_object_get(e, "artifact_location")));
		row[C_CREATED] = strdup(when);
		for (int c = 0; c < NCOL; c++) {
			if (!row[c]) {
				rc = cli_error(CLI_USAGE, "out of memory");
				goto out;
			}
			if (width(row[c]) > w[c])
				w[c] = width(row[c]);
		}
	}
	for (size_t r = 0; r <= n; r++) {
		const char *const *row = r ? (const char *const *)cell + (r - 1) * NCOL : headers;

		for (int c = 0; c < NCOL; c++) {
			if (c == C_STAGE && !all)
				continue;
			fputs(row[c], stdout);
			if (c == C_CREATED)
				break;
			for (size_t k = width(row[c]); k < w[c] + 2; k++)
				putchar(' ');
		}
		putchar('\n');
	}
out:
	for (i = 0; i < n * NCOL; i++)
		free(cell[i]);
	free(cell);
	return rc;
}

static int cmd_list(int argc, char **argv)
{
	struct cli_fail f;
	json_t *exps;
	int rc, json;

	if ((rc = cli_parse(&list_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (l_format && strcmp(l_format, "table") != 0 && strcmp(l_format, "json") != 0)
		return cli_error(CLI_USAGE, "option '--format': '%s' is not table or json", l_format);
	json = l_format && strcmp(l_format, "json") == 0;
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	if (!(exps = json_array()))
		return cli_error(CLI_USAGE, "out of memory");
	if (fetch_all(exps, l_all, &f)) {
		json_decref(exps);
		return cli_fail_report(&f);
	}
	if (json) {
		json_dumpf(exps, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		rc = print_table(exps, l_all);
	}
	json_decref(exps);
	return rc;
}

/* ---- create ---- */

static const char *c_name, *c_location;
static struct cli_list c_tags;

static const struct cli_opt create_opts[] = {
	{ CLI_OPT_ARG, &c_name, 0, "NAME", NULL, CLI_OPT_REQUIRED,
	  "the experiment's name (unique; at most 500 bytes)" },
	{ CLI_OPT_VALUE, &c_location, 0, "artifact-location", "URI", 0,
	  "where its runs keep artifacts (default: the server's store)" },
	{ CLI_OPT_LIST, &c_tags, 't', "tag", "KEY=VALUE", 0, "set a tag (repeatable)" },
	OPTS_END,
};

static const struct cli_spec create_spec = {
	"experiments create", "Create an experiment and print its id.", create_opts,
	"Only the id goes to stdout: EXP=$(mltrack experiments create NAME).  A name\n"
	"that is taken (by a deleted experiment too) is refused by the server: exit 3.",
	0,
};

/* The -t pairs as MLflow's [{key, value}], or NULL after printing why not. */
static json_t *tags_json(void)
{
	json_t *tags = json_array();

	for (int i = 0; tags && i < c_tags.n; i++) {
		const char *t = c_tags.v[i], *eq = strchr(t, '=');
		char key[MT_MAX_KEY_LEN + 2];
		struct mt_err err = { 0 };

		if (!eq || eq == t || (size_t)(eq - t) > MT_MAX_KEY_LEN) {
			cli_error(CLI_USAGE, "-t '%s': expected KEY=VALUE", t);
			goto bad;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(eq - t), t);
		if (mt_validate_key("tag", key, &err) ||
		    mt_validate_value_len("tag", key, eq + 1, MT_MAX_EXP_TAG_VALUE_LEN, &err)) {
			cli_error(CLI_USAGE, "-t '%s': %s", t, err.msg);
			goto bad;
		}
		json_array_append_new(tags, json_pack("{s:s, s:s}", "key", key, "value", eq + 1));
	}
	if (!tags)
		cli_error(CLI_USAGE, "out of memory");
	return tags;
bad:
	json_decref(tags);
	return NULL;
}

static int cmd_create(int argc, char **argv)
{
	struct mt_err err = { 0 };
	struct cli_fail f;
	json_t *body = NULL, *tags, *r = NULL;
	const char *id;
	int rc;

	if ((rc = cli_parse(&create_spec, argc, argv)))
		goto out;
	if (mt_validate_experiment_name(c_name, &err) ||
	    mt_validate_artifact_location(c_location, &err)) {
		rc = cli_error(CLI_USAGE, "%s", err.msg);
		goto out;
	}
	if (!(tags = tags_json())) {
		rc = CLI_USAGE;
		goto out;
	}
	body = json_pack("{s:s, s:o}", "name", c_name, "tags", tags);
	if (body && c_location && *c_location)
		json_object_set_new(body, "artifact_location", json_string(c_location));
	if (!body) {
		rc = cli_error(CLI_USAGE, "out of memory");
		goto out;
	}
	if (cli_client_init(&f) ||
	    cli_api("POST", "/api/2.0/mlflow/experiments/create", NULL, body, &r, &f)) {
		rc = cli_fail_report(&f);
		goto out;
	}
	id = json_string_value(json_object_get(r, "experiment_id"));
	if (!id) {
		rc = cli_error(CLI_SERVER, "the server's answer to experiments/create has no "
					   "experiment_id");
		goto out;
	}
	printf("%s\n", id);
out:
	json_decref(body);
	json_decref(r);
	cli_list_free(&c_tags);
	return rc < 0 ? CLI_OK : rc;
}

static const struct cli_sub subs[] = {
	{ "list", cmd_list, "list experiments" },
	{ "create", cmd_create, "create an experiment, print its id" },
	{ NULL, NULL, NULL },
};

int cmd_experiments(int argc, char **argv)
{
	int rc = cli_group("experiments", "List and create experiments.", subs, argc, argv);

	cli_client_cleanup();
	return rc;
}
