/* veil — Hybrid Public Key Encryption (RFC 9180) on OpenSSL 3.0 primitives.
 *
 * Modes base, psk, auth and auth_psk; KEMs DHKEM(P-256, P-384, P-521, X25519,
 * X448); KDFs HKDF-SHA256/384/512; AEADs AES-128-GCM, AES-256-GCM,
 * ChaCha20-Poly1305 and export-only. A suite is data (three registry ids), so
 * choosing an algorithm never needs a recompile.
 *
 * Buffers belong to the caller: every output takes a capacity and reports the
 * length written. Sizes: veil_hpke_kem_info() gives Nenc/Npk/Nsk, a sealed
 * message is plaintext + VEIL_HPKE_TAG_LEN. */
#ifndef VEIL_HPKE_H
#define VEIL_HPKE_H

#include <stddef.h>
#include <stdint.h>

#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RFC 9180 §7 registry values. */
enum {
    VEIL_HPKE_MODE_BASE = 0x00,
    VEIL_HPKE_MODE_PSK = 0x01,
    VEIL_HPKE_MODE_AUTH = 0x02,
    VEIL_HPKE_MODE_AUTH_PSK = 0x03,
};
enum {
    VEIL_HPKE_KEM_P256 = 0x0010,
    VEIL_HPKE_KEM_P384 = 0x0011,
    VEIL_HPKE_KEM_P521 = 0x0012,
    VEIL_HPKE_KEM_X25519 = 0x0020,
    VEIL_HPKE_KEM_X448 = 0x0021,
};
enum {
    VEIL_HPKE_KDF_SHA256 = 0x0001,
    VEIL_HPKE_KDF_SHA384 = 0x0002,
    VEIL_HPKE_KDF_SHA512 = 0x0003,
};
enum {
    VEIL_HPKE_AEAD_AES128GCM = 0x0001,
    VEIL_HPKE_AEAD_AES256GCM = 0x0002,
    VEIL_HPKE_AEAD_CHACHA20POLY1305 = 0x0003,
    VEIL_HPKE_AEAD_EXPORT_ONLY = 0xFFFF,
};

#define VEIL_HPKE_TAG_LEN 16
#define VEIL_HPKE_MAX_ENC 133 /* P-521 uncompressed point */
#define VEIL_HPKE_MAX_PK 133
#define VEIL_HPKE_MAX_SK 66
#define VEIL_HPKE_MAX_NH 64
#define VEIL_HPKE_MAX_NK 32
#define VEIL_HPKE_NN 12
/* Longest exporter_context / info accepted (OpenSSL 3.0's HKDF caps `info`
 * at 32 KiB; labels and suite ids take the rest). */
#define VEIL_HPKE_MAX_INFO 32000

typedef struct veil_hpke_suite {
    uint16_t kem;
    uint16_t kdf;
    uint16_t aead;
} veil_hpke_suite;

typedef struct veil_hpke_kem_info {
    const char *name; /* "DHKEM(X25519, HKDF-SHA256)" */
    size_t n_secret;  /* Nsecret */
    size_t n_enc;     /* Nenc */
    size_t n_pk;      /* Npk */
    size_t n_sk;      /* Nsk */
} veil_hpke_kem_info;

/* NULL when veil does not implement the id. */
const veil_hpke_kem_info *veil_hpke_kem_info_get(uint16_t kem);
/* Nh of a KDF, 0 if unknown. */
size_t veil_hpke_kdf_nh(uint16_t kdf);
/* Nk of an AEAD (0 for export-only), or SIZE_MAX if unknown. */
size_t veil_hpke_aead_nk(uint16_t aead);
const char *veil_hpke_kdf_name(uint16_t kdf);
const char *veil_hpke_aead_name(uint16_t aead);
/* Ok when veil implements every component of the suite; otherwise an
 * VEIL_E_UNSUPPORTED error naming the component. */
VEIL_MUST_USE veil_result veil_hpke_suite_check(const veil_hpke_suite *suite);

/* A KEM key: a key pair, or a public key alone. Freeing wipes it. */
typedef struct veil_hpke_key veil_hpke_key;

/* GenerateKeyPair() from the system CSPRNG. */
VEIL_MUST_USE veil_result veil_hpke_key_generate(uint16_t kem, veil_hpke_key **out);
/* DeriveKeyPair(ikm) (RFC 9180 §7.1.3); ikm must be at least Nsk bytes. */
VEIL_MUST_USE veil_result veil_hpke_key_derive(uint16_t kem, const uint8_t *ikm, size_t ikm_len,
                                               veil_hpke_key **out);
/* DeserializePrivateKey (§7.1.2); the public key is computed from it. */
VEIL_MUST_USE veil_result veil_hpke_key_from_private(uint16_t kem, const uint8_t *sk, size_t sk_len,
                                                     veil_hpke_key **out);
