#!/usr/bin/env bash
# Accounts, tokens and the device registry: two users, three devices, and
# every failure path of the contract's Auth and Devices sections.
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_MAX_DEVICES=3 TANDEM_SEEN_WRITE_MS=0

PW_A="correct horse battery"
PW_B="another password 2"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt_sign() { # header-json payload-json key alg(sha256|sha512)
	local h p s
	h=$(printf '%s' "$1" | b64url)
	p=$(printf '%s' "$2" | b64url)
	s=$(printf '%s' "$h.$p" | openssl dgst "-${4:-sha256}" -hmac "$3" -binary | b64url)
	printf '%s.%s.%s' "$h" "$p" "$s"
}

# --- register -------------------------------------------------------------
case_ "register user A"
call POST /api/v1/auth/register "{\"email\":\"alice@example.com\",\"password\":\"$PW_A\"}"
check 201 application/json '.user.email' '"alice@example.com"' '.user.id|type' '"string"' \
    '.user.created_at|type' '"number"' '.user|keys' '["created_at","email","id"]'
A_ID=$(jqr .user.id)
register bob@example.com "$PW_B"

case_ "duplicate email is 409 EMAIL_TAKEN"
call POST /api/v1/auth/register "{\"email\":\"alice@example.com\",\"password\":\"whatever123\"}"
check 409 application/problem+json '.code' '"EMAIL_TAKEN"'
case_ "duplicate email differing in case is 409"
call POST /api/v1/auth/register "{\"email\":\"ALICE@example.com\",\"password\":\"whatever123\"}"
check 409 application/problem+json '.code' '"EMAIL_TAKEN"'

for bad in '"no-at-sign"' '"a@b"' '"@example.com"' '"a b@example.com"' '""' '42' 'null' '["a@b.c"]'; do
	case_ "register email $bad is 400"
	call POST /api/v1/auth/register "{\"email\":$bad,\"password\":\"password123\"}"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"email"'
done
long=$(head -c 1025 /dev/zero | tr '\0' 'p')
for bad in '"short"' '"1234567"' "\"$long\"" '12345678' 'true'; do
	case_ "register password ${bad:0:12} is 400"
	call POST /api/v1/auth/register "{\"email\":\"p$RANDOM@example.com\",\"password\":$bad}"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"password"'
done
case_ "password of exactly 8 and 1024 bytes is accepted"
call POST /api/v1/auth/register '{"email":"eight@example.com","password":"12345678"}'
check 201 application/json
call POST /api/v1/auth/register "{\"email\":\"long@example.com\",\"password\":\"${long:1}\"}"
check 201 application/json
case_ "register without a body is 400"
call POST /api/v1/auth/register ""
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
case_ "register with malformed JSON is 400"
call POST /api/v1/auth/register '{"email":"x@example.com",'
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
case_ "register with an array body is 400"
call POST /api/v1/auth/register '["x"]'
check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
case_ "register with duplicate keys is 400"
call POST /api/v1/auth/register '{"email":"d@example.com","email":"e@example.com","password":"password123"}'
check 400 application/problem+json
case_ "register with a NUL escape is 400"
call POST /api/v1/auth/register '{"email":"n\u0000@example.com","password":"password123"}'
check 400 application/problem+json
case_ "register with text/plain is 415"
call POST /api/v1/auth/register '{"email":"t@example.com","password":"password123"}' -H 'Content-Type: text/plain'
check 415 application/problem+json '.code' '"UNSUPPORTED_MEDIA_TYPE"'

# --- login ----------------------------------------------------------------
case_ "login A on phone"
call POST /api/v1/auth/login "{\"email\":\"alice@example.com\",\"password\":\"$PW_A\",\"device\":{\"id\":\"a-phone\",\"platform\":\"ios\",\"name\":\"Alice's phone\",\"push_token\":\"pt-1\"}}"
check 200 application/json '.token_type' '"Bearer"' '.expires_in' '3600' \
    '.refresh_expires_in' '2592000' '.user.id' "\"$A_ID\"" '.device.id' '"a-phone"' \
    '.device.current' 'true' '.device.online' 'true' '.device.platform' '"ios"' \
    '.access_token|split(".")|length' '3' '.refresh_token|length >= 43' 'true'
