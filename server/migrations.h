/* migrations.h: the migrations embedded at build time (migrations_gen.c). */
#ifndef MT_MIGRATIONS_H
#define MT_MIGRATIONS_H
#include <stddef.h>

struct mt_migration {
	int version;
	const char *name;
	const unsigned char *sql; /* NUL-terminated */
	size_t len;
};

extern const struct mt_migration mt_migrations[];
extern const size_t mt_migrations_count;
#endif
