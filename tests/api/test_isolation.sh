#!/usr/bin/env bash
# Isolation: user B using user A's ids gets 404, exactly as if they did not
# exist, and changes nothing.  Table-driven over the route table itself:
# every route of handlers/routes.c with a path parameter must have a case
# below, so a new route without one fails this test.  A's state is read
# through A's own GETs before and after and must be unchanged; B's lists
# never show anything of A's; B reusing A's client-chosen ids gets B's own
# objects, never A's.  The service routes (/api/v1/service/users/{uid}/...)
# are the exception by design: a service key reaches any user; what
# isolates users there is that no device's token opens them, so B's token
# on A's uid is 401 INVALID_TOKEN (SERVICE_BODY below) and changes nothing.
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_RATE_PER_S=0 TANDEM_SEEN_WRITE_MS=0

PW="correct horse battery"
register alice@example.com "$PW"
UA=$(jqr .user.id)
register bob@example.com "$PW"
login TA alice@example.com "$PW" dev-a
login TA2 alice@example.com "$PW" dev-a2
login TB bob@example.com "$PW" dev-b

TOKEN_NONE=""
as() { # TOKEN-var METHOD PATH [BODY]: one request, setup only
	TOKEN=${!1}
	call "$2" "$3" "${4-}"
	case $STATUS in 2??) ;; *) fail "setup $2 $3" "status $STATUS: ${RBODY:0:200}";; esac
}
# --- A's world: a session with messages, primary and lock, records, a conflict ---
as TA POST /api/v1/sessions '{"id":"sa1","title":"A secret title"}'
as TA POST /api/v1/sessions/sa1/messages '{"client_msg_id":"ma1","body":{"text":"A secret"}}'
as TA POST /api/v1/sessions/sa1/primary '{"action":"claim"}'
as TA POST /api/v1/sessions/sa1/lock '{"ttl_ms":60000}'
as TA POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"ra1","base_version":0,"data":{"secret":"A"}}]}'
V1=$(jqr '.results[0].version')
as TA2 POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"ra1\",\"base_version\":$V1,\"data\":{\"secret\":\"A2\"}}]}"
as TA POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"ra1\",\"base_version\":$V1,\"data\":{\"secret\":\"A3\"}}]}"
CA=$(jqr '.results[0].conflict_id // empty')
[ -n "$CA" ] || { fail "setup conflict" "no conflict id: $RBODY"; CA=1; }
as TB POST /api/v1/sessions '{"id":"sb1","title":"B"}'
# a link approved for A, its tokens not taken yet; one of B's own, pending
as TOKEN_NONE POST /api/v1/auth/link '{"device":{"id":"term-a","platform":"cli","name":"A terminal"}}'
LA_ID=$(jqr .link.id) LA_CODE=$(jqr .link.code) LA_SECRET=$(jqr .link.secret)
as TA POST /api/v1/links/approve "{\"code\":\"$LA_CODE\"}"
as TOKEN_NONE POST /api/v1/auth/link '{"device":{"id":"term-b","platform":"cli","name":"B terminal"}}'
LB_SECRET=$(jqr .link.secret)

# --- A's state as A sees it (volatile presence fields left out) ------------------
A_GETS=(/api/v1/sessions?state=all /api/v1/sessions/sa1 /api/v1/sessions/sa1/messages
    /api/v1/sessions/sa1/primary /api/v1/devices "/api/v1/sync/pull?since=0"
    /api/v1/collections /api/v1/collections/notes/records/ra1
    /api/v1/collections/notes/records/ra1/history "/api/v1/conflicts?status=all"
    "/api/v1/conflicts/$CA" "/api/v1/events?after=0&limit=1000" /api/v1/export)
a_state() {
	local p out=""
	TOKEN=$TA
	for p in "${A_GETS[@]}"; do
		call GET "$p"
		out+="$p $STATUS $(printf '%s' "$RBODY" | jq -cS 'del(.. | .last_seen_at?, .online?, .stale?, .request_id?, .last_pull_at?, .exported_at?) |
		    if has("events") then .events |= map(select(.type | test("^device\\.(online|offline)$") | not)) | del(.cursor) else . end' 2>&1)"$'\n'
	done
	printf '%s' "$out"
}
BEFORE=$(a_state)

