#!/usr/bin/env bash
# The client's KMS path (DESIGN.md flow 2a) against a real stack (`veil up`:
# simulator, KMS with its root key in SoftHSM2, gateway given its key by the
# KMS after attestation, relay):
#  - both flows (gateway attestation + KMS receipts) and the KMS alone
#    transcribe, with 3 receipts verified and the tree head saved;
#  - refused, naming the check, nothing sent: a wrong pinned ledger key
#    (receipt), a policy narrower than the KMS's reference values
#    (kms-refvalues), a forked log: a copy of the KMS's state serving a
#    different history of the same size (ledger-consistency);
#  - a gateway binary that differs from the measured one by one byte gets no
#    key from the KMS (check "measurement", recorded in the ledger).
#   client_kms.sh PATH/TO/veil   (exit 77: pocketsphinx data, jq, curl or sqlite3 missing)
. "$(dirname "$0")/../sim/common.sh"
RAW=/usr/share/pocketsphinx/test/data/goforward.raw
[ -r "$RAW" ] || { echo "SKIP: pocketsphinx-testdata not installed"; exit 77; }
for tool in jq curl sqlite3; do
  command -v $tool >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
CURL=(curl -sS --max-time 30)
# wait_url NAME PID: the "url" of NAME's listening line in $T/NAME.out
wait_url() {
  for _ in $(seq 1200); do
    grep -q '"event": *"listening"' "$T/$1.out" 2>/dev/null && break
    kill -0 "$2" 2>/dev/null || { cat "$T/$1.err" >&2; fail "$1 exited"; }
    sleep 0.25
  done
  grep '"event": *"listening"' "$T/$1.out" | head -n1 | jq -r .url
}

note "veil up (KMS by default)"
"$VEIL" up --state "$T/up" --json >"$T/up.out" 2>"$T/up.err" &
UP_PID=$!
BG_PIDS+=($UP_PID)
ready() { grep -q '"event": *"ready"' "$T/up.out" || ! kill -0 "$UP_PID" 2>/dev/null; }
for _ in $(seq 1200); do ready && break; sleep 0.25; done # up to 5 min under ASan
grep -q '"event": *"ready"' "$T/up.out" || { cat "$T/up.err"; fail "veil up did not start"; }
R=$(grep '"event": *"ready"' "$T/up.out" | head -n1)
GW=$(echo "$R" | jq -r .gateway_url)
RELAY=$(echo "$R" | jq -r .relay_url)
KMS=$(echo "$R" | jq -r .kms_url)
ADMIN=$(echo "$R" | jq -r .kms_admin_url)
LEDGER_KEY=$(echo "$R" | jq -r .ledger_key)
POLICY=$(echo "$R" | jq -r .policy)
[ "$KMS" != null ] && [ -r "$LEDGER_KEY" ] || fail "veil up did not report its KMS: $R"
echo "kms root: $(echo "$R" | jq -r .kms_root)"
TOKEN=$(cat "$T/up/kms-admin-token")

# transcribe NAME [OPTIONS...]: --json result in $T/NAME.json; prints the exit code
transcribe() {
  local name=$1
  shift
  set +e
  timeout 300 "$VEIL" transcribe "$RAW" --relay "$RELAY" --json "$@" >"$T/$name.json" \
    2>"$T/$name.err"
  echo $?
  set -e
}
failed_check() { jq -r '.verification.failed_check // empty' "$T/$1.json" || cat "$T/$1.err" >&2; }

note "both flows: attestation and receipts"
rc=$(transcribe both --gateway "$GW" --policy "$POLICY" --kms "$KMS" \
  --ledger-key "$LEDGER_KEY" --ledger-state "$T/state.json")
[ "$rc" = 0 ] || { cat "$T/both.err"; fail "transcribe with --kms and --gateway: exit $rc"; }
jq -e '.transcript == "go forward ten meters"' "$T/both.json" >/dev/null ||
  fail "wrong transcript: $(cat "$T/both.json")"
jq -e '.verification.kms.receipts == 3' "$T/both.json" >/dev/null ||
  fail "not 3 receipts: $(jq -c .verification.kms "$T/both.json")"
jq -e '[.verification.checks[].check] | index("kms-gateway-keys") != null' "$T/both.json" \
  >/dev/null || fail "the attested key was not matched to the receipted one"
SIZE=$(jq -r .sth.tree_size "$T/state.json")
[ "$SIZE" -ge 4 ] || fail "no tree head saved in the state file"

