/*
 * spool.c: spooled runs on disk, and pushing them to the server (see spool.h).
 *
 * A push reads the journal from the acknowledged offset and turns records into
 * API calls: `run` finds the run by its mltrack.spool_id tag or creates it,
 * consecutive `batch` records are merged into log-batch calls within MLflow's
 * limits, `artifact` uploads, `end` sets the status.  After each call the state
 * file moves the acknowledged offset past what the server accepted, so a crash
 * at any point repeats at most one call, which is harmless.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mt_limits.h"
#include "mt_spool.h"
#include "mt_util.h"
#include "spool.h"

#define WINDOW (16L * 1024 * 1024) /* journal bytes read at a time (≥ 2 records) */

int cli_spool_root(char *out, size_t n)
{
	const char *env = getenv("MLTRACK_SPOOL_DIR"), *home = getenv("HOME");

	if (env && *env)
		return snprintf(out, n, "%s", env) >= (int)n ? -1 : 0;
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());

		home = pw ? pw->pw_dir : "/tmp";
	}
	return snprintf(out, n, "%s/.mltrack/spool", home) >= (int)n ? -1 : 0;
}

static int fail_io(struct cli_fail *f, const char *what, const char *path)
{
	return cli_fail_set(f, CLI_USAGE, "%s %s: %s", what, path, strerror(errno));
}

int cli_spool_create(struct cli_spool *s, struct cli_fail *f)
{
	char root[3800], hex[33], path[4200], stamp[32];
	struct mt_err err = { 0 };
	time_t now = time(NULL);
	struct tm tm;

	memset(s, 0, sizeof(*s));
	s->journal_fd = s->lock_fd = -1;
	memset(f, 0, sizeof(*f));
	if (cli_spool_root(root, sizeof(root))) {
		errno = ENAMETOOLONG;
		return fail_io(f, "cannot use the spool directory", "(MLTRACK_SPOOL_DIR)");
	}
	if (mt_random_hex32(hex, &err)) {
		cli_fail_set(f, CLI_USAGE, "%s", err.msg);
		return -1;
	}
	/* Names sort by creation time, so sync goes oldest first. */
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(s->id, sizeof(s->id), "%s-%.16s", stamp, hex);
	/* Set up under <id>.new (which sync ignores), locked, then renamed:
	 * sync never sees a spooled run that is not locked by its writer. */
	snprintf(s->dir, sizeof(s->dir), "%s/%s.new", root, s->id);
	if (mt_mkdir_p(root, 0700) || mkdir(s->dir, 0700))
		return fail_io(f, "cannot create the spool directory", s->dir);
	snprintf(path, sizeof(path), "%s/lock", s->dir);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB))
		return fail_io(f, "cannot lock", path);
	snprintf(path, sizeof(path), "%s/journal", s->dir);
	s->journal_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (s->journal_fd < 0)
		return fail_io(f, "cannot create", path);
	snprintf(path, sizeof(path), "%s", s->dir);
	snprintf(s->dir, sizeof(s->dir), "%s/%s", root, s->id);
	if (rename(path, s->dir))
		return fail_io(f, "cannot create the spool directory", s->dir);
	return 0;
}

int cli_spool_append(struct cli_spool *s, json_t *rec)
{
	return mt_spool_append(s->journal_fd, rec);
}

void cli_spool_flush(struct cli_spool *s)
{
	if (s->journal_fd >= 0)
		fdatasync(s->journal_fd);
}

void cli_spool_close(struct cli_spool *s)
{
	if (s->journal_fd >= 0)
		close(s->journal_fd);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->journal_fd = s->lock_fd = -1;
}

void cli_spool_remove(const char *dir)
{
	static const char *files[] = { "journal", "state", "state.tmp", "output.log",
				       "uncommitted.patch", "lock" };
	char path[4200];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	if (rmdir(dir) && errno != ENOENT)
		cli_warn("could not remove the spool directory %s: %s", dir, strerror(errno));
}

