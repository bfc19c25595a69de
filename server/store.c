/*
 * store.c: the artifact store on disk (DESIGN §6), shared by the upload path
 * (api_artifacts.c), start-up (main.c) and mltrackd gc (gc.c).
 *
 *   ARTIFACTS_ROOT/blobs/aa/bb/<sha256>   one file per blob, never rewritten
 *   ARTIFACTS_ROOT/tmp/upload-XXXXXX      uploads being received
 *
 * A temporary upload file is flock(LOCK_EX)ed by its upload from creation
 * to its end, so whoever sweeps tmp/ removes only files it can lock itself:
 * an upload in flight, in this process or another one, is never touched.
 * The sweeper unlinks while holding the lock, and an upload checks, once it
 * holds the lock on a new file, that the file is still linked (it was not
 * swept between mkstemp and flock), so the two cannot miss each other.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mt_util.h"
#include "s3.h"
#include "server.h"

#define TMP_PREFIX "upload-"

const char *store_blob_path(struct mt_arena *a, const char *sha)
{
	return mt_arena_printf(a, "%s/blobs/%.2s/%.2s/%s", mt_cfg.artifacts_root, sha, sha + 2, sha);
}

const char *store_blob_key(struct mt_arena *a, const char *sha)
{
	return mt_arena_printf(a, "blobs/%s", sha);
}

int store_blob_send(struct mt_req *req, const char *sha, int fd, long long size,
		    struct mt_err *err)
{
	const char *key = store_blob_key(req->arena, sha);
	long long have;
	int found;

	if (!s3_enabled())
		return 0;
	if (s3_head(key, &found, &have, err))
		return -1;
	if (found && have == size)
		return 0; /* stored already: not sent again */
	return s3_put_file(key, fd, size, sha, err);
}

int store_blob_remove(struct mt_req *req, const char *sha, long long *bytes, struct mt_err *err)
{
	const char *path;
	struct stat st;

	if (s3_enabled()) /* a missing object is not an error; *bytes stays the caller's */
		return s3_delete(store_blob_key(req->arena, sha), err);
	path = store_blob_path(req->arena, sha);
	*bytes = lstat(path, &st) == 0 ? st.st_size : 0;
	if (unlink(path) == 0) {
		store_fsync_dir(path);
		return 0;
	}
	if (errno == ENOENT)
		return 0;
	return mt_err_set(err, MT_EINTERNAL, "cannot remove %s: %s", path, strerror(errno));
}

/* A download into a staged file. */
struct fetch {
	int fd;
	int failed;
};

static int fetch_sink(void *ctx, const void *buf, size_t n)
{
	struct fetch *f = ctx;

	if (!buf)
		return 0;
	if (mt_write_all(f->fd, buf, n)) {
		f->failed = errno ? errno : EIO;
		return 1;
	}
	return 0;
}

struct staged {
	char path[4096];
	int fd;
};

static void staged_drop(void *p)
{
	struct staged *s = p;

	unlink(s->path);
	close(s->fd);
}

int store_blob_file(struct mt_req *req, const char *sha, const char **path, struct mt_err *err)
{
	struct staged *s;
	struct fetch f;
	int rc;

	if (!s3_enabled()) {
		*path = store_blob_path(req->arena, sha);
		return 0;
	}
	s = mt_arena_alloc(req->arena, sizeof(*s));
	if (store_tmp_create(s->path, sizeof(s->path), &s->fd, err))
		return -1;
	mt_arena_defer(req->arena, staged_drop, s);
	f.fd = s->fd;
	f.failed = 0;
	rc = s3_get(store_blob_key(req->arena, sha), fetch_sink, &f, err);
	if (rc > 0) {
		mt_err_set(err, f.failed == ENOSPC || f.failed == EDQUOT ? MT_ENOSPACE : MT_EINTERNAL,
			   "Cannot stage the stored blob for reading");
		return mt_err_detail(err, "write %s: %s", s->path, strerror(f.failed));
	}
	if (rc < 0)
		return -1;
	*path = mt_arena_strdup(req->arena, s->path);
	return 0;
}

