/*
 * git_lazy.c: libgit2 for the CLI, loaded only when a command needs it.
 *
 * Only `mltrack run` started inside a git work tree reads git provenance
 * (git.c), yet a normally linked libgit2, with its mbedTLS, http-parser and
 * PCRE2, is mapped and relocated at the start of every mltrack command and
 * copied by every fork: about 1.5 ms of each start on the machine of
 * docs/PERFORMANCE.md.  So the CLI is not linked with -lgit2.  This file
 * defines the libgit2 functions git.c calls, each a trampoline through a
 * pointer that cli_git_load() resolves, all at once, from the library the
 * headers belong to (libgit2.so.<LIBGIT2_SOVERSION>, dlopen).  The
 * prototypes come from git2.h itself, so a mismatch with the library's
 * header is a compile error, and the loaded library must report the
 * header's major and minor version.
 *
 * Unlike libarchive (archive_lazy.c), a libgit2 that cannot be loaded stops
 * nothing: cli_git_load() says why, and `mltrack run` records the run
 * without provenance, with a warning.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include <git2.h>

#include "git.h"

#define LIBGIT2 "libgit2.so." LIBGIT2_SOVERSION

/* Every libgit2 function git.c uses: X(return type, name, parameters, arguments). */
#define GIT_FUNCS(X, V)                                                                   \
	X(int, git_libgit2_init, (void), ())                                              \
	X(int, git_libgit2_shutdown, (void), ())                                          \
	X(int, git_libgit2_version, (int *major, int *minor, int *rev), (major, minor, rev)) \
	X(const git_error *, git_error_last, (void), ())                                  \
	X(int, git_repository_open_ext,                                                   \
	  (git_repository **out, const char *path, unsigned int flags, const char *ceiling), \
	  (out, path, flags, ceiling))                                                    \
	X(int, git_repository_is_bare, (const git_repository *repo), (repo))              \
	X(const char *, git_repository_workdir, (const git_repository *repo), (repo))     \
	V(git_repository_free, (git_repository *repo), (repo))                            \
	X(int, git_repository_head, (git_reference **out, git_repository *repo), (out, repo)) \
	X(int, git_repository_config_snapshot, (git_config **out, git_repository *repo),  \
	  (out, repo))                                                                    \
	X(int, git_reference_lookup,                                                      \
	  (git_reference **out, git_repository *repo, const char *name), (out, repo, name)) \
	X(int, git_reference_peel,                                                        \
	  (git_object **out, const git_reference *ref, git_object_t type), (out, ref, type)) \
	X(git_reference_t, git_reference_type, (const git_reference *ref), (ref))          \
	X(const char *, git_reference_symbolic_target, (const git_reference *ref), (ref)) \
	V(git_reference_free, (git_reference *ref), (ref))                                \
	X(const git_oid *, git_object_id, (const git_object *obj), (obj))                 \
	V(git_object_free, (git_object *obj), (obj))                                      \
	X(char *, git_oid_tostr, (char *out, size_t n, const git_oid *id), (out, n, id))  \
	V(git_tree_free, (git_tree *tree), (tree))                                        \
	X(int, git_config_get_string_buf, (git_buf *out, const git_config *cfg, const char *name), \
	  (out, cfg, name))                                                               \
	X(int, git_config_iterator_new, (git_config_iterator **out, const git_config *cfg), \
	  (out, cfg))                                                                     \
	X(int, git_config_next, (git_config_entry **entry, git_config_iterator *iter),    \
	  (entry, iter))                                                                  \
	V(git_config_iterator_free, (git_config_iterator *iter), (iter))                  \
	V(git_config_free, (git_config *cfg), (cfg))                                      \
	V(git_buf_dispose, (git_buf *buffer), (buffer))                                   \
	X(int, git_diff_options_init, (git_diff_options *opts, unsigned int version),     \
	  (opts, version))                                                                \
	X(int, git_diff_tree_to_workdir_with_index,                                       \
	  (git_diff **diff, git_repository *repo, git_tree *old_tree,                     \
	   const git_diff_options *opts),                                                 \
	  (diff, repo, old_tree, opts))                                                   \
	X(size_t, git_diff_num_deltas, (const git_diff *diff), (diff))                    \
	X(int, git_diff_print,                                                            \
	  (git_diff *diff, git_diff_format_t format, git_diff_line_cb print_cb, void *payload), \
	  (diff, format, print_cb, payload))                                              \
	V(git_diff_free, (git_diff *diff), (diff))

