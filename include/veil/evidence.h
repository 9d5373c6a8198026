/* veil — the evidence bundle: everything a verifier needs from one TEE,
 * carried as JSON (binary parts base64) so it travels over HTTP and in files.
 *
 *   {
 *     "version": 1,
 *     "tee": "sev-snp",                 (or "tdx", later)
 *     "report": "<base64>",             SEV-SNP ATTESTATION_REPORT (1184 bytes)
 *     "hcl_report": "<base64>",         or an Azure HCL report wrapping it
 *     "cert_table": "<base64>",         SNP extended-report certificate table, or:
 *     "certs": { "vcek" | "vlek" | "ask" | "ark" | "crl": "<base64 DER>" },
 *     "attester": "sim" | "tsm",        informational: where it came from
 *     "simulated": true                 informational; the verifier decides
 *   }
 *
 * Exactly one of report / hcl_report. Unknown members are ignored (so later
 * versions can add GPU evidence). The parser bounds every size. */
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

typedef struct veil_evidence {
    char tee[16];      /* "sev-snp" */
    char attester[16]; /* "sim", "tsm" or "" */
    bool claims_simulated;
    veil_buf report;                    /* raw SNP report, or empty */
    veil_buf hcl_report;                /* raw HCL report, or empty */
    veil_buf cert_table;                /* raw certificate table, or empty */
    veil_buf vcek, vlek, ask, ark, crl; /* DER, each possibly empty */
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
