/* mt_auth.c: see mt_auth.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "mt_auth.h"
#include "mt_util.h"

#define SALT_LEN 16
#define DK_LEN 32

/* ---- base64 (standard for Basic and hashes, url-safe for tokens) ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encode without padding; out holds 4*ceil(n/3) + 1. */
static void b64_encode(const char *alpha, const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		out[o++] = alpha[v >> 6 & 63];
		out[o++] = alpha[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;

		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;

		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		out[o++] = alpha[v >> 6 & 63];
	}
	out[o] = '\0';
}

static int b64_value(const char *alpha, char c)
{
	const char *p = c ? strchr(alpha, c) : NULL;

	return p ? (int)(p - alpha) : -1;
}

/* Decode len characters of standard base64 (padding optional, but only at
 * the end); -1 on anything else.  *outlen bytes into out (size max). */
static int b64_decode(const char *alpha, const char *in, size_t len, unsigned char *out,
		      size_t max, size_t *outlen)
{
	unsigned v = 0;
	size_t o = 0, bits = 0, pad = 0;

	while (len && in[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if (pad && (len + pad) % 4)
		return -1;
	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int d = b64_value(alpha, in[i]);

		if (d < 0)
			return -1;
		v = (v << 6 | (unsigned)d) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= max)
				return -1;
			out[o++] = (unsigned char)(v >> bits & 0xff);
		}
	}
	/* The bits left over must be zero (one spelling per value). */
	if (bits && (v & ((1u << bits) - 1)))
		return -1;
	*outlen = o;
	return 0;
}

/* ---- the Authorization header ---- */

static int has_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

static enum mt_auth_kind invalid(struct mt_credential *out, const char *why)
{
	out->kind = MT_AUTH_INVALID;
	out->why = why;
	return MT_AUTH_INVALID;
}

enum mt_auth_kind mt_auth_parse_header(const char *value, char *buf, size_t size,
				       struct mt_credential *out)
{
	const char *p, *e;
	size_t n, got;
	char *colon;

	memset(out, 0, sizeof(*out));
	if (!value)
		return MT_AUTH_NONE;
	p = value + strspn(value, " \t");
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if ((size_t)(e - p) > 6 && strncasecmp(p, "Basic ", 6) == 0) {
		p += 6;
		p += strspn(p, " ");
		n = (size_t)(e - p);
		if (n == 0)
			return invalid(out, "Basic credentials are empty");
		if (!buf || size < 2 || n / 4 * 3 > size - 1 || n > MT_CREDENTIAL_MAX * 4 / 3 + 4)
			return invalid(out, "Basic credentials are too long");
		if (b64_decode(B64, p, n, (unsigned char *)buf, size - 1, &got))
			return invalid(out, "Basic credentials are not base64");
		buf[got] = '\0';
		if (strlen(buf) != got || has_ctl(buf, got))
			return invalid(out, "Basic credentials hold control characters");
		colon = strchr(buf, ':');
		if (!colon)
			return invalid(out, "Basic credentials have no ':' between user and password");
		*colon = '\0';
		if (!buf[0])
			return invalid(out, "Basic credentials have no user name");
		out->kind = MT_AUTH_BASIC;
		out->user = buf;
		out->secret = colon + 1;
		return MT_AUTH_BASIC;
	}
	if ((size_t)(e - p) > 7 && strncasecmp(p, "Bearer ", 7) == 0) {
		p += 7;
		p += strspn(p, " ");
		n = (size_t)(e - p);
		if (n == 0 || n > MT_CREDENTIAL_MAX)
			return invalid(out, "the bearer token is empty or too long");
		if (!buf || size <= n)
			return invalid(out, "the bearer token is too long");
		memcpy(buf, p, n);
		buf[n] = '\0';
		if (has_ctl(buf, n) || strchr(buf, ' '))
			return invalid(out, "the bearer token holds spaces or control characters");
		out->kind = MT_AUTH_BEARER;
		out->secret = buf;
		return MT_AUTH_BEARER;
	}
	return invalid(out, "the Authorization scheme is neither Basic nor Bearer");
}

/* ---- cookies ---- */

