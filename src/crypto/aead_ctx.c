/* AEAD record context with per-key usage limits and deterministic rekeying.
 *
 * Default limits: draft-irtf-cfrg-aead-limits, "Single-Key AEAD Limits"
 * (§5 in the -08 and later revisions), target advantage p = 2^-57 (the
 * value TLS 1.3 and QUIC use). L is a record's length in 16-byte blocks.
 *
 *  AES-128-GCM / AES-256-GCM, §5.1.1 Confidentiality Limit:
 *      CA <= (s + q + 1)^2 / 2^129  =>  q + s <= p^(1/2) * 2^(129/2) - 1 = 2^36 - 1
 *    (s = blocks of AAD + plaintext, q = records). We charge each record
 *    ceil(|aad|/16) + ceil(|pt|/16) + 1 blocks, so max_blocks = 2^36 - 1 bounds
 *    q + s; it also caps q (each record costs >= 1), so max_records = 2^36 - 1.
 *    (For 16 KiB records, L = 2^10, this is q <= 2^36 / (L + 1) ~ 2^26.)
 *  AES-GCM, §5.1.2 Integrity Limit:
 *      IA <= 2 * v * (L + 1) / 2^128  =>  v <= p * 2^127 / (L + 1) = 2^70 / (L + 1)
 *  ChaCha20-Poly1305, §5.2 (combined bound):
 *      AEA <= v * (L + 1) / 2^103  =>  v <= p * 2^103 / (L + 1) = 2^46 / (L + 1)
 *    The draft gives no confidentiality limit on q for ChaCha20-Poly1305;
 *    records and blocks are then bounded only by the 64-bit counters.
 *  The v defaults assume records of at most L = 2^10 blocks (AAD + plaintext
 *  <= 16 KiB, as in TLS): AES-GCM v <= floor(2^70 / 1025) ~ 2^60,
 *  ChaCha20-Poly1305 v <= floor(2^46 / 1025) ~ 2^36. Callers opening larger
 *  records should set a lower max_failed_opens.
 *
 * Failed opens are counted over the context's life, not reset on rotation:
 * a forgery tried against the tentative next-epoch key must count too, and
 * the opener cannot rotate on its own (the sealer would not follow). */
#include <string.h>

#include "crypto/primitives.h"
#include "veil/aead_ctx.h"
#include "veil/hpke.h"
#include "veil/mem.h"

#define AEAD_CTX_MAX_NK 32
#define AEAD_CTX_BLOCK 16

static const uint8_t EPOCH_SALT[] = "veil-aead-epoch"; /* without the NUL */
static const uint8_t NEXT_LABEL[] = "veil-aead-next";

enum { ROLE_NONE = 0, ROLE_SEAL = 1, ROLE_OPEN = 2 };

struct veil_aead_ctx {
    uint16_t aead_id;
    size_t nk;
    int allow_rotation;
    int role;
    veil_aead_limits lim;
    uint64_t epoch;
    uint64_t records; /* q this epoch = sequence number of the next record */
    uint64_t blocks;  /* q + s this epoch */
    uint64_t failed_opens;
    int have_last;
    uint8_t last_nonce[VEIL_AEAD_NONCE_LEN];
    uint8_t key[AEAD_CTX_MAX_NK];
    uint8_t base_nonce[VEIL_AEAD_NONCE_LEN];
};

/* Key and base nonce of one epoch, held on the stack while a rotation is
 * tentative; wiped by the caller. */
typedef struct {
    uint8_t key[AEAD_CTX_MAX_NK];
    uint8_t base_nonce[VEIL_AEAD_NONCE_LEN];
} epoch_keys;

