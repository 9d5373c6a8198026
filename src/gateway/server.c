/* The confidential gateway (include/veil/gateway.h, docs/gateway.md).
 *
 * POST /gateway, single-shot (message/ohttp-req), on the connection thread:
 *   begin: media type, in-flight slot; the body is buffered (max_body)
 *   handler: decapsulate (RFC 9458 §4.3) -> Binary HTTP -> application,
 *            whose writer collects the whole response -> encapsulate (§4.4)
 *
 * POST /gateway, chunked (message/ohttp-chunked-req, draft-08):
 *   begin: media type, slot; body pieces go straight to the chunked
 *          decapsulator, so each chunk is decrypted the moment it is whole
 *   handler: final chunk authenticated, Binary HTTP decoded, a worker thread
 *            runs the application; the response is a chunked OHTTP stream
 *   worker:  application writer -> indeterminate-length BHTTP pieces ->
 *            one sealed chunk each -> bounded queue
 *   reader (connection thread): queue -> client, as it fills
 *   free_state: cancel, join the worker, release the slot
 *
 * Only decapsulation failures are answered in the clear; whatever happens
 * after is answered inside the encryption (an OpenAI-style error JSON, the
 * shape the application itself uses). A stream the application abandons
 * after its head is cut off, never ended, so the client sees truncation.
 * Nothing here logs; every wait is bounded by timeout_ms and wakes every
 * WAIT_SLICE_MS to notice a cancel or a hard stop. */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/json_util.h"
#include "crypto/digest.h"
#include "gateway/gateway_internal.h"
#include "veil/base64.h"
#include "veil/gateway.h"
#include "veil/hex.h"
#include "veil/http.h"
#include "veil/mem.h"
#include "veil/rand.h"

#define QUEUE_MAX ((size_t)1 << 20) /* sealed bytes waiting for a slow client */
#define WAIT_SLICE_MS 100
#define DEFAULT_STOP_GRACE_MS 10000u
#define IDLE_TIMEOUT_S 60u
#define KEYS_CACHE_CONTROL "max-age=60"
#define MT_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"
/* RFC 9458 §5.3 / §9: the problem type for key configuration trouble. */
#define PROBLEM_OHTTP_KEY "https://iana.org/assignments/http-problem-types#ohttp-key"
#define ATTEST_VALUE_MAX 160

struct veil_gateway {
    veil_http_server *srv;
    /* keys, keys_body, keys_sha256, boot_evidence, evidence_sha256 and
     * attest_value change together when the keys rotate
     * (veil_gateway_update_keys): read under keys_lock */
    pthread_rwlock_t keys_lock;
    veil_ohttp_gateway *keys;
    veil_buf keys_body; /* the served application/ohttp-keys */
    uint8_t keys_sha256[32];
    veil_attester *attester;
    pthread_mutex_t att_mu; /* one evidence request at a time */
    unsigned vmpl;
    veil_buf boot_evidence; /* the bundle made at start (nonce empty) */
    uint8_t evidence_sha256[32];
    char attest_value[ATTEST_VALUE_MAX]; /* veil-attestation header value, or "" */
    bool attest_header;                  /* keep attest_value across rotations */
    veil_gateway_handler_fn handler;
    void *handler_ctx;
    size_t max_body;
    unsigned max_concurrent, timeout_ms;
    bool bench_plain; /* POST VEIL_GATEWAY_PLAIN_PATH served (benchmarks only) */
    atomic_bool hard_stop;
    atomic_uint attest_in_flight;
    gw_metrics m;
};

/* One POST /gateway. */
struct exchange {
    veil_gateway *gw;
    bool chunked;
    int64_t t0_us;
    /* chunked request side (connection thread) */
    veil_ohttp_chunked_server *cs;
    veil_buf plain;
    bool failed;
    veil_ohttp_decap_error why;
    veil_result fail;
    /* streamed response: worker -> reader */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    veil_buf out; /* sealed bytes not yet handed to the connection */
    size_t out_off;
    bool eof;      /* the final chunk is queued */
    bool broken;   /* abandon the stream */
    bool cancel;   /* the request is over: stop producing */
    bool answered; /* counted once */
    veil_bhttp_msg *request;
    bool worker_started;
    pthread_t worker;
    bool head_written;
};

/* ---- time and waiting ------------------------------------------------------------------ */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void) { return mono_us() / 1000; }

/* One slice of waiting on ex->cv (mu held); false once the deadline passed. */
static bool wait_slice(struct exchange *ex, int64_t deadline_ms)
{
    int64_t now = mono_ms();
    if (now >= deadline_ms)
        return false;
    int64_t ms = deadline_ms - now < WAIT_SLICE_MS ? deadline_ms - now : WAIT_SLICE_MS;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    (void)pthread_cond_timedwait(&ex->cv, &ex->mu, &ts);
    return true;
}

/* ---- bindings and keys ------------------------------------------------------------------ */

veil_result veil_gateway_report_data(const uint8_t *nonce, size_t nonce_len,
                                     const uint8_t keys_sha256[32], uint8_t out[64])
{
    uint8_t msg[VEIL_GATEWAY_ATTEST_LABEL_LEN + VEIL_GATEWAY_NONCE_MAX + 32];
    size_t n = 0;
    if (out)
        memset(out, 0, 64);
    VEIL_ENSURE(out && keys_sha256 && (nonce || nonce_len == 0), VEIL_E_USAGE,
                "gateway: missing argument");
    VEIL_ENSURE(nonce_len == 0 ||
                    (nonce_len >= VEIL_GATEWAY_NONCE_MIN && nonce_len <= VEIL_GATEWAY_NONCE_MAX),
                VEIL_E_USAGE, "gateway: the attestation nonce must be 16..64 bytes");
    /* "veil-gateway-attest-v1" || nonce || SHA-256(application/ohttp-keys body) */
    memcpy(msg, VEIL_GATEWAY_ATTEST_LABEL, VEIL_GATEWAY_ATTEST_LABEL_LEN);
    n += VEIL_GATEWAY_ATTEST_LABEL_LEN;
    if (nonce_len)
        memcpy(msg + n, nonce, nonce_len);
    n += nonce_len;
    memcpy(msg + n, keys_sha256, 32);
    n += 32;
    return veil_sha512(msg, n, out);
}

