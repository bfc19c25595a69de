/*
 * cmd_auth.c: mltrack login, logout and whoami.
 *
 *   login   a password login (asked on the terminal with echo off, or one
 *           line of standard input with --password-stdin) makes a token
 *           (POST mltrack/auth/tokens/create, Basic user:password), which
 *           is stored for the tracking URI in ~/.mltrack/credentials
 *           (creds.c); --token stores a token made elsewhere, once the
 *           server has confirmed it (whoami);
 *   logout  revokes the stored token with itself (its id from whoami, then
 *           tokens/revoke) and removes it from the file, also when the
 *           server cannot be reached (then says so, exit 3);
 *   whoami  asks the server who the credentials in force are.
 *
 * The password and the tokens are never printed (the token made by login
 * goes straight into the file) and never an argument (ps, shell history).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "mt_redact.h"

#define AUTH "/api/2.0/mltrack/auth/"
#define OPTS_END { 0, NULL, 0, NULL, NULL, 0, NULL }
#define NAME_TRIES 100

/* ---- reading secrets ---- */

/* The terminal being asked on with echo off, to restore on a signal. */
static int tty_fd = -1;
static struct termios tty_saved;
static volatile sig_atomic_t tty_quiet;

static void on_tty_signal(int sig)
{
	if (tty_quiet)
		tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* One line from fd into buf, without its end ("\n" or "\r\n").  0, or -1:
 * EOF before anything, a read error, or longer than n - 1. */
static int read_line(int fd, char *buf, size_t n)
{
	size_t len = 0;
	int got = 0;

	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || c == '\n')
			break;
		got = 1;
		if (len + 1 >= n) {
			OPENSSL_cleanse(buf, n);
			return -1;
		}
		buf[len++] = c;
	}
	if (len && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return got || len ? 0 : -1;
}

/* Ask on the terminal (echo off unless echo).  0, or -1 with f. */
static int ask(const char *prompt, int echo, char *buf, size_t n, struct cli_fail *f)
{
	struct sigaction sa = { .sa_handler = on_tty_signal }, old[3];
	static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
	int rc;

	tty_fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (tty_fd < 0)
		return cli_fail_set(f, CLI_USAGE, "no terminal to ask on (%s): see mltrack login --help "
				    "for scripts", strerror(errno));
	if (!echo && tcgetattr(tty_fd, &tty_saved) == 0) {
		struct termios quiet = tty_saved;

		sigemptyset(&sa.sa_mask);
		for (int i = 0; i < 3; i++)
			sigaction(sigs[i], &sa, &old[i]);
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		tty_quiet = tcsetattr(tty_fd, TCSAFLUSH, &quiet) == 0;
	}
	if (write(tty_fd, prompt, strlen(prompt)) < 0) {
		/* the answer is read all the same */
	}
	rc = read_line(tty_fd, buf, n);
	if (tty_quiet) {
		tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
		tty_quiet = 0;
		for (int i = 0; i < 3; i++)
			sigaction(sigs[i], &old[i], NULL);
	}
	close(tty_fd);
	tty_fd = -1;
	if (rc)
		return cli_fail_set(f, CLI_USAGE, "nothing was entered");
	return 0;
}

/* A secret from one line of standard input, or asked on the terminal. */
static int get_secret(int from_stdin, const char *prompt, const char *what, char *buf, size_t n,
		      struct cli_fail *f)
{
	if (from_stdin) {
		if (read_line(STDIN_FILENO, buf, n))
			return cli_fail_set(f, CLI_USAGE, "no %s on standard input (or longer than %zu "
					    "bytes)", what, n - 1);
	} else if (ask(prompt, 0, buf, n, f)) {
		return -1;
	}
	if (!*buf)
		return cli_fail_set(f, CLI_USAGE, "an empty %s", what);
	mt_redact_add(buf);
	return 0;
}

/* ---- talking about tokens ---- */

/* GET whoami with the credentials in force: *reply owned. */
static int whoami_call(json_t **reply, struct cli_fail *f)
{
	return cli_api("GET", AUTH "whoami", NULL, NULL, reply, f);
}

