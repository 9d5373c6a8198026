/* Attested key release (include/veil/kms.h): nonces, the release steps on
 * the KMS side, the sealed key-set format, and the TEE side that opens it. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/json_util.h"
#include "crypto/digest.h"
#include "kms/kms_internal.h"
#include "veil/appraise.h"
#include "veil/composite.h"
#include "veil/evidence.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/rand.h"
#include "veil/release_policy.h"

#define KEYSET_MAGIC "VKS1"
#define SEAL_SUITE                                                                                 \
    ((veil_hpke_suite){VEIL_HPKE_KEM_X25519, VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_AES128GCM})
#define X25519_PK_LEN 32

/* ---- REPORT_DATA ----------------------------------------------------------------------- */

veil_result veil_release_report_data(const uint8_t nonce[VEIL_KMS_NONCE_LEN], const uint8_t *pk,
                                     size_t pk_len, uint8_t out[64])
{
    /* SHA-512( "veil-release-v1" (15 bytes) || nonce (32) || SHA-256(pk) (32) ) */
    uint8_t msg[VEIL_RELEASE_LABEL_LEN + VEIL_KMS_NONCE_LEN + VEIL_SHA256_LEN];
    memset(out, 0, 64);
    VEIL_ENSURE(nonce && pk && pk_len > 0, VEIL_E_USAGE, "release: missing nonce or public key");
    memcpy(msg, VEIL_RELEASE_LABEL, VEIL_RELEASE_LABEL_LEN);
    memcpy(msg + VEIL_RELEASE_LABEL_LEN, nonce, VEIL_KMS_NONCE_LEN);
    VEIL_GUARD(veil_sha256(pk, pk_len, msg + VEIL_RELEASE_LABEL_LEN + VEIL_KMS_NONCE_LEN));
    return veil_sha512(msg, sizeof msg, out);
}

/* ---- the key set ------------------------------------------------------------------------- */

veil_result veil_release_keys_encode(const veil_release_keys *k, veil_buf *out)
{
    veil_buf cfg;
    veil_result r = VEIL_OK;
    size_t nl = strlen(k->name);
    veil_buf_init(&cfg, 0);
    VEIL_ENSURE(nl > 0 && nl <= VEIL_KMS_NAME_MAX && k->n > 0 && k->n <= VEIL_KMS_MAX_RELEASE_KEYS,
                VEIL_E_USAGE, "release: bad key set");
    VEIL_TRY(r, veil_buf_append(out, KEYSET_MAGIC, 4));
    VEIL_TRY(r, veil_buf_u8(out, (uint8_t)k->type));
    VEIL_TRY(r, veil_buf_u8(out, (uint8_t)nl));
    VEIL_TRY(r, veil_buf_append(out, k->name, nl));
    VEIL_TRY(r, veil_buf_u8(out, (uint8_t)k->n));
    for (size_t i = 0; i < k->n; i++) {
        const veil_release_key *e = &k->keys[i];
        cfg.len = 0;
        VEIL_TRY(r, veil_ohttp_keyconfig_encode(&e->config, &cfg));
        VEIL_ENSURE_GOTO(r, cfg.len <= 0xFFFF && e->sk_len <= VEIL_HPKE_MAX_SK, VEIL_E_USAGE,
                         "release: key too large");
        VEIL_TRY(r, veil_buf_u16(out, (uint16_t)cfg.len));
        VEIL_TRY(r, veil_buf_append(out, cfg.data, cfg.len));
        VEIL_TRY(r, veil_buf_u16(out, (uint16_t)e->sk_len));
        VEIL_TRY(r, veil_buf_append(out, e->sk, e->sk_len));
        VEIL_TRY(r, veil_buf_u64(out, (uint64_t)e->not_after));
        VEIL_TRY(r, veil_buf_u64(out, (uint64_t)e->decrypt_until));
    }
out:
    veil_buf_free(&cfg);
    return r;
}

