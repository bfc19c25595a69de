/*
 * api_gates.c: mltrack's registry extensions (DESIGN §6, §8) under
 * /api/2.0/mltrack/: promotion gates on stages and aliases, gated stage
 * transitions and alias moves with their audit trail, and bundles.
 *
 * Gates.  A gate is the list of rules (lib/mt_gate.h) a version must pass
 * to enter a stage, or before an alias may point at it.  Every transition
 * into a gated stage, through MLflow's model-versions/transition-stage or
 * ours, goes through gate_transition(), and every alias set or delete,
 * through MLflow's registered-models/alias or ours, through gate_alias():
 * in one transaction each locks the model row (so the moves of a model run
 * one at a time and the champion cannot change underneath), builds the
 * subjects (the candidate, and the champion: the version holding the stage,
 * or the one the alias points at now; their runs' latest metrics, params,
 * tags and git provenance, and their bundles, verified again from the
 * store), evaluates the rules and appends the attempt, with its report, to
 * the audit trail.  A refusal commits its audit row and then answers 412
 * GATE_FAILED with the report; an allowed or forced move commits the move
 * and its row together.  Every alias move is recorded, gated or not, as
 * every stage transition is.
 *
 * Deleting an alias is allowed, gated or not, and recorded with the version
 * it pointed at: a deleted alias serves nothing (NAME@ALIAS fails until it
 * is set again, and that set is gated), and refusing it would also have to
 * refuse deleting the version it names or the model, which MLflow clients
 * do without any way to show a token.  As with a stage nobody holds, rules
 * naming champion.* then pass until the alias is set again; a gate that
 * must hold after a delete keeps an absolute floor (metrics.x >= 0.9).
 *
 * Gate changes.  gates/set creating, replacing or removing a gate appends
 * a row with the rules before and after, in the same transaction; so does
 * deleting a model, for each gate that goes with it.
 *
 * Bundles.  A version whose source is mlflow-artifacts:/mltrack-bundles/
 * <sha256>.tar (what `mltrack model register` uploads) is verified before
 * it is created: the artifact at that path must hold exactly those bytes,
 * and the archive must pass mt_bundle_verify (safe entries, every file's
 * digest).  Its digest, size and manifest are recorded with the version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#include "api.h"
#include "api_gates.h"
#include "api_registry.h"
#include "auth.h"
#include "mt_bundle.h"
#include "mt_gate.h"
#include "mt_json.h"
#include "mt_util.h"
#include "sql_artifacts.h"
#include "sql_gates.h"
#include "sql_registry.h"
#include "webhooks.h"

#define BUNDLE_PREFIX "mlflow-artifacts:/mltrack-bundles/"

/* ---- bundles ---- */

/* Verify the stored bundle with digest sha: the blob holds those bytes and
 * the archive verifies, in one streaming pass.  0 and *manifest (owned by
 * the request; manifest may be NULL), or -1 with why in e. */
static int bundle_check(struct mt_req *req, const char *sha, json_t **manifest, struct mt_err *e)
{
	const char *path;
	char got[65];
	json_t *m = NULL;

	if (manifest)
		*manifest = NULL;
	if (store_blob_file(req, sha, &path, e) || mt_bundle_verify(path, &m, got, e))
		return -1;
	if (strcmp(got, sha) != 0) {
		json_decref(m);
		return mt_err_set(e, MT_EINVAL, "the stored bundle has SHA-256 %s, not %s", got, sha);
	}
	if (manifest)
		*manifest = req_own(req, m);
	else
		json_decref(m);
	return 0;
}

/* The digest named by a bundle source, or NULL when source is not one. */
static const char *bundle_source_sha(struct mt_req *req, const char *source)
{
	const char *p;

	if (!source || strncmp(source, BUNDLE_PREFIX, strlen(BUNDLE_PREFIX)) != 0)
		return NULL;
	p = source + strlen(BUNDLE_PREFIX);
	if (strlen(p) != 64 + 4 || strcmp(p + 64, ".tar") != 0)
		return NULL;
	p = mt_arena_printf(req->arena, "%.64s", p);
	return store_is_digest(p) ? p : NULL;
}

