/* veil — appraisal of verified SEV-SNP evidence against reference values,
 * and the one-call verifier (authenticity + appraisal + attestation result).
 *
 * Reference values come from a policy (JSON, docs/policy.md):
 *   {
 *     "measurements": ["<96 hex>", ...],        accepted launch digests
 *     "min_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115, "fmc": 0},
 *     "allow_debug": false,                     default false
 *     "allow_migration_agent": false,           default false
 *     "allow_smt": true,                        default true
 *     "vmpl": [0],                              accepted VMPLs, default any
 *     "report_data": "<128 hex>",               expected REPORT_DATA (freshness, key binding)
 *     "host_data": "<64 hex>",
 *     "id_key_digests": ["<96 hex>"], "author_key_digests": ["<96 hex>"],
 *     "trusted_simulated_roots": ["<64 hex SHA-256 of the simulated ARK's DER>"],
 *     "verification_time": "2025-06-01T00:00:00Z"
 *   }
 * Every member is optional; the empty policy {} is the default: real AMD
 * roots only, debug and migration agents refused, anything else accepted
 * (an absent measurement allow-list makes the result a warning). */
#ifndef VEIL_APPRAISE_H
#define VEIL_APPRAISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/attest.h"
#include "veil/ear.h"
#include "veil/evidence.h"
#include "veil/result.h"
#include "veil/snp.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_POLICY_MAX_VALUES 32

typedef struct veil_snp_policy {
    size_t n_measurements;
    uint8_t measurements[VEIL_POLICY_MAX_VALUES][48];
    bool have_min_tcb;
    veil_snp_tcb min_tcb;
    bool allow_debug;
    bool allow_migration_agent;
    bool allow_smt;
    uint32_t vmpl_mask; /* bit i: VMPL i accepted */
    bool have_report_data;
    uint8_t report_data[64];
    bool have_host_data;
    uint8_t host_data[32];
    size_t n_id_keys;
    uint8_t id_key_digests[VEIL_POLICY_MAX_VALUES][48];
    size_t n_author_keys;
    uint8_t author_key_digests[VEIL_POLICY_MAX_VALUES][48];
    size_t n_sim_roots;
    uint8_t sim_roots[VEIL_POLICY_MAX_VALUES][32];
    int64_t verification_time; /* 0: now */
    char id[80];               /* "sha256:<hex>" of the policy text, or "default" */
} veil_snp_policy;

/* The default policy (what {} means). */
void veil_snp_policy_default(veil_snp_policy *p);
/* Parse a policy; VEIL_E_PROTOCOL naming the bad member. Unknown members are
 * an error too (a typo must not silently weaken a policy). */
VEIL_MUST_USE veil_result veil_snp_policy_parse(const char *json, size_t len, veil_snp_policy *out);

/* Does `outer` accept everything `inner` accepts? A client uses it to check
 * that a KMS's reference values release keys only to TEEs the client itself
 * would accept (DESIGN.md flow 2a). Each constraint of `outer` must be at
 * least as strict in `inner`: measurements, ID and author keys and trusted
 * simulated roots a subset (a non-empty list in outer needs a non-empty list
 * in inner), minimum TCB at least outer's, debug / migration agent / SMT
 * allowed only where outer allows them, VMPLs a subset, host data equal.
 * report_data and verification_time are per request and ignored. On false,
 * `why` (may be NULL) names the first looser member. */
bool veil_snp_policy_within(const veil_snp_policy *inner, const veil_snp_policy *outer, char *why,
                            size_t why_cap);

/* Appraise a report that veil_snp_verify found authentic; records SIMULATED,
 * MEASUREMENT, TCB, DEBUG, POLICY, VMPL, REPORT_DATA, HOST_DATA, ID_KEY and
 * AUTHOR_KEY (those the policy constrains) into v. */
void veil_snp_appraise(const veil_snp_report *r, bool simulated, const veil_snp_policy *p,
                       veil_verdict *v);

typedef struct veil_verification {
    veil_verdict verdict;
    bool have_report;
    veil_snp_report report;
    veil_ear ear; /* status, vector and claims (unsigned; sign with veil_ear_sign) */
} veil_verification;

/* Verify an evidence bundle (authenticity, then appraisal) and build the
 * attestation result. `at` overrides the policy's verification time (0: use
 * the policy's, else now). Returns an error only for operational failures;
 * the outcome is in out->verdict and out->ear. Free with
 * veil_verification_free. */
VEIL_MUST_USE veil_result veil_verify_evidence(const veil_evidence *ev, const veil_snp_policy *p,
                                               int64_t at, veil_verification *out);
void veil_verification_free(veil_verification *v);

#ifdef __cplusplus
}
#endif
#endif
