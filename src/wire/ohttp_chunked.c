/* Chunked Oblivious HTTP (draft-ietf-ohai-chunked-ohttp-08).
 *
 * Request:  hdr || enc || chunk* || final_chunk
 * Response: response_nonce || chunk* || final_chunk
 *   chunk       = varint(len(sealed)) || sealed        (len > 0, aad "")
 *   final_chunk = varint(0) || sealed  (aad "final", runs to the end)
 * Request chunks are sealed with the HPKE context (its sequence numbers and
 * usage limits); response chunks with keys derived as in RFC 9458 §4.4 from
 * the export "message/bhttp chunked response", nonce = aead_nonce XOR
 * counter, through an AEAD context (include/veil/aead_ctx.h) without
 * rotation: the draft has no way to change keys mid-stream, so a response
 * fails closed before it would pass the AEAD's usage limits
 * (draft-irtf-cfrg-aead-limits), instead of wearing the key out.
 *
 * Readers take input in pieces of any size: complete chunks are opened and
 * their plaintext released at once; the final chunk can only be known
 * complete when the stream ends, so it is held (at most max_chunk bytes)
 * until *_finish. Every error is sticky: a failed stream stays failed. */
#include <string.h>

#include "ohttp_internal.h"
#include "veil/aead_ctx.h"
#include "veil/mem.h"
#include "veil/rand.h"

/* Seals/opens one direction's chunks. */
typedef struct chunk_cipher {
    veil_hpke_ctx *hpke;      /* request direction, else NULL */
    ohttp_response_keys keys; /* response direction: wiped once in actx */
    veil_aead_ctx *actx;      /* response direction, from keys */
} chunk_cipher;

typedef struct chunk_reader {
    veil_buf pending; /* input not yet consumed */
    size_t max_chunk;
    bool final_seen; /* read the zero length that introduces the final chunk */
    bool done;
    bool failed;
} chunk_reader;

typedef struct chunk_writer {
    bool started;
    bool done;
} chunk_writer;

struct veil_ohttp_chunked_client {
    chunk_cipher req;
    chunk_cipher res;
    chunk_writer writer;
    chunk_reader reader;
    bool have_response_nonce;
    uint8_t enc[VEIL_HPKE_MAX_ENC];
    size_t enc_len;
};

struct veil_ohttp_chunked_server {
    const veil_ohttp_gateway *gw;
    ohttp_header hdr;
    chunk_cipher req;
    chunk_cipher res;
    chunk_reader reader;
    chunk_writer writer;
    bool ready;
    bool nonce_set;
    uint8_t response_nonce[OHTTP_MAX_RESPONSE_NONCE];
    uint8_t enc[VEIL_HPKE_MAX_ENC];
    size_t enc_len;
};

static const uint8_t final_aad[] = {'f', 'i', 'n', 'a', 'l'};

/* The response keys go into an AEAD context (no rotation) and are wiped. */
static veil_result cipher_start(chunk_cipher *cc)
{
    veil_result r = veil_aead_ctx_new(cc->keys.aead, cc->keys.key, veil_hpke_aead_nk(cc->keys.aead),
                                      cc->keys.nonce, NULL, 0, &cc->actx);
    ohttp_response_keys_wipe(&cc->keys);
    return r;
}

static veil_result cipher_seal(chunk_cipher *cc, bool final, const uint8_t *pt, size_t n,
                               veil_buf *out)
{
    const uint8_t *aad = final ? final_aad : NULL;
    size_t aad_len = final ? sizeof final_aad : 0, ct_len;
    VEIL_GUARD(veil_buf_reserve(out, n + VEIL_HPKE_TAG_LEN));
    uint8_t *ct = out->data + out->len;
    if (cc->hpke) {
        VEIL_GUARD(
            veil_hpke_seal(cc->hpke, aad, aad_len, pt, n, ct, n + VEIL_HPKE_TAG_LEN, &ct_len));
    } else {
        VEIL_GUARD(veil_aead_ctx_seal(cc->actx, aad, aad_len, pt, n, ct));
        ct_len = n + VEIL_HPKE_TAG_LEN;
    }
    out->len += ct_len;
    return VEIL_OK;
}

static veil_result cipher_open(chunk_cipher *cc, bool final, const uint8_t *ct, size_t n,
                               veil_buf *out)
{
    const uint8_t *aad = final ? final_aad : NULL;
    size_t aad_len = final ? sizeof final_aad : 0, pt_len = n - VEIL_HPKE_TAG_LEN;
    VEIL_ENSURE(n >= VEIL_HPKE_TAG_LEN, VEIL_E_PROTOCOL,
                "chunked ohttp: chunk shorter than the AEAD tag");
    VEIL_GUARD(veil_buf_reserve(out, pt_len + 1));
    uint8_t *pt = out->data + out->len;
    if (cc->hpke) {
        VEIL_GUARD(veil_hpke_open(cc->hpke, aad, aad_len, ct, n, pt, pt_len + 1, &pt_len));
    } else {
        VEIL_GUARD(veil_aead_ctx_open(cc->actx, aad, aad_len, ct, n, pt));
    }
    out->len += pt_len;
    return VEIL_OK;
}

