/*
 * monitor_alerts.c: monitoring alerts (issue 17 item 4, docs/monitoring.md
 * "Alerts"; migration 0016).
 *
 * A registered model's alert rules are gate rules with two more spaces,
 * drift.STAT(FEATURE) and live.KEY (lib/mt_gate.h, one parser for both):
 * `drift.psi(age) < 0.2`, `live.accuracy >= champion.metrics.val_acc - 0.03`.
 * They are checked once for each live window of each monitored version, when
 * the window closes: it has ended, and no observation came for the grace
 * period (--monitor-grace), so that a batch still on its way is counted.
 *
 * The check runs on a thread of every mltrackd (monitor_alerts_start), one
 * window per transaction: the window's row is claimed FOR UPDATE SKIP LOCKED
 * (so several servers never check one window twice, and ingest into it
 * waits), the rules are evaluated, and in the same transaction the window is
 * marked closed with its report and, when a rule failed, one monitor_alerts
 * row is written with the webhook event monitor_alert.fired (webhooks.h):
 * an alert fires exactly once per breached window, and its event is sent if
 * and only if it was recorded.
 *
 * The subject of the rules is the version's gate subject (its run's
 * metrics, params, tags and git, sql_gate_subject) with "drift" and "live"
 * from the window (mt_profile_drift); champion.* is the version itself, its
 * training run's values.  A rule that fails fires; a rule that cannot be
 * evaluated (a window without labels for live.accuracy, a feature with no
 * values) is reported as an error in the window's report and fires nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_gates.h"
#include "api_registry.h"
#include "mt_gate.h"
#include "mt_json.h"
#include "mt_profile.h"
#include "mt_util.h"
#include "sql_gates.h"
#include "sql_registry.h"
#include "stopsig.h"
#include "webhooks.h"

#define ALERTS_LIST_DEFAULT 100
#define ALERTS_LIST_MAX 1000

static const struct db_stmt stmts[] = {
	{ "alert_rules_get",
	  "SELECT rules::text, updated_at FROM monitor_alert_rules WHERE model_id = $1" },
	{ "alert_rules_put",
	  "INSERT INTO monitor_alert_rules (model_id, rules, updated_at) VALUES ($1, $2::jsonb, $3) "
	  "ON CONFLICT (model_id) DO UPDATE SET rules = EXCLUDED.rules, "
	  "updated_at = EXCLUDED.updated_at" },
	{ "alert_rules_delete", "DELETE FROM monitor_alert_rules WHERE model_id = $1" },
	/* The oldest window due to close: ended, and quiet for the grace. */
	{ "alert_window_due",
	  "SELECT w.model_id, m.name, w.version, w.window_seconds, w.window_start, w.live::text, "
	  "r.profile::text, a.rules::text "
	  "FROM monitor_windows w JOIN registered_models m ON m.id = w.model_id "
	  "JOIN monitor_references r ON r.model_id = w.model_id AND r.version = w.version "
	  "LEFT JOIN monitor_alert_rules a ON a.model_id = w.model_id "
	  "WHERE w.closed_at IS NULL "
	  "AND w.window_start + w.window_seconds * 1000::bigint + $2::bigint <= $1::bigint "
	  "AND w.updated_at + $2::bigint <= $1::bigint "
	  "ORDER BY w.window_start LIMIT 1 FOR UPDATE OF w SKIP LOCKED" },
	{ "alert_window_close",
	  "UPDATE monitor_windows SET closed_at = $5, alert_report = $6::jsonb "
	  "WHERE model_id = $1 AND version = $2 AND window_seconds = $3 AND window_start = $4" },
	{ "alert_insert",
	  "INSERT INTO monitor_alerts (model_id, version, window_seconds, window_start, report, "
	  "created_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6) "
	  "ON CONFLICT (model_id, version, window_seconds, window_start) DO NOTHING RETURNING id" },
	{ "alert_list",
	  "SELECT a.id, a.version, a.window_seconds, a.window_start, a.report::text, a.created_at, "
	  "a.acknowledged_at, a.acknowledged_by FROM monitor_alerts a "
	  "WHERE a.model_id = $1 AND ($2::int IS NULL OR a.version = $2::int) "
	  "AND ($3::bool OR a.acknowledged_at IS NULL) "
	  "ORDER BY a.created_at DESC, a.id DESC LIMIT $4" },
	{ "alert_ack",
	  "UPDATE monitor_alerts SET acknowledged_at = COALESCE(acknowledged_at, $3), "
	  "acknowledged_by = COALESCE(acknowledged_by, $4) "
	  "WHERE model_id = $1 AND id = $2 RETURNING acknowledged_at, acknowledged_by" },
};

