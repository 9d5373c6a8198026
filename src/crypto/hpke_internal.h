/* Internal HPKE entry points: not part of the public API.
 *
 * Deterministic ("derandomized") setup exists so the published test vectors
 * (RFC 9180, RFC 9458 Appendix A, the chunked-OHTTP draft) can be reproduced
 * byte for byte. Only the known-answer tests and `veil selftest` use it; a
 * production sender always calls veil_hpke_setup_sender, which draws a fresh
 * ephemeral key from the CSPRNG. */
#ifndef VEIL_HPKE_INTERNAL_H
#define VEIL_HPKE_INTERNAL_H

#include "veil/hpke.h"

/* As veil_hpke_setup_sender, but with the caller's ephemeral key pair. */
VEIL_MUST_USE veil_result veil_hpke_setup_sender_with_ephemeral(
    const veil_hpke_params *params, const veil_hpke_key *pk_r, const veil_hpke_key *eph,
    uint8_t *enc, size_t enc_cap, size_t *enc_len, veil_hpke_ctx **out);

/* Test access to a context's key schedule outputs (for KATs that check key,
 * base_nonce and exporter_secret directly). Copies into caller buffers: key
 * must hold VEIL_HPKE_MAX_NK bytes (*key_len = Nk, 0 for export-only),
 * exporter_secret VEIL_HPKE_MAX_NH (*exporter_len = Nh); base_nonce is zero
 * for export-only suites. The caller wipes them. */
VEIL_MUST_USE veil_result veil_hpke_ctx_secrets(const veil_hpke_ctx *ctx, uint8_t *key,
                                                size_t *key_len, uint8_t base_nonce[12],
                                                uint8_t *exporter_secret, size_t *exporter_len);
/* Sets the sequence number (tests of the overflow guard, and KAT replays
 * that start at a given sequence number). */
void veil_hpke_ctx_set_seq(veil_hpke_ctx *ctx, uint64_t seq);
/* Sets the AEAD usage counted so far (tests of the usage limits). */
void veil_hpke_ctx_set_usage(veil_hpke_ctx *ctx, uint64_t blocks, uint64_t failed_opens);

/* ---- Shared by the HPKE implementation files (src/crypto/hpke*.c, hkdf.c,
 * aead.c) and the known-answer tests. Nothing here touches OpenSSL types. */

/* RFC 9180 §7.2 KDF parameters. md_name is the OpenSSL digest name. */
typedef struct veil_hpke_kdf_desc {
    uint16_t id;
    size_t nh;
    const char *name;
    const char *md_name;
} veil_hpke_kdf_desc;

/* RFC 9180 §7.3 AEAD parameters. cipher_name is NULL for export-only. */
typedef struct veil_hpke_aead_desc {
    uint16_t id;
    size_t nk;
    size_t nn;
    const char *name;
    const char *cipher_name;
    unsigned slot; /* index of the fetched EVP_CIPHER in aead.c */
} veil_hpke_aead_desc;

typedef enum veil_hpke_kem_kind {
    VEIL_HPKE_KEM_KIND_EC = 1, /* NIST curve: uncompressed SEC1 points */
    VEIL_HPKE_KEM_KIND_X = 2,  /* X25519 / X448: raw RFC 7748 strings */
} veil_hpke_kem_kind;

/* RFC 9180 §7.1 DHKEM parameters. */
typedef struct veil_hpke_kem_desc {
    veil_hpke_kem_info info;
    uint16_t id;
    uint16_t kdf; /* the KEM's own KDF (ExtractAndExpand, DeriveKeyPair) */
    size_t ndh;   /* Ndh: length of one DH output */
    veil_hpke_kem_kind kind;
    const char *ossl_name; /* "P-256" group name or "X25519" key type */
    uint8_t bitmask;       /* DeriveKeyPair mask for the first candidate byte */
    unsigned slot;         /* index of the cached curve group in hpke_kem.c */
} veil_hpke_kem_desc;

/* NULL when veil does not implement the id. */
const veil_hpke_kdf_desc *veil_hpke_kdf_find(uint16_t kdf);
const veil_hpke_aead_desc *veil_hpke_aead_find(uint16_t aead);
const veil_hpke_kem_desc *veil_hpke_kem_find(uint16_t kem);

/* Longest suite_id ("HPKE" || kem || kdf || aead). */
#define VEIL_HPKE_MAX_SUITE_ID 10

/* RFC 9180 §4: LabeledExtract(salt, label, ikm) into out (Nh bytes).
 * labeled_ikm = "HPKE-v1" || suite_id || label || ikm. */
VEIL_MUST_USE veil_result veil_hpke_labeled_extract(uint16_t kdf, const uint8_t *suite_id,
                                                    size_t suite_id_len, const uint8_t *salt,
                                                    size_t salt_len, const char *label,
                                                    const uint8_t *ikm, size_t ikm_len,
                                                    uint8_t *out);
/* RFC 9180 §4: LabeledExpand(prk, label, info, L) into out[0..L).
 * labeled_info = I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info. */
VEIL_MUST_USE veil_result veil_hpke_labeled_expand(uint16_t kdf, const uint8_t *suite_id,
                                                   size_t suite_id_len, const uint8_t *prk,
                                                   size_t prk_len, const char *label,
                                                   const uint8_t *info, size_t info_len,
                                                   uint8_t *out, size_t L);

/* RFC 9180 §4.1 DHKEM Encap/AuthEncap with a given ephemeral key pair `eph`
 * (sk_s is the sender's key pair for AuthEncap, NULL for Encap). Writes Nenc
 * bytes to enc and Nsecret bytes to shared_secret. */
VEIL_MUST_USE veil_result veil_hpke_kem_encap(const veil_hpke_key *pk_r, const veil_hpke_key *eph,
                                              const veil_hpke_key *sk_s,
                                              uint8_t enc[VEIL_HPKE_MAX_ENC], size_t *enc_len,
                                              uint8_t shared_secret[VEIL_HPKE_MAX_NH]);
/* RFC 9180 §4.1 Decap/AuthDecap (pk_s NULL for Decap). Writes Nsecret bytes
 * to shared_secret. */
VEIL_MUST_USE veil_result veil_hpke_kem_decap(const veil_hpke_key *sk_r, const uint8_t *enc,
                                              size_t enc_len, const veil_hpke_key *pk_s,
                                              uint8_t shared_secret[VEIL_HPKE_MAX_NH]);

#endif
