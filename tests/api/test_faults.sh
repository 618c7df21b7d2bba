#!/usr/bin/env bash
# test: solo (it loads the machine or measures time: run.sh runs it alone)
# Fault injection.  Part 1: three devices push record batches and send
# messages in a loop while worker processes are killed -9 at random, then
# the tandemd master and nginx, and the stack is restarted on the same data
# directory.  Every write the server acknowledged is in a client-side
# ledger; afterwards: every acknowledged record is there with the acked
# data, no batch is half applied (each record carries its batch id and the
# batch size), no client_msg_id appears twice in the history, the last
# acknowledged overwrite of each device's "hot" record is not lost.
# Part 2: the disk full (a tiny tmpfs; when mounting is not allowed, a
# write-failure shim) and the database read-only (a shim that makes writes
# to the database files fail with EROFS, as after the kernel's
# errors=remount-ro) give 503 problem documents, not crashes, and the
# server recovers when the fault goes away.
. "$(dirname "$0")/lib.sh"

SECRET="faults-test-secret-0123456789abcdef0123"
STACK_ENV=(TANDEM_JWT_SECRET="$SECRET" TANDEM_RATE_PER_S=0 TANDEM_DEDUP_WINDOW_MS=0
    TANDEM_WORKERS=3 TANDEM_SHUTDOWN_GRACE_S=2)
stack_start "${STACK_ENV[@]}"
PW="correct horse battery"
register chaos@example.com "$PW"
login T1 chaos@example.com "$PW" d1
login T2 chaos@example.com "$PW" d2
login T3 chaos@example.com "$PW" d3
TOKEN=$T1
call POST /api/v1/sessions '{"id":"chaos","title":"chaos"}'
check 201 application/json

# --- the stack's processes, and a restart on the same data directory ---------------
# The stack script is $STACK_PID (a session leader): tandemd's master and
# nginx's master are its children; workers and the sweeper are children
# of tandemd's master.
tandemd_master() { pgrep -P "$STACK_PID" -f 'tandemd' | head -1; }
nginx_master() { pgrep -P "$STACK_PID" -x nginx | head -1; }
tandemd_children() { local m; m=$(tandemd_master); [ -n "$m" ] && pgrep -P "$m"; }

# Start the stack again as stack_start does, but on $STACK_DIR/data and the
# same ports (lib.sh's stack_start always makes a new directory).
stack_restart_same_dir() {
	(
		export TANDEM_DATA_DIR="$STACK_DIR/data"
		export TANDEM_HTTPS_PORT=$HTTPS_PORT TANDEM_HTTP_PORT=$HTTP_PORT
		export TANDEM_BIND=127.0.0.1
		export TANDEM_ADMIN_PASSWORD="$ADMIN_PASSWORD"
		export TANDEM_AUTH_RATE=${TANDEM_AUTH_RATE:-1000}
		export TANDEM_AUTH_BURST=${TANDEM_AUTH_BURST:-1000}
		export TANDEM_WORKERS=${TANDEM_WORKERS:-2}
		export TANDEM_THREADS=${TANDEM_THREADS:-64}
		export TANDEM_LOG_LEVEL=${TANDEM_LOG_LEVEL:-info}
		export TANDEMD
		if [ -n "$STACK_DB_URL" ]; then
			# PostgreSQL: the same database, the same hosts
			export TANDEM_STACK_PG=1 TANDEM_DB_URL="$STACK_DB_URL"
			export TANDEM_HOSTS=${TANDEM_HOSTS:-2}
		fi
		for kv in "${STACK_ENV[@]}"; do export "$kv"; done
		exec setsid sh "$TOP/nginx/tandem-stack.sh"
	) >>"$STACK_DIR/stack.log" 2>&1 &
	STACK_PID=$!
	wait_health 100
}
wait_health() { # tenths of a second
	local i=0
	until [ "$(curl -sk -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/api/v1/health")" = 200 ]; do
		i=$((i + 1))
		[ "$i" -gt "$1" ] && return 1
		sleep 0.1
	done
}

