/*
 * api_artifacts.c: MLflow's artifact proxy (/api/2.0/mlflow-artifacts/...)
 * and artifacts/list, on a content-addressed store (DESIGN §6, store.c).
 *
 * Blobs live in ARTIFACTS_ROOT/blobs/aa/bb/<sha256>.  An upload has two
 * phases.  First, outside any transaction, the body streams into a
 * temporary file in ARTIFACTS_ROOT/tmp (flock'ed for the upload's whole
 * life, so mltrackd gc leaves it alone) while being hashed, and is fsync'd.
 * Then one short transaction takes the blob's shared advisory lock, makes
 * sure the blob file exists (renaming the temporary file into place, or
 * dropping it when the blob is already there), records blob and path, and
 * commits.  gc removes a blob only under the exclusive lock after checking
 * that nothing refers to it, so either gc went first and the upload finds
 * the file gone and puts its own in place, or the upload committed first
 * and gc sees the reference (sql_artifacts.c).  A failed or short upload
 * leaves no row, no blob and no temporary file; a crash between rename and
 * commit leaves a blob file without a row, which gc removes.
 *
 * A download hashes what it sends and holds the last chunk back until the
 * digest is checked, so a blob corrupted on disk is never delivered whole:
 * the connection is closed short instead.
 *
 * Model bundles (STORE_BUNDLE_DIR/<sha256>.tar) belong to the registry:
 * the generic API reads them but refuses to write or delete anything under
 * that prefix (403), whatever spelling of the path normalises to it.  They
 * are uploaded through PUT /api/2.0/mltrack/bundles/<sha256>.tar
 * (api_bundles_put), which keeps a body only when it hashes to its name,
 * and removed only by the registry's deletes once no live version refers
 * to them (sql_registry.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "api.h"
#include "guard.h"
#include "mt_http.h"
#include "mt_path.h"
#include "mt_util.h"
#include "s3.h"
#include "sql_artifacts.h"
#include "sql_runs.h"

#define CHUNK (256 * 1024)

/* An upload between its two phases. */
struct upload {
	char path[4096]; /* the temporary file */
	int fd;          /* open, holding the flock, until tmp_cleanup */
	int keep;        /* renamed into the store or dropped: nothing to remove */
	char rel[MT_PATH_MAX + 1];
	char sha[65];
	long long size;
	long long max;   /* bytes a body may have; 0: --max-artifact-size */
};

/* Idempotent: runs at once when an upload ends (so the file is gone before
 * the client hears about it) and again, harmlessly, at arena reset.  The
 * file is unlinked before its lock goes. */
