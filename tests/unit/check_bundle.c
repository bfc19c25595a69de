/* check_bundle.c: model bundles (lib/mt_bundle): deterministic packing, the
 * manifest, round trips, tampering and hostile archives.  Every test works
 * in its own directory under /tmp, removed afterwards. */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "mt_bundle.h"
#include "mt_check.h"
#include "mt_util.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Each TCase gets a base directory, made and removed by the runner's
 * process (unchecked fixture); each test a directory inside it (checked
 * fixture).  A failed assertion ends a test's process at once (_exit, no
 * teardown), so the base is what guarantees the clean-up. */
static char base[] = "/tmp/mt-bundle-XXXXXX";
static char root[64];

static void rm_rf(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void base_setup(void)
{
	strcpy(base, "/tmp/mt-bundle-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
}

static void base_teardown(void)
{
	rm_rf(base);
}

static void setup(void)
{
	snprintf(root, sizeof(root), "%s/t-XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(root));
	umask(022);
}

static void teardown(void)
{
	rm_rf(root);
}

/* root/rel into a static buffer (one of four, so a few can be live). */
static const char *at(const char *rel)
{
	static char bufs[4][4096];
	static int k;
	char *b = bufs[k++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", root, rel);
	return b;
}

/* Write root/rel (creating its directories) with n bytes of data. */
static void put(const char *rel, const void *data, size_t n, mode_t mode)
{
	char path[4096], *slash;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	ck_assert_int_eq(mt_mkdir_p(path, 0755), 0);
	*slash = '/';
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(mt_write_all(fd, data, n), 0);
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static void puts_(const char *rel, const char *text)
{
	put(rel, text, strlen(text), 0644);
}

/* A whole file (malloc'd, NUL-terminated); *n its size. */
static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long len;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	if (n)
		*n = (size_t)len;
	return buf;
}

static void spit(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* A directory's tree as sorted lines "path mode size sha256" (symlinks as
 * "path -> target"), to compare a directory before and after. */
static void snap_walk(const char *dir, const char *rel, char ***lines, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		char path[4096], r[4096], line[8320];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		snprintf(r, sizeof(r), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
		ck_assert_int_eq(lstat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			snprintf(line, sizeof(line), "%s/ %o", r, (unsigned)(st.st_mode & 07777));
			snap_walk(path, r, lines, n);
		} else if (S_ISLNK(st.st_mode)) {
			char t[4096] = "";

			ck_assert_int_ge(readlink(path, t, sizeof(t) - 1), 0);
			snprintf(line, sizeof(line), "%s -> %s", r, t);
		} else {
			size_t len;
			char *data = slurp(path, &len), sha[65];

			mt_sha256_hex(sha, data, len);
			free(data);
			snprintf(line, sizeof(line), "%s %o %zu %s", r, (unsigned)(st.st_mode & 07777),
				 len, sha);
		}
		*lines = realloc(*lines, (*n + 1) * sizeof(**lines));
		(*lines)[(*n)++] = strdup(line);
	}
	closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The snapshot as one malloc'd string. */
static char *snapshot(const char *dir)
{
	char **lines = NULL, *out;
	size_t n = 0, len = 1;

	snap_walk(dir, "", &lines, &n);
	qsort(lines, n, sizeof(*lines), cmp_str);
	for (size_t i = 0; i < n; i++)
		len += strlen(lines[i]) + 1;
	out = calloc(1, len);
	for (size_t i = 0; i < n; i++) {
		strcat(out, lines[i]);
		strcat(out, "\n");
		free(lines[i]);
	}
	free(lines);
	return out;
}

/* No staging directory was left in dir. */
static void no_leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		ck_assert_msg(strstr(e->d_name, ".pull-") == NULL, "staging left: %s", e->d_name);
		ck_assert_msg(strstr(e->d_name, ".tmp-") == NULL, "temp file left: %s", e->d_name);
	}
	closedir(d);
}

/* One line, starts with prefix, contains want. */
static void check_msg(const struct mt_err *err, const char *prefix, const char *want)
{
	ck_assert_msg(strncmp(err->msg, prefix, strlen(prefix)) == 0, "message '%s' lacks '%s'",
		      err->msg, prefix);
	ck_assert_msg(strstr(err->msg, want) != NULL, "message '%s' lacks '%s'", err->msg, want);
	ck_assert_ptr_null(strchr(err->msg, '\n'));
}

static void pack_ok(const char *dir, const json_t *extra, const char *out, char sha[65])
{
	struct mt_err err = MT_ERR_INIT;

	ck_assert_msg(mt_bundle_pack(dir, extra, out, sha, &err) == 0, "pack: %s", err.msg);
	ck_assert_int_eq(err.code, MT_OK);
}

/* A small tree with a subdirectory, an executable, a hidden file and an
 * empty file. */
static void make_tree(const char *top)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "%s/MLmodel", top);
	puts_(rel, "flavor: sklearn\n");
	snprintf(rel, sizeof(rel), "%s/weights.bin", top);
	put(rel, "WEIGHTS-0123456789-abcdef", 25, 0644);
	snprintf(rel, sizeof(rel), "%s/bin/predict", top);
	put(rel, "#!/bin/sh\necho 1\n", 17, 0755);
	snprintf(rel, sizeof(rel), "%s/.hidden", top);
	puts_(rel, "h");
	snprintf(rel, sizeof(rel), "%s/data/empty", top);
	put(rel, "", 0, 0644);
	snprintf(rel, sizeof(rel), "%s/data/z.txt", top);
	puts_(rel, "zzz");
	snprintf(rel, sizeof(rel), "%s/a.b", top); /* sorts before "a/..." and after */
	puts_(rel, "dot");
}

/*=== Determinism ===*/

START_TEST(same_tree_same_bytes)
{
	char sha1[65], sha2[65], sha3[65], *b1, *b2, *b3, fsha[65];
	size_t n1, n2, n3;
	struct timeval tv[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

	make_tree("src");
	pack_ok(at("src"), NULL, at("one.tar"), sha1);

	/* Other times, other permissions on the group, the same contents. */
	ck_assert_int_eq(utimes(at("src/weights.bin"), tv), 0);
	ck_assert_int_eq(utimes(at("src/data"), tv), 0);
	ck_assert_int_eq(chmod(at("src/MLmodel"), 0664), 0);
	ck_assert_int_eq(chmod(at("src/bin/predict"), 0775), 0);
	pack_ok(at("src"), NULL, at("two.tar"), sha2);

	/* A copy made in another order (another readdir order, other inodes). */
	puts_("copy/a.b", "dot");
	puts_("copy/data/z.txt", "zzz");
	put("copy/data/empty", "", 0, 0600);
	puts_("copy/.hidden", "h");
	put("copy/bin/predict", "#!/bin/sh\necho 1\n", 17, 0700);
	put("copy/weights.bin", "WEIGHTS-0123456789-abcdef", 25, 0600);
	puts_("copy/MLmodel", "flavor: sklearn\n");
	pack_ok(at("copy"), NULL, at("three.tar"), sha3);

	b1 = slurp(at("one.tar"), &n1);
	b2 = slurp(at("two.tar"), &n2);
	b3 = slurp(at("three.tar"), &n3);
	ck_assert_uint_eq(n1, n2);
	ck_assert_uint_eq(n1, n3);
	ck_assert(memcmp(b1, b2, n1) == 0);
	ck_assert(memcmp(b1, b3, n1) == 0);
	ck_assert_str_eq(sha1, sha2);
	ck_assert_str_eq(sha1, sha3);
	/* out_sha is the file's SHA-256. */
	mt_sha256_hex(fsha, b1, n1);
	ck_assert_str_eq(sha1, fsha);
	/* Whole 512-byte blocks, ending with the two zero blocks, no padding to
	 * a 10240-byte record. */
	ck_assert_uint_eq(n1 % 512, 0);
	ck_assert_uint_lt(n1, 20 * 512);
	for (size_t i = n1 - 1024; i < n1; i++)
		ck_assert_int_eq(b1[i], 0);
	free(b1);
	free(b2);
	free(b3);
	no_leftovers(root);
}
END_TEST

START_TEST(changed_byte_changes_digest)
{
	char sha1[65], sha2[65], sha3[65];

	make_tree("src");
	pack_ok(at("src"), NULL, at("one.tar"), sha1);
	put("src/weights.bin", "WEIGHTS-0123456789-abcdeF", 25, 0644);
	pack_ok(at("src"), NULL, at("two.tar"), sha2);
	ck_assert_str_ne(sha1, sha2);
	/* The mode counts too. */
	put("src/weights.bin", "WEIGHTS-0123456789-abcdef", 25, 0755);
	pack_ok(at("src"), NULL, at("three.tar"), sha3);
	ck_assert_str_ne(sha1, sha3);
	ck_assert_str_ne(sha2, sha3);
}
END_TEST

/* Every header: mtime 0, uid/gid 0, no owner names, mode 0644 or 0755, no
 * atime/ctime/birthtime, xattrs or ACLs. */
START_TEST(headers_are_normalised)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int n = 0;

	make_tree("src");
	pack_ok(at("src"), NULL, at("b.tar"), NULL);
	archive_read_support_format_tar(a);
	ck_assert_int_eq(archive_read_open_filename(a, at("b.tar"), 10240), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *p = archive_entry_pathname(e);
		unsigned perm = archive_entry_perm(e);

		ck_assert_int_eq(archive_entry_filetype(e), AE_IFREG);
		ck_assert_int_eq(archive_entry_mtime(e), 0);
		ck_assert_int_eq(archive_entry_mtime_nsec(e), 0);
		ck_assert_int_eq(archive_entry_uid(e), 0);
		ck_assert_int_eq(archive_entry_gid(e), 0);
		ck_assert(archive_entry_uname(e) == NULL || archive_entry_uname(e)[0] == '\0');
		ck_assert(archive_entry_gname(e) == NULL || archive_entry_gname(e)[0] == '\0');
		ck_assert(!archive_entry_atime_is_set(e));
		ck_assert(!archive_entry_ctime_is_set(e));
		ck_assert(!archive_entry_birthtime_is_set(e));
		ck_assert_int_eq(archive_entry_xattr_count(e), 0);
		ck_assert_int_eq(archive_entry_acl_count(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS), 0);
		ck_assert_uint_eq(perm, strcmp(p, "bin/predict") == 0 ? 0755 : 0644);
		n++;
	}
	ck_assert_int_eq(n, 8); /* the manifest and 7 files */
	archive_read_free(a);
}
END_TEST

/* Non-ASCII and long names give the same bytes under any locale. */
START_TEST(locale_does_not_matter)
{
	char sha_c[65], sha_u[65], name[600];
	json_t *m = NULL;
	struct mt_err err = MT_ERR_INIT;

	puts_("src/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt", "x");
	memset(name, 'n', sizeof(name));
	for (size_t i = 99; i < sizeof(name); i += 100)
		name[i] = '/';
	memcpy(name, "src/", 4);
	name[sizeof(name) - 1] = '\0';
	puts_(name, "long");
	ck_assert_ptr_nonnull(setlocale(LC_ALL, "C"));
	pack_ok(at("src"), NULL, at("c.tar"), sha_c);
	if (!setlocale(LC_ALL, "C.UTF-8") && !setlocale(LC_ALL, "C.utf8"))
		ck_abort_msg("no C.UTF-8 locale");
	pack_ok(at("src"), NULL, at("u.tar"), sha_u);
	ck_assert_str_eq(sha_c, sha_u);
	/* And they read back under either. */
	ck_assert_int_eq(mt_bundle_verify(at("c.tar"), &m, NULL, &err), 0);
	json_decref(m);
	setlocale(LC_ALL, "C");
	ck_assert_int_eq(mt_bundle_verify(at("c.tar"), &m, NULL, &err), 0);
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(m, "files"), 0), "path")),
			 "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt");
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(m, "files"), 1), "path")),
			 name + 4);
	json_decref(m);
}
END_TEST