const struct db_stmt_table sql_alerts_table = { stmts, sizeof(stmts) / sizeof(stmts[0]), 0 };

static const char *i64s(struct mt_req *req, long long v)
{
	return mt_arena_printf(req->arena, "%lld", v);
}

/* ---- the subject of a window ---- */

/* {"drift": {"psi": {F: x}, "ks": ..., "chi2": ..., "missing": ...},
 *  "live": {"rows", "labels", "accuracy", "f1", "f1_macro", "rmse", "mae"}}
 * members of cand, from mt_profile_drift's answer d. */
static void add_window(json_t *cand, const json_t *d)
{
	static const struct { const char *from, *to; } stats[] = {
		{ "psi", "psi" }, { "ks", "ks" }, { "chi2", "chi2" },
		{ "missing_rate_change", "missing" },
	};
	json_t *drift = json_object(), *live = json_object(), *q = json_object_get(d, "quality");
	const char *k;
	json_t *c, *v;

	for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]); i++)
		json_object_set_new(drift, stats[i].to, json_object());
	json_object_foreach(json_object_get(d, "columns"), k, c)
		for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]); i++)
			if ((v = json_object_get(c, stats[i].from)) && json_is_number(v))
				json_object_set(json_object_get(drift, stats[i].to), k, v);
	json_object_set(live, "rows", json_object_get(d, "rows"));
	json_object_update(live, q); /* labels, accuracy, f1_macro, rmse, mae */
	if ((v = json_object_get(q, "f1_macro")))
		json_object_set(live, "f1", v);
	json_object_set_new(cand, "drift", drift);
	json_object_set_new(cand, "live", live);
}

/* The texts of the rules that failed in a gate report: a new array. */
static json_t *failed_rules(const json_t *report)
{
	json_t *out = json_array(), *it;
	size_t i;

	json_array_foreach(json_object_get(report, "rules"), i, it) {
		const char *st = json_string_value(json_object_get(it, "status"));

		if (st && strcmp(st, "fail") == 0)
			json_array_append(out, json_object_get(it, "rule"));
	}
	return out;
}

/* The rule texts of a JSON array text (NULL: none): *rules (arena), *n. */
static void rules_of(struct mt_req *req, const char *text, const char ***rules, size_t *n)
{
	json_t *a = text ? req_own(req, json_loads(text, 0, NULL)) : NULL, *r;
	size_t i;

	*n = json_array_size(a);
	*rules = mt_arena_alloc(req->arena, (*n ? *n : 1) * sizeof(**rules));
	json_array_foreach(a, i, r)
		(*rules)[i] = json_is_string(r) ? json_string_value(r) : "";
}

/* Close one due window: 1 when one was closed, 0 when none was due, -1 on
 * a database error (err). */