/* The private key must be the one the configuration publishes. */
static veil_result key_matches(const veil_release_key *e)
{
    veil_result r = VEIL_OK;
    veil_hpke_key *key = NULL;
    uint8_t pk[VEIL_HPKE_MAX_PK];
    size_t pk_len = 0;
    VEIL_TRY(r, veil_hpke_key_from_private(e->config.kem, e->sk, e->sk_len, &key));
    VEIL_TRY(r, veil_hpke_key_public(key, pk, sizeof pk, &pk_len));
    VEIL_ENSURE_GOTO(r,
                     veil_public_equal(pk, pk_len, e->config.public_key, e->config.public_key_len),
                     VEIL_E_PROTOCOL, "release: a private key does not match its configuration");
out:
    veil_hpke_key_free(key);
    return r;
}

veil_result veil_release_keys_decode(const uint8_t *p, size_t n, veil_release_keys *out)
{
    veil_result r = VEIL_OK;
    veil_cursor c = veil_cursor_init(p, n), sub;
    uint8_t magic[4], type = 0, nl = 0, count = 0;
    const uint8_t *v = NULL;
    uint16_t sk_len = 0;
    uint64_t t1 = 0, t2 = 0;
    memset(out, 0, sizeof *out);
    VEIL_TRY(r, veil_cursor_copy(&c, magic, 4));
    VEIL_ENSURE_GOTO(r, veil_public_equal(magic, 4, KEYSET_MAGIC, 4), VEIL_E_PROTOCOL,
                     "release: not a veil key set (bad magic)");
    VEIL_TRY(r, veil_cursor_u8(&c, &type));
    VEIL_ENSURE_GOTO(r, type == VEIL_KMS_KEY_OHTTP || type == VEIL_KMS_KEY_HPKE, VEIL_E_PROTOCOL,
                     "release: unknown key type in the key set");
    out->type = (veil_kms_key_type)type;
    VEIL_TRY(r, veil_cursor_u8(&c, &nl));
    VEIL_ENSURE_GOTO(r, nl > 0 && nl <= VEIL_KMS_NAME_MAX, VEIL_E_PROTOCOL,
                     "release: bad key name length in the key set");
    VEIL_TRY(r, veil_cursor_copy(&c, out->name, nl));
    out->name[nl] = 0;
    VEIL_ENSURE_GOTO(r, strlen(out->name) == nl, VEIL_E_PROTOCOL,
                     "release: NUL in the key set's name");
    VEIL_TRY(r, veil_cursor_u8(&c, &count));
    VEIL_ENSURE_GOTO(r, count > 0 && count <= VEIL_KMS_MAX_RELEASE_KEYS, VEIL_E_PROTOCOL,
                     "release: bad key count in the key set");
    for (size_t i = 0; i < count; i++) {
        veil_release_key *e = &out->keys[i];
        VEIL_TRY(r, veil_cursor_sub_u16(&c, &sub));
        VEIL_TRY(r, veil_ohttp_keyconfig_decode(veil_cursor_peek_ptr(&sub),
                                                veil_cursor_remaining(&sub), &e->config));
        VEIL_TRY(r, veil_cursor_u16(&c, &sk_len));
        VEIL_ENSURE_GOTO(r, sk_len > 0 && sk_len <= VEIL_HPKE_MAX_SK, VEIL_E_PROTOCOL,
                         "release: bad private key length in the key set");
        VEIL_TRY(r, veil_cursor_view(&c, sk_len, &v));
        memcpy(e->sk, v, sk_len);
        e->sk_len = sk_len;
        VEIL_TRY(r, veil_cursor_u64(&c, &t1));
        VEIL_TRY(r, veil_cursor_u64(&c, &t2));
        VEIL_ENSURE_GOTO(r, t1 <= INT64_MAX && t2 <= INT64_MAX, VEIL_E_PROTOCOL,
                         "release: bad time in the key set");
        e->not_after = (int64_t)t1;
        e->decrypt_until = (int64_t)t2;
        for (size_t j = 0; j < i; j++)
            VEIL_ENSURE_GOTO(r, out->keys[j].config.key_id != e->config.key_id, VEIL_E_PROTOCOL,
                             "release: two keys with one key id in the key set");
        out->n = i + 1;
        VEIL_TRY(r, key_matches(e));
    }
    VEIL_TRY(r, veil_cursor_expect_end(&c, "release: trailing bytes after the key set"));
out:
    if (!veil_ok(r))
        veil_release_keys_wipe(out);
    return r;
}

