#!/bin/sh
# The log scan (issue 13, item 7): a session that uses every kind of secret
# against a server with authentication on, then a search of everything it
# left behind for each secret value.  None may appear in
#   - the server's log (its start, migrations, user and token commands, every
#     request, failed logins, a refused database URL),
#   - what the CLI printed (stdout and stderr of every command but the one
#     `mltrackd token create` whose output is the token, by design, and the
#     wrapped command's own output, which passes through unchanged),
#   - the spool (before and after its sync), the artifact store,
#   - the database (a data-only pg_dump: tags, params, audit trail, ...),
#   - /metrics, and the server's command line as ps shows it.
# Secrets: two database passwords (keyword and URL form), the admin token,
# two user passwords, a wrong password, API tokens (from mltrackd token
# create and from mltrack login), a well-formed unknown token, a cookie, and
# the Basic header values of them all.  If a dashboard login route is in the
# route table, its session cookie joins them.
set -eu
. "$ROOT/tests/lib.sh"
S="$WORK/secret-scan"
rm -rf "$S"
mkdir -p "$S/home" "$S/out" "$S/run"
chmod 755 "$S"
log="$S/mltrackd.log"
secrets="$S/secrets" # one per line, with what it is: NAME<TAB>VALUE
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait_gone "$pid" 10 || true
}
trap cleanup EXIT

rand() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
b64() { printf '%s' "$1" | base64 | tr -d '\n'; }
secret() { printf '%s\t%s\n' "$1" "$2" >>"$secrets"; }

DB="mt_scan_$(rand 4)"
psql_q "CREATE DATABASE $DB" >/dev/null
BASECONN=$(printf '%s' "$PGCONN" | sed 's/dbname=postgres//')
# The test cluster trusts its socket: a password in the URL is accepted and
# never asked for, which is all this needs.
DBPW_KW="dbpw-kw-$(rand 8)"
DBPW_URL="dbpw-url-$(rand 8)"
CONN_KW="$BASECONN dbname=$DB password=$DBPW_KW"
CONN_URL="postgresql://mltrack:$DBPW_URL@/$DB?host=$PGDIR"
ADMIN_TOKEN=$(rand 16)
ALICE_PW="alice-pw-$(rand 8)"
BOB_PW="bob-pw-$(rand 8)"
WRONG_PW="wrong-pw-$(rand 8)"
FAKE_TOKEN="mlt_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | cut -c1-43)"
COOKIE="cookie-$(rand 12)"
: >"$secrets"
secret "database password (keyword form)" "$DBPW_KW"
secret "database password (URL form)" "$DBPW_URL"
secret "admin token" "$ADMIN_TOKEN"
secret "alice's password" "$ALICE_PW"
secret "bob's password" "$BOB_PW"
secret "a wrong password" "$WRONG_PW"
secret "an unknown token" "$FAKE_TOKEN"
secret "a cookie" "$COOKIE"
secret "Basic alice" "$(b64 "alice:$ALICE_PW")"
secret "Basic bob" "$(b64 "bob:$BOB_PW")"
secret "Basic wrong" "$(b64 "alice:$WRONG_PW")"

# ---- the server, its database URL given as a flag ----
port=$(free_port)
BASE="http://127.0.0.1:$port"
MLTRACK_ADMIN_TOKEN=$ADMIN_TOKEN "$BUILD/mltrackd" --database-url "$CONN_KW" --port "$port" \
	--data-dir "$S/data" >>"$log" 2>&1 &
pid=$!
wait_http "$BASE/readyz" 60 || { tail -n 20 "$log"; fail "server did not start"; }
# ps shows no password (the flag's value is overwritten in place).
tr '\0' ' ' <"/proc/$pid/cmdline" >"$S/out/cmdline"
grep -q -- "--database-url" "$S/out/cmdline" || fail "cannot read the server's command line"

# ---- the operator's commands, the URL in the environment ----
adm() {
	MLTRACK_DATABASE_URL="$CONN_URL" "$BUILD/mltrackd" "$@" 2>>"$log" ||
		{ tail -n 20 "$log"; fail "mltrackd $*"; }
}
printf '%s\n' "$ALICE_PW" | adm user add alice --admin --password-stdin >>"$log"
printf '%s\n' "$BOB_PW" | adm user add bob --password-stdin >>"$log"
TOKEN_CI=$(adm token create --user bob --name scan-ci) # its output: the token, by design
secret "token from mltrackd token create" "$TOKEN_CI"
secret "Basic bob:token" "$(b64 "bob:$TOKEN_CI")"
adm migrate >>"$log"
# A malformed URL: libpq's complaint quotes the password; the message must not.
if MLTRACK_DATABASE_URL="postgresql://mltrack:${DBPW_URL}%zz@/$DB?host=$PGDIR" \
	"$BUILD/mltrackd" migrate >>"$log" 2>&1; then
	fail "a malformed database URL was accepted"
fi
grep -q "invalid percent-encoded token" "$log" || fail "libpq's complaint about the URL is missing"
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/2.0/mltrack/auth/whoami")" = 401 ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "authentication did not turn on"
	sleep 0.05
