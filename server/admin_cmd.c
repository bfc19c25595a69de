/*
 * admin_cmd.c: `mltrackd user ...` and `mltrackd token ...`, which work on
 * the database directly (no server needs to run, none is asked): for the
 * first admin, and for recovery when nobody can log in.
 *
 *   user add NAME [--admin] [--password-stdin]
 *   user passwd NAME [--password-stdin]
 *   user del NAME
 *   user list
 *   token create --user NAME --name TOKEN [--expires DAYS] [--scope SCOPE]
 *   token list [--user NAME] [--all]
 *   token revoke ID | --user NAME --name TOKEN
 *
 * A password is never an argument (it would show in ps and in the shell's
 * history): it is asked twice on the terminal with echo off, or read as one
 * line from standard input with --password-stdin.  A token is printed once,
 * alone on standard output, so `T=$(mltrackd token create ...)` keeps it;
 * only its hash is stored.  The first user is always an admin, and the last
 * admin cannot be deleted: a database with users always has someone who
 * can manage it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "admin_cmd.h"
#include "auth.h"
#include "mt_auth.h"
#include "mt_util.h"
#include "sql_auth.h"

static const struct admin_flag {
	const char *flag;
	int value; /* takes a value */
} flags[] = {
	{ "--admin", 0 }, { "--password-stdin", 0 }, { "--all", 0 },
	{ "--user", 1 },  { "--name", 1 },           { "--expires", 1 },
	{ "--scope", 1 },
};

int admin_flag(const char *flag)
{
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strcmp(flag, flags[i].flag) == 0)
			return flags[i].value;
	return -1;
}

int admin_is_command(const char *cmd)
{
	return strcmp(cmd, "user") == 0 || strcmp(cmd, "token") == 0;
}

void admin_usage(FILE *f)
{
	fprintf(f,
		"  user add NAME [--admin] [--password-stdin]\n"
		"            add a user; the password is asked on the terminal (twice), or\n"
		"            read as one line from standard input with --password-stdin.\n"
		"            The first user is an admin.  Once a user exists, every request\n"
		"            must authenticate\n"
		"  user passwd NAME [--password-stdin]\n"
		"            set a user's password\n"
		"  user del NAME\n"
		"            delete a user and their tokens (not the last admin)\n"
		"  user list list the users\n"
		"  token create --user NAME --name TOKEN [--expires DAYS] [--scope SCOPE]\n"
		"            create an API token for a user; it is printed once, on standard\n"
		"            output, and only its hash is kept.  A scope narrows it to\n"
		"            comma-separated grants: read:*, experiment:ID:LEVEL,\n"
		"            model:NAME:LEVEL, model:NAME:promote:Staging|Production\n"
		"            (LEVEL: READ, EDIT or MANAGE; docs/security.md)\n"
		"  token list [--user NAME] [--all]\n"
		"            list live tokens (--all: revoked ones too)\n"
		"  token revoke ID | --user NAME --name TOKEN\n"
		"            revoke a token: it stops working at once\n");
}

/* ---- arguments ---- */

struct args {
	const char *pos[4];
	int npos;
	int admin, password_stdin, all;
	const char *user, *name, *expires, *scope;
};

static int parse_args(int argc, char **argv, struct args *a, struct mt_err *err)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];

		if (s[0] != '-') {
			if (a->npos == 4)
				return mt_err_set(err, MT_EBADREQ, "unexpected argument '%s'", s);
			a->pos[a->npos++] = s;
			continue;
		}
		if (strcmp(s, "--admin") == 0)
			a->admin = 1;
		else if (strcmp(s, "--password-stdin") == 0)
			a->password_stdin = 1;
		else if (strcmp(s, "--all") == 0)
			a->all = 1;
		else if (i + 1 < argc && strcmp(s, "--user") == 0)
			a->user = argv[++i];
		else if (i + 1 < argc && strcmp(s, "--name") == 0)
			a->name = argv[++i];
		else if (i + 1 < argc && strcmp(s, "--expires") == 0)
			a->expires = argv[++i];
		else if (i + 1 < argc && strcmp(s, "--scope") == 0)
			a->scope = argv[++i];
		else
			return mt_err_set(err, MT_EBADREQ, "unknown option '%s'", s);
	}
	return 0;
}

