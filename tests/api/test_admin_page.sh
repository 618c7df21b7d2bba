#!/usr/bin/env bash
# The /admin/ status page in headless Chromium: with the admin login it
# shows the counts of a known set of API calls (rendered by admin.js from
# /api/v1/admin/stats) and refreshes itself; without it, 401.
. "$(dirname "$0")/lib.sh"
if engine_is pg; then
	# the page's counters are per host: one host here
	export TANDEM_HOSTS=1
	echo "  note test_admin_page (postgresql): one host; the page's counters are per host"
fi

PW="password-page-1"
WORK=$(mktemp -d /tmp/tandem-page.XXXXXX)
trap 'stack_stop; rm -rf "$WORK"' EXIT

# Debian's chromium, installed only for this test (make deps lists it).
if ! command -v chromium >/dev/null 2>&1; then
	sh "$TOP/tests/deps.sh" chromium >/dev/null 2>&1
fi
if ! command -v chromium >/dev/null 2>&1; then
	fail "chromium" "Debian's chromium package is not installed and could not be installed"
	finish
	exit 1
fi

# chrome URL OUT: load URL, run its scripts for 12 s of virtual time (two
# refreshes of the page), write the DOM to OUT.
chrome() {
	local profile
	profile=$(mktemp -d "$WORK/profile.XXXXXX")
	timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic \
	    --no-first-run --disable-background-networking --disable-component-update \
	    --disable-sync --user-data-dir="$profile" --ignore-certificate-errors \
	    --virtual-time-budget=12000 --dump-dom "$1" > "$2" 2> "$WORK/chromium.err"
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

# dom_text FILE ID: the text of the element with that id.
dom_text() {
	python3 - "$1" "$2" <<'PY'
import sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(self, want):
        super().__init__()
        self.want, self.depth, self.text = want, 0, ""
    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.want:
            self.depth = 1
    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1
    def handle_data(self, d):
        if self.depth:
            self.text += d
p = P(sys.argv[2])
p.feed(open(sys.argv[1], encoding="utf-8").read())
print(" ".join(p.text.split()))
PY
}

# dom_rows FILE: the worker table's rows, one "pid|uptime|requests" a line.
dom_rows() {
	python3 - "$1" <<'PY'
import sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inbody, self.rows, self.cell = False, [], None
    def handle_starttag(self, tag, attrs):
        if tag == "tbody" and dict(attrs).get("id") == "workers":
            self.inbody = True
        elif self.inbody and tag == "tr":
            self.rows.append([])
        elif self.inbody and tag == "td":
            self.cell = ""
    def handle_endtag(self, tag):
        if tag == "tbody":
            self.inbody = False
        elif tag == "td" and self.cell is not None:
            self.rows[-1].append(self.cell.strip())
            self.cell = None
    def handle_data(self, d):
        if self.cell is not None:
            self.cell += d
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
for r in p.rows:
    print("|".join(r))
PY
}

stack_start_retry TANDEM_ACCESS_LOG=on || { finish; exit 1; }

# --- the known set of API calls ---------------------------------------------
register page-a@example.com "$PW"
register page-b@example.com "$PW"
login A1 page-a@example.com "$PW" a-phone
login A2 page-a@example.com "$PW" a-laptop
login B1 page-b@example.com "$PW" b-phone
login A3 page-a@example.com "$PW" a-old
case_ "the setup calls succeed"
TOKEN=$A3 call POST /api/v1/auth/logout
check 204
TOKEN=$A1
call POST /api/v1/sessions '{"id":"s1"}'
check 201 application/json
call POST /api/v1/sessions '{"id":"s2"}'
check 201 application/json
call POST /api/v1/sessions/s2/kill
check 200 application/json
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m1","body":"one"}'
check 201 application/json
call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m2","body":"two"}'
check 201 application/json
call POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"n1","base_version":0,"data":{"x":1}},{"collection":"notes","id":"n2","base_version":0,"data":{"x":2}},{"collection":"notes","id":"n3","base_version":0,"data":{"x":3}}]}'
check 200 application/json
V3=$(jqr '.results[2].version')
call POST /api/v1/sync/push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"n3\",\"base_version\":$V3,\"deleted\":true}]}"
check 200 application/json '.results[0].status' '"applied"'
TOKEN=$A2 call POST /api/v1/sync/push '{"changes":[{"collection":"notes","id":"n1","base_version":1,"data":{"x":"laptop"}}]}'
check 200 application/json '.results[0].status' '"conflict"'
TOKEN=$B1
call POST /api/v1/sessions '{"id":"b1"}'
check 201 application/json
call POST /api/v1/sessions/b1/messages '{"client_msg_id":"m1","body":"bee"}'
check 201 application/json
TOKEN=""
call GET /api/v1/health
VERSION=$(jqr .version)
call GET /api/v1/admin/stats "" -u "admin:$ADMIN_PASSWORD"
PIDS=$(jqr '[.workers[].pid]|sort|map(tostring)|join(" ")')

