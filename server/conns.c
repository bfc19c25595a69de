/*
 * conns.c: client connections as CivetWeb holds them: the cap on connections
 * per client address, the deadline of body reads, and finding a connection's
 * socket.
 *
 * The cap.  CivetWeb 1.15 gives each connection a worker thread for its
 * whole life, idle keep-alive time included, so one address opening many
 * connections (or holding them open, sending slowly) could take every
 * worker.  Its init_connection callback runs on the worker that picked a
 * connection up, before anything is read, but CivetWeb does not tell it the
 * client's address yet (mg_get_request_info is NULL until a request head is
 * read).  So the cap is kept on the sockets themselves: conns_open counts
 * the connections on workers, and while there are more than the cap (only
 * then can one address be over it) it looks at every established TCP
 * socket of the server's port (readdir of /proc/self/fd, getsockname,
 * getpeername, TCP_INFO), groups them by peer address and, for an address
 * over the cap, refuses the youngest of its sockets the server has not yet
 * written a byte to (tcpi_data_segs_out 0; tcpi_last_data_sent is then the
 * socket's age): a 429 RESOURCE_EXHAUSTED answer, then shutdown(), so that
 * the worker holding it (or picking it up from CivetWeb's queue) reads
 * end-of-file at once and closes it.  A connection that was already answered
 * once is never cut: an address over the cap only gets its new connections
 * refused.  Scans are serialised and at most one per 10 ms (one skipped is
 * run by the watchdog below, within 100 ms); below the cap they cost
 * nothing.
 *
 * Under TLS (--tls-cert) CivetWeb calls init_connection only after the
 * handshake, so by then the server has written to every socket (its half
 * of the handshake), and a 429 written as plain text would break the TLS
 * stream.  The cap works differently there, and more simply: the handshake
 * was run by this very thread, so tls_thread_take() names the socket being
 * opened.  conns_open counts the connections of each peer address that got
 * through; when the address has cap of them already, the new one is
 * answered 429 through TLS and shut down.  A handshake itself holds a
 * worker for at most --request-timeout before any of this runs.
 *
 * Every connection that was counted carries a non-NULL conn_data, and
 * conns_close only uncounts those: CivetWeb calls connection_close also
 * for a connection whose handshake failed, which init_connection never saw.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guard.h"
#include "mt_util.h"
#include "server.h"
#include "tls.h"

/*
 * Body deadlines: CivetWeb's mg_read() fills its buffer before it returns
 * unless no byte comes for request_timeout_ms, so a body trickled a byte at
 * a time keeps one call going for as long as the client likes.  A reader
 * that wants a deadline calls conns_read(): the worker publishes the
 * deadline, and a watchdog thread, waking every WATCH_TICK_MS, sends
 * SIGURG (an empty handler) to any worker past its deadline.  That makes
 * CivetWeb's poll() fail with EINTR, and mg_read() returns what it has;
 * the reader checks its deadline and answers 408.  Only workers inside
 * conns_read() are ever signalled, and again on every tick until they
 * leave it, so a signal that lands just before the poll is not lost.
 *
 * A connection's socket: CivetWeb 1.15 does not expose it.
 * conns_client_fd finds it by its addresses: the one socket in the process
 * whose peer is (ri->remote_addr, ri->remote_port) and whose local port is
 * ri->server_port.  While a worker runs a handler for a connection,
 * CivetWeb keeps that socket open, so the descriptor stays valid until the
 * handler returns; another connection cannot have the same pair of
 * addresses meanwhile, and when more than one socket matches (two local
 * addresses on one port) the answer is "not found".  It costs a readdir of
 * /proc/self/fd and a system call or two per descriptor, so db.c does it
 * only for a request whose query has run long.
 */
#define WATCH_TICK_MS 100
#define SCAN_EVERY_MS 10
#define TCP_STATE_ESTABLISHED 1 /* tcpi_state (the kernel's TCP_ESTABLISHED) */

static struct {
	pthread_mutex_t scan; /* one scan at a time */
	long long last_scan_ns;
	atomic_int scan_pending; /* a scan was skipped: the watchdog runs it */
	int cap;
	int port;
	atomic_int active;    /* connections on workers */
	atomic_ullong refused;
} cs = { .scan = PTHREAD_MUTEX_INITIALIZER };

