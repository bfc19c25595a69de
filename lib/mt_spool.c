/* mt_spool.c: the spool's journal and state files (see mt_spool.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mt_spool.h"
#include "mt_util.h"

int mt_spool_append_line(int fd, const char *line, size_t n)
{
	if (n == 0 || line[n - 1] != '\n') {
		errno = EINVAL;
		return -1;
	}
	if (n > MT_SPOOL_MAX_RECORD) {
		errno = EFBIG;
		return -1;
	}
	/* One write is one record for a reader; a short write (disk full,
	 * signal) is finished so the line is never left half. */
	return mt_write_all(fd, line, n);
}

int mt_spool_append(int fd, json_t *rec)
{
	char *s = json_dumps(rec, JSON_COMPACT);
	size_t n;
	int rc, e;

	if (!s) {
		errno = ENOMEM;
		return -1;
	}
	n = strlen(s);
	s[n++] = '\n'; /* over the NUL: the line is written by length */
	rc = mt_spool_append_line(fd, s, n);
	e = errno;
	free(s);
	errno = e;
	return rc;
}

int mt_spool_parse(const char *buf, size_t n, size_t *consumed, mt_spool_fn fn, void *arg,
		   struct mt_err *err)
{
	size_t pos = 0;

	*consumed = 0;
	while (pos < n) {
		const char *nl = memchr(buf + pos, '\n', n - pos);
		size_t len;
		json_t *rec;
		json_error_t je;
		int rc;

		if (!nl) {
			if (n - pos > MT_SPOOL_MAX_RECORD)
				return mt_err_set(err, MT_EINVAL,
						  "journal record at offset %zu has no end", pos);
			break; /* still being written, or cut short by a crash */
		}
		len = (size_t)(nl - (buf + pos));
		rec = json_loadb(buf + pos, len, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(rec) || !json_is_string(json_object_get(rec, "t"))) {
			json_decref(rec);
			*consumed = pos;
			return mt_err_set(err, MT_EINVAL, "journal record at offset %zu is damaged%s%s",
					  pos, rec ? "" : ": ", rec ? "" : je.text);
		}
		pos += len + 1;
		rc = fn(arg, rec, pos);
		json_decref(rec);
		if (rc)
			return rc;
		*consumed = pos;
	}
	return 0;
}

static int state_path(char *out, size_t n, const char *dir, const char *name)
{
	return snprintf(out, n, "%s/%s", dir, name) >= (int)n ? -1 : 0;
}

int mt_spool_state_read(const char *dir, struct mt_spool_state *st, struct mt_err *err)
{
	char path[4096];
	json_t *j, *id, *acked;
	json_error_t je;

	memset(st, 0, sizeof(*st));
	if (state_path(path, sizeof(path), dir, "state"))
		return mt_err_set(err, MT_EINVAL, "spool path is too long");
	j = json_load_file(path, 0, &je);
	if (!j) {
		if (access(path, F_OK) != 0 && errno == ENOENT)
			return 0;
		mt_err_set(err, MT_EINVAL, "%s is damaged (%s); starting over", path, je.text);
		return 1;
	}
	id = json_object_get(j, "run_id");
	acked = json_object_get(j, "acked");
	if (!json_is_string(id) || json_string_length(id) >= sizeof(st->run_id) ||
	    !json_is_integer(acked) || json_integer_value(acked) < 0) {
		json_decref(j);
		mt_err_set(err, MT_EINVAL, "%s is damaged; starting over", path);
		return 1;
	}
	snprintf(st->run_id, sizeof(st->run_id), "%s", json_string_value(id));
	st->acked = json_integer_value(acked);
	json_decref(j);
	return 0;
}

int mt_spool_state_write(const char *dir, const struct mt_spool_state *st, struct mt_err *err)
{
	char tmp[4096], path[4096], *body;
	json_t *j;
	int fd, ok;
	size_t n;

	if (state_path(tmp, sizeof(tmp), dir, "state.tmp") ||
	    state_path(path, sizeof(path), dir, "state"))
		return mt_err_set(err, MT_EINVAL, "spool path is too long");
	j = json_pack("{s:s, s:I}", "run_id", st->run_id, "acked", (json_int_t)st->acked);
	body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!body)
		return mt_err_set(err, MT_EINTERNAL, "out of memory");
	n = strlen(body);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(body);
		return mt_err_set(err, MT_EINTERNAL, "cannot write %s: %s", tmp, strerror(errno));
	}
	/* Not fsync'd: after a crash an older, missing or damaged state only
	 * means a replay from further back, and replays are harmless. */
	ok = write(fd, body, n) == (ssize_t)n;
	ok = close(fd) == 0 && ok;
	free(body);
	if (!ok || rename(tmp, path))
		return mt_err_set(err, MT_EINTERNAL, "cannot write %s: %s", path, strerror(errno));
	return 0;
}
