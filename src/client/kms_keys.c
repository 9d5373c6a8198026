/* Key configurations from the KMS with transparency receipts (DESIGN.md
 * flow 2a; docs/client.md "Keys through the KMS").
 *
 *   1. GET <kms>/v1/keys/<name>/config: the current configurations of the
 *      key, each with a receipt, the release policy with its receipt, and the
 *      receipt of the reference values in force (include/veil/kms.h).
 *   2. Every receipt must verify against the pinned ledger key, with its entry
 *      bound to exactly what is used: the keyconfig entry names this key and
 *      carries these configuration bytes; the policy entry carries this
 *      policy; the refvalues entry carries the reference values judged below.
 *   3. The KMS's reference values must admit only TEEs the user's own policy
 *      admits (veil_snp_policy_within): a KMS that would release the key to
 *      other code is refused.
 *   4. The signed tree heads must extend the last one this client accepted
 *      (state file): a consistency proof is fetched from the KMS for a larger
 *      tree; a smaller tree or another root at the same size is a fork.
 * The result is the list of receipted configurations (c->kms_keys). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "common/json_util.h"
#include "crypto/digest.h"
#include "veil/base64.h"
#include "veil/hex.h"
#include "veil/ledger.h"
#include "veil/mem.h"

#define MAX_CONFIG_DOC ((size_t)1 << 20)
#define MAX_PROOF_DOC ((size_t)64 << 10)

/* The receipt check failed: name it and stop. */
static veil_result refuse(veil_client_report *rep, const char *check, const char *what,
                          const char *detail)
{
    client_report_fail(rep, check, what, detail);
    if (!strcmp(check, "receipt"))
        return VEIL_ERR(VEIL_E_PROTOCOL, "receipt: a KMS receipt does not verify against the "
                                         "pinned ledger key, or is not for what is used");
    if (!strcmp(check, "ledger-consistency"))
        return VEIL_ERR(VEIL_E_PROTOCOL, "ledger-consistency: the KMS's log does not extend the "
                                         "tree head this client saw before (fork or rollback)");
    if (!strcmp(check, "kms-refvalues"))
        return VEIL_ERR(VEIL_E_PROTOCOL, "kms-refvalues: the KMS would release the key to TEEs "
                                         "your policy does not accept");
    return VEIL_ERR(VEIL_E_PROTOCOL, "kms: the key configuration document is unusable");
}

/* Verify the receipt object `rj` and that its entry has `fields` (a JSON
 * object). out (optional) keeps the parsed receipt. */
static veil_result verify_receipt(const veil_sign_key *log_key, const json_t *rj, json_t *fields,
                                  veil_receipt *out)
{
    veil_result r = VEIL_OK;
    char *text = json_is_object(rj) ? veil_json_dump(rj) : NULL;
    char *want = fields ? veil_json_dump(fields) : NULL;
    veil_receipt tmp;
    memset(&tmp, 0, sizeof tmp);
    VEIL_ENSURE_GOTO(r, text && want, VEIL_E_PROTOCOL, "missing receipt");
    veil_receipt_expect e = {.fields = want, .fields_len = strlen(want)};
    r = veil_receipt_verify((const uint8_t *)text, strlen(text), log_key, &e, out ? out : &tmp);
out:
    veil_receipt_free(&tmp);
    veil_free(text);
    veil_free(want);
    json_decref(fields);
    return r;
}

/* Keep the receipt's STH for the consistency step (distinct sizes only). */
static void note_sth(veil_sth *sths, size_t *n, size_t cap, const veil_sth *s)
{
    for (size_t i = 0; i < *n; i++)
        if (sths[i].tree_size == s->tree_size)
            return; /* a same-size head with another root fails in the state update */
    if (*n < cap)
        sths[(*n)++] = *s;
}