int gate_bundle_on_create(struct mt_req *req, const char *model_id, const char *version,
			  const char *source)
{
	const char *sha = bundle_source_sha(req, source), *stored;
	struct mt_err e = MT_ERR_INIT;
	long long size;
	json_t *manifest;
	char *text;
	int rc;

	if (!sha) {
		if (source && strncmp(source, BUNDLE_PREFIX, strlen(BUNDLE_PREFIX)) == 0)
			return mt_err_set(&req->err, MT_EINVAL,
					  "source '%s' is in mltrack's bundle store but does not name "
					  "a bundle (mltrack-bundles/<sha256>.tar)", source);
		return 0; /* a version made the MLflow way: accepted as MLflow does */
	}
	/* The shared blob lock first: a registry delete releasing this bundle
	 * (sql_registry.c) either went first, and the row is gone, or waits
	 * for this version to commit and then sees it. */
	if (sql_art_lock_blob(req, sha, 0, &req->err) ||
	    sql_bundle_artifact(req, mt_arena_printf(req->arena, STORE_BUNDLE_DIR "/%s.tar", sha),
				&stored, &size, &req->err))
		return -1;
	if (!stored)
		return mt_err_set(&req->err, MT_EINVAL,
				  "bundle %s has not been uploaded (PUT it to "
				  "/api/2.0/mltrack/bundles/%s.tar first)", sha, sha);
	if (strcmp(stored, sha) != 0)
		return mt_err_set(&req->err, MT_EINVAL,
				  "the file uploaded as bundle %s has SHA-256 %s", sha, stored);
	if (bundle_check(req, sha, &manifest, &e)) {
		if (e.code == MT_EINTERNAL) { /* our store, not the bundle */
			req->err = e;
			return -1;
		}
		return mt_err_set(&req->err, MT_EINVAL, "bundle %s fails verification: %.600s", sha,
				  e.msg);
	}
	text = json_dumps(manifest, JSON_COMPACT);
	rc = text ? sql_bundle_record(req, model_id, version, sha, size, text, &req->err)
		  : mt_err_set(&req->err, MT_EINTERNAL, "out of memory");
	free(text);
	if (rc || monitor_on_version_create(req, model_id, version, manifest))
		return -1;
	/* The digest as a tag too, where MLflow clients see it: the server's
	 * word, whatever the request's tags said. */
	return sql_reg_version_set_tag(req, model_id, version, "mltrack.bundle.sha256", sha,
				       &req->err);
}

/* ---- gate evaluation ---- */

/* The full subject of a version: sql_gate_subject plus "bundle".  Only
 * when a rule reads bundle.verified is the bundle read back from the store
 * and checked (it may be gigabytes). */
static int subject(struct mt_req *req, const char *model_id, const char *name,
		   const char *version, int check_bundle, json_t **out)
{
	const char *sha;
	struct mt_err e = MT_ERR_INIT;

	if (sql_gate_subject(req, model_id, name, version, out, &sha, &req->err))
		return -1;
	if (sha && !check_bundle)
		json_object_set_new(*out, "bundle", json_pack("{s:s}", "sha256", sha));
	else if (sha)
		json_object_set_new(*out, "bundle",
				    json_pack("{s:s, s:b}", "sha256", sha, "verified",
					      bundle_check(req, sha, NULL, &e) == 0));
	else
		json_object_set_new(*out, "bundle", json_pack("{s:b}", "verified", 0));
	return 0;
}

/* "Production", or "@champion": what a report says the gate guards. */
static const char *target_label(struct mt_req *req, const struct gate_target *t)
{
	return t->alias ? mt_arena_printf(req->arena, "@%s", t->alias) : t->stage;
}

