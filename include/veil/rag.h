/* veil — encrypted retrieval (RAG): passages, BM25 index, encrypted store.
 *
 * Text. Documents are split into passages at paragraph breaks (blank lines);
 * a paragraph longer than the passage limit is split at sentence ends, and a
 * sentence longer than the limit at the last space before it (or, with no
 * space, at a UTF-8 character boundary). Passages are byte ranges of the
 * document, trimmed of surrounding whitespace.
 *
 * Tokens are what SQLite FTS5's default unicode61 tokenizer produces on ASCII
 * text: maximal runs of ASCII letters and digits, folded to lower case; every
 * other ASCII byte separates. Non-ASCII characters are kept in tokens as they
 * are (not folded), except general punctuation (U+2000-U+206F), NBSP,
 * guillemets, section/pilcrow signs and middle dot, which separate.
 *
 * Ranking is BM25 exactly as FTS5's bm25() computes it (ext/fts5/fts5_aux.c),
 * with k1 = 1.2 and b = 0.75 and one column:
 *     idf(t)   = log((N - n(t) + 0.5) / (n(t) + 0.5)), and 1e-6 where that is <= 0
 *     score(D) = sum over query tokens t, in query order, of
 *                idf(t) * (f(t,D) * (k1 + 1)) / (f(t,D) + k1 * (1 - b + b * |D| / avgdl))
 * N passages, n(t) passages holding t, |D| tokens in D, avgdl the mean. The
 * query is a disjunction of its tokens (FTS5: "t1" OR "t2" ...); a repeated
 * query token counts once per occurrence, as FTS5 counts phrases. FTS5's
 * bm25() returns -score; veil returns score (higher is better).
 *
 * Store (docs/rag.md, "Store format"): a SQLite file holding only ciphertext.
 * Every document has a fresh 256-bit AES-GCM data key and base nonce; its
 * passage records are sealed under them with counter nonces (veil_aead_ctx,
 * record i uses base XOR i) and additional data binding collection, store
 * snapshot id, document and passage number. The index has its own data key
 * and is sealed in chunks the same way. Each data key is HPKE-sealed (base
 * mode) to the collection public key. Any failed authentication, missing or
 * extra record fails with an error, and veil_rag_store_bad_record() names the
 * record. */
#ifndef VEIL_RAG_H
#define VEIL_RAG_H

#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/hpke.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_RAG_PASSAGE_MAX 1000    /* default passage limit, bytes */
#define VEIL_RAG_PASSAGE_LIMIT 65536 /* largest limit a caller may ask for */
#define VEIL_RAG_NAME_MAX 1024       /* document name, bytes */
#define VEIL_RAG_COLLECTION_MAX 64   /* collection name, bytes */
#define VEIL_RAG_QUERY_MAX 4096      /* query, bytes */
#define VEIL_RAG_QUERY_TERMS 64      /* query tokens used */
#define VEIL_RAG_TOP_K_MAX 100       /* most hits one search returns */
#define VEIL_RAG_SCHEMA_VERSION 1    /* store schema (PRAGMA user_version) */
#define VEIL_RAG_INDEX_CHUNK 65536   /* plaintext bytes per index record */
#define VEIL_RAG_BM25_K1 1.2
#define VEIL_RAG_BM25_B 0.75

/* ---- text ------------------------------------------------------------------ */

typedef struct veil_rag_span {
    size_t off;
    size_t len;
} veil_rag_span;

/* Called once per passage, in order; a non-OK result stops the split. */
typedef veil_result (*veil_rag_span_fn)(void *arg, veil_rag_span span);
/* Split text[0..n) into passages of at most max_len bytes (0: the default). */
VEIL_MUST_USE veil_result veil_rag_split(const uint8_t *text, size_t n, size_t max_len,
                                         veil_rag_span_fn fn, void *arg);

/* Called once per token with the folded token (tok_len bytes, not
 * NUL-terminated; valid only during the call). */
typedef veil_result (*veil_rag_token_fn)(void *arg, const char *tok, size_t tok_len);
/* Tokenize p[0..n); tokens longer than VEIL_RAG_PASSAGE_LIMIT are refused. */
VEIL_MUST_USE veil_result veil_rag_tokenize(const uint8_t *p, size_t n, veil_rag_token_fn fn,
                                            void *arg);

/* ---- index ----------------------------------------------------------------- */

typedef struct veil_rag_builder veil_rag_builder;

VEIL_MUST_USE veil_result veil_rag_builder_new(size_t max_passage, veil_rag_builder **out);
/* Split and index one document; *first and *count (either may be NULL) get its
 * passages' global numbers. The spans of the passages follow through
 * veil_rag_builder_span. */
VEIL_MUST_USE veil_result veil_rag_builder_add(veil_rag_builder *b, const char *name,
                                               const uint8_t *text, size_t len, uint32_t *first,
                                               uint32_t *count);
