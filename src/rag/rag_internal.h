/* Internal helpers shared by the RAG module's files. */
#ifndef VEIL_RAG_INTERNAL_H
#define VEIL_RAG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "veil/rag.h"

/* A growable array of fixed-size elements (veil_calloc based; no realloc). */
typedef struct rag_vec {
    uint8_t *p;
    size_t n;    /* elements */
    size_t cap;  /* elements */
    size_t size; /* bytes per element */
} rag_vec;

void rag_vec_init(rag_vec *v, size_t size);
/* Room for one more element; returns a pointer to it (zeroed) and counts it. */
VEIL_MUST_USE veil_result rag_vec_push(rag_vec *v, void **slot);
void rag_vec_free(rag_vec *v);
#define RAG_AT(v, type, i) (((type *)(v)->p)[i])

#define RAG_INDEX_MAGIC "VRAGIX01"
#define RAG_INDEX_MAGIC_LEN 8

/* Store constants shared by store.c (writer) and load.c (reader). */
#define RAG_DATA_AEAD VEIL_HPKE_AEAD_AES256GCM
#define RAG_DK_LEN 32
#define RAG_NONCE_LEN 12
#define RAG_WRAPPED_PT (RAG_DK_LEN + RAG_NONCE_LEN)
#define RAG_SNAPSHOT_LEN 16
#define RAG_AAD_MAX (12 + 1 + 1 + VEIL_RAG_COLLECTION_MAX + RAG_SNAPSHOT_LEN + 4 + 8)
#define RAG_WRAP_INFO "veil-rag-v1 data key"
enum { RAG_KIND_PASSAGE = 1, RAG_KIND_INDEX = 2, RAG_KIND_DOC_KEY = 3, RAG_KIND_INDEX_KEY = 4 };

/* A data key and the base nonce of its counter-nonce sequence. */
typedef struct rag_data_key {
    uint8_t key[RAG_DK_LEN];
    uint8_t base[RAG_NONCE_LEN];
} rag_data_key;

/* The additional data of a record (see store.c); returns its length. */
size_t rag_make_aad(uint8_t out[RAG_AAD_MAX], int kind, const char *collection,
                    const uint8_t snapshot[RAG_SNAPSHOT_LEN], uint32_t doc, uint64_t seq);

#endif
