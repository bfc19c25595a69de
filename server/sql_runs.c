/* sql_runs.c: all SQL about runs and what is logged to them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_filter.h"
#include "mt_json.h"
#include "sql_authz.h"
#include "sql_experiments.h"
#include "sql_metrics.h"
#include "sql_runs.h"

/* An upsert of latest_metrics: the newer point by (step, timestamp, value)
 * wins, every write bumps version, which invalidates cached samples of
 * the series (metric_samples), and widens the series' dirty step range by
 * the steps written (excluded.dirty_lo..dirty_hi), whose blocks of
 * metric_rollup the next sampled read rebuilds (sql_metrics.c). */
#define NEWER "(excluded.step, excluded.timestamp, excluded.value) > (l.step, l.timestamp, l.value)"
#define LATEST_MERGE \
	"version = l.version + 1, " \
	"step = CASE WHEN " NEWER " THEN excluded.step ELSE l.step END, " \
	"timestamp = CASE WHEN " NEWER " THEN excluded.timestamp ELSE l.timestamp END, " \
	"value = CASE WHEN " NEWER " THEN excluded.value ELSE l.value END, " \
	"dirty_lo = least(l.dirty_lo, excluded.dirty_lo), " \
	"dirty_hi = greatest(l.dirty_hi, excluded.dirty_hi)"

#define RUN_COLS SQL_RUN_COLS

/* What params, tags and latest_metrics carry of their run for search's
 * indexes (migration 0011): experiment_id and start_time, neither of which
 * changes once the run exists.  $1 is the run. */
#define RUN_EXP "(SELECT experiment_id FROM runs WHERE run_id = $1)"
#define RUN_START "(SELECT start_time FROM runs WHERE run_id = $1)"