AP=$(jqr .access_token)
AP_REFRESH=$(jqr .refresh_token)
case_ "the access token's claims"
claims=$(printf '%s' "$AP" | cut -d. -f2 | tr '_-' '/+' | base64 -d 2>/dev/null)
[ "$(printf '%s' "$claims}" | jq -c '[.sub, .did, (.exp - .iat), (.jti|type), (.iss|type)]' 2>/dev/null)" = "[\"$A_ID\",\"a-phone\",3600,\"string\",\"string\"]" ] ||
    [ "$(printf '%s' "$claims" | jq -c '[.sub, .did, (.exp - .iat), (.jti|type), (.iss|type)]' 2>/dev/null)" = "[\"$A_ID\",\"a-phone\",3600,\"string\",\"string\"]" ] &&
    ok "$CASE" || fail "$CASE" "claims $claims"
hdr=$(printf '%s' "$AP" | cut -d. -f1 | tr '_-' '/+' | base64 -d 2>/dev/null)
case_ "the access token is HS256"
[[ "$hdr" == *'"alg":"HS256"'* ]] && ok "$CASE" || fail "$CASE" "header $hdr"

login AL alice@example.com "$PW_A" a-laptop linux
login BP bob@example.com "$PW_B" b-phone android

case_ "wrong password is 401 INVALID_CREDENTIALS"
t0=$(date +%s%N)
call POST /api/v1/auth/login "{\"email\":\"alice@example.com\",\"password\":\"wrong password\",\"device\":{\"id\":\"x\",\"platform\":\"p\",\"name\":\"n\"}}"
t1=$(date +%s%N)
check 401 application/problem+json '.code' '"INVALID_CREDENTIALS"'
wrong_body=$(jqr 'del(.request_id)')
case_ "unknown email is 401 with an identical body"
call POST /api/v1/auth/login "{\"email\":\"nobody@example.com\",\"password\":\"wrong password\",\"device\":{\"id\":\"x\",\"platform\":\"p\",\"name\":\"n\"}}"
t2=$(date +%s%N)
check 401 application/problem+json '.code' '"INVALID_CREDENTIALS"'
[ "$(jqr 'del(.request_id)')" = "$wrong_body" ] && ok "identical bodies" || fail "identical bodies" "$(jqr 'del(.request_id)') vs $wrong_body"
case_ "unknown email costs argon2 work like a wrong password"
wrong_ms=$(( (t1 - t0) / 1000000 )); unknown_ms=$(( (t2 - t1) / 1000000 ))
if [ "$unknown_ms" -ge $((wrong_ms / 3)) ] && [ "$unknown_ms" -ge 5 ]; then ok "$CASE ($wrong_ms ms vs $unknown_ms ms)"; else fail "$CASE" "wrong $wrong_ms ms, unknown $unknown_ms ms"; fi

for body in '{"email":"alice@example.com","password":"x"}' \
    '{"email":"alice@example.com","password":"x","device":"a-phone"}' \
    '{"email":"alice@example.com","password":"x","device":{"platform":"p","name":"n"}}' \
    '{"email":"alice@example.com","password":"x","device":{"id":"bad id","platform":"p","name":"n"}}' \
    '{"email":"alice@example.com","password":"x","device":{"id":"../etc","platform":"p","name":"n"}}' \
    '{"email":"alice@example.com","password":"x","device":{"id":"d","platform":"","name":"n"}}' \
    '{"email":"alice@example.com","password":"x","device":{"id":"d","platform":"p","name":42}}' \
    "{\"email\":\"alice@example.com\",\"password\":\"x\",\"device\":{\"id\":\"d\",\"platform\":\"$(printf 'p%.0s' $(seq 65))\",\"name\":\"n\"}}" \
    "{\"email\":\"alice@example.com\",\"password\":\"x\",\"device\":{\"id\":\"$(printf 'i%.0s' $(seq 129))\",\"platform\":\"p\",\"name\":\"n\"}}" \
    '{"password":"x","device":{"id":"d","platform":"p","name":"n"}}' \
    '{"email":["alice@example.com"],"password":"x","device":{"id":"d","platform":"p","name":"n"}}'; do
	case_ "login with bad shape ${body:40:50} is 400"
	call POST /api/v1/auth/login "$body"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
done

# --- devices --------------------------------------------------------------
case_ "A lists two devices, the caller current"
TOKEN=$AP
call GET /api/v1/devices
check 200 application/json '.devices|length' '2' '[.devices[]|.id]|sort' '["a-laptop","a-phone"]' \
    '[.devices[]|select(.current)|.id]' '["a-phone"]' '.devices[0]|keys' \
    '["created_at","current","id","last_seen_at","name","online","platform","push_token","stale"]' \
    '[.devices[]|.online]' '[true,true]' '[.devices[]|.stale]' '[false,false]'
