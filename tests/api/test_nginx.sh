#!/usr/bin/env bash
# nginx's own side of the contract: every error nginx answers itself is a
# problem document with X-Request-Id (414, oversized headers, TRACE and
# unknown methods, a direct request to an internal error location, 400,
# 401, 404, 405, 413, 497, 500, 502, 503, 504), on HTTP/1.1 and HTTP/2 and
# on the plain HTTP port; the redirect's host (TANDEM_SERVER_NAME, or the
# request's Host only when it is a plain hostname or address); the
# per-address rate limit of /admin/, /api/v1/admin/ and /metrics
# (TANDEM_ADMIN_RATE, TANDEM_ADMIN_BURST); the per-address connection
# limit (TANDEM_CONN_PER_ADDR).
. "$(dirname "$0")/lib.sh"
ADMIN="admin:$ADMIN_PASSWORD"

# pdoc STATUS CODE: the last answer is the problem document STATUS CODE,
# with the X-Request-Id header equal to its request_id.
pdoc() {
	local rid
	rid=$(header X-Request-Id)
	if [ -z "$rid" ]; then
		fail "$CASE" "no X-Request-Id; status $STATUS, type '$CT', body: ${RBODY:0:200}"
		return 1
	fi
	check "$1" application/problem+json '.code' "\"$2\"" '.status' "$1" \
	    '.type' "\"/errors/$2\"" '.title|type' '"string"' '.detail|type' '"string"' \
	    '.request_id' "\"$rid\""
}

# location_host: the host (and port) of the last answer's Location.
location_host() {
	header Location | sed -E 's|^https://([^/]*)/.*$|\1|'
}

# flood N URL [curl args...]: N requests on one connection; prints the
# statuses, one a line.
flood() {
	local n=$1 url=$2 i args=()
	shift 2
	for i in $(seq "$n"); do args+=(-o /dev/null "$url"); done
	curl -sk -w '%{http_code}\n' "$@" "${args[@]}"
}

# 9000 bytes: over nginx's 8k header buffers on HTTP/1.1, and under them
# on HTTP/2 once HPACK's Huffman code has squeezed it (5 bits a letter).
LONG=$(head -c 9000 /dev/zero | tr '\0' a)
# Random base64: HPACK cannot squeeze 20000 of it under 8 KB.
HUGE=$(head -c 16000 /dev/urandom | base64 -w0 | tr -d '+/=' | head -c 20000)

stack_start

