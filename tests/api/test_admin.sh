#!/usr/bin/env bash
# Admin: the status document after a known set of API calls, who may read
# it (nginx basic auth; ROUTE_ADMIN), /metrics as Prometheus text, the
# per-device rate limit and nginx's /auth/ limit, and backup + restore.
. "$(dirname "$0")/lib.sh"

PW="password-admin-1"
ADMIN="admin:$ADMIN_PASSWORD"
WORK=$(mktemp -d /tmp/tandem-admin.XXXXXX)
trap 'stack_stop; pg_test_cleanup; rm -rf "$WORK"' EXIT
if engine_is pg; then
	# requests per minute, latency, waiting polls and /metrics are each
	# host's own (a Prometheus scrapes every host): one host here, so that
	# every request of the test is counted where it is read
	export TANDEM_HOSTS=1
	echo "  note test_admin (postgresql): one host; the counters are per host"
fi
# psql on database $1 of the run's cluster, rows as a|b lines
pg_sql() {
	"$pg_bin/psql" -h "$pg_dir" -U "$pg_user" -d "$1" -XAtq -F '|' -c "$2"
}

# --- helpers ----------------------------------------------------------------

# prom_check FILE: validate Prometheus text exposition 0.0.4.  Prints the
# problems found and fails when there is any.
prom_check() {
	python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
errs = []
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
label_re = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample_re = re.compile(r"^(%s)(\{(?:%s(?:,%s)*,?)?\})? (\S+)(?: (-?\d+))?$"
    % (name_re, label_re, label_re))
value_re = re.compile(r"^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]Inf|NaN)$")
types, helps, seen_series = {}, set(), set()
order, samples = [], []
if not text.endswith("\n"):
    errs.append("does not end with a newline")
def family(name):
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf) and types.get(name[:-len(suf)]) in ("histogram", "summary"):
            return name[:-len(suf)]
    return name
for n, line in enumerate(text.split("\n")[:-1], 1):
    if line.startswith("#"):
        m = re.match(r"^# (HELP|TYPE) (%s) (.*)$" % name_re, line)
        if not m:
            continue        # a plain comment
        kind, name, rest = m.groups()
        if kind == "TYPE":
            if rest not in ("counter", "gauge", "histogram", "summary", "untyped"):
                errs.append("line %d: bad type %r" % (n, rest))
            if name in types:
                errs.append("line %d: second TYPE for %s" % (n, name))
            if name in order:
                errs.append("line %d: TYPE of %s after its samples" % (n, name))
            types[name] = rest
        else:
            if name in helps:
                errs.append("line %d: second HELP for %s" % (n, name))
            helps.add(name)
        continue
    if line == "":
        errs.append("line %d: empty line" % n)
        continue
    m = sample_re.match(line)
    if not m or not value_re.match(m.group(3)):
        errs.append("line %d: not `name{labels} value`: %r" % (n, line))
        continue
    name, labels, value = m.group(1), m.group(2) or "", m.group(3)
    fam = family(name)
    if fam not in types:
        errs.append("line %d: %s has no TYPE line" % (n, fam))
    if order and order[-1] != fam and fam in order:
        errs.append("line %d: samples of %s are not together" % (n, fam))
    if not order or order[-1] != fam:
        order.append(fam)
    if (name, labels) in seen_series:
        errs.append("line %d: duplicate series %s%s" % (n, name, labels))
    seen_series.add((name, labels))
    lab = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels))
    v = float(value)
    if types.get(fam) == "counter" and not v >= 0:
        errs.append("line %d: counter %s is %s" % (n, name, value))
    samples.append((fam, name, lab, v))
# histograms: per label set, cumulative buckets ending in +Inf == _count
for fam, t in types.items():
    if t != "histogram":
        continue
    groups = {}
    for f, name, lab, v in samples:
        if f != fam:
            continue
        key = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
        g = groups.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if name == fam + "_bucket":
            if "le" not in lab:
                errs.append("%s: bucket without le" % fam)
                continue
            g["buckets"].append((float(lab["le"]), v, lab["le"]))
        elif name == fam + "_sum":
            g["sum"] = v
        elif name == fam + "_count":
            g["count"] = v
        else:
            errs.append("%s: stray sample %s" % (fam, name))
    if not groups:
        errs.append("%s: histogram without samples" % fam)
    for key, g in groups.items():
        b = g["buckets"]
        if not b or b[-1][2] != "+Inf":
            errs.append("%s%s: buckets do not end with le=\"+Inf\"" % (fam, key))
            continue
        if any(b[i][0] >= b[i + 1][0] for i in range(len(b) - 1)):
            errs.append("%s%s: le not increasing" % (fam, key))
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            errs.append("%s%s: buckets not cumulative" % (fam, key))
        if g["count"] is None or g["sum"] is None:
            errs.append("%s%s: _sum or _count missing" % (fam, key))
        elif b[-1][1] != g["count"]:
            errs.append("%s%s: +Inf bucket %s != _count %s" % (fam, key, b[-1][1], g["count"]))
for e in errs:
    print(e)
sys.exit(1 if errs else 0)
PY
}

