#!/usr/bin/env bash
# Sync under other limits: tombstones purged at once (TOMBSTONE_DAYS=0)
# and the 410 CURSOR_EXPIRED that follows, the secret guard turned off,
# a small batch and record limit, a history of two revisions.
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_RATE_PER_S=0 TANDEM_TOMBSTONE_DAYS=0 TANDEM_SWEEP_MS=200 \
    TANDEM_SECRET_GUARD=0 TANDEM_MAX_BATCH=5 TANDEM_MAX_RECORD_BYTES=1024 \
    TANDEM_HISTORY_KEEP=2

register hank@example.com password-hank
login TA hank@example.com password-hank h-one
login TB hank@example.com password-hank h-two
register ivy@example.com password-ivy
login TX ivy@example.com password-ivy i-one
TOKEN=$TA
push() { call POST /api/v1/sync/push "$1"; }

case_ "info shows the limits"
call GET /api/v1/info
check 200 application/json '.tombstone_days' '0' '.max_batch' '5' '.max_record_bytes' '1024' '.secret_guard' '"off"'

# ---- tombstones purged, cursors expire
push '{"changes":[{"collection":"t","id":"keep","base_version":0,"data":{"k":1}},{"collection":"t","id":"gone","base_version":0,"data":{"g":1}}]}'
VK=$(jqr '.results[0].version')
VG=$(jqr '.results[1].version')
push "{\"changes\":[{\"collection\":\"t\",\"id\":\"gone\",\"base_version\":$VG,\"deleted\":true}]}"
VD=$(jqr '.results[0].version')
case_ "a tombstone older than TOMBSTONE_DAYS (0) is purged by the sweeper"
for i in $(seq 1 50); do
	call GET /api/v1/collections/t/records/gone
	[ "$STATUS" = 404 ] && break
	sleep 0.1
done
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "a since below the purge floor is 410 CURSOR_EXPIRED"
call GET "/api/v1/sync/pull?since=$VK"
check 410 application/problem+json '.code' '"CURSOR_EXPIRED"'
call GET "/api/v1/sync/pull?since=$((VD - 1))"
check 410 application/problem+json '.code' '"CURSOR_EXPIRED"'
case_ "also with a collections filter"
call GET "/api/v1/sync/pull?since=1&collections=other"
check 410 application/problem+json '.code' '"CURSOR_EXPIRED"'
case_ "since=0 always works, and its last page's cursor is past the floor"
call GET "/api/v1/sync/pull?since=0"
check 200 application/json '.changes|length' '1' '.changes[0].id' '"keep"' ".cursor" "$VD" '.more' 'false'
CUR=$(jqr .cursor)
case_ "that cursor pulls again without 410"
call GET "/api/v1/sync/pull?since=$CUR"
check 200 application/json '.changes' '[]' ".cursor" "$CUR"
case_ "since at the floor itself works"
call GET "/api/v1/sync/pull?since=$VD"
check 200 application/json '.changes' '[]'
case_ "paging from 0 over the purge ends at the floor too"
call GET "/api/v1/sync/pull?since=0&limit=1"
check 200 application/json '.changes|length' '1' '.more' 'false' ".cursor" "$VD"
case_ "the push cursor is never below the floor"
push '{"changes":[]}'
check 200 application/json ".cursor" "$VD"
case_ "collections count no purged tombstone; last_version is still the newest write"
call GET /api/v1/collections
check 200 application/json '.collections' '[{"name":"t","records":1,"tombstones":0,"last_version":'"$VD"'}]'
call GET /api/v1/sync/stats
check 200 application/json '.collections[0].tombstones' '0' '.collections[0].records' '1'
case_ "a collection whose last tombstone was purged is no longer listed"
push '{"changes":[{"collection":"solo","id":"s","base_version":0,"data":{}}]}'
push "{\"changes\":[{\"collection\":\"solo\",\"id\":\"s\",\"base_version\":$(jqr '.results[0].version'),\"deleted\":true}]}"
call GET /api/v1/collections
check 200 application/json '[.collections[].name]' '["solo","t"]'
for i in $(seq 1 50); do
	call GET /api/v1/collections
	[ "$(jqr '[.collections[].name]|join(",")')" = t ] && break
	sleep 0.1
done
check 200 application/json '[.collections[].name]' '["t"]'
call GET "/api/v1/sync/pull?since=0"
VD=$(jqr .cursor)
CUR=$VD

case_ "the other device's old cursor expires too, and it recovers from 0"
TOKEN=$TB
call GET "/api/v1/sync/pull?since=$VG"
check 410 application/problem+json '.code' '"CURSOR_EXPIRED"'
call GET "/api/v1/sync/pull?since=0"
check 200 application/json '[.changes[].id]' '["keep"]'
TOKEN=$TA
case_ "another user's floor is their own"
TOKEN=$TX
call GET "/api/v1/sync/pull?since=1"
check 200 application/json '.changes' '[]'
TOKEN=$TA
case_ "a purged record can be created again from base 0"
push '{"changes":[{"collection":"t","id":"gone","base_version":0,"data":{"g":2}}]}'
check 200 application/json '.results[0].status' '"applied"'
case_ "a delete through a conflict resolution is purged as well"
VR=$(jqr '.results[0].version')
push "{\"changes\":[{\"collection\":\"t\",\"id\":\"gone\",\"base_version\":$VR,\"data\":{\"g\":3}}]}"
TOKEN=$TB
push "{\"changes\":[{\"collection\":\"t\",\"id\":\"gone\",\"base_version\":$VR,\"deleted\":true}]}"
cid=$(jqr '.results[0].conflict_id')
call POST "/api/v1/conflicts/$cid/resolve" '{"resolution":"client"}'
check 200 application/json '.record.deleted' 'true'
VT=$(jqr .record.version)
for i in $(seq 1 50); do
	call GET /api/v1/collections/t/records/gone
	[ "$STATUS" = 404 ] && break
	sleep 0.1
