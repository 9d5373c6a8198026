#!/usr/bin/env bash
# veil kms under SIGKILL: OPS operations (default 60), releases (`veil sim
# launch -- veil kms fetch`, 2 of 3) and rotations (POST
# /admin/keys/gw/rotate, 1 of 3), run against `veil kms serve` (root-key
# file) while the KMS is SIGKILLed KILLS times (default 25), spread evenly
# over the operations and landing at a random moment inside one, and
# restarted; bounded by DEADLINE seconds from the start (default 100; past
# it the run stops, says how many operations ran, and checks those). Every key set returned to a caller is
# recorded (name, key id, public key). Afterwards, with the KMS stopped:
#  - the ledger verifies from its first entry (kms_check ledger:
#    veil_ledger_verify_all);
#  - every returned key has a keyconfig entry with that id and public key and
#    a "released" release entry naming the id;
#  - no key id was issued twice for different keys (keyconfig entries).
#   crash.sh PATH/TO/veil PATH/TO/kms_check
#   OPS=1000 KILLS=250 DEADLINE=900 crash.sh ...   the issue's bar, by hand
. "$(dirname "$0")/../sim/common.sh"
KMS_CHECK=$(realpath "${2:?usage: crash.sh veil kms_check}")
for tool in curl jq timeout; do
  command -v $tool >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
export LC_ALL=C # sort, join and comm must agree on the order
OPS=${OPS:-60}
KILLS=${KILLS:-25}
[ "$KILLS" -ge 1 ] && [ "$OPS" -ge "$KILLS" ] || fail "need 1 <= KILLS <= OPS"
DEADLINE=$((SECONDS + ${DEADLINE:-100}))
CURL=(curl -sS --max-time 10)

"$VEIL" kms init --state "$T/kms" --root-key-file "$T/root.key" --admin-token-file "$T/token" \
  --json >/dev/null
TOKEN=$(cat "$T/token")
"$VEIL" sim init --state "$T/sim" --json >"$T/sim.json"
FP=$(jq -r .ark_sha256 "$T/sim.json")
M=$("$VEIL" measure --sim "$VEIL" --json | jq -r .measurement)

SERVE_PID=
start_kms() {
  : >"$T/serve.out"
  # no rate limit: one worker on loopback is the only client
  "$VEIL" kms serve --state "$T/kms" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --json \
    --nonce-rate 0 >"$T/serve.out" 2>>"$T/serve.err" &
  SERVE_PID=$!
  BG_PIDS=("$SERVE_PID")
  local i
  for i in $(seq 1500); do
    grep -q '"event": *"listening"' "$T/serve.out" && break
    kill -0 "$SERVE_PID" 2>/dev/null || { tail "$T/serve.err"; fail "kms serve exited"; }
    sleep 0.02
  done
  local line
  line=$(grep '"event": *"listening"' "$T/serve.out" | head -n1)
  [ -n "$line" ] || fail "kms serve not ready within 30 s"
  KMS=http://127.0.0.1:$(echo "$line" | jq -r .port)
  ADMIN=http://127.0.0.1:$(echo "$line" | jq -r .admin_port)
}
admin() {
  "${CURL[@]}" -o /dev/null -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary "$3" "$ADMIN$2" || true
}

