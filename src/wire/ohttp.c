/* Oblivious HTTP request and response encapsulation (RFC 9458 §4.3, §4.4). */
#include <string.h>

#include "crypto/primitives.h"
#include "crypto/hpke_internal.h"
#include "ohttp_internal.h"
#include "veil/mem.h"
#include "veil/rand.h"

struct veil_ohttp_client_ctx {
    veil_hpke_ctx *hpke;
    uint8_t enc[VEIL_HPKE_MAX_ENC];
    size_t enc_len;
};

struct veil_ohttp_server_ctx {
    veil_hpke_ctx *hpke;
    ohttp_header hdr;
    uint8_t enc[VEIL_HPKE_MAX_ENC];
    size_t enc_len;
};

void ohttp_header_encode(const ohttp_header *h, uint8_t out[VEIL_OHTTP_HDR_LEN])
{
    out[0] = h->key_id;
    out[1] = (uint8_t)(h->suite.kem >> 8);
    out[2] = (uint8_t)h->suite.kem;
    out[3] = (uint8_t)(h->suite.kdf >> 8);
    out[4] = (uint8_t)h->suite.kdf;
    out[5] = (uint8_t)(h->suite.aead >> 8);
    out[6] = (uint8_t)h->suite.aead;
}

size_t ohttp_build_info(const char *label, const ohttp_header *h, uint8_t info[OHTTP_MAX_INFO])
{
    size_t n = strlen(label);
    memcpy(info, label, n);
    info[n] = 0;
    ohttp_header_encode(h, info + n + 1);
    return n + 1 + VEIL_OHTTP_HDR_LEN;
}

size_t ohttp_response_nonce_len(uint16_t aead)
{
    size_t nk = veil_hpke_aead_nk(aead);
    return nk > VEIL_HPKE_NN ? nk : VEIL_HPKE_NN;
}

/* RFC 9458 §4.3, client side: hdr || enc, with the HPKE sender context. */
veil_result ohttp_sender_setup(const veil_ohttp_keyconfig *cfg, const veil_hpke_suite *suite,
                               const char *label, const veil_hpke_key *eph, veil_buf *out,
                               uint8_t *enc, size_t *enc_len, veil_hpke_ctx **ctx)
{
    veil_result res = VEIL_OK;
    veil_hpke_key *pk_r = NULL;
    VEIL_ENSURE(suite->kem == cfg->kem && suite->aead != VEIL_HPKE_AEAD_EXPORT_ONLY, VEIL_E_USAGE,
                "ohttp: suite does not match the key config");
    ohttp_header h = {cfg->key_id, *suite};
    uint8_t info[OHTTP_MAX_INFO], hdr[VEIL_OHTTP_HDR_LEN];
    veil_hpke_params params = {.suite = *suite,
                               .mode = VEIL_HPKE_MODE_BASE,
                               .info = info,
                               .info_len = ohttp_build_info(label, &h, info)};
    VEIL_TRY(res, veil_hpke_key_from_public(cfg->kem, cfg->public_key, cfg->public_key_len, &pk_r));
    if (eph)
        VEIL_TRY(res, veil_hpke_setup_sender_with_ephemeral(&params, pk_r, eph, enc,
                                                            VEIL_HPKE_MAX_ENC, enc_len, ctx));
    else
        VEIL_TRY(res, veil_hpke_setup_sender(&params, pk_r, enc, VEIL_HPKE_MAX_ENC, enc_len, ctx));
    ohttp_header_encode(&h, hdr);
    VEIL_TRY(res, veil_buf_append(out, hdr, sizeof hdr));
    VEIL_TRY(res, veil_buf_append(out, enc, *enc_len));
out:
    veil_hpke_key_free(pk_r);
    if (!veil_ok(res)) {
        veil_hpke_ctx_free(*ctx);
        *ctx = NULL;
    }
    return res;
}

/* RFC 9458 §4.4 steps 1-5:
 *   secret = context.Export(label, max(Nn, Nk))
 *   salt = concat(enc, response_nonce)
 *   prk = Extract(salt, secret)
 *   aead_key = Expand(prk, "key", Nk); aead_nonce = Expand(prk, "nonce", Nn) */
