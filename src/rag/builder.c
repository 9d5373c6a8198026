/* Building and serialising the inverted index (include/veil/rag.h).
 *
 * Index format (all integers QUIC varints, docs/rag.md "Index format"):
 *   "VRAGIX01"
 *   n_docs, per document: name_len, name, n_passages, text_len
 *   n_passages (the sum), per passage in document order: off, len, tokens
 *   n_terms, per term in strictly increasing byte order:
 *     term_len, term, df, then df postings: passage delta (the first is the
 *     passage number, later ones the increase, >= 1), term frequency (>= 1) */
#include <stdlib.h>
#include <string.h>

#include "rag/rag_internal.h"
#include "veil/mem.h"

void rag_vec_init(rag_vec *v, size_t size)
{
    memset(v, 0, sizeof *v);
    v->size = size;
}

veil_result rag_vec_push(rag_vec *v, void **slot)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        uint8_t *p = veil_calloc(cap, v->size);
        VEIL_ENSURE(p != NULL, VEIL_E_NOMEM, "rag: out of memory");
        if (v->n)
            memcpy(p, v->p, v->n * v->size);
        veil_free_wiped(v->p, v->cap * v->size);
        v->p = p;
        v->cap = cap;
    }
    *slot = v->p + v->n * v->size;
    v->n++;
    return VEIL_OK;
}

void rag_vec_free(rag_vec *v)
{
    veil_free_wiped(v->p, v->cap * v->size);
    rag_vec_init(v, v->size);
}

typedef struct posting {
    uint32_t passage;
    uint32_t tf;
} posting;

typedef struct term {
    char *s;
    size_t len;
    uint64_t hash;
    rag_vec postings; /* posting */
} term;

typedef struct doc {
    char *name;
    uint32_t first, count;
    size_t text_len;
} doc;

typedef struct passage {
    veil_rag_span span;
    uint32_t tokens;
} passage;

struct veil_rag_builder {
    size_t max_passage;
    rag_vec docs;     /* doc */
    rag_vec passages; /* passage */
    rag_vec terms;    /* term */
    uint32_t *slots;  /* open addressing: term number + 1, 0 empty */
    size_t n_slots;
    /* the document being added */
    const uint8_t *text;
    uint32_t cur;
};

veil_result veil_rag_builder_new(size_t max_passage, veil_rag_builder **out)
{
    VEIL_ENSURE(out && max_passage <= VEIL_RAG_PASSAGE_LIMIT, VEIL_E_USAGE,
                "rag builder: bad arguments");
    veil_rag_builder *b = veil_calloc(1, sizeof *b);
    VEIL_ENSURE(b, VEIL_E_NOMEM, "rag: out of memory");
    b->max_passage = max_passage ? max_passage : VEIL_RAG_PASSAGE_MAX;
    rag_vec_init(&b->docs, sizeof(doc));
    rag_vec_init(&b->passages, sizeof(passage));
    rag_vec_init(&b->terms, sizeof(term));
    b->n_slots = 1024;
    b->slots = veil_calloc(b->n_slots, sizeof *b->slots);
    if (!b->slots) {
        veil_free(b);
        return VEIL_ERR(VEIL_E_NOMEM, "rag: out of memory");
    }
    *out = b;
    return VEIL_OK;
}

void veil_rag_builder_free(veil_rag_builder *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->docs.n; i++) {
        doc *d = &RAG_AT(&b->docs, doc, i);
        veil_free_wiped(d->name, strlen(d->name) + 1);
    }
    for (size_t i = 0; i < b->terms.n; i++) {
        term *t = &RAG_AT(&b->terms, term, i);
        veil_free_wiped(t->s, t->len);
        rag_vec_free(&t->postings);
    }
    rag_vec_free(&b->docs);
    rag_vec_free(&b->passages);
    rag_vec_free(&b->terms);
    veil_free(b->slots);
    veil_free(b);
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

