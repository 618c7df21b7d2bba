#!/usr/bin/env bash
# The event stream: GET /events with Accept: text/event-stream (API.md,
# "The event stream"), through nginx, with curl -N and tests/api/sse.py.
. "$(dirname "$0")/lib.sh"
if engine_is pg; then
	# the waiting count of /metrics is one host's (test_hosts.sh wakes across hosts)
	export TANDEM_HOSTS=1
	echo "  note test_stream (postgresql): one host; /metrics counts one host's waiting polls"
fi

SSE="python3 $TOP/tests/api/sse.py"
push() { # TOKEN ID
	curl -sk -o /dev/null -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
	    -d "{\"changes\":[{\"collection\":\"s\",\"id\":\"$2\",\"base_version\":0,\"data\":{\"v\":1}}]}" \
	    "$BASE/api/v1/sync/push"
}

app_event() { # TOKEN TYPE [SESSION]
	local sid=""
	[ -n "${3:-}" ] && sid=",\"session_id\":\"$3\""
	curl -sk -o /dev/null -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
	    -d "{\"type\":\"$2\",\"data\":{\"n\":1.50}$sid}" "$BASE/api/v1/events"
}

# blocks of a sse.py output file that carry an event: "id event" lines
ids_of() { jq -r 'select(.id != null) | "\(.id) \(.event)"' "$1"; }

stack_start TANDEM_WORKERS=2 TANDEM_STREAM_MAX_S=18 TANDEM_RATE_PER_S=0

register stream@example.com password-stream-1
login A stream@example.com password-stream-1 alpha
login B stream@example.com password-stream-1 beta
register other@example.com password-other-1
login O other@example.com password-other-1 omega

# A stream left alone from the start: its : ping at 15 s, its end at 18 s.
$SSE "$BASE" "$O" "/api/v1/events" --for 25 > "$STACK_DIR/quiet.out" &
quiet_pid=$!

# --- the head, retry:, the events so far ------------------------------------

case_ "the stream's head: 200 text/event-stream, no-store, nginx passes it unbuffered"
curl -skN -D "$STACK_DIR/h1" -o "$STACK_DIR/b1" --max-time 2 \
    -H "Authorization: Bearer $A" -H 'Accept: text/event-stream' \
    "$BASE/api/v1/events?after=0"
hdr=$(tr -d '\r' < "$STACK_DIR/h1")
if printf '%s' "$hdr" | grep -qi '^content-type: text/event-stream' &&
    printf '%s' "$hdr" | grep -qi '^cache-control: no-store' &&
    printf '%s' "$hdr" | grep -qi '^HTTP/[0-9.]* 200' &&
    ! printf '%s' "$hdr" | grep -qi '^x-accel-buffering'; then
	ok "$CASE"
else
	fail "$CASE" "$hdr"
fi

case_ "it opens with retry: between 2000 and 5000 ms, a block of its own"
first=$(head -2 "$STACK_DIR/b1" | tr '\n' '|')
r=$(printf '%s' "$first" | sed -n 's/^retry: \([0-9]*\)||$/\1/p')
[ -n "$r" ] && [ "$r" -ge 2000 ] && [ "$r" -le 5000 ] && ok "$CASE ($r)" || fail "$CASE" "$first"

case_ "the retry: differs between streams (drawn at random)"
rs=""
for i in 1 2 3 4 5 6; do
	rs="$rs $(curl -skN --max-time 1 -H "Authorization: Bearer $A" -H 'Accept: text/event-stream' \
	    "$BASE/api/v1/events" 2>/dev/null | sed -n 's/^retry: //p' | head -1)"
done
n=$(printf '%s\n' $rs | sort -u | wc -l)
[ "$n" -ge 2 ] && ok "$CASE ($rs)" || fail "$CASE" "$rs"