veil_result veil_aead_default_limits(uint16_t aead_id, veil_aead_limits *out)
{
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "AEAD limits output is NULL");
    switch (aead_id) {
    case VEIL_HPKE_AEAD_AES128GCM:
    case VEIL_HPKE_AEAD_AES256GCM:
        out->max_records = ((uint64_t)1 << 36) - 1; /* §5.1.1 */
        out->max_blocks = ((uint64_t)1 << 36) - 1;  /* §5.1.1: q + s */
        /* floor(2^70 / 1025), §5.1.2 with L = 2^10 */
        out->max_failed_opens = UINT64_C(1151796703138937856);
        return VEIL_OK;
    case VEIL_HPKE_AEAD_CHACHA20POLY1305:
        out->max_records = UINT64_MAX; /* no CL on q (§5.2) */
        out->max_blocks = UINT64_MAX;
        out->max_failed_opens = UINT64_C(68652433344); /* floor(2^46 / 1025), §5.2 */
        return VEIL_OK;
    default: return VEIL_ERR(VEIL_E_UNSUPPORTED, "AEAD has no usage limits in veil");
    }
}

/* Blocks charged to one record: ceil(aad/16) + ceil(pt/16) + 1 (the "+ q"). */
uint64_t veil_aead_record_cost(size_t aad_len, size_t pt_len)
{
    uint64_t a = (uint64_t)aad_len / AEAD_CTX_BLOCK + (aad_len % AEAD_CTX_BLOCK != 0);
    uint64_t p = (uint64_t)pt_len / AEAD_CTX_BLOCK + (pt_len % AEAD_CTX_BLOCK != 0);
    return a + p + 1; /* both terms <= 2^60: no overflow */
}

/* Would this record push the current epoch past a limit? */
static int needs_rotation(const veil_aead_ctx *c, uint64_t cost)
{
    return c->records >= c->lim.max_records || cost > c->lim.max_blocks - c->blocks;
}

/* nonce = base XOR I2OSP(seq, 12): the top 4 bytes of seq are zero. */
static void make_nonce(const uint8_t base[VEIL_AEAD_NONCE_LEN], uint64_t seq,
                       uint8_t nonce[VEIL_AEAD_NONCE_LEN])
{
    memcpy(nonce, base, VEIL_AEAD_NONCE_LEN);
    for (int i = 0; i < 8; i++)
        nonce[VEIL_AEAD_NONCE_LEN - 1 - i] ^= (uint8_t)(seq >> (8 * i));
}

/* Next epoch's key || base nonce from the current key (see aead_ctx.h). */
static veil_result derive_next(const veil_aead_ctx *c, epoch_keys *next)
{
    veil_result res = VEIL_OK;
    uint8_t prk[32];
    uint8_t okm[AEAD_CTX_MAX_NK + VEIL_AEAD_NONCE_LEN];
    uint8_t info[sizeof NEXT_LABEL - 1 + 8];
    uint64_t e = c->epoch + 1;

    memcpy(info, NEXT_LABEL, sizeof NEXT_LABEL - 1);
    for (int i = 0; i < 8; i++)
        info[sizeof NEXT_LABEL - 1 + (size_t)i] = (uint8_t)(e >> (56 - 8 * i));
    VEIL_TRY(res, veil_hkdf_extract(VEIL_HPKE_KDF_SHA256, EPOCH_SALT, sizeof EPOCH_SALT - 1, c->key,
                                    c->nk, prk, sizeof prk));
    VEIL_TRY(res, veil_hkdf_expand(VEIL_HPKE_KDF_SHA256, prk, sizeof prk, info, sizeof info, okm,
                                   c->nk + VEIL_AEAD_NONCE_LEN));
    memcpy(next->key, okm, c->nk);
    memcpy(next->base_nonce, okm + c->nk, VEIL_AEAD_NONCE_LEN);
out:
    veil_wipe(prk, sizeof prk);
    veil_wipe(okm, sizeof okm);
    return res;
}

/* Choose the key and nonce for the next record: the current epoch's, or
 * (tentatively) the next epoch's. Nothing in c changes here. */
