/* Encrypted RAG (veil/rag.h): passage splitting and tokens; BM25 ranking and
 * scores against SQLite FTS5's bm25() over the corpus in tests/data/rag/
 * (hundreds of queries); the store: round trip, no plaintext in the file,
 * tampering with each kind of record detected and named, and nothing loads
 * without the collection key. */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "testutil.h"
#include "veil/app.h"
#include "veil/bhttp.h"
#include "veil/hpke.h"
#include "veil/http.h"
#include "veil/mem.h"
#include "veil/rag.h"

/* ---- corpus ------------------------------------------------------------------- */

#define MAX_DOCS 64

typedef struct corpus {
    size_t n;
    char *name[MAX_DOCS];
    uint8_t *text[MAX_DOCS];
    size_t len[MAX_DOCS];
} corpus;

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_corpus(corpus *c)
{
    const char *dir = VEIL_SOURCE_DIR "/tests/data/rag";
    memset(c, 0, sizeof *c);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".txt") != 0)
            continue;
        assert_true(c->n < MAX_DOCS);
        c->name[c->n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(c->name, c->n, sizeof c->name[0], str_cmp);
    for (size_t i = 0; i < c->n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, c->name[i]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        c->text[i] = malloc((size_t)n + 1);
        assert_int_equal(fread(c->text[i], 1, (size_t)n, f), (size_t)n);
        c->len[i] = (size_t)n;
        fclose(f);
    }
    assert_true(c->n >= 20);
}

static void free_corpus(corpus *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->name[i]);
        free(c->text[i]);
    }
}

/* ---- splitting and tokens ------------------------------------------------------ */

typedef struct spans {
    veil_rag_span s[4096];
    size_t n;
} spans;

static veil_result collect_span(void *arg, veil_rag_span sp)
{
    spans *s = arg;
    assert_true(s->n < 4096);
    s->s[s->n++] = sp;
    return VEIL_OK;
}

static void test_split(void **state)
{
    (void)state;
    static spans s;
    const char *t = "Title\n\nFirst paragraph, one line.\nSecond line.\n  \t\n\n"
                    "Second paragraph.   \n";
    s.n = 0;
    tu_ok(veil_rag_split((const uint8_t *)t, strlen(t), 0, collect_span, &s));
    assert_int_equal(s.n, 3);
    assert_int_equal(s.s[0].off, 0);
    assert_int_equal(s.s[0].len, 5);
    assert_memory_equal(t + s.s[1].off, "First paragraph, one line.\nSecond line.", s.s[1].len);
    assert_memory_equal(t + s.s[2].off, "Second paragraph.", s.s[2].len);

    /* a long paragraph splits at sentence ends within the limit */
    char long_para[2000] = "";
    for (int i = 0; i < 40; i++)
        strcat(long_para, "This sentence has some words in it. ");
    s.n = 0;
    tu_ok(veil_rag_split((const uint8_t *)long_para, strlen(long_para), 100, collect_span, &s));
    assert_true(s.n > 10);
    for (size_t i = 0; i < s.n; i++) {
        assert_true(s.s[i].len <= 100);
        assert_int_equal(long_para[s.s[i].off + s.s[i].len - 1], '.');
    }
    /* one endless word: hard cuts, still bounded and covering everything */
    memset(long_para, 'x', 1999);
    long_para[1999] = 0;
    s.n = 0;
    tu_ok(veil_rag_split((const uint8_t *)long_para, 1999, 64, collect_span, &s));
    size_t total = 0;
    for (size_t i = 0; i < s.n; i++) {
        assert_true(s.s[i].len <= 64);
        total += s.s[i].len;
    }
    assert_int_equal(total, 1999);
    assert_int_equal(veil_rag_split((const uint8_t *)"x", 1, 8, collect_span, &s).cls,
                     VEIL_E_USAGE);
}

typedef struct toks {
    char buf[512];
    size_t n;
} toks;

static veil_result collect_tok(void *arg, const char *t, size_t n)
{
    toks *k = arg;
    memcpy(k->buf + k->n, t, n);
    k->n += n;
    k->buf[k->n++] = '|';
    k->buf[k->n] = 0;
    return VEIL_OK;
}

