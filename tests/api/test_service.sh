#!/usr/bin/env bash
# test: solo (it loads the machine or measures time: run.sh runs it alone)
# Service keys (API.md "Service keys"): `tandemd key create|list|revoke`
# (output, exit codes, duplicate names, bad names and scopes, only the
# hash kept), the key check (scopes, a device's token, a key on a device
# route, unknown, malformed and revoked keys, unknown users), GET
# /service/users, a backend's app event waking a device's long poll and
# its event stream (latency printed), push and pull through a key
# (device_id null and service in events, pulls, history and conflicts;
# no device marked), bad input writing nothing, and each key's own rate
# limit.
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_RATE_PER_S=0 TANDEM_SEEN_WRITE_MS=0

PW=password-service-1
register svc-alice@example.com "$PW"
UA=$(jqr .user.id)
register svc-bob@example.com "$PW"
UB=$(jqr .user.id)
login A1 svc-alice@example.com "$PW" a1
login A2 svc-alice@example.com "$PW" a2
login B1 svc-bob@example.com "$PW" b1

# key NAME SCOPE: create a key; sets KOUT (stdout), KERR, KRC.
key() {
	KOUT=$(tandemd_cli key create "$1" --scope "$2" 2>"$STACK_DIR/key.err")
	KRC=$?
	KERR=$(cat "$STACK_DIR/key.err")
}
key_sha() { # the hex SHA-256 the store keeps for key name $1
	if engine_is pg; then
		db_sql "SELECT encode(key_hash, 'hex') FROM service_keys WHERE name = '$1'"
	else
		db_sql "SELECT lower(hex(key_hash)) FROM service_keys WHERE name = '$1'"
	fi
}
nkeys() { db_sql "SELECT count(*) FROM service_keys"; }

# --- tandemd key ------------------------------------------------------------------

case_ "key create prints the key once: tk_ and 43 base64url characters, alone on stdout"
key ev-backend events
KE=$KOUT
if [ "$KRC" = 0 ] && [[ "$KOUT" =~ ^tk_[A-Za-z0-9_-]{43}$ ]]; then ok "$CASE"; else
	fail "$CASE" "rc $KRC, out '$KOUT', err '$KERR'"; fi
case_ "key create says on stderr what it made, without the key"
[[ "$KERR" == *ev-backend* && "$KERR" != *"$KE"* ]] && ok "$CASE" || fail "$CASE" "$KERR"
key rec-backend records
KR=$KOUT
key both-backend records,events
KB=$KOUT
key other-backend events,records
KO=$KOUT
case_ "every create made a different key"
[ "$(printf '%s\n' "$KE" "$KR" "$KB" "$KO" | grep -cE '^tk_[A-Za-z0-9_-]{43}$')" = 4 ] &&
    [ "$(printf '%s\n' "$KE" "$KR" "$KB" "$KO" | sort -u | wc -l)" = 4 ] && ok "$CASE" ||
    fail "$CASE" "$KE $KR $KB $KO"
case_ "only the key's SHA-256 is stored"
want=$(printf '%s' "$KE" | sha256sum | cut -d' ' -f1)
[ "$(key_sha ev-backend)" = "$want" ] && ok "$CASE" || fail "$CASE" "$(key_sha ev-backend) != $want"
case_ "the key itself is nowhere in the database"
if engine_is pg; then
	dump=$(db_sql "SELECT name || scopes || encode(key_hash, 'escape') FROM service_keys")
	[[ "$dump" != *"${KE:3}"* ]] && ok "$CASE" || fail "$CASE" "found in service_keys"
else
	found=0
	for f in "$STACK_DIR"/data/tandem.db*; do grep -qF "${KE:3}" "$f" && found=1; done
	[ $found = 0 ] && ok "$CASE" || fail "$CASE" "the key's text is in the database files"
fi

case_ "key list: a line each, name, scopes (in one written form), created, last used"
out=$(tandemd_cli key list)
rc=$?
want=$'both-backend\tevents,records\nev-backend\tevents\nother-backend\tevents,records\nrec-backend\trecords'
got=$(cut -f1,2 <<<"$out")
if [ $rc = 0 ] && [ "$got" = "$want" ] &&
    [ "$(cut -f3,4 <<<"$out" | grep -cE $'^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z\tnever$')" = 4 ]; then
	ok "$CASE"
else
	fail "$CASE" "rc $rc: $out"
fi

case_ "creating a name that exists exits non-zero and changes nothing"
before=$(key_sha ev-backend)
key ev-backend records
[ "$KRC" != 0 ] && [ -z "$KOUT" ] && [[ "$KERR" == *exists* ]] && [ "$(key_sha ev-backend)" = "$before" ] &&
    [ "$(nkeys)" = 4 ] && ok "$CASE" || fail "$CASE" "rc $KRC out '$KOUT' err '$KERR'"

long65=$(printf 'a%.0s' $(seq 65))
long64=$(printf 'b%.0s' $(seq 64))
for bad in "" "Upper" "a b" "a/b" "a.b" "na$(printf '\xc3\xaf')ve" "$long65" "-" ; do
	[ "$bad" = "-" ] && bad="x'y"
	case_ "key create '$bad' (a bad name) exits non-zero, nothing made"
	key "$bad" events
	[ "$KRC" != 0 ] && [ -z "$KOUT" ] && [ -n "$KERR" ] && [ "$(nkeys)" = 4 ] && ok "$CASE" ||
	    fail "$CASE" "rc $KRC out '$KOUT'"