struct kms_check {
    const veil_sign_key *log_key;  /* pinned */
    const veil_snp_policy *policy; /* the user's */
    const char *name;
    veil_buf *keys_out; /* receipted configurations, application/ohttp-keys */
    veil_client_report *rep;
    veil_sth sths[CLIENT_MAX_CONFIGS + 2];
    size_t n_sth;
    unsigned receipts;
};

/* 2. one configuration: decode, receipt, keep */
static veil_result check_config(struct kms_check *k, const json_t *e)
{
    veil_result r = VEIL_OK;
    veil_buf cfg;
    veil_receipt rec;
    veil_ohttp_keyconfig kc;
    const json_t *b64 = json_object_get(e, "config");
    memset(&rec, 0, sizeof rec);
    veil_buf_init(&cfg, 4096);
    if (!json_is_string(b64) || json_string_length(b64) > 4096 ||
        !veil_ok(veil_base64_decode(json_string_value(b64), json_string_length(b64), &cfg)) ||
        !veil_ok(veil_ohttp_keyconfig_decode(cfg.data, cfg.len, &kc))) {
        r = refuse(k->rep, "kms", "a key configuration in the KMS document is malformed", NULL);
        goto out;
    }
    json_t *want = json_pack("{s:s,s:s,s:O}", "type", "keyconfig", "name", k->name, "config", b64);
    r = verify_receipt(k->log_key, json_object_get(e, "receipt"), want, &rec);
    if (!veil_ok(r)) {
        r = refuse(k->rep, "receipt", "the receipt of a key configuration", r.msg);
        goto out;
    }
    note_sth(k->sths, &k->n_sth, sizeof k->sths / sizeof k->sths[0], &rec.sth);
    k->receipts++;
    /* application/ohttp-keys framing: u16 length || config */
    VEIL_TRY(r, veil_buf_u16(k->keys_out, (uint16_t)cfg.len));
    VEIL_TRY(r, veil_buf_append(k->keys_out, cfg.data, cfg.len));
out:
    veil_receipt_free(&rec);
    veil_buf_free(&cfg);
    return r;
}

/* 2. the release policy: present, and its receipt carries exactly it */
static veil_result check_release_policy(struct kms_check *k, const json_t *doc)
{
    veil_result r = VEIL_OK;
    veil_receipt rec;
    const json_t *pol = json_object_get(doc, "policy");
    memset(&rec, 0, sizeof rec);
    if (!json_is_object(pol))
        return refuse(k->rep, "receipt", "the key has no release policy in the ledger",
                      "a KMS key without a release policy is refused");
    json_t *want =
        json_pack("{s:s,s:s,s:O}", "type", "policy", "name", k->name, "policy", (json_t *)pol);
    r = verify_receipt(k->log_key, json_object_get(doc, "policy_receipt"), want, &rec);
    if (!veil_ok(r)) {
        veil_receipt_free(&rec);
        return refuse(k->rep, "receipt", "the receipt of the release policy", r.msg);
    }
    note_sth(k->sths, &k->n_sth, sizeof k->sths / sizeof k->sths[0], &rec.sth);
    k->receipts++;
    uint8_t d[32];
    if (veil_ok(veil_sha256(rec.entry.data, rec.entry.len, d)))
        veil_hex_encode(d, 32, k->rep->kms_policy_sha256);
    veil_receipt_free(&rec);
    return r;
}

