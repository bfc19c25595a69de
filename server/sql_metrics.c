/* sql_metrics.c: all SQL that reads metric history. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_limits.h"
#include "mt_rollup.h"
#include "mt_sample.h"
#include "sql_metrics.h"
#include "sql_runs.h"

#define STR(x) #x
#define XSTR(x) STR(x)

static const struct db_stmt stmts[] = {
	/* The series' version (metric_samples) and dirty step range
	 * (metric_rollup): NULL when its rollup is current; and its run's
	 * experiment, which the reads of metrics below name ($n). */
	{ "met_state",
	  "SELECT version, dirty_lo, dirty_hi, experiment_id FROM latest_metrics "
	  "WHERE run_id = $1 AND key = $2" },
	{ "met_sample_get",
	  "SELECT $2::text, u.v, u.t, u.s, u.dn, u.dd, u.mi FROM metric_samples m, "
	  "unnest(m.steps, m.timestamps, m.vals, m.dataset_names, m.dataset_digests, m.model_ids) "
	  "WITH ORDINALITY AS u(s, t, v, dn, dd, mi, n) "
	  "WHERE m.run_id = $1 AND m.key = $2 AND m.max_points = $3 AND m.version = $4 "
	  "AND u.s IS NOT NULL ORDER BY u.n" },
	{ "met_sample_put",
	  "INSERT INTO metric_samples (run_id, key, max_points, version, steps, timestamps, vals, "
	  "dataset_names, dataset_digests, model_ids) "
	  "VALUES ($1, $2, $3, $4, $5::bigint[], $6::bigint[], $7::float8[], $8::text[], $9::text[], "
	  "$10::text[]) "
	  "ON CONFLICT (run_id, key, max_points) DO UPDATE SET version = excluded.version, "
	  "steps = excluded.steps, timestamps = excluded.timestamps, vals = excluded.vals, "
	  "dataset_names = excluded.dataset_names, dataset_digests = excluded.dataset_digests, "
	  "model_ids = excluded.model_ids" },
	/* MLflow 3's fields of sampled points, looked up (one primary-key
	 * probe each) only in series that hold such points. */
	{ "met_has_extras", "SELECT 1 FROM metric_extra_keys WHERE run_id = $1 AND key = $2" },
	/* ---- metric_rollup (lib/mt_rollup.h, migration 0012) ---- */
	/* One rebuilder per series at a time; writers never take it. */
	{ "met_rollup_lock", "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))" },
	/* Blocks by ranges of (level, first blk, last blk).  Each range is
	 * its own index range scan: the LATERAL subquery with OFFSET 0 is not
	 * flattened into a join, which the planner, estimating each range at
	 * a fraction of the series, turned into one pass over every row of the
	 * series tested against every range (seconds on a 1M-point series). */
	{ "met_rollup_rows",
	  "SELECT m.lvl, m.blk, m.n, m.f_step, m.f_ts, m.f_val, m.l_step, m.l_ts, m.l_val, "
	  "m.lo_step, m.lo_ts, m.lo_val, m.hi_step, m.hi_ts, m.hi_val, m.hi_max "
	  "FROM unnest($3::int[], $4::bigint[], $5::bigint[]) AS r(l, a, b) "
	  "CROSS JOIN LATERAL (SELECT * FROM metric_rollup x WHERE x.run_id = $1 AND x.key = $2 "
	  "AND x.lvl = r.l AND x.blk BETWEEN r.a AND r.b OFFSET 0) m" },
	{ "met_rollup_delete",
	  "DELETE FROM metric_rollup WHERE ctid = ANY (ARRAY("
	  "SELECT m.ctid FROM unnest($3::int[], $4::bigint[], $5::bigint[]) AS r(l, a, b) "
	  "CROSS JOIN LATERAL (SELECT ctid FROM metric_rollup x WHERE x.run_id = $1 AND x.key = $2 "
	  "AND x.lvl = r.l AND x.blk BETWEEN r.a AND r.b OFFSET 0) m))" },
	/* Clean again, unless a writer committed since the rebuild read the
	 * version ($3): then its steps stay dirty for the next read. */
	{ "met_rollup_clean",
	  "UPDATE latest_metrics SET dirty_lo = NULL, dirty_hi = NULL "
	  "WHERE run_id = $1 AND key = $2 AND version = $3::bigint" },
	/* The ranges MET_ROLLUP_BLOCKS_COPY and MET_ROLLUP_RAW_COPY read (this
	 * transaction; the run and key are met_range's). */
	{ "met_read_ranges",
	  "SELECT set_config('mltrack.rl', $1::int[]::text, true), "
	  "set_config('mltrack.ra', $2::bigint[]::text, true), "
	  "set_config('mltrack.rb', $3::bigint[]::text, true), "
	  "set_config('mltrack.sa', $4::bigint[]::text, true), "
	  "set_config('mltrack.sb', $5::bigint[]::text, true)" },
};

const struct db_stmt_table sql_metrics_table = { stmts, sizeof(stmts) / sizeof(stmts[0]), 0 };

/* The reads of metrics (partitioned by experiment, migration 0013): each
 * names the run's experiment (sql_runs_experiment, or latest_metrics'
 * column) and is planned with its values every time (DB_TABLE_CUSTOM_PLAN),
 * so that it is pruned to that experiment's partition when planned. */
