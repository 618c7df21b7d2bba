#!/usr/bin/env bash
# The secret guard (API.md "Sync", "Secret guard"): each built-in kind
# and a TANDEM_SECRET_PATTERNS kind refused on push, resolve and import with
# field and kind, a near miss of each accepted, nothing of a refused batch
# written; a bad patterns file stops tandemd at start with its line
# number; TANDEM_SECRET_GUARD=redact stores [REDACTED:kind] with the
# paths in the result and a checksum of what was stored; =0 stores it as
# sent; /info's secret_guard in each mode.
. "$(dirname "$0")/lib.sh"

PAT_DIR=$(mktemp -d /tmp/tandem-secret.XXXXXX)
trap 'rm -rf "$PAT_DIR"; stack_stop' EXIT
PAT="$PAT_DIR/patterns"
printf '# kinds of our own\nacme_token\tacme_[0-9a-f]{32}\n\ninternal_id\tINT-[0-9]{6}-[A-Z]{2}\n' > "$PAT"

# rep N: N characters of [A-Z0-9]
rep() {
	local s=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 out=""
	while [ ${#out} -lt "$1" ]; do out+=$s; done
	printf '%s' "${out:0:$1}"
}
csum() { printf 'sha256:%s' "$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)"; }
push() { call POST /api/v1/sync/push "$1"; }
# one COLL ID DATA-JSON: a push of one new record
one() { push "{\"changes\":[{\"collection\":\"$1\",\"id\":\"$2\",\"base_version\":0,\"data\":$3}]}"; }
# The state that must not move: the cursor, the records, the events.
state() {
	local s
	call GET "/api/v1/sync/pull?since=0&limit=1000"
	s="$(jqr .cursor) $(jqr '.changes|length') $(printf '%s' "$RBODY" | sha256sum | cut -c1-16)"
	call GET "/api/v1/events?after=0&limit=1000"
	echo "$s $(jqr '.events|length')"
}

AWS="AKIA$(rep 16)"
ASIA="ASIA$(rep 16)"
GHP="ghp_$(rep 36)"
GHPAT="github_pat_$(rep 82)"
GLPAT="glpat-$(rep 20)"
XOXB="xoxb-123456789012-$(rep 24)"
STRIPE="sk_live_$(rep 24)"
GOOGLE="AIza$(rep 35)"
PEM=$'-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n'
ACME="acme_0123456789abcdef0123456789abcdef"
INTID="INT-123456-AB"

# ---- a bad patterns file: tandemd refuses to start, naming the line
bad_patterns() { # NAME CONTENT LINE WHAT
	case_ "a patterns file with $1 stops tandemd at start"
	printf "$2" > "$PAT_DIR/bad"
	if ! stack_fails TANDEM_SECRET_PATTERNS="$PAT_DIR/bad"; then
		fail "$CASE" "the stack started"
		return
	fi
	if [[ "$STACK_OUT" == *"TANDEM_SECRET_PATTERNS: $PAT_DIR/bad:$3: "*"$4"* ]]; then
		ok "$CASE"
	else
		fail "$CASE" "output: ${STACK_OUT:0:400}"
	fi
}
bad_patterns "a line without a tab" '# ok\nfine\tx+\nno tab\n' 3 "no tab"
bad_patterns "a regex that does not compile" 'fine\tx+\n\nbroken\tab(c\n' 3 "Unmatched ( or \\("
bad_patterns "a bad kind name" 'Upper\tx\n' 1 "[a-z0-9_]"
bad_patterns "a built-in kind's name" '\n\n\n\naws_access_key\tAKIA.*\n' 5 "built in"
bad_patterns "a kind twice" 'a\tx\nb\ty\na\tz\n' 3 "defined already"
bad_patterns "a pattern matching the empty string" 'any\t.*\n' 1 "empty string"

case_ "tandemd config refuses the bad file too, exit 2"
out=$(TANDEM_SECRET_PATTERNS="$PAT_DIR/bad" TANDEM_DATA_DIR=/nonexistent "$TANDEMD" config 2>&1)
rc=$?
[ $rc -eq 2 ] && [[ "$out" == *"$PAT_DIR/bad:1: "* ]] && ok "$CASE" || fail "$CASE" "rc $rc: $out"
case_ "a patterns file that cannot be read stops it"
out=$(TANDEM_SECRET_PATTERNS="$PAT_DIR/none" TANDEM_DATA_DIR=/nonexistent "$TANDEMD" config 2>&1)
rc=$?
[ $rc -eq 2 ] && [[ "$out" == *"$PAT_DIR/none: No such file"* ]] && ok "$CASE" || fail "$CASE" "rc $rc: $out"
case_ "an unknown TANDEM_SECRET_GUARD stops it"
out=$(TANDEM_SECRET_GUARD=maybe TANDEM_DATA_DIR=/nonexistent "$TANDEMD" config 2>&1)
rc=$?
[ $rc -eq 2 ] && [[ "$out" == *TANDEM_SECRET_GUARD=maybe* ]] && ok "$CASE" || fail "$CASE" "rc $rc: $out"
case_ "tandemd config lists TANDEM_SECRET_GUARD and TANDEM_SECRET_PATTERNS"
out=$(TANDEM_SECRET_PATTERNS="$PAT" TANDEM_DATA_DIR=/nonexistent "$TANDEMD" config 2>&1)
[[ "$out" == *'`TANDEM_SECRET_GUARD` | 1 |'* && "$out" == *'`TANDEM_SECRET_PATTERNS`'* ]] && ok "$CASE" || fail "$CASE" "$out"

# ---- refuse (the default), with a patterns file
stack_start TANDEM_RATE_PER_S=0 TANDEM_SECRET_PATTERNS="$PAT"
register gina@example.com password-gina
login TA gina@example.com password-gina g-desk
login TB gina@example.com password-gina g-phone
TOKEN=$TA

case_ "info: secret_guard is refuse by default"
call GET /api/v1/info
check 200 application/json '.secret_guard' '"refuse"'

case_ "a first record"
one base r0 '{"x":1}'
check 200 application/json '.results[0].status' '"applied"'
STATE0=$(state)

# refused KIND VALUE: VALUE in changes[1].data.ssh.key is 422 with kind
refused() {
	case_ "push refuses $1 (${2:0:14}...)"
	push "$(jq -nc --arg v "$2" '{changes:[{collection:"s",id:"fine",base_version:0,data:{a:1}},{collection:"s",id:"k",base_version:0,data:{ssh:{key:("key: " + $v + " (keep it safe)")}}}]}')"
	check 422 application/problem+json '.code' '"SECRET_REJECTED"' \
	    '.field' '"changes[1].data.ssh.key"' '.kind' "\"$1\"" \
	    '.detail|test("changes\\[1\\].data.ssh.key") and test("'"$1"'")' 'true'
}
refused private_key "$PEM"
refused private_key "-----BEGIN RSA PRIVATE KEY-----"
refused private_key "-----BEGIN PGP PRIVATE KEY BLOCK-----"
refused aws_access_key "$AWS"
refused aws_access_key "$ASIA"
refused github_token "$GHP"
refused github_token "gho_$(rep 36)"
refused github_token "$GHPAT"
refused gitlab_token "$GLPAT"
refused slack_token "$XOXB"
refused stripe_key "$STRIPE"
refused stripe_key "rk_live_$(rep 40)"
refused google_api_key "$GOOGLE"
refused acme_token "$ACME"
refused internal_id "$INTID"

case_ "a secret as a member name, deep in an array"
push "$(jq -nc --arg v "$AWS" '{changes:[{collection:"s",id:"m",base_version:0,data:{list:[1,{($v):true}]}}]}')"
check 422 application/problem+json '.code' '"SECRET_REJECTED"' \
    '.field' "\"changes[0].data.list[1].$AWS\"" '.kind' '"aws_access_key"'
case_ "the leftmost secret in a string names the kind"
push "$(jq -nc --arg v "$GHP then $AWS" '{changes:[{collection:"s",id:"l",base_version:0,data:{t:$v}}]}')"
check 422 application/problem+json '.field' '"changes[0].data.t"' '.kind' '"github_token"'
push "$(jq -nc --arg v "x $INTID then $GOOGLE" '{changes:[{collection:"s",id:"l",base_version:0,data:{t:$v}}]}')"
check 422 application/problem+json '.field' '"changes[0].data.t"' '.kind' '"internal_id"'
case_ "a deletion is never refused"
push '{"changes":[{"collection":"s","id":"gone","base_version":0,"deleted":true}]}'
check 200 application/json '.results[0].status' '"unchanged"'
case_ "nothing of the refused batches was written"
[ "$(state)" = "$STATE0" ] && ok "$CASE" || fail "$CASE" "state moved: $STATE0 -> $(state)"
TOKEN=$TA

# near MISS VALUE: VALUE is stored
n=0
near() {
	n=$((n + 1))
	case_ "a near miss is stored: $1"
	push "$(jq -nc --arg v "$2" --arg id "near$n" '{changes:[{collection:"near",id:$id,base_version:0,data:{v:$v}}]}')"
	check 200 application/json '.results[0].status' '"applied"' '.results[0]|has("redacted")' 'false'
}
near "AKIA + 15" "AKIA$(rep 15)"
near "AKIA + 17" "AKIA$(rep 17)"
near "AKIA glued to a letter before it" "x$AWS"
near "AKIA glued to an underscore after it" "${AWS}_"
near "lower-case akia" "akia$(rep 16 | tr 'A-Z' 'a-z')"
near "ghp_ + 35" "ghp_$(rep 35)"
near "ghx_ + 36" "ghx_$(rep 36)"
near "github_pat_ + 81" "github_pat_$(rep 81)"
near "glpat- + 19" "glpat-$(rep 19)"
near "xoxq-" "xoxq-123456789012-$(rep 24)"
near "xoxb- + 9" "xoxb-$(rep 9)"
near "sk_test_" "sk_test_$(rep 30)"
near "sk_live_ + 23" "sk_live_$(rep 23)"
near "pk_live_" "pk_live_$(rep 30)"
near "AIza + 34" "AIza$(rep 34)"
near "a public key" $'-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----'
near "a certificate" $'-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'
near "a BEGIN line without its dashes" "-----BEGIN RSA PRIVATE KEY"
near "a private key label in lower case" "-----begin rsa private key-----"
near "acme_ + 31 hex" "acme_0123456789abcdef0123456789abcde"
near "an ssh public key" "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI me@host"

# ---- import
call GET /api/v1/export
printf '%s' "$RBODY" > "$PAT_DIR/export.json"
register hal@example.com password-hal
login TH hal@example.com password-hal h-desk
TOKEN=$TH
case_ "import refuses a record holding a secret, naming path and kind"
call POST /api/v1/import "$(jq -c --arg v "$GLPAT" '.records[0].data = {ci:{token:$v}}' "$PAT_DIR/export.json")"
check 422 application/problem+json '.code' '"SECRET_REJECTED"' '.field' '"records[0].data.ci.token"' '.kind' '"gitlab_token"'
case_ "import refuses a patterns file's kind"
call POST /api/v1/import "$(jq -c --arg v "$ACME" '.records[1].data = {x:[1,$v]}' "$PAT_DIR/export.json")"
check 422 application/problem+json '.code' '"SECRET_REJECTED"' '.field' '"records[1].data.x[1]"' '.kind' '"acme_token"'
case_ "nothing was imported"
call GET "/api/v1/sync/pull?since=0"
check 200 application/json '.changes' '[]'
TOKEN=$TA

# ---- resolve
write() { # DEV-TOKEN ID BASE DATA: sets VER and CID
	TOKEN=$1
	push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"$2\",\"base_version\":$3,\"data\":$4}]}"
	VER=$(jqr '.results[0].version')
	CID=$(jqr '.results[0].conflict_id // empty')
}
write "$TA" c1 0 '{"n":1}'
V1=$VER
write "$TA" c1 "$V1" '{"n":2}'
write "$TB" c1 "$V1" '{"n":3}'
C1=$CID
case_ "a conflict to resolve"
[ -n "$C1" ] && ok "$CASE" || fail "$CASE" "no conflict: $RBODY"
STATE1=$(state)
case_ "resolve refuses a secret in merged data, naming path and kind"
call POST "/api/v1/conflicts/$C1/resolve" "$(jq -nc --arg v "$STRIPE" '{resolution:"merged",data:{n:4,billing:{key:$v}}}')"
check 422 application/problem+json '.code' '"SECRET_REJECTED"' '.field' '"data.billing.key"' '.kind' '"stripe_key"'
case_ "resolve refuses a patterns file's kind"
call POST "/api/v1/conflicts/$C1/resolve" "$(jq -nc --arg v "$ACME" '{resolution:"merged",data:{tokens:["ok",$v]}}')"
check 422 application/problem+json '.code' '"SECRET_REJECTED"' '.field' '"data.tokens[1]"' '.kind' '"acme_token"'
case_ "nothing was written, the conflict is still open"
[ "$(state)" = "$STATE1" ] && ok "$CASE" || fail "$CASE" "state moved"
call GET "/api/v1/conflicts/$C1"
check 200 application/json '.conflict.status' '"open"'
case_ "resolve with clean merged data has no redacted member"
call POST "/api/v1/conflicts/$C1/resolve" '{"resolution":"merged","data":{"n":4}}'
check 200 application/json '.record.data' '{"n":4}' 'has("redacted")' 'false'

# ---- redact
stack_stop
stack_start TANDEM_RATE_PER_S=0 TANDEM_SECRET_GUARD=redact TANDEM_SECRET_PATTERNS="$PAT"
register gina@example.com password-gina
login TA gina@example.com password-gina g-desk
login TB gina@example.com password-gina g-phone
TOKEN=$TA

case_ "info: secret_guard is redact"
call GET /api/v1/info
check 200 application/json '.secret_guard' '"redact"'

DATA=$(jq -nc --arg pem "$PEM" --arg aws "$AWS" --arg asia "$ASIA" --arg ghp "$GHP" \
    --arg acme "$ACME" --arg g "$GOOGLE" \
    '{ssh:{key:("my key:\n" + $pem + "end")}, aws:("id " + $aws + " and " + $asia), list:["ok", 1, $ghp], ($aws):{k:$acme}, clean:"nothing here", half:("-----BEGIN EC PRIVATE KEY-----\nMHcC " + $g)}')
SENT_SUM=$(csum "$(printf '%s' "$DATA" | jq -cS .)")
WANT=$(jq -nc '{ssh:{key:"my key:\n[REDACTED:private_key]\nend"}, aws:"id [REDACTED:aws_access_key] and [REDACTED:aws_access_key]", list:["ok", 1, "[REDACTED:github_token]"], "[REDACTED:aws_access_key]":{k:"[REDACTED:acme_token]"}, clean:"nothing here", half:"[REDACTED:private_key]"}')
WANT_SUM=$(csum "$(printf '%s' "$WANT" | jq -cS .)")
case_ "redact: the change is written with each match replaced, the paths in the result"
push "$(jq -nc --argjson d "$DATA" --arg sum "$SENT_SUM" '{changes:[{collection:"r",id:"fine",base_version:0,data:{a:1}},{collection:"r",id:"k",base_version:0,data:$d,checksum:$sum}]}')"
check 200 application/json '.results[1].status' '"applied"' \
    '.results[1].redacted' '["data.ssh.key","data.aws","data.list[2]","data.[REDACTED:aws_access_key]","data.[REDACTED:aws_access_key].k","data.half"]' \
    '.results[0]|has("redacted")' 'false'
VR=$(jqr '.results[1].version')
case_ "redact: the stored record holds [REDACTED:kind] and the checksum of what was stored"
call GET /api/v1/collections/r/records/k
check 200 application/json '.record.data' "$(printf '%s' "$WANT" | jq -cS .)" \
    '.record.checksum' "\"$WANT_SUM\"" '.record.version' "$VR"
case_ "redact: pull returns the redacted data with a checksum matching it"
call GET "/api/v1/sync/pull?since=0&collections=r"
check 200 application/json '.changes|length' '2' '.changes[1].id' '"k"' \
    '.changes[1].checksum' "\"$WANT_SUM\"" '.changes[1].version' "$VR"
got=$(csum "$(jqr '.changes[1].data' | jq -cS .)")
[ "$got" = "$WANT_SUM" ] && ok "$CASE: checksum of the data pulled" || fail "$CASE" "checksum of the data pulled $got, want $WANT_SUM"
[[ "$RBODY" != *"$AWS"* && "$RBODY" != *"$GHP"* && "$RBODY" != *OPENSSH* ]] && ok "$CASE: no secret pulled" || fail "$CASE" "a secret came back: ${RBODY:0:300}"
case_ "redact: a client checksum of the redacted data is a mismatch (checked against what was sent)"
push "$(jq -nc --argjson d "$DATA" --arg sum "$WANT_SUM" '{changes:[{collection:"r",id:"k2",base_version:0,data:$d,checksum:$sum}]}')"
check 422 application/problem+json '.code' '"CHECKSUM_MISMATCH"' '.field' '"changes[0].checksum"'
case_ "redact: the same secrets pushed again are unchanged, still with their paths"
push "$(jq -nc --argjson d "$DATA" --argjson v "$VR" '{changes:[{collection:"r",id:"k",base_version:$v,data:$d}]}')"
check 200 application/json '.results[0].status' '"unchanged"' '.results[0].version' "$VR" '.results[0].redacted|length' '6'
case_ "redact: a record that grows past the limit by redaction is 413"
big=$(for i in $(seq 12000); do printf '%s ' "$AWS"; done)
printf '%s' "$big" | jq -Rsc '{changes:[{collection:"r",id:"big",base_version:0,data:{s:.}}]}' > "$PAT_DIR/big.json"
call POST /api/v1/sync/push "" --data-binary "@$PAT_DIR/big.json" -H 'Content-Type: application/json'
check 413 application/problem+json '.code' '"PAYLOAD_TOO_LARGE"' '.field' '"changes[0].data"'
case_ "redact: two member names that would redact alike are refused"
push "$(jq -nc --arg a "$AWS" --arg b "$ASIA" '{changes:[{collection:"r",id:"clash",base_version:0,data:{o:{($a):1,($b):2}}}]}')"
check 422 application/problem+json '.code' '"SECRET_REJECTED"' '.field' "\"changes[0].data.o.$AWS\"" '.kind' '"aws_access_key"'
case_ "redact: a conflict stores the redacted data"
write() {
	TOKEN=$1
	push "{\"changes\":[{\"collection\":\"notes\",\"id\":\"$2\",\"base_version\":$3,\"data\":$4}]}"
	VER=$(jqr '.results[0].version')
	CID=$(jqr '.results[0].conflict_id // empty')
}
write "$TA" c1 0 '{"n":1}'
V1=$VER
write "$TA" c1 "$V1" '{"n":2}'
write "$TB" c1 "$V1" "{\"n\":3,\"t\":\"$GLPAT\"}"
C1=$CID
check 200 application/json '.results[0].status' '"conflict"' '.results[0].redacted' '["data.t"]'
call GET "/api/v1/conflicts/$C1"
check 200 application/json '.conflict.client.data' '{"n":3,"t":"[REDACTED:gitlab_token]"}'
case_ "redact: resolve writes merged data redacted, its paths beside the record"
call POST "/api/v1/conflicts/$C1/resolve" "$(jq -nc --arg v "$XOXB" --arg i "$INTID" '{resolution:"merged",data:{n:4,slack:$v,ids:[$i]}}')"
check 200 application/json '.record.data' '{"ids":["[REDACTED:internal_id]"],"n":4,"slack":"[REDACTED:slack_token]"}' \
    '.redacted' '["data.slack","data.ids[0]"]' '.conflict.status' '"resolved"'
RSUM=$(jqr .record.checksum)
[ "$RSUM" = "$(csum '{"ids":["[REDACTED:internal_id]"],"n":4,"slack":"[REDACTED:slack_token]"}')" ] && ok "$CASE: checksum" || fail "$CASE" "checksum $RSUM"

case_ "redact: import writes a record redacted"
TOKEN=$TA
call GET /api/v1/export
printf '%s' "$RBODY" > "$PAT_DIR/export.json"
register hal@example.com password-hal
login TH hal@example.com password-hal h-desk
TOKEN=$TH
call POST /api/v1/import "$(jq -c --arg v "$AWS" '.records[0].data = {t:("k " + $v)}' "$PAT_DIR/export.json")"
check 200 application/json '.imported.records > 0' 'true'
rc0=$(jq -r '.records[0].collection' "$PAT_DIR/export.json")
ri0=$(jq -r '.records[0].id' "$PAT_DIR/export.json")
call GET "/api/v1/collections/$rc0/records/$ri0"
check 200 application/json '.record.data' '{"t":"k [REDACTED:aws_access_key]"}' \
    '.record.checksum' "\"$(csum '{"t":"k [REDACTED:aws_access_key]"}')\""

# ---- off
stack_stop
stack_start TANDEM_RATE_PER_S=0 TANDEM_SECRET_GUARD=0
register gina@example.com password-gina
login TA gina@example.com password-gina g-desk
TOKEN=$TA
case_ "info: secret_guard is off with TANDEM_SECRET_GUARD=0"
call GET /api/v1/info
check 200 application/json '.secret_guard' '"off"'
case_ "off: a record holding secrets is stored as sent"
push "$(jq -nc --argjson d "$DATA" '{changes:[{collection:"r",id:"k",base_version:0,data:$d}]}')"
check 200 application/json '.results[0].status' '"applied"' '.results[0]|has("redacted")' 'false'
call GET /api/v1/collections/r/records/k
check 200 application/json '.record.data' "$(printf '%s' "$DATA" | jq -cS .)" '.record.checksum' "\"$SENT_SUM\""

# ---- the words refuse and off
stack_stop
stack_start TANDEM_RATE_PER_S=0 TANDEM_SECRET_GUARD=off
case_ "info: secret_guard is off with TANDEM_SECRET_GUARD=off"
TOKEN=""
call GET /api/v1/info
check 200 application/json '.secret_guard' '"off"'
stack_stop
stack_start TANDEM_RATE_PER_S=0 TANDEM_SECRET_GUARD=refuse
case_ "info: secret_guard is refuse with TANDEM_SECRET_GUARD=refuse"
call GET /api/v1/info
check 200 application/json '.secret_guard' '"refuse"'
register gina@example.com password-gina
login TA gina@example.com password-gina g-desk
TOKEN=$TA
case_ "refuse: the built-in kinds without a patterns file"
one s k "$(jq -nc --arg v "$GOOGLE" '{k:$v}')"
check 422 application/problem+json '.kind' '"google_api_key"' '.field' '"changes[0].data.k"'
one s k "$(jq -nc --arg v "$ACME" '{k:$v}')"
check 200 application/json '.results[0].status' '"applied"'

finish