veil_result veil_gateway_standalone_keys(veil_ohttp_gateway **out)
{
    static const veil_ohttp_symalg algs[] = {
        {VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_AES128GCM},
        {VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_AES256GCM},
        {VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_CHACHA20POLY1305},
    };
    veil_result r = VEIL_OK;
    veil_hpke_key *key = NULL;
    veil_ohttp_gateway *set = NULL;
    veil_ohttp_keyconfig cfg;
    uint8_t key_id = 0;
    VEIL_ENSURE(out, VEIL_E_USAGE, "gateway: missing argument");
    *out = NULL;
    /* A random key id: a restarted gateway's new key gets another id (most
     * likely), so a client holding the old configuration is told "unknown
     * key" and fetches the new one instead of failing to decrypt. */
    VEIL_TRY(r, veil_random_bytes(&key_id, 1));
    VEIL_TRY(r, veil_hpke_key_generate(VEIL_HPKE_KEM_X25519, &key));
    VEIL_TRY(r,
             veil_ohttp_keyconfig_for_key(key_id, key, algs, sizeof algs / sizeof algs[0], &cfg));
    VEIL_TRY(r, veil_ohttp_gateway_new(&set));
    VEIL_TRY(r, veil_ohttp_gateway_add(set, &cfg, key));
    key = NULL; /* owned by the set now */
    *out = set;
    set = NULL;
out:
    veil_hpke_key_free(key);
    veil_ohttp_gateway_free(set);
    return r;
}

/* The evidence document: the bundle (veil/evidence.h) plus a "veil_gateway"
 * member saying what REPORT_DATA binds (its parser ignores unknown members,
 * so `veil verify` reads the document as it is). */
static veil_result make_evidence_for(veil_gateway *gw, const veil_buf *keys_body,
                                     const uint8_t keys_sha256[32], const uint8_t *nonce,
                                     size_t nonce_len, veil_buf *out)
{
    veil_result r = VEIL_OK;
    veil_evidence ev;
    veil_buf raw, keys64;
    json_t *doc = NULL;
    char *text = NULL;
    uint8_t rd[64];
    char nonce_hex[2 * VEIL_GATEWAY_NONCE_MAX + 1], keys_hex[65], rd_hex[129];

    veil_evidence_init(&ev);
    veil_buf_init(&raw, VEIL_EVIDENCE_MAX_JSON);
    veil_buf_init(&keys64, 0);
    VEIL_TRY(r, veil_gateway_report_data(nonce, nonce_len, keys_sha256, rd));
    pthread_mutex_lock(&gw->att_mu);
    r = veil_attester_evidence(gw->attester, rd, gw->vmpl, &ev);
    pthread_mutex_unlock(&gw->att_mu);
    if (!veil_ok(r))
        goto out;
    VEIL_TRY(r, veil_evidence_write(&ev, &raw));
    VEIL_TRY(r, veil_base64_encode(keys_body->data, keys_body->len, &keys64));
    VEIL_TRY(r, veil_buf_u8(&keys64, 0));
    doc = json_loadb((const char *)raw.data, raw.len, 0, NULL);
    VEIL_ENSURE_GOTO(r, json_is_object(doc), VEIL_E_INTERNAL,
                     "gateway: the evidence bundle is not a JSON object");
    veil_hex_encode(nonce, nonce_len, nonce_hex);
    veil_hex_encode(keys_sha256, 32, keys_hex);
    veil_hex_encode(rd, 64, rd_hex);
    VEIL_ENSURE_GOTO(
        r,
        json_object_set_new(doc, "veil_gateway",
                            json_pack("{s:s,s:s,s:s,s:s,s:s}", "label", VEIL_GATEWAY_ATTEST_LABEL,
                                      "nonce", nonce_hex, "ohttp_keys", (const char *)keys64.data,
                                      "ohttp_keys_sha256", keys_hex, "report_data", rd_hex)) == 0,
        VEIL_E_NOMEM, "gateway: out of memory");
    text = veil_json_dump(doc);
    VEIL_ENSURE_GOTO(r, text, VEIL_E_NOMEM, "gateway: out of memory");
    VEIL_TRY(r, veil_buf_append(out, text, strlen(text)));
out:
    veil_free(text);
    json_decref(doc);
    veil_evidence_free(&ev);
    veil_buf_free(&raw);
    veil_buf_free(&keys64);
    return r;
}

/* Fresh evidence for the keys served now. */
static veil_result make_evidence(veil_gateway *gw, const uint8_t *nonce, size_t nonce_len,
                                 veil_buf *out)
{
    pthread_rwlock_rdlock(&gw->keys_lock);
    veil_result r = make_evidence_for(gw, &gw->keys_body, gw->keys_sha256, nonce, nonce_len, out);
    pthread_rwlock_unlock(&gw->keys_lock);
    return r;
}

/* ---- in-flight slots ---------------------------------------------------------------------- */

/* Requests and evidence requests have separate pools of max_concurrent, so
 * that a gateway busy answering can still be attested. */
static bool slot_take_in(atomic_uint *pool, unsigned max)
{
    unsigned cur = atomic_load(pool);
    for (int i = 0; i < 1000; i++) { /* bounded CAS loop */
        if (cur >= max)
            return false;
        if (atomic_compare_exchange_weak(pool, &cur, cur + 1))
            return true;
    }
    return false;
}

static bool slot_take(veil_gateway *gw)
{
    return slot_take_in(&gw->m.in_flight, gw->max_concurrent);
}
static void slot_give(veil_gateway *gw) { atomic_fetch_sub(&gw->m.in_flight, 1); }

/* ---- clear-text answers (before decapsulation only) --------------------------------------- */

static void answer_error(veil_gateway *gw, veil_http_response *resp, gw_error cls, unsigned status,
                         const char *slug, const char *detail)
{
    gw_metrics_error(&gw->m, cls);
    veil_http_problem(resp, status, slug, NULL, detail);
}

/* RFC 9458 §5.2/§5.3: an unknown key id (or a suite the key does not offer)
 * is the client's cue to refetch the key configuration: 422 with the
 * "ohttp-key" problem type; anything else that stops decapsulation: 400. */