# --- the load: each device pushes batches, overwrites its hot record, sends ------
LEDGER="$STACK_DIR/ledger"	# acknowledged writes
SENT="$STACK_DIR/sent"		# writes sent (acked or not)
STOP="$STACK_DIR/stop"
: >"$LEDGER"
: >"$SENT"
post() { # token path body -> prints the status, body in $2.out
	curl -sk --max-time 10 -o "$W.out" -w '%{http_code}' -X POST \
	    -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
	    --data-binary "$3" "$BASE$2" 2>/dev/null
}
load() { # device token
	local dev=$1 tok=$2 i=0 n k ch st try data
	W="$STACK_DIR/w-$dev"
	while [ ! -e "$STOP" ]; do
		i=$((i + 1))
		# a batch of 2-5 new records, all or nothing
		n=$((2 + RANDOM % 4))
		ch=""
		for k in $(seq "$n"); do
			data="{\"batch\":\"$dev-b$i\",\"dev\":\"$dev\",\"k\":$k,\"size\":$n}"
			ch+="${ch:+,}{\"collection\":\"chaos\",\"id\":\"$dev-b$i-$k\",\"base_version\":0,\"data\":$data}"
		done
		echo "BATCH $dev-b$i $n" >>"$SENT"
		st=$(post "$tok" /api/v1/sync/push "{\"changes\":[$ch]}")
		if [ "$st" = 200 ] && jq -e '[.results[].status] | length > 0 and all(. == "applied")' "$W.out" >/dev/null 2>&1; then
			for k in $(seq "$n"); do
				echo "REC $dev-b$i-$k {\"batch\":\"$dev-b$i\",\"dev\":\"$dev\",\"k\":$k,\"size\":$n}" >>"$LEDGER"
			done
		fi
		# the device's hot record, overwritten (client_wins: always applies)
		echo "HOT $dev $i" >>"$SENT"
		st=$(post "$tok" /api/v1/sync/push "{\"strategy\":\"client_wins\",\"changes\":[{\"collection\":\"chaos\",\"id\":\"hot-$dev\",\"base_version\":0,\"data\":{\"hot\":$i}}]}")
		if [ "$st" = 200 ] && jq -e '.results[0].status == "applied" or .results[0].status == "unchanged"' "$W.out" >/dev/null 2>&1; then
			echo "HOT $dev $i" >>"$LEDGER"
		fi
		# a message; retried with the same client_msg_id while the server is down
		for try in 1 2 3 4 5 6; do
			st=$(post "$tok" /api/v1/sessions/chaos/messages "{\"client_msg_id\":\"$dev-m$i\",\"body\":{\"dev\":\"$dev\",\"i\":$i}}")
			if [ "$st" = 201 ] || { [ "$st" = 200 ] && [ "$(jq -r .duplicate "$W.out" 2>/dev/null)" = retry ]; }; then
				echo "MSG $dev-m$i" >>"$LEDGER"
				break
			fi
			case $st in 000|502|503|504) sleep 0.3 ;; *) echo "MSGERR $dev-m$i $st $(head -c 200 "$W.out")" >>"$SENT"; break ;; esac
		done
	done
}
load d1 "$T1" &
L1=$!
load d2 "$T2" &
L2=$!
load d3 "$T3" &
L3=$!

