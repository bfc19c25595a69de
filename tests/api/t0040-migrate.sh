#!/bin/sh
# Migrations: two servers migrating one fresh database at once both succeed
# and apply each file once, also three at once through PgBouncer in
# transaction pooling (where a session's advisory lock would not hold); a
# changed checksum and a newer database are refused with a clear message.
set -eu
. "$ROOT/tests/lib.sh"
db="mig_$$"
psql_q "CREATE DATABASE $db" >/dev/null
conn=$(echo "$PGCONN" | sed "s/dbname=[^ ]*/dbname=$db/")
n=$(ls "$ROOT"/migrations/*.sql | wc -l)

"$BUILD/mltrackd" migrate --database-url "$conn" >"$WORK/m1.log" 2>&1 &
a=$!
"$BUILD/mltrackd" migrate --database-url "$conn" >"$WORK/m2.log" 2>&1 &
b=$!
wait "$a" || fail "first concurrent migrate failed: $(cat "$WORK/m1.log")"
wait "$b" || fail "second concurrent migrate failed: $(cat "$WORK/m2.log")"
got=$(PGCONN="$conn" psql_q "SELECT count(*) FROM schema_migrations")
[ "$got" = "$n" ] || fail "schema_migrations has $got rows, want $n"
applied=$(cat "$WORK/m1.log" "$WORK/m2.log" | grep -c 'applied migration' || true)
[ "$applied" = "$n" ] || fail "migrations applied $applied times, want $n"

# Through PgBouncer, transaction pooling, two server connections for three
# clients: consecutive transactions of one client land on either.
PGB_POOL=2 pgb_start "$WORK/pgb"
trap pgb_down EXIT
pdb="migpgb_$$"
psql_q "CREATE DATABASE $pdb" >/dev/null
pconn=$(echo "$PGB_CONN" | sed "s/dbname=[^ ]*/dbname=$pdb/")
pids=""
for i in 1 2 3; do
	"$BUILD/mltrackd" migrate --database-url "$pconn" >"$WORK/p$i.log" 2>&1 &
	pids="$pids $!"
done
i=0
for p in $pids; do
	i=$((i + 1))
	wait "$p" || fail "migrate $i of 3 through PgBouncer failed: $(cat "$WORK/p$i.log")"
done
got=$(PGCONN="$pconn" psql_q "SELECT count(*) FROM schema_migrations")
[ "$got" = "$n" ] || fail "through PgBouncer: schema_migrations has $got rows, want $n"
applied=$(cat "$WORK"/p[123].log | grep -c 'applied migration' || true)
[ "$applied" = "$n" ] || fail "through PgBouncer: migrations applied $applied times, want $n"
pgb_down
psql_q "DROP DATABASE $pdb" >/dev/null

PGCONN="$conn" psql_q "UPDATE schema_migrations SET sha256 = 'tampered' WHERE version = 1" >/dev/null
if "$BUILD/mltrackd" migrate --database-url "$conn" >"$WORK/m3.log" 2>&1; then
	fail "migrate accepted a changed checksum"
fi
grep -q 'was changed after it was applied' "$WORK/m3.log" || fail "message: $(cat "$WORK/m3.log")"

PGCONN="$conn" psql_q "DELETE FROM schema_migrations WHERE version = 1" >/dev/null
PGCONN="$conn" psql_q "INSERT INTO schema_migrations (version, name, sha256) VALUES (999, '0999_future', 'x')" >/dev/null
if "$BUILD/mltrackd" migrate --database-url "$conn" >"$WORK/m4.log" 2>&1; then
	fail "migrate accepted a newer database"
fi
grep -q 'newer than this mltrackd' "$WORK/m4.log" || fail "message: $(cat "$WORK/m4.log")"
psql_q "DROP DATABASE $db" >/dev/null
echo "migrate: concurrent starts safe (direct and through PgBouncer), checksum and version checked"
