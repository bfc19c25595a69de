"""Slow clients against mltrackd, and normal requests timed meanwhile
(make bench, section "slow"; see tests/bench/slow.sh).

    python3 slow_clients.py PORT KINDS COUNT SECONDS

KINDS is a comma-separated list from idle, head, body (or "none"); COUNT
slow clients of each kind connect from their own loopback addresses
(127.0.0.2 upwards: all of 127/8 is loopback on Linux), so a per-address cap
does not hide them:
  idle  sends one request on a kept-alive connection, then nothing
  head  trickles a request head, one byte a second
  body  sends a head with Content-Length: 100000, then one byte a second
Each reconnects when the server closes it, so the pressure lasts.  Meanwhile
one client at 127.0.0.1 sends requests one after another, each on a new
connection (so each needs a free worker): GET experiments/get and POST
runs/log-metric in turn, with a 10 s timeout.  Prints one JSON object:
latency p50/p99/max in ms, requests, failures, slow connections opened.
"""
import json
import socket
import sys
import threading
import time

PORT = int(sys.argv[1])
KINDS = [k for k in sys.argv[2].split(",") if k and k != "none"]
COUNT = int(sys.argv[3])
SECONDS = float(sys.argv[4])
TRICKLE_S = 1.0


class Slow:
    def __init__(self, kind, addr):
        self.kind, self.addr = kind, addr
        self.s, self.left, self.connects = None, b"", 0

    def connect(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((self.addr, 0))
        s.settimeout(10)
        s.connect(("127.0.0.1", PORT))
        self.s = s
        self.connects += 1
        if self.kind == "idle":
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            s.recv(65536)
            self.left = b""
        elif self.kind == "head":
            self.left = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 100000
        else:
            s.sendall(b"POST /api/2.0/mlflow/runs/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            self.left = b" " * 100000
        s.setblocking(False)

    def tick(self):
        try:
            if self.s is None:
                self.connect()
                return
            try:
                if self.s.recv(65536) == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                pass
            if self.left:
                self.s.send(self.left[:1])
                self.left = self.left[1:]
        except OSError:
            if self.s is not None:
                self.s.close()
            self.s = None


def one(method, path, body=None):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else b""
        head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n" % (method, path, PORT)
        if body is not None:
            head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
        s.sendall(head.encode() + b"\r\n" + data)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return int(buf.split(b" ", 2)[1]) if buf.startswith(b"HTTP/1.1 ") else 0
    finally:
        s.close()


def main():
    status = one("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": "0"})
    if status != 200:
        raise SystemExit("runs/create: %d" % status)
    # The run id, from a search (the create answer is read only for its status).
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    body = b'{"experiment_ids":["0"],"max_results":1}'
    s.sendall(b"POST /api/2.0/mlflow/runs/search HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    raw = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        raw += c
    s.close()
    run_id = json.loads(raw.split(b"\r\n\r\n", 1)[1])["runs"][0]["info"]["run_id"]

    slow = []
    n = 0
    for kind in KINDS:
        for _ in range(COUNT):
            slow.append(Slow(kind, "127.0.%d.%d" % (n // 250, 2 + n % 250)))
            n += 1
    stop = threading.Event()

    def trickle():
        while not stop.is_set():
            t0 = time.time()
            for c in slow:
                c.tick()
            stop.wait(max(0.0, TRICKLE_S - (time.time() - t0)))

    for c in slow:
        try:
            c.connect()
        except OSError:
            c.s = None
    t = threading.Thread(target=trickle)
    t.start()
    time.sleep(2.0 if slow else 0.0)  # let them settle on the workers

    lat, failures, i = [], 0, 0
    end = time.time() + SECONDS
    while time.time() < end:
        t0 = time.perf_counter()
        try:
            if i % 2:
                st = one("POST", "/api/2.0/mlflow/runs/log-metric",
                         {"run_id": run_id, "key": "m", "value": i, "timestamp": i, "step": i})
            else:
                st = one("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0")
            ok = st == 200
        except OSError:
            ok = False
        dt = (time.perf_counter() - t0) * 1000
        if ok:
            lat.append(dt)
        else:
            failures += 1
        i += 1
    stop.set()
    t.join()
    for c in slow:
        if c.s is not None:
            c.s.close()
    lat.sort()

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else None

    print(json.dumps({"kinds": KINDS, "slow": len(slow), "requests": i, "failures": failures,
                      "p50_ms": pct(0.50), "p99_ms": pct(0.99),
                      "max_ms": round(lat[-1], 2) if lat else None,
                      "slow_connects": sum(c.connects for c in slow)}))


main()
