#!/usr/bin/env bash
# veil kms end to end with SoftHSM2 and the simulator (docs/kms.md):
#  - SoftHSM2 token (scripts/softhsm-setup.sh), `veil kms init` with its root
#    key, `veil kms serve` on 127.0.0.1 port 0 (ports from the ready line);
#  - an ohttp key, reference values admitting exactly `veil measure --sim` of
#    the veil binary and trusting the simulated ARK, a release policy;
#  - `veil sim launch -- veil kms fetch` obtains the key set;
#  - refused, each with a problem+json naming the check and a ledger entry
#    (GET /v1/ledger/entry) saying so: another measurement (a config file),
#    debug (guest policy 0xB0000), REPORT_DATA for another public key,
#    evidence under an untrusted simulated root, and a reused nonce.
# Expired nonces are covered in-process by tests/unit/kms_test.c.
#   e2e.sh PATH/TO/veil    (exit 77: SoftHSM2, curl, jq or openssl missing)
. "$(dirname "$0")/../sim/common.sh"
SCRIPTS=$(cd "$(dirname "$0")/../../scripts" && pwd)
for tool in softhsm2-util curl jq openssl; do
  command -v $tool >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
[ -e /usr/lib/softhsm/libsofthsm2.so ] || { echo "SKIP: no libsofthsm2.so"; exit 77; }
CURL=(curl -sS --max-time 30)

note "SoftHSM2 token and veil kms init"
eval "$("$SCRIPTS/softhsm-setup.sh" "$T/hsm")"
"$VEIL" kms init --state "$T/kms" --hsm-token veil-kms --hsm-pin-file "$T/hsm/pin" \
  --admin-token-file "$T/token" --json >"$T/init.json"
grep -q '"root": *"pkcs11' "$T/init.json" || fail "init: root key not in the token: $(cat "$T/init.json")"
TOKEN=$(cat "$T/token")

note "veil kms serve"
"$VEIL" kms serve --state "$T/kms" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --json \
  >"$T/serve.out" 2>"$T/serve.err" &
BG_PIDS+=($!)
SERVE_PID=$!
ready() { grep -q '"event": *"listening"' "$T/serve.out" || ! kill -0 "$SERVE_PID" 2>/dev/null; }
wait_for ready
kill -0 "$SERVE_PID" 2>/dev/null || { cat "$T/serve.err"; fail "kms serve exited"; }
line=$(grep '"event": *"listening"' "$T/serve.out" | head -n1)
echo "$line" | jq -e '.root | startswith("pkcs11")' >/dev/null || fail "serve root: $line"
KMS=http://127.0.0.1:$(echo "$line" | jq -r .port)
ADMIN=http://127.0.0.1:$(echo "$line" | jq -r .admin_port)

admin() { # METHOD PATH BODY -> prints the status; body in $T/admin.out
  "${CURL[@]}" -o "$T/admin.out" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary "$3" "$ADMIN$2"
}