static const struct db_stmt reads[] = {
	/* A page of the history in primary-key order: the first, or the one
	 * after a cursor (a row comparison the primary key's index answers
	 * with one descent, however deep the page).  Every read of metrics
	 * names the run's experiment (sql_runs_experiment) and is planned with
	 * its values (DB_STMT_CUSTOM_PLAN), so that it is pruned to that
	 * experiment's partition when planned (migration 0013). */
	{ "met_history_first",
	  "SELECT key, value, timestamp, step, dataset_name, dataset_digest, model_id "
	  "FROM metrics WHERE experiment_id = $4::bigint AND run_id = $1 AND key = $2 "
	  "ORDER BY step, timestamp, value LIMIT $3" },
	{ "met_history_after",
	  "SELECT key, value, timestamp, step, dataset_name, dataset_digest, model_id "
	  "FROM metrics WHERE experiment_id = $7::bigint AND run_id = $1 AND key = $2 "
	  "AND (step, timestamp, value) > ($4::bigint, $5::bigint, $6::float8) "
	  "ORDER BY step, timestamp, value LIMIT $3" },
	/* Sample about $5 of the distinct steps evenly, add each run's first
	 * and last step, and return every point at those steps (at most
	 * 25,000 per run); $6 the runs' experiments. */
	{ "met_bulk_interval",
	  "WITH p AS (SELECT run_id, step, timestamp, value, dataset_name, dataset_digest, model_id "
	  "           FROM metrics "
	  "           WHERE experiment_id = ANY($6::bigint[]) AND run_id = ANY($1::text[]) "
	  "           AND key = $2 "
	  "           AND ($3::bigint IS NULL OR step BETWEEN $3::bigint AND $4::bigint)), "
	  "st AS (SELECT step, row_number() OVER (ORDER BY step) - 1 AS i, count(*) OVER () AS n "
	  "       FROM (SELECT DISTINCT step FROM p) d), "
	  "pick AS (SELECT step FROM st WHERE n <= $5::bigint "
	  "         OR (i * $5::bigint) / n <> ((i + 1) * $5::bigint) / n "
	  "         UNION SELECT min(step) FROM p GROUP BY run_id "
	  "         UNION SELECT max(step) FROM p GROUP BY run_id), "
	  "sel AS (SELECT p.*, row_number() OVER (PARTITION BY run_id ORDER BY step, timestamp, value) AS rn "
	  "        FROM p WHERE step IN (SELECT step FROM pick)) "
	  "SELECT run_id, value, timestamp, step, dataset_name, dataset_digest, model_id "
	  "FROM sel WHERE rn <= " XSTR(MT_BULK_MAX_POINTS_PER_RUN) " "
	  "ORDER BY array_position($1::text[], run_id), step, timestamp, value" },
	/* MLflow's get-history-bulk (the UI's): one limit over every run; $4
	 * the runs' experiments. */
	{ "met_history_bulk",
	  "SELECT run_id, value, timestamp, step, dataset_name, dataset_digest, model_id "
	  "FROM metrics "
	  "WHERE experiment_id = ANY($4::bigint[]) AND run_id = ANY($1::text[]) AND key = $2 "
	  "ORDER BY run_id, timestamp, step, value LIMIT $3" },
	{ "met_extras_of",
	  "SELECT u.n, m.dataset_name, m.dataset_digest, m.model_id "
	  "FROM unnest($3::bigint[], $4::bigint[], $5::float8[]) WITH ORDINALITY AS u(s, t, v, n) "
	  "JOIN metrics m ON m.experiment_id = $6::bigint AND m.run_id = $1 AND m.key = $2 "
	  "AND m.step = u.s AND m.timestamp = u.t "
	  "AND m.value = u.v "
	  "WHERE m.model_id IS NOT NULL OR m.dataset_name IS NOT NULL OR m.dataset_digest IS NOT NULL" },
	/* The step range of the series (two index probes), and the series'
	 * identity for met_sampled_copy, which cannot take parameters: set
	 * for this transaction only. */
	{ "met_range",
	  "SELECT set_config('mltrack.sample_run', $1, true), "
	  "set_config('mltrack.sample_key', $2, true), r.lo, r.hi, "
	  "l.dirty_lo, l.dirty_hi, l.run_id IS NULL "
	  "FROM (SELECT min(step) AS lo, max(step) AS hi FROM metrics "
	  "      WHERE experiment_id = $3::bigint AND run_id = $1 AND key = $2) r "
	  "LEFT JOIN latest_metrics l ON l.run_id = $1 AND l.key = $2" },
	/* A rebuild's points, a page at a time in series order: the first,
	 * and the one after a point, up to step $4. */
	{ "met_rollup_points_first",
	  "SELECT step, timestamp, value FROM metrics "
	  "WHERE experiment_id = $6::bigint AND run_id = $1 AND key = $2 "
	  "AND step BETWEEN $3::bigint AND $4::bigint ORDER BY step, timestamp, value LIMIT $5" },
	{ "met_rollup_points_after",
	  "SELECT step, timestamp, value FROM metrics "
	  "WHERE experiment_id = $9::bigint AND run_id = $1 AND key = $2 "
	  "AND (step, timestamp, value) > ($5::bigint, $6::bigint, $7::float8) "
	  "AND step BETWEEN $3::bigint AND $4::bigint "
	  "ORDER BY step, timestamp, value LIMIT $8" },
};

const struct db_stmt_table sql_metrics_reads_table = { reads, sizeof(reads) / sizeof(reads[0]),
						       DB_TABLE_CUSTOM_PLAN };


/* Rows of (key, value, timestamp, step, dataset_name, dataset_digest,
 * model_id) as Metric objects. */
static void add_points(PGresult *r, json_t *list)
{
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *m = sql_metric_json(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
					    PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));

		sql_metric_extras(m, db_value_or_null(r, i, 4), db_value_or_null(r, i, 5), db_value_or_null(r, i, 6));
		json_array_append_new(list, m);
	}
}

/* Rows of (run_id, value, timestamp, step, dataset_name, dataset_digest,
 * model_id) of metric key as MetricWithRunId objects. */
static void add_run_points(PGresult *r, const char *key, json_t *list)
{
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *m = sql_metric_json(key, PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
					    PQgetvalue(r, i, 3));

		sql_metric_extras(m, db_value_or_null(r, i, 4), db_value_or_null(r, i, 5), db_value_or_null(r, i, 6));
		json_object_set_new(m, "run_id", json_string(PQgetvalue(r, i, 0)));
		json_array_append_new(list, m);
	}
}

/* A JSON string (quotes and escapes) into the arena. */
static const char *json_quoted(struct mt_arena *a, const char *s)
{
	json_t *j = json_string(s);
	char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	const char *out = t ? mt_arena_strdup(a, t) : "\"\"";

	free(t);
	json_decref(j);
	return out;
}

static const char *f64s(struct mt_arena *a, double x)
{
	if (isnan(x))
		return "NaN";
	if (isinf(x))
		return x > 0 ? "Infinity" : "-Infinity";
	return mt_arena_printf(a, "%.17g", x);
}

/* A double as every other answer carries it (mt_json_fmt_double, what
 * MLflow writes: 0.99, 1e-07); NaN and the infinities as MLflow's strings. */
static size_t put_double(char *out, double x)
{
	char num[MT_JSON_DOUBLE_MAX];
	size_t n = mt_json_fmt_double(num, x);

	if (!isfinite(x))
		return (size_t)sprintf(out, "\"%s\"", num);
	memcpy(out, num, n + 1);
	return n;
}

/* The same from PostgreSQL's text of the value: its digits moved, not
 * converted (most of the time a 25,000-point page took went to
 * converting each value to a double and searching its shortest digits). */
