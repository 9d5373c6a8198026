/* Parsing the serialised index (untrusted bytes) and BM25 search over it.
 * The format is described at the top of builder.c. */
#include <math.h>
#include <string.h>

#include "rag/rag_internal.h"
#include "veil/mem.h"

typedef struct ix_doc {
    const char *name; /* into names */
    uint32_t first, count;
    uint64_t text_len;
} ix_doc;

typedef struct ix_passage {
    uint32_t doc, seq;
    uint64_t off, len;
    uint32_t dl;
} ix_passage;

typedef struct ix_term {
    const uint8_t *s; /* into raw */
    size_t len;
    uint32_t df;
    size_t post; /* first posting */
} ix_term;

struct veil_rag_index {
    uint8_t *raw;
    size_t raw_len;
    char *names;
    size_t names_len;
    uint32_t n_docs, n_passages, n_terms;
    ix_doc *docs;
    ix_passage *passages;
    ix_term *terms;
    uint32_t *post_pid, *post_tf;
    size_t n_post;
    uint32_t *dl; /* tokens per passage, apart from `passages` for the cache's sake */
    uint64_t total_tokens;
};

#define BAD(msg) VEIL_ERR(VEIL_E_PROTOCOL, "rag index: " msg)

void veil_rag_index_free(veil_rag_index *ix)
{
    if (!ix)
        return;
    veil_free_wiped(ix->raw, ix->raw_len);
    veil_free_wiped(ix->names, ix->names_len);
    veil_free_wiped(ix->docs, (size_t)ix->n_docs * sizeof *ix->docs);
    veil_free_wiped(ix->passages, (size_t)ix->n_passages * sizeof *ix->passages);
    veil_free_wiped(ix->terms, (size_t)ix->n_terms * sizeof *ix->terms);
    veil_free_wiped(ix->post_pid, ix->n_post * sizeof *ix->post_pid);
    veil_free_wiped(ix->post_tf, ix->n_post * sizeof *ix->post_tf);
    veil_free_wiped(ix->dl, (size_t)ix->n_passages * sizeof *ix->dl);
    veil_free(ix);
}

/* A count that must fit in `max` and in the bytes left (each item takes at
 * least `min_bytes`), so a forged count cannot make us allocate much. */
static veil_result read_count(veil_cursor *c, uint64_t max, size_t min_bytes, uint32_t *out)
{
    uint64_t v;
    VEIL_ENSURE(veil_ok(veil_cursor_varint(c, &v)), VEIL_E_PROTOCOL, "rag index: truncated");
    VEIL_ENSURE(v <= max && v <= veil_cursor_remaining(c) / min_bytes, VEIL_E_PROTOCOL,
                "rag index: count out of range");
    *out = (uint32_t)v;
    return VEIL_OK;
}

static veil_result read_u64(veil_cursor *c, uint64_t *v)
{
    VEIL_ENSURE(veil_ok(veil_cursor_varint(c, v)), VEIL_E_PROTOCOL, "rag index: truncated");
    return VEIL_OK;
}

static veil_result parse_docs(veil_rag_index *ix, veil_cursor *c)
{
    VEIL_GUARD(read_count(c, 1u << 24, 4, &ix->n_docs));
    ix->docs = veil_calloc(ix->n_docs ? ix->n_docs : 1, sizeof *ix->docs);
    ix->names_len = veil_cursor_remaining(c) + ix->n_docs + 1;
    ix->names = veil_calloc(ix->names_len, 1);
    VEIL_ENSURE(ix->docs && ix->names, VEIL_E_NOMEM, "rag: out of memory");
    size_t at = 0;
    uint64_t passages = 0;
    for (uint32_t i = 0; i < ix->n_docs; i++) {
        veil_cursor name;
        VEIL_ENSURE(veil_ok(veil_cursor_sub_varint(c, &name)), VEIL_E_PROTOCOL,
                    "rag index: truncated document name");
        size_t nl = veil_cursor_remaining(&name);
        VEIL_ENSURE(nl > 0 && nl <= VEIL_RAG_NAME_MAX, VEIL_E_PROTOCOL,
                    "rag index: document name empty or too long");
        VEIL_ENSURE(memchr(name.ptr + name.off, 0, nl) == NULL, VEIL_E_PROTOCOL,
                    "rag index: NUL in a document name");
        memcpy(ix->names + at, name.ptr + name.off, nl);
        ix->docs[i].name = ix->names + at;
        at += nl + 1;
        uint64_t cnt;
        VEIL_GUARD(read_u64(c, &cnt));
        VEIL_GUARD(read_u64(c, &ix->docs[i].text_len));
        VEIL_ENSURE(cnt <= (1u << 28) && passages + cnt <= (1u << 28), VEIL_E_PROTOCOL,
                    "rag index: too many passages");
        ix->docs[i].first = (uint32_t)passages;
        ix->docs[i].count = (uint32_t)cnt;
        passages += cnt;
    }
    VEIL_GUARD(read_count(c, 1u << 28, 3, &ix->n_passages));
    VEIL_ENSURE(ix->n_passages == passages, VEIL_E_PROTOCOL,
                "rag index: passage count does not match the documents");
    return VEIL_OK;
}

