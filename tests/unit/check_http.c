/* check_http.c: the HTTP edge rules (lib/mt_http): Host and Origin parsing
 * and matching, the cross-origin rule, framing, Content-Type, path decoding. */
#include <stdio.h>
#include <string.h>

#include "mt_check.h"
#include "mt_http.h"

/* ---- Host ---- */
static const struct {
	const char *in;
	int ok;
	enum mt_http_host_kind kind;
	const char *name;
	int port;
} hosts[] = {
	{ "localhost", 1, MT_HOST_NAME, "localhost", -1 },
	{ "LocalHost:5170", 1, MT_HOST_NAME, "localhost", 5170 },
	{ "  127.0.0.1:80 ", 1, MT_HOST_IPV4, "127.0.0.1", 80 },
	{ "127.0.0.1", 1, MT_HOST_IPV4, "127.0.0.1", -1 },
	{ "[::1]", 1, MT_HOST_IPV6, "::1", -1 },
	{ "[::1]:5170", 1, MT_HOST_IPV6, "::1", 5170 },
	{ "[0:0:0:0:0:0:0:1]:1", 1, MT_HOST_IPV6, "::1", 1 },
	{ "[2001:DB8::A]", 1, MT_HOST_IPV6, "2001:db8::a", -1 },
	{ "[::ffff:127.0.0.1]", 1, MT_HOST_IPV6, "::ffff:127.0.0.1", -1 },
	{ "mltrack.example.com:65535", 1, MT_HOST_NAME, "mltrack.example.com", 65535 },
	{ "a_b-c~d", 1, MT_HOST_NAME, "a_b-c~d", -1 },
	{ "127.0.0.1.", 1, MT_HOST_NAME, "127.0.0.1.", -1 },
	{ "0x7f.0.0.1", 1, MT_HOST_NAME, "0x7f.0.0.1", -1 },
	{ "127.1", 1, MT_HOST_NAME, "127.1", -1 },
	{ "h:0", 1, MT_HOST_NAME, "h", 0 },
	{ "", 0, 0, NULL, 0 },
	{ "   ", 0, 0, NULL, 0 },
	{ ":80", 0, 0, NULL, 0 },
	{ "h:", 0, 0, NULL, 0 },
	{ "h:65536", 0, 0, NULL, 0 },
	{ "h:123456", 0, 0, NULL, 0 },
	{ "h:-1", 0, 0, NULL, 0 },
	{ "h:8o", 0, 0, NULL, 0 },
	{ "h:80:80", 0, 0, NULL, 0 },
	{ "a@h", 0, 0, NULL, 0 },
	{ "h/x", 0, 0, NULL, 0 },
	{ "h?x", 0, 0, NULL, 0 },
	{ "h#x", 0, 0, NULL, 0 },
	{ "h x", 0, 0, NULL, 0 },
	{ "h%2ex", 0, 0, NULL, 0 },
	{ "h\\x", 0, 0, NULL, 0 },
	{ "::1", 0, 0, NULL, 0 },
	{ "[::1", 0, 0, NULL, 0 },
	{ "[::1]x", 0, 0, NULL, 0 },
	{ "[::1]:", 0, 0, NULL, 0 },
	{ "[fe80::1%25eth0]", 0, 0, NULL, 0 },
	{ "[127.0.0.1]", 0, 0, NULL, 0 },
	{ "[]", 0, 0, NULL, 0 },
	{ "h\xc3\xa9", 0, 0, NULL, 0 },
	{ "http://h", 0, 0, NULL, 0 },
};

START_TEST(test_host)
{
	struct mt_http_host h;
	struct mt_err err = MT_ERR_INIT;
	int rc = mt_http_parse_host(&h, hosts[_i].in, &err);

	if (!hosts[_i].ok) {
		ck_assert_msg(rc == -1, "'%s' accepted", hosts[_i].in);
		ck_assert_int_eq(err.code, MT_EINVAL);
		ck_assert_ptr_nonnull(strstr(err.msg, "Invalid Host header"));
		return;
	}
	ck_assert_msg(rc == 0, "'%s' refused: %s", hosts[_i].in, err.msg);
	ck_assert_int_eq(h.kind, hosts[_i].kind);
	ck_assert_str_eq(h.name, hosts[_i].name);
	ck_assert_int_eq(h.port, hosts[_i].port);
}
END_TEST

