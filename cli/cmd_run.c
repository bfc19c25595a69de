/*
 * cmd_run.c: mltrack run [options] -- COMMAND [ARGS...]
 *
 * The work, by thread:
 *  - main starts the command and pumps its output: every byte goes to our
 *    own stdout/stderr first (unchanged), then to output.log and a queue;
 *  - the scraper (nice 10) takes the queue and turns lines into metrics,
 *    buffered as JSON text and appended to the spool journal as batch
 *    records (every 250 ms, or per 1000 points);
 *  - the sender (nice 10) pushes the journal to the server every half second
 *    (spool.c) and samples the system metrics; a slow or absent server only
 *    makes the journal grow, it never holds up the command's output; once
 *    the command has ended, the main thread sends the rest;
 *  - before the command starts, a thread reads the git provenance while the
 *    main thread creates the run;
 *  - the command itself, whose stdout and stderr are pseudo-terminals when
 *    ours are terminals (so it keeps line buffering and progress bars) and
 *    pipes otherwise (as it would have had without us).
 *
 * Signals: SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to mltrack are passed to
 * the command (a Ctrl-C typed at the terminal reaches it directly, since it
 * shares our process group); after a grace period it gets SIGKILL.  The run
 * ends KILLED then, FINISHED on exit 0, FAILED otherwise, and mltrack exits
 * with the command's status (128 + signal for a signal).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "git.h"
#include "mt_cmdflags.h"
#include "mt_json.h"
#include "mt_limits.h"
#include "mt_redact.h"
#include "mt_scrape.h"
#include "mt_spool.h"
#include "mt_util.h"
#include "mt_validate.h"
#include "spool.h"

extern char **environ;

static const char *o_exp, *o_name, *o_id_file;
static struct cli_list o_params, o_tags, o_artifacts, o_scrape, o_cmd;
static int o_no_scrape, o_no_flags;

static const struct cli_opt run_opts[] = {
	{ CLI_OPT_VALUE, &o_exp, 'e', "experiment", "NAME", 0,
	  "experiment (created if missing) [MLFLOW_EXPERIMENT_NAME; default: Default]" },
	{ CLI_OPT_VALUE, &o_name, 'n', "name", "NAME", 0, "run name (default: generated)" },
	{ CLI_OPT_LIST, &o_params, 'p', "param", "KEY=VALUE", 0, "log a param (repeatable)" },
	{ CLI_OPT_LIST, &o_tags, 't', "tag", "KEY=VALUE", 0, "set a tag (repeatable)" },
	{ CLI_OPT_LIST, &o_artifacts, 0, "artifacts", "PATH", 0,
	  "file or directory to upload when the command ends (repeatable)" },
	{ CLI_OPT_LIST, &o_scrape, 0, "scrape", "REGEX", 0,
	  "also scrape metrics with REGEX: groups (name)(value), or NAME=REGEX with (value)" },
	{ CLI_OPT_SWITCH, &o_no_scrape, 0, "no-scrape", NULL, 0,
	  "do not scrape 'name: number' lines (--scrape still applies)" },
	{ CLI_OPT_SWITCH, &o_no_flags, 0, "no-flags", NULL, 0,
	  "do not log the command's own --flag arguments as params" },
	{ CLI_OPT_VALUE, &o_id_file, 0, "run-id-file", "FILE", 0,
	  "write the run's id to FILE once the server has it (for later steps of a script)" },
	{ CLI_OPT_ARGS, &o_cmd, 0, "COMMAND", NULL, CLI_OPT_REQUIRED,
	  "the command to run, with its arguments (after --)" },
	{ 0, NULL, 0, NULL, NULL, 0, NULL },
};

static const struct cli_spec run_spec = {
	"run", "Run a command as a tracked run: output, params, metrics, git provenance.",
	run_opts,
	"Lines of output such as 'loss: 0.25' or 'acc=0.9' become metrics; a line\n"
	"'step: N' sets the step of those that follow.  The command's own --flag VALUE,\n"
	"--flag=VALUE and --switch arguments become params.  Its output is kept as the\n"
	"artifact mltrack/output.log, uncommitted changes as mltrack/uncommitted.patch.\n"
	"The command sees MLTRACK_RUN_ID, MLFLOW_RUN_ID, MLFLOW_TRACKING_URI and\n"
	"MLFLOW_EXPERIMENT_ID, so an MLflow client inside it logs to the same run.\n"
	"When the server cannot be reached the command runs anyway and everything is\n"
	"spooled for `mltrack sync`.  Credentials (MLTRACK_TOKEN and the others of\n"
	"mltrack --help, stored tokens) and URL passwords are recorded as *** in params,\n"
	"tags and output.log.  Exit status: the command's (128+N for signal N).",
	1,
};

/* ---- the run's shared state ---- */

struct run {
	struct cli_spool spool;
	pthread_mutex_t mu;  /* guards the journal, pending and the flags below */
	pthread_cond_t cv;
	struct pending {     /* metrics not yet in the journal, as JSON text */
		char *buf;
		size_t len, cap;
		int n;
	} pending;
	double pending_since;
	int finishing;       /* the command ended: send the rest and stop */
	int sent_all;        /* the end was acknowledged */
	int failed;          /* the server refused something: stop sending */
	int closed;          /* the end record is written: nothing more goes in */
	int online;          /* the last push reached the server */
	int said_offline;
	char run_id[64];
	pid_t child;
	double sample_every; /* seconds between system samples, 0: none */
	char *nvidia_smi;    /* path, when present */
	long long last_cpu_ticks;
	double last_sample;
	struct mt_scraper *scraper;
	int log_fd;
	struct mt_redact_stream log_masked; /* secrets kept out of output.log */
	/* Output waiting for the scraper thread: the pump only copies bytes,
	 * so the command never waits for scraping (or a slow --scrape regex). */
	struct chunk *q_head, *q_tail;
	size_t q_bytes;
	int q_done;             /* no more output will come */
	pthread_mutex_t q_mu;
	pthread_cond_t q_cv;    /* something queued, or done, or room again */
};

struct chunk {
	struct chunk *next;
	int which;
	size_t n;
	char data[];
};

#define QUEUE_MAX (64u << 20) /* bytes of output waiting to be scraped */

