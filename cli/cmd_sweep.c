/*
 * cmd_sweep.c: mltrack sweep [options] -- COMMAND [ARGS...]
 *
 * A hyperparameter sweep: the words of COMMAND that are sweep expressions
 * (lib/mt_sweep.h has the grammar and the plan) are replaced, trial after
 * trial, by their values, and each trial runs as a full `mltrack run` (a
 * child process: /proc/self/exe run ...), so it gets everything a run gets
 * (provenance, params from its flags, scraped metrics, output.log, the
 * spool when the server is away, signal forwarding, KILLED/FAILED/FINISHED).
 *
 * The parent run is created first, in the experiment, with the plan in its
 * tags (mltrack.sweep.command as a JSON array of the words, .seed, .trials,
 * .total, .objective, .direction, .stop_early) and every trial's values and
 * command in the artifact sweep/plan.json.  Each trial's run carries the
 * tags mlflow.parentRunId (MLflow's nesting) and mltrack.sweep.trial (its
 * index in the plan).  `--resume PARENT` reads the plan back from the tags
 * and the recorded commands from sweep/plan.json, looks up the parent's
 * children and runs only the trials that have no FINISHED (or stopped-early)
 * run yet.
 *
 * The trials' output comes through pipes: passed on unchanged with
 * --parallel 1, each line prefixed with "[N] " (N the trial) otherwise.  The
 * sweep scrapes the objective from it as `mltrack run` does (the built-in
 * "name: number" lines and "step: N"), for --stop-early and the table.
 *
 * Signals: SIGINT, SIGTERM, SIGHUP sent to the sweep stop it: no trial
 * starts any more, the signal goes on to every running trial (a Ctrl-C at
 * the terminal reached them already), whose runs end KILLED; so does the
 * parent, and the sweep exits 128 + the signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "git.h"
#include "mt_limits.h"
#include "mt_redact.h"
#include "mt_scrape.h"
#include "mt_sweep.h"
#include "mt_util.h"

static const char *o_exp, *o_name, *o_parallel, *o_trials, *o_seed, *o_objective, *o_stop,
	*o_resume;
static int o_max, o_min;
static struct cli_list o_cmd, o_scrape, o_params, o_tags;

static const struct cli_opt sweep_opts[] = {
	{ CLI_OPT_VALUE, &o_exp, 'e', "experiment", "NAME", 0,
	  "experiment (created if missing) [MLFLOW_EXPERIMENT_NAME; default: Default]" },
	{ CLI_OPT_VALUE, &o_name, 'n', "name", "NAME", 0,
	  "the parent run's name; trial N's run is NAME-N (default: sweep-SEED)" },
	{ CLI_OPT_VALUE, &o_parallel, 0, "parallel", "N", 0,
	  "run N trials at once, each output line prefixed with [trial] (default 1)" },
	{ CLI_OPT_VALUE, &o_trials, 0, "trials", "K", 0,
	  "draws per grid point (default: 10 without a grid, else 1); with no "
	  "distribution, K grid points picked at random" },
	{ CLI_OPT_VALUE, &o_seed, 0, "seed", "S", 0,
	  "seed of the draws, 0..2^64-1 (default: a random one, printed and recorded)" },
	{ CLI_OPT_VALUE, &o_objective, 0, "objective", "metrics.KEY", 0,
	  "the metric that ranks the trials (its last value)" },
	{ CLI_OPT_SWITCH, &o_max, 0, "maximize", NULL, 0, "higher objective is better (default)" },
	{ CLI_OPT_SWITCH, &o_min, 0, "minimize", NULL, 0, "lower objective is better" },
	{ CLI_OPT_VALUE, &o_stop, 0, "stop-early", "median", 0,
	  "stop a trial whose objective at a step is worse than the median of the earlier "
	  "trials' at that step (3 or more of them)" },
	{ CLI_OPT_VALUE, &o_resume, 0, "resume", "RUN", 0,
	  "go on with the sweep whose parent run is RUN: run the trials it has no finished "
	  "run for (no COMMAND; its plan comes from RUN's tags)" },
	{ CLI_OPT_LIST, &o_scrape, 0, "scrape", "REGEX", 0,
	  "also scrape metrics with REGEX, in each trial's run and for the objective "
	  "(as mltrack run --scrape; repeatable)" },
	{ CLI_OPT_LIST, &o_params, 'p', "param", "KEY=VALUE", 0,
	  "log a param in every trial's run (as mltrack run -p; repeatable)" },
	{ CLI_OPT_LIST, &o_tags, 't', "tag", "KEY=VALUE", 0,
	  "set a tag on every trial's run and on the parent (as mltrack run -t; repeatable)" },
	{ CLI_OPT_ARGS, &o_cmd, 0, "COMMAND", NULL, 0,
	  "the command to run, with its arguments (after --); swept values in its words" },
	{ 0, NULL, 0, NULL, NULL, 0, NULL },
};

static const struct cli_spec sweep_spec = {
	"sweep", "Run a command once per point of a hyperparameter space, as child runs of one run.",
	sweep_opts,
	"A word of COMMAND, or the value of a --flag=VALUE word, is swept when it is:\n"
	"  [a,b,c]            each item in turn (grid)\n"
	"  range(a,b[,step])  integers from a up to but not including b (grid)\n"
	"  uniform(a,b)       a number drawn from [a,b)\n"
	"  loguniform(a,b)    a number drawn with a uniform logarithm, 0 < a < b\n"
	"  choice(a,b,...)    one item drawn at random\n"
	"(quote them for the shell; a leading backslash, '\\[1,2]', passes a word as it is).\n"
	"The trials: every point of the grid (the product of lists and ranges), each\n"
	"K times with fresh draws of the distributions.  Each trial is a `mltrack run`\n"
	"whose run has the tag mlflow.parentRunId; the parent run records the plan.\n"
	"At the end: the trials sorted by the objective, the best one's command line,\n"
	"and the parent tagged mltrack.sweep.best_run.  Ctrl-C stops every trial (their\n"
	"runs end KILLED); `mltrack sweep --resume RUN` runs the ones not finished.\n"
	"Exit status: 0 every trial finished (or was stopped early); 1 some trial\n"
	"failed; 2 usage; 3 the parent run could not be created; 128+N on signal N.",
	1,
};

/* ---- trials ---- */

enum trial_state { T_PENDING, T_RUNNING, T_DONE, T_EARLIER };

struct point {
	long long step;
	double value;
};

struct trial {
	size_t index;
	enum trial_state state;
	char **values, **argv; /* from mt_sweep_trial_make (owned) */
	pid_t pid;
	int fd[2];             /* its stdout and stderr, -1 once ended */
	char *line[2];         /* a partial line, with --parallel > 1 */
	size_t line_len[2];
	struct mt_scraper *scraper;
	struct point *pts;     /* the objective's points, in order (owned) */
	size_t npts, cap;
	int has_obj;
	double obj;            /* the value at the highest step */
	long long obj_step;
	int pruned;            /* stopped early by us */
	int exited, code;      /* mltrack run's exit status */
	char status[16];       /* FINISHED, FAILED, KILLED, STOPPED */
	char run_id[64];
	char id_file[4200];
};