static veil_result plan_record(const veil_aead_ctx *c, uint64_t cost, epoch_keys *k,
                               uint8_t nonce[VEIL_AEAD_NONCE_LEN], int *rotate)
{
    *rotate = 0;
    VEIL_ENSURE(cost <= c->lim.max_blocks && c->lim.max_records > 0, VEIL_E_USAGE,
                "record exceeds the AEAD block limit");
    if (!needs_rotation(c, cost)) {
        memcpy(k->key, c->key, c->nk);
        make_nonce(c->base_nonce, c->records, nonce);
        return VEIL_OK;
    }
    VEIL_ENSURE(c->allow_rotation && c->epoch < UINT64_MAX, VEIL_E_CRYPTO,
                "AEAD usage limit reached");
    VEIL_GUARD(derive_next(c, k));
    make_nonce(k->base_nonce, 0, nonce);
    *rotate = 1;
    return VEIL_OK;
}

/* The record succeeded: adopt the new epoch if any, then count it. */
static void commit_record(veil_aead_ctx *c, const epoch_keys *k, int rotate, uint64_t cost,
                          const uint8_t nonce[VEIL_AEAD_NONCE_LEN])
{
    if (rotate) {
        memcpy(c->key, k->key, c->nk);
        memcpy(c->base_nonce, k->base_nonce, VEIL_AEAD_NONCE_LEN);
        c->epoch++;
        c->records = 0;
        c->blocks = 0;
    }
    c->records++;
    c->blocks += cost;
    memcpy(c->last_nonce, nonce, VEIL_AEAD_NONCE_LEN);
    c->have_last = 1;
}

veil_result veil_aead_ctx_new(uint16_t aead_id, const uint8_t *key, size_t key_len,
                              const uint8_t base_nonce[VEIL_AEAD_CTX_NONCE_LEN],
                              const veil_aead_limits *limits, int allow_rotation,
                              veil_aead_ctx **out)
{
    veil_aead_limits def;
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "AEAD context output is NULL");
    *out = NULL;
    VEIL_GUARD(veil_aead_default_limits(aead_id, &def));
    size_t nk = veil_hpke_aead_nk(aead_id);
    VEIL_ENSURE(key != NULL && base_nonce != NULL, VEIL_E_USAGE, "AEAD key or nonce is NULL");
    VEIL_ENSURE(nk > 0 && nk <= AEAD_CTX_MAX_NK && key_len == nk, VEIL_E_USAGE,
                "AEAD key has the wrong length");
    veil_aead_limits lim = def;
    if (limits) {
        VEIL_ENSURE(limits->max_records <= def.max_records &&
                        limits->max_blocks <= def.max_blocks &&
                        limits->max_failed_opens <= def.max_failed_opens,
                    VEIL_E_USAGE, "AEAD limits may only be lowered");
        if (limits->max_records)
            lim.max_records = limits->max_records;
        if (limits->max_blocks)
            lim.max_blocks = limits->max_blocks;
        if (limits->max_failed_opens)
            lim.max_failed_opens = limits->max_failed_opens;
    }
    veil_aead_ctx *c = veil_calloc(1, sizeof *c);
    VEIL_ENSURE(c != NULL, VEIL_E_NOMEM, "out of memory");
    c->aead_id = aead_id;
    c->nk = nk;
    c->allow_rotation = allow_rotation != 0;
    c->lim = lim;
    memcpy(c->key, key, nk);
    memcpy(c->base_nonce, base_nonce, VEIL_AEAD_NONCE_LEN);
    *out = c;
    return VEIL_OK;
}

static veil_result take_role(veil_aead_ctx *c, int role)
{
    VEIL_ENSURE(c->role == ROLE_NONE || c->role == role, VEIL_E_USAGE,
                "AEAD context used for both sealing and opening");
    c->role = role;
    return VEIL_OK;
}

