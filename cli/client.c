/*
 * client.c: mltrack's HTTP client, one libcurl easy handle for the process
 * (so connections are kept alive between calls).
 *
 *  - Every request carries the credentials creds.c settled on (its one
 *    Authorization line); proxies come from the usual environment variables
 *    (libcurl reads http_proxy, https_proxy, no_proxy).  A 401 says where
 *    the credentials came from, a 429 when to try again.  Nothing here
 *    prints a header or a URL with its userinfo.
 *  - https:// servers are verified against the system's CAs, or the CA file
 *    MLTRACK_CA_BUNDLE (MLflow's MLFLOW_TRACKING_SERVER_CERT_PATH) names;
 *    MLTRACK_INSECURE_TLS / MLFLOW_TRACKING_INSECURE_TLS turn verification
 *    off, with a warning; MLTRACK_CLIENT_CERT and MLTRACK_CLIENT_KEY (MLflow's
 *    MLFLOW_TRACKING_CLIENT_CERT_PATH: both in one PEM file) are presented to
 *    servers that ask for a client certificate.  Every request (JSON calls,
 *    uploads, downloads, the spool's) is set up by common(), and so by these.
 *  - Connection errors and 5xx answers are retried with exponential backoff
 *    (MLTRACK_HTTP_RETRIES attempts in all, default 4); a 4xx is final.
 *  - Transfers of files stream: nothing is held whole in memory, every byte
 *    is hashed on the way, and downloads resume by Range.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "cli.h"
#include "mt_redact.h"
#include "mt_util.h"

#define MAX_JSON_REPLY (256L * 1024 * 1024)

static CURL *curl;
static int max_attempts = 4, env_attempts = 4;
static long connect_ms = 10000, total_ms = 0;

/* ---- TLS settings, from the environment (read once) ---- */

static struct {
	int read;             /* tls_settings() ran and succeeded */
	const char *ca;       /* CA file verifying the server, NULL: the system's */
	const char *ca_var;   /* the variable that named it */
	int insecure;         /* verification off */
	const char *insecure_var;
	const char *cert;     /* client certificate (PEM), NULL: none */
	const char *key;      /* its key (PEM): the cert file itself when NULL */
	const char *cert_var;
} tls;

/* The first of two variables that is set and not empty (its name in *var). */
static const char *env2(const char *a, const char *b, const char **var)
{
	const char *v = getenv(a);

	*var = a;
	if (v && *v)
		return v;
	v = getenv(b);
	*var = b;
	return v && *v ? v : NULL;
}

static int tls_file(struct cli_fail *f, const char *var, const char *path)
{
	if (access(path, R_OK) == 0)
		return 0;
	return cli_fail_set(f, CLI_USAGE, "%s: cannot read '%s': %s", var, path, strerror(errno));
}

/* Read and check the TLS variables; warn once when verification is off. */
static int tls_settings(struct cli_fail *f)
{
	const char *v, *var;

	if (tls.read)
		return 0;
	if ((v = env2("MLTRACK_INSECURE_TLS", "MLFLOW_TRACKING_INSECURE_TLS", &var))) {
		/* MLflow's boolean variables: true, false, 1, 0, any case. */
		if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0)
			tls.insecure = 1;
		else if (strcasecmp(v, "false") != 0 && strcmp(v, "0") != 0)
			return cli_fail_set(f, CLI_USAGE, "%s must be true or false, not '%s'", var, v);
		tls.insecure_var = var;
	}
	if ((tls.ca = env2("MLTRACK_CA_BUNDLE", "MLFLOW_TRACKING_SERVER_CERT_PATH", &tls.ca_var))) {
		if (tls.insecure)
			return cli_fail_set(f, CLI_USAGE, "%s and %s contradict each other: set only one",
					    tls.insecure_var, tls.ca_var);
		if (tls_file(f, tls.ca_var, tls.ca))
			return -1;
	}
	tls.cert = getenv("MLTRACK_CLIENT_CERT");
	tls.key = getenv("MLTRACK_CLIENT_KEY");
	tls.cert_var = "MLTRACK_CLIENT_CERT";
	if (tls.cert && !*tls.cert)
		tls.cert = NULL;
	if (tls.key && !*tls.key)
		tls.key = NULL;
	if (tls.key && !tls.cert)
		return cli_fail_set(f, CLI_USAGE, "MLTRACK_CLIENT_KEY needs MLTRACK_CLIENT_CERT "
				    "(the certificate that goes with the key)");
	if (!tls.cert && (v = getenv("MLFLOW_TRACKING_CLIENT_CERT_PATH")) && *v) {
		tls.cert = v; /* certificate and key in one file, as MLflow takes it */
		tls.cert_var = "MLFLOW_TRACKING_CLIENT_CERT_PATH";
	}
	if ((tls.cert && tls_file(f, tls.cert_var, tls.cert)) ||
	    (tls.key && tls_file(f, "MLTRACK_CLIENT_KEY", tls.key)))
		return -1;
	if (tls.insecure && strncmp(cli_tracking_uri, "https://", 8) == 0)
		cli_warn("%s is set: the server's certificate is not verified, so anyone on the way "
			 "to %s can read and change what is sent", tls.insecure_var, cli_tracking_uri);
	tls.read = 1;
	return 0;
}