struct sweep {
	struct mt_sweep space;
	struct mt_sweep_plan plan;
	struct trial *t;
	size_t n;
	int parallel;
	const char *key;       /* the objective's metric key, or NULL */
	int minimize;
	int stop_median;
	char exp_id[64];
	char parent[64];
	char name[MT_MAX_RUN_NAME_LEN + 1];
	char tmp[4096];        /* a private directory for run-id files and the plan */
	char *exe;
	const char **scrape;   /* --scrape patterns (borrowed) */
	size_t nscrape;
	struct cli_list pw, tw; /* the -p and -t KEY=VALUE words of every trial */
	json_t *pw_json, *tw_json; /* on --resume: the tags they come from (owned), and
				    * pw.v, tw.v are then owned arrays */
};

static volatile sig_atomic_t got_signal, got_signal_code;
static int self_pipe[2] = { -1, -1 };

static void on_signal(int sig, siginfo_t *si, void *ctx)
{
	int e = errno;

	(void)ctx;
	got_signal = sig;
	got_signal_code = si ? si->si_code : SI_USER;
	if (self_pipe[1] >= 0 && write(self_pipe[1], "x", 1) < 0) {
		/* full: a wakeup is pending anyway */
	}
	errno = e;
}

static json_t *kv(const char *k, const char *v)
{
	return json_pack("{s:s, s:s}", "key", k, "value", v);
}

/* The command line as it may be shown: credentials in reach and URL
 * passwords as *** (mt_redact), as everything mltrack prints or records. */
static char *quoted(char *const *argv, int argc)
{
	char *raw = cli_shell_quote(argc, argv, SIZE_MAX), *m;

	if (!raw)
		return NULL;
	m = mt_redact_dup(raw);
	free(raw);
	return m;
}

static const char *user_name(void)
{
	const char *u = getenv("USER");
	struct passwd *pw;

	if (u && *u)
		return u;
	pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

static const char *tag_of(json_t *run, const char *key)
{
	json_t *tags = json_object_get(json_object_get(run, "data"), "tags"), *t;
	size_t i;

	json_array_foreach(tags, i, t)
		if (json_is_string(json_object_get(t, "key")) &&
		    strcmp(json_string_value(json_object_get(t, "key")), key) == 0)
			return json_string_value(json_object_get(t, "value"));
	return NULL;
}

static int set_tag(const char *run_id, const char *key, const char *value)
{
	json_t *body = json_pack("{s:s, s:s, s:s}", "run_id", run_id, "key", key, "value", value);
	struct cli_fail f;
	int rc = cli_api("POST", "/api/2.0/mlflow/runs/set-tag", NULL, body, NULL, &f);

	json_decref(body);
	if (rc)
		cli_warn("cannot tag run %s with %s: %s", run_id, key, f.msg);
	return rc;
}

static int update_run(const char *run_id, const char *status, int end)
{
	json_t *body = json_pack("{s:s, s:s}", "run_id", run_id, "status", status);
	struct cli_fail f;
	int rc;

	if (end)
		json_object_set_new(body, "end_time", json_integer(mt_now_ms()));
	rc = cli_api("POST", "/api/2.0/mlflow/runs/update", NULL, body, NULL, &f);
	json_decref(body);
	if (rc)
		cli_warn("cannot set run %s to %s: %s", run_id, status, f.msg);
	return rc;
}

/* ---- the objective and early stopping ---- */

static int better(const struct sweep *s, double a, double b)
{
	return s->minimize ? a < b : a > b;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The value trial t reported at step (its last one there), or NAN. */
static double value_at(const struct trial *t, long long step)
{
	for (size_t i = t->npts; i-- > 0;)
		if (t->pts[i].step == step)
			return t->pts[i].value;
	return NAN;
}

#define MEDIAN_MIN 3 /* earlier trials needed at a step before stopping a trial */

/* --stop-early median: is trial t, which reported v at step, to stop? */
static int worse_than_median(struct sweep *s, const struct trial *t, long long step, double v,
			     double *median, size_t *count)
{
	double *vals = malloc(s->n * sizeof(*vals));
	size_t n = 0;

	if (!vals || isnan(v))
		return free(vals), 0;
	for (size_t i = 0; i < s->n; i++) {
		double x;

		if (s->t[i].index >= t->index)
			continue;
		x = value_at(&s->t[i], step);
		if (!isnan(x))
			vals[n++] = x;
	}
	*count = n;
	if (n < MEDIAN_MIN)
		return free(vals), 0;
	qsort(vals, n, sizeof(*vals), cmp_double);
	*median = n % 2 ? vals[n / 2] : (vals[n / 2 - 1] + vals[n / 2]) / 2;
	free(vals);
	return better(s, *median, v);
}

struct emit_ctx {
	struct sweep *s;
	struct trial *t;
};

static void on_metric(void *arg, const char *key, double value, long long step)
{
	struct emit_ctx *c = arg;
	struct trial *t = c->t;
	double median;
	size_t count;

	if (!c->s->key || strcmp(key, c->s->key) != 0)
		return;
	if (t->npts == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct point *p = realloc(t->pts, cap * sizeof(*p));

		if (!p)
			return;
		t->pts = p;
		t->cap = cap;
	}
	t->pts[t->npts++] = (struct point){ step, value };
	if (!t->has_obj || step >= t->obj_step) {
		t->has_obj = 1;
		t->obj = value;
		t->obj_step = step;
	}
	if (c->s->stop_median && !t->pruned && t->state == T_RUNNING &&
	    worse_than_median(c->s, t, step, value, &median, &count)) {
		t->pruned = 1;
		fprintf(stderr, "mltrack: sweep: stopping trial %zu early: %s %g at step %lld is "
			"worse than %g, the median of %zu earlier trials\n", t->index, key, value,
			step, median, count);
		kill(t->pid, SIGTERM);
	}
}

/* ---- running trials ---- */

static void put_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* our output is gone: the trials go on */
		buf += w;
		n -= (size_t)w;
	}
}

/* Pass bytes of stream which of trial t on: as they are, or as whole lines
 * each prefixed with "[N] " (a last partial line when flush). */
static void pass_on(struct sweep *s, struct trial *t, int which, const char *buf, size_t n,
		    int flush)
{
	int out = which ? STDERR_FILENO : STDOUT_FILENO;
	char prefix[32];
	size_t plen = (size_t)snprintf(prefix, sizeof(prefix), "[%zu] ", t->index);

	if (s->parallel <= 1) {
		put_all(out, buf, n);
		return;
	}
	while (n > 0 || (flush && t->line_len[which])) {
		const char *nl = n ? memchr(buf, '\n', n) : NULL;
		size_t take = nl ? (size_t)(nl - buf) + 1 : n;
		char *l;

		if (!nl && !flush && t->line_len[which] + take < 65536) {
			if (!(l = realloc(t->line[which], t->line_len[which] + take)))
				return;
			memcpy(l + t->line_len[which], buf, take);
			t->line[which] = l;
			t->line_len[which] += take;
			return;
		}
		/* A whole line (or a long one, or the end): out in one write. */
		l = malloc(plen + t->line_len[which] + take + 1);
		if (!l)
			return;
		memcpy(l, prefix, plen);
		if (t->line_len[which])
			memcpy(l + plen, t->line[which], t->line_len[which]);
		if (take)
			memcpy(l + plen + t->line_len[which], buf, take);
		{
			size_t len = plen + t->line_len[which] + take;

			if (l[len - 1] != '\n')
				l[len++] = '\n';
			put_all(out, l, len);
		}
		free(l);
		free(t->line[which]);
		t->line[which] = NULL;
		t->line_len[which] = 0;
		buf += take;
		n -= take;
	}
}

