/* Exchanges through the relay: single-shot (RFC 9458 §4.3-4.4) and chunked
 * (draft-ietf-ohai-chunked-ohttp-08), always to the attested configuration. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client/client_internal.h"
#include "crypto/digest.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/rand.h"

#define UPLOAD_CHUNK ((size_t)64 << 10) /* request chunk size (chunked OHTTP) */
#define ERROR_BODY_MAX ((size_t)16 << 10)

/* ---- transport -------------------------------------------------------------------------- */

struct xfer {
    veil_client *c;
    const uint8_t *body;
    size_t len, off;
    bool sent, head;
    int64_t sent_ms;
    long status;
    char content_type[VEIL_HTTP_CONTENT_TYPE_MAX];
    int (*on_head)(void *, long, const char *);
    int (*on_body)(void *, const uint8_t *, size_t);
    void *ctx;
    uint64_t received;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void progress(const veil_client *c, veil_client_phase ph, uint64_t done, uint64_t total)
{
    if (c->progress)
        c->progress(c->progress_ctx, ph, done, total);
}

static ssize_t xfer_read(void *ctx, uint8_t *buf, size_t cap)
{
    struct xfer *x = ctx;
    size_t n = x->len - x->off < cap ? x->len - x->off : cap;
    if (n)
        memcpy(buf, x->body + x->off, n);
    x->off += n;
    x->c->bytes_sent += n;
    progress(x->c, VEIL_CLIENT_UPLOAD, x->off, x->len);
    if (x->off == x->len && !x->sent) {
        x->sent = true;
        x->sent_ms = now_ms();
    }
    return (ssize_t)n;
}

static int xfer_head(void *ctx, long status, const char *content_type)
{
    struct xfer *x = ctx;
    x->head = true;
    x->status = status;
    snprintf(x->content_type, sizeof x->content_type, "%s", content_type ? content_type : "");
    return x->on_head ? x->on_head(x->ctx, status, x->content_type) : 0;
}

static int xfer_body(void *ctx, const uint8_t *p, size_t n)
{
    struct xfer *x = ctx;
    x->received += n;
    x->c->bytes_received += n;
    progress(x->c, VEIL_CLIENT_DOWNLOAD, x->received, 0);
    return x->on_body(x->ctx, p, n);
}

static bool xfer_cancelled(void *ctx)
{
    struct xfer *x = ctx;
    if (x->sent && !x->head)
        progress(x->c, VEIL_CLIENT_WAITING, (uint64_t)(now_ms() - x->sent_ms), 0);
    return false;
}

veil_result client_post(veil_client *c, const char *media_type, const uint8_t *body, size_t len,
                        int (*on_head)(void *, long, const char *),
                        int (*on_body)(void *, const uint8_t *, size_t), void *ctx, long *status,
                        char *content_type, size_t ct_cap)
{
    static const veil_http_header incremental = {"Incremental", "?1"};
    struct xfer x = {
        .c = c, .body = body, .len = len, .on_head = on_head, .on_body = on_body, .ctx = ctx};
    bool chunked = !strcmp(media_type, VEIL_OHTTP_MT_CHUNKED_REQUEST);
    veil_http_client_request req = {.method = "POST",
                                    .url = c->relay_url,
                                    .content_type = media_type,
                                    .headers = chunked ? &incremental : NULL,
                                    .n_headers = chunked ? 1 : 0,
                                    .read_body = xfer_read,
                                    .read_ctx = &x,
                                    .read_len = len};
    veil_http_client_sink sink = {xfer_head, xfer_body, xfer_cancelled, &x};
    veil_http_client_response resp;
    memset(&resp, 0, sizeof resp);
    veil_result r = veil_http_fetch_stream(&req, &c->http, &sink, &resp);
    *status = resp.status;
    snprintf(content_type, ct_cap, "%s", resp.content_type);
    if (!veil_ok(r) && resp.failure != VEIL_HTTP_FAIL_ABORTED) {
        switch (resp.failure) {
        case VEIL_HTTP_FAIL_CONNECT:
            r = VEIL_ERR(VEIL_E_PROTOCOL, "relay: unreachable (connection failed)");
            break;
        case VEIL_HTTP_FAIL_TIMEOUT: r = VEIL_ERR(VEIL_E_PROTOCOL, "relay: timed out"); break;
        case VEIL_HTTP_FAIL_TOO_LARGE:
            r = VEIL_ERR(VEIL_E_PROTOCOL, "relay: the response is larger than allowed");
            break;
        case VEIL_HTTP_FAIL_TLS:
            r = VEIL_ERR(VEIL_E_PROTOCOL, "relay: TLS handshake or certificate check failed");
            break;
        default:
            r = VEIL_ERR(VEIL_E_PROTOCOL, "relay: the exchange broke off (truncated response)");
            break;
        }
    }
    veil_http_client_response_free(&resp);
    return r;
}

veil_result client_outer_error(long status, const char *content_type)
{
    if (status == 422)
        return VEIL_ERR(VEIL_E_PROTOCOL,
                        "ohttp-key: the gateway does not hold the attested key (it may have "
                        "restarted or rotated keys); verify again");
    if (status == 400)
        return VEIL_ERR(VEIL_E_PROTOCOL,
                        "decapsulation: the gateway could not decapsulate the request");
    if (status == 413)
        return VEIL_ERR(VEIL_E_PROTOCOL, "relay: the request is too large for the relay or "
                                         "gateway");
    if (status == 429)
        return VEIL_ERR(VEIL_E_PROTOCOL, "relay: rate limited; retry later");
    if (status == 503)
        return VEIL_ERR(VEIL_E_PROTOCOL, "relay: the gateway is busy (503); retry later");
    if (status == 502 || status == 504)
        return VEIL_ERR(VEIL_E_PROTOCOL, "relay: the gateway is unreachable or timed out");
    if (status == 200)
        return VEIL_ERR(VEIL_E_PROTOCOL, "relay: the response has the wrong media type");
    (void)content_type;
    return VEIL_ERR(VEIL_E_PROTOCOL, "relay: the relay or gateway answered with an error");
}

/* ---- single-shot ------------------------------------------------------------------------ */

static int collect(void *ctx, const uint8_t *p, size_t n)
{
    return veil_ok(veil_buf_append(ctx, p, n)) ? 0 : 1;
}

veil_result veil_client_request(veil_client *c, const veil_bhttp_msg *req, veil_bhttp_msg **resp)
{
    veil_result r = VEIL_OK;
    veil_buf inner, enc, body, plain;
    veil_ohttp_client_ctx *cctx = NULL;
    veil_bhttp_msg *m = NULL;
    long status = 0;
    char ct[VEIL_HTTP_CONTENT_TYPE_MAX];
    const uint8_t *content;
    size_t clen = 0;

    veil_buf_init(&inner, 0);
    veil_buf_init(&enc, 0);
    veil_buf_init(&body, 0);
    veil_buf_init(&plain, 0);
    VEIL_ENSURE(resp, VEIL_E_USAGE, "client: missing argument");
    *resp = NULL;
    VEIL_ENSURE(c && req && veil_bhttp_is_request(req), VEIL_E_USAGE,
                "client: a request message is required");
    VEIL_ENSURE(c->verified, VEIL_E_USAGE,
                "client: the gateway is not verified (veil_client_verify must succeed first)");
    body.max = c->http.max_response;
    c->have_exchange = false;
    VEIL_TRY(r, veil_bhttp_encode(req, VEIL_BHTTP_KNOWN_LENGTH, &inner));
    VEIL_TRY(r, veil_sha256(inner.data, inner.len, c->request_sha256));
    VEIL_TRY(r, veil_ohttp_client_encap(&c->cfgs[c->cfg_index], &c->suite, inner.data, inner.len,
                                        &enc, &cctx));
    veil_buf_free(&inner);
    VEIL_TRY(r, client_post(c, VEIL_OHTTP_MT_REQUEST, enc.data, enc.len, NULL, collect, &body,
                            &status, ct, sizeof ct));
    if (status != 200 || !veil_http_content_type_is(ct, VEIL_OHTTP_MT_RESPONSE)) {
        r = client_outer_error(status, ct);
        goto out;
    }
    r = veil_ohttp_client_decap(cctx, body.data, body.len, &plain);
    VEIL_ENSURE_GOTO(r, veil_ok(r), VEIL_E_CRYPTO,
                     "decapsulation: the response failed to authenticate");
    r = veil_bhttp_decode(plain.data, plain.len, NULL, &m);
    VEIL_ENSURE_GOTO(r, veil_ok(r) && !veil_bhttp_is_request(m), VEIL_E_PROTOCOL,
                     "bhttp: the decrypted response is not a valid Binary HTTP response");
    content = veil_bhttp_content(m, &clen);
    VEIL_TRY(r, veil_sha256(content ? content : (const uint8_t *)"", clen, c->response_sha256));
    c->have_exchange = true;
    *resp = m;
    m = NULL;
out:
    veil_bhttp_msg_free(m);
    veil_ohttp_client_ctx_free(cctx);
    veil_buf_free(&inner);
    veil_buf_free(&enc);
    veil_buf_free(&body);
    veil_buf_free(&plain);
    return r;
}

/* ---- chunked ------------------------------------------------------------------------------ */

struct stream_ctx {
    veil_ohttp_chunked_client *cc;
    rstream rs;
    bool is_stream;      /* the outer answer is a chunked OHTTP response */
    veil_buf error_body; /* a problem answer, kept small */
    veil_buf plain;
    veil_result err;
};

static int stream_head(void *ctx, long status, const char *content_type)
{
    struct stream_ctx *s = ctx;
    s->is_stream =
        status == 200 && veil_http_content_type_is(content_type, VEIL_OHTTP_MT_CHUNKED_RESPONSE);
    return 0;
}

static int stream_body(void *ctx, const uint8_t *p, size_t n)
{
    struct stream_ctx *s = ctx;
    if (!s->is_stream)
        return veil_ok(veil_buf_append(&s->error_body, p, n)) ? 0 : 1;
    veil_buf_clear(&s->plain);
    veil_result r = veil_ohttp_chunked_client_read(s->cc, p, n, &s->plain);
    if (!veil_ok(r)) {
        s->err = VEIL_ERR(VEIL_E_CRYPTO, "decapsulation: a response chunk failed to "
                                         "authenticate");
        return 1;
    }
    r = rstream_feed(&s->rs, s->plain.data, s->plain.len);
    if (!veil_ok(r)) {
        s->err = r;
        return 1;
    }
    return 0;
}

veil_result veil_client_request_stream(veil_client *c, const veil_bhttp_msg *req,
                                       const veil_client_sink *sink)
{
    veil_result r = VEIL_OK;
    veil_buf inner, enc;
    struct stream_ctx s = {.err = VEIL_OK};
    long status = 0;
    char ct[VEIL_HTTP_CONTENT_TYPE_MAX];

    veil_buf_init(&inner, 0);
    veil_buf_init(&enc, 0);
    veil_buf_init(&s.error_body, ERROR_BODY_MAX);
    veil_buf_init(&s.plain, 0);
    rstream_init(&s.rs, sink, c ? c->http.max_response : 0);
    VEIL_ENSURE_GOTO(r, c && req && veil_bhttp_is_request(req), VEIL_E_USAGE,
                     "client: a request message is required");
    VEIL_ENSURE_GOTO(r, c->verified, VEIL_E_USAGE,
                     "client: the gateway is not verified (veil_client_verify must succeed "
                     "first)");
    c->have_exchange = false;
    VEIL_TRY(r, veil_bhttp_encode(req, VEIL_BHTTP_KNOWN_LENGTH, &inner));
    VEIL_TRY(r, veil_sha256(inner.data, inner.len, c->request_sha256));
    VEIL_TRY(r, veil_ohttp_chunked_client_new(&c->cfgs[c->cfg_index], &c->suite, 0, &enc, &s.cc));
    for (size_t off = 0, i = 0; i <= inner.len / UPLOAD_CHUNK + 1; i++) {
        size_t n = inner.len - off < UPLOAD_CHUNK ? inner.len - off : UPLOAD_CHUNK;
        bool final = off + n == inner.len;
        VEIL_TRY(r, veil_ohttp_chunked_client_write(s.cc, inner.data + off, n, final, &enc));
        off += n;
        if (final)
            break;
    }
    veil_buf_free(&inner);
    r = client_post(c, VEIL_OHTTP_MT_CHUNKED_REQUEST, enc.data, enc.len, stream_head, stream_body,
                    &s, &status, ct, sizeof ct);
    if (!veil_ok(s.err)) {
        r = s.err;
        goto out;
    }
    if (!veil_ok(r))
        goto out;
    if (status != 200 || !veil_http_content_type_is(ct, VEIL_OHTTP_MT_CHUNKED_RESPONSE)) {
        r = client_outer_error(status, ct);
        goto out;
    }
    /* draft-08: the stream must end with its authenticated final chunk. */
    veil_buf_clear(&s.plain);
    r = veil_ohttp_chunked_client_finish(s.cc, &s.plain);
    VEIL_ENSURE_GOTO(r, veil_ok(r), VEIL_E_PROTOCOL,
                     "truncated: the response ended without its authenticated final chunk");
    VEIL_TRY(r, rstream_feed(&s.rs, s.plain.data, s.plain.len));
    VEIL_TRY(r, rstream_finish(&s.rs));
    VEIL_TRY(r, veil_sha256(s.rs.content.len ? s.rs.content.data : (const uint8_t *)"",
                            s.rs.content.len, c->response_sha256));
    c->have_exchange = true;
out:
    rstream_free(&s.rs);
    veil_ohttp_chunked_client_free(s.cc);
    veil_buf_free(&inner);
    veil_buf_free(&enc);
    veil_buf_free(&s.error_body);
    veil_buf_free(&s.plain);
    return r;
}

/* ---- requests for the inner application -------------------------------------------------- */

veil_result veil_client_build_request(const veil_client *c, const char *method, const char *path,
                                      const char *content_type, const void *body, size_t len,
                                      veil_bhttp_msg **out)
{
    veil_result r = VEIL_OK;
    veil_bhttp_msg *m = NULL;
    VEIL_ENSURE(out, VEIL_E_USAGE, "client: missing argument");
    *out = NULL;
    VEIL_ENSURE(c && method && path && (body || len == 0), VEIL_E_USAGE,
                "client: missing argument");
    VEIL_TRY(r, veil_bhttp_request_new(method, "https", c->authority, path, &m));
    if (content_type)
        VEIL_TRY(r,
                 veil_bhttp_add_header(m, "content-type", 12, content_type, strlen(content_type)));
    if (len)
        VEIL_TRY(r, veil_bhttp_set_content(m, body, len));
    *out = m;
    m = NULL;
out:
    veil_bhttp_msg_free(m);
    return r;
}

/* One multipart/form-data text field. */
static veil_result form_field(veil_buf *b, const char *boundary, const char *name, const char *v)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n", boundary, name);
    VEIL_ENSURE(n > 0 && (size_t)n < sizeof head, VEIL_E_USAGE, "client: field too long");
    VEIL_GUARD(veil_buf_append(b, head, (size_t)n));
    VEIL_GUARD(veil_buf_append(b, v, strlen(v)));
    return veil_buf_append(b, "\r\n", 2);
}