static void cipher_free(chunk_cipher *cc)
{
    veil_hpke_ctx_free(cc->hpke);
    cc->hpke = NULL;
    veil_aead_ctx_free(cc->actx);
    cc->actx = NULL;
    ohttp_response_keys_wipe(&cc->keys);
}

/* ---- writer --------------------------------------------------------------- */

static veil_result writer_chunk(chunk_writer *w, chunk_cipher *cc, const uint8_t *p, size_t n,
                                int final, veil_buf *out)
{
    VEIL_ENSURE(!w->done, VEIL_E_USAGE, "chunked ohttp: write after the final chunk");
    VEIL_ENSURE(final || n > 0, VEIL_E_USAGE, "chunked ohttp: a non-final chunk must not be empty");
    if (final) {
        VEIL_GUARD(veil_buf_varint(out, 0));
        w->done = true;
    } else {
        VEIL_GUARD(veil_buf_varint(out, (uint64_t)n + VEIL_HPKE_TAG_LEN));
    }
    return cipher_seal(cc, final, p, n, out);
}

/* ---- reader --------------------------------------------------------------- */

static void reader_init(chunk_reader *r, size_t max_chunk)
{
    memset(r, 0, sizeof *r);
    r->max_chunk = max_chunk ? max_chunk : VEIL_OHTTP_CHUNK_DEFAULT_MAX;
    /* a whole chunk, its length and a header may wait in the buffer at once */
    veil_buf_init(&r->pending, r->max_chunk + 8 + VEIL_OHTTP_HDR_LEN + VEIL_HPKE_MAX_ENC);
}

static void reader_consume(chunk_reader *r, size_t n)
{
    memmove(r->pending.data, r->pending.data + n, r->pending.len - n);
    r->pending.len -= n;
}

static veil_result reader_append(chunk_reader *r, const uint8_t *p, size_t n)
{
    VEIL_ENSURE(!r->failed, VEIL_E_USAGE, "chunked ohttp: stream already failed");
    VEIL_ENSURE(!r->done, VEIL_E_PROTOCOL, "chunked ohttp: data after the end of the stream");
    veil_result res = veil_buf_append(&r->pending, p, n);
    if (res.cls == VEIL_E_NOMEM)
        res = VEIL_ERR(VEIL_E_PROTOCOL, "chunked ohttp: chunk larger than the configured limit");
    return res;
}

/* Open every complete non-final chunk in the pending input. */
static veil_result reader_drain(chunk_reader *r, chunk_cipher *cc, veil_buf *out)
{
    size_t used = 0;
    veil_result res = VEIL_OK;
    while (!r->final_seen) {
        veil_cursor c = veil_cursor_init(r->pending.data + used, r->pending.len - used);
        uint64_t len;
        if (veil_cursor_at_end(&c) ||
            veil_cursor_remaining(&c) < ((size_t)1 << (*veil_cursor_peek_ptr(&c) >> 6)))
            break; /* length not complete yet */
        VEIL_TRY(res, veil_cursor_varint(&c, &len));
        if (len == 0) {
            r->final_seen = true;
            used += c.off;
            break;
        }
        VEIL_ENSURE_GOTO(res, len <= r->max_chunk, VEIL_E_PROTOCOL,
                         "chunked ohttp: chunk larger than the configured limit");
        VEIL_ENSURE_GOTO(res, len >= VEIL_HPKE_TAG_LEN, VEIL_E_PROTOCOL,
                         "chunked ohttp: chunk shorter than the AEAD tag");
        if (veil_cursor_remaining(&c) < len)
            break; /* chunk not complete yet */
        VEIL_TRY(res, cipher_open(cc, false, veil_cursor_peek_ptr(&c), (size_t)len, out));
        used += c.off + (size_t)len;
    }
out:
    reader_consume(r, used);
    if (r->final_seen && r->pending.len > r->max_chunk)
        res = VEIL_ERR(VEIL_E_PROTOCOL,
                       "chunked ohttp: final chunk larger than the configured limit");
    if (!veil_ok(res))
        r->failed = true;
    return res;
}

