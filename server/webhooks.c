/*
 * webhooks.c: the event catalogue, the outbox (webhook_enqueue), signing,
 * one POST with libcurl, and the delivery thread (see webhooks.h).
 *
 * MLTRACK_WEBHOOK_THREADS delivery threads (2), each with a PostgreSQL
 * connection of its own, so that one slow receiver does not hold up the
 * others' deliveries.  It looks for due
 * rows every MLTRACK_WEBHOOK_POLL_MS (500 ms), and at once again after
 * each delivery: polling, not LISTEN/NOTIFY, because it works the same
 * behind a pooler in transaction mode and costs one index probe (the
 * partial index on PENDING rows) per interval.  Each delivery is one
 * transaction: claim (FOR UPDATE SKIP LOCKED), POST, record.  A failure
 * is retried after base * 2^(attempts-1), capped; after max attempts the
 * row is FAILED until redelivered (api_webhooks.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mt_util.h"
#include "mt_validate.h"
#include "stopsig.h"
#include "webhooks.h"

/* ---- the event catalogue ---- */

static const struct {
	const char *entity, *action;
} events[] = {
	/* MLflow 3.3's */
	{ "registered_model", "created" },
	{ "model_version", "created" },
	{ "model_version_tag", "set" },
	{ "model_version_tag", "deleted" },
	{ "model_version_alias", "created" },
	{ "model_version_alias", "deleted" },
	{ "prompt", "created" },
	{ "prompt_version", "created" },
	{ "prompt_tag", "set" },
	{ "prompt_tag", "deleted" },
	{ "prompt_version_tag", "set" },
	{ "prompt_version_tag", "deleted" },
	{ "prompt_alias", "created" },
	{ "prompt_alias", "deleted" },
	/* mltrack's (docs/api.md) */
	{ "model_version_stage", "set" },
	{ "model_version_stage", "refused" },
	{ "model_version_alias", "refused" },
	{ "run", "finished" },
	{ "run", "failed" },
	{ "run", "killed" },
	{ "monitor_alert", "fired" },
};
#define NEVENTS (sizeof(events) / sizeof(events[0]))

int webhook_event_known(const char *entity, const char *action)
{
	for (size_t i = 0; i < NEVENTS; i++)
		if (strcmp(events[i].entity, entity) == 0 && strcmp(events[i].action, action) == 0)
			return 1;
	return 0;
}

