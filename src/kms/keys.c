/* Key lifecycle: suites, generation, key ids, states and rotation.
 *
 * Key ids (RFC 9458 §3.1: one byte) are per key name. An id is held while
 * any key that carried it could still be in use somewhere:
 *   pending or current                         (the KMS publishes or will)
 *   retired, now < retired_at + grace          (gateways still decrypt with it)
 *   retired, now < retired_at + grace + quarantine
 *                                              (clients may still hold the config:
 *                                               quarantine >= their cache lifetime)
 * hpke (collection) keys are never retired from decryption, so their ids are
 * never reused. A new id is the first free one after the last one issued
 * (mod 256), which spreads reuse as far apart as possible; when all 256 are
 * held, creation fails and says so. */
#include <stdio.h>
#include <string.h>

#include "common/json_util.h"
#include "kms/kms_internal.h"
#include "veil/base64.h"
#include "veil/mem.h"

static const kms_suite k_suites[] = {
    {"x25519",
     VEIL_HPKE_KEM_X25519,
     2,
     {{VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_AES128GCM},
      {VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_CHACHA20POLY1305}}},
    {"p384", VEIL_HPKE_KEM_P384, 1, {{VEIL_HPKE_KDF_SHA384, VEIL_HPKE_AEAD_AES256GCM}}},
};

const kms_suite *kms_suite_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof k_suites / sizeof k_suites[0]; i++)
        if (veil_public_equal(name, len, k_suites[i].name, strlen(k_suites[i].name)))
            return &k_suites[i];
    return NULL;
}

veil_result kms_suites_parse(const char *list, const kms_suite **out, size_t *n)
{
    *n = 0;
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const kms_suite *s = kms_suite_find(p, len);
        VEIL_ENSURE(s != NULL, VEIL_E_PROTOCOL,
                    "kms: unknown suite (the suites are \"x25519\" and \"p384\")");
        for (size_t i = 0; i < *n; i++)
            VEIL_ENSURE(out[i] != s, VEIL_E_PROTOCOL, "kms: a suite is listed twice");
        VEIL_ENSURE(*n < KMS_MAX_SUITES, VEIL_E_PROTOCOL, "kms: too many suites");
        out[(*n)++] = s;
        p += len + (comma ? 1 : 0);
    }
    VEIL_ENSURE(*n > 0, VEIL_E_PROTOCOL, "kms: a key needs at least one suite");
    return VEIL_OK;
}

/* ---- states -------------------------------------------------------------------- */

bool kms_key_current(const kstore_key *key, int64_t now)
{
    (void)now;
    return key->state == KSTORE_ACTIVE && key->retired_at == 0;
}

int64_t kms_key_decrypt_until(const kstore_key *key, veil_kms_key_type type)
{
    if (type == VEIL_KMS_KEY_HPKE || key->retired_at == 0)
        return 0;
    return key->retired_at + key->grace;
}

bool kms_key_releasable(const kstore_key *key, veil_kms_key_type type, int64_t now)
{
    if (key->state != KSTORE_ACTIVE)
        return false;
    int64_t until = kms_key_decrypt_until(key, type);
    return until == 0 || now < until;
}

static bool id_held(const kstore_key *key, veil_kms_key_type type, int64_t now)
{
    if (key->state == KSTORE_PENDING || key->retired_at == 0 || type == VEIL_KMS_KEY_HPKE)
        return true;
    return now < key->retired_at + key->grace + key->quarantine;
}

/* The first free id after the last issued one. */
static veil_result pick_id(const kstore_key *keys, size_t n, const uint8_t *taken, size_t n_taken,
                           veil_kms_key_type type, int64_t now, uint8_t *out)
{
    bool held[256];
    memset(held, 0, sizeof held);
    int last = -1;
    for (size_t i = 0; i < n; i++) {
        if (id_held(&keys[i], type, now))
            held[keys[i].key_id] = true;
        last = keys[i].key_id; /* keys come in uid order: the last is the newest */
    }
    for (size_t i = 0; i < n_taken; i++) {
        held[taken[i]] = true;
        last = taken[i];
    }
    for (int step = 1; step <= 256; step++) {
        int id = (last + step) & 0xFF;
        if (!held[id]) {
            *out = (uint8_t)id;
            return VEIL_OK;
        }
    }
    return VEIL_ERR(VEIL_E_NOMEM,
                    "kms: no free key id: all 256 ids are held by current, grace-period or "
                    "quarantined keys (wait for the quarantine to pass, or use a new key name)");
}

size_t kms_key_aad(const char *name, uint8_t key_id, int64_t uid, uint8_t *out, size_t cap)
{
    static const char label[] = "veil-kms key v1";
    size_t nl = strlen(name), need = sizeof label + nl + 1 + 1 + 8;
    if (need > cap)
        return 0;
    size_t o = 0;
    memcpy(out, label, sizeof label); /* with its NUL as the separator */
    o += sizeof label;
    memcpy(out + o, name, nl);
    o += nl;
    out[o++] = 0;
    out[o++] = key_id;
    for (int i = 7; i >= 0; i--)
        out[o++] = (uint8_t)((uint64_t)uid >> (8 * i));
    return o;
}