int conns_init(int max_per_addr, int port, struct mt_err *err)
{
	(void)err;
	cs.cap = max_per_addr;
	cs.port = port;
	return 0;
}

/* An established socket of the server's port, as the cap sees it. */
struct sock_seen {
	int fd;
	struct sockaddr_storage peer;
	unsigned age_ms;   /* since it was accepted, when unserved */
	int unserved;      /* the server never wrote to it */
};

static int addr_cmp(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return a->ss_family < b->ss_family ? -1 : 1;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)(const void *)a)->sin_addr,
			      &((const struct sockaddr_in *)(const void *)b)->sin_addr,
			      sizeof(struct in_addr));
	return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr,
		      sizeof(struct in6_addr));
}

/* By address; within one, unserved first, youngest first. */
static int seen_cmp(const void *x, const void *y)
{
	const struct sock_seen *a = x, *b = y;
	int c = addr_cmp(&a->peer, &b->peer);

	if (c)
		return c;
	if (a->unserved != b->unserved)
		return b->unserved - a->unserved;
	return a->age_ms < b->age_ms ? -1 : a->age_ms > b->age_ms;
}

static int local_port(const struct sockaddr_storage *a);

/* Every established TCP socket of the server's port: a malloc'd array
 * (the caller frees it) of *n entries, NULL when none or on failure. */
static struct sock_seen *scan_sockets(int *n)
{
	struct sock_seen *v = NULL;
	int size = 0;
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");

	*n = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		struct sockaddr_storage local, peer;
		struct tcp_info ti;
		socklen_t len = sizeof(local);
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || end == de->d_name || fd == dirfd(d))
			continue;
		if (getsockname((int)fd, (struct sockaddr *)&local, &len) != 0 ||
		    (local.ss_family != AF_INET && local.ss_family != AF_INET6) ||
		    local_port(&local) != cs.port)
			continue;
		len = sizeof(peer);
		if (getpeername((int)fd, (struct sockaddr *)&peer, &len) != 0)
			continue; /* the listening socket */
		memset(&ti, 0, sizeof(ti));
		len = sizeof(ti);
		if (getsockopt((int)fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
		    ti.tcpi_state != TCP_STATE_ESTABLISHED)
			continue; /* closing, or refused already */
		if (*n == size) {
			struct sock_seen *nv = realloc(v, (size_t)(size ? size * 2 : 64) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
			size = size ? size * 2 : 64;
		}
		v[*n].fd = (int)fd;
		v[*n].peer = peer;
		v[*n].unserved = ti.tcpi_data_segs_out == 0;
		v[*n].age_ms = ti.tcpi_last_data_sent;
		(*n)++;
	}
	closedir(d);
	return v;
}

static void addr_text(const struct sockaddr_storage *a, char *buf, size_t size)
{
	const void *p = a->ss_family == AF_INET
		? (const void *)&((const struct sockaddr_in *)(const void *)a)->sin_addr
		: (const void *)&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr;

	if (!inet_ntop(a->ss_family, p, buf, (socklen_t)size))
		snprintf(buf, size, "?");
}

/* Answer 429 on a socket the server has not written to, and shut it down:
 * whoever reads it next (its worker, or the one that picks it up from
 * CivetWeb's queue) reads end-of-file and closes it. */
