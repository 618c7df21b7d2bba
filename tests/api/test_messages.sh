#!/usr/bin/env bash
# Messages: the server's hash of the canonical body, retries by
# client_msg_id, duplicate refusal across devices inside the dedup window
# (also under concurrent sends from two and three devices), the window
# running out, history paging by seq, sends racing a kill, and bad input.
. "$(dirname "$0")/lib.sh"
WINDOW_MS=2500
stack_start TANDEM_RATE_PER_S=0 TANDEM_DEDUP_WINDOW_MS=$WINDOW_MS TANDEM_SEEN_WRITE_MS=0

PW="password-123"
register alice@example.com "$PW"
register bob@example.com "$PW"
login A alice@example.com "$PW" a-phone
login B alice@example.com "$PW" a-laptop
login C alice@example.com "$PW" a-tablet
login X bob@example.com "$PW" b-phone

MSG_KEYS='["body","client_msg_id","created_at","device_id","hash","id","seq","session_id"]'
now_ms() { date +%s%3N; }
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1 | sed 's/^/sha256:/'; }
cursor() {
	call GET /api/v1/events
	jqr .cursor
}
events_after() {
	call GET "/api/v1/events?after=$1&timeout=0&limit=1000"
	RBODY=$(printf '%s' "$RBODY" | jq -c .events)
}

# Concurrent requests: fire NAME TOKEN PATH BODY starts a POST that waits
# for the gate file; go opens the gate and waits for all of them.  Each
# leaves its status in $STACK_DIR/par.NAME.s and its body in .b.
PIDS=()
fire() {
	local out="$STACK_DIR/par.$1" tok=$2 path=$3 body=$4
	(
		while [ ! -e "$STACK_DIR/gate" ]; do sleep 0.002; done
		curl -sk -o "$out.b" -w '%{http_code}' -X POST -H "Authorization: Bearer $tok" \
		    -H 'Content-Type: application/json' --data-binary "$body" --max-time 60 \
		    "$BASE$path" > "$out.s"
	) &
	PIDS+=($!)
}
go() {
	touch "$STACK_DIR/gate"
	wait "${PIDS[@]}"
	PIDS=()
	rm -f "$STACK_DIR/gate"
}
par_status() { cat "$STACK_DIR/par.$1.s"; }
par_body() { cat "$STACK_DIR/par.$1.b"; }

TOKEN=$A
call POST /api/v1/sessions '{"id":"s1"}'
check 201 application/json

# --- send ---------------------------------------------------------------------
c0=$(cursor)
case_ "send a message is 201 with the message"
t0=$(now_ms)
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m1","body":{"text":"hello","n":1}}'
check 201 application/json '.message|keys' "$MSG_KEYS" '.message.seq' 1 '.message.session_id' '"s1"' \
    '.message.device_id' '"a-phone"' '.message.client_msg_id' '"m1"' \
    '.message.body' '{"n":1,"text":"hello"}' '.message.id|type' '"number"'
m1_id=$(jqr .message.id)
m1_at=$(jqr .message.created_at)
case_ "the hash is sha256 of the canonical body (sorted keys, compact)"
check 201 - '.message.hash' "\"$(sha '{"n":1,"text":"hello"}')\""
case_ "created_at is the server's time"
[ "$m1_at" -ge "$t0" ] && [ "$m1_at" -le "$(now_ms)" ] && ok "$CASE" || fail "$CASE" "$m1_at"
case_ "message.created is emitted with session_id, id and seq"
events_after "$c0"
check 200 - '[.[]|select(.type=="message.created")]|length' 1 \
    '[.[]|select(.type=="message.created")][0].data' "{\"session_id\":\"s1\",\"id\":$m1_id,\"seq\":1}" \
    '[.[]|select(.type=="message.created")][0].device_id' '"a-phone"'
case_ "the session counts the message"
call GET /api/v1/sessions/s1
check 200 application/json '.session.message_count' 1 '.session.last_message_at' "$m1_at"