done
case_ "a name of 64 bytes of [a-z0-9_-] is good"
key "$long64" events
[ "$KRC" = 0 ] && [ -n "$KOUT" ] && ok "$CASE" || fail "$CASE" "rc $KRC $KERR"
key "a_0-z" records
[ "$KRC" = 0 ] && ok "$CASE" || fail "$CASE" "rc $KRC $KERR"
N=$(nkeys)
for bad in "" "event" "EVENTS" "events," ",events" "events,,records" "events,events" \
    "admin" "events records" "records;events" "*"; do
	case_ "key create --scope '$bad' exits non-zero, nothing made"
	key "scope-test" "$bad"
	[ "$KRC" != 0 ] && [ -z "$KOUT" ] && [ "$(nkeys)" = "$N" ] && ok "$CASE" || fail "$CASE" "rc $KRC out '$KOUT'"
done
case_ "key create without --scope exits non-zero"
out=$(tandemd_cli key create scope-test 2>&1)
[ $? != 0 ] && [ "$(nkeys)" = "$N" ] && ok "$CASE" || fail "$CASE" "$out"
case_ "key create --scope=LIST before the name is good too"
out=$(tandemd_cli key create --scope=records order-test 2>/dev/null)
[ $? = 0 ] && [[ "$out" =~ ^tk_ ]] && ok "$CASE" || fail "$CASE" "$out"
case_ "key with no or an unknown subcommand exits non-zero"
tandemd_cli key >/dev/null 2>&1 && fail "$CASE" "key alone exited 0" || ok "$CASE"
tandemd_cli key rotate ev-backend >/dev/null 2>&1 && fail "$CASE" "rotate exited 0" || ok "$CASE"
case_ "revoking an unknown name exits non-zero"
out=$(tandemd_cli key revoke no-such-key 2>&1)
[ $? != 0 ] && [[ "$out" == *no-such-key* ]] && ok "$CASE" || fail "$CASE" "$out"
case_ "revoking a bad name exits non-zero"
tandemd_cli key revoke "Bad Name" >/dev/null 2>&1 && fail "$CASE" "exited 0" || ok "$CASE"
case_ "revoking a key deletes it"
out=$(tandemd_cli key revoke order-test)
[ $? = 0 ] && [ "$(db_sql "SELECT count(*) FROM service_keys WHERE name = 'order-test'")" = 0 ] &&
    ok "$CASE" || fail "$CASE" "$out"

# --- GET /service/users -------------------------------------------------------------

TOKEN=$KE
case_ "GET /service/users?email= finds the user: {user:{id, email, created_at}}"
call GET "/api/v1/service/users?email=svc-alice@example.com"
check 200 application/json '.user|keys' '["created_at","email","id"]' '.user.id' "\"$UA\"" \
    '.user.email' '"svc-alice@example.com"'
case_ "the email is compared normalised (case, fullwidth forms)"
call GET /api/v1/service/users "" -G --data-urlencode "email=SVC-Alice@EXAMPLE.com"
check 200 application/json '.user.id' "\"$UA\""
call GET /api/v1/service/users "" -G --data-urlencode "email=svc-bob@ｅｘａｍｐｌｅ.com"
check 200 application/json '.user.id' "\"$UB\""
case_ "a key of any scope may look users up"
TOKEN=$KR
call GET "/api/v1/service/users?email=svc-bob@example.com"
check 200 application/json '.user.id' "\"$UB\""
case_ "an unknown email is 404 NOT_FOUND"
call GET "/api/v1/service/users?email=nobody@example.com"
check 404 application/problem+json '.code' '"NOT_FOUND"'
longmail="$(printf 'x%.0s' $(seq 2000))@example.com"
for q in "" "email=" "email=not-an-email" "email=a%E2%80%8Bb@example.com" \
    "email=%FF@example.com" "email=$longmail" "mail=svc-alice@example.com"; do
	case_ "GET /service/users?${q:0:40} is 400 naming email"
	call GET "/api/v1/service/users?$q"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"email"'
done
case_ "a NUL in the query is 400 naming the query"
call GET "/api/v1/service/users?email=a%00b@example.com"
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"query"' 

# --- the key check ----------------------------------------------------------------------

case_ "no token on a service route is 401 INVALID_TOKEN with WWW-Authenticate"
TOKEN=""
call GET "/api/v1/service/users?email=svc-alice@example.com"
check 401 application/problem+json '.code' '"INVALID_TOKEN"'
[[ "$(header WWW-Authenticate)" == Bearer* ]] && ok "$CASE" || fail "$CASE" "no challenge"
for path in "GET /api/v1/service/users?email=svc-alice@example.com" \
    "POST /api/v1/service/users/$UA/events" "POST /api/v1/service/users/$UA/sync/push" \
    "GET /api/v1/service/users/$UA/sync/pull"; do
	case_ "a device's token on ${path%%\?*} is 401 INVALID_TOKEN"
	TOKEN=$A1
	body=""
	[[ $path == POST* ]] && body='{"type":"app.x","data":1,"changes":[]}'
	call ${path%% *} "${path#* }" "$body"
	check 401 application/problem+json '.code' '"INVALID_TOKEN"'
	[[ "$(header WWW-Authenticate)" == Bearer* ]] && ok "$CASE: challenge" || fail "$CASE" "no challenge"