note "the audit bundle keeps the receipts; veil audit verify checks them again offline"
rc=$(transcribe audited --gateway "$GW" --policy "$POLICY" --kms "$KMS" \
  --ledger-key "$LEDGER_KEY" --ledger-state "$T/state.json" --audit "$T/audit.json")
[ "$rc" = 0 ] || { cat "$T/audited.err"; fail "transcribe --audit: exit $rc"; }
"$VEIL" audit verify "$T/audit.json" >"$T/audit.out" 2>&1 || { cat "$T/audit.out"; fail "audit verify"; }
grep -q "KMS's receipts verify" "$T/audit.out" || fail "audit verify did not check the receipts"
jq '.kms.document.policy.allOf[1].equals = true' "$T/audit.json" >"$T/audit-bad.json"
if "$VEIL" audit verify "$T/audit-bad.json" >"$T/audit-bad.out" 2>&1; then
  fail "a bundle whose recorded release policy was changed still verifies"
fi
grep -q 'receipt' "$T/audit-bad.out" || { cat "$T/audit-bad.out"; fail "the refusal does not name the receipt"; }

note "the KMS alone (no gateway attestation)"
rc=$(transcribe kmsonly --policy "$POLICY" --kms "$KMS" --ledger-key "$LEDGER_KEY" \
  --ledger-state "$T/state.json")
[ "$rc" = 0 ] || { cat "$T/kmsonly.err"; fail "transcribe with --kms only: exit $rc"; }
jq -e '.transcript == "go forward ten meters"' "$T/kmsonly.json" >/dev/null || fail "kms-only transcript"

note "refused: another pinned ledger key"
rc=$(transcribe wrongkey --gateway "$GW" --policy "$POLICY" --kms "$KMS" \
  --ledger-key "$T/up/kms/ear.pub" --ledger-state "$T/state-other.json")
[ "$rc" = 1 ] && [ "$(failed_check wrongkey)" = receipt ] ||
  fail "a wrong ledger key: exit $rc, check '$(failed_check wrongkey)'"

note "refused: a policy that accepts less than the KMS releases to"
M2=$(printf 'ab%.0s' $(seq 48))
jq --arg m "$M2" '.measurements = [$m]' "$POLICY" >"$T/narrow-policy.json"
rc=$(transcribe narrow --policy "$T/narrow-policy.json" --kms "$KMS" --ledger-key "$LEDGER_KEY" \
  --ledger-state "$T/state.json")
[ "$rc" = 1 ] && [ "$(failed_check narrow)" = kms-refvalues ] ||
  { cat "$T/narrow.err" "$T/narrow.json" >&2; fail "a narrower policy: exit $rc, check '$(failed_check narrow)'"; }

note "refused: a forked log (a copy of the KMS state with another history)"
mkdir -m 700 "$T/fork"
for db in kms ledger; do sqlite3 "$T/up/kms/$db.db" ".backup '$T/fork/$db.db'"; done
cp "$T/up/kms/ledger.pub" "$T/up/kms/ear.pub" "$T/fork/"
SOFTHSM2_CONF="$T/up/hsm/softhsm2.conf" "$VEIL" kms serve --state "$T/fork" \
  --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --json >"$T/fork.out" 2>"$T/fork.err" &
BG_PIDS+=($!)
FORK_PID=$!
fork_ready() { grep -q '"event": *"listening"' "$T/fork.out" || ! kill -0 "$FORK_PID" 2>/dev/null; }
wait_for fork_ready
line=$(grep '"event": *"listening"' "$T/fork.out" | head -n1) ||
  { cat "$T/fork.err"; fail "the forked KMS did not start"; }
FKMS=http://127.0.0.1:$(echo "$line" | jq -r .port)
FADMIN=http://127.0.0.1:$(echo "$line" | jq -r .admin_port)
policy_put() { # ADMIN-URL DEBUG-VALUE: a different release policy on each side
  "${CURL[@]}" -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' \
    --data-binary "{\"allOf\":[{\"claim\":\"sev-snp.ear.status\",\"in\":[\"affirming\",\"warning\"]},{\"claim\":\"sev-snp.veil.claims.debug\",\"equals\":$2}]}" \
    "$1/admin/keys/gw/policy"
}
[ "$(policy_put "$ADMIN" false)" = 200 ] || fail "policy change on the KMS"
[ "$(policy_put "$FADMIN" true)" = 200 ] || fail "policy change on the fork"
A=$("${CURL[@]}" "$KMS/v1/ledger/sth")
B=$("${CURL[@]}" "$FKMS/v1/ledger/sth")
[ "$(echo "$A" | jq .tree_size)" = "$(echo "$B" | jq .tree_size)" ] &&
  [ "$(echo "$A" | jq .root_hash)" != "$(echo "$B" | jq .root_hash)" ] ||
  fail "no fork: $A / $B"