case_ "a correct client hash is accepted"
body='{"z":[3,2,1],"a":{"y":true,"b":null},"s":"caf\u00e9 \"q\""}'
canon='{"a":{"b":null,"y":true},"s":"café \"q\"","z":[3,2,1]}'
call POST /api/v1/sessions/s1/messages "{\"client_msg_id\":\"m2\",\"body\":$body,\"hash\":\"$(sha "$canon")\"}"
check 201 application/json '.message.seq' 2 '.message.hash' "\"$(sha "$canon")\""
case_ "numbers hash in their shortest form (1.0 is 1, 1e2 is 100)"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m-num","body":[1.0,1e2,0.5,-0]}'
check 201 application/json '.message.hash' "\"$(sha '[1,100,0.5,0]')\""
case_ "a client hash that differs is 422 HASH_MISMATCH and stores nothing"
call POST /api/v1/sessions/s1/messages "{\"client_msg_id\":\"m3\",\"body\":\"x\",\"hash\":\"$(sha '"y"')\"}"
check 422 application/problem+json '.code' '"HASH_MISMATCH"'
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m3b","body":"x","hash":"md5:abc"}'
check 422 application/problem+json '.code' '"HASH_MISMATCH"'
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m3c","body":"x","hash":""}'
check 422 application/problem+json '.code' '"HASH_MISMATCH"'
call GET /api/v1/sessions/s1
check 200 application/json '.session.message_count' 3

for b in 'null' '"just text"' '42' '[1,"two",{"3":3}]' 'true' '{}' '[]'; do
	case_ "a body of $b is accepted"
	call POST /api/v1/sessions/s1/messages "{\"client_msg_id\":\"any-$RANDOM$RANDOM\",\"body\":$b}"
	check 201 application/json '.message.body' "$(printf '%s' "$b" | jq -c .)" \
	    '.message.hash' "\"$(sha "$(printf '%s' "$b" | jq -c .)")\""
done

# --- retries ----------------------------------------------------------------------
case_ "a retry (same device, same client_msg_id) is 200 with the original"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m1","body":{"text":"hello","n":1}}'
check 200 application/json '.duplicate' '"retry"' '.message.id' "$m1_id" '.message.seq' 1 \
    '.message.created_at' "$m1_at" '.message|keys' "$MSG_KEYS"
case_ "a retry with another body still gets the original"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m1","body":"changed"}'
check 200 application/json '.duplicate' '"retry"' '.message.body' '{"n":1,"text":"hello"}'
case_ "a retry with auto from a non-primary still gets the original"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m1","body":"changed","auto":true}'
check 200 application/json '.duplicate' '"retry"' '.message.id' "$m1_id"
case_ "retries stored nothing"
call GET /api/v1/sessions/s1
count_before=$(jqr .session.message_count)
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m1","body":1}'
call GET /api/v1/sessions/s1
check 200 application/json '.session.message_count' "$count_before"
case_ "the same client_msg_id from another device is a new message"
TOKEN=$B
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m1","body":"from the laptop"}'
check 201 application/json '.message.device_id' '"a-laptop"' '.message.client_msg_id' '"m1"'
TOKEN=$A

# --- duplicates ---------------------------------------------------------------------
call POST /api/v1/sessions '{"id":"s-dup"}'
case_ "first send of an auto-response is 201"
call POST /api/v1/sessions/s-dup/messages '{"client_msg_id":"a1","body":{"reply":"On my way","lang":"en"}}'
check 201 application/json
d_id=$(jqr .message.id)
d_at=$(jqr .message.created_at)
case_ "the same body from another device (keys in another order) is 409 DUPLICATE_MESSAGE"
TOKEN=$B
call POST /api/v1/sessions/s-dup/messages '{"client_msg_id":"b1","body":{"lang":"en","reply":"On my way"}}'
check 409 application/problem+json '.code' '"DUPLICATE_MESSAGE"' \
    '.original' "{\"id\":$d_id,\"device_id\":\"a-phone\",\"created_at\":$d_at}"
