/* Opening an encrypted RAG store with the collection private key (the format
 * is described at the top of store.c). Everything is read at open: the
 * wrapped keys are unwrapped, the index decrypted and parsed, and every
 * passage ciphertext kept in memory, so searches touch no storage. A record
 * that fails authentication, or one missing or extra, is an error naming it. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "rag/rag_internal.h"
#include "veil/aead_ctx.h"
#include "veil/mem.h"

struct veil_rag_store {
    char collection[VEIL_RAG_COLLECTION_MAX + 1];
    uint8_t snapshot[RAG_SNAPSHOT_LEN];
    veil_hpke_suite suite;
    uint32_t index_chunks;
    veil_rag_index *ix;
    rag_data_key *keys; /* per document */
    uint32_t n_keys;
    uint8_t *ct; /* every passage record, in passage order */
    size_t ct_len;
    size_t *ct_off; /* n_passages + 1 */
    char bad[VEIL_RAG_RECORD_NAME];
};

static size_t make_aad(uint8_t out[RAG_AAD_MAX], int kind, const veil_rag_store *s, uint32_t doc,
                       uint64_t seq)
{
    return rag_make_aad(out, kind, s->collection, s->snapshot, doc, seq);
}

#define NOT_A_STORE VEIL_ERR(VEIL_E_PROTOCOL, "rag store: not a veil RAG store (schema)")

/* ---- meta ----------------------------------------------------------------------- */

static veil_result meta_int(sqlite3 *db, const char *k, int64_t lo, int64_t hi, int64_t *out)
{
    sqlite3_stmt *q = NULL;
    VEIL_ENSURE(sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k=?", -1, &q, NULL) == SQLITE_OK,
                VEIL_E_PROTOCOL, "rag store: not a veil RAG store (schema)");
    sqlite3_bind_text(q, 1, k, -1, SQLITE_STATIC);
    int ok = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) == SQLITE_INTEGER;
    int64_t v = ok ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_finalize(q);
    VEIL_ENSURE(ok && v >= lo && v <= hi, VEIL_E_PROTOCOL, "rag store: bad or missing meta value");
    *out = v;
    return VEIL_OK;
}

static veil_result meta_blob(sqlite3 *db, const char *k, uint8_t *out, size_t min, size_t max,
                             size_t *len)
{
    sqlite3_stmt *q = NULL;
    VEIL_ENSURE(sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k=?", -1, &q, NULL) == SQLITE_OK,
                VEIL_E_PROTOCOL, "rag store: not a veil RAG store (schema)");
    sqlite3_bind_text(q, 1, k, -1, SQLITE_STATIC);
    int ok = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) == SQLITE_BLOB;
    size_t n = ok ? (size_t)sqlite3_column_bytes(q, 0) : 0;
    ok = ok && n >= min && n <= max;
    if (ok)
        memcpy(out, sqlite3_column_blob(q, 0), n);
    sqlite3_finalize(q);
    VEIL_ENSURE(ok, VEIL_E_PROTOCOL, "rag store: bad or missing meta value");
    *len = n;
    return VEIL_OK;
}

static veil_result read_meta(sqlite3 *db, veil_rag_store *s)
{
    sqlite3_stmt *q = NULL;
    VEIL_ENSURE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK,
                VEIL_E_PROTOCOL, "rag store: not a SQLite file");
    int64_t ver = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    VEIL_ENSURE(ver == VEIL_RAG_SCHEMA_VERSION, VEIL_E_UNSUPPORTED,
                "rag store: unknown schema version (not a veil RAG store, or a newer one)");
    size_t n;
    VEIL_GUARD(
        meta_blob(db, "collection", (uint8_t *)s->collection, 1, VEIL_RAG_COLLECTION_MAX, &n));
    s->collection[n] = 0;
    VEIL_ENSURE(strlen(s->collection) == n, VEIL_E_PROTOCOL, "rag store: bad collection name");
    VEIL_GUARD(meta_blob(db, "snapshot", s->snapshot, RAG_SNAPSHOT_LEN, RAG_SNAPSHOT_LEN, &n));
    int64_t kem, kdf, aead, chunks;
    VEIL_GUARD(meta_int(db, "kem", 0, 0xFFFF, &kem));
    VEIL_GUARD(meta_int(db, "kdf", 0, 0xFFFF, &kdf));
    VEIL_GUARD(meta_int(db, "aead", 0, 0xFFFF, &aead));
    VEIL_GUARD(meta_int(db, "index_chunks", 0, (int64_t)1 << 24, &chunks));
    s->suite = (veil_hpke_suite){(uint16_t)kem, (uint16_t)kdf, (uint16_t)aead};
    s->index_chunks = (uint32_t)chunks;
    return veil_hpke_suite_check(&s->suite);
}

