/*
 * s3.h: the S3 client behind --artifacts-root s3://BUCKET/PREFIX (store.c).
 *
 * Requests are signed with AWS Signature V4 by libcurl (CURLOPT_AWS_SIGV4)
 * and always carry the payload's SHA-256 in x-amz-content-sha256, which the
 * signature covers and the server checks against the bytes it receives: a
 * body damaged on the way is refused, not stored.  Addressing is path-style
 * (ENDPOINT/BUCKET/KEY), which AWS and every S3-compatible store accept.
 *
 * Keys given to these functions are relative to PREFIX.  Failures come back
 * as MT_EUNAVAIL (503, retryable: the store is unreachable, timed out or
 * answered 5xx), MT_ENOSPACE (507: a quota) or MT_EINTERNAL (refused: bad
 * credentials, no such bucket), with the store's own code in the detail.
 */
#ifndef MT_S3_H
#define MT_S3_H

#include <stddef.h>
#include <stdio.h>

#include "mt_error.h"

/* Parse uri (s3://BUCKET[/PREFIX]) and read the endpoint, region and
 * credentials: endpoint and region from the arguments when set, else
 * AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS_REGION, AWS_DEFAULT_REGION
 * (us-east-1; endpoint https://s3.REGION.amazonaws.com); credentials from
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN only.  The
 * secret is registered for redaction.  Call once, before threads start. */
int s3_configure(const char *uri, const char *endpoint, const char *region, struct mt_err *err);
/* Configured: artifacts live in S3. */
int s3_enabled(void);
/* "s3://BUCKET/PREFIX at ENDPOINT" for logs. */
const char *s3_describe(void);
void s3_shutdown(void);

/* HEAD: *found and the object's *size. */
int s3_head(const char *key, int *found, long long *size, struct mt_err *err);
/* The size bytes of fd (from offset 0) under key, whose SHA-256 is sha;
 * one PUT up to S3_PART bytes, a multipart upload above (each part's own
 * digest signed), aborted on failure. */
int s3_put_file(const char *key, int fd, long long size, const char *sha, struct mt_err *err);
/* GET: sink(ctx, NULL, length) once the store has answered 200, then
 * sink(ctx, bytes, n) for the body.  A sink returning non-zero stops the
 * transfer: s3_get then returns 1 (the sink's reason is its own).  Before
 * the first call to sink, a failure is an error in err, like any other. */
typedef int (*s3_sink)(void *ctx, const void *buf, size_t n);
int s3_get(const char *key, s3_sink sink, void *ctx, struct mt_err *err);
/* DELETE; a missing object is not an error. */
int s3_delete(const char *key, struct mt_err *err);
/* Every object under prefix, in key order: each(ctx, key relative to
 * PREFIX, size, last-modified in seconds since the epoch); non-zero from
 * each stops the listing with that value. */
typedef int (*s3_each)(void *ctx, const char *key, long long size, long long mtime);
int s3_list(const char *prefix, s3_each each, void *ctx, struct mt_err *err);
/* Multipart uploads under prefix started before min_start (epoch seconds)
 * and never completed: aborted (or only counted, with dry_run). */
int s3_abort_stale_uploads(const char *prefix, long long min_start, int dry_run, long long *count,
			   struct mt_err *err);
/* Counters for /metrics: requests by method and outcome, bytes each way. */
void s3_metrics(FILE *f);
/* The bucket answers (HEAD bucket). */
int s3_check(struct mt_err *err);

#endif
