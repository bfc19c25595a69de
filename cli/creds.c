/*
 * creds.c: which credentials mltrack sends, where they come from, and the
 * one place every request (JSON calls, uploads, downloads, bundles, the
 * spool's sync, `mltrack run`'s own calls) gets its Authorization header.
 *
 * The first of these that is set wins:
 *   1. user:password@ in the tracking URI          Basic
 *   2. MLTRACK_TOKEN                                Bearer
 *   3. MLFLOW_TRACKING_USERNAME and _PASSWORD       Basic
 *   4. MLFLOW_TRACKING_TOKEN                        Bearer
 *   5. the token stored for the tracking URI in ~/.mltrack/credentials
 * 3 before 4 and 1 before both are MLflow's client's own rules (its
 * rest_utils sends Basic when a user name and password are set, else the
 * token, and its HTTP library puts a URL's userinfo over both), so in one
 * environment mltrack and an MLflow client inside `mltrack run` act as the
 * same identity.  MLTRACK_TOKEN, mltrack's own, comes before MLflow's
 * variables; the file, written by `mltrack login`, comes last, so any
 * variable set for one job overrides a login.
 *
 * Every secret seen (also those of a lower rank, set but unused) is
 * registered with mt_redact, so no message, tag or param the CLI writes
 * carries it.  The tracking URI itself is kept without its userinfo
 * (opt.c), so it can be printed anywhere.
 *
 * The file: a directory of mode 0700 and a file of mode 0600, both owned by
 * the user, else it is refused with how to fix it; replaced whole (a new
 * file made with O_EXCL and mode 0600, fsync'd, renamed over the old one)
 * under an flock of the directory.  Format: lib/mt_credfile.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cli.h"
#include "mt_auth.h"
#include "mt_credfile.h"
#include "mt_redact.h"
#include "mt_util.h"

static struct cli_cred cur;       /* what requests send */
static struct cli_cred loaded;    /* what the environment and the file say */
static int have_loaded, overridden;
/* "Authorization: Basic " and the base64 of user:secret */
static char header[32 + 4 * (sizeof(cur.user) + sizeof(cur.secret) + 3) / 3];

/* ---- the header ---- */

static void make_header(void)
{
	OPENSSL_cleanse(header, sizeof(header));
	header[0] = '\0';
	if (cur.source == CLI_CRED_NONE || !cur.secret[0])
		return;
	if (cur.user[0]) {
		char raw[sizeof(cur.user) + sizeof(cur.secret) + 2];
		size_t n = (size_t)snprintf(raw, sizeof(raw), "%s:%s", cur.user, cur.secret);
		int k = (int)strlen("Authorization: Basic ");

		memcpy(header, "Authorization: Basic ", (size_t)k);
		EVP_EncodeBlock((unsigned char *)header + k, (const unsigned char *)raw, (int)n);
		OPENSSL_cleanse(raw, sizeof(raw));
		mt_redact_add(header + k); /* the header's value is the secret too */
	} else {
		snprintf(header, sizeof(header), "Authorization: Bearer %s", cur.secret);
	}
}

struct curl_slist *cli_cred_header(struct curl_slist *hl)
{
	return header[0] ? curl_slist_append(hl, header) : hl;
}