/* ---- keys ------------------------------------------------------------------------ */

static veil_result unwrap(veil_rag_store *s, const veil_hpke_key *sk, int kind, uint32_t doc,
                          uint64_t seq, const uint8_t *enc, size_t enc_len, const uint8_t *ct,
                          size_t ct_len, rag_data_key *out)
{
    uint8_t aad[RAG_AAD_MAX];
    size_t aad_len = make_aad(aad, kind, s, doc, seq), pt_len = 0;
    veil_hpke_params hp = {.suite = s->suite,
                           .mode = VEIL_HPKE_MODE_BASE,
                           .info = (const uint8_t *)RAG_WRAP_INFO,
                           .info_len = sizeof RAG_WRAP_INFO - 1};
    VEIL_ENSURE(ct_len == RAG_WRAPPED_PT + VEIL_HPKE_TAG_LEN, VEIL_E_PROTOCOL,
                "rag store: wrapped key has the wrong length");
    VEIL_GUARD(veil_hpke_open_once(&hp, sk, enc, enc_len, aad, aad_len, ct, ct_len, (uint8_t *)out,
                                   sizeof *out, &pt_len));
    return VEIL_OK;
}

/* Unwrap every key: the index key (doc -1) and one per document 0..n-1,
 * with no key missing and none extra. */
static veil_result load_keys(sqlite3 *db, veil_rag_store *s, const veil_hpke_key *sk,
                             uint32_t n_docs, rag_data_key *index_key)
{
    sqlite3_stmt *q = NULL;
    VEIL_ENSURE(sqlite3_prepare_v2(db, "SELECT doc, enc, ct FROM wrapped_keys ORDER BY doc", -1, &q,
                                   NULL) == SQLITE_OK,
                VEIL_E_PROTOCOL, "rag store: not a veil RAG store (schema)");
    veil_result r = VEIL_OK;
    int64_t want = -1;
    int rc;
    while (veil_ok(r) && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t doc = sqlite3_column_int64(q, 0);
        if (doc != want || (doc >= 0 && (uint64_t)doc >= n_docs)) {
            if (want < (int64_t)n_docs && doc > want)
                snprintf(s->bad, sizeof s->bad, "wrapped key of document %lld missing",
                         (long long)want);
            else
                snprintf(s->bad, sizeof s->bad, "wrapped key of document %lld unexpected",
                         (long long)doc);
            r = VEIL_ERR(VEIL_E_PROTOCOL, "rag store: wrapped key missing or extra");
            break;
        }
        rag_data_key *dst = doc < 0 ? index_key : &s->keys[doc];
        r = unwrap(s, sk, doc < 0 ? RAG_KIND_INDEX_KEY : RAG_KIND_DOC_KEY, (uint32_t)doc,
                   doc < 0 ? s->index_chunks : 0, sqlite3_column_blob(q, 1),
                   (size_t)sqlite3_column_bytes(q, 1), sqlite3_column_blob(q, 2),
                   (size_t)sqlite3_column_bytes(q, 2), dst);
        if (!veil_ok(r)) {
            if (doc < 0)
                snprintf(s->bad, sizeof s->bad, "wrapped index key");
            else
                snprintf(s->bad, sizeof s->bad, "wrapped key of document %lld", (long long)doc);
        }
        want++;
    }
    sqlite3_finalize(q);
    VEIL_GUARD(r);
    if (want != (int64_t)n_docs) {
        snprintf(s->bad, sizeof s->bad, "wrapped key of document %lld missing", (long long)want);
        return VEIL_ERR(VEIL_E_PROTOCOL, "rag store: wrapped key missing");
    }
    return VEIL_OK;
}

