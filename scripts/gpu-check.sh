#!/usr/bin/env bash
# One-shot check of veil's NVIDIA attester and verifier on a real H100 (CC mode).
#   scripts/gpu-check.sh            (run from anywhere; needs no network)
# Builds only what it needs (src/common, src/crypto and the NVIDIA attestation
# files) into a temporary directory, then a tiny program that:
#   1. prints NVML's confidential-computing state (nvmlSystemGetConfComputeState);
#   2. collects every GPU's attestation report for a random 32-byte nonce and its
#      attestation certificate chain (nvmlDeviceGetConfComputeGpuAttestationReport /
#      ...GpuCertificate);
#   3. verifies each with veil_nvgpu_verify (FORMAT, CHAIN to the pinned NVIDIA
#      Device Identity CA, FWID, SIGNATURE, NONCE) and prints the trace; then
#      once more with a flipped nonce, which must fail NONCE.
# The evidence is saved under $OUT (or ./gpu-check-out) for offline tests.
# Exit 0 when every GPU verified; 1 otherwise; 2 when it cannot build. Bounded
# to well under 3 minutes (nvidia-smi <= 20 s, build ~10-30 s, run <= 100 s).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
out=${OUT:-$PWD/gpu-check-out}
mkdir -p "$out"
work=$(mktemp -d /tmp/veil-gpu-check.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "gpu-check: $(date -u +%FT%TZ) on $(uname -n)"
if command -v nvidia-smi >/dev/null; then
  timeout 10 nvidia-smi --query-gpu=index,name,driver_version,vbios_version --format=csv || true
  timeout 10 nvidia-smi conf-compute -f 2>&1 || true
else
  echo "gpu-check: nvidia-smi not found (continuing: veil loads libnvidia-ml.so.1 itself)"
fi

for m in openssl jansson xmlsec1-openssl; do
  if ! pkg-config --exists "$m"; then
    echo "gpu-check: missing development package for '$m' (Debian: libssl-dev, libjansson-dev," \
         "libxmlsec1-dev); cannot build offline"
    exit 2
  fi
done
cc=${CC:-cc}
cflags="-O1 -g -std=c17 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc"
cflags+=" $(pkg-config --cflags openssl jansson xmlsec1-openssl | tr '\n' ' ')"
# Exactly what the NVIDIA path needs (nothing else of the tree has to build).
srcs=(src/common/{base64,buffer,cursor,hex,json_util,mem,timeutil}.c
      src/crypto/{digest,nvgpu_crypto,rand,wipe,x509}.c
      src/attest/{nvgpu_spdm,nvgpu_verify,nvgpu_roots,nvgpu_rim,attester_nvidia,verdict}.c)
echo "gpu-check: compiling ${#srcs[@]} files"
pids=()
for f in "${srcs[@]}"; do
  # shellcheck disable=SC2086
  $cc $cflags -c "$f" -o "$work/$(echo "$f" | tr / _).o" 2>>"$work/build.log" &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
if [ $failed -ne 0 ]; then
  echo "gpu-check: build failed:"; tail -30 "$work/build.log"; exit 2
fi
ar rcs "$work/libveil-gpu.a" "$work"/*.o

cat >"$work/check.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/nvgpu.h"
#include "veil/nvgpu_attester.h"
#include "veil/rand.h"

static void save(const char *dir, unsigned i, const char *name, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/gpu%u-%s", dir, i, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

static bool verify(const veil_nvgpu_evidence *e, const uint8_t nonce[32], bool show)
{
    veil_verdict v;
    veil_nvgpu_decoded *d = veil_calloc(1, sizeof *d);
    veil_verdict_init(&v);
    veil_result r = veil_nvgpu_verify(e->report, e->report_len, e->chain_pem, e->chain_len, nonce,
                                      NULL, d, &v);
    bool ok = veil_ok(r) && veil_verdict_finish(&v);
    if (!veil_ok(r))
        printf("  error: %s\n", r.msg);
    for (size_t k = 0; show && k < v.n_trace; k++)
        printf("  %-10s %s %s\n", veil_check_name(v.trace[k].check),
               v.trace[k].passed ? "ok  " : "FAIL", v.trace[k].detail);
    if (show && d->have_report) {
        const veil_nvgpu_opaque *o = &d->report.opaque;
        printf("  driver %s, VBIOS %s, project %s/%s/%s, %u blocks, FWID field %s, NVDEC0 0x%02x\n",
               o->driver_version, o->vbios_version, o->project, o->project_sku, o->chip_sku,
               d->report.n_blocks, o->has_fwid ? "present" : "absent", o->nvdec0_status);
    }
    if (show && !ok)
        printf("  verdict: REJECT (%s)\n", v.reason);
    veil_free(d);
    return ok;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    veil_nvgpu_cc_mode mode;
    veil_result r = veil_nvgpu_attester_cc_state(&mode);
    printf("NVML CC state: %s\n", veil_ok(r) ? veil_nvgpu_cc_mode_name(mode) : r.msg);
    uint8_t nonce[32];
    char hex[65];
    if (!veil_ok(veil_random_bytes(nonce, sizeof nonce)))
        return 1;
    veil_hex_encode(nonce, 32, hex);
    printf("nonce: %s\n", hex);
    veil_nvgpu_evidence *ev = veil_calloc(VEIL_NVGPU_MAX_GPUS, sizeof *ev);
    size_t n = 0;
    r = veil_nvgpu_attester_collect(nonce, ev, VEIL_NVGPU_MAX_GPUS, &n);
    if (!veil_ok(r)) {
        printf("collect: %s [%s]\n", r.msg, veil_errclass_name(r.cls));
        return 1;
    }
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        printf("GPU %u: report %zu bytes, chain %zu bytes, CC %s\n", ev[i].index,
               ev[i].report_len, ev[i].chain_len, veil_nvgpu_cc_mode_name(ev[i].cc_mode));
        save(dir, ev[i].index, "report.bin", ev[i].report, ev[i].report_len);
        save(dir, ev[i].index, "chain.pem", ev[i].chain_pem, ev[i].chain_len);
        save(dir, ev[i].index, "nonce.hex", hex, 64);
        if (!verify(&ev[i], nonce, true))
            bad++;
        uint8_t wrong[32];
        memcpy(wrong, nonce, 32);
        wrong[0] ^= 1;
        printf("  with a flipped nonce: %s\n",
               verify(&ev[i], wrong, false) ? "ACCEPTED (bug!)" : "rejected, as it must be");
    }
    printf("%zu GPU(s), %d failed\n", n, bad);
    veil_free(ev);
    return bad ? 1 : 0;
}
EOF
# shellcheck disable=SC2086,SC2046
if ! $cc $cflags "$work/check.c" "$work/libveil-gpu.a" \
     $(pkg-config --libs xmlsec1-openssl jansson openssl) -lpthread -ldl -o "$work/check" \
     2>"$work/link.log"; then
  echo "gpu-check: link failed:"; tail -30 "$work/link.log"; exit 2
fi
timeout 100 "$work/check" "$out"
rc=$?
echo "gpu-check: exit $rc; evidence saved in $out"
exit $rc