static void tmp_cleanup(void *p)
{
	struct upload *t = p;

	if (!t->keep)
		unlink(t->path);
	t->keep = 1;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

/* A write into the staging directory failed with errno: 507 when it is
 * full (nothing of the upload stays: the caller's cleanup removes the
 * file), else 500. */
static int stage_failed(struct mt_req *req, const char *what, const char *path)
{
	int e = errno;

	if (e == ENOSPC || e == EDQUOT)
		mt_err_set(&req->err, MT_ENOSPACE,
			   "The artifact store is out of space: the upload was not stored");
	else
		mt_err_set(&req->err, MT_EINTERNAL, "Cannot store the artifact");
	return mt_err_detail(&req->err, "%s %s: %s", what, path, strerror(e));
}

static void md_free(void *p)
{
	EVP_MD_CTX_free(p);
}

static void close_fd(void *p)
{
	close(*(int *)p);
}

/* The run a proxy path belongs to: "<exp>/<run id>/artifacts/..." */
static const char *path_run_id(struct mt_arena *a, const char *path)
{
	const char *s1 = strchr(path, '/'), *s2;

	if (!s1 || s1 == path || strspn(path, "0123456789") != (size_t)(s1 - path))
		return NULL;
	s2 = strchr(s1 + 1, '/');
	if (!s2 || s2 - s1 - 1 != 32 || strncmp(s2, "/artifacts/", 11) != 0)
		return NULL;
	return mt_arena_strndup(a, s1 + 1, 32);
}

/* A path the client sent, normalised into out.  A refusal says "Invalid
 * path", MLflow's exact words (validate_path_is_safe), which its clients
 * and scripts compare against; why goes to the log. */
static int norm(struct mt_req *req, const char *in, int allow_empty, char *out)
{
	if (mt_path_normalise(out, in ? in : "", in ? strlen(in) : 0, allow_empty, &req->err) == 0)
		return 0;
	mt_err_detail(&req->err, "%s", req->err.msg);
	snprintf(req->err.msg, sizeof(req->err.msg), "Invalid path");
	return -1;
}

/* A normalised path the generic API may not write or delete: the bundle
 * directory itself or anything under it. */
static int refuse_bundle_write(struct mt_req *req, const char *rel)
{
	if (!mt_path_under(rel, STORE_BUNDLE_DIR))
		return 0;
	return mt_err_set(&req->err, MT_EPERM,
			  "'%s' is in the model registry's bundle store (" STORE_BUNDLE_DIR "/): "
			  "bundles are uploaded with PUT /api/2.0/mltrack/bundles/<sha256>.tar "
			  "and removed by deleting their model versions", rel);
}

static int put_stream(struct mt_req *req, struct upload *t);
static int put_commit(struct mt_req *req, void *arg);

/* The request's database connection back to the pool while a body or a
 * transfer to S3 takes its time, unless a transaction is open on it. */
static void release_idle(struct mt_req *req)
{
	if (req->w->conn && PQtransactionStatus(req->w->conn) == PQTRANS_IDLE)
		db_release(req->w);
}

/* Phase two of a staged upload: with S3, the bytes go to the store first,
 * outside any transaction (no database connection waits on the transfer);
 * then the transaction records them. */
static int commit(struct mt_req *req, struct upload *t)
{
	release_idle(req);
	if (store_blob_send(req, t->sha, t->fd, t->size, &req->err))
		return -1;
	return http_txn(req, put_commit, t);
}

/* Both phases for t->rel; want_sha, when set, is the digest the body must
 * have (checked before anything is recorded). */
static int put_path(struct mt_req *req, struct upload *t, const char *want_sha)
{
	int rc = put_stream(req, t);

	if (rc == 0 && want_sha && strcmp(t->sha, want_sha) != 0)
		rc = mt_err_set(&req->err, MT_EINVAL,
				"The body's SHA-256 is %s, not %s: a bundle is uploaded under "
				"its own digest", t->sha, want_sha);
	if (rc == 0)
		rc = commit(req, t);
	tmp_cleanup(t);
	/* The digest stored, so a client can check its upload (MLflow's
	 * clients ignore it). */
	if (rc == 0)
		req->etag = mt_arena_printf(req->arena, "\"%s\"", t->sha);
	return rc;
}

static struct upload *upload_new(struct mt_req *req)
{
	struct upload *t = mt_arena_alloc(req->arena, sizeof(*t));

	t->fd = -1;
	t->keep = 1; /* nothing to remove until the file exists */
	return t;
}

int api_artifacts_put(struct mt_req *req)
{
	struct upload *t = upload_new(req);

	if (norm(req, req->subpath, 0, t->rel) || refuse_bundle_write(req, t->rel))
		return -1;
	return put_path(req, t, NULL);
}

/* PUT /api/2.0/mltrack/bundles/<sha256>.tar: the registry's upload.  The
 * name is the digest the body must have; uploading a bundle that is
 * already stored is harmless (the same row is written again). */
int api_bundles_put(struct mt_req *req)
{
	struct upload *t = upload_new(req);
	const char *name = req->subpath;
	const char *sha;

	if (strlen(name) != 64 + 4 || strcmp(name + 64, ".tar") != 0 ||
	    !store_is_digest(sha = mt_arena_strndup(req->arena, name, 64)))
		return mt_err_set(&req->err, MT_EINVAL,
				  "Invalid bundle name '%.80s': expected <sha256>.tar, the bundle's "
				  "SHA-256 in 64 lowercase hex digits", name);
	snprintf(t->rel, sizeof(t->rel), STORE_BUNDLE_DIR "/%s", name);
	return put_path(req, t, sha);
}

/* ---- uploads for other routes (api.h: art_upload_*) ---- */

struct upload *art_upload_new(struct mt_req *req, long long max)
{
	struct upload *t = upload_new(req);

	t->max = max;
	return t;
}

int art_upload_body(struct mt_req *req, struct upload *t, long long *size)
{
	if (put_stream(req, t))
		return -1;
	*size = t->size;
	return 0;
}

int art_upload_bytes(struct mt_req *req, struct upload *t, const void *data, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if (store_tmp_create(t->path, sizeof(t->path), &t->fd, &req->err))
		return -1;
	t->keep = 0;
	mt_arena_defer(req->arena, tmp_cleanup, t);
	if (mt_write_all(t->fd, data, len) || fsync(t->fd))
		return stage_failed(req, "write", t->path);
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	mt_hex(t->sha, md, 32);
	t->size = (long long)len;
	return 0;
}

int art_upload_commit(struct mt_req *req, struct upload *t, const char *rel)
{
	int rc = norm(req, rel, 0, t->rel) || refuse_bundle_write(req, t->rel) ? -1 :
		 commit(req, t);

	tmp_cleanup(t);
	return rc;
}

/* At most this much of a refused body is read to its end (drain_body). */
#define DRAIN_MAX (256LL * 1024 * 1024)

/*
 * Read and drop the rest of a body refused midway (a full volume), at
 * most DRAIN_MAX bytes and within the body's deadline, so that the answer
 * reaches the client: a socket closed with unread bytes in it is reset,
 * and a proxy in front (nginx) then answers 502 instead of passing on the
 * answer.  The refusal in req->err is kept.
 */
static void drain_body(struct mt_req *req, unsigned char *buf, long long total)
{
	long long cl = req->ri->content_length, drained = 0;
	struct mt_err keep = req->err;

	while (drained < DRAIN_MAX) {
		size_t want = CHUNK;
		int r;

		if (cl >= 0 && (long long)want > cl - total)
			want = (size_t)(cl - total);
		if (want == 0) {
			req->body_done = 1;
			break;
		}
		r = http_body_read(req, buf, want, total);
		if (r <= 0) {
			if (r == 0)
				req->body_done = 1;
			break;
		}
		total += r;
		drained += r;
	}
	req->err = keep;
}

/* Phase one: the body into a locked temporary file, hashed and fsync'd. */
static int put_stream(struct mt_req *req, struct upload *t)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	long long cl = req->ri->content_length, total = 0;
	long long max = t->max ? t->max : mt_cfg.max_artifact_size;
	EVP_MD_CTX *ctx;
	unsigned char *buf;
	unsigned int mdlen;

	if (cl > max)
		return mt_err_set(&req->err, MT_ETOOBIG,
				  "Artifact of %lld bytes exceeds the limit of %lld bytes", cl, max);
	if (store_tmp_create(t->path, sizeof(t->path), &t->fd, &req->err))
		return -1;
	t->keep = 0;
	release_idle(req);
	/* A client that asked first (curl and libcurl do, for bodies over
	 * 1 MB) would otherwise wait a second before sending. */
	{
		const char *expect = mg_get_header(req->conn, "Expect");

		if (expect && strcasecmp(expect, "100-continue") == 0) {
			mg_printf(req->conn, "HTTP/1.1 100 Continue\r\n\r\n");
			req->sent_continue = 1;
		}
	}
	mt_arena_defer(req->arena, tmp_cleanup, t);
	ctx = EVP_MD_CTX_new();
	mt_arena_defer(req->arena, md_free, ctx);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	buf = mt_arena_alloc(req->arena, CHUNK);
	for (;;) {
		size_t want = CHUNK;
		int r;

		if (cl >= 0 && (long long)want > cl - total)
			want = (size_t)(cl - total);
		if (want == 0)
			break;
		r = http_body_read(req, buf, want, total);
		if (r < 0)
			return req->err.code ? -1 /* too slow */
					     : mt_err_set(&req->err, MT_EBADREQ, "Upload interrupted");
		if (r == 0)
			break;
		total += r;
		if (total > max)
			return mt_err_set(&req->err, MT_ETOOBIG,
					  "Artifact exceeds the limit of %lld bytes", max);
		EVP_DigestUpdate(ctx, buf, (size_t)r);
		if (mt_write_all(t->fd, buf, (size_t)r)) {
			stage_failed(req, "write", t->path);
			drain_body(req, buf, total);
			return -1;
		}
	}
	if (cl >= 0 && total != cl)
		return mt_err_set(&req->err, MT_EBADREQ,
				  "Request body is shorter than Content-Length (%lld of %lld bytes)",
				  total, cl);
	req->body_done = 1;
	if (fsync(t->fd))
		return stage_failed(req, "fsync", t->path);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	mt_hex(t->sha, md, 32);
	t->size = total;
	return 0;
}

