#!/usr/bin/env bash
# make bench: every hot path against its physical baseline, in one run, on
# a fresh stack on loopback.  Prints one table and writes it to
# bench/results/latest.md.
#
#   baseline A  nginx `return 200` over the same TLS
#   baseline B  a bare FastCGI hello (bench/hello.c) behind the same nginx
#   baseline C  the same rows inserted straight into SQLite, 100 per
#               transaction (bench/sqlite_insert.c)
#
# Environment: BENCH_SECONDS (10 per measurement), BENCH_CONNS (32),
# BENCH_BIG (1000000 records for the growth run; 0 skips it),
# BENCH_LONGPOLL (1: run bench/longpoll10k.sh too, and with
# BENCH_LONGPOLL_PY=1 bench/longpoll.sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$top/tests/api/lib.sh"
TEST_NAME=bench
DUR=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-32}
BIG=${BENCH_BIG:-1000000}
out="$here/results/latest.md"
mkdir -p "$here/results" "$top/build/bench"
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

cc -O2 -o "$top/build/bench/hello" "$here/hello.c" -lfcgi -lpthread || exit 1
cc -O2 -o "$top/build/bench/sqlite_insert" "$here/sqlite_insert.c" -lsqlite3 || exit 1

stack_start TANDEM_RATE_PER_S=0 TANDEM_THREADS=640 TANDEM_WORKERS=2 \
    TANDEM_AUTH_RATE=100000 TANDEM_AUTH_BURST=100000 || exit 1

# Baselines A and B: a second nginx with the same TLS and certificate.
bdir="$STACK_DIR/baseline"
mkdir -p "$bdir"
BPORT=$(free_port)
"$top/build/bench/hello" "$bdir/hello.sock" 2 64 &
hello_pid=$!
sleep 0.3
sed -e "s|@PREFIX@|$bdir|g" -e "s|@SOCKET@|$bdir/hello.sock|g" \
    -e "s|@PORT@|$BPORT|g" -e "s|@CERT@|$STACK_DIR/data/tls/cert.pem|g" \
    -e "s|@KEY@|$STACK_DIR/data/tls/key.pem|g" \
    "$here/baseline-nginx.conf.in" > "$bdir/nginx.conf"
user_line=""
[ "$(id -u)" -eq 0 ] && sed -i "1i user $(id -un) $(id -gn);" "$bdir/nginx.conf"
nginx -p "$bdir" -c "$bdir/nginx.conf" &
bnginx_pid=$!
cleanup_bench() {
	pkill -P "$hello_pid" 2>/dev/null
	kill "$bnginx_pid" "$hello_pid" 2>/dev/null
	# only these: a bare `wait` would wait for the stack too
	wait "$hello_pid" "$bnginx_pid" 2>/dev/null
	stack_stop
}
trap cleanup_bench EXIT
sleep 0.5

register bench@example.com "bench password"
login TOKEN_B bench@example.com "bench password" bench-dev
TOKEN=$TOKEN_B
call POST /api/v1/sessions '{"id":"bench","title":"bench"}'

declare -A RPS P50 P99
# measure NAME MODE PATH BASEURL
measure() {
	local name=$1 mode=$2 path=$3 base=${4:-$BASE} line
	line=$(MODE=$mode WPATH=$path TOKEN=$TOKEN TOKENS=${TOKENS:-} \
	    TAG="$name-$RANDOM" \
	    wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$here/wrk.lua" "$base$path" 2>&1 |
	    grep '^RESULT')
	RPS[$name]=$(echo "$line" | sed 's/.*rps=\([0-9.]*\).*/\1/')
	P50[$name]=$(echo "$line" | sed 's/.*p50=\([0-9.]*\).*/\1/')
	P99[$name]=$(echo "$line" | sed 's/.*p99=\([0-9.]*\).*/\1/')
	echo "  $name: $line" >&2
}

seed() { # push records until the collection holds at least $1
	local want=$1 have tries=0
	while :; do
		tries=$((tries + 1))
		if [ $tries -gt $((want / 5000 + 20)) ]; then
			echo "bench: cannot seed: $RBODY" >&2
			exit 1
		fi
		call GET /api/v1/collections
		have=$(jqr '[.collections[]|select(.name=="bench")|.records][0] // 0')
		[ "$have" -ge "$want" ] && break
		MODE=push100 TOKEN=$TOKEN TAG="seed-$RANDOM" wrk -t2 -c8 -d5s \
		    -s "$here/wrk.lua" "$BASE/api/v1/sync/push" >/dev/null 2>&1
	done
	echo "  seeded: $have records" >&2
}