static const struct db_stmt stmts[] = {
	{ "run_insert",
	  "INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time, artifact_uri) "
	  "VALUES ($1, $2, $3, $4, 'RUNNING', $5, $6)" },
	{ "run_rows", "SELECT " RUN_COLS " FROM runs r WHERE r.run_id = ANY($1::text[])" },
	/* Everything a Run object carries besides its row, for a page of runs
	 * in one round trip: each kind of child (k) in the order MLflow lists
	 * it, by run, then n (a model's step, a dataset's id), then key. */
	{ "run_children",
	  "SELECT 0 AS k, run_id, NULL::bigint AS n, key, value::text AS a, timestamp::text AS b, "
	  "step::text AS c, NULL AS d, NULL AS e, NULL AS f "
	  "FROM latest_metrics WHERE run_id = ANY($1::text[]) "
	  "UNION ALL SELECT 1, run_id, NULL, key, value, NULL, NULL, NULL, NULL, NULL "
	  "FROM params WHERE run_id = ANY($1::text[]) "
	  "UNION ALL SELECT 2, run_id, NULL, key, value, NULL, NULL, NULL, NULL, NULL "
	  "FROM tags WHERE run_id = ANY($1::text[]) "
	  "UNION ALL SELECT 3, ri.run_id, d.dataset_id, NULL, d.name, d.digest, d.source_type, "
	  "d.source, d.schema, d.profile "
	  "FROM run_inputs ri JOIN datasets d USING (dataset_id) WHERE ri.run_id = ANY($1::text[]) "
	  "UNION ALL SELECT 4, run_id, dataset_id, key, value, NULL, NULL, NULL, NULL, NULL "
	  "FROM run_input_tags WHERE run_id = ANY($1::text[]) "
	  "UNION ALL SELECT 5, run_id, step, model_id, NULL, NULL, NULL, NULL, NULL, NULL "
	  "FROM run_model_outputs WHERE run_id = ANY($1::text[]) "
	  "UNION ALL SELECT 6, run_id, NULL, model_id, NULL, NULL, NULL, NULL, NULL, NULL "
	  "FROM run_model_inputs WHERE run_id = ANY($1::text[]) "
	  "ORDER BY 1, 2, 3, 4" },
	{ "run_stage", "SELECT lifecycle_stage FROM runs WHERE run_id = $1" },
	/* Before writing points: metrics has no foreign key to runs (it cost
	 * a lookup and a lock per point; migration 0010), so the writer holds
	 * the run's row until it commits, once per batch. */
	/* The experiment of runs: the partition of metrics a read names. */
	{ "run_experiment", "SELECT experiment_id FROM runs WHERE run_id = $1" },
	{ "run_experiments",
	  "SELECT COALESCE(array_agg(DISTINCT experiment_id), '{}') FROM runs "
	  "WHERE run_id = ANY($1::text[])" },
	{ "run_stage_for_points",
	  "SELECT lifecycle_stage, experiment_id FROM runs WHERE run_id = $1 FOR KEY SHARE" },
	{ "run_update",
	  "UPDATE runs SET status = COALESCE($2, status), end_time = COALESCE($3::bigint, end_time), "
	  "name = COALESCE($4, name) WHERE run_id = $1" },
	{ "run_set_stage",
	  "UPDATE runs SET lifecycle_stage = $2, deleted_time = $3::bigint WHERE run_id = $1" },
	{ "run_params_log",
	  "WITH t AS (SELECT * FROM unnest($2::text[], $3::text[]) AS t(k, v)), "
	  "ins AS (INSERT INTO params (run_id, key, value, experiment_id, start_time) "
	  "        SELECT $1, k, v, " RUN_EXP ", " RUN_START " FROM t ORDER BY k "
	  "        ON CONFLICT (run_id, key) DO NOTHING) "
	  "SELECT t.k, p.value, t.v FROM t JOIN params p ON p.run_id = $1 AND p.key = t.k "
	  "WHERE p.value <> t.v" },
	{ "run_tags_set",
	  "INSERT INTO tags (run_id, key, value, experiment_id, start_time) "
	  "SELECT $1, k, v, " RUN_EXP ", " RUN_START " FROM unnest($2::text[], $3::text[]) AS t(k, v) "
	  "ORDER BY k "
	  "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value" },
	{ "run_rename", "UPDATE runs SET name = $2 WHERE run_id = $1" },
	{ "run_tag_delete", "DELETE FROM tags WHERE run_id = $1 AND key = $2" },
	/* A read-modify-write of one tag: the run locked first, the tag read
	 * by the next statement, whose snapshot (READ COMMITTED) then sees
	 * what the lock's previous holder committed. */
	{ "run_lock", "SELECT lifecycle_stage FROM runs WHERE run_id = $1 FOR UPDATE" },
	{ "run_tag_get", "SELECT value FROM tags WHERE run_id = $1 AND key = $2" },
	/* Every point goes to history (an exact replay is a no-op); the newest
	 * point per key by (step, timestamp, value) replaces latest_metrics.
	 * Rows are written in key order so concurrent batches to one run lock
	 * in the same order and cannot deadlock.  $6 is the run's experiment,
	 * read under the run's lock (run_stage_for_points): the partition of
	 * metrics the points go to (migration 0013). */
	{ "run_metrics_log",
	  "WITH u AS (SELECT * FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[]) "
	  "           AS u(k, s, t, v)), "
	  "h AS (INSERT INTO metrics (run_id, key, step, timestamp, value, experiment_id) "
	  "      SELECT $1, k, s, t, v, $6::bigint FROM u ORDER BY k, s, t, v ON CONFLICT DO NOTHING) "
	  "INSERT INTO latest_metrics AS l (run_id, key, step, timestamp, value, experiment_id, "
	  "start_time, dirty_lo, dirty_hi) SELECT DISTINCT ON (k) $1, k, s, t, v, $6::bigint, "
	  RUN_START ", min(s) OVER (PARTITION BY k), s FROM u "
	  "ORDER BY k, s DESC, t DESC, v DESC "
	  "ON CONFLICT (run_id, key) DO UPDATE SET " LATEST_MERGE },
	/* A batch's points into history as they are (run_metrics_log without
	 * ON CONFLICT): a point already stored fails the statement, and the
	 * request's transaction runs again with run_metrics_log.  The rows
	 * come in the arrays' order, which the caller sorted (a function scan
	 * of unnest returns its rows in order), so concurrent batches to one
	 * run take their locks in the same order.  $6 the experiment. */
	{ "run_metrics_ins",
	  "INSERT INTO metrics (run_id, key, step, timestamp, value, experiment_id) "
	  "SELECT $1, k, s, t, v, $6::bigint "
	  "FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[]) AS u(k, s, t, v)" },
	/* The same with MLflow 3's three fields; $9 the experiment. */
	{ "run_metrics_ins_x",
	  "INSERT INTO metrics (run_id, key, step, timestamp, value, model_id, dataset_name, "
	  "dataset_digest, experiment_id) SELECT $1, k, s, t, v, mi, dn, dd, $9::bigint "
	  "FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[], $6::text[], $7::text[], "
	  "$8::text[]) AS u(k, s, t, v, mi, dn, dd)" },
	/* The latest point per key of a batch already in history (big batches);
	 * $7 the run's experiment. */
	{ "run_latest_log",
	  "INSERT INTO latest_metrics AS l (run_id, key, step, timestamp, value, experiment_id, "
	  "start_time, dirty_lo, dirty_hi) SELECT $1, k, s, t, v, $7::bigint, " RUN_START ", lo, s "
	  "FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[], $6::bigint[]) "
	  "AS u(k, s, t, v, lo) ORDER BY k "
	  "ON CONFLICT (run_id, key) DO UPDATE SET " LATEST_MERGE },
	/* One point, one statement, no explicit transaction: the run check and
	 * both writes are atomic as a single statement.  Returns the run's
	 * stage (no row: no such run); nothing is written unless active. */
	{ "run_metric_log_one",
	  "WITH r AS (SELECT lifecycle_stage, experiment_id, start_time FROM runs WHERE run_id = $1 "
	  "FOR KEY SHARE), "
	  "ok AS (SELECT experiment_id, start_time FROM r WHERE lifecycle_stage = 'active'), "
	  "h AS (INSERT INTO metrics (run_id, key, step, timestamp, value, experiment_id) "
	  "      SELECT $1, $2, $3, $4, $5, experiment_id FROM ok ON CONFLICT DO NOTHING), "
	  "l AS (INSERT INTO latest_metrics AS l (run_id, key, step, timestamp, value, experiment_id, "
	  "      start_time, dirty_lo, dirty_hi) SELECT $1, $2, $3, $4, $5, experiment_id, start_time, "
	  "      $3, $3 FROM ok "
	  "      ON CONFLICT (run_id, key) DO UPDATE SET " LATEST_MERGE ") "
	  "SELECT lifecycle_stage FROM r" },
	/* The same for a point carrying MLflow 3's fields ($6 model_id, $7
	 * dataset_name, $8 dataset_digest, any of them NULL): nothing is
	 * written unless the model exists too; the history keeps the point
	 * as first logged, the model gets its own row. */
	{ "run_metric_log_one_x",
	  "WITH r AS (SELECT lifecycle_stage, experiment_id, start_time FROM runs WHERE run_id = $1 "
	  "FOR KEY SHARE), "
	  "lm AS (SELECT 1 FROM logged_models WHERE model_id = $6::text), "
	  "ok AS (SELECT experiment_id, start_time FROM r WHERE lifecycle_stage = 'active' "
	  "       AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM lm))), "
	  "h AS (INSERT INTO metrics (run_id, key, step, timestamp, value, model_id, dataset_name, "
	  "      dataset_digest, experiment_id) SELECT $1, $2, $3::bigint, $4::bigint, $5::float8, "
	  "      $6::text, $7::text, $8::text, experiment_id FROM ok ON CONFLICT DO NOTHING), "
	  "l AS (INSERT INTO latest_metrics AS l (run_id, key, step, timestamp, value, experiment_id, "
	  "      start_time, dirty_lo, dirty_hi) SELECT $1, $2, $3::bigint, $4::bigint, $5::float8, "
	  "      experiment_id, start_time, $3::bigint, $3::bigint FROM ok "
	  "      ON CONFLICT (run_id, key) DO UPDATE SET " LATEST_MERGE "), "
	  "x AS (INSERT INTO metric_extra_keys (run_id, key) SELECT $1, $2 FROM ok "
	  "      ON CONFLICT DO NOTHING), "
	  "mm AS (INSERT INTO logged_model_metrics (model_id, key, timestamp, step, run_id, value, "
	  "       dataset_name, dataset_digest) SELECT $6::text, $2, $4::bigint, $3::bigint, $1, "
	  "       $5::float8, $7::text, $8::text FROM ok WHERE $6::text IS NOT NULL "
	  "       ON CONFLICT DO NOTHING) "
	  "SELECT lifecycle_stage, $6::text IS NULL OR EXISTS (SELECT 1 FROM lm) FROM r" },
	/* A batch's history and latest values when some of its points carry
	 * MLflow 3's fields (run_metrics_log with three more arrays; the
	 * experiment is $9). */
	{ "run_metrics_log_x",
	  "WITH u AS (SELECT * FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[], "
	  "           $6::text[], $7::text[], $8::text[]) AS u(k, s, t, v, mi, dn, dd)), "
	  "h AS (INSERT INTO metrics (run_id, key, step, timestamp, value, model_id, dataset_name, "
	  "      dataset_digest, experiment_id) SELECT $1, k, s, t, v, mi, dn, dd, $9::bigint FROM u "
	  "      ORDER BY k, s, t, v ON CONFLICT DO NOTHING) "
	  "INSERT INTO latest_metrics AS l (run_id, key, step, timestamp, value, experiment_id, "
	  "start_time, dirty_lo, dirty_hi) SELECT DISTINCT ON (k) $1, k, s, t, v, $9::bigint, "
	  RUN_START ", min(s) OVER (PARTITION BY k), s FROM u "
	  "ORDER BY k, s DESC, t DESC, v DESC "
	  "ON CONFLICT (run_id, key) DO UPDATE SET " LATEST_MERGE },
	{ "run_extra_keys",
	  "INSERT INTO metric_extra_keys (run_id, key) SELECT $1, k FROM unnest($2::text[]) AS k "
	  "ORDER BY k ON CONFLICT DO NOTHING" },
	/* Points logged for a model, keyed as MLflow keys them. */
	{ "run_model_metrics_log",
	  "INSERT INTO logged_model_metrics (model_id, key, timestamp, step, run_id, value, "
	  "dataset_name, dataset_digest) "
	  "SELECT mi, k, t, s, $1, v, dn, dd FROM unnest($2::text[], $3::text[], $4::bigint[], "
	  "$5::bigint[], $6::float8[], $7::text[], $8::text[]) AS u(mi, k, t, s, v, dn, dd) "
	  "ORDER BY mi, k, t, s ON CONFLICT DO NOTHING" },
	{ "run_outputs_log",
	  "INSERT INTO run_model_outputs (run_id, model_id, step) "
	  "SELECT $1, mi, s FROM unnest($2::text[], $3::bigint[]) AS u(mi, s) ORDER BY mi, s "
	  "ON CONFLICT DO NOTHING" },
	{ "run_model_inputs_log",
	  "INSERT INTO run_model_inputs (run_id, model_id) "
	  "SELECT $1, mi FROM unnest($2::text[]) AS mi ORDER BY mi ON CONFLICT DO NOTHING" },
	/* A run's model outputs (with their step) and model inputs (step
	 * NULL), in one round trip. */
	{ "run_models",
	  "SELECT run_id, model_id, step FROM run_model_outputs WHERE run_id = ANY($1::text[]) "
	  "UNION ALL "
	  "SELECT run_id, model_id, NULL FROM run_model_inputs WHERE run_id = ANY($1::text[]) "
	  "ORDER BY 1, 3, 2" },
	{ "run_dataset_upsert",
	  "WITH e AS (SELECT experiment_id FROM runs WHERE run_id = $1), "
	  "d AS (INSERT INTO datasets (experiment_id, name, digest, source_type, source, schema, profile) "
	  "      SELECT experiment_id, $2, $3, $4, $5, $6, $7 FROM e "
	  "      ON CONFLICT (experiment_id, name, digest) DO UPDATE SET source_type = excluded.source_type "
	  "      RETURNING dataset_id) "
	  "INSERT INTO run_inputs (run_id, dataset_id) SELECT $1, dataset_id FROM d "
	  "ON CONFLICT DO NOTHING RETURNING dataset_id" },
	{ "run_dataset_id",
	  "SELECT d.dataset_id FROM datasets d JOIN runs r ON r.experiment_id = d.experiment_id "
	  "WHERE r.run_id = $1 AND d.name = $2 AND d.digest = $3" },
	/* The UI's search-datasets: each dataset used by a run of the
	 * experiments, with the context the run gave it (MLflow's SQL store:
	 * DISTINCT, at most 1000). */
	{ "run_dataset_summaries",
	  "SELECT DISTINCT d.experiment_id, d.name, d.digest, t.value "
	  "FROM datasets d JOIN run_inputs ri ON ri.dataset_id = d.dataset_id "
	  "LEFT JOIN run_input_tags t ON t.run_id = ri.run_id AND t.dataset_id = ri.dataset_id "
	  "AND t.key = 'mlflow.data.context' "
	  "WHERE d.experiment_id = ANY($1::bigint[]) ORDER BY 1, 2, 3, 4 LIMIT 1000" },
	{ "run_input_tags_set",
	  "INSERT INTO run_input_tags (run_id, dataset_id, key, value) "
	  "SELECT $1, $2, k, v FROM unnest($3::text[], $4::text[]) AS t(k, v) ORDER BY k "
	  "ON CONFLICT (run_id, dataset_id, key) DO UPDATE SET value = excluded.value" },
};

