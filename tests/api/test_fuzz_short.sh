#!/usr/bin/env bash
# A short run of every libFuzzer target (tests/fuzz/) as part of make test:
# FUZZ_SHORT_SECONDS each (default 8), over the seed corpus and whatever
# earlier runs kept in build-fuzz/corpus/.  The long run is `make fuzz`.
# No stack is started: the targets call the code directly, on SQLite, so
# the run on PostgreSQL skips the file (it would repeat the same work).
. "$(dirname "$0")/lib.sh"

if engine_is pg; then
	skip_on_pg "the fuzz targets do not use the engine; the SQLite run ran them"
	finish
	exit $?
fi

out=$(bash "$TOP/tests/fuzz/run.sh" all "${FUZZ_SHORT_SECONDS:-8}" 2>&1)
echo "$out" | grep -aq '^  FAIL' && echo "$out" | grep -avE '^  ok ' | sed 's/^/  /'
while read -r line; do
	case $line in
	"ok   fuzz_"*) t=${line#ok   }; ok "${t%%:*}" ;;
	"FAIL fuzz_"*) t=${line#FAIL }; fail "${t%%:*}" "${t#*: }" ;;
	esac
done <<<"$(echo "$out" | sed 's/^ *//')"
case_ "every target ran"
n=$(echo "$out" | grep -acE '^  (ok +|FAIL )fuzz_')
[ "$n" -eq 6 ] && ok "$CASE" || fail "$CASE" "$(echo "$out" | tail -15)"
finish
