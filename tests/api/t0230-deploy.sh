#!/bin/sh
# deploy/ without Docker, Helm or Kubernetes (none is on the development
# machine or CI's): what can be checked of it here.
#  - every apt package the Dockerfiles install exists in Debian (apt-cache);
#    the build stage has every library package tools/deps.sh builds with;
#    the runtime stage has the package of every library mltrackd and
#    mltrack are linked with (readelf NEEDED, dpkg -S);
#  - every MLTRACK_* variable the Dockerfile, the Helm chart and the
#    systemd files set is one mltrackd knows (its --help);
#  - the YAML files parse (PyYAML; skipped, with a line saying so, without
#    it); Helm's templates are not YAML before rendering and are not parsed;
#  - the mltrackd flags of the compose file are accepted, values included:
#    `mltrackd migrate` with them, its database URLs pointed at the harness
#    database (flags of the S3 store are left out while this mltrackd has
#    none: the line says so);
#  - the probes' paths are public routes (mltrackd routes);
#  - the systemd units pass systemd-analyze verify, with no warning;
#  - the nginx image's entry point turns deploy/nginx/mltrack.conf into a
#    configuration nginx -t accepts;
#  - the image's entry point: NAME_FILE secrets; on a fresh database, a
#    server on 0.0.0.0 is refused until `bootstrap` adds the first admin,
#    which it does once (again: nothing), and then it serves.
set -eu
. "$ROOT/tests/lib.sh"
D=$ROOT/deploy
T=$WORK/t0230
mkdir -p "$T"
skipped=""
skip() { echo "t0230: skipped: $*"; skipped="$skipped; $*"; }
pid=""
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true' EXIT

# --- apt packages ----------------------------------------------------------
# The names after "apt-get install ... --no-install-recommends" in a
# Dockerfile, one RUN instruction at a time (STAGE: build, runtime or all).
apt_names() { # FILE STAGE
	awk -v stage="$2" '
		/^FROM / { n++; cur = (n == 1 && / AS build/) ? "build" : "runtime" }
		/^RUN / { run = 1; inst = 0 }
		run {
			line = $0; sub(/\\$/, "", line)
			if (line ~ /apt-get install/) { inst = 1; sub(/.*--no-install-recommends/, "", line) }
			if (inst) {
				end = sub(/&&.*/, "", line)
				if (stage == "all" || stage == cur) {
					m = split(line, w, /[ \t]+/)
					for (i = 1; i <= m; i++) if (w[i] ~ /^[a-z0-9][a-z0-9.+-]+$/) print w[i]
				}
				if (end) inst = 0
			}
			if ($0 !~ /\\$/) run = 0
		}' "$1"
}
build_pkgs=$(apt_names "$D/docker/Dockerfile" build)
runtime_pkgs=$(apt_names "$D/docker/Dockerfile" runtime)
echo "$runtime_pkgs" | grep -qx libpq5 || fail "no libpq5 found in the runtime stage's install: the parse of deploy/docker/Dockerfile broke"
echo "$build_pkgs" | grep -qx libpq-dev || fail "no libpq-dev found in the build stage's install"
all_pkgs="$build_pkgs $runtime_pkgs $(apt_names "$D/docker/pgbouncer/Dockerfile" all) $(apt_names "$D/docker/nginx/Dockerfile" all)"
echo "$all_pkgs" | grep -qw pgbouncer || fail "no pgbouncer in deploy/docker/pgbouncer/Dockerfile's install"
echo "$all_pkgs" | grep -qw nginx-light || fail "no nginx-light in deploy/docker/nginx/Dockerfile's install"
if apt-cache show libc6 >/dev/null 2>&1; then
	# shellcheck disable=SC2086 # one name a word
	if ! apt-cache show $all_pkgs >/dev/null 2>&1; then
		for p in $all_pkgs; do
			apt-cache show "$p" >/dev/null 2>&1 || fail "deploy/docker: no Debian package named $p (apt-cache show)"
		done
	fi
	echo "t0230: the $(echo $all_pkgs | wc -w) apt package names in deploy/docker/*/Dockerfile exist"
else
	skip "apt-cache knows no package (run apt-get update): package names not checked"
fi
# tools/deps.sh's library packages (what the Makefile links), in the build
# stage; check and libsubunit-dev are the unit tests'.
for p in $(sed -n '/^PACKAGES="/,/"$/p' "$ROOT/tools/deps.sh" | tr -d '"' | sed 's/^PACKAGES=//'); do
	case "$p" in
	lib*-dev) [ "$p" = libsubunit-dev ] && continue
		echo "$build_pkgs" | grep -qx "$p" ||
			fail "tools/deps.sh builds with $p, deploy/docker/Dockerfile's build stage does not install it" ;;
	esac
