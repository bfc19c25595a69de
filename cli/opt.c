/*
 * opt.c: table-driven option parsing and help for mltrack's commands.
 *
 * GNU-style: options and positionals may be mixed, "--" ends the options,
 * "--name=value" and "--name value", "-x value" and "-xvalue".  A word that
 * starts with '-' followed by a digit or '.' is a positional (a negative
 * number), not an option.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mt_redact.h"

const char *cli_tracking_uri = "http://127.0.0.1:5170";
const char *cli_tracking_uri_given = "http://127.0.0.1:5170";
const char *cli_uri_user = "", *cli_uri_password = "";
void (*cli_parsed_hook)(const struct cli_spec *spec);
int cli_quiet;

static int global_help;
const char *cli_uri_flag;

static const struct cli_opt global_opts[] = {
	{ CLI_OPT_VALUE, &cli_uri_flag, 0, "tracking-uri", "URL", 0,
	  "server to talk to [MLTRACK_TRACKING_URI, MLFLOW_TRACKING_URI]" },
	{ CLI_OPT_SWITCH, &cli_quiet, 'q', "quiet", NULL, 0, "no progress bars or chatter" },
	{ CLI_OPT_SWITCH, &global_help, 'h', "help", NULL, 0, "show this help" },
	{ 0, NULL, 0, NULL, NULL, 0, NULL },
};

static int is_option(const char *a)
{
	return a[0] == '-' && a[1] && !isdigit((unsigned char)a[1]) && a[1] != '.';
}

static const struct cli_opt *find_long(const struct cli_opt *t, const char *name, size_t n)
{
	for (; t->name; t++)
		if (t->type != CLI_OPT_ARG && t->type != CLI_OPT_ARGS && strlen(t->name) == n &&
		    strncmp(t->name, name, n) == 0)
			return t;
	return NULL;
}

static const struct cli_opt *find_short(const struct cli_opt *t, char c)
{
	for (; t->name; t++)
		if (t->alias && t->alias == c)
			return t;
	return NULL;
}

static int list_add(struct cli_list *l, const char *s)
{
	const char **v = realloc(l->v, (size_t)(l->n + 1) * sizeof(*v));

	if (!v)
		return cli_error(CLI_USAGE, "out of memory");
	v[l->n++] = s;
	l->v = v;
	return 0;
}

void cli_list_free(struct cli_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Store a value for option o; name is how the user spelled it. */
static int set_value(const struct cli_opt *o, const char *name, const char *v)
{
	if (!v)
		return cli_error(CLI_USAGE, "option '%s' needs a value", name);
	if (o->type == CLI_OPT_LIST)
		return list_add(o->value, v);
	*(const char **)o->value = v;
	return 0;
}

static void reset(const struct cli_opt *t)
{
	for (; t->name; t++) {
		if (t->type == CLI_OPT_SWITCH)
			*(int *)t->value = 0;
		else if (t->type == CLI_OPT_LIST || t->type == CLI_OPT_ARGS)
			cli_list_free(t->value);
		else
			*(const char **)t->value = NULL;
	}
}

void cli_apply_globals(void)
{
	const char *v = cli_uri_flag;
	static char buf[2048], bare[2048], user[256], password[CLI_SECRET_MAX + 1];
	size_t n;

	if (!v || !*v)
		v = getenv("MLTRACK_TRACKING_URI");
	if (!v || !*v)
		v = getenv("MLFLOW_TRACKING_URI");
	if (!v || !*v)
		v = "http://127.0.0.1:5170";
	n = strlen(v);
	while (n > 0 && v[n - 1] == '/')
		n--;
	snprintf(buf, sizeof(buf), "%.*s", (int)n, v);
	cli_tracking_uri_given = buf;
	/* user:password@ are credentials (creds.c), never part of what is
	 * printed; a URI whose parts do not fit is used as given. */
	if (mt_url_userinfo(buf, bare, sizeof(bare), user, sizeof(user), password,
			    sizeof(password)) < 0) {
		snprintf(bare, sizeof(bare), "%s", buf);
		user[0] = password[0] = '\0';
	}
	cli_tracking_uri = bare;
	cli_uri_user = user;
	cli_uri_password = password;
}