app_event "$B" app.one
app_event "$B" app.two
push "$B" r1
case_ "after=0: every event so far, in seq order, id = seq, event = type, data = the poll's event object"
$SSE "$BASE" "$A" "/api/v1/events?after=0" --for 1.5 > "$STACK_DIR/all.out"
TOKEN=$A
call GET "/api/v1/events?after=0&limit=1000"
want=$(printf '%s' "$RBODY" | jq -c '[.events[] | {id: (.seq | tostring), event: .type, data: .}]')
got=$(jq -c -s '[.[] | select(.id != null) | {id, event, data}]' "$STACK_DIR/all.out")
[ "$want" = "$got" ] && [ "$(printf '%s' "$want" | jq length)" -ge 5 ] &&
    ok "$CASE" || fail "$CASE" "want $want got $got"
head_seq=$(printf '%s' "$RBODY" | jq .cursor)

case_ "numbers in data keep their canonical form (1.50 is 1.5)"
curl -skN --max-time 1 -H "Authorization: Bearer $A" -H 'Accept: text/event-stream' \
    "$BASE/api/v1/events?after=0" > "$STACK_DIR/b2"
grep -q '^data: {"seq":[0-9]*,"type":"app.one","at":[0-9]*,"device_id":"beta","data":{"n":1.5}}$' \
    "$STACK_DIR/b2" && ok "$CASE" || fail "$CASE" "$(grep app.one "$STACK_DIR/b2")"

# --- live ---------------------------------------------------------------------

case_ "a write reaches an open stream within 500 ms, once"
$SSE "$BASE" "$A" "/api/v1/events?after=$head_seq" --for 3 > "$STACK_DIR/live.out" &
sp=$!
waiting_until -ge 2 || true
t0=$(ms_now)
sleep 0.3
app_event "$B" app.live
wait "$sp"
got=$(ids_of "$STACK_DIR/live.out" | tr '\n' ',')
at=$(jq -r 'select(.event == "app.live") | .t_ms' "$STACK_DIR/live.out")
[ "$got" = "$((head_seq + 1)) app.live," ] && [ -n "$at" ] && ok "$CASE ($got)" ||
    fail "$CASE" "$(cat "$STACK_DIR/live.out")"
head_seq=$((head_seq + 1))

case_ "a write through the other worker wakes it too (20 writes, each once, in order)"
$SSE "$BASE" "$A" "/api/v1/events?after=$head_seq" --for 6 --blocks 21 > "$STACK_DIR/many.out" &
sp=$!
sleep 0.5
for i in $(seq 1 20); do app_event "$B" "app.n$i"; done
wait "$sp"
got=$(ids_of "$STACK_DIR/many.out" | awk '{print $1}' | tr '\n' ' ')
want=$(seq $((head_seq + 1)) $((head_seq + 20)) | tr '\n' ' ')
[ "$got" = "$want" ] && ok "$CASE" || fail "$CASE" "got $got want $want"
head_seq=$((head_seq + 20))

# --- the cursor: after, Last-Event-ID, neither -------------------------------

case_ "Last-Event-ID resumes after that seq"
$SSE "$BASE" "$A" "/api/v1/events" --last-event-id $((head_seq - 2)) --for 1 > "$STACK_DIR/lei.out"
got=$(ids_of "$STACK_DIR/lei.out" | awk '{print $1}' | tr '\n' ' ')
[ "$got" = "$((head_seq - 1)) $head_seq " ] && ok "$CASE" || fail "$CASE" "$got"

case_ "after wins over Last-Event-ID"
$SSE "$BASE" "$A" "/api/v1/events?after=$((head_seq - 1))" --last-event-id 0 --for 1 > "$STACK_DIR/lei2.out"
got=$(ids_of "$STACK_DIR/lei2.out" | awk '{print $1}' | tr '\n' ' ')
[ "$got" = "$head_seq " ] && ok "$CASE" || fail "$CASE" "$got"

case_ "neither: only the events from now on"
$SSE "$BASE" "$A" "/api/v1/events" --for 1.5 > "$STACK_DIR/now.out" &
sp=$!
sleep 0.7
app_event "$B" app.after
wait "$sp"
got=$(ids_of "$STACK_DIR/now.out" | tr '\n' ',')
[ "$got" = "$((head_seq + 1)) app.after," ] && ok "$CASE" || fail "$CASE" "$got"
head_seq=$((head_seq + 1))

