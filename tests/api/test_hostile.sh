#!/usr/bin/env bash
# The bad-input catalogue: hostile requests across every endpoint of the
# contract (malformed and truncated JSON, wrong types, huge numbers,
# negative limits, a 10 MB body, 10,000-deep nesting, invalid UTF-8, NUL
# bytes, overlong ids, path traversal and SQL meta-characters, duplicate
# keys, wrong content types, forged / expired / alg:none / other-secret
# tokens, other users' ids).  Each must be a 4xx problem document
# (application/problem+json with status and code), never a 5xx, and must
# write nothing; afterwards the server still answers and the database
# passes PRAGMA integrity_check.
#
# One line per case:  h EXPECT TOKEN METHOD PATH BODY [curl args...]
#   EXPECT  the status, or 4xx; "static" for a path nginx resolves outside
#           /api/ (its static files answer: any 4xx, but no file's content)
#   TOKEN   A or B (the users' access tokens), - for none, or the name of
#           a variable holding a forged token
#   BODY    - for none, @NAME for a file made below, else the body text
. "$(dirname "$0")/lib.sh"
SECRET="hostile-test-secret-0123456789abcdef0123"
stack_start TANDEM_JWT_SECRET="$SECRET" TANDEM_RATE_PER_S=0

PW="correct horse battery"
register alice@example.com "$PW"
register bob@example.com "$PW"
login TA alice@example.com "$PW" dev-a
login TB bob@example.com "$PW" dev-b

# --- state: A's and B's sessions, messages, records and conflicts ------------
setup() { # TOKEN-var METHOD PATH BODY -> sets RBODY
	TOKEN=${!1}
	call "$2" "$3" "$4"
	case $STATUS in 2??) ;; *) echo "  setup $2 $3: $STATUS ${RBODY:0:200}";; esac
}
setup TA POST /api/v1/sessions '{"id":"sa1","title":"A one"}'
setup TA POST /api/v1/sessions/sa1/messages '{"client_msg_id":"ma1","body":{"text":"hi"}}'
setup TA POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"ra1","base_version":0,"data":{"t":"a"}}]}'
setup TA POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"ra1","base_version":1,"data":{"t":"a2"}}]}'
CA=$(jqr '.results[0].conflict_id // empty')
setup TB POST /api/v1/sessions '{"id":"sb1","title":"B one"}'
setup TB POST /api/v1/sessions/sb1/messages '{"client_msg_id":"mb1","body":{"text":"hi"}}'
setup TB POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"rb1","base_version":0,"data":{"t":"b"}}]}'
setup TB POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"rb1","base_version":1,"data":{"t":"b2"}}]}'
CB=$(jqr '.results[0].conflict_id // empty')
: "${CA:=1}" "${CB:=2}"

