/*
 * sql_monitor.h: the SQL of monitoring (api_monitor.c, migration 0015):
 * reference profiles of versions and their live windows.  Models are named
 * by their surrogate id (sql_registry.h).  Strings handed out are arena
 * memory; every function returns 0, or -1 with err set.
 */
#ifndef MT_SQL_MONITOR_H
#define MT_SQL_MONITOR_H

#include "server.h"

/* Store version's reference profile (JSON text). */
int sql_monitor_ref_put(struct mt_req *req, const char *id, const char *version,
			const char *profile, long long now, struct mt_err *err);
/* The reference profile's JSON text, or *out NULL when the version has none. */
int sql_monitor_ref_get(struct mt_req *req, const char *id, const char *version,
			const char **out, struct mt_err *err);
/* Lock the window's row, creating it with live_empty (JSON text) first when
 * missing; *out_live is its live profile (JSON text), *out_rows its rows. */
int sql_monitor_window_lock(struct mt_req *req, const char *id, const char *version,
			    int seconds, long long start, const char *live_empty, long long now,
			    const char **out_live, long long *out_rows, struct mt_err *err);
int sql_monitor_window_put(struct mt_req *req, const char *id, const char *version,
			   int seconds, long long start, const char *live, long long rows,
			   long long now, struct mt_err *err);
/* A window as monitor/get shows it; the strings are the result's (request
 * lifetime), NULL for SQL NULL. */
struct sql_monitor_window {
	long long start;             /* ms */
	int seconds;
	const char *live;            /* the live profile, JSON text */
	const char *closed_at;       /* when its rules were checked (ms), or NULL: open */
	const char *report;          /* that check's report, JSON text; NULL: no rules then */
	const char *alert_id;        /* the alert it fired, or NULL */
	const char *acknowledged_at; /* when that alert was acknowledged, or NULL */
};

/* The newest max windows, newest first, with their check and alert:
 * *out (arena) holds *n of them. */
int sql_monitor_windows(struct mt_req *req, const char *id, const char *version, long long max,
			struct sql_monitor_window **out, size_t *n, struct mt_err *err);

#endif
