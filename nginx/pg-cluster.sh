# A throwaway PostgreSQL cluster for `make run-pg` and the tests: sourced
# (sh or bash) by nginx/tandem-stack.sh and tests/api/lib.sh.
#
#   pg_cluster_start DIR    initdb DIR when it is empty, then start the
#                           server in the background ($pg_pid), listening
#                           on a unix socket in DIR only (no TCP port), and
#                           wait until it takes connections
#   pg_cluster_stop         stop it (fast shutdown), waiting for it
#   pg_cluster_url DB       the TANDEM_DB_URL of database DB in it
#   pg_cluster_createdb DB  create database DB (owned by the cluster user)
#
# Started as root, initdb and the server run as the unprivileged user
# `tandem` (created when missing, without a home or a shell), which owns
# DIR; the directories above DIR must let it through (x).  Debian keeps
# the binaries in /usr/lib/postgresql/VERSION/bin (PG_BIN overrides).

pg_bin_dir() {
	if [ -n "${PG_BIN:-}" ]; then
		echo "$PG_BIN"
		return
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/postgres" ]; then
			echo "$d"
			return
		fi
	done
	echo "tandem: no PostgreSQL server found (make deps installs it)" >&2
	return 1
}

# The user the cluster runs as, and how to run a command as that user.
pg_cluster_user() {
	if [ "$(id -u)" -ne 0 ]; then
		id -un
		return
	fi
	if ! id tandem >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin tandem >/dev/null 2>&1 ||
		    { echo nobody; return; }
	fi
	echo tandem
}

pg_as() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid="$pg_user" --regid="$(id -g "$pg_user")" \
		    --init-groups -- "$@"
	else
		"$@"
	fi
}

pg_cluster_start() {
	pg_dir=$1
	pg_bin=$(pg_bin_dir) || return 1
	pg_user=$(pg_cluster_user)
	mkdir -p "$pg_dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown "$pg_user" "$pg_dir"
	fi
	chmod 0700 "$pg_dir"
	if [ ! -s "$pg_dir/PG_VERSION" ]; then
		pg_as "$pg_bin/initdb" -D "$pg_dir" -U "$pg_user" \
		    --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
		    >"$pg_dir.initdb.log" 2>&1 || {
			echo "tandem: initdb failed:" >&2
			cat "$pg_dir.initdb.log" >&2
			return 1
		}
		rm -f "$pg_dir.initdb.log"
		cat >> "$pg_dir/postgresql.conf" <<-EOF
		# tandem's throwaway cluster (nginx/pg-cluster.sh)
		listen_addresses = ''
		unix_socket_directories = '$pg_dir'
		max_connections = 300
		shared_buffers = 128MB
		logging_collector = off
		log_min_messages = warning
		EOF
	fi
	# not through pg_as: a function in the background is a subshell,
	# and $! must be the server itself
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid="$pg_user" --regid="$(id -g "$pg_user")" \
		    --init-groups -- "$pg_bin/postgres" -D "$pg_dir" \
		    >>"$pg_dir/server.log" 2>&1 &
	else
		"$pg_bin/postgres" -D "$pg_dir" >>"$pg_dir/server.log" 2>&1 &
	fi
	pg_pid=$!
	i=0
	until pg_as "$pg_bin/pg_isready" -q -h "$pg_dir" -d postgres; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 "$pg_pid" 2>/dev/null; then
			echo "tandem: PostgreSQL did not start:" >&2
			tail -20 "$pg_dir/server.log" >&2
			return 1
		fi
		sleep 0.1
	done
}

pg_cluster_stop() {
	if [ -n "${pg_pid:-}" ]; then
		kill -INT "$pg_pid" 2>/dev/null	# fast shutdown
		wait "$pg_pid" 2>/dev/null
		pg_pid=""
	fi
}

pg_cluster_url() {
	echo "postgresql:///$1?host=$pg_dir&user=$pg_user"
}

pg_cluster_createdb() {
	pg_as "$pg_bin/createdb" -h "$pg_dir" -U "$pg_user" "$1"
}