void veil_release_keys_wipe(veil_release_keys *k)
{
    if (k)
        veil_wipe(k, sizeof *k);
}

veil_result veil_release_open(const veil_hpke_key *ephemeral,
                              const uint8_t nonce[VEIL_KMS_NONCE_LEN], const uint8_t *enc,
                              size_t enc_len, const uint8_t *sealed, size_t sealed_len,
                              veil_release_keys *out)
{
    veil_result r = VEIL_OK;
    uint8_t *pt = NULL;
    size_t pt_len = 0, cap = sealed_len;
    veil_hpke_params prm;
    memset(out, 0, sizeof *out);
    memset(&prm, 0, sizeof prm);
    VEIL_ENSURE(ephemeral && nonce && enc && sealed, VEIL_E_USAGE, "release: missing argument");
    VEIL_ENSURE(sealed_len > VEIL_HPKE_TAG_LEN && sealed_len <= ((size_t)1 << 20), VEIL_E_PROTOCOL,
                "release: sealed key set of a wrong size");
    prm.suite = SEAL_SUITE;
    prm.mode = VEIL_HPKE_MODE_BASE;
    prm.info = (const uint8_t *)VEIL_RELEASE_HPKE_INFO;
    prm.info_len = strlen(VEIL_RELEASE_HPKE_INFO);
    pt = veil_calloc(cap, 1);
    VEIL_ENSURE(pt != NULL, VEIL_E_NOMEM, "release: out of memory");
    VEIL_TRY(r, veil_hpke_open_once(&prm, ephemeral, enc, enc_len, nonce, VEIL_KMS_NONCE_LEN,
                                    sealed, sealed_len, pt, cap, &pt_len));
    VEIL_TRY(r, veil_release_keys_decode(pt, pt_len, out));
out:
    veil_free_wiped(pt, cap);
    return r;
}

veil_result veil_release_keys_to_gateway(const veil_release_keys *k, int64_t now,
                                         veil_ohttp_gateway *gw)
{
    VEIL_ENSURE(k && gw, VEIL_E_USAGE, "release: missing argument");
    VEIL_ENSURE(k->type == VEIL_KMS_KEY_OHTTP, VEIL_E_USAGE,
                "release: only ohttp key sets go into a gateway");
    for (size_t i = 0; i < k->n; i++) {
        const veil_release_key *e = &k->keys[i];
        if (e->decrypt_until != 0 && now >= e->decrypt_until)
            continue;
        veil_hpke_key *key = NULL;
        VEIL_GUARD(veil_hpke_key_from_private(e->config.kem, e->sk, e->sk_len, &key));
        veil_result r = veil_ohttp_gateway_add(gw, &e->config, key);
        if (!veil_ok(r)) {
            veil_hpke_key_free(key);
            return r;
        }
    }
    return VEIL_OK;
}

/* ---- nonces -------------------------------------------------------------------------------- */

veil_result veil_kms_nonce(veil_kms *k, uint8_t nonce[VEIL_KMS_NONCE_LEN], int64_t *expires)
{
    int64_t now = veil_kms_now(k);
    VEIL_GUARD(veil_random_bytes(nonce, VEIL_KMS_NONCE_LEN));
    *expires = now + VEIL_KMS_NONCE_TTL;
    return veil_kms_store_nonce_put(k->store, nonce, now, *expires, k->max_nonces);
}

/* ---- the release steps ------------------------------------------------------------------------
 */

typedef struct release_ctx {
    veil_kms *k;
    const veil_kms_release_request *req;
    veil_kms_release_response *resp;
    kstore_name nm;
    bool have_name;
    int64_t now;
    uint8_t evidence_sha256[32];
    uint8_t pk_sha256[32];
    bool have_ear;
} release_ctx;

