#!/usr/bin/env bash
# Sync basics: push and pull shapes, versions, unchanged, tombstones and
# re-creation, one record, collections, paging and filters, query checks,
# events, stats, export, and other users' data invisible.
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_RATE_PER_S=0

push() { call POST /api/v1/sync/push "$1"; }
pull() { call GET "/api/v1/sync/pull?$1"; }
# "sha256:" + hex SHA-256 of the canonical form of a JSON text whose keys
# are ASCII and numbers integers (jq -cS is then RFC 8785).
sum_of() { printf 'sha256:%s' "$(printf '%s' "$(jq -cS . <<<"$1")" | sha256sum | cut -d' ' -f1)"; }

register alice@example.com password-alice
login TA alice@example.com password-alice laptop
login TB alice@example.com password-alice phone
register bob@example.com password-bob
login TX bob@example.com password-bob bobdev

TOKEN=$TA

case_ "an empty account pulls nothing, cursor 0"
pull "since=0"
check 200 application/json '.changes' '[]' '.cursor' '0' '.more' 'false'

case_ "an empty push is fine"
push '{"changes":[]}'
check 200 application/json '.results' '[]' '.cursor' '0'

case_ "push a new record: applied, with a version"
push '{"changes":[{"collection":"notes","id":"n1","base_version":0,"data":{"title":"one","n":1},"modified_at":1700000000000}]}'
check 200 application/json '.results|length' '1' '.results[0].status' '"applied"' \
    '.results[0].collection' '"notes"' '.results[0].id' '"n1"' '.results[0]|has("server")' 'false' \
    '.results[0]|has("conflict_id")' 'false' '.results[0].version > 0' 'true' \
    '.cursor == .results[0].version' 'true'
V1=$(jqr '.results[0].version')

case_ "pull shows it in pull shape"
pull "since=0"
check 200 application/json '.changes|length' '1' \
    '.changes[0]|keys' '["checksum","collection","data","deleted","device_id","id","modified_at","version"]' \
    '.changes[0].data' '{"n":1,"title":"one"}' '.changes[0].deleted' 'false' \
    '.changes[0].device_id' '"laptop"' '.changes[0].modified_at' '1700000000000' \
    ".changes[0].version" "$V1" ".cursor" "$V1" '.more' 'false'

case_ "the checksum is SHA-256 of the canonical data"
want=$(sum_of '{"title":"one","n":1}')
[ "$(jqr '.changes[0].checksum')" = "$want" ] && ok "$CASE" || fail "$CASE" "got $(jqr '.changes[0].checksum'), want $want"

case_ "pulling since the cursor gives nothing, cursor stays"
pull "since=$V1"
check 200 application/json '.changes' '[]' ".cursor" "$V1" '.more' 'false'

case_ "the same data again (keys reordered) is unchanged, whatever the base"
push '{"changes":[{"collection":"notes","id":"n1","base_version":12345,"data":{"n":1,"title":"one"}}]}'
check 200 application/json '.results[0].status' '"unchanged"' ".results[0].version" "$V1" \
    ".cursor" "$V1" '.results[0].server.data' '{"n":1,"title":"one"}'

case_ "unchanged wrote no new version"
pull "since=$V1"
check 200 application/json '.changes' '[]'

case_ "a missing modified_at counts as the server's now"
t0=$(($(date +%s%3N) - 5))
push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"n1\",\"base_version\":$V1,\"data\":{\"title\":\"one!\",\"n\":1}}]}"
check 200 application/json '.results[0].status' '"applied"' ".results[0].version > $V1" 'true'
V2=$(jqr '.results[0].version')
call GET /api/v1/collections/notes/records/n1
check 200 application/json '.record.version' "$V2" ".record.modified_at >= $t0" 'true' \
    ".record.modified_at <= $(($(date +%s%3N) + 5))" 'true' '.record.data.title' '"one!"'

case_ "GET one record"
call GET /api/v1/collections/notes/records/n1
check 200 application/json '.record.id' '"n1"' '.record.collection' '"notes"' \
    '.record|keys' '["checksum","collection","data","deleted","device_id","id","modified_at","version"]'

case_ "a record never written is 404"
call GET /api/v1/collections/notes/records/nope
check 404 application/problem+json '.code' '"NOT_FOUND"'

