#!/usr/bin/env bash
# docs/openapi.yaml: valid OpenAPI 3.1 by two validators from the npm
# registry (Redocly's lint and the official JSON schema), and in step
# with the route table of handlers/routes.c, the error codes the code
# uses, and docs/API.md.  No server is started.
. "$(dirname "$0")/lib.sh"

SPEC="$TOP/docs/openapi.yaml"
NPM_DIR="$TOP/build/npm"
BIN="$NPM_DIR/node_modules/.bin"
WORK=$(mktemp -d /tmp/tandem-openapi.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_COLOR=1

# --- the validators, installed once under build/npm -------------------------
if [ ! -x "$BIN/redocly" ] || [ ! -x "$BIN/validate-api" ]; then
	if ! command -v npm >/dev/null 2>&1; then
		fail "validators" "npm is not installed (Debian: nodejs npm)"
		finish
		exit 1
	fi
	# Redocly CLI 2 wants node >= 20.19; 1.x runs on Debian 12's node 18.
	redocly=@redocly/cli@2.77.0
	node -e 'const [a, b] = process.versions.node.split(".").map(Number);
	    process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null ||
	    redocly=@redocly/cli@1.34.5
	mkdir -p "$NPM_DIR"
	npm install --prefix "$NPM_DIR" --no-audit --no-fund --loglevel=error \
	    "$redocly" @seriousme/openapi-schema-validator@2.11.0 > "$WORK/npm.log" 2>&1
fi
case_ "the validators are installed"
if [ -x "$BIN/redocly" ] && [ -x "$BIN/validate-api" ]; then
	ok "$CASE"
else
	fail "$CASE" "$(tail -5 "$WORK/npm.log" 2>/dev/null)"
	finish
	exit 1
fi

# --- validity ---------------------------------------------------------------
case_ "redocly lint: no errors, no warnings"
out=$("$BIN/redocly" lint --format=stylish "$SPEC" 2>&1)
rc=$?
# (the box of node's deprecation notice is not the description's)
if [ $rc = 0 ] && ! grep -vE '║|╔|╚' <<< "$out" | grep -qiE 'warning|error'; then
	ok "$CASE"
else
	fail "$CASE" "$(grep -vE '║|╔|╚' <<< "$out" | tail -15)"
fi
case_ "the official OpenAPI 3.1 schema accepts it"
out=$("$BIN/validate-api" "$SPEC" 2>&1)
[ $? = 0 ] && grep -q '"valid": true' <<< "$out" && ok "$CASE" || fail "$CASE" "$out"
case_ "it is OpenAPI 3.1"
head -1 "$SPEC" | grep -qx 'openapi: 3.1.0' && ok "$CASE" || fail "$CASE" "$(head -1 "$SPEC")"

case_ "the validators reject a broken description (they can fail)"
# a response without its required description, and a $ref to nothing
sed -e '0,/^        .204.: { description: Logged out. }$/s//        "204": {}/' \
    -e '0,/#\/components\/schemas\/Health/s//#\/components\/schemas\/Nothing/' \
    "$SPEC" > "$WORK/broken.yaml"
if ! cmp -s "$SPEC" "$WORK/broken.yaml" &&
    ! "$BIN/redocly" lint "$WORK/broken.yaml" >/dev/null 2>&1 &&
    ! "$BIN/validate-api" "$WORK/broken.yaml" 2>/dev/null | grep -q '"valid": true'; then
	ok "$CASE"
else
	fail "$CASE" "a broken file passed"
fi

# --- the route table and the paths ------------------------------------------
# "METHOD /path/{param}" for every route of handlers/routes.c
routes() {
	sed -nE 's/^[[:space:]]*\{[[:space:]]*HTTP_([A-Z]+),[[:space:]]*"([^"]+)".*/\1 \2/p' \
	    "$TOP/handlers/routes.c" | sed -E 's/:([a-z]+)/{\1}/g' | sort -u
}
# the same for every operation of a spec
spec_ops() {
	"$BIN/redocly" bundle "$1" --dereferenced --ext json --output "$WORK/bundle.json" >/dev/null 2>&1 &&
	    jq -r '.paths | to_entries[] | .key as $p | .value | keys[] |
	    select(IN("get","put","post","delete","patch","head","options")) |
	    "\(ascii_upcase) \($p)"' "$WORK/bundle.json" | sort -u
}
routes > "$WORK/routes"
spec_ops "$SPEC" > "$WORK/ops"
case_ "the route table parses (every route has a method and a path)"
n_table=$(grep -cE '^[[:space:]]*\{[[:space:]]*HTTP_[A-Z]+,' "$TOP/handlers/routes.c")
n_routes=$(wc -l < "$WORK/routes")
[ "$n_routes" -ge 30 ] && [ "$n_routes" = "$n_table" ] && ok "$CASE ($n_routes routes)" ||
    fail "$CASE" "$n_routes parsed of $n_table table lines"
case_ "every route of routes.c is in openapi.yaml"
missing=$(comm -23 "$WORK/routes" "$WORK/ops")
[ -z "$missing" ] && ok "$CASE" || fail "$CASE" "missing: $(tr '\n' ';' <<< "$missing")"
case_ "every operation of openapi.yaml is a route of routes.c"
extra=$(comm -13 "$WORK/routes" "$WORK/ops")
[ -z "$extra" ] && ok "$CASE" || fail "$CASE" "not routes: $(tr '\n' ';' <<< "$extra")"
case_ "the comparison notices a route left out (it can fail)"
sed '/^  \/api\/v1\/export:/,/^  \/api\/v1\/import:/{/^  \/api\/v1\/import:/!d}' \
    "$SPEC" > "$WORK/less.yaml"
spec_ops "$WORK/less.yaml" > "$WORK/less-ops"
[ "$(comm -23 "$WORK/routes" "$WORK/less-ops")" = "GET /api/v1/export" ] && ok "$CASE" ||
    fail "$CASE" "got '$(comm -23 "$WORK/routes" "$WORK/less-ops" | tr '\n' ';')'"

case_ "path parameters are declared for every templated path"
spec_ops "$SPEC" > /dev/null	# bundle.json is the real spec's again
undeclared=$(jq -r '.paths | to_entries[] | .key as $p |
    ([$p | scan("\\{([a-z]+)\\}") | .[0]]) as $want |
    ([.value.parameters[]? | select(.in == "path") | .name]) as $have |
    select(($want - $have) | length > 0) | $p' "$WORK/bundle.json")
[ -z "$undeclared" ] && ok "$CASE" || fail "$CASE" "$undeclared"

# --- error codes ------------------------------------------------------------
case_ "every error code the code can answer is in the Problem schema"
codes=$( { grep -ohE 'problem(_field)?\([^,]+, [0-9]+, "[A-Z_]+"' "$TOP"/handlers/*.c "$TOP"/lib/*.c |
    grep -oE '"[A-Z_]+"$' | tr -d '"'
    grep -ohE 'unauthorized\([^,]+, "[A-Z_]+"' "$TOP"/handlers/*.c | grep -oE '"[A-Z_]+"$' | tr -d '"'
    sed -n '/map \$status \$tandem_err_code {/,/}/p' "$TOP/nginx/nginx.conf.in" |
    grep -oE '\b[A-Z][A-Z_]+\b'; } | sort -u)
enum=$(jq -r '.components.schemas.Problem.properties.code.enum[]' "$WORK/bundle.json" | sort -u)
missing=$(comm -23 <(echo "$codes") <(echo "$enum"))
[ -n "$codes" ] && [ -z "$missing" ] && ok "$CASE ($(wc -w <<< "$codes") codes)" ||
    fail "$CASE" "not in the enum: $(tr '\n' ' ' <<< "$missing")"
case_ "every code of the Problem schema is described in docs/API.md"
missing=""
for c in $enum; do grep -q "\`$c\`" "$TOP/docs/API.md" || missing="$missing $c"; done
[ -z "$missing" ] && ok "$CASE" || fail "$CASE" "not in API.md:$missing"

# --- docs/API.md ------------------------------------------------------------
case_ "docs/API.md has a section for every route"
missing=""
while read -r m p; do
	grep -qF "### \`$m $p\`" "$TOP/docs/API.md" || missing="$missing; $m $p"
done < "$WORK/routes"
[ -z "$missing" ] && ok "$CASE" || fail "$CASE" "no section for${missing#;}"
case_ "docs/API.md has no section for a route that does not exist"
extra=$(grep -oE '^### `[A-Z]+ /[^`]+`' "$TOP/docs/API.md" | sed -E 's/^### `(.*)`$/\1/' | sort -u |
    comm -13 "$WORK/routes" -)
[ -z "$extra" ] && ok "$CASE" || fail "$CASE" "$(tr '\n' ';' <<< "$extra")"

# --- the configuration tables ---------------------------------------------------
# README's (and OPERATIONS.md's) table of tandemd's variables is what
# `tandemd config` prints, row for row.
"$TANDEMD" config > "$WORK/config.md" 2>/dev/null
for doc in README.md docs/OPERATIONS.md; do
	case_ "$doc's tandemd configuration table is what \`tandemd config\` prints"
	awk '/`tandemd config` prints/ {on = 1; next} on && /^\|/ {print; seen = 1; next} on && seen {exit}' \
	    "$TOP/$doc" > "$WORK/doc-config.md"
	if [ ! -s "$WORK/doc-config.md" ]; then
		fail "$CASE" "no table after a line saying \`tandemd config\` prints it"
	elif diff -q "$WORK/config.md" "$WORK/doc-config.md" > /dev/null; then
		ok "$CASE ($(($(wc -l < "$WORK/config.md") - 2)) variables)"
	else
		fail "$CASE" "$(diff "$WORK/config.md" "$WORK/doc-config.md" | head -12 | tr '\n' ' ')"
	fi
done
finish
