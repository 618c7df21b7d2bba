#!/usr/bin/env bash
# Import (API.md "Sync", 1.1): POST /import takes an export and moves its
# records, sessions and messages into the caller's account, in one
# transaction; anything that is not an export writes nothing.
. "$(dirname "$0")/lib.sh"

stack_start TANDEM_MAX_RECORD_BYTES=4096 TANDEM_RATE_PER_S=0

register src@example.com password-src-1
login S src@example.com password-src-1 laptop
TOKEN=$S
call POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"a","base_version":0,"data":{"t":"x","n":1.50},"modified_at":1700000000000},{"collection":"todo","id":"b","base_version":0,"data":{"done":false}}]}'
call POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"gone","base_version":0,"data":{"z":1}}]}'
v=$(jqr '.results[0].version')
call POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"gone\",\"base_version\":$v,\"deleted\":true}]}"
call POST /api/v1/sessions '{"id":"s1","title":"chat"}'
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m1","body":{"text":"hi"}}'
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m2","body":"two"}'
call POST /api/v1/sessions '{"id":"s2"}'
call POST /api/v1/sessions/s2/kill '{"reason":"done"}'
call GET /api/v1/export
EXPORT=$STACK_DIR/export.json
printf '%s' "$RBODY" > "$EXPORT"

# what a round trip must keep
shape() {
	jq -cS '[([.records[] | {collection, id, data, deleted}] | sort_by(.collection, .id)),
	    ([.sessions[] | {id, title, killed_at, m: [.messages[] | {client_msg_id, body, hash}]}] | sort_by(.id))]' "$1"
}

register dst@example.com password-dst-1
login D dst@example.com password-dst-1 terminal
TOKEN=$D

# --- not an export: 400, nothing written ------------------------------------

bad() { # WHAT FIELD JQ-EDIT
	case_ "not an export ($1): 400 VALIDATION_FAILED, field $2"
	call POST /api/v1/import "$(jq -c "$3" "$EXPORT")"
	check 400 application/problem+json .code '"VALIDATION_FAILED"' .field "\"$2\""
}
bad "no records" records 'del(.records)'
bad "records not an array" records '.records = {}'
bad "no sessions" sessions 'del(.sessions)'
bad "a record not an object" 'records[1]' '.records[1] = 7'
bad "a bad collection" 'records[0].collection' '.records[0].collection = "Bad Name"'
bad "a collection not a string" 'records[0].collection' '.records[0].collection = 5'
bad "an id not an id" 'records[0].id' '.records[0].id = "a b"'
bad "no deleted" 'records[0].deleted' '.records[0] |= del(.deleted)'
bad "deleted not a boolean" 'records[0].deleted' '.records[0].deleted = "no"'
bad "data an array" 'records[0].data' '.records[0].data = [1]'
bad "data on a tombstone" 'records[0].data' '.records[0].deleted = true'
bad "modified_at a string" 'records[0].modified_at' '.records[0].modified_at = "now"'
bad "a session without messages" 'sessions[0].messages' '.sessions[0] |= del(.messages)'
bad "a session id not an id" 'sessions[0].id' '.sessions[0].id = ""'
bad "a title not a string" 'sessions[0].title' '.sessions[0].title = 3'
bad "killed_at negative" 'sessions[0].killed_at' '.sessions[0].killed_at = -1'
bad "a message hash that is not its body's" 'sessions[0].messages[0].hash' \
    '(.sessions[] | select(.id == "s1") | .messages[0].hash) = "sha256:00"'
bad "a message without client_msg_id" 'sessions[0].messages[1].client_msg_id' \
    '(.sessions[] | select(.id == "s1") | .messages[1]) |= del(.client_msg_id)'
bad "a client_msg_id twice" 'sessions[0].messages[1].client_msg_id' \
    '(.sessions[] | select(.id == "s1") | .messages[1].client_msg_id) = "m1"'
case_ "not an object at all: 400"
call POST /api/v1/import '[1,2]'
check 400 application/problem+json .code '"VALIDATION_FAILED"'
case_ "malformed JSON: 400 field body"
call POST /api/v1/import '{"records":['
check 400 application/problem+json .field '"body"'

