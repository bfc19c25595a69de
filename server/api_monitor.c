/*
 * api_monitor.c: monitoring deployed model versions (issue 17,
 * docs/monitoring.md): /api/2.0/mltrack/monitor/{log,get,reference}.
 *
 * A version has a reference profile when its bundle's manifest carries one
 * ("reference_profile", written by `mltrack model register --reference`);
 * it is checked and stored when the version is created
 * (monitor_on_version_create, called from the bundle verification in
 * api_gates.c), so what is stored is what the bundle's digest covers.
 *
 * monitor/log validates every observation before anything is written (an
 * unknown feature, a wrong type, a missing version or alias, too many rows:
 * 4xx, nothing folded: the route runs in one transaction), then folds them
 * into the live windows they fall in, window by window in ascending order,
 * each row locked FOR UPDATE while it is read, folded and written back, so
 * concurrent posts add up and never deadlock on each other.  Raw rows are
 * not kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_registry.h"
#include "mt_json.h"
#include "mt_profile.h"
#include "mt_util.h"
#include "sql_monitor.h"
#include "sql_registry.h"

#define MONITOR_WINDOWS_DEFAULT 24
#define MONITOR_WINDOWS_MAX 1000

int monitor_version(struct mt_req *req, const char **name, const char **id,
			   const char **version)
{
	const char *alias = NULL, *stage;
	json_t *v = json_object_get(req->body, "version");
	int by_version = v && !json_is_null(v);

	if (reg_name_arg(req, "name", name) || req_opt_str(req, "alias", &alias))
		return -1;
	if (alias && *alias && by_version)
		return mt_err_set(&req->err, MT_EINVAL, "give either 'version' or 'alias', not both");
	if (!(alias && *alias) && !by_version)
		return mt_json_missing(&req->err, "version");
	if (by_version) {
		if (reg_version_arg(req, *name, version) ||
		    sql_reg_model_find(req, *name, 0, id, &req->err))
			return -1;
	} else {
		if (reg_alias_arg(req, "alias", REG_ALIAS_ANY, &alias) ||
		    sql_reg_model_find(req, *name, 0, id, &req->err))
			return -1;
		if ((stage = reg_stage_of(alias))) {
			json_t *list = req_own(req, json_array());

			if (sql_reg_latest_versions(req, *id, &stage, 1, list, &req->err))
				return -1;
			if (!json_array_size(list))
				return mt_err_set(&req->err, MT_ENOTFOUND,
						  "no version of model '%s' is in stage %s", *name,
						  stage);
			*version = mt_arena_strdup(req->arena, json_string_value(json_object_get(
				json_array_get(list, 0), "version")));
		} else {
			if (sql_reg_alias_get(req, *id, alias, version, &req->err))
				return -1;
			if (!*version)
				return mt_err_set(&req->err, MT_ENOTFOUND,
						  "Registered model alias %s not found.", alias);
		}
	}
	return sql_reg_version_stage(req, *id, *name, *version, &stage, &req->err);
}

/* The version's reference profile (request-owned), or a 400 naming it. */
static int reference(struct mt_req *req, const char *id, const char *name, const char *version,
		     json_t **out)
{
	const char *text;

	if (sql_monitor_ref_get(req, id, version, &text, &req->err))
		return -1;
	if (!text)
		return mt_err_set(&req->err, MT_EINVAL,
				  "model '%s' version %s has no reference profile: register it "
				  "with `mltrack model register --reference FILE`", name, version);
	*out = req_own(req, json_loads(text, 0, NULL));
	if (!*out || mt_profile_check(*out, &req->err))
		return mt_err_set(&req->err, MT_EINTERNAL, "a stored reference profile does not "
				  "read back");
	return 0;
}

int monitor_on_version_create(struct mt_req *req, const char *model_id, const char *version,
			      const json_t *manifest)
{
	const json_t *p = json_object_get(manifest, "reference_profile");
	struct mt_err e = MT_ERR_INIT;
	char *text;
	int rc;

	if (!p)
		return 0;
	if (mt_profile_check(p, &e))
		return mt_err_set(&req->err, MT_EINVAL, "the bundle's reference_profile: %s", e.msg);
	text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	rc = text ? sql_monitor_ref_put(req, model_id, version, text, mt_now_ms(), &req->err)
		  : mt_err_set(&req->err, MT_EINTERNAL, "out of memory");
	free(text);
	return rc;
}

