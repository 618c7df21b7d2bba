#!/usr/bin/env bash
# Conflicts: list, get, resolve (server, client, merged), 409
# ALREADY_RESOLVED before CONFLICT_STALE, validation of the resolution,
# the secret guard on resolve, other users' conflicts invisible, events;
# and three devices editing offline that converge to one identical state
# once their conflicts are resolved.
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_RATE_PER_S=0

register erin@example.com password-erin
login TA erin@example.com password-erin e-laptop
login TB erin@example.com password-erin e-phone
login TC erin@example.com password-erin e-tablet
register frank@example.com password-frank
login TX frank@example.com password-frank f-dev

as() { case $1 in A) TOKEN=$TA ;; B) TOKEN=$TB ;; C) TOKEN=$TC ;; X) TOKEN=$TX ;; esac; }
push() { call POST /api/v1/sync/push "$1"; }
# write DEV COLL ID BASE DATA: sets VER (the result's version) and CID
write() {
	as "$1"
	push "{\"changes\":[{\"collection\":\"$2\",\"id\":\"$3\",\"base_version\":$4,\"data\":$5}]}"
	VER=$(jqr '.results[0].version')
	CID=$(jqr '.results[0].conflict_id // empty')
}
resolve() { call POST "/api/v1/conflicts/$1/resolve" "$2"; }

# ---- a conflict to look at
write A notes c1 0 '{"title":"v1","n":1}'
V1=$VER
write A notes c1 "$V1" '{"title":"v2","n":1}'
V2=$VER
write B notes c1 "$V1" '{"title":"from phone","n":1}'
C1=$CID
case_ "a stale push stored a conflict"
[ -n "$C1" ] && ok "$CASE" || fail "$CASE" "no conflict id: $RBODY"

case_ "a retried push gets the same conflict, stored and announced once"
write B notes c1 "$V1" '{"n":1,"title":"from phone"}'
[ "$CID" = "$C1" ] && ok "$CASE" || fail "$CASE" "conflict $CID, first $C1"
call GET "/api/v1/events?after=0&limit=1000"
check 200 application/json '[.events[]|select(.type=="conflict.created")]|length' '1'
case_ "the same data from another device is a conflict of its own"
write C notes c1 "$V1" '{"title":"from phone","n":1}'
C1C=$CID
[ -n "$C1C" ] && [ "$C1C" != "$C1" ] && ok "$CASE" || fail "$CASE" "conflict '$CID'"

case_ "GET /conflicts lists open conflicts by default"
call GET /api/v1/conflicts
check 200 application/json '.conflicts|length' '2' ".conflicts[0].id" "$C1" '.conflicts[0].status' '"open"'

case_ "the conflict's shape"
call GET "/api/v1/conflicts/$C1"
check 200 application/json ".conflict.id" "$C1" '.conflict.collection' '"notes"' '.conflict.record_id' '"c1"' \
    '.conflict.device_id' '"e-phone"' ".conflict.base_version" "$V1" '.conflict.created_at|type' '"number"' \
    '.conflict.client' "{\"data\":{\"n\":1,\"title\":\"from phone\"},\"deleted\":false,\"modified_at\":$(jqr .conflict.client.modified_at)}" \
    '.conflict.server|keys' '["data","deleted","modified_at","version"]' ".conflict.server.version" "$V2" \
    '.conflict.server.data' '{"n":1,"title":"v2"}' '.conflict.server.deleted' 'false' \
    '.conflict.resolved_at' 'null' '.conflict.resolution' 'null'

case_ "status filters"
call GET "/api/v1/conflicts?status=resolved"
check 200 application/json '.conflicts' '[]'
call GET "/api/v1/conflicts?status=all"
check 200 application/json '.conflicts|length' '2'
call GET "/api/v1/conflicts?status=open"
check 200 application/json '.conflicts|length' '2'

case_ "collection filter"
call GET "/api/v1/conflicts?collection=notes"
check 200 application/json '.conflicts|length' '2'
call GET "/api/v1/conflicts?collection=other"
check 200 application/json '.conflicts' '[]'

case_ "a bad status filter is 400"
call GET "/api/v1/conflicts?status=closed"
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"status"'
case_ "a bad collection filter is 400"
call GET "/api/v1/conflicts?collection=No!"
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"collection"'