/* Evaluate the gate guarding t for version; *report NULL when no gate
 * guards it.  The champion is the newest other version holding the stage,
 * or the version the alias points at now (none when that is the candidate
 * itself, as a stage's champion is never the candidate).  The report is
 * request-owned. */
static int evaluate(struct mt_req *req, const char *model_id, const char *name,
		    const char *version, const struct gate_target *t, json_t **report)
{
	json_t *rules, *cand, *champ = NULL, *r;
	const char *champion, **texts;
	size_t n, i;
	int bundle = 0;

	*report = NULL;
	if (sql_gate_get(req, model_id, t, &rules, &req->err))
		return -1;
	if (!rules)
		return 0;
	n = json_array_size(rules);
	texts = mt_arena_alloc(req->arena, (n ? n : 1) * sizeof(*texts));
	json_array_foreach(rules, i, r) {
		texts[i] = json_string_value(r);
		bundle |= texts[i] && strstr(texts[i], "bundle") != NULL;
	}
	if (subject(req, model_id, name, version, bundle, &cand))
		return -1;
	if (t->stage ? sql_gate_champion(req, model_id, t->stage, version, &champion, &req->err)
		     : sql_reg_alias_get(req, model_id, t->alias, &champion, &req->err))
		return -1;
	if (champion && strcmp(champion, version) == 0)
		champion = NULL;
	if (champion && subject(req, model_id, name, champion, bundle, &champ))
		return -1;
	*report = req_own(req, mt_gate_evaluate(texts, n, cand, champ, target_label(req, t)));
	if (!*report)
		return mt_err_set(&req->err, MT_EINTERNAL, "out of memory evaluating the gate");
	return 0;
}

/* ---- gated transitions ---- */

struct move {
	const struct gate_move *m;
	const char *id, *from;
	json_t *report;   /* request-owned */
	json_t *version;  /* request-owned, after the move */
	const char *outcome;
};

static const char *actor(struct mt_req *req)
{
	return auth_actor(req);
}

static int move_txn(struct mt_req *req, void *arg)
{
	struct move *mv = arg;
	const struct gate_move *m = mv->m;
	const struct gate_target target = { .stage = m->stage };
	struct reg_transition t = { 0 };
	long long now = mt_now_ms();
	char *text = NULL;
	int passed, rc;

	mv->report = NULL;
	mv->version = NULL;
	/* The model row lock serialises transitions (and creations) per model. */
	if (sql_reg_model_find(req, m->name, 1, &mv->id, &req->err) ||
	    sql_reg_version_stage(req, mv->id, m->name, m->version, &mv->from, &req->err))
		return -1;
	mv->from = mt_arena_strdup(req->arena, mv->from);
	if (evaluate(req, mv->id, m->name, m->version, &target, &mv->report))
		return -1;
	passed = !mv->report || json_is_true(json_object_get(mv->report, "passed"));
	mv->outcome = passed ? "allowed" : m->force ? "forced" : "refused";
	if (strcmp(mv->outcome, "refused") != 0 &&
	    sql_reg_version_transition(req, mv->id, m->version, m->stage, m->archive, now,
				       &req->err))
		return -1;
	if (mv->report && !(text = json_dumps(mv->report, JSON_COMPACT)))
		return mt_err_set(&req->err, MT_EINTERNAL, "out of memory");
	t.kind = "stage";
	t.model_id = mv->id;
	t.model_name = m->name;
	t.version = m->version;
	t.from_stage = mv->from;
	t.to_stage = m->stage;
	t.actor = actor(req);
	t.outcome = mv->outcome;
	t.report = text ? mt_arena_strdup(req->arena, text) : NULL;
	t.reason = m->reason;
	free(text);
	rc = sql_reg_audit(req, &t, now, &req->err);
	/* The refusal commits (with its audit row) and is announced; a
	 * transition that went through is announced as the new stage. */
	if (rc == 0)
		rc = webhook_enqueue(
			req, "model_version_stage",
			strcmp(mv->outcome, "refused") == 0 ? "refused" : "set",
			req_own(req, json_pack("{s:s, s:s, s:s, s:s, s:b, s:O?}", "name", m->name,
					       "version", m->version, "from_stage", mv->from,
					       "to_stage", m->stage, "forced",
					       strcmp(mv->outcome, "forced") == 0, "report",
					       mv->report)),
			&req->err);
	if (rc == 0 && strcmp(mv->outcome, "refused") != 0)
		rc = sql_reg_version_get(req, mv->id, m->name, m->version, &mv->version, &req->err);
	return rc;
}

