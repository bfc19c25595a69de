/* check_auth.c: lib/mt_auth: the Authorization header, cookies, tokens,
 * password hashes and names. */
#include <string.h>

#include "mt_auth.h"
#include "mt_check.h"

static const struct {
	const char *in;
	enum mt_auth_kind kind;
	const char *user, *secret;
} headers[] = {
	{ "Basic YWxpY2U6c2VjcmV0cHcx", MT_AUTH_BASIC, "alice", "secretpw1" },
	{ "basic YWxpY2U6c2VjcmV0cHcx", MT_AUTH_BASIC, "alice", "secretpw1" },
	{ "  BASIC   YWxpY2U6c2VjcmV0cHcx  ", MT_AUTH_BASIC, "alice", "secretpw1" },
	/* a password may hold ':' (the user may not) */
	{ "Basic YWxpY2U6YTpiOmM=", MT_AUTH_BASIC, "alice", "a:b:c" },
	/* an empty password parses (and fails later) */
	{ "Basic YWxpY2U6", MT_AUTH_BASIC, "alice", "" },
	/* UTF-8 is kept as it is */
	{ "Basic w6lsb2lzZTpww6Rzcw==", MT_AUTH_BASIC, "\xc3\xa9loise", "p\xc3\xa4ss" },
	{ "Bearer mlt_abc", MT_AUTH_BEARER, NULL, "mlt_abc" },
	{ "bearer   tok  ", MT_AUTH_BEARER, NULL, "tok" },
	{ "", MT_AUTH_INVALID, NULL, NULL },
	{ "Basic", MT_AUTH_INVALID, NULL, NULL },
	{ "Basic ", MT_AUTH_INVALID, NULL, NULL },
	{ "Basic YWxpY2U=", MT_AUTH_INVALID, NULL, NULL },            /* no ':' */
	{ "Basic OnB3", MT_AUTH_INVALID, NULL, NULL },                /* ":pw": no user */
	{ "Basic YWxpY2U6cHcAeA==", MT_AUTH_INVALID, NULL, NULL },    /* NUL inside */
	{ "Basic YWxpY2U6cHcKeA==", MT_AUTH_INVALID, NULL, NULL },    /* LF inside */
	{ "Basic YWxpY2U6c2VjcmV0cHcx=", MT_AUTH_INVALID, NULL, NULL }, /* bad padding */
	{ "Basic YWxp!2U6", MT_AUTH_INVALID, NULL, NULL },
	{ "Basic YWxpY2U6c2VjcmV0cHcy", MT_AUTH_BASIC, "alice", "secretpw2" },
	{ "Basic YR==", MT_AUTH_INVALID, NULL, NULL },                /* non-zero spare bits */
	{ "Bearer", MT_AUTH_INVALID, NULL, NULL },
	{ "Bearer ", MT_AUTH_INVALID, NULL, NULL },
	{ "Bearer a b", MT_AUTH_INVALID, NULL, NULL },
	{ "Digest username=x", MT_AUTH_INVALID, NULL, NULL },
	{ "Token abc", MT_AUTH_INVALID, NULL, NULL },
};

START_TEST(test_header)
{
	char buf[MT_CREDENTIAL_MAX + 1];
	struct mt_credential c;
	enum mt_auth_kind k = mt_auth_parse_header(headers[_i].in, buf, sizeof(buf), &c);

	ck_assert_msg(k == headers[_i].kind, "'%s': kind %d, want %d", headers[_i].in, k,
		      headers[_i].kind);
	if (k == MT_AUTH_INVALID)
		ck_assert(c.why && *c.why);
	if (headers[_i].user)
		ck_assert_str_eq(c.user, headers[_i].user);
	if (headers[_i].secret)
		ck_assert_str_eq(c.secret, headers[_i].secret);
}
END_TEST

START_TEST(test_header_none_and_long)
{
	char buf[MT_CREDENTIAL_MAX + 1], big[8192];
	struct mt_credential c;

	ck_assert_int_eq(mt_auth_parse_header(NULL, buf, sizeof(buf), &c), MT_AUTH_NONE);
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "Basic ", 6);
	ck_assert_int_eq(mt_auth_parse_header(big, buf, sizeof(buf), &c), MT_AUTH_INVALID);
	memcpy(big, "Bearer ", 7);
	ck_assert_int_eq(mt_auth_parse_header(big, buf, sizeof(buf), &c), MT_AUTH_INVALID);
	/* a buffer too small for what is sent: refused, never overrun */
	ck_assert_int_eq(mt_auth_parse_header("Basic YWxpY2U6c2VjcmV0cHcx", buf, 8, &c),
			 MT_AUTH_INVALID);
}
END_TEST