# prom_value NAME [LABELS]: a sample's value in $RBODY ("" when absent).
prom_value() {
	local series=$1
	[ $# -gt 1 ] && series="$1{$2}"
	printf '%s\n' "$RBODY" | while read -r n v; do
		[ "$n" = "$series" ] && echo "$v"
	done
}

# fcgi PATH [NAME=VALUE...]: one GET straight to tandemd's FastCGI socket,
# bypassing nginx; prints the response's Status line's code and body.
fcgi() {
	python3 - "$STACK_DIR/data/run/tandemd.sock" "$@" <<'PY'
import socket, struct, sys
sock_path, path, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
def rec(t, content):
    return struct.pack("!BBHHBx", 1, t, 1, len(content), 0) + content
def ln(n):
    return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)
params = {"REQUEST_METHOD": "GET", "DOCUMENT_URI": path, "SCRIPT_NAME": path,
          "QUERY_STRING": "", "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": ""}
for kv in extra:
    k, v = kv.split("=", 1)
    params[k] = v
body = b"".join(ln(len(k)) + ln(len(v)) + k.encode() + v.encode()
                for k, v in ((k, v) for k, v in params.items()))
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sock_path)
s.sendall(rec(1, struct.pack("!HB5x", 1, 0)) + rec(4, body) + rec(4, b"") + rec(5, b""))
buf, out = b"", b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
    while len(buf) >= 8:
        _, t, _, clen, plen = struct.unpack("!BBHHB", buf[:7])
        if len(buf) < 8 + clen + plen:
            break
        if t == 6:
            out += buf[8:8 + clen]
        buf = buf[8 + clen + plen:]
        if t == 3:
            buf = None
            break
    if buf is None:
        break
head, _, payload = out.decode().partition("\r\n\r\n")
status = head.split("\r\n")[0].split()[1]
print(status, payload.strip())
PY
}

# stack_start_retry ARGS: stack_start, tried again (up to 3 times) when
# nginx lost its random port to another test running at the same time.
stack_start_retry() {
	local f=$FAILED try
	for try in 1 2 3; do
		if stack_start "$@" >"$WORK/start.log" 2>&1; then
			FAILED=$f
			return 0
		fi
		grep -q 'Address already in use' "$WORK/start.log" || break
		FAILED=$f
		stack_stop
	done
	cat "$WORK/start.log"
	return 1
}

# stack_stop_checked: stop the stack; when tandemd is built with
# sanitizers, its log must hold no report (LeakSanitizer writes at exit).
stack_stop_checked() {
	local i=0
	if [ -n "$STACK_PID" ]; then
		kill -TERM "$STACK_PID" 2>/dev/null
		while kill -0 "$STACK_PID" 2>/dev/null && [ $i -lt 150 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	fi
	if [ -n "$STACK_DIR" ] && grep -q __asan_init "$TANDEMD" 2>/dev/null; then
		if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$STACK_DIR/stack.log"; then
			fail "sanitizers" "$(grep -m3 -E 'AddressSanitizer|LeakSanitizer|runtime error' "$STACK_DIR/stack.log")"
		else
			ok "sanitizers: no report in the stack log"
		fi
	fi
	stack_stop
}

# stats: the admin document into $RBODY.
stats() {
	call GET /api/v1/admin/stats "" -u "$ADMIN"
}

# --- a known set of API calls -------------------------------------------------
stack_start_retry TANDEM_SEEN_WRITE_MS=0 || { finish; exit 1; }
register alice@example.com "$PW"
register bob@example.com "$PW"
login A1 alice@example.com "$PW" a-phone
login A2 alice@example.com "$PW" a-laptop
login B1 bob@example.com "$PW" b-phone
login A3 alice@example.com "$PW" a-tablet
TOKEN=$A3
case_ "a-tablet logs out (revoked: not counted)"
call POST /api/v1/auth/logout
check 204

TOKEN=$A1
case_ "alice creates sessions s1, s2 and kills s2"
call POST /api/v1/sessions '{"id":"s1","title":"one"}'
check 201 application/json
call POST /api/v1/sessions '{"id":"s2"}'
check 201 application/json
call POST /api/v1/sessions/s2/kill '{"reason":"done"}'
check 200 application/json '.session.killed_at|type' '"number"'
case_ "alice sends two messages to s1"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m1","body":"hello"}'
check 201 application/json
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m2","body":{"n":2}}'
check 201 application/json
case_ "a retry stores nothing new"
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m2","body":{"n":2}}'
check 200 application/json '.duplicate' '"retry"'

TOKEN=$B1
case_ "bob creates s1 and sends a message"
call POST /api/v1/sessions '{"id":"s1"}'
check 201 application/json
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m1","body":"hi"}'
check 201 application/json

TOKEN=$A1
case_ "alice pushes three records"
call POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"n1","base_version":0,"data":{"t":"a"}},{"collection":"notes","id":"n2","base_version":0,"data":{"t":"b"}},{"collection":"todo","id":"t1","base_version":0,"data":{"done":false}}]}'
check 200 application/json '[.results[].status]' '["applied","applied","applied"]'
N1_V=$(jqr '.results[0].version')
N2_V=$(jqr '.results[1].version')
case_ "alice deletes one (a tombstone is not a record)"
call POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"n2\",\"base_version\":$N2_V,\"deleted\":true}]}"
check 200 application/json '.results[0].status' '"applied"'
case_ "a stale change from the laptop is stored as a conflict"
TOKEN=$A2
call POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"n1","base_version":1,"data":{"t":"laptop"}}]}'
check 200 application/json '.results[0].status' '"conflict"'

case_ "bob lists his devices"
TOKEN=$B1
call GET /api/v1/devices
check 200 application/json '.devices|length' '1'
TOKEN=""

# --- who may read the status document -------------------------------------
case_ "stats without credentials is 401 from nginx"
call GET /api/v1/admin/stats
check 401 -
[[ "$(header WWW-Authenticate)" == Basic* ]] && ok "$CASE: Basic challenge" ||
    fail "$CASE" "WWW-Authenticate '$(header WWW-Authenticate)'"
