/*
 * cmd_model.c: mltrack model register|list|show|pull|promote|alias|history.
 *
 * A version registered here is a bundle (DESIGN §6, lib/mt_bundle.h): the
 * files packed into a deterministic tar with MLTRACK-BUNDLE.json, which
 * carries every file's digest and the provenance of the run it came from
 * (git commit, branch, repository, dirty flag, the digest of the uncommitted
 * diff, the command line, the run's metrics and params).  The tar is
 * uploaded through the registry's own route, PUT /api/2.0/mltrack/bundles/
 * <sha256>.tar (the server keeps it only if it hashes to that name, as
 * mltrack-bundles/<sha256>.tar in the artifact store, which the generic
 * artifact API may read but not change), and the version is created with
 * MLflow's model-versions/create pointing at it; mltrackd verifies the
 * bundle before it accepts the version and records its digest.
 *
 * pull resolves NAME/VERSION, NAME@STAGE or NAME@ALIAS, downloads the
 * bundle, checks it against the digest the server recorded, and unpacks it
 * only after every file's digest matched (mt_bundle_unpack): a failure
 * leaves the output directory as it was and exits 1.
 *
 * promote and alias go through mltrack's transition and alias endpoints,
 * which evaluate the target stage's or alias's gate (cmd_gate.c); a
 * refusal prints the gate's report and exits 1.  history shows the model's
 * audit trail: promotions, alias moves and gate changes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli.h"
#include "git.h"
#include "mt_bundle.h"
#include "mt_gate.h"
#include "mt_profile.h"
#include "mt_util.h"

#define OPTS_END { 0, NULL, 0, NULL, NULL, 0, NULL }
#define MLF "/api/2.0/mlflow/"
#define EXT "/api/2.0/mltrack/"
#define BUNDLE_DIR "mltrack-bundles"

/* ---- shared ---- */

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* The value of key in MLflow's [{key, value}] list, or NULL. */
static const char *kv_get(json_t *list, const char *key)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
		if (strcmp(str(e, "key"), key) == 0)
			return json_string_value(json_object_get(e, "value"));
	return NULL;
}

/* cli.h */
const char *cli_stage_name(const char *s, int allow_none)
{
	static const char *const stages[] = { "Staging", "Production", "Archived", "None" };

	for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++)
		if (strcasecmp(s, stages[i]) == 0 && (allow_none || i < 3))
			return stages[i];
	return NULL;
}

/* Split "NAME/VERSION" (version digits) into its parts; "NAME" alone gives
 * *version = NULL.  buf holds the name. */
static int split_version(const char *ref, char *buf, size_t n, const char **version)
{
	const char *slash = strrchr(ref, '/');

	*version = NULL;
	if (slash && slash[1] && strspn(slash + 1, "0123456789") == strlen(slash + 1)) {
		if ((size_t)(slash - ref) >= n)
			return -1;
		snprintf(buf, n, "%.*s", (int)(slash - ref), ref);
		*version = slash + 1;
	} else if (snprintf(buf, n, "%s", ref) >= (int)n) {
		return -1;
	}
	return *buf ? 0 : -1;
}

/* mltrack's view of a version: {model_version, bundle?}, owned. */
static int version_ext(const char *name, const char *version, json_t **out, struct cli_fail *f)
{
	const char *q[] = { "name", name, "version", version, NULL };

	*out = NULL;
	if (cli_api("GET", EXT "model-versions/get", q, NULL, out, f))
		return -1;
	if (!json_is_object(json_object_get(*out, "model_version"))) {
		json_decref(*out);
		*out = NULL;
		return cli_fail_set(f, CLI_SERVER, "the server's answer for %s/%s has no model "
						   "version", name, version);
	}
	return 0;
}

/* The version named by ref, as version_ext gives it: {model_version,
 * bundle?}, owned.  NAME/VERSION is that version; NAME@X is the newest
 * version in the stage X when X is a stage name in any case (none, staging,
 * production, archived), and the version the alias X points at otherwise.
 * The server refuses aliases named like stages, so the two never collide
 * (docs/registry.md, "Naming a version"). */
static int resolve(const char *ref, json_t **out, struct cli_fail *f)
{
	char name[1024], num[32];
	const char *at = strrchr(ref, '@'), *version;
	json_t *r = NULL, *mv = NULL;

	*out = NULL;
	if (!at) {
		if (split_version(ref, name, sizeof(name), &version) || !version)
			return cli_fail_set(f, CLI_USAGE, "'%s': expected NAME/VERSION, NAME@ALIAS "
						      "or NAME@STAGE", ref);
		return version_ext(name, version, out, f);
	}
	{
		const char *label = at + 1, *stage = cli_stage_name(label, 1);
		const char *q[] = { "name", NULL, "alias", label, NULL };

		if (at == ref || !*label || (size_t)(at - ref) >= sizeof(name))
			return cli_fail_set(f, CLI_USAGE, "'%s': expected NAME/VERSION, NAME@ALIAS "
						      "or NAME@STAGE", ref);
		snprintf(name, sizeof(name), "%.*s", (int)(at - ref), ref);
		q[1] = name;
		if (!stage) {
			if (cli_api("GET", MLF "registered-models/alias", q, NULL, &r, f))
				return -1;
			mv = json_object_get(r, "model_version");
			if (!mv) {
				json_decref(r);
				return cli_fail_set(f, CLI_SERVER, "the server's answer for '%s' has "
						    "no version", ref);
			}
		} else {
			json_t *body = json_pack("{s:s, s:[s]}", "name", name, "stages", stage);
			int rc = cli_api("POST", MLF "registered-models/get-latest-versions", NULL, body,
					 &r, f);

			json_decref(body);
			if (rc)
				return -1;
			mv = json_array_get(json_object_get(r, "model_versions"), 0);
			if (!mv) {
				json_decref(r);
				return cli_fail_set(f, CLI_SERVER, "no version of model '%s' is in %s",
						    name, stage);
			}
		}
		snprintf(num, sizeof(num), "%s", str(mv, "version"));
		json_decref(r);
	}
	if (!*num)
		return cli_fail_set(f, CLI_SERVER, "the server's answer for '%s' has no version", ref);
	return version_ext(name, num, out, f);
}

