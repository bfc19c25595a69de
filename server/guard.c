/*
 * guard.c: the edge checks of every request, and the headers of every
 * answer (guard.h).  The rules are lib/mt_http's; here they meet CivetWeb.
 *
 * CivetWeb is set up (http_start) so that these checks see what the client
 * sent: it no longer answers CORS preflights itself
 * (access_control_allow_origin ""), and it does not decode the path
 * (decode_url no), since its in-place decoding turns %00 into the end of
 * the string; guard_request() decodes instead and refuses a decoded NUL.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "guard.h"
#include "mt_http.h"

/* Process lifetime: filled by guard_config/guard_init before the server
 * starts, read-only afterwards. */
static struct mt_http_policy policy;
static int policy_ready;

#define ALLOW_METHODS "GET, HEAD, POST, PUT, PATCH, DELETE"
#define ALLOW_HEADERS "Authorization, Content-Type, X-Requested-With, Range, If-None-Match"
#define EXPOSE_HEADERS "ETag, Content-Disposition, Content-Range, Accept-Ranges"

static void ready(void)
{
	if (!policy_ready) {
		mt_http_policy_init(&policy);
		policy_ready = 1;
	}
}

int guard_config(const char *flag, const char *value, struct mt_err *err)
{
	ready();
	if (strcmp(flag, "--allowed-host") == 0)
		return mt_http_policy_add_host(&policy, value, err);
	if (strcmp(flag, "--cors-origin") == 0)
		return mt_http_policy_add_origin(&policy, value, err);
	return mt_err_set(err, MT_EINVAL, "unknown option '%s'", flag);
}

int guard_init(const char *bind_host, int tls, struct mt_err *err)
{
	ready();
	policy.tls = tls;
	return mt_http_policy_defaults(&policy, bind_host, err);
}

/* The request's headers as lib/mt_http takes them. */
static size_t headers(const struct mg_request_info *ri, struct mt_http_hdr *h)
{
	size_t n = ri->num_headers < 0 ? 0 : (size_t)ri->num_headers;

	if (n > MG_MAX_HEADERS)
		n = MG_MAX_HEADERS;
	for (size_t i = 0; i < n; i++) {
		h[i].name = ri->http_headers[i].name;
		h[i].value = ri->http_headers[i].value;
	}
	return n;
}

/* The Origin to grant CORS to on this answer, or NULL. */
static const char *grant(struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct mt_http_hdr h[MG_MAX_HEADERS];
	struct mt_http_origin o;
	struct mt_err err = MT_ERR_INIT;
	const char *ov;
	size_t n;
	int count;

	if (!ri || !policy.norigins)
		return NULL;
	n = headers(ri, h);
	ov = mt_http_header(h, n, "Origin", &count);
	if (!ov || count != 1 || mt_http_parse_origin(&o, ov, 0, &err) ||
	    !mt_http_origin_allowed(&policy, &o))
		return NULL;
	return ov;
}

/* The security headers, as (name, value) pairs; returns how many. */
static int security_headers(struct mg_connection *conn, const char *out[][2])
{
	const char *g = grant(conn);
	int n = 0;

	out[n][0] = "X-Content-Type-Options";
	out[n++][1] = "nosniff";
	out[n][0] = "X-Frame-Options";
	out[n++][1] = "DENY";
	if (policy.tls) {
		out[n][0] = "Strict-Transport-Security";
		out[n++][1] = GUARD_HSTS;
	}
	if (policy.norigins) {
		/* The answer depends on Origin: no cache may hand one origin's
		 * grant to another. */
		out[n][0] = "Vary";
		out[n++][1] = "Origin";
	}
	if (g) {
		out[n][0] = "Access-Control-Allow-Origin";
		out[n++][1] = g;
		out[n][0] = "Access-Control-Expose-Headers";
		out[n++][1] = EXPOSE_HEADERS;
	}
	return n;
}

void guard_headers(struct mg_connection *conn)
{
	const char *h[6][2];
	int n = security_headers(conn, h);

	for (int i = 0; i < n; i++)
		mg_response_header_add(conn, h[i][0], h[i][1], -1);
}

void guard_header_lines(struct mg_connection *conn, char *buf, size_t size)
{
	const char *h[6][2];
	int n = security_headers(conn, h);
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < n && len < size; i++) {
		int w = snprintf(buf + len, size - len, "%s: %s\r\n", h[i][0], h[i][1]);

		if (w < 0 || (size_t)w >= size - len) {
			buf[len] = '\0';
			break;
		}
		len += (size_t)w;
	}
}

/* Header names, comma-separated: what a preflight may ask for and get
 * echoed (the origin is one the operator allowed). */
static int header_list_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 512)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == ',' || c == ' '))
			return 0;
	}
	return 1;
}

static int answer_preflight(struct mt_req *req)
{
	const char *acrh = mg_get_header(req->conn, "Access-Control-Request-Headers");

	mg_response_header_start(req->conn, 204);
	guard_headers(req->conn);
	mg_response_header_add(req->conn, "Access-Control-Allow-Methods", ALLOW_METHODS, -1);
	mg_response_header_add(req->conn, "Access-Control-Allow-Headers",
			       acrh && header_list_ok(acrh) ? acrh : ALLOW_HEADERS, -1);
	mg_response_header_add(req->conn, "Access-Control-Max-Age", "600", -1);
	mg_response_header_send(req->conn);
	req->status = 204;
	return 1;
}

/* Liveness and readiness probes answer any Host: they hold no data, and
 * orchestrators probe by IP address or a name of their own. */
static int is_probe(const char *method, const char *path)
{
	static const char *const probes[] = { "/healthz", "/readyz", "/health", "/version" };

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return 0;
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		if (strcmp(path, probes[i]) == 0)
			return 1;
	return 0;
}

static int decode(struct mt_req *req, const char *in, const char **out)
{
	size_t size = strlen(in) + 1;
	char *buf = mt_arena_alloc(req->arena, size);

	if (mt_http_decode_path(buf, size, in, NULL, &req->err))
		return -1;
	*out = buf;
	return 0;
}

int guard_request(struct mt_req *req, const char **path, const char **rawpath)
{
	const struct mg_request_info *ri = req->ri;
	struct mt_http_hdr h[MG_MAX_HEADERS];
	size_t n = headers(ri, h);
	struct mt_http_req r;
	struct mt_http_verdict v;

	ready();
	*path = ri->local_uri ? ri->local_uri : "/"; /* for the log, until decoded */
	*rawpath = NULL;
	/* Framing first: a request read differently by a proxy in front and
	 * by us must not be answered, and its connection not reused. */
	if (mt_http_framing(h, n, MG_MAX_HEADERS, &req->err)) {
		mg_disable_connection_keep_alive(req->conn);
		return -1;
	}
	if (decode(req, ri->local_uri ? ri->local_uri : "/", path) ||
	    (ri->local_uri_raw && decode(req, ri->local_uri_raw, rawpath)))
		return -1;
	r.method = ri->request_method;
	r.hdrs = h;
	r.nhdrs = n;
	r.host_exempt = is_probe(ri->request_method, *path);
	if (mt_http_check(&v, &policy, &r, &req->err))
		return -1;
	if (v.action == MT_HTTP_PREFLIGHT)
		return answer_preflight(req);
	return 0;
}
