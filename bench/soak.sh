#!/usr/bin/env bash
# make soak: SOAK_MINUTES (30) of mixed load against one fresh stack, with
# a kill -9 of one tandemd worker every SOAK_KILL_EVERY_S (300) seconds,
# driven by bench/soak.py.  Prints a table and a verdict, writes them to
# bench/results/soak.md, and exits non-zero when the verdict fails.  Not
# part of make test.
#
#   TANDEMD=build/tandemd bash bench/soak.sh
#   SOAK_MINUTES=5 SOAK_KILL_EVERY_S=60 make soak
#
# More knobs go to soak.py as SOAK_ARGS ("--users 8 --devices 4
# --pollers 24 --abandon 0.3 --think-s 0.4 --sample-s 60").
# KEEP_LOG=FILE keeps the stack's log.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tests/api/lib.sh"
TEST_NAME=soak
command -v python3 >/dev/null || { echo "soak: python3 is needed"; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# Waiting polls hold a thread each today: 2 x 128 leaves room for the 24
# pollers and every device's requests.
stack_start TANDEM_WORKERS="${TANDEM_WORKERS:-2}" \
    TANDEM_THREADS="${TANDEM_THREADS:-128}" \
    TANDEM_LOG_LEVEL="${TANDEM_LOG_LEVEL:-info}" || exit 1
# shellcheck disable=SC2086
python3 "$here/soak.py" --base "$BASE" --stack-pid "$STACK_PID" \
    --minutes "${SOAK_MINUTES:-30}" --kill-every "${SOAK_KILL_EVERY_S:-300}" \
    --out "$here/results/soak.md" ${SOAK_ARGS:-}
rc=$?
echo
echo "soak: the stack's warnings and errors (counted):"
grep -E '"level":"(warn|error)"|\[(error|crit|alert|emerg)\]' "$STACK_DIR/stack.log" |
    sed -e 's/"ts":"[^"]*",//' -e 's/"request_id":"[^"]*",//' \
        -e 's/^[0-9/]* [0-9:]* //' -e 's/\*[0-9]* //' -e 's/client: [^,]*, //' \
        -e 's/, request: .*//' -e 's/ [0-9]*#[0-9]*:/:/' |
    cut -c1-200 | sort | uniq -c | sort -rn | head -15
[ -n "${KEEP_LOG:-}" ] && cp "$STACK_DIR/stack.log" "$KEEP_LOG"
stack_stop
exit $rc
