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
python3 "$here/longpoll.py" bench --base "$BASE" --stack-pid "$STACK_PID" \
    --out "$here/results/longpoll.md" \
    --config "TANDEM_WORKERS=$workers TANDEM_THREADS=$threads, $(nproc) cores" \
    "$@"
rc=$?
# KEEP_LOG=FILE keeps the stack's log (tandemd's JSON lines) for a look.
[ -n "${KEEP_LOG:-}" ] && cp "$STACK_DIR/stack.log" "$KEEP_LOG"
stack_stop
exit $rc
