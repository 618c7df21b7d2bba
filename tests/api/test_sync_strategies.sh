#!/usr/bin/env bash
# Conflict strategies: two and three devices editing the same record
# offline and syncing in every order under every strategy; delete versus
# edit; the three-way merge (fields, nested objects, arrays, removals,
# type changes, a base no longer kept); last-writer-wins clocks.
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_RATE_PER_S=0

register dave@example.com password-dave
login TA dave@example.com password-dave dev-a
login TB dave@example.com password-dave dev-b
login TC dave@example.com password-dave dev-c

as() { case $1 in A) TOKEN=$TA ;; B) TOKEN=$TB ;; C) TOKEN=$TC ;; esac; }
# push_one DEV ID BASE DATA-OR-DELETE STRATEGY [MODIFIED_AT]
push_one() {
	local body mod=""
	[ -n "${6:-}" ] && mod=",\"modified_at\":$6"
	if [ "$4" = DELETE ]; then
		body="{\"collection\":\"docs\",\"id\":\"$2\",\"base_version\":$3,\"deleted\":true$mod}"
	else
		body="{\"collection\":\"docs\",\"id\":\"$2\",\"base_version\":$3,\"data\":$4$mod}"
	fi
	as "$1"
	call POST /api/v1/sync/push "{\"strategy\":\"$5\",\"changes\":[$body]}"
}
# create ID DATA: device A writes it; sets V1
create() {
	push_one A "$1" 0 "$2" manual
	V1=$(jqr '.results[0].version')
	[ "$(jqr '.results[0].status')" = applied ] || fail "create $1" "$RBODY"
}
# final ID: the stored record, as every device sees it by pulling
final_is() {
	local id=$1 want=$2 dev got
	for dev in A B C; do
		as "$dev"
		call GET "/api/v1/sync/pull?since=0&collections=docs&limit=1000"
		got=$(printf '%s' "$RBODY" | jq -c --arg id "$id" '[.changes[]|select(.id==$id)] | if length==1 then (if .[0].deleted then "DELETED" else .[0].data end) else "ROWS:\(length)" end')
		if [ "$got" != "$want" ]; then
			fail "$CASE" "device $dev sees $got, want $want"
			return
		fi
	done
	ok "$CASE: every device converges"
}
NOW=$(date +%s%3N)
MOD_A=$((NOW - 30000))
MOD_B=$((NOW - 20000))
MOD_C=$((NOW - 10000))
mod_of() { case $1 in A) echo $MOD_A ;; B) echo $MOD_B ;; C) echo $MOD_C ;; esac; }

# ---- two devices, both orders, every strategy
BASE2='{"title":"t0","body":"b0","tags":["x"]}'
# (written canonically: keys sorted, as the server answers them)
EDIT_A='{"body":"b0","tags":["x","a"],"title":"tA"}'
EDIT_B='{"body":"bB","tags":["x","b"],"title":"t0"}'
edit_of() { case $1 in A) echo "$EDIT_A" ;; B) echo "$EDIT_B" ;; esac; }
for s in manual server_wins client_wins lww merge; do
	for order in AB BA; do
		F=${order:0:1}
		S=${order:1:1}
		id="two-$s-$order"
		case_ "two devices, $s, $F pushes first"
		create "$id" "$BASE2"
		push_one "$F" "$id" "$V1" "$(edit_of "$F")" "$s" "$(mod_of "$F")"
		check 200 application/json '.results[0].status' '"applied"' || continue
		VF=$(jqr '.results[0].version')
		push_one "$S" "$id" "$V1" "$(edit_of "$S")" "$s" "$(mod_of "$S")"
		case $s in
		manual)
			check 200 application/json '.results[0].status' '"conflict"' '.results[0].version' "$VF" \
			    '.results[0].conflict_id|type' '"number"' ".results[0].server.data" "$(edit_of "$F")" \
			    ".results[0].server.device_id" "\"dev-$(tr A-C a-c <<<"$F")\""
			want=$(edit_of "$F") ;;
		server_wins)
			check 200 application/json '.results[0].status' '"rejected"' '.results[0].version' "$VF" \
			    '.results[0]|has("conflict_id")' 'false' ".results[0].server.data" "$(edit_of "$F")"
			want=$(edit_of "$F") ;;
		client_wins)
			check 200 application/json '.results[0].status' '"applied"' ".results[0].version > $VF" 'true' \
			    '.results[0]|has("server")' 'false'
			want=$(edit_of "$S") ;;
		lww)
			# B's clock is later: B wins whichever order
			if [ "$S" = B ]; then
				check 200 application/json '.results[0].status' '"applied"'
			else
				check 200 application/json '.results[0].status' '"rejected"' '.results[0].server.data' "$EDIT_B"
			fi
			want=$EDIT_B ;;
		merge)
			if [ "$F" = A ]; then tags='["x","a","b"]'; else tags='["x","b","a"]'; fi
			want="{\"body\":\"bB\",\"tags\":$tags,\"title\":\"tA\"}"
			check 200 application/json '.results[0].status' '"merged"' ".results[0].version > $VF" 'true' \
			    '.results[0].server.data' "$want" '.results[0].version == .results[0].server.version' 'true' ;;
		esac
		final_is "$id" "$(jq -cS . <<<"$want")"
	done