veil_result veil_client_transcribe(veil_client *c, const veil_client_transcription *t,
                                   veil_bhttp_msg **resp)
{
    veil_result r = VEIL_OK;
    veil_buf form;
    veil_bhttp_msg *req = NULL;
    uint8_t rnd[16];
    char boundary[48], ctype[96], fname[128], head[400];
    VEIL_ENSURE(resp, VEIL_E_USAGE, "client: missing argument");
    *resp = NULL;
    VEIL_ENSURE(c && t && t->audio && t->audio_len, VEIL_E_USAGE, "client: no audio to send");
    veil_buf_init(&form, 0);

    /* A filename is user text: quotes and line breaks must not end the header. */
    snprintf(fname, sizeof fname, "%s", t->filename ? t->filename : "audio.wav");
    for (char *p = fname; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '_';
    VEIL_TRY(r, veil_random_bytes(rnd, sizeof rnd));
    memcpy(boundary, "veil-", 5);
    veil_hex_encode(rnd, sizeof rnd, boundary + 5);
    snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%s", boundary);
    int n = snprintf(head, sizeof head,
                     "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n",
                     boundary, fname);
    VEIL_ENSURE_GOTO(r, n > 0 && (size_t)n < sizeof head, VEIL_E_USAGE,
                     "client: file name too long");
    VEIL_TRY(r, veil_buf_append(&form, head, (size_t)n));
    VEIL_TRY(r, veil_buf_append(&form, t->audio, t->audio_len));
    VEIL_TRY(r, veil_buf_append(&form, "\r\n", 2));
    VEIL_TRY(r, form_field(&form, boundary, "model", t->model ? t->model : "whisper-1"));
    if (t->language)
        VEIL_TRY(r, form_field(&form, boundary, "language", t->language));
    if (t->response_format)
        VEIL_TRY(r, form_field(&form, boundary, "response_format", t->response_format));
    n = snprintf(head, sizeof head, "--%s--\r\n", boundary);
    VEIL_TRY(r, veil_buf_append(&form, head, (size_t)n));
    VEIL_TRY(r, veil_client_build_request(c, "POST", "/v1/audio/transcriptions", ctype, form.data,
                                          form.len, &req));
    veil_buf_free(&form);
    VEIL_TRY(r, veil_client_request(c, req, resp));
out:
    veil_bhttp_msg_free(req);
    veil_buf_free(&form);
    return r;
}

veil_result veil_client_audit_get(const veil_client *c, veil_client_audit *out)
{
    VEIL_ENSURE(c && out, VEIL_E_USAGE, "client: missing argument");
    memset(out, 0, sizeof *out);
    VEIL_ENSURE(c->verified, VEIL_E_USAGE, "client: nothing verified yet");
    out->keys = c->keys.data;
    out->keys_len = c->keys.len;
    out->evidence = c->evidence.data;
    out->evidence_len = c->evidence.len;
    out->policy = c->policy_text;
    out->policy_len = c->policy_len;
    out->ear_claims = c->ear_claims;
    out->gateway_url = c->gateway_url;
    out->relay_url = c->direct ? NULL : c->relay_url;
    out->nonce = c->nonce;
    out->nonce_len = sizeof c->nonce;
    out->have_exchange = c->have_exchange;
    memcpy(out->request_sha256, c->request_sha256, 32);
    memcpy(out->response_sha256, c->response_sha256, 32);
    out->bytes_sent = c->bytes_sent;
    out->bytes_received = c->bytes_received;
    return VEIL_OK;
}
