/*
 * api_gates.h: what api_gates.c shares with the MLflow registry handlers:
 * every stage transition goes through gate_transition(), every alias set
 * or delete through gate_alias(), and every new version through
 * gate_bundle_on_create(); deletions record what goes with them.
 */
#ifndef MT_API_GATES_H
#define MT_API_GATES_H

#include "server.h"

/* The request's "rules": a list of strings (absent or null: none), each a
 * rule that parses, as a gate's (alert 0: mt_gate_validate) or as
 * monitoring alert rules (alert 1: drift.* and live.* too); *out arena
 * memory borrowing the request's strings.  0, or -1 with a 400. */
int gate_rules_arg(struct mt_req *req, int alert, const char ***out, size_t *n);

/* A stage transition asked for; strings borrowed from the request. */
struct gate_move {
	const char *name, *version, *stage; /* stage canonical */
	int archive;                        /* archive_existing_versions */
	int force;                          /* past a failing gate (authz.c allowed it) */
	const char *reason;                 /* or NULL */
};

/* MLflow's transition-stage arguments (name, version, stage,
 * archive_existing_versions) into m, checked as MLflow checks them. */
int gate_move_args(struct mt_req *req, struct gate_move *m);

/* Move a version, through the target stage's gate, in its own transaction
 * (the caller's route has no R_TXN).  The attempt is audited whatever the
 * outcome.  On success *version is the moved ModelVersion, *report the gate
 * report or NULL (no gate), *forced whether a failing gate was overridden;
 * all request-owned.  A failing gate: -1 with 412 GATE_FAILED in req->err
 * and {"report": ...} in req->err_extra. */
int gate_transition(struct mt_req *req, const struct gate_move *m, json_t **version,
		    json_t **report, int *forced);

/* An alias move asked for; strings borrowed from the request. */
struct gate_alias_move {
	const char *name, *alias;
	const char *version; /* the version to point at, or NULL: delete the alias */
	int force;           /* past a failing gate (authz.c allowed it) */
	const char *reason;  /* or NULL */
};

/* Set or delete an alias in its own transaction (the caller's route has no
 * R_TXN); a set goes through the alias's gate, whose champion is the
 * version the alias points at now.  Every change is audited (kind alias),
 * refusals too.  *previous: the version the alias named before, or NULL.
 * On success *version is the ModelVersion now named (NULL after a delete),
 * *report the gate report or NULL, *forced whether a failing gate was
 * overridden; all request-owned.  Deleting an alias that is not set
 * changes and records nothing.  A failing gate: -1 with 412 GATE_FAILED in
 * req->err and {"report": ...} in req->err_extra. */
int gate_alias(struct mt_req *req, const struct gate_alias_move *m, json_t **version,
	       json_t **report, int *forced, const char **previous);

/* In the transaction deleting a model, before it goes: a "removed" gate
 * row for each of its gates. */
int gate_audit_model_delete(struct mt_req *req, const char *model_id, const char *name);
/* In the transaction deleting a version: an alias row (deleted) for each
 * alias name in aliases (a JSON array) that named it. */
int gate_audit_aliases_dropped(struct mt_req *req, const char *model_id, const char *name,
			       const char *version, const json_t *aliases);

/* Called by model-versions/create, in its transaction, after the version
 * row exists: a source naming an mltrack bundle is verified (else 400 and
 * the creation rolls back) and recorded; any other source is left alone. */
int gate_bundle_on_create(struct mt_req *req, const char *model_id, const char *version,
			  const char *source);

#endif
