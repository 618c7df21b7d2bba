#!/bin/sh
# Run every cmocka unit test binary in the directory given; end with
# "N passed, M failed" (binaries, each holding many cmocka cases).
dir=${1:-build/tests}
passed=0
failed=0
for t in "$dir"/test_*; do
	[ -x "$t" ] || continue
	if "$t"; then
		passed=$((passed + 1))
	else
		echo "FAIL $(basename "$t")"
		failed=$((failed + 1))
	fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