const struct db_stmt_table sql_runs_table = { stmts, sizeof(stmts) / sizeof(stmts[0]), 0 };

json_t *sql_metric_point_json(const char *key, double value, long long timestamp,
			      long long step)
{
	json_t *m = json_object();

	json_object_set_new(m, "key", json_string(key));
	json_object_set_new(m, "value", mt_json_double_new(value));
	json_object_set_new(m, "timestamp", json_integer(timestamp));
	json_object_set_new(m, "step", json_integer(step));
	return m;
}

json_t *sql_metric_json(const char *key, const char *value, const char *timestamp,
			const char *step)
{
	return sql_metric_point_json(key, strtod(value, NULL), atoll(timestamp), atoll(step));
}

void sql_metric_extras(json_t *m, const char *ds_name, const char *ds_digest,
		       const char *model_id)
{
	if (ds_name && *ds_name)
		json_object_set_new(m, "dataset_name", json_string(ds_name));
	if (ds_digest && *ds_digest)
		json_object_set_new(m, "dataset_digest", json_string(ds_digest));
	if (model_id && *model_id)
		json_object_set_new(m, "model_id", json_string(model_id));
}

static json_t *info_row(PGresult *r, int i)
{
	json_t *info = json_object();

	json_object_set_new(info, "run_id", json_string(PQgetvalue(r, i, 0)));
	json_object_set_new(info, "run_uuid", json_string(PQgetvalue(r, i, 0)));
	json_object_set_new(info, "run_name", json_string(PQgetvalue(r, i, 2)));
	json_object_set_new(info, "experiment_id", json_string(PQgetvalue(r, i, 1)));
	json_object_set_new(info, "user_id", json_string(PQgetvalue(r, i, 3)));
	json_object_set_new(info, "status", json_string(PQgetvalue(r, i, 4)));
	if (!PQgetisnull(r, i, 5))
		json_object_set_new(info, "start_time", json_integer(atoll(PQgetvalue(r, i, 5))));
	if (!PQgetisnull(r, i, 6))
		json_object_set_new(info, "end_time", json_integer(atoll(PQgetvalue(r, i, 6))));
	json_object_set_new(info, "artifact_uri", json_string(PQgetvalue(r, i, 7)));
	json_object_set_new(info, "lifecycle_stage", json_string(PQgetvalue(r, i, 8)));
	return info;
}

static json_t *list_in(json_t *obj, const char *key)
{
	json_t *l = json_object_get(obj, key);

	if (!l) {
		l = json_array();
		json_object_set_new(obj, key, l);
	}
	return l;
}

/* A new Run object for row i of `rows` (RUN_COLS), appended to list and
 * entered in byid; borrowed from list. */
