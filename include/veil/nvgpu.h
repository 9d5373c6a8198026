/* veil — NVIDIA H100 confidential-computing GPU attestation: the SPDM 1.1
 * GET_MEASUREMENTS evidence, its authenticity (device certificate chain to
 * the pinned "NVIDIA Device Identity CA", FWID binding, ECDSA P-384
 * signature, nonce), the signed reference manifests (RIMs: SWID tags with
 * an enveloped XML-DSig to the pinned "NVIDIA CoRIM signing Root CA"), the
 * appraisal of the measurements against them, and the attestation result.
 *
 * References (shared/notes/attestation-formats.md §3): NVIDIA/nvtrust
 * guest_tools/gpu_verifiers/local_gpu_verifier/src/verifier/ (attestation/,
 * rim/, verifier.py, cc_admin_utils.py, config.py); DMTF DSP0274 (SPDM 1.1)
 * §10.11 GET_MEASUREMENTS / MEASUREMENTS; ISO/IEC 19770-2 SWID tags.
 *
 * The evidence is the 37-byte request followed by the responder's
 * MEASUREMENTS message (all integers little-endian):
 *
 *   request   0  u8  SPDMVersion 0x11        response 0  u8  SPDMVersion 0x11
 *             1  u8  code 0xE0                        1  u8  code 0x60
 *             2  u8  Param1 (bit 0: sign)             2  u8  Param1
 *             3  u8  Param2 (0xFF: all)               3  u8  Param2 (slot)
 *             4  32  Nonce (the verifier's)           4  u8  NumberOfBlocks
 *            36  u8  SlotIDParam                      5  u24 RecordLength L1
 *                                                     8  L1  blocks {u8 Index, u8 Spec (1 = DMTF),
 *                                                            u16 Size, u8 ValueType, u16 ValueSize,
 *                                                            Value}
 *                                                  8+L1  32  Nonce (the GPU's)
 *                                                 40+L1  u16 OpaqueLength L2
 *                                                 42+L1  L2  TLVs {u16 type, u16 size, value}
 *                                              42+L1+L2  96  signature r||s (P-384, big-endian)
 *
 * The signature covers everything before it (request included), hashed with
 * SHA-384, and is made by the leaf (GSP FMC) key of the device chain. */
#ifndef VEIL_NVGPU_H
#define VEIL_NVGPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/attest.h"
#include "veil/ear.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sizes ------------------------------------------------------------------ */

#define VEIL_NVGPU_REQUEST_LEN 37
#define VEIL_NVGPU_NONCE_LEN 32
#define VEIL_NVGPU_SIG_LEN 96           /* raw r||s, 48 bytes each */
#define VEIL_NVGPU_MEAS_LEN 48          /* SHA-384 measurement values */
#define VEIL_NVGPU_VALUE_MAX 64         /* larger DMTF values are rejected */
#define VEIL_NVGPU_MAX_BLOCKS 255       /* NumberOfBlocks is a u8 */
#define VEIL_NVGPU_MAX_REPORT 0x2000    /* NVML_CC_GPU_ATTESTATION_REPORT_SIZE */
#define VEIL_NVGPU_MAX_TLVS 64          /* opaque-data entries kept */
#define VEIL_NVGPU_MAX_CHAIN 5          /* nvtrust MAX_CERT_CHAIN_LENGTH */
#define VEIL_NVGPU_MAX_CHAIN_PEM 0x1400 /* NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE */
#define VEIL_NVGPU_FWID_LEN 48
#define VEIL_NVGPU_SPDM_VERSION 0x11
#define VEIL_NVGPU_SPDM_GET_MEASUREMENTS 0xE0
#define VEIL_NVGPU_SPDM_MEASUREMENTS 0x60
#define VEIL_NVGPU_DMTF_SPEC 1
#define VEIL_NVGPU_NVDEC_ENABLED 0xAA  /* config.py NVDEC_STATUS */
#define VEIL_NVGPU_NVDEC_DISABLED 0x55 /* RIM index 35 is then not compared */
#define VEIL_NVGPU_NVDEC_RIM_INDEX 35

