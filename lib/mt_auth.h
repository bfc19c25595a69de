/*
 * mt_auth.h: the pure parts of authentication, shared by mltrackd and its
 * tests (fuzz_auth, check_auth): the Authorization header, cookies, the
 * token format, password hashing and names.
 *
 *   Tokens      "mlt_" + 43 characters of base64url (32 random bytes), so
 *               a token is recognisable in a log or a secret scanner, and
 *               stored as the hex SHA-256 of the whole text: tokens carry
 *               256 bits of chance, so a fast hash is safe, and a lookup
 *               by hash needs no per-user salt.
 *   Passwords   PBKDF2-HMAC-SHA256 with a 16-byte random salt, stored as
 *               "$pbkdf2-sha256$<iterations>$<salt>$<hash>" (base64, no
 *               padding); the iteration count is in the text, so raising
 *               MT_PBKDF2_ITERATIONS later keeps old hashes valid.
 *
 * Comparisons of secrets are constant-time (CRYPTO_memcmp).  Nothing here
 * prints, and nothing keeps a secret longer than its caller's buffer.
 */
#ifndef MT_AUTH_H
#define MT_AUTH_H

#include <stddef.h>

#define MT_TOKEN_PREFIX "mlt_"
#define MT_TOKEN_LEN 47            /* "mlt_" + 43 */
#define MT_TOKEN_SHOWN 12          /* characters kept to recognise one */
#define MT_PBKDF2_ITERATIONS 600000 /* OWASP's 2023 figure for PBKDF2-HMAC-SHA256 */
#define MT_PASSWORD_HASH_MAX 160
#define MT_USERNAME_MAX 64
#define MT_PASSWORD_MIN 8
#define MT_PASSWORD_MAX 1024
#define MT_CREDENTIAL_MAX 2048     /* the decoded "user:password" of Basic */

enum mt_auth_kind {
	MT_AUTH_NONE = 0,   /* no Authorization header */
	MT_AUTH_BASIC,      /* user and secret (a password or a token) */
	MT_AUTH_BEARER,     /* secret is the token */
	MT_AUTH_INVALID,    /* a header that does not parse (why says why) */
};

struct mt_credential {
	enum mt_auth_kind kind;
	const char *user;   /* Basic: into the caller's buffer */
	const char *secret; /* Basic: the password or token; Bearer: the token */
	const char *why;    /* MT_AUTH_INVALID: a static phrase, no input echoed */
};

/* Parse an Authorization header value (NULL: no header).  Basic's
 * base64 is decoded into buf (size at least MT_CREDENTIAL_MAX + 1).  The
 * scheme is case-insensitive; the credentials must be well formed: base64
 * with a ':', no control characters, a non-empty user. */
enum mt_auth_kind mt_auth_parse_header(const char *value, char *buf, size_t size,
				       struct mt_credential *out);

/* The value of cookie `name` in a Cookie header, copied into buf; NULL when
 * absent, malformed or longer than size - 1. */
const char *mt_auth_cookie(const char *header, const char *name, char *buf, size_t size);

/* A new token from the system's random source into out (MT_TOKEN_LEN + 1
 * bytes).  0, or -1 when the random source failed. */
int mt_auth_token_new(char *out);
/* Random bytes as base64url without padding: a session id or a CSRF token
 * of 32 bytes is 43 characters.  out holds at least 4*n/3 + 2. */
int mt_auth_random_b64(char *out, size_t nbytes);
/* 1 when s has the token's form (prefix, length, alphabet). */
int mt_auth_token_wellformed(const char *s);
/* The hex SHA-256 of s (65 bytes with the NUL). */
void mt_auth_sha256_hex(const char *s, char out[65]);

/* Hash a password (MT_PASSWORD_HASH_MAX bytes out).  0, or -1 on a failure
 * of the random source or the KDF. */
int mt_auth_password_hash(const char *password, char *out, size_t size);
/* The same with a given iteration count (tests; raising the default). */
int mt_auth_password_hash_iter(const char *password, int iterations, char *out, size_t size);
/* 1 when password matches stored, 0 when not, -1 when stored is not a hash
 * of ours.  Takes the stored hash's iterations of PBKDF2. */
int mt_auth_password_verify(const char *password, const char *stored);

/* NULL when u is an acceptable user name (1 to MT_USERNAME_MAX of
 * [A-Za-z0-9._@+-], not starting with '-'), else why not. */
const char *mt_auth_username_invalid(const char *u);
/* NULL when p is an acceptable new password (MT_PASSWORD_MIN to
 * MT_PASSWORD_MAX bytes, no control characters), else why not. */
const char *mt_auth_password_invalid(const char *p);

/* Constant-time equality of two NUL-terminated strings (the length is not
 * hidden). */
int mt_auth_streq(const char *a, const char *b);

#endif