done
# The runtime stage: the package of each library the binaries need.
if command -v readelf >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
	for bin in mltrackd mltrack; do
		for so in $(readelf -d "$BUILD/$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
			case "$so" in libasan.so.*|libubsan.so.*|libc.so.*|libm.so.*) continue ;; esac
			path=$(ldd "$BUILD/$bin" | awk -v so="$so" '$1 == so { print $3 }')
			[ -n "$path" ] || fail "ldd $bin: $so not found"
			pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1) ||
				true
			[ -n "$pkg" ] || fail "dpkg -S: no package has $path ($bin needs $so)"
			echo "$runtime_pkgs" | grep -qx "$pkg" ||
				fail "$bin needs $so from $pkg, which deploy/docker/Dockerfile's runtime stage does not install"
		done
	done
	echo "t0230: the runtime stage installs the package of every library mltrackd and mltrack need"
else
	skip "no readelf or dpkg: the runtime stage's libraries not checked"
fi

# --- MLTRACK_* variables -----------------------------------------------------
"$BUILD/mltrackd" --help >"$T/help.txt"
has_s3=""
grep -q -- '--s3-endpoint' "$T/help.txt" && has_s3=1
# Known without --help: the dashboard's directory (docs/dashboard.md) and
# the image entry point's own variables.
known="MLTRACK_WEB_ROOT MLTRACK_ADMIN_USER MLTRACK_ADMIN_PASSWORD MLTRACK_ADMIN_PASSWORD_FILE"
for f in "$D/docker/Dockerfile" "$D/helm/mltrack/templates/configmap.yaml" \
	"$D/helm/mltrack/templates/deployment.yaml" "$D/helm/mltrack/templates/bootstrap-job.yaml" \
	"$D/systemd/mltrackd.env.example" "$D/systemd/mltrackd.service" \
	"$D/systemd/mltrackd@.service" "$D/docker/compose.yaml"; do
	for v in $(grep -o 'MLTRACK_[A-Z0-9][A-Z0-9_]*' "$f" | sort -u); do
		case " $known " in *" $v "*) continue ;; esac
		case "$v" in
		MLTRACK_S3_*|MLTRACK_UPSTREAMS|MLTRACK_PUBLIC_HOST|MLTRACK_HTTPS_PORT|MLTRACK_SUBNET|MLTRACK_NGINX_IP|MLTRACK_IMAGE)
			# compose's own variables; the S3 store's while this
			# mltrackd has none
			[ "${v#MLTRACK_S3_}" != "$v" ] && [ -n "$has_s3" ] || continue ;;
		esac
		grep -q "\[$v\]\|^  $v " "$T/help.txt" ||
			fail "${f#"$ROOT"/} sets $v, which mltrackd --help does not know"
	done
done
echo "t0230: every MLTRACK_* variable in deploy/ is one mltrackd knows"

