/* The RAG store reader on untrusted bytes. The first byte picks the layer:
 *   even: the input is decrypted index bytes, parsed (every count, offset
 *         and posting checked) and, when they parse, searched and walked;
 *   odd:  the rest is a whole store file (SQLite), written to a temporary
 *         file and opened with the fixture collection key below, so schema, meta, record framing
 *         and authentication are all exercised; a store that opens is then
 *         searched and audited.
 * Seeds (tests/fuzz/corpus/rag_store/): index-* are 0x00 + index bytes in the
 * format of src/rag/builder.c; store-* are 0x01 + stores written by
 * `veil rag ingest --public-key K` where K is a keygen-style .key file holding
 * FIXTURE_SK and its X25519 public key, so the fuzzer starts past the AEAD. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/rag.h"

/* X25519 private key of the fixture collection (test only). */
#define FIXTURE_SK "b8a2c1f07e2f5b3f0c7d5b8f6a1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"

static veil_hpke_key *fixture_key(void)
{
    static veil_hpke_key *k;
    if (!k) {
        veil_buf b;
        veil_buf_init(&b, 0);
        if (!veil_ok(veil_hex_decode(FIXTURE_SK, strlen(FIXTURE_SK), &b)) ||
            !veil_ok(veil_hpke_key_from_private(VEIL_HPKE_KEM_X25519, b.data, b.len, &k)))
            abort();
        veil_buf_free(&b);
    }
    return k;
}

static void walk_index(const veil_rag_index *ix)
{
    for (uint32_t i = 0; i < veil_rag_index_passages(ix); i++) {
        veil_rag_passage_info pi;
        if (!veil_ok(veil_rag_index_passage(ix, i, &pi)) || pi.doc >= veil_rag_index_docs(ix) ||
            pi.doc_name == NULL)
            abort();
    }
    static const char *queries[] = {"the", "a b c", "license software", "zzz"};
    for (size_t q = 0; q < 4; q++) {
        veil_rag_hit hits[5];
        size_t n;
        if (!veil_ok(veil_rag_index_search(ix, queries[q], strlen(queries[q]), 5, hits, &n)))
            abort();
        for (size_t i = 0; i < n; i++)
            if (hits[i].passage >= veil_rag_index_passages(ix) || !(hits[i].score > 0))
                abort();
    }
}

static void fuzz_store(const uint8_t *data, size_t size)
{
    /* the store is a file: one per process, rewritten for every input */
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/veil-fuzz-rag-%ld.db", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    veil_rag_store *s = NULL;
    char bad[VEIL_RAG_RECORD_NAME];
    if (veil_ok(veil_rag_store_open(path, NULL, fixture_key(), bad, &s))) {
        walk_index(veil_rag_store_index(s));
        veil_result r = veil_rag_store_verify(s);
        (void)r;
        veil_rag_store_free(s);
    }
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if ((data[0] & 1) == 0) {
        veil_rag_index *ix = NULL;
        if (veil_ok(veil_rag_index_parse(data + 1, size - 1, &ix)))
            walk_index(ix);
        veil_rag_index_free(ix);
    } else {
        fuzz_store(data + 1, size - 1);
    }
    return 0;
}
