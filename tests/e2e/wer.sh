#!/usr/bin/env bash
# Word error rate over the five LibriVox files of pocketsphinx-testdata
# (issue 6, bar 3), against the package's reference transcription
# (librivox/transcription), computed by wer.awk for
#  - the confidential path: `veil up` (simulated TEE, gateway, relay) and the
#    verifying client `veil transcribe` through the relay, one file at a time;
#  - pocketsphinx itself called directly (ps_direct.sh: pocketsphinx_batch,
#    one utterance per file, same model and options);
# prints both, per file and overall, and fails unless they are equal, per
# file and overall. wer.awk is checked on known cases first.
# Skips (77) when pocketsphinx's model or test data, jq or pocketsphinx_batch
# is missing. Every wait is bounded; everything started is killed by PID.
set -euo pipefail

VEIL=$(realpath "${1:?usage: $0 PATH/TO/veil}")
HERE=$(dirname "$(realpath "$0")")
DIR=/usr/share/pocketsphinx/test/data/librivox
LM=/usr/share/pocketsphinx/model/en-us/en-us.lm.bin
if [ ! -r "$DIR/fileids" ] || [ ! -r "$DIR/transcription" ] || [ ! -r "$LM" ]; then
  echo "skip: pocketsphinx-en-us / pocketsphinx-testdata not installed"
  exit 77
fi
for t in jq pocketsphinx_batch; do command -v $t >/dev/null || { echo "skip: $t not installed"; exit 77; }; done

T=$(mktemp -d /tmp/veil-e2e-wer.XXXXXX)
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
  for f in "$T"/*.err; do [ -s "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
  exit 1
}
# errors and reference words of HYP against REF: "E N"
wer() { REF=$1 HYP=$2 awk -f "$HERE/wer.awk"; }
pct() { awk -v e="$1" -v n="$2" 'BEGIN { printf "%.2f%%", n ? 100 * e / n : 0 }'; }

echo "--- wer.awk on known cases"
check_wer() {
  local got
  got=$(wer "$1" "$2")
  [ "$got" = "$3" ] || fail "wer.awk: REF='$1' HYP='$2' gave '$got', want '$3'"
}
check_wer "a b c d" "a b c d" "0 4"
check_wer "a b c d" "a x c" "2 4"                 # one substitution, one deletion
check_wer "a b" "x a b y" "2 2"                   # two insertions
check_wer "the cat sat" "cat sat the" "2 3"
check_wer "Hello, World!" "hello world" "0 2"     # case and punctuation
check_wer "<s> he was </s> (utt-0880)" "he was not" "1 2"
check_wer "don't stop" "dont stop" "1 2"
check_wer "a b" "" "2 2"

mapfile -t IDS <"$DIR/fileids"
[ ${#IDS[@]} -eq 5 ] || fail "expected five LibriVox files, found ${#IDS[@]}"
FILES=()
for id in "${IDS[@]}"; do FILES+=("$DIR/$id.wav"); done

echo "--- pocketsphinx directly (pocketsphinx_batch)"
mapfile -t DIRECT < <("$HERE/ps_direct.sh" "${FILES[@]}")
[ ${#DIRECT[@]} -eq 5 ] || fail "ps_direct.sh gave ${#DIRECT[@]} hypotheses"

echo "--- the confidential path: veil up, then veil transcribe through the relay"
"$VEIL" up --json --state "$T/stack" >"$T/up.out" 2>"$T/up.err" &
PIDS+=($!)
up=
for _ in $(seq 2400); do
  up=$(jq -c 'select(.event=="ready")' "$T/up.out" 2>/dev/null | head -1 || true)
  [ -n "$up" ] && break
  kill -0 "${PIDS[0]}" 2>/dev/null || fail "veil up exited"
  sleep 0.1
done
[ -n "$up" ] || fail "veil up did not get ready in 240 s"
GW=$(jq -r .gateway_url <<<"$up")
RELAY=$(jq -r .relay_url <<<"$up")
POLICY=$(jq -r .policy <<<"$up")
VEILS=()
for f in "${FILES[@]}"; do
  timeout 300 "$VEIL" transcribe "$f" --relay "$RELAY" --gateway "$GW" --policy "$POLICY" \
    --json >"$T/t.json" 2>"$T/transcribe.err" || fail "veil transcribe $f failed"
  [ "$(jq -r .verification.verdict "$T/t.json")" = accepted ] || fail "gateway not verified"
  VEILS+=("$(jq -r .transcript "$T/t.json")")
done

echo
printf '%-44s %5s  %-16s %-16s\n' file words "direct errs WER" "veil errs WER"
td=0 tv=0 tn=0 bad=0
for i in "${!IDS[@]}"; do
  id=${IDS[$i]}
  ref=$(grep -F "($id)" "$DIR/transcription") || fail "no reference for $id"
  read -r ed n < <(wer "$ref" "${DIRECT[$i]}")
  read -r ev nv < <(wer "$ref" "${VEILS[$i]}")
  [ "$n" -gt 0 ] && [ "$n" = "$nv" ] || fail "reference of $id: $n words?"
  printf '%-44s %5d  %4d %-11s %4d %-11s\n' "$id" "$n" "$ed" "$(pct "$ed" "$n")" "$ev" "$(pct "$ev" "$n")"
  [ "$ed" = "$ev" ] || { echo "  direct: ${DIRECT[$i]}"; echo "  veil:   ${VEILS[$i]}"; bad=1; }
  td=$((td + ed)) tv=$((tv + ev)) tn=$((tn + n))
done
printf '%-44s %5d  %4d %-11s %4d %-11s\n' overall "$tn" "$td" "$(pct "$td" "$tn")" "$tv" "$(pct "$tv" "$tn")"
echo "WER direct pocketsphinx: $(pct "$td" "$tn") ($td/$tn)   through veil: $(pct "$tv" "$tn") ($tv/$tn)"
[ "$bad" = 0 ] || fail "a file's word error rate through veil differs from pocketsphinx's own"
[ "$td" = "$tv" ] || fail "overall word error rate through veil differs from pocketsphinx's own"
echo "ok"
