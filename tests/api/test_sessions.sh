#!/usr/bin/env bash
# Sessions: create (idempotent by id, server ids), list by state, get,
# kill (idempotent, releases primary and lock, refuses later messages),
# the session lock (contention, extension, release, expiry, fencing
# token), other users' sessions as 404, and bad input everywhere.
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_RATE_PER_S=0 TANDEM_SWEEP_MS=200 TANDEM_SEEN_WRITE_MS=0

PW="password-123"
register alice@example.com "$PW"
register bob@example.com "$PW"
login A alice@example.com "$PW" a-phone
login B alice@example.com "$PW" a-laptop
login X bob@example.com "$PW" b-phone

SESSION_KEYS='["created_at","id","killed_at","last_message_at","lock","message_count","primary","title"]'

# The user's event cursor now (GET /events without after answers at once).
cursor() {
	call GET /api/v1/events
	jqr .cursor
}
# Events after cursor $1 as one JSON array (RBODY is left holding it).
events_after() {
	call GET "/api/v1/events?after=$1&timeout=0&limit=1000"
	RBODY=$(printf '%s' "$RBODY" | jq -c .events)
}
now_ms() { date +%s%3N; }

# --- create -----------------------------------------------------------------
TOKEN=$A
c0=$(cursor)
case_ "create a session with id and title is 201"
t0=$(now_ms)
call POST /api/v1/sessions '{"id":"s1","title":"Kitchen chat"}'
check 201 application/json '.session|keys' "$SESSION_KEYS" '.session.id' '"s1"' \
    '.session.title' '"Kitchen chat"' '.session.killed_at' null '.session.primary' null \
    '.session.lock' null '.session.message_count' 0 '.session.last_message_at' null
created=$(jqr .session.created_at)
case_ "created_at is the server's time in ms"
t1=$(now_ms)
[ "$created" -ge "$t0" ] && [ "$created" -le "$t1" ] && ok "$CASE" || fail "$CASE" "$created not in $t0..$t1"

case_ "create the same id again is 200 with the same session (title unchanged)"
call POST /api/v1/sessions '{"id":"s1","title":"other title"}'
check 200 application/json '.session.id' '"s1"' '.session.title' '"Kitchen chat"' \
    '.session.created_at' "$created"
case_ "create the same id from another device is 200"
TOKEN=$B
call POST /api/v1/sessions '{"id":"s1"}'
check 200 application/json '.session.created_at' "$created"
TOKEN=$A

case_ "create without a body makes a server id"
call POST /api/v1/sessions ""
check 201 application/json '.session.title' null
gen1=$(jqr .session.id)
[[ "$gen1" =~ ^s_[0-9a-f]{24}$ ]] && ok "server id shape" || fail "server id shape" "got '$gen1'"
case_ "create with {} makes another server id"
call POST /api/v1/sessions '{}'
check 201 application/json
gen2=$(jqr .session.id)
[[ "$gen2" =~ ^s_[0-9a-f]{24}$ && "$gen2" != "$gen1" ]] && ok "server ids differ" || fail "server ids differ" "$gen1 / $gen2"
case_ "create with id null and title null makes a server id"
call POST /api/v1/sessions '{"id":null,"title":null}'
check 201 application/json '.session.title' null '.session.id|test("^s_[0-9a-f]{24}$")' true
case_ "the generated session can be fetched"
call GET "/api/v1/sessions/$gen1"
check 200 application/json '.session.id' "\"$gen1\""

case_ "title of 256 bytes is accepted"
t256=$(head -c 256 /dev/zero | tr '\0' 't')
call POST /api/v1/sessions "{\"id\":\"s-t256\",\"title\":\"$t256\"}"
check 201 application/json '.session.title|length' 256
case_ "an empty title is accepted"
call POST /api/v1/sessions '{"id":"s-empty-title","title":""}'
check 201 application/json '.session.title' '""'
case_ "title of 257 bytes is 400"
call POST /api/v1/sessions "{\"id\":\"s-t257\",\"title\":\"${t256}t\"}"
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"title"'
for bad in '5' 'true' '["x"]' '{"a":1}'; do
	case_ "title $bad is 400"
	call POST /api/v1/sessions "{\"id\":\"s-bad-title\",\"title\":$bad}"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"title"'
done
long_id=$(head -c 129 /dev/zero | tr '\0' 'i')
for bad in '""' '"has space"' '"sl/ash"' '"ü"' "\"$long_id\"" '42' 'true' '["s"]'; do
	case_ "session id ${bad:0:20} is 400"
	call POST /api/v1/sessions "{\"id\":$bad}"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"id"'