case_ "an unknown conflict is 404"
call GET /api/v1/conflicts/999999
check 404 application/problem+json '.code' '"NOT_FOUND"'
call GET /api/v1/conflicts/abc
check 404 application/problem+json
resolve 999999 '{"resolution":"server"}'
check 404 application/problem+json '.code' '"NOT_FOUND"'

# ---- another user
as X
case_ "another user's conflict is 404"
call GET "/api/v1/conflicts/$C1"
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "another user cannot resolve it"
resolve "$C1" '{"resolution":"client"}'
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "another user's lists are empty"
call GET "/api/v1/conflicts?status=all"
check 200 application/json '.conflicts' '[]'
as A
call GET "/api/v1/conflicts/$C1"
check 200 application/json '.conflict.status' '"open"'

# ---- validation of a resolution
bad() {
	case_ "resolve: $1"
	resolve "$C1" "$3"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' "\"$2\""
}
bad "no body" body ''
bad "a body that is not an object" body '["server"]'
bad "no resolution" resolution '{}'
bad "an unknown resolution" resolution '{"resolution":"mine"}'
bad "a resolution that is not a string" resolution '{"resolution":1}'
bad "merged without data" data '{"resolution":"merged"}'
bad "merged with data null" data '{"resolution":"merged","data":null}'
bad "merged with an array" data '{"resolution":"merged","data":[1]}'
bad "merged with a string" data '{"resolution":"merged","data":"x"}'
bad "server with data" data '{"resolution":"server","data":{"a":1}}'
bad "client with data" data '{"resolution":"client","data":{}}'
case_ "resolve: a private key in merged data is 422 naming its path"
resolve "$C1" '{"resolution":"merged","data":{"ssh":{"key":"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA"}}}'
check 422 application/problem+json '.code' '"SECRET_REJECTED"' '.field' '"data.ssh.key"' '.kind' '"private_key"'
case_ "resolve: merged data over the record limit is 413"
jq -nc '{resolution:"merged",data:{s:("x"*262200)}}' > "$STACK_DIR/big.json"
call POST "/api/v1/conflicts/$C1/resolve" "" --data-binary "@$STACK_DIR/big.json" -H 'Content-Type: application/json'
check 413 application/problem+json '.code' '"PAYLOAD_TOO_LARGE"' '.field' '"data"'
case_ "after all that the conflict is still open and the record unmoved"
call GET "/api/v1/conflicts/$C1"
check 200 application/json '.conflict.status' '"open"'
call GET /api/v1/collections/notes/records/c1
check 200 application/json '.record.version' "$V2"

# ---- resolve: client
case_ "resolve client: the client's data becomes a new version"
resolve "$C1" '{"resolution":"client"}'
check 200 application/json '.conflict.status' '"resolved"' '.conflict.resolution' '"client"' \
    '.conflict.resolved_at|type' '"number"' '.record.data' '{"n":1,"title":"from phone"}' \
    ".record.version > $V2" 'true' '.record.device_id' '"e-laptop"' '.record.collection' '"notes"' '.record.id' '"c1"'
V3=$(jqr '.record.version')
case_ "every device pulls the resolution"
for d in A B C; do
	as $d
	call GET "/api/v1/sync/pull?since=$V2"
	check 200 application/json '.changes|length' '1' '.changes[0].data' '{"n":1,"title":"from phone"}' ".changes[0].version" "$V3"
done
as A
case_ "resolving again is 409 ALREADY_RESOLVED"
resolve "$C1" '{"resolution":"server"}'
check 409 application/problem+json '.code' '"ALREADY_RESOLVED"'
case_ "the resolved list holds it"
call GET "/api/v1/conflicts?status=resolved"
check 200 application/json '.conflicts|length' '1' ".conflicts[0].id" "$C1"
call GET /api/v1/conflicts
check 200 application/json "[.conflicts[].id]" "[$C1C]"
case_ "the other device's conflict on the same version is stale now"
resolve "$C1C" '{"resolution":"server"}'
check 409 application/problem+json '.code' '"CONFLICT_STALE"' ".server.version" "$V3"

case_ "ALREADY_RESOLVED comes before CONFLICT_STALE"
write A notes c1 "$V3" '{"title":"moved on","n":1}'
resolve "$C1" '{"resolution":"client"}'
check 409 application/problem+json '.code' '"ALREADY_RESOLVED"'
V4=$VER

