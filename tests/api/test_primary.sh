#!/usr/bin/env bash
# The primary device: claim (the first of two wins), renew, release,
# transfer, the epoch, auto messages from non-primaries, never two holders
# under concurrent claims, a revoked device losing the role, and (on a
# second stack with a short lease) failover after the holder stops
# renewing: to the online participant seen most recently, or to nobody.
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_RATE_PER_S=0 TANDEM_SEEN_WRITE_MS=0

PW="password-123"
register alice@example.com "$PW"
register bob@example.com "$PW"
login A alice@example.com "$PW" a-phone
login B alice@example.com "$PW" a-laptop
login C alice@example.com "$PW" a-tablet
login X bob@example.com "$PW" b-phone

PRIMARY_KEYS='["device_id","epoch","lease_expires_at"]'
now_ms() { date +%s%3N; }
cursor() {
	call GET /api/v1/events
	jqr .cursor
}
events_after() {
	call GET "/api/v1/events?after=$1&timeout=0&limit=1000"
	RBODY=$(printf '%s' "$RBODY" | jq -c .events)
}
PIDS=()
fire() {
	local out="$STACK_DIR/par.$1" tok=$2 path=$3 body=$4
	(
		while [ ! -e "$STACK_DIR/gate" ]; do sleep 0.002; done
		curl -sk -o "$out.b" -w '%{http_code}' -X POST -H "Authorization: Bearer $tok" \
		    -H 'Content-Type: application/json' --data-binary "$body" --max-time 60 \
		    "$BASE$path" > "$out.s"
	) &
	PIDS+=($!)
}
go() {
	touch "$STACK_DIR/gate"
	wait "${PIDS[@]}"
	PIDS=()
	rm -f "$STACK_DIR/gate"
}
par_status() { cat "$STACK_DIR/par.$1.s"; }
par_body() { cat "$STACK_DIR/par.$1.b"; }

TOKEN=$A
call POST /api/v1/sessions '{"id":"s1"}'
c0=$(cursor)