suite() { # SUFFIX
	local s=$1 cursor
	call GET "/api/v1/sync/pull?since=0&limit=1"
	call GET /api/v1/collections
	cursor=$(jqr '[.collections[].last_version]|max')
	measure "health$s" get /api/v1/health
	measure "pull_empty$s" get "/api/v1/sync/pull?since=$cursor"
	measure "pull_100$s" get "/api/v1/sync/pull?since=0&limit=100"
	measure "push_1$s" push1 /api/v1/sync/push
	measure "push_100$s" push100 /api/v1/sync/push
	measure "message$s" message /api/v1/sessions/bench/messages
	measure "devices$s" get /api/v1/devices
}

echo "bench: baselines" >&2
measure A get /a "https://127.0.0.1:$BPORT"
measure B get /b "https://127.0.0.1:$BPORT"
C_ROWS=$("$top/build/bench/sqlite_insert" "$bdir/c.db" 200000 100)
echo "  C: $C_ROWS rows/s" >&2

echo "bench: 1k records" >&2
for b in $(seq 0 9); do
	body=$(for i in $(seq 0 99); do printf '{"collection":"bench","id":"k%d-%d","base_version":0,"data":{"n":%d,"text":"hello world","done":false}},' "$b" "$i" "$i"; done)
	call POST /api/v1/sync/push "{\"changes\":[${body%,}]}"
done
suite ""
if [ "$BIG" -gt 0 ]; then
	echo "bench: growing to $BIG records" >&2
	seed "$BIG"
	suite "_big"
fi

