#!/usr/bin/env bash
# Links (API.md "Linking a device without its password", 1.1): a new
# device starts a link and shows its code, a signed-in device approves
# (or denies) the code, and the new device takes its tokens once, from a
# token call that waits for the decision and is woken by it within
# milliseconds (on PostgreSQL, by an approval served by the other host).
# Then: Crockford's reading of a code, the wrong-code limit, the device
# limit at approval and at the hand-out, expiry, and bad input of every
# kind (4xx problem documents, nothing written).
# test: solo (it loads the machine or measures time: run.sh runs it alone)
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_RATE_PER_S=0 TANDEM_MAX_DEVICES=3 TANDEM_WORKERS=2

PW=password-links-1
register link-alice@example.com "$PW"
register link-bob@example.com "$PW"
login A link-alice@example.com "$PW" alice-phone
login B link-bob@example.com "$PW" bob-phone

# The token routes take no token, and nginx balances calls without an
# Authorization header round-robin over the hosts (the upstream hashes
# an empty key so): the token calls here send one that tandemd ignores
# there, so that with two hosts they, and /metrics read alongside, stick
# to one host.
PIN="Authorization: Bearer link-test-pin"
CODE_RE='^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$'

# start_link VAR DEVICE_ID: POST /auth/link; sets ${VAR}_ID, _CODE, _SECRET.
start_link() {
	TOKEN=""
	call POST /api/v1/auth/link "{\"device\":{\"id\":\"$2\",\"platform\":\"cli\",\"name\":\"Terminal $2\"}}"
	printf -v "${1}_ID" '%s' "$(jqr .link.id)"
	printf -v "${1}_CODE" '%s' "$(jqr .link.code)"
	printf -v "${1}_SECRET" '%s' "$(jqr .link.secret)"
}
# token LINK [TIMEOUT] [SECRET]: POST /auth/link/{id}/token.
token() {
	local id=${1}_ID sec=${1}_SECRET
	TOKEN=""
	call POST "/api/v1/auth/link/${!id}/token" "{\"secret\":\"${3:-${!sec}}\",\"timeout\":${2:-0}}" -H "$PIN"
}
# token_bg NAME LINK TIMEOUT: the token call in the background;
# token_done NAME sets TSTATUS, TBODY, TEND (ms clock at the answer).
token_bg() {
	local id=${2}_ID sec=${2}_SECRET name=$1
	(
		code=$(curl -sk -o "$STACK_DIR/$name.body" -w '%{http_code}' \
		    --max-time 70 -H 'Content-Type: application/json' -H "$PIN" \
		    --data-binary "{\"secret\":\"${!sec}\",\"timeout\":$3}" \
		    "$BASE/api/v1/auth/link/${!id}/token")
		echo "$code $(ms_now)" > "$STACK_DIR/$name.st"
	) &
	printf -v "PID_$name" '%s' "$!"
}
token_done() {
	local pid_var="PID_$1"
	wait "${!pid_var}" 2>/dev/null
	read -r TSTATUS TEND < "$STACK_DIR/$1.st"
	TBODY=$(cat "$STACK_DIR/$1.body")
}
tjq() { printf '%s' "$TBODY" | jq -c "$1" 2>&1; }
# The waiting count of the token calls' host (lib.sh's waiting_now, pinned).
pinned_waiting() {
	curl -sk --max-time 5 -H "$PIN" "$BASE/metrics" | awk '/^tandem_longpoll_waiting/ {print int($2)}'
}
# Wait until it satisfies [ count OP N ].
pinned_until() { # OP N
	local i c
	for i in $(seq 1 100); do
		c=$(pinned_waiting)
		[ -n "$c" ] && [ "$c" "$1" "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
waiting_at_least() { pinned_until -ge "$1"; }
approve() { # TOKEN-var CODE
	TOKEN=${!1}
	call POST /api/v1/links/approve "{\"code\":\"$2\"}"
}
links_count() { db_sql "SELECT count(*) FROM links"; }
misses_count() { db_sql "SELECT count(*) FROM link_misses"; }

# --- the happy path ---------------------------------------------------------------
case_ "/info tells link_ttl_s (default 300)"
TOKEN=""
call GET /api/v1/info
check 200 application/json .link_ttl_s 300

case_ "POST /auth/link: 201 pending, a code XXXX-XXXX, a secret, expires_at in 300 s"
t0=$(ms_now)
start_link T term-1
check 201 application/json .link.status '"pending"' '.link | keys' '["code","expires_at","id","secret","status"]'
case_ "the code is 8 Crockford symbols written XXXX-XXXX"
[[ $T_CODE =~ $CODE_RE ]] && ok "$CASE ($T_CODE)" || fail "$CASE" "code $T_CODE"
case_ "the secret is >= 32 bytes of base64url"
[[ $T_SECRET =~ ^[A-Za-z0-9_-]{43,}$ ]] && ok "$CASE" || fail "$CASE" "secret $T_SECRET"
case_ "expires_at is now + 300 s"
exp=$(jqr .link.expires_at)
d=$((exp - t0 - 300000))
[ "$d" -ge -2000 ] && [ "$d" -le 2000 ] && ok "$CASE" || fail "$CASE" "expires_at $exp, now $t0"
case_ "the link is stored with the secret's hash only"
[ "$(db_sql "SELECT count(*) FROM links WHERE id = '$T_ID'")" = 1 ] &&
    ! grep -qF -- "$T_SECRET" <<<"$(db_sql "SELECT * FROM links")" && ok "$CASE" || fail "$CASE" "$(db_sql "SELECT * FROM links")"

case_ "a token call with timeout 0 on a pending link: 202 pending"
token T 0
check 202 application/json '.link | [.id, .status]' "[\"$T_ID\",\"pending\"]" .link.expires_at "$exp"

case_ "a waiting token call, woken by the approval within milliseconds"
token_bg tw T 20
waiting_at_least 1 || fail "$CASE" "the token call never waited"
sleep 0.2
ta=$(ms_now)
# the code as a person types it: lower case, no dash, O for 0, I for 1
typed=$(tr 'A-Z01' 'a-zOI' <<<"${T_CODE/-/}")
approve A "$typed"
tb=$(ms_now)
check 200 application/json '.link | [.id, .status, .device.id, .device.platform, .device.name, (keys | length), (.device | keys | length)]' "[\"$T_ID\",\"approved\",\"term-1\",\"cli\",\"Terminal term-1\",3,3]"
token_done tw
lat=$((TEND - ta))
echo "  link wake: the token call answered ${lat} ms after the approval was sent, $((TEND - tb)) ms after its answer came ($TANDEM_TEST_ENGINE)"
case_ "the waiting call got login's answer for the new device"
[ "$TSTATUS" = 200 ] && [ "$(tjq '[.token_type, .device.id, .user.email, (.access_token|length > 20), (.refresh_token|length > 20)]')" = '["Bearer","term-1","link-alice@example.com",true,true]' ] &&
    ok "$CASE" || fail "$CASE" "status $TSTATUS: ${TBODY:0:300}"
case_ "woken within 250 ms of the approval (${lat} ms)"
[ "$lat" -le 250 ] && ok "$CASE" || fail "$CASE" "${lat} ms"
T_ACCESS=$(tjq .access_token | tr -d '"')
T_REFRESH=$(tjq .refresh_token | tr -d '"')

case_ "the tokens are handed out once: a second token call is 410 LINK_EXPIRED"
token T 0
check 410 application/problem+json .code '"LINK_EXPIRED"'
case_ "... and again, waiting or not"
token T 2
check 410 application/problem+json .code '"LINK_EXPIRED"'
case_ "the decided code is no longer approvable: 404 LINK_NOT_FOUND"
approve A "$T_CODE"
check 404 application/problem+json .code '"LINK_NOT_FOUND"'

case_ "the linked device syncs without a password: push"
TOKEN=$T_ACCESS
call POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"from-term","base_version":0,"data":{"hello":"from the terminal"}}]}'
check 200 application/json '.results[0].status' '"applied"'
case_ "... and pull, by the other device of the user"
TOKEN=$A
call GET "/api/v1/sync/pull?since=0"
check 200 application/json '[.changes[] | select(.id == "from-term") | .data.hello, .device_id]' '["from the terminal","term-1"]'
case_ "... and the terminal pulls it back"
TOKEN=$T_ACCESS
call GET "/api/v1/sync/pull?since=0"
check 200 application/json '[.changes[] | select(.id == "from-term") | .data.hello]' '["from the terminal"]'
case_ "the new device is in the user's devices, current for its own token"
call GET /api/v1/devices
check 200 application/json '[.devices[] | select(.id == "term-1") | .current]' '[true]'
case_ "device.registered was emitted for it"
call GET "/api/v1/events?after=0&limit=1000"
check 200 application/json '[.events[] | select(.type == "device.registered" and .data.device_id == "term-1") | .data.platform]' '["cli"]'
case_ "its refresh token works"
TOKEN=""
call POST /api/v1/auth/refresh "{\"refresh_token\":\"$T_REFRESH\"}"
check 200 application/json .device.id '"term-1"'
case_ "bob never sees the terminal"
TOKEN=$B
call GET /api/v1/devices
check 200 application/json '[.devices[].id]' '["bob-phone"]'

