/*
 * web.c: the dashboard's static files (DESIGN §9).
 *
 * Every regular file under mt_cfg.web_root is read into memory once, at the
 * first request that is not an API call (the dashboard is a few hundred
 * kilobytes), with its SHA-256 as the ETag.  Requests are answered from that
 * table only, so no request path ever reaches the file system: there is
 * nothing to traverse and no directory to list.  The page paths of §9 (/,
 * /experiments/<id>, /runs/<id>, /compare, /models, /models/<name>) and
 * /login answer index.html; the browser-side router reads the path.
 *
 * Every answer carries Content-Security-Policy: default-src 'self';
 * frame-ancestors 'none', the headers of guard_headers() (nosniff,
 * X-Frame-Options: DENY), Cache-Control: no-cache (so the browser
 * revalidates) and the ETag (If-None-Match gets 304).  A changed file needs a
 * restart of mltrackd to be served.
 *
 * Also here: the one API extension only the dashboard needs,
 * GET /api/2.0/mltrack/experiments/summary (run counts, last activity).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mt_json.h"
#include "mt_util.h"
#include "guard.h"
#include "server.h"
#include "sql_authz.h"
#include "web.h"

#define WEB_MAX_FILES 256
#define WEB_MAX_FILE_SIZE (8 << 20)
#define WEB_MAX_DEPTH 4
#define WEB_CSP "default-src 'self'; frame-ancestors 'none'"

struct web_file {
	char *path;        /* "/app.js": URL path, owned */
	char *data;        /* contents, owned */
	size_t len;
	char etag[67];     /* "\"<sha256>\"" */
	const char *ctype; /* static string */
};

/* Process lifetime: filled once by web_load, read-only afterwards. */
static struct web_file files[WEB_MAX_FILES];
static size_t nfiles;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static const struct {
	const char *ext;
	const char *ctype;
} ctypes[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".json", "application/json" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".map", "application/json" },
};

static const char *ctype_of(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof(ctypes) / sizeof(ctypes[0]); i++)
			if (strcmp(dot, ctypes[i].ext) == 0)
				return ctypes[i].ctype;
	return "application/octet-stream";
}

static char *read_file(const char *fs, size_t *len)
{
	FILE *f = fopen(fs, "rb");
	struct stat st;
	char *buf = NULL;

	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= WEB_MAX_FILE_SIZE) {
		buf = malloc((size_t)st.st_size + 1);
		if (buf && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)st.st_size;
	}
	fclose(f);
	return buf;
}

/* Add every regular file under dir (fs path) as url_prefix/<name>.
 * Dot files and symbolic links are skipped. */
static void load_dir(const char *dir, const char *url_prefix, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL && nfiles < WEB_MAX_FILES) {
		char fs[4096], url[1024];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(fs, sizeof(fs), "%s/%s", dir, e->d_name) >= sizeof(fs) ||
		    (size_t)snprintf(url, sizeof(url), "%s/%s", url_prefix, e->d_name) >= sizeof(url))
			continue;
		if (lstat(fs, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (depth < WEB_MAX_DEPTH)
				load_dir(fs, url, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			struct web_file *wf = &files[nfiles];
			char hex[65];

			wf->data = read_file(fs, &wf->len);
			wf->path = wf->data ? strdup(url) : NULL;
			if (!wf->data || !wf->path) {
				free(wf->data);
				free(wf->path);
				fprintf(stderr, "mltrackd: web: cannot read %s\n", fs);
				continue;
			}
			mt_sha256_hex(hex, wf->data, wf->len);
			snprintf(wf->etag, sizeof(wf->etag), "\"%s\"", hex);
			wf->ctype = ctype_of(url);
			nfiles++;
		}
	}
	closedir(d);
}

static void web_load(void)
{
	if (!mt_cfg.web_root)
		return;
	load_dir(mt_cfg.web_root, "", 0);
	if (nfiles == WEB_MAX_FILES)
		fprintf(stderr, "mltrackd: web: more than %d files under %s; the rest are not served\n",
			WEB_MAX_FILES, mt_cfg.web_root);
}

static const struct web_file *find(const char *path)
{
	for (size_t i = 0; i < nfiles; i++)
		if (strcmp(files[i].path, path) == 0)
			return &files[i];
	return NULL;
}

/* A page path of DESIGN §9, answered with index.html.  "<id>" is one
 * non-empty segment; a model name may hold slashes. */
int web_is_page(const char *path)
{
	static const char *const one_segment[] = { "/experiments/", "/runs/" };

	if (strcmp(path, "/") == 0 || strcmp(path, "/compare") == 0 ||
	    strcmp(path, "/models") == 0 || strcmp(path, "/models/") == 0 ||
	    strcmp(path, "/login") == 0)
		return 1;
	if (strncmp(path, "/models/", 8) == 0 && path[8])
		return 1;
	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(one_segment[i]);

		if (strncmp(path, one_segment[i], n) == 0 && path[n] &&
		    !strchr(path + n, '/'))
			return 1;
	}
	return 0;
}

