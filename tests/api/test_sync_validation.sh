#!/usr/bin/env bash
# Push validation: every malformed change shape refuses the whole batch
# with 400 naming the field, and nothing is written (the cursor, the
# records and the events stay as they were); batch and record size
# limits; checksum mismatch; the secret guard.
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_RATE_PER_S=0

push() { call POST /api/v1/sync/push "$1"; }

register carol@example.com password-carol
login TA carol@example.com password-carol desk
TOKEN=$TA

case_ "a first record"
push '{"changes":[{"collection":"base","id":"r0","base_version":0,"data":{"x":1}}]}'
check 200 application/json '.results[0].status' '"applied"'
CUR0=$(jqr .cursor)
call GET "/api/v1/events?after=0&limit=1000"
EV0=$(jqr '.events|length')

# The state that must not move: the cursor, the record count, the events.
state() {
	local s
	call GET "/api/v1/sync/pull?since=0&limit=1000"
	s="$(jqr .cursor) $(jqr '.changes|length')"
	call GET "/api/v1/events?after=0&limit=1000"
	echo "$s $(jqr '.events|length')"
}
STATE0=$(state)
[ "$STATE0" = "$CUR0 1 $EV0" ] && ok "baseline" || fail "baseline" "$STATE0 vs $CUR0 1 $EV0"

VALID='{"collection":"v","id":"valid","base_version":0,"data":{"ok":true}}'
LONG65=$(printf 'c%.0s' $(seq 65))
LONG129=$(printf 'i%.0s' $(seq 129))

# bad_change NAME FIELD CHANGE-JSON: [VALID, CHANGE] must be 400 FIELD
bad_change() {
	case_ "malformed: $1"
	push "{\"changes\":[$VALID,$3]}"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' "\"$2\""
}

bad_change "a number for a change" "changes[1]" '1'
bad_change "null for a change" "changes[1]" 'null'
bad_change "an array for a change" "changes[1]" '[]'
bad_change "a string for a change" "changes[1]" '"x"'
bad_change "no collection" "changes[1].collection" '{"id":"a","base_version":0,"data":{}}'
bad_change "collection with capitals" "changes[1].collection" '{"collection":"Notes","id":"a","base_version":0,"data":{}}'
bad_change "collection of 65 bytes" "changes[1].collection" "{\"collection\":\"$LONG65\",\"id\":\"a\",\"base_version\":0,\"data\":{}}"
bad_change "empty collection" "changes[1].collection" '{"collection":"","id":"a","base_version":0,"data":{}}'
bad_change "collection a number" "changes[1].collection" '{"collection":5,"id":"a","base_version":0,"data":{}}'
bad_change "collection with a dot" "changes[1].collection" '{"collection":"a.b","id":"a","base_version":0,"data":{}}'
bad_change "collection with unicode" "changes[1].collection" '{"collection":"caf\u00e9","id":"a","base_version":0,"data":{}}'
bad_change "no id" "changes[1].id" '{"collection":"c","base_version":0,"data":{}}'
bad_change "id with a space" "changes[1].id" '{"collection":"c","id":"a b","base_version":0,"data":{}}'
bad_change "id with a slash" "changes[1].id" '{"collection":"c","id":"a/b","base_version":0,"data":{}}'
bad_change "id of 129 bytes" "changes[1].id" "{\"collection\":\"c\",\"id\":\"$LONG129\",\"base_version\":0,\"data\":{}}"
bad_change "empty id" "changes[1].id" '{"collection":"c","id":"","base_version":0,"data":{}}'
bad_change "id a number" "changes[1].id" '{"collection":"c","id":7,"base_version":0,"data":{}}'
bad_change "no base_version" "changes[1].base_version" '{"collection":"c","id":"a","data":{}}'
bad_change "negative base_version" "changes[1].base_version" '{"collection":"c","id":"a","base_version":-1,"data":{}}'
bad_change "base_version a string" "changes[1].base_version" '{"collection":"c","id":"a","base_version":"0","data":{}}'
bad_change "base_version a fraction" "changes[1].base_version" '{"collection":"c","id":"a","base_version":1.5,"data":{}}'
bad_change "base_version null" "changes[1].base_version" '{"collection":"c","id":"a","base_version":null,"data":{}}'
bad_change "base_version true" "changes[1].base_version" '{"collection":"c","id":"a","base_version":true,"data":{}}'
bad_change "neither data nor deleted" "changes[1].data" '{"collection":"c","id":"a","base_version":0}'
bad_change "data an array" "changes[1].data" '{"collection":"c","id":"a","base_version":0,"data":[1]}'
bad_change "data a string" "changes[1].data" '{"collection":"c","id":"a","base_version":0,"data":"x"}'
bad_change "data a number" "changes[1].data" '{"collection":"c","id":"a","base_version":0,"data":3}'
bad_change "data null without deleted" "changes[1].data" '{"collection":"c","id":"a","base_version":0,"data":null}'
bad_change "both data and deleted:true" "changes[1].data" '{"collection":"c","id":"a","base_version":0,"data":{"a":1},"deleted":true}'
bad_change "deleted:false without data" "changes[1].data" '{"collection":"c","id":"a","base_version":0,"deleted":false}'
bad_change "deleted a string" "changes[1].deleted" '{"collection":"c","id":"a","base_version":0,"deleted":"yes"}'
bad_change "deleted a number" "changes[1].deleted" '{"collection":"c","id":"a","base_version":0,"deleted":1}'
bad_change "negative modified_at" "changes[1].modified_at" '{"collection":"c","id":"a","base_version":0,"data":{},"modified_at":-5}'
bad_change "modified_at a string" "changes[1].modified_at" '{"collection":"c","id":"a","base_version":0,"data":{},"modified_at":"now"}'
bad_change "modified_at a fraction" "changes[1].modified_at" '{"collection":"c","id":"a","base_version":0,"data":{},"modified_at":1.25}'
bad_change "checksum a number" "changes[1].checksum" '{"collection":"c","id":"a","base_version":0,"data":{},"checksum":5}'
bad_change "checksum empty" "changes[1].checksum" '{"collection":"c","id":"a","base_version":0,"data":{},"checksum":""}'

