#!/usr/bin/env bash
# Cross-origin browsers (API.md): TANDEM_CORS_ORIGINS, the headers of an
# allowed Origin on every answer (errors, 401 and 429 included, and the
# errors nginx answers itself), preflights answered before auth and the
# rate limit with the route's methods, nothing for another origin, and
# the JavaScript client served at /sdk/ for any origin.
. "$(dirname "$0")/lib.sh"

APP=https://app.example
LOCAL=http://127.0.0.1:9999
OTHER=https://evil.example
ALLOW_HEADERS="Authorization, Content-Type, Last-Event-ID, X-Request-Id"

case_ "a malformed origin stops tandemd at start, naming the variable"
for bad in "https://app.example/" "*" "https://App.example" "https://a.example,," \
    "app.example" "https://a.example:99999"; do
	out=$(TANDEM_CORS_ORIGINS="$bad" TANDEM_DATA_DIR=/nonexistent "$TANDEMD" config 2>&1)
	rc=$?
	if [ $rc -ne 2 ] || [[ "$out" != *TANDEM_CORS_ORIGINS* ]]; then
		fail "$CASE" "'$bad': rc $rc, '$out'"
		break
	fi
done
[ $rc -eq 2 ] && [[ "$out" == *TANDEM_CORS_ORIGINS* ]] && ok "$CASE"

case_ "a well-formed list is accepted"
out=$(TANDEM_CORS_ORIGINS="https://app.example, http://127.0.0.1:9999,https://[::1]:8443" \
    TANDEM_DATA_DIR=/nonexistent "$TANDEMD" config 2>&1)
[ $? -eq 0 ] && [[ "$out" == *TANDEM_CORS_ORIGINS* ]] && ok "$CASE" || fail "$CASE" "$out"

stack_start "TANDEM_CORS_ORIGINS=$APP , $LOCAL" TANDEM_RATE_PER_S=1 \
    TANDEM_RATE_BURST=3 TANDEM_MAX_BODY_BYTES=1024

# No header whose name starts with Access-Control- in the last answer.
no_acao() {
	if grep -qi '^access-control-' "$RHEAD"; then
		fail "$CASE" "$(grep -i '^access-control-' "$RHEAD" | tr -d '\r' | head -3)"
		return 1
	fi
	ok "$CASE"
}

# The three headers of an allowed origin on the last answer.
cors_headers() {
	local origin=$1
	if [ "$(header Access-Control-Allow-Origin)" != "$origin" ] ||
	    [ "$(header Vary)" != Origin ] ||
	    [ "$(header Access-Control-Expose-Headers)" != "X-Request-Id, Retry-After" ]; then
		fail "$CASE" "ACAO '$(header Access-Control-Allow-Origin)', Vary '$(header Vary)', expose '$(header Access-Control-Expose-Headers)'"
		return 1
	fi
	ok "$CASE"
}

register cors@example.com "cors passphrase"
login TOK cors@example.com "cors passphrase" phone

case_ "an allowed origin gets the CORS headers"
call GET /api/v1/health "" -H "Origin: $APP"
check 200 application/json '.status' '"ok"' && cors_headers "$APP"

case_ "the second origin of the list (blanks around the comma) too"
call GET /api/v1/info "" -H "Origin: $LOCAL"
check 200 application/json && cors_headers "$LOCAL"

case_ "an authenticated answer of an allowed origin"
TOKEN=$TOK
call GET /api/v1/devices "" -H "Origin: $APP"
check 200 application/json '.devices|length' '1' && cors_headers "$APP"
TOKEN=""

case_ "a 401 of an allowed origin carries the headers and the challenge"
call GET /api/v1/devices "" -H "Origin: $APP"
check 401 application/problem+json '.code' '"INVALID_TOKEN"' && cors_headers "$APP"
[[ "$(header WWW-Authenticate)" == Bearer* ]] || fail "$CASE" "WWW-Authenticate '$(header WWW-Authenticate)'"

