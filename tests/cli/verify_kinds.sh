#!/usr/bin/env bash
# `veil verify` over the three evidence kinds, in the same output style
# (human and --json): a real TDX quote with its collateral (--quote), a
# composite bundle from `veil sim` (SEV-SNP + two simulated GPUs, bound to
# --nonce), and one simulated GPU alone (--gpu-report / --gpu-chain / --nonce).
# Then the bundle with a GPU entry dropped, swapped or reordered, and under
# another nonce: each rejected.
#   verify_kinds.sh VEIL TESTDATA_DIR
set -euo pipefail
veil=$1
data=$2
tmp=$(mktemp -d /tmp/veil-verify-kinds-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "verify_kinds: FAIL: $*" >&2; exit 1; }

# ---- TDX: the published form ------------------------------------------------------------
tdx=$data/attestation/tdx-v5-go-tdx-guest
out=$("$veil" verify --quote "$tdx/quote.bin" --collateral "$tdx/collateral.json" \
      --at 2026-03-01T00:00:00Z) && rc=0 || rc=$?
echo "$out"
[ "$rc" -le 1 ] || fail "tdx: exit $rc"
echo "$out" | grep -q '^verification time 2026-03-01T00:00:00Z, policy default$' || fail "tdx: header"
echo "$out" | grep -qE '^  ok   signature ' || fail "tdx: signature line"
echo "$out" | grep -qE '^  ok   tcb  ' || fail "tdx: tcb line"
echo "$out" | grep -qE '^ACCEPTED: (affirming|warning)' || fail "tdx: verdict line"
"$veil" verify --quote "$tdx/quote.bin" --collateral "$tdx/collateral.json" \
    --at 2026-03-01T00:00:00Z --json >"$tmp/tdx.json" || true
python3 - "$tmp/tdx.json" <<'PY' || fail "tdx: json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"] == "accepted" and list(d["submods"]) == ["tdx"], d
assert d["claims"]["tee"] == "tdx" and d["checks"][0]["check"] == "format"
PY
# a quote with a bit flipped in the TD report is rejected
python3 - "$tdx/quote.bin" "$tmp/bad.bin" <<'PY'
import sys
q = bytearray(open(sys.argv[1], "rb").read()); q[600] ^= 1; open(sys.argv[2], "wb").write(q)
PY
"$veil" verify --quote "$tmp/bad.bin" --collateral "$tdx/collateral.json" \
    --at 2026-03-01T00:00:00Z >/dev/null && fail "tdx: tampered quote accepted" || true

# ---- SEV-SNP + 2 GPUs from `veil sim` --------------------------------------------------
"$veil" sim init --state "$tmp/st" --json >"$tmp/init.json"
nonce=$(printf '%064x' 7)
"$veil" sim launch --state "$tmp/st" -- "$veil" attest --gpus 2 --nonce "$nonce" \
    --out "$tmp/b.json" >/dev/null 2>&1 || fail "attest --gpus 2"
python3 - "$tmp" <<'PY'
import hashlib, json, sys
t = sys.argv[1]
ark = json.load(open(t + "/init.json"))["ark_sha256"]
root = json.load(open(t + "/st/gpu/gpu.json"))["root_sha256"]
m = hashlib.sha384(b"veil-sim gpu measurement v1" + bytes([3])).hexdigest()
pol = {"cpu": {"trusted_simulated_roots": [ark]},
       "gpu": {"require_rims": False, "require_cc_mode": True,
               "trusted_simulated_roots": [root], "measurements": {"2": m}},
       "gpus": 2}