/* Whether the server asked for a client certificate during the last
 * handshake (a CertificateRequest seen by on_tls_msg): then a connection it
 * closes is its refusal of ours, or of our having none.  Reset by common(). */
static int tls_cert_asked;

static void on_tls_msg(int write_p, int version, int content_type, const void *buf,
		       size_t len, SSL *ssl, void *arg)
{
	(void)version;
	(void)ssl;
	(void)arg;
	if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
	    ((const unsigned char *)buf)[0] == SSL3_MT_CERTIFICATE_REQUEST)
		tls_cert_asked = 1;
}

/* libcurl's OpenSSL context for a new connection (CURLOPT_SSL_CTX_FUNCTION). */
static CURLcode on_ssl_ctx(CURL *c, void *ssl_ctx, void *arg)
{
	(void)c;
	(void)arg;
	SSL_CTX_set_msg_callback(ssl_ctx, on_tls_msg);
	return CURLE_OK;
}

/* The TLS settings on the handle (after curl_easy_reset). */
static void tls_apply(void)
{
	tls_cert_asked = 0;
	/* Not built in (libcurl on another TLS library): no diagnosis, no harm. */
	curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	if (tls.insecure) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (tls.ca) {
		curl_easy_setopt(curl, CURLOPT_CAINFO, tls.ca);
	}
	if (tls.cert) {
		curl_easy_setopt(curl, CURLOPT_SSLCERT, tls.cert);
		curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(curl, CURLOPT_SSLKEY, tls.key ? tls.key : tls.cert);
		curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
	}
}

void cli_client_child_env(void)
{
	if (!tls.read)
		return;
	if (tls.ca && !getenv("MLFLOW_TRACKING_SERVER_CERT_PATH"))
		setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", tls.ca, 1);
	if (tls.insecure && !getenv("MLFLOW_TRACKING_INSECURE_TLS"))
		setenv("MLFLOW_TRACKING_INSECURE_TLS", "true", 1);
	/* MLflow takes a client certificate only as one file with its key. */
	if (tls.cert && (!tls.key || strcmp(tls.key, tls.cert) == 0) &&
	    !getenv("MLFLOW_TRACKING_CLIENT_CERT_PATH"))
		setenv("MLFLOW_TRACKING_CLIENT_CERT_PATH", tls.cert, 1);
}

