#!/usr/bin/env bash
# History (API.md "Sync", 1.1): GET /collections/{c}/records/{id}/history
# answers the current revision and the previous ones kept, newest first.
. "$(dirname "$0")/lib.sh"

stack_start TANDEM_HISTORY_KEEP=3
register hist@example.com password-hist-1
login A hist@example.com password-hist-1 phone
login B hist@example.com password-hist-1 laptop

put() { # TOKEN ID BASE DATA
	TOKEN=$1
	call POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"$2\",\"base_version\":$3,\"data\":$4,\"modified_at\":1700000000000}]}"
	V=$(jqr '.results[0].version')
}

put "$A" n1 0 '{"v":1}'; v1=$V
put "$B" n1 "$v1" '{"v":2.50}'; v2=$V
TOKEN=$A
call POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"n1\",\"base_version\":$v2,\"deleted\":true}]}"
v3=$(jqr '.results[0].version')
put "$B" n1 0 '{"v":4}'; v4=$V

case_ "the history: the current revision first, then the previous, with who wrote each"
TOKEN=$A
call GET /api/v1/collections/notes/records/n1/history
check 200 application/json
got=$(printf '%s' "$RBODY" | jq -c '[.revisions[] | [.version, .data, .deleted, .device_id]]')
want="[[$v4,{\"v\":4},false,\"laptop\"],[$v3,null,true,\"phone\"],[$v2,{\"v\":2.5},false,\"laptop\"],[$v1,{\"v\":1},false,\"phone\"]]"
[ "$got" = "$want" ] && ok "$CASE" || fail "$CASE" "got $got want $want"
case_ "modified_at is the device's"
[ "$(printf '%s' "$RBODY" | jq '.revisions[0].modified_at')" = 1700000000000 ] && ok "$CASE" || fail "$CASE" "$RBODY"

case_ "limit=2: the two newest"
call GET "/api/v1/collections/notes/records/n1/history?limit=2"
check 200 application/json '[.revisions[].version]' "[$v4,$v3]"

case_ "TANDEM_HISTORY_KEEP=3: the current and 3 previous at most"
put "$A" n1 "$v4" '{"v":5}'; v5=$V
call GET "/api/v1/collections/notes/records/n1/history?limit=100"
check 200 application/json '[.revisions[].version]' "[$v5,$v4,$v3,$v2]"

case_ "a record written once has one revision"
put "$A" n2 0 '{"only":true}'
call GET /api/v1/collections/notes/records/n2/history
check 200 application/json '.revisions | length' 1

for q in limit=0 limit=101 limit=x limit=-1 'limit=1.5'; do
	case_ "?$q is 400 VALIDATION_FAILED"
	call GET "/api/v1/collections/notes/records/n1/history?$q"
	check 400 application/problem+json .code '"VALIDATION_FAILED"' .field '"limit"'
done

case_ "a record never written is 404"
call GET /api/v1/collections/notes/records/never/history
check 404 application/problem+json .code '"NOT_FOUND"'
case_ "a bad collection name is 400"
call GET /api/v1/collections/Bad%20Name/records/n1/history
check 400 application/problem+json .code '"VALIDATION_FAILED"'
case_ "without a token: 401"
TOKEN=""
call GET /api/v1/collections/notes/records/n1/history
check 401 application/problem+json

register other@example.com password-other-1
login O other@example.com password-other-1 other
case_ "another user's record is 404"
TOKEN=$O
call GET /api/v1/collections/notes/records/n1/history
check 404 application/problem+json .code '"NOT_FOUND"'

case_ "/info tells history_keep"
TOKEN=""
call GET /api/v1/info
check 200 application/json .history_keep 3
finish
