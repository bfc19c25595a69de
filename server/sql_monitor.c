/* sql_monitor.c: the SQL of monitoring (see sql_monitor.h). */
#include <stdio.h>
#include <stdlib.h>

#include "sql_monitor.h"

static const struct db_stmt stmts[] = {
	{ "monitor_ref_put",
	  "INSERT INTO monitor_references (model_id, version, profile, created_at) "
	  "VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT (model_id, version) DO NOTHING" },
	{ "monitor_ref_get",
	  "SELECT profile::text FROM monitor_references WHERE model_id = $1 AND version = $2" },
	{ "monitor_window_create",
	  "INSERT INTO monitor_windows (model_id, version, window_seconds, window_start, row_count, "
	  "live, updated_at) VALUES ($1, $2, $3, $4, 0, $5::jsonb, $6) "
	  "ON CONFLICT (model_id, version, window_seconds, window_start) DO NOTHING" },
	{ "monitor_window_lock",
	  "SELECT live::text, row_count FROM monitor_windows WHERE model_id = $1 AND version = $2 "
	  "AND window_seconds = $3 AND window_start = $4 FOR UPDATE" },
	{ "monitor_window_put",
	  "UPDATE monitor_windows SET live = $5::jsonb, row_count = $6, updated_at = $7 "
	  "WHERE model_id = $1 AND version = $2 AND window_seconds = $3 AND window_start = $4" },
	{ "monitor_windows",
	  "SELECT w.window_start, w.window_seconds, w.live::text, w.closed_at, "
	  "w.alert_report::text, a.id, a.acknowledged_at FROM monitor_windows w "
	  "LEFT JOIN monitor_alerts a ON a.model_id = w.model_id AND a.version = w.version "
	  "AND a.window_seconds = w.window_seconds AND a.window_start = w.window_start "
	  "WHERE w.model_id = $1 AND w.version = $2 ORDER BY w.window_start DESC, "
	  "w.window_seconds LIMIT $3" },
};

const struct db_stmt_table sql_monitor_table = { stmts, sizeof(stmts) / sizeof(stmts[0]), 0 };

static const char *i64s(struct mt_req *req, long long v)
{
	return mt_arena_printf(req->arena, "%lld", v);
}

int sql_monitor_ref_put(struct mt_req *req, const char *id, const char *version,
			const char *profile, long long now, struct mt_err *err)
{
	const char *v[4] = { id, version, profile, i64s(req, now) };

	return db_exec(req, "monitor_ref_put", 4, v, err) ? 0 : -1;
}

int sql_monitor_ref_get(struct mt_req *req, const char *id, const char *version,
			const char **out, struct mt_err *err)
{
	const char *v[2] = { id, version };
	PGresult *r = db_exec(req, "monitor_ref_get", 2, v, err);

	if (!r)
		return -1;
	*out = PQntuples(r) ? PQgetvalue(r, 0, 0) : NULL;
	return 0;
}

int sql_monitor_window_lock(struct mt_req *req, const char *id, const char *version,
			    int seconds, long long start, const char *live_empty, long long now,
			    const char **out_live, long long *out_rows, struct mt_err *err)
{
	const char *v[6] = { id, version, i64s(req, seconds), i64s(req, start), live_empty,
			     i64s(req, now) };
	PGresult *r;

	if (!db_exec(req, "monitor_window_create", 6, v, err) ||
	    !(r = db_exec(req, "monitor_window_lock", 4, v, err)))
		return -1;
	if (PQntuples(r) != 1)
		return mt_err_set(err, MT_EINTERNAL, "a monitoring window vanished while locked");
	*out_live = PQgetvalue(r, 0, 0);
	*out_rows = atoll(PQgetvalue(r, 0, 1));
	return 0;
}

int sql_monitor_window_put(struct mt_req *req, const char *id, const char *version,
			   int seconds, long long start, const char *live, long long rows,
			   long long now, struct mt_err *err)
{
	const char *v[7] = { id, version, i64s(req, seconds), i64s(req, start), live,
			     i64s(req, rows), i64s(req, now) };

	return db_exec(req, "monitor_window_put", 7, v, err) ? 0 : -1;
}

int sql_monitor_windows(struct mt_req *req, const char *id, const char *version, long long max,
			struct sql_monitor_window **out, size_t *n, struct mt_err *err)
{
	const char *v[3] = { id, version, i64s(req, max) };
	PGresult *r = db_exec(req, "monitor_windows", 3, v, err);
	size_t k;

	if (!r)
		return -1;
	k = (size_t)PQntuples(r);
	*out = mt_arena_alloc(req->arena, (k + 1) * sizeof(**out));
	for (size_t i = 0; i < k; i++) {
		struct sql_monitor_window *w = &(*out)[i];

		w->start = atoll(PQgetvalue(r, (int)i, 0));
		w->seconds = atoi(PQgetvalue(r, (int)i, 1));
		w->live = PQgetvalue(r, (int)i, 2);
		w->closed_at = db_value_or_null(r, (int)i, 3);
		w->report = db_value_or_null(r, (int)i, 4);
		w->alert_id = db_value_or_null(r, (int)i, 5);
		w->acknowledged_at = db_value_or_null(r, (int)i, 6);
	}
	*n = k;
	return 0;
}