/*=== The manifest ===*/

/* The first entry of the archive at path: its name and bytes. */
static char *first_entry(const char *path, char name[256], size_t *n)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char *buf;

	archive_read_support_format_tar(a);
	ck_assert_int_eq(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
	ck_assert_int_eq(archive_read_next_header(a, &e), ARCHIVE_OK);
	snprintf(name, 256, "%s", archive_entry_pathname(e));
	*n = (size_t)archive_entry_size(e);
	buf = malloc(*n + 1);
	ck_assert_int_eq(archive_read_data(a, buf, *n), (la_ssize_t)*n);
	buf[*n] = '\0';
	archive_read_free(a);
	return buf;
}

START_TEST(manifest_contents)
{
	static const struct {
		const char *path, *data, *mode;
	} want[] = {
		{ ".hidden", "h", "0644" },
		{ "MLmodel", "flavor: sklearn\n", "0644" },
		{ "a.b", "dot", "0644" },
		{ "bin/predict", "#!/bin/sh\necho 1\n", "0755" },
		{ "data/empty", "", "0644" },
		{ "data/z.txt", "zzz", "0644" },
		{ "weights.bin", "WEIGHTS-0123456789-abcdef", "0644" },
	};
	json_t *extra = json_pack("{s:{s:s, s:s, s:b, s:s}, s:{s:f}, s:{s:s}}", "provenance",
				  "run_id", "0123456789abcdef0123456789abcdef", "git_commit",
				  "deadbeef", "dirty", 0, "repo_url", "https://example.com/x.git",
				  "metrics", "acc", 0.5, "params", "lr", "0.01");
	json_t *m = NULL, *files, *again;
	struct mt_err err = MT_ERR_INIT;
	char name[256], *text, *dumped;
	size_t n;

	make_tree("src");
	mkdir(at("src/empty-dir"), 0755);
	pack_ok(at("src"), extra, at("b.tar"), NULL);

	text = first_entry(at("b.tar"), name, &n);
	ck_assert_str_eq(name, MT_BUNDLE_MANIFEST);
	ck_assert_int_eq(text[n - 1], '\n');
	ck_assert_int_eq(mt_bundle_verify(at("b.tar"), &m, NULL, &err), 0);
	/* Sorted keys, indent 2, a trailing newline: the one serialisation. */
	dumped = json_dumps(m, JSON_SORT_KEYS | JSON_INDENT(2));
	ck_assert_uint_eq(strlen(dumped) + 1, n);
	ck_assert(strncmp(dumped, text, n - 1) == 0);
	free(dumped);

	ck_assert_str_eq(json_string_value(json_object_get(m, "format")), MT_BUNDLE_FORMAT);
	files = json_object_get(m, "files");
	ck_assert_uint_eq(json_array_size(files), N_ELEMS(want));
	for (size_t i = 0; i < N_ELEMS(want); i++) {
		json_t *f = json_array_get(files, i);
		char sha[65];

		mt_sha256_hex(sha, want[i].data, strlen(want[i].data));
		ck_assert_str_eq(json_string_value(json_object_get(f, "path")), want[i].path);
		ck_assert_int_eq(json_integer_value(json_object_get(f, "size")),
				 (json_int_t)strlen(want[i].data));
		ck_assert_str_eq(json_string_value(json_object_get(f, "sha256")), sha);
		ck_assert_str_eq(json_string_value(json_object_get(f, "mode")), want[i].mode);
		ck_assert_uint_eq(json_object_size(f), 4);
	}
	/* The extra members, as given; nothing else (no time). */
	again = json_object_get(m, "provenance");
	ck_assert(json_equal(again, json_object_get(extra, "provenance")));
	ck_assert(json_equal(json_object_get(m, "metrics"), json_object_get(extra, "metrics")));
	ck_assert(json_equal(json_object_get(m, "params"), json_object_get(extra, "params")));
	ck_assert_uint_eq(json_object_size(m), 5);
	/* extra is borrowed: still the caller's, unchanged. */
	ck_assert_int_eq(extra->refcount, 1);
	ck_assert_uint_eq(json_object_size(extra), 3);
	free(text);
	json_decref(m);
	json_decref(extra);
}
END_TEST