/* ---- pushing ---- */

/* The spool this process last asked the server to create a run for: a
 * first attempt need not look for a run an earlier attempt made. */
static char attempted[64];

struct pusher {
	const char *dir;
	char experiment_id[32];
	struct mt_spool_state st;
	long long base;   /* journal offset of the window's first byte */
	json_t *batch;    /* merged batch records not yet sent */
	long long batch_end;
	size_t nm, np, nt;
	int ended, progressed;
	struct cli_fail *f;
	int live;
};

/* Whether the journal's last complete record (ending at offset end) is the
 * end record: a push that finds nothing new must still know whether the run
 * ended, when an earlier push sent the end but did not remove the spool. */
static int last_is_end(int fd, long long end)
{
	char tail[4096];
	long long from = end > (long long)sizeof(tail) ? end - (long long)sizeof(tail) : 0;
	ssize_t n = end > 0 ? pread(fd, tail, (size_t)(end - from), from) : 0;
	const char *line;
	json_t *rec;
	int yes;

	if (n <= 1 || tail[n - 1] != '\n')
		return 0;
	tail[n - 1] = 0;
	line = strrchr(tail, '\n');
	line = line ? line + 1 : tail;
	rec = json_loads(line, 0, NULL);
	yes = rec && json_is_string(json_object_get(rec, "t")) &&
	      strcmp(json_string_value(json_object_get(rec, "t")), "end") == 0;
	json_decref(rec);
	return yes;
}

static int save(struct pusher *p, long long acked)
{
	struct mt_err err = { 0 };

	p->st.acked = acked;
	p->progressed = 1;
	if (mt_spool_state_write(p->dir, &p->st, &err)) {
		cli_fail_set(p->f, CLI_USAGE, "%s", err.msg);
		return -1;
	}
	return 0;
}

int cli_experiment_ensure(const char *name, char *out, size_t n, struct cli_fail *f)
{
	for (int tries = 0; tries < 2; tries++) {
		const char *q[] = { "experiment_name", name, NULL };
		json_t *r = NULL, *body;
		const char *id;

		if (cli_api("GET", "/api/2.0/mlflow/experiments/get-by-name", q, NULL, &r, f) == 0) {
			id = json_string_value(json_object_get(json_object_get(r, "experiment"),
							       "experiment_id"));
			snprintf(out, n, "%s", id ? id : "");
			json_decref(r);
			return id ? 0 : cli_fail_set(f, CLI_SERVER, "no experiment id in the answer");
		}
		if (f->status != 404)
			return -1;
		body = json_pack("{s:s}", "name", name);
		if (cli_api("POST", "/api/2.0/mlflow/experiments/create", NULL, body, &r, f) == 0) {
			id = json_string_value(json_object_get(r, "experiment_id"));
			snprintf(out, n, "%s", id ? id : "");
			json_decref(r);
			json_decref(body);
			return id ? 0 : cli_fail_set(f, CLI_SERVER, "no experiment id in the answer");
		}
		json_decref(body);
		/* Created by someone else meanwhile: look it up again. */
		if (strcmp(f->error_code, "RESOURCE_ALREADY_EXISTS") != 0)
			return -1;
	}
	return -1;
}

/* The experiment id for a run record: its experiment_id, or the experiment
 * named, created when missing. */
static int experiment_id(json_t *rec, char *out, size_t n, struct cli_fail *f)
{
	const char *id = json_string_value(json_object_get(rec, "experiment_id"));
	const char *name = json_string_value(json_object_get(rec, "experiment"));

	if (id || !name) {
		snprintf(out, n, "%s", id ? id : "0");
		return 0;
	}
	return cli_experiment_ensure(name, out, n, f);
}

/* Find the run this spool made before (a crash after the server created it
 * but before the state recorded it), or create it. */
