/*
 * git.h: git provenance of a working directory, for `mltrack run` (DESIGN §7:
 * the mlflow.source.git.* tags, mltrack.git.dirty and the uncommitted diff).
 *
 * Read-only and self-contained: libgit2 is initialised and shut down inside
 * each call (git_libgit2_init is reference-counted), nothing is written to the
 * repository (no index refresh), and the functions depend on nothing else in
 * cli/ but git_lazy.c, so a test driver can link these two files alone
 * (tests/cli/git_probe.c).  libgit2 itself is loaded on first use
 * (git_lazy.c), and only when dir is inside something that has a .git.
 *
 * The repository is found like git finds it: from dir upwards, not across a
 * filesystem boundary; GIT_DIR and the other GIT_* variables are ignored.  A
 * bare repository counts as "not found".  libgit2 keeps its ownership check
 * (safe.directory): a repository owned by someone else is an error.
 *
 * No external programs: libgit2 runs no filter drivers (filter.<x>.clean /
 * smudge / process are not executed, only its built-in crlf and ident
 * filters apply), no diff drivers (diff.<x>.textconv / command), no
 * core.fsmonitor hook and no credential helpers, whatever the repository's
 * config or .gitattributes say.  tests/cli/test_git_provenance.py checks
 * this.  Submodules are ignored entirely (their content and their recorded
 * commit).
 */
#ifndef MT_CLI_GIT_H
#define MT_CLI_GIT_H

#include <stddef.h>

struct cli_git {
	int found;            /* 0: not inside a git work tree (not an error) */
	char commit[41];      /* HEAD's commit id, "" on an unborn branch */
	char branch[256];     /* short branch name; "" when HEAD is detached (or
			       * not a local branch, or the name does not fit) */
	char repo_url[2048];  /* the remote's URL without credentials; "" when
			       * there is no remote (or the URL does not fit) */
	int dirty;            /* tracked files differ from HEAD, staged or not;
			       * untracked and ignored files do not count */
	char root[4096];      /* the work tree's top directory, no trailing '/' */
};

/* Fill out for the work tree containing dir.  The remote is the current
 * branch's upstream remote (branch.<name>.remote) when it has one, else
 * "origin", else the first remote in alphabetical order; its URL is
 * remote.<name>.url with url.<base>.insteadOf applied (as `git remote
 * get-url` shows it), then cli_git_strip_credentials.  Returns 0 (with
 * out->found = 0 outside any work tree), or -1 with a one-line message in
 * err (size n) for real failures: a damaged repository, one owned by
 * another user, a work tree too deep for root. */
int cli_git_provenance(struct cli_git *out, const char *dir, char *err, size_t n);

/* cli_git_provenance, and when the tree is dirty also the patch that
 * cli_git_diff would write to path, made from the same comparison of the
 * work tree with HEAD (one start of libgit2, one look at the tree; the
 * dirty flag and the patch cannot disagree).  *bytes is the patch's size,
 * or -1 when none was written: the tree is clean, not a work tree, or the
 * write failed, which patch_err (size pn) then says in one line while the
 * provenance stands.  Returns as cli_git_provenance. */
int cli_git_provenance_patch(struct cli_git *out, const char *dir, const char *path,
			     long long *bytes, char *patch_err, size_t pn, char *err, size_t n);

/* Write the uncommitted changes of tracked files in the work tree containing
 * dir, HEAD's tree against the working directory (staged changes included,
 * like `git diff HEAD`; on an unborn branch everything in the index is
 * added), as a unified patch to the file path (created or truncated).
 * Binary files appear as "Binary files ... differ", never their bytes.
 * *bytes gets the patch's size; a clean tree writes an empty file.  Returns
 * 0, or -1 with a one-line message in err (size n); dir outside any work
 * tree is an error, and a failed write removes the file. */
int cli_git_diff(const char *dir, const char *path, long long *bytes, char *err, size_t n);

/* Copy url into out (size n) without credentials:
 *   https://user:pass@host/x  -> https://host/x    (any scheme but ssh: all
 *   https://token@host/x      -> https://host/x     userinfo dropped)
 *   ssh://git:pw@host/x       -> ssh://git@host/x  (ssh, git+ssh, ssh+git:
 *   ssh://git@host/x          unchanged             the user is kept)
 *   git@host:x/y.git          unchanged (scp-like; "u:pw@host:x" -> "u@host:x")
 *   /srv/x.git, ../x          unchanged (local paths)
 * The userinfo ends at the last '@' before the first '/', '?' or '#' after
 * "scheme://", as git parses it.  Query strings are left alone.  When the
 * result does not fit, out is "". */
void cli_git_strip_credentials(char *out, size_t n, const char *url);

/* Load libgit2 (git_lazy.c), once per process; the functions above do it
 * themselves.  0, or -1 with a one-line reason in err (size n) when the
 * library cannot be loaded or is not the version of the headers. */
int cli_git_load(char *err, size_t n);

#endif
