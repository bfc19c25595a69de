/*
 * mt_path: the normaliser and confiner for artifact paths that users send
 * (URL path segments after /api/2.0/mlflow-artifacts/artifacts/, `?path=`
 * query values, CLI destinations).  DESIGN.md §6, MLFLOW-API.md §5 "Path
 * safety".
 *
 * An artifact path is relative: segments joined by '/'.  mt_path_normalise()
 * turns what a client sent into the one canonical form, or refuses it with
 * MT_EINVAL (INVALID_PARAMETER_VALUE, HTTP 400) and a one-line message that
 * starts with "Invalid path", MLflow's wording, names the problem and quotes
 * the input sanitised (at most 64 bytes, control and invalid bytes as '?').
 * Only what is certainly harmless is rewritten ("." segments dropped, one
 * trailing '/' tolerated); anything that could mean traversal or another
 * file is refused rather than repaired.
 *
 * The checks work on bytes and know nothing of the file system: symlinks are
 * the storage layer's business (open with O_NOFOLLOW or store by digest).
 * Other rules, where MLflow leaves room:
 *  - A first segment that begins with an ASCII letter and ':' ("C:", "c:x")
 *    is a Windows drive prefix and refused; "x/c:y" is an ordinary name.
 *  - Segments such as "..." or "a..b" are ordinary names; only ".." is refused.
 *  - '%' is refused only when two hex digits follow: the HTTP layer decodes
 *    once, so what is left is a second encoding ("%2e%2e", "%2f").  "100%"
 *    and "a%zz" are names.
 *  - Bytes are not otherwise restricted: spaces, ':' and any valid non-ASCII
 *    UTF-8 (C1 controls U+0080..U+009F included) are allowed.
 */
#ifndef MT_PATH_H
#define MT_PATH_H

#include <stddef.h>

#include "mt_error.h"

#define MT_PATH_MAX 1024          /* bytes of a normalised artifact path */
#define MT_PATH_MAX_SEGMENT 255   /* bytes of one segment */

/* Normalise a relative artifact path already URL-decoded by the HTTP layer.
 * out (size >= MT_PATH_MAX + 1) gets the canonical form: segments joined by '/',
 * no leading or trailing '/', no "." segments.  allow_empty: whether "" (the root)
 * is acceptable (listing the root) or an error (uploading a file).
 * Refused with MT_EINVAL and a one-line message naming the problem:
 * '..' segments; absolute paths (leading '/'); empty segments ("a//b") except that a
 * single trailing '/' is tolerated; backslashes; NUL (len given explicitly, so an
 * embedded NUL is detectable) and any byte < 0x20 or 0x7f; '#'; invalid UTF-8;
 * a '%' followed by two hex digits (percent-encoding left after the single decode the
 * HTTP layer did, i.e. double-encoded traversal like %2e%2e or %2f) ; segments longer
 * than MT_PATH_MAX_SEGMENT; total longer than MT_PATH_MAX; Windows drive prefixes
 * ("C:"), and the segments "." only as a whole path when !allow_empty.
 * in may be NULL when len is 0.  On failure out is "".  out is the caller's. */
int mt_path_normalise(char *out, const char *in, size_t len, int allow_empty, struct mt_err *err);
/* Join a normalised relative path onto a root directory into out (size outsz),
 * refusing (MT_EINVAL) if the result would not fit.  Trailing '/' of root are
 * dropped ("/" stays "/"); rel "" gives the root itself; root "" stands for
 * the current directory (out is rel, or "." when rel is "" too).  rel that is
 * not in normalised form (mt_path_normalise would change or refuse it) is
 * refused with MT_EINVAL too, so a caller's slip cannot escape the root.
 * On failure out is "" (when outsz > 0).  out is the caller's. */
int mt_path_join(char *out, size_t outsz, const char *root, const char *rel, struct mt_err *err);
/* 1 when `path` equals `dir` or lies under it as a path prefix on a '/' boundary
 * ("a/b" is under "a" but "ab" is not), else 0.  Both normalised; every path
 * is under "" (the root). */
int mt_path_under(const char *path, const char *dir);
/* The basename of a normalised path (borrowed pointer into path, valid as
 * long as path is): what follows the last '/', or path itself. */
const char *mt_path_base(const char *path);

#endif