/* Opaque-data TLV types (nvtrust OpaqueData.OPAQUE_DATA_TYPES). */
enum {
    VEIL_NVGPU_OPAQUE_CERT_ISSUER_NAME = 1,
    VEIL_NVGPU_OPAQUE_CERT_AKI = 2,
    VEIL_NVGPU_OPAQUE_DRIVER_VERSION = 3, /* ASCII, NUL-terminated */
    VEIL_NVGPU_OPAQUE_GPU_INFO = 4,
    VEIL_NVGPU_OPAQUE_SKU = 5,
    VEIL_NVGPU_OPAQUE_VBIOS_VERSION = 6, /* 8 bytes */
    VEIL_NVGPU_OPAQUE_MANUFACTURER_ID = 7,
    VEIL_NVGPU_OPAQUE_TAMPER_DETECTION = 8,
    VEIL_NVGPU_OPAQUE_SMC = 9,
    VEIL_NVGPU_OPAQUE_VPR = 10,
    VEIL_NVGPU_OPAQUE_NVDEC0_STATUS = 11, /* 1 byte: 0xAA enabled, 0x55 disabled */
    VEIL_NVGPU_OPAQUE_MSRSCNT = 12,       /* u32 per block */
    VEIL_NVGPU_OPAQUE_CPRINFO = 13,
    VEIL_NVGPU_OPAQUE_BOARD_ID = 14,
    VEIL_NVGPU_OPAQUE_CHIP_SKU = 15,
    VEIL_NVGPU_OPAQUE_CHIP_SKU_MOD = 16,
    VEIL_NVGPU_OPAQUE_PROJECT = 17,
    VEIL_NVGPU_OPAQUE_PROJECT_SKU = 18,
    VEIL_NVGPU_OPAQUE_PROJECT_SKU_MOD = 19,
    VEIL_NVGPU_OPAQUE_FWID = 20, /* 48 bytes */
    VEIL_NVGPU_OPAQUE_PROTECTED_PCIE_STATUS = 21,
    VEIL_NVGPU_OPAQUE_SWITCH_PDI = 22,
    VEIL_NVGPU_OPAQUE_FLOORSWEPT_PORTS = 23,
    VEIL_NVGPU_OPAQUE_POSITION_ID = 24,
    VEIL_NVGPU_OPAQUE_LOCK_SWITCH_STATUS = 25,
    VEIL_NVGPU_OPAQUE_GPU_LINK_CONN = 32,
    VEIL_NVGPU_OPAQUE_SYS_ENABLE_STATUS = 33,
    VEIL_NVGPU_OPAQUE_OPAQUE_DATA_VERSION = 34,
    VEIL_NVGPU_OPAQUE_CHIP_INFO = 35,
    VEIL_NVGPU_OPAQUE_FEATURE_FLAG = 36, /* u16: 0 SPT, 1 MPT, 2 PPCIE */
    VEIL_NVGPU_OPAQUE_INVALID = 255
};

/* ---- the decoded report ------------------------------------------------------- */

typedef struct veil_nvgpu_block {
    uint8_t index;      /* 1-based; RIM index i compares with block index i+1 */
    uint8_t spec;       /* MeasurementSpecification: 1 (DMTF) */
    uint8_t value_type; /* DMTF ValueType (H100: 0x01, immutable ROM / firmware) */
    uint16_t value_size;
    uint8_t value[VEIL_NVGPU_VALUE_MAX];
} veil_nvgpu_block;

typedef struct veil_nvgpu_tlv {
    uint16_t type;
    uint16_t len;
    uint16_t off; /* of the value, in veil_nvgpu_report.raw */
} veil_nvgpu_tlv;

#define VEIL_NVGPU_STR_MAX 64

/* What the opaque data says; the has_* flags tell which TLVs were present. */
typedef struct veil_nvgpu_opaque {
    bool has_driver_version, has_vbios_version, has_fwid, has_nvdec0_status, has_feature_flag;
    char driver_version[VEIL_NVGPU_STR_MAX]; /* "545.00" */
    uint8_t vbios_raw[8];
    char vbios_version[24]; /* "96.00.5e.00.01" (nvtrust utils.format_vbios_version) */
    uint8_t fwid[VEIL_NVGPU_FWID_LEN];
    uint8_t nvdec0_status; /* VEIL_NVGPU_NVDEC_* */
    uint16_t feature_flag;
    /* Strings ("" when absent): */
    char project[VEIL_NVGPU_STR_MAX], project_sku[VEIL_NVGPU_STR_MAX],
        project_sku_mod[VEIL_NVGPU_STR_MAX], chip_sku[VEIL_NVGPU_STR_MAX],
        chip_sku_mod[VEIL_NVGPU_STR_MAX];
    size_t n_msrscnt;
    uint32_t msrscnt[VEIL_NVGPU_MAX_BLOCKS];
    size_t n_tlvs; /* every TLV, known or not, in order */
    veil_nvgpu_tlv tlvs[VEIL_NVGPU_MAX_TLVS];
} veil_nvgpu_opaque;