static void queue_output(struct run *r, int which, const char *buf, size_t n)
{
	struct chunk *c = malloc(sizeof(*c) + n);

	if (!c)
		return; /* the bytes went out and into the log; only their metrics are lost */
	c->next = NULL;
	c->which = which;
	c->n = n;
	memcpy(c->data, buf, n);
	pthread_mutex_lock(&r->q_mu);
	/* Far behind: wait for room, the one way the scraper slows the command. */
	while (r->q_bytes > QUEUE_MAX)
		pthread_cond_wait(&r->q_cv, &r->q_mu);
	if (r->q_tail)
		r->q_tail->next = c;
	else
		r->q_head = c;
	r->q_tail = c;
	r->q_bytes += n;
	pthread_cond_broadcast(&r->q_cv);
	pthread_mutex_unlock(&r->q_mu);
}

static void on_metric(void *arg, const char *key, double value, long long step);

/* The scraper and the sender yield the CPU to the command: on a small
 * machine a training program printing as fast as it can should not share
 * its core evenly with the bookkeeping, which catches up afterwards. */
static void lower_priority(void)
{
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10)) {
		/* not allowed: run at the same priority */
	}
}

static void *scrape_thread(void *arg)
{
	struct run *r = arg;

	lower_priority();
	for (;;) {
		struct chunk *c;

		pthread_mutex_lock(&r->q_mu);
		while (!r->q_head && !r->q_done)
			pthread_cond_wait(&r->q_cv, &r->q_mu);
		c = r->q_head;
		if (c) {
			r->q_head = c->next;
			if (!r->q_head)
				r->q_tail = NULL;
			r->q_bytes -= c->n;
			pthread_cond_broadcast(&r->q_cv);
		}
		pthread_mutex_unlock(&r->q_mu);
		if (!c)
			break; /* done and drained */
		mt_scraper_feed(r->scraper, c->which, c->data, c->n, on_metric, r);
		free(c);
	}
	mt_scraper_flush(r->scraper, on_metric, r);
	return NULL;
}

/* MLTRACK_TRACE=1: where the time of a run goes, on stderr, in
 * milliseconds since cmd_run began.  What came before, the exec and the
 * loading of the libraries, no clock in the process can time; the first
 * line gives the CPU time spent on it (counted from the fork that made the
 * process, so a little of the caller's work is in it).  The first call is
 * made by the main thread before any other thread starts. */
static int trace_on = -1;
static double trace_t0;

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

static void trace(const char *what)
{
	if (trace_on < 0) {
		trace_on = getenv("MLTRACK_TRACE") && *getenv("MLTRACK_TRACE");
		trace_t0 = cli_now();
		if (trace_on)
			fprintf(stderr, "mltrack: trace %7.1f ms  %s (CPU so far: %.1f ms, the exec "
				"and loading the libraries)\n", 0.0, what, cpu_ms());
		return;
	}
	if (trace_on)
		fprintf(stderr, "mltrack: trace %7.1f ms  %s\n", (cli_now() - trace_t0) * 1000, what);
}

static volatile sig_atomic_t got_signal, got_signal_code, got_child, got_winch;
static int self_pipe[2] = { -1, -1 };

static void on_signal(int sig, siginfo_t *si, void *ctx)
{
	int e = errno;

	(void)ctx;
	if (sig == SIGCHLD) {
		got_child = 1;
	} else if (sig == SIGWINCH) {
		got_winch = 1;
	} else {
		got_signal = sig;
		got_signal_code = si ? si->si_code : SI_USER;
	}
	if (self_pipe[1] >= 0 && write(self_pipe[1], "x", 1) < 0) {
		/* full: a wakeup is pending anyway */
	}
	errno = e;
}

/* Append a record under the lock.  The sender is not woken: it sends what
 * has gathered every half second (and everything at the end), so a burst
 * of output does not turn into a burst of requests competing with the
 * command for the machine. */
static void journal(struct run *r, json_t *rec)
{
	pthread_mutex_lock(&r->mu);
	if (cli_spool_append(&r->spool, rec))
		cli_warn("cannot write the spool journal: %s", strerror(errno));
	pthread_mutex_unlock(&r->mu);
	json_decref(rec);
}

static json_t *batch_rec(void)
{
	return json_pack("{s:s, s:[], s:[], s:[]}", "t", "batch", "metrics", "params", "tags");
}

/* Move the pending metrics into the journal as one batch record (r->mu
 * held).  Built as text: a command printing metrics as fast as it can makes
 * this the pump's hot path, and a JSON object per point would cost more
 * than the scraping. */
static void flush_pending_locked(struct run *r)
{
	static const char head[] = "{\"t\":\"batch\",\"metrics\":[";
	static const char tail[] = "],\"params\":[],\"tags\":[]}\n";
	struct pending *p = &r->pending;

	if (p->n == 0)
		return;
	/* The buffer was started with room for the head (see add_metric). */
	memcpy(p->buf, head, sizeof(head) - 1);
	memcpy(p->buf + p->len, tail, sizeof(tail) - 1);
	if (mt_spool_append_line(r->spool.journal_fd, p->buf, p->len + sizeof(tail) - 1))
		cli_warn("cannot write the spool journal: %s", strerror(errno));
	p->len = sizeof(head) - 1;
	p->n = 0;
}

/* Append s to the pending text as a JSON string (keys are metric names
 * already, but a quote or a backslash must never break the record). */
static void put_json_string(char *out, size_t *len, const char *s)
{
	out[(*len)++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[(*len)++] = '\\';
			out[(*len)++] = (char)c;
		} else if (c < 0x20) {
			*len += (size_t)sprintf(out + *len, "\\u%04x", c);
		} else {
			out[(*len)++] = (char)c;
		}
	}
	out[(*len)++] = '"';
}