/*
 * Phase two, in one transaction (http_txn, which runs it again after a
 * deadlock): the shared blob lock, the blob file, the rows.  A rerun finds
 * the file in place or the temporary file still there, except when gc took
 * a blob file this upload had put in place before it rolled back: then the
 * client is asked to retry.
 */
static int put_commit(struct mt_req *req, void *arg)
{
	struct upload *t = arg;
	const char *blob = store_blob_path(req->arena, t->sha);

	if (sql_art_lock_blob(req, t->sha, 0, &req->err))
		return -1;
	if (s3_enabled()) {
		/* Sent before the transaction (commit), but gc may have taken
		 * it since, as a blob nothing referred to: the same check finds
		 * it gone and sends it again from the staged file (open until
		 * the upload ends, reruns included), under the lock gc needs. */
		if (store_blob_send(req, t->sha, t->fd, t->size, &req->err))
			return -1;
	} else if (access(blob, F_OK) != 0) {
		const char *dir = mt_arena_strndup(req->arena, blob, strrchr(blob, '/') - blob);

		if (t->keep) {
			mt_err_set(&req->err, MT_EUNAVAIL, "Cannot store the artifact, please retry");
			return mt_err_detail(&req->err, "blob %s vanished during a retry", blob);
		}
		if (mt_mkdir_p(dir, 0755) || rename(t->path, blob)) {
			mt_err_set(&req->err, MT_EINTERNAL, "Cannot store the artifact");
			return mt_err_detail(&req->err, "rename to %s: %s", blob, strerror(errno));
		}
		t->keep = 1;
		store_fsync_dir(blob);
	} else if (!t->keep) {
		unlink(t->path); /* the bytes are stored already */
		t->keep = 1;
	}
	return sql_art_put(req, t->rel, t->sha, t->size, path_run_id(req->arena, t->rel),
			   &req->err);
}