/* A fresh private directory under $TMPDIR (malloc'd), or NULL. */
static char *temp_dir(void)
{
	const char *t = getenv("TMPDIR");
	char *d = malloc(4096);

	if (!d)
		return NULL;
	snprintf(d, 4096, "%s/mltrack-model.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(d)) {
		cli_error(CLI_USAGE, "cannot create a temporary directory: %s", strerror(errno));
		free(d);
		return NULL;
	}
	return d;
}

static void temp_done(char *d)
{
	if (d)
		mt_remove_tree(d);
	free(d);
}

/* ---- register ---- */

static const char *r_name, *r_from, *r_run, *r_path, *r_desc, *r_ref, *r_target, *r_pred;
static struct cli_list r_tags;

static const struct cli_opt register_opts[] = {
	{ CLI_OPT_ARG, &r_name, 0, "NAME", NULL, CLI_OPT_REQUIRED,
	  "the registered model (created if missing)" },
	{ CLI_OPT_VALUE, &r_from, 0, "from", "DIR", 0, "pack the files under DIR" },
	{ CLI_OPT_VALUE, &r_run, 0, "run", "RUN", 0,
	  "the run the model came from (id or unique prefix) [MLTRACK_RUN_ID]" },
	{ CLI_OPT_VALUE, &r_path, 0, "path", "P", 0,
	  "without --from: pack the run's artifacts under P (default: model)" },
	{ CLI_OPT_VALUE, &r_desc, 'd', "description", "TEXT", 0, "the version's description" },
	{ CLI_OPT_LIST, &r_tags, 't', "tag", "KEY=VALUE", 0, "set a version tag (repeatable)" },
	{ CLI_OPT_VALUE, &r_ref, 0, "reference", "FILE", 0,
	  "profile this data (.csv with a header row, or .jsonl) into the bundle, for "
	  "monitoring" },
	{ CLI_OPT_VALUE, &r_target, 0, "target", "COL", 0, "with --reference: the label column" },
	{ CLI_OPT_VALUE, &r_pred, 0, "prediction", "COL", 0,
	  "with --reference: the model's prediction column" },
	OPTS_END,
};

static const struct cli_spec register_spec = {
	"model register", "Pack files into a verified bundle and register it as a new version.",
	register_opts,
	"With --from DIR the files under DIR are packed; without it, the run's\n"
	"artifacts under --path (default 'model') are downloaded and packed.  The\n"
	"bundle is a tar with MLTRACK-BUNDLE.json listing every file's size and\n"
	"SHA-256 and the run's provenance (git commit, branch, repository, dirty\n"
	"flag, uncommitted diff digest, command line, metrics, params).  The same\n"
	"files from the same run always give the same bundle digest.\n"
	"Inside `mltrack run`, the run defaults to the enclosing one.  Without a run,\n"
	"the provenance is the git state of the directory packed.\n"
	"With --reference FILE the data is profiled (each column's type, missing\n"
	"count, quantile bins or top values; docs/monitoring.md) and the profile\n"
	"goes into the manifest as reference_profile: `mltrack monitor log` and\n"
	"`mltrack monitor show` compare served data with it.\n"
	"Only the new version number goes to stdout: V=$(mltrack model register ...).",
	0,
};

/* The profile of the --reference file (CSV, or JSON lines by its name:
 * .jsonl, .ndjson), into extra as "reference_profile".  CLI exit code. */
static int reference_profile(json_t *extra)
{
	const char *dot = strrchr(r_ref, '.');
	enum mt_profile_fmt fmt = MT_PROFILE_CSV;
	struct mt_err err = MT_ERR_INIT;
	FILE *fp;
	char *data = NULL;
	size_t n = 0, cap = 0, got;
	json_t *p;
	int rc;

	if (dot && (strcmp(dot, ".jsonl") == 0 || strcmp(dot, ".ndjson") == 0))
		fmt = MT_PROFILE_JSONL;
	else if (!dot || strcmp(dot, ".csv") != 0)
		return cli_error(CLI_USAGE, "--reference '%s': expected a .csv, .jsonl or .ndjson "
					    "file", r_ref);
	if (!(fp = fopen(r_ref, "rb")))
		return cli_error(CLI_USAGE, "--reference '%s': %s", r_ref, strerror(errno));
	do {
		if (n + 65536 > cap) {
			char *d = realloc(data, cap = cap ? cap * 2 : 1 << 20);

			if (!d) {
				fclose(fp);
				free(data);
				return cli_error(CLI_USAGE, "--reference '%s': out of memory", r_ref);
			}
			data = d;
		}
		got = fread(data + n, 1, cap - n, fp);
		n += got;
	} while (got > 0);
	rc = ferror(fp);
	fclose(fp);
	if (rc) {
		free(data);
		return cli_error(CLI_USAGE, "--reference '%s': cannot read it", r_ref);
	}
	rc = mt_profile_build(&p, data ? data : "", n, fmt, r_target, r_pred, &err);
	free(data);
	if (rc)
		return cli_error(CLI_USAGE, "--reference '%s': %s", r_ref, err.msg);
	json_object_set_new(extra, "reference_profile", p);
	return CLI_OK;
}

/* sha256 of a file into out, or -1. */
static int file_sha256(const char *path, char out[65])
{
	FILE *fp = fopen(path, "rb");
	unsigned char buf[65536], md[32];
	EVP_MD_CTX *ctx;
	size_t n;
	int rc = -1;

	if (!fp)
		return -1;
	ctx = EVP_MD_CTX_new();
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
			EVP_DigestUpdate(ctx, buf, n);
		if (!ferror(fp) && EVP_DigestFinal_ex(ctx, md, NULL)) {
			mt_hex(out, md, sizeof(md));
			rc = 0;
		}
	}
	EVP_MD_CTX_free(ctx);
	fclose(fp);
	return rc;
}

/* The provenance, metrics and params of run (may be NULL: the git state of
 * dir instead) for the manifest: a new object. */
