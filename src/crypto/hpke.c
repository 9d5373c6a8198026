/* HPKE (RFC 9180) key schedule, encryption contexts, Seal/Open/Export and the
 * single-shot APIs. The KEM lives in hpke_kem.c, HKDF in hkdf.c, the AEAD in
 * aead.c; this file never touches OpenSSL directly.
 *
 * Key-schedule intermediates live on the stack and are wiped at `out:`; a
 * context holds only key, base_nonce, exporter_secret and seq, and is wiped
 * when freed. The single-shot calls use a stack context, so they allocate
 * nothing of their own. */
#include <string.h>

#include "crypto/hpke_internal.h"
#include "crypto/primitives.h"
#include "veil/aead_ctx.h"
#include "veil/mem.h"

struct veil_hpke_ctx {
    veil_hpke_suite suite;
    const veil_hpke_kdf_desc *kdf;
    const veil_hpke_aead_desc *aead;
    int is_sender;
    uint64_t seq;
    /* draft-irtf-cfrg-aead-limits for this context's one key: an HPKE
     * context cannot change keys, so it stops before a limit instead */
    veil_aead_limits lim;
    uint64_t blocks;       /* q + s so far */
    uint64_t failed_opens; /* v so far */
    uint8_t suite_id[VEIL_HPKE_MAX_SUITE_ID];
    uint8_t key[VEIL_HPKE_MAX_NK];
    uint8_t base_nonce[VEIL_HPKE_NN];
    uint8_t exporter_secret[VEIL_HPKE_MAX_NH];
};

/* The last sequence number a context may use is UINT64_MAX - 2: a seal or
 * open at seq would move it to seq + 1, and we refuse to reach UINT64_MAX, so
 * the counter can never wrap and a nonce is never reused. */
#define SEQ_LIMIT (UINT64_MAX - 1)

/* ---- Parameter checks --------------------------------------------------- */

/* RFC 9180 §5.1 VerifyPSKInputs, the auth-key rule, and size limits. */
static veil_result check_params(const veil_hpke_params *p, const veil_hpke_key *own, int sender)
{
    VEIL_ENSURE(p != NULL && own != NULL, VEIL_E_USAGE, "HPKE params or key is NULL");
    VEIL_GUARD(veil_hpke_suite_check(&p->suite));
    VEIL_ENSURE(p->mode <= VEIL_HPKE_MODE_AUTH_PSK, VEIL_E_USAGE, "unknown HPKE mode");
    VEIL_ENSURE(veil_hpke_key_kem(own) == p->suite.kem, VEIL_E_USAGE,
                "HPKE key does not belong to the suite's KEM");
    VEIL_ENSURE(p->info_len == 0 || p->info != NULL, VEIL_E_USAGE, "HPKE info is NULL");
    VEIL_ENSURE(p->info_len <= VEIL_HPKE_MAX_INFO, VEIL_E_USAGE,
                "HPKE info is longer than VEIL_HPKE_MAX_INFO");
    VEIL_ENSURE((p->psk_len == 0 || p->psk != NULL) && (p->psk_id_len == 0 || p->psk_id != NULL),
                VEIL_E_USAGE, "HPKE psk or psk_id is NULL");
    VEIL_ENSURE(p->psk_len <= VEIL_HPKE_MAX_INFO && p->psk_id_len <= VEIL_HPKE_MAX_INFO,
                VEIL_E_USAGE, "HPKE psk or psk_id is longer than VEIL_HPKE_MAX_INFO");

    const int got_psk = p->psk_len > 0, got_psk_id = p->psk_id_len > 0;
    const int psk_mode = p->mode == VEIL_HPKE_MODE_PSK || p->mode == VEIL_HPKE_MODE_AUTH_PSK;
    const int auth_mode = p->mode == VEIL_HPKE_MODE_AUTH || p->mode == VEIL_HPKE_MODE_AUTH_PSK;
    VEIL_ENSURE(got_psk == got_psk_id, VEIL_E_USAGE,
                "inconsistent PSK inputs: psk and psk_id must both be given or both be empty");
    VEIL_ENSURE(!(got_psk && !psk_mode), VEIL_E_USAGE, "PSK input provided when not needed");
    VEIL_ENSURE(!(!got_psk && psk_mode), VEIL_E_USAGE, "missing required PSK input");

    if (auth_mode) {
        VEIL_ENSURE(p->auth_key != NULL, VEIL_E_USAGE, "auth mode needs the sender's auth key");
        VEIL_ENSURE(veil_hpke_key_kem(p->auth_key) == p->suite.kem, VEIL_E_USAGE,
                    "sender auth key does not belong to the suite's KEM");
        VEIL_ENSURE(!sender || veil_hpke_key_has_private(p->auth_key), VEIL_E_USAGE,
                    "sealing in auth mode needs the sender's private key");
    } else {
        VEIL_ENSURE(p->auth_key == NULL, VEIL_E_USAGE, "auth key given in a non-auth mode");
    }
    return VEIL_OK;
}

