#!/usr/bin/env bash
# `veil proxy` end to end: the whole stack on loopback (`veil up --json` with
# a `veil testmodel` chat upstream that waits between words), then a proxy in
# front of it; through the proxy
#  - an OpenAI transcription (curl -F file=@WAV) returns OpenAI-shaped JSON
#    whose text equals `veil demo --local WAV`,
#  - a chat request with "stream": true arrives as server-sent events one by
#    one, spaced by about the test model's delay (chunked OHTTP, not buffered),
#  - a proxy whose policy does not admit the gateway's measurement refuses to
#    start (exit 1) naming `measurement`,
#  - a non-loopback --listen is refused.
# Every wait is bounded; everything started is killed by PID on exit.
# Skips (77) when pocketsphinx's en-us model or test data, jq or curl is missing.
set -euo pipefail

VEIL=$(realpath "${1:?usage: $0 PATH/TO/veil}")
WAV=/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav
LM=/usr/share/pocketsphinx/model/en-us/en-us.lm.bin
if [ ! -r "$WAV" ] || [ ! -r "$LM" ]; then
  echo "skip: pocketsphinx-en-us / pocketsphinx-testdata not installed"
  exit 77
fi
for t in jq curl; do command -v $t >/dev/null || { echo "skip: $t not installed"; exit 77; }; done

