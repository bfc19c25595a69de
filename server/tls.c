/*
 * tls.c: HTTPS for mltrackd, and certificate rotation on SIGHUP (tls.h).
 *
 * What is offered.  TLS 1.2 and 1.3 only; for 1.2 only ECDHE key exchange
 * with AEAD ciphers (Mozilla's "intermediate" list without DHE), for 1.3
 * OpenSSL's defaults (all AEAD); OpenSSL security level 2 (RSA keys of at
 * least 2048 bits, no SHA-1 signatures); no compression, no renegotiation.
 * Sessions are never resumed (no cache, no tickets): every connection runs
 * a full handshake, so it always gets the certificate being served now and
 * a client certificate is always checked against the client CA being
 * served now.  mltrack's CLI and MLflow's client keep connections alive
 * rather than resuming sessions, so this costs them little
 * (docs/PERFORMANCE.md, "TLS").
 *
 * Why our own SSL_CTX.  CivetWeb can build one from its ssl_* options, but
 * then its certificate is fixed for the server's life (ssl_short_trust
 * reloads a combined PEM file, by modification time, in the middle of
 * handshakes).  Through the external_ssl_ctx callback CivetWeb instead
 * takes ours, and then leaves it alone: it sets no callback on it and does
 * not free it.
 *
 * How CivetWeb finds OpenSSL.  Debian's libcivetweb 1.15 is built to load
 * OpenSSL at run time, for the 1.1 API: dlopen("libcrypto.so") and
 * dlopen("libssl.so"), then dlsym() of each function it calls.  One of them,
 * SSL_get_peer_certificate, is only a macro in OpenSSL 3 (for
 * SSL_get1_peer_certificate), so against Debian 12's libssl.so.3 the lookup
 * fails and CivetWeb refuses to start TLS at all (civetweb issue #1334).
 * mltrackd therefore answers to that name itself: it is linked with the
 * SONAME "libssl.so" (Makefile, SERVER_LDFLAGS), and glibc's dlopen()
 * returns an object already loaded whose SONAME matches the name asked
 * for, here the executable.  CivetWeb's dlsym() on it then searches
 * mltrackd and what mltrackd is linked with: every libssl function is
 * libssl.so.3's, the one mltrackd uses, and SSL_get_peer_certificate is
 * the definition below (exported for that alone).  libcrypto.so is the
 * real file (libssl-dev).  tls_init() checks all this before it starts:
 * one OpenSSL in the process, one set of SSL_CTX structures.
 *
 * Rotation.  Two kinds of SSL_CTX:
 *  - `base`, handed to CivetWeb, which calls SSL_new(base) for every
 *    connection: the protocol settings (versions, ciphers, options, the
 *    verify mode) and a client-hello callback, but no certificate;
 *  - `current`: the same settings plus the certificate chain, the key and
 *    the client CA, as loaded at start or by the last successful reload.
 * The client-hello callback, the first thing OpenSSL runs for a new
 * handshake, takes a reference to `current` under a mutex and moves the
 * connection onto it with SSL_set_SSL_CTX(): from there on the handshake
 * presents that certificate and verifies client certificates against that
 * CA.  A reload (the main thread, on SIGHUP) builds a complete new
 * SSL_CTX from the files first; only when that succeeded does it swap
 * `current` under the mutex and drop the reference `current` held.
 * OpenSSL counts references: every SSL moved onto a context holds one, so
 * an old context lives exactly as long as its last connection and is freed
 * by whichever frees last (SSL_free in CivetWeb's close, or the reload).
 * A reload that fails (a missing file, a key that does not match) leaves
 * `current` as it was and the server serving.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <civetweb.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls.h"

/* TLS 1.2: ECDHE and AEAD only.  (TLS 1.3's suites are all AEAD with
 * (EC)DHE; OpenSSL's defaults are kept.) */
#define TLS12_CIPHERS                                                       \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"        \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"        \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* Process lifetime.  cert, key, ca: borrowed from the configuration. */
static struct {
	const char *cert, *key, *ca;
	SSL_CTX *base;      /* CivetWeb's: settings only (one reference, ours) */
	pthread_mutex_t mu; /* guards current */
	SSL_CTX *current;   /* what new handshakes use (one reference, ours) */
	char desc[512];     /* current's certificate, for the log (main thread) */
} tls = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* The handshake this worker thread ran last (tls_thread_take). */
static _Thread_local SSL *last_ssl;

int tls_on(void)
{
	return tls.base != NULL;
}

/* A key protected by a passphrase is refused rather than prompted for: a
 * server has no terminal to ask on, and would stop there. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* OpenSSL's reason for the failure just seen, for a message: the first in
 * its queue (the cause: "no start line" rather than "PEM lib").  *mismatch
 * (when not NULL) tells whether a key did not match its certificate.
 * Clears the queue. */
