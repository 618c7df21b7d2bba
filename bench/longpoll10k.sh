#!/usr/bin/env bash
# Long polls at 1,000 and 10,000 waiting, tandem and nchan side by side,
# driven by build/bench/lpgen (bench/lpgen.c; bench/README.md, "lpgen").
# Prints one table and writes it to bench/results/longpoll10k.md.
#
#   TANDEMD=build/tandemd bash bench/longpoll10k.sh
#
# Environment:
#   LP_RUNS      "100x10 1000x10": USERSxDEVICES per run, tandem and nchan
#                side by side; UxD@THREADS: tandem alone with that
#                TANDEM_THREADS
#   LP_WRITE     push (POST /sync/push of one record) or event (POST /events)
#   LP_PUSHES    100 targeted writes; LP_ROUNDS 5 fan-out rounds;
#                LP_IDLE_S 5 s of idle CPU
#   LP_THREADS   TANDEM_THREADS per worker for every size (default: tandemd's
#                own default, 64: a waiting poll is parked and holds no thread)
#   LP_WORKERS   TANDEM_WORKERS (default: cores)
#   LP_SEED_MAX_AGE_MIN  600: the logged-in database (build/bench/lpseed-*)
#                is reused while younger and the migrations are unchanged
#   BENCH_NCHAN  0 skips nchan
#
# The bench stack differs from `make run` only in limits, all in copies
# made here (nginx/nginx.conf.in is not touched): nginx's
# worker_rlimit_nofile and worker_connections are raised to the hard file
# limit (each waiting poll holds two nginx connections, the client's and
# the upstream one), TANDEM_THREADS as above, TANDEM_RATE_PER_S=0, no
# per-address connection limit (every poll comes from 127.0.0.1), the
# /auth/ limit lifted for the logins, tokens valid 24 h.  The machine's
# net.core.somaxconn is raised to 16,384 for the run when it is lower and
# we may (root), and put back after: at 4,096 a fan-out to 10,000 polls
# overflows tandemd's FastCGI backlog with their next polls (502s).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$top/tests/api/lib.sh"
TEST_NAME=bench_lpgen
LPGEN=${LPGEN:-$top/build/bench/lpgen}
RUNS=${LP_RUNS:-100x10 1000x10}
WRITE=${LP_WRITE:-push}
PUSHES=${LP_PUSHES:-100}
ROUNDS=${LP_ROUNDS:-5}
IDLE_S=${LP_IDLE_S:-5}
WORKERS=${LP_WORKERS:-$(nproc)}
out=$here/results/longpoll10k.md
res=$top/build/bench/lp-results
module=${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
mkdir -p "$here/results" "$res"
rm -f "$res"/*.txt

[ -x "$LPGEN" ] || { echo "longpoll10k: build $LPGEN first (make lpgen)"; exit 1; }
command -v sqlite3 >/dev/null || { echo "longpoll10k: sqlite3 is needed"; exit 1; }
# Each poll: one socket here, two in nginx, one in tandemd.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
WCONN=$((NOFILE - 100))
somaxconn_was=$(cat /proc/sys/net/core/somaxconn 2>/dev/null || echo 0)
if [ "$somaxconn_was" -lt 16384 ] && [ "$(id -u)" -eq 0 ] &&
    sysctl -qw net.core.somaxconn=16384 2>/dev/null; then
	:
else
	somaxconn_was=""
fi

maxu=0
maxd=0
for s in $RUNS; do
	s=${s%@*}
	u=${s%x*}
	d=${s#*x}
	[ "$u" -gt "$maxu" ] && maxu=$u
	[ "$d" -gt "$maxd" ] && maxd=$d
done

# nginx for the bench stack: the product's files with the limits raised.
ngx=$(mktemp -d /tmp/tandem-lpgen-nginx.XXXXXX)
cp -a "$top/nginx/." "$ngx/"
sed -i -e "s/worker_rlimit_nofile [0-9]*;/worker_rlimit_nofile $NOFILE;/" \
    -e "s/worker_connections [0-9]*;/worker_connections $WCONN;/" \
    "$ngx/nginx.conf.in"
nchan_pid=""
cleanup() {
	if [ -n "$nchan_pid" ]; then
		kill "$nchan_pid" 2>/dev/null
		wait "$nchan_pid" 2>/dev/null
		nchan_pid=""
	fi
	stack_stop
	rm -rf "$ngx"
	[ -n "$somaxconn_was" ] && sysctl -qw net.core.somaxconn="$somaxconn_was"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

common_env=(TANDEM_RATE_PER_S=0 TANDEM_CONN_PER_ADDR=0 TANDEM_MAX_DEVICES="$((maxd > 10 ? maxd : 10))"
    TANDEM_AUTH_RATE=100000 TANDEM_AUTH_BURST=100000
    TANDEM_ACCESS_TTL_S=86400 TANDEM_PUBLIC_DIR="$top/public"
    TANDEM_LOG_LEVEL="${TANDEM_LOG_LEVEL:-info}")

# The users and their logins, once: argon2id makes a login cost ~15 ms of
# a core, 11,000 of them minutes.  Kept in build/bench/lpseed-UxD (the
# database, its JWT secret, certificate) with the tokens lpgen wrote.
seed=$top/build/bench/lpseed-${maxu}x${maxd}
stamp="$(cat "$top"/migrations/*/*.sql | sha256sum | cut -c1-16) ${maxu}x${maxd}"
if [ -f "$seed/stamp" ] && [ "$(cat "$seed/stamp")" = "$stamp" ] &&
    [ -n "$(find "$seed/stamp" -mmin -"${LP_SEED_MAX_AGE_MIN:-600}")" ]; then
	echo "longpoll10k: reusing the logins in $seed"