# --- claim, renew, release ---------------------------------------------------------
case_ "nobody holds a new session's role"
call GET /api/v1/sessions/s1/primary
check 200 application/json '.primary' null
case_ "auto from anyone while nobody is primary is 409 NOT_PRIMARY with primary null"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"auto0","body":"auto 0","auto":true}'
check 409 application/problem+json '.code' '"NOT_PRIMARY"' '.primary' null
case_ "the first device to claim wins (epoch 1)"
t0=$(now_ms)
call POST /api/v1/sessions/s1/primary '{"action":"claim"}'
check 200 application/json '.primary|keys' "$PRIMARY_KEYS" '.primary.device_id' '"a-phone"' '.primary.epoch' 1
lease1=$(jqr .primary.lease_expires_at)
[ "$lease1" -ge $((t0 + 90000)) ] && [ "$lease1" -le $(($(now_ms) + 90000)) ] && ok "lease is now + 90 s" || fail "lease is now + 90 s" "$lease1"
case_ "the second device's claim is 409 PRIMARY_HELD with the primary"
TOKEN=$B
call POST /api/v1/sessions/s1/primary '{"action":"claim"}'
check 409 application/problem+json '.code' '"PRIMARY_HELD"' '.primary.device_id' '"a-phone"' '.primary.epoch' 1
case_ "renew by a non-holder is 409 NOT_HOLDER"
call POST /api/v1/sessions/s1/primary '{"action":"renew"}'
check 409 application/problem+json '.code' '"NOT_HOLDER"'
case_ "release by a non-holder is 409 NOT_HOLDER"
call POST /api/v1/sessions/s1/primary '{"action":"release"}'
check 409 application/problem+json '.code' '"NOT_HOLDER"'
case_ "auto from the non-primary is 409 NOT_PRIMARY naming the primary"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"auto1","body":"auto 1","auto":true}'
check 409 application/problem+json '.code' '"NOT_PRIMARY"' '.primary.device_id' '"a-phone"' '.primary.epoch' 1
case_ "a non-auto message from the non-primary is fine"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"man1","body":"typed by hand","auto":false}'
check 201 application/json
TOKEN=$A
case_ "auto from the primary is 201"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"auto2","body":"auto 2","auto":true}'
check 201 application/json '.message.device_id' '"a-phone"'
case_ "GET primary shows the holder"
call GET /api/v1/sessions/s1/primary
check 200 application/json '.primary.device_id' '"a-phone"' '.primary.epoch' 1 '.primary.lease_expires_at' "$lease1"
case_ "the session shows the primary"
call GET /api/v1/sessions/s1
check 200 application/json '.session.primary.device_id' '"a-phone"' '.session.primary.epoch' 1
sleep 0.05
case_ "renew by the holder extends the lease, same epoch"
call POST /api/v1/sessions/s1/primary '{"action":"renew"}'
check 200 application/json '.primary.device_id' '"a-phone"' '.primary.epoch' 1
lease2=$(jqr .primary.lease_expires_at)
[ "$lease2" -gt "$lease1" ] && ok "renew extends" || fail "renew extends" "$lease2 <= $lease1"
sleep 0.05
case_ "the holder claiming again renews, same epoch"
call POST /api/v1/sessions/s1/primary '{"action":"claim"}'
check 200 application/json '.primary.device_id' '"a-phone"' '.primary.epoch' 1
lease3=$(jqr .primary.lease_expires_at)
[ "$lease3" -gt "$lease2" ] && ok "claim renews" || fail "claim renews" "$lease3 <= $lease2"
case_ "release by the holder answers primary null"
call POST /api/v1/sessions/s1/primary '{"action":"release"}'
check 200 application/json '.primary' null
call GET /api/v1/sessions/s1/primary
check 200 application/json '.primary' null
case_ "renew or release when nobody holds it is 409 NOT_HOLDER"
call POST /api/v1/sessions/s1/primary '{"action":"renew"}'
check 409 application/problem+json '.code' '"NOT_HOLDER"'
call POST /api/v1/sessions/s1/primary '{"action":"release"}'
check 409 application/problem+json '.code' '"NOT_HOLDER"'
case_ "the next holder gets the next epoch (2)"
TOKEN=$B
call POST /api/v1/sessions/s1/primary '{"action":"claim"}'
check 200 application/json '.primary.device_id' '"a-laptop"' '.primary.epoch' 2

# --- transfer --------------------------------------------------------------------
case_ "transfer by the holder hands the role over with the next epoch"
call POST /api/v1/sessions/s1/primary '{"action":"transfer","to_device":"a-tablet"}'
check 200 application/json '.primary.device_id' '"a-tablet"' '.primary.epoch' 3
case_ "the new holder renews"
TOKEN=$C
call POST /api/v1/sessions/s1/primary '{"action":"renew"}'
check 200 application/json '.primary.device_id' '"a-tablet"' '.primary.epoch' 3
case_ "the old holder can no longer renew"
TOKEN=$B
call POST /api/v1/sessions/s1/primary '{"action":"renew"}'
check 409 application/problem+json '.code' '"NOT_HOLDER"'
case_ "any device of the user may transfer (a manual hand-off)"
TOKEN=$A
call POST /api/v1/sessions/s1/primary '{"action":"transfer","to_device":"a-phone"}'
check 200 application/json '.primary.device_id' '"a-phone"' '.primary.epoch' 4
case_ "transfer to the current holder keeps the epoch"
call POST /api/v1/sessions/s1/primary '{"action":"transfer","to_device":"a-phone"}'
check 200 application/json '.primary.device_id' '"a-phone"' '.primary.epoch' 4
case_ "transfer to an unknown device is 404 with field to_device"
call POST /api/v1/sessions/s1/primary '{"action":"transfer","to_device":"no-such-device"}'
check 404 application/problem+json '.code' '"NOT_FOUND"' '.field' '"to_device"'
case_ "transfer to another user's device is 404 with field to_device"
call POST /api/v1/sessions/s1/primary '{"action":"transfer","to_device":"b-phone"}'
check 404 application/problem+json '.code' '"NOT_FOUND"' '.field' '"to_device"'
for bad in '{"action":"transfer"}' '{"action":"transfer","to_device":null}' '{"action":"transfer","to_device":"bad id"}' \
    '{"action":"transfer","to_device":""}' '{"action":"transfer","to_device":5}'; do
	case_ "transfer body $bad is 400 to_device"
	call POST /api/v1/sessions/s1/primary "$bad"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"to_device"'
