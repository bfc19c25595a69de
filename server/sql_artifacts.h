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

#endif
