#!/usr/bin/env bash
# Paging under concurrent pushes: two devices push (writes, rewrites,
# deletes, re-creates, two collections) in the background while a third
# pulls page by page with a small limit.  Versions never go backwards or
# repeat across pages, and the reader ends with exactly the server's
# state, for the full feed and for a collection-filtered one.
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_RATE_PER_S=0 TANDEM_WORKERS=2

register gina@example.com password-gina
login TP1 gina@example.com password-gina pusher-1
login TP2 gina@example.com password-gina pusher-2
login TR gina@example.com password-gina reader

# pusher TOKEN NAME ROUNDS: batches of 3 changes on 30 shared ids in two
# collections; client_wins so that every change with new data writes
pusher() {
	local tok=$1 name=$2 rounds=$3 i k id coll body changes
	for i in $(seq 1 "$rounds"); do
		changes=""
		for k in 1 2 3; do
			id="r$((RANDOM % 30))"
			if [ $((RANDOM % 2)) = 0 ]; then coll=alpha; else coll=beta; fi
			if [ $((RANDOM % 6)) = 0 ]; then
				body="{\"collection\":\"$coll\",\"id\":\"$id\",\"base_version\":0,\"deleted\":true}"
			else
				body="{\"collection\":\"$coll\",\"id\":\"$id\",\"base_version\":0,\"data\":{\"by\":\"$name\",\"round\":$i,\"k\":$k}}"
			fi
			changes="$changes${changes:+,}$body"
		done
		curl -sk -o /dev/null -w '%{http_code}\n' -X POST \
		    -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
		    --data-binary "{\"strategy\":\"client_wins\",\"changes\":[$changes]}" \
		    "$BASE/api/v1/sync/push" >> "$STACK_DIR/$name.codes"
	done
}

TOKEN=$TP1
case_ "seed"
call POST /api/v1/sync/push "$(jq -nc '{changes:[range(20)|{collection:(if . % 2 == 0 then "alpha" else "beta" end),id:"r\(.)",base_version:0,data:{seed:.}}]}')"
check 200 application/json '[.results[].status]|unique' '["applied"]'

# The reader's copies, as "collection/id version deleted data" lines.
declare -A FULL FILT
FULL_SINCE=0
FILT_SINCE=0
LAST_FULL=0
LAST_FILT=0
PAGES=0
ROWS=0
BAD=""
# page KIND: pull one page into that copy; sets MORE
page() {
	local kind=$1 since q
	if [ "$kind" = full ]; then since=$FULL_SINCE; q=""; else since=$FILT_SINCE; q="&collections=alpha"; fi
	call GET "/api/v1/sync/pull?since=$since&limit=3$q"
	if [ "$STATUS" != 200 ]; then BAD="$BAD pull:$STATUS"; MORE=false; return; fi
	local line key ver rest last
	if [ "$kind" = full ]; then last=$LAST_FULL; else last=$LAST_FILT; fi
	while IFS=$'\t' read -r key ver rest; do
		[ -z "$key" ] && continue
		# strictly increasing across pages: nothing repeated, nothing older
		if [ "$ver" -le "$last" ] || [ "$ver" -le "$since" ]; then BAD="$BAD order:$ver<=$last"; fi
		last=$ver
		if [ "$kind" = full ]; then FULL[$key]="$ver $rest"; else FILT[$key]="$ver $rest"; fi
		ROWS=$((ROWS + 1))
	done < <(jqr '.changes[]|[.collection + "/" + .id, (.version|tostring), (.deleted|tostring), (.data|tojson)]|@tsv')
	if [ "$kind" = alpha ] && [ -n "$(jqr '.changes[]|select(.collection != "alpha")|.id')" ]; then BAD="$BAD filter"; fi
	local cur
	cur=$(jqr .cursor)
	if [ "$(jqr '.changes|length')" -gt 0 ] && [ "$cur" != "$last" ]; then BAD="$BAD cursor"; fi
	if [ "$kind" = full ]; then FULL_SINCE=$cur; LAST_FULL=$last; else FILT_SINCE=$cur; LAST_FILT=$last; fi
	MORE=$(jqr .more)
	PAGES=$((PAGES + 1))
}

