#!/usr/bin/env bash
# The one command that runs every test, from a fresh Debian 12 machine:
# installs packages, builds with ASan+UBSan, lints, runs ctest (unit tests,
# vector files, corpus replays, npm interop), then fuzzes each target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${VEIL_TEST_BUILD:-build-test}

./scripts/install-deps.sh
cmake -S . -B "$build" -DVEIL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build "$build" -j"$(nproc)"
./scripts/lint.sh
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
(cd "$build" && ctest --output-on-failure -j"$(nproc)")
./scripts/fuzz.sh "${VEIL_FUZZ_SECONDS:-15}"