static veil_result grow_slots(veil_rag_builder *b)
{
    size_t n = b->n_slots * 2;
    uint32_t *s = veil_calloc(n, sizeof *s);
    VEIL_ENSURE(s, VEIL_E_NOMEM, "rag: out of memory");
    for (size_t i = 0; i < b->terms.n; i++) {
        size_t j = RAG_AT(&b->terms, term, i).hash & (n - 1);
        while (s[j])
            j = (j + 1) & (n - 1);
        s[j] = (uint32_t)i + 1;
    }
    veil_free(b->slots);
    b->slots = s;
    b->n_slots = n;
    return VEIL_OK;
}

/* The term's number, adding it if new. */
static veil_result intern(veil_rag_builder *b, const char *tok, size_t len, term **out)
{
    uint64_t h = fnv1a(tok, len);
    size_t j = h & (b->n_slots - 1);
    while (b->slots[j]) {
        term *t = &RAG_AT(&b->terms, term, b->slots[j] - 1);
        if (t->hash == h && veil_public_equal(t->s, t->len, tok, len)) {
            *out = t;
            return VEIL_OK;
        }
        j = (j + 1) & (b->n_slots - 1);
    }
    VEIL_ENSURE(b->terms.n < UINT32_MAX - 1, VEIL_E_NOMEM, "rag: too many terms");
    char *s = veil_calloc(len, 1);
    VEIL_ENSURE(s, VEIL_E_NOMEM, "rag: out of memory");
    memcpy(s, tok, len);
    term *t;
    veil_result r = rag_vec_push(&b->terms, (void **)&t);
    if (!veil_ok(r)) {
        veil_free_wiped(s, len);
        return r;
    }
    t->s = s;
    t->len = len;
    t->hash = h;
    rag_vec_init(&t->postings, sizeof(posting));
    b->slots[j] = (uint32_t)b->terms.n;
    if (b->terms.n * 2 > b->n_slots)
        VEIL_GUARD(grow_slots(b));
    *out = &RAG_AT(&b->terms, term, b->terms.n - 1);
    return VEIL_OK;
}

static veil_result on_token(void *arg, const char *tok, size_t len)
{
    veil_rag_builder *b = arg;
    term *t;
    VEIL_GUARD(intern(b, tok, len, &t));
    passage *p = &RAG_AT(&b->passages, passage, b->cur);
    VEIL_ENSURE(p->tokens < UINT32_MAX, VEIL_E_NOMEM, "rag: passage too long");
    p->tokens++;
    if (t->postings.n > 0) {
        posting *last = &RAG_AT(&t->postings, posting, t->postings.n - 1);
        if (last->passage == b->cur) {
            last->tf++;
            return VEIL_OK;
        }
    }
    posting *np;
    VEIL_GUARD(rag_vec_push(&t->postings, (void **)&np));
    np->passage = b->cur;
    np->tf = 1;
    return VEIL_OK;
}

static veil_result on_span(void *arg, veil_rag_span span)
{
    veil_rag_builder *b = arg;
    VEIL_ENSURE(b->passages.n < (1u << 28), VEIL_E_NOMEM, "rag: too many passages");
    passage *p;
    VEIL_GUARD(rag_vec_push(&b->passages, (void **)&p));
    p->span = span;
    b->cur = (uint32_t)(b->passages.n - 1);
    return veil_rag_tokenize(b->text + span.off, span.len, on_token, b);
}

