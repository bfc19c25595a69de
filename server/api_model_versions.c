/*
 * api_model_versions.c: /api/2.0/mlflow/model-versions/... (MLFLOW-API.md
 * §4): create, get, update (PATCH), delete (DELETE, a redaction that keeps
 * the number), transition-stage, search (GET), get-download-uri, set-tag and
 * delete-tag.
 *
 * Creation and stage transitions lock the model row first, so concurrent
 * calls on one model run one at a time: two creations never get the same
 * number and concurrent promotions with archive_existing_versions leave
 * exactly one version in the target stage.  Every transition writes a
 * stage_transitions row in the same transaction.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api.h"
#include "webhooks.h"
#include "api_gates.h"
#include "api_registry.h"
#include "mt_filter.h"
#include "mt_json.h"
#include "mt_util.h"
#include "mt_validate.h"
#include "sql_logged_models.h"
#include "sql_registry.h"
#include "sql_runs.h"

/* ---- source validation (MLflow's handlers._validate_source) ---- */

/* Python's urllib.parse.unquote_plus into the arena: '+' is a space, %XX a
 * byte.  *len is the decoded length (it may hold NUL bytes). */
static char *unquote_plus(struct mt_arena *a, const char *s, size_t n, size_t *len)
{
	char *out = mt_arena_alloc(a, n + 1);
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < n && mt_hexval(s[i + 1]) >= 0 &&
			   mt_hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(mt_hexval(s[i + 1]) * 16 + mt_hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	*len = o;
	return out;
}

/* Length of a URI scheme at the start of s ("s3" in "s3://b/k"), 0 if none:
 * [A-Za-z][A-Za-z0-9+.-]* followed by ':'. */
static size_t scheme_len(const char *s)
{
	size_t i = 0;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	while (s[i] && (strchr("+.-", s[i]) || (s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
		i++;
	return s[i] == ':' ? i : 0;
}

struct uri_parts {
	const char *scheme; /* "" when none */
	const char *host;   /* netloc without port and credentials, "" when none */
	const char *path;   /* up to '?' or '#' */
};

static void uri_split(struct mt_arena *a, const char *s, size_t n, struct uri_parts *out)
{
	size_t sl = scheme_len(s), end;
	const char *p = s, *lim = s + n;

	out->scheme = mt_arena_strndup(a, s, sl);
	out->host = "";
	if (sl)
		p += sl + 1;
	if (lim - p >= 2 && p[0] == '/' && p[1] == '/') {
		const char *h = p + 2, *e = h, *at, *colon;

		while (e < lim && *e != '/' && *e != '?' && *e != '#')
			e++;
		at = memchr(h, '@', (size_t)(e - h));
		if (at)
			h = at + 1;
		colon = memchr(h, ':', (size_t)(e - h));
		out->host = mt_arena_strndup(a, h, (size_t)((colon ? colon : e) - h));
		p = e;
	}
	for (end = 0; p + end < lim && p[end] != '?' && p[end] != '#'; end++)
		;
	out->path = mt_arena_strndup(a, p, end);
}

/* MLflow's is_local_uri: no scheme, or file: on this host. */
static int is_local(const struct uri_parts *u)
{
	if (*u->host && strcmp(u->host, ".") != 0 && strncmp(u->host, "localhost", 9) != 0 &&
	    strncmp(u->host, "127.0.0.1", 9) != 0)
		return 0;
	return *u->scheme == '\0' || strcasecmp(u->scheme, "file") == 0;
}

/* Lexically normalised absolute path (relative ones are taken from the
 * working directory): repeated slashes collapsed, "." and ".." resolved, no
 * trailing slash.  Arena memory. */
static char *norm_path(struct mt_arena *a, const char *path)
{
	char cwd[PATH_MAX] = "/";
	const char *src = path;
	char *out, *seg, *save = NULL;
	size_t o = 0;

	if (path[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)))
			snprintf(cwd, sizeof(cwd), "/");
		src = mt_arena_printf(a, "%s/%s", cwd, path);
	}
	out = mt_arena_alloc(a, strlen(src) + 2);
	for (seg = strtok_r(mt_arena_strdup(a, src), "/", &save); seg;
	     seg = strtok_r(NULL, "/", &save)) {
		if (strcmp(seg, ".") == 0)
			continue;
		if (strcmp(seg, "..") == 0) {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		out[o++] = '/';
		memcpy(out + o, seg, strlen(seg));
		o += strlen(seg);
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

/* A local source must lie in the artifact directory of run_id's run, or
 * with model_id (MLflow 3) in the logged model's. */
static int check_local_source(struct mt_req *req, const char *source,
			      const struct uri_parts *u, const char *run_id, const char *model_id)
{
	json_t *info;
	const char *art = NULL;
	struct uri_parts au;
	size_t dl, n;
	char *src, *dir;
	const char *by = model_id ? "model_id" : "run_id";

	if (model_id) {
		if (sql_lm_get(req, model_id, 0, &info, &req->err))
			return -1;
		art = json_string_value(json_object_get(json_object_get(info, "info"), "artifact_uri"));
	} else if (run_id && *run_id) {
		if (sql_runs_info(req, run_id, &info, &req->err))
			return -1;
		art = json_string_value(json_object_get(info, "artifact_uri"));
	}
	{
		if (art) {
			uri_split(req->arena, art, strlen(art), &au);
			if (is_local(&au)) {
				src = norm_path(req->arena, unquote_plus(req->arena, u->path,
						strlen(u->path), &n));
				dir = norm_path(req->arena, unquote_plus(req->arena, au.path,
						strlen(au.path), &n));
				dl = strlen(dir);
				if (strcmp(src, dir) == 0 ||
				    (strncmp(src, dir, dl) == 0 && (src[dl] == '/' || dl == 1)))
					return 0;
			}
		}
	}
	return mt_err_set(&req->err, MT_EINVAL,
			  "Invalid model version source: '%s'. To use a local path as a model "
			  "version source, the %s request parameter has to be specified and the "
			  "local path has to be contained within the artifact directory of the run "
			  "specified by the %s.", source, by, by);
}

/* Any other source: after percent-decoding (repeatedly) its path must be
 * absolute, without NUL and without "." or ".." segments. */
static int check_remote_source(struct mt_req *req, const char *source)
{
	size_t n = strlen(source), m;
	const char *cur = source;
	struct uri_parts u;
	char *path;
	size_t o = 0;

	for (int i = 0; i < 64; i++) {
		char *d = unquote_plus(req->arena, cur, n, &m);

		if (m == n && memcmp(d, cur, n) == 0)
			break;
		if (memchr(d, '\0', m))
			goto bad;
		cur = d;
		n = m;
	}
	uri_split(req->arena, cur, n, &u);
	/* Collapse repeated slashes and drop trailing ones. */
	path = mt_arena_alloc(req->arena, strlen(u.path) + 1);
	for (const char *p = u.path; *p; p++)
		if (!(*p == '/' && o > 0 && path[o - 1] == '/'))
			path[o++] = *p;
	while (o > 0 && path[o - 1] == '/')
		o--;
	path[o] = '\0';
	if (path[0] != '/' || strcmp(norm_path(req->arena, path), path) != 0)
		goto bad;
	return 0;
bad:
	return mt_err_set(&req->err, MT_EINVAL,
			  "Invalid model version source: '%s'. If supplying a source as an http, "
			  "https, local file path, ftp, objectstore, or mlflow-artifacts uri, an "
			  "absolute path must be provided without relative path references present. "
			  "Please provide an absolute path.", source);
}

/* models:/<model_id> (MLflow 3): one path segment without '@'. */
static const char *models_uri_model_id(struct mt_arena *a, const char *source)
{
	const char *p = source + strlen("models:");

	if (*p != '/')
		return NULL;
	while (*p == '/')
		p++;
	if (!*p || strchr(p, '/') || strchr(p, '@'))
		return NULL;
	return mt_arena_strdup(a, p);
}

/* models:/<model_id>: the storage location is the logged model's artifact
 * location, and the version's run is the model's source run unless one
 * was given (MLflow's SqlAlchemyStore.create_model_version). */
static int resolve_logged_model_source(struct mt_req *req, const char *source,
				       const char *model_id, struct reg_version_new *nv)
{
	json_t *model, *info;
	const char *run;

	if (sql_lm_get(req, model_id, 0, &model, &req->err)) {
		const char *why = mt_arena_strdup(req->arena, req->err.msg);

		return mt_err_set(&req->err, MT_EINVAL,
				  "Unable to fetch model from model URI source artifact location "
				  "'%s'. Error: %s", source, why);
	}
	info = json_object_get(model, "info");
	nv->storage_location = mt_arena_strdup(req->arena, json_string_value(
		json_object_get(info, "artifact_uri")));
	run = json_string_value(json_object_get(info, "source_run_id"));
	if ((!nv->run_id || !*nv->run_id) && run)
		nv->run_id = mt_arena_strdup(req->arena, run);
	return 0;
}

/* The model version's link on the logged model: tag mlflow.modelVersions,
 * a JSON list of {"name", "version"} to which this version is added
 * unless there (MLflow's AbstractStore.set_model_versions_tags writes it as
 * Python's json.dumps does, the version a number).  A value that is not a
 * JSON list is replaced. */
static int link_logged_model(struct mt_req *req, const char *model_id, const char *name,
			     const char *version)
{
	const char *old, *key = "mlflow.modelVersions";
	json_t *entry = req_own(req, json_pack("{s:s,s:I}", "name", name, "version",
					       (json_int_t)atoll(version)));
	json_t *list = NULL, *x;
	size_t i;
	char *text;
	const char *value;
	int found = 0;

	/* Registrations of one model from several requests take turns. */
	if (sql_lm_lock(req, model_id, 1, NULL, &req->err) ||
	    sql_lm_tag(req, model_id, key, &old, &req->err))
		return -1;
	if (old)
		list = req_own(req, json_loads(old, 0, NULL));
	if (!json_is_array(list))
		list = req_own(req, json_array());
	json_array_foreach(list, i, x)
		found |= json_equal(x, entry);
	if (!found)
		json_array_append(list, entry);
	text = json_dumps(list, JSON_ENSURE_ASCII);
	if (!text)
		return mt_err_set(&req->err, MT_EINTERNAL, "out of memory");
	value = mt_arena_strdup(req->arena, text);
	free(text);
	return sql_lm_set_tags(req, model_id, &key, &value, 1, &req->err);
}

/* models:/<name>/<version>: the storage location is that version's
 * download URI. */
static int resolve_models_source(struct mt_req *req, const char *source, const char **out)
{
	const char *p = source + strlen("models:"), *slash, *ver, *id;
	char *name, *end;
	long v;

	while (*p == '/')
		p++;
	slash = strrchr(p, '/');
	if (!slash || slash == p || !slash[1])
		goto bad;
	name = mt_arena_strndup(req->arena, p, (size_t)(slash - p));
	v = strtol(slash + 1, &end, 10);
	if (*end || v < 1 || v > INT_MAX)
		goto bad;
	ver = mt_arena_printf(req->arena, "%ld", v);
	if (sql_reg_model_find(req, name, 0, &id, &req->err) ||
	    sql_reg_version_download_uri(req, id, name, ver, out, &req->err)) {
		const char *why = mt_arena_strdup(req->arena, req->err.msg);

		return mt_err_set(&req->err, MT_EINVAL,
				  "Unable to fetch model from model URI source artifact location "
				  "'%s'. Error: %s", source, why);
	}
	return 0;
bad:
	return mt_err_set(&req->err, MT_EINVAL,
			  "Unable to fetch model from model URI source artifact location '%s'. "
			  "Error: not a models:/<name>/<version> URI", source);
}

static int check_uri_len(struct mt_req *req, const char *field, const char *v)
{
	if (v && strlen(v) > REG_MAX_URI_LEN)
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid value for parameter '%s': longer than %d bytes", field,
				  REG_MAX_URI_LEN);
	return 0;
}

/* A prompt version (MLflow 2.21+ register_prompt): any tag named
 * mlflow.prompt.is_prompt.  Its source ("dummy-source", later
 * "prompt-template") is not a location, and MLflow does not check it
 * (handlers._is_prompt_request). */
static int is_prompt_request(const struct reg_version_new *nv)
{
	for (size_t i = 0; i < nv->ntags; i++)
		if (strcmp(nv->tag_keys[i], "mlflow.prompt.is_prompt") == 0)
			return 1;
	return 0;
}

/* ---- handlers ---- */

/* name and version of the request, and the model's id. */
static int find_version(struct mt_req *req, int lock, const char **name, const char **id,
			const char **version)
{
	if (reg_name_arg(req, "name", name) || reg_version_arg(req, *name, version))
		return -1;
	return sql_reg_model_find(req, *name, lock, id, &req->err);
}

static int reply_version(struct mt_req *req, const char *id, const char *name,
			 const char *version)
{
	json_t *mv;

	if (sql_reg_version_get(req, id, name, version, &mv, &req->err))
		return -1;
	json_object_set(req_resp(req), "model_version", mv);
	return 0;
}

/* MLflow's MODEL_VERSION CREATED event, in the creating transaction; for a
 * prompt (MLflow's prompt tags), PROMPT_VERSION CREATED with the template
 * and without the prompt's own tags, as MLflow sends it. */
static int version_created_event(struct mt_req *req, const char *name, const char *version,
				 const struct reg_version_new *nv)
{
	int prompt = is_prompt_request(nv);
	json_t *tags = json_object(), *data, *template = json_null();

	for (size_t i = 0; i < nv->ntags; i++) {
		const char *k = nv->tag_keys[i], *v = nv->tag_values[i] ? nv->tag_values[i] : "";

		if (prompt && strcmp(k, "mlflow.prompt.text") == 0) {
			json_decref(template);
			template = json_string(v);
			continue;
		}
		if (prompt && (strcmp(k, "mlflow.prompt.is_prompt") == 0 ||
			       strcmp(k, "_mlflow_prompt_type") == 0))
			continue;
		json_object_set_new(tags, k, json_string(v));
	}
	if (prompt)
		data = json_pack("{s:s, s:s, s:o, s:o, s:o}", "name", name, "version", version,
				 "template", template ? template : json_null(), "tags", tags,
				 "description",
				 nv->description && *nv->description ? json_string(nv->description)
								     : json_null());
	else {
		json_decref(template);
		data = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "name", name, "version", version,
				 "source", nv->source, "run_id",
				 nv->run_id && *nv->run_id ? json_string(nv->run_id) : json_null(),
				 "tags", tags, "description",
				 nv->description && *nv->description ? json_string(nv->description)
								     : json_null());
	}
	if (!req_own(req, data))
		return mt_err_set(&req->err, MT_EINTERNAL, "out of memory");
	return webhook_enqueue(req, prompt ? "prompt_version" : "model_version", "created", data,
			       &req->err);
}

/*
 * MLflow 3 adds model_id (the logged model the version is made from) and
 * models:/<model_id> sources: a local source must then lie in the model's
 * artifacts, the model's artifact location is where the version is
 * downloaded from, the model's source run is the version's run unless one
 * is given, and the model gets the version in its mlflow.modelVersions
 * tag.  An unknown model_id is refused (404) before anything is written.
 */
int api_model_versions_create(struct mt_req *req)
{
	struct reg_version_new nv = { 0 };
	const char *name, *id, *version, *uri_model;
	struct uri_parts u;

	if (reg_name_arg(req, "name", &name) || req_str(req, "source", &nv.source) ||
	    req_opt_str(req, "run_id", &nv.run_id) || req_opt_str(req, "run_link", &nv.run_link) ||
	    req_opt_str(req, "model_id", &nv.logged_model_id) ||
	    reg_description_arg(req, &nv.description) ||
	    check_uri_len(req, "source", nv.source) || check_uri_len(req, "run_link", nv.run_link) ||
	    check_uri_len(req, "run_id", nv.run_id) ||
	    check_uri_len(req, "model_id", nv.logged_model_id) ||
	    reg_tags_arg(req, "Model version", &nv.tag_keys, &nv.tag_values, &nv.ntags))
		return -1;
	if (nv.logged_model_id && !*nv.logged_model_id)
		nv.logged_model_id = NULL;
	uri_split(req->arena, nv.source, strlen(nv.source), &u);
	if (!is_prompt_request(&nv) &&
	    (is_local(&u) ? check_local_source(req, nv.source, &u, nv.run_id, nv.logged_model_id)
			  : check_remote_source(req, nv.source)))
		return -1;
	if (strcasecmp(u.scheme, "models") == 0) {
		uri_model = models_uri_model_id(req->arena, nv.source);
		if (uri_model ? resolve_logged_model_source(req, nv.source, uri_model, &nv)
			      : resolve_models_source(req, nv.source, &nv.storage_location))
			return -1;
	}
	if (nv.logged_model_id) {
		json_t *model;
		const char *run;

		if (sql_lm_get(req, nv.logged_model_id, 0, &model, &req->err))
			return -1;
		run = json_string_value(json_object_get(json_object_get(model, "info"),
							"source_run_id"));
		if ((!nv.run_id || !*nv.run_id) && run)
			nv.run_id = mt_arena_strdup(req->arena, run);
	}
	/* The event goes in before the bundle is verified: a version whose
	 * bundle fails rolls back, and its event with it. */
	if (sql_reg_model_find(req, name, 1, &id, &req->err) ||
	    sql_reg_version_create(req, id, &nv, mt_now_ms(), &version, &req->err) ||
	    version_created_event(req, name, version, &nv) ||
	    gate_bundle_on_create(req, id, version, nv.source) ||
	    (nv.logged_model_id && link_logged_model(req, nv.logged_model_id, name, version)))
		return -1;
	return reply_version(req, id, name, version);
}

int api_model_versions_get(struct mt_req *req)
{
	const char *name, *id, *version;

	if (find_version(req, 0, &name, &id, &version))
		return -1;
	return reply_version(req, id, name, version);
}

int api_model_versions_update(struct mt_req *req)
{
	const char *name, *id, *version, *desc, *stage;

	if (find_version(req, 0, &name, &id, &version) || reg_description_arg(req, &desc) ||
	    sql_reg_version_stage(req, id, name, version, &stage, &req->err) ||
	    sql_reg_version_update(req, id, version, desc, mt_now_ms(), &req->err))
		return -1;
	return reply_version(req, id, name, version);
}

/* The aliases that named the version go with it, each recorded in the
 * audit trail as deleted. */
int api_model_versions_delete(struct mt_req *req)
{
	const char *name, *id, *version, *stage;
	json_t *dropped = req_own(req, json_array());

	if (find_version(req, 1, &name, &id, &version) ||
	    sql_reg_version_stage(req, id, name, version, &stage, &req->err) ||
	    sql_reg_version_delete(req, id, version, mt_now_ms(), dropped, &req->err))
		return -1;
	return gate_audit_aliases_dropped(req, id, name, version, dropped);
}

/* Through the target stage's gate, in its own transaction (api_gates.c):
 * MLflow clients are held to the same gates as mltrack's. */
int api_model_versions_transition(struct mt_req *req)
{
	struct gate_move m;
	json_t *version, *report;
	int forced;

	if (gate_move_args(req, &m) || gate_transition(req, &m, &version, &report, &forced))
		return -1;
	json_object_set(req_resp(req), "model_version", version);
	return 0;
}

int api_model_versions_search(struct mt_req *req)
{
	return reg_search(req, MT_FE_VERSIONS, REG_SEARCH_VERSIONS_DEFAULT, REG_SEARCH_VERSIONS_MAX,
			  sql_reg_version_search, "model_versions");
}

int api_model_versions_download_uri(struct mt_req *req)
{
	const char *name, *id, *version, *uri;

	if (find_version(req, 0, &name, &id, &version) ||
	    sql_reg_version_download_uri(req, id, name, version, &uri, &req->err))
		return -1;
	mt_json_set_str(req_resp(req), "artifact_uri", uri);
	return 0;
}

int api_model_versions_set_tag(struct mt_req *req)
{
	const char *name, *id, *version, *key, *value, *stage;

	if (reg_name_arg(req, "name", &name) || reg_version_arg(req, name, &version) ||
	    req_str(req, "key", &key) || req_opt_str(req, "value", &value) ||
	    reg_check_tag(req, "Model version", key, value) ||
	    sql_reg_model_find(req, name, 0, &id, &req->err) ||
	    sql_reg_version_stage(req, id, name, version, &stage, &req->err) ||
	    sql_reg_version_set_tag(req, id, version, key, value, &req->err))
		return -1;
	return webhook_enqueue(req, "model_version_tag", "set",
			       req_own(req, json_pack("{s:s, s:s, s:s, s:s}", "name", name,
						      "version", version, "key", key, "value",
						      value ? value : "")),
			       &req->err);
}

int api_model_versions_delete_tag(struct mt_req *req)
{
	const char *name, *id, *version, *key, *stage;

	if (reg_name_arg(req, "name", &name) || reg_version_arg(req, name, &version) ||
	    req_str(req, "key", &key) || mt_validate_key("tag", key, &req->err) ||
	    sql_reg_model_find(req, name, 0, &id, &req->err) ||
	    sql_reg_version_stage(req, id, name, version, &stage, &req->err) ||
	    sql_reg_version_delete_tag(req, id, version, key, &req->err))
		return -1;
	return webhook_enqueue(req, "model_version_tag", "deleted",
			       req_own(req, json_pack("{s:s, s:s, s:s}", "name", name, "version",
						      version, "key", key)),
			       &req->err);
}
