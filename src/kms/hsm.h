/* Internal: the KMS's root wrapping key, behind one interface whatever
 * holds it.
 *
 *   pkcs11  a non-extractable AES-256 key (CKA_SENSITIVE, !CKA_EXTRACTABLE,
 *           CKA_ENCRYPT/CKA_DECRYPT only) in a PKCS#11 token, found by label or
 *           created on first use; wrapping runs in the token (CKM_AES_GCM), so
 *           the key never enters this process. The module is dlopen'ed; the
 *           session logs in with a PIN read from an environment variable or a
 *           file (mode 0600), which is wiped right after C_Login.
 *   file    32 bytes from a file that must be a regular file of mode 0600 (or
 *           0400) owned by this user; refused otherwise.
 *   sim     HKDF output of the simulated secure processor bound to the KMS's
 *           own launch measurement (veil_attester_derived_key, context
 *           "veil-kms root-key v1"): only the same KMS image under the same
 *           simulated chip gets the key back.
 *
 * Wrapped blob, the same for every provider:
 *   0x01 || IV (12 random bytes) || AES-256-GCM(key, IV, aad, plaintext) || tag (16)
 * The AAD is chosen by the caller and binds the blob to what it protects
 * (key name, key id, uid). Random 96-bit IVs keep the GCM collision bound
 * (NIST SP 800-38D §8.3) far away: the KMS wraps a key a few times a day.
 *
 * A root handle serialises its own calls (one PKCS#11 session). */
#ifndef VEIL_KMS_HSM_H
#define VEIL_KMS_HSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/kms.h"
#include "veil/result.h"

#define VEIL_KMS_ROOT_KEY_LEN 32
#define VEIL_KMS_WRAP_VERSION 0x01
#define VEIL_KMS_WRAP_IV_LEN 12
#define VEIL_KMS_WRAP_OVERHEAD (1 + VEIL_KMS_WRAP_IV_LEN + 16)
#define VEIL_KMS_SIM_CONTEXT "veil-kms root-key v1"

typedef struct veil_kms_root veil_kms_root;

/* Open the provider `cfg` names. With `create`, a missing PKCS#11 key or
 * key file is created; otherwise it must exist. */
VEIL_MUST_USE veil_result veil_kms_root_open(const veil_kms_root_config *cfg, bool create,
                                             veil_kms_root **out);
/* Append the wrapped blob of pt to out. */
VEIL_MUST_USE veil_result veil_kms_root_wrap(veil_kms_root *r, const uint8_t *aad, size_t aad_len,
                                             const uint8_t *pt, size_t pt_len, veil_buf *out);
/* Append the plaintext to out (a wiping buffer); VEIL_E_CRYPTO when the blob
 * is not authentic under this root key and aad. */
VEIL_MUST_USE veil_result veil_kms_root_unwrap(veil_kms_root *r, const uint8_t *aad, size_t aad_len,
                                               const uint8_t *blob, size_t blob_len, veil_buf *out);
veil_kms_root_kind veil_kms_root_kind_of(const veil_kms_root *r);
void veil_kms_root_describe(const veil_kms_root *r, char *out, size_t cap);
void veil_kms_root_free(veil_kms_root *r);

/* Tests: try to read the PKCS#11 key's CKA_VALUE. *readable is false when
 * the token refuses (CKR_ATTRIBUTE_SENSITIVE or any error), which is what a
 * non-extractable key must do. *sensitive / *extractable report the key's
 * attributes. VEIL_E_USAGE for the other providers. */
VEIL_MUST_USE veil_result veil_kms_root_probe(veil_kms_root *r, bool *readable, bool *sensitive,
                                              bool *extractable);

#endif
