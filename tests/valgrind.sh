#!/usr/bin/env bash
# Run API tests with tandemd under Valgrind memcheck and report its
# findings.  tandemd is started through a wrapper that execs valgrind; the
# workers and the sweeper are fork()ed (no exec), so valgrind follows them
# without --trace-children, each process writing its own log
# (--log-file=...%p); every process that exits normally (SIGTERM at the end
# of each test file) gets a full leak check.  Processes a test kills with
# -9 leave no summary: their errors up to then are still counted.
#
#   tests/valgrind.sh [BUILD_DIR [TEST_FILE...]]
#
# BUILD_DIR defaults to build (make BUILD=... build first; a plain -O2 -g
# build is best: not a sanitizer build).  The default test files are those
# that do not depend on timing (valgrind makes tandemd ~30x slower): about
# 3.5 minutes on 2 cores.
# Ends with "valgrind: N passed, M failed": a process passes with no
# memcheck error and no definitely lost block.  Exit status 0 when all pass
# and the API tests passed too.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
shift $(( $# > 0 ? 1 : 0 ))
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
	for f in foundation auth hostile isolation sessions messages sync \
	    sync_validation sync_strategies sync_paging sync_config conflicts admin; do
		files+=("$top/tests/api/test_$f.sh")
	done
fi
bin="$top/$build/tandemd"
[ -x "$bin" ] || { echo "valgrind: no $bin (make BUILD=$build build)"; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)"; exit 1; }

vg=$(mktemp -d /tmp/tandem-valgrind.XXXXXX)
cat >"$vg/tandemd" <<WRAP
#!/bin/sh
exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \\
    --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30 \\
    --trace-children=no --child-silent-after-fork=no \\
    --log-file="$vg/vg.%p.log" "$bin" "\$@"
WRAP
chmod +x "$vg/tandemd"

start=$(date +%s)
# Fewer threads per worker: valgrind serialises them anyway.
TANDEM_THREADS=${TANDEM_THREADS:-8} TANDEMD="$vg/tandemd" \
    bash "$top/tests/api/run.sh" "${files[@]}"
api_rc=$?

passed=0
failed=0
for log in "$vg"/vg.*.log; do
	[ -f "$log" ] || continue
	errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
	lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
	if [ -z "$errs" ]; then
		# killed (-9) before its summary: count what it reported so far
		errs=$(grep -cE '^==[0-9]+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and destination)' "$log")
	fi
	if [ "${errs:-0}" -eq 0 ] && [ "${lost:-0}" -eq 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "  FAIL valgrind: $(basename "$log"): $errs errors, ${lost:-0} bytes definitely lost"
		grep -E '^==[0-9]+== ( {3}(at|by) |[A-Z])' "$log" | head -40 | sed 's/^/       /'
		mkdir -p "$top/build/test-logs"
		cp "$log" "$top/build/test-logs/" 2>/dev/null
	fi
done
echo "valgrind: $((passed + failed)) processes checked in $(( $(date +%s) - start )) s"
[ -n "${VALGRIND_KEEP:-}" ] && echo "valgrind: logs kept in $vg" || rm -rf "$vg"
echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$api_rc" -eq 0 ]