done
for path in /api/v1/sync/pull /api/v1/events /api/v1/devices /api/v1/sessions /api/v1/export; do
	case_ "a key on the device route $path is 401 INVALID_TOKEN"
	TOKEN=$KB
	call GET "$path"
	check 401 application/problem+json '.code' '"INVALID_TOKEN"'
done
case_ "a key cannot publish as a device (POST /api/v1/events)"
call POST /api/v1/events '{"type":"app.x","data":1}'
check 401 application/problem+json '.code' '"INVALID_TOKEN"'
case_ "a key on POST /api/v1/sync/push is 401 and writes nothing"
call POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"via-device-route","base_version":0,"data":{"a":1}}]}'
check 401 application/problem+json '.code' '"INVALID_TOKEN"'
unknown="tk_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | head -c 43)"
for bad in "$unknown" "tk_" "tk_short" "${KE}x" "${KE:0:45}" "${KE:0:45}!" "TK_${KE:3}" \
    "${KE:3}" "tk_${KE:4}=" "tk_$(printf '\xc3\xa9')${KE:5}" "${KE} x" "tk_$(head -c 6000 /dev/zero | tr '\0' 'A')"; do
	case_ "the key '${bad:0:12}…' (unknown or malformed) is 401 INVALID_TOKEN"
	TOKEN=$bad
	call GET "/api/v1/service/users?email=svc-alice@example.com"
	check 401 application/problem+json '.code' '"INVALID_TOKEN"'
done
case_ "the scheme is case-insensitive (bearer), as for tokens"
TOKEN=""
call GET "/api/v1/service/users?email=svc-alice@example.com" "" -H "Authorization: bearer $KE"
check 200 application/json '.user.id' "\"$UA\""
case_ "Basic auth is not a key"
call GET "/api/v1/service/users?email=svc-alice@example.com" "" -H "Authorization: Basic $KE"
check 401 application/problem+json '.code' '"INVALID_TOKEN"'

case_ "an events key on sync push is 403 SCOPE_MISSING with scope records"
TOKEN=$KE
call POST "/api/v1/service/users/$UA/sync/push" '{"changes":[{"collection":"notes","id":"x","base_version":0,"data":{"a":1}}]}'
check 403 application/problem+json '.code' '"SCOPE_MISSING"' '.scope' '"records"'
case_ "an events key on sync pull is 403 SCOPE_MISSING with scope records"
call GET "/api/v1/service/users/$UA/sync/pull?since=0"
check 403 application/problem+json '.code' '"SCOPE_MISSING"' '.scope' '"records"'
case_ "a records key on events is 403 SCOPE_MISSING with scope events"
TOKEN=$KR
call POST "/api/v1/service/users/$UA/events" '{"type":"app.x","data":1}'
check 403 application/problem+json '.code' '"SCOPE_MISSING"' '.scope' '"events"'
case_ "the refused requests wrote nothing"
TOKEN=$A1
call GET "/api/v1/sync/pull?since=0"
check 200 application/json '.changes' '[]'
call GET "/api/v1/events?after=0&timeout=0&limit=1000"
check 200 application/json '[.events[].type | select(startswith("app."))]' '[]'
EV0=$(jqr .cursor)

for path in "POST /api/v1/service/users/u_000000000000000000000000/events" \
    "POST /api/v1/service/users/nobody/sync/push" "GET /api/v1/service/users/u_0/sync/pull" \
    "GET /api/v1/service/users/a%20b/sync/pull" "POST /api/v1/service/users/$(printf 'u%.0s' $(seq 300))/events"; do
	case_ "an unknown uid is 404 NOT_FOUND (${path:0:60})"
	TOKEN=$KB
	body=""
	[[ $path == POST* ]] && body='{"type":"app.x","data":1,"changes":[]}'
	call ${path%% *} "${path#* }" "$body"
	check 404 application/problem+json '.code' '"NOT_FOUND"'
done
case_ "the wrong method on a service route is 405 with Allow"
call GET "/api/v1/service/users/$UA/events"
check 405 application/problem+json '.code' '"METHOD_NOT_ALLOWED"'
[ "$(header Allow)" = POST ] && ok "$CASE: Allow" || fail "$CASE" "Allow: $(header Allow)"
case_ "an unknown service path is 404"
call GET "/api/v1/service/keys"
check 404 application/problem+json '.code' '"NOT_FOUND"'

# --- events -------------------------------------------------------------------------

case_ "POST /service/users/{uid}/events: 201 {event} with device_id null and service"
TOKEN=$KE
call POST "/api/v1/service/users/$UA/events" '{"type":"app.credits","data":{"credits":42},"session_id":"chat-1"}'
check 201 application/json '.event|keys' '["at","data","device_id","seq","service","type"]' \
    '.event.device_id' 'null' '.event.service' '"ev-backend"' '.event.type' '"app.credits"' \
    '.event.data' '{"credits":42}' ".event.seq > $EV0" 'true'
case_ "every device of the user sees it, with service, also with exclude_self"
for t in A1 A2; do
	TOKEN=${!t}
	call GET "/api/v1/events?after=$EV0&timeout=0&exclude_self=1"
	check 200 application/json '[.events[] | select(.type | startswith("app.")) | {type, device_id, service, data}]' \
	    '[{"type":"app.credits","device_id":null,"service":"ev-backend","data":{"credits":42}}]'