veil_result veil_aead_ctx_seal(veil_aead_ctx *ctx, const uint8_t *aad, size_t aad_len,
                               const uint8_t *pt, size_t n, uint8_t *out)
{
    veil_result res = VEIL_OK;
    epoch_keys k;
    uint8_t nonce[VEIL_AEAD_NONCE_LEN];
    int rotate = 0;

    memset(&k, 0, sizeof k);
    VEIL_ENSURE_GOTO(res, ctx != NULL && out != NULL, VEIL_E_USAGE, "AEAD seal argument is NULL");
    VEIL_TRY(res, take_role(ctx, ROLE_SEAL));
    uint64_t cost = veil_aead_record_cost(aad_len, n);
    VEIL_TRY(res, plan_record(ctx, cost, &k, nonce, &rotate));
    VEIL_TRY(res, veil_aead_seal(ctx->aead_id, k.key, nonce, aad, aad_len, pt, n, out));
    commit_record(ctx, &k, rotate, cost, nonce);
out:
    veil_wipe(&k, sizeof k);
    return res;
}

veil_result veil_aead_ctx_open(veil_aead_ctx *ctx, const uint8_t *aad, size_t aad_len,
                               const uint8_t *ct, size_t ct_len, uint8_t *pt_out)
{
    veil_result res = VEIL_OK;
    epoch_keys k;
    uint8_t nonce[VEIL_AEAD_NONCE_LEN];
    int rotate = 0;

    memset(&k, 0, sizeof k);
    VEIL_ENSURE_GOTO(res, ctx != NULL && ct != NULL, VEIL_E_USAGE, "AEAD open argument is NULL");
    VEIL_ENSURE_GOTO(res, ct_len >= VEIL_AEAD_TAG_LEN, VEIL_E_PROTOCOL,
                     "AEAD record shorter than its tag");
    size_t n = ct_len - VEIL_AEAD_TAG_LEN;
    VEIL_ENSURE_GOTO(res, n == 0 || pt_out != NULL, VEIL_E_USAGE, "AEAD open output is NULL");
    VEIL_TRY(res, take_role(ctx, ROLE_OPEN));
    /* §5.1.2 / §5.2: after v failed opens, the key must not verify again. */
    VEIL_ENSURE_GOTO(res, ctx->failed_opens < ctx->lim.max_failed_opens, VEIL_E_CRYPTO,
                     "AEAD integrity limit reached");
    uint64_t cost = veil_aead_record_cost(aad_len, n);
    VEIL_TRY(res, plan_record(ctx, cost, &k, nonce, &rotate));
    res = veil_aead_open(ctx->aead_id, k.key, nonce, aad, aad_len, ct, ct_len, pt_out);
    if (!veil_ok(res)) {
        if (res.cls == VEIL_E_CRYPTO)
            ctx->failed_opens++;
        goto out;
    }
    commit_record(ctx, &k, rotate, cost, nonce);
out:
    veil_wipe(&k, sizeof k);
    if (!veil_ok(res) && pt_out != NULL && ct_len >= VEIL_AEAD_TAG_LEN)
        veil_wipe(pt_out, ct_len - VEIL_AEAD_TAG_LEN);
    return res;
}

uint64_t veil_aead_ctx_epoch(const veil_aead_ctx *ctx) { return ctx ? ctx->epoch : 0; }

veil_result veil_aead_ctx_last_nonce(const veil_aead_ctx *ctx, uint8_t out[VEIL_AEAD_CTX_NONCE_LEN])
{
    VEIL_ENSURE(ctx != NULL && out != NULL, VEIL_E_USAGE, "AEAD nonce argument is NULL");
    VEIL_ENSURE(ctx->have_last, VEIL_E_USAGE, "no AEAD record processed yet");
    memcpy(out, ctx->last_nonce, VEIL_AEAD_NONCE_LEN);
    return VEIL_OK;
}

void veil_aead_ctx_free(veil_aead_ctx *ctx) { veil_free_wiped(ctx, sizeof *ctx); }
