/* mt_bundle.c: see mt_bundle.h. */
#include "mt_bundle.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "mt_json.h"
#include "mt_path.h"
#include "mt_util.h"
#include "mt_validate.h"

#define IO_BUF (128 * 1024)  /* bytes read from a file or an archive at once */
#define TAR_BLOCK 10240       /* libarchive's (and tar's) default record size */
#define QUOTE_MAX 64          /* bytes of a name quoted in a message */
#define BAD "Invalid bundle: "

/*=== Small helpers ===*/

/* s for a message, at most max bytes (q has room for max + 4). */
static const char *quote_n(char *q, size_t max, const char *s)
{
	return mt_quote(q, max, s, strlen(s));
}

#define QUOTE(buf, s) quote_n((buf), QUOTE_MAX, (s))

/* libarchive's last error text for a message (it may quote archive bytes). */
static const char *lib_text(char q[200], struct archive *a)
{
	const char *s = archive_error_string(a);

	return quote_n(q, 190, s ? s : "unknown error");
}

static ssize_t read_some(int fd, void *buf, size_t n)
{
	ssize_t r;

	do
		r = read(fd, buf, n);
	while (r < 0 && errno == EINTR);
	return r;
}

static EVP_MD_CTX *sha_new(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md && !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		md = NULL;
	}
	return md;
}

/* Finish md into 64 hex digits and ready it for the next input. */
static void sha_final(EVP_MD_CTX *md, char out[65])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	EVP_DigestFinal_ex(md, d, &len);
	mt_hex(out, d, 32);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
}

static int is_sha_hex(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 64;
}

static int oom(struct mt_err *err)
{
	return mt_err_set(err, MT_EINTERNAL, "out of memory");
}

/* The directory part of path into out ("." when there is none, "/" for
 * "/x"), trailing slashes ignored.  0, or -1 when it does not fit. */
static int parent_of(char *out, size_t outsz, const char *path)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n > 0 && path[n - 1] != '/')
		n--;
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n == 0)
		return snprintf(out, outsz, ".") < (int)outsz ? 0 : -1;
	return snprintf(out, outsz, "%.*s", (int)n, path) < (int)outsz ? 0 : -1;
}

/* fsync a directory so that renames in it are durable; best effort. */
static void fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* prefix followed by 12 random hex digits into out; on failure out is ""
 * (callers remove what out names when they fail). */
static int unique_name(char *out, size_t outsz, const char *prefix, struct mt_err *err)
{
	char hex[33];

	out[0] = '\0';
	if (mt_random_hex32(hex, err))
		return -1;
	if (snprintf(out, outsz, "%s%.12s", prefix, hex) >= (int)outsz) {
		out[0] = '\0';
		return mt_err_set(err, MT_EINVAL, "path too long");
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

/* rm -rf path, without following symlinks; best effort. */
static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Create every missing directory of rel's parent under root (mode 0777
 * less the umask).  0, or -1 with errno. */
static int mkdir_parents(const char *root, const char *rel)
{
	char p[PATH_MAX];

	for (const char *s = strchr(rel, '/'); s; s = strchr(s + 1, '/')) {
		if (snprintf(p, sizeof(p), "%s/%.*s", root, (int)(s - rel), rel) >= (int)sizeof(p)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (mkdir(p, 0777) && errno != EEXIST)
			return -1;
	}
	return 0;
}

/* 0 when rel is a bundle path (mt_path_normalise accepts it unchanged),
 * else -1 with mt_path's message in pe. */
static int bundle_path_ok(const char *rel, struct mt_err *pe)
{
	char canon[MT_PATH_MAX + 1];

	if (mt_path_normalise(canon, rel, strlen(rel), 0, pe))
		return -1;
	if (strcmp(canon, rel) != 0) {
		char q[QUOTE_MAX + 4];

		return mt_err_set(pe, MT_EINVAL, "Invalid path: not in normalised form (got '%s')",
				  QUOTE(q, rel));
	}
	return 0;
}

/* 1 when the first segment of rel is the manifest's name. */
static int is_reserved(const char *rel)
{
	size_t n = strlen(MT_BUNDLE_MANIFEST);

	return strncmp(rel, MT_BUNDLE_MANIFEST, n) == 0 && (rel[n] == '\0' || rel[n] == '/');
}

/*=== Pack ===*/

struct pack_file {
	char *rel;      /* path in the bundle */
	char *src;      /* path to read (for a symlink, its resolved target) */
	long long size;
	unsigned mode;  /* 0644 or 0755 */
	char sha[65];
};

struct pack {
	char root[PATH_MAX];     /* realpath of the directory */
	struct pack_file *files;
	size_t n, cap;
	unsigned char *buf;      /* IO_BUF */
	EVP_MD_CTX *md;          /* per file */
};

static void pack_release(struct pack *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->files[i].rel);
		free(p->files[i].src);
	}
	free(p->files);
	free(p->buf);
	EVP_MD_CTX_free(p->md);
}

static int refuse(struct mt_err *err, const char *rel, const char *why)
{
	char q[QUOTE_MAX + 4];

	return mt_err_set(err, MT_EINVAL, "cannot pack: '%s' %s", QUOTE(q, rel), why);
}

static int add_file(struct pack *p, const char *rel, const char *src, const struct stat *st,
		    struct mt_err *err)
{
	struct pack_file *f;

	if (p->n == MT_BUNDLE_MAX_FILES)
		return mt_err_set(err, MT_EINVAL, "cannot pack: more than %d files",
				  MT_BUNDLE_MAX_FILES);
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		struct pack_file *nf = realloc(p->files, cap * sizeof(*nf));

		if (!nf)
			return oom(err);
		p->files = nf;
		p->cap = cap;
	}
	f = &p->files[p->n];
	f->rel = strdup(rel);
	f->src = strdup(src);
	if (!f->rel || !f->src) {
		free(f->rel);
		free(f->src);
		return oom(err);
	}
	f->size = (long long)st->st_size;
	f->mode = (st->st_mode & 0111) ? 0755 : 0644;
	f->sha[0] = '\0';
	p->n++;
	return 0;
}