done
case_ "the session filter keeps it (its session_id)"
call GET "/api/v1/events?after=$EV0&timeout=0&session_id=chat-1"
check 200 application/json '[.events[].type]' '["app.credits"]'
case_ "another user does not see it"
TOKEN=$B1
call GET "/api/v1/events?after=0&timeout=0&limit=1000"
check 200 application/json '[.events[] | select(.type | startswith("app."))]' '[]'
case_ "a device's own events carry no service member"
TOKEN=$A1
call POST /api/v1/events '{"type":"app.mine","data":1}'
check 201 application/json '.event|has("service")' 'false' '.event.device_id' '"a1"'
case_ "a key of both scopes publishes too"
TOKEN=$KB
call POST "/api/v1/service/users/$UB/events" '{"type":"app.hello","data":null}'
check 201 application/json '.event.service' '"both-backend"' '.event.data' 'null'

case_ "a device's waiting long poll wakes on a backend's event"
TOKEN=$A2
call GET /api/v1/events
C=$(jqr .cursor)
(curl -sk --max-time 30 -o "$STACK_DIR/wait.body" -w '%{http_code}' -H "Authorization: Bearer $A2" \
    "$BASE/api/v1/events?after=$C&timeout=20" > "$STACK_DIR/wait.st"; ms_now > "$STACK_DIR/wait.end") &
wpid=$!
sleep 0.5
t0=$(ms_now)
TOKEN=$KE
call POST "/api/v1/service/users/$UA/events" '{"type":"app.progress","data":{"pct":50}}'
wait $wpid
lag=$(( $(cat "$STACK_DIR/wait.end") - t0 ))
wbody=$(cat "$STACK_DIR/wait.body")
if [ "$(cat "$STACK_DIR/wait.st")" = 200 ] &&
    [ "$(jq -c '[.events[] | select(.type | startswith("app.")) | {type, device_id, service}]' <<<"$wbody")" = '[{"type":"app.progress","device_id":null,"service":"ev-backend"}]' ] &&
    [ "$lag" -lt 1500 ]; then
	ok "$CASE"
else
	fail "$CASE" "$(cat "$STACK_DIR/wait.st") after $lag ms: ${wbody:0:300}"
fi

case_ "a backend's event wakes a waiting long poll within milliseconds (20 rounds)"
out=$(python3 "$API_DIR/svc_wake.py" poll "$BASE" "$A1" "$KE" "$UA" 20 2>&1)
if [ $? = 0 ] && [ "$(jq -r '[.events[] | select(.device_id == null and .service == "ev-backend")] | length' <<<"$out")" = 20 ] &&
    jq -e '.p50_ms < 100 and .max_ms < 1500' <<<"$out" >/dev/null; then
	ok "$CASE"
	echo "  note $TEST_NAME${TANDEM_TEST_ENGINE:+ ($TANDEM_TEST_ENGINE)}: key publish -> waiting long poll answered: p50 $(jq .p50_ms <<<"$out") ms, max $(jq .max_ms <<<"$out") ms (20 rounds)"
else
	fail "$CASE" "${out:0:400}"
fi
case_ "a backend's events reach an open event stream, each once, with service (20 events)"
out=$(python3 "$API_DIR/svc_wake.py" stream "$BASE" "$A2" "$KE" "$UA" 20 2>&1)
if [ $? = 0 ] && [ "$(jq -c '[.events[] | select(.type == "app.progress") | .data.i]' <<<"$out")" = "$(seq 0 19 | jq -sc .)" ] &&
    [ "$(jq -r '[.events[] | select(.device_id != null or .service != "ev-backend")] | length' <<<"$out")" = 0 ] &&
    jq -e '.p50_ms < 100 and .max_ms < 1500' <<<"$out" >/dev/null; then
	ok "$CASE"
	echo "  note $TEST_NAME${TANDEM_TEST_ENGINE:+ ($TANDEM_TEST_ENGINE)}: key publish -> event stream block: p50 $(jq .p50_ms <<<"$out") ms, max $(jq .max_ms <<<"$out") ms (20 events)"
else
	fail "$CASE" "${out:0:400}"
fi

# The tandemd master (host) that served the last request logged with $1
# ("device":"ID" or "service":"NAME").
host_of() {
	local pid
	pid=$(grep "$1" "$STACK_DIR/stack.log" | tail -1 | grep -o '"pid":[0-9]*' | cut -d: -f2)
	[ -n "$pid" ] && awk '{print $4}' "/proc/$pid/stat" 2>/dev/null
}
if engine_is pg && [ "$(stack_masters | wc -l)" -ge 2 ]; then
	# The upstream hashes the Authorization header: log devices in until
	# one's token sticks to the other host than the key's.
	TOKEN=$KE
	call GET "/api/v1/service/users?email=svc-alice@example.com"
	khost=$(host_of '"service":"ev-backend"')
	XT=""
	# (one device logging in again: each login is a new token)
	for i in $(seq 1 20); do
		login t svc-alice@example.com "$PW" xh
		TOKEN=$t call GET /api/v1/devices
		if [ -n "$khost" ] && [ "$(host_of '"device":"xh"')" != "$khost" ]; then
			XT=$t
			break
		fi
	done
	case_ "across two hosts: a backend's event on one wakes a long poll waiting on the other (20 rounds)"
	if [ -z "$XT" ]; then
		fail "$CASE" "no device's token landed on the other host (key on $khost)"
	else
		out=$(python3 "$API_DIR/svc_wake.py" poll "$BASE" "$XT" "$KE" "$UA" 20 2>&1)
		if [ $? = 0 ] && [ "$(jq -r '[.events[] | select(.device_id == null and .service == "ev-backend")] | length' <<<"$out")" = 20 ] &&
		    jq -e '.p50_ms < 100 and .max_ms < 1500' <<<"$out" >/dev/null; then
			ok "$CASE"
			echo "  note $TEST_NAME (pg, two hosts): key publish on one host -> long poll on the other answered: p50 $(jq .p50_ms <<<"$out") ms, max $(jq .max_ms <<<"$out") ms (20 rounds)"
		else
			fail "$CASE" "${out:0:400}"
		fi
		case_ "across two hosts: a backend's events reach an event stream open on the other host (20 events)"
		out=$(python3 "$API_DIR/svc_wake.py" stream "$BASE" "$XT" "$KE" "$UA" 20 2>&1)
		if [ $? = 0 ] && [ "$(jq -c '[.events[] | select(.type == "app.progress") | .data.i]' <<<"$out")" = "$(seq 0 19 | jq -sc .)" ] &&
		    jq -e '.p50_ms < 100 and .max_ms < 1500' <<<"$out" >/dev/null; then
			ok "$CASE"
			echo "  note $TEST_NAME (pg, two hosts): key publish on one host -> event stream on the other: p50 $(jq .p50_ms <<<"$out") ms, max $(jq .max_ms <<<"$out") ms (20 events)"
		else
			fail "$CASE" "${out:0:400}"
		fi
	fi