typedef struct veil_nvgpu_report {
    /* request */
    uint8_t req_version, req_code, req_param1, req_param2;
    uint8_t nonce[VEIL_NVGPU_NONCE_LEN]; /* the verifier's nonce, echoed */
    uint8_t req_slot;
    /* response */
    uint8_t version, code, param1, param2;
    uint8_t n_blocks;
    uint32_t record_len;
    veil_nvgpu_block blocks[VEIL_NVGPU_MAX_BLOCKS]; /* in wire order */
    uint8_t response_nonce[VEIL_NVGPU_NONCE_LEN];
    uint16_t opaque_len;
    veil_nvgpu_opaque opaque;
    uint8_t signature[VEIL_NVGPU_SIG_LEN];
    size_t signed_len; /* = raw_len - 96: bytes the signature covers */
    size_t raw_len;
    uint8_t raw[VEIL_NVGPU_MAX_REPORT]; /* the decoded evidence */
} veil_nvgpu_report;

/* Decode the evidence (request || response) through a bounded cursor. Every
 * length is checked; VEIL_E_PROTOCOL with a message naming the field on:
 * n < 37 + 8 + 32 + 2 + 96 or n > VEIL_NVGPU_MAX_REPORT; SPDMVersion != 0x11
 * (request or response); codes other than 0xE0 / 0x60; Param1 without the
 * signature bit or Param2 != 0xFF in the request; zero blocks; a block whose
 * Index is 0 or repeated, whose specification is not DMTF, whose
 * MeasurementSize is not 3 + ValueSize, or whose value exceeds 64 bytes; a
 * record that is not exactly L1 bytes; an opaque TLV running past L2, a
 * repeated TLV type, more than VEIL_NVGPU_MAX_TLVS TLVs, or a known TLV of the
 * wrong size (VBIOS_VERSION 8, FWID 48, NVDEC0_STATUS 1, FEATURE_FLAG 2,
 * MSRSCNT a multiple of 4 with at most 255 counts; strings printable ASCII up
 * to 63 characters followed only by NULs); anything after the signature.
 * `out` is zeroed first (and again on failure). */
VEIL_MUST_USE veil_result veil_nvgpu_report_decode(const uint8_t *p, size_t n,
                                                   veil_nvgpu_report *out);
/* The block whose Index is `index` (1-based), or NULL. */
const veil_nvgpu_block *veil_nvgpu_report_block(const veil_nvgpu_report *r, unsigned index);
/* The first TLV of `type`, or NULL; *len receives its length. */
const uint8_t *veil_nvgpu_report_tlv(const veil_nvgpu_report *r, uint16_t type, size_t *len);

/* ---- authenticity ------------------------------------------------------------------ */

typedef struct veil_nvgpu_trust {
    int64_t at; /* verification time, unix seconds; 0 = now */
    /* Simulated roots (DER), accepted only when passed here; a chain (device
     * or RIM) that ends in one passes and is marked simulated. */
    const uint8_t *const *extra_roots_der;
    const size_t *extra_roots_len;
    size_t n_extra_roots;
} veil_nvgpu_trust;

/* Confidential-computing state as NVML reports it (not signed by the GPU:
 * nvmlSystemGetConfComputeState). UNKNOWN when nobody said. */
typedef enum veil_nvgpu_cc_mode {
    VEIL_NVGPU_CC_UNKNOWN = 0,
    VEIL_NVGPU_CC_ON,
    VEIL_NVGPU_CC_OFF,
    VEIL_NVGPU_CC_DEVTOOLS /* CC on with developer tools: not confidential */
} veil_nvgpu_cc_mode;