static json_t *run_new(PGresult *rows, int i, json_t *byid, json_t *list)
{
	json_t *run = json_object();

	json_object_set_new(run, "info", info_row(rows, i));
	json_object_set_new(run, "data", json_object());
	json_object_set_new(run, "inputs", json_object());
	json_object_set_new(run, "outputs", json_object());
	if (byid)
		json_object_set(byid, PQgetvalue(rows, i, 0), run);
	json_array_append_new(list, run);
	return run;
}

/* Fill the runs of byid from run_children's rows for the runs ids[0..n). */
static void children_apply(struct mt_req *req, PGresult *r, json_t *byid)
{
	json_t *byds = req_own(req, json_object());

	for (int i = 0; i < PQntuples(r); i++) {
		json_t *run = json_object_get(byid, PQgetvalue(r, i, 1));
		const char *key = PQgetvalue(r, i, 3), *a = PQgetvalue(r, i, 4);
		if (!run)
			continue;
		switch (atoi(PQgetvalue(r, i, 0))) {
		case 0:
			json_array_append_new(list_in(json_object_get(run, "data"), "metrics"),
					      sql_metric_json(key, a, PQgetvalue(r, i, 5),
							      PQgetvalue(r, i, 6)));
			break;
		case 1:
		case 2:
			json_array_append_new(list_in(json_object_get(run, "data"),
						      *PQgetvalue(r, i, 0) == '1' ? "params" : "tags"),
					      json_pack("{s:s,s:s}", "key", key, "value", a));
			break;
		case 3: {
			json_t *ds = json_object(), *di = json_object();

			json_object_set_new(ds, "name", json_string(a));
			json_object_set_new(ds, "digest", json_string(PQgetvalue(r, i, 5)));
			json_object_set_new(ds, "source_type", json_string(PQgetvalue(r, i, 6)));
			json_object_set_new(ds, "source", json_string(PQgetvalue(r, i, 7)));
			if (!PQgetisnull(r, i, 8))
				json_object_set_new(ds, "schema", json_string(PQgetvalue(r, i, 8)));
			if (!PQgetisnull(r, i, 9))
				json_object_set_new(ds, "profile", json_string(PQgetvalue(r, i, 9)));
			json_object_set_new(di, "dataset", ds);
			json_array_append_new(list_in(json_object_get(run, "inputs"), "dataset_inputs"),
					      di);
			json_object_set(byds, mt_arena_printf(req->arena, "%s/%s", PQgetvalue(r, i, 1),
							      PQgetvalue(r, i, 2)), di);
			break;
		}
		case 4: {
			json_t *di = json_object_get(byds, mt_arena_printf(req->arena, "%s/%s",
									   PQgetvalue(r, i, 1),
									   PQgetvalue(r, i, 2)));

			if (di)
				json_array_append_new(list_in(di, "tags"),
						      json_pack("{s:s,s:s}", "key", key, "value", a));
			break;
		}
		case 5: /* MLflow 3: the models a run produced... */
			json_array_append_new(list_in(json_object_get(run, "outputs"), "model_outputs"),
					      json_pack("{s:s,s:I}", "model_id", key, "step",
							(json_int_t)atoll(PQgetvalue(r, i, 2))));
			break;
		case 6: /* ...and used: after its datasets, the proto's order */
			json_array_append_new(list_in(json_object_get(run, "inputs"), "model_inputs"),
					      json_pack("{s:s}", "model_id", key));
			break;
		}
	}
}

static int children(struct mt_req *req, const char **ids, size_t n, json_t *byid,
		    struct mt_err *err)
{
	const char *arr = db_array_text(req->arena, ids, n);
	PGresult *r;

	if (!(r = db_exec(req, "run_children", 1, &arr, err)))
		return -1;
	children_apply(req, r, byid);
	return 0;
}

/* Build Run objects for the rows of `rows` (RUN_COLS) into list, in order,
 * then fill their data, inputs and outputs from one query (run_children). */
int sql_runs_fill(struct mt_req *req, PGresult *rows, json_t *list, struct mt_err *err)
{
	int n = PQntuples(rows);
	const char **ids;
	json_t *byid;

	if (n == 0)
		return 0;
	ids = mt_arena_alloc(req->arena, sizeof(*ids) * (size_t)n);
	byid = req_own(req, json_object());
	for (int i = 0; i < n; i++) {
		ids[i] = PQgetvalue(rows, i, 0);
		run_new(rows, i, byid, list);
	}
	return children(req, ids, (size_t)n, byid, err);
}

/* s as a JSON string, quoted, at out (room for 6 bytes a byte and 2):
 * the escapes mt_json_dumps() writes.  Returns its length. */
static size_t put_str(char *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char *o = out;

	*o++ = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x20 && *p != '"' && *p != '\\') {
			*o++ = (char)*p;
			continue;
		}
		*o++ = '\\';
		switch (*p) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hex[*p >> 4];
			o[4] = hex[*p & 15];
			o += 5;
		}
	}
	*o++ = '"';
	return (size_t)(o - out);
}

static size_t put(char *out, const char *s, size_t n)
{
	memcpy(out, s, n);
	return n;
}

#define PUT(lit) put(o, lit, sizeof(lit) - 1)

/* Row i's info object (info_row()'s, as text) at o; its length. */
static size_t put_info(char *o, PGresult *r, int i)
{
	char *s = o;

	o += PUT("{\"run_id\":");
	o += put_str(o, PQgetvalue(r, i, 0));
	o += PUT(",\"run_uuid\":");
	o += put_str(o, PQgetvalue(r, i, 0));
	o += PUT(",\"run_name\":");
	o += put_str(o, PQgetvalue(r, i, 2));
	o += PUT(",\"experiment_id\":");
	o += put_str(o, PQgetvalue(r, i, 1));
	o += PUT(",\"user_id\":");
	o += put_str(o, PQgetvalue(r, i, 3));
	o += PUT(",\"status\":");
	o += put_str(o, PQgetvalue(r, i, 4));
	/* PostgreSQL's text of an int8 is what %lld writes. */
	if (!PQgetisnull(r, i, 5)) {
		o += PUT(",\"start_time\":");
		o += put(o, PQgetvalue(r, i, 5), (size_t)PQgetlength(r, i, 5));
	}
	if (!PQgetisnull(r, i, 6)) {
		o += PUT(",\"end_time\":");
		o += put(o, PQgetvalue(r, i, 6), (size_t)PQgetlength(r, i, 6));
	}
	o += PUT(",\"artifact_uri\":");
	o += put_str(o, PQgetvalue(r, i, 7));
	o += PUT(",\"lifecycle_stage\":");
	o += put_str(o, PQgetvalue(r, i, 8));
	*o++ = '}';
	return (size_t)(o - s);
}

struct idpos {
	const char *id;
	int pos;
};

static int idpos_cmp(const void *a, const void *b)
{
	return strcmp(((const struct idpos *)a)->id, ((const struct idpos *)b)->id);
}