/* One "bytes=" range of a blob of size n: 1 and [*lo, *hi] when present and
 * satisfiable, 0 when absent or not understood (the whole blob is sent, as
 * RFC 9110 allows), -1 when unsatisfiable (416). */
static int parse_range(const char *h, long long n, long long *lo, long long *hi)
{
	char *end;
	long long a, b;

	if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	h += 6;
	if (*h == '-') {
		b = strtoll(h + 1, &end, 10);
		if (end == h + 1 || *end || b <= 0)
			return b == 0 && end != h + 1 && !*end ? -1 : 0;
		*lo = b >= n ? 0 : n - b;
		*hi = n - 1;
		return n > 0 ? 1 : -1;
	}
	a = strtoll(h, &end, 10);
	if (end == h || *end != '-' || a < 0)
		return 0;
	h = end + 1;
	if (*h) {
		b = strtoll(h, &end, 10);
		if (*end || b < a)
			return 0;
	} else {
		b = n - 1;
	}
	if (a >= n)
		return -1;
	*lo = a;
	*hi = b >= n ? n - 1 : b;
	return 1;
}

/* If-None-Match names this ETag (or is "*"). */
static int etag_matches(const char *h, const char *etag)
{
	return h && (strcmp(h, "*") == 0 || strstr(h, etag) != NULL);
}