/* ---- Key schedule (§5.1) ------------------------------------------------ */

/* KeySchedule<ROLE>(mode, shared_secret, info, psk, psk_id):
 *   psk_id_hash = LabeledExtract("", "psk_id_hash", psk_id)
 *   info_hash   = LabeledExtract("", "info_hash", info)
 *   ksc         = mode || psk_id_hash || info_hash
 *   secret      = LabeledExtract(shared_secret, "secret", psk)
 *   key         = LabeledExpand(secret, "key", ksc, Nk)
 *   base_nonce  = LabeledExpand(secret, "base_nonce", ksc, Nn)
 *   exporter_secret = LabeledExpand(secret, "exp", ksc, Nh) */
static veil_result key_schedule(veil_hpke_ctx *ctx, const veil_hpke_params *p,
                                const uint8_t *shared_secret, size_t ss_len)
{
    uint8_t ksc[1 + 2 * VEIL_HPKE_MAX_NH];
    uint8_t secret[VEIL_HPKE_MAX_NH];
    veil_result res = VEIL_OK;
    const veil_hpke_suite *s = &p->suite;
    const uint16_t kdf = s->kdf;
    const uint8_t *sid = ctx->suite_id;
    const size_t sid_len = VEIL_HPKE_MAX_SUITE_ID;

    ctx->suite = *s;
    ctx->kdf = veil_hpke_kdf_find(s->kdf);
    ctx->aead = veil_hpke_aead_find(s->aead);
    ctx->seq = ctx->blocks = ctx->failed_opens = 0;
    if (!veil_ok(veil_aead_default_limits(s->aead, &ctx->lim))) /* export-only: no records */
        memset(&ctx->lim, 0, sizeof ctx->lim);
    /* suite_id = "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2) */
    ctx->suite_id[0] = 'H', ctx->suite_id[1] = 'P', ctx->suite_id[2] = 'K', ctx->suite_id[3] = 'E';
    ctx->suite_id[4] = (uint8_t)(s->kem >> 8), ctx->suite_id[5] = (uint8_t)s->kem;
    ctx->suite_id[6] = (uint8_t)(s->kdf >> 8), ctx->suite_id[7] = (uint8_t)s->kdf;
    ctx->suite_id[8] = (uint8_t)(s->aead >> 8), ctx->suite_id[9] = (uint8_t)s->aead;
    const size_t nh = ctx->kdf->nh;
    const size_t ksc_len = 1 + 2 * nh;

    ksc[0] = p->mode;
    VEIL_TRY(res, veil_hpke_labeled_extract(kdf, sid, sid_len, NULL, 0, "psk_id_hash", p->psk_id,
                                            p->psk_id_len, ksc + 1));
    VEIL_TRY(res, veil_hpke_labeled_extract(kdf, sid, sid_len, NULL, 0, "info_hash", p->info,
                                            p->info_len, ksc + 1 + nh));
    VEIL_TRY(res, veil_hpke_labeled_extract(kdf, sid, sid_len, shared_secret, ss_len, "secret",
                                            p->psk, p->psk_len, secret));
    if (ctx->aead->nk > 0) { /* export-only suites have no key and no nonce */
        VEIL_TRY(res, veil_hpke_labeled_expand(kdf, sid, sid_len, secret, nh, "key", ksc, ksc_len,
                                               ctx->key, ctx->aead->nk));
        VEIL_TRY(res, veil_hpke_labeled_expand(kdf, sid, sid_len, secret, nh, "base_nonce", ksc,
                                               ksc_len, ctx->base_nonce, ctx->aead->nn));
    }
    VEIL_TRY(res, veil_hpke_labeled_expand(kdf, sid, sid_len, secret, nh, "exp", ksc, ksc_len,
                                           ctx->exporter_secret, nh));
out:
    veil_wipe(ksc, sizeof ksc);
    veil_wipe(secret, sizeof secret);
    return res;
}