/* ---- reading a password ---- */

static int read_line(FILE *in, char *buf, size_t size)
{
	size_t n;

	if (!fgets(buf, (int)size, in))
		return -1;
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (!feof(in))
		return -2; /* longer than the buffer */
	if (n && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return 0;
}

static int ask(const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	FILE *tty = fopen("/dev/tty", "r+");
	int rc;

	if (!tty)
		return -1;
	fputs(prompt, tty);
	fflush(tty);
	tcgetattr(fileno(tty), &old);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	rc = read_line(tty, buf, size);
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputs("\n", tty);
	fclose(tty);
	return rc;
}

static int get_password(const struct args *a, const char *user, char *pw, size_t size,
			struct mt_err *err)
{
	char again[MT_PASSWORD_MAX + 2];
	const char *why;
	int rc;

	if (a->password_stdin) {
		rc = read_line(stdin, pw, size);
		if (rc == -2)
			return mt_err_set(err, MT_EINVAL, "%s", mt_auth_password_invalid(""));
		if (rc)
			return mt_err_set(err, MT_EINVAL, "no password on standard input");
	} else {
		if (!isatty(STDIN_FILENO))
			return mt_err_set(err, MT_EBADREQ, "no terminal to ask the password on: "
							   "pipe it in with --password-stdin");
		char prompt[MT_USERNAME_MAX + 32];

		snprintf(prompt, sizeof(prompt), "Password for %s: ", user);
		if (ask(prompt, pw, size) ||
		    ask("Again: ", again, sizeof(again)))
			return mt_err_set(err, MT_EBADREQ, "cannot read the password from the terminal");
		rc = strcmp(pw, again);
		OPENSSL_cleanse(again, sizeof(again));
		if (rc)
			return mt_err_set(err, MT_EINVAL, "the two passwords differ");
	}
	why = mt_auth_password_invalid(pw);
	if (why)
		return mt_err_set(err, MT_EINVAL, "%s", why);
	return 0;
}

/* ---- output ---- */

static const char *when(long long ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!ms)
		return "-";
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm);
	return buf;
}

/* ---- the commands ---- */

static int in_txn(struct mt_req *req, struct mt_err *err)
{
	return db_command(req->w, "BEGIN", err);
}

static int commit(struct mt_req *req, struct mt_err *err)
{
	return db_command(req->w, "COMMIT", err);
}

static int user_add(struct mt_req *req, const struct args *a, struct mt_err *err)
{
	char pw[MT_PASSWORD_MAX + 2], hash[MT_PASSWORD_HASH_MAX];
	const char *name = a->pos[1], *why;
	long long id, admins = 0;
	int any = 0, admin = a->admin, rc;

	if (!name || a->npos != 2)
		return mt_err_set(err, MT_EBADREQ, "usage: mltrackd user add NAME [--admin] "
						   "[--password-stdin]");
	if ((why = mt_auth_username_invalid(name)))
		return mt_err_set(err, MT_EINVAL, "invalid user name '%s': %s", name, why);
	if (get_password(a, name, pw, sizeof(pw), err))
		return -1;
	rc = mt_auth_password_hash(pw, hash, sizeof(hash));
	OPENSSL_cleanse(pw, sizeof(pw));
	if (rc)
		return mt_err_set(err, MT_EINTERNAL, "cannot hash the password");
	if (in_txn(req, err) || sql_user_admins_locked(req, &admins, err) ||
	    sql_auth_any_user(req, &any, err))
		return -1;
	if (admins == 0)
		admin = 1; /* the first user, or nobody could manage the server */
	if (sql_user_insert(req, name, hash, admin, mt_now_ms(), &id, err) || commit(req, err))
		return -1;
	printf("added user %s%s\n", name, admin ? " (admin)" : "");
	if (admin && !a->admin)
		fprintf(stderr, "mltrackd: %s is an admin: the server had none\n", name);
	if (!any)
		fprintf(stderr, "mltrackd: authentication is now required for every request\n");
	return 0;
}