size_t sql_metrics_put_value(char *out, const char *text)
{
	char num[MT_JSON_DOUBLE_MAX];
	size_t n = mt_json_fmt_pg_float8(num, text);

	if (n == 0)
		return put_double(out, strtod(text, NULL));
	if (!(text[0] >= '0' && text[0] <= '9') && !(text[0] == '-' && text[1] != 'I'))
		return (size_t)sprintf(out, "\"%s\"", num); /* NaN, Infinity, -Infinity */
	memcpy(out, num, n + 1);
	return n;
}

/* name then the n bytes of text at out; their length. */
static size_t append(char *out, const char *name, const char *text, int n)
{
	size_t l = strlen(name);

	memcpy(out, name, l);
	memcpy(out + l, text, (size_t)n);
	return l + (size_t)n;
}

/* A history page is read by the primary key's index, in its order, from
 * the cursor on, and stops at the page's end: whatever the statistics say.
 * Once ANALYZE had seen a big table, PostgreSQL estimated a 100,000-point
 * series at under 2,000 rows (run and key taken as independent) and read
 * every point from the cursor on with a bitmap scan, then sorted them on
 * disk: 38 ms a page instead of 8 (docs/PERFORMANCE.md). */
#define HISTORY_SETTINGS \
	"SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; " \
	"SET LOCAL enable_sort = off; SET LOCAL jit = off"

static PGresult *history_page(struct mt_req *req, int after, const char *const *v,
			      struct mt_err *err)
{
	PGresult *r;

	if (db_settings_begin(req, HISTORY_SETTINGS, err))
		return NULL;
	r = db_exec(req, after ? "met_history_after" : "met_history_first", after ? 7 : 4, v, err);
	return db_settings_end(req, r != NULL, err) ? NULL : r;
}

int sql_metrics_history(struct mt_req *req, const char *run_id, const char *key,
			long long limit, const struct mt_history_cursor *after,
			const char **json, int *points, struct mt_history_cursor *next,
			struct mt_err *err)
{
	const char *v[7] = { run_id, key, mt_arena_printf(req->arena, "%lld", limit + 1) };
	const char *exp;
	json_t *kj;
	char *kq;
	size_t klen, cap, len = 0, prelen;
	char *out;
	const char *pre;
	PGresult *r;
	int n, more;

	if (sql_runs_experiment(req, run_id, &exp, err))
		return -1;
	kj = json_string(key);
	kq = kj ? json_dumps(kj, JSON_ENCODE_ANY) : NULL;
	json_decref(kj);
	if (!kq)
		return mt_err_set(err, MT_EINTERNAL, "out of memory");
	if (after) {
		v[3] = mt_arena_printf(req->arena, "%lld", after->step);
		v[4] = mt_arena_printf(req->arena, "%lld", after->timestamp);
		v[5] = f64s(req->arena, after->value);
	}
	v[after ? 6 : 3] = exp;
	r = history_page(req, after != NULL, v, err);
	if (!r) {
		free(kq);
		return -1;
	}
	n = PQntuples(r);
	more = n > limit;
	if (more)
		n = (int)limit;
	*points = n;
	*json = "{}";
	if (n == 0) {
		free(kq);
		return 0;
	}
	/* Each point: {"key":K,"value":V,"timestamp":T,"step":S}, V at most
	 * 25 bytes, T and S 20 each, then MLflow 3's fields when set (JSON
	 * strings of at most 6 bytes per byte, and their names); then the
	 * token and the closing. */
	klen = strlen(kq);
	cap = (size_t)n * (klen + 48 + 25 + 20 + 20) + 64 + 256;
	for (int i = 0; i < n; i++)
		for (int c = 4; c <= 6; c++)
			if (!PQgetisnull(r, i, c))
				cap += 6 * (size_t)PQgetlength(r, i, c) + 24;
	out = mt_arena_alloc(req->arena, cap);
	pre = mt_arena_printf(req->arena, ",{\"key\":%s,\"value\":", kq);
	prelen = strlen(pre);
	len += (size_t)sprintf(out, "{\"metrics\":[");
	for (int i = 0; i < n; i++) {
		static const char *const extra[3] = { "dataset_name", "dataset_digest", "model_id" };

		/* Appended, not printed: the integers are PostgreSQL's text
		 * of an int8, as %lld would write them. */
		memcpy(out + len, pre + !i, prelen - !i);
		len += prelen - !i;
		len += sql_metrics_put_value(out + len, PQgetvalue(r, i, 1));
		len += append(out + len, ",\"timestamp\":", PQgetvalue(r, i, 2), PQgetlength(r, i, 2));
		len += append(out + len, ",\"step\":", PQgetvalue(r, i, 3), PQgetlength(r, i, 3));
		for (int c = 4; c <= 6; c++)
			if (!PQgetisnull(r, i, c) && *PQgetvalue(r, i, c))
				len += (size_t)sprintf(out + len, ",\"%s\":%s", extra[c - 4],
						       json_quoted(req->arena, PQgetvalue(r, i, c)));
		out[len++] = '}';
	}
	free(kq);
	out[len++] = ']';
	if (more) {
		next->value = strtod(PQgetvalue(r, n - 1, 1), NULL);
		next->timestamp = atoll(PQgetvalue(r, n - 1, 2));
		next->step = atoll(PQgetvalue(r, n - 1, 3));
		len += (size_t)sprintf(out + len, ",\"next_page_token\":\"%s\"",
				       mt_history_token_encode(req->arena, next));
	}
	out[len++] = '}';
	out[len] = '\0';
	*json = out;
	return 0;
}

int sql_metrics_bulk_interval(struct mt_req *req, const char **run_ids, size_t n,
			      const char *key, const char *start, const char *end,
			      long long max_results, json_t *list, struct mt_err *err)
{
	const char *v[6] = { db_array_text(req->arena, run_ids, n), key, start, end,
			     mt_arena_printf(req->arena, "%lld", max_results) };
	PGresult *r;

	if (sql_runs_experiments(req, run_ids, n, &v[5], err) ||
	    !(r = db_exec(req, "met_bulk_interval", 6, v, err)))
		return -1;
	add_run_points(r, key, list);
	return 0;
}

int sql_metrics_history_bulk(struct mt_req *req, const char **run_ids, size_t n,
			     const char *key, long long max_results, json_t *list,
			     struct mt_err *err)
{
	const char *v[4] = { db_array_text(req->arena, run_ids, n), key,
			     mt_arena_printf(req->arena, "%lld", max_results) };
	PGresult *r;

	if (sql_runs_experiments(req, run_ids, n, &v[3], err) ||
	    !(r = db_exec(req, "met_history_bulk", 4, v, err)))
		return -1;
	add_run_points(r, key, list);
	return 0;
}

