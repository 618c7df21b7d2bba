#!/usr/bin/env bash
# test: solo (it loads the machine or measures time: run.sh runs it alone)
# Fairness (API.md "Limits and back-off"): no one account can slow the
# server for the others.  A costly merge answers within
# TANDEM_MAX_WRITE_MS and holds nobody else up (issue 13, item 2).
. "$(dirname "$0")/lib.sh"
if engine_is pg; then
	# the wait caps are counted per host (a device's polls stick to one host; a user's devices spread): one host here
	export TANDEM_HOSTS=1
	echo "  note test_fairness (postgresql): one host; the wait caps are counted per host (a device's polls stick to one host; a user's devices spread)"
fi
stack_start TANDEM_RATE_PER_S=0 TANDEM_MAX_WAITS_PER_USER=12

register heavy@example.com password-heavy
login TH heavy@example.com password-heavy h1
register other@example.com password-other
login TO other@example.com password-other o1

# {"changes":[{collection, id, base, data:{"a":[V,V,...] (N times)}}]}
big_push() {
	local id=$1 base=$2 v=$3 n=$4 strategy=${5:-manual}
	python3 -c '
import json, sys
id, base, v, n, strategy = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
print(json.dumps({"strategy": strategy, "changes": [{"collection": "big", "id": id,
    "base_version": base, "data": {"a": [v] * n}}]}, separators=(",", ":")))
' "$id" "$base" "$v" "$n" "$strategy" > "$STACK_DIR/push.json"
}

# "STATUS SECONDS" of one POST (curl's own clock): token, body file,
# path, and the file for the answer.
timed() {
	curl -sk -o "$4" -w '%{http_code} %{time_total}' \
	    -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
	    -X POST --data-binary @"$2" "$BASE$3"
}

N=130000
TOKEN=$TH
big_push m1 0 2 $N
case_ "a 130,000-element record is stored"
call POST /api/v1/sync/push "@$STACK_DIR/push.json"
check 200 application/json '.results[0].status' '"applied"'
V1=$(jqr '.results[0].version')
big_push m1 "$V1" 1 $N
call POST /api/v1/sync/push "@$STACK_DIR/push.json"
case_ "and changed on the server"
check 200 application/json '.results[0].status' '"applied"'

# The merge both sides changed, while another user creates sessions.
big_push m1 "$V1" 7 $N merge
cp "$STACK_DIR/push.json" "$STACK_DIR/merge.json"
printf '{"title":"t"}' > "$STACK_DIR/sess.json"
( timed "$TH" "$STACK_DIR/merge.json" /api/v1/sync/push \
    "$STACK_DIR/merge.out" > "$STACK_DIR/merge.t" ) &
mpid=$!
worst=0
for i in $(seq 1 20); do
	out=$(timed "$TO" "$STACK_DIR/sess.json" /api/v1/sessions \
	    "$STACK_DIR/sess.out")
	ms=$(awk -v t="${out#* }" 'BEGIN { printf "%d", t * 1000 }')
	[ "$ms" -gt "$worst" ] && worst=$ms
	kill -0 $mpid 2>/dev/null || break
	sleep 0.05
done
wait $mpid
read -r mstatus mtime < "$STACK_DIR/merge.t"
mms=$(awk -v t="$mtime" 'BEGIN { printf "%d", t * 1000 }')
echo "  merge of $N elements on both sides: $mstatus in $mms ms; another user's POST /sessions meanwhile: worst $worst ms"

case_ "the costly merge answers within TANDEM_MAX_WRITE_MS (2000 ms)"
[ "$mstatus" = 200 ] && [ "$mms" -lt 2000 ] && ok "$CASE" ||
    fail "$CASE" "status $mstatus in $mms ms"

case_ "the merge result is merged or a stored conflict, never lost"
st=$(jq -r '.results[0].status' "$STACK_DIR/merge.out" 2>/dev/null)
[ "$st" = merged ] || [ "$st" = conflict ] && ok "$CASE" || fail "$CASE" "status $st"

case_ "another user is not held up by the merge (< 300 ms; the bench measures 50)"
[ "$worst" -lt 300 ] && ok "$CASE" || fail "$CASE" "worst $worst ms"

# --- Waiting polls are capped per device and per user (item 3) ---

# Start n polls of token $1 in the background (timeout $3 s), each
# writing its status to $STACK_DIR/polls/<tag>.<i>; after the cursor $5
# (default $HEAD, the heavy user's: another user's polls need their own).
polls_start() {
	local tok=$1 n=$2 t=$3 tag=$4 after=${5:-$HEAD} i
	mkdir -p "$STACK_DIR/polls"
	for i in $(seq 1 "$n"); do
		curl -sk -o /dev/null -w '%{http_code}' --max-time 40 \
		    -H "Authorization: Bearer $tok" \
		    "$BASE/api/v1/events?after=$after&timeout=$t" \
		    > "$STACK_DIR/polls/$tag.$i" &
	done
}

# How many of the polls tagged $1 (a glob) answered status $2 so far.
polls_count() {
	# shellcheck disable=SC2086 # $1 is a glob on purpose
	cat $STACK_DIR/polls/$1.* 2>/dev/null | grep -o "$2" | wc -l
}

