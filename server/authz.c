/* authz.c: authorization of every request (see authz.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "authz.h"
#include "mt_json.h"
#include "mt_path.h"
#include "sql_authz.h"

static const char *const res_names[RES_COUNT] = {
	[RES_UNSET] = "?",
	[RES_PUBLIC] = "public",
	[RES_ANY] = "any",
	[RES_SEARCH] = "search",
	[RES_ADMIN] = "admin",
	[RES_USER] = "user",
	[RES_TOKEN] = "token",
	[RES_BUNDLE] = "bundle",
	[RES_EXPERIMENT] = "experiment",
	[RES_EXPERIMENT_NAME] = "experiment-name",
	[RES_RUN] = "run",
	[RES_RUNS] = "runs",
	[RES_LOGGED_MODEL] = "logged-model",
	[RES_ARTIFACT] = "artifact",
	[RES_MODEL] = "model",
	[RES_MODEL_NEW] = "model-new",
};

static const struct {
	unsigned flag;
	const char *name;
} az_names[] = {
	{ AZ_UNSCOPED, "unscoped" }, { AZ_PASSWORD, "password" }, { AZ_SELF, "self" },
	{ AZ_PROMOTE, "promote" },   { AZ_STAGE, "stage" },       { AZ_FORCE, "force" },
	{ AZ_CREATOR, "creator" },   { AZ_EXP0, "exp0" },         { AZ_LINKS, "links" },
	{ AZ_MODEL_REFS, "model-refs" },
};

/* Resource classes whose routes name a permission level. */
static int leveled(int res)
{
	return res == RES_EXPERIMENT || res == RES_EXPERIMENT_NAME || res == RES_RUN ||
	       res == RES_RUNS || res == RES_LOGGED_MODEL || res == RES_ARTIFACT ||
	       res == RES_MODEL || res == RES_MODEL_NEW;
}

const char *authz_class(const struct mt_route *r, char *buf, size_t size)
{
	size_t n;

	if (r->res >= RES_COUNT)
		return "?";
	n = (size_t)snprintf(buf, size, "%s", res_names[r->res]);
	if (r->need && n < size)
		n += (size_t)snprintf(buf + n, size - n, ":%s", mt_perm_name(r->need));
	for (size_t i = 0; i < sizeof(az_names) / sizeof(az_names[0]) && n < size; i++)
		if (r->az & az_names[i].flag)
			n += (size_t)snprintf(buf + n, size - n, "+%s", az_names[i].name);
	return buf;
}

int authz_init(struct mt_err *err)
{
	for (size_t i = 0; i < mt_routes_count; i++) {
		const struct mt_route *r = &mt_routes[i];
		const char *why = NULL;

		if (r->res == RES_UNSET || r->res >= RES_COUNT)
			why = "has no resource class";
		else if (!(r->flags & R_PUBLIC) != (r->res != RES_PUBLIC))
			why = "is R_PUBLIC without RES_PUBLIC, or the other way round";
		else if (leveled(r->res) != (r->need > MT_PERM_NONE && r->need <= MT_PERM_MANAGE))
			why = "names a permission its class has none of, or lacks one";
		else if ((r->az & (AZ_PROMOTE | AZ_STAGE | AZ_FORCE)) &&
			 (r->res != RES_MODEL || r->need != MT_PERM_EDIT))
			why = "refines a need that is not EDIT on a model";
		else if ((r->az & AZ_CREATOR) && !(r->flags & R_TXN))
			why = "grants its creator a row outside its transaction";
		else if ((r->az & AZ_EXP0) && r->res != RES_EXPERIMENT)
			why = "defaults an experiment it does not name";
		else if ((r->az & AZ_SELF) && r->res != RES_USER)
			why = "lets a user act on themself where there is no user";
		else if ((r->az & AZ_LINKS) && r->res != RES_MODEL)
			why = "checks what a version is made from on a route that makes none";
		else if ((r->az & AZ_MODEL_REFS) && r->res != RES_RUN)
			why = "checks the logged models of a run's points on a route without a run";
		if (why)
			return mt_err_set(err, MT_EINTERNAL, "route %s %s %s (routes.c)", r->method,
					  r->path, why);
	}
	return 0;
}