int sql_runs_render(struct mt_req *req, PGresult *rows, const char **out, struct mt_err *err)
{
	int n = PQntuples(rows), nc;
	struct idpos *ix, key;
	/* Per run of the page: the first row and the count of its metrics,
	 * params and tags in run_children's answer; whether it has more. */
	int (*first)[3], (*count)[3];
	char *extra;
	const char **ids, *arr;
	json_t *byid = NULL, *list = NULL;
	const char **dumped;
	size_t cap = 1, len = 0;
	PGresult *c;
	char *o;

	*out = "";
	if (n == 0)
		return 0;
	ix = mt_arena_alloc(req->arena, sizeof(*ix) * (size_t)n);
	ids = mt_arena_alloc(req->arena, sizeof(*ids) * (size_t)n);
	first = mt_arena_alloc(req->arena, sizeof(*first) * (size_t)n);
	count = mt_arena_alloc(req->arena, sizeof(*count) * (size_t)n);
	extra = mt_arena_alloc(req->arena, (size_t)n);
	dumped = mt_arena_alloc(req->arena, sizeof(*dumped) * (size_t)n);
	for (int i = 0; i < n; i++) {
		ids[i] = PQgetvalue(rows, i, 0);
		ix[i] = (struct idpos){ ids[i], i };
		extra[i] = 0;
		for (int k = 0; k < 3; k++)
			first[i][k] = count[i][k] = 0;
	}
	qsort(ix, (size_t)n, sizeof(*ix), idpos_cmp);
	arr = db_array_text(req->arena, ids, (size_t)n);
	if (!(c = db_exec(req, "run_children", 1, &arr, err)))
		return -1;
	nc = PQntuples(c);
	for (int i = 0; i < nc; i++) {
		int k = atoi(PQgetvalue(c, i, 0));
		struct idpos *hit;

		key.id = PQgetvalue(c, i, 1);
		if (!(hit = bsearch(&key, ix, (size_t)n, sizeof(*ix), idpos_cmp)))
			continue;
		if (k > 2) {
			extra[hit->pos] = 1;
			continue;
		}
		if (count[hit->pos][k]++ == 0)
			first[hit->pos][k] = i;
		/* Room: keys and values escaped (6 bytes a byte at most), a
		 * metric's value at most MT_JSON_DOUBLE_MAX + 2, the names. */
		cap += 6 * (size_t)(PQgetlength(c, i, 3) + PQgetlength(c, i, 4)) + 96 +
		       (size_t)(PQgetlength(c, i, 5) + PQgetlength(c, i, 6));
	}
	/* Runs with inputs or outputs: as sql_runs_fill() builds them. */
	for (int i = 0; i < n; i++) {
		if (!extra[i])
			continue;
		if (!byid) {
			byid = req_own(req, json_object());
			list = req_own(req, json_array());
		}
		run_new(rows, i, byid, list);
	}
	if (byid)
		children_apply(req, c, byid);
	for (int i = 0, m = 0; i < n; i++) {
		if (extra[i]) {
			char *t = mt_json_dumps(json_array_get(list, (size_t)m), NULL);

			if (!t)
				return mt_err_set(err, MT_EINTERNAL, "out of memory");
			dumped[m] = mt_arena_strdup(req->arena, t);
			free(t);
			cap += strlen(dumped[m++]) + 1;
			continue;
		}
		cap += 400 + 6 * (size_t)PQgetlength(rows, i, 0) * 2;
		for (int k = 1; k <= 8; k++)
			cap += 6 * (size_t)PQgetlength(rows, i, k);
	}
	o = mt_arena_alloc(req->arena, cap);
	for (int i = 0, m = 0; i < n; i++) {
		if (i)
			o[len++] = ',';
		if (extra[i]) {
			len += put(o + len, dumped[m], strlen(dumped[m]));
			m++;
			continue;
		}
		len += put(o + len, "{\"info\":", sizeof("{\"info\":") - 1);
		len += put_info(o + len, rows, i);
		len += put(o + len, ",\"data\":{", sizeof(",\"data\":{") - 1);
		/* The key order sql_runs_fill() gives: metrics, params, tags. */
		for (int k = 0, any = 0; k < 3; k++) {
			static const char *const name[3] = { "\"metrics\":[", "\"params\":[",
							     "\"tags\":[" };

			if (!count[i][k])
				continue;
			if (any++)
				o[len++] = ',';
			len += put(o + len, name[k], strlen(name[k]));
			for (int j = first[i][k]; j < first[i][k] + count[i][k]; j++) {
				char *p = o + len;

				if (j > first[i][k])
					*p++ = ',';
				p += put(p, "{\"key\":", sizeof("{\"key\":") - 1);
				p += put_str(p, PQgetvalue(c, j, 3));
				if (k == 0) {
					p += put(p, ",\"value\":", sizeof(",\"value\":") - 1);
					p += sql_metrics_put_value(p, PQgetvalue(c, j, 4));
					p += put(p, ",\"timestamp\":", sizeof(",\"timestamp\":") - 1);
					p += put(p, PQgetvalue(c, j, 5), (size_t)PQgetlength(c, j, 5));
					p += put(p, ",\"step\":", sizeof(",\"step\":") - 1);
					p += put(p, PQgetvalue(c, j, 6), (size_t)PQgetlength(c, j, 6));
				} else {
					p += put(p, ",\"value\":", sizeof(",\"value\":") - 1);
					p += put_str(p, PQgetvalue(c, j, 4));
				}
				*p++ = '}';
				len = (size_t)(p - o);
			}
			o[len++] = ']';
		}
		len += put(o + len, "},\"inputs\":{},\"outputs\":{}}",
			   sizeof("},\"inputs\":{},\"outputs\":{}}") - 1);
	}
	o[len] = '\0';
	*out = o;
	return 0;
}

static PGresult *one_row(struct mt_req *req, const char *run_id, struct mt_err *err)
{
	const char *ids[1] = { run_id };
	const char *arr = db_array_text(req->arena, ids, 1);
	PGresult *r = db_exec(req, "run_rows", 1, &arr, err);

	if (r && PQntuples(r) == 0) {
		mt_err_set(err, MT_ENOTFOUND, "Run with id=%s not found", run_id);
		return NULL;
	}
	return r;
}

int sql_runs_get(struct mt_req *req, const char *run_id, json_t **out, struct mt_err *err)
{
	PGresult *r = one_row(req, run_id, err);
	json_t *list;

	if (!r)
		return -1;
	list = req_own(req, json_array());
	if (sql_runs_fill(req, r, list, err))
		return -1;
	*out = json_array_get(list, 0);
	return 0;
}

int sql_runs_info(struct mt_req *req, const char *run_id, json_t **out, struct mt_err *err)
{
	PGresult *r = one_row(req, run_id, err);

	if (!r)
		return -1;
	*out = req_own(req, info_row(r, 0));
	return 0;
}