done
case_ "failed transfers changed nothing"
call GET /api/v1/sessions/s1/primary
check 200 application/json '.primary.device_id' '"a-phone"' '.primary.epoch' 4

case_ "primary.changed for every change of holder, none for renewals"
events_after "$c0"
check 200 - '[.[]|select(.type=="primary.changed")|[.device_id, .data.device_id, .data.epoch]]' \
    '[["a-phone","a-phone",1],["a-phone",null,1],["a-laptop","a-laptop",2],["a-laptop","a-tablet",3],["a-phone","a-phone",4]]' \
    '[.[]|select(.type=="primary.changed")][0].data|keys' '["device_id","epoch","session_id"]'

# --- bad input -------------------------------------------------------------------
for bad in '{"action":"steal"}' '{"action":""}' '{"action":"CLAIM"}' '{"action":5}' '{"action":null}' \
    '{}' '{"to_device":"a-phone"}' ''; do
	case_ "primary body '$bad' is 400 action"
	call POST /api/v1/sessions/s1/primary "$bad"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"action"'
done
case_ "primary with an array body is 400"
call POST /api/v1/sessions/s1/primary '["claim"]'
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"body"'
case_ "primary with malformed JSON is 400"
call POST /api/v1/sessions/s1/primary '{"action":'
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
case_ "primary of an unknown session is 404"
call GET /api/v1/sessions/nope/primary
check 404 application/problem+json '.code' '"NOT_FOUND"'
call POST /api/v1/sessions/nope/primary '{"action":"claim"}'
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "primary with an invalid path id is 400"
call POST "/api/v1/sessions/bad%20id/primary" '{"action":"claim"}'
check 400 application/problem+json '.field' '"session_id"'
case_ "another user's session is 404 for every primary action"
TOKEN=$X
for action in claim renew release; do
	call POST /api/v1/sessions/s1/primary "{\"action\":\"$action\"}"
	check 404 application/problem+json '.code' '"NOT_FOUND"'
done
call POST /api/v1/sessions/s1/primary '{"action":"transfer","to_device":"b-phone"}'
check 404 application/problem+json '.code' '"NOT_FOUND"'
TOKEN=$A
call GET /api/v1/sessions/s1/primary
check 200 application/json '.primary.device_id' '"a-phone"' '.primary.epoch' 4

# --- concurrent claims: never two holders ---------------------------------------
login D alice@example.com "$PW" a-watch
login E alice@example.com "$PW" a-tv
login F alice@example.com "$PW" a-car
ROUNDS=8
sent=0; won=0; held=0; bad=0
for r in $(seq 1 $ROUNDS); do
	sid="s-claim-race-$r"
	TOKEN=$A
	call POST /api/v1/sessions "{\"id\":\"$sid\"}"
	cr=$(cursor)
	for t in A B C D E F; do
		fire "$sid.$t" "${!t}" "/api/v1/sessions/$sid/primary" '{"action":"claim"}'
	done
	go
	n200=0; n409=0; winner=""; seen=()
	for t in A B C D E F; do
		sent=$((sent + 1))
		# "STATUS CODE HOLDER EPOCH" (CODE is null on success)
		read -r st code who ep < <(printf '%s ' "$(par_status "$sid.$t")"; par_body "$sid.$t" |
		    jq -r '"\(.code) \(.primary.device_id) \(.primary.epoch)"')
		if [ "$st" = 200 ]; then
			n200=$((n200 + 1))
			winner="$who $ep"
		elif [ "$st" = 409 ] && [ "$code" = PRIMARY_HELD ]; then
			n409=$((n409 + 1))
			seen+=("$who $ep")
		fi
	done
	won=$((won + n200)); held=$((held + n409))
	[ "$n200" = 1 ] && [ "$n409" = 5 ] && [ "${winner#* }" = 1 ] || bad=$((bad + 1))
	for w in "${seen[@]}"; do [ "$w" = "$winner" ] || bad=$((bad + 1)); done
	call GET "/api/v1/sessions/$sid/primary"
	[ "$(jqr '"\(.primary.device_id) \(.primary.epoch)"')" = "$winner" ] || bad=$((bad + 1))
	events_after "$cr"
	[ "$(jqr '[.[]|select(.type=="primary.changed")]|length')" = 1 ] || bad=$((bad + 1))
