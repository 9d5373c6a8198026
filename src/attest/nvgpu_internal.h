/* Internal to the NVIDIA GPU verifier: the pinned roots, the chain step shared
 * by the device chain and the RIM signer chain, and small helpers. Not public
 * API. */
#ifndef VEIL_ATTEST_NVGPU_INTERNAL_H
#define VEIL_ATTEST_NVGPU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/x509.h"
#include "veil/nvgpu.h"

/* TCG DICE TcbInfo (nvtrust cc_admin_utils.py): the FWID is the last 48
 * bytes of either extension's value. */
#define NVGPU_OID_FWID "2.23.133.5.4.1"
#define NVGPU_OID_FWID_ALT "2.23.133.5.4.1.1"
#define NVGPU_MAX_EXTRA_ROOTS 16

/* ---- pinned roots (nvgpu_roots.c; DER in nvidia_roots.inc) --------------------------- */

typedef enum nvgpu_root_kind { NVGPU_ROOT_DEVICE = 0, NVGPU_ROOT_RIM = 1 } nvgpu_root_kind;

/* The parsed pinned root (parsed once, shared, never freed). */
VEIL_MUST_USE veil_result nvgpu_pinned_root(nvgpu_root_kind kind, veil_x509 **out);

/* ---- chain to a pinned root or an extra root (nvgpu_verify.c) ------------------------ */

typedef struct nvgpu_chain_result {
    bool ok;        /* verified */
    bool simulated; /* anchored by an extra root */
    size_t len;     /* certificates in the built chain */
    char detail[VEIL_VERDICT_DETAIL];
    char leaf_cn[64], root_cn[64];
    uint8_t root_sha256[32];
} nvgpu_chain_result;

/* Verify certs[0] (the leaf) with certs[1..n) as intermediates to the pinned
 * root of `kind` or one of trust's extra roots at `at`. A failed chain is
 * reported in res->ok / res->detail (VEIL_OK); errors are for bad extra roots
 * (VEIL_E_USAGE) and internal failures. */
VEIL_MUST_USE veil_result nvgpu_chain_verify(veil_x509 *const *certs, size_t n,
                                             nvgpu_root_kind kind, const veil_nvgpu_trust *trust,
                                             int64_t at, nvgpu_chain_result *res);
/* Check trust's extra-root arrays. */
VEIL_MUST_USE veil_result nvgpu_trust_check(const veil_nvgpu_trust *t);

/* ---- helpers ------------------------------------------------------------------------------ */

/* ASCII case-insensitive string equality (versions: "96.00.5E.00.01"). */
bool nvgpu_str_ieq(const char *a, const char *b);

#endif