int sql_runs_insert(struct mt_req *req, const struct run_new *r, struct mt_err *err)
{
	const char *v[6] = {
		r->run_id, r->experiment_id, r->name, r->user_id ? r->user_id : "",
		r->has_start ? mt_arena_printf(req->arena, "%lld", r->start_time) : NULL,
		r->artifact_uri,
	};

	return db_exec(req, "run_insert", 6, v, err) ? 0 : -1;
}

static int stage(struct mt_req *req, const char *stmt, const char *run_id, const char **out,
		 struct mt_err *err)
{
	PGresult *r = db_exec(req, stmt, 1, &run_id, err);

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return mt_err_set(err, MT_ENOTFOUND, "Run with id=%s not found", run_id);
	*out = PQgetvalue(r, 0, 0);
	return 0;
}

int sql_runs_stage(struct mt_req *req, const char *run_id, const char **out, struct mt_err *err)
{
	return stage(req, "run_stage", run_id, out, err);
}

int sql_runs_stage_for_points(struct mt_req *req, const char *run_id, const char **out,
			      const char **experiment_id, struct mt_err *err)
{
	PGresult *r = db_exec(req, "run_stage_for_points", 1, &run_id, err);

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return mt_err_set(err, MT_ENOTFOUND, "Run with id=%s not found", run_id);
	*out = PQgetvalue(r, 0, 0);
	*experiment_id = PQgetvalue(r, 0, 1);
	return 0;
}

int sql_runs_experiment(struct mt_req *req, const char *run_id, const char **out,
			struct mt_err *err)
{
	PGresult *r = db_exec(req, "run_experiment", 1, &run_id, err);

	if (!r)
		return -1;
	*out = PQntuples(r) ? PQgetvalue(r, 0, 0) : "-1";
	return 0;
}

int sql_runs_experiments(struct mt_req *req, const char **run_ids, size_t n, const char **out,
			 struct mt_err *err)
{
	const char *v = db_array_text(req->arena, run_ids, n);
	PGresult *r = db_exec(req, "run_experiments", 1, &v, err);

	if (!r)
		return -1;
	*out = PQgetvalue(r, 0, 0);
	return 0;
}

int sql_runs_tag_locked(struct mt_req *req, const char *run_id, const char *key,
			const char **stage, const char **value, struct mt_err *err)
{
	const char *v[2] = { run_id, key };
	PGresult *r = db_exec(req, "run_lock", 1, v, err);

	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return mt_err_set(err, MT_ENOTFOUND, "Run with id=%s not found", run_id);
	*stage = PQgetvalue(r, 0, 0);
	if (!(r = db_exec(req, "run_tag_get", 2, v, err)))
		return -1;
	*value = PQntuples(r) ? PQgetvalue(r, 0, 0) : NULL;
	return 0;
}

int sql_runs_dataset_summaries(struct mt_req *req, const char **exp_ids, size_t n,
			       json_t *list, struct mt_err *err)
{
	const char *v[1];
	PGresult *r;

	if (sqlz_readable_experiments(req, exp_ids, &n, err))
		return -1;
	if (n == 0)
		return 0;
	v[0] = db_array_text(req->arena, exp_ids, n);
	r = db_exec(req, "run_dataset_summaries", 1, v, err);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *s = json_pack("{s:s,s:s,s:s}", "experiment_id", PQgetvalue(r, i, 0),
				      "name", PQgetvalue(r, i, 1), "digest", PQgetvalue(r, i, 2));

		if (!PQgetisnull(r, i, 3))
			json_object_set_new(s, "context", json_string(PQgetvalue(r, i, 3)));
		json_array_append_new(list, s);
	}
	return 0;
}

int sql_runs_update(struct mt_req *req, const char *run_id, const char *status,
		    const char *end_time, const char *name, struct mt_err *err)
{
	const char *v[4] = { run_id, status, end_time, name };

	if (!db_exec(req, "run_update", 4, v, err))
		return -1;
	if (name) {
		const char *k = "mlflow.runName";

		return sql_runs_set_tags(req, run_id, &k, &name, 1, err);
	}
	return 0;
}

int sql_runs_set_stage(struct mt_req *req, const char *run_id, const char *stage,
		       long long deleted_time, struct mt_err *err)
{
	const char *v[3] = { run_id, stage,
			     deleted_time ? mt_arena_printf(req->arena, "%lld", deleted_time) : NULL };

	return db_exec(req, "run_set_stage", 3, v, err) ? 0 : -1;
}

int sql_runs_log_params(struct mt_req *req, const char *run_id, const char **keys,
			const char **values, size_t n, struct mt_err *err)
{
	const char *v[3];
	PGresult *r;

	if (n == 0)
		return 0;
	v[0] = run_id;
	v[1] = db_array_text(req->arena, keys, n);
	v[2] = db_array_text(req->arena, values, n);
	if (!(r = db_exec(req, "run_params_log", 3, v, err)))
		return -1;
	if (PQntuples(r) > 0)
		return mt_err_set(err, MT_EINVAL,
				  "Changing param values is not allowed. Param with key='%s' was "
				  "already logged with value='%.500s' for run ID='%s'. Attempted "
				  "logging new value '%.500s'.", PQgetvalue(r, 0, 0),
				  PQgetvalue(r, 0, 1), run_id, PQgetvalue(r, 0, 2));
	return 0;
}

int sql_runs_set_tags(struct mt_req *req, const char *run_id, const char **keys,
		      const char **values, size_t n, struct mt_err *err)
{
	const char *v[3];

	if (n == 0)
		return 0;
	v[0] = run_id;
	v[1] = db_array_text(req->arena, keys, n);
	v[2] = db_array_text(req->arena, values, n);
	if (!db_exec(req, "run_tags_set", 3, v, err))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(keys[i], "mlflow.runName") == 0) {
			const char *rv[2] = { run_id, values[i] };

			if (!db_exec(req, "run_rename", 2, rv, err))
				return -1;
		}
	}
	return 0;
}

int sql_runs_delete_tag(struct mt_req *req, const char *run_id, const char *key,
			struct mt_err *err)
{
	const char *v[2] = { run_id, key };
	PGresult *r = db_exec(req, "run_tag_delete", 2, v, err);

	if (!r)
		return -1;
	if (strcmp(PQcmdTuples(r), "0") == 0)
		return mt_err_set(err, MT_ENOTFOUND, "No tag with name: %s in run with id %s",
				  key, run_id);
	return 0;
}

/* Batches at least this big go in without ON CONFLICT (run_metrics_ins),
 * then latest_metrics; a smaller one writes both in one statement
 * (run_metrics_log), one round trip fewer. */
#define PLAIN_MIN_POINTS 32

/* A point; mi, dn, dd are MLflow 3's model_id, dataset_name and
 * dataset_digest, NULL when unset (always in a batch without them). */