const char *veil_nvgpu_cc_mode_name(veil_nvgpu_cc_mode m); /* "on", "off", "devtools", "unknown" */

/* What veil_nvgpu_verify learned. */
typedef struct veil_nvgpu_decoded {
    bool have_report; /* FORMAT passed: `report` is filled */
    veil_nvgpu_report report;
    bool have_leaf;                /* the leaf certificate parsed */
    bool simulated;                /* the chain ends in an extra (simulated) root */
    char leaf_cn[64], root_cn[64]; /* "GH100 A01 GSP FMC LF", ... */
    uint8_t root_sha256[32];       /* fingerprint of the anchoring root (chain ok) */
    uint8_t ueid[32];              /* the leaf's serial number (NVIDIA: the UEID) */
    size_t ueid_len;
    bool have_cert_fwid; /* the leaf's TCG DICE FWID extension */
    uint8_t cert_fwid[VEIL_NVGPU_FWID_LEN];
    veil_nvgpu_cc_mode cc_mode; /* filled by the caller (attester), not verified */
} veil_nvgpu_decoded;

/* Verify authenticity, recording in order into v (does NOT finish it):
 *   FORMAT    the evidence decodes (veil_nvgpu_report_decode)
 *   CHAIN     the PEM bundle (leaf first, at most 5 certificates) verifies from
 *             the leaf to the pinned NVIDIA Device Identity CA (or an extra root)
 *             at trust->at; the leaf is not the root itself
 *   FWID      the leaf carries the TCG DICE FWID extension (2.23.133.5.4.1 or
 *             .1.1: an attestation (GSP FMC) certificate), and its last 48 bytes
 *             equal the opaque FWID when the report has one (older firmware
 *             has none: then only the extension is required)
 *   SIGNATURE ECDSA P-384 / SHA-384 over evidence[0 .. n-96) with the leaf key
 *   NONCE     the request nonce equals expected_nonce
 * Stops after a failed FORMAT or when no certificate parses. Returns VEIL_OK
 * whenever the checks could run (failures are in v); an error only for bad
 * arguments, OOM or an internal failure. `out` (may be NULL) is zeroed and
 * receives what was learned; a chain ending in an extra root also sets
 * v->simulated. Thread-safe. */
VEIL_MUST_USE veil_result veil_nvgpu_verify(const uint8_t *evidence, size_t evidence_len,
                                            const uint8_t *chain_pem, size_t chain_len,
                                            const uint8_t expected_nonce[VEIL_NVGPU_NONCE_LEN],
                                            const veil_nvgpu_trust *trust, veil_nvgpu_decoded *out,
                                            veil_verdict *v);

/* The chain part alone (CHAIN and FWID as above, without a report: FWID then
 * only requires the extension). For checking a device chain before any
 * report exists. `out` may be NULL. */
VEIL_MUST_USE veil_result veil_nvgpu_verify_chain(const uint8_t *chain_pem, size_t chain_len,
                                                  const veil_nvgpu_trust *trust,
                                                  veil_nvgpu_decoded *out, veil_verdict *v);

/* ---- RIMs ------------------------------------------------------------------------------ */

#define VEIL_NVGPU_RIM_MAX_XML ((size_t)1 << 20) /* larger RIMs are refused */
#define VEIL_NVGPU_RIM_MAX_ENTRIES 256
#define VEIL_NVGPU_RIM_MAX_ALTS 16

typedef struct veil_nvgpu_rim_entry {
    uint32_t index; /* 0-based; compares with report block index + 1 */
    bool active;
    size_t n_alts;                                              /* 1..VEIL_NVGPU_RIM_MAX_ALTS */
    uint8_t alts[VEIL_NVGPU_RIM_MAX_ALTS][VEIL_NVGPU_MEAS_LEN]; /* Hash0..HashN (size 48) */
} veil_nvgpu_rim_entry;

typedef struct veil_nvgpu_rim {
    char tag_id[160];
    char name[64];
    char version[32];
    char colloquial_version[VEIL_NVGPU_STR_MAX]; /* "545.00", "96.00.5E.00.01" */
    size_t n_entries;
    veil_nvgpu_rim_entry *entries; /* owned; in document order, indexes unique */
    /* Set by veil_nvgpu_rim_verify: */
    bool verified;  /* signature and signer chain checked at `at` */
    bool simulated; /* the signer chains to an extra root */
    char signer_cn[64];
    uint8_t root_sha256[32];
} veil_nvgpu_rim;

