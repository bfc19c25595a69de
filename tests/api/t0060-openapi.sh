#!/bin/sh
# Every route the server serves is in schema/openapi.yaml and every operation
# documented there is served: compared both ways.
set -eu
. "$ROOT/tests/lib.sh"
served=$(mktemp)
documented=$(mktemp)
"$BUILD/mltrackd" routes | awk '{print $1, $2}' | sort >"$served"
awk '
	/^  \/[^ ]*:[ ]*$/ { path = $1; sub(/:$/, "", path); next }
	/^  [^ ]/ { path = "" }
	/^    (get|post|put|patch|delete|head):/ && path != "" {
		m = $1; sub(/:$/, "", m); print toupper(m), path
	}
' "$ROOT/schema/openapi.yaml" | sort >"$documented"
if ! diff -u "$documented" "$served"; then
	rm -f "$served" "$documented"
	fail "route table and schema/openapi.yaml differ (- documented only, + served only)"
fi
n=$(wc -l <"$served")
[ "$n" -gt 20 ] || fail "only $n routes found: the comparison is broken"
# And each documented route answers (not 404/405) on a live server.
port=$(free_port)
BASE="http://127.0.0.1:$port"
"$BUILD/mltrackd" --database-url "$PGCONN" --port "$port" --data-dir "$WORK/d6" >"$WORK/openapi.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
wait_http "$BASE/readyz" 60 || fail "server did not start"
while read -r method path; do
	path=$(echo "$path" | sed 's|{path}|openapi-check/x.txt|')
	body=$(curl -s -w ' %{http_code}' -X "$method" -H 'Content-Type: application/json' \
		-d '{}' "$BASE$path")
	case "$body" in
	*ENDPOINT_NOT_FOUND* | *" 405") fail "$method $path is documented but not served: $body" ;;
	esac
done <"$served"
rm -f "$served" "$documented"
kill -TERM "$pid"
wait "$pid" || fail "server exit status"
trap - EXIT
echo "openapi.yaml and the route table agree ($n operations)"
