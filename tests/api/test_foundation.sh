#!/usr/bin/env bash
# The skeleton: health over HTTPS, redirect, 404, 405, 413, request ids,
# problem documents for nginx's own errors, a killed worker replaced.
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_WORKERS=2

case_ "health over HTTPS"
call GET /api/v1/health
check 200 application/json '.status' '"ok"' '.db' '"ok"' '.version|type' '"string"'

case_ "health carries a request id and security headers"
rid=$(header X-Request-Id)
if [[ "$rid" =~ ^[A-Za-z0-9._-]{1,64}$ ]] && [ -n "$(header Strict-Transport-Security)" ] &&
    [ "$(header X-Content-Type-Options)" = nosniff ] && [ -n "$(header Referrer-Policy)" ]; then
	ok "$CASE"
else
	fail "$CASE" "X-Request-Id '$rid' or a security header missing"
fi

case_ "a valid client request id is echoed"
call GET /api/v1/health "" -H "X-Request-Id: abc.DEF_123-x"
[ "$(header X-Request-Id)" = "abc.DEF_123-x" ] && ok "$CASE" || fail "$CASE" "got '$(header X-Request-Id)'"

case_ "an invalid client request id is replaced"
call GET /api/v1/health "" -H "X-Request-Id: bad id with spaces"
rid=$(header X-Request-Id)
[[ "$rid" != "bad id with spaces" && "$rid" =~ ^[A-Za-z0-9._-]{1,64}$ ]] && ok "$CASE" || fail "$CASE" "got '$rid'"

case_ "a 65-char request id is replaced"
long=$(printf 'a%.0s' $(seq 65))
call GET /api/v1/health "" -H "X-Request-Id: $long"
[ "$(header X-Request-Id)" != "$long" ] && ok "$CASE" || fail "$CASE" "echoed"

case_ "problem documents carry the request id"
call GET /api/v1/nope "" -H "X-Request-Id: rid-404"
check 404 application/problem+json '.code' '"NOT_FOUND"' '.request_id' '"rid-404"' '.type' '"/errors/NOT_FOUND"'

case_ "plain HTTP redirects with 308 to HTTPS"
out=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -X POST -d '{}' "$HTTP_BASE/api/v1/health?x=1")
[ "$out" = "308 https://127.0.0.1:$HTTPS_PORT/api/v1/health?x=1" ] && ok "$CASE" || fail "$CASE" "got $out"

case_ "the redirect, static files and nginx's own 404 carry the request id"
for u in "$HTTP_BASE/api/v1/health" "$BASE/" "$BASE/nothing-here.html" "$BASE/api/v1"; do
	rid=$(curl -sk -o /dev/null -D - -H 'X-Request-Id: rid-static' "$u" |
	    tr -d '\r' | awk -F': ' 'tolower($1) == "x-request-id" { print $2 }')
	[ "$rid" = rid-static ] || { fail "$CASE" "$u: got '$rid'"; break; }
done
[ "$rid" = rid-static ] && ok "$CASE"

case_ "unknown path is 404"
call GET /api/v1/does/not/exist
check 404 application/problem+json '.code' '"NOT_FOUND"'

case_ "unknown path outside the API is 404 NOT_FOUND"
call GET /nothing-here.html
check 404 application/problem+json '.code' '"NOT_FOUND"'

case_ "/api/v1 itself is 404 NOT_FOUND, not a redirect"
call GET /api/v1
check 404 application/problem+json '.code' '"NOT_FOUND"'

case_ "wrong method is 405 with Allow"
call DELETE /api/v1/health
check 405 application/problem+json '.code' '"METHOD_NOT_ALLOWED"'
[ "$(header Allow)" = "GET" ] && ok "Allow: GET" || fail "Allow header" "got '$(header Allow)'"

case_ "405 lists every method of the path"
call PUT /api/v1/sessions/s1/lock
check 405 application/problem+json
allow=$(header Allow)
[[ "$allow" == *POST* && "$allow" == *DELETE* ]] && ok "Allow lists POST, DELETE" || fail "Allow lists" "got '$allow'"

case_ "route is checked before auth: 405 without a token"
call PUT /api/v1/devices
check 405 application/problem+json

case_ "oversize body is 413 problem+json"
head -c 1100000 /dev/zero | tr '\0' 'a' > "$STACK_DIR/big"
call POST /api/v1/auth/login "" --data-binary "@$STACK_DIR/big" -H 'Content-Type: application/json'
check 413 application/problem+json '.code' '"PAYLOAD_TOO_LARGE"'