static void answer_decap_failure(veil_gateway *gw, veil_http_response *resp,
                                 veil_ohttp_decap_error why, veil_result r)
{
    if (why == VEIL_OHTTP_DECAP_UNKNOWN_KEY || why == VEIL_OHTTP_DECAP_UNSUPPORTED_SUITE) {
        char body[512];
        int n = snprintf(body, sizeof body,
                         "{\"type\":\"%s\",\"title\":\"%s\",\"status\":422,\"detail\":\"%s\"}",
                         PROBLEM_OHTTP_KEY,
                         why == VEIL_OHTTP_DECAP_UNKNOWN_KEY ? "key identifier unknown"
                                                             : "key configuration not supported",
                         "fetch the gateway's key configuration (GET /ohttp-keys) again");
        gw_metrics_error(&gw->m, GW_ERR_KEY_ID);
        veil_http_resp_set(resp, 422, VEIL_HTTP_MT_PROBLEM, body,
                           n > 0 && (size_t)n < sizeof body ? (size_t)n : 0);
        return;
    }
    /* r.msg is a static sentence naming the malformation, never data. */
    answer_error(gw, resp, GW_ERR_DECAPSULATION, 400, "ohttp-decapsulation",
                 r.msg ? r.msg : "the encapsulated request could not be decapsulated");
}

/* ---- inner answers (inside the encryption) ------------------------------------------------- */

/* An OpenAI-style error, as the application writes its own. */
static veil_result inner_error(const veil_app_writer *w, unsigned status, const char *type,
                               const char *message)
{
    static const veil_app_header ct = {"content-type", "application/json"};
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"param\":null,"
                     "\"code\":null}}",
                     message, type);
    VEIL_ENSURE(n > 0 && (size_t)n < sizeof body, VEIL_E_INTERNAL, "gateway: error too long");
    VEIL_GUARD(w->head(w->arg, status, &ct, 1));
    VEIL_GUARD(w->body(w->arg, (const uint8_t *)body, (size_t)n));
    return w->end(w->arg);
}

/* The response message for a head: the application's fields, then the
 * attestation statement. */
static veil_result response_head(const veil_gateway *gw, unsigned status, const veil_app_header *h,
                                 size_t n, veil_bhttp_msg **out)
{
    veil_result r = VEIL_OK;
    veil_bhttp_msg *m = NULL;
    *out = NULL;
    VEIL_TRY(r, veil_bhttp_response_new(status, &m));
    for (size_t i = 0; i < n; i++)
        VEIL_TRY(r, veil_bhttp_add_header(m, h[i].name, strlen(h[i].name), h[i].value,
                                          strlen(h[i].value)));
    char attest[ATTEST_VALUE_MAX];
    pthread_rwlock_rdlock((pthread_rwlock_t *)&gw->keys_lock);
    memcpy(attest, gw->attest_value, sizeof attest);
    pthread_rwlock_unlock((pthread_rwlock_t *)&gw->keys_lock);
    if (attest[0])
        VEIL_TRY(r,
                 veil_bhttp_add_header(m, VEIL_GATEWAY_ATTEST_HEADER,
                                       strlen(VEIL_GATEWAY_ATTEST_HEADER), attest, strlen(attest)));
    *out = m;
    m = NULL;
out:
    veil_bhttp_msg_free(m);
    return r;
}

/* Single-shot: the writer collects the whole response. */
struct collect {
    const veil_gateway *gw;
    veil_bhttp_msg *resp;
    bool ended;
};

static veil_result collect_head(void *arg, unsigned status, const veil_app_header *h, size_t n)
{
    struct collect *c = arg;
    VEIL_ENSURE(!c->resp && !c->ended, VEIL_E_USAGE, "gateway: response head written twice");
    return response_head(c->gw, status, h, n, &c->resp);
}

static veil_result collect_body(void *arg, const uint8_t *p, size_t n)
{
    struct collect *c = arg;
    VEIL_ENSURE(c->resp && !c->ended, VEIL_E_USAGE, "gateway: response body before its head");
    return n ? veil_bhttp_append_content(c->resp, p, n) : VEIL_OK;
}

static veil_result collect_end(void *arg)
{
    struct collect *c = arg;
    VEIL_ENSURE(c->resp && !c->ended, VEIL_E_USAGE, "gateway: response ended twice");
    c->ended = true;
    return VEIL_OK;
}

/* Decode the inner request and let the application answer it; always
 * leaves a whole response in c (an inner error when anything failed). */
static void run_single(veil_gateway *gw, const uint8_t *p, size_t n, struct collect *c)
{
    veil_bhttp_msg *req = NULL;
    veil_app_writer w = {collect_head, collect_body, collect_end, c};
    veil_result r = veil_bhttp_decode(p, n, NULL, &req);
    if (!veil_ok(r) || !veil_bhttp_is_request(req)) {
        gw_metrics_error(&gw->m, GW_ERR_INNER_REQUEST);
        r = inner_error(&w, 400, "invalid_request_error",
                        "the decrypted request is not a valid Binary HTTP request");
    } else {
        r = gw->handler(gw->handler_ctx, req, &w);
    }
    veil_bhttp_msg_free(req);
    if (veil_ok(r) && c->ended)
        return;
    /* The application broke off: never pass a partial answer as whole. */
    gw_metrics_error(&gw->m, GW_ERR_APP_ABORTED);
    veil_bhttp_msg_free(c->resp);
    c->resp = NULL;
    c->ended = false;
    if (!veil_ok(inner_error(&w, 502, "server_error", "the response broke off")))
        c->ended = false;
}