static void refuse(int fd, const char *addr, int n)
{
	char body[256], resp[512];
	int blen, rlen;

	atomic_fetch_add(&cs.refused, 1);
	fprintf(stderr, "mltrackd: refused a connection from %s: %d open "
		"(--max-connections-per-address %d)\n", addr, n, cs.cap);
	blen = snprintf(body, sizeof(body),
			"{\"error_code\":\"RESOURCE_EXHAUSTED\",\"message\":\"Too many connections "
			"from %s (at most %d at a time), please retry\"}", addr, cs.cap);
	rlen = snprintf(resp, sizeof(resp),
			"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
			"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n"
			"X-Content-Type-Options: nosniff\r\n\r\n%s", blen, body);
	(void)!send(fd, resp, (size_t)rlen, MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(fd, SHUT_RDWR);
}

/* The descriptor still holds the socket the scan saw (same local port, same
 * peer address and port): between the scan and the refusal its connection
 * may have closed and the number gone to another socket (a new client, or
 * a database connection that must never receive an HTTP answer).  This
 * shrinks that window to the two calls before send(). */
static int still_same(int fd, const struct sockaddr_storage *peer)
{
	struct sockaddr_storage local, now;
	socklen_t len = sizeof(local);

	if (getsockname(fd, (struct sockaddr *)&local, &len) != 0 ||
	    (local.ss_family != AF_INET && local.ss_family != AF_INET6) ||
	    local_port(&local) != cs.port)
		return 0;
	len = sizeof(now);
	if (getpeername(fd, (struct sockaddr *)&now, &len) != 0 || addr_cmp(&now, peer) != 0)
		return 0;
	return local_port(&now) == local_port(peer);
}

/* Refuse the youngest unserved sockets of every address over the cap.  A
 * scan looks at every socket, so one every SCAN_EVERY_MS is enough: a
 * connection that comes sooner (or while another worker scans) leaves the
 * scan to the watchdog's next tick, which bounds what a flood of new
 * connections can make the server spend on scans. */
static void enforce_cap(void)
{
	struct sock_seen *v;
	long long now = mt_mono_ns();
	int n;

	if (pthread_mutex_trylock(&cs.scan) != 0) {
		atomic_store(&cs.scan_pending, 1);
		return;
	}
	if (cs.last_scan_ns && now - cs.last_scan_ns < SCAN_EVERY_MS * 1000000LL) {
		atomic_store(&cs.scan_pending, 1);
		pthread_mutex_unlock(&cs.scan);
		return;
	}
	cs.last_scan_ns = now;
	atomic_store(&cs.scan_pending, 0);
	v = scan_sockets(&n);
	if (v)
		qsort(v, (size_t)n, sizeof(*v), seen_cmp);
	for (int i = 0; i < n;) {
		int j = i, over;

		while (j < n && addr_cmp(&v[j].peer, &v[i].peer) == 0)
			j++;
		over = (j - i) - cs.cap;
		if (over > 0) {
			char addr[INET6_ADDRSTRLEN];

			addr_text(&v[i].peer, addr, sizeof(addr));
			for (int k = i; k < j && over > 0 && v[k].unserved; k++, over--)
				if (still_same(v[k].fd, &v[k].peer))
					refuse(v[k].fd, addr, j - i);
		}
		i = j;
	}
	free(v);
	pthread_mutex_unlock(&cs.scan);
}

/* ---- the cap under TLS: connections per peer address ---- */

/* A TLS connection that was let in: its conn_data (owned; freed when it
 * closes). */
struct tls_conn {
	struct sockaddr_storage peer;
};

/* Addresses with TLS connections open, and how many (an unsorted array:
 * at most one entry per worker). */
static struct {
	pthread_mutex_t mu;
	struct addr_count {
		struct sockaddr_storage peer;
		int n;
	} *v;
	int n, size;
} by_addr = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Count one more connection of peer, unless it has cap of them already
 * (cap 0: no cap).  0: counted.  > 0: not counted, the address has that
 * many.  -1: not counted, out of memory. */
static int addr_take(const struct sockaddr_storage *peer, int cap)
{
	int i, rc = 0;

	pthread_mutex_lock(&by_addr.mu);
	for (i = 0; i < by_addr.n && addr_cmp(&by_addr.v[i].peer, peer) != 0; i++)
		;
	if (i == by_addr.n) {
		if (by_addr.n == by_addr.size) {
			int size = by_addr.size ? by_addr.size * 2 : 64;
			struct addr_count *v = realloc(by_addr.v, (size_t)size * sizeof(*v));

			if (!v) {
				rc = -1;
				goto out;
			}
			by_addr.v = v;
			by_addr.size = size;
		}
		by_addr.v[i].peer = *peer;
		by_addr.v[i].n = 0;
		by_addr.n++;
	}
	if (cap > 0 && by_addr.v[i].n >= cap)
		rc = by_addr.v[i].n;
	else
		by_addr.v[i].n++;
out:
	pthread_mutex_unlock(&by_addr.mu);
	return rc;
}

static void addr_drop(const struct sockaddr_storage *peer)
{
	pthread_mutex_lock(&by_addr.mu);
	for (int i = 0; i < by_addr.n; i++) {
		if (addr_cmp(&by_addr.v[i].peer, peer) == 0) {
			if (--by_addr.v[i].n <= 0)
				by_addr.v[i] = by_addr.v[--by_addr.n];
			break;
		}
	}
	if (by_addr.n == 0) {
		free(by_addr.v);
		by_addr.v = NULL;
		by_addr.size = 0;
	}
	pthread_mutex_unlock(&by_addr.mu);
}

/* A connection whose TLS handshake this thread has just run. */
static int open_tls(int fd, void *ssl, void **conn_data)
{
	struct tls_conn *tc = calloc(1, sizeof(*tc));
	socklen_t len = sizeof(struct sockaddr_storage);
	int rc;

	if (!tc || getpeername(fd, (struct sockaddr *)&tc->peer, &len) != 0 ||
	    (tc->peer.ss_family != AF_INET && tc->peer.ss_family != AF_INET6)) {
		/* Not a peer we can count (or no memory): let it in uncounted,
		 * as the plain path does when a scan cannot run. */
		free(tc);
		return 0;
	}
	rc = addr_take(&tc->peer, cs.cap);
	if (rc == 0) {
		atomic_fetch_add(&cs.active, 1);
		*conn_data = tc;
		return 0;
	}
	if (rc > 0) {
		char addr[INET6_ADDRSTRLEN], body[256], resp[640];
		int blen, rlen;

		addr_text(&tc->peer, addr, sizeof(addr));
		atomic_fetch_add(&cs.refused, 1);
		fprintf(stderr, "mltrackd: refused a connection from %s: %d open "
			"(--max-connections-per-address %d)\n", addr, rc, cs.cap);
		blen = snprintf(body, sizeof(body),
				"{\"error_code\":\"RESOURCE_EXHAUSTED\",\"message\":\"Too many "
				"connections from %s (at most %d at a time), please retry\"}", addr,
				cs.cap);
		rlen = snprintf(resp, sizeof(resp),
				"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
				"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n"
				"X-Content-Type-Options: nosniff\r\n"
				"Strict-Transport-Security: " GUARD_HSTS "\r\n\r\n%s",
				blen, body);
		tls_send(ssl, resp, (size_t)rlen);
		shutdown(fd, SHUT_RDWR);
	}
	free(tc);
	return 0;
}

int conns_open(const struct mg_connection *conn, void **conn_data)
{
	int n, fd;
	void *ssl;

	(void)conn;
	*conn_data = NULL;
	if (tls_thread_take(&fd, &ssl) == 0)
		return open_tls(fd, ssl, conn_data);
	n = atomic_fetch_add(&cs.active, 1) + 1;
	*conn_data = &cs; /* counted */
	if (cs.cap > 0 && n > cs.cap)
		enforce_cap();
	return 0;
}

void conns_close(const struct mg_connection *conn)
{
	void *data = mg_get_user_connection_data(conn);

	if (!data)
		return; /* never counted: its handshake failed, or it was refused */
	if (data != &cs) {
		struct tls_conn *tc = data;

		addr_drop(&tc->peer);
		free(tc);
	}
	atomic_fetch_sub(&cs.active, 1);
}

void conns_metrics(FILE *f)
{
	fprintf(f, "# HELP mltrack_http_connections Client connections on worker threads now.\n"
		"# TYPE mltrack_http_connections gauge\n"
		"mltrack_http_connections %d\n"
		"# HELP mltrack_http_connections_refused_total Connections refused by the "
		"per-address cap.\n"
		"# TYPE mltrack_http_connections_refused_total counter\n"
		"mltrack_http_connections_refused_total %llu\n",
		atomic_load(&cs.active), atomic_load(&cs.refused));
}

/* The watchdog's list of workers (those that may be inside conns_read). */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct mt_worker **w;
	int n, size;
	int run;
	pthread_t thread;
} wd = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void on_sigurg(int sig)
{
	(void)sig; /* only to interrupt a poll() */
}