done

# ---- three devices, every order, every strategy
BASE3='{"title":"t0","body":"b0","note":"n0","tags":["x"]}'
E3_A='{"title":"tA","body":"b0","note":"n0","tags":["x","a"]}'
E3_B='{"title":"t0","body":"bB","note":"n0","tags":["x","b"]}'
E3_C='{"title":"t0","body":"b0","note":"nC","tags":["x","c"]}'
e3_of() { case $1 in A) echo "$E3_A" ;; B) echo "$E3_B" ;; C) echo "$E3_C" ;; esac; }
for s in manual server_wins client_wins lww merge; do
	for order in ABC ACB BAC BCA CAB CBA; do
		id="three-$s-$order"
		case_ "three devices, $s, order $order"
		create "$id" "$BASE3"
		statuses=()
		conflicts=0
		for k in 0 1 2; do
			d=${order:$k:1}
			push_one "$d" "$id" "$V1" "$(e3_of "$d")" "$s" "$(mod_of "$d")"
			statuses+=("$(jqr '.results[0].status')")
			[ -n "$(jqr '.results[0].conflict_id // empty')" ] && conflicts=$((conflicts + 1))
		done
		P1=${order:0:1}
		P2=${order:1:1}
		P3=${order:2:1}
		case $s in
		manual) want_st="applied conflict conflict"; want=$(e3_of "$P1") ;;
		server_wins) want_st="applied rejected rejected"; want=$(e3_of "$P1") ;;
		client_wins) want_st="applied applied applied"; want=$(e3_of "$P3") ;;
		lww)
			# a push wins when its clock (A < B < C) beats the stored one
			want_st="applied"
			best=$P1
			for d in "$P2" "$P3"; do
				if [ "$(mod_of "$d")" -gt "$(mod_of "$best")" ]; then
					want_st="$want_st applied"
					best=$d
				else
					want_st="$want_st rejected"
				fi
			done
			want=$E3_C ;;
		merge)
			want_st="applied merged merged"
			want=$(jq -nc --arg a "${P1,}" --arg b "${P2,}" --arg c "${P3,}" \
			    '{title:"tA",body:"bB",note:"nC",tags:["x",$a,$b,$c]}') ;;
		esac
		if [ "${statuses[*]}" = "$want_st" ]; then
			ok "$CASE: statuses $want_st"
		else
			fail "$CASE" "statuses ${statuses[*]}, want $want_st"
		fi
		if [ "$s" = manual ] && [ $conflicts -ne 2 ]; then
			fail "$CASE" "$conflicts conflict ids, want 2"
		fi
		final_is "$id" "$(jq -cS . <<<"$want")"
	done
done

