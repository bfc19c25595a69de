/*
 * mt_arena: request-lifetime memory with cleanups (h2o's req->pool, PG's
 * memory-context reset callbacks).
 *
 * A worker owns one arena and resets it after every request.  Memory from
 * mt_arena_alloc() and friends is valid until the next reset and is never
 * freed individually.  Anything that is not arena memory (a PGresult, a
 * json_t, a FILE, a temporary file) is tied to the arena with
 * mt_arena_defer(): cleanups run last-in-first-out at reset and release.
 *
 * Allocation failure aborts: a server that cannot get a few KiB cannot answer
 * anyway, and checking every arena call would bury the handlers.
 */
#ifndef MT_ARENA_H
#define MT_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct mt_arena_block;
struct mt_arena_defer;

struct mt_arena {
	struct mt_arena_block *head;  /* current block (owned) */
	struct mt_arena_defer *defers;
	size_t keep;                  /* bytes of blocks kept across resets */
};

void mt_arena_init(struct mt_arena *a);
/* Run cleanups, free all blocks beyond the first `keep` bytes. */
void mt_arena_reset(struct mt_arena *a);
/* Run cleanups and free everything. */
void mt_arena_release(struct mt_arena *a);

/* Borrowed from the arena: zeroed, 16-byte aligned. */
void *mt_arena_alloc(struct mt_arena *a, size_t n);
/* The same, not zeroed. */
void *mt_arena_alloc_uninit(struct mt_arena *a, size_t n);
/* Whether p points into one of the arena's blocks (memory it handed out
 * since the last reset, or the kept block). */
int mt_arena_owns(const struct mt_arena *a, const void *p);
char *mt_arena_strdup(struct mt_arena *a, const char *s);
char *mt_arena_strndup(struct mt_arena *a, const char *s, size_t n);
char *mt_arena_printf(struct mt_arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
char *mt_arena_vprintf(struct mt_arena *a, const char *fmt, va_list ap);

/* Bytes of blocks waiting in the pool shared by all arenas (blocks from
 * 64 KiB up given back at resets, at most 4 MiB, emptied after a second
 * unused). */
size_t mt_arena_pooled(void);

/* Register fn(ptr) to run at the next reset (LIFO).  ptr may be NULL, in
 * which case nothing is registered. */
void mt_arena_defer(struct mt_arena *a, void (*fn)(void *), void *ptr);

#endif
