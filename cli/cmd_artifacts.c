/*
 * cmd_artifacts.c: mltrack artifacts list|upload|download.
 *
 * Everything goes through MLflow's artifact proxy
 * (/api/2.0/mlflow-artifacts/artifacts/<root>/<path>), where <root> comes
 * from the run's artifact_uri (mlflow-artifacts:/<experiment>/<run>/artifacts),
 * and listings through /api/2.0/mlflow/artifacts/list, so the commands work
 * against an MLflow server run with --serve-artifacts too.
 *
 * Placement follows cp -r: `upload RUN LOCAL DEST` puts LOCAL (a file, or a
 * directory with everything under it) at DEST/basename(LOCAL); `download RUN
 * PATH -o DIR` puts PATH at DIR/basename(PATH), and the whole run (no PATH)
 * into DIR itself.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "mt_path.h"
#include "mt_util.h"

struct entry {
	char *local;  /* file system path */
	char *remote; /* artifact path, relative to the run's root */
	long long size;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

static void entries_free(struct entries *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].local);
		free(e->v[i].remote);
	}
	free(e->v);
	memset(e, 0, sizeof(*e));
}

static int entries_add(struct entries *e, const char *local, const char *remote,
		       long long size)
{
	struct entry *v = e->v;

	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 64;
		if (!(v = realloc(e->v, e->cap * sizeof(*v))))
			return cli_error(CLI_USAGE, "out of memory");
		e->v = v;
	}
	v[e->n].local = strdup(local);
	v[e->n].remote = strdup(remote);
	v[e->n].size = size;
	if (!v[e->n].local || !v[e->n].remote) {
		free(v[e->n].local);
		free(v[e->n].remote);
		return cli_error(CLI_USAGE, "out of memory");
	}
	e->n++;
	return 0;
}

static char *join(const char *a, const char *b)
{
	char *s = malloc(strlen(a) + strlen(b) + 2);

	if (s)
		sprintf(s, "%s%s%s", a, *a && *b ? "/" : "", b);
	return s;
}

/* The proxy path of the run's artifact root, "/api/.../artifacts/1/<run>/artifacts"
 * (malloc'd). */
/* The last run whose artifact_uri is known without asking (mltrack run
 * learns it when it creates the run). */
static char known_run[64], known_uri[2048];

void cli_artifacts_known_uri(const char *run_id, const char *artifact_uri)
{
	snprintf(known_run, sizeof(known_run), "%s", run_id ? run_id : "");
	snprintf(known_uri, sizeof(known_uri), "%s", artifact_uri ? artifact_uri : "");
}

static int run_root(const char *run_id, char **root, struct cli_fail *f)
{
	const char *q[] = { "run_id", run_id, NULL };
	const char *uri, *p;
	json_t *r = NULL;

	*root = NULL;
	if (known_uri[0] && strcmp(known_run, run_id) == 0) {
		uri = known_uri;
	} else {
		if (cli_api("GET", "/api/2.0/mlflow/runs/get", q, NULL, &r, f))
			return -1;
		uri = json_string_value(json_object_get(
			json_object_get(json_object_get(r, "run"), "info"), "artifact_uri"));
	}
	if (!uri || strncmp(uri, "mlflow-artifacts:", 17) != 0) {
		cli_fail_set(f, CLI_SERVER,
			     "run %s keeps its artifacts at '%s', which is not served by the "
			     "tracking server (only mlflow-artifacts: URIs are)",
			     run_id, uri ? uri : "(none)");
		json_decref(r);
		return -1;
	}
	p = uri + 17;
	if (strncmp(p, "//", 2) == 0) /* mlflow-artifacts://host:port/path */
		p = strchr(p + 2, '/') ? strchr(p + 2, '/') : "";
	while (*p == '/')
		p++;
	*root = malloc(strlen(p) + 48);
	if (*root)
		sprintf(*root, "/api/2.0/mlflow-artifacts/artifacts%s%s", *p ? "/" : "", p);
	json_decref(r);
	return *root ? 0 : -1;
}

/* Normalise a user's artifact path (PATH or DEST) or say why not. */
static int user_path(const char *in, char out[MT_PATH_MAX + 1])
{
	struct mt_err err = { 0 };

	if (mt_path_normalise(out, in, strlen(in), 1, &err))
		return cli_error(CLI_USAGE, "%s", err.msg);
	return 0;
}