# bad_body NAME FIELD BODY
bad_body() {
	case_ "malformed: $1"
	push "$3"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' "\"$2\""
}
bad_body "the body an array" "body" "[$VALID]"
bad_body "the body a string" "body" '"changes"'
bad_body "no changes" "changes" '{"strategy":"manual"}'
bad_body "changes an object" "changes" "{\"changes\":$VALID}"
bad_body "changes null" "changes" '{"changes":null}'
bad_body "changes a string" "changes" '{"changes":"all"}'
bad_body "an unknown strategy" "strategy" "{\"strategy\":\"newest\",\"changes\":[$VALID]}"
bad_body "strategy a number" "strategy" "{\"strategy\":1,\"changes\":[$VALID]}"
bad_body "strategy in capitals" "strategy" "{\"strategy\":\"MANUAL\",\"changes\":[$VALID]}"
bad_body "JSON that does not parse" "body" "{\"changes\":[$VALID"
bad_body "a duplicate member" "body" "{\"changes\":[],\"changes\":[$VALID]}"
bad_body "a NUL escape in data" "body" '{"changes":[{"collection":"c","id":"a","base_version":0,"data":{"s":"a\u0000b"}}]}'
deep=$(printf '{"a":%.0s' $(seq 70))1$(printf '}%.0s' $(seq 70))
bad_body "data nested deeper than 64" "body" "{\"changes\":[{\"collection\":\"c\",\"id\":\"a\",\"base_version\":0,\"data\":$deep}]}"

case_ "an empty body is 400"
call POST /api/v1/sync/push "" -H 'Content-Type: application/json'
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'

case_ "the first bad change is the one named"
push "{\"changes\":[$VALID,$VALID,{\"collection\":\"c\",\"id\":\"a\"},{\"collection\":\"X\"}]}"
check 400 application/problem+json '.field' '"changes[2].base_version"'

case_ "after every malformed batch nothing was written"
[ "$(state)" = "$STATE0" ] && ok "$CASE" || fail "$CASE" "state $(state) vs $STATE0"
call GET /api/v1/collections/v/records/valid
check 404 application/problem+json