# --- forged tokens ----------------------------------------------------------
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
b64url_d() { local s; s=$(tr '_-' '/+'); while [ $((${#s} % 4)) -ne 0 ]; do s="$s="; done; printf '%s' "$s" | openssl base64 -d -A; }
jwt() { # header-json payload-json key [digest]
	local h p
	h=$(printf '%s' "$1" | b64url)
	p=$(printf '%s' "$2" | b64url)
	printf '%s.%s.%s' "$h" "$p" "$(printf '%s' "$h.$p" | openssl dgst "-${4:-sha256}" -hmac "$3" -binary | b64url)"
}
CLAIMS=$(printf '%s' "$TA" | cut -d. -f2 | b64url_d)
now=$(date +%s)
claims() { printf '%s' "$CLAIMS" | jq -c "$1"; }
T_NONE="$(printf '{"alg":"none","typ":"JWT"}' | b64url).$(printf '%s' "$CLAIMS" | b64url)."
T_NONE2="$(printf '{"alg":"none"}' | b64url).$(printf '%s' "$CLAIMS" | b64url).$(printf '%s' "$TA" | cut -d. -f3)"
T_OTHER=$(jwt '{"alg":"HS256","typ":"JWT"}' "$CLAIMS" "another-secret-0123456789abcdef0123456")
T_EXPIRED=$(jwt '{"alg":"HS256","typ":"JWT"}' "$(claims ".iat = $((now - 7200)) | .exp = $((now - 3600))")" "$SECRET")
T_HS512=$(jwt '{"alg":"HS512","typ":"JWT"}' "$CLAIMS" "$SECRET" sha512)
T_HS384=$(jwt '{"alg":"HS384","typ":"JWT"}' "$CLAIMS" "$SECRET" sha384)
T_LOWER=$(jwt '{"alg":"hs256","typ":"JWT"}' "$CLAIMS" "$SECRET")
T_RS256=$(jwt '{"alg":"RS256","typ":"JWT"}' "$CLAIMS" "$SECRET")
T_ISS=$(jwt '{"alg":"HS256","typ":"JWT"}' "$(claims '.iss = "evil"')" "$SECRET")
T_NODID=$(jwt '{"alg":"HS256","typ":"JWT"}' "$(claims 'del(.did)')" "$SECRET")
T_GHOST=$(jwt '{"alg":"HS256","typ":"JWT"}' "$(claims '.did = "no-such-device"')" "$SECRET")
T_BSUB=$(jwt '{"alg":"HS256","typ":"JWT"}' "$(printf '%s' "$TB" | cut -d. -f2 | b64url_d | jq -c '.did = "dev-a"')" "$SECRET")
T_FAMILY=$(jwt '{"alg":"HS256","typ":"JWT"}' "$(claims '.jti = "0123456789abcdef0123456789abcdef.00"')" "$SECRET")
T_EXPSTR=$(jwt '{"alg":"HS256","typ":"JWT"}' "$(claims ".exp = \"$((now + 3600))\"")" "$SECRET")
T_TAMPER="$(printf '%s' "$TA" | cut -d. -f1).$(claims ".sub = \"$(printf '%s' "$TB" | cut -d. -f2 | b64url_d | jq -r .sub)\"" | b64url).$(printf '%s' "$TA" | cut -d. -f3)"
T_GARBAGE="abc.def.ghi"
T_TWO="$(printf '%s' "$TA" | cut -d. -f1-2)"
T_FOUR="$TA.AAAA"
T_LONG=$(head -c 5000 /dev/zero | tr '\0' 'A').$(head -c 100 /dev/zero | tr '\0' 'B').C
T_SQL="' OR 1=1 --"

# --- bodies too big, too deep, not UTF-8, with NUL bytes --------------------
F="$STACK_DIR/files"
mkdir -p "$F"
head -c 10485760 /dev/zero | tr '\0' ' ' > "$F/10mb"
{ printf '{"changes":'; head -c 10000 /dev/zero | tr '\0' '['; head -c 10000 /dev/zero | tr '\0' ']'; printf '}'; } > "$F/deep"
{ printf '{"client_msg_id":"deep","body":'; for i in $(seq 65); do printf '{"a":'; done; printf '1'; for i in $(seq 65); do printf '}'; done; printf '}'; } > "$F/deep65"
{ printf '{"type":"app.deep","data":'; for i in $(seq 10000); do printf '{"a":'; done; printf '1'; for i in $(seq 10000); do printf '}'; done; printf '}'; } > "$F/deepobj"
printf '{"email":"bad\xff\xfe@example.com","password":"password123"}' > "$F/utf8"
printf '{"id":"s\xc3\x28","title":"x"}' > "$F/utf8b"
printf '{"client_msg_id":"u8","body":{"t":"\xed\xa0\x80"}}' > "$F/surrogate"
printf '{"\\uE\xcf\x9a":1}' > "$F/badescape"	# jansson's error text cuts the UTF-8
printf '{"email":"nul@example.com","password":"pass\0word123"}' > "$F/nul"
printf '{"changes":[]}\0{"x":1}' > "$F/nul2"
printf '{"type":"app.x","data":"a\0b"}' > "$F/nul3"
{ printf '{"client_msg_id":"big","body":"'; head -c 70000 /dev/zero | tr '\0' 'x'; printf '"}'; } > "$F/bigmsg"
{ printf '{"changes":[{"collection":"notes","id":"big","base_version":0,"data":{"s":"'; head -c 300000 /dev/zero | tr '\0' 'x'; printf '"}}]}'; } > "$F/bigrec"
{ printf '{"type":"app.big","data":"'; head -c 20000 /dev/zero | tr '\0' 'x'; printf '"}'; } > "$F/bigevent"
{ printf '{"changes":['; for i in $(seq 501); do [ "$i" -gt 1 ] && printf ','; printf '{"collection":"notes","id":"n%d","base_version":0,"data":{}}' "$i"; done; printf ']}'; } > "$F/501"
printf '{"changes":[{"collection":"notes","id":"half1","base_version":0,"data":{"ok":1}},{"collection":"notes","id":"half2","base_version":"0","data":{}}]}' > "$F/halfbad"
ID129=$(head -c 129 /dev/zero | tr '\0' 'i')
C65=$(head -c 65 /dev/zero | tr '\0' 'c')
S65=$(head -c 65 /dev/zero | tr '\0' 's')
SQL="'%20OR%201%3D1%20--"
KEY='-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----'

# What A can see before: compared after the catalogue (nothing written).
snapshot() {
	local out="" p
	TOKEN=$TA
	for p in /api/v1/sessions?state=all /api/v1/sessions/sa1/messages /api/v1/sync/pull?since=0 \
	    "/api/v1/conflicts?status=all" /api/v1/collections; do
		call GET "$p"
		out+="$STATUS $(printf '%s' "$RBODY" | jq -cS 'del(.. | .last_seen_at?, .online?, .lease_expires_at?, .request_id?)' 2>/dev/null)"$'\n'
	done
	printf '%s' "$out"
}
BEFORE=$(snapshot)

N=0
h() {
	local want=$1 tok=$2 method=$3 path=$4 body=$5 got
	shift 5
	N=$((N + 1))
	case $tok in
	-) TOKEN="" ;;
	A) TOKEN=$TA ;;
	B) TOKEN=$TB ;;
	*) TOKEN=${!tok} ;;
	esac
	case_ "#$N $want $tok $method ${path:0:70} ${body:0:50}"
	local ct=(-H "Content-Type: application/json")
	[[ "$*" == *[Cc]ontent-[Tt]ype* ]] && ct=()
	if [ "$body" = - ]; then
		call "$method" "$path" "" "$@"
	elif [ "${body:0:1}" = @ ]; then
		call "$method" "$path" "" "${ct[@]}" --data-binary "@$F/${body:1}" "$@"
	else
		call "$method" "$path" "$body" "$@"
	fi
	if [ "$want" = static ]; then
		if [[ "$STATUS" == 4?? ]] && ! grep -q 'root:' "$STACK_DIR/body"; then ok "$CASE"
		else fail "$CASE" "status $STATUS; body: ${RBODY:0:200}"; fi
		return
	fi
	if [ "$want" = 4xx ]; then
		[[ "$STATUS" == 4?? ]] || { fail "$CASE" "status $STATUS, want 4xx; body: ${RBODY:0:300}"; return; }
		want=$STATUS
	fi
	if [ "$STATUS" != "$want" ]; then
		fail "$CASE" "status $STATUS, want $want; body: ${RBODY:0:300}"
	elif [ "$CT" != application/problem+json ]; then
		fail "$CASE" "content type '$CT', want application/problem+json; body: ${RBODY:0:200}"
	elif [ "$(jqr .status)" != "$STATUS" ] || [ -z "$(jqr '.code // empty')" ]; then
		fail "$CASE" "not a problem document with status and code: ${RBODY:0:300}"
	else
		ok "$CASE"
	fi
}