static json_t *provenance(json_t *run, const char *dir, const char *tmp)
{
	json_t *extra = json_object(), *prov = json_object(), *git = json_object();
	json_t *metrics = json_object(), *params = json_object();
	char diff_sha[65] = "", path[4200];

	if (run) {
		json_t *info = json_object_get(run, "info"), *data = json_object_get(run, "data");
		json_t *tags = json_object_get(data, "tags"), *e;
		const char *dirty = kv_get(tags, "mltrack.git.dirty"), *commit;
		struct cli_fail f;
		size_t i;

		json_object_set_new(prov, "run_id", json_string(str(info, "run_id")));
		json_object_set_new(prov, "experiment_id", json_string(str(info, "experiment_id")));
		if ((commit = kv_get(tags, "mlflow.source.git.commit"))) {
			json_object_set_new(git, "commit", json_string(commit));
			json_object_set_new(git, "branch", json_string(
				kv_get(tags, "mlflow.source.git.branch") ?
				kv_get(tags, "mlflow.source.git.branch") : ""));
			json_object_set_new(git, "repo_url", json_string(
				kv_get(tags, "mlflow.source.git.repoURL") ?
				kv_get(tags, "mlflow.source.git.repoURL") : ""));
			json_object_set_new(git, "dirty", json_boolean(dirty && strcmp(dirty, "true") == 0));
		}
		if (kv_get(tags, "mltrack.command"))
			json_object_set_new(prov, "command", json_string(kv_get(tags, "mltrack.command")));
		if (kv_get(tags, "mlflow.source.name"))
			json_object_set_new(prov, "source_name",
					    json_string(kv_get(tags, "mlflow.source.name")));
		if (kv_get(tags, "mlflow.user"))
			json_object_set_new(prov, "user", json_string(kv_get(tags, "mlflow.user")));
		/* The uncommitted diff `mltrack run` stored, when the tree was dirty. */
		if (dirty && strcmp(dirty, "true") == 0) {
			snprintf(path, sizeof(path), "%s/diff", tmp);
			if (cli_artifacts_download(str(info, "run_id"), "mltrack/uncommitted.patch", path,
						   1, &f) == CLI_OK) {
				snprintf(path, sizeof(path), "%s/diff/uncommitted.patch", tmp);
				if (file_sha256(path, diff_sha))
					diff_sha[0] = 0;
			}
		}
		json_array_foreach(json_object_get(data, "metrics"), i, e)
			json_object_set(metrics, str(e, "key"), json_object_get(e, "value"));
		json_array_foreach(json_object_get(data, "params"), i, e)
			json_object_set(params, str(e, "key"), json_object_get(e, "value"));
	} else {
		struct cli_git g;
		char err[256];

		if (cli_git_provenance(&g, dir, err, sizeof(err)) == 0 && g.found) {
			json_object_set_new(git, "commit", json_string(g.commit));
			json_object_set_new(git, "branch", json_string(g.branch));
			json_object_set_new(git, "repo_url", json_string(g.repo_url));
			json_object_set_new(git, "dirty", json_boolean(g.dirty));
			if (g.dirty) {
				long long bytes;

				snprintf(path, sizeof(path), "%s/uncommitted.patch", tmp);
				if (cli_git_diff(dir, path, &bytes, err, sizeof(err)) ||
				    file_sha256(path, diff_sha))
					diff_sha[0] = 0;
			}
		}
	}
	if (json_object_size(git))
		json_object_set(prov, "git", git);
	if (diff_sha[0])
		json_object_set_new(prov, "uncommitted_diff_sha256", json_string(diff_sha));
	json_object_set_new(extra, "provenance", prov);
	json_object_set_new(extra, "metrics", metrics);
	json_object_set_new(extra, "params", params);
	json_decref(git);
	return extra;
}

/* The -t pairs as [{key, value}], with the bundle digest first. */
static json_t *version_tags(const char *sha)
{
	json_t *tags = json_pack("[{s:s, s:s}]", "key", "mltrack.bundle.sha256", "value", sha);

	for (int i = 0; tags && i < r_tags.n; i++) {
		const char *eq = strchr(r_tags.v[i], '=');

		if (!eq || eq == r_tags.v[i]) {
			cli_error(CLI_USAGE, "-t '%s': expected KEY=VALUE", r_tags.v[i]);
			json_decref(tags);
			return NULL;
		}
		json_array_append_new(tags, json_pack("{s:s%, s:s}", "key", r_tags.v[i],
						      (size_t)(eq - r_tags.v[i]), "value", eq + 1));
	}
	return tags;
}

