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
files=("$@")
[ ${#files[@]} -eq 0 ] && files=("$dir"/test_*.sh)
# TANDEM_TEST_JOBS files run at once (2: the machine's cores), each on
# its own stack; a file that measures time or loads the machine says
# "# test: solo" in its first lines and runs alone after the others.
jobs_max=${TANDEM_TEST_JOBS:-2}
out=$(mktemp -d)
run_one() {
	local f=$1 n t
	n=$(basename "$f" .sh)
	t=$(date +%s)
	RESULTS_FILE="$out/$n.res" bash "$f" > "$out/$n.log" 2>&1
	echo "  $n: $(( $(date +%s) - t )) s" >> "$out/$n.log"
	if [ ! -s "$out/$n.res" ]; then
		echo "  FAIL $n.sh: ended before finish" >> "$out/$n.log"
		echo "0 1" >> "$out/$n.res"
	fi
	flock "$out/lock" cat "$out/$n.log"
}
solo=()
pids=()
live=()
running() { # the test jobs that run now, in live; how many
	local p
	live=()
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && live+=("$p"); done
	pids=("${live[@]}")
}
t_run=$(date +%s)
for f in "${files[@]}"; do
	if head -n 20 "$f" | grep -q '^# test: solo'; then
		solo+=("$f")
		continue
	fi
	# only the test jobs: on PG the run's cluster is a child of this shell
	# too, and a bare wait would wait for it for ever
	running
	while [ ${#pids[@]} -ge "$jobs_max" ]; do
		wait -n "${pids[@]}" 2>/dev/null
		running
	done
	run_one "$f" &
	pids+=($!)
done
running
[ ${#pids[@]} -gt 0 ] && wait "${pids[@]}" 2>/dev/null
for f in "${solo[@]}"; do run_one "$f"; done
passed=$(cat "$out"/*.res 2>/dev/null | awk '{p += $1} END {print p + 0}')
failed=$(cat "$out"/*.res 2>/dev/null | awk '{f += $2} END {print f + 0}')
rm -rf "$out"
echo "$label: took $(( $(date +%s) - t_run )) s"
echo "$label: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
