/* The encrypted RAG store: a SQLite file holding only ciphertext
 * (include/veil/rag.h, docs/rag.md "Store format").
 *
 *   PRAGMA user_version = 1
 *   meta(k TEXT PRIMARY KEY, v NOT NULL): collection, snapshot (16 random
 *        bytes), kem, kdf, aead, key_id, index_chunks
 *   wrapped_keys(doc INTEGER PRIMARY KEY, enc BLOB, ct BLOB): HPKE-sealed
 *        data key || base nonce per document; doc = -1 for the index key
 *   passages(doc, seq, ct BLOB, PRIMARY KEY(doc, seq)): passage records
 *   index_chunks(seq INTEGER PRIMARY KEY, ct BLOB): index records
 *
 * Additional data of every record (passages, index chunks, wrapped keys):
 *   "veil-rag-v1" 0x00 || u8 kind || u8 len || collection || snapshot[16]
 *   || u32 doc || u64 seq
 * so a record moved to another place, another store or another collection
 * fails authentication. Index chunks carry the chunk count in `doc`, so a
 * truncated index fails too. Passage i of a document is record i of the
 * document's counter-nonce sequence (nonce = base XOR i); a single passage is
 * opened by starting an opener at base XOR i, which yields that same nonce. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rag/rag_internal.h"
#include "veil/aead_ctx.h"
#include "veil/mem.h"
#include "veil/rand.h"

#define INDEX_DOC -1 /* wrapped_keys.doc of the index key */

size_t rag_make_aad(uint8_t out[RAG_AAD_MAX], int kind, const char *coll,
                    const uint8_t snap[RAG_SNAPSHOT_LEN], uint32_t doc, uint64_t seq)
{
    size_t n = 0, cl = strlen(coll);
    memcpy(out, "veil-rag-v1", 12); /* with its NUL */
    n = 12;
    out[n++] = (uint8_t)kind;
    out[n++] = (uint8_t)cl;
    memcpy(out + n, coll, cl);
    n += cl;
    memcpy(out + n, snap, RAG_SNAPSHOT_LEN);
    n += RAG_SNAPSHOT_LEN;
    for (int i = 3; i >= 0; i--)
        out[n++] = (uint8_t)(doc >> (8 * i));
    for (int i = 7; i >= 0; i--)
        out[n++] = (uint8_t)(seq >> (8 * i));
    return n;
}