/* ---- Setup (§5.1.1-§5.1.4) ---------------------------------------------- */

static veil_result setup_sender_into(veil_hpke_ctx *ctx, const veil_hpke_params *p,
                                     const veil_hpke_key *pk_r, const veil_hpke_key *eph,
                                     uint8_t *enc, size_t enc_cap, size_t *enc_len)
{
    uint8_t shared_secret[VEIL_HPKE_MAX_NH];
    uint8_t e[VEIL_HPKE_MAX_ENC];
    size_t e_len = 0;
    veil_result res = VEIL_OK;
    const int auth = p->mode == VEIL_HPKE_MODE_AUTH || p->mode == VEIL_HPKE_MODE_AUTH_PSK;

    /* enc, shared_secret = Encap(pkR) or AuthEncap(pkR, skS) */
    VEIL_TRY(res,
             veil_hpke_kem_encap(pk_r, eph, auth ? p->auth_key : NULL, e, &e_len, shared_secret));
    VEIL_ENSURE_GOTO(res, enc_cap >= e_len, VEIL_E_USAGE, "enc buffer is smaller than Nenc");
    VEIL_TRY(res,
             key_schedule(ctx, p, shared_secret, veil_hpke_kem_info_get(p->suite.kem)->n_secret));
    ctx->is_sender = 1;
    memcpy(enc, e, e_len);
    *enc_len = e_len;
out:
    veil_wipe(shared_secret, sizeof shared_secret);
    if (!veil_ok(res))
        veil_wipe(ctx, sizeof *ctx);
    return res;
}

static veil_result setup_recipient_into(veil_hpke_ctx *ctx, const veil_hpke_params *p,
                                        const veil_hpke_key *sk_r, const uint8_t *enc,
                                        size_t enc_len)
{
    uint8_t shared_secret[VEIL_HPKE_MAX_NH];
    veil_result res = VEIL_OK;
    const int auth = p->mode == VEIL_HPKE_MODE_AUTH || p->mode == VEIL_HPKE_MODE_AUTH_PSK;

    /* shared_secret = Decap(enc, skR) or AuthDecap(enc, skR, pkS) */
    VEIL_TRY(res,
             veil_hpke_kem_decap(sk_r, enc, enc_len, auth ? p->auth_key : NULL, shared_secret));
    VEIL_TRY(res,
             key_schedule(ctx, p, shared_secret, veil_hpke_kem_info_get(p->suite.kem)->n_secret));
    ctx->is_sender = 0;
out:
    veil_wipe(shared_secret, sizeof shared_secret);
    if (!veil_ok(res))
        veil_wipe(ctx, sizeof *ctx);
    return res;
}

static veil_result sender_checks(const veil_hpke_params *p, const veil_hpke_key *pk_r,
                                 const uint8_t *enc, size_t enc_cap, const size_t *enc_len)
{
    VEIL_ENSURE(enc != NULL && enc_len != NULL, VEIL_E_USAGE, "enc output is NULL");
    VEIL_GUARD(check_params(p, pk_r, 1));
    VEIL_ENSURE(enc_cap >= veil_hpke_kem_info_get(p->suite.kem)->n_enc, VEIL_E_USAGE,
                "enc buffer is smaller than Nenc");
    return VEIL_OK;
}

veil_result veil_hpke_setup_sender_with_ephemeral(const veil_hpke_params *params,
                                                  const veil_hpke_key *pk_r,
                                                  const veil_hpke_key *eph, uint8_t *enc,
                                                  size_t enc_cap, size_t *enc_len,
                                                  veil_hpke_ctx **out)
{
    veil_hpke_ctx *ctx = NULL;
    veil_result res = VEIL_OK;

    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "output context pointer is NULL");
    *out = NULL;
    if (enc_len)
        *enc_len = 0;
    VEIL_TRY(res, sender_checks(params, pk_r, enc, enc_cap, enc_len));
    VEIL_ENSURE_GOTO(res, eph != NULL, VEIL_E_USAGE, "ephemeral key is NULL");
    ctx = veil_calloc(1, sizeof *ctx);
    VEIL_ENSURE_GOTO(res, ctx != NULL, VEIL_E_NOMEM, "cannot allocate an HPKE context");
    VEIL_TRY(res, setup_sender_into(ctx, params, pk_r, eph, enc, enc_cap, enc_len));
    *out = ctx;
    ctx = NULL;
out:
    veil_hpke_ctx_free(ctx);
    return res;
}

