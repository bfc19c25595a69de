/*
 * cmd_reproduce.c: mltrack reproduce RUN [-C DIR] [--keep DIR] [-n NAME] [--dry-run]
 *                                    [--check [--tolerance REL]]
 *
 * Recreate the code a run of `mltrack run` ran, and run it again:
 *  1. the run's tags (runs/get): mltrack.command (its absence means the run
 *     was not made by `mltrack run`), mlflow.source.git.commit,
 *     mltrack.git.dirty, mltrack.workdir; its params and experiment;
 *  2. the commit must be in the repository of -C DIR (default: the current
 *     directory's);
 *  3. the tree: the commit's files are checked out into a new directory with
 *     the git command and a temporary index of our own (GIT_INDEX_FILE), so
 *     the user's repository gains nothing (no worktree metadata, no ref, no
 *     index change) and the user's work tree is never written; then the
 *     run's mltrack/uncommitted.patch (downloaded) is applied there with
 *     `git apply`;
 *  4. `mltrack run` (this program, /proc/self/exe) runs the recorded command
 *     in that tree, in the recorded working directory, in the original's
 *     experiment, named reproduce-of-<name>, tagged mltrack.reproduces=RUN,
 *     with the recorded params the command line does not give as -p;
 *  5. `mltrack runs compare --diff RUN NEW` prints what differs;
 *  6. with --check, every metric of RUN (but mltrack's own and system/
 *     ones) must be in NEW with the same history, step by step, within
 *     --tolerance: else exit 1, naming the first that is not.
 * The tree is removed at the end, unless --keep DIR put it there.
 *
 * Exit status: 0; 1 when the run cannot be reproduced (not made by `mltrack
 * run`, no commit recorded, the commit is not in the repository, the patch
 * is missing or does not apply); 2 usage (and -C DIR not in a git work
 * tree); 3 server; the command's own status when it fails; 1 when --check
 * finds a metric that differs.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "mt_cmdflags.h"
#include "mt_limits.h"

#define OPTS_END { 0, NULL, 0, NULL, NULL, 0, NULL }

static const char *o_run, *o_dir, *o_keep, *o_name, *o_tol;
static int o_dry, o_check;

static const struct cli_opt repro_opts[] = {
	{ CLI_OPT_ARG, &o_run, 0, "RUN", NULL, CLI_OPT_REQUIRED,
	  "the run to reproduce (an id or a unique prefix of one)" },
	{ CLI_OPT_VALUE, &o_dir, 'C', "repo", "DIR", 0,
	  "the git repository to take the commit from (default: the current directory's)" },
	{ CLI_OPT_VALUE, &o_keep, 0, "keep", "DIR", 0,
	  "check the code out into DIR (new) and keep it (default: a temporary directory, removed)" },
	{ CLI_OPT_VALUE, &o_name, 'n', "name", "NAME", 0,
	  "name of the new run (default: reproduce-of-<name of RUN>)" },
	{ CLI_OPT_SWITCH, &o_dry, 0, "dry-run", NULL, 0,
	  "print the plan (commit, patch, directory, command) and change nothing" },
	{ CLI_OPT_SWITCH, &o_check, 0, "check", NULL, 0,
	  "exit 1 when a metric of RUN is missing from the new run or differs (for CI)" },
	{ CLI_OPT_VALUE, &o_tol, 0, "tolerance", "REL", 0,
	  "with --check: values a, b agree when |a-b| <= REL * max(1, |a|, |b|) (default 0: "
	  "exactly)" },
	OPTS_END,
};

static const struct cli_spec repro_spec = {
	"reproduce", "Run a run of `mltrack run` again from its recorded code, and compare.",
	repro_opts,
	"The run's commit is checked out into a fresh directory (the repository's index,\n"
	"branches and work tree are not touched), its mltrack/uncommitted.patch applied,\n"
	"and its command run there with `mltrack run` in the run's experiment, in the\n"
	"directory it was started from, with its params, as a new run tagged\n"
	"mltrack.reproduces=RUN.  Then `mltrack runs compare --diff` shows what differs.\n"
	"--check then compares every metric of RUN (all its steps; not mltrack.* or\n"
	"system/* metrics, which measure the machine) with the new run's.\n"
	"A relative command (./train.sh, python train.py) runs the checked-out copy; an\n"
	"absolute path runs what is at that path now.\n"
	"Exit status: 0 done; 1 the run cannot be reproduced (not made by `mltrack run`,\n"
	"its commit is not in the repository, its patch is missing or does not apply);\n"
	"2 usage; 3 server error; the command's own status when it fails; with --check,\n"
	"1 when a metric of RUN is missing from the new run or differs.",
	0,
};

/* ---- small helpers ---- */