static const char *type_words(mode_t m)
{
	if (S_ISCHR(m) || S_ISBLK(m))
		return "is a device file";
	if (S_ISFIFO(m))
		return "is a fifo";
	if (S_ISSOCK(m))
		return "is a socket";
	return "is not a regular file";
}

/* A symlink at rel: stored as its target's contents when the target,
 * resolved fully, is a regular file inside the root. */
static int add_link(struct pack *p, const char *rel, struct mt_err *err)
{
	char full[PATH_MAX], target[PATH_MAX], q[QUOTE_MAX + 4];
	size_t rn = strlen(p->root);
	struct stat st;

	if (snprintf(full, sizeof(full), "%s/%s", p->root, rel) >= (int)sizeof(full))
		return refuse(err, rel, "has too long a path");
	if (!realpath(full, target))
		return refuse(err, rel, errno == ELOOP ? "is a symlink loop"
					: "is a symlink to nothing (dangling)");
	if (!(strcmp(p->root, "/") == 0 ||
	      (strncmp(target, p->root, rn) == 0 && target[rn] == '/'))) {
		char why[QUOTE_MAX + 64];

		snprintf(why, sizeof(why), "is a symlink to '%s', outside the directory",
			 QUOTE(q, target));
		return refuse(err, rel, why);
	}
	if (stat(target, &st))
		return mt_err_set(err, MT_EINTERNAL, "cannot pack: cannot stat '%s': %s",
				  QUOTE(q, target), strerror(errno));
	if (S_ISDIR(st.st_mode))
		return refuse(err, rel, "is a symlink to a directory (links to directories "
				  "are not followed)");
	if (!S_ISREG(st.st_mode))
		return refuse(err, rel, "is a symlink to a special file");
	return add_file(p, rel, target, &st, err);
}

/* Collect the files under the directory open as dfd (rel its path in the
 * bundle, "" for the top).  Takes dfd. */
static int walk(struct pack *p, int dfd, const char *rel, struct mt_err *err)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	int rc = -1;

	if (!d) {
		close(dfd);
		return mt_err_set(err, MT_EINTERNAL, "cannot pack: cannot read directory: %s",
				  strerror(errno));
	}
	for (;;) {
		char child[MT_PATH_MAX + NAME_MAX + 2], src[PATH_MAX];
		struct mt_err pe = MT_ERR_INIT;
		struct stat st;

		errno = 0;
		e = readdir(d);
		if (!e) {
			if (errno) {
				mt_err_set(err, MT_EINTERNAL, "cannot pack: cannot read directory: %s",
					   strerror(errno));
				goto done;
			}
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
		if (!rel[0] && strcmp(e->d_name, MT_BUNDLE_MANIFEST) == 0) {
			refuse(err, child, "is reserved for the bundle's manifest (left by a pull? "
				   "remove it first)");
			goto done;
		}
		if (bundle_path_ok(child, &pe)) {
			mt_err_set(err, MT_EINVAL, "cannot pack: %s", pe.msg);
			goto done;
		}
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			mt_err_set(err, MT_EINTERNAL, "cannot pack: cannot stat '%s': %s", child,
				   strerror(errno));
			goto done;
		}
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd(d), e->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (fd < 0) {
				mt_err_set(err, MT_EINTERNAL, "cannot pack: cannot open '%s': %s",
					   child, strerror(errno));
				goto done;
			}
			if (walk(p, fd, child, err))
				goto done;
		} else if (S_ISREG(st.st_mode)) {
			if (snprintf(src, sizeof(src), "%s/%s", p->root, child) >= (int)sizeof(src)) {
				refuse(err, child, "has too long a path");
				goto done;
			}
			if (add_file(p, child, src, &st, err))
				goto done;
		} else if (S_ISLNK(st.st_mode)) {
			if (add_link(p, child, err))
				goto done;
		} else {
			refuse(err, child, type_words(st.st_mode));
			goto done;
		}
	}
	rc = 0;
done:
	closedir(d);
	return rc;
}

static int cmp_files(const void *a, const void *b)
{
	return strcmp(((const struct pack_file *)a)->rel, ((const struct pack_file *)b)->rel);
}