static void test_tokenize(void **state)
{
    (void)state;
    toks k = {.n = 0};
    const char *t = "Hello, WORLD! it's GPL-3.0_or later; x86_64 \xe2\x80\x94 caf\xc3\xa9";
    tu_ok(veil_rag_tokenize((const uint8_t *)t, strlen(t), collect_tok, &k));
    assert_string_equal(k.buf, "hello|world|it|s|gpl|3|0|or|later|x86|64|caf\xc3\xa9|");
}

/* ---- BM25 against FTS5 -------------------------------------------------------- */

static veil_rag_index *build_index(const corpus *c, veil_rag_builder **bout)
{
    veil_rag_builder *b;
    tu_ok(veil_rag_builder_new(0, &b));
    for (size_t i = 0; i < c->n; i++)
        tu_ok(veil_rag_builder_add(b, c->name[i], c->text[i], c->len[i], NULL, NULL));
    veil_buf ser;
    veil_buf_init(&ser, 0);
    tu_ok(veil_rag_builder_serialize(b, &ser));
    veil_rag_index *ix;
    tu_ok(veil_rag_index_parse(ser.data, ser.len, &ix));
    veil_buf_free(&ser);
    *bout = b;
    return ix;
}

/* FTS5 table with one row per passage (rowid = passage + 1). */
static sqlite3 *fts_table(const corpus *c, const veil_rag_index *ix)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE VIRTUAL TABLE t USING fts5(body)", 0, 0, 0),
                     SQLITE_OK);
    sqlite3_stmt *ins;
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO t(rowid, body) VALUES(?, ?)", -1, &ins, NULL),
        SQLITE_OK);
    sqlite3_exec(db, "BEGIN", 0, 0, 0);
    for (uint32_t p = 0; p < veil_rag_index_passages(ix); p++) {
        veil_rag_passage_info pi;
        tu_ok(veil_rag_index_passage(ix, p, &pi));
        sqlite3_bind_int64(ins, 1, (int64_t)p + 1);
        sqlite3_bind_text(ins, 2, (const char *)c->text[pi.doc] + pi.off, (int)pi.len,
                          SQLITE_STATIC);
        assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
    }
    sqlite3_exec(db, "COMMIT", 0, 0, 0);
    sqlite3_finalize(ins);
    return db;
}

/* "t1" OR "t2" ... from the query's tokens. */
static veil_result or_tok(void *arg, const char *t, size_t n)
{
    char *q = arg;
    if (q[0])
        strcat(q, " OR ");
    strcat(q, "\"");
    strncat(q, t, n);
    strcat(q, "\"");
    return VEIL_OK;
}

static size_t compare_query(sqlite3 *db, const veil_rag_index *ix, const char *query)
{
    enum { K = 10 };
    veil_rag_hit hits[K];
    size_t n;
    tu_ok(veil_rag_index_search(ix, query, strlen(query), K, hits, &n));
    static char match[16384];
    match[0] = 0;
    tu_ok(veil_rag_tokenize((const uint8_t *)query, strlen(query), or_tok, match));
    if (!match[0]) {
        assert_int_equal(n, 0);
        return 0;
    }
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT rowid, bm25(t) FROM t WHERE t MATCH ?"
                                        " ORDER BY bm25(t), rowid LIMIT 10",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(q, 1, match, -1, SQLITE_STATIC);
    size_t i = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        assert_true(i < n);
        int64_t rowid = sqlite3_column_int64(q, 0);
        double fts = sqlite3_column_double(q, 1);
        if (rowid != (int64_t)hits[i].passage + 1 || fabs(fts + hits[i].score) > 1e-9)
            fail_msg("query \"%s\" rank %zu: fts5 rowid %lld score %.17g, veil %u score %.17g",
                     query, i, (long long)rowid, -fts, hits[i].passage + 1, hits[i].score);
        i++;
    }
    sqlite3_finalize(q);
    assert_int_equal(i, n);
    return n;
}

typedef struct vocab {
    char (*w)[32];
    size_t n, cap;
} vocab;

static veil_result vocab_tok(void *arg, const char *t, size_t n)
{
    vocab *v = arg;
    if (n >= 32 || v->n == v->cap)
        return VEIL_OK;
    for (size_t i = v->n; i-- > 0 && i + 64 > v->n;) /* skip near repeats */
        if (strlen(v->w[i]) == n && memcmp(v->w[i], t, n) == 0)
            return VEIL_OK;
    memcpy(v->w[v->n], t, n);
    v->w[v->n][n] = 0;
    v->n++;
    return VEIL_OK;
}