/* 412 GATE_FAILED with the report as "report" in the error answer; what
 * is "into Production" or "of @champion". */
static int refused(struct mt_req *req, json_t *report, const char *name, const char *version,
		   const char *what)
{
	json_t *sum = json_object_get(report, "summary");
	long long total = json_integer_value(json_object_get(sum, "total"));
	long long ok = json_integer_value(json_object_get(sum, "passed"));

	req->err_extra = req_own(req, json_pack("{s:O}", "report", report));
	return mt_err_set(&req->err, MT_EGATE,
			  "%s version %s does not pass the gate %s: %lld of %lld rules failed",
			  name, version, what, total - ok, total);
}

int gate_transition(struct mt_req *req, const struct gate_move *m, json_t **version,
		    json_t **report, int *forced)
{
	struct move mv = { .m = m };

	*version = NULL;
	*report = NULL;
	*forced = 0;
	/* Who may force (MANAGE, or the admin token while no user exists)
	 * was decided before the handler ran (authz.c, AZ_FORCE). */
	if (http_txn(req, move_txn, &mv))
		return -1;
	*report = mv.report;
	if (strcmp(mv.outcome, "refused") == 0)
		return refused(req, mv.report, m->name, m->version,
			       mt_arena_printf(req->arena, "into %s", m->stage));
	*version = mv.version;
	*forced = strcmp(mv.outcome, "forced") == 0;
	return 0;
}

/* ---- gated alias moves ---- */

struct amove {
	const struct gate_alias_move *m;
	const char *id;
	const char *from;    /* the version the alias named before, or NULL */
	json_t *report;      /* request-owned, or NULL: no gate (or a delete) */
	json_t *version;     /* request-owned, after a set */
	const char *outcome; /* NULL: nothing happened (deleting an unset alias) */
};

