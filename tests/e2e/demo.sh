#!/usr/bin/env bash
# `veil demo` end to end: the whole stack on loopback (simulated secure
# processor, gateway launched inside it, relay, verifying client) must
#  - verify the gateway (simulated, with exactly the veil binary's measurement),
#  - return the transcript the inner application gives for the same file when
#    run directly in process (`veil demo --local`: same engine, no TEE, no
#    network) -- for the LibriVox sample (WAV) and a headerless .raw file,
#  - have sent at least the audio's size through the relay (as ciphertext),
#  - leave no process and no temporary directory behind;
#  - do the same with the gateway's key released by `veil kms` (--kms).
# Also prints pocketsphinx_continuous's own output for the file, for
# reference (it segments by voice activity, so its words may differ).
# Skips (77) when pocketsphinx's en-us model or test data is not installed.
set -euo pipefail

VEIL=$(realpath "${1:?usage: $0 PATH/TO/veil}")
DATA=/usr/share/pocketsphinx/test/data
WAV=$DATA/librivox/sense_and_sensibility_01_austen_64kb-0870.wav
RAW=$DATA/goforward.raw
LM=/usr/share/pocketsphinx/model/en-us/en-us.lm.bin
if [ ! -r "$WAV" ] || [ ! -r "$RAW" ] || [ ! -r "$LM" ]; then
  echo "skip: pocketsphinx-en-us / pocketsphinx-testdata not installed"
  exit 77
fi
command -v jq >/dev/null || { echo "skip: jq not installed"; exit 77; }

T=$(mktemp -d /tmp/veil-e2e-demo.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

check_file() { # FILE NAME [DEMO OPTIONS...]
  local f=$1 name=$2
  shift 2
  echo "--- veil demo $* $f"
  timeout 900 "$VEIL" demo --json --state "$T/$name" "$@" "$f" >"$T/$name.json" 2>"$T/$name.err" ||
    { cat "$T/$name.err" >&2; fail "veil demo $f failed"; }
  local got want size up
  got=$(jq -r .transcript "$T/$name.json")
  want=$(timeout 600 "$VEIL" demo --local "$f")
  echo "demo:   $got"
  echo "direct: $want"
  [ -n "$got" ] || fail "empty transcript"
  [ "$got" = "$want" ] || fail "the transcript through the stack differs from the direct one"
  [ "$(jq -r .verification.verdict "$T/$name.json")" = accepted ] || fail "not verified"
  [ "$(jq -r .simulated "$T/$name.json")" = true ] || fail "the demo did not say SIMULATED"
  [ "$(jq -r .measurement "$T/$name.json")" = "$("$VEIL" measure --sim "$VEIL")" ] ||
    fail "the attested measurement is not the veil binary's"
  size=$(stat -c %s "$f")
  up=$(jq -r .relay.bytes_up "$T/$name.json")
  [ "$up" -ge "$size" ] || fail "the relay forwarded $up bytes, less than the audio ($size)"
  # everything it started is gone (children of a finished demo have no pids left)
  if pgrep -f "$T/$name/sim" >/dev/null; then fail "a process of the demo is still running"; fi
  if command -v pocketsphinx_continuous >/dev/null && [ "${f%.wav}" != "$f" ]; then
    echo "pocketsphinx_continuous: $(timeout 300 pocketsphinx_continuous -infile "$f" \
      -logfn /dev/null 2>/dev/null | tr '\n' ' ')"
  fi
}

check_file "$WAV" librivox
check_file "$RAW" goforward
# the gateway's key released by the KMS after attestation (DESIGN.md flow 1)
check_file "$RAW" kms --kms
[ "$(jq -r .keys "$T/kms.json")" = kms ] || fail "the --kms demo did not use the KMS's key"

echo "--- a demo without --state leaves no temporary directory"
before=$(find /tmp -maxdepth 1 -name 'veil-demo-*' | wc -l)
timeout 900 "$VEIL" demo --json "$RAW" >"$T/tmp.json" 2>"$T/tmp.err" ||
  { cat "$T/tmp.err" >&2; fail "veil demo (temporary state) failed"; }
after=$(find /tmp -maxdepth 1 -name 'veil-demo-*' | wc -l)
[ "$after" -le "$before" ] || fail "veil demo left a temporary directory behind"
echo "ok"
