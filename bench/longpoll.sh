#!/usr/bin/env bash
# Long-poll benchmark: a fresh nginx + tandemd stack (tests/api/lib.sh's
# stack_start) in tandemd's default sizing (TANDEM_WORKERS = cores,
# TANDEM_THREADS = 640), 100 users x 10 devices waiting on GET /events,
# driven by bench/longpoll.py.  Prints a table and writes it to
# bench/results/longpoll.md.  Extra arguments go to longpoll.py
# (--users, --devices, --pushes, --idle-s, --rounds).  KEEP_LOG=FILE
# keeps the stack's log.
#
#   TANDEMD=build/tandemd bash bench/longpoll.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tests/api/lib.sh"
TEST_NAME=bench_longpoll

# 1,000 client connections here, as many upstream sockets in tandemd.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
command -v python3 >/dev/null || { echo "longpoll: python3 is needed"; exit 1; }

workers=${TANDEM_WORKERS:-$(nproc)}
threads=${TANDEM_THREADS:-640}
# The benchmark is the client: no per-device rate limit, no nginx limit on
# the 1,100 logins; one extra device per user is the pusher.
stack_start TANDEM_WORKERS="$workers" TANDEM_THREADS="$threads" \
    TANDEM_RATE_PER_S=0 TANDEM_MAX_DEVICES=11 \
    TANDEM_AUTH_RATE=100000 TANDEM_AUTH_BURST=100000 \
    TANDEM_LOG_LEVEL="${TANDEM_LOG_LEVEL:-info}" || exit 1

# nchan side by side (DESIGN.md): the same nginx binary, TLS settings and
# certificate, its long-poll subscriber, one channel per user.  Skipped
# (with a note) when Debian's libnginx-mod-nchan is not installed.
nchan_args=()
nchan_pid=""
module=${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
if [ "${BENCH_NCHAN:-1}" = 1 ] && [ -f "$module" ]; then
	ndir="$STACK_DIR/nchan"
	mkdir -p "$ndir"
	NPORT=$(free_port)
	sed -e "s|@PREFIX@|$ndir|g" -e "s|@PORT@|$NPORT|g" \
	    -e "s|@MODULE@|$module|g" \
	    -e "s|@NOFILE@|16384|g" -e "s|@WORKER_CONNECTIONS@|8192|g" \
	    -e "s|@CERT@|$STACK_DIR/data/tls/cert.pem|g" \
	    -e "s|@KEY@|$STACK_DIR/data/tls/key.pem|g" \
	    "$here/nchan-nginx.conf.in" > "$ndir/nginx.conf"
	[ "$(id -u)" -eq 0 ] && sed -i "1i user $(id -un) $(id -gn);" "$ndir/nginx.conf"
	nginx -p "$ndir" -c "$ndir/nginx.conf" &
	nchan_pid=$!
	for i in $(seq 1 50); do
		curl -sk -o /dev/null "https://127.0.0.1:$NPORT/nchan_status" && break
		sleep 0.1
	done
	nchan_args=(--nchan "https://127.0.0.1:$NPORT" --nchan-pid "$nchan_pid")
else
	echo "longpoll: nchan not run (install libnginx-mod-nchan, or BENCH_NCHAN=1)"
fi
stop_nchan() {
	[ -n "$nchan_pid" ] || return 0
	kill "$nchan_pid" 2>/dev/null
	wait "$nchan_pid" 2>/dev/null
	nchan_pid=""
}
trap 'stop_nchan; stack_stop' EXIT

python3 "$here/longpoll.py" bench --base "$BASE" --stack-pid "$STACK_PID" \
    --out "$here/results/longpoll.md" \
    --config "TANDEM_WORKERS=$workers TANDEM_THREADS=$threads, $(nproc) cores" \
    "${nchan_args[@]}" "$@"
rc=$?
stop_nchan
# KEEP_LOG=FILE keeps the stack's log (tandemd's JSON lines) for a look.
[ -n "${KEEP_LOG:-}" ] && cp "$STACK_DIR/stack.log" "$KEEP_LOG"
stack_stop
exit $rc
