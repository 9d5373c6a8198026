/* OHTTP key configurations and `application/ohttp-keys` lists (RFC 9458 §3),
 * and the client's choice of suite. */
#include <string.h>

#include "veil/mem.h"
#include "veil/ohttp.h"

/* RFC 9458 §3.1:
 *   Key Identifier (8), HPKE KEM ID (16), HPKE Public Key (Npk * 8),
 *   HPKE Symmetric Algorithms Length (16) = 4 * n, n >= 1,
 *   HPKE Symmetric Algorithms (32) ... = { KDF ID (16), AEAD ID (16) } */
veil_result veil_ohttp_keyconfig_decode(const uint8_t *p, size_t n, veil_ohttp_keyconfig *out)
{
    memset(out, 0, sizeof *out);
    veil_cursor c = veil_cursor_init(p, n), algs;
    VEIL_ENSURE(n >= 3, VEIL_E_PROTOCOL, "ohttp key config: shorter than its fixed header");
    VEIL_GUARD(veil_cursor_u8(&c, &out->key_id));
    VEIL_GUARD(veil_cursor_u16(&c, &out->kem));
    const veil_hpke_kem_info *kem = veil_hpke_kem_info_get(out->kem);
    VEIL_ENSURE(kem != NULL, VEIL_E_UNSUPPORTED, "ohttp key config: unsupported HPKE KEM");
    VEIL_ENSURE(veil_cursor_remaining(&c) >= kem->n_pk, VEIL_E_PROTOCOL,
                "ohttp key config: public key shorter than the KEM requires");
    VEIL_GUARD(veil_cursor_copy(&c, out->public_key, kem->n_pk));
    out->public_key_len = kem->n_pk;
    VEIL_ENSURE(veil_cursor_remaining(&c) >= 2, VEIL_E_PROTOCOL,
                "ohttp key config: missing symmetric algorithms length");
    VEIL_GUARD(veil_cursor_sub_u16(&c, &algs));
    VEIL_ENSURE(veil_cursor_remaining(&algs) >= 4 && veil_cursor_remaining(&algs) % 4 == 0,
                VEIL_E_PROTOCOL,
                "ohttp key config: symmetric algorithms length is not a positive multiple of 4");
    VEIL_ENSURE(veil_cursor_remaining(&algs) / 4 <= VEIL_OHTTP_MAX_SYMALGS, VEIL_E_NOMEM,
                "ohttp key config: offers more algorithm pairs than veil accepts (64)");
    while (!veil_cursor_at_end(&algs)) {
        veil_ohttp_symalg *a = &out->algs[out->n_algs++];
        VEIL_GUARD(veil_cursor_u16(&algs, &a->kdf));
        VEIL_GUARD(veil_cursor_u16(&algs, &a->aead));
    }
    VEIL_GUARD(veil_cursor_expect_end(&c, "ohttp key config: trailing bytes after the config"));
    /* The public key must be a valid point for the KEM. */
    veil_hpke_key *pk = NULL;
    veil_result r = veil_hpke_key_from_public(out->kem, out->public_key, out->public_key_len, &pk);
    veil_hpke_key_free(pk);
    VEIL_ENSURE(veil_ok(r), VEIL_E_PROTOCOL,
                "ohttp key config: public key is not valid for its KEM");
    return VEIL_OK;
}

veil_result veil_ohttp_keyconfig_encode(const veil_ohttp_keyconfig *cfg, veil_buf *out)
{
    const veil_hpke_kem_info *kem = veil_hpke_kem_info_get(cfg->kem);
    VEIL_ENSURE(kem != NULL && cfg->public_key_len == kem->n_pk, VEIL_E_USAGE,
                "ohttp key config: KEM unknown or public key of the wrong length");
    VEIL_ENSURE(cfg->n_algs >= 1 && cfg->n_algs <= VEIL_OHTTP_MAX_SYMALGS, VEIL_E_USAGE,
                "ohttp key config: needs 1 to 64 algorithm pairs");
    VEIL_GUARD(veil_buf_u8(out, cfg->key_id));
    VEIL_GUARD(veil_buf_u16(out, cfg->kem));
    VEIL_GUARD(veil_buf_append(out, cfg->public_key, cfg->public_key_len));
    VEIL_GUARD(veil_buf_u16(out, (uint16_t)(4 * cfg->n_algs)));
    for (size_t i = 0; i < cfg->n_algs; i++) {
        VEIL_GUARD(veil_buf_u16(out, cfg->algs[i].kdf));
        VEIL_GUARD(veil_buf_u16(out, cfg->algs[i].aead));
    }
    return VEIL_OK;
}

veil_result veil_ohttp_keyconfig_for_key(uint8_t key_id, const veil_hpke_key *key,
                                         const veil_ohttp_symalg *algs, size_t n_algs,
                                         veil_ohttp_keyconfig *out)
{
    memset(out, 0, sizeof *out);
    VEIL_ENSURE(n_algs >= 1 && n_algs <= VEIL_OHTTP_MAX_SYMALGS, VEIL_E_USAGE,
                "ohttp key config: needs 1 to 64 algorithm pairs");
    out->key_id = key_id;
    out->kem = veil_hpke_key_kem(key);
    VEIL_GUARD(
        veil_hpke_key_public(key, out->public_key, sizeof out->public_key, &out->public_key_len));
    memcpy(out->algs, algs, n_algs * sizeof *algs);
    out->n_algs = n_algs;
    return VEIL_OK;
}

static bool usable_pair(uint16_t kem, veil_ohttp_symalg a)
{
    veil_hpke_suite s = {kem, a.kdf, a.aead};
    return a.aead != VEIL_HPKE_AEAD_EXPORT_ONLY && veil_ok(veil_hpke_suite_check(&s));
}

