/* Receipts: an entry, its leaf index, its inclusion proof and the STH it is
 * proved against (format in veil/ledger.h). Verification fails closed: the
 * verdict is "rejected" until every check below has passed, in this order:
 *   1. the receipt parses strictly
 *   2. the STH names the pinned log and its signature verifies
 *   3. the leaf index lies inside the signed tree
 *   4. the entry is canonical, typed, and its seq is the leaf index
 *   5. the inclusion proof leads from the entry's leaf hash to the signed root
 *   6. the entry is what the client expects (exact bytes and/or fields) */
#include <string.h>

#include "ledger/ledger_internal.h"
#include "veil/mem.h"

#define RECEIPT_VERSION "veil-receipt-v1"

static void receipt_empty(veil_receipt *r)
{
    memset(r, 0, sizeof *r);
    veil_buf_init(&r->entry, VEIL_LEDGER_MAX_ENTRY);
}

void veil_receipt_free(veil_receipt *r)
{
    if (!r)
        return;
    veil_buf_free(&r->entry);
    receipt_empty(r);
}

static veil_result parse_object(const json_t *o, veil_receipt *out)
{
    static const char *const names[] = {"entry", "inclusion_proof", "leaf_index", "sth", "version"};
    VEIL_GUARD(veil_ledger_json_only(o, names, 5,
                                     "ledger: receipt must have exactly entry, inclusion_proof, "
                                     "leaf_index, sth and version"));
    const json_t *ver = json_object_get(o, "version"), *entry = json_object_get(o, "entry");
    VEIL_ENSURE(json_is_string(ver) &&
                    veil_public_equal(json_string_value(ver), json_string_length(ver),
                                      RECEIPT_VERSION, strlen(RECEIPT_VERSION)),
                VEIL_E_PROTOCOL, "ledger: receipt version is not veil-receipt-v1");
    VEIL_ENSURE(json_is_string(entry) && json_string_length(entry) > 0 &&
                    json_string_length(entry) <= VEIL_LEDGER_MAX_ENTRY,
                VEIL_E_PROTOCOL, "ledger: receipt entry is not a string of 1 byte to 1 MiB");
    VEIL_GUARD(veil_buf_append(&out->entry, json_string_value(entry), json_string_length(entry)));
    VEIL_GUARD(veil_ledger_json_u53(json_object_get(o, "leaf_index"), &out->leaf_index,
                                    "ledger: receipt leaf_index is not an integer in [0, 2^53)"));
    VEIL_GUARD(
        veil_ledger_proof_from_array(json_object_get(o, "inclusion_proof"), &out->inclusion));
    return veil_sth_from_object(json_object_get(o, "sth"), &out->sth);
}

veil_result veil_receipt_parse(const uint8_t *json, size_t len, veil_receipt *out)
{
    json_t *o = NULL;
    veil_result res = VEIL_OK;
    receipt_empty(out);
    VEIL_TRY(res,
             veil_ledger_json_parse_object(json, len, &o, "ledger: receipt is not a JSON object"));
    VEIL_TRY(res, parse_object(o, out));
out:
    json_decref(o);
    if (!veil_ok(res))
        veil_receipt_free(out);
    return res;
}

veil_result veil_receipt_write(const veil_receipt *r, veil_buf *out)
{
    veil_result res = VEIL_OK;
    json_t *proof = json_array(), *o = NULL;
    VEIL_ENSURE_GOTO(res, proof != NULL && r->inclusion.len <= VEIL_MERKLE_MAX_PROOF, VEIL_E_NOMEM,
                     "ledger: out of memory writing a receipt");
    for (size_t i = 0; i < r->inclusion.len; i++)
        VEIL_ENSURE_GOTO(res,
                         json_array_append_new(
                             proof, veil_ledger_json_b64_new(r->inclusion.hash[i], HASH_LEN)) == 0,
                         VEIL_E_NOMEM, "ledger: out of memory writing a receipt");
    o = json_pack("{s:s%,s:O,s:I,s:o,s:s}", "entry",
                  r->entry.data ? (const char *)r->entry.data : "", r->entry.len, "inclusion_proof",
                  proof, "leaf_index", (json_int_t)r->leaf_index, "sth", veil_sth_json(&r->sth),
                  "version", RECEIPT_VERSION);
    VEIL_ENSURE_GOTO(res, o != NULL, VEIL_E_USAGE,
                     "ledger: receipt entry is not UTF-8 or out of memory writing a receipt");
    VEIL_TRY(res, veil_jcs_serialize(o, out));
out:
    json_decref(proof);
    json_decref(o);
    return res;
}

