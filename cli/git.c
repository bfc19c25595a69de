/*
 * git.c: git provenance of a working directory through libgit2 (see git.h).
 *
 * Every function that touches a repository brackets its work with
 * git_libgit2_init()/git_libgit2_shutdown() and frees each libgit2 object
 * at one `done:` label, so nothing outlives the call.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "git.h"

static int errf(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (err && n) {
		va_start(ap, fmt);
		vsnprintf(err, n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* libgit2's message for the last failure, as one line. */
static const char *git_msg(void)
{
	const git_error *e = git_error_last();

	return e && e->message && *e->message ? e->message : "unknown libgit2 error";
}

/* Copy s into a fixed field: 0, or -1 (field "") when it does not fit. */
static int put(char *field, size_t size, const char *s)
{
	size_t len = strlen(s);

	if (len >= size) {
		field[0] = '\0';
		return -1;
	}
	memcpy(field, s, len + 1);
	return 0;
}

/* Flatten a libgit2 message to one line (they may hold newlines). */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

/*
 * Open the work tree containing dir.  1 with *out set, 0 when there is none
 * (outside any repository, or a bare one), -1 with err.
 */
static int open_worktree(git_repository **out, const char *dir, char *err, size_t n)
{
	git_repository *repo = NULL;
	int rc = git_repository_open_ext(&repo, dir, 0, NULL);

	*out = NULL;
	if (rc == GIT_ENOTFOUND)
		return 0;
	if (rc < 0) {
		errf(err, n, "cannot open the git repository of '%s': %s", dir, git_msg());
		one_line(err);
		return -1;
	}
	if (git_repository_is_bare(repo) || !git_repository_workdir(repo)) {
		git_repository_free(repo);
		return 0;
	}
	*out = repo;
	return 1;
}

/*
 * HEAD's tree into *tree, NULL on an unborn branch (the empty tree).  0 or
 * -1 with err.
 */
static int head_tree(git_tree **tree, git_repository *repo, char *err, size_t n)
{
	git_reference *head = NULL;
	git_object *obj = NULL;
	int rc = git_repository_head(&head, repo);

	*tree = NULL;
	if (rc == GIT_EUNBORNBRANCH)
		return 0;
	if (rc < 0 || git_reference_peel(&obj, head, GIT_OBJECT_TREE) < 0) {
		errf(err, n, "cannot read HEAD: %s", git_msg());
		git_reference_free(head);
		return -1;
	}
	git_reference_free(head);
	*tree = (git_tree *)obj;
	return 0;
}

/* Diff HEAD's tree (or the empty tree) against the work tree through the
 * index; submodules, untracked and ignored files left out. */
static int diff_head(git_diff **out, git_repository *repo, char *err, size_t n)
{
	git_diff_options opts;
	git_tree *tree = NULL;
	int rc;

	*out = NULL;
	if (head_tree(&tree, repo, err, n) < 0)
		return -1;
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	/* GIT_DIFF_NORMAL: no untracked, no ignored, no index update */
	opts.flags = GIT_DIFF_NORMAL | GIT_DIFF_IGNORE_SUBMODULES;
	opts.ignore_submodules = GIT_SUBMODULE_IGNORE_ALL;
	rc = git_diff_tree_to_workdir_with_index(out, repo, tree, &opts);
	git_tree_free(tree);
	if (rc < 0) {
		*out = NULL;
		return errf(err, n, "cannot compare the work tree with HEAD: %s", git_msg());
	}
	return 0;
}

/* HEAD: g->branch from a symbolic HEAD on refs/heads/, g->commit from the
 * commit it resolves to ("" when unborn). */
