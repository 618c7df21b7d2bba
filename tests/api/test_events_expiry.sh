#!/usr/bin/env bash
# Event pruning: with TANDEM_EVENT_DAYS=0 the sweeper (every 200 ms)
# deletes every event at once and raises each user's floor to the newest
# seq it deleted; a cursor below the floor is 410 CURSOR_EXPIRED, the
# floor itself is a valid cursor, and floors are per user.
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_WORKERS=2 TANDEM_EVENT_DAYS=0 TANDEM_SWEEP_MS=200

PW=password-expiry-1
register ex-alice@example.com "$PW"
register ex-bob@example.com "$PW"
login A1 ex-alice@example.com "$PW" a1
TOKEN=$A1

case_ "an app event is stored"
call POST /api/v1/events '{"type":"app.old","data":{}}'
check 201 application/json '.event.seq' '2'

# Wait (up to 10 s) until the sweeper has pruned both of alice's events
# (device.registered, then app.old): after=1 is then below the floor.
wait_pruned() {
	local i
	for i in $(seq 1 100); do
		call GET "/api/v1/events?after=$1&timeout=0"
		[ "$STATUS" = 410 ] && return 0
		sleep 0.1
	done
	return 1
}
wait_pruned 1

case_ "a cursor below the newest pruned seq is 410 CURSOR_EXPIRED"
call GET "/api/v1/events?after=0&timeout=0"
check 410 application/problem+json '.code' '"CURSOR_EXPIRED"' '.status' '410'
call GET "/api/v1/events?after=1"
check 410 application/problem+json '.code' '"CURSOR_EXPIRED"'

case_ "an expired cursor answers at once, it does not wait"
t0=$(date +%s%N)
call GET "/api/v1/events?after=1&timeout=10"
check 410 application/problem+json '.code' '"CURSOR_EXPIRED"'
el=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$el" -lt 1000 ] && ok "$CASE" || fail "$CASE" "took $el ms"

case_ "the newest pruned seq is a valid cursor"
call GET "/api/v1/events?after=2&timeout=0"
check 200 application/json '.events' '[]' '.cursor' '2' '.more' 'false'

case_ "without after: the current cursor, to start again from"
call GET /api/v1/events
check 200 application/json '.events' '[]' '.cursor' '2'

case_ "floors are per user: bob's first event is pruned, his cursor 1 still works"
login B1 ex-bob@example.com "$PW" b1
TOKEN=$B1
wait_pruned 0
check 410 application/problem+json '.code' '"CURSOR_EXPIRED"'
call GET "/api/v1/events?after=1&timeout=0"
check 200 application/json '.events' '[]' '.cursor' '1'
TOKEN=$A1
call GET "/api/v1/events?after=1&timeout=0"
check 410 application/problem+json '.code' '"CURSOR_EXPIRED"'

case_ "the sweeper logged no failure"
if grep -q 'sweep: \|event floor behind' "$STACK_DIR/stack.log"; then
	fail "$CASE" "$(grep 'sweep: \|event floor behind' "$STACK_DIR/stack.log" | head -2)"
else
	ok "$CASE"
fi

case_ "no sanitizer report or server error in the log"
if grep -qE 'AddressSanitizer|runtime error|LeakSanitizer|"status":5[0-9][0-9]' "$STACK_DIR/stack.log"; then
	fail "$CASE" "$(grep -E 'AddressSanitizer|runtime error|LeakSanitizer|"status":5[0-9][0-9]' "$STACK_DIR/stack.log" | head -3)"
else
	ok "$CASE"
fi

finish