/* ---- Origin ---- */
static const struct {
	const char *in;
	int allow_slash;
	const char *canonical; /* NULL: refused */
} origins[] = {
	{ "http://localhost:5170", 0, "http://localhost:5170" },
	{ "HTTP://LOCALHOST:5170", 0, "http://localhost:5170" },
	{ "http://example.com", 0, "http://example.com" },
	{ "http://example.com:80", 0, "http://example.com" },
	{ "https://example.com:443", 0, "https://example.com" },
	{ "https://example.com:80", 0, "https://example.com:80" },
	{ "http://[::1]:3000", 0, "http://[::1]:3000" },
	{ "http://127.0.0.1:1", 0, "http://127.0.0.1:1" },
	{ "http://example.com/", 1, "http://example.com" },
	{ "http://example.com/", 0, NULL },
	{ "http://example.com//", 1, NULL },
	{ "http://example.com/x", 1, NULL },
	{ "null", 0, NULL },
	{ "null", 1, NULL },
	{ "*", 1, NULL },
	{ "", 0, NULL },
	{ "http://", 0, NULL },
	{ "https://", 0, NULL },
	{ "example.com", 1, NULL },
	{ "ftp://example.com", 0, NULL },
	{ "file://", 0, NULL },
	{ "chrome-extension://abc", 0, NULL },
	{ "http://u@example.com", 0, NULL },
	{ "http://127.0.0.1:5170@evil.example", 0, NULL },
	{ "http://example.com:0", 0, NULL },
	{ "http://example.com:99999", 0, NULL },
	{ "http://example.com?x", 0, NULL },
	{ "http:/example.com", 0, NULL },
	{ "http://exa mple.com", 0, NULL },
	{ "http://*.example.com", 1, NULL },
};

START_TEST(test_origin)
{
	struct mt_http_origin o;
	struct mt_err err = MT_ERR_INIT;
	char buf[300];
	int rc = mt_http_parse_origin(&o, origins[_i].in, origins[_i].allow_slash, &err);

	if (!origins[_i].canonical) {
		ck_assert_msg(rc == -1, "'%s' accepted", origins[_i].in);
		ck_assert_int_eq(err.code, MT_EINVAL);
		return;
	}
	ck_assert_msg(rc == 0, "'%s' refused: %s", origins[_i].in, err.msg);
	ck_assert_str_eq(mt_http_origin_str(buf, sizeof(buf), &o), origins[_i].canonical);
}
END_TEST

/* tls: the server speaks HTTPS itself (--tls-cert). */
static const struct {
	const char *origin, *host;
	int tls, same;
} sames[] = {
	{ "http://127.0.0.1:5170", "127.0.0.1:5170", 0, 1 },
	{ "http://LOCALHOST:5170", "localhost:5170", 0, 1 },
	{ "http://localhost:5170", "127.0.0.1:5170", 0, 0 },
	{ "http://127.0.0.1:5171", "127.0.0.1:5170", 0, 0 },
	{ "http://127.0.0.1", "127.0.0.1:5170", 0, 0 },
	{ "http://127.0.0.1", "127.0.0.1", 0, 1 },
	{ "http://127.0.0.1:80", "127.0.0.1", 0, 1 },
	{ "https://m.example", "m.example", 0, 1 },
	{ "https://m.example", "m.example:443", 0, 1 },
	{ "https://m.example:8443", "m.example", 0, 0 },
	{ "http://m.example:443", "m.example", 0, 0 },
	{ "http://[::1]:5170", "[::1]:5170", 0, 1 },
	{ "http://[0::1]:5170", "[::1]:5170", 0, 1 },
	{ "http://[::1]:5170", "127.0.0.1:5170", 0, 0 },
	{ "http://m.example.evil:5170", "m.example:5170", 0, 0 },
	/* Behind a TLS proxy (tls 0) an https page is the server's own. */
	{ "https://127.0.0.1:5170", "127.0.0.1:5170", 0, 1 },
	/* Serving HTTPS itself: only https://Host is its own origin. */
	{ "https://127.0.0.1:5170", "127.0.0.1:5170", 1, 1 },
	{ "https://LOCALHOST:5170", "localhost:5170", 1, 1 },
	{ "http://127.0.0.1:5170", "127.0.0.1:5170", 1, 0 },
	{ "https://localhost:5170", "127.0.0.1:5170", 1, 0 },
	{ "https://127.0.0.1:5171", "127.0.0.1:5170", 1, 0 },
	{ "https://m.example", "m.example", 1, 1 },
	{ "https://m.example:443", "m.example", 1, 1 },
	{ "http://m.example", "m.example", 1, 0 },      /* port 80: another server */
	{ "http://m.example:443", "m.example", 1, 0 },  /* the scheme differs */
	{ "https://m.example:8443", "m.example", 1, 0 },
	{ "https://[::1]:5170", "[::1]:5170", 1, 1 },
};