KILLS=0
SURVIVED=0
kill_worker() {
	local kids victim
	kids=($(tandemd_children))
	[ ${#kids[@]} -gt 0 ] || { fail "kill a worker" "no tandemd children found"; return; }
	victim=${kids[RANDOM % ${#kids[@]}]}
	kill -9 "$victim" 2>/dev/null
	KILLS=$((KILLS + 1))
	sleep 0.3
	if wait_health 50; then SURVIVED=$((SURVIVED + 1)); else fail "kill -9 worker $victim" "no health within 5 s"; fi
}
sleep 2
for i in 1 2 3 4; do
	kill_worker
	sleep $((1 + RANDOM % 2))
done

# --- kill -9 tandemd's master and nginx, then restart on the same directory --------
tm=$(tandemd_master)
nm=$(nginx_master)
orphans_t=$(tandemd_children)
orphans_n=$(pgrep -P "$nm")
case_ "kill -9 of tandemd's master and nginx's master"
if [ -n "$tm" ] && [ -n "$nm" ]; then
	kill -9 "$tm" "$nm"
	KILLS=$((KILLS + 1))
	ok "$CASE"
else
	fail "$CASE" "master pids not found (tandemd '$tm', nginx '$nm')"
fi
sleep 2
left=""
for p in $orphans_t $orphans_n; do kill -0 "$p" 2>/dev/null && left+=" $p"; done
[ -n "$left" ] && echo "  note: processes outliving their killed master after 2 s:$left ($(ps -o comm= -p "$(echo $left | tr ' ' ',')" | tr '\n' ' '))"
# what is left of the crashed stack goes too, as a whole-machine crash would take it
kill -9 -- "-$STACK_PID" 2>/dev/null
for p in $left; do kill -9 "$p" 2>/dev/null; done
wait "$STACK_PID" 2>/dev/null
sleep 0.5
case_ "the stack restarts on the same data directory"
if stack_restart_same_dir; then
	SURVIVED=$((SURVIVED + 1))
	ok "$CASE"
else
	fail "$CASE" "no health after the restart: $(tail -5 "$STACK_DIR/stack.log")"
fi
sleep 2
kill_worker
sleep 1
kill_worker
sleep 2
touch "$STOP"
wait "$L1" "$L2" "$L3"

# --- compare the ledger with what the server has ------------------------------------
TOKEN=$T1
: >"$STACK_DIR/server"
since=0
for page in $(seq 1000); do
	call GET "/api/v1/sync/pull?since=$since&collections=chaos&limit=1000"
	[ "$STATUS" = 200 ] || { fail "pull" "status $STATUS: ${RBODY:0:200}"; break; }
	printf '%s' "$RBODY" | jq -r '.changes[] | select(.deleted | not) | "\(.id) \(.data | tojson)"' >>"$STACK_DIR/server"
	since=$(jqr .cursor)
	[ "$(jqr .more)" = true ] || break
done
records=$(grep -c '^REC ' "$LEDGER")
case_ "every acknowledged record is on the server with the acked data"
lost=$(awk 'NR == FNR { have[$1] = $2; next } $1 == "REC" && have[$2] != $3 { print $2 " want " $3 " have " (have[$2] ? have[$2] : "nothing") }' \
    <(jq -rc --raw-input 'split(" ") | .[0] + " " + (.[1:] | join(" ") | fromjson | tojson)' "$STACK_DIR/server" 2>/dev/null | awk '{ print $1, $2 }') \
    <(awk '$1 == "REC" { print }' "$LEDGER" | while read -r tag id d; do printf 'REC %s %s\n' "$id" "$(jq -c . <<<"$d")"; done))
[ "$records" -gt 0 ] && [ -z "$lost" ] && ok "$CASE ($records records)" || fail "$CASE" "ledger $records; lost: $(head -5 <<<"$lost")"
case_ "no batch is half applied"
half=$(jq -rc --raw-input 'split(" ") | (.[1:] | join(" ") | fromjson) | select(.batch) | "\(.batch) \(.size)"' "$STACK_DIR/server" |
    sort | uniq -c | awk '$1 != $3 { print $2 ": " $1 " of " $3 }')
batches=$(jq -rc --raw-input 'split(" ") | (.[1:] | join(" ") | fromjson) | select(.batch) | .batch' "$STACK_DIR/server" | sort -u | wc -l)
[ "$batches" -gt 0 ] && [ -z "$half" ] && ok "$CASE ($batches batches on the server)" || fail "$CASE" "$half"
case_ "the last acknowledged overwrite of each hot record is kept"
hot_bad=""
for dev in d1 d2 d3; do
	acked=$(awk -v d="$dev" '$1 == "HOT" && $2 == d { v = $3 } END { print v + 0 }' "$LEDGER")
	sent=$(awk -v d="$dev" '$1 == "HOT" && $2 == d { v = $3 } END { print v + 0 }' "$SENT")
	have=$(grep "^hot-$dev " "$STACK_DIR/server" | cut -d' ' -f2- | jq -r .hot)
	{ [ -n "$have" ] && [ "$have" -ge "$acked" ] && [ "$have" -le "$sent" ]; } || hot_bad+="$dev: acked $acked, sent $sent, server '$have'; "
done
[ -z "$hot_bad" ] && ok "$CASE" || fail "$CASE" "$hot_bad"
: >"$STACK_DIR/msgs"
after=0
for page in $(seq 1000); do
	call GET "/api/v1/sessions/chaos/messages?after=$after&limit=500"
	[ "$STATUS" = 200 ] || { fail "messages" "status $STATUS: ${RBODY:0:200}"; break; }
	printf '%s' "$RBODY" | jq -r '.messages[].client_msg_id' >>"$STACK_DIR/msgs"
	after=$(jqr .next_after)
	[ "$(jqr .more)" = true ] || break
done
msgs=$(grep -c '^MSG ' "$LEDGER")
case_ "every acknowledged message is in the history"
mlost=$(grep '^MSG ' "$LEDGER" | cut -d' ' -f2 | sort -u | comm -23 - <(sort -u "$STACK_DIR/msgs"))
[ "$msgs" -gt 0 ] && [ -z "$mlost" ] && ok "$CASE ($msgs messages)" || fail "$CASE" "lost: $(head -5 <<<"$mlost")"
case_ "no client_msg_id twice in the history"
dups=$(sort "$STACK_DIR/msgs" | uniq -d)
[ -z "$dups" ] && ok "$CASE" || fail "$CASE" "duplicates: $(head -5 <<<"$dups")"
case_ "no message was refused for a reason other than the outage"
errs=$(grep '^MSGERR' "$SENT")
[ -z "$errs" ] && ok "$CASE" || fail "$CASE" "$(head -3 <<<"$errs")"
case_ "kills survived"
[ "$SURVIVED" -eq "$KILLS" ] && ok "$CASE" || fail "$CASE" "$SURVIVED of $KILLS"
if engine_is pg; then
	# PostgreSQL's crash safety is its own; what tandem keeps must agree
	case_ "after the crashes every user's counters agree with the rows"
	ic=$(db_sql "SELECT count(*) FROM users u WHERE event_seq <> coalesce((SELECT max(seq) FROM events e WHERE e.user_id = u.id), 0) OR usage_records <> (SELECT count(*) FROM records r WHERE r.user_id = u.id) OR clock_us < coalesce((SELECT max(version) FROM records r WHERE r.user_id = u.id), 0)" 2>&1)
	[ "$ic" = 0 ] && ok "$CASE" || fail "$CASE" "$ic users disagree"
else
	case_ "PRAGMA integrity_check is ok after the crashes"
	ic=$(sqlite3 "$STACK_DIR/data/tandem.db" 'PRAGMA integrity_check' 2>&1)
	[ "$ic" = ok ] && ok "$CASE" || fail "$CASE" "$ic"
fi
hot=$(grep -c '^HOT ' "$LEDGER")
lostn=$(( $(grep -c . <<<"$lost") + $(grep -c . <<<"$mlost") ))
echo "faults: $KILLS kills, $SURVIVED survived; acknowledged writes checked: $((records + msgs + hot)) ($records records in $batches batches, $msgs messages, $hot overwrites); lost: $lostn"
stack_stop

# --- part 2: disk full, database read-only ---------------------------------------------
if engine_is pg; then
	# the shim fails writes to SQLite's files; PostgreSQL's disk is the
	# server's (its outage is tests/api/test_hosts.sh's kill -9 of it)
	skip_on_pg "disk full and read-only database files are SQLite's (test_hosts.sh kills PostgreSQL instead)"
	finish
	exit $?
fi
# The shim: writes (and read-write opens) of the database files fail while
# $FAULT_FLAG holds "full" (ENOSPC) or "ro" (EROFS / EACCES).
SHIM_DIR=$(mktemp -d /tmp/tandem-faults.XXXXXX)
MNT=""
cleanup_part2() {
	[ -n "$MNT" ] && { umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null; rmdir "$MNT" 2>/dev/null; }
	rm -rf "$SHIM_DIR"
}
trap 'stack_stop; cleanup_part2' EXIT
cat >"$SHIM_DIR/shim.c" <<'SHIM'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* 0, ENOSPC or EROFS, from the flag file's first byte. */
static int
fault(void)
{
	const char *f = getenv("FAULT_FLAG");
	char c = 0;
	int fd;

	if (f == NULL)
		return 0;
	fd = ((int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open"))(f, O_RDONLY);
	if (fd < 0)
		return 0;
	if (read(fd, &c, 1) != 1)
		c = 0;
	close(fd);
	return c == 'f' ? ENOSPC : c == 'r' ? EROFS : 0;
}

static int
is_db_path(const char *p)
{
	const char *db = getenv("FAULT_DB");

	return p != NULL && db != NULL && strncmp(p, db, strlen(db)) == 0;
}

static int
fd_fault(int fd)
{
	char link[64], path[4096];
	ssize_t n;
	int e = fault();

	if (e == 0)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) <= 0)
		return 0;
	path[n] = '\0';
	return is_db_path(path) ? e : 0;
}

#define WRAP(ret, name, params, args, fd)				\
ret name params {							\
	static ret (*real) params;					\
	int e;								\
	if (real == NULL)						\
		real = (ret (*) params)dlsym(RTLD_NEXT, #name);		\
	if ((e = fd_fault(fd)) != 0) {					\
		errno = e;						\
		return -1;						\
	}								\
	return real args;						\
}
WRAP(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n), fd)
WRAP(ssize_t, pwrite, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o), fd)
WRAP(ssize_t, pwrite64, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o), fd)
WRAP(int, ftruncate, (int fd, off_t n), (fd, n), fd)
WRAP(int, ftruncate64, (int fd, off_t n), (fd, n), fd)
WRAP(int, fallocate, (int fd, int m, off_t o, off_t n), (fd, m, o, n), fd)
WRAP(int, posix_fallocate, (int fd, off_t o, off_t n), (fd, o, n), fd)

/* Read-only: a read-write open of a database file is refused. */
#define WRAP_OPEN(name)							\
int name(const char *p, int flags, ...) {				\
	static int (*real)(const char *, int, ...);			\
	va_list ap;							\
	mode_t mode = 0;						\
	if (real == NULL)						\
		real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \
	va_start(ap, flags);						\
	if (flags & O_CREAT)						\
		mode = va_arg(ap, mode_t);				\
	va_end(ap);							\
	if ((flags & (O_RDWR | O_WRONLY | O_CREAT)) && is_db_path(p) &&	\
	    fault() == EROFS) {						\
		errno = EACCES;						\
		return -1;						\
	}								\
	return real(p, flags, mode);					\
}
WRAP_OPEN(open)
WRAP_OPEN(open64)
SHIM
if ! cc -shared -fPIC -O1 -o "$SHIM_DIR/shim.so" "$SHIM_DIR/shim.c" -ldl 2>"$SHIM_DIR/cc.log"; then
	fail "build the fault shim" "$(head -5 "$SHIM_DIR/cc.log")"
	finish
	exit
fi
REAL_TANDEMD=$TANDEMD
cat >"$SHIM_DIR/tandemd" <<WRAPPER
#!/bin/sh
# tandemd with the fault shim (ASan, when built in, must not object)
export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0"
LD_PRELOAD="$SHIM_DIR/shim.so" exec "$REAL_TANDEMD" "\$@"
WRAPPER
chmod +x "$SHIM_DIR/tandemd"
FLAG="$SHIM_DIR/flag"
: >"$FLAG"

MNT=$(mktemp -d /tmp/tandem-full.XXXXXX)
if mount -t tmpfs -o size=6m tmpfs "$MNT" 2>/dev/null; then
	REAL_FULL=1
	DB="$MNT/tandem.db"
else
	REAL_FULL=0
	rmdir "$MNT"
	MNT=""
	DB=""	# set after stack_start: the stack's own directory
	echo "  note: mount -t tmpfs is not allowed here; the disk-full case uses the shim (ENOSPC)"
fi
TANDEMD="$SHIM_DIR/tandemd"
if [ "$REAL_FULL" = 1 ]; then
	stack_start TANDEM_RATE_PER_S=0 TANDEM_DEDUP_WINDOW_MS=0 TANDEM_WORKERS=1 \
	    TANDEM_DB="$DB" FAULT_DB="$DB" FAULT_FLAG="$FLAG"
else
	D=$(mktemp -d /tmp/tandem-db.XXXXXX)
	DB="$D/tandem.db"
	stack_start TANDEM_RATE_PER_S=0 TANDEM_DEDUP_WINDOW_MS=0 TANDEM_WORKERS=1 \
	    TANDEM_DB="$DB" FAULT_DB="$DB" FAULT_FLAG="$FLAG"
fi
TANDEMD=$REAL_TANDEMD
register full@example.com "$PW"
login TF full@example.com "$PW" f1
TOKEN=$TF
call POST /api/v1/sessions '{"id":"full","title":"full"}'
check 201 application/json

BIG="$STACK_DIR/big"
n503=0
bad=""
write_once() { # n: a big record and a message; sets W_STATUS to the statuses
	{ printf '{"changes":[{"collection":"big","id":"r%s","base_version":0,"data":{"s":"' "$1"
	  head -c 200000 /dev/zero | tr '\0' 'x'; printf '"}}]}'; } >"$BIG"
	call POST /api/v1/sync/push "" --data-binary "@$BIG" -H 'Content-Type: application/json' 
	W_STATUS="$STATUS"
	[ "$STATUS" = 503 ] && { [ "$CT" = application/problem+json ] && [ "$(jqr .code)" = SERVICE_UNAVAILABLE ] || bad+="push 503 not a problem document: $RBODY; "; }
	case $STATUS in 200|503) ;; *) bad+="push $STATUS: ${RBODY:0:200}; ";; esac
	call POST /api/v1/sessions/full/messages "{\"client_msg_id\":\"m$1\",\"body\":{\"n\":$1}}"
	W_STATUS+=" $STATUS"
	[ "$STATUS" = 503 ] && { [ "$CT" = application/problem+json ] && [ "$(jqr .code)" = SERVICE_UNAVAILABLE ] || bad+="message 503 not a problem document: $RBODY; "; }
	case $STATUS in 201|503) ;; *) bad+="message $STATUS: ${RBODY:0:200}; ";; esac
}
deaths() { grep -c 'child died' "$STACK_DIR/stack.log"; }