static void set_child_env(const char *k, const char *v)
{
	if (setenv(k, v, 1)) {
		/* out of memory before exec: the run will say what it lacks */
	}
}

/* Start trial t: `mltrack run` with the sweep's tags. */
static int start_trial(struct sweep *s, struct trial *t)
{
	int out[2], err[2];
	char name[MT_MAX_RUN_NAME_LEN + 32], trial[32], parent[96];
	const char **av;
	size_t n = 0, first_p;
	pid_t pid;

	snprintf(t->id_file, sizeof(t->id_file), "%s/trial-%zu.id", s->tmp, t->index);
	unlink(t->id_file);
	snprintf(name, sizeof(name), "%s-%zu", s->name, t->index);
	snprintf(trial, sizeof(trial), "mltrack.sweep.trial=%zu", t->index);
	snprintf(parent, sizeof(parent), "mlflow.parentRunId=%s", s->parent);
	av = calloc((size_t)s->space.argc + 4 * s->space.n_axes + 2 * s->nscrape +
			    2 * (size_t)(s->pw.n + s->tw.n) + 16, sizeof(*av));
	if (!av || pipe2(out, O_CLOEXEC)) {
		free(av);
		return -1;
	}
	if (pipe2(err, O_CLOEXEC)) {
		close(out[0]);
		close(out[1]);
		free(av);
		return -1;
	}
	av[n++] = "mltrack";
	if (cli_quiet)
		av[n++] = "-q";
	av[n++] = "run";
	av[n++] = "-n";
	av[n++] = name;
	av[n++] = "-t";
	av[n++] = parent;
	av[n++] = "-t";
	av[n++] = trial;
	av[n++] = "--run-id-file";
	av[n++] = t->id_file;
	for (size_t k = 0; k < s->nscrape; k++) {
		av[n++] = "--scrape";
		av[n++] = s->scrape[k];
	}
	for (int k = 0; k < s->tw.n; k++) {
		av[n++] = "-t";
		av[n++] = s->tw.v[k];
	}
	for (int k = 0; k < s->pw.n; k++) {
		av[n++] = "-p";
		av[n++] = s->pw.v[k];
	}
	/* A swept word that is not a flag's value becomes a param here (flags
	 * become params in `mltrack run` itself). */
	first_p = n;
	for (size_t k = 0; k < s->space.n_axes; k++) {
		const struct mt_sweep_axis *a = &s->space.axes[k];

		if (!a->flag) {
			char *p = malloc(strlen(a->name) + strlen(t->values[k]) + 2);

			if (!p)
				continue;
			sprintf(p, "%s=%s", a->name, t->values[k]);
			av[n++] = "-p";
			av[n++] = p;
		}
	}
	av[n++] = "--";
	for (int w = 0; w < s->space.argc; w++)
		av[n++] = t->argv[w];
	av[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		struct sigaction dfl = { .sa_handler = SIG_DFL };

		sigemptyset(&dfl.sa_mask);
		sigaction(SIGINT, &dfl, NULL);
		sigaction(SIGTERM, &dfl, NULL);
		sigaction(SIGHUP, &dfl, NULL);
		sigaction(SIGPIPE, &dfl, NULL);
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		set_child_env("MLTRACK_TRACKING_URI", cli_tracking_uri_given);
		set_child_env("MLFLOW_EXPERIMENT_ID", s->exp_id);
		unsetenv("MLFLOW_EXPERIMENT_NAME");
		unsetenv("MLFLOW_RUN_ID");
		unsetenv("MLTRACK_RUN_ID");
		execv(s->exe, (char *const *)av);
		fprintf(stderr, "mltrack: cannot run %s: %s\n", s->exe, strerror(errno));
		_exit(127);
	}
	for (size_t k = first_p; av[k] && strcmp(av[k], "--") != 0; k += 2)
		if (strcmp(av[k], "-p") == 0)
			free((char *)av[k + 1]);
	free(av);
	close(out[1]);
	close(err[1]);
	if (pid < 0) {
		close(out[0]);
		close(err[0]);
		return -1;
	}
	t->pid = pid;
	t->fd[0] = out[0];
	t->fd[1] = err[0];
	t->state = T_RUNNING;
	t->scraper = mt_scraper_new(1);
	for (size_t k = 0; t->scraper && k < s->nscrape; k++) {
		struct mt_err e = MT_ERR_INIT;

		if (mt_scraper_add(t->scraper, s->scrape[k], &e))
			cli_warn("trial %zu: %s", t->index, e.msg); /* checked at the start */
	}
	return 0;
}

/* Trial t has exited and its output ended: what became of it. */
static void finish_trial(struct sweep *s, struct trial *t)
{
	struct emit_ctx c = { s, t };
	FILE *f;

	if (t->scraper)
		mt_scraper_flush(t->scraper, on_metric, &c);
	mt_scraper_free(t->scraper);
	t->scraper = NULL;
	for (int w = 0; w < 2; w++)
		if (t->line_len[w])
			pass_on(s, t, w, "", 0, 1);
	if ((f = fopen(t->id_file, "r"))) {
		if (fgets(t->run_id, sizeof(t->run_id), f))
			t->run_id[strcspn(t->run_id, "\r\n")] = '\0';
		fclose(f);
		unlink(t->id_file);
	}
	if (t->pruned)
		snprintf(t->status, sizeof(t->status), "STOPPED");
	else if (t->code == 0)
		snprintf(t->status, sizeof(t->status), "FINISHED");
	else if (t->code > 128 || got_signal)
		snprintf(t->status, sizeof(t->status), "KILLED");
	else
		snprintf(t->status, sizeof(t->status), "FAILED");
	if (t->pruned && t->run_id[0]) {
		char step[32];

		set_tag(t->run_id, "mltrack.sweep.stopped_early", "true");
		snprintf(step, sizeof(step), "%lld", t->npts ? t->pts[t->npts - 1].step : 0);
		set_tag(t->run_id, "mltrack.sweep.stopped_at_step", step);
	}
	t->state = T_DONE;
}

/* Start trials up to --parallel and pump their output until every trial
 * has ended (or, after a signal, every running one). */