int cli_client_init(struct cli_fail *f)
{
	const char *r = getenv("MLTRACK_HTTP_RETRIES");

	memset(f, 0, sizeof(*f));
	if (strncmp(cli_tracking_uri, "http://", 7) != 0 &&
	    strncmp(cli_tracking_uri, "https://", 8) != 0) {
		f->code = CLI_USAGE;
		snprintf(f->msg, sizeof(f->msg),
			 "tracking URI '%s' is not an http:// or https:// address", cli_tracking_uri);
		return -1;
	}
	if (tls_settings(f))
		return -1;
	if (r && *r) {
		char *end;
		long n = strtol(r, &end, 10);

		if (*end || n < 1 || n > 100) {
			f->code = CLI_USAGE;
			snprintf(f->msg, sizeof(f->msg), "MLTRACK_HTTP_RETRIES must be 1..100, not '%s'", r);
			return -1;
		}
		env_attempts = max_attempts = (int)n;
	}
	if (cli_cred_load(f))
		return -1;
	if (curl)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || !(curl = curl_easy_init())) {
		f->code = CLI_SERVER;
		snprintf(f->msg, sizeof(f->msg), "cannot initialise libcurl");
		return -1;
	}
	return 0;
}

void cli_client_patience(int attempts, long connect_timeout_ms, long total_timeout_ms)
{
	max_attempts = attempts > 0 ? attempts : env_attempts;
	connect_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 10000;
	total_ms = total_timeout_ms > 0 ? total_timeout_ms : 0;
}

void cli_client_cleanup(void)
{
	if (curl)
		curl_easy_cleanup(curl);
	curl = NULL;
	curl_global_cleanup();
}

int cli_fail_report(const struct cli_fail *f)
{
	return cli_error(f->code ? f->code : CLI_SERVER, "%s", f->msg);
}

int cli_fail_set(struct cli_fail *f, int code, const char *fmt, ...)
{
	va_list ap;

	f->code = code;
	f->transient = 0;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
	mt_redact_inplace(f->msg, sizeof(f->msg));
	return -1;
}

char *cli_escape_path(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path);
	char *out = malloc(3 * n + 1), *o = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~/", *p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = 0;
	return out;
}

/* ---- one request ---- */

struct buf {
	char *p;
	size_t n, cap;
};

static int buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->n + n + 1)
			cap *= 2;
		if (cap > MAX_JSON_REPLY || !(p = realloc(b->p, cap)))
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, data, n);
	b->n += n;
	b->p[b->n] = 0;
	return 0;
}

/* What the header callback keeps of the last response's headers. */
struct hdrs {
	char etag[80];
	char content_range[96];
	char retry_after[32];
};

static size_t on_header(char *data, size_t size, size_t nitems, void *arg)
{
	struct hdrs *h = arg;
	size_t n = size * nitems, k;
	char *dst = NULL;
	size_t dsz = 0;

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		memset(h, 0, sizeof(*h)); /* a new response (after a 100 Continue) */
		return n;
	}
	if (n > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		dst = h->etag;
		dsz = sizeof(h->etag);
		k = 5;
	} else if (n > 14 && strncasecmp(data, "Content-Range:", 14) == 0) {
		dst = h->content_range;
		dsz = sizeof(h->content_range);
		k = 14;
	} else if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		dst = h->retry_after;
		dsz = sizeof(h->retry_after);
		k = 12;
	}
	if (dst) {
		size_t e = n;

		while (k < n && (data[k] == ' ' || data[k] == '\t'))
			k++;
		while (e > k && (data[e - 1] == '\r' || data[e - 1] == '\n' || data[e - 1] == ' '))
			e--;
		snprintf(dst, dsz, "%.*s", (int)(e - k), data + k);
	}
	return n;
}

static struct curl_slist *common(const char *url, struct hdrs *h, char *errbuf)
{
	struct curl_slist *hl = NULL;

	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	/* A stalled transfer (under 1 byte/s for a minute) is a failure; a long
	 * healthy one is not. */
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
			 total_ms ? (total_ms + 999) / 1000 : 60L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "mltrack/" MLTRACK_VERSION);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, h);
	tls_apply();
	hl = cli_cred_header(hl);
	memset(h, 0, sizeof(*h));
	errbuf[0] = 0;
	return hl;
}