/* The whole series in (step, timestamp, value) order, straight from the
 * primary key, as text COPY (binary is slower to produce in PostgreSQL 15);
 * the run and key are those met_range set.  jit is off for it: compiling
 * costs more than it saves on this plan.  The experiment (%lld) is written
 * into the text, not read from a setting like the run: a constant prunes
 * metrics to one partition when the COPY's query is planned, a stable
 * function only when it starts, after every partition was planned. */
#define MET_SAMPLED_COPY \
	"COPY (SELECT step, timestamp, value FROM metrics " \
	"WHERE experiment_id = %lld AND run_id = current_setting('mltrack.sample_run') " \
	"AND key = current_setting('mltrack.sample_key') " \
	"ORDER BY step, timestamp, value) TO STDOUT"

/* A read's blocks and raw points, streamed (a PGresult of the ~6,000
 * block rows of a read took 3-5 MB per worker thread, kept by malloc):
 * each range one index range scan, as met_rollup_rows. */
#define MET_ROLLUP_BLOCKS_COPY \
	"COPY (SELECT m.lvl, m.blk, m.n, m.f_step, m.f_ts, m.f_val, m.l_step, m.l_ts, m.l_val, " \
	"m.lo_step, m.lo_ts, m.lo_val, m.hi_step, m.hi_ts, m.hi_val, m.hi_max " \
	"FROM unnest(current_setting('mltrack.rl')::int[], current_setting('mltrack.ra')::bigint[], " \
	"current_setting('mltrack.rb')::bigint[]) AS r(l, a, b) " \
	"CROSS JOIN LATERAL (SELECT * FROM metric_rollup x " \
	"WHERE x.run_id = current_setting('mltrack.sample_run') " \
	"AND x.key = current_setting('mltrack.sample_key') " \
	"AND x.lvl = r.l AND x.blk BETWEEN r.a AND r.b OFFSET 0) m) TO STDOUT"
#define MET_ROLLUP_RAW_COPY \
	"COPY (SELECT m.step, m.timestamp, m.value " \
	"FROM unnest(current_setting('mltrack.sa')::bigint[], " \
	"current_setting('mltrack.sb')::bigint[]) AS r(a, b) " \
	"CROSS JOIN LATERAL (SELECT step, timestamp, value FROM metrics x " \
	"WHERE x.experiment_id = %lld AND x.run_id = current_setting('mltrack.sample_run') " \
	"AND x.key = current_setting('mltrack.sample_key') " \
	"AND x.step BETWEEN r.a AND r.b OFFSET 0) m " \
	"ORDER BY m.step, m.timestamp, m.value) TO STDOUT"

#define MET_ROLLUP_COPY_IN \
	"COPY metric_rollup (run_id, key, lvl, blk, n, f_step, f_ts, f_val, l_step, l_ts, l_val, " \
	"lo_step, lo_ts, lo_val, hi_step, hi_ts, hi_val, hi_max) FROM STDIN"

typedef int copy_feed_fn(void *ctx, const void *buf, size_t len, struct mt_err *err);

/* Run a COPY ... TO STDOUT into feed to its end, even after a failure, so
 * the connection is left ready for the next command. */
static int copy_out(PGconn *c, const char *sql, copy_feed_fn *feed, void *ctx,
		    struct mt_err *err)
{
	PGresult *r = PQexec(c, sql);
	char *buf;
	int len, rc = 0;

	if (PQresultStatus(r) != PGRES_COPY_OUT) {
		db_err_from_result(r, c, err);
		PQclear(r);
		return -1;
	}
	PQclear(r);
	while ((len = PQgetCopyData(c, &buf, 0)) > 0) {
		if (rc == 0)
			rc = feed(ctx, buf, (size_t)len, err);
		PQfreemem(buf);
	}
	if (len == -2 && rc == 0) {
		mt_err_set(err, MT_EUNAVAIL, "Database connection lost");
		rc = mt_err_detail(err, "COPY: %s", PQerrorMessage(c));
	}
	while ((r = PQgetResult(c))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
			rc = db_err_from_result(r, c, err);
		PQclear(r);
	}
	return rc;
}

static int feed_sample(void *ctx, const void *buf, size_t len, struct mt_err *err)
{
	return mt_sample_feed(ctx, buf, len, err);
}

/* ---- metric_rollup ----
 *
 * Writers only widen latest_metrics' dirty step range (sql_runs.c).  The
 * blocks of metric_rollup that do not overlap the dirty range are exact
 * for the committed points; the others are rebuilt by the first sampled
 * read after writes (rollup_rebuild) or, until then, read as raw points.
 * Invariant, for any snapshot: a block that does not overlap the dirty
 * range in that snapshot aggregates exactly the points that snapshot sees.
 * A writer keeps it (it widens the range over every step it writes); a
 * rebuild keeps it because it recomputes every block over the range it
 * read (level 2 from the points, each level above from its children), and
 * clears the range only if the version it read is still current, i.e. no
 * writer committed since: one that did leaves the range dirty, and one
 * that commits later widens it again. */

static long long ll(PGresult *r, int i, int c)
{
	return strtoll(PQgetvalue(r, i, c), NULL, 10);
}

static double dbl(PGresult *r, int i, int c)
{
	return strtod(PQgetvalue(r, i, c), NULL);
}

/* Rows of met_rollup_rows as blocks (arena). */
static struct mt_rollup_block *parse_blocks(struct mt_arena *a, PGresult *r, size_t *n)
{
	struct mt_rollup_block *b = mt_arena_alloc(a, sizeof(*b) * ((size_t)PQntuples(r) + 1));

	for (int i = 0; i < PQntuples(r); i++) {
		struct mt_rollup_agg *g = &b[i].a;

		b[i].lvl = (int)ll(r, i, 0);
		b[i].blk = ll(r, i, 1);
		g->n = ll(r, i, 2);
		g->first = (struct mt_rollup_pick){ ll(r, i, 3), ll(r, i, 4), dbl(r, i, 5) };
		g->last = (struct mt_rollup_pick){ ll(r, i, 6), ll(r, i, 7), dbl(r, i, 8) };
		g->lo = (struct mt_rollup_pick){ ll(r, i, 9), ll(r, i, 10), dbl(r, i, 11) };
		g->hi = (struct mt_rollup_pick){ ll(r, i, 12), ll(r, i, 13), dbl(r, i, 14) };
		g->vlo = g->lo.value;
		g->vhi = dbl(r, i, 15);
	}
	*n = (size_t)PQntuples(r);
	return b;
}

/* Blocks of the ranges (lvl[i], a[i]..b[i]). */
static PGresult *fetch_blocks(struct mt_req *req, const char *run_id, const char *key,
			      const long long *lvl, const long long *a, const long long *b,
			      size_t n, struct mt_err *err)
{
	const char *v[5] = { run_id, key, db_array_i64(req->arena, lvl, n),
			     db_array_i64(req->arena, a, n), db_array_i64(req->arena, b, n) };

	return db_exec(req, "met_rollup_rows", 5, v, err);
}