/* The value after the option at *i, consuming it; NULL at the end. */
static const char *next_arg(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static int parse_long(const struct cli_spec *spec, int argc, char **argv, int *i)
{
	const char *a = argv[*i] + 2, *eq = strchr(a, '='), *name;
	size_t n = eq ? (size_t)(eq - a) : strlen(a);
	const struct cli_opt *o = find_long(spec->opts, a, n);

	if (!o)
		o = find_long(global_opts, a, n);
	if (!o)
		return cli_error(CLI_USAGE, "unknown option '--%.*s' (see mltrack %s --help)",
				 (int)n, a, spec->name);
	if (o->type == CLI_OPT_SWITCH) {
		if (eq)
			return cli_error(CLI_USAGE, "option '--%s' takes no value", o->name);
		*(int *)o->value = 1;
		return 0;
	}
	if (eq)
		return set_value(o, argv[*i], eq + 1);
	name = argv[*i];
	return set_value(o, name, next_arg(argc, argv, i));
}

static int parse_short(const struct cli_spec *spec, int argc, char **argv, int *i)
{
	const char *a = argv[*i] + 1, *name;

	for (; *a; a++) {
		const struct cli_opt *o = find_short(spec->opts, *a);

		if (!o)
			o = find_short(global_opts, *a);
		if (!o)
			return cli_error(CLI_USAGE, "unknown option '-%c' (see mltrack %s --help)",
					 *a, spec->name);
		if (o->type == CLI_OPT_SWITCH) {
			*(int *)o->value = 1;
			continue;
		}
		if (a[1])
			return set_value(o, argv[*i], a + 1);
		name = argv[*i];
		return set_value(o, name, next_arg(argc, argv, i));
	}
	return 0;
}

/* Place a positional argument: 0 (an ARG), 1 (into ARGS), or an error. */
static int take_positional(const struct cli_spec *spec, const char *arg, int *npos)
{
	int k = 0;

	for (const struct cli_opt *o = spec->opts; o->name; o++) {
		if (o->type == CLI_OPT_ARGS)
			return list_add(o->value, arg) ? -1 : 1;
		if (o->type != CLI_OPT_ARG)
			continue;
		if (k++ == *npos) {
			*(const char **)o->value = arg;
			++*npos;
			return 0;
		}
	}
	return cli_error(CLI_USAGE, "unexpected argument '%s' (see mltrack %s --help)", arg,
			 spec->name);
}

int cli_parse(const struct cli_spec *spec, int argc, char **argv)
{
	int npos = 0, dashdash = 0, rc = 0;

	reset(spec->opts);
	global_help = 0;
	for (int i = 1; i < argc && !rc; i++) {
		const char *a = argv[i];

		if (!dashdash && strcmp(a, "--") == 0)
			dashdash = 1;
		else if (!dashdash && a[0] == '-' && a[1] == '-')
			rc = parse_long(spec, argc, argv, &i);
		else if (!dashdash && is_option(a))
			rc = parse_short(spec, argc, argv, &i);
		else if ((rc = take_positional(spec, a, &npos)) == 1) {
			rc = 0;
			/* "mltrack run python train.py --lr 1": --lr is the command's. */
			if (spec->stop_at_args)
				dashdash = 1;
		}
		if (!rc && global_help)
			break;
	}
	if (rc)
		return rc;
	if (global_help) {
		cli_usage(stdout, spec);
		return -1;
	}
	for (const struct cli_opt *o = spec->opts; o->name; o++) {
		int missing = (o->type == CLI_OPT_ARG && !*(const char **)o->value) ||
			      (o->type == CLI_OPT_VALUE && !*(const char **)o->value) ||
			      (o->type == CLI_OPT_ARGS && !((struct cli_list *)o->value)->n);

		if ((o->flags & CLI_OPT_REQUIRED) && missing) {
			if (o->type == CLI_OPT_VALUE)
				return cli_error(CLI_USAGE, "option '--%s' is required (see mltrack %s --help)",
						 o->name, spec->name);
			return cli_error(CLI_USAGE, "missing %s (see mltrack %s --help)", o->name,
					 spec->name);
		}
	}
	cli_apply_globals();
	if (cli_parsed_hook)
		cli_parsed_hook(spec);
	return CLI_OK;
}

static void print_opt(FILE *f, const struct cli_opt *o)
{
	char left[64];

	if (o->type == CLI_OPT_ARG || o->type == CLI_OPT_ARGS)
		snprintf(left, sizeof(left), "%s", o->name);
	else if (o->alias)
		snprintf(left, sizeof(left), "-%c, --%s%s%s", o->alias, o->name,
			 o->value_name ? " " : "", o->value_name ? o->value_name : "");
	else
		snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->value_name ? " " : "",
			 o->value_name ? o->value_name : "");
	if (strlen(left) > 24)
		fprintf(f, "  %s\n  %-24s  %s\n", left, "", o->help);
	else
		fprintf(f, "  %-24s  %s\n", left, o->help);
}