case_ "B lists only its own device"
TOKEN=$BP
call GET /api/v1/devices
check 200 application/json '[.devices[]|.id]' '["b-phone"]'

case_ "PATCH renames and clears the push token"
TOKEN=$AP
call PATCH /api/v1/devices/a-phone '{"name":"Renamed","push_token":null}'
check 200 application/json '.device.name' '"Renamed"' '.device.push_token' 'null' '.device.id' '"a-phone"'
case_ "PATCH sets a push token on another own device"
call PATCH /api/v1/devices/a-laptop '{"push_token":"tok-2"}'
check 200 application/json '.device.push_token' '"tok-2"' '.device.name' '"a-laptop"' '.device.current' 'false'
for body in '{"name":42}' '{"name":""}' "{\"name\":\"$(printf 'n%.0s' $(seq 65))\"}" '{"push_token":7}' '[1]' '{"name":null}'; do
	case_ "PATCH with $body is 400"
	call PATCH /api/v1/devices/a-phone "$body"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
done
case_ "PATCH another user's device is 404"
call PATCH /api/v1/devices/b-phone '{"name":"mine now"}'
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "PATCH an unknown device is 404"
call PATCH /api/v1/devices/nope '{"name":"x"}'
check 404 application/problem+json
case_ "B's device was not renamed"
TOKEN=$BP
call GET /api/v1/devices
check 200 application/json '.devices[0].name' '"b-phone"'

case_ "heartbeat"
call POST /api/v1/devices/heartbeat
check 200 application/json '.devices_online' '1' '.server_time|type' '"number"'

case_ "DELETE another user's device is 404 and changes nothing"
TOKEN=$AP
call DELETE /api/v1/devices/b-phone
check 404 application/problem+json '.code' '"NOT_FOUND"'
TOKEN=$BP
call GET /api/v1/devices
check 200 application/json '.devices|length' '1'

# --- bad tokens -------------------------------------------------------------
secret=$(cat "$STACK_DIR/data/jwt.secret")
now=$(date +%s)
claims="{\"iss\":\"tandem\",\"sub\":\"$A_ID\",\"did\":\"a-phone\",\"iat\":$now,\"exp\":$((now + 600)),\"jti\":\"$(printf '0%.0s' $(seq 32)).x\"}"
case_ "a token forged with our secret but an unknown family is DEVICE_REVOKED"
TOKEN=$(jwt_sign '{"alg":"HS256","typ":"JWT"}' "$claims" "$secret")
call GET /api/v1/devices
check 401 application/problem+json '.code' '"DEVICE_REVOKED"'
case_ "alg none is 401 INVALID_TOKEN"
TOKEN="$(printf '{"alg":"none","typ":"JWT"}' | b64url).$(printf '%s' "$claims" | b64url)."
call GET /api/v1/devices
check 401 application/problem+json '.code' '"INVALID_TOKEN"'
case_ "HS512 with the right secret is 401 INVALID_TOKEN"
TOKEN=$(jwt_sign '{"alg":"HS512","typ":"JWT"}' "$claims" "$secret" sha512)
call GET /api/v1/devices
check 401 application/problem+json '.code' '"INVALID_TOKEN"'
case_ "a token signed with another secret is 401 INVALID_TOKEN"
TOKEN=$(jwt_sign '{"alg":"HS256","typ":"JWT"}' "$claims" "not-the-secret-not-the-secret-000")
call GET /api/v1/devices
check 401 application/problem+json '.code' '"INVALID_TOKEN"'
case_ "a tampered signature is 401 INVALID_TOKEN"
TOKEN="${AP%?}$( [ "${AP: -1}" = A ] && echo B || echo A)"
call GET /api/v1/devices
check 401 application/problem+json '.code' '"INVALID_TOKEN"'
case_ "a tampered payload is 401 INVALID_TOKEN"
TOKEN="$(echo "$AP" | cut -d. -f1).$(printf '%s' "${claims/a-phone/b-phone}" | b64url).$(echo "$AP" | cut -d. -f3)"
call GET /api/v1/devices
check 401 application/problem+json '.code' '"INVALID_TOKEN"'
for t in garbage "a.b.c" "...." "$AP.extra"; do
	case_ "malformed token '${t:0:12}' is 401 INVALID_TOKEN"
	TOKEN=$t
	call GET /api/v1/devices
	check 401 application/problem+json '.code' '"INVALID_TOKEN"'
