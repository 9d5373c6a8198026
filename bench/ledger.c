/* Transparency ledger benchmark, each figure beside a baseline measured in
 * the same run:
 *   1. appends per second with batched commits (one transaction, one fsync
 *      and one signed tree head per batch) into a temporary SQLite file,
 *      beside raw SHA-256 leaf hashing of the same entries;
 *   2. building a log of --entries entries (default 1,000,000), bounded by
 *      --max-build-s: the time it took, or how far it got;
 *   3. at that size: inclusion-proof generation (from the stored subtree
 *      hashes) and verification, consistency proofs and the root, beside the
 *      time of log2(n) SHA-256 node hashes (the work a verifier cannot skip).
 * Medians over --proofs random samples.
 *
 * usage: ledger [--entries N] [--append N] [--batch B] [--proofs K]
 *               [--max-build-s S] [--dir DIR] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/digest.h"
#include "veil/ledger.h"
#include "veil/mem.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double pct(double *v, size_t n, double p) /* v sorted */
{
    size_t i = (size_t)(p * (double)(n - 1));
    return v[i];
}

static int check(veil_result r, const char *what)
{
    if (veil_ok(r))
        return 0;
    fprintf(stderr, "ledger bench: %s: %s\n", what, r.msg);
    return 1;
}

/* A KMS-like entry: a key release record. */
static size_t entry_text(uint64_t i, char *buf, size_t cap)
{
    return (size_t)snprintf(buf, cap,
                            "{\"type\":\"release\",\"key\":\"rag-collection-%llu\",\"tee\":"
                            "\"sev-snp\",\"measurement\":\"%016llx%016llx\",\"policy\":%llu}",
                            (unsigned long long)(i % 97), (unsigned long long)(i * 2654435761u),
                            (unsigned long long)i, (unsigned long long)(i % 5));
}

