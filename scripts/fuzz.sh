#!/usr/bin/env bash
# Build every libFuzzer target (clang, ASan+UBSan) and fuzz each for SECONDS.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default 60 s, all targets
# New inputs go to build-fuzz/corpus/<target>/ (not the committed corpus);
# crashes are written to build-fuzz/artifacts/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
build=${VEIL_FUZZ_BUILD:-build-fuzz}

cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DVEIL_FUZZ=ON -DVEIL_TESTS=OFF \
      -DVEIL_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do t=$(basename "$f" .c); targets+=("${t#fuzz_}"); done
fi

mkdir -p "$build/artifacts"
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t"
  echo "fuzz: $t for ${seconds}s"
  if ! "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
       "$build/corpus/$t" "tests/fuzz/corpus/$t" >"$build/fuzz-$t.log" 2>&1; then
    echo "fuzz: $t FAILED (see $build/fuzz-$t.log and $build/artifacts/)"
    tail -30 "$build/fuzz-$t.log"
    failed=1
  else
    grep -E '^stat::number_of_executed_units' "$build/fuzz-$t.log" | sed "s/^/fuzz: $t /"
  fi
done
exit $failed