static void handle_single(veil_gateway *gw, veil_http_request *req, veil_http_response *resp)
{
    size_t n = 0;
    const uint8_t *body = veil_http_req_body(req, &n);
    veil_ohttp_server_ctx *sctx = NULL;
    veil_ohttp_decap_error why = VEIL_OHTTP_DECAP_OK;
    struct collect c = {gw, NULL, false};
    veil_buf plain, inner, sealed;
    veil_buf_init(&plain, gw->max_body);
    veil_buf_init(&inner, 0);
    veil_buf_init(&sealed, 0);

    pthread_rwlock_rdlock(&gw->keys_lock);
    veil_result r = veil_ohttp_server_decap(gw->keys, body, n, &plain, &sctx, &why);
    pthread_rwlock_unlock(&gw->keys_lock);
    if (!veil_ok(r)) {
        answer_decap_failure(gw, resp, why, r);
        goto out;
    }
    run_single(gw, plain.data, plain.len, &c);
    veil_buf_free(&plain);
    r = c.ended ? veil_bhttp_encode(c.resp, VEIL_BHTTP_KNOWN_LENGTH, &inner)
                : VEIL_ERR(VEIL_E_INTERNAL, "no response");
    if (veil_ok(r))
        r = veil_ohttp_server_encap(sctx, inner.data, inner.len, &sealed);
    if (!veil_ok(r)) {
        answer_error(gw, resp, GW_ERR_INTERNAL, 500, "gateway-internal",
                     "the gateway could not encapsulate its response");
        goto out;
    }
    atomic_fetch_add(&gw->m.answered, 1);
    veil_http_resp_take(resp, 200, VEIL_OHTTP_MT_RESPONSE, &sealed);
out:
    veil_bhttp_msg_free(c.resp);
    veil_ohttp_server_ctx_free(sctx);
    veil_buf_free(&plain);
    veil_buf_free(&inner);
    veil_buf_free(&sealed);
}

/* Benchmarks only (bench_plain_endpoint): the same inner exchange as
 * handle_single without the encryption, so the two differ by OHTTP alone. */
static void handle_plain(veil_gateway *gw, veil_http_request *req, veil_http_response *resp)
{
    size_t n = 0;
    const uint8_t *body = veil_http_req_body(req, &n);
    struct collect c = {gw, NULL, false};
    veil_buf inner;
    veil_buf_init(&inner, 0);
    run_single(gw, body, n, &c);
    veil_result r = c.ended ? veil_bhttp_encode(c.resp, VEIL_BHTTP_KNOWN_LENGTH, &inner)
                            : VEIL_ERR(VEIL_E_INTERNAL, "no response");
    if (veil_ok(r)) {
        atomic_fetch_add(&gw->m.answered, 1);
        veil_http_resp_take(resp, 200, VEIL_GATEWAY_MT_BHTTP, &inner);
    } else {
        answer_error(gw, resp, GW_ERR_INTERNAL, 500, "gateway-internal",
                     "the gateway could not encode its response");
    }
    veil_bhttp_msg_free(c.resp);
    veil_buf_free(&inner);
}

/* ---- chunked: request side ---------------------------------------------------------------- */

static int chunked_body(void *ctx, const uint8_t *p, size_t n)
{
    struct exchange *ex = ctx;
    if (ex->failed)
        return 0; /* keep reading (bounded by max_body); the handler answers */
    veil_ohttp_decap_error why = VEIL_OHTTP_DECAP_OK;
    pthread_rwlock_rdlock(&ex->gw->keys_lock);
    veil_result r = veil_ohttp_chunked_server_read(ex->cs, p, n, &ex->plain, &why);
    pthread_rwlock_unlock(&ex->gw->keys_lock);
    if (!veil_ok(r)) {
        ex->failed = true;
        ex->why = why != VEIL_OHTTP_DECAP_OK ? why : VEIL_OHTTP_DECAP_MALFORMED;
        ex->fail = r;
    }
    return 0;
}

/* ---- chunked: response side (worker thread) ------------------------------------------------ */