static int alias_txn(struct mt_req *req, void *arg)
{
	struct amove *am = arg;
	const struct gate_alias_move *m = am->m;
	const struct gate_target target = { .alias = m->alias };
	struct reg_transition t = { 0 };
	long long now = mt_now_ms();
	const char *stage;
	char *text = NULL;
	int rc;

	am->from = NULL;
	am->report = NULL;
	am->version = NULL;
	am->outcome = NULL;
	if (sql_reg_model_find(req, m->name, 1, &am->id, &req->err) ||
	    sql_reg_alias_get(req, am->id, m->alias, &am->from, &req->err))
		return -1;
	am->from = am->from ? mt_arena_strdup(req->arena, am->from) : NULL;
	if (!m->version) {
		if (!am->from)
			return 0; /* MLflow: deleting an unset alias is no error */
		if (sql_reg_alias_delete(req, am->id, m->alias, &req->err))
			return -1;
		am->outcome = "allowed";
	} else {
		int passed;

		if (sql_reg_version_stage(req, am->id, m->name, m->version, &stage, &req->err) ||
		    evaluate(req, am->id, m->name, m->version, &target, &am->report))
			return -1;
		passed = !am->report || json_is_true(json_object_get(am->report, "passed"));
		am->outcome = passed ? "allowed" : m->force ? "forced" : "refused";
		if (strcmp(am->outcome, "refused") != 0 &&
		    sql_reg_alias_set(req, am->id, m->name, m->alias, m->version, &req->err))
			return -1;
	}
	if (am->report && !(text = json_dumps(am->report, JSON_COMPACT)))
		return mt_err_set(&req->err, MT_EINTERNAL, "out of memory");
	t.kind = "alias";
	t.model_id = am->id;
	t.model_name = m->name;
	t.alias = m->alias;
	t.version = m->version;
	t.from_version = am->from;
	t.actor = actor(req);
	t.outcome = am->outcome;
	t.report = text ? mt_arena_strdup(req->arena, text) : NULL;
	t.reason = m->reason;
	free(text);
	rc = sql_reg_audit(req, &t, now, &req->err);
	if (rc == 0 && !m->version)
		rc = webhook_enqueue(req, "model_version_alias", "deleted",
				     req_own(req, json_pack("{s:s, s:s}", "name", m->name, "alias",
							    m->alias)),
				     &req->err);
	else if (rc == 0)
		rc = webhook_enqueue(
			req, "model_version_alias",
			strcmp(am->outcome, "refused") == 0 ? "refused" : "created",
			req_own(req, strcmp(am->outcome, "refused") == 0
					     ? json_pack("{s:s, s:s, s:s, s:s?, s:O?}", "name", m->name,
							 "alias", m->alias, "version", m->version,
							 "from_version", am->from, "report", am->report)
					     : json_pack("{s:s, s:s, s:s}", "name", m->name, "alias",
							 m->alias, "version", m->version)),
			&req->err);
	if (rc == 0 && m->version && strcmp(am->outcome, "refused") != 0)
		rc = sql_reg_version_get(req, am->id, m->name, m->version, &am->version, &req->err);
	return rc;
}

int gate_alias(struct mt_req *req, const struct gate_alias_move *m, json_t **version,
	       json_t **report, int *forced, const char **previous)
{
	struct amove am = { .m = m };

	*version = NULL;
	*report = NULL;
	*forced = 0;
	*previous = NULL;
	if (http_txn(req, alias_txn, &am))
		return -1;
	*report = am.report;
	*previous = am.from;
	if (am.outcome && strcmp(am.outcome, "refused") == 0)
		return refused(req, am.report, m->name, m->version,
			       mt_arena_printf(req->arena, "of @%s", m->alias));
	*version = am.version;
	*forced = am.outcome && strcmp(am.outcome, "forced") == 0;
	return 0;
}

/* ---- audit rows for what goes with a deletion ---- */

int gate_audit_model_delete(struct mt_req *req, const char *model_id, const char *name)
{
	json_t *gates = req_own(req, json_array()), *g;
	long long now = mt_now_ms();
	size_t i;

	if (sql_gate_list(req, model_id, gates, &req->err))
		return -1;
	json_array_foreach(gates, i, g) {
		struct reg_transition t = { 0 };
		char *before = json_dumps(json_object_get(g, "rules"), JSON_COMPACT);
		int rc;

		if (!before)
			return mt_err_set(&req->err, MT_EINTERNAL, "out of memory");
		t.kind = "gate";
		t.model_id = model_id;
		t.model_name = name;
		t.to_stage = json_string_value(json_object_get(g, "stage"));
		t.alias = json_string_value(json_object_get(g, "alias"));
		t.actor = actor(req);
		t.outcome = "removed";
		t.rules_before = mt_arena_strdup(req->arena, before);
		t.reason = "the model was deleted";
		free(before);
		rc = sql_reg_audit(req, &t, now, &req->err);
		if (rc)
			return -1;
	}
	return 0;
}

int gate_audit_aliases_dropped(struct mt_req *req, const char *model_id, const char *name,
			       const char *version, const json_t *aliases)
{
	long long now = mt_now_ms();
	const json_t *a;
	size_t i;

	json_array_foreach(aliases, i, a) {
		struct reg_transition t = { 0 };

		t.kind = "alias";
		t.model_id = model_id;
		t.model_name = name;
		t.alias = json_string_value(a);
		t.from_version = version;
		t.actor = actor(req);
		t.outcome = "allowed";
		t.reason = mt_arena_printf(req->arena, "version %s was deleted", version);
		if (sql_reg_audit(req, &t, now, &req->err))
			return -1;
	}
	return 0;
}