done
case_ "an id of 128 bytes of every allowed character class is accepted"
id128="Az09._:-$(head -c 120 /dev/zero | tr '\0' 'q')"
call POST /api/v1/sessions "{\"id\":\"$id128\"}"
check 201 application/json '.session.id' "\"$id128\""
case_ "an array body is 400"
call POST /api/v1/sessions '["s1"]'
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"body"'
case_ "a malformed body is 400"
call POST /api/v1/sessions '{"id":"s9",'
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
case_ "nothing was written by the bad creates"
call GET /api/v1/sessions/s-bad-title
check 404 application/problem+json
call GET /api/v1/sessions/s9
check 404 application/problem+json '.code' '"NOT_FOUND"'

case_ "session.created is emitted once per new session"
events_after "$c0"
check 200 - '[.[]|select(.type=="session.created" and .data.session_id=="s1")]|length' 1 \
    '[.[]|select(.type=="session.created" and .data.session_id=="s1")][0].device_id' '"a-phone"' \
    '[.[]|select(.type=="session.created" and .data.session_id=="s1")][0].data' '{"session_id":"s1"}'

case_ "without a token it is 401"
TOKEN=""
call POST /api/v1/sessions '{"id":"s-noauth"}'
check 401 application/problem+json '.code' '"INVALID_TOKEN"'
call GET /api/v1/sessions
check 401 application/problem+json
TOKEN=$A

# --- get / list ---------------------------------------------------------------
case_ "get a session"
call GET /api/v1/sessions/s1
check 200 application/json '.session|keys' "$SESSION_KEYS" '.session.title' '"Kitchen chat"'
case_ "get an unknown session is 404"
call GET /api/v1/sessions/nope
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "get with an invalid id in the path is 400"
call GET "/api/v1/sessions/bad%20id"
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"session_id"'
call GET "/api/v1/sessions/$long_id"
check 400 application/problem+json '.field' '"session_id"'

call POST /api/v1/sessions '{"id":"s-kill-me"}'
call POST /api/v1/sessions/s-kill-me/kill ''
case_ "list defaults to active sessions"
call GET /api/v1/sessions
check 200 application/json '[.sessions[].id]|index("s1") != null' true \
    '[.sessions[].id]|index("s-kill-me")' null '[.sessions[]|select(.killed_at != null)]|length' 0 \
    '.sessions[0]|keys' "$SESSION_KEYS"
n_active=$(jqr '.sessions|length')
case_ "list state=active is the default"
call GET "/api/v1/sessions?state=active"
check 200 application/json '.sessions|length' "$n_active"
case_ "list state=killed"
call GET "/api/v1/sessions?state=killed"
check 200 application/json '[.sessions[].id]' '["s-kill-me"]'
case_ "list state=all"
call GET "/api/v1/sessions?state=all"
check 200 application/json '.sessions|length' "$((n_active + 1))"
for bad in bogus "" ACTIVE "active,killed"; do
	case_ "list state='$bad' is 400"
	call GET "/api/v1/sessions?state=$bad"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"state"'
done

# --- kill -----------------------------------------------------------------------
call POST /api/v1/sessions '{"id":"s2"}'
call POST /api/v1/sessions/s2/messages '{"client_msg_id":"m1","body":"hi"}'
c1=$(cursor)
case_ "kill is 200 with killed_at set"
t0=$(now_ms)
call POST /api/v1/sessions/s2/kill '{"reason":"user closed the chat"}'
check 200 application/json '.session|keys' "$SESSION_KEYS" '.session.id' '"s2"' \
    '.session.message_count' 1 '.session.killed_at|type' '"number"'
killed=$(jqr .session.killed_at)
[ "$killed" -ge "$t0" ] && ok "killed_at is now" || fail "killed_at is now" "$killed < $t0"
case_ "kill again is 200 and idempotent"
call POST /api/v1/sessions/s2/kill ''
check 200 application/json '.session.killed_at' "$killed"
case_ "kill again from another device with a reason is still the same"
TOKEN=$B
call POST /api/v1/sessions/s2/kill '{"reason":"again"}'
check 200 application/json '.session.killed_at' "$killed"
TOKEN=$A
case_ "session.killed is emitted once"
events_after "$c1"
check 200 - '[.[]|select(.type=="session.killed")]|length' 1 \
    '[.[]|select(.type=="session.killed")][0].data' '{"session_id":"s2"}' \
    '[.[]|select(.type=="session.killed")][0].device_id' '"a-phone"'
