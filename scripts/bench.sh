#!/usr/bin/env bash
# Builds an optimised, unsanitised tree and runs every benchmark under bench/.
# Each benchmark prints its figures against a baseline measured in the same run.
# bench/gateway (issue 6, bar 6) needs pocketsphinx-en-us and -testdata; its
# own `--check` exits 1 when a target is missed (build-bench/bench/gateway --check).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${VEIL_BENCH_BUILD:-build-bench}
./scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVEIL_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
for b in "$build"/bench/*; do
  [ -f "$b" ] && [ -x "$b" ] || continue # not bench/CMakeFiles
  echo "== $(basename "$b")"
  "$b" "$@"
done