static void test_bm25_matches_fts5(void **state)
{
    (void)state;
    corpus c;
    load_corpus(&c);
    veil_rag_builder *b;
    veil_rag_index *ix = build_index(&c, &b);
    assert_true(veil_rag_index_passages(ix) > 500);
    sqlite3 *db = fts_table(&c, ix);

    static const char *questions[] = {
        "What warranty does the program come with?",
        "Can I distribute modified versions of the library?",
        "patent license grant and termination",
        "How do tides work with the moon and the sun?",
        "how do bees tell each other where flowers are",
        "what is sourdough starter",
        "the the the of and",
        "lighthouse lens fog signal",
        "convey object code in a physical product",
        "Huygens pendulum escapement",
        "oxbow lake meander",
        "invariant sections cover texts",
        "copyleft",
        "zzzz-not-a-word qqqq",
        "",
        "GNU General Public License version 3 or any later version",
        "Mozilla Public License 2.0 Exhibit A source code form notice",
        "contributor covered software larger work",
        "Apache License 2.0 NOTICE file attribution",
        "hot ash pyroclastic flows faster than anyone can run",
    };
    size_t matched = 0, queries = 0;
    for (size_t i = 0; i < sizeof questions / sizeof *questions; i++, queries++)
        matched += compare_query(db, ix, questions[i]) > 0;

    /* several hundred queries of 1-4 words drawn from the corpus itself */
    vocab v = {calloc(20000, 32), 0, 20000};
    for (size_t i = 0; i < c.n; i++)
        tu_ok(veil_rag_tokenize(c.text[i], c.len[i], vocab_tok, &v));
    assert_true(v.n > 1000);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 600; i++, queries++) {
        char q[256] = "";
        int words = 1 + i % 4;
        for (int k = 0; k < words; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            strcat(q, v.w[(rng >> 33) % v.n]);
            strcat(q, k % 2 ? ", " : " ");
        }
        matched += compare_query(db, ix, q) > 0;
    }
    print_message("bm25 vs fts5: %zu queries, %zu with hits, %u passages, identical order and "
                  "scores (1e-9)\n",
                  queries, matched, veil_rag_index_passages(ix));
    assert_true(matched > 500);
    free(v.w);
    sqlite3_close(db);
    veil_rag_index_free(ix);
    veil_rag_builder_free(b);
    free_corpus(&c);
}

/* ---- store --------------------------------------------------------------------- */

typedef struct fixture {
    corpus c;
    veil_hpke_key *key;
    char dir[64];
    char path[128];
} fixture;

static int setup_store(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    load_corpus(&f->c);
    tu_ok(veil_hpke_key_generate(VEIL_HPKE_KEM_X25519, &f->key));
    snprintf(f->dir, sizeof f->dir, "/tmp/veil-rag-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/store.db", f->dir);
    veil_rag_recipient to = {
        f->key, {VEIL_HPKE_KEM_X25519, VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_AES256GCM}, 7};
    veil_rag_writer *w;
    tu_ok(veil_rag_writer_open(f->path, "handbook", &to, 0, &w));
    for (size_t i = 0; i < f->c.n; i++)
        tu_ok(veil_rag_writer_add(w, f->c.name[i], f->c.text[i], f->c.len[i], NULL));
    tu_ok(veil_rag_writer_finish(w));
    veil_rag_writer_free(w);
    *state = f;
    return 0;
}

static int teardown_store(void **state)
{
    fixture *f = *state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    veil_hpke_key_free(f->key);
    free_corpus(&f->c);
    free(f);
    return 0;
}