static veil_result parse_passages(veil_rag_index *ix, veil_cursor *c)
{
    ix->passages = veil_calloc(ix->n_passages ? ix->n_passages : 1, sizeof *ix->passages);
    ix->dl = veil_calloc(ix->n_passages ? ix->n_passages : 1, sizeof *ix->dl);
    VEIL_ENSURE(ix->passages && ix->dl, VEIL_E_NOMEM, "rag: out of memory");
    uint32_t d = 0;
    for (uint32_t i = 0; i < ix->n_passages; i++) {
        while (i >= ix->docs[d].first + ix->docs[d].count)
            d++; /* bounded: the counts add up to n_passages */
        ix_passage *p = &ix->passages[i];
        uint64_t dl;
        VEIL_GUARD(read_u64(c, &p->off));
        VEIL_GUARD(read_u64(c, &p->len));
        VEIL_GUARD(read_u64(c, &dl));
        VEIL_ENSURE(p->len > 0 && p->len <= VEIL_RAG_PASSAGE_LIMIT &&
                        p->off <= ix->docs[d].text_len && p->len <= ix->docs[d].text_len - p->off,
                    VEIL_E_PROTOCOL, "rag index: passage outside its document");
        VEIL_ENSURE(dl <= p->len, VEIL_E_PROTOCOL, "rag index: passage token count too large");
        p->doc = d;
        p->seq = i - ix->docs[d].first;
        p->dl = (uint32_t)dl;
        ix->dl[i] = (uint32_t)dl;
        ix->total_tokens += dl;
    }
    return VEIL_OK;
}

static bool term_less(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i];
    return al < bl;
}

/* One pass over the terms: with fill = 0 it checks the structure and counts
 * postings; with fill = 1 it stores them and sums each passage's term
 * frequencies (checked against its length by the caller, which also bounds
 * every single frequency). */
static veil_result parse_terms(veil_rag_index *ix, veil_cursor c, int fill, uint64_t *tf_sum)
{
    size_t post = 0;
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    for (uint32_t i = 0; i < ix->n_terms; i++) {
        veil_cursor s;
        VEIL_ENSURE(veil_ok(veil_cursor_sub_varint(&c, &s)), VEIL_E_PROTOCOL,
                    "rag index: truncated term");
        size_t tl = veil_cursor_remaining(&s);
        const uint8_t *tp = s.ptr + s.off;
        VEIL_ENSURE(tl > 0 && tl <= VEIL_RAG_PASSAGE_LIMIT, VEIL_E_PROTOCOL,
                    "rag index: term empty or too long");
        VEIL_ENSURE(!prev || term_less(prev, prev_len, tp, tl), VEIL_E_PROTOCOL,
                    "rag index: terms not in strictly increasing order");
        prev = tp;
        prev_len = tl;
        uint32_t df;
        VEIL_GUARD(read_count(&c, ix->n_passages, 2, &df));
        VEIL_ENSURE(df > 0, VEIL_E_PROTOCOL, "rag index: term without postings");
        if (fill)
            ix->terms[i] = (ix_term){tp, tl, df, post};
        uint64_t pid = 0;
        for (uint32_t k = 0; k < df; k++, post++) {
            uint64_t delta, tf;
            VEIL_GUARD(read_u64(&c, &delta));
            VEIL_GUARD(read_u64(&c, &tf));
            VEIL_ENSURE(k == 0 || delta > 0, VEIL_E_PROTOCOL, "rag index: postings out of order");
            pid += delta;
            VEIL_ENSURE(pid < ix->n_passages && tf > 0 && tf <= VEIL_RAG_PASSAGE_LIMIT,
                        VEIL_E_PROTOCOL, "rag index: posting out of range");
            if (fill) {
                ix->post_pid[post] = (uint32_t)pid;
                ix->post_tf[post] = (uint32_t)tf;
                tf_sum[pid] += tf;
            }
        }
    }
    VEIL_GUARD(veil_cursor_expect_end(&c, "rag index: trailing bytes"));
    ix->n_post = post;
    return VEIL_OK;
}