static void run_trials(struct sweep *s)
{
	size_t next = 0;
	int forwarded = 0;

	for (;;) {
		struct pollfd pf[1 + 2 * 64];
		struct trial *who[1 + 2 * 64];
		int which[1 + 2 * 64];
		nfds_t np = 0;
		size_t running = 0;
		char drain[64];

		for (size_t i = 0; i < s->n; i++)
			running += s->t[i].state == T_RUNNING;
		while (!got_signal && running < (size_t)s->parallel && next < s->n) {
			struct trial *t = &s->t[next++];

			if (t->state != T_PENDING)
				continue;
			if (!cli_quiet) {
				char *line = quoted(t->argv, s->space.argc);

				fprintf(stderr, "mltrack: sweep: trial %zu (%zu trials): %s\n", t->index,
					s->plan.total, line ? line : "");
				free(line);
			}
			if (start_trial(s, t)) {
				cli_warn("cannot start trial %zu: %s", t->index, strerror(errno));
				t->state = T_DONE;
				t->code = 127;
				snprintf(t->status, sizeof(t->status), "FAILED");
				continue;
			}
			running++;
		}
		if (got_signal && !forwarded) {
			int sig = got_signal;

			forwarded = 1;
			/* A key typed at the terminal reached the trials too. */
			for (size_t i = 0; i < s->n; i++)
				if (s->t[i].state == T_RUNNING &&
				    (!(sig == SIGINT || sig == SIGQUIT) || got_signal_code != SI_KERNEL))
					kill(s->t[i].pid, sig);
		}
		if (running == 0)
			break;
		pf[np] = (struct pollfd){ .fd = self_pipe[0], .events = POLLIN };
		who[np++] = NULL;
		for (size_t i = 0; i < s->n; i++) {
			struct trial *t = &s->t[i];

			for (int w = 0; t->state == T_RUNNING && w < 2; w++)
				if (t->fd[w] >= 0 && np < sizeof(pf) / sizeof(pf[0])) {
					pf[np] = (struct pollfd){ .fd = t->fd[w], .events = POLLIN };
					which[np] = w;
					who[np++] = t;
				}
		}
		if (poll(pf, np, 200) < 0 && errno != EINTR)
			break;
		while (read(self_pipe[0], drain, sizeof(drain)) > 0)
			;
		for (nfds_t k = 1; k < np; k++) {
			struct trial *t = who[k];
			char buf[65536];
			ssize_t r;

			if (!pf[k].revents)
				continue;
			r = read(t->fd[which[k]], buf, sizeof(buf));
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				close(t->fd[which[k]]);
				t->fd[which[k]] = -1;
				continue;
			}
			pass_on(s, t, which[k], buf, (size_t)r, 0);
			if (t->scraper) {
				struct emit_ctx c = { s, t };

				mt_scraper_feed(t->scraper, which[k], buf, (size_t)r, on_metric, &c);
			}
		}
		for (size_t i = 0; i < s->n; i++) {
			struct trial *t = &s->t[i];
			int status;

			if (t->state != T_RUNNING)
				continue;
			if (!t->exited && waitpid(t->pid, &status, WNOHANG) == t->pid) {
				t->exited = 1;
				t->code = WIFEXITED(status) ? WEXITSTATUS(status)
							    : 128 + WTERMSIG(status);
			}
			if (t->exited && t->fd[0] < 0 && t->fd[1] < 0)
				finish_trial(s, t);
		}
	}
}

/* ---- the plan, recorded and read back ---- */

/* A JSON string of s with secrets masked (a JSON null when s is not UTF-8). */
static json_t *masked_string(const char *s)
{
	char *m = mt_redact_dup(s);
	json_t *j = json_string(m ? m : "");

	free(m);
	return j;
}

/* sweep/plan.json: {"seed", "axes": [names], "trials": [{"trial", "values":
 * {name: value}, "args": [the command's words]}]}: what each trial runs,
 * so that --resume runs the recorded commands, whatever a later mltrack
 * would draw from the seed. */
static int write_plan(struct sweep *s, unsigned long long seed, struct cli_fail *f)
{
	char path[4200], sd[32];
	json_t *trials = json_array(), *axes = json_array(), *plan;
	const char *local[1] = { path };
	int rc;

	for (size_t k = 0; k < s->space.n_axes; k++)
		json_array_append_new(axes, json_string(s->space.axes[k].name));
	for (size_t i = 0; i < s->n; i++) {
		json_t *vals = json_object(), *args = json_array();

		/* Secrets masked, as in every tag and param (a word that held
		 * one resumes as ***: pass secrets in the environment). */
		for (size_t k = 0; k < s->space.n_axes; k++)
			json_object_set_new(vals, s->space.axes[k].name,
					    masked_string(s->t[i].values[k]));
		for (int w = 0; w < s->space.argc; w++)
			json_array_append_new(args, masked_string(s->t[i].argv[w]));
		json_array_append_new(trials, json_pack("{s:I, s:o, s:o}", "trial",
							(json_int_t)s->t[i].index, "values", vals,
							"args", args));
	}
	snprintf(sd, sizeof(sd), "%llu", seed);
	plan = json_pack("{s:s, s:o, s:o}", "seed", sd, "axes", axes, "trials", trials);
	snprintf(path, sizeof(path), "%s/plan.json", s->tmp);
	if (!plan || json_dump_file(plan, path, JSON_INDENT(1))) {
		json_decref(plan);
		return cli_fail_set(f, CLI_USAGE, "cannot write %s", path);
	}
	json_decref(plan);
	rc = cli_artifacts_upload(s->parent, local, 1, "sweep", 1, f);
	unlink(path);
	return rc == CLI_OK ? 0 : -1;
}

static char *dup_or_null(const char *v)
{
	return v ? strdup(v) : NULL;
}

/* --resume: take each trial's command and values from sweep/plan.json.
 * 0 (also when there is no plan to read: the seed's plan stands, with a
 * warning), or an exit code after a message (a plan that does not fit). */