case_ "a 404 of an allowed origin carries the headers"
call GET /api/v1/nothing/here "" -H "Origin: $APP"
check 404 application/problem+json '.code' '"NOT_FOUND"' && cors_headers "$APP"

case_ "a 405 of an allowed origin carries the headers"
call PUT /api/v1/devices "" -H "Origin: $APP"
check 405 application/problem+json '.code' '"METHOD_NOT_ALLOWED"' && cors_headers "$APP"

case_ "a 400 of an allowed origin carries the headers"
TOKEN=$TOK
call POST /api/v1/sessions '{"id":"bad id"}' -H "Origin: $APP"
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' && cors_headers "$APP"
TOKEN=""

case_ "another origin gets no Access-Control-* header"
call GET /api/v1/health "" -H "Origin: $OTHER"
check 200 application/json && no_acao

case_ "an origin that only starts like an allowed one gets none"
call GET /api/v1/health "" -H "Origin: $APP.evil"
check 200 application/json && no_acao
call GET /api/v1/health "" -H "Origin: http://127.0.0.1:999"
check 200 application/json && no_acao

case_ "no Origin, no Access-Control-* header"
call GET /api/v1/health
check 200 application/json && no_acao

case_ "another origin's 401 has none either"
call GET /api/v1/devices "" -H "Origin: $OTHER"
check 401 application/problem+json && no_acao

# A preflight: OPTIONS with Origin and Access-Control-Request-*.
preflight() {
	local path=$1 origin=$2 method=${3:-POST}
	shift 3
	call OPTIONS "$path" "" -H "Origin: $origin" \
	    -H "Access-Control-Request-Method: $method" \
	    -H "Access-Control-Request-Headers: authorization, content-type" "$@"
}