# --- one case per route with a path parameter ------------------------------------
# "METHOD pattern" -> the body B sends (- for none).  Parameters are filled
# with A's ids: :did dev-a, :sid sa1, :c notes, :rid ra1, :cid A's conflict.
declare -A BODY=(
	["PATCH /api/v1/devices/:did"]='{"name":"pwned","push_token":"evil"}'
	["DELETE /api/v1/devices/:did"]=-
	["GET /api/v1/sessions/:sid"]=-
	["POST /api/v1/sessions/:sid/messages"]='{"client_msg_id":"mb-evil","body":{"text":"from B"}}'
	["GET /api/v1/sessions/:sid/messages"]=-
	["POST /api/v1/sessions/:sid/kill"]='{"reason":"B was here"}'
	["GET /api/v1/sessions/:sid/primary"]=-
	["POST /api/v1/sessions/:sid/primary"]='{"action":"claim"}'
	["POST /api/v1/sessions/:sid/lock"]='{"ttl_ms":5000}'
	["DELETE /api/v1/sessions/:sid/lock"]=-
	["GET /api/v1/collections/:c/records/:rid"]=-
	["GET /api/v1/collections/:c/records/:rid/history"]=-
	["GET /api/v1/conflicts/:cid"]=-
	["POST /api/v1/conflicts/:cid/resolve"]='{"resolution":"client"}'
	["POST /api/v1/auth/link/:lid/token"]="{\"secret\":\"$LB_SECRET\",\"timeout\":0}"
)
# The code a route answers for another user's id, where not NOT_FOUND.
declare -A CODE=(
	["POST /api/v1/auth/link/:lid/token"]=LINK_NOT_FOUND
)
# The service routes: B's device token on A's uid is refused outright.
declare -A SERVICE_BODY=(
	["POST /api/v1/service/users/:uid/events"]='{"type":"app.evil","data":{"from":"B"}}'
	["POST /api/v1/service/users/:uid/sync/push"]='{"changes":[{"collection":"notes","id":"ra1","base_version":0,"data":{"b":"evil"}}],"strategy":"client_wins"}'
	["GET /api/v1/service/users/:uid/sync/pull"]=-
)
# More bodies for routes that act on several things.
declare -A MORE=(
	["POST /api/v1/sessions/:sid/primary"]='{"action":"release"}|{"action":"renew"}|{"action":"transfer","to_device":"dev-b"}'
	["POST /api/v1/conflicts/:cid/resolve"]='{"resolution":"server"}|{"resolution":"merged","data":{"b":1}}'
)
ROUTES=$(awk -F'"' '/^[[:space:]]*\{ *HTTP_[A-Z]+, *"/ && $2 ~ /:/ {
	m = $1; sub(/.*HTTP_/, "", m); sub(/,.*/, "", m); print m " " $2 }' "$TOP/handlers/routes.c")
case_ "the route table parses"
[ "$(wc -l <<<"$ROUTES")" -ge 10 ] && ok "$CASE" || fail "$CASE" "only: $ROUTES"

fill() {
	sed -e 's/:did/dev-a/' -e 's/:sid/sa1/' -e 's/:cid/'"$CA"'/' -e 's/:c\//notes\//' -e 's/:rid/ra1/' \
	    -e 's/:uid/'"$UA"'/' -e "s/:lid/$LA_ID/" <<<"$1"
}
ncases=0
while read -r method pattern; do
	key="$method $pattern"
	case_ "a case exists for $key"
	if [ -n "${SERVICE_BODY[$key]+x}" ]; then
		ok "$CASE"
		ncases=$((ncases + 1))
		path=$(fill "$pattern")
		body=${SERVICE_BODY[$key]}
		case_ "B's token: $method $path is 401 (a service route)"
		TOKEN=$TB
		if [ "$body" = - ]; then call "$method" "$path"; else call "$method" "$path" "$body"; fi
		check 401 application/problem+json '.code' '"INVALID_TOKEN"'
		case_ "B: $method $path: A's state unchanged"
		now=$(a_state)
		if [ "$now" = "$BEFORE" ]; then ok "$CASE"; else
			fail "$CASE" "$(diff <(echo "$BEFORE") <(echo "$now") | head -c 600)"
			BEFORE=$now
		fi
		continue
	fi
	if [ -z "${BODY[$key]+x}" ]; then
		fail "$CASE" "no isolation case for this route: add one to BODY in $(basename "$0")"
		continue
	fi
	ok "$CASE"
	path=$(fill "$pattern")
	bodies=("${BODY[$key]}")
	if [ -n "${MORE[$key]+x}" ]; then
		IFS='|' read -r -a extra <<<"${MORE[$key]}"
		bodies+=("${extra[@]}")
	fi
	for body in "${bodies[@]}"; do
		ncases=$((ncases + 1))
		case_ "B: $method $path ${body#-} is 404"
		TOKEN=$TB
		if [ "$body" = - ]; then call "$method" "$path"; else call "$method" "$path" "$body"; fi
		check 404 application/problem+json '.code' "\"${CODE[$key]:-NOT_FOUND}\""
		case_ "B: $method $path: A's state unchanged"
		now=$(a_state)
		if [ "$now" = "$BEFORE" ]; then ok "$CASE"; else
			fail "$CASE" "$(diff <(echo "$BEFORE") <(echo "$now") | head -c 600)"
			BEFORE=$now
		fi
	done
