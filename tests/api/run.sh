#!/usr/bin/env bash
# Run every tests/api/test_*.sh (or those named as arguments), each against
# its own fresh stack, and end with "N passed, M failed".
# TANDEM_TEST_ENGINE=pg: on PostgreSQL with two hosts; one cluster serves
# the whole run (each stack gets a fresh database of it), and the last
# line reads "api-pg: N passed, M failed".
set -u
dir=$(cd "$(dirname "$0")" && pwd)
: "${TANDEM_TEST_ENGINE:=sqlite}"
export TANDEM_TEST_ENGINE
label=api
pg_run=""
if [ "$TANDEM_TEST_ENGINE" = pg ] && [ -z "${TANDEM_TEST_PG_DIR:-}" ]; then
	. "$dir/../../nginx/pg-cluster.sh"
	pg_run=$(mktemp -d /tmp/tandem-pg-run.XXXXXX)
	chmod 0711 "$pg_run"
	if ! pg_cluster_start "$pg_run/pg"; then
		echo "api-pg: 0 passed, 1 failed"
		exit 1
	fi
	export TANDEM_TEST_PG_DIR=$pg_dir
	trap 'pg_cluster_stop; rm -rf "$pg_run"' EXIT
fi
[ "$TANDEM_TEST_ENGINE" = pg ] && label=api-pg
RESULTS_FILE=$(mktemp)
export RESULTS_FILE
files=("$@")
[ ${#files[@]} -eq 0 ] && files=("$dir"/test_*.sh)
crashed=0
t_run=$(date +%s)
for f in "${files[@]}"; do
	before=$(wc -l < "$RESULTS_FILE")
	t_file=$(date +%s)
	bash "$f"
	echo "  $(basename "$f" .sh): $(( $(date +%s) - t_file )) s"
	if [ "$(wc -l < "$RESULTS_FILE")" -eq "$before" ]; then
		echo "  FAIL $(basename "$f"): ended before finish"
		crashed=$((crashed + 1))
	fi
done
passed=$(awk '{p += $1} END {print p + 0}' "$RESULTS_FILE")
failed=$(awk '{f += $2} END {print f + 0}' "$RESULTS_FILE")
failed=$((failed + crashed))
rm -f "$RESULTS_FILE"
echo "$label: took $(( $(date +%s) - t_run )) s"
echo "$label: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