/*
 * A download in flight.  Every byte of the blob is hashed, in order; the
 * bytes in [lo, hi] are sent, held back in pend until more arrive, so the
 * last ones go out only after the digest of the whole blob has been
 * checked (dl_end).  The bytes come from the file or from S3 (dl_sink).
 */
struct dl {
	struct mt_req *req;
	const char *want; /* the digest the blob must have */
	long long size, lo, hi, pos;
	EVP_MD_CTX *ctx;
	unsigned char *pend;
	size_t npend;
	int gone; /* the client stopped reading */
	/* The answer's head. */
	int status, ranged;
	const char *base;
	char clen[32], etag[70], crange[80], disp[3 * MT_PATH_MAX + 64];
};

static void dl_headers(struct dl *d)
{
	struct mg_connection *conn = d->req->conn;

	mg_response_header_start(conn, d->status);
	guard_headers(conn);
	mg_response_header_add(conn, "Content-Type", mt_http_mime_type(d->base), -1);
	mg_response_header_add(conn, "Content-Length", d->clen, -1);
	mg_response_header_add(conn, "ETag", d->etag, -1);
	mg_response_header_add(conn, "Accept-Ranges", "bytes", -1);
	if (d->ranged > 0)
		mg_response_header_add(conn, "Content-Range", d->crange, -1);
	mg_response_header_add(conn, "Content-Disposition", d->disp, -1);
	mg_response_header_send(conn);
	d->req->status = d->status;
}

static int dl_feed(struct dl *d, const unsigned char *p, size_t r)
{
	size_t from, to;

	EVP_DigestUpdate(d->ctx, p, r);
	/* The part of these bytes inside [lo, hi]. */
	from = d->pos < d->lo ? (size_t)(d->lo - d->pos < (long long)r ? d->lo - d->pos : (long long)r) : 0;
	to = d->pos + (long long)r - 1 > d->hi ? (size_t)(d->hi >= d->pos ? d->hi - d->pos + 1 : 0) : r;
	if (to < from)
		to = from;
	d->pos += (long long)r;
	while (from < to) {
		size_t n = to - from;

		if (d->npend == CHUNK) {
			if (mg_write(d->req->conn, d->pend, d->npend) <= 0) {
				d->gone = 1;
				return -1;
			}
			d->npend = 0;
		}
		if (n > CHUNK - d->npend)
			n = CHUNK - d->npend;
		memcpy(d->pend + d->npend, p + from, n);
		d->npend += n;
		from += n;
	}
	return 0;
}

/* The whole blob went through: send the rest if its digest is right, else
 * end the connection short of Content-Length so no client takes it for the
 * artifact. */
static void dl_end(struct dl *d, const char *rel, const char *where)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	char sha[65];

	if (d->gone)
		return;
	if (d->pos == d->size) {
		EVP_DigestFinal_ex(d->ctx, md, &mdlen);
		mt_hex(sha, md, 32);
		if (strcmp(sha, d->want) == 0) {
			if (d->npend)
				mg_write(d->req->conn, d->pend, d->npend);
			return;
		}
	}
	fprintf(stderr, "mltrackd: artifact '%s': blob %s failed its digest check\n", rel, where);
	mg_disable_keep_alive(d->req->conn);
}

