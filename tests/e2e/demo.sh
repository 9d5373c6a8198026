#!/usr/bin/env bash
# `veil demo` end to end: the whole stack on loopback (simulated secure
# processor, gateway launched inside it, relay, verifying client) must
#  - verify the gateway (simulated, with exactly the veil binary's measurement),
#  - return exactly the transcript pocketsphinx itself gives for the same file
#    called directly (ps_direct.sh: Debian's pocketsphinx_batch, one utterance,
#    same model and options, none of veil's code), and the one the inner
#    application gives run in process (`veil demo --local`: same engine, no
#    TEE, no network) -- for the LibriVox sample (WAV) and a headerless .raw,
#  - have sent at least the audio's size through the relay (as ciphertext),
#  - leave no process and no temporary directory behind;
#  - do the same with the gateway's key released by `veil kms` (--kms).
# (pocketsphinx_continuous is not the reference: it cuts the file where its
# voice activity detector hears pauses and decodes each piece separately, so
# its words differ from a one-utterance decode by design.)
# Skips (77) when pocketsphinx's en-us model or test data is not installed.
set -euo pipefail

VEIL=$(realpath "${1:?usage: $0 PATH/TO/veil}")
HERE=$(dirname "$(realpath "$0")")
DATA=/usr/share/pocketsphinx/test/data
WAV=$DATA/librivox/sense_and_sensibility_01_austen_64kb-0870.wav
RAW=$DATA/goforward.raw
LM=/usr/share/pocketsphinx/model/en-us/en-us.lm.bin
if [ ! -r "$WAV" ] || [ ! -r "$RAW" ] || [ ! -r "$LM" ]; then
  echo "skip: pocketsphinx-en-us / pocketsphinx-testdata not installed"
  exit 77
fi
for t in jq pocketsphinx_batch; do command -v $t >/dev/null || { echo "skip: $t not installed"; exit 77; }; done

T=$(mktemp -d /tmp/veil-e2e-demo.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

check_file() { # FILE NAME [DEMO OPTIONS...]
  local f=$1 name=$2
  shift 2
  echo "--- veil demo $* $f"
  timeout 900 "$VEIL" demo --json --state "$T/$name" "$@" "$f" >"$T/$name.json" 2>"$T/$name.err" ||
    { cat "$T/$name.err" >&2; fail "veil demo $f failed"; }
  local got want direct size up
  got=$(jq -r .transcript "$T/$name.json")
  want=$(timeout 600 "$VEIL" demo --local "$f")
  direct=$("$HERE/ps_direct.sh" "$f") || fail "pocketsphinx_batch failed on $f"
  echo "demo:         $got"
  echo "local:        $want"
  echo "pocketsphinx: $direct"
  [ -n "$got" ] || fail "empty transcript"
  [ "$got" = "$direct" ] || fail "the transcript through the stack differs from pocketsphinx's own"
  [ "$got" = "$want" ] || fail "the transcript through the stack differs from the in-process one"
  [ "$(jq -r .verification.verdict "$T/$name.json")" = accepted ] || fail "not verified"
  [ "$(jq -r .simulated "$T/$name.json")" = true ] || fail "the demo did not say SIMULATED"
  [ "$(jq -r .measurement "$T/$name.json")" = "$("$VEIL" measure --sim "$VEIL")" ] ||
    fail "the attested measurement is not the veil binary's"
  size=$(stat -c %s "$f")
  up=$(jq -r .relay.bytes_up "$T/$name.json")
  [ "$up" -ge "$size" ] || fail "the relay forwarded $up bytes, less than the audio ($size)"
  # everything it started is gone (children of a finished demo have no pids left)
  if pgrep -f "$T/$name/sim" >/dev/null; then fail "a process of the demo is still running"; fi
}

check_file "$WAV" librivox
check_file "$RAW" goforward
# the gateway's key released by the KMS after attestation (DESIGN.md flow 1)
check_file "$RAW" kms --kms
[ "$(jq -r .keys "$T/kms.json")" = kms ] || fail "the --kms demo did not use the KMS's key"

echo "--- plain \`veil demo\` (the README's command): the LibriVox sample, pocketsphinx's own words,"
echo "    and no temporary directory left behind"
before=$(find /tmp -maxdepth 1 -name 'veil-demo-*' | wc -l)
timeout 900 "$VEIL" demo --json >"$T/tmp.json" 2>"$T/tmp.err" ||
  { cat "$T/tmp.err" >&2; fail "veil demo (no arguments) failed"; }
after=$(find /tmp -maxdepth 1 -name 'veil-demo-*' | wc -l)
[ "$after" -le "$before" ] || fail "veil demo left a temporary directory behind"
[ "$(jq -r .audio "$T/tmp.json")" = "$WAV" ] || fail "veil demo's default audio is not the LibriVox sample"
[ "$(jq -r .transcript "$T/tmp.json")" = "$("$HERE/ps_direct.sh" "$WAV")" ] ||
  fail "veil demo's transcript differs from pocketsphinx's own"
echo "ok"
