/*
 * sql_gates.h: the SQL behind mltrack's registry extensions (api_gates.c):
 * gate policies on stages and on aliases, the subjects a gate evaluates (a
 * version with its run's latest metrics, params, tags and git provenance),
 * bundle records and the audit trail's listing.  Models are named by their
 * surrogate id (sql_registry.h).
 *
 * JSON results are request-owned (freed at the request's reset) and
 * strings handed out are arena memory.  Every function returns 0, or -1
 * with err set.
 */
#ifndef MT_SQL_GATES_H
#define MT_SQL_GATES_H

#include "server.h"

/* What a gate guards: a stage (canonical name) or an alias; exactly one of
 * the two is set. */
struct gate_target {
	const char *stage;
	const char *alias;
};

/* Store the rules guarding t; n == 0 removes them. */
int sql_gate_set(struct mt_req *req, const char *model_id, const struct gate_target *t,
		 const char *const *rules, size_t n, long long now, struct mt_err *err);
/* The rules guarding t as a JSON array of strings, or *out NULL (no gate). */
int sql_gate_get(struct mt_req *req, const char *model_id, const struct gate_target *t,
		 json_t **out, struct mt_err *err);
/* Appends {stage, rules, updated_timestamp} for every stage gate of the
 * model (by stage), then {alias, rules, updated_timestamp} for every alias
 * gate (by alias). */
int sql_gate_list(struct mt_req *req, const char *model_id, json_t *list, struct mt_err *err);
/* The newest version other than candidate holding stage, or *out NULL. */
int sql_gate_champion(struct mt_req *req, const char *model_id, const char *stage,
		      const char *candidate, const char **out, struct mt_err *err);
/* The gate subject of a visible version (lib/mt_gate.h): name, version,
 * run_id, metrics, params, tags, git; the caller adds "bundle".
 * *bundle_sha: the version's bundle digest, or NULL.  ENOTFOUND with
 * MLflow's message when the version does not exist. */
int sql_gate_subject(struct mt_req *req, const char *model_id, const char *name,
		     const char *version, json_t **out, const char **bundle_sha,
		     struct mt_err *err);

/* Record a verified bundle on a version: digest, size, manifest (JSON). */
int sql_bundle_record(struct mt_req *req, const char *model_id, const char *version,
		      const char *sha, long long size, const char *manifest, struct mt_err *err);
/* {sha256, size, manifest} of a version's bundle, or *out NULL. */
int sql_bundle_get(struct mt_req *req, const char *model_id, const char *version, json_t **out,
		   struct mt_err *err);
/* The digest and size stored at an artifact path, or *sha NULL. */
int sql_bundle_artifact(struct mt_req *req, const char *path, const char **sha,
			long long *size, struct mt_err *err);

/* Appends the audit rows of a model, oldest first: by model_id when the
 * model exists, else by the name it had (a deleted model's trail).
 * version NULL for all, else the rows naming it (as version or as the
 * version an alias pointed at before); kind NULL for every kind, else
 * "stage", "alias" or "gate".  Each row is an object with every member of
 * the trail (null where a kind has none): id, timestamp, kind, name,
 * version, from_stage, to_stage, alias, from_version, outcome, actor,
 * reason, report, rules_before, rules_after. */
int sql_audit_list(struct mt_req *req, const char *model_id, const char *name,
		   const char *version, const char *kind, json_t *list, struct mt_err *err);

#endif
