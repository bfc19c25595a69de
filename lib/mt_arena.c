/* mt_arena.c: see mt_arena.h. */
#include "mt_arena.h"
#include "mt_util.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_MIN (16 * 1024)
#define BLOCK_MAX (1024 * 1024)
#define KEEP_MAX (256 * 1024)
/* Blocks from 64 KiB up that a reset gives back wait in one pool shared by
 * every arena, up to POOL_MAX bytes, for the next request that needs that
 * much.  A 1000-point log-batch takes about 1 MiB of blocks (its body's
 * tree): freed at each reset, malloc returned them to the kernel and the
 * next request faulted every page in again, a tenth of mltrackd's CPU on
 * that load.  The pool holds what concurrent requests use, never more than
 * POOL_MAX, however many workers there are, and is emptied (back to malloc)
 * at the first reset after a second in which nothing was taken from it: a
 * burst of big requests does not leave its blocks resident. */
#define POOL_MIN (64 * 1024)
#define POOL_MAX (4 * 1024 * 1024)
#define POOL_IDLE_NS 1000000000LL

struct mt_arena_block {
	struct mt_arena_block *prev;
	size_t size;
	size_t used;
	_Alignas(16) unsigned char data[];
};

struct mt_arena_defer {
	struct mt_arena_defer *prev;
	void (*fn)(void *);
	void *ptr;
};

static struct {
	pthread_mutex_t mu;
	struct mt_arena_block *free; /* linked by prev */
	size_t bytes;
	long long used_ns;           /* last take, or the first put into it empty */
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void free_list(struct mt_arena_block *b)
{
	while (b) {
		struct mt_arena_block *prev = b->prev;

		free(b);
		b = prev;
	}
}

/* Give b to the pool, or back to malloc when the pool is full. */
static void block_put(struct mt_arena_block *b)
{
	if (b->size >= POOL_MIN) {
		pthread_mutex_lock(&pool.mu);
		if (pool.bytes + b->size <= POOL_MAX) {
			if (!pool.free)
				pool.used_ns = mt_mono_ns();
			b->prev = pool.free;
			pool.free = b;
			__atomic_store_n(&pool.bytes, pool.bytes + b->size, __ATOMIC_RELAXED);
			b = NULL;
		}
		pthread_mutex_unlock(&pool.mu);
	}
	free(b);
}

/* A pooled block of at least `size` bytes and at most twice that, or NULL. */
static struct mt_arena_block *block_take(size_t size)
{
	struct mt_arena_block *b = NULL, **p;

	if (size < POOL_MIN || !__atomic_load_n(&pool.bytes, __ATOMIC_RELAXED))
		return NULL;
	pthread_mutex_lock(&pool.mu);
	for (p = &pool.free; *p; p = &(*p)->prev) {
		if ((*p)->size >= size && (*p)->size / 2 <= size) {
			b = *p;
			*p = b->prev;
			__atomic_store_n(&pool.bytes, pool.bytes - b->size, __ATOMIC_RELAXED);
			pool.used_ns = mt_mono_ns();
			break;
		}
	}
	pthread_mutex_unlock(&pool.mu);
	return b;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p) {
		fputs("mltrack: out of memory\n", stderr);
		abort();
	}
	return p;
}

void mt_arena_init(struct mt_arena *a)
{
	a->head = NULL;
	a->defers = NULL;
	a->keep = 0;
}

static void run_defers(struct mt_arena *a)
{
	while (a->defers) {
		struct mt_arena_defer *d = a->defers;

		a->defers = d->prev;
		d->fn(d->ptr);
	}
}

/* The one place the pool is emptied: at a reset or release, when nothing
 * was taken from it for POOL_IDLE_NS (what a burst of big requests left). */
static void pool_trim(void)
{
	struct mt_arena_block *stale = NULL;

	if (!__atomic_load_n(&pool.bytes, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&pool.mu);
	if (pool.free && mt_mono_ns() - pool.used_ns > POOL_IDLE_NS) {
		stale = pool.free;
		pool.free = NULL;
		__atomic_store_n(&pool.bytes, 0, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&pool.mu);
	free_list(stale);
}

size_t mt_arena_pooled(void)
{
	return __atomic_load_n(&pool.bytes, __ATOMIC_RELAXED);
}

void mt_arena_reset(struct mt_arena *a)
{
	struct mt_arena_block *b, *keep = NULL;

	run_defers(a);
	pool_trim();
	/* Keep the oldest block if it is small enough; free the rest. */
	for (b = a->head; b;) {
		struct mt_arena_block *prev = b->prev;

		if (!prev && b->size <= KEEP_MAX) {
			keep = b;
			keep->used = 0;
		} else {
			block_put(b);
		}
		b = prev;
	}
	a->head = keep;
}

void mt_arena_release(struct mt_arena *a)
{
	run_defers(a);
	pool_trim();
	while (a->head) {
		struct mt_arena_block *prev = a->head->prev;

		block_put(a->head);
		a->head = prev;
	}
}

void *mt_arena_alloc_uninit(struct mt_arena *a, size_t n)
{
	struct mt_arena_block *b = a->head;
	size_t need = (n + 15) & ~(size_t)15;
	void *p;

	if (need < n)
		abort();
	if (!b || b->size - b->used < need) {
		/* Each block twice the last, up to BLOCK_MAX. */
		size_t size = b ? (b->size * 2 < BLOCK_MAX ? b->size * 2 : BLOCK_MAX) : BLOCK_MIN;

		if (size < need)
			size = need;
		b = block_take(size);
		if (b) {
			size = b->size;
		} else {
			b = xmalloc(sizeof(*b) + size);
		}
		b->prev = a->head;
		b->size = size;
		b->used = 0;
		a->head = b;
	}
	p = b->data + b->used;
	b->used += need;
	return p;
}

void *mt_arena_alloc(struct mt_arena *a, size_t n)
{
	void *p = mt_arena_alloc_uninit(a, n);

	memset(p, 0, n);
	return p;
}

int mt_arena_owns(const struct mt_arena *a, const void *p)
{
	uintptr_t q = (uintptr_t)p;

	/* As integers: p may come from anywhere. */
	for (const struct mt_arena_block *b = a->head; b; b = b->prev)
		if (q >= (uintptr_t)b->data && q - (uintptr_t)b->data < b->size)
			return 1;
	return 0;
}

char *mt_arena_strndup(struct mt_arena *a, const char *s, size_t n)
{
	char *p = mt_arena_alloc(a, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *mt_arena_strdup(struct mt_arena *a, const char *s)
{
	return s ? mt_arena_strndup(a, s, strlen(s)) : NULL;
}

char *mt_arena_vprintf(struct mt_arena *a, const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	char *p;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return mt_arena_strdup(a, "");
	p = mt_arena_alloc(a, (size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *mt_arena_printf(struct mt_arena *a, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = mt_arena_vprintf(a, fmt, ap);
	va_end(ap);
	return p;
}

void mt_arena_defer(struct mt_arena *a, void (*fn)(void *), void *ptr)
{
	struct mt_arena_defer *d;

	if (!ptr)
		return;
	d = mt_arena_alloc(a, sizeof(*d));
	d->fn = fn;
	d->ptr = ptr;
	d->prev = a->defers;
	a->defers = d;
}
