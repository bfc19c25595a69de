/*
 * mt_scope: permission levels and the scope of an API token (issue 13,
 * docs/security.md "Permissions").  Pure: nothing here prints, reads the
 * database or knows a request; server/authz.c combines what a scope grants
 * with what the token's owner holds.
 *
 * Permission levels are MLflow's: NO_PERMISSIONS < READ < EDIT < MANAGE.
 *
 * A scope narrows a token: it may do what its owner may do AND what the
 * scope grants, nothing else.  The grammar (whitespace around a grant is
 * ignored, keywords and levels in any case):
 *
 *   scope   = grant *( "," grant )                  at most 64 grants, 4096 bytes
 *   grant   = "read:*"                              READ on everything
 *           / "experiment:" ID ":" LEVEL            that experiment, its runs,
 *                                                   logged models and artifacts
 *           / "model:" NAME ":" LEVEL               that registered model, its
 *                                                   versions, aliases and gates
 *           / "model:" NAME ":promote:" STAGE       see below
 *   LEVEL   = "READ" / "EDIT" / "MANAGE"
 *   STAGE   = "Staging" / "Production"
 *   ID      = 1*18DIGIT
 *   NAME    = the model's name with '%', ',', ':', and bytes below 0x21 or
 *             0x7f written %XX ("my:model" is "my%3Amodel")
 *
 * "model:NAME:promote:STAGE" is what a CI job holds: READ on the model, and
 * of EDIT only registering versions (model-versions/create, version tags
 * and descriptions) and moving a version into a stage up to STAGE: with
 * Staging, into None or Staging and never a version that is in Production;
 * with Production, into any stage.  It does not set or delete aliases,
 * change the model itself, or force a gate (that is MANAGE).
 *
 * Several grants on one resource add up: the highest level counts, and a
 * plain EDIT or MANAGE grant lifts a promote grant's stage limit.
 */
#ifndef MT_SCOPE_H
#define MT_SCOPE_H

#include <stddef.h>

#include "mt_arena.h"
#include "mt_error.h"

enum mt_perm {
	MT_PERM_NONE = 0,   /* "NO_PERMISSIONS" */
	MT_PERM_READ = 1,
	MT_PERM_EDIT = 2,
	MT_PERM_MANAGE = 3,
};

/* The highest stage a promote grant may move a version into. */
enum mt_stage_cap {
	MT_CAP_ANY = 0,        /* no limit (not a promote grant) */
	MT_CAP_STAGING,
	MT_CAP_PRODUCTION,
};

enum mt_grant_kind {
	MT_GRANT_READ_ALL = 1,
	MT_GRANT_EXPERIMENT,
	MT_GRANT_MODEL,
};

struct mt_grant {
	enum mt_grant_kind kind;
	long long experiment_id;   /* MT_GRANT_EXPERIMENT */
	const char *model;         /* MT_GRANT_MODEL: the decoded name */
	enum mt_perm perm;         /* a promote grant: MT_PERM_EDIT */
	enum mt_stage_cap promote; /* a promote grant's stage; else MT_CAP_ANY */
};

struct mt_scope {
	struct mt_grant *grants;
	size_t n;
};

#define MT_SCOPE_MAX_LEN 4096
#define MT_SCOPE_MAX_GRANTS 64
#define MT_SCOPE_MAX_NAME 1024  /* bytes of a decoded model name */

/* "NO_PERMISSIONS", "READ", "EDIT", "MANAGE" (static). */
const char *mt_perm_name(enum mt_perm p);
/* One of those four names exactly (MLflow's spelling).  0, or -1. */
int mt_perm_parse(const char *s, enum mt_perm *out);

/* Parse text into out; grants and names are allocated from a (they live as
 * long as its memory).  0, or -1 with MT_EINVAL and a one-line message
 * that names the grant (by number, quoted) and what is wrong with it. */
int mt_scope_parse(struct mt_scope *out, const char *text, struct mt_arena *a,
		   struct mt_err *err);
/* The canonical text of a parsed scope (arena memory): keywords in lower
 * case, levels in upper case, stages capitalised, names encoded as above.
 * Parsing it again gives the same grants. */
const char *mt_scope_format(const struct mt_scope *s, struct mt_arena *a);

/* What the scope grants on experiment id (MT_PERM_NONE: nothing). */
enum mt_perm mt_scope_experiment(const struct mt_scope *s, long long id);
/* What it grants on model name; *cap gets the stage limit that applies at
 * that level (MT_CAP_ANY when a grant of the level has none). */
enum mt_perm mt_scope_model(const struct mt_scope *s, const char *name, enum mt_stage_cap *cap);
/* 1 when a grant gives READ on everything (read:*). */
int mt_scope_reads_all(const struct mt_scope *s);
/* 1 when some model grant reaches EDIT (a promote grant counts): the token
 * may upload model bundles. */
int mt_scope_edits_a_model(const struct mt_scope *s);

/* Whether a version now in stage `from` may be moved into stage `to` under
 * cap (stage names canonical: None, Staging, Production, Archived).  A
 * Staging cap allows into None or Staging, from anything but Production. */
int mt_stage_allowed(enum mt_stage_cap cap, const char *from, const char *to);
/* "Staging", "Production" (static); "" for MT_CAP_ANY. */
const char *mt_stage_cap_name(enum mt_stage_cap cap);

#endif