/* 2-3. the reference values in force: receipt, then within the user's policy */
static veil_result check_refvalues(struct kms_check *k, const json_t *doc)
{
    veil_result r = VEIL_OK;
    veil_receipt rec;
    veil_snp_policy *kp = NULL;
    json_t *entry = NULL;
    char *text = NULL, why[48] = "";
    memset(&rec, 0, sizeof rec);
    r = verify_receipt(k->log_key, json_object_get(doc, "refvalues_receipt"),
                       json_pack("{s:s}", "type", "refvalues"), &rec);
    if (!veil_ok(r)) {
        r = refuse(k->rep, "receipt", "the receipt of the KMS's reference values", r.msg);
        goto out;
    }
    note_sth(k->sths, &k->n_sth, sizeof k->sths / sizeof k->sths[0], &rec.sth);
    k->receipts++;
    entry = json_loadb((const char *)rec.entry.data, rec.entry.len, 0, NULL);
    const json_t *rv = entry ? json_object_get(entry, "refvalues") : NULL;
    text = json_is_object(rv) ? veil_json_dump(rv) : NULL;
    kp = veil_calloc(1, sizeof *kp);
    VEIL_ENSURE_GOTO(r, kp, VEIL_E_NOMEM, "client: out of memory");
    if (!text || !veil_ok(veil_snp_policy_parse(text, strlen(text), kp))) {
        r = refuse(k->rep, "kms-refvalues", "the KMS's reference values cannot be read", NULL);
        goto out;
    }
    if (!veil_snp_policy_within(kp, k->policy, why, sizeof why)) {
        r = refuse(k->rep, "kms-refvalues",
                   "the KMS's reference values are looser than your policy in", why);
        goto out;
    }
out:
    veil_receipt_free(&rec);
    json_decref(entry);
    veil_free(text);
    veil_free_wiped(kp, kp ? sizeof *kp : 0);
    return r;
}

static int by_size(const void *a, const void *b)
{
    const veil_sth *x = a, *y = b;
    return x->tree_size < y->tree_size ? -1 : x->tree_size > y->tree_size;
}

/* 4. each tree head, smallest first, must extend the saved one */
static veil_result check_consistency(veil_client *c, struct kms_check *k)
{
    veil_result r = VEIL_OK;
    veil_ledger_client_state *st = NULL;
    veil_buf body;
    char url[CLIENT_URL_MAX + 96];
    veil_buf_init(&body, MAX_PROOF_DOC);
    r = veil_ledger_client_state_load(c->state_file, c->log_key, &st);
    if (!veil_ok(r)) {
        r = refuse(k->rep, "ledger-consistency", "the saved ledger state cannot be used", r.msg);
        goto out;
    }
    qsort(k->sths, k->n_sth, sizeof k->sths[0], by_size);
    for (size_t i = 0; i < k->n_sth; i++) {
        veil_sth saved;
        veil_merkle_proof proof, *pp = NULL;
        if (veil_ledger_client_state_get(st, &saved) && saved.tree_size > 0 &&
            saved.tree_size < k->sths[i].tree_size) {
            snprintf(url, sizeof url, "%s/v1/ledger/proof/consistency?from=%llu&to=%llu",
                     c->kms_url, (unsigned long long)saved.tree_size,
                     (unsigned long long)k->sths[i].tree_size);
            body.len = 0;
            VEIL_TRY(r, client_fetch(c, url, VEIL_HTTP_MT_JSON, MAX_PROOF_DOC, &body,
                                     "GET consistency proof failed", "kms", k->rep));
            if (!veil_ok(veil_merkle_proof_from_json(body.data, body.len, &proof))) {
                r = refuse(k->rep, "ledger-consistency", "the consistency proof is malformed",
                           NULL);
                goto out;
            }
            pp = &proof;
        }
        r = veil_ledger_client_state_update(st, &k->sths[i], pp);
        if (!veil_ok(r)) {
            r = refuse(k->rep, "ledger-consistency", "the KMS's tree head", r.msg);
            goto out;
        }
    }
    k->rep->kms_tree_size = k->n_sth ? k->sths[k->n_sth - 1].tree_size : 0;
    r = veil_ledger_client_state_save(st, c->state_file);
    if (!veil_ok(r))
        r = refuse(k->rep, "ledger-consistency", "the ledger state could not be saved", r.msg);
out:
    veil_ledger_client_state_free(st);
    veil_buf_free(&body);
    return r;
}