/* Every member of the expected object is in the entry with the same
 * canonical value. An empty expectation would accept anything: refused. */
static veil_result fields_match(const veil_buf *entry, const char *fields, size_t fields_len)
{
    json_t *want = NULL, *got = NULL;
    veil_buf a, b;
    veil_result res = VEIL_OK;
    const char *key;
    size_t key_len;
    json_t *val;
    veil_buf_init(&a, 0);
    veil_buf_init(&b, 0);

    VEIL_TRY(res, veil_ledger_json_parse_object((const uint8_t *)fields, fields_len, &want,
                                                "ledger: expected fields are not a JSON object"));
    VEIL_ENSURE_GOTO(res, json_object_size(want) > 0, VEIL_E_USAGE,
                     "ledger: expected fields name nothing (that would accept any entry)");
    VEIL_TRY(res, veil_ledger_json_parse_object(entry->data, entry->len, &got,
                                                "ledger: entry is not a JSON object"));
    json_object_keylen_foreach(want, key, key_len, val)
    {
        const json_t *have = json_object_getn(got, key, key_len);
        VEIL_ENSURE_GOTO(res, have != NULL, VEIL_E_CRYPTO,
                         "ledger: receipt entry lacks a field the client expects");
        veil_buf_clear(&a);
        veil_buf_clear(&b);
        VEIL_TRY(res, veil_jcs_serialize(val, &a));
        VEIL_TRY(res, veil_jcs_serialize(have, &b));
        VEIL_ENSURE_GOTO(
            res, veil_public_equal(a.data, a.len, b.data, b.len), VEIL_E_CRYPTO,
            "ledger: receipt entry has a field whose value differs from the expected one");
    }
out:
    json_decref(want);
    json_decref(got);
    veil_buf_free(&a);
    veil_buf_free(&b);
    return res;
}

veil_result veil_receipt_verify(const uint8_t *json, size_t len, const veil_sign_key *log_key,
                                const veil_receipt_expect *expect, veil_receipt *out)
{
    veil_receipt r;
    uint8_t leaf[HASH_LEN];
    veil_result res = VEIL_OK;
    receipt_empty(&r);
    if (out)
        receipt_empty(out);

    VEIL_ENSURE_GOTO(res, log_key != NULL, VEIL_E_USAGE,
                     "ledger: receipt verification needs the pinned log key");
    VEIL_ENSURE_GOTO(res, expect && (expect->entry || expect->fields), VEIL_E_USAGE,
                     "ledger: receipt verification needs the expected entry or fields");
    /* 1 */
    VEIL_TRY(res, veil_receipt_parse(json, len, &r));
    /* 2 */
    VEIL_TRY(res, veil_sth_verify(&r.sth, log_key));
    /* 3 */
    VEIL_ENSURE_GOTO(res, r.leaf_index < r.sth.tree_size, VEIL_E_CRYPTO,
                     "ledger: receipt leaf index is not inside the signed tree");
    /* 4 */
    VEIL_TRY(res, veil_ledger_entry_check(r.entry.data, r.entry.len, r.leaf_index));
    /* 5 */
    VEIL_TRY(res, veil_merkle_leaf_hash(r.entry.data, r.entry.len, leaf));
    VEIL_TRY(res, veil_merkle_verify_inclusion(r.leaf_index, r.sth.tree_size, leaf, &r.inclusion,
                                               r.sth.root_hash));
    /* 6 */
    if (expect->entry)
        VEIL_ENSURE_GOTO(res,
                         expect->entry_len == r.entry.len &&
                             veil_ct_equal(expect->entry, r.entry.data, r.entry.len),
                         VEIL_E_CRYPTO,
                         "ledger: receipt entry is not the entry the client expects");
    if (expect->fields)
        VEIL_TRY(res, fields_match(&r.entry, expect->fields, expect->fields_len));
    if (out) {
        *out = r;
        receipt_empty(&r);
    }
out:
    veil_receipt_free(&r);
    return res;
}
