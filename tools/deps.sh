#!/bin/sh
# Install every system package mltrack needs, from Debian (apt-get; sudo when
# not root).  With --check, only report whether something is missing (exit 1);
# with --runtime, only what building and running needs (make run).
set -eu

# What building and running mltrack needs (make run) ...
PACKAGES="gcc make pkg-config libc6-dev
libcivetweb-dev libjansson-dev libpq-dev libssl-dev libcurl4-openssl-dev
libgit2-dev libarchive-dev check libsubunit-dev
postgresql git procps nodejs"
# ... what the tests and benchmarks add (make test, make bench; openssl:
# t0170-tls.sh makes a throwaway CA and certificates with it; pgbouncer:
# t0040-migrate.sh migrates through it in transaction pooling; nginx: the
# cluster test, tests/cluster/run.sh, balances three servers with it;
# radosgw, ceph-mon, ceph-osd: a real S3, Ceph's RADOS Gateway on a throwaway
# single-node Ceph, tests/lib.sh's rgw_start; s3cmd cross-checks it,
# tests/rgw-smoke.sh: about 69 MB to download and 270 MB installed on a
# Debian 12 that has the rest, and no Ceph service starts on install;
# python3-sklearn (with numpy, scipy and joblib): tests/cli/test_sweep_sklearn.py
# sweeps and reproduces examples/sklearn/train.py with it, and
# tests/e2e/monitor.test.mjs trains, monitors and retrains
# examples/monitoring/churn.py; python3-scipy:
# tests/api/test_monitor.py and tests/cli/test_monitor_cli.py check the drift
# maths against it) ...
TEST_PACKAGES="python3 python3-sklearn python3-scipy curl openssl wrk chromium fonts-dejavu-core
pgbouncer nginx-light radosgw ceph-mon ceph-osd s3cmd"
# ... and what only the benchmarks use (--bench: make bench, make deps).
BENCH_PACKAGES=""

check=""
runtime=""
bench=""
for a in "$@"; do
	case "$a" in
	--check) check=1 ;;
	--runtime) runtime=1 ;; # only what make run needs: no browser for the tests
	--bench) bench=1 ;;     # also what only make bench uses
	*) echo "usage: tools/deps.sh [--check] [--runtime|--bench]" >&2; exit 2 ;;
	esac
done
[ -n "$runtime" ] || PACKAGES="$PACKAGES $TEST_PACKAGES"
[ -z "$bench" ] || PACKAGES="$PACKAGES $BENCH_PACKAGES"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

# npm: Debian's package, unless a Node.js that bundles npm (NodeSource's
# nodejs) already provides the command; the two packages conflict.
if ! command -v npm >/dev/null 2>&1; then
	missing="$missing npm"
fi

if [ -n "$check" ]; then
	[ -z "$missing" ] && exit 0
	echo "deps: missing:$missing"
	case " $missing " in
	*" python3-sklearn "*)
		echo "deps: python3-sklearn is Debian's scikit-learn (numpy, scipy):" \
			"tests/cli/test_sweep_sklearn.py sweeps examples/sklearn/train.py with it" ;;
	esac
	exit 1
fi
if [ -z "$missing" ]; then
	echo "deps: everything is installed"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "deps: need root (or sudo) to install:$missing" >&2
		exit 1
	fi
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Packages that start a service when installed (nginx on port 80, which
# fails where that port is taken; PgBouncer) must not: the tests start their
# own.  policy-rc.d answering 101 tells Debian's maintainer scripts so, for
# the length of the install, unless the machine already has one.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	policy=1
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing || {
	[ -z "$policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
	exit 1
}
[ -z "$policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