void webhook_event_actions(const char *entity, char *buf, size_t size)
{
	const char *names[8];
	size_t n = 0, len;

	for (size_t i = 0; i < NEVENTS && n < 8; i++)
		if (strcmp(events[i].entity, entity) == 0)
			names[n++] = events[i].action;
	/* sorted, as MLflow's sorted() */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			const char *t = names[j];

			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	len = (size_t)snprintf(buf, size, "[");
	for (size_t i = 0; i < n && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s'%s'", i ? ", " : "", names[i]);
	if (len < size)
		snprintf(buf + len, size - len, "]");
}

/* ---- the outbox ---- */

#define ENQUEUE_SQL                                                                            \
	"INSERT INTO webhook_deliveries (id, webhook_id, entity, action, payload, created_time, " \
	"next_attempt_time) SELECT gen_random_uuid()::text, id, $1, $2, $3, $4::bigint, "        \
	"$4::bigint FROM webhooks WHERE status = 'ACTIVE' AND $1 || '.' || $2 = ANY (events)"

/* Every statement of webhooks and their deliveries (api_webhooks.c). */
#define WEBHOOK_COLS                                                                           \
	"id, name, description, url, array_to_json(events)::text, status, creation_timestamp, " \
	"last_updated_timestamp, COALESCE(secret, '') "
#define DELIVERY_COLS                                                                          \
	"id, webhook_id, entity, action, state, attempts, created_time, next_attempt_time, "     \
	"last_attempt_time, last_status, last_error, last_response, delivered_time, payload, seq "

static const struct db_stmt stmts[] = {
	{ "webhook_enqueue", ENQUEUE_SQL },
	{ "webhook_insert",
	  "INSERT INTO webhooks (id, name, description, url, events, secret, status, "
	  "creation_timestamp, last_updated_timestamp) VALUES (gen_random_uuid()::text, $1, $2, "
	  "$3, $4::text[], $5, $6, $7::bigint, $7::bigint) RETURNING " WEBHOOK_COLS },
	{ "webhook_get", "SELECT " WEBHOOK_COLS "FROM webhooks WHERE id = $1" },
	{ "webhook_list",
	  "SELECT " WEBHOOK_COLS "FROM webhooks ORDER BY creation_timestamp DESC, id "
	  "LIMIT $1::int OFFSET $2::bigint" },
	{ "webhook_update",
	  "UPDATE webhooks SET name = COALESCE($2, name), description = COALESCE($3, description), "
	  "url = COALESCE($4, url), events = COALESCE($5::text[], events), "
	  "secret = COALESCE($6, secret), status = COALESCE($7, status), "
	  "last_updated_timestamp = $8::bigint WHERE id = $1 RETURNING " WEBHOOK_COLS },
	{ "webhook_delete", "DELETE FROM webhooks WHERE id = $1 RETURNING id" },
	{ "webhook_deliveries",
	  "SELECT " DELIVERY_COLS "FROM webhook_deliveries WHERE webhook_id = $1 "
	  "AND ($2::bigint IS NULL OR seq < $2::bigint) AND ($4::text IS NULL OR "
	  "(entity <> 'run' AND payload::jsonb -> 'data' ->> 'name' = $4::text)) "
	  "ORDER BY seq DESC LIMIT $3::int" },
	{ "webhook_redeliver",
	  "UPDATE webhook_deliveries SET state = 'PENDING', attempts = 0, "
	  "next_attempt_time = $2::bigint WHERE id = $1 RETURNING " DELIVERY_COLS },
};

const struct db_stmt_table sql_webhooks_table = { stmts, sizeof(stmts) / sizeof(stmts[0]), 0 };

char *webhook_body(const char *entity, const char *action, long long now_ms, json_t *data)
{
	time_t secs = (time_t)(now_ms / 1000);
	struct tm tm;
	char stamp[64];
	json_t *body;
	char *text;

	gmtime_r(&secs, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03lld000+00:00",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 now_ms % 1000);
	body = json_pack("{s:s, s:s, s:s, s:O}", "entity", entity, "action", action, "timestamp",
			 stamp, "data", data ? data : json_null());
	if (!body)
		return NULL;
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return text;
}

int webhook_enqueue(struct mt_req *req, const char *entity, const char *action, json_t *data,
		    struct mt_err *err)
{
	long long now = mt_now_ms();
	char *body = webhook_body(entity, action, now, data);
	const char *v[4];
	PGresult *r;

	if (!body)
		return mt_err_set(err, MT_EINTERNAL, "out of memory");
	v[0] = entity;
	v[1] = action;
	v[2] = mt_arena_strdup(req->arena, body);
	v[3] = mt_arena_printf(req->arena, "%lld", now);
	free(body);
	r = db_exec(req, "webhook_enqueue", 4, v, err);
	return r ? 0 : -1;
}

/* ---- signing and sending ---- */

int webhook_sign(char *out, size_t size, const char *secret, const char *id,
		 const char *timestamp, const char *payload, size_t len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	size_t head = strlen(id) + 1 + strlen(timestamp) + 1;
	char *msg = malloc(head + len + 1);

	if (!msg)
		return -1;
	snprintf(msg, head + 1, "%s.%s.", id, timestamp);
	memcpy(msg + head, payload, len);
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg, head + len, mac,
		  &maclen)) {
		free(msg);
		return -1;
	}
	free(msg);
	EVP_EncodeBlock(b64, mac, (int)maclen);
	return snprintf(out, size, "v1,%s", (char *)b64) < (int)size ? 0 : -1;
}

static long env_ms(const char *name, long def, long min)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end || errno || v < min)
		return def;
	return v;
}

/* The MLTRACK_WEBHOOK_* settings (docs/operations.md), read once by
 * webhooks_start; the defaults until then. */
static struct {
	long timeout_ms, retry_ms, retry_max_ms, max_attempts, poll_ms, threads;
} set = { 10000, 1000, 3600000, 12, 500, 2 };

static void read_settings(void)
{
	set.timeout_ms = env_ms("MLTRACK_WEBHOOK_TIMEOUT_MS", 10000, 100);
	set.retry_ms = env_ms("MLTRACK_WEBHOOK_RETRY_MS", 1000, 1);
	set.retry_max_ms = env_ms("MLTRACK_WEBHOOK_RETRY_MAX_MS", 3600000, 1);
	set.max_attempts = env_ms("MLTRACK_WEBHOOK_MAX_ATTEMPTS", 12, 1);
	set.poll_ms = env_ms("MLTRACK_WEBHOOK_POLL_MS", 500, 10);
	set.threads = env_ms("MLTRACK_WEBHOOK_THREADS", 2, 1);
}

struct sink {
	char *buf;
	size_t len, cap;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t take = size * n;