static void test_store_round_trip(void **state)
{
    fixture *f = *state;
    veil_rag_store *s;
    char bad[VEIL_RAG_RECORD_NAME];
    tu_ok(veil_rag_store_open(f->path, "handbook", f->key, bad, &s));
    tu_ok(veil_rag_store_verify(s));
    const veil_rag_index *ix = veil_rag_store_index(s);
    assert_int_equal(veil_rag_index_docs(ix), f->c.n);
    veil_buf pt;
    veil_buf_init(&pt, 0);
    for (uint32_t p = 0; p < veil_rag_index_passages(ix); p += 7) {
        veil_rag_passage_info pi;
        tu_ok(veil_rag_index_passage(ix, p, &pi));
        tu_ok(veil_rag_store_passage(s, p, &pt, NULL));
        tu_assert_bytes(pt.data, pt.len, f->c.text[pi.doc] + pi.off, pi.len);
        assert_string_equal(pi.doc_name, f->c.name[pi.doc]);
    }
    veil_rag_hit hits[3];
    size_t n;
    const char *q = "waggle dance of the foraging bees";
    tu_ok(veil_rag_index_search(ix, q, strlen(q), 3, hits, &n));
    assert_int_equal(n, 3);
    veil_rag_passage_info pi;
    tu_ok(veil_rag_index_passage(ix, hits[0].passage, &pi));
    assert_string_equal(pi.doc_name, "notes-bees.txt");
    veil_buf_free(&pt);
    veil_rag_store_free(s);
    /* the wrong collection name is refused */
    assert_int_equal(veil_rag_store_open(f->path, "other", f->key, bad, &s).cls, VEIL_E_PROTOCOL);
    assert_null(s);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return p;
}

typedef struct word_check {
    const uint8_t *file;
    size_t file_len;
    size_t checked;
} word_check;

/* Fixed strings the store holds by design (SQLite header, schema, meta keys). */
static const char STORE_FIXED[] =
    "SQLite format 3 CREATE TABLE meta(k TEXT PRIMARY KEY, v NOT NULL) wrapped_keys doc enc ct "
    "passages seq WITHOUT ROWID index_chunks collection snapshot kem kdf aead key_id handbook "
    "sqlite_autoindex_meta_1 sqlite_autoindex table index";

static veil_result check_word(void *arg, const char *t, size_t n)
{
    word_check *w = arg;
    if (n < 5 || memmem(STORE_FIXED, sizeof STORE_FIXED - 1, t, n))
        return VEIL_OK;
    w->checked++;
    if (memmem(w->file, w->file_len, t, n))
        fail_msg("plaintext word '%.*s' found in the store", (int)n, t);
    return VEIL_OK;
}

static void test_store_has_no_plaintext(void **state)
{
    fixture *f = *state;
    size_t len;
    uint8_t *file = read_all(f->path, &len);
    veil_rag_builder *b;
    tu_ok(veil_rag_builder_new(0, &b));
    size_t passages = 0;
    word_check w = {file, len, 0};
    for (size_t i = 0; i < f->c.n; i++) {
        uint32_t first, count;
        tu_ok(veil_rag_builder_add(b, f->c.name[i], f->c.text[i], f->c.len[i], &first, &count));
        for (uint32_t p = first; p < first + count; p++, passages++) {
            veil_rag_span sp = veil_rag_builder_span(b, p);
            if (sp.len >= 8 && memmem(file, len, f->c.text[i] + sp.off, sp.len))
                fail_msg("passage %u of %s found in the store", p - first, f->c.name[i]);
            /* and any 12-byte window at a stride of 12 */
            for (size_t o = 0; o + 12 <= sp.len; o += 12)
                if (memmem(file, len, f->c.text[i] + sp.off + o, 12))
                    fail_msg("12 plaintext bytes of %s found in the store", f->c.name[i]);
        }
        /* every token of 5+ letters (folded; the windows above cover the original case) */
        tu_ok(veil_rag_tokenize(f->c.text[i], f->c.len[i], check_word, &w));
        assert_null(memmem(file, len, f->c.name[i], strlen(f->c.name[i])));
    }
    print_message("no plaintext: %zu passages, %zu words searched in %zu bytes\n", passages,
                  w.checked, len);
    assert_true(w.checked > 10000);
    veil_rag_builder_free(b);
    free(file);
}

/* Copy the fixture's store and run SQL on the copy. */
static void tampered_copy(const fixture *f, const char *sql, char *out, size_t cap)
{
    static int n;
    snprintf(out, cap, "%s/t%d.db", f->dir, n++);
    size_t len;
    uint8_t *p = read_all(f->path, &len);
    FILE *fp = fopen(out, "wb");
    assert_int_equal(fwrite(p, 1, len, fp), len);
    fclose(fp);
    free(p);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(out, &db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, sql, 0, 0, &err) != SQLITE_OK)
        fail_msg("tamper SQL failed: %s", err);
    sqlite3_close(db);
}

