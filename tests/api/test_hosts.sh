#!/usr/bin/env bash
# test: solo (it loads the machine or measures time: run.sh runs it alone)
# Many hosts on one PostgreSQL (DESIGN.md "Many hosts"; issue 15): two
# tandemd hosts behind one nginx upstream.
#  1. four writers on two hosts and a follower pulling meanwhile: versions
#     unique and increasing per user, the follower misses nothing and ends
#     with the server's state;
#  2. a long poll on host A wakes on a write through host B within
#     milliseconds (the latency is printed);
#  3. kill -9 of the PostgreSQL server (this file's own cluster): requests
#     answer 503, never hang, never another 5xx; back, the hosts recover by
#     themselves and wake across hosts again;
#  4. kill -9 of the host that sweeps, under a write load: the other host
#     serves every device, every acknowledged write is there, and a lapsed
#     primary lease still fails over within 5 s.
# On SQLite (one host) there is nothing to test: the file says so.
. "$(dirname "$0")/lib.sh"

if ! engine_is pg; then
	echo "  skip $TEST_NAME (sqlite): many hosts need PostgreSQL (TANDEM_TEST_ENGINE=pg)"
	finish
	exit $?
fi
# this file kills its PostgreSQL: its own cluster, not the run's
unset TANDEM_TEST_PG_DIR
export TANDEM_HOSTS=2 TANDEM_STACK_HOST_LOSS_OK=1
PW="password-hosts-1"
stack_start TANDEM_RATE_PER_S=0 TANDEM_MAX_DEVICES=40 TANDEM_DEDUP_WINDOW_MS=0 \
    TANDEM_SWEEP_MS=250 TANDEM_PRIMARY_TTL_MS=1500 || { finish; exit 1; }
register alice@example.com "$PW"

# The tandemd master (host) that served the last request of device $1.
host_of() {
	local pid
	pid=$(grep "\"device\":\"$1\"" "$STACK_DIR/stack.log" | tail -1 |
	    grep -o '"pid":[0-9]*' | cut -d: -f2)
	[ -n "$pid" ] && awk '{print $4}' "/proc/$pid/stat" 2>/dev/null
}