# disk full
case_ "disk full: writes answer 503 problem documents"
if [ "$REAL_FULL" = 1 ]; then
	dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null
else
	printf f >"$FLAG"
fi
got503=0
for i in $(seq 1 12); do
	write_once "$i"
	[[ "$W_STATUS" == *503* ]] && got503=$((got503 + 1))
	[ "$got503" -ge 2 ] && break
done
[ "$got503" -ge 2 ] && [ -z "$bad" ] && ok "$CASE" || fail "$CASE" "503 answers: $got503, last '$W_STATUS'; $bad"
case_ "disk full: reads still answer"
call GET /api/v1/sessions/full
check 200 application/json
case_ "disk full: no crash"
[ "$(deaths)" -eq 0 ] && ok "$CASE" || fail "$CASE" "$(grep -m2 'child died' "$STACK_DIR/stack.log")"
case_ "disk full: recovers when space is freed"
[ -n "$MNT" ] && rm -f "$MNT/filler"
: >"$FLAG"
bad=""
for i in $(seq 100 120); do
	write_once "$i"
	[ "$W_STATUS" = "200 201" ] && break
	sleep 0.5
done
[ "$W_STATUS" = "200 201" ] && ok "$CASE" || fail "$CASE" "still '$W_STATUS': $bad"