veil_result veil_hpke_setup_sender(const veil_hpke_params *params, const veil_hpke_key *pk_r,
                                   uint8_t *enc, size_t enc_cap, size_t *enc_len,
                                   veil_hpke_ctx **out)
{
    veil_hpke_key *eph = NULL;
    veil_result res = VEIL_OK;

    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "output context pointer is NULL");
    *out = NULL;
    VEIL_TRY(res, sender_checks(params, pk_r, enc, enc_cap, enc_len));
    /* skE, pkE = GenerateKeyPair() */
    VEIL_TRY(res, veil_hpke_key_generate(params->suite.kem, &eph));
    VEIL_TRY(res,
             veil_hpke_setup_sender_with_ephemeral(params, pk_r, eph, enc, enc_cap, enc_len, out));
out:
    veil_hpke_key_free(eph);
    return res;
}

veil_result veil_hpke_setup_recipient(const veil_hpke_params *params, const veil_hpke_key *sk_r,
                                      const uint8_t *enc, size_t enc_len, veil_hpke_ctx **out)
{
    veil_hpke_ctx *ctx = NULL;
    veil_result res = VEIL_OK;

    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "output context pointer is NULL");
    *out = NULL;
    VEIL_TRY(res, check_params(params, sk_r, 0));
    ctx = veil_calloc(1, sizeof *ctx);
    VEIL_ENSURE_GOTO(res, ctx != NULL, VEIL_E_NOMEM, "cannot allocate an HPKE context");
    VEIL_TRY(res, setup_recipient_into(ctx, params, sk_r, enc, enc_len));
    *out = ctx;
    ctx = NULL;
out:
    veil_hpke_ctx_free(ctx);
    return res;
}

/* ---- Seal / Open / Export (§5.2, §5.3) ---------------------------------- */

/* ComputeNonce(seq) = base_nonce XOR I2OSP(seq, Nn) */
static void compute_nonce(const veil_hpke_ctx *ctx, uint8_t nonce[VEIL_HPKE_NN])
{
    memcpy(nonce, ctx->base_nonce, VEIL_HPKE_NN);
    for (size_t i = 0; i < 8; i++)
        nonce[VEIL_HPKE_NN - 1 - i] ^= (uint8_t)(ctx->seq >> (8 * i));
}

/* RFC 9180 §5.2's sequence limit, then the AEAD's usage limits: q records,
 * q + s blocks, v failed opens (veil/aead_ctx.h has their derivation). */
static veil_result usage_allowed(const veil_hpke_ctx *ctx, uint64_t cost)
{
    VEIL_ENSURE(ctx->seq < SEQ_LIMIT, VEIL_E_CRYPTO, "message limit reached");
    VEIL_ENSURE(ctx->seq < ctx->lim.max_records && cost <= ctx->lim.max_blocks - ctx->blocks,
                VEIL_E_CRYPTO,
                "AEAD usage limit reached (draft-irtf-cfrg-aead-limits): this HPKE context "
                "cannot change keys; start a new one");
    VEIL_ENSURE(ctx->failed_opens < ctx->lim.max_failed_opens, VEIL_E_CRYPTO,
                "AEAD usage limit reached: too many failed opens under this key");
    return VEIL_OK;
}

veil_result veil_hpke_seal(veil_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len,
                           const uint8_t *pt, size_t pt_len, uint8_t *ct, size_t ct_cap,
                           size_t *ct_len)
{
    uint8_t nonce[VEIL_HPKE_NN];
    veil_result res = VEIL_OK;

    VEIL_ENSURE(ctx != NULL && ct != NULL && ct_len != NULL, VEIL_E_USAGE, "NULL argument");
    *ct_len = 0;
    VEIL_ENSURE(ctx->is_sender, VEIL_E_USAGE, "cannot seal with a recipient HPKE context");
    VEIL_ENSURE(ctx->aead->nk > 0, VEIL_E_USAGE,
                "export-only HPKE suite: seal and open are not available");
    VEIL_ENSURE(pt_len <= SIZE_MAX - VEIL_HPKE_TAG_LEN && ct_cap >= pt_len + VEIL_HPKE_TAG_LEN,
                VEIL_E_USAGE, "ciphertext buffer is smaller than plaintext + 16");
    uint64_t cost = veil_aead_record_cost(aad_len, pt_len);
    VEIL_GUARD(usage_allowed(ctx, cost));

    compute_nonce(ctx, nonce);
    VEIL_TRY(res, veil_aead_seal(ctx->suite.aead, ctx->key, nonce, aad, aad_len, pt, pt_len, ct));
    ctx->seq++; /* IncrementSeq, only after success */
    ctx->blocks += cost;
    *ct_len = pt_len + VEIL_HPKE_TAG_LEN;
out:
    veil_wipe(nonce, sizeof nonce);
    return res;
}

