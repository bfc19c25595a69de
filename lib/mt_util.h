/*
 * mt_util: small helpers both binaries need: wall-clock milliseconds, random
 * ids, MLflow-style generated run names, SHA-256 of a buffer (OpenSSL EVP).
 */
#ifndef MT_UTIL_H
#define MT_UTIL_H

#include <stddef.h>

#include "mt_error.h"

/* Unix epoch milliseconds. */
long long mt_now_ms(void);
/* Monotonic nanoseconds, for durations. */
long long mt_mono_ns(void);
/* 32 lowercase hex chars of randomness (uuid4 hex shape) + NUL into out[33]. */
int mt_random_hex32(char out[33], struct mt_err *err);
/* "adjective-noun-NN" into out (at least 64 bytes). */
void mt_run_name_generate(char *out, size_t size);
/* Hex SHA-256 of a buffer into out[65]. */
void mt_sha256_hex(char out[65], const void *data, size_t n);
/* n bytes as lowercase hex into out (2n + 1 bytes, NUL-terminated). */
void mt_hex(char *out, const unsigned char *bytes, size_t n);
/* The value of one hex digit (either case), or -1 for any other char. */
int mt_hexval(char c);
/* mkdir -p: every missing directory of path, the last with mode, the
 * parents 0755.  0, or -1 with errno. */
int mt_mkdir_p(const char *path, unsigned mode);
/* rm -rf path: a file, or a directory and everything under it (symbolic
 * links are removed, never followed).  A missing path is not an error.
 * 0, or -1 with errno at the first failure. */
int mt_remove_tree(const char *path);
/* write(2) all n bytes, again after EINTR and short writes.  0, or -1 with
 * errno (ENOSPC when the file takes no more). */
int mt_write_all(int fd, const void *buf, size_t n);

#endif
