#!/usr/bin/env bash
# Events and long polling: GET /events (answer at once, wait, time out,
# pages, exclude_self, session filter), POST /events (app.* only, sizes),
# and long polls woken by every kind of write: an app event served by the
# other worker process, a session, a message, a kill, a primary claim, a
# failover done by the sweeper process, a device revocation (whose own
# waiting poll learns it at once).
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_WORKERS=2 TANDEM_PRIMARY_TTL_MS=1500 TANDEM_SWEEP_MS=200

PW=password-events-1
register ev-alice@example.com "$PW"
register ev-bob@example.com "$PW"
login A1 ev-alice@example.com "$PW" a1
login A2 ev-alice@example.com "$PW" a2
login A3 ev-alice@example.com "$PW" a3
login B1 ev-bob@example.com "$PW" b1

# The events cursor of the user of $TOKEN now.
cursor_now() {
	call GET /api/v1/events
	jqr .cursor
}

# poll_bg NAME TOKEN QUERY [curl args]: GET /api/v1/events?QUERY in the
# background.  poll_done NAME then sets PSTATUS, PBODY, PEND (ms clock at
# the answer) and PMS (how long the request took).
poll_bg() {
	local name=$1 tok=$2 q=$3
	shift 3
	(
		t0=$(ms_now)
		code=$(curl -sk -o "$STACK_DIR/$name.body" -w '%{http_code}' \
		    --max-time 70 -H "Authorization: Bearer $tok" "$@" \
		    "$BASE/api/v1/events?$q")
		t1=$(ms_now)
		echo "$code $t1 $((t1 - t0))" > "$STACK_DIR/$name.st"
	) &
	printf -v "PID_$name" '%s' "$!"
}
poll_done() {
	local pid_var="PID_$1"
	wait "${!pid_var}" 2>/dev/null
	read -r PSTATUS PEND PMS < "$STACK_DIR/$1.st"
	PBODY=$(cat "$STACK_DIR/$1.body")
}
pjq() {
	printf '%s' "$PBODY" | jq -c "$1" 2>&1
}