case_ "the route is checked before the size: 404 and 405 with an oversize body"
call POST /api/v1/does/not/exist "" --data-binary "@$STACK_DIR/big" -H 'Content-Type: application/json'
check 404 application/problem+json '.code' '"NOT_FOUND"'
call PUT /api/v1/sync/push "" --data-binary "@$STACK_DIR/big" -H 'Content-Type: application/json'
check 405 application/problem+json '.code' '"METHOD_NOT_ALLOWED"'

case_ "a body over twice the limit is refused by nginx, as a problem document"
head -c 2200000 /dev/zero | tr '\0' 'a' > "$STACK_DIR/huge"
call POST /api/v1/sync/push "" --data-binary "@$STACK_DIR/huge" -H 'Content-Type: application/json'
check 413 application/problem+json '.code' '"PAYLOAD_TOO_LARGE"'

case_ "oversize body is 413 before auth"
call POST /api/v1/sync/push "" --data-binary "@$STACK_DIR/big" -H 'Content-Type: application/json'
check 413 application/problem+json '.code' '"PAYLOAD_TOO_LARGE"'

case_ "missing token is 401 with WWW-Authenticate"
call GET /api/v1/devices
check 401 application/problem+json '.code' '"INVALID_TOKEN"'
[[ "$(header WWW-Authenticate)" == Bearer* ]] && ok "WWW-Authenticate: Bearer" || fail "WWW-Authenticate" "got '$(header WWW-Authenticate)'"

case_ "info lists the limits"
call GET /api/v1/info
check 200 application/json '.max_body_bytes' '1048576' '.max_batch' '500' \
    '.max_record_bytes' '262144' '.max_message_bytes' '65536' \
    '.dedup_window_ms' '5000' '.primary_ttl_ms' '90000' '.presence_ttl_ms' '90000' \
    '.max_poll_timeout_s' '55' '.tombstone_days' '30' '.event_days' '7' \
    '.max_devices' '10' '.rate_per_s' '50' '.rate_burst' '100'

case_ "a killed worker is replaced and the next request succeeds"
workers=$(pgrep -f "build.*/tandemd serve" | sort -n | tail -n +2)
victim=$(grep -o '"slot":0,"threads":[0-9]*,"ts":[0-9]*,"level":"info","pid":[0-9]*' "$STACK_DIR/stack.log" | head -1 | grep -o 'pid":[0-9]*' | cut -d: -f2)
if [ -z "$victim" ]; then
	fail "$CASE" "no worker pid in the log"
else
	kill -9 "$victim"
	# the master restarts it; every request meanwhile must still be served
	bad=0
	for i in $(seq 1 20); do
		call GET /api/v1/health
		[ "$STATUS" = 200 ] || bad=$((bad + 1))
		sleep 0.05
	done
	sleep 1.2
	n=$(grep -c '"msg":"worker started"' "$STACK_DIR/stack.log")
	if [ "$bad" -eq 0 ] && [ "$n" -ge 3 ] && ! kill -0 "$victim" 2>/dev/null; then
		ok "$CASE"
	else
		fail "$CASE" "bad answers $bad, workers started $n"
	fi
	call GET /api/v1/health
	check 200 application/json '.status' '"ok"'
fi
unset workers

case_ "health is 503 problem+json when the database is unusable"
if engine_is pg; then
	# PostgreSQL: the database loses what health reads (the file cannot
	# be swapped for garbage under a server)
	db_sql "DROP TABLE schema_migrations" >/dev/null
else
	# Replace the database with garbage and restart the workers on it.
	db="$STACK_DIR/data/tandem.db"
	rm -f "$db" "$db-wal" "$db-shm"
	head -c 8192 /dev/urandom > "$db"
	for pid in $(grep '"msg":"worker started"' "$STACK_DIR/stack.log" | grep -o '"pid":[0-9]*' | cut -d: -f2); do
		kill -9 "$pid" 2>/dev/null
	done
fi
for i in $(seq 1 50); do
	call GET /api/v1/health
	[ "$STATUS" = 502 ] || [ "$STATUS" = 200 ] || break
	sleep 0.1
done
check 503 application/problem+json '.code' '"SERVICE_UNAVAILABLE"' '.db' '"error"'

finish
