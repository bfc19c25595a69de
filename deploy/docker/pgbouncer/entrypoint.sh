#!/bin/sh
# Writes PgBouncer's configuration from the environment and starts it in the
# foreground.  DB_PASSWORD (or the file DB_PASSWORD_FILE) is the database
# user's password: PgBouncer checks clients against it (SCRAM) and logs in
# to PostgreSQL with it.  The files go to a private directory under /tmp.
set -eu
: "${DB_HOST:=postgres}" "${DB_PORT:=5432}" "${DB_NAME:=mltrack}" "${DB_USER:=mltrack}"
if [ -n "${DB_PASSWORD_FILE:-}" ]; then
	IFS= read -r DB_PASSWORD <"$DB_PASSWORD_FILE" || true
fi
[ -n "${DB_PASSWORD:-}" ] || { echo "pgbouncer-entrypoint: set DB_PASSWORD or DB_PASSWORD_FILE" >&2; exit 2; }
umask 077
dir=$(mktemp -d /tmp/pgbouncer.XXXXXX)
# userlist.txt: "user" "password", a double quote doubled.
printf '"%s" "%s"\n' "$DB_USER" "$(printf '%s' "$DB_PASSWORD" | sed 's/"/""/g')" >"$dir/userlist.txt"
cat >"$dir/pgbouncer.ini" <<INI
[databases]
$DB_NAME = host=$DB_HOST port=$DB_PORT dbname=$DB_NAME

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
; mltrackd --database-pooler transaction keeps nothing in the session.
pool_mode = transaction
; servers x (--database-pool + 2): 2 x (16 + 2) = 36 for the compose file.
max_client_conn = ${MAX_CLIENT_CONN:-100}
; PostgreSQL backends per database and user.
default_pool_size = ${DEFAULT_POOL_SIZE:-20}
; After a PostgreSQL restart, log in again after 1 s, not 15 (operations.md).
server_login_retry = 1
; A transaction waits this long for a server connection, then fails.
query_wait_timeout = ${QUERY_WAIT_TIMEOUT:-10}
INI
exec pgbouncer "$dir/pgbouncer.ini"