veil_result ohttp_response_keys_derive(const veil_hpke_ctx *ctx, const char *label,
                                       const uint8_t *enc, size_t enc_len,
                                       const uint8_t *response_nonce, ohttp_response_keys *out)
{
    veil_result res = VEIL_OK;
    const veil_hpke_suite *s = veil_hpke_ctx_suite(ctx);
    size_t nlen = ohttp_response_nonce_len(s->aead), nh = veil_hpke_kdf_nh(s->kdf);
    uint8_t secret[OHTTP_MAX_RESPONSE_NONCE], prk[VEIL_HPKE_MAX_NH];
    uint8_t salt[VEIL_HPKE_MAX_ENC + OHTTP_MAX_RESPONSE_NONCE];
    out->aead = s->aead;
    out->nonce_len = nlen;
    VEIL_TRY(res, veil_hpke_export(ctx, (const uint8_t *)label, strlen(label), secret, nlen));
    memcpy(salt, enc, enc_len);
    memcpy(salt + enc_len, response_nonce, nlen);
    VEIL_TRY(res, veil_hkdf_extract(s->kdf, salt, enc_len + nlen, secret, nlen, prk, nh));
    VEIL_TRY(res, veil_hkdf_expand(s->kdf, prk, nh, (const uint8_t *)"key", 3, out->key,
                                   veil_hpke_aead_nk(s->aead)));
    VEIL_TRY(res, veil_hkdf_expand(s->kdf, prk, nh, (const uint8_t *)"nonce", 5, out->nonce,
                                   VEIL_HPKE_NN));
out:
    veil_wipe(secret, sizeof secret);
    veil_wipe(prk, sizeof prk);
    if (!veil_ok(res))
        ohttp_response_keys_wipe(out);
    return res;
}

void ohttp_response_keys_wipe(ohttp_response_keys *k) { veil_wipe(k, sizeof *k); }

/* Seal `pt` in place at the end of `out` (ciphertext || tag). */
static veil_result aead_append(veil_buf *out, uint16_t aead, const uint8_t *key,
                               const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                               const uint8_t *pt, size_t pt_len)
{
    VEIL_GUARD(veil_buf_reserve(out, pt_len + VEIL_HPKE_TAG_LEN));
    VEIL_GUARD(veil_aead_seal(aead, key, nonce, aad, aad_len, pt, pt_len, out->data + out->len));
    out->len += pt_len + VEIL_HPKE_TAG_LEN;
    return VEIL_OK;
}

veil_result veil_ohttp_client_encap_with(const veil_ohttp_keyconfig *cfg,
                                         const veil_hpke_suite *suite, const veil_hpke_key *eph,
                                         const uint8_t *req, size_t req_len, veil_buf *out,
                                         veil_ohttp_client_ctx **ctx)
{
    veil_result res = VEIL_OK;
    veil_ohttp_client_ctx *c = veil_calloc(1, sizeof *c);
    size_t ct_len;
    *ctx = NULL;
    VEIL_ENSURE(c != NULL, VEIL_E_NOMEM, "out of memory");
    VEIL_TRY(res, ohttp_sender_setup(cfg, suite, OHTTP_LABEL_REQUEST, eph, out, c->enc, &c->enc_len,
                                     &c->hpke));
    VEIL_TRY(res, veil_buf_reserve(out, req_len + VEIL_HPKE_TAG_LEN));
    VEIL_TRY(res, veil_hpke_seal(c->hpke, NULL, 0, req, req_len, out->data + out->len,
                                 req_len + VEIL_HPKE_TAG_LEN, &ct_len));
    out->len += ct_len;
    *ctx = c;
out:
    if (!veil_ok(res))
        veil_ohttp_client_ctx_free(c);
    return res;
}

veil_result veil_ohttp_client_encap(const veil_ohttp_keyconfig *cfg, const veil_hpke_suite *suite,
                                    const uint8_t *req, size_t req_len, veil_buf *out,
                                    veil_ohttp_client_ctx **ctx)
{
    return veil_ohttp_client_encap_with(cfg, suite, NULL, req, req_len, out, ctx);
}

/* RFC 9458 §4.4, client side: response_nonce || ct. */
veil_result veil_ohttp_client_decap(veil_ohttp_client_ctx *ctx, const uint8_t *res_p,
                                    size_t res_len, veil_buf *out)
{
    veil_result res = VEIL_OK;
    ohttp_response_keys k;
    size_t nlen = ohttp_response_nonce_len(veil_hpke_ctx_suite(ctx->hpke)->aead);
    VEIL_ENSURE(res_len >= nlen + VEIL_HPKE_TAG_LEN, VEIL_E_PROTOCOL,
                "ohttp: response shorter than its nonce and tag");
    size_t pt_len = res_len - nlen - VEIL_HPKE_TAG_LEN;
    VEIL_GUARD(veil_buf_reserve(out, pt_len + 1));
    VEIL_TRY(res, ohttp_response_keys_derive(ctx->hpke, OHTTP_LABEL_RESPONSE, ctx->enc,
                                             ctx->enc_len, res_p, &k));
    VEIL_TRY(res, veil_aead_open(k.aead, k.key, k.nonce, NULL, 0, res_p + nlen, res_len - nlen,
                                 out->data + out->len));
    out->len += pt_len;
out:
    ohttp_response_keys_wipe(&k);
    return res;
}

