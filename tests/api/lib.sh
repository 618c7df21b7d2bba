# API test harness: sourced by every tests/api/test_*.sh.
#
#   stack_start [VAR=value ...]   fresh nginx + tandemd on free loopback
#                                 ports in a temp dir; TANDEM_* overrides
#                                 go to tandemd (shorten a TTL, a window)
#   stack_stop                    stop it (also done on exit, always)
#   stack_fails [VAR=value ...]   a stack that must refuse to start (a bad
#                                 configuration): returns 0 when it did
#                                 not start, its output in $STACK_OUT
#
# TANDEM_TEST_ENGINE=pg: every stack is the run-pg stack with TANDEM_HOSTS
# (2) hosts on a fresh database of a PostgreSQL cluster: the run's
# (TANDEM_TEST_PG_DIR, started by tests/api/run.sh) or the file's own.
#   engine_is pg                  true on PostgreSQL
#   skip_on_pg "why"              print that a case cannot apply on PG
#   case_ "name"                  name the next case (for the report)
#   call METHOD PATH [BODY] [curl args...]
#                                 one request; $TOKEN, when set, is sent
#                                 as the bearer token.  Sets STATUS, CT,
#                                 RBODY (the body), RHEAD (a headers file)
#   check STATUS [CT [JQ EXPECTED]...]
#                                 assert the last call: status, content
#                                 type (- to skip), then jq expressions
#                                 each printing EXPECTED (jq -c output)
#   ok "name" / fail "name" "why" record a result directly
#   register EMAIL PASSWORD       POST /auth/register, asserting 201
#   login VAR EMAIL PASSWORD DEVICE [PLATFORM]
#                                 login; sets $VAR (access token) and
#                                 ${VAR}_REFRESH
#   jqr EXPR                      jq -r EXPR over the last body
#   sockets_away / sockets_back   move every host's FastCGI socket aside
#                                 (nginx finds no tandemd) and back
#   stack_wait_back               wait until nginx reaches tandemd again
#   stack_masters                 the pids of the stack's tandemd masters
#   db_sql SQL                    run SQL on the stack's database (sqlite3
#                                 or psql), rows as a|b|c lines
#   tandemd_cli ARGS...           tandemd's command line (key ..., migrate)
#                                 on the stack's configuration: its data
#                                 directory and, on PG, its database
#
# Benchmarks may set STACK_SCRIPT (another copy of nginx/tandem-stack.sh,
# e.g. with larger nginx limits) and STACK_SEED (a data directory copied
# in before the stack starts: a database with users already logged in).
#
# Each file ends with `finish`, which prints its counts for run.sh.

set -u
API_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$API_DIR/../.." && pwd)
: "${TANDEMD:=$TOP/build/tandemd}"
PASSED=0
FAILED=0
CASE="-"
TOKEN=""
STACK_DIR=""
STACK_PID=""
TEST_NAME=$(basename "$0" .sh)
ADMIN_PASSWORD="admin-test-password"
: "${TANDEM_TEST_ENGINE:=sqlite}"
PG_OWN=""
PG_DB=""
. "$TOP/nginx/pg-cluster.sh"

engine_is() {
	[ "$TANDEM_TEST_ENGINE" = "$1" ]
}

skip_on_pg() {
	echo "  skip $TEST_NAME (postgresql): $1"
}

# The run's cluster, or this file's own when the file runs alone.
pg_test_cluster() {
	if [ -n "${TANDEM_TEST_PG_DIR:-}" ]; then
		pg_dir=$TANDEM_TEST_PG_DIR
		pg_bin=$(pg_bin_dir) || return 1
		pg_user=$(pg_cluster_user)
		return 0
	fi
	PG_OWN=$(mktemp -d /tmp/tandem-pg.XXXXXX)
	chmod 0711 "$PG_OWN"	# the cluster's user gets through
	pg_cluster_start "$PG_OWN/pg" || return 1
	TANDEM_TEST_PG_DIR=$pg_dir
}