# ---- delete versus edit
for s in manual server_wins client_wins lww merge; do
	for order in DE ED; do
		id="del-$s-$order"
		case_ "delete versus edit, $s, $([ $order = DE ] && echo 'delete first' || echo 'edit first')"
		create "$id" '{"title":"t0"}'
		# A deletes (older clock), B edits (newer clock)
		if [ $order = DE ]; then
			push_one A "$id" "$V1" DELETE "$s" "$MOD_A"
			check 200 application/json '.results[0].status' '"applied"'
			push_one B "$id" "$V1" '{"title":"tB"}' "$s" "$MOD_B"
			case $s in
			manual|merge)
				check 200 application/json '.results[0].status' '"conflict"' '.results[0].server.deleted' 'true' \
				    '.results[0].server.data' 'null'
				cid=$(jqr '.results[0].conflict_id')
				call GET "/api/v1/conflicts/$cid"
				check 200 application/json '.conflict.client.deleted' 'false' '.conflict.server.deleted' 'true' \
				    '.conflict.client.data' '{"title":"tB"}'
				want='"DELETED"' ;;
			server_wins)
				check 200 application/json '.results[0].status' '"rejected"' '.results[0].server.deleted' 'true'
				want='"DELETED"' ;;
			client_wins|lww)
				check 200 application/json '.results[0].status' '"applied"'
				want='{"title":"tB"}' ;;
			esac
		else
			push_one B "$id" "$V1" '{"title":"tB"}' "$s" "$MOD_B"
			check 200 application/json '.results[0].status' '"applied"'
			push_one A "$id" "$V1" DELETE "$s" "$MOD_A"
			case $s in
			manual|merge)
				check 200 application/json '.results[0].status' '"conflict"' '.results[0].server.data' '{"title":"tB"}'
				cid=$(jqr '.results[0].conflict_id')
				call GET "/api/v1/conflicts/$cid"
				check 200 application/json '.conflict.client.deleted' 'true' '.conflict.client.data' 'null' \
				    '.conflict.server.data' '{"title":"tB"}'
				want='{"title":"tB"}' ;;
			server_wins|lww)
				check 200 application/json '.results[0].status' '"rejected"' '.results[0].server.data' '{"title":"tB"}'
				want='{"title":"tB"}' ;;
			client_wins)
				check 200 application/json '.results[0].status' '"applied"'
				want='"DELETED"' ;;
			esac
		fi
		final_is "$id" "$want"
	done
done

case_ "lww: a later delete wins over an earlier edit"
create lww-del '{"title":"t0"}'
push_one B lww-del "$V1" '{"title":"tB"}' lww "$MOD_A"
push_one A lww-del "$V1" DELETE lww "$MOD_B"
check 200 application/json '.results[0].status' '"applied"'
final_is lww-del '"DELETED"'

# ---- the merge in detail
case_ "merge: the same field changed differently on both sides falls back to a conflict"
create m-same '{"title":"t0","n":1}'
push_one A m-same "$V1" '{"title":"tA","n":1}' merge
VA=$(jqr '.results[0].version')
push_one B m-same "$V1" '{"title":"tB","n":1}' merge
check 200 application/json '.results[0].status' '"conflict"' '.results[0].version' "$VA" \
    '.results[0].server.data' '{"n":1,"title":"tA"}' '.results[0].conflict_id|type' '"number"'
cid=$(jqr '.results[0].conflict_id')
call GET "/api/v1/conflicts/$cid"
check 200 application/json ".conflict.base_version" "$V1" '.conflict.server.version' "$VA" \
    '.conflict.client.data' '{"n":1,"title":"tB"}' '.conflict.status' '"open"'

case_ "merge: the same change on both sides is not a conflict"
create m-both '{"title":"t0","n":1}'
push_one A m-both "$V1" '{"title":"tX","n":1}' merge
push_one B m-both "$V1" '{"title":"tX","n":2}' merge
check 200 application/json '.results[0].status' '"merged"' '.results[0].server.data' '{"n":2,"title":"tX"}'

case_ "merge: nested objects merge field by field"
create m-nest '{"settings":{"theme":"light","font":"serif","size":12},"v":1}'
push_one A m-nest "$V1" '{"settings":{"theme":"dark","font":"serif","size":12},"v":1}' merge
push_one B m-nest "$V1" '{"settings":{"theme":"light","font":"mono","size":12},"v":1}' merge
check 200 application/json '.results[0].status' '"merged"' \
    '.results[0].server.data' '{"settings":{"font":"mono","size":12,"theme":"dark"},"v":1}'

