/* veil — Oblivious HTTP (RFC 9458) and chunked OHTTP
 * (draft-ietf-ohai-chunked-ohttp-08).
 *
 * Key configurations (§3) and `application/ohttp-keys` lists; request and
 * response encapsulation for the client and the gateway (§4); and the
 * streaming (chunked) variant, whose encoders and decoders work incrementally
 * on arbitrary pieces of a message and detect truncation (a stream that ends
 * without its final chunk is an error).
 *
 * The inner messages are Binary HTTP (veil/bhttp.h); this layer treats them as
 * opaque bytes. */
#ifndef VEIL_OHTTP_H
#define VEIL_OHTTP_H

#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/hpke.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_OHTTP_MAX_SYMALGS 64 /* more pairs than this in one config: rejected */
#define VEIL_OHTTP_HDR_LEN 7      /* key_id(1) kem(2) kdf(2) aead(2) */

/* Media types (RFC 9458 §9, chunked draft §6). */
#define VEIL_OHTTP_MT_REQUEST "message/ohttp-req"
#define VEIL_OHTTP_MT_RESPONSE "message/ohttp-res"
#define VEIL_OHTTP_MT_KEYS "application/ohttp-keys"
#define VEIL_OHTTP_MT_CHUNKED_REQUEST "message/ohttp-chunked-req"
#define VEIL_OHTTP_MT_CHUNKED_RESPONSE "message/ohttp-chunked-res"

typedef struct veil_ohttp_symalg {
    uint16_t kdf;
    uint16_t aead;
} veil_ohttp_symalg;

/* One key configuration (RFC 9458 §3.1). */
typedef struct veil_ohttp_keyconfig {
    uint8_t key_id;
    uint16_t kem;
    uint8_t public_key[VEIL_HPKE_MAX_PK];
    size_t public_key_len;
    size_t n_algs;
    veil_ohttp_symalg algs[VEIL_OHTTP_MAX_SYMALGS];
} veil_ohttp_keyconfig;

/* Decode exactly one key configuration occupying all of p[0..n). The KEM must
 * be one veil implements (its Npk fixes the key length); algorithm pairs veil
 * lacks are kept (they are the server's offer) but never selected. */
VEIL_MUST_USE veil_result veil_ohttp_keyconfig_decode(const uint8_t *p, size_t n,
                                                      veil_ohttp_keyconfig *out);
VEIL_MUST_USE veil_result veil_ohttp_keyconfig_encode(const veil_ohttp_keyconfig *cfg,
                                                      veil_buf *out);
/* The same configuration: key id, KEM, public key and algorithm list (in
 * order). Public values: not constant time. */
bool veil_ohttp_keyconfig_equal(const veil_ohttp_keyconfig *a, const veil_ohttp_keyconfig *b);
/* A config for `key` (its KEM and public key) offering `algs`. */
VEIL_MUST_USE veil_result veil_ohttp_keyconfig_for_key(uint8_t key_id, const veil_hpke_key *key,
                                                       const veil_ohttp_symalg *algs, size_t n_algs,
                                                       veil_ohttp_keyconfig *out);

/* `application/ohttp-keys` (RFC 9458 §3.2): a sequence of configs, each with
 * a 2-byte length. Configs whose KEM veil lacks, or that offer no algorithm
 * pair veil supports, are skipped (counted in *skipped), not fatal; a
 * malformed entry is an error. Fails if more than `cap` usable configs. */
VEIL_MUST_USE veil_result veil_ohttp_keys_decode(const uint8_t *p, size_t n,
                                                 veil_ohttp_keyconfig *out, size_t cap,
                                                 size_t *count, size_t *skipped);
VEIL_MUST_USE veil_result veil_ohttp_keys_encode(const veil_ohttp_keyconfig *cfgs, size_t n,
                                                 veil_buf *out);