/* ---- endpoints ---- */

static int bool_field(struct mt_req *req, const char *field, int *out)
{
	json_t *v = json_object_get(req->body, field);

	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if (json_is_string(v) && (strcasecmp(json_string_value(v), "true") == 0 ||
				  strcasecmp(json_string_value(v), "false") == 0)) {
		*out = strcasecmp(json_string_value(v), "true") == 0;
		return 0;
	}
	return mt_json_invalid(&req->err, field, v);
}

/* An optional "reason" of at most 5000 bytes. */
static int reason_arg(struct mt_req *req, const char **out)
{
	if (req_opt_str(req, "reason", out))
		return -1;
	if (*out && strlen(*out) > 5000)
		return mt_err_set(&req->err, MT_EINVAL, "reason is longer than 5000 bytes");
	return 0;
}

int gate_move_args(struct mt_req *req, struct gate_move *m)
{
	const char *stage_in;

	memset(m, 0, sizeof(*m));
	if (reg_name_arg(req, "name", &m->name) || reg_version_arg(req, m->name, &m->version) ||
	    req_str(req, "stage", &stage_in) || reg_stage_canonical(req, stage_in, &m->stage) ||
	    bool_field(req, "archive_existing_versions", &m->archive))
		return -1;
	if (m->archive && strcmp(m->stage, "Staging") != 0 && strcmp(m->stage, "Production") != 0)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Model version transition cannot archive existing model versions "
				  "because '%s' is not an Active stage. Valid stages are ['Staging', "
				  "'Production']", stage_in);
	return 0;
}

int api_gates_transition(struct mt_req *req)
{
	struct gate_move m;
	json_t *version, *report;
	int forced;

	if (gate_move_args(req, &m) || bool_field(req, "force", &m.force) ||
	    reason_arg(req, &m.reason))
		return -1;
	if (m.force && (!m.reason || !*m.reason))
		return mt_err_set(&req->err, MT_EINVAL, "a forced transition needs a reason");
	if (gate_transition(req, &m, &version, &report, &forced))
		return -1;
	json_object_set(req_resp(req), "model_version", version);
	json_object_set(req_resp(req), "report", report ? report : json_null());
	json_object_set_new(req_resp(req), "forced", json_boolean(forced));
	return 0;
}

/* What a gate guards: "stage" (canonical, not None) or "alias" (not the
 * name of a stage), exactly one of them. */
static int gate_target_arg(struct mt_req *req, struct gate_target *t)
{
	json_t *st = json_object_get(req->body, "stage"), *al = json_object_get(req->body, "alias");
	int has_stage = st && !json_is_null(st), has_alias = al && !json_is_null(al);
	const char *in;

	memset(t, 0, sizeof(*t));
	if (has_stage == has_alias)
		return mt_err_set(&req->err, MT_EINVAL,
				  "a gate guards a stage or an alias: give 'stage' or 'alias'%s",
				  has_stage ? ", not both" : "");
	if (has_alias)
		return reg_alias_arg(req, "alias", REG_ALIAS_NEW, &t->alias);
	if (req_str(req, "stage", &in) || reg_stage_canonical(req, in, &t->stage))
		return -1;
	if (strcmp(t->stage, "None") == 0)
		return mt_err_set(&req->err, MT_EINVAL,
				  "a gate guards Staging, Production or Archived, not None");
	return 0;
}

