/* Internal OHTTP pieces shared by the single-shot and chunked code, and the
 * deterministic entry points the known-answer tests use to reproduce the
 * published examples (RFC 9458 Appendix A, chunked-OHTTP draft example).
 * Production code never calls the *_with_* functions: the ephemeral key and
 * response nonce always come from the CSPRNG there. */
#ifndef VEIL_OHTTP_INTERNAL_H
#define VEIL_OHTTP_INTERNAL_H

#include "veil/ohttp.h"

#define OHTTP_LABEL_REQUEST "message/bhttp request"
#define OHTTP_LABEL_RESPONSE "message/bhttp response"
#define OHTTP_LABEL_CHUNKED_REQUEST "message/bhttp chunked request"
#define OHTTP_LABEL_CHUNKED_RESPONSE "message/bhttp chunked response"
#define OHTTP_FINAL_AAD "final"
#define OHTTP_MAX_RESPONSE_NONCE 32 /* max(Nn, Nk) */

/* The parsed request header of either form. */
typedef struct ohttp_header {
    uint8_t key_id;
    veil_hpke_suite suite;
} ohttp_header;

/* Response keys derived from the HPKE context (RFC 9458 §4.4 steps 1-5). */
typedef struct ohttp_response_keys {
    uint16_t aead;
    uint8_t key[VEIL_HPKE_MAX_NK];
    uint8_t nonce[VEIL_HPKE_NN];
    size_t nonce_len; /* max(Nn, Nk): the length of response_nonce */
} ohttp_response_keys;

#define OHTTP_MAX_INFO 64

/* hdr = key_id(1) kem(2) kdf(2) aead(2), big-endian. */
void ohttp_header_encode(const ohttp_header *h, uint8_t out[VEIL_OHTTP_HDR_LEN]);
/* info = label || 0x00 || hdr (RFC 9458 §4.3); returns its length. */
size_t ohttp_build_info(const char *label, const ohttp_header *h, uint8_t info[OHTTP_MAX_INFO]);
/* Setup the sender context for `label` and write hdr || enc to out. */
VEIL_MUST_USE veil_result ohttp_sender_setup(const veil_ohttp_keyconfig *cfg,
                                             const veil_hpke_suite *suite, const char *label,
                                             const veil_hpke_key *eph, veil_buf *out, uint8_t *enc,
                                             size_t *enc_len, veil_hpke_ctx **ctx);
/* Read hdr || enc from c, find the key, setup the recipient context. */
VEIL_MUST_USE veil_result ohttp_recipient_setup(const veil_ohttp_gateway *gw, veil_cursor *c,
                                                const char *label, ohttp_header *h, uint8_t *enc,
                                                size_t *enc_len, veil_hpke_ctx **ctx,
                                                veil_ohttp_decap_error *why);
/* Nonce length max(Nn, Nk) of a suite's AEAD. */
size_t ohttp_response_nonce_len(uint16_t aead);
VEIL_MUST_USE veil_result ohttp_response_keys_derive(const veil_hpke_ctx *ctx, const char *label,
                                                     const uint8_t *enc, size_t enc_len,
                                                     const uint8_t *response_nonce,
                                                     ohttp_response_keys *out);
void ohttp_response_keys_wipe(ohttp_response_keys *k);

VEIL_MUST_USE veil_result veil_ohttp_client_encap_with(const veil_ohttp_keyconfig *cfg,
                                                       const veil_hpke_suite *suite,
                                                       const veil_hpke_key *eph, const uint8_t *req,
                                                       size_t req_len, veil_buf *out,
                                                       veil_ohttp_client_ctx **ctx);
VEIL_MUST_USE veil_result veil_ohttp_server_encap_with(veil_ohttp_server_ctx *ctx,
                                                       const uint8_t *response_nonce,
                                                       const uint8_t *res, size_t res_len,
                                                       veil_buf *out);
VEIL_MUST_USE veil_result veil_ohttp_chunked_client_new_with(const veil_ohttp_keyconfig *cfg,
                                                             const veil_hpke_suite *suite,
                                                             const veil_hpke_key *eph,
                                                             size_t max_chunk, veil_buf *out,
                                                             veil_ohttp_chunked_client **ctx);
/* Fix the response nonce the server will use (before its first write). */
VEIL_MUST_USE veil_result veil_ohttp_chunked_server_set_nonce(veil_ohttp_chunked_server *ctx,
                                                              const uint8_t *nonce, size_t n);

#endif
