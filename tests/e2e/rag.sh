#!/usr/bin/env bash
# Encrypted RAG end to end (docs/rag.md) against a real stack (`veil up`:
# simulator, KMS with its root key in SoftHSM2, ledger):
#  - an hpke collection key is created in the KMS with the gateways' release
#    policy; `veil rag ingest --kms` verifies its receipts and writes the store;
#    with the wrong ledger key it refuses and writes nothing;
#  - a gateway launched under the simulator with --rag gets the key released,
#    loads the index, and answers /v1/rag/search and a chat with "veil_rag"
#    through the relay and a verifying proxy (OHTTP end to end);
#  - a gateway whose collection key the KMS will not release (policy asks for
#    a debug guest) does not start, and says why;
#  - no plaintext word of the corpus is in the store, the gateway's output or
#    logs, or any file of the stack's state directory.
#   rag.sh PATH/TO/veil   (exit 77: SoftHSM2, jq or curl missing)
. "$(dirname "$0")/../sim/common.sh"
for tool in jq curl; do
  command -v $tool >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
CORPUS=$(cd "$(dirname "$0")/../data/rag" && pwd)
CURL=(curl -sS --max-time 60)

note "veil up (KMS by default)"
"$VEIL" up --state "$T/up" --json >"$T/up.out" 2>"$T/up.err" &
UP_PID=$!
BG_PIDS+=($UP_PID)
ready() { grep -q '"event": *"ready"' "$T/up.out" || ! kill -0 "$UP_PID" 2>/dev/null; }
for _ in $(seq 1200); do ready && break; sleep 0.25; done
grep -q '"event": *"ready"' "$T/up.out" || {
  cat "$T/up.err"
  grep -q -i "softhsm" "$T/up.err" && { echo "SKIP: SoftHSM2 not usable"; exit 77; }
  fail "veil up did not start"
}
R=$(grep '"event": *"ready"' "$T/up.out" | head -n1)
KMS=$(echo "$R" | jq -r .kms_url)
ADMIN=$(echo "$R" | jq -r .kms_admin_url)
LEDGER_KEY=$(echo "$R" | jq -r .ledger_key)
POLICY=$(echo "$R" | jq -r .policy)
TOKEN=$(cat "$T/up/kms-admin-token")
admin_put() { # PATH JSON -> HTTP status
  "${CURL[@]}" -o "$T/admin.out" -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary "$2" "$ADMIN$1"
}

note "collection keys: handbook (the gateways' policy), locked (debug guests only)"
GWPOL=$("${CURL[@]}" "$KMS/v1/keys/gw/config" | jq -c .policy)
[ "$GWPOL" != null ] || fail "no release policy on the gateway key"
for k in handbook locked; do
  [ "$(admin_put /admin/keys/$k '{"type":"hpke","suites":["x25519"]}')" = 200 ] ||
    fail "create key $k: $(cat "$T/admin.out")"
done
[ "$(admin_put /admin/keys/handbook/policy "$GWPOL")" = 200 ] || fail "policy: $(cat "$T/admin.out")"
LOCKED='{"allOf":[{"claim":"sev-snp.ear.status","in":["affirming","warning"]},{"claim":"sev-snp.veil.claims.debug","equals":true}]}'
[ "$(admin_put /admin/keys/locked/policy "$LOCKED")" = 200 ] || fail "policy: $(cat "$T/admin.out")"

