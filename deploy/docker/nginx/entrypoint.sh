#!/bin/sh
# deploy/nginx/mltrack.conf (IN, default /etc/nginx/mltrack.conf.in) made
# into OUT (default /etc/nginx/conf.d/mltrack.conf), then exec "$@":
#   MLTRACK_UPSTREAMS   "host:port host:port ...", the mltrackd servers: each
#                       replaces the one "server 127.0.0.1:5170;" line
#   MLTRACK_PUBLIC_HOST the server_name (mltrackd's --allowed-host too)
#   TLS_CERT, TLS_KEY   the certificate chain and key (PEM files)
# The IPv6 listen line goes: Docker turns IPv6 off in a container on a
# network without it, and nginx would fail to bind [::]:443.
set -eu
in=${IN:-/etc/nginx/mltrack.conf.in}
out=${OUT:-/etc/nginx/conf.d/mltrack.conf}
: "${MLTRACK_UPSTREAMS:?the mltrackd servers, host:port separated by spaces}"
: "${MLTRACK_PUBLIC_HOST:?the name clients use}"
: "${TLS_CERT:=/run/secrets/tls_cert}" "${TLS_KEY:=/run/secrets/tls_key}"
awk -v ups="$MLTRACK_UPSTREAMS" -v name="$MLTRACK_PUBLIC_HOST" \
	-v cert="$TLS_CERT" -v key="$TLS_KEY" '
	$0 == "\tserver 127.0.0.1:5170;" {
		n = split(ups, u, " ")
		for (i = 1; i <= n; i++)
			printf "\tserver %s max_fails=1 fail_timeout=2s;\n", u[i]
		done++
		next
	}
	/^[ \t]*listen \[::\]:443 ssl;/ { next }
	/^[ \t]*server_name / { sub(/server_name [^;]*;/, "server_name " name ";") }
	/^[ \t]*ssl_certificate / { sub(/ssl_certificate [^;]*;/, "ssl_certificate " cert ";") }
	/^[ \t]*ssl_certificate_key / { sub(/ssl_certificate_key [^;]*;/, "ssl_certificate_key " key ";") }
	{ print }
	END { if (done != 1) exit 1 }
' "$in" >"$out" || {
	echo "nginx-entrypoint: $in has no line 'server 127.0.0.1:5170;' to replace" >&2
	exit 1
}
exec "$@"
