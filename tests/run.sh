#!/usr/bin/env bash
# Every test: the cmocka unit tests, the curl API tests against real
# nginx + tandemd stacks on SQLite, the same API tests on PostgreSQL with
# two hosts (one throwaway cluster for the run, a fresh database per
# stack), then the browser tests (the JS client and the demo in headless
# Chromium).  Ends with one "N passed, M failed" line.
# Usage: tests/run.sh BUILD_DIR
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
log=$(mktemp)
sh "$top/tests/unit/run.sh" "$build/tests" | tee -a "$log"
TANDEMD="$top/$build/tandemd" TANDEM_TEST_ENGINE=sqlite bash "$top/tests/api/run.sh" | tee -a "$log"
TANDEMD="$top/$build/tandemd" TANDEM_TEST_ENGINE=pg bash "$top/tests/api/run.sh" | tee -a "$log"
TANDEMD="$top/$build/tandemd" bash "$top/tests/browser/run.sh" | tee -a "$log"
passed=$(grep -E '^(unit|api|api-pg|browser): [0-9]+ passed' "$log" | awk '{p += $2} END {print p + 0}')
failed=$(grep -E '^(unit|api|api-pg|browser): [0-9]+ passed' "$log" | awk '{f += $4} END {print f + 0}')
runs=$(grep -cE '^(unit|api|api-pg|browser): [0-9]+ passed' "$log")
rm -f "$log"
[ "$runs" -eq 4 ] || failed=$((failed + 1))
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