# --- deny -----------------------------------------------------------------------
case_ "deny: 200 denied, and the waiting token call wakes with 403 LINK_DENIED"
start_link D term-deny
token_bg td D 20
waiting_at_least 1 || fail "$CASE" "the token call never waited"
TOKEN=$B
call POST /api/v1/links/deny "{\"code\":\"$D_CODE\"}"
check 200 application/json '.link | [.id, .status, (keys | length)]' "[\"$D_ID\",\"denied\",2]"
token_done td
case_ "the waiting call: 403 LINK_DENIED"
[ "$TSTATUS" = 403 ] && [ "$(tjq .code)" = '"LINK_DENIED"' ] && ok "$CASE" || fail "$CASE" "$TSTATUS ${TBODY:0:200}"
case_ "a denied link stays denied"
token D 0
check 403 application/problem+json .code '"LINK_DENIED"'
case_ "a denied code cannot be approved"
approve B "$D_CODE"
check 404 application/problem+json .code '"LINK_NOT_FOUND"'
case_ "no device was made for the denied link"
[ "$(db_sql "SELECT count(*) FROM devices WHERE id = 'term-deny'")" = 0 ] && ok "$CASE" || fail "$CASE" "a device"

# --- waits: a client that leaves, the cap per link ---------------------------------
waiting_is() { pinned_until = "$1"; }
start_link G term-gone
case_ "a waiting token call whose client goes away frees its wait at once"
waiting_is 0 || fail "$CASE" "polls left waiting before"
curl -sk -o /dev/null --max-time 70 -H 'Content-Type: application/json' -H "$PIN" \
    --data-binary "{\"secret\":\"$G_SECRET\",\"timeout\":30}" \
    "$BASE/api/v1/auth/link/$G_ID/token" &
