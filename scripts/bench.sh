#!/usr/bin/env bash
# Builds an optimised, unsanitised tree and runs every benchmark under bench/.
# Each benchmark prints its figures against a baseline measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${VEIL_BENCH_BUILD:-build-bench}
./scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVEIL_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
for b in "$build"/bench/*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" "$@"
done
