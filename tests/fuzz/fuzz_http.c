/*
 * fuzz_http: libFuzzer harness for the HTTP request reader's rules
 * (lib/mt_http: what server/guard.c applies to every request head).
 *
 * The input is a request head as a client sends it.  It is split the way
 * the server's reader does: the request line up to the first LF (a CR before
 * it dropped) into method, target and version at spaces; then header lines
 * until an empty line, each "name: value" (name up to the first ':', the
 * value's leading blanks and trailing CR dropped); a line without ':' ends
 * the head, as the server refuses such a request before looking further.
 * Up to 200 headers are kept so that the header-count rule is reached.
 *
 * Then the target's path is decoded (mt_http_decode_path), the framing rule
 * is applied (mt_http_framing, 64 headers as CivetWeb keeps), and the
 * request decision (mt_http_check) is taken under three policies: loopback
 * with an extra host name and two CORS origins, bound to 0.0.0.0 and
 * serving HTTPS itself (--tls-cert: its own origin is https only), and '*'.
 * Beyond "no crash, no leak, no out-of-bounds read" (ASan, UBSan, LSan),
 * these properties must hold, else abort():
 *  - decoding refuses exactly the paths containing "%00"; what it accepts
 *    holds no NUL, is no longer than the input, equals the input when the
 *    input has no '%', and decodes back from its own %XX encoding;
 *  - framing accepts only fewer than 64 headers, at most one Content-Length
 *    (1 to 18 digits) or one Transfer-Encoding (chunked), never both; a
 *    refusal is 431 exactly when there are 64 or more;
 *  - a request that passes had exactly one Host, well formed and allowed
 *    (unless exempt or '*'); a state-changing one with an Origin was
 *    granted or came from the Host's own origin, and one marked cross-site
 *    or same-site by Sec-Fetch-Site was granted; a grant is the request's
 *    own Origin value and allowed by the policy; a preflight is an OPTIONS
 *    and granted; a refusal is 400 or 403 with a one-line UTF-8 message;
 *  - Host and Origin values that parse come back the same from their
 *    canonical text; the JSON Content-Type test agrees with a plain
 *    comparison.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined, or link
 * tests/fuzz/standalone.c to replay the corpus in tests/fuzz/corpus/http/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mt_http.h"
#include "mt_validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HDRS 200
#define MAX_INPUT (64 * 1024)

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_http: property failed: %s (%s)\n", what, detail ? detail : "");
	abort();
}

static void check_message(const struct mt_err *err)
{
	if (!err->msg[0] || !mt_utf8_valid(err->msg, strlen(err->msg)))
		fail("message empty or not UTF-8", err->msg);
	for (const unsigned char *p = (const unsigned char *)err->msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			fail("message not one line", err->msg);
}

static void check_decode(const char *target)
{
	size_t n = strlen(target), len = 0, elen = 0;
	char *out = malloc(n + 1), *enc, *back;
	struct mt_err err = MT_ERR_INIT;
	int rc = mt_http_decode_path(out, n + 1, target, &len, &err);

	if ((rc != 0) != (strstr(target, "%00") != NULL))
		fail("refused exactly when %00", target);
	if (rc != 0) {
		if (err.code != MT_EINVAL || out[0])
			fail("refusal", err.msg);
		check_message(&err);
		free(out);
		return;
	}
	if (len > n || memchr(out, '\0', len) || out[len] != '\0')
		fail("decoded length or NUL", target);
	if (!strchr(target, '%') && strcmp(out, target) != 0)
		fail("changed without '%'", target);
	enc = malloc(len * 3 + 1);
	back = malloc(len * 3 + 1);
	for (size_t i = 0; i < len; i++)
		elen += (size_t)sprintf(enc + elen, "%%%02X", (unsigned char)out[i]);
	enc[elen] = '\0';
	if (mt_http_decode_path(back, elen + 1, enc, &n, &err) || n != len ||
	    memcmp(back, out, len) != 0)
		fail("does not decode its own encoding", target);
	free(enc);
	free(back);
	free(out);
}

static int all_digits(const char *v)
{
	size_t n;

	while (*v == ' ' || *v == '\t')
		v++;
	n = strspn(v, "0123456789");
	if (n == 0 || n > 18)
		return 0;
	v += n;
	while (*v == ' ' || *v == '\t')
		v++;
	return *v == '\0';
}

static void check_framing(const struct mt_http_hdr *h, size_t n)
{
	struct mt_err err = MT_ERR_INIT;
	int ncl, nte;
	const char *cl = mt_http_header(h, n, "Content-Length", &ncl);
	const char *te = mt_http_header(h, n, "Transfer-Encoding", &nte);
	int rc = mt_http_framing(h, n, 64, &err);

	if (rc != 0) {
		if (err.code != (n >= 64 ? MT_EHEADERS : MT_EBADREQ))
			fail("framing refusal code", err.msg);
		check_message(&err);
		return;
	}
	if (n >= 64 || ncl > 1 || nte > 1 || (cl && te))
		fail("framing accepted an ambiguous head", cl ? cl : te);
	if (cl && !all_digits(cl))
		fail("framing accepted a Content-Length", cl);
	if (te) {
		char t[16];
		size_t k = strspn(te, " \t"), m = strlen(te + k);

		while (m && (te[k + m - 1] == ' ' || te[k + m - 1] == '\t'))
			m--;
		if (m != 7)
			fail("framing accepted a Transfer-Encoding", te);
		memcpy(t, te + k, 7);
		t[7] = '\0';
		if (strcasecmp(t, "chunked") != 0)
			fail("framing accepted a Transfer-Encoding", te);
	}
}

static void check_host_roundtrip(const char *value)
{
	struct mt_http_host a, b;
	struct mt_err err = MT_ERR_INIT;
	char text[MT_HTTP_NAME_MAX + 16];

	if (mt_http_parse_host(&a, value, &err)) {
		if (err.code != MT_EINVAL)
			fail("host refusal code", err.msg);
		check_message(&err);
		return;
	}
	if (!a.name[0] || a.port > 65535 || a.port < -1)
		fail("host fields", value);
	for (const char *p = a.name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			fail("host not lower case", a.name);
	if (a.port >= 0)
		snprintf(text, sizeof(text), "%s%s%s:%d", a.kind == MT_HOST_IPV6 ? "[" : "", a.name,
			 a.kind == MT_HOST_IPV6 ? "]" : "", a.port);
	else
		snprintf(text, sizeof(text), "%s%s%s", a.kind == MT_HOST_IPV6 ? "[" : "", a.name,
			 a.kind == MT_HOST_IPV6 ? "]" : "");
	if (mt_http_parse_host(&b, text, &err) || a.kind != b.kind || strcmp(a.name, b.name) ||
	    a.port != b.port)
		fail("host round trip", value);
}

static void check_origin_roundtrip(const char *value)
{
	struct mt_http_origin a, b;
	struct mt_err err = MT_ERR_INIT;
	char text[MT_HTTP_NAME_MAX + 32], again[MT_HTTP_NAME_MAX + 32];

	if (mt_http_parse_origin(&a, value, 0, &err))
		return;
	mt_http_origin_str(text, sizeof(text), &a);
	if (mt_http_parse_origin(&b, text, 0, &err) ||
	    strcmp(mt_http_origin_str(again, sizeof(again), &b), text) != 0)
		fail("origin round trip", value);
	if (a.host.port < 1 || a.host.port > 65535)
		fail("origin port", value);
}

static void check_json_ct(const char *ct)
{
	const char *p = ct;
	int want;

	while (*p == ' ' || *p == '\t')
		p++;
	want = strncasecmp(p, "application/json", 16) == 0;
	if (want) {
		p += 16;
		while (*p == ' ' || *p == '\t')
			p++;
		want = *p == '\0' || *p == ';';
	}
	if (mt_http_is_json(ct) != want)
		fail("is_json", ct);
}

static void check_decision(const struct mt_http_policy *p, const char *method,
			   const struct mt_http_hdr *h, size_t n, int exempt)
{
	struct mt_http_req r = { method, h, n, exempt };
	struct mt_http_verdict v;
	struct mt_err err = MT_ERR_INIT;
	struct mt_http_host host;
	struct mt_http_origin origin;
	int nhost, norigin, have_host;
	const char *hv = mt_http_header(h, n, "Host", &nhost);
	const char *ov = mt_http_header(h, n, "Origin", &norigin);
	const char *sfs = mt_http_header(h, n, "Sec-Fetch-Site", NULL);

	if (mt_http_check(&v, p, &r, &err)) {
		if (err.code != MT_EINVAL && err.code != MT_EPERM)
			fail("refusal code", err.msg);
		check_message(&err);
		return;
	}
	have_host = hv && nhost == 1 && mt_http_parse_host(&host, hv, &err) == 0;
	if (!exempt && !p->any_host && !(have_host && mt_http_host_allowed(p, &host)))
		fail("passed without an allowed Host", hv);
	if (v.grant) {
		if (v.grant != ov || norigin != 1 || mt_http_parse_origin(&origin, ov, 0, &err) ||
		    !mt_http_origin_allowed(p, &origin))
			fail("grant", v.grant);
	}
	if (v.action == MT_HTTP_PREFLIGHT && (strcmp(method, "OPTIONS") != 0 || !v.grant))
		fail("preflight", method);
	if (!mt_http_state_changing(method) || v.grant)
		return;
	if (ov && !(norigin == 1 && have_host && mt_http_parse_origin(&origin, ov, 0, &err) == 0 &&
		    mt_http_same_origin(&origin, &host, p->tls)))
		fail("state-changing request from another origin passed", ov);
	if (sfs && (strcasecmp(sfs, "cross-site") == 0 || strcasecmp(sfs, "same-site") == 0))
		fail("state-changing cross-site request passed", sfs);
}

static struct mt_http_policy policies[3];

static void init_policies(void)
{
	static int done;
	struct mt_err err = MT_ERR_INIT;

	if (done)
		return;
	done = 1;
	for (int i = 0; i < 3; i++)
		mt_http_policy_init(&policies[i]);
	if (mt_http_policy_defaults(&policies[0], "127.0.0.1", &err) ||
	    mt_http_policy_add_host(&policies[0], "mltrack.example", &err) ||
	    mt_http_policy_add_origin(&policies[0], "http://app.example:8080", &err) ||
	    mt_http_policy_add_origin(&policies[0], "https://[::1]:8443", &err) ||
	    mt_http_policy_defaults(&policies[1], "0.0.0.0", &err) ||
	    mt_http_policy_defaults(&policies[2], "::1", &err) ||
	    mt_http_policy_add_host(&policies[2], "*", &err))
		fail("policy set-up", err.msg);
	policies[1].tls = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mt_http_hdr h[MAX_HDRS];
	char *buf, *line, *next, *method, *target, *sp, *qs;
	size_t n = 0;

	init_policies();
	if (size > MAX_INPUT)
		return 0;
	buf = malloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* A NUL ends the head: the server refuses control bytes in it. */
	next = strchr(buf, '\n');
	if (next)
		*next++ = '\0';
	line = buf;
	if (*line && line[strlen(line) - 1] == '\r')
		line[strlen(line) - 1] = '\0';
	method = line;
	sp = strchr(line, ' ');
	target = sp ? sp + 1 : (char *)"";
	if (sp)
		*sp = '\0';
	sp = strchr(target, ' ');
	if (sp)
		*sp = '\0';
	while (next && *next && n < MAX_HDRS) {
		char *colon, *v;

		line = next;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (*line && line[strlen(line) - 1] == '\r')
			line[strlen(line) - 1] = '\0';
		if (!*line)
			break;
		colon = strchr(line, ':');
		if (!colon || colon == line)
			break;
		*colon = '\0';
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		h[n].name = line;
		h[n].value = v;
		n++;
	}

	qs = strchr(target, '?');
	if (qs)
		*qs = '\0';
	check_decode(target);
	check_framing(h, n);
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(h[i].name, "Host") == 0)
			check_host_roundtrip(h[i].value);
		else if (strcasecmp(h[i].name, "Origin") == 0)
			check_origin_roundtrip(h[i].value);
		else if (strcasecmp(h[i].name, "Content-Type") == 0)
			check_json_ct(h[i].value);
	}
	for (int i = 0; i < 3; i++) {
		check_decision(&policies[i], method, h, n, 0);
		check_decision(&policies[i], method, h, n, 1);
	}
	free(buf);
	return 0;
}