note "ingest with receipts verified"
"$VEIL" rag ingest --collection handbook --store "$T/handbook.db" --kms "$KMS" \
  --ledger-key "$LEDGER_KEY" --state "$T/state.json" --json "$CORPUS"/*.txt \
  >"$T/ingest.json" 2>"$T/ingest.err" || { cat "$T/ingest.err"; fail "ingest"; }
jq -e '.documents == 24 and .passages > 800 and .kms.receipts_verified >= 2' "$T/ingest.json" \
  >/dev/null || fail "ingest summary: $(cat "$T/ingest.json")"
"$VEIL" rag ingest --collection locked --store "$T/locked.db" --kms "$KMS" \
  --ledger-key "$LEDGER_KEY" --state "$T/state.json" "$CORPUS"/notes-*.txt >/dev/null 2>&1 ||
  fail "ingest (locked)"
set +e
"$VEIL" rag ingest --collection handbook --store "$T/wrong.db" --kms "$KMS" \
  --ledger-key "$T/up/kms/ear.pub" --state "$T/state-other.json" "$CORPUS"/*.txt \
  >/dev/null 2>"$T/wrong.err"
rc=$?
set -e
[ "$rc" = 1 ] && [ ! -e "$T/wrong.db" ] && grep -q "refusing to encrypt" "$T/wrong.err" ||
  fail "a wrong ledger key: exit $rc, $(cat "$T/wrong.err")"

note "a model, and a gateway serving the collection"
"$VEIL" testmodel --listen 127.0.0.1:0 --json >"$T/model.out" 2>"$T/model.err" &
BG_PIDS+=($!)
wait_for grep -q listening "$T/model.out"
MODEL=$(jq -r .url "$T/model.out")
"$VEIL" sim launch --state "$T/up/sim" -- "$VEIL" gateway --listen 127.0.0.1:0 --attester sim \
  --kms "$KMS" --key gw --rag "handbook=$T/handbook.db" --model "chat=openai:$MODEL#veil-echo" \
  --json >"$T/gw.out" 2>"$T/gw.err" &
GW_PID=$!
BG_PIDS+=($GW_PID)
gw_ready() { grep -q '"event":"listening"' "$T/gw.out" || ! kill -0 "$GW_PID" 2>/dev/null; }
for _ in $(seq 600); do gw_ready && break; sleep 0.25; done
grep -q '"event":"listening"' "$T/gw.out" || { cat "$T/gw.err"; fail "the RAG gateway did not start"; }
GW=$(grep '"event":"listening"' "$T/gw.out" | head -n1 | jq -r .url)
"$VEIL" relay --listen 127.0.0.1:0 --gateway "$GW/gateway" --json >"$T/relay.out" 2>"$T/relay.err" &
BG_PIDS+=($!)
wait_for grep -q listening "$T/relay.out"
RELAY=$(grep listening "$T/relay.out" | head -n1 | jq -r .url)
"$VEIL" proxy --listen 127.0.0.1:0 --relay "$RELAY" --gateway "$GW" --policy "$POLICY" --json \
  >"$T/proxy.out" 2>"$T/proxy.err" &
PROXY_PID=$!
BG_PIDS+=($PROXY_PID)
px_ready() { grep -q listening "$T/proxy.out" || ! kill -0 "$PROXY_PID" 2>/dev/null; }
for _ in $(seq 600); do px_ready && break; sleep 0.25; done
grep -q listening "$T/proxy.out" || { cat "$T/proxy.err"; fail "the proxy did not start"; }
API=$(grep listening "$T/proxy.out" | head -n1 | jq -r .url)

note "search and chat through OHTTP"
"${CURL[@]}" -H 'Content-Type: application/json' \
  --data-binary '{"collection":"handbook","query":"how do bees tell each other where flowers are","top_k":3}' \
  "$API/rag/search" >"$T/search.json"
jq -e '.data | length == 3' "$T/search.json" >/dev/null || fail "search: $(cat "$T/search.json")"
jq -e '.data[0].document | endswith("notes-bees.txt")' "$T/search.json" >/dev/null ||
  fail "top hit: $(jq -c '.data[0]' "$T/search.json")"
jq -e '[.data[].text] | any(contains("waggle"))' "$T/search.json" >/dev/null ||
  fail "passage text: $(cat "$T/search.json")"
"${CURL[@]}" -H 'Content-Type: application/json' \
  --data-binary '{"model":"chat","messages":[{"role":"user","content":"what is a neap tide"}],"veil_rag":{"collection":"handbook","top_k":2}}' \
  "$API/chat/completions" >"$T/chat.json"
jq -e '.choices[0].message.content | contains("neap tide")' "$T/chat.json" >/dev/null ||
  fail "chat: $(cat "$T/chat.json")"
code=$("${CURL[@]}" -o "$T/nf.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary '{"collection":"nope","query":"x"}' "$API/rag/search")
[ "$code" = 404 ] || fail "unknown collection: $code $(cat "$T/nf.json")"

note "no released key, no collection: the gateway refuses to start"
set +e
timeout 300 "$VEIL" sim launch --state "$T/up/sim" -- "$VEIL" gateway --listen 127.0.0.1:0 \
  --attester sim --kms "$KMS" --key gw --rag "locked=$T/locked.db" >"$T/locked.out" 2>"$T/locked.err"
rc=$?
set -e
[ "$rc" != 0 ] || fail "a gateway without the released key started"
grep -q "RAG collection 'locked'" "$T/locked.err" || { cat "$T/locked.err"; fail "no reason given"; }
grep -q '"event":"listening"' "$T/locked.out" && fail "it listened"

note "no plaintext in the store, the gateway's output and logs, or the state"
kill "$PROXY_PID" "$GW_PID" 2>/dev/null || true
sleep 1
WORDS=$(cat "$CORPUS"/notes-*.txt | tr -cs 'A-Za-z' '\n' | awk 'length >= 7' | sort -u)
n=0
for w in $WORDS; do
  n=$((n + 1))
  for f in "$T/handbook.db" "$T/locked.db" "$T/gw.out" "$T/gw.err" "$T/relay.out" "$T/relay.err"; do
    ! grep -q -F -- "$w" "$f" || fail "'$w' found in $f"
  done
  ! grep -r -q -F -- "$w" "$T/up" || fail "'$w' found under the stack's state: $(grep -r -l -F -- "$w" "$T/up")"
done
[ "$n" -gt 100 ] || fail "too few words checked ($n)"
echo "$n distinctive words absent"
echo "ok"