start_kms
[ "$(admin PUT /admin/keys/gw '{"type":"ohttp","suites":["x25519","p384"]}')" = 200 ] || fail "key"
[ "$(admin PUT /admin/refvalues "{\"measurements\":[\"$M\"],\"trusted_simulated_roots\":[\"$FP\"]}")" = 200 ] ||
  fail "refvalues"
[ "$(admin PUT /admin/keys/gw/policy '{"claim":"sev-snp.veil.claims.debug","equals":false}')" = 200 ] ||
  fail "policy"

# One worker: releases (2 of 3) and rotations (1 of 3) until $T/stop exists
# or OPS operations have been started.
mkdir "$T/got"
: >"$T/ops.log"
nops() { wc -l <"$T/ops.log"; }
worker() {
  local n=0
  while [ ! -e "$T/stop" ] && [ "$(nops)" -lt "$OPS" ] && [ $SECONDS -lt "$DEADLINE" ]; do
    n=$((n + 1))
    if [ $((RANDOM % 3)) -eq 0 ]; then
      st=$(admin POST /admin/keys/gw/rotate '{}')
      echo "rotate $st" >>"$T/ops.log"
    else
      local f="$T/got/$BASHPID-$n"
      if timeout 20 "$VEIL" sim launch --state "$T/sim" -- "$VEIL" kms fetch --kms "$KMS" \
           --key gw --json --out "$f.bin" >"$f.json" 2>"$f.err"; then
        echo "release ok" >>"$T/ops.log"
      else
        rm -f "$f.bin" "$f.json"
        echo "release failed" >>"$T/ops.log"
      fi
      rm -f "$f.err"
    fi
  done
}

# Round i runs until about i*OPS/KILLS operations have started, then the KMS
# is SIGKILLed 0 .. 0.5 s later (inside a release or a rotation, or between).
kills=0
t0=$SECONDS
while [ "$(nops)" -lt "$OPS" ]; do
  if [ $SECONDS -ge "$DEADLINE" ]; then # a loaded machine: check what ran
    note "DEADLINE: only $(nops) of $OPS operations ran"
    break
  fi
  rm -f "$T/stop"
  worker &
  WPID=$!
  if [ $kills -lt "$KILLS" ]; then
    target=$(( (kills + 1) * OPS / KILLS - RANDOM % 2 ))
    while [ "$(nops)" -lt "$target" ] && [ $SECONDS -lt "$DEADLINE" ] && kill -0 "$WPID" 2>/dev/null; do
      sleep 0.05
    done
    sleep "$(printf '0.%02d' $((RANDOM % 50)))"
    kill -9 "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null || true
    kills=$((kills + 1))
    touch "$T/stop"
  fi
  wait "$WPID" || true # after the last kill the worker runs the remaining operations
  kill -0 "$SERVE_PID" 2>/dev/null || start_kms
done
note "$(nops) operations and $kills kills in $((SECONDS - t0)) s"
# a last clean round: the KMS must still serve a release after all that
"$VEIL" sim launch --state "$T/sim" -- "$VEIL" kms fetch --kms "$KMS" --key gw --json \
  --out "$T/got/final.bin" >"$T/got/final.json" 2>"$T/final.err" ||
  { cat "$T/final.err"; fail "no release after the restarts"; }
kill "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
BG_PIDS=()

ok=$(grep -c '^release ok' "$T/ops.log" || true)
nfail=$(grep -c '^release failed' "$T/ops.log" || true)
rot=$(grep -c '^rotate 200' "$T/ops.log" || true)
rotf=$(grep -c '^rotate' "$T/ops.log" || true)
note "$kills kills; releases: $ok returned, $nfail failed; rotations: $rot of $rotf answered 200"
[ "$ok" -gt 0 ] || fail "no release succeeded"

note "the ledger verifies from its first entry"
"$KMS_CHECK" ledger "$T/kms" >"$T/ledger.jsonl" || fail "the ledger does not verify"

note "every returned key has its keyconfig and release entries"
# returned.txt: "ledger-index name id public-key-hex", one line per returned key
# (one kms_check and one jq for all files: a 1,000-operation run returns thousands)
jq -r '[input_filename, .ledger_index] | @tsv' "$T"/got/*.json | sed 's/\.json\t/.bin\t/' |
  sort >"$T/index.tsv"
(cd "$T/got" && "$KMS_CHECK" keysets ./*.bin) | sed "s|^\./|$T/got/|" |
  awk '{print $1 "\t" $2 " " $3 " " $4}' | sort >"$T/keys.tsv" || fail "cannot decode a key set"
join -t $'\t' "$T/index.tsv" "$T/keys.tsv" | awk -F'\t' '{print $2, $3}' >"$T/returned.txt"
[ -s "$T/returned.txt" ] || fail "no returned keys"
# keyconfig entries: "name id public-key-hex" (public key from the RFC 9458 config)
jq -r 'select(.type == "keyconfig") | [.name, (.key_id|tostring), .config] | @tsv' \
  "$T/ledger.jsonl" | while IFS=$'\t' read -r name id cfg; do
  hex=$(echo "$cfg" | base64 -d | od -An -v -tx1 | tr -d ' \n')
  kem=${hex:2:4}
  case $kem in 0020) n=32 ;; 0011) n=97 ;; *) n=0 ;; esac
  echo "$name $id ${hex:6:$((2 * n))}"
done | sort -u >"$T/issued.txt"
[ -s "$T/issued.txt" ] || fail "no keyconfig entries"
dups=$(awk '{print $1, $2}' "$T/issued.txt" | sort | uniq -d)
# A key id may come back after its quarantine, which this test never reaches:
[ -z "$dups" ] || fail "key ids issued for two different keys: $dups"
# every returned (name, id, key) was issued, per its keyconfig entry
missing=$(awk '{print $2, $3, $4}' "$T/returned.txt" | sort -u | comm -23 - "$T/issued.txt")
[ -z "$missing" ] || fail "returned keys without a keyconfig entry: $missing"
# every (ledger index, name, id) returned is a "released" entry there naming the id
jq -r -s 'to_entries[] | select(.value.type == "release" and .value.outcome == "released") |
  .key as $i | .value as $e | $e.key_ids[] | "\($i) \($e.name) \(.)"' "$T/ledger.jsonl" |
  sort -u >"$T/released.txt"
missing=$(awk '{print $1, $2, $3}' "$T/returned.txt" | sort -u | comm -23 - "$T/released.txt")
[ -z "$missing" ] || fail "returned keys (ledger index, name, id) without a release entry there: $missing"
checked=$(wc -l <"$T/returned.txt")
# the same id never came back with two public keys
rdups=$(awk '{print $2, $3, $4}' "$T/returned.txt" | sort -u | awk '{print $1, $2}' | uniq -d)
[ -z "$rdups" ] || fail "callers got two different keys under one id: $rdups"
note "$checked returned keys checked against $(wc -l <"$T/ledger.jsonl") ledger entries"
echo "PASS"