# --- auth/register ----------------------------------------------------------
h 400 - POST /api/v1/auth/register '{"email":'
h 400 - POST /api/v1/auth/register '{"email":"t@example.com","password":"passw'
h 400 - POST /api/v1/auth/register '{"email":1,"password":2}'
h 400 - POST /api/v1/auth/register '["t@example.com","password123"]'
h 400 - POST /api/v1/auth/register 'null'
h 400 - POST /api/v1/auth/register '{"email":"t@example.com","password":"password123","email":"u@example.com"}'
h 400 - POST /api/v1/auth/register '{"email":"t\u0000@example.com","password":"password123"}'
h 400 - POST /api/v1/auth/register @nul
h 400 - POST /api/v1/auth/register @utf8
h 400 - POST /api/v1/auth/register @badescape
h 400 - POST /api/v1/auth/register @deep
h 413 - POST /api/v1/auth/register @10mb
h 415 - POST /api/v1/auth/register '{"email":"t@example.com","password":"password123"}' -H 'Content-Type: text/plain'
h 415 - POST /api/v1/auth/register '<user><email>t@example.com</email></user>' -H 'Content-Type: application/xml'
h 400 - POST /api/v1/auth/register '{"email":"t@example.com","password":1e400}'
h 400 - POST /api/v1/auth/register '{"email":"t@example.com","password":99999999999999999999}'
h 400 - POST /api/v1/auth/register "{\"email\":\"$ID129$ID129$ID129$ID129$ID129$ID129$ID129$ID129@example.com\",\"password\":\"password123\"}"
h 400 - POST /api/v1/auth/register "{\"email\":\"' OR 1=1 --@example.com\",\"password\":\"password123\"}"
h 400 - POST /api/v1/auth/register -
h 409 - POST /api/v1/auth/register "{\"email\":\"alice@example.com\",\"password\":\"password123\"}"
h 405 - GET /api/v1/auth/register -
# --- auth/login -------------------------------------------------------------
h 400 - POST /api/v1/auth/login "{\"email\":\"alice@example.com\",\"password\":\"$PW\"}"
h 400 - POST /api/v1/auth/login "{\"email\":\"alice@example.com\",\"password\":\"$PW\",\"device\":{\"id\":\"$ID129\",\"platform\":\"x\",\"name\":\"x\"}}"
h 400 - POST /api/v1/auth/login "{\"email\":\"alice@example.com\",\"password\":\"$PW\",\"device\":{\"id\":\"../../etc/passwd\",\"platform\":\"x\",\"name\":\"x\"}}"
h 400 - POST /api/v1/auth/login "{\"email\":\"alice@example.com\",\"password\":\"$PW\",\"device\":{\"id\":\"' OR 1=1 --\",\"platform\":\"x\",\"name\":\"x\"}}"
h 400 - POST /api/v1/auth/login "{\"email\":\"alice@example.com\",\"password\":\"$PW\",\"device\":{\"id\":\"d\",\"platform\":\"$S65\",\"name\":\"x\"}}"
h 400 - POST /api/v1/auth/login "{\"email\":\"alice@example.com\",\"password\":\"$PW\",\"device\":\"dev-a\"}"
h 400 - POST /api/v1/auth/login "{\"email\":\"alice@example.com\",\"password\":{\"\$ne\":null},\"device\":{\"id\":\"d\",\"platform\":\"x\",\"name\":\"x\"}}"
h 401 - POST /api/v1/auth/login '{"email":"alice@example.com","password":"wrong password","device":{"id":"d","platform":"x","name":"x"}}'
h 401 - POST /api/v1/auth/login "{\"email\":\"' OR '1'='1\",\"password\":\"' OR '1'='1\",\"device\":{\"id\":\"d\",\"platform\":\"x\",\"name\":\"x\"}}"
h 400 - POST /api/v1/auth/login '{"email":"alice@example.com","password":"x","device":{"id":"d","platform":"x","name":"x","push_token":[]}}'
# --- auth/refresh, logout -----------------------------------------------------
h 400 - POST /api/v1/auth/refresh '{"refresh_token":123}'
h 401 - POST /api/v1/auth/refresh '{"refresh_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'
h 401 - POST /api/v1/auth/refresh "{\"refresh_token\":\"' OR 1=1 --\"}"
h 400 - POST /api/v1/auth/refresh "{\"refresh_token\":\"$ID129$ID129$ID129\"}"
h 400 - POST /api/v1/auth/refresh -
h 4xx - POST /api/v1/auth/refresh "{\"refresh_token\":\"$TA\"}"
h 401 - POST /api/v1/auth/logout -
h 401 T_NONE POST /api/v1/auth/logout -
h 401 T_OTHER POST /api/v1/auth/logout -
# --- the token check, on every kind of forgery -------------------------------
h 401 T_NONE GET /api/v1/devices -
h 401 T_NONE2 GET /api/v1/devices -
h 401 T_OTHER GET /api/v1/devices -
h 401 T_EXPIRED GET /api/v1/devices -
h 401 T_HS512 GET /api/v1/devices -
h 401 T_HS384 GET /api/v1/sessions -
h 401 T_LOWER GET /api/v1/sessions -
h 401 T_RS256 GET /api/v1/sessions -
h 401 T_ISS GET /api/v1/sessions -
h 401 T_NODID GET /api/v1/sync/stats -
h 401 T_GHOST GET /api/v1/sync/stats -
h 401 T_BSUB GET /api/v1/sync/stats -
h 401 T_FAMILY GET /api/v1/collections -
h 401 T_EXPSTR GET /api/v1/collections -
h 401 T_TAMPER GET /api/v1/collections -
h 401 T_GARBAGE GET /api/v1/export -
h 401 T_TWO GET /api/v1/export -
h 401 T_FOUR GET /api/v1/export -
h 401 T_LONG GET /api/v1/conflicts -
h 401 T_SQL GET /api/v1/conflicts -
h 401 - GET /api/v1/conflicts - -H "Authorization: Basic YWxpY2U6cGFzc3dvcmQ="
h 401 - GET /api/v1/events - -H "Authorization: Bearer"
h 401 - GET /api/v1/events - -H "Authorization: $TA"
h 401 T_EXPIRED POST /api/v1/devices/heartbeat -
# --- devices ----------------------------------------------------------------
h 404 A PATCH /api/v1/devices/dev-b '{"name":"mine now"}'
h 400 A PATCH "/api/v1/devices/$ID129" '{"name":"x"}'
h 400 A PATCH "/api/v1/devices/$SQL" '{"name":"x"}'
h 400 A PATCH /api/v1/devices/dev-a "{\"name\":\"$S65\"}"
h 400 A PATCH /api/v1/devices/dev-a '{"name":42}'
h 400 A PATCH /api/v1/devices/dev-a '{"push_token":{"a":1}}'
h 400 A PATCH /api/v1/devices/dev-a '[{"name":"x"}]'
h 400 A PATCH /api/v1/devices/dev-a '{"name":"x",}'
h 404 A DELETE /api/v1/devices/dev-b -
h 404 A DELETE /api/v1/devices/no-such-device -
h 400 A DELETE /api/v1/devices/%C3%A9 -
h static A DELETE /api/v1/devices/..%2F..%2Fauth%2Flogout - --path-as-is
h 405 A PUT /api/v1/devices '{}'
h 405 A POST /api/v1/devices '{"id":"x"}'
# --- sessions, primary, lock --------------------------------------------------
h 400 A POST /api/v1/sessions "{\"id\":\"$ID129\"}"
h 400 A POST /api/v1/sessions '{"id":"a b"}'
h 400 A POST /api/v1/sessions '{"id":12}'
h 400 A POST /api/v1/sessions '{"id":"x","title":{"t":1}}'
h 400 A POST /api/v1/sessions @utf8b
h 400 A POST /api/v1/sessions "{\"id\":\"' OR 1=1 --\"}"
h 400 A POST /api/v1/sessions '{"id":"../../etc/passwd"}'
h 400 A GET "/api/v1/sessions?state=bogus" -
h 400 A GET "/api/v1/sessions?state=active&state=killed" -
h 404 A GET /api/v1/sessions/sb1 -
h 400 A GET "/api/v1/sessions/$SQL" -
h 400 A GET "/api/v1/sessions/$ID129" -
h 400 A GET /api/v1/sessions/%FF%FE -
h 4xx A GET /api/v1/sessions/x/..%2F..%2Fetc%2Fpasswd - --path-as-is
h static A GET /api/v1/sessions/..%2F..%2F..%2F..%2Fetc%2Fpasswd - --path-as-is
h 4xx A GET /api/v1/sessions/a%00b -
h 404 A POST /api/v1/sessions/sb1/kill '{}'
h 400 A POST /api/v1/sessions/sa1/kill '{"reason":5}'
h 404 A GET /api/v1/sessions/sb1/primary -
h 404 A POST /api/v1/sessions/sb1/primary '{"action":"claim"}'
h 400 A POST /api/v1/sessions/sa1/primary '{"action":"explode"}'
h 400 A POST /api/v1/sessions/sa1/primary '{}'
h 400 A POST /api/v1/sessions/sa1/primary '{"action":["claim"]}'
h 404 A POST /api/v1/sessions/sa1/primary '{"action":"transfer","to_device":"dev-b"}'
h 400 A POST /api/v1/sessions/sa1/primary '{"action":"transfer","to_device":"../x"}'
h 409 A POST /api/v1/sessions/sa1/primary '{"action":"renew"}'
h 404 A POST /api/v1/sessions/sb1/lock '{"ttl_ms":5000}'
h 400 A POST /api/v1/sessions/sa1/lock '{"ttl_ms":99}'
h 400 A POST /api/v1/sessions/sa1/lock '{"ttl_ms":60001}'
h 400 A POST /api/v1/sessions/sa1/lock '{"ttl_ms":1e400}'
h 400 A POST /api/v1/sessions/sa1/lock '{"ttl_ms":99999999999999999999}'
h 400 A POST /api/v1/sessions/sa1/lock '{"ttl_ms":"5000"}'
h 400 A POST /api/v1/sessions/sa1/lock '{"ttl_ms":-1}'
h 400 A POST /api/v1/sessions/sa1/lock '{"ttl_ms":5000.5}'
h 404 A DELETE /api/v1/sessions/sb1/lock -
h 409 A DELETE /api/v1/sessions/sa1/lock -
# --- messages -----------------------------------------------------------------
h 400 A POST /api/v1/sessions/sa1/messages '{"body":{"t":1}}'
h 400 A POST /api/v1/sessions/sa1/messages "{\"client_msg_id\":\"$ID129\",\"body\":1}"
h 400 A POST /api/v1/sessions/sa1/messages "{\"client_msg_id\":\"' OR 1=1 --\",\"body\":1}"
h 400 A POST /api/v1/sessions/sa1/messages '{"client_msg_id":"nobody"}'
h 413 A POST /api/v1/sessions/sa1/messages @bigmsg
h 422 A POST /api/v1/sessions/sa1/messages '{"client_msg_id":"hm","body":{"a":1},"hash":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}'
h 4xx A POST /api/v1/sessions/sa1/messages '{"client_msg_id":"ht","body":{"a":1},"hash":42}'
h 400 A POST /api/v1/sessions/sa1/messages '{"client_msg_id":"au","body":1,"auto":"yes"}'
h 400 A POST /api/v1/sessions/sa1/messages '{"client_msg_id":"nu","body":"a\u0000b"}'
h 400 A POST /api/v1/sessions/sa1/messages @deep65
h 400 A POST /api/v1/sessions/sa1/messages @surrogate
h 404 A POST /api/v1/sessions/sb1/messages '{"client_msg_id":"x1","body":1}'
h 404 A GET /api/v1/sessions/sb1/messages -
h 400 A GET "/api/v1/sessions/sa1/messages?limit=-1" -
h 400 A GET "/api/v1/sessions/sa1/messages?limit=501" -
h 400 A GET "/api/v1/sessions/sa1/messages?limit=99999999999999999999" -
h 400 A GET "/api/v1/sessions/sa1/messages?after=-5" -
h 400 A GET "/api/v1/sessions/sa1/messages?after=abc" -
h 400 A GET "/api/v1/sessions/sa1/messages?after=%00" -
h 400 A GET "/api/v1/sessions/sa1/messages?after=1e3" -
# --- sync -----------------------------------------------------------------------
h 400 A POST /api/v1/sync/push '{"changes":{"collection":"notes"}}'
h 400 A POST /api/v1/sync/push @501
h 400 A POST /api/v1/sync/push @deep
h 400 A POST /api/v1/sync/push @nul2
h 400 A POST /api/v1/sync/push '{"changes":[{"collection":"Notes","id":"x","base_version":0,"data":{}}]}'
h 400 A POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"$C65\",\"id\":\"x\",\"base_version\":0,\"data\":{}}]}"
h 400 A POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"$ID129\",\"base_version\":0,\"data\":{}}]}"
h 400 A POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"notes'; DROP TABLE records; --\",\"id\":\"x\",\"base_version\":0,\"data\":{}}]}"
h 400 A POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"x","base_version":-1,"data":{}}]}'
h 400 A POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"x","base_version":"0","data":{}}]}'
h 400 A POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"x","base_version":1e400,"data":{}}]}'
h 400 A POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"x","base_version":99999999999999999999,"data":{}}]}'
h 400 A POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"x","base_version":0,"data":"not an object"}]}'
h 400 A POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"x","base_version":0}]}'
h 413 A POST /api/v1/sync/push @bigrec
h 400 A POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"x","base_version":0,"data":{}}],"strategy":"yolo"}'
h 422 A POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"x","base_version":0,"data":{"a":1},"checksum":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}]}'
h 422 A POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"x\",\"base_version\":0,\"data\":{\"ssh\":{\"key\":\"$KEY\"}}}]}"
h 400 A POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"x","base_version":0,"deleted":"yes"}]}'
h 400 A POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"x","base_version":0,"data":{},"modified_at":"now"}]}'
h 400 A POST /api/v1/sync/push @halfbad
h 400 A POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"x","base_version":0,"data":{},"data":{}}]}'
h 400 A GET "/api/v1/sync/pull?since=-1" -
h 400 A GET "/api/v1/sync/pull?since=abc" -
h 400 A GET "/api/v1/sync/pull?since=99999999999999999999" -
h 400 A GET "/api/v1/sync/pull?limit=1001" -
h 400 A GET "/api/v1/sync/pull?limit=-5" -
h 400 A GET "/api/v1/sync/pull?collections=BAD!" -
h 400 A GET "/api/v1/sync/pull?collections=a,,b" -
h 400 A GET "/api/v1/sync/pull?since=0&since=1" -
h 400 A GET "/api/v1/sync/pull?since=%zz" -
h 400 A GET /api/v1/collections/BAD/records/x -
h 404 A GET /api/v1/collections/notes/records/rb1 -
h 404 A GET /api/v1/collections/notes/records/never-written -
h 400 A GET "/api/v1/collections/notes/records/$SQL" -
h 4xx A GET /api/v1/collections/notes/records/..%2F..%2F..%2Fetc%2Fpasswd - --path-as-is
h 4xx A GET /api/v1/collections/notes/records/../../../etc/passwd - --path-as-is
h static A GET /api/v1/collections/notes/records/../../../../../../../../etc/passwd - --path-as-is
h 405 A DELETE /api/v1/collections/notes/records/ra1 -
h 405 A POST /api/v1/sync/pull '{}'
# --- conflicts ----------------------------------------------------------------
h 400 A GET "/api/v1/conflicts?status=bogus" -
h 400 A GET "/api/v1/conflicts?collection=BAD!" -
h 404 A GET "/api/v1/conflicts/$CB" -
h 404 A GET /api/v1/conflicts/abc -
h 404 A GET /api/v1/conflicts/99999999999999999999 -
h 404 A GET /api/v1/conflicts/-1 -
h 404 A GET "/api/v1/conflicts/$SQL" -
h 404 A POST "/api/v1/conflicts/$CB/resolve" '{"resolution":"client"}'
h 400 A POST "/api/v1/conflicts/$CA/resolve" '{"resolution":"bogus"}'
h 400 A POST "/api/v1/conflicts/$CA/resolve" '{"resolution":["server"]}'
h 400 A POST "/api/v1/conflicts/$CA/resolve" '{"resolution":"merged","data":"string"}'
h 422 A POST "/api/v1/conflicts/$CA/resolve" "{\"resolution\":\"merged\",\"data\":{\"k\":\"$KEY\"}}"
h 400 A POST "/api/v1/conflicts/$CA/resolve" -
# --- events -------------------------------------------------------------------
h 400 A GET "/api/v1/events?timeout=56" -
h 400 A GET "/api/v1/events?timeout=-1" -
h 400 A GET "/api/v1/events?limit=1001" -
h 400 A GET "/api/v1/events?limit=0" -
h 400 A GET "/api/v1/events?exclude_self=2" -
h 400 A GET "/api/v1/events?after=-1" -
h 400 A GET "/api/v1/events?after=1&after=2" -
h 400 A POST /api/v1/events '{"type":"session.killed","data":{"session_id":"sb1"}}'
h 400 A POST /api/v1/events '{"type":"app.","data":1}'
h 400 A POST /api/v1/events '{"type":"app.UPPER","data":1}'
h 400 A POST /api/v1/events '{"type":7,"data":1}'
h 413 A POST /api/v1/events @bigevent
h 400 A POST /api/v1/events @deepobj
h 400 A POST /api/v1/events @nul3
h 400 A POST /api/v1/events '{"type":"app.x","data":1,"session_id":"../x"}'
# --- admin, metrics, and the rest ----------------------------------------------
h 4xx - GET /api/v1/admin/stats -
h 4xx - GET /api/v1/admin/stats - -u admin:wrong-password
h 4xx A GET /api/v1/admin/stats -
h 404 A GET /api/v1/does-not-exist -
h 405 A OPTIONS /api/v1/sessions -
h 405 A PATCH /api/v1/health '{}'
h 4xx A GET "/api/v1/sessions/$(head -c 9000 /dev/zero | tr '\0' 'x')" -
# found by attacking the stack (issue 13): invalid UTF-8 in paths must be
# answered and logged like any request; integer literals past 64 bits
h 4xx A GET /api/v1/sessions/%FF -
h 4xx - GET /api/v1/sessions/%FF%FE -
h 4xx A GET /api/v1/collections/%C3%28/records/x -
h 4xx A POST /api/v1/sync/push '{"changes":[{"collection":"c","id":"x","base_version":0,"data":{"n":18446744073709551616}}]}'
h 4xx A POST /api/v1/events '{"type":"app.x","data":-18446744073709551617}'
h 4xx A POST /api/v1/sessions/hs/messages '{"client_msg_id":"m","body":1e400}'