done
echo "  claim race, 6 devices x $ROUNDS rounds: sent $sent, won $won, refused (PRIMARY_HELD) $held"
case_ "six devices claiming at once: exactly one holder per round, epoch 1, one event"
[ "$bad" = 0 ] && [ "$won" = $ROUNDS ] && [ "$held" = $((ROUNDS * 5)) ] && ok "$CASE" || fail "$CASE" "won $won held $held, $bad bad"

# --- a revoked device loses the role --------------------------------------------
login G alice@example.com "$PW" a-spare
TOKEN=$A
call POST /api/v1/sessions '{"id":"s-revoke"}'
TOKEN=$C
call POST /api/v1/sessions/s-revoke/messages '{"client_msg_id":"c1","body":"tablet was here"}'
check 201 application/json
TOKEN=$G
call POST /api/v1/sessions/s-revoke/primary '{"action":"claim"}'
check 200 application/json '.primary.device_id' '"a-spare"' '.primary.epoch' 1
call POST /api/v1/sessions/s-revoke/lock '{"ttl_ms":60000}'
check 200 application/json '.lock.device_id' '"a-spare"'
TOKEN=$A
cr=$(cursor)
case_ "DELETE /devices/{id} of the holder is 204"
call DELETE /api/v1/devices/a-spare
check 204 -
case_ "the role fails over at once to the online participant"
call GET /api/v1/sessions/s-revoke
check 200 application/json '.session.primary.device_id' '"a-tablet"' '.session.primary.epoch' 2 '.session.lock' null
case_ "primary.changed and lock.changed name the device whose DELETE caused them"
events_after "$cr"
check 200 - '[.[]|select(.type=="primary.changed" or .type=="lock.changed")|[.type, .device_id, .data.device_id]]' \
    '[["primary.changed","a-phone","a-tablet"],["lock.changed","a-phone",null]]' \
    '[.[]|select(.type=="primary.changed")][0].data.epoch' 2
case_ "the revoked device's token is dead"
TOKEN=$G
call POST /api/v1/sessions/s-revoke/primary '{"action":"claim"}'
check 401 application/problem+json '.code' '"DEVICE_REVOKED"'
case_ "transfer to a revoked device is 404 with field to_device"
TOKEN=$A
call POST /api/v1/sessions/s-revoke/primary '{"action":"transfer","to_device":"a-spare"}'
check 404 application/problem+json '.code' '"NOT_FOUND"' '.field' '"to_device"'
case_ "a holder that logs out with no one else around leaves the role empty"
login G alice@example.com "$PW" a-spare
call POST /api/v1/sessions '{"id":"s-logout"}'
TOKEN=$G
call POST /api/v1/sessions/s-logout/primary '{"action":"claim"}'
check 200 application/json '.primary.epoch' 1
call POST /api/v1/auth/logout ''
check 204 -
TOKEN=$A
call GET /api/v1/sessions/s-logout/primary
check 200 application/json '.primary' null
case_ "after the revoked holder is gone, the next claim gets the next epoch"
call POST /api/v1/sessions/s-logout/primary '{"action":"claim"}'
check 200 application/json '.primary.device_id' '"a-phone"' '.primary.epoch' 2