START_TEST(test_same_origin)
{
	struct mt_http_origin o;
	struct mt_http_host h;
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(mt_http_parse_origin(&o, sames[_i].origin, 0, &err), 0);
	ck_assert_int_eq(mt_http_parse_host(&h, sames[_i].host, &err), 0);
	ck_assert_msg(mt_http_same_origin(&o, &h, sames[_i].tls) == sames[_i].same,
		      "%s vs Host %s (tls %d)", sames[_i].origin, sames[_i].host, sames[_i].tls);
}
END_TEST

/* ---- the policy and the request decision ---- */
enum { P_LOCAL, P_WILD, P_ANY, P_V6, P_TLS };

static void policy(struct mt_http_policy *p, int which)
{
	struct mt_err err = MT_ERR_INIT;

	mt_http_policy_init(p);
	switch (which) {
	case P_LOCAL:
		ck_assert_int_eq(mt_http_policy_defaults(p, "127.0.0.1", &err), 0);
		ck_assert_int_eq(mt_http_policy_add_host(p, "mltrack.example", &err), 0);
		ck_assert_int_eq(mt_http_policy_add_host(p, "[2001:db8::7]:99", &err), 0);
		ck_assert_int_eq(mt_http_policy_add_origin(p, "http://app.example:8080", &err), 0);
		ck_assert_int_eq(mt_http_policy_add_origin(p, "https://nb.example/", &err), 0);
		break;
	case P_WILD:
		ck_assert_int_eq(mt_http_policy_defaults(p, "0.0.0.0", &err), 0);
		break;
	case P_ANY:
		ck_assert_int_eq(mt_http_policy_defaults(p, "127.0.0.1", &err), 0);
		ck_assert_int_eq(mt_http_policy_add_host(p, "*", &err), 0);
		break;
	case P_V6:
		ck_assert_int_eq(mt_http_policy_defaults(p, "2001:db8::1", &err), 0);
		break;
	case P_TLS: /* --tls-cert: the server's own origin is https://Host */
		ck_assert_int_eq(mt_http_policy_defaults(p, "127.0.0.1", &err), 0);
		ck_assert_int_eq(mt_http_policy_add_host(p, "mltrack.example", &err), 0);
		p->tls = 1;
		break;
	}
}

#define PASS 0
#define PRE 1
#define E_INVAL (MT_EINVAL + 10)
#define E_PERM (MT_EPERM + 10)