else
	echo "longpoll10k: registering $maxu users, logging in $((maxu * maxd)) devices..."
	rm -rf "$seed" "$seed.tmp"
	mkdir -p "$seed.tmp/data"
	STACK_SCRIPT=$ngx/tandem-stack.sh stack_start "${common_env[@]}" \
	    TANDEM_WORKERS="$WORKERS" TANDEM_THREADS=64 || exit 1
	"$LPGEN" setup --base "$BASE" --users "$maxu" --devices "$maxd" \
	    --tokens "$seed.tmp/tokens" --conns 8 --tag "s$(date +%s)" || exit 1
	sqlite3 "$STACK_DIR/data/tandem.db" ".backup '$seed.tmp/data/tandem.db'" || exit 1
	for f in "$STACK_DIR"/data/*; do
		case $(basename "$f") in
		nginx|run|tandem.db*) ;;
		*) cp -a "$f" "$seed.tmp/data/" ;;
		esac
	done
	stack_stop
	echo "$stamp" > "$seed.tmp/stamp"
	mv "$seed.tmp" "$seed"
fi

threads_for() { # POLLS
	echo "${LP_THREADS:-64}"
}

lp_args() { # USERS DEVICES
	echo --users "$1" --devices "$2" --pushes "$PUSHES" --rounds "$ROUNDS" \
	    --idle-s "$IDLE_S" --write "$WRITE" --settle-s 30
}

run_tandem() { # USERS DEVICES NAME [THREADS]
	local n=$(($1 * $2)) threads=${4:-} name=$3
	[ -n "$threads" ] || threads=$(threads_for "$n")
	echo "longpoll10k: tandem, $n polls (TANDEM_WORKERS=$WORKERS TANDEM_THREADS=$threads)"
	STACK_SEED=$seed/data STACK_SCRIPT=$ngx/tandem-stack.sh \
	    stack_start "${common_env[@]}" TANDEM_WORKERS="$WORKERS" \
	    TANDEM_THREADS="$threads" || { echo "ok=0" > "$res/$name.txt"; return; }
	echo "$WORKERS×$threads threads" > "$res/$name.cfg"
	# shellcheck disable=SC2046
	"$LPGEN" run --target tandem --base "$BASE" --tokens "$seed/tokens" \
	    $(lp_args "$1" "$2") --server "$STACK_PID:tandemd" \
	    --front "$STACK_PID:nginx" --label "threads=$WORKERS×$threads" \
	    --out "$res/$name.txt"
	grep -E '"level":"(warn|error)"|\[(error|crit|alert|emerg)\]' \
	    "$STACK_DIR/stack.log" | sort | uniq -c | sort -rn | head -5 |
	    cut -c1-300 > "$res/$name.log"
	[ -s "$res/$name.log" ] && { echo "  the stack's warnings and errors:"; sed 's/^/  | /' "$res/$name.log"; }
	stack_stop
}

run_nchan() { # USERS DEVICES
	local n=$(($1 * $2)) ndir port i
	echo "longpoll10k: nchan, $n polls"
	ndir=$(mktemp -d /tmp/tandem-nchan.XXXXXX)
	port=$(free_port)
	sed -e "s|@PREFIX@|$ndir|g" -e "s|@PORT@|$port|g" \
	    -e "s|@MODULE@|$module|g" -e "s|@NOFILE@|$NOFILE|g" \
	    -e "s|@WORKER_CONNECTIONS@|$WCONN|g" \
	    -e "s|@CERT@|$seed/data/tls/cert.pem|g" \
	    -e "s|@KEY@|$seed/data/tls/key.pem|g" \
	    "$here/nchan-nginx.conf.in" > "$ndir/nginx.conf"
	[ "$(id -u)" -eq 0 ] && sed -i "1i user $(id -un) $(id -gn);" "$ndir/nginx.conf"
	nginx -p "$ndir" -c "$ndir/nginx.conf" 2>"$ndir/stderr" &
	nchan_pid=$!
	for i in $(seq 1 50); do
		curl -sk -o /dev/null "https://127.0.0.1:$port/nchan_status" && break
		sleep 0.1
	done
	# shellcheck disable=SC2046
	"$LPGEN" run --target nchan --base "https://127.0.0.1:$port" \
	    $(lp_args "$1" "$2") --server "$nchan_pid:nginx" --chan "r$n" \
	    --label "nginx+nchan" --out "$res/nchan-$n.txt"
	grep -E '\[(error|crit|alert|emerg)\]' "$ndir/error.log" 2>/dev/null |
	    sed 's/^[0-9/: ]*//' | sort | uniq -c | sort -rn | head -3 | cut -c1-300
	kill "$nchan_pid" 2>/dev/null
	wait "$nchan_pid" 2>/dev/null
	nchan_pid=""
	rm -rf "$ndir"
}