const char *mt_auth_cookie(const char *header, const char *name, char *buf, size_t size)
{
	size_t nl = name ? strlen(name) : 0;
	const char *p = header;

	if (!header || !nl || !buf || size == 0)
		return NULL;
	while (*p) {
		const char *k, *v, *end;

		p += strspn(p, " \t;");
		if (!*p)
			break;
		k = p;
		end = p + strcspn(p, ";");
		v = memchr(k, '=', (size_t)(end - k));
		if (v && (size_t)(v - k) == nl && memcmp(k, name, nl) == 0) {
			size_t n;

			v++;
			while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
				end--;
			if (end - v >= 2 && *v == '"' && end[-1] == '"') {
				v++;
				end--;
			}
			n = (size_t)(end - v);
			if (n == 0 || n >= size || has_ctl(v, n))
				return NULL;
			memcpy(buf, v, n);
			buf[n] = '\0';
			return buf;
		}
		p = end;
	}
	return NULL;
}

/* ---- tokens ---- */

int mt_auth_random_b64(char *out, size_t nbytes)
{
	unsigned char r[64];

	if (nbytes > sizeof(r) || RAND_bytes(r, (int)nbytes) != 1)
		return -1;
	b64_encode(B64URL, r, nbytes, out);
	OPENSSL_cleanse(r, sizeof(r));
	return 0;
}

int mt_auth_token_new(char *out)
{
	memcpy(out, MT_TOKEN_PREFIX, 4);
	return mt_auth_random_b64(out + 4, 32);
}

int mt_auth_token_wellformed(const char *s)
{
	if (!s || strncmp(s, MT_TOKEN_PREFIX, 4) != 0 || strlen(s) != MT_TOKEN_LEN)
		return 0;
	for (s += 4; *s; s++)
		if (b64_value(B64URL, *s) < 0)
			return 0;
	return 1;
}

void mt_auth_sha256_hex(const char *s, char out[65])
{
	mt_sha256_hex(out, s, strlen(s));
}

/* ---- passwords ---- */

int mt_auth_password_hash_iter(const char *password, int iterations, char *out, size_t size)
{
	unsigned char salt[SALT_LEN], dk[DK_LEN];
	char s64[32], d64[48];
	int n;

	if (iterations < 1 || RAND_bytes(salt, sizeof(salt)) != 1 ||
	    PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof(salt), iterations,
			      EVP_sha256(), sizeof(dk), dk) != 1)
		return -1;
	b64_encode(B64, salt, sizeof(salt), s64);
	b64_encode(B64, dk, sizeof(dk), d64);
	OPENSSL_cleanse(dk, sizeof(dk));
	n = snprintf(out, size, "$pbkdf2-sha256$%d$%s$%s", iterations, s64, d64);
	return n > 0 && (size_t)n < size ? 0 : -1;
}

int mt_auth_password_hash(const char *password, char *out, size_t size)
{
	return mt_auth_password_hash_iter(password, MT_PBKDF2_ITERATIONS, out, size);
}

int mt_auth_password_verify(const char *password, const char *stored)
{
	static const char head[] = "$pbkdf2-sha256$";
	unsigned char salt[64], want[64], got[64];
	size_t slen, wlen;
	const char *p, *s, *d;
	char *end;
	long it;
	int same;

	if (!password || !stored || strncmp(stored, head, sizeof(head) - 1) != 0)
		return -1;
	p = stored + sizeof(head) - 1;
	it = strtol(p, &end, 10);
	if (end == p || *end != '$' || it < 1 || it > 100000000)
		return -1;
	s = end + 1;
	d = strchr(s, '$');
	if (!d || b64_decode(B64, s, (size_t)(d - s), salt, sizeof(salt), &slen) || slen < 8 ||
	    b64_decode(B64, d + 1, strlen(d + 1), want, sizeof(want), &wlen) || wlen < 16)
		return -1;
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)slen, (int)it,
			      EVP_sha256(), (int)wlen, got) != 1)
		return -1;
	same = CRYPTO_memcmp(got, want, wlen) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return same;
}

/* ---- names ---- */

const char *mt_auth_username_invalid(const char *u)
{
	size_t n = u ? strlen(u) : 0;

	if (n == 0)
		return "a user name must not be empty";
	if (n > MT_USERNAME_MAX)
		return "a user name has at most 64 characters";
	if (u[0] == '-')
		return "a user name must not start with '-'";
	for (size_t i = 0; i < n; i++) {
		char c = u[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '@' || c == '+' || c == '-'))
			return "a user name may hold only letters, digits and . _ @ + -";
	}
	return NULL;
}

const char *mt_auth_password_invalid(const char *p)
{
	size_t n = p ? strlen(p) : 0;

	if (n < MT_PASSWORD_MIN)
		return "a password must have at least 8 characters";
	if (n > MT_PASSWORD_MAX)
		return "a password has at most 1024 characters";
	if (has_ctl(p, n))
		return "a password must not hold control characters";
	return NULL;
}

int mt_auth_streq(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}