START_TEST(symlink_inside_is_stored_as_a_file)
{
	json_t *m = NULL, *f;
	struct mt_err err = MT_ERR_INIT;
	char sha[65];

	puts_("src/real/weights.bin", "weights");
	ck_assert_int_eq(symlink("real/weights.bin", at("src/alias.bin")), 0);
	pack_ok(at("src"), NULL, at("b.tar"), NULL);
	ck_assert_int_eq(mt_bundle_verify(at("b.tar"), &m, NULL, &err), 0);
	f = json_object_get(m, "files");
	ck_assert_uint_eq(json_array_size(f), 2);
	mt_sha256_hex(sha, "weights", 7);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(f, 0), "path")),
			 "alias.bin");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(f, 0), "sha256")), sha);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(f, 1), "path")),
			 "real/weights.bin");
	json_decref(m);
}
END_TEST

START_TEST(empty_directory_gives_a_manifest_only)
{
	json_t *m = NULL;
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(mkdir(at("src"), 0755), 0);
	ck_assert_int_eq(mkdir(at("src/sub"), 0755), 0);
	pack_ok(at("src"), NULL, at("b.tar"), NULL);
	ck_assert_int_eq(mt_bundle_verify(at("b.tar"), &m, NULL, &err), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(m, "files")), 0);
	json_decref(m);
	ck_assert_int_eq(mt_bundle_unpack(at("b.tar"), at("out"), NULL, NULL, &err), 0);
	ck_assert(exists(at("out/" MT_BUNDLE_MANIFEST)));
	ck_assert(!exists(at("out/sub")));
}
END_TEST

/*=== Pack refusals ===*/

/* Pack must fail with code and a message naming want; out_path keeps
 * what it had and no temporary file is left. */
static void pack_fails(const char *dir, const json_t *extra, enum mt_code code,
		       const char *want)
{
	struct mt_err err = MT_ERR_INIT;
	char sha[65] = "x", *kept;

	puts_("out.tar", "previous");
	ck_assert_int_eq(mt_bundle_pack(dir, extra, at("out.tar"), sha, &err), -1);
	ck_assert_int_eq(err.code, code);
	ck_assert_str_eq(sha, "");
	check_msg(&err, "cannot pack", want);
	kept = slurp(at("out.tar"), NULL);
	ck_assert_str_eq(kept, "previous");
	free(kept);
	no_leftovers(root);
}

START_TEST(pack_refuses_symlink_outside)
{
	puts_("outside.txt", "secret");
	puts_("src/ok.txt", "ok");
	ck_assert_int_eq(symlink("../outside.txt", at("src/leak")), 0);
	pack_fails(at("src"), NULL, MT_EINVAL, "'leak' is a symlink to");
	ck_assert_int_eq(unlink(at("src/leak")), 0);
	ck_assert_int_eq(symlink("/etc/passwd", at("src/sub-leak")), 0);
	pack_fails(at("src"), NULL, MT_EINVAL, "outside the directory");
}
END_TEST

