#!/bin/sh
# make run: start mltrackd on 127.0.0.1:5170 with its embedded PostgreSQL.
# Data goes to $MLTRACK_DATA_DIR or ./mltrack-data.  As root, PostgreSQL runs
# as the 'postgres' user, which must be able to reach the data directory; when
# the checkout sits somewhere it cannot (a 0700 /root, say), the data goes to
# /var/lib/mltrack instead, and this says so.
set -eu
bin=$1
dir=${MLTRACK_DATA_DIR:-./mltrack-data}
if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then
	mkdir -p "$dir"
	chmod 711 "$dir"
	abs=$(cd "$dir" && pwd)
	# An absolute path: a relative one would resolve through the inherited
	# working directory and hide an unreachable parent.
	if ! (cd / && runuser -u postgres -- test -x "$abs"); then
		dir=/var/lib/mltrack
		echo "note: user 'postgres' cannot reach ./mltrack-data from here; using $dir"
	fi
fi
echo "starting mltrackd on http://127.0.0.1:5170 (data in $dir; Ctrl-C stops it)"
exec "$bin" --data-dir "$dir"