void veil_nvgpu_rim_init(veil_nvgpu_rim *r);
/* Frees the entries; the RIM is left empty (reusable). NULL is a no-op. */
void veil_nvgpu_rim_free(veil_nvgpu_rim *r);

/* Parse a SWID tag WITHOUT checking its signature (for tests, tools and the
 * fuzzer; appraisal refuses unverified RIMs). The XML is parsed with no
 * network, no DTD (a DOCTYPE is refused, so no entities), at most
 * VEIL_NVGPU_RIM_MAX_XML bytes and libxml2's default depth and size limits.
 * Requires the root SoftwareIdentity (ISO 19770-2:2015 namespace) with tagId,
 * a Meta child with a non-empty colloquialVersion, and a Payload of Resource
 * elements, each type="Measurement" with index (0..65535, unique), active
 * ("True"/"False"), alternatives (1..16), size="48" and Hash0..Hash{K-1} in the
 * http://www.w3.org/2001/04/xmlenc#sha384 namespace (96 hex digits each).
 * VEIL_E_PROTOCOL naming the element or attribute otherwise; `out` is emptied
 * first and on failure. */
VEIL_MUST_USE veil_result veil_nvgpu_rim_parse(const uint8_t *xml, size_t len, veil_nvgpu_rim *out);

/* Parse and verify a RIM, recording one RIM check into v (detail starts with
 * `what`, e.g. "driver RIM"): the document has exactly one ds:Signature, a
 * child of the root, with one Reference URI="" and only the transforms
 * enveloped-signature and C14N 1.1, digest SHA-384 and signature method
 * ecdsa-sha384 (libxmlsec1); the key is the first X509Certificate of its
 * KeyInfo, which must chain (the others as intermediates) to the pinned NVIDIA
 * CoRIM signing Root CA, or an extra root, at trust->at. The measurements are
 * read from the document that was verified. Returns VEIL_OK whenever the
 * check ran; `out` holds the parsed RIM even when the check failed (with
 * verified = false). Thread-safe (libxml2/xmlsec are initialised once). */
VEIL_MUST_USE veil_result veil_nvgpu_rim_verify(const uint8_t *xml, size_t len, const char *what,
                                                const veil_nvgpu_trust *trust, veil_nvgpu_rim *out,
                                                veil_verdict *v);

/* ---- policy ---------------------------------------------------------------------------- *
 *   {
 *     "measurements": {"7": ["<96 hex>", ...], "35": "<96 hex>"},  per RIM index (0-based):
 *                                                accepted values (checked with or without RIMs)
 *     "driver_version": "545.00",                required DRIVER_VERSION (case-insensitive)
 *     "vbios_version": "96.00.5e.00.01",         required VBIOS version (case-insensitive)
 *     "require_rims": true,                      default true: both RIMs must be given
 *     "require_cc_mode": false,                  the (unsigned) NVML CC state must be "on"
 *     "allow_devtools": false,                   accept CC devtools mode
 *     "trusted_simulated_roots": ["<64 hex SHA-256 of the simulated root's DER>"],
 *     "verification_time": "2024-06-01T00:00:00Z"  for the device chain and the RIM signer
 *   }                                             chains: the caller passes it as
 *                                                 veil_nvgpu_trust.at (0: now)
 * Strict: unknown members, wrong types and bad hex are errors naming the member. */

#define VEIL_NVGPU_POLICY_MAX_INDEXES 64
#define VEIL_NVGPU_POLICY_MAX_ALTS 8
#define VEIL_NVGPU_POLICY_MAX_ROOTS 16

typedef struct veil_nvgpu_policy_values {
    uint32_t index; /* RIM numbering (0-based) */
    size_t n;
    uint8_t values[VEIL_NVGPU_POLICY_MAX_ALTS][VEIL_NVGPU_MEAS_LEN];
} veil_nvgpu_policy_values;