/* Choose the strongest suite that a config offers and veil supports, over all
 * configs: highest effective security level first (the weakest of the KEM's,
 * the AEAD key's and half the KDF output's strength), then the stronger KEM,
 * AEAD and KDF; X25519 is preferred to P-256 and AES-256-GCM to ChaCha20 at
 * equal strength. Export-only is never chosen. VEIL_E_UNSUPPORTED if none. */
VEIL_MUST_USE veil_result veil_ohttp_select(const veil_ohttp_keyconfig *cfgs, size_t n,
                                            size_t *cfg_index, veil_hpke_suite *suite);

/* ---- Gateway key set ------------------------------------------------------
 * The private keys a gateway decrypts with, looked up by key id. Several are
 * live at once during rotation. The set owns the keys it is given. */
typedef struct veil_ohttp_gateway veil_ohttp_gateway;

VEIL_MUST_USE veil_result veil_ohttp_gateway_new(veil_ohttp_gateway **out);
/* Takes ownership of `key` (a key pair) on success. Key ids must be unique. */
VEIL_MUST_USE veil_result veil_ohttp_gateway_add(veil_ohttp_gateway *gw,
                                                 const veil_ohttp_keyconfig *cfg,
                                                 veil_hpke_key *key);
/* Drop a key (end of its grace period); ok if absent. */
void veil_ohttp_gateway_remove(veil_ohttp_gateway *gw, uint8_t key_id);
/* The `application/ohttp-keys` body listing every live config. */
/* Make gw hold exactly the keys of `from` (a rotation): key ids that are in
 * both with the same configuration keep gw's key; new ones move over; the
 * rest of gw's keys are freed. Consumes `from` (freed, whatever happens).
 * Not thread-safe: callers serialise it against lookups. */
void veil_ohttp_gateway_update(veil_ohttp_gateway *gw, veil_ohttp_gateway *from);
VEIL_MUST_USE veil_result veil_ohttp_gateway_keys(const veil_ohttp_gateway *gw, veil_buf *out);
void veil_ohttp_gateway_free(veil_ohttp_gateway *gw);

/* Why a gateway could not decapsulate, for choosing the clear-text answer
 * (RFC 9458 §5.2: unknown key id vs. anything else: 400). */
typedef enum veil_ohttp_decap_error {
    VEIL_OHTTP_DECAP_OK = 0,
    VEIL_OHTTP_DECAP_MALFORMED,
    VEIL_OHTTP_DECAP_UNKNOWN_KEY,
    VEIL_OHTTP_DECAP_UNSUPPORTED_SUITE,
    VEIL_OHTTP_DECAP_DECRYPT,
} veil_ohttp_decap_error;

/* ---- Single-shot requests and responses (RFC 9458 §4.3, §4.4) ----------- */
typedef struct veil_ohttp_client_ctx veil_ohttp_client_ctx;
typedef struct veil_ohttp_server_ctx veil_ohttp_server_ctx;

/* Client: encapsulate `req` to `cfg` with `suite` (from veil_ohttp_select or
 * one of cfg's pairs); writes the message/ohttp-req body to out and keeps a
 * context for reading the response. */
VEIL_MUST_USE veil_result veil_ohttp_client_encap(const veil_ohttp_keyconfig *cfg,
                                                  const veil_hpke_suite *suite, const uint8_t *req,
                                                  size_t req_len, veil_buf *out,
                                                  veil_ohttp_client_ctx **ctx);
/* Client: decrypt a message/ohttp-res body into out. */
VEIL_MUST_USE veil_result veil_ohttp_client_decap(veil_ohttp_client_ctx *ctx, const uint8_t *res,
                                                  size_t res_len, veil_buf *out);
void veil_ohttp_client_ctx_free(veil_ohttp_client_ctx *ctx);

/* Gateway: decrypt a message/ohttp-req body into out (the Binary HTTP
 * request); `why` (may be NULL) classifies a failure. */