struct obs_ref {
	long long start; /* its window's start, ms */
	size_t i;        /* its index in observations */
};

static int obs_ref_cmp(const void *x, const void *y)
{
	const struct obs_ref *a = x, *b = y;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return (a->i > b->i) - (a->i < b->i);
}

static char *dump(struct mt_req *req, const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	char *out = s ? mt_arena_strdup(req->arena, s) : NULL;

	free(s);
	return out;
}

int api_monitor_log(struct mt_req *req)
{
	const char *name, *id, *version;
	json_t *profile, *obs = json_object_get(req->body, "observations"), *o, *empty;
	long long now = mt_now_ms(), span = (long long)mt_cfg.monitor_window * 1000;
	struct obs_ref *refs;
	const char *empty_text;
	size_t n, i, j;
	json_t *starts = json_array();

	json_object_set_new(req_resp(req), "windows", starts);
	if (monitor_version(req, &name, &id, &version) ||
	    reference(req, id, name, version, &profile))
		return -1;
	if (!json_is_array(obs))
		return obs ? mt_json_invalid(&req->err, "observations", obs)
			   : mt_json_missing(&req->err, "observations");
	n = json_array_size(obs);
	if (n == 0)
		return mt_err_set(&req->err, MT_EINVAL, "'observations' is empty");
	if (n > (size_t)mt_cfg.monitor_max_rows)
		return mt_err_set(&req->err, MT_ETOOBIG, "%zu observations in one request: at most "
				  "%d (--monitor-max-rows)", n, mt_cfg.monitor_max_rows);
	refs = mt_arena_alloc(req->arena, n * sizeof(*refs));
	json_array_foreach(obs, i, o) {
		json_t *ts = json_object_get(o, "timestamp");
		long long t = now;
		struct mt_err e = MT_ERR_INIT;

		if (mt_profile_obs_check(profile, NULL, o, &e))
			return mt_err_set(&req->err, MT_EINVAL, "observations[%zu]: %s", i, e.msg);
		if (ts && !json_is_null(ts)) {
			t = (long long)json_integer_value(ts);
			if (t < 0 || t > 253402300799999LL) /* up to 9999-12-31 */
				return mt_err_set(&req->err, MT_EINVAL, "observations[%zu]: 'timestamp' "
						  "%lld is out of range (milliseconds since the epoch)",
						  i, t);
		}
		refs[i].start = t / span * span;
		refs[i].i = i;
	}
	qsort(refs, n, sizeof(*refs), obs_ref_cmp);
	empty = req_own(req, mt_profile_live_new(profile));
	empty_text = dump(req, empty);
	if (!empty_text)
		return mt_err_set(&req->err, MT_EINTERNAL, "out of memory");
	for (i = 0; i < n; i = j) {
		const char *live_text, *out;
		long long rows;
		json_t *live;
		struct mt_err e = MT_ERR_INIT;

		for (j = i; j < n && refs[j].start == refs[i].start; j++)
			;
		if (sql_monitor_window_lock(req, id, version, mt_cfg.monitor_window, refs[i].start,
					    empty_text, now, &live_text, &rows, &req->err))
			return -1;
		if (rows + (long long)(j - i) > mt_cfg.monitor_max_window_rows)
			return mt_err_set(&req->err, MT_EEXHAUSTED,
					  "the window starting at %lld holds %lld observations; %zu "
					  "more would pass the cap of %lld (--monitor-max-window-rows)",
					  refs[i].start, rows, j - i, mt_cfg.monitor_max_window_rows);
		live = req_own(req, json_loads(live_text, 0, NULL));
		if (!live || mt_profile_live_check(profile, live, &e))
			return mt_err_set(&req->err, MT_EINTERNAL, "a stored monitoring window does "
					  "not read back");
		for (size_t k = i; k < j; k++) {
			json_t *x = json_array_get(obs, refs[k].i);

			/* Again against the window: its label classes are bounded. */
			if (mt_profile_obs_check(profile, live, x, &e))
				return mt_err_set(&req->err, MT_EINVAL, "observations[%zu]: %s",
						  refs[k].i, e.msg);
			mt_profile_fold(profile, live, x);
		}
		if (!(out = dump(req, live)))
			return mt_err_set(&req->err, MT_EINTERNAL, "out of memory");
		if (sql_monitor_window_put(req, id, version, mt_cfg.monitor_window, refs[i].start,
					   out, rows + (long long)(j - i), now, &req->err))
			return -1;
		json_array_append_new(starts, json_integer(refs[i].start));
	}
	mt_json_set_str(req_resp(req), "name", name);
	mt_json_set_str(req_resp(req), "version", version);
	mt_json_set_i64(req_resp(req), "logged", (long long)n);
	return 0;
}

