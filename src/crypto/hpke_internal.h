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
VEIL_MUST_USE veil_result veil_hpke_setup_sender_with_ephemeral(const veil_hpke_params *params,
                                                                const veil_hpke_key *pk_r,
                                                                const veil_hpke_key *eph,
                                                                uint8_t *enc, size_t enc_cap,
                                                                size_t *enc_len,
                                                                veil_hpke_ctx **out);

/* Test access to a context's key schedule outputs (for KATs that check key,
 * base_nonce and exporter_secret directly). Copies into caller buffers. */
VEIL_MUST_USE veil_result veil_hpke_ctx_secrets(const veil_hpke_ctx *ctx, uint8_t *key,
                                                size_t *key_len, uint8_t base_nonce[12],
                                                uint8_t *exporter_secret, size_t *exporter_len);
/* Sets the sequence number (tests of the overflow guard, and KAT replays
 * that start at a given sequence number). */
void veil_hpke_ctx_set_seq(veil_hpke_ctx *ctx, uint64_t seq);

#endif
