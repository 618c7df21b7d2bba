#!/usr/bin/env bash
# test: solo (it loads the machine or measures time: run.sh runs it alone)
# Long polls under load and at the edges of their life:
#  - 200 polls (20 users x 10 devices) wait while pushes run; every poll
#    receives every event of its user exactly once and in order (half of
#    them in pages of 2, so bursts span several polls);
#  - SIGTERM answers waiting polls with 200 and empty events;
#  - clients that give up mid-poll free their threads at once: with 4
#    threads, 12 abandoned polls in a row and a normal request still
#    succeeds quickly.
. "$(dirname "$0")/lib.sh"

# No sanitizer report and no 5xx in this stack's log so far.
log_clean() {
	case_ "no sanitizer report or server error in the log ($1)"
	if grep -qE 'AddressSanitizer|runtime error|LeakSanitizer|"status":5[0-9][0-9]' "$STACK_DIR/stack.log"; then
		fail "$CASE" "$(grep -E 'AddressSanitizer|runtime error|LeakSanitizer|"status":5[0-9][0-9]' "$STACK_DIR/stack.log" | head -3)"
	else
		ok "$CASE"
	fi
}

# --- 200 polls, pushes running -------------------------------------------

stack_start TANDEM_WORKERS=2 TANDEM_THREADS=200 TANDEM_MAX_DEVICES=11 \
    TANDEM_RATE_PER_S=0

case_ "200 waiting polls get every event exactly once and in order while pushes run"
if ! command -v python3 >/dev/null; then
	fail "$CASE" "python3 is needed for this case"
else
	out=$(python3 "$TOP/bench/longpoll.py" order --base "$BASE" --users 20 \
	    --devices 10 --pushes 15 2>"$STACK_DIR/order.err")
	rc=$?
	summary=$(printf '%s\n' "$out" | tail -1)
	if [ "$rc" -eq 0 ] &&
	    [ "$(printf '%s' "$summary" | jq -c '[.polls_waiting, .pushes, .lost, .doubled, .out_of_order, .unexpected, .errors, .all_delivered]')" = '[200,300,0,0,0,0,0,true]' ]; then
		ok "$CASE ($(printf '%s' "$summary" | jq -r .poll_requests) poll requests)"
	else
		fail "$CASE" "rc $rc: $summary $(head -c 300 "$STACK_DIR/order.err")"
	fi
fi

case_ "the polls' waiting count is back to zero"
waiting_until -eq 0 && ok "$CASE" || fail "$CASE" "still $(waiting_now) waiting"

# --- SIGTERM ----------------------------------------------------------------

register sigterm@example.com password-sigterm-1
login T1 sigterm@example.com password-sigterm-1 t1
TOKEN=$T1
call GET /api/v1/events
cur=$(jqr .cursor)
for i in 1 2 3; do
	curl -sk -o "$STACK_DIR/term$i.body" -w '%{http_code} %{time_total}' \
	    --max-time 40 -H "Authorization: Bearer $T1" \
	    "$BASE/api/v1/events?after=$cur&timeout=30" > "$STACK_DIR/term$i.st" &
	eval "tp$i=\$!"
done
case_ "SIGTERM answers waiting polls with 200 and empty events"
waiting_until -ge 3 || fail "$CASE" "the polls are not waiting"
master=$(pgrep -P "$STACK_PID" -x tandemd | head -1)
t0=$(ms_now)
kill -TERM "$master"
for i in 1 2 3; do
	eval "wait \$tp$i"
	read -r code took < "$STACK_DIR/term$i.st"
	body=$(cat "$STACK_DIR/term$i.body")
	if [ "$code" = 200 ] && [ "$(printf '%s' "$body" | jq -c '[.events, .cursor]')" = "[[],$cur]" ]; then
		ok "$CASE ($i)"
	else
		fail "$CASE" "poll $i: $code $body"
	fi
done
el=$(( $(ms_now) - t0 ))
case_ "SIGTERM answered the polls at once"
[ "$el" -lt 2000 ] && ok "$CASE (${el} ms)" || fail "$CASE" "${el} ms"
for i in $(seq 1 50); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
case_ "tandemd stopped after answering"
kill -0 "$master" 2>/dev/null && fail "$CASE" "still running" || ok "$CASE"
log_clean "load, SIGTERM"
stack_stop

# --- clients that go away -------------------------------------------------

stack_start TANDEM_WORKERS=1 TANDEM_THREADS=4
register gone@example.com password-gone-123
login G1 gone@example.com password-gone-123 g1
TOKEN=$G1
call GET /api/v1/events
cur=$(jqr .cursor)

# 12 polls whose clients give up after 1 s, 4 at a time, on 4 threads:
# each round finds the threads the previous round's polls held.
for round in 1 2 3; do
	pids=""
	for i in 1 2 3 4; do
		curl -sk -o /dev/null --max-time 1 -H "Authorization: Bearer $G1" \
		    "$BASE/api/v1/events?after=$cur&timeout=30" &
		pids="$pids $!"
	done
	wait $pids
done

case_ "no poll is left waiting within 2 s of its client leaving"
t0=$(ms_now)
if waiting_until -eq 0 && [ $(( $(ms_now) - t0 )) -lt 2000 ]; then
	ok "$CASE"
else
	fail "$CASE" "still $(waiting_now) waiting after $(( $(ms_now) - t0 )) ms"
fi

case_ "a normal request is served at once afterwards"
t0=$(ms_now)
call GET "/api/v1/events?after=$cur&timeout=0" "" --max-time 3
check 200 application/json '.events' '[]'
el=$(( $(ms_now) - t0 ))
[ "$el" -lt 1000 ] && ok "$CASE (${el} ms)" || fail "$CASE" "${el} ms"

case_ "a disconnect ends the poll: the log shows each ended ~1 s after it began"
# (curl's 1 s includes the TLS handshake, so tandemd sees a bit less)
n=$(grep '"path":"/api/v1/events"' "$STACK_DIR/stack.log" | jq -r 'select(.ms > 500) | .ms' | awk '$1 < 1800' | wc -l)
[ "$n" -ge 12 ] && ok "$CASE ($n)" || fail "$CASE" "only $n of 12 polls ended between 0.5 and 1.8 s"

log_clean "abandoned polls"

finish