static const struct {
	int policy;
	const char *method;
	const char *headers; /* "Name: value" lines joined by '\n' */
	int exempt;
	int want;  /* PASS, PRE, E_INVAL, E_PERM */
	int grant; /* Access-Control-Allow-Origin expected */
} checks[] = {
	/* Host */
	{ P_LOCAL, "GET", "Host: 127.0.0.1:5170", 0, PASS, 0 },
	{ P_LOCAL, "GET", "Host: localhost", 0, PASS, 0 },
	{ P_LOCAL, "GET", "Host: [::1]:5170", 0, PASS, 0 },
	{ P_LOCAL, "GET", "Host: MLTRACK.example:443", 0, PASS, 0 },
	{ P_LOCAL, "GET", "Host: [2001:db8:0::7]", 0, PASS, 0 },
	{ P_LOCAL, "GET", "Host: evil.example", 0, E_PERM, 0 },
	{ P_LOCAL, "GET", "Host: 10.0.0.1:5170", 0, E_PERM, 0 },
	{ P_LOCAL, "GET", "Host: mltrack.example.evil", 0, E_PERM, 0 },
	{ P_LOCAL, "GET", "Host: localhost.", 0, E_PERM, 0 },
	{ P_LOCAL, "GET", "", 0, E_INVAL, 0 },
	{ P_LOCAL, "GET", "Host: ", 0, E_INVAL, 0 },
	{ P_LOCAL, "GET", "Host: a/b", 0, E_INVAL, 0 },
	{ P_LOCAL, "GET", "Host: localhost\nhost: localhost", 0, E_INVAL, 0 },
	{ P_LOCAL, "GET", "", 1, PASS, 0 },
	{ P_LOCAL, "GET", "Host: evil.example", 1, PASS, 0 },
	{ P_WILD, "GET", "Host: 10.0.0.1:5170", 0, PASS, 0 },
	{ P_WILD, "GET", "Host: [fe80::1]", 0, PASS, 0 },
	{ P_WILD, "GET", "Host: localhost", 0, PASS, 0 },
	{ P_WILD, "GET", "Host: evil.example", 0, E_PERM, 0 },
	{ P_WILD, "GET", "Host: 10.0.0.1.nip.io", 0, E_PERM, 0 },
	{ P_ANY, "GET", "Host: evil.example", 0, PASS, 0 },
	{ P_ANY, "POST", "", 0, PASS, 0 },
	{ P_V6, "GET", "Host: [2001:db8::1]:5170", 0, PASS, 0 },
	{ P_V6, "GET", "Host: [2001:db8::2]:5170", 0, E_PERM, 0 },
	/* state-changing requests and Origin */
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170", 0, PASS, 0 },
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170\nOrigin: http://127.0.0.1:5170", 0, PASS, 0 },
	{ P_LOCAL, "DELETE", "Host: localhost:5170\nOrigin: http://localhost:5170\n"
	  "Sec-Fetch-Site: same-origin", 0, PASS, 0 },
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170\nOrigin: http://localhost:5170", 0, E_PERM, 0 },
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170\nOrigin: http://127.0.0.1:3000", 0, E_PERM, 0 },
	{ P_LOCAL, "PUT", "Host: 127.0.0.1:5170\nOrigin: http://evil.example", 0, E_PERM, 0 },
	{ P_LOCAL, "PATCH", "Host: 127.0.0.1:5170\nOrigin: null", 0, E_PERM, 0 },
	{ P_LOCAL, "DELETE", "Host: 127.0.0.1:5170\nOrigin: garbage", 0, E_PERM, 0 },
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170\nOrigin: http://127.0.0.1:5170\n"
	  "Origin: http://127.0.0.1:5170", 0, E_PERM, 0 },
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170\nSec-Fetch-Site: cross-site", 0, E_PERM, 0 },
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170\nSec-Fetch-Site: same-site", 0, E_PERM, 0 },
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170\nSec-Fetch-Site: Same-Site", 0, E_PERM, 0 },
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170\nOrigin: http://127.0.0.1:5170\n"
	  "Sec-Fetch-Site: cross-site", 0, E_PERM, 0 },
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170\nSec-Fetch-Site: none", 0, PASS, 0 },
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170\nSec-Fetch-Site: same-origin", 0, PASS, 0 },
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170\nOrigin: http://app.example:8080\n"
	  "Sec-Fetch-Site: cross-site", 0, PASS, 1 },
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170\nOrigin: https://nb.example:443", 0, PASS, 1 },
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170\nOrigin: http://app.example", 0, E_PERM, 0 },
	{ P_LOCAL, "POST", "Host: 127.0.0.1:5170\nOrigin: https://app.example:8080", 0, E_PERM, 0 },
	{ P_ANY, "POST", "Host: proxy.example\nOrigin: https://proxy.example", 0, PASS, 0 },
	{ P_ANY, "POST", "Host: proxy.example\nOrigin: https://other.example", 0, E_PERM, 0 },
	{ P_ANY, "POST", "Origin: https://proxy.example", 0, E_PERM, 0 },
	{ P_TLS, "POST", "Host: 127.0.0.1:5170\nOrigin: https://127.0.0.1:5170", 0, PASS, 0 },
	{ P_TLS, "POST", "Host: mltrack.example\nOrigin: https://mltrack.example", 0, PASS, 0 },
	{ P_TLS, "POST", "Host: 127.0.0.1:5170\nOrigin: http://127.0.0.1:5170", 0, E_PERM, 0 },
	{ P_TLS, "POST", "Host: mltrack.example\nOrigin: http://mltrack.example", 0, E_PERM, 0 },
	{ P_TLS, "DELETE", "Host: localhost:5170\nOrigin: https://localhost:5170\n"
	  "Sec-Fetch-Site: same-origin", 0, PASS, 0 },
	/* reads from anywhere pass; granted origins get the grant */
	{ P_LOCAL, "GET", "Host: 127.0.0.1:5170\nOrigin: http://evil.example", 0, PASS, 0 },
	{ P_LOCAL, "GET", "Host: 127.0.0.1:5170\nSec-Fetch-Site: cross-site", 0, PASS, 0 },
	{ P_LOCAL, "GET", "Host: 127.0.0.1:5170\nOrigin: http://app.example:8080", 0, PASS, 1 },
	{ P_LOCAL, "HEAD", "Host: 127.0.0.1:5170\nOrigin: http://app.example:8080", 0, PASS, 1 },
	/* preflights */
	{ P_LOCAL, "OPTIONS", "Host: 127.0.0.1:5170\nOrigin: http://app.example:8080\n"
	  "Access-Control-Request-Method: DELETE", 0, PRE, 1 },
	{ P_LOCAL, "OPTIONS", "Host: 127.0.0.1:5170\nOrigin: http://evil.example\n"
	  "Access-Control-Request-Method: POST", 0, E_PERM, 0 },
	{ P_LOCAL, "OPTIONS", "Host: 127.0.0.1:5170\nOrigin: http://127.0.0.1:5170\n"
	  "Access-Control-Request-Method: POST", 0, E_PERM, 0 },
	{ P_LOCAL, "OPTIONS", "Host: evil.example\nOrigin: http://app.example:8080\n"
	  "Access-Control-Request-Method: POST", 0, E_PERM, 0 },
	{ P_LOCAL, "OPTIONS", "Host: 127.0.0.1:5170\nOrigin: http://evil.example", 0, PASS, 0 },
	{ P_LOCAL, "OPTIONS", "Host: 127.0.0.1:5170", 0, PASS, 0 },
};