case_ "the same body from the same device with a new client_msg_id is 409 too"
TOKEN=$A
call POST /api/v1/sessions/s-dup/messages '{"client_msg_id":"a2","body":{"reply":"On my way","lang":"en"}}'
check 409 application/problem+json '.code' '"DUPLICATE_MESSAGE"' '.original.id' "$d_id"
case_ "the same body in another session is not a duplicate"
call POST /api/v1/sessions '{"id":"s-dup-other"}'
call POST /api/v1/sessions/s-dup-other/messages '{"client_msg_id":"a1","body":{"reply":"On my way","lang":"en"}}'
check 201 application/json
case_ "another body is not a duplicate"
call POST /api/v1/sessions/s-dup/messages '{"client_msg_id":"a3","body":{"reply":"On my way!","lang":"en"}}'
check 201 application/json
case_ "a refused duplicate is not stored and can be retried after the window"
elapsed=$(( $(now_ms) - d_at ))
[ "$elapsed" -lt "$WINDOW_MS" ] && sleep "$(awk "BEGIN{print ($WINDOW_MS - $elapsed + 150) / 1000}")"
TOKEN=$B
call POST /api/v1/sessions/s-dup/messages '{"client_msg_id":"b1","body":{"lang":"en","reply":"On my way"}}'
check 201 application/json '.message.device_id' '"a-laptop"'
case_ "the same content again after the window is accepted"
TOKEN=$A
sleep "$(awk "BEGIN{print ($WINDOW_MS + 150) / 1000}")"
call POST /api/v1/sessions/s-dup/messages '{"client_msg_id":"a4","body":{"reply":"On my way","lang":"en"}}'
check 201 application/json
case_ "history holds exactly the accepted ones"
call GET /api/v1/sessions/s-dup/messages
check 200 application/json '[.messages[]|[.seq,.client_msg_id,.device_id]]' \
    '[[1,"a1","a-phone"],[2,"a3","a-phone"],[3,"b1","a-laptop"],[4,"a4","a-phone"]]'

# --- concurrent sends of the same content: exactly one is accepted ------------------
race() { # race ROUNDS DEVICES...: prints "sent accepted refused bad"
	local rounds=$1 r t n201 n409 bad=0 sent=0 acc=0 ref=0 orig
	shift
	for r in $(seq 1 "$rounds"); do
		sid="s-race-$#-$r"
		TOKEN=$A
		call POST /api/v1/sessions "{\"id\":\"$sid\"}" >/dev/null
		for t in "$@"; do
			fire "$sid.$t" "${!t}" "/api/v1/sessions/$sid/messages" \
			    "{\"client_msg_id\":\"auto-$t\",\"body\":{\"auto\":\"I am driving, round $r\"}}"
		done
		go
		n201=0; n409=0
		for t in "$@"; do
			sent=$((sent + 1))
			case $(par_status "$sid.$t") in
			201) n201=$((n201 + 1)); orig=$(par_body "$sid.$t" | jq -c '[.message.id,.message.device_id]') ;;
			409) [ "$(par_body "$sid.$t" | jq -r .code)" = DUPLICATE_MESSAGE ] && n409=$((n409 + 1)) ;;
			esac
		done
		acc=$((acc + n201)); ref=$((ref + n409))
		[ "$n201" = 1 ] && [ "$n409" = $(($# - 1)) ] || bad=$((bad + 1))
		# every refusal names the accepted one as the original
		for t in "$@"; do
			if [ "$(par_status "$sid.$t")" = 409 ] &&
			    [ "$(par_body "$sid.$t" | jq -c '[.original.id,.original.device_id]')" != "$orig" ]; then
				bad=$((bad + 1))
			fi
		done
		call GET "/api/v1/sessions/$sid/messages" >/dev/null
		[ "$(jqr '.messages|length')" = 1 ] || bad=$((bad + 1))
	done
	echo "$sent $acc $ref $bad"
}
case_ "two devices send the same auto-response at the same instant: one 201, one 409"
read -r sent acc ref bad < <(race 8 A B)
echo "  dedup race, 2 devices x 8 rounds: sent $sent, accepted $acc, refused $ref"
[ "$bad" = 0 ] && [ "$acc" = 8 ] && [ "$ref" = 8 ] && ok "$CASE" || fail "$CASE" "sent $sent accepted $acc refused $ref, $bad bad rounds"
case_ "three devices send the same auto-response at the same instant: one 201, two 409"
read -r sent acc ref bad < <(race 8 A B C)
echo "  dedup race, 3 devices x 8 rounds: sent $sent, accepted $acc, refused $ref"
[ "$bad" = 0 ] && [ "$acc" = 8 ] && [ "$ref" = 16 ] && ok "$CASE" || fail "$CASE" "sent $sent accepted $acc refused $ref, $bad bad rounds"

# --- sends racing a kill -----------------------------------------------------------
call POST /api/v1/sessions '{"id":"s-kill-race"}'
TOKENS=("$A" "$B" "$C")
N=40
touch "$STACK_DIR/gate"	# no gate: launch in order, the kill in the middle
for i in $(seq 1 $N); do
	fire "k$i" "${TOKENS[$((i % 3))]}" /api/v1/sessions/s-kill-race/messages \
	    "{\"client_msg_id\":\"k$i\",\"body\":{\"n\":$i}}"
	if [ "$i" = $((N / 2)) ]; then
		fire kill "$A" /api/v1/sessions/s-kill-race/kill '{"reason":"race"}'
	fi
done
go
acc=0; ref=0; other=0
for i in $(seq 1 $N); do
	case $(par_status "k$i") in
	201) acc=$((acc + 1)) ;;
	410) ref=$((ref + 1)) ;;
	*) other=$((other + 1)) ;;
	esac