static veil_result check_collection(const char *c)
{
    size_t n = c ? strlen(c) : 0;
    VEIL_ENSURE(n > 0 && n <= VEIL_RAG_COLLECTION_MAX, VEIL_E_USAGE,
                "rag store: collection name empty or longer than 64 bytes");
    for (size_t i = 0; i < n; i++) {
        char ch = c[i];
        VEIL_ENSURE((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                        (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.',
                    VEIL_E_USAGE,
                    "rag store: collection name has characters outside [A-Za-z0-9._-]");
    }
    return VEIL_OK;
}

static veil_result exec_sql(sqlite3 *db, const char *q, const char *what)
{
    VEIL_ENSURE(sqlite3_exec(db, q, NULL, NULL, NULL) == SQLITE_OK, VEIL_E_INTERNAL, what);
    return VEIL_OK;
}

/* ---- writer -------------------------------------------------------------------- */

struct veil_rag_writer {
    sqlite3 *db;
    sqlite3_stmt *ins_passage, *ins_key, *ins_chunk, *ins_meta;
    char path[1024], partial[1040];
    char collection[VEIL_RAG_COLLECTION_MAX + 1];
    uint8_t snapshot[RAG_SNAPSHOT_LEN];
    veil_rag_recipient to;
    veil_rag_builder *b;
    uint32_t n_docs;
    int finished;
    int failed; /* a failed add leaves the builder ahead of the records */
};

static const char SCHEMA[] =
    "PRAGMA journal_mode=DELETE; PRAGMA user_version=1;"
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v NOT NULL);"
    "CREATE TABLE wrapped_keys(doc INTEGER PRIMARY KEY, enc BLOB NOT NULL, ct BLOB NOT NULL);"
    "CREATE TABLE passages(doc INTEGER NOT NULL, seq INTEGER NOT NULL, ct BLOB NOT NULL,"
    " PRIMARY KEY(doc, seq)) WITHOUT ROWID;"
    "CREATE TABLE index_chunks(seq INTEGER PRIMARY KEY, ct BLOB NOT NULL);"
    "BEGIN;";

static veil_result prepare(sqlite3 *db, const char *q, sqlite3_stmt **st)
{
    VEIL_ENSURE(sqlite3_prepare_v2(db, q, -1, st, NULL) == SQLITE_OK, VEIL_E_INTERNAL,
                "rag store: cannot prepare a statement");
    return VEIL_OK;
}

static veil_result writer_setup(veil_rag_writer *w)
{
    VEIL_ENSURE(access(w->path, F_OK) != 0, VEIL_E_USAGE, "rag store: the store file exists");
    unlink(w->partial);
    VEIL_ENSURE(sqlite3_open_v2(w->partial, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                NULL) == SQLITE_OK,
                VEIL_E_INTERNAL, "rag store: cannot create the store file");
    VEIL_GUARD(exec_sql(w->db, SCHEMA, "rag store: cannot create the schema"));
    VEIL_GUARD(prepare(w->db, "INSERT INTO passages(doc,seq,ct) VALUES(?,?,?)", &w->ins_passage));
    VEIL_GUARD(prepare(w->db, "INSERT INTO wrapped_keys(doc,enc,ct) VALUES(?,?,?)", &w->ins_key));
    VEIL_GUARD(prepare(w->db, "INSERT INTO index_chunks(seq,ct) VALUES(?,?)", &w->ins_chunk));
    VEIL_GUARD(prepare(w->db, "INSERT INTO meta(k,v) VALUES(?,?)", &w->ins_meta));
    VEIL_GUARD(veil_random_bytes(w->snapshot, RAG_SNAPSHOT_LEN));
    return VEIL_OK;
}

veil_result veil_rag_writer_open(const char *path, const char *collection,
                                 const veil_rag_recipient *to, size_t max_passage,
                                 veil_rag_writer **out)
{
    VEIL_ENSURE(path && to && to->pk && out, VEIL_E_USAGE, "rag store: bad arguments");
    VEIL_GUARD(check_collection(collection));
    VEIL_GUARD(veil_hpke_suite_check(&to->suite));
    VEIL_ENSURE(to->suite.kem == veil_hpke_key_kem(to->pk) &&
                    to->suite.aead != VEIL_HPKE_AEAD_EXPORT_ONLY,
                VEIL_E_USAGE, "rag store: suite does not fit the collection key");
    VEIL_ENSURE(strlen(path) < 1024, VEIL_E_USAGE, "rag store: path too long");
    veil_rag_writer *w = veil_calloc(1, sizeof *w);
    VEIL_ENSURE(w, VEIL_E_NOMEM, "rag: out of memory");
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->partial, sizeof w->partial, "%s.partial", path);
    snprintf(w->collection, sizeof w->collection, "%s", collection);
    w->to = *to;
    veil_result r = veil_rag_builder_new(max_passage, &w->b);
    if (veil_ok(r))
        r = writer_setup(w);
    if (!veil_ok(r)) {
        veil_rag_writer_free(w);
        return r;
    }
    *out = w;
    return VEIL_OK;
}

static veil_result step_insert(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    VEIL_ENSURE(rc == SQLITE_DONE, VEIL_E_INTERNAL, "rag store: cannot write a record");
    return VEIL_OK;
}

/* HPKE-seal dk to the collection key and store it for `doc`. */
static veil_result wrap_key(veil_rag_writer *w, int kind, int64_t doc, uint64_t seq,
                            const rag_data_key *dk)
{
    uint8_t aad[RAG_AAD_MAX], enc[VEIL_HPKE_MAX_ENC], ct[RAG_WRAPPED_PT + VEIL_HPKE_TAG_LEN];
    size_t aad_len = rag_make_aad(aad, kind, w->collection, w->snapshot, (uint32_t)doc, seq);
    size_t enc_len, ct_len;
    veil_hpke_params hp = {.suite = w->to.suite,
                           .mode = VEIL_HPKE_MODE_BASE,
                           .info = (const uint8_t *)RAG_WRAP_INFO,
                           .info_len = sizeof RAG_WRAP_INFO - 1};
    VEIL_GUARD(veil_hpke_seal_once(&hp, w->to.pk, aad, aad_len, (const uint8_t *)dk, RAG_WRAPPED_PT,
                                   enc, sizeof enc, &enc_len, ct, sizeof ct, &ct_len));
    sqlite3_bind_int64(w->ins_key, 1, doc);
    sqlite3_bind_blob(w->ins_key, 2, enc, (int)enc_len, SQLITE_TRANSIENT);
    sqlite3_bind_blob(w->ins_key, 3, ct, (int)ct_len, SQLITE_TRANSIENT);
    return step_insert(w->ins_key);
}