size_t veil_rag_builder_passages(const veil_rag_builder *b);
veil_rag_span veil_rag_builder_span(const veil_rag_builder *b, uint32_t passage);
/* Serialise the index (docs/rag.md, "Index format"). */
VEIL_MUST_USE veil_result veil_rag_builder_serialize(const veil_rag_builder *b, veil_buf *out);
void veil_rag_builder_free(veil_rag_builder *b);

typedef struct veil_rag_index veil_rag_index;

/* Parse serialised index bytes (untrusted: every count, offset and posting
 * is checked, and the postings must add up to each passage's length). */
VEIL_MUST_USE veil_result veil_rag_index_parse(const uint8_t *p, size_t n, veil_rag_index **out);
void veil_rag_index_free(veil_rag_index *ix);

typedef struct veil_rag_passage_info {
    uint32_t doc; /* document number (0-based, ingest order) */
    uint32_t seq; /* passage number within the document */
    size_t off;   /* byte range in the document */
    size_t len;
    uint32_t dl;          /* tokens */
    const char *doc_name; /* NUL-terminated, owned by the index */
} veil_rag_passage_info;

uint32_t veil_rag_index_docs(const veil_rag_index *ix);
uint32_t veil_rag_index_passages(const veil_rag_index *ix);
uint32_t veil_rag_index_doc_passages(const veil_rag_index *ix, uint32_t doc);
VEIL_MUST_USE veil_result veil_rag_index_passage(const veil_rag_index *ix, uint32_t passage,
                                                 veil_rag_passage_info *out);

typedef struct veil_rag_hit {
    uint32_t passage;
    double score; /* BM25, higher is better (FTS5's bm25() is -score) */
} veil_rag_hit;

/* Top min(top_k, VEIL_RAG_TOP_K_MAX) passages for the query, best first (ties:
 * lower passage number first); *n_hits gets how many matched at all, capped. */
VEIL_MUST_USE veil_result veil_rag_index_search(const veil_rag_index *ix, const char *query,
                                                size_t query_len, size_t top_k, veil_rag_hit *hits,
                                                size_t *n_hits);

/* ---- store ----------------------------------------------------------------- */

/* The collection public key and the HPKE suite that wraps data keys. */
typedef struct veil_rag_recipient {
    const veil_hpke_key *pk;
    veil_hpke_suite suite;
    uint8_t key_id;
} veil_rag_recipient;

typedef struct veil_rag_writer veil_rag_writer;

/* Create path + ".partial"; veil_rag_writer_finish renames it to path (which
 * must not exist). */
VEIL_MUST_USE veil_result veil_rag_writer_open(const char *path, const char *collection,
                                               const veil_rag_recipient *to, size_t max_passage,
                                               veil_rag_writer **out);
VEIL_MUST_USE veil_result veil_rag_writer_add(veil_rag_writer *w, const char *name,
                                              const uint8_t *text, size_t len,
                                              uint32_t *n_passages);
VEIL_MUST_USE veil_result veil_rag_writer_finish(veil_rag_writer *w);
/* Frees; an unfinished store's partial file is removed. */
void veil_rag_writer_free(veil_rag_writer *w);

typedef struct veil_rag_store veil_rag_store;

#define VEIL_RAG_RECORD_NAME 96

/* Open a store with the collection private key: unwrap the data keys,
 * decrypt and parse the index, and read every passage record into memory
 * (so later searches touch no storage). collection may be NULL (any). On
 * failure bad_record (may be NULL) names the record at fault, if any. */
VEIL_MUST_USE veil_result veil_rag_store_open(const char *path, const char *collection,
                                              const veil_hpke_key *sk,
                                              char bad_record[VEIL_RAG_RECORD_NAME],
                                              veil_rag_store **out);
const char *veil_rag_store_collection(const veil_rag_store *s);
const veil_rag_index *veil_rag_store_index(const veil_rag_store *s);
/* Decrypt one passage into out (replaced). On failure bad_record (may be
 * NULL) names the record. After open, searches of the store's index and
 * veil_rag_store_passage may run from several threads at once. */
VEIL_MUST_USE veil_result veil_rag_store_passage(const veil_rag_store *s, uint32_t passage,
                                                 veil_buf *out,
                                                 char bad_record[VEIL_RAG_RECORD_NAME]);
/* Decrypt and check every passage (an audit; searches do not need it); a
 * failure names the record in veil_rag_store_bad_record. Not thread-safe. */
VEIL_MUST_USE veil_result veil_rag_store_verify(veil_rag_store *s);
/* The record the last failure of open or verify was about ("" if none). */
const char *veil_rag_store_bad_record(const veil_rag_store *s);
void veil_rag_store_free(veil_rag_store *s);

#ifdef __cplusplus
}
#endif
#endif