case_ "a message to a killed session is 410"
call POST /api/v1/sessions/s2/messages '{"client_msg_id":"m2","body":"late"}'
check 410 application/problem+json '.code' '"SESSION_KILLED"' '.type' '"/errors/SESSION_KILLED"'
case_ "an auto message to a killed session is 410 too"
call POST /api/v1/sessions/s2/messages '{"client_msg_id":"m3","body":"late","auto":true}'
check 410 application/problem+json '.code' '"SESSION_KILLED"'
case_ "a retry of a message sent before the kill gets its original"
call POST /api/v1/sessions/s2/messages '{"client_msg_id":"m1","body":"hi"}'
check 200 application/json '.duplicate' '"retry"' '.message.seq' 1
case_ "the killed session still lists its history, and nothing new"
call GET /api/v1/sessions/s2/messages
check 200 application/json '[.messages[].client_msg_id]' '["m1"]'
case_ "the killed session still reads"
call GET /api/v1/sessions/s2
check 200 application/json '.session.killed_at' "$killed" '.session.message_count' 1
case_ "re-creating a killed session's id is 200 with the killed session"
call POST /api/v1/sessions '{"id":"s2"}'
check 200 application/json '.session.killed_at' "$killed"
case_ "kill an unknown session is 404"
call POST /api/v1/sessions/nope/kill ''
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "kill with an invalid path id is 400"
call POST "/api/v1/sessions/bad%21/kill" ''
check 400 application/problem+json '.field' '"session_id"'
call POST /api/v1/sessions '{"id":"s3"}'
for bad in '{"reason":5}' '{"reason":["x"]}' "{\"reason\":\"$(head -c 1025 /dev/zero | tr '\0' 'r')\"}" '"kill"' '[1]'; do
	case_ "kill body ${bad:0:16} is 400"
	call POST /api/v1/sessions/s3/kill "$bad"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
done
case_ "bad kill bodies named their field and killed nothing"
call POST /api/v1/sessions/s3/kill '{"reason":5}'
check 400 application/problem+json '.field' '"reason"'
call GET /api/v1/sessions/s3
check 200 application/json '.session.killed_at' null
case_ "a reason of 1024 bytes is accepted"
call POST /api/v1/sessions/s3/kill "{\"reason\":\"$(head -c 1024 /dev/zero | tr '\0' 'r')\"}"
check 200 application/json '.session.killed_at|type' '"number"'

# --- the lock -----------------------------------------------------------------
call POST /api/v1/sessions '{"id":"s-lock"}'
c2=$(cursor)
case_ "lock is 200 with token 1"
t0=$(now_ms)
call POST /api/v1/sessions/s-lock/lock '{"ttl_ms":10000}'
check 200 application/json '.lock|keys' '["device_id","expires_at","token"]' \
    '.lock.device_id' '"a-phone"' '.lock.token' 1
exp1=$(jqr .lock.expires_at)
[ "$exp1" -ge $((t0 + 10000)) ] && [ "$exp1" -le $(($(now_ms) + 10000)) ] && ok "expires_at is now + ttl" || fail "expires_at is now + ttl" "$exp1"
case_ "the session shows the lock"
call GET /api/v1/sessions/s-lock
check 200 application/json '.session.lock.device_id' '"a-phone"' '.session.lock.token' 1
case_ "another device gets 423 LOCKED with the lock"
TOKEN=$B
call POST /api/v1/sessions/s-lock/lock '{"ttl_ms":1000}'
check 423 application/problem+json '.code' '"LOCKED"' '.lock.device_id' '"a-phone"' '.lock.token' 1 \
    '.lock.expires_at' "$exp1"