	if (take > s->cap - s->len)
		take = s->cap - s->len;
	memcpy(s->buf + s->len, data, take);
	s->len += take;
	return size * n; /* the rest is read and dropped */
}

/* The receiver's answer goes into a text column and a JSON string: bytes
 * that are not UTF-8 (or are control characters but tab and newline) become
 * '?', so that an odd answer can never make the outcome unrecordable (the
 * delivery would then be sent again and again). */
static void text_only(char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
			 : (c & 0xF8) == 0xF0 ? 4 : 0;

		if (n > 1 && i + n <= len && mt_utf8_valid(s + i, n)) {
			i += n;
			continue;
		}
		if (n != 1 || (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
			s[i] = '?';
		i++;
	}
}

void webhook_post(const char *url, const char *secret, const char *id, const char *payload,
		  struct webhook_result *out)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct sink s = { out->response, 0, sizeof(out->response) - 1 };
	char line[256], ts[24], sig[128];
	CURLcode rc;

	out->status = 0;
	out->response[0] = '\0';
	out->error[0] = '\0';
	if (!h) {
		snprintf(out->error, sizeof(out->error), "cannot initialise libcurl");
		return;
	}
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	hdr = curl_slist_append(hdr, "Expect:");
	snprintf(line, sizeof(line), "X-MLflow-Delivery-Id: %s", id);
	hdr = curl_slist_append(hdr, line);
	snprintf(line, sizeof(line), "X-MLflow-Timestamp: %s", ts);
	hdr = curl_slist_append(hdr, line);
	if (secret && *secret) {
		if (webhook_sign(sig, sizeof(sig), secret, id, ts, payload, strlen(payload)) == 0) {
			snprintf(line, sizeof(line), "X-MLflow-Signature: %s", sig);
			hdr = curl_slist_append(hdr, line);
		}
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, set.timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, set.timeout_ms);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mltrackd/" MLTRACK_VERSION);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	rc = curl_easy_perform(h);
	out->response[s.len] = '\0';
	text_only(out->response, s.len);
	if (rc != CURLE_OK)
		snprintf(out->error, sizeof(out->error), "%s", curl_easy_strerror(rc));
	else
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
}

/* ---- the delivery thread ---- */

#define MAX_THREADS 16
static pthread_t workers[MAX_THREADS];
static int nworkers;
static atomic_int running;
static struct stopsig stop = STOPSIG_INIT;
static atomic_llong n_delivered, n_retried, n_failed, n_pending = -1;

static void nap(long ms)
{
	stopsig_nap(&stop, ms);
}

static int exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	PQclear(r);
	return ok;
}

/* Claim one due delivery, POST it, record the outcome: 1 when one was
 * handled, 0 when none was due, -1 when the connection failed. */
static int deliver_one(PGconn *c)
{
	char now[24], attempts[16], status[16], next[24], *state;
	const char *v[8];
	struct webhook_result res;
	long long t = mt_now_ms(), base, cap, delay;
	long max_attempts;
	PGresult *r;
	int n;

	if (!exec_ok(c, "BEGIN"))
		return -1;
	snprintf(now, sizeof(now), "%lld", t);
	v[0] = now;
	r = PQexecParams(c,
			 "SELECT d.id, d.payload, d.attempts, w.url, COALESCE(w.secret, '') "
			 "FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
			 "WHERE d.state = 'PENDING' AND d.next_attempt_time <= $1::bigint "
			 "AND w.status = 'ACTIVE' ORDER BY d.next_attempt_time, d.seq LIMIT 1 "
			 "FOR UPDATE OF d SKIP LOCKED",
			 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return -1;
	}
	if (PQntuples(r) == 0) {
		PQclear(r);
		r = PQexec(c, "SELECT count(*) FROM webhook_deliveries WHERE state = 'PENDING'");
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			atomic_store(&n_pending, strtoll(PQgetvalue(r, 0, 0), NULL, 10));
		PQclear(r);
		return exec_ok(c, "COMMIT") ? 0 : -1;
	}
	webhook_post(PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 4), PQgetvalue(r, 0, 0),
		     PQgetvalue(r, 0, 1), &res);
	n = atoi(PQgetvalue(r, 0, 2)) + 1;
	t = mt_now_ms();
	base = set.retry_ms;
	cap = set.retry_max_ms;
	max_attempts = set.max_attempts;
	delay = base;
	for (int i = 1; i < n && delay < cap; i++)
		delay *= 2;
	if (delay > cap)
		delay = cap;
	if (res.status >= 200 && res.status < 300) {
		state = "DELIVERED";
		atomic_fetch_add(&n_delivered, 1);
	} else if (n >= max_attempts) {
		state = "FAILED";
		atomic_fetch_add(&n_failed, 1);
		fprintf(stderr, "mltrackd: webhook delivery %s failed %d times, giving up: %s\n",
			PQgetvalue(r, 0, 0), n,
			res.error[0] ? res.error : "the receiver answered with an error status");
	} else {
		state = "PENDING";
		atomic_fetch_add(&n_retried, 1);
	}
	snprintf(now, sizeof(now), "%lld", t);
	snprintf(attempts, sizeof(attempts), "%d", n);
	snprintf(status, sizeof(status), "%ld", res.status);
	snprintf(next, sizeof(next), "%lld", t + delay);
	{
		const char *u[8] = { PQgetvalue(r, 0, 0), state, attempts, now, next,
				     res.status ? status : NULL, res.error[0] ? res.error : NULL,
				     res.response };
		PGresult *w = PQexecParams(
			c,
			"UPDATE webhook_deliveries SET state = $2, attempts = $3::int, "
			"last_attempt_time = $4::bigint, next_attempt_time = $5::bigint, "
			"last_status = $6::int, last_error = $7, last_response = $8, "
			"delivered_time = CASE WHEN $2 = 'DELIVERED' THEN $4::bigint END "
			"WHERE id = $1",
			8, NULL, u, NULL, NULL, 0);
		int ok = PQresultStatus(w) == PGRES_COMMAND_OK;

		PQclear(w);
		PQclear(r);
		if (!ok || !exec_ok(c, "COMMIT"))
			return -1;
	}
	return 1;
}