done
case_ "Basic instead of Bearer is 401 INVALID_TOKEN"
TOKEN=""
call GET /api/v1/devices "" -H "Authorization: Basic YTpi"
check 401 application/problem+json '.code' '"INVALID_TOKEN"'

# --- refresh ----------------------------------------------------------------
case_ "refresh gives a new pair"
TOKEN=""
call POST /api/v1/auth/refresh "{\"refresh_token\":\"$AP_REFRESH\"}"
check 200 application/json '.token_type' '"Bearer"' '.device.id' '"a-phone"' '.user.id' "\"$A_ID\""
AP2=$(jqr .access_token)
AP2_REFRESH=$(jqr .refresh_token)
[ "$AP2_REFRESH" != "$AP_REFRESH" ] && ok "refresh token rotated" || fail "refresh token rotated" "same token"
case_ "the new access token works"
TOKEN=$AP2
call GET /api/v1/devices
check 200 application/json
case_ "the old access token of the same login still works"
TOKEN=$AP
call GET /api/v1/devices
check 200 application/json
for bad in '{}' '{"refresh_token":42}' '{"refresh_token":""}' '[]'; do
	case_ "refresh with $bad is 400"
	TOKEN=""
	call POST /api/v1/auth/refresh "$bad"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"'
done
case_ "an unknown refresh token is 401 INVALID_TOKEN"
call POST /api/v1/auth/refresh '{"refresh_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'
check 401 application/problem+json '.code' '"INVALID_TOKEN"'
case_ "reusing a spent refresh token is 401 TOKEN_REUSED"
call POST /api/v1/auth/refresh "{\"refresh_token\":\"$AP_REFRESH\"}"
check 401 application/problem+json '.code' '"TOKEN_REUSED"'
case_ "and again: TOKEN_REUSED every time"
call POST /api/v1/auth/refresh "{\"refresh_token\":\"$AP_REFRESH\"}"
check 401 application/problem+json '.code' '"TOKEN_REUSED"'
case_ "reuse revoked the login: its access tokens are DEVICE_REVOKED"
TOKEN=$AP2
call GET /api/v1/devices
check 401 application/problem+json '.code' '"DEVICE_REVOKED"'
case_ "reuse revoked the login: the rotated refresh token is dead"
TOKEN=""
call POST /api/v1/auth/refresh "{\"refresh_token\":\"$AP2_REFRESH\"}"
check 401 application/problem+json
case_ "the revoked device left the list"
TOKEN=$AL
call GET /api/v1/devices
check 200 application/json '[.devices[]|.id]' '["a-laptop"]'
case_ "logging in again re-activates the device"
login AP3 alice@example.com "$PW_A" a-phone ios
TOKEN=$AP3
call GET /api/v1/devices
check 200 application/json '[.devices[]|.id]|sort' '["a-laptop","a-phone"]'
case_ "old tokens stay dead after re-activation"
TOKEN=$AP2
call GET /api/v1/devices
check 401 application/problem+json '.code' '"DEVICE_REVOKED"'

# --- device limit (TANDEM_MAX_DEVICES=3) -------------------------------------
login AT alice@example.com "$PW_A" a-tablet ipados
case_ "a fourth active device is 403 DEVICE_LIMIT_EXCEEDED"
TOKEN=""
call POST /api/v1/auth/login "{\"email\":\"alice@example.com\",\"password\":\"$PW_A\",\"device\":{\"id\":\"a-tv\",\"platform\":\"tv\",\"name\":\"tv\"}}"
check 403 application/problem+json '.code' '"DEVICE_LIMIT_EXCEEDED"'
case_ "an existing active device may log in again at the limit"
call POST /api/v1/auth/login "{\"email\":\"alice@example.com\",\"password\":\"$PW_A\",\"device\":{\"id\":\"a-tablet\",\"platform\":\"ipados\",\"name\":\"tab\"}}"
check 200 application/json
AT=$(jqr .access_token)