/* ---- list ---- */

/* One level of the run's listing under dir: calls fn for each entry.  Paths
 * the server sends are normalised and must lie under dir, so a hostile
 * listing cannot steer a download outside its directory. */
static int list_level(const char *run_id, const char *dir, json_t **files, struct cli_fail *f)
{
	const char *q[] = { "run_id", run_id, "path", *dir ? dir : NULL, NULL };
	json_t *r, *arr;
	size_t i;
	json_t *e;

	*files = NULL;
	if (cli_api("GET", "/api/2.0/mlflow/artifacts/list", q, NULL, &r, f))
		return -1;
	arr = json_object_get(r, "files");
	*files = json_array();
	json_array_foreach(arr, i, e) {
		const char *p = json_string_value(json_object_get(e, "path"));
		char norm[MT_PATH_MAX + 1];
		struct mt_err err = { 0 };

		if (!p || mt_path_normalise(norm, p, strlen(p), 0, &err) ||
		    !mt_path_under(norm, dir) || strcmp(norm, dir) == 0) {
			cli_fail_set(f, CLI_SERVER, "the server listed an unusable path '%s'",
				 p ? p : "(none)");
			json_decref(r);
			json_decref(*files);
			*files = NULL;
			return -1;
		}
		json_array_append_new(*files,
				      json_pack("{s:s, s:b, s:I}", "path", norm, "is_dir",
						json_is_true(json_object_get(e, "is_dir")), "file_size",
						(json_int_t)json_integer_value(
							json_object_get(e, "file_size"))));
	}
	json_decref(r);
	return 0;
}

/* Every file under dir, depth first, into out (an array of listing entries). */
static int list_tree(const char *run_id, const char *dir, json_t *out, int recursive,
		     struct cli_fail *f)
{
	json_t *files, *e;
	size_t i;

	if (list_level(run_id, dir, &files, f))
		return -1;
	json_array_foreach(files, i, e) {
		json_array_append(out, e);
		if (recursive && json_is_true(json_object_get(e, "is_dir")) &&
		    list_tree(run_id, json_string_value(json_object_get(e, "path")), out, 1, f)) {
			json_decref(files);
			return -1;
		}
	}
	json_decref(files);
	return 0;
}

static int recursive, as_json;
static const char *l_run, *l_path;

static const struct cli_opt list_opts[] = {
	{ CLI_OPT_ARG, &l_run, 0, "RUN", NULL, CLI_OPT_REQUIRED, "the run's id" },
	{ CLI_OPT_ARG, &l_path, 0, "PATH", NULL, 0, "a directory of artifacts (default: all)" },
	{ CLI_OPT_SWITCH, &recursive, 'r', "recursive", NULL, 0, "list subdirectories too" },
	{ CLI_OPT_SWITCH, &as_json, 0, "json", NULL, 0,
	  "print a JSON array of {path, is_dir, file_size}" },
	{ 0, NULL, 0, NULL, NULL, 0, NULL },
};

static const struct cli_spec list_spec = {
	"artifacts list", "List a run's artifacts: size and path, directories ending in '/'.",
	list_opts, NULL,
	0,
};