static void *watchdog(void *arg)
{
	struct timespec next;

	(void)arg;
	pthread_mutex_lock(&wd.mu);
	while (wd.run) {
		long long now = mt_mono_ns();

		for (int i = 0; i < wd.n; i++) {
			long long dl = atomic_load(&wd.w[i]->read_deadline_ns);

			if (dl && now > dl)
				pthread_kill(wd.w[i]->thread, SIGURG);
		}
		if (atomic_load(&cs.scan_pending)) {
			pthread_mutex_unlock(&wd.mu);
			enforce_cap();
			pthread_mutex_lock(&wd.mu);
		}
		clock_gettime(CLOCK_MONOTONIC, &next);
		next.tv_nsec += WATCH_TICK_MS * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&wd.cv, &wd.mu, &next);
	}
	pthread_mutex_unlock(&wd.mu);
	return NULL;
}

int conns_watch_start(int workers, struct mt_err *err)
{
	struct sigaction sa;
	pthread_condattr_t ca;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigurg; /* no SA_RESTART: poll() fails with EINTR anyway */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGURG, &sa, NULL))
		return mt_err_set(err, MT_EINTERNAL, "sigaction: %s", strerror(errno));
	wd.w = calloc((size_t)workers + 8, sizeof(*wd.w));
	if (!wd.w)
		return mt_err_set(err, MT_EINTERNAL, "out of memory");
	wd.size = workers + 8;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wd.cv, &ca);
	pthread_condattr_destroy(&ca);
	wd.run = 1;
	if (pthread_create(&wd.thread, NULL, watchdog, NULL)) {
		wd.run = 0;
		return mt_err_set(err, MT_EINTERNAL, "cannot start the watchdog thread");
	}
	return 0;
}