case_ "another device cannot release it: 409 NOT_HOLDER"
call DELETE /api/v1/sessions/s-lock/lock
check 409 application/problem+json '.code' '"NOT_HOLDER"'
TOKEN=$A
case_ "the holder locking again extends it and keeps its token"
call POST /api/v1/sessions/s-lock/lock '{"ttl_ms":20000}'
check 200 application/json '.lock.token' 1 '.lock.device_id' '"a-phone"'
exp2=$(jqr .lock.expires_at)
[ "$exp2" -gt "$exp1" ] && ok "extended" || fail "extended" "$exp2 <= $exp1"
case_ "the holder releases: 204"
call DELETE /api/v1/sessions/s-lock/lock
check 204 -
[ -z "$RBODY" ] && ok "204 has no body" || fail "204 has no body" "$RBODY"
case_ "the session shows no lock"
call GET /api/v1/sessions/s-lock
check 200 application/json '.session.lock' null
case_ "releasing again (nobody holds it) is 409 NOT_HOLDER"
call DELETE /api/v1/sessions/s-lock/lock
check 409 application/problem+json '.code' '"NOT_HOLDER"'
case_ "the next holder gets the next fencing token"
TOKEN=$B
call POST /api/v1/sessions/s-lock/lock '{"ttl_ms":300}'
check 200 application/json '.lock.device_id' '"a-laptop"' '.lock.token' 2
case_ "a lock expires after its ttl"
sleep 0.5
call GET /api/v1/sessions/s-lock
check 200 application/json '.session.lock' null
case_ "the holder of an expired lock cannot release it: 409"
call DELETE /api/v1/sessions/s-lock/lock
check 409 application/problem+json '.code' '"NOT_HOLDER"'
case_ "the sweeper announces the expiry"
for i in $(seq 1 50); do
	events_after "$c2"
	[ "$(jqr '[.[]|select(.type=="lock.changed" and .device_id==null)]|length')" = 1 ] && break
	sleep 0.1
done
check 200 - '[.[]|select(.type=="lock.changed" and .device_id==null)][0].data' '{"session_id":"s-lock","device_id":null,"token":2}'
case_ "after expiry another device takes it with the next token"
TOKEN=$A
call POST /api/v1/sessions/s-lock/lock '{"ttl_ms":60000}'
check 200 application/json '.lock.device_id' '"a-phone"' '.lock.token' 3
case_ "lock.changed: acquisitions, the release and the expiry"
events_after "$c2"
check 200 - '[.[]|select(.type=="lock.changed")|[.device_id, .data.device_id, .data.token]]' \
    '[["a-phone","a-phone",1],["a-phone",null,1],["a-laptop","a-laptop",2],[null,null,2],["a-phone","a-phone",3]]' \
    '[.[]|select(.type=="lock.changed")][0].data|keys' '["device_id","session_id","token"]'

case_ "lock ttl_ms bounds: 100 and 60000 are accepted"
call POST /api/v1/sessions '{"id":"s-lock2"}'
call POST /api/v1/sessions/s-lock2/lock '{"ttl_ms":100}'
check 200 application/json '.lock.token' 1
call POST /api/v1/sessions/s-lock2/lock '{"ttl_ms":60000}'
check 200 application/json
for bad in '{"ttl_ms":99}' '{"ttl_ms":60001}' '{"ttl_ms":-5}' '{"ttl_ms":"1000"}' '{"ttl_ms":1000.5}' \
    '{"ttl_ms":null}' '{}' '{"ttl":1000}' ''; do
	case_ "lock body '$bad' is 400 ttl_ms"
	call POST /api/v1/sessions/s-lock2/lock "$bad"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"ttl_ms"'
done
case_ "lock with an array body is 400"
call POST /api/v1/sessions/s-lock2/lock '[1000]'
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
case_ "lock on an unknown session is 404"
call POST /api/v1/sessions/nope/lock '{"ttl_ms":1000}'
check 404 application/problem+json '.code' '"NOT_FOUND"'
call DELETE /api/v1/sessions/nope/lock
check 404 application/problem+json '.code' '"NOT_FOUND"'

# --- lock contention: many devices at once --------------------------------------
login C alice@example.com "$PW" a-tablet
login D alice@example.com "$PW" a-watch
call POST /api/v1/sessions '{"id":"s-lock-race"}'
PIDS=()
for t in A B C D; do
	(
		while [ ! -e "$STACK_DIR/gate" ]; do sleep 0.002; done
		curl -sk -o "$STACK_DIR/lk.$t.b" -w '%{http_code}' -X POST -H "Authorization: Bearer ${!t}" \
		    -H 'Content-Type: application/json' --data-binary '{"ttl_ms":30000}' \
		    "$BASE/api/v1/sessions/s-lock-race/lock" > "$STACK_DIR/lk.$t.s"
	) &
	PIDS+=($!)
done
touch "$STACK_DIR/gate"
wait "${PIDS[@]}"
rm -f "$STACK_DIR/gate"
n200=0; n423=0; holder=""
for t in A B C D; do
	case $(cat "$STACK_DIR/lk.$t.s") in
	200) n200=$((n200 + 1)); holder=$(jq -r .lock.device_id "$STACK_DIR/lk.$t.b") ;;
	423) n423=$((n423 + 1)) ;;
	esac
