#!/bin/sh
# Start tandem: tandemd and its own nginx (prefix under the data
# directory), in the foreground.  Ctrl-C or SIGTERM stops both.
#
# Many hosts (`make run-pg`, TANDEM_STACK_PG=1): a throwaway PostgreSQL
# cluster under DATA_DIR/pg (nginx/pg-cluster.sh; unless TANDEM_DB_URL
# names a database already) and TANDEM_HOSTS (default 2) tandemd hosts,
# each a master of its own with its own socket (run/tandemd-N.sock) and
# shared memory, as separate machines would have, behind one nginx
# upstream that hashes on the Authorization header.  Ctrl-C, SIGTERM or
# the end of any part stops every part (TANDEM_STACK_HOST_LOSS_OK=1, for
# the fault tests: a host that ends leaves the others serving).
#
# First start in a data directory creates: the database (tandemd's
# migrations), a self-signed certificate, the JWT secret (0600, by
# tandemd) and an htpasswd file for /admin/ whose generated password is
# printed once.  Later starts reuse them.
#
# Environment: TANDEMD (the binary), TANDEM_DATA_DIR (./var),
# TANDEM_HTTPS_PORT (8443), TANDEM_HTTP_PORT (8080), TANDEM_BIND
# (127.0.0.1), TANDEM_ADMIN_USER (admin), TANDEM_ADMIN_PASSWORD (generated
# on first start), TANDEM_AUTH_RATE (10 r/s per address on /auth/),
# TANDEM_AUTH_BURST (20), TANDEM_ADMIN_RATE (5 r/s per address on /admin/,
# /api/v1/admin/ and /metrics), TANDEM_ADMIN_BURST (20),
# TANDEM_CONN_PER_ADDR (2000 requests at once per address; 0: no limit),
# TANDEM_SERVER_NAME (unset: the HTTP redirect keeps a plain-hostname Host
# and otherwise uses the server's address), TANDEM_ACCESS_LOG (off),
# TANDEM_PUBLIC_DIR (public/), TANDEM_SDK_DIR (clients/js/, served at
# /sdk/), TANDEM_MAX_BODY_BYTES (1048576), TANDEM_MAX_IMPORT_BYTES
# (33554432), TANDEM_CORS_ORIGINS (none;
# tandemd reads it too).  Every other TANDEM_* variable goes through to
# tandemd.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
: "${TANDEMD:=$top/build/tandemd}"
: "${TANDEM_DATA_DIR:=./var}"
: "${TANDEM_HTTPS_PORT:=8443}"
: "${TANDEM_HTTP_PORT:=8080}"
: "${TANDEM_BIND:=127.0.0.1}"
: "${TANDEM_ADMIN_USER:=admin}"
: "${TANDEM_AUTH_RATE:=10}"
: "${TANDEM_AUTH_BURST:=20}"
: "${TANDEM_ADMIN_RATE:=5}"
: "${TANDEM_ADMIN_BURST:=20}"
: "${TANDEM_CONN_PER_ADDR:=2000}"
: "${TANDEM_SERVER_NAME:=}"
: "${TANDEM_ACCESS_LOG:=off}"
: "${TANDEM_PUBLIC_DIR:=$top/public}"
: "${TANDEM_SDK_DIR:=$top/clients/js}"
: "${TANDEM_MAX_BODY_BYTES:=1048576}"
: "${TANDEM_MAX_IMPORT_BYTES:=33554432}"
: "${TANDEM_STACK_PG:=}"
: "${TANDEM_STACK_HOST_LOSS_OK:=}"
if [ -n "$TANDEM_STACK_PG" ]; then
	: "${TANDEM_HOSTS:=2}"
else
	: "${TANDEM_HOSTS:=1}"
fi

