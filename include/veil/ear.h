/* veil — attestation results as EAR (EAT Attestation Result,
 * draft-ietf-rats-ear) JWTs signed with ES384.
 *
 * Payload:
 *   { "eat_profile": "tag:github.com,2023:veraison/ear",
 *     "iat": <unix seconds>,
 *     "ear.verifier-id": { "developer": "veil", "build": "veil <version>" },
 *     "eat_nonce": "<base64url>",                         (when given)
 *     "submods": { "<submod>": {
 *         "ear.status": "affirming" | "warning" | "contraindicated" | "none",
 *         "ear.trustworthiness-vector": { "instance-identity": 2, ... },
 *         "ear.appraisal-policy-id": "<id>",
 *         "veil.simulated": true | false,
 *         "veil.failed-check": "<check name>",             (when one failed)
 *         "veil.claims": { ...the appraised claims... } } } }
 *
 * Trustworthiness values follow the AR4SI tiers: 0 no claim, 2..31
 * affirming, 32..95 warning, 96..127 contraindicated. The status is the
 * worst tier in the vector. */
#ifndef VEIL_EAR_H
#define VEIL_EAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/result.h"
#include "veil/sign.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_EAR_PROFILE "tag:github.com,2023:veraison/ear"

typedef enum veil_ear_status {
    VEIL_EAR_NONE = 0,
    VEIL_EAR_AFFIRMING = 2,
    VEIL_EAR_WARNING = 32,
    VEIL_EAR_CONTRAINDICATED = 96,
} veil_ear_status;

/* AR4SI trustworthiness claims; 0 = no claim. */
typedef struct veil_ear_vector {
    int instance_identity, configuration, executables, file_system, hardware, runtime_opaque,
        storage_opaque, sourced_data;
} veil_ear_vector;

typedef struct veil_ear {
    char submod[32]; /* e.g. "sev-snp" */
    veil_ear_status status;
    veil_ear_vector tv;
    bool simulated;
    char failed_check[24]; /* "" when every check passed */
    char policy_id[80];
    int64_t iat;
    uint8_t nonce[64];
    size_t nonce_len;  /* 0: no eat_nonce */
    char *claims_json; /* owned; a JSON object; may be NULL (then "{}") */
} veil_ear;

const char *veil_ear_status_name(veil_ear_status s);
/* The tier of one claim value (2..31 -> affirming, ...). */
veil_ear_status veil_ear_tier(int value);
/* Worst tier over the vector (none when no claim is set). */
veil_ear_status veil_ear_vector_status(const veil_ear_vector *tv);

/* Sign as a compact JWS (header {"alg":"ES384","typ":"JWT","kid":<RFC 7638 thumbprint>}). */
VEIL_MUST_USE veil_result veil_ear_sign(const veil_ear *ear, const veil_sign_key *key,
                                        veil_buf *token);
/* One token for several devices (a composite appraisal): submodule i is
 * subs[i] under its own (distinct) name; iat and eat_nonce come from subs[0].
 * 1..VEIL_EAR_MAX_SUBMODS submodules. veil_ear_sign is this with n = 1. */
#define VEIL_EAR_MAX_SUBMODS 32
VEIL_MUST_USE veil_result veil_ear_sign_multi(const veil_ear *subs, size_t n,
                                              const veil_sign_key *key, veil_buf *token);
/* Verify a token with the verifier's public key: alg must be ES384, the
 * signature valid, the profile EAR, iat not in the future (60 s skew) and,
 * when max_age > 0, not older than max_age seconds at `now` (0 = now).
 * Exactly one submodule is read into out (the first). */
VEIL_MUST_USE veil_result veil_ear_verify(const char *token, size_t len, const veil_sign_key *pub,
                                          int64_t now, int64_t max_age, veil_ear *out);
void veil_ear_free(veil_ear *ear);

#ifdef __cplusplus
}
#endif
#endif