/* SQL for byte n (1-based) of ct, changed (SQLite has no xor). */
#define CHANGED_BYTE(n) "(CASE WHEN substr(ct," #n ",1) = x'00' THEN x'01' ELSE x'00' END)"

static void expect_open_fails(const fixture *f, const char *sql, const char *bad_want)
{
    char path[160], bad[VEIL_RAG_RECORD_NAME];
    tampered_copy(f, sql, path, sizeof path);
    veil_rag_store *s = (veil_rag_store *)1;
    veil_result r = veil_rag_store_open(path, "handbook", f->key, bad, &s);
    if (veil_ok(r))
        fail_msg("tampering not detected: %s", sql);
    assert_null(s);
    if (strstr(bad, bad_want) == NULL)
        fail_msg("record named '%s', expected '%s' (%s)", bad, bad_want, r.msg);
}

static void test_tamper_detected(void **state)
{
    fixture *f = *state;
    expect_open_fails(f, "UPDATE index_chunks SET ct = zeroblob(length(ct)) WHERE seq=0",
                      "index record 0");
    expect_open_fails(f,
                      "UPDATE index_chunks SET ct = substr(ct,1,10) || " CHANGED_BYTE(
                          11) " || substr(ct,12) WHERE seq=0",
                      "index record 0");
    expect_open_fails(f,
                      "UPDATE wrapped_keys SET ct = substr(ct,1,5) || " CHANGED_BYTE(
                          6) " || substr(ct,7) WHERE doc=3",
                      "wrapped key of document 3");
    expect_open_fails(
        f,
        "UPDATE wrapped_keys SET enc = substr(enc,1,31) || (CASE WHEN substr(enc,32,1) ="
        " x'77' THEN x'78' ELSE x'77' END) WHERE doc=-1",
        "wrapped index key");
    /* swap two wrapped keys */
    expect_open_fails(f,
                      "UPDATE wrapped_keys SET doc = 1000 WHERE doc = 0;"
                      "UPDATE wrapped_keys SET doc = 0 WHERE doc = 1;"
                      "UPDATE wrapped_keys SET doc = 1 WHERE doc = 1000;",
                      "wrapped key of document 0");
    /* a record deleted or added */
    expect_open_fails(f, "DELETE FROM passages WHERE doc=2 AND seq=1", "doc 2, seq 1");
    expect_open_fails(
        f, "INSERT INTO passages VALUES(0, 100000, x'00112233445566778899aabbccddeeff00')",
        "doc 0, seq 100000");
    expect_open_fails(f, "DELETE FROM wrapped_keys WHERE doc=5", "document 5");
    /* a resized passage */
    expect_open_fails(f, "UPDATE passages SET ct = ct || x'00' WHERE doc=1 AND seq=0",
                      "doc 1, seq 0");
    /* another snapshot id: every record fails, starting with the index key */
    expect_open_fails(f, "UPDATE meta SET v = zeroblob(16) WHERE k='snapshot'",
                      "wrapped index key");
}

/* A passage record changed in place loads, and fails when decrypted. */
static void expect_passage_fails(const fixture *f, const char *sql, uint32_t doc, uint32_t seq)
{
    char path[160], bad[VEIL_RAG_RECORD_NAME], want[64];
    tampered_copy(f, sql, path, sizeof path);
    veil_rag_store *s;
    tu_ok(veil_rag_store_open(path, "handbook", f->key, bad, &s));
    const veil_rag_index *ix = veil_rag_store_index(s);
    uint32_t p = 0;
    veil_rag_passage_info pi;
    for (; p < veil_rag_index_passages(ix); p++) {
        tu_ok(veil_rag_index_passage(ix, p, &pi));
        if (pi.doc == doc && pi.seq == seq)
            break;
    }
    veil_buf pt;
    veil_buf_init(&pt, 0);
    veil_result r = veil_rag_store_passage(s, p, &pt, bad);
    assert_int_equal(r.cls, VEIL_E_CRYPTO);
    assert_int_equal(pt.len, 0);
    snprintf(want, sizeof want, "passage record (doc %u, seq %u)", doc, seq);
    assert_string_equal(bad, want);
    /* the audit finds it too */
    assert_int_equal(veil_rag_store_verify(s).cls, VEIL_E_CRYPTO);
    assert_string_equal(veil_rag_store_bad_record(s), want);
    veil_buf_free(&pt);
    veil_rag_store_free(s);
}