static void hex_member(json_t *o, const char *name, const uint8_t *p, size_t n)
{
    char hex[2 * 64 + 1];
    veil_hex_encode(p, n, hex);
    json_object_set_new(o, name, json_string(hex));
}

/* The ledger entry for this outcome, committed before anything is returned. */
static veil_result record(release_ctx *c)
{
    veil_result r = VEIL_OK;
    veil_kms_release_response *resp = c->resp;
    uint8_t ear_sha[32];
    json_t *e = json_pack("{s:s,s:s,s:s,s:I}", "type", "release", "name", c->nm.name, "outcome",
                          resp->released ? "released" : "refused", "time", (json_int_t)c->now);
    VEIL_ENSURE(e != NULL, VEIL_E_NOMEM, "release: out of memory");
    hex_member(e, "evidence_sha256", c->evidence_sha256, 32);
    hex_member(e, "public_key_sha256", c->pk_sha256, 32);
    if (c->have_ear && resp->ear.len) {
        VEIL_TRY(r, veil_sha256(resp->ear.data, resp->ear.len, ear_sha));
        hex_member(e, "ear_sha256", ear_sha, 32);
    }
    if (resp->released) {
        json_t *ids = json_array();
        for (size_t i = 0; ids && i < resp->n_key_ids; i++)
            json_array_append_new(ids, json_integer(resp->key_ids[i]));
        VEIL_ENSURE_GOTO(r, ids && json_object_set_new(e, "key_ids", ids) == 0, VEIL_E_NOMEM,
                         "release: out of memory");
    } else {
        json_object_set_new(e, "check", json_string(resp->problem.check));
        char detail[201];
        snprintf(detail, sizeof detail, "%.200s", resp->problem.detail);
        /* the detail is public text, but keep the ledger to valid UTF-8 */
        for (char *q = detail; *q; q++)
            if ((unsigned char)*q >= 0x80 || (unsigned char)*q < 0x20)
                *q = '?';
        json_object_set_new(e, "detail", json_string(detail));
    }
    const json_t *list[1] = {e};
    VEIL_TRY(r, veil_ledger_append_values(c->k->ledger, list, 1, &resp->ledger_index));
    resp->recorded = true;
out:
    json_decref(e);
    return r;
}