int authz_default_reads(void)
{
	return mt_cfg.default_permission >= MT_PERM_READ;
}

/* A scope that does not parse (stored by an older mltrackd, or by hand)
 * grants nothing. */
static const struct mt_scope no_grants = { NULL, 0 };

const struct mt_scope *authz_scope(struct mt_req *req)
{
	struct mt_scope *s;
	struct mt_err err = MT_ERR_INIT;

	if (!req->who.authenticated || !req->who.scope)
		return NULL;
	if (req->who.grants)
		return req->who.grants;
	s = mt_arena_alloc(req->arena, sizeof(*s));
	if (mt_scope_parse(s, req->who.scope, req->arena, &err)) {
		fprintf(stderr, "mltrackd: token %lld of %s: its scope grants nothing: %s\n",
			req->who.token_id, req->who.username, err.msg);
		req->who.grants = &no_grants;
	} else {
		req->who.grants = s;
	}
	return req->who.grants;
}

int authz_filters(struct mt_req *req)
{
	return req->who.authenticated && (!req->who.is_admin || req->who.scope);
}

/* ---- reading the request ---- */

static const char *field(struct mt_req *req, const char *name)
{
	const char *s = NULL;
	struct mt_err ignored = MT_ERR_INIT;

	if (mt_json_opt_str(&s, req->body, name, req->arena, &ignored))
		return NULL;
	return s && *s ? s : NULL;
}

static int digits(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n <= max && strspn(s, "0123456789") == n;
}

/* "force": true (or "true", as the gate routes read it). */
static int forcing(struct mt_req *req)
{
	json_t *v = json_object_get(req->body, "force");

	return json_is_true(v) ||
	       (json_is_string(v) && strcasecmp(json_string_value(v), "true") == 0);
}

/* MLflow's stage names, any case, canonical; NULL for anything else. */
static const char *stage_canonical(const char *s)
{
	static const char *const stages[] = { "None", "Staging", "Production", "Archived" };

	for (size_t i = 0; s && i < 4; i++)
		if (strcasecmp(s, stages[i]) == 0)
			return stages[i];
	return NULL;
}

/* The bearer token is the server's admin token (MLTRACK_ADMIN_TOKEN):
 * what forces a gate while no user exists.  Constant time. */