static int cmd_register(int argc, char **argv)
{
	struct cli_fail f;
	json_t *run = NULL, *extra = NULL, *body = NULL, *r = NULL, *manifest = NULL, *tags;
	char *tmp = NULL, tar[4200], sha[65], sha2[65], dir[4200], url[256], human[32];
	struct mt_err merr = MT_ERR_INIT;
	const char *run_spec, *version;
	struct cli_progress p;
	struct stat st;
	int rc;

	if ((rc = cli_parse(&register_spec, argc, argv)))
		goto out;
	run_spec = r_run ? r_run : getenv("MLTRACK_RUN_ID");
	if (run_spec && !*run_spec)
		run_spec = NULL;
	if (!r_from && !run_spec) {
		rc = cli_error(CLI_USAGE, "model register: give --from DIR, or --run RUN to pack the "
					  "run's artifacts");
		goto out;
	}
	if (r_from && r_path) {
		rc = cli_error(CLI_USAGE, "model register: --path picks the run's artifacts; it "
					  "cannot go with --from");
		goto out;
	}
	if (r_from && (stat(r_from, &st) || !S_ISDIR(st.st_mode))) {
		rc = cli_error(CLI_USAGE, "--from '%s': not a directory", r_from);
		goto out;
	}
	if ((r_target || r_pred) && !r_ref) {
		rc = cli_error(CLI_USAGE, "model register: --target and --prediction go with "
					  "--reference");
		goto out;
	}
	if (!(tmp = temp_dir())) {
		rc = CLI_USAGE;
		goto out;
	}
	if (cli_client_init(&f) || (run_spec && cli_run_fetch(run_spec, &run, &f))) {
		rc = cli_fail_report(&f);
		goto out;
	}
	if (r_from) {
		snprintf(dir, sizeof(dir), "%s", r_from);
	} else {
		const char *rp = r_path ? r_path : "model";
		const char *base = strrchr(rp, '/') ? strrchr(rp, '/') + 1 : rp;

		snprintf(dir, sizeof(dir), "%s/files", tmp);
		rc = cli_artifacts_download(str(json_object_get(run, "info"), "run_id"), rp, dir, 0,
					    &f);
		if (rc)
			goto out;
		/* A directory lands as files/<name>; a single file stays in files/. */
		if (snprintf(tar, sizeof(tar), "%s/%s", dir, base) >= (int)sizeof(tar)) {
			rc = cli_error(CLI_USAGE, "--path '%s' is too long", rp);
			goto out;
		}
		if (stat(tar, &st) == 0 && S_ISDIR(st.st_mode))
			snprintf(dir, sizeof(dir), "%s", tar);
		else if (stat(tar, &st)) {
			rc = cli_error(CLI_SERVER, "run %s has no artifacts under '%s'",
				       str(json_object_get(run, "info"), "run_id"), rp);
			goto out;
		}
	}
	extra = provenance(run, dir, tmp);
	if (r_ref && (rc = reference_profile(extra)))
		goto out;
	snprintf(tar, sizeof(tar), "%s/bundle.tar", tmp);
	if (mt_bundle_pack(dir, extra, tar, sha, &merr)) {
		rc = cli_error(CLI_USAGE, "%s", merr.msg);
		goto out;
	}
	if (stat(tar, &st)) {
		rc = cli_error(CLI_USAGE, "cannot read the bundle: %s", strerror(errno));
		goto out;
	}
	snprintf(url, sizeof(url), "/api/2.0/mltrack/bundles/%s.tar", sha);
	cli_progress_start(&p, "uploading", st.st_size, 1);
	rc = cli_put_file(url, tar, st.st_size, sha2, &p, &f);
	cli_progress_end(&p);
	if (rc) {
		rc = cli_fail_report(&f);
		goto out;
	}
	if (strcmp(sha, sha2) != 0) {
		rc = cli_error(CLI_CHECK_FAILED, "the bundle changed while it was uploaded");
		goto out;
	}
	/* The model, unless it exists already. */
	body = json_pack("{s:s}", "name", r_name);
	if (cli_api("POST", MLF "registered-models/create", NULL, body, NULL, &f) &&
	    strcmp(f.error_code, "RESOURCE_ALREADY_EXISTS") != 0) {
		rc = cli_fail_report(&f);
		goto out;
	}
	json_decref(body);
	if (!(tags = version_tags(sha))) {
		body = NULL;
		rc = CLI_USAGE;
		goto out;
	}
	snprintf(url, sizeof(url), "mlflow-artifacts:/" BUNDLE_DIR "/%s.tar", sha);
	body = json_pack("{s:s, s:s, s:o}", "name", r_name, "source", url, "tags", tags);
	if (run)
		json_object_set_new(body, "run_id",
				    json_string(str(json_object_get(run, "info"), "run_id")));
	if (r_desc)
		json_object_set_new(body, "description", json_string(r_desc));
	if (cli_api("POST", MLF "model-versions/create", NULL, body, &r, &f)) {
		rc = cli_fail_report(&f);
		goto out;
	}
	version = str(json_object_get(r, "model_version"), "version");
	printf("%s\n", version);
	if (!cli_quiet && mt_bundle_verify(tar, &manifest, NULL, &merr) == 0)
		fprintf(stderr, "registered %s version %s: %zu file%s, %s, bundle sha256 %s\n",
			r_name, version, json_array_size(json_object_get(manifest, "files")),
			json_array_size(json_object_get(manifest, "files")) == 1 ? "" : "s",
			cli_human_bytes(human, sizeof(human), st.st_size), sha);
	rc = CLI_OK;
out:
	json_decref(run);
	json_decref(extra);
	json_decref(body);
	json_decref(r);
	json_decref(manifest);
	temp_done(tmp);
	cli_list_free(&r_tags);
	return rc < 0 ? CLI_OK : rc;
}

/* ---- list ---- */

static const char *l_filter, *l_format;

static const struct cli_opt list_opts[] = {
	{ CLI_OPT_VALUE, &l_filter, 0, "filter", "FILTER", 0,
	  "MLflow's filter, e.g. \"name LIKE 'churn%'\"" },
	{ CLI_OPT_VALUE, &l_format, 0, "format", "table|json", 0, "output format (default: table)" },
	OPTS_END,
};

static const struct cli_spec list_spec = {
	"model list", "List registered models.", list_opts,
	"The table has each model's name, its newest version, the version in each\n"
	"stage, its aliases and when it last changed.",
	0,
};

static int fetch_models(json_t *out, struct cli_fail *f)
{
	char *token = NULL;
	int rc = 0;

	do {
		const char *q[] = { "max_results", "1000", "filter", l_filter, "page_token", token, NULL };
		json_t *r = NULL, *next;

		rc = cli_api("GET", MLF "registered-models/search", q, NULL, &r, f);
		free(token);
		token = NULL;
		if (rc)
			break;
		json_array_extend(out, json_object_get(r, "registered_models"));
		next = json_object_get(r, "next_page_token");
		if (json_is_string(next) && json_string_length(next))
			token = strdup(json_string_value(next));
		json_decref(r);
	} while (token);
	return rc;
}

