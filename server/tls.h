/*
 * tls.h: HTTPS in mltrackd (--tls-cert, --tls-key, --tls-client-ca), with
 * the certificate, key and client CA reloaded from the same files on SIGHUP.
 *
 * CivetWeb does the TLS I/O; the SSL_CTX is ours (its external_ssl_ctx
 * callback), built here with OpenSSL, which mltrackd links.  tls.c's
 * opening comment explains how a reload reaches new connections while the
 * ones in flight keep their certificate.
 *
 * Lifetimes: tls_init() before http_start(), tls_free() after mg_stop();
 * the file names are borrowed for the process's life (struct mt_config).
 */
#ifndef MT_TLS_H
#define MT_TLS_H

#include <stddef.h>

#include "mt_error.h"

/* Load the certificate chain (PEM), its unencrypted key (PEM) and, when
 * client_ca is not NULL, the CA file client certificates must chain to
 * (then every client must present one).  Errors are MT_EINVAL with a
 * one-line message naming the file (never its contents). */
int tls_init(const char *cert, const char *key, const char *client_ca, struct mt_err *err);

/* 1 once tls_init() succeeded: the server speaks HTTPS only. */
int tls_on(void);

/* SIGHUP, from the main thread: load the same files into a new SSL_CTX.
 * On success new handshakes use it (connections in flight keep theirs); on
 * failure nothing changes and err says why. */
int tls_reload(struct mt_err *err);

/* What is being served, for the log: "subject CN=..., serial 1A2B,
 * expires Mar  1 12:00:00 2027 GMT" into buf.  Returns buf. */
const char *tls_describe(char *buf, size_t size);

/* CivetWeb's external_ssl_ctx callback: our SSL_CTX, which CivetWeb must
 * neither change nor free (it returns 1 at start and at mg_stop). */
int tls_civetweb_ctx(void **ssl_ctx, void *user_data);

/* After mg_stop (no connection left): free the SSL_CTXs. */
void tls_free(void);

/* For conns.c: the connection whose handshake this worker thread completed
 * last.  CivetWeb runs a connection's handshake and then its
 * init_connection callback on the same thread, so there the values name
 * the connection being opened.  *fd gets its socket and *ssl its SSL
 * (borrowed: valid until that callback returns).  0, or -1 when no
 * handshake happened on this thread since the last call; the call clears
 * them. */
int tls_thread_take(int *fd, void **ssl);

/* Write len bytes of buf on ssl (from tls_thread_take), best effort. */
void tls_send(void *ssl, const void *buf, size_t len);

#endif