case_ "stats with a wrong password is 401"
call GET /api/v1/admin/stats "" -u "admin:wrong-password"
check 401 -
case_ "stats with another user name is 401"
call GET /api/v1/admin/stats "" -u "alice:$ADMIN_PASSWORD"
check 401 -
case_ "an API bearer token does not open the admin area"
TOKEN=$A1 call GET /api/v1/admin/stats
check 401 -
for p in /api/v1//admin/stats /api/v1/%61dmin/stats /api/v1/admin/./stats \
    "/api/v1/x/../admin/stats"; do
	case_ "path trick $p still needs the admin login"
	code=$(curl -sk --path-as-is -o /dev/null -w '%{http_code}' "$BASE$p")
	[ "$code" = 401 ] && ok "$CASE" || fail "$CASE" "got $code"
done
case_ "another spelling reaches no admin route (404)"
call GET /api/v1/ADMIN/stats "" -H "Tandem-Admin: 1"
check 404 application/problem+json '.code' '"NOT_FOUND"'

case_ "straight to FastCGI without nginx's admin location: 404"
out=$(fcgi /api/v1/admin/stats)
[[ "$out" == 404* && "$out" == *'"NOT_FOUND"'* ]] && ok "$CASE" || fail "$CASE" "got ${out:0:200}"
case_ "straight to FastCGI with a client's HTTP_TANDEM_ADMIN header: 404"
out=$(fcgi /api/v1/admin/stats HTTP_TANDEM_ADMIN=1)
[[ "$out" == 404* ]] && ok "$CASE" || fail "$CASE" "got ${out:0:200}"
case_ "straight to FastCGI /metrics: 404"
out=$(fcgi /metrics)
[[ "$out" == 404* ]] && ok "$CASE" || fail "$CASE" "got ${out:0:200}"
case_ "FastCGI with TANDEM_ADMIN=1 (what nginx's location sets): 200"
out=$(fcgi /api/v1/admin/stats TANDEM_ADMIN=1)
[[ "$out" == 200* ]] && ok "$CASE" || fail "$CASE" "got ${out:0:200}"

# --- the document ---------------------------------------------------------
call GET /api/v1/health
VERSION=$(jqr .version)
case_ "stats has exactly the contract's members (+ workers)"
stats
check 200 application/json 'keys' '["conflicts_open","db_bytes","devices","errors_per_min","latency_ms","longpoll_waiting","messages","records","requests_per_min","sessions","uptime_s","users","version","workers"]' \
    '.devices|keys' '["online","total"]' '.sessions|keys' '["active","killed"]' \
    '.latency_ms|keys' '["p50","p95","p99"]' '[.workers[]|keys]|unique' '[["pid","requests","uptime_s"]]'
case_ "stats counts what the calls made"
check 200 application/json '.version' "\"$VERSION\"" '.users' '2' \
    '.devices' '{"online":3,"total":3}' '.sessions' '{"active":2,"killed":1}' \
    '.messages' '3' '.records' '2' '.conflicts_open' '1' '.longpoll_waiting' '0' \
    '.errors_per_min' '0'
case_ "stats types and ranges"
check 200 application/json '[.uptime_s, .db_bytes, .requests_per_min]|map(type)' '["number","number","number"]' \
    '.db_bytes > 50000' 'true' '.uptime_s >= 0' 'true' '.requests_per_min >= 25' 'true' \
    '.latency_ms.p50 > 0 and .latency_ms.p50 <= .latency_ms.p95 and .latency_ms.p95 <= .latency_ms.p99' 'true'
case_ "stats lists each worker process: live pids, requests served"
check 200 application/json '.workers|length' '2' '([.workers[].requests]|add) >= .requests_per_min' 'true' \
    '[.workers[].uptime_s >= 0]|all' 'true'
alive=1
for pid in $(jqr '.workers[].pid'); do kill -0 "$pid" 2>/dev/null || alive=0; done
[ $alive = 1 ] && ok "worker pids are live processes" || fail "worker pids" "$(jqr '[.workers[].pid]')"
case_ "db_bytes is the database file's size"
SZ=$(jqr .db_bytes)
if engine_is pg; then
	PGSZ=$(db_sql 'SELECT pg_database_size(current_database())')
	# the size moves with every write; within a few pages
	[ $((SZ - PGSZ)) -lt 65536 ] && [ $((PGSZ - SZ)) -lt 65536 ] &&
	    ok "$CASE (pg_database_size)" || fail "$CASE" "$SZ vs $PGSZ"
else
	PAGES=$(sqlite3 "$STACK_DIR/data/tandem.db" 'PRAGMA page_count' 2>/dev/null)
	PSZ=$(sqlite3 "$STACK_DIR/data/tandem.db" 'PRAGMA page_size' 2>/dev/null)
	[ "$SZ" = "$((PAGES * PSZ))" ] && ok "$CASE" || fail "$CASE" "$SZ vs $PAGES x $PSZ"
fi

case_ "requests per minute grows by the requests made"
stats
R0=$(jqr .requests_per_min)
for i in 1 2 3 4 5; do call GET /api/v1/health; done
stats
R1=$(jqr .requests_per_min)
# exact while nothing has left the one-minute window yet
if [ "$(jqr .uptime_s)" -lt 55 ]; then
	[ "$R1" = "$((R0 + 6))" ] && ok "$CASE" || fail "$CASE" "$R0 -> $R1, want +6"
