/* Receipts, tree heads and proofs from untrusted JSON: parsing and
 * verification against a pinned log key must never crash, and whatever
 * parses must write and parse back to the same receipt. The seed corpus
 * (tests/fuzz/corpus/receipt/) holds valid receipts of a test log signed by
 * the key below (its private half is in tests/unit/ledger_test.c), so the
 * fuzzer starts past the signature and into the proof and entry checks. */
#include <stdlib.h>
#include <string.h>

#include "veil/ledger.h"
#include "veil/mem.h"

static const char fixture_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE1i5DAb/xtp+AqWp00QJbHTT8VR2Usn7T\n"
    "KqEWrYdSi4uJM6r0NDg6c9xT7TvBwuUOvw1Rhv+gOlz1fMUr+rJ5IaVcN5NB8hdq\n"
    "dPVg8h6o74erg9btA4gn6MJ2lWBkzmGK\n"
    "-----END PUBLIC KEY-----\n";

static veil_sign_key *log_key(void)
{
    static veil_sign_key *k;
    if (!k &&
        !veil_ok(veil_sign_key_from_pem((const uint8_t *)fixture_pub, strlen(fixture_pub), &k)))
        abort();
    return k;
}

static int same(const veil_receipt *a, const veil_receipt *b)
{
    return veil_public_equal(a->entry.data, a->entry.len, b->entry.data, b->entry.len) &&
           a->leaf_index == b->leaf_index && a->inclusion.len == b->inclusion.len &&
           veil_public_equal(a->inclusion.hash, a->inclusion.len * VEIL_MERKLE_HASH_LEN,
                             b->inclusion.hash, b->inclusion.len * VEIL_MERKLE_HASH_LEN) &&
           a->sth.tree_size == b->sth.tree_size && a->sth.timestamp_ms == b->sth.timestamp_ms &&
           veil_public_equal(a->sth.root_hash, VEIL_MERKLE_HASH_LEN, b->sth.root_hash,
                             VEIL_MERKLE_HASH_LEN) &&
           veil_public_equal(a->sth.log_id, strlen(a->sth.log_id), b->sth.log_id,
                             strlen(b->sth.log_id)) &&
           veil_public_equal(a->sth.signature, VEIL_ES384_SIG_LEN, b->sth.signature,
                             VEIL_ES384_SIG_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    veil_sign_key *k = log_key();
    veil_receipt r, back;
    veil_buf out;
    veil_buf_init(&out, 0);

    if (veil_ok(veil_receipt_parse(data, size, &r))) {
        if (!veil_ok(veil_receipt_write(&r, &out)) ||
            !veil_ok(veil_receipt_parse(out.data, out.len, &back)) || !same(&r, &back))
            abort();
        veil_receipt_free(&back);
        /* full verification, expecting exactly this entry */
        veil_receipt_expect x = {r.entry.data, r.entry.len, NULL, 0};
        veil_result v = veil_receipt_verify(data, size, k, &x, NULL);
        (void)v;
        /* the proof checks alone, below the signature */
        uint8_t leaf[VEIL_MERKLE_HASH_LEN];
        if (veil_ok(veil_merkle_leaf_hash(r.entry.data, r.entry.len, leaf))) {
            v = veil_merkle_verify_inclusion(r.leaf_index, r.sth.tree_size, leaf, &r.inclusion,
                                             r.sth.root_hash);
            v = veil_merkle_verify_consistency(r.leaf_index, r.sth.tree_size, leaf, r.sth.root_hash,
                                               &r.inclusion);
        }
        v = veil_ledger_entry_check(r.entry.data, r.entry.len, r.leaf_index);
        v = veil_sth_verify(&r.sth, k);
    }
    veil_receipt_free(&r);

    /* verification by fields, on the raw input */
    static const char fields[] = "{\"type\":\"keyconfig\"}";
    veil_receipt_expect f = {NULL, 0, fields, sizeof fields - 1};
    veil_result v = veil_receipt_verify(data, size, k, &f, NULL);

    /* the input as a tree head, a proof, and an expectation */
    veil_sth sth;
    if (veil_ok(veil_sth_from_json(data, size, &sth))) {
        veil_buf_clear(&out);
        veil_sth again;
        if (!veil_ok(veil_sth_to_json(&sth, &out)) ||
            !veil_ok(veil_sth_from_json(out.data, out.len, &again)) ||
            again.tree_size != sth.tree_size || again.timestamp_ms != sth.timestamp_ms)
            abort();
        v = veil_sth_verify(&sth, k);
    }
    veil_merkle_proof p;
    v = veil_merkle_proof_from_json(data, size, &p);
    veil_receipt_expect g = {NULL, 0, (const char *)data, size};
    static const char seed[] =
        "{\"entry\":\"{}\",\"inclusion_proof\":[],\"leaf_index\":0,\"sth\":{},\"version\":"
        "\"veil-receipt-v1\"}";
    v = veil_receipt_verify((const uint8_t *)seed, sizeof seed - 1, k, &g, NULL);
    (void)v;
    veil_buf_free(&out);
    return 0;
}