/* 2-3: everything that needs no network */
static veil_result check_document(struct kms_check *k, const json_t *doc)
{
    const json_t *keys = json_object_get(doc, "keys"), *e;
    const json_t *type = json_object_get(doc, "type"), *name = json_object_get(doc, "name");
    size_t i;
    if (!json_is_object(doc) || !json_is_array(keys) || !json_is_string(type) ||
        strcmp(json_string_value(type), "ohttp") != 0 || !json_is_string(name) ||
        strcmp(json_string_value(name), k->name) != 0)
        return refuse(k->rep, "kms", "the KMS document is not the ohttp key asked for", NULL);
    if (json_array_size(keys) == 0 || json_array_size(keys) > CLIENT_MAX_CONFIGS)
        return refuse(k->rep, "kms", "the KMS publishes no (or too many) configurations", NULL);
    json_array_foreach (keys, i, e)
        VEIL_GUARD(check_config(k, e));
    VEIL_GUARD(check_release_policy(k, doc));
    return check_refvalues(k, doc);
}

static void report_passed(veil_client_report *rep, unsigned receipts, uint64_t tree_size)
{
    char detail[160];
    rep->kms_receipts = receipts;
    snprintf(detail, sizeof detail, "%u receipts verify against log %.12s... at tree size %llu",
             receipts, rep->kms_log_id, (unsigned long long)tree_size);
    client_report_check(rep, "receipt", true, detail);
    client_report_check(rep, "kms-refvalues", true,
                        "the KMS releases the key only to TEEs your policy accepts");
}

veil_result client_kms_check_offline(const veil_sign_key *log_key, const veil_snp_policy *policy,
                                     const char *name, const uint8_t *doc_json, size_t len,
                                     veil_buf *keys_out, veil_client_report *rep)
{
    struct kms_check k = {
        .log_key = log_key, .policy = policy, .name = name, .keys_out = keys_out, .rep = rep};
    json_t *doc = json_loadb((const char *)doc_json, len, JSON_REJECT_DUPLICATES, NULL);
    veil_result r = veil_sign_key_thumbprint(log_key, rep->kms_log_id);
    if (veil_ok(r))
        r = check_document(&k, doc);
    json_decref(doc);
    if (!veil_ok(r))
        return r;
    for (size_t i = 0; i < k.n_sth; i++)
        if (k.sths[i].tree_size > rep->kms_tree_size)
            rep->kms_tree_size = k.sths[i].tree_size;
    report_passed(rep, k.receipts, rep->kms_tree_size);
    return VEIL_OK;
}

veil_result client_kms_verify(veil_client *c, veil_client_report *rep)
{
    veil_result r = VEIL_OK;
    json_t *doc = NULL;
    char url[CLIENT_URL_MAX + 96];
    struct kms_check k = {.log_key = c->log_key,
                          .policy = &c->policy,
                          .name = c->kms_key,
                          .keys_out = &c->kms_keys,
                          .rep = rep};
    veil_buf_clear(&c->kms_keys);
    veil_buf_clear(&c->kms_doc);
    VEIL_TRY(r, veil_sign_key_thumbprint(c->log_key, rep->kms_log_id));
    snprintf(url, sizeof url, "%s/v1/keys/%s/config", c->kms_url, c->kms_key);
    VEIL_TRY(r, client_fetch(c, url, VEIL_HTTP_MT_JSON, MAX_CONFIG_DOC, &c->kms_doc,
                             "GET /v1/keys/NAME/config failed", "kms", rep));
    doc = json_loadb((const char *)c->kms_doc.data, c->kms_doc.len, JSON_REJECT_DUPLICATES, NULL);
    VEIL_TRY(r, check_document(&k, doc));
    VEIL_TRY(r, check_consistency(c, &k));
    report_passed(rep, k.receipts, rep->kms_tree_size);
    client_report_check(rep, "ledger-consistency", true,
                        "the tree head extends the one this client saw before");
out:
    json_decref(doc);
    if (!veil_ok(r)) {
        veil_buf_clear(&c->kms_keys);
        veil_buf_clear(&c->kms_doc);
    }
    return r;
}