/* The index key alone (needed before the index says how many documents). */
static veil_result index_key(sqlite3 *db, veil_rag_store *s, const veil_hpke_key *sk,
                             rag_data_key *out)
{
    sqlite3_stmt *q = NULL;
    VEIL_ENSURE(sqlite3_prepare_v2(db, "SELECT enc, ct FROM wrapped_keys WHERE doc=-1", -1, &q,
                                   NULL) == SQLITE_OK,
                VEIL_E_PROTOCOL, "rag store: not a veil RAG store (schema)");
    veil_result r = VEIL_ERR(VEIL_E_PROTOCOL, "rag store: wrapped index key missing");
    if (sqlite3_step(q) == SQLITE_ROW)
        r = unwrap(s, sk, RAG_KIND_INDEX_KEY, UINT32_MAX, s->index_chunks,
                   sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0),
                   sqlite3_column_blob(q, 1), (size_t)sqlite3_column_bytes(q, 1), out);
    sqlite3_finalize(q);
    if (!veil_ok(r))
        snprintf(s->bad, sizeof s->bad, "wrapped index key");
    return r;
}

/* ---- index ----------------------------------------------------------------------- */

static veil_result open_chunks(sqlite3_stmt *q, veil_rag_store *s, veil_aead_ctx *ctx,
                               veil_buf *out)
{
    uint8_t *pt = veil_calloc(VEIL_RAG_INDEX_CHUNK, 1);
    VEIL_ENSURE(pt, VEIL_E_NOMEM, "rag: out of memory");
    veil_result r = VEIL_OK;
    uint32_t i = 0;
    while (veil_ok(r) && sqlite3_step(q) == SQLITE_ROW) {
        const uint8_t *ct = sqlite3_column_blob(q, 1);
        size_t n = (size_t)sqlite3_column_bytes(q, 1);
        uint8_t aad[RAG_AAD_MAX];
        size_t aad_len = make_aad(aad, RAG_KIND_INDEX, s, s->index_chunks, i);
        if (sqlite3_column_int64(q, 0) != i || i >= s->index_chunks || n < VEIL_AEAD_CTX_TAG_LEN ||
            n > VEIL_RAG_INDEX_CHUNK + VEIL_AEAD_CTX_TAG_LEN)
            r = VEIL_ERR(VEIL_E_PROTOCOL, "rag store: index record missing, extra or malformed");
        else
            r = veil_aead_ctx_open(ctx, aad, aad_len, ct, n, pt);
        if (veil_ok(r))
            r = veil_buf_append(out, pt, n - VEIL_AEAD_CTX_TAG_LEN);
        else
            snprintf(s->bad, sizeof s->bad, "index record %u", i);
        i++;
    }
    veil_free_wiped(pt, VEIL_RAG_INDEX_CHUNK);
    if (veil_ok(r) && i != s->index_chunks) {
        snprintf(s->bad, sizeof s->bad, "index record %u (missing)", i);
        r = VEIL_ERR(VEIL_E_PROTOCOL, "rag store: index record missing");
    }
    return r;
}

static veil_result load_index(sqlite3 *db, veil_rag_store *s, const rag_data_key *k)
{
    sqlite3_stmt *q = NULL;
    VEIL_ENSURE(sqlite3_prepare_v2(db, "SELECT seq, ct FROM index_chunks ORDER BY seq", -1, &q,
                                   NULL) == SQLITE_OK,
                VEIL_E_PROTOCOL, "rag store: not a veil RAG store (schema)");
    veil_aead_ctx *ctx = NULL;
    veil_buf plain;
    veil_buf_init(&plain, 0);
    veil_result r = veil_aead_ctx_new(RAG_DATA_AEAD, k->key, RAG_DK_LEN, k->base, NULL, 1, &ctx);
    if (veil_ok(r))
        r = open_chunks(q, s, ctx, &plain);
    sqlite3_finalize(q);
    veil_aead_ctx_free(ctx);
    if (veil_ok(r)) {
        r = veil_rag_index_parse(plain.data, plain.len, &s->ix);
        if (!veil_ok(r))
            snprintf(s->bad, sizeof s->bad, "index (authentic but malformed)");
    }
    veil_buf_free(&plain);
    return r;
}

/* ---- passages -------------------------------------------------------------------- */