static void *worker_main(void *arg)
{
	static const char *const keys[] = { "dbname", "application_name", NULL };
	const char *vals[] = { mt_cfg.conninfo, "mltrackd-webhooks", NULL };
	long poll_ms = set.poll_ms;
	int said = 0;

	(void)arg;
	while (!stopsig_stopping(&stop)) {
		PGconn *c = PQconnectdbParams(keys, vals, 1);
		int rc = 0;

		if (PQstatus(c) != CONNECTION_OK) {
			if (!said++)
				fprintf(stderr, "mltrackd: webhook delivery waits for the database: %s",
					PQerrorMessage(c));
			PQfinish(c);
			nap(1000);
			continue;
		}
		said = 0;
		while (!stopsig_stopping(&stop) && (rc = deliver_one(c)) >= 0)
			if (rc == 0)
				nap(poll_ms);
		if (rc < 0 && !stopsig_stopping(&stop))
			fprintf(stderr, "mltrackd: webhook delivery lost its connection: %s",
				PQerrorMessage(c));
		PQfinish(c);
		if (!stopsig_stopping(&stop))
			nap(1000);
	}
	return NULL;
}

int webhooks_start(struct mt_err *err)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return mt_err_set(err, MT_EINTERNAL, "cannot initialise libcurl");
	if (stopsig_open(&stop, "webhook threads", err))
		return -1;
	atomic_store(&running, 1);
	read_settings();
	for (long i = set.threads; nworkers < i && nworkers < MAX_THREADS;
	     nworkers++)
		if (pthread_create(&workers[nworkers], NULL, worker_main, NULL) != 0)
			return mt_err_set(err, MT_EINTERNAL,
					  "cannot start the webhook delivery threads");
	return 0;
}

void webhooks_stop(void)
{
	if (atomic_exchange(&running, 0)) {
		stopsig_raise(&stop);
		for (int i = 0; i < nworkers; i++)
			pthread_join(workers[i], NULL);
		nworkers = 0;
		curl_global_cleanup();
	}
	stopsig_close(&stop);
}

void webhooks_metrics(FILE *f)
{
	fprintf(f, "# HELP mltrack_webhook_deliveries_total Webhook delivery attempts by this "
		"server, by outcome (retry: failed, to be tried again; failed: given up).\n"
		"# TYPE mltrack_webhook_deliveries_total counter\n"
		"mltrack_webhook_deliveries_total{result=\"delivered\"} %lld\n"
		"mltrack_webhook_deliveries_total{result=\"retry\"} %lld\n"
		"mltrack_webhook_deliveries_total{result=\"failed\"} %lld\n"
		"# HELP mltrack_webhook_deliveries_pending Deliveries waiting in the outbox (all "
		"servers), as last counted by the delivery thread (-1: not yet).\n"
		"# TYPE mltrack_webhook_deliveries_pending gauge\n"
		"mltrack_webhook_deliveries_pending %lld\n",
		atomic_load(&n_delivered), atomic_load(&n_retried), atomic_load(&n_failed),
		atomic_load(&n_pending));
}