int store_is_digest(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

void store_fsync_dir(const char *file)
{
	char dir[4096];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", file);
	slash = strrchr(dir, '/');
	if (!slash)
		return;
	*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int store_tmp_create(char *path, size_t size, int *out, struct mt_err *err)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		struct stat st;
		int fd;

		snprintf(path, size, "%s/tmp/" TMP_PREFIX "XXXXXX", mt_cfg.artifacts_root);
		fd = mkstemp(path);
		if (fd < 0) {
			mt_err_set(err, MT_EINTERNAL, "Cannot store the artifact");
			return mt_err_detail(err, "mkstemp %s: %s", path, strerror(errno));
		}
		if (flock(fd, LOCK_EX) || fstat(fd, &st)) {
			mt_err_set(err, MT_EINTERNAL, "Cannot store the artifact");
			mt_err_detail(err, "flock %s: %s", path, strerror(errno));
			unlink(path);
			close(fd);
			return -1;
		}
		if (st.st_nlink > 0) {
			*out = fd;
			return 0;
		}
		close(fd); /* swept between mkstemp and flock: take another */
	}
	mt_err_set(err, MT_EUNAVAIL, "Cannot store the artifact, please retry");
	return mt_err_detail(err, "temporary files in %s/tmp keep disappearing",
			     mt_cfg.artifacts_root);
}

int store_tmp_sweep(long min_age, int dry_run, long long *count, long long *bytes,
		    struct mt_err *err)
{
	char dir[4096];
	DIR *d;
	struct dirent *e;
	int rc = 0;

	snprintf(dir, sizeof(dir), "%s/tmp", mt_cfg.artifacts_root);
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return mt_err_set(err, MT_EINTERNAL, "cannot read %s: %s", dir, strerror(errno));
	}
	while ((e = readdir(d))) {
		char f[4096 + 256];
		struct stat st, now;
		int fd;

		if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
			continue;
		snprintf(f, sizeof(f), "%s/%s", dir, e->d_name);
		fd = open(f, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT) /* finished meanwhile */
				continue;
			rc = mt_err_set(err, MT_EINTERNAL, "cannot open %s: %s", f, strerror(errno));
			break;
		}
		/* Locked: an upload in flight.  Unlocked: its owner is gone. */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
		    S_ISREG(st.st_mode) && st.st_nlink > 0 && st.st_mtime <= time(NULL) - min_age &&
		    lstat(f, &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev) {
			if (dry_run || unlink(f) == 0) {
				*count += 1;
				*bytes += st.st_size;
			} else if (errno != ENOENT) {
				rc = mt_err_set(err, MT_EINTERNAL, "cannot remove %s: %s", f,
						strerror(errno));
			}
		}
		close(fd);
		if (rc)
			break;
	}
	closedir(d);
	return rc;
}

int store_prepare(struct mt_err *err)
{
	char path[4096];
	long long n = 0, bytes = 0;
	struct mt_err ignored = MT_ERR_INIT;

	for (int i = s3_enabled() ? 1 : 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", mt_cfg.artifacts_root, i ? "tmp" : "blobs");
		if (mt_mkdir_p(path, 0755))
			return mt_err_set(err, MT_EINTERNAL, "cannot create %s: %s", path,
					  strerror(errno));
	}
	/* Left by a crash: unlocked and a day old (mltrackd gc takes any
	 * unlocked one).  Best effort: a file we cannot remove stays. */
	store_tmp_sweep(86400, 0, &n, &bytes, &ignored);
	if (s3_enabled()) {
		struct mt_err e = MT_ERR_INIT;

		if (s3_check(&e) == 0) {
			fprintf(stderr, "mltrackd: artifacts in %s\n", s3_describe());
		} else if (e.code == MT_EUNAVAIL) {
			fprintf(stderr, "mltrackd: warning: artifact store %s: %s (%s); artifact "
				"requests answer 503 until it is back\n", s3_describe(), e.msg,
				e.log_detail);
		} else {
			*err = e;
			return -1;
		}
	}
	return 0;
}