# --- nginx's own errors, on HTTP/1.1 and HTTP/2 ------------------------------
for proto in --http1.1 --http2; do
	case_ "$proto: a query over 8 KB is 414 URI_TOO_LONG"
	call GET "/api/v1/health?x=$LONG" "" "$proto"
	pdoc 414 URI_TOO_LONG

	if [ "$proto" = --http1.1 ]; then
		case_ "$proto: a header over 8 KB is 431 HEADERS_TOO_LARGE"
		call GET /api/v1/health "" "$proto" -H "X-Big: $LONG"
		pdoc 431 HEADERS_TOO_LARGE

		case_ "$proto: a cookie over 8 KB is 431 HEADERS_TOO_LARGE"
		call GET / "" "$proto" -H "Cookie: a=$LONG"
		pdoc 431 HEADERS_TOO_LARGE
	else
		# HTTP/2: nginx's HPACK decoder refuses a field over 8 KB encoded
		# with GOAWAY ENHANCE_YOUR_CALM before there is a request to
		# answer; no page, no response at all.
		for h in "X-Big: $HUGE" "Cookie: a=$HUGE" "x-q: 1"; do
			[ "$h" = "x-q: 1" ] && u="/api/v1/health?x=$HUGE" || u=/api/v1/health
			case_ "$proto: a field over 8 KB after HPACK (${h%%:*}${u#/api/v1/health}) ends the connection"
			rm -f "$STACK_DIR/body"
			out=$(curl -skv --http2 -o "$STACK_DIR/body" -w '%{http_code}' --max-time 10 -H "$h" "$BASE$u" 2>"$STACK_DIR/err")
			if [ "$out" = 000 ] && grep -qi 'GOAWAY' "$STACK_DIR/err" && ! grep -qi '<html' "$STACK_DIR/body" 2>/dev/null; then
				ok "$CASE"
			else
				fail "$CASE" "status $out; $(grep -i 'goaway\|^< HTTP' "$STACK_DIR/err" | head -2)"
			fi
		done
	fi

	case_ "$proto: TRACE on the API is 405"
	call TRACE /api/v1/health "" "$proto"
	pdoc 405 METHOD_NOT_ALLOWED

	case_ "$proto: TRACE on a static file is 405"
	call TRACE /index.html "" "$proto"
	pdoc 405 METHOD_NOT_ALLOWED

	case_ "$proto: an unknown method on a static file is 405"
	call FOO /index.html "" "$proto"
	pdoc 405 METHOD_NOT_ALLOWED

	case_ "$proto: an unknown method on the admin page is 405"
	call BREW /admin/ "" "$proto" -u "$ADMIN"
	pdoc 405 METHOD_NOT_ALLOWED

	case_ "$proto: an unknown method on the API is tandemd's 405"
	call FOO /api/v1/health "" "$proto"
	pdoc 405 METHOD_NOT_ALLOWED

	case_ "$proto: POST to a static file is 405"
	call POST /index.html '{}' "$proto"
	pdoc 405 METHOD_NOT_ALLOWED

	for p in /.tandem-errors/400 /.tandem-errors/404 /.tandem-errors/ /.tandem-errors/x; do
		case_ "$proto: a direct GET $p is 404"
		call GET "$p" "" "$proto"
		pdoc 404 NOT_FOUND
	done

	case_ "$proto: an invalid Host is 400"
	call GET /api/v1/health "" "$proto" -H 'Host: a/b'
	pdoc 400 VALIDATION_FAILED

	case_ "$proto: a NUL byte in the path is 400"
	call GET /api/v1/sessions/a%00b "" "$proto"
	pdoc 400 VALIDATION_FAILED

	case_ "$proto: the admin page without a login is 401 with a Basic challenge"
	call GET /admin/ "" "$proto"
	pdoc 401 INVALID_CREDENTIALS
	[[ "$(header WWW-Authenticate)" == Basic* ]] && ok "$CASE: challenge" ||
	    fail "$CASE" "WWW-Authenticate '$(header WWW-Authenticate)'"

	case_ "$proto: a wrong admin login on the admin API is 401"
	call GET /api/v1/admin/stats "" "$proto" -u admin:wrong
	pdoc 401 INVALID_CREDENTIALS

	case_ "$proto: a missing static file is 404"
	call GET /no-such-file.html "" "$proto"
	pdoc 404 NOT_FOUND

	case_ "$proto: a body over twice the limit is 413"
	head -c 2200000 /dev/zero | tr '\0' 'a' > "$STACK_DIR/huge"
	call POST /api/v1/sync/push "" "$proto" --data-binary "@$STACK_DIR/huge" -H 'Content-Type: application/json'
	pdoc 413 PAYLOAD_TOO_LARGE
done

case_ "plain HTTP sent to the HTTPS port is 400"
BASE="http://127.0.0.1:$HTTPS_PORT" call GET /api/v1/health
pdoc 400 VALIDATION_FAILED

# --- the plain HTTP port's own errors -------------------------------------------
case_ "plain HTTP: a query over 8 KB is 414"
BASE=$HTTP_BASE call GET "/api/v1/health?x=$HUGE"
pdoc 414 URI_TOO_LONG
case_ "plain HTTP: a header over 8 KB is 431"
BASE=$HTTP_BASE call GET /api/v1/health "" -H "X-Big: $LONG"
pdoc 431 HEADERS_TOO_LARGE
case_ "plain HTTP: TRACE is 405"
BASE=$HTTP_BASE call TRACE /api/v1/health
pdoc 405 METHOD_NOT_ALLOWED
case_ "plain HTTP: an invalid Host is 400"
BASE=$HTTP_BASE call GET /api/v1/health "" -H 'Host: a/b'
pdoc 400 VALIDATION_FAILED
case_ "plain HTTP: a direct GET of an error location is 404"
BASE=$HTTP_BASE call GET /.tandem-errors/400
pdoc 404 NOT_FOUND

# --- 500, 503 and 504: statuses nginx makes only rarely, by `return` -------------
conf="$STACK_DIR/data/nginx/conf/nginx.conf"
sed -i '0,/location \/api\/v1\/ {/s||location = /.tandem-test/500 { return 500; }\n\t\tlocation = /.tandem-test/503 { return 503; }\n\t\tlocation = /.tandem-test/504 { return 504; }\n\t\t&|' "$conf"
nginx -q -p "$STACK_DIR/data/nginx" -c "$conf" -s reload 2>/dev/null
# During a reload the old workers accept for a moment beside the new
# ones: wait until 5 answers in a row come from the new configuration.
n503=0
for i in $(seq 100); do
	if [ "$(curl -sk -o /dev/null -w '%{http_code}' "$BASE/.tandem-test/503")" = 503 ]; then
		n503=$((n503 + 1))
		[ $n503 -ge 5 ] && break
	else
		n503=0
	fi
	sleep 0.05