gone_pid=$!
waiting_at_least 1 || fail "$CASE" "the token call never waited"
kill "$gone_pid" 2>/dev/null
wait "$gone_pid" 2>/dev/null
waiting_is 0 && ok "$CASE" || fail "$CASE" "still waiting"
case_ "the link is still pending for its own secret after that"
token G 0
check 202 application/json .link.status '"pending"'
case_ "a link holds at most TANDEM_MAX_WAITS_PER_DEVICE (8) waiting token calls (on a host): the 9th is 429"
for i in 1 2 3 4 5 6 7 8; do token_bg "tc$i" G 30; done
waiting_at_least 8 || fail "$CASE" "not 8 waiting"
token G 5
check 429 application/problem+json .code '"RATE_LIMITED"'
[ -n "$(header Retry-After)" ] && ok "Retry-After $(header Retry-After)" || fail "Retry-After" "none"
case_ "an approval wakes all 8, one gets the tokens, the other 7 410 LINK_EXPIRED"
approve A "$G_CODE"
n200=0 n410=0
for i in 1 2 3 4 5 6 7 8; do
	token_done "tc$i"
	case $TSTATUS in 200) n200=$((n200 + 1));; 410) n410=$((n410 + 1));; esac
done
[ "$n200" = 1 ] && [ "$n410" = 7 ] && ok "$CASE" || fail "$CASE" "$n200 got 200, $n410 got 410"
case_ "the tokens were issued once: one device term-gone, one device.registered"
TOKEN=$A
call GET "/api/v1/events?after=0&limit=1000"
check 200 application/json '[.events[] | select(.type == "device.registered" and .data.device_id == "term-gone")] | length' 1
# room again for the device-limit cases below
login G2 link-alice@example.com "$PW" term-gone
TOKEN=$G2
call POST /api/v1/auth/logout