else
	[ "$R1" -ge 6 ] && ok "$CASE" || fail "$CASE" "$R0 -> $R1"
fi

case_ "a long poll waiting shows in longpoll_waiting, then leaves"
TOKEN=$B1
call GET /api/v1/events
CUR=$(jqr .cursor)
curl -sk -o "$WORK/poll" -H "Authorization: Bearer $B1" \
    "$BASE/api/v1/events?after=$CUR&timeout=20" &
POLL=$!
TOKEN=""
n=""
for i in $(seq 50); do
	stats
	n=$(jqr .longpoll_waiting)
	[ "$n" = 1 ] && break
	sleep 0.1
done
[ "$n" = 1 ] && ok "$CASE: 1 waiting" || fail "$CASE" "longpoll_waiting $n"
call GET /metrics
[ "$(prom_value tandem_longpoll_waiting)" = 1 ] && ok "metrics: tandem_longpoll_waiting 1" ||
    fail "metrics: tandem_longpoll_waiting" "$(prom_value tandem_longpoll_waiting)"
TOKEN=$B1
call POST /api/v1/events '{"type":"app.ping","data":{}}'
TOKEN=""
wait "$POLL"
[ "$(jq -r '.events[0].type' "$WORK/poll")" = app.ping ] && ok "the poll woke" || fail "the poll woke" "$(cat "$WORK/poll")"
stats
check 200 application/json '.longpoll_waiting' '0'

case_ "errors_per_min counts 5xx answers only; 4xx are not errors"
call GET /api/v1/nope
stats
check 200 application/json '.errors_per_min' '0'

# --- /metrics -------------------------------------------------------------
case_ "/metrics from loopback without credentials: 200, version 0.0.4"
call GET /metrics
check 200 -
ct=$(header Content-Type)
[ "$ct" = "text/plain; version=0.0.4" ] && ok "$CASE: content type" || fail "$CASE" "Content-Type '$ct'"
printf '%s\n' "$RBODY" > "$WORK/metrics.txt"
case_ "/metrics parses as Prometheus text"
if out=$(prom_check "$WORK/metrics.txt"); then ok "$CASE"; else fail "$CASE" "$out"; fi
case_ "/metrics has the contract's families with the right types"
for f in "tandem_http_requests_total counter" "tandem_http_request_duration_seconds histogram" \
    "tandem_longpoll_waiting gauge" "tandem_devices_online gauge" "tandem_db_bytes gauge" \
    "tandem_users gauge" "tandem_messages gauge" "tandem_conflicts_open gauge" \
    "tandem_uptime_seconds gauge" "tandem_worker_requests_total counter"; do
	grep -qx "# TYPE $f" "$WORK/metrics.txt" && ok "TYPE $f" || fail "TYPE $f" "missing"
done
case_ "/metrics values agree with the stats document"
[ "$(prom_value tandem_users)" = 2 ] && [ "$(prom_value tandem_devices_online)" = 3 ] &&
    [ "$(prom_value tandem_devices)" = 3 ] && [ "$(prom_value tandem_messages)" = 3 ] &&
    [ "$(prom_value tandem_sessions 'state="active"')" = 2 ] &&
    [ "$(prom_value tandem_sessions 'state="killed"')" = 1 ] &&
    [ "$(prom_value tandem_records 'state="live"')" = 2 ] &&
    [ "$(prom_value tandem_records 'state="tombstone"')" = 1 ] &&
    [ "$(prom_value tandem_conflicts_open)" = 1 ] && [ "$(prom_value tandem_db_up)" = 1 ] &&
    [ "$(prom_value tandem_db_bytes)" -gt 50000 ] &&
    ok "$CASE" || fail "$CASE" "$(grep -v '^#' "$WORK/metrics.txt" | head -20)"
case_ "/metrics counts requests by status exactly"
c200=$(prom_value tandem_http_requests_total 'status="200"')
c404=$(prom_value tandem_http_requests_total 'status="404"')
call GET /api/v1/health
call GET /api/v1/health
call GET /api/v1/health
call GET /api/v1/nope
call GET /api/v1/nope/either
call GET /metrics
d200=$(( $(prom_value tandem_http_requests_total 'status="200"') - c200 ))
d404=$(( $(prom_value tandem_http_requests_total 'status="404"') - c404 ))
# the three health calls and the earlier /metrics itself
[ "$d200" = 4 ] && [ "$d404" = 2 ] && ok "$CASE" || fail "$CASE" "200 +$d200 (want 4), 404 +$d404 (want 2)"
case_ "the histogram's _count is every request but waited long polls"
cnt=$(prom_value tandem_http_request_duration_seconds_count)
polls=$(prom_value tandem_longpolls_total)
tot=$(printf '%s\n' "$RBODY" | awk '/^tandem_http_requests_total/ { s += $2 } END { print s }')
[ "$polls" = 1 ] && [ "$((cnt + polls))" = "$tot" ] && ok "$CASE" ||
    fail "$CASE" "count $cnt + polls $polls != total $tot"
case_ "the validator rejects broken text (it can fail)"
sed 's/^\(tandem_http_request_duration_seconds_bucket{le="+Inf"}\) .*/\1 0/' "$WORK/metrics.txt" > "$WORK/bad1.txt"
printf 'tandem_x{a="1"} 1\n' >> "$WORK/bad1.txt"
grep -v '^# TYPE tandem_users' "$WORK/metrics.txt" > "$WORK/bad2.txt"
! prom_check "$WORK/bad1.txt" >/dev/null && ! prom_check "$WORK/bad2.txt" >/dev/null &&
    ok "$CASE" || fail "$CASE" "a broken exposition passed"