int api_monitor_get(struct mt_req *req)
{
	const char *name, *id, *version;
	json_t *profile, *windows = json_array(), *cols = json_object(), *c;
	long long max = MONITOR_WINDOWS_DEFAULT;
	struct sql_monitor_window *ws;
	int present;
	size_t n;
	const char *k;

	json_object_set_new(req_resp(req), "windows", windows);
	json_object_set_new(req_resp(req), "columns", cols);
	if (monitor_version(req, &name, &id, &version) ||
	    reference(req, id, name, version, &profile) ||
	    mt_json_opt_i64(&max, &present, req->body, "max_windows", &req->err))
		return -1;
	if (!present)
		max = MONITOR_WINDOWS_DEFAULT;
	if (max < 1 || max > MONITOR_WINDOWS_MAX)
		return mt_err_set(&req->err, MT_EINVAL, "max_windows must be 1 to %d",
				  MONITOR_WINDOWS_MAX);
	json_object_foreach(json_object_get(profile, "columns"), k, c)
		json_object_set_new(cols, k, json_pack("{s:O, s:O}", "role",
						       json_object_get(c, "role"), "type",
						       json_object_get(c, "type")));
	if (sql_monitor_windows(req, id, version, max, &ws, &n, &req->err))
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *live = req_own(req, json_loads(ws[i].live, 0, NULL)), *d, *rep = NULL;
		struct mt_err e = MT_ERR_INIT;

		if (!live || mt_profile_live_check(profile, live, &e) ||
		    (ws[i].report && !(rep = json_loads(ws[i].report, 0, NULL))))
			return mt_err_set(&req->err, MT_EINTERNAL, "a stored monitoring window does "
					  "not read back");
		d = mt_profile_drift(profile, live);
		if (!d) {
			json_decref(rep);
			return mt_err_set(&req->err, MT_EINTERNAL, "out of memory");
		}
		json_object_set_new(d, "start", json_integer(ws[i].start));
		json_object_set_new(d, "end",
				    json_integer(ws[i].start + (long long)ws[i].seconds * 1000));
		json_object_set_new(d, "window_seconds", json_integer(ws[i].seconds));
		if (ws[i].closed_at)
			json_object_set_new(d, "closed_at",
					    json_integer(strtoll(ws[i].closed_at, NULL, 10)));
		if (rep)
			json_object_set_new(d, "report", rep);
		if (ws[i].alert_id) {
			json_t *a = json_pack("{s:s}", "alert_id", ws[i].alert_id);

			if (ws[i].acknowledged_at)
				json_object_set_new(a, "acknowledged_at", json_integer(strtoll(
					ws[i].acknowledged_at, NULL, 10)));
			json_object_set_new(d, "alert", a);
		}
		json_array_append_new(windows, d);
	}
	mt_json_set_str(req_resp(req), "name", name);
	mt_json_set_str(req_resp(req), "version", version);
	mt_json_set_i64(req_resp(req), "reference_rows",
			(long long)json_integer_value(json_object_get(profile, "rows")));
	return 0;
}

int api_monitor_reference(struct mt_req *req)
{
	const char *name, *id, *version;
	json_t *profile;

	if (monitor_version(req, &name, &id, &version) ||
	    reference(req, id, name, version, &profile))
		return -1;
	mt_json_set_str(req_resp(req), "name", name);
	mt_json_set_str(req_resp(req), "version", version);
	json_object_set(req_resp(req), "profile", profile);
	return 0;
}
