/*
 * api_webhooks.c: MLflow 3's webhooks API, /api/2.0/mlflow/webhooks
 * (create, list, get, update, delete, test), and mltrack's delivery log
 * and redeliver action under /api/2.0/mltrack/webhooks/ (docs/api.md,
 * "Webhooks").  The secret is write-only: no answer carries it.  Events
 * are MLflow's WebhookEvent {"entity": "MODEL_VERSION", "action":
 * "CREATED"} on the wire, "model_version.created" in the table.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "api.h"
#include "mt_json.h"
#include "mt_util.h"
#include "webhooks.h"

#define WEBHOOKS_LIST_MAX 1000
#define DELIVERIES_PAGE_DEFAULT 100
#define DELIVERIES_PAGE_MAX 1000

static char *lower(struct mt_arena *a, const char *s)
{
	char *o = mt_arena_strdup(a, s);

	for (char *p = o; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return o;
}

static char *upper(struct mt_arena *a, const char *s)
{
	char *o = mt_arena_strdup(a, s);

	for (char *p = o; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return o;
}

/* The {webhook_id} segment of the path. */
static const char *id_arg(struct mt_req *req)
{
	const char *s = req->subpath ? req->subpath : "";

	return mt_arena_strndup(req->arena, s, strcspn(s, "/"));
}

/* MLflow's webhook name rule: 1 to 63 characters, letters, digits, '.',
 * '_' and '-', starting and ending with a letter or digit. */
static int check_name(struct mt_req *req, const char *name)
{
	size_t n = strlen(name);
	int ok = n >= 1 && n <= 63 && isalnum((unsigned char)name[0]) &&
		 isalnum((unsigned char)name[n - 1]);

	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)name[i]) || strchr("._-", name[i]);
	if (!ok)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Webhook name '%.200s' is invalid. It must start and end with a "
				  "letter or digit, be less than 63 characters long, and contain only "
				  "letters, digits, dots (.), underscores (_), and hyphens (-).", name);
	return 0;
}

/* http or https, with a host: parsed by libcurl, which sends it later. */
static int check_url(struct mt_req *req, const char *url)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	const char *p = url;
	int rc = 0;

	while (*p && isspace((unsigned char)*p))
		p++;
	if (!*p)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Webhook URL cannot be empty or just whitespace: '%.200s'", url);
	if (!(u = curl_url()))
		return mt_err_set(&req->err, MT_EINTERNAL, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
		rc = mt_err_set(&req->err, MT_EINVAL, "Invalid webhook URL '%.200s'", url);
	} else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		   (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		rc = mt_err_set(&req->err, MT_EINVAL,
				"Invalid webhook URL scheme: '%.40s'. Allowed schemes are: http, "
				"https.", scheme ? scheme : "");
	} else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		rc = mt_err_set(&req->err, MT_EINVAL, "Webhook URL must include a hostname: '%.200s'",
				url);
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/* One WebhookEvent {"entity", "action"} into "entity.action" (lowercase). */
static int event_arg(struct mt_req *req, const json_t *e, const char **out)
{
	const char *entity = json_string_value(json_object_get(e, "entity"));
	const char *action = json_string_value(json_object_get(e, "action"));
	char actions[256];

	if (!json_is_object(e))
		return mt_json_invalid(&req->err, "events", e);
	if (!entity)
		return mt_json_missing(&req->err, "entity");
	if (!action)
		return mt_json_missing(&req->err, "action");
	entity = lower(req->arena, entity);
	action = lower(req->arena, action);
	if (!webhook_event_known(entity, action)) {
		webhook_event_actions(entity, actions, sizeof(actions));
		if (strcmp(actions, "[]") == 0)
			return mt_err_set(&req->err, MT_EINVAL,
					  "Invalid value '%.40s' for parameter 'entity'", entity);
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid action '%.40s' for entity '%.40s'. Valid actions are: %s",
				  action, entity, actions);
	}
	*out = mt_arena_printf(req->arena, "%s.%s", entity, action);
	return 0;
}

