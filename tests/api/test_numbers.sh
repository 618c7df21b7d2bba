#!/usr/bin/env bash
# Numbers are I-JSON doubles everywhere: stored and answered in their
# canonical (RFC 8785) form whatever their size, never lost on the way
# back out of the database (issue 13, item 1).  Raw bodies are compared
# as text where jq would hide the form (jq prints 1.5e19 its own way).
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_RATE_PER_S=0

register num@example.com password-num
login TA num@example.com password-num laptop
login TB num@example.com password-num phone
TOKEN=$TA

# The raw text of member $1 of the last body (a flat search: the member
# name is unique in the bodies it is used on).
raw_member() {
	printf '%s' "$RBODY" | grep -o "\"$1\":[^,}]*" | head -1 | cut -d: -f2-
}

call POST /api/v1/sessions '{"id":"s1"}'

case_ "a message body with 1.5e19 is stored (was 503)"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m1","body":{"f":1.5e19}}'
check 201 application/json '.message.body.f > 1e19' 'true'

case_ "the message answers 1.5e19 in canonical form"
[ "$(raw_member f)" = "15000000000000000000" ] && ok "$CASE" ||
    fail "$CASE" "f is $(raw_member f): $RBODY"

case_ "a message body with -9.3e18 is stored"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m2","body":{"g":-9.3e18}}'
check 201 application/json
[ "$(raw_member g)" = "-9300000000000000000" ] && ok "$CASE canonical" ||
    fail "$CASE canonical" "g is $(raw_member g)"

case_ "listing messages shows both numbers"
call GET /api/v1/sessions/s1/messages
check 200 application/json '.messages|length' '2' '.messages[0].body.f > 1e19' 'true' \
    '.messages[1].body.g < -9e18' 'true'

case_ "a retry answers the original with its number"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m1","body":{"f":1.5e19}}'
check 200 application/json '.duplicate' '"retry"' '.message.body.f > 1e19' 'true'

case_ "a record with 1.5e19 is stored"
call POST /api/v1/sync/push '{"changes":[{"collection":"c","id":"r1","base_version":0,"data":{"f":1.5e19,"x":1.1,"i":9007199254740993}}]}'
check 200 application/json '.results[0].status' '"applied"'
V1=$(jqr '.results[0].version')

case_ "GET record shows the number, not null (was data:null)"
call GET /api/v1/collections/c/records/r1
check 200 application/json '.record.data.f > 1e19' 'true' '.record.data|type' '"object"'

case_ "GET record answers each number canonically"
f=$(raw_member f); x=$(raw_member x); i=$(raw_member i)
[ "$f" = 15000000000000000000 ] && [ "$x" = 1.1 ] && [ "$i" = 9007199254740992 ] &&
    ok "$CASE" || fail "$CASE" "f=$f x=$x i=$i: $RBODY"

case_ "pull answers the same canonical text"
call GET "/api/v1/sync/pull?since=0"
check 200 application/json '.changes[0].data.f > 1e19' 'true'
[ "$(raw_member f)" = 15000000000000000000 ] && ok "$CASE (text)" ||
    fail "$CASE (text)" "$RBODY"

case_ "a conflict keeps the server's number in server.data"
call POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"c\",\"id\":\"r1\",\"base_version\":1,\"data\":{\"f\":2}}]}"
check 200 application/json '.results[0].status' '"conflict"' '.results[0].server.data.f > 1e19' 'true'
CID=$(jqr '.results[0].conflict_id')

case_ "GET conflict shows server.data with the number"
call GET "/api/v1/conflicts/$CID"
check 200 application/json '.conflict.server.data.f > 1e19' 'true' '.conflict.client.data' '{"f":2}'

case_ "resolving to the server keeps the number"
call POST "/api/v1/conflicts/$CID/resolve" '{"resolution":"server"}'
check 200 application/json '.record.data.f > 1e19' 'true'

case_ "an app event with 1.5e19 data reads back"
call POST /api/v1/events '{"type":"app.n","data":{"big":1.5e19,"small":0.1}}'
check 201 application/json '.event.data.big > 1e19' 'true'
SEQ=$(jqr '.event.seq')

case_ "polling the event shows the number canonically"
call GET "/api/v1/events?after=$((SEQ - 1))&timeout=0"
check 200 application/json '.events[0].data.big > 1e19' 'true'
[ "$(raw_member big)" = 15000000000000000000 ] && [ "$(raw_member small)" = 0.1 ] &&
    ok "$CASE (text)" || fail "$CASE (text)" "$RBODY"

case_ "an integer literal past 64 bits is 400, nothing written"
call POST /api/v1/sync/push '{"changes":[{"collection":"c","id":"r2","base_version":0,"data":{"f":18446744073709551616}}]}'
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
call GET /api/v1/collections/c/records/r2
check 404 application/problem+json

case_ "a merge treats 5 and 5.0 as the same number"
call POST /api/v1/sync/push '{"changes":[{"collection":"c","id":"m","base_version":0,"data":{"a":5,"b":1}}]}'
MV=$(jqr '.results[0].version')
call POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"c\",\"id\":\"m\",\"base_version\":$MV,\"data\":{\"a\":5,\"b\":2}}]}"
call POST /api/v1/sync/push "{\"strategy\":\"merge\",\"changes\":[{\"collection\":\"c\",\"id\":\"m\",\"base_version\":$MV,\"data\":{\"a\":5.0,\"b\":1,\"c\":3}}]}"
check 200 application/json '.results[0].status' '"merged"'
call GET /api/v1/collections/c/records/m
check 200 application/json '.record.data' '{"a":5,"b":2,"c":3}'

case_ "export holds the numbers"
call GET /api/v1/export
check 200 application/json '.records|map(select(.id=="r1"))[0].data.f > 1e19' 'true' \
    '.sessions[0].messages[0].body.f > 1e19' 'true'

finish