/* ---- sources ---- */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* A secret goes into a header line: no control characters. */
static int clean(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int set(struct cli_cred *c, enum cli_cred_source src, const char *user, const char *secret,
	       struct cli_fail *f)
{
	memset(c, 0, sizeof(*c));
	c->source = src;
	if (!secret)
		return 0;
	if (strlen(secret) >= sizeof(c->secret) || (user && strlen(user) >= sizeof(c->user)))
		return cli_fail_set(f, CLI_USAGE, "the credentials from %s are too long",
				    cli_cred_source_name(src));
	if (!clean(secret) || (user && !clean(user)))
		return cli_fail_set(f, CLI_USAGE, "the credentials from %s hold a control character",
				    cli_cred_source_name(src));
	snprintf(c->secret, sizeof(c->secret), "%s", secret);
	if (user)
		snprintf(c->user, sizeof(c->user), "%s", user);
	mt_redact_add(secret);
	return 0;
}

const char *cli_cred_source_name(enum cli_cred_source src)
{
	static char file[4200];

	switch (src) {
	case CLI_CRED_NONE:
		return "nowhere";
	case CLI_CRED_URI:
		return "the tracking URI's user:password";
	case CLI_CRED_MLTRACK_TOKEN:
		return "MLTRACK_TOKEN";
	case CLI_CRED_MLFLOW_BASIC:
		return "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD";
	case CLI_CRED_MLFLOW_TOKEN:
		return "MLFLOW_TRACKING_TOKEN";
	case CLI_CRED_FILE:
		if (cli_credfile_path(file, sizeof(file)))
			return "~/.mltrack/credentials";
		return file;
	case CLI_CRED_EXPLICIT:
		return "the command line";
	}
	return "?";
}

const struct cli_cred *cli_cred_current(void)
{
	return &cur;
}

static void mask_stored_tokens(void);

int cli_cred_load(struct cli_fail *f)
{
	const char *u = env("MLFLOW_TRACKING_USERNAME"), *p = env("MLFLOW_TRACKING_PASSWORD");
	static int warned;
	int rc;

	if (have_loaded)
		return 0;
	/* Every secret in reach is masked, the unused ones too. */
	mask_stored_tokens();
	mt_redact_add(cli_uri_password);
	mt_redact_add(env("MLTRACK_TOKEN"));
	mt_redact_add(p);
	mt_redact_add(env("MLFLOW_TRACKING_TOKEN"));
	if ((u != NULL) != (p != NULL) && !warned) {
		warned = 1;
		cli_warn("%s is set without %s: ignored, as MLflow's client ignores it",
			 u ? "MLFLOW_TRACKING_USERNAME" : "MLFLOW_TRACKING_PASSWORD",
			 u ? "MLFLOW_TRACKING_PASSWORD" : "MLFLOW_TRACKING_USERNAME");
	}
	if (cli_uri_user[0] && cli_uri_password[0])
		rc = set(&loaded, CLI_CRED_URI, cli_uri_user, cli_uri_password, f);
	else if (env("MLTRACK_TOKEN"))
		rc = set(&loaded, CLI_CRED_MLTRACK_TOKEN, NULL, env("MLTRACK_TOKEN"), f);
	else if (u && p)
		rc = set(&loaded, CLI_CRED_MLFLOW_BASIC, u, p, f);
	else if (env("MLFLOW_TRACKING_TOKEN"))
		rc = set(&loaded, CLI_CRED_MLFLOW_TOKEN, NULL, env("MLFLOW_TRACKING_TOKEN"), f);
	else {
		struct cli_stored s;
		int found = 0;

		if (cli_creds_lookup(cli_cred_uri_key(), &s, &found, f))
			return -1;
		if (found) {
			rc = set(&loaded, CLI_CRED_FILE, NULL, s.token, f);
			snprintf(loaded.token_name, sizeof(loaded.token_name), "%s", s.token_name);
			snprintf(loaded.stored_user, sizeof(loaded.stored_user), "%s", s.username);
			OPENSSL_cleanse(&s, sizeof(s));
		} else {
			rc = set(&loaded, CLI_CRED_NONE, NULL, NULL, f);
		}
	}
	if (rc)
		return -1;
	have_loaded = 1;
	if (!overridden) {
		cur = loaded;
		make_header();
	}
	return 0;
}

int cli_cred_use(enum cli_cred_source src, const char *user, const char *secret,
		 struct cli_fail *f)
{
	if (src == CLI_CRED_EXPLICIT || src == CLI_CRED_NONE) {
		overridden = 1;
		if (set(&cur, src, user, secret, f))
			return -1;
	} else {
		overridden = 0;
		cur = loaded;
	}
	make_header();
	return 0;
}

void cli_cred_export_child(void)
{
	/* An MLflow client in the command knows MLflow's variables only.  A
	 * token of ours is handed on as MLFLOW_TRACKING_TOKEN when the
	 * environment names no MLflow credentials of its own (the command's
	 * output log has every secret masked; cmd_run.c). */
	if (cur.source != CLI_CRED_MLTRACK_TOKEN && cur.source != CLI_CRED_FILE)
		return;
	if (env("MLFLOW_TRACKING_TOKEN") ||
	    (env("MLFLOW_TRACKING_USERNAME") && env("MLFLOW_TRACKING_PASSWORD")))
		return;
	setenv("MLFLOW_TRACKING_TOKEN", cur.secret, 1);
}

void cli_cred_scrub_kv(json_t *list)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e) {
		const char *v = json_string_value(json_object_get(e, "value"));
		char *r;

		if (!v || !mt_redact_needed(v) || !(r = mt_redact_dup(v)))
			continue;
		json_object_set_new(e, "value", json_string(r));
		free(r);
	}
}