/* events: a non-empty list, as a PostgreSQL array literal into *out;
 * NULL when absent and not required. */
static int events_arg(struct mt_req *req, int required, const char **out)
{
	json_t *ev = json_object_get(req->body, "events");
	const char **items;
	size_t i, n;
	json_t *e;

	*out = NULL;
	if (!required && (!ev || json_is_null(ev) || (json_is_array(ev) && !json_array_size(ev))))
		return 0;
	if (!json_is_array(ev) || !(n = json_array_size(ev)))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Webhook events must be a non-empty list of WebhookEvent objects: "
				  "[].");
	items = mt_arena_alloc(req->arena, n * sizeof(*items));
	json_array_foreach(ev, i, e)
		if (event_arg(req, e, &items[i]))
			return -1;
	*out = db_array_text(req->arena, items, n);
	return 0;
}

static int status_arg(struct mt_req *req, const char **out)
{
	if (req_opt_str(req, "status", out))
		return -1;
	if (*out && !**out)
		*out = NULL;
	if (*out && strcmp(*out, "ACTIVE") != 0 && strcmp(*out, "DISABLED") != 0)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value '%.40s' for parameter 'status': ACTIVE or DISABLED",
				  *out);
	return 0;
}

/* A webhooks row (WEBHOOK_COLS) as MLflow's Webhook, without the secret. */
static json_t *webhook_json(struct mt_req *req, const PGresult *r, int i)
{
	json_t *w = json_object(), *events = json_array(),
	       *names = json_loads(PQgetvalue(r, i, 4), 0, NULL);
	size_t k;
	json_t *s;

	mt_json_set_str(w, "webhook_id", PQgetvalue(r, i, 0));
	mt_json_set_str(w, "name", PQgetvalue(r, i, 1));
	if (!PQgetisnull(r, i, 2))
		mt_json_set_str(w, "description", PQgetvalue(r, i, 2));
	mt_json_set_str(w, "url", PQgetvalue(r, i, 3));
	json_array_foreach(names, k, s) {
		const char *t = json_string_value(s), *dot = t ? strchr(t, '.') : NULL;

		if (!dot)
			continue;
		json_array_append_new(
			events,
			json_pack("{s:s, s:s}", "entity",
				  upper(req->arena, mt_arena_strndup(req->arena, t, (size_t)(dot - t))),
				  "action", upper(req->arena, dot + 1)));
	}
	json_decref(names);
	json_object_set_new(w, "events", events);
	mt_json_set_str(w, "status", PQgetvalue(r, i, 5));
	mt_json_set_i64(w, "creation_timestamp", strtoll(PQgetvalue(r, i, 6), NULL, 10));
	mt_json_set_i64(w, "last_updated_timestamp", strtoll(PQgetvalue(r, i, 7), NULL, 10));
	return w;
}

static int reply_webhook(struct mt_req *req, const PGresult *r)
{
	if (PQntuples(r) != 1)
		return mt_err_set(&req->err, MT_ENOTFOUND, "Webhook with ID %s not found.",
				  id_arg(req));
	json_object_set_new(req_resp(req), "webhook", webhook_json(req, r, 0));
	return 0;
}

static const char *empty_null(const char *s)
{
	return s && *s ? s : NULL;
}

int api_webhooks_create(struct mt_req *req)
{
	const char *name, *url, *desc, *secret, *status, *events, *now;
	PGresult *r;

	if (req_str(req, "name", &name) || req_str(req, "url", &url) ||
	    req_opt_str(req, "description", &desc) || req_opt_str(req, "secret", &secret) ||
	    status_arg(req, &status) || check_name(req, name) || check_url(req, url) ||
	    events_arg(req, 1, &events))
		return -1;
	now = mt_arena_printf(req->arena, "%lld", mt_now_ms());
	{
		const char *v[7] = { name, empty_null(desc), url, events, empty_null(secret),
				     status ? status : "ACTIVE", now };

		if (!(r = db_exec(req, "webhook_insert", 7, v, &req->err)))
			return -1;
	}
	return reply_webhook(req, r);
}