static int cmd_list(int argc, char **argv)
{
	static const char *const head[] = { "NAME", "LATEST", "STAGES", "ALIASES", "UPDATED" };
	struct cli_fail f;
	struct cli_table t;
	json_t *models;
	size_t i;
	json_t *m;
	int rc;

	if ((rc = cli_parse(&list_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (l_format && strcmp(l_format, "table") && strcmp(l_format, "json"))
		return cli_error(CLI_USAGE, "option '--format': '%s' is not table or json", l_format);
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	models = json_array();
	if (fetch_models(models, &f)) {
		json_decref(models);
		return cli_fail_report(&f);
	}
	if (l_format && strcmp(l_format, "json") == 0) {
		json_dumpf(models, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(models);
		return CLI_OK;
	}
	if (json_array_size(models) == 0) {
		if (!cli_quiet)
			fprintf(stderr, "no registered models yet: try `mltrack model register NAME "
					"--from DIR --run RUN`\n");
		json_decref(models);
		return CLI_OK;
	}
	cli_table_init(&t, 5, head);
	json_array_foreach(models, i, m) {
		char latest[32] = "-", stages[512] = "", aliases[512] = "", upd[32];
		long long top = 0;
		size_t k;
		json_t *v;

		json_array_foreach(json_object_get(m, "latest_versions"), k, v) {
			long long n = atoll(str(v, "version"));
			const char *stg = str(v, "current_stage");

			if (n > top)
				top = n;
			if (strcmp(stg, "None") != 0 && strlen(stages) + strlen(stg) + 24 < sizeof(stages))
				snprintf(stages + strlen(stages), sizeof(stages) - strlen(stages),
					 "%s%s: v%s", *stages ? ", " : "", stg, str(v, "version"));
		}
		if (top)
			snprintf(latest, sizeof(latest), "%lld", top);
		json_array_foreach(json_object_get(m, "aliases"), k, v)
			if (strlen(aliases) + strlen(str(v, "alias")) + 24 < sizeof(aliases))
				snprintf(aliases + strlen(aliases), sizeof(aliases) - strlen(aliases),
					 "%s@%s: v%s", *aliases ? ", " : "", str(v, "alias"),
					 str(v, "version"));
		cli_local_time(upd, sizeof(upd), json_object_get(m, "last_updated_timestamp"));
		{
			const char *row[] = { str(m, "name"), latest, *stages ? stages : "-",
					      *aliases ? aliases : "-", upd };

			cli_table_add(&t, row);
		}
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(models);
	return CLI_OK;
}

/* ---- show ---- */

static const char *s_ref, *s_format;

static const struct cli_opt show_opts[] = {
	{ CLI_OPT_ARG, &s_ref, 0, "NAME[/VERSION]", NULL, CLI_OPT_REQUIRED,
	  "a model, or one version of it (NAME/3, NAME@ALIAS, NAME@STAGE)" },
	{ CLI_OPT_VALUE, &s_format, 0, "format", "text|json", 0, "output format (default: text)" },
	OPTS_END,
};

static const struct cli_spec show_spec = {
	"model show", "Show a model and its versions, or one version with its provenance.",
	show_opts, NULL, 0,
};

static void print_version(json_t *mv, json_t *bundle)
{
	json_t *man = json_object_get(bundle, "manifest"), *prov = json_object_get(man, "provenance");
	json_t *git = json_object_get(prov, "git"), *e;
	char t[32];
	size_t i;

	printf("%s version %s\n", str(mv, "name"), str(mv, "version"));
	printf("  stage:       %s\n", str(mv, "current_stage"));
	if (json_array_size(json_object_get(mv, "aliases"))) {
		printf("  aliases:    ");
		json_array_foreach(json_object_get(mv, "aliases"), i, e)
			printf(" @%s", json_string_value(e));
		putchar('\n');
	}
	cli_local_time(t, sizeof(t), json_object_get(mv, "creation_timestamp"));
	printf("  created:     %s\n", t);
	if (*str(mv, "run_id"))
		printf("  run:         %s (%s/runs/%s)\n", str(mv, "run_id"), cli_tracking_uri,
		       str(mv, "run_id"));
	printf("  source:      %s\n", str(mv, "source"));
	if (*str(mv, "description"))
		printf("  description: %s\n", str(mv, "description"));
	if (bundle) {
		long long total = 0;
		char human[32];

		json_array_foreach(json_object_get(man, "files"), i, e)
			total += json_integer_value(json_object_get(e, "size"));
		printf("  bundle:      sha256 %s, %zu files, %s\n", str(bundle, "sha256"),
		       json_array_size(json_object_get(man, "files")),
		       cli_human_bytes(human, sizeof(human), total));
	} else {
		printf("  bundle:      none (registered the MLflow way)\n");
	}
	if (git) {
		printf("  git:         %s%s%s%s\n", str(git, "commit"),
		       *str(git, "branch") ? " on " : "", str(git, "branch"),
		       json_is_true(json_object_get(git, "dirty")) ? " (dirty)" : "");
		if (*str(git, "repo_url"))
			printf("  repository:  %s\n", str(git, "repo_url"));
	}
	if (*str(prov, "uncommitted_diff_sha256"))
		printf("  diff sha256: %s\n", str(prov, "uncommitted_diff_sha256"));
	if (*str(prov, "command"))
		printf("  command:     %s\n", str(prov, "command"));
	json_array_foreach(json_object_get(mv, "tags"), i, e)
		printf("  tag          %s = %s\n", str(e, "key"), str(e, "value"));
}

static int show_model(const char *name, int as_json, struct cli_fail *f)
{
	static const char *const head[] = { "VERSION", "STAGE", "ALIASES", "RUN", "BUNDLE",
					    "CREATED" };
	char filter[1200];
	const char *qm[] = { "name", name, NULL };
	const char *qg[] = { "name", name, NULL };
	const char *qv[] = { "filter", filter, "max_results", "1000", NULL };
	json_t *m = NULL, *vs = NULL, *gates = NULL, *v, *e;
	struct cli_table t;
	size_t i, k;

	if (strchr(name, '\''))
		snprintf(filter, sizeof(filter), "name = \"%s\"", name);
	else
		snprintf(filter, sizeof(filter), "name = '%s'", name);
	if (cli_api("GET", MLF "registered-models/get", qm, NULL, &m, f) ||
	    cli_api("GET", MLF "model-versions/search", qv, NULL, &vs, f) ||
	    cli_api("GET", EXT "gates/get", qg, NULL, &gates, f)) {
		json_decref(m);
		json_decref(vs);
		return -1;
	}
	if (as_json) {
		json_t *all = json_pack("{s:O, s:O, s:O}", "registered_model",
					json_object_get(m, "registered_model"), "model_versions",
					json_object_get(vs, "model_versions"), "gates",
					json_object_get(gates, "gates"));

		json_dumpf(all, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(all);
		goto out;
	}
	{
		json_t *rm = json_object_get(m, "registered_model");

		printf("%s\n", str(rm, "name"));
		if (*str(rm, "description"))
			printf("  %s\n", str(rm, "description"));
		json_array_foreach(json_object_get(rm, "tags"), i, e)
			printf("  tag %s = %s\n", str(e, "key"), str(e, "value"));
	}
	json_array_foreach(json_object_get(gates, "gates"), i, e) {
		printf("  gate into %s:\n", str(e, "stage"));
		json_array_foreach(json_object_get(e, "rules"), k, v)
			printf("    %s\n", json_string_value(v));
	}
	if (json_array_size(json_object_get(vs, "model_versions")) == 0) {
		printf("\nno versions yet: try `mltrack model register %s --from DIR`\n", name);
		goto out;
	}
	putchar('\n');
	cli_table_init(&t, 6, head);
	json_array_foreach(json_object_get(vs, "model_versions"), i, v) {
		char aliases[256] = "", c[32], run[16], bundle[16];
		const char *sha = kv_get(json_object_get(v, "tags"), "mltrack.bundle.sha256");

		json_array_foreach(json_object_get(v, "aliases"), k, e)
			if (strlen(aliases) + json_string_length(e) + 3 < sizeof(aliases))
				snprintf(aliases + strlen(aliases), sizeof(aliases) - strlen(aliases),
					 "%s@%s", *aliases ? " " : "", json_string_value(e));
		cli_local_time(c, sizeof(c), json_object_get(v, "creation_timestamp"));
		snprintf(run, sizeof(run), "%.12s", *str(v, "run_id") ? str(v, "run_id") : "-");
		snprintf(bundle, sizeof(bundle), "%.12s", sha ? sha : "-");
		{
			const char *row[] = { str(v, "version"), str(v, "current_stage"),
					      *aliases ? aliases : "-", run, bundle, c };

			cli_table_add(&t, row);
		}
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
out:
	json_decref(m);
	json_decref(vs);
	json_decref(gates);
	return 0;
}

static int cmd_show(int argc, char **argv)
{
	struct cli_fail f;
	json_t *ext = NULL;
	char name[1024];
	const char *version;
	int rc, as_json;

	if ((rc = cli_parse(&show_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (s_format && strcmp(s_format, "text") && strcmp(s_format, "json"))
		return cli_error(CLI_USAGE, "option '--format': '%s' is not text or json", s_format);
	as_json = s_format && strcmp(s_format, "json") == 0;
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	if (!strchr(s_ref, '@') && (split_version(s_ref, name, sizeof(name), &version) || !version))
		return show_model(s_ref, as_json, &f) ? cli_fail_report(&f) : CLI_OK;
	if (resolve(s_ref, &ext, &f))
		return cli_fail_report(&f);
	if (as_json) {
		json_dumpf(ext, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		print_version(json_object_get(ext, "model_version"), json_object_get(ext, "bundle"));
	}
	json_decref(ext);
	return CLI_OK;
}

/* ---- pull ---- */

static const char *p_ref, *p_out;

static const struct cli_opt pull_opts[] = {
	{ CLI_OPT_ARG, &p_ref, 0, "REF", NULL, CLI_OPT_REQUIRED,
	  "NAME/VERSION, NAME@ALIAS or NAME@STAGE (e.g. churn@production)" },
	{ CLI_OPT_VALUE, &p_out, 'o', "output", "DIR", CLI_OPT_REQUIRED,
	  "where the files go (created if missing)" },
	OPTS_END,
};

static const struct cli_spec pull_spec = {
	"model pull", "Download a version's bundle, verify every digest, then unpack it.",
	pull_opts,
	"The bundle must match the digest the server recorded when the version was\n"
	"registered, and every file the digest in its MLTRACK-BUNDLE.json; only then\n"
	"are the files moved into DIR (MLTRACK-BUNDLE.json with them).  A failed\n"
	"check leaves DIR as it was and exits 1.  Entries that would land outside\n"
	"DIR (.., absolute paths, links) are refused.",
	0,
};

static int cmd_pull(int argc, char **argv)
{
	struct cli_fail f;
	json_t *mv = NULL, *ext = NULL, *manifest = NULL;
	char *tmp = NULL, tar[4200], url[256];
	struct mt_err merr = MT_ERR_INIT;
	const char *sha;
	struct cli_progress p;
	int rc, skipped;

	if ((rc = cli_parse(&pull_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (cli_client_init(&f) || resolve(p_ref, &ext, &f)) {
		rc = cli_fail_report(&f);
		goto out;
	}
	mv = json_object_get(ext, "model_version"); /* borrowed from ext */
	sha = str(json_object_get(ext, "bundle"), "sha256");
	if (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64) {
		rc = cli_error(CLI_CHECK_FAILED, "%s version %s is not an mltrack bundle (source: %s): "
						 "nothing to verify",
			       str(mv, "name"), str(mv, "version"), str(mv, "source"));
		goto out;
	}
	if (!(tmp = temp_dir())) {
		rc = CLI_USAGE;
		goto out;
	}
	snprintf(tar, sizeof(tar), "%s/bundle.tar", tmp);
	snprintf(url, sizeof(url), "/api/2.0/mlflow-artifacts/artifacts/" BUNDLE_DIR "/%s.tar", sha);
	cli_progress_start(&p, "downloading", json_integer_value(json_object_get(
						      json_object_get(ext, "bundle"), "size")), 1);
	rc = cli_get_file(url, tar, -1, &p, &skipped, &f);
	cli_progress_end(&p);
	if (rc) {
		rc = cli_fail_report(&f);
		goto out;
	}
	/* The digest the server recorded, then every file's: only then is
	 * anything moved into the directory. */
	if (mt_bundle_unpack(tar, p_out, sha, &manifest, &merr)) {
		rc = cli_error(CLI_CHECK_FAILED, "%s version %s: %s; nothing was unpacked into %s",
			       str(mv, "name"), str(mv, "version"), merr.msg, p_out);
		goto out;
	}
	if (!cli_quiet)
		fprintf(stderr, "pulled %s version %s (%s) into %s: %zu files verified, bundle sha256 %s\n",
			str(mv, "name"), str(mv, "version"), str(mv, "current_stage"), p_out,
			json_array_size(json_object_get(manifest, "files")), sha);
	rc = CLI_OK;
out:
	json_decref(ext);
	json_decref(manifest);
	temp_done(tmp);
	return rc;
}

/* ---- promote ---- */

static const char *m_name, *m_version, *m_to, *m_reason;
static int m_keep, m_force;

static const struct cli_opt promote_opts[] = {
	{ CLI_OPT_ARG, &m_name, 0, "NAME", NULL, CLI_OPT_REQUIRED, "the registered model" },
	{ CLI_OPT_ARG, &m_version, 0, "VERSION", NULL, CLI_OPT_REQUIRED, "the version to move" },
	{ CLI_OPT_VALUE, &m_to, 0, "to", "STAGE", CLI_OPT_REQUIRED,
	  "staging, production or archived" },
	{ CLI_OPT_VALUE, &m_reason, 0, "reason", "TEXT", 0, "why (kept in the model's history)" },
	{ CLI_OPT_SWITCH, &m_keep, 0, "keep-existing", NULL, 0,
	  "leave the versions already in the stage there (default: archive them)" },
	{ CLI_OPT_SWITCH, &m_force, 0, "force", NULL, 0,
	  "override a failing gate (needs an admin token and --reason; recorded as forced)" },
	OPTS_END,
};

static const struct cli_spec promote_spec = {
	"model promote", "Move a version to a stage, through the stage's gate.", promote_opts,
	"The server evaluates the gate set for the target stage (mltrack gate set)\n"
	"and refuses a version that fails it; the report goes to stderr.  Moving into\n"
	"staging or production archives the version that held it, so one version\n"
	"holds each stage, unless --keep-existing.  Every attempt is recorded\n"
	"(mltrack model history).\n"
	"Exit status: 0 promoted, 1 refused by the gate, 2 usage, 3 server error.",
	0,
};

/* POST a gated move (a promotion, an alias move) to path and say how it
 * went: "<what> is now <where>" with the gate's verdict on success; on a
 * failing gate the report on stderr and CLI_CHECK_FAILED; other failures
 * as usual.  body is borrowed; refused and done are the first words of
 * the two messages ("churn version 3 was not promoted to Production",
 * "churn version 3 is now in Production"). */
static int gated_move(const char *path, json_t *body, const char *refused, const char *done)
{
	struct cli_fail f;
	json_t *r = NULL, *eb = NULL;
	int rc = CLI_OK;

	if (cli_api_ex("POST", path, NULL, body, &r, &eb, &f)) {
		if (strcmp(f.error_code, "GATE_FAILED") == 0 && json_object_get(eb, "report")) {
			char *text = mt_gate_render(json_object_get(eb, "report"), MT_GATE_TEXT,
						    cli_tracking_uri);

			fprintf(stderr, "mltrack: %s: the gate failed\n%s", refused, text ? text : "");
			free(text);
			rc = CLI_CHECK_FAILED;
		} else {
			rc = cli_fail_report(&f);
		}
	} else if (!cli_quiet) {
		size_t n = json_array_size(json_object_get(json_object_get(r, "report"), "rules"));

		fprintf(stderr, "%s", done);
		if (json_is_true(json_object_get(r, "forced")))
			fprintf(stderr, " (forced past a failing gate)");
		else if (n)
			fprintf(stderr, " (gate passed: %zu rule%s)", n, n == 1 ? "" : "s");
		fputc('\n', stderr);
	}
	json_decref(r);
	json_decref(eb);
	return rc;
}

static int cmd_promote(int argc, char **argv)
{
	struct cli_fail f;
	json_t *body = NULL;
	char refused[1024], done[1024];
	const char *stage;
	int rc;

	if ((rc = cli_parse(&promote_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (!(stage = cli_stage_name(m_to, 0)))
		return cli_error(CLI_USAGE, "--to '%s': expected staging, production or archived", m_to);
	if (strspn(m_version, "0123456789") != strlen(m_version) || !*m_version)
		return cli_error(CLI_USAGE, "VERSION '%s' is not a version number", m_version);
	if (m_force && (!m_reason || !*m_reason))
		return cli_error(CLI_USAGE, "--force needs --reason: a forced promotion says why");
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	body = json_pack("{s:s, s:s, s:s, s:b, s:b}", "name", m_name, "version", m_version, "stage",
			 stage, "archive_existing_versions",
			 !m_keep && strcmp(stage, "Archived") != 0, "force", m_force);
	if (m_reason)
		json_object_set_new(body, "reason", json_string(m_reason));
	snprintf(refused, sizeof(refused), "%s version %s was not promoted to %s", m_name,
		 m_version, stage);
	snprintf(done, sizeof(done), "%s version %s is now in %s", m_name, m_version, stage);
	rc = gated_move(EXT "model-versions/transition-stage", body, refused, done);
	json_decref(body);
	return rc;
}

/* ---- alias ---- */

static const char *a_name, *a_alias, *a_version, *a_reason;
static int a_delete, a_force;

static const struct cli_opt alias_opts[] = {
	{ CLI_OPT_ARG, &a_name, 0, "NAME", NULL, CLI_OPT_REQUIRED, "the registered model" },
	{ CLI_OPT_ARG, &a_alias, 0, "ALIAS", NULL, CLI_OPT_REQUIRED,
	  "letters, digits, _ and - (not 'latest', v<number> or a stage name)" },
	{ CLI_OPT_ARG, &a_version, 0, "VERSION", NULL, 0, "the version it names" },
	{ CLI_OPT_SWITCH, &a_delete, 0, "delete", NULL, 0, "remove the alias instead" },
	{ CLI_OPT_VALUE, &a_reason, 0, "reason", "TEXT", 0, "why (kept in the model's history)" },
	{ CLI_OPT_SWITCH, &a_force, 0, "force", NULL, 0,
	  "override a failing gate (needs an admin token and --reason; recorded as forced)" },
	OPTS_END,
};

static const struct cli_spec alias_spec = {
	"model alias", "Point an alias (NAME@ALIAS) at a version, through the alias's gate.",
	alias_opts,
	"An alias names one version at a time; setting it again moves it.  When a gate\n"
	"guards the alias (mltrack gate set NAME --to @ALIAS), the server evaluates it\n"
	"against the version the alias names now and refuses a failing move; the\n"
	"report goes to stderr and the alias stays where it was.  --delete removes the\n"
	"alias (allowed, gated or not).  Every move is recorded (mltrack model\n"
	"history).  Stage names are not aliases: NAME@production is the stage.\n"
	"Exit status: 0 moved, 1 refused by the gate, 2 usage, 3 server error.",
	0,
};

static int cmd_alias(int argc, char **argv)
{
	struct cli_fail f;
	json_t *body = NULL, *r = NULL;
	char refused[1024], done[1024];
	const char *alias;
	int rc;

	if ((rc = cli_parse(&alias_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	alias = a_alias[0] == '@' ? a_alias + 1 : a_alias;
	if (a_delete == !!a_version)
		return cli_error(CLI_USAGE, "model alias: give VERSION, or --delete");
	if (a_version && (strspn(a_version, "0123456789") != strlen(a_version) || !*a_version))
		return cli_error(CLI_USAGE, "VERSION '%s' is not a version number", a_version);
	if (a_force && (a_delete || !a_reason || !*a_reason))
		return cli_error(CLI_USAGE, a_delete ? "--force moves an alias past its gate; a "
						       "delete needs none"
						     : "--force needs --reason: a forced move says why");
	if (!a_delete && cli_stage_name(alias, 1))
		return cli_error(CLI_USAGE, "'%s' is a stage, not an alias: NAME@%s means the stage "
					    "(use mltrack model promote)", alias, alias);
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	body = json_pack("{s:s, s:s}", "name", a_name, "alias", alias);
	if (a_reason)
		json_object_set_new(body, "reason", json_string(a_reason));
	if (a_delete) {
		if (cli_api("DELETE", EXT "registered-models/alias", NULL, body, &r, &f)) {
			rc = cli_fail_report(&f);
			goto out;
		}
		if (!cli_quiet) {
			const char *was = json_string_value(json_object_get(r, "previous_version"));

			if (was)
				fprintf(stderr, "%s@%s removed (it was version %s)\n", a_name, alias, was);
			else
				fprintf(stderr, "%s@%s was not set\n", a_name, alias);
		}
		rc = CLI_OK;
		goto out;
	}
	json_object_set_new(body, "version", json_string(a_version));
	json_object_set_new(body, "force", json_boolean(a_force));
	snprintf(refused, sizeof(refused), "%s@%s was not moved to version %s", a_name, alias,
		 a_version);
	snprintf(done, sizeof(done), "%s@%s is version %s", a_name, alias, a_version);
	rc = gated_move(EXT "registered-models/alias", body, refused, done);
out:
	json_decref(body);
	json_decref(r);
	return rc;
}

/* ---- history ---- */

static const char *h_name, *h_version, *h_format, *h_kind;

static const struct cli_opt history_opts[] = {
	{ CLI_OPT_ARG, &h_name, 0, "NAME", NULL, CLI_OPT_REQUIRED, "the registered model" },
	{ CLI_OPT_VALUE, &h_version, 0, "version", "N", 0, "only what concerns this version" },
	{ CLI_OPT_VALUE, &h_kind, 0, "kind", "stage|alias|gate", 0,
	  "only promotions, alias moves or gate changes" },
	{ CLI_OPT_VALUE, &h_format, 0, "format", "table|json", 0, "output format (default: table)" },
	OPTS_END,
};

static const struct cli_spec history_spec = {
	"model history",
	"A model's audit trail: promotions, alias moves and gate changes, with their outcome.",
	history_opts,
	"Oldest first, one row each:\n"
	"  stage  VERSION moved FROM stage TO stage: allowed, refused (by the gate) or forced;\n"
	"  alias  @ALIAS moved FROM version TO version (- when unset or deleted);\n"
	"  gate   the gate on TO (a stage or @ALIAS) created, replaced or removed, with\n"
	"         its rule counts before and after (mltrack gate history shows the rules);\n"
	"who, the gate's verdict and the reason.  The server keeps this trail\n"
	"append-only, and it outlives a deleted model.",
	0,
};

/* "-" for JSON null, else the string. */
static const char *or_dash(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

static int cmd_history(int argc, char **argv)
{
	static const char *const head[] = { "TIME", "KIND", "VERSION", "FROM", "TO", "OUTCOME",
					    "ACTOR", "GATE", "REASON" };
	const char *q[] = { "name", NULL, "version", NULL, "kind", NULL, NULL };
	struct cli_fail f;
	struct cli_table t;
	json_t *r = NULL, *e;
	size_t i;
	int rc;

	if ((rc = cli_parse(&history_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (h_format && strcmp(h_format, "table") && strcmp(h_format, "json"))
		return cli_error(CLI_USAGE, "option '--format': '%s' is not table or json", h_format);
	if (h_kind && strcmp(h_kind, "stage") && strcmp(h_kind, "alias") && strcmp(h_kind, "gate"))
		return cli_error(CLI_USAGE, "option '--kind': '%s' is not stage, alias or gate",
				 h_kind);
	q[1] = h_name;
	q[3] = h_version;
	q[5] = h_kind;
	if (cli_client_init(&f) ||
	    cli_api("GET", EXT "registered-models/history", q, NULL, &r, &f))
		return cli_fail_report(&f);
	if (h_format && strcmp(h_format, "json") == 0) {
		json_dumpf(json_object_get(r, "events"), stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(r);
		return CLI_OK;
	}
	cli_table_init(&t, 9, head);
	json_array_foreach(json_object_get(r, "events"), i, e) {
		json_t *rep = json_object_get(e, "report"), *sum = json_object_get(rep, "summary");
		const char *kind = or_dash(e, "kind");
		char at[32], gate[64] = "-", from[300], to[300];

		cli_local_time(at, sizeof(at), json_object_get(e, "timestamp"));
		if (json_is_object(rep))
			snprintf(gate, sizeof(gate), "%s %lld/%lld",
				 json_is_true(json_object_get(rep, "passed")) ? "pass" : "fail",
				 (long long)json_integer_value(json_object_get(sum, "passed")),
				 (long long)json_integer_value(json_object_get(sum, "total")));
		if (strcmp(kind, "alias") == 0) {
			snprintf(from, sizeof(from), "%s", or_dash(e, "from_version"));
			snprintf(to, sizeof(to), "@%s=%s", or_dash(e, "alias"), or_dash(e, "version"));
		} else if (strcmp(kind, "gate") == 0) {
			const char *stage = json_string_value(json_object_get(e, "to_stage"));

			snprintf(from, sizeof(from), "-");
			snprintf(to, sizeof(to), "%s%s", stage ? "" : "@",
				 stage ? stage : or_dash(e, "alias"));
			snprintf(gate, sizeof(gate), "rules %zu->%zu",
				 json_array_size(json_object_get(e, "rules_before")),
				 json_array_size(json_object_get(e, "rules_after")));
		} else {
			snprintf(from, sizeof(from), "%s", or_dash(e, "from_stage"));
			snprintf(to, sizeof(to), "%s", or_dash(e, "to_stage"));
		}
		{
			const char *row[] = { at, kind, or_dash(e, "version"), from, to,
					      or_dash(e, "outcome"), or_dash(e, "actor"), gate,
					      str(e, "reason") };

			cli_table_add(&t, row);
		}
	}
	if (t.nrow == 1)
		fprintf(stderr, "nothing recorded yet: try `mltrack model promote %s VERSION --to "
				"staging`\n", h_name);
	else
		cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(r);
	return CLI_OK;
}

static const struct cli_sub subs[] = {
	{ "register", cmd_register, "pack files into a bundle and register a new version" },
	{ "list", cmd_list, "list registered models" },
	{ "show", cmd_show, "show a model's versions, or one version's provenance" },
	{ "pull", cmd_pull, "download and verify a version into a directory" },
	{ "promote", cmd_promote, "move a version to staging, production or archived" },
	{ "alias", cmd_alias, "point an alias at a version (or remove it), through its gate" },
	{ "history", cmd_history, "a model's promotions, alias moves and gate changes" },
	{ NULL, NULL, NULL },
};

int cmd_model(int argc, char **argv)
{
	int rc = cli_group("model", "Register, promote and pull models.", subs, argc, argv);

	cli_client_cleanup();
	return rc;
}
