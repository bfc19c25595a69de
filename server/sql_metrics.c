/* sql_metrics.c: all SQL that reads metric history. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_limits.h"
#include "sql_metrics.h"
#include "sql_runs.h"

#define STR(x) #x
#define XSTR(x) STR(x)

static const struct db_stmt stmts[] = {
	{ "met_history",
	  "SELECT key, value, timestamp, step FROM metrics WHERE run_id = $1 AND key = $2 "
	  "ORDER BY step, timestamp, value" },
	/* Sample about $5 of the distinct steps evenly, add each run's first
	 * and last step, and return every point at those steps (at most
	 * 25,000 per run). */
	{ "met_bulk_interval",
	  "WITH p AS (SELECT run_id, step, timestamp, value FROM metrics "
	  "           WHERE run_id = ANY($1::text[]) AND key = $2 "
	  "           AND ($3::bigint IS NULL OR step BETWEEN $3::bigint AND $4::bigint)), "
	  "st AS (SELECT step, row_number() OVER (ORDER BY step) - 1 AS i, count(*) OVER () AS n "
	  "       FROM (SELECT DISTINCT step FROM p) d), "
	  "pick AS (SELECT step FROM st WHERE n <= $5::bigint "
	  "         OR (i * $5::bigint) / n <> ((i + 1) * $5::bigint) / n "
	  "         UNION SELECT min(step) FROM p GROUP BY run_id "
	  "         UNION SELECT max(step) FROM p GROUP BY run_id), "
	  "sel AS (SELECT p.*, row_number() OVER (PARTITION BY run_id ORDER BY step, timestamp, value) AS rn "
	  "        FROM p WHERE step IN (SELECT step FROM pick)) "
	  "SELECT run_id, value, timestamp, step FROM sel WHERE rn <= " XSTR(MT_BULK_MAX_POINTS_PER_RUN) " "
	  "ORDER BY array_position($1::text[], run_id), step, timestamp, value" },
	{ "met_version", "SELECT version FROM latest_metrics WHERE run_id = $1 AND key = $2" },
	{ "met_sample_get",
	  "SELECT $2::text, u.v, u.t, u.s FROM metric_samples m, "
	  "unnest(m.steps, m.timestamps, m.vals) WITH ORDINALITY AS u(s, t, v, n) "
	  "WHERE m.run_id = $1 AND m.key = $2 AND m.max_points = $3 AND m.version = $4 ORDER BY u.n" },
	{ "met_sample_put",
	  "INSERT INTO metric_samples (run_id, key, max_points, version, steps, timestamps, vals) "
	  "VALUES ($1, $2, $3, $4, $5::bigint[], $6::bigint[], $7::float8[]) "
	  "ON CONFLICT (run_id, key, max_points) DO UPDATE SET version = excluded.version, "
	  "steps = excluded.steps, timestamps = excluded.timestamps, vals = excluded.vals" },
	{ "met_count",
	  "SELECT count(*), min(step), max(step) FROM metrics WHERE run_id = $1 AND key = $2" },
	/* Buckets of equal step width; from each, the first and last point by
	 * (step, timestamp) and the points with the smallest and largest value
	 * (the earliest of equals).  Steps and timestamps stay integers: any
	 * int64 step is valid. */
	{ "met_sampled",
	  "WITH b AS MATERIALIZED ("
	  "  SELECT width_bucket(step::numeric, $3::numeric, $4::numeric + 1, $5::int) AS bk, "
	  "         step, timestamp, value FROM metrics WHERE run_id = $1 AND key = $2), "
	  "a AS (SELECT bk, min(ARRAY[step, timestamp]) AS first, max(ARRAY[step, timestamp]) AS last, "
	  "             min(value) AS vmin, max(value) AS vmax FROM b GROUP BY bk), "
	  "k AS (SELECT first[1] AS s, first[2] AS t FROM a "
	  "      UNION SELECT last[1], last[2] FROM a "
	  "      UNION (SELECT DISTINCT ON (a.bk) b.step, b.timestamp FROM a "
	  "             JOIN b ON b.bk = a.bk AND b.value = a.vmin ORDER BY a.bk, b.step, b.timestamp) "
	  "      UNION (SELECT DISTINCT ON (a.bk) b.step, b.timestamp FROM a "
	  "             JOIN b ON b.bk = a.bk AND b.value = a.vmax ORDER BY a.bk, b.step, b.timestamp)) "
	  "SELECT DISTINCT ON (m.step, m.timestamp) m.key, m.value, m.timestamp, m.step "
	  "FROM k JOIN metrics m ON m.run_id = $1 AND m.key = $2 AND m.step = k.s AND m.timestamp = k.t "
	  "ORDER BY m.step, m.timestamp, m.value" },
};