# The values nginx's configuration is rendered with: refused here, with
# the variable's name, rather than as a line of nginx -t.
need() { # VAR REGEX WHAT
	eval "v=\${$1}"
	if ! printf '%s' "$v" | grep -Eqx "$2"; then
		echo "tandem: $1 must be $3 (got '$v')" >&2
		exit 1
	fi
}
need TANDEM_ADMIN_RATE '[1-9][0-9]{0,5}' 'a number of requests per second, 1..999999'
need TANDEM_ADMIN_BURST '[0-9]{1,6}' 'a number of requests, 0..999999'
need TANDEM_CONN_PER_ADDR '0|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]' \
    'a number of requests, 0 (no limit) or 1..65535'
need TANDEM_HOSTS '[1-9]|[1-5][0-9]|6[0-4]' 'a number of tandemd hosts, 1..64'
if [ "$TANDEM_HOSTS" -gt 1 ] && [ -z "$TANDEM_STACK_PG" ] &&
    [ -z "${TANDEM_DB_URL:-}" ]; then
	echo "tandem: TANDEM_HOSTS=$TANDEM_HOSTS needs PostgreSQL (make run-pg, or TANDEM_DB_URL)" >&2
	exit 1
fi
if [ -n "$TANDEM_SERVER_NAME" ]; then
	need TANDEM_SERVER_NAME '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*' \
	    'a plain host name (letters, digits, hyphens and dots)'
fi

mkdir -p "$TANDEM_DATA_DIR"
data=$(cd "$TANDEM_DATA_DIR" && pwd)
export TANDEM_DATA_DIR="$data"
: "${TANDEM_SOCKET:=$data/run/tandemd.sock}"
export TANDEM_SOCKET
# One host: TANDEM_SOCKET.  Many: run/tandemd-1.sock, -2, ... beside it.
sockets=$TANDEM_SOCKET
if [ "$TANDEM_HOSTS" -gt 1 ]; then
	sockets=""
	i=1
	while [ $i -le "$TANDEM_HOSTS" ]; do
		sockets="${sockets:+$sockets }${TANDEM_SOCKET%.sock}-$i.sock"
		i=$((i + 1))
	done
fi
prefix="$data/nginx"
mkdir -p "$data/run" "$data/tls" "$prefix/tmp" "$prefix/conf"
chmod 0750 "$data"

# A self-signed certificate; replace tls/cert.pem and tls/key.pem with a
# real one (or point nginx at yours) for production.
if [ ! -s "$data/tls/cert.pem" ] || [ ! -s "$data/tls/key.pem" ]; then
	umask 077
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -days 825 -subj "/CN=localhost" \
	    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
	    -keyout "$data/tls/key.pem" -out "$data/tls/cert.pem" \
	    >/dev/null 2>&1
	umask 022
	echo "tandem: created a self-signed certificate in $data/tls/"
fi

# Basic auth for /admin/ and /api/v1/admin/: the password is shown once.
if [ ! -s "$data/htpasswd" ]; then
	pw="${TANDEM_ADMIN_PASSWORD:-$(openssl rand -base64 24 | tr -d '/+=' | cut -c1-20)}"
	umask 077
	printf '%s:%s\n' "$TANDEM_ADMIN_USER" "$(openssl passwd -6 "$pw")" \
	    > "$data/htpasswd"
	umask 022
	if [ -z "${TANDEM_ADMIN_PASSWORD:-}" ]; then
		echo "tandem: admin login for /admin/: $TANDEM_ADMIN_USER / $pw"
		echo "tandem: (shown once; only its hash is kept in $data/htpasswd)"
	fi
fi

user_line=""
if [ "$(id -u)" -eq 0 ]; then
	# nginx's workers must reach tandemd's socket (mode 0660).
	user_line="user $(id -un) $(id -gn);"
