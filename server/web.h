/*
 * web.h: the dashboard's static files (web.c).  The dispatcher hands every
 * request that is not an API route to web_serve().  Files are served from an
 * in-memory copy of mt_cfg.web_root taken at the first call; the page paths
 * of DESIGN §9 answer index.html.
 */
#ifndef MT_WEB_H
#define MT_WEB_H

#include <civetweb.h>

/* Answer a GET or HEAD for path (decoded, dot segments resolved) and
 * return the HTTP status sent. */
int web_serve(struct mg_connection *conn, const struct mg_request_info *ri, const char *path);
/* 1 when path is one of the dashboard's page paths (DESIGN §9). */
int web_is_page(const char *path);
/* 1 when an If-None-Match header value names etag (or is "*"). */
int web_etag_matches(const char *if_none_match, const char *etag);

struct mt_req;
/* GET /api/2.0/mltrack/experiments/summary?experiment_ids=...: per
 * experiment, its active runs, how many are RUNNING and its last activity. */
int api_web_experiments_summary(struct mt_req *req);

#endif
