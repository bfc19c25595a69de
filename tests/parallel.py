#!/usr/bin/env python3
"""tests/parallel.py: what `make test` runs, as parts side by side (docs/testing.md).

    python3 tests/parallel.py               every part, JOBS at a time (make test)
    python3 tests/parallel.py api-asan-2 e2e these parts, and the builds they need
    python3 tests/parallel.py --list        the parts, and the suites of each group

Each part is one command, its output kept in build/test-logs/PART.log.  A part
that passes prints one line (its time and the load average); a part that
fails prints its whole log at once.  Every other part still runs (those that
need a failed build are reported as not run), so one run shows every
failure; the exit status is 1 when any part failed or did not run.

The parts: the two builds (make -j2 each; ASan first, since its parts are
the longest, then the default build beside them), the unit suites and fuzz
corpora of each build, the API, CLI and shell suites of each build in groups
(tests/run-api.sh BUILD SUITE...: each group on a PostgreSQL cluster and a
shared mltrackd of its own, so groups share nothing), and the dashboard's
end-to-end tests.  Most suites wait more than they compute (servers starting
and stopping, timeouts they check, a browser), so more parts than cores run
at a time (JOBS, 5 by default; MLTRACK_TEST_JOBS or -j).  The builds and
the unit suites, whose tests have wall-clock timeouts, run at the normal
priority, the other parts at nice 10, so that they do not starve the units.
"""

import glob
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGS = os.path.join(ROOT, "build", "test-logs")

# The groups of suites (file names in tests/api and tests/cli), about equally
# long under ASan.  The last group, rest, takes every suite not named here,
# so a new suite always runs somewhere.
GROUPS = [
    ("1", ["test_auth.py", "test_validation.py", "t0030-embedded.sh"]),
    ("2", ["test_search_plans.py", "test_hostile.py", "test_run.py"]),
    ("3", ["test_auth_cache.py", "test_sessions.py", "test_mlflow_auth_api.py",
           "t0150-slow-clients.sh"]),
    ("4", ["test_authz_matrix.py", "test_auth_cli.py", "t0160-query-bounds.sh",
           "t0090-gc.sh", "t0120-cors-hosts.sh", "t0170-tls.sh"]),
    ("5", ["t0190-pgbouncer.sh", "test_logged_models.py", "t0180-secret-scan.sh",
           "t0060-openapi.sh", "t0210-backup.sh", "t0230-deploy.sh", "t0200-s3.sh"]),
]


def all_suites():
    pats = ("tests/api/test_*.py", "tests/cli/test_*.py", "tests/api/t*.sh")
    return [os.path.basename(p) for pat in pats for p in sorted(glob.glob(os.path.join(ROOT, pat)))]


def groups():
    suites = all_suites()
    named = [s for _, g in GROUPS for s in g]
    dup = sorted({s for s in named if named.count(s) > 1})
    missing = [s for s in named if s not in suites]
    if dup or missing:
        sys.exit("tests/parallel.py: %s%s" % ("in two groups: %s " % dup if dup else "",
                                               "no such suite: %s" % missing if missing else ""))
    return GROUPS + [("rest", [s for s in suites if s not in named])]


def parts():
    """[(name, command, needs)] in the order they start when a slot is free:
    the longest first."""
    p = [("build-asan", ["make", "-j2", "VARIANT=asan", "test-bins"], []),
         # The unit suites first after their build: the longest single
         # part under ASan, and their tests have timeouts.
         ("unit-asan", ["make", "VARIANT=asan", "unit"], ["build-asan"]),
         ("build-default", ["make", "-j2", "VARIANT=default", "test-bins"], ["build-asan"])]
    p.append(("unit-default", ["make", "VARIANT=default", "unit"], ["build-default"]))
    for v in ("asan", "default"):
        for g, suites in groups():
            p.append(("api-%s-%s" % (v, g), ["sh", "tests/run-api.sh", "build/" + v] + suites,
                      ["build-" + v]))
    p.append(("e2e", ["sh", "tests/run-e2e.sh", "build/default"], ["build-default"]))
    p.append(("fuzz-asan", ["make", "VARIANT=asan", "fuzz"], ["build-asan"]))
    p.append(("fuzz-default", ["make", "VARIANT=default", "fuzz"], ["build-default"]))
    return p