static int create_run(struct pusher *p, json_t *rec)
{
	const char *spool_id = json_string_value(json_object_get(rec, "spool_id"));
	char exp[32], filter[160];
	json_t *body, *r = NULL, *runs, *tags;
	const char *id;

	if (!spool_id)
		spool_id = "";
	if (experiment_id(rec, exp, sizeof(exp), p->f))
		return -1;
	snprintf(p->experiment_id, sizeof(p->experiment_id), "%s", exp);
	if (p->live && strcmp(attempted, spool_id) != 0)
		goto create;
	snprintf(filter, sizeof(filter), "tags.`mltrack.spool_id` = '%s'", spool_id);
	body = json_pack("{s:[s], s:s, s:i, s:s}", "experiment_ids", exp, "filter", filter,
			 "max_results", 1, "run_view_type", "ALL");
	if (cli_api("POST", "/api/2.0/mlflow/runs/search", NULL, body, &r, p->f)) {
		json_decref(body);
		return -1;
	}
	json_decref(body);
	runs = json_object_get(r, "runs");
	id = json_string_value(
		json_object_get(json_object_get(json_array_get(runs, 0), "info"), "run_id"));
	if (id) {
		snprintf(p->st.run_id, sizeof(p->st.run_id), "%s", id);
		json_decref(r);
		return 0;
	}
	json_decref(r);
create:
	snprintf(attempted, sizeof(attempted), "%s", spool_id);
	tags = json_pack("[{s:s, s:s}]", "key", "mltrack.spool_id", "value", spool_id);
	if (json_is_array(json_object_get(rec, "tags")))
		json_array_extend(tags, json_object_get(rec, "tags"));
	body = json_pack("{s:s, s:o}", "experiment_id", exp, "tags", tags);
	json_object_set(body, "start_time", json_object_get(rec, "start_time"));
	if (json_object_get(rec, "run_name"))
		json_object_set(body, "run_name", json_object_get(rec, "run_name"));
	if (json_object_get(rec, "user_id"))
		json_object_set(body, "user_id", json_object_get(rec, "user_id"));
	if (cli_api("POST", "/api/2.0/mlflow/runs/create", NULL, body, &r, p->f)) {
		json_decref(body);
		return -1;
	}
	json_decref(body);
	id = json_string_value(
		json_object_get(json_object_get(json_object_get(r, "run"), "info"), "run_id"));
	snprintf(p->st.run_id, sizeof(p->st.run_id), "%s", id ? id : "");
	cli_artifacts_known_uri(p->st.run_id,
				json_string_value(json_object_get(
					json_object_get(json_object_get(r, "run"), "info"),
					"artifact_uri")));
	json_decref(r);
	if (!id) {
		cli_fail_set(p->f, CLI_SERVER, "the server created a run without an id");
		return -1;
	}
	return 0;
}

static int send_batch(struct pusher *p, json_t *b)
{
	json_t *body = json_pack("{s:s, s:O, s:O, s:O}", "run_id", p->st.run_id, "metrics",
				 json_object_get(b, "metrics"), "params",
				 json_object_get(b, "params"), "tags", json_object_get(b, "tags"));
	int rc;

	if (!body) /* a record without its three lists */
		return cli_fail_set(p->f, CLI_USAGE, "a damaged batch record in %s", p->dir);
	rc = cli_api("POST", "/api/2.0/mlflow/runs/log-batch", NULL, body, NULL, p->f);
	json_decref(body);
	return rc;
}

/* Send the merged batch.  A 4xx for the merge is retried record by record
 * (kept in "parts"), so one bad record cannot hold back the others; a record
 * the server refuses alone is reported and skipped. */
