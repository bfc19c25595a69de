/*
 * api_users.c: MLflow's auth REST API (mlflow/server/auth, 2.9.2), so that
 * MLflow's auth client (mlflow.server.get_app_client("basic-auth", ...))
 * and admin scripts written for it work against mltrackd:
 *
 *   POST   users/create                      {username, password} -> {user}
 *   GET    users/get                         ?username -> {user}
 *   PATCH  users/update-password             {username, password} -> {}
 *   PATCH  users/update-admin                {username, is_admin} -> {}
 *   DELETE users/delete                      {username} -> {}
 *   POST   experiments/permissions/create    {experiment_id, username, permission}
 *                                             -> {experiment_permission}
 *   GET    experiments/permissions/get       ?experiment_id&username -> {experiment_permission}
 *   PATCH  experiments/permissions/update    {experiment_id, username, permission} -> {}
 *   DELETE experiments/permissions/delete    {experiment_id, username} -> {}
 *   ... registered-models/permissions/...   the same with name for experiment_id
 *
 * under /api/2.0/mlflow/ (and /ajax-api/), with MLflow's fields, answers
 * and error codes: RESOURCE_DOES_NOT_EXIST (404) for a missing user, row,
 * experiment or model, RESOURCE_ALREADY_EXISTS (400) for a taken name or an
 * existing row, INVALID_PARAMETER_VALUE (400) for a permission that is not
 * READ, EDIT, MANAGE or NO_PERMISSIONS.  Who may call them is the route
 * table's business (authz.c), as MLflow's: users/... admins (users/get and
 * update-password also the user themself), permissions MANAGE on the
 * experiment or model, no scoped token.
 *
 * Where mltrack differs, it says so in docs/security.md: user names and
 * passwords follow mltrack's rules (lib/mt_auth.h: a password has at least
 * 8 characters); a permission row needs its experiment or model to exist
 * (MLflow stores rows for anything); the last admin cannot be deleted or
 * demoted; the first user created, while no user exists, is an admin and
 * turns authentication on at once (the rule of `mltrackd user add`).
 * Passwords are hashed with PBKDF2 (lib/mt_auth), outside any transaction
 * and holding no database connection, and never logged.
 */
#include <stdio.h>
#include <string.h>


#include "api.h"
#include "api_common.h"
#include "auth.h"
#include "mt_auth.h"
#include "mt_json.h"
#include "mt_scope.h"
#include "mt_util.h"
#include "sql_auth.h"
#include "sql_authz.h"
#include "sql_registry.h"

/* ---- arguments ---- */

static int permission_arg(struct mt_req *req, const char **out)
{
	enum mt_perm p;

	if (req_str(req, "permission", out))
		return -1;
	if (mt_perm_parse(*out, &p))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid permission '%s'. Valid permissions are: ('READ', 'EDIT', "
				  "'MANAGE', 'NO_PERMISSIONS')", *out);
	return 0;
}

/* The user named by "username": RESOURCE_DOES_NOT_EXIST when none. */
static int user_arg(struct mt_req *req, struct sql_user *u)
{
	const char *name;
	int found = 0;

	if (req_str(req, "username", &name) || sql_user_get(req, name, u, &found, &req->err))
		return -1;
	if (!found)
		return mt_err_set(&req->err, MT_ENOTFOUND, "User with username=%s not found", name);
	return 0;
}

/* A new password, hashed into hash (MT_PASSWORD_HASH_MAX): the KDF runs
 * with no database connection held. */
static int new_password(struct mt_req *req, char *hash)
{
	const char *pw, *why;
	int rc;

	if (req_str(req, "password", &pw))
		return -1;
	if ((why = mt_auth_password_invalid(pw)))
		return mt_err_set(&req->err, MT_EINVAL, "%s", why);
	db_release(req->w);
	rc = mt_auth_password_hash(pw, hash, MT_PASSWORD_HASH_MAX);
	if (rc)
		return mt_err_set(&req->err, MT_EINTERNAL, "cannot hash the password");
	return 0;
}

static json_t *user_json(struct mt_req *req, const struct sql_user *u)
{
	json_t *exps = json_array(), *models = json_array();

	if (sqlz_user_perms(req, u->id, exps, models, &req->err)) {
		json_decref(exps);
		json_decref(models);
		return NULL;
	}
	return json_pack("{s:I, s:s, s:b, s:o, s:o}", "id", (json_int_t)u->id, "username",
			 u->username, "is_admin", u->is_admin, "experiment_permissions", exps,
			 "registered_model_permissions", models);
}

/* ---- users ---- */

struct user_new {
	const char *name;
	const char *hash;
	struct sql_user u;
};