static const char *ssl_reason_ex(int *mismatch)
{
	unsigned long e;
	const char *r = NULL;

	if (mismatch)
		*mismatch = 0;
	while ((e = ERR_get_error())) {
		if (!r)
			r = ERR_reason_error_string(e);
		if (mismatch && ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
			*mismatch = 1;
	}
	return r ? r : "unknown error";
}

static const char *ssl_reason(void)
{
	return ssl_reason_ex(NULL);
}

/* The file can be opened (OpenSSL's errors for a missing file are cryptic). */
static int readable(const char *what, const char *path, struct mt_err *err)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return mt_err_set(err, MT_EINVAL, "cannot read the %s '%s': %s", what, path,
				  strerror(errno));
	fclose(f);
	return 0;
}

/* The key file holds an encrypted key (PEM's "ENCRYPTED" markers). */
static int key_encrypted(const char *path)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, "ENCRYPTED") != NULL;
}

static int on_client_hello(SSL *ssl, int *alert, void *arg);

/* A context with the protocol settings every one of ours has. */
static SSL_CTX *ctx_new(struct mt_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	static const unsigned char sid[] = "mltrackd";

	if (!ctx) {
		mt_err_set(err, MT_EINTERNAL, "cannot create a TLS context: %s", ssl_reason());
		return NULL;
	}
	SSL_CTX_set_security_level(ctx, 2);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS)) {
		mt_err_set(err, MT_EINTERNAL, "cannot configure TLS: %s", ssl_reason());
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (tls.ca)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
}

/* A complete context from the files: owned by the caller, or NULL. */
static SSL_CTX *ctx_load(struct mt_err *err)
{
	SSL_CTX *ctx;
	STACK_OF(X509_NAME) *names;

	if (readable("TLS certificate", tls.cert, err) || readable("TLS key", tls.key, err) ||
	    (tls.ca && readable("TLS client CA file", tls.ca, err)))
		return NULL;
	if (!(ctx = ctx_new(err)))
		return NULL;
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert) != 1) {
		mt_err_set(err, MT_EINVAL, "cannot use the TLS certificate '%s': %s", tls.cert,
			   ssl_reason());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, tls.key, SSL_FILETYPE_PEM) != 1) {
		int mismatch;
		const char *why = ssl_reason_ex(&mismatch);

		if (mismatch)
			mt_err_set(err, MT_EINVAL, "the TLS key '%s' does not belong to the "
				   "certificate '%s'", tls.key, tls.cert);
		else if (key_encrypted(tls.key))
			mt_err_set(err, MT_EINVAL, "the TLS key '%s' is encrypted: mltrackd needs it "
				   "without a passphrase (protect it with file permissions)", tls.key);
		else
			mt_err_set(err, MT_EINVAL, "cannot use the TLS key '%s': %s", tls.key, why);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		mt_err_set(err, MT_EINVAL, "the TLS key '%s' does not belong to the certificate '%s'",
			   tls.key, tls.cert);
		goto fail;
	}
	if (tls.ca) {
		if (SSL_CTX_load_verify_locations(ctx, tls.ca, NULL) != 1) {
			mt_err_set(err, MT_EINVAL, "cannot use the TLS client CA file '%s': %s",
				   tls.ca, ssl_reason());
			goto fail;
		}
		/* The names the server asks for in its CertificateRequest. */
		names = SSL_load_client_CA_file(tls.ca);
		if (!names || sk_X509_NAME_num(names) == 0) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			mt_err_set(err, MT_EINVAL, "the TLS client CA file '%s' holds no certificate",
				   tls.ca);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	ERR_clear_error();
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/* "subject ..., serial ..., expires ..." of ctx's certificate into buf. */
static void describe(char *buf, size_t size, SSL_CTX *ctx)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	BIO *b = BIO_new(BIO_s_mem());
	BIGNUM *bn = x ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL) : NULL;
	char *serial = bn ? BN_bn2hex(bn) : NULL;
	char *p;
	long n;

	snprintf(buf, size, "(no certificate)");
	if (x && b) {
		BIO_printf(b, "subject ");
		X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
		BIO_printf(b, ", serial %s, expires ", serial ? serial : "?");
		ASN1_TIME_print(b, X509_get0_notAfter(x));
		if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
			BIO_printf(b, " (EXPIRED)");
		else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
			BIO_printf(b, " (NOT YET VALID)");
		n = BIO_get_mem_data(b, &p);
		snprintf(buf, size, "%.*s", (int)n, p);
		/* One log line, whatever the subject holds. */
		for (char *c = buf; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	}
	OPENSSL_free(serial);
	BN_free(bn);
	BIO_free(b);
	ERR_clear_error();
}

const char *tls_describe(char *buf, size_t size)
{
	snprintf(buf, size, "%s", tls.desc);
	return buf;
}

/*
 * Move a new connection onto `current` (the opening comment).  Runs on the
 * worker thread doing the handshake, once per ClientHello (twice after a
 * HelloRetryRequest: the second finds the connection moved already).
 */