/* Generate one key, wrap it, insert it as pending. */
static veil_result make_key(veil_kms *k, const kstore_name *nm, const kms_suite *s, uint8_t id,
                            int64_t uid, int64_t now, kstore_key *row)
{
    veil_result r = VEIL_OK;
    veil_hpke_key *key = NULL;
    uint8_t sk[VEIL_HPKE_MAX_SK], aad[160];
    size_t sk_len = 0;
    veil_buf cfg_buf, wrapped;
    veil_ohttp_keyconfig cfg;
    veil_buf_init(&cfg_buf, 0);
    veil_buf_init(&wrapped, 0);
    memset(row, 0, sizeof *row);

    VEIL_TRY(r, veil_hpke_key_generate(s->kem, &key));
    VEIL_TRY(r, veil_ohttp_keyconfig_for_key(id, key, s->algs, s->n_algs, &cfg));
    VEIL_TRY(r, veil_ohttp_keyconfig_encode(&cfg, &cfg_buf));
    VEIL_TRY(r, veil_hpke_key_private(key, sk, sizeof sk, &sk_len));
    size_t aad_len = kms_key_aad(nm->name, id, uid, aad, sizeof aad);
    VEIL_ENSURE_GOTO(r, aad_len > 0, VEIL_E_USAGE, "kms: key name too long");
    VEIL_TRY(r, veil_kms_root_wrap(k->root, aad, aad_len, sk, sk_len, &wrapped));
    VEIL_ENSURE_GOTO(r, cfg_buf.len <= sizeof row->config && wrapped.len <= sizeof row->wrapped,
                     VEIL_E_INTERNAL, "kms: key material larger than expected");
    row->uid = uid;
    snprintf(row->name, sizeof row->name, "%s", nm->name);
    row->key_id = id;
    row->kem = s->kem;
    row->state = KSTORE_PENDING;
    memcpy(row->config, cfg_buf.data, cfg_buf.len);
    row->config_len = cfg_buf.len;
    memcpy(row->wrapped, wrapped.data, wrapped.len);
    row->wrapped_len = wrapped.len;
    row->created = now;
    row->not_after = nm->rotate_interval > 0 ? now + nm->rotate_interval : 0;
    row->grace = nm->grace;
    row->quarantine = nm->quarantine;
    VEIL_TRY(r, veil_kms_store_key_insert(k->store, row));
out:
    veil_wipe(sk, sizeof sk);
    veil_hpke_key_free(key);
    veil_buf_free(&cfg_buf);
    veil_buf_free(&wrapped);
    return r;
}

static json_t *config_entry(const kstore_name *nm, const kstore_key *row, const char *suite,
                            const char *op, json_t *retire_ids)
{
    veil_buf b64;
    veil_buf_init(&b64, 0);
    json_t *e = NULL;
    if (!veil_ok(veil_base64_encode(row->config, row->config_len, &b64)))
        goto out;
    e = json_pack("{s:s,s:s,s:s,s:i,s:i,s:s,s:s#,s:I,s:I,s:I,s:s,s:O}", "type", "keyconfig", "name",
                  nm->name, "key_type", nm->type == VEIL_KMS_KEY_OHTTP ? "ohttp" : "hpke", "key_id",
                  (int)row->key_id, "kem", (int)row->kem, "suite", suite, "config",
                  (const char *)b64.data, (int)b64.len, "created", (json_int_t)row->created,
                  "not_after", (json_int_t)row->not_after, "uid", (json_int_t)row->uid, "op", op,
                  "retires", retire_ids);
out:
    veil_buf_free(&b64);
    return e;
}

veil_result kms_keys_stage(veil_kms *k, const kstore_name *nm, int64_t now, const char *op,
                           json_t *retire_ids, json_t *entries, json_t *uids)
{
    veil_result r = VEIL_OK;
    const kms_suite *suites[KMS_MAX_SUITES];
    size_t n_suites = 0, n_keys = 0;
    kstore_key *keys = NULL;
    kstore_key row;
    uint8_t taken[KMS_MAX_SUITES];
    int64_t uid = 0;

    VEIL_TRY(r, kms_suites_parse(nm->suites, suites, &n_suites));
    VEIL_TRY(r, veil_kms_store_keys(k->store, nm->name, &keys, &n_keys));
    VEIL_TRY(r, veil_kms_store_next_uid(k->store, &uid));
    for (size_t i = 0; i < n_suites; i++) {
        uint8_t id = 0;
        VEIL_TRY(r, pick_id(keys, n_keys, taken, i, nm->type, now, &id));
        taken[i] = id;
        VEIL_TRY(r, make_key(k, nm, suites[i], id, uid + (int64_t)i, now, &row));
        json_t *e = config_entry(nm, &row, suites[i]->name, op, retire_ids);
        VEIL_ENSURE_GOTO(r, e && json_array_append_new(entries, e) == 0, VEIL_E_NOMEM,
                         "kms: out of memory");
        VEIL_ENSURE_GOTO(r, json_array_append_new(uids, json_integer(row.uid)) == 0, VEIL_E_NOMEM,
                         "kms: out of memory");
    }
out:
    veil_wipe(&row, sizeof row);
    veil_free_wiped(keys, n_keys * sizeof *keys);
    return r;
}
