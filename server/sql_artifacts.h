/* sql_artifacts.h: artifact rows and blobs (SQL in sql_artifacts.c). */
#ifndef MT_SQL_ARTIFACTS_H
#define MT_SQL_ARTIFACTS_H

#include "server.h"

/* Record path -> blob (the blob row too), replacing an earlier upload. */
int sql_art_put(struct mt_req *req, const char *path, const char *sha256, long long size,
		const char *run_id, struct mt_err *err);
/* The blob of a file artifact; ENOTFOUND when there is no such file.
 * *sha256 is request memory. */
int sql_art_get(struct mt_req *req, const char *path, const char **sha256, long long *size,
		struct mt_err *err);
/* Delete a file, or a directory and everything under it.  *n: rows deleted. */
int sql_art_delete(struct mt_req *req, const char *path, long long *n, struct mt_err *err);
/* One directory level under dir ("" for the root) as FileInfo objects whose
 * path is made by name_prefix + the entry's name.  Appends to list. */
int sql_art_list(struct mt_req *req, const char *dir, const char *name_prefix, json_t *list,
		 struct mt_err *err);


/* ---- the blob lock and mltrackd gc (see sql_artifacts.c) ---- */
struct sql_blob {
	const char *sha256; /* request memory */
	long long size;
};

/* Take the blob's advisory lock until the end of the transaction: shared
 * before adding a reference to it, exclusive before removing it. */
int sql_art_lock_blob(struct mt_req *req, const char *sha256, int exclusive, struct mt_err *err);
/* Up to limit unreferenced blobs with digests after `after` ("" first), in
 * digest order.  *out is request memory. */
int sql_art_gc_page(struct mt_req *req, const char *after, int limit, struct sql_blob **out,
		    int *n, struct mt_err *err);
/* Delete the blob's row if nothing refers to it (checked in the same
 * statement): *deleted, and the size it had. */
int sql_art_gc_delete(struct mt_req *req, const char *sha256, int *deleted, long long *size,
		      struct mt_err *err);
/* known[i] = whether blobs has a row for sha256[i]. */
int sql_art_blobs_known(struct mt_req *req, const char *const *sha256, size_t n,
			unsigned char *known, struct mt_err *err);
/* Rows in blobs. */
int sql_art_blob_count(struct mt_req *req, long long *out, struct mt_err *err);

#endif