done
check 404 application/problem+json
call GET "/api/v1/sync/pull?since=$CUR"
check 410 application/problem+json '.code' '"CURSOR_EXPIRED"'
call GET "/api/v1/sync/pull?since=$VT"
check 200 application/json '.changes' '[]'
TOKEN=$TA

# ---- the secret guard off
case_ "TANDEM_SECRET_GUARD=0 lets a private key through on push"
push '{"changes":[{"collection":"k","id":"ssh","base_version":0,"data":{"ssh":{"key":"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA"}}}]}'
check 200 application/json '.results[0].status' '"applied"'
VS=$(jqr '.results[0].version')
case_ "and on resolve"
TOKEN=$TB
push '{"changes":[{"collection":"k","id":"ssh","base_version":1,"data":{"other":1}}]}'
cid=$(jqr '.results[0].conflict_id')
call POST "/api/v1/conflicts/$cid/resolve" '{"resolution":"merged","data":{"key":"-----BEGIN RSA PRIVATE KEY-----"}}'
check 200 application/json '.record.data' '{"key":"-----BEGIN RSA PRIVATE KEY-----"}'
TOKEN=$TA

# ---- batch and record limits
case_ "6 changes with TANDEM_MAX_BATCH=5 is 400 changes"
push "$(jq -nc '{changes:[range(6)|{collection:"b",id:"b\(.)",base_version:0,data:{}}]}')"
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"changes"'
case_ "5 changes are fine"
push "$(jq -nc '{changes:[range(5)|{collection:"b",id:"b\(.)",base_version:0,data:{}}]}')"
check 200 application/json '.results|length' '5'
case_ "a record of 1025 canonical bytes is 413"
push "$(jq -nc '{changes:[{collection:"b",id:"big",base_version:0,data:{s:("x"*1017)}}]}')"
check 413 application/problem+json '.code' '"PAYLOAD_TOO_LARGE"' '.field' '"changes[0].data"'
case_ "a record of 1024 canonical bytes is fine"
push "$(jq -nc '{changes:[{collection:"b",id:"big",base_version:0,data:{s:("x"*1016)}}]}')"
check 200 application/json '.results[0].status' '"applied"'
case_ "a merge that would outgrow the record limit falls back to a conflict"
push '{"changes":[{"collection":"b","id":"grow","base_version":0,"data":{"a":[],"b":[]}}]}'
VB=$(jqr '.results[0].version')
push "$(jq -nc --argjson v "$VB" '{changes:[{collection:"b",id:"grow",base_version:$v,data:{a:[("x"*600)],b:[]}}]}')"
TOKEN=$TB
push "$(jq -nc --argjson v "$VB" '{strategy:"merge",changes:[{collection:"b",id:"grow",base_version:$v,data:{a:[],b:[("y"*600)]}}]}')"
check 200 application/json '.results[0].status' '"conflict"'
TOKEN=$TA

# ---- a history of two revisions
push '{"changes":[{"collection":"h","id":"r","base_version":0,"data":{"n":0,"t":"a"}}]}'
H1=$(jqr '.results[0].version')
push "{\"changes\":[{\"collection\":\"h\",\"id\":\"r\",\"base_version\":$H1,\"data\":{\"n\":1,\"t\":\"a\"}}]}"
H2=$(jqr '.results[0].version')
push "{\"changes\":[{\"collection\":\"h\",\"id\":\"r\",\"base_version\":$H2,\"data\":{\"n\":2,\"t\":\"a\"}}]}"
H3=$(jqr '.results[0].version')
case_ "HISTORY_KEEP=2: a base two revisions back still merges"
TOKEN=$TB
push "{\"strategy\":\"merge\",\"changes\":[{\"collection\":\"h\",\"id\":\"r\",\"base_version\":$H1,\"data\":{\"n\":0,\"t\":\"b\"}}]}"
check 200 application/json '.results[0].status' '"merged"' '.results[0].server.data' '{"n":2,"t":"b"}'
H4=$(jqr '.results[0].version')
case_ "HISTORY_KEEP=2: a base three revisions back is gone: a conflict"
push "{\"strategy\":\"merge\",\"changes\":[{\"collection\":\"h\",\"id\":\"r\",\"base_version\":$H1,\"data\":{\"n\":0,\"t\":\"c\"}}]}"
check 200 application/json '.results[0].status' '"conflict"' ".results[0].version" "$H4"
case_ "HISTORY_KEEP=2: the revision just before is kept"
push "{\"strategy\":\"merge\",\"changes\":[{\"collection\":\"h\",\"id\":\"r\",\"base_version\":$H3,\"data\":{\"n\":3,\"t\":\"a\"}}]}"
check 200 application/json '.results[0].status' '"merged"' '.results[0].server.data' '{"n":3,"t":"b"}'

finish