DELAY_MS=400
T=$(mktemp -d /tmp/veil-e2e-proxy.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$T"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$T"/*.err; do [ -s "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
  exit 1
}

# wait_line FILE JQ-FILTER SECONDS PID: the first line of FILE matching the
# filter, printed; fails when PID exits or time runs out.
wait_line() {
  local f=$1 filter=$2 secs=$3 pid=$4 line
  for _ in $(seq $((secs * 10))); do
    line=$(jq -c "select($filter)" "$f" 2>/dev/null | head -1 || true)
    [ -n "$line" ] && { echo "$line"; return 0; }
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

echo "--- test model (delay ${DELAY_MS} ms per word)"
"$VEIL" testmodel --listen 127.0.0.1:0 --delay-ms $DELAY_MS --tokens 6 --json \
  >"$T/tm.out" 2>"$T/tm.err" &
PIDS+=($!)
tm=$(wait_line "$T/tm.out" '.event=="listening"' 30 "${PIDS[-1]}") || fail "testmodel did not start"
TM_URL=$(jq -r .url <<<"$tm")

echo "--- veil up (whisper-1=pocketsphinx, veil-test=openai:$TM_URL)"
"$VEIL" up --json --state "$T/stack" --model whisper-1=pocketsphinx \
  --model "veil-test=openai:$TM_URL#veil-test" >"$T/up.out" 2>"$T/up.err" &
PIDS+=($!)
up=$(wait_line "$T/up.out" '.event=="ready"' 240 "${PIDS[-1]}") || fail "veil up did not get ready"
GW=$(jq -r .gateway_url <<<"$up")
RELAY=$(jq -r .relay_url <<<"$up")
POLICY=$(jq -r .policy <<<"$up")
echo "gateway $GW relay $RELAY policy $POLICY"

echo "--- a policy that does not admit the gateway's measurement: refused"
jq '.measurements = ["'"$(printf '0%.0s' $(seq 96))"'"]' "$POLICY" >"$T/bad-policy.json"
set +e
timeout 120 "$VEIL" proxy --listen 127.0.0.1:0 --relay "$RELAY" --gateway "$GW" \
  --policy "$T/bad-policy.json" >"$T/bad.out" 2>"$T/bad.err"
rc=$?
set -e
[ $rc -eq 1 ] || fail "the proxy with a wrong measurement exited $rc, not 1"
grep -q measurement "$T/bad.err" || fail "the refusal does not name 'measurement'"
grep -q listening "$T/bad.out" && fail "the refused proxy listened anyway"
echo "refused: $(grep 'refusing to start' "$T/bad.err")"

echo "--- a non-loopback address is refused"
set +e
timeout 60 "$VEIL" proxy --listen 0.0.0.0:0 --relay "$RELAY" --gateway "$GW" \
  --policy "$POLICY" >/dev/null 2>"$T/remote.err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "the proxy listened on 0.0.0.0 without --allow-remote"
grep -q loopback "$T/remote.err" || fail "the refusal does not say why"

echo "--- veil proxy"
"$VEIL" proxy --listen 127.0.0.1:0 --relay "$RELAY" --gateway "$GW" --policy "$POLICY" --json \
  >"$T/proxy.out" 2>"$T/proxy.err" &
PIDS+=($!)
px=$(wait_line "$T/proxy.out" '.event=="listening"' 120 "${PIDS[-1]}") ||
  fail "veil proxy did not start"
PORT=$(jq -r .port <<<"$px")
[ "$(jq -r 'select(.verdict != null) | .verdict' "$T/proxy.out" | head -1)" != rejected ] ||
  fail "the proxy reported a rejected verification"
BASE=http://127.0.0.1:$PORT

echo "--- transcription through the proxy"
curl -sf --max-time 600 -F "file=@$WAV" -F model=whisper-1 "$BASE/v1/audio/transcriptions" \
  >"$T/tr.json" || fail "the transcription request failed"
got=$(jq -r .text "$T/tr.json") || fail "not JSON: $(head -c 300 "$T/tr.json")"
want=$(timeout 600 "$VEIL" demo --local "$WAV")
echo "proxy:  $got"
echo "direct: $want"
[ -n "$got" ] || fail "empty transcript"
[ "$got" = "$want" ] || fail "the transcript through the proxy differs from the direct one"

echo "--- a non-streamed chat through the proxy"
curl -sf --max-time 120 -H 'Content-Type: application/json' \
  -d '{"model":"veil-test","messages":[{"role":"user","content":"hi"}]}' \
  "$BASE/v1/chat/completions" >"$T/chat.json" || fail "the chat request failed"
jq -e '.choices[0].message.content | length > 0' "$T/chat.json" >/dev/null ||
  fail "no chat content: $(head -c 300 "$T/chat.json")"

echo "--- a streamed chat through the proxy: events one by one"
timeout 180 curl -sfN --max-time 170 -H 'Content-Type: application/json' \
  -d '{"model":"veil-test","stream":true,"messages":[{"role":"user","content":"hi"}]}' \
  "$BASE/v1/chat/completions" |
  while IFS= read -r line; do
    if [ -n "$line" ]; then printf '%s %s\n' "$(date +%s%3N)" "$line"; fi
  done >"$T/sse.txt" || fail "the streamed chat request failed"
cut -c1-120 "$T/sse.txt"
grep -q 'data: \[DONE\]' "$T/sse.txt" || fail "the stream did not end with data: [DONE]"
mapfile -t ts < <(grep '"content"' "$T/sse.txt" | awk '{print $1}')
[ "${#ts[@]}" -ge 5 ] || fail "expected at least 5 content events, got ${#ts[@]}"
spaced=0
for ((i = 1; i < ${#ts[@]}; i++)); do
  d=$((ts[i] - ts[i - 1]))
  [ $d -ge $((DELAY_MS / 2)) ] && [ $d -le $((DELAY_MS * 5)) ] && spaced=$((spaced + 1))
done
span=$((ts[-1] - ts[0]))
echo "content events: ${#ts[@]}, spaced ~${DELAY_MS} ms: $spaced, first to last: $span ms"
[ $spaced -ge $((${#ts[@]} - 2)) ] || fail "the events did not arrive one by one"
[ $span -ge $((DELAY_MS * (${#ts[@]} - 2))) ] || fail "the events arrived together (buffered)"

echo "--- outside /v1/: 404"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$BASE/admin") || true
[ "$code" = 404 ] || fail "GET /admin answered $code, not 404"
echo "ok"