done
echo "  kill race: sent $N, accepted $acc, refused (410) $ref, other $other"
case_ "the kill succeeded"
[ "$(par_status kill)" = 200 ] && ok "$CASE" || fail "$CASE" "kill status $(par_status kill)"
killed=$(par_body kill | jq .session.killed_at)
case_ "every send racing the kill is 201 or 410"
[ "$other" = 0 ] && [ $((acc + ref)) = "$N" ] && ok "$CASE" || fail "$CASE" "$other other answers"
call GET "/api/v1/sessions/s-kill-race/messages?limit=500"
hist=$RBODY
case_ "history holds exactly the accepted sends"
want=$(for i in $(seq 1 $N); do [ "$(par_status "k$i")" = 201 ] && echo "k$i"; done | sort | jq -R . | jq -sc .)
got=$(printf '%s' "$hist" | jq -c '[.messages[].client_msg_id]|sort')
[ "$want" = "$got" ] && ok "$CASE" || fail "$CASE" "201s $want, history $got"
case_ "history is in seq order 1..accepted with no gap"
got=$(printf '%s' "$hist" | jq -c '[.messages[].seq]')
want=$(if [ "$acc" -gt 0 ]; then seq 1 "$acc"; fi | jq -sc .)
[ "$got" = "$want" ] && ok "$CASE" || fail "$CASE" "seqs $got"
case_ "no stored message was created after killed_at"
late=$(printf '%s' "$hist" | jq "[.messages[]|select(.created_at > $killed)]|length")
[ "$late" = 0 ] && ok "$CASE" || fail "$CASE" "$late messages after the kill at $killed"
case_ "each 201 answer matches its history entry"
mism=0
for i in $(seq 1 $N); do
	[ "$(par_status "k$i")" = 201 ] || continue
	a=$(par_body "k$i" | jq -c '[.message.id,.message.seq,.message.created_at]')
	b=$(printf '%s' "$hist" | jq -c ".messages[]|select(.client_msg_id==\"k$i\")|[.id,.seq,.created_at]")
	[ "$a" = "$b" ] || mism=$((mism + 1))
done
[ "$mism" = 0 ] && ok "$CASE" || fail "$CASE" "$mism mismatches"
case_ "the session counts exactly the accepted sends"
call GET /api/v1/sessions/s-kill-race
check 200 application/json '.session.message_count' "$acc" '.session.killed_at' "$killed"
case_ "after the race: a refused send stays refused, an accepted one retries"
for i in $(seq 1 $N); do
	if [ "$(par_status "k$i")" = 410 ]; then
		TOKEN=${TOKENS[$((i % 3))]}
		call POST /api/v1/sessions/s-kill-race/messages "{\"client_msg_id\":\"k$i\",\"body\":{\"n\":$i}}"
		check 410 application/problem+json '.code' '"SESSION_KILLED"'
		break
	fi
done
for i in $(seq 1 $N); do
	if [ "$(par_status "k$i")" = 201 ]; then
		TOKEN=${TOKENS[$((i % 3))]}
		call POST /api/v1/sessions/s-kill-race/messages "{\"client_msg_id\":\"k$i\",\"body\":{\"n\":$i}}"
		check 200 application/json '.duplicate' '"retry"' '.message.client_msg_id' "\"k$i\""
		break
	fi
done
TOKEN=$A