static int read_plan(struct sweep *s)
{
	char path[4200];
	struct cli_fail f;
	json_t *plan, *trials;
	int rc = 0;

	if (cli_artifacts_download(s->parent, "sweep/plan.json", s->tmp, 1, &f) != CLI_OK) {
		cli_warn("sweep/plan.json of run %s cannot be read: the trials are made again "
			 "from the seed", s->parent);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/plan.json", s->tmp);
	plan = json_load_file(path, 0, NULL);
	unlink(path);
	trials = json_object_get(plan, "trials");
	if (json_array_size(trials) != s->n) {
		json_decref(plan);
		return cli_error(CLI_USAGE, "run %s: sweep/plan.json has %zu trials, its tags say "
				 "%zu", s->parent, json_array_size(trials), s->n);
	}
	for (size_t i = 0; i < s->n && !rc; i++) {
		json_t *t = json_array_get(trials, i), *args = json_object_get(t, "args");
		json_t *vals = json_object_get(t, "values");

		if (json_integer_value(json_object_get(t, "trial")) != (json_int_t)i ||
		    json_array_size(args) != (size_t)s->space.argc || !json_is_object(vals)) {
			rc = cli_error(CLI_USAGE, "run %s: sweep/plan.json is damaged (trial %zu)",
				       s->parent, i);
			break;
		}
		for (int w = 0; w < s->space.argc; w++) {
			char *v = dup_or_null(json_string_value(json_array_get(args, (size_t)w)));

			if (!v) {
				rc = cli_error(CLI_USAGE, "run %s: sweep/plan.json is damaged "
					       "(trial %zu)", s->parent, i);
				break;
			}
			free(s->t[i].argv[w]);
			s->t[i].argv[w] = v;
		}
		for (size_t k = 0; !rc && k < s->space.n_axes; k++) {
			char *v = dup_or_null(json_string_value(
				json_object_get(vals, s->space.axes[k].name)));

			if (v) {
				free(s->t[i].values[k]);
				s->t[i].values[k] = v;
			}
		}
	}
	json_decref(plan);
	return rc;
}

/* The children the parent has already: trials with a FINISHED (or stopped
 * early) run are done. */
static int load_children(struct sweep *s, struct cli_fail *f)
{
	char filter[160];
	const char *token = NULL;
	json_t *reply = NULL;

	snprintf(filter, sizeof(filter), "tags.mlflow.parentRunId = '%s'", s->parent);
	for (;;) {
		json_t *body = json_pack("{s:[s], s:s, s:i}", "experiment_ids", s->exp_id, "filter",
					 filter, "max_results", 1000), *runs, *run;
		size_t i;

		if (token)
			json_object_set_new(body, "page_token", json_string(token));
		json_decref(reply);
		reply = NULL;
		if (cli_api("POST", "/api/2.0/mlflow/runs/search", NULL, body, &reply, f)) {
			json_decref(body);
			return -1;
		}
		json_decref(body);
		runs = json_object_get(reply, "runs");
		json_array_foreach(runs, i, run) {
			const char *ti = tag_of(run, "mltrack.sweep.trial");
			const char *st = json_string_value(
				json_object_get(json_object_get(run, "info"), "status"));
			const char *stopped = tag_of(run, "mltrack.sweep.stopped_early");
			char *end;
			unsigned long long idx;
			json_t *m;
			size_t j;

			if (!ti || !st)
				continue;
			idx = strtoull(ti, &end, 10);
			if (*end || idx >= s->n)
				continue;
			if (strcmp(st, "FINISHED") != 0 && !(stopped && strcmp(stopped, "true") == 0))
				continue;
			{
				struct trial *t = &s->t[idx];

				t->state = T_EARLIER;
				snprintf(t->status, sizeof(t->status), "%s",
					 strcmp(st, "FINISHED") == 0 ? "FINISHED" : "STOPPED");
				snprintf(t->run_id, sizeof(t->run_id), "%s",
					 json_string_value(json_object_get(
						 json_object_get(run, "info"), "run_id")) ?: "");
				json_array_foreach(json_object_get(json_object_get(run, "data"),
								   "metrics"), j, m)
					if (s->key && json_is_string(json_object_get(m, "key")) &&
					    strcmp(json_string_value(json_object_get(m, "key")),
						   s->key) == 0 &&
					    json_is_number(json_object_get(m, "value"))) {
						t->has_obj = 1;
						t->obj = json_number_value(json_object_get(m, "value"));
						t->obj_step = json_integer_value(json_object_get(m, "step"));
					}
			}
		}
		token = json_string_value(json_object_get(reply, "next_page_token"));
		if (!token || !*token)
			break;
	}
	json_decref(reply);
	return 0;
}

/* --stop-early on resume: the objective's history of the trials done
 * before, so that the median counts them. */
static void load_history(struct sweep *s, struct trial *t)
{
	struct cli_metric_point *pts = NULL;
	struct cli_fail f;
	size_t n = 0;

	if (cli_metric_history(t->run_id, s->key, &pts, &n, &f) == 0) {
		struct point *v = n ? realloc(t->pts, (t->npts + n) * sizeof(*v)) : NULL;

		if (v) {
			for (size_t i = 0; i < n; i++)
				v[t->npts++] = (struct point){ pts[i].step, pts[i].value };
			t->pts = v;
			t->cap = t->npts;
		}
	}
	free(pts);
}

/* ---- the end ---- */

/* The objective of a trial whose output did not show it (a command that
 * logs through an MLflow client): the latest value the server holds. */
static void fetch_objective(const struct sweep *s, struct trial *t)
{
	const char *q[] = { "run_id", t->run_id, NULL };
	json_t *r = NULL, *m;
	struct cli_fail f;
	size_t i;

	if (cli_api("GET", "/api/2.0/mlflow/runs/get", q, NULL, &r, &f))
		return;
	json_array_foreach(json_object_get(json_object_get(json_object_get(r, "run"), "data"),
					   "metrics"), i, m)
		if (json_is_string(json_object_get(m, "key")) &&
		    strcmp(json_string_value(json_object_get(m, "key")), s->key) == 0 &&
		    json_is_number(json_object_get(m, "value"))) {
			t->has_obj = 1;
			t->obj = json_number_value(json_object_get(m, "value"));
			t->obj_step = json_integer_value(json_object_get(m, "step"));
		}
	json_decref(r);
}

static const struct sweep *sort_sweep;

/* A trial has an objective to rank by: a value, not NaN. */
static int ranked(const struct trial *t)
{
	return t->has_obj && !isnan(t->obj);
}

static int by_objective(const void *a, const void *b)
{
	const struct trial *x = *(const struct trial *const *)a, *y = *(const struct trial *const *)b;

	if (sort_sweep->key && ranked(x) != ranked(y))
		return ranked(x) ? -1 : 1;
	if (sort_sweep->key && ranked(x) && x->obj != y->obj)
		return better(sort_sweep, x->obj, y->obj) ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* The table, the best trial's command, the parent's best tags.  Returns
 * the best trial or NULL. */
static const struct trial *report(struct sweep *s)
{
	struct trial **order = malloc(s->n * sizeof(*order));
	size_t ncol = 3 + (s->key ? 1 : 0) + s->space.n_axes, c;
	const char **row = calloc(ncol, sizeof(*row));
	struct cli_table tab;
	const struct trial *best = NULL;
	char (*cells)[64] = calloc(ncol, sizeof(*cells));

	if (!order || !row || !cells) {
		free(order);
		free(row);
		free(cells);
		return NULL;
	}
	for (size_t i = 0; i < s->n; i++) {
		order[i] = &s->t[i];
		if (s->key && s->t[i].state == T_DONE && !s->t[i].has_obj && s->t[i].run_id[0])
			fetch_objective(s, &s->t[i]);
	}
	sort_sweep = s;
	qsort(order, s->n, sizeof(*order), by_objective);
	c = 0;
	row[c++] = "trial";
	row[c++] = "status";
	if (s->key)
		row[c++] = s->key;
	for (size_t k = 0; k < s->space.n_axes; k++)
		row[c++] = s->space.axes[k].name;
	row[c++] = "run";
	if (cli_table_init(&tab, ncol, row) == 0) {
		for (size_t i = 0; i < s->n; i++) {
			const struct trial *t = order[i];

			if (t->state == T_PENDING)
				continue;
			c = 0;
			snprintf(cells[0], sizeof(cells[0]), "%zu", t->index);
			row[c++] = cells[0];
			row[c++] = t->status;
			if (s->key) {
				if (t->has_obj)
					snprintf(cells[1], sizeof(cells[1]), "%.6g", t->obj);
				else
					snprintf(cells[1], sizeof(cells[1]), "-");
				row[c++] = cells[1];
			}
			for (size_t k = 0; k < s->space.n_axes; k++)
				row[c++] = t->values[k];
			row[c++] = t->run_id[0] ? t->run_id : "-";
			cli_table_add(&tab, row);
			/* The best: a trial that finished with the objective
			 * (a stopped one is not a candidate). */
			if (!best && s->key && ranked(t) && strcmp(t->status, "FINISHED") == 0)
				best = t;
		}
		cli_table_print(&tab, stdout);
		cli_table_release(&tab);
	}
	if (best) {
		char *cmd = quoted(best->argv, s->space.argc);
		char v[64];

		printf("\nbest: trial %zu, %s %.6g, run %s\n  %s\n", best->index, s->key, best->obj,
		       best->run_id[0] ? best->run_id : "-", cmd ? cmd : "");
		free(cmd);
		if (best->run_id[0]) {
			set_tag(s->parent, "mltrack.sweep.best_run", best->run_id);
			snprintf(v, sizeof(v), "%zu", best->index);
			set_tag(s->parent, "mltrack.sweep.best_trial", v);
			snprintf(v, sizeof(v), "%.15g", best->obj);
			set_tag(s->parent, "mltrack.sweep.best_value", v);
		}
	}
	fflush(stdout);
	free(order);
	free(row);
	free(cells);
	return best;
}

/* ---- the command ---- */

static int parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return *end || errno || *out > max ? -1 : 0;
}

static uint64_t random_seed(void)
{
	uint64_t x = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, &x, sizeof(x)) != sizeof(x))
		x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (fd >= 0)
		close(fd);
	return x >> 11; /* shorter to type again: up to 2^53 */
}

