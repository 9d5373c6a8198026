/* veil — AEAD record context with per-key usage limits
 * (draft-irtf-cfrg-aead-limits, single-key limits, target advantage p = 2^-57).
 *
 * One context protects one direction of a stream of records under a
 * long-lived key. Record i of an epoch uses
 *     nonce = base_nonce XOR I2OSP(i, 12)        (96-bit big-endian, never random)
 * The context counts records (q) and 16-byte blocks, and before a record would
 * exceed a limit it rotates to the next epoch:
 *     prk            = HKDF-Extract(salt = "veil-aead-epoch", ikm = key)   (HKDF-SHA256)
 *     key' || nonce' = HKDF-Expand(prk, "veil-aead-next" || u64be(epoch + 1), Nk + 12)
 * and resets the record/block counters. Sealer and opener apply the same rule
 * to the same record sizes, so they rotate on the same record. A context
 * created with allow_rotation = 0 instead fails closed with VEIL_E_CRYPTO
 * ("AEAD usage limit reached").
 *
 * A context is either a sealer or an opener: the first seal/open fixes its
 * role and the other call then fails with VEIL_E_USAGE (one key and nonce
 * sequence must never protect both directions). Not thread-safe. */
#ifndef VEIL_AEAD_CTX_H
#define VEIL_AEAD_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_AEAD_CTX_NONCE_LEN 12
#define VEIL_AEAD_CTX_TAG_LEN 16

/* Per-key limits. A field of 0 means "the draft's default for this AEAD"; a
 * caller may only LOWER a limit (a value above the default is VEIL_E_USAGE).
 *  max_records      q: records per key.
 *  max_blocks       q + s: every record costs ceil(|aad|/16) + ceil(|pt|/16) + 1
 *                   blocks, so this bounds the AES-GCM confidentiality term
 *                   (s + q + 1)^2 / 2^129 directly.
 *  max_failed_opens v: failed opens over the context's life; once reached,
 *                   every further open is refused (VEIL_E_CRYPTO). */
typedef struct veil_aead_limits {
    uint64_t max_records;
    uint64_t max_blocks;
    uint64_t max_failed_opens;
} veil_aead_limits;

typedef struct veil_aead_ctx veil_aead_ctx;

/* Fill *out with the defaults for aead_id (see aead_ctx.c for their
 * derivation). VEIL_E_UNSUPPORTED for an unknown or export-only id. */
VEIL_MUST_USE veil_result veil_aead_default_limits(uint16_t aead_id, veil_aead_limits *out);

/* key is Nk bytes of aead_id (16 for AES-128-GCM, 32 otherwise). Copies key
 * and base_nonce; limits may be NULL (all defaults). */
VEIL_MUST_USE veil_result veil_aead_ctx_new(uint16_t aead_id, const uint8_t *key, size_t key_len,
                                            const uint8_t base_nonce[VEIL_AEAD_CTX_NONCE_LEN],
                                            const veil_aead_limits *limits, int allow_rotation,
                                            veil_aead_ctx **out);

/* Seal the next record: out[0..n) ciphertext, out[n..n+16) tag (out holds
 * n + 16 bytes; it must not overlap pt unless equal). */
VEIL_MUST_USE veil_result veil_aead_ctx_seal(veil_aead_ctx *ctx, const uint8_t *aad, size_t aad_len,
                                             const uint8_t *pt, size_t n, uint8_t *out);

/* Open the next record: ct is ciphertext || tag (ct_len >= 16), pt_out holds
 * ct_len - 16 bytes. On any failure the context does not advance (the record
 * may be retried) and pt_out is zeroed; an authentication failure counts
 * against max_failed_opens. */
VEIL_MUST_USE veil_result veil_aead_ctx_open(veil_aead_ctx *ctx, const uint8_t *aad, size_t aad_len,
                                             const uint8_t *ct, size_t ct_len, uint8_t *pt_out);

/* Current epoch (0 for the key given to _new, +1 per rotation). */
uint64_t veil_aead_ctx_epoch(const veil_aead_ctx *ctx);

/* The nonce of the last record sealed or opened successfully (public value;
 * for tests and diagnostics). VEIL_E_USAGE before the first record. */
VEIL_MUST_USE veil_result veil_aead_ctx_last_nonce(const veil_aead_ctx *ctx,
                                                   uint8_t out[VEIL_AEAD_CTX_NONCE_LEN]);

/* Wipe the key material and free. NULL is a no-op. */
void veil_aead_ctx_free(veil_aead_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