/* Queue sealed bytes for the reader, waiting while the client lags. */
static veil_result push(struct exchange *ex, const veil_buf *sealed)
{
    veil_result r = VEIL_OK;
    int64_t deadline = mono_ms() + ex->gw->timeout_ms;
    pthread_mutex_lock(&ex->mu);
    while (ex->out.len - ex->out_off >= QUEUE_MAX && !ex->cancel &&
           !atomic_load(&ex->gw->hard_stop))
        if (!wait_slice(ex, deadline))
            break;
    if (ex->cancel || atomic_load(&ex->gw->hard_stop))
        r = VEIL_ERR(VEIL_E_INTERNAL, "gateway: the request is over");
    else if (ex->out.len - ex->out_off >= QUEUE_MAX)
        r = VEIL_ERR(VEIL_E_INTERNAL, "gateway: the client stopped reading");
    else
        r = veil_buf_append(&ex->out, sealed->data, sealed->len);
    pthread_cond_broadcast(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
    return r;
}

/* Seal one piece of the inner response as one chunk and queue it. */
static veil_result seal_push(struct exchange *ex, const veil_buf *piece, bool final)
{
    veil_result r = VEIL_OK;
    veil_buf sealed;
    veil_buf_init(&sealed, 0);
    VEIL_TRY(r, veil_ohttp_chunked_server_write(ex->cs, piece->data, piece->len, final, &sealed));
    VEIL_TRY(r, push(ex, &sealed));
    if (final) {
        pthread_mutex_lock(&ex->mu);
        ex->eof = true;
        pthread_cond_broadcast(&ex->cv);
        pthread_mutex_unlock(&ex->mu);
    }
out:
    veil_buf_free(&sealed);
    return r;
}

static veil_result stream_head(void *arg, unsigned status, const veil_app_header *h, size_t n)
{
    struct exchange *ex = arg;
    veil_result r = VEIL_OK;
    veil_bhttp_msg *m = NULL;
    veil_buf piece;
    veil_buf_init(&piece, 0);
    VEIL_ENSURE_GOTO(r, !ex->head_written, VEIL_E_USAGE, "gateway: response head written twice");
    VEIL_TRY(r, response_head(ex->gw, status, h, n, &m));
    VEIL_TRY(r, veil_bhttp_encode_head(m, &piece));
    ex->head_written = true;
    VEIL_TRY(r, seal_push(ex, &piece, false));
out:
    veil_bhttp_msg_free(m);
    veil_buf_free(&piece);
    return r;
}

static veil_result stream_body(void *arg, const uint8_t *p, size_t n)
{
    struct exchange *ex = arg;
    veil_result r = VEIL_OK;
    veil_buf piece;
    veil_buf_init(&piece, 0);
    VEIL_ENSURE_GOTO(r, ex->head_written, VEIL_E_USAGE, "gateway: response body before its head");
    if (n == 0)
        goto out; /* an empty chunk would end the content */
    VEIL_TRY(r, veil_bhttp_encode_chunk(p, n, &piece));
    VEIL_TRY(r, seal_push(ex, &piece, false));
out:
    veil_buf_free(&piece);
    return r;
}

static veil_result stream_end(void *arg)
{
    struct exchange *ex = arg;
    veil_result r = VEIL_OK;
    veil_buf piece;
    veil_buf_init(&piece, 0);
    VEIL_ENSURE_GOTO(r, ex->head_written, VEIL_E_USAGE, "gateway: response ended before its head");
    VEIL_TRY(r, veil_bhttp_encode_end(NULL, &piece));
    VEIL_TRY(r, seal_push(ex, &piece, true));
out:
    veil_buf_free(&piece);
    return r;
}

static void *worker_main(void *arg)
{
    struct exchange *ex = arg;
    veil_gateway *gw = ex->gw;
    veil_app_writer w = {stream_head, stream_body, stream_end, ex};
    veil_result r;
    if (!ex->request) {
        gw_metrics_error(&gw->m, GW_ERR_INNER_REQUEST);
        r = inner_error(&w, 400, "invalid_request_error",
                        "the decrypted request is not a valid Binary HTTP request");
    } else {
        r = gw->handler(gw->handler_ctx, ex->request, &w);
    }
    /* The request's plaintext is not needed any more. */
    veil_bhttp_msg_free(ex->request);
    ex->request = NULL;
    pthread_mutex_lock(&ex->mu);
    bool ended = ex->eof, cancelled = ex->cancel;
    pthread_mutex_unlock(&ex->mu);
    if (!ended && !ex->head_written && !cancelled)
        r = inner_error(&w, 500, "server_error", "the request could not be answered");
    pthread_mutex_lock(&ex->mu);
    if (!veil_ok(r) || !ex->eof) {
        ex->broken = true; /* the reader cuts the stream: truncation, never a clean end */
        gw_metrics_error(&gw->m, GW_ERR_APP_ABORTED);
    }
    pthread_cond_broadcast(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
    return NULL;
}

/* The response body for the connection thread. */
static ssize_t stream_read(void *ctx, uint8_t *buf, size_t cap)
{
    struct exchange *ex = ctx;
    ssize_t n = VEIL_HTTP_STREAM_ERROR;
    int64_t deadline = mono_ms() + ex->gw->timeout_ms;
    pthread_mutex_lock(&ex->mu);
    while (ex->out.len == ex->out_off && !ex->eof && !ex->broken &&
           !atomic_load(&ex->gw->hard_stop))
        if (!wait_slice(ex, deadline)) {
            ex->broken = true; /* the application went quiet for too long */
            break;
        }
    if (atomic_load(&ex->gw->hard_stop)) {
        n = VEIL_HTTP_STREAM_ERROR;
    } else if (ex->out.len > ex->out_off) {
        size_t k = ex->out.len - ex->out_off < cap ? ex->out.len - ex->out_off : cap;
        memcpy(buf, ex->out.data + ex->out_off, k);
        ex->out_off += k;
        if (ex->out_off == ex->out.len) {
            veil_buf_clear(&ex->out);
            ex->out_off = 0;
        }
        n = (ssize_t)k;
        pthread_cond_broadcast(&ex->cv);
    } else if (ex->eof && !ex->broken) {
        n = 0;
        if (!ex->answered)
            atomic_fetch_add(&ex->gw->m.answered, 1);
        ex->answered = true;
    }
    pthread_mutex_unlock(&ex->mu);
    return n;
}

static void handle_chunked(veil_gateway *gw, struct exchange *ex, veil_http_response *resp)
{
    veil_result r;
    if (!ex->failed) {
        pthread_rwlock_rdlock(&gw->keys_lock);
        r = veil_ohttp_chunked_server_finish(ex->cs, &ex->plain);
        pthread_rwlock_unlock(&gw->keys_lock);
        if (!veil_ok(r)) {
            ex->failed = true;
            ex->why = VEIL_OHTTP_DECAP_MALFORMED;
            ex->fail = r;
        }
    }
    if (ex->failed) {
        answer_decap_failure(gw, resp, ex->why, ex->fail);
        return;
    }
    r = veil_bhttp_decode(ex->plain.data, ex->plain.len, NULL, &ex->request);
    if (veil_ok(r) && !veil_bhttp_is_request(ex->request)) {
        veil_bhttp_msg_free(ex->request);
        ex->request = NULL; /* the worker answers 400, encrypted */
    }
    veil_buf_free(&ex->plain);
    if (pthread_create(&ex->worker, NULL, worker_main, ex) != 0) {
        answer_error(gw, resp, GW_ERR_INTERNAL, 500, "gateway-internal",
                     "the gateway could not start a worker");
        return;
    }
    ex->worker_started = true;
    veil_http_resp_stream(resp, 200, VEIL_OHTTP_MT_CHUNKED_RESPONSE, stream_read, ex);
    veil_http_resp_header(resp, "Incremental", "?1");
}

/* ---- per-request state ------------------------------------------------------------------- */

static void exchange_free(void *p)
{
    struct exchange *ex = p;
    if (!ex)
        return;
    pthread_mutex_lock(&ex->mu);
    ex->cancel = true;
    pthread_cond_broadcast(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
    if (ex->worker_started)
        pthread_join(ex->worker, NULL);
    gw_metrics_observe(&ex->gw->m, (uint64_t)(mono_us() - ex->t0_us));
    slot_give(ex->gw);
    veil_ohttp_chunked_server_free(ex->cs);
    veil_bhttp_msg_free(ex->request);
    veil_buf_free(&ex->plain);
    veil_buf_free(&ex->out);
    pthread_cond_destroy(&ex->cv);
    pthread_mutex_destroy(&ex->mu);
    veil_free_wiped(ex, sizeof *ex);
}

static struct exchange *exchange_new(veil_gateway *gw, bool chunked)
{
    struct exchange *ex = veil_calloc(1, sizeof *ex);
    if (!ex)
        return NULL;
    ex->gw = gw;
    ex->chunked = chunked;
    ex->t0_us = mono_us();
    veil_buf_init(&ex->plain, gw->max_body);
    veil_buf_init(&ex->out, 0);
    pthread_mutex_init(&ex->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ex->cv, &ca);
    pthread_condattr_destroy(&ca);
    return ex;
}

/* ---- routing ------------------------------------------------------------------------------- */

/* An in-flight slot and the per-request state, or the answer saying why
 * not (NULL). */
static struct exchange *exchange_begin(veil_gateway *gw, veil_http_request *req,
                                       veil_http_response *resp, bool chunked)
{
    if (!slot_take(gw)) {
        veil_http_resp_header(resp, "Retry-After", "1");
        answer_error(gw, resp, GW_ERR_BUSY, 503, "gateway-busy",
                     "too many requests in flight; retry shortly");
        return NULL;
    }
    struct exchange *ex = exchange_new(gw, chunked);
    if (!ex) {
        slot_give(gw);
        answer_error(gw, resp, GW_ERR_INTERNAL, 500, "gateway-internal", "out of memory");
        return NULL;
    }
    veil_http_req_set_state(req, ex, exchange_free);
    return ex;
}

/* Benchmarks only: the plain endpoint takes an in-flight slot and per-request
 * state exactly as POST /gateway does, so both pay the same bookkeeping. */
static void plain_begin(veil_gateway *gw, veil_http_request *req, veil_http_response *resp)
{
    gw_metrics_request(&gw->m, GW_EP_OTHER);
    const char *ct = veil_http_req_header(req, "Content-Type");
    if (!ct || !veil_http_content_type_is(ct, VEIL_GATEWAY_MT_BHTTP)) {
        answer_error(gw, resp, GW_ERR_MEDIA_TYPE, 415, "unsupported-media-type",
                     "this endpoint takes message/bhttp");
        return;
    }
    (void)exchange_begin(gw, req, resp, false);
}

static void gw_begin(void *ctx, veil_http_request *req, veil_http_response *resp)
{
    veil_gateway *gw = ctx;
    if (gw->bench_plain && !strcmp(veil_http_req_path(req), VEIL_GATEWAY_PLAIN_PATH) &&
        !strcmp(veil_http_req_method(req), "POST")) {
        plain_begin(gw, req, resp);
        return;
    }
    if (strcmp(veil_http_req_path(req), VEIL_GATEWAY_PATH) != 0 ||
        strcmp(veil_http_req_method(req), "POST") != 0)
        return; /* the handler answers */
    gw_metrics_request(&gw->m, GW_EP_GATEWAY);
    const char *ct = veil_http_req_header(req, "Content-Type");
    bool single = ct && veil_http_content_type_is(ct, VEIL_OHTTP_MT_REQUEST);
    bool chunked = ct && veil_http_content_type_is(ct, VEIL_OHTTP_MT_CHUNKED_REQUEST);
    if (!single && !chunked) {
        answer_error(gw, resp, GW_ERR_MEDIA_TYPE, 415, "unsupported-media-type",
                     "POST /gateway takes message/ohttp-req or message/ohttp-chunked-req");
        return;
    }
    struct exchange *ex = exchange_begin(gw, req, resp, chunked);
    if (!ex)
        return;
    atomic_fetch_add(chunked ? &gw->m.ohttp_chunked : &gw->m.ohttp_single, 1);
    if (!chunked)
        return;
    veil_result r = veil_ohttp_chunked_server_new(gw->keys, 0, &ex->cs);
    if (!veil_ok(r)) {
        ex->failed = true;
        ex->why = VEIL_OHTTP_DECAP_MALFORMED;
        ex->fail = r;
    }
    veil_http_req_stream_body(req, chunked_body, ex);
}

static void handle_attestation(veil_gateway *gw, veil_http_request *req, veil_http_response *resp)
{
    const char *hex = veil_http_req_query_param(req, "nonce");
    veil_buf nonce, doc;
    veil_buf_init(&nonce, VEIL_GATEWAY_NONCE_MAX);
    veil_buf_init(&doc, VEIL_EVIDENCE_MAX_JSON + 4096);
    if (hex &&
        (strlen(hex) < 2 * VEIL_GATEWAY_NONCE_MIN || strlen(hex) > 2 * VEIL_GATEWAY_NONCE_MAX ||
         !veil_ok(veil_hex_decode(hex, strlen(hex), &nonce)))) {
        answer_error(gw, resp, GW_ERR_BAD_NONCE, 400, "bad-nonce",
                     "nonce must be 32 to 128 hex digits (16 to 64 bytes)");
        goto out;
    }
    if (!gw->attester) {
        answer_error(gw, resp, GW_ERR_ATTESTATION, 503, "no-attester",
                     "this gateway was started without an attester");
        goto out;
    }
    if (!hex) { /* the bundle made at start, which veil-attestation names */
        pthread_rwlock_rdlock(&gw->keys_lock);
        veil_http_resp_set(resp, 200, VEIL_HTTP_MT_JSON, gw->boot_evidence.data,
                           gw->boot_evidence.len);
        pthread_rwlock_unlock(&gw->keys_lock);
        goto out;
    }
    if (!slot_take_in(&gw->attest_in_flight, gw->max_concurrent)) {
        veil_http_resp_header(resp, "Retry-After", "1");
        answer_error(gw, resp, GW_ERR_BUSY, 503, "gateway-busy",
                     "too many evidence requests in flight; retry shortly");
        goto out;
    }
    veil_result r = make_evidence(gw, nonce.data, nonce.len, &doc);
    atomic_fetch_sub(&gw->attest_in_flight, 1);
    if (!veil_ok(r)) {
        answer_error(gw, resp, GW_ERR_ATTESTATION, 500, "attestation-failed",
                     r.msg ? r.msg : "the attester failed");
        goto out;
    }
    atomic_fetch_add(&gw->m.attestations, 1);
    veil_http_resp_take(resp, 200, VEIL_HTTP_MT_JSON, &doc);
    veil_http_resp_header(resp, "Cache-Control", "no-store");
out:
    veil_buf_free(&nonce);
    veil_buf_free(&doc);
}

static void handle_metrics(veil_gateway *gw, veil_http_response *resp)
{
    veil_buf text;
    veil_buf_init(&text, 0);
    if (veil_ok(veil_gateway_metrics(gw, &text)))
        veil_http_resp_take(resp, 200, MT_PROMETHEUS, &text);
    else
        answer_error(gw, resp, GW_ERR_INTERNAL, 500, "gateway-internal", "metrics failed");
    veil_buf_free(&text);
}

static void gw_handler(void *ctx, veil_http_request *req, veil_http_response *resp)
{
    veil_gateway *gw = ctx;
    const char *path = veil_http_req_path(req), *method = veil_http_req_method(req);
    static const struct {
        const char *path;
        gw_endpoint ep;
    } gets[] = {{"/ohttp-keys", GW_EP_KEYS},
                {"/v1/attestation", GW_EP_ATTESTATION},
                {"/healthz", GW_EP_HEALTH},
                {"/metrics", GW_EP_METRICS}};

    if (gw->bench_plain && !strcmp(path, VEIL_GATEWAY_PLAIN_PATH)) {
        if (strcmp(method, "POST") != 0 || !veil_http_req_state(req)) {
            veil_http_resp_header(resp, "Allow", "POST");
            answer_error(gw, resp, GW_ERR_METHOD, 405, NULL, "POST only");
        } else {
            handle_plain(gw, req, resp);
        }
        return;
    }
    if (!strcmp(path, VEIL_GATEWAY_PATH)) {
        struct exchange *ex = veil_http_req_state(req);
        if (strcmp(method, "POST") != 0 || !ex) {
            gw_metrics_request(&gw->m, GW_EP_OTHER);
            veil_http_resp_header(resp, "Allow", "POST");
            answer_error(gw, resp, GW_ERR_METHOD, 405, NULL, "POST /gateway only");
        } else if (ex->chunked) {
            handle_chunked(gw, ex, resp);
        } else {
            handle_single(gw, req, resp);
        }
        return;
    }
    for (size_t i = 0; i < sizeof gets / sizeof gets[0]; i++) {
        if (strcmp(path, gets[i].path) != 0)
            continue;
        gw_metrics_request(&gw->m, gets[i].ep);
        if (strcmp(method, "GET") != 0) {
            veil_http_resp_header(resp, "Allow", "GET");
            answer_error(gw, resp, GW_ERR_METHOD, 405, NULL, "GET only");
        } else if (gets[i].ep == GW_EP_KEYS) {
            pthread_rwlock_rdlock(&gw->keys_lock);
            veil_http_resp_set(resp, 200, VEIL_OHTTP_MT_KEYS, gw->keys_body.data,
                               gw->keys_body.len);
            pthread_rwlock_unlock(&gw->keys_lock);
            veil_http_resp_header(resp, "Cache-Control", KEYS_CACHE_CONTROL);
        } else if (gets[i].ep == GW_EP_ATTESTATION) {
            handle_attestation(gw, req, resp);
        } else if (gets[i].ep == GW_EP_HEALTH) {
            static const char ok[] = "{\"status\":\"ok\"}";
            veil_http_resp_set(resp, 200, VEIL_HTTP_MT_JSON, ok, sizeof ok - 1);
        } else {
            handle_metrics(gw, resp);
        }
        return;
    }
    gw_metrics_request(&gw->m, GW_EP_OTHER);
    answer_error(gw, resp, GW_ERR_NOT_FOUND, 404, NULL, "no such endpoint");
}

static void gw_on_abort(void *ctx)
{
    veil_gateway *gw = ctx;
    atomic_store(&gw->hard_stop, true);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

/* "<hex SHA-256 of the start bundle>; keys=<hex SHA-256 of the keys body>" */
static void attest_value_set(char out[ATTEST_VALUE_MAX], const uint8_t ev_sha[32],
                             const uint8_t keys_sha[32])
{
    char ev_hex[65], keys_hex[65];
    veil_hex_encode(ev_sha, 32, ev_hex);
    veil_hex_encode(keys_sha, 32, keys_hex);
    snprintf(out, ATTEST_VALUE_MAX, "%s; keys=%s", ev_hex, keys_hex);
}

static void gateway_free(veil_gateway *gw)
{
    if (!gw)
        return;
    veil_ohttp_gateway_free(gw->keys);
    veil_buf_free(&gw->keys_body);
    veil_buf_free(&gw->boot_evidence);
    pthread_mutex_destroy(&gw->att_mu);
    pthread_rwlock_destroy(&gw->keys_lock);
    veil_free_wiped(gw, sizeof *gw);
}

veil_result veil_gateway_start(const veil_gateway_config *cfg, veil_gateway **out)
{
    veil_result r = VEIL_OK;
    veil_gateway *gw = NULL;
    VEIL_ENSURE(out, VEIL_E_USAGE, "gateway: missing argument");
    *out = NULL;
    VEIL_ENSURE(cfg && cfg->keys && cfg->handler, VEIL_E_USAGE,
                "gateway: keys and an application handler are required");
    gw = veil_calloc(1, sizeof *gw);
    VEIL_ENSURE(gw, VEIL_E_NOMEM, "gateway: out of memory");
    pthread_mutex_init(&gw->att_mu, NULL);
    pthread_rwlock_init(&gw->keys_lock, NULL);
    veil_buf_init(&gw->keys_body, 0);
    veil_buf_init(&gw->boot_evidence, VEIL_EVIDENCE_MAX_JSON + 4096);
    gw_metrics_init(&gw->m);
    atomic_init(&gw->hard_stop, false);
    atomic_init(&gw->attest_in_flight, 0);
    gw->keys = cfg->keys; /* borrowed until the start succeeds */
    gw->attester = cfg->attester;
    gw->vmpl = cfg->vmpl;
    gw->handler = cfg->handler;
    gw->handler_ctx = cfg->handler_ctx;
    gw->max_body = cfg->max_body ? cfg->max_body : VEIL_GATEWAY_DEFAULT_MAX_BODY;
    gw->max_concurrent =
        cfg->max_concurrent ? cfg->max_concurrent : VEIL_GATEWAY_DEFAULT_MAX_CONCURRENT;
    gw->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : VEIL_GATEWAY_DEFAULT_TIMEOUT_MS;
    gw->bench_plain = cfg->bench_plain_endpoint;

    VEIL_TRY(r, veil_ohttp_gateway_keys(cfg->keys, &gw->keys_body));
    VEIL_TRY(r, veil_sha256(gw->keys_body.data, gw->keys_body.len, gw->keys_sha256));
    if (gw->attester) {
        VEIL_TRY(r, make_evidence(gw, NULL, 0, &gw->boot_evidence));
        VEIL_TRY(r,
                 veil_sha256(gw->boot_evidence.data, gw->boot_evidence.len, gw->evidence_sha256));
        gw->attest_header = cfg->attestation_header;
        if (gw->attest_header)
            attest_value_set(gw->attest_value, gw->evidence_sha256, gw->keys_sha256);
    }
    veil_http_server_config hc = {
        .address = cfg->address,
        .port = cfg->port,
        .max_connections =
            cfg->max_connections ? cfg->max_connections : 4 * gw->max_concurrent + 16,
        .timeout_s = IDLE_TIMEOUT_S,
        .max_body = gw->max_body,
        .stop_grace_ms = cfg->stop_grace_ms ? cfg->stop_grace_ms : DEFAULT_STOP_GRACE_MS,
        .begin = gw_begin,
        .handler = gw_handler,
        .on_abort = gw_on_abort,
        .ctx = gw,
    };
    VEIL_TRY(r, veil_http_server_start(&hc, &gw->srv));
    *out = gw; /* the keys are the gateway's from here on */
    gw = NULL;
out:
    if (gw) {
        gw->keys = NULL; /* still the caller's */
        gateway_free(gw);
    }
    return r;
}

uint16_t veil_gateway_port(const veil_gateway *gw)
{
    return gw ? veil_http_server_port(gw->srv) : 0;
}

void veil_gateway_keys_sha256(const veil_gateway *gw, uint8_t out[32])
{
    pthread_rwlock_rdlock((pthread_rwlock_t *)&gw->keys_lock);
    memcpy(out, gw->keys_sha256, 32);
    pthread_rwlock_unlock((pthread_rwlock_t *)&gw->keys_lock);
}

veil_result veil_gateway_keys(const veil_gateway *gw, veil_buf *out)
{
    pthread_rwlock_rdlock((pthread_rwlock_t *)&gw->keys_lock);
    veil_result r = veil_buf_append(out, gw->keys_body.data, gw->keys_body.len);
    pthread_rwlock_unlock((pthread_rwlock_t *)&gw->keys_lock);
    return r;
}

veil_result veil_gateway_update_keys(veil_gateway *gw, veil_ohttp_gateway *fresh, bool *changed)
{
    veil_result r = VEIL_OK;
    veil_buf body, boot;
    uint8_t sha[32], ev_sha[32] = {0};
    veil_buf_init(&body, 0);
    veil_buf_init(&boot, VEIL_EVIDENCE_MAX_JSON + 4096);
    if (changed)
        *changed = false;
    VEIL_ENSURE_GOTO(r, gw && fresh, VEIL_E_USAGE, "gateway: missing argument");
    VEIL_TRY(r, veil_ohttp_gateway_keys(fresh, &body));
    VEIL_ENSURE_GOTO(r, body.len > 0, VEIL_E_USAGE, "gateway: a rotation must leave some key");
    VEIL_TRY(r, veil_sha256(body.data, body.len, sha));
    uint8_t now[32];
    veil_gateway_keys_sha256(gw, now);
    if (veil_public_equal(now, 32, sha, 32))
        goto out; /* nothing changed */
    /* evidence for the new list first, so readers never see a mismatch */
    if (gw->attester) {
        VEIL_TRY(r, make_evidence_for(gw, &body, sha, NULL, 0, &boot));
        VEIL_TRY(r, veil_sha256(boot.data, boot.len, ev_sha));
    }
    pthread_rwlock_wrlock(&gw->keys_lock);
    veil_ohttp_gateway_update(gw->keys, fresh);
    fresh = NULL;
    veil_buf tmp = gw->keys_body;
    gw->keys_body = body;
    body = tmp;
    memcpy(gw->keys_sha256, sha, 32);
    if (gw->attester) {
        tmp = gw->boot_evidence;
        gw->boot_evidence = boot;
        boot = tmp;
        memcpy(gw->evidence_sha256, ev_sha, 32);
        if (gw->attest_header)
            attest_value_set(gw->attest_value, gw->evidence_sha256, gw->keys_sha256);
    }
    pthread_rwlock_unlock(&gw->keys_lock);
    if (changed)
        *changed = true;
out:
    veil_ohttp_gateway_free(fresh);
    veil_buf_free(&body);
    veil_buf_free(&boot);
    return r;
}

void veil_gateway_evidence_sha256(const veil_gateway *gw, uint8_t out[32])
{
    memcpy(out, gw->evidence_sha256, 32);
}

veil_result veil_gateway_metrics(const veil_gateway *gw, veil_buf *out)
{
    VEIL_ENSURE(gw && out, VEIL_E_USAGE, "gateway: missing argument");
    return gw_metrics_render((gw_metrics *)&gw->m, gw->max_concurrent, out);
}

void veil_gateway_counters_get(const veil_gateway *gw, veil_gateway_counters *out)
{
    gw_metrics *m = (gw_metrics *)&gw->m;
    out->requests = atomic_load(&m->requests[GW_EP_GATEWAY]);
    out->answered = atomic_load(&m->answered);
    out->key_errors = atomic_load(&m->errors[GW_ERR_KEY_ID]);
    out->decap_errors = atomic_load(&m->errors[GW_ERR_DECAPSULATION]);
    out->busy = atomic_load(&m->errors[GW_ERR_BUSY]);
    out->aborted = atomic_load(&m->errors[GW_ERR_APP_ABORTED]);
    out->attestations = atomic_load(&m->attestations);
}

void veil_gateway_stop(veil_gateway *gw)
{
    if (!gw)
        return;
    veil_http_server_stop(gw->srv);
    gateway_free(gw);
}