for bad in abc -1 1.5 99999999999999999999 +3 3x; do
	case_ "Last-Event-ID '$bad' is 400 VALIDATION_FAILED, before any stream"
	curl -sk -o "$STACK_DIR/bad.b" -w '%{http_code} %{content_type}' --max-time 3 \
	    -H "Authorization: Bearer $A" -H 'Accept: text/event-stream' \
	    -H "Last-Event-ID: $bad" "$BASE/api/v1/events" > "$STACK_DIR/bad.st"
	read -r code ct < "$STACK_DIR/bad.st"
	if [ "$code" = 400 ] && [ "$ct" = application/problem+json ] &&
	    [ "$(jq -r '[.code, .field] | join(" ")' "$STACK_DIR/bad.b")" = "VALIDATION_FAILED Last-Event-ID" ]; then
		ok "$CASE"
	else
		fail "$CASE" "$code $ct $(cat "$STACK_DIR/bad.b")"
	fi
done

# --- filters ------------------------------------------------------------------

case_ "exclude_self=1 leaves out the device's own events, session_id keeps one session's"
$SSE "$BASE" "$A" "/api/v1/events?after=$head_seq&exclude_self=1" --for 2 > "$STACK_DIR/ex.out" &
sp1=$!
$SSE "$BASE" "$A" "/api/v1/events?after=$head_seq&session_id=s1" --for 2 > "$STACK_DIR/ses.out" &
sp2=$!
sleep 0.5
app_event "$A" app.mine
app_event "$B" app.theirs s1
app_event "$B" app.elsewhere s2
wait "$sp1" "$sp2"
ex=$(ids_of "$STACK_DIR/ex.out" | awk '{print $2}' | tr '\n' ',')
ses=$(ids_of "$STACK_DIR/ses.out" | awk '{print $2}' | tr '\n' ',')
[ "$ex" = "app.theirs,app.elsewhere," ] && [ "$ses" = "app.theirs," ] &&
    ok "$CASE" || fail "$CASE" "exclude_self: $ex; session: $ses"
head_seq=$((head_seq + 3))

# --- problems before the stream ------------------------------------------------

case_ "a bad token is 401 INVALID_TOKEN as JSON, not a stream"
$SSE "$BASE" "not.a.token" "/api/v1/events" --for 3 > "$STACK_DIR/tok.out"
[ "$(jq -c '[.status, .body.code]' "$STACK_DIR/tok.out")" = '[401,"INVALID_TOKEN"]' ] &&
    ok "$CASE" || fail "$CASE" "$(cat "$STACK_DIR/tok.out")"

for q in 'after=-1' 'after=x' 'exclude_self=2' 'session_id=%20'; do
	case_ "?$q is 400 VALIDATION_FAILED"
	$SSE "$BASE" "$A" "/api/v1/events?$q" --for 3 > "$STACK_DIR/q.out"
	[ "$(jq -c '[.status, .body.code]' "$STACK_DIR/q.out")" = '[400,"VALIDATION_FAILED"]' ] &&
	    ok "$CASE" || fail "$CASE" "$(cat "$STACK_DIR/q.out")"
done

case_ "another Accept gets the long poll's JSON"
code=$(curl -sk -o "$STACK_DIR/lp.b" -w '%{http_code} %{content_type}' --max-time 3 \
    -H "Authorization: Bearer $A" -H 'Accept: application/json' \
    "$BASE/api/v1/events?after=0&limit=2")
[ "$code" = "200 application/json" ] && [ "$(jq '.events | length' "$STACK_DIR/lp.b")" = 2 ] &&
    ok "$CASE" || fail "$CASE" "$code"

# --- caps, counting, leaving ----------------------------------------------------

case_ "an open stream counts as a waiting poll; the device's 9th is 429 RATE_LIMITED"
w0=$(waiting_now)
pids=""
for i in $(seq 1 8); do
	$SSE "$BASE" "$B" "/api/v1/events" --for 4 > "$STACK_DIR/cap$i.out" &
	pids="$pids $!"
