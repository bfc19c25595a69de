/* sql_runs.c: all SQL about runs and what is logged to them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_filter.h"
#include "mt_json.h"
#include "sql_authz.h"
#include "sql_experiments.h"
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

#define RUN_COLS "r.run_id, r.experiment_id, r.name, r.user_id, r.status, r.start_time, " \
		 "r.end_time, r.artifact_uri, r.lifecycle_stage"

static const struct db_stmt stmts[] = {
	{ "run_insert",
	  "INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time, artifact_uri) "
	  "VALUES ($1, $2, $3, $4, 'RUNNING', $5, $6)" },
	{ "run_rows", "SELECT " RUN_COLS " FROM runs r WHERE r.run_id = ANY($1::text[])" },
	{ "run_params",
	  "SELECT run_id, key, value FROM params WHERE run_id = ANY($1::text[]) ORDER BY run_id, key" },
	{ "run_tags",
	  "SELECT run_id, key, value FROM tags WHERE run_id = ANY($1::text[]) ORDER BY run_id, key" },
	{ "run_latest",
	  "SELECT run_id, key, value, timestamp, step FROM latest_metrics "
	  "WHERE run_id = ANY($1::text[]) ORDER BY run_id, key" },
	{ "run_inputs",
	  "SELECT ri.run_id, d.dataset_id, d.name, d.digest, d.source_type, d.source, d.schema, d.profile "
	  "FROM run_inputs ri JOIN datasets d USING (dataset_id) "
	  "WHERE ri.run_id = ANY($1::text[]) ORDER BY ri.run_id, d.dataset_id" },
	{ "run_input_tags",
	  "SELECT run_id, dataset_id, key, value FROM run_input_tags "
	  "WHERE run_id = ANY($1::text[]) ORDER BY run_id, dataset_id, key" },
	{ "run_stage", "SELECT lifecycle_stage FROM runs WHERE run_id = $1" },
	/* Before writing points: metrics has no foreign key to runs (it cost
	 * a lookup and a lock per point; migration 0010), so the writer holds
	 * the run's row until it commits, once per batch. */
	{ "run_stage_for_points", "SELECT lifecycle_stage FROM runs WHERE run_id = $1 FOR KEY SHARE" },
	{ "run_update",
	  "UPDATE runs SET status = COALESCE($2, status), end_time = COALESCE($3::bigint, end_time), "
	  "name = COALESCE($4, name) WHERE run_id = $1" },
	{ "run_set_stage",
	  "UPDATE runs SET lifecycle_stage = $2, deleted_time = $3::bigint WHERE run_id = $1" },
	{ "run_params_log",
	  "WITH t AS (SELECT * FROM unnest($2::text[], $3::text[]) AS t(k, v)), "
	  "ins AS (INSERT INTO params (run_id, key, value) SELECT $1, k, v FROM t ORDER BY k "
	  "        ON CONFLICT (run_id, key) DO NOTHING) "
	  "SELECT t.k, p.value, t.v FROM t JOIN params p ON p.run_id = $1 AND p.key = t.k "
	  "WHERE p.value <> t.v" },
	{ "run_tags_set",
	  "INSERT INTO tags (run_id, key, value) "
	  "SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v) ORDER BY k "
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
	 * in the same order and cannot deadlock. */
	{ "run_metrics_log",
	  "WITH u AS (SELECT * FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[]) "
	  "           AS u(k, s, t, v)), "
	  "h AS (INSERT INTO metrics (run_id, key, step, timestamp, value) "
	  "      SELECT $1, k, s, t, v FROM u ORDER BY k, s, t, v ON CONFLICT DO NOTHING) "
	  "INSERT INTO latest_metrics AS l (run_id, key, step, timestamp, value, dirty_lo, dirty_hi) "
	  "SELECT DISTINCT ON (k) $1, k, s, t, v, min(s) OVER (PARTITION BY k), s FROM u "
	  "ORDER BY k, s DESC, t DESC, v DESC "
	  "ON CONFLICT (run_id, key) DO UPDATE SET " LATEST_MERGE },
	/* The latest point per key of a batch already in history (COPY path). */
	{ "run_latest_log",
	  "INSERT INTO latest_metrics AS l (run_id, key, step, timestamp, value, dirty_lo, dirty_hi) "
	  "SELECT $1, k, s, t, v, lo, s FROM unnest($2::text[], $3::bigint[], $4::bigint[], "
	  "$5::float8[], $6::bigint[]) AS u(k, s, t, v, lo) ORDER BY k "
	  "ON CONFLICT (run_id, key) DO UPDATE SET " LATEST_MERGE },
	/* One point, one statement, no explicit transaction: the run check and
	 * both writes are atomic as a single statement.  Returns the run's
	 * stage (no row: no such run); nothing is written unless active. */
	{ "run_metric_log_one",
	  "WITH r AS (SELECT lifecycle_stage FROM runs WHERE run_id = $1 FOR KEY SHARE), "
	  "ok AS (SELECT 1 FROM r WHERE lifecycle_stage = 'active'), "
	  "h AS (INSERT INTO metrics (run_id, key, step, timestamp, value) "
	  "      SELECT $1, $2, $3, $4, $5 FROM ok ON CONFLICT DO NOTHING), "
	  "l AS (INSERT INTO latest_metrics AS l (run_id, key, step, timestamp, value, dirty_lo, "
	  "      dirty_hi) SELECT $1, $2, $3, $4, $5, $3, $3 FROM ok "
	  "      ON CONFLICT (run_id, key) DO UPDATE SET " LATEST_MERGE ") "
	  "SELECT lifecycle_stage FROM r" },
	/* The same for a point carrying MLflow 3's fields ($6 model_id, $7
	 * dataset_name, $8 dataset_digest, any of them NULL): nothing is
	 * written unless the model exists too; the history keeps the point
	 * as first logged, the model gets its own row. */
	{ "run_metric_log_one_x",
	  "WITH r AS (SELECT lifecycle_stage FROM runs WHERE run_id = $1 FOR KEY SHARE), "
	  "lm AS (SELECT 1 FROM logged_models WHERE model_id = $6::text), "
	  "ok AS (SELECT 1 FROM r WHERE lifecycle_stage = 'active' "
	  "       AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM lm))), "
	  "h AS (INSERT INTO metrics (run_id, key, step, timestamp, value, model_id, dataset_name, "
	  "      dataset_digest) SELECT $1, $2, $3::bigint, $4::bigint, $5::float8, $6::text, "
	  "      $7::text, $8::text FROM ok ON CONFLICT DO NOTHING), "
	  "l AS (INSERT INTO latest_metrics AS l (run_id, key, step, timestamp, value, dirty_lo, "
	  "      dirty_hi) SELECT $1, $2, $3::bigint, $4::bigint, $5::float8, $3::bigint, $3::bigint "
	  "      FROM ok "
	  "      ON CONFLICT (run_id, key) DO UPDATE SET " LATEST_MERGE "), "
	  "x AS (INSERT INTO metric_extra_keys (run_id, key) SELECT $1, $2 FROM ok "
	  "      ON CONFLICT DO NOTHING), "
	  "mm AS (INSERT INTO logged_model_metrics (model_id, key, timestamp, step, run_id, value, "
	  "       dataset_name, dataset_digest) SELECT $6::text, $2, $4::bigint, $3::bigint, $1, "
	  "       $5::float8, $7::text, $8::text FROM ok WHERE $6::text IS NOT NULL "
	  "       ON CONFLICT DO NOTHING) "
	  "SELECT lifecycle_stage, $6::text IS NULL OR EXISTS (SELECT 1 FROM lm) FROM r" },
	/* A batch's history and latest values when some of its points carry
	 * MLflow 3's fields (run_metrics_log with three more arrays). */
	{ "run_metrics_log_x",
	  "WITH u AS (SELECT * FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[], "
	  "           $6::text[], $7::text[], $8::text[]) AS u(k, s, t, v, mi, dn, dd)), "
	  "h AS (INSERT INTO metrics (run_id, key, step, timestamp, value, model_id, dataset_name, "
	  "      dataset_digest) SELECT $1, k, s, t, v, mi, dn, dd FROM u ORDER BY k, s, t, v "
	  "      ON CONFLICT DO NOTHING) "
	  "INSERT INTO latest_metrics AS l (run_id, key, step, timestamp, value, dirty_lo, dirty_hi) "
	  "SELECT DISTINCT ON (k) $1, k, s, t, v, min(s) OVER (PARTITION BY k), s FROM u "
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

const struct db_stmt_table sql_runs_table = { stmts, sizeof(stmts) / sizeof(stmts[0]) };

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

/* Build Run objects for the rows of `rows` (RUN_COLS) into list, in order,
 * then fill their data and inputs with one query per child table. */
static int fill_runs(struct mt_req *req, PGresult *rows, json_t *list, struct mt_err *err)
{
	int n = PQntuples(rows);
	const char **ids;
	const char *arr;
	json_t *byid;
	PGresult *r, *models;

	if (n == 0)
		return 0;
	ids = mt_arena_alloc(req->arena, sizeof(*ids) * (size_t)n);
	byid = req_own(req, json_object());
	for (int i = 0; i < n; i++) {
		json_t *run = json_object();

		ids[i] = PQgetvalue(rows, i, 0);
		json_object_set_new(run, "info", info_row(rows, i));
		json_object_set_new(run, "data", json_object());
		json_object_set_new(run, "inputs", json_object());
		json_object_set_new(run, "outputs", json_object());
		json_object_set(byid, ids[i], run);
		json_array_append_new(list, run);
	}
	arr = db_array_text(req->arena, ids, (size_t)n);

	if (!(r = db_exec(req, "run_latest", 1, &arr, err)))
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *data = json_object_get(json_object_get(byid, PQgetvalue(r, i, 0)), "data");

		json_array_append_new(list_in(data, "metrics"),
				      sql_metric_json(PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
						      PQgetvalue(r, i, 3), PQgetvalue(r, i, 4)));
	}
	for (int pass = 0; pass < 2; pass++) {
		const char *field = pass ? "tags" : "params";

		if (!(r = db_exec(req, pass ? "run_tags" : "run_params", 1, &arr, err)))
			return -1;
		for (int i = 0; i < PQntuples(r); i++) {
			json_t *data = json_object_get(json_object_get(byid, PQgetvalue(r, i, 0)), "data");

			json_array_append_new(list_in(data, field),
					      json_pack("{s:s,s:s}", "key", PQgetvalue(r, i, 1),
							"value", PQgetvalue(r, i, 2)));
		}
	}
	/* MLflow 3: the models a run produced (outputs) and used (inputs,
	 * after its datasets below, in the proto's order). */
	if (!(models = db_exec(req, "run_models", 1, &arr, err)))
		return -1;
	for (int i = 0; i < PQntuples(models); i++) {
		json_t *out = json_object_get(json_object_get(byid, PQgetvalue(models, i, 0)),
					      "outputs");

		if (PQgetisnull(models, i, 2))
			continue;
		json_array_append_new(list_in(out, "model_outputs"),
				      json_pack("{s:s,s:I}", "model_id", PQgetvalue(models, i, 1),
						"step", (json_int_t)atoll(PQgetvalue(models, i, 2))));
	}
	if (!(r = db_exec(req, "run_inputs", 1, &arr, err)))
		return -1;
	if (PQntuples(r)) {
		PGresult *t = db_exec(req, "run_input_tags", 1, &arr, err);
		json_t *byds = req_own(req, json_object());

		if (!t)
			return -1;
		for (int i = 0; i < PQntuples(r); i++) {
			json_t *inputs = json_object_get(json_object_get(byid, PQgetvalue(r, i, 0)),
							 "inputs");
			json_t *ds = json_object(), *di = json_object();

			json_object_set_new(ds, "name", json_string(PQgetvalue(r, i, 2)));
			json_object_set_new(ds, "digest", json_string(PQgetvalue(r, i, 3)));
			json_object_set_new(ds, "source_type", json_string(PQgetvalue(r, i, 4)));
			json_object_set_new(ds, "source", json_string(PQgetvalue(r, i, 5)));
			if (!PQgetisnull(r, i, 6))
				json_object_set_new(ds, "schema", json_string(PQgetvalue(r, i, 6)));
			if (!PQgetisnull(r, i, 7))
				json_object_set_new(ds, "profile", json_string(PQgetvalue(r, i, 7)));
			json_object_set_new(di, "dataset", ds);
			json_array_append_new(list_in(inputs, "dataset_inputs"), di);
			json_object_set(byds, mt_arena_printf(req->arena, "%s/%s", PQgetvalue(r, i, 0),
							      PQgetvalue(r, i, 1)), di);
		}
		for (int i = 0; i < PQntuples(t); i++) {
			json_t *di = json_object_get(byds, mt_arena_printf(req->arena, "%s/%s",
									   PQgetvalue(t, i, 0),
									   PQgetvalue(t, i, 1)));

			if (di)
				json_array_append_new(list_in(di, "tags"),
						      json_pack("{s:s,s:s}", "key", PQgetvalue(t, i, 2),
								"value", PQgetvalue(t, i, 3)));
		}
	}
	for (int i = 0; i < PQntuples(models); i++) {
		json_t *in = json_object_get(json_object_get(byid, PQgetvalue(models, i, 0)),
					     "inputs");

		if (PQgetisnull(models, i, 2))
			json_array_append_new(list_in(in, "model_inputs"),
					      json_pack("{s:s}", "model_id", PQgetvalue(models, i, 1)));
	}
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
	if (fill_runs(req, r, list, err))
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
			      struct mt_err *err)
{
	return stage(req, "run_stage_for_points", run_id, out, err);
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

/* Batches at least this big go through COPY. */
#define COPY_MIN_POINTS 32
#define COPY_METRICS_SQL "COPY metrics (run_id, key, step, timestamp, value) FROM STDIN"
#define COPY_METRICS_X_SQL "COPY metrics (run_id, key, step, timestamp, value, model_id, " \
			   "dataset_name, dataset_digest) FROM STDIN"

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

/* s into out as a COPY text field ("\N" for NULL); returns the length. */
static size_t copy_field(char *out, const char *s)
{
	size_t off = 0;

	if (!s) {
		memcpy(out, "\\N", 2);
		return 2;
	}
	for (; *s; s++) {
		switch (*s) {
		case '\\': out[off++] = '\\'; out[off++] = '\\'; break;
		case '\t': out[off++] = '\\'; out[off++] = 't'; break;
		case '\n': out[off++] = '\\'; out[off++] = 'n'; break;
		case '\r': out[off++] = '\\'; out[off++] = 'r'; break;
		default: out[off++] = *s;
		}
	}
	return off;
}

/* COPY text format: run_id, key, step, timestamp, value per line, and
 * with x the three fields of MLflow 3. */
static char *copy_text(struct mt_arena *a, const char *run_id, const struct point *p, size_t n,
		       int x, size_t *len)
{
	size_t cap = 0, off = 0;
	char *out;

	for (size_t i = 0; i < n; i++) {
		cap += strlen(run_id) + 2 * strlen(p[i].key) + 80;
		if (x)
			cap += 2 * ((p[i].mi ? strlen(p[i].mi) : 0) + (p[i].dn ? strlen(p[i].dn) : 0) +
				    (p[i].dd ? strlen(p[i].dd) : 0)) + 12;
	}
	out = mt_arena_alloc(a, cap + 1);
	for (size_t i = 0; i < n; i++) {
		char num[32];

		off += (size_t)sprintf(out + off, "%s\t", run_id);
		off += copy_field(out + off, p[i].key);
		off += (size_t)sprintf(out + off, "\t%lld\t%lld\t%s", p[i].step, p[i].ts,
				       f64_text(num, sizeof(num), p[i].value));
		if (x) {
			out[off++] = '\t';
			off += copy_field(out + off, p[i].mi);
			out[off++] = '\t';
			off += copy_field(out + off, p[i].dn);
			out[off++] = '\t';
			off += copy_field(out + off, p[i].dd);
		}
		out[off++] = '\n';
	}
	*len = off;
	return out;
}

static int exec_points(struct mt_req *req, const char *stmt, const char *run_id,
		       const struct point *p, size_t n, int x, struct mt_err *err)
{
	const char **keys = mt_arena_alloc(req->arena, sizeof(char *) * n);
	long long *steps = mt_arena_alloc(req->arena, sizeof(long long) * n);
	long long *ts = mt_arena_alloc(req->arena, sizeof(long long) * n);
	double *vals = mt_arena_alloc(req->arena, sizeof(double) * n);
	const char **mi = NULL, **dn = NULL, **dd = NULL;
	const char *v[8];

	if (x) {
		mi = mt_arena_alloc(req->arena, sizeof(char *) * n);
		dn = mt_arena_alloc(req->arena, sizeof(char *) * n);
		dd = mt_arena_alloc(req->arena, sizeof(char *) * n);
	}
	for (size_t i = 0; i < n; i++) {
		keys[i] = p[i].key;
		steps[i] = p[i].step;
		ts[i] = p[i].ts;
		vals[i] = p[i].value;
		if (x) {
			mi[i] = p[i].mi;
			dn[i] = p[i].dn;
			dd[i] = p[i].dd;
		}
	}
	v[0] = run_id;
	v[1] = db_array_text(req->arena, keys, n);
	v[2] = db_array_i64(req->arena, steps, n);
	v[3] = db_array_i64(req->arena, ts, n);
	v[4] = db_array_f64(req->arena, vals, n);
	if (x) {
		v[5] = db_array_text(req->arena, mi, n);
		v[6] = db_array_text(req->arena, dn, n);
		v[7] = db_array_text(req->arena, dd, n);
	}
	return db_exec(req, stmt, x ? 8 : 5, v, err) ? 0 : -1;
}

/* The latest point per key of a batch already in history (last[i]), and
 * the first step of each key in the batch (lo[i]). */
static int log_latest(struct mt_req *req, const char *run_id, const struct point *last,
		      const long long *lo, size_t n, struct mt_err *err)
{
	const char **keys = mt_arena_alloc(req->arena, sizeof(char *) * n);
	long long *steps = mt_arena_alloc(req->arena, sizeof(long long) * n);
	long long *ts = mt_arena_alloc(req->arena, sizeof(long long) * n);
	double *vals = mt_arena_alloc(req->arena, sizeof(double) * n);
	const char *v[6];

	for (size_t i = 0; i < n; i++) {
		keys[i] = last[i].key;
		steps[i] = last[i].step;
		ts[i] = last[i].ts;
		vals[i] = last[i].value;
	}
	v[0] = run_id;
	v[1] = db_array_text(req->arena, keys, n);
	v[2] = db_array_i64(req->arena, steps, n);
	v[3] = db_array_i64(req->arena, ts, n);
	v[4] = db_array_f64(req->arena, vals, n);
	v[5] = db_array_i64(req->arena, lo, n);
	return db_exec(req, "run_latest_log", 6, v, err) ? 0 : -1;
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
 * group.  Big batches go through COPY inside a savepoint, which is as fast as
 * PostgreSQL can load rows; if a point is already stored (a replayed batch),
 * the savepoint is rolled back and INSERT ... ON CONFLICT DO NOTHING writes
 * the rest.  A batch with MLflow 3's fields takes the same path with three
 * more columns (a batch without them is written exactly as before they
 * existed), then log_extras.  Must run inside the request's transaction.
 */
int sql_runs_log_metrics(struct mt_req *req, const char *run_id, const struct metric_batch *m,
			 struct mt_err *err)
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

	if (n < COPY_MIN_POINTS) {
		if (exec_points(req, ins, run_id, p, n, x, err))
			return -1;
		return x ? log_extras(req, run_id, m, err) : 0;
	}

	if (db_command(req->w, "SAVEPOINT metrics_copy", err))
		return -1;
	{
		size_t len;
		char *data = copy_text(req->arena, run_id, p, n, x, &len);

		if (db_copy_in(req, x ? COPY_METRICS_X_SQL : COPY_METRICS_SQL, data, len, err)) {
			struct mt_err rerr = MT_ERR_INIT;

			if (err->code != MT_EEXISTS ||
			    db_command(req->w, "ROLLBACK TO SAVEPOINT metrics_copy", &rerr))
				return -1;
			mt_err_clear(err);
			if (exec_points(req, ins, run_id, p, n, x, err))
				return -1;
			return x ? log_extras(req, run_id, m, err) : 0;
		}
	}
	if (db_command(req->w, "RELEASE SAVEPOINT metrics_copy", err))
		return -1;
	last = mt_arena_alloc(req->arena, sizeof(*last) * n);
	lo = mt_arena_alloc(req->arena, sizeof(*lo) * n);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcmp(p[i].key, p[i - 1].key) != 0)
			lo[nlast] = p[i].step; /* the key's first step: its dirty range's start */
		if (i + 1 == n || strcmp(p[i].key, p[i + 1].key) != 0)
			last[nlast++] = p[i];
	}
	if (log_latest(req, run_id, last, lo, nlast, err))
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

/* ---- runs/search ---- */
static const char *attr_col(const char *key)
{
	if (strcmp(key, "run_name") == 0)
		return "r.name";
	if (strcmp(key, "run_id") == 0)
		return "r.run_id";
	if (strcmp(key, "status") == 0)
		return "r.status";
	if (strcmp(key, "user_id") == 0)
		return "r.user_id";
	if (strcmp(key, "artifact_uri") == 0)
		return "r.artifact_uri";
	if (strcmp(key, "start_time") == 0 || strcmp(key, "created") == 0)
		return "r.start_time";
	if (strcmp(key, "end_time") == 0)
		return "r.end_time";
	return NULL;
}

static const char *child_table(int kind)
{
	return kind == MT_FK_METRIC ? "latest_metrics" : kind == MT_FK_PARAM ? "params" : "tags";
}

static int where_clause(struct sqlb *b, const struct mt_filter_clause *c, struct mt_err *err)
{
	if (c->kind == MT_FK_METRIC || c->kind == MT_FK_PARAM || c->kind == MT_FK_TAG) {
		return 0; /* joined in sql_runs_search */
	} else if (c->kind == MT_FK_ATTR) {
		const char *col = attr_col(c->key);

		if (!col)
			return mt_err_set(err, MT_EINVAL, "Invalid attribute key '%s'", c->key);
		if (c->op == MT_OP_IN || c->op == MT_OP_NOT_IN) {
			int v = sqlb_param(b, db_array_text(b->a, (const char *const *)c->list, c->nlist));

			sqlb_add(b, " AND %s%s = ANY($%d::text[])", c->op == MT_OP_NOT_IN ? "NOT " : "",
				 col, v);
		} else if (c->is_num) {
			sqlb_add(b, " AND %s %s %s", col, sqlb_op(c->op), sqlb_num(b, c));
		} else {
			int v = sqlb_param(b, c->str);

			sqlb_add(b, " AND %s %s $%d", col, sqlb_op(c->op), v);
		}
	} else {
		/* datasets.name / digest / context, compared with a value or a list */
		const char *cmp;
		int list = c->op == MT_OP_IN || c->op == MT_OP_NOT_IN;
		int v = sqlb_param(b, list ? db_array_text(b->a, (const char *const *)c->list, c->nlist)
					   : c->str ? c->str : "");
		const char *col = strcmp(c->key, "context") == 0 ? "it.value" :
				  strcmp(c->key, "digest") == 0 ? "d.digest" : "d.name";

		cmp = list ? mt_arena_printf(b->a, "%s%s = ANY($%d::text[])",
					     c->op == MT_OP_NOT_IN ? "NOT " : "", col, v)
			   : mt_arena_printf(b->a, "%s %s $%d", col, sqlb_op(c->op), v);
		if (strcmp(c->key, "context") == 0)
			sqlb_add(b, " AND EXISTS (SELECT 1 FROM run_input_tags it WHERE it.run_id = r.run_id "
				 "AND it.key = 'mlflow.data.context' AND %s)", cmp);
		else
			sqlb_add(b, " AND EXISTS (SELECT 1 FROM run_inputs ri JOIN datasets d USING "
				 "(dataset_id) WHERE ri.run_id = r.run_id AND %s)", cmp);
	}
	return 0;
}

/* Joins PostgreSQL may reorder freely (its join_collapse_limit is 8). */
#define SEARCH_FREE_JOINS 8

/* The first clause on clause i's metric, param or tag key. */
static size_t first_of_key(const struct mt_filter *f, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (f->clauses[j].kind == f->clauses[i].kind &&
		    strcmp(f->clauses[j].key, f->clauses[i].key) == 0)
			return j;
	return i;
}

/*
 * Metric, param and tag clauses become inner joins f<i> (one row per run: the
 * key is unique per run), so a run without the key never matches.  An
 * order_by on a metric that a clause already filters reuses that join and
 * orders by the plain value, which lets PostgreSQL walk the (key, value)
 * index and stop at the page size; other order keys are LEFT JOINs with
 * missing values (and NaN metrics) last in both directions.
 */
int sql_runs_search(struct mt_req *req, const char **exp_ids, size_t nexp,
		    const struct mt_filter *f, const struct mt_order_list *o, int view,
		    long long limit, long long offset, json_t *list, struct mt_err *err)
{
	struct sqlb b, ord;
	struct mt_err rerr = MT_ERR_INIT;
	PGresult *r;
	int named_start = 0, e, joins = 0;
	const char *from = "";

	/* Only the experiments the caller may read (the list is the caller's:
	 * an unreadable one is left out, as MLflow's auth plugin filters). */
	if (sqlz_readable_experiments(req, exp_ids, &nexp, err))
		return -1;
	if (nexp == 0)
		return 0;
	sqlb_init(&b, req->arena);
	sqlb_init(&ord, req->arena);
	for (size_t i = 0; i < f->n; i++) {
		const struct mt_filter_clause *c = &f->clauses[i];
		int k;

		if (c->kind != MT_FK_METRIC && c->kind != MT_FK_PARAM && c->kind != MT_FK_TAG)
			continue;
		/* One join per key: the clauses on a key it already joined are
		 * conditions of that join (a join is what costs the planner). */
		if (first_of_key(f, i) != i)
			continue;
		joins++;
		k = sqlb_param(&b, c->key);
		from = mt_arena_printf(req->arena, "%s JOIN %s f%zu ON f%zu.run_id = r.run_id "
				       "AND f%zu.key = $%d", from, child_table(c->kind), i, i, i, k);
		for (size_t j = i; j < f->n; j++) {
			const struct mt_filter_clause *cj = &f->clauses[j];
			int v;

			if (cj->kind != c->kind || strcmp(cj->key, c->key) != 0)
				continue;
			if (c->kind == MT_FK_METRIC) {
				v = sqlb_param(&b, mt_arena_printf(req->arena, "%.17g", cj->num));
				from = mt_arena_printf(req->arena, "%s AND f%zu.value <> 'NaN'::float8 "
						       "AND f%zu.value %s $%d::float8", from, i, i,
						       sqlb_op(cj->op), v);
			} else {
				v = sqlb_param(&b, cj->str);
				from = mt_arena_printf(req->arena, "%s AND f%zu.value %s $%d", from, i,
						       sqlb_op(cj->op), v);
			}
		}
	}
	for (size_t i = 0; o && i < o->n; i++) {
		const struct mt_order *it = &o->items[i];
		const char *dir = it->asc ? "ASC" : "DESC";
		size_t j;

		if (it->kind == MT_FK_ATTR) {
			const char *col = attr_col(it->key);

			if (!col)
				return mt_err_set(err, MT_EINVAL, "Invalid order_by key '%s'", it->key);
			if (strcmp(col, "r.start_time") == 0)
				named_start = 1;
			sqlb_add(&ord, "%s %s NULLS LAST, ", col, dir);
			continue;
		}
		for (j = 0; j < f->n; j++)
			if (f->clauses[j].kind == it->kind && strcmp(f->clauses[j].key, it->key) == 0)
				break;
		if (j < f->n) {
			/* Filtered: every row has a (non-NaN) value. */
			sqlb_add(&ord, "f%zu.value %s, ", j, dir);
			continue;
		}
		{
			int k = sqlb_param(&b, it->key);

			joins++;
			from = mt_arena_printf(req->arena, "%s LEFT JOIN %s o%zu ON o%zu.run_id = r.run_id "
					       "AND o%zu.key = $%d", from, child_table(it->kind), i, i, i, k);
		}
		if (it->kind == MT_FK_METRIC)
			sqlb_add(&ord, "(o%zu.value IS NULL), (o%zu.value = 'NaN'::float8), "
				 "o%zu.value %s, ", i, i, i, dir);
		else
			sqlb_add(&ord, "(o%zu.value IS NULL), o%zu.value %s, ", i, i, dir);
	}
	if (nexp == 1) {
		e = sqlb_param(&b, exp_ids[0]);
		b.sql = mt_arena_printf(req->arena, "SELECT " RUN_COLS " FROM runs r%s%s "
					"WHERE r.experiment_id = $%d::bigint", from, b.sql, e);
	} else {
		e = sqlb_param(&b, db_array_text(req->arena, exp_ids, nexp));
		b.sql = mt_arena_printf(req->arena, "SELECT " RUN_COLS " FROM runs r%s%s "
					"WHERE r.experiment_id = ANY($%d::bigint[])", from, b.sql, e);
	}
	sqlb_add(&b, "%s", view == 1 ? " AND r.lifecycle_stage = 'active'" :
			   view == 2 ? " AND r.lifecycle_stage = 'deleted'" : "");
	for (size_t i = 0; i < f->n; i++) {
		if (where_clause(&b, &f->clauses[i], err))
			return -1;
		joins += f->clauses[i].kind == MT_FK_DATASET; /* an EXISTS: a semi-join */
	}
	{
		int l = sqlb_param(&b, mt_arena_printf(req->arena, "%lld", limit));
		int of = sqlb_param(&b, mt_arena_printf(req->arena, "%lld", offset));

		sqlb_add(&b, " ORDER BY %s%sr.run_id ASC LIMIT $%d::bigint OFFSET $%d::bigint", ord.sql,
			 named_start ? "" : "r.start_time DESC NULLS LAST, ", l, of);
	}
	/* Many joins: PostgreSQL's join search over them grows much faster
	 * than their number (planning 20 key joins took 4 s, 30 took 15 s;
	 * docs/PERFORMANCE.md), so past a few the joins are planned in the
	 * order written, each one choosing its own method and side. */
	/* SET LOCAL in a transaction of its own (when the caller has none):
	 * a session setting would outlive the statement on a pooled
	 * connection, and on PgBouncer in transaction mode would reach another
	 * client's queries. */
	if (joins > SEARCH_FREE_JOINS) {
		int own = !req->in_txn;

		if (own && db_command(req->w, "BEGIN", err))
			return -1;
		r = db_command(req->w, "SET LOCAL join_collapse_limit = 1", err) ? NULL :
		    db_exec_sql(req, b.sql, b.n, b.params, err);
		if (own && db_command(req->w, r ? "COMMIT" : "ROLLBACK", r ? err : &rerr))
			return -1;
	} else {
		r = db_exec_sql(req, b.sql, b.n, b.params, err);
	}
	if (!r)
		return -1;
	return fill_runs(req, r, list, err);
}