static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
	SSL_CTX *cur;
	STACK_OF(X509_NAME) *names;

	(void)arg;
	last_ssl = ssl;
	if (SSL_get_SSL_CTX(ssl) != tls.base)
		return SSL_CLIENT_HELLO_SUCCESS;
	pthread_mutex_lock(&tls.mu);
	cur = tls.current;
	SSL_CTX_up_ref(cur);
	pthread_mutex_unlock(&tls.mu);
	if (SSL_set_SSL_CTX(ssl, cur) != cur) {
		SSL_CTX_free(cur);
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	/* SSL_new copied base's (empty) list of CA names to ask clients for. */
	if (tls.ca && (names = SSL_dup_CA_list(SSL_CTX_get_client_CA_list(cur))))
		SSL_set_client_CA_list(ssl, names);
	SSL_CTX_free(cur); /* the connection holds its own reference now */
	return SSL_CLIENT_HELLO_SUCCESS;
}

/* For CivetWeb's dlsym() (the opening comment): the OpenSSL 1.1 name.
 * Like SSL_get1_peer_certificate, it returns a reference the caller frees
 * (CivetWeb does, with X509_free). */
#undef SSL_get_peer_certificate
X509 *SSL_get_peer_certificate(const SSL *ssl);
X509 *SSL_get_peer_certificate(const SSL *ssl)
{
	return SSL_get1_peer_certificate(ssl);
}

/* What CivetWeb will find when it dlopens "libcrypto.so" and "libssl.so":
 * the OpenSSL mltrackd is linked with, already loaded, and every function
 * it looks up (the opening comment). */
static int same_openssl(struct mt_err *err)
{
	typedef void (*fn)(void);
	static const struct {
		const char *lib, *sym;
		fn want;
	} checks[] = {
		{ "libcrypto.so", "ERR_get_error", (fn)ERR_get_error },
		{ "libssl.so", "SSL_CTX_new", (fn)SSL_CTX_new },
		{ "libssl.so", "SSL_get_peer_certificate", (fn)SSL_get_peer_certificate },
	};
	union {
		void *p;
		fn f;
	} got;

	if (!mg_check_feature(MG_FEATURES_TLS))
		return mt_err_set(err, MT_EINVAL, "this CivetWeb library was built without TLS");
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		void *h = dlopen(checks[i].lib, RTLD_LAZY);

		if (!h)
			return mt_err_set(err, MT_EINVAL, "TLS needs %s, which CivetWeb loads at run "
					  "time and which is missing (Debian: apt-get install "
					  "libssl-dev)", checks[i].lib);
		got.p = dlsym(h, checks[i].sym);
		dlclose(h);
		if (got.f != checks[i].want)
			return mt_err_set(err, MT_EINVAL, "CivetWeb would find %s in %s outside the "
					  "OpenSSL mltrackd uses (%s); was mltrackd linked with "
					  "the Makefile's SERVER_LDFLAGS?", checks[i].sym,
					  checks[i].lib, OPENSSL_VERSION_TEXT);
	}
	return 0;
}

int tls_init(const char *cert, const char *key, const char *client_ca, struct mt_err *err)
{
	SSL_CTX *base, *cur;

	if (same_openssl(err))
		return -1;
	tls.cert = cert;
	tls.key = key;
	tls.ca = client_ca;
	if (!(cur = ctx_load(err)))
		return -1;
	if (!(base = ctx_new(err))) {
		SSL_CTX_free(cur);
		return -1;
	}
	SSL_CTX_set_client_hello_cb(base, on_client_hello, NULL);
	tls.current = cur;
	tls.base = base;
	describe(tls.desc, sizeof(tls.desc), cur);
	return 0;
}

int tls_reload(struct mt_err *err)
{
	SSL_CTX *ctx, *old;

	if (!tls.base)
		return mt_err_set(err, MT_EINVAL, "TLS is off");
	if (!(ctx = ctx_load(err)))
		return -1;
	pthread_mutex_lock(&tls.mu);
	old = tls.current;
	tls.current = ctx;
	pthread_mutex_unlock(&tls.mu);
	SSL_CTX_free(old); /* freed now, or by the last connection still on it */
	describe(tls.desc, sizeof(tls.desc), ctx);
	return 0;
}

int tls_civetweb_ctx(void **ssl_ctx, void *user_data)
{
	(void)user_data;
	if (!tls.base)
		return -1;
	*ssl_ctx = tls.base;
	return 1;
}

void tls_free(void)
{
	SSL_CTX_free(tls.current);
	SSL_CTX_free(tls.base);
	tls.current = tls.base = NULL;
}

int tls_thread_take(int *fd, void **ssl)
{
	SSL *s = last_ssl;

	last_ssl = NULL;
	if (!s)
		return -1;
	*fd = SSL_get_fd(s);
	*ssl = s;
	return *fd >= 0 ? 0 : -1;
}

void tls_send(void *ssl, const void *buf, size_t len)
{
	size_t written = 0;

	ERR_clear_error();
	(void)SSL_write_ex(ssl, buf, len, &written);
	ERR_clear_error();
}