fi

# bad input: 4xx, and nothing written
TOKEN=$A1
call GET /api/v1/events
EV1=$(jqr .cursor)
TOKEN=$KE
pad=$(head -c 16400 /dev/zero | tr '\0' 'x')
for bad in '{"type":"record.changed","data":{}}:400:type' '{"type":"device.revoked","data":{}}:400:type' \
    '{"type":"app.","data":1}:400:type' '{"type":"app.Up","data":1}:400:type' '{"type":7,"data":1}:400:type' \
    '{"data":1}:400:type' '{"type":"app.x"}:400:data' '{"type":"app.x","data":1,"session_id":"a b"}:400:session_id' \
    '{"type":"app.x","data":1,"session_id":[]}:400:session_id' '[1]:400:body' '"app.x":400:body' \
    '{"type":"app.x","data":1:400:body' '{"type":"app.x","data":"\u0000"}:400:body' \
    "{\"type\":\"app.x\",\"data\":{\"s\":\"$pad\"}}:413:data"; do
	body=${bad%:*:*}
	rest=${bad#"$body":}
	st=${rest%%:*}
	field=${rest#*:}
	case_ "a key's POST events ${body:0:50} is $st naming $field"
	call POST "/api/v1/service/users/$UA/events" "$body"
	check "$st" application/problem+json '.field' "\"$field\""
done
case_ "a key's POST events with a body over 1 MiB is 413"
head -c 1100000 /dev/zero | tr '\0' 'x' | sed 's/^/{"type":"app.x","data":"/; s/$/"}/' > "$STACK_DIR/huge.json"
call POST "/api/v1/service/users/$UA/events" "@$STACK_DIR/huge.json"
check 413 - '.code' '"PAYLOAD_TOO_LARGE"'
case_ "a key's POST events without a body, or not JSON, is 4xx"
call POST "/api/v1/service/users/$UA/events"
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
call POST "/api/v1/service/users/$UA/events" 'type=app.x' -H 'Content-Type: text/plain'
check 415 application/problem+json
case_ "none of the bad publishes wrote an event"
TOKEN=$A1
call GET "/api/v1/events?after=$EV1&timeout=0"
check 200 application/json '[.events[] | select(.type | startswith("device.") | not)]' '[]'

# --- sync through a key -------------------------------------------------------------------

case_ "a key pushes a user's record: the push's answer, as /sync/push's"
TOKEN=$KR
call POST "/api/v1/service/users/$UA/sync/push" '{"changes":[{"collection":"credits","id":"balance","base_version":0,"data":{"credits":100}}]}'
check 200 application/json '.results|length' '1' '.results[0].status' '"applied"' \
    '.results[0]|keys' '["collection","id","status","version"]' '.cursor' "$(jqr '.results[0].version')"
V1=$(jqr '.results[0].version')
case_ "the device pulls the service's record, device_id null, service named"
TOKEN=$A1
call GET "/api/v1/sync/pull?since=0"
check 200 application/json '.changes|length' '1' '.changes[0].id' '"balance"' '.changes[0].device_id' 'null' \
    '.changes[0].service' '"rec-backend"' '.changes[0].data' '{"credits":100}' '.changes[0].version' "$V1"
case_ "the device's record.changed event carries service and device_id null"
call GET "/api/v1/events?after=$EV1&timeout=0"
check 200 application/json '[.events[] | select(.type == "record.changed") | {type, device_id, service, data}]' \
    "[{\"type\":\"record.changed\",\"device_id\":null,\"service\":\"rec-backend\",\"data\":{\"collections\":[\"credits\"],\"count\":1,\"version\":$V1}}]"
case_ "the record and its history name the service"
call GET /api/v1/collections/credits/records/balance
check 200 application/json '.record.device_id' 'null' '.record.service' '"rec-backend"'
case_ "a key pulls: the answer of /sync/pull, device_id null on what it wrote"
TOKEN=$KR
call GET "/api/v1/service/users/$UA/sync/pull?since=0&collections=credits&limit=10"
check 200 application/json 'keys' '["changes","cursor","more"]' '.changes[0].device_id' 'null' \
    '.changes[0].service' '"rec-backend"' '.cursor' "$V1" '.more' 'false'
case_ "the pull's parameters are checked as /sync/pull's"
for q in "since=-1:since" "limit=0:limit" "limit=1001:limit" "since=x:since" "collections=A:collections"; do
	call GET "/api/v1/service/users/$UA/sync/pull?${q%:*}"
	check 400 application/problem+json '.field' "\"${q#*:}\""
done
case_ "the device edits the record; the service's history shows both writers"
TOKEN=$A1
call POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"credits\",\"id\":\"balance\",\"base_version\":$V1,\"data\":{\"credits\":90}}]}"
check 200 application/json '.results[0].status' '"applied"'
V2=$(jqr '.results[0].version')
call GET /api/v1/collections/credits/records/balance/history
check 200 application/json '[.revisions[] | {device_id, service}]' '[{"device_id":"a1","service":null},{"device_id":null,"service":"rec-backend"}]'
case_ "a stale push by the key is a conflict stored with device_id null"
TOKEN=$KB
call POST "/api/v1/service/users/$UA/sync/push" "{\"changes\":[{\"collection\":\"credits\",\"id\":\"balance\",\"base_version\":$V1,\"data\":{\"credits\":150}}]}"
check 200 application/json '.results[0].status' '"conflict"' '.results[0].server.data' '{"credits":90}' \
    '.results[0].server.device_id' '"a1"'
CID=$(jqr '.results[0].conflict_id')
TOKEN=$A1
call GET "/api/v1/conflicts/$CID"
check 200 application/json '.conflict.device_id' 'null' '.conflict.client.data' '{"credits":150}'
case_ "its conflict.created event names the service"
call GET "/api/v1/events?after=$EV1&timeout=0&limit=1000"
check 200 application/json '[.events[] | select(.type == "conflict.created") | {device_id, service}]' \
    '[{"device_id":null,"service":"both-backend"}]'
case_ "strategies work through a key (client_wins)"
TOKEN=$KR
call POST "/api/v1/service/users/$UA/sync/push" "{\"strategy\":\"client_wins\",\"changes\":[{\"collection\":\"credits\",\"id\":\"balance\",\"base_version\":$V1,\"data\":{\"credits\":200}}]}"
check 200 application/json '.results[0].status' '"applied"'
case_ "a key's pushes and pulls mark no device (last_push_at, last_pull_at)"
TOKEN=$A2
call GET /api/v1/sync/stats
check 200 application/json '[.devices[] | select(.id == "a2") | {last_push_at, last_pull_at}]' \
    '[{"last_push_at":null,"last_pull_at":null}]'
case_ "a key's deletion is a tombstone with device_id null"
TOKEN=$KR
call POST "/api/v1/service/users/$UA/sync/push" '{"changes":[{"collection":"credits","id":"gone","base_version":0,"data":{"a":1}}]}'
VG=$(jqr '.results[0].version')
call POST "/api/v1/service/users/$UA/sync/push" "{\"changes\":[{\"collection\":\"credits\",\"id\":\"gone\",\"base_version\":$VG,\"deleted\":true}]}"
check 200 application/json '.results[0].status' '"applied"'
TOKEN=$A1
call GET "/api/v1/sync/pull?since=$VG"
check 200 application/json '[.changes[] | select(.id == "gone") | {deleted, data, device_id, service}]' \
    '[{"deleted":true,"data":null,"device_id":null,"service":"rec-backend"}]'

TOKEN=$A1
call GET "/api/v1/sync/pull?since=0"
PULL0=$(jq -cS . <<<"$RBODY")
call GET /api/v1/events
EV2=$(jqr .cursor)
TOKEN=$KR
many=$(jq -nc '{changes: [range(501) | {collection:"c", id:"r\(.)", base_version:0, data:{}}]}')
for bad in '{}:400:changes' '{"changes":{}}:400:changes' '{"changes":[1]}:400:changes[0]' \
    '{"changes":[{"collection":"C","id":"x","base_version":0,"data":{}}]}:400:changes[0].collection' \
    '{"changes":[{"collection":"c","id":"a b","base_version":0,"data":{}}]}:400:changes[0].id' \
    '{"changes":[{"collection":"c","id":"x","base_version":-1,"data":{}}]}:400:changes[0].base_version' \
    '{"changes":[{"collection":"c","id":"x","base_version":0,"data":[1]}]}:400:changes[0].data' \
    '{"changes":[{"collection":"c","id":"ok","base_version":0,"data":{}},{"collection":"c","id":"x","base_version":0}]}:400:changes[1].data' \
    '{"changes":[{"collection":"c","id":"x","base_version":0,"data":{}}],"strategy":"yolo"}:400:strategy' \
    '{"changes":[{"collection":"c","id":"x","base_version":0,"data":{"k":"-----BEGIN RSA PRIVATE KEY-----"}}]}:422:changes[0].data.k' \
    '{"changes":[{"collection":"c","id":"x","base_version":0,"data":{},"checksum":"sha256:00"}]}:422:changes[0].checksum' \
    "$many:400:changes" '{"changes":[:400:body' '[]:400:body'; do
	body=${bad%:*:*}
	rest=${bad#"$body":}
	st=${rest%%:*}
	field=${rest#*:}
	case_ "a key's push ${body:0:60} is $st naming $field"
	call POST "/api/v1/service/users/$UA/sync/push" "$body"
	check "$st" application/problem+json '.field' "\"$field\""
done
case_ "a key's push with a record over 256 KiB is 413 naming it"
big=$(head -c 270000 /dev/zero | tr '\0' 'x')
printf '{"changes":[{"collection":"c","id":"big","base_version":0,"data":{"s":"%s"}}]}' "$big" > "$STACK_DIR/big.json"
call POST "/api/v1/service/users/$UA/sync/push" "@$STACK_DIR/big.json"
check 413 application/problem+json '.field' '"changes[0].data"'
case_ "none of the bad pushes wrote anything (records, events)"
TOKEN=$A1
call GET "/api/v1/sync/pull?since=0"
[ "$(jq -cS . <<<"$RBODY")" = "$PULL0" ] && ok "$CASE" || fail "$CASE" "the records changed"
call GET "/api/v1/events?after=$EV2&timeout=0"
check 200 application/json '[.events[] | select(.type | startswith("device.") | not)]' '[]'

# --- last use and revocation -------------------------------------------------------------

case_ "key list shows when a key was last used"
out=$(tandemd_cli key list)
used=$(awk -F'\t' '$1 == "ev-backend" {print $4}' <<<"$out")
unused=$(awk -F'\t' '$1 == "a_0-z" {print $4}' <<<"$out")
[[ "$used" =~ ^20[0-9-]+T[0-9:]+Z$ ]] && [ "$unused" = never ] && ok "$CASE" || fail "$CASE" "$out"
case_ "a key's first use writes last_used_at, the next ones within seconds do not"
TOKEN=$(tandemd_cli key create touch-test --scope records 2>/dev/null)
t0=$(ms_now)
call GET "/api/v1/service/users?email=svc-alice@example.com"
l0=$(db_sql "SELECT last_used_at FROM service_keys WHERE name = 'touch-test'")
for i in 1 2 3 4 5; do call GET "/api/v1/service/users?email=svc-alice@example.com"; done
l1=$(db_sql "SELECT last_used_at FROM service_keys WHERE name = 'touch-test'")
if [ $(( $(ms_now) - t0 )) -ge 4500 ]; then
	ok "$CASE (too slow here to tell)"
elif [ -n "$l0" ] && [ "$l0" -ge "$t0" ] && [ "$l0" = "$l1" ]; then
	ok "$CASE"
else
	fail "$CASE" "'$l0' -> '$l1' (t0 $t0)"
fi

case_ "a revoked key is refused from the next request on"
TOKEN=$KO
call GET "/api/v1/service/users?email=svc-alice@example.com"
check 200 application/json
tandemd_cli key revoke other-backend >/dev/null
t0=$(ms_now)
n=0
while :; do
	n=$((n + 1))
	call GET "/api/v1/service/users?email=svc-alice@example.com"
	[ "$STATUS" = 401 ] && break
	[ $(( $(ms_now) - t0 )) -gt 5000 ] && break
done
took=$(( $(ms_now) - t0 ))
if [ "$STATUS" = 401 ] && [ "$(jqr .code)" = INVALID_TOKEN ] && [ $n = 1 ]; then
	ok "$CASE"
	echo "  note $TEST_NAME${TANDEM_TEST_ENGINE:+ ($TANDEM_TEST_ENGINE)}: a revoked key: 401 on the first request after tandemd key revoke returned ($took ms later)"
else
	fail "$CASE" "status $STATUS after $n requests, $took ms"
fi
case_ "a revoked key is refused on every route, by every host"
for i in 1 2 3 4; do
	call POST "/api/v1/service/users/$UA/events" '{"type":"app.x","data":1}'
	check 401 application/problem+json '.code' '"INVALID_TOKEN"'
done
case_ "a new key under the revoked name is a new key; the old one stays dead"
key other-backend events
KO2=$KOUT
TOKEN=$KO2
call GET "/api/v1/service/users?email=svc-alice@example.com"
check 200 application/json
TOKEN=$KO
call GET "/api/v1/service/users?email=svc-alice@example.com"
check 401 application/problem+json '.code' '"INVALID_TOKEN"'

# --- other users ------------------------------------------------------------------------

case_ "a key's push to one user's id leaves every other user alone"
TOKEN=$A1
call GET "/api/v1/sync/pull?since=0"
PA=$(jq -cS . <<<"$RBODY")
TOKEN=$KB
call POST "/api/v1/service/users/$UB/sync/push" '{"changes":[{"collection":"credits","id":"bob-only","base_version":0,"data":{"n":1}}]}'
check 200 application/json '.results[0].status' '"applied"'
TOKEN=$A1
call GET "/api/v1/sync/pull?since=0"
[ "$(jq -cS . <<<"$RBODY")" = "$PA" ] && ok "$CASE: alice's records unchanged" || fail "$CASE" "alice's records changed"
TOKEN=$B1
call GET "/api/v1/sync/pull?since=0"
check 200 application/json '[.changes[] | select(.id == "bob-only") | {device_id, service}]' '[{"device_id":null,"service":"both-backend"}]'
case_ "a key's pull of one user never shows another's records"
TOKEN=$KB
call GET "/api/v1/service/users/$UA/sync/pull?since=0"
check 200 application/json '[.changes[] | select(.id == "bob-only")]' '[]'

case_ "no request of this stack was answered 5xx"
if grep -q '"status":5[0-9][0-9]' "$STACK_DIR/stack.log"; then
	fail "$CASE" "$(grep '"status":5[0-9][0-9]' "$STACK_DIR/stack.log" | head -3)"
else
	ok "$CASE"
fi

# --- the rate limit per key ---------------------------------------------------------------

stack_stop
stack_start TANDEM_SERVICE_RATE_PER_S=2 TANDEM_SERVICE_RATE_BURST=3 TANDEM_RATE_PER_S=0
register svc-carol@example.com "$PW"
UC=$(jqr .user.id)
login C1 svc-carol@example.com "$PW" c1
key slow-a events
KA=$KOUT
key slow-b events,records
KB2=$KOUT
case_ "a key's burst passes, the next request is 429 RATE_LIMITED with Retry-After"
TOKEN=$KA
codes=""
for i in 1 2 3 4; do
	call GET "/api/v1/service/users?email=svc-carol@example.com"
	codes+="$STATUS "
done
if [ "$codes" = "200 200 200 429 " ]; then ok "$CASE"; else fail "$CASE" "$codes"; fi
check 429 application/problem+json '.code' '"RATE_LIMITED"' '.retry_after_s' '1'
ra=$(header Retry-After)
[ "$ra" = 1 ] && ok "$CASE: Retry-After $ra" || fail "$CASE" "Retry-After '$ra'"
case_ "one key's limit does not slow another key"
TOKEN=$KB2
codes=""
for i in 1 2 3; do
	call GET "/api/v1/service/users?email=svc-carol@example.com"
	codes+="$STATUS "
done
[ "$codes" = "200 200 200 " ] && ok "$CASE" || fail "$CASE" "$codes"
case_ "nor a device (the devices' own limit is off here)"
TOKEN=$C1
codes=""
for i in 1 2 3 4 5 6; do call GET /api/v1/devices; codes+="$STATUS "; done
[ "$codes" = "200 200 200 200 200 200 " ] && ok "$CASE" || fail "$CASE" "$codes"
case_ "the refused key gets a token back after 1/rate seconds"
sleep 0.6
TOKEN=$KA
call GET "/api/v1/service/users?email=svc-carol@example.com"
check 200 application/json
case_ "a rate-limited key's writes are refused before they write"
# 12 publishes at once (a slow host may refill a token or two meanwhile):
# some 429, and exactly the 201s wrote an event
bpids=()
for i in $(seq 1 12); do
	curl -sk -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $KA" \
	    -H 'Content-Type: application/json' -d "{\"type\":\"app.x\",\"data\":$i}" \
	    "$BASE/api/v1/service/users/$UC/events" >> "$STACK_DIR/burst.codes" &
	bpids+=($!)
done
wait "${bpids[@]}"
n201=$(grep -c '^201$' "$STACK_DIR/burst.codes")
n429=$(grep -c '^429$' "$STACK_DIR/burst.codes")
TOKEN=$C1
call GET "/api/v1/events?after=0&timeout=0&limit=1000"
nev=$(jq '[.events[] | select(.type == "app.x")] | length' <<<"$RBODY")
if [ "$n429" -ge 1 ] && [ $((n201 + n429)) = 12 ] && [ "$nev" = "$n201" ]; then
	ok "$CASE ($n201 written, $n429 refused)"
else
	fail "$CASE" "201: $n201, 429: $n429 of 12; events written: $nev"
fi

# --- the same quotas and secret guard as a device's writes --------------------------------

stack_stop
stack_start TANDEM_QUOTA_RECORDS=2 TANDEM_SECRET_GUARD=redact TANDEM_RATE_PER_S=0
register svc-dave@example.com "$PW"
UD=$(jqr .user.id)
login D1 svc-dave@example.com "$PW" d1
key quota-backend records
KQ=$KOUT
case_ "a key's push within the record quota is applied"
TOKEN=$KQ
call POST "/api/v1/service/users/$UD/sync/push" '{"changes":[{"collection":"c","id":"one","base_version":0,"data":{"n":1}}]}'
check 200 application/json '.results[0].status' '"applied"'
V1=$(jqr '.results[0].version')
case_ "a key's push past the record quota is 403 QUOTA_EXCEEDED {quota:records} and writes nothing"
call POST "/api/v1/service/users/$UD/sync/push" '{"changes":[{"collection":"c","id":"two","base_version":0,"data":{}},{"collection":"c","id":"three","base_version":0,"data":{}}]}'
check 403 application/problem+json '.code' '"QUOTA_EXCEEDED"' '.quota' '"records"'
TOKEN=$D1
call GET "/api/v1/sync/pull?since=0"
check 200 application/json '[.changes[].id]' '["one"]'
case_ "TANDEM_SECRET_GUARD=redact redacts a key's push as a device's"
TOKEN=$KQ
call POST "/api/v1/service/users/$UD/sync/push" '{"changes":[{"collection":"c","id":"one","base_version":'"$V1"',"data":{"k":"-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----"}}]}'
check 200 application/json '.results[0].status' '"applied"' '.results[0].redacted' '["data.k"]'
TOKEN=$D1
call GET "/api/v1/sync/pull?since=0"
check 200 application/json '[.changes[] | select(.id == "one") | .data.k]' '["[REDACTED:private_key]"]'
case_ "no request of the last stacks was answered 5xx"
if grep -q '"status":5[0-9][0-9]' "$STACK_DIR/stack.log"; then
	fail "$CASE" "$(grep '"status":5[0-9][0-9]' "$STACK_DIR/stack.log" | head -3)"
else
	ok "$CASE"
fi

finish
