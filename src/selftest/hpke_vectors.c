/* RFC 9180 test vectors (the CFRG test-vectors.json format): every case is
 * replayed through the public HPKE API plus the deterministic hooks of
 * crypto/hpke_internal.h, and counts as one pass or one failure.
 *
 * Per case: DeriveKeyPair(ikmE/ikmR/ikmS) reproduces skXm/pkXm; sender setup
 * with the vector's ephemeral reproduces enc; Encap and Decap reproduce
 * shared_secret; both contexts hold key, base_nonce and exporter_secret;
 * every encryption seals to ct (sender, in order) and opens to pt
 * (recipient, in order); every export matches on both sides.
 *
 * Format errors (not an array of objects with integer mode/kem_id/kdf_id/
 * aead_id) make the whole run an error; a missing or malformed field inside a
 * case is a failure of that case, named in `why`. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crypto/hpke_internal.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/selftest.h"

#define WHY_MAX 160

/* One case's decoded fields; the bufs own their bytes. */
typedef struct tv_case {
    const json_t *obj;
    veil_hpke_suite suite;
    uint8_t mode;
    veil_buf info, psk, psk_id, enc, shared_secret, key, base_nonce, exporter_secret;
    veil_hpke_key *k_e, *k_r, *k_s, *pk_r, *pk_s;
    veil_hpke_ctx *sender, *recipient;
    veil_buf a, b, c; /* scratch: per-encryption/export fields */
    veil_buf out;     /* scratch: computed output */
    char why[WHY_MAX];
} tv_case;

/* A failure with a formatted reason; always returns 0 ("did not pass"). */
static int fail(tv_case *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(tv_case *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->why, sizeof t->why, fmt, ap);
    va_end(ap);
    return 0;
}

/* Prefix the reason already in t->why with `what`. */
static int fail_in(tv_case *t, const char *what)
{
    char inner[WHY_MAX];
    memcpy(inner, t->why, sizeof inner);
    inner[sizeof inner - 1] = '\0';
    return fail(t, "%s: %.100s", what, inner);
}

static int fail_res(tv_case *t, const char *what, veil_result r)
{
    return fail(t, "%s failed: %s", what, r.msg ? r.msg : "?");
}

/* Decode hex field `name` of `obj` into `out` (replacing its contents). */
static int hex_field(tv_case *t, const json_t *obj, const char *name, veil_buf *out)
{
    const json_t *v = json_object_get(obj, name);
    veil_buf_clear(out);
    if (!json_is_string(v))
        return fail(t, "missing field %s", name);
    if (!veil_ok(veil_hex_decode(json_string_value(v), json_string_length(v), out)))
        return fail(t, "field %s is not hex", name);
    return 1;
}

static int same(const veil_buf *want, const uint8_t *got, size_t got_len)
{
    return veil_public_equal(want->data, want->len, got, got_len);
}

/* DeriveKeyPair(ikmX) must give skXm and pkXm; `pub` also gets the public
 * key deserialised from pkXm (what the other side would hold). */
static int derive_check(tv_case *t, char x, veil_hpke_key **pair, veil_hpke_key **pub)
{
    char ikm_name[8], pk_name[8], sk_name[8];
    uint8_t got[VEIL_HPKE_MAX_PK];
    size_t got_len = 0;
    veil_result r;
    snprintf(ikm_name, sizeof ikm_name, "ikm%c", x);
    snprintf(pk_name, sizeof pk_name, "pk%cm", x);
    snprintf(sk_name, sizeof sk_name, "sk%cm", x);

    if (!hex_field(t, t->obj, ikm_name, &t->a))
        return 0;
    if (!veil_ok(r = veil_hpke_key_derive(t->suite.kem, t->a.data, t->a.len, pair)))
        return fail_res(t, ikm_name, r);
    if (!hex_field(t, t->obj, sk_name, &t->b))
        return 0;
    if (!veil_ok(veil_hpke_key_private(*pair, got, sizeof got, &got_len)) ||
        !same(&t->b, got, got_len)) {
        veil_wipe(got, sizeof got);
        return fail(t, "%s", sk_name);
    }
    veil_wipe(got, sizeof got);
    if (!hex_field(t, t->obj, pk_name, &t->b))
        return 0;
    if (!veil_ok(veil_hpke_key_public(*pair, got, sizeof got, &got_len)) ||
        !same(&t->b, got, got_len))
        return fail(t, "%s", pk_name);
    if (pub && !veil_ok(r = veil_hpke_key_from_public(t->suite.kem, t->b.data, t->b.len, pub)))
        return fail_res(t, pk_name, r);
    return 1;
}