struct point {
	const char *key;
	long long step, ts;
	double value;
	const char *mi, *dn, *dd;
};

/* PostgreSQL's float8 order: NaN above everything and equal to itself. */
static int dbl_cmp(double a, double b)
{
	if (isnan(a))
		return isnan(b) ? 0 : 1;
	if (isnan(b))
		return -1;
	return (a > b) - (a < b);
}

/* The history's key order: (key, step, timestamp, value). */
static int point_cmp(const void *pa, const void *pb)
{
	const struct point *a = pa, *b = pb;
	int c = strcmp(a->key, b->key);

	if (c)
		return c;
	if (a->step != b->step)
		return a->step < b->step ? -1 : 1;
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return dbl_cmp(a->value, b->value);
}

/* NULL after any string. */
static int opt_cmp(const char *a, const char *b)
{
	if (!a || !b)
		return !a - !b;
	return strcmp(a, b);
}

/* point_cmp, then the fields: of the copies of one point in a batch, the
 * one that carries the most comes first and is the one stored, whatever
 * order the batch had. */
static int point_x_cmp(const void *pa, const void *pb)
{
	const struct point *a = pa, *b = pb;
	int c = point_cmp(a, b);

	if (!c)
		c = opt_cmp(a->mi, b->mi);
	if (!c)
		c = opt_cmp(a->dn, b->dn);
	if (!c)
		c = opt_cmp(a->dd, b->dd);
	return c;
}

static const char *f64_text(char *buf, size_t size, double v)
{
	if (isnan(v))
		return "NaN";
	snprintf(buf, size, "%.17g", v);
	return buf;
}

/* out[0..5): run_id, then the keys, steps, timestamps and values of
 * p[0..n) as arrays in binary format (arena memory). */
static void points_params(struct mt_req *req, struct db_param *out, const char *run_id,
			  const struct point *p, size_t n)
{
	const char **keys = mt_arena_alloc(req->arena, sizeof(char *) * n);
	long long *steps = mt_arena_alloc(req->arena, sizeof(long long) * n);
	long long *ts = mt_arena_alloc(req->arena, sizeof(long long) * n);
	double *vals = mt_arena_alloc(req->arena, sizeof(double) * n);

	for (size_t i = 0; i < n; i++) {
		keys[i] = p[i].key;
		steps[i] = p[i].step;
		ts[i] = p[i].ts;
		vals[i] = p[i].value;
	}
	out[0] = (struct db_param){ run_id, 0, 0 };
	out[1] = db_bin_text(req->arena, keys, n);
	out[2] = db_bin_i64(req->arena, steps, n);
	out[3] = db_bin_i64(req->arena, ts, n);
	out[4] = db_bin_f64(req->arena, vals, n);
}

/* Statement stmt (run_metrics_log or run_metrics_ins, with x their _x
 * forms) on the points p[0..n). */
static int exec_points(struct mt_req *req, const char *stmt, const char *run_id,
		       const char *exp, const struct point *p, size_t n, int x, struct mt_err *err)
{
	struct db_param v[9];

	points_params(req, v, run_id, p, n);
	if (x) {
		const char **mi = mt_arena_alloc(req->arena, sizeof(char *) * n);
		const char **dn = mt_arena_alloc(req->arena, sizeof(char *) * n);
		const char **dd = mt_arena_alloc(req->arena, sizeof(char *) * n);

		for (size_t i = 0; i < n; i++) {
			mi[i] = p[i].mi;
			dn[i] = p[i].dn;
			dd[i] = p[i].dd;
		}
		v[5] = db_bin_text(req->arena, mi, n);
		v[6] = db_bin_text(req->arena, dn, n);
		v[7] = db_bin_text(req->arena, dd, n);
	}
	v[x ? 8 : 5] = (struct db_param){ exp, 0, 0 };
	return db_exec_bin(req, stmt, x ? 9 : 6, v, err) ? 0 : -1;
}

/* The latest point per key of a batch already in history (last[i]), and
 * the first step of each key in the batch (lo[i]). */
static int log_latest(struct mt_req *req, const char *run_id, const char *exp,
		      const struct point *last, const long long *lo, size_t n, struct mt_err *err)
{
	struct db_param v[7];

	points_params(req, v, run_id, last, n);
	v[5] = db_bin_i64(req->arena, lo, n);
	v[6] = (struct db_param){ exp, 0, 0 };
	return db_exec_bin(req, "run_latest_log", 7, v, err) ? 0 : -1;
}

/* What a batch's points with MLflow 3's fields add besides history: the
 * series that hold such points, and each point with a model_id as a row
 * of the model's metrics (every copy of it, one per model). */
static int log_extras(struct mt_req *req, const char *run_id, const struct metric_batch *m,
		      struct mt_err *err)
{
	const char **xkeys = mt_arena_alloc(req->arena, sizeof(char *) * m->n);
	const char **mi = mt_arena_alloc(req->arena, sizeof(char *) * m->n);
	const char **k = mt_arena_alloc(req->arena, sizeof(char *) * m->n);
	long long *t = mt_arena_alloc(req->arena, sizeof(long long) * m->n);
	long long *st = mt_arena_alloc(req->arena, sizeof(long long) * m->n);
	double *val = mt_arena_alloc(req->arena, sizeof(double) * m->n);
	const char **dn = mt_arena_alloc(req->arena, sizeof(char *) * m->n);
	const char **dd = mt_arena_alloc(req->arena, sizeof(char *) * m->n);
	size_t nx = 0, nm = 0;

	for (size_t i = 0; i < m->n; i++) {
		int dup = 0;

		if (!m->model_ids[i] && !m->ds_names[i] && !m->ds_digests[i])
			continue;
		for (size_t j = 0; j < nx && !dup; j++)
			dup = strcmp(xkeys[j], m->keys[i]) == 0;
		if (!dup)
			xkeys[nx++] = m->keys[i];
		if (!m->model_ids[i])
			continue;
		mi[nm] = m->model_ids[i];
		k[nm] = m->keys[i];
		t[nm] = m->timestamps[i];
		st[nm] = m->steps[i];
		val[nm] = m->values[i];
		dn[nm] = m->ds_names[i];
		dd[nm] = m->ds_digests[i];
		nm++;
	}
	if (nx) {
		const char *v[2] = { run_id, db_array_text(req->arena, xkeys, nx) };

		if (!db_exec(req, "run_extra_keys", 2, v, err))
			return -1;
	}
	if (nm) {
		const char *v[8] = { run_id, db_array_text(req->arena, mi, nm),
				     db_array_text(req->arena, k, nm), db_array_i64(req->arena, t, nm),
				     db_array_i64(req->arena, st, nm), db_array_f64(req->arena, val, nm),
				     db_array_text(req->arena, dn, nm), db_array_text(req->arena, dd, nm) };

		if (!db_exec(req, "run_model_metrics_log", 8, v, err))
			return -1;
	}
	return 0;
}