have_nchan=0
[ "${BENCH_NCHAN:-1}" = 1 ] && [ -f "$module" ] && have_nchan=1
[ "$have_nchan" = 1 ] || echo "longpoll10k: nchan not run (install libnginx-mod-nchan)"
# spec: UxD or UxD@THREADS; its result files: tandem-N[-tT], nchan-N
spec_n() { local s=${1%@*}; echo $((${s%x*} * ${s#*x})); }
spec_t() { case $1 in *@*) echo "${1#*@}" ;; esac; }
tname() { local t; t=$(spec_t "$1"); echo "tandem-$(spec_n "$1")${t:+-t$t}"; }
for s in $RUNS; do
	b=${s%@*}
	run_tandem "${b%x*}" "${b#*x}" "$(tname "$s")" "$(spec_t "$s")"
	if [ "$have_nchan" = 1 ] && [ -z "$(spec_t "$s")" ]; then
		run_nchan "${b%x*}" "${b#*x}"
	fi
done

# ---- the table ----
val() { # FILE KEY
	[ -f "$1" ] && sed -n "s/^$2=//p" "$1" | head -1
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && a == a + 0 && b + 0 > 0 && a != "nan") printf "%.2f×", a / b; else print "-" }'
}
cell() { # FILE KEY [SUFFIX]
	local v
	v=$(val "$1" "$2")
	if [ -z "$v" ] || [ "$v" = nan ] || [ "$v" = -nan ]; then echo "-"; else echo "$v${3:-}"; fi
}
# each column: a tandem run, and beside it nchan's at the same size and
# the ratio, unless the run is tandem alone (@THREADS)
row() { # LABEL KEY SUFFIX RATIO(1|0) [FUNCTION]
	local line="| $1 |" s t c v
	for s in $RUNS; do
		t=$res/$(tname "$s").txt
		c=$res/nchan-$(spec_n "$s").txt
		if [ -n "${5:-}" ]; then
			v="$($5 "$t")"
		else
			v="$(cell "$t" "$2" "$3")"
		fi
		line="$line $v |"
		[ -n "$(spec_t "$s")" ] && continue
		if [ -n "${5:-}" ]; then
			line="$line $($5 "$c") |"
		else
			line="$line $(cell "$c" "$2" "$3") |"
		fi
		if [ "$4" = 1 ]; then
			line="$line $(ratio "$(val "$t" "$2")" "$(val "$c" "$2")") |"
		else
			line="$line |"
		fi
	done
	echo "$line"
}
estab() { # FILE
	local f=$1
	[ -f "$f" ] || { echo "-"; return; }
	if [ "$(val "$f" established)" = 1 ]; then
		echo "$(val "$f" server_waiting) of $(val "$f" polls)"
	elif [ "$(val "$f" server_waiting)" = -1 ]; then
		echo "**NOT ALL**: no count from the server; $(val "$f" client_waiting) of $(val "$f" polls) client-side"
	else
		echo "**NOT ALL**: $(val "$f" server_waiting) of $(val "$f" polls) (client: $(val "$f" client_waiting))"
	fi
}
ldo() { [ -f "$1" ] && echo "$(val "$1" lost) / $(val "$1" doubled) / $(val "$1" disorder)" || echo "-"; }
incomplete() {
	[ -f "$1" ] || { echo "-"; return; }
	local w="$(val "$1" wake_incomplete) of $(val "$1" pushes_run) / $(val "$1" fan_incomplete) of $(val "$1" rounds_run)"
	[ "$(val "$1" fan_incomplete)" = 0 ] || w="$w (worst: $(val "$1" fan_answered_min) of $(val "$1" polls) answered)"
	[ "$(val "$1" write_errors)" = 0 ] || w="$w; $(val "$1" write_errors) writes failed"
	echo "$w"
}
{
	echo "## Long polls: 1,000 and 10,000 waiting (lpgen)"
	echo
	echo "\`bench/longpoll10k.sh\` on $(hostname), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores;"
	echo "writes: $WRITE; $PUSHES targeted writes, $ROUNDS fan-out rounds; nginx worker_connections $WCONN, file limit $NOFILE."
	echo
	head="| measure |"
	sep="|---|"
	for s in $RUNS; do
		n=$(spec_n "$s")
		cfg=$(cat "$res/$(tname "$s").cfg" 2>/dev/null)
		head="$head tandem $n, $cfg |"
		sep="$sep---:|"
		[ -n "$(spec_t "$s")" ] && continue
		head="$head nchan $n | tandem/nchan |"
		sep="$sep---:|---:|"
	done
	echo "$head"
	echo "$sep"
	row "polls established (server's count)" "" "" 0 estab
	row "send → wake p50" wake_p50_ms " ms" 1
	row "send → wake p99" wake_p99_ms " ms" 1
	row "fan-out, last poll answered (median of rounds)" fan_median_ms " ms" 1
	row "fan-out rounds, ms" fan_rounds "" 0
	row "lost / doubled / out of order" "" "" 0 ldo
	row "KiB per waiting poll (server RSS added)" kib_per_poll "" 1
	row "KiB per waiting poll + its thread's stack" kib_per_poll_with_stack "" 0
	row "server idle CPU, ms/s" idle_cpu_ms_s "" 0
	row "poll errors by kind" errors "" 0
	row "incomplete targeted wakes / rounds" "" "" 0 incomplete
	row "generator CPU in fan-out, % of a core" gen_cpu_fan "" 0
	row "verdict (1 = all delivered)" ok "" 0
	echo
	echo "tandem's server is tandemd (master, workers, sweeper); its nginx in front holds two"
	echo "connections per poll besides (front nginx RSS in the per-run output above)."
	echo "Targets (DESIGN.md): at 1,000 send → wake p50 and fan-out ≤ 1.5× nchan's; at 10,000"
	echo "every wake delivered, both ≤ 2× nchan's, ≤ 16 KiB of tandemd memory per waiting poll."
} > "$out"
echo
cat "$out"