/* Is this libcurl failure worth another attempt? */
static int transient_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static void backoff(int attempt)
{
	long ms = 250L << (attempt < 4 ? attempt : 4); /* 250 ms .. 4 s */
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Fill f from a non-2xx answer: MLflow's {"error_code", "message"} when the
 * body is that, else the status. */
static void fail_from_body(struct cli_fail *f, long status, const struct buf *b,
			   const struct hdrs *h)
{
	json_t *j = b->p ? json_loadb(b->p, b->n, 0, NULL) : NULL;
	const char *code = j ? json_string_value(json_object_get(j, "error_code")) : NULL;
	const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;

	f->status = status;
	f->transient = status >= 500 || status == 429;
	f->code = CLI_SERVER;
	if (code)
		snprintf(f->error_code, sizeof(f->error_code), "%s", code);
	if (msg && code)
		snprintf(f->msg, sizeof(f->msg), "%s (%s)", msg, code);
	else if (msg)
		snprintf(f->msg, sizeof(f->msg), "%s (HTTP %ld)", msg, status);
	else
		snprintf(f->msg, sizeof(f->msg), "the server answered HTTP %ld", status);
	json_decref(j);
	cli_cred_explain(f, h->retry_after);
	mt_redact_inplace(f->msg, sizeof(f->msg));
}

/* A TLS failure with a cause worth naming (and not worth retrying): the
 * message into f, 1; else 0. */
static int fail_tls(struct cli_fail *f, CURLcode rc, const char *why)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		if (tls.ca)
			snprintf(f->msg, sizeof(f->msg),
				 "cannot verify the server's certificate for %s: %s; is '%s' (%s) the "
				 "CA that signed it?", cli_tracking_uri, why, tls.ca, tls.ca_var);
		else
			snprintf(f->msg, sizeof(f->msg),
				 "cannot verify the server's certificate for %s: %s; set "
				 "MLTRACK_CA_BUNDLE to its CA file", cli_tracking_uri, why);
		return 1;
	case CURLE_SSL_CACERT_BADFILE:
		f->code = CLI_USAGE;
		snprintf(f->msg, sizeof(f->msg), "cannot use the CA file '%s' (%s): %s",
			 tls.ca ? tls.ca : "(system default)", tls.ca ? tls.ca_var : "", why);
		return 1;
	case CURLE_SSL_CERTPROBLEM:
		f->code = CLI_USAGE;
		snprintf(f->msg, sizeof(f->msg), "cannot use the client certificate '%s' (%s): %s",
			 tls.cert ? tls.cert : "?", tls.cert ? tls.cert_var : "", why);
		return 1;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
		/* The server's refusal of the handshake is an answer, not an
		 * outage; so is a server that speaks plain HTTP. */
		if (strncmp(cli_tracking_uri, "https://", 8) != 0)
			return 0;
		if (strstr(why, "wrong version number")) {
			snprintf(f->msg, sizeof(f->msg), "%s does not speak TLS (%s); use http://",
				 cli_tracking_uri, why);
			return 1;
		}
		/* A server that asks for a client certificate and closes the
		 * connection refused ours, or our having none (under TLS 1.3
		 * its alert comes after the handshake, and a client that is
		 * quick to send its request may see only the closed socket). */
		if (tls_cert_asked && !tls.cert) {
			snprintf(f->msg, sizeof(f->msg),
				 "the server at %s requires a client certificate (%s); set "
				 "MLTRACK_CLIENT_CERT and MLTRACK_CLIENT_KEY", cli_tracking_uri, why);
			return 1;
		}
		if (tls_cert_asked || strstr(why, " alert ")) {
			snprintf(f->msg, sizeof(f->msg),
				 "the server at %s refused the TLS connection: %s%s%s%s", cli_tracking_uri,
				 why, tls.cert ? "; does it accept the client certificate '" : "",
				 tls.cert ? tls.cert : "", tls.cert ? "'?" : "");
			return 1;
		}
		return 0;
	default:
		return 0;
	}
}

static void fail_from_curl(struct cli_fail *f, CURLcode rc, const char *errbuf)
{
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);

	f->status = 0;
	f->code = CLI_SERVER;
	if (fail_tls(f, rc, why)) {
		f->transient = 0;
	} else {
		f->transient = transient_curl(rc);
		snprintf(f->msg, sizeof(f->msg), "cannot reach %s: %s%s", cli_tracking_uri, why,
			 rc == CURLE_GOT_NOTHING && strncmp(cli_tracking_uri, "http://", 7) == 0
				 ? " (if the server serves HTTPS, use https://)" : "");
	}
	mt_redact_inplace(f->msg, sizeof(f->msg));
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	return buf_add(arg, data, size * nmemb) ? 0 : size * nmemb;
}

