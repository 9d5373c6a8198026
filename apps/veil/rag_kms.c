/* veil rag ingest --kms: the collection's public key from the KMS, trusted
 * only through the ledger (DESIGN.md flow 4, docs/rag.md "Keys").
 *
 *   1. GET <kms>/v1/keys/<name>/config: a key of type "hpke" named <name>.
 *   2. Every configuration's receipt verifies against the pinned ledger key
 *      with its entry bound to exactly these configuration bytes and this
 *      name; the release policy is present and its receipt carries exactly
 *      it. Any failure refuses (nothing is encrypted).
 *   3. The signed tree heads extend the one saved in the state file (a
 *      consistency proof from the KMS for a larger tree); the newest is saved.
 * The configuration with the latest not_after is used. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/json_util.h"
#include "rag_kms.h"
#include "veil/base64.h"
#include "veil/http.h"
#include "veil/ledger.h"
#include "veil/mem.h"

#define MAX_DOC ((size_t)1 << 20)
#define MAX_STH 40

typedef struct check {
    const veil_sign_key *log_key;
    veil_sth sths[MAX_STH];
    size_t n_sth;
    unsigned receipts;
} check;

static veil_result get_json(const char *url, json_t **out)
{
    veil_http_client_opts o = {.max_response = MAX_DOC};
    veil_http_client_response resp;
    memset(&resp, 0, sizeof resp);
    veil_result r = veil_http_get(url, &o, &resp);
    if (veil_ok(r) && resp.status != 200)
        r = VEIL_ERR(VEIL_E_PROTOCOL, "the KMS did not answer 200");
    *out = veil_ok(r) ? json_loadb((const char *)resp.body.data, resp.body.len,
                                   JSON_REJECT_DUPLICATES, NULL)
                      : NULL;
    if (veil_ok(r) && !*out)
        r = VEIL_ERR(VEIL_E_PROTOCOL, "the KMS answer is not JSON");
    veil_http_client_response_free(&resp);
    return r;
}

/* The receipt `rj` verifies and its entry has the fields of `want` (taken). */
static veil_result receipt(check *c, const json_t *rj, json_t *want)
{
    char *text = json_is_object(rj) ? veil_json_dump(rj) : NULL;
    char *fields = want ? veil_json_dump(want) : NULL;
    veil_receipt rec;
    memset(&rec, 0, sizeof rec);
    veil_result r = VEIL_ERR(VEIL_E_PROTOCOL, "a receipt is missing");
    if (text && fields) {
        veil_receipt_expect e = {.fields = fields, .fields_len = strlen(fields)};
        r = veil_receipt_verify((const uint8_t *)text, strlen(text), c->log_key, &e, &rec);
    }
    if (veil_ok(r)) {
        c->receipts++;
        size_t i = 0;
        while (i < c->n_sth && c->sths[i].tree_size != rec.sth.tree_size)
            i++;
        if (i == c->n_sth && c->n_sth < MAX_STH)
            c->sths[c->n_sth++] = rec.sth;
    }
    veil_receipt_free(&rec);
    veil_free(text);
    veil_free(fields);
    json_decref(want);
    return r;
}

static int by_size(const void *a, const void *b)
{
    const veil_sth *x = a, *y = b;
    return x->tree_size < y->tree_size ? -1 : x->tree_size > y->tree_size;
}

static veil_result consistency(check *c, const char *kms, const char *state_path,
                               uint64_t *tree_size)
{
    veil_ledger_client_state *st = NULL;
    VEIL_GUARD(veil_ledger_client_state_load(state_path, c->log_key, &st));
    qsort(c->sths, c->n_sth, sizeof c->sths[0], by_size);
    veil_result r = VEIL_OK;
    for (size_t i = 0; i < c->n_sth && veil_ok(r); i++) {
        veil_sth saved;
        veil_merkle_proof proof, *pp = NULL;
        json_t *doc = NULL;
        if (veil_ledger_client_state_get(st, &saved) && saved.tree_size > 0 &&
            saved.tree_size < c->sths[i].tree_size) {
            char url[1200];
            snprintf(url, sizeof url, "%s/v1/ledger/proof/consistency?from=%llu&to=%llu", kms,
                     (unsigned long long)saved.tree_size, (unsigned long long)c->sths[i].tree_size);
            r = get_json(url, &doc);
            char *t = veil_ok(r) ? veil_json_dump(doc) : NULL;
            if (veil_ok(r))
                r = t ? veil_merkle_proof_from_json((const uint8_t *)t, strlen(t), &proof)
                      : VEIL_ERR(VEIL_E_NOMEM, "out of memory");
            veil_free(t);
            json_decref(doc);
            pp = &proof;
        }
        if (veil_ok(r))
            r = veil_ledger_client_state_update(st, &c->sths[i], pp);
    }
    if (veil_ok(r))
        r = veil_ledger_client_state_save(st, state_path);
    *tree_size = c->n_sth ? c->sths[c->n_sth - 1].tree_size : 0;
    veil_ledger_client_state_free(st);
    return r;
}