/* Does an If-None-Match value name etag?  ("*", a list, weak tags.) */
int web_etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);

	while (inm && *inm) {
		size_t n;

		while (*inm == ' ' || *inm == ',')
			inm++;
		if (strncmp(inm, "W/", 2) == 0)
			inm += 2;
		n = strcspn(inm, ",");
		while (n && inm[n - 1] == ' ')
			n--;
		if ((n == 1 && inm[0] == '*') || (n == elen && strncmp(inm, etag, n) == 0))
			return 1;
		inm = strchr(inm, ',');
	}
	return 0;
}

static int send_simple(struct mg_connection *conn, int status, const char *allow,
		       const char *body)
{
	char clen[32];

	snprintf(clen, sizeof(clen), "%zu", strlen(body));
	mg_response_header_start(conn, status);
	mg_response_header_add(conn, "Content-Type", "text/plain; charset=utf-8", -1);
	mg_response_header_add(conn, "Content-Length", clen, -1);
	mg_response_header_add(conn, "Content-Security-Policy", WEB_CSP, -1);
	guard_headers(conn);
	if (allow)
		mg_response_header_add(conn, "Allow", allow, -1);
	mg_response_header_send(conn);
	mg_write(conn, body, strlen(body));
	return status;
}

int web_serve(struct mg_connection *conn, const struct mg_request_info *ri, const char *path)
{
	const struct web_file *f;
	int head = strcmp(ri->request_method, "HEAD") == 0;
	char clen[32];

	pthread_once(&load_once, web_load);
	if (!head && strcmp(ri->request_method, "GET") != 0)
		return send_simple(conn, 405, "GET, HEAD", "Method not allowed\n");
	f = find(path);
	if (!f && web_is_page(path))
		f = find("/index.html");
	if (!f) {
		if (!nfiles && web_is_page(path))
			return send_simple(conn, 404, NULL,
					   "The dashboard is not installed next to mltrackd "
					   "(BIN/web/index.html; `make` copies it there).\n");
		return send_simple(conn, 404, NULL, "Not found\n");
	}
	if (web_etag_matches(mg_get_header(conn, "If-None-Match"), f->etag)) {
		mg_response_header_start(conn, 304);
		mg_response_header_add(conn, "ETag", f->etag, -1);
		mg_response_header_add(conn, "Cache-Control", "no-cache", -1);
		guard_headers(conn);
		mg_response_header_send(conn);
		return 304;
	}
	snprintf(clen, sizeof(clen), "%zu", f->len);
	mg_response_header_start(conn, 200);
	mg_response_header_add(conn, "Content-Type", f->ctype, -1);
	mg_response_header_add(conn, "Content-Length", clen, -1);
	mg_response_header_add(conn, "ETag", f->etag, -1);
	mg_response_header_add(conn, "Cache-Control", "no-cache", -1);
	mg_response_header_add(conn, "Content-Security-Policy", WEB_CSP, -1);
	mg_response_header_add(conn, "Referrer-Policy", "same-origin", -1);
	guard_headers(conn);
	mg_response_header_send(conn);
	if (!head)
		mg_write(conn, f->data, f->len);
	return 200;
}

/* ---- GET /api/2.0/mltrack/experiments/summary ---- */

#define SUMMARY_MAX_IDS 1000

/* What the experiments page shows next to each experiment: its active runs,
 * how many of them are RUNNING, and the last time one started or ended. */
int api_web_experiments_summary(struct mt_req *req)
{
	const char **ids;
	size_t n;
	const char *v[1];
	PGresult *r;
	json_t *list;

	if (mt_json_str_list(&ids, &n, req->body, "experiment_ids", req->arena, &req->err))
		return -1;
	if (n == 0 || n > SUMMARY_MAX_IDS)
		return mt_err_set(&req->err, MT_EINVAL,
				  "experiment_ids must name between 1 and %d experiments",
				  SUMMARY_MAX_IDS);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(ids[i]);

		if (len == 0 || len > 18 || strspn(ids[i], "0123456789") != len)
			return mt_err_set(&req->err, MT_EINVAL,
					  "Invalid experiment id '%s' in experiment_ids", ids[i]);
	}
	if (sqlz_readable_experiments(req, ids, &n, &req->err)) /* only what it may read */
		return -1;
	v[0] = db_array_text(req->arena, ids, n);
	r = db_exec_sql(req,
			"SELECT e.experiment_id, count(r.run_id), "
			"count(r.run_id) FILTER (WHERE r.status = 'RUNNING'), "
			"GREATEST(e.last_update_time, max(GREATEST(r.start_time, r.end_time))) "
			"FROM experiments e LEFT JOIN runs r ON r.experiment_id = e.experiment_id "
			"AND r.lifecycle_stage = 'active' "
			"WHERE e.experiment_id = ANY($1::bigint[]) "
			"GROUP BY e.experiment_id ORDER BY e.experiment_id",
			1, v, &req->err);
	if (!r)
		return -1;
	list = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(list, json_pack("{s:s,s:I,s:I,s:I}",
			"experiment_id", PQgetvalue(r, i, 0),
			"run_count", (json_int_t)strtoll(PQgetvalue(r, i, 1), NULL, 10),
			"running_count", (json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10),
			"last_activity", (json_int_t)strtoll(PQgetvalue(r, i, 3), NULL, 10)));
	json_object_set_new(req_resp(req), "experiments", list);
	return 0;
}