/* "A: 1\nB: 2" into h (pointers into buf). */
static size_t split_headers(struct mt_http_hdr *h, size_t max, char *buf)
{
	size_t n = 0;
	char *line = buf;

	while (line && *line && n < max) {
		char *nl = strchr(line, '\n'), *colon;

		if (nl)
			*nl = '\0';
		colon = strchr(line, ':');
		ck_assert_ptr_nonnull(colon);
		*colon = '\0';
		h[n].name = line;
		h[n].value = colon[1] == ' ' ? colon + 2 : colon + 1;
		n++;
		line = nl ? nl + 1 : NULL;
	}
	return n;
}

START_TEST(test_check)
{
	struct mt_http_policy p;
	struct mt_http_hdr h[16];
	char buf[512];
	struct mt_http_req r;
	struct mt_http_verdict v;
	struct mt_err err = MT_ERR_INIT;
	int rc, got;

	policy(&p, checks[_i].policy);
	snprintf(buf, sizeof(buf), "%s", checks[_i].headers);
	r.method = checks[_i].method;
	r.hdrs = h;
	r.nhdrs = split_headers(h, 16, buf);
	r.host_exempt = checks[_i].exempt;
	rc = mt_http_check(&v, &p, &r, &err);
	got = rc == 0 ? (v.action == MT_HTTP_PREFLIGHT ? PRE : PASS) : (int)err.code + 10;
	ck_assert_msg(got == checks[_i].want, "%s [%s]: got %d (%s), want %d", checks[_i].method,
		      checks[_i].headers, got, err.msg, checks[_i].want);
	if (rc == 0) {
		ck_assert_msg(!!v.grant == checks[_i].grant, "grant %s", v.grant ? v.grant : "none");
		if (v.grant)
			ck_assert_str_eq(v.grant, mt_http_header(h, r.nhdrs, "Origin", NULL));
	} else {
		ck_assert_ptr_null(strchr(err.msg, '\n'));
	}
}
END_TEST

