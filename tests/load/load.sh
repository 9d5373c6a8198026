#!/usr/bin/env bash
# Load test (issue 6, bar 7): `veil testmodel` (veil-echo-1k upstream), a
# standalone `veil gateway` and a `veil relay` on loopback, then `veil load`:
#  - N OHTTP requests (chat completions for veil-echo-1k, 1 KiB answers) at
#    C concurrent connections through the relay: no failure;
#  - the gateway's resident memory (VmRSS, /proc/PID/status) read after 10 %
#    of the requests (warm-up) and at the end: growth under 5 %;
#  - meanwhile, through the relay and straight to the gateway: truncated,
#    wrong-key-id, garbage and oversized requests each get their problem
#    (400 ohttp-decapsulation, 422 ohttp-key, 400, 413 body-too-large), and
#    slow senders (a request dribbled byte by byte, then silence) are cut off
#    by the server's timeout while the load is served;
#  - afterwards the gateway still answers (healthz, and a short load).
# The relay's per-client rate limit is configured (--rate/--burst) high enough
# for one client address sending the whole load.
#
# usage: load.sh PATH/TO/veil   (env: VEIL_LOAD_REQUESTS, default 50000;
#                                VEIL_LOAD_CONNECTIONS, default 128;
#                                VEIL_LOAD_WARMUP, % of the requests before the
#                                first memory reading, default 10;
#                                VEIL_LOAD_MAX_GROWTH, %, default 5, or "off":
#                                readings reported, not judged (sanitized
#                                builds, where the gateway's exit must instead
#                                leave LeakSanitizer nothing to report))
# Every wait is bounded; everything started is stopped by PID on exit.
# Skips (77) when jq or curl is missing.
set -euo pipefail

VEIL=$(realpath "${1:?usage: $0 PATH/TO/veil}")
N=${VEIL_LOAD_REQUESTS:-50000}
C=${VEIL_LOAD_CONNECTIONS:-128}
WARMUP=${VEIL_LOAD_WARMUP:-10}
MAX_GROWTH=${VEIL_LOAD_MAX_GROWTH:-5}
for t in jq curl; do command -v $t >/dev/null || { echo "skip: $t not installed"; exit 77; }; done

T=$(mktemp -d /tmp/veil-load.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$T"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$T"/*.err "$T"/*.json; do [ -s "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
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

echo "--- test model, gateway (standalone keys, no attester), relay"
# the gateway opens one upstream connection per request in flight
"$VEIL" testmodel --listen 127.0.0.1:0 --max-connections $((C * 2 + 128)) --json >"$T/tm.out" 2>"$T/tm.err" &
PIDS+=($!)
tm=$(wait_line "$T/tm.out" '.event=="listening"' 30 "${PIDS[-1]}") || fail "testmodel did not start"
TM_URL=$(jq -r .url <<<"$tm")

# max-concurrent above C: the load, the bad inputs and the slow senders at once.
# Under AddressSanitizer, freed memory sits in a quarantine (256 MiB by
# default) that fills for a long while and reads as growth, and the allocator
# keeps freed pages: a small quarantine and pages given back, so that RSS
# after warm-up is the steady state (no effect without ASan; the sanitized
# CI run also warms up longer, see tests.cmake).
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16:allocator_release_to_os_interval_ms=100 \
  "$VEIL" gateway --listen 127.0.0.1:0 --attester none --json --max-concurrent $((C + 64)) \
  --max-body 65536 --model "veil-echo-1k=openai:$TM_URL#veil-echo-1k" \
  >"$T/gw.out" 2>"$T/gw.err" &
GW_PID=$!
PIDS+=($GW_PID)
gw=$(wait_line "$T/gw.out" '.event=="listening"' 60 $GW_PID) || fail "gateway did not start"
GW=$(jq -r .url <<<"$gw")

# one client address sends everything: a per-address rate far above the load's
"$VEIL" relay --listen 127.0.0.1:0 --gateway "$GW/gateway" --json --rate 1000000/s \
  --burst 1000000 --max-body 65536 --timeout 10 --max-connections $((C + 128)) \
  >"$T/relay.out" 2>"$T/relay.err" &
PIDS+=($!)
relay=$(wait_line "$T/relay.out" '.event=="listening"' 30 "${PIDS[-1]}") || fail "relay did not start"
RELAY=$(jq -r .url <<<"$relay")
curl -sf --max-time 10 -o "$T/keys" "$GW/ohttp-keys" || fail "GET /ohttp-keys"
echo "testmodel $TM_URL gateway $GW (pid $GW_PID) relay $RELAY"

echo "--- $N requests at $C connections, bad inputs and slow senders alongside"
set +e
timeout 900 "$VEIL" load --relay "$RELAY" --keys "$T/keys" --model veil-echo-1k \
  --requests "$N" --connections "$C" --max-seconds 600 \
  --watch-pid $GW_PID --warmup "$WARMUP" --max-growth "${MAX_GROWTH/off/1000}" \
  --bad-inputs --direct "$GW/gateway" --oversize 65537 --slow 2 --slow-wait 90 \
  --json >"$T/load.json" 2>"$T/load.err"
rc=$?
set -e
cat "$T/load.json"
jq -e . "$T/load.json" >/dev/null || fail "veil load printed no JSON summary (exit $rc)"
[ "$(jq .ok "$T/load.json")" = "$N" ] || fail "not every request succeeded"
[ "$(jq .failed "$T/load.json")" = 0 ] || fail "failures: $(jq -c .failures "$T/load.json")"
jq -e '.memory.rss_warm_kib > 0 and .memory.rss_end_kib > 0' "$T/load.json" >/dev/null ||
  fail "no memory readings: $(jq -c .memory "$T/load.json")"
if [ "$MAX_GROWTH" != off ]; then
  jq -e '.memory.within_limit' "$T/load.json" >/dev/null ||
    fail "gateway memory growth: $(jq -c .memory "$T/load.json")"
fi
for kind in truncated wrong_key_id garbage oversized slow_sender; do
  for target in relay gateway; do
    jq -e --arg k $kind --arg t $target \
      '[.bad_inputs[] | select(.kind==$k and .target==$t and .sent > 0 and .right == .sent)]
       | length == 1' "$T/load.json" >/dev/null ||
      fail "bad input $kind via $target: $(jq -c --arg k $kind --arg t $target \
        '.bad_inputs[] | select(.kind==$k and .target==$t)' "$T/load.json")"
  done
done
[ $rc = 0 ] || fail "veil load exited $rc"
echo "memory: $(jq -c .memory "$T/load.json")"

echo "--- the gateway still serves"
kill -0 $GW_PID || fail "the gateway died"
curl -sf --max-time 10 "$GW/healthz" >/dev/null || fail "gateway /healthz"
timeout 120 "$VEIL" load --relay "$RELAY" --keys "$T/keys" --requests 50 --connections 8 \
  --json >"$T/after.json" 2>"$T/after.err" || fail "requests after the load: $(cat "$T/after.json")"

echo "--- graceful stop"
kill -TERM $GW_PID
for _ in $(seq 300); do kill -0 $GW_PID 2>/dev/null || break; sleep 0.1; done
kill -0 $GW_PID 2>/dev/null && fail "the gateway did not stop within 30 s"
wait $GW_PID || fail "the gateway exited $? (see gw.err)"
grep -q "LeakSanitizer" "$T/gw.err" && fail "LeakSanitizer: $(grep -A5 'Direct leak' "$T/gw.err" | head -20)"
echo "PASS: $N requests at $C connections, gateway memory $(jq .memory.growth_pct "$T/load.json") %" \
  "(limit: $MAX_GROWTH)"