# read-only: writes fail with EROFS on the open connections
case_ "read-only: writes answer 503 problem documents"
printf r >"$FLAG"
bad=""
got503=0
for i in $(seq 200 205); do
	write_once "$i"
	[ "$W_STATUS" = "503 503" ] && got503=$((got503 + 1))
done
[ "$got503" -ge 5 ] && [ -z "$bad" ] && ok "$CASE" || fail "$CASE" "'$W_STATUS' ($got503 of 6 all-503); $bad"
case_ "read-only: reads still answer"
call GET /api/v1/collections/big/records/r100
check 200 application/json
case_ "read-only: health says so, as a problem document or ok"
call GET /api/v1/health
case $STATUS in 200) ok "$CASE";; 503) check 503 application/problem+json;; *) fail "$CASE" "status $STATUS";; esac
case_ "read-only: recovers when writable again"
: >"$FLAG"
for i in $(seq 300 320); do
	write_once "$i"
	[ "$W_STATUS" = "200 201" ] && break
	sleep 0.5
done
[ "$W_STATUS" = "200 201" ] && ok "$CASE" || fail "$CASE" "still '$W_STATUS'"

# read-only when a worker (re)opens the database: it gets a read-only connection
case_ "read-only at open: a restarted worker answers 503, not crashes"
printf r >"$FLAG"
for p in $(pgrep -P "$(pgrep -P "$STACK_PID" -f tandemd | head -1)"); do kill -9 "$p"; done
sleep 1.5
bad=""
write_once 400
case $W_STATUS in *503*) [ -z "$bad" ] && ok "$CASE" || fail "$CASE" "$bad";; *) fail "$CASE" "got '$W_STATUS' $bad";; esac
case_ "read-only at open: recovers when writable again"
: >"$FLAG"
for i in $(seq 401 420); do
	write_once "$i"
	[ "$W_STATUS" = "200 201" ] && break
	sleep 0.5
done
[ "$W_STATUS" = "200 201" ] && ok "$CASE" || fail "$CASE" "still '$W_STATUS' 10 s after the fault went away: connections opened read-only are never reopened"
case_ "PRAGMA integrity_check is ok after the faults"
ic=$(sqlite3 "$DB" 'PRAGMA integrity_check' 2>&1)
[ "$ic" = ok ] && ok "$CASE" || fail "$CASE" "$ic"
case_ "no 500 in the log"
n=$(grep -c '"status":500' "$STACK_DIR/stack.log")
[ "$n" -eq 0 ] && ok "$CASE" || fail "$CASE" "$(grep -m2 '"status":500' "$STACK_DIR/stack.log")"
stack_stop
[ "$REAL_FULL" = 0 ] && rm -rf "$(dirname "$DB")"
finish