case_ "a bad collection name in the path is 400"
call GET /api/v1/collections/BAD/records/n1
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"collection"'

case_ "a bad record id in the path is 400"
call GET "/api/v1/collections/notes/records/a%20b"
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'

case_ "delete with the current base: a tombstone"
push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"n1\",\"base_version\":$V2,\"deleted\":true}]}"
check 200 application/json '.results[0].status' '"applied"' ".results[0].version > $V2" 'true'
V3=$(jqr '.results[0].version')

case_ "the tombstone in pull: data null, checksum of null"
pull "since=$V2"
check 200 application/json '.changes|length' '1' '.changes[0].deleted' 'true' '.changes[0].data' 'null' \
    '.changes[0].checksum' "\"$(sum_of null)\"" ".changes[0].version" "$V3"

case_ "GET a tombstone"
call GET /api/v1/collections/notes/records/n1
check 200 application/json '.record.deleted' 'true' '.record.data' 'null' ".record.version" "$V3"

case_ "deleting a deleted record is unchanged"
push '{"changes":[{"collection":"notes","id":"n1","base_version":1,"deleted":true}]}'
check 200 application/json '.results[0].status' '"unchanged"' ".results[0].version" "$V3"

case_ "deleting a record that never existed is unchanged, version 0"
push '{"changes":[{"collection":"notes","id":"ghost","base_version":0,"deleted":true}]}'
check 200 application/json '.results[0].status' '"unchanged"' '.results[0].version' '0' '.results[0].server' 'null'
call GET /api/v1/collections/notes/records/ghost
check 404 application/problem+json

case_ "base 0 on a deleted record re-creates it"
push '{"changes":[{"collection":"notes","id":"n1","base_version":0,"data":{"title":"again"}}]}'
check 200 application/json '.results[0].status' '"applied"' ".results[0].version > $V3" 'true'
V4=$(jqr '.results[0].version')
call GET /api/v1/collections/notes/records/n1
check 200 application/json '.record.deleted' 'false' '.record.data' '{"title":"again"}'

case_ "a stale base on a live record is a conflict (manual by default)"
push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"n1\",\"base_version\":$V1,\"data\":{\"title\":\"stale\"}}]}"
check 200 application/json '.results[0].status' '"conflict"' ".results[0].version" "$V4" \
    '.results[0].conflict_id|type' '"number"' '.results[0].server.data' '{"title":"again"}' \
    ".results[0].server.version" "$V4" ".cursor" "$V4"

case_ "pull since 0 gives one row per record, in its latest state"
pull "since=0"
check 200 application/json '.changes|length' '1' '.changes[0].data' '{"title":"again"}' ".changes[0].version" "$V4"

case_ "a batch: several records, versions strictly increasing in batch order"
push '{"changes":[
 {"collection":"notes","id":"a","base_version":0,"data":{"i":1}},
 {"collection":"tasks","id":"t1","base_version":0,"data":{"done":false}},
 {"collection":"notes","id":"b","base_version":0,"data":{"i":2}},
 {"collection":"tasks","id":"t2","base_version":0,"data":{"done":true}},
 {"collection":"notes","id":"c","base_version":0,"data":{"i":3}}]}'
check 200 application/json '[.results[].status]|unique' '["applied"]' \
    '[.results[].version] == ([.results[].version]|sort) and ([.results[].version]|unique|length) == 5' 'true' \
    '.cursor == .results[4].version' 'true'
B_LAST=$(jqr '.cursor')

case_ "the same record twice in one batch: the second sees the first"
push '{"strategy":"client_wins","changes":[
 {"collection":"notes","id":"twice","base_version":0,"data":{"v":1}},
 {"collection":"notes","id":"twice","base_version":0,"data":{"v":2}}]}'
check 200 application/json '.results[0].status' '"applied"' '.results[1].status' '"applied"' \
    '.results[1].version > .results[0].version' 'true'
call GET /api/v1/collections/notes/records/twice
check 200 application/json '.record.data' '{"v":2}'

case_ "the same record twice, manual: the second is a conflict against the first"
push '{"changes":[
 {"collection":"notes","id":"twice2","base_version":0,"data":{"v":1}},
 {"collection":"notes","id":"twice2","base_version":0,"data":{"v":2}}]}'
