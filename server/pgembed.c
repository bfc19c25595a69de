/*
 * pgembed.c: the embedded PostgreSQL cluster (DESIGN §3).
 *
 * With no database URL, mltrackd keeps a private cluster in DATA_DIR/pg:
 * initdb on first start (into a temporary directory renamed into place, so an
 * interrupted initdb leaves nothing half-made), the postmaster as a child on a
 * Unix socket only, stopped with a fast shutdown when mltrackd exits.  The
 * child gets PR_SET_PDEATHSIG, so even `kill -9 mltrackd` stops the cluster
 * cleanly.  PostgreSQL refuses to run as root, so a root mltrackd runs the
 * cluster as the `postgres` user (or `nobody`).  DATA_DIR/mltrackd.lock is
 * held (flock) for the server's lifetime; holding it proves that any
 * postmaster still on the data directory is an orphan, which is then stopped,
 * and a stale postmaster.pid is removed.  A one-shot command (mltrackd gc)
 * that finds the lock held uses the holder's cluster instead, through the
 * socket its postmaster.pid names (pgembed_attach).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mt_util.h"
#include "server.h"

static pid_t pg_pid = -1;
static int lock_fd = -1;
static char pg_dir[PATH_MAX];
static char sock_dir[PATH_MAX];
static char sock_tmp; /* sock_dir is a temporary directory we remove */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* snprintf into a PATH_MAX buffer.  pgembed_start refuses data dirs long
 * enough for any of these to be cut short. */
static void __attribute__((format(printf, 2, 3))) pathf(char *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int chown_r_uid, chown_r_gid;

static int chown_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return lchown(path, (uid_t)chown_r_uid, (gid_t)chown_r_gid);
}

/* The directory holding initdb/postgres: MLTRACK_PG_BINDIR, the newest
 * /usr/lib/postgresql/N/bin, or PATH. */
static void find_bindir(char *out, size_t size)
{
	const char *env = getenv("MLTRACK_PG_BINDIR");
	glob_t g;
	int best = -1;

	out[0] = '\0';
	if (env && *env) {
		snprintf(out, size, "%s/", env);
		return;
	}
	if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			int v = atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"));

			if (v > best) {
				best = v;
				snprintf(out, size, "%.*s", (int)(strlen(g.gl_pathv[i]) - 8),
					 g.gl_pathv[i]);
			}
		}
		globfree(&g);
	}
}

struct runas {
	int as_other;
	uid_t uid;
	gid_t gid;
	char name[64];
};

static int pick_user(struct runas *ru, struct mt_err *err)
{
	struct passwd *pw;

	memset(ru, 0, sizeof(*ru));
	if (geteuid() != 0)
		return 0;
	pw = getpwnam("postgres");
	if (!pw)
		pw = getpwnam("nobody");
	if (!pw)
		return mt_err_set(err, MT_EINTERNAL,
				  "running as root and no 'postgres' or 'nobody' user exists to run "
				  "the embedded PostgreSQL: create one, or pass --database-url");
	ru->as_other = 1;
	ru->uid = pw->pw_uid;
	ru->gid = pw->pw_gid;
	snprintf(ru->name, sizeof(ru->name), "%s", pw->pw_name);
	return 0;
}

/* In a forked child: drop to the cluster's user and send output to log.
 * Never returns on failure (exits 126). */
static void child_setup(const struct runas *ru, const char *log, int pdeath, pid_t parent)
{
	sigset_t none;
	int fd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setsid();
	if (ru->as_other) {
		if (setgroups(0, NULL) || setgid(ru->gid) || setuid(ru->uid)) {
			perror("mltrackd: cannot switch to the PostgreSQL user");
			_exit(126);
		}
	}
	if (pdeath) {
		prctl(PR_SET_PDEATHSIG, SIGINT);
		if (getppid() != parent)
			_exit(0);
	}
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, 0);
}

static void log_tail(const char *log, struct mt_err *err)
{
	FILE *f = fopen(log, "r");
	char line[512], last[512] = "";

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "FATAL") || strstr(line, "ERROR") || strstr(line, "error") ||
		    last[0] == '\0')
			snprintf(last, sizeof(last), "%s", line);
	fclose(f);
	last[strcspn(last, "\n")] = '\0';
	if (last[0]) {
		char keep[MT_ERR_MSG_MAX];

		snprintf(keep, sizeof(keep), "%s", err->msg);
		mt_err_set(err, err->code, "%.400s (%.500s)", keep, last);
	}
}

/* Whether the cluster's user can reach dir (every parent must be
 * traversable for it).  Checked in a child that switches user. */