rc=$(transcribe seen --policy "$POLICY" --kms "$KMS" --ledger-key "$LEDGER_KEY" \
  --ledger-state "$T/state.json")
[ "$rc" = 0 ] || { cat "$T/seen.err"; fail "the real KMS after its policy change: exit $rc"; }
rc=$(transcribe forked --policy "$POLICY" --kms "$FKMS" --ledger-key "$LEDGER_KEY" \
  --ledger-state "$T/state.json")
[ "$rc" = 1 ] && [ "$(failed_check forked)" = ledger-consistency ] ||
  fail "the forked log: exit $rc, check '$(failed_check forked)'"
grep -q "ledger-consistency" "$T/forked.err" || fail "the refusal does not name the check"

note "veil proxy in front of the stack (it verifies the gateway once)"
"$VEIL" proxy --listen 127.0.0.1:0 --relay "$RELAY" --gateway "$GW" --policy "$POLICY" --json \
  >"$T/proxy.out" 2>"$T/proxy.err" &
BG_PIDS+=($!)
PROXY_PID=$!
proxy_ready() { grep -q '"event": *"listening"' "$T/proxy.out" || ! kill -0 "$PROXY_PID" 2>/dev/null; }
for _ in $(seq 600); do proxy_ready && break; sleep 0.25; done
PX=http://127.0.0.1:$(grep '"event": *"listening"' "$T/proxy.out" | head -n1 | jq -r .port) ||
  { cat "$T/proxy.err"; fail "veil proxy did not start"; }