static void add_metric(struct run *r, const char *key, double value, long long step,
		       long long ts)
{
	struct pending *p = &r->pending;
	size_t need = strlen(key) * 6 + 128;

	pthread_mutex_lock(&r->mu);
	if (r->closed) { /* a last system sample after the end: not kept */
		pthread_mutex_unlock(&r->mu);
		return;
	}
	if (p->len + need + 64 > p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 65536;
		char *b;

		while (cap < p->len + need + 64)
			cap *= 2;
		if (!(b = realloc(p->buf, cap))) {
			pthread_mutex_unlock(&r->mu);
			cli_warn("out of memory: metric '%s' not kept", key);
			return;
		}
		p->buf = b;
		p->cap = cap;
		if (p->len == 0)
			p->len = sizeof("{\"t\":\"batch\",\"metrics\":[") - 1;
	}
	if (p->n == 0)
		r->pending_since = cli_now();
	if (p->n)
		p->buf[p->len++] = ',';
	memcpy(p->buf + p->len, "{\"key\":", 7);
	p->len += 7;
	put_json_string(p->buf, &p->len, key);
	if (isnan(value))
		p->len += (size_t)sprintf(p->buf + p->len, ",\"value\":\"NaN\"");
	else if (isinf(value))
		p->len += (size_t)sprintf(p->buf + p->len, ",\"value\":\"%s\"",
					  value > 0 ? "Infinity" : "-Infinity");
	else
		p->len += (size_t)sprintf(p->buf + p->len, ",\"value\":%.17g", value);
	p->len += (size_t)sprintf(p->buf + p->len, ",\"timestamp\":%lld,\"step\":%lld}", ts, step);
	if (++p->n >= MT_MAX_BATCH_METRICS)
		flush_pending_locked(r);
	pthread_mutex_unlock(&r->mu);
}

static void on_metric(void *arg, const char *key, double value, long long step)
{
	add_metric(arg, key, value, step, mt_now_ms());
}

/* Params or tags as batch records of at most 100 each. */
static void journal_kv(struct run *r, const char *field, json_t *list)
{
	size_t i = 0, n = json_array_size(list);

	while (i < n) {
		json_t *rec = batch_rec(), *part = json_object_get(rec, field);

		for (size_t k = 0; k < MT_MAX_BATCH_PARAMS && i < n; k++, i++)
			json_array_append(part, json_array_get(list, i));
		journal(r, rec);
	}
	json_decref(list);
}

/* ---- system metrics ---- */

struct proc_sample {
	long long ticks; /* utime + stime (+ reaped children) of the tree */
	long long rss_pages;
};

/* Sum CPU ticks and resident pages over root and its descendants. */
static void sample_tree(pid_t root, struct proc_sample *out)
{
	enum { MAXP = 4096 };
	static pid_t pid[MAXP], ppid[MAXP];
	static long long ticks[MAXP], rss[MAXP];
	char path[64], buf[1024];
	int n = 0, in_tree[MAXP];
	DIR *d = opendir("/proc");
	struct dirent *e;

	memset(out, 0, sizeof(*out));
	if (!d)
		return;
	while ((e = readdir(d)) && n < MAXP) {
		char *end, *p;
		long v = strtol(e->d_name, &end, 10);
		unsigned long long ut, st;
		long long cut, cst;
		int fd, len, pp, field;

		if (*end || v <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", v);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		len = (int)read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = 0;
		/* The command name can hold anything; fields follow the last ')'. */
		if (!(p = strrchr(buf, ')')))
			continue;
		p += 2;
		/* state ppid pgrp session tty tpgid flags minflt cminflt majflt
		 * cmajflt utime stime cutime cstime ... rss is field 24 */
		if (sscanf(p, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &pp,
			   &ut, &st, &cut, &cst) != 5)
			continue;
		for (field = 3; field < 24 && p; field++)
			p = strchr(p + 1, ' ');
		pid[n] = (pid_t)v;
		ppid[n] = pp;
		ticks[n] = (long long)(ut + st) + cut + cst;
		rss[n] = p ? atoll(p + 1) : 0;
		n++;
	}
	closedir(d);
	/* Mark the tree: repeat until no new member (trees are shallow). */
	for (int i = 0; i < n; i++)
		in_tree[i] = pid[i] == root;
	for (int changed = 1; changed;) {
		changed = 0;
		for (int i = 0; i < n; i++) {
			if (in_tree[i])
				continue;
			for (int j = 0; j < n; j++)
				if (in_tree[j] && pid[j] == ppid[i]) {
					in_tree[i] = changed = 1;
					break;
				}
		}
	}
	for (int i = 0; i < n; i++)
		if (in_tree[i]) {
			out->ticks += ticks[i];
			out->rss_pages += rss[i];
		}
}

static void sample_gpus(struct run *r, long long ts)
{
	char cmd[4200], line[256];
	FILE *p;
	int gpu = 0;

	snprintf(cmd, sizeof(cmd),
		 "'%s' --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits "
		 "2>/dev/null",
		 r->nvidia_smi);
	if (!(p = popen(cmd, "r")))
		return;
	while (fgets(line, sizeof(line), p) && gpu < 64) {
		double util, mem;
		char key[64];

		if (sscanf(line, "%lf , %lf", &util, &mem) != 2)
			continue;
		snprintf(key, sizeof(key), "system/gpu_%d_utilization_percent", gpu);
		add_metric(r, key, util, 0, ts);
		snprintf(key, sizeof(key), "system/gpu_%d_memory_mb", gpu);
		add_metric(r, key, mem, 0, ts);
		gpu++;
	}
	pclose(p);
}

static long long sample_step;

static void sample_system(struct run *r)
{
	struct proc_sample s;
	double now = cli_now();
	long long ts = mt_now_ms();
	long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);

	sample_tree(r->child, &s);
	if (r->last_sample > 0 && now > r->last_sample && hz > 0) {
		double cpu = (double)(s.ticks - r->last_cpu_ticks) / (double)hz /
			     (now - r->last_sample) * 100.0;

		add_metric(r, "system/cpu_percent", cpu < 0 ? 0 : cpu, sample_step, ts);
		add_metric(r, "system/memory_mb", (double)s.rss_pages * (double)page / 1048576.0,
			   sample_step, ts);
		if (r->nvidia_smi)
			sample_gpus(r, ts);
		sample_step++;
	}
	r->last_cpu_ticks = s.ticks;
	r->last_sample = now;
}

/* ---- the sender thread ---- */

static void say_offline(struct run *r, const struct cli_fail *f)
{
	if (r->said_offline || cli_quiet)
		return;
	r->said_offline = 1;
	fprintf(stderr,
		"mltrack: %s\nmltrack: the command runs on; its run is spooled in %s "
		"for `mltrack sync`\n",
		f->msg, r->spool.dir);
}

/* Push what the journal holds, once, and note the outcome in r. */
static int push_once(struct run *r, struct cli_push *p, struct cli_fail *f)
{
	int rc;

	if (!r->online) /* nothing acknowledges it now: make it durable here */
		cli_spool_flush(&r->spool);
	rc = cli_spool_push(r->spool.dir, 1, p, f);
	if (p->run_id[0])
		snprintf(r->run_id, sizeof(r->run_id), "%s", p->run_id);
	if (rc == 0) {
		r->online = 1;
	} else if (f->transient || (f->code == CLI_SERVER && !f->status)) {
		r->online = 0;
		say_offline(r, f);
	} else {
		cli_error(f->code, "%s", f->msg);
		r->failed = 1; /* the spool keeps it all for `mltrack sync` */
	}
	return rc;
}

