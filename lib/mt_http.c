/* mt_http.c: see mt_http.h. */
#include "mt_http.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mt_util.h"
#include "mt_validate.h"

#define QUOTE_MAX 80 /* bytes of a client's value quoted in a message */

static const char *q(char buf[QUOTE_MAX + 4], const char *s)
{
	return mt_quote(buf, QUOTE_MAX, s, strlen(s));
}

const char *mt_http_header(const struct mt_http_hdr *h, size_t n, const char *name, int *count)
{
	const char *first = NULL;
	int c = 0;

	for (size_t i = 0; i < n; i++) {
		if (h[i].name && strcasecmp(h[i].name, name) == 0) {
			if (!first)
				first = h[i].value ? h[i].value : "";
			c++;
		}
	}
	if (count)
		*count = c;
	return first;
}

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

/* 1*5DIGIT, at most 65535, into *port; the span [s, e). */
static int parse_port(const char *s, const char *e, int *port)
{
	long v = 0;

	if (e == s || e - s > 5)
		return -1;
	for (const char *p = s; p < e; p++) {
		if (!is_digit(*p))
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/* The host part [s, e) (brackets already removed for IPv6 when v6). */
static int parse_hostname(struct mt_http_host *out, const char *s, const char *e, int v6)
{
	char tmp[MT_HTTP_NAME_MAX + 1];
	size_t n = (size_t)(e - s);
	unsigned char addr[16];

	if (n == 0 || n > MT_HTTP_NAME_MAX)
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (v6) {
		if (inet_pton(AF_INET6, tmp, addr) != 1 ||
		    !inet_ntop(AF_INET6, addr, out->name, sizeof(out->name)))
			return -1;
		out->kind = MT_HOST_IPV6;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (!is_name_char(tmp[i]))
			return -1;
		if (tmp[i] >= 'A' && tmp[i] <= 'Z')
			tmp[i] = (char)(tmp[i] - 'A' + 'a');
	}
	if (inet_pton(AF_INET, tmp, addr) == 1) {
		if (!inet_ntop(AF_INET, addr, out->name, sizeof(out->name)))
			return -1;
		out->kind = MT_HOST_IPV4;
		return 0;
	}
	memcpy(out->name, tmp, n + 1);
	out->kind = MT_HOST_NAME;
	return 0;
}

/* host [":" port], the whole of [s, e). */
static int parse_hostport(struct mt_http_host *out, const char *s, const char *e)
{
	const char *h_end, *p;

	out->port = -1;
	if (s < e && *s == '[') {
		const char *rb = memchr(s, ']', (size_t)(e - s));

		if (!rb || parse_hostname(out, s + 1, rb, 1))
			return -1;
		p = rb + 1;
		if (p == e)
			return 0;
		if (*p != ':')
			return -1;
		return parse_port(p + 1, e, &out->port);
	}
	p = memchr(s, ':', (size_t)(e - s));
	h_end = p ? p : e;
	if (parse_hostname(out, s, h_end, 0))
		return -1;
	if (p && parse_port(p + 1, e, &out->port))
		return -1;
	return 0;
}

int mt_http_parse_host(struct mt_http_host *out, const char *value, struct mt_err *err)
{
	const char *s = value, *e;
	char qb[QUOTE_MAX + 4];

	memset(out, 0, sizeof(*out));
	out->port = -1;
	if (!value)
		return mt_err_set(err, MT_EINVAL, "Missing Host header");
	e = s + strlen(s);
	while (s < e && is_ows(*s))
		s++;
	while (e > s && is_ows(e[-1]))
		e--;
	if (parse_hostport(out, s, e)) {
		memset(out, 0, sizeof(*out));
		out->port = -1;
		return mt_err_set(err, MT_EINVAL, "Invalid Host header '%s'", q(qb, value));
	}
	return 0;
}

static int default_port(const char *scheme)
{
	return strcmp(scheme, "https") == 0 ? 443 : 80;
}

int mt_http_parse_origin(struct mt_http_origin *out, const char *value, int allow_slash,
			 struct mt_err *err)
{
	const char *s, *e;
	char qb[QUOTE_MAX + 4];

	memset(out, 0, sizeof(*out));
	if (!value)
		return mt_err_set(err, MT_EINVAL, "Missing origin");
	s = value;
	e = s + strlen(s);
	while (s < e && is_ows(*s))
		s++;
	while (e > s && is_ows(e[-1]))
		e--;
	if (allow_slash && e > s && e[-1] == '/')
		e--;
	if ((size_t)(e - s) > 7 && strncasecmp(s, "http://", 7) == 0) {
		memcpy(out->scheme, "http", 5);
		s += 7;
	} else if ((size_t)(e - s) > 8 && strncasecmp(s, "https://", 8) == 0) {
		memcpy(out->scheme, "https", 6);
		s += 8;
	} else {
		goto bad;
	}
	if (parse_hostport(&out->host, s, e))
		goto bad;
	if (out->host.port < 0)
		out->host.port = default_port(out->scheme);
	if (out->host.port == 0)
		goto bad;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return mt_err_set(err, MT_EINVAL,
			  "Invalid origin '%s': want http:// or https://, a host and an optional port",
			  q(qb, value));
}

const char *mt_http_origin_str(char *buf, size_t size, const struct mt_http_origin *o)
{
	int v6 = o->host.kind == MT_HOST_IPV6;
	char port[8] = "";

	if (o->host.port != default_port(o->scheme))
		snprintf(port, sizeof(port), ":%d", o->host.port);
	snprintf(buf, size, "%s://%s%s%s%s", o->scheme, v6 ? "[" : "", o->host.name, v6 ? "]" : "",
		 port);
	return buf;
}

static int same_host(const struct mt_http_host *a, const struct mt_http_host *b)
{
	return a->kind == b->kind && strcmp(a->name, b->name) == 0;
}

int mt_http_same_origin(const struct mt_http_origin *o, const struct mt_http_host *h, int tls)
{
	if (!same_host(&o->host, h))
		return 0;
	if (tls && strcmp(o->scheme, "https") != 0)
		return 0;
	if (h->port >= 0)
		return o->host.port == h->port;
	return o->host.port == default_port(tls ? "https" : o->scheme);
}

void mt_http_policy_init(struct mt_http_policy *p)
{
	memset(p, 0, sizeof(*p));
}

static int add_host(struct mt_http_policy *p, const struct mt_http_host *h)
{
	for (size_t i = 0; i < p->nhosts; i++)
		if (same_host(&p->hosts[i], h))
			return 0;
	if (p->nhosts >= sizeof(p->hosts) / sizeof(p->hosts[0]))
		return -1;
	p->hosts[p->nhosts] = *h;
	p->hosts[p->nhosts].port = -1;
	p->nhosts++;
	return 0;
}

/* A host spec: "[v6]:port", "name:port", or a bare IPv6 address. */
static int parse_spec(struct mt_http_host *h, const char *spec)
{
	const char *c = strchr(spec, ':');
	struct mt_err e = MT_ERR_INIT;

	if (c && strchr(c + 1, ':') && spec[0] != '[') {
		memset(h, 0, sizeof(*h));
		h->port = -1;
		return parse_hostname(h, spec, spec + strlen(spec), 1);
	}
	return mt_http_parse_host(h, spec, &e);
}

int mt_http_policy_add_host(struct mt_http_policy *p, const char *spec, struct mt_err *err)
{
	struct mt_http_host h;
	char qb[QUOTE_MAX + 4];

	if (strcmp(spec, "*") == 0) {
		p->any_host = 1;
		return 0;
	}
	if (parse_spec(&h, spec))
		return mt_err_set(err, MT_EINVAL,
				  "invalid allowed host '%s': want a host name, an IP address or '*'",
				  q(qb, spec));
	if (p->nhosts >= MT_HTTP_LIST_MAX || add_host(p, &h))
		return mt_err_set(err, MT_EINVAL, "more than %d allowed hosts", MT_HTTP_LIST_MAX);
	return 0;
}

int mt_http_policy_add_origin(struct mt_http_policy *p, const char *spec, struct mt_err *err)
{
	struct mt_http_origin o;

	if (mt_http_parse_origin(&o, spec, 1, err))
		return -1;
	for (size_t i = 0; i < p->norigins; i++)
		if (strcmp(p->origins[i].scheme, o.scheme) == 0 &&
		    same_host(&p->origins[i].host, &o.host) && p->origins[i].host.port == o.host.port)
			return 0;
	if (p->norigins >= MT_HTTP_LIST_MAX)
		return mt_err_set(err, MT_EINVAL, "more than %d CORS origins", MT_HTTP_LIST_MAX);
	p->origins[p->norigins++] = o;
	return 0;
}

int mt_http_policy_defaults(struct mt_http_policy *p, const char *bind_host, struct mt_err *err)
{
	static const char *const local[] = { "localhost", "127.0.0.1", "::1" };
	struct mt_http_host h;
	char qb[QUOTE_MAX + 4];

	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		if (parse_spec(&h, local[i]) || add_host(p, &h))
			return mt_err_set(err, MT_EINTERNAL, "cannot add default host %s", local[i]);
	}
	if (!bind_host || !*bind_host || strcmp(bind_host, "*") == 0) {
		p->any_ip = 1;
		return 0;
	}
	if (parse_spec(&h, bind_host))
		return mt_err_set(err, MT_EINVAL, "invalid listen address '%s'", q(qb, bind_host));
	if ((h.kind == MT_HOST_IPV4 && strcmp(h.name, "0.0.0.0") == 0) ||
	    (h.kind == MT_HOST_IPV6 && strcmp(h.name, "::") == 0)) {
		p->any_ip = 1;
		return 0;
	}
	if (add_host(p, &h))
		return mt_err_set(err, MT_EINVAL, "too many allowed hosts");
	return 0;
}

int mt_http_host_allowed(const struct mt_http_policy *p, const struct mt_http_host *h)
{
	if (p->any_host)
		return 1;
	if (p->any_ip && h->kind != MT_HOST_NAME)
		return 1;
	for (size_t i = 0; i < p->nhosts; i++)
		if (same_host(&p->hosts[i], h))
			return 1;
	return 0;
}

int mt_http_origin_allowed(const struct mt_http_policy *p, const struct mt_http_origin *o)
{
	for (size_t i = 0; i < p->norigins; i++)
		if (strcmp(p->origins[i].scheme, o->scheme) == 0 &&
		    same_host(&p->origins[i].host, &o->host) && p->origins[i].host.port == o->host.port)
			return 1;
	return 0;
}

int mt_http_state_changing(const char *method)
{
	return method && (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
			  strcmp(method, "PATCH") == 0 || strcmp(method, "DELETE") == 0);
}

int mt_http_check(struct mt_http_verdict *out, const struct mt_http_policy *p,
		  const struct mt_http_req *r, struct mt_err *err)
{
	struct mt_http_host host;
	struct mt_http_origin origin;
	struct mt_err ignore = MT_ERR_INIT;
	const char *hv, *ov, *sfs;
	int nhost, norigin, have_host = 0, origin_ok = 0;
	char qb[QUOTE_MAX + 4];

	out->action = MT_HTTP_PASS;
	out->grant = NULL;

	/* 1. Host. */
	hv = mt_http_header(r->hdrs, r->nhdrs, "Host", &nhost);
	if (!r->host_exempt && !p->any_host) {
		if (nhost > 1)
			return mt_err_set(err, MT_EINVAL, "More than one Host header");
		if (!hv)
			return mt_err_set(err, MT_EINVAL, "Missing Host header");
		if (mt_http_parse_host(&host, hv, err))
			return -1;
		if (!mt_http_host_allowed(p, &host))
			return mt_err_set(err, MT_EPERM,
					  "Invalid Host header '%s' - possible DNS rebinding attack "
					  "detected; the names this server answers to are set with "
					  "--allowed-host", q(qb, hv));
		have_host = 1;
	} else if (hv && nhost == 1 && mt_http_parse_host(&host, hv, &ignore) == 0) {
		have_host = 1;
	}

	/* The origin, and whether the policy grants it CORS. */
	ov = mt_http_header(r->hdrs, r->nhdrs, "Origin", &norigin);
	if (ov && norigin == 1 && mt_http_parse_origin(&origin, ov, 0, &ignore) == 0) {
		origin_ok = 1;
		if (mt_http_origin_allowed(p, &origin))
			out->grant = ov;
	}

	/* 2. A preflight. */
	if (r->method && strcmp(r->method, "OPTIONS") == 0 && ov &&
	    mt_http_header(r->hdrs, r->nhdrs, "Access-Control-Request-Method", NULL)) {
		if (!out->grant)
			return mt_err_set(err, MT_EPERM,
					  "Cross-origin request blocked: origin '%s' is not "
					  "allowed (see --cors-origin)", q(qb, ov));
		out->action = MT_HTTP_PREFLIGHT;
		return 0;
	}

	/* 3. A state-changing request from another origin. */
	if (!mt_http_state_changing(r->method) || out->grant)
		return 0;
	if (ov && !(origin_ok && have_host && mt_http_same_origin(&origin, &host, p->tls)))
		return mt_err_set(err, MT_EPERM,
				  "Cross-origin request blocked: origin '%s' is not this server's "
				  "origin and not allowed by --cors-origin", q(qb, ov));
	sfs = mt_http_header(r->hdrs, r->nhdrs, "Sec-Fetch-Site", NULL);
	if (sfs && (strcasecmp(sfs, "cross-site") == 0 || strcasecmp(sfs, "same-site") == 0))
		return mt_err_set(err, MT_EPERM,
				  "Cross-origin request blocked: the browser sent it from another "
				  "site (Sec-Fetch-Site: %s)", q(qb, sfs));
	return 0;
}

/* 1 to 18 decimal digits, then optional whitespace. */
static int valid_length(const char *v)
{
	size_t n = 0;

	while (is_ows(*v))
		v++;
	while (is_digit(v[n]))
		n++;
	if (n == 0 || n > 18)
		return 0;
	v += n;
	while (is_ows(*v))
		v++;
	return *v == '\0';
}

int mt_http_framing(const struct mt_http_hdr *h, size_t n, size_t max_headers,
		    struct mt_err *err)
{
	const char *cl, *te;
	int ncl, nte;

	if (n >= max_headers)
		return mt_err_set(err, MT_EHEADERS,
				  "Request has more header fields than the %zu this server reads",
				  max_headers - 1);
	cl = mt_http_header(h, n, "Content-Length", &ncl);
	te = mt_http_header(h, n, "Transfer-Encoding", &nte);
	if (cl && te)
		return mt_err_set(err, MT_EBADREQ,
				  "Request has both Content-Length and Transfer-Encoding");
	if (ncl > 1)
		return mt_err_set(err, MT_EBADREQ, "Request has more than one Content-Length");
	if (nte > 1)
		return mt_err_set(err, MT_EBADREQ, "Request has more than one Transfer-Encoding");
	if (cl && !valid_length(cl))
		return mt_err_set(err, MT_EBADREQ, "Invalid Content-Length");
	if (te) {
		const char *s = te, *e = te + strlen(te);

		while (s < e && is_ows(*s))
			s++;
		while (e > s && is_ows(e[-1]))
			e--;
		if (e - s != 7 || strncasecmp(s, "chunked", 7) != 0)
			return mt_err_set(err, MT_EBADREQ,
					  "Unsupported Transfer-Encoding (only chunked is)");
	}
	return 0;
}

int mt_http_is_json(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (!ct)
		return 0;
	while (is_ows(*ct))
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return 0;
	ct += n;
	while (is_ows(*ct))
		ct++;
	return *ct == '\0' || *ct == ';';
}

int mt_http_decode_path(char *out, size_t size, const char *in, size_t *len, struct mt_err *err)
{
	size_t o = 0, n = strlen(in);

	if (size == 0)
		return mt_err_set(err, MT_EINTERNAL, "no room to decode a path");
	out[0] = '\0';
	if (n + 1 > size)
		return mt_err_set(err, MT_EINVAL, "Request path too long");
	for (size_t i = 0; i < n; i++) {
		char c = in[i];

		if (c == '%' && i + 2 < n && mt_hexval(in[i + 1]) >= 0 && mt_hexval(in[i + 2]) >= 0) {
			c = (char)(mt_hexval(in[i + 1]) << 4 | mt_hexval(in[i + 2]));
			i += 2;
			if (c == '\0') {
				out[0] = '\0';
				return mt_err_set(err, MT_EINVAL,
						  "Invalid path: contains a NUL byte (%%00)");
			}
		}
		out[o++] = c;
	}
	out[o] = '\0';
	if (len)
		*len = o;
	return 0;
}

/* ---- artifact downloads ---- */

/* MLflow's text files (mime_type_utils.get_text_extensions): an extension,
 * or a whole name without one; compared as MLflow does, case and all. */
static const char *const text_exts[] = {
	"txt", "log", "err", "cfg", "conf", "cnf", "cf", "ini", "properties", "prop", "hocon",
	"toml", "yaml", "yml", "xml", "json", "js", "py", "py3", "csv", "tsv", "md", "rst",
	"MLmodel", "mlproject",
};

/* The types Python's mimetypes module knows by default, for the extensions
 * an artifact store is likely to hold (compared without regard to case). */
static const struct {
	const char *ext;
	const char *type;
} mime_types[] = {
	{ "aac", "audio/aac" }, { "avi", "video/x-msvideo" }, { "avif", "image/avif" },
	{ "bat", "text/plain" }, { "bin", "application/octet-stream" }, { "bmp", "image/bmp" },
	{ "c", "text/plain" }, { "css", "text/css" }, { "doc", "application/msword" },
	{ "eps", "application/postscript" }, { "gif", "image/gif" },
	{ "gtar", "application/x-gtar" }, { "h", "text/plain" }, { "h5", "application/x-hdf5" },
	{ "hdf", "application/x-hdf" }, { "htm", "text/html" }, { "html", "text/html" },
	{ "ico", "image/vnd.microsoft.icon" }, { "jpe", "image/jpeg" }, { "jpeg", "image/jpeg" },
	{ "jpg", "image/jpeg" }, { "mjs", "application/javascript" }, { "mov", "video/quicktime" },
	{ "mp3", "audio/mpeg" }, { "mp4", "video/mp4" }, { "mpeg", "video/mpeg" },
	{ "mpg", "video/mpeg" }, { "nc", "application/x-netcdf" }, { "opus", "audio/opus" },
	{ "pdf", "application/pdf" }, { "pl", "text/plain" }, { "png", "image/png" },
	{ "ppt", "application/vnd.ms-powerpoint" }, { "ps", "application/postscript" },
	{ "pyc", "application/x-python-code" }, { "sh", "application/x-sh" },
	{ "srt", "text/plain" }, { "svg", "image/svg+xml" }, { "tar", "application/x-tar" },
	{ "tex", "application/x-tex" }, { "tif", "image/tiff" }, { "tiff", "image/tiff" },
	{ "vtt", "text/vtt" }, { "wasm", "application/wasm" }, { "wav", "audio/x-wav" },
	{ "webm", "video/webm" }, { "webmanifest", "application/manifest+json" },
	{ "xls", "application/vnd.ms-excel" }, { "zip", "application/zip" },
};

/* Python's encodings_map: a suffix that names a compression, looked through. */
static const char *const encodings[] = { "gz", "Z", "bz2", "xz", "br" };

/* The extension of name[0..n) (after its last '.', none for ".bashrc"),
 * or NULL. */
static const char *ext_of(const char *name, size_t n, size_t *elen)
{
	for (size_t i = n; i > 1; i--) {
		if (name[i - 1] == '.') {
			*elen = n - i;
			return name + i;
		}
	}
	return NULL;
}

const char *mt_http_mime_type(const char *name)
{
	const char *slash = strrchr(name, '/'), *ext;
	size_t n, elen = 0;

	if (slash)
		name = slash + 1;
	n = strlen(name);
	ext = ext_of(name, n, &elen);
	for (size_t i = 0; i < sizeof(text_exts) / sizeof(*text_exts); i++) {
		const char *t = ext ? ext : name;
		size_t tn = ext ? elen : n;

		if (strlen(text_exts[i]) == tn && strncmp(t, text_exts[i], tn) == 0)
			return "text/plain";
	}
	for (size_t i = 0; ext && i < sizeof(encodings) / sizeof(*encodings); i++) {
		if (strlen(encodings[i]) == elen && strncmp(ext, encodings[i], elen) == 0) {
			n -= elen + 1;
			ext = ext_of(name, n, &elen);
			break;
		}
	}
	for (size_t i = 0; ext && i < sizeof(mime_types) / sizeof(*mime_types); i++)
		if (strlen(mime_types[i].ext) == elen && strncasecmp(ext, mime_types[i].ext, elen) == 0)
			return mime_types[i].type;
	return "application/octet-stream";
}

static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

const char *mt_http_disposition(char *out, size_t size, const char *name)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t o, n = strlen(name);
	int token = n > 0, ascii = 1;

	for (size_t i = 0; i < n; i++) {
		if (!is_tchar(s[i]))
			token = 0;
		if (s[i] >= 0x80)
			ascii = 0;
	}
	if (size < 32) {
		if (size)
			out[0] = '\0';
		return out;
	}
	o = (size_t)snprintf(out, size, "attachment; filename=%s", token ? "" : "\"");
	for (size_t i = 0; i < n && o + 4 < size; i++) {
		unsigned char c = s[i];

		if (c < 0x20 || c == 0x7f || c >= 0x80) {
			out[o++] = '_';
		} else if (!token && (c == '"' || c == '\\')) {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else {
			out[o++] = (char)c;
		}
	}
	if (!token && o + 1 < size)
		out[o++] = '"';
	out[o < size ? o : size - 1] = '\0';
	if (!ascii && o + 24 < size) {
		static const char hex[] = "0123456789ABCDEF";

		o += (size_t)snprintf(out + o, o < size ? size - o : 0, "; filename*=UTF-8''");
		for (size_t i = 0; i < n && o + 4 < size; i++) {
			unsigned char c = s[i];

			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    (c && strchr("-._~!#$&+^`|", c))) {
				out[o++] = (char)c;
			} else {
				out[o++] = '%';
				out[o++] = hex[c >> 4];
				out[o++] = hex[c & 15];
			}
		}
		out[o < size ? o : size - 1] = '\0';
	}
	return out;
}
