/* Encrypted RAG benchmark (veil/rag.h).
 *
 * A deterministic corpus (synthetic words with a Zipf-like frequency, 1000
 * documents, N passages in all, each passage its own paragraph) is ingested
 * into an encrypted store. Then:
 *   load:   veil_rag_store_open (unwrap every data key, decrypt and parse the
 *           whole index, read every passage record), beside the baseline:
 *           reading the same index bytes and passages in plaintext from a
 *           SQLite file of the same shape and parsing the index. Each side
 *           runs ROUNDS times, alternating, and reports its best time; the
 *           ratio is encrypted / plaintext.
 *   search: BM25 top-10 over the loaded index for Q queries of 1-4 words
 *           drawn from the same distribution: median and p99 latency, plus
 *           decrypting the top hit of each query.
 *
 * usage: rag [--passages N] [--queries Q] [--rounds R] [--dir DIR] [--json] */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "veil/hpke.h"
#include "veil/mem.h"
#include "veil/rag.h"

#define DOCS 1000
#define VOCAB 30000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return rng_state >> 33;
}

static char words[VOCAB][16];

/* Pronounceable words from syllables; word i is the i-th most frequent. */
static void make_vocab(void)
{
    static const char *syl[] = {"ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "po", "de",
                                "an", "el", "or", "us", "ti", "ba", "fe", "go", "hu", "ja"};
    for (int i = 0; i < VOCAB; i++) {
        int v = i, len = 0;
        do {
            const char *s = syl[v % 20];
            memcpy(words[i] + len, s, 2);
            len += 2;
            v /= 20;
        } while (v > 0 && len < 12);
        words[i][len] = 0;
    }
}

/* Zipf-like: the rank of a word drawn with probability ~ 1/rank. */
static int draw_word(void)
{
    double u = (double)(rnd() % 1000000 + 1) / 1000001.0;
    int r = (int)(exp(u * log((double)VOCAB))) - 1;
    return r < 0 ? 0 : r >= VOCAB ? VOCAB - 1 : r;
}

/* One document of `np` passages of 30-90 words. */
static size_t make_doc(char *buf, size_t cap, int np)
{
    size_t n = 0;
    for (int p = 0; p < np; p++) {
        int nw = 30 + (int)(rnd() % 61);
        for (int w = 0; w < nw && n + 20 < cap; w++) {
            const char *s = words[draw_word()];
            size_t l = strlen(s);
            memcpy(buf + n, s, l);
            n += l;
            buf[n++] = (w % 12 == 11) ? '.' : ' ';
            if (w % 12 == 11)
                buf[n++] = ' ';
        }
        buf[n++] = '.';
        buf[n++] = '\n';
        buf[n++] = '\n';
    }
    return n;
}

static int die(const char *what, veil_result r)
{
    fprintf(stderr, "rag bench: %s: %s\n", what, r.msg ? r.msg : "?");
    exit(1);
}

