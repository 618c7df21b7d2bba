#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan + UBSan, into build-fuzz/) and
# run them for a while each.
#
#   tests/fuzz/run.sh TARGET|all SECONDS [libFuzzer options...]
#
# TARGET is json_body, jwt, merge, router, handlers or email.  Each target runs
# over its seed corpus (tests/fuzz/corpus/TARGET/, read only) and a
# working corpus kept between runs in build-fuzz/corpus/TARGET/; crashes
# land in build-fuzz/crashes/ and the full output in build-fuzz/logs/.
# Prints one line per target and ends with "fuzz: N passed, M failed"
# (a target passes when it ran its time without a crash, leak or broken
# invariant).  Reproduce a crash with: build-fuzz/fuzz_TARGET FILE
# FUZZ_NO_BUILD=1 runs the binaries already built (a long run while the
# tree is being edited).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
all="json_body jwt merge router handlers email"
target=${1:-all}
secs=${2:-60}
shift 2 2>/dev/null || shift $#
B=${FUZZ_BUILD:-build-fuzz}

[ "$target" = all ] && target=$all
for t in $target; do
	case " $all " in *" $t "*) ;; *) echo "unknown fuzz target $t (one of: $all)"; exit 2;; esac
done
if ! command -v clang >/dev/null; then
	echo "fuzz: clang is missing (apt-get install clang)"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi

mkdir -p "$B/logs" "$B/crashes"
if [ -z "${FUZZ_NO_BUILD:-}" ] && ! make --no-print-directory -s -f tests/fuzz/fuzz.mk FUZZ_BUILD="$B" \
    -j"$(nproc 2>/dev/null || echo 2)" \
    $(for t in $target; do echo "$B/fuzz_$t"; done) >"$B/logs/build.log" 2>&1; then
	cat "$B/logs/build.log"
	echo "fuzz: the build failed"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi

passed=0
failed=0
tmp=$(mktemp -d "${FUZZ_TMP_BASE:-/dev/shm}/tandem-fuzz-run.XXXXXX" 2>/dev/null || mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in $target; do
	mkdir -p "$B/corpus/$t"
	log="$B/logs/$t.log"
	dict=()
	case $t in json_body|merge|handlers) dict=(-dict=tests/fuzz/json.dict);; esac
	# no leak reports from libjwt/jansson internals unless real: keep
	# LeakSanitizer on (libFuzzer's -detect_leaks=1 default).
	FUZZ_TMPDIR="$tmp" ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	    "$B/fuzz_$t" "$B/corpus/$t" "tests/fuzz/corpus/$t" \
	    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -max_len=65536 -artifact_prefix="$B/crashes/$t-" \
	    -print_final_stats=1 "${dict[@]}" "$@" >"$log" 2>&1
	rc=$?
	execs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$log")
	rate=$(awk '/stat::average_exec_per_sec/ {print $NF}' "$log")
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
	corp=$(find "$B/corpus/$t" -type f | wc -l)
	if [ "$rc" -eq 0 ] && ! grep -aqE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant broken' "$log"; then
		passed=$((passed + 1))
		echo "  ok   fuzz_$t: ${execs:-0} executions in ${secs} s (${rate:-0}/s), coverage ${cov:-?}, corpus $corp"
	else
		failed=$((failed + 1))
		echo "  FAIL fuzz_$t: exit $rc after ${execs:-?} executions; log $log"
		grep -a -m5 -E 'invariant broken|ERROR:|runtime error:|SUMMARY|Test unit written' "$log" | sed 's/^/       /'
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