static int close_one(struct mt_req *req, long long grace_ms, long long *fired, struct mt_err *err)
{
	long long now = mt_now_ms();
	const char *v[8] = { i64s(req, now), i64s(req, grace_ms) };
	const char *model_id, *name, *version, *seconds, *start, **rules;
	json_t *profile, *live, *d, *subject, *cand, *report = NULL;
	PGresult *r;
	long long t0, t1;
	size_t n;
	int fail = 0;

	if (db_command(req->w, "BEGIN", err))
		return -1;
	req->in_txn = 1;
	if (!(r = db_exec(req, "alert_window_due", 2, v, err)))
		return -1;
	if (PQntuples(r) == 0) {
		req->in_txn = 0;
		return db_command(req->w, "COMMIT", err) ? -1 : 0;
	}
	model_id = PQgetvalue(r, 0, 0);
	name = PQgetvalue(r, 0, 1);
	version = PQgetvalue(r, 0, 2);
	seconds = PQgetvalue(r, 0, 3);
	start = PQgetvalue(r, 0, 4);
	t0 = strtoll(start, NULL, 10);
	t1 = t0 + strtoll(seconds, NULL, 10) * 1000;
	rules_of(req, db_value_or_null(r, 0, 7), &rules, &n);
	if (n > 0) {
		const char *sha;
		struct mt_err e = MT_ERR_INIT;

		profile = req_own(req, json_loads(PQgetvalue(r, 0, 6), 0, NULL));
		live = req_own(req, json_loads(PQgetvalue(r, 0, 5), 0, NULL));
		if (!profile || !live || mt_profile_check(profile, &e) ||
		    mt_profile_live_check(profile, live, &e))
			return mt_err_set(err, MT_EINTERNAL, "model '%s' version %s: the window at %s "
					  "does not read back", name, version, start);
		d = req_own(req, mt_profile_drift(profile, live));
		if (!d || sql_gate_subject(req, model_id, name, version, &subject, &sha, err))
			return d ? -1 : mt_err_set(err, MT_EINTERNAL, "out of memory");
		cand = req_own(req, json_deep_copy(subject));
		add_window(cand, d);
		report = req_own(req, mt_gate_evaluate(rules, n, cand, subject, NULL));
		if (!report)
			return mt_err_set(err, MT_EINTERNAL, "out of memory");
		json_object_set_new(report, "window_start", json_integer(t0));
		json_object_set_new(report, "window_end", json_integer(t1));
		json_object_set_new(report, "rows", json_integer(
			json_integer_value(json_object_get(d, "rows"))));
		fail = json_integer_value(json_object_get(json_object_get(report, "summary"),
							  "failed")) > 0;
	}
	{
		char *text = report ? json_dumps(report, JSON_COMPACT) : NULL;
		const char *rep_text = text ? mt_arena_strdup(req->arena, text) : NULL;
		const char *when = i64s(req, now);
		const char *u[6] = { model_id, version, seconds, start, when, rep_text };
		const char *ins[6] = { model_id, version, seconds, start, rep_text, when };

		free(text);
		if (report && !rep_text)
			return mt_err_set(err, MT_EINTERNAL, "out of memory");
		if (!db_exec(req, "alert_window_close", 6, u, err))
			return -1;
		if (fail) {
			PGresult *a;
			json_t *data;

			if (!(a = db_exec(req, "alert_insert", 6, ins, err)))
				return -1;
			data = req_own(req, json_pack("{s:s, s:s, s:I, s:I, s:I, s:o, s:O}", "name",
						      name, "version", version, "window_start",
						      (json_int_t)t0, "window_end", (json_int_t)t1,
						      "window_seconds", (json_int_t)(t1 - t0) / 1000,
						      "failed", failed_rules(report), "report", report));
			if (!data)
				return mt_err_set(err, MT_EINTERNAL, "out of memory");
			if (PQntuples(a) == 1) {
				mt_json_set_str(data, "alert_id", PQgetvalue(a, 0, 0));
				if (webhook_enqueue(req, "monitor_alert", "fired", data, err))
					return -1;
				(*fired)++;
			}
		}
	}
	if (db_command(req->w, "COMMIT", err))
		return -1;
	req->in_txn = 0;
	return 1;
}

/* ---- the thread ---- */

static pthread_t thread;
static atomic_int running;
static struct stopsig stop = STOPSIG_INIT;
static atomic_llong n_closed, n_fired;

static void *alerts_main(void *arg)
{
	long long grace_ms = (long long)mt_cfg.monitor_grace * 1000;
	int said = 0;

	(void)arg;
	while (!stopsig_stopping(&stop)) {
		struct mt_worker w;
		struct mt_req req;
		struct mt_err err = MT_ERR_INIT;
		long long fired = 0;
		int rc = 0;

		db_oneshot(&w, &req);
		if (db_ensure(&w, &err) == 0) {
			while (!stopsig_stopping(&stop) &&
			       (rc = close_one(&req, grace_ms, &fired, &err)) == 1) {
				atomic_fetch_add(&n_closed, 1);
				mt_arena_reset(&w.arena);
			}
		} else {
			rc = -1;
		}
		atomic_fetch_add(&n_fired, fired);
		if (rc < 0) {
			if (!said++)
				fprintf(stderr, "mltrackd: monitoring alerts: %s\n", err.msg);
			if (req.in_txn && w.conn)
				db_command(&w, "ROLLBACK", &err);
		} else {
			said = 0;
		}
		db_release(&w);
		mt_arena_release(&w.arena);
		stopsig_nap(&stop, rc < 0 ? 5000 : 1000);
	}
	return NULL;
}