/*
 * History first, then latest_metrics.  Points are sorted and de-duplicated
 * here, so every batch writes rows in the same order (concurrent batches to
 * one run cannot deadlock) and the latest point per key is the last of its
 * group.  The points go as arrays in binary format (nothing formatted here
 * or parsed by PostgreSQL).  Big batches are inserted without ON CONFLICT;
 * if a point is already stored (a replayed batch), the statement fails and
 * the request's transaction runs again with INSERT ... ON CONFLICT DO
 * NOTHING for the points (req->points_insert).  Not COPY: PostgreSQL 15's
 * COPY pins the table's descriptor once per buffered row in a resource
 * owner that finds each pin by a linear probe, which is quadratic per
 * statement and cost it more CPU per 1000-point batch than this INSERT
 * does (docs/PERFORMANCE.md).  A batch with MLflow 3's fields takes the
 * same path with three more columns (a batch without them is written
 * exactly as before they existed), then log_extras.  Must run inside the
 * request's transaction.
 */
int sql_runs_log_metrics(struct mt_req *req, const char *run_id, const char *experiment_id,
			 const struct metric_batch *m, struct mt_err *err)
{
	struct point *p, *last;
	long long *lo;
	size_t n = 0, nlast = 0;
	int x = m->model_ids != NULL;
	const char *ins = x ? "run_metrics_log_x" : "run_metrics_log";

	if (m->n == 0)
		return 0;
	p = mt_arena_alloc(req->arena, sizeof(*p) * m->n);
	for (size_t i = 0; i < m->n; i++)
		p[i] = (struct point){ m->keys[i], m->steps[i], m->timestamps[i], m->values[i],
				       x ? m->model_ids[i] : NULL, x ? m->ds_names[i] : NULL,
				       x ? m->ds_digests[i] : NULL };
	qsort(p, m->n, sizeof(*p), x ? point_x_cmp : point_cmp);
	for (size_t i = 0; i < m->n; i++)
		if (n == 0 || point_cmp(&p[n - 1], &p[i]) != 0)
			p[n++] = p[i];

	if (n < PLAIN_MIN_POINTS || req->points_insert) {
		if (exec_points(req, ins, run_id, experiment_id, p, n, x, err))
			return -1;
		return x ? log_extras(req, run_id, m, err) : 0;
	}
	if (exec_points(req, x ? "run_metrics_ins_x" : "run_metrics_ins", run_id, experiment_id, p,
			n, x, err)) {
		/* A point already stored (a batch sent again): the whole
		 * transaction runs again (http_txn), with INSERT ... ON CONFLICT
		 * DO NOTHING for the points.  Cheaper than ON CONFLICT's
		 * speculative insertion of every point, or a savepoint, for
		 * what only a replay needs. */
		if (err->code == MT_EEXISTS && req->in_txn) {
			req->points_insert = 1;
			req->retry_expected = 1;
			err->retryable = 1;
		}
		return -1;
	}
	last = mt_arena_alloc(req->arena, sizeof(*last) * n);
	lo = mt_arena_alloc(req->arena, sizeof(*lo) * n);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcmp(p[i].key, p[i - 1].key) != 0)
			lo[nlast] = p[i].step; /* the key's first step: its dirty range's start */
		if (i + 1 == n || strcmp(p[i].key, p[i + 1].key) != 0)
			last[nlast++] = p[i];
	}
	if (log_latest(req, run_id, experiment_id, last, lo, nlast, err))
		return -1;
	return x ? log_extras(req, run_id, m, err) : 0;
}

int sql_runs_log_metric_one(struct mt_req *req, const char *run_id, const char *key,
			    long long step, long long ts, double value, const char *model_id,
			    const char *ds_name, const char *ds_digest, const char **stage,
			    int *model_found, struct mt_err *err)
{
	char num[32];
	const char *v[8] = { run_id, key, mt_arena_printf(req->arena, "%lld", step),
			     mt_arena_printf(req->arena, "%lld", ts), NULL, model_id, ds_name,
			     ds_digest };
	int x = model_id || ds_name || ds_digest;
	PGresult *r;

	v[4] = mt_arena_strdup(req->arena, f64_text(num, sizeof(num), value));
	if (!(r = db_exec(req, x ? "run_metric_log_one_x" : "run_metric_log_one", x ? 8 : 5, v,
			  err)))
		return -1;
	if (PQntuples(r) == 0)
		return mt_err_set(err, MT_ENOTFOUND, "Run with id=%s not found", run_id);
	*stage = PQgetvalue(r, 0, 0);
	*model_found = !x || strcmp(PQgetvalue(r, 0, 1), "t") == 0;
	return 0;
}

int sql_runs_log_outputs(struct mt_req *req, const char *run_id, const char **model_ids,
			 const long long *steps, size_t n, struct mt_err *err)
{
	const char *v[3] = { run_id, db_array_text(req->arena, model_ids, n),
			     db_array_i64(req->arena, steps, n) };

	return n == 0 || db_exec(req, "run_outputs_log", 3, v, err) ? 0 : -1;
}

int sql_runs_log_model_inputs(struct mt_req *req, const char *run_id, const char **model_ids,
			      size_t n, struct mt_err *err)
{
	const char *v[2] = { run_id, db_array_text(req->arena, model_ids, n) };

	return n == 0 || db_exec(req, "run_model_inputs_log", 2, v, err) ? 0 : -1;
}

int sql_runs_log_input(struct mt_req *req, const char *run_id, json_t *dataset,
		       const char **tag_keys, const char **tag_values, size_t ntags,
		       struct mt_err *err)
{
	const char *v[7] = { run_id };
	static const char *const fields[6] = { "name", "digest", "source_type", "source",
					       "schema", "profile" };
	PGresult *r;
	const char *dsid;

	for (int i = 0; i < 6; i++) {
		json_t *f = json_object_get(dataset, fields[i]);

		v[i + 1] = json_is_string(f) ? json_string_value(f) : NULL;
	}
	if (!(r = db_exec(req, "run_dataset_upsert", 7, v, err)))
		return -1;
	if (PQntuples(r) == 1) {
		dsid = PQgetvalue(r, 0, 0);
	} else {
		const char *q[3] = { run_id, v[1], v[2] };

		if (!(r = db_exec(req, "run_dataset_id", 3, q, err)))
			return -1;
		if (PQntuples(r) != 1)
			return mt_err_set(err, MT_EINTERNAL, "dataset vanished while logging");
		dsid = PQgetvalue(r, 0, 0);
	}
	if (ntags) {
		const char *t[4] = { run_id, dsid, db_array_text(req->arena, tag_keys, ntags),
				     db_array_text(req->arena, tag_values, ntags) };

		if (!db_exec(req, "run_input_tags_set", 4, t, err))
			return -1;
	}
	return 0;
}