static int user_passwd(struct mt_req *req, const struct args *a, struct mt_err *err)
{
	char pw[MT_PASSWORD_MAX + 2], hash[MT_PASSWORD_HASH_MAX];
	const char *name = a->pos[1];
	struct sql_user u;
	int found = 0, rc;

	if (!name || a->npos != 2)
		return mt_err_set(err, MT_EBADREQ, "usage: mltrackd user passwd NAME "
						   "[--password-stdin]");
	if (sql_user_get(req, name, &u, &found, err))
		return -1;
	if (!found)
		return mt_err_set(err, MT_ENOTFOUND, "no user named '%s'", name);
	if (get_password(a, name, pw, sizeof(pw), err))
		return -1;
	rc = mt_auth_password_hash(pw, hash, sizeof(hash));
	OPENSSL_cleanse(pw, sizeof(pw));
	if (rc)
		return mt_err_set(err, MT_EINTERNAL, "cannot hash the password");
	if (sql_user_set_password(req, name, hash, mt_now_ms(), err))
		return -1;
	printf("password of %s changed\n", name);
	return 0;
}

static int user_del(struct mt_req *req, const struct args *a, struct mt_err *err)
{
	const char *name = a->pos[1];
	struct sql_user u;
	long long admins = 0;
	int found = 0;

	if (!name || a->npos != 2)
		return mt_err_set(err, MT_EBADREQ, "usage: mltrackd user del NAME");
	if (in_txn(req, err) || sql_user_admins_locked(req, &admins, err) ||
	    sql_user_get(req, name, &u, &found, err))
		return -1;
	if (!found)
		return mt_err_set(err, MT_ENOTFOUND, "no user named '%s'", name);
	if (u.is_admin && admins <= 1)
		return mt_err_set(err, MT_EINVAL, "%s is the last admin: add another admin first "
						  "(mltrackd user add NAME --admin)", name);
	if (sql_user_delete(req, name, err) || commit(req, err))
		return -1;
	printf("deleted user %s and their tokens\n", name);
	return 0;
}

static int user_list(struct mt_req *req, const struct args *a, struct mt_err *err)
{
	struct sql_user *u;
	char b[32];
	int n;

	if (a->npos != 1)
		return mt_err_set(err, MT_EBADREQ, "usage: mltrackd user list");
	if (sql_user_list(req, &u, &n, err))
		return -1;
	if (n == 0) {
		printf("no users: mltrackd serves one person on loopback without login\n");
		return 0;
	}
	printf("%-24s %-6s %-7s %s\n", "USER", "ADMIN", "TOKENS", "CREATED");
	for (int i = 0; i < n; i++)
		printf("%-24s %-6s %-7lld %s\n", u[i].username, u[i].is_admin ? "yes" : "no",
		       u[i].live_tokens, when(u[i].created_at, b, sizeof(b)));
	return 0;
}

static int token_create(struct mt_req *req, const struct args *a, struct mt_err *err)
{
	char token[MT_TOKEN_LEN + 1];
	struct sql_user u;
	struct sql_token t;
	long long expires = 0, now = mt_now_ms();
	int found = 0;

	if (!a->user || !a->name || a->npos != 1)
		return mt_err_set(err, MT_EBADREQ, "usage: mltrackd token create --user NAME "
						   "--name TOKEN [--expires DAYS] [--scope SCOPE]");
	if (a->expires) {
		char *end;
		long d;

		errno = 0;
		d = strtol(a->expires, &end, 10);
		if (errno || !*a->expires || *end || d < 1 || d > 3650)
			return mt_err_set(err, MT_EINVAL, "invalid --expires '%s': a whole number of "
							  "days, 1 to 3650", a->expires);
		expires = now + d * 86400000LL;
	}
	if (sql_user_get(req, a->user, &u, &found, err))
		return -1;
	if (!found)
		return mt_err_set(err, MT_ENOTFOUND, "no user named '%s'", a->user);
	if (auth_token_issue(req, u.id, a->name, a->scope, expires, token, &t, err))
		return -1;
	printf("%s\n", token);
	fflush(stdout);
	OPENSSL_cleanse(token, sizeof(token));
	fprintf(stderr, "mltrackd: token %lld '%s' for %s%s%s%s; shown once, keep it now\n", t.id,
		a->name, a->user, expires ? "" : ", never expires", t.scope ? ", scope " : "",
		t.scope ? t.scope : "");
	return 0;
}