START_TEST(test_policy_values)
{
	struct mt_http_policy p;
	struct mt_err err = MT_ERR_INIT;
	static const char *const bad_hosts[] = { "", "a b", "a/b", "a@b", "*.example", "[::1",
						 "http://x", "h:99999" };
	static const char *const bad_origins[] = { "*", "null", "", "x.example", "http://x/p",
						   "http://x:99999", "ws://x" };
	char name[32];

	mt_http_policy_init(&p);
	for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(*bad_hosts); i++)
		ck_assert_msg(mt_http_policy_add_host(&p, bad_hosts[i], &err) == -1, "%s",
			      bad_hosts[i]);
	for (size_t i = 0; i < sizeof(bad_origins) / sizeof(*bad_origins); i++)
		ck_assert_msg(mt_http_policy_add_origin(&p, bad_origins[i], &err) == -1, "%s",
			      bad_origins[i]);
	ck_assert_int_eq(p.nhosts + p.norigins + (size_t)p.any_host, 0);
	/* Bare IPv6, duplicates kept once, and the list's limit. */
	ck_assert_int_eq(mt_http_policy_add_host(&p, "fe80::1", &err), 0);
	ck_assert_int_eq(mt_http_policy_add_host(&p, "[FE80::1]:8", &err), 0);
	ck_assert_int_eq(p.nhosts, 1);
	for (int i = 1; i < MT_HTTP_LIST_MAX; i++) {
		snprintf(name, sizeof(name), "h%d.example", i);
		ck_assert_int_eq(mt_http_policy_add_host(&p, name, &err), 0);
	}
	ck_assert_int_eq(mt_http_policy_add_host(&p, "one.too.many", &err), -1);
	ck_assert_int_eq(mt_http_policy_defaults(&p, "127.0.0.1", &err), 0);
	for (int i = 0; i < MT_HTTP_LIST_MAX; i++) {
		snprintf(name, sizeof(name), "http://o%d.example", i);
		ck_assert_int_eq(mt_http_policy_add_origin(&p, name, &err), 0);
	}
	ck_assert_int_eq(mt_http_policy_add_origin(&p, "http://x.example", &err), -1);
	/* A bad listen address is reported. */
	mt_http_policy_init(&p);
	ck_assert_int_eq(mt_http_policy_defaults(&p, "not a host", &err), -1);
	mt_http_policy_init(&p);
	ck_assert_int_eq(mt_http_policy_defaults(&p, "::", &err), 0);
	ck_assert_int_eq(p.any_ip, 1);
	mt_http_policy_init(&p);
	ck_assert_int_eq(mt_http_policy_defaults(&p, "myhost.lan", &err), 0);
	ck_assert_int_eq(p.any_ip, 0);
	ck_assert_int_eq(p.nhosts, 4);
}
END_TEST

/* ---- framing ---- */
#define F_OK 0
#define F_400 1
#define F_431 2

static const struct {
	const char *headers;
	int pad; /* extra "X-Pad-N: x" headers before them */
	int want;
} framings[] = {
	{ "Host: h", 0, F_OK },
	{ "Host: h\nContent-Length: 10", 0, F_OK },
	{ "Content-Length: 0", 0, F_OK },
	{ "Content-Length: 123456789012345678", 0, F_OK },
	{ "Content-Length: 10 ", 0, F_OK },
	{ "Transfer-Encoding: chunked", 0, F_OK },
	{ "Transfer-Encoding: Chunked", 0, F_OK },
	{ "Host: h", 62, F_OK },
	{ "Host: h", 63, F_431 },
	{ "Host: h", 100, F_431 },
	{ "Content-Length: 5\nTransfer-Encoding: chunked", 0, F_400 },
	{ "transfer-encoding: chunked\ncontent-length: 5", 0, F_400 },
	{ "Content-Length: 5\nContent-Length: 5", 0, F_400 },
	{ "Content-Length: 5\nContent-Length: 6", 0, F_400 },
	{ "Content-Length: 5, 5", 0, F_400 },
	{ "Content-Length: 5x", 0, F_400 },
	{ "Content-Length: +5", 0, F_400 },
	{ "Content-Length: -5", 0, F_400 },
	{ "Content-Length: 0x5", 0, F_400 },
	{ "Content-Length: ", 0, F_400 },
	{ "Content-Length: 1234567890123456789", 0, F_400 },
	{ "Transfer-Encoding: chunked\nTransfer-Encoding: chunked", 0, F_400 },
	{ "Transfer-Encoding: identity", 0, F_400 },
	{ "Transfer-Encoding: gzip, chunked", 0, F_400 },
	{ "Transfer-Encoding: chunked, chunked", 0, F_400 },
	{ "Transfer-Encoding: chunkedx", 0, F_400 },
	{ "Transfer-Encoding: ", 0, F_400 },
};