static int admin_token(struct mt_req *req)
{
	const char *h = mg_get_header(req->conn, "Authorization");
	size_t n;

	if (!mt_cfg.admin_token || !*mt_cfg.admin_token || !h || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	n = strlen(mt_cfg.admin_token);
	return strlen(h) == n && CRYPTO_memcmp(h, mt_cfg.admin_token, n) == 0;
}

/* ---- deciding ---- */

/* What the caller holds on one resource. */
struct standing {
	enum mt_perm owner;    /* the user's: admin MANAGE, the row, or the default */
	enum mt_perm granted;  /* the scope's (MANAGE when unscoped) */
	enum mt_stage_cap cap; /* the scope's stage limit at that level */
	const char *what;      /* "experiment 7", "registered model 'churn'" */
};

static enum mt_perm min_perm(enum mt_perm a, enum mt_perm b)
{
	return a < b ? a : b;
}

static enum mt_perm owner_perm(struct mt_req *req, const char *row)
{
	enum mt_perm p;

	if (req->who.is_admin)
		return MT_PERM_MANAGE;
	if (row && mt_perm_parse(row, &p) == 0)
		return p;
	return (enum mt_perm)mt_cfg.default_permission;
}

static const char *who(struct mt_req *req)
{
	if (req->who.token_name)
		return mt_arena_printf(req->arena, "the token '%s' of user '%s'", req->who.token_name,
				       req->who.username);
	return mt_arena_printf(req->arena, "user '%s'", req->who.username);
}

static int denied(struct mt_req *req, const char *why)
{
	return mt_err_set(&req->err, MT_EPERM, "Permission denied: %s", why);
}

/* Refuse unless st meets need; a promote grant's limits for model routes. */
static int decide(struct mt_req *req, const struct standing *st, enum mt_perm need,
		  const char *from_stage)
{
	const struct mt_route *r = req->route;
	struct mt_arena *a = req->arena;
	const char *cap = mt_stage_cap_name(st->cap), *to;

	if (st->owner < need)
		return denied(req, mt_arena_printf(a, "%s on %s is needed; %s has %s",
						   mt_perm_name(need), st->what, who(req),
						   mt_perm_name(st->owner)));
	if (st->granted < need)
		return denied(req, mt_arena_printf(a, "%s on %s is needed; %s is scoped to '%s', "
						   "which does not grant it", mt_perm_name(need),
						   st->what, who(req), req->who.scope));
	if (need != MT_PERM_EDIT || st->granted != MT_PERM_EDIT || st->cap == MT_CAP_ANY)
		return 0;
	if (!(r->az & AZ_PROMOTE))
		return denied(req, mt_arena_printf(a, "%s may only register versions of %s and "
						   "move them up to %s (scope '%s'); this needs EDIT",
						   who(req), st->what, cap, req->who.scope));
	if (!(r->az & AZ_STAGE) || !(to = stage_canonical(field(req, "stage"))) ||
	    mt_stage_allowed(st->cap, from_stage, to))
		return 0;
	if (from_stage && strcmp(from_stage, "Production") == 0)
		return denied(req, mt_arena_printf(a, "%s may move versions of %s up to %s only "
						   "(scope '%s'), not out of Production", who(req),
						   st->what, cap, req->who.scope));
	return denied(req, mt_arena_printf(a, "%s may move versions of %s up to %s only (scope "
					   "'%s'), not into %s", who(req), st->what, cap,
					   req->who.scope, to));
}

/* The standing on experiment id (digits) with the user's row `row`. */
static void on_experiment(struct mt_req *req, long long id, const char *row, const char *what,
			  struct standing *st)
{
	const struct mt_scope *s = authz_scope(req);

	st->owner = owner_perm(req, row);
	st->granted = s ? mt_scope_experiment(s, id) : MT_PERM_MANAGE;
	st->cap = MT_CAP_ANY;
	st->what = what ? what : mt_arena_printf(req->arena, "experiment %lld", id);
}

static void on_model(struct mt_req *req, const char *name, const char *row, struct standing *st)
{
	const struct mt_scope *s = authz_scope(req);

	st->owner = owner_perm(req, row);
	st->cap = MT_CAP_ANY;
	st->granted = s ? mt_scope_model(s, name, &st->cap) : MT_PERM_MANAGE;
	st->what = mt_arena_printf(req->arena, "registered model '%s'", name);
}

/* The experiment an artifact path lies under ("7/<run>/artifacts/x" or
 * "7"), or -1 for a path under none; -2 when the path does not normalise
 * (the handler refuses it). */
static long long artifact_experiment(struct mt_req *req)
{
	const char *in = req->route->flags & R_PREFIX ? req->subpath : field(req, "path");
	char rel[MT_PATH_MAX + 1], num[20];
	struct mt_err ignored = MT_ERR_INIT;
	size_t n;

	if (mt_path_normalise(rel, in ? in : "", in ? strlen(in) : 0, 1, &ignored))
		return -2;
	n = strspn(rel, "0123456789");
	if (n == 0 || n > 18 || (rel[n] != '/' && rel[n] != '\0'))
		return -1;
	memcpy(num, rel, n);
	num[n] = '\0';
	return strtoll(num, NULL, 10);
}

/* The run ids of RES_RUNS: run_ids and run_id (either may repeat). */
static int run_list(struct mt_req *req, const char ***out, size_t *n)
{
	const char **a = NULL, **b = NULL;
	size_t na = 0, nb = 0;
	struct mt_err ignored = MT_ERR_INIT;

	if (mt_json_str_list(&a, &na, req->body, "run_ids", req->arena, &ignored) ||
	    mt_json_str_list(&b, &nb, req->body, "run_id", req->arena, &ignored))
		return -1;
	*out = mt_arena_alloc(req->arena, sizeof(**out) * (na + nb + 1));
	for (size_t i = 0; i < na; i++)
		(*out)[i] = a[i];
	for (size_t i = 0; i < nb; i++)
		(*out)[na + i] = b[i];
	*n = na + nb;
	return 0;
}

/* Refuse unless the user reads q (found by the lookup that filled it). */
static int link_readable(struct mt_req *req, const struct sqlz_perm *q, const char *what)
{
	enum mt_perm p = owner_perm(req, q->permission);

	if (!q->found || p >= MT_PERM_READ)
		return 0;
	return denied(req, mt_arena_printf(req->arena, "READ on %s is needed to make a version "
					   "from it; %s has %s", what, who(req), mt_perm_name(p)));
}

/* What a model version is made from (AZ_LINKS) must be readable by the
 * caller's user (not narrowed by a scope: the link is the owner's to make):
 * else a version would hand its artifacts and its run's metrics (gate
 * reports) to whoever reads the model.  The run (run_id), the logged model
 * (model_id), and the source: mlflow-artifacts:/<experiment>/...,
 * runs:/<run>/..., models:/<logged model id> or models:/<name>/<version>.
 * Unknown ones are the handler's to refuse. */
static int check_links(struct mt_req *req)
{
	const char *src = field(req, "source"), *p;
	const char *runs[2] = { field(req, "run_id"), NULL }, *lm = field(req, "model_id");
	const char *exp = NULL, *model = NULL;
	long long uid = req->who.user_id;
	struct sqlz_perm q;
	size_t n;

	if (src && strncmp(src, "mlflow-artifacts:", 17) == 0) {
		p = src + 17;
		if (strncmp(p, "//", 2) == 0)
			p = strchr(p + 2, '/') ? strchr(p + 2, '/') : "";
		while (*p == '/')
			p++;
		n = strspn(p, "0123456789");
		if (n && n <= 18 && (p[n] == '/' || p[n] == '\0'))
			exp = mt_arena_strndup(req->arena, p, n);
	} else if (src && strncmp(src, "runs:/", 6) == 0) {
		for (p = src + 6; *p == '/'; p++)
			;
		runs[1] = mt_arena_strndup(req->arena, p, strcspn(p, "/"));
	} else if (src && strncmp(src, "models:/", 8) == 0) {
		for (p = src + 8; *p == '/'; p++)
			;
		if (strchr(p, '/')) /* models:/<name>/<version> */
			model = mt_arena_strndup(req->arena, p, (size_t)(strrchr(p, '/') - p));
		else if (!lm) /* models:/<logged model id> */
			lm = p;
	}
	for (int i = 0; i < 2; i++) {
		if (!runs[i] || !*runs[i])
			continue;
		if (sqlz_run(req, runs[i], uid, &q, &req->err) ||
		    link_readable(req, &q, mt_arena_printf(req->arena, "experiment %lld (run %s)",
							   q.experiment_id, runs[i])))
			return -1;
	}
	if (lm && (sqlz_logged_model(req, lm, uid, &q, &req->err) ||
		   link_readable(req, &q, mt_arena_printf(req->arena, "experiment %lld (logged "
							  "model %s)", q.experiment_id, lm))))
		return -1;
	if (exp && (sqlz_experiment(req, exp, uid, &q, &req->err) ||
		    link_readable(req, &q, mt_arena_printf(req->arena, "experiment %s (the source's "
							   "artifacts)", exp))))
		return -1;
	if (model) {
		if (sqlz_model(req, model, NULL, uid, &q, &req->err))
			return -1;
		q.found = 1; /* a missing model: the default, as for any model name */
		if (link_readable(req, &q, mt_arena_printf(req->arena, "registered model '%s' (the "
							   "source)", model)))
			return -1;
	}
	return 0;
}

/* The logged models a request names (model_id; metrics[].model_id;
 * models[].model_id), distinct, into an arena array. */
static size_t model_refs(struct mt_req *req, const char ***out)
{
	json_t *lists[2] = { json_object_get(req->body, "metrics"),
			     json_object_get(req->body, "models") };
	size_t cap = 1 + json_array_size(lists[0]) + json_array_size(lists[1]), n = 0, i;
	const char **ids = mt_arena_alloc(req->arena, sizeof(*ids) * cap);
	json_t *x;

	ids[n] = field(req, "model_id");
	n += ids[n] != NULL;
	for (int l = 0; l < 2; l++)
		json_array_foreach(lists[l], i, x) {
			const char *id = json_string_value(json_object_get(x, "model_id"));
			size_t j;

			for (j = 0; id && *id && j < n && strcmp(ids[j], id) != 0; j++)
				;
			if (id && *id && j == n)
				ids[n++] = id;
		}
	*out = ids;
	return n;
}

/* AZ_MODEL_REFS: need on the experiment of each logged model named. */
static int check_model_refs(struct mt_req *req, enum mt_perm need)
{
	const char **ids;
	size_t n = model_refs(req, &ids), nf;
	struct sqlz_perm *ps;
	struct standing st;

	if (n == 0)
		return 0;
	if (sqlz_logged_models(req, ids, n, req->who.user_id, &ps, &nf, &req->err))
		return -1;
	for (size_t i = 0; i < nf; i++) {
		on_experiment(req, ps[i].experiment_id, ps[i].permission,
			      mt_arena_printf(req->arena, "experiment %lld (a logged model the "
					      "request names)", ps[i].experiment_id), &st);
		if (decide(req, &st, need, NULL))
			return -1;
	}
	return 0;
}

static int check_resource(struct mt_req *req, enum mt_perm need)
{
	const struct mt_route *r = req->route;
	const struct mt_scope *s = authz_scope(req);
	long long uid = req->who.user_id;
	struct sqlz_perm p;
	struct standing st;
	const char *key;

	switch (r->res) {
	case RES_EXPERIMENT:
		key = field(req, "experiment_id");
		if (!key && (r->az & AZ_EXP0))
			key = "0";
		if (!digits(key, 18))
			return 0; /* names no experiment: the handler says so */
		if (!req->who.is_admin && sqlz_experiment(req, key, uid, &p, &req->err))
			return -1;
		on_experiment(req, strtoll(key, NULL, 10), req->who.is_admin ? NULL : p.permission,
			      NULL, &st);
		return decide(req, &st, need, NULL);
	case RES_EXPERIMENT_NAME:
		if (!(key = field(req, "experiment_name")) ||
		    sqlz_experiment_name(req, key, uid, &p, &req->err))
			return key ? -1 : 0;
		if (!p.found)
			return 0;
		on_experiment(req, p.experiment_id, p.permission,
			      mt_arena_printf(req->arena, "experiment %lld ('%s')", p.experiment_id,
					      key), &st);
		return decide(req, &st, need, NULL);
	case RES_RUN:
		key = field(req, "run_id");
		if (!key)
			key = field(req, "run_uuid");
		if (!key)
			return 0;
		if (sqlz_run(req, key, uid, &p, &req->err))
			return -1;
		if (!p.found)
			return 0;
		on_experiment(req, p.experiment_id, p.permission,
			      mt_arena_printf(req->arena, "experiment %lld (run %s)", p.experiment_id,
					      key), &st);
		if (decide(req, &st, need, NULL))
			return -1;
		return r->az & AZ_MODEL_REFS ? check_model_refs(req, need) : 0;
	case RES_RUNS: {
		const char **ids;
		size_t n, nf;
		struct sqlz_perm *ps;

		if (run_list(req, &ids, &n) || n == 0)
			return 0;
		if (sqlz_runs(req, ids, n, uid, &ps, &nf, &req->err))
			return -1;
		for (size_t i = 0; i < nf; i++) {
			on_experiment(req, ps[i].experiment_id, ps[i].permission, NULL, &st);
			if (decide(req, &st, need, NULL))
				return -1;
		}
		return 0;
	}
	case RES_LOGGED_MODEL: {
		const char *sub = req->subpath ? req->subpath : "";

		key = mt_arena_strndup(req->arena, sub, strcspn(sub, "/"));
		if (!*key)
			return 0;
		if (sqlz_logged_model(req, key, uid, &p, &req->err))
			return -1;
		if (!p.found)
			return 0;
		on_experiment(req, p.experiment_id, p.permission,
			      mt_arena_printf(req->arena, "experiment %lld (logged model %s)",
					      p.experiment_id, key), &st);
		return decide(req, &st, need, NULL);
	}
	case RES_ARTIFACT: {
		long long e = artifact_experiment(req);

		if (e == -2)
			return 0;
		if (e >= 0) {
			key = mt_arena_printf(req->arena, "%lld", e);
			if (!req->who.is_admin && sqlz_experiment(req, key, uid, &p, &req->err))
				return -1;
			on_experiment(req, e, req->who.is_admin ? NULL : p.permission, NULL, &st);
			return decide(req, &st, need, NULL);
		}
		/* Under no experiment (the registry's bundles): MLflow's
		 * default permission; in a scope, reads for read:* or a model
		 * grant (a bundle belongs to a model). */
		st.owner = owner_perm(req, NULL);
		st.granted = s ? MT_PERM_NONE : MT_PERM_MANAGE;
		for (size_t i = 0; s && i < s->n; i++)
			if (s->grants[i].kind != MT_GRANT_EXPERIMENT)
				st.granted = MT_PERM_READ;
		st.cap = MT_CAP_ANY;
		st.what = "artifacts outside any experiment";
		return decide(req, &st, need, NULL);
	}
	case RES_MODEL: {
		const char *version = (r->az & AZ_STAGE) ? field(req, "version") : NULL;

		if (!(key = field(req, "name")))
			return 0;
		if (!digits(version, 9))
			version = NULL;
		if (sqlz_model(req, key, version, uid, &p, &req->err))
			return -1;
		on_model(req, key, p.found ? p.permission : NULL, &st);
		if (decide(req, &st, need, p.stage))
			return -1;
		return (r->az & AZ_LINKS) && !req->who.is_admin ? check_links(req) : 0;
	}
	case RES_MODEL_NEW:
		if (!s || !(key = field(req, "name")))
			return 0; /* anyone may create one; the scope names what a token may */
		on_model(req, key, NULL, &st);
		st.owner = MT_PERM_MANAGE;
		st.cap = MT_CAP_ANY; /* a promote grant may create its model */
		return decide(req, &st, need, NULL);
	default:
		return 0;
	}
}

int authz_check(struct mt_req *req)
{
	const struct mt_route *r = req->route;
	const struct mt_scope *s;
	enum mt_perm need = (enum mt_perm)r->need;
	int force = (r->az & AZ_FORCE) && forcing(req);

	if (r->res == RES_PUBLIC)
		return 0;
	if (!req->who.authenticated) {
		/* No user exists: a one-person server, as before users. */
		if (force && !admin_token(req))
			return mt_err_set(&req->err, MT_EPERM,
					  "forcing a move past its gate needs the server's admin "
					  "token (MLTRACK_ADMIN_TOKEN) as the bearer token");
		return 0;
	}
	if (force)
		need = MT_PERM_MANAGE;
	s = authz_scope(req);
	if (s && s->n == 0 && r->res != RES_ANY && r->res != RES_TOKEN)
		return mt_err_set(&req->err, MT_EPERM,
				  "Permission denied: the scope of %s does not parse, so it grants "
				  "nothing; revoke the token and create another", who(req));
	if (s && (r->az & AZ_UNSCOPED || r->res == RES_ADMIN || r->res == RES_USER))
		return denied(req, mt_arena_printf(req->arena, "%s is scoped to '%s': this needs a "
						   "credential without a scope", who(req),
						   req->who.scope));
	if ((r->az & AZ_PASSWORD) && req->who.token_id &&
	    !(r->res == RES_USER && req->who.is_admin))
		return denied(req, mt_arena_printf(req->arena, "this needs a password login, not a "
						   "token (%s)", who(req)));
	if (req->who.is_admin && !s)
		return 0; /* admins may do everything */
	switch (r->res) {
	case RES_ANY:
	case RES_SEARCH:
		return 0;
	case RES_ADMIN:
		return denied(req, mt_arena_printf(req->arena, "only an admin may do this; %s is not "
						   "one", who(req)));
	case RES_USER: {
		const char *u = field(req, "username");

		if ((r->az & AZ_SELF) && u && strcmp(u, req->who.username) == 0)
			return 0;
		return denied(req, mt_arena_printf(req->arena, "only an admin may do this for a user "
						   "other than %s", who(req)));
	}
	case RES_TOKEN: {
		const char *id = field(req, "id");

		if (!s || (id && digits(id, 18) && strtoll(id, NULL, 10) == req->who.token_id))
			return 0;
		return denied(req, mt_arena_printf(req->arena, "%s is scoped: it may revoke itself "
						   "only", who(req)));
	}
	case RES_BUNDLE:
		if (!s || mt_scope_edits_a_model(s))
			return 0;
		return denied(req, mt_arena_printf(req->arena, "%s is scoped to '%s', which grants "
						   "EDIT on no model", who(req), req->who.scope));
	default:
		return check_resource(req, need);
	}
}

int authz_created(struct mt_req *req)
{
	const struct mt_route *r = req->route;
	json_t *v;

	if (!(r->az & AZ_CREATOR) || !req->who.authenticated || !req->resp)
		return 0;
	if (r->res == RES_MODEL_NEW) {
		v = json_object_get(json_object_get(req->resp, "registered_model"), "name");
		return json_is_string(v) ? sqlz_grant_model(req, json_string_value(v),
							    req->who.user_id, "MANAGE", &req->err)
					 : 0;
	}
	v = json_object_get(req->resp, "experiment_id");
	return json_is_string(v) ? sqlz_grant_experiment(req, json_string_value(v),
							 req->who.user_id, "MANAGE", &req->err)
				 : 0;
}

/* ---- GET mltrack/auth/permission ---- */

int api_authz_permission(struct mt_req *req)
{
	const char *exp = field(req, "experiment_id"), *name = field(req, "name");
	struct sqlz_perm p;
	struct standing st;
	enum mt_perm eff = MT_PERM_MANAGE;

	if (!exp == !name)
		return mt_err_set(&req->err, MT_EINVAL, "give experiment_id or name (a registered "
							"model's), exactly one of them");
	if (exp && !digits(exp, 18))
		return mt_err_set(&req->err, MT_EINVAL, "Invalid experiment ID: '%.100s'", exp);
	if (req->who.authenticated) {
		if (exp) {
			if (sqlz_experiment(req, exp, req->who.user_id, &p, &req->err))
				return -1;
			on_experiment(req, strtoll(exp, NULL, 10), p.permission, NULL, &st);
		} else {
			if (sqlz_model(req, name, NULL, req->who.user_id, &p, &req->err))
				return -1;
			on_model(req, name, p.found ? p.permission : NULL, &st);
		}
		eff = min_perm(st.owner, st.granted);
	}
	json_object_set_new(req_resp(req), "permission", json_string(mt_perm_name(eff)));
	return 0;
}