done <<<"$ROUTES"
echo "isolation: $ncases cross-user requests over $(wc -l <<<"$ROUTES") routes with ids"

case_ "B's token cannot look A up by email (GET /service/users)"
TOKEN=$TB
call GET "/api/v1/service/users?email=alice@example.com"
check 401 application/problem+json '.code' '"INVALID_TOKEN"'

# --- A's ids in B's bodies and B's lists ------------------------------------------
case_ "B cannot hand B's primary role to A's device"
TOKEN=$TB
call POST /api/v1/sessions/sb1/primary '{"action":"claim"}'
call POST /api/v1/sessions/sb1/primary '{"action":"transfer","to_device":"dev-a"}'
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "B's lists show nothing of A's"
leak=""
for p in /api/v1/sessions?state=all /api/v1/devices "/api/v1/sync/pull?since=0" /api/v1/collections \
    "/api/v1/conflicts?status=all" "/api/v1/events?after=0&limit=1000" /api/v1/sync/stats /api/v1/export; do
	call GET "$p"
	[ "$STATUS" = 200 ] || { leak+="$p: $STATUS; "; continue; }
	grep -qE 'sa1|dev-a|ra1|A secret|"secret"|alice' <<<"$RBODY" && leak+="$p: ${RBODY:0:200}; "
done
[ -z "$leak" ] && ok "$CASE" || fail "$CASE" "$leak"
case_ "B creating a session with A's id gets B's own session"
call POST /api/v1/sessions '{"id":"sa1","title":"B title"}'
if [ "$STATUS" = 201 ] && [ "$(jqr .session.title)" = "B title" ] && [ "$(jqr .session.message_count)" = 0 ]; then
	ok "$CASE"
else
	fail "$CASE" "status $STATUS: ${RBODY:0:300}"
fi
case_ "B pushing A's record id writes B's own record"
call POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"ra1","base_version":0,"data":{"b":"mine"}}]}'
if [ "$STATUS" = 200 ] && [ "$(jqr '.results[0].status')" = applied ]; then ok "$CASE"; else fail "$CASE" "status $STATUS: ${RBODY:0:300}"; fi
case_ "B messaging its own session with A's client_msg_id is not a duplicate of A's"
call POST /api/v1/sessions/sa1/messages '{"client_msg_id":"ma1","body":{"text":"A secret"}}'
if [ "$STATUS" = 201 ] && [ "$(jqr .message.device_id)" = dev-b ]; then ok "$CASE"; else fail "$CASE" "status $STATUS: ${RBODY:0:300}"; fi
case_ "B's events about its own sa1 do not reach A"
call POST /api/v1/events '{"type":"app.poke","data":{"x":1},"session_id":"sa1"}'
case "$STATUS" in 201|404) ok "$CASE";; *) fail "$CASE" "status $STATUS: ${RBODY:0:200}";; esac
case_ "after all of B's doings, A's state is unchanged"
now=$(a_state)
if [ "$now" = "$BEFORE" ]; then ok "$CASE"; else fail "$CASE" "$(diff <(echo "$BEFORE") <(echo "$now") | head -c 800)"; fi
case_ "B cannot approve or deny A's approved link's code"
TOKEN=$TB
call POST /api/v1/links/approve "{\"code\":\"$LA_CODE\"}"
check 404 application/problem+json '.code' '"LINK_NOT_FOUND"'
call POST /api/v1/links/deny "{\"code\":\"$LA_CODE\"}"
check 404 application/problem+json '.code' '"LINK_NOT_FOUND"'
case_ "A's link still hands its tokens to its own secret, for A's account"
TOKEN=""
call POST "/api/v1/auth/link/$LA_ID/token" "{\"secret\":\"$LA_SECRET\",\"timeout\":0}"
check 200 application/json '.user.email' '"alice@example.com"' '.device.id' '"term-a"'
case_ "B's devices do not show A's linked device"
TOKEN=$TB
call GET /api/v1/devices
check 200 application/json '[.devices[].id]' '["dev-b"]'
case_ "A still sees its own things"
TOKEN=$TA
call GET /api/v1/sessions/sa1
check 200 application/json '.session.title' '"A secret title"' '.session.message_count' '1'
call GET /api/v1/collections/notes/records/ra1
check 200 application/json '.record.data.secret' '"A2"'
finish
