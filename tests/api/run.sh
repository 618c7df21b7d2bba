#!/usr/bin/env bash
# Run every tests/api/test_*.sh (or those named as arguments), each against
# its own fresh stack, and end with "N passed, M failed".
set -u
dir=$(cd "$(dirname "$0")" && pwd)
RESULTS_FILE=$(mktemp)
export RESULTS_FILE
files=("$@")
[ ${#files[@]} -eq 0 ] && files=("$dir"/test_*.sh)
crashed=0
for f in "${files[@]}"; do
	before=$(wc -l < "$RESULTS_FILE")
	bash "$f"
	if [ "$(wc -l < "$RESULTS_FILE")" -eq "$before" ]; then
		echo "  FAIL $(basename "$f"): ended before finish"
		crashed=$((crashed + 1))
	fi
done
passed=$(awk '{p += $1} END {print p + 0}' "$RESULTS_FILE")
failed=$(awk '{f += $2} END {print f + 0}' "$RESULTS_FILE")
failed=$((failed + crashed))
rm -f "$RESULTS_FILE"
echo "api: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