done
if waiting_until -ge $((w0 + 8)); then
	$SSE "$BASE" "$B" "/api/v1/events" --for 3 > "$STACK_DIR/cap9.out"
	got=$(jq -c '[.status, .body.code]' "$STACK_DIR/cap9.out")
	[ "$got" = '[429,"RATE_LIMITED"]' ] && ok "$CASE" || fail "$CASE" "$got"
else
	fail "$CASE" "the server counts $(waiting_now), want $((w0 + 8))"
fi
case_ "streams whose client leaves are freed within 2 s"
kill $pids 2>/dev/null
wait $pids 2>/dev/null
t0=$(ms_now)
if waiting_until -le "$w0" 40; then
	ok "$CASE ($(( $(ms_now) - t0 )) ms)"
else
	fail "$CASE" "still $(waiting_now) waiting, was $w0"
fi

# --- a client that stops reading ------------------------------------------------

case_ "a client that stops reading is cut off; other streams still get theirs at once"
$SSE "$BASE" "$A" "/api/v1/events?after=$head_seq" --stall --for 30 > "$STACK_DIR/stall.out" &
stall=$!
$SSE "$BASE" "$B" "/api/v1/events?after=$head_seq" --for 30 > "$STACK_DIR/peer.out" &
peer=$!
sleep 0.5
big=$(head -c 15000 /dev/zero | tr '\0' 'x')
t0=$(ms_now)
for i in $(seq 1 600); do
	curl -sk -o /dev/null -H "Authorization: Bearer $B" -H 'Content-Type: application/json' \
	    -d "{\"type\":\"app.big\",\"data\":{\"i\":$i,\"s\":\"$big\"}}" "$BASE/api/v1/events"
done
el=$(( $(ms_now) - t0 ))
cut=0
for i in $(seq 1 100); do
	grep -q 'bytes not taken; closed' "$STACK_DIR/stack.log" && { cut=1; break; }
	sleep 0.1
done
app_event "$A" app.marker
for i in $(seq 1 40); do
	grep -q '"event": "app.marker"' "$STACK_DIR/peer.out" && break
	sleep 0.05
done
kill "$stall" "$peer" 2>/dev/null
wait "$stall" "$peer" 2>/dev/null
n=$(grep -c '"event": "app.big"' "$STACK_DIR/peer.out")
if [ "$cut" = 1 ] && [ "$n" = 600 ] && grep -q '"event": "app.marker"' "$STACK_DIR/peer.out"; then
	ok "$CASE (600 events of 15 KB in $el ms)"
else
	fail "$CASE" "cut $cut, the peer got $n of 600 and the marker: $(grep -c app.marker "$STACK_DIR/peer.out")"
fi
head_seq=$((head_seq + 601))

# --- revocation -----------------------------------------------------------------

login C stream@example.com password-stream-1 gamma
case_ "revoking the device ends its stream at once with event: error DEVICE_REVOKED"
$SSE "$BASE" "$C" "/api/v1/events" --for 5 > "$STACK_DIR/rev.out" &
sp=$!
sleep 0.5
TOKEN=$B
t0=$(ms_now)
call DELETE /api/v1/devices/gamma
wait "$sp"
el=$(( $(ms_now) - t0 ))
last=$(jq -c 'select(.event == "error") | [.data.status, .data.code]' "$STACK_DIR/rev.out")
endl=$(tail -1 "$STACK_DIR/rev.out" | jq -r .end)
[ "$STATUS" = 204 ] && [ "$last" = '[401,"DEVICE_REVOKED"]' ] && [ "$endl" = closed ] && [ "$el" -lt 2000 ] &&
    ok "$CASE (${el} ms)" || fail "$CASE" "$STATUS; $(cat "$STACK_DIR/rev.out")"
case_ "... and a new stream of it is 401 DEVICE_REVOKED"
$SSE "$BASE" "$C" "/api/v1/events" --for 3 > "$STACK_DIR/rev2.out"
[ "$(jq -c '[.status, .body.code]' "$STACK_DIR/rev2.out")" = '[401,"DEVICE_REVOKED"]' ] &&
    ok "$CASE" || fail "$CASE" "$(cat "$STACK_DIR/rev2.out")"

