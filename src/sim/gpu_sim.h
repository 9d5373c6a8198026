/* Internal: a SIMULATED NVIDIA H100 for `veil sim` and the tests.
 *
 * It gives NO confidentiality and claims none: it produces evidence in the
 * exact H100 format (SPDM 1.1 GET_MEASUREMENTS request || MEASUREMENTS
 * response: 64 DMTF blocks of 48-byte SHA-384 values, opaque data with
 * DRIVER_VERSION, VBIOS_VERSION, PROJECT/SKUs, FWID, NVDEC0_STATUS, MSRSCNT
 * and FEATURE_FLAG, a 96-byte ECDSA P-384 r||s signature by the leaf) so the
 * GPU verification paths run on machines without a GPU. Its chain ends in
 * "SIMULATED NVIDIA Device Identity CA — not an NVIDIA key", trusted only
 * where a caller passes that root explicitly (veil_nvgpu_trust.extra_roots);
 * veil_nvgpu_verify then marks the evidence simulated.
 *
 * State, created once per state directory, under DIR/gpu/ (built in a
 * temporary directory and renamed into place, so concurrent creators agree
 * on one device and a half-written one is never seen):
 *   gpu.json     {"version":1,"fwid":HEX96,"root_sha256":HEX64,"note":...}
 *   root.der     the simulated root certificate
 *   chain.pem    leaf (GSP FMC LF) first ... root last: 5 certificates
 *   leaf.key     the leaf's P-384 key, PKCS#8 PEM (0600)
 *
 * Measurements are fixed: block i (1..64) holds SHA-384("veil-sim gpu
 * measurement v1" || u8 i), so a policy can list them (veil_gpu_sim_measurement). */
#ifndef VEIL_SIM_GPU_SIM_H
#define VEIL_SIM_GPU_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/result.h"

#define VEIL_GPU_SIM_SUBDIR "gpu"
#define VEIL_GPU_SIM_BLOCKS 64
#define VEIL_GPU_SIM_DRIVER_VERSION "550.90.07"
#define VEIL_GPU_SIM_VBIOS_VERSION "96.00.9f.00.01" /* opaque bytes 00 9f 00 96 01 00 00 00 */
#define VEIL_GPU_SIM_FWID_LEN 48
#define VEIL_GPU_SIM_PATH_MAX 4096

typedef struct veil_gpu_sim {
    char dir[VEIL_GPU_SIM_PATH_MAX]; /* DIR/gpu */
    uint8_t fwid[VEIL_GPU_SIM_FWID_LEN];
    uint8_t root_sha256[32];
    veil_buf root_der;
    veil_buf chain_pem;
    veil_buf leaf_key; /* PEM, wiped on free */
} veil_gpu_sim;

void veil_gpu_sim_init(veil_gpu_sim *g);
/* Wipes the key; leaves g initialised and empty. */
void veil_gpu_sim_free(veil_gpu_sim *g);

/* Open the simulated GPU of state directory `state_dir` (created 0700 if
 * missing; it must belong to us and be closed to others), creating DIR/gpu/
 * with a fresh chain unless it exists. *created (may be NULL) says which.
 * An existing DIR/gpu/ is checked: the root matches gpu.json's fingerprint,
 * the key matches the leaf, sizes are bounded. */
VEIL_MUST_USE veil_result veil_gpu_sim_open(const char *state_dir, bool *created,
                                            veil_gpu_sim *out);

/* The fixed measurement of block `index` (1..64). */
VEIL_MUST_USE veil_result veil_gpu_sim_measurement(unsigned index,
                                                   uint8_t out[VEIL_GPU_SIM_FWID_LEN]);

/* Signed evidence for the verifier's `nonce`, appended to `report`. */
VEIL_MUST_USE veil_result veil_gpu_sim_evidence(const veil_gpu_sim *g, const uint8_t nonce[32],
                                                veil_buf *report);

#endif
