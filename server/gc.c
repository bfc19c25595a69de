/*
 * gc.c: mltrackd gc, the artifact store's garbage collector.  Safe while
 * servers are uploading; three passes, each over what it finds now:
 *
 *   1. blobs rows nothing refers to: per blob, one short transaction takes
 *      the blob's exclusive advisory lock, deletes the row if still nothing
 *      refers to it (sql_art_gc_delete re-checks in the same statement),
 *      unlinks the file, fsyncs its directory and commits.  An upload adds
 *      a reference only under the shared lock (api_artifacts.c), so it
 *      either committed before (the re-check sees it) or comes after and
 *      finds the file gone, putting its own in place.
 *   2. files under blobs/ without a row (a crash between an upload's rename
 *      and its commit): the same lock, a re-check that there is still no
 *      row, then unlink.
 *   3. temporary uploads in tmp/ that nobody holds a flock on (store.c):
 *      an upload in flight holds one on its file for its whole life.
 *
 * With S3 (store.c), pass 2 lists PREFIX/blobs/ instead and leaves objects
 * younger than min_age, since an upload sends its blob before the
 * transaction that records it; were one taken anyway, the upload finds it
 * gone under the shared lock and sends it again (api_artifacts.c).
 * Multipart uploads older than min_age and never completed (a server
 * killed mid-transfer) are aborted.
 *
 * With purge (--purge-deleted-experiments), a pass 0 first removes every
 * experiment in the deleted stage since older_than seconds or more, for
 * good (MLflow's `mlflow gc`; experiments/delete stays a soft delete): in
 * one transaction per experiment, the row locked and checked again (a
 * restore that got there first wins), its runs with all they own (their
 * artifacts rows, whose blobs pass 1 then removes), its logged models and
 * itself, but not its points: the runs' delete trigger leaves them
 * (migration 0013).  Then its metrics partition is detached and dropped
 * whole, without blocking writers (sql_exp_drop_partition), and so is any
 * partition an earlier purge left behind (interrupted between the two).
 *
 * With dry_run nothing is locked or removed; the counts say what would go.
 * The summary line goes to stdout; errors come back in err.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mt_util.h"
#include "s3.h"
#include "sql_artifacts.h"
#include "sql_experiments.h"

#define PAGE 500

struct gc_stats {
	long long blobs, blob_bytes;
	long long orphans, orphan_bytes;
	long long tmps, tmp_bytes;
	long long uploads; /* unfinished S3 multipart uploads */
	long long kept; /* blob rows left */
	long long experiments, partitions; /* purged (pass 0) */
};

/* One transaction around fn, retried when PostgreSQL says so (deadlock,
 * serialization failure). */
static int in_txn(struct mt_req *req, int (*fn)(struct mt_req *, const char *, long long *),
		  const char *sha, long long *bytes, struct mt_err *err)
{
	for (int attempt = 0;; attempt++) {
		struct mt_err ignored = MT_ERR_INIT;
		int rc;

		if (db_command(req->w, "BEGIN", err))
			return -1;
		rc = fn(req, sha, bytes);
		if (rc == 0 && db_command(req->w, "COMMIT", err) == 0)
			return 0;
		if (rc != 0) {
			*err = req->err;
			db_command(req->w, "ROLLBACK", &ignored);
		}
		if (!err->retryable || attempt >= 3)
			return -1;
		mt_err_clear(err);
		mt_err_clear(&req->err);
	}
}

/* Pass 0: experiments deleted at cutoff (epoch ms) or before, then the
 * partitions of experiments that no longer exist. */
static int pass_experiments(struct mt_req *req, int dry_run, long long cutoff,
			    struct gc_stats *st, struct mt_err *err)
{
	const char **ids, **names;
	int *state;
	size_t n;

	if (sql_exp_purge_candidates(req, cutoff, &ids, &n, err))
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct mt_err ignored = MT_ERR_INIT;
		int purged;

		if (dry_run) {
			st->experiments++;
			st->partitions++;
			continue;
		}
		if (db_command(req->w, "BEGIN", err))
			return -1;
		if (sql_exp_purge(req, ids[i], cutoff, &purged, &req->err) ||
		    db_command(req->w, "COMMIT", &req->err)) {
			*err = req->err;
			db_command(req->w, "ROLLBACK", &ignored);
			return -1;
		}
		st->experiments += purged;
	}
	if (sql_exp_orphan_partitions(req, &names, &state, &n, err))
		return -1;
	if (dry_run) {
		st->partitions += (long long)n;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (sql_exp_drop_partition(req, names[i], state[i], err))
			return -1;
		st->partitions++;
	}
	mt_arena_reset(req->arena);
	return 0;
}