static int write_data(struct archive *a, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		la_ssize_t w = archive_write_data(a, p, n);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int changed(struct mt_err *err, const char *rel)
{
	char q[QUOTE_MAX + 4];

	mt_err_set(err, MT_ECONFLICT, "cannot pack: '%s' changed while it was being packed",
		   QUOTE(q, rel));
	err->retryable = 1;
	return -1;
}

static int archive_failed(struct mt_err *err, struct archive *a)
{
	char q[200];

	return mt_err_set(err, MT_EINTERNAL, "cannot pack: cannot write the archive: %s",
			  lib_text(q, a));
}

/* Read f's bytes, which must be exactly f->size, hashing them into sha;
 * when a is not NULL, also write them to a as the current entry's data. */
static int pack_read(struct pack *p, const struct pack_file *f, struct archive *a, char sha[65],
		     struct mt_err *err)
{
	int fd = open(f->src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	long long got = 0;
	struct stat st;
	int rc = -1;

	if (fd < 0) {
		if (errno == ENOENT || errno == ELOOP)
			return changed(err, f->rel);
		return mt_err_set(err, MT_EINTERNAL, "cannot pack: cannot open '%s': %s", f->rel,
				  strerror(errno));
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (long long)st.st_size != f->size) {
		changed(err, f->rel);
		goto done;
	}
	for (;;) {
		ssize_t r = read_some(fd, p->buf, IO_BUF);

		if (r < 0) {
			mt_err_set(err, MT_EINTERNAL, "cannot pack: cannot read '%s': %s", f->rel,
				   strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		if (r > f->size - got) {
			changed(err, f->rel);
			goto done;
		}
		EVP_DigestUpdate(p->md, p->buf, (size_t)r);
		if (a && write_data(a, p->buf, (size_t)r)) {
			archive_failed(err, a);
			goto done;
		}
		got += r;
	}
	if (got != f->size) {
		changed(err, f->rel);
		goto done;
	}
	sha_final(p->md, sha);
	rc = 0;
done:
	close(fd);
	return rc;
}

/* The manifest as text (malloc'd, *len bytes, NUL-terminated). */
static char *manifest_text(const struct pack *p, const json_t *extra, size_t *len,
			   struct mt_err *err)
{
	json_t *m = extra ? json_deep_copy(extra) : json_object();
	json_t *files = json_array();
	char *text = NULL, *t;

	if (!files || (!m && !extra)) {
		oom(err);
		goto done;
	}
	if (!json_is_object(m)) {
		mt_err_set(err, MT_EINVAL, "cannot pack: the extra manifest members are not a "
			   "JSON object");
		goto done;
	}
	if (json_object_get(m, "format") || json_object_get(m, "files")) {
		mt_err_set(err, MT_EINVAL, "cannot pack: the manifest members \"format\" and "
			   "\"files\" are reserved");
		goto done;
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct pack_file *f = &p->files[i];
		json_t *rec = json_pack("{s:s, s:I, s:s, s:s}", "path", f->rel, "size",
					(json_int_t)f->size, "sha256", f->sha, "mode",
					f->mode == 0755 ? "0755" : "0644");

		if (!rec || json_array_append_new(files, rec)) {
			oom(err);
			goto done;
		}
	}
	if (json_object_set_new(m, "format", json_string(MT_BUNDLE_FORMAT)) ||
	    json_object_set(m, "files", files)) {
		oom(err);
		goto done;
	}
	text = json_dumps(m, JSON_SORT_KEYS | JSON_INDENT(2));
	if (!text) {
		oom(err);
		goto done;
	}
	*len = strlen(text);
	t = realloc(text, *len + 2);
	if (!t) {
		free(text);
		text = NULL;
		oom(err);
		goto done;
	}
	text = t;
	text[(*len)++] = '\n';
	text[*len] = '\0';
	if (*len > MT_BUNDLE_MAX_MANIFEST) {
		free(text);
		text = NULL;
		mt_err_set(err, MT_EINVAL, "cannot pack: the manifest would be larger than %d MiB",
			   MT_BUNDLE_MAX_MANIFEST / (1024 * 1024));
	}
done:
	json_decref(files);
	json_decref(m);
	return text;
}

struct sink {
	int fd;
	EVP_MD_CTX *md; /* the whole archive */
};

static la_ssize_t sink_write(struct archive *a, void *arg, const void *buf, size_t n)
{
	struct sink *s = arg;

	if (mt_write_all(s->fd, buf, n)) {
		archive_set_error(a, errno, "%s", strerror(errno));
		return -1;
	}
	EVP_DigestUpdate(s->md, buf, n);
	return (la_ssize_t)n;
}

static int write_header(struct archive *a, const char *path, long long size, unsigned mode,
			struct mt_err *err)
{
	struct archive_entry *e = archive_entry_new();
	int r;

	if (!e)
		return oom(err);
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, mode);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, 0, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	r = archive_write_header(a, e);
	archive_entry_free(e);
	return r == ARCHIVE_OK ? 0 : archive_failed(err, a);
}

/* binary: some path is not ASCII. */
static struct archive *writer_new(struct sink *s, int binary)
{
	struct archive *a = archive_write_new();

	if (!a)
		return NULL;
	/* Restricted pax: ustar headers, with a pax record only where ustar
	 * cannot say it (long names, large sizes).  Non-ASCII names would go
	 * through the locale's character set (a C locale cannot write them at
	 * all); hdrcharset=BINARY stores them as they are.  It puts a pax record
	 * on every entry, and GNU tar warns about the keyword, so it is used only
	 * when a name needs it: ASCII names are the same in every locale. */
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    (binary &&
	     archive_write_set_format_option(a, "pax", "hdrcharset", "BINARY") != ARCHIVE_OK) ||
	    archive_write_add_filter_none(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, TAR_BLOCK) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open2(a, s, NULL, sink_write, NULL, NULL) != ARCHIVE_OK) {
		archive_write_free(a);
		return NULL;
	}
	return a;
}

int mt_bundle_pack(const char *dir, const json_t *extra, const char *out_path, char out_sha[65],
		   struct mt_err *err)
{
	struct pack p = { 0 };
	struct sink sink = { -1, NULL };
	struct archive *a = NULL;
	char tmp[PATH_MAX] = "", parent[PATH_MAX], prefix[PATH_MAX], q[QUOTE_MAX + 4];
	char *text = NULL;
	size_t len = 0;
	int rc = -1, dfd, binary = 0;

	assert(dir && out_path);
	if (out_sha)
		out_sha[0] = '\0';
	if (!realpath(dir, p.root))
		return mt_err_set(err, errno == ENOENT ? MT_ENOTFOUND : MT_EINTERNAL,
				  "cannot pack '%s': %s", QUOTE(q, dir), strerror(errno));
	dfd = open(p.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return mt_err_set(err, errno == ENOTDIR ? MT_EINVAL : MT_EINTERNAL,
				  "cannot pack '%s': %s", QUOTE(q, dir), strerror(errno));
	p.buf = malloc(IO_BUF);
	p.md = sha_new();
	sink.md = sha_new();
	if (!p.buf || !p.md || !sink.md) {
		close(dfd);
		oom(err);
		goto done;
	}
	if (walk(&p, dfd, "", err))
		goto done;
	if (p.n > 0)
		qsort(p.files, p.n, sizeof(*p.files), cmp_files);

	/* First pass: the digests the manifest lists. */
	for (size_t i = 0; i < p.n; i++)
		if (pack_read(&p, &p.files[i], NULL, p.files[i].sha, err))
			goto done;
	text = manifest_text(&p, extra, &len, err);
	if (!text)
		goto done;

	/* Second pass: into a new file beside out_path. */
	if (snprintf(prefix, sizeof(prefix), "%s.tmp-", out_path) >= (int)sizeof(prefix) ||
	    parent_of(parent, sizeof(parent), out_path)) {
		mt_err_set(err, MT_EINVAL, "cannot pack: output path too long");
		goto done;
	}
	for (int tries = 0; sink.fd < 0; tries++) {
		if (unique_name(tmp, sizeof(tmp), prefix, err))
			goto done;
		sink.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (sink.fd < 0 && (errno != EEXIST || tries == 8)) {
			mt_err_set(err, MT_EINTERNAL, "cannot pack: cannot create '%s': %s",
				   QUOTE(q, tmp), strerror(errno));
			tmp[0] = '\0';
			goto done;
		}
	}
	for (size_t i = 0; i < p.n && !binary; i++)
		for (const char *c = p.files[i].rel; *c && !binary; c++)
			binary = (unsigned char)*c >= 0x80;
	a = writer_new(&sink, binary);
	if (!a) {
		oom(err);
		goto done;
	}
	if (write_header(a, MT_BUNDLE_MANIFEST, (long long)len, 0644, err))
		goto done;
	if (write_data(a, text, len)) {
		archive_failed(err, a);
		goto done;
	}
	for (size_t i = 0; i < p.n; i++) {
		struct pack_file *f = &p.files[i];
		char sha[65];

		if (write_header(a, f->rel, f->size, f->mode, err) || pack_read(&p, f, a, sha, err))
			goto done;
		if (strcmp(sha, f->sha) != 0) {
			changed(err, f->rel);
			goto done;
		}
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		archive_failed(err, a);
		goto done;
	}
	if (fsync(sink.fd) || close(sink.fd)) {
		sink.fd = -1;
		mt_err_set(err, MT_EINTERNAL, "cannot pack: cannot write '%s': %s", QUOTE(q, tmp),
			   strerror(errno));
		goto done;
	}
	sink.fd = -1;
	if (rename(tmp, out_path)) {
		mt_err_set(err, MT_EINTERNAL, "cannot pack: cannot rename to '%s': %s",
			   QUOTE(q, out_path), strerror(errno));
		goto done;
	}
	tmp[0] = '\0';
	fsync_dir(parent);
	if (out_sha)
		sha_final(sink.md, out_sha);
	rc = 0;
done:
	if (a)
		archive_write_free(a);
	if (sink.fd >= 0)
		close(sink.fd);
	if (tmp[0])
		unlink(tmp);
	EVP_MD_CTX_free(sink.md);
	free(text);
	pack_release(&p);
	return rc;
}

/*=== Verify ===*/

struct rec {
	const char *path;  /* borrowed from the manifest */
	long long size;
	const char *sha;
	unsigned mode;
};

struct scan {
	struct archive *a;
	json_t *manifest;    /* owned */
	char *text;          /* the manifest's bytes, owned */
	size_t len;
	struct rec *recs;    /* owned array of nrecs, sorted by path */
	size_t nrecs;
	EVP_MD_CTX *md;      /* per entry */
	const char *staging; /* NULL: verify only */
};

static void scan_release(struct scan *s)
{
	if (s->a)
		archive_read_free(s->a);
	json_decref(s->manifest);
	free(s->text);
	free(s->recs);
	EVP_MD_CTX_free(s->md);
	memset(s, 0, sizeof(*s));
}

/* Compare a record's path with key[0..klen). */
static int cmp_key(const char *path, const char *key, size_t klen)
{
	int c = strncmp(path, key, klen);

	if (c != 0)
		return c;
	return path[klen] == '\0' ? 0 : 1;
}

/* Index of key[0..klen) among recs[lo, hi), or -1. */
static long find_rec(const struct scan *s, size_t lo, size_t hi, const char *key, size_t klen)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_key(s->recs[mid].path, key, klen);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int bad_rec(struct mt_err *err, size_t i, const char *why)
{
	return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " files[%zu] %s", i, why);
}

/* Parse and check the manifest text; fill recs. */
static int check_manifest(struct scan *s, struct mt_err *err)
{
	json_error_t je;
	json_t *format, *files;
	char q[200];

	if (!mt_json_depth_ok(s->text, s->len, MT_JSON_MAX_DEPTH))
		return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " nests deeper than %d",
				  MT_JSON_MAX_DEPTH);
	s->manifest = json_loadb(s->text, s->len, JSON_REJECT_DUPLICATES, &je);
	if (!s->manifest)
		return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " is not valid JSON: %s "
				  "(line %d)", quote_n(q, 190, je.text), je.line);
	if (!json_is_object(s->manifest))
		return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " is not a JSON object");
	format = json_object_get(s->manifest, "format");
	if (!json_is_string(format))
		return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " has no \"format\"");
	if (strcmp(json_string_value(format), MT_BUNDLE_FORMAT) != 0)
		return mt_err_set(err, MT_EINVAL, BAD "unsupported format '%s' (this is %s)",
				  QUOTE(q, json_string_value(format)), MT_BUNDLE_FORMAT);
	files = json_object_get(s->manifest, "files");
	if (!json_is_array(files))
		return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " has no \"files\" array");
	s->nrecs = json_array_size(files);
	if (s->nrecs > MT_BUNDLE_MAX_FILES)
		return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " lists %zu files, more "
				  "than %d", s->nrecs, MT_BUNDLE_MAX_FILES);
	s->recs = calloc(s->nrecs ? s->nrecs : 1, sizeof(*s->recs));
	if (!s->recs)
		return oom(err);
	for (size_t i = 0; i < s->nrecs; i++) {
		json_t *f = json_array_get(files, i);
		json_t *path = json_object_get(f, "path"), *size = json_object_get(f, "size");
		json_t *sha = json_object_get(f, "sha256"), *mode = json_object_get(f, "mode");
		struct rec *r = &s->recs[i];
		struct mt_err pe = MT_ERR_INIT;

		if (!json_is_object(f))
			return bad_rec(err, i, "is not an object");
		if (!json_is_string(path))
			return bad_rec(err, i, "has no \"path\"");
		r->path = json_string_value(path);
		if (strlen(r->path) != json_string_length(path) || bundle_path_ok(r->path, &pe))
			return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " files[%zu]: %s", i,
					  pe.code ? pe.msg : "Invalid path: contains a NUL byte");
		if (is_reserved(r->path))
			return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " lists '%s', a name "
					  "reserved for the manifest", QUOTE(q, r->path));
		if (!json_is_integer(size) || json_integer_value(size) < 0)
			return bad_rec(err, i, "has no \"size\" (a non-negative integer)");
		r->size = json_integer_value(size);
		if (!json_is_string(sha) || !is_sha_hex(json_string_value(sha)))
			return bad_rec(err, i, "has no \"sha256\" (64 lowercase hex digits)");
		r->sha = json_string_value(sha);
		if (json_is_string(mode) && strcmp(json_string_value(mode), "0644") == 0)
			r->mode = 0644;
		else if (json_is_string(mode) && strcmp(json_string_value(mode), "0755") == 0)
			r->mode = 0755;
		else
			return bad_rec(err, i, "has no \"mode\" (\"0644\" or \"0755\")");
		if (i > 0) {
			int c = strcmp(s->recs[i - 1].path, r->path);

			if (c == 0)
				return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " lists '%s' "
						  "twice", QUOTE(q, r->path));
			if (c > 0)
				return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " files are "
						  "not sorted by path (at '%s')", QUOTE(q, r->path));
		}
	}
	/* No path is also the directory of another ("a" and "a/b"). */
	for (size_t i = 0; i < s->nrecs; i++) {
		const char *p = s->recs[i].path;

		for (const char *sl = strchr(p, '/'); sl; sl = strchr(sl + 1, '/'))
			if (find_rec(s, 0, i, p, (size_t)(sl - p)) >= 0)
				return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " lists '%.*s' "
						  "as a file and as a directory", (int)(sl - p), p);
	}
	return 0;
}