const struct db_stmt_table sql_metrics_table = { stmts, sizeof(stmts) / sizeof(stmts[0]) };

static void add_points(PGresult *r, json_t *list)
{
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(list, sql_metric_json(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
							    PQgetvalue(r, i, 2), PQgetvalue(r, i, 3)));
}

int sql_metrics_history(struct mt_req *req, const char *run_id, const char *key,
			json_t *list, struct mt_err *err)
{
	const char *v[2] = { run_id, key };
	PGresult *r = db_exec(req, "met_history", 2, v, err);

	if (!r)
		return -1;
	add_points(r, list);
	return 0;
}

int sql_metrics_bulk_interval(struct mt_req *req, const char **run_ids, size_t n,
			      const char *key, const char *start, const char *end,
			      long long max_results, json_t *list, struct mt_err *err)
{
	const char *v[5] = { db_array_text(req->arena, run_ids, n), key, start, end,
			     mt_arena_printf(req->arena, "%lld", max_results) };
	PGresult *r = db_exec(req, "met_bulk_interval", 5, v, err);

	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *m = sql_metric_json(key, PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
					    PQgetvalue(r, i, 3));

		json_object_set_new(m, "run_id", json_string(PQgetvalue(r, i, 0)));
		json_array_append_new(list, m);
	}
	return 0;
}

/* Keep a computed sample for the series' current version.  A failure here
 * (the run deleted meanwhile, say) only costs the next read a recompute. */
static void sample_put(struct mt_req *req, const char *run_id, const char *key,
		       const char *max, const char *version, PGresult *r)
{
	int n = PQntuples(r);
	const char **steps = mt_arena_alloc(req->arena, sizeof(char *) * ((size_t)n + 1));
	const char **ts = mt_arena_alloc(req->arena, sizeof(char *) * ((size_t)n + 1));
	const char **vals = mt_arena_alloc(req->arena, sizeof(char *) * ((size_t)n + 1));
	const char *v[7];
	struct mt_err err = MT_ERR_INIT;

	for (int i = 0; i < n; i++) {
		vals[i] = PQgetvalue(r, i, 1);
		ts[i] = PQgetvalue(r, i, 2);
		steps[i] = PQgetvalue(r, i, 3);
	}
	v[0] = run_id;
	v[1] = key;
	v[2] = max;
	v[3] = version;
	v[4] = db_array_text(req->arena, steps, (size_t)n);
	v[5] = db_array_text(req->arena, ts, (size_t)n);
	v[6] = db_array_text(req->arena, vals, (size_t)n);
	if (!db_exec(req, "met_sample_put", 7, v, &err))
		fprintf(stderr, "mltrackd: sampled-history cache not stored: %s\n", err.log_detail);
}

/*
 * A sample is computed once per version of the series: latest_metrics.version
 * changes with every write to (run, key), and metric_samples keeps the last
 * result per max_points, served only while its version is current.
 */
int sql_metrics_sampled(struct mt_req *req, const char *run_id, const char *key,
			long long max_points, json_t *list, struct mt_err *err)
{
	const char *v[5] = { run_id, key };
	const char *max = mt_arena_printf(req->arena, "%lld", max_points);
	const char *version;
	PGresult *r = db_exec(req, "met_version", 2, v, err);
	long long n;

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return 0; /* the run has no such metric */
	version = PQgetvalue(r, 0, 0);
	v[2] = max;
	v[3] = version;
	if (!(r = db_exec(req, "met_sample_get", 4, v, err)))
		return -1;
	if (PQntuples(r) > 0) {
		add_points(r, list);
		return 0;
	}
	if (!(r = db_exec(req, "met_count", 2, v, err)))
		return -1;
	n = atoll(PQgetvalue(r, 0, 0));
	if (n == 0)
		return 0;
	if (n <= max_points) {
		if (!(r = db_exec(req, "met_history", 2, v, err)))
			return -1;
	} else {
		v[2] = PQgetvalue(r, 0, 1);
		v[3] = PQgetvalue(r, 0, 2);
		v[4] = mt_arena_printf(req->arena, "%lld", max_points / 4 > 0 ? max_points / 4 : 1);
		if (!(r = db_exec(req, "met_sampled", 5, v, err)))
			return -1;
	}
	add_points(r, list);
	sample_put(req, run_id, key, max, version, r);
	return 0;
}