/*
 * Revoke token with itself: its own id from whoami, then tokens/revoke.
 * name gets its name.  0 revoked; 1 it was not valid any more (401), or
 * the server has authentication off (nothing to revoke); -1 with f.
 */
static int revoke_own(const char *token, char *name, size_t n, struct cli_fail *f)
{
	json_t *who = NULL, *body;
	const char *id;
	int rc;

	name[0] = '\0';
	if (cli_cred_use(CLI_CRED_EXPLICIT, NULL, token, f))
		return -1;
	if (whoami_call(&who, f))
		return f->status == 401 ? 1 : -1;
	id = json_string_value(json_object_get(json_object_get(who, "token"), "id"));
	snprintf(name, n, "%s",
		 json_string_value(json_object_get(json_object_get(who, "token"), "name")) ?
		 json_string_value(json_object_get(json_object_get(who, "token"), "name")) : "");
	if (!id) {
		json_decref(who);
		return 1;
	}
	body = json_pack("{s:s}", "id", id);
	rc = cli_api("POST", AUTH "tokens/revoke", NULL, body, NULL, f);
	json_decref(body);
	json_decref(who);
	return rc ? -1 : 0;
}

/* Variables that override the stored token: a note, since after a login
 * or logout they decide what is sent. */
static void note_overrides(void)
{
	static const char *const vars[] = { "MLTRACK_TOKEN", "MLFLOW_TRACKING_USERNAME",
					    "MLFLOW_TRACKING_TOKEN" };

	if (cli_uri_user[0] && cli_uri_password[0]) {
		cli_warn("the tracking URI carries a user and password: they are used, not the "
			 "stored token");
		return;
	}
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);

		if (v && *v) {
			cli_warn("%s is set: it is used, not the stored token", vars[i]);
			return;
		}
	}
}

/* "mltrack-cli@<host>", the host name kept to [A-Za-z0-9.-]. */
static void default_token_name(char *out, size_t n)
{
	char host[256] = "";
	size_t k = 0;

	if (gethostname(host, sizeof(host) - 1))
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p && k < 64; p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '-')
			host[k++] = *p;
	host[k] = '\0';
	snprintf(out, n, "mltrack-cli@%s", k ? host : "localhost");
}

/* ---- login ---- */

static const char *l_user, *l_name, *l_expires;
static int l_pw_stdin, l_token;

static const struct cli_opt login_opts[] = {
	{ CLI_OPT_VALUE, &l_user, 'u', "username", "USER", 0,
	  "log in as USER [MLFLOW_TRACKING_USERNAME; else asked on the terminal]" },
	{ CLI_OPT_SWITCH, &l_pw_stdin, 0, "password-stdin", NULL, 0,
	  "read the password as one line of standard input (scripts), not from the terminal" },
	{ CLI_OPT_VALUE, &l_name, 0, "token-name", "NAME", 0,
	  "name of the token this login makes (default mltrack-cli@HOST, -2, -3... when taken)" },
	{ CLI_OPT_VALUE, &l_expires, 0, "expires", "DAYS", 0,
	  "the token expires after DAYS days, 1 to 3650 (default: never)" },
	{ CLI_OPT_SWITCH, &l_token, 0, "token", NULL, 0,
	  "store a token made elsewhere (mltrackd token create, an admin) instead: read from "
	  "standard input, or asked on the terminal, and checked with the server first" },
	OPTS_END,
};

static const struct cli_spec login_spec = {
	"login", "Log in to the tracking server and keep a token for it in ~/.mltrack/credentials.",
	login_opts,
	"The password is asked on the terminal with echo off (or read from standard\n"
	"input with --password-stdin); it is sent once, to make an API token, and never\n"
	"stored.  The token is kept in ~/.mltrack/credentials under the tracking URI\n"
	"(one [URI] section per server; the directory 0700, the file 0600, replaced\n"
	"atomically) and sent by every later command to that URI.  Logging in again\n"
	"replaces the stored token and revokes the one it replaces.  Variables win\n"
	"over the file: user:password@ in the URI, MLTRACK_TOKEN,\n"
	"MLFLOW_TRACKING_USERNAME + MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_TOKEN.\n"
	"Exit status: 0 logged in; 2 bad arguments or an unusable credentials file;\n"
	"3 the server refused (wrong password: nothing is stored) or is unreachable.",
	0,
};