static veil_result load_passages(sqlite3 *db, veil_rag_store *s)
{
    uint32_t np = veil_rag_index_passages(s->ix);
    s->ct_off = veil_calloc((size_t)np + 1, sizeof *s->ct_off);
    VEIL_ENSURE(s->ct_off, VEIL_E_NOMEM, "rag: out of memory");
    veil_rag_passage_info pi;
    for (uint32_t i = 0; i < np; i++) {
        VEIL_GUARD(veil_rag_index_passage(s->ix, i, &pi));
        s->ct_off[i + 1] = s->ct_off[i] + pi.len + VEIL_AEAD_CTX_TAG_LEN;
    }
    s->ct_len = s->ct_off[np];
    s->ct = veil_calloc(s->ct_len ? s->ct_len : 1, 1);
    VEIL_ENSURE(s->ct, VEIL_E_NOMEM, "rag: out of memory");
    sqlite3_stmt *q = NULL;
    VEIL_ENSURE(sqlite3_prepare_v2(db, "SELECT doc, seq, ct FROM passages ORDER BY doc, seq", -1,
                                   &q, NULL) == SQLITE_OK,
                VEIL_E_PROTOCOL, "rag store: not a veil RAG store (schema)");
    veil_result r = VEIL_OK;
    uint32_t i = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        int64_t doc = sqlite3_column_int64(q, 0), seq = sqlite3_column_int64(q, 1);
        size_t n = (size_t)sqlite3_column_bytes(q, 2);
        int have = i < np && veil_ok(veil_rag_index_passage(s->ix, i, &pi));
        if (!have || doc != pi.doc || seq != pi.seq) {
            if (have)
                snprintf(s->bad, sizeof s->bad,
                         "passage record (doc %u, seq %u) missing (found doc %lld, seq %lld)",
                         pi.doc, pi.seq, (long long)doc, (long long)seq);
            else
                snprintf(s->bad, sizeof s->bad, "passage record (doc %lld, seq %lld) unexpected",
                         (long long)doc, (long long)seq);
            r = VEIL_ERR(VEIL_E_PROTOCOL, "rag store: passage record missing or extra");
            break;
        }
        if (n != s->ct_off[i + 1] - s->ct_off[i]) {
            snprintf(s->bad, sizeof s->bad, "passage record (doc %u, seq %u) resized", pi.doc,
                     pi.seq);
            r = VEIL_ERR(VEIL_E_PROTOCOL, "rag store: passage record has the wrong length");
            break;
        }
        memcpy(s->ct + s->ct_off[i], sqlite3_column_blob(q, 2), n);
        i++;
    }
    sqlite3_finalize(q);
    VEIL_GUARD(r);
    if (i != np) {
        VEIL_GUARD(veil_rag_index_passage(s->ix, i, &pi));
        snprintf(s->bad, sizeof s->bad, "passage record (doc %u, seq %u) (missing)", pi.doc,
                 pi.seq);
        return VEIL_ERR(VEIL_E_PROTOCOL, "rag store: passage record missing");
    }
    return VEIL_OK;
}

/* ---- open ------------------------------------------------------------------------ */

static veil_result load_all(sqlite3 *db, veil_rag_store *s, const char *collection,
                            const veil_hpke_key *sk)
{
    VEIL_GUARD(read_meta(db, s));
    VEIL_ENSURE(!collection || strcmp(collection, s->collection) == 0, VEIL_E_PROTOCOL,
                "rag store: the store holds another collection");
    VEIL_ENSURE(veil_hpke_key_has_private(sk) && veil_hpke_key_kem(sk) == s->suite.kem,
                VEIL_E_USAGE, "rag store: the key is not a private key of the store's KEM");
    rag_data_key ik;
    veil_result r = index_key(db, s, sk, &ik);
    if (veil_ok(r))
        r = load_index(db, s, &ik);
    veil_wipe(&ik, sizeof ik);
    VEIL_GUARD(r);
    s->n_keys = veil_rag_index_docs(s->ix);
    s->keys = veil_calloc(s->n_keys ? s->n_keys : 1, sizeof *s->keys);
    VEIL_ENSURE(s->keys, VEIL_E_NOMEM, "rag: out of memory");
    VEIL_GUARD(load_keys(db, s, sk, s->n_keys, &ik));
    veil_wipe(&ik, sizeof ik);
    return load_passages(db, s);
}