# --- secrets and ids ---------------------------------------------------------------
start_link S term-s
case_ "a wrong secret is 404 LINK_NOT_FOUND"
token S 0 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
check 404 application/problem+json .code '"LINK_NOT_FOUND"'
case_ "an unknown id is 404 LINK_NOT_FOUND"
TOKEN=""
call POST /api/v1/auth/link/l_00000000000000000000000000000000/token "{\"secret\":\"$S_SECRET\",\"timeout\":0}"
check 404 application/problem+json .code '"LINK_NOT_FOUND"'
case_ "an id of another shape is 404 LINK_NOT_FOUND"
call POST '/api/v1/auth/link/bad%20id!/token' "{\"secret\":\"$S_SECRET\",\"timeout\":0}"
check 404 application/problem+json .code '"LINK_NOT_FOUND"'
case_ "another link's secret does not open this one"
token S 0 "$T_SECRET"
check 404 application/problem+json .code '"LINK_NOT_FOUND"'
case_ "a wrong secret learns nothing even of a handed-out link"
token T 0 "$S_SECRET"
check 404 application/problem+json .code '"LINK_NOT_FOUND"'
case_ "the link is still pending for its own secret"
token S 0
check 202 application/json .link.status '"pending"'

# --- bad input: 4xx, nothing written ---------------------------------------------------
L0=$(links_count)
M0=$(misses_count)
TOKEN=""
bad_link() { # BODY FIELD-or-- STATUS
	case_ "POST /auth/link $1: ${3:-400}"
	call POST /api/v1/auth/link "$1"
	if [ "$2" = - ]; then check "${3:-400}" application/problem+json
	else check "${3:-400}" application/problem+json .field "\"$2\""; fi
}
bad_link '' -
bad_link '{"device":' -
bad_link '[1,2]' -
bad_link '"x"' -
bad_link '{}' device
bad_link '{"device":null}' device
bad_link '{"device":"term"}' device
bad_link '{"device":[]}' device
bad_link '{"device":{"platform":"cli","name":"n"}}' device.id
bad_link '{"device":{"id":"bad id","platform":"cli","name":"n"}}' device.id
bad_link '{"device":{"id":7,"platform":"cli","name":"n"}}' device.id
bad_link '{"device":{"id":"t","name":"n"}}' device.platform
bad_link '{"device":{"id":"t","platform":"","name":"n"}}' device.platform
bad_link "{\"device\":{\"id\":\"t\",\"platform\":\"$(printf 'p%.0s' $(seq 65))\",\"name\":\"n\"}}" device.platform
bad_link '{"device":{"id":"t","platform":"cli"}}' device.name
bad_link '{"device":{"id":"t","platform":"cli","name":5}}' device.name
bad_link '{"device":{"id":"t","platform":"cli","name":"n\u0000x"}}' -
case_ "POST /auth/link with a body over 1 MiB: 413"
head -c 1100000 /dev/zero | tr '\0' 'x' > "$STACK_DIR/big"
call POST /api/v1/auth/link "@$STACK_DIR/big"
check 413 application/problem+json .code '"PAYLOAD_TOO_LARGE"'
case_ "GET /auth/link: 405 with Allow"
call GET /api/v1/auth/link
check 405 application/problem+json
[ "$(header Allow)" = POST ] && ok "Allow: POST" || fail "Allow" "$(header Allow)"

