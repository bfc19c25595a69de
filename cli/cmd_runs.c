/*
 * cmd_runs.c: mltrack runs list|show|compare.
 *
 * list pages through runs/search and prints a table that fits the terminal,
 * the runs as the server sent them (--format json), or one CSV row per run
 * with a column per param, metric and tag (--format csv).  show prints one
 * run's info, git provenance, params, latest metrics and tags; compare puts
 * runs side by side and marks the params and metrics that differ.
 *
 * A RUN argument is a full run id or a unique prefix of one (the table shows
 * the first 12 characters): a prefix is looked up with runs/search
 * ("attributes.run_id LIKE 'prefix%'") across the active experiments.
 *
 * Tables only truncate (with '…') when stdout is a terminal or --width asks
 * for it; piped output keeps every value whole.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mt_limits.h"
#include "mt_util.h"

#define OPTS_END { 0, NULL, 0, NULL, NULL, 0, NULL }

#define API_EXP_SEARCH "/api/2.0/mlflow/experiments/search"
#define API_RUN_SEARCH "/api/2.0/mlflow/runs/search"

#define PAGE 1000     /* runs or experiments asked for per request */
#define SHORT_ID 12   /* characters of a run id in a table */
#define EXTRA_MAX 24  /* widest a metric or param column gets in a fitted table */
#define CMP_MAX 40    /* widest a compare column gets on a terminal */
#define DEFAULT_MAX 100

/* ---- run objects ---- */

static const char *str_or(const char *s, const char *otherwise)
{
	return s ? s : otherwise;
}

static json_t *run_info(json_t *run)
{
	return json_object_get(run, "info");
}

/* A string field of the run's info, or NULL. */
static const char *info_str(json_t *run, const char *key)
{
	return json_string_value(json_object_get(run_info(run), key));
}

/* An integer field of the run's info (times): 1 and *out, or 0 when absent. */
static int info_ms(json_t *run, const char *key, long long *out)
{
	json_t *v = json_object_get(run_info(run), key);

	if (!json_is_integer(v))
		return 0;
	*out = json_integer_value(v);
	return 1;
}

/* run.data.<what>: the [{key, ...}] array of "params", "metrics" or "tags". */
static json_t *run_data(json_t *run, const char *what)
{
	return json_object_get(json_object_get(run, "data"), what);
}

/* The entry with this key in a [{key, ...}] array, or NULL. */
static json_t *find_key(json_t *arr, const char *key)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e) {
		const char *k = json_string_value(json_object_get(e, "key"));

		if (k && strcmp(k, key) == 0)
			return e;
	}
	return NULL;
}

/* Does a [{path, ...}] listing hold path? */
static int find_path(json_t *files, const char *path)
{
	size_t i;
	json_t *e;

	json_array_foreach(files, i, e) {
		const char *p = json_string_value(json_object_get(e, "path"));

		if (p && strcmp(p, path) == 0)
			return 1;
	}
	return 0;
}

/* Add the keys of a [{key, ...}] array to set (a JSON object used as a set). */
static void add_keys(json_t *set, json_t *arr)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e) {
		const char *k = json_string_value(json_object_get(e, "key"));

		if (k)
			json_object_set_new(set, k, json_true());
	}
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of a JSON object, sorted: a malloc'd array of strings borrowed
 * from the object (NULL when it is empty or memory ran out). */
static const char **sorted_keys(json_t *obj, size_t *n)
{
	const char **v = malloc((json_object_size(obj) + 1) * sizeof(*v));
	const char *k;
	json_t *x;

	*n = 0;
	if (!v)
		return NULL;
	json_object_foreach(obj, k, x)
		v[(*n)++] = k;
	qsort(v, *n, sizeof(*v), by_str);
	return v;
}

/* ---- formatting ---- */