static char *make_url(const char *path, const char *const *query)
{
	struct buf u = { 0 };
	int first = 1;

	if (buf_add(&u, cli_tracking_uri, strlen(cli_tracking_uri)) ||
	    buf_add(&u, path, strlen(path)))
		goto oom;
	for (const char *const *q = query; q && q[0]; q += 2) {
		char *v;
		int bad;

		if (!q[1])
			continue;
		v = curl_easy_escape(curl, q[1], 0);
		bad = !v || buf_add(&u, first ? "?" : "&", 1) || buf_add(&u, q[0], strlen(q[0])) ||
		      buf_add(&u, "=", 1) || buf_add(&u, v, strlen(v));
		curl_free(v);
		if (bad)
			goto oom;
		first = 0;
	}
	return u.p;
oom:
	free(u.p);
	return NULL;
}

int cli_api(const char *method, const char *path, const char *const *query, json_t *body,
	    json_t **reply, struct cli_fail *f)
{
	return cli_api_ex(method, path, query, body, reply, NULL, f);
}

int cli_api_ex(const char *method, const char *path, const char *const *query, json_t *body,
	       json_t **reply, json_t **err_body, struct cli_fail *f)
{
	char errbuf[CURL_ERROR_SIZE], *url = make_url(path, query), *payload = NULL;
	struct hdrs h;
	struct buf b = { 0 };
	long status = 0;
	int rc = -1;

	memset(f, 0, sizeof(*f));
	if (reply)
		*reply = NULL;
	if (err_body)
		*err_body = NULL;
	if (!url || (body && !(payload = json_dumps(body, JSON_COMPACT)))) {
		free(url);
		return cli_fail_set(f, CLI_SERVER, "out of memory");
	}
	for (int attempt = 0;; attempt++) {
		struct curl_slist *hl = common(url, &h, errbuf);
		CURLcode cc;

		free(b.p);
		memset(&b, 0, sizeof(b));
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, total_ms ? total_ms : 120000L);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
		if (payload) {
			hl = curl_slist_append(hl, "Content-Type: application/json");
			curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
		}
		if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
			curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
		cc = curl_easy_perform(curl);
		curl_slist_free_all(hl);
		if (cc == CURLE_OK) {
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
			if (status >= 200 && status < 300)
				break;
			fail_from_body(f, status, &b, &h);
		} else if (cc == CURLE_WRITE_ERROR) {
			cli_fail_set(f, CLI_SERVER, "the server's answer to %s is over %ld MB", path,
			      MAX_JSON_REPLY >> 20);
			goto out;
		} else {
			fail_from_curl(f, cc, errbuf);
		}
		if (!f->transient || attempt + 1 >= max_attempts) {
			if (err_body && f->status && b.p)
				*err_body = json_loadb(b.p, b.n, 0, NULL);
			goto out;
		}
		backoff(attempt);
	}
	if (reply) {
		json_error_t je;

		*reply = json_loadb(b.p ? b.p : "{}", b.p ? b.n : 2, JSON_DECODE_ANY, &je);
		if (!*reply) {
			cli_fail_set(f, CLI_SERVER, "the server's answer to %s is not JSON: %s", path, je.text);
			goto out;
		}
	}
	rc = 0;
out:
	free(b.p);
	free(url);
	free(payload);
	return rc;
}

/* ---- file transfers ---- */

/* The digest inside an ETag ("…", or W/"…"), or "" when it is not one. */
static const char *etag_digest(const char *etag, char out[65])
{
	const char *p = etag;
	size_t n;

	out[0] = 0;
	if (strncmp(p, "W/", 2) == 0)
		p += 2;
	if (*p == '"')
		p++;
	n = strcspn(p, "\"");
	if (n == 64 && strspn(p, "0123456789abcdef") >= 64)
		snprintf(out, 65, "%.64s", p);
	return out;
}

