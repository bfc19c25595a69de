/*
 * guard.h: the checks every request passes before it is routed (guard.c),
 * and the headers every answer carries.
 *
 * guard_request() runs once per request from dispatch(): the framing rule
 * (header count, Content-Length / Transfer-Encoding), the path decoded with
 * %00 refused, the Host the request names (DNS rebinding), and the origin
 * of state-changing requests (cross-site request forgery); it answers CORS
 * preflights from the origins --cors-origin allows.  The rules themselves
 * are lib/mt_http's; this file applies them to CivetWeb's request.
 *
 * guard_headers() adds X-Content-Type-Options: nosniff, X-Frame-Options:
 * DENY, Strict-Transport-Security when the server speaks HTTPS itself
 * (--tls-cert) and, for an origin --cors-origin allows,
 * Access-Control-Allow-Origin (with Vary: Origin) to an answer whose head
 * is being built
 * (mg_response_header_start called, mg_response_header_send not yet).
 * Every answer mltrackd builds calls it: JSON and errors (http.c),
 * CivetWeb's own errors (http_error), artifacts, the dashboard.
 */
#ifndef MT_GUARD_H
#define MT_GUARD_H

#include <stddef.h>

#include "server.h"

/* Configuration, before http_start(): a value of --allowed-host
 * (MLTRACK_ALLOWED_HOSTS) or --cors-origin (MLTRACK_CORS_ORIGINS), by flag
 * name; then guard_init() adds the defaults for the address bound to, and
 * says whether the server speaks HTTPS itself (tls: its own origin is
 * https://Host, and every answer carries HSTS).  Errors are usage errors
 * (MT_EINVAL). */
int guard_config(const char *flag, const char *value, struct mt_err *err);
int guard_init(const char *bind_host, int tls, struct mt_err *err);

/* HSTS under --tls-cert: a year, as browsers' preload lists expect; no
 * includeSubDomains (other services on the same domain are not ours). */
#define GUARD_HSTS "max-age=31536000"

/* 0: go on, with *path (decoded, dot segments resolved; "/ajax-api/" not
 * yet mapped) and *rawpath (decoded as sent, or NULL) in the request's
 * arena.  1: answered already (a preflight; req->status set).  -1: refused
 * with req->err (the connection is closed after the answer when the
 * framing was at fault). */
int guard_request(struct mt_req *req, const char **path, const char **rawpath);

void guard_headers(struct mg_connection *conn);
/* The same headers as "Name: value\r\n" lines into buf, for a head written
 * by hand (after a 100 Continue). */
void guard_header_lines(struct mg_connection *conn, char *buf, size_t size);

#endif