static veil_result reader_finish(chunk_reader *r, chunk_cipher *cc, veil_buf *out)
{
    VEIL_ENSURE(!r->failed, VEIL_E_USAGE, "chunked ohttp: stream already failed");
    VEIL_ENSURE(!r->done, VEIL_E_USAGE, "chunked ohttp: stream already finished");
    veil_result res = VEIL_OK;
    VEIL_ENSURE_GOTO(res, r->final_seen, VEIL_E_PROTOCOL,
                     "chunked ohttp: stream truncated (ended without its final chunk)");
    VEIL_TRY(res, cipher_open(cc, true, r->pending.data, r->pending.len, out));
    r->done = true;
out:
    veil_buf_clear(&r->pending);
    if (!veil_ok(res))
        r->failed = true;
    return res;
}

/* ---- client --------------------------------------------------------------- */

veil_result veil_ohttp_chunked_client_new_with(const veil_ohttp_keyconfig *cfg,
                                               const veil_hpke_suite *suite,
                                               const veil_hpke_key *eph, size_t max_chunk,
                                               veil_buf *out, veil_ohttp_chunked_client **ctx)
{
    veil_result res = VEIL_OK;
    veil_ohttp_chunked_client *c = veil_calloc(1, sizeof *c);
    *ctx = NULL;
    VEIL_ENSURE(c != NULL, VEIL_E_NOMEM, "out of memory");
    reader_init(&c->reader, max_chunk);
    VEIL_TRY(res, ohttp_sender_setup(cfg, suite, OHTTP_LABEL_CHUNKED_REQUEST, eph, out, c->enc,
                                     &c->enc_len, &c->req.hpke));
    *ctx = c;
out:
    if (!veil_ok(res))
        veil_ohttp_chunked_client_free(c);
    return res;
}

veil_result veil_ohttp_chunked_client_new(const veil_ohttp_keyconfig *cfg,
                                          const veil_hpke_suite *suite, size_t max_chunk,
                                          veil_buf *out, veil_ohttp_chunked_client **ctx)
{
    return veil_ohttp_chunked_client_new_with(cfg, suite, NULL, max_chunk, out, ctx);
}

veil_result veil_ohttp_chunked_client_write(veil_ohttp_chunked_client *ctx, const uint8_t *p,
                                            size_t n, int final, veil_buf *out)
{
    return writer_chunk(&ctx->writer, &ctx->req, p, n, final, out);
}

/* The response starts with response_nonce; the keys follow from it. */
static veil_result client_response_start(veil_ohttp_chunked_client *ctx)
{
    size_t nlen = ohttp_response_nonce_len(veil_hpke_ctx_suite(ctx->req.hpke)->aead);
    if (ctx->have_response_nonce || ctx->reader.pending.len < nlen)
        return VEIL_OK;
    veil_result res =
        ohttp_response_keys_derive(ctx->req.hpke, OHTTP_LABEL_CHUNKED_RESPONSE, ctx->enc,
                                   ctx->enc_len, ctx->reader.pending.data, &ctx->res.keys);
    if (veil_ok(res))
        res = cipher_start(&ctx->res);
    if (!veil_ok(res)) {
        ctx->reader.failed = true;
        return res;
    }
    reader_consume(&ctx->reader, nlen);
    ctx->have_response_nonce = true;
    return VEIL_OK;
}

veil_result veil_ohttp_chunked_client_read(veil_ohttp_chunked_client *ctx, const uint8_t *p,
                                           size_t n, veil_buf *out)
{
    VEIL_GUARD(reader_append(&ctx->reader, p, n));
    VEIL_GUARD(client_response_start(ctx));
    if (!ctx->have_response_nonce)
        return VEIL_OK;
    return reader_drain(&ctx->reader, &ctx->res, out);
}

veil_result veil_ohttp_chunked_client_finish(veil_ohttp_chunked_client *ctx, veil_buf *out)
{
    if (!ctx->have_response_nonce && !ctx->reader.failed) {
        ctx->reader.failed = true;
        return VEIL_ERR(VEIL_E_PROTOCOL, "chunked ohttp: response truncated before its nonce");
    }
    return reader_finish(&ctx->reader, &ctx->res, out);
}

void veil_ohttp_chunked_client_free(veil_ohttp_chunked_client *ctx)
{
    if (!ctx)
        return;
    cipher_free(&ctx->req);
    cipher_free(&ctx->res);
    veil_buf_free(&ctx->reader.pending);
    veil_free_wiped(ctx, sizeof *ctx);
}

/* ---- server --------------------------------------------------------------- */

veil_result veil_ohttp_chunked_server_new(const veil_ohttp_gateway *gw, size_t max_chunk,
                                          veil_ohttp_chunked_server **ctx)
{
    veil_ohttp_chunked_server *s = veil_calloc(1, sizeof *s);
    *ctx = NULL;
    VEIL_ENSURE(s != NULL, VEIL_E_NOMEM, "out of memory");
    s->gw = gw;
    reader_init(&s->reader, max_chunk);
    *ctx = s;
    return VEIL_OK;
}