/* Next header: 1 with *e, 0 at the end, -1 with err.  after: the previous
 * entry's name, or NULL before the first. */
static int next_entry(struct scan *s, struct archive_entry **e, const char *after,
		      struct mt_err *err)
{
	char q[200], qa[QUOTE_MAX + 4];
	int r = archive_read_next_header(s->a, e);

	if (r == ARCHIVE_OK)
		return 1;
	if (r == ARCHIVE_EOF)
		return 0;
	if (!after)
		return mt_err_set(err, MT_EINVAL, BAD "not a tar archive, or damaged (%s)",
				  lib_text(q, s->a));
	return mt_err_set(err, MT_EINVAL, BAD "damaged after entry '%s' (%s)", QUOTE(qa, after),
			  lib_text(q, s->a));
}

/* Type checks for the entry named name. */
static int check_type(struct archive_entry *e, const char *name, struct mt_err *err)
{
	const char *why = NULL;
	char q[QUOTE_MAX + 4];

	if (archive_entry_hardlink(e))
		why = "is a hard link";
	else if (archive_entry_symlink(e) || archive_entry_filetype(e) == AE_IFLNK)
		why = "is a symbolic link";
	else if (archive_entry_filetype(e) == AE_IFDIR)
		why = "is a directory (bundles hold regular files only)";
	else if (archive_entry_filetype(e) == AE_IFCHR || archive_entry_filetype(e) == AE_IFBLK)
		why = "is a device";
	else if (archive_entry_filetype(e) == AE_IFIFO)
		why = "is a fifo";
	else if (archive_entry_filetype(e) != AE_IFREG)
		why = "is not a regular file";
	else if (archive_entry_sparse_count(e) > 0)
		why = "is a sparse file";
	else if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
		why = "has no size";
	if (!why)
		return 0;
	return mt_err_set(err, MT_EINVAL, BAD "entry '%s' %s", QUOTE(q, name), why);
}