void conns_watch_stop(void)
{
	if (!wd.run)
		return;
	pthread_mutex_lock(&wd.mu);
	wd.run = 0;
	pthread_cond_signal(&wd.cv);
	pthread_mutex_unlock(&wd.mu);
	pthread_join(wd.thread, NULL);
	pthread_cond_destroy(&wd.cv);
	free(wd.w);
	wd.w = NULL;
	wd.n = wd.size = 0;
}

void conns_watch_add(struct mt_worker *w)
{
	w->thread = pthread_self();
	atomic_store(&w->read_deadline_ns, 0);
	pthread_mutex_lock(&wd.mu);
	if (wd.n < wd.size)
		wd.w[wd.n++] = w;
	pthread_mutex_unlock(&wd.mu);
}

void conns_watch_remove(struct mt_worker *w)
{
	pthread_mutex_lock(&wd.mu);
	for (int i = 0; i < wd.n; i++) {
		if (wd.w[i] == w) {
			wd.w[i] = wd.w[--wd.n];
			break;
		}
	}
	pthread_mutex_unlock(&wd.mu);
}

int conns_read(struct mt_worker *w, struct mg_connection *conn, void *buf, size_t len,
	       long long deadline_ns)
{
	int r;

	atomic_store(&w->read_deadline_ns, deadline_ns > 0 ? deadline_ns : 1);
	r = mg_read(conn, buf, len);
	atomic_store(&w->read_deadline_ns, 0);
	return r;
}

/* addr (what CivetWeb printed) as a socket address of the family of the
 * sockets to compare with; 0 when it cannot be read. */
static int parse_addr(const char *addr, int port, struct sockaddr_storage *out)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		return 1;
	}
	if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		return 1;
	}
	return 0;
}

/* Same address and port; an IPv4 peer seen through an IPv6 socket is the
 * IPv4-mapped address, which CivetWeb prints as such. */
static int same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return 0;
}

static int local_port(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)a)->sin_port);
	if (a->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)a)->sin6_port);
	return -1;
}

int conns_client_fd(const struct mg_connection *conn)
{
	const struct mg_request_info *ri = conn ? mg_get_request_info(conn) : NULL;
	struct sockaddr_storage want;
	struct dirent *de;
	DIR *d;
	int found = -1, matches = 0;

	if (!ri || !parse_addr(ri->remote_addr, ri->remote_port, &want))
		return -1;
	d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		struct sockaddr_storage peer, local;
		socklen_t len = sizeof(peer);
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || end == de->d_name || fd == dirfd(d))
			continue;
		if (getpeername((int)fd, (struct sockaddr *)&peer, &len) != 0 ||
		    !same_peer(&peer, &want))
			continue;
		len = sizeof(local);
		if (getsockname((int)fd, (struct sockaddr *)&local, &len) != 0 ||
		    local_port(&local) != ri->server_port)
			continue;
		found = (int)fd;
		matches++;
	}
	closedir(d);
	return matches == 1 ? found : -1;
}