/* hdr || enc: wait for 7 bytes, then for Nenc more (Nenc known from the KEM). */
static veil_result server_header(veil_ohttp_chunked_server *s, veil_ohttp_decap_error *why)
{
    chunk_reader *r = &s->reader;
    if (s->ready || r->pending.len < VEIL_OHTTP_HDR_LEN)
        return VEIL_OK;
    uint16_t kem = (uint16_t)(r->pending.data[1] << 8 | r->pending.data[2]);
    const veil_hpke_kem_info *ki = veil_hpke_kem_info_get(kem);
    if (ki && r->pending.len < VEIL_OHTTP_HDR_LEN + ki->n_enc)
        return VEIL_OK;
    veil_cursor c = veil_cursor_init(r->pending.data, r->pending.len);
    veil_result res = ohttp_recipient_setup(s->gw, &c, OHTTP_LABEL_CHUNKED_REQUEST, &s->hdr, s->enc,
                                            &s->enc_len, &s->req.hpke, why);
    if (!veil_ok(res)) {
        r->failed = true;
        return res;
    }
    reader_consume(r, c.off);
    s->ready = true;
    return VEIL_OK;
}

veil_result veil_ohttp_chunked_server_read(veil_ohttp_chunked_server *ctx, const uint8_t *p,
                                           size_t n, veil_buf *out, veil_ohttp_decap_error *why)
{
    if (why)
        *why = VEIL_OHTTP_DECAP_OK;
    VEIL_GUARD(reader_append(&ctx->reader, p, n));
    VEIL_GUARD(server_header(ctx, why));
    if (!ctx->ready)
        return VEIL_OK;
    veil_result res = reader_drain(&ctx->reader, &ctx->req, out);
    if (!veil_ok(res) && why)
        *why = res.cls == VEIL_E_CRYPTO ? VEIL_OHTTP_DECAP_DECRYPT : VEIL_OHTTP_DECAP_MALFORMED;
    return res;
}

veil_result veil_ohttp_chunked_server_finish(veil_ohttp_chunked_server *ctx, veil_buf *out)
{
    if (!ctx->ready && !ctx->reader.failed) {
        ctx->reader.failed = true;
        return VEIL_ERR(VEIL_E_PROTOCOL, "chunked ohttp: request truncated inside its header");
    }
    return reader_finish(&ctx->reader, &ctx->req, out);
}

int veil_ohttp_chunked_server_ready(const veil_ohttp_chunked_server *ctx) { return ctx->ready; }

veil_result veil_ohttp_chunked_server_set_nonce(veil_ohttp_chunked_server *ctx,
                                                const uint8_t *nonce, size_t n)
{
    VEIL_ENSURE(ctx->ready && !ctx->writer.started, VEIL_E_USAGE,
                "chunked ohttp: nonce must be set after the header and before the first write");
    VEIL_ENSURE(n == ohttp_response_nonce_len(ctx->hdr.suite.aead), VEIL_E_USAGE,
                "chunked ohttp: response nonce has the wrong length");
    memcpy(ctx->response_nonce, nonce, n);
    ctx->nonce_set = true;
    return VEIL_OK;
}

veil_result veil_ohttp_chunked_server_write(veil_ohttp_chunked_server *ctx, const uint8_t *p,
                                            size_t n, int final, veil_buf *out)
{
    VEIL_ENSURE(ctx->ready, VEIL_E_USAGE,
                "chunked ohttp: cannot respond before the request header is read");
    if (!ctx->writer.started) {
        size_t nlen = ohttp_response_nonce_len(ctx->hdr.suite.aead);
        if (!ctx->nonce_set)
            VEIL_GUARD(veil_random_bytes(ctx->response_nonce, nlen));
        VEIL_GUARD(ohttp_response_keys_derive(ctx->req.hpke, OHTTP_LABEL_CHUNKED_RESPONSE, ctx->enc,
                                              ctx->enc_len, ctx->response_nonce, &ctx->res.keys));
        VEIL_GUARD(cipher_start(&ctx->res));
        VEIL_GUARD(veil_buf_append(out, ctx->response_nonce, nlen));
        ctx->writer.started = true;
    }
    return writer_chunk(&ctx->writer, &ctx->res, p, n, final, out);
}

void veil_ohttp_chunked_server_free(veil_ohttp_chunked_server *ctx)
{
    if (!ctx)
        return;
    cipher_free(&ctx->req);
    cipher_free(&ctx->res);
    veil_buf_free(&ctx->reader.pending);
    veil_free_wiped(ctx, sizeof *ctx);
}
