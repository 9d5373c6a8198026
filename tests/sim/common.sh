# Shared by the tests/sim/*.sh scripts (sourced, not run).
set -euo pipefail

VEIL=$(realpath "${1:?usage: $0 PATH/TO/veil}")
T=$(mktemp -d /tmp/veil-sim.XXXXXX)
BG_PIDS=()
cleanup() {
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*"; }

# wait_for CONDITION-COMMAND... : poll for up to 30 s.
wait_for() {
  for _ in $(seq 300); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  fail "timed out waiting for: $*"
}

# json_str FILE KEY: the string value of "KEY" in a (flat) JSON file.
json_str() { sed -n "s/.*\"$2\": *\"\\([^\"]*\\)\".*/\\1/p" "$1" | head -n1; }
json_num() { sed -n "s/.*\"$2\": *\\([0-9-]*\\).*/\\1/p" "$1" | head -n1; }

# The measurement `veil measure --sim` gives, or "" when that command is not
# available in this build.
measure_sim() {
  local out
  if out=$("$VEIL" measure --sim "$@" 2>/dev/null); then
    echo "$out" | grep -oE '[0-9a-f]{96}' | head -n1
  fi
}

# check_verifies EVIDENCE FINGERPRINT MEASUREMENT: `veil verify` accepts the
# bundle (as simulated) with a policy trusting the simulated ARK, and rejects
# it at "chain" without. Skipped when `veil verify` is not in this build.
check_verifies() {
  if ! "$VEIL" verify --help >/dev/null 2>&1; then
    note "veil verify not available in this build: verification not checked here"
    return 0
  fi
  printf '{"trusted_simulated_roots":["%s"],"measurements":["%s"]}\n' "$2" "$3" >"$T/policy.json"
  "$VEIL" verify "$1" --policy "$T/policy.json" --json >"$T/verify.json" || true
  grep -q '"verdict": *"accepted"' "$T/verify.json" || fail "veil verify did not accept $1"
  grep -q '"simulated": *true' "$T/verify.json" || fail "veil verify did not mark $1 simulated"
  local rc=0
  "$VEIL" verify "$1" >"$T/verify-amd.txt" 2>&1 || rc=$?
  [ $rc -ne 0 ] && grep -q 'REJECTED: chain' "$T/verify-amd.txt" ||
    fail "without the simulated root, $1 was not rejected at chain"
}