done

# ---- a CLI session ----
cat >"$S/run/train.sh" <<'EOF'
#!/bin/sh
echo "loss: 0.25"
echo "the command prints its environment: $MLTRACK_TOKEN $MLFLOW_TRACKING_TOKEN"
EOF
chmod +x "$S/run/train.sh"
# cli [VAR=value...] -- ARGS: mltrack with only the variables given; its
# stdout and stderr are scanned.
cli() {
	vars=""
	while [ "$1" != "--" ]; do
		vars="$vars $1"
		shift
	done
	shift
	# shellcheck disable=SC2086
	(cd "$S/run" && env -i PATH="$PATH" HOME="$S/home" MLTRACK_SPOOL_DIR="$S/spool" \
		MLTRACK_TRACKING_URI="$BASE" MLTRACK_HTTP_RETRIES=1 \
		${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} $vars "$BUILD/mltrack" "$@") \
		>>"$S/out/cli.out" 2>>"$S/out/cli.err"
}
expect() { # expect RC CMD...: the exit status
	want=$1
	shift
	rc=0
	"$@" || rc=$?
	[ "$rc" = "$want" ] || fail "exit $rc, not $want: $*"
}
expect 3 cli -- whoami
printf '%s\n' "$WRONG_PW" | expect 3 cli -- login -u alice --password-stdin
printf '%s\n' "$ALICE_PW" | expect 0 cli -- login -u alice --password-stdin
LOGIN_TOKEN=$(sed -n 's/^token = //p' "$S/home/.mltrack/credentials")
[ -n "$LOGIN_TOKEN" ] || fail "login stored no token"
secret "token from mltrack login" "$LOGIN_TOKEN"
expect 0 cli -- whoami
expect 0 cli -- experiments create scan-exp
# bob's runs go into alice's experiment: she gives him EDIT on it (authorization,
# docs/security.md "Permissions"; the default is READ).
SCAN_EXP=$(curl -s -H "Authorization: Bearer $LOGIN_TOKEN" \
	"$BASE/api/2.0/mlflow/experiments/get-by-name?experiment_name=scan-exp" |
	json_get experiment experiment_id)
curl -sf -o /dev/null -H "Authorization: Bearer $LOGIN_TOKEN" -H 'Content-Type: application/json' \
	-d "{\"experiment_id\":\"$SCAN_EXP\",\"username\":\"bob\",\"permission\":\"EDIT\"}" \
	"$BASE/api/2.0/mlflow/experiments/permissions/create" || fail "cannot give bob EDIT"
# wrapped URI ARGS: mltrack run with MLTRACK_TOKEN; the command's output
# passes through unchanged (it prints the token: kept aside, not scanned);
# the run's params, tags and output.log are scanned where they are kept.
wrapped() {
	uri=$1
	shift
	(cd "$S/run" && env -i PATH="$PATH" HOME="$S/home" MLTRACK_SPOOL_DIR="$S/spool" \
		MLTRACK_TRACKING_URI="$uri" MLTRACK_TOKEN="$TOKEN_CI" MLTRACK_HTTP_RETRIES=1 \
		${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} "$BUILD/mltrack" run "$@") \
		>>"$S/passthrough.out" 2>>"$S/out/cli.err"
}
wrapped "$BASE" -e scan-exp -p "note=$TOKEN_CI" -- ./train.sh --api-key "$TOKEN_CI" \
	--db "postgresql://u:$DBPW_KW@db/x"
grep -qF -- "$TOKEN_CI" "$S/passthrough.out" || fail "the command's output did not pass through"
EXP=$(curl -s -H "Authorization: Bearer $TOKEN_CI" \
	"$BASE/api/2.0/mlflow/experiments/get-by-name?experiment_name=scan-exp" |
	json_get experiment experiment_id)
RUN=$(curl -s -H "Authorization: Bearer $TOKEN_CI" -H 'Content-Type: application/json' \
	-d "{\"experiment_ids\":[\"$EXP\"],\"max_results\":1}" "$BASE/api/2.0/mlflow/runs/search" |
	json_get runs 0 info run_id)