/* Read the current entry's data (size bytes, per its header) hashing it;
 * append it to out (an open file) when out >= 0. */
static int read_data(struct scan *s, const char *name, long long size, int out, char sha[65],
		     struct mt_err *err)
{
	char q[200], qn[QUOTE_MAX + 4];
	long long got = 0;

	for (;;) {
		const void *blk;
		size_t n;
		la_int64_t off;
		int r = archive_read_data_block(s->a, &blk, &n, &off);

		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK)
			return mt_err_set(err, MT_EINVAL, BAD "entry '%s': %s", QUOTE(qn, name),
					  lib_text(q, s->a));
		if (off != got || (long long)n > size - got)
			return mt_err_set(err, MT_EINVAL, BAD "entry '%s' is not contiguous",
					  QUOTE(qn, name));
		EVP_DigestUpdate(s->md, blk, n);
		if (out >= 0 && mt_write_all(out, blk, n))
			return mt_err_set(err, MT_EINTERNAL, "cannot unpack '%s': %s", QUOTE(qn, name),
					  strerror(errno));
		got += (long long)n;
	}
	if (got != size)
		return mt_err_set(err, MT_EINVAL, BAD "entry '%s' is truncated", QUOTE(qn, name));
	sha_final(s->md, sha);
	return 0;
}

/* The manifest entry's bytes into s->text, growing as data arrives (a
 * header's size is not trusted for an allocation). */
static int read_manifest(struct scan *s, long long size, struct mt_err *err)
{
	size_t cap = size < 65536 ? (size_t)size + 1 : 65536;
	char q[200];

	s->text = malloc(cap);
	if (!s->text)
		return oom(err);
	s->len = 0;
	for (;;) {
		const void *blk;
		size_t n;
		la_int64_t off;
		int r = archive_read_data_block(s->a, &blk, &n, &off);

		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK)
			return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST ": %s",
					  lib_text(q, s->a));
		if (off != (la_int64_t)s->len || (long long)n > size - (long long)s->len)
			return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " is not contiguous");
		while (s->len + n + 1 > cap) {
			size_t ncap = cap * 2 > (size_t)size + 1 ? (size_t)size + 1 : cap * 2;
			char *t = realloc(s->text, ncap);

			if (!t)
				return oom(err);
			s->text = t;
			cap = ncap;
		}
		memcpy(s->text + s->len, blk, n);
		s->len += n;
	}
	if ((long long)s->len != size)
		return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " is truncated");
	s->text[s->len] = '\0';
	return 0;
}