# --- history paging ---------------------------------------------------------------
call POST /api/v1/sessions '{"id":"s-page"}'
for i in 1 2 3 4 5; do
	TOKEN=${TOKENS[$((i % 3))]}
	call POST /api/v1/sessions/s-page/messages "{\"client_msg_id\":\"p$i\",\"body\":\"page $i\"}"
done
TOKEN=$A
case_ "history in seq order, every message names its sender"
call GET /api/v1/sessions/s-page/messages
check 200 application/json '[.messages[].seq]' '[1,2,3,4,5]' \
    '[.messages[].device_id]' '["a-laptop","a-tablet","a-phone","a-laptop","a-tablet"]' \
    '.next_after' 5 '.more' false '.messages[0]|keys' "$MSG_KEYS"
case_ "limit=2 gives the first page"
call GET "/api/v1/sessions/s-page/messages?limit=2"
check 200 application/json '[.messages[].seq]' '[1,2]' '.next_after' 2 '.more' true
case_ "after=2&limit=2 gives the next page"
call GET "/api/v1/sessions/s-page/messages?after=2&limit=2"
check 200 application/json '[.messages[].seq]' '[3,4]' '.next_after' 4 '.more' true
case_ "after=4&limit=2 gives the last page"
call GET "/api/v1/sessions/s-page/messages?after=4&limit=2"
check 200 application/json '[.messages[].seq]' '[5]' '.next_after' 5 '.more' false
case_ "after the last seq is empty, next_after stays"
call GET "/api/v1/sessions/s-page/messages?after=5"
check 200 application/json '.messages' '[]' '.next_after' 5 '.more' false
call GET "/api/v1/sessions/s-page/messages?after=1000"
check 200 application/json '.messages' '[]' '.next_after' 1000 '.more' false
case_ "limit=1 and limit=500 are accepted"
call GET "/api/v1/sessions/s-page/messages?limit=1"
check 200 application/json '[.messages[].seq]' '[1]' '.more' true
call GET "/api/v1/sessions/s-page/messages?limit=500&after=0"
check 200 application/json '.messages|length' 5
for bad in "limit=0" "limit=501" "limit=-1" "limit=x" "limit=" "limit=1.5"; do
	case_ "history $bad is 400 limit"
	call GET "/api/v1/sessions/s-page/messages?$bad"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"limit"'
done
for bad in "after=-1" "after=abc" "after=" "after=99999999999999999999"; do
	case_ "history $bad is 400 after"
	call GET "/api/v1/sessions/s-page/messages?$bad"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"after"'
done
case_ "history of an unknown session is 404"
call GET /api/v1/sessions/nope/messages
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "history with an invalid path id is 400"
call GET "/api/v1/sessions/bad%20id/messages"
check 400 application/problem+json '.field' '"session_id"'

# --- bad input -----------------------------------------------------------------------
call GET /api/v1/sessions/s1
count_before=$(jqr .session.message_count)
long_id=$(head -c 129 /dev/zero | tr '\0' 'i')
for bad in '{"body":"x"}' '{"client_msg_id":null,"body":"x"}' '{"client_msg_id":"","body":"x"}' \
    '{"client_msg_id":"a b","body":"x"}' "{\"client_msg_id\":\"$long_id\",\"body\":\"x\"}" \
    '{"client_msg_id":7,"body":"x"}' '{"client_msg_id":["m"],"body":"x"}' '{}' ''; do
	case_ "message ${bad:0:30} is 400 client_msg_id"
	call POST /api/v1/sessions/s1/messages "$bad"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"client_msg_id"'
done
case_ "a message without body is 400 body"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"nobody"}'
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"body"'
for bad in '"hash":5' '"hash":["sha256:x"]' '"hash":true'; do
	case_ "message with $bad is 400 hash"
	call POST /api/v1/sessions/s1/messages "{\"client_msg_id\":\"bad-hash\",\"body\":\"x\",$bad}"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"hash"'
done
for bad in '"auto":"yes"' '"auto":1' '"auto":[true]'; do
	case_ "message with $bad is 400 auto"
	call POST /api/v1/sessions/s1/messages "{\"client_msg_id\":\"bad-auto\",\"body\":\"x\",$bad}"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"auto"'