# ---- batch size
case_ "501 changes is 400 changes"
push "$(jq -nc '{changes:[range(501)|{collection:"bulk",id:"b\(.)",base_version:0,data:{i:.}}]}')"
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"changes"'
case_ "500 changes are one batch"
push "$(jq -nc '{changes:[range(500)|{collection:"bulk",id:"b\(.)",base_version:0,data:{i:.}}]}')"
check 200 application/json '.results|length' '500' '[.results[].status]|unique' '["applied"]' \
    '[.results[].version]|unique|length' '500' '.cursor == .results[499].version' 'true'
case_ "a batch is one record.changed event"
call GET "/api/v1/events?after=0&limit=1000"
check 200 application/json '[.events[]|select(.type=="record.changed")]|length' '2' \
    '[.events[]|select(.type=="record.changed")][1].data.count' '500'
STATE1=$(state)

# ---- record size (canonical bytes of data; {"s":""} is 8 bytes)
big() { jq -nc --argjson n "$1" '{changes:[{collection:"big",id:"b",base_version:0,data:{s:("x"*$n)}}]}'; }
# Bodies this large do not fit in one command-line argument: send a file
# (written first: a pipe into push_file would run it in a subshell).
push_file() {
	call POST /api/v1/sync/push "" --data-binary "@$STACK_DIR/req.json" -H 'Content-Type: application/json'
}
case_ "a record one byte over 256 KiB is 413 naming the change's data"
jq -nc --argjson n 262137 '{changes:[{collection:"ok",id:"ok",base_version:0,data:{}},{collection:"big",id:"b",base_version:0,data:{s:("x"*$n)}}]}' > "$STACK_DIR/req.json"
push_file
check 413 application/problem+json '.code' '"PAYLOAD_TOO_LARGE"' '.field' '"changes[1].data"'
case_ "nothing of that batch was written"
[ "$(state)" = "$STATE1" ] && ok "$CASE" || fail "$CASE" "state moved"
case_ "a record of exactly 256 KiB is taken"
big 262136 > "$STACK_DIR/req.json"
push_file
check 200 application/json '.results[0].status' '"applied"'
case_ "the size is of the canonical form: white space does not count"
jq -nc --argjson n 262130 '{changes:[{collection:"big",id:"b2",base_version:0,data:{s:("x"*$n)}}]}' | sed 's/{"s":/{   "s"   :   /' > "$STACK_DIR/req.json"
push_file
check 200 application/json '.results[0].status' '"applied"'
STATE2=$(state)

# ---- checksums
csum() { printf 'sha256:%s' "$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)"; }
GOOD=$(csum '{"a":1,"b":"x"}')
case_ "a matching checksum (of the canonical form) is taken"
push "{\"changes\":[{\"collection\":\"sum\",\"id\":\"s1\",\"base_version\":0,\"data\":{\"b\":\"x\",\"a\":1.0},\"checksum\":\"$GOOD\"}]}"
check 200 application/json '.results[0].status' '"applied"'
call GET /api/v1/collections/sum/records/s1
check 200 application/json '.record.checksum' "\"$GOOD\""
STATE3=$(state)
case_ "a checksum that does not match fails the whole batch with 422"
push "{\"changes\":[{\"collection\":\"sum\",\"id\":\"s2\",\"base_version\":0,\"data\":{\"a\":1}},{\"collection\":\"sum\",\"id\":\"s3\",\"base_version\":0,\"data\":{\"a\":2},\"checksum\":\"$GOOD\"}]}"
check 422 application/problem+json '.code' '"CHECKSUM_MISMATCH"' '.field' '"changes[1].checksum"'
case_ "nothing of it was written"
[ "$(state)" = "$STATE3" ] && ok "$CASE" || fail "$CASE" "state moved"
call GET /api/v1/collections/sum/records/s2
check 404 application/problem+json
case_ "a malformed change is reported before a checksum mismatch (400 before 422)"
push "{\"changes\":[{\"collection\":\"sum\",\"id\":\"s3\",\"base_version\":0,\"data\":{\"a\":2},\"checksum\":\"$GOOD\"},{\"collection\":\"sum\"}]}"
check 400 application/problem+json '.field' '"changes[1].id"'
case_ "a garbage checksum is a mismatch"
push '{"changes":[{"collection":"sum","id":"s4","base_version":0,"data":{},"checksum":"md5:abc"}]}'
check 422 application/problem+json '.code' '"CHECKSUM_MISMATCH"' '.field' '"changes[0].checksum"'
case_ "a delete may carry the checksum of null"
v=$(TOKEN=$TA; call GET /api/v1/collections/sum/records/s1; jqr .record.version)
push "{\"changes\":[{\"collection\":\"sum\",\"id\":\"s1\",\"base_version\":$v,\"deleted\":true,\"checksum\":\"$(csum null)\"}]}"
check 200 application/json '.results[0].status' '"applied"'
case_ "a delete with another checksum is a mismatch"
push "{\"changes\":[{\"collection\":\"sum\",\"id\":\"s1\",\"base_version\":0,\"deleted\":true,\"checksum\":\"$GOOD\"}]}"
check 422 application/problem+json '.code' '"CHECKSUM_MISMATCH"'
STATE4=$(state)