case_ "a record over TANDEM_MAX_RECORD_BYTES: 413 naming it"
big=$(head -c 5000 /dev/zero | tr '\0' 'x')
call POST /api/v1/import "$(jq -c --arg b "$big" '.records[1].data = {"big": $b}' "$EXPORT")"
check 413 application/problem+json .code '"PAYLOAD_TOO_LARGE"' .field '"records[1].data"'

case_ "a record holding a private key: 422 SECRET_REJECTED"
call POST /api/v1/import "$(jq -c '.records[0].data = {"ssh":{"key":"-----BEGIN OPENSSH PRIVATE KEY-----\nabc"}}' "$EXPORT")"
check 422 application/problem+json .code '"SECRET_REJECTED"' .field '"records[0].data.ssh.key"' .kind '"private_key"'

case_ "nothing of those was written"
call GET /api/v1/export
got=$(printf '%s' "$RBODY" | jq -c '[(.records | length), (.sessions | length)]')
[ "$got" = "[0,0]" ] && ok "$CASE" || fail "$CASE" "$got"

case_ "without a token: 401, the body not read"
TOKEN=""
call POST /api/v1/import "$(cat "$EXPORT")"
check 401 application/problem+json
TOKEN=$D

# --- the round trip -------------------------------------------------------------

case_ "an export imported into an empty account: the counts"
call GET "/api/v1/events"
c0=$(jqr .cursor)
call POST /api/v1/import "$(cat "$EXPORT")"
check 200 application/json .imported '{"records":3,"sessions":2,"messages":2}' \
    .skipped '{"records":0,"sessions":0}'
note_counts=$RBODY

case_ "exporting it again gives the same records, sessions and messages"
call GET /api/v1/export
printf '%s' "$RBODY" > "$STACK_DIR/export2.json"
a=$(shape "$EXPORT")
b=$(shape "$STACK_DIR/export2.json")
[ "$a" = "$b" ] && ok "$CASE" || fail "$CASE" "$(diff <(echo "$a" | jq .) <(echo "$b" | jq .) | head -20)"

case_ "the records are new versions by the importing device, modified_at kept"
got=$(jq -c '[.records[] | select(.id == "a") | [.device_id, .modified_at]]' "$STACK_DIR/export2.json")
[ "$got" = '[["terminal",1700000000000]]' ] && ok "$CASE" || fail "$CASE" "$got"

case_ "messages keep their order, client_msg_id, device and time; seq from 1"
got=$(jq -c '[.sessions[] | select(.id == "s1") | .messages[] | [.seq, .client_msg_id, .device_id]]' "$STACK_DIR/export2.json")
want=$(jq -c '[.sessions[] | select(.id == "s1") | .messages[] | [.seq, .client_msg_id, .device_id]]' "$EXPORT")
[ "$got" = "$want" ] && [ "$got" = '[[1,"m1","laptop"],[2,"m2","laptop"]]' ] && ok "$CASE" || fail "$CASE" "$got vs $want"

case_ "the killed session stays killed with its reason"
got=$(jq -c '[.sessions[] | select(.id == "s2") | [(.killed_at > 0), .kill_reason, (.killed_at == ($orig | .sessions[] | select(.id == "s2") | .killed_at))]]' --slurpfile o "$EXPORT" --argjson orig "$(cat "$EXPORT")" "$STACK_DIR/export2.json")
[ "$got" = '[[true,"done",true]]' ] && ok "$CASE" || fail "$CASE" "$got"

case_ "one record.changed and one session.created per session followed"
call GET "/api/v1/events?after=$c0&exclude_self=0"
got=$(printf '%s' "$RBODY" | jq -c '[.events[] | [.type, (.data.collections // .data.session_id)]]')
[ "$got" = '[["record.changed",["notes","todo"]],["session.created","s1"],["session.created","s2"]]' ] &&
    ok "$CASE" || fail "$CASE" "$got"

case_ "the imported records pull like any other"
call GET "/api/v1/sync/pull?since=0"
check 200 application/json '[.changes[] | .id] | sort' '["a","b","gone"]'

case_ "importing it again: everything skipped, nothing written"
call GET /api/v1/sync/pull?since=0
cur=$(jqr .cursor)
call POST /api/v1/import "$(cat "$EXPORT")"
check 200 application/json .imported '{"records":0,"sessions":0,"messages":0}' \
    .skipped '{"records":3,"sessions":2}'
call GET "/api/v1/sync/pull?since=$cur"
[ "$(jqr '.changes | length')" = 0 ] && ok "nothing new to pull" || fail "nothing new to pull" "$RBODY"