static void refuse(release_ctx *c, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(release_ctx *c, const char *check, const char *fmt, ...)
{
    va_list ap;
    c->resp->released = false;
    snprintf(c->resp->problem.check, sizeof c->resp->problem.check, "%s", check);
    va_start(ap, fmt);
    vsnprintf(c->resp->problem.detail, sizeof c->resp->problem.detail, fmt, ap);
    va_end(ap);
}

/* SEV-SNP evidence without a VCEK/VLEK: add them from the KDS (or its
 * cache); what is added is checked like anything the TEE sends. */
static bool hardware_identity(release_ctx *c, veil_evidence *ev)
{
    veil_kds_outcome o;
    if (!c->k->kds_on)
        return true;
    veil_result r = veil_kds_complete(&c->k->kds, ev, c->now, &o);
    if (!veil_ok(r)) {
        refuse(c, "kds", "%s", o.detail[0] ? o.detail : r.msg);
        return false;
    }
    return true;
}

/* Verify and appraise with the composite verifier (the CPU and every GPU
 * in the bundle, one policy: the reference values), bound to this
 * request's REPORT_DATA; the EAR (one submodule per device) is signed
 * whatever the outcome. */
static veil_result attest(release_ctx *c, const veil_evidence *ev, veil_composite_result *res,
                          bool *passed)
{
    veil_result r = VEIL_OK;
    veil_buf text;
    bool have = false;
    uint8_t base[VEIL_COMPOSITE_BASE_LEN];
    *passed = false;
    veil_buf_init(&text, 0);
    VEIL_TRY(r, veil_kms_store_meta_get(c->k->store, "refvalues", &text, &have));
    if (!have) {
        refuse(c, "refvalues",
               "the KMS has no reference values yet; an administrator must PUT /admin/refvalues");
        goto out;
    }
    /* REPORT_DATA must bind this request's nonce and public key (and,
     * through the composite binding, every GPU report) */
    VEIL_TRY(r, veil_release_report_data(c->req->nonce, c->req->public_key, c->req->public_key_len,
                                         base));
    veil_result vr = veil_verify_composite(ev, (const char *)text.data, text.len, base, 0, res);
    if (vr.cls == VEIL_E_PROTOCOL || vr.cls == VEIL_E_UNSUPPORTED) {
        refuse(c, "refvalues", "the reference values do not apply to this evidence: %s", vr.msg);
        goto out;
    }
    VEIL_TRY(r, vr);
    for (size_t d = 0; d < res->n_devices; d++) { /* submodule names: "sev-snp", "gpu0"... */
        veil_composite_device *dev = &res->devices[d];
        _Static_assert(sizeof dev->ear.submod == sizeof dev->name, "submodule name sizes");
        memcpy(dev->ear.submod, dev->name, sizeof dev->name);
    }
    res->devices[0].ear.iat = c->now;
    memcpy(res->devices[0].ear.nonce, c->req->nonce, VEIL_KMS_NONCE_LEN);
    res->devices[0].ear.nonce_len = VEIL_KMS_NONCE_LEN;
    VEIL_TRY(r, veil_composite_sign(res, c->k->ear_key, &c->resp->ear));
    c->have_ear = true;
    if (!veil_verdict_accepted(&res->verdict)) {
        refuse(c, veil_check_name(res->verdict.failed), "%s", res->verdict.reason);
        goto out;
    }
    *passed = true;
out:
    veil_buf_free(&text);
    return r;
}

/* Unwrap the releasable keys and seal them to the requester. */
static veil_result seal_keys(release_ctx *c, const veil_hpke_key *pk)
{
    veil_result r = VEIL_OK;
    kstore_key *keys = NULL;
    size_t n = 0;
    uint8_t aad[160];
    veil_buf sk, pt;
    veil_release_keys *set = NULL;
    veil_hpke_params prm;
    veil_kms_release_response *resp = c->resp;
    veil_buf_init(&sk, 0);
    veil_buf_init(&pt, 0);
    memset(&prm, 0, sizeof prm);
    set = veil_calloc(1, sizeof *set);
    VEIL_ENSURE(set != NULL, VEIL_E_NOMEM, "release: out of memory");
    set->type = c->nm.type;
    snprintf(set->name, sizeof set->name, "%s", c->nm.name);
    VEIL_TRY(r, veil_kms_store_keys(c->k->store, c->nm.name, &keys, &n));
    /* newest first, so that a set larger than the cap keeps the newest keys */
    for (size_t i = n; i-- > 0 && set->n < VEIL_KMS_MAX_RELEASE_KEYS;) {
        if (!kms_key_releasable(&keys[i], c->nm.type, c->now))
            continue;
        veil_release_key *e = &set->keys[set->n];
        size_t aad_len = kms_key_aad(keys[i].name, keys[i].key_id, keys[i].uid, aad, sizeof aad);
        VEIL_ENSURE_GOTO(r, aad_len > 0, VEIL_E_INTERNAL, "release: key name too long");
        sk.len = 0;
        VEIL_TRY(r, veil_kms_root_unwrap(c->k->root, aad, aad_len, keys[i].wrapped,
                                         keys[i].wrapped_len, &sk));
        VEIL_ENSURE_GOTO(r, sk.len <= sizeof e->sk, VEIL_E_INTERNAL, "release: key too large");
        VEIL_TRY(r, veil_ohttp_keyconfig_decode(keys[i].config, keys[i].config_len, &e->config));
        memcpy(e->sk, sk.data, sk.len);
        e->sk_len = sk.len;
        e->not_after = keys[i].not_after;
        e->decrypt_until = kms_key_decrypt_until(&keys[i], c->nm.type);
        resp->key_ids[resp->n_key_ids++] = keys[i].key_id;
        set->n++;
    }
    if (set->n == 0) {
        refuse(c, "key", "key \"%s\" has no releasable key material (all retired?)", c->nm.name);
        goto out;
    }
    VEIL_TRY(r, veil_release_keys_encode(set, &pt));
    prm.suite = SEAL_SUITE;
    prm.mode = VEIL_HPKE_MODE_BASE;
    prm.info = (const uint8_t *)VEIL_RELEASE_HPKE_INFO;
    prm.info_len = strlen(VEIL_RELEASE_HPKE_INFO);
    VEIL_TRY(r, veil_buf_reserve(&resp->sealed, pt.len + VEIL_HPKE_TAG_LEN));
    VEIL_TRY(r, veil_hpke_seal_once(&prm, pk, c->req->nonce, VEIL_KMS_NONCE_LEN, pt.data, pt.len,
                                    resp->enc, sizeof resp->enc, &resp->enc_len, resp->sealed.data,
                                    resp->sealed.cap, &resp->sealed.len));
    resp->released = true;
out:
    if (!resp->released)
        resp->n_key_ids = 0;
    veil_free_wiped(keys, n * sizeof *keys);
    veil_free_wiped(set, sizeof *set);
    veil_buf_free(&sk);
    veil_buf_free(&pt);
    return r;
}

/* Request shape and the key's existence; no ledger entry for these. */
static bool precheck(release_ctx *c, veil_hpke_key **pk)
{
    const veil_kms_release_request *q = c->req;
    bool found = false;
    if (!kms_name_ok(q->name)) {
        refuse(c, "request", "invalid key name");
        return false;
    }
    if (!veil_ok(veil_kms_store_name_get(c->k->store, q->name, &c->nm, &found)) || !found) {
        refuse(c, "key", "no key named \"%s\"", q->name);
        return false;
    }
    c->have_name = true;
    if (!q->nonce || q->nonce_len != VEIL_KMS_NONCE_LEN) {
        refuse(c, "request", "the nonce must be the 32 bytes from POST /v1/attest/nonce");
        return false;
    }
    if (!q->public_key || q->public_key_len != X25519_PK_LEN ||
        !veil_ok(veil_hpke_key_from_public(VEIL_HPKE_KEM_X25519, q->public_key, q->public_key_len,
                                           pk))) {
        refuse(c, "public_key",
               "the public key must be a 32-byte X25519 key (RFC 9180 SerializePublicKey)");
        return false;
    }
    if (!q->evidence || q->evidence_len == 0 || q->evidence_len > VEIL_KMS_MAX_EVIDENCE) {
        refuse(c, "request", "the evidence bundle is missing or larger than 1 MiB");
        return false;
    }
    return true;
}

/* Steps 2-6; a refusal leaves r ok and the problem in c->resp. */
static veil_result decide(release_ctx *c, const veil_hpke_key *pk)
{
    veil_result r = VEIL_OK;
    veil_kms *k = c->k;
    const veil_kms_release_request *req = c->req;
    veil_evidence ev;
    veil_composite_result *res = NULL;
    veil_buf policy_text;
    veil_release_policy *policy = NULL;
    char detail[VEIL_RELEASE_POLICY_DETAIL];
    uint64_t pidx = 0;
    bool found = false, passed = false, allowed = false;
    kstore_nonce_status ns = KSTORE_NONCE_UNKNOWN;
    veil_buf_init(&policy_text, 0);
    veil_evidence_init(&ev);

    /* 2. the key's release policy: none means no release */
    VEIL_TRY(r, veil_kms_store_policy_get(k->store, req->name, &policy_text, &pidx, &found));
    if (!found) {
        refuse(c, "policy",
               "key \"%s\" has no release policy; an administrator must PUT "
               "/admin/keys/%s/policy",
               req->name, req->name);
        goto out;
    }
    if (!veil_ok(veil_release_policy_parse((const char *)policy_text.data, policy_text.len, &policy,
                                           detail))) {
        refuse(c, "policy", "the stored release policy does not parse: %s", detail);
        goto out;
    }

    /* 3. the nonce: known, unused, unexpired; consumed now whatever follows */
    VEIL_TRY(r, veil_kms_store_nonce_consume(k->store, req->nonce, c->now, &ns));
    if (ns != KSTORE_NONCE_OK) {
        refuse(c, "nonce", "%s",
               ns == KSTORE_NONCE_USED      ? "the nonce was already used; get a fresh one from "
                                              "POST /v1/attest/nonce"
               : ns == KSTORE_NONCE_EXPIRED ? "the nonce expired (valid 60 s); get a fresh one "
                                              "from POST /v1/attest/nonce"
                                            : "unknown nonce; get one from POST /v1/attest/nonce");
        goto out;
    }

    /* 4. the evidence: authentic, appraised against the reference values,
     *    REPORT_DATA bound to the nonce and the public key */
    veil_result pr = veil_evidence_parse(req->evidence, req->evidence_len, &ev);
    if (!veil_ok(pr)) {
        refuse(c, "format", "the evidence bundle does not parse: %s", pr.msg);
        goto out;
    }
    if (!hardware_identity(c, &ev))
        goto out;
    res = veil_calloc(1, sizeof *res); /* ~160 KB */
    VEIL_ENSURE_GOTO(r, res != NULL, VEIL_E_NOMEM, "release: out of memory");
    VEIL_TRY(r, attest(c, &ev, res, &passed));
    if (!passed)
        goto out;

    /* 5. the release policy on the attestation result */
    const veil_ear *ears[VEIL_COMPOSITE_MAX_DEVICES];
    for (size_t d = 0; d < res->n_devices; d++)
        ears[d] = &res->devices[d].ear;
    VEIL_TRY(r, veil_release_policy_eval(policy, ears, res->n_devices, &allowed, detail));
    if (!allowed) {
        refuse(c, "release_policy", "%s", detail);
        goto out;
    }

    /* 6. seal the key set to the requester's key */
    VEIL_TRY(r, seal_keys(c, pk));
out:
    veil_evidence_free(&ev);
    veil_composite_result_free(res);
    veil_free(res);
    veil_buf_free(&policy_text);
    veil_release_policy_free(policy);
    return r;
}

veil_result veil_kms_release(veil_kms *k, const veil_kms_release_request *req,
                             veil_kms_release_response *resp)
{
    veil_result r = VEIL_OK;
    veil_hpke_key *pk = NULL;
    release_ctx c;
    memset(resp, 0, sizeof *resp);
    veil_buf_init(&resp->sealed, 0);
    veil_buf_init(&resp->ear, 0);
    memset(&c, 0, sizeof c);
    VEIL_ENSURE(k && req && req->name, VEIL_E_USAGE, "release: missing argument");
    c.k = k;
    c.req = req;
    c.resp = resp;
    c.now = veil_kms_now(k);

    /* 1. the request and the key (not recorded: nothing was attempted) */
    if (!precheck(&c, &pk))
        goto out;
    VEIL_TRY(r, veil_sha256(req->evidence, req->evidence_len, c.evidence_sha256));
    VEIL_TRY(r, veil_sha256(req->public_key, req->public_key_len, c.pk_sha256));
    VEIL_TRY(r, decide(&c, pk));
    /* 7. write-ahead: the outcome is committed to the ledger before any of
     *    it is returned; without the entry nothing is returned */
    VEIL_TRY(r, record(&c));
out:
    if (!veil_ok(r)) {
        /* fail closed: an unrecorded release must not leave */
        veil_buf_free(&resp->sealed);
        resp->enc_len = 0;
        resp->n_key_ids = 0;
        resp->released = false;
        kms_problem(&resp->problem, "internal", "%s", r.msg ? r.msg : "internal error");
    }
    veil_hpke_key_free(pk);
    return r;
}

void veil_kms_release_response_free(veil_kms_release_response *resp)
{
    if (!resp)
        return;
    veil_buf_free(&resp->sealed);
    veil_buf_free(&resp->ear);
    veil_wipe(resp->enc, sizeof resp->enc);
}
