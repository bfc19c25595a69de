/*
 * mt_bundle: model bundles (DESIGN.md §6): pack a directory into a
 * deterministic tar, verify one, unpack one.  `mltrack model register` packs,
 * `mltrack model pull` unpacks, and mltrackd verifies a bundle before it
 * creates a model version.
 *
 * Format ("mltrack-bundle/1").  An uncompressed POSIX tar (libarchive's
 * restricted pax writer: ustar headers, with a pax extended header only
 * where ustar cannot hold a name or a size) holding regular files only:
 *  - the first entry is MLTRACK-BUNDLE.json, the manifest;
 *  - then every file, sorted by path in byte order (strcmp), each once.
 * No directory entries: directories are implied by the paths, so empty
 * directories are not kept.  No links, devices, fifos or sockets.
 *
 * Determinism: the same files and the same `extra` give the same bytes on
 * any machine, at any time, under any locale.  Every header has mtime 0,
 * uid/gid 0, empty user and group names, and mode 0644 (0755 when the file
 * has any execute bit); nothing else of the file system goes in (no atime,
 * ctime, xattrs, ACLs, sparse maps, owner names, inode numbers).  When some
 * path is not ASCII, every entry carries the pax record "hdrcharset=BINARY"
 * and names are stored as raw bytes (which are UTF-8, below): libarchive's
 * default converts names through the process locale, so the bytes would
 * depend on it (and a C locale cannot write such a name at all).  GNU tar
 * extracts these names correctly but warns that it does not know the
 * keyword.  The archive ends with the two zero blocks of the tar format and
 * no further padding.  The manifest is serialised with sorted keys, an
 * indent of 2 and a trailing newline.
 *
 * Manifest:
 *   {"format": "mltrack-bundle/1",
 *    "files": [{"path": "a/b.bin", "size": 3, "sha256": "<64 hex>",
 *               "mode": "0644"}, ...],              (sorted by path)
 *    ...the members of `extra`: "provenance", "metrics", "params", ...}
 * No wall-clock time is added: the registry records when a version was made.
 *
 * Paths.  A bundle path is what mt_path_normalise() accepts and leaves
 * unchanged (lib/mt_path.h: relative, '/'-separated, valid UTF-8, no "..",
 * ".", empty segment, backslash, control byte, '#', "%XX" or drive prefix; at
 * most MT_PATH_MAX bytes), so a bundle's files can also be served as
 * artifacts.  A top-level MLTRACK-BUNDLE.json is reserved for the manifest,
 * and no path may be both a file and the directory of another.
 *
 * Verification (mt_bundle_verify*, and mt_bundle_unpack before it moves
 * anything) refuses, naming the entry: anything that is not a tar; a first
 * entry other than the manifest; a manifest over MT_BUNDLE_MAX_MANIFEST bytes,
 * nested deeper than MT_JSON_MAX_DEPTH, not a JSON object, with duplicate
 * keys, another "format", or "files" that are not sorted, unique, valid
 * records; more than MT_BUNDLE_MAX_FILES files; entries that are links,
 * directories, devices, fifos or sparse; invalid paths (as above); an entry
 * not listed, listed twice, or out of the manifest's order; a listed file
 * missing; a size or SHA-256 that differs from the manifest; a truncated
 * archive.  Tar header metadata (mode, owner, times) is not checked and
 * never applied: unpacked files get the manifest's mode.  Verification
 * streams: memory is bounded by the manifest, not the archive.  Archives
 * from other tools whose names need a character-set conversion (pax "path"
 * records without hdrcharset=BINARY) verify only in a UTF-8 locale.
 *
 * Errors go into struct mt_err (the library's one error type, STYLE 2.5)
 * rather than a bare message buffer, so the server can answer with the code:
 * MT_EINVAL for a bad bundle or a directory that cannot be packed
 * (messages start with "Invalid bundle: " or "cannot pack: "), MT_ENOTFOUND
 * for a missing input, MT_ECONFLICT for a file that changed while it was
 * being packed (retryable) or something in the way of an unpack,
 * MT_EINTERNAL for I/O errors and memory.
 * Nothing here prints, exits, or keeps state between calls; the functions
 * are safe to call from several threads at once.
 */