/* Pass 1, one blob: *bytes = its size when removed, -1 when kept. */
static int drop_blob(struct mt_req *req, const char *sha, long long *bytes)
{
	long long size, file;
	int deleted;

	*bytes = -1;
	if (sql_art_lock_blob(req, sha, 1, &req->err) ||
	    sql_art_gc_delete(req, sha, &deleted, &size, &req->err))
		return -1;
	if (!deleted)
		return 0; /* referenced again meanwhile */
	file = size;
	if (store_blob_remove(req, sha, &file, &req->err))
		return -1;
	*bytes = size;
	return 0;
}

static int pass_blobs(struct mt_req *req, int dry_run, struct gc_stats *st, struct mt_err *err)
{
	char after[65] = "";

	for (;;) {
		struct sql_blob *page;
		int n;

		if (sql_art_gc_page(req, after, PAGE, &page, &n, err))
			return -1;
		for (int i = 0; i < n; i++) {
			long long bytes = page[i].size;

			if (!dry_run && in_txn(req, drop_blob, page[i].sha256, &bytes, err))
				return -1;
			if (bytes >= 0) {
				st->blobs++;
				st->blob_bytes += bytes;
			}
		}
		if (n > 0)
			snprintf(after, sizeof(after), "%s", page[n - 1].sha256);
		mt_arena_reset(req->arena);
		if (n < PAGE)
			return 0;
	}
}

/* Pass 2, one file: *bytes = its size when removed, -1 when it has a row
 * by now. */
static int drop_orphan(struct mt_req *req, const char *sha, long long *bytes)
{
	unsigned char known;

	if (sql_art_lock_blob(req, sha, 1, &req->err) ||
	    sql_art_blobs_known(req, &sha, 1, &known, &req->err))
		return -1;
	if (known) {
		*bytes = -1;
		return 0;
	}
	return store_blob_remove(req, sha, bytes, &req->err); /* *bytes: as listed */
}

static int is_hex2(const char *s)
{
	return strlen(s) == 2 && strspn(s, "0123456789abcdef") == 2;
}

/* The blob-named regular files of one blobs/aa/bb directory. */
static int orphans_in(struct mt_req *req, const char *dir, const char *prefix, int dry_run,
		      struct gc_stats *st, struct mt_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	const char **names;
	unsigned char *known;
	size_t n = 0, cap = 64;

	if (!d)
		return errno == ENOENT ? 0 : mt_err_set(err, MT_EINTERNAL, "cannot read %s: %s",
							dir, strerror(errno));
	names = mt_arena_alloc(req->arena, cap * sizeof(*names));
	while ((e = readdir(d))) {
		if (!store_is_digest(e->d_name) || strncmp(e->d_name, prefix, 4) != 0)
			continue;
		if (n == cap) {
			const char **more = mt_arena_alloc(req->arena, 2 * cap * sizeof(*names));

			memcpy(more, names, n * sizeof(*names));
			names = more;
			cap *= 2;
		}
		names[n++] = mt_arena_strdup(req->arena, e->d_name);
	}
	closedir(d);
	if (n == 0)
		return 0;
	known = mt_arena_alloc(req->arena, n);
	if (sql_art_blobs_known(req, names, n, known, err))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *path = mt_arena_printf(req->arena, "%s/%s", dir, names[i]);
		struct stat sb;
		long long bytes;

		if (known[i] || lstat(path, &sb) || !S_ISREG(sb.st_mode))
			continue;
		bytes = sb.st_size;
		if (!dry_run && in_txn(req, drop_orphan, names[i], &bytes, err))
			return -1;
		if (bytes >= 0) {
			st->orphans++;
			st->orphan_bytes += bytes;
		}
	}
	return 0;
}

/* Pass 2 on S3: objects under blobs/ without a row, older than min_age
 * (an upload sends its blob before the transaction that records it), in
 * pages as the listing gives them; then multipart uploads never finished. */
struct s3_page {
	struct mt_req *req;
	long long before; /* epoch seconds: only objects older than this */
	int dry_run;
	struct gc_stats *st;
	struct mt_err *err;
	const char *names[PAGE];
	long long sizes[PAGE];
	size_t n;
};

static int s3_page_flush(struct s3_page *p)
{
	unsigned char known[PAGE];
	int rc = 0;

	if (p->n && sql_art_blobs_known(p->req, p->names, p->n, known, p->err))
		return -1;
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		long long bytes = p->sizes[i];

		if (known[i])
			continue;
		if (!p->dry_run)
			rc = in_txn(p->req, drop_orphan, p->names[i], &bytes, p->err);
		if (rc == 0 && bytes >= 0) {
			p->st->orphans++;
			p->st->orphan_bytes += bytes;
		}
	}
	p->n = 0;
	mt_arena_reset(p->req->arena);
	return rc;
}

static int s3_object(void *ctx, const char *key, long long size, long long mtime)
{
	struct s3_page *p = ctx;
	const char *sha = key + strlen("blobs/");

	if (!store_is_digest(sha) || mtime > p->before)
		return 0;
	p->names[p->n] = mt_arena_strdup(p->req->arena, sha);
	p->sizes[p->n++] = size;
	return p->n == PAGE ? s3_page_flush(p) : 0;
}

