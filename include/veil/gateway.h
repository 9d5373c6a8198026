/* veil — the confidential gateway (DESIGN.md flows 1, 2b): the Oblivious
 * HTTP gateway resource that runs inside the TEE, decrypts requests, hands
 * them to the inner application (veil/app.h) and encrypts the answers.
 * docs/gateway.md describes the endpoints and every byte of the bindings.
 *
 * Endpoints (all on one listener, bound to one explicit address):
 *   POST /gateway          message/ohttp-req (RFC 9458) or
 *                          message/ohttp-chunked-req (draft-ietf-ohai-chunked-ohttp):
 *                          chunks are decapsulated as they arrive and, for a
 *                          chunked request, the response streams back as
 *                          message/ohttp-chunked-res, one chunk per piece the
 *                          application writes (server-sent events included).
 *   GET  /ohttp-keys       application/ohttp-keys
 *   GET  /v1/attestation?nonce=HEX
 *                          a fresh evidence bundle (veil/evidence.h) whose
 *                          REPORT_DATA is veil_gateway_report_data(nonce, keys);
 *                          without a nonce, the bundle made at start (nonce empty)
 *   GET  /healthz          {"status":"ok"}
 *   GET  /metrics          Prometheus text: counts, error classes, latency; never content
 *
 * Only failures to decapsulate are answered in the clear (application/
 * problem+json): an unknown key id or unsupported suite 422 with the RFC 9458
 * "ohttp-key" problem type, anything else 400. Every problem found after
 * decapsulation (malformed Binary HTTP, the application's own errors) is
 * answered inside the encrypted response. Over max_concurrent requests in
 * flight: 503 with Retry-After.
 *
 * Privacy: nothing is logged; the HTTP module never logs addresses or bodies;
 * metrics count events and time them, never look at content. */
#ifndef VEIL_GATEWAY_H
#define VEIL_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/app.h"
#include "veil/attester.h"
#include "veil/bhttp.h"
#include "veil/cursor.h"
#include "veil/ohttp.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/* REPORT_DATA binding of GET /v1/attestation (docs/gateway.md):
 *   REPORT_DATA = SHA-512( "veil-gateway-attest-v1" || nonce || SHA-256(keys) )
 * "veil-gateway-attest-v1" is the 22 ASCII bytes without a terminator, nonce
 * the raw nonce bytes (0, or VEIL_GATEWAY_NONCE_MIN..VEIL_GATEWAY_NONCE_MAX
 * of them; 0 only for the bundle made at start) and keys the exact
 * application/ohttp-keys body that GET /ohttp-keys serves. */
#define VEIL_GATEWAY_ATTEST_LABEL "veil-gateway-attest-v1"
#define VEIL_GATEWAY_ATTEST_LABEL_LEN 22
#define VEIL_GATEWAY_NONCE_MIN 16
#define VEIL_GATEWAY_NONCE_MAX 64

/* The inner response header carrying the per-request attestation statement:
 *   veil-attestation: <hex SHA-256 of the start bundle>; keys=<hex SHA-256 of the keys body> */
#define VEIL_GATEWAY_ATTEST_HEADER "veil-attestation"

#define VEIL_GATEWAY_PATH "/gateway"
#define VEIL_GATEWAY_PLAIN_PATH "/bench/plain-bhttp" /* bench_plain_endpoint only */
#define VEIL_GATEWAY_MT_BHTTP "message/bhttp"        /* RFC 9292 */
#define VEIL_GATEWAY_DEFAULT_MAX_BODY ((size_t)32 << 20)
#define VEIL_GATEWAY_DEFAULT_MAX_CONCURRENT 16u
#define VEIL_GATEWAY_DEFAULT_TIMEOUT_MS 300000u

VEIL_MUST_USE veil_result veil_gateway_report_data(const uint8_t *nonce, size_t nonce_len,
                                                   const uint8_t keys_sha256[32], uint8_t out[64]);

/* A fresh key set for standalone mode: one X25519 key pair made here (in the
 * TEE's memory, never written anywhere) under a random key id, offering
 * HKDF-SHA256 with AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305. */
VEIL_MUST_USE veil_result veil_gateway_standalone_keys(veil_ohttp_gateway **out);

/* The inner application: answers one decrypted request through the writer,
 * with veil_app_handle's contract (a failure after the head aborts the
 * response). `veil gateway` passes a veil_app through a one-line adapter;
 * tests pass their own. Called on a connection or worker thread, possibly
 * from several at once. */
