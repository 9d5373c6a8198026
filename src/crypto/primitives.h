/* Internal crypto primitives shared by HPKE and the OHTTP response layer:
 * raw HKDF (RFC 5869) and one-shot AEAD seal/open with an explicit key and
 * nonce. Not part of the public API; callers live under src/.
 *
 * Algorithms are named by their HPKE registry ids (RFC 9180 §7.2, §7.3):
 *   kdf_id  0x0001 HKDF-SHA256 (Nh 32), 0x0002 HKDF-SHA384 (Nh 48),
 *           0x0003 HKDF-SHA512 (Nh 64)
 *   aead_id 0x0001 AES-128-GCM (Nk 16), 0x0002 AES-256-GCM (Nk 32),
 *           0x0003 ChaCha20-Poly1305 (Nk 32); every AEAD has Nn = 12 and a
 *           16-byte tag. Export-only (0xFFFF) is not an AEAD: seal/open on it
 *           fail with VEIL_E_USAGE.
 * Sizes: veil_hpke_kdf_nh() and veil_hpke_aead_nk() in veil/hpke.h.
 *
 * Errors: an unknown id is VEIL_E_UNSUPPORTED; a wrong length is
 * VEIL_E_USAGE; an authentication failure is VEIL_E_CRYPTO; an OpenSSL
 * failure is VEIL_E_INTERNAL. All functions are thread-safe (OpenSSL
 * algorithm objects are fetched once and shared read-only). */
#ifndef VEIL_CRYPTO_PRIMITIVES_H
#define VEIL_CRYPTO_PRIMITIVES_H

#include <stddef.h>
#include <stdint.h>

#include "veil/result.h"

#define VEIL_AEAD_NONCE_LEN 12
#define VEIL_AEAD_TAG_LEN 16

/* HKDF-Extract(salt, ikm) -> out. out_len must equal Nh of kdf_id. An empty
 * salt (salt_len 0, salt may be NULL) means Nh zero bytes, as RFC 5869 says. */
VEIL_MUST_USE veil_result veil_hkdf_extract(uint16_t kdf_id, const uint8_t *salt, size_t salt_len,
                                            const uint8_t *ikm, size_t ikm_len, uint8_t *out,
                                            size_t out_len);

/* HKDF-Expand(prk, info, L) -> out[0..L). prk_len must be at least Nh (HPKE
 * always passes exactly Nh); 1 <= L <= 255*Nh; info_len <= 32,768 (the
 * OpenSSL 3.0 limit). */
VEIL_MUST_USE veil_result veil_hkdf_expand(uint16_t kdf_id, const uint8_t *prk, size_t prk_len,
                                           const uint8_t *info, size_t info_len, uint8_t *out,
                                           size_t L);

/* AEAD seal: ct_out[0..pt_len) = ciphertext, ct_out[pt_len..pt_len+16) = tag.
 * key is Nk bytes of aead_id, nonce is 12 bytes. ct_out may equal pt
 * (in-place) but must not otherwise overlap it. aad/pt may be NULL when their
 * length is 0. */
/* Blocks one AEAD record costs against draft-irtf-cfrg-aead-limits' q + s:
 * ceil(aad_len / 16) + ceil(pt_len / 16) + 1 (aead_ctx.c). */
uint64_t veil_aead_record_cost(size_t aad_len, size_t pt_len);

VEIL_MUST_USE veil_result veil_aead_seal(uint16_t aead_id, const uint8_t *key, const uint8_t *nonce,
                                         const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                                         size_t pt_len, uint8_t *ct_out);

/* AEAD open: ct is ciphertext||tag (ct_len >= 16); writes ct_len-16 bytes of
 * plaintext to pt_out only if the tag verifies. On any failure pt_out[0..
 * ct_len-16) is zeroed and a VEIL_E_CRYPTO ("AEAD authentication failed")
 * or other error is returned. pt_out may equal ct (in-place). */
VEIL_MUST_USE veil_result veil_aead_open(uint16_t aead_id, const uint8_t *key, const uint8_t *nonce,
                                         const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                                         size_t ct_len, uint8_t *pt_out);

#endif
