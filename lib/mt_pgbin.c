/* mt_pgbin.c: PostgreSQL's binary array format (mt_pgbin.h). */
#include "mt_pgbin.h"

#include <stdint.h>
#include <string.h>

static char *put_u32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
	return p + 4;
}

static char *put_u64(char *p, uint64_t v)
{
	return put_u32(put_u32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

char *mt_pgbin_header(char *p, int has_null, unsigned oid, size_t n)
{
	p = put_u32(p, 1);
	p = put_u32(p, has_null ? 1 : 0);
	p = put_u32(p, oid);
	p = put_u32(p, (uint32_t)n);
	return put_u32(p, 1);
}

char *mt_pgbin_text(char *p, const char *s, size_t len)
{
	p = put_u32(p, (uint32_t)len);
	memcpy(p, s, len);
	return p + len;
}

char *mt_pgbin_null(char *p)
{
	return put_u32(p, UINT32_MAX); /* -1 */
}

char *mt_pgbin_i64(char *p, long long v)
{
	return put_u64(put_u32(p, 8), (uint64_t)v);
}

char *mt_pgbin_f64(char *p, double v)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof(bits));
	return put_u64(put_u32(p, 8), bits);
}