int api_webhooks_list(struct mt_req *req)
{
	long long max = 100, offset = 0;
	const char *token, *v[2];
	int has;
	PGresult *r;
	json_t *list;
	int n;

	if (mt_json_opt_i64(&max, &has, req->body, "max_results", &req->err) ||
	    req_opt_str(req, "page_token", &token))
		return -1;
	if (!has)
		max = 100;
	if (max < 1 || max > WEBHOOKS_LIST_MAX)
		return mt_err_set(&req->err, MT_EINVAL, "max_results must be between 1 and 1000.");
	if (token && *token && mt_page_token_decode(&offset, token, &req->err))
		return -1;
	v[0] = mt_arena_printf(req->arena, "%lld", max + 1);
	v[1] = mt_arena_printf(req->arena, "%lld", offset);
	if (!(r = db_exec(req, "webhook_list", 2, v, &req->err)))
		return -1;
	list = json_array();
	n = PQntuples(r);
	for (int i = 0; i < n && i < max; i++)
		json_array_append_new(list, webhook_json(req, r, i));
	json_object_set_new(req_resp(req), "webhooks", list);
	if (n > max)
		mt_json_set_str(req_resp(req), "next_page_token",
				mt_page_token_encode(req->arena, offset + max));
	return 0;
}

int api_webhooks_get(struct mt_req *req)
{
	const char *v[1] = { id_arg(req) };
	PGresult *r = db_exec(req, "webhook_get", 1, v, &req->err);

	return r ? reply_webhook(req, r) : -1;
}

int api_webhooks_update(struct mt_req *req)
{
	const char *name, *url, *desc, *secret, *status, *events;
	PGresult *r;

	if (req_opt_str(req, "name", &name) || req_opt_str(req, "url", &url) ||
	    req_opt_str(req, "description", &desc) || req_opt_str(req, "secret", &secret) ||
	    status_arg(req, &status))
		return -1;
	name = empty_null(name);
	url = empty_null(url);
	if ((name && check_name(req, name)) || (url && check_url(req, url)) ||
	    events_arg(req, 0, &events))
		return -1;
	{
		const char *v[8] = { id_arg(req), name, empty_null(desc), url, events,
				     empty_null(secret), status,
				     mt_arena_printf(req->arena, "%lld", mt_now_ms()) };

		if (!(r = db_exec(req, "webhook_update", 8, v, &req->err)))
			return -1;
	}
	return reply_webhook(req, r);
}

int api_webhooks_delete(struct mt_req *req)
{
	const char *v[1] = { id_arg(req) };
	PGresult *r = db_exec(req, "webhook_delete", 1, v, &req->err);

	if (!r)
		return -1;
	if (PQntuples(r) != 1)
		return mt_err_set(&req->err, MT_ENOTFOUND, "Webhook with ID %s not found.", v[0]);
	req_resp(req);
	return 0;
}