# --- YAML ------------------------------------------------------------------
if python3 -c 'import yaml' 2>/dev/null; then
	for f in "$D/docker/compose.yaml" "$D/helm/mltrack/Chart.yaml" "$D/helm/mltrack/values.yaml" \
		"$D"/ci/*.yml; do
		python3 -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$f" ||
			fail "${f#"$ROOT"/} is not valid YAML"
	done
	echo "t0230: compose.yaml, Chart.yaml, values.yaml and deploy/ci/*.yml parse"
	# The servers' command line, interpolated as compose would with .env
	# unset: ${X:-default} gives the default, ${X:?} a stand-in value.
	python3 - "$D/docker/compose.yaml" >"$T/args" <<'PY'
import re, sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
s = c["services"]
assert s["mltrackd-1"]["command"] == s["mltrackd-2"]["command"], "the two servers differ"
for name in ("postgres", "pgbouncer", "s3", "s3-bucket", "mltrack-bootstrap", "nginx"):
    assert name in s, "no service " + name
args = s["mltrackd-1"]["command"]
assert args[0] == "mltrackd", args
def interp(a):
    a = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", a)
    return re.sub(r"\$\{[A-Z0-9_]+:\?[^}]*\}", "mltrack.example.org", a)
for a in args[1:]:
    print(interp(a))
PY
	[ -s "$T/args" ] || fail "no mltrackd arguments read from compose.yaml"
	db="deploy_$$"
	psql_q "CREATE DATABASE $db" >/dev/null
	direct=$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=$db/")
	# The arguments, URLs replaced by the harness database's, the S3 flags
	# dropped while this mltrackd has none.
	set --
	prev=""
	while IFS= read -r a; do
		case "$prev" in
		--database-url|--database-listen-url) a=$direct ;;
		esac
		if [ -z "$has_s3" ] && { [ "$a" = --s3-endpoint ] || [ "$a" = --s3-region ]; }; then
			IFS= read -r _ || true
			prev=""
			continue
		fi
		set -- "$@" "$a"
		prev=$a
	done <"$T/args"
	[ -n "$has_s3" ] || skip "this mltrackd has no --s3-endpoint: compose's --s3-endpoint and --s3-region not tried"
	grep -qx -- '--database-pooler' "$T/args" || fail "compose.yaml: the servers do not say --database-pooler"
	grep -qx -- '--database-listen-url' "$T/args" || fail "compose.yaml: the servers have no --database-listen-url"
	# An s3:// root needs the AWS_* pair in the environment (a stand-in:
	# migrate sends nothing to S3).
	AWS_ACCESS_KEY_ID=t0230 AWS_SECRET_ACCESS_KEY=t0230 \
		"$BUILD/mltrackd" migrate "$@" >"$T/migrate.log" 2>&1 ||
		{ cat "$T/migrate.log"; fail "mltrackd migrate with compose.yaml's flags: $*"; }
	echo "t0230: mltrackd accepts compose.yaml's server flags: $*"
else
	skip "python3 has no yaml module: the YAML files and compose's flags not checked"
fi

# --- probes ------------------------------------------------------------------
"$BUILD/mltrackd" routes >"$T/routes"
for p in /readyz /healthz; do
	grep -q "^GET $p public$" "$T/routes" || fail "GET $p is not a public route (the probes use it)"
done
grep -q 'path: /readyz' "$D/helm/mltrack/templates/deployment.yaml" || fail "helm: no readiness probe on /readyz"
grep -q 'path: /healthz' "$D/helm/mltrack/templates/deployment.yaml" || fail "helm: no liveness probe on /healthz"
grep -q '^HEALTHCHECK.*/readyz' "$D/docker/Dockerfile" || grep -q '/readyz"' "$D/docker/Dockerfile" ||
	fail "Dockerfile: no HEALTHCHECK on /readyz"

# --- systemd -----------------------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$T/units"
	sed "s#/usr/local/bin/mltrackd#$BUILD/mltrackd#" "$D/systemd/mltrackd.service" >"$T/units/mltrackd.service"
	sed "s#/usr/local/bin/mltrackd#$BUILD/mltrackd#" "$D/systemd/mltrackd@.service" >"$T/units/mltrackd@5171.service"
	(cd "$T/units" && systemd-analyze verify ./mltrackd.service ./mltrackd@5171.service) >"$T/verify" 2>&1 ||
		{ cat "$T/verify"; fail "systemd-analyze verify failed"; }
	if [ -s "$T/verify" ]; then cat "$T/verify"; fail "systemd-analyze verify warned"; fi
	echo "t0230: systemd-analyze verify: mltrackd.service, mltrackd@.service"
else
	skip "no systemd-analyze: the units not verified"
fi

# --- nginx -------------------------------------------------------------------
if command -v nginx >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1; then
	N=$T/nginx
	mkdir -p "$N"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=mltrack.test \
		-keyout "$N/key.pem" -out "$N/cert.pem" >/dev/null 2>&1 || fail "openssl req"
	IN=$D/nginx/mltrack.conf OUT=$N/mltrack.conf MLTRACK_UPSTREAMS="127.0.0.1:5171 127.0.0.1:5172" \
		MLTRACK_PUBLIC_HOST=mltrack.test TLS_CERT=$N/cert.pem TLS_KEY=$N/key.pem \
		sh "$D/docker/nginx/entrypoint.sh" true || fail "the nginx entry point failed"
	[ "$(grep -c 'server 127.0.0.1:517[12] max_fails=1 fail_timeout=2s;' "$N/mltrack.conf")" = 2 ] ||
		fail "the nginx entry point did not write both upstream servers"
	! grep -q 'listen \[::\]' "$N/mltrack.conf" || fail "the nginx entry point kept the IPv6 listen line"
	printf '%s\n' "error_log $N/error.log;" "pid $N/nginx.pid;" "events {}" \
		"http {" "	include $N/mltrack.conf;" "}" >"$N/nginx.conf"
	nginx -t -p "$N" -c "$N/nginx.conf" >"$N/t.log" 2>&1 || { cat "$N/t.log"; fail "nginx -t"; }
	echo "t0230: nginx -t accepts the compose nginx's configuration"