/* Make a token with the password in force (its name from --token-name or
 * the default, with a suffix while taken): made gets it, its name and
 * user.  0, or -1 with f. */
static int create_token(const char *user, struct cli_stored *made, struct cli_fail *f)
{
	char name[128];
	long days = 0;

	if (l_expires) {
		char *end;

		errno = 0;
		days = strtol(l_expires, &end, 10);
		if (errno || !*l_expires || *end || days < 1 || days > 3650)
			return cli_fail_set(f, CLI_USAGE, "--expires '%s': a whole number of days, 1 to "
					    "3650", l_expires);
	}
	if (l_name)
		snprintf(name, sizeof(name), "%s", l_name);
	else
		default_token_name(name, sizeof(name));
	for (int i = 1; i <= NAME_TRIES; i++) {
		json_t *body = json_pack("{s:s}", "name", name), *reply = NULL;
		const char *secret, *got_name, *got_user;
		int rc;

		if (days)
			json_object_set_new(body, "expires_in_days", json_integer(days));
		rc = cli_api("POST", AUTH "tokens/create", NULL, body, &reply, f);
		json_decref(body);
		if (rc) {
			if (!l_name && strcmp(f->error_code, "RESOURCE_ALREADY_EXISTS") == 0 &&
			    i < NAME_TRIES) {
				char base[112];

				default_token_name(base, sizeof(base));
				snprintf(name, sizeof(name), "%s-%d", base, i + 1);
				continue;
			}
			return -1;
		}
		secret = json_string_value(json_object_get(reply, "secret"));
		got_name = json_string_value(json_object_get(json_object_get(reply, "token"), "name"));
		got_user = json_string_value(json_object_get(json_object_get(reply, "token"),
							     "username"));
		if (!secret || strlen(secret) >= sizeof(made->token)) {
			json_decref(reply);
			return cli_fail_set(f, CLI_SERVER, "the server's answer holds no token");
		}
		mt_redact_add(secret);
		snprintf(made->token, sizeof(made->token), "%s", secret);
		snprintf(made->token_name, sizeof(made->token_name), "%s", got_name ? got_name : name);
		snprintf(made->username, sizeof(made->username), "%s", got_user ? got_user : user);
		made->by_login = 1;
		/* The reply's copy of the secret is wiped before it is freed. */
		OPENSSL_cleanse((char *)secret, strlen(secret));
		json_decref(reply);
		return 0;
	}
	return -1;
}

/* --token: check the token with whoami and describe it. */
static int check_token(const char *token, struct cli_stored *s, struct cli_fail *f)
{
	json_t *who = NULL;
	const char *u, *n;

	if (cli_cred_use(CLI_CRED_EXPLICIT, NULL, token, f) || whoami_call(&who, f))
		return -1;
	if (!json_is_true(json_object_get(who, "auth_enabled"))) {
		json_decref(who);
		return cli_fail_set(f, CLI_SERVER, "authentication is off on %s: no token is needed, "
				    "nothing was stored", cli_tracking_uri);
	}
	u = json_string_value(json_object_get(json_object_get(who, "user"), "username"));
	n = json_string_value(json_object_get(json_object_get(who, "token"), "name"));
	if (!u || !n) {
		json_decref(who);
		return cli_fail_set(f, CLI_SERVER, "the server did not take it as a token");
	}
	snprintf(s->token, sizeof(s->token), "%s", token);
	snprintf(s->username, sizeof(s->username), "%s", u);
	snprintf(s->token_name, sizeof(s->token_name), "%s", n);
	s->by_login = 0;
	json_decref(who);
	return 0;
}