int monitor_alerts_start(struct mt_err *err)
{
	if (stopsig_open(&stop, "monitoring alert thread", err))
		return -1;
	if (pthread_create(&thread, NULL, alerts_main, NULL) != 0)
		return mt_err_set(err, MT_EINTERNAL, "cannot start the monitoring alert thread");
	atomic_store(&running, 1);
	return 0;
}

void monitor_alerts_stop(void)
{
	if (atomic_exchange(&running, 0)) {
		stopsig_raise(&stop);
		pthread_join(thread, NULL);
	}
	stopsig_close(&stop);
}

void monitor_alerts_metrics(FILE *f)
{
	fprintf(f, "# HELP mltrack_monitor_windows_closed_total Monitoring windows this server "
		"closed (and checked against the model's alert rules).\n"
		"# TYPE mltrack_monitor_windows_closed_total counter\n"
		"mltrack_monitor_windows_closed_total %lld\n"
		"# HELP mltrack_monitor_alerts_fired_total Monitoring alerts this server fired.\n"
		"# TYPE mltrack_monitor_alerts_fired_total counter\n"
		"mltrack_monitor_alerts_fired_total %lld\n",
		atomic_load(&n_closed), atomic_load(&n_fired));
}

/* ---- the API ---- */

/* POST monitor/alert-rules/set {name, rules: [...]}: replace the model's
 * alert rules; an empty list (or none) removes them. */
int api_monitor_alert_rules_set(struct mt_req *req)
{
	const char *name, *id, **rules;
	json_t *list = json_object_get(req->body, "rules");
	size_t n;

	if (reg_name_arg(req, "name", &name) || gate_rules_arg(req, 1, &rules, &n))
		return -1;
	if (sql_reg_model_find(req, name, 1, &id, &req->err))
		return -1;
	if (n == 0) {
		const char *v[1] = { id };

		if (!db_exec(req, "alert_rules_delete", 1, v, &req->err))
			return -1;
	} else {
		char *text = json_dumps(list, JSON_COMPACT);
		const char *v[3] = { id, text ? mt_arena_strdup(req->arena, text) : NULL,
				     i64s(req, mt_now_ms()) };

		free(text);
		if (!v[1])
			return mt_err_set(&req->err, MT_EINTERNAL, "out of memory");
		if (!db_exec(req, "alert_rules_put", 3, v, &req->err))
			return -1;
	}
	mt_json_set_str(req_resp(req), "name", name);
	json_object_set_new(req_resp(req), "rules", list ? json_deep_copy(list) : json_array());
	return 0;
}

/* GET monitor/alert-rules/get?name=: {name, rules, updated_at?}. */
int api_monitor_alert_rules_get(struct mt_req *req)
{
	const char *name, *id, *v[1];
	PGresult *r;

	if (reg_name_arg(req, "name", &name) || sql_reg_model_find(req, name, 0, &id, &req->err))
		return -1;
	v[0] = id;
	if (!(r = db_exec(req, "alert_rules_get", 1, v, &req->err)))
		return -1;
	mt_json_set_str(req_resp(req), "name", name);
	if (PQntuples(r) == 0) {
		json_object_set_new(req_resp(req), "rules", json_array());
		return 0;
	}
	json_object_set_new(req_resp(req), "rules", json_loads(PQgetvalue(r, 0, 0), 0, NULL));
	mt_json_set_i64(req_resp(req), "updated_at", strtoll(PQgetvalue(r, 0, 1), NULL, 10));
	return 0;
}

/* GET monitor/alerts/list?name=[&version=|&alias=][&include_acknowledged=true]
 * [&max_results=N]: the model's alerts (or one version's), newest first. */