/* The sender thread, while the command runs: a push every half second
 * (every three while the server is away) and the system samples.  It stops
 * when the command has ended; send_rest() sends the end. */
static void *sender(void *arg)
{
	struct run *r = arg;
	double next_sample = cli_now() + r->sample_every;

	lower_priority();
	/* The baseline the first sample compares with: the command has just
	 * started and used no CPU yet, which needs no scan of /proc (a scan
	 * here would compete with the command for the CPU it is starting on). */
	r->last_cpu_ticks = 0;
	r->last_sample = cli_now();
	while (!r->failed) {
		struct cli_push p;
		struct cli_fail f;
		struct timespec ts;
		double wait = r->online ? 0.5 : 3.0;

		if (r->sample_every > 0 && next_sample - cli_now() < wait)
			wait = next_sample > cli_now() ? next_sample - cli_now() : 0.001;
		pthread_mutex_lock(&r->mu);
		/* The end is looked for under the lock, so its signal is not lost
		 * between the look and the wait. */
		if (!r->finishing) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (time_t)wait;
			ts.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&r->cv, &r->mu, &ts);
		}
		if (r->finishing) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		/* Scraped metrics wait at most a quarter second for company. */
		if (r->pending.n && cli_now() - r->pending_since >= 0.25)
			flush_pending_locked(r);
		pthread_mutex_unlock(&r->mu);
		if (r->sample_every > 0 && cli_now() >= next_sample) {
			sample_system(r);
			next_sample = cli_now() + r->sample_every;
		}
		push_once(r, &p, &f);
	}
	return NULL;
}

/* The rest of the run, the end record last, once the command has ended and
 * the sender thread has stopped.  Sent from the main thread, at its own
 * priority: the sender thread runs at nice 10, and on a busy machine the
 * end would wait for it.  A server that was answering gets ten seconds to
 * take the rest; one that was not, one more try. */
static void send_rest(struct run *r)
{
	double deadline = cli_now() + (r->online ? 10 : 0);

	while (!r->failed) {
		struct cli_push p;
		struct cli_fail f;
		struct timespec pause = { 0, 200000000L };
		int rc = push_once(r, &p, &f);

		if (rc == 0 && p.ended) {
			r->sent_all = 1;
			return;
		}
		if (r->failed)
			return;
		if (rc == 0 && p.progressed)
			continue;
		if (cli_now() >= deadline) {
			say_offline(r, &f);
			return;
		}
		nanosleep(&pause, NULL);
	}
}

/* ---- the command ---- */

struct stream {
	int fd;       /* read end (pipe or pty master), -1 when closed */
	int out;      /* our fd it is copied to */
	int which;    /* MT_SCRAPE_STDOUT / STDERR */
	int is_pty;
};

/* A pty for a child stream when ours is a terminal: the command then keeps
 * line buffering and draws progress bars as it would without us.  Output
 * post-processing is turned off, so the bytes pass unchanged. */
static int open_stream(struct stream *s, int ours, int *child_end)
{
	int fds[2];

	s->out = ours;
	s->is_pty = isatty(ours);
	if (s->is_pty) {
		struct termios t;
		struct winsize ws;
		int have_t = tcgetattr(ours, &t) == 0, have_ws = ioctl(ours, TIOCGWINSZ, &ws) == 0;

		if (openpty(&fds[0], &fds[1], NULL, have_t ? &t : NULL, have_ws ? &ws : NULL))
			return -1;
		if (tcgetattr(fds[1], &t) == 0) {
			t.c_oflag &= ~(tcflag_t)OPOST;
			tcsetattr(fds[1], TCSANOW, &t);
		}
	} else if (pipe(fds)) {
		return -1;
	} else {
		/* Room for a burst of output while we are busy elsewhere, so the
		 * command rarely waits on us (the system's limit applies). */
		fcntl(fds[0], F_SETPIPE_SZ, 1 << 20);
	}
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	s->fd = fds[0];
	*child_end = fds[1];
	return 0;
}

static int log_out(void *arg, const char *p, size_t n)
{
	struct run *r = arg;

	return r->log_fd < 0 || mt_write_all(r->log_fd, p, n) == 0 ? 0 : -1;
}

/* Copy what is readable on s; 0 at end of stream. */
static int pump(struct run *r, struct stream *s)
{
	static char buf[256 * 1024]; /* the main thread's alone */
	ssize_t n = read(s->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0) { /* EOF, or EIO from a pty whose other side closed */
		close(s->fd);
		s->fd = -1;
		return 0;
	}
	/* Ours first: the command's output is never held up by us.  A closed
	 * stdout (a pager that quit) stops the copy, not the run. */
	if (s->out >= 0 && mt_write_all(s->out, buf, (size_t)n))
		s->out = -1;
	/* The log is uploaded: the credentials in reach are masked in it (the
	 * command may print its environment), not in what passes through. */
	if (r->log_fd >= 0 && mt_redact_stream_write(&r->log_masked, buf, (size_t)n, log_out, r))
		r->log_fd = -1;
	if (r->scraper)
		queue_output(r, s->which, buf, (size_t)n);
	return 1;
}

/* --run-id-file: the id and a newline, replaced whole (rename), so a
 * reader never sees half of it. */
