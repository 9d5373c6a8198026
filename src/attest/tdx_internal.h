/* Internal to the Intel TDX verifier: the pinned Intel SGX Root CA, the PCK
 * certificate's SGX extension, the PCS collateral (authenticated and parsed)
 * and the TCB evaluation. Not public API. */
#ifndef VEIL_ATTEST_TDX_INTERNAL_H
#define VEIL_ATTEST_TDX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto/x509.h"
#include "veil/tdx.h"

/* ---- pinned root (tdx_roots.c; DER in intel_roots.inc) -------------------------------- */

/* The Intel SGX Root CA, parsed once and checked against its pinned SHA-256
 * fingerprint (notes §2.4); shared, never freed. */
VEIL_MUST_USE veil_result tdx_pinned_root(veil_x509 **out);
/* Certificates of a bundle that claim to be a root (self-issued) must be the
 * pinned one: a root is never taken from the evidence or the collateral.
 * Returns false (and the offending subject CN) when one is not. */
bool tdx_bundle_roots_pinned(veil_x509 *const *certs, size_t n, const veil_x509 *pinned, char *cn,
                             size_t cap);

/* Every certificate of a bundle must be part of the verified chain (the
 * bundle's root copy being DER-equal to the pinned root): nothing the
 * evidence carries goes unchecked. Returns false (and the CN) otherwise. */
bool tdx_bundle_all_used(veil_x509 *const *certs, size_t n, const veil_x509_chain_status *st,
                         char *cn, size_t cap);

/* ---- PCK SGX extension (tdx_pck.c) -------------------------------------------------------- */

#define TDX_OID_SGX_EXTENSION "1.2.840.113741.1.13.1"

/* Decode the extension's value (the DER SEQUENCE inside extnValue): PPID,
 * TCB (16 comp SVNs, PCESVN, CPUSVN), PCE-ID, FMSPC and SGX type are
 * required; PlatformInstanceID and Configuration are optional; unknown
 * entries are skipped. Strict DER (definite minimal lengths, one occurrence
 * each). VEIL_E_PROTOCOL naming the element; `out` zeroed first. */
VEIL_MUST_USE veil_result tdx_pck_ext_decode(const uint8_t *p, size_t n, veil_tdx_pck *out);
/* The extension of a PCK certificate (absent is an error), plus the CA kind
 * from the issuer CN. */
VEIL_MUST_USE veil_result tdx_pck_read(const veil_x509 *pck, veil_tdx_pck *out);

/* ---- collateral (tdx_collateral.c) -------------------------------------------------------- */

#define TDX_MAX_TCB_LEVELS 64
#define TDX_MAX_MODULE_IDS 8
#define TDX_MAX_MODULE_LEVELS 16
#define TDX_MAX_QE_LEVELS 32

typedef struct tdx_tcb_level {
    uint8_t sgx[16];
    uint16_t pcesvn;
    uint8_t tdx[16];
    veil_tdx_tcb_status status;
    char status_text[40];
    char date[24];
    const json_t *advisories; /* borrowed from the parsed tree; NULL when absent */
} tdx_tcb_level;

typedef struct tdx_isv_level {
    uint16_t isvsvn;
    veil_tdx_tcb_status status;
    char status_text[40];
    char date[24];
    const json_t *advisories;
} tdx_isv_level;

typedef struct tdx_module_identity {
    char id[16];
    uint8_t mrsigner[48];
    uint8_t attributes[8];
    uint8_t attributes_mask[8];
    size_t n_levels;
    tdx_isv_level levels[TDX_MAX_MODULE_LEVELS];
} tdx_module_identity;

/* TDX TCB info v3 (the signed "tcbInfo" object). */
typedef struct tdx_tcb_info {
    int64_t issue_date, next_update;
    uint8_t fmspc[6];
    uint8_t pceid[2];
    uint32_t tcb_evaluation_data_number;
    uint8_t module_mrsigner[48]; /* "tdxModule" */
    uint8_t module_attributes[8];
    uint8_t module_attributes_mask[8];
    size_t n_modules;
    tdx_module_identity modules[TDX_MAX_MODULE_IDS];
    size_t n_levels;
    tdx_tcb_level levels[TDX_MAX_TCB_LEVELS];
} tdx_tcb_info;

/* TD_QE identity v2 (the signed "enclaveIdentity" object). */
typedef struct tdx_qe_identity {
    int64_t issue_date, next_update;
    uint32_t tcb_evaluation_data_number;
    uint8_t miscselect[4]; /* big-endian hex of the u32 */
    uint8_t miscselect_mask[4];
    uint8_t attributes[16]; /* in report byte order */
    uint8_t attributes_mask[16];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    size_t n_levels;
    tdx_isv_level levels[TDX_MAX_QE_LEVELS];
} tdx_qe_identity;

typedef struct tdx_collateral {
    bool ok;                         /* authentic, current and well-formed */
    char error[VEIL_VERDICT_DETAIL]; /* why not (when !ok) */
    veil_x509_crl *root_crl;
    veil_x509_crl *pck_crl;
    char pck_crl_issuer_cn[64];
    char signer_cn[64]; /* the TCB Signing certificate's CN */
    json_t *tcb_json;   /* parsed trees the levels borrow from */
    json_t *qe_json;
    tdx_tcb_info tcb;
    tdx_qe_identity qe;
} tdx_collateral;

/* Parse and authenticate the QuoteCollateralV3 JSON at time `at`. A bad,
 * forged or stale collateral is not an error: c->ok is false with a message
 * in c->error. Errors are for OOM and internal failures. Release with
 * tdx_collateral_free in every case. */
VEIL_MUST_USE veil_result tdx_collateral_load(const uint8_t *json, size_t n, int64_t at,
                                              tdx_collateral *c);
void tdx_collateral_free(tdx_collateral *c);

/* ---- TCB evaluation (tdx_tcb.c) ------------------------------------------------------------ */

/* Match the platform TCB level, the TDX module identity and the QE identity;
 * record TCB into v and fill q->tcb. Requires q->pck and an authentic c. */
void tdx_tcb_evaluate(const tdx_collateral *c, veil_tdx_quote *q, veil_verdict *v);

#endif
