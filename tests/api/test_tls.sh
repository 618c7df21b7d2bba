#!/usr/bin/env bash
# The served TLS configuration and the HTTP front door: TLS 1.2 and 1.3
# only; no weak cipher negotiable (a scan of every cipher the client
# knows, plus the configured list expanded by openssl); HTTP/2 by ALPN;
# the security headers on API answers and on nginx's own error pages;
# plain HTTP only redirects (308), never serving or processing anything.
#
# A control server (openssl s_server with everything enabled, same
# certificate) first proves the client can speak each old protocol and
# weak cipher it is refused here, so a refusal means the server refused.
. "$(dirname "$0")/lib.sh"
stack_start TANDEM_RATE_PER_S=0

HOST=127.0.0.1
CERT="$STACK_DIR/data/tls/cert.pem"
KEY="$STACK_DIR/data/tls/key.pem"

# handshake PORT ARGS... -> prints "PROTOCOL CIPHER" or "FAIL"
handshake() {
	local port=$1 out
	shift
	out=$(echo | timeout 5 openssl s_client -connect "$HOST:$port" \
	    -servername localhost -brief "$@" 2>&1)
	if [ $? -eq 0 ] && grep -q '^CONNECTION ESTABLISHED' <<<"$out"; then
		printf '%s %s\n' "$(sed -n 's/^Protocol version: //p' <<<"$out")" \
		    "$(sed -n 's/^Ciphersuite: //p' <<<"$out")"
	else
		echo FAIL
	fi
}

# --- the control server: what this client can do --------------------------------
CPORT=$(free_port)
openssl s_server -quiet -accept "$CPORT" -cert "$CERT" -key "$KEY" \
    -cipher 'ALL:COMPLEMENTOFALL:@SECLEVEL=0' -legacy_renegotiation \
    -min_protocol TLSv1 -naccept 1000 </dev/null >/dev/null 2>&1 &
CTRL_PID=$!
for i in $(seq 50); do (exec 3<>"/dev/tcp/$HOST/$CPORT") 2>/dev/null && break; sleep 0.1; done
can() { [ "$(handshake "$CPORT" "$@" -cipher 'ALL:COMPLEMENTOFALL:@SECLEVEL=0')" != FAIL ]; }

# --- protocol versions ------------------------------------------------------------
for v in tls1 tls1_1; do
	case_ "-$v is refused"
	if ! can -"$v"; then
		fail "$CASE" "the client cannot speak -$v even to the control server: the check would prove nothing"
		continue
	fi
	r=$(handshake "$HTTPS_PORT" -"$v" -cipher 'ALL:@SECLEVEL=0')
	[ "$r" = FAIL ] && ok "$CASE" || fail "$CASE" "negotiated $r"
done
case_ "-tls1_2 works"
r=$(handshake "$HTTPS_PORT" -tls1_2)
[[ "$r" == "TLSv1.2 ECDHE-"* ]] && ok "$CASE" || fail "$CASE" "got '$r'"
case_ "-tls1_3 works"
r=$(handshake "$HTTPS_PORT" -tls1_3)
[[ "$r" == "TLSv1.3 TLS_"* ]] && ok "$CASE" || fail "$CASE" "got '$r'"

# --- weak ciphers, by name ----------------------------------------------------------
# RC4, 3DES and EXPORT are gone from OpenSSL 3 (client and server alike):
# they are checked in the configured list below.  These the client can offer.
for c in NULL-SHA256 ECDHE-ECDSA-NULL-SHA AECDH-NULL-SHA ADH-AES128-SHA AES128-SHA \
    AES256-SHA ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA ECDHE-RSA-AES128-SHA \
    ECDHE-ECDSA-AES128-SHA256 ECDHE-ECDSA-AES256-SHA384 AES128-GCM-SHA256 \
    DHE-RSA-AES128-GCM-SHA256 ECDHE-ECDSA-CAMELLIA128-SHA256; do
	case_ "weak cipher $c is refused"
	if ! openssl ciphers "$c:@SECLEVEL=0" >/dev/null 2>&1; then
		ok "$CASE (the client library does not have it)"
		continue
	fi
	r=$(handshake "$HTTPS_PORT" -tls1_2 -cipher "$c:@SECLEVEL=0")
	[ "$r" = FAIL ] && ok "$CASE" || fail "$CASE" "negotiated $r"
done
for c in ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-NULL-SHA; do
	case_ "control: the client can negotiate $c where it is offered"
	r=$(handshake "$CPORT" -tls1_2 -cipher "$c:@SECLEVEL=0")
	[ "$r" != FAIL ] && ok "$CASE" || fail "$CASE" "the control server refused it: the refusal above proves nothing"