static int reachable(const struct runas *ru, const char *dir, struct mt_err *err)
{
	pid_t pid;
	int status;

	if (!ru->as_other)
		return 0;
	pid = fork();
	if (pid < 0)
		return mt_err_set(err, MT_EINTERNAL, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(ru->gid) || setuid(ru->uid))
			_exit(2);
		_exit(access(dir, X_OK) == 0 ? 0 : 1);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	return mt_err_set(err, MT_EINVAL,
			  "the PostgreSQL user '%s' cannot reach %s: make its parent directories "
			  "traversable (chmod o+x) or choose a --data-dir it can reach, such as "
			  "/var/lib/mltrack", ru->name, dir);
}

static int run_initdb(const char *bindir, const struct runas *ru, const char *data_dir,
		      struct mt_err *err)
{
	char tmp[PATH_MAX], prog[PATH_MAX], log[PATH_MAX];
	pid_t pid;
	int status;

	pathf(tmp, "%s.initdb", pg_dir);
	pathf(prog, "%sinitdb", bindir);
	pathf(log, "%s/initdb.log", data_dir);
	rm_rf(tmp);
	if (mkdir(tmp, 0700))
		return mt_err_set(err, MT_EINTERNAL, "cannot create %s: %s", tmp, strerror(errno));
	if (ru->as_other && (chown(tmp, ru->uid, ru->gid) ||
			     (unlink(log), close(open(log, O_CREAT | O_WRONLY, 0600)),
			      chown(log, ru->uid, ru->gid))))
		return mt_err_set(err, MT_EINTERNAL, "cannot hand %s to user %s: %s", tmp,
				  ru->name, strerror(errno));
	fprintf(stderr, "mltrackd: creating the embedded PostgreSQL cluster in %s\n", pg_dir);
	pid = fork();
	if (pid < 0)
		return mt_err_set(err, MT_EINTERNAL, "fork: %s", strerror(errno));
	if (pid == 0) {
		child_setup(ru, log, 0, 0);
		if (chdir(tmp)) {
			fprintf(stderr, "cannot reach %s as this user: %s; choose a --data-dir "
				"that user can reach\n", tmp, strerror(errno));
			_exit(126);
		}
		execl(prog, "initdb", "-D", tmp, "-U", "mltrack", "-A", "trust", "-E", "UTF8",
		      "--locale=C", (char *)NULL);
		fprintf(stderr, "cannot run %s: %s (install PostgreSQL or set MLTRACK_PG_BINDIR)\n",
			prog, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		mt_err_set(err, MT_EINTERNAL, "initdb failed, see %s", log);
		log_tail(log, err);
		rm_rf(tmp);
		return -1;
	}
	if (rename(tmp, pg_dir))
		return mt_err_set(err, MT_EINTERNAL, "cannot rename %s: %s", tmp, strerror(errno));
	return 0;
}

/* We hold the data-dir lock, so a postmaster still on pg_dir is an orphan of
 * an earlier mltrackd: stop it.  A pid file naming anything else is stale. */
static void clear_stale(void)
{
	char pidfile[PATH_MAX], comm[PATH_MAX], buf[64];
	FILE *f;
	long pid = 0;

	pathf(pidfile, "%s/postmaster.pid", pg_dir);
	f = fopen(pidfile, "r");
	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f))
		pid = strtol(buf, NULL, 10);
	fclose(f);
	if (pid > 1 && kill((pid_t)pid, 0) == 0) {
		pathf(comm, "/proc/%ld/comm", pid);
		f = fopen(comm, "r");
		buf[0] = '\0';
		if (f) {
			if (!fgets(buf, sizeof(buf), f))
				buf[0] = '\0';
			fclose(f);
		}
		if (strncmp(buf, "postgres", 8) == 0) {
			fprintf(stderr, "mltrackd: stopping an orphaned PostgreSQL (pid %ld)\n", pid);
			kill((pid_t)pid, SIGINT);
			for (int i = 0; i < 600 && kill((pid_t)pid, 0) == 0; i++)
				sleep_ms(100);
			return;
		}
	}
	fprintf(stderr, "mltrackd: removing stale %s\n", pidfile);
	unlink(pidfile);
}

/* Resolve DATA_DIR (created when missing) into data_dir and take its lock.
 * *busy when another process holds it (lock_fd stays closed then). */
static int take_lock(struct mt_config *cfg, const struct runas *ru, char *data_dir, int *busy,
		     struct mt_err *err)
{
	char lockpath[PATH_MAX];