def load():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main(argv):
    jobs = int(os.environ.get("MLTRACK_TEST_JOBS", "5"))
    want = []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "-j":
            jobs = int(args.pop(0))
        elif a.startswith("-j"):
            jobs = int(a[2:])
        elif a == "--list":
            for g, suites in groups():
                print("api-*-%s: %s" % (g, " ".join(suites)))
            print("parts: " + " ".join(n for n, _, _ in parts()))
            return 0
        else:
            want.append(a)
    table = parts()
    by_name = {n: (c, d) for n, c, d in table}
    for w in want:
        if w not in by_name:
            sys.exit("tests/parallel.py: no part %s (--list)" % w)
    if want:
        # The parts asked for and the builds they need; a default part
        # asked alone needs no ASan build.
        chosen = set(want)
        for w in want:
            chosen.update(by_name[w][1])
        table = [(n, c, [d for d in deps if d in chosen]) for n, c, deps in table if n in chosen]
    os.makedirs(LOGS, exist_ok=True)
    os.chdir(ROOT)
    pending = list(table)
    running = {}   # name -> (Popen, start, log file)
    done = {}      # name -> "ok" | "FAIL" | "not run"
    t_start = time.time()
    while pending or running:
        # Start what may start, in order.
        for n, c, deps in list(pending):
            if len(running) >= jobs:
                break
            if any(done.get(d) in ("FAIL", "not run") for d in deps):
                pending.remove((n, c, deps))
                done[n] = "not run"
                print("NOT RUN %-17s (needs %s, which failed)" % (n, ", ".join(deps)), flush=True)
                continue
            if all(done.get(d) == "ok" for d in deps):
                pending.remove((n, c, deps))
                log = open(os.path.join(LOGS, n + ".log"), "wb")
                # The builds and the unit suites (whose tests have
                # wall-clock timeouts) come first for the CPU: the other
                # parts run at a lower priority (nice 10).
                nice = 0 if n.startswith(("build-", "unit-")) else 10
                proc = subprocess.Popen(c, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL,
                                        preexec_fn=(lambda k=nice: os.nice(k)) if nice else None)
                running[n] = (proc, time.time(), log)
        if not running:
            if pending:   # cannot happen: every need comes earlier
                sys.exit("tests/parallel.py: stuck at %s" % [n for n, _, _ in pending])
            continue
        # Wait for any part to end.
        pid, status = os.wait()
        for n, (proc, t0, log) in list(running.items()):
            if proc.pid != pid:
                continue
            proc.returncode = os.waitstatus_to_exitcode(status)
            log.close()
            del running[n]
            secs = time.time() - t0
            if proc.returncode == 0:
                done[n] = "ok"
                print("ok    %-17s %5.0f s   (load %s)" % (n, secs, load()), flush=True)
            else:
                done[n] = "FAIL"
                path = os.path.join(LOGS, n + ".log")
                print("FAIL  %-17s %5.0f s   exit %d: %s" % (n, secs, proc.returncode,
                                                           " ".join(by_name[n][0])))
                print("-" * 48 + " " + os.path.relpath(path, ROOT))
                with open(path, "rb") as f:
                    sys.stdout.flush()
                    sys.stdout.buffer.write(f.read())
                print("-" * 48 + " end of %s (FAIL)" % n, flush=True)
    bad = [n for n, s in done.items() if s != "ok"]
    wall = time.time() - t_start
    if bad:
        print("make test: FAILED: %s (logs in build/test-logs/), %.0f s (load %s)"
              % (" ".join(bad), wall, load()))
        return 1
    print("make test: all %d parts passed in %.0f s (load %s)" % (len(done), wall, load()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