done
for proto in --http1.1 --http2; do
	for s in 500:INTERNAL_ERROR 503:SERVICE_UNAVAILABLE 504:GATEWAY_TIMEOUT; do
		case_ "$proto: nginx's own ${s%%:*} is a problem document"
		call GET "/.tandem-test/${s%%:*}" "" "$proto"
		pdoc "${s%%:*}" "${s#*:}"
	done
	case_ "$proto: nginx's 503 carries Retry-After"
	call GET /.tandem-test/503 "" "$proto"
	[ "$(header Retry-After)" = 1 ] && ok "$CASE" || fail "$CASE" "Retry-After '$(header Retry-After)'"
done

# --- 502 while tandemd is down: on the API and on the admin API --------------------
pids=()
for p in $(pgrep -f 'tandemd serve'); do
	{ tr '\0' '\n' < "/proc/$p/environ"; } 2>/dev/null | grep -qx "TANDEM_DATA_DIR=$STACK_DIR/data" && pids+=("$p")
done
if [ ${#pids[@]} -eq 0 ]; then
	fail "502" "no tandemd process of this stack found"
else
	kill -STOP "${pids[@]}"
	sockets_away
	for proto in --http1.1 --http2; do
		case_ "$proto: tandemd down: the API is 502 BAD_GATEWAY"
		call GET /api/v1/health "" "$proto"
		pdoc 502 BAD_GATEWAY
		case_ "$proto: tandemd down: the admin API is 502 BAD_GATEWAY"
		call GET /api/v1/admin/stats "" "$proto" -u "$ADMIN"
		pdoc 502 BAD_GATEWAY
		case_ "$proto: tandemd down: /metrics is 502 BAD_GATEWAY"
		call GET /metrics "" "$proto"
		pdoc 502 BAD_GATEWAY
		case_ "$proto: tandemd down: /auth/ is 502 BAD_GATEWAY"
		call POST /api/v1/auth/login '{}' "$proto"
		pdoc 502 BAD_GATEWAY
	done
	sockets_back
	kill -CONT "${pids[@]}"
	stack_wait_back
fi

# --- the redirect's host without TANDEM_SERVER_NAME ------------------------------
case_ "unset name: a plain hostname in Host is kept"
BASE=$HTTP_BASE call GET /api/v1/health "" -H 'Host: sync.example.test'
check 308 -
[ "$(header Location)" = "https://sync.example.test:$HTTPS_PORT/api/v1/health" ] && ok "$CASE: Location" ||
    fail "$CASE" "Location '$(header Location)'"
for h in 'a@evil.example' 'evil.example?x' 'evil.example#x' 'evil.example\x' 'evil_example' '-evil.example'; do
	case_ "unset name: Host '$h' is not reflected"
	BASE=$HTTP_BASE call GET /api/v1/health "" -H "Host: $h"
	if [ "$STATUS" = 400 ]; then
		pdoc 400 VALIDATION_FAILED
	else
		check 308 -
		[ "$(location_host)" = "127.0.0.1:$HTTPS_PORT" ] && ok "$CASE: Location" ||
		    fail "$CASE" "Location '$(header Location)'"
	fi
done
case_ "unset name: HTTP/1.0 without Host goes to the server's address"
r=$(printf 'GET /api/v1/health HTTP/1.0\r\n\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HTTP_PORT; cat >&3; cat <&3" | tr -d '\r')
loc=$(sed -n 's/^Location: //p' <<<"$r")
[ "$loc" = "https://127.0.0.1:$HTTPS_PORT/api/v1/health" ] && ok "$CASE" || fail "$CASE" "Location '$loc'"

# --- the connection limit's default ------------------------------------------------
case_ "the default per-address connection limit is 2000"
grep -qE '^[[:space:]]*limit_conn [a-z_]+ 2000;' "$STACK_DIR/data/nginx/conf/nginx.conf" && ok "$CASE" ||
    fail "$CASE" "$(grep -n limit_conn "$STACK_DIR/data/nginx/conf/nginx.conf")"

stack_stop

# --- a second stack: a server name, a low admin rate, a low connection limit ------
stack_start TANDEM_SERVER_NAME=sync.example.test TANDEM_ADMIN_RATE=2 \
    TANDEM_ADMIN_BURST=5 TANDEM_CONN_PER_ADDR=6

# --- the redirect's host with TANDEM_SERVER_NAME -----------------------------------
case_ "a server name: the redirect goes there whatever the Host"
BASE=$HTTP_BASE call GET '/api/v1/health?a=1' "" -H 'Host: evil.example'
check 308 -
[ "$(header Location)" = "https://sync.example.test:$HTTPS_PORT/api/v1/health?a=1" ] && ok "$CASE: Location" ||
    fail "$CASE" "Location '$(header Location)'"
case_ "a server name: HTTP/1.0 without Host goes there too"
r=$(printf 'GET /x HTTP/1.0\r\n\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HTTP_PORT; cat >&3; cat <&3" | tr -d '\r')
loc=$(sed -n 's/^Location: //p' <<<"$r")
[ "$loc" = "https://sync.example.test:$HTTPS_PORT/x" ] && ok "$CASE" || fail "$CASE" "Location '$loc'"
case_ "a server name: HTTPS still answers under another Host"
call GET /api/v1/health
check 200 application/json '.status' '"ok"'
case_ "a server name: the HTTPS server is named"
grep -qE '^[[:space:]]*server_name sync\.example\.test;' "$STACK_DIR/data/nginx/conf/nginx.conf" && ok "$CASE" ||
    fail "$CASE" "$(grep -n server_name "$STACK_DIR/data/nginx/conf/nginx.conf")"

# --- the admin area's rate limit ---------------------------------------------------
# Each area: a fresh bucket (2 r/s refills the burst of 5 in 2.5 s), then
# 40 guesses at once: at most the burst and what refills get through.
for u in /admin/ /api/v1/admin/stats /metrics; do
	sleep 3
	case_ "admin rate: 40 requests at once on $u are cut off past the burst"
	codes=$(flood 40 "$BASE$u" -u admin:wrong)
	n429=$(grep -c '^429$' <<<"$codes")
	if [ "$n429" -ge 30 ]; then ok "$CASE ($n429 of 40 refused)"
	else fail "$CASE" "$n429 of 40 refused: $(sort <<<"$codes" | uniq -c | tr '\n' ' ')"; fi
	case_ "admin rate: past the burst, $u is 429 RATE_LIMITED with Retry-After"
	call GET "$u" "" -u admin:wrong
	pdoc 429 RATE_LIMITED
	[ -n "$(header Retry-After)" ] && ok "$CASE: Retry-After" || fail "$CASE" "no Retry-After"
done
sleep 3
case_ "admin rate: the right login is served again once the bucket refills"
call GET /api/v1/admin/stats "" -u "$ADMIN"
check 200 application/json
case_ "admin rate: a loopback scrape of /metrics at a steady rate is never refused"
bad=""
for i in 1 2 3 4 5 6; do
	c=$(curl -sk -o /dev/null -w '%{http_code}' "$BASE/metrics")
	[ "$c" = 200 ] || bad+=" $i:$c"
	sleep 0.6
done
[ -z "$bad" ] && ok "$CASE" || fail "$CASE" "refused:$bad"
case_ "admin rate: /api/v1/ outside the admin area is not limited by it"
codes=$(flood 40 "$BASE/api/v1/health")
[ "$(grep -c '^200$' <<<"$codes")" = 40 ] && ok "$CASE" || fail "$CASE" "$(sort <<<"$codes" | uniq -c | tr '\n' ' ')"

# --- the connection limit: 6 long polls held, the 7th request is refused -----------
PW="correct horse battery"
register conn@example.com "$PW"
login T conn@example.com "$PW" conn-dev
TOKEN=$T call GET /api/v1/events
cur=$(jqr .cursor)
polls=()
for i in 1 2 3 4 5 6; do
	curl -sk -o /dev/null --max-time 30 -H "Authorization: Bearer $T" \
	    "$BASE/api/v1/events?after=$cur&timeout=25" &
	polls+=($!)
done
for i in $(seq 50); do
	c=$(curl -sk -o /dev/null -w '%{http_code}' "$BASE/api/v1/health")
	[ "$c" = 429 ] && break
	sleep 0.1
done
case_ "connections: past TANDEM_CONN_PER_ADDR, a request is 429 RATE_LIMITED"
call GET /api/v1/health
pdoc 429 RATE_LIMITED
[ -n "$(header Retry-After)" ] && ok "$CASE: Retry-After" || fail "$CASE" "no Retry-After"
case_ "connections: the limit covers static files too"
call GET /index.html "" --http1.1
pdoc 429 RATE_LIMITED
kill "${polls[@]}" 2>/dev/null
wait "${polls[@]}" 2>/dev/null
case_ "connections: once the polls end, requests are served again"
for i in $(seq 50); do
	call GET /api/v1/health
	[ "$STATUS" = 200 ] && break
	sleep 0.1
done
check 200 application/json '.status' '"ok"'

finish