	*busy = 0;
	if (strlen(cfg->data_dir) > 3000)
		return mt_err_set(err, MT_EINVAL, "data dir path is too long");
	if (mt_mkdir_p(cfg->data_dir, 0700) || !realpath(cfg->data_dir, data_dir))
		return mt_err_set(err, MT_EINTERNAL, "cannot create data dir %s: %s",
				  cfg->data_dir, strerror(errno));
	if (ru->as_other)
		chmod(data_dir, 0711); /* the cluster's user must traverse it */
	pathf(lockpath, "%s/mltrackd.lock", data_dir);
	pathf(pg_dir, "%s/pg", data_dir);
	lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd >= 0 && flock(lock_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (lock_fd >= 0 && errno == EWOULDBLOCK) {
		*busy = 1;
		close(lock_fd);
		lock_fd = -1;
		return 0;
	}
	mt_err_set(err, MT_EINTERNAL, "cannot lock %s: %s", lockpath, strerror(errno));
	if (lock_fd >= 0)
		close(lock_fd);
	lock_fd = -1;
	return -1;
}

static int start_locked(struct mt_config *cfg, const struct runas *ru, const char *data_dir,
			struct mt_err *err);

int pgembed_start(struct mt_config *cfg, struct mt_err *err)
{
	char data_dir[PATH_MAX];
	struct runas ru;
	int busy;

	if (pick_user(&ru, err) || take_lock(cfg, &ru, data_dir, &busy, err))
		return -1;
	if (busy)
		return mt_err_set(err, MT_EINTERNAL, "another mltrackd is using the data dir %s",
				  data_dir);
	return start_locked(cfg, &ru, data_dir, err);
}

/* The conninfo of the cluster running on pg_dir, from its postmaster.pid
 * (line 4 the port, line 5 the socket directory). */
static int running_conninfo(char *out, size_t size)
{
	char pidfile[PATH_MAX], line[PATH_MAX], port[16] = "", sock[PATH_MAX] = "";
	char quoted[2 * PATH_MAX + 3], *q = quoted;
	FILE *f;

	pathf(pidfile, "%s/postmaster.pid", pg_dir);
	f = fopen(pidfile, "r");
	if (!f)
		return -1;
	for (int n = 1; n <= 5 && fgets(line, sizeof(line), f); n++) {
		line[strcspn(line, "\n")] = '\0';
		if (n == 4)
			snprintf(port, sizeof(port), "%.15s", line);
		else if (n == 5)
			snprintf(sock, sizeof(sock), "%s", line);
	}
	fclose(f);
	if (!port[0] || !sock[0] || strspn(port, "0123456789") != strlen(port))
		return -1;
	*q++ = '\'';
	for (const char *p = sock; *p; p++) {
		if (*p == '\'' || *p == '\\')
			*q++ = '\\';
		*q++ = *p;
	}
	*q++ = '\'';
	*q = '\0';
	if (snprintf(out, size, "host=%s port=%s user=mltrack dbname=mltrack", quoted, port) >=
	    (int)size)
		return -1;
	return 0;
}

int pgembed_attach(struct mt_config *cfg, int *attached, struct mt_err *err)
{
	char data_dir[PATH_MAX];
	struct runas ru;

	*attached = 0;
	if (pick_user(&ru, err))
		return -1;
	/* A server starting or stopping holds the lock while its cluster does
	 * not answer yet (or any more): wait a while for one or the other. */
	for (int i = 0;; i++) {
		int busy;

		if (take_lock(cfg, &ru, data_dir, &busy, err))
			return -1;
		if (!busy)
			return start_locked(cfg, &ru, data_dir, err);
		if (running_conninfo(cfg->conninfo, sizeof(cfg->conninfo)) == 0 &&
		    PQping(cfg->conninfo) == PQPING_OK) {
			*attached = 1;
			fprintf(stderr, "mltrackd: using the PostgreSQL of the mltrackd running on %s\n",
				data_dir);
			return 0;
		}
		if (i >= 600)
			return mt_err_set(err, MT_EUNAVAIL,
					  "an mltrackd holds the data dir %s but its PostgreSQL does "
					  "not answer", data_dir);
		sleep_ms(100);
	}
}

static int start_locked(struct mt_config *cfg, const struct runas *ru, const char *data_dir,
			struct mt_err *err)
{
	char bindir[PATH_MAX], prog[PATH_MAX];
	char log[PATH_MAX], opt_sock[PATH_MAX + 64], probe[PATH_MAX + 128], opt_conns[40];
	struct stat st;
	pid_t parent = getpid();

	find_bindir(bindir, sizeof(bindir));
	if (reachable(ru, data_dir, err))
		return -1;

	if (stat(pg_dir, &st) != 0) {
		if (run_initdb(bindir, ru, data_dir, err))
			return -1;
	} else {
		char ver[PATH_MAX];

		pathf(ver, "%s/PG_VERSION", pg_dir);
		if (access(ver, F_OK))
			return mt_err_set(err, MT_EINTERNAL,
					  "%s exists but is not a PostgreSQL data directory", pg_dir);
	}
	clear_stale();