# The same suite on PostgreSQL with two hosts (BENCH_PG=0 skips it): a
# throwaway cluster, four devices of the bench user whose requests wrk
# spreads over both hosts, 1 k records; then the cross-host wake.
XWAKE=""
if [ "${BENCH_PG:-1}" = 1 ]; then
	echo "bench: PostgreSQL, two hosts" >&2
	stack_stop
	TANDEM_TEST_ENGINE=pg
	TANDEM_HOSTS=2 stack_start TANDEM_RATE_PER_S=0 TANDEM_THREADS=640 \
	    TANDEM_WORKERS=2 TANDEM_AUTH_RATE=100000 TANDEM_AUTH_BURST=100000 \
	    TANDEM_MAX_DEVICES=20 || exit 1
	register bench@example.com "bench password"
	declare -A HOSTOF
	TOKS=()
	for i in $(seq 1 8); do
		login t bench@example.com "bench password" "pg-dev$i"
		TOKS+=("$t")
		TOKEN=$t call GET /api/v1/devices
		pid=$(grep "\"device\":\"pg-dev$i\"" "$STACK_DIR/stack.log" | tail -1 |
		    grep -o '"pid":[0-9]*' | cut -d: -f2)
		HOSTOF[$i]=$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null)
	done
	TOKEN=${TOKS[0]}
	TOKENS=$(IFS=,; echo "${TOKS[*]}")
	export TOKENS
	call POST /api/v1/sessions '{"id":"bench","title":"bench"}'
	for b in $(seq 0 9); do
		body=$(for i in $(seq 0 99); do printf '{"collection":"bench","id":"k%d-%d","base_version":0,"data":{"n":%d,"text":"hello world","done":false}},' "$b" "$i" "$i"; done)
		call POST /api/v1/sync/push "{\"changes\":[${body%,}]}"
	done
	suite "_pg"
	unset TOKENS
	# a poller on one host, a writer whose requests go to the other
	for i in $(seq 2 8); do
		if [ "${HOSTOF[$i]}" != "${HOSTOF[1]}" ]; then
			XWAKE=$(python3 "$here/xhost_wake.py" "$BASE" "${TOKS[0]}" \
			    "${TOKS[$((i - 1))]}" 31)
			break
		fi
	done
	echo "  cross-host wake (p50 max min ms): $XWAKE" >&2
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
{
	echo "# make bench — $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "$(nproc) cores, wrk -t2 -c$CONNS -d${DUR}s over HTTPS (HTTP/1.1 keep-alive), TANDEM_WORKERS=2."
	echo
	echo "| request | req/s | p50 ms | p99 ms | vs baseline | target |"
	echo "|---|---:|---:|---:|---|---|"
	echo "| A: nginx return 200 | ${RPS[A]} | ${P50[A]} | ${P99[A]} | | |"
	echo "| B: FastCGI hello | ${RPS[B]} | ${P50[B]} | ${P99[B]} | $(ratio "${RPS[B]}" "${RPS[A]}") of A | |"
	echo "| C: SQLite rows/s, 100 per tx | $C_ROWS | | | | |"
	for t in health pull_empty pull_100 push_1 push_100 message devices; do
		extra=""
		case $t in
		pull_empty) extra="$(ratio "${RPS[$t]}" "${RPS[B]}") of B | ≥ 0.50 of B" ;;
		push_100) rows=$(awk -v r="${RPS[$t]}" 'BEGIN{printf "%.0f", r*100}')
			extra="$rows rows/s = $(ratio "$rows" "$C_ROWS") of C | ≥ 0.25 of C" ;;
		*) extra="$(ratio "${RPS[$t]}" "${RPS[B]}") of B | " ;;
		esac
		echo "| $t | ${RPS[$t]} | ${P50[$t]} | ${P99[$t]} | $extra |"
	done
	if [ "$BIG" -gt 0 ]; then
		echo
		echo "Grown to $BIG records (target: no request type more than 2× slower than at 1 k):"
		echo
		echo "| request | req/s at 1 k | req/s at $BIG | slowdown | p99 ms at 1 k | p99 ms at $BIG |"
		echo "|---|---:|---:|---:|---:|---:|"
		for t in health pull_empty pull_100 push_1 push_100 message devices; do
			echo "| $t | ${RPS[$t]} | ${RPS[${t}_big]} | $(ratio "${RPS[$t]}" "${RPS[${t}_big]}")× | ${P99[$t]} | ${P99[${t}_big]} |"
		done
	fi
	if [ "${BENCH_PG:-1}" = 1 ]; then
		echo
		echo "PostgreSQL 15 (a throwaway cluster on this machine, unix socket), two tandemd hosts (2 workers each) behind one upstream hashing on Authorization, wrk spreading 8 devices of the user over both; the same requests at 1 k records (target: every request type ≥ 0.40 of its SQLite figure):"
		echo
		echo "| request | req/s | p50 ms | p99 ms | vs SQLite | target |"
		echo "|---|---:|---:|---:|---:|---|"
		for t in health pull_empty pull_100 push_1 push_100 message devices; do
			r=$(ratio "${RPS[${t}_pg]}" "${RPS[$t]}")
			echo "| $t | ${RPS[${t}_pg]} | ${P50[${t}_pg]} | ${P99[${t}_pg]} | $r of SQLite | ≥ 0.40 $(awk -v r="$r" 'BEGIN { print (r >= 0.4) ? "met" : "MISSED" }') |"
		done
		read -r xp50 xmax xmin <<<"$XWAKE"
		echo
		echo "Cross-host wake (a long poll on host A answered by a write through host B, 31 rounds, bench/xhost_wake.py): p50 ${xp50:-?} ms, max ${xmax:-?} ms, min ${xmin:-?} ms (target p50 ≤ 5 ms: $(awk -v p="${xp50:-99}" 'BEGIN { print (p <= 5) ? "met" : "MISSED" }'))."
	fi
} > "$out"
cleanup_bench
trap - EXIT
# Long polls: build/bench/lpgen at 1,000 and 10,000 waiting, tandem and
# nchan side by side (bench/longpoll10k.sh); the Python client of
# bench/longpoll.sh at 1,000 too with BENCH_LONGPOLL_PY=1.
if [ "${BENCH_LONGPOLL:-1}" = 1 ]; then
	if [ "${BENCH_LONGPOLL_PY:-0}" = 1 ]; then
		bash "$here/longpoll.sh" && [ -f "$here/results/longpoll.md" ] &&
		    { echo; cat "$here/results/longpoll.md"; } >> "$out"
	fi
	bash "$here/longpoll10k.sh" && [ -f "$here/results/longpoll10k.md" ] &&
	    { echo; cat "$here/results/longpoll10k.md"; } >> "$out"
fi
cat "$out"