# --- failover: a second stack with a short lease -----------------------------------
stack_stop
TTL=2000
PRESENCE=3000
stack_start TANDEM_RATE_PER_S=0 TANDEM_SEEN_WRITE_MS=0 TANDEM_PRIMARY_TTL_MS=$TTL \
    TANDEM_SWEEP_MS=200 TANDEM_PRESENCE_TTL_MS=$PRESENCE
register carol@example.com "$PW"
login P1 carol@example.com "$PW" p1
login P2 carol@example.com "$PW" p2
login P3 carol@example.com "$PW" p3
hb() { # heartbeat as each device named
	local t saved=$TOKEN
	for t in "$@"; do TOKEN=${!t}; call POST /api/v1/devices/heartbeat ''; done
	TOKEN=$saved
}
# Wait (heartbeating the devices named after the session) until session
# $1's primary is no longer [device, epoch] $2; sets NEWP and CHANGED_AT.
wait_change() {
	local sid=$1 old=$2 i
	shift 2
	NEWP=$old
	for i in $(seq 1 100); do
		hb "$@"
		call GET "/api/v1/sessions/$sid/primary"
		NEWP=$(printf '%s' "$RBODY" | jq -c '[.primary.device_id, .primary.epoch]')
		CHANGED_AT=$(now_ms)
		[ "$NEWP" != "$old" ] && return 0
		sleep 0.1
	done
	return 1
}

TOKEN=$P1
call POST /api/v1/sessions '{"id":"f-renew"}'
call POST /api/v1/sessions '{"id":"f1"}'
case_ "a holder that keeps renewing keeps the role past its TTL"
call POST /api/v1/sessions/f-renew/primary '{"action":"claim"}'
check 200 application/json '.primary.epoch' 1
good=1
for i in 1 2 3 4 5; do
	sleep 0.5
	call POST /api/v1/sessions/f-renew/primary '{"action":"renew"}'
	[ "$STATUS" = 200 ] && [ "$(jqr .primary.epoch)" = 1 ] || good=0
done
call GET /api/v1/sessions/f-renew/primary
[ "$good" = 1 ] && [ "$(jqr .primary.device_id)" = p1 ] && ok "$CASE" || fail "$CASE" "lost it: $RBODY"

TOKEN=$P1
call POST /api/v1/sessions/f1/primary '{"action":"claim"}'
check 200 application/json '.primary.epoch' 1
lapse=$(jqr .primary.lease_expires_at)
TOKEN=$P2
call POST /api/v1/sessions/f1/messages '{"client_msg_id":"m1","body":"p2 took part"}'
check 201 application/json
sleep 0.05
TOKEN=$P3
call POST /api/v1/sessions/f1/messages '{"client_msg_id":"m1","body":"p3 took part last"}'
check 201 application/json
c1=$(cursor)
case_ "the holder stops renewing: the role fails over to the online device that took part last"
TOKEN=$P2
if wait_change f1 '["p1",1]' P2 P3; then
	[ "$NEWP" = '["p3",2]' ] && ok "$CASE" || fail "$CASE" "now $NEWP"
else
	fail "$CASE" "no failover"
fi
case_ "the failover happened within 5 s of the lapse (and not before it)"
d=$((CHANGED_AT - lapse))
echo "  failover seen $d ms after the lease lapsed"
[ "$d" -ge 0 ] && [ "$d" -le 5000 ] && ok "$CASE" || fail "$CASE" "$d ms"
case_ "primary.changed names the new holder and no causing device"
TOKEN=$P3
events_after "$c1"
check 200 - '[.[]|select(.type=="primary.changed" and .data.session_id=="f1")|[.device_id, .data]]' '[[null,{"session_id":"f1","device_id":"p3","epoch":2}]]'
case_ "the lapsed holder's auto message is 409 NOT_PRIMARY"
TOKEN=$P1
call POST /api/v1/sessions/f1/messages '{"client_msg_id":"late-auto","body":"auto","auto":true}'
check 409 application/problem+json '.code' '"NOT_PRIMARY"' '.primary.device_id' '"p3"'
case_ "the lapsed holder's renew is 409 NOT_HOLDER"
call POST /api/v1/sessions/f1/primary '{"action":"renew"}'
check 409 application/problem+json '.code' '"NOT_HOLDER"'
case_ "the new holder's auto message is 201"
TOKEN=$P3
call POST /api/v1/sessions/f1/messages '{"client_msg_id":"auto","body":"auto from p3","auto":true}'
check 201 application/json