static int flush_batch(struct pusher *p)
{
	json_t *parts, *part;
	size_t i;

	if (!p->batch)
		return 0;
	if (send_batch(p, p->batch) == 0)
		goto done;
	if (p->f->transient || !p->f->status)
		return -1;
	parts = json_object_get(p->batch, "parts");
	json_array_foreach(parts, i, part) {
		if (send_batch(p, part) == 0)
			continue;
		if (p->f->transient || !p->f->status)
			return -1;
		cli_warn("the server refused spooled values of run %s: %s", p->st.run_id, p->f->msg);
	}
done:
	json_decref(p->batch);
	p->batch = NULL;
	p->nm = p->np = p->nt = 0;
	memset(p->f, 0, sizeof(*p->f));
	return save(p, p->batch_end);
}

static void merge(json_t *into, json_t *rec, const char *key)
{
	json_t *a = json_object_get(rec, key);

	if (json_array_size(a))
		json_array_extend(json_object_get(into, key), a);
}

static int add_batch(struct pusher *p, json_t *rec, long long end)
{
	size_t nm = json_array_size(json_object_get(rec, "metrics"));
	size_t np = json_array_size(json_object_get(rec, "params"));
	size_t nt = json_array_size(json_object_get(rec, "tags"));

	if (p->batch && (p->nm + nm > MT_MAX_BATCH_METRICS || p->np + np > MT_MAX_BATCH_PARAMS ||
			 p->nt + nt > MT_MAX_BATCH_TAGS ||
			 p->nm + nm + p->np + np + p->nt + nt > MT_MAX_BATCH_TOTAL) &&
	    flush_batch(p))
		return -1;
	if (!p->batch)
		p->batch = json_pack("{s:[], s:[], s:[], s:[]}", "metrics", "params", "tags", "parts");
	merge(p->batch, rec, "metrics");
	merge(p->batch, rec, "params");
	merge(p->batch, rec, "tags");
	json_array_append(json_object_get(p->batch, "parts"), rec);
	p->nm += nm;
	p->np += np;
	p->nt += nt;
	p->batch_end = end;
	return 0;
}

static int send_artifact(struct pusher *p, json_t *rec)
{
	const char *local = json_string_value(json_object_get(rec, "local"));
	const char *dest = json_string_value(json_object_get(rec, "dest"));
	struct stat st;
	int rc;

	if (!local || stat(local, &st) != 0) {
		cli_warn("artifact '%s' of run %s is gone; not uploaded", local ? local : "?",
			 p->st.run_id);
		return 0;
	}
	rc = cli_artifacts_upload(p->st.run_id, &local, 1, dest ? dest : "", 1, p->f);
	if (rc == CLI_OK)
		return 0;
	if (p->f->transient || (rc == CLI_SERVER && !p->f->status))
		return -1;
	/* A local problem or a refusal: said already or now, and skipped. */
	if (p->f->msg[0])
		cli_warn("artifact '%s' of run %s not uploaded: %s", local, p->st.run_id, p->f->msg);
	memset(p->f, 0, sizeof(*p->f));
	return 0;
}

static int send_end(struct pusher *p, json_t *rec)
{
	json_t *body = json_pack("{s:s, s:O, s:O}", "run_id", p->st.run_id, "status",
				 json_object_get(rec, "status"), "end_time",
				 json_object_get(rec, "end_time"));
	int rc;

	if (!body) {
		cli_warn("a damaged end record in the spool of run %s", p->st.run_id);
		return 0;
	}
	rc = cli_api("POST", "/api/2.0/mlflow/runs/update", NULL, body, NULL, p->f);
	json_decref(body);
	return rc;
}

