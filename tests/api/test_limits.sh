#!/usr/bin/env bash
# Memory and storage per account are bounded (API.md "Fairness"): GET
# /sessions and GET /conflicts page, quotas refuse what would take usage
# past them and write nothing, and GET /export streams (issue 13, item 4).
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_RATE_PER_S=0 TANDEM_QUOTA_BYTES=4000 \
    TANDEM_QUOTA_RECORDS=20 TANDEM_DEDUP_WINDOW_MS=0

register lim@example.com password-lim
login TA lim@example.com password-lim laptop
register other@example.com password-other
login TB other@example.com password-other phone
TOKEN=$TA

push() { call POST /api/v1/sync/push "$1"; }

# --- GET /sessions pages in creation order -----------------------------------
for i in 1 2 3 4 5; do call POST /api/v1/sessions "{\"id\":\"s$i\"}"; done
call POST /api/v1/sessions/s2/kill

case_ "sessions: limit pages, next_after and more"
call GET "/api/v1/sessions?state=all&limit=2"
check 200 application/json '[.sessions[].id]' '["s1","s2"]' '.next_after' '"s2"' '.more' 'true'
case_ "sessions: after the last id seen"
call GET "/api/v1/sessions?state=all&limit=2&after=s2"
check 200 application/json '[.sessions[].id]' '["s3","s4"]' '.next_after' '"s4"' '.more' 'true'
case_ "sessions: the last page"
call GET "/api/v1/sessions?state=all&limit=2&after=s4"
check 200 application/json '[.sessions[].id]' '["s5"]' '.next_after' '"s5"' '.more' 'false'
case_ "sessions: an empty page answers after itself"
call GET "/api/v1/sessions?state=all&after=s5"
check 200 application/json '.sessions' '[]' '.next_after' '"s5"' '.more' 'false'
case_ "sessions: the state filter pages too (active skips the killed s2)"
call GET "/api/v1/sessions?limit=2"
check 200 application/json '[.sessions[].id]' '["s1","s3"]' '.more' 'true'
case_ "sessions: the default limit is 100 and more is false"
call GET "/api/v1/sessions?state=all"
check 200 application/json '.sessions|length' '5' '.more' 'false'
for q in "limit=0" "limit=1001" "limit=x" "after=nope" "after=%20"; do
	case_ "sessions: ?$q is 400"
	call GET "/api/v1/sessions?$q"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
done
case_ "sessions: another user's session id as after is 400, as unknown"
TOKEN=$TB
call GET "/api/v1/sessions?after=s1"
check 400 application/problem+json '.field' '"after"'
TOKEN=$TA

# --- GET /conflicts pages by id --------------------------------------------------
push '{"changes":[{"collection":"c","id":"k","base_version":0,"data":{"v":0}}]}'
for i in 1 2 3 4; do
	push "{\"changes\":[{\"collection\":\"c\",\"id\":\"k\",\"base_version\":1,\"data\":{\"v\":$i}}]}"