# --- revocation ---------------------------------------------------------------
case_ "DELETE a device of one's own is 204"
TOKEN=$AL
call DELETE /api/v1/devices/a-tablet
check 204 -
case_ "the revoked device's token fails on the very next request"
TOKEN=$AT
call GET /api/v1/devices
check 401 application/problem+json '.code' '"DEVICE_REVOKED"'
case_ "DELETE it again is 404"
TOKEN=$AL
call DELETE /api/v1/devices/a-tablet
check 404 application/problem+json '.code' '"NOT_FOUND"'
case_ "a revoked device frees a place under the limit"
login ATV alice@example.com "$PW_A" a-tv tv
case_ "logout is 204"
TOKEN=$ATV
call POST /api/v1/auth/logout
check 204 -
case_ "a logged-out device's token is DEVICE_REVOKED"
call GET /api/v1/devices
check 401 application/problem+json '.code' '"DEVICE_REVOKED"'
case_ "a logged-out device's refresh token is refused"
TOKEN=""
call POST /api/v1/auth/refresh "{\"refresh_token\":\"$ATV_REFRESH\"}"
check 401 application/problem+json '.code' '"DEVICE_REVOKED"'
case_ "device.revoked events were recorded"
TOKEN=$AL
call GET /api/v1/devices
check 200 application/json '[.devices[]|.id]|sort' '["a-laptop","a-phone"]'

# --- expiry ---------------------------------------------------------------
case_ "an expired access token is 401 TOKEN_EXPIRED"
# A token of a live login (its jti) signed with the real secret, expired.
jti=$(printf '%s' "$AL" | cut -d. -f2 | tr '_-' '/+' | { read -r p; while [ $(( ${#p} % 4 )) -ne 0 ]; do p="$p="; done; printf '%s' "$p"; } | base64 -d | jq -r .jti)
expired_claims="{\"iss\":\"tandem\",\"sub\":\"$A_ID\",\"did\":\"a-laptop\",\"iat\":$((now - 7200)),\"exp\":$((now - 3600)),\"jti\":\"$jti\"}"
live_claims="{\"iss\":\"tandem\",\"sub\":\"$A_ID\",\"did\":\"a-laptop\",\"iat\":$now,\"exp\":$((now + 60)),\"jti\":\"$jti\"}"
TOKEN=$(jwt_sign '{"alg":"HS256","typ":"JWT"}' "$expired_claims" "$secret")
call GET /api/v1/devices
check 401 application/problem+json '.code' '"TOKEN_EXPIRED"'
case_ "the same token unexpired is accepted (the forgery above was only the expiry)"
TOKEN=$(jwt_sign '{"alg":"HS256","typ":"JWT"}' "$live_claims" "$secret")
call GET /api/v1/devices
check 200 application/json

case_ "an HS256 header written another way (member order, no typ, a kid) is accepted"
for hdr in '{"typ":"JWT","alg":"HS256"}' '{"alg":"HS256"}' '{"alg":"HS256","kid":"k1","typ":"JWT"}'; do
	TOKEN=$(jwt_sign "$hdr" "$live_claims" "$secret")
	call GET /api/v1/devices
	check 200 application/json || break
done
case_ "expired under such a header is still 401 TOKEN_EXPIRED"
TOKEN=$(jwt_sign '{"alg":"HS256"}' "$expired_claims" "$secret")
call GET /api/v1/devices
check 401 application/problem+json '.code' '"TOKEN_EXPIRED"'
case_ "alg spelled hs256 or with crit is 401 INVALID_TOKEN"
for hdr in '{"alg":"hs256","typ":"JWT"}' '{"alg":"HS256","crit":["x"],"x":1}'; do
	TOKEN=$(jwt_sign "$hdr" "$live_claims" "$secret")
	call GET /api/v1/devices
	check 401 application/problem+json '.code' '"INVALID_TOKEN"' || break
done

# --- logs ---------------------------------------------------------------------
case_ "no password, token or secret appears in the logs"
leaks=0
for s in "$PW_A" "$PW_B" "$AP" "$AP_REFRESH" "$AL_REFRESH" "$BP" "$secret" "pt-1"; do
	grep -qF -- "$s" "$STACK_DIR/stack.log" && leaks=$((leaks + 1))
done
[ $leaks -eq 0 ] && ok "$CASE" || fail "$CASE" "$leaks secrets found in the log"
case_ "the JWT secret file is 0600"
[ "$(stat -c %a "$STACK_DIR/data/jwt.secret")" = 600 ] && ok "$CASE" || fail "$CASE" "mode $(stat -c %a "$STACK_DIR/data/jwt.secret")"
case_ "passwords are stored as argon2id encoded hashes"
h=$(db_sql "SELECT password_hash FROM users WHERE email='alice@example.com'")
[[ "$h" == '$argon2id$v=19$m=19456,t=2,p=1$'* ]] && ok "$CASE" || fail "$CASE" "hash ${h:0:30}"

finish