# The number of polls waiting, as the admin stats count them.
waiting_now() {
	curl -sk -u "admin:$ADMIN_PASSWORD" "$BASE/api/v1/admin/stats" |
	    jq -r .longpoll_waiting
}

wait_for_waiting() {
	local want=$1 i
	for i in $(seq 1 100); do
		[ "$(waiting_now)" -ge "$want" ] && return 0
		sleep 0.1
	done
	return 1
}

# every device logs in first: a login is an event that wakes polls
login TH2 heavy@example.com password-heavy h2
login TH3 heavy@example.com password-heavy h3
TOKEN=$TH
case_ "/info gives the caps"
call GET /api/v1/info
check 200 application/json '.max_waits_per_device' '8' '.max_waits_per_user' '12'
call GET "/api/v1/events"
HEAD=$(jqr .cursor)

polls_start "$TH" 8 20 dev
case_ "a device's 8 polls wait"
wait_for_waiting 8 && ok "$CASE" || fail "$CASE" "waiting: $(waiting_now)"

case_ "its 9th poll is 429 RATE_LIMITED at once, with Retry-After"
call GET "/api/v1/events?after=$HEAD&timeout=20"
check 429 application/problem+json '.code' '"RATE_LIMITED"'
[ -n "$(header Retry-After)" ] && ok "$CASE (header)" || fail "$CASE (header)" "no Retry-After"

case_ "a poll answered at once never counts"
call GET "/api/v1/events?after=$HEAD&timeout=0"
check 200 application/json '.events' '[]'
call GET "/api/v1/events?after=0&timeout=20"
check 200 application/json '.events|length > 0' 'true'

case_ "another device of the user may still wait"
polls_start "$TH2" 4 20 dev2
wait_for_waiting 12 && ok "$CASE" || fail "$CASE" "waiting: $(waiting_now)"

case_ "past the user's cap (12) a third device's poll is 429"
TOKEN=$TH3
call GET "/api/v1/events?after=$HEAD&timeout=20"
check 429 application/problem+json '.code' '"RATE_LIMITED"'

case_ "another user's polls are not affected"
TOKEN=$TO
call GET "/api/v1/events"
OHEAD=$(jqr .cursor)
polls_start "$TO" 3 20 other "$OHEAD"
wait_for_waiting 15 && ok "$CASE" || fail "$CASE" "waiting: $(waiting_now)"

case_ "an event answers the device's polls and frees their places"
TOKEN=$TH
call POST /api/v1/events '{"type":"app.wake","data":1}'
check 201 application/json
for i in $(seq 1 50); do
	[ "$(polls_count dev 200)" -ge 8 ] && break
	sleep 0.1
done
[ "$(polls_count dev 200)" -eq 8 ] && ok "$CASE" || fail "$CASE" "dev polls 200: $(polls_count dev 200)"
call GET "/api/v1/events"
HEAD=$(jqr .cursor)
polls_start "$TH" 4 20 again
case_ "so the device may wait again"
sleep 1
[ "$(polls_count again 429)" -eq 0 ] && ok "$CASE" || fail "$CASE" "again 429: $(polls_count again 429)"

case_ "abandoned polls free their places within 2 s"
pkill -f "timeout=20" 2>/dev/null
sleep 2.5
w=$(waiting_now)
[ "$w" -eq 0 ] && ok "$CASE" || fail "$CASE" "still waiting: $w"

# The flood of the issue: one token opens polls, paced (here 25/s) as an
# attacker under the rate limit would; another user is served meanwhile
# as on an idle server.
case_ "a flood of 200 polls from one token: 8 wait, the rest are 429"
call GET "/api/v1/events"
HEAD=$(jqr .cursor)
( for i in $(seq 1 200); do polls_start "$TH" 1 20 "flood$i"; sleep 0.04; done ) &
flooder=$!
sleep 1
# 30 requests at 5/s over one kept-alive connection, timed by curl
urls=()
for i in $(seq 1 30); do urls+=("$BASE/api/v1/devices"); done
curl -sk --rate 5/s -o /dev/null -w '%{time_total}\n' \
    -H "Authorization: Bearer $TO" "${urls[@]}" > "$STACK_DIR/other.times"
wait $flooder
n=$(wc -l < "$STACK_DIR/other.times")
worst=$(sort -n "$STACK_DIR/other.times" | tail -1 |
    awk '{ printf "%d", $1 * 1000 }')
for i in $(seq 1 100); do
	[ "$(polls_count 'flood*' 429)" -ge 192 ] && break
	sleep 0.1
done
[ "$(polls_count 'flood*' 429)" -eq 192 ] && ok "$CASE" || fail "$CASE" "429s: $(polls_count 'flood*' 429)"
echo "  flood of 200 polls from one device at 25/s: $(polls_count 'flood*' 429) refused at once; another user's GET /devices meanwhile ($n calls on one connection): worst $worst ms"
case_ "another user's GET /devices during the flood (< 100 ms)"
[ "$worst" -lt 100 ] && ok "$CASE" || fail "$CASE" "worst $worst ms"
pkill -f "timeout=20" 2>/dev/null

finish