# --- the quiet stream: ping, end ---------------------------------------------------

wait "$quiet_pid"
case_ "a quiet stream gets a : ping block after 15 s"
pt=$(jq -r 'select(.comment == "ping") | .t_ms' "$STACK_DIR/quiet.out" | head -1)
[ -n "$pt" ] && [ "$pt" -ge 14500 ] && [ "$pt" -le 16500 ] && ok "$CASE (at $pt ms)" ||
    fail "$CASE" "$(cat "$STACK_DIR/quiet.out")"
case_ "the server ends it cleanly after TANDEM_STREAM_MAX_S (18 s)"
et=$(tail -1 "$STACK_DIR/quiet.out" | jq -r '"\(.end) \(.t_ms)"')
read -r how t <<< "$et"
[ "$how" = closed ] && [ "$t" -ge 17500 ] && [ "$t" -le 19500 ] && ok "$CASE ($t ms)" ||
    fail "$CASE" "$et"
case_ "/info tells stream_max_s"
TOKEN=""
call GET /api/v1/info
check 200 application/json .stream_max_s 18

case_ "over HTTP/2 too (curl): the head and a block"
out=$(curl -sk --http2 -N --max-time 1 -H "Authorization: Bearer $A" -H 'Accept: text/event-stream' \
    -w '%{http_version}' "$BASE/api/v1/events?after=$((head_seq - 1))")
printf '%s' "$out" | grep -q '^id: ' && [ "${out: -1}" = 2 ] && ok "$CASE" || fail "$CASE" "$out"

case_ "no sanitizer report or server error in the log"
if grep -qE 'AddressSanitizer|runtime error|LeakSanitizer|"status":5[0-9][0-9]' "$STACK_DIR/stack.log"; then
	fail "$CASE" "$(grep -E 'AddressSanitizer|runtime error|LeakSanitizer|"status":5[0-9][0-9]' "$STACK_DIR/stack.log" | head -3)"
else
	ok "$CASE"
fi
stack_stop

# --- a cursor below the floor -------------------------------------------------------

stack_start TANDEM_WORKERS=1 TANDEM_EVENT_DAYS=0 TANDEM_SWEEP_MS=200
register floor@example.com password-floor-1
login F floor@example.com password-floor-1 f1
app_event "$F" app.old
sleep 1
case_ "after below the floor is 410 CURSOR_EXPIRED before the stream starts"
$SSE "$BASE" "$F" "/api/v1/events?after=0" --for 3 > "$STACK_DIR/fl.out"
[ "$(jq -c '[.status, .body.code]' "$STACK_DIR/fl.out")" = '[410,"CURSOR_EXPIRED"]' ] &&
    ok "$CASE" || fail "$CASE" "$(cat "$STACK_DIR/fl.out")"
case_ "... and so is a Last-Event-ID below it"
$SSE "$BASE" "$F" "/api/v1/events" --last-event-id 0 --for 3 > "$STACK_DIR/fl2.out"
[ "$(jq -c '[.status, .body.code]' "$STACK_DIR/fl2.out")" = '[410,"CURSOR_EXPIRED"]' ] &&
    ok "$CASE" || fail "$CASE" "$(cat "$STACK_DIR/fl2.out")"

case_ "SIGTERM ends open streams cleanly"
$SSE "$BASE" "$F" "/api/v1/events" --for 10 > "$STACK_DIR/term.out" &
sp=$!
waiting_until -ge 1 || true
master=$(pgrep -P "$STACK_PID" -x tandemd | head -1)
t0=$(ms_now)
kill -TERM "$master"
wait "$sp"
el=$(( $(ms_now) - t0 ))
[ "$(tail -1 "$STACK_DIR/term.out" | jq -r .end)" = closed ] && [ "$el" -lt 3000 ] &&
    ok "$CASE (${el} ms)" || fail "$CASE" "$(cat "$STACK_DIR/term.out")"
finish