/* Columns on screen of a UTF-8 string (continuation bytes don't count). */
static size_t dwidth(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* s with control characters shown as '?', so that a cell stays on its line
 * (malloc'd; "" for NULL). */
static char *clean(const char *s)
{
	char *out = strdup(s ? s : "");

	for (char *p = out; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return out;
}

/* Print s in w columns: cut short with '…' when wider, and padded with
 * spaces (on the left when right-aligned) when pad is set. */
static void put_cell(const char *s, size_t w, int right, int pad)
{
	size_t n = dwidth(s);

	if (n > w) {
		const char *p = s;

		if (!w)
			return;
		for (size_t k = 0; k + 1 < w; k++) {
			p++;
			while (((unsigned char)*p & 0xc0) == 0x80)
				p++;
		}
		fwrite(s, 1, (size_t)(p - s), stdout);
		fputs("\u2026", stdout);
		return;
	}
	if (pad && right)
		printf("%*s", (int)(w - n), "");
	fputs(s, stdout);
	if (pad && !right)
		printf("%*s", (int)(w - n), "");
}

/* A metric value: a number as %.6g, or as the shortest text that reads back
 * as the same double (exact); "NaN"/"Infinity" as the server sent them. */
static void fmt_value(char *buf, size_t n, json_t *v, int exact)
{
	if (json_is_number(v)) {
		double d = json_number_value(v);

		if (!exact) {
			snprintf(buf, n, "%.6g", d);
			return;
		}
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(buf, n, "%.*g", prec, d);
			if (strtod(buf, NULL) == d)
				break;
		}
	} else if (json_is_string(v)) {
		snprintf(buf, n, "%s", json_string_value(v));
	} else {
		snprintf(buf, n, "-");
	}
}

/* Local time of epoch milliseconds: "YYYY-MM-DD HH:MM[:SS]". */
static void fmt_time(char *buf, size_t n, long long ms, int seconds)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&t, &tm) ||
	    !strftime(buf, n, seconds ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M", &tm))
		snprintf(buf, n, "-");
}

/* "4.2s", "38s", "12m03s", "3h04m", "2d03h". */
static void fmt_duration(char *buf, size_t n, long long ms)
{
	long long s = ms / 1000;

	if (ms < 0)
		snprintf(buf, n, "-");
	else if (ms < 10000)
		snprintf(buf, n, "%.1fs", (double)ms / 1000.0);
	else if (s < 60)
		snprintf(buf, n, "%llds", s);
	else if (s < 3600)
		snprintf(buf, n, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, n, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, n, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

/* The run's duration; a running run's so far. */
static void run_duration(char *buf, size_t n, json_t *run)
{
	const char *status = info_str(run, "status");
	long long start, end;

	if (!info_ms(run, "start_time", &start)) {
		snprintf(buf, n, "-");
		return;
	}
	if (!info_ms(run, "end_time", &end)) {
		if (!status || strcmp(status, "RUNNING") != 0) {
			snprintf(buf, n, "-");
			return;
		}
		end = mt_now_ms();
	}
	fmt_duration(buf, n, end - start);
}

/* Bold and the like only on a terminal, and not under NO_COLOR or TERM=dumb. */
static int styled(void)
{
	const char *term = getenv("TERM"), *nc = getenv("NO_COLOR");

	return isatty(STDOUT_FILENO) && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0);
}

#define BOLD "\033[1m"
#define PLAIN "\033[0m"

/* Columns a table may use: --width (0: unlimited), else the terminal's
 * (COLUMNS, then the window size, then 80), else unlimited. */
static size_t table_width(const char *opt)
{
	const char *c = getenv("COLUMNS");
	struct winsize ws;
	char *end;
	long n;

	if (opt)
		return (size_t)strtol(opt, NULL, 10); /* checked by the caller */
	if (!isatty(STDOUT_FILENO))
		return 0;
	if (c && *c) {
		n = strtol(c, &end, 10);
		if (!*end && n > 0 && n < 100000)
			return (size_t)n;
	}
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* A whole number lo..hi from an option's text, or -1. */
static long parse_count(const char *s, long lo, long hi)
{
	char *end;
	long n;

	if (!s || !*s)
		return -1;
	n = strtol(s, &end, 10);
	return *end || n < lo || n > hi ? -1 : n;
}

/* ---- searching ---- */

/* POST a search (body: its fields; max_results and page_token are set here)
 * page after page, appending the entries of reply.<field> to out until out
 * holds want of them or the server has no more.  0 or -1 with f filled. */
static int search_pages(const char *path, const char *field, json_t *body, size_t want,
			json_t *out, struct cli_fail *f)
{
	json_object_del(body, "page_token");
	while (json_array_size(out) < want) {
		size_t left = want - json_array_size(out), i;
		json_t *r = NULL, *items, *next, *x;

		json_object_set_new(body, "max_results", json_integer(left < PAGE ? (json_int_t)left
										 : PAGE));
		if (cli_api("POST", path, NULL, body, &r, f))
			return -1;
		items = json_object_get(r, field);
		json_array_foreach(items, i, x)
			if (json_array_size(out) < want)
				json_array_append(out, x);
		next = json_object_get(r, "next_page_token");
		if (!json_array_size(items) || !json_is_string(next) || !json_string_length(next)) {
			json_decref(r);
			break;
		}
		json_object_set(body, "page_token", next);
		json_decref(r);
	}
	return 0;
}

/* The ids of the active experiments (the newest MT_MAX_EXPERIMENT_IDS, the
 * most runs/search takes) appended to ids. */
static int all_experiment_ids(json_t *ids, struct cli_fail *f)
{
	json_t *body = json_pack("{s:s}", "view_type", "ACTIVE_ONLY"), *exps = json_array(), *e;
	size_t i;
	int rc;

	if (!body || !exps) {
		json_decref(body);
		json_decref(exps);
		return cli_fail_set(f, CLI_USAGE, "out of memory");
	}
	rc = search_pages(API_EXP_SEARCH, "experiments", body, MT_MAX_EXPERIMENT_IDS + 1, exps, f);
	if (!rc && json_array_size(exps) > MT_MAX_EXPERIMENT_IDS)
		cli_warn("over %d experiments: searching the %d newest (choose with -e)",
			 MT_MAX_EXPERIMENT_IDS, MT_MAX_EXPERIMENT_IDS);
	json_array_foreach(exps, i, e) {
		json_t *id = json_object_get(e, "experiment_id");

		if (json_is_string(id) && json_array_size(ids) < MT_MAX_EXPERIMENT_IDS)
			json_array_append(ids, id);
	}
	json_decref(body);
	json_decref(exps);
	return rc;
}

/* Append the id of experiment e to ids.  e is a name, or an id: a number is
 * tried as an id first, then as a name. */
static int experiment_id(const char *e, json_t *ids, struct cli_fail *f)
{
	const char *by_id[] = { "experiment_id", e, NULL };
	const char *by_name[] = { "experiment_name", e, NULL };
	json_t *r = NULL, *id;
	int numeric = *e && strspn(e, "0123456789") == strlen(e);

	if (!numeric || cli_api("GET", "/api/2.0/mlflow/experiments/get", by_id, NULL, &r, f)) {
		if (numeric && f->status != 404)
			return -1;
		if (cli_api("GET", "/api/2.0/mlflow/experiments/get-by-name", by_name, NULL, &r, f)) {
			if (numeric && f->status == 404)
				snprintf(f->msg, sizeof(f->msg),
					 "no experiment has the id or the name '%s' (%s)", e,
					 f->error_code[0] ? f->error_code : "HTTP 404");
			return -1;
		}
	}
	id = json_object_get(json_object_get(r, "experiment"), "experiment_id");
	if (!json_is_string(id)) {
		json_decref(r);
		return cli_fail_set(f, CLI_SERVER, "the server's answer for experiment '%s' has no id",
				    e);
	}
	json_array_append(ids, id);
	json_decref(r);
	return 0;
}

static int is_hex(const char *s)
{
	return *s && strspn(s, "0123456789abcdef") == strlen(s);
}

/* cli.h.  The run named by spec (a full id, or a unique prefix of one): *out is the
 * Run object {info, data, inputs}, owned by the caller. */
int cli_run_fetch(const char *spec, json_t **out, struct cli_fail *f)
{
	char full[64];
	const char *q[] = { "run_id", spec, NULL };
	json_t *r = NULL;

	*out = NULL;
	if (!*spec)
		return cli_fail_set(f, CLI_USAGE, "a run id cannot be empty");
	if (strlen(spec) < 32 && is_hex(spec)) {
		json_t *ids = json_array(), *found = json_array(), *body = NULL;
		char filter[80];
		int rc;

		snprintf(filter, sizeof(filter), "attributes.run_id LIKE '%s%%'", spec);
		rc = !ids || !found ? cli_fail_set(f, CLI_USAGE, "out of memory")
				    : all_experiment_ids(ids, f);
		if (!rc && !(body = json_pack("{s:O, s:s, s:s}", "experiment_ids", ids, "filter",
					      filter, "run_view_type", "ALL")))
			rc = cli_fail_set(f, CLI_USAGE, "out of memory");
		if (!rc)
			rc = search_pages(API_RUN_SEARCH, "runs", body, 2, found, f);
		if (!rc && json_array_size(found) == 0)
			rc = cli_fail_set(f, CLI_SERVER, "no run id starts with '%s'", spec);
		else if (!rc && json_array_size(found) > 1)
			rc = cli_fail_set(f, CLI_USAGE,
					  "run id prefix '%s' is ambiguous (%s, %s, ...): give more of it",
					  spec, info_str(json_array_get(found, 0), "run_id"),
					  info_str(json_array_get(found, 1), "run_id"));
		else if (!rc)
			snprintf(full, sizeof(full), "%s",
				 str_or(info_str(json_array_get(found, 0), "run_id"), ""));
		json_decref(ids);
		json_decref(found);
		json_decref(body);
		if (rc)
			return -1;
		q[1] = full;
	}
	if (cli_api("GET", "/api/2.0/mlflow/runs/get", q, NULL, &r, f))
		return -1;
	*out = json_incref(json_object_get(r, "run"));
	json_decref(r);
	if (!json_is_object(*out) || !json_is_object(run_info(*out))) {
		json_decref(*out);
		*out = NULL;
		return cli_fail_set(f, CLI_SERVER, "the server's answer for run '%s' has no run",
				    spec);
	}
	return 0;
}

/* ---- list ---- */

static struct cli_list l_exps, l_order;
static const char *l_filter, *l_max, *l_format, *l_width;

static const struct cli_opt list_opts[] = {
	{ CLI_OPT_LIST, &l_exps, 'e', "experiment", "EXP", 0,
	  "experiment name or id (repeatable; default: all active ones)" },
	{ CLI_OPT_VALUE, &l_filter, 0, "filter", "FILTER", 0,
	  "search filter: \"metrics.acc > 0.9 and params.lr = '0.1'\"" },
	{ CLI_OPT_LIST, &l_order, 0, "order-by", "ORDER", 0,
	  "\"metrics.acc DESC\" (repeatable; default: newest first)" },
	{ CLI_OPT_VALUE, &l_max, 0, "max", "N", 0, "show at most N runs (default 100, max 50000)" },
	{ CLI_OPT_VALUE, &l_format, 0, "format", "table|json|csv", 0,
	  "output format (default: table)" },
	{ CLI_OPT_VALUE, &l_width, 0, "width", "N", 0,
	  "fit the table in N columns (0: no limit)" },
	OPTS_END,
};

static const struct cli_spec list_spec = {
	"runs list", "List runs, newest first (or in --order-by order).", list_opts,
	"The table has the first 12 characters of the run id, the name, the status,\n"
	"the start (local time), the duration, then the latest value of each metric\n"
	"and each param (sorted by key) for as many as fit.  On a terminal the table\n"
	"fits its width (COLUMNS, or the window size); piped, nothing is cut.\n"
	"--format json prints the runs as the server sent them; --format csv prints a\n"
	"header row and one row per run: run_id, run_name, status, start_time, end_time\n"
	"(epoch ms), experiment_id, then params.*, metrics.*, tags.* columns.\n"
	"A filter or order the server rejects is reported with its message: exit 3.",
	0,
};

enum { C_ID, C_NAME, C_STATUS, C_START, C_DUR, NBASE };

static const char *const base_headers[NBASE] = { "RUN", "NAME", "STATUS", "START", "DURATION" };

struct table {
	size_t ncol, nrow; /* nrow counts the header */
	char **cell;       /* nrow * ncol, owned */
	size_t *nat;       /* natural width of each column */
	size_t *w;         /* shown width, 0: hidden */
	unsigned char *right;
};

static void table_free(struct table *t)
{
	for (size_t i = 0; t->cell && i < t->nrow * t->ncol; i++)
		free(t->cell[i]);
	free(t->cell);
	free(t->nat);
	free(t->w);
	free(t->right);
}

/* Choose the shown width of every column for a table of at most width
 * columns (0: unlimited).  Returns the number of metric and param columns
 * left out. */
static size_t table_fit(struct table *t, size_t width)
{
	size_t total = 0, hidden = 0, shown = 0, sep = 2;

	for (size_t c = 0; c < t->ncol; c++)
		t->w[c] = t->nat[c];
	if (!width)
		return 0;
	for (size_t c = 0; c < NBASE; c++)
		total += t->w[c] + (c ? sep : 0);
	/* Metrics, then params, in key order, while they fit whole. */
	for (size_t c = NBASE; c < t->ncol; c++) {
		size_t need = t->nat[c] < EXTRA_MAX ? t->nat[c] : EXTRA_MAX;

		if (!hidden && total + sep + need <= width) {
			t->w[c] = need;
			total += sep + need;
		} else {
			t->w[c] = 0;
			hidden++;
		}
	}
	/* Too wide still: the name gives way first (down to 6), then the
	 * widest column, then columns from the right. */
	if (total > width && t->w[C_NAME] > 6) {
		size_t cut = total - width, room = t->w[C_NAME] - 6;

		cut = cut < room ? cut : room;
		t->w[C_NAME] -= cut;
		total -= cut;
	}
	for (size_t c = 0; c < t->ncol; c++)
		shown += t->w[c] > 0;
	while (total > width) {
		size_t widest = t->ncol;

		for (size_t c = 0; c < t->ncol; c++)
			if (t->w[c] > 4 && (widest == t->ncol || t->w[c] > t->w[widest]))
				widest = c;
		if (widest < t->ncol) {
			t->w[widest]--;
			total--;
		} else if (shown > 1) {
			size_t c = t->ncol;

			while (!t->w[--c])
				;
			total -= t->w[c] + sep;
			t->w[c] = 0;
			shown--;
			hidden += c >= NBASE;
		} else {
			t->w[C_ID] = width;
			break;
		}
	}
	return hidden;
}

static void table_print(const struct table *t)
{
	for (size_t r = 0; r < t->nrow; r++) {
		size_t last = 0;

		for (size_t c = 0; c < t->ncol; c++)
			if (t->w[c])
				last = c;
		for (size_t c = 0, first = 1; c < t->ncol; c++) {
			if (!t->w[c])
				continue;
			if (!first)
				fputs("  ", stdout);
			first = 0;
			put_cell(t->cell[r * t->ncol + c], t->w[c], t->right[c],
				 c != last || t->right[c]);
		}
		putchar('\n');
	}
}

/* The union of the runs' metric and param keys, sorted: two JSON objects. */
static void key_sets(json_t *runs, json_t *metrics, json_t *params, json_t *tags)
{
	size_t i;
	json_t *run;

	json_array_foreach(runs, i, run) {
		if (metrics)
			add_keys(metrics, run_data(run, "metrics"));
		if (params)
			add_keys(params, run_data(run, "params"));
		if (tags)
			add_keys(tags, run_data(run, "tags"));
	}
}

static int print_table(json_t *runs, size_t width)
{
	json_t *mset = json_object(), *pset = json_object(), *run;
	const char **mk = NULL, **pk = NULL;
	size_t nm = 0, np = 0, i, hidden;
	struct table t = { 0 };
	int rc = CLI_OK;

	if (!mset || !pset)
		goto oom;
	key_sets(runs, mset, pset, NULL);
	if (!(mk = sorted_keys(mset, &nm)) || !(pk = sorted_keys(pset, &np)))
		goto oom;
	t.ncol = NBASE + nm + np;
	t.nrow = 1 + json_array_size(runs);
	t.cell = calloc(t.ncol * t.nrow, sizeof(*t.cell));
	t.nat = calloc(t.ncol, sizeof(*t.nat));
	t.w = calloc(t.ncol, sizeof(*t.w));
	t.right = calloc(t.ncol, sizeof(*t.right));
	if (!t.cell || !t.nat || !t.w || !t.right)
		goto oom;
	for (size_t c = 0; c < NBASE; c++)
		t.cell[c] = strdup(base_headers[c]);
	for (size_t k = 0; k < nm; k++) {
		t.cell[NBASE + k] = clean(mk[k]);
		t.right[NBASE + k] = 1;
	}
	for (size_t k = 0; k < np; k++) {
		/* A param named like a metric says which it is. */
		if (json_object_get(mset, pk[k])) {
			char *h = malloc(strlen(pk[k]) + 8);

			if (h)
				sprintf(h, "params.%s", pk[k]);
			t.cell[NBASE + nm + k] = clean(h);
			free(h);
		} else {
			t.cell[NBASE + nm + k] = clean(pk[k]);
		}
	}
	t.right[C_DUR] = 1;
	json_array_foreach(runs, i, run) {
		char **row = t.cell + (i + 1) * t.ncol, buf[64];
		const char *id = info_str(run, "run_id"), *name = info_str(run, "run_name");
		long long start;

		snprintf(buf, sizeof(buf), "%.*s", SHORT_ID, id ? id : "-");
		row[C_ID] = strdup(buf);
		row[C_NAME] = clean(name && *name ? name : "-");
		row[C_STATUS] = clean(info_str(run, "status"));
		if (info_ms(run, "start_time", &start))
			fmt_time(buf, sizeof(buf), start, 0);
		else
			snprintf(buf, sizeof(buf), "-");
		row[C_START] = strdup(buf);
		run_duration(buf, sizeof(buf), run);
		row[C_DUR] = strdup(buf);
		for (size_t k = 0; k < nm; k++) {
			json_t *m = find_key(run_data(run, "metrics"), mk[k]);

			fmt_value(buf, sizeof(buf), m ? json_object_get(m, "value") : NULL, 0);
			row[NBASE + k] = strdup(buf);
		}
		for (size_t k = 0; k < np; k++) {
			json_t *p = find_key(run_data(run, "params"), pk[k]);

			row[NBASE + nm + k] =
				clean(p ? json_string_value(json_object_get(p, "value")) : "-");
		}
	}
	for (size_t c = 0; c < t.ncol * t.nrow; c++) {
		if (!t.cell[c])
			goto oom;
		if (dwidth(t.cell[c]) > t.nat[c % t.ncol])
			t.nat[c % t.ncol] = dwidth(t.cell[c]);
	}
	hidden = table_fit(&t, width);
	table_print(&t);
	if (hidden && !cli_quiet)
		fprintf(stderr, "(%zu more metric and param column%s: widen the terminal, or use "
			"--width 0 or --format csv)\n", hidden, hidden == 1 ? "" : "s");
	goto out;
oom:
	rc = cli_error(CLI_USAGE, "out of memory");
out:
	table_free(&t);
	free(mk);
	free(pk);
	json_decref(mset);
	json_decref(pset);
	return rc;
}

/* One CSV field (RFC 4180: quoted when it holds a comma, quote or line break,
 * with quotes doubled). */
static void csv_field(const char *s, int first)
{
	if (!first)
		putchar(',');
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static void csv_ms(json_t *run, const char *key)
{
	char buf[32] = "";
	long long ms;

	if (info_ms(run, key, &ms))
		snprintf(buf, sizeof(buf), "%lld", ms);
	csv_field(buf, 0);
}

static int print_csv(json_t *runs)
{
	static const char *const cats[] = { "params", "metrics", "tags" };
	json_t *sets[3] = { json_object(), json_object(), json_object() }, *run;
	const char **keys[3] = { NULL, NULL, NULL };
	size_t nk[3] = { 0, 0, 0 }, i;
	int rc = CLI_OK;

	if (!sets[0] || !sets[1] || !sets[2])
		goto oom;
	key_sets(runs, sets[1], sets[0], sets[2]);
	for (int c = 0; c < 3; c++)
		if (!(keys[c] = sorted_keys(sets[c], &nk[c])))
			goto oom;
	fputs("run_id,run_name,status,start_time,end_time,experiment_id", stdout);
	for (int c = 0; c < 3; c++) {
		for (size_t k = 0; k < nk[c]; k++) {
			char *h = malloc(strlen(cats[c]) + strlen(keys[c][k]) + 2);

			if (!h)
				goto oom;
			sprintf(h, "%s.%s", cats[c], keys[c][k]);
			csv_field(h, 0);
			free(h);
		}
	}
	putchar('\n');
	json_array_foreach(runs, i, run) {
		csv_field(info_str(run, "run_id"), 1);
		csv_field(info_str(run, "run_name"), 0);
		csv_field(info_str(run, "status"), 0);
		csv_ms(run, "start_time");
		csv_ms(run, "end_time");
		csv_field(info_str(run, "experiment_id"), 0);
		for (int c = 0; c < 3; c++) {
			for (size_t k = 0; k < nk[c]; k++) {
				json_t *e = find_key(run_data(run, cats[c]), keys[c][k]);
				char buf[64];

				if (e && c == 1) {
					fmt_value(buf, sizeof(buf), json_object_get(e, "value"), 1);
					csv_field(buf, 0);
				} else {
					csv_field(e ? json_string_value(json_object_get(e, "value")) : NULL,
						  0);
				}
			}
		}
		putchar('\n');
	}
	goto out;
oom:
	rc = cli_error(CLI_USAGE, "out of memory");
out:
	for (int c = 0; c < 3; c++) {
		free(keys[c]);
		json_decref(sets[c]);
	}
	return rc;
}

static int cmd_list(int argc, char **argv)
{
	enum { F_TABLE, F_JSON, F_CSV } format = F_TABLE;
	json_t *ids = NULL, *body = NULL, *runs = NULL, *order = NULL;
	struct cli_fail f;
	long max = DEFAULT_MAX;
	int rc;

	if ((rc = cli_parse(&list_spec, argc, argv)))
		goto out;
	if (l_format && strcmp(l_format, "json") == 0) {
		format = F_JSON;
	} else if (l_format && strcmp(l_format, "csv") == 0) {
		format = F_CSV;
	} else if (l_format && strcmp(l_format, "table") != 0) {
		rc = cli_error(CLI_USAGE, "option '--format': '%s' is not table, json or csv",
			       l_format);
		goto out;
	}
	if (l_max && (max = parse_count(l_max, 1, MT_SEARCH_RUNS_MAX)) < 0) {
		rc = cli_error(CLI_USAGE, "option '--max': '%s' is not a number from 1 to %d", l_max,
			       MT_SEARCH_RUNS_MAX);
		goto out;
	}
	if (l_width && parse_count(l_width, 0, 100000) < 0) {
		rc = cli_error(CLI_USAGE, "option '--width': '%s' is not a number of columns",
			       l_width);
		goto out;
	}
	if (cli_client_init(&f)) {
		rc = cli_fail_report(&f);
		goto out;
	}
	ids = json_array();
	runs = json_array();
	order = json_array();
	if (!ids || !runs || !order) {
		rc = cli_error(CLI_USAGE, "out of memory");
		goto out;
	}
	for (int i = 0; i < l_order.n; i++)
		json_array_append_new(order, json_string(l_order.v[i]));
	if (!l_exps.n && all_experiment_ids(ids, &f)) {
		rc = cli_fail_report(&f);
		goto out;
	}
	for (int i = 0; i < l_exps.n; i++) {
		if (experiment_id(l_exps.v[i], ids, &f)) {
			rc = cli_fail_report(&f);
			goto out;
		}
	}
	body = json_pack("{s:O, s:O}", "experiment_ids", ids, "order_by", order);
	if (body && l_filter)
		json_object_set_new(body, "filter", json_string(l_filter));
	if (!body) {
		rc = cli_error(CLI_USAGE, "out of memory");
		goto out;
	}
	/* One more than shown, to tell whether there are more. */
	if (json_array_size(ids) &&
	    search_pages(API_RUN_SEARCH, "runs", body, (size_t)max + 1, runs, &f)) {
		rc = cli_fail_report(&f);
		goto out;
	}
	if (json_array_size(runs) > (size_t)max) {
		json_array_remove(runs, (size_t)max);
		if (!cli_quiet)
			fprintf(stderr, "(showing the first %ld run%s: use --max for more)\n", max,
				max == 1 ? "" : "s");
	}
	if (format == F_JSON) {
		json_dumpf(runs, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (format == F_CSV) {
		rc = print_csv(runs);
	} else {
		rc = print_table(runs, table_width(l_width));
	}
out:
	json_decref(ids);
	json_decref(runs);
	json_decref(order);
	json_decref(body);
	cli_list_free(&l_exps);
	cli_list_free(&l_order);
	return rc < 0 ? CLI_OK : rc;
}

/* ---- show ---- */

static const char *s_run, *s_format;

static const struct cli_opt show_opts[] = {
	{ CLI_OPT_ARG, &s_run, 0, "RUN", NULL, CLI_OPT_REQUIRED,
	  "the run's id, or a unique prefix of it" },
	{ CLI_OPT_VALUE, &s_format, 0, "format", "text|json", 0, "output format (default: text)" },
	OPTS_END,
};

static const struct cli_spec show_spec = {
	"runs show", "Show a run: info, git provenance, params, latest metrics and tags.",
	show_opts,
	"Sections: the run's info; git (commit, branch, repository, uncommitted changes)\n"
	"when recorded; params; metrics (latest value and its step); tags; and system\n"
	"tags (mlflow.* and mltrack.*).  --format json prints the run object as the\n"
	"server sent it.",
	0,
};

/* "key   value", the key padded to kw columns after indent spaces; a value's
 * further lines are indented under its first. */
static void kv_line(int indent, const char *key, size_t kw, const char *value, int bold)
{
	size_t pad = (size_t)indent + kw + 2;
	char *v = strdup(value ? value : ""), *line, *save = NULL;
	int first = 1;

	printf("%*s", indent, "");
	if (!v || !*v) { /* no padding to trail the line */
		printf("%s\n", key);
		free(v);
		return;
	}
	put_cell(key, dwidth(key) > kw ? dwidth(key) : kw, 0, 1);
	fputs("  ", stdout);
	for (line = strtok_r(v, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		for (char *p = line; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		if (!first)
			printf("%*s", (int)pad, "");
		first = 0;
		printf("%s%s%s\n", bold ? BOLD : "", line, bold ? PLAIN : "");
	}
	if (first && *v) /* only line breaks */
		putchar('\n');
	free(v);
}

static void section_title(const char *title, int style)
{
	printf("\n%s%s%s\n", style ? BOLD : "", title, style ? PLAIN : "");
}

/* A titled section of key/value lines (map: key -> string), keys sorted;
 * nothing when map is empty. */
static void kv_section(const char *title, json_t *map, int style)
{
	size_t n, kw = 0;
	const char **keys = sorted_keys(map, &n);

	if (!keys || !n) {
		free(keys);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (dwidth(keys[i]) > kw)
			kw = dwidth(keys[i]);
	kw = kw > CMP_MAX ? CMP_MAX : kw;
	section_title(title, style);
	for (size_t i = 0; i < n; i++) {
		char *k = clean(keys[i]);

		kv_line(2, k ? k : "", kw, json_string_value(json_object_get(map, keys[i])), 0);
		free(k);
	}
	free(keys);
}

static const char *const git_tags[][2] = {
	{ "commit", "mlflow.source.git.commit" },
	{ "branch", "mlflow.source.git.branch" },
	{ "repo", "mlflow.source.git.repoURL" },
	{ "dirty", "mltrack.git.dirty" },
};

#define NGIT (sizeof(git_tags) / sizeof(git_tags[0]))

static int is_git_tag(const char *key)
{
	for (size_t i = 0; i < NGIT; i++)
		if (strcmp(key, git_tags[i][1]) == 0)
			return 1;
	return 0;
}

static const char *tag_value(json_t *run, const char *key)
{
	return json_string_value(json_object_get(find_key(run_data(run, "tags"), key), "value"));
}

/* Did mltrack run store the uncommitted diff (mltrack/uncommitted.patch)? */
static int has_patch_artifact(json_t *run)
{
	const char *q[] = { "run_id", info_str(run, "run_id"), "path", "mltrack", NULL };
	struct cli_fail f;
	json_t *r = NULL;
	int found;

	if (!q[1] || cli_api("GET", "/api/2.0/mlflow/artifacts/list", q, NULL, &r, &f))
		return 0;
	found = find_path(json_object_get(r, "files"), "mltrack/uncommitted.patch");
	json_decref(r);
	return found;
}

static void show_text(json_t *run, const char *exp_name, int has_patch)
{
	int style = styled();
	const char *id = info_str(run, "run_id"), *status = info_str(run, "status");
	const char *exit_code = tag_value(run, "mltrack.exit_code");
	const char *sig = tag_value(run, "mltrack.signal");
	const char *stage = info_str(run, "lifecycle_stage"), *user, *exp_id;
	const char *rows[12][2];
	char start[32] = "-", end[32] = "-", dur[32], exp[600], st[128];
	json_t *params = json_object(), *metrics = json_object(), *tags = json_object();
	json_t *sys = json_object(), *e;
	size_t n = 0, kw = 0, vw = 0, i;
	long long ms;
	int git = 0;

	if (info_ms(run, "start_time", &ms))
		fmt_time(start, sizeof(start), ms, 1);
	if (info_ms(run, "end_time", &ms))
		fmt_time(end, sizeof(end), ms, 1);
	run_duration(dur, sizeof(dur), run);
	if (status && strcmp(status, "RUNNING") == 0 && strcmp(dur, "-") != 0)
		strcat(dur, " so far");
	exp_id = str_or(info_str(run, "experiment_id"), "-");
	if (exp_name)
		snprintf(exp, sizeof(exp), "%s (%s)", exp_name, exp_id);
	else
		snprintf(exp, sizeof(exp), "%s", exp_id);
	if (sig)
		snprintf(st, sizeof(st), "%s (signal: %s)", status ? status : "-", sig);
	else if (exit_code && strcmp(exit_code, "0") != 0)
		snprintf(st, sizeof(st), "%s (exit %s)", status ? status : "-", exit_code);
	else
		snprintf(st, sizeof(st), "%s", status ? status : "-");
	rows[n][0] = "run", rows[n++][1] = id;
	rows[n][0] = "name", rows[n++][1] = info_str(run, "run_name");
	rows[n][0] = "experiment", rows[n++][1] = exp;
	rows[n][0] = "status", rows[n++][1] = st;
	if (stage && strcmp(stage, "active") != 0)
		rows[n][0] = "lifecycle", rows[n++][1] = stage;
	user = info_str(run, "user_id");
	rows[n][0] = "user", rows[n++][1] = user && *user ? user : tag_value(run, "mlflow.user");
	rows[n][0] = "start", rows[n++][1] = start;
	rows[n][0] = "end", rows[n++][1] = end;
	rows[n][0] = "duration", rows[n++][1] = dur;
	rows[n][0] = "artifacts", rows[n++][1] = info_str(run, "artifact_uri");
	for (i = 0; i < n; i++)
		kw = dwidth(rows[i][0]) > kw ? dwidth(rows[i][0]) : kw;
	for (i = 0; i < n; i++)
		kv_line(0, rows[i][0], kw, rows[i][1] && *rows[i][1] ? rows[i][1] : "-", 0);

	/* Git provenance, as mltrack run records it. */
	for (i = 0; i < NGIT; i++)
		git |= tag_value(run, git_tags[i][1]) != NULL;
	if (git) {
		section_title("git", style);
		for (i = 0; i < NGIT; i++) {
			const char *v = tag_value(run, git_tags[i][1]);
			int dirty = i == NGIT - 1;

			if (!v)
				continue;
			if (dirty && strcmp(v, "true") == 0)
				v = has_patch ? "yes: uncommitted changes, see the artifact "
						"mltrack/uncommitted.patch"
					      : "yes: uncommitted changes";
			else if (dirty && strcmp(v, "false") == 0)
				v = "no";
			kv_line(2, git_tags[i][0], 6, v, style && dirty && strncmp(v, "yes", 3) == 0);
		}
	}

	json_array_foreach(run_data(run, "params"), i, e) {
		const char *k = json_string_value(json_object_get(e, "key"));

		if (k)
			json_object_set_new(params, k, json_string(str_or(json_string_value(
							       json_object_get(e, "value")), "")));
	}
	/* Metrics: the value, exact, then its step, in two aligned columns. */
	json_array_foreach(run_data(run, "metrics"), i, e) {
		char v[64];

		fmt_value(v, sizeof(v), json_object_get(e, "value"), 1);
		vw = strlen(v) > vw ? strlen(v) : vw;
	}
	json_array_foreach(run_data(run, "metrics"), i, e) {
		const char *k = json_string_value(json_object_get(e, "key"));
		char v[64], line[128];

		if (!k)
			continue;
		fmt_value(v, sizeof(v), json_object_get(e, "value"), 1);
		snprintf(line, sizeof(line), "%-*s  step %lld", (int)vw, v,
			 (long long)json_integer_value(json_object_get(e, "step")));
		json_object_set_new(metrics, k, json_string(line));
	}
	json_array_foreach(run_data(run, "tags"), i, e) {
		const char *k = json_string_value(json_object_get(e, "key"));
		const char *v = json_string_value(json_object_get(e, "value"));

		if (!k || is_git_tag(k))
			continue;
		json_object_set_new(strncmp(k, "mlflow.", 7) == 0 || strncmp(k, "mltrack.", 8) == 0
					    ? sys
					    : tags,
				    k, json_string(v ? v : ""));
	}
	kv_section("params", params, style);
	kv_section("metrics", metrics, style);
	kv_section("tags", tags, style);
	kv_section("system tags", sys, style);
	json_decref(params);
	json_decref(metrics);
	json_decref(tags);
	json_decref(sys);
}

static int cmd_show(int argc, char **argv)
{
	struct cli_fail f;
	json_t *run = NULL, *r = NULL;
	int rc, json;

	if ((rc = cli_parse(&show_spec, argc, argv)))
		return rc < 0 ? CLI_OK : rc;
	if (s_format && strcmp(s_format, "text") != 0 && strcmp(s_format, "json") != 0)
		return cli_error(CLI_USAGE, "option '--format': '%s' is not text or json", s_format);
	json = s_format && strcmp(s_format, "json") == 0;
	if (cli_client_init(&f) || cli_run_fetch(s_run, &run, &f))
		return cli_fail_report(&f);
	if (json) {
		json_dumpf(run, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		const char *q[] = { "experiment_id", info_str(run, "experiment_id"), NULL };

		/* The experiment's name is a nicety: without it, the id. */
		if (q[1])
			cli_api("GET", "/api/2.0/mlflow/experiments/get", q, NULL, &r, &f);
		show_text(run,
			  json_string_value(json_object_get(json_object_get(r, "experiment"), "name")),
			  str_or(tag_value(run, "mltrack.git.dirty"), "")[0] == 't' &&
				  has_patch_artifact(run));
	}
	json_decref(r);
	json_decref(run);
	return CLI_OK;
}

/* ---- compare ---- */

static struct cli_list c_runs;
static int c_diff;

static const struct cli_opt compare_opts[] = {
	{ CLI_OPT_ARGS, &c_runs, 0, "RUN", NULL, CLI_OPT_REQUIRED,
	  "two or more run ids (or unique prefixes)" },
	{ CLI_OPT_SWITCH, &c_diff, 'd', "diff", NULL, 0,
	  "show only the params and metrics that differ" },
	OPTS_END,
};

static const struct cli_spec compare_spec = {
	"runs compare", "Compare runs side by side: params, then the last value of each metric.",
	compare_opts,
	"One column per run, headed by its short id and name.  A row whose values are\n"
	"not all the same starts with '*' (and is bold on a terminal); '-' marks a\n"
	"param or metric the run does not have.  Metric values are printed with %.6g\n"
	"but compared exactly.  On a terminal, values wider than 40 columns are cut.",
	0,
};

enum row_kind { R_INFO, R_TITLE, R_SAME, R_DIFF, R_NOTE };

struct grid {
	size_t ncol, nrow, cap;
	enum row_kind *kind;
	char **cell; /* nrow * ncol, owned; a title or note in column 0 only */
};

static void grid_free(struct grid *g)
{
	for (size_t i = 0; g->cell && i < g->nrow * g->ncol; i++)
		free(g->cell[i]);
	free(g->cell);
	free(g->kind);
}

/* A new row of g: its cells (owned by g, NULL so far), or NULL. */
static char **grid_row(struct grid *g, enum row_kind kind)
{
	if (g->nrow == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 32;
		char **cell = realloc(g->cell, cap * g->ncol * sizeof(*cell));
		enum row_kind *k;

		if (!cell)
			return NULL;
		g->cell = cell;
		if (!(k = realloc(g->kind, cap * sizeof(*k))))
			return NULL;
		g->kind = k;
		g->cap = cap;
	}
	memset(g->cell + g->nrow * g->ncol, 0, g->ncol * sizeof(*g->cell));
	g->kind[g->nrow] = kind;
	return g->cell + g->nrow++ * g->ncol;
}

static int same_value(json_t *a, json_t *b)
{
	if (!a || !b)
		return !a && !b;
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_is_string(a) && json_is_string(b))
		return strcmp(json_string_value(a), json_string_value(b)) == 0;
	return json_equal(a, b);
}

/* The rows of one section (params or metrics); a note when it has none. */
static int compare_section(struct grid *g, json_t *runs, const char *what, int diff_only)
{
	json_t *set = json_object();
	const char **keys;
	size_t n, shown = 0, nrun = json_array_size(runs);
	int metrics = strcmp(what, "metrics") == 0;
	char **row;

	if (!set)
		return -1;
	if (metrics)
		key_sets(runs, set, NULL, NULL);
	else
		key_sets(runs, NULL, set, NULL);
	if (!(keys = sorted_keys(set, &n)) || !(row = grid_row(g, R_TITLE)) ||
	    !(row[0] = strdup(what)))
		goto fail;
	for (size_t k = 0; k < n; k++) {
		json_t *first = NULL;
		int differ = 0;

		for (size_t r = 0; r < nrun; r++) {
			json_t *e = find_key(run_data(json_array_get(runs, r), what), keys[k]);
			json_t *v = e ? json_object_get(e, "value") : NULL;

			if (r == 0)
				first = v;
			else if (!same_value(first, v))
				differ = 1;
		}
		if (diff_only && !differ)
			continue;
		if (!(row = grid_row(g, differ ? R_DIFF : R_SAME)) || !(row[0] = clean(keys[k])))
			goto fail;
		shown++;
		for (size_t r = 0; r < nrun; r++) {
			json_t *e = find_key(run_data(json_array_get(runs, r), what), keys[k]);
			char buf[64];

			if (metrics) {
				fmt_value(buf, sizeof(buf), e ? json_object_get(e, "value") : NULL, 0);
				row[1 + r] = strdup(buf);
			} else {
				row[1 + r] = clean(e ? json_string_value(json_object_get(e, "value"))
						     : "-");
			}
			if (!row[1 + r])
				goto fail;
		}
	}
	if (!shown && (!(row = grid_row(g, R_NOTE)) ||
		       !(row[0] = strdup(n ? "(no differences)" : "(none)"))))
		goto fail;
	free(keys);
	json_decref(set);
	return 0;
fail:
	free(keys);
	json_decref(set);
	return -1;
}

static void compare_print(const struct grid *g)
{
	size_t *w = calloc(g->ncol, sizeof(*w)), cap = isatty(STDOUT_FILENO) ? CMP_MAX : 0;
	int style = styled(), first_title = 1;

	if (!w)
		return;
	for (size_t r = 0; r < g->nrow; r++) {
		if (g->kind[r] == R_TITLE || g->kind[r] == R_NOTE)
			continue;
		for (size_t c = 0; c < g->ncol; c++) {
			size_t n = dwidth(g->cell[r * g->ncol + c]);

			w[c] = n > w[c] ? n : w[c];
		}
	}
	for (size_t c = 0; cap && c < g->ncol; c++)
		w[c] = w[c] > cap ? cap : w[c];
	for (size_t r = 0; r < g->nrow; r++) {
		char *const *row = g->cell + r * g->ncol;
		int bold = style && g->kind[r] == R_DIFF;

		if (g->kind[r] == R_TITLE) {
			printf("%s%s%s%s\n", first_title ? "" : "\n", style ? BOLD : "", row[0],
			       style ? PLAIN : "");
			first_title = 0;
			continue;
		}
		if (g->kind[r] == R_NOTE) {
			printf("  %s\n", row[0]);
			continue;
		}
		fputs(g->kind[r] == R_DIFF ? "* " : "  ", stdout);
		if (bold)
			fputs(BOLD, stdout);
		for (size_t c = 0; c < g->ncol; c++) {
			if (c)
				fputs("  ", stdout);
			put_cell(row[c], w[c], 0, c + 1 < g->ncol);
		}
		if (bold)
			fputs(PLAIN, stdout);
		putchar('\n');
		if (r + 1 < g->nrow && g->kind[r] == R_INFO && g->kind[r + 1] != R_INFO)
			putchar('\n');
	}
	free(w);
}

static int cmd_compare(int argc, char **argv)
{
	static const char *const info_rows[] = { "run", "name", "status", "duration" };
	struct grid g = { 0 };
	struct cli_fail f;
	json_t *runs = NULL;
	int rc;

	if ((rc = cli_parse(&compare_spec, argc, argv)))
		goto out;
	if (c_runs.n < 2) {
		rc = cli_error(CLI_USAGE, "compare needs at least two runs (see mltrack runs compare "
					  "--help)");
		goto out;
	}
	if (cli_client_init(&f)) {
		rc = cli_fail_report(&f);
		goto out;
	}
	if (!(runs = json_array())) {
		rc = cli_error(CLI_USAGE, "out of memory");
		goto out;
	}
	for (int i = 0; i < c_runs.n; i++) {
		json_t *run;

		if (cli_run_fetch(c_runs.v[i], &run, &f)) {
			rc = cli_fail_report(&f);
			goto out;
		}
		json_array_append_new(runs, run);
	}
	g.ncol = 1 + (size_t)c_runs.n;
	for (size_t k = 0; k < sizeof(info_rows) / sizeof(info_rows[0]); k++) {
		char **row = grid_row(&g, R_INFO);

		if (!row || !(row[0] = strdup(info_rows[k])))
			goto oom;
		for (int i = 0; i < c_runs.n; i++) {
			json_t *run = json_array_get(runs, (size_t)i);
			const char *v = NULL;
			char buf[64];

			if (k == 0) {
				snprintf(buf, sizeof(buf), "%.*s", SHORT_ID,
					 str_or(info_str(run, "run_id"), "-"));
				v = buf;
			} else if (k == 1) {
				v = info_str(run, "run_name");
			} else if (k == 2) {
				v = info_str(run, "status");
			} else {
				run_duration(buf, sizeof(buf), run);
				v = buf;
			}
			if (!(row[1 + i] = clean(v && *v ? v : "-")))
				goto oom;
		}
	}
	if (compare_section(&g, runs, "params", c_diff) ||
	    compare_section(&g, runs, "metrics", c_diff))
		goto oom;
	compare_print(&g);
	rc = CLI_OK;
	goto out;
oom:
	rc = cli_error(CLI_USAGE, "out of memory");
out:
	grid_free(&g);
	json_decref(runs);
	cli_list_free(&c_runs);
	return rc < 0 ? CLI_OK : rc;
}

static const struct cli_sub subs[] = {
	{ "list", cmd_list, "list runs as a table, JSON or CSV" },
	{ "show", cmd_show, "show one run's info, params, metrics and tags" },
	{ "compare", cmd_compare, "compare runs side by side" },
	{ NULL, NULL, NULL },
};

int cmd_runs(int argc, char **argv)
{
	int rc = cli_group("runs", "List, show and compare runs.", subs, argc, argv);

	cli_client_cleanup();
	return rc;
}

/* Every point of metric key of run_id, page after page of get-history,
 * in the server's order (cli.h). */
int cli_metric_history(const char *run_id, const char *key, struct cli_metric_point **out,
		       size_t *n, struct cli_fail *f)
{
	char *token = NULL;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	do {
		const char *q[] = { "run_id", run_id, "metric_key", key, "max_results", "25000",
				    token ? "page_token" : NULL, token, NULL };
		json_t *r = NULL, *m;
		const char *next;
		size_t i;

		if (cli_api("GET", "/api/2.0/mlflow/metrics/get-history", q, NULL, &r, f)) {
			free(token);
			free(*out);
			*out = NULL;
			return -1;
		}
		json_array_foreach(json_object_get(r, "metrics"), i, m) {
			json_t *v = json_object_get(m, "value");

			if (*n == cap) {
				struct cli_metric_point *p =
					realloc(*out, (cap = cap ? cap * 2 : 64) * sizeof(*p));

				if (!p) {
					json_decref(r);
					free(token);
					return cli_fail_set(f, CLI_USAGE, "out of memory");
				}
				*out = p;
			}
			/* MLflow writes NaN and infinities as strings. */
			(*out)[(*n)++] = (struct cli_metric_point){
				json_integer_value(json_object_get(m, "step")),
				json_integer_value(json_object_get(m, "timestamp")),
				json_is_number(v) ? json_number_value(v)
				: json_is_string(v) ? strtod(json_string_value(v), NULL) : NAN };
		}
		next = json_string_value(json_object_get(r, "next_page_token"));
		free(token);
		token = next && *next ? strdup(next) : NULL;
		json_decref(r);
	} while (token);
	return 0;
}