/* Check the components veil implements, naming the first it lacks. */
static int suite_check(tv_case *t)
{
    if (!veil_hpke_kem_find(t->suite.kem))
        return fail(t, "unsupported kem 0x%04x", t->suite.kem);
    if (!veil_hpke_kdf_find(t->suite.kdf))
        return fail(t, "unsupported kdf 0x%04x", t->suite.kdf);
    if (!veil_hpke_aead_find(t->suite.aead))
        return fail(t, "unsupported aead 0x%04x", t->suite.aead);
    if (t->mode > VEIL_HPKE_MODE_AUTH_PSK)
        return fail(t, "unsupported mode %u", t->mode);
    return 1;
}

/* Keys, setup on both sides, shared_secret via Encap/Decap. */
static int setup_check(tv_case *t)
{
    const int auth = t->mode == VEIL_HPKE_MODE_AUTH || t->mode == VEIL_HPKE_MODE_AUTH_PSK;
    const int psk = t->mode == VEIL_HPKE_MODE_PSK || t->mode == VEIL_HPKE_MODE_AUTH_PSK;
    uint8_t enc[VEIL_HPKE_MAX_ENC], ss[VEIL_HPKE_MAX_NH];
    size_t enc_len = 0;
    veil_result r;

    if (!derive_check(t, 'E', &t->k_e, NULL) || !derive_check(t, 'R', &t->k_r, &t->pk_r))
        return 0;
    if (auth && !derive_check(t, 'S', &t->k_s, &t->pk_s))
        return 0;
    if (!hex_field(t, t->obj, "info", &t->info) || !hex_field(t, t->obj, "enc", &t->enc) ||
        !hex_field(t, t->obj, "shared_secret", &t->shared_secret))
        return 0;
    if (psk &&
        (!hex_field(t, t->obj, "psk", &t->psk) || !hex_field(t, t->obj, "psk_id", &t->psk_id)))
        return 0;

    const size_t n_secret = veil_hpke_kem_info_get(t->suite.kem)->n_secret;
    if (!veil_ok(r = veil_hpke_kem_encap(t->pk_r, t->k_e, auth ? t->k_s : NULL, enc, &enc_len, ss)))
        return fail_res(t, "Encap", r);
    if (!same(&t->shared_secret, ss, n_secret))
        return fail(t, "shared_secret");
    if (!veil_ok(
            r = veil_hpke_kem_decap(t->k_r, t->enc.data, t->enc.len, auth ? t->pk_s : NULL, ss)))
        return fail_res(t, "Decap", r);
    int ss_ok = same(&t->shared_secret, ss, n_secret);
    veil_wipe(ss, sizeof ss);
    if (!ss_ok)
        return fail(t, "shared_secret (Decap)");

    veil_hpke_params p = {t->suite,       t->mode,       t->info.data,
                          t->info.len,    t->psk.data,   t->psk.len,
                          t->psk_id.data, t->psk_id.len, auth ? t->k_s : NULL};
    if (!veil_ok(r = veil_hpke_setup_sender_with_ephemeral(&p, t->pk_r, t->k_e, enc, sizeof enc,
                                                           &enc_len, &t->sender)))
        return fail_res(t, "sender setup", r);
    if (!same(&t->enc, enc, enc_len))
        return fail(t, "enc");
    p.auth_key = auth ? t->pk_s : NULL;
    if (!veil_ok(r = veil_hpke_setup_recipient(&p, t->k_r, t->enc.data, t->enc.len, &t->recipient)))
        return fail_res(t, "recipient setup", r);
    return 1;
}