static void sweep_release(struct sweep *s)
{
	for (size_t i = 0; s->t && i < s->n; i++) {
		mt_sweep_trial_free(&s->space, s->t[i].values, s->t[i].argv);
		free(s->t[i].pts);
		free(s->t[i].line[0]);
		free(s->t[i].line[1]);
		mt_scraper_free(s->t[i].scraper);
	}
	free(s->t);
	if (s->pw_json)
		free(s->pw.v);
	if (s->tw_json)
		free(s->tw.v);
	json_decref(s->pw_json);
	json_decref(s->tw_json);
	mt_sweep_plan_release(&s->plan);
	mt_sweep_release(&s->space);
	if (s->tmp[0])
		rmdir(s->tmp);
	free(s->exe);
}

/* The words of a mltrack.sweep.params or .tags tag (a JSON array of
 * "KEY=VALUE" strings) into *j (owned) and l (an owned array of borrowed
 * strings).  0, or -1 when the tag is not such an array. */
static int words_of(const char *tagval, json_t **j, struct cli_list *l)
{
	if (!tagval)
		return 0;
	*j = json_loads(tagval, 0, NULL);
	if (!json_is_array(*j) || !(l->v = calloc(json_array_size(*j) + 1, sizeof(*l->v))))
		return -1;
	for (size_t i = 0; i < json_array_size(*j); i++)
		if (!(l->v[l->n++] = json_string_value(json_array_get(*j, i))))
			return -1;
	return 0;
}

/* The -p/-t words as the tag that records them: a JSON array of strings
 * (owned), or NULL when there are none or it is too long (*toolong). */