START_TEST(test_framing)
{
	struct mt_http_hdr h[200];
	char buf[256];
	struct mt_err err = MT_ERR_INIT;
	size_t n = 0;
	int rc, want = framings[_i].want;

	for (int i = 0; i < framings[_i].pad; i++) {
		h[n].name = "X-Pad";
		h[n++].value = "x";
	}
	snprintf(buf, sizeof(buf), "%s", framings[_i].headers);
	n += split_headers(h + n, 200 - n, buf);
	rc = mt_http_framing(h, n, 64, &err);
	ck_assert_msg(rc == (want == F_OK ? 0 : -1), "[%s]+%d: %d %s", framings[_i].headers,
		      framings[_i].pad, rc, err.msg);
	if (want == F_400)
		ck_assert_int_eq(err.code, MT_EBADREQ);
	if (want == F_431) {
		ck_assert_int_eq(err.code, MT_EHEADERS);
		ck_assert_int_eq(mt_code_http(err.code), 431);
	}
}
END_TEST

/* ---- Content-Type ---- */
static const struct {
	const char *ct;
	int json;
} cts[] = {
	{ "application/json", 1 }, { "APPLICATION/JSON", 1 }, { "application/json; charset=utf-8", 1 },
	{ "application/json;charset=utf-8", 1 }, { " application/json ", 1 },
	{ "application/json ;x=y", 1 }, { NULL, 0 }, { "", 0 }, { "text/plain", 0 },
	{ "application/jsonx", 0 }, { "application/json-patch+json", 0 },
	{ "application/x-www-form-urlencoded", 0 }, { "multipart/form-data; boundary=x", 0 },
	{ "application/json x", 0 }, { "application/json, text/plain", 0 },
	{ "text/plain; application/json", 0 }, { "application/", 0 },
};

START_TEST(test_is_json)
{
	ck_assert_msg(mt_http_is_json(cts[_i].ct) == cts[_i].json, "%s",
		      cts[_i].ct ? cts[_i].ct : "(null)");
}
END_TEST

/* ---- path decoding ---- */
#define S(lit) lit, sizeof(lit) - 1

static const struct {
	const char *in;
	const char *out; /* NULL: refused */
	size_t len;
} paths[] = {
	{ "/a/b", S("/a/b") },
	{ "/a%20b", S("/a b") },
	{ "/caf%C3%A9", S("/caf\xc3\xa9") },
	{ "/a%2Fb", S("/a/b") },
	{ "/a%2fb", S("/a/b") },
	{ "/%2e%2e/x", S("/../x") },
	{ "/a+b", S("/a+b") },
	{ "/100%", S("/100%") },
	{ "/a%zz", S("/a%zz") },
	{ "/a%2", S("/a%2") },
	{ "/a%", S("/a%") },
	{ "/%2500", S("/%00") },
	{ "/%41%42", S("/AB") },
	{ "/%01", S("/\x01") },
	{ "", S("") },
	{ "/model.txt%00.png", NULL, 0 },
	{ "/%00", NULL, 0 },
	{ "%00", NULL, 0 },
	{ "/a/%00/b", NULL, 0 },
	{ "/x%00", NULL, 0 },
};

START_TEST(test_decode_path)
{
	char out[64];
	size_t len = 99;
	struct mt_err err = MT_ERR_INIT;
	int rc = mt_http_decode_path(out, sizeof(out), paths[_i].in, &len, &err);

	if (!paths[_i].out) {
		ck_assert_msg(rc == -1, "'%s' accepted", paths[_i].in);
		ck_assert_int_eq(err.code, MT_EINVAL);
		ck_assert_ptr_nonnull(strstr(err.msg, "NUL"));
		ck_assert_str_eq(out, "");
		return;
	}
	ck_assert_msg(rc == 0, "'%s': %s", paths[_i].in, err.msg);
	ck_assert_uint_eq(len, paths[_i].len);
	ck_assert_mem_eq(out, paths[_i].out, len + 1);
}
END_TEST