	/* The socket path must fit in sun_path (108 bytes). */
	if (strlen(pg_dir) + sizeof("/.s.PGSQL.5432") < 100) {
		snprintf(sock_dir, sizeof(sock_dir), "%s", pg_dir);
	} else {
		snprintf(sock_dir, sizeof(sock_dir), "/tmp/mltrack-pg-XXXXXX");
		if (!mkdtemp(sock_dir))
			return mt_err_set(err, MT_EINTERNAL, "mkdtemp: %s", strerror(errno));
		sock_tmp = 1;
		if (ru->as_other && chown(sock_dir, ru->uid, ru->gid))
			return mt_err_set(err, MT_EINTERNAL, "chown %s: %s", sock_dir, strerror(errno));
	}
	if (ru->as_other) {
		chown_r_uid = (int)ru->uid;
		chown_r_gid = (int)ru->gid;
		nftw(pg_dir, chown_entry, 16, FTW_PHYS);
	}
	pathf(prog, "%spostgres", bindir);
	pathf(log, "%s/server.log", pg_dir);
	snprintf(opt_sock, sizeof(opt_sock), "unix_socket_directories=%s", sock_dir);
	/* The server's pool, plus room for mltrackd gc, migrations, psql and
	 * PostgreSQL's reserved superuser slots: never fewer than 200. */
	snprintf(opt_conns, sizeof(opt_conns), "max_connections=%d",
		 cfg->db_pool + 40 > 200 ? cfg->db_pool + 40 : 200);

	pg_pid = fork();
	if (pg_pid < 0)
		return mt_err_set(err, MT_EINTERNAL, "fork: %s", strerror(errno));
	if (pg_pid == 0) {
		child_setup(ru, log, 1, parent);
		execl(prog, "postgres", "-D", pg_dir, "-c", "listen_addresses=", "-c", opt_sock,
		      "-c", "port=5432", "-c", opt_conns, (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", prog, strerror(errno));
		_exit(127);
	}

	snprintf(probe, sizeof(probe), "host=%s port=5432 user=mltrack dbname=postgres "
		 "connect_timeout=5", sock_dir);
	for (int i = 0;; i++) {
		int status;

		if (PQping(probe) == PQPING_OK)
			break;
		if (waitpid(pg_pid, &status, WNOHANG) == pg_pid) {
			pg_pid = -1;
			mt_err_set(err, MT_EINTERNAL, "the embedded PostgreSQL did not start, see %s",
				   log);
			log_tail(log, err);
			return -1;
		}
		if (i > 1200) {
			mt_err_set(err, MT_EINTERNAL,
				   "the embedded PostgreSQL did not answer in 120 s, see %s", log);
			pgembed_stop();
			return -1;
		}
		sleep_ms(100);
	}

	{
		PGconn *c = PQconnectdb(probe);
		PGresult *r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = 'mltrack'");
		int have = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;

		PQclear(r);
		if (!have && PQstatus(c) == CONNECTION_OK) {
			r = PQexec(c, "CREATE DATABASE mltrack");
			if (PQresultStatus(r) != PGRES_COMMAND_OK) {
				mt_err_set(err, MT_EINTERNAL, "cannot create database: %s",
					   PQresultErrorMessage(r));
				PQclear(r);
				PQfinish(c);
				pgembed_stop();
				return -1;
			}
			PQclear(r);
		}
		PQfinish(c);
	}
	if (snprintf(cfg->conninfo, sizeof(cfg->conninfo),
		     "host=%s port=5432 user=mltrack dbname=mltrack", sock_dir) >=
	    (int)sizeof(cfg->conninfo))
		return mt_err_set(err, MT_EINVAL, "socket path is too long");
	fprintf(stderr, "mltrackd: embedded PostgreSQL running (pid %ld, data %s)\n",
		(long)pg_pid, pg_dir);
	return 0;
}

void pgembed_stop(void)
{
	int status;

	if (pg_pid > 0) {
		kill(pg_pid, SIGINT); /* fast shutdown: roll back, checkpoint, exit */
		for (int i = 0; i < 600; i++) {
			if (waitpid(pg_pid, &status, WNOHANG) == pg_pid)
				goto reaped;
			sleep_ms(100);
		}
		kill(pg_pid, SIGQUIT);
		waitpid(pg_pid, &status, 0);
reaped:
		pg_pid = -1;
	}
	if (sock_tmp)
		rm_rf(sock_dir);
	if (lock_fd >= 0) {
		close(lock_fd);
		lock_fd = -1;
	}
}