void veil_ohttp_client_ctx_free(veil_ohttp_client_ctx *ctx)
{
    if (!ctx)
        return;
    veil_hpke_ctx_free(ctx->hpke);
    veil_free_wiped(ctx, sizeof *ctx);
}

veil_result veil_ohttp_server_decap(const veil_ohttp_gateway *gw, const uint8_t *req,
                                    size_t req_len, veil_buf *out, veil_ohttp_server_ctx **ctx,
                                    veil_ohttp_decap_error *why)
{
    veil_result res = VEIL_OK;
    veil_cursor c = veil_cursor_init(req, req_len);
    veil_ohttp_server_ctx *s = veil_calloc(1, sizeof *s);
    size_t pt_len;
    *ctx = NULL;
    if (why)
        *why = VEIL_OHTTP_DECAP_OK;
    VEIL_ENSURE(s != NULL, VEIL_E_NOMEM, "out of memory");
    VEIL_TRY(res, ohttp_recipient_setup(gw, &c, OHTTP_LABEL_REQUEST, &s->hdr, s->enc, &s->enc_len,
                                        &s->hpke, why));
    if (veil_cursor_remaining(&c) < VEIL_HPKE_TAG_LEN) {
        if (why)
            *why = VEIL_OHTTP_DECAP_MALFORMED;
        res = VEIL_ERR(VEIL_E_PROTOCOL, "ohttp: request ciphertext shorter than the AEAD tag");
        goto out;
    }
    VEIL_TRY(res, veil_buf_reserve(out, veil_cursor_remaining(&c) + 1));
    res = veil_hpke_open(s->hpke, NULL, 0, veil_cursor_peek_ptr(&c), veil_cursor_remaining(&c),
                         out->data + out->len, out->cap - out->len, &pt_len);
    if (!veil_ok(res)) {
        if (why)
            *why = VEIL_OHTTP_DECAP_DECRYPT;
        goto out;
    }
    out->len += pt_len;
    *ctx = s;
out:
    if (!veil_ok(res))
        veil_ohttp_server_ctx_free(s);
    return res;
}

veil_result veil_ohttp_server_encap_with(veil_ohttp_server_ctx *ctx, const uint8_t *nonce,
                                         const uint8_t *res_p, size_t res_len, veil_buf *out)
{
    veil_result res = VEIL_OK;
    ohttp_response_keys k;
    size_t nlen = ohttp_response_nonce_len(ctx->hdr.suite.aead);
    VEIL_TRY(res, ohttp_response_keys_derive(ctx->hpke, OHTTP_LABEL_RESPONSE, ctx->enc,
                                             ctx->enc_len, nonce, &k));
    VEIL_TRY(res, veil_buf_append(out, nonce, nlen));
    VEIL_TRY(res, aead_append(out, k.aead, k.key, k.nonce, NULL, 0, res_p, res_len));
out:
    ohttp_response_keys_wipe(&k);
    return res;
}

veil_result veil_ohttp_server_encap(veil_ohttp_server_ctx *ctx, const uint8_t *res_p,
                                    size_t res_len, veil_buf *out)
{
    uint8_t nonce[OHTTP_MAX_RESPONSE_NONCE];
    VEIL_GUARD(veil_random_bytes(nonce, ohttp_response_nonce_len(ctx->hdr.suite.aead)));
    return veil_ohttp_server_encap_with(ctx, nonce, res_p, res_len, out);
}

void veil_ohttp_server_ctx_suite(const veil_ohttp_server_ctx *ctx, uint8_t *key_id,
                                 veil_hpke_suite *suite)
{
    *key_id = ctx->hdr.key_id;
    *suite = ctx->hdr.suite;
}

void veil_ohttp_server_ctx_free(veil_ohttp_server_ctx *ctx)
{
    if (!ctx)
        return;
    veil_hpke_ctx_free(ctx->hpke);
    veil_free_wiped(ctx, sizeof *ctx);
}