int gate_rules_arg(struct mt_req *req, int alert, const char ***out, size_t *n)
{
	json_t *list = json_object_get(req->body, "rules"), *r;
	const char **rules;
	char msg[512];
	size_t i;

	if (list && !json_is_array(list) && !json_is_null(list))
		return mt_err_set(&req->err, MT_EINVAL, "rules must be a list of strings");
	*n = json_array_size(list);
	rules = mt_arena_alloc(req->arena, (*n ? *n : 1) * sizeof(*rules));
	json_array_foreach(list, i, r) {
		if (!json_is_string(r))
			return mt_err_set(&req->err, MT_EINVAL, "rules[%zu] is not a string", i);
		rules[i] = json_string_value(r);
	}
	if ((alert ? mt_gate_validate_alert : mt_gate_validate)(rules, *n, msg, sizeof(msg)))
		return mt_err_set(&req->err, MT_EINVAL, "%s", msg);
	*out = rules;
	return 0;
}

/* Creating, replacing or removing a gate appends a "gate" row with the
 * rules before and after, in the route's transaction; setting no rules
 * where there is no gate changes nothing and records nothing. */
int api_gates_set(struct mt_req *req)
{
	const char *name, *id, **rules, *reason;
	struct gate_target target;
	json_t *before, *after, *gate;
	size_t n, i;

	if (reg_name_arg(req, "name", &name) || gate_target_arg(req, &target) ||
	    reason_arg(req, &reason))
		return -1;
	if (gate_rules_arg(req, 0, &rules, &n))
		return -1;
	after = req_own(req, json_array());
	for (i = 0; i < n; i++)
		json_array_append_new(after, json_string(rules[i]));
	if (sql_reg_model_find(req, name, 1, &id, &req->err) ||
	    sql_gate_get(req, id, &target, &before, &req->err) ||
	    sql_gate_set(req, id, &target, rules, n, mt_now_ms(), &req->err))
		return -1;
	if (before || n) {
		struct reg_transition t = { 0 };
		char *tb = before ? json_dumps(before, JSON_COMPACT) : NULL;
		char *ta = n ? json_dumps(after, JSON_COMPACT) : NULL;
		int rc;

		t.kind = "gate";
		t.model_id = id;
		t.model_name = name;
		t.to_stage = target.stage;
		t.alias = target.alias;
		t.actor = actor(req);
		t.outcome = !before ? "created" : n ? "replaced" : "removed";
		t.rules_before = tb ? mt_arena_strdup(req->arena, tb) : NULL;
		t.rules_after = ta ? mt_arena_strdup(req->arena, ta) : NULL;
		t.reason = reason;
		rc = (before && !tb) || (n && !ta) ? mt_err_set(&req->err, MT_EINTERNAL, "out of memory")
						   : sql_reg_audit(req, &t, mt_now_ms(), &req->err);
		free(tb);
		free(ta);
		if (rc)
			return -1;
	}
	gate = json_pack("{s:s, s:s, s:O}", "name", name, target.alias ? "alias" : "stage",
			 target.alias ? target.alias : target.stage, "rules", after);
	json_object_set_new(req_resp(req), "gate", gate);
	return 0;
}

int api_gates_get(struct mt_req *req)
{
	const char *name, *id;
	json_t *list = json_array();

	json_object_set_new(req_resp(req), "gates", list);
	if (reg_name_arg(req, "name", &name) || sql_reg_model_find(req, name, 0, &id, &req->err))
		return -1;
	return sql_gate_list(req, id, list, &req->err);
}

int api_gates_check(struct mt_req *req)
{
	const char *name, *id, *version, *dummy;
	struct gate_target target;
	json_t *report;

	if (reg_name_arg(req, "name", &name) || reg_version_arg(req, name, &version) ||
	    gate_target_arg(req, &target) || sql_reg_model_find(req, name, 0, &id, &req->err) ||
	    sql_reg_version_stage(req, id, name, version, &dummy, &req->err) ||
	    evaluate(req, id, name, version, &target, &report))
		return -1;
	if (!report) { /* no gate: nothing to fail */
		const char *none[1] = { NULL };
		json_t *cand;

		if (subject(req, id, name, version, 0, &cand))
			return -1;
		report = req_own(req, mt_gate_evaluate(none, 0, cand, NULL,
						       target_label(req, &target)));
	}
	json_object_set(req_resp(req), "report", report);
	return 0;
}