static int create_txn(struct mt_req *req, void *arg)
{
	struct user_new *n = arg;
	long long admins = 0;

	/* The first user, or any while no admin exists, is an admin (the rule
	 * of `mltrackd user add`): someone can always manage the server. */
	if (sql_user_admins_locked(req, &admins, &req->err))
		return -1;
	memset(&n->u, 0, sizeof(n->u));
	n->u.username = n->name;
	n->u.is_admin = admins == 0;
	n->u.created_at = n->u.updated_at = mt_now_ms();
	if (sql_user_insert(req, n->name, n->hash, n->u.is_admin, n->u.created_at, &n->u.id,
			    &req->err)) {
		if (req->err.code == MT_EEXISTS)
			mt_err_set(&req->err, MT_EEXISTS, "User (username=%s) already exists.",
				   n->name);
		return -1;
	}
	return 0;
}

int api_users_create(struct mt_req *req)
{
	char hash[MT_PASSWORD_HASH_MAX];
	struct user_new n = { 0 };
	const char *why;
	json_t *j;

	if (req_str(req, "username", &n.name))
		return -1;
	if ((why = mt_auth_username_invalid(n.name)))
		return mt_err_set(&req->err, MT_EINVAL, "Invalid username '%s': %s", n.name, why);
	if (new_password(req, hash))
		return -1;
	n.hash = hash;
	if (http_txn(req, create_txn, &n))
		return -1;
	auth_users_changed();
	fprintf(stderr, "mltrackd: user '%s'%s created by %s\n", n.name,
		n.u.is_admin ? " (admin)" : "", auth_actor(req));
	if (!(j = user_json(req, &n.u)))
		return -1;
	json_object_set_new(req_resp(req), "user", j);
	return 0;
}

int api_users_get(struct mt_req *req)
{
	struct sql_user u;
	json_t *j;

	if (user_arg(req, &u) || !(j = user_json(req, &u)))
		return -1;
	json_object_set_new(req_resp(req), "user", j);
	return 0;
}

int api_users_update_password(struct mt_req *req)
{
	char hash[MT_PASSWORD_HASH_MAX];
	struct sql_user u;

	if (user_arg(req, &u) || new_password(req, hash) ||
	    sql_user_set_password(req, u.username, hash, mt_now_ms(), &req->err))
		return -1;
	fprintf(stderr, "mltrackd: password of '%s' changed by %s\n", u.username, auth_actor(req));
	req_resp(req);
	return 0;
}

/* Refuse to leave the server without an admin: the admin rows are locked
 * until the transaction ends (R_TXN). */
static int keep_an_admin(struct mt_req *req, const struct sql_user *u, const char *what)
{
	long long admins = 0;

	if (sql_user_admins_locked(req, &admins, &req->err))
		return -1;
	if (u->is_admin && admins <= 1)
		return mt_err_set(&req->err, MT_EINVAL, "Cannot %s %s: the last admin. Make "
				  "another user an admin first.", what, u->username);
	return 0;
}

int api_users_update_admin(struct mt_req *req)
{
	struct sql_user u;
	json_t *v = json_object_get(req->body, "is_admin");
	int admin;

	if (user_arg(req, &u))
		return -1;
	if (!json_is_boolean(v))
		return v ? mt_json_invalid(&req->err, "is_admin", v)
			 : mt_json_missing(&req->err, "is_admin");
	admin = json_is_true(v);
	if ((!admin && keep_an_admin(req, &u, "demote")) ||
	    sql_user_set_admin(req, u.username, admin, mt_now_ms(), &req->err))
		return -1;
	fprintf(stderr, "mltrackd: '%s' %s an admin by %s\n", u.username,
		admin ? "made" : "no longer", auth_actor(req));
	req_resp(req);
	return 0;
}

int api_users_delete(struct mt_req *req)
{
	struct sql_user u;

	if (user_arg(req, &u) || keep_an_admin(req, &u, "delete") ||
	    sql_user_delete(req, u.username, &req->err))
		return -1;
	auth_users_changed();
	fprintf(stderr, "mltrackd: user '%s' deleted by %s\n", u.username, auth_actor(req));
	req_resp(req);
	return 0;
}

/* ---- experiment permissions ---- */

static json_t *exp_perm_json(const char *experiment_id, long long user_id, const char *perm)
{
	return json_pack("{s:s, s:I, s:s}", "experiment_id", experiment_id, "user_id",
			 (json_int_t)user_id, "permission", perm);
}

/* experiment_id (an existing experiment) and the user; perm when asked. */
static int exp_perm_args(struct mt_req *req, const char **exp, struct sql_user *u,
			 const char **perm)
{
	int found = 0;

	if (req_str(req, "experiment_id", exp) || req_str(req, "username", &u->username) ||
	    (perm && permission_arg(req, perm)) || user_arg(req, u) ||
	    api_exp_id(req, "experiment_id", exp) ||
	    sqlz_experiment_exists(req, *exp, &found, &req->err))
		return -1;
	if (!found)
		return mt_err_set(&req->err, MT_ENOTFOUND, "No Experiment with id=%s exists", *exp);
	return 0;
}

static int exp_perm_missing(struct mt_req *req, const char *exp, const struct sql_user *u)
{
	return mt_err_set(&req->err, MT_ENOTFOUND, "Experiment permission with experiment_id=%s "
			  "and username=%s not found", exp, u->username);
}

