/*
 * cmd_webhooks.c: mltrack webhooks list|create|delete|test|deliveries|redeliver.
 *
 * Webhooks are MLflow 3's (/api/2.0/mlflow/webhooks); the delivery log and
 * redeliver are mltrack's (/api/2.0/mltrack/webhooks/...).  Every call
 * needs an admin once the server has users.  An event is written
 * ENTITY.ACTION on the command line, in either case (model_version.created,
 * MODEL_VERSION.CREATED).  A secret is read from standard input, never
 * taken as an argument (it would show in the process list), and the server
 * never sends it back.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mt_redact.h"

#define OPTS_END { 0, NULL, 0, NULL, NULL, 0, NULL }
#define MLF "/api/2.0/mlflow/"
#define EXT "/api/2.0/mltrack/"

/* "model_version.created" as MLflow's {"entity", "action"} (uppercase), or
 * NULL after a usage error. */
static json_t *event_arg(const char *s)
{
	const char *dot = strchr(s, '.');
	char entity[64], action[64];
	size_t n;

	if (!dot || dot == s || !dot[1] || (n = (size_t)(dot - s)) >= sizeof(entity) ||
	    strlen(dot + 1) >= sizeof(action)) {
		cli_error(CLI_USAGE, "--event '%s': expected ENTITY.ACTION (model_version.created)",
			  s);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		entity[i] = (char)toupper((unsigned char)s[i]);
	entity[n] = '\0';
	for (n = 0; dot[1 + n]; n++)
		action[n] = (char)toupper((unsigned char)dot[1 + n]);
	action[n] = '\0';
	return json_pack("{s:s, s:s}", "entity", entity, "action", action);
}

/* "MODEL_VERSION", "CREATED" as "model_version.created" into buf. */
static const char *event_name(char *buf, size_t size, const json_t *e)
{
	const char *entity = json_string_value(json_object_get(e, "entity"));
	const char *action = json_string_value(json_object_get(e, "action"));
	size_t i;

	snprintf(buf, size, "%s.%s", entity ? entity : "?", action ? action : "?");
	for (i = 0; buf[i]; i++)
		buf[i] = (char)tolower((unsigned char)buf[i]);
	return buf;
}

static int format_arg(const char *format, int *json)
{
	if (format && strcmp(format, "table") != 0 && strcmp(format, "json") != 0)
		return cli_error(CLI_USAGE, "option '--format': '%s' is not table or json", format);
	*json = format && strcmp(format, "json") == 0;
	return 0;
}

static void print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2));
	putchar('\n');
}

/* ---- list ---- */

static const char *l_format;

static const struct cli_opt list_opts[] = {
	{ CLI_OPT_VALUE, &l_format, 0, "format", "table|json", 0, "output format (default: table)" },
	OPTS_END,
};

static const struct cli_spec list_spec = {
	"webhooks list", "List the server's webhooks, newest first.", list_opts,
	"A table of id, name, status, URL and events; --format json prints the\n"
	"webhooks as the server sent them (never with their secrets).",
	0,
};

static int cmd_list(int argc, char **argv)
{
	static const char *const headers[] = { "ID", "NAME", "STATUS", "URL", "EVENTS" };
	const char *q[] = { "max_results", "1000", NULL, NULL, NULL };
	struct cli_fail f;
	struct cli_table t;
	json_t *all = json_array(), *r = NULL, *w;
	char *token = NULL;
	int rc, json;
	size_t i;

	if ((rc = cli_parse(&list_spec, argc, argv)) || (rc = format_arg(l_format, &json)))
		goto out;
	if (cli_client_init(&f)) {
		rc = cli_fail_report(&f);
		goto out;
	}
	do { /* every page */
		q[2] = token ? "page_token" : NULL;
		q[3] = token;
		if (cli_api("GET", MLF "webhooks", q, NULL, &r, &f)) {
			rc = cli_fail_report(&f);
			goto out;
		}
		json_array_extend(all, json_object_get(r, "webhooks"));
		free(token);
		token = json_string_value(json_object_get(r, "next_page_token"))
				? strdup(json_string_value(json_object_get(r, "next_page_token")))
				: NULL;
		json_decref(r);
		r = NULL;
	} while (token);
	if (json) {
		print_json(all);
		rc = CLI_OK;
		goto out;
	}
	if (cli_table_init(&t, 5, headers)) {
		rc = cli_error(CLI_USAGE, "out of memory");
		goto out;
	}
	json_array_foreach(all, i, w) {
		char events[1024] = "", one[128];
		size_t k, len = 0;
		json_t *e;
		const char *row[5];

		json_array_foreach(json_object_get(w, "events"), k, e)
			if (len < sizeof(events))
				len += (size_t)snprintf(events + len, sizeof(events) - len, "%s%s",
							k ? "," : "", event_name(one, sizeof(one), e));
		row[0] = json_string_value(json_object_get(w, "webhook_id"));
		row[1] = json_string_value(json_object_get(w, "name"));
		row[2] = json_string_value(json_object_get(w, "status"));
		row[3] = json_string_value(json_object_get(w, "url"));
		row[4] = events;
		if (cli_table_add(&t, row)) {
			cli_table_release(&t);
			rc = cli_error(CLI_USAGE, "out of memory");
			goto out;
		}
	}
	if (json_array_size(all) || !cli_quiet)
		cli_table_print(&t, stdout);
	cli_table_release(&t);
	rc = CLI_OK;
out:
	free(token);
	json_decref(all);
	return rc < 0 ? CLI_OK : rc;
}