static int blk_cmp(const void *x, const void *y)
{
	const struct mt_rollup_block *a = x, *b = y;

	if (a->lvl != b->lvl)
		return a->lvl < b->lvl ? -1 : 1;
	return a->blk < b->blk ? -1 : a->blk > b->blk;
}

static int first_cmp(const void *x, const void *y)
{
	const struct mt_rollup_block *a = x, *b = y;

	return a->a.first.step < b->a.first.step ? -1 : a->a.first.step > b->a.first.step;
}

/* s as a field of COPY text (arena). */
static const char *copy_text(struct mt_arena *a, const char *s)
{
	char *out = mt_arena_alloc(a, 2 * strlen(s) + 1), *p = out;

	for (; *s; s++) {
		switch (*s) {
		case '\\': *p++ = '\\'; *p++ = '\\'; break;
		case '\t': *p++ = '\\'; *p++ = 't'; break;
		case '\n': *p++ = '\\'; *p++ = 'n'; break;
		case '\r': *p++ = '\\'; *p++ = 'r'; break;
		default: *p++ = *s;
		}
	}
	*p = '\0';
	return out;
}

/* A float8 as COPY text reads it back exactly. */
static const char *f64_copy(char buf[32], double x)
{
	if (isnan(x))
		return "NaN";
	if (isinf(x))
		return x > 0 ? "Infinity" : "-Infinity";
	snprintf(buf, 32, "%.17g", x);
	return buf;
}

/* Rows of metric_rollup for COPY, sent every ROLLUP_COPY_ROWS rows, so a
 * whole series' rebuild holds one chunk of text at a time (malloc'd). */
enum { ROLLUP_COPY_ROWS = 1024 };

struct rollup_out {
	const char *rq, *kq; /* run_id and key as COPY text */
	size_t per, len, rows;
	char *data;
};

static int out_flush(struct mt_req *req, struct rollup_out *o, struct mt_err *err)
{
	int rc = o->rows ? db_copy_in(req, MET_ROLLUP_COPY_IN, o->data, o->len, err) : 0;

	o->len = o->rows = 0;
	return rc;
}

static int out_block(struct mt_req *req, struct rollup_out *o, const struct mt_rollup_block *b,
		     struct mt_err *err)
{
	const struct mt_rollup_agg *g = &b->a;
	char f[5][32];

	if (!o->data) {
		o->per = strlen(o->rq) + strlen(o->kq) + 16 * 26 + 8;
		if (!(o->data = malloc(o->per * ROLLUP_COPY_ROWS + 1)))
			return mt_err_set(err, MT_EINTERNAL, "out of memory");
	}
	o->len += (size_t)snprintf(o->data + o->len, o->per + 1,
				   "%s\t%s\t%d\t%lld\t%lld\t%lld\t%lld\t%s\t%lld\t%lld\t%s"
				   "\t%lld\t%lld\t%s\t%lld\t%lld\t%s\t%s\n",
				   o->rq, o->kq, b->lvl, b->blk, g->n, g->first.step, g->first.ts,
				   f64_copy(f[0], g->first.value), g->last.step, g->last.ts,
				   f64_copy(f[1], g->last.value), g->lo.step, g->lo.ts,
				   f64_copy(f[2], g->lo.value), g->hi.step, g->hi.ts,
				   f64_copy(f[3], g->hi.value), f64_copy(f[4], g->vhi));
	return ++o->rows == ROLLUP_COPY_ROWS ? out_flush(req, o, err) : 0;
}

struct emit_ctx {
	struct mt_req *req;
	struct rollup_out *o;
};

static int emit_block(void *ctx, const struct mt_rollup_block *b, struct mt_err *err)
{
	struct emit_ctx *e = ctx;

	return out_block(e->req, e->o, b, err);
}

/* Points per page of a rebuild. */
enum { ROLLUP_PAGE = 5000 };

/* The points of steps [first, last] into the cascade, a page at a time
 * (each page freed before the next: memory does not grow with the range). */
static int rebuild_points(struct mt_req *req, const char *run_id, const char *key,
			  const char *exp, long long first, long long last,
			  struct mt_rollup_cascade *c, struct mt_err *err)
{
	const char *v[9] = { run_id, key, mt_arena_printf(req->arena, "%lld", first),
			     mt_arena_printf(req->arena, "%lld", last) };
	const char *page = mt_arena_printf(req->arena, "%d", ROLLUP_PAGE);
	char after[3][40];
	int more = 1, after_set = 0;

	while (more) {
		PGresult *r;
		int n, rc = 0;

		if (after_set) {
			v[4] = after[0];
			v[5] = after[1];
			v[6] = after[2];
			v[7] = page;
			v[8] = exp;
		} else {
			v[4] = page;
			v[5] = exp;
		}
		r = db_exec_owned(req, after_set ? "met_rollup_points_after" : "met_rollup_points_first",
				  after_set ? 9 : 6, v, err);
		if (!r)
			return -1;
		n = PQntuples(r);
		for (int i = 0; i < n && rc == 0; i++)
			rc = mt_rollup_cascade_point(c, ll(r, i, 0), ll(r, i, 1), dbl(r, i, 2), err);
		more = rc == 0 && n == ROLLUP_PAGE;
		if (more) {
			snprintf(after[0], sizeof(after[0]), "%s", PQgetvalue(r, n - 1, 0));
			snprintf(after[1], sizeof(after[1]), "%s", PQgetvalue(r, n - 1, 1));
			snprintf(after[2], sizeof(after[2]), "%s", PQgetvalue(r, n - 1, 2));
			after_set = 1;
		}
		PQclear(r);
		if (rc)
			return -1;
	}
	return 0;
}

/*
 * Rebuild the blocks over the series' dirty step range, in one
 * transaction: the points of that range (widened to whole level-2 blocks)
 * stream through mt_rollup_cascade, which completes each level's blocks
 * with their clean neighbours read back first; the old blocks over the
 * range are replaced.  Serialized per series by an advisory lock that
 * writers never take, so a rebuild never delays log-batch.  Memory: a page
 * of points and a chunk of COPY text, whatever the range.
 */