/* S3's answer: its head (buf NULL, n its length, which must be the blob's)
 * sends ours; then the body. */
static int dl_sink(void *ctx, const void *buf, size_t n)
{
	struct dl *d = ctx;

	if (!buf) {
		if ((long long)n != d->size)
			return 1;
		dl_headers(d);
		return 0;
	}
	if (d->pos + (long long)n > d->size)
		return 1;
	return dl_feed(d, buf, n) ? 1 : 0;
}

int api_artifacts_get(struct mt_req *req)
{
	char rel[MT_PATH_MAX + 1];
	const char *want, *blob;
	long long size;
	int *fd = NULL, head;
	struct stat st;
	struct dl *d;

	if (norm(req, req->subpath, 0, rel) || sql_art_get(req, rel, &want, &size, &req->err))
		return -1;
	db_release(req->w); /* the download itself needs no database connection */
	head = strcmp(req->ri->request_method, "HEAD") == 0;
	if (s3_enabled()) {
		long long have;
		int found;

		/* A GET asks the store in one request, below; a HEAD whether
		 * the blob is there. */
		blob = store_blob_key(req->arena, want);
		if (head && s3_head(blob, &found, &have, &req->err))
			return -1;
		if (head && (!found || have != size)) {
			mt_err_set(&req->err, MT_EINTERNAL, "The stored artifact '%s' is damaged", rel);
			return mt_err_detail(&req->err, "S3 object %s missing or of the wrong size", blob);
		}
	} else {
		blob = store_blob_path(req->arena, want);
		fd = mt_arena_alloc(req->arena, sizeof(*fd));
		*fd = open(blob, O_RDONLY | O_CLOEXEC);
		if (*fd < 0 || fstat(*fd, &st) || st.st_size != size) {
			if (*fd >= 0)
				close(*fd);
			mt_err_set(&req->err, MT_EINTERNAL, "The stored artifact '%s' is damaged", rel);
			return mt_err_detail(&req->err, "blob %s missing or of the wrong size", blob);
		}
		mt_arena_defer(req->arena, close_fd, fd);
	}
	d = mt_arena_alloc(req->arena, sizeof(*d));
	memset(d, 0, sizeof(*d));
	d->req = req;
	d->want = want;
	d->size = size;
	d->status = 200;
	snprintf(d->etag, sizeof(d->etag), "\"%s\"", want);
	d->hi = size - 1;
	d->ranged = parse_range(mg_get_header(req->conn, "Range"), size, &d->lo, &d->hi);
	if (etag_matches(mg_get_header(req->conn, "If-None-Match"), d->etag)) {
		mg_response_header_start(req->conn, 304);
		guard_headers(req->conn);
		mg_response_header_add(req->conn, "ETag", d->etag, -1);
		mg_response_header_send(req->conn);
		req->status = 304;
		return 0;
	}
	if (d->ranged < 0) {
		snprintf(d->crange, sizeof(d->crange), "bytes */%lld", size);
		mg_response_header_start(req->conn, 416);
		guard_headers(req->conn);
		mg_response_header_add(req->conn, "Content-Range", d->crange, -1);
		mg_response_header_add(req->conn, "Content-Length", "0", -1);
		mg_response_header_send(req->conn);
		req->status = 416;
		return 0;
	}
	if (d->ranged > 0) {
		d->status = 206;
		snprintf(d->crange, sizeof(d->crange), "bytes %lld-%lld/%lld", d->lo, d->hi, size);
	}
	d->base = mt_path_base(rel);
	snprintf(d->clen, sizeof(d->clen), "%lld", size ? d->hi - d->lo + 1 : 0);
	/* MLflow's headers: the type from the file's name alone (a type the
	 * client asks for is ignored), always as an attachment. */
	mt_http_disposition(d->disp, sizeof(d->disp), d->base);
	if (head) {
		dl_headers(d);
		return 0;
	}
	d->ctx = EVP_MD_CTX_new();
	mt_arena_defer(req->arena, md_free, d->ctx);
	EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL);
	d->pend = mt_arena_alloc(req->arena, CHUNK);
	if (s3_enabled()) {
		/* Our head waits for the store's (dl_sink): a store that cannot
		 * be reached gets its 503, not a 200 cut short. */
		int rc = s3_get(blob, dl_sink, d, &req->err);

		if (rc < 0 && !req->status)
			return -1;
		if (!req->status) { /* the store's length was not the blob's */
			mt_err_set(&req->err, MT_EINTERNAL, "The stored artifact '%s' is damaged", rel);
			return mt_err_detail(&req->err, "S3 object %s of the wrong size", blob);
		}
		if (rc < 0)
			fprintf(stderr, "mltrackd: artifact '%s': %s (%s)\n", rel, req->err.msg,
				req->err.log_detail);
		mt_err_clear(&req->err);
		dl_end(d, rel, blob);
		return 0;
	}
	dl_headers(d);
	for (unsigned char *buf = mt_arena_alloc(req->arena, CHUNK);;) {
		ssize_t r = read(*fd, buf, CHUNK);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || dl_feed(d, buf, (size_t)r))
			break;
	}
	dl_end(d, rel, blob);
	return 0;
}

