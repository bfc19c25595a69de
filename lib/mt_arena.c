/* mt_arena.c: see mt_arena.h. */
#include "mt_arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_MIN (16 * 1024)
#define KEEP_MAX (256 * 1024)

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

void mt_arena_reset(struct mt_arena *a)
{
	struct mt_arena_block *b, *keep = NULL;

	run_defers(a);
	/* Keep the oldest block if it is small enough; free the rest. */
	for (b = a->head; b;) {
		struct mt_arena_block *prev = b->prev;

		if (!prev && b->size <= KEEP_MAX) {
			keep = b;
			keep->used = 0;
		} else {
			free(b);
		}
		b = prev;
	}
	a->head = keep;
}

void mt_arena_release(struct mt_arena *a)
{
	run_defers(a);
	while (a->head) {
		struct mt_arena_block *prev = a->head->prev;

		free(a->head);
		a->head = prev;
	}
}

void *mt_arena_alloc(struct mt_arena *a, size_t n)
{
	struct mt_arena_block *b = a->head;
	size_t need = (n + 15) & ~(size_t)15;
	void *p;

	if (need < n)
		abort();
	if (!b || b->size - b->used < need) {
		size_t size = need > BLOCK_MIN ? need : BLOCK_MIN;

		if (b && b->size * 2 > size && b->size * 2 <= 1024 * 1024)
			size = b->size * 2 > need ? b->size * 2 : need;
		b = xmalloc(sizeof(*b) + size);
		b->prev = a->head;
		b->size = size;
		b->used = 0;
		a->head = b;
	}
	p = b->data + b->used;
	b->used += need;
	memset(p, 0, n);
	return p;
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