done

# --- every cipher the client knows: only ECDHE with an AEAD gets through -------------
case_ "TLS 1.2 scan: only ECDHE + AES-GCM/ChaCha20 ciphers are negotiable"
accepted=()
for c in $(openssl ciphers -tls1_2 'ALL:COMPLEMENTOFALL:@SECLEVEL=0' | tr ':' ' '); do
	[[ "$c" == TLS_* ]] && continue
	r=$(handshake "$HTTPS_PORT" -tls1_2 -cipher "$c:@SECLEVEL=0")
	[ "$r" != FAIL ] && accepted+=("$c")
done
bad=()
for c in "${accepted[@]}"; do
	[[ "$c" =~ ^ECDHE-(ECDSA|RSA)-(AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)$ ]] || bad+=("$c")
done
if [ ${#accepted[@]} -gt 0 ] && [ ${#bad[@]} -eq 0 ]; then
	ok "$CASE (${#accepted[@]} accepted: ${accepted[*]})"
else
	fail "$CASE" "accepted: ${accepted[*]:-none}; weak: ${bad[*]:-none}"
fi
case_ "TLS 1.3 scan: only the AEAD suites"
acc13=()
for c in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256 \
    TLS_AES_128_CCM_SHA256 TLS_AES_128_CCM_8_SHA256; do
	r=$(handshake "$HTTPS_PORT" -tls1_3 -ciphersuites "$c")
	[ "$r" != FAIL ] && acc13+=("$c")
done
[[ " ${acc13[*]} " == *" TLS_AES_128_GCM_SHA256 "* && " ${acc13[*]} " != *CCM_8* ]] &&
    ok "$CASE (${acc13[*]})" || fail "$CASE" "accepted: ${acc13[*]:-none}"
case_ "the configured cipher list expands to strong ciphers only"
conf="$STACK_DIR/data/nginx/conf/nginx.conf"
list=$(sed -n 's/^[[:space:]]*ssl_ciphers[[:space:]]*\([^;]*\);.*/\1/p' "$conf")
weak=$(openssl ciphers -v "$list" 2>/dev/null | grep -viE '^TLS_' |
    grep -E 'Enc=(RC4|3DES|DES|None|SEED|IDEA|Camellia)|Mac=(MD5|SHA1)|Kx=(RSA|DH|PSK)[[:space:]]|Au=None|export' )
n=$(openssl ciphers -v "$list" 2>/dev/null | grep -cvE '^TLS_')
[ -n "$list" ] && [ "$n" -gt 0 ] && [ -z "$weak" ] && ok "$CASE ($n ciphers)" || fail "$CASE" "list '$list'; weak: $weak"
case_ "ssl_protocols names TLSv1.2 and TLSv1.3 only"
p=$(sed -n 's/^[[:space:]]*ssl_protocols[[:space:]]*\([^;]*\);.*/\1/p' "$conf" | xargs)
[ "$p" = "TLSv1.2 TLSv1.3" ] && ok "$CASE" || fail "$CASE" "ssl_protocols '$p'"
kill "$CTRL_PID" 2>/dev/null
wait "$CTRL_PID" 2>/dev/null

# --- HTTP/2 by ALPN -----------------------------------------------------------------
case_ "HTTP/2 is offered by ALPN"
r=$(echo | timeout 5 openssl s_client -connect "$HOST:$HTTPS_PORT" -alpn h2,http/1.1 2>&1 | sed -n 's/^ALPN protocol: //p')
[ "$r" = h2 ] && ok "$CASE" || fail "$CASE" "ALPN chose '$r'"
case_ "curl --http2 speaks HTTP/2"
v=$(curl -sk --http2 -o /dev/null -w '%{http_version}' "$BASE/api/v1/health")
[ "$v" = 2 ] && ok "$CASE" || fail "$CASE" "http_version $v"
case_ "HTTP/1.1 still works"
v=$(curl -sk --http1.1 -o /dev/null -w '%{http_version} %{http_code}' "$BASE/api/v1/health")
[ "$v" = "1.1 200" ] && ok "$CASE" || fail "$CASE" "got $v"

# --- security headers ---------------------------------------------------------------
# on_headers NAME curl-args...: every security header on that answer
headers_ok() {
	local name=$1 h hsts
	shift
	h=$(curl -sk -o /dev/null -D - --max-time 10 "$@" | tr -d '\r')
	case_ "security headers: $name ($(head -1 <<<"$h" | cut -d' ' -f2))"
	hsts=$(grep -i '^strict-transport-security:' <<<"$h" | grep -oE 'max-age=[0-9]+' | cut -d= -f2)
	if [ "${hsts:-0}" -ge 31536000 ] &&
	    grep -qi '^x-content-type-options: nosniff$' <<<"$h" &&
	    grep -qi '^referrer-policy: ' <<<"$h" &&
	    grep -qiE '^x-frame-options: (deny|sameorigin)$' <<<"$h" &&
	    ! grep -qiE '^server: .*[0-9]' <<<"$h"; then
		ok "$CASE"
	else
		fail "$CASE" "headers: $(tr '\n' '|' <<<"$h" | head -c 500)"
	fi
}
head -c 1100000 /dev/zero | tr '\0' 'a' > "$STACK_DIR/big"
headers_ok "API 200" "$BASE/api/v1/health"
headers_ok "API 401" "$BASE/api/v1/devices"
headers_ok "API 404" "$BASE/api/v1/nope"
headers_ok "API 405" -X DELETE "$BASE/api/v1/health"
headers_ok "API 400 (bad JSON)" -X POST -H 'Content-Type: application/json' -d '{' "$BASE/api/v1/auth/register"
headers_ok "nginx 413" -X POST -H 'Content-Type: application/json' --data-binary "@$STACK_DIR/big" "$BASE/api/v1/auth/login"
headers_ok "nginx 404 (static)" "$BASE/no-such-file.html"
headers_ok "nginx 400 (NUL in path)" "$BASE/api/v1/sessions/a%00b"
headers_ok "nginx 401 (admin)" "$BASE/admin/"
headers_ok "nginx 401 (admin API)" "$BASE/api/v1/admin/stats"
headers_ok "nginx 405 (static)" -X DELETE "$BASE/index.html"
headers_ok "HTTP/2 API 200" --http2 "$BASE/api/v1/info"

# tandemd gone: nginx's 502 page
case_ "nginx 502 while tandemd is down is a problem document with the headers"
pids=()
for p in $(pgrep -f 'tandemd serve'); do
	{ tr '\0' '\n' < "/proc/$p/environ"; } 2>/dev/null | grep -qx "TANDEM_DATA_DIR=$STACK_DIR/data" && pids+=("$p")
done
if [ ${#pids[@]} -eq 0 ]; then
	fail "$CASE" "no tandemd process of this stack found"
else
	kill -STOP "${pids[@]}"
	# a stopped master still holds the socket: remove it so nginx fails at once
	sockets_away
	call GET /api/v1/health
	st=$STATUS ctype=$CT
	headers_ok "nginx 502" "$BASE/api/v1/health"
	sockets_back
	kill -CONT "${pids[@]}"
	stack_wait_back
	case_ "nginx 502 while tandemd is down is a problem document"
	[ "$st" = 502 ] && [ "$ctype" = application/problem+json ] && ok "$CASE" || fail "$CASE" "got $st $ctype"
fi

# --- plain HTTP only redirects --------------------------------------------------------
for m in GET POST PUT PATCH DELETE HEAD; do
	for p in / /api/v1/health "/api/v1/sync/pull?since=0&x=%2F" /api/v1/auth/register /admin/ /metrics /index.html; do
		case_ "plain HTTP $m $p is only a 308"
		args=(-s -o "$STACK_DIR/http-body" -D "$STACK_DIR/http-head" -w '%{http_code} %{redirect_url}' --max-time 10)
		if [ "$m" = HEAD ]; then args+=(-I); else args+=(-X "$m"); fi
		[[ "$m" == P* ]] && args+=(-H 'Content-Type: application/json' -d '{"email":"plain@example.com","password":"password123"}')
		r=$(curl "${args[@]}" "$HTTP_BASE$p")
		if [ "$r" = "308 https://127.0.0.1:$HTTPS_PORT$p" ] &&
		    ! grep -qE '"(status|version|code)"|<title>tandem' "$STACK_DIR/http-body"; then
			ok "$CASE"
		else
			fail "$CASE" "got '$r': $(head -c 200 "$STACK_DIR/http-body")"
		fi
	done
done
case_ "a register sent over plain HTTP created nothing"
call POST /api/v1/auth/login '{"email":"plain@example.com","password":"password123","device":{"id":"d","platform":"x","name":"x"}}'
check 401 application/problem+json '.code' '"INVALID_CREDENTIALS"'
case_ "HTTP/1.0 without Host is only a redirect"
r=$(printf 'GET /api/v1/health HTTP/1.0\r\n\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/$HOST/$HTTP_PORT; cat >&3; cat <&3")
[[ "$(head -1 <<<"$r")" == *" 308 "* ]] && ! grep -q '"status"' <<<"$r" && ok "$CASE" || fail "$CASE" "$(head -c 200 <<<"$r")"

finish