int api_artifacts_delete(struct mt_req *req)
{
	char rel[MT_PATH_MAX + 1];
	long long n;

	if (norm(req, req->subpath, 0, rel) || refuse_bundle_write(req, rel))
		return -1;
	return sql_art_delete(req, rel, &n, &req->err);
}

int api_artifacts_list(struct mt_req *req)
{
	char rel[MT_PATH_MAX + 1];
	const char *path;
	json_t *list;

	if (req_opt_str(req, "path", &path) || norm(req, path, 1, rel))
		return -1;
	list = req_own(req, json_array());
	if (sql_art_list(req, rel, "", list, &req->err))
		return -1;
	if (json_array_size(list))
		json_object_set(req_resp(req), "files", list);
	return 0;
}

int api_artifacts_mpu(struct mt_req *req)
{
	return mt_err_set(&req->err, MT_ENOTIMPL,
			  "Multipart upload is not supported for the current artifact repository");
}

int art_list_root(struct mt_req *req, const char *uri, const char *rel)
{
	const char *root;
	json_t *list;

	json_object_set_new(req_resp(req), "root_uri", json_string(uri));
	if (!uri || strncmp(uri, "mlflow-artifacts:", 17) != 0)
		return 0; /* stored elsewhere: nothing to list here */
	root = uri + 17;
	if (strncmp(root, "//", 2) == 0 && strchr(root + 2, '/'))
		root = strchr(root + 2, '/');
	while (*root == '/')
		root++;
	list = req_own(req, json_array());
	if (sql_art_list(req, *rel ? mt_arena_printf(req->arena, "%s/%s", root, rel) : root,
			 *rel ? mt_arena_printf(req->arena, "%s/", rel) : "", list, &req->err))
		return -1;
	if (json_array_size(list))
		json_object_set(req_resp(req), "files", list);
	return 0;
}

/* GET /api/2.0/mlflow/artifacts/list: one level of a run's artifacts, paths
 * relative to the run's root. */
int api_artifacts_list_run(struct mt_req *req)
{
	char rel[MT_PATH_MAX + 1];
	const char *run_id, *path;
	json_t *info;

	if (req_run_id(req, &run_id) || req_opt_str(req, "path", &path) || norm(req, path, 1, rel) ||
	    sql_runs_info(req, run_id, &info, &req->err))
		return -1;
	return art_list_root(req, json_string_value(json_object_get(info, "artifact_uri")), rel);
}
