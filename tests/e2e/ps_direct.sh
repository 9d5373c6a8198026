#!/usr/bin/env bash
# pocketsphinx itself, not veil's code: Debian's pocketsphinx_batch decodes
# each file as one utterance with the same model, dictionary and options as
# veil's engine (src/gateway/stt_pocketsphinx.c: the en-us defaults of
# include/veil/app.h, nothing else set), and prints one hypothesis per line,
# in the order of the arguments.
#   ps_direct.sh FILE.wav...   canonical 16 kHz mono s16le WAV: the 44-byte
#                              RIFF header is skipped (-adchdr 44); anything
#                              else is refused rather than decoded wrongly
#   ps_direct.sh FILE.raw...   headerless 16 kHz mono s16le
# Why -adchdr 44: -adcin reads raw samples, so without it the RIFF header is
# decoded as 22 samples of audio, and that changes the words (it is how
# pocketsphinx-testdata's librivox/test-lm.match was made). veil decodes the
# data chunk only (libsndfile), exactly the samples after those 44 bytes.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 FILE.wav|FILE.raw..." >&2; exit 2; }
M=/usr/share/pocketsphinx/model/en-us
command -v pocketsphinx_batch >/dev/null || { echo "pocketsphinx_batch not installed" >&2; exit 77; }

# u32/u16 little-endian fields of a file
le() { od -An -t"u$2" -j"$1" -N"$2" --endian=little "$3" | tr -d ' '; }
canonical_wav() {
  local f=$1
  [ "$(head -c 4 "$f")" = RIFF ] && [ "$(dd if="$f" bs=1 skip=8 count=8 2>/dev/null)" = "WAVEfmt " ] &&
    [ "$(le 16 4 "$f")" = 16 ] && [ "$(le 20 2 "$f")" = 1 ] && [ "$(le 22 2 "$f")" = 1 ] &&
    [ "$(le 24 4 "$f")" = 16000 ] && [ "$(le 34 2 "$f")" = 16 ] &&
    [ "$(dd if="$f" bs=1 skip=36 count=4 2>/dev/null)" = data ] &&
    [ "$(le 40 4 "$f")" = $(($(stat -c %s "$f") - 44)) ]
}

T=$(mktemp -d /tmp/veil-ps-direct.XXXXXX)
trap 'rm -rf "$T"' EXIT
hdr=
for f in "$@"; do
  f=$(realpath "$f")
  case $f in
  *.wav) canonical_wav "$f" || { echo "$f: not a canonical 16 kHz mono 16-bit WAV" >&2; exit 3; }
         h=44 ;;
  *.raw) h=0 ;;
  *) echo "$f: only .wav or .raw" >&2; exit 2 ;;
  esac
  [ -z "$hdr" ] || [ "$hdr" = "$h" ] || { echo "mix of .wav and .raw: one kind per call" >&2; exit 2; }
  hdr=$h
  echo "${f%.*}" >>"$T/ctl" # batch opens CEPDIR/LINE.EXT: "/" + absolute path
done
ext=.wav
[ "$hdr" = 44 ] || ext=.raw
timeout 600 pocketsphinx_batch -adcin yes -adchdr "$hdr" -cepext "$ext" -ctl "$T/ctl" \
  -hyp "$T/hyp" -hmm "$M/en-us" -lm "$M/en-us.lm.bin" -dict "$M/cmudict-en-us.dict" \
  -logfn "$T/log" || { tail -20 "$T/log" >&2; exit 4; }
# "HYPOTHESIS (UTTID SCORE)" per line, in ctl order
[ "$(wc -l <"$T/hyp")" -eq $# ] || { echo "pocketsphinx_batch decoded $(wc -l <"$T/hyp") of $# files" >&2; exit 4; }
sed -E 's/ ?\([^()]* -?[0-9]+\)$//' "$T/hyp"
