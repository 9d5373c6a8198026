/* veil — composite attestation: one CPU TEE (SEV-SNP or TDX) plus up to 16
 * NVIDIA GPUs in one evidence bundle, bound to one verifier value, appraised
 * with one policy into one verdict and one EAR with a submodule per device.
 *
 * Binding (docs/attestation.md), all hashes over the byte concatenation:
 *   B            the 64-byte base value the flow binds: given directly (a KMS
 *                release REPORT_DATA, a gateway binding, a policy's
 *                "report_data"), or from a verifier nonce N (16..64 bytes):
 *                B = SHA-512("veil-verify-v1" || N)
 *   GPU i nonce  SHA-256("veil-gpu-nonce-v1" || B || u8 i)     (i = 0 .. n-1)
 *   REPORT_DATA  n = 0: B
 *                n > 0: SHA-512("veil-composite-v1" || B || u8 n ||
 *                               SHA-256(report_0) || ... || SHA-256(report_{n-1}))
 *                where report_i is GPU i's SPDM evidence exactly as carried in
 *                the bundle (request || response).
 * The ASCII labels carry no terminating NUL. Dropping, adding, reordering or
 * swapping a GPU entry changes REPORT_DATA; replaying a GPU report made for
 * another B fails its nonce.
 *
 * Policy (one document for every device):
 *   { "cpu": { ...SEV-SNP (docs/policy.md) or TDX policy (veil/tdx.h)... },
 *     "gpu": { ...NVIDIA GPU policy (veil/nvgpu.h)... },
 *     "gpus": 2,                  the number of GPU entries required (optional)
 *     "comment": ... }            ignored
 * or a plain SEV-SNP / TDX policy (no "cpu", "gpu" or "gpus" member), which
 * then applies to the CPU and the default GPU policy to any GPU. Unknown
 * members are refused. */
#ifndef VEIL_COMPOSITE_H
#define VEIL_COMPOSITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/attest.h"
#include "veil/ear.h"
#include "veil/evidence.h"
#include "veil/result.h"
#include "veil/sign.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_COMPOSITE_BASE_LEN 64
#define VEIL_COMPOSITE_GPU_NONCE_LEN 32
#define VEIL_COMPOSITE_NONCE_MIN 16
#define VEIL_COMPOSITE_NONCE_MAX 64
#define VEIL_COMPOSITE_MAX_GPUS VEIL_EVIDENCE_MAX_GPUS
#define VEIL_COMPOSITE_MAX_DEVICES (1 + VEIL_COMPOSITE_MAX_GPUS)
#define VEIL_COMPOSITE_MAX_RIMS 8
#define VEIL_COMPOSITE_MAX_POLICY ((size_t)256 << 10)

#define VEIL_COMPOSITE_LABEL_VERIFY "veil-verify-v1"
#define VEIL_COMPOSITE_LABEL_GPU_NONCE "veil-gpu-nonce-v1"
#define VEIL_COMPOSITE_LABEL_REPORT_DATA "veil-composite-v1"

/* B = SHA-512("veil-verify-v1" || nonce); nonce_len 16..64. */
VEIL_MUST_USE veil_result veil_composite_base_from_nonce(const uint8_t *nonce, size_t nonce_len,
                                                         uint8_t base[VEIL_COMPOSITE_BASE_LEN]);
/* GPU `index`'s SPDM nonce (index < VEIL_COMPOSITE_MAX_GPUS). */
VEIL_MUST_USE veil_result veil_composite_gpu_nonce(const uint8_t base[VEIL_COMPOSITE_BASE_LEN],
                                                   unsigned index,
                                                   uint8_t nonce[VEIL_COMPOSITE_GPU_NONCE_LEN]);
/* The CPU REPORT_DATA over n GPU reports (n <= VEIL_COMPOSITE_MAX_GPUS; each
 * report non-empty). */
VEIL_MUST_USE veil_result veil_composite_report_data(const uint8_t base[VEIL_COMPOSITE_BASE_LEN],
                                                     const uint8_t *const *gpu_reports,
                                                     const size_t *gpu_report_lens, size_t n,
                                                     uint8_t report_data[64]);
/* The same over the bundle's "gpus" entries. */
VEIL_MUST_USE veil_result veil_composite_report_data_ev(const uint8_t base[VEIL_COMPOSITE_BASE_LEN],
                                                        const veil_evidence *ev,
                                                        uint8_t report_data[64]);

