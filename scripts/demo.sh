#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine. Until the end-to-end
# transcription path lands, it builds veil, runs its built-in known-answer
# tests and the published vector files, and makes an OHTTP key configuration.
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
echo "== veil keygen --kem x25519"
out=$(mktemp -d)
"$veil" keygen --kem x25519 --out "$out/gateway"
ls -l "$out"
rm -rf "$out"