START_TEST(pack_refuses_special_files)
{
	puts_("src/ok.txt", "ok");
	ck_assert_int_eq(symlink("nowhere", at("src/dangling")), 0);
	pack_fails(at("src"), NULL, MT_EINVAL, "'dangling' is a symlink to nothing");
	ck_assert_int_eq(unlink(at("src/dangling")), 0);

	ck_assert_int_eq(mkdir(at("src/d"), 0755), 0);
	ck_assert_int_eq(symlink("d", at("src/dirlink")), 0);
	pack_fails(at("src"), NULL, MT_EINVAL, "'dirlink' is a symlink to a directory");
	ck_assert_int_eq(unlink(at("src/dirlink")), 0);

	ck_assert_int_eq(mkfifo(at("src/d/fifo"), 0644), 0);
	pack_fails(at("src"), NULL, MT_EINVAL, "'d/fifo' is a fifo");
	ck_assert_int_eq(unlink(at("src/d/fifo")), 0);

	puts_("src/a\\b", "x");
	pack_fails(at("src"), NULL, MT_EINVAL, "backslash");
	ck_assert_int_eq(unlink(at("src/a\\b")), 0);

	puts_("src/line\nbreak", "x");
	pack_fails(at("src"), NULL, MT_EINVAL, "control character");
	ck_assert_int_eq(unlink(at("src/line\nbreak")), 0);

	puts_("src/" MT_BUNDLE_MANIFEST, "{}");
	pack_fails(at("src"), NULL, MT_EINVAL, "reserved");
	/* Only at the top. */
	ck_assert_int_eq(rename(at("src/" MT_BUNDLE_MANIFEST), at("src/d/" MT_BUNDLE_MANIFEST)),
			 0);
	pack_ok(at("src"), NULL, at("b.tar"), NULL);
}
END_TEST

START_TEST(pack_refuses_bad_arguments)
{
	json_t *reserved = json_pack("{s:s}", "files", "x");
	json_t *array = json_array();
	struct mt_err err = MT_ERR_INIT;

	puts_("src/ok.txt", "ok");
	pack_fails(at("src"), reserved, MT_EINVAL, "reserved");
	pack_fails(at("src"), array, MT_EINVAL, "not a JSON object");
	pack_fails(at("missing"), NULL, MT_ENOTFOUND, "missing");
	pack_fails(at("src/ok.txt"), NULL, MT_EINVAL, "Not a directory");
	/* Into a directory that does not exist. */
	ck_assert_int_eq(mt_bundle_pack(at("src"), NULL, at("no/such/b.tar"), NULL, &err), -1);
	ck_assert_int_eq(err.code, MT_EINTERNAL);
	json_decref(reserved);
	json_decref(array);
}
END_TEST

/*=== Round trips ===*/

START_TEST(round_trip_into_a_new_directory)
{
	char sha[65], *before, *after, *man, *text, name[256];
	json_t *m = NULL;
	struct mt_err err = MT_ERR_INIT;
	size_t n;

	make_tree("src");
	pack_ok(at("src"), NULL, at("b.tar"), sha);
	ck_assert_int_eq(mt_bundle_unpack(at("b.tar"), at("deep/new/out"), sha, &m, &err), 0);
	ck_assert_int_eq(err.code, MT_OK);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(json_string_value(json_object_get(m, "format")), MT_BUNDLE_FORMAT);

	/* The same files with the same modes, plus the manifest as stored. */
	man = slurp(at("deep/new/out/" MT_BUNDLE_MANIFEST), NULL);
	text = first_entry(at("b.tar"), name, &n);
	ck_assert_str_eq(man, text);
	ck_assert_int_eq(unlink(at("deep/new/out/" MT_BUNDLE_MANIFEST)), 0);
	before = snapshot(at("src"));
	after = snapshot(at("deep/new/out"));
	ck_assert_str_eq(before, after);
	no_leftovers(at("deep/new"));
	free(before);
	free(after);
	free(man);
	free(text);
	json_decref(m);
}
END_TEST

START_TEST(round_trip_into_an_existing_directory)
{
	char *after;
	json_t *m = NULL;
	struct mt_err err = MT_ERR_INIT;

	make_tree("src");
	pack_ok(at("src"), NULL, at("b.tar"), NULL);
	puts_("dest/weights.bin", "old weights");  /* replaced */
	puts_("dest/notes.txt", "keep me");        /* kept */
	puts_("dest/data/other", "keep me too");   /* kept, beside new files */
	ck_assert_int_eq(mt_bundle_unpack(at("b.tar"), at("dest/"), NULL, &m, &err), 0);
	after = snapshot(at("dest"));
	ck_assert_ptr_nonnull(strstr(after, "notes.txt 644"));
	ck_assert_ptr_nonnull(strstr(after, "data/other 644"));
	ck_assert_ptr_nonnull(strstr(after, "bin/predict 755 17"));
	ck_assert_ptr_null(strstr(after, "old weights"));
	{
		char *w = slurp(at("dest/weights.bin"), NULL);

		ck_assert_str_eq(w, "WEIGHTS-0123456789-abcdef");
		free(w);
	}
	ck_assert(exists(at("dest/" MT_BUNDLE_MANIFEST)));
	no_leftovers(root);
	no_leftovers(at("dest"));
	/* Pulling the same bundle again changes nothing. */
	ck_assert_int_eq(mt_bundle_unpack(at("b.tar"), at("dest"), NULL, NULL, &err), 0);
	{
		char *again = snapshot(at("dest"));

		ck_assert_str_eq(after, again);
		free(again);
	}
	free(after);
	json_decref(m);
}
END_TEST

/* Unpack must fail with code and a message containing want, leaving dest
 * exactly as it was (or missing) and no staging directory. */
static void unpack_fails(const char *tar, const char *dest_rel, const char *expect,
			 enum mt_code code, const char *want)
{
	struct mt_err err = MT_ERR_INIT;
	json_t *m = (json_t *)1;
	struct stat st;
	int existed = lstat(at(dest_rel), &st) == 0;
	char *before = !existed ? NULL : S_ISDIR(st.st_mode) ? snapshot(at(dest_rel))
			: slurp(at(dest_rel), NULL);

