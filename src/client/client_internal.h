/* Shared by the client's files: the client itself (client.c: options and
 * verification), exchanges (exchange.c), the streaming Binary HTTP response
 * reader (rstream.c) and audit bundles (audit.c). */
#ifndef VEIL_CLIENT_INTERNAL_H
#define VEIL_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/appraise.h"
#include "veil/bhttp.h"
#include "veil/client.h"
#include "veil/http.h"
#include "veil/ohttp.h"
#include "veil/sign.h"

#define CLIENT_MAX_CONFIGS 16
#define CLIENT_NONCE_LEN 32
#define CLIENT_URL_MAX 2048

struct veil_client {
    char gateway_url[CLIENT_URL_MAX]; /* base, no trailing '/' */
    char relay_url[CLIENT_URL_MAX];   /* where encapsulated requests go */
    char authority[256];              /* host[:port] of the gateway URL */
    bool direct;                      /* no relay */
    char *policy_text;
    size_t policy_len;
    veil_snp_policy policy;
    int64_t verification_time;
    char ca_file[1024];
    veil_http_client_opts http;
    veil_client_progress_fn progress;
    void *progress_ctx;

    /* flow 2a: configurations from the KMS with ledger receipts ("" = unused) */
    char kms_url[CLIENT_URL_MAX]; /* base, no trailing '/' */
    char kms_key[64];
    veil_sign_key *log_key; /* the pinned ledger key */
    char state_file[1024];  /* the last tree head accepted */
    veil_buf kms_keys;      /* receipted configurations, application/ohttp-keys */
    veil_buf kms_doc;       /* the configuration document as received (audit) */

    /* what the latest successful verification established */
    bool verified;
    veil_buf keys;     /* attested application/ohttp-keys */
    veil_buf evidence; /* attestation document as received */
    uint8_t nonce[CLIENT_NONCE_LEN];
    veil_ohttp_keyconfig cfgs[CLIENT_MAX_CONFIGS];
    size_t n_cfgs, cfg_index;
    veil_hpke_suite suite;
    char *ear_claims;

    /* the latest exchange */
    bool have_exchange;
    uint8_t request_sha256[32], response_sha256[32];
    uint64_t bytes_sent, bytes_received;
};

/* Forget the verification (keys, evidence, configs). */
void client_forget(veil_client *c);
/* The error for a refused verdict: a static sentence naming the check. */
veil_result client_refusal(veil_check check);
/* The first failure (check name, what, detail) into the report. */
void client_report_fail(veil_client_report *rep, const char *check, const char *what,
                        const char *detail);
/* Append one row to the report's checks. */
void client_report_check(veil_client_report *rep, const char *name, bool passed,
                         const char *detail);
/* GET url; 200 with `media_type` required; failures reported as `check`. */
VEIL_MUST_USE veil_result client_fetch(veil_client *c, const char *url, const char *media_type,
                                       size_t max, veil_buf *out, const char *what,
                                       const char *check, veil_client_report *rep);
/* Flow 2a (kms_keys.c): the KMS's configurations and receipts -> c->kms_keys. */
VEIL_MUST_USE veil_result client_kms_verify(veil_client *c, veil_client_report *rep);
/* The same checks on a recorded configuration document, without the network
 * (no tree-head consistency): receipts against log_key, bound to `name`,
 * reference values within `policy`; receipted configurations -> keys_out. */
VEIL_MUST_USE veil_result client_kms_check_offline(const veil_sign_key *log_key,
                                                   const veil_snp_policy *policy, const char *name,
                                                   const uint8_t *doc_json, size_t len,
                                                   veil_buf *keys_out, veil_client_report *rep);
/* Checks, measurement, status and the failure (if any) of a verification. */
void client_fill_report(veil_client_report *rep, const veil_verification *vr);
void client_suite_text(const veil_hpke_suite *s, char *out, size_t cap);

/* ---- transport (exchange.c) ---------------------------------------------- */

/* POST `body` to the relay as `media_type` and hand the response body, as it
 * arrives, to on_body (nonzero aborts; on_head, may be NULL, sees the head first). *status and
 * content_type get the outer response's head. Errors name the transport failure ("relay: ..."). */
VEIL_MUST_USE veil_result client_post(veil_client *c, const char *media_type, const uint8_t *body,
                                      size_t len, int (*on_head)(void *, long, const char *),
                                      int (*on_body)(void *, const uint8_t *, size_t), void *ctx,
                                      long *status, char *content_type, size_t ct_cap);

/* Map a non-200 / unexpected outer answer to an error naming the cause. */
veil_result client_outer_error(long status, const char *content_type);

/* ---- streaming Binary HTTP response reader (rstream.c) ------------------- */

typedef struct rstream {
    int state;
    veil_buf pending; /* decrypted bytes not yet parsed */
    veil_buf content; /* the content so far (for the response digest) */
    veil_bhttp_msg *head;
    bool known; /* known-length framing: decoded whole at the end */
    size_t n_chunks;
    const veil_client_sink *sink;
    bool aborted; /* the sink asked to stop */
} rstream;

void rstream_init(rstream *s, const veil_client_sink *sink, size_t max);
void rstream_free(rstream *s);
/* Feed decrypted bytes; parses and delivers whatever is complete. */
VEIL_MUST_USE veil_result rstream_feed(rstream *s, const uint8_t *p, size_t n);
/* The stream ended: everything must have been a whole message. */
VEIL_MUST_USE veil_result rstream_finish(rstream *s);

#endif