static int on_record(void *arg, json_t *rec, size_t end_rel)
{
	struct pusher *p = arg;
	const char *t = json_string_value(json_object_get(rec, "t"));
	long long end = p->base + (long long)end_rel;

	if (strcmp(t, "batch") == 0) {
		if (!p->st.run_id[0])
			goto no_run;
		return add_batch(p, rec, end);
	}
	if (flush_batch(p))
		return -1;
	if (strcmp(t, "run") == 0) {
		if (!p->st.run_id[0] && create_run(p, rec))
			return -1;
		return save(p, end);
	}
	if (!p->st.run_id[0])
		goto no_run;
	if (strcmp(t, "artifact") == 0) {
		if (send_artifact(p, rec))
			return -1;
	} else if (strcmp(t, "end") == 0) {
		if (send_end(p, rec))
			return -1;
		p->ended = 1;
	} else {
		cli_warn("skipping a spooled record of unknown type '%s'", t);
	}
	return save(p, end);
no_run:
	cli_fail_set(p->f, CLI_USAGE, "the journal in %s does not start with its run",
		 p->dir);
	return -1;
}

int cli_spool_push(const char *dir, int live, struct cli_push *out, struct cli_fail *f)
{
	struct pusher p = { .dir = dir, .f = f, .live = live };
	struct mt_err err = { 0 };
	char path[4200], *buf = NULL;
	int fd = -1, rc = -1;
	long long win;
	struct stat st;

	memset(f, 0, sizeof(*f));
	memset(out, 0, sizeof(*out));
	if (mt_spool_state_read(dir, &p.st, &err))
		cli_warn("%s", err.msg);
	snprintf(path, sizeof(path), "%s/journal", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st)) {
		fail_io(f, "cannot read", path);
		goto out;
	}
	p.base = p.st.acked;
	/* What is there to read, within a window; records written after the
	 * fstat wait for the next push. */
	win = st.st_size - p.base;
	if (win > WINDOW)
		win = WINDOW;
	if (win <= 0)
		goto done;
	if (!(buf = malloc((size_t)win))) {
		fail_io(f, "cannot read", path);
		goto out;
	}
	for (;;) {
		ssize_t n = pread(fd, buf, (size_t)win, p.base);
		size_t used = 0;
		int prc;

		if (n < 0) {
			fail_io(f, "cannot read", path);
			goto out;
		}
		if (n == 0)
			break;
		prc = mt_spool_parse(buf, (size_t)n, &used, on_record, &p, &err);
		if (prc == 0 && flush_batch(&p))
			prc = -1;
		if (prc) {
			if (prc == -1 && err.msg[0] && !f->msg[0]) {
				cli_fail_set(f, CLI_USAGE, "%s: %s", path, err.msg);
			}
			goto out;
		}
		if (used == 0)
			break; /* only a partial record is left */
		p.base += (long long)used;
	}
done:
	out->size = p.base;
	rc = 0;
out:
	json_decref(p.batch);
	snprintf(out->run_id, sizeof(out->run_id), "%s", p.st.run_id);
	snprintf(out->experiment_id, sizeof(out->experiment_id), "%s", p.experiment_id);
	out->acked = p.st.acked;
	out->ended = p.ended || (rc == 0 && fd >= 0 && last_is_end(fd, p.base));
	out->progressed = p.progressed;
	if (rc == 0 && !live && !out->ended && p.st.run_id[0]) {
		/* The writer is gone without an end: what it did not say is lost,
		 * so the run is closed as KILLED, at the journal's last change. */
		json_t *end = json_pack("{s:s, s:s, s:I}", "run_id", p.st.run_id, "status", "KILLED",
					"end_time", (json_int_t)st.st_mtime * 1000);

		if (cli_api("POST", "/api/2.0/mlflow/runs/update", NULL, end, NULL, f) == 0)
			out->ended = 1;
		else
			rc = -1;
		json_decref(end);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* ---- sync ---- */

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The spooled runs' directory names, oldest first (malloc'd, NULL-ended). */
static char **spool_names(const char *root)
{
	DIR *d = opendir(root);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0;

	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		char **nv;

		/* Skip dot files and runs still being set up (*.new). */
		if (e->d_name[0] == '.' || strstr(e->d_name, ".new"))
			continue;
		if (!(nv = realloc(v, (n + 2) * sizeof(*v))))
			break;
		v = nv;
		if (!(v[n] = strdup(e->d_name)))
			break;
		v[++n] = NULL;
	}
	closedir(d);
	if (v)
		qsort(v, n, sizeof(*v), by_name);
	return v;
}

