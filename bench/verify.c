/* SEV-SNP verification benchmark: veil_snp_verify on a real Milan report
 * (google/go-sev-guest attestation.bin + its VCEK) with the chain cache warm
 * ("cached") and cleared before every call ("cold"), beside the one
 * operation a verifier cannot avoid: a bare ECDSA P-384/SHA-384 verification
 * of the 0x2A0 signed bytes with a pre-parsed key ("bare":
 * EVP_DigestVerifyInit + EVP_DigestVerify, digest fetched once, context
 * reused, signature pre-converted to DER).
 *
 * The three operations alternate within each round and each is timed on its
 * own, so drift and load hit all alike; the median of each is reported. The
 * run is bounded by a sample count and by wall time.
 *
 * usage: verify [--check MAX_RATIO] [--ms TOTAL_MS] [--samples N] [--testdata DIR]
 * --check exits 1 when cached/bare is above MAX_RATIO. The test data
 * directory defaults to $VEIL_TESTDATA_DIR, else ../shared/testdata beside
 * the source tree. */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "veil/attest.h"
#include "veil/mem.h"
#include "veil/snp.h"

#define SET "/attestation/snp-milan-v2-go-sev-guest/"
#define AT_2025_06_01 1748736000
#define MAX_SAMPLES 20000
#define READ_MAX (1 << 20)

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static uint8_t *read_file(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", dir, SET, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "verify: cannot open %s (pass --testdata DIR)\n", path);
        return NULL;
    }
    uint8_t *p = veil_calloc(READ_MAX, 1);
    *len = p ? fread(p, 1, READ_MAX, f) : 0;
    fclose(f);
    return p;
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

/* The bare baseline's state: key, DER signature, digest, reusable context. */
typedef struct bare {
    EVP_PKEY *key;
    EVP_MD *md;
    EVP_MD_CTX *ctx;
    unsigned char *sig;
    size_t sig_len;
    const uint8_t *msg;
} bare;

static int bare_init(bare *b, const uint8_t *report, const uint8_t *vcek, size_t vcek_len)
{
    const unsigned char *q = vcek;
    X509 *c = d2i_X509(NULL, &q, (long)vcek_len);
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_lebin2bn(report + 0x2A0, 72, NULL), *sv = BN_lebin2bn(report + 0x2E8, 72, NULL);
    int ok = c && s && r && sv && ECDSA_SIG_set0(s, r, sv);
    if (ok)
        r = sv = NULL;
    unsigned char *der = NULL;
    int n = ok ? i2d_ECDSA_SIG(s, &der) : 0;
    b->key = c ? X509_get_pubkey(c) : NULL;
    b->md = EVP_MD_fetch(NULL, "SHA2-384", NULL);
    b->ctx = EVP_MD_CTX_new();
    b->sig = der;
    b->sig_len = n > 0 ? (size_t)n : 0;
    b->msg = report;
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(s);
    X509_free(c);
    return b->key && b->md && b->ctx && b->sig_len > 0;
}

static int bare_verify(bare *b)
{
    return EVP_DigestVerifyInit(b->ctx, NULL, b->md, NULL, b->key) == 1 &&
           EVP_DigestVerify(b->ctx, b->sig, b->sig_len, b->msg, VEIL_SNP_SIGNED_SIZE) == 1;
}

static void bare_free(bare *b)
{
    EVP_MD_CTX_free(b->ctx);
    EVP_MD_free(b->md);
    EVP_PKEY_free(b->key);
    OPENSSL_free(b->sig);
}

static int veil_verify_once(const veil_snp_evidence *ev, const veil_snp_trust *t)
{
    veil_verdict v;
    veil_verdict_init(&v);
    return veil_ok(veil_snp_verify(ev, t, NULL, &v, NULL)) && veil_verdict_finish(&v);
}

static const char *default_testdata(void)
{
    static char dir[4096];
    const char *env = getenv("VEIL_TESTDATA_DIR");
    if (env && *env)
        return env;
    /* __FILE__ is <repo>/bench/verify.c; the data lives in <repo>/../shared/testdata */
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return "../shared/testdata";
    *slash = '\0';
    strncat(dir, "/../../shared/testdata", sizeof dir - strlen(dir) - 1);
    return dir;
}