case_ "/metrics with admin credentials: 200"
call GET /metrics "" -u "$ADMIN"
check 200 -

# --- the sample site for a real domain, in front of this tandemd ------------
case_ "nginx/tandem.site.conf.sample passes nginx -t and serves"
SITE="$WORK/site"
mkdir -p "$SITE/tmp" "$SITE/acme"
openssl passwd -6 "$ADMIN_PASSWORD" | sed 's/^/admin:/' > "$SITE/htpasswd"
# site_render: the sample with its paths pointed at this stack, on
# loopback ports $P80 and $P443, inside a minimal nginx.conf.
site_render() {
	sed -e "s|/etc/letsencrypt/live/sync.example.com/fullchain.pem|$STACK_DIR/data/tls/cert.pem|" \
	    -e "s|/etc/letsencrypt/live/sync.example.com/chain.pem|$STACK_DIR/data/tls/cert.pem|" \
	    -e "s|/etc/letsencrypt/live/sync.example.com/privkey.pem|$STACK_DIR/data/tls/key.pem|" \
	    -e "s|/usr/local/share/tandem/nginx|$TOP/nginx|g" \
	    -e "s|/usr/local/share/tandem/public|$TOP/public|g" \
	    -e "s|/etc/tandem/htpasswd|$SITE/htpasswd|g" \
	    -e "s|/var/www/letsencrypt|$SITE/acme|" \
	    -e "s|/run/tandem/tandemd.sock|$STACK_DIR/data/run/tandemd.sock|" \
	    -e "s|listen 80;|listen 127.0.0.1:$P80;|" -e "s|listen 443 ssl http2;|listen 127.0.0.1:$P443 ssl http2;|" \
	    -e '/listen \[::\]/d' -e '/ssl_stapling/d' \
	    "$TOP/nginx/tandem.site.conf.sample" > "$SITE/site.conf"
	{
		[ "$(id -u)" = 0 ] && echo "user $(id -un) $(id -gn);"
		echo "pid $SITE/nginx.pid; error_log $SITE/error.log warn; daemon off;"
		echo "events { worker_connections 256; }"
		echo "http { include $TOP/nginx/mime.types; access_log off;"
		echo "  client_body_temp_path $SITE/tmp; fastcgi_temp_path $SITE/tmp; proxy_temp_path $SITE/tmp;"
		echo "  uwsgi_temp_path $SITE/tmp; scgi_temp_path $SITE/tmp;"
		echo "  include $SITE/site.conf; }"
	} > "$SITE/nginx.conf"
}
# site_start: run it; tried again on other ports when one was taken.
site_start() {
	local try i
	for try in 1 2 3; do
		P80=$(free_port)
		P443=$(free_port)
		site_render
		: > "$SITE/error.log"
		nginx -p "$SITE" -c "$SITE/nginx.conf" 2>>"$SITE/error.log" &
		SITE_PID=$!
		for i in $(seq 50); do
			curl -sk -o /dev/null "https://127.0.0.1:$P443/" && return 0
			kill -0 "$SITE_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill "$SITE_PID" 2>/dev/null
		wait "$SITE_PID" 2>/dev/null
		grep -q 'Address already in use' "$SITE/error.log" || return 1
	done
	return 1
}
P80=$(free_port)
P443=$(free_port)
site_render
if ! out=$(nginx -t -q -p "$SITE" -c "$SITE/nginx.conf" 2>&1); then
	fail "$CASE" "nginx -t: $out"
elif ! site_start; then
	fail "$CASE" "nginx did not start: $(tail -3 "$SITE/error.log")"
else
	ok "$CASE: nginx -t"
	S="https://127.0.0.1:$P443"
	c1=$(curl -sk -o "$WORK/site-health" -w '%{http_code}' -H 'Host: sync.example.com' "$S/api/v1/health")
	c2=$(curl -sk -o "$WORK/site-401" -D "$WORK/site-401h" -w '%{http_code} %{content_type}' "$S/api/v1/admin/stats")
	[ "$(jq -r .code "$WORK/site-401")" = INVALID_CREDENTIALS ] &&
	    grep -qi '^WWW-Authenticate: Basic realm="tandem admin"' "$WORK/site-401h" || c2="$c2 (body or challenge wrong)"
	c8=$(curl -sk -o /dev/null -D "$WORK/site-401p" -w '%{http_code} %{content_type}' "$S/admin/")
	grep -qi '^WWW-Authenticate: Basic' "$WORK/site-401p" || c8="$c8 (no challenge)"
	c3=$(curl -sk -o "$WORK/site-stats" -w '%{http_code}' -u "$ADMIN" "$S/api/v1/admin/stats")
	c4=$(curl -sk -o /dev/null -w '%{http_code}' "$S/metrics")
	c5=$(curl -sk -o /dev/null -w '%{http_code}' -u "$ADMIN" "$S/admin/")
	c6=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: evil.example' "http://127.0.0.1:$P80/api/v1/health")
	c7=$(curl -sk -o "$WORK/site-404" -w '%{http_code} %{content_type}' "$S/api/v1/nope")
	c9=$(curl -sk -o /dev/null -w '%{http_code} %{content_type}' "$S/api/v1/sessions/a%00b")
	c10=$(curl -sk -o /dev/null -w '%{http_code} %{content_type}' "$S/api/v1/health?x=$(head -c 9000 /dev/zero | tr '\0' a)")
	c11=$(curl -sk -o /dev/null -w '%{http_code} %{content_type}' -X TRACE "$S/")
	c12=$(curl -sk -o /dev/null -w '%{http_code} %{content_type}' "$S/.tandem-errors/400")
	kill "$SITE_PID" 2>/dev/null
	wait "$SITE_PID" 2>/dev/null
	[ "$c1" = 200 ] && [ "$(jq -r .status "$WORK/site-health")" = ok ] &&
	    [ "$c2" = "401 application/problem+json" ] && [ "$c8" = "401 application/problem+json" ] &&
	    [ "$c3" = 200 ] && [ "$(jq -r .users "$WORK/site-stats")" = 2 ] && [ "$c4" = 200 ] &&
	    [ "$c5" = 200 ] && [ "$c6" = "308 https://sync.example.com/api/v1/health" ] &&
	    [ "$c7" = "404 application/problem+json" ] && [ "$c9" = "400 application/problem+json" ] &&
	    [ "$c10" = "414 application/problem+json" ] && [ "$c11" = "405 application/problem+json" ] &&
	    [ "$c12" = "404 application/problem+json" ] &&
	    ok "$CASE: health, admin 401 problem/200, metrics, page, 308 to the server name, 404, 400, 414, TRACE, error location" ||
	    fail "$CASE" "health $c1, stats '$c2'/$c3, metrics $c4, page $c5 (anon '$c8'), http '$c6', 404 '$c7', NUL '$c9', 414 '$c10', TRACE '$c11', error location '$c12'"