# A fresh database of the cluster for one stack: its TANDEM_DB_URL.
pg_test_db() {
	PG_DB="t_$$_${RANDOM}${RANDOM}"
	pg_cluster_createdb "$PG_DB" || return 1
	pg_cluster_url "$PG_DB"
}

pg_test_cleanup() {
	if [ -n "$PG_DB" ]; then
		pg_as "$pg_bin/dropdb" --force -h "$pg_dir" -U "$pg_user" \
		    "$PG_DB" 2>/dev/null
		PG_DB=""
	fi
	if [ -n "$PG_OWN" ]; then
		pg_cluster_stop
		rm -rf "$PG_OWN"
		PG_OWN=""
	fi
}

free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

stack_start() {
	local try
	# A port picked free may be taken by a neighbour before nginx binds
	# it: try again on other ports.
	for try in 1 2 3 4 5; do
		stack_start_once "$@" && return 0
		if ! grep -q 'Address already in use' "$STACK_DIR/stack.log" 2>/dev/null; then
			echo "stack did not start:"
			cat "$STACK_DIR/stack.log"
			fail "stack_start" "the stack did not start"
			return 1
		fi
		local f=$FAILED
		stack_stop
		FAILED=$f
	done
	fail "stack_start" "no free ports after 5 tries"
	return 1
}

stack_start_once() {
	STACK_DIR=$(mktemp -d /tmp/tandem-test.XXXXXX)
	HTTPS_PORT=$(free_port)
	HTTP_PORT=$(free_port)
	while [ "$HTTP_PORT" = "$HTTPS_PORT" ]; do HTTP_PORT=$(free_port); done
	BASE="https://127.0.0.1:$HTTPS_PORT"
	HTTP_BASE="http://127.0.0.1:$HTTP_PORT"
	STACK_ENV=("$@")
	if [ -n "${STACK_SEED:-}" ]; then
		mkdir -p "$STACK_DIR/data"
		cp -a "$STACK_SEED/." "$STACK_DIR/data/" || return 1
	fi
	local db_url=""
	if engine_is pg; then
		if [ -z "${pg_dir:-}" ]; then
			pg_test_cluster || return 1
		fi
		db_url=$(pg_test_db) || return 1
		PG_DB=${db_url#postgresql:///}
		PG_DB=${PG_DB%%\?*}
	fi
	STACK_DB_URL=$db_url
	(
		if [ -n "$db_url" ]; then
			export TANDEM_STACK_PG=1 TANDEM_DB_URL="$db_url"
			export TANDEM_HOSTS=${TANDEM_HOSTS:-2}
		fi
		export TANDEM_DATA_DIR="$STACK_DIR/data"
		export TANDEM_HTTPS_PORT=$HTTPS_PORT TANDEM_HTTP_PORT=$HTTP_PORT
		export TANDEM_BIND=127.0.0.1
		export TANDEM_ADMIN_PASSWORD="$ADMIN_PASSWORD"
		export TANDEM_AUTH_RATE=${TANDEM_AUTH_RATE:-1000}
		export TANDEM_AUTH_BURST=${TANDEM_AUTH_BURST:-1000}
		export TANDEM_ADMIN_RATE=${TANDEM_ADMIN_RATE:-1000}
		export TANDEM_ADMIN_BURST=${TANDEM_ADMIN_BURST:-1000}
		export TANDEM_WORKERS=${TANDEM_WORKERS:-2}
		export TANDEM_THREADS=${TANDEM_THREADS:-64}
		export TANDEM_LOG_LEVEL=${TANDEM_LOG_LEVEL:-info}
		export TANDEMD
		for kv in "$@"; do export "$kv"; done
		exec setsid sh "${STACK_SCRIPT:-$TOP/nginx/tandem-stack.sh}"
	) >"$STACK_DIR/stack.log" 2>&1 &
	STACK_PID=$!
	local i=0
	until curl -sk -o /dev/null "$BASE/api/v1/health" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 150 ] || ! kill -0 "$STACK_PID" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
}

stack_fails() {
	STACK_OUT=""
	if stack_start_once "$@"; then
		stack_stop
		return 1
	fi
	STACK_OUT=$(cat "$STACK_DIR/stack.log" 2>/dev/null)
	stack_stop
	return 0
}