le32() { printf "\\x%02x\\x%02x\\x%02x\\x%02x" $(($1 & 255)) $((($1 >> 8) & 255)) \
  $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
n=$(stat -c %s "$RAW") # the .raw as a 16 kHz mono s16le WAV for the OpenAI-style upload
{ printf "RIFF$(le32 $((n + 36)))WAVEfmt $(le32 16)\x01\x00\x01\x00$(le32 16000)$(le32 32000)"
  printf "\x02\x00\x10\x00data$(le32 "$n")"; cat "$RAW"; } >"$T/goforward.wav"
proxy_transcribe() {
  curl -sS --max-time 300 -o "$T/px.json" -w '%{http_code}' -F "file=@$T/goforward.wav" \
    -F model=whisper-1 "$PX/v1/audio/transcriptions"
}
[ "$(proxy_transcribe)" = 200 ] && jq -e '.text == "go forward ten meters"' "$T/px.json" >/dev/null ||
  fail "through the proxy: $(cat "$T/px.json")"

note "a rotation reaches the gateway: it attests again and serves the new key"
old_id=$(jq -r .verification.key_id "$T/both.json")
st=$("${CURL[@]}" -o "$T/rotate.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
  "$ADMIN/admin/keys/gw/rotate")
[ "$st" = 200 ] || fail "rotate: $st $(cat "$T/rotate.out")"
for i in $(seq 60); do
  rc=$(transcribe rotated --gateway "$GW" --policy "$POLICY" --kms "$KMS" \
    --ledger-key "$LEDGER_KEY" --ledger-state "$T/state.json")
  [ "$rc" = 0 ] && break
  [ "$(failed_check rotated)" = receipt ] || { cat "$T/rotated.err"; fail "after rotation: exit $rc"; }
  sleep 1 # the gateway polls the KMS every 5 s (veil up passes --key-poll 5)
done
[ "$rc" = 0 ] || fail "the gateway never took the rotated key"
new_id=$(jq -r .verification.key_id "$T/rotated.json")
[ "$new_id" != "$old_id" ] || fail "still key id $old_id after the rotation"
n=$("${CURL[@]}" "$GW/ohttp-keys" | od -An -tx1 | wc -w)
[ "$n" -gt 80 ] || fail "the gateway dropped the old key during its grace period"
echo "key id $old_id -> $new_id; the gateway still serves the old one in its grace period"
# the proxy verified the old key list; the old key still decrypts during its
# grace period, so the proxy keeps working across the rotation
[ "$(proxy_transcribe)" = 200 ] && jq -e '.text == "go forward ten meters"' "$T/px.json" >/dev/null ||
  fail "through the proxy after the rotation: $(cat "$T/px.json")"

note "a key whose grace ends: the gateway drops it, the proxy verifies again and goes on"
admin_put() { "${CURL[@]}" -o "$T/admin.out" -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' --data-binary "$2" "$ADMIN$1"; }
[ "$(admin_put /admin/keys/gw2 '{"type":"ohttp","suites":["x25519"],"grace":2,"quarantine":2}')" = 200 ] ||
  fail "create gw2: $(cat "$T/admin.out")"
[ "$(admin_put /admin/keys/gw2/policy '{"claim":"sev-snp.ear.status","in":["affirming","warning"]}')" = 200 ] ||
  fail "gw2 policy: $(cat "$T/admin.out")"
"$VEIL" sim launch --state "$T/up/sim" -- "$VEIL" gateway --listen 127.0.0.1:0 --attester sim \
  --kms "$KMS" --key gw2 --key-poll 1 --json >"$T/gw2.out" 2>"$T/gw2.err" &
BG_PIDS+=($!)
GW2_PID=$!
"$VEIL" relay --listen 127.0.0.1:0 --gateway "$(wait_url gw2 "$GW2_PID")/gateway" --json \
  >"$T/relay2.out" 2>"$T/relay2.err" &
BG_PIDS+=($!)
RELAY2=$(wait_url relay2 $!)
GW2=$(grep '"event": *"listening"' "$T/gw2.out" | head -n1 | jq -r .url)
"$VEIL" proxy --listen 127.0.0.1:0 --relay "$RELAY2" --gateway "$GW2" --policy "$POLICY" --json \
  >"$T/proxy2.out" 2>"$T/proxy2.err" &
BG_PIDS+=($!)
PROXY2_PID=$!
for _ in $(seq 600); do grep -q '"event": *"listening"' "$T/proxy2.out" && break; sleep 0.25; done
PX=http://127.0.0.1:$(grep '"event": *"listening"' "$T/proxy2.out" | head -n1 | jq -r .port)
[ "$(proxy_transcribe)" = 200 ] || fail "proxy 2 before the rotation: $(cat "$T/px.json")"
keys0=$("${CURL[@]}" "$GW2/ohttp-keys" | od -An -tx1 | tr -d ' \n')
st=$("${CURL[@]}" -o "$T/rotate.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
  "$ADMIN/admin/keys/gw2/rotate")
[ "$st" = 200 ] || fail "rotate gw2: $st $(cat "$T/rotate.out")"
for _ in $(seq 120); do # new key in, then (2 s of grace later) the old one out
  keys=$("${CURL[@]}" "$GW2/ohttp-keys" | od -An -tx1 | tr -d ' \n')
  [ "$keys" != "$keys0" ] && [ "${#keys}" -eq "${#keys0}" ] && break
  sleep 0.5
done
[ "$keys" != "$keys0" ] && [ "${#keys}" -eq "${#keys0}" ] ||
  fail "gateway 2 did not drop its old key after the grace period"
[ "$(proxy_transcribe)" = 200 ] && jq -e '.text == "go forward ten meters"' "$T/px.json" >/dev/null ||
  fail "proxy 2 after its key was dropped: $(cat "$T/px.json")"
kill "$PROXY2_PID" 2>/dev/null || true

note "a gateway binary one byte away from the measured one gets no key"
cp "$VEIL" "$T/veil-patched"
off=$(grep -obUa "confidential speech-to-text" "$T/veil-patched" | head -n1 | cut -d: -f1)
[ -n "$off" ] || fail "no patch point in the binary"
printf 'C' | dd of="$T/veil-patched" bs=1 seek="$off" conv=notrunc status=none
cmp -s "$VEIL" "$T/veil-patched" && fail "the patch changed nothing"
[ "$(cmp -l "$VEIL" "$T/veil-patched" | wc -l)" = 1 ] || fail "more than one byte differs"
before=$("${CURL[@]}" "$KMS/v1/ledger/sth" | jq .tree_size)
set +e
timeout 300 "$VEIL" sim launch --state "$T/up/sim" -- "$T/veil-patched" gateway \
  --listen 127.0.0.1:0 --attester sim --kms "$KMS" --key gw >"$T/patched.out" 2>"$T/patched.err"
rc=$?
set -e
[ "$rc" != 0 ] || fail "the patched gateway started"
grep -q "measurement" "$T/patched.err" || { cat "$T/patched.err"; fail "refusal does not name the measurement"; }
after=$("${CURL[@]}" "$KMS/v1/ledger/sth" | jq .tree_size)
[ "$after" -gt "$before" ] || fail "the refusal is not in the ledger"
last=$("${CURL[@]}" "$KMS/v1/ledger/entry?index=$((after - 1))")
echo "$last" | jq -e '.type == "release" and .outcome == "refused" and .check == "measurement"' \
  >/dev/null || fail "ledger entry: $last"
echo "ok"