int api_users_exp_perm_create(struct mt_req *req)
{
	const char *exp, *perm;
	struct sql_user u;

	if (exp_perm_args(req, &exp, &u, &perm))
		return -1;
	if (sqlz_exp_perm_insert(req, exp, u.id, perm, &req->err)) {
		if (req->err.code == MT_EEXISTS)
			mt_err_set(&req->err, MT_EEXISTS, "Experiment permission (experiment_id=%s, "
				   "username=%s) already exists.", exp, u.username);
		return -1;
	}
	json_object_set_new(req_resp(req), "experiment_permission", exp_perm_json(exp, u.id, perm));
	return 0;
}

int api_users_exp_perm_get(struct mt_req *req)
{
	const char *exp, *perm;
	struct sql_user u;

	if (exp_perm_args(req, &exp, &u, NULL) || sqlz_exp_perm_get(req, exp, u.id, &perm, &req->err))
		return -1;
	if (!perm)
		return exp_perm_missing(req, exp, &u);
	json_object_set_new(req_resp(req), "experiment_permission", exp_perm_json(exp, u.id, perm));
	return 0;
}

int api_users_exp_perm_update(struct mt_req *req)
{
	const char *exp, *perm;
	struct sql_user u;
	int found = 0;

	if (exp_perm_args(req, &exp, &u, &perm) ||
	    sqlz_exp_perm_update(req, exp, u.id, perm, &found, &req->err))
		return -1;
	if (!found)
		return exp_perm_missing(req, exp, &u);
	req_resp(req);
	return 0;
}

int api_users_exp_perm_delete(struct mt_req *req)
{
	const char *exp;
	struct sql_user u;
	int found = 0;

	if (exp_perm_args(req, &exp, &u, NULL) ||
	    sqlz_exp_perm_delete(req, exp, u.id, &found, &req->err))
		return -1;
	if (!found)
		return exp_perm_missing(req, exp, &u);
	req_resp(req);
	return 0;
}

/* ---- registered model permissions ---- */

static json_t *model_perm_json(const char *name, long long user_id, const char *perm)
{
	return json_pack("{s:s, s:I, s:s}", "name", name, "user_id", (json_int_t)user_id,
			 "permission", perm);
}

static int model_perm_args(struct mt_req *req, const char **name, long long *model_id,
			   struct sql_user *u, const char **perm)
{
	int found = 0;

	if (req_str(req, "name", name) || req_str(req, "username", &u->username) ||
	    (perm && permission_arg(req, perm)) || user_arg(req, u) ||
	    sqlz_model_id(req, *name, model_id, &found, &req->err))
		return -1;
	if (!found)
		return mt_err_set(&req->err, MT_ENOTFOUND, "Registered Model with name=%s not found",
				  *name);
	return 0;
}

static int model_perm_missing(struct mt_req *req, const char *name, const struct sql_user *u)
{
	return mt_err_set(&req->err, MT_ENOTFOUND, "Registered model permission with name=%s and "
			  "username=%s not found", name, u->username);
}

int api_users_model_perm_create(struct mt_req *req)
{
	const char *name, *perm;
	struct sql_user u;
	long long id;

	if (model_perm_args(req, &name, &id, &u, &perm))
		return -1;
	if (sqlz_model_perm_insert(req, id, u.id, perm, &req->err)) {
		if (req->err.code == MT_EEXISTS)
			mt_err_set(&req->err, MT_EEXISTS, "Registered model permission (name=%s, "
				   "username=%s) already exists.", name, u.username);
		return -1;
	}
	json_object_set_new(req_resp(req), "registered_model_permission",
			    model_perm_json(name, u.id, perm));
	return 0;
}

int api_users_model_perm_get(struct mt_req *req)
{
	const char *name, *perm;
	struct sql_user u;
	long long id;

	if (model_perm_args(req, &name, &id, &u, NULL) ||
	    sqlz_model_perm_get(req, id, u.id, &perm, &req->err))
		return -1;
	if (!perm)
		return model_perm_missing(req, name, &u);
	json_object_set_new(req_resp(req), "registered_model_permission",
			    model_perm_json(name, u.id, perm));
	return 0;
}

int api_users_model_perm_update(struct mt_req *req)
{
	const char *name, *perm;
	struct sql_user u;
	long long id;
	int found = 0;

	if (model_perm_args(req, &name, &id, &u, &perm) ||
	    sqlz_model_perm_update(req, id, u.id, perm, &found, &req->err))
		return -1;
	if (!found)
		return model_perm_missing(req, name, &u);
	req_resp(req);
	return 0;
}

int api_users_model_perm_delete(struct mt_req *req)
{
	const char *name;
	struct sql_user u;
	long long id;
	int found = 0;

	if (model_perm_args(req, &name, &id, &u, NULL) ||
	    sqlz_model_perm_delete(req, id, u.id, &found, &req->err))
		return -1;
	if (!found)
		return model_perm_missing(req, name, &u);
	req_resp(req);
	return 0;
}