case_ "merge: the same nested field changed differently is a conflict"
create m-nest2 '{"settings":{"theme":"light"}}'
push_one A m-nest2 "$V1" '{"settings":{"theme":"dark"}}' merge
push_one B m-nest2 "$V1" '{"settings":{"theme":"blue"}}' merge
check 200 application/json '.results[0].status' '"conflict"'

case_ "merge: a field removed on one side and another edited"
create m-rm '{"a":1,"b":2,"c":3}'
push_one A m-rm "$V1" '{"a":1,"c":3}' merge
push_one B m-rm "$V1" '{"a":1,"b":2,"c":4}' merge
check 200 application/json '.results[0].status' '"merged"' '.results[0].server.data' '{"a":1,"c":4}'

case_ "merge: a field removed on one side and edited on the other is a conflict"
create m-rm2 '{"a":1,"b":2}'
push_one A m-rm2 "$V1" '{"a":1}' merge
push_one B m-rm2 "$V1" '{"a":1,"b":3}' merge
check 200 application/json '.results[0].status' '"conflict"'

case_ "merge: fields added on both sides"
create m-add '{"a":1}'
push_one A m-add "$V1" '{"a":1,"x":"from a"}' merge
push_one B m-add "$V1" '{"a":1,"y":"from b"}' merge
check 200 application/json '.results[0].status' '"merged"' '.results[0].server.data' '{"a":1,"x":"from a","y":"from b"}'

case_ "merge: a type change on one side and an edit elsewhere"
create m-type '{"a":"s","b":1}'
push_one A m-type "$V1" '{"a":{"now":"object"},"b":1}' merge
push_one B m-type "$V1" '{"a":"s","b":2}' merge
check 200 application/json '.results[0].status' '"merged"' '.results[0].server.data' '{"a":{"now":"object"},"b":2}'

case_ "merge: a type change against an edit of the same field is a conflict"
create m-type2 '{"a":"s"}'
push_one A m-type2 "$V1" '{"a":["list"]}' merge
push_one B m-type2 "$V1" '{"a":"t"}' merge
check 200 application/json '.results[0].status' '"conflict"'

case_ "merge: arrays changed on both sides: the server's array, then the client's new items"
create m-arr '{"items":[1,2,3]}'
push_one A m-arr "$V1" '{"items":[1,3,4]}' merge
push_one B m-arr "$V1" '{"items":[0,1,2,3,5,4]}' merge
check 200 application/json '.results[0].status' '"merged"' '.results[0].server.data' '{"items":[1,3,4,0,5]}'

case_ "merge: an array changed on one side only takes that side"
create m-arr1 '{"items":[1,2],"n":0}'
push_one A m-arr1 "$V1" '{"items":[2],"n":0}' merge
push_one B m-arr1 "$V1" '{"items":[1,2],"n":1}' merge
check 200 application/json '.results[0].status' '"merged"' '.results[0].server.data' '{"items":[2],"n":1}'

case_ "merge: a client that changed nothing from its base takes the server's data, no new version"
create m-noop '{"a":1}'
push_one A m-noop "$V1" '{"a":2}' merge
VA=$(jqr '.results[0].version')
push_one B m-noop "$V1" '{"a":1}' merge
check 200 application/json '.results[0].status' '"merged"' '.results[0].version' "$VA" \
    '.results[0].server.data' '{"a":2}' '.results[0].server.version' "$VA"

case_ "merge: base_version 0 against an existing record falls back to a conflict"
create m-zero '{"a":1}'
push_one B m-zero 0 '{"a":1,"b":2}' merge
check 200 application/json '.results[0].status' '"conflict"' '.results[0].server.data' '{"a":1}'

case_ "merge: an unknown base version falls back to a conflict"
create m-unk '{"a":1}'
push_one A m-unk "$V1" '{"a":2}' merge
push_one B m-unk 12345 '{"a":1,"b":2}' merge
check 200 application/json '.results[0].status' '"conflict"'

case_ "merge: a base no longer kept (history is 10 revisions) falls back to a conflict"
create m-old '{"n":0,"t":"x"}'
OLD=$V1
cur=$V1
for i in $(seq 1 11); do
	push_one A m-old "$cur" "{\"n\":$i,\"t\":\"x\"}" manual
	cur=$(jqr '.results[0].version')