typedef struct veil_nvgpu_policy {
    size_t n_measurements;
    veil_nvgpu_policy_values measurements[VEIL_NVGPU_POLICY_MAX_INDEXES];
    char driver_version[VEIL_NVGPU_STR_MAX]; /* "" = any */
    char vbios_version[VEIL_NVGPU_STR_MAX];  /* "" = any */
    bool require_rims;
    bool require_cc_mode;
    bool allow_devtools;
    size_t n_sim_roots;
    uint8_t sim_roots[VEIL_NVGPU_POLICY_MAX_ROOTS][32];
    int64_t verification_time; /* 0: now */
    char id[80];               /* "sha256:<hex>" of the policy text, or "default" */
} veil_nvgpu_policy;

/* The default: RIMs required, no per-index values, no version pins, CC state
 * checked only when known, no simulated roots. */
void veil_nvgpu_policy_default(veil_nvgpu_policy *p);
VEIL_MUST_USE veil_result veil_nvgpu_policy_parse(const char *json, size_t len,
                                                  veil_nvgpu_policy *out);

/* ---- appraisal -------------------------------------------------------------------------- */

typedef struct veil_nvgpu_appraisal {
    size_t golden;  /* golden measurements (RIM union and policy indexes) compared */
    size_t matched; /* of those, how many matched */
    size_t skipped; /* not compared (index 35 with NVDEC0 disabled) */
    size_t n_mismatched;
    uint32_t mismatched[VEIL_NVGPU_MAX_BLOCKS]; /* RIM indexes (0-based), ascending */
} veil_nvgpu_appraisal;

/* Appraise a report that veil_nvgpu_verify found authentic (d->have_report),
 * recording into v (those that apply):
 *   SIMULATED       when d->simulated: passes only if the policy lists d->root_sha256
 *   RIM             each given RIM was verified (and is not simulated unless the
 *                   policy trusts simulated roots); both present when require_rims;
 *                   DRIVER_VERSION == driver RIM colloquialVersion and VBIOS version ==
 *                   VBIOS RIM colloquialVersion (case-insensitive); no index active in
 *                   both RIMs
 *   GPU_VERSION     driver / VBIOS versions pinned by the policy
 *   GPU_MEASUREMENT golden = active driver entries ∪ active VBIOS entries (§3.5), plus
 *                   the policy's per-index values; for each golden index i the report
 *                   block with Index i+1 must hold a 48-byte value equal to one of the
 *                   alternatives; index 35 is skipped when NVDEC0_STATUS is 0x55; a
 *                   golden index with no such block fails; nothing to compare passes
 *                   with a note (the result is then a warning)
 *   GPU_CC_MODE     d->cc_mode: ON passes, DEVTOOLS passes only with allow_devtools,
 *                   OFF fails; UNKNOWN fails only with require_cc_mode
 * driver / vbios may be NULL; p NULL means the default policy. `out` (may be
 * NULL) receives the counts. Without a decoded report, FORMAT fails. */
void veil_nvgpu_appraise(const veil_nvgpu_decoded *d, const veil_nvgpu_rim *driver,
                         const veil_nvgpu_rim *vbios, const veil_nvgpu_policy *p, veil_verdict *v,
                         veil_nvgpu_appraisal *out);

/* ---- attestation result ------------------------------------------------------------------ */

/* Fill an EAR submodule "gpu<gpu_index>" from a finished verdict: status and
 * trustworthiness vector (like the SEV-SNP result), the policy id, and claims
 *   {"tee":"nvidia-gpu","driver_version","vbios_version","measurements":
 *    {"golden","matched","skipped","mismatched":[...]},"cc_mode","fwid","ueid",
 *    "nonce","response_nonce","project","project_sku","chip_sku","nvdec0_status",
 *    "rims":{"driver":tagId,"vbios":tagId},"simulated"}.
 * `ear` is reset first (veil_ear_free it afterwards); iat and eat_nonce are left
 * for the caller. */
VEIL_MUST_USE veil_result veil_nvgpu_result(const veil_nvgpu_decoded *d, const veil_verdict *v,
                                            const veil_nvgpu_appraisal *a,
                                            const veil_nvgpu_rim *driver,
                                            const veil_nvgpu_rim *vbios, const veil_nvgpu_policy *p,
                                            unsigned gpu_index, veil_ear *ear);

#ifdef __cplusplus
}
#endif
#endif