/* ---- create ---- */

static const char *c_name, *c_url, *c_desc;
static struct cli_list c_events;
static int c_secret_stdin, c_disabled;

static const struct cli_opt create_opts[] = {
	{ CLI_OPT_ARG, &c_name, 0, "NAME", NULL, CLI_OPT_REQUIRED,
	  "the webhook's name (letters, digits, '.', '_', '-')" },
	{ CLI_OPT_VALUE, &c_url, 0, "url", "URL", CLI_OPT_REQUIRED, "where to POST (http or https)" },
	{ CLI_OPT_LIST, &c_events, 0, "event", "ENTITY.ACTION", CLI_OPT_REQUIRED,
	  "an event to send (repeatable): model_version.created, run.failed, ..." },
	{ CLI_OPT_SWITCH, &c_secret_stdin, 0, "secret-stdin", NULL, 0,
	  "read the signing secret from one line of standard input" },
	{ CLI_OPT_VALUE, &c_desc, 0, "description", "TEXT", 0, "what it is for" },
	{ CLI_OPT_SWITCH, &c_disabled, 0, "disabled", NULL, 0,
	  "create it DISABLED (events are not recorded for it until it is enabled)" },
	OPTS_END,
};

static const struct cli_spec create_spec = {
	"webhooks create", "Subscribe a URL to events; prints the new webhook's id.", create_opts,
	"Events: registered_model.created, model_version.created,\n"
	"model_version_tag.set|deleted, model_version_alias.created|deleted|refused,\n"
	"model_version_stage.set|refused, run.finished|failed|killed,\n"
	"prompt.created, prompt_version.created, monitor_alert.fired (docs/api.md,\n"
	"\"Webhooks\").  With a secret, every POST carries X-MLflow-Signature\n"
	"(HMAC-SHA256 of \"<delivery id>.<timestamp>.<body>\").",
	0,
};

static int cmd_create(int argc, char **argv)
{
	char secret[4096];
	struct cli_fail f;
	json_t *body = NULL, *events, *r = NULL;
	int rc;

	if ((rc = cli_parse(&create_spec, argc, argv)))
		goto out;
	body = json_pack("{s:s, s:s}", "name", c_name, "url", c_url);
	events = json_array();
	json_object_set_new(body, "events", events);
	for (int i = 0; i < c_events.n; i++) {
		json_t *e = event_arg(c_events.v[i]);

		if (!e) {
			rc = CLI_USAGE;
			goto out;
		}
		json_array_append_new(events, e);
	}
	if (c_desc)
		json_object_set_new(body, "description", json_string(c_desc));
	if (c_disabled)
		json_object_set_new(body, "status", json_string("DISABLED"));
	if (c_secret_stdin) {
		size_t n;

		if (!fgets(secret, sizeof(secret), stdin)) {
			rc = cli_error(CLI_USAGE, "no secret on standard input");
			goto out;
		}
		n = strcspn(secret, "\r\n");
		secret[n] = '\0';
		if (!n) {
			rc = cli_error(CLI_USAGE, "an empty secret");
			goto out;
		}
		mt_redact_add(secret);
		json_object_set_new(body, "secret", json_string(secret));
	}
	if (cli_client_init(&f) || cli_api("POST", MLF "webhooks", NULL, body, &r, &f)) {
		rc = cli_fail_report(&f);
		goto out;
	}
	printf("%s\n", json_string_value(json_object_get(json_object_get(r, "webhook"),
							  "webhook_id")));
	rc = CLI_OK;
out:
	json_decref(body);
	json_decref(r);
	cli_list_free(&c_events);
	return rc < 0 ? CLI_OK : rc;
}

/* ---- delete, test, redeliver: one id ---- */

static const char *i_id, *t_event;

static const struct cli_opt delete_opts[] = {
	{ CLI_OPT_ARG, &i_id, 0, "ID", NULL, CLI_OPT_REQUIRED, "the webhook's id" },
	OPTS_END,
};