done
echo "  lock race: sent 4, locked $n200, refused (423) $n423"
case_ "four devices locking at once: exactly one 200, three 423"
[ "$n200" = 1 ] && [ "$n423" = 3 ] && ok "$CASE" || fail "$CASE" "200 x$n200, 423 x$n423"
case_ "every 423 names the one holder, token 1"
good=1
for t in A B C D; do
	if [ "$(cat "$STACK_DIR/lk.$t.s")" = 423 ] &&
	    [ "$(jq -c '[.lock.device_id, .lock.token]' "$STACK_DIR/lk.$t.b")" != "[\"$holder\",1]" ]; then
		good=0
	fi
done
[ "$good" = 1 ] && ok "$CASE" || fail "$CASE" "a 423 named another holder"

# --- kill releases the primary role and the lock ----------------------------------
call POST /api/v1/sessions '{"id":"s-kill-roles"}'
call POST /api/v1/sessions/s-kill-roles/primary '{"action":"claim"}'
check 200 application/json '.primary.device_id' '"a-phone"' '.primary.epoch' 1
call POST /api/v1/sessions/s-kill-roles/lock '{"ttl_ms":30000}'
check 200 application/json '.lock.token' 1
c3=$(cursor)
case_ "kill releases primary and lock"
TOKEN=$B
call POST /api/v1/sessions/s-kill-roles/kill ''
check 200 application/json '.session.primary' null '.session.lock' null
case_ "kill emits primary.changed and lock.changed with device_id null, then session.killed"
events_after "$c3"
check 200 - '[.[]|[.type, .data.device_id]]' '[["primary.changed",null],["lock.changed",null],["session.killed",null]]' \
    '[.[]|select(.type=="primary.changed")][0].data.epoch' 1 \
    '[.[]|select(.type=="lock.changed")][0].data.token' 1 \
    '[.[].device_id]|unique' '["a-laptop"]'
case_ "GET primary of a killed session is null"
call GET /api/v1/sessions/s-kill-roles/primary
check 200 application/json '.primary' null
for action in claim renew release; do
	case_ "primary $action on a killed session is 410"
	call POST /api/v1/sessions/s-kill-roles/primary "{\"action\":\"$action\"}"
	check 410 application/problem+json '.code' '"SESSION_KILLED"'
done
case_ "primary transfer on a killed session is 410"
call POST /api/v1/sessions/s-kill-roles/primary '{"action":"transfer","to_device":"a-phone"}'
check 410 application/problem+json '.code' '"SESSION_KILLED"'
case_ "lock on a killed session is 410"
call POST /api/v1/sessions/s-kill-roles/lock '{"ttl_ms":1000}'
check 410 application/problem+json '.code' '"SESSION_KILLED"'
case_ "unlock on a killed session is 410"
TOKEN=$A
call DELETE /api/v1/sessions/s-kill-roles/lock
check 410 application/problem+json '.code' '"SESSION_KILLED"'

# --- another user's sessions do not exist ---------------------------------------
TOKEN=$X
case_ "another user's session is 404 on GET"
call GET /api/v1/sessions/s1
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "another user's session is 404 on kill"
call POST /api/v1/sessions/s1/kill ''
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "another user's session is 404 for messages"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"x1","body":"intrude"}'
check 404 application/problem+json '.code' '"NOT_FOUND"'
call GET /api/v1/sessions/s1/messages
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "another user's session is 404 for the primary role"
call GET /api/v1/sessions/s1/primary
check 404 application/problem+json '.code' '"NOT_FOUND"'
call POST /api/v1/sessions/s1/primary '{"action":"claim"}'
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "another user's session is 404 for the lock"
call POST /api/v1/sessions/s-lock/lock '{"ttl_ms":1000}'
check 404 application/problem+json '.code' '"NOT_FOUND"'
call DELETE /api/v1/sessions/s-lock/lock
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "another user's list is empty"
call GET "/api/v1/sessions?state=all"
check 200 application/json '.sessions' '[]'
case_ "another user creating the same id gets a session of their own (201)"
call POST /api/v1/sessions '{"id":"s1","title":"bob s1"}'
check 201 application/json '.session.title' '"bob s1"' '.session.message_count' 0
TOKEN=$A
case_ "and the first user's session is untouched"
call GET /api/v1/sessions/s1
check 200 application/json '.session.title' '"Kitchen chat"' '.session.killed_at' null
case_ "no event of the first user mentions the intruder"
events_after 0
check 200 - '[.[]|select(.device_id=="b-phone")]|length' 0

finish
