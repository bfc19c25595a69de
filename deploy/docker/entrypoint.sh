#!/bin/sh
# The mltrack image's entry point (deploy/docker/Dockerfile).
#
#   mltrack-entrypoint mltrackd [OPTIONS]   (the default) run the server
#   mltrack-entrypoint bootstrap [OPTIONS]  apply the migrations and, when the
#       database has no user yet, add the first admin: MLTRACK_ADMIN_USER
#       (default admin) with the password in MLTRACK_ADMIN_PASSWORD or in the
#       file MLTRACK_ADMIN_PASSWORD_FILE.  OPTIONS go to mltrackd (the
#       database URL, usually PostgreSQL directly rather than PgBouncer).
#       Safe to run again and from several places at once.
#   mltrack-entrypoint COMMAND ...          anything else, e.g. mltrack
#
# For every NAME in the list below, NAME_FILE (a mounted secret) sets NAME
# from the file's first line, so no secret needs to be in the environment.
set -eu

for name in PGPASSWORD AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
	MLTRACK_ADMIN_TOKEN MLTRACK_ADMIN_PASSWORD; do
	eval "file=\${${name}_FILE:-}"
	if [ -n "$file" ]; then
		IFS= read -r value <"$file" || [ -n "$value" ] ||
			{ echo "mltrack-entrypoint: ${name}_FILE: $file is empty" >&2; exit 2; }
		export "$name=$value"
		unset "${name}_FILE"
	fi
done

if [ "${1:-}" = bootstrap ]; then
	shift
	user=${MLTRACK_ADMIN_USER:-admin}
	# `user list` applies pending migrations first, under PostgreSQL's
	# advisory lock, like every mltrackd command.
	users=$(mltrackd user list "$@")
	case "$users" in
	"no users"*) ;;
	*) echo "mltrack-entrypoint: users exist already; nothing to add"; exit 0 ;;
	esac
	if [ -z "${MLTRACK_ADMIN_PASSWORD:-}" ]; then
		echo "mltrack-entrypoint: the database has no user and mltrackd will not listen" \
			"beyond loopback without one: set MLTRACK_ADMIN_PASSWORD or" \
			"MLTRACK_ADMIN_PASSWORD_FILE for the first admin" >&2
		exit 2
	fi
	if printf '%s\n' "$MLTRACK_ADMIN_PASSWORD" |
		mltrackd user add "$user" --admin --password-stdin "$@"; then
		exit 0
	fi
	# Another bootstrap may have added a user meanwhile: that is success.
	case "$(mltrackd user list "$@")" in
	"no users"*) exit 1 ;;
	*) echo "mltrack-entrypoint: a user was added meanwhile"; exit 0 ;;
	esac
fi
exec "$@"