static void test_passage_tamper_detected(void **state)
{
    fixture *f = *state;
    expect_passage_fails(
        f, "UPDATE passages SET ct = " CHANGED_BYTE(1) " || substr(ct,2) WHERE doc=2 AND seq=1", 2,
        1);
    expect_passage_fails(
        f,
        "UPDATE passages SET ct = substr(ct,1,length(ct)-1) || (CASE WHEN substr(ct,-1,1) ="
        " x'00' THEN x'01' ELSE x'00' END) WHERE doc=4 AND seq=0",
        4, 0);
    /* two records of the same length swapped (the first two of the notes files
     * are one-line titles of different lengths, so pick by length) */
    expect_passage_fails(f,
                         "CREATE TEMP TABLE pick AS SELECT a.doc AS ad, a.seq AS aseq, b.doc AS bd,"
                         " b.seq AS bseq, a.ct AS act, b.ct AS bct FROM passages a JOIN passages b"
                         " ON length(a.ct) = length(b.ct) AND (a.doc, a.seq) < (b.doc, b.seq)"
                         " WHERE a.doc = 0 ORDER BY a.seq, b.doc, b.seq LIMIT 1;"
                         "UPDATE passages SET ct = (SELECT bct FROM pick)"
                         " WHERE doc = (SELECT ad FROM pick) AND seq = (SELECT aseq FROM pick);"
                         "UPDATE passages SET ct = (SELECT act FROM pick)"
                         " WHERE doc = (SELECT bd FROM pick) AND seq = (SELECT bseq FROM pick);",
                         0, 0);
}

/* ---- in the gateway's app ------------------------------------------------------ */

static char upstream_got[1 << 16]; /* the last chat body the fake model received */

static void fake_model(void *ctx, veil_http_request *req, veil_http_response *resp)
{
    (void)ctx;
    size_t n = 0;
    const uint8_t *b = veil_http_req_body(req, &n);
    snprintf(upstream_got, sizeof upstream_got, "%.*s", (int)n, (const char *)b);
    static const char ans[] = "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                              "\"message\":{\"role\":\"assistant\",\"content\":\"ok\"}}]}";
    veil_http_resp_set(resp, 200, "application/json", ans, sizeof ans - 1);
}

typedef struct answer {
    unsigned status;
    veil_buf body;
} answer;

static veil_result a_head(void *arg, unsigned status, const veil_app_header *h, size_t n)
{
    (void)h;
    (void)n;
    ((answer *)arg)->status = status;
    return VEIL_OK;
}
static veil_result a_body(void *arg, const uint8_t *p, size_t n)
{
    return veil_buf_append(&((answer *)arg)->body, p, n);
}
static veil_result a_end(void *arg) { return veil_buf_u8(&((answer *)arg)->body, 0); }

static json_t *ask(veil_app *app, const char *path, const char *json, unsigned want)
{
    veil_bhttp_msg *m = NULL;
    tu_ok(veil_bhttp_request_new("POST", "https", "gw.example", path, &m));
    tu_ok(veil_bhttp_add_header(m, "content-type", 12, "application/json", 16));
    tu_ok(veil_bhttp_set_content(m, json, strlen(json)));
    answer a = {0};
    veil_buf_init(&a.body, 0);
    veil_app_writer w = {a_head, a_body, a_end, &a};
    tu_ok(veil_app_handle(app, m, &w));
    veil_bhttp_msg_free(m);
    if (a.status != want)
        fail_msg("%s: status %u, want %u: %s", path, a.status, want, (char *)a.body.data);
    json_t *j = json_loads((const char *)a.body.data, 0, NULL);
    assert_non_null(j);
    veil_buf_free(&a.body);
    return j;
}

static void with_app(const char *store_path, veil_hpke_key *key, void (*fn)(veil_app *, void *),
                     void *arg)
{
    veil_http_server_config sc = {.address = "127.0.0.1", .handler = fake_model};
    veil_http_server *srv;
    tu_ok(veil_http_server_start(&sc, &srv));
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u/v1", veil_http_server_port(srv));
    veil_rag_store *s;
    char bad[VEIL_RAG_RECORD_NAME];
    tu_ok(veil_rag_store_open(store_path, "handbook", key, bad, &s));
    veil_app_rag rag = {"handbook", s};
    veil_app_model model = {"chat", VEIL_APP_BACKEND_OPENAI, base, NULL, NULL};
    veil_app_config cfg = {.models = &model, .n_models = 1, .rag = &rag, .n_rag = 1};
    veil_app *app;
    tu_ok(veil_app_new(&cfg, &app));
    fn(app, arg);
    veil_app_free(app);
    veil_rag_store_free(s);
    veil_http_server_stop(srv);
}