fi

# --- backup while running, then restore ------------------------------------
RESTORE="$WORK/restore"
mkdir -p "$RESTORE/data"
cp "$STACK_DIR/data/jwt.secret" "$RESTORE/data/jwt.secret"
snap() { # the API's answers to compare after the restore, minus presence
	local t=$1
	TOKEN=$t call GET /api/v1/devices
	jqr '.devices|map(del(.last_seen_at, .online, .stale))'
	TOKEN=$t call GET '/api/v1/sessions?state=all'
	jqr .
	TOKEN=$t call GET /api/v1/sessions/s1/messages
	jqr .
	TOKEN=$t call GET '/api/v1/sync/pull?since=0'
	jqr .
	TOKEN=$t call GET '/api/v1/conflicts?status=all'
	jqr .
	TOKEN=$t call GET /api/v1/collections
	jqr .
}
snap "$A1" > "$WORK/before-a"
snap "$B1" > "$WORK/before-b"
stats
jqr '[.users, .devices.total, .sessions, .messages, .records, .conflicts_open]' > "$WORK/before-stats"

if engine_is pg; then
case_ "tandemd backup on PostgreSQL points to pg_dump and exits non-zero"
out=$(TANDEM_DB_URL="$STACK_DB_URL" "$TANDEMD" backup "$WORK/backup.db" 2>&1)
rc=$?
[ $rc != 0 ] && [[ "$out" == *pg_dump* ]] && [ ! -e "$WORK/backup.db" ] &&
    ok "$CASE" || fail "$CASE" "rc $rc: $out"
case_ "pg_dump while the server runs"
"$pg_bin/pg_dump" -h "$pg_dir" -U "$pg_user" -Fc -f "$WORK/backup.dump" "$PG_DB" &&
    ok "$CASE" || fail "$CASE" "pg_dump failed"
case_ "a pg_dump taken during writes is consistent"
( for i in $(seq 60); do
	curl -sk -o /dev/null -H "Authorization: Bearer $B1" -H 'Content-Type: application/json' \
	    --data-binary "{\"type\":\"app.tick\",\"data\":{\"i\":$i}}" "$BASE/api/v1/events"
done ) &
WRITER=$!
sleep 0.2
"$pg_bin/pg_dump" -h "$pg_dir" -U "$pg_user" -Fc -f "$WORK/busy.dump" "$PG_DB"
rc=$?
wait "$WRITER"
BUSY="busy_$$_$RANDOM"
pg_cluster_createdb "$BUSY" && "$pg_bin/pg_restore" -h "$pg_dir" -U "$pg_user" \
    -d "$BUSY" "$WORK/busy.dump"
ticks="SELECT count(*) FROM events WHERE type = 'app.tick'"
n_b=$(pg_sql "$BUSY" "$ticks")
n_l=$(db_sql "$ticks")
seq_b=$(pg_sql "$BUSY" "SELECT event_seq = (SELECT max(seq) FROM events e WHERE e.user_id = users.id) FROM users WHERE email = 'bob@example.com'")
prefix=$(pg_sql "$BUSY" "SELECT string_agg(seq || data, ',' ORDER BY seq) FROM events WHERE type = 'app.tick'")
prefix_l=$(db_sql "SELECT string_agg(seq || data, ',' ORDER BY seq) FROM (SELECT seq, data FROM events WHERE type = 'app.tick' ORDER BY seq LIMIT ${n_b:-0}) t")
[ $rc = 0 ] && [ "$n_l" = 60 ] && [ "$seq_b" = t ] && [ "$prefix" = "$prefix_l" ] &&
    ok "$CASE ($n_b of 60 events in it)" || fail "$CASE" "rc $rc, backup $n_b, live $n_l, seq ok $seq_b"
pg_as "$pg_bin/dropdb" --force -h "$pg_dir" -U "$pg_user" "$BUSY"
stack_stop_checked

