/* veil — the evidence bundle: everything a verifier needs from one TEE,
 * carried as JSON (binary parts base64) so it travels over HTTP and in files.
 *
 *   {
 *     "version": 1,
 *     "tee": "sev-snp" | "tdx",
 *     "report": "<base64>",             SEV-SNP ATTESTATION_REPORT (1184 bytes)
 *     "hcl_report": "<base64>",         or an Azure HCL report wrapping it
 *     "cert_table": "<base64>",         SNP extended-report certificate table, or:
 *     "certs": { "vcek" | "vlek" | "ask" | "ark" | "crl": "<base64 DER>" },
 *     "quote": "<base64>",              "tdx": the DCAP quote (v4/v5)
 *     "collateral": "<base64>",         "tdx", optional: QuoteCollateralV3 JSON text
 *     "event_log": "<base64>",          "tdx", optional: CCEL or dstack JSON event log
 *     "gpus": [ { "report": "<base64>", SPDM GET_MEASUREMENTS request || response
 *                 "certs": "<base64>",  the GPU's attestation chain, PEM, leaf first
 *                 "cc_mode": "on" | "off" | "devtools" | "unknown" } ],  informational
 *     "attester": "sim" | "tsm",        informational: where it came from
 *     "simulated": true                 informational; the verifier decides
 *   }
 *
 * "sev-snp": exactly one of report / hcl_report, no quote. "tdx": a quote,
 * no report / hcl_report / cert_table / certs. "gpus" (optional) holds 1..16
 * entries, each with report and certs; their order is bound by the CPU
 * REPORT_DATA (docs/attestation.md, veil/composite.h). Unknown members are
 * ignored. The parser bounds every size. */
#ifndef VEIL_EVIDENCE_H
#define VEIL_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_EVIDENCE_MAX_JSON ((size_t)1 << 20)
#define VEIL_EVIDENCE_MAX_PART ((size_t)64 << 10)
#define VEIL_EVIDENCE_MAX_TDX_PART ((size_t)512 << 10) /* quote, collateral, event log */
#define VEIL_EVIDENCE_MAX_GPUS 16
#define VEIL_EVIDENCE_MAX_GPU_REPORT ((size_t)0x2000) /* VEIL_NVGPU_MAX_REPORT */
#define VEIL_EVIDENCE_MAX_GPU_CERTS ((size_t)0x1400)  /* VEIL_NVGPU_MAX_CHAIN_PEM */

/* One GPU's entry. */
typedef struct veil_evidence_gpu {
    veil_buf report;  /* SPDM evidence (request || response) */
    veil_buf certs;   /* PEM chain, leaf first */
    char cc_mode[16]; /* "on", "off", "devtools", "unknown" or "" (absent) */
} veil_evidence_gpu;

typedef struct veil_evidence {
    char tee[16];      /* "sev-snp" or "tdx" */
    char attester[16]; /* "sim", "tsm" or "" */
    bool claims_simulated;
    veil_buf report;                       /* raw SNP report, or empty */
    veil_buf hcl_report;                   /* raw HCL report, or empty */
    veil_buf cert_table;                   /* raw certificate table, or empty */
    veil_buf vcek, vlek, ask, ark, crl;    /* DER, each possibly empty */
    veil_buf quote, collateral, event_log; /* "tdx" (collateral / event_log may be empty) */
    size_t n_gpus;
    veil_evidence_gpu gpus[VEIL_EVIDENCE_MAX_GPUS];
} veil_evidence;

void veil_evidence_init(veil_evidence *ev);
void veil_evidence_free(veil_evidence *ev);
/* Parse a bundle; VEIL_E_PROTOCOL with a message naming the bad member. */
VEIL_MUST_USE veil_result veil_evidence_parse(const uint8_t *json, size_t len, veil_evidence *out);
/* Serialise (compact JSON) into out. */
VEIL_MUST_USE veil_result veil_evidence_write(const veil_evidence *ev, veil_buf *out);

#ifdef __cplusplus
}
#endif
#endif
