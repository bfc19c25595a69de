/*
 * mt_http: the pure parts of mltrackd's checks at the HTTP edge
 * (server/guard.c runs them once per request, before routing).
 *
 *  - Host and Origin: parsing (RFC 9110 §7.2 uri-host [":" port]; RFC 6454
 *    serialized origins), the policy of names the server answers to
 *    (--allowed-host) and origins it grants CORS to (--cors-origin), and the
 *    rule for requests that change state: refused when the browser says they
 *    come from another origin (Origin names another origin than the
 *    server's own scheme://Host and is not granted, or Sec-Fetch-Site is
 *    cross-site or same-site) -- DNS rebinding and cross-site request
 *    forgery from a page in the user's browser.
 *  - Framing: the Content-Length / Transfer-Encoding rule and the header
 *    count, so that no two parties can read one byte stream as different
 *    requests (request smuggling).
 *  - The Content-Type test for JSON bodies.
 *  - Percent-decoding of request paths, refusing a decoded NUL (%00), which
 *    C strings would silently cut at.
 *  - The Content-Type and Content-Disposition of an artifact download.
 *
 * No civetweb.h: headers come in as name/value pairs (struct mt_http_hdr),
 * borrowed from the caller.  Nothing here allocates; results go into
 * caller-owned structs, and failures into struct mt_err with a one-line,
 * client-safe message (MT_EINVAL 400 for malformed input, MT_EPERM 403 for a
 * refusal, MT_EBADREQ 400 for framing, MT_EHEADERS 431).
 */
#ifndef MT_HTTP_H
#define MT_HTTP_H

#include <stddef.h>

#include "mt_error.h"

#define MT_HTTP_NAME_MAX 255 /* bytes of a host name */
#define MT_HTTP_LIST_MAX 32  /* entries of --allowed-host, of --cors-origin */

struct mt_http_hdr {
	const char *name;
	const char *value;
};

/* The first header named `name` (ASCII case-insensitive), or NULL; *count
 * (when not NULL) gets how many there are.  Borrowed from h. */
const char *mt_http_header(const struct mt_http_hdr *h, size_t n, const char *name, int *count);

enum mt_http_host_kind { MT_HOST_NAME, MT_HOST_IPV4, MT_HOST_IPV6 };

struct mt_http_host {
	enum mt_http_host_kind kind;
	/* Lower case.  Addresses in canonical text (inet_ntop), IPv6 without
	 * brackets, so that equal addresses compare equal as strings. */
	char name[MT_HTTP_NAME_MAX + 1];
	int port; /* -1 when absent */
};

/* A Host header value: host [":" port], host a name of letters, digits,
 * '-', '.', '_' and '~', a dotted IPv4 address or a bracketed IPv6 address;
 * optional whitespace around it.  Anything else (userinfo, a path, an
 * empty host or port, a port over 65535, percent-encoding, a zone id) is
 * refused with MT_EINVAL.  out is the caller's. */
int mt_http_parse_host(struct mt_http_host *out, const char *value, struct mt_err *err);

struct mt_http_origin {
	char scheme[6];           /* "http" or "https" */
	struct mt_http_host host; /* port: as given, else the scheme's default */
};

/* An Origin header value: "http" or "https" (any case), "://", a host as
 * above and an optional port, nothing else ("null", paths, userinfo and
 * other schemes are refused with MT_EINVAL).  allow_slash tolerates one
 * trailing '/' (for configuration, where users paste URLs). */
int mt_http_parse_origin(struct mt_http_origin *out, const char *value, int allow_slash,
			 struct mt_err *err);
/* The canonical serialization ("http://host[:port]", default port left
 * out, IPv6 bracketed) into buf.  Returns buf. */
const char *mt_http_origin_str(char *buf, size_t size, const struct mt_http_origin *o);
/* o is the origin of a page served by the server the request names in its
 * Host header (h): same host and port.  tls 0 (the server speaks plain
 * HTTP): the scheme is not compared, since behind a TLS proxy the server's
 * pages are https, and a Host without a port means the origin's default
 * port.  tls 1 (the server speaks HTTPS itself, --tls-cert): its origin is
 * https://Host only, and a Host without a port means 443. */
int mt_http_same_origin(const struct mt_http_origin *o, const struct mt_http_host *h, int tls);

/* What the server answers to and grants CORS to (process lifetime). */
struct mt_http_policy {
	int any_host; /* "*" given: no Host check (a proxy in front does it) */
	int any_ip;   /* bound to a wildcard address: every IP literal too */
	int tls;      /* the server speaks HTTPS itself (mt_http_same_origin) */
	size_t nhosts;
	struct mt_http_host hosts[MT_HTTP_LIST_MAX + 4];
	size_t norigins;
	struct mt_http_origin origins[MT_HTTP_LIST_MAX];
};

void mt_http_policy_init(struct mt_http_policy *p);
/* One --allowed-host value: "*", a host as in a Host header (its port is
 * ignored), or a bare IPv6 address.  MT_EINVAL when malformed or one too
 * many. */