bad_token() { # BODY FIELD
	case_ "token call $1: 400 $2"
	TOKEN=""
	call POST "/api/v1/auth/link/$S_ID/token" "$1"
	if [ "$2" = - ]; then check 400 application/problem+json
	else check 400 application/problem+json .code '"VALIDATION_FAILED"' .field "\"$2\""; fi
}
bad_token '' -
bad_token '{"secret":' -
bad_token '[]' -
bad_token '{}' secret
bad_token '{"secret":null}' secret
bad_token '{"secret":12}' secret
bad_token '{"secret":["x"]}' secret
bad_token "{\"secret\":\"$S_SECRET\",\"timeout\":56}" timeout
bad_token "{\"secret\":\"$S_SECRET\",\"timeout\":-1}" timeout
bad_token "{\"secret\":\"$S_SECRET\",\"timeout\":\"5\"}" timeout
bad_token "{\"secret\":\"$S_SECRET\",\"timeout\":1.5}" timeout

bad_code() { # PATH BODY FIELD-or--
	case_ "$1 $2: 400"
	TOKEN=$B
	call POST "$1" "$2"
	if [ "$3" = - ]; then check 400 application/problem+json
	else check 400 application/problem+json .code '"VALIDATION_FAILED"' .field "\"$3\""; fi
}
for p in /api/v1/links/approve /api/v1/links/deny; do
	bad_code $p '' -
	bad_code $p '{"code":' -
	bad_code $p '["x"]' -
	bad_code $p '{}' code
	bad_code $p '{"code":null}' code
	bad_code $p '{"code":12345678}' code
	bad_code $p '{"code":["ABCD-EFGH"]}' code
	case_ "$p without a token: 401 INVALID_TOKEN"
	TOKEN=""
	call POST $p "{\"code\":\"$S_CODE\"}"
	check 401 application/problem+json .code '"INVALID_TOKEN"'
	case_ "$p with a bad token: 401 INVALID_TOKEN"
	TOKEN="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	call POST $p "{\"code\":\"$S_CODE\"}"
	check 401 application/problem+json .code '"INVALID_TOKEN"'
	case_ "$p with a body over 1 MiB: 413"
	TOKEN=$B
	call POST $p "@$STACK_DIR/big"
	check 413 application/problem+json
done
case_ "bad input wrote no link and counted no wrong code"
[ "$(links_count)" = "$L0" ] && [ "$(misses_count)" = "$M0" ] && ok "$CASE" ||
    fail "$CASE" "links $L0 -> $(links_count), misses $M0 -> $(misses_count)"
case_ "the link stayed pending through it all"
token S 0
check 202 application/json .link.status '"pending"'

# --- the wrong-code limit ----------------------------------------------------------
register link-carol@example.com "$PW"
login C link-carol@example.com "$PW" carol-phone
start_link W term-w
wrong=("ZZZZ-ZZZZ" "ABC" "ABCD-EFGU" "ABCD-EFGH-J")
i=0
for w in "${wrong[@]}"; do
	i=$((i + 1))
	case_ "wrong code $i ($w): 404 LINK_NOT_FOUND"
	approve C "$w"
	check 404 application/problem+json .code '"LINK_NOT_FOUND"'
done
case_ "a missing code does not count"
TOKEN=$C
call POST /api/v1/links/deny '{}'
check 400 application/problem+json .field '"code"'
case_ "the 5th wrong code (a deny): 404"
TOKEN=$C
call POST /api/v1/links/deny '{"code":"YYYY-YYYY"}'
check 404 application/problem+json .code '"LINK_NOT_FOUND"'
case_ "after 5 wrong codes within 10 minutes: 429 RATE_LIMITED with Retry-After"
approve C "$W_CODE"
check 429 application/problem+json .code '"RATE_LIMITED"'
ra=$(header Retry-After)
[ -n "$ra" ] && [ "$ra" -ge 590 ] && [ "$ra" -le 600 ] && ok "Retry-After $ra" || fail "Retry-After" "'$ra'"
case_ "... deny too"
TOKEN=$C
call POST /api/v1/links/deny "{\"code\":\"$W_CODE\"}"
check 429 application/problem+json .code '"RATE_LIMITED"'
case_ "the limit left the link pending"
token W 0
check 202 application/json .link.status '"pending"'
case_ "the limit is the user's: another user approves the code"
approve B "$W_CODE"
check 200 application/json .link.status '"approved"'
case_ "the approver's user gets the tokens"
token W 0
check 200 application/json .user.email '"link-bob@example.com"' .device.id '"term-w"'

# --- the device limit (TANDEM_MAX_DEVICES=3) -------------------------------------------
login A2 link-alice@example.com "$PW" alice-laptop
# alice: alice-phone, term-1, alice-laptop: 3 of 3
start_link X term-x
case_ "approval past the device limit: 403 DEVICE_LIMIT_EXCEEDED with max_devices"
approve A "$X_CODE"
check 403 application/problem+json .code '"DEVICE_LIMIT_EXCEEDED"' .max_devices 3
case_ "the link stays pending"
token X 0
check 202 application/json .link.status '"pending"'
case_ "a device limit is not a wrong code"
[ "$(db_sql "SELECT count(*) FROM link_misses m JOIN users u ON u.id = m.user_id WHERE u.email = 'link-alice@example.com'")" = 1 ] &&
    ok "$CASE" || fail "$CASE" "$(db_sql "SELECT * FROM link_misses")"
case_ "once a device is revoked, the approval passes"
TOKEN=$A2
call POST /api/v1/auth/logout
approve A "$X_CODE"
check 200 application/json .link.status '"approved"'
case_ "approved, but the limit filled up since: 403 DEVICE_LIMIT_EXCEEDED"
login A2 link-alice@example.com "$PW" alice-laptop
token X 0
check 403 application/problem+json .code '"DEVICE_LIMIT_EXCEEDED"'
case_ "... nothing written: term-x is no device of alice"
[ "$(db_sql "SELECT count(*) FROM devices WHERE id = 'term-x'")" = 0 ] && ok "$CASE" || fail "$CASE" "a device"
case_ "the link stays approved: with room again, the tokens come"
TOKEN=$A2
call POST /api/v1/auth/logout
token X 0
check 200 application/json .device.id '"term-x"'
case_ "a device of the user already active takes no new place"
start_link R alice-phone
approve A "$R_CODE"
check 200 application/json .link.status '"approved"'
token R 0
check 200 application/json .device.id '"alice-phone"'

# --- cross-host wake (PostgreSQL: the approval through the other host) ----------------
if engine_is pg; then
	# the host of the token calls (PIN), and a device of dave's on the other
	host_of_path() {
		local pid
		pid=$(grep -F "\"path\":\"$1\"" "$STACK_DIR/stack.log" | tail -1 |
		    grep -o '"pid":[0-9]*' | cut -d: -f2)
		[ -n "$pid" ] && awk '{print $4}' "/proc/$pid/stat" 2>/dev/null
	}
	host_of_dev() {
		local pid
		pid=$(grep "\"device\":\"$1\"" "$STACK_DIR/stack.log" | tail -1 |
		    grep -o '"pid":[0-9]*' | cut -d: -f2)
		[ -n "$pid" ] && awk '{print $4}' "/proc/$pid/stat" 2>/dev/null
	}
	start_link H term-h
	token H 0
	TH=$(host_of_path "/api/v1/auth/link/$H_ID/token")
	register link-dave@example.com "$PW"
	other=""
	for i in $(seq 1 20); do
		login t link-dave@example.com "$PW" "dave-$i"
		TOKEN=$t call GET /api/v1/devices
		if [ -n "$TH" ] && [ "$(host_of_dev "dave-$i")" != "$TH" ]; then other=$t; break; fi
		TOKEN=$t call POST /api/v1/auth/logout
	done
	case_ "a device whose calls another host serves than the token call's"
	if [ -n "$other" ]; then
		ok "$CASE"
		OTHER=$other
		token_bg th H 20
		waiting_at_least 1 || fail "$CASE" "the token call never waited"
		sleep 0.2
		ta=$(ms_now)
		approve OTHER "$H_CODE"
		tb=$(ms_now)
		check 200 application/json .link.status '"approved"'
		token_done th
		lat=$((TEND - ta))
		echo "  link wake across hosts: the token call answered ${lat} ms after the approval was sent, $((TEND - tb)) ms after its answer came"
		case_ "the waiting call on one host woken by the approval on the other (${lat} ms)"
		[ "$TSTATUS" = 200 ] && [ "$(tjq .device.id)" = '"term-h"' ] && [ "$lat" -le 250 ] &&
		    ok "$CASE" || fail "$CASE" "status $TSTATUS after ${lat} ms: ${TBODY:0:200}"
	else
		fail "$CASE" "every device landed on the token call's host ($TH)"
	fi
fi

case_ "no answer was a 5xx"
n5=$(grep -c '"status":5[0-9][0-9]' "$STACK_DIR/stack.log")
[ "$n5" = 0 ] && ok "$CASE" || fail "$CASE" "$n5: $(grep '"status":5[0-9][0-9]' "$STACK_DIR/stack.log" | head -3)"
stack_stop

# --- expiry (TANDEM_LINK_TTL_S=1) ------------------------------------------------------
stack_start TANDEM_RATE_PER_S=0 TANDEM_LINK_TTL_S=1 TANDEM_SWEEP_MS=200
register link-erin@example.com "$PW"
login E link-erin@example.com "$PW" erin-phone
case_ "/info tells link_ttl_s as configured"
TOKEN=""
call GET /api/v1/info
check 200 application/json .link_ttl_s 1
start_link Q term-q
case_ "a waiting token call on a link that expires meanwhile: 410 LINK_EXPIRED at its expiry"
t0=$(ms_now)
token Q 10
check 410 application/problem+json .code '"LINK_EXPIRED"'
el=$(( $(ms_now) - t0 ))
[ "$el" -ge 500 ] && [ "$el" -le 3000 ] && ok "answered after ${el} ms" || fail "expiry wait" "${el} ms"
case_ "an expired code: 404 LINK_NOT_FOUND"
approve E "$Q_CODE"
check 404 application/problem+json .code '"LINK_NOT_FOUND"'
case_ "the expired link, asked again: 410 LINK_EXPIRED"
token Q 0
check 410 application/problem+json .code '"LINK_EXPIRED"'
start_link P term-p
case_ "approved in time, its tokens not taken before expiry: 410 LINK_EXPIRED"
approve E "$P_CODE"
check 200 application/json .link.status '"approved"'
sleep 1.2
token P 0
check 410 application/problem+json .code '"LINK_EXPIRED"'
case_ "the sweeper keeps an expired link for late token calls, and prunes old ones"
db_sql "UPDATE links SET expires_at = expires_at - 7200000 WHERE id = '$Q_ID'" >/dev/null
db_sql "INSERT INTO link_misses (user_id, at) VALUES (1, 1000)" >/dev/null
for i in $(seq 1 30); do
	[ "$(db_sql "SELECT count(*) FROM links WHERE id = '$Q_ID'")" = 0 ] &&
	    [ "$(db_sql "SELECT count(*) FROM link_misses WHERE at = 1000")" = 0 ] && break
	sleep 0.1
done
[ "$(db_sql "SELECT count(*) FROM links WHERE id = '$Q_ID'")" = 0 ] &&
    [ "$(db_sql "SELECT count(*) FROM links WHERE id = '$P_ID'")" = 1 ] &&
    [ "$(db_sql "SELECT count(*) FROM link_misses WHERE at = 1000")" = 0 ] &&
    ok "$CASE" || fail "$CASE" "$(db_sql "SELECT id, expires_at FROM links")"
finish