struct xfer {
	int fd;
	EVP_MD_CTX *md;
	long long base;  /* bytes already in place before this attempt */
	long long moved; /* bytes read (upload) or written (download) this attempt */
	long long size;  /* upload: bytes expected */
	int local_errno; /* a local read or write failed */
	int short_read;  /* upload: the file shrank under us */
	int started;     /* download: the status was looked at */
	long status;
	struct buf err;  /* an error answer's body */
	struct cli_progress *p;
};

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (x->p)
		cli_progress_update(x->p, x->base + x->moved);
	return 0;
}

static size_t on_read(char *data, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	size_t want = size * nitems;
	ssize_t n;

	if ((long long)want > x->size - x->moved)
		want = (size_t)(x->size - x->moved);
	if (want == 0)
		return 0;
	do
		n = read(x->fd, data, want);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		x->local_errno = errno;
		return CURL_READFUNC_ABORT;
	}
	if (n == 0) {
		x->short_read = 1;
		return CURL_READFUNC_ABORT;
	}
	EVP_DigestUpdate(x->md, data, (size_t)n);
	x->moved += n;
	return (size_t)n;
}

static size_t on_upload_answer(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;

	return buf_add(&x->err, data, size * nmemb) ? 0 : size * nmemb;
}

int cli_put_file(const char *path, const char *local, long long size, char sha256[65],
		 struct cli_progress *p, struct cli_fail *f)
{
	char errbuf[CURL_ERROR_SIZE], *esc = cli_escape_path(path), *url, want[65];
	struct xfer x = { .fd = -1, .p = p, .size = size };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	struct hdrs h;
	int rc = -1;

	memset(f, 0, sizeof(*f));
	url = esc ? make_url(esc, NULL) : NULL;
	free(esc);
	x.md = EVP_MD_CTX_new();
	if (!url || !x.md) {
		cli_fail_set(f, CLI_SERVER, "out of memory");
		goto out;
	}
	if ((x.fd = open(local, O_RDONLY | O_CLOEXEC)) < 0) {
		cli_fail_set(f, CLI_USAGE, "cannot read '%s': %s", local, strerror(errno));
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		struct curl_slist *hl = common(url, &h, errbuf);
		CURLcode cc;

		if (lseek(x.fd, 0, SEEK_SET) != 0) {
			curl_slist_free_all(hl);
			cli_fail_set(f, CLI_USAGE, "cannot read '%s': %s", local, strerror(errno));
			goto out;
		}
		EVP_DigestInit_ex(x.md, EVP_sha256(), NULL);
		x.moved = 0;
		free(x.err.p);
		memset(&x.err, 0, sizeof(x.err));
		hl = curl_slist_append(hl, "Content-Type: application/octet-stream");
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
		curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(curl, CURLOPT_READDATA, &x);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_upload_answer);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &x);
		cc = curl_easy_perform(curl);
		curl_slist_free_all(hl);
		if (x.short_read || x.local_errno) {
			if (x.short_read)
				cli_fail_set(f, CLI_USAGE, "'%s' changed while it was being uploaded", local);
			else
				cli_fail_set(f, CLI_USAGE, "cannot read '%s': %s", local, strerror(x.local_errno));
			goto out;
		}
		if (cc == CURLE_OK) {
			long status = 0;

			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
			if (status >= 200 && status < 300)
				break;
			fail_from_body(f, status, &x.err, &h);
		} else {
			fail_from_curl(f, cc, errbuf);
		}
		if (!f->transient || attempt + 1 >= max_attempts)
			goto out;
		backoff(attempt);
	}
	EVP_DigestFinal_ex(x.md, md, &mdlen);
	mt_hex(sha256, md, 32);
	/* The server names what it stored; an older or foreign server may not. */
	if (*etag_digest(h.etag, want) && strcmp(want, sha256) != 0) {
		cli_fail_set(f, CLI_CHECK_FAILED,
		      "the server stored '%s' with digest %s, but the file's is %s", path, want,
		      sha256);
		goto out;
	}
	rc = 0;