/* key, base_nonce, exporter_secret of one context. */
static int secrets_check(tv_case *t, const veil_hpke_ctx *ctx, const char *side)
{
    uint8_t key[VEIL_HPKE_MAX_NK], nonce[VEIL_HPKE_NN], exp[VEIL_HPKE_MAX_NH];
    size_t key_len = 0, exp_len = 0;
    const veil_hpke_aead_desc *aead = veil_hpke_aead_find(t->suite.aead);
    int ok = 1;
    if (!veil_ok(veil_hpke_ctx_secrets(ctx, key, &key_len, nonce, exp, &exp_len)))
        ok = fail(t, "key schedule (%s)", side);
    else if (!same(&t->key, key, key_len))
        ok = fail(t, "key (%s)", side);
    else if (!same(&t->base_nonce, nonce, aead->nn))
        ok = fail(t, "base_nonce (%s)", side);
    else if (!same(&t->exporter_secret, exp, exp_len))
        ok = fail(t, "exporter_secret (%s)", side);
    veil_wipe(key, sizeof key);
    veil_wipe(nonce, sizeof nonce);
    veil_wipe(exp, sizeof exp);
    return ok;
}

static int encryptions_check(tv_case *t)
{
    const json_t *arr = json_object_get(t->obj, "encryptions");
    size_t got = 0;
    veil_result r;
    if (!json_is_array(arr))
        return fail(t, "missing field encryptions");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *e = json_array_get(arr, i);
        char name[32];
        snprintf(name, sizeof name, "encryption %zu", i);
        if (!json_is_object(e))
            return fail(t, "%s is not an object", name);
        if (!hex_field(t, e, "aad", &t->a) || !hex_field(t, e, "pt", &t->b) ||
            !hex_field(t, e, "ct", &t->c))
            return fail_in(t, name);
        veil_buf_clear(&t->out);
        size_t need = (t->b.len > t->c.len ? t->b.len : t->c.len) + VEIL_HPKE_TAG_LEN;
        if (!veil_ok(veil_buf_reserve(&t->out, need)))
            return fail(t, "%s: out of memory", name);
        if (!veil_ok(r = veil_hpke_seal(t->sender, t->a.data, t->a.len, t->b.data, t->b.len,
                                        t->out.data, t->out.cap, &got)))
            return fail(t, "%s seal failed: %s", name, r.msg);
        if (!same(&t->c, t->out.data, got))
            return fail(t, "%s ct", name);
        if (!veil_ok(r = veil_hpke_open(t->recipient, t->a.data, t->a.len, t->c.data, t->c.len,
                                        t->out.data, t->out.cap, &got)))
            return fail(t, "%s open failed: %s", name, r.msg);
        if (!same(&t->b, t->out.data, got))
            return fail(t, "%s pt", name);
    }
    return 1;
}

static int exports_check(tv_case *t)
{
    const json_t *arr = json_object_get(t->obj, "exports");
    veil_result r;
    if (!json_is_array(arr))
        return fail(t, "missing field exports");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *e = json_array_get(arr, i);
        const json_t *lj = json_object_get(e, "L");
        if (!json_is_object(e) || !json_is_integer(lj) || json_integer_value(lj) < 0 ||
            json_integer_value(lj) > 0xFFFF)
            return fail(t, "export %zu: missing or bad L", i);
        const size_t L = (size_t)json_integer_value(lj);
        char name[32];
        snprintf(name, sizeof name, "export %zu", i);
        if (!hex_field(t, e, "exporter_context", &t->a) ||
            !hex_field(t, e, "exported_value", &t->b))
            return fail_in(t, name);
        veil_buf_clear(&t->out);
        if (!veil_ok(veil_buf_reserve(&t->out, L + 1)))
            return fail(t, "export %zu: out of memory", i);
        const veil_hpke_ctx *sides[2] = {t->sender, t->recipient};
        for (int s = 0; s < 2; s++) {
            if (!veil_ok(r = veil_hpke_export(sides[s], t->a.data, t->a.len, t->out.data, L)))
                return fail(t, "export %zu failed: %s", i, r.msg);
            if (!same(&t->b, t->out.data, L))
                return fail(t, s ? "export %zu (recipient)" : "export %zu", i);
        }
    }
    return 1;
}