static int rollup_rebuild(struct mt_req *req, const char *run_id, const char *key,
			  struct mt_err *err)
{
	const char *v[5] = { run_id, key };
	struct mt_err rerr = MT_ERR_INIT;
	struct rollup_out o = { .rq = copy_text(req->arena, run_id),
				.kq = copy_text(req->arena, key) };
	struct emit_ctx ec = { req, &o };
	struct mt_rollup_cascade *c = mt_arena_alloc(req->arena, sizeof(*c));
	struct mt_rollup_block *nb = NULL, *left = NULL, *right = NULL;
	long long lvl[2 * MT_ROLLUP_LMAX], ra[2 * MT_ROLLUP_LMAX], rb[2 * MT_ROLLUP_LMAX];
	long long dlo, dhi;
	size_t nnb = 0, nr = 0, nl = 0, nright = 0;
	const char *version, *exp;
	PGresult *r;
	int rc = -1;

	if (db_command(req->w, "BEGIN", err))
		return -1;
	if (db_command(req->w, "SET LOCAL jit = off", err) ||
	    !db_exec(req, "met_rollup_lock", 2, v, err) ||
	    !(r = db_exec(req, "met_state", 2, v, err)))
		goto out;
	if (PQntuples(r) == 0 || PQgetisnull(r, 0, 1)) {
		rc = 0; /* clean, or rebuilt by another reader meanwhile */
		goto out;
	}
	version = PQgetvalue(r, 0, 0);
	dlo = ll(r, 0, 1);
	dhi = ll(r, 0, 2);
	exp = PQgetvalue(r, 0, 3);

	/* the clean neighbours of the range's blocks, every level below the top */
	for (int l = MT_ROLLUP_LMIN; l < MT_ROLLUP_LMAX; l++) {
		long long a = mt_rollup_blk(dlo, l + 1) * 4, b = mt_rollup_blk(dlo, l) - 1;
		long long cc = mt_rollup_blk(dhi, l) + 1, d = mt_rollup_blk(dhi, l + 1) * 4 + 3;

		if (a <= b) {
			lvl[nr] = l;
			ra[nr] = a;
			rb[nr++] = b;
		}
		if (cc <= d) {
			lvl[nr] = l;
			ra[nr] = cc;
			rb[nr++] = d;
		}
	}
	if (nr) {
		if (!(r = fetch_blocks(req, run_id, key, lvl, ra, rb, nr, err)))
			goto out;
		nb = parse_blocks(req->arena, r, &nnb);
		if (nnb)
			qsort(nb, nnb, sizeof(*nb), blk_cmp);
		left = mt_arena_alloc(req->arena, sizeof(*left) * (nnb + 1));
		right = mt_arena_alloc(req->arena, sizeof(*right) * (nnb + 1));
		for (size_t i = 0; i < nnb; i++) {
			if (nb[i].blk < mt_rollup_blk(dlo, nb[i].lvl))
				left[nl++] = nb[i];
			else
				right[nright++] = nb[i];
		}
	}

	/* the range's old blocks, every level */
	nr = 0;
	for (int l = MT_ROLLUP_LMIN; l <= MT_ROLLUP_LMAX; l++) {
		lvl[nr] = l;
		ra[nr] = mt_rollup_blk(dlo, l);
		rb[nr++] = mt_rollup_blk(dhi, l);
	}
	v[2] = db_array_i64(req->arena, lvl, nr);
	v[3] = db_array_i64(req->arena, ra, nr);
	v[4] = db_array_i64(req->arena, rb, nr);
	if (!db_exec(req, "met_rollup_delete", 5, v, err))
		goto out;

	/* the new ones */
	if (mt_rollup_cascade_init(c, dlo, dhi, left, nl, emit_block, &ec, err) ||
	    rebuild_points(req, run_id, key, exp,
			   mt_rollup_blk_first(MT_ROLLUP_LMIN, mt_rollup_blk(dlo, MT_ROLLUP_LMIN)),
			   mt_rollup_blk_last(MT_ROLLUP_LMIN, mt_rollup_blk(dhi, MT_ROLLUP_LMIN)), c,
			   err) ||
	    mt_rollup_cascade_finish(c, right, nright, err) || out_flush(req, &o, err))
		goto out;
	v[2] = version;
	if (!db_exec(req, "met_rollup_clean", 3, v, err))
		goto out;
	rc = 0;
out:
	free(o.data);
	if (db_command(req->w, rc == 0 ? "COMMIT" : "ROLLBACK", &rerr) && rc == 0) {
		*err = rerr;
		rc = -1;
	}
	return rc;
}

/* Dirty ranges wider than this many steps are not read raw around the
 * rollup: the whole series is read instead (only when a rebuild could not
 * run, or a writer committed between it and the read). */
#define ROLLUP_RAW_MAX_STEPS 65536

/* Ranges of one level closer than this (blocks, or steps) are fetched as
 * one: a block row costs about a twenty-eighth of an index descent (1,400
 * ranges of level 2 in 27 ms, 4,200 contiguous blocks in 3 ms, loaded
 * machine). */
#define ROLLUP_FETCH_GAP 24

/* A read in progress: the plan, the wanted blocks (arena, grown), the
 * sampler, and the next block to hand it. */
struct rollup_reading {
	struct mt_arena *a;
	const struct mt_rollup_range *rg;
	size_t nrg;
	struct mt_rollup_block *b;
	size_t nb, cap, next;
	struct mt_rollup_sampler *rs;
	struct mt_copy_lines lines;
};

/* One row of MET_ROLLUP_BLOCKS_COPY (libpq hands COPY rows whole). */
static int feed_block(void *ctx, const void *buf, size_t len, struct mt_err *err)
{
	struct rollup_reading *rr = ctx;
	char line[512], *p = line, *e;
	long long f[16];
	double d[16];
	struct mt_rollup_block blk;

	if (len == 0 || len >= sizeof(line) || ((const char *)buf)[len - 1] != '\n') {
		mt_err_set(err, MT_EINTERNAL, "sampled history: unreadable COPY data");
		return mt_err_detail(err, "COPY: a rollup row of %zu bytes", len);
	}
	memcpy(line, buf, len);
	line[len - 1] = '\0';
	for (int i = 0; i < 16; i++) {
		f[i] = strtoll(p, &e, 10);
		d[i] = strtod(p, &e);
		e = strchr(p, '\t');
		p = e ? e + 1 : p + strlen(p);
	}
	blk.lvl = (int)f[0];
	blk.blk = f[1];
	if (!mt_rollup_wanted(rr->rg, rr->nrg, blk.lvl, blk.blk))
		return 0; /* brought by a coalesced range: maybe stale */
	blk.a.n = f[2];
	blk.a.first = (struct mt_rollup_pick){ f[3], f[4], d[5] };
	blk.a.last = (struct mt_rollup_pick){ f[6], f[7], d[8] };
	blk.a.lo = (struct mt_rollup_pick){ f[9], f[10], d[11] };
	blk.a.hi = (struct mt_rollup_pick){ f[12], f[13], d[14] };
	blk.a.vlo = blk.a.lo.value;
	blk.a.vhi = d[15];
	if (rr->nb == rr->cap) {
		size_t cap = rr->cap ? 2 * rr->cap : 1024;
		struct mt_rollup_block *nb = mt_arena_alloc(rr->a, sizeof(*nb) * cap);

		if (rr->nb)
			memcpy(nb, rr->b, sizeof(*nb) * rr->nb);
		rr->b = nb;
		rr->cap = cap;
	}
	rr->b[rr->nb++] = blk;
	return 0;
}