done
call GET "/api/v1/conflicts"
ids=$(jqr '[.conflicts[].id]|map(tostring)|join(" ")')
set -- $ids
case_ "conflicts: four stored"
[ $# -eq 4 ] && ok "$CASE" || fail "$CASE" "ids: $ids"
case_ "conflicts: limit and next_after"
call GET "/api/v1/conflicts?limit=3"
check 200 application/json '.conflicts|length' '3' ".next_after" "$3" '.more' 'true'
case_ "conflicts: after"
call GET "/api/v1/conflicts?limit=3&after=$3"
check 200 application/json "[.conflicts[].id]" "[$4]" ".next_after" "$4" '.more' 'false'
case_ "conflicts: an empty page answers after itself"
call GET "/api/v1/conflicts?after=$4"
check 200 application/json '.conflicts' '[]' ".next_after" "$4" '.more' 'false'
for q in "limit=0" "limit=1001" "after=0" "after=-1" "after=99999" "after=x"; do
	case_ "conflicts: ?$q is 400"
	call GET "/api/v1/conflicts?$q"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
done
case_ "conflicts: another user's conflict id as after is 400"
TOKEN=$TB
call GET "/api/v1/conflicts?after=$1"
check 400 application/problem+json '.field' '"after"'
TOKEN=$TA

# --- quotas -------------------------------------------------------------------------
case_ "/info gives the quotas"
call GET /api/v1/info
check 200 application/json '.quota_bytes' '4000' '.quota_records' '20'
call GET /api/v1/sync/stats
B0=$(jqr .usage.bytes); R0=$(jqr .usage.records)
case_ "sync/stats has usage: bytes of data and bodies, records with tombstones"
[ "$R0" = 1 ] && [ "$B0" -gt 0 ] && ok "$CASE" || fail "$CASE" "usage $B0 bytes, $R0 records"

big=$(head -c 3000 /dev/zero | tr '\0' x)
case_ "a push past the byte quota is 403 QUOTA_EXCEEDED {quota:bytes}"
push "{\"changes\":[{\"collection\":\"c\",\"id\":\"small\",\"base_version\":0,\"data\":{\"t\":1}},{\"collection\":\"c\",\"id\":\"big\",\"base_version\":0,\"data\":{\"t\":\"$big$big\"}}]}"
check 403 application/problem+json '.code' '"QUOTA_EXCEEDED"' '.quota' '"bytes"'
case_ "... and wrote nothing of the batch"
call GET /api/v1/collections/c/records/small
check 404 application/problem+json
call GET /api/v1/sync/stats
check 200 application/json '.usage.bytes' "$B0" '.usage.records' "$R0"

case_ "a push within the quota is applied"
push "{\"changes\":[{\"collection\":\"c\",\"id\":\"big\",\"base_version\":0,\"data\":{\"t\":\"$big\"}}]}"
check 200 application/json '.results[0].status' '"applied"'
BV=$(jqr '.results[0].version')
case_ "a write that shrinks usage is never refused, even near the quota"
push "{\"changes\":[{\"collection\":\"c\",\"id\":\"big\",\"base_version\":$BV,\"data\":{\"t\":\"short\"}}]}"
check 200 application/json '.results[0].status' '"applied"'
BV=$(jqr '.results[0].version')

case_ "a message past the byte quota is 403, and not stored"
call POST /api/v1/sessions/s1/messages "{\"client_msg_id\":\"m1\",\"body\":\"$big$big\"}"
check 403 application/problem+json '.code' '"QUOTA_EXCEEDED"' '.quota' '"bytes"'
call GET /api/v1/sessions/s1/messages
check 200 application/json '.messages' '[]'

case_ "records past the record quota (20, tombstones count) are 403 {quota:records}"
changes=""
for i in $(seq 1 19); do
	changes="$changes${changes:+,}{\"collection\":\"n\",\"id\":\"r$i\",\"base_version\":0,\"data\":{}}"
done
push "{\"changes\":[$changes]}"
check 403 application/problem+json '.quota' '"records"'
case_ "one fewer fits"
changes=""
for i in $(seq 1 18); do
	changes="$changes${changes:+,}{\"collection\":\"n\",\"id\":\"r$i\",\"base_version\":0,\"data\":{}}"
done
push "{\"changes\":[$changes]}"
check 200 application/json '.results|length' '18'
call GET /api/v1/sync/stats
check 200 application/json '.usage.records' '20'
case_ "a delete keeps its tombstone: no new record, never refused"
call GET "/api/v1/sync/pull?since=0&collections=n&limit=1"
RV=$(jqr '.changes[0].version')
push "{\"changes\":[{\"collection\":\"n\",\"id\":\"r1\",\"base_version\":$RV,\"deleted\":true}]}"
check 200 application/json '.results[0].status' '"applied"'
case_ "a new record past it is refused"
push '{"changes":[{"collection":"n","id":"r99","base_version":0,"data":{}}]}'
check 403 application/problem+json '.quota' '"records"'
case_ "another user's quota is their own"
TOKEN=$TB
push '{"changes":[{"collection":"n","id":"r99","base_version":0,"data":{}}]}'
check 200 application/json '.results[0].status' '"applied"'
TOKEN=$TA

# --- GET /export streams ---------------------------------------------------------
case_ "export: the whole document, with sessions and messages, parses"
call GET /api/v1/export
check 200 application/json '.user.email' '"lim@example.com"' '.sessions|length' '5' \
    '[.records[]|select(.collection=="n")]|length' '18' '.exported_at > 0' 'true' \
    '.conflicts|length' '4' '.devices|length' '1'
case_ "export: it holds only the user's data"
call GET /api/v1/export
check 200 application/json '[.records[]|select(.id=="r99")]|length' '0'

# The export of ~10 MB of records in arrays of numbers: the workers'
# peak memory grows by a fraction of it (the document used to be built
# as values: 120 such records made a worker grow by 634 MB).
stack_stop
stack_start TANDEM_RATE_PER_S=0 TANDEM_WORKERS=1
register exp@example.com password-exp
login TE exp@example.com password-exp laptop
TOKEN=$TE
python3 -c '
import json
arr = list(range(40000))
for p in range(13):
    ch = [{"collection": "big", "id": "r%d_%d" % (p, i), "base_version": 0,
           "data": {"a": arr}} for i in range(3)]
    open("'"$STACK_DIR"'/push%d.json" % p, "w").write(json.dumps({"changes": ch}))
'
for p in $(seq 0 12); do call POST /api/v1/sync/push "@$STACK_DIR/push$p.json"; done
case_ "export: 39 records of 40,000 numbers stored"
check 200 application/json ".results|length" "3"
worker_hwm() {
	local p sum=0 kb
	for p in $(pgrep -f 'tandemd serve'); do
		grep -qx "TANDEM_DATA_DIR=$STACK_DIR/data" < <(tr '\0' '\n' < /proc/$p/environ 2>/dev/null) || continue
		kb=$(awk '/^VmHWM/ {print $2}' /proc/$p/status)
		[ "${kb:-0}" -gt "$sum" ] && sum=$kb
	done
	echo "$sum"
}
before=$(worker_hwm)
curl -sk -o "$STACK_DIR/export.json" -w '%{http_code}' -H "Authorization: Bearer $TE" "$BASE/api/v1/export" > "$STACK_DIR/export.code"
after=$(worker_hwm)
size=$(stat -c %s "$STACK_DIR/export.json")
echo "  export of $((size / 1024)) KiB: the largest tandemd process's peak memory $((before / 1024)) -> $((after / 1024)) MiB"
case_ "export: the document is complete and parses"
[ "$(cat "$STACK_DIR/export.code")" = 200 ] && [ "$(jq ".records|length" "$STACK_DIR/export.json")" = 39 ] &&
    ok "$CASE" || fail "$CASE" "status $(cat "$STACK_DIR/export.code"), $size bytes"
case_ "export: peak memory grows by less than the document's size"
# AddressSanitizer's quarantine keeps freed memory from being reused, so
# under it the peak follows what was allocated in all, not what was held
if [ -n "${TANDEM_SANITIZE:-}" ]; then
	ok "$CASE (not measured under sanitizers: +$(((after - before) / 1024)) MiB)"
elif [ $((after - before)) -lt $((size / 1024)) ]; then
	ok "$CASE"
else
	fail "$CASE" "grew by $(((after - before) / 1024)) MiB for $((size / 1024 / 1024)) MiB of export"
fi

finish