# ---- resolve: server, and CONFLICT_STALE
write B notes c1 "$V3" '{"title":"phone again","n":1}'
C2=$CID
case_ "resolve server: the server's data is written again as a new version"
as C
resolve "$C2" '{"resolution":"server"}'
check 200 application/json '.conflict.resolution' '"server"' '.record.data' '{"n":1,"title":"moved on"}' \
    ".record.version > $V4" 'true' '.record.device_id' '"e-tablet"'
V5=$(jqr '.record.version')
as B
call GET "/api/v1/sync/pull?since=$V4"
check 200 application/json '.changes[0].data' '{"n":1,"title":"moved on"}' ".changes[0].version" "$V5"

case_ "a conflict whose record moved on is 409 CONFLICT_STALE with the server's record"
write B notes c1 "$V1" '{"title":"very old","n":1}'
C3=$CID
write A notes c1 "$V5" '{"title":"newer","n":2}'
V6=$VER
resolve "$C3" '{"resolution":"client"}'
check 409 application/problem+json '.code' '"CONFLICT_STALE"' ".server.version" "$V6" \
    '.server.data' '{"n":2,"title":"newer"}' '.server.id' '"c1"'
case_ "a stale conflict stays open and the record is not written"
call GET "/api/v1/conflicts/$C3"
check 200 application/json '.conflict.status' '"open"'
call GET /api/v1/collections/notes/records/c1
check 200 application/json ".record.version" "$V6"

# ---- resolve: merged
write B notes c1 "$V5" '{"title":"phone","n":3}'
C4=$CID
case_ "resolve merged writes the given data"
resolve "$C4" '{"resolution":"merged","data":{"title":"newer + phone","n":3}}'
check 200 application/json '.conflict.resolution' '"merged"' '.record.data' '{"n":3,"title":"newer + phone"}' \
    ".record.version > $V6" 'true'
case_ "the record's checksum matches the merged data"
want="sha256:$(printf '%s' '{"n":3,"title":"newer + phone"}' | sha256sum | cut -d' ' -f1)"
check 200 application/json '.record.checksum' "\"$want\""

# ---- delete conflicts
write A notes d1 0 '{"x":1}'
D1=$VER
write A notes d1 "$D1" '{"x":2}'
as B
push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"d1\",\"base_version\":$D1,\"deleted\":true}]}"
CD=$(jqr '.results[0].conflict_id')
case_ "resolve client on a delete conflict writes a tombstone"
resolve "$CD" '{"resolution":"client"}'
check 200 application/json '.record.deleted' 'true' '.record.data' 'null' \
    '.conflict.client.deleted' 'true' '.conflict.status' '"resolved"'
call GET /api/v1/collections/notes/records/d1
check 200 application/json '.record.deleted' 'true'

write A notes d2 0 '{"x":1}'
D2=$VER
as A
push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"d2\",\"base_version\":$D2,\"deleted\":true}]}"
write B notes d2 "$D2" '{"x":5}'
CE=$CID
case_ "resolve server on an edit-versus-delete conflict keeps it deleted"
resolve "$CE" '{"resolution":"server"}'
check 200 application/json '.record.deleted' 'true' '.conflict.server.deleted' 'true'
write B notes d3 0 '{"x":1}'
D3=$VER
as A
push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"d3\",\"base_version\":$D3,\"deleted\":true}]}"
write B notes d3 "$D3" '{"x":5}'
CF=$CID
case_ "resolve client brings a deleted record back"
resolve "$CF" '{"resolution":"client"}'
check 200 application/json '.record.deleted' 'false' '.record.data' '{"x":5}'

case_ "events: conflict.created and conflict.resolved with their data"
call GET "/api/v1/events?after=0&limit=1000"
check 200 application/json \
    "[.events[]|select(.type==\"conflict.resolved\" and .data.conflict_id==$C1)][0].data" "{\"conflict_id\":$C1,\"collection\":\"notes\",\"record_id\":\"c1\"}" \
    "[.events[]|select(.type==\"conflict.created\" and .data.conflict_id==$C1)]|length" '1' \
    '[.events[]|select(.type=="conflict.resolved")]|length' '6' \
    "[.events[]|select(.type==\"conflict.resolved\")][0].device_id" '"e-laptop"'