static int run_case(tv_case *t)
{
    return suite_check(t) && setup_check(t) && hex_field(t, t->obj, "key", &t->key) &&
           hex_field(t, t->obj, "base_nonce", &t->base_nonce) &&
           hex_field(t, t->obj, "exporter_secret", &t->exporter_secret) &&
           secrets_check(t, t->sender, "sender") && secrets_check(t, t->recipient, "recipient") &&
           encryptions_check(t) && exports_check(t);
}

static void case_init(tv_case *t, const json_t *obj)
{
    memset(t, 0, sizeof *t);
    t->obj = obj;
    veil_buf *bufs[] = {&t->info, &t->psk,        &t->psk_id,          &t->enc, &t->shared_secret,
                        &t->key,  &t->base_nonce, &t->exporter_secret, &t->a,   &t->b,
                        &t->c,    &t->out};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        veil_buf_init(bufs[i], 0);
}

static void case_free(tv_case *t)
{
    veil_buf *bufs[] = {&t->info, &t->psk,        &t->psk_id,          &t->enc, &t->shared_secret,
                        &t->key,  &t->base_nonce, &t->exporter_secret, &t->a,   &t->b,
                        &t->c,    &t->out};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        veil_buf_free(bufs[i]);
    veil_hpke_key_free(t->k_e);
    veil_hpke_key_free(t->k_r);
    veil_hpke_key_free(t->k_s);
    veil_hpke_key_free(t->pk_r);
    veil_hpke_key_free(t->pk_s);
    veil_hpke_ctx_free(t->sender);
    veil_hpke_ctx_free(t->recipient);
}

/* The identifying integer `name` of a case, within [0, max]. */
static int id_field(const json_t *obj, const char *name, json_int_t max, unsigned *out)
{
    const json_t *v = json_object_get(obj, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return 0;
    *out = (unsigned)json_integer_value(v);
    return 1;
}

veil_result veil_selftest_hpke_json(const char *json, size_t len, veil_selftest_report *rep)
{
    json_error_t jerr;
    json_t *root = NULL;
    tv_case *t = NULL;
    veil_result res = VEIL_OK;

    VEIL_ENSURE(json != NULL && rep != NULL, VEIL_E_USAGE, "NULL argument");
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    VEIL_ENSURE_GOTO(res, root != NULL, VEIL_E_PROTOCOL, "HPKE vector file is not valid JSON");
    VEIL_ENSURE_GOTO(res, json_is_array(root) && json_array_size(root) > 0, VEIL_E_PROTOCOL,
                     "HPKE vector file is not a non-empty JSON array");
    /* Check the shape of every case before running any. */
    for (size_t i = 0; i < json_array_size(root); i++) {
        const json_t *c = json_array_get(root, i);
        unsigned v;
        VEIL_ENSURE_GOTO(
            res,
            json_is_object(c) && id_field(c, "mode", 255, &v) &&
                id_field(c, "kem_id", 0xFFFF, &v) && id_field(c, "kdf_id", 0xFFFF, &v) &&
                id_field(c, "aead_id", 0xFFFF, &v),
            VEIL_E_PROTOCOL, "HPKE vector file entry lacks integer mode/kem_id/kdf_id/aead_id");
    }
    t = veil_calloc(1, sizeof *t);
    VEIL_ENSURE_GOTO(res, t != NULL, VEIL_E_NOMEM, "cannot allocate a test case");
    for (size_t i = 0; i < json_array_size(root); i++) {
        const json_t *c = json_array_get(root, i);
        unsigned mode = 0, kem = 0, kdf = 0, aead = 0;
        char name[64];
        (void)(id_field(c, "mode", 255, &mode) && id_field(c, "kem_id", 0xFFFF, &kem) &&
               id_field(c, "kdf_id", 0xFFFF, &kdf) && id_field(c, "aead_id", 0xFFFF, &aead));
        snprintf(name, sizeof name, "mode=%u kem=0x%04x kdf=0x%04x aead=0x%04x", mode, kem, kdf,
                 aead);
        case_init(t, c);
        t->mode = (uint8_t)mode;
        t->suite = (veil_hpke_suite){(uint16_t)kem, (uint16_t)kdf, (uint16_t)aead};
        int passed = run_case(t);
        veil_selftest_record(rep, name, passed ? NULL : t->why);
        case_free(t);
    }
out:
    veil_free_wiped(t, t ? sizeof *t : 0);
    json_decref(root);
    return res;
}