int cmd_login(int argc, char **argv)
{
	static struct cli_stored made, old;
	char user[256], password[CLI_SECRET_MAX + 1], prompt[2300], name[160];
	const char *key;
	struct cli_fail f;
	int rc, had_old = 0;

	if ((rc = cli_parse(&login_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (l_token && (l_user || l_name || l_expires || l_pw_stdin))
		return cli_error(CLI_USAGE, "--token stores a token as it is: --username, "
			"--token-name, --expires and --password-stdin do not apply");
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	key = cli_cred_uri_key();
	/* The file is checked (modes) before anything is asked. */
	if (cli_creds_lookup(key, &old, &had_old, &f))
		return cli_fail_report(&f);
	memset(&made, 0, sizeof(made));
	if (l_token) {
		snprintf(prompt, sizeof(prompt), "Token for %s: ", cli_tracking_uri);
		if (get_secret(!isatty(STDIN_FILENO), prompt, "token", password, sizeof(password), &f) ||
		    check_token(password, &made, &f)) {
			OPENSSL_cleanse(password, sizeof(password));
			return cli_fail_report(&f);
		}
	} else {
		const char *u = l_user && *l_user ? l_user : getenv("MLFLOW_TRACKING_USERNAME");

		if (u && *u) {
			snprintf(user, sizeof(user), "%s", u);
		} else {
			const char *me = getenv("USER");

			snprintf(prompt, sizeof(prompt), "Username for %s%s%s%s: ", cli_tracking_uri,
				 me ? " [" : "", me ? me : "", me ? "]" : "");
			if (l_pw_stdin)
				return cli_error(CLI_USAGE, "--password-stdin needs --username USER");
			if (ask(prompt, 1, user, sizeof(user), &f)) {
				if (!me || strcmp(f.msg, "nothing was entered") != 0)
					return cli_fail_report(&f);
				user[0] = '\0';
			}
			if (!user[0])
				snprintf(user, sizeof(user), "%s", me ? me : "");
		}
		if (!user[0])
			return cli_error(CLI_USAGE, "no user name");
		snprintf(prompt, sizeof(prompt), "Password for %s at %s: ", user, cli_tracking_uri);
		if (get_secret(l_pw_stdin, prompt, "password", password, sizeof(password), &f) ||
		    cli_cred_use(CLI_CRED_EXPLICIT, user, password, &f) ||
		    create_token(user, &made, &f)) {
			OPENSSL_cleanse(password, sizeof(password));
			return cli_fail_report(&f);
		}
	}
	OPENSSL_cleanse(password, sizeof(password));
	if (cli_creds_store(key, &made, &f)) {
		struct cli_fail ignored;

		/* Made but not kept: nobody could use it, so it goes. */
		if (made.by_login)
			revoke_own(made.token, name, sizeof(name), &ignored);
		OPENSSL_cleanse(&made, sizeof(made));
		return cli_fail_report(&f);
	}
	printf("logged in to %s as %s (token %s)\n", cli_tracking_uri, made.username,
	       made.token_name);
	fflush(stdout);
	/* The token this one replaces was made by a login, and only this file
	 * held it: it goes too. */
	if (had_old && old.by_login && strcmp(old.token, made.token) != 0) {
		struct cli_fail rf;

		if (revoke_own(old.token, name, sizeof(name), &rf) < 0)
			cli_warn("the token stored before (%s) could not be revoked: %s",
				 old.token_name[0] ? old.token_name : "unnamed", rf.msg);
	}
	OPENSSL_cleanse(&made, sizeof(made));
	OPENSSL_cleanse(&old, sizeof(old));
	note_overrides();
	cli_client_cleanup();
	return CLI_OK;
}

/* ---- logout ---- */

static const struct cli_opt logout_opts[] = {
	OPTS_END,
};

static const struct cli_spec logout_spec = {
	"logout", "Revoke the token stored for the tracking URI and remove it from ~/.mltrack/credentials.",
	logout_opts,
	"The token is revoked on the server (with itself: no password is needed) and\n"
	"then removed from the file.  When the server cannot be reached it is removed\n"
	"all the same, and logout says so and exits 3: the token stays valid until an\n"
	"admin revokes it (mltrackd token revoke).  Variables (MLTRACK_TOKEN, ...) are\n"
	"not touched.  Exit status: 0 logged out (or nothing was stored); 2 an\n"
	"unusable credentials file; 3 the token could not be revoked.",
	0,
};

int cmd_logout(int argc, char **argv)
{
	static struct cli_stored s;
	char name[160];
	const char *key;
	struct cli_fail f, rf;
	int rc, found = 0, had = 0, r;

	if ((rc = cli_parse(&logout_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	key = cli_cred_uri_key();
	if (cli_creds_lookup(key, &s, &found, &f))
		return cli_fail_report(&f);
	if (!found) {
		fprintf(stderr, "mltrack: not logged in to %s: no token is stored for it\n",
			cli_tracking_uri);
		note_overrides();
		return CLI_OK;
	}
	cli_client_patience(2, 0, 0);
	r = revoke_own(s.token, name, sizeof(name), &rf);
	OPENSSL_cleanse(s.token, sizeof(s.token));
	if (cli_creds_forget(key, &had, &f))
		return cli_fail_report(&f);
	if (r < 0) {
		cli_error(CLI_SERVER, "%s", rf.msg);
		fprintf(stderr, "mltrack: the token %s was removed from %s but not revoked: it stays "
			"valid until an admin revokes it (mltrackd token revoke --user %s --name %s)\n",
			s.token_name[0] ? s.token_name : "(unnamed)", cli_cred_source_name(CLI_CRED_FILE),
			s.username[0] ? s.username : "USER", s.token_name[0] ? s.token_name : "NAME");
		return CLI_SERVER;
	}
	if (r == 1)
		printf("logged out of %s (the token %s was no longer valid there)\n", cli_tracking_uri,
		       s.token_name[0] ? s.token_name : "stored");
	else
		printf("logged out of %s (token %s revoked)\n", cli_tracking_uri,
		       name[0] ? name : s.token_name);
	fflush(stdout);
	note_overrides();
	cli_client_cleanup();
	return CLI_OK;
}

/* ---- whoami ---- */

static const struct cli_opt whoami_opts[] = {
	OPTS_END,
};

static const struct cli_spec whoami_spec = {
	"whoami", "Show who the tracking server takes the credentials in force for.", whoami_opts,
	"Prints the user, whether they are an admin, how the request was authenticated\n"
	"(a password, or which token and its scope), where the credentials came from\n"
	"and the server.  Exit status: 0 authenticated, or authentication is off on the\n"
	"server; 3 not authenticated (the server's reason is printed) or unreachable.",
	0,
};

int cmd_whoami(int argc, char **argv)
{
	const struct cli_cred *c;
	json_t *who = NULL, *user, *token;
	struct cli_fail f;
	const char *method, *scope;
	int rc;

	if ((rc = cli_parse(&whoami_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (cli_client_init(&f))
		return cli_fail_report(&f);
	if (whoami_call(&who, &f))
		return cli_fail_report(&f);
	c = cli_cred_current();
	if (!json_is_true(json_object_get(who, "auth_enabled"))) {
		printf("authentication is off on this server (%s): no user exists, every request is "
		       "accepted\n", cli_tracking_uri);
		json_decref(who);
		cli_client_cleanup();
		return CLI_OK;
	}
	user = json_object_get(who, "user");
	token = json_object_get(who, "token");
	method = json_string_value(json_object_get(who, "method"));
	printf("user: ");
	cli_print_safe(stdout, json_string_value(json_object_get(user, "username")));
	printf("\nadmin: %s\nmethod: %s\n", json_is_true(json_object_get(user, "is_admin")) ? "yes" : "no",
	       method ? method : "?");
	if (token) {
		printf("token: ");
		cli_print_safe(stdout, json_string_value(json_object_get(token, "name")));
		printf(" (id ");
		cli_print_safe(stdout, json_string_value(json_object_get(token, "id")));
		printf(")\nscope: ");
		scope = json_string_value(json_object_get(token, "scope"));
		cli_print_safe(stdout, scope ? scope : "all of the user's rights");
		printf("\n");
	}
	printf("credentials: %s\nserver: %s\n", cli_cred_source_name(c->source), cli_tracking_uri);
	json_decref(who);
	cli_client_cleanup();
	return CLI_OK;
}
