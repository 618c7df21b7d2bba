#!/usr/bin/env bash
# Look-alike emails (1.1): an email is compared and stored after Unicode
# NFKC normalisation and full case folding, so every look-alike of an
# account's email is that account (409 at register, the same user at
# login); one holding a control or format character is 400 field email.
# Bodies spell non-ASCII characters as JSON \u escapes.
. "$(dirname "$0")/lib.sh"
stack_start

PW="jose's password"
PW2="another password"
dev='"device":{"id":"d1","platform":"p","name":"n"}'

reg() { # email-json-text [password]
	call POST /api/v1/auth/register "{\"email\":\"$1\",\"password\":\"${2:-$PW}\"}"
}
signin() { # email-json-text [password]
	call POST /api/v1/auth/login "{\"email\":\"$1\",\"password\":\"${2:-$PW}\",$dev}"
}

# --- the accounts -----------------------------------------------------------
case_ "register jos\u00e9@x.org (composed): stored as it is"
reg 'jos\u00e9@x.org'
check 201 application/json '.user.email == "jos\u00e9@x.org"' 'true'
JOSE_ID=$(jqr .user.id)
case_ "register kelvin@x.org"
reg 'kelvin@x.org'
check 201 application/json
case_ "register strasse@x.org"
reg 'strasse@x.org'
check 201 application/json
case_ "register alice@x.org"
reg 'alice@x.org'
check 201 application/json
case_ "the answer's email is the normalised form"
reg 'MiXeD.\u00c9@X.ORG'
check 201 application/json '.user.email == "mixed.\u00e9@x.org"' 'true'

# --- each look-alike is the same account: 409 -------------------------------
for la in 'JOS\u00c9@x.org' 'Jos\u00e9@X.org' 'jose\u0301@x.org' 'JOSE\u0301@x.org' \
    '\uff4a\uff4f\uff53\u00e9@x.org' '\uff2a\uff2f\uff33\u00c9@\uff58.\uff4f\uff52\uff47' \
    'jos\u00e9\uff20x.org' '\u212aelvin@x.org' 'stra\u00dfe@x.org' 'STRASSE@x.org' \
    'alice\ufe0f@x.org'; do
	case_ "register look-alike $la is 409 EMAIL_TAKEN"
	reg "$la" "$PW2"
	check 409 application/problem+json '.code' '"EMAIL_TAKEN"' '.field' '"email"'
done

# --- control and format characters: 400 -------------------------------------
for bad in 'alice@x.org\u200b' 'ali\u200bce@x.org' '\u202ealice@x.org' \
    'alice\u202e@x.org' 'alice\u2066@x.org' 'alice\u200e@x.org' \
    'alice\u200d@x.org' 'alice\ufeff@x.org' 'ali\u00adce@x.org' \
    'alice\u2028@x.org' 'alice\u2029@x.org' 'alice\u0085@x.org' \
    'alice\u0007@x.org' 'new\u200b@x.org'; do
	case_ "register $bad is 400 field email"
	reg "$bad" "$PW2"
	check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"email"'
done
case_ "an email whose normalised form is over 254 bytes is 400"
reg "$(printf '\\u3300%.0s' $(seq 25))@x.org" "$PW2"
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"email"'
case_ "white space after normalisation (no-break space) is 400"
reg 'ali\u00a0ce@x.org' "$PW2"
check 400 application/problem+json '.code' '"VALIDATION_FAILED"' '.field' '"email"'

# --- near misses stay different accounts ------------------------------------
case_ "jose@x.org is not jos\u00e9@x.org"
reg 'jose@x.org' "$PW2"
check 201 application/json '.user.email' '"jose@x.org"'
NEAR_ID=$(jqr .user.id)
[ -n "$NEAR_ID" ] && [ "$NEAR_ID" != "$JOSE_ID" ] && ok "a different user id" ||
    fail "a different user id" "$NEAR_ID vs $JOSE_ID"
case_ "strase@x.org is not strasse@x.org"
reg 'strase@x.org' "$PW2"
check 201 application/json

# --- login with a look-alike reaches the same account -----------------------
for la in 'jos\u00e9@x.org' 'JOSE\u0301@x.org' '\uff2a\uff2f\uff33\u00c9@\uff58.\uff4f\uff52\uff47' \
    'jos\u00e9\uff20x.org'; do
	case_ "login as $la is the one account"
	signin "$la"
	check 200 application/json '.user.id' "\"$JOSE_ID\"" \
	    '.user.email == "jos\u00e9@x.org"' 'true'
done
case_ "login as jose@x.org is the near miss's account"
signin 'jose@x.org' "$PW2"
check 200 application/json '.user.id' "\"$NEAR_ID\""
case_ "the near miss's password does not open jos\u00e9's account"
signin 'JOSE\u0301@x.org' "$PW2"
check 401 application/problem+json '.code' '"INVALID_CREDENTIALS"'
wrong=$(jqr 'del(.request_id)')

# --- login with an email that cannot be normalised: as an unknown one --------
t0=$(date +%s%N)
case_ "login with a zero-width space is 401 INVALID_CREDENTIALS"
signin 'jos\u00e9@x.org\u200b'
t1=$(date +%s%N)
check 401 application/problem+json '.code' '"INVALID_CREDENTIALS"'
[ "$(jqr 'del(.request_id)')" = "$wrong" ] && ok "identical to a wrong password's body" ||
    fail "identical to a wrong password's body" "$(jqr 'del(.request_id)') vs $wrong"
case_ "login with a bidi control is 401 INVALID_CREDENTIALS"
signin '\u202ejos\u00e9@x.org'
check 401 application/problem+json '.code' '"INVALID_CREDENTIALS"'
case_ "login with a malformed email is 401 INVALID_CREDENTIALS"
signin 'not-an-email'
check 401 application/problem+json '.code' '"INVALID_CREDENTIALS"'
case_ "an email that cannot be normalised costs argon2 work"
ms=$(( (t1 - t0) / 1000000 ))
[ "$ms" -ge 5 ] && ok "$CASE ($ms ms)" || fail "$CASE" "$ms ms"

finish
