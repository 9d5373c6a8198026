/* veil — the "nvidia" attester: evidence from the NVIDIA GPUs of this
 * machine, through NVML (libnvidia-ml.so.1, shipped with the driver from
 * r535 on), loaded at run time with dlopen so that veil runs unchanged where
 * there is no NVIDIA driver.
 *
 * For each GPU: nvmlDeviceGetConfComputeGpuAttestationReport with the
 * caller's 32-byte nonce (the SPDM GET_MEASUREMENTS evidence that
 * veil_nvgpu_verify checks) and nvmlDeviceGetConfComputeGpuCertificate (its
 * attestation certificate chain, PEM, leaf first), plus the system's CC
 * state from nvmlSystemGetConfComputeState (reported by the driver, not
 * signed by the GPU). */
#ifndef VEIL_NVGPU_ATTESTER_H
#define VEIL_NVGPU_ATTESTER_H

#include <stddef.h>
#include <stdint.h>

#include "veil/nvgpu.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_NVML_LIBRARY "libnvidia-ml.so.1"
#define VEIL_NVGPU_MAX_GPUS 64

/* One GPU's evidence (about 13 KB: allocate arrays of these on the heap). */
typedef struct veil_nvgpu_evidence {
    unsigned index; /* NVML device index */
    size_t report_len;
    uint8_t report[VEIL_NVGPU_MAX_REPORT]; /* request || response, for veil_nvgpu_verify */
    size_t chain_len;
    uint8_t chain_pem[VEIL_NVGPU_MAX_CHAIN_PEM]; /* attestation certificate chain */
    veil_nvgpu_cc_mode cc_mode;                  /* NVML's (unsigned) CC state */
} veil_nvgpu_evidence;

/* Collect the evidence of every GPU (at most cap; *n receives how many, and
 * out[0..cap) is zeroed first). Fails with VEIL_E_UNSUPPORTED and a plain
 * message when there is nothing to ask: "libnvidia-ml.so.1 not found: no
 * NVIDIA driver on this machine", a driver without the CC entry points, or
 * no GPU; with VEIL_E_INTERNAL naming the NVML call when NVML refuses (for
 * instance a report requested while CC mode is off). */
VEIL_MUST_USE veil_result veil_nvgpu_attester_collect(const uint8_t nonce[VEIL_NVGPU_NONCE_LEN],
                                                      veil_nvgpu_evidence *out, size_t cap,
                                                      size_t *n);

/* The NVML system CC state alone (no GPU query); VEIL_E_UNSUPPORTED as above. */
VEIL_MUST_USE veil_result veil_nvgpu_attester_cc_state(veil_nvgpu_cc_mode *mode);

#ifdef __cplusplus
}
#endif
#endif