veil_result veil_hpke_open(veil_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len,
                           const uint8_t *ct, size_t ct_len, uint8_t *pt, size_t pt_cap,
                           size_t *pt_len)
{
    uint8_t nonce[VEIL_HPKE_NN];
    veil_result res = VEIL_OK;

    if (pt_len)
        *pt_len = 0;
    VEIL_ENSURE_GOTO(res, ctx != NULL && ct != NULL && pt_len != NULL, VEIL_E_USAGE,
                     "NULL argument");
    VEIL_ENSURE_GOTO(res, !ctx->is_sender, VEIL_E_USAGE, "cannot open with a sender HPKE context");
    VEIL_ENSURE_GOTO(res, ctx->aead->nk > 0, VEIL_E_USAGE,
                     "export-only HPKE suite: seal and open are not available");
    VEIL_ENSURE_GOTO(res, ct_len >= VEIL_HPKE_TAG_LEN, VEIL_E_CRYPTO,
                     "HPKE ciphertext is shorter than its tag");
    VEIL_ENSURE_GOTO(res, pt != NULL && pt_cap >= ct_len - VEIL_HPKE_TAG_LEN, VEIL_E_USAGE,
                     "plaintext buffer is smaller than ciphertext - 16");
    uint64_t cost = veil_aead_record_cost(aad_len, ct_len - VEIL_HPKE_TAG_LEN);
    VEIL_TRY(res, usage_allowed(ctx, cost));

    compute_nonce(ctx, nonce);
    res = veil_aead_open(ctx->suite.aead, ctx->key, nonce, aad, aad_len, ct, ct_len, pt);
    if (!veil_ok(res)) {
        ctx->failed_opens++;
        goto out;
    }
    ctx->seq++; /* IncrementSeq, only after success */
    ctx->blocks += cost;
    *pt_len = ct_len - VEIL_HPKE_TAG_LEN;
out:
    veil_wipe(nonce, sizeof nonce);
    if (!veil_ok(res) && pt)
        veil_wipe(pt, pt_cap);
    return res;
}

/* Context.Export(exporter_context, L) = LabeledExpand(exporter_secret, "sec",
 * exporter_context, L) */
veil_result veil_hpke_export(const veil_hpke_ctx *ctx, const uint8_t *exporter_context,
                             size_t exporter_context_len, uint8_t *out, size_t L)
{
    VEIL_ENSURE(ctx != NULL, VEIL_E_USAGE, "HPKE context is NULL");
    VEIL_ENSURE(L <= 255 * ctx->kdf->nh, VEIL_E_USAGE, "HPKE export length exceeds 255*Nh");
    VEIL_ENSURE(exporter_context_len <= VEIL_HPKE_MAX_INFO, VEIL_E_USAGE,
                "HPKE exporter_context is longer than VEIL_HPKE_MAX_INFO");
    VEIL_ENSURE(exporter_context_len == 0 || exporter_context != NULL, VEIL_E_USAGE,
                "HPKE exporter_context is NULL");
    if (L == 0)
        return VEIL_OK;
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "HPKE export output is NULL");
    return veil_hpke_labeled_expand(ctx->suite.kdf, ctx->suite_id, sizeof ctx->suite_id,
                                    ctx->exporter_secret, ctx->kdf->nh, "sec", exporter_context,
                                    exporter_context_len, out, L);
}

const veil_hpke_suite *veil_hpke_ctx_suite(const veil_hpke_ctx *ctx)
{
    return ctx ? &ctx->suite : NULL;
}

void veil_hpke_ctx_free(veil_hpke_ctx *ctx) { veil_free_wiped(ctx, sizeof *ctx); }

veil_result veil_hpke_ctx_secrets(const veil_hpke_ctx *ctx, uint8_t *key, size_t *key_len,
                                  uint8_t base_nonce[12], uint8_t *exporter_secret,
                                  size_t *exporter_len)
{
    VEIL_ENSURE(ctx && key && key_len && base_nonce && exporter_secret && exporter_len,
                VEIL_E_USAGE, "NULL argument");
    memcpy(key, ctx->key, ctx->aead->nk);
    *key_len = ctx->aead->nk;
    memcpy(base_nonce, ctx->base_nonce, VEIL_HPKE_NN);
    memcpy(exporter_secret, ctx->exporter_secret, ctx->kdf->nh);
    *exporter_len = ctx->kdf->nh;
    return VEIL_OK;
}