int cli_sync_all(int quick, long budget_ms)
{
	char root[3800], dir[4200], lock[4300];
	double start = cli_now();
	int synced = 0, busy = 0, failed = 0, server_down = 0, rc = CLI_OK;
	char **names;

	if (cli_spool_root(root, sizeof(root)))
		return CLI_OK;
	names = spool_names(root);
	if (quick)
		cli_client_patience(1, 1000, 2000);
	for (char **name = names; name && *name && !server_down; name++) {
		struct cli_push p;
		struct cli_fail f;
		struct stat st;
		int fd;

		if (quick && (cli_now() - start) * 1000 > budget_ms)
			break;
		snprintf(dir, sizeof(dir), "%s/%s", root, *name);
		snprintf(lock, sizeof(lock), "%s/lock", dir);
		if (stat(dir, &st) || !S_ISDIR(st.st_mode))
			continue;
		fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			busy++; /* a live `mltrack run` is sending it */
			close(fd);
			continue;
		}
		if (cli_client_init(&f) == 0 && cli_spool_push(dir, 0, &p, &f) == 0) {
			if (p.ended || (!p.run_id[0] && p.size == 0)) {
				cli_spool_remove(dir);
				if (p.run_id[0])
					synced++;
			}
		} else if (f.transient || (f.code == CLI_SERVER && !f.status)) {
			server_down = 1; /* the others would fail the same way */
			if (!quick)
				rc = cli_fail_report(&f);
		} else if (f.status == 401 || f.status == 429) {
			/* The credentials are refused: the others' would be too.
			 * Everything stays spooled for a sync with credentials
			 * that work (none of them is in the spool). */
			server_down = 1;
			failed++;
			if (!quick)
				rc = cli_error(CLI_SERVER, "spooled run %s: %s", *name, f.msg);
		} else {
			failed++;
			if (!quick || f.code != CLI_SERVER)
				cli_error(f.code, "spooled run %s: %s", *name, f.msg);
			rc = f.code ? f.code : CLI_SERVER;
		}
		close(fd);
	}
	for (char **name = names; name && *name; name++)
		free(*name);
	free(names);
	if (quick) {
		cli_client_patience(0, 0, 0);
		if (synced && !cli_quiet)
			fprintf(stderr, "mltrack: uploaded %d spooled run%s\n", synced,
				synced == 1 ? "" : "s");
		return CLI_OK;
	}
	if (!cli_quiet)
		fprintf(stderr, "synced %d run%s%s%s\n", synced, synced == 1 ? "" : "s",
			busy ? "; some are still being written by a running `mltrack run`" : "",
			failed ? "; some could not be synced (see above)" : "");
	return rc;
}

static const struct cli_opt sync_opts[] = {
	{ 0, NULL, 0, NULL, NULL, 0, NULL },
};

static const struct cli_spec sync_spec = {
	"sync", "Upload the runs spooled while the server could not be reached.", sync_opts,
	"Spooled runs live in $MLTRACK_SPOOL_DIR (default ~/.mltrack/spool).  Each is\n"
	"removed once the server has acknowledged all of it; running sync again, or\n"
	"after a crash halfway, adds nothing twice.  Runs still being written by a\n"
	"live `mltrack run` are left to it.  Every other command starts with a quick\n"
	"sync of its own (at most a few seconds, silent when the server is down).\n"
	"Runs are sent with the credentials in force now (none is in the spool); when\n"
	"the server refuses them, sync stops and keeps every spooled run.",
	0,
};

int cmd_sync(int argc, char **argv)
{
	struct cli_fail f;
	int rc;

	if ((rc = cli_parse(&sync_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	rc = cli_sync_all(0, 0);
	cli_client_cleanup();
	return rc;
}
