#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: install the dependencies,
# build veil, run its built-in known-answer tests and the published vector
# files, then `veil demo`: a simulated secure processor, the gateway launched
# inside it, a relay, and a client that verifies the gateway's attestation and
# transcribes pocketsphinx's LibriVox sample through the relay, encrypted end
# to end; it prints the transcript and what was verified, and stops
# everything it started. Pass an audio file to transcribe that instead.
# The simulated TEE gives no confidentiality: it runs the real protocol and
# verification code on a machine without SEV-SNP hardware.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${VEIL_DEMO_BUILD:-build}

./scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target veil >/dev/null
veil="$build/veil"
td=../shared/testdata

echo "== veil selftest (embedded RFC 9180 / 9292 / 9458 / chunked-OHTTP known answers)"
"$veil" selftest
if [ -d "$td" ]; then
  echo "== RFC 9180 test vectors (all 128 cases)"
  "$veil" selftest hpke "$td/hpke/test-vectors.json"
  echo "== RFC 9292 examples"
  "$veil" selftest bhttp "$td/bhttp/rfc9292-examples.json"
  echo "== RFC 9458 Appendix A and the chunked-OHTTP example"
  "$veil" selftest ohttp "$td/ohttp/rfc9458-appendix-a.json"
  "$veil" selftest ohttp "$td/chunked-ohttp/draft-08-example.json"
fi
echo "== veil demo $*"
"$veil" demo "$@"