int main(int argc, char **argv)
{
    double check = 0, total_ms = 4000;
    long samples = 400;
    const char *dir = default_testdata();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--check") && i + 1 < argc)
            check = atof(argv[++i]);
        else if (!strcmp(argv[i], "--ms") && i + 1 < argc)
            total_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--samples") && i + 1 < argc)
            samples = atol(argv[++i]);
        else if (!strcmp(argv[i], "--testdata") && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: verify [--check MAX_RATIO] [--ms TOTAL_MS] [--samples N] "
                            "[--testdata DIR]\n");
            return 2;
        }
    }
    if (samples < 1 || samples > MAX_SAMPLES || total_ms <= 0) {
        fprintf(stderr, "verify: --samples must be 1..%d and --ms positive\n", MAX_SAMPLES);
        return 2;
    }
    size_t rlen = 0, clen = 0;
    uint8_t *report = read_file(dir, "report.bin", &rlen);
    uint8_t *vcek = read_file(dir, "vcek.der", &clen);
    double *t_bare = veil_calloc((size_t)samples, sizeof(double));
    double *t_cached = veil_calloc((size_t)samples, sizeof(double));
    double *t_cold = veil_calloc((size_t)samples, sizeof(double));
    bare b = {0};
    int rc = 1;
    if (!report || !vcek || !t_bare || !t_cached || !t_cold || rlen < VEIL_SNP_REPORT_SIZE)
        goto out;
    if (!bare_init(&b, report, vcek, clen)) {
        fprintf(stderr, "verify: cannot set up the bare baseline\n");
        goto out;
    }
    veil_snp_evidence ev = {report, rlen, vcek, clen, NULL, 0, NULL, 0, NULL, 0};
    veil_snp_trust tr = {AT_2025_06_01, NULL, NULL, 0};
    /* Correctness first (also warms the pinned roots and the cache). */
    veil_snp_cache_clear();
    if (!bare_verify(&b) || !veil_verify_once(&ev, &tr) || !veil_verify_once(&ev, &tr)) {
        fprintf(stderr, "verify: the sample does not verify\n");
        goto out;
    }
    long n = 0;
    double start = now_us(), t0;
    while (n < samples && now_us() - start < total_ms * 1000) {
        int ok = 1;
        t0 = now_us();
        ok &= bare_verify(&b);
        t_bare[n] = now_us() - t0;
        t0 = now_us();
        ok &= veil_verify_once(&ev, &tr);
        t_cached[n] = now_us() - t0;
        t0 = now_us();
        veil_snp_cache_clear();
        ok &= veil_verify_once(&ev, &tr);
        t_cold[n] = now_us() - t0;
        if (!ok) {
            fprintf(stderr, "verify: a verification failed during timing\n");
            goto out;
        }
        n++;
    }
    double mb = median(t_bare, (size_t)n), mc = median(t_cached, (size_t)n),
           mo = median(t_cold, (size_t)n), ratio = mc / mb;
    printf("snp verify: Milan v2 report + VCEK (go-sev-guest), %ld samples each, median\n", n);
    printf("  bare ECDSA P-384/SHA-384 verify (EVP_DigestVerify, pre-parsed key): %9.1f us\n", mb);
    printf("  veil_snp_verify, cached chain:                                   %9.1f us\n", mc);
    printf("  veil_snp_verify, cold chain (cache cleared):                     %9.1f us\n", mo);
    printf("  ratio cached/bare: %.3f   cold/bare: %.2f\n", ratio, mo / mb);
    rc = 0;
    if (check > 0 && ratio > check) {
        printf("verify: FAIL cached/bare %.3f > %.3f\n", ratio, check);
        rc = 1;
    }
out:
    bare_free(&b);
    veil_snp_cache_clear();
    veil_free(report);
    veil_free(vcek);
    veil_free(t_bare);
    veil_free(t_cached);
    veil_free(t_cold);
    return rc;
}