/* An example "data" for an event, of the shape its real one has. */
static json_t *example_data(const char *entity, const char *action)
{
	if (strcmp(entity, "registered_model") == 0)
		return json_pack("{s:s, s:{s:s}, s:s}", "name", "example_model", "tags",
				 "example_key", "example_value", "description",
				 "An example registered model");
	if (strcmp(entity, "model_version") == 0)
		return json_pack("{s:s, s:s, s:s, s:s, s:{s:s}, s:s}", "name", "example_model",
				 "version", "1", "source", "models:/123", "run_id",
				 "abcd1234abcd5678", "tags", "example_key", "example_value",
				 "description", "An example model version");
	if (strcmp(entity, "model_version_tag") == 0)
		return strcmp(action, "set") == 0
			       ? json_pack("{s:s, s:s, s:s, s:s}", "name", "example_model",
					   "version", "1", "key", "example_key", "value",
					   "example_value")
			       : json_pack("{s:s, s:s, s:s}", "name", "example_model", "version",
					   "1", "key", "example_key");
	if (strcmp(entity, "model_version_alias") == 0 && strcmp(action, "deleted") == 0)
		return json_pack("{s:s, s:s}", "name", "example_model", "alias", "example_alias");
	if (strcmp(entity, "model_version_alias") == 0)
		return json_pack("{s:s, s:s, s:s}", "name", "example_model", "alias",
				 "example_alias", "version", "1");
	if (strcmp(entity, "model_version_stage") == 0)
		return json_pack("{s:s, s:s, s:s, s:s}", "name", "example_model", "version", "1",
				 "from_stage", "Staging", "to_stage", "Production");
	if (strcmp(entity, "run") == 0)
		return json_pack("{s:s, s:s, s:s}", "run_id", "abcd1234abcd5678", "experiment_id",
				 "0", "status",
				 strcmp(action, "failed") == 0   ? "FAILED"
				 : strcmp(action, "killed") == 0 ? "KILLED"
								 : "FINISHED");
	return json_pack("{s:s}", "name", "example");
}

/* MLflow sends a test event straight away (not through the outbox) and
 * answers what the receiver said. */
int api_webhooks_test(struct mt_req *req)
{
	const char *v[1] = { id_arg(req) };
	const char *entity, *action, *ev;
	PGresult *r = db_exec(req, "webhook_get", 1, v, &req->err);
	json_t *e = json_object_get(req->body, "event"), *names, *data, *res;
	struct webhook_result out;
	char id[33], *body;

	if (!r)
		return -1;
	if (PQntuples(r) != 1)
		return mt_err_set(&req->err, MT_ENOTFOUND, "Webhook with ID %s not found.", v[0]);
	if (e && !json_is_null(e)) {
		if (event_arg(req, e, &ev))
			return -1;
	} else {
		names = json_loads(PQgetvalue(r, 0, 4), 0, NULL);
		ev = mt_arena_strdup(req->arena, json_string_value(json_array_get(names, 0))
							 ? json_string_value(json_array_get(names, 0))
							 : "model_version.created");
		json_decref(names);
	}
	action = strchr(ev, '.') + 1;
	entity = mt_arena_strndup(req->arena, ev, (size_t)(action - 1 - ev));
	if (mt_random_hex32(id, &req->err))
		return -1;
	/* The receiver may take the whole timeout: no pool connection waits
	 * for it (the row read stays valid). */
	db_release(req->w);
	data = example_data(entity, action);
	body = webhook_body(entity, action, mt_now_ms(), data);
	json_decref(data);
	if (!body)
		return mt_err_set(&req->err, MT_EINTERNAL, "out of memory");
	webhook_post(PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 8), id, body, &out);
	free(body);
	res = json_object();
	json_object_set_new(res, "success", json_boolean(!out.error[0] && out.status < 400));
	if (out.status)
		mt_json_set_i64(res, "response_status", out.status);
	if (!out.error[0])
		mt_json_set_str(res, "response_body", out.response);
	else
		mt_json_set_str(res, "error_message",
				mt_arena_printf(req->arena, "Failed to test webhook: %s", out.error));
	json_object_set_new(req_resp(req), "result", res);
	return 0;
}