for spec in "/api/v1/sessions|POST, GET" \
    "/api/v1/sessions/chat-1/messages|POST, GET" \
    "/api/v1/sessions/chat-1/lock|POST, DELETE" \
    "/api/v1/sessions/chat-1/primary|GET, POST" \
    "/api/v1/devices/phone|PATCH, DELETE" \
    "/api/v1/collections/notes/records/n1|GET" \
    "/api/v1/conflicts/12/resolve|POST" \
    "/api/v1/events|GET, POST" \
    "/api/v1/sync/push|POST" \
    "/api/v1/auth/login|POST" \
    "/api/v1/health|GET"; do
	path=${spec%%|*}
	methods=${spec#*|}
	case_ "preflight on $path: 204 with its methods ($methods)"
	preflight "$path" "$APP" POST
	if check 204 - && cors_headers "$APP"; then
		got="$(header Access-Control-Allow-Methods)|$(header Access-Control-Allow-Headers)|$(header Access-Control-Max-Age)"
		want="$methods|$ALLOW_HEADERS|600"
		[ "$got" = "$want" ] && ok "$CASE" || fail "$CASE" "got '$got', want '$want'"
		[ -z "$RBODY" ] || fail "$CASE" "a body: $RBODY"
	fi
done

case_ "a preflight needs no token and passes a bad one (before auth)"
preflight /api/v1/devices "$APP" GET -H "Authorization: Bearer not.a.token"
check 204 - && [ "$(header Access-Control-Allow-Methods)" = GET ] && ok "$CASE" ||
    fail "$CASE" "methods '$(header Access-Control-Allow-Methods)'"

case_ "a preflight from the second origin"
preflight /api/v1/sync/pull "$LOCAL" GET
check 204 - && cors_headers "$LOCAL"

case_ "a preflight on an unknown path stays 404 (with the headers)"
preflight /api/v1/no/such/thing "$APP" GET
check 404 application/problem+json '.code' '"NOT_FOUND"' && cors_headers "$APP"

case_ "a preflight on a bad path parameter is still a preflight"
preflight "/api/v1/sessions/bad%20id/messages" "$APP" POST
check 204 - && [ "$(header Access-Control-Allow-Methods)" = "POST, GET" ] && ok "$CASE" ||
    fail "$CASE" "methods '$(header Access-Control-Allow-Methods)'"

case_ "another origin's preflight is the 405 of an unknown method"
preflight /api/v1/sessions "$OTHER" POST
check 405 application/problem+json '.code' '"METHOD_NOT_ALLOWED"' && no_acao
[ "$(header Allow)" = "POST, GET" ] || fail "$CASE" "Allow '$(header Allow)'"

case_ "OPTIONS without an Origin is 405 too"
call OPTIONS /api/v1/sessions
check 405 application/problem+json '.code' '"METHOD_NOT_ALLOWED"' && no_acao

case_ "another origin's OPTIONS on an unknown path is 404"
preflight /api/v1/no/such/thing "$OTHER" GET
check 404 application/problem+json && no_acao

case_ "a rate-limited device's 429 carries the headers; its preflight is still 204"
TOKEN=$TOK
for i in 1 2 3 4 5 6; do
	call GET /api/v1/devices "" -H "Origin: $APP"
	[ "$STATUS" = 429 ] && break
done
if check 429 application/problem+json '.code' '"RATE_LIMITED"' && cors_headers "$APP"; then
	[ -n "$(header Retry-After)" ] && ok "$CASE" || fail "$CASE" "no Retry-After"
	preflight /api/v1/devices "$APP" GET
	check 204 -
fi
TOKEN=""

case_ "nginx's own 413 carries the headers for an allowed origin"
big=$(head -c 3000 /dev/zero | tr '\0' 'a')
call POST /api/v1/sync/push "{\"x\":\"$big\"}" -H "Origin: $APP"
check 413 application/problem+json '.code' '"PAYLOAD_TOO_LARGE"' && cors_headers "$APP"

case_ "nginx's own 413 has none for another origin"
call POST /api/v1/sync/push "{\"x\":\"$big\"}" -H "Origin: $OTHER"
check 413 application/problem+json && no_acao

case_ "/sdk/tandem.js: JavaScript, for any origin"
call GET /sdk/tandem.js "" -H "Origin: $OTHER"
check 200 text/javascript
if [ "$(header Access-Control-Allow-Origin)" = "*" ] && [ -n "$(header X-Request-Id)" ] &&
    [ "$(header X-Content-Type-Options)" = nosniff ] &&
    cmp -s "$STACK_DIR/body" "$TOP/clients/js/tandem.js"; then
	ok "$CASE"
else
	fail "$CASE" "ACAO '$(header Access-Control-Allow-Origin)', rid '$(header X-Request-Id)', or the body differs"
fi
[[ "$(header Content-Type)" == *charset=utf-8* ]] || fail "$CASE" "Content-Type '$(header Content-Type)'"

case_ "/sdk/ without an Origin is served the same"
call GET /sdk/tandem.js
check 200 text/javascript && [ "$(header Access-Control-Allow-Origin)" = "*" ] && ok "$CASE" ||
    fail "$CASE" "ACAO '$(header Access-Control-Allow-Origin)'"

case_ "an unknown file under /sdk/ is the 404 problem document"
call GET /sdk/nothing.js
check 404 application/problem+json '.code' '"NOT_FOUND"'

case_ "nginx's 502 carries the headers while tandemd cannot be reached"
# nginx finds no socket: what it answers when tandemd is down
sockets_away
call GET /api/v1/health "" -H "Origin: $APP"
sockets_back
check 502 application/problem+json '.code' '"BAD_GATEWAY"' && cors_headers "$APP"
[ "$(header Retry-After)" = 1 ] || fail "$CASE" "Retry-After '$(header Retry-After)'"

case_ "and none for another origin"
sockets_away
call GET /api/v1/health "" -H "Origin: $OTHER"
sockets_back
check 502 application/problem+json && no_acao

case_ "tandemd answers again once its socket is back"
# (with many hosts nginx tries a failed one again after fail_timeout)
for i in $(seq 1 30); do
	call GET /api/v1/health "" -H "Origin: $APP"
	[ "$STATUS" = 200 ] && break
	sleep 0.1
done
check 200 application/json

finish
