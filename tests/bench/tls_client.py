"""tests/bench/tls_client.py: what TLS costs a client of mltrackd (make bench,
section "tls"; tests/bench/tls.sh runs it).

    python3 tls_client.py MODE URL N [CAFILE]

MODE keepalive: N GETs of URL one after another over one kept-alive
connection (after one untimed warm-up request).  MODE newconn: N times a new
connection (TCP, and the TLS handshake for https), one GET of URL on it,
close.  Prints one JSON object: requests, mean, p50 and p99 in microseconds.
For https, CAFILE verifies the server (as a real client would); TLS 1.3
unless MLTRACK_BENCH_TLS12=1.  Both schemes go through the same code
(http.client), so the difference between them is TLS's.
"""
import http.client
import json
import os
import ssl
import sys
import time
import urllib.parse


def connection(url, cafile):
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=cafile)
        if os.environ.get("MLTRACK_BENCH_TLS12") == "1":
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
    else:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    return c, u.path + ("?" + u.query if u.query else "")


def get(c, path):
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    if r.status != 200:
        raise SystemExit("GET %s: %d" % (path, r.status))


def main():
    mode, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cafile = sys.argv[4] if len(sys.argv) > 4 else None
    times = []
    if mode == "keepalive":
        c, path = connection(url, cafile)
        get(c, path)
        for _ in range(n):
            t0 = time.perf_counter()
            get(c, path)
            times.append(time.perf_counter() - t0)
        c.close()
    elif mode == "newconn":
        for _ in range(n):
            t0 = time.perf_counter()
            c, path = connection(url, cafile)
            get(c, path)
            c.close()
            times.append(time.perf_counter() - t0)
    else:
        raise SystemExit("mode: keepalive or newconn")
    times.sort()
    us = [t * 1e6 for t in times]
    print(json.dumps({
        "requests": n,
        "mean_us": round(sum(us) / n, 1),
        "p50_us": round(us[n // 2], 1),
        "p99_us": round(us[min(n - 1, (n * 99) // 100)], 1),
    }))


if __name__ == "__main__":
    main()