else
	skip "no nginx or openssl: the nginx entry point not tried"
fi

# --- the image's entry point ---------------------------------------------------
# Docker's COPY keeps the mode the checkout has.
for f in "$D/docker/entrypoint.sh" "$D/docker/pgbouncer/entrypoint.sh" "$D/docker/nginx/entrypoint.sh"; do
	[ -x "$f" ] || fail "${f#"$ROOT"/} is not executable (the image runs it as its entry point)"
done
EP=$D/docker/entrypoint.sh
printf 's3cr3t "x"\n' >"$T/secret"
got=$(AWS_SECRET_ACCESS_KEY_FILE=$T/secret sh "$EP" sh -c \
	'printf "%s|%s" "$AWS_SECRET_ACCESS_KEY" "${AWS_SECRET_ACCESS_KEY_FILE:-unset}"')
[ "$got" = 's3cr3t "x"|unset' ] || fail "entrypoint: AWS_SECRET_ACCESS_KEY_FILE gave '$got'"

db="boot_$$"
psql_q "CREATE DATABASE $db" >/dev/null
conn=$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=$db/")
# bootstrap takes the URL as a flag, as compose.yaml gives it; the server
# from the environment, as the Helm chart gives it.
PATH=$BUILD:$PATH
export PATH
port=$(free_port)
# As the image runs it: on 0.0.0.0, no user yet: refused.
if MLTRACK_DATABASE_URL=$conn MLTRACK_HOST=0.0.0.0 MLTRACK_PORT=$port MLTRACK_DATA_DIR=$T/d \
	sh "$EP" mltrackd >"$T/refused.log" 2>&1; then
	fail "mltrackd on 0.0.0.0 with no user started"
fi
grep -q "refusing to listen on 0.0.0.0" "$T/refused.log" || { cat "$T/refused.log"; fail "no refusal message"; }
# bootstrap without a password: an error that says what to set.
if sh "$EP" bootstrap --database-url "$conn" >"$T/boot0.log" 2>&1; then fail "bootstrap without a password succeeded"; fi
grep -q MLTRACK_ADMIN_PASSWORD "$T/boot0.log" || { cat "$T/boot0.log"; fail "bootstrap's message"; }
printf 'correct horse battery\n' >"$T/adminpw"
MLTRACK_ADMIN_USER=root1 MLTRACK_ADMIN_PASSWORD_FILE=$T/adminpw \
	sh "$EP" bootstrap --database-url "$conn" >"$T/boot1.log" 2>&1 ||
	{ cat "$T/boot1.log"; fail "bootstrap"; }
mltrackd user list --database-url "$conn" >"$T/users"
grep -q '^root1 *yes' "$T/users" || { cat "$T/users"; fail "bootstrap did not add root1 as an admin"; }
MLTRACK_ADMIN_USER=root2 MLTRACK_ADMIN_PASSWORD=otherpassword \
	sh "$EP" bootstrap --database-url "$conn" >"$T/boot2.log" 2>&1 ||
	{ cat "$T/boot2.log"; fail "bootstrap again"; }
grep -q "users exist already" "$T/boot2.log" || { cat "$T/boot2.log"; fail "bootstrap again: $(cat "$T/boot2.log")"; }
! mltrackd user list --database-url "$conn" | grep -q '^root2' || fail "bootstrap added a second admin"
MLTRACK_DATABASE_URL=$conn MLTRACK_HOST=0.0.0.0 MLTRACK_PORT=$port MLTRACK_DATA_DIR=$T/d \
	sh "$EP" mltrackd >"$T/server.log" 2>&1 &
pid=$!
wait_http "http://127.0.0.1:$port/readyz" 60 || { cat "$T/server.log"; fail "mltrackd on 0.0.0.0 did not start after bootstrap"; }
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/2.0/mlflow/experiments/search?max_results=1")
[ "$code" = 401 ] || fail "without credentials: $code, not 401"
code=$(curl -s -o /dev/null -w '%{http_code}' -u 'root1:correct horse battery' \
	"http://127.0.0.1:$port/api/2.0/mlflow/experiments/search?max_results=1")
[ "$code" = 200 ] || fail "as the bootstrapped admin: $code"
kill -TERM "$pid"
wait "$pid" || fail "mltrackd's exit status after SIGTERM"
pid=""
echo "t0230: entry point: secrets from files, bootstrap once, then the server on 0.0.0.0"
echo "deploy: checked${skipped:+ (skipped$skipped)}"
