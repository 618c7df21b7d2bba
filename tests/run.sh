#!/usr/bin/env bash
# Every test: the cmocka unit tests, then the curl API tests against real
# nginx + tandemd stacks.  Ends with one "N passed, M failed" line.
# Usage: tests/run.sh BUILD_DIR
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
log=$(mktemp)
sh "$top/tests/unit/run.sh" "$build/tests" | tee -a "$log"
TANDEMD="$top/$build/tandemd" bash "$top/tests/api/run.sh" | tee -a "$log"
passed=$(grep -E '^(unit|api): [0-9]+ passed' "$log" | awk '{p += $2} END {print p + 0}')
failed=$(grep -E '^(unit|api): [0-9]+ passed' "$log" | awk '{f += $4} END {print f + 0}')
runs=$(grep -cE '^(unit|api): [0-9]+ passed' "$log")
rm -f "$log"
[ "$runs" -eq 2 ] || failed=$((failed + 1))
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
