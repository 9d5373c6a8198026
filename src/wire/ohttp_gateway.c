/* The gateway's set of live OHTTP keys, indexed by key id. */
#include <string.h>

#include "ohttp_internal.h"
#include "veil/mem.h"

struct gw_entry {
    bool used;
    veil_ohttp_keyconfig cfg;
    veil_hpke_key *key;
};

struct veil_ohttp_gateway {
    struct gw_entry keys[256]; /* one slot per possible key id */
};

veil_result veil_ohttp_gateway_new(veil_ohttp_gateway **out)
{
    *out = veil_calloc(1, sizeof **out);
    VEIL_ENSURE(*out != NULL, VEIL_E_NOMEM, "out of memory creating the gateway key set");
    return VEIL_OK;
}

veil_result veil_ohttp_gateway_add(veil_ohttp_gateway *gw, const veil_ohttp_keyconfig *cfg,
                                   veil_hpke_key *key)
{
    struct gw_entry *e = &gw->keys[cfg->key_id];
    VEIL_ENSURE(!e->used, VEIL_E_USAGE, "ohttp gateway: key id already in use");
    VEIL_ENSURE(veil_hpke_key_has_private(key) && veil_hpke_key_kem(key) == cfg->kem, VEIL_E_USAGE,
                "ohttp gateway: key is not a private key of the config's KEM");
    uint8_t pk[VEIL_HPKE_MAX_PK];
    size_t pk_len;
    VEIL_GUARD(veil_hpke_key_public(key, pk, sizeof pk, &pk_len));
    VEIL_ENSURE(veil_public_equal(pk, pk_len, cfg->public_key, cfg->public_key_len), VEIL_E_USAGE,
                "ohttp gateway: key does not match the config's public key");
    e->used = true;
    e->cfg = *cfg;
    e->key = key;
    return VEIL_OK;
}

void veil_ohttp_gateway_remove(veil_ohttp_gateway *gw, uint8_t key_id)
{
    struct gw_entry *e = &gw->keys[key_id];
    veil_hpke_key_free(e->key);
    memset(e, 0, sizeof *e);
}

void veil_ohttp_gateway_update(veil_ohttp_gateway *gw, veil_ohttp_gateway *from)
{
    for (size_t i = 0; gw && from && i < 256; i++) {
        struct gw_entry *d = &gw->keys[i], *s = &from->keys[i];
        if (d->used && s->used && veil_ohttp_keyconfig_equal(&d->cfg, &s->cfg))
            continue; /* the same key: from's copy is freed below */
        veil_ohttp_gateway_remove(gw, (uint8_t)i);
        if (s->used) {
            *d = *s;
            memset(s, 0, sizeof *s);
        }
    }
    veil_ohttp_gateway_free(from);
}

veil_result veil_ohttp_gateway_keys(const veil_ohttp_gateway *gw, veil_buf *out)
{
    for (size_t i = 0; i < 256; i++)
        if (gw->keys[i].used)
            VEIL_GUARD(veil_ohttp_keys_encode(&gw->keys[i].cfg, 1, out));
    return VEIL_OK;
}

void veil_ohttp_gateway_free(veil_ohttp_gateway *gw)
{
    if (!gw)
        return;
    for (size_t i = 0; i < 256; i++)
        veil_ohttp_gateway_remove(gw, (uint8_t)i);
    veil_free(gw);
}

static bool config_offers(const veil_ohttp_keyconfig *cfg, const veil_hpke_suite *s)
{
    if (s->kem != cfg->kem || s->aead == VEIL_HPKE_AEAD_EXPORT_ONLY)
        return false;
    for (size_t i = 0; i < cfg->n_algs; i++)
        if (cfg->algs[i].kdf == s->kdf && cfg->algs[i].aead == s->aead)
            return true;
    return false;
}

static veil_result fail(veil_ohttp_decap_error *why, veil_ohttp_decap_error kind, veil_result r)
{
    if (why)
        *why = kind;
    return r;
}

/* RFC 9458 §4.3, gateway side: hdr = key_id, kem_id, kdf_id, aead_id; then
 * enc (Nenc bytes). The suite must be one the key's config offers. */
veil_result ohttp_recipient_setup(const veil_ohttp_gateway *gw, veil_cursor *c, const char *label,
                                  ohttp_header *h, uint8_t *enc, size_t *enc_len,
                                  veil_hpke_ctx **ctx, veil_ohttp_decap_error *why)
{
    const veil_ohttp_decap_error M = VEIL_OHTTP_DECAP_MALFORMED;
    if (veil_cursor_remaining(c) < VEIL_OHTTP_HDR_LEN)
        return fail(why, M, VEIL_ERR(VEIL_E_PROTOCOL, "ohttp: request shorter than its header"));
    VEIL_GUARD(veil_cursor_u8(c, &h->key_id));
    VEIL_GUARD(veil_cursor_u16(c, &h->suite.kem));
    VEIL_GUARD(veil_cursor_u16(c, &h->suite.kdf));
    VEIL_GUARD(veil_cursor_u16(c, &h->suite.aead));
    const struct gw_entry *e = &gw->keys[h->key_id];
    if (!e->used)
        return fail(why, VEIL_OHTTP_DECAP_UNKNOWN_KEY,
                    VEIL_ERR(VEIL_E_PROTOCOL, "ohttp: unknown key identifier; fetch the "
                                              "gateway's current key configuration"));
    if (!config_offers(&e->cfg, &h->suite))
        return fail(why, VEIL_OHTTP_DECAP_UNSUPPORTED_SUITE,
                    VEIL_ERR(VEIL_E_UNSUPPORTED,
                             "ohttp: the request's KEM/KDF/AEAD is not offered by that key"));
    *enc_len = veil_hpke_kem_info_get(h->suite.kem)->n_enc;
    if (veil_cursor_remaining(c) < *enc_len)
        return fail(why, M, VEIL_ERR(VEIL_E_PROTOCOL, "ohttp: encapsulated key is truncated"));
    VEIL_GUARD(veil_cursor_copy(c, enc, *enc_len));

    uint8_t info[OHTTP_MAX_INFO];
    veil_hpke_params params = {.suite = h->suite,
                               .mode = VEIL_HPKE_MODE_BASE,
                               .info = info,
                               .info_len = ohttp_build_info(label, h, info)};
    veil_result r = veil_hpke_setup_recipient(&params, e->key, enc, *enc_len, ctx);
    if (!veil_ok(r))
        return fail(why, VEIL_OHTTP_DECAP_DECRYPT, r);
    return VEIL_OK;
}