case_ "restore: pg_restore into a new database, start on it"
RESTORED="restored_$$_$RANDOM"
pg_cluster_createdb "$RESTORED" && "$pg_bin/pg_restore" -h "$pg_dir" -U "$pg_user" \
    -d "$RESTORED" "$WORK/backup.dump" &&
    stack_start_retry TANDEM_DATA_DIR="$RESTORE/data" TANDEM_SEEN_WRITE_MS=0 \
    TANDEM_DB_URL="$(pg_cluster_url "$RESTORED")" && ok "$CASE"
else
case_ "tandemd backup FILE while the server runs"
out=$(TANDEM_DATA_DIR="$STACK_DIR/data" "$TANDEMD" backup "$WORK/backup.db" 2>&1)
[ $? = 0 ] && [ -s "$WORK/backup.db" ] && ok "$CASE" || fail "$CASE" "$out"
case_ "the backup is a sound database"
[ "$(sqlite3 "$WORK/backup.db" 'PRAGMA integrity_check')" = ok ] && ok "$CASE" || fail "$CASE" "integrity_check"
case_ "the backup holds the same rows as the live database"
same=1
for t in users devices refresh_tokens events sessions messages session_participants \
    records revisions conflicts server_clock schema_migrations; do
	a=$(sqlite3 "$STACK_DIR/data/tandem.db" "SELECT * FROM $t ORDER BY 1, 2" 2>&1 | md5sum)
	b=$(sqlite3 "$WORK/backup.db" "SELECT * FROM $t ORDER BY 1, 2" 2>&1 | md5sum)
	[ "$a" = "$b" ] || { same=0; fail "$CASE" "table $t differs"; }
done
[ $same = 1 ] && ok "$CASE"
case_ "backup refuses to overwrite a file"
TANDEM_DATA_DIR="$STACK_DIR/data" "$TANDEMD" backup "$WORK/backup.db" >/dev/null 2>&1 &&
    fail "$CASE" "it overwrote" || ok "$CASE"

case_ "a backup taken during writes is consistent"
( for i in $(seq 60); do
	curl -sk -o /dev/null -H "Authorization: Bearer $B1" -H 'Content-Type: application/json' \
	    --data-binary "{\"type\":\"app.tick\",\"data\":{\"i\":$i}}" "$BASE/api/v1/events"
done ) &
WRITER=$!
sleep 0.2
TANDEM_DATA_DIR="$STACK_DIR/data" "$TANDEMD" backup "$WORK/busy.db" >/dev/null 2>&1
rc=$?
wait "$WRITER"
n_b=$(sqlite3 "$WORK/busy.db" "SELECT count(*) FROM events WHERE type = 'app.tick'")
n_l=$(sqlite3 "$STACK_DIR/data/tandem.db" "SELECT count(*) FROM events WHERE type = 'app.tick'")
seq_b=$(sqlite3 "$WORK/busy.db" "SELECT event_seq = (SELECT max(seq) FROM events e WHERE e.user_id = users.id) FROM users WHERE email = 'bob@example.com'")
prefix=$(sqlite3 "$WORK/busy.db" "SELECT group_concat(seq || data, ',') FROM (SELECT seq, data FROM events WHERE type = 'app.tick' ORDER BY seq)")
prefix_l=$(sqlite3 "$STACK_DIR/data/tandem.db" "SELECT group_concat(seq || data, ',') FROM (SELECT seq, data FROM events WHERE type = 'app.tick' ORDER BY seq LIMIT $n_b)")
[ $rc = 0 ] && [ "$n_l" = 60 ] && [ "$seq_b" = 1 ] && [ "$prefix" = "$prefix_l" ] &&
    [ "$(sqlite3 "$WORK/busy.db" 'PRAGMA integrity_check')" = ok ] &&
    ok "$CASE ($n_b of 60 events in it)" || fail "$CASE" "rc $rc, backup $n_b, live $n_l, seq ok $seq_b"
stack_stop_checked

case_ "restore: the backup as the database, -wal/-shm removed, start"
cp "$WORK/backup.db" "$RESTORE/data/tandem.db"
rm -f "$RESTORE/data/tandem.db-wal" "$RESTORE/data/tandem.db-shm"
stack_start_retry TANDEM_DATA_DIR="$RESTORE/data" TANDEM_SEEN_WRITE_MS=0 && ok "$CASE"
fi
case_ "the restored server answers as before (alice, bob)"
snap "$A1" > "$WORK/after-a"
snap "$B1" > "$WORK/after-b"
if cmp -s "$WORK/before-a" "$WORK/after-a" && cmp -s "$WORK/before-b" "$WORK/after-b"; then
	ok "$CASE"
else
	fail "$CASE" "$(diff "$WORK/before-a" "$WORK/after-a" | head -5; diff "$WORK/before-b" "$WORK/after-b" | head -5)"
fi
case_ "the restored server's counts are the same"
stats
jqr '[.users, .devices.total, .sessions, .messages, .records, .conflicts_open]' > "$WORK/after-stats"
cmp -s "$WORK/before-stats" "$WORK/after-stats" && ok "$CASE" ||
    fail "$CASE" "$(cat "$WORK/before-stats") vs $(cat "$WORK/after-stats")"
case_ "log in again after the restore"
login A4 alice@example.com "$PW" a-phone
stack_stop_checked

