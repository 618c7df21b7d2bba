#!/usr/bin/env bash
# Two tandemd binaries side by side, the same request paths as run.sh's
# table, measured in turn so that a noisy machine hits both alike:
#
#   bench/vs.sh OLD_TANDEMD [NEW_TANDEMD]      (NEW: build/tandemd)
#
# Both stacks run at once (SQLite, 2 workers, the bench's limits, 1 k
# records each); for every request type, VS_ROUNDS (5) rounds of wrk for
# VS_SECONDS (3) against OLD then NEW.  Prints, per type, the median req/s
# of each and the median of the per-round ratios NEW/OLD (1.00: the same;
# 0.95: 5 % slower).  What run.sh's table cannot say when the machine is
# shared: a before/after of a change.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$top/tests/api/lib.sh"
TEST_NAME=bench_vs
OLD=${1:?usage: bench/vs.sh OLD_TANDEMD [NEW_TANDEMD]}
NEW=${2:-$top/build/tandemd}
ROUNDS=${VS_ROUNDS:-5}
DUR=${VS_SECONDS:-3}
CONNS=${BENCH_CONNS:-32}
ulimit -n 65536 2>/dev/null || true

declare -A SD SP BS TK
up() { # NAME BINARY
	STACK_DIR="" STACK_PID=""
	TANDEMD=$2 stack_start TANDEM_RATE_PER_S=0 TANDEM_THREADS=640 \
	    TANDEM_WORKERS=2 TANDEM_AUTH_RATE=100000 \
	    TANDEM_AUTH_BURST=100000 || exit 1
	register bench@example.com "bench password"
	login TOKEN_V bench@example.com "bench password" bench-dev
	TOKEN=$TOKEN_V
	call POST /api/v1/sessions '{"id":"bench","title":"bench"}'
	local b i body
	for b in $(seq 0 9); do
		body=$(for i in $(seq 0 99); do printf '{"collection":"bench","id":"k%d-%d","base_version":0,"data":{"n":%d,"text":"hello world","done":false}},' "$b" "$i" "$i"; done)
		call POST /api/v1/sync/push "{\"changes\":[${body%,}]}"
	done
	SD[$1]=$STACK_DIR SP[$1]=$STACK_PID BS[$1]=$BASE TK[$1]=$TOKEN
}
use() { STACK_DIR=${SD[$1]} STACK_PID=${SP[$1]} BASE=${BS[$1]} TOKEN=${TK[$1]}; }
down() {
	local n
	for n in old new; do
		[ -n "${SD[$n]:-}" ] || continue
		use "$n"
		stack_stop
		SD[$n]=""
	done
}
trap down EXIT

up old "$OLD"
up new "$NEW"

rps() { # NAME MODE PATH: req/s, 0 when any answer was not 2xx
	MODE=$2 WPATH=$3 TOKEN=$TOKEN TAG="$1-$RANDOM" \
	    wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$here/wrk.lua" "$BASE$3" 2>&1 |
	    grep '^RESULT' | sed -n 's/.*rps=\([0-9.]*\).* non2xx=0 .*/\1/p'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

printf '| request | old req/s | new req/s | new/old, median of %d pairs | pairs |\n' "$ROUNDS"
printf '|---|---:|---:|---:|---|\n'
for spec in "health get /api/v1/health" "pull_empty get CURSOR" \
    "pull_100 get /api/v1/sync/pull?since=0&limit=100" \
    "push_1 push1 /api/v1/sync/push" "push_100 push100 /api/v1/sync/push" \
    "message message /api/v1/sessions/bench/messages" \
    "devices get /api/v1/devices"; do
	read -r name mode path <<<"$spec"
	o=() n=() r=()
	for i in $(seq 1 "$ROUNDS"); do
		for s in old new; do
			use "$s"
			p=$path
			if [ "$p" = CURSOR ]; then
				call GET /api/v1/collections
				p="/api/v1/sync/pull?since=$(jqr '[.collections[].last_version]|max')"
			fi
			v=$(rps "$name" "$mode" "$p")
			[ "$s" = old ] && o+=("${v:-0}") || n+=("${v:-0}")
		done
		r+=("$(awk -v a="${o[-1]}" -v b="${n[-1]}" 'BEGIN {printf "%.3f", (a > 0) ? b / a : 0}')")
	done
	printf '| %s | %.0f | %.0f | %.2f | %s |\n' "$name" \
	    "$(printf '%s\n' "${o[@]}" | median)" \
	    "$(printf '%s\n' "${n[@]}" | median)" \
	    "$(printf '%s\n' "${r[@]}" | median)" "${r[*]}"
done