out:
	if (x.fd >= 0)
		close(x.fd);
	EVP_MD_CTX_free(x.md);
	free(x.err.p);
	free(url);
	return rc;
}

static size_t on_download(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	if (!x->started) {
		x->started = 1;
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &x->status);
		if (x->status == 200 && x->base > 0) {
			/* The server sent it all: start over. */
			if (ftruncate(x->fd, 0) || lseek(x->fd, 0, SEEK_SET)) {
				x->local_errno = errno;
				return 0;
			}
			x->base = 0;
			EVP_DigestInit_ex(x->md, EVP_sha256(), NULL);
		}
	}
	if (x->status != 200 && x->status != 206)
		return buf_add(&x->err, data, n) ? 0 : n;
	if (mt_write_all(x->fd, data, n)) {
		x->local_errno = errno;
		return 0;
	}
	EVP_DigestUpdate(x->md, data, n);
	x->moved += (long long)n;
	return n;
}

/* Hash the first n bytes of fd into md. */
static int hash_fd(int fd, EVP_MD_CTX *md, long long n)
{
	char buf[1 << 16];

	if (lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	while (n > 0) {
		ssize_t r = read(fd, buf, n < (long long)sizeof(buf) ? (size_t)n : sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		EVP_DigestUpdate(md, buf, (size_t)r);
		n -= r;
	}
	return 0;
}

/* The SHA-256 of a whole file, or -1. */
static int hash_file(const char *file, char out[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl;
	struct stat st;
	int fd = open(file, O_RDONLY | O_CLOEXEC), rc = -1;

	if (md && fd >= 0 && fstat(fd, &st) == 0 && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
	    hash_fd(fd, md, st.st_size) == 0) {
		EVP_DigestFinal_ex(md, d, &dl);
		mt_hex(out, d, 32);
		rc = 0;
	}
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(md);
	return rc;
}

/* One GET attempt into x->fd, from x->base.  have: the digest of what dest
 * holds, for If-None-Match, or NULL.  Returns the CURLcode. */
static CURLcode get_once(const char *url, struct xfer *x, const char *have, struct hdrs *h,
			 char *errbuf)
{
	struct curl_slist *hl = common(url, h, errbuf);
	char range[64], inm[96];
	CURLcode cc;

	x->started = 0;
	x->status = 0;
	x->moved = 0;
	free(x->err.p);
	memset(&x->err, 0, sizeof(x->err));
	if (x->base > 0) {
		snprintf(range, sizeof(range), "Range: bytes=%lld-", x->base);
		hl = curl_slist_append(hl, range);
	}
	if (have) {
		snprintf(inm, sizeof(inm), "If-None-Match: \"%s\"", have);
		hl = curl_slist_append(hl, inm);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_download);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, x);
	cc = curl_easy_perform(curl);
	curl_slist_free_all(hl);
	if (cc == CURLE_OK && !x->started)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &x->status);
	return cc;
}

static int get_file(const char *path, const char *dest, long long expect_size,
		    struct cli_progress *p, int *skipped, int may_refetch, struct cli_fail *f)
{
	char errbuf[CURL_ERROR_SIZE], *esc = cli_escape_path(path), *url, *part = NULL;
	char have_buf[65], *have = NULL, want[65], got[65];
	struct xfer x = { .fd = -1, .p = p };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	int rc = -1, resumed = 0, restarted = 0;
	struct stat st;
	struct hdrs h;

	memset(f, 0, sizeof(*f));
	*skipped = 0;
	url = esc ? make_url(esc, NULL) : NULL;
	free(esc);
	x.md = EVP_MD_CTX_new();
	if (!url || !x.md || !(part = malloc(strlen(dest) + 16))) {
		cli_fail_set(f, CLI_SERVER, "out of memory");
		goto out;
	}
	sprintf(part, "%s.mltrack-part", dest);
	/* A file already in place with the expected size: ask whether it is
	 * current instead of fetching it again. */
	if (stat(dest, &st) == 0 && S_ISREG(st.st_mode) &&
	    (expect_size < 0 || st.st_size == expect_size) && hash_file(dest, have_buf) == 0)
		have = have_buf;
	if ((x.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		cli_fail_set(f, CLI_USAGE, "cannot write '%s': %s", part, strerror(errno));
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		CURLcode cc;

		/* Resume from what the part file holds (a previous run, or the
		 * attempt that just broke off). */
		EVP_DigestInit_ex(x.md, EVP_sha256(), NULL);
		if (fstat(x.fd, &st) || hash_fd(x.fd, x.md, st.st_size) ||
		    lseek(x.fd, 0, SEEK_END) != st.st_size) {
			cli_fail_set(f, CLI_USAGE, "cannot read '%s': %s", part, strerror(errno));
			goto out;
		}
		x.base = st.st_size;
		if (x.base > 0)
			resumed = 1;
		cc = get_once(url, &x, x.base > 0 ? NULL : have, &h, errbuf);
		if (x.local_errno) {
			cli_fail_set(f, CLI_USAGE, "cannot write '%s': %s", part, strerror(x.local_errno));
			goto out;
		}
		if (cc == CURLE_OK && x.status == 304) {
			*skipped = 1;
			close(x.fd);
			x.fd = -1;
			unlink(part);
			if (p)
				cli_progress_update(p, expect_size > 0 ? expect_size : 0);
			rc = 0;
			goto out;
		}
		if (cc == CURLE_OK && x.status == 416 && x.base > 0 && !restarted) {
			/* The part is not a prefix of this file: start over. */
			restarted = 1;
			if (ftruncate(x.fd, 0)) {
				cli_fail_set(f, CLI_USAGE, "cannot write '%s': %s", part, strerror(errno));
				goto out;
			}
			attempt--;
			continue;
		}
		if (cc == CURLE_OK && (x.status == 200 || x.status == 206))
			break;
		if (cc == CURLE_OK)
			fail_from_body(f, x.status, &x.err, &h);
		else
			fail_from_curl(f, cc, errbuf);
		if (!f->transient || attempt + 1 >= max_attempts)
			goto out;
		backoff(attempt);
	}
	EVP_DigestFinal_ex(x.md, md, &mdlen);
	mt_hex(got, md, 32);
	if (fstat(x.fd, &st)) {
		cli_fail_set(f, CLI_USAGE, "cannot read '%s': %s", part, strerror(errno));
		goto out;
	}
	if (!*etag_digest(h.etag, want)) {
		if (expect_size >= 0 && st.st_size != expect_size) {
			cli_fail_set(f, CLI_CHECK_FAILED, "'%s' arrived with %lld bytes, not %lld", path,
			      (long long)st.st_size, expect_size);
			goto out;
		}
		cli_warn("the server sent no digest for '%s'; only its size was checked", path);
	} else if (strcmp(want, got) != 0) {
		if (resumed && !restarted && may_refetch) {
			/* What was kept from before does not belong to this file:
			 * fetch it whole, once. */
			close(x.fd);
			x.fd = -1;
			unlink(part);
			rc = get_file(path, dest, expect_size, p, skipped, 0, f);
			goto out;
		}
		unlink(part);
		cli_fail_set(f, CLI_CHECK_FAILED,
		      "'%s' does not match its digest: received %s, the server stored %s", path, got,
		      want);
		goto out;
	}
	if (fsync(x.fd) || rename(part, dest)) {
		cli_fail_set(f, CLI_USAGE, "cannot write '%s': %s", dest, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (x.fd >= 0) {
		/* A failure before any byte arrived leaves no empty part file. */
		if (rc && fstat(x.fd, &st) == 0 && st.st_size == 0)
			unlink(part);
		close(x.fd);
	}
	EVP_MD_CTX_free(x.md);
	free(x.err.p);
	free(url);
	free(part);
	return rc;
}

int cli_get_file(const char *path, const char *dest, long long expect_size,
		 struct cli_progress *p, int *skipped, struct cli_fail *f)
{
	return get_file(path, dest, expect_size, p, skipped, 1, f);
}