# --- the page with the admin login ------------------------------------------
URL="https://admin:$ADMIN_PASSWORD@127.0.0.1:$HTTPS_PORT/admin/"
case_ "chromium renders /admin/ with the admin login"
if chrome "$URL" "$WORK/dom.html" && grep -q 'id="users"' "$WORK/dom.html"; then
	ok "$CASE"
else
	fail "$CASE" "$(head -c 300 "$WORK/dom.html"; grep -v dbus "$WORK/chromium.err" | tail -3)"
fi
want() { # ID EXPECTED
	local got
	got=$(dom_text "$WORK/dom.html" "$1")
	[ "$got" = "$2" ] && ok "page shows $1 = $2" || fail "page shows $1" "'$got', want '$2'"
}
want version "$VERSION"
want users 2
want devices_online 3
want devices_total 3
want sessions_active 2
want sessions_killed 1
want messages 3
want records 2
want conflicts_open 1
want longpoll_waiting 0
want errors_per_min 0
case_ "the page says it updated, not an error"
st=$(dom_text "$WORK/dom.html" state)
[[ "$st" == updated* ]] && ok "$CASE" || fail "$CASE" "state '$st'"
case_ "the page shows requests per minute and latency numbers"
rpm=$(dom_text "$WORK/dom.html" requests_per_min)
p50=$(dom_text "$WORK/dom.html" p50)
p99=$(dom_text "$WORK/dom.html" p99)
up=$(dom_text "$WORK/dom.html" uptime)
db=$(dom_text "$WORK/dom.html" db_bytes)
[[ "$rpm" =~ ^[0-9]+$ && "$rpm" -ge 20 && "$p50" =~ ^[0-9.]+$ && "$p99" =~ ^[0-9.]+$ &&
    "$up" =~ ^([0-9]+[dhm]\ )*[0-9]+s$ && "$db" == *bytes* ]] &&
    ok "$CASE" || fail "$CASE" "rpm '$rpm' p50 '$p50' p99 '$p99' uptime '$up' db '$db'"
case_ "the worker table lists each worker's pid, uptime and requests"
dom_rows "$WORK/dom.html" > "$WORK/rows"
got=$(cut -d'|' -f1 "$WORK/rows" | sort | tr '\n' ' ' | sed 's/ $//')
if [ "$got" = "$PIDS" ] && [ "$(wc -l < "$WORK/rows")" = 2 ] &&
    awk -F'|' '$2 !~ /s$/ || $3 !~ /^[0-9]+$/ { bad = 1 } END { exit bad }' "$WORK/rows"; then
	ok "$CASE"
else
	fail "$CASE" "rows: $(tr '\n' ';' < "$WORK/rows") want pids $PIDS"
fi
case_ "the page refreshed itself (several stats requests with the login)"
n=$(grep -c '"GET /api/v1/admin/stats HTTP/[0-9.]*" 200' "$STACK_DIR/data/nginx/access.log")
# one by curl above, at least two by the page in 12 s of its time
[ "$n" -ge 3 ] && ok "$CASE ($((n - 1)) by the page)" || fail "$CASE" "$n stats requests served"

# --- without the login ------------------------------------------------------
case_ "curl: /admin/ without credentials is 401"
call GET /admin/
check 401 -
call GET /admin/admin.js
check 401 -
call GET /admin/ "" -u "admin:not-the-password"
check 401 -
call GET /admin/ "" -u "admin:$ADMIN_PASSWORD"
check 200 text/html
# denied URL WHAT: chromium loads URL; nginx answered it 401 (its access
# log, since headless Chromium shows no page for an unanswered challenge)
# and served nothing else, and the DOM holds no numbers.
denied() {
	local log="$STACK_DIR/data/nginx/access.log" before new
	before=$(wc -l < "$log")
	chrome "$1" "$WORK/denied.html"
	new=$(tail -n "+$((before + 1))" "$log" | grep HeadlessChrome)
	if grep -q '"GET /admin/ HTTP/[0-9.]*" 401 ' <<< "$new" &&
	    ! grep -q '" 200 ' <<< "$new" && ! grep -q 'id="users"' "$WORK/denied.html"; then
		ok "$CASE"
	else
		fail "$CASE" "log: $(cut -d'"' -f2,3 <<< "$new" | tr '\n' ';') dom: $(head -c 200 "$WORK/denied.html")"
	fi
}
case_ "chromium: /admin/ without credentials is 401, no numbers"
denied "https://127.0.0.1:$HTTPS_PORT/admin/"
case_ "chromium: /admin/ with a wrong password is 401, no numbers"
denied "https://admin:wrong@127.0.0.1:$HTTPS_PORT/admin/"
stack_stop_checked
finish