int mt_http_policy_add_host(struct mt_http_policy *p, const char *spec, struct mt_err *err);
/* One --cors-origin value: an origin as above ("*" and "null" refused). */
int mt_http_policy_add_origin(struct mt_http_policy *p, const char *spec, struct mt_err *err);
/* The names every server answers to: localhost, 127.0.0.1, ::1 and the
 * address it is bound to (bind_host, as given to --host); bound to a
 * wildcard address (0.0.0.0, ::, empty) it answers to any IP literal, but
 * still to no DNS name it was not told about. */
int mt_http_policy_defaults(struct mt_http_policy *p, const char *bind_host, struct mt_err *err);
int mt_http_host_allowed(const struct mt_http_policy *p, const struct mt_http_host *h);
int mt_http_origin_allowed(const struct mt_http_policy *p, const struct mt_http_origin *o);

/* POST, PUT, PATCH, DELETE. */
int mt_http_state_changing(const char *method);

struct mt_http_req {
	const char *method;
	const struct mt_http_hdr *hdrs;
	size_t nhdrs;
	int host_exempt; /* liveness/readiness probes: any Host */
};

enum mt_http_action {
	MT_HTTP_PASS,      /* go on and route the request */
	MT_HTTP_PREFLIGHT, /* a CORS preflight from a granted origin: answer it */
};

struct mt_http_verdict {
	enum mt_http_action action;
	/* The request's Origin value when the policy grants it CORS: the
	 * answer carries it in Access-Control-Allow-Origin.  Borrowed from
	 * the request's headers; NULL otherwise. */
	const char *grant;
};

/*
 * The request-level decision, in this order:
 *  1. Host: exactly one, well formed (else MT_EINVAL) and one the policy
 *     answers to (else MT_EPERM), unless host_exempt or any_host;
 *  2. a CORS preflight (OPTIONS with Origin and
 *     Access-Control-Request-Method) is MT_HTTP_PREFLIGHT when its origin is
 *     granted, else MT_EPERM;
 *  3. a state-changing method is refused (MT_EPERM) when Origin is present
 *     and is neither granted nor the server's own origin (same_origin with
 *     the Host and p->tls), or when Sec-Fetch-Site is cross-site or same-site and the
 *     origin is not granted.  Without Origin and Sec-Fetch-Site (curl,
 *     MLflow's clients, mltrack) nothing is refused here.
 * 0 with *out filled, or -1 with err.
 */
int mt_http_check(struct mt_http_verdict *out, const struct mt_http_policy *p,
		  const struct mt_http_req *r, struct mt_err *err);

/*
 * Message framing: refused when the request has max_headers header fields
 * or more (the server keeps max_headers - 1 and cannot tell what it
 * dropped: MT_EHEADERS, 431), both Content-Length and Transfer-Encoding,
 * more than one of either, a Transfer-Encoding other than "chunked", or a
 * Content-Length that is not 1 to 18 decimal digits (MT_EBADREQ, 400).
 * After a refusal the connection must be closed.
 */
int mt_http_framing(const struct mt_http_hdr *h, size_t n, size_t max_headers,
		    struct mt_err *err);

/* Content-Type is application/json (any case), with parameters or not. */
int mt_http_is_json(const char *content_type);

/*
 * Percent-decode a request path once (%XX with two hex digits; a '%'
 * without them and '+' stay as they are).  A decoded NUL is refused with
 * MT_EINVAL.  out needs strlen(in) + 1 bytes (size); *len (when not NULL)
 * gets the decoded length.  On failure out is "".
 */
int mt_http_decode_path(char *out, size_t size, const char *in, size_t *len, struct mt_err *err);

/*
 * Artifact downloads, with MLflow's headers (handlers.py
 * _response_with_file_attachment_headers, utils/mime_type_utils.py):
 *
 * mt_http_mime_type: the Content-Type of a file, from its base name only
 * (what a client asks for is never looked at).  The extension -- or the
 * whole name when it has none -- in MLflow's list of text files (txt, log,
 * json, yaml, py, csv, md, MLmodel, mlproject, ...) is text/plain; else the
 * type Python's mimetypes gives the extension (image/png, application/pdf,
 * ...; a compression suffix such as .gz is looked through, as Python does);
 * else application/octet-stream.  Borrowed static string.
 *
 * mt_http_disposition: "attachment; filename=NAME" into out (size bytes),
 * NAME bare when it is an HTTP token, else a quoted-string; a name with
 * bytes outside ASCII also gets filename*=UTF-8''<percent-encoded>, with
 * '_' for those bytes in the plain filename (RFC 6266, as werkzeug's
 * send_file writes it).  Control bytes become '_'.  Returns out; a name too
 * long for out is cut.
 */
const char *mt_http_mime_type(const char *name);
const char *mt_http_disposition(char *out, size_t size, const char *name);

#endif