# Wait until tandemd counts at least N waiting polls (via /metrics, which
# loopback may read); returns 1 after 5 s.
waiting_at_least() {
	local i n
	for i in $(seq 1 100); do
		n=$(curl -sk "$BASE/metrics" | awk '/^tandem_longpoll_waiting/ {print int($2)}')
		[ -n "$n" ] && [ "$n" -ge "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# expect_wake NAME WRITE_MS TYPE JQ EXPECTED: the background poll NAME
# answered 200 within 1.5 s of the write (done at WRITE_MS) with an event
# of TYPE, whose JQ (over that event) prints EXPECTED.
expect_wake() {
	local name=$1 wrote=$2 type=$3 expr=${4:-.type} want=${5:-}
	local ev="[.events[] | select(.type == \"$type\")][0]"
	poll_done "$name"
	local lag=$((PEND - wrote))
	[ -z "$want" ] && want="\"$type\""
	if [ "$PSTATUS" != 200 ]; then
		fail "$CASE" "poll status $PSTATUS: $PBODY"
	elif [ "$(pjq "$ev | .type")" != "\"$type\"" ]; then
		fail "$CASE" "no $type event: ${PBODY:0:300}"
	elif [ "$(pjq "$ev | $expr")" != "$want" ]; then
		fail "$CASE" "$expr = $(pjq "$ev | $expr"), want $want"
	elif [ "$lag" -gt 1500 ]; then
		fail "$CASE" "woke ${lag} ms after the write"
	else
		ok "$CASE"
	fi
}

# --- GET /events: shape and validation --------------------------------

case_ "GET /events needs a token"
TOKEN=""
call GET /api/v1/events
check 401 application/problem+json '.code' '"INVALID_TOKEN"'

TOKEN=$A1
case_ "GET /events without after answers at once with the cursor"
t0=$(ms_now)
call GET /api/v1/events
check 200 application/json '.events' '[]' '.more' 'false' '.cursor|type' '"number"'
[ $(( $(ms_now) - t0 )) -lt 1000 ] && ok "$CASE: at once" || fail "$CASE" "took $(( $(ms_now) - t0 )) ms"
C0=$(jqr .cursor)

case_ "the logins' device.registered events are there"
call GET "/api/v1/events?after=0&timeout=0"
check 200 application/json '[.events[].type] | unique' '["device.registered"]' \
    '[.events[].data.device_id]' '["a1","a2","a3"]' '.cursor' "$C0" '.more' 'false'

case_ "events have seq, type, at, device_id, data and seq counts from 1"
check 200 application/json '.events[0] | keys' '["at","data","device_id","seq","type"]' \
    '.events[0].seq' '1' '[.events[].seq]' '[1,2,3]' '.events[0].device_id' '"a1"' \
    '.events[0].at|type' '"number"'

for bad in "after=-1:after" "after=abc:after" "after=:after" "after=1.5:after" \
    "timeout=56:timeout" "timeout=-1:timeout" "timeout=x:timeout" \
    "limit=0:limit" "limit=1001:limit" "limit=-5:limit" \
    "exclude_self=2:exclude_self" "exclude_self=yes:exclude_self" \
    "session_id=a%20b:session_id" "after=99999999999999999999:after"; do
	q=${bad%:*}
	field=${bad##*:}
	case_ "GET /events?$q is 400 naming $field"
	call GET "/api/v1/events?$q"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' "\"$field\""
done

case_ "the limits' edges are accepted"
call GET "/api/v1/events?after=0&timeout=0&limit=1000"
check 200 application/json '.cursor' "$C0"
call GET "/api/v1/events?after=0&timeout=55&limit=1"
check 200 application/json '.events|length' '1' '.more' 'true' '.cursor' '1'

case_ "another user's events are not seen"
TOKEN=$B1
call GET "/api/v1/events?after=0&timeout=0"
check 200 application/json '[.events[].data.device_id]' '["b1"]' '.cursor' '1'
TOKEN=$A1

# --- POST /events ------------------------------------------------------

case_ "POST /events stores an app event and answers 201 {event}"
call POST /api/v1/events '{"type":"app.progress","data":{"pct":40,"items":[1,"two",null],"nested":{"ok":true}}}'
check 201 application/json '.event.seq' "$((C0 + 1))" '.event.type' '"app.progress"' \
    '.event.device_id' '"a1"' '.event.data == {"items":[1,"two",null],"nested":{"ok":true},"pct":40}' 'true' \
    '.event.at|type' '"number"' '.event|keys' '["at","data","device_id","seq","type"]'
E1=$(jqr .event.seq)

case_ "the stored event reads back the same"
call GET "/api/v1/events?after=$C0&timeout=0"
check 200 application/json '.events|length' '1' '.events[0].seq' "$E1" \
    '.events[0].data == {"items":[1,"two",null],"nested":{"ok":true},"pct":40}' 'true' '.cursor' "$E1"

case_ "data may be any JSON value (null, a string, a number, an array)"
for d in 'null' '"done"' '42' '[1,2]' 'false'; do
	call POST /api/v1/events "{\"type\":\"app.ack\",\"data\":$d}"
	check 201 application/json '.event.data' "$(printf '%s' "$d" | jq -c .)"
done

case_ "type edges: app.[a-z0-9._-], 60 bytes after app."
long60=$(printf 'x%.0s' $(seq 60))
for t in "app.a" "app.0-9_x.y" "app.$long60"; do
	call POST /api/v1/events "{\"type\":\"$t\",\"data\":{}}"
	check 201 application/json '.event.type' "\"$t\""
done

case_ "session_id tags the event; GET ?session_id= keeps only those"
C1=$(cursor_now)
call POST /api/v1/events '{"type":"app.note","data":1,"session_id":"chat-1"}'
check 201 application/json
call POST /api/v1/events '{"type":"app.note","data":2,"session_id":"chat-2"}'
call POST /api/v1/events '{"type":"app.note","data":3}'
call GET "/api/v1/events?after=$C1&timeout=0&session_id=chat-1"
check 200 application/json '[.events[].data]' '[1]' '.cursor' "$((C1 + 3))"

C2=$(cursor_now)
long61=$(printf 'x%.0s' $(seq 61))
for bad in '{"type":"record.changed","data":{}}:type' '{"type":"device.revoked","data":{}}:type' \
    '{"type":"app.","data":{}}:type' '{"type":"app","data":{}}:type' \
    '{"type":"app.Upper","data":{}}:type' '{"type":"app.a b","data":{}}:type' \
    '{"type":"app.a/b","data":{}}:type' "{\"type\":\"app.$long61\",\"data\":{}}:type" \
    '{"type":"APP.x","data":{}}:type' '{"type":" app.x","data":{}}:type' \
    '{"type":"app.x\u0000","data":{}}:body' '{"type":7,"data":{}}:type' \
    '{"type":null,"data":{}}:type' '{"data":{}}:type' '{"type":"app.x"}:data' \
    '{"type":"app.x","data":1,"session_id":"a b"}:session_id' \
    '{"type":"app.x","data":1,"session_id":5}:session_id' \
    '[1]:body' '"app.x":body' '{"type":"app.x","data":1:body'; do
	body=${bad%:*}
	field=${bad##*:}
	case_ "POST /events $body is 400 naming $field"
	call POST /api/v1/events "$body"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' "\"$field\""
done

case_ "POST /events without a body is 400"
call POST /api/v1/events
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'

case_ "data of 16384 canonical bytes is accepted, 16385 is 413 naming data"
# {"s":"xxx…"} is 8 bytes plus the string
pad=$(head -c $((16384 - 8)) /dev/zero | tr '\0' 'x')
call POST /api/v1/events "{\"type\":\"app.big\",\"data\":{\"s\":\"$pad\"}}"
check 201 application/json '.event.type' '"app.big"'
call POST /api/v1/events "{\"type\":\"app.big\",\"data\":{\"s\":\"${pad}y\"}}"
check 413 application/problem+json '.code' '"PAYLOAD_TOO_LARGE"' '.field' '"data"'

case_ "the size is taken canonically: white space does not count"
call POST /api/v1/events "{\"type\":\"app.big\",   \"data\" : {  \"s\" :  \"$pad\"  }  }"
check 201 application/json

case_ "rejected posts wrote nothing"
C3=$(cursor_now)
[ "$C3" = $((C2 + 2)) ] && ok "$CASE" || fail "$CASE" "cursor went from $C2 to $C3, want $((C2 + 2))"

case_ "GET /events pages with limit and more"
call GET "/api/v1/events?after=$C0&timeout=0&limit=2"
check 200 application/json '.events|length' '2' '.more' 'true' '.cursor' "$((C0 + 2))"
n=2
cur=$(jqr .cursor)
while [ "$(jqr .more)" = true ]; do
	call GET "/api/v1/events?after=$cur&timeout=0&limit=2"
	n=$((n + $(jqr '.events|length')))
	prev=$cur
	cur=$(jqr .cursor)
	[ "$cur" -gt "$prev" ] || break
done
[ "$n" = $((C3 - C0)) ] && [ "$cur" = "$C3" ] && ok "$CASE: all pages" || fail "$CASE" "got $n events to $cur, want $((C3 - C0)) to $C3"

case_ "after beyond the newest seq waits, and answers the newest seq as cursor"
t0=$(ms_now)
call GET "/api/v1/events?after=$((C3 + 5))&timeout=1"
check 200 application/json '.events' '[]' '.cursor' "$C3"
el=$(( $(ms_now) - t0 ))
[ "$el" -ge 900 ] && ok "$CASE: waited" || fail "$CASE" "answered after $el ms"

case_ "a poll beyond the newest seq gets the next event, not skipping it"
curl -sk -o "$STACK_DIR/ahead" -H "Authorization: Bearer $TOKEN" \
    "$BASE/api/v1/events?after=$((C3 + 5))&timeout=10" &
ahead=$!
sleep 0.5
call POST /api/v1/events '{"type":"app.ahead","data":{}}'
check 201 application/json '.event.seq' "$((C3 + 1))"
wait "$ahead"
got=$(jq -c '[.events[].seq, .cursor]' "$STACK_DIR/ahead" 2>&1)
[ "$got" = "[$((C3 + 1)),$((C3 + 1))]" ] && ok "$CASE" || fail "$CASE" "got $got"
C3=$((C3 + 1))

# --- waiting ----------------------------------------------------------

case_ "timeout=0 answers at once"
t0=$(ms_now)
call GET "/api/v1/events?after=$C3&timeout=0"
check 200 application/json '.events' '[]' '.cursor' "$C3" '.more' 'false'
[ $(( $(ms_now) - t0 )) -lt 500 ] && ok "$CASE: at once" || fail "$CASE" "took $(( $(ms_now) - t0 )) ms"

case_ "a poll with nothing new times out after ~timeout, empty"
t0=$(ms_now)
call GET "/api/v1/events?after=$C3&timeout=2"
check 200 application/json '.events' '[]' '.cursor' "$C3" '.more' 'false'
el=$(( $(ms_now) - t0 ))
[ "$el" -ge 1950 ] && [ "$el" -lt 3500 ] && ok "$CASE: ${el} ms" || fail "$CASE" "answered after $el ms"

case_ "a waiting poll holds no thread budget against others: a write meanwhile is served"
poll_bg idle "$A2" "after=$C3&timeout=2"
waiting_at_least 1 || fail "$CASE" "the poll is not counted as waiting"
call GET /api/v1/health
check 200 application/json
poll_done idle

case_ "a poll wakes on an app event from another device"
poll_bg w1 "$A2" "after=$C3&timeout=10"
waiting_at_least 1
sleep 0.2
wrote=$(ms_now)
call POST /api/v1/events '{"type":"app.ping","data":{"n":1}}'
check 201 application/json
expect_wake w1 "$wrote" app.ping '.data.n' '1'
[ "$(pjq .cursor)" = "$(jqr .event.seq)" ] && ok "$CASE: cursor" || fail "$CASE" "cursor $(pjq .cursor)"
C4=$(jqr .event.seq)

case_ "another user's write does not wake a poll"
poll_bg iso "$B1" "after=1&timeout=2"
waiting_at_least 1
call POST /api/v1/events '{"type":"app.ping","data":{"n":2}}'
C4=$(jqr .event.seq)
poll_done iso
if [ "$PSTATUS" = 200 ] && [ "$(pjq .events)" = "[]" ] && [ "$PMS" -ge 1900 ]; then
	ok "$CASE"
else
	fail "$CASE" "status $PSTATUS after $PMS ms: $PBODY"
fi

# --- exclude_self --------------------------------------------------------

case_ "exclude_self=1 skips own events at once and moves the cursor past them"
call POST /api/v1/events '{"type":"app.mine","data":1}'
own=$(jqr .event.seq)
call GET "/api/v1/events?after=$C4&timeout=0&exclude_self=1"
check 200 application/json '.events' '[]' '.cursor' "$own"
call GET "/api/v1/events?after=$C4&timeout=0&exclude_self=0"
check 200 application/json '[.events[].seq]' "[$own]"

case_ "exclude_self=1 keeps others' events"
TOKEN=$A2
call GET "/api/v1/events?after=$C4&timeout=0&exclude_self=1"
check 200 application/json '[.events[].seq]' "[$own]"
TOKEN=$A1

case_ "exclude_self: a poll that only sees its own events goes on waiting, then answers the other's"
poll_bg ex "$A1" "after=$own&timeout=10&exclude_self=1"
waiting_at_least 1
call POST /api/v1/events '{"type":"app.mine","data":2}'
own2=$(jqr .event.seq)
sleep 0.5
TOKEN=$A2
wrote=$(ms_now)
call POST /api/v1/events '{"type":"app.theirs","data":3}'
theirs=$(jqr .event.seq)
TOKEN=$A1
expect_wake ex "$wrote" app.theirs '.seq' "$theirs"
[ "$(pjq '[.events[].seq]')" = "[$theirs]" ] && [ "$(pjq .cursor)" = "$theirs" ] &&
    ok "$CASE: own event $own2 skipped" || fail "$CASE" "$PBODY"

case_ "exclude_self: only own events until the timeout: empty, cursor past them"
t0=$(ms_now)
poll_bg ex2 "$A1" "after=$theirs&timeout=2&exclude_self=1"
waiting_at_least 1
call POST /api/v1/events '{"type":"app.mine","data":4}'
own3=$(jqr .event.seq)
poll_done ex2
if [ "$PSTATUS" = 200 ] && [ "$(pjq .events)" = "[]" ] && [ "$(pjq .cursor)" = "$own3" ] && [ "$PMS" -ge 1900 ]; then
	ok "$CASE"
else
	fail "$CASE" "status $PSTATUS after $PMS ms: $PBODY"
fi
C5=$own3

# --- across worker processes -------------------------------------------

case_ "a poll wakes on a write served by the other worker process"
# The kernel hands connections to the threads blocked in accept() in
# turn, which serves runs of requests from one process; a varying number
# of requests between the poll and the write lands them in either.
cross=0
slow=0
for i in $(seq 1 12); do
	poll_bg x$i "$A2" "after=$C5&timeout=10" -H "X-Request-Id: xpoll-$i"
	waiting_at_least 1
	n=$(( (i * 23) % 64 ))
	[ "$n" -gt 0 ] && curl -sk $(for j in $(seq 1 $n); do echo "$BASE/api/v1/health"; done) >/dev/null
	sleep 0.1
	wrote=$(ms_now)
	call POST /api/v1/events "{\"type\":\"app.x\",\"data\":$i}" -H "X-Request-Id: xpush-$i"
	C5=$(jqr .event.seq)
	poll_done x$i
	[ "$PSTATUS" = 200 ] && [ "$(pjq '.events[0].seq')" = "$C5" ] && [ $((PEND - wrote)) -lt 1500 ] || slow=$((slow + 1))
	sleep 0.1
	ppid=$(grep '"request_id":"xpoll-'$i'"' "$STACK_DIR/stack.log" | grep -o '"pid":[0-9]*' | head -1)
	wpid=$(grep '"request_id":"xpush-'$i'"' "$STACK_DIR/stack.log" | grep -o '"pid":[0-9]*' | head -1)
	[ -n "$ppid" ] && [ -n "$wpid" ] && [ "$ppid" != "$wpid" ] && cross=$((cross + 1))
	[ "$cross" -ge 2 ] && [ "$i" -ge 4 ] && break
done
if [ "$slow" -eq 0 ] && [ "$cross" -ge 1 ]; then
	ok "$CASE ($cross of $i tries crossed processes)"
else
	fail "$CASE" "$slow tries did not wake in time; $cross of $i crossed processes"
fi

# --- woken by the other capabilities --------------------------------------

case_ "a poll wakes on session.created"
poll_bg s1 "$A2" "after=$C5&timeout=10"
waiting_at_least 1
wrote=$(ms_now)
call POST /api/v1/sessions '{"id":"ev-s1","title":"t"}'
check 201 application/json
expect_wake s1 "$wrote" session.created '.data.session_id' '"ev-s1"'
C6=$(pjq .cursor)

case_ "a poll wakes on message.created"
poll_bg m1 "$A2" "after=$C6&timeout=10"
waiting_at_least 1
wrote=$(ms_now)
call POST /api/v1/sessions/ev-s1/messages '{"client_msg_id":"m-1","body":{"text":"hello"}}'
check 201 application/json
mid=$(jqr .message.id)
expect_wake m1 "$wrote" message.created '[.data.session_id, .data.id, .data.seq, .device_id]' "[\"ev-s1\",$(printf '%s' "$RBODY" | jq -c .message.id),1,\"a1\"]"
C6=$(pjq .cursor)

case_ "a poll wakes on primary.changed (claim)"
poll_bg p1 "$A3" "after=$C6&timeout=10"
waiting_at_least 1
wrote=$(ms_now)
call POST /api/v1/sessions/ev-s1/primary '{"action":"claim"}'
check 200 application/json '.primary.device_id' '"a1"'
expect_wake p1 "$wrote" primary.changed '[.data.session_id, .data.device_id, .data.epoch]' '["ev-s1","a1",1]'
C6=$(pjq .cursor)

case_ "a poll wakes on primary.changed from the sweeper's failover (device_id null)"
# a2 takes part in the session; a1's 1.5 s lease lapses; the sweeper
# process hands the role to a2 and rings the doorbell.
claimed=$wrote
TOKEN=$A2
call POST /api/v1/sessions/ev-s1/messages '{"client_msg_id":"m-2","body":"from a2"}'
check 201 application/json
TOKEN=$A1
cur=$C6
found=""
while [ -z "$found" ] && [ $(( $(ms_now) - claimed )) -lt 6000 ]; do
	poll_bg f1 "$A3" "after=$cur&timeout=5&session_id=ev-s1"
	poll_done f1
	[ "$PSTATUS" = 200 ] || break
	found=$(pjq '.events[] | select(.type == "primary.changed") | [.device_id, .data.device_id, .data.session_id, .data.epoch]')
	cur=$(pjq .cursor)
done
if [ "$found" = '[null,"a2","ev-s1",2]' ] && [ $((PEND - claimed)) -lt 5000 ]; then
	ok "$CASE ($((PEND - claimed)) ms after the claim)"
else
	fail "$CASE" "status $PSTATUS, found '$found' $((PEND - claimed)) ms after the claim: ${PBODY:0:300}"
fi
C6=$(TOKEN=$A3 cursor_now)

case_ "a poll wakes on session.killed"
poll_bg k1 "$A2" "after=$C6&timeout=10"
waiting_at_least 1
wrote=$(ms_now)
call POST /api/v1/sessions/ev-s1/kill '{"reason":"done"}'
check 200 application/json
expect_wake k1 "$wrote" session.killed '.data.session_id' '"ev-s1"'
C6=$(pjq .cursor)
# the kill also released the primary role
TOKEN=$A2
call GET "/api/v1/events?after=$C6&timeout=0"
TOKEN=$A1
C6=$(jqr .cursor)

case_ "a poll wakes on device.revoked; the revoked device's own poll answers 401"
poll_bg r2 "$A2" "after=$C6&timeout=10"
poll_bg r3 "$A3" "after=$C6&timeout=10"
waiting_at_least 2
wrote=$(ms_now)
call DELETE /api/v1/devices/a3
check 204 -
expect_wake r2 "$wrote" device.revoked '[.data.device_id, .device_id]' '["a3","a1"]'
case_ "the revoked device's waiting poll answers 401 DEVICE_REVOKED at once"
poll_done r3
if [ "$PSTATUS" = 401 ] && [ "$(pjq .code)" = '"DEVICE_REVOKED"' ] && [ $((PEND - wrote)) -lt 1500 ]; then
	ok "$CASE"
else
	fail "$CASE" "status $PSTATUS $((PEND - wrote)) ms after the revocation: $PBODY"
fi
C7=$(pjq .cursor)

case_ "a logged-out device's waiting poll (exclude_self) answers 401 too"
TOKEN=$A2
C8=$(cursor_now)
poll_bg lo "$A2" "after=$C8&timeout=10&exclude_self=1"
waiting_at_least 1
wrote=$(ms_now)
call POST /api/v1/auth/logout
check 204 -
TOKEN=$A1
poll_done lo
if [ "$PSTATUS" = 401 ] && [ "$(pjq .code)" = '"DEVICE_REVOKED"' ] && [ $((PEND - wrote)) -lt 1500 ]; then
	ok "$CASE"
else
	fail "$CASE" "status $PSTATUS $((PEND - wrote)) ms after the logout: $PBODY"
fi

case_ "the sweeper keeps events younger than TANDEM_EVENT_DAYS"
call GET "/api/v1/events?after=0&timeout=0&limit=1"
check 200 application/json '.events[0].seq' '1' '.more' 'true'

case_ "nothing went to the log as a server error"
if grep -q '"status":5[0-9][0-9]' "$STACK_DIR/stack.log" || grep -qE 'AddressSanitizer|runtime error' "$STACK_DIR/stack.log"; then
	fail "$CASE" "$(grep -E '"status":5[0-9][0-9]|AddressSanitizer|runtime error' "$STACK_DIR/stack.log" | head -3)"
else
	ok "$CASE"
fi

finish