note "sim init, measurement, key, reference values, policy"
"$VEIL" sim init --state "$T/sim" --json >"$T/sim.json"
"$VEIL" sim init --state "$T/sim-other" --json >"$T/sim-other.json"
FP=$(jq -r .ark_sha256 "$T/sim.json")
[ ${#FP} -eq 64 ] || fail "no ARK fingerprint"
[ "$(jq -r .ark_sha256 "$T/sim-other.json")" != "$FP" ] || fail "two sim states share an ARK"
M=$("$VEIL" measure --sim "$VEIL" --json | jq -r .measurement)
[ ${#M} -eq 96 ] || fail "no measurement from veil measure --sim"
st=$(admin PUT /admin/keys/gw '{"type":"ohttp","suites":["x25519"]}')
[ "$st" = 200 ] || fail "create key: $st $(cat "$T/admin.out")"
st=$(admin PUT /admin/refvalues "{\"measurements\":[\"$M\"],\"trusted_simulated_roots\":[\"$FP\"]}")
[ "$st" = 200 ] || fail "refvalues: $st $(cat "$T/admin.out")"
st=$(admin PUT /admin/keys/gw/policy \
  '{"allOf":[{"claim":"sev-snp.ear.status","in":["affirming","warning"]},{"claim":"sev-snp.veil.claims.debug","equals":false}]}')
[ "$st" = 200 ] || fail "policy: $st $(cat "$T/admin.out")"
"${CURL[@]}" "$KMS/v1/keys/gw/config" >"$T/config.json"
want_ids=$(jq -c '[.keys[].key_id] | sort' "$T/config.json")

note "the measured guest obtains the key"
"$VEIL" sim launch --state "$T/sim" -- "$VEIL" kms fetch --kms "$KMS" --key gw --json \
  --out "$T/keys.bin" >"$T/fetch.json" 2>"$T/fetch.err" || { cat "$T/fetch.err"; fail "fetch failed"; }
jq -e '.event == "released" and .name == "gw"' "$T/fetch.json" >/dev/null || fail "fetch: $(cat "$T/fetch.json")"
[ "$(jq -c '[.keys[].key_id] | sort' "$T/fetch.json")" = "$want_ids" ] || fail "released ids != configured"
[ "$(stat -c %a "$T/keys.bin")" = 600 ] || fail "--out file not 0600"
idx=$(jq -r .ledger_index "$T/fetch.json")
"${CURL[@]}" "$KMS/v1/ledger/entry?index=$idx" >"$T/entry.json"
jq -e '.type == "release" and .outcome == "released" and .name == "gw"' "$T/entry.json" >/dev/null ||
  fail "no release entry at $idx: $(cat "$T/entry.json")"
[ "$(jq -c '.key_ids | sort' "$T/entry.json")" = "$want_ids" ] || fail "entry key ids"

# release STATE PK_FOR_REPORT_DATA PK_SENT [launch options...]: a release by
# hand (nonce, REPORT_DATA, `veil attest` in a launched veil guest, POST);
# status in $T/rel.status, body in $T/rel.json, request in $T/rel.req.
pubkey() { openssl genpkey -algorithm x25519 2>/dev/null | openssl pkey -pubout -outform DER | tail -c 32 | base64 -w0; }
release() {
  local state=$1 pk_rd=$2 pk=$3
  shift 3
  "${CURL[@]}" -X POST "$KMS/v1/attest/nonce" >"$T/nonce.json"
  local nonce rd
  nonce=$(jq -r .nonce "$T/nonce.json")
  rd=$({ printf 'veil-release-v1'; echo "$nonce" | base64 -d; echo "$pk_rd" | base64 -d |
         openssl dgst -sha256 -binary; } | sha512sum | cut -d' ' -f1)
  rm -f "$T/ev.json"
  "$VEIL" sim launch --state "$state" "$@" -- "$VEIL" attest --report-data "$rd" --out "$T/ev.json" \
    2>"$T/attest.err" || { cat "$T/attest.err"; fail "attest failed"; }
  jq -n --arg n "$nonce" --arg pk "$pk" --slurpfile ev "$T/ev.json" \
    '{nonce: $n, public_key: $pk, evidence: $ev[0]}' >"$T/rel.req"
  post_release
}
post_release() {
  "${CURL[@]}" -D "$T/rel.hdr" -o "$T/rel.json" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' --data-binary "@$T/rel.req" "$KMS/v1/keys/gw/release" \
    >"$T/rel.status"
}
# expect_refused CHECK PK_SENT: a problem+json naming CHECK, recorded in the ledger.
expect_refused() {
  local check=$1 pk=$2 st
  st=$(cat "$T/rel.status")
  [ "$st" = 403 ] || fail "$check: status $st, not 403: $(cat "$T/rel.json")"
  grep -qi '^content-type: *application/problem+json' "$T/rel.hdr" || fail "$check: not problem+json"
  jq -e --arg c "$check" '.check == $c and .type == "https://veil.dev/problems/" + ($c | gsub("_"; "-"))
        and (.detail | length > 0)' "$T/rel.json" >/dev/null ||
    fail "expected check $check, got $(cat "$T/rel.json")"
  local i
  i=$(jq -r .ledger_index "$T/rel.json")
  [ "$i" != null ] || fail "$check: refusal not recorded (no ledger_index)"
  "${CURL[@]}" "$KMS/v1/ledger/entry?index=$i" >"$T/entry.json"
  local pkh
  pkh=$(echo "$pk" | base64 -d | sha256sum | cut -d' ' -f1)
  jq -e --arg c "$check" --arg h "$pkh" '.type == "release" and .outcome == "refused" and
        .name == "gw" and .check == $c and (.public_key_sha256 | ascii_downcase) == $h' \
    "$T/entry.json" >/dev/null || fail "$check: ledger entry $i: $(cat "$T/entry.json")"
  echo "    refused at $check, ledger entry $i"
}

note "a release by hand succeeds (the baseline for the refusals)"
PK=$(pubkey)
release "$T/sim" "$PK" "$PK"
[ "$(cat "$T/rel.status")" = 200 ] || fail "hand release: $(cat "$T/rel.status") $(cat "$T/rel.json")"
jq -e '.sealed and .enc and .ear and .ledger_index' "$T/rel.json" >/dev/null || fail "hand release body"

note "the same nonce again"
post_release
expect_refused nonce "$PK"

note "another measurement (a config file in the launch)"
echo "threads = 3" >"$T/other.conf"
PK=$(pubkey)
release "$T/sim" "$PK" "$PK" --config "$T/other.conf"
expect_refused measurement "$PK"
rc=0
"$VEIL" sim launch --state "$T/sim" --config "$T/other.conf" -- "$VEIL" kms fetch --kms "$KMS" \
  --key gw >"$T/f.out" 2>"$T/f.err" || rc=$?
[ $rc -eq 1 ] && grep -q 'refused: check "measurement"' "$T/f.err" ||
  fail "veil kms fetch with another measurement: exit $rc: $(cat "$T/f.err")"

note "debug enabled (guest policy 0xB0000)"
PK=$(pubkey)
release "$T/sim" "$PK" "$PK" --policy 0xB0000
expect_refused debug "$PK"
rc=0
"$VEIL" sim launch --state "$T/sim" --policy 0xB0000 -- "$VEIL" kms fetch --kms "$KMS" \
  --key gw >"$T/f.out" 2>"$T/f.err" || rc=$?
[ $rc -eq 1 ] && grep -q 'refused: check "debug"' "$T/f.err" ||
  fail "veil kms fetch with debug: exit $rc: $(cat "$T/f.err")"

note "REPORT_DATA for another public key"
PK=$(pubkey)
PK2=$(pubkey)
release "$T/sim" "$PK2" "$PK"
expect_refused report_data "$PK"

note "evidence under an untrusted simulated root"
PK=$(pubkey)
release "$T/sim-other" "$PK" "$PK"
expect_refused chain "$PK"

note "the ledger verifies from its first entry"
kill "$SERVE_PID"
for _ in $(seq 300); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SERVE_PID" 2>/dev/null && fail "kms serve did not stop on SIGTERM"
BG_PIDS=()
if [ -n "${KMS_CHECK:-}" ]; then
  "$KMS_CHECK" ledger "$T/kms" >"$T/ledger.jsonl" || fail "ledger does not verify"
  [ "$(jq -s '[.[] | select(.type == "release" and .outcome == "refused")] | length' \
      "$T/ledger.jsonl")" -eq 7 ] || fail "expected 7 refusals (5 by hand, 2 by fetch) in the ledger"
fi
echo "PASS"