TOKEN=$TR
pusher "$TP1" p1 40 &
P1=$!
pusher "$TP2" p2 40 &
P2=$!
# Pull while they push; then drain both feeds to the end.
while kill -0 $P1 2>/dev/null || kill -0 $P2 2>/dev/null; do
	page full
	page alpha
	[ "$MORE" = true ] || sleep 0.02
done
wait $P1 $P2
for kind in full alpha; do
	MORE=true
	while [ "$MORE" = true ]; do page $kind; done
done

case_ "every background push succeeded"
codes=$(cat "$STACK_DIR/p1.codes" "$STACK_DIR/p2.codes" | sort | uniq -c | tr -s ' ')
[ "$(cat "$STACK_DIR/p1.codes" "$STACK_DIR/p2.codes" | grep -c '^200$')" = 80 ] && ok "$CASE" || fail "$CASE" "codes: $codes"

case_ "pages never went backwards, repeated a write or broke the filter"
[ -z "$BAD" ] && ok "$CASE ($PAGES pages, $ROWS rows)" || fail "$CASE" "$BAD"

# The server's state now, from one full pull.
case_ "a full pull of the final state fits one page"
call GET "/api/v1/sync/pull?since=0&limit=1000"
check 200 application/json '.more' 'false'
declare -A SERVER
while IFS=$'\t' read -r key ver rest; do
	[ -n "$key" ] && SERVER[$key]="$ver $rest"
done < <(jqr '.changes[]|[.collection + "/" + .id, (.version|tostring), (.deleted|tostring), (.data|tojson)]|@tsv')

case_ "the page-by-page reader ends with exactly the server's state"
diffs=0
for k in "${!SERVER[@]}"; do [ "${FULL[$k]:-}" = "${SERVER[$k]}" ] || diffs=$((diffs + 1)); done
[ ${#FULL[@]} -eq ${#SERVER[@]} ] && [ $diffs -eq 0 ] && ok "$CASE (${#SERVER[@]} records)" ||
    fail "$CASE" "${#FULL[@]} vs ${#SERVER[@]} records, $diffs differ"

case_ "the filtered reader ends with exactly the server's alpha records"
diffs=0
n=0
for k in "${!SERVER[@]}"; do
	[[ $k == alpha/* ]] || continue
	n=$((n + 1))
	[ "${FILT[$k]:-}" = "${SERVER[$k]}" ] || diffs=$((diffs + 1))
done
[ ${#FILT[@]} -eq $n ] && [ $diffs -eq 0 ] && ok "$CASE ($n records)" || fail "$CASE" "${#FILT[@]} vs $n records, $diffs differ"

case_ "the per-collection counts agree with the records"
counts=$(printf '%s' "$RBODY" | jq -c '[.changes[]|{c: .collection, d: .deleted}]|group_by(.c)|map({name: .[0].c, records: map(select(.d|not))|length, tombstones: map(select(.d))|length})')
call GET /api/v1/collections
check 200 application/json '[.collections[]|{name, records, tombstones}]' "$counts"

case_ "the reader's cursor is the server's newest version"
call GET "/api/v1/sync/pull?since=$FULL_SINCE"
check 200 application/json '.changes' '[]' '.more' 'false' ".cursor" "$FULL_SINCE"
case_ "and the push cursor agrees"
TOKEN=$TP1
call POST /api/v1/sync/push '{"changes":[]}'
check 200 application/json ".cursor" "$FULL_SINCE"

case_ "the writes the reader saw are all the server wrote: record.changed counts add up"
call GET "/api/v1/events?after=0&limit=1000"
check 200 application/json '[.events[]|select(.type=="record.changed")]|length > 0' 'true' \
    "[.events[]|select(.type==\"record.changed\")]|map(.data.version)|max" "$FULL_SINCE"

finish