typedef veil_result (*veil_gateway_handler_fn)(void *ctx, const veil_bhttp_msg *request,
                                               const veil_app_writer *w);

typedef struct veil_gateway_config {
    const char *address; /* literal IP; NULL = "127.0.0.1" */
    uint16_t port;       /* 0 = the OS picks; see veil_gateway_port */
    /* The decryption keys; the gateway takes ownership on success (and only
     * then). Required. */
    veil_ohttp_gateway *keys;
    /* Evidence source (borrowed, used under a lock); NULL = GET
     * /v1/attestation answers 503 and no attestation header is added. */
    veil_attester *attester;
    unsigned vmpl;                   /* privilege level asked of the attester (SEV-SNP) */
    bool attestation_header;         /* add veil-attestation to every inner response */
    veil_gateway_handler_fn handler; /* required */
    void *handler_ctx;
    size_t max_body;         /* encapsulated request limit; 0 = VEIL_GATEWAY_DEFAULT_MAX_BODY */
    unsigned max_concurrent; /* OHTTP requests in flight; 0 = VEIL_GATEWAY_DEFAULT_MAX_CONCURRENT */
    unsigned timeout_ms;     /* longest wait for the next piece of a streamed
                                response, and idle connection limit; 0 = default */
    unsigned max_connections; /* 0 = 4 * max_concurrent + 16 */
    unsigned stop_grace_ms;   /* in-flight requests at stop; 0 = 10 000 */
    /* Benchmarks only; `veil gateway` never sets it. Also serve POST
     * VEIL_GATEWAY_PLAIN_PATH: a message/bhttp request answered in the clear
     * as message/bhttp by the same handler, in-flight slots, limits and
     * listener, so bench/gateway can measure what OHTTP adds on this very
     * server. It bypasses the encryption: never enable it in a deployment. */
    bool bench_plain_endpoint;
} veil_gateway_config;

typedef struct veil_gateway veil_gateway;

/* Compute the key list, obtain the start evidence (when there is an
 * attester), bind and serve. Errors name the step that failed. */
VEIL_MUST_USE veil_result veil_gateway_start(const veil_gateway_config *cfg, veil_gateway **out);
uint16_t veil_gateway_port(const veil_gateway *gw);
/* SHA-256 of the served application/ohttp-keys body. */
void veil_gateway_keys_sha256(const veil_gateway *gw, uint8_t out[32]);
/* SHA-256 of the evidence bundle made at start (zero when no attester). */
void veil_gateway_evidence_sha256(const veil_gateway *gw, uint8_t out[32]);
/* The served application/ohttp-keys body (appended). */
VEIL_MUST_USE veil_result veil_gateway_keys(const veil_gateway *gw, veil_buf *out);
/* Key rotation (a KMS released a new key set): the gateway serves exactly
 * the keys of `fresh` from now on; ids it already had with the same
 * configuration keep working without a gap. With an attester, new start
 * evidence is made for the new key list before the switch, so the key list,
 * /v1/attestation and veil-attestation always agree. Takes `fresh` (freed
 * whatever happens); *changed (may be NULL) says whether the list changed.
 * Safe while requests are being served. */
VEIL_MUST_USE veil_result veil_gateway_update_keys(veil_gateway *gw, veil_ohttp_gateway *fresh,
                                                   bool *changed);
/* The /metrics text (appended). */
VEIL_MUST_USE veil_result veil_gateway_metrics(const veil_gateway *gw, veil_buf *out);

typedef struct veil_gateway_counters {
    uint64_t requests;     /* POST /gateway received */
    uint64_t answered;     /* encrypted responses completed */
    uint64_t key_errors;   /* 422: unknown key id or suite */
    uint64_t decap_errors; /* 400: malformed or failed to decrypt */
    uint64_t busy;         /* 503: over max_concurrent */
    uint64_t aborted;      /* encrypted streams abandoned (application failed mid-way) */
    uint64_t attestations; /* fresh evidence bundles served */
} veil_gateway_counters;
void veil_gateway_counters_get(const veil_gateway *gw, veil_gateway_counters *out);

/* Graceful: stop accepting, give in-flight requests stop_grace_ms, then cut
 * them; frees everything (the keys are wiped). NULL is a no-op. */
void veil_gateway_stop(veil_gateway *gw);

#ifdef __cplusplus
}
#endif
#endif