static veil_result parse_all(veil_rag_index *ix)
{
    veil_cursor c = veil_cursor_init(ix->raw, ix->raw_len);
    const uint8_t *magic;
    VEIL_ENSURE(
        veil_ok(veil_cursor_view(&c, RAG_INDEX_MAGIC_LEN, &magic)) &&
            veil_public_equal(magic, RAG_INDEX_MAGIC_LEN, RAG_INDEX_MAGIC, RAG_INDEX_MAGIC_LEN),
        VEIL_E_PROTOCOL, "rag index: not a veil index (bad magic)");
    VEIL_GUARD(parse_docs(ix, &c));
    VEIL_GUARD(parse_passages(ix, &c));
    VEIL_GUARD(read_count(&c, UINT32_MAX - 1, 3, &ix->n_terms));
    VEIL_GUARD(parse_terms(ix, c, 0, NULL));
    size_t n_post = ix->n_post;
    ix->n_post = 0; /* until the arrays exist (the free path uses it) */
    ix->terms = veil_calloc(ix->n_terms ? ix->n_terms : 1, sizeof *ix->terms);
    ix->post_pid = veil_calloc(n_post ? n_post : 1, sizeof *ix->post_pid);
    ix->post_tf = veil_calloc(n_post ? n_post : 1, sizeof *ix->post_tf);
    uint64_t *sum = veil_calloc(ix->n_passages ? ix->n_passages : 1, sizeof *sum);
    veil_result r = VEIL_ERR(VEIL_E_NOMEM, "rag: out of memory");
    if (ix->terms && ix->post_pid && ix->post_tf && sum) {
        ix->n_post = n_post;
        r = parse_terms(ix, c, 1, sum);
    }
    for (uint32_t i = 0; veil_ok(r) && i < ix->n_passages; i++)
        if (sum[i] != ix->dl[i])
            r = BAD("postings do not add up to a passage's length");
    veil_free(sum);
    return r;
}

veil_result veil_rag_index_parse(const uint8_t *p, size_t n, veil_rag_index **out)
{
    VEIL_ENSURE(out && (p || n == 0), VEIL_E_USAGE, "rag index: bad arguments");
    *out = NULL;
    veil_rag_index *ix = veil_calloc(1, sizeof *ix);
    VEIL_ENSURE(ix, VEIL_E_NOMEM, "rag: out of memory");
    ix->raw = veil_calloc(n ? n : 1, 1);
    if (!ix->raw) {
        veil_free(ix);
        return VEIL_ERR(VEIL_E_NOMEM, "rag: out of memory");
    }
    ix->raw_len = n;
    if (n)
        memcpy(ix->raw, p, n);
    veil_result r = parse_all(ix);
    if (!veil_ok(r)) {
        veil_rag_index_free(ix);
        return r;
    }
    *out = ix;
    return VEIL_OK;
}

uint32_t veil_rag_index_docs(const veil_rag_index *ix) { return ix ? ix->n_docs : 0; }
uint32_t veil_rag_index_passages(const veil_rag_index *ix) { return ix ? ix->n_passages : 0; }
uint32_t veil_rag_index_doc_passages(const veil_rag_index *ix, uint32_t doc)
{
    return ix && doc < ix->n_docs ? ix->docs[doc].count : 0;
}

veil_result veil_rag_index_passage(const veil_rag_index *ix, uint32_t i, veil_rag_passage_info *out)
{
    VEIL_ENSURE(ix && out && i < ix->n_passages, VEIL_E_USAGE, "rag index: no such passage");
    const ix_passage *p = &ix->passages[i];
    *out = (veil_rag_passage_info){p->doc,         p->seq, (size_t)p->off,
                                   (size_t)p->len, p->dl,  ix->docs[p->doc].name};
    return VEIL_OK;
}