static int read_head(struct cli_git *g, git_repository *repo, char *err, size_t n)
{
	git_reference *head = NULL, *resolved = NULL;
	git_object *commit = NULL;
	int rc, ret = -1;

	if (git_reference_lookup(&head, repo, "HEAD") < 0) {
		errf(err, n, "cannot read HEAD: %s", git_msg());
		goto done;
	}
	if (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC) {
		const char *t = git_reference_symbolic_target(head);

		if (t && strncmp(t, "refs/heads/", 11) == 0)
			put(g->branch, sizeof(g->branch), t + 11);
	}
	rc = git_repository_head(&resolved, repo);
	if (rc == GIT_EUNBORNBRANCH) {
		ret = 0;
		goto done;
	}
	if (rc < 0 || git_reference_peel(&commit, resolved, GIT_OBJECT_COMMIT) < 0) {
		errf(err, n, "cannot read HEAD: %s", git_msg());
		goto done;
	}
	git_oid_tostr(g->commit, sizeof(g->commit), git_object_id(commit));
	ret = 0;
done:
	git_object_free(commit);
	git_reference_free(resolved);
	git_reference_free(head);
	return ret;
}

/*
 * Remotes are read from the config directly rather than through
 * git_remote_lookup/git_remote_list: in libgit2 1.5 those match config names
 * with git_regexp_search, which leaks its PCRE2 match data whenever a name
 * does not match (libgit2 PR #6382, fixed in 1.6), and LeakSanitizer sees
 * it.  url.<base>.insteadOf is applied here as git does.
 */

/* The first value of remote.<name>.url into *out (owned, free()), NULL
 * when the remote has no URL.  0 or -1 with err. */
static int remote_url(char **out, git_config *cfg, const char *name, char *err, size_t n)
{
	git_buf buf = { NULL, 0, 0 };
	char key[1024];
	int rc;

	*out = NULL;
	if ((size_t)snprintf(key, sizeof(key), "remote.%s.url", name) >= sizeof(key))
		return 0;
	rc = git_config_get_string_buf(&buf, cfg, key);
	if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC)
		return 0;
	if (rc < 0)
		return errf(err, n, "cannot read remote '%s': %s", name, git_msg());
	if (buf.ptr && buf.ptr[0] && !(*out = strdup(buf.ptr)))
		rc = errf(err, n, "out of memory");
	git_buf_dispose(&buf);
	return rc < 0 ? -1 : 0;
}

/* Does a config entry's name look like "<prefix><middle><suffix>" with a
 * non-empty middle?  Its length, else 0. */
static size_t middle(const char *name, const char *prefix, const char *suffix)
{
	size_t len = strlen(name), p = strlen(prefix), q = strlen(suffix);

	if (len <= p + q || strncmp(name, prefix, p) != 0 || strcmp(name + len - q, suffix) != 0)
		return 0;
	return len - p - q;
}