static void write_id_file(const char *run_id)
{
	char tmp[4200];
	FILE *fp;

	if (!o_id_file || !run_id[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", o_id_file, (int)getpid());
	fp = fopen(tmp, "w");
	if (!fp || fprintf(fp, "%s\n", run_id) < 0 || fclose(fp) || rename(tmp, o_id_file)) {
		cli_warn("--run-id-file '%s': %s", o_id_file, strerror(errno));
		unlink(tmp);
	}
}

static void set_env(const char *k, const char *v)
{
	if (v && *v)
		setenv(k, v, 1);
	else
		unsetenv(k);
}

/* Start the command; stdin is shared, stdout/stderr go to the streams.
 * fork, not posix_spawn: with vfork underneath, the command's peak RSS
 * (wait4's ru_maxrss) would start at ours, since the memory it had before
 * exec was this process's. */
static pid_t start_child(char **argv, int out_end, int err_end, int *exec_errno)
{
	int ep[2];
	pid_t pid;
	ssize_t n;
	int e = 0;

	if (pipe2(ep, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(ep[0]);
		close(ep[1]);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		struct sigaction dfl = { .sa_handler = SIG_DFL };

		sigemptyset(&none);
		for (int sig = 1; sig < 32; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				sigaction(sig, &dfl, NULL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(out_end, 1) < 0 || dup2(err_end, 2) < 0)
			_exit(127);
		if (out_end > 2)
			close(out_end);
		if (err_end > 2 && err_end != out_end)
			close(err_end);
		execvp(argv[0], argv);
		e = errno;
		if (write(ep[1], &e, sizeof(e)) < 0) {
			/* the parent sees EOF and a lost error: 127 all the same */
		}
		_exit(127);
	}
	close(ep[1]);
	do
		n = read(ep[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	*exec_errno = n == (ssize_t)sizeof(e) ? e : 0;
	return pid;
}

/* ---- what the run records ---- */

static json_t *kv(const char *k, const char *v)
{
	return json_pack("{s:s, s:s}", "key", k, "value", v);
}

char *cli_shell_quote(int argc, char *const *argv, size_t max)
{
	size_t cap = 64, n = 0;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	s[0] = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		int plain = *a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789_-+=./,:@%") == strlen(a);
		size_t need = strlen(a) * 4 + 4;

		if (n + need + 1 > cap) {
			char *t;

			while (n + need + 1 > cap)
				cap *= 2;
			if (!(t = realloc(s, cap))) {
				free(s);
				return NULL;
			}
			s = t;
		}
		if (i)
			s[n++] = ' ';
		if (plain) {
			memcpy(s + n, a, strlen(a));
			n += strlen(a);
		} else {
			s[n++] = '\'';
			for (; *a; a++) {
				if (*a == '\'') {
					memcpy(s + n, "'\\''", 4);
					n += 4;
				} else {
					s[n++] = *a;
				}
			}
			s[n++] = '\'';
		}
		s[n] = 0;
	}
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		s[n] = 0;
	}
	return s;
}

/* The script an interpreter runs ("python train.py" → "train.py"), else
 * the program: MLflow's mlflow.source.name for a local run. */
static const char *source_name(int argc, char **argv)
{
	static const char *interp[] = { "python", "python3", "python2", "bash", "sh", "zsh",
					"node", "Rscript", "ruby", "perl", "julia", NULL };
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

	for (const char **i = interp; *i; i++) {
		size_t n = strlen(*i);

		if (strncmp(base, *i, n) == 0 && (base[n] == 0 || base[n] == '.' ||
						  (base[n] >= '0' && base[n] <= '9'))) {
			for (int k = 1; k < argc; k++) {
				if (argv[k][0] == '-')
					continue;
				return argv[k];
			}
		}
	}
	return argv[0];
}

/* $USER, else the account's name: the password database is read (NSS, a
 * try at nscd's socket, /etc/passwd) only when $USER is not set, and once. */
static const char *user_name(void)
{
	static char name[256];
	const char *u = getenv("USER");
	struct passwd *pw;

	if (u && *u)
		return u;
	if (!name[0]) {
		pw = getpwuid(getuid());
		snprintf(name, sizeof(name), "%s", pw && pw->pw_name[0] ? pw->pw_name : "unknown");
	}
	return name;
}

/* KEY=VALUE pairs of -p/-t into list; a malformed one is a usage error. */
int cli_kv_pairs(const struct cli_list *l, const char *opt, const char *what, json_t *list)
{
	for (int i = 0; i < l->n; i++) {
		const char *eq = strchr(l->v[i], '=');
		char key[MT_MAX_KEY_LEN + 2];
		struct mt_err err = { 0 };

		if (!eq || eq == l->v[i] || (size_t)(eq - l->v[i]) > MT_MAX_KEY_LEN)
			return cli_error(CLI_USAGE, "%s '%s': expected KEY=VALUE", opt, l->v[i]);
		snprintf(key, sizeof(key), "%.*s", (int)(eq - l->v[i]), l->v[i]);
		if (mt_validate_key(what, key, &err) ||
		    mt_validate_value_len(what, key, eq + 1,
					  strcmp(what, "param") == 0 ? MT_MAX_PARAM_VALUE_LEN
								     : MT_MAX_TAG_VALUE_LEN,
					  &err))
			return cli_error(CLI_USAGE, "%s '%s': %s", opt, l->v[i], err.msg);
		json_array_append_new(list, kv(key, eq + 1));
	}
	return 0;
}

struct flag_ctx {
	json_t *params;
	json_t *seen; /* key → index in params: the last value wins */
};

static int on_flag(void *arg, const char *key, const char *value)
{
	struct flag_ctx *c = arg;
	json_t *at = json_object_get(c->seen, key);

	if (at)
		json_array_set_new(c->params, (size_t)json_integer_value(at), kv(key, value));
	else {
		json_object_set_new(c->seen, key, json_integer((json_int_t)json_array_size(c->params)));
		json_array_append_new(c->params, kv(key, value));
	}
	return 0;
}

/* -p wins over the command's own flags of the same name. */
static json_t *collect_params(json_t *explicit_params, int argc, char **argv)
{
	struct flag_ctx c = { json_array(), json_object() };
	json_t *e;
	size_t i;

	if (!o_no_flags && argc > 1)
		mt_cmdflags(argc - 1, argv + 1, on_flag, &c);
	json_array_foreach(explicit_params, i, e)
		on_flag(&c, json_string_value(json_object_get(e, "key")),
			json_string_value(json_object_get(e, "value")));
	json_decref(c.seen);
	json_decref(explicit_params);
	return c.params;
}

static char *find_in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4200];

	while (path && *path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, n ? path : ".", prog);
		if (access(buf, X_OK) == 0)
			return strdup(buf);
		path += n + (path[n] == ':');
	}
	return NULL;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* ---- git provenance, beside the run's creation ---- */

/* Loading libgit2 and reading the tree take about as long as creating the
 * run, which is mostly waiting on the server, so the provenance is read in
 * a thread meanwhile.  The command starts once both are done: the
 * provenance describes the tree the command starts from, not one it may
 * already be changing.  Its tags follow the creation as a batch record,
 * with the patch of a dirty tree (the first push after the command
 * started, or the end, sends them). */
struct provenance {
	pthread_t th;
	int started;
	struct cli_git git;
	char patch[4200];
	long long patch_bytes; /* -1: no patch written */
	char err[256], patch_err[256];
	int rc;
};

static void *provenance_thread(void *arg)
{
	struct provenance *p = arg;

	p->rc = cli_git_provenance_patch(&p->git, ".", p->patch, &p->patch_bytes, p->patch_err,
					 sizeof(p->patch_err), p->err, sizeof(p->err));
	trace("git provenance read (provenance thread)");
	return NULL;
}

static void provenance_start(struct provenance *p, const char *spool_dir)
{
	snprintf(p->patch, sizeof(p->patch), "%s/uncommitted.patch", spool_dir);
	p->started = pthread_create(&p->th, NULL, provenance_thread, p) == 0;
	if (!p->started) /* no thread to be had: read it here */
		provenance_thread(p);
}

/* mltrack.workdir: the directory the command starts in, relative to the
 * work tree's top ("." at the top), so `mltrack reproduce` can start it in
 * the same place.  Nothing when either path cannot be resolved or the
 * directory is not inside the tree. */
static void add_workdir_tag(json_t *tags, const char *root)
{
	char *top = realpath(root, NULL), *cwd = realpath(".", NULL);
	size_t n = top ? strlen(top) : 0;

	if (top && cwd && strncmp(cwd, top, n) == 0 && (cwd[n] == '\0' || cwd[n] == '/'))
		json_array_append_new(tags, kv("mltrack.workdir", cwd[n] ? cwd + n + 1 : "."));
	free(top);
	free(cwd);
}

/* Wait for the provenance and journal what it found. */
static void provenance_finish(struct provenance *p, struct run *r)
{
	json_t *tags = json_array();

	if (p->started)
		pthread_join(p->th, NULL);
	trace("git provenance joined");
	if (p->rc)
		cli_warn("git provenance not recorded: %s", p->err);
	if (p->git.found) {
		if (p->git.commit[0])
			json_array_append_new(tags, kv("mlflow.source.git.commit", p->git.commit));
		if (p->git.branch[0])
			json_array_append_new(tags, kv("mlflow.source.git.branch", p->git.branch));
		if (p->git.repo_url[0])
			json_array_append_new(tags,
					      kv("mlflow.source.git.repoURL", p->git.repo_url));
		json_array_append_new(tags, kv("mltrack.git.dirty", p->git.dirty ? "true" : "false"));
		add_workdir_tag(tags, p->git.root);
	}
	cli_cred_scrub_kv(tags);
	journal_kv(r, "tags", tags);
	if (p->patch_err[0])
		cli_warn("uncommitted changes not recorded: %s", p->patch_err);
	else if (p->patch_bytes >= 0)
		journal(r, json_pack("{s:s, s:s, s:s}", "t", "artifact", "local", p->patch, "dest",
				     "mltrack"));
}

int cmd_run(int argc, char **argv)
{
	struct run r = { .log_fd = -1 };
	struct stream st[2] = { { .fd = -1, .which = MT_SCRAPE_STDOUT },
				{ .fd = -1, .which = MT_SCRAPE_STDERR } };
	json_t *params, *tags, *explicit_params, *rec;
	char path[4300], *cmdline;
	int rc, out_end = -1, err_end = -1, exec_errno = 0, status = 0, forwarded = 0;
	struct provenance prov = { 0 };
	struct cli_push first;
	struct cli_fail f;
	struct sigaction sa = { 0 };
	struct rusage ru;
	double t0 = cli_now(), kill_at = 0, exited_at = 0;
	pthread_t th, scraper_th;
	int scraping = 0;
	char **cmd;
	long long start_ms = mt_now_ms();
	const char *exp;
	int exited = 0, code;

	trace("start");
	if ((rc = cli_parse(&run_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	cmd = (char **)o_cmd.v;
	explicit_params = json_array();
	tags = json_array();
	if (cli_kv_pairs(&o_params, "-p", "param", explicit_params) ||
	    cli_kv_pairs(&o_tags, "-t", "tag", tags)) {
		json_decref(explicit_params);
		json_decref(tags);
		return CLI_USAGE;
	}
	r.scraper = mt_scraper_new(!o_no_scrape);
	for (int i = 0; r.scraper && i < o_scrape.n; i++) {
		struct mt_err e = { 0 };

		if (mt_scraper_add(r.scraper, o_scrape.v[i], &e)) {
			mt_scraper_free(r.scraper);
			json_decref(explicit_params);
			json_decref(tags);
			return cli_error(CLI_USAGE, "%s", e.msg);
		}
	}
	/* argv must end with NULL for exec: cli_list's array has room. */
	{
		const char **v = realloc(o_cmd.v, (size_t)(o_cmd.n + 1) * sizeof(*v));

		if (!v)
			return cli_error(CLI_USAGE, "out of memory");
		v[o_cmd.n] = NULL;
		o_cmd.v = v;
		cmd = (char **)v;
	}
	if (cli_client_init(&f)) {
		json_decref(explicit_params);
		json_decref(tags);
		mt_scraper_free(r.scraper);
		return cli_fail_report(&f);
	}
	trace("parsed");
	cli_sync_all(1, 2000);
	trace("quick sync");
	if (cli_spool_create(&r.spool, &f)) {
		json_decref(explicit_params);
		json_decref(tags);
		mt_scraper_free(r.scraper);
		return cli_fail_report(&f);
	}
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	pthread_mutex_init(&r.q_mu, NULL);
	pthread_cond_init(&r.q_cv, NULL);
	provenance_start(&prov, r.spool.dir);

	/* What the run starts with: creation, params, tags. */
	exp = o_exp && *o_exp ? o_exp : getenv("MLFLOW_EXPERIMENT_NAME");
	rec = json_pack("{s:s, s:s, s:I, s:s}", "t", "run", "spool_id", r.spool.id, "start_time",
			(json_int_t)start_ms, "user_id", user_name());
	if (exp && *exp)
		json_object_set_new(rec, "experiment", json_string(exp));
	else if (getenv("MLFLOW_EXPERIMENT_ID") && *getenv("MLFLOW_EXPERIMENT_ID"))
		json_object_set_new(rec, "experiment_id", json_string(getenv("MLFLOW_EXPERIMENT_ID")));
	if (o_name && *o_name)
		json_object_set_new(rec, "run_name", json_string(o_name));
	params = collect_params(explicit_params, o_cmd.n, cmd);
	cmdline = cli_shell_quote(o_cmd.n, cmd, MT_MAX_TAG_VALUE_LEN);
	json_array_append_new(tags, kv("mltrack.command", cmdline ? cmdline : cmd[0]));
	free(cmdline);
	json_array_append_new(tags, kv("mlflow.source.name", source_name(o_cmd.n, cmd)));
	json_array_append_new(tags, kv("mlflow.source.type", "LOCAL"));
	json_array_append_new(tags, kv("mlflow.user", user_name()));
	/* No credential in reach, nor a URL's password (a --db-url argument),
	 * becomes a tag or a param, nor reaches the spool (creds.c). */
	cli_cred_scrub_kv(tags);
	cli_cred_scrub_kv(params);
	/* The tags go with the creation (one request less); params follow.
	 * The provenance thread's tags come after the creation. */
	json_object_set_new(rec, "tags", tags);
	journal(&r, rec);
	journal_kv(&r, "params", params);
	snprintf(path, sizeof(path), "%s/output.log", r.spool.dir);
	r.log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	/* Create the run now if the server answers quickly, so the command
	 * can be told its id; otherwise it starts anyway, spooled. */
	trace("run journaled");
	cli_client_patience(1, 2000, 3000);
	rc = cli_spool_push(r.spool.dir, 1, &first, &f);
	trace("creation answered");
	if (rc == 0) {
		snprintf(r.run_id, sizeof(r.run_id), "%s", first.run_id);
		r.online = 1;
	} else if (f.transient || (f.code == CLI_SERVER && !f.status)) {
		cli_spool_flush(&r.spool);
		say_offline(&r, &f);
	} else {
		cli_spool_flush(&r.spool);
		cli_error(f.code, "%s", f.msg);
		cli_warn("the command runs on; its run stays spooled in %s", r.spool.dir);
		r.said_offline = 1;
	}
	/* The sender retries by itself: one attempt per call, and no call may
	 * hold the end of the run up for long. */
	cli_client_patience(1, 2000, 5000);
	/* The provenance describes the tree the command starts from: it is
	 * complete before the command starts (and before the environment
	 * changes under libgit2's getenv). */
	provenance_finish(&prov, &r);

	write_id_file(r.run_id);
	/* The URI as given: a user:password@ in it is how the command's
	 * clients authenticate too. */
	set_env("MLTRACK_TRACKING_URI", cli_tracking_uri_given);
	set_env("MLTRACK_RUN_ID", r.run_id);
	cli_cred_export_child();
	/* `mltrack log` inside the command writes to this run's journal. */
	set_env("MLTRACK_SPOOL_RUN", r.spool.dir);
	if (r.run_id[0]) {
		/* An MLflow client in the command logs into this run. */
		set_env("MLFLOW_TRACKING_URI", cli_tracking_uri_given);
		cli_client_child_env();
		set_env("MLFLOW_RUN_ID", r.run_id);
		if (first.experiment_id[0])
			set_env("MLFLOW_EXPERIMENT_ID", first.experiment_id);
	}

	/* Signals: handled from here on, passed on to the command. */
	if (pipe2(self_pipe, O_CLOEXEC | O_NONBLOCK))
		return cli_error(CLI_USAGE, "cannot create a pipe: %s", strerror(errno));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (open_stream(&st[0], STDOUT_FILENO, &out_end) ||
	    open_stream(&st[1], STDERR_FILENO, &err_end))
		return cli_error(CLI_USAGE, "cannot create the command's output: %s", strerror(errno));
	trace("ready to start the command");
	t0 = cli_now();
	r.child = start_child(cmd, out_end, err_end, &exec_errno);
	trace("exec confirmed");
	close(out_end);
	close(err_end);
	{
		const char *every = getenv("MLTRACK_SYSTEM_METRICS_INTERVAL");

		r.sample_every = every && *every ? atof(every) : 5.0;
		r.nvidia_smi = r.sample_every > 0 ? find_in_path("nvidia-smi") : NULL;
	}
	if (r.child > 0 && !exec_errno) {
		pthread_create(&th, NULL, sender, &r);
		if (r.scraper)
			scraping = pthread_create(&scraper_th, NULL, scrape_thread, &r) == 0;
		if (!scraping) {
			mt_scraper_free(r.scraper);
			r.scraper = NULL;
		}
	}

	/* Pump until the command has exited and its streams are drained. */
	while (r.child > 0 && !exec_errno) {
		struct pollfd pf[3];
		int n = 0, who[3] = { -1, -1, -1 };
		char drain[64];

		pf[n++] = (struct pollfd){ .fd = self_pipe[0], .events = POLLIN };
		for (int i = 0; i < 2; i++)
			if (st[i].fd >= 0) {
				who[n] = i;
				pf[n++] = (struct pollfd){ .fd = st[i].fd, .events = POLLIN };
			}
		if (poll(pf, (nfds_t)n, 250) < 0 && errno != EINTR)
			break;
		while (read(self_pipe[0], drain, sizeof(drain)) > 0)
			;
		for (int k = 1; k < n; k++)
			if (pf[k].revents)
				pump(&r, &st[who[k]]);
		/* Scraped points wait at most a quarter second for company. */
		pthread_mutex_lock(&r.mu);
		if (r.pending.n && cli_now() - r.pending_since >= 0.25)
			flush_pending_locked(&r);
		pthread_mutex_unlock(&r.mu);
		if (got_winch) {
			struct winsize ws;

			got_winch = 0;
			for (int i = 0; i < 2; i++)
				if (st[i].is_pty && st[i].fd >= 0 &&
				    ioctl(st[i].out, TIOCGWINSZ, &ws) == 0)
					ioctl(st[i].fd, TIOCSWINSZ, &ws);
		}
		if (got_signal && !exited) {
			int sig = got_signal;

			/* A key typed at the terminal reached the command too. */
			if (!(sig == SIGINT || sig == SIGQUIT) || got_signal_code != SI_KERNEL)
				kill(r.child, sig);
			got_signal = 0;
			forwarded = sig;
			if (!kill_at) {
				const char *g = getenv("MLTRACK_KILL_GRACE");

				kill_at = cli_now() + (g && *g ? atof(g) : 10.0);
			}
		}
		if (kill_at && !exited && cli_now() >= kill_at) {
			kill(r.child, SIGKILL);
			kill_at = 0;
		}
		if (!exited && wait4(r.child, &status, WNOHANG, &ru) == r.child) {
			exited = 1;
			exited_at = cli_now();
			trace("reaped");
		}
		/* Done when both streams ended; a daemon the command left behind
		 * holding them open gets two seconds. */
		if (exited && ((st[0].fd < 0 && st[1].fd < 0) || cli_now() - exited_at > 2))
			break;
	}
	trace("command ended");
	for (int i = 0; i < 2; i++)
		if (st[i].fd >= 0)
			close(st[i].fd);
	if (scraping) {
		pthread_mutex_lock(&r.q_mu);
		r.q_done = 1;
		pthread_cond_broadcast(&r.q_cv);
		pthread_mutex_unlock(&r.q_mu);
		pthread_join(scraper_th, NULL);
	}

	/* The end: exit status, times, output, artifacts. */
	{
		/* The command's own time: from its start to its exit, not to the
		 * end of our bookkeeping. */
		double wall = (exited ? exited_at : cli_now()) - t0;
		const char *status_s;
		char codebuf[32];
		long long now = mt_now_ms();
		json_t *end_tags = json_array();

		if (r.child <= 0 || exec_errno) {
			code = 127;
			status_s = "FAILED";
			cli_error(127, "cannot run '%s': %s", cmd[0],
				  strerror(exec_errno ? exec_errno : errno));
		} else if (WIFSIGNALED(status)) {
			code = 128 + WTERMSIG(status);
			status_s = "KILLED";
		} else {
			code = WEXITSTATUS(status);
			status_s = forwarded ? "KILLED" : code == 0 ? "FINISHED" : "FAILED";
		}
		snprintf(codebuf, sizeof(codebuf), "%d", code);
		json_array_append_new(end_tags, kv("mltrack.exit_code", codebuf));
		if (r.child > 0 && !exec_errno && WIFSIGNALED(status))
			json_array_append_new(end_tags, kv("mltrack.signal", strsignal(WTERMSIG(status))));
		journal_kv(&r, "tags", end_tags);
		add_metric(&r, "mltrack.wall_time_s", wall, 0, now);
		if (r.child > 0 && !exec_errno) {
			add_metric(&r, "mltrack.cpu_time_s", tv_s(ru.ru_utime) + tv_s(ru.ru_stime), 0, now);
			add_metric(&r, "mltrack.peak_rss_mb", (double)ru.ru_maxrss / 1024.0, 0, now);
		}
		pthread_mutex_lock(&r.mu);
		flush_pending_locked(&r);
		pthread_mutex_unlock(&r.mu);
		if (mt_redact_stream_finish(&r.log_masked, log_out, &r) && r.log_fd >= 0) {
			close(r.log_fd);
			r.log_fd = -1;
		}
		if (r.log_fd >= 0) {
			struct stat lst;
			int empty = fstat(r.log_fd, &lst) == 0 && lst.st_size == 0;

			close(r.log_fd);
			snprintf(path, sizeof(path), "%s/output.log", r.spool.dir);
			/* A command that printed nothing has no log to keep. */
			if (!empty)
				journal(&r, json_pack("{s:s, s:s, s:s}", "t", "artifact", "local", path,
						      "dest", "mltrack"));
		}
		for (int i = 0; i < o_artifacts.n; i++) {
			char *abs = realpath(o_artifacts.v[i], NULL);

			if (!abs) {
				cli_warn("--artifacts '%s': %s", o_artifacts.v[i], strerror(errno));
				continue;
			}
			journal(&r, json_pack("{s:s, s:s, s:s}", "t", "artifact", "local", abs, "dest",
					      ""));
			free(abs);
		}
		/* The end record is the journal's last: the sampler may still be
		 * adding points, so the journal is closed under the lock. */
		rec = json_pack("{s:s, s:s, s:I}", "t", "end", "status", status_s, "end_time",
				(json_int_t)now);
		pthread_mutex_lock(&r.mu);
		flush_pending_locked(&r);
		r.closed = 1;
		if (cli_spool_append(&r.spool, rec))
			cli_warn("cannot write the spool journal: %s", strerror(errno));
		pthread_mutex_unlock(&r.mu);
		json_decref(rec);
		if (!r.online)
			cli_spool_flush(&r.spool);
		if (r.child > 0 && !exec_errno) {
			pthread_mutex_lock(&r.mu);
			r.finishing = 1;
			pthread_cond_signal(&r.cv);
			pthread_mutex_unlock(&r.mu);
			trace("end journaled");
			pthread_join(th, NULL);
			trace("sender thread stopped");
			send_rest(&r);
			trace("end sent: everything acknowledged");
		} else {
			/* No sender was started: one push says how the run failed. */
			struct cli_push p;

			r.sent_all = cli_spool_push(r.spool.dir, 1, &p, &f) == 0 && p.ended;
			if (p.run_id[0])
				snprintf(r.run_id, sizeof(r.run_id), "%s", p.run_id);
		}
		{
			/* Everything acknowledged: the spool has done its job. */
			write_id_file(r.run_id);
			if (r.sent_all) {
				cli_spool_close(&r.spool);
				cli_spool_remove(r.spool.dir);
				if (!cli_quiet)
					fprintf(stderr, "mltrack: run %s %s (exit %d, %.1f s): %s/runs/%s\n",
						r.run_id, status_s, code, wall, cli_tracking_uri,
						r.run_id);
			} else {
				cli_spool_flush(&r.spool);
				cli_spool_close(&r.spool);
				if (!cli_quiet)
					fprintf(stderr,
						"mltrack: run %s %s (exit %d); not all of it reached the "
						"server: `mltrack sync` uploads %s\n",
						r.run_id[0] ? r.run_id : "(not created yet)", status_s,
						code, r.spool.dir);
			}
		}
	}
	mt_scraper_free(r.scraper);
	free(r.pending.buf);
	free(r.nvidia_smi);
	cli_list_free(&o_params);
	cli_list_free(&o_tags);
	cli_list_free(&o_artifacts);
	cli_list_free(&o_scrape);
	cli_list_free(&o_cmd);
	cli_client_cleanup();
	pthread_mutex_destroy(&r.mu);
	pthread_cond_destroy(&r.cv);
	pthread_mutex_destroy(&r.q_mu);
	pthread_cond_destroy(&r.q_cv);
	trace("cleaned up");
	return code;
}
