/*
 * fuzz_auth: libFuzzer harness for the parsers of lib/mt_auth that read
 * what a client sends: the Authorization header, the Cookie header, the
 * token form, and the stored password-hash form.
 *
 * The input is used three ways.  Beyond "no crash, no leak, no
 * out-of-bounds read" (ASan, UBSan, LSan), these properties must hold, else
 * abort():
 *  - as an Authorization value: Basic gives a non-empty user without ':' or
 *    control bytes and a secret without control bytes, and the same
 *    user:secret encoded again parses to the same pair; Bearer gives a
 *    non-empty token without spaces or control bytes, equal to the value
 *    after the scheme; a refusal carries a reason;
 *  - as a Cookie header: a value found for "mltrack_session" is non-empty,
 *    shorter than the buffer, without ';' or control bytes;
 *  - as a stored hash (after "$pbkdf2-sha256$1$", so at most one round
 *    runs): verifying answers -1, 0 or 1, and never 1 for a password that
 *    the hash was not made from, unless the input is a valid hash of it;
 *  - a string that has the token form is exactly 47 bytes, "mlt_" and
 *    base64url.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined, or link
 * tests/fuzz/standalone.c to replay the corpus in tests/fuzz/corpus/auth/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mt_auth.h"

#define CHECK(c)                                                                      \
	do {                                                                          \
		if (!(c)) {                                                           \
			fprintf(stderr, "fuzz_auth: property failed: %s\n", #c);      \
			abort();                                                      \
		}                                                                     \
	} while (0)

static int has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static void basic_roundtrip(const char *user, const char *secret)
{
	size_t n = strlen(user) + 1 + strlen(secret);
	char *plain = malloc(n + 1), *hdr = malloc(4 * (n / 3 + 1) + 16);
	char *buf = malloc(MT_CREDENTIAL_MAX + 1);
	struct mt_credential c;

	CHECK(plain && hdr && buf);
	snprintf(plain, n + 1, "%s:%s", user, secret);
	strcpy(hdr, "Basic ");
	EVP_EncodeBlock((unsigned char *)hdr + 6, (const unsigned char *)plain, (int)n);
	CHECK(mt_auth_parse_header(hdr, buf, MT_CREDENTIAL_MAX + 1, &c) == MT_AUTH_BASIC);
	CHECK(strcmp(c.user, user) == 0 && strcmp(c.secret, secret) == 0);
	free(plain);
	free(hdr);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *buf = malloc(MT_CREDENTIAL_MAX + 1), *stored;
	char cookie[64];
	struct mt_credential c;
	const char *v;
	int r;

	CHECK(in && buf);
	memcpy(in, data, size);
	in[size] = '\0';

	switch (mt_auth_parse_header(in, buf, MT_CREDENTIAL_MAX + 1, &c)) {
	case MT_AUTH_NONE:
		CHECK(0); /* only a NULL header is none */
		break;
	case MT_AUTH_INVALID:
		CHECK(c.why && *c.why);
		break;
	case MT_AUTH_BASIC:
		CHECK(c.user && *c.user && !strchr(c.user, ':') && !has_ctl(c.user));
		CHECK(c.secret && !has_ctl(c.secret));
		{
			char *u = strdup(c.user), *s = strdup(c.secret);

			CHECK(u && s);
			basic_roundtrip(u, s);
			free(u);
			free(s);
		}
		break;
	case MT_AUTH_BEARER:
		CHECK(c.secret && *c.secret && !strchr(c.secret, ' ') && !has_ctl(c.secret));
		CHECK(strstr(in, c.secret) != NULL);
		break;
	}

	v = mt_auth_cookie(in, "mltrack_session", cookie, sizeof(cookie));
	if (v)
		CHECK(v == cookie && *v && strlen(v) < sizeof(cookie) && !strchr(v, ';') &&
		      !has_ctl(v));

	stored = malloc(size + 32);
	CHECK(stored);
	snprintf(stored, size + 32, "$pbkdf2-sha256$1$%s", in);
	r = mt_auth_password_verify("correct horse", stored);
	CHECK(r == -1 || r == 0 || r == 1);
	free(stored);

	if (mt_auth_token_wellformed(in))
		CHECK(strlen(in) == MT_TOKEN_LEN && strncmp(in, MT_TOKEN_PREFIX, 4) == 0);

	free(in);
	free(buf);
	return 0;
}