case_ "stats count the open conflicts"
call GET /api/v1/sync/stats
check 200 application/json '.conflicts_open' '2'

# ---- three devices edit offline and converge
# Each device keeps a local copy: {"coll/id": {version, data, deleted}}.
# It edits offline, pushes (manual), resolves its conflicts and pulls;
# at the end all three copies and the server's full state are identical.
declare -A LOCAL CURSOR
for d in A B C; do LOCAL[$d]='{}'; CURSOR[$d]=0; done
# sync_pull DEV: pull every page since the device's cursor into its copy
sync_pull() {
	local d=$1 more=true
	as "$d"
	while [ "$more" = true ]; do
		call GET "/api/v1/sync/pull?since=${CURSOR[$d]}&collections=shared&limit=2"
		[ "$STATUS" = 200 ] || { fail "pull $d" "$STATUS $RBODY"; return; }
		LOCAL[$d]=$(jq -c --argjson page "$RBODY" \
		    'reduce $page.changes[] as $c (.; .["\($c.collection)/\($c.id)"] = {version: $c.version, data: $c.data, deleted: $c.deleted})' <<<"${LOCAL[$d]}")
		CURSOR[$d]=$(jqr .cursor)
		more=$(jqr .more)
	done
}
# edit DEV ID DATA|DELETE: an offline edit of the local copy
edit() {
	local d=$1 key="shared/$2"
	if [ "$3" = DELETE ]; then
		LOCAL[$d]=$(jq -c --arg k "$key" '.[$k].deleted = true | .[$k].data = null | .[$k].dirty = true' <<<"${LOCAL[$d]}")
	else
		LOCAL[$d]=$(jq -c --arg k "$key" --argjson v "$3" '.[$k].deleted = false | .[$k].data = $v | .[$k].dirty = true | .[$k].version //= 0' <<<"${LOCAL[$d]}")
	fi
}
STORED=0
RESOLVED=0
# sync_push DEV: push the dirty records; conflicts come back in CONFLICTS
sync_push() {
	local d=$1 changes
	as "$d"
	changes=$(jq -c '[to_entries[]|select(.value.dirty)|{collection: (.key|split("/")[0]), id: (.key|split("/")[1]), base_version: .value.version} + (if .value.deleted then {deleted: true} else {data: .value.data} end)]' <<<"${LOCAL[$d]}")
	push "{\"changes\":$changes}"
	[ "$STATUS" = 200 ] || { fail "push $d" "$STATUS $RBODY"; return; }
	CONFLICTS=$(jqr '[.results[]|select(.status=="conflict")|.conflict_id]|join(" ")')
	STORED=$((STORED + $(jqr '[.results[]|select(.status=="conflict")]|length')))
	LOCAL[$d]=$(jq -c 'with_entries(.value |= del(.dirty))' <<<"${LOCAL[$d]}")
}
# merge_resolve ID: the user's merge: every field of both sides, the
# client's value where both have one, lists joined (client's, then the
# server's other items); an edit beats a delete
merge_resolve() {
	call GET "/api/v1/conflicts/$1"
	local body
	if [ "$(jqr '.conflict.client.deleted or .conflict.server.deleted')" = true ]; then
		# a delete against an edit: keep the edit
		if [ "$(jqr .conflict.client.deleted)" = true ]; then body='{"resolution":"server"}'; else body='{"resolution":"client"}'; fi
	else
		body=$(jq -c '.conflict.server.data as $s | .conflict.client.data as $k |
		    {resolution: "merged", data: (reduce ((($s|keys) + ($k|keys))|unique)[] as $f ({};
		    .[$f] = (if ($s[$f]|type) == "array" and ($k[$f]|type) == "array" then $k[$f] + ($s[$f] - $k[$f])
		    elif ($k|has($f)) then $k[$f] else $s[$f] end)))}' <<<"$RBODY")
	fi
	resolve "$1" "$body"
	if [ "$STATUS" = 200 ]; then
		RESOLVED=$((RESOLVED + 1))
	else
		fail "resolve $1" "$STATUS $RBODY"
	fi
}

case_ "three devices start from the same synced state"
as A
push '{"changes":[
 {"collection":"shared","id":"doc","base_version":0,"data":{"title":"plan","body":"draft","tags":["work"]}},
 {"collection":"shared","id":"todo","base_version":0,"data":{"items":["milk"],"done":false}},
 {"collection":"shared","id":"old","base_version":0,"data":{"keep":true}},
 {"collection":"shared","id":"misc","base_version":0,"data":{"n":0}}]}'