/* ---- failures ---- */

/* Set f->msg (which the arguments may quote: they are read from a copy). */
static void reword(struct cli_fail *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reword(struct cli_fail *f, const char *fmt, ...)
{
	char msg[sizeof(f->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(f->msg, msg, sizeof(msg));
}

void cli_cred_explain(struct cli_fail *f, const char *retry_after)
{
	char was[sizeof(f->msg)];
	long wait = retry_after && *retry_after ? strtol(retry_after, NULL, 10) : 0;

	memcpy(was, f->msg, sizeof(was));
	if (f->status == 429) {
		/* Waiting long is not worth retrying now; the server says when. */
		if (wait > 30)
			f->transient = 0;
		if (wait > 0 && !strstr(f->msg, "try again"))
			reword(f, "%s; try again in %ld seconds", was, wait);
		return;
	}
	if (f->status != 401)
		return;
	switch (cur.source) {
	case CLI_CRED_NONE:
		reword(f, "%s requires authentication: log in with `mltrack login`, or set "
		       "MLTRACK_TOKEN", cli_tracking_uri);
		break;
	case CLI_CRED_FILE:
		reword(f, "%s; the token is the one stored for %s in %s: log in again with "
		       "`mltrack login`", was, cli_cred_uri_key(), cli_cred_source_name(CLI_CRED_FILE));
		break;
	case CLI_CRED_EXPLICIT:
		break;
	default:
		reword(f, "%s; the credentials came from %s", was, cli_cred_source_name(cur.source));
		break;
	}
}

/* ---- the file ---- */

const char *cli_cred_uri_key(void)
{
	static char key[2048];
	const char *a = strstr(cli_tracking_uri, "://");
	size_t n = strlen(cli_tracking_uri), end;

	snprintf(key, sizeof(key), "%s", cli_tracking_uri);
	/* Scheme and host are case-insensitive. */
	end = a ? (size_t)(a - cli_tracking_uri) + 3 + strcspn(a + 3, "/?#") : 0;
	for (size_t i = 0; i < end && i < n && i < sizeof(key); i++)
		if (key[i] >= 'A' && key[i] <= 'Z')
			key[i] = (char)(key[i] - 'A' + 'a');
	return key;
}

int cli_credfile_path(char *out, size_t n)
{
	const char *home = getenv("HOME");

	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());

		if (!pw)
			return -1;
		home = pw->pw_dir;
	}
	return snprintf(out, n, "%s/.mltrack/credentials", home) >= (int)n ? -1 : 0;
}

static int dir_of(const char *path, char *out, size_t n)
{
	const char *slash = strrchr(path, '/');

	if (!slash || (size_t)(slash - path) >= n)
		return -1;
	memcpy(out, path, (size_t)(slash - path));
	out[slash - path] = '\0';
	return 0;
}

/* Refuse what others could read, change or replace. */
static int check_owner_mode(const char *path, const struct stat *st, int is_dir,
			    struct cli_fail *f)
{
	if (st->st_uid != geteuid())
		return cli_fail_set(f, CLI_USAGE,
				    "refusing to use %s: it belongs to uid %ld, not to you (uid %ld); "
				    "remove it and log in again with `mltrack login`",
				    path, (long)st->st_uid, (long)geteuid());
	if (is_dir && (st->st_mode & 022))
		return cli_fail_set(f, CLI_USAGE,
				    "refusing to use %s: its mode %04o lets others replace the "
				    "credentials in it; run `chmod 700 %s`",
				    path, (unsigned)(st->st_mode & 07777), path);
	if (!is_dir && (st->st_mode & 077))
		return cli_fail_set(f, CLI_USAGE,
				    "refusing to use %s: its mode %04o lets others %s it; run `chmod 600 "
				    "%s` (and log in again if someone may have read it)",
				    path, (unsigned)(st->st_mode & 07777),
				    st->st_mode & 022 ? "change" : "read", path);
	return 0;
}

/* Open and lock ~/.mltrack (made 0700 when missing, if make): the lock is
 * held while the file is read and replaced, exclusive to change it
 * (write), shared to read it.  Returns the directory's fd, -2 when it does
 * not exist (and !make), -1 with f. */
static int lock_dir(const char *dir, int make, int write, struct cli_fail *f)
{
	struct stat st;
	int fd;

	if (make && mkdir(dir, 0700) && errno != EEXIST)
		return cli_fail_set(f, CLI_USAGE, "cannot create %s: %s", dir, strerror(errno));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && !make)
			return -2;
		return cli_fail_set(f, CLI_USAGE, "cannot open %s: %s", dir, strerror(errno));
	}
	if (fstat(fd, &st)) {
		cli_fail_set(f, CLI_USAGE, "cannot use %s: %s", dir, strerror(errno));
		close(fd);
		return -1;
	}
	if (check_owner_mode(dir, &st, 1, f)) {
		close(fd);
		return -1;
	}
	/* Ours, and where credentials are written: nobody else's business
	 * (the spool may have made it 0755). */
	if (make && (st.st_mode & 077))
		fchmod(fd, 0700);
	if (flock(fd, write ? LOCK_EX : LOCK_SH)) {
		cli_fail_set(f, CLI_USAGE, "cannot lock %s: %s", dir, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Wipe the values (tokens among them) and free. */
static void release(struct mt_credfile *cf)
{
	for (size_t i = 0; i < cf->n; i++)
		for (size_t k = 0; k < cf->s[i].n; k++)
			OPENSSL_cleanse(cf->s[i].kv[k].value, strlen(cf->s[i].kv[k].value));
	mt_credfile_release(cf);
}

/* Read and parse the file (missing: empty). */
static int read_file(const char *path, struct mt_credfile *cf, struct cli_fail *f)
{
	struct mt_err err = MT_ERR_INIT;
	struct stat st;
	char *buf = NULL;
	ssize_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc = -1;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return cli_fail_set(f, CLI_USAGE, "cannot read %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st)) {
		cli_fail_set(f, CLI_USAGE, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cli_fail_set(f, CLI_USAGE, "refusing to use %s: not a regular file", path);
		goto out;
	}
	if (check_owner_mode(path, &st, 0, f))
		goto out;
	if (st.st_size > MT_CREDFILE_MAX) {
		cli_fail_set(f, CLI_USAGE, "%s: larger than %d bytes", path, MT_CREDFILE_MAX);
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		cli_fail_set(f, CLI_USAGE, "out of memory");
		goto out;
	}
	while (got < st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)(st.st_size - got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	if (mt_credfile_parse(cf, buf, (size_t)got, &err)) {
		cli_fail_set(f, CLI_USAGE, "%s: %s", path, err.msg);
		goto out;
	}
	rc = 0;
out:
	if (buf) {
		OPENSSL_cleanse(buf, (size_t)st.st_size);
		free(buf);
	}
	close(fd);
	return rc;
}

/* Replace the file with cf (removed when cf is empty), dirfd locked. */
static int write_file(const char *path, int dirfd, const struct mt_credfile *cf,
		      struct cli_fail *f)
{
	char tmp[4300], hex[33], *text = NULL;
	struct mt_err err = MT_ERR_INIT;
	const char *base = strrchr(path, '/') + 1;
	int fd = -1, rc = -1;

	if (cf->n == 0) {
		if (unlinkat(dirfd, base, 0) && errno != ENOENT)
			return cli_fail_set(f, CLI_USAGE, "cannot remove %s: %s", path, strerror(errno));
		fsync(dirfd);
		return 0;
	}
	if (mt_random_hex32(hex, &err))
		return cli_fail_set(f, CLI_USAGE, "%s", err.msg);
	snprintf(tmp, sizeof(tmp), ".%s.%.12s.tmp", base, hex);
	if (!(text = mt_credfile_format(cf)))
		return cli_fail_set(f, CLI_USAGE, "out of memory");
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		cli_fail_set(f, CLI_USAGE, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	/* The mode is 0600 whatever the umask left. */
	if (fchmod(fd, 0600) || mt_write_all(fd, text, strlen(text)) || fsync(fd)) {
		cli_fail_set(f, CLI_USAGE, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	if (close(fd)) {
		fd = -1;
		cli_fail_set(f, CLI_USAGE, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, base)) {
		cli_fail_set(f, CLI_USAGE, "cannot replace %s: %s", path, strerror(errno));
		goto out;
	}
	fsync(dirfd);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlinkat(dirfd, tmp, 0);
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	return rc;
}

/* Register every token the file holds (for any server) with mt_redact, so
 * none becomes a tag or a message even while a variable is what is sent.
 * A file that cannot be used is left for the lookup that needs it to
 * report. */
static void mask_stored_tokens(void)
{
	struct mt_credfile cf = MT_CREDFILE_INIT;
	char path[4200], dir[4200];
	struct cli_fail ignored;
	int dfd;

	if (cli_credfile_path(path, sizeof(path)) || dir_of(path, dir, sizeof(dir)) ||
	    (dfd = lock_dir(dir, 0, 0, &ignored)) < 0)
		return;
	if (read_file(path, &cf, &ignored) == 0)
		for (size_t i = 0; i < cf.n; i++) {
			const char *t = mt_credfile_get(&cf, cf.s[i].name, "token");

			if (t)
				mt_redact_add(t);
		}
	release(&cf);
	close(dfd);
}

int cli_creds_lookup(const char *key, struct cli_stored *out, int *found, struct cli_fail *f)
{
	struct mt_credfile cf = MT_CREDFILE_INIT;
	char path[4200], dir[4200];
	const char *tok;
	int dfd, rc = -1;

	memset(out, 0, sizeof(*out));
	*found = 0;
	if (cli_credfile_path(path, sizeof(path)) || dir_of(path, dir, sizeof(dir)))
		return 0; /* no home: nothing stored */
	if ((dfd = lock_dir(dir, 0, 0, f)) == -2)
		return 0;
	if (dfd < 0)
		return -1;
	if (read_file(path, &cf, f))
		goto out;
	tok = mt_credfile_get(&cf, key, "token");
	if (tok && *tok) {
		const char *u = mt_credfile_get(&cf, key, "username");
		const char *n = mt_credfile_get(&cf, key, "token_name");
		const char *c = mt_credfile_get(&cf, key, "created_by");

		if (strlen(tok) >= sizeof(out->token)) {
			cli_fail_set(f, CLI_USAGE, "%s: the token of [%s] is too long", path, key);
			goto out;
		}
		snprintf(out->token, sizeof(out->token), "%s", tok);
		snprintf(out->username, sizeof(out->username), "%s", u ? u : "");
		snprintf(out->token_name, sizeof(out->token_name), "%s", n ? n : "");
		out->by_login = c && strcmp(c, "mltrack login") == 0;
		*found = 1;
	}
	rc = 0;
out:
	release(&cf);
	close(dfd);
	return rc;
}

int cli_creds_store(const char *key, const struct cli_stored *s, struct cli_fail *f)
{
	struct mt_credfile cf = MT_CREDFILE_INIT;
	char path[4200], dir[4200];
	int dfd, rc = -1;

	if (cli_credfile_path(path, sizeof(path)) || dir_of(path, dir, sizeof(dir)))
		return cli_fail_set(f, CLI_USAGE, "no home directory to keep credentials in");
	if ((dfd = lock_dir(dir, 1, 1, f)) < 0)
		return -1;
	if (read_file(path, &cf, f))
		goto out;
	mt_credfile_remove(&cf, key);
	if ((s->username[0] && mt_credfile_set(&cf, key, "username", s->username)) ||
	    (s->token_name[0] && mt_credfile_set(&cf, key, "token_name", s->token_name)) ||
	    (s->by_login && mt_credfile_set(&cf, key, "created_by", "mltrack login")) ||
	    mt_credfile_set(&cf, key, "token", s->token)) {
		cli_fail_set(f, CLI_USAGE, "cannot store the credentials for %s: %s", key,
			     strerror(errno));
		goto out;
	}
	rc = write_file(path, dfd, &cf, f);
out:
	release(&cf);
	close(dfd);
	return rc;
}

int cli_creds_forget(const char *key, int *had, struct cli_fail *f)
{
	struct mt_credfile cf = MT_CREDFILE_INIT;
	char path[4200], dir[4200];
	int dfd, rc = -1;

	*had = 0;
	if (cli_credfile_path(path, sizeof(path)) || dir_of(path, dir, sizeof(dir)))
		return 0;
	if ((dfd = lock_dir(dir, 0, 1, f)) == -2)
		return 0;
	if (dfd < 0)
		return -1;
	if (read_file(path, &cf, f))
		goto out;
	*had = mt_credfile_remove(&cf, key);
	rc = *had ? write_file(path, dfd, &cf, f) : 0;
out:
	release(&cf);
	close(dfd);
	return rc;
}
