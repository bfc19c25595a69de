/*
 * mt_pgbin: one-dimensional arrays in PostgreSQL's binary format, the
 * format of a parameter sent with format 1 and read by array_recv: a header
 * of five big-endian 32-bit integers (dimensions: 1; whether any element is
 * NULL; the element type's OID; the length; the lower bound: 1), then each
 * element as a big-endian 32-bit length (-1: NULL) and its bytes in the
 * element type's binary format (int8 and float8: 8 bytes, big-endian, a
 * float8 as its IEEE 754 bits; text: the bytes themselves).
 *
 * mltrackd sends a batch's points this way (server/db.c, db_bin_*): no
 * digits written, none parsed by the server, every double bit for bit.
 * The writers put at p and return the byte after what they wrote; sizing
 * the buffer is the caller's (MT_PGBIN_HEADER, then MT_PGBIN_NUM per number
 * and 4 + length per text).
 */
#ifndef MT_PGBIN_H
#define MT_PGBIN_H

#include <stddef.h>

#define MT_PGBIN_OID_INT8 20u
#define MT_PGBIN_OID_TEXT 25u
#define MT_PGBIN_OID_FLOAT8 701u

#define MT_PGBIN_HEADER 20 /* bytes of the header */
#define MT_PGBIN_NUM 12    /* bytes of an int8 or float8 element */

char *mt_pgbin_header(char *p, int has_null, unsigned oid, size_t n);
char *mt_pgbin_text(char *p, const char *s, size_t len);
char *mt_pgbin_null(char *p);
char *mt_pgbin_i64(char *p, long long v);
char *mt_pgbin_f64(char *p, double v);

#endif