fi
suffix=":$TANDEM_HTTPS_PORT"
[ "$TANDEM_HTTPS_PORT" = 443 ] && suffix=""
access_log="$TANDEM_ACCESS_LOG"
[ "$access_log" = on ] && access_log="$prefix/access.log"
# nginx lets bodies up to twice the limit through so that tandemd answers
# in the contract's order (404/405 before 413); past that nginx refuses
# them itself, before reading them.
max_body=$((TANDEM_MAX_BODY_BYTES * 2))
max_import=$((TANDEM_MAX_IMPORT_BYTES + 1048576))
# With a server name, the redirect goes there whatever the Host; without
# one, to a plain-hostname Host or the server's address (nginx.conf.in's
# $tandem_redirect_host).
server_name="_"
redirect_host='$tandem_redirect_host'
if [ -n "$TANDEM_SERVER_NAME" ]; then
	server_name=$TANDEM_SERVER_NAME
	redirect_host=$TANDEM_SERVER_NAME
fi
conn_limit="limit_conn addr $TANDEM_CONN_PER_ADDR;"
[ "$TANDEM_CONN_PER_ADDR" = 0 ] && conn_limit="# no limit_conn: TANDEM_CONN_PER_ADDR=0"

# File descriptors: a waiting poll holds one in tandemd and two in nginx.
# Take the hard limit (at most 65536) for both.
nofile=$(ulimit -Hn)
case $nofile in unlimited|*[!0-9]*) nofile=65536 ;; esac
[ "$nofile" -gt 65536 ] && nofile=65536
ulimit -n "$nofile" 2>/dev/null || nofile=$(ulimit -n)
wconn=$((nofile - 256))
[ "$wconn" -lt 1024 ] && wconn=1024

for f in mime.types fastcgi.conf security-headers.conf cors-headers.conf; do
	cp "$here/$f" "$prefix/conf/$f"
done
# The allowed origins as nginx map entries (for nginx's own errors).  An
# entry of another shape is left out here; tandemd refuses to start on it.
printf '%s\n' "${TANDEM_CORS_ORIGINS:-}" | tr ',' '\n' |
    sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' |
    grep -E '^[a-z][a-z0-9+.-]*://[][a-z0-9.:-]+$' |
    sed 's/.*/"&" $http_origin;/' > "$prefix/conf/cors-origins.map" || true
# The upstream: one host's socket, or every host's behind a hash of the
# Authorization header, so a device sticks to one host (its rate limit
# and token cache are per host) while that host is up.
upstream=""
[ "$TANDEM_HOSTS" -gt 1 ] && upstream="hash \$http_authorization consistent; "
# (a host that fails is left alone for a second, then tried again)
for s in $sockets; do
	if [ "$TANDEM_HOSTS" -gt 1 ]; then
		upstream="${upstream}server unix:$s max_fails=1 fail_timeout=1s; "
	else
		upstream="${upstream}server unix:$s; "
	fi
done
upstream=${upstream% }
sed -e "s|@USER_LINE@|$user_line|" \
    -e "s|@PREFIX@|$prefix|g" \
    -e "s|@NOFILE@|$nofile|g" \
    -e "s|@WORKER_CONNECTIONS@|$wconn|g" \
    -e "s|@CONF_DIR@|$prefix/conf|g" \
    -e "s|@ACCESS_LOG@|$access_log|g" \
    -e "s|@MAX_BODY@|$max_body|g" \
    -e "s|@MAX_IMPORT@|$max_import|g" \
    -e "s|@AUTH_RATE@|$TANDEM_AUTH_RATE|g" \
    -e "s|@AUTH_BURST@|$TANDEM_AUTH_BURST|g" \
    -e "s|@ADMIN_RATE@|$TANDEM_ADMIN_RATE|g" \
    -e "s|@ADMIN_BURST@|$TANDEM_ADMIN_BURST|g" \
    -e "s|@CONN_LIMIT@|$conn_limit|g" \
    -e "s|@SERVER_NAME@|$server_name|g" \
    -e "s|@REDIRECT_HOST@|$redirect_host|g" \
    -e "s|@UPSTREAM@|$upstream|g" \
    -e "s|@BIND@|$TANDEM_BIND|g" \
    -e "s|@HTTP_PORT@|$TANDEM_HTTP_PORT|g" \
    -e "s|@HTTPS_PORT@|$TANDEM_HTTPS_PORT|g" \
    -e "s|@HTTPS_PORT_SUFFIX@|$suffix|g" \
    -e "s|@CERT@|$data/tls/cert.pem|g" \
    -e "s|@KEY@|$data/tls/key.pem|g" \
    -e "s|@HTPASSWD@|$data/htpasswd|g" \
    -e "s|@PUBLIC_DIR@|$TANDEM_PUBLIC_DIR|g" \
    -e "s|@SDK_DIR@|$TANDEM_SDK_DIR|g" \
    "$here/nginx.conf.in" > "$prefix/conf/nginx.conf"