/* Append entries [from, to) in batches; returns seconds, or -1. */
static double append_range(veil_ledger *l, uint64_t from, uint64_t to, size_t batch,
                           double deadline)
{
    char(*text)[160] = veil_calloc(batch, sizeof *text);
    const char **ptrs = veil_calloc(batch, sizeof *ptrs);
    size_t *lens = veil_calloc(batch, sizeof *lens);
    double t0 = now_s(), took = -1;
    if (!text || !ptrs || !lens)
        goto out;
    for (uint64_t i = from; i < to;) {
        size_t n = to - i < batch ? (size_t)(to - i) : batch;
        for (size_t j = 0; j < n; j++) {
            lens[j] = entry_text(i + j, text[j], sizeof text[j]);
            ptrs[j] = text[j];
        }
        if (check(veil_ledger_append_batch(l, ptrs, lens, n, NULL), "append"))
            goto out;
        i += n;
        if (deadline > 0 && now_s() > deadline)
            break;
    }
    took = now_s() - t0;
out:
    veil_free(text);
    veil_free(ptrs);
    veil_free(lens);
    return took;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

int main(int argc, char **argv)
{
    uint64_t entries = 1000000, appends = 100000;
    size_t batch = 1000, proofs = 2000;
    double max_build = 300;
    const char *dir = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--entries"))
            entries = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--append"))
            appends = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--batch"))
            batch = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--proofs"))
            proofs = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--max-build-s"))
            max_build = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
        else {
            fprintf(stderr, "usage: ledger [--entries N] [--append N] [--batch B] [--proofs K] "
                            "[--max-build-s S] [--dir DIR]\n");
            return 2;
        }
    }
    if (appends > entries)
        appends = entries;
    if (batch == 0 || proofs == 0 || appends == 0) {
        fprintf(stderr, "ledger bench: sizes must be positive\n");
        return 2;
    }

    char tmpl[256], db[300];
    snprintf(tmpl, sizeof tmpl, "%s/veil-ledger-bench-XXXXXX", dir ? dir : "/tmp");
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(db, sizeof db, "%s/log.db", tmpl);

    veil_sign_key *key = NULL;
    veil_ledger *l = NULL;
    veil_buf e;
    veil_buf_init(&e, 0);
    double *samples = veil_calloc(proofs, sizeof *samples);
    double *gen = veil_calloc(proofs, sizeof *gen), *ver = veil_calloc(proofs, sizeof *ver);
    int rc = 1;
    if (!samples || !gen || !ver || check(veil_sign_key_generate(&key), "key") ||
        check(veil_ledger_open(db, key, &l), "open"))
        goto out;

    /* 1. appends, beside SHA-256 of the same leaves */
    double t_app = append_range(l, 0, appends, batch, 0);
    if (t_app < 0)
        goto out;
    double t0 = now_s();
    char text[160];
    uint8_t h[32];
    for (uint64_t i = 0; i < appends; i++) {
        size_t n = entry_text(i, text, sizeof text);
        if (check(veil_merkle_leaf_hash((const uint8_t *)text, n, h), "hash"))
            goto out;
    }
    double t_hash = now_s() - t0;
    printf("append:   %llu entries in batches of %zu: %.2f s = %.0f entries/s "
           "(canonicalise, hash, insert; one fsync + one ES384 tree head per batch)\n",
           (unsigned long long)appends, batch, t_app, (double)appends / t_app);
    printf("baseline: SHA-256 leaf hash of the same %llu entries: %.3f s = %.0f hashes/s "
           "(appends cost %.1fx a bare hash)\n",
           (unsigned long long)appends, t_hash, (double)appends / t_hash, t_app / t_hash);

    /* 2. build the large log (bounded in time) */
    double deadline = now_s() + max_build;
    double t_build = append_range(l, appends, entries, 10000, deadline);
    if (t_build < 0)
        goto out;
    uint64_t n;
    if (check(veil_ledger_size(l, &n), "size"))
        goto out;
    printf("build:    log of %llu entries: %.1f s for the last %llu (batches of 10000), "
           "%.1f s in all, file %.0f MiB%s\n",
           (unsigned long long)n, t_build, (unsigned long long)(n - appends), t_build + t_app,
           (double)file_size(db) / 1048576.0, n < entries ? " (stopped at --max-build-s)" : "");

    /* 3. proofs at size n */
    unsigned seed = 1;
    uint8_t root[32], leaf[32], other[32];
    veil_merkle_proof p;
    if (check(veil_ledger_root(l, n, root), "root"))
        goto out;
    for (size_t i = 0; i < proofs; i++) {
        uint64_t m = ((uint64_t)rand_r(&seed) << 31 ^ (uint64_t)rand_r(&seed)) % n;
        veil_buf_clear(&e);
        double a = now_s();
        if (check(veil_ledger_inclusion_proof(l, m, n, &p), "inclusion proof"))
            goto out;
        double b = now_s();
        if (check(veil_ledger_entry(l, m, &e), "entry"))
            goto out;
        double c = now_s();
        if (check(veil_merkle_leaf_hash(e.data, e.len, leaf), "leaf") ||
            check(veil_merkle_verify_inclusion(m, n, leaf, &p, root), "verify"))
            goto out;
        double d = now_s();
        gen[i] = (b - a) * 1e6;
        ver[i] = (d - c) * 1e6;
    }
    unsigned steps = 0; /* ceil(log2 n): the length of an inclusion path */
    while (((uint64_t)1 << steps) < n)
        steps++;
    uint8_t node[65] = {1};
    for (size_t i = 0; i < proofs; i++) {
        double a = now_s();
        for (unsigned s = 0; s < steps; s++)
            if (check(veil_sha256(node, sizeof node, node + 1), "sha256"))
                goto out;
        samples[i] = (now_s() - a) * 1e6;
    }
    double mg = median(gen, proofs), mv = median(ver, proofs), mb = median(samples, proofs);
    printf("proof:    inclusion at n=%llu (%zu hashes): generate median %.1f us (p99 %.1f us), "
           "verify median %.1f us (p99 %.1f us)\n",
           (unsigned long long)n, p.len, mg, pct(gen, proofs, 0.99), mv, pct(ver, proofs, 0.99));
    printf("baseline: %u SHA-256 node hashes (log2 n): median %.1f us; generate+verify = %.1fx "
           "baseline\n",
           steps, mb, (mg + mv) / mb);

    for (size_t i = 0; i < proofs; i++) {
        uint64_t m = 1 + ((uint64_t)rand_r(&seed) << 31 ^ (uint64_t)rand_r(&seed)) % (n - 1);
        double a = now_s();
        if (check(veil_ledger_root(l, m, other), "old root"))
            goto out;
        double b = now_s();
        if (check(veil_ledger_consistency_proof(l, m, n, &p), "consistency proof"))
            goto out;
        double c = now_s();
        if (check(veil_merkle_verify_consistency(m, n, other, root, &p), "verify consistency"))
            goto out;
        double d = now_s();
        samples[i] = (b - a) * 1e6;
        gen[i] = (c - b) * 1e6;
        ver[i] = (d - c) * 1e6;
    }
    printf("proof:    consistency m -> %llu: generate median %.1f us, verify median %.1f us; "
           "root at a past size median %.1f us\n",
           (unsigned long long)n, median(gen, proofs), median(ver, proofs),
           median(samples, proofs));
    rc = 0;
out:
    veil_buf_free(&e);
    veil_ledger_close(l);
    veil_sign_key_free(key);
    veil_free(samples);
    veil_free(gen);
    veil_free(ver);
    char path[320];
    static const char *const files[] = {"log.db", "log.db-wal", "log.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpl, files[i]);
        unlink(path);
    }
    rmdir(tmpl);
    return rc;
}