static void search_and_chat(veil_app *app, void *arg)
{
    fixture *f = arg;
    json_t *j =
        ask(app, "/v1/rag/search",
            "{\"collection\":\"handbook\",\"query\":\"the waggle run of bees\",\"top_k\":2}", 200);
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 2);
    json_t *h0 = json_array_get(data, 0);
    assert_string_equal(json_string_value(json_object_get(h0, "document")), "notes-bees.txt");
    const char *text = json_string_value(json_object_get(h0, "text"));
    assert_non_null(strstr(text, "waggle run"));
    assert_true(json_real_value(json_object_get(h0, "score")) > 0);
    /* the text is the document's own bytes at the offset given */
    size_t d = 0;
    while (strcmp(f->c.name[d], "notes-bees.txt") != 0)
        d++;
    size_t off = (size_t)json_integer_value(json_object_get(h0, "offset"));
    assert_memory_equal(f->c.text[d] + off, text, strlen(text));
    json_decref(j);

    json_decref(ask(app, "/v1/rag/search", "{\"collection\":\"nope\",\"query\":\"x\"}", 404));
    json_decref(ask(app, "/v1/rag/search",
                    "{\"collection\":\"handbook\",\"query\":\"x\","
                    "\"top_k\":0}",
                    400));
    json_decref(ask(app, "/v1/rag/search", "{\"collection\":\"handbook\"}", 400));

    /* chat: the passages reach the model as a system message before the question */
    upstream_got[0] = 0;
    j = ask(app, "/v1/chat/completions",
            "{\"model\":\"chat\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
            "{\"role\":\"user\",\"content\":\"How do bees tell each other where the flowers "
            "are?\"}],\"veil_rag\":{\"collection\":\"handbook\",\"top_k\":2}}",
            200);
    json_decref(j);
    json_t *up = json_loads(upstream_got, 0, NULL);
    assert_non_null(up);
    assert_null(json_object_get(up, "veil_rag"));
    json_t *msgs = json_object_get(up, "messages");
    assert_int_equal(json_array_size(msgs), 3);
    json_t *ctx = json_array_get(msgs, 1);
    assert_string_equal(json_string_value(json_object_get(ctx, "role")), "system");
    const char *c = json_string_value(json_object_get(ctx, "content"));
    assert_non_null(strstr(c, "[1] notes-bees.txt"));
    assert_non_null(strstr(c, "The angle\nof the waggle run"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 2), "role")),
                        "user");
    json_decref(up);
    /* a chat without the field is passed on as it was */
    j = ask(app, "/v1/chat/completions",
            "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 200);
    json_decref(j);
    assert_null(strstr(upstream_got, "system"));
    json_decref(ask(app, "/v1/chat/completions",
                    "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                    "\"veil_rag\":{\"collection\":\"nope\"}}",
                    404));
    json_decref(ask(app, "/v1/chat/completions",
                    "{\"model\":\"chat\",\"messages\":[{\"role\":\"assistant\",\"content\":"
                    "\"hi\"}],\"veil_rag\":{\"collection\":\"handbook\"}}",
                    400));
}

static void test_gateway_search_and_chat(void **state)
{
    fixture *f = *state;
    with_app(f->path, f->key, search_and_chat, f);
}

static void corrupt_answer(veil_app *app, void *arg)
{
    (void)arg;
    json_t *j = ask(app, "/v1/rag/search",
                    "{\"collection\":\"handbook\",\"query\":\"waggle dance flowers\"}", 500);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    assert_non_null(strstr(msg, "passage record (doc"));
    json_decref(j);
    upstream_got[0] = 0;
    json_decref(ask(app, "/v1/chat/completions",
                    "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"waggle "
                    "dance flowers\"}],\"veil_rag\":{\"collection\":\"handbook\"}}",
                    500));
    assert_int_equal(upstream_got[0], 0); /* nothing reached the model */
}

