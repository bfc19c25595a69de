/*
 * archive_lazy.c: libarchive for the CLI, loaded on first use.
 *
 * Only `mltrack model register` and `mltrack model pull` touch bundles
 * (lib/mt_bundle.c), yet a normally linked libarchive, with its own tree of
 * compression and XML libraries, is mapped and relocated at the start of
 * every mltrack command: about 7 ms of CPU, paid by each `mltrack run` that
 * wraps a training command (docs/PERFORMANCE.md, issue 4's overhead).  So
 * the CLI is not linked with -larchive.  This file defines the libarchive
 * functions mt_bundle.c calls, each a trampoline that resolves the real one
 * from libarchive.so.13 (dlopen, once) on its first call.  The prototypes
 * come from archive.h itself, so a mismatch with the library's header is a
 * compile error.  mltrackd links libarchive normally.
 *
 * If the library cannot be loaded (it is a dependency of libarchive-dev, so
 * only a broken installation lacks it), the command stops with a message
 * and exit status 3.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <archive.h>
#include <archive_entry.h>

#define LIBARCHIVE "libarchive.so.13"

static void *lib;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	lib = dlopen(LIBARCHIVE, RTLD_NOW | RTLD_LOCAL);
}

static void *sym(const char *name)
{
	void *p;

	pthread_once(&once, load);
	p = lib ? dlsym(lib, name) : NULL;
	if (!p) {
		fprintf(stderr, "mltrack: cannot use %s (%s): %s\n", LIBARCHIVE, name,
			lib ? "symbol missing" : dlerror());
		exit(3);
	}
	return p;
}

/* One trampoline: the function pointer is resolved once, then called. */
#define LAZY(ret, name, params, args)                                        \
	ret name params                                                      \
	{                                                                    \
		static ret(*fp) params;                                      \
		if (!fp)                                                     \
			*(void **)&fp = sym(#name);                          \
		return fp args;                                              \
	}

LAZY(struct archive *, archive_read_new, (void), ())
LAZY(int, archive_read_free, (struct archive *a), (a))
LAZY(int, archive_read_support_format_tar, (struct archive *a), (a))
LAZY(int, archive_read_open,
     (struct archive *a, void *d, archive_open_callback *o, archive_read_callback *r,
      archive_close_callback *c),
     (a, d, o, r, c))
LAZY(int, archive_read_open_memory, (struct archive *a, const void *buf, size_t n), (a, buf, n))
LAZY(int, archive_read_next_header, (struct archive *a, struct archive_entry **e), (a, e))
LAZY(int, archive_read_data_block,
     (struct archive *a, const void **buf, size_t *n, la_int64_t *off), (a, buf, n, off))
LAZY(const char *, archive_error_string, (struct archive *a), (a))

LAZY(struct archive *, archive_write_new, (void), ())
LAZY(int, archive_write_free, (struct archive *a), (a))
LAZY(int, archive_write_close, (struct archive *a), (a))
LAZY(int, archive_write_add_filter_none, (struct archive *a), (a))
LAZY(int, archive_write_set_format_pax_restricted, (struct archive *a), (a))
LAZY(int, archive_write_set_format_option,
     (struct archive *a, const char *m, const char *o, const char *v), (a, m, o, v))
LAZY(int, archive_write_set_bytes_per_block, (struct archive *a, int n), (a, n))
LAZY(int, archive_write_set_bytes_in_last_block, (struct archive *a, int n), (a, n))
LAZY(int, archive_write_open2,
     (struct archive *a, void *d, archive_open_callback *o, archive_write_callback *w,
      archive_close_callback *c, archive_free_callback *f),
     (a, d, o, w, c, f))
LAZY(int, archive_write_header, (struct archive *a, struct archive_entry *e), (a, e))
LAZY(la_ssize_t, archive_write_data, (struct archive *a, const void *buf, size_t n),
     (a, buf, n))

LAZY(struct archive_entry *, archive_entry_new, (void), ())
LAZY(void, archive_entry_free, (struct archive_entry *e), (e))
LAZY(__LA_MODE_T, archive_entry_filetype, (struct archive_entry *e), (e))
LAZY(const char *, archive_entry_pathname, (struct archive_entry *e), (e))
LAZY(const char *, archive_entry_hardlink, (struct archive_entry *e), (e))
LAZY(const char *, archive_entry_symlink, (struct archive_entry *e), (e))
LAZY(la_int64_t, archive_entry_size, (struct archive_entry *e), (e))
LAZY(int, archive_entry_size_is_set, (struct archive_entry *e), (e))
LAZY(int, archive_entry_sparse_count, (struct archive_entry *e), (e))
LAZY(void, archive_entry_set_pathname, (struct archive_entry *e, const char *p), (e, p))
LAZY(void, archive_entry_set_size, (struct archive_entry *e, la_int64_t n), (e, n))
LAZY(void, archive_entry_set_filetype, (struct archive_entry *e, unsigned int t), (e, t))
LAZY(void, archive_entry_set_perm, (struct archive_entry *e, __LA_MODE_T m), (e, m))
LAZY(void, archive_entry_set_uid, (struct archive_entry *e, la_int64_t id), (e, id))
LAZY(void, archive_entry_set_gid, (struct archive_entry *e, la_int64_t id), (e, id))
LAZY(void, archive_entry_set_mtime, (struct archive_entry *e, time_t t, long ns), (e, t, ns))

/* Variadic: formatted here, handed on as one string. */
void archive_set_error(struct archive *a, int err, const char *fmt, ...)
{
	static void (*fp)(struct archive *, int, const char *, ...);
	char msg[1024];
	va_list ap;

	if (!fp)
		*(void **)&fp = sym("archive_set_error");
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fp(a, err, "%s", msg);
}
