/* veil — ECDSA P-384 signing keys (ES384): attestation results (EAR JWTs)
 * and signed tree heads. Signatures are JOSE-style raw r||s, 96 bytes. */
#ifndef VEIL_SIGN_H
#define VEIL_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_ES384_SIG_LEN 96

typedef struct veil_sign_key veil_sign_key;

VEIL_MUST_USE veil_result veil_sign_key_generate(veil_sign_key **out);
/* PEM: a private key (PKCS#8 or SEC1) or a public key (SubjectPublicKeyInfo). */
VEIL_MUST_USE veil_result veil_sign_key_from_pem(const uint8_t *pem, size_t len,
                                                 veil_sign_key **out);
VEIL_MUST_USE veil_result veil_sign_key_private_pem(const veil_sign_key *k, veil_buf *out);
VEIL_MUST_USE veil_result veil_sign_key_public_pem(const veil_sign_key *k, veil_buf *out);
/* RFC 7638 JWK thumbprint (SHA-256, base64url, 43 characters + NUL). */
VEIL_MUST_USE veil_result veil_sign_key_thumbprint(const veil_sign_key *k, char out[44]);
int veil_sign_key_has_private(const veil_sign_key *k);
/* ECDSA P-384 over SHA-384(msg). */
VEIL_MUST_USE veil_result veil_es384_sign(const veil_sign_key *k, const uint8_t *msg, size_t len,
                                          uint8_t sig[VEIL_ES384_SIG_LEN]);
/* VEIL_E_CRYPTO when the signature does not verify. */
VEIL_MUST_USE veil_result veil_es384_verify(const veil_sign_key *k, const uint8_t *msg, size_t len,
                                            const uint8_t *sig, size_t sig_len);
void veil_sign_key_free(veil_sign_key *k);

#ifdef __cplusplus
}
#endif
#endif