void cli_usage(FILE *f, const struct cli_spec *spec)
{
	int nopt = 0, npos = 0;

	fprintf(f, "usage: mltrack %s", spec->name);
	for (const struct cli_opt *o = spec->opts; o->name; o++) {
		if (o->type == CLI_OPT_ARG || o->type == CLI_OPT_ARGS) {
			npos++;
			continue;
		}
		nopt++;
		if (!(o->flags & CLI_OPT_REQUIRED))
			continue;
		if (o->alias)
			fprintf(f, " -%c %s", o->alias, o->value_name ? o->value_name : "");
		else
			fprintf(f, " --%s %s", o->name, o->value_name ? o->value_name : "");
	}
	fprintf(f, " [options]");
	for (const struct cli_opt *o = spec->opts; o->name; o++) {
		if (o->type == CLI_OPT_ARG)
			fprintf(f, (o->flags & CLI_OPT_REQUIRED) ? " %s" : " [%s]", o->name);
		else if (o->type == CLI_OPT_ARGS)
			fprintf(f, (o->flags & CLI_OPT_REQUIRED) ? " %s..." : " [%s...]", o->name);
	}
	fprintf(f, "\n\n%s\n", spec->summary);
	if (npos) {
		fprintf(f, "\narguments:\n");
		for (const struct cli_opt *o = spec->opts; o->name; o++)
			if (o->type == CLI_OPT_ARG || o->type == CLI_OPT_ARGS)
				print_opt(f, o);
	}
	if (nopt) {
		fprintf(f, "\noptions:\n");
		for (const struct cli_opt *o = spec->opts; o->name; o++)
			if (o->type != CLI_OPT_ARG && o->type != CLI_OPT_ARGS)
				print_opt(f, o);
	}
	fprintf(f, "\nglobal options:\n");
	for (const struct cli_opt *o = global_opts; o->name; o++)
		print_opt(f, o);
	if (spec->more)
		fprintf(f, "\n%s\n", spec->more);
}

int cli_group(const char *group, const char *summary, const struct cli_sub *subs, int argc,
	      char **argv)
{
	FILE *f = stdout;

	if (argc >= 2 && strcmp(argv[1], "-h") != 0 && strcmp(argv[1], "--help") != 0) {
		for (const struct cli_sub *s = subs; s->name; s++)
			if (strcmp(s->name, argv[1]) == 0)
				return s->fn(argc - 1, argv + 1);
		return cli_error(CLI_USAGE, "unknown command 'mltrack %s %s' (see mltrack %s --help)",
				 group, argv[1], group);
	}
	if (argc < 2)
		f = stderr;
	fprintf(f, "usage: mltrack %s <command> [args]\n\n%s\n\ncommands:\n", group, summary);
	for (const struct cli_sub *s = subs; s->name; s++)
		fprintf(f, "  %-10s %s\n", s->name, s->summary);
	fprintf(f, "\nSee 'mltrack %s <command> --help' for a command's options.\n", group);
	return argc < 2 ? CLI_USAGE : CLI_OK;
}