# --- the per-device rate limit --------------------------------------------
stack_start_retry TANDEM_RATE_PER_S=5 TANDEM_RATE_BURST=10 || { finish; exit 1; }
register rate@example.com "$PW"
login R1 rate@example.com "$PW" r-one
login R2 rate@example.com "$PW" r-two
case_ "info advertises the limit"
call GET /api/v1/info
check 200 application/json '.rate_per_s' '5' '.rate_burst' '10'
case_ "30 quick requests by one device: some are 429"
urls=()
for i in $(seq 30); do urls+=("$BASE/api/v1/devices"); done
t0=$(date +%s%N)
codes=$(curl -sk -H "Authorization: Bearer $R1" -o /dev/null -w '%{http_code}\n' "${urls[@]}")
t1=$(date +%s%N)
n200=$(grep -c '^200$' <<< "$codes")
n429=$(grep -c '^429$' <<< "$codes")
# the burst of 10, plus 5 a second for as long as the 30 took
most=$(( 10 + ((t1 - t0) * 5 + 999999999) / 1000000000 ))
[ "$n200" -ge 10 ] && [ "$n200" -le "$most" ] && [ $((n200 + n429)) = 30 ] &&
    ok "$CASE ($n200 served, $n429 limited in $(( (t1 - t0) / 1000000 )) ms)" ||
    fail "$CASE" "$n200 x 200, $n429 x 429 in $(( (t1 - t0) / 1000000 )) ms (at most $most served)"
case_ "429 is a RATE_LIMITED problem with Retry-After"
for i in 1 2 3 4 5 6 7 8 9 10; do
	TOKEN=$R1 call GET /api/v1/devices
	[ "$STATUS" = 429 ] && break
done
check 429 application/problem+json '.code' '"RATE_LIMITED"' '.status' '429' '.type' '"/errors/RATE_LIMITED"'
ra=$(header Retry-After)
[[ "$ra" =~ ^[1-9][0-9]*$ ]] && ok "Retry-After: $ra" || fail "Retry-After" "'$ra'"
case_ "another device of the same user is not limited"
TOKEN=$R2 call GET /api/v1/devices
check 200 application/json
case_ "the limited device recovers after a second or two"
sleep 1.5
TOKEN=$R1 call GET /api/v1/devices
check 200 application/json
case_ "requests without a device (health) are not limited by tandemd"
codes=$(curl -sk -o /dev/null -w '%{http_code}\n' $(for i in $(seq 30); do printf '%s ' "$BASE/api/v1/health"; done))
[ "$(grep -c '^200$' <<< "$codes")" = 30 ] && ok "$CASE" || fail "$CASE" "$(sort <<< "$codes" | uniq -c)"
case_ "the 429s are counted in /metrics"
call GET /metrics
[ "$(prom_value tandem_http_requests_total 'status="429"')" -ge 10 ] && ok "$CASE" ||
    fail "$CASE" "$(prom_value tandem_http_requests_total 'status="429"')"
stack_stop_checked

# --- rate 0 turns it off; nginx's /auth/ limit; /metrics from elsewhere ----
HOST_IP=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9.]+$' | grep -v '^127\.' | head -1)
stack_start_retry TANDEM_RATE_PER_S=0 TANDEM_AUTH_RATE=1 TANDEM_AUTH_BURST=2 \
    ${HOST_IP:+TANDEM_BIND=0.0.0.0} || { finish; exit 1; }
register zero@example.com "$PW"
login Z1 zero@example.com "$PW" z-one
case_ "TANDEM_RATE_PER_S=0: 150 quick requests, none limited"
urls=()
for i in $(seq 150); do urls+=("$BASE/api/v1/devices"); done
codes=$(curl -sk -H "Authorization: Bearer $Z1" -o /dev/null -w '%{http_code}\n' "${urls[@]}")
[ "$(grep -c '^200$' <<< "$codes")" = 150 ] && ok "$CASE" || fail "$CASE" "$(sort <<< "$codes" | uniq -c)"
case_ "nginx limits /auth/ per address: 429 problem+json RATE_LIMITED"
got=""
for i in $(seq 8); do
	call POST /api/v1/auth/login '{"email":"zero@example.com","password":"wrong-password","device":{"id":"x","platform":"p","name":"n"}}'
	[ "$STATUS" = 429 ] && { got=1; break; }
done
if [ -n "$got" ]; then
	check 429 application/problem+json '.code' '"RATE_LIMITED"' '.status' '429' '.request_id|length > 0' 'true'
	[[ "$(header Retry-After)" =~ ^[1-9][0-9]*$ ]] && ok "$CASE: Retry-After" || fail "$CASE" "no Retry-After"
else
	fail "$CASE" "8 quick logins never got 429 (last $STATUS)"
fi
case_ "/auth/ limit leaves the rest of the API alone"
TOKEN=$Z1 call GET /api/v1/devices
check 200 application/json
if [ -n "$HOST_IP" ]; then
	case_ "/metrics from a non-loopback address ($HOST_IP) needs the admin login"
	code=$(curl -sk -o /dev/null -w '%{http_code}' "https://$HOST_IP:$HTTPS_PORT/metrics")
	[ "$code" = 401 ] && ok "$CASE" || fail "$CASE" "got $code"
	code=$(curl -sk -o /dev/null -w '%{http_code}' -u "$ADMIN" "https://$HOST_IP:$HTTPS_PORT/metrics")
	[ "$code" = 200 ] && ok "$CASE: with it, 200" || fail "$CASE: with it" "got $code"
	code=$(curl -sk -o /dev/null -w '%{http_code}' "https://$HOST_IP:$HTTPS_PORT/api/v1/admin/stats")
	[ "$code" = 401 ] && ok "stats from $HOST_IP without login: 401" || fail "stats from $HOST_IP" "got $code"
else
	echo "  note $TEST_NAME: no non-loopback address here; /metrics from elsewhere not tested"
fi
stack_stop_checked
finish