/* A raw point, in series order: the blocks before it first. */
static int raw_point(void *ctx, long long step, long long ts, double v, struct mt_err *err)
{
	struct rollup_reading *rr = ctx;

	(void)err;
	if (!mt_rollup_wanted(rr->rg, rr->nrg, 0, step))
		return 0;
	while (rr->next < rr->nb && rr->b[rr->next].a.first.step < step)
		mt_rollup_sampler_block(rr->rs, &rr->b[rr->next++]);
	mt_rollup_sampler_point(rr->rs, step, ts, v);
	return 0;
}

static int feed_raw(void *ctx, const void *buf, size_t len, struct mt_err *err)
{
	struct rollup_reading *rr = ctx;

	return mt_copy_lines_feed(&rr->lines, buf, len, raw_point, rr, err);
}

/* The answer from metric_rollup, in the read's snapshot (met_range set the
 * run and key): the plan's blocks and raw points into a sampler, both
 * streamed by COPY; *rs NULL when the rollup cannot serve. */
static int rollup_read(struct mt_req *req, long long exp, long long lo, long long hi,
		       long long max_points, int dirty, long long dlo, long long dhi,
		       struct mt_rollup_sampler **rs, struct mt_err *err)
{
	struct rollup_reading *rr = mt_arena_alloc(req->arena, sizeof(*rr));
	struct mt_rollup_range *rg, *fr;
	long long *lvl, *ba, *bb, *sa, *sb;
	size_t nrg, nfr, nbr = 0, nraw = 0;
	const char *v[5];

	*rs = NULL;
	if (dirty && (unsigned long long)dhi - (unsigned long long)dlo >= ROLLUP_RAW_MAX_STEPS)
		return 0;
	mt_rollup_plan(req->arena, lo, hi, max_points, dirty, dlo, dhi, &rg, &nrg);
	fr = mt_arena_alloc(req->arena, sizeof(*fr) * (nrg + 1));
	nfr = mt_rollup_coalesce(rg, nrg, ROLLUP_FETCH_GAP, fr);
	lvl = mt_arena_alloc(req->arena, sizeof(long long) * (nfr + 1));
	ba = mt_arena_alloc(req->arena, sizeof(long long) * (nfr + 1));
	bb = mt_arena_alloc(req->arena, sizeof(long long) * (nfr + 1));
	sa = mt_arena_alloc(req->arena, sizeof(long long) * (nfr + 1));
	sb = mt_arena_alloc(req->arena, sizeof(long long) * (nfr + 1));
	for (size_t k = 0; k < nfr; k++) {
		if (fr[k].lvl == 0) {
			sa[nraw] = fr[k].lo;
			sb[nraw++] = fr[k].hi;
		} else {
			lvl[nbr] = fr[k].lvl;
			ba[nbr] = fr[k].lo;
			bb[nbr++] = fr[k].hi;
		}
	}
	v[0] = db_array_i64(req->arena, lvl, nbr);
	v[1] = db_array_i64(req->arena, ba, nbr);
	v[2] = db_array_i64(req->arena, bb, nbr);
	v[3] = db_array_i64(req->arena, sa, nraw);
	v[4] = db_array_i64(req->arena, sb, nraw);
	if (!db_exec(req, "met_read_ranges", 5, v, err))
		return -1;
	memset(rr, 0, sizeof(*rr));
	rr->a = req->arena;
	rr->rg = rg;
	rr->nrg = nrg;
	rr->rs = mt_rollup_sampler_new(req->arena, lo, hi, max_points);
	if (nbr && copy_out(req->w->conn, MET_ROLLUP_BLOCKS_COPY, feed_block, rr, err))
		return -1;
	if (rr->nb) /* qsort's array may not be NULL, even empty */
		qsort(rr->b, rr->nb, sizeof(*rr->b), first_cmp);
	/* blocks and raw steps are disjoint: merged in step order */
	if (nraw && (copy_out(req->w->conn, mt_arena_printf(req->arena, MET_ROLLUP_RAW_COPY, exp),
			      feed_raw, rr, err) ||
		     mt_copy_lines_end(&rr->lines, err)))
		return -1;
	while (rr->next < rr->nb)
		mt_rollup_sampler_block(rr->rs, &rr->b[rr->next++]);
	*rs = rr->rs;
	return 0;
}

/* The sample of a series, read in one snapshot: from the rollup when it
 * can serve and the series has more than max_points points, else in one
 * pass over every point (the step range must hold for the rows the COPY
 * reads). */
static int compute(struct mt_req *req, const char *run_id, const char *key, const char *exp,
		   long long max_points, const struct mt_sample_point **pts, size_t *n,
		   struct mt_err *err)
{
	const char *v[3] = { run_id, key, exp };
	struct mt_err rerr = MT_ERR_INIT;
	struct mt_rollup_sampler *rs = NULL;
	struct mt_sample *s;
	long long lo, hi;
	PGresult *r;
	int rc = -1;