veil_result veil_rag_builder_add(veil_rag_builder *b, const char *name, const uint8_t *text,
                                 size_t len, uint32_t *first, uint32_t *count)
{
    VEIL_ENSURE(b && name && (text || len == 0), VEIL_E_USAGE, "rag builder: bad arguments");
    size_t nl = strlen(name);
    VEIL_ENSURE(nl > 0 && nl <= VEIL_RAG_NAME_MAX, VEIL_E_USAGE,
                "rag builder: document name empty or too long");
    VEIL_ENSURE(b->docs.n < (1u << 24), VEIL_E_NOMEM, "rag: too many documents");
    char *nm = veil_calloc(nl + 1, 1);
    VEIL_ENSURE(nm, VEIL_E_NOMEM, "rag: out of memory");
    memcpy(nm, name, nl);
    doc *d;
    veil_result r = rag_vec_push(&b->docs, (void **)&d);
    if (!veil_ok(r)) {
        veil_free(nm);
        return r;
    }
    d->name = nm;
    d->first = (uint32_t)b->passages.n;
    d->text_len = len;
    b->text = text;
    r = veil_rag_split(text, len, b->max_passage, on_span, b);
    b->text = NULL;
    d = &RAG_AT(&b->docs, doc, b->docs.n - 1);
    d->count = (uint32_t)(b->passages.n - d->first);
    if (first)
        *first = d->first;
    if (count)
        *count = d->count;
    return r;
}

size_t veil_rag_builder_passages(const veil_rag_builder *b) { return b ? b->passages.n : 0; }

veil_rag_span veil_rag_builder_span(const veil_rag_builder *b, uint32_t i)
{
    if (!b || i >= b->passages.n)
        return (veil_rag_span){0, 0};
    return RAG_AT(&b->passages, passage, i).span;
}

static int term_cmp(const void *a, const void *b)
{
    const term *x = *(const term *const *)a, *y = *(const term *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    for (size_t i = 0; i < n; i++)
        if (x->s[i] != y->s[i])
            return (uint8_t)x->s[i] < (uint8_t)y->s[i] ? -1 : 1;
    return x->len < y->len ? -1 : x->len > y->len;
}

static veil_result write_terms(const veil_rag_builder *b, veil_buf *out)
{
    size_t n = b->terms.n;
    const term **sorted = veil_calloc(n ? n : 1, sizeof *sorted);
    VEIL_ENSURE(sorted, VEIL_E_NOMEM, "rag: out of memory");
    for (size_t i = 0; i < n; i++)
        sorted[i] = &RAG_AT(&b->terms, term, i);
    qsort(sorted, n, sizeof *sorted, term_cmp);
    veil_result r = veil_buf_varint(out, n);
    for (size_t i = 0; i < n && veil_ok(r); i++) {
        const term *t = sorted[i];
        r = veil_buf_varint_bytes(out, t->s, t->len);
        if (veil_ok(r))
            r = veil_buf_varint(out, t->postings.n);
        uint32_t prev = 0;
        for (size_t k = 0; k < t->postings.n && veil_ok(r); k++) {
            const posting *p = &RAG_AT(&t->postings, posting, k);
            r = veil_buf_varint(out, k == 0 ? p->passage : p->passage - prev);
            if (veil_ok(r))
                r = veil_buf_varint(out, p->tf);
            prev = p->passage;
        }
    }
    veil_free(sorted);
    return r;
}

veil_result veil_rag_builder_serialize(const veil_rag_builder *b, veil_buf *out)
{
    VEIL_ENSURE(b && out, VEIL_E_USAGE, "rag builder: bad arguments");
    VEIL_GUARD(veil_buf_append(out, RAG_INDEX_MAGIC, RAG_INDEX_MAGIC_LEN));
    VEIL_GUARD(veil_buf_varint(out, b->docs.n));
    for (size_t i = 0; i < b->docs.n; i++) {
        const doc *d = &RAG_AT(&b->docs, doc, i);
        VEIL_GUARD(veil_buf_varint_bytes(out, d->name, strlen(d->name)));
        VEIL_GUARD(veil_buf_varint(out, d->count));
        VEIL_GUARD(veil_buf_varint(out, d->text_len));
    }
    VEIL_GUARD(veil_buf_varint(out, b->passages.n));
    for (size_t i = 0; i < b->passages.n; i++) {
        const passage *p = &RAG_AT(&b->passages, passage, i);
        VEIL_GUARD(veil_buf_varint(out, p->span.off));
        VEIL_GUARD(veil_buf_varint(out, p->span.len));
        VEIL_GUARD(veil_buf_varint(out, p->tokens));
    }
    return write_terms(b, out);
}