int api_monitor_alerts_list(struct mt_req *req)
{
	const char *name, *id, *version = NULL, *alias = NULL, *ack = NULL, *v[4];
	json_t *alerts = json_array();
	long long max = ALERTS_LIST_DEFAULT;
	int present;
	PGresult *r;

	json_object_set_new(req_resp(req), "alerts", alerts);
	if (reg_name_arg(req, "name", &name) || req_opt_str(req, "version", &version) ||
	    req_opt_str(req, "alias", &alias) || req_opt_str(req, "include_acknowledged", &ack) ||
	    mt_json_opt_i64(&max, &present, req->body, "max_results", &req->err))
		return -1;
	if (!present)
		max = ALERTS_LIST_DEFAULT;
	if (max < 1 || max > ALERTS_LIST_MAX)
		return mt_err_set(&req->err, MT_EINVAL, "max_results must be 1 to %d",
				  ALERTS_LIST_MAX);
	if (ack && strcmp(ack, "true") != 0 && strcmp(ack, "false") != 0)
		return mt_err_set(&req->err, MT_EINVAL, "include_acknowledged must be true or false");
	/* One version (by number, alias or stage), or all of the model's. */
	if ((version && *version) || (alias && *alias) ?
	    monitor_version(req, &name, &id, &version) :
	    sql_reg_model_find(req, name, 0, &id, &req->err))
		return -1;
	v[0] = id;
	v[1] = version && *version ? version : NULL;
	v[2] = ack && strcmp(ack, "true") == 0 ? "true" : "false";
	v[3] = i64s(req, max);
	if (!(r = db_exec(req, "alert_list", 4, v, &req->err)))
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *a = json_object(), *rep = json_loads(PQgetvalue(r, i, 4), 0, NULL);

		mt_json_set_str(a, "alert_id", PQgetvalue(r, i, 0));
		mt_json_set_str(a, "name", name);
		mt_json_set_str(a, "version", PQgetvalue(r, i, 1));
		mt_json_set_i64(a, "window_seconds", strtoll(PQgetvalue(r, i, 2), NULL, 10));
		mt_json_set_i64(a, "window_start", strtoll(PQgetvalue(r, i, 3), NULL, 10));
		mt_json_set_i64(a, "window_end", strtoll(PQgetvalue(r, i, 3), NULL, 10) +
						 strtoll(PQgetvalue(r, i, 2), NULL, 10) * 1000);
		mt_json_set_i64(a, "created_at", strtoll(PQgetvalue(r, i, 5), NULL, 10));
		if (!PQgetisnull(r, i, 6)) {
			mt_json_set_i64(a, "acknowledged_at", strtoll(PQgetvalue(r, i, 6), NULL, 10));
			mt_json_set_str(a, "acknowledged_by", PQgetvalue(r, i, 7));
		}
		json_object_set_new(a, "failed", failed_rules(rep));
		json_object_set_new(a, "report", rep ? rep : json_null());
		json_array_append_new(alerts, a);
	}
	mt_json_set_str(req_resp(req), "name", name);
	return 0;
}

/* POST monitor/alerts/acknowledge {name, alert_id}: the alert is no longer
 * open (the first acknowledgement is kept). */
int api_monitor_alerts_ack(struct mt_req *req)
{
	const char *name, *id, *alert, *v[4];
	PGresult *r;
	char *end;

	if (reg_name_arg(req, "name", &name) || req_str(req, "alert_id", &alert))
		return -1;
	errno = 0;
	if (!*alert || strtoll(alert, &end, 10) <= 0 || *end || errno)
		return mt_err_set(&req->err, MT_EINVAL, "alert_id must be a positive integer");
	if (sql_reg_model_find(req, name, 0, &id, &req->err))
		return -1;
	v[0] = id;
	v[1] = alert;
	v[2] = i64s(req, mt_now_ms());
	v[3] = req->who.username ? req->who.username : "";
	if (!(r = db_exec(req, "alert_ack", 4, v, &req->err)))
		return -1;
	if (PQntuples(r) == 0)
		return mt_err_set(&req->err, MT_ENOTFOUND, "model '%s' has no alert %s", name, alert);
	mt_json_set_str(req_resp(req), "alert_id", alert);
	mt_json_set_i64(req_resp(req), "acknowledged_at", strtoll(PQgetvalue(r, 0, 0), NULL, 10));
	mt_json_set_str(req_resp(req), "acknowledged_by", PQgetvalue(r, 0, 1));
	return 0;
}