	ck_assert_int_eq(mt_bundle_unpack(tar, at(dest_rel), expect, &m, &err), -1);
	ck_assert_ptr_null(m);
	ck_assert_int_eq(err.code, code);
	ck_assert_msg(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
	ck_assert_ptr_null(strchr(err.msg, '\n'));
	if (existed && S_ISDIR(st.st_mode)) {
		char *after = snapshot(at(dest_rel));

		ck_assert_str_eq(before, after);
		free(after);
		no_leftovers(at(dest_rel));
	} else if (existed) {
		char *after = slurp(at(dest_rel), NULL);

		ck_assert_str_eq(before, after);
		free(after);
	} else {
		ck_assert(!exists(at(dest_rel)));
	}
	no_leftovers(root);
	free(before);
}

START_TEST(unpack_conflicts_leave_dest_untouched)
{
	char sha[65], wrong[65];

	make_tree("src");
	pack_ok(at("src"), NULL, at("b.tar"), sha);
	/* A directory where the bundle has a file. */
	puts_("d1/weights.bin/inner", "x");
	unpack_fails(at("b.tar"), "d1", NULL, MT_ECONFLICT, "'weights.bin' is a directory");
	/* A file where the bundle needs a directory. */
	puts_("d2/bin", "not a dir");
	unpack_fails(at("b.tar"), "d2", NULL, MT_ECONFLICT, "'bin' is in the way");
	/* A symlink where the bundle needs a directory (it would lead out). */
	ck_assert_int_eq(mkdir(at("d3"), 0755), 0);
	ck_assert_int_eq(mkdir(at("elsewhere"), 0755), 0);
	ck_assert_int_eq(symlink("../elsewhere", at("d3/data")), 0);
	unpack_fails(at("b.tar"), "d3", NULL, MT_ECONFLICT, "'data' is in the way");
	ck_assert(!exists(at("elsewhere/z.txt")));
	/* The destination is a file. */
	puts_("f", "x");
	unpack_fails(at("b.tar"), "f", NULL, MT_EINVAL, "not a directory");
	/* The bundle is not the one expected. */
	memcpy(wrong, sha, 65);
	wrong[0] = wrong[0] == '0' ? '1' : '0';
	unpack_fails(at("b.tar"), "d4", wrong, MT_EINVAL, "expected");
	puts_("d5/keep", "x");
	unpack_fails(at("b.tar"), "d5", wrong, MT_EINVAL, "expected");
	unpack_fails(at("b.tar"), "d5", "ABC", MT_EINVAL, "64 lowercase hex");
	unpack_fails(at("missing.tar"), "d5", NULL, MT_ENOTFOUND, "missing.tar");
}
END_TEST

START_TEST(verify_variants_agree)
{
	char sha_p[65], sha_f[65], sha_m[65], sha_pack[65], *data;
	json_t *mp = NULL, *mf = NULL, *mm = NULL;
	struct mt_err err = MT_ERR_INIT;
	size_t n;
	int fd;

	make_tree("src");
	pack_ok(at("src"), NULL, at("b.tar"), sha_pack);
	data = slurp(at("b.tar"), &n);
	ck_assert_int_eq(mt_bundle_verify(at("b.tar"), &mp, sha_p, &err), 0);
	fd = open(at("b.tar"), O_RDONLY);
	ck_assert_int_eq(mt_bundle_verify_fd(fd, &mf, sha_f, &err), 0);
	close(fd);
	ck_assert_int_eq(mt_bundle_verify_mem(data, n, &mm, sha_m, &err), 0);
	ck_assert_str_eq(sha_p, sha_pack);
	ck_assert_str_eq(sha_f, sha_pack);
	ck_assert_str_eq(sha_m, sha_pack);
	ck_assert(json_equal(mp, mf));
	ck_assert(json_equal(mp, mm));
	/* out and out_sha may be NULL. */
	ck_assert_int_eq(mt_bundle_verify_mem(data, n, NULL, NULL, &err), 0);
	/* Trailing bytes after the end of the archive count in the digest. */
	data = realloc(data, n + 512);
	memset(data + n, 0, 512);
	ck_assert_int_eq(mt_bundle_verify_mem(data, n + 512, NULL, sha_m, &err), 0);
	ck_assert_str_ne(sha_m, sha_pack);
	spit(at("c.tar"), data, n + 512);
	ck_assert_int_eq(mt_bundle_verify(at("c.tar"), NULL, sha_p, &err), 0);
	ck_assert_str_eq(sha_p, sha_m);
	/* A missing file. */
	json_decref(mp);
	mp = (json_t *)1;
	ck_assert_int_eq(mt_bundle_verify(at("none.tar"), &mp, sha_p, &err), -1);
	ck_assert_ptr_null(mp);
	ck_assert_str_eq(sha_p, "");
	ck_assert_int_eq(err.code, MT_ENOTFOUND);
	json_decref(mf);
	json_decref(mm);
	free(data);
}
END_TEST

/*=== Tampering ===*/

static size_t find_bytes(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return i;
	ck_abort_msg("'%s' not found", needle);
	return 0;
}

/* Verify must fail (every variant) with a message containing want. */
static void verify_fails(const char *tar, const char *want)
{
	struct mt_err err = MT_ERR_INIT, err2 = MT_ERR_INIT;
	json_t *m = (json_t *)1;
	char sha[65] = "x", *data;
	size_t n;

	ck_assert_int_eq(mt_bundle_verify(tar, &m, sha, &err), -1);
	ck_assert_ptr_null(m);
	ck_assert_str_eq(sha, "");
	ck_assert_int_eq(err.code, MT_EINVAL);
	check_msg(&err, "Invalid bundle: ", want);
	data = slurp(tar, &n);
	ck_assert_int_eq(mt_bundle_verify_mem(data, n, NULL, NULL, &err2), -1);
	ck_assert_str_eq(err.msg, err2.msg);
	free(data);
}

START_TEST(flipped_byte_is_detected)
{
	char *data;
	size_t n, off;

	make_tree("src");
	pack_ok(at("src"), NULL, at("b.tar"), NULL);
	puts_("dest/keep.txt", "mine");
	data = slurp(at("b.tar"), &n);

	/* In a file's data. */
	off = find_bytes(data, n, "WEIGHTS-0123456789");
	data[off + 10] ^= 1;
	spit(at("t1.tar"), data, n);
	verify_fails(at("t1.tar"), "entry 'weights.bin': SHA-256");
	unpack_fails(at("t1.tar"), "dest", NULL, MT_EINVAL, "weights.bin");
	unpack_fails(at("t1.tar"), "new", NULL, MT_EINVAL, "weights.bin");
	data[off + 10] ^= 1;

	/* In the manifest: a digit of a digest (still valid hex). */
	{
		char sha[65];

		mt_sha256_hex(sha, "zzz", 3);
		off = find_bytes(data, n, sha);
		data[off] = data[off] == 'a' ? 'b' : 'a';
		spit(at("t2.tar"), data, n);
		verify_fails(at("t2.tar"), "entry 'data/z.txt': SHA-256");
		unpack_fails(at("t2.tar"), "dest", NULL, MT_EINVAL, "data/z.txt");
		data[off] = sha[0];
	}
	/* In a header's name (not the manifest's mention of it): the header
	 * checksum no longer matches. */
	off = find_bytes(data, n, "bin/predict");
	while (off % 512 != 0)
		off += 1 + find_bytes(data + off + 1, n - off - 1, "bin/predict");
	data[off] = 'B';
	spit(at("t3.tar"), data, n);
	verify_fails(at("t3.tar"), "damaged after entry 'a.b'");
	free(data);
}
END_TEST

START_TEST(truncated_and_garbage_are_refused)
{
	char *data;
	size_t n, end_of_data;

	make_tree("src");
	pack_ok(at("src"), NULL, at("b.tar"), NULL);
	data = slurp(at("b.tar"), &n);
	end_of_data = n - 1024; /* the last file's data ends before the end marker */
	for (size_t cut = 0; cut < end_of_data; cut += 97) {
		struct mt_err err = MT_ERR_INIT;

		ck_assert_msg(mt_bundle_verify_mem(data, cut, NULL, NULL, &err) == -1,
			      "accepted a bundle cut at %zu of %zu", cut, n);
		ck_assert_int_eq(err.code, MT_EINVAL);
		check_msg(&err, "Invalid bundle: ", "");
	}
	spit(at("cut.tar"), data, n / 2);
	verify_fails(at("cut.tar"), "");
	unpack_fails(at("cut.tar"), "new", NULL, MT_EINVAL, "Invalid bundle");
	spit(at("empty.tar"), "", 0);
	verify_fails(at("empty.tar"), "");
	spit(at("text.tar"), "just some text, not a tar archive at all\n", 41);
	verify_fails(at("text.tar"), "not a tar archive");
	memset(data, 0, 4096);
	spit(at("zeros.tar"), data, 4096);
	verify_fails(at("zeros.tar"), "");
	free(data);
}
END_TEST

/*=== Hostile archives, written with libarchive ===*/

struct ent {
	const char *path;
	int type;          /* 0 regular, 'l' symlink, 'h' hard link, 'd' dir, 'c' device, 'p' fifo */
	const char *data;  /* regular: contents; NULL for the generated manifest */
	const char *link;
};

struct file {
	const char *path, *data;
};

/* A manifest listing files, in the given order. */
static char *manifest_for(const struct file *f, size_t n)
{
	json_t *files = json_array(), *m;
	char *text;

	for (size_t i = 0; i < n && f[i].path; i++) {
		char sha[65];

		mt_sha256_hex(sha, f[i].data, strlen(f[i].data));
		json_array_append_new(files, json_pack("{s:s, s:I, s:s, s:s}", "path", f[i].path,
							"size", (json_int_t)strlen(f[i].data),
							"sha256", sha, "mode", "0644"));
	}
	m = json_pack("{s:s, s:o}", "format", MT_BUNDLE_FORMAT, "files", files);
	text = json_dumps(m, JSON_SORT_KEYS | JSON_INDENT(2));
	json_decref(m);
	return text;
}

static void write_entry(struct archive *a, const struct ent *e, const char *manifest)
{
	struct archive_entry *ae = archive_entry_new();
	const char *data = e->data ? e->data : manifest;
	size_t len = e->type == 0 ? strlen(data) : 0;

	archive_entry_set_pathname(ae, e->path);
	archive_entry_set_mtime(ae, 0, 0);
	switch (e->type) {
	case 0:
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, 0644);
		break;
	case 'l':
		archive_entry_set_filetype(ae, AE_IFLNK);
		archive_entry_set_perm(ae, 0777);
		archive_entry_set_symlink(ae, e->link);
		break;
	case 'h':
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, 0644);
		archive_entry_set_hardlink(ae, e->link);
		break;
	case 'd':
		archive_entry_set_filetype(ae, AE_IFDIR);
		archive_entry_set_perm(ae, 0755);
		break;
	case 'c':
		archive_entry_set_filetype(ae, AE_IFCHR);
		archive_entry_set_perm(ae, 0600);
		archive_entry_set_rdev(ae, 0x0103);
		break;
	case 'p':
		archive_entry_set_filetype(ae, AE_IFIFO);
		archive_entry_set_perm(ae, 0644);
		break;
	}
	archive_entry_set_size(ae, (la_int64_t)len);
	ck_assert_int_eq(archive_write_header(a, ae), ARCHIVE_OK);
	if (len)
		ck_assert_int_eq(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(ae);
}