START_TEST(test_decode_path_room)
{
	char out[4];
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(mt_http_decode_path(out, sizeof(out), "/abc", NULL, &err), -1);
	ck_assert_int_eq(mt_http_decode_path(out, sizeof(out), "/ab", NULL, &err), 0);
	ck_assert_str_eq(out, "/ab");
	/* Decoding never grows: strlen + 1 is always enough. */
	ck_assert_int_eq(mt_http_decode_path(out, sizeof(out), "%41%", NULL, &err), -1);
	ck_assert_int_eq(mt_http_decode_path(out, 5 + 1, "%41%42", NULL, &err), -1);
}
END_TEST


/* Artifact downloads: MLflow's type table and attachment header. */
static const struct {
	const char *name;
	const char *type;
} mimes[] = {
	{ "a.txt", "text/plain" }, { "b.pkl", "application/octet-stream" },
	{ "c.png", "image/png" }, { "d.pdf", "application/pdf" }, { "MLmodel", "text/plain" },
	{ "mlproject", "text/plain" }, { "MLproject", "application/octet-stream" },
	{ "conda.yaml", "text/plain" }, { "x.json", "text/plain" },
	{ "dir/sub/model.json", "text/plain" }, { "page.html", "text/html" },
	{ "IMG.PNG", "image/png" }, { "a.tar.gz", "application/x-tar" },
	{ "a.gz", "application/octet-stream" }, { ".bashrc", "application/octet-stream" },
	{ "noext", "application/octet-stream" }, { "pic.jpeg", "image/jpeg" },
	{ "requirements.txt", "text/plain" }, { "x.parquet", "application/octet-stream" },
};

START_TEST(test_mime)
{
	ck_assert_str_eq(mt_http_mime_type(mimes[_i].name), mimes[_i].type);
}
END_TEST

static const struct {
	const char *name;
	const char *want;
} disps[] = {
	{ "model.pkl", "attachment; filename=model.pkl" },
	{ "my file.txt", "attachment; filename=\"my file.txt\"" },
	{ "a\"b\\c", "attachment; filename=\"a\\\"b\\\\c\"" },
	{ "x;y=z", "attachment; filename=\"x;y=z\"" },
	{ "r\xc3\xa9sum\xc3\xa9.png",
	  "attachment; filename=\"r__sum__.png\"; filename*=UTF-8''r%C3%A9sum%C3%A9.png" },
	{ "", "attachment; filename=\"\"" },
};

START_TEST(test_disposition)
{
	char out[256];

	ck_assert_str_eq(mt_http_disposition(out, sizeof(out), disps[_i].name), disps[_i].want);
	/* never longer than its buffer */
	mt_http_disposition(out, 40, "a very long name with spaces in it.txt");
	ck_assert_uint_lt(strlen(out), 40);
}
END_TEST

Suite *make_http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *th = tcase_create("host_origin");
	TCase *tc = tcase_create("check");
	TCase *tf = tcase_create("framing");
	TCase *tp = tcase_create("paths");

	tcase_set_timeout(th, 10);
	tcase_add_loop_test(th, test_host, 0, sizeof(hosts) / sizeof(hosts[0]));
	tcase_add_loop_test(th, test_origin, 0, sizeof(origins) / sizeof(origins[0]));
	tcase_add_loop_test(th, test_same_origin, 0, sizeof(sames) / sizeof(sames[0]));
	suite_add_tcase(s, th);
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_check, 0, sizeof(checks) / sizeof(checks[0]));
	tcase_add_test(tc, test_policy_values);
	suite_add_tcase(s, tc);
	tcase_set_timeout(tf, 10);
	tcase_add_loop_test(tf, test_framing, 0, sizeof(framings) / sizeof(framings[0]));
	tcase_add_loop_test(tf, test_is_json, 0, sizeof(cts) / sizeof(cts[0]));
	suite_add_tcase(s, tf);
	tcase_set_timeout(tp, 10);
	tcase_add_loop_test(tp, test_decode_path, 0, sizeof(paths) / sizeof(paths[0]));
	tcase_add_test(tp, test_decode_path_room);
	tcase_add_loop_test(tp, test_mime, 0, sizeof(mimes) / sizeof(mimes[0]));
	tcase_add_loop_test(tp, test_disposition, 0, sizeof(disps) / sizeof(disps[0]));
	suite_add_tcase(s, tp);
	return s;
}