/* Check one configuration entry; keep it in *out if it is the newest yet. */
static veil_result config_entry(check *c, const char *name, const json_t *e,
                                veil_ohttp_keyconfig *out, json_int_t *best)
{
    const json_t *b64 = json_object_get(e, "config");
    VEIL_ENSURE(json_is_string(b64) && json_string_length(b64) <= 4096, VEIL_E_PROTOCOL,
                "a key configuration in the KMS document is malformed");
    VEIL_GUARD(receipt(
        c, json_object_get(e, "receipt"),
        json_pack("{s:s,s:s,s:O}", "type", "keyconfig", "name", name, "config", (json_t *)b64)));
    json_int_t na = json_integer_value(json_object_get(e, "not_after"));
    if (na <= *best)
        return VEIL_OK;
    veil_buf cfg;
    veil_buf_init(&cfg, 4096);
    veil_result r = veil_base64_decode(json_string_value(b64), json_string_length(b64), &cfg);
    if (veil_ok(r))
        r = veil_ohttp_keyconfig_decode(cfg.data, cfg.len, out);
    veil_buf_free(&cfg);
    if (veil_ok(r))
        *best = na;
    return r;
}

static veil_result check_doc(check *c, const char *name, const json_t *doc,
                             veil_ohttp_keyconfig *out)
{
    const json_t *keys = json_object_get(doc, "keys"), *pol = json_object_get(doc, "policy"), *e;
    const char *type = json_string_value(json_object_get(doc, "type"));
    const char *nm = json_string_value(json_object_get(doc, "name"));
    VEIL_ENSURE(type && nm && !strcmp(type, "hpke") && !strcmp(nm, name), VEIL_E_PROTOCOL,
                "the KMS key is not an hpke key of this name");
    VEIL_ENSURE(json_array_size(keys) > 0 && json_array_size(keys) <= 32, VEIL_E_PROTOCOL,
                "the KMS publishes no (or too many) configurations");
    json_int_t best = -1;
    size_t i;
    json_array_foreach (keys, i, e)
        VEIL_GUARD(config_entry(c, name, e, out, &best));
    VEIL_ENSURE(json_is_object(pol), VEIL_E_PROTOCOL,
                "the key has no release policy in the ledger (refused)");
    return receipt(
        c, json_object_get(doc, "policy_receipt"),
        json_pack("{s:s,s:s,s:O}", "type", "policy", "name", name, "policy", (json_t *)pol));
}

int rag_kms_keyconfig(const char *kms, const char *name, const char *ledger_key, const char *state,
                      veil_ohttp_keyconfig *out, rag_kms_info *info)
{
    size_t n = 0;
    char *pem = cli_read_file(ledger_key, &n, 64 << 10);
    if (!pem)
        return VEIL_EXIT_INPUT;
    check c = {0};
    veil_sign_key *lk = NULL;
    veil_result r = veil_sign_key_from_pem((const uint8_t *)pem, n, &lk);
    veil_free(pem);
    if (!veil_ok(r)) {
        cli_error("--ledger-key", r);
        return VEIL_EXIT_INPUT;
    }
    c.log_key = lk;
    char url[1200];
    json_t *doc = NULL;
    snprintf(url, sizeof url, "%s/v1/keys/%s/config", kms, name);
    r = get_json(url, &doc);
    if (veil_ok(r))
        r = check_doc(&c, name, doc, out);
    if (veil_ok(r))
        r = consistency(&c, kms, state, &info->tree_size);
    json_decref(doc);
    veil_sign_key_free(lk);
    info->receipts = c.receipts;
    if (!veil_ok(r)) {
        cli_error("rag ingest: KMS key configuration", r);
        fprintf(stderr, "veil: refusing to encrypt to an unverified collection key\n");
        return VEIL_EXIT_FAILED;
    }
    return VEIL_EXIT_OK;
}