expect 0 cli MLTRACK_TOKEN="$TOKEN_CI" -- log param k2 "$LOGIN_TOKEN" --run "$RUN"
expect 0 cli MLTRACK_TOKEN="$TOKEN_CI" -- log tag k3 "$BASE/x?token=$TOKEN_CI" --run "$RUN"
expect 0 cli MLTRACK_TOKEN="$TOKEN_CI" -- runs list -e scan-exp
expect 0 cli MLTRACK_TOKEN="$TOKEN_CI" -- artifacts list "$RUN"
expect 0 cli MLFLOW_TRACKING_USERNAME=bob MLFLOW_TRACKING_PASSWORD="$BOB_PW" -- experiments list
expect 3 cli MLFLOW_TRACKING_USERNAME=bob MLFLOW_TRACKING_PASSWORD="$WRONG_PW" -- experiments list
expect 0 cli MLFLOW_TRACKING_TOKEN="$TOKEN_CI" -- whoami
expect 0 cli -- --tracking-uri "http://bob:$BOB_PW@127.0.0.1:$port" whoami
expect 3 cli -- --tracking-uri "http://bob:$BOB_PW@127.0.0.1:9" experiments list
expect 3 cli MLTRACK_TOKEN="$FAKE_TOKEN" -- whoami
expect 3 cli MLTRACK_TOKEN="$ALICE_PW" -- whoami
# Spooled while the server is away, then sent.
wrapped http://127.0.0.1:9 -e scan-spool -- ./train.sh --api-key "$TOKEN_CI"
cp -R "$S/spool" "$S/spool-before-sync"
[ -n "$(ls "$S/spool-before-sync")" ] || fail "nothing was spooled"
expect 0 cli MLTRACK_TOKEN="$TOKEN_CI" -- sync

# ---- raw requests: secrets where the server must not log them ----
curl -s -o /dev/null -H "Authorization: Bearer $TOKEN_CI" -H "Cookie: mltrack_session=$COOKIE" \
	"$BASE/api/2.0/mlflow/experiments/search?max_results=1&token=$TOKEN_CI&password=$BOB_PW"
curl -s -o /dev/null -u "alice:$WRONG_PW" "$BASE/api/2.0/mltrack/auth/whoami"
curl -s -o /dev/null -H "Authorization: Basic $(b64 "bob:$TOKEN_CI")" "$BASE/api/2.0/mltrack/auth/whoami"
curl -s -o /dev/null -H "Authorization: Bearer $FAKE_TOKEN" "$BASE/metrics"
curl -s -o /dev/null -H "Authorization: Bearer not a token $ALICE_PW" "$BASE/api/2.0/mltrack/auth/whoami"
curl -s -o /dev/null -H "Authorization: Basic $(b64 "$ALICE_PW")" "$BASE/api/2.0/mltrack/auth/whoami"
curl -s -H "Authorization: Bearer $TOKEN_CI" "$BASE/metrics" >"$S/out/metrics.txt"
grep -q mltrack_http_requests_total "$S/out/metrics.txt" || fail "/metrics did not answer"
# A forced transition with the admin token (refused or not, it is logged).
curl -s -o /dev/null -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
	-d '{"name":"nope","version":"1","stage":"Production"}' \
	"$BASE/api/2.0/mlflow/model-versions/transition-stage"
# The dashboard's login, once it is in the route table: its cookie is a secret.
for route in $("$BUILD/mltrackd" routes | awk '$1 == "POST" && $2 ~ /auth\/(login|session)/ {print $2}'); do
	curl -s -o /dev/null -D "$S/login.hdrs" -H 'Content-Type: application/json' \
		-d "{\"username\":\"alice\",\"password\":\"$ALICE_PW\"}" "$BASE$route" || true
	tr -d '\r' <"$S/login.hdrs" | sed -n 's/^[Ss]et-[Cc]ookie: [^=]*=\([^;]*\).*/\1/p' |
		while read -r c; do
			[ -n "$c" ] && secret "session cookie from $route" "$c"
		done
done
expect 0 cli -- logout

# ---- what is left ----
kill -TERM "$pid"
wait "$pid" && rc=0 || rc=$?
pid=""
[ "$rc" = 0 ] || { tail -n 30 "$log"; fail "mltrackd exited $rc"; }
if grep -E '(AddressSanitizer|runtime error|LeakSanitizer)' "$log" "$S/out/cli.err"; then
	fail "a sanitizer reported an error"
fi
"$PG_BINDIR/pg_dump" --data-only -d "$BASECONN dbname=$DB" >"$S/out/db.sql"
grep -q 'scan-exp' "$S/out/db.sql" || fail "the database dump holds no run"
grep -q 'mltrack.command' "$S/out/db.sql" || fail "the database dump holds no tags"
psql_q "DROP DATABASE $DB WITH (FORCE)" >/dev/null
# The artifact store holds the runs' output logs.
[ -n "$(find "$S/data" -type f 2>/dev/null | head -n 1)" ] || fail "no artifact was stored"
# The scan must be able to find what it looks for: the stored token is in
# the credentials file (the one place it is kept), until logout removed it.
[ ! -e "$S/home/.mltrack/credentials" ] || fail "logout left the credentials file"

found=0
while IFS="$(printf '\t')" read -r what value; do
	[ -n "$value" ] || continue
	hits=$(grep -rlF -- "$value" "$log" "$S/out" "$S/spool" "$S/spool-before-sync" "$S/data" \
		"$S/home" 2>/dev/null || true)
	if [ -n "$hits" ]; then
		echo "FAIL: $what found in: $(echo $hits)" >&2
		found=1
	fi
done <"$secrets"
[ "$found" = 0 ] || fail "secrets were written where they must not be (see above)"
n=$(wc -l <"$secrets")
echo "secret scan: $n secrets, none in the server log, CLI output, spool, artifacts, database or /metrics"