check 200 application/json '.results[0].status' '"applied"' '.results[1].status' '"conflict"' \
    '.results[1].server.data' '{"v":1}' '.results[1].version == .results[0].version' 'true'

case_ "paging: limit 3 walks every record once, in version order"
all=()
since=0
pages=0
while :; do
	pull "since=$since&limit=3"
	[ "$STATUS" = 200 ] || { fail "$CASE" "status $STATUS"; break; }
	n=$(jqr '.changes|length')
	[ "$n" -le 3 ] || fail "$CASE" "page of $n"
	mapfile -t vs < <(jqr '.changes[].version')
	all+=("${vs[@]}")
	more=$(jqr '.more')
	cur=$(jqr '.cursor')
	if [ "$n" -gt 0 ] && [ "$cur" != "${vs[-1]}" ]; then fail "$CASE" "cursor $cur is not the last version"; fi
	since=$cur
	pages=$((pages + 1))
	[ "$more" = true ] || break
	[ $pages -gt 20 ] && { fail "$CASE" "too many pages"; break; }
done
pull "since=0&limit=1000"
mapfile -t full < <(jqr '.changes[].version')
if [ "${all[*]}" = "${full[*]}" ] && [ ${#full[@]} -eq 8 ] &&
    [ "$(printf '%s\n' "${full[@]}" | sort -n | tr '\n' ' ')" = "$(printf '%s\n' "${full[@]}" | tr '\n' ' ')" ]; then
	ok "$CASE"
else
	fail "$CASE" "paged ${all[*]} vs full ${full[*]}"
fi

case_ "a page of exactly the rest says more:false"
pull "since=0&limit=8"
check 200 application/json '.changes|length' '8' '.more' 'false'
pull "since=0&limit=7"
check 200 application/json '.changes|length' '7' '.more' 'true'

case_ "collections filter: one"
pull "since=0&collections=tasks"
check 200 application/json '[.changes[].collection]|unique' '["tasks"]' '.changes|length' '2'

case_ "collections filter: two, and an unknown one"
pull "since=0&collections=tasks,notes,nothing"
check 200 application/json '.changes|length' '8'
pull "since=0&collections=nothing"
check 200 application/json '.changes' '[]' '.cursor' '0'

case_ "collections filter with paging"
pull "since=0&collections=notes&limit=2"
check 200 application/json '.changes|length' '2' '.more' 'true' '[.changes[].collection]|unique' '["notes"]'

for q in "collections=Bad" "collections=" "collections=a,,b" "collections=a," "collections=a%20b" \
    "collections=$(printf 'x%.0s' $(seq 65))"; do
	case_ "pull ?$q is 400 collections"
	pull "since=0&$q"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"collections"'
done

for q in "since=-1" "since=abc" "since=1.5" "since=" "since=99999999999999999999"; do
	case_ "pull ?$q is 400 since"
	pull "$q"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"since"'
done
for q in "limit=0" "limit=1001" "limit=-3" "limit=x"; do
	case_ "pull ?$q is 400 limit"
	pull "since=0&$q"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"limit"'
done

case_ "pull without since means 0, limit 1000 is allowed"
pull "limit=1000"
check 200 application/json '.changes|length' '8'

case_ "the other device pulls the same state"
TOKEN=$TB
pull "since=0"
check 200 application/json '.changes|length' '8'
TOKEN=$TA

case_ "GET /collections counts records and tombstones"
push "{\"changes\":[{\"collection\":\"tasks\",\"id\":\"t2\",\"base_version\":$(TOKEN=$TA; call GET /api/v1/collections/tasks/records/t2; jqr .record.version),\"deleted\":true}]}"
check 200 application/json '.results[0].status' '"applied"'
LASTV=$(jqr '.results[0].version')
call GET /api/v1/collections
check 200 application/json '.collections|map(.name)' '["notes","tasks"]' \
    '.collections[1].records' '1' '.collections[1].tombstones' '1' ".collections[1].last_version" "$LASTV" \
    '.collections[0].records' '6' '.collections[0].tombstones' '0' \
    '.collections[0]|keys' '["last_version","name","records","tombstones"]'

case_ "events: record.changed per writing push, conflict.created per conflict"
call GET "/api/v1/events?after=0&limit=1000"
if [ "$STATUS" = 200 ]; then
	check 200 application/json \
	    '[.events[]|select(.type=="record.changed")]|length' '8' \
	    '[.events[]|select(.type=="conflict.created")]|length' '2' \
	    '[.events[]|select(.type=="record.changed")][0].data' "{\"collections\":[\"notes\"],\"count\":1,\"version\":$V1}" \
	    '[.events[]|select(.type=="record.changed" and .data.count==5)][0].data.collections' '["notes","tasks"]' \
	    '[.events[]|select(.type=="conflict.created")][0].data|keys' '["collection","conflict_id","record_id"]' \
	    '[.events[]|select(.type=="record.changed")][0].device_id' '"laptop"'
else
	fail "$CASE" "GET /events: $STATUS"
fi

case_ "a push that writes nothing appends no event"
call GET "/api/v1/events?after=0&limit=1000"
nev=$(jqr '.events|length')
push '{"changes":[{"collection":"notes","id":"a","base_version":0,"data":{"i":1}}]}'
check 200 application/json '.results[0].status' '"unchanged"'
call GET "/api/v1/events?after=0&limit=1000"
check 200 application/json '.events|length' "$nev"

case_ "stats: collections, open conflicts, devices' push and pull times"
TOKEN=$TB
pull "since=0"
TOKEN=$TA
call GET /api/v1/sync/stats
check 200 application/json '.conflicts_open' '2' '.collections|length' '2' \
    '.devices|map(.id)|sort' '["laptop","phone"]' \
    '[.devices[]|select(.id=="laptop")][0].last_push_at|type' '"number"' \
    '[.devices[]|select(.id=="phone")][0].last_push_at' 'null' \
    '[.devices[]|select(.id=="phone")][0].last_pull_at|type' '"number"' \
    '.devices[0]|keys' '["id","last_pull_at","last_push_at"]'

case_ "export: one document with everything of the user"
call GET /api/v1/export
check 200 application/json '.user.email' '"alice@example.com"' '.user|keys' '["created_at","email","id"]' \
    '.records|length' '8' '[.records[]|select(.deleted)]|length' '1' \
    '.devices|map(.id)|sort' '["laptop","phone"]' '.sessions|type' '"array"' \
    '.exported_at|type' '"number"' '.conflicts|length' '2'

# ---- another user sees none of it
TOKEN=$TX
case_ "another user pulls nothing"
pull "since=0"
check 200 application/json '.changes' '[]' '.cursor' '0'
case_ "another user's record is 404"
call GET /api/v1/collections/notes/records/n1
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "another user has no collections"
call GET /api/v1/collections
check 200 application/json '.collections' '[]'
case_ "another user's stats are empty"
call GET /api/v1/sync/stats
check 200 application/json '.collections' '[]' '.conflicts_open' '0' '.devices|map(.id)' '["bobdev"]'
case_ "another user's conflicts are invisible"
call GET "/api/v1/conflicts?status=all"
check 200 application/json '.conflicts' '[]'
case_ "the same collection and id are a separate record per user"
push '{"changes":[{"collection":"notes","id":"n1","base_version":0,"data":{"bob":true}}]}'
check 200 application/json '.results[0].status' '"applied"'
case_ "another user's export holds only their data"
call GET /api/v1/export
check 200 application/json '.user.email' '"bob@example.com"' '.records|length' '1' '.records[0].data' '{"bob":true}' '.conflicts' '[]'
TOKEN=$TA
case_ "and alice's record is untouched"
call GET /api/v1/collections/notes/records/n1
check 200 application/json '.record.data' '{"title":"again"}'

# ---- auth and methods
TOKEN=""
for p in "GET /api/v1/sync/pull" "POST /api/v1/sync/push" "GET /api/v1/collections" \
    "GET /api/v1/sync/stats" "GET /api/v1/export" "GET /api/v1/collections/notes/records/n1"; do
	case_ "$p without a token is 401"
	call ${p% *} "${p#* }" '{"changes":[]}'
	check 401 application/problem+json '.code' '"INVALID_TOKEN"'
done
TOKEN=$TA
case_ "PUT /sync/push is 405"
call PUT /api/v1/sync/push '{}'
check 405 application/problem+json

finish