/* ---- search ------------------------------------------------------------------- */

static const ix_term *find_term(const veil_rag_index *ix, const char *t, size_t len)
{
    size_t lo = 0, hi = ix->n_terms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ix_term *m = &ix->terms[mid];
        if (term_less(m->s, m->len, (const uint8_t *)t, len))
            lo = mid + 1;
        else if (term_less((const uint8_t *)t, len, m->s, m->len))
            hi = mid;
        else
            return m;
    }
    return NULL;
}

typedef struct query_terms {
    const veil_rag_index *ix;
    const ix_term *t[VEIL_RAG_QUERY_TERMS];
    size_t n;
} query_terms;

static veil_result on_query_token(void *arg, const char *tok, size_t len)
{
    query_terms *q = arg;
    if (q->n == VEIL_RAG_QUERY_TERMS)
        return VEIL_OK;                        /* the rest of a very long query is ignored */
    q->t[q->n++] = find_term(q->ix, tok, len); /* NULL: matches nothing, adds 0 */
    return VEIL_OK;
}

static bool better(veil_rag_hit a, veil_rag_hit b)
{
    return a.score > b.score || (a.score == b.score && a.passage < b.passage);
}

/* Keep hits[0..*n) sorted best first, at most k of them. */
static void offer(veil_rag_hit *hits, size_t k, size_t *n, veil_rag_hit h)
{
    if (*n == k && !better(h, hits[k - 1]))
        return;
    size_t i = *n < k ? (*n)++ : k - 1;
    while (i > 0 && better(h, hits[i - 1])) {
        hits[i] = hits[i - 1];
        i--;
    }
    hits[i] = h;
}

/* Exactly fts5_aux.c's expression, so the doubles come out the same. */
static double bm25_term(double idf, double f, double D, double avgdl)
{
    const double k1 = VEIL_RAG_BM25_K1, b = VEIL_RAG_BM25_B;
    return idf * ((f * (k1 + 1.0)) / (f + k1 * (1 - b + b * D / avgdl)));
}

veil_result veil_rag_index_search(const veil_rag_index *ix, const char *query, size_t query_len,
                                  size_t top_k, veil_rag_hit *hits, size_t *n_hits)
{
    VEIL_ENSURE(ix && (query || query_len == 0) && hits && n_hits, VEIL_E_USAGE,
                "rag search: bad arguments");
    VEIL_ENSURE(query_len <= VEIL_RAG_QUERY_MAX, VEIL_E_USAGE, "rag search: query too long");
    *n_hits = 0;
    if (top_k > VEIL_RAG_TOP_K_MAX)
        top_k = VEIL_RAG_TOP_K_MAX;
    query_terms q = {.ix = ix};
    VEIL_GUARD(veil_rag_tokenize((const uint8_t *)query, query_len, on_query_token, &q));
    if (top_k == 0 || ix->n_passages == 0)
        return VEIL_OK;
    double *score = veil_calloc(ix->n_passages, sizeof *score);
    uint32_t *touched = veil_calloc(ix->n_passages, sizeof *touched);
    uint8_t *seen = veil_calloc(ix->n_passages, 1);
    veil_result r = VEIL_ERR(VEIL_E_NOMEM, "rag: out of memory");
    if (score && touched && seen) {
        double N = (double)ix->n_passages;
        double avgdl = (double)ix->total_tokens / N;
        size_t nt = 0;
        for (size_t i = 0; i < q.n; i++) {
            const ix_term *t = q.t[i];
            if (!t)
                continue;
            double idf = log((N - t->df + 0.5) / (t->df + 0.5));
            if (idf <= 0.0)
                idf = 1e-6;
            for (size_t k = t->post; k < t->post + t->df; k++) {
                uint32_t pid = ix->post_pid[k];
                if (!seen[pid]) {
                    seen[pid] = 1;
                    touched[nt++] = pid;
                }
                score[pid] += bm25_term(idf, (double)ix->post_tf[k], (double)ix->dl[pid], avgdl);
            }
        }
        for (size_t i = 0; i < nt; i++)
            offer(hits, top_k, n_hits, (veil_rag_hit){touched[i], score[touched[i]]});
        r = VEIL_OK;
    }
    veil_free(score);
    veil_free(touched);
    veil_free(seen);
    return r;
}