static int cmd_list(int argc, char **argv)
{
	char dir[MT_PATH_MAX + 1];
	struct cli_fail f;
	json_t *out, *e;
	size_t i;
	int rc;

	if ((rc = cli_parse(&list_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (user_path(l_path ? l_path : "", dir))
		return CLI_USAGE;
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	out = json_array();
	if (list_tree(l_run, dir, out, recursive, &f)) {
		json_decref(out);
		return cli_fail_report(&f);
	}
	if (as_json) {
		json_dumpf(out, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		json_array_foreach(out, i, e) {
			char h[32];
			int is_dir = json_is_true(json_object_get(e, "is_dir"));

			printf("%10s  %s%s\n",
			       is_dir ? "-" : cli_human_bytes(h, sizeof(h),
							      json_integer_value(json_object_get(
								      e, "file_size"))),
			       json_string_value(json_object_get(e, "path")), is_dir ? "/" : "");
		}
	}
	json_decref(out);
	return CLI_OK;
}

/* ---- upload ---- */

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Collect the files under local (a directory) as remote/... */
static int walk(const char *local, const char *remote, struct entries *out)
{
	struct dirent **names;
	int n = scandir(local, &names, NULL, by_name), rc = 0;

	if (n < 0)
		return cli_error(CLI_USAGE, "cannot read directory '%s': %s", local, strerror(errno));
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char *l = NULL, *r = NULL;
		struct stat st;

		if (rc || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			goto next;
		l = join(local, name);
		r = join(remote, name);
		if (!l || !r) {
			rc = cli_error(CLI_USAGE, "out of memory");
			goto next;
		}
		if (lstat(l, &st)) {
			rc = cli_error(CLI_USAGE, "cannot read '%s': %s", l, strerror(errno));
			goto next;
		}
		if (S_ISDIR(st.st_mode)) {
			rc = walk(l, r, out);
		} else if (S_ISLNK(st.st_mode)) {
			/* A link to a file is uploaded as that file; links to
			 * directories are not followed (they can loop). */
			if (stat(l, &st) == 0 && S_ISREG(st.st_mode))
				rc = entries_add(out, l, r, st.st_size);
			else
				cli_warn("skipping '%s': a link to a directory or to nothing", l);
		} else if (S_ISREG(st.st_mode)) {
			rc = entries_add(out, l, r, st.st_size);
		} else {
			cli_warn("skipping '%s': not a regular file", l);
		}
next:
		free(l);
		free(r);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* The base name of a local path, ignoring trailing '/' ("data/" → "data"). */
static char *local_base(const char *local)
{
	size_t n = strlen(local), s;

	while (n > 1 && local[n - 1] == '/')
		n--;
	s = n;
	while (s > 0 && local[s - 1] != '/')
		s--;
	return strndup(local + s, n - s);
}

int cli_artifacts_upload(const char *run_id, const char *const *locals, int nlocal,
			 const char *dest, int quiet, struct cli_fail *f)
{
	char d[MT_PATH_MAX + 1], human[32];
	struct entries e = { 0 };
	struct cli_progress p;
	long long total = 0;
	char *root = NULL;
	int rc = CLI_USAGE;

	memset(f, 0, sizeof(*f));
	if (user_path(dest ? dest : "", d))
		return CLI_USAGE;
	for (int i = 0; i < nlocal; i++) {
		char *base = local_base(locals[i]), *remote = base ? join(d, base) : NULL;
		struct stat st;
		int bad = 0;

		if (!remote)
			bad = cli_error(CLI_USAGE, "out of memory");
		else if (stat(locals[i], &st))
			bad = cli_error(CLI_USAGE, "cannot read '%s': %s", locals[i], strerror(errno));
		else if (S_ISDIR(st.st_mode))
			bad = walk(locals[i], strcmp(base, ".") && strcmp(base, "..") && strcmp(base, "/") ? remote : d, &e);
		else if (S_ISREG(st.st_mode))
			bad = entries_add(&e, locals[i], remote, st.st_size);
		else
			bad = cli_error(CLI_USAGE, "'%s' is not a file or a directory", locals[i]);
		free(base);
		free(remote);
		if (bad)
			goto out;
	}
	/* Every name is checked before the first byte is sent, so a bad name
	 * deep in a tree does not leave half a directory uploaded. */
	for (size_t i = 0; i < e.n; i++) {
		char norm[MT_PATH_MAX + 1];
		struct mt_err err = { 0 };

		if (mt_path_normalise(norm, e.v[i].remote, strlen(e.v[i].remote), 0, &err)) {
			cli_error(CLI_USAGE, "cannot upload '%s': %s", e.v[i].local, err.msg);
			goto out;
		}
		total += e.v[i].size;
	}
	if (run_root(run_id, &root, f)) {
		rc = f->code ? f->code : CLI_SERVER;
		goto out_report;
	}
	cli_progress_start(&p, "uploading", total, (int)e.n);
	p.on = p.on && !quiet;
	for (size_t i = 0; i < e.n; i++) {
		char sha[65], *path = join(root, e.v[i].remote);

		if (!path || cli_put_file(path, e.v[i].local, e.v[i].size, sha, &p, f)) {
			free(path);
			cli_progress_end(&p);
			if (!path)
				cli_fail_set(f, CLI_USAGE, "out of memory");
			rc = f->code ? f->code : CLI_SERVER;
			goto out_report;
		}
		free(path);
		cli_progress_file_done(&p, e.v[i].size);
	}
	cli_progress_end(&p);
	if (!cli_quiet && !quiet)
		fprintf(stderr, "uploaded %zu file%s (%s) to run %s%s%s\n", e.n, e.n == 1 ? "" : "s",
			cli_human_bytes(human, sizeof(human), total), run_id, *d ? " under " : "", d);
	rc = CLI_OK;
	goto out;
out_report:
	/* The caller reports f; rc carries its exit code. */
out:
	entries_free(&e);
	free(root);
	return rc;
}

static const char *u_run, *u_local, *u_dest;

static const struct cli_opt upload_opts[] = {
	{ CLI_OPT_ARG, &u_run, 0, "RUN", NULL, CLI_OPT_REQUIRED, "the run's id" },
	{ CLI_OPT_ARG, &u_local, 0, "LOCAL", NULL, CLI_OPT_REQUIRED,
	  "a file, or a directory uploaded with everything under it" },
	{ CLI_OPT_ARG, &u_dest, 0, "DEST", NULL, 0,
	  "artifact directory to put it in (default: the run's root)" },
	{ 0, NULL, 0, NULL, NULL, 0, NULL },
};

static const struct cli_spec upload_spec = {
	"artifacts upload", "Upload a file or a directory tree to a run's artifacts.", upload_opts,
	"LOCAL lands at DEST/<name of LOCAL>, as with cp -r.  Each file is streamed and\n"
	"checked against the SHA-256 the server stored.  A progress bar is drawn when\n"
	"stderr is a terminal.",
	0,
};

static int cmd_upload(int argc, char **argv)
{
	const char *locals[1];
	struct cli_fail f;
	int rc;

	if ((rc = cli_parse(&upload_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	locals[0] = u_local;
	rc = cli_artifacts_upload(u_run, locals, 1, u_dest, 0, &f);
	if (rc && f.msg[0])
		cli_fail_report(&f);
	return rc;
}

/* ---- download ---- */

static const char *d_run, *d_path, *d_out;

static const struct cli_opt download_opts[] = {
	{ CLI_OPT_ARG, &d_run, 0, "RUN", NULL, CLI_OPT_REQUIRED, "the run's id" },
	{ CLI_OPT_ARG, &d_path, 0, "PATH", NULL, 0,
	  "a file or directory of artifacts (default: all of them)" },
	{ CLI_OPT_VALUE, &d_out, 'o', "output", "DIR", 0,
	  "directory to download into (default: .; created if missing)" },
	{ 0, NULL, 0, NULL, NULL, 0, NULL },
};

static const struct cli_spec download_spec = {
	"artifacts download", "Download a run's artifacts, verifying every file's SHA-256.",
	download_opts,
	"PATH lands at DIR/<name of PATH>; without PATH the run's artifacts fill DIR.\n"
	"A file is written as <name>.mltrack-part and renamed into place only once its\n"
	"digest matches; an interrupted download resumes from the part file (Range).\n"
	"Files already present with the right digest are not fetched again.\n"
	"Exit status: 1 when a file does not match its digest, 3 when the server fails.",
	0,
};

static int ensure_parent(const char *file)
{
	char *dir = strdup(file), *slash = dir ? strrchr(dir, '/') : NULL;
	int rc = 0;

	if (!dir)
		return cli_error(CLI_USAGE, "out of memory");
	if (slash && slash != dir) {
		*slash = 0;
		if (mt_mkdir_p(dir, 0755))
			rc = cli_error(CLI_USAGE, "cannot create directory '%s': %s", dir,
				       strerror(errno));
	}
	free(dir);
	return rc;
}

/* The download itself, shared with `mltrack model register --run`: see cli.h. */
int cli_artifacts_download(const char *run_id, const char *remote, const char *out_dir, int quiet,
			   struct cli_fail *f)
{
	char path[MT_PATH_MAX + 1], human[32];
	struct entries e = { 0 };
	struct cli_progress p;
	long long total = 0;
	int rc, skipped_n = 0, was_quiet = cli_quiet;
	char *root = NULL, *base;
	json_t *tree = NULL, *x;
	size_t i;

	memset(f, 0, sizeof(*f));
	if (user_path(remote ? remote : "", path))
		return CLI_USAGE;
	if (run_root(run_id, &root, f))
		return cli_fail_report(f);
	cli_quiet = cli_quiet || quiet;
	tree = json_array();
	if (list_tree(run_id, path, tree, 1, f)) {
		rc = cli_fail_report(f);
		goto out;
	}
	/* Where PATH lands: DIR/<name of PATH>, or DIR for the whole run. */
	base = *path ? join(out_dir, mt_path_base(path)) : strdup(out_dir);
	if (!base) {
		rc = cli_error(CLI_USAGE, "out of memory");
		goto out;
	}
	if (json_array_size(tree) == 0 && *path) {
		/* Not a directory: a single file (or nothing at all). */
		rc = entries_add(&e, base, path, -1);
	} else {
		rc = 0;
		json_array_foreach(tree, i, x) {
			const char *rp = json_string_value(json_object_get(x, "path"));
			char *local;

			if (json_is_true(json_object_get(x, "is_dir")))
				continue;
			local = join(base, rp + (*path ? strlen(path) + 1 : 0));
			rc = local ? entries_add(&e, local, rp,
						 json_integer_value(json_object_get(x, "file_size")))
				   : cli_error(CLI_USAGE, "out of memory");
			free(local);
			total += json_integer_value(json_object_get(x, "file_size"));
			if (rc)
				break;
		}
	}
	free(base);
	if (rc)
		goto out;
	if (e.n == 0) {
		if (!cli_quiet)
			fprintf(stderr, "run %s has no artifacts\n", run_id);
		goto out;
	}
	if (mt_mkdir_p(out_dir, 0755)) {
		rc = cli_error(CLI_USAGE, "cannot create directory '%s': %s", out_dir,
			       strerror(errno));
		goto out;
	}
	cli_progress_start(&p, "downloading", total, (int)e.n);
	for (i = 0; i < e.n; i++) {
		char *url = join(root, e.v[i].remote);
		int skipped;

		if (!url || ensure_parent(e.v[i].local) ||
		    cli_get_file(url, e.v[i].local, e.v[i].size, &p, &skipped, f)) {
			cli_progress_end(&p);
			if (!url)
				rc = cli_error(CLI_USAGE, "out of memory");
			else if (f->msg[0])
				rc = f->status == 404 && e.v[i].size < 0
					     ? cli_error(CLI_SERVER, "run %s has no artifact '%s'",
							 run_id, path)
					     : cli_fail_report(f);
			else
				rc = CLI_USAGE;
			free(url);
			goto out;
		}
		free(url);
		skipped_n += skipped;
		if (e.v[i].size < 0) { /* a single file of unknown size */
			struct stat st;

			if (stat(e.v[i].local, &st) == 0)
				e.v[i].size = st.st_size;
			total += e.v[i].size;
		}
		cli_progress_file_done(&p, e.v[i].size);
	}
	cli_progress_end(&p);
	if (!cli_quiet) {
		fprintf(stderr, "downloaded %zu file%s (%s) into %s", e.n, e.n == 1 ? "" : "s",
			cli_human_bytes(human, sizeof(human), total), out_dir);
		if (skipped_n)
			fprintf(stderr, "; %d already up to date", skipped_n);
		fputc('\n', stderr);
	}
	rc = CLI_OK;
out:
	cli_quiet = was_quiet;
	json_decref(tree);
	entries_free(&e);
	free(root);
	return rc;
}

static int cmd_download(int argc, char **argv)
{
	struct cli_fail f;
	int rc;

	if ((rc = cli_parse(&download_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	return cli_artifacts_download(d_run, d_path, d_out && *d_out ? d_out : ".", 0, &f);
}

static const struct cli_sub subs[] = {
	{ "list", cmd_list, "list a run's artifacts" },
	{ "upload", cmd_upload, "upload a file or directory to a run" },
	{ "download", cmd_download, "download a run's artifacts, verified" },
	{ NULL, NULL, NULL },
};

int cmd_artifacts(int argc, char **argv)
{
	int rc = cli_group("artifacts", "Upload, list and download a run's artifacts.", subs, argc,
			   argv);

	cli_client_cleanup();
	return rc;
}
