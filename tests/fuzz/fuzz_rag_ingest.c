/* The RAG ingest reader on arbitrary bytes: splitting must give bounded,
 * ordered, non-empty passages inside the text; tokens must be non-empty and
 * folded; the index built from them must serialise, parse back with the
 * same counts, and answer a search. The first byte picks the passage limit. */
#include <stdlib.h>
#include <string.h>

#include "veil/mem.h"
#include "veil/rag.h"

typedef struct split_check {
    size_t n, max, end, count;
} split_check;

static veil_result on_token(void *arg, const char *t, size_t n)
{
    (void)arg;
    if (n == 0)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((t[i] >= 'A' && t[i] <= 'Z') || t[i] == ' ' || t[i] == '\n')
            abort();
    return VEIL_OK;
}

static veil_result on_span(void *arg, veil_rag_span sp)
{
    split_check *c = arg;
    if (sp.len == 0 || sp.len > c->max || sp.off < c->end || sp.off + sp.len > c->n)
        abort();
    c->end = sp.off + sp.len;
    c->count++;
    return VEIL_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t max = 16 + (size_t)data[0] * 8;
    const uint8_t *text = data + 1;
    size_t n = size - 1;

    split_check c = {n, max, 0, 0};
    if (!veil_ok(veil_rag_split(text, n, max, on_span, &c)))
        abort();
    /* the whole input at once: only a token over the limit may fail */
    veil_result t = veil_rag_tokenize(text, n, on_token, NULL);
    if (!veil_ok(t) && (t.cls != VEIL_E_NOMEM || n <= VEIL_RAG_PASSAGE_LIMIT))
        abort();

    veil_rag_builder *b = NULL;
    if (!veil_ok(veil_rag_builder_new(max, &b)))
        abort();
    uint32_t first, count;
    if (!veil_ok(veil_rag_builder_add(b, "fuzz", text, n, &first, &count)) || count != c.count)
        abort();
    veil_buf ser;
    veil_buf_init(&ser, 0);
    veil_rag_index *ix = NULL;
    if (!veil_ok(veil_rag_builder_serialize(b, &ser)) ||
        !veil_ok(veil_rag_index_parse(ser.data, ser.len, &ix)) ||
        veil_rag_index_passages(ix) != count || veil_rag_index_docs(ix) != 1)
        abort();
    veil_rag_hit hits[8];
    size_t nh;
    size_t ql = n < 64 ? n : 64;
    if (!veil_ok(veil_rag_index_search(ix, (const char *)text, ql, 8, hits, &nh)))
        abort();
    for (size_t i = 1; i < nh; i++)
        if (hits[i].score > hits[i - 1].score)
            abort();
    veil_rag_index_free(ix);
    veil_buf_free(&ser);
    veil_rag_builder_free(b);
    return 0;
}