case_ "a record the account has (a tombstone too) is skipped, the account's own stays"
call POST /api/v1/import "$(jq -c '.records = [
    {"collection":"notes","id":"a","deleted":false,"data":{"other":1},"modified_at":1},
    {"collection":"notes","id":"gone","deleted":false,"data":{"back":1},"modified_at":1},
    {"collection":"notes","id":"fresh","deleted":true,"data":null,"modified_at":1}] | .sessions = []' "$EXPORT")"
check 200 application/json .imported.records 1 .skipped.records 2
call GET /api/v1/collections/notes/records/a
check 200 application/json .record.data '{"n":1.5,"t":"x"}'
call GET /api/v1/collections/notes/records/fresh
check 200 application/json .record.deleted true

# --- sizes ------------------------------------------------------------------------

case_ "an import may be larger than TANDEM_MAX_BODY_BYTES (2 MiB here)"
python3 - "$STACK_DIR/big.json" <<'PY'
import json, sys
recs = [{"collection": "bulk", "id": f"r{i}", "deleted": False, "modified_at": 1,
         "data": {"i": i, "s": "y" * 3000}} for i in range(700)]
json.dump({"records": recs, "sessions": []}, open(sys.argv[1], "w"))
PY
call POST /api/v1/import "@$STACK_DIR/big.json"
check 200 application/json .imported.records 700
case_ "... while other routes still refuse 2 MiB"
call POST /api/v1/sync/push "@$STACK_DIR/big.json"
check 413 application/problem+json .code '"PAYLOAD_TOO_LARGE"'

case_ "a 40 MiB import is 413, a problem document"
head -c $((40 * 1024 * 1024)) /dev/zero | tr '\0' ' ' > "$STACK_DIR/huge.json"
out=$(curl -sk -o "$STACK_DIR/huge.out" -w '%{http_code} %{content_type}' --max-time 60 \
    -H "Authorization: Bearer $D" -H 'Content-Type: application/json' \
    --data-binary "@$STACK_DIR/huge.json" "$BASE/api/v1/import")
[ "${out%% *}" = 413 ] && [ "$(jq -r .code "$STACK_DIR/huge.out")" = PAYLOAD_TOO_LARGE ] &&
    ok "$CASE" || fail "$CASE" "$out $(head -c 200 "$STACK_DIR/huge.out")"
rm -f "$STACK_DIR/huge.json"

case_ "/info tells max_import_bytes"
TOKEN=""
call GET /api/v1/info
check 200 application/json .max_import_bytes 33554432

case_ "no server error in the log"
grep -q '"status":5[0-9][0-9]' "$STACK_DIR/stack.log" &&
    fail "$CASE" "$(grep '"status":5[0-9][0-9]' "$STACK_DIR/stack.log" | head -2)" || ok "$CASE"
stack_stop

# --- the body limit in tandemd, quotas ----------------------------------------------

stack_start TANDEM_MAX_IMPORT_BYTES=4096 TANDEM_QUOTA_RECORDS=2
register q@example.com password-quota-1
login Q q@example.com password-quota-1 q1
TOKEN=$Q
case_ "over TANDEM_MAX_IMPORT_BYTES: 413 from tandemd"
python3 -c 'import json; print(json.dumps({"records": [{"collection": "c", "id": "x", "deleted": False, "data": {"s": "z" * 5000}}], "sessions": []}))' > "$STACK_DIR/over.json"
call POST /api/v1/import "@$STACK_DIR/over.json"
check 413 application/problem+json .code '"PAYLOAD_TOO_LARGE"'
case_ "an import past the record quota: 403 QUOTA_EXCEEDED, nothing written"
call POST /api/v1/import '{"records":[{"collection":"c","id":"1","deleted":false,"data":{}},{"collection":"c","id":"2","deleted":false,"data":{}},{"collection":"c","id":"3","deleted":false,"data":{}}],"sessions":[{"id":"qs","title":null,"messages":[]}]}'
check 403 application/problem+json .code '"QUOTA_EXCEEDED"' .quota '"records"'
call GET /api/v1/export
got=$(printf '%s' "$RBODY" | jq -c '[(.records | length), (.sessions | length)]')
[ "$got" = "[0,0]" ] && ok "nothing written by the refused import" || fail "nothing written by the refused import" "$got"
finish