void veil_hpke_ctx_set_seq(veil_hpke_ctx *ctx, uint64_t seq)
{
    if (ctx)
        ctx->seq = seq;
}

void veil_hpke_ctx_set_usage(veil_hpke_ctx *ctx, uint64_t blocks, uint64_t failed_opens)
{
    if (ctx) {
        ctx->blocks = blocks;
        ctx->failed_opens = failed_opens;
    }
}

/* ---- Single-shot (§6.1) ------------------------------------------------- */

veil_result veil_hpke_seal_once(const veil_hpke_params *params, const veil_hpke_key *pk_r,
                                const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                                size_t pt_len, uint8_t *enc, size_t enc_cap, size_t *enc_len,
                                uint8_t *ct, size_t ct_cap, size_t *ct_len)
{
    veil_hpke_ctx ctx;
    veil_hpke_key *eph = NULL;
    veil_result res = VEIL_OK;

    memset(&ctx, 0, sizeof ctx);
    if (enc_len)
        *enc_len = 0;
    if (ct_len)
        *ct_len = 0;
    VEIL_TRY(res, sender_checks(params, pk_r, enc, enc_cap, enc_len));
    VEIL_ENSURE_GOTO(res, ct != NULL && ct_len != NULL, VEIL_E_USAGE, "ciphertext output is NULL");
    VEIL_ENSURE_GOTO(res, params->suite.aead != VEIL_HPKE_AEAD_EXPORT_ONLY, VEIL_E_USAGE,
                     "export-only HPKE suite: seal and open are not available");
    VEIL_ENSURE_GOTO(res,
                     pt_len <= SIZE_MAX - VEIL_HPKE_TAG_LEN && ct_cap >= pt_len + VEIL_HPKE_TAG_LEN,
                     VEIL_E_USAGE, "ciphertext buffer is smaller than plaintext + 16");
    VEIL_TRY(res, veil_hpke_key_generate(params->suite.kem, &eph));
    VEIL_TRY(res, setup_sender_into(&ctx, params, pk_r, eph, enc, enc_cap, enc_len));
    VEIL_TRY(res, veil_hpke_seal(&ctx, aad, aad_len, pt, pt_len, ct, ct_cap, ct_len));
out:
    veil_hpke_key_free(eph);
    veil_wipe(&ctx, sizeof ctx);
    if (!veil_ok(res) && enc_len)
        *enc_len = 0;
    return res;
}

veil_result veil_hpke_open_once(const veil_hpke_params *params, const veil_hpke_key *sk_r,
                                const uint8_t *enc, size_t enc_len, const uint8_t *aad,
                                size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *pt,
                                size_t pt_cap, size_t *pt_len)
{
    veil_hpke_ctx ctx;
    veil_result res = VEIL_OK;

    memset(&ctx, 0, sizeof ctx);
    if (pt_len)
        *pt_len = 0;
    VEIL_TRY(res, check_params(params, sk_r, 0));
    VEIL_ENSURE_GOTO(res, ct != NULL && pt_len != NULL, VEIL_E_USAGE, "NULL argument");
    VEIL_ENSURE_GOTO(res, params->suite.aead != VEIL_HPKE_AEAD_EXPORT_ONLY, VEIL_E_USAGE,
                     "export-only HPKE suite: seal and open are not available");
    VEIL_ENSURE_GOTO(res, ct_len >= VEIL_HPKE_TAG_LEN, VEIL_E_CRYPTO,
                     "HPKE ciphertext is shorter than its tag");
    VEIL_ENSURE_GOTO(res, pt != NULL && pt_cap >= ct_len - VEIL_HPKE_TAG_LEN, VEIL_E_USAGE,
                     "plaintext buffer is smaller than ciphertext - 16");
    VEIL_TRY(res, setup_recipient_into(&ctx, params, sk_r, enc, enc_len));
    VEIL_TRY(res, veil_hpke_open(&ctx, aad, aad_len, ct, ct_len, pt, pt_cap, pt_len));
out:
    veil_wipe(&ctx, sizeof ctx);
    if (!veil_ok(res) && pt)
        veil_wipe(pt, pt_cap);
    return res;
}