/* One device's outcome. */
typedef struct veil_composite_device {
    char name[32];        /* "sev-snp", "tdx", "gpu0", ... (the EAR submodule) */
    veil_verdict verdict; /* its own full trace */
    veil_ear ear;         /* its submodule (owned) */
} veil_composite_device;

/* About 160 KB: allocate on the heap. */
typedef struct veil_composite_result {
    veil_verdict verdict;   /* every device's checks in order (GPU details "gpu<i>: ...")
                               plus the "gpus" count; accepted only when every device is */
    veil_ear_status status; /* worst submodule status; contraindicated unless accepted */
    bool simulated;         /* some device rests on a simulated root */
    bool have_base;
    uint8_t base[VEIL_COMPOSITE_BASE_LEN];
    uint8_t report_data[64]; /* the CPU REPORT_DATA required (when have_base) */
    char policy_id[80];
    int64_t at;       /* the verification time used for the CPU (0: now) */
    size_t n_devices; /* the CPU first, then GPU 0 .. n-1 */
    veil_composite_device devices[VEIL_COMPOSITE_MAX_DEVICES];
} veil_composite_result;

/* Reference manifests (NVIDIA RIM XML) supplied by the verifier: each is
 * classified as driver or VBIOS RIM by its tagId / name and verified for
 * every GPU. */
typedef struct veil_composite_rim {
    const uint8_t *xml;
    size_t len;
} veil_composite_rim;

/* Verify and appraise a bundle: the CPU part (SEV-SNP via veil_verify_evidence,
 * TDX via veil_tdx_verify / veil_tdx_appraise) with REPORT_DATA required to be
 * the composite value, and each GPU (veil_nvgpu_verify with its derived nonce,
 * veil_nvgpu_appraise with the RIMs, veil_nvgpu_result). `base` (64 bytes, may
 * be NULL) is B; without it the CPU policy's "report_data" is B; with neither,
 * CPU REPORT_DATA is not checked and every GPU fails "nonce". A base given
 * together with a policy report_data that differs is a VEIL_E_USAGE error.
 * `at` (0: each policy's verification_time, else now) is the verification
 * time. Returns an error only for an unusable policy (VEIL_E_PROTOCOL naming
 * the member), bad arguments, OOM or an internal failure; the outcome is in
 * out (free with veil_composite_result_free, also after an error). */
VEIL_MUST_USE veil_result veil_verify_composite(const veil_evidence *ev, const char *policy_json,
                                                size_t n, const uint8_t *base, int64_t at,
                                                veil_composite_result *out);
VEIL_MUST_USE veil_result veil_verify_composite_rims(const veil_evidence *ev,
                                                     const char *policy_json, size_t n,
                                                     const uint8_t *base, int64_t at,
                                                     const veil_composite_rim *rims, size_t n_rims,
                                                     veil_composite_result *out);
/* One GPU alone (the published nvtrust form: report, chain, the verifier's
 * 32-byte SPDM nonce given directly, RIMs): the policy is an NVIDIA GPU
 * policy, or a composite one whose "gpu" member is used ("cpu" ignored).
 * The result has one device, "gpu0". */
VEIL_MUST_USE veil_result veil_verify_gpu_only(const veil_evidence_gpu *gpu,
                                               const uint8_t nonce[VEIL_COMPOSITE_GPU_NONCE_LEN],
                                               const char *policy_json, size_t n, int64_t at,
                                               const veil_composite_rim *rims, size_t n_rims,
                                               veil_composite_result *out);
void veil_composite_result_free(veil_composite_result *r);
/* Whether a policy document parses as veil_verify_composite would parse it
 * for CPU evidence of kind `tee` ("sev-snp", "tdx"; NULL: either). The
 * error (VEIL_E_PROTOCOL) names the bad member. */
VEIL_MUST_USE veil_result veil_composite_policy_check(const char *policy_json, size_t n,
                                                      const char *tee);

/* One EAR JWT with a submodule per device (veil_ear_sign_multi). */
VEIL_MUST_USE veil_result veil_composite_sign(const veil_composite_result *r,
                                              const veil_sign_key *key, veil_buf *token);

#ifdef __cplusplus
}
#endif
#endif