static veil_result new_data_key(rag_data_key *dk)
{
    VEIL_GUARD(veil_random_bytes(dk->key, RAG_DK_LEN));
    return veil_random_bytes(dk->base, sizeof dk->base);
}

static veil_result seal_passages(veil_rag_writer *w, const rag_data_key *dk, const uint8_t *text,
                                 uint32_t first, uint32_t count)
{
    veil_aead_ctx *ctx = NULL;
    VEIL_GUARD(veil_aead_ctx_new(RAG_DATA_AEAD, dk->key, RAG_DK_LEN, dk->base, NULL, 0, &ctx));
    uint8_t *ct = veil_calloc(VEIL_RAG_PASSAGE_LIMIT + VEIL_AEAD_CTX_TAG_LEN, 1);
    veil_result r = ct ? VEIL_OK : VEIL_ERR(VEIL_E_NOMEM, "rag: out of memory");
    for (uint32_t i = 0; i < count && veil_ok(r); i++) {
        veil_rag_span sp = veil_rag_builder_span(w->b, first + i);
        uint8_t aad[RAG_AAD_MAX];
        size_t aad_len =
            rag_make_aad(aad, RAG_KIND_PASSAGE, w->collection, w->snapshot, w->n_docs, i);
        r = veil_aead_ctx_seal(ctx, aad, aad_len, text + sp.off, sp.len, ct);
        if (!veil_ok(r))
            break;
        sqlite3_bind_int64(w->ins_passage, 1, w->n_docs);
        sqlite3_bind_int64(w->ins_passage, 2, i);
        sqlite3_bind_blob(w->ins_passage, 3, ct, (int)(sp.len + VEIL_AEAD_CTX_TAG_LEN),
                          SQLITE_TRANSIENT);
        r = step_insert(w->ins_passage);
    }
    veil_free_wiped(ct, ct ? VEIL_RAG_PASSAGE_LIMIT + VEIL_AEAD_CTX_TAG_LEN : 0);
    veil_aead_ctx_free(ctx);
    return r;
}

veil_result veil_rag_writer_add(veil_rag_writer *w, const char *name, const uint8_t *text,
                                size_t len, uint32_t *n_passages)
{
    VEIL_ENSURE(w && !w->finished && !w->failed, VEIL_E_USAGE,
                "rag store: writer finished or failed");
    uint32_t first, count;
    rag_data_key dk;
    veil_result r = veil_rag_builder_add(w->b, name, text, len, &first, &count);
    if (veil_ok(r))
        r = new_data_key(&dk);
    if (veil_ok(r))
        r = seal_passages(w, &dk, text, first, count);
    if (veil_ok(r))
        r = wrap_key(w, RAG_KIND_DOC_KEY, w->n_docs, 0, &dk);
    veil_wipe(&dk, sizeof dk);
    w->failed = !veil_ok(r);
    if (veil_ok(r)) {
        w->n_docs++;
        if (n_passages)
            *n_passages = count;
    }
    return r;
}

static veil_result put_meta(veil_rag_writer *w, const char *k, const void *v, size_t n, int blob)
{
    sqlite3_bind_text(w->ins_meta, 1, k, -1, SQLITE_STATIC);
    if (blob)
        sqlite3_bind_blob(w->ins_meta, 2, v, (int)n, SQLITE_TRANSIENT);
    else
        sqlite3_bind_int64(w->ins_meta, 2, (int64_t)n);
    return step_insert(w->ins_meta);
}