static int token_list(struct mt_req *req, const struct args *a, struct mt_err *err)
{
	struct sql_token *t;
	char b1[32], b2[32], b3[32];
	int n;

	if (a->npos != 1)
		return mt_err_set(err, MT_EBADREQ, "usage: mltrackd token list [--user NAME] [--all]");
	if (sql_token_list(req, a->user, a->all, &t, &n, err))
		return -1;
	if (n == 0) {
		printf("no tokens\n");
		return 0;
	}
	printf("%-6s %-16s %-20s %-16s %-21s %-21s %-28s%s\n", "ID", "USER", "NAME", "TOKEN",
	       "EXPIRES", "LAST USED", "SCOPE", a->all ? " REVOKED" : "");
	for (int i = 0; i < n; i++)
		printf("%-6lld %-16s %-20s %-16s %-21s %-21s %-28s%s%s\n", t[i].id, t[i].username,
		       t[i].name, mt_arena_printf(req->arena, "%s...", t[i].prefix),
		       when(t[i].expires_at, b1, sizeof(b1)), when(t[i].last_used_at, b2, sizeof(b2)),
		       t[i].scope ? t[i].scope : "(all of the user's rights)", a->all ? " " : "",
		       a->all ? when(t[i].revoked_at, b3, sizeof(b3)) : "");
	return 0;
}

static int token_revoke(struct mt_req *req, const struct args *a, struct mt_err *err)
{
	struct sql_token t;
	long long id = 0;

	if (a->npos == 2) {
		char *end;

		id = strtoll(a->pos[1], &end, 10);
		if (!*a->pos[1] || *end || id < 1)
			return mt_err_set(err, MT_EINVAL, "invalid token id '%s'", a->pos[1]);
	} else if (a->npos != 1 || !a->user || !a->name) {
		return mt_err_set(err, MT_EBADREQ, "usage: mltrackd token revoke ID | "
						   "--user NAME --name TOKEN");
	}
	if (sql_token_revoke(req, id, a->user, id ? NULL : a->name, mt_now_ms(), &t, err))
		return -1;
	printf("revoked token %lld '%s' of %s\n", t.id, t.name, t.username);
	return 0;
}

static const struct {
	const char *cmd, *sub;
	int (*fn)(struct mt_req *req, const struct args *a, struct mt_err *err);
} commands[] = {
	{ "user", "add", user_add },         { "user", "passwd", user_passwd },
	{ "user", "del", user_del },         { "user", "list", user_list },
	{ "token", "create", token_create }, { "token", "list", token_list },
	{ "token", "revoke", token_revoke },
};

int admin_run(const char *cmd, int argc, char **argv, struct mt_err *err)
{
	struct mt_worker w;
	struct mt_req req;
	struct args a;
	const char *sub;
	int (*fn)(struct mt_req *, const struct args *, struct mt_err *) = NULL;
	int rc = -1;

	if (parse_args(argc, argv, &a, err))
		return -1;
	sub = a.npos ? a.pos[0] : "";
	db_oneshot(&w, &req);
	if (db_ensure(&w, err))
		goto done;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmd, commands[i].cmd) == 0 && strcmp(sub, commands[i].sub) == 0)
			fn = commands[i].fn;
	if (fn)
		rc = fn(&req, &a, err);
	else
		mt_err_set(err, MT_EBADREQ, "unknown command '%s %s' (user add|passwd|del|list, "
					    "token create|list|revoke)", cmd, sub);
done:
	mt_arena_release(&w.arena);
	db_close(&w);
	return rc;
}