check 200 application/json '[.results[].status]|unique' '["applied"]'
for d in A B C; do sync_pull $d; done
if [ "${LOCAL[A]}" = "${LOCAL[B]}" ] && [ "${LOCAL[B]}" = "${LOCAL[C]}" ] && [ "$(jq length <<<"${LOCAL[A]}")" = 4 ]; then
	ok "$CASE"
else
	fail "$CASE" "copies differ"
fi

# offline edits, overlapping on purpose
edit A doc '{"title":"plan A","body":"draft","tags":["work","a"]}'
edit A todo '{"items":["milk","eggs"],"done":false}'
edit A new-a '{"from":"a"}'
edit B doc '{"title":"plan B","body":"draft","tags":["work","b"]}'
edit B old DELETE
edit B misc '{"n":2}'
edit C doc '{"title":"plan","body":"final","tags":["work"]}'
edit C old '{"keep":true,"edited":"c"}'
edit C todo '{"items":["milk"],"done":true}'
edit C misc '{"n":3}'

case_ "device A syncs first: everything applies"
sync_push A
[ -z "$CONFLICTS" ] && ok "$CASE" || fail "$CASE" "conflicts $CONFLICTS"
sync_pull A
case_ "device B syncs: doc conflicts, resolved by merging"
sync_push B
[ "$(wc -w <<<"$CONFLICTS")" = 1 ] && ok "$CASE" || fail "$CASE" "conflicts '$CONFLICTS'"
for c in $CONFLICTS; do merge_resolve "$c"; done
sync_pull B
case_ "device C syncs: doc, old (edit versus delete), todo and misc conflict"
sync_push C
[ "$(wc -w <<<"$CONFLICTS")" = 4 ] && ok "$CASE" || fail "$CASE" "conflicts '$CONFLICTS'"
for c in $CONFLICTS; do merge_resolve "$c"; done
sync_pull C
for d in A B; do sync_pull $d; done

case_ "no conflict is left open"
as A
call GET "/api/v1/conflicts?collection=shared"
check 200 application/json '.conflicts' '[]'

case_ "three devices converge to the server's state"
call GET "/api/v1/sync/pull?since=0&collections=shared&limit=1000"
# (compared with keys sorted: a copy's key order is its history's)
SERVER=$(jq -cS 'reduce .changes[] as $c ({}; .["\($c.collection)/\($c.id)"] = {version: $c.version, data: $c.data, deleted: $c.deleted})' <<<"$RBODY")
for d in A B C; do LOCAL[$d]=$(jq -cS . <<<"${LOCAL[$d]}"); done
if [ "${LOCAL[A]}" = "$SERVER" ] && [ "${LOCAL[B]}" = "$SERVER" ] && [ "${LOCAL[C]}" = "$SERVER" ]; then
	ok "$CASE"
else
	fail "$CASE" "A=${LOCAL[A]} B=${LOCAL[B]} C=${LOCAL[C]} server=$SERVER"
fi
case_ "the converged state holds every device's edits"
check 200 application/json \
    '[.changes[]|select(.id=="doc")][0].data' '{"body":"final","tags":["work","b","a"],"title":"plan"}' \
    '[.changes[]|select(.id=="todo")][0].data' '{"done":true,"items":["milk","eggs"]}' \
    '[.changes[]|select(.id=="old")][0].data' '{"edited":"c","keep":true}' \
    '[.changes[]|select(.id=="misc")][0].data' '{"n":3}' \
    '[.changes[]|select(.id=="new-a")][0].data' '{"from":"a"}'
echo "  three-device convergence: $STORED conflicts stored, $RESOLVED resolved; identical state on A, B, C and the server ($(jq length <<<"$SERVER") records)"
[ "$STORED" -eq 5 ] && [ "$RESOLVED" -eq 5 ] && ok "5 conflicts stored and resolved" || fail "conflict counts" "stored $STORED resolved $RESOLVED"

finish
