/*
 * http.c: CivetWeb set-up and the one dispatcher every endpoint goes through.
 *
 * The dispatcher matches the route table, turns the body (or a GET's query
 * string) into a JSON object, makes sure the worker's connection is up, wraps
 * R_TXN handlers in a transaction (rolled back when they fail, retried on
 * deadlock or serialization failure; http_txn() gives R_STREAM handlers the
 * same after they have read their body), renders errors in MLflow's shape,
 * replies only after COMMIT, writes the access-log line and counts the
 * request for /metrics.  Handlers only do their resource's work.
 *
 * Slow clients: CivetWeb gives a connection a worker for its whole life.
 * Its request_timeout_ms bounds the request head, keep_alive_timeout_ms an
 * idle kept-alive connection; body reads go through http_body_read, which
 * adds a deadline (the request timeout plus 1 s per KiB, enforced by
 * conns.c's watchdog), and a reply to a request whose body was not read
 * closes the connection rather than let CivetWeb read the rest.  The database connection the request borrowed is
 * given back before the reply is written (db_release), so a client slow to
 * read holds a worker but no connection.  conns.c caps connections per
 * client address.
 */
#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "authcache.h"
#include "authz.h"
#include "fields.h"
#include "guard.h"
#include "mt_http.h"
#include "mt_redact.h"
#include "mt_json.h"
#include "mt_limits.h"
#include "mt_util.h"
#include "mt_validate.h"
#include "s3.h"
#include "server.h"
#include "tls.h"
#include "web.h"
#include "api.h"
#include "webhooks.h"

/* ---- /metrics counters (process lifetime, lock-free) ---- */
#define MAX_ROUTES 256
#define NBUCKETS 12
static const double bucket_le[NBUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0
};
static atomic_ullong route_count[MAX_ROUTES + 1][3]; /* 2xx/3xx, 4xx, 5xx */
static atomic_ullong route_ns[MAX_ROUTES + 1];
static atomic_ullong hist[NBUCKETS + 1];
static atomic_ullong hist_sum_ns, hist_count;