/* The URL of the remote whose name sorts first, as *out (owned, free()). */
static int first_remote_url(char **out, git_config *cfg, char *err, size_t n)
{
	git_config_iterator *it = NULL;
	git_config_entry *e;
	char *best = NULL;
	size_t len, best_len = 0;
	int rc;

	*out = NULL;
	if (git_config_iterator_new(&it, cfg) < 0)
		return errf(err, n, "cannot read the config: %s", git_msg());
	while ((rc = git_config_next(&e, it)) == 0) {
		len = middle(e->name, "remote.", ".url");
		if (!len || !e->value || !e->value[0])
			continue;
		if (best) {
			int c = strncmp(e->name + 7, best, len < best_len ? len : best_len);

			if (c > 0 || (c == 0 && len >= best_len))
				continue;
		}
		free(best);
		free(*out);
		best = strndup(e->name + 7, len);
		*out = strdup(e->value);
		best_len = len;
		if (!best || !*out) {
			rc = errf(err, n, "out of memory");
			break;
		}
	}
	git_config_iterator_free(it);
	free(best);
	if (rc != GIT_ITEROVER) {
		if (rc >= 0)
			errf(err, n, "cannot read the config: %s", git_msg());
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* Rewrite *url by the longest matching url.<base>.insteadOf. */
static int apply_insteadof(char **url, git_config *cfg, char *err, size_t n)
{
	git_config_iterator *it = NULL;
	git_config_entry *e;
	char *base = NULL, *rewritten;
	size_t len, match = 0;
	int rc;

	if (git_config_iterator_new(&it, cfg) < 0)
		return errf(err, n, "cannot read the config: %s", git_msg());
	while ((rc = git_config_next(&e, it)) == 0) {
		size_t vlen = e->value ? strlen(e->value) : 0;

		len = middle(e->name, "url.", ".insteadof");
		if (!len || !vlen || vlen <= match || strncmp(*url, e->value, vlen) != 0)
			continue;
		free(base);
		if (!(base = strndup(e->name + 4, len))) {
			rc = errf(err, n, "out of memory");
			break;
		}
		match = vlen;
	}
	git_config_iterator_free(it);
	if (rc != GIT_ITEROVER) {
		if (rc >= 0)
			errf(err, n, "cannot read the config: %s", git_msg());
		free(base);
		return -1;
	}
	if (!base)
		return 0;
	len = strlen(base);
	rewritten = malloc(len + strlen(*url + match) + 1);
	if (!rewritten) {
		free(base);
		return errf(err, n, "out of memory");
	}
	memcpy(rewritten, base, len);
	memcpy(rewritten + len, *url + match, strlen(*url + match) + 1);
	free(base);
	free(*url);
	*url = rewritten;
	return 0;
}

/* The upstream remote of the current branch (branch.<name>.remote), else
 * origin, else the first remote by name. */
static int find_remote(struct cli_git *g, git_repository *repo, char *err, size_t n)
{
	git_config *cfg = NULL;
	char *url = NULL;
	int ret = -1;

	if (git_repository_config_snapshot(&cfg, repo) < 0)
		return errf(err, n, "cannot read the config: %s", git_msg());
	if (g->branch[0]) {
		git_buf up = { NULL, 0, 0 };
		char key[sizeof(g->branch) + 16];
		int rc;

		snprintf(key, sizeof(key), "branch.%s.remote", g->branch);
		rc = git_config_get_string_buf(&up, cfg, key);
		if (rc == 0 && up.ptr && up.ptr[0])
			rc = remote_url(&url, cfg, up.ptr, err, n);
		else if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC || rc == 0)
			rc = 0;
		else
			rc = errf(err, n, "cannot read the upstream of '%s': %s", g->branch,
				  git_msg());
		git_buf_dispose(&up);
		if (rc < 0)
			goto done;
	}
	if (!url && remote_url(&url, cfg, "origin", err, n) < 0)
		goto done;
	if (!url && first_remote_url(&url, cfg, err, n) < 0)
		goto done;
	if (url) {
		if (apply_insteadof(&url, cfg, err, n) < 0)
			goto done;
		cli_git_strip_credentials(g->repo_url, sizeof(g->repo_url), url);
	}
	ret = 0;
done:
	free(url);
	git_config_free(cfg);
	return ret;
}

/* Whether dir or a directory above it has a .git entry: a cheap test that
 * libgit2's discovery (which has the last word) could find a work tree. */
static int maybe_in_repo(const char *dir)
{
	char *p = realpath(dir, NULL), *slash;
	char probe[PATH_MAX + 8];
	int found = 0;

	if (!p)
		return 1; /* let libgit2 say what is wrong */
	for (;;) {
		struct stat st;

		snprintf(probe, sizeof(probe), "%s/.git", strcmp(p, "/") ? p : "");
		if (lstat(probe, &st) == 0) {
			found = 1;
			break;
		}
		slash = strrchr(p, '/');
		if (!slash || slash == p) {
			if (slash && p[1]) {
				p[1] = '\0';
				continue;
			}
			break;
		}
		*slash = '\0';
	}
	free(p);
	return found;
}

struct patch_sink {
	FILE *f;
	long long bytes;
};

static int print_line(const git_diff_delta *delta, const git_diff_hunk *hunk,
		      const git_diff_line *line, void *payload)
{
	struct patch_sink *s = payload;

	(void)delta;
	(void)hunk;
	/* As git_diff_print's own buffer printer: the origin marks body lines. */
	if (line->origin == GIT_DIFF_LINE_CONTEXT || line->origin == GIT_DIFF_LINE_ADDITION ||
	    line->origin == GIT_DIFF_LINE_DELETION) {
		if (fputc(line->origin, s->f) == EOF)
			return -1;
		s->bytes++;
	}
	if (line->content_len && fwrite(line->content, 1, line->content_len, s->f) !=
	    line->content_len)
		return -1;
	s->bytes += (long long)line->content_len;
	return 0;
}

/* Write diff as a unified patch to path (created or truncated); a failed
 * write removes the file.  0 with *bytes, or -1 with err. */
static int write_patch(git_diff *diff, const char *path, long long *bytes, char *err, size_t n)
{
	struct patch_sink sink = { NULL, 0 };
	int rc, ret = -1;

	/* "e": the descriptor is not inherited by `mltrack run`'s child */
	sink.f = fopen(path, "wbe");
	if (!sink.f)
		return errf(err, n, "cannot create '%s': %m", path);
	rc = git_diff_print(diff, GIT_DIFF_FORMAT_PATCH, print_line, &sink);
	if (rc < 0 && !ferror(sink.f)) {
		errf(err, n, "cannot write the diff: %s", git_msg());
		goto done;
	}
	if (rc < 0 || fflush(sink.f) != 0 || ferror(sink.f)) {
		errf(err, n, "cannot write '%s': %m", path);
		goto done;
	}
	rc = fclose(sink.f);
	sink.f = NULL;
	if (rc != 0) {
		errf(err, n, "cannot write '%s': %m", path);
		goto done;
	}
	*bytes = sink.bytes;
	ret = 0;
done:
	if (sink.f)
		fclose(sink.f);
	if (ret < 0)
		unlink(path);
	return ret;
}

/* cli_git_provenance, and with path the patch of a dirty tree (see git.h). */
static int provenance(struct cli_git *out, const char *dir, const char *path, long long *bytes,
		      char *perr, size_t pn, char *err, size_t n)
{
	git_repository *repo = NULL;
	git_diff *diff = NULL;
	const char *wd;
	size_t len;
	int rc, ret = -1;

	memset(out, 0, sizeof(*out));
	if (err && n)
		err[0] = '\0';
	if (bytes)
		*bytes = -1;
	if (perr && pn)
		perr[0] = '\0';
	/* Most runs outside a repository should not pay for libgit2's start,
	 * nor for loading it. */
	if (!maybe_in_repo(dir))
		return 0;
	if (cli_git_load(err, n) < 0) {
		if (err && n)
			one_line(err);
		return -1;
	}
	if (git_libgit2_init() < 0)
		return errf(err, n, "cannot initialise libgit2");
	rc = open_worktree(&repo, dir, err, n);
	if (rc <= 0) {
		ret = rc;
		goto done;
	}
	wd = git_repository_workdir(repo);
	len = strlen(wd);
	while (len > 1 && wd[len - 1] == '/')
		len--;
	if (len >= sizeof(out->root)) {
		errf(err, n, "the work tree's path is too long");
		goto done;
	}
	memcpy(out->root, wd, len);
	out->root[len] = '\0';
	if (read_head(out, repo, err, n) < 0 || find_remote(out, repo, err, n) < 0 ||
	    diff_head(&diff, repo, err, n) < 0)
		goto done;
	out->dirty = git_diff_num_deltas(diff) > 0;
	out->found = 1;
	ret = 0;
	/* The patch comes from the very comparison that said "dirty". */
	if (path && out->dirty && write_patch(diff, path, bytes, perr, pn) < 0 && perr && pn)
		one_line(perr);
done:
	if (ret < 0) {
		memset(out, 0, sizeof(*out));
		if (err && n)
			one_line(err);
	}
	git_diff_free(diff);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return ret;
}

int cli_git_provenance(struct cli_git *out, const char *dir, char *err, size_t n)
{
	return provenance(out, dir, NULL, NULL, NULL, 0, err, n);
}

int cli_git_provenance_patch(struct cli_git *out, const char *dir, const char *path,
			     long long *bytes, char *patch_err, size_t pn, char *err, size_t n)
{
	return provenance(out, dir, path, bytes, patch_err, pn, err, n);
}

int cli_git_diff(const char *dir, const char *path, long long *bytes, char *err, size_t n)
{
	git_repository *repo = NULL;
	git_diff *diff = NULL;
	int rc, ret = -1;

	*bytes = 0;
	if (err && n)
		err[0] = '\0';
	if (cli_git_load(err, n) < 0)
		goto done_unloaded;
	if (git_libgit2_init() < 0)
		return errf(err, n, "cannot initialise libgit2");
	rc = open_worktree(&repo, dir, err, n);
	if (rc == 0)
		errf(err, n, "'%s' is not inside a git work tree", dir);
	if (rc <= 0 || diff_head(&diff, repo, err, n) < 0 ||
	    write_patch(diff, path, bytes, err, n) < 0)
		goto done;
	ret = 0;
done:
	git_diff_free(diff);
	git_repository_free(repo);
	git_libgit2_shutdown();
done_unloaded:
	if (ret < 0 && err && n)
		one_line(err);
	return ret;
}

/* "scheme://": the scheme's length, or 0 when url does not start with one. */
static size_t scheme_len(const char *url)
{
	size_t i = 0;

	if (!isalpha((unsigned char)url[0]))
		return 0;
	while (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.')
		i++;
	return strncmp(url + i, "://", 3) == 0 ? i : 0;
}

static int keeps_user(const char *scheme, size_t len)
{
	static const char *const ssh[] = { "ssh", "git+ssh", "ssh+git" };
	size_t i;

	for (i = 0; i < sizeof(ssh) / sizeof(ssh[0]); i++)
		if (strlen(ssh[i]) == len && strncasecmp(scheme, ssh[i], len) == 0)
			return 1;
	return 0;
}

void cli_git_strip_credentials(char *out, size_t n, const char *url)
{
	size_t slen = scheme_len(url), len = strlen(url);
	size_t auth, auth_end, at, cut_from, cut_to, i;
	int found_at = 0;

	if (!n)
		return;
	if (slen) {
		/* userinfo: up to the last '@' before the authority ends */
		auth = slen + 3;
		auth_end = auth + strcspn(url + auth, "/?#");
		for (i = auth, at = 0; i < auth_end; i++)
			if (url[i] == '@') {
				at = i;
				found_at = 1;
			}
		if (!found_at) {
			cut_from = cut_to = 0;
		} else if (keeps_user(url, slen)) {
			/* drop ":password", keep "user" and the '@' */
			cut_from = auth + strcspn(url + auth, ":@");
			cut_to = at;
		} else {
			cut_from = auth;
			cut_to = at + 1;
		}
	} else {
		/* scp-like "[user@]host:path": a ':' before any '/'; a local
		 * path has a '/' first (or no ':') and is left alone */
		size_t slash = strcspn(url, "/"), colon = strcspn(url, ":");

		cut_from = cut_to = 0;
		for (i = 0, at = 0; i < slash; i++)
			if (url[i] == '@') {
				at = i;
				found_at = 1;
			}
		if (colon < slash && found_at && colon < at) {
			/* "user:pw@host:path": not something git accepts as a
			 * password, but never pass one on */
			cut_from = colon;
			cut_to = at;
		}
	}
	if (len - (cut_to - cut_from) >= n) {
		out[0] = '\0';
		return;
	}
	memcpy(out, url, cut_from);
	memcpy(out + cut_from, url + cut_to, len - cut_to + 1);
}