int api_gates_version_get(struct mt_req *req)
{
	const char *name, *id, *version;
	json_t *mv, *bundle;

	if (reg_name_arg(req, "name", &name) || reg_version_arg(req, name, &version) ||
	    sql_reg_model_find(req, name, 0, &id, &req->err) ||
	    sql_reg_version_get(req, id, name, version, &mv, &req->err) ||
	    sql_bundle_get(req, id, version, &bundle, &req->err))
		return -1;
	json_object_set(req_resp(req), "model_version", mv);
	if (bundle)
		json_object_set(req_resp(req), "bundle", bundle);
	return 0;
}

/* The trail of a model (by id, or by the name a deleted model had) into
 * the answer's `field`; kind NULL for every kind. */
static int audit_answer(struct mt_req *req, const char *field, const char *kind)
{
	const char *name, *id = NULL, *version = NULL;
	json_t *list = json_array();
	struct mt_err e = MT_ERR_INIT;

	json_object_set_new(req_resp(req), field, list);
	if (reg_name_arg(req, "name", &name))
		return -1;
	if (json_object_get(req->body, "version") && reg_version_arg(req, name, &version))
		return -1;
	if (sql_reg_model_find(req, name, 0, &id, &e)) {
		if (e.code != MT_ENOTFOUND) {
			req->err = e;
			return -1;
		}
		id = NULL; /* deleted: its trail is kept under its name */
	}
	return sql_audit_list(req, id, name, version, kind, list, &req->err);
}

/* Stage transitions only, as before aliases and gates joined the trail. */
int api_gates_transitions(struct mt_req *req)
{
	return audit_answer(req, "transitions", "stage");
}

int api_gates_history(struct mt_req *req)
{
	const char *kind = NULL;

	if (req_opt_str(req, "kind", &kind))
		return -1;
	if (kind && strcmp(kind, "stage") != 0 && strcmp(kind, "alias") != 0 &&
	    strcmp(kind, "gate") != 0)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value for parameter 'kind': '%s' is not stage, alias or "
				  "gate", kind);
	return audit_answer(req, "events", kind);
}

/* mltrack's alias routes: MLflow's fields plus force and reason, and the
 * answer says what the gate decided. */
int api_gates_alias_set(struct mt_req *req)
{
	struct gate_alias_move m = { 0 };
	json_t *version, *report;
	const char *previous;
	int forced;

	if (reg_name_arg(req, "name", &m.name) ||
	    reg_alias_arg(req, "alias", REG_ALIAS_NEW, &m.alias) ||
	    reg_version_arg(req, m.name, &m.version) || bool_field(req, "force", &m.force) ||
	    reason_arg(req, &m.reason))
		return -1;
	if (m.force && (!m.reason || !*m.reason))
		return mt_err_set(&req->err, MT_EINVAL, "a forced alias move needs a reason");
	if (gate_alias(req, &m, &version, &report, &forced, &previous))
		return -1;
	json_object_set(req_resp(req), "model_version", version);
	json_object_set(req_resp(req), "report", report ? report : json_null());
	json_object_set_new(req_resp(req), "forced", json_boolean(forced));
	json_object_set_new(req_resp(req), "previous_version",
			    previous ? json_string(previous) : json_null());
	return 0;
}

int api_gates_alias_delete(struct mt_req *req)
{
	struct gate_alias_move m = { 0 };
	json_t *version, *report;
	const char *previous;
	int forced;

	if (reg_name_arg(req, "name", &m.name) ||
	    reg_alias_arg(req, "alias", REG_ALIAS_ANY, &m.alias) || reason_arg(req, &m.reason) ||
	    gate_alias(req, &m, &version, &report, &forced, &previous))
		return -1;
	json_object_set_new(req_resp(req), "previous_version",
			    previous ? json_string(previous) : json_null());
	return 0;
}