/* Create staging/rel for writing (with its directories).  fd or -1. */
static int stage_open(const struct scan *s, const char *rel, unsigned mode, struct mt_err *err)
{
	char p[PATH_MAX], q[QUOTE_MAX + 4];
	int fd;

	if (snprintf(p, sizeof(p), "%s/%s", s->staging, rel) >= (int)sizeof(p)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	if (mkdir_parents(s->staging, rel))
		goto fail;
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
	if (fd >= 0)
		return fd;
fail:
	mt_err_set(err, MT_EINTERNAL, "cannot unpack '%s': %s", QUOTE(q, rel), strerror(errno));
	return -1;
}

static int stage_close(int fd, const char *rel, struct mt_err *err)
{
	char q[QUOTE_MAX + 4];

	if (fsync(fd) | close(fd))
		return mt_err_set(err, MT_EINTERNAL, "cannot unpack '%s': %s", QUOTE(q, rel),
				  strerror(errno));
	return 0;
}

/* The whole check (and, with s->staging, the extraction); s->a is open. */
static int scan_run(struct scan *s, struct mt_err *err)
{
	struct archive_entry *e;
	const char *name, *prev;
	char q[QUOTE_MAX + 4], q2[QUOTE_MAX + 4];
	int r;

	s->md = sha_new();
	if (!s->md)
		return oom(err);
	r = next_entry(s, &e, NULL, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return mt_err_set(err, MT_EINVAL, BAD "empty archive (no " MT_BUNDLE_MANIFEST ")");
	name = archive_entry_pathname(e);
	if (!name || strcmp(name, MT_BUNDLE_MANIFEST) != 0)
		return mt_err_set(err, MT_EINVAL, BAD "the first entry is '%s', not "
				  MT_BUNDLE_MANIFEST, QUOTE(q, name ? name : ""));
	if (check_type(e, MT_BUNDLE_MANIFEST, err))
		return -1;
	if (archive_entry_size(e) > MT_BUNDLE_MAX_MANIFEST)
		return mt_err_set(err, MT_EINVAL, BAD MT_BUNDLE_MANIFEST " is larger than %d MiB",
				  MT_BUNDLE_MAX_MANIFEST / (1024 * 1024));
	if (read_manifest(s, archive_entry_size(e), err) || check_manifest(s, err))
		return -1;
	if (s->staging) {
		int fd = stage_open(s, MT_BUNDLE_MANIFEST, 0644, err);

		if (fd < 0)
			return -1;
		if (mt_write_all(fd, s->text, s->len)) {
			close(fd);
			return mt_err_set(err, MT_EINTERNAL, "cannot unpack " MT_BUNDLE_MANIFEST ": %s",
					  strerror(errno));
		}
		if (stage_close(fd, MT_BUNDLE_MANIFEST, err))
			return -1;
	}

	prev = MT_BUNDLE_MANIFEST;
	for (size_t i = 0;; i++) {
		const struct rec *want = i < s->nrecs ? &s->recs[i] : NULL;
		struct mt_err pe = MT_ERR_INIT;
		char sha[65];
		int fd = -1;

		r = next_entry(s, &e, prev, err);
		if (r < 0)
			return -1;
		if (r == 0) {
			if (want)
				return mt_err_set(err, MT_EINVAL, BAD "'%s' is listed in "
						  MT_BUNDLE_MANIFEST " but not in the archive",
						  QUOTE(q, want->path));
			return 0;
		}
		name = archive_entry_pathname(e);
		if (!name)
			return mt_err_set(err, MT_EINVAL, BAD "an entry after '%s' has no name",
					  QUOTE(q, prev));
		if (check_type(e, name, err))
			return -1;
		if (bundle_path_ok(name, &pe))
			return mt_err_set(err, MT_EINVAL, BAD "%s", pe.msg);
		if (!want || strcmp(name, want->path) != 0) {
			long j = find_rec(s, 0, s->nrecs, name, strlen(name));

			if (strcmp(name, MT_BUNDLE_MANIFEST) == 0 || (j >= 0 && (size_t)j < i))
				return mt_err_set(err, MT_EINVAL, BAD "entry '%s' appears twice",
						  QUOTE(q, name));
			if (j >= 0)
				return mt_err_set(err, MT_EINVAL, BAD "entry '%s' is out of order "
						  "(expected '%s')", QUOTE(q, name),
						  QUOTE(q2, want->path));
			return mt_err_set(err, MT_EINVAL, BAD "entry '%s' is not listed in "
					  MT_BUNDLE_MANIFEST, QUOTE(q, name));
		}
		if (archive_entry_size(e) != want->size)
			return mt_err_set(err, MT_EINVAL, BAD "entry '%s' has %lld bytes, "
					  MT_BUNDLE_MANIFEST " says %lld", QUOTE(q, name),
					  (long long)archive_entry_size(e), want->size);
		if (s->staging) {
			fd = stage_open(s, want->path, want->mode, err);
			if (fd < 0)
				return -1;
		}
		if (read_data(s, want->path, want->size, fd, sha, err)) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		if (fd >= 0 && stage_close(fd, want->path, err))
			return -1;
		if (strcmp(sha, want->sha) != 0)
			return mt_err_set(err, MT_EINVAL, BAD "entry '%s': SHA-256 %s does not match "
					  MT_BUNDLE_MANIFEST " (%.12s...)", QUOTE(q, name), sha,
					  want->sha);
		prev = want->path;
	}
}

static struct archive *reader_new(void)
{
	struct archive *a = archive_read_new();

	if (a && archive_read_support_format_tar(a) != ARCHIVE_OK) {
		archive_read_free(a);
		a = NULL;
	}
	return a;
}

/* An fd as libarchive's input, every byte read also hashed, in order (no
 * skip callback, so libarchive reads through). */
struct src {
	int fd;
	unsigned char *buf; /* IO_BUF */
	EVP_MD_CTX *md;     /* the whole input */
};

static la_ssize_t src_read(struct archive *a, void *arg, const void **out)
{
	struct src *s = arg;
	ssize_t r = read_some(s->fd, s->buf, IO_BUF);

	if (r < 0) {
		archive_set_error(a, errno, "read error: %s", strerror(errno));
		return -1;
	}
	EVP_DigestUpdate(s->md, s->buf, (size_t)r);
	*out = s->buf;
	return r;
}

/* Scan the archive read from fd; sha gets the whole input's SHA-256. */
static int scan_fd(struct scan *s, int fd, char sha[65], struct mt_err *err)
{
	struct src src = { fd, malloc(IO_BUF), sha_new() };
	int rc = -1;

	s->a = reader_new();
	if (!src.buf || !src.md || !s->a) {
		oom(err);
		goto done;
	}
	if (archive_read_open(s->a, &src, NULL, src_read, NULL) != ARCHIVE_OK) {
		char q[200];

		mt_err_set(err, MT_EINVAL, BAD "not a tar archive, or damaged (%s)",
			   lib_text(q, s->a));
		goto done;
	}
	if (scan_run(s, err))
		goto done;
	/* Whatever follows the end of the archive counts for the digest. */
	for (;;) {
		ssize_t r = read_some(fd, src.buf, IO_BUF);

		if (r < 0) {
			mt_err_set(err, MT_EINTERNAL, "cannot read the bundle: %s", strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		EVP_DigestUpdate(src.md, src.buf, (size_t)r);
	}
	sha_final(src.md, sha);
	rc = 0;
done:
	/* libarchive's reader refers to src: free it while src lives. */
	if (s->a)
		archive_read_free(s->a);
	s->a = NULL;
	free(src.buf);
	EVP_MD_CTX_free(src.md);
	return rc;
}

/* Hand the results out, or clear them, and release s. */
static int finish(struct scan *s, int rc, json_t **out, char out_sha[65], const char *sha)
{
	if (out) {
		*out = rc == 0 ? s->manifest : NULL;
		if (rc == 0)
			s->manifest = NULL;
	}
	if (out_sha)
		snprintf(out_sha, 65, "%s", rc == 0 ? sha : "");
	scan_release(s);
	return rc;
}

int mt_bundle_verify_fd(int fd, json_t **out, char out_sha[65], struct mt_err *err)
{
	struct scan s = { 0 };
	char sha[65] = "";

	return finish(&s, scan_fd(&s, fd, sha, err), out, out_sha, sha);
}

int mt_bundle_verify(const char *path, json_t **out, char out_sha[65], struct mt_err *err)
{
	char q[QUOTE_MAX + 4];
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		struct scan s = { 0 };

		mt_err_set(err, errno == ENOENT ? MT_ENOTFOUND : MT_EINTERNAL,
			   "cannot read the bundle '%s': %s", QUOTE(q, path), strerror(errno));
		return finish(&s, -1, out, out_sha, "");
	}
	rc = mt_bundle_verify_fd(fd, out, out_sha, err);
	close(fd);
	return rc;
}

int mt_bundle_verify_mem(const void *data, size_t n, json_t **out, char out_sha[65],
			 struct mt_err *err)
{
	struct scan s = { 0 };
	char sha[65] = "";
	int rc = -1;

	assert(data || n == 0);
	s.a = reader_new();
	if (!s.a) {
		oom(err);
		return finish(&s, -1, out, out_sha, sha);
	}
	if (archive_read_open_memory(s.a, (void *)(data ? data : ""), n) != ARCHIVE_OK) {
		char q[200];

		mt_err_set(err, MT_EINVAL, BAD "not a tar archive, or damaged (%s)",
			   lib_text(q, s.a));
	} else if (scan_run(&s, err) == 0) {
		mt_sha256_hex(sha, data ? data : "", n);
		rc = 0;
	}
	return finish(&s, rc, out, out_sha, sha);
}

/*=== Unpack ===*/

/* Before anything moves: every file of the bundle can go into dest (no
 * directory where a file goes; only real directories, not symlinks, where
 * a directory is needed). */
static int merge_check(const char *dest, const char *rel, struct mt_err *err)
{
	char p[PATH_MAX], q[QUOTE_MAX + 4], qd[QUOTE_MAX + 4];
	struct stat st;

	for (const char *sl = strchr(rel, '/');; sl = strchr(sl + 1, '/')) {
		size_t n = sl ? (size_t)(sl - rel) : strlen(rel);

		if (snprintf(p, sizeof(p), "%s/%.*s", dest, (int)n, rel) >= (int)sizeof(p))
			return mt_err_set(err, MT_EINVAL, "cannot unpack into '%s': path too long",
					  QUOTE(qd, dest));
		if (lstat(p, &st)) {
			if (errno == ENOENT)
				return 0; /* and so is everything below */
			return mt_err_set(err, MT_EINTERNAL, "cannot unpack into '%s': %s",
					  QUOTE(qd, dest), strerror(errno));
		}
		if (sl && !S_ISDIR(st.st_mode))
			return mt_err_set(err, MT_ECONFLICT, "cannot unpack into '%s': '%.*s' is in "
					  "the way (the bundle needs a directory there)",
					  QUOTE(qd, dest), (int)n, rel);
		if (!sl) {
			if (S_ISDIR(st.st_mode))
				return mt_err_set(err, MT_ECONFLICT, "cannot unpack into '%s': '%s' is a "
						  "directory (the bundle has a file there)",
						  QUOTE(qd, dest), QUOTE(q, rel));
			return 0;
		}
	}
}

/* Move staging/rel to dest/rel. */
static int merge_move(const char *staging, const char *dest, const char *rel)
{
	char from[PATH_MAX], to[PATH_MAX];

	if (snprintf(from, sizeof(from), "%s/%s", staging, rel) >= (int)sizeof(from) ||
	    snprintf(to, sizeof(to), "%s/%s", dest, rel) >= (int)sizeof(to)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdir_parents(dest, rel))
		return -1;
	return rename(from, to);
}

/* Create the staging directory "<parent>/<prefix><random>" into out. */
static int make_staging(char *out, size_t outsz, const char *parent, const char *prefix,
			struct mt_err *err)
{
	char base[PATH_MAX], q[QUOTE_MAX + 4];

	if (snprintf(base, sizeof(base), "%s/%s", parent, prefix) >= (int)sizeof(base))
		return mt_err_set(err, MT_EINVAL, "cannot unpack: path too long");
	for (int tries = 0;; tries++) {
		if (unique_name(out, outsz, base, err))
			return -1;
		if (mkdir(out, 0777) == 0)
			return 0;
		if (errno != EEXIST || tries == 8) {
			int e = errno;

			mt_err_set(err, MT_EINTERNAL, "cannot unpack: cannot create '%s': %s",
				   QUOTE(q, out), strerror(e));
			out[0] = '\0';
			errno = e;
			return -1;
		}
	}
}

int mt_bundle_unpack(const char *path, const char *dest_dir, const char *expect_sha, json_t **out,
		     struct mt_err *err)
{
	struct scan s = { 0 };
	char dest[PATH_MAX], parent[PATH_MAX], staging[PATH_MAX] = "", prefix[NAME_MAX + 1];
	char sha[65] = "", q[QUOTE_MAX + 4];
	const char *name;
	struct stat st, pst;
	int fd = -1, rc = -1, merge = 0;
	size_t n;

	assert(path && dest_dir);
	if (out)
		*out = NULL;
	if (expect_sha && !is_sha_hex(expect_sha))
		return mt_err_set(err, MT_EINVAL, "cannot unpack: the expected digest is not 64 "
				  "lowercase hex digits");
	n = strlen(dest_dir);
	while (n > 1 && dest_dir[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(dest))
		return mt_err_set(err, MT_EINVAL, "cannot unpack: bad destination '%s'",
				  QUOTE(q, dest_dir));
	memcpy(dest, dest_dir, n);
	dest[n] = '\0';

	if (stat(dest, &st) == 0) {
		char real[PATH_MAX];

		if (!S_ISDIR(st.st_mode))
			return mt_err_set(err, MT_EINVAL, "cannot unpack: '%s' exists and is not a "
					  "directory", QUOTE(q, dest));
		if (!realpath(dest, real))
			return mt_err_set(err, MT_EINTERNAL, "cannot unpack into '%s': %s",
					  QUOTE(q, dest), strerror(errno));
		memcpy(dest, real, strlen(real) + 1);
		merge = 1;
	} else if (errno != ENOENT) {
		return mt_err_set(err, MT_EINTERNAL, "cannot unpack into '%s': %s", QUOTE(q, dest),
				  strerror(errno));
	}
	if (parent_of(parent, sizeof(parent), dest))
		return mt_err_set(err, MT_EINVAL, "cannot unpack: destination path too long");
	if (!merge && mt_mkdir_p(parent, 0755))
		return mt_err_set(err, MT_EINTERNAL, "cannot unpack: cannot create '%s': %s",
				  QUOTE(q, parent), strerror(errno));
	name = dest + strlen(dest);
	while (name > dest && name[-1] != '/')
		name--;
	snprintf(prefix, sizeof(prefix), ".%.200s.pull-", name);

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mt_err_set(err, errno == ENOENT ? MT_ENOTFOUND : MT_EINTERNAL,
				  "cannot read the bundle '%s': %s", QUOTE(q, path), strerror(errno));

	/* Beside dest (same file system, so the final renames are atomic);
	 * inside an existing dest when that is another file system (a mount
	 * point) or its parent is not writable. */
	if (merge && (strcmp(dest, "/") == 0 || stat(parent, &pst) || pst.st_dev != st.st_dev)) {
		if (make_staging(staging, sizeof(staging), dest, ".mltrack-pull-", err))
			goto done;
	} else if (make_staging(staging, sizeof(staging), parent, prefix, err)) {
		if (!merge || (errno != EACCES && errno != EPERM && errno != EROFS) ||
		    make_staging(staging, sizeof(staging), dest, ".mltrack-pull-", err))
			goto done;
	}

	s.staging = staging;
	if (scan_fd(&s, fd, sha, err))
		goto done;
	if (expect_sha && strcmp(sha, expect_sha) != 0) {
		mt_err_set(err, MT_EINVAL, BAD "its SHA-256 is %s, expected %s", sha, expect_sha);
		goto done;
	}

	if (!merge) {
		if (rename(staging, dest)) {
			mt_err_set(err, MT_EINTERNAL, "cannot unpack into '%s': %s", QUOTE(q, dest),
				   strerror(errno));
			goto done;
		}
		staging[0] = '\0';
		fsync_dir(parent);
	} else {
		size_t moved = 0;

		for (size_t i = 0; i < s.nrecs; i++)
			if (merge_check(dest, s.recs[i].path, err))
				goto done;
		if (merge_check(dest, MT_BUNDLE_MANIFEST, err))
			goto done;
		/* The manifest last: its presence says the files are all there. */
		for (size_t i = 0; i <= s.nrecs; i++, moved++) {
			const char *rel = i < s.nrecs ? s.recs[i].path : MT_BUNDLE_MANIFEST;

			if (merge_move(staging, dest, rel)) {
				mt_err_set(err, MT_EINTERNAL, "cannot move '%s' into '%s': %s (%zu of "
					   "%zu files were moved)", rel, dest, strerror(errno), moved,
					   s.nrecs + 1);
				goto done;
			}
		}
		fsync_dir(dest);
	}
	rc = 0;
done:
	if (staging[0])
		rm_rf(staging);
	if (fd >= 0)
		close(fd);
	return finish(&s, rc, out, NULL, sha);
}