static veil_result write_index(veil_rag_writer *w, const uint8_t *p, size_t n, uint32_t *chunks)
{
    *chunks = (uint32_t)((n + VEIL_RAG_INDEX_CHUNK - 1) / VEIL_RAG_INDEX_CHUNK);
    rag_data_key dk;
    veil_aead_ctx *ctx = NULL;
    uint8_t *ct = veil_calloc(VEIL_RAG_INDEX_CHUNK + VEIL_AEAD_CTX_TAG_LEN, 1);
    veil_result r = ct ? new_data_key(&dk) : VEIL_ERR(VEIL_E_NOMEM, "rag: out of memory");
    if (veil_ok(r))
        r = veil_aead_ctx_new(RAG_DATA_AEAD, dk.key, RAG_DK_LEN, dk.base, NULL, 1, &ctx);
    for (uint32_t i = 0; i < *chunks && veil_ok(r); i++) {
        size_t off = (size_t)i * VEIL_RAG_INDEX_CHUNK;
        size_t len = n - off < VEIL_RAG_INDEX_CHUNK ? n - off : VEIL_RAG_INDEX_CHUNK;
        uint8_t aad[RAG_AAD_MAX];
        size_t aad_len = rag_make_aad(aad, RAG_KIND_INDEX, w->collection, w->snapshot, *chunks, i);
        r = veil_aead_ctx_seal(ctx, aad, aad_len, p + off, len, ct);
        if (!veil_ok(r))
            break;
        sqlite3_bind_int64(w->ins_chunk, 1, i);
        sqlite3_bind_blob(w->ins_chunk, 2, ct, (int)(len + VEIL_AEAD_CTX_TAG_LEN),
                          SQLITE_TRANSIENT);
        r = step_insert(w->ins_chunk);
    }
    if (veil_ok(r))
        r = wrap_key(w, RAG_KIND_INDEX_KEY, INDEX_DOC, *chunks, &dk);
    veil_wipe(&dk, sizeof dk);
    veil_aead_ctx_free(ctx);
    veil_free_wiped(ct, ct ? VEIL_RAG_INDEX_CHUNK + VEIL_AEAD_CTX_TAG_LEN : 0);
    return r;
}

static veil_result write_meta(veil_rag_writer *w, uint32_t chunks)
{
    VEIL_GUARD(put_meta(w, "collection", w->collection, strlen(w->collection), 1));
    VEIL_GUARD(put_meta(w, "snapshot", w->snapshot, RAG_SNAPSHOT_LEN, 1));
    VEIL_GUARD(put_meta(w, "kem", NULL, w->to.suite.kem, 0));
    VEIL_GUARD(put_meta(w, "kdf", NULL, w->to.suite.kdf, 0));
    VEIL_GUARD(put_meta(w, "aead", NULL, w->to.suite.aead, 0));
    VEIL_GUARD(put_meta(w, "key_id", NULL, w->to.key_id, 0));
    return put_meta(w, "index_chunks", NULL, chunks, 0);
}

static void writer_close_db(veil_rag_writer *w)
{
    sqlite3_finalize(w->ins_passage);
    sqlite3_finalize(w->ins_key);
    sqlite3_finalize(w->ins_chunk);
    sqlite3_finalize(w->ins_meta);
    w->ins_passage = w->ins_key = w->ins_chunk = w->ins_meta = NULL;
    sqlite3_close(w->db);
    w->db = NULL;
}

veil_result veil_rag_writer_finish(veil_rag_writer *w)
{
    VEIL_ENSURE(w && !w->finished && !w->failed, VEIL_E_USAGE,
                "rag store: writer finished or failed");
    veil_buf ix;
    veil_buf_init(&ix, 0);
    uint32_t chunks = 0;
    veil_result r = veil_rag_builder_serialize(w->b, &ix);
    if (veil_ok(r))
        r = write_index(w, ix.data, ix.len, &chunks);
    veil_buf_free(&ix);
    if (veil_ok(r))
        r = write_meta(w, chunks);
    if (veil_ok(r))
        r = exec_sql(w->db, "COMMIT;", "rag store: cannot commit the store");
    if (!veil_ok(r))
        return r;
    writer_close_db(w);
    /* link() refuses to replace a store that appeared meanwhile */
    VEIL_ENSURE(link(w->partial, w->path) == 0, VEIL_E_INTERNAL,
                "rag store: cannot move the finished store into place");
    unlink(w->partial);
    w->finished = 1;
    return VEIL_OK;
}

void veil_rag_writer_free(veil_rag_writer *w)
{
    if (!w)
        return;
    writer_close_db(w);
    if (!w->finished && w->partial[0])
        unlink(w->partial);
    veil_rag_builder_free(w->b);
    veil_free_wiped(w, sizeof *w);
}