done
push_one B m-old "$OLD" '{"n":0,"t":"y"}' merge
check 200 application/json '.results[0].status' '"conflict"' '.results[0].server.data' '{"n":11,"t":"x"}'
case_ "merge: a base still kept (10 back) merges"
create m-kept '{"n":0,"t":"x"}'
KEPT=$V1
cur=$V1
for i in $(seq 1 10); do
	push_one A m-kept "$cur" "{\"n\":$i,\"t\":\"x\"}" manual
	cur=$(jqr '.results[0].version')
done
push_one B m-kept "$KEPT" '{"n":0,"t":"y"}' merge
check 200 application/json '.results[0].status' '"merged"' '.results[0].server.data' '{"n":10,"t":"y"}'

case_ "merge: the merged record is pulled by every device and announced"
final_is m-kept '{"n":10,"t":"y"}'
as A
call GET "/api/v1/events?after=0&limit=1000"
check 200 application/json "[.events[]|select(.type==\"record.changed\" and .data.version==$(as B; call GET /api/v1/collections/docs/records/m-kept; jqr .record.version))]|length" '1'

# ---- last writer wins: clocks
case_ "lww: a tie goes to the server"
create l-tie '{"a":0}'
push_one A l-tie "$V1" '{"a":1}' lww $MOD_B
push_one B l-tie "$V1" '{"a":2}' lww $MOD_B
check 200 application/json '.results[0].status' '"rejected"' '.results[0].server.data' '{"a":1}'

case_ "lww: a device clock a day ahead does not win forever"
create l-skew '{"a":0}'
DAY_AHEAD=$(( $(date +%s%3N) + 86400000 ))
push_one A l-skew "$V1" '{"a":"future"}' lww $DAY_AHEAD
check 200 application/json '.results[0].status' '"applied"'
push_one B l-skew "$V1" '{"a":"now"}' lww "$(date +%s%3N)"
check 200 application/json '.results[0].status' '"applied"'
final_is l-skew '{"a":"now"}'

case_ "lww: a clock within 5 minutes ahead is believed"
create l-near '{"a":0}'
push_one A l-near "$V1" '{"a":"soon"}' lww $(( $(date +%s%3N) + 120000 ))
push_one B l-near "$V1" '{"a":"now"}' lww "$(date +%s%3N)"
check 200 application/json '.results[0].status' '"rejected"'

case_ "lww: a client clock far ahead counts as the server's now"
create l-far '{"a":0}'
push_one A l-far "$V1" '{"a":"soon"}' lww $(( $(date +%s%3N) + 120000 ))
push_one B l-far "$V1" '{"a":"far"}' lww $(( $(date +%s%3N) + 86400000 ))
check 200 application/json '.results[0].status' '"rejected"' '.results[0].server.data' '{"a":"soon"}'

case_ "lww: a missing modified_at is the server's now and beats an older clock"
create l-none '{"a":0}'
push_one A l-none "$V1" '{"a":1}' lww $MOD_A
push_one B l-none "$V1" '{"a":2}' lww
check 200 application/json '.results[0].status' '"applied"'

case_ "server_wins and client_wins in one batch with unchanged and new records"
create mix1 '{"a":0}'
M1=$V1
create mix2 '{"a":0}'
M2=$V1
as A
call POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"docs\",\"id\":\"mix1\",\"base_version\":$M1,\"data\":{\"a\":1}},{\"collection\":\"docs\",\"id\":\"mix2\",\"base_version\":$M2,\"data\":{\"a\":1}}]}"
as B
call POST /api/v1/sync/push "{\"strategy\":\"server_wins\",\"changes\":[{\"collection\":\"docs\",\"id\":\"mix1\",\"base_version\":$M1,\"data\":{\"a\":2}},{\"collection\":\"docs\",\"id\":\"mix2\",\"base_version\":$M2,\"data\":{\"a\":1}},{\"collection\":\"docs\",\"id\":\"mix3\",\"base_version\":0,\"data\":{\"a\":3}}]}"
check 200 application/json '[.results[].status]' '["rejected","unchanged","applied"]' \
    '.cursor == .results[2].version' 'true'

finish
