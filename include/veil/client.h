/* veil — the verifying client (DESIGN.md flow 2): attest the gateway, then
 * talk to it through an Oblivious HTTP relay, encrypted end to end.
 * docs/client.md walks through it.
 *
 *   veil_client *c;
 *   veil_client_new(&opts, &c);            gateway URL, relay URL, policy
 *   veil_client_verify(c, &report);        fresh nonce -> evidence -> verdict
 *   veil_client_transcribe(c, &t, &resp);  or veil_client_request(_stream)
 *   veil_client_free(c);
 *
 * veil_client_verify fetches GET /ohttp-keys and GET /v1/attestation?nonce=N
 * (N: 32 fresh random bytes) from the gateway, and accepts only when the
 * evidence verifies against the vendor roots (or a simulated root the policy
 * names) AND meets the policy (the user's reference values) AND its
 * REPORT_DATA equals SHA-512("veil-gateway-attest-v1" || N || SHA-256(keys))
 * for exactly the key list it fetched (include/veil/gateway.h). A policy
 * without an accepted-measurement list is refused: it would admit any code.
 *
 * Requests are encapsulated only to a key configuration from that attested
 * list; nothing is sent before a verification succeeded, and a failed
 * verification forgets any earlier one. Every failure is an error whose
 * message names the failed check ("measurement", "report_data", "chain",
 * "simulated", "ohttp-key", "relay", ...). Responses are decrypted and
 * authenticated before anything is handed back; a chunked response that ends
 * without its final chunk is an error, never a short answer.
 *
 * A client is not thread-safe: use one per thread. */
#ifndef VEIL_CLIENT_H
#define VEIL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/bhttp.h"
#include "veil/cursor.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct veil_client veil_client;

/* Progress of one exchange, for an indicator (never content). */
typedef enum veil_client_phase {
    VEIL_CLIENT_UPLOAD = 1,  /* done/total: encapsulated bytes sent */
    VEIL_CLIENT_WAITING = 2, /* the request is sent; waiting for the answer (done: ms) */
    VEIL_CLIENT_DOWNLOAD = 3 /* done: encapsulated bytes received (total 0: unknown) */
} veil_client_phase;
typedef void (*veil_client_progress_fn)(void *ctx, veil_client_phase phase, uint64_t done,
                                        uint64_t total);

typedef struct veil_client_opts {
    const char *gateway_url;   /* the gateway's base URL (keys, attestation), e.g.
                                  "http://127.0.0.1:8080"; required unless kms_url is set */
    const char *relay_url;     /* where encapsulated requests are POSTed; NULL = the
                                  gateway's /gateway directly (no relay: the gateway
                                  then sees this machine's address) */
    const char *policy_json;   /* the reference values (docs/policy.md); required */
    size_t policy_len;         /* 0: strlen(policy_json) */
    int64_t verification_time; /* 0: now */
    /* Flow 2a (docs/client.md): key configurations from the KMS with ledger
     * receipts. kms_url set: GET <kms_url>/v1/keys/<kms_key>/config; every
     * receipt must verify against ledger_key_pem (the KMS's ledger.pub,
     * pinned out of band), be bound to exactly the configuration, release
     * policy and reference values used; the KMS's reference values must
     * admit only TEEs policy_json admits; and the tree heads must extend the
     * one saved in state_file (required; created when missing). With a
     * gateway_url too, both flows run and requests go only to a configuration
     * that is both attested and receipted; without one, relay_url is
     * required and the receipted configurations are used. */
    const char *kms_url;
    const char *kms_key; /* the KMS's name of the OHTTP key; NULL = "gw" */
    const char *ledger_key_pem;
    const char *state_file;
    unsigned connect_timeout_ms;      /* 0 = 10 000 */
    unsigned timeout_ms;              /* one exchange; 0 = 600 000 */
    size_t max_response;              /* 0 = 64 MiB */
    const char *ca_file;              /* https trust anchors; NULL = system */
    veil_client_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} veil_client_opts;

VEIL_MUST_USE veil_result veil_client_new(const veil_client_opts *opts, veil_client **out);
/* Wipes what the client holds. NULL is a no-op. */
void veil_client_free(veil_client *c);

/* What was verified ("what the user can check"). */
typedef struct veil_client_report {
    bool accepted;
    char failed_check[32];    /* the first failed check, "" when accepted */
    char reason[256];         /* what was seen and expected */
    char tee[16];             /* "sev-snp" */
    bool simulated;           /* rests on a SIMULATED root: no confidentiality */
    char status[20];          /* EAR status: affirming / warning / contraindicated */
    char measurement[97];     /* launch measurement (hex) */
    char chip_id[129];        /* hex; "" when masked */
    char policy_id[80];       /* "sha256:<hex>" of the policy text */
    char keys_sha256[65];     /* SHA-256 of the attested application/ohttp-keys */
    char evidence_sha256[65]; /* SHA-256 of the attestation document received */
    char nonce[65];           /* the fresh nonce (hex) */
    unsigned key_id;          /* the attested configuration requests use */
    char suite[96];           /* "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM" */
    int64_t verified_at;      /* unix seconds */
    /* flow 2a; empty / 0 when the KMS was not used */
    char kms_log_id[44];        /* the pinned ledger key's JWK thumbprint */
    uint64_t kms_tree_size;     /* the largest tree head accepted */
    char kms_policy_sha256[65]; /* SHA-256 of the release policy's ledger entry */
    unsigned kms_receipts;      /* receipts verified */
    size_t n_checks;
    struct {
        char name[24];
        bool passed;
        char detail[200];
    } checks[40];
} veil_client_report;