static struct archive *writer(const char *path)
{
	struct archive *a = archive_write_new();

	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_none(a);
	ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	return a;
}

static void craft(const char *path, const struct ent *ents, size_t n, const struct file *listed,
		  size_t nlisted)
{
	struct archive *a = writer(path);
	char *manifest = manifest_for(listed, nlisted);

	for (size_t i = 0; i < n && ents[i].path; i++)
		write_entry(a, &ents[i], manifest);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	free(manifest);
}

#define M { MT_BUNDLE_MANIFEST, 0, NULL, NULL }
#define RAW(text) { MT_BUNDLE_MANIFEST, 0, text, NULL }
#define FMT "\"format\":\"mltrack-bundle/1\""
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define REC(path) "{\"path\":\"" path "\",\"size\":0,\"sha256\":\"" EMPTY_SHA "\",\"mode\":\"0644\"}"

static const struct {
	const char *want;     /* in the message */
	struct ent ents[5];   /* in archive order */
	struct file listed[3];
} hostile[] = {
	{ "'..' segments", { M, { "../x", 0, "x", NULL } }, { { NULL, NULL } } },
	{ "'..' segments", { M, { "a/../../x", 0, "x", NULL } }, { { NULL, NULL } } },
	{ "absolute paths", { M, { "/etc/x", 0, "x", NULL } }, { { NULL, NULL } } },
	{ "backslash", { M, { "..\\x", 0, "x", NULL } }, { { NULL, NULL } } },
	{ "control character", { M, { "a\x01z", 0, "x", NULL } }, { { NULL, NULL } } },
	{ "empty segments", { M, { "a//b", 0, "x", NULL } }, { { NULL, NULL } } },
	{ "normalised form", { M, { "./a", 0, "x", NULL } }, { { "a", "x" } } },
	{ "entry 's' is a symbolic link", { M, { "s", 'l', NULL, "/etc/passwd" } },
	  { { NULL, NULL } } },
	{ "entry 'h' is a hard link", { M, { "a", 0, "x", NULL }, { "h", 'h', NULL, "a" } },
	  { { "a", "x" } } },
	{ "entry 'h' is a hard link", { M, { "h", 'h', NULL, "/etc/shadow" } },
	  { { "h", "" } } },
	{ "entry 'null' is a device", { M, { "null", 'c', NULL, NULL } }, { { NULL, NULL } } },
	{ "entry 'p' is a fifo", { M, { "p", 'p', NULL, NULL } }, { { NULL, NULL } } },
	{ "entry 'd/' is a directory", { M, { "d", 'd', NULL, NULL }, { "d/a", 0, "x", NULL } },
	  { { "d/a", "x" } } },
	{ "entry 'a' appears twice", { M, { "a", 0, "x", NULL }, { "a", 0, "x", NULL } },
	  { { "a", "x" } } },
	{ "entry 'MLTRACK-BUNDLE.json' appears twice", { M, M }, { { NULL, NULL } } },
	{ "entry 'b' is not listed", { M, { "a", 0, "x", NULL }, { "b", 0, "y", NULL } },
	  { { "a", "x" } } },
	{ "entry 'b' is out of order (expected 'a')",
	  { M, { "b", 0, "y", NULL }, { "a", 0, "x", NULL } }, { { "a", "x" }, { "b", "y" } } },
	{ "'b' is listed in MLTRACK-BUNDLE.json but not in the archive",
	  { M, { "a", 0, "x", NULL } }, { { "a", "x" }, { "b", "y" } } },
	{ "entry 'a' has 4 bytes, MLTRACK-BUNDLE.json says 3", { M, { "a", 0, "abcd", NULL } },
	  { { "a", "abc" } } },
	{ "entry 'a': SHA-256", { M, { "a", 0, "abd", NULL } }, { { "a", "abc" } } },
	{ "the first entry is 'a', not MLTRACK-BUNDLE.json", { { "a", 0, "x", NULL } },
	  { { NULL, NULL } } },
	{ "the first entry is 'a', not MLTRACK-BUNDLE.json", { { "a", 0, "x", NULL }, M },
	  { { "a", "x" } } },
	{ "the first entry is 'x/MLTRACK-BUNDLE.json'",
	  { { "x/" MT_BUNDLE_MANIFEST, 0, "{}", NULL } }, { { NULL, NULL } } },
	{ "entry 'MLTRACK-BUNDLE.json' is a symbolic link",
	  { { MT_BUNDLE_MANIFEST, 'l', NULL, "/etc/passwd" } }, { { NULL, NULL } } },
	{ "not valid JSON", { RAW("{\"format\":") }, { { NULL, NULL } } },
	{ "not valid JSON", { RAW("{" FMT "," FMT ",\"files\":[]}") }, { { NULL, NULL } } },
	{ "not a JSON object", { RAW("[]") }, { { NULL, NULL } } },
	{ "has no \"format\"", { RAW("{\"files\":[]}") }, { { NULL, NULL } } },
	{ "unsupported format 'mltrack-bundle/2'",
	  { RAW("{\"format\":\"mltrack-bundle/2\",\"files\":[]}") }, { { NULL, NULL } } },
	{ "has no \"files\" array", { RAW("{" FMT ",\"files\":{}}") }, { { NULL, NULL } } },
	{ "nests deeper than", { RAW("{" FMT ",\"files\":[],\"x\":"
				     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
				     "[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
				     "]]]]]]]]]]]]]]]}") }, { { NULL, NULL } } },
	{ "files[0]: Invalid path: '..' segments",
	  { RAW("{" FMT ",\"files\":[" REC("../x") "]}") }, { { NULL, NULL } } },
	{ "files[0]: Invalid path: absolute",
	  { RAW("{" FMT ",\"files\":[" REC("/etc/x") "]}") }, { { NULL, NULL } } },
	{ "files[0]: Invalid path: not in normalised form",
	  { RAW("{" FMT ",\"files\":[" REC("a/./b") "]}") }, { { NULL, NULL } } },
	{ "lists 'MLTRACK-BUNDLE.json', a name reserved",
	  { RAW("{" FMT ",\"files\":[" REC("MLTRACK-BUNDLE.json") "]}") }, { { NULL, NULL } } },
	{ "lists 'MLTRACK-BUNDLE.json/x', a name reserved",
	  { RAW("{" FMT ",\"files\":[" REC("MLTRACK-BUNDLE.json/x") "]}") }, { { NULL, NULL } } },
	{ "lists 'a' twice", { RAW("{" FMT ",\"files\":[" REC("a") "," REC("a") "]}") },
	  { { NULL, NULL } } },
	{ "not sorted by path (at 'a')", { RAW("{" FMT ",\"files\":[" REC("b") "," REC("a") "]}") },
	  { { NULL, NULL } } },
	{ "lists 'a' as a file and as a directory",
	  { RAW("{" FMT ",\"files\":[" REC("a") "," REC("a.txt") "," REC("a/b") "]}") },
	  { { NULL, NULL } } },
	{ "files[0] is not an object", { RAW("{" FMT ",\"files\":[\"a\"]}") }, { { NULL, NULL } } },
	{ "files[0] has no \"size\"",
	  { RAW("{" FMT ",\"files\":[{\"path\":\"a\",\"size\":-1,\"sha256\":\"" EMPTY_SHA
		"\",\"mode\":\"0644\"}]}") }, { { NULL, NULL } } },
	{ "files[0] has no \"size\"",
	  { RAW("{" FMT ",\"files\":[{\"path\":\"a\",\"size\":1.0,\"sha256\":\"" EMPTY_SHA
		"\",\"mode\":\"0644\"}]}") }, { { NULL, NULL } } },
	{ "files[0] has no \"sha256\"",
	  { RAW("{" FMT ",\"files\":[{\"path\":\"a\",\"size\":0,\"sha256\":\"E3B0C44298FC1C149AF"
		"BF4C8996FB92427AE41E4649B934CA495991B7852B855\",\"mode\":\"0644\"}]}") },
	  { { NULL, NULL } } },
	{ "files[0] has no \"mode\"",
	  { RAW("{" FMT ",\"files\":[{\"path\":\"a\",\"size\":0,\"sha256\":\"" EMPTY_SHA
		"\",\"mode\":\"0777\"}]}") }, { { NULL, NULL } } },
};