# Log in devices (up to 30) until each host has four, sorted by the host
# their token sticks to (the upstream hashes the header: by chance).
declare -A TOK HOST
H1=() H2=()
masters=($(stack_masters))
for i in $(seq 1 30); do
	[ ${#H1[@]} -ge 4 ] && [ ${#H2[@]} -ge 4 ] && break
	login t alice@example.com "$PW" "d$i"
	TOK[d$i]=$t
	TOKEN=$t call GET /api/v1/devices
	HOST[d$i]=$(host_of "d$i")
	if [ "${HOST[d$i]}" = "${masters[0]}" ]; then H1+=("d$i"); else H2+=("d$i"); fi
done
case_ "the upstream spreads devices over both hosts, each sticking to one"
if [ ${#H1[@]} -ge 4 ] && [ ${#H2[@]} -ge 4 ]; then
	ok "$CASE (${#H1[@]} and ${#H2[@]})"
else
	fail "$CASE" "host 1: ${H1[*]}; host 2: ${H2[*]}"
	finish
	exit 1
fi
same=1
for d in "${H1[@]}"; do
	TOKEN=${TOK[$d]} call GET /api/v1/devices
	[ "$(host_of "$d")" = "${masters[0]}" ] || same=0
done
[ $same = 1 ] && ok "a device's requests stay on its host" ||
    fail "sticky" "a device moved between hosts"

# --- 1. four writers, two on each host, and a follower ---------------------------------
W=("${H1[0]}" "${H1[1]}" "${H2[0]}" "${H2[1]}")
FOLLOWER=${H2[2]}
writer() { # DEVICE ROUNDS: push unique records (and a hot one), log acks
	local d=$1 n=$2 i out
	for i in $(seq 1 "$n"); do
		out=$(curl -sk --max-time 20 -H "Authorization: Bearer ${TOK[$d]}" \
		    -H 'Content-Type: application/json' -X POST \
		    --data-binary "{\"strategy\":\"client_wins\",\"changes\":[{\"collection\":\"w\",\"id\":\"$d-$i\",\"base_version\":0,\"data\":{\"i\":$i}},{\"collection\":\"w\",\"id\":\"hot\",\"base_version\":0,\"data\":{\"by\":\"$d\",\"i\":$i}}]}" \
		    "$BASE/api/v1/sync/push")
		printf '%s' "$out" | jq -r --arg d "$d" \
		    '.results[]? | select(.status == "applied") | "\($d) \(.id) \(.version)"' \
		    2>/dev/null >> "$STACK_DIR/acks"
	done
}
: > "$STACK_DIR/acks"
ROUNDS=40
WP=()
for d in "${W[@]}"; do writer "$d" $ROUNDS & WP+=($!); done
writing() {
	local p
	for p in "${WP[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done
	return 1
}
# the follower pulls from its cursor while they write
cursor=0
declare -A SEEN
pulls=0
while writing; do
	TOKEN=${TOK[$FOLLOWER]} call GET "/api/v1/sync/pull?since=$cursor&limit=1000"
	[ "$STATUS" = 200 ] || continue
	while read -r id v; do SEEN[$id]=$v; done < <(jqr '.changes[] | "\(.id) \(.version)"')
	cursor=$(jqr .cursor)
	pulls=$((pulls + 1))
done
wait "${WP[@]}"
TOKEN=${TOK[$FOLLOWER]} call GET "/api/v1/sync/pull?since=$cursor&limit=1000"
while read -r id v; do SEEN[$id]=$v; done < <(jqr '.changes[] | "\(.id) \(.version)"')
case_ "every write acknowledged"
n_acks=$(wc -l < "$STACK_DIR/acks")
[ "$n_acks" -eq $((4 * ROUNDS * 2)) ] && ok "$CASE ($n_acks)" || fail "$CASE" "$n_acks of $((4 * ROUNDS * 2))"
case_ "versions are unique across the four writers"
dups=$(awk '{print $3}' "$STACK_DIR/acks" | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ] && ok "$CASE" || fail "$CASE" "$dups versions twice"
case_ "each writer's versions increase"
bad=0
for d in "${W[@]}"; do
	grep "^$d $d-" "$STACK_DIR/acks" | awk '{print $3}' > "$STACK_DIR/v.$d"
	sort -n -c "$STACK_DIR/v.$d" 2>/dev/null || bad=$((bad + 1))
done
[ $bad -eq 0 ] && ok "$CASE" || fail "$CASE" "$bad writers out of order"
TOKEN=${TOK[$FOLLOWER]} call GET "/api/v1/sync/pull?since=0&limit=1000"
jqr '.changes[] | "\(.id) \(.version)"' | sort > "$STACK_DIR/server"
for id in "${!SEEN[@]}"; do echo "$id ${SEEN[$id]}"; done | sort > "$STACK_DIR/follower"
case_ "the follower, pulling from its cursor meanwhile ($pulls pulls), ends with the server's state"
if cmp -s "$STACK_DIR/server" "$STACK_DIR/follower"; then
	ok "$CASE"
else
	fail "$CASE" "$(diff "$STACK_DIR/server" "$STACK_DIR/follower" | head -5)"
fi
case_ "every acknowledged record is on the server at its acked version or later"
miss=0
while read -r d id v; do
	sv=$(grep "^$id " "$STACK_DIR/server" | cut -d' ' -f2)
	[ -n "$sv" ] && [ "$sv" -ge "$v" ] || miss=$((miss + 1))
done < "$STACK_DIR/acks"
[ $miss -eq 0 ] && ok "$CASE" || fail "$CASE" "$miss missing"

# --- 2. a long poll on one host wakes on a write through the other -----------------------
case_ "a long poll on host A wakes on a write through host B within milliseconds"
out=$(python3 "$TOP/bench/xhost_wake.py" "$BASE" "${TOK[${H1[2]}]}" "${TOK[${H2[2]}]}" 15)
read -r p50 pmax pmin <<<"$out"
if [ -n "$p50" ] && [ "$p50" != FAIL ] && awk -v p="$p50" 'BEGIN { exit !(p < 100) }'; then
	ok "$CASE (write through B -> poll on A answered: p50 $p50 ms, max $pmax ms, min $pmin ms, 15 wakes)"
else
	fail "$CASE" "$out"
fi
echo "  cross-host wake: p50 $p50 ms, max $pmax ms"

# --- 3. kill -9 of the PostgreSQL server ------------------------------------------------
case_ "kill -9 of PostgreSQL: every answer meanwhile is 200 or 503, none hangs"
pgkids=$(pgrep -P "$pg_pid")
kill -9 "$pg_pid" $pgkids 2>/dev/null
t0=$(date +%s%N)
: > "$STACK_DIR/down"
for i in $(seq 1 30); do
	for d in "${H1[1]}" "${H2[1]}"; do
		curl -sk -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 15 \
		    -H "Authorization: Bearer ${TOK[$d]}" -H 'Content-Type: application/json' \
		    --data-binary "{\"changes\":[{\"collection\":\"z\",\"id\":\"$d-$i\",\"base_version\":0,\"data\":{}}]}" \
		    "$BASE/api/v1/sync/push" >> "$STACK_DIR/down"
		curl -sk -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 15 \
		    -H "Authorization: Bearer ${TOK[$d]}" "$BASE/api/v1/sync/pull?since=0" >> "$STACK_DIR/down"
	done
	curl -sk -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 15 \
	    "$BASE/api/v1/health" >> "$STACK_DIR/down"
done
codes=$(awk '{print $1}' "$STACK_DIR/down" | sort | uniq -c | tr '\n' ' ')
slow=$(awk '$2 > 5 {n++} END {print n + 0}' "$STACK_DIR/down")
worst=$(awk '{print $2}' "$STACK_DIR/down" | sort -n | tail -1)
if [ -z "$(awk '$1 != 503 && $1 != 200' "$STACK_DIR/down")" ] && [ "$slow" -eq 0 ] &&
    grep -q '^503' "$STACK_DIR/down"; then
	ok "$CASE ($codes; slowest ${worst} s)"
else
	fail "$CASE" "codes: $codes; slowest ${worst} s, $slow over 5 s"
fi
case_ "the 503s are problem documents"
call GET /api/v1/health
check 503 application/problem+json '.code' '"SERVICE_UNAVAILABLE"'
case_ "PostgreSQL back: the hosts recover by themselves"
pg_cluster_start "$pg_dir" >/dev/null 2>&1
t1=$(date +%s%N)
okd=0
for i in $(seq 1 100); do
	a=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOK[${H1[1]}]}" "$BASE/api/v1/sync/pull?since=0")
	b=$(curl -sk -o /dev/null -w '%{http_code}' "$BASE/api/v1/health")
	[ "$a" = 200 ] && [ "$b" = 200 ] && { okd=1; break; }
	sleep 0.1
done
[ $okd = 1 ] && ok "$CASE ($(( ($(date +%s%N) - t1) / 1000000 )) ms after the server took connections)" ||
    fail "$CASE" "pull $a, health $b"
case_ "every write acknowledged before the outage is still there"
TOKEN=${TOK[$FOLLOWER]} call GET "/api/v1/sync/pull?since=0&limit=1000&collections=w"
jqr '.changes[] | "\(.id) \(.version)"' | sort > "$STACK_DIR/w.after"
cmp -s "$STACK_DIR/server" "$STACK_DIR/w.after" && ok "$CASE" ||
    fail "$CASE" "$(diff "$STACK_DIR/server" "$STACK_DIR/w.after" | head -3)"
case_ "after the outage a poll still wakes across hosts (the listener is back)"
sleep 2.5	# the listener's backoff is at most 2 s
TOKEN=${TOK[${H1[2]}]} call GET /api/v1/events
cur=$(jqr .cursor)
curl -sk -o "$STACK_DIR/wake" -w '%{http_code}' --max-time 20 \
    -H "Authorization: Bearer ${TOK[${H1[2]}]}" \
    "$BASE/api/v1/events?after=$cur&timeout=15" > "$STACK_DIR/wake.code" &
wp=$!
sleep 0.5
tw=$(date +%s%N)
TOKEN=${TOK[${H2[2]}]} call POST /api/v1/events '{"type":"app.back","data":{}}'
wait $wp
el=$(( ($(date +%s%N) - tw) / 1000000 ))
[ "$(cat "$STACK_DIR/wake.code")" = 200 ] && [ "$(jq '.events|length' "$STACK_DIR/wake")" -ge 1 ] &&
    [ "$el" -lt 3000 ] && ok "$CASE (${el} ms)" || fail "$CASE" "$(cat "$STACK_DIR/wake.code") after ${el} ms"
# --- 4. kill -9 of the host that sweeps, under a write load -----------------------------
# a session whose primary is a device of the sweeping host's peer
sweeper_pid=$(grep '"this host sweeps now' "$STACK_DIR/stack.log" | tail -1 |
    grep -o '"pid":[0-9]*' | cut -d: -f2)
victim=$(awk '{print $4}' "/proc/$sweeper_pid/stat" 2>/dev/null)
if [ "$victim" = "${masters[0]}" ]; then ALIVE=("${H2[@]}") DOOMED=("${H1[@]}"); else ALIVE=("${H1[@]}") DOOMED=("${H2[@]}"); fi
P1=${DOOMED[0]} P2=${ALIVE[0]}
TOKEN=${TOK[$P1]} call POST /api/v1/sessions '{"id":"s1"}'
TOKEN=${TOK[$P1]} call POST /api/v1/sessions/s1/primary '{"action":"claim"}'
TOKEN=${TOK[$P2]} call POST /api/v1/sessions/s1/messages '{"client_msg_id":"m1","body":"hi"}'
case_ "before the kill: the primary is held"
TOKEN=${TOK[$P2]} call GET /api/v1/sessions/s1/primary
check 200 application/json '.primary.device_id' "\"$P1\""
: > "$STACK_DIR/acks2"
loader() { # DEVICE: push until told to stop; ledger of acks
	local d=$1 i=0 code
	while [ ! -e "$STACK_DIR/stop" ]; do
		i=$((i + 1))
		code=$(curl -sk -o "$STACK_DIR/l.$d" -w '%{http_code}' --max-time 20 \
		    -H "Authorization: Bearer ${TOK[$d]}" -H 'Content-Type: application/json' \
		    --data-binary "{\"changes\":[{\"collection\":\"k\",\"id\":\"$d-$i\",\"base_version\":0,\"data\":{\"i\":$i}}]}" \
		    "$BASE/api/v1/sync/push")
		echo "$code $d-$i" >> "$STACK_DIR/acks2"
	done
}
LP=()
for d in "${DOOMED[1]}" "${DOOMED[2]}" "${ALIVE[1]}" "${ALIVE[2]}"; do loader "$d" & LP+=($!); done
sleep 1
case_ "kill -9 of the sweeping host (its master and every process of it)"
kids=$(pgrep -P "$victim")
kill -9 "$victim" $kids 2>/dev/null
t_kill=$(date +%s%N)
sleep 0.3
kill -0 "$victim" 2>/dev/null && fail "$CASE" "it lives" || ok "$CASE"
sleep 2
touch "$STACK_DIR/stop"
wait "${LP[@]}"
case_ "the other host serves the killed host's devices"
TOKEN=${TOK[${DOOMED[1]}]} call GET /api/v1/devices
check 200 application/json
for d in "${DOOMED[1]}" "${DOOMED[2]}"; do
	last=$(grep " $d-" "$STACK_DIR/acks2" | tail -3 | awk '{print $1}' | sort -u | tr '\n' ' ')
	[ "$last" = "200 " ] && ok "$CASE: $d pushes again" || fail "$CASE" "$d's last answers: $last"
done
case_ "no answer but 200 and the killed host's in-flight 502s"
others=$(awk '$1 != 200 && $1 != 502 {print $1}' "$STACK_DIR/acks2" | sort | uniq -c | tr '\n' ' ')
[ -z "$others" ] && ok "$CASE ($(grep -c '^502' "$STACK_DIR/acks2") x 502 of $(wc -l < "$STACK_DIR/acks2"))" ||
    fail "$CASE" "$others"
case_ "every acknowledged write is on the server"
: > "$STACK_DIR/k.server"
since=0
while :; do	# every page: a run under load acknowledges more than one holds
	TOKEN=${TOK[$P2]} call GET "/api/v1/sync/pull?since=$since&limit=1000&collections=k"
	[ "$STATUS" = 200 ] || break
	jqr '.changes[].id' >> "$STACK_DIR/k.server"
	since=$(jqr .cursor)
	[ "$(jqr .more)" = true ] || break
done
sort -o "$STACK_DIR/k.server" "$STACK_DIR/k.server"
lost=$(awk '$1 == 200 {print $2}' "$STACK_DIR/acks2" | sort | comm -23 - "$STACK_DIR/k.server" | wc -l)
[ "$lost" -eq 0 ] && ok "$CASE ($(grep -c '^200' "$STACK_DIR/acks2") acked)" || fail "$CASE" "$lost lost"
case_ "the other host sweeps now: the lapsed lease fails over within 5 s"
TOKEN=${TOK[$P2]} call POST /api/v1/devices/heartbeat
got=""
for i in $(seq 1 100); do
	TOKEN=${TOK[$P2]} call GET /api/v1/sessions/s1/primary
	got=$(jqr '.primary.device_id // "none"')
	[ "$got" = "$P2" ] && break
	sleep 0.1
done
el=$(( ($(date +%s%N) - t_kill) / 1000000 ))
# the lease (1.5 s) lapsed at most 1.5 s after the kill
[ "$got" = "$P2" ] && [ "$el" -lt 6500 ] && ok "$CASE (${el} ms after the kill)" ||
    fail "$CASE" "primary $got after ${el} ms"

# --- 5. the schema: hosts migrating at once, a newer schema refused -------------------
case_ "three hosts migrating an empty database at once: one schema"
FRESH="fresh_$$_$RANDOM"
pg_cluster_createdb "$FRESH"
furl=$(pg_cluster_url "$FRESH")
mp=()
for i in 1 2 3; do
	TANDEM_DATA_DIR="$STACK_DIR/data" TANDEM_DB_URL="$furl" "$TANDEMD" migrate \
	    > "$STACK_DIR/mig$i.log" 2>&1 &
	mp+=($!)
done
mrc=0
for p in "${mp[@]}"; do wait "$p" || mrc=$((mrc + 1)); done
nm=$("$pg_bin/psql" -h "$pg_dir" -U "$pg_user" -d "$FRESH" -XAtqc \
    "SELECT count(*) FROM schema_migrations")
[ "$mrc" -eq 0 ] && [ "$nm" = "$(ls "$TOP/migrations/postgres" | grep -c '\.sql$')" ] &&
    ok "$CASE ($nm migrations)" || fail "$CASE" "$mrc failed, $nm recorded"
case_ "a database whose schema is newer than this tandemd is refused, clearly"
"$pg_bin/psql" -h "$pg_dir" -U "$pg_user" -d "$FRESH" -XAtqc \
    "INSERT INTO schema_migrations VALUES ('9999_from_the_future', 0)"
out=$(TANDEM_DATA_DIR="$STACK_DIR/data" TANDEM_DB_URL="$furl" "$TANDEMD" migrate 2>&1)
mrc=$?
[ "$mrc" -ne 0 ] && [[ "$out" == *"newer than this tandemd"* ]] && [[ "$out" == *9999_from_the_future* ]] &&
    ok "$CASE" || fail "$CASE" "rc $mrc: $out"
pg_as "$pg_bin/dropdb" --force -h "$pg_dir" -U "$pg_user" "$FRESH"

case_ "no 5xx but 503 from tandemd"
n5=$(grep -o '"status":5[0-9][0-9]' "$STACK_DIR/stack.log" | grep -vc '"status":503')
[ "$n5" -eq 0 ] && ok "$CASE" || fail "$CASE" "$n5: $(grep -o '"status":5[0-9][0-9]' "$STACK_DIR/stack.log" | sort | uniq -c)"

finish
