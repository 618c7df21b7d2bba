#!/usr/bin/env bash
# The JavaScript client (clients/js/tandem.js) and the demo (public/demo/)
# in headless Chromium (Debian's /usr/bin/chromium, driven by
# puppeteer-core from tests/browser/package-lock.json), against real
# nginx + tandemd stacks started by tests/api/lib.sh, stopped afterwards
# whatever happens.  Ends with "browser: N passed, M failed[, K skipped]".
#
# Usage: tests/browser/run.sh [TEST_NAME...]   (names as run.mjs lists them)
# The demo's screenshot goes to build/browser/demo.png; UPDATE_DEMO_PNG=1
# also writes docs/demo.png (the README's picture).
. "$(dirname "$0")/../api/lib.sh"
TEST_NAME=browser
BROWSER_DIR="$TOP/tests/browser"
OUT=$(mktemp -d /tmp/tandem-browser.XXXXXX)
trap 'stack_stop; rm -rf "$OUT"' EXIT
trap 'stack_stop; rm -rf "$OUT"; exit 130' INT TERM

summary() {
	echo "browser: $PASSED passed, $FAILED failed, ${SKIPPED:-0} skipped"
	[ "$FAILED" -eq 0 ]
}

if [ ! -x /usr/bin/chromium ]; then
	fail "chromium" "/usr/bin/chromium is missing (Debian: chromium; make deps installs it)"
	summary
	exit 1
fi
if [ ! -d "$BROWSER_DIR/node_modules/puppeteer-core" ]; then
	(cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error) > "$OUT/npm.log" 2>&1 ||
	    { fail "npm ci" "$(tail -5 "$OUT/npm.log")"; summary; exit 1; }
fi

SKIPPED=0
# One group of tests against one stack: run.mjs prints "ok NAME",
# "FAIL NAME: why", "skip NAME: why" and notes; count them here.
run_group() {
	local group=$1
	shift
	ORIGIN_PORT=$(free_port)
	OTHER_PORT=$(free_port)
	stack_start "TANDEM_CORS_ORIGINS=http://127.0.0.1:$ORIGIN_PORT" "$@" || return
	export BASE STACK_DIR STACK_PID ORIGIN_PORT OTHER_PORT TOP UPDATE_DEMO_PNG
	NODE_TLS_REJECT_UNAUTHORIZED=0 NODE_NO_WARNINGS=1 \
	    timeout 240 node "$BROWSER_DIR/run.mjs" "$group" "${NAMES[@]}" \
	    > "$OUT/$group.log" 2>&1
	local rc=$?
	cat "$OUT/$group.log"
	local p f s
	p=$(grep -c '^ok ' "$OUT/$group.log")
	f=$(grep -c '^FAIL ' "$OUT/$group.log")
	s=$(grep -c '^skip ' "$OUT/$group.log")
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	SKIPPED=$((SKIPPED + s))
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
		fail "$group" "run.mjs exited $rc without naming a failure"
	fi
	stack_stop
}

NAMES=("$@")
run_group main
run_group token TANDEM_ACCESS_TTL_S=2 TANDEM_PRIMARY_TTL_MS=1500 \
    TANDEM_TOMBSTONE_DAYS=0 TANDEM_STREAM_MAX_S=3
summary