/* A webhook_deliveries row (DELIVERY_COLS) for the delivery log. */
static json_t *delivery_json(struct mt_req *req, const PGresult *r, int i)
{
	json_t *d = json_object(), *payload = json_loads(PQgetvalue(r, i, 13), 0, NULL);
	static const struct {
		int col;
		const char *key;
	} times[] = { { 6, "creation_timestamp" }, { 7, "next_attempt_timestamp" },
		      { 8, "last_attempt_timestamp" }, { 12, "delivered_timestamp" } };

	mt_json_set_str(d, "delivery_id", PQgetvalue(r, i, 0));
	mt_json_set_str(d, "webhook_id", PQgetvalue(r, i, 1));
	mt_json_set_str(d, "entity", upper(req->arena, PQgetvalue(r, i, 2)));
	mt_json_set_str(d, "action", upper(req->arena, PQgetvalue(r, i, 3)));
	mt_json_set_str(d, "state", PQgetvalue(r, i, 4));
	mt_json_set_i64(d, "attempts", strtoll(PQgetvalue(r, i, 5), NULL, 10));
	for (size_t k = 0; k < sizeof(times) / sizeof(times[0]); k++)
		if (!PQgetisnull(r, i, times[k].col))
			mt_json_set_i64(d, times[k].key,
					strtoll(PQgetvalue(r, i, times[k].col), NULL, 10));
	if (!PQgetisnull(r, i, 9))
		mt_json_set_i64(d, "last_status", strtoll(PQgetvalue(r, i, 9), NULL, 10));
	if (!PQgetisnull(r, i, 10))
		mt_json_set_str(d, "last_error", PQgetvalue(r, i, 10));
	if (!PQgetisnull(r, i, 11))
		mt_json_set_str(d, "last_response", PQgetvalue(r, i, 11));
	if (payload)
		json_object_set_new(d, "payload", payload);
	return d;
}

int api_webhooks_deliveries(struct mt_req *req)
{
	long long max, before = 0;
	const char *token, *model, *v[4];
	PGresult *r;
	json_t *list;
	int has, n;
	char *end;

	if (mt_json_opt_i64(&max, &has, req->body, "max_results", &req->err) ||
	    req_opt_str(req, "page_token", &token) || req_opt_str(req, "model", &model))
		return -1;
	if (!has)
		max = DELIVERIES_PAGE_DEFAULT;
	if (max < 1 || max > DELIVERIES_PAGE_MAX)
		return mt_err_set(&req->err, MT_EINVAL, "max_results must be between 1 and %d.",
				  DELIVERIES_PAGE_MAX);
	if (token && *token) {
		before = strtoll(token, &end, 10);
		if (*end || before < 1)
			return mt_err_set(&req->err, MT_EINVAL, "Invalid page token");
	}
	v[0] = id_arg(req);
	if (!(r = db_exec(req, "webhook_get", 1, v, &req->err)))
		return -1;
	if (PQntuples(r) != 1)
		return mt_err_set(&req->err, MT_ENOTFOUND, "Webhook with ID %s not found.", v[0]);
	v[1] = before ? mt_arena_printf(req->arena, "%lld", before) : NULL;
	v[2] = mt_arena_printf(req->arena, "%lld", max + 1);
	v[3] = model && *model ? model : NULL;
	if (!(r = db_exec(req, "webhook_deliveries", 4, v, &req->err)))
		return -1;
	list = json_array();
	n = PQntuples(r);
	for (int i = 0; i < n && i < max; i++)
		json_array_append_new(list, delivery_json(req, r, i));
	json_object_set_new(req_resp(req), "deliveries", list);
	if (n > max)
		mt_json_set_str(req_resp(req), "next_page_token", PQgetvalue(r, (int)max - 1, 14));
	return 0;
}

int api_webhooks_redeliver(struct mt_req *req)
{
	const char *v[2];
	PGresult *r;

	if (req_str(req, "delivery_id", &v[0]))
		return -1;
	v[1] = mt_arena_printf(req->arena, "%lld", mt_now_ms());
	if (!(r = db_exec(req, "webhook_redeliver", 2, v, &req->err)))
		return -1;
	if (PQntuples(r) != 1)
		return mt_err_set(&req->err, MT_ENOTFOUND, "Webhook delivery with ID %s not found.",
				  v[0]);
	json_object_set_new(req_resp(req), "delivery", delivery_json(req, r, 0));
	return 0;
}