json.dump(pol, open(t + "/pol.json", "w"))
json.dump(pol["gpu"], open(t + "/gpupol.json", "w"))
b = json.load(open(t + "/b.json"))
def save(name, doc): json.dump(doc, open(t + "/" + name, "w"))
save("dropped.json", dict(b, gpus=b["gpus"][:1]))
save("reordered.json", dict(b, gpus=[b["gpus"][1], b["gpus"][0]]))
import base64
open(t + "/gpu1.bin", "wb").write(base64.b64decode(b["gpus"][1]["report"]))
open(t + "/gpu1.pem", "wb").write(base64.b64decode(b["gpus"][1]["certs"]))
PY
verify() { "$veil" verify "$@" --policy "$tmp/pol.json"; }
out=$(verify "$tmp/b.json" --nonce "$nonce") && rc=0 || rc=$?
echo "$out"
[ "$rc" -eq 1 ] || fail "composite: exit $rc (a simulated result is a warning: 1)"
echo "$out" | grep -q '^ACCEPTED: warning (SIMULATED' || fail "composite: not accepted"
echo "$out" | grep -qE '^  ok   nonce        gpu1: ' || fail "composite: gpu1 nonce line"
verify "$tmp/b.json" --nonce "$nonce" --json >"$tmp/c.json" || true
python3 - "$tmp/c.json" <<'PY' || fail "composite: json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"] == "accepted", d
assert sorted(d["submods"]) == ["gpu0", "gpu1", "sev-snp"], d["submods"].keys()
assert d["submods"]["gpu1"]["claims"]["tee"] == "nvidia-gpu"
PY
rejected() { # FILE NONCE EXPECTED-CHECK
    verify "$1" --nonce "$2" --json >"$tmp/r.json" && fail "$1 accepted" || true
    python3 -c "import json,sys; d=json.load(open('$tmp/r.json')); \
sys.exit(0 if d['verdict']=='rejected' and d['failed_check'] in '$3'.split(',') else 1)" ||
        fail "$1: expected $3, got $(cat "$tmp/r.json")"
}
rejected "$tmp/dropped.json" "$nonce" report_data
rejected "$tmp/reordered.json" "$nonce" report_data,nonce
rejected "$tmp/b.json" "$(printf '%064x' 8)" report_data,nonce
# a GPU report from another bundle (another nonce) swapped in
"$veil" sim launch --state "$tmp/st" -- "$veil" attest --gpus 2 --nonce "$(printf '%064x' 9)" \
    --out "$tmp/b2.json" >/dev/null 2>&1
python3 - "$tmp" <<'PY'
import json, sys
t = sys.argv[1]
b, b2 = json.load(open(t + "/b.json")), json.load(open(t + "/b2.json"))
json.dump(dict(b, gpus=[b2["gpus"][0], b["gpus"][1]]), open(t + "/swapped.json", "w"))
PY
rejected "$tmp/swapped.json" "$nonce" report_data,nonce

# ---- one GPU alone: the published form ----------------------------------------------------
gnonce=$(python3 - "$nonce" <<'PY'
import hashlib, sys
b = hashlib.sha512(b"veil-verify-v1" + bytes.fromhex(sys.argv[1])).digest()
print(hashlib.sha256(b"veil-gpu-nonce-v1" + b + bytes([1])).hexdigest())
PY
)
out=$("$veil" verify --gpu-report "$tmp/gpu1.bin" --gpu-chain "$tmp/gpu1.pem" --nonce "$gnonce" \
      --policy "$tmp/gpupol.json") && rc=0 || rc=$?
echo "$out"
echo "$out" | grep -qE '^  ok   nonce        request nonce' || fail "gpu: nonce line"
# (NVML's CC state is not in a bare report: require_cc_mode fails closed)
echo "$out" | grep -qE '^REJECTED: gpu_cc_mode' || fail "gpu: cc mode unknown must fail"
"$veil" verify --gpu-report "$tmp/gpu1.bin" --gpu-chain "$tmp/gpu1.pem" \
    --nonce "$(printf '%064x' 1)" --policy "$tmp/gpupol.json" --json >"$tmp/g.json" || true
grep -q '"failed_check":"nonce"' "$tmp/g.json" || fail "gpu: wrong nonce"
# the real H100 evidence (hex, as nvtrust publishes it) with its signed RIMs
h100=$data/attestation/nvidia-h100-nvtrust-2023
h100_nonce=4cff7f5380ead8fad8ec2c531c110aca4302a88f603792801a8ca29ee151af2e
out=$("$veil" verify --gpu-report "$h100/attestation_report.hex" --gpu-chain "$h100/gpu_cert_chain.pem" \
      --nonce "$h100_nonce" --rim "$h100/driver_rim.swidtag" --rim "$h100/vbios_rim.swidtag" \
      --at 2024-06-01T00:00:00Z) || fail "h100: exit $?"
echo "$out"
echo "$out" | grep -q '^ACCEPTED: affirming$' || fail "h100: not affirming"
echo "$out" | grep -qE '^  ok   gpu_measurement 32/32 ' || fail "h100: measurements"
echo "verify_kinds: ok"