static const struct cli_spec delete_spec = {
	"webhooks delete", "Delete a webhook and its delivery log.", delete_opts, NULL, 0,
};

/* /api/2.0/mlflow/webhooks/<id><rest> (malloc'd), or NULL after an error. */
static char *webhook_path(const char *prefix, const char *id, const char *rest)
{
	char *esc = cli_escape_path(id), *out = NULL;

	if (esc && !strchr(esc, '/') && asprintf(&out, "%swebhooks/%s%s", prefix, esc, rest) < 0)
		out = NULL;
	if (!out)
		cli_error(CLI_USAGE, "ID '%s' is not a webhook id", id);
	free(esc);
	return out;
}

static int cmd_delete(int argc, char **argv)
{
	struct cli_fail f;
	json_t *body;
	char *path;
	int rc;

	if ((rc = cli_parse(&delete_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (!(path = webhook_path(MLF, i_id, "")))
		return CLI_USAGE;
	body = json_object();
	rc = cli_client_init(&f) || cli_api("DELETE", path, NULL, body, NULL, &f)
		     ? cli_fail_report(&f)
		     : CLI_OK;
	json_decref(body);
	free(path);
	if (rc == CLI_OK && !cli_quiet)
		fprintf(stderr, "webhook %s deleted\n", i_id);
	return rc;
}

static const struct cli_opt test_opts[] = {
	{ CLI_OPT_ARG, &i_id, 0, "ID", NULL, CLI_OPT_REQUIRED, "the webhook's id" },
	{ CLI_OPT_VALUE, &t_event, 0, "event", "ENTITY.ACTION", 0,
	  "the event to send an example of (default: the webhook's first)" },
	OPTS_END,
};

static const struct cli_spec test_spec = {
	"webhooks test", "Send an example event to a webhook now, and show the answer.", test_opts,
	"The server POSTs an example of the event, signed as a real delivery, and\n"
	"prints the receiver's status and body.  Exit status: 0 the receiver\n"
	"answered 2xx or 3xx, 1 it did not (or could not be reached), 2 usage,\n"
	"3 server error.",
	0,
};

static int cmd_test(int argc, char **argv)
{
	struct cli_fail f;
	json_t *body = NULL, *r = NULL, *res;
	char *path = NULL;
	int rc;

	if ((rc = cli_parse(&test_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	body = json_object();
	if (t_event) {
		json_t *e = event_arg(t_event);

		if (!e) {
			json_decref(body);
			return CLI_USAGE;
		}
		json_object_set_new(body, "event", e);
	}
	if (!(path = webhook_path(MLF, i_id, "/test"))) {
		json_decref(body);
		return CLI_USAGE;
	}
	if (cli_client_init(&f) || cli_api("POST", path, NULL, body, &r, &f)) {
		rc = cli_fail_report(&f);
		goto out;
	}
	res = json_object_get(r, "result");
	if (json_is_true(json_object_get(res, "success"))) {
		printf("ok: %lld ", (long long)json_integer_value(json_object_get(res,
										  "response_status")));
		cli_print_safe(stdout, json_string_value(json_object_get(res, "response_body")));
		putchar('\n');
		rc = CLI_OK;
	} else {
		const char *msg = json_string_value(json_object_get(res, "error_message"));

		if (msg)
			rc = cli_error(CLI_CHECK_FAILED, "%s", msg);
		else
			rc = cli_error(CLI_CHECK_FAILED, "the receiver answered %lld: %.200s",
				       (long long)json_integer_value(
					       json_object_get(res, "response_status")),
				       json_string_value(json_object_get(res, "response_body"))
					       ? json_string_value(json_object_get(res, "response_body"))
					       : "");
	}
out:
	free(path);
	json_decref(body);
	json_decref(r);
	return rc;
}

static const struct cli_opt redeliver_opts[] = {
	{ CLI_OPT_ARG, &i_id, 0, "DELIVERY_ID", NULL, CLI_OPT_REQUIRED,
	  "the delivery (from `mltrack webhooks deliveries`)" },
	OPTS_END,
};

static const struct cli_spec redeliver_spec = {
	"webhooks redeliver", "Send a delivery again, under the same delivery id.", redeliver_opts,
	"The delivery is PENDING again, its attempts counted from 0, and due now; the\n"
	"receiver sees the same X-MLflow-Delivery-Id (a receiver that deduplicates\n"
	"ignores what it has processed already).",
	0,
};

static int cmd_redeliver(int argc, char **argv)
{
	struct cli_fail f;
	json_t *body;
	int rc;

	if ((rc = cli_parse(&redeliver_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	body = json_pack("{s:s}", "delivery_id", i_id);
	rc = cli_client_init(&f) || cli_api("POST", EXT "webhooks/redeliver", NULL, body, NULL, &f)
		     ? cli_fail_report(&f)
		     : CLI_OK;
	json_decref(body);
	if (rc == CLI_OK && !cli_quiet)
		fprintf(stderr, "delivery %s will be sent again\n", i_id);
	return rc;
}

/* ---- deliveries ---- */

static const char *d_format, *d_max;

static const struct cli_opt deliveries_opts[] = {
	{ CLI_OPT_ARG, &i_id, 0, "ID", NULL, CLI_OPT_REQUIRED, "the webhook's id" },
	{ CLI_OPT_VALUE, &d_max, 0, "max", "N", 0, "at most N, newest first (default 100, max 1000)" },
	{ CLI_OPT_VALUE, &d_format, 0, "format", "table|json", 0, "output format (default: table)" },
	OPTS_END,
};

static const struct cli_spec deliveries_spec = {
	"webhooks deliveries", "A webhook's delivery log, newest first.", deliveries_opts,
	"One row per event sent or to send: the delivery id (X-MLflow-Delivery-Id),\n"
	"the event, its state (PENDING, DELIVERED, FAILED), attempts, the last\n"
	"answer's status or error, and when it was created.",
	0,
};

static int cmd_deliveries(int argc, char **argv)
{
	static const char *const headers[] = { "DELIVERY", "EVENT", "STATE", "ATTEMPTS", "LAST",
					       "CREATED" };
	const char *q[] = { "max_results", "100", NULL };
	struct cli_fail f;
	struct cli_table t;
	json_t *r = NULL, *d;
	char *path = NULL, *end;
	int rc, json;
	size_t i;

	if ((rc = cli_parse(&deliveries_spec, argc, argv)) || (rc = format_arg(d_format, &json)))
		return rc < 0 ? CLI_OK : rc;
	if (d_max) {
		long v = strtol(d_max, &end, 10);

		if (*end || end == d_max || v < 1 || v > 1000)
			return cli_error(CLI_USAGE, "option '--max': '%s' is not a number from 1 to "
					 "1000", d_max);
		q[1] = d_max;
	}
	if (!(path = webhook_path(EXT, i_id, "/deliveries")))
		return CLI_USAGE;
	if (cli_client_init(&f) || cli_api("GET", path, q, NULL, &r, &f)) {
		free(path);
		return cli_fail_report(&f);
	}
	free(path);
	if (json) {
		print_json(json_object_get(r, "deliveries"));
		json_decref(r);
		return CLI_OK;
	}
	if (cli_table_init(&t, 6, headers)) {
		json_decref(r);
		return cli_error(CLI_USAGE, "out of memory");
	}
	json_array_foreach(json_object_get(r, "deliveries"), i, d) {
		char ev[128], attempts[24], last[160], when[32];
		const char *row[6];
		const char *err = json_string_value(json_object_get(d, "last_error"));

		snprintf(ev, sizeof(ev), "%s.%s",
			 json_string_value(json_object_get(d, "entity")),
			 json_string_value(json_object_get(d, "action")));
		for (char *p = ev; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		snprintf(attempts, sizeof(attempts), "%lld",
			 (long long)json_integer_value(json_object_get(d, "attempts")));
		if (err)
			snprintf(last, sizeof(last), "%s", err);
		else if (json_is_integer(json_object_get(d, "last_status")))
			snprintf(last, sizeof(last), "%lld",
				 (long long)json_integer_value(json_object_get(d, "last_status")));
		else
			snprintf(last, sizeof(last), "-");
		cli_local_time(when, sizeof(when), json_object_get(d, "creation_timestamp"));
		row[0] = json_string_value(json_object_get(d, "delivery_id"));
		row[1] = ev;
		row[2] = json_string_value(json_object_get(d, "state"));
		row[3] = attempts;
		row[4] = last;
		row[5] = when;
		if (cli_table_add(&t, row)) {
			cli_table_release(&t);
			json_decref(r);
			return cli_error(CLI_USAGE, "out of memory");
		}
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(r);
	return CLI_OK;
}

static const struct cli_sub subs[] = {
	{ "list", cmd_list, "list the webhooks" },
	{ "create", cmd_create, "subscribe a URL to events" },
	{ "delete", cmd_delete, "delete a webhook" },
	{ "test", cmd_test, "send an example event now and show the answer" },
	{ "deliveries", cmd_deliveries, "a webhook's delivery log" },
	{ "redeliver", cmd_redeliver, "send a delivery again" },
	{ NULL, NULL, NULL },
};

int cmd_webhooks(int argc, char **argv)
{
	int rc = cli_group("webhooks", "Webhooks: events sent to a URL, signed, from a durable "
			   "outbox (admins only).", subs, argc, argv);

	cli_client_cleanup();
	return rc;
}