static int pass_s3_orphans(struct mt_req *req, int dry_run, long min_age, struct gc_stats *st,
			   struct mt_err *err)
{
	struct s3_page *p = calloc(1, sizeof(*p)); /* outlives the arena's resets */
	int rc;

	if (!p)
		return mt_err_set(err, MT_EINTERNAL, "out of memory");
	p->req = req;
	p->before = (long long)time(NULL) - min_age;
	p->dry_run = dry_run;
	p->st = st;
	p->err = err;
	rc = s3_list("blobs/", s3_object, p, err) || s3_page_flush(p) ||
	     s3_abort_stale_uploads("blobs/", p->before, dry_run, &st->uploads, err) ? -1 : 0;
	free(p);
	return rc;
}

static int pass_orphans(struct mt_req *req, int dry_run, struct gc_stats *st, struct mt_err *err)
{
	char root[4096];
	DIR *top;
	struct dirent *a;
	int rc = 0;

	snprintf(root, sizeof(root), "%s/blobs", mt_cfg.artifacts_root);
	top = opendir(root);
	if (!top)
		return errno == ENOENT ? 0 : mt_err_set(err, MT_EINTERNAL, "cannot read %s: %s",
							root, strerror(errno));
	while (rc == 0 && (a = readdir(top))) {
		char mid[4096 + 8];
		DIR *d;
		struct dirent *b;

		if (!is_hex2(a->d_name))
			continue;
		snprintf(mid, sizeof(mid), "%s/%.2s", root, a->d_name);
		d = opendir(mid);
		if (!d)
			continue;
		while (rc == 0 && (b = readdir(d))) {
			char leaf[4096 + 16], prefix[5];

			if (!is_hex2(b->d_name))
				continue;
			snprintf(leaf, sizeof(leaf), "%s/%.2s", mid, b->d_name);
			snprintf(prefix, sizeof(prefix), "%.2s%.2s", a->d_name, b->d_name);
			rc = orphans_in(req, leaf, prefix, dry_run, st, err);
			mt_arena_reset(req->arena);
		}
		closedir(d);
	}
	closedir(top);
	return rc;
}

/* "3 blobs (12.3 MB)": the count, and the size when there is any. */
static void count_phrase(char *out, size_t size, long long n, const char *one, const char *many,
			 long long bytes)
{
	static const char *const unit[] = { "kB", "MB", "GB", "TB", "PB" };
	double v = (double)bytes;
	int u = -1;
	char sz[32];

	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	if (u < 0)
		snprintf(sz, sizeof(sz), "%lld byte%s", bytes, bytes == 1 ? "" : "s");
	else
		snprintf(sz, sizeof(sz), "%.1f %s", v, unit[u]);
	if (n > 0)
		snprintf(out, size, "%lld %s (%s)", n, n == 1 ? one : many, sz);
	else
		snprintf(out, size, "0 %s", many);
}

int gc_run(int dry_run, long min_age, int purge, long older_than, struct mt_err *err)
{
	struct mt_worker w;
	struct mt_req req;
	struct gc_stats st = { 0 };
	char blobs[64], orphans[64], tmps[64];
	int rc = -1;

	db_oneshot(&w, &req);
	if (db_ensure(&w, err) ||
	    (purge && pass_experiments(&req, dry_run,
				       mt_now_ms() - (long long)older_than * 1000,
				       &st, err)) ||
	    pass_blobs(&req, dry_run, &st, err) ||
	    (s3_enabled() ? pass_s3_orphans(&req, dry_run, min_age, &st, err)
			  : pass_orphans(&req, dry_run, &st, err)) ||
	    store_tmp_sweep(0, dry_run, &st.tmps, &st.tmp_bytes, err) ||
	    sql_art_blob_count(&req, &st.kept, err))
		goto done;
	if (dry_run)
		st.kept -= st.blobs;
	count_phrase(blobs, sizeof(blobs), st.blobs, "blob", "blobs", st.blob_bytes);
	count_phrase(orphans, sizeof(orphans), st.orphans, "orphan file", "orphan files",
		     st.orphan_bytes);
	count_phrase(tmps, sizeof(tmps), st.tmps, "temporary file", "temporary files",
		     st.tmp_bytes);
	if (purge)
		printf("gc: %s %lld deleted experiment%s and %lld metrics partition%s\n",
		       dry_run ? "would purge" : "purged", st.experiments,
		       st.experiments == 1 ? "" : "s", st.partitions, st.partitions == 1 ? "" : "s");
	printf("gc: %s %s, %s, %s", dry_run ? "would remove" : "removed", blobs, orphans, tmps);
	if (s3_enabled())
		printf(", %lld unfinished upload%s", st.uploads, st.uploads == 1 ? "" : "s");
	printf("; kept %lld blob%s%s\n", st.kept, st.kept == 1 ? "" : "s", dry_run ? " (dry run)" : "");
	fflush(stdout);
	rc = 0;
done:
	mt_arena_release(&w.arena);
	db_close(&w);
	return rc;
}