/* The plaintext twin: the same index bytes and passages, unencrypted. */
static void write_plain(const char *path, veil_rag_builder *b, char **docs, size_t *lens,
                        const uint32_t *firsts, const uint32_t *counts)
{
    sqlite3 *db;
    unlink(path);
    sqlite3_open(path, &db);
    sqlite3_exec(db,
                 "CREATE TABLE index_chunks(seq INTEGER PRIMARY KEY, pt BLOB NOT NULL);"
                 "CREATE TABLE passages(doc INTEGER NOT NULL, seq INTEGER NOT NULL, pt BLOB NOT "
                 "NULL, PRIMARY KEY(doc, seq)) WITHOUT ROWID; BEGIN;",
                 0, 0, 0);
    veil_buf ix;
    veil_buf_init(&ix, 0);
    veil_result r = veil_rag_builder_serialize(b, &ix);
    if (!veil_ok(r))
        die("serialize", r);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(db, "INSERT INTO index_chunks VALUES(?,?)", -1, &q, NULL);
    for (size_t off = 0, i = 0; off < ix.len; off += VEIL_RAG_INDEX_CHUNK, i++) {
        size_t n = ix.len - off < VEIL_RAG_INDEX_CHUNK ? ix.len - off : VEIL_RAG_INDEX_CHUNK;
        sqlite3_bind_int64(q, 1, (int64_t)i);
        sqlite3_bind_blob(q, 2, ix.data + off, (int)n, SQLITE_STATIC);
        sqlite3_step(q);
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    sqlite3_prepare_v2(db, "INSERT INTO passages VALUES(?,?,?)", -1, &q, NULL);
    for (int d = 0; d < DOCS; d++)
        for (uint32_t s = 0; s < counts[d]; s++) {
            veil_rag_span sp = veil_rag_builder_span(b, firsts[d] + s);
            sqlite3_bind_int64(q, 1, d);
            sqlite3_bind_int64(q, 2, s);
            sqlite3_bind_blob(q, 3, docs[d] + sp.off, (int)sp.len, SQLITE_STATIC);
            sqlite3_step(q);
            sqlite3_reset(q);
        }
    sqlite3_finalize(q);
    sqlite3_exec(db, "COMMIT", 0, 0, 0);
    sqlite3_close(db);
    veil_buf_free(&ix);
    (void)lens;
}

/* Baseline load: the same reads and parse, no crypto; the passages land in
 * one buffer sized from the index, as the store's do (freed by the caller,
 * outside the timing, as the store is). */
static veil_rag_index *load_plain(const char *path, veil_buf *pass)
{
    sqlite3 *db;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *q;
    veil_buf ix;
    veil_buf_init(&ix, 0);
    sqlite3_prepare_v2(db, "SELECT pt FROM index_chunks ORDER BY seq", -1, &q, NULL);
    while (sqlite3_step(q) == SQLITE_ROW)
        if (!veil_ok(veil_buf_append(&ix, sqlite3_column_blob(q, 0),
                                     (size_t)sqlite3_column_bytes(q, 0))))
            exit(1);
    sqlite3_finalize(q);
    veil_rag_index *out;
    veil_result r = veil_rag_index_parse(ix.data, ix.len, &out);
    if (!veil_ok(r))
        die("plain parse", r);
    veil_buf_free(&ix);
    size_t total = 0;
    for (uint32_t i = 0; i < veil_rag_index_passages(out); i++) {
        veil_rag_passage_info pi;
        if (!veil_ok(veil_rag_index_passage(out, i, &pi)))
            exit(1);
        total += pi.len;
    }
    if (!veil_ok(veil_buf_reserve(pass, total)))
        exit(1);
    sqlite3_prepare_v2(db, "SELECT pt FROM passages ORDER BY doc, seq", -1, &q, NULL);
    while (sqlite3_step(q) == SQLITE_ROW)
        if (!veil_ok(veil_buf_append(pass, sqlite3_column_blob(q, 0),
                                     (size_t)sqlite3_column_bytes(q, 0))))
            exit(1);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return out;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int passages = 100000, queries = 2000, rounds = 3, as_json = 0;
    const char *dir = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--passages") && i + 1 < argc)
            passages = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc)
            queries = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            as_json = 1;
        else {
            fprintf(stderr, "usage: rag [--passages N] [--queries Q] [--rounds R] [--dir DIR] "
                            "[--json]\n");
            return 2;
        }
    }
    if (passages < DOCS || queries < 1 || rounds < 1)
        return 2;
    make_vocab();
    char enc_path[512], plain_path[512];
    snprintf(enc_path, sizeof enc_path, "%s/veil-bench-rag-%ld.db", dir, (long)getpid());
    snprintf(plain_path, sizeof plain_path, "%s/veil-bench-rag-plain-%ld.db", dir, (long)getpid());

    veil_hpke_key *key;
    veil_result r = veil_hpke_key_generate(VEIL_HPKE_KEM_X25519, &key);
    if (!veil_ok(r))
        die("keygen", r);
    veil_rag_recipient to = {
        key, {VEIL_HPKE_KEM_X25519, VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_AES256GCM}, 1};
    veil_rag_writer *w;
    veil_rag_builder *b;
    if (!veil_ok(r = veil_rag_writer_open(enc_path, "bench", &to, 0, &w)) ||
        !veil_ok(r = veil_rag_builder_new(0, &b)))
        die("open", r);
    static char *docs[DOCS];
    static size_t lens[DOCS], caps[DOCS];
    static uint32_t firsts[DOCS], counts[DOCS];
    size_t total_bytes = 0;
    double t0 = now_s();
    for (int d = 0; d < DOCS; d++) {
        int np = passages / DOCS + (d < passages % DOCS);
        size_t cap = (size_t)np * 1200 + 64;
        docs[d] = veil_calloc(cap, 1);
        caps[d] = cap;
        lens[d] = make_doc(docs[d], cap, np);
        total_bytes += lens[d];
        char name[32];
        snprintf(name, sizeof name, "doc-%04d.txt", d);
        uint32_t n;
        if (!veil_ok(r = veil_rag_writer_add(w, name, (uint8_t *)docs[d], lens[d], &n)))
            die("add", r);
        if (!veil_ok(r = veil_rag_builder_add(b, name, (uint8_t *)docs[d], lens[d], &firsts[d],
                                              &counts[d])) ||
            counts[d] != n)
            die("builder", r);
    }
    if (!veil_ok(r = veil_rag_writer_finish(w)))
        die("finish", r);
    double t_ingest = now_s() - t0;
    veil_rag_writer_free(w);
    write_plain(plain_path, b, docs, lens, firsts, counts);
    size_t n_pass = veil_rag_builder_passages(b);

    double best_enc = 1e9, best_plain = 1e9;
    veil_rag_store *s = NULL;
    for (int i = 0; i < rounds; i++) {
        veil_rag_store_free(s);
        s = NULL;
        t0 = now_s();
        char bad[VEIL_RAG_RECORD_NAME];
        if (!veil_ok(r = veil_rag_store_open(enc_path, "bench", key, bad, &s)))
            die("store open", r);
        double te = now_s() - t0;
        veil_buf pass;
        veil_buf_init(&pass, 0);
        t0 = now_s();
        veil_rag_index *pix = load_plain(plain_path, &pass);
        double tp = now_s() - t0;
        veil_rag_index_free(pix);
        veil_buf_free(&pass);
        best_enc = te < best_enc ? te : best_enc;
        best_plain = tp < best_plain ? tp : best_plain;
    }

    double *lat = veil_calloc((size_t)queries, sizeof *lat);
    const veil_rag_index *ix = veil_rag_store_index(s);
    veil_buf pt;
    veil_buf_init(&pt, 0);
    double t_decrypt = 0;
    size_t hits_total = 0;
    for (int i = 0; i < queries; i++) {
        char q[128] = "";
        int nw = 1 + i % 4;
        for (int k = 0; k < nw; k++) {
            strcat(q, words[draw_word()]);
            strcat(q, " ");
        }
        veil_rag_hit hits[10];
        size_t nh;
        t0 = now_s();
        if (!veil_ok(r = veil_rag_index_search(ix, q, strlen(q), 10, hits, &nh)))
            die("search", r);
        lat[i] = now_s() - t0;
        hits_total += nh;
        if (nh > 0) {
            t0 = now_s();
            if (!veil_ok(r = veil_rag_store_passage(s, hits[0].passage, &pt, NULL)))
                die("passage", r);
            t_decrypt += now_s() - t0;
        }
    }
    qsort(lat, (size_t)queries, sizeof *lat, cmp_d);
    double med = lat[queries / 2] * 1e3, p99 = lat[(size_t)queries * 99 / 100] * 1e3;
    FILE *f = fopen(enc_path, "rb");
    fseek(f, 0, SEEK_END);
    long store_bytes = ftell(f);
    fclose(f);
    if (as_json) {
        printf("{\"passages\": %zu, \"documents\": %d, \"text_bytes\": %zu, \"store_bytes\": %ld, "
               "\"ingest_s\": %.3f, \"load_encrypted_s\": %.4f, \"load_plaintext_s\": %.4f, "
               "\"load_ratio\": %.2f, \"queries\": %d, \"search_median_ms\": %.3f, "
               "\"search_p99_ms\": %.3f, \"decrypt_top_hit_us\": %.2f}\n",
               n_pass, DOCS, total_bytes, store_bytes, t_ingest, best_enc, best_plain,
               best_enc / best_plain, queries, med, p99, t_decrypt / queries * 1e6);
    } else {
        printf("corpus: %zu passages in %d documents, %.1f MB of text; store %.1f MB; ingest "
               "%.2f s\n",
               n_pass, DOCS, total_bytes / 1e6, store_bytes / 1e6, t_ingest);
        printf("load whole index + passages: encrypted %.1f ms, plaintext %.1f ms, ratio %.2f "
               "(best of %d)\n",
               best_enc * 1e3, best_plain * 1e3, best_enc / best_plain, rounds);
        printf("search top-10 (%d queries, 1-4 words, %.1f hits avg): median %.3f ms, p99 "
               "%.3f ms; decrypt top hit %.1f us avg\n",
               queries, (double)hits_total / queries, med, p99, t_decrypt / queries * 1e6);
    }
    veil_buf_free(&pt);
    veil_free(lat);
    veil_rag_store_free(s);
    veil_rag_builder_free(b);
    for (int d = 0; d < DOCS; d++)
        veil_free_wiped(docs[d], caps[d]);
    veil_hpke_key_free(key);
    unlink(enc_path);
    unlink(plain_path);
    return 0;
}