# f2: p2 and p3 took part (p3 last), but p3 goes offline before the lapse.
# f3: only p3 took part: nobody online is left to take it.
TOKEN=$P1
call POST /api/v1/sessions '{"id":"f2"}'
call POST /api/v1/sessions '{"id":"f3"}'
TOKEN=$P2
call POST /api/v1/sessions/f2/messages '{"client_msg_id":"m1","body":"p2 in f2"}'
sleep 0.05
TOKEN=$P3
call POST /api/v1/sessions/f2/messages '{"client_msg_id":"m1","body":"p3 in f2"}'
call POST /api/v1/sessions/f3/messages '{"client_msg_id":"m1","body":"p3 in f3"}'
# p3 falls silent: wait out the presence TTL while p1 and p2 stay online
for i in $(seq 1 $((PRESENCE / 500 + 1))); do hb P1 P2; sleep 0.5; done
TOKEN=$P1
call GET /api/v1/devices
case_ "p3 is offline now"
check 200 application/json '[.devices[]|select(.id=="p3")][0].online' false
TOKEN=$P1
call POST /api/v1/sessions/f2/primary '{"action":"claim"}'
check 200 application/json '.primary.epoch' 1
call POST /api/v1/sessions/f3/primary '{"action":"claim"}'
check 200 application/json '.primary.epoch' 1
lapse=$(jqr .primary.lease_expires_at)
c2=$(cursor)
case_ "an offline participant is passed over for an online one"
TOKEN=$P2
if wait_change f2 '["p1",1]' P1 P2; then
	[ "$NEWP" = '["p2",2]' ] && ok "$CASE" || fail "$CASE" "now $NEWP"
else
	fail "$CASE" "no failover"
fi
case_ "with no online participant but the lapsed holder, the role is left empty"
if wait_change f3 '["p1",1]' P1 P2; then
	[ "$NEWP" = '[null,null]' ] && ok "$CASE" || fail "$CASE" "now $NEWP"
else
	fail "$CASE" "no failover"
fi
d=$((CHANGED_AT - lapse))
[ "$d" -le 5000 ] && ok "emptied within 5 s of the lapse" || fail "emptied within 5 s of the lapse" "$d ms"
case_ "the emptied role's event has device_id null and keeps the epoch"
events_after "$c2"
check 200 - '[.[]|select(.type=="primary.changed" and .data.session_id=="f3")|[.device_id, .data.device_id, .data.epoch]]' \
    '[[null,null,1]]'
case_ "the next claim after an empty failover gets the next epoch"
TOKEN=$P2
call POST /api/v1/sessions/f3/primary '{"action":"claim"}'
check 200 application/json '.primary.device_id' '"p2"' '.primary.epoch' 2
case_ "a lapsed lease can be claimed by another device at once"
TOKEN=$P1
call POST /api/v1/sessions '{"id":"f4"}'
call POST /api/v1/sessions/f4/primary '{"action":"claim"}'
check 200 application/json '.primary.epoch' 1
TOKEN=$P2
call POST /api/v1/sessions/f4/primary '{"action":"claim"}'
check 409 application/problem+json '.code' '"PRIMARY_HELD"'
sleep "$(awk "BEGIN{print ($TTL + 100) / 1000}")"
call POST /api/v1/sessions/f4/primary '{"action":"claim"}'
check 200 application/json '.primary.device_id' '"p2"'
case_ "two holders never coexist: every holder change took a new epoch"
events_after 0
check 200 - '[.[]|select(.type=="primary.changed" and .data.session_id=="f4" and .data.device_id != null)|.data.epoch]|(. == (unique))' true

finish