static const char *tag(json_t *run, const char *key)
{
	json_t *tags = json_object_get(json_object_get(run, "data"), "tags"), *e;
	size_t i;

	json_array_foreach(tags, i, e) {
		const char *k = json_string_value(json_object_get(e, "key"));

		if (k && strcmp(k, key) == 0)
			return json_string_value(json_object_get(e, "value"));
	}
	return NULL;
}

static const char *info(json_t *run, const char *key)
{
	return json_string_value(json_object_get(json_object_get(run, "info"), key));
}

/* Run git with argv (argv[0] is "git") in cwd, with GIT_INDEX_FILE set to
 * index when not NULL and the other GIT_* variables of the environment
 * removed.  Its stdout (trimmed) into out, the first line of its stderr
 * into err.  Returns its exit status, or -1 when it could not run. */
static int git(const char *cwd, const char *index, const char *const *argv, char *out, size_t on,
	       char *err, size_t en)
{
	int po[2], pe[2], status = 0;
	size_t no = 0, ne = 0;
	char sink[512];
	pid_t pid;

	if (on)
		out[0] = '\0';
	if (en)
		err[0] = '\0';
	if (pipe2(po, O_CLOEXEC))
		return -1;
	if (pipe2(pe, O_CLOEXEC)) {
		close(po[0]);
		close(po[1]);
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		static const char *const drop[] = { "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
						    "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR",
						    "GIT_PREFIX", "GIT_NAMESPACE", NULL };
		int devnull = open("/dev/null", O_RDONLY);

		for (const char *const *d = drop; *d; d++)
			unsetenv(*d);
		if (index)
			setenv("GIT_INDEX_FILE", index, 1);
		setenv("LC_ALL", "C", 1);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(po[1], STDOUT_FILENO);
		dup2(pe[1], STDERR_FILENO);
		if (cwd && chdir(cwd))
			_exit(126);
		execvp("git", (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	if (pid < 0) {
		close(po[0]);
		close(pe[0]);
		return -1;
	}
	for (int open_n = 2; open_n > 0;) {
		struct pollfd pf[2] = { { .fd = po[0], .events = POLLIN },
					{ .fd = pe[0], .events = POLLIN } };

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int k = 0; k < 2; k++) {
			ssize_t r;
			char *buf = k ? err : out;
			size_t cap = k ? en : on, *len = k ? &ne : &no;

			if (pf[k].fd < 0 || !(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (cap > *len + 1)
				r = read(pf[k].fd, buf + *len, cap - *len - 1);
			else
				r = read(pf[k].fd, sink, sizeof(sink));
			if (r <= 0) {
				close(k ? pe[0] : po[0]);
				if (k)
					pe[0] = -1;
				else
					po[0] = -1;
				open_n--;
				continue;
			}
			if (buf != NULL && cap > *len + 1 && r > 0) {
				*len += (size_t)r;
				buf[*len] = '\0';
			}
		}
	}
	if (po[0] >= 0)
		close(po[0]);
	if (pe[0] >= 0)
		close(pe[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	while (no && (out[no - 1] == '\n' || out[no - 1] == '\r'))
		out[--no] = '\0';
	if (ne)
		err[strcspn(err, "\n")] = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !ne)
		snprintf(err, en, "cannot run git");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Split the mltrack.command tag (cmd_run.c's command_line: words separated
 * by one space, each plain or in '...' with ' written '\'') back into
 * words, into a json array of strings.  -1 when it is not such a line (it
 * was cut at the tag's length limit). */
static int split_command(const char *s, json_t *words)
{
	size_t cap = strlen(s) + 1, n = 0;
	char *w = malloc(cap);
	int quoted = 0, have = 0;

	if (!w)
		return -1;
	for (;; s++) {
		if (!quoted && (*s == ' ' || *s == '\0')) {
			if (have) {
				w[n] = '\0';
				json_array_append_new(words, json_string(w));
			}
			n = 0;
			have = 0;
			if (!*s)
				break;
			continue;
		}
		if (!*s) { /* inside quotes */
			free(w);
			return -1;
		}
		if (*s == '\'') {
			quoted = !quoted;
			have = 1;
		} else if (!quoted && *s == '\\' && s[1] == '\'') {
			w[n++] = '\'';
			s++;
			have = 1;
		} else {
			w[n++] = *s;
			have = 1;
		}
	}
	free(w);
	return json_array_size(words) ? 0 : -1;
}

static int on_flag(void *arg, const char *key, const char *value)
{
	json_object_set_new(arg, key, json_string(value));
	return 0;
}

/* The recorded params that the command's own flags do not give, as -p
 * KEY=VALUE strings (params), and whether the run was made with --no-flags:
 * the command has flags, and none of them is among the params. */
static void params_to_give(json_t *run, json_t *words, json_t *params, int *no_flags)
{
	json_t *flags = json_object(), *recorded = json_object_get(json_object_get(run, "data"),
								   "params"), *e;
	size_t n = json_array_size(words), i;
	char **argv = calloc(n + 1, sizeof(*argv));
	int matched = 0;

	*no_flags = 0;
	if (!argv || !flags) {
		free(argv);
		json_decref(flags);
		return;
	}
	for (i = 0; i < n; i++)
		argv[i] = (char *)json_string_value(json_array_get(words, i));
	if (n > 1)
		mt_cmdflags((int)n - 1, argv + 1, on_flag, flags);
	json_array_foreach(recorded, i, e) {
		const char *k = json_string_value(json_object_get(e, "key"));
		const char *v = json_string_value(json_object_get(e, "value"));
		const char *fv;
		char *p;

		if (!k || !v)
			continue;
		fv = json_string_value(json_object_get(flags, k));
		if (fv && strcmp(fv, v) == 0) {
			matched = 1;
			continue;
		}
		if ((p = malloc(strlen(k) + strlen(v) + 2))) {
			sprintf(p, "%s=%s", k, v);
			json_array_append_new(params, json_string(p));
			free(p);
		}
	}
	*no_flags = json_object_size(flags) > 0 && !matched;
	free(argv);
	json_decref(flags);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	if (dir && *dir)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void put_env(const char *k, const char *v)
{
	if (v && *v)
		setenv(k, v, 1);
	else
		unsetenv(k);
}

static volatile pid_t child_pid;

/* SIGTERM and SIGHUP go on to `mltrack run`, which passes them to the
 * command and ends its run KILLED; we wait for it and clean up.  (A Ctrl-C
 * typed at the terminal reaches it directly: same process group.) */
static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

/* Run argv (this program's) in cwd and wait; its exit status, -1 when it
 * could not start. */
static int run_self(const char *cwd, const char *const *argv, const char *exp_id)
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		put_env("MLTRACK_TRACKING_URI", cli_tracking_uri_given);
		put_env("MLFLOW_EXPERIMENT_ID", exp_id);
		unsetenv("MLFLOW_EXPERIMENT_NAME");
		unsetenv("MLFLOW_RUN_ID");
		unsetenv("MLTRACK_RUN_ID");
		unsetenv("MLTRACK_SPOOL_RUN");
		if (cwd && chdir(cwd)) {
			fprintf(stderr, "mltrack: cannot enter %s: %s\n", cwd, strerror(errno));
			_exit(CLI_CHECK_FAILED);
		}
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "mltrack: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid < 0)
		return -1;
	child_pid = pid;
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, forward);
	signal(SIGHUP, forward);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	child_pid = 0;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* ---- --check ---- */

/* A metric that measures the machine, not the model: mltrack run's own
 * (mltrack.wall_time_s, ...) and the system metrics. */
static int machine_metric(const char *key)
{
	return strncmp(key, "mltrack.", 8) == 0 || strncmp(key, "system/", 7) == 0;
}

static int by_step(const void *a, const void *b)
{
	const struct cli_metric_point *x = a, *y = b;

	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	if (x->timestamp != y->timestamp)
		return x->timestamp < y->timestamp ? -1 : 1;
	return x->value < y->value ? -1 : x->value > y->value;
}

/* The whole history of metric key of run, by step (then time). */
static int history(const char *run, const char *key, struct cli_metric_point **out, size_t *n,
		   struct cli_fail *f)
{
	if (cli_metric_history(run, key, out, n, f))
		return -1;
	if (*n)
		qsort(*out, *n, sizeof(**out), by_step);
	return 0;
}

/* Do a and b agree within tol?  NaN agrees with NaN, an infinity with
 * itself only. */
static int agree(double a, double b, double tol)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	if (a == b)
		return 1;
	if (isinf(a) || isinf(b))
		return 0;
	return fabs(a - b) <= tol * fmax(1.0, fmax(fabs(a), fabs(b)));
}

/* --check: every metric of run orig (but the machine's), in key order, has
 * in run new the same points: as many, at the same steps, with values that
 * agree.  CLI_OK, or CLI_CHECK_FAILED after one line naming the first
 * metric that does not; the server's error code when it cannot be read. */
static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int check_metrics(const char *orig, const char *new_id, double tol)
{
	json_t *run = NULL, *metrics, *m;
	const char **keys;
	struct cli_fail f;
	size_t i, n = 0;
	int rc = CLI_OK;

	if (cli_run_fetch(orig, &run, &f))
		return cli_fail_report(&f);
	metrics = json_object_get(json_object_get(run, "data"), "metrics");
	if (!(keys = calloc(json_array_size(metrics) + 1, sizeof(*keys)))) {
		json_decref(run);
		return cli_error(CLI_USAGE, "out of memory");
	}
	json_array_foreach(metrics, i, m) {
		const char *k = json_string_value(json_object_get(m, "key"));

		if (k && !machine_metric(k))
			keys[n++] = k;
	}
	/* In key order: the first that differs is always the same one. */
	qsort(keys, n, sizeof(*keys), by_name);
	for (i = 0; i < n && rc == CLI_OK; i++) {
		const char *k = keys[i];
		struct cli_metric_point *x = NULL, *y = NULL;
		size_t nx = 0, ny = 0, j;

		if (history(orig, k, &x, &nx, &f) || history(new_id, k, &y, &ny, &f)) {
			rc = cli_fail_report(&f);
		} else if (ny == 0) {
			rc = cli_error(CLI_CHECK_FAILED, "check failed: metric %s of run %s is missing "
				       "from run %s", k, orig, new_id);
		} else if (nx != ny) {
			rc = cli_error(CLI_CHECK_FAILED, "check failed: metric %s has %zu values in "
				       "run %s, %zu in run %s", k, nx, orig, ny, new_id);
		} else {
			for (j = 0; j < nx; j++)
				if (x[j].step != y[j].step || !agree(x[j].value, y[j].value, tol))
					break;
			if (j < nx && x[j].step != y[j].step)
				rc = cli_error(CLI_CHECK_FAILED, "check failed: metric %s: value %zu "
					       "is at step %lld in run %s, at step %lld in run %s", k,
					       j + 1, x[j].step, orig, y[j].step, new_id);
			else if (j < nx)
				rc = cli_error(CLI_CHECK_FAILED, "check failed: metric %s at step %lld: "
					       "%.17g in run %s, %.17g in run %s", k, x[j].step,
					       x[j].value, orig, y[j].value, new_id);
		}
		free(x);
		free(y);
	}
	if (rc == CLI_OK && !cli_quiet)
		fprintf(stderr, "mltrack: check passed: %zu metric%s of run %s %s in run %s\n",
			n, n == 1 ? "" : "s", orig, tol > 0 ? "agree" : "are the same", new_id);
	free(keys);
	json_decref(run);
	return rc;
}

static void print_word(FILE *out, const char *w)
{
	int plain = *w && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789_-+=./,:@%") == strlen(w);

	if (plain) {
		cli_print_safe(out, w);
		return;
	}
	fputc('\'', out);
	for (; *w; w++) {
		if (*w == '\'')
			fputs("'\\''", out);
		else
			fprintf(out, "%c", (unsigned char)*w < 0x20 ? '?' : *w);
	}
	fputc('\'', out);
}

int cmd_reproduce(int argc, char **argv)
{
	char gitdir[4200], top[4200], err[512], out[4200], tmp[4200] = "", tree[4300] = "",
		index[4300], patch[4300], idfile[4300], workdir[8700], new_id[64] = "";
	const char *run_id, *command, *commit, *dirty, *wd, *exp_id, *name;
	json_t *run = NULL, *words = json_array(), *params = json_array(), *av = NULL;
	struct cli_fail f;
	int rc, no_flags = 0, has_patch, made_tree = 0, ran = 0;
	char *exe = NULL, *run_name = NULL;
	double tol = 0;
	size_t i;

	if ((rc = cli_parse(&repro_spec, argc, argv))) {
		rc = rc < 0 ? CLI_OK : rc;
		goto out;
	}
	if (o_tol) {
		char *end;

		errno = 0;
		tol = strtod(o_tol, &end);
		if (!o_check) {
			rc = cli_error(CLI_USAGE, "--tolerance needs --check");
			goto out;
		}
		if (end == o_tol || *end || errno || !isfinite(tol) || tol < 0) {
			rc = cli_error(CLI_USAGE, "--tolerance: a number from 0 up, not '%s'", o_tol);
			goto out;
		}
	}
	if (cli_client_init(&f) || cli_run_fetch(o_run, &run, &f)) {
		rc = cli_fail_report(&f);
		goto out;
	}
	run_id = info(run, "run_id");
	exp_id = info(run, "experiment_id");
	name = info(run, "run_name");
	command = tag(run, "mltrack.command");
	commit = tag(run, "mlflow.source.git.commit");
	dirty = tag(run, "mltrack.git.dirty");
	wd = tag(run, "mltrack.workdir");
	if (!run_id || !exp_id) {
		rc = cli_error(CLI_SERVER, "the server's answer for run '%s' has no id", o_run);
		goto out;
	}
	if (!command) {
		rc = cli_error(CLI_CHECK_FAILED,
			       "run %s was not made by `mltrack run` (it has no mltrack.command tag): "
			       "nothing to reproduce", run_id);
		goto out;
	}
	/* cmd_run.c cuts a longer line at the limit, maybe inside a word. */
	if (strlen(command) >= MT_MAX_TAG_VALUE_LEN || split_command(command, words)) {
		rc = cli_error(CLI_CHECK_FAILED,
			       "run %s: its recorded command (mltrack.command) is cut short or "
			       "malformed", run_id);
		goto out;
	}
	if (!commit || strlen(commit) < 4 || strspn(commit, "0123456789abcdef") != strlen(commit)) {
		rc = cli_error(CLI_CHECK_FAILED,
			       "run %s has no git commit (mlflow.source.git.commit): it was not "
			       "started in a git work tree", run_id);
		goto out;
	}
	if (!wd || !*wd)
		wd = ".";
	if (wd[0] == '/' || strcmp(wd, "..") == 0 || strncmp(wd, "../", 3) == 0 ||
	    strstr(wd, "/../") || (strlen(wd) >= 3 && strcmp(wd + strlen(wd) - 3, "/..") == 0)) {
		rc = cli_error(CLI_CHECK_FAILED, "run %s: its mltrack.workdir '%s' is not inside "
			       "the repository", run_id, wd);
		goto out;
	}
	has_patch = dirty && strcmp(dirty, "true") == 0;
	params_to_give(run, words, params, &no_flags);

	/* The repository, and the commit in it. */
	{
		const char *a1[] = { "git", "rev-parse", "--absolute-git-dir", NULL };
		const char *a2[] = { "git", "rev-parse", "--show-toplevel", NULL };
		const char *dir = o_dir && *o_dir ? o_dir : ".";
		char spec[64];
		const char *a3[] = { "git", "--git-dir", gitdir, "cat-file", "-e", spec, NULL };

		if (git(dir, NULL, a1, gitdir, sizeof(gitdir), err, sizeof(err)) ||
		    git(dir, NULL, a2, top, sizeof(top), err, sizeof(err)) || !*gitdir) {
			rc = cli_error(CLI_USAGE, "%s is not in a git work tree (%s): use -C DIR to "
				       "name the repository", dir, *err ? err : "git failed");
			goto out;
		}
		snprintf(spec, sizeof(spec), "%s^{commit}", commit);
		if (git(NULL, NULL, a3, out, sizeof(out), err, sizeof(err))) {
			rc = cli_error(CLI_CHECK_FAILED,
				       "commit %s of run %s is not in the repository at %s: fetch it "
				       "there, or name another repository with -C DIR", commit,
				       run_id, top);
			goto out;
		}
	}
	if (o_name && *o_name)
		run_name = strdup(o_name);
	else if ((run_name = malloc(strlen(name && *name ? name : run_id) + 16)))
		sprintf(run_name, "reproduce-of-%s", name && *name ? name : run_id);
	if (!run_name) {
		rc = cli_error(CLI_USAGE, "out of memory");
		goto out;
	}

	if (o_dry) {
		printf("run:         %s (%s)\n", run_id, name && *name ? name : "-");
		printf("experiment:  %s\n", exp_id);
		printf("repository:  %s\n", top);
		printf("commit:      %s\n", commit);
		printf("patch:       %s\n", has_patch ? "yes (mltrack/uncommitted.patch)" : "no");
		printf("directory:   %s\n", o_keep && *o_keep ? o_keep
							   : "a temporary directory, removed after");
		printf("workdir:     %s\n", wd);
		printf("name:        %s\n", run_name);
		printf("tag:         mltrack.reproduces=%s\n", run_id);
		if (o_check)
			printf("check:       every metric, %s%s\n", tol > 0 ? "within " : "exactly",
			       tol > 0 ? o_tol : "");
		printf("params:     ");
		json_array_foreach(params, i, av)
			printf(" -p %s", json_string_value(av));
		printf("%s\n", json_array_size(params) ? "" : " (from the command)");
		av = NULL;
		printf("command:    ");
		for (i = 0; i < json_array_size(words); i++) {
			putchar(' ');
			print_word(stdout, json_string_value(json_array_get(words, i)));
		}
		putchar('\n');
		rc = CLI_OK;
		goto out;
	}

	/* The tree: a private index, the commit's files, then the patch. */
	snprintf(tmp, sizeof(tmp), "%s/mltrack-reproduce.XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp)) {
		tmp[0] = '\0';
		rc = cli_error(CLI_USAGE, "cannot make a temporary directory: %s", strerror(errno));
		goto out;
	}
	if (o_keep && *o_keep) {
		char *abs;

		if (mkdir(o_keep, 0777)) {
			rc = cli_error(CLI_USAGE, "--keep %s: %s (it must not exist yet)", o_keep,
				       strerror(errno));
			goto out;
		}
		made_tree = 1;
		if (!(abs = realpath(o_keep, NULL))) {
			rc = cli_error(CLI_USAGE, "--keep %s: %s", o_keep, strerror(errno));
			goto out;
		}
		snprintf(tree, sizeof(tree), "%s", abs);
		free(abs);
		{
			const char *a[] = { "git", "rev-parse", "--show-toplevel", NULL };

			if (git(tree, NULL, a, out, sizeof(out), err, sizeof(err)) == 0) {
				rc = cli_error(CLI_USAGE, "--keep %s is inside the git work tree %s: "
					       "the new run would record that repository's provenance; "
					       "keep it elsewhere", o_keep, out);
				goto out;
			}
		}
	} else {
		snprintf(tree, sizeof(tree), "%s/tree", tmp);
		if (mkdir(tree, 0777)) {
			rc = cli_error(CLI_USAGE, "cannot make %s: %s", tree, strerror(errno));
			goto out;
		}
		made_tree = 1;
	}
	snprintf(index, sizeof(index), "%s/index", tmp);
	{
		const char *a1[] = { "git", "--git-dir", gitdir, "--work-tree", tree, "read-tree",
				     commit, NULL };
		const char *a2[] = { "git", "--git-dir", gitdir, "--work-tree", tree,
				     "checkout-index", "-a", "-f", NULL };

		if (git(tree, index, a1, out, sizeof(out), err, sizeof(err)) ||
		    git(tree, index, a2, out, sizeof(out), err, sizeof(err))) {
			rc = cli_error(CLI_CHECK_FAILED, "cannot check out commit %s into %s: %s",
				       commit, tree, err);
			goto out;
		}
	}
	if (has_patch) {
		const char *a[] = { "git", "--git-dir", gitdir, "--work-tree", tree, "apply",
				    "--whitespace=nowarn", patch, NULL };
		struct stat st;

		snprintf(patch, sizeof(patch), "%s/uncommitted.patch", tmp);
		rc = cli_artifacts_download(run_id, "mltrack/uncommitted.patch", tmp, 1, &f);
		if (rc || stat(patch, &st)) {
			rc = cli_error(CLI_CHECK_FAILED,
				       "run %s was started from a dirty tree but its "
				       "mltrack/uncommitted.patch cannot be had", run_id);
			goto out;
		}
		if (git(tree, index, a, out, sizeof(out), err, sizeof(err))) {
			rc = cli_error(CLI_CHECK_FAILED,
				       "the uncommitted.patch of run %s does not apply to commit %s: %s",
				       run_id, commit, *err ? err : "git apply failed");
			goto out;
		}
	}
	snprintf(workdir, sizeof(workdir), "%s/%s", tree, wd);
	{
		struct stat st;

		if (stat(workdir, &st) || !S_ISDIR(st.st_mode)) {
			rc = cli_error(CLI_CHECK_FAILED,
				       "run %s started in %s, which the reproduced tree lacks", run_id,
				       wd);
			goto out;
		}
	}
	if (!cli_quiet)
		fprintf(stderr, "mltrack: reproducing run %s at %.12s%s in %s\n", run_id, commit,
			has_patch ? " + uncommitted.patch" : "", workdir);

	/* The new run. */
	if (!(exe = realpath("/proc/self/exe", NULL))) {
		rc = cli_error(CLI_USAGE, "cannot find this program: %s", strerror(errno));
		goto out;
	}
	snprintf(idfile, sizeof(idfile), "%s/run-id", tmp);
	{
		static const char *const prov[] = { "mlflow.source.git.commit",
						    "mlflow.source.git.branch",
						    "mlflow.source.git.repoURL", "mltrack.git.dirty",
						    "mltrack.workdir" };
		char *provtag[5] = { 0 };
		size_t n = 0, cap = 32 + 2 * json_array_size(params) + json_array_size(words);
		const char **v = calloc(cap, sizeof(*v));
		char reptag[128];
		int code;

		if (!v) {
			rc = cli_error(CLI_USAGE, "out of memory");
			goto out;
		}
		snprintf(reptag, sizeof(reptag), "mltrack.reproduces=%s", run_id);
		v[n++] = exe;
		v[n++] = "run";
		if (cli_quiet)
			v[n++] = "-q";
		v[n++] = "-n";
		v[n++] = run_name;
		v[n++] = "-t";
		v[n++] = reptag;
		/* The tree has no .git: the provenance is the original's. */
		for (size_t k = 0; k < sizeof(prov) / sizeof(prov[0]); k++) {
			const char *val = tag(run, prov[k]);

			if (val && *val && (provtag[k] = malloc(strlen(prov[k]) + strlen(val) + 2))) {
				sprintf(provtag[k], "%s=%s", prov[k], val);
				v[n++] = "-t";
				v[n++] = provtag[k];
			}
		}
		json_array_foreach(params, i, av) {
			v[n++] = "-p";
			v[n++] = json_string_value(av);
		}
		av = NULL;
		if (no_flags)
			v[n++] = "--no-flags";
		v[n++] = "--run-id-file";
		v[n++] = idfile;
		v[n++] = "--";
		for (i = 0; i < json_array_size(words); i++)
			v[n++] = json_string_value(json_array_get(words, i));
		v[n] = NULL;
		code = run_self(workdir, v, exp_id);
		ran = 1;
		free(v);
		for (size_t k = 0; k < 5; k++)
			free(provtag[k]);
		{
			FILE *fp = fopen(idfile, "r");

			if (fp) {
				if (!fgets(new_id, sizeof(new_id), fp))
					new_id[0] = '\0';
				new_id[strcspn(new_id, "\r\n")] = '\0';
				fclose(fp);
			}
		}
		if (code < 0) {
			rc = cli_error(CLI_USAGE, "cannot start mltrack run: %s", strerror(errno));
			goto out;
		}
		rc = code;
	}
	if (!new_id[0]) {
		if (!rc)
			rc = cli_error(CLI_SERVER, "the new run has no id yet (spooled?): nothing "
				       "to compare");
		goto out;
	}
	fflush(stderr);
	printf("\nrun %s reproduces %s:\n", new_id, run_id);
	{
		const char *c[] = { exe, "runs", "compare", "--diff", run_id, new_id, NULL };
		int code = run_self(NULL, c, exp_id);

		if (!rc && code)
			rc = code < 0 ? CLI_USAGE : code;
	}
	/* The command's own failure says more than its metrics. */
	if (o_check && rc == CLI_OK) {
		fflush(stdout);
		rc = check_metrics(run_id, new_id, tol);
	}
out:
	/* A kept tree stays once the command has run in it. */
	if (made_tree && (!(o_keep && *o_keep) || !ran))
		rm_tree(tree);
	else if (made_tree && !cli_quiet)
		fprintf(stderr, "mltrack: the reproduced tree is kept in %s\n", tree);
	rm_tree(tmp);
	free(exe);
	free(run_name);
	json_decref(run);
	json_decref(words);
	json_decref(params);
	cli_client_cleanup();
	return rc;
}