#ifndef MT_BUNDLE_H
#define MT_BUNDLE_H

#include <stddef.h>

#include <jansson.h>

#include "mt_error.h"
#include "mt_limits.h"

#define MT_BUNDLE_MANIFEST "MLTRACK-BUNDLE.json"
#define MT_BUNDLE_FORMAT "mltrack-bundle/1"

/* Pack the regular files under dir into a bundle at out_path.
 *
 * Files are found recursively; hidden files are included.  A symlink whose
 * target (resolved fully) is a regular file inside dir is stored as a
 * regular file with the target's contents and mode, under the link's path.
 * Refused (MT_EINVAL, naming the path): symlinks that point outside dir, to
 * a directory, or nowhere; devices, fifos and sockets; a top-level
 * MLTRACK-BUNDLE.json (remove the manifest a pull left behind before
 * registering that directory again); paths that are not bundle paths; more
 * than MT_BUNDLE_MAX_FILES files; a manifest over MT_BUNDLE_MAX_MANIFEST.
 *
 * Each file is read twice: once for the manifest's digests (the manifest
 * comes first) and once into the archive, hashed again on the way, so a file
 * that changes in between is caught (MT_ECONFLICT, retryable).
 *
 * extra: borrowed; NULL, or a JSON object whose members are deep-copied into
 * the manifest ("format" and "files" are reserved: MT_EINVAL).
 * The archive is written to a new file beside out_path (with the umask's
 * permissions), fsync'd and renamed over out_path; on failure out_path is
 * untouched and the temporary file removed.  out_sha (may be NULL) gets the
 * archive's SHA-256 as 64 lowercase hex digits and a NUL. */
int mt_bundle_pack(const char *dir, const json_t *extra, const char *out_path, char out_sha[65],
		   struct mt_err *err);

/* Verify the bundle at path (see the top of this file).  On success *out
 * (when out is not NULL) is the manifest, owned by the caller (json_decref),
 * and out_sha (when not NULL) the SHA-256 of the whole file, trailing bytes
 * included.  On failure *out is NULL and out_sha "". */
int mt_bundle_verify(const char *path, json_t **out, char out_sha[65], struct mt_err *err);
/* The same, reading fd from its current offset to its end (the fd stays the
 * caller's, open, at an unspecified offset). */
int mt_bundle_verify_fd(int fd, json_t **out, char out_sha[65], struct mt_err *err);
/* The same, for the n bytes at data (borrowed for the call). */
int mt_bundle_verify_mem(const void *data, size_t n, json_t **out, char out_sha[65],
			 struct mt_err *err);

/* Verify the bundle at path and unpack it into dest_dir.
 *
 * expect_sha: NULL, or the 64-hex SHA-256 the whole file must have (the
 * digest the registry recorded); a mismatch fails like any other check.
 * Files are extracted into a new staging directory beside dest_dir
 * ("<parent>/.<name>.pull-<random>", same file system, so renames are
 * atomic; "dest_dir/.mltrack-pull-<random>" when dest_dir is a mount point
 * or its parent is not writable) and fsync'd; only when every entry and
 * digest has been verified are they moved into place:
 *  - dest_dir missing: the staging directory is renamed to dest_dir (its
 *    missing parents are created);
 *  - dest_dir a directory: each file is renamed into it, creating
 *    subdirectories and replacing same-named files.  Files of dest_dir that
 *    the bundle does not hold are left alone.  Conflicts (a directory where
 *    the bundle has a file, a file or symlink where it needs a directory)
 *    are found before anything is moved (MT_ECONFLICT).  The manifest
 *    is moved last: when it is there, so are the files it lists.
 * The manifest is written too, as dest_dir/MLTRACK-BUNDLE.json, byte for
 * byte as stored.  Files get mode 0644 or 0755 as listed, less the umask.
 * On failure dest_dir is as it was and the staging directory is removed;
 * the only exception is an I/O error during the final renames (the message
 * then says how many files were moved).  *out (when out is not NULL) gets the
 * manifest, owned by the caller (json_decref); NULL on failure. */
int mt_bundle_unpack(const char *path, const char *dest_dir, const char *expect_sha, json_t **out,
		     struct mt_err *err);

#endif