START_TEST(hostile_archive_is_refused)
{
	char path[64];
	size_t n = 0;

	while (n < N_ELEMS(hostile[_i].ents) && hostile[_i].ents[n].path)
		n++;
	snprintf(path, sizeof(path), "hostile-%d.tar", _i);
	craft(at(path), hostile[_i].ents, n, hostile[_i].listed, N_ELEMS(hostile[_i].listed));
	verify_fails(at(path), hostile[_i].want);
	unpack_fails(at(path), "new", NULL, MT_EINVAL, hostile[_i].want);
	puts_("dest/keep", "mine");
	unpack_fails(at(path), "dest", NULL, MT_EINVAL, hostile[_i].want);
	ck_assert(!exists(at("x")));
}
END_TEST

/* A hostile name is quoted safely: one line, control bytes as '?'. */
START_TEST(hostile_names_are_quoted)
{
	static const struct ent ents[] = { M, { "evil\nname\x1b[31m", 0, "x", NULL } };
	struct mt_err err = MT_ERR_INIT;

	craft(at("q.tar"), ents, 2, NULL, 0);
	ck_assert_int_eq(mt_bundle_verify(at("q.tar"), NULL, NULL, &err), -1);
	check_msg(&err, "Invalid bundle: ", "evil?name?[31m");
	ck_assert_ptr_null(strchr(err.msg, '\x1b'));
}
END_TEST