static bool has_usable_pair(const veil_ohttp_keyconfig *cfg)
{
    for (size_t i = 0; i < cfg->n_algs; i++)
        if (usable_pair(cfg->kem, cfg->algs[i]))
            return true;
    return false;
}

veil_result veil_ohttp_keys_decode(const uint8_t *p, size_t n, veil_ohttp_keyconfig *out,
                                   size_t cap, size_t *count, size_t *skipped)
{
    *count = 0;
    *skipped = 0;
    veil_cursor c = veil_cursor_init(p, n);
    VEIL_ENSURE(n > 0, VEIL_E_PROTOCOL, "ohttp-keys: empty key configuration list");
    while (!veil_cursor_at_end(&c)) {
        veil_cursor one;
        VEIL_ENSURE(veil_ok(veil_cursor_sub_u16(&c, &one)), VEIL_E_PROTOCOL,
                    "ohttp-keys: a config's 2-byte length runs past the end of the list");
        VEIL_ENSURE(veil_cursor_remaining(&one) > 0, VEIL_E_PROTOCOL,
                    "ohttp-keys: zero-length key config");
        veil_ohttp_keyconfig tmp;
        veil_result r = veil_ohttp_keyconfig_decode(veil_cursor_peek_ptr(&one),
                                                    veil_cursor_remaining(&one), &tmp);
        if (r.cls == VEIL_E_UNSUPPORTED || (veil_ok(r) && !has_usable_pair(&tmp))) {
            (*skipped)++; /* §3.2: clients ignore configs they cannot use */
            continue;
        }
        VEIL_GUARD(r);
        VEIL_ENSURE(*count < cap, VEIL_E_NOMEM,
                    "ohttp-keys: more key configs than the caller allows");
        out[(*count)++] = tmp;
    }
    return VEIL_OK;
}

veil_result veil_ohttp_keys_encode(const veil_ohttp_keyconfig *cfgs, size_t n, veil_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        size_t at = out->len;
        VEIL_GUARD(veil_buf_u16(out, 0));
        VEIL_GUARD(veil_ohttp_keyconfig_encode(&cfgs[i], out));
        size_t len = out->len - at - 2;
        VEIL_ENSURE(len <= 0xFFFF, VEIL_E_USAGE, "ohttp-keys: key config longer than 65535 bytes");
        VEIL_GUARD(veil_buf_patch_u16(out, at, (uint16_t)len));
    }
    return VEIL_OK;
}

/* Strength in bits of each component, with a small tie-break so equal
 * strengths still order deterministically (RFC 9180 §7 and §9.2). */
static unsigned kem_bits(uint16_t kem)
{
    switch (kem) {
    case VEIL_HPKE_KEM_P256: return 1280;
    case VEIL_HPKE_KEM_X25519: return 1281;
    case VEIL_HPKE_KEM_P384: return 1920;
    case VEIL_HPKE_KEM_X448: return 2240;
    case VEIL_HPKE_KEM_P521: return 2560;
    }
    return 0;
}

static unsigned aead_bits(uint16_t aead)
{
    switch (aead) {
    case VEIL_HPKE_AEAD_AES128GCM: return 1280;
    case VEIL_HPKE_AEAD_CHACHA20POLY1305: return 2560;
    case VEIL_HPKE_AEAD_AES256GCM: return 2561;
    }
    return 0;
}

static unsigned kdf_bits(uint16_t kdf)
{
    /* collision resistance: half the output */
    return (unsigned)veil_hpke_kdf_nh(kdf) * 8 / 2 * 10;
}

static unsigned min3(unsigned a, unsigned b, unsigned c)
{
    unsigned m = a < b ? a : b;
    return m < c ? m : c;
}

/* Lexicographic score: effective level, then KEM, AEAD, KDF strength. */
static uint64_t suite_score(uint16_t kem, veil_ohttp_symalg a)
{
    uint64_t level = min3(kem_bits(kem) / 10, aead_bits(a.aead) / 10, kdf_bits(a.kdf) / 10);
    return level << 48 | (uint64_t)kem_bits(kem) << 32 | (uint64_t)aead_bits(a.aead) << 16 |
           kdf_bits(a.kdf);
}

veil_result veil_ohttp_select(const veil_ohttp_keyconfig *cfgs, size_t n, size_t *cfg_index,
                              veil_hpke_suite *suite)
{
    uint64_t best = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < cfgs[i].n_algs; j++) {
            if (!usable_pair(cfgs[i].kem, cfgs[i].algs[j]))
                continue;
            uint64_t s = suite_score(cfgs[i].kem, cfgs[i].algs[j]);
            if (s > best) {
                best = s;
                *cfg_index = i;
                *suite = (veil_hpke_suite){cfgs[i].kem, cfgs[i].algs[j].kdf, cfgs[i].algs[j].aead};
            }
        }
    }
    VEIL_ENSURE(best != 0, VEIL_E_UNSUPPORTED, "ohttp: no key config offers a suite veil supports");
    return VEIL_OK;
}

bool veil_ohttp_keyconfig_equal(const veil_ohttp_keyconfig *a, const veil_ohttp_keyconfig *b)
{
    if (a->key_id != b->key_id || a->kem != b->kem || a->public_key_len != b->public_key_len ||
        a->n_algs != b->n_algs ||
        !veil_public_equal(a->public_key, a->public_key_len, b->public_key, b->public_key_len))
        return false;
    for (size_t i = 0; i < a->n_algs; i++)
        if (a->algs[i].kdf != b->algs[i].kdf || a->algs[i].aead != b->algs[i].aead)
            return false;
    return true;
}