VEIL_MUST_USE veil_result veil_ohttp_server_decap(const veil_ohttp_gateway *gw, const uint8_t *req,
                                                  size_t req_len, veil_buf *out,
                                                  veil_ohttp_server_ctx **ctx,
                                                  veil_ohttp_decap_error *why);
/* Gateway: encrypt the response; writes the message/ohttp-res body. */
VEIL_MUST_USE veil_result veil_ohttp_server_encap(veil_ohttp_server_ctx *ctx, const uint8_t *res,
                                                  size_t res_len, veil_buf *out);
/* The key id and suite the request used. */
void veil_ohttp_server_ctx_suite(const veil_ohttp_server_ctx *ctx, uint8_t *key_id,
                                 veil_hpke_suite *suite);
void veil_ohttp_server_ctx_free(veil_ohttp_server_ctx *ctx);

/* ---- Chunked OHTTP (draft-ietf-ohai-chunked-ohttp-08) --------------------
 * Writers append whole chunks to `out`; readers accept the stream in pieces
 * of any size and append each chunk's plaintext to `out` once its chunk is
 * complete. A chunk (sealed) may be at most `max_chunk` bytes (0: 16 MiB).
 * After the stream ends, *_finish authenticates the final chunk; a stream
 * without one is reported as truncated. */
typedef struct veil_ohttp_chunked_client veil_ohttp_chunked_client;
typedef struct veil_ohttp_chunked_server veil_ohttp_chunked_server;

#define VEIL_OHTTP_CHUNK_DEFAULT_MAX ((size_t)16 << 20)

/* Starts a request: writes the header and encapsulated key to out. */
VEIL_MUST_USE veil_result veil_ohttp_chunked_client_new(const veil_ohttp_keyconfig *cfg,
                                                        const veil_hpke_suite *suite,
                                                        size_t max_chunk, veil_buf *out,
                                                        veil_ohttp_chunked_client **ctx);
/* Seals one request chunk; `final` marks the last one (which may be empty).
 * Non-final chunks must be non-empty. Nothing may follow the final chunk. */
VEIL_MUST_USE veil_result veil_ohttp_chunked_client_write(veil_ohttp_chunked_client *ctx,
                                                          const uint8_t *p, size_t n, int final,
                                                          veil_buf *out);
VEIL_MUST_USE veil_result veil_ohttp_chunked_client_read(veil_ohttp_chunked_client *ctx,
                                                         const uint8_t *p, size_t n, veil_buf *out);
VEIL_MUST_USE veil_result veil_ohttp_chunked_client_finish(veil_ohttp_chunked_client *ctx,
                                                           veil_buf *out);
void veil_ohttp_chunked_client_free(veil_ohttp_chunked_client *ctx);

VEIL_MUST_USE veil_result veil_ohttp_chunked_server_new(const veil_ohttp_gateway *gw,
                                                        size_t max_chunk,
                                                        veil_ohttp_chunked_server **ctx);
/* Feeds request bytes; `why` (may be NULL) classifies header failures. */
VEIL_MUST_USE veil_result veil_ohttp_chunked_server_read(veil_ohttp_chunked_server *ctx,
                                                         const uint8_t *p, size_t n, veil_buf *out,
                                                         veil_ohttp_decap_error *why);
VEIL_MUST_USE veil_result veil_ohttp_chunked_server_finish(veil_ohttp_chunked_server *ctx,
                                                           veil_buf *out);
/* True once the request header has been read and decapsulated (a response
 * can then be written even before the request ends). */
int veil_ohttp_chunked_server_ready(const veil_ohttp_chunked_server *ctx);
/* Seals one response chunk (the first call also writes the response nonce). */
VEIL_MUST_USE veil_result veil_ohttp_chunked_server_write(veil_ohttp_chunked_server *ctx,
                                                          const uint8_t *p, size_t n, int final,
                                                          veil_buf *out);
void veil_ohttp_chunked_server_free(veil_ohttp_chunked_server *ctx);

#ifdef __cplusplus
}
#endif
#endif