static void count_request(const struct mt_route *route, int status, long long ns)
{
	size_t idx = route ? (size_t)(route - mt_routes) : MAX_ROUTES;
	int cls = status >= 500 ? 2 : status >= 400 ? 1 : 0;
	double s = (double)ns / 1e9;
	int b = 0;

	if (idx > MAX_ROUTES)
		idx = MAX_ROUTES;
	atomic_fetch_add_explicit(&route_count[idx][cls], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&route_ns[idx], (unsigned long long)ns, memory_order_relaxed);
	while (b < NBUCKETS && s > bucket_le[b])
		b++;
	atomic_fetch_add_explicit(&hist[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&hist_sum_ns, (unsigned long long)ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&hist_count, 1, memory_order_relaxed);
}

/* The request has a body not read to its end: after the reply the
 * connection must close, or CivetWeb would read (and wait for) the rest. */
static int body_pending(struct mt_req *req)
{
	if (req->body_done)
		return 0;
	return req->ri->content_length > 0 || mg_get_header(req->conn, "Transfer-Encoding");
}

/* The 401 challenge, a whole header line.  Basic for programs; a browser
 * (it sends Sec-Fetch-Mode) gets Bearer, for which it shows no login
 * dialog of its own over the dashboard's. */
static const char *challenge(struct mt_req *req)
{
	return mg_get_header(req->conn, "Sec-Fetch-Mode")
		       ? "WWW-Authenticate: Bearer realm=\"mltrack\"\r\n"
		       : "WWW-Authenticate: Basic realm=\"mltrack\", charset=\"UTF-8\"\r\n";
}

static void send_body(struct mt_req *req, int status, const char *ctype,
		      const char *body, size_t len, const char *allow)
{
	char clen[32];
	const char *retry = status == 503 ? "1" : status == 429 ? req->retry_after : NULL;

	snprintf(clen, sizeof(clen), "%zu", len);
	if (body_pending(req))
		mg_disable_connection_keep_alive(req->conn);
	if (req->sent_continue) {
		char sec[512];

		guard_header_lines(req->conn, sec, sizeof(sec));
		mg_printf(req->conn,
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %s\r\n%s%s%s%s%s%s%s%s"
			  "\r\n",
			  status, mg_get_response_code_text(req->conn, status), ctype, clen, sec,
			  req->etag && status < 300 ? "ETag: " : "",
			  req->etag && status < 300 ? req->etag : "",
			  req->etag && status < 300 ? "\r\n" : "",
			  retry ? "Retry-After: " : "", retry ? retry : "", retry ? "\r\n" : "",
			  status == 401 ? challenge(req) : "");
		if (len)
			mg_write(req->conn, body, len);
		req->status = status;
		return;
	}
	mg_response_header_start(req->conn, status);
	mg_response_header_add(req->conn, "Content-Type", ctype, -1);
	mg_response_header_add(req->conn, "Content-Length", clen, -1);
	guard_headers(req->conn);
	if (allow)
		mg_response_header_add(req->conn, "Allow", allow, -1);
	if (retry) /* MLflow's clients honour it on 503 and 429 */
		mg_response_header_add(req->conn, "Retry-After", retry, -1);
	if (status == 401) {
		const char *c = challenge(req);

		mg_response_header_add(req->conn, "WWW-Authenticate",
				       c + strlen("WWW-Authenticate: "),
				       (int)(strlen(c) - strlen("WWW-Authenticate: ") - 2));
	}
	if (req->etag && status < 300)
		mg_response_header_add(req->conn, "ETag", req->etag, -1);
	if (req->set_cookie)
		mg_response_header_add(req->conn, "Set-Cookie", req->set_cookie, -1);
	mg_response_header_send(req->conn);
	if (len && strcmp(req->ri->request_method, "HEAD") != 0)
		mg_write(req->conn, body, len);
	req->status = status;
}

void http_reply_text(struct mt_req *req, int status, const char *ctype, const char *body)
{
	send_body(req, status, ctype, body, strlen(body), NULL);
}

/* Doubles go out as MLflow writes them (mt_json_dumps): 0.99, not
 * jansson's 0.98999999999999999. */
static void send_json(struct mt_req *req, int status, json_t *j, const char *allow)
{
	size_t len;
	char *s = mt_json_dumps(j, &len);

	if (!s) {
		static const char oops[] =
			"{\"error_code\":\"INTERNAL_ERROR\",\"message\":\"cannot encode response\"}";
		send_body(req, 500, "application/json", oops, sizeof(oops) - 1, NULL);
		return;
	}
	send_body(req, status, "application/json", s, len, allow);
	free(s);
}

static void send_error(struct mt_req *req, const char *allow)
{
	json_t *j = json_pack("{s:s,s:s}", "error_code", mt_code_name(req->err.code),
			      "message", req->err.msg);

	/* Errors that carry more than a message (412 GATE_FAILED: the report). */
	if (j && req->err_extra)
		json_object_update_missing(j, req->err_extra);
	send_json(req, mt_code_http(req->err.code), j, allow);
	json_decref(j);
}

void http_metrics_render(struct mt_req *req)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	static const char *const cls[3] = { "2xx", "4xx", "5xx" };
	unsigned long long cum = 0;

	if (!f) {
		http_reply_text(req, 500, "text/plain", "out of memory\n");
		return;
	}
	fputs("# HELP mltrack_http_requests_total HTTP requests by route and status class.\n"
	      "# TYPE mltrack_http_requests_total counter\n", f);
	for (size_t i = 0; i <= mt_routes_count && i <= MAX_ROUTES; i++) {
		size_t idx = i < mt_routes_count ? i : MAX_ROUTES;
		const char *m = i < mt_routes_count ? mt_routes[i].method : "";
		const char *p = i < mt_routes_count ? mt_routes[i].path : "unmatched";

		for (int c = 0; c < 3; c++) {
			unsigned long long v = atomic_load(&route_count[idx][c]);

			if (v)
				fprintf(f, "mltrack_http_requests_total{method=\"%s\",route=\"%s\","
					"code=\"%s\"} %llu\n", m, p, cls[c], v);
		}
	}
	fputs("# HELP mltrack_http_request_seconds_total Time spent answering, by route.\n"
	      "# TYPE mltrack_http_request_seconds_total counter\n", f);
	for (size_t i = 0; i < mt_routes_count && i < MAX_ROUTES; i++) {
		unsigned long long ns = atomic_load(&route_ns[i]);

		if (ns)
			fprintf(f, "mltrack_http_request_seconds_total{method=\"%s\",route=\"%s\"} %.6f\n",
				mt_routes[i].method, mt_routes[i].path, (double)ns / 1e9);
	}
	fputs("# HELP mltrack_http_request_duration_seconds Request latency.\n"
	      "# TYPE mltrack_http_request_duration_seconds histogram\n", f);
	for (int b = 0; b < NBUCKETS; b++) {
		cum += atomic_load(&hist[b]);
		fprintf(f, "mltrack_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
			bucket_le[b], cum);
	}
	cum += atomic_load(&hist[NBUCKETS]);
	fprintf(f, "mltrack_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
	fprintf(f, "mltrack_http_request_duration_seconds_sum %.6f\n",
		(double)atomic_load(&hist_sum_ns) / 1e9);
	fprintf(f, "mltrack_http_request_duration_seconds_count %llu\n", atomic_load(&hist_count));
	auth_metrics(f);
	authcache_metrics(f);
	authz_metrics(f);
	conns_metrics(f);
	s3_metrics(f);
	webhooks_metrics(f);
	monitor_alerts_metrics(f);
	{
		int open, idle, max;

		db_pool_stats(&open, &idle, &max);
		fprintf(f, "# HELP mltrack_db_pool_connections PostgreSQL connections of the pool, "
			"by state.\n# TYPE mltrack_db_pool_connections gauge\n"
			"mltrack_db_pool_connections{state=\"busy\"} %d\n"
			"mltrack_db_pool_connections{state=\"idle\"} %d\n"
			"# HELP mltrack_db_pool_size The pool's size (--database-pool).\n"
			"# TYPE mltrack_db_pool_size gauge\nmltrack_db_pool_size %d\n",
			open - idle, idle, max);
	}
	fclose(f);
	send_body(req, 200, "text/plain; version=0.0.4", buf, len, NULL);
	free(buf);
}

/* ---- request helpers ---- */
static void decref(void *p)
{
	json_decref(p);
}

json_t *req_own(struct mt_req *req, json_t *j)
{
	mt_arena_defer(req->arena, decref, j);
	return j;
}

json_t *req_resp(struct mt_req *req)
{
	if (!req->resp)
		req->resp = req_own(req, json_object());
	return req->resp;
}

int req_str(struct mt_req *req, const char *key, const char **out)
{
	return mt_json_req_str(out, req->body, key, req->arena, &req->err);
}

int req_opt_str(struct mt_req *req, const char *key, const char **out)
{
	return mt_json_opt_str(out, req->body, key, req->arena, &req->err);
}

int req_run_id(struct mt_req *req, const char **out)
{
	if (mt_json_opt_str(out, req->body, "run_id", req->arena, &req->err))
		return -1;
	if (!*out || !**out) {
		if (mt_json_opt_str(out, req->body, "run_uuid", req->arena, &req->err))
			return -1;
	}
	if (!*out || !**out)
		return mt_json_missing(&req->err, "run_id");
	return mt_validate_run_id(*out, &req->err);
}

/* ---- body and query parsing ---- */
static long long body_allowed_ns(long long received)
{
	return (long long)mt_cfg.request_timeout_ms * 1000000LL + received * (1000000000LL / 1024);
}

static int body_late(struct mt_req *req, long long received)
{
	long long took = mt_mono_ns() - req->start_ns;

	if (took <= body_allowed_ns(received))
		return 0;
	mg_disable_connection_keep_alive(req->conn);
	return mt_err_set(&req->err, MT_ESLOW,
			  "Request body not received in time: %lld bytes in %.1f s (a body may take "
			  "%d ms plus 1 s per KiB)", received, (double)took / 1e9,
			  mt_cfg.request_timeout_ms);
}

int http_body_read(struct mt_req *req, void *buf, size_t len, long long received)
{
	int r = conns_read(req->w, req->conn, buf, len,
			   req->start_ns + body_allowed_ns(received));

	if (body_late(req, received + (r > 0 ? r : 0)))
		return -1;
	return r;
}

static int read_body(struct mt_req *req, char **out, size_t *len)
{
	long long cl = req->ri->content_length;
	size_t cap = cl > 0 ? (size_t)cl : 4096, n = 0;
	char *buf;

	if (cl > MT_MAX_JSON_BODY)
		return mt_err_set(&req->err, MT_ETOOBIG,
				  "Request body of %lld bytes exceeds the limit of %d bytes", cl,
				  MT_MAX_JSON_BODY);
	buf = mt_arena_alloc(req->arena, cap + 1);
	for (;;) {
		int r;

		if (n == cap) {
			char *nb;

			if (cl > 0)
				break;
			if (cap >= MT_MAX_JSON_BODY)
				return mt_err_set(&req->err, MT_ETOOBIG,
						  "Request body exceeds the limit of %d bytes",
						  MT_MAX_JSON_BODY);
			nb = mt_arena_alloc(req->arena, cap * 2 + 1);
			memcpy(nb, buf, n);
			buf = nb;
			cap *= 2;
		}
		r = http_body_read(req, buf + n, cap - n, (long long)n);
		if (r < 0 && req->err.code)
			return -1; /* too slow */
		if (r < 0) {
			/* A chunked body that breaks the chunked format (or a
			 * read that failed) is refused, never taken for an
			 * empty one; the connection cannot be reused. */
			mg_disable_connection_keep_alive(req->conn);
			if (mg_get_header(req->conn, "Transfer-Encoding"))
				return mt_err_set(&req->err, MT_EBADREQ,
						  "Malformed chunked request body");
			return mt_err_set(&req->err, MT_EBADREQ, "Request body could not be read");
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (cl > 0 && (long long)n != cl)
		return mt_err_set(&req->err, MT_EBADREQ, "Request body is shorter than Content-Length");
	req->body_done = 1;
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* jansson's memory.  A request body's tree comes from the worker's arena:
 * a 1000-point log-batch is some 10,000 small objects, and taking them
 * from malloc (and giving them back one by one) cost more CPU than
 * parsing them.  Only parse_json_body allocates so, around json_loadb; a
 * free of the arena's memory (the tree's json_decref, at the arena's reset
 * or when a handler replaces a field) is then nothing, and every other
 * allocation is malloc's, so json_dumps' strings are free()d as before.
 * A worker's arena outlives every tree taken from it: the trees are the
 * request's (req_own) and are released by the reset's cleanups, which run
 * before its blocks are freed. */
static _Thread_local struct mt_arena *json_arena;   /* this worker's */
static _Thread_local int json_from_arena;

static void *json_alloc(size_t n)
{
	return json_from_arena ? mt_arena_alloc_uninit(json_arena, n) : malloc(n);
}

static void json_free(void *p)
{
	if (p && json_arena && mt_arena_owns(json_arena, p))
		return;
	free(p);
}

void http_json_alloc_init(void)
{
	json_set_alloc_funcs(json_alloc, json_free);
}

static json_t *load_body(const char *text, size_t len, size_t flags, json_error_t *jerr)
{
	json_t *j;

	json_from_arena = json_arena != NULL;
	j = json_loadb(text, len, flags, jerr);
	json_from_arena = 0;
	return j;
}

static int parse_json_body(struct mt_req *req)
{
	char *body = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *j;
	const char *m = req->ri->request_method;
	int has_body = req->ri->content_length > 0 ||
		       mg_get_header(req->conn, "Transfer-Encoding") != NULL;

	/* A JSON body comes with its type, as MLflow requires for POST and
	 * PUT; PATCH and DELETE too when they carry one.  A browser sends
	 * other types (forms, text/plain) without asking the server first. */
	if ((strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ||
	     (has_body && (strcmp(m, "PATCH") == 0 || strcmp(m, "DELETE") == 0))) &&
	    !mt_http_is_json(mg_get_header(req->conn, "Content-Type")))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Bad Request. Content-Type must be one of ['application/json'].");
	if (read_body(req, &body, &len))
		return -1;
	if (len == 0 || strspn(body, " \t\r\n") == len) {
		req->body = req_own(req, json_object());
		return 0;
	}
	if (!mt_json_depth_ok(body, len, MT_JSON_MAX_DEPTH))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Request body nests deeper than %d levels", MT_JSON_MAX_DEPTH);
	j = load_body(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (j && json_is_string(j)) {
		/* Old clients send the JSON text as a JSON string. */
		const char *text = json_string_value(j);
		size_t n = json_string_length(j);
		json_t *inner = NULL;

		if (mt_json_depth_ok(text, n, MT_JSON_MAX_DEPTH))
			inner = load_body(text, n, 0, &jerr);
		else
			snprintf(jerr.text, sizeof(jerr.text), "nested deeper than %d levels",
				 MT_JSON_MAX_DEPTH);
		json_decref(j);
		j = inner;
	}
	if (!j)
		return mt_err_set(&req->err, MT_EINVAL, "Malformed JSON in request body: %s",
				  jerr.text);
	req_own(req, j);
	if (!json_is_object(j))
		return mt_err_set(&req->err, MT_EINVAL, "Request body must be a JSON object");
	req->body = j;
	return 0;
}

static int parse_query(struct mt_req *req)
{
	const char *qs = req->ri->query_string;
	json_t *obj = req_own(req, json_object());

	req->body = obj;
	while (qs && *qs) {
		const char *amp = strchr(qs, '&');
		size_t len = amp ? (size_t)(amp - qs) : strlen(qs);
		const char *eq = memchr(qs, '=', len);
		size_t klen = eq ? (size_t)(eq - qs) : len;
		size_t vlen = eq ? len - klen - 1 : 0;
		char *k = mt_arena_alloc(req->arena, klen + 1);
		char *v = mt_arena_alloc(req->arena, vlen + 1);
		json_t *old;

		if (len == 0)
			goto next;
		{
			int kn = mg_url_decode(qs, (int)klen, k, (int)klen + 1, 1);
			int vn = eq ? mg_url_decode(eq + 1, (int)vlen, v, (int)vlen + 1, 1) : 0;

			/* A decoded NUL (%00) or invalid UTF-8 is refused. */
			if (kn < 0 || vn < 0 || !mt_utf8_valid(k, (size_t)kn) ||
			    !mt_utf8_valid(v, (size_t)vn))
				return mt_err_set(&req->err, MT_EINVAL,
						  "Query string parameters must be valid UTF-8 "
						  "without NUL bytes");
		}
		old = json_object_get(obj, k);
		if (!old) {
			json_object_set_new(obj, k, json_string(v));
		} else if (json_is_array(old)) {
			json_array_append_new(old, json_string(v));
		} else {
			json_t *arr = json_array();

			json_array_append(arr, old);
			json_array_append_new(arr, json_string(v));
			json_object_set_new(obj, k, arr);
		}
next:
		qs = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* ---- the dispatcher ---- */

/* A failed attempt is worth running again: a connection found dead (the
 * database restarted) once, when nothing can have been committed; a
 * retryable failure (deadlock, serialization) of a transaction up to three
 * times.  The dead connection is dropped so the next attempt reconnects. */
static int should_retry(struct mt_req *req, int attempt, int txn, int commit_failed)
{
	struct mt_worker *w = req->w;

	if (w->conn && PQstatus(w->conn) != CONNECTION_OK && attempt == 0 && !commit_failed) {
		db_close(w);
	} else if (!txn || !req->err.retryable || attempt >= 3) {
		return 0;
	}
	if (!req->retry_expected)
		fprintf(stderr, "mltrackd: retrying %s after: %s\n", req->route->path,
			req->err.log_detail);
	req->retry_expected = 0;
	req->resp = NULL;
	mt_err_clear(&req->err);
	return 1;
}

int http_txn(struct mt_req *req, mt_txn_fn fn, void *arg)
{
	struct mt_worker *w = req->w;

	assert(!req->in_txn);
	for (int attempt = 0;; attempt++) {
		struct mt_err cerr = MT_ERR_INIT;
		int rc, commit_failed = 0;

		if (db_ensure(w, &req->err))
			return -1;
		if (db_command(w, "BEGIN", &req->err)) {
			rc = -1;
		} else {
			req->in_txn = 1;
			rc = fn(req, arg);
			if (rc == 0 && db_command(w, "COMMIT", &cerr)) {
				/* The outcome of a COMMIT that failed in flight is
				 * unknown: never retry it. */
				req->err = cerr;
				commit_failed = 1;
				rc = -1;
			} else if (rc != 0) {
				db_command(w, "ROLLBACK", &cerr);
			}
			req->in_txn = 0;
		}
		if (rc == 0)
			return 0;
		if (!should_retry(req, attempt, 1, commit_failed))
			return -1;
	}
}

static int route_fn(struct mt_req *req, void *arg)
{
	(void)arg;
	/* A creator's MANAGE row commits with what it created. */
	if (req->route->fn(req) || authz_created(req))
		return -1;
	return 0;
}

static int run_route(struct mt_req *req)
{
	const struct mt_route *r = req->route;

	if (r->flags & R_TXN)
		return http_txn(req, route_fn, NULL);
	/* The connection is borrowed at the handler's first query. */
	for (int attempt = 0;; attempt++) {
		if (r->fn(req) == 0)
			return 0;
		/* A handler that read its body as a stream cannot run again. */
		if ((r->flags & (R_NODB | R_STREAM)) || !should_retry(req, attempt, 0, 0))
			return -1;
	}
}

static int run_handler(struct mt_req *req)
{
	int rc = run_route(req);

	/* After the commit: this server's next request sees the change at
	 * once; the others when its notification reaches them. */
	if (req->auth_changed)
		authcache_invalidate();
	return rc;
}

/* The path for the log: decoded, so "%0a" would start a line of its own
 * and "%1b" drive a terminal.  Control bytes and backslashes become \xNN;
 * long paths are cut.  Arena memory. */
static const char *log_path(struct mt_arena *a, const char *path)
{
	size_t n = strlen(path), max = n < 1024 ? n : 1024;
	char *out = mt_arena_alloc(a, max * 4 + 4), *o = out;

	for (size_t i = 0; i < max; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c < 0x20 || c == 0x7f || c == '\\')
			o += sprintf(o, "\\x%02x", c);
		else
			*o++ = (char)c;
	}
	if (max < n)
		o += sprintf(o, "...");
	*o = '\0';
	return out;
}

/* Paths MLflow's servers answer outside the dashboard: the REST APIs
 * (/api/, /ajax-api/ is mapped onto it), GraphQL, the OTLP trace export
 * and the AI gateway.  What mltrackd does not serve there is 404
 * ENDPOINT_NOT_FOUND in MLflow's JSON shape, never the dashboard's text
 * (or a 405), so MLflow's clients take their fallback at once. */
static int mlflow_path(const char *path)
{
	static const char *const prefixes[] = { "/api/", "/graphql/", "/v1/", "/gateway/" };

	if (strcmp(path, "/graphql") == 0)
		return 1;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(*prefixes); i++)
		if (strncmp(path, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

/* path with each run of '/' made one, or NULL when it has none to merge.
 * Arena memory. */
static char *merge_slashes(struct mt_arena *a, const char *path)
{
	char *out, *o;

	if (!strstr(path, "//"))
		return NULL;
	out = o = mt_arena_strdup(a, path);
	for (const char *p = path; *p; p++)
		if (*p != '/' || o == out || o[-1] != '/')
			*o++ = *p;
	*o = '\0';
	return out;
}

static int dispatch(struct mg_connection *conn, void *cbdata)
{
	struct mt_worker *w = mg_get_thread_pointer(conn);
	struct mt_req req;
	long long t0 = mt_mono_ns(), ns;
	char pathbuf[2048];
	const char *path, *rawpath, *allow = NULL;
	int found = 0, rc;
	char allowbuf[64];

	(void)cbdata;
	memset(&req, 0, sizeof(req));
	req.conn = conn;
	req.ri = mg_get_request_info(conn);
	req.w = w;
	req.arena = &w->arena;
	req.client_fd = -1;
	req.start_ns = t0;
	/* Framing, the decoded path, Host, origin, preflights (guard.c). */
	rc = guard_request(&req, &path, &rawpath);
	if (rc < 0) {
		send_error(&req, NULL);
		goto done;
	}
	if (rc > 0)
		goto done;
	if (strncmp(path, "/ajax-api/", 10) == 0) {
		snprintf(pathbuf, sizeof(pathbuf), "/api/%s", path + 10);
		path = pathbuf;
	}
	/* Prefix routes (artifact paths) are matched on the path as sent,
	 * decoded once (guard.c): the other has dot segments resolved
	 * ("a/../b" is "b"), and the path checks must see, and refuse, what
	 * the client sent. */
	if (rawpath) {
		const char *rawp = rawpath;

		if (strncmp(rawp, "/ajax-api/", 10) == 0)
			rawp = mt_arena_printf(req.arena, "/api/%s", rawp + 10);
		req.route = routes_lookup(req.ri->request_method, rawp, &found, &req.subpath);
		if (req.route && !(req.route->flags & R_PREFIX))
			req.route = NULL;
		if (req.route)
			path = rawp;
	}
	if (!req.route)
		req.route = routes_lookup(req.ri->request_method, path, &found, &req.subpath);
	if (!req.route && !found) {
		/* As MLflow's server (werkzeug merges slashes): the UI's
		 * "//model-versions/get-artifact".  Not for prefix routes,
		 * whose paths are checked as sent. */
		char *merged = merge_slashes(req.arena, path);
		const char *sub;
		int found2 = 0;
		const struct mt_route *r2 = merged ? routes_lookup(req.ri->request_method, merged,
								   &found2, &sub) : NULL;

		if (r2 && !(r2->flags & R_PREFIX)) {
			req.route = r2;
			req.subpath = sub;
			path = merged;
		}
	}

	if (!req.route) {
		if (!mlflow_path(path) && !found) {
			if (body_pending(&req)) /* no page reads one */
				mg_disable_connection_keep_alive(conn);
			rc = web_serve(conn, req.ri, path); /* the dashboard (web.c) */
			mt_arena_reset(&w->arena);
			return rc;
		}
		if (found) {
			routes_allow(path, allowbuf, sizeof(allowbuf));
			allow = allowbuf;
			mt_err_set(&req.err, MT_EMETHOD, "Method %s is not allowed for %s",
				   req.ri->request_method, path);
		} else {
			mt_err_set(&req.err, MT_ENOENDPOINT, "No API endpoint at %s", path);
		}
		send_error(&req, allow);
		goto done;
	}
	/* Who is asking, before a byte of the body is read (auth.c). */
	if (route_public(req.route)) {
		rc = 0;
	} else {
		long long a0 = mt_mono_ns();

		rc = auth_request(&req);
		auth_count(&req, mt_mono_ns() - a0);
		/* The body may be slow to come: hold no connection meanwhile
		 * (the handler borrows one again at its first query). */
		db_release(w);
	}
	if (rc == 0 && (req.route->flags & R_BODY))
		rc = parse_json_body(&req);
	else if (rc == 0)
		rc = parse_query(&req);
	/* MLflow's checks of the fields' types and required ones, before
	 * the handler reads or writes anything (fields.c). */
	if (rc == 0)
		rc = fields_check(&req);
	/* May the caller do this: the route's resource class (authz.c). */
	if (rc == 0)
		rc = authz_check(&req);
	if (rc == 0)
		rc = run_handler(&req);
	db_release(w); /* before the reply: a slow reader holds no connection */
	if (rc != 0) {
		/* A failure we did not expect (5xx) is logged in full; a user
		 * error is the client's to read. */
		if (mt_code_http(req.err.code) >= 500)
			fprintf(stderr, "mltrackd: %s %s: %s: %s [%s]\n", req.ri->request_method,
				log_path(req.arena, path), mt_code_name(req.err.code), req.err.msg,
				req.err.log_detail);
		send_error(&req, NULL);
	} else if (!(req.route->flags & R_RAW)) {
		send_json(&req, 200, req.resp ? req.resp : req_resp(&req), NULL);
	}
done:
	ns = mt_mono_ns() - t0;
	count_request(req.route, req.status, ns);
	fprintf(stderr, "%s %s %d %.3fms\n", req.ri->request_method, log_path(req.arena, path),
		req.status, (double)ns / 1e6);
	mt_arena_reset(&w->arena);
	w->requests++;
	return req.status;
}

/* CivetWeb's master thread (the accept loop), while it runs: http_stop()
 * interrupts its poll(). */
static struct {
	pthread_mutex_t mu;
	pthread_t thread;
	int running;
} master = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- CivetWeb callbacks ---- */
static void *init_thread(const struct mg_context *ctx, int thread_type)
{
	struct mt_worker *w;

	(void)ctx;
	if (thread_type == 0) {
		pthread_mutex_lock(&master.mu);
		master.thread = pthread_self();
		master.running = 1;
		pthread_mutex_unlock(&master.mu);
	}
	if (thread_type != 1)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		abort();
	mt_arena_init(&w->arena);
	json_arena = &w->arena;
	conns_watch_add(w);
	return w;
}

static void exit_thread(const struct mg_context *ctx, int thread_type, void *ptr)
{
	struct mt_worker *w = ptr;

	(void)ctx;
	if (thread_type == 0) {
		/* The master's last act before it ends: no signal after this. */
		pthread_mutex_lock(&master.mu);
		master.running = 0;
		pthread_mutex_unlock(&master.mu);
	}
	if (!w)
		return;
	conns_watch_remove(w);
	db_close(w);
	mt_arena_release(&w->arena);
	json_arena = NULL;
	free(w);
}

/* CivetWeb's own refusals (a request line over its limit, a malformed
 * request, a missing static file) in MLflow's error shape too. */
static int http_error(struct mg_connection *conn, int status, const char *errmsg)
{
	struct mt_err err = MT_ERR_INIT;
	enum mt_code code = status == 404 ? MT_ENOENDPOINT : status == 405 ? MT_EMETHOD :
			    status == 413 ? MT_ETOOBIG : status >= 500 ? MT_EINTERNAL : MT_EBADREQ;
	json_t *j;
	char *body, clen[32];

	mt_err_set(&err, code, "%s", errmsg && *errmsg ? errmsg : mg_get_response_code_text(conn, status));
	j = json_pack("{s:s,s:s}", "error_code", mt_code_name(code), "message", err.msg);
	body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!body)
		return 1; /* let CivetWeb answer in plain text */
	snprintf(clen, sizeof(clen), "%zu", strlen(body));
	mg_response_header_start(conn, status);
	mg_response_header_add(conn, "Content-Type", "application/json", -1);
	mg_response_header_add(conn, "Content-Length", clen, -1);
	guard_headers(conn);
	mg_response_header_send(conn);
	mg_write(conn, body, strlen(body));
	free(body);
	return 0;
}

static int log_message(const struct mg_connection *conn, const char *message)
{
	char line[1024];

	(void)conn;
	mt_redact_copy(line, sizeof(line), message);
	fprintf(stderr, "mltrackd: http: %s\n", line);
	return 1;
}

int http_start(struct mg_context **out, struct mt_err *err)
{
	struct mg_callbacks cb;
	char ports[300], threads[16], req_to[16], ka_to[16];
	const char *opts[32];
	int n = 0;
	struct mg_context *ctx;
	struct mg_init_data init;
	struct mg_error_data edata;
	char ebuf[256] = "";

	if (mt_routes_count > MAX_ROUTES)
		return mt_err_set(err, MT_EINTERNAL, "route table too large");
	if (fields_init(err) || authz_init(err))
		return -1;
	/* A trailing 's': HTTPS only on the port (tls.c's SSL_CTX). */
	if (strchr(mt_cfg.host, ':'))
		snprintf(ports, sizeof(ports), "[%s]:%d%s", mt_cfg.host, mt_cfg.port,
			 tls_on() ? "s" : "");
	else
		snprintf(ports, sizeof(ports), "%s:%d%s", mt_cfg.host, mt_cfg.port,
			 tls_on() ? "s" : "");
	snprintf(threads, sizeof(threads), "%d", mt_cfg.threads);
	opts[n++] = "listening_ports";
	opts[n++] = ports;
	opts[n++] = "num_threads";
	opts[n++] = threads;
	opts[n++] = "enable_keep_alive";
	opts[n++] = "yes";
	/* Headers and body go out in separate writes: without TCP_NODELAY,
	 * Nagle holds the body until the client's delayed ACK (~40 ms). */
	opts[n++] = "tcp_nodelay";
	opts[n++] = "1";
	/* The head of a request (and each wait for body bytes); an idle
	 * kept-alive connection.  Each holds a worker while it lasts. */
	snprintf(req_to, sizeof(req_to), "%d", mt_cfg.request_timeout_ms);
	snprintf(ka_to, sizeof(ka_to), "%d", mt_cfg.keep_alive_timeout_ms);
	opts[n++] = "keep_alive_timeout_ms";
	opts[n++] = ka_to;
	opts[n++] = "request_timeout_ms";
	opts[n++] = req_to;
	opts[n++] = "enable_directory_listing";
	opts[n++] = "no";
	/* What CivetWeb answers by itself (an error page when http_error
	 * cannot) carries the headers guard_headers() gives the rest. */
	opts[n++] = "additional_header";
	opts[n++] = tls_on() ? "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n"
			       "Strict-Transport-Security: " GUARD_HSTS
			     : "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY";
	/* No CORS unless guard.c grants it: CivetWeb would answer every
	 * preflight with "*" and the requested method. */
	opts[n++] = "access_control_allow_origin";
	opts[n++] = "";
	/* guard.c decodes the path: CivetWeb's decoding in place cuts it at
	 * a %00. */
	opts[n++] = "decode_url";
	opts[n++] = "no";
	opts[n] = NULL;

	memset(&cb, 0, sizeof(cb));
	cb.init_thread = init_thread;
	cb.exit_thread = exit_thread;
	cb.init_connection = conns_open;
	cb.connection_close = conns_close;
	cb.log_message = log_message;
	cb.http_error = http_error;
	if (tls_on())
		cb.external_ssl_ctx = tls_civetweb_ctx;
	memset(&init, 0, sizeof(init));
	init.callbacks = &cb;
	init.configuration_options = opts;
	memset(&edata, 0, sizeof(edata));
	edata.text = ebuf;
	edata.text_buffer_size = sizeof(ebuf);
	ctx = mg_start2(&init, &edata);
	if (!ctx)
		return mt_err_set(err, MT_EINTERNAL, "cannot listen on %s: %s", ports,
				  ebuf[0] ? ebuf : "unknown error");
	mg_set_request_handler(ctx, "/", dispatch, NULL);
	*out = ctx;
	return 0;
}

static void *stop_main(void *ctx)
{
	mg_stop(ctx);
	return NULL;
}

/*
 * mg_stop() sets CivetWeb's stop flag and waits for the master thread, which
 * looks at the flag only between two poll()s of the listening sockets of up
 * to 2 s each (SOCKET_TIMEOUT_QUANTUM): a graceful stop took up to 2 s for
 * nothing, about 1 s on average.  Here mg_stop() runs on a thread of its
 * own while this one interrupts the master's poll() with SIGURG (conns.c's
 * empty handler, installed without SA_RESTART) every 5 ms until the master
 * reports its end in exit_thread.  A signal that comes before the flag is
 * set only starts another poll(); the first one after it ends the accept
 * loop.  Workers are not signalled: requests in flight finish as before.
 */
void http_stop(struct mg_context *ctx)
{
	pthread_t stopper;

	if (!ctx)
		return;
	if (pthread_create(&stopper, NULL, stop_main, ctx) != 0) {
		mg_stop(ctx);
		return;
	}
	for (;;) {
		struct timespec ts = { 0, 5 * 1000000L };
		int running;

		pthread_mutex_lock(&master.mu);
		running = master.running;
		if (running)
			pthread_kill(master.thread, SIGURG);
		pthread_mutex_unlock(&master.mu);
		if (!running)
			break;
		nanosleep(&ts, NULL);
	}
	pthread_join(stopper, NULL);
}