/* Verify the gateway (see the top of this file). Returns VEIL_OK only when
 * accepted; otherwise an error naming the failed check, with *report (may
 * be NULL) filled as far as verification went. */
VEIL_MUST_USE veil_result veil_client_verify(veil_client *c, veil_client_report *report);
bool veil_client_verified(const veil_client *c);

/* The report as text for people (several lines, each ending in '\n') or as
 * one JSON object; appended to out. */
VEIL_MUST_USE veil_result veil_client_report_text(const veil_client_report *r, veil_buf *out);
VEIL_MUST_USE veil_result veil_client_report_json(const veil_client_report *r, veil_buf *out);

/* One request through the relay: encapsulated with the attested key
 * configuration (message/ohttp-req), the response decrypted and decoded.
 * *resp is a response message (free with veil_bhttp_msg_free). */
VEIL_MUST_USE veil_result veil_client_request(veil_client *c, const veil_bhttp_msg *req,
                                              veil_bhttp_msg **resp);

/* Where a streamed response goes: the head once, then each piece of
 * content as soon as its chunk is decrypted and authenticated. A nonzero
 * return aborts the exchange. */
typedef struct veil_client_sink {
    int (*on_head)(void *ctx, const veil_bhttp_msg *head); /* status and headers; may be NULL */
    int (*on_data)(void *ctx, const uint8_t *p, size_t n);
    void *ctx;
} veil_client_sink;

/* The same over chunked OHTTP (message/ohttp-chunked-req): the request is
 * sent in chunks and the response arrives chunk by chunk (server-sent events
 * as they are produced). VEIL_OK only when the response ended with its
 * authenticated final chunk. */
VEIL_MUST_USE veil_result veil_client_request_stream(veil_client *c, const veil_bhttp_msg *req,
                                                     const veil_client_sink *sink);

/* A request to the gateway's inner application: method, path and an
 * optional body (content_type may be NULL). The authority is the gateway
 * URL's. */
VEIL_MUST_USE veil_result veil_client_build_request(const veil_client *c, const char *method,
                                                    const char *path, const char *content_type,
                                                    const void *body, size_t len,
                                                    veil_bhttp_msg **out);

/* POST /v1/audio/transcriptions (OpenAI-compatible multipart). */
typedef struct veil_client_transcription {
    const uint8_t *audio; /* the file's bytes (WAV, FLAC, ...) */
    size_t audio_len;
    const char *filename;        /* e.g. "speech.wav"; NULL = "audio.wav" */
    const char *model;           /* NULL = "whisper-1" */
    const char *language;        /* NULL = not sent */
    const char *response_format; /* "json" (NULL), "text", "verbose_json" */
} veil_client_transcription;
VEIL_MUST_USE veil_result veil_client_transcribe(veil_client *c, const veil_client_transcription *t,
                                                 veil_bhttp_msg **resp);

/* What the latest verification and exchange used, for an audit record:
 * pointers into the client, valid until the next verify or free. */
typedef struct veil_client_audit {
    const uint8_t *keys; /* the attested application/ohttp-keys */
    size_t keys_len;
    const uint8_t *evidence; /* the attestation document as received */
    size_t evidence_len;
    const char *policy; /* the policy text */
    size_t policy_len;
    const char *ear_claims; /* the appraised claims (JSON), or NULL */
    const char *gateway_url, *relay_url;
    const uint8_t *nonce;
    size_t nonce_len;
    bool have_exchange;                  /* an exchange completed since verification */
    uint8_t request_sha256[32];          /* of the encoded inner (Binary HTTP) request */
    uint8_t response_sha256[32];         /* of the decrypted response content */
    uint64_t bytes_sent, bytes_received; /* encapsulated bytes, all exchanges */
} veil_client_audit;
VEIL_MUST_USE veil_result veil_client_audit_get(const veil_client *c, veil_client_audit *out);

/* An offline audit bundle (JSON, docs/client.md): key configuration,
 * evidence, policy, verdict and appraised claims, the digests of the last
 * request and response; appended to out. */
VEIL_MUST_USE veil_result veil_client_audit_bundle(const veil_client *c,
                                                   const veil_client_report *report, veil_buf *out);
/* Re-check a bundle offline: its evidence against its policy at `at` (0: the
 * time it was verified), REPORT_DATA against its nonce and keys, and that the
 * recorded verdict matches. VEIL_OK when everything holds; report (may be
 * NULL) gets the recomputed result. */
VEIL_MUST_USE veil_result veil_client_audit_verify(const uint8_t *bundle, size_t len, int64_t at,
                                                   veil_client_report *report);

#ifdef __cplusplus
}
#endif
#endif