	*n = 0;
	if (db_command(req->w, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", err))
		return -1;
	if (db_command(req->w, "SET LOCAL jit = off", err))
		goto out;
	if (!(r = db_exec(req, "met_range", 3, v, err)))
		goto out;
	if (PQgetisnull(r, 0, 2)) {
		rc = 0; /* no points: the series was deleted meanwhile */
		goto out;
	}
	lo = ll(r, 0, 2);
	hi = ll(r, 0, 3);
	if (strcmp(PQgetvalue(r, 0, 6), "f") == 0 &&
	    rollup_read(req, atoll(exp), lo, hi, max_points, !PQgetisnull(r, 0, 4),
			PQgetisnull(r, 0, 4) ? 0 : ll(r, 0, 4), PQgetisnull(r, 0, 5) ? 0 : ll(r, 0, 5),
			&rs, err))
		goto out;
	if (rs && mt_rollup_sampler_count(rs) > max_points) {
		mt_rollup_sampler_finish(rs, pts, n);
		rc = 0;
		goto out;
	}
	s = mt_sample_new(req->arena, lo, hi, max_points);
	if (copy_out(req->w->conn, mt_arena_printf(req->arena, MET_SAMPLED_COPY, atoll(exp)),
		     feed_sample, s, err) == 0 &&
	    mt_sample_finish(s, pts, n, err) == 0)
		rc = 0;
out:
	if (db_command(req->w, rc == 0 ? "COMMIT" : "ROLLBACK", &rerr) && rc == 0) {
		*err = rerr;
		rc = -1;
	}
	return rc;
}

/* MLflow 3's fields of a sample's points (request memory; NULL arrays when
 * no point has any): looked up only in a series that holds such points. */
struct sample_extras {
	const char **dn, **dd, **mi;
};

static int sample_extras(struct mt_req *req, const char *run_id, const char *key,
			 const char *exp, const struct mt_sample_point *pts, size_t n,
			 struct sample_extras *x, struct mt_err *err)
{
	long long *steps, *ts;
	double *vals;
	const char *v[6] = { run_id, key, NULL, NULL, NULL, exp };
	PGresult *r;

	memset(x, 0, sizeof(*x));
	if (!(r = db_exec(req, "met_has_extras", 2, v, err)))
		return -1;
	if (PQntuples(r) == 0)
		return 0;
	steps = mt_arena_alloc(req->arena, sizeof(long long) * n);
	ts = mt_arena_alloc(req->arena, sizeof(long long) * n);
	vals = mt_arena_alloc(req->arena, sizeof(double) * n);
	for (size_t i = 0; i < n; i++) {
		steps[i] = pts[i].step;
		ts[i] = pts[i].timestamp;
		vals[i] = pts[i].value;
	}
	v[2] = db_array_i64(req->arena, steps, n);
	v[3] = db_array_i64(req->arena, ts, n);
	v[4] = db_array_f64(req->arena, vals, n);
	if (!(r = db_exec(req, "met_extras_of", 6, v, err)))
		return -1;
	if (PQntuples(r) == 0)
		return 0;
	x->dn = mt_arena_alloc(req->arena, sizeof(char *) * n);
	x->dd = mt_arena_alloc(req->arena, sizeof(char *) * n);
	x->mi = mt_arena_alloc(req->arena, sizeof(char *) * n);
	memset(x->dn, 0, sizeof(char *) * n);
	memset(x->dd, 0, sizeof(char *) * n);
	memset(x->mi, 0, sizeof(char *) * n);
	for (int i = 0; i < PQntuples(r); i++) {
		long long k = atoll(PQgetvalue(r, i, 0)) - 1;

		if (k < 0 || (size_t)k >= n)
			continue;
		x->dn[k] = db_value_or_null(r, i, 1);
		x->dd[k] = db_value_or_null(r, i, 2);
		x->mi[k] = db_value_or_null(r, i, 3);
	}
	return 0;
}

/* Keep a computed sample for the series' current version.  A failure here
 * (the run deleted meanwhile, say) only costs the next read a recompute. */
static void sample_put(struct mt_req *req, const char *run_id, const char *key,
		       const char *max, const char *version,
		       const struct mt_sample_point *pts, size_t n,
		       const struct sample_extras *x)
{
	long long *steps = mt_arena_alloc(req->arena, sizeof(long long) * (n + 1));
	long long *ts = mt_arena_alloc(req->arena, sizeof(long long) * (n + 1));
	double *vals = mt_arena_alloc(req->arena, sizeof(double) * (n + 1));
	const char *v[10];
	struct mt_err err = MT_ERR_INIT;

	for (size_t i = 0; i < n; i++) {
		steps[i] = pts[i].step;
		ts[i] = pts[i].timestamp;
		vals[i] = pts[i].value;
	}
	v[0] = run_id;
	v[1] = key;
	v[2] = max;
	v[3] = version;
	v[4] = db_array_i64(req->arena, steps, n);
	v[5] = db_array_i64(req->arena, ts, n);
	v[6] = db_array_f64(req->arena, vals, n);
	v[7] = x->dn ? db_array_text(req->arena, x->dn, n) : NULL;
	v[8] = x->dd ? db_array_text(req->arena, x->dd, n) : NULL;
	v[9] = x->mi ? db_array_text(req->arena, x->mi, n) : NULL;
	if (!db_exec(req, "met_sample_put", 10, v, &err))
		fprintf(stderr, "mltrackd: sampled-history cache not stored: %s\n", err.log_detail);
}

/*
 * A sample is computed once per version of the series: latest_metrics.version
 * changes with every write to (run, key), and metric_samples keeps the last
 * result per max_points, served only while its version is current.  The
 * version is read before the points: a sample that may include later writes
 * is stored under the older version, which is never served again.  MLflow
 * 3's fields of the sampled points are kept with it.
 */
int sql_metrics_sampled(struct mt_req *req, const char *run_id, const char *key,
			long long max_points, json_t *list, struct mt_err *err)
{
	const char *v[4] = { run_id, key };
	const char *max = mt_arena_printf(req->arena, "%lld", max_points);
	const char *version, *exp;
	const struct mt_sample_point *pts;
	struct sample_extras x;
	size_t n;
	int dirty;
	PGresult *r = db_exec(req, "met_state", 2, v, err);

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return 0; /* the run has no such metric */
	version = PQgetvalue(r, 0, 0);
	dirty = !PQgetisnull(r, 0, 1);
	exp = PQgetvalue(r, 0, 3);
	v[2] = max;
	v[3] = version;
	if (!(r = db_exec(req, "met_sample_get", 4, v, err)))
		return -1;
	if (PQntuples(r) > 0) {
		add_points(r, list);
		return 0;
	}
	if (dirty) {
		struct mt_err rerr = MT_ERR_INIT;

		/* Not fatal: the read below is exact either way. */
		if (rollup_rebuild(req, run_id, key, &rerr)) {
			if (rerr.code == MT_EUNAVAIL) {
				*err = rerr;
				return -1;
			}
			fprintf(stderr, "mltrackd: sampled-history rollup not rebuilt: %s\n",
				rerr.log_detail);
		}
	}
	if (compute(req, run_id, key, exp, max_points, &pts, &n, err))
		return -1;
	if (n == 0)
		return 0;
	if (sample_extras(req, run_id, key, exp, pts, n, &x, err))
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *m = sql_metric_point_json(key, pts[i].value, pts[i].timestamp, pts[i].step);

		if (x.mi)
			sql_metric_extras(m, x.dn[i], x.dd[i], x.mi[i]);
		json_array_append_new(list, m);
	}
	sample_put(req, run_id, key, max, version, pts, n, &x);
	return 0;
}