nginx -t -q -p "$prefix" -c "$prefix/conf/nginx.conf"

. "$here/pg-cluster.sh"
tpids=""
npid=""
pg_pid=""
stop() {
	trap - INT TERM EXIT
	# tandemd first: it answers waiting long polls at once, so nginx's
	# graceful quit does not wait for them; PostgreSQL last.
	for p in $tpids; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $tpids; do
		wait "$p" 2>/dev/null || true
	done
	[ -n "$npid" ] && kill -QUIT "$npid" 2>/dev/null || true
	[ -n "$npid" ] && wait "$npid" 2>/dev/null || true
	pg_cluster_stop
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

# make run-pg: the throwaway cluster, unless a database is named
if [ -n "$TANDEM_STACK_PG" ] && [ -z "${TANDEM_DB_URL:-}" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		# the cluster's user must get through to DATA_DIR/pg
		chgrp "$(id -g "$(pg_cluster_user)")" "$data"
	fi
	pg_cluster_start "$data/pg" || exit 1
	if ! pg_as "$pg_bin/psql" -h "$pg_dir" -U "$pg_user" -d postgres -tAc \
	    "SELECT 1 FROM pg_database WHERE datname = 'tandem'" | grep -q 1; then
		pg_cluster_createdb tandem || exit 1
	fi
	TANDEM_DB_URL=$(pg_cluster_url tandem)
	export TANDEM_DB_URL
fi

# Start host N (1..): its own master, socket and shared memory.
host_start() { # SOCKET
	TANDEM_SOCKET=$1 "$TANDEMD" serve &
	tpids="$tpids $!"
}
socket_wait() { # SOCKET PID
	i=0
	while [ ! -S "$1" ]; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 "$2" 2>/dev/null; then
			echo "tandem: tandemd did not start" >&2
			exit 1
		fi
		sleep 0.1
	done
}
# The first host alone (it makes the JWT secret and the schema), then
# the others at once.
first=${sockets%% *}
for s in $sockets; do
	rm -f "$s"
done
host_start "$first"
socket_wait "$first" "${tpids##* }"
for s in $sockets; do
	[ "$s" = "$first" ] || host_start "$s"
done
set -- $tpids
for s in $sockets; do
	socket_wait "$s" "$1"
	shift
done
nginx -p "$prefix" -c "$prefix/conf/nginx.conf" &
npid=$!

echo "tandem: serving https://$TANDEM_BIND:$TANDEM_HTTPS_PORT/api/v1/health (http://$TANDEM_BIND:$TANDEM_HTTP_PORT redirects); Ctrl-C stops"
# Stop every part when one ends (a host may end alone with
# TANDEM_STACK_HOST_LOSS_OK: the others serve on).
alive() {
	kill -0 "$npid" 2>/dev/null || return 1
	[ -z "$pg_pid" ] || kill -0 "$pg_pid" 2>/dev/null || return 1
	n=0
	for p in $tpids; do
		if kill -0 "$p" 2>/dev/null; then
			n=$((n + 1))
		elif [ -z "$TANDEM_STACK_HOST_LOSS_OK" ]; then
			return 1
		fi
	done
	[ $n -gt 0 ]
}
while alive; do
	sleep 1 &
	wait $! 2>/dev/null || true
done
echo "tandem: a server process ended; stopping" >&2
exit 1