START_TEST(long_paths)
{
	char p1024[1100], p1025[1100], rel[1200];
	struct ent ents[] = { M, { p1024, 0, "x", NULL } };
	struct file listed[] = { { p1024, "x" } };
	json_t *m = NULL;
	struct mt_err err = MT_ERR_INIT;

	/* 1024 bytes in segments of at most 255: accepted, packed, round-tripped. */
	memset(p1024, 'a', 1024);
	for (size_t i = 200; i < 1024; i += 201)
		p1024[i] = '/';
	p1024[1024] = '\0';
	craft(at("ok.tar"), ents, 2, listed, 1);
	ck_assert_msg(mt_bundle_verify(at("ok.tar"), &m, NULL, &err) == 0, "%s", err.msg);
	json_decref(m);
	snprintf(rel, sizeof(rel), "src/%s", p1024);
	puts_(rel, "x");
	pack_ok(at("src"), NULL, at("packed.tar"), NULL);
	ck_assert_int_eq(mt_bundle_unpack(at("packed.tar"), at("out"), NULL, NULL, &err), 0);
	snprintf(rel, sizeof(rel), "out/%s", p1024);
	ck_assert(exists(at(rel)));

	/* 1025: refused in the archive, in the manifest and when packing. */
	memcpy(p1025, p1024, 1024);
	memcpy(p1025 + 1024, "b", 2);
	ents[1].path = p1025;
	craft(at("long.tar"), ents, 2, NULL, 0);
	verify_fails(at("long.tar"), "longer than 1024 bytes");
	listed[0].path = p1025;
	ents[1].path = p1024;
	craft(at("long2.tar"), ents, 2, listed, 1);
	verify_fails(at("long2.tar"), "files[0]: Invalid path: longer than 1024 bytes");
	snprintf(rel, sizeof(rel), "src2/%s", p1025);
	puts_(rel, "x");
	pack_fails(at("src2"), NULL, MT_EINVAL, "longer than 1024 bytes");
}
END_TEST

/* Keeps the first bytes written, drops the rest. */
struct head {
	char buf[4096];
	size_t n;
};

static la_ssize_t keep_head(struct archive *a, void *arg, const void *buf, size_t n)
{
	struct head *h = arg;
	size_t k = n < sizeof(h->buf) - h->n ? n : sizeof(h->buf) - h->n;

	(void)a;
	memcpy(h->buf + h->n, buf, k);
	h->n += k;
	return (la_ssize_t)n;
}

START_TEST(oversized_manifest_is_refused_unread)
{
	/* A header that claims MT_BUNDLE_MAX_MANIFEST + 1 bytes, and a little
	 * data: the size alone refuses it. */
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	static struct head h;

	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_none(a);
	archive_write_set_bytes_per_block(a, 512);
	ck_assert_int_eq(archive_write_open2(a, &h, NULL, keep_head, NULL, NULL), ARCHIVE_OK);
	archive_entry_set_pathname(ae, MT_BUNDLE_MANIFEST);
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, 0644);
	archive_entry_set_size(ae, MT_BUNDLE_MAX_MANIFEST + 1LL);
	ck_assert_int_eq(archive_write_header(a, ae), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_data(a, "{\"format\":", 10), 10);
	archive_entry_free(ae);
	archive_write_free(a); /* pads the 64 MiB with zeros, dropped */
	ck_assert_uint_eq(h.n, sizeof(h.buf));
	spit(at("big.tar"), h.buf, h.n);
	verify_fails(at("big.tar"), "larger than 64 MiB");
}
END_TEST

/* An archive of nfiles empty files f0000000..., each listed. */
static void many_files(const char *path, size_t nfiles)
{
	struct archive *a = writer(path);
	size_t cap = nfiles * 120 + 64, len = 0;
	char *text = malloc(cap);
	struct ent e = { MT_BUNDLE_MANIFEST, 0, NULL, NULL };
	char name[32];

	len += (size_t)snprintf(text + len, cap - len, "{" FMT ",\"files\":[");
	for (size_t i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "f%07zu", i);
		len += (size_t)snprintf(text + len, cap - len, "%s{\"path\":\"%s\",\"size\":0,"
					"\"sha256\":\"" EMPTY_SHA "\",\"mode\":\"0644\"}",
					i ? "," : "", name);
	}
	len += (size_t)snprintf(text + len, cap - len, "]}\n");
	e.data = text;
	write_entry(a, &e, NULL);
	for (size_t i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "f%07zu", i);
		e.path = name;
		e.data = "";
		write_entry(a, &e, NULL);
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	free(text);
}

START_TEST(entry_count_is_bounded)
{
	json_t *m = NULL;
	struct mt_err err = MT_ERR_INIT;

	many_files(at("over.tar"), MT_BUNDLE_MAX_FILES + 1);
	verify_fails(at("over.tar"), "lists 100001 files, more than 100000");
	unlink(at("over.tar"));
	many_files(at("limit.tar"), MT_BUNDLE_MAX_FILES);
	ck_assert_msg(mt_bundle_verify(at("limit.tar"), &m, NULL, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(json_array_size(json_object_get(m, "files")), MT_BUNDLE_MAX_FILES);
	json_decref(m);
}
END_TEST

Suite *make_bundle_suite(void)
{
	Suite *s = suite_create("bundle");
	TCase *tc;

	tc = tcase_create("determinism");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, same_tree_same_bytes);
	tcase_add_test(tc, changed_byte_changes_digest);
	tcase_add_test(tc, headers_are_normalised);
	tcase_add_test(tc, locale_does_not_matter);
	suite_add_tcase(s, tc);

	tc = tcase_create("manifest");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, manifest_contents);
	tcase_add_test(tc, symlink_inside_is_stored_as_a_file);
	tcase_add_test(tc, empty_directory_gives_a_manifest_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("pack_refusals");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, pack_refuses_symlink_outside);
	tcase_add_test(tc, pack_refuses_special_files);
	tcase_add_test(tc, pack_refuses_bad_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("round_trip");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, round_trip_into_a_new_directory);
	tcase_add_test(tc, round_trip_into_an_existing_directory);
	tcase_add_test(tc, unpack_conflicts_leave_dest_untouched);
	tcase_add_test(tc, verify_variants_agree);
	suite_add_tcase(s, tc);

	tc = tcase_create("tampering");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, flipped_byte_is_detected);
	tcase_add_test(tc, truncated_and_garbage_are_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, hostile_archive_is_refused, 0, (int)N_ELEMS(hostile));
	tcase_add_test(tc, hostile_names_are_quoted);
	tcase_add_test(tc, long_paths);
	tcase_add_test(tc, oversized_manifest_is_refused_unread);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, entry_count_is_bounded);
	suite_add_tcase(s, tc);
	return s;
}