# ---- the secret guard
secret() {
	case_ "secret guard: $1"
	push "{\"changes\":[{\"collection\":\"cfg\",\"id\":\"ok\",\"base_version\":0,\"data\":{\"fine\":1}},{\"collection\":\"cfg\",\"id\":\"k\",\"base_version\":0,\"data\":$2}]}"
	check 422 application/problem+json '.code' '"SECRET_REJECTED"' '.field' "\"$3\"" '.kind' '"private_key"'
}
secret "an OpenSSH key in a nested member" '{"ssh":{"key":"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"}}' "changes[1].data.ssh.key"
secret "an RSA key in an array" '{"keys":["public","-----BEGIN RSA PRIVATE KEY-----\nMIIE"]}' "changes[1].data.keys[1]"
secret "a PKCS#8 key deep down" '{"a":[{"b":{"c":"x -----BEGIN PRIVATE KEY----- y"}}]}' "changes[1].data.a[0].b.c"
secret "an EC key" '{"pem":"-----BEGIN EC PRIVATE KEY-----"}' "changes[1].data.pem"
secret "an encrypted key" '{"pem":"-----BEGIN ENCRYPTED PRIVATE KEY-----"}' "changes[1].data.pem"
secret "a key as a member name" '{"-----BEGIN PRIVATE KEY-----":1}' "changes[1].data.-----BEGIN PRIVATE KEY-----"
case_ "nothing of a refused batch was written"
[ "$(state)" = "$STATE4" ] && ok "$CASE" || fail "$CASE" "state moved"
case_ "public keys and certificates sync"
push '{"changes":[{"collection":"cfg","id":"pub","base_version":0,"data":{"pub":"-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----","cert":"-----BEGIN CERTIFICATE-----","ssh":"ssh-ed25519 AAAAC3 me@host"}}]}'
check 200 application/json '.results[0].status' '"applied"'
case_ "a checksum mismatch is reported before a secret in a later change"
push "{\"changes\":[{\"collection\":\"cfg\",\"id\":\"z\",\"base_version\":0,\"data\":{},\"checksum\":\"$GOOD\"}]}"
check 422 application/problem+json '.code' '"CHECKSUM_MISMATCH"'

# ---- strategies by name
for s in manual server_wins client_wins lww merge; do
	case_ "strategy $s is accepted"
	push "{\"strategy\":\"$s\",\"changes\":[]}"
	check 200 application/json '.results' '[]'
done
case_ "strategy null means manual"
push '{"strategy":null,"changes":[{"collection":"base","id":"r0","base_version":1,"data":{"x":2}}]}'
check 200 application/json '.results[0].status' '"conflict"'
case_ "unknown members of a change are ignored"
push '{"changes":[{"collection":"extra","id":"e","base_version":0,"data":{"a":1},"version":5,"note":"x"}],"device":"ignored"}'
check 200 application/json '.results[0].status' '"applied"'
case_ "deleted:false with data is a plain write; deleted:true with data null is a delete"
push '{"changes":[{"collection":"extra","id":"f","base_version":0,"data":{"a":1},"deleted":false}]}'
check 200 application/json '.results[0].status' '"applied"'
v=$(jqr '.results[0].version')
push "{\"changes\":[{\"collection\":\"extra\",\"id\":\"f\",\"base_version\":$v,\"data\":null,\"deleted\":true}]}"
check 200 application/json '.results[0].status' '"applied"'
case_ "modified_at null counts as absent"
push '{"changes":[{"collection":"extra","id":"g","base_version":0,"data":{},"modified_at":null}]}'
check 200 application/json '.results[0].status' '"applied"'

finish