/* The pointers, and a trampoline of the library's name for each. */
#define POINTER(ret, name, params, args) static ret(*p_##name) params;
#define POINTER_V(name, params, args) static void(*p_##name) params;
GIT_FUNCS(POINTER, POINTER_V)

#define TRAMPOLINE(ret, name, params, args) \
	ret name params                     \
	{                                   \
		return p_##name args;       \
	}
#define TRAMPOLINE_V(name, params, args) \
	void name params                 \
	{                                \
		p_##name args;           \
	}
GIT_FUNCS(TRAMPOLINE, TRAMPOLINE_V)

#define ENTRY(ret, name, params, args) { #name, (void **)&p_##name },
#define ENTRY_V(name, params, args) { #name, (void **)&p_##name },
static const struct {
	const char *name;
	void **slot;
} table[] = { GIT_FUNCS(ENTRY, ENTRY_V) };

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[256]; /* "" once every pointer is set */

static void load(void)
{
	void *lib = dlopen(LIBGIT2, RTLD_NOW | RTLD_LOCAL);
	int major = 0, minor = 0, rev = 0;

	if (!lib) {
		snprintf(load_error, sizeof(load_error), "cannot load %s: %s", LIBGIT2, dlerror());
		return;
	}
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (!(*table[i].slot = dlsym(lib, table[i].name))) {
			snprintf(load_error, sizeof(load_error), "%s has no %s", LIBGIT2, table[i].name);
			return;
		}
	}
	p_git_libgit2_version(&major, &minor, &rev);
	if (major != LIBGIT2_VER_MAJOR || minor != LIBGIT2_VER_MINOR) {
		snprintf(load_error, sizeof(load_error), "%s is version %d.%d, not %s", LIBGIT2,
			 major, minor, LIBGIT2_SOVERSION);
		return;
	}
	/* Kept loaded to the end: git.c pairs every git_libgit2_init with a
	 * git_libgit2_shutdown, which releases what libgit2 holds. */
}

int cli_git_load(char *err, size_t n)
{
	pthread_once(&once, load);
	if (!load_error[0])
		return 0;
	if (err && n)
		snprintf(err, n, "%s", load_error);
	return -1;
}

/*
 * libgit2's start (git_libgit2_init) also starts its HTTPS transport, and
 * Debian's libgit2, built with mbedTLS, then parses the whole system CA
 * bundle (/etc/ssl/certs/ca-certificates.crt, ~140 certificates, PEM):
 * about 5 ms of CPU in each `mltrack run`, a fifth of all it spends, for
 * certificates that mltrack never uses, because it asks libgit2 for local
 * reads only (git.h: no fetch, no clone, no remote of any kind).  There is
 * no libgit2 option to skip it (the init functions all run), so mltrack
 * defines mbedtls_x509_crt_parse_file itself, and the executable exports it
 * (-Wl,--export-dynamic-symbol, Makefile): the libgit2 loaded above binds
 * to it before its own libmbedx509, as any library binds to a symbol the
 * executable exports, and its CA chain stays empty.  Were libgit2 ever asked
 * to talk HTTPS in this process, every certificate would fail verification:
 * the failure is closed, not open.  Nothing else in mltrack uses mbedTLS
 * (libcurl uses OpenSSL).  A libgit2 built on OpenSSL never calls it.
 */
#if __has_include(<mbedtls/x509_crt.h>)
#include <mbedtls/x509_crt.h>

int mbedtls_x509_crt_parse_file(mbedtls_x509_crt *chain, const char *path)
{
	(void)chain;
	(void)path;
	return 0; /* no certificate added, none failed */
}
#endif