/* DeserializePublicKey (§7.1.1); rejects points not on the curve. */
VEIL_MUST_USE veil_result veil_hpke_key_from_public(uint16_t kem, const uint8_t *pk, size_t pk_len,
                                                    veil_hpke_key **out);
uint16_t veil_hpke_key_kem(const veil_hpke_key *key);
int veil_hpke_key_has_private(const veil_hpke_key *key);
/* SerializePublicKey into out (capacity cap); *len = Npk. */
VEIL_MUST_USE veil_result veil_hpke_key_public(const veil_hpke_key *key, uint8_t *out, size_t cap,
                                               size_t *len);
/* SerializePrivateKey; the caller must wipe `out` after use. */
VEIL_MUST_USE veil_result veil_hpke_key_private(const veil_hpke_key *key, uint8_t *out, size_t cap,
                                                size_t *len);
void veil_hpke_key_free(veil_hpke_key *key);

/* What both sides agree on besides the keys. Mode decides which of the
 * optional inputs are required: psk/psk_id for the psk modes (both empty
 * otherwise), auth_key for the auth modes (the sender's key pair when
 * sealing, the sender's public key when opening; NULL otherwise). */
typedef struct veil_hpke_params {
    veil_hpke_suite suite;
    uint8_t mode;
    const uint8_t *info;
    size_t info_len;
    const uint8_t *psk;
    size_t psk_len;
    const uint8_t *psk_id;
    size_t psk_id_len;
    const veil_hpke_key *auth_key;
} veil_hpke_params;

/* An encryption context (§5.2). A sender context only seals, a recipient
 * context only opens; both export. Freeing wipes every secret in it. */
typedef struct veil_hpke_ctx veil_hpke_ctx;

/* SetupBaseS/SetupPSKS/SetupAuthS/SetupAuthPSKS by params->mode, with a
 * fresh ephemeral key. Writes Nenc bytes to enc. */
VEIL_MUST_USE veil_result veil_hpke_setup_sender(const veil_hpke_params *params,
                                                 const veil_hpke_key *pk_r, uint8_t *enc,
                                                 size_t enc_cap, size_t *enc_len,
                                                 veil_hpke_ctx **out);
/* SetupBaseR/... by params->mode. */
VEIL_MUST_USE veil_result veil_hpke_setup_recipient(const veil_hpke_params *params,
                                                    const veil_hpke_key *sk_r, const uint8_t *enc,
                                                    size_t enc_len, veil_hpke_ctx **out);

/* ContextS.Seal: ct = pt + 16-byte tag (ct_cap >= pt_len + 16). The sequence
 * number advances only on success and never wraps: a context whose seq would
 * reach UINT64_MAX (seq >= UINT64_MAX - 1) refuses with a VEIL_E_CRYPTO
 * "message limit reached" error, so a nonce is never reused. An export-only
 * suite refuses with VEIL_E_USAGE. */
VEIL_MUST_USE veil_result veil_hpke_seal(veil_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len,
                                         const uint8_t *pt, size_t pt_len, uint8_t *ct,
                                         size_t ct_cap, size_t *ct_len);
/* ContextR.Open: on failure `pt` (all pt_cap bytes) is zeroed and the
 * sequence number does not advance; an authentication failure is
 * VEIL_E_CRYPTO. pt_cap >= ct_len - 16. Same message limit as Seal. */
VEIL_MUST_USE veil_result veil_hpke_open(veil_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len,
                                         const uint8_t *ct, size_t ct_len, uint8_t *pt,
                                         size_t pt_cap, size_t *pt_len);
/* Context.Export (§5.3): L bytes into out; L <= 255*Nh and
 * exporter_context_len <= VEIL_HPKE_MAX_INFO, else VEIL_E_USAGE. */
VEIL_MUST_USE veil_result veil_hpke_export(const veil_hpke_ctx *ctx,
                                           const uint8_t *exporter_context,
                                           size_t exporter_context_len, uint8_t *out, size_t L);
const veil_hpke_suite *veil_hpke_ctx_suite(const veil_hpke_ctx *ctx);
void veil_hpke_ctx_free(veil_hpke_ctx *ctx);

/* Single-shot APIs (§6.1): setup + one seal / one open. */
VEIL_MUST_USE veil_result veil_hpke_seal_once(const veil_hpke_params *params,
                                              const veil_hpke_key *pk_r, const uint8_t *aad,
                                              size_t aad_len, const uint8_t *pt, size_t pt_len,
                                              uint8_t *enc, size_t enc_cap, size_t *enc_len,
                                              uint8_t *ct, size_t ct_cap, size_t *ct_len);
VEIL_MUST_USE veil_result veil_hpke_open_once(const veil_hpke_params *params,
                                              const veil_hpke_key *sk_r, const uint8_t *enc,
                                              size_t enc_len, const uint8_t *aad, size_t aad_len,
                                              const uint8_t *ct, size_t ct_len, uint8_t *pt,
                                              size_t pt_cap, size_t *pt_len);

#ifdef __cplusplus
}
#endif
#endif