veil_result veil_rag_store_open(const char *path, const char *collection, const veil_hpke_key *sk,
                                char bad_record[VEIL_RAG_RECORD_NAME], veil_rag_store **out)
{
    VEIL_ENSURE(path && sk && out, VEIL_E_USAGE, "rag store: bad arguments");
    *out = NULL;
    if (bad_record)
        bad_record[0] = 0;
    veil_rag_store *s = veil_calloc(1, sizeof *s);
    VEIL_ENSURE(s, VEIL_E_NOMEM, "rag: out of memory");
    sqlite3 *db = NULL;
    veil_result r = VEIL_ERR(VEIL_E_PROTOCOL, "rag store: cannot open the store file");
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK)
        r = load_all(db, s, collection, sk);
    sqlite3_close(db);
    if (!veil_ok(r)) {
        if (bad_record)
            snprintf(bad_record, VEIL_RAG_RECORD_NAME, "%s", s->bad);
        veil_rag_store_free(s);
        return r;
    }
    *out = s;
    return VEIL_OK;
}

const char *veil_rag_store_collection(const veil_rag_store *s) { return s ? s->collection : ""; }
const veil_rag_index *veil_rag_store_index(const veil_rag_store *s) { return s ? s->ix : NULL; }
const char *veil_rag_store_bad_record(const veil_rag_store *s) { return s ? s->bad : ""; }

veil_result veil_rag_store_passage(const veil_rag_store *s, uint32_t passage, veil_buf *out,
                                   char bad_record[VEIL_RAG_RECORD_NAME])
{
    if (bad_record)
        bad_record[0] = 0;
    VEIL_ENSURE(s && out, VEIL_E_USAGE, "rag store: bad arguments");
    veil_rag_passage_info pi;
    VEIL_GUARD(veil_rag_index_passage(s->ix, passage, &pi));
    const rag_data_key *k = &s->keys[pi.doc];
    uint8_t base[RAG_NONCE_LEN];
    memcpy(base, k->base, sizeof base);
    for (int i = 0; i < 8; i++) /* record seq of the document's sequence */
        base[VEIL_AEAD_CTX_NONCE_LEN - 1 - i] ^= (uint8_t)((uint64_t)pi.seq >> (8 * i));
    uint8_t aad[RAG_AAD_MAX];
    size_t aad_len = make_aad(aad, RAG_KIND_PASSAGE, s, pi.doc, pi.seq);
    veil_aead_ctx *ctx = NULL;
    veil_buf_clear(out);
    out->len = 0;
    veil_result r = veil_aead_ctx_new(RAG_DATA_AEAD, k->key, RAG_DK_LEN, base, NULL, 0, &ctx);
    if (veil_ok(r))
        r = veil_buf_zeros(out, pi.len);
    if (veil_ok(r))
        r = veil_aead_ctx_open(ctx, aad, aad_len, s->ct + s->ct_off[passage],
                               pi.len + VEIL_AEAD_CTX_TAG_LEN, out->data);
    veil_aead_ctx_free(ctx);
    if (!veil_ok(r)) {
        if (bad_record)
            snprintf(bad_record, VEIL_RAG_RECORD_NAME, "passage record (doc %u, seq %u)", pi.doc,
                     pi.seq);
        veil_buf_clear(out);
        out->len = 0;
    }
    return r;
}

veil_result veil_rag_store_verify(veil_rag_store *s)
{
    VEIL_ENSURE(s, VEIL_E_USAGE, "rag store: bad arguments");
    veil_buf pt;
    veil_buf_init(&pt, 0);
    veil_result r = VEIL_OK;
    for (uint32_t i = 0; i < veil_rag_index_passages(s->ix) && veil_ok(r); i++)
        r = veil_rag_store_passage(s, i, &pt, s->bad);
    veil_buf_free(&pt);
    return r;
}

void veil_rag_store_free(veil_rag_store *s)
{
    if (!s)
        return;
    veil_rag_index_free(s->ix);
    veil_free_wiped(s->keys, (size_t)s->n_keys * sizeof *s->keys);
    veil_free(s->ct);
    if (s->ct_off)
        veil_free(s->ct_off);
    veil_free_wiped(s, sizeof *s);
}