echo "hostile: $N requests tried"
# --- afterwards: still up, nothing written, the database intact ------------------
case_ "the server still answers health"
TOKEN=""
call GET /api/v1/health
check 200 application/json '.status' '"ok"' '.db' '"ok"'
case_ "nothing was written by the catalogue"
AFTER=$(snapshot)
if [ "$BEFORE" = "$AFTER" ]; then ok "$CASE"; else fail "$CASE" "$(diff <(echo "$BEFORE") <(echo "$AFTER") | head -c 800)"; fi
case_ "a half-bad batch wrote nothing"
TOKEN=$TA
call GET /api/v1/collections/notes/records/half1
check 404 application/problem+json
case_ "PRAGMA integrity_check is ok"
ic=$(sqlite3 "$STACK_DIR/data/tandem.db" 'PRAGMA integrity_check' 2>&1)
[ "$ic" = ok ] && ok "$CASE" || fail "$CASE" "$ic"
case_ "no 5xx in the server log"
n5=$(grep -c '"status":5[0-9][0-9]' "$STACK_DIR/stack.log")
[ "$n5" -eq 0 ] && ok "$CASE" || fail "$CASE" "$n5 answers of 5xx: $(grep -m3 '"status":5' "$STACK_DIR/stack.log")"
case_ "every request was logged with its method, path, status and id"
nl=$(grep '"msg":"request"' "$STACK_DIR/stack.log" | grep -vc '"method":"[A-Z?]*","path":"[^"]*","status":[0-9]*,')
[ "$nl" -eq 0 ] && ok "$CASE" || fail "$CASE" "$nl request lines lack them: $(grep '"msg":"request"' "$STACK_DIR/stack.log" | grep -v '"status"' | head -2)"
case_ "no worker died"
nd=$(grep -c 'child died' "$STACK_DIR/stack.log")
[ "$nd" -eq 0 ] && ok "$CASE" || fail "$CASE" "$(grep -m3 'child died' "$STACK_DIR/stack.log")"
finish