done
case_ "a message body that is an array is 400"
call POST /api/v1/sessions/s1/messages '["m","x"]'
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"body"'
case_ "malformed JSON is 400"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"mal","body":'
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
case_ "duplicate keys are 400"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"dk","body":1,"body":2}'
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
case_ "a \\u0000 in the body is 400"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"nul","body":"a\u0000b"}'
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
case_ "a body nested deeper than 64 is 400"
deep=$(printf '[%.0s' $(seq 70))1$(printf ']%.0s' $(seq 70))
call POST /api/v1/sessions/s1/messages "{\"client_msg_id\":\"deep\",\"body\":$deep}"
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
# 65536 bytes of canonical body: a string of 65534 characters and its quotes
s65534=$(head -c 65534 /dev/zero | tr '\0' 'b')
case_ "a body of exactly 64 KiB in canonical form is accepted"
call POST /api/v1/sessions/s1/messages "{\"client_msg_id\":\"big-ok\",\"body\":\"$s65534\"}"
check 201 application/json '.message.body|length' 65534
case_ "a body one byte over 64 KiB is 413 with field body"
call POST /api/v1/sessions/s1/messages "{\"client_msg_id\":\"big-no\",\"body\":\"${s65534}b\"}"
check 413 application/problem+json '.code' '"PAYLOAD_TOO_LARGE"' '.field' '"body"'
case_ "the size counts the canonical form, not the white space sent"
# (bodies this large go through a file: one argument is limited to 128 KiB)
{ printf '{"client_msg_id":"spaced","body":['; for i in $(seq 20000); do printf '1 ,    '; done; printf '1]}'; } > "$STACK_DIR/spaced.json"
call POST /api/v1/sessions/s1/messages "" --data-binary "@$STACK_DIR/spaced.json" -H 'Content-Type: application/json'
check 201 application/json '.message.body|length' 20001
case_ "a 200 KiB body is 413 with field body"
{ printf '{"client_msg_id":"big-200k","body":{"t":"'; head -c 204800 /dev/zero | tr '\0' 'c'; printf '"}}'; } > "$STACK_DIR/big.json"
call POST /api/v1/sessions/s1/messages "" --data-binary "@$STACK_DIR/big.json" -H 'Content-Type: application/json'
check 413 application/problem+json '.code' '"PAYLOAD_TOO_LARGE"' '.field' '"body"'
case_ "a message to an unknown session is 404"
call POST /api/v1/sessions/nope/messages '{"client_msg_id":"x","body":"x"}'
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "a message with an invalid session id in the path is 400"
call POST "/api/v1/sessions/bad%20id/messages" '{"client_msg_id":"x","body":"x"}'
check 400 application/problem+json '.field' '"session_id"'
case_ "bad input stored nothing"
call GET /api/v1/sessions/s1
check 200 application/json '.session.message_count' "$((count_before + 2))"
case_ "another user cannot post into or read the session"
TOKEN=$X
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"x","body":"x"}'
check 404 application/problem+json '.code' '"NOT_FOUND"'
call GET /api/v1/sessions/s1/messages
check 404 application/problem+json '.code' '"NOT_FOUND"'

# --- TANDEM_DEDUP_WINDOW_MS=0 turns duplicate refusal off --------------------------
stack_stop
stack_start TANDEM_RATE_PER_S=0 TANDEM_DEDUP_WINDOW_MS=0
register carol@example.com "$PW"
login A carol@example.com "$PW" c-phone
login B carol@example.com "$PW" c-laptop
TOKEN=$A
call POST /api/v1/sessions '{"id":"s-nodedup"}'
case_ "window 0: the same content twice is accepted"
call POST /api/v1/sessions/s-nodedup/messages '{"client_msg_id":"n1","body":"same"}'
check 201 application/json '.message.seq' 1
call POST /api/v1/sessions/s-nodedup/messages '{"client_msg_id":"n2","body":"same"}'
check 201 application/json '.message.seq' 2
TOKEN=$B
call POST /api/v1/sessions/s-nodedup/messages '{"client_msg_id":"n1","body":"same"}'
check 201 application/json '.message.seq' 3
case_ "window 0: retries are still retries"
call POST /api/v1/sessions/s-nodedup/messages '{"client_msg_id":"n1","body":"same"}'
check 200 application/json '.duplicate' '"retry"' '.message.seq' 3

finish