stack_stop() {
	if [ -n "$STACK_PID" ]; then
		kill -TERM "$STACK_PID" 2>/dev/null
		local i=0
		while kill -0 "$STACK_PID" 2>/dev/null && [ $i -lt 150 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		# whatever is left of the process group
		kill -KILL -- "-$STACK_PID" 2>/dev/null
		wait "$STACK_PID" 2>/dev/null
		STACK_PID=""
	fi
	if [ -n "$STACK_DIR" ]; then
		# tandemd's sanitizer reports (make sanitize) fail the file
		if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' \
		    "$STACK_DIR/stack.log" 2>/dev/null; then
			fail "sanitizer" "$(grep -m3 -E \
			    'AddressSanitizer|LeakSanitizer|runtime error:|#[0-9] ' \
			    "$STACK_DIR/stack.log" | head -c 600)"
		fi
		if [ "$FAILED" -gt 0 ] && [ -f "$STACK_DIR/stack.log" ]; then
			mkdir -p "$TOP/build/test-logs"
			cp "$STACK_DIR/stack.log" \
			    "$TOP/build/test-logs/$TEST_NAME.log" 2>/dev/null
			# CI keeps only what is printed: the warnings and errors
			echo "  --- $TEST_NAME: the stack's warnings and errors (last 20)"
			grep -E '"level":"(warn|error)"|\[(error|crit|alert|emerg)\]' \
			    "$STACK_DIR/stack.log" | tail -20 | cut -c1-400 |
			    sed 's/^/  | /'
		fi
		rm -rf "$STACK_DIR"
		STACK_DIR=""
	fi
	if [ -n "$PG_DB" ]; then
		pg_as "$pg_bin/dropdb" --force -h "$pg_dir" -U "$pg_user" \
		    "$PG_DB" 2>/dev/null
		PG_DB=""
	fi
}
trap 'stack_stop; pg_test_cleanup' EXIT
trap 'stack_stop; pg_test_cleanup; exit 130' INT TERM

sockets_away() {
	local s
	for s in "$STACK_DIR"/data/run/tandemd*.sock; do
		[ -S "$s" ] && mv "$s" "$s.away"
	done
}

sockets_back() {
	local s
	for s in "$STACK_DIR"/data/run/tandemd*.sock.away; do
		[ -e "$s" ] && mv "$s" "${s%.away}"
	done
}

# Wait (up to 3 s) until nginx reaches tandemd again: with many hosts it
# tries a failed one again only after fail_timeout.
stack_wait_back() {
	local i
	for i in $(seq 1 30); do
		[ "$(curl -sk -o /dev/null -w '%{http_code}' "$BASE/api/v1/health")" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}

stack_masters() {
	pgrep -P "$STACK_PID" -x tandemd
}

db_sql() {
	if engine_is pg; then
		pg_as "$pg_bin/psql" -h "$pg_dir" -U "$pg_user" -d "$PG_DB" \
		    -XAtq -F '|' -c "$1"
	else
		sqlite3 "$STACK_DIR/data/tandem.db" "$1"
	fi
}

tandemd_cli() {
	TANDEM_DATA_DIR="$STACK_DIR/data" TANDEM_DB_URL="$STACK_DB_URL" \
	    TANDEM_LOG_LEVEL=warn "$TANDEMD" "$@"
}

# The stack's log so far (tandemd's JSON lines and nginx's messages).
stack_log() {
	cat "$STACK_DIR/stack.log"
}

case_() {
	CASE="$1"
}

ok() {
	PASSED=$((PASSED + 1))
	[ -n "${VERBOSE:-}" ] && echo "  ok   $TEST_NAME: $1"
	return 0
}

fail() {
	FAILED=$((FAILED + 1))
	echo "  FAIL $TEST_NAME: $1: $2"
	return 0
}

RBODY=""
RHEAD=""
call() {
	local method=$1 path=$2 body=${3-}
	shift 2
	[ $# -gt 0 ] && shift
	local args=(-sk -o "$STACK_DIR/body" -D "$STACK_DIR/head" -X "$method"
	    -w '%{http_code} %{content_type}' --max-time 70)
	[ -n "$TOKEN" ] && args+=(-H "Authorization: Bearer $TOKEN")
	if [ -n "$body" ]; then
		[[ "$*" == *[Cc]ontent-[Tt]ype* ]] ||
		    args+=(-H "Content-Type: application/json")
		args+=(--data-binary "$body")
	fi
	local out
	out=$(curl "${args[@]}" "$@" "$BASE$path")
	STATUS=${out%% *}
	CT=${out#* }
	CT=${CT%%;*}
	RBODY=$(cat "$STACK_DIR/body")
	RHEAD="$STACK_DIR/head"
}

jqr() {
	printf '%s' "$RBODY" | jq -r "$1" 2>/dev/null
}

# A header of the last response (case-insensitive name), without CR.
header() {
	grep -i "^$1:" "$RHEAD" | head -1 | cut -d: -f2- | sed 's/^ //' | tr -d '\r'
}

check() {
	local want=$1 ct=${2--}
	shift
	[ $# -gt 0 ] && shift
	if [ "$STATUS" != "$want" ]; then
		fail "$CASE" "status $STATUS, want $want; body: ${RBODY:0:300}"
		return 1
	fi
	if [ "$ct" != "-" ] && [ "$CT" != "$ct" ]; then
		fail "$CASE" "content type '$CT', want '$ct'"
		return 1
	fi
	if [ "$want" -ge 400 ] && [ "$CT" = application/problem+json ]; then
		if [ "$(jqr '.status')" != "$want" ] || [ -z "$(jqr '.code // empty')" ]; then
			fail "$CASE" "problem document lacks status/code: $RBODY"
			return 1
		fi
	fi
	while [ $# -ge 2 ]; do
		local got
		got=$(printf '%s' "$RBODY" | jq -c "$1" 2>&1)
		if [ "$got" != "$2" ]; then
			fail "$CASE" "$1 = $got, want $2; body: ${RBODY:0:300}"
			return 1
		fi
		shift 2
	done
	ok "$CASE"
}

register() {
	local saved=$TOKEN
	TOKEN=""
	case_ "register $1"
	call POST /api/v1/auth/register "{\"email\":\"$1\",\"password\":\"$2\"}"
	check 201 application/json
	TOKEN=$saved
}

login() {
	local var=$1 email=$2 pw=$3 dev=$4 platform=${5:-test}
	local saved=$TOKEN
	TOKEN=""
	case_ "login $email $dev"
	call POST /api/v1/auth/login "{\"email\":\"$email\",\"password\":\"$pw\",\"device\":{\"id\":\"$dev\",\"platform\":\"$platform\",\"name\":\"$dev\"}}"
	check 200 application/json
	printf -v "$var" '%s' "$(jqr .access_token)"
	printf -v "${var}_REFRESH" '%s' "$(jqr .refresh_token)"
	TOKEN=$saved
}

# Milliseconds since the epoch.
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }

# Polls (and streams) tandemd counts as waiting now, from /metrics on
# loopback (on PostgreSQL: the host nginx sends this request to).
waiting_now() {
	curl -sk --max-time 5 "$BASE/metrics" | awk '/^tandem_longpoll_waiting/ {print int($2)}'
}

# Wait until the waiting count satisfies [ count OP N ]: TRIES (100)
# looks 50 ms apart; 1 when it never did.
waiting_until() { # OP N [TRIES]
	local op=$1 n=$2 tries=${3:-100} i c
	for i in $(seq 1 "$tries"); do
		c=$(waiting_now)
		[ -n "$c" ] && [ "$c" "$op" "$n" ] && return 0
		sleep 0.05
	done
	return 1
}

finish() {
	stack_stop
	pg_test_cleanup
	echo "$TEST_NAME: $PASSED passed, $FAILED failed${TANDEM_TEST_ENGINE:+ ($TANDEM_TEST_ENGINE)}"
	[ -n "${RESULTS_FILE:-}" ] && echo "$PASSED $FAILED" >> "$RESULTS_FILE"
	[ "$FAILED" -eq 0 ]
}