/* A tampered passage behind the top hit: the gateway refuses, naming it. */
static void test_gateway_reports_tampering(void **state)
{
    fixture *f = *state;
    char path[160];
    size_t d = 0;
    while (strcmp(f->c.name[d], "notes-bees.txt") != 0)
        d++;
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE passages SET ct = substr(ct,1,2) || " CHANGED_BYTE(
                 3) " || substr(ct,4) WHERE doc=%zu",
             d);
    tampered_copy(f, sql, path, sizeof path);
    with_app(path, f->key, corrupt_answer, NULL);
}

static void test_no_key_no_load(void **state)
{
    fixture *f = *state;
    veil_hpke_key *other, *p384;
    tu_ok(veil_hpke_key_generate(VEIL_HPKE_KEM_X25519, &other));
    tu_ok(veil_hpke_key_generate(VEIL_HPKE_KEM_P384, &p384));
    veil_rag_store *s = (veil_rag_store *)1;
    char bad[VEIL_RAG_RECORD_NAME];
    veil_result r = veil_rag_store_open(f->path, NULL, other, bad, &s);
    assert_int_equal(r.cls, VEIL_E_CRYPTO);
    assert_null(s);
    assert_string_equal(bad, "wrapped index key");
    r = veil_rag_store_open(f->path, NULL, p384, bad, &s);
    assert_int_equal(r.cls, VEIL_E_USAGE);
    assert_null(s);
    /* the public half alone cannot open it either */
    uint8_t pk[VEIL_HPKE_MAX_PK];
    size_t pk_len;
    veil_hpke_key *pub;
    tu_ok(veil_hpke_key_public(f->key, pk, sizeof pk, &pk_len));
    tu_ok(veil_hpke_key_from_public(VEIL_HPKE_KEM_X25519, pk, pk_len, &pub));
    assert_int_equal(veil_rag_store_open(f->path, NULL, pub, bad, &s).cls, VEIL_E_USAGE);
    veil_hpke_key_free(pub);
    veil_hpke_key_free(other);
    veil_hpke_key_free(p384);
    /* not a store at all */
    assert_false(veil_ok(
        veil_rag_store_open(VEIL_SOURCE_DIR "/tests/data/rag/GPL-3.txt", NULL, f->key, bad, &s)));
}

static void test_writer_refuses(void **state)
{
    fixture *f = *state;
    veil_rag_recipient to = {
        f->key, {VEIL_HPKE_KEM_X25519, VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_AES256GCM}, 1};
    veil_rag_writer *w = NULL;
    /* an existing store is never replaced */
    assert_int_equal(veil_rag_writer_open(f->path, "handbook", &to, 0, &w).cls, VEIL_E_USAGE);
    char p[160];
    snprintf(p, sizeof p, "%s/new.db", f->dir);
    assert_int_equal(veil_rag_writer_open(p, "bad name", &to, 0, &w).cls, VEIL_E_USAGE);
    to.suite.kem = VEIL_HPKE_KEM_P384;
    assert_int_equal(veil_rag_writer_open(p, "ok", &to, 0, &w).cls, VEIL_E_USAGE);
    /* an abandoned writer leaves nothing behind */
    to.suite.kem = VEIL_HPKE_KEM_X25519;
    tu_ok(veil_rag_writer_open(p, "ok", &to, 0, &w));
    tu_ok(veil_rag_writer_add(w, "a", (const uint8_t *)"alpha beta", 10, NULL));
    veil_rag_writer_free(w);
    assert_int_not_equal(access(p, F_OK), 0);
    char partial[170];
    snprintf(partial, sizeof partial, "%s.partial", p);
    assert_int_not_equal(access(partial, F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_bm25_matches_fts5),
    };
    const struct CMUnitTest store_tests[] = {
        cmocka_unit_test(test_store_round_trip),
        cmocka_unit_test(test_store_has_no_plaintext),
        cmocka_unit_test(test_tamper_detected),
        cmocka_unit_test(test_passage_tamper_detected),
        cmocka_unit_test(test_no_key_no_load),
        cmocka_unit_test(test_writer_refuses),
        cmocka_unit_test(test_gateway_search_and_chat),
        cmocka_unit_test(test_gateway_reports_tampering),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    return rc | cmocka_run_group_tests(store_tests, setup_store, teardown_store);
}
