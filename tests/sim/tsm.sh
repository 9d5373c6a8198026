#!/usr/bin/env bash
# The tsm attester against `veil sim tsm`'s emulated configfs-tsm tree: the
# real configfs-tsm code path of `veil attest --attester tsm`, a report with
# the requested REPORT_DATA and VMPL and the emulator's measurement; and a
# plain error when the configfs-tsm directory does not exist.
. "$(dirname "$0")/common.sh"

"$VEIL" sim init --state "$T/s" --json >"$T/init.json"
fp=$(json_str "$T/init.json" ark_sha256)
printf 'pretend guest image\n' >"$T/guest.bin"
"$VEIL" sim tsm --state "$T/s" --dir "$T/tsm" --measure-file "$T/guest.bin" --max-seconds 120 \
  2>"$T/tsm.log" &
BG_PIDS+=($!)
wait_for grep -q ready "$T/tsm.log"
cat "$T/tsm.log"

note "evidence through the emulated tree"
"$VEIL" attest --attester tsm --tsm-dir "$T/tsm" --report-data abcdef --vmpl 1 \
  --out "$T/ev.json" --json >"$T/attest.json"
cat "$T/attest.json"
m=$(json_str "$T/attest.json" measurement)
grep -q "measurement $m" "$T/tsm.log" || fail "measurement differs from the emulator's"
want=$(measure_sim "$T/guest.bin")
[ -z "$want" ] || [ "$m" = "$want" ] || fail "measurement $m != veil measure --sim $want"
[ "$(json_num "$T/attest.json" vmpl)" = 1 ] || fail "vmpl not 1"
json_str "$T/attest.json" report_data | grep -q '^abcdef00' || fail "report_data"
[ "$(json_str "$T/attest.json" attester)" = tsm ] || fail "attester not tsm"
grep -q '"cert_table"' "$T/ev.json" || fail "no cert_table (auxblob) in the bundle"
check_verifies "$T/ev.json" "$fp" "$m"
[ -z "$(ls -A "$T/tsm")" ] || fail "report entry left behind in the tsm tree"

note "a second request in the same tree"
"$VEIL" attest --tsm-dir "$T/tsm" --report-data 01 --out "$T/ev2.json" --json >"$T/attest2.json"
[ "$(json_num "$T/attest2.json" vmpl)" = 0 ] || fail "vmpl not 0"

note "missing configfs-tsm"
rc=0
env -u VEIL_SIM_SOCKET "$VEIL" attest --tsm-dir "$T/nope" --out "$T/x.json" 2>"$T/err" || rc=$?
cat "$T/err"
[ $rc -ne 0 ] || fail "attest succeeded without configfs-tsm"
grep -q "configfs-tsm not available at $T/nope" "$T/err" || fail "error does not name the dir"
grep -q CONFIG_TSM_REPORTS "$T/err" || fail "error does not name CONFIG_TSM_REPORTS"

note "the emulator stops on SIGTERM"
kill -TERM "${BG_PIDS[0]}"
rc=0
wait "${BG_PIDS[0]}" || rc=$?
BG_PIDS=()
[ $rc -eq 0 ] || fail "veil sim tsm exited $rc on SIGTERM"
echo "PASS"