static char *words_tag(const struct cli_list *l, int *toolong)
{
	json_t *a = json_array();
	char *t;

	if (!l->n)
		return json_decref(a), NULL;
	for (int i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	t = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	if (t && strlen(t) > MT_MAX_TAG_VALUE_LEN) {
		free(t);
		t = NULL;
		*toolong = 1;
	}
	return t;
}

/* The -p and -t words, checked as `mltrack run` checks them, and not
 * clashing with what the sweep sets itself: a param named after an axis
 * (its value differs per trial), the sweep's tags. */
static int check_words(const struct sweep *s)
{
	json_t *ps = json_array(), *ts = json_array(), *e;
	int rc = cli_kv_pairs(&s->pw, "-p", "param", ps);
	size_t i;

	if (!rc)
		rc = cli_kv_pairs(&s->tw, "-t", "tag", ts);
	json_array_foreach(rc ? NULL : ps, i, e) {
		const char *k = json_string_value(json_object_get(e, "key"));

		for (size_t a = 0; a < s->space.n_axes; a++)
			if (strcmp(k, s->space.axes[a].name) == 0) {
				rc = cli_error(CLI_USAGE, "-p %s: the param %s is swept (its value "
					       "is each trial's)", k, k);
				goto out;
			}
	}
	json_array_foreach(rc ? NULL : ts, i, e) {
		const char *k = json_string_value(json_object_get(e, "key"));

		if (strcmp(k, "mlflow.parentRunId") == 0 || strncmp(k, "mltrack.sweep.", 14) == 0) {
			rc = cli_error(CLI_USAGE, "-t %s: the sweep sets this tag itself", k);
			goto out;
		}
	}
out:
	json_decref(ps);
	json_decref(ts);
	return rc;
}

/* The plan of a sweep from its parent run's tags (--resume). */
static int resume_from(struct sweep *s, json_t *run, json_t **words, json_t **scrape,
		       unsigned long long *seed, long long *trials)
{
	const char *scr = tag_of(run, "mltrack.sweep.scrape");
	const char *cmd = tag_of(run, "mltrack.sweep.command");
	const char *sd = tag_of(run, "mltrack.sweep.seed");
	const char *tr = tag_of(run, "mltrack.sweep.trials");
	const char *obj = tag_of(run, "mltrack.sweep.objective");
	const char *dir = tag_of(run, "mltrack.sweep.direction");
	const char *stop = tag_of(run, "mltrack.sweep.stop_early");
	const char *name = json_string_value(
		json_object_get(json_object_get(run, "info"), "run_name"));
	const char *exp = json_string_value(
		json_object_get(json_object_get(run, "info"), "experiment_id"));
	unsigned long long k;

	if (!cmd || !sd || !tr || !exp)
		return cli_error(CLI_USAGE, "run %s is not a sweep's parent run (no mltrack.sweep "
				 "tags)", o_resume);
	*words = json_loads(cmd, 0, NULL);
	if (!json_is_array(*words) || json_array_size(*words) < 1 ||
	    parse_u64(sd, UINT64_MAX, seed))
		return cli_error(CLI_USAGE, "run %s: its mltrack.sweep tags are damaged", o_resume);
	*trials = strcmp(tr, "default") == 0 ? -1
		  : parse_u64(tr, MT_SWEEP_MAX_TRIALS, &k) ? -2 : (long long)k;
	if (*trials == -2)
		return cli_error(CLI_USAGE, "run %s: mltrack.sweep.trials is damaged", o_resume);
	snprintf(s->exp_id, sizeof(s->exp_id), "%s", exp);
	snprintf(s->name, sizeof(s->name), "%s", name && *name ? name : "sweep");
	s->key = obj && *obj ? strdup(obj) : NULL;
	s->minimize = dir && strcmp(dir, "minimize") == 0;
	s->stop_median = stop && strcmp(stop, "median") == 0;
	if (words_of(tag_of(run, "mltrack.sweep.params"), &s->pw_json, &s->pw) ||
	    words_of(tag_of(run, "mltrack.sweep.tags"), &s->tw_json, &s->tw))
		return cli_error(CLI_USAGE, "run %s: mltrack.sweep.params or .tags is damaged",
				 o_resume);
	if (scr) {
		*scrape = json_loads(scr, 0, NULL);
		if (!json_is_array(*scrape) || !(s->scrape = calloc(json_array_size(*scrape) + 1,
								      sizeof(*s->scrape))))
			return cli_error(CLI_USAGE, "run %s: mltrack.sweep.scrape is damaged",
					 o_resume);
		for (size_t i = 0; i < json_array_size(*scrape); i++)
			if (!(s->scrape[s->nscrape++] = json_string_value(
				      json_array_get(*scrape, i))))
				return cli_error(CLI_USAGE, "run %s: mltrack.sweep.scrape is damaged",
						 o_resume);
	}
	return 0;
}

int cmd_sweep(int argc, char **argv)
{
	struct sweep s = { .parallel = 1 };
	struct cli_fail f;
	unsigned long long seed = 0, v;
	long long trials = -1;
	json_t *words = NULL, *parent_run = NULL, *scrape_json = NULL;
	char **cmd = NULL;
	int ncmd = 0, rc = CLI_OK, failed = 0, stopped_early = 0;
	struct sigaction sa = { 0 };
	struct mt_err err = MT_ERR_INIT;
	const struct trial *best;
	size_t ran = 0, earlier = 0;
	char *owned_key = NULL;

	if ((rc = cli_parse(&sweep_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (o_parallel && (parse_u64(o_parallel, 64, &v) || v < 1))
		return cli_error(CLI_USAGE, "--parallel: a number from 1 to 64, not '%s'", o_parallel);
	if (o_parallel)
		s.parallel = (int)v;
	if (o_resume) {
		if (o_cmd.n || o_trials || o_seed || o_objective || o_stop || o_max || o_min ||
		    o_exp || o_name || o_scrape.n || o_params.n || o_tags.n)
			return cli_error(CLI_USAGE, "--resume takes the plan from the run: only "
					 "--parallel may be given with it");
	} else if (!o_cmd.n) {
		return cli_error(CLI_USAGE, "missing COMMAND (see mltrack sweep --help)");
	}
	if (o_trials && parse_u64(o_trials, MT_SWEEP_MAX_TRIALS, &v))
		return cli_error(CLI_USAGE, "--trials: a number from 1 to %d, not '%s'",
				 MT_SWEEP_MAX_TRIALS, o_trials);
	if (o_trials)
		trials = (long long)v;
	if (o_seed && parse_u64(o_seed, UINT64_MAX, &seed))
		return cli_error(CLI_USAGE, "--seed: a number from 0 to 2^64-1, not '%s'", o_seed);
	if (o_max && o_min)
		return cli_error(CLI_USAGE, "--maximize or --minimize, not both");
	if (o_objective) {
		const char *k = strncmp(o_objective, "metrics.", 8) == 0 ? o_objective + 8
									 : o_objective;

		if (!*k)
			return cli_error(CLI_USAGE, "--objective: metrics.KEY");
		s.key = k;
	}
	if ((o_max || o_min) && !o_objective)
		return cli_error(CLI_USAGE, "--maximize and --minimize need --objective");
	s.minimize = o_min;
	if (o_stop) {
		if (strcmp(o_stop, "median") != 0)
			return cli_error(CLI_USAGE, "--stop-early: 'median' is the one rule, not '%s'",
					 o_stop);
		if (!o_objective)
			return cli_error(CLI_USAGE, "--stop-early needs --objective");
		s.stop_median = 1;
	}
	if (!o_seed)
		seed = random_seed();
	if (o_scrape.n) {
		/* Checked here, once: a bad pattern is a usage error. */
		struct mt_scraper *sc = mt_scraper_new(1);

		for (int i = 0; sc && i < o_scrape.n; i++) {
			if (mt_scraper_add(sc, o_scrape.v[i], &err)) {
				mt_scraper_free(sc);
				return cli_error(CLI_USAGE, "%s", err.msg);
			}
		}
		mt_scraper_free(sc);
		s.scrape = o_scrape.v;
		s.nscrape = (size_t)o_scrape.n;
	}

	if (cli_client_init(&f))
		return cli_fail_report(&f);
	if (o_resume) {
		if (cli_run_fetch(o_resume, &parent_run, &f))
			return cli_fail_report(&f);
		if ((rc = resume_from(&s, parent_run, &words, &scrape_json, &seed, &trials))) {
			free(s.pw.v);
			free(s.tw.v);
			json_decref(s.pw_json);
			json_decref(s.tw_json);
			json_decref(scrape_json);
			free(s.scrape);
			free((char *)s.key);
			json_decref(words);
			json_decref(parent_run);
			return rc;
		}
		owned_key = (char *)s.key;
		snprintf(s.parent, sizeof(s.parent), "%s",
			 json_string_value(json_object_get(json_object_get(parent_run, "info"),
							   "run_id")));
		ncmd = (int)json_array_size(words);
		cmd = calloc((size_t)ncmd + 1, sizeof(*cmd));
		for (int i = 0; cmd && i < ncmd; i++)
			cmd[i] = (char *)json_string_value(json_array_get(words, (size_t)i));
		for (int i = 0; cmd && i < ncmd; i++)
			if (!cmd[i]) {
				rc = cli_error(CLI_USAGE, "run %s: mltrack.sweep.command is damaged",
					       o_resume);
				goto done;
			}
	} else {
		cmd = (char **)o_cmd.v;
		ncmd = o_cmd.n;
		s.pw = o_params;
		s.tw = o_tags;
	}
	if (!cmd) {
		rc = cli_error(CLI_USAGE, "out of memory");
		goto done;
	}
	if (mt_sweep_parse(&s.space, ncmd, cmd, &err) ||
	    mt_sweep_plan_init(&s.plan, &s.space, trials, seed, &err)) {
		rc = cli_error(CLI_USAGE, "%s", err.msg);
		goto done;
	}
	if ((rc = check_words(&s)))
		goto done;
	s.n = s.plan.total;
	if (!(s.t = calloc(s.n, sizeof(*s.t)))) {
		rc = cli_error(CLI_USAGE, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < s.n; i++) {
		s.t[i].index = i;
		s.t[i].fd[0] = s.t[i].fd[1] = -1;
		if (mt_sweep_trial_make(&s.t[i].values, &s.t[i].argv, &s.space, &s.plan, i, &err)) {
			rc = cli_error(CLI_USAGE, "%s", err.msg);
			goto done;
		}
	}
	s.exe = realpath("/proc/self/exe", NULL);
	snprintf(s.tmp, sizeof(s.tmp), "%s/mltrack-sweep.XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!s.exe || !mkdtemp(s.tmp)) {
		s.tmp[0] = '\0';
		rc = cli_error(CLI_USAGE, "cannot find this program or make a temporary directory: %s",
			       strerror(errno));
		goto done;
	}

	if (o_resume) {
		if ((rc = read_plan(&s)))
			goto done;
		if (load_children(&s, &f)) {
			rc = cli_fail_report(&f);
			goto done;
		}
		update_run(s.parent, "RUNNING", 0);
		for (size_t i = 0; i < s.n; i++)
			if (s.t[i].state == T_EARLIER) {
				earlier++;
				if (s.stop_median && s.t[i].run_id[0])
					load_history(&s, &s.t[i]);
			}
		if (!cli_quiet)
			fprintf(stderr, "mltrack: sweep %s: %zu of %zu trials done before, %zu to run\n",
				s.parent, earlier, s.n, s.n - earlier);
	} else {
		/* The parent run, with the plan in its tags. */
		const char *exp = o_exp && *o_exp ? o_exp : getenv("MLFLOW_EXPERIMENT_NAME");
		json_t *tags = json_array(), *body, *reply = NULL, *jw = json_array();
		char buf[64], *line, *cmdjson;
		const char *id;

		if (exp && *exp) {
			if (cli_experiment_ensure(exp, s.exp_id, sizeof(s.exp_id), &f)) {
				json_decref(tags);
				json_decref(jw);
				rc = cli_fail_report(&f);
				goto done;
			}
		} else {
			snprintf(s.exp_id, sizeof(s.exp_id), "%s",
				 getenv("MLFLOW_EXPERIMENT_ID") && *getenv("MLFLOW_EXPERIMENT_ID")
					 ? getenv("MLFLOW_EXPERIMENT_ID") : "0");
		}
		if (o_name && *o_name)
			snprintf(s.name, sizeof(s.name), "%s", o_name);
		else
			snprintf(s.name, sizeof(s.name), "sweep-%llu", seed);
		for (int i = 0; i < ncmd; i++)
			json_array_append_new(jw, json_string(cmd[i]));
		cmdjson = json_dumps(jw, JSON_COMPACT);
		json_decref(jw);
		if (!cmdjson || strlen(cmdjson) > MT_MAX_TAG_VALUE_LEN) {
			free(cmdjson);
			json_decref(tags);
			rc = cli_error(CLI_USAGE, "the command is too long to record (at most %d bytes "
				       "as JSON)", MT_MAX_TAG_VALUE_LEN);
			goto done;
		}
		json_array_append_new(tags, kv("mltrack.sweep.command", cmdjson));
		free(cmdjson);
		snprintf(buf, sizeof(buf), "%llu", seed);
		json_array_append_new(tags, kv("mltrack.sweep.seed", buf));
		json_array_append_new(tags, kv("mltrack.sweep.trials", o_trials ? o_trials : "default"));
		snprintf(buf, sizeof(buf), "%zu", s.n);
		json_array_append_new(tags, kv("mltrack.sweep.total", buf));
		if (s.key) {
			json_array_append_new(tags, kv("mltrack.sweep.objective", s.key));
			json_array_append_new(tags, kv("mltrack.sweep.direction",
						       s.minimize ? "minimize" : "maximize"));
		}
		if (s.stop_median)
			json_array_append_new(tags, kv("mltrack.sweep.stop_early", "median"));
		if (s.nscrape) {
			json_t *js = json_array();
			char *t;

			for (size_t i = 0; i < s.nscrape; i++)
				json_array_append_new(js, json_string(s.scrape[i]));
			t = json_dumps(js, JSON_COMPACT);
			json_decref(js);
			if (!t || strlen(t) > MT_MAX_TAG_VALUE_LEN) {
				free(t);
				json_decref(tags);
				rc = cli_error(CLI_USAGE, "the --scrape patterns are too long to record");
				goto done;
			}
			json_array_append_new(tags, kv("mltrack.sweep.scrape", t));
			free(t);
		}
		{
			/* The -p and -t words, for --resume; the -t tags are the
			 * parent's too (the params are the trials' only). */
			int toolong = 0;
			char *pt = words_tag(&s.pw, &toolong), *tt = words_tag(&s.tw, &toolong);

			if (pt)
				json_array_append_new(tags, kv("mltrack.sweep.params", pt));
			if (tt)
				json_array_append_new(tags, kv("mltrack.sweep.tags", tt));
			free(pt);
			free(tt);
			if (toolong) {
				json_decref(tags);
				rc = cli_error(CLI_USAGE, "the -p or -t words are too long to record "
					       "(at most %d bytes of each as JSON)",
					       MT_MAX_TAG_VALUE_LEN);
				goto done;
			}
			if (cli_kv_pairs(&s.tw, "-t", "tag", tags)) {
				json_decref(tags);
				rc = CLI_USAGE;
				goto done;
			}
		}
		line = quoted(cmd, ncmd);
		if (line && strlen(line) <= MT_MAX_TAG_VALUE_LEN)
			json_array_append_new(tags, kv("mltrack.command", line));
		free(line);
		json_array_append_new(tags, kv("mlflow.user", user_name()));
		json_array_append_new(tags, kv("mlflow.source.type", "LOCAL"));
		{
			/* The parent's provenance: the tree the sweep starts from
			 * (each trial records its own, with the patch). */
			struct cli_git g;
			char gerr[256];

			if (cli_git_provenance(&g, ".", gerr, sizeof(gerr)))
				cli_warn("git provenance not recorded: %s", gerr);
			else if (g.found) {
				if (g.commit[0])
					json_array_append_new(tags, kv("mlflow.source.git.commit", g.commit));
				if (g.branch[0])
					json_array_append_new(tags, kv("mlflow.source.git.branch", g.branch));
				if (g.repo_url[0])
					json_array_append_new(tags, kv("mlflow.source.git.repoURL",
								       g.repo_url));
				json_array_append_new(tags, kv("mltrack.git.dirty",
							       g.dirty ? "true" : "false"));
			}
		}
		cli_cred_scrub_kv(tags);
		body = json_pack("{s:s, s:s, s:I, s:s, s:o}", "experiment_id", s.exp_id, "run_name",
				 s.name, "start_time", (json_int_t)mt_now_ms(), "user_id", user_name(),
				 "tags", tags);
		if (cli_api("POST", "/api/2.0/mlflow/runs/create", NULL, body, &reply, &f)) {
			json_decref(body);
			rc = cli_fail_report(&f);
			goto done;
		}
		json_decref(body);
		id = json_string_value(json_object_get(
			json_object_get(json_object_get(reply, "run"), "info"), "run_id"));
		snprintf(s.parent, sizeof(s.parent), "%s", id ? id : "");
		json_decref(reply);
		if (!s.parent[0]) {
			rc = cli_error(CLI_SERVER, "the server's answer to runs/create has no run id");
			goto done;
		}
		if (write_plan(&s, seed, &f))
			cli_warn("the plan was not recorded as sweep/plan.json: %s", f.msg);
		if (!cli_quiet)
			fprintf(stderr, "mltrack: sweep %s: %zu trials, seed %llu: %s/runs/%s\n",
				s.parent, s.n, seed, cli_tracking_uri, s.parent);
	}

	/* Signals stop the sweep (run_trials passes them on). */
	if (pipe2(self_pipe, O_CLOEXEC | O_NONBLOCK)) {
		rc = cli_error(CLI_USAGE, "cannot create a pipe: %s", strerror(errno));
		goto done;
	}
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	run_trials(&s);

	for (size_t i = 0; i < s.n; i++) {
		if (s.t[i].state != T_DONE)
			continue;
		ran++;
		if (strcmp(s.t[i].status, "STOPPED") == 0)
			stopped_early++;
		else if (strcmp(s.t[i].status, "FINISHED") != 0)
			failed++;
	}
	if (!cli_quiet)
		fprintf(stderr, "mltrack: sweep %s: %zu trials run, %zu done before, %d failed, "
			"%d stopped early%s\n", s.parent, ran, earlier, failed, stopped_early,
			got_signal ? ", interrupted" : "");
	best = report(&s);
	(void)best;
	if (got_signal) {
		update_run(s.parent, "KILLED", 1);
		rc = 128 + got_signal;
	} else {
		update_run(s.parent, failed ? "FAILED" : "FINISHED", 1);
		rc = failed ? CLI_CHECK_FAILED : CLI_OK;
	}
done:
	if (o_resume) {
		free(cmd);
		free(s.scrape);
	}
	json_decref(scrape_json);
	cli_list_free(&o_scrape);
	cli_list_free(&o_params);
	cli_list_free(&o_tags);
	free(owned_key);
	json_decref(words);
	json_decref(parent_run);
	sweep_release(&s);
	cli_list_free(&o_cmd);
	cli_client_cleanup();
	return rc;
}