START_TEST(test_cookie)
{
	char buf[32];

	ck_assert_str_eq(mt_auth_cookie("mltrack_session=abc", "mltrack_session", buf,
					sizeof(buf)), "abc");
	ck_assert_str_eq(mt_auth_cookie("a=1; mltrack_session=xyz ; b=2", "mltrack_session",
					buf, sizeof(buf)), "xyz");
	ck_assert_str_eq(mt_auth_cookie("mltrack_session=\"q\"", "mltrack_session", buf,
					sizeof(buf)), "q");
	ck_assert_ptr_null(mt_auth_cookie("xmltrack_session=abc", "mltrack_session", buf,
					  sizeof(buf)));
	ck_assert_ptr_null(mt_auth_cookie("mltrack_session=", "mltrack_session", buf,
					  sizeof(buf)));
	ck_assert_ptr_null(mt_auth_cookie(NULL, "mltrack_session", buf, sizeof(buf)));
	ck_assert_ptr_null(mt_auth_cookie("mltrack_session=0123456789012345678901234567890123",
					  "mltrack_session", buf, sizeof(buf)));
	ck_assert_ptr_null(mt_auth_cookie("mltrack_session=a\x01z", "mltrack_session", buf,
					  sizeof(buf)));
}
END_TEST

START_TEST(test_token)
{
	char t[MT_TOKEN_LEN + 1], u[MT_TOKEN_LEN + 1], h[65];

	ck_assert_int_eq(mt_auth_token_new(t), 0);
	ck_assert_int_eq(mt_auth_token_new(u), 0);
	ck_assert_uint_eq(strlen(t), MT_TOKEN_LEN);
	ck_assert(mt_auth_token_wellformed(t));
	ck_assert_str_ne(t, u);
	ck_assert(!mt_auth_token_wellformed("mlt_short"));
	t[10] = '+'; /* not base64url */
	ck_assert(!mt_auth_token_wellformed(t));
	ck_assert(!mt_auth_token_wellformed("xyz_SwlWOzuf-xuaQjL-oxWt9Sgj4r-BmI3JhW8q2Zo7Ip0"));
	ck_assert(mt_auth_token_wellformed("mlt_SwlWOzuf-xuaQjL-oxWt9Sgj4r-BmI3JhW8q2Zo7Ip0"));
	mt_auth_sha256_hex("abc", h);
	ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(test_password)
{
	char h1[MT_PASSWORD_HASH_MAX], h2[MT_PASSWORD_HASH_MAX];

	ck_assert_int_eq(mt_auth_password_hash_iter("secretpw1", 1000, h1, sizeof(h1)), 0);
	ck_assert_int_eq(mt_auth_password_hash_iter("secretpw1", 1000, h2, sizeof(h2)), 0);
	ck_assert_str_ne(h1, h2); /* salted */
	ck_assert(strncmp(h1, "$pbkdf2-sha256$1000$", 20) == 0);
	ck_assert_int_eq(mt_auth_password_verify("secretpw1", h1), 1);
	ck_assert_int_eq(mt_auth_password_verify("secretpw1", h2), 1);
	ck_assert_int_eq(mt_auth_password_verify("secretpw2", h1), 0);
	ck_assert_int_eq(mt_auth_password_verify("", h1), 0);
	/* computed independently (Python's hashlib.pbkdf2_hmac): "password",
	 * salt "saltislonger", 1 round */
	ck_assert_int_eq(mt_auth_password_verify("password",
						 "$pbkdf2-sha256$1$c2FsdGlzbG9uZ2Vy$"
						 "2XhUHDBkiC6mVIvfAIeP4eSJX9y8iADDpdcrh4LJ9GM"), 1);
	ck_assert_int_eq(mt_auth_password_verify("passwore",
						 "$pbkdf2-sha256$1$c2FsdGlzbG9uZ2Vy$"
						 "2XhUHDBkiC6mVIvfAIeP4eSJX9y8iADDpdcrh4LJ9GM"), 0);
	ck_assert_int_eq(mt_auth_password_verify("x", "plain"), -1);
	ck_assert_int_eq(mt_auth_password_verify("x", "$pbkdf2-sha256$0$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA"), -1);
	ck_assert_int_eq(mt_auth_password_verify("x", "$pbkdf2-sha256$1$AA$AAAAAAAAAAAAAAAAAAAAAA"), -1);
	ck_assert_int_eq(mt_auth_password_verify("x", "$pbkdf2-sha256$1$AAAAAAAAAAA"), -1);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_ptr_null(mt_auth_username_invalid("alice"));
	ck_assert_ptr_null(mt_auth_username_invalid("ci-bot@team.example"));
	ck_assert_ptr_nonnull(mt_auth_username_invalid(""));
	ck_assert_ptr_nonnull(mt_auth_username_invalid("-x"));
	ck_assert_ptr_nonnull(mt_auth_username_invalid("a:b"));
	ck_assert_ptr_nonnull(mt_auth_username_invalid("a b"));
	ck_assert_ptr_nonnull(mt_auth_username_invalid(
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	ck_assert_ptr_null(mt_auth_password_invalid("12345678"));
	ck_assert_ptr_nonnull(mt_auth_password_invalid("1234567"));
	ck_assert_ptr_nonnull(mt_auth_password_invalid("12345678\n"));
	ck_assert(mt_auth_streq("abc", "abc"));
	ck_assert(!mt_auth_streq("abc", "abd"));
	ck_assert(!mt_auth_streq("abc", "abcd"));
}
END_TEST

Suite *make_auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_header, 0, sizeof(headers) / sizeof(headers[0]));
	tcase_add_test(tc, test_header_none_and_long);
	tcase_add_test(tc, test_cookie);
	tcase_add_test(tc, test_token);
	tcase_add_test(tc, test_password);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}
