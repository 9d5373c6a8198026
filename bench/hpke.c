/* HPKE single-shot benchmark: veil_hpke_seal_once + veil_hpke_open_once
 * against the bare OpenSSL calls that base-mode HPKE cannot avoid.
 *
 * The "bare" side is a minimal, correct HPKE base-mode exchange written
 * straight on OpenSSL (its output is checked by veil_hpke_open_once before
 * timing starts), doing exactly this per seal+open (RFC 9180 §4.1, §5.1):
 *   sender:    1 key generation, 1 public-key export, 1 DH,
 *              ExtractAndExpand (1 extract + 1 expand),
 *              KeySchedule (3 extracts: psk_id_hash, info_hash, secret;
 *                           3 expands: key, base_nonce, exporter_secret),
 *              1 AEAD seal
 *   recipient: 1 public-key import, 1 DH, the same 4 extracts + 4 expands,
 *              1 AEAD open
 * HKDF runs on EVP_KDF "HKDF" fetched once, the cipher is fetched once, and
 * the recipient's key pair is pre-generated, as on the veil side.
 *
 * The two sides alternate operation by operation within each round (each
 * operation timed on its own), and each side reports its best round, so
 * drift and load from elsewhere hit both alike. Every round is bounded by an
 * iteration count and by time.
 *
 * usage: hpke [--json] [--check MIN_RATIO] [--ms MS_PER_MEASUREMENT] [--rounds N]
 *             [--suite NAME] [--side veil|bare] [--wall]
 * --check exits 1 when any X25519 ratio (veil/bare) is below MIN_RATIO. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "veil/hpke.h"
#include "veil/mem.h"

#define MSG_LEN 1024
#define MAX_ITERS 1000000

typedef struct bench_suite {
    const char *name;
    veil_hpke_suite suite;
    int ec;            /* NIST curve (else X25519) */
    const char *group; /* "P-256" / "P-384" / "X25519" */
    const char *md;    /* KDF digest (the KEM's KDF is the same here) */
    size_t nh, nsecret, npk, ndh, nk;
    const char *cipher;
} bench_suite;

static const bench_suite suites[] = {
    {"x25519-sha256-aes128gcm",
     {VEIL_HPKE_KEM_X25519, VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_AES128GCM},
     0,
     "X25519",
     "SHA256",
     32,
     32,
     32,
     32,
     16,
     "AES-128-GCM"},
    {"p256-sha256-aes128gcm",
     {VEIL_HPKE_KEM_P256, VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_AES128GCM},
     1,
     "P-256",
     "SHA256",
     32,
     32,
     65,
     32,
     16,
     "AES-128-GCM"},
    {"p384-sha384-aes256gcm",
     {VEIL_HPKE_KEM_P384, VEIL_HPKE_KDF_SHA384, VEIL_HPKE_AEAD_AES256GCM},
     1,
     "P-384",
     "SHA384",
     48,
     48,
     97,
     48,
     32,
     "AES-256-GCM"},
};
#define NSUITES (sizeof suites / sizeof suites[0])

static EVP_KDF *g_kdf;

/* Each operation is timed on this thread's CPU clock by default, so time the
 * scheduler gives to other processes on a busy machine is not charged to
 * whichever side happened to be running (on an idle machine it equals the
 * wall clock); --wall uses CLOCK_MONOTONIC instead. */
static clockid_t g_clock = CLOCK_THREAD_CPUTIME_ID;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "hpke bench: %s failed\n", what);
    exit(2);
}

/* ---- Bare OpenSSL HPKE (base mode, empty info and aad) ------------------ */

static void hkdf(const char *md, int mode, const uint8_t *key, size_t key_len, const uint8_t *salt,
                 size_t salt_len, const uint8_t *info, size_t info_len, uint8_t *out,
                 size_t out_len)
{
    OSSL_PARAM params[6], *p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0);
    *p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len);
    if (salt_len)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    if (info_len)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    *p = OSSL_PARAM_construct_end();
    EVP_KDF_CTX *c = EVP_KDF_CTX_new(g_kdf);
    if (!c || EVP_KDF_derive(c, out, out_len, params) <= 0)
        die("HKDF");
    EVP_KDF_CTX_free(c);
}

/* LabeledExtract / LabeledExpand (RFC 9180 §4) */
static void lextract(const bench_suite *s, const uint8_t *sid, size_t sid_len, const uint8_t *salt,
                     size_t salt_len, const char *label, const uint8_t *ikm, size_t ikm_len,
                     uint8_t *out)
{
    uint8_t buf[512];
    size_t n = 0, ll = strlen(label);
    memcpy(buf, "HPKE-v1", 7), n = 7;
    memcpy(buf + n, sid, sid_len), n += sid_len;
    memcpy(buf + n, label, ll), n += ll;
    if (ikm_len)
        memcpy(buf + n, ikm, ikm_len), n += ikm_len;
    hkdf(s->md, EVP_KDF_HKDF_MODE_EXTRACT_ONLY, buf, n, salt, salt_len, NULL, 0, out, s->nh);
}

static void lexpand(const bench_suite *s, const uint8_t *sid, size_t sid_len, const uint8_t *prk,
                    const char *label, const uint8_t *info, size_t info_len, uint8_t *out, size_t L)
{
    uint8_t buf[512];
    size_t n = 0, ll = strlen(label);
    buf[0] = (uint8_t)(L >> 8), buf[1] = (uint8_t)L, n = 2;
    memcpy(buf + n, "HPKE-v1", 7), n += 7;
    memcpy(buf + n, sid, sid_len), n += sid_len;
    memcpy(buf + n, label, ll), n += ll;
    memcpy(buf + n, info, info_len), n += info_len;
    hkdf(s->md, EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, s->nh, NULL, 0, buf, n, out, L);
}

/* DH, then ExtractAndExpand, then the base-mode KeySchedule: key, nonce. */
static void bare_kem_and_schedule(const bench_suite *s, EVP_PKEY *priv, EVP_PKEY *peer,
                                  const uint8_t *enc, const uint8_t *pkrm, uint8_t *key,
                                  uint8_t *nonce)
{
    uint8_t dh[66], kem_ctx[2 * 97], prk[64], ss[64], ksc[1 + 2 * 64], secret[64], exp[64];
    uint8_t ksid[5] = {'K', 'E', 'M', (uint8_t)(s->suite.kem >> 8), (uint8_t)s->suite.kem};
    uint8_t hsid[10] = {'H',
                        'P',
                        'K',
                        'E',
                        (uint8_t)(s->suite.kem >> 8),
                        (uint8_t)s->suite.kem,
                        (uint8_t)(s->suite.kdf >> 8),
                        (uint8_t)s->suite.kdf,
                        (uint8_t)(s->suite.aead >> 8),
                        (uint8_t)s->suite.aead};
    size_t dh_len = sizeof dh;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    if (!c || EVP_PKEY_derive_init(c) <= 0 || EVP_PKEY_derive_set_peer_ex(c, peer, 0) <= 0 ||
        EVP_PKEY_derive(c, dh, &dh_len) <= 0 || dh_len != s->ndh)
        die("DH");
    EVP_PKEY_CTX_free(c);
    memcpy(kem_ctx, enc, s->npk);
    memcpy(kem_ctx + s->npk, pkrm, s->npk);
    lextract(s, ksid, 5, NULL, 0, "eae_prk", dh, s->ndh, prk);
    lexpand(s, ksid, 5, prk, "shared_secret", kem_ctx, 2 * s->npk, ss, s->nsecret);
    ksc[0] = 0;
    lextract(s, hsid, 10, NULL, 0, "psk_id_hash", NULL, 0, ksc + 1);
    lextract(s, hsid, 10, NULL, 0, "info_hash", NULL, 0, ksc + 1 + s->nh);
    lextract(s, hsid, 10, ss, s->nsecret, "secret", NULL, 0, secret);
    lexpand(s, hsid, 10, secret, "key", ksc, 1 + 2 * s->nh, key, s->nk);
    lexpand(s, hsid, 10, secret, "base_nonce", ksc, 1 + 2 * s->nh, nonce, 12);
    lexpand(s, hsid, 10, secret, "exp", ksc, 1 + 2 * s->nh, exp, s->nh);
}

typedef struct bare_keys {
    EVP_PKEY *sk_r; /* recipient key pair */
    EVP_PKEY *pk_r; /* recipient public key alone */
    uint8_t pkrm[97];
    const EVP_CIPHER *cipher;
} bare_keys;

static void export_pub(const bench_suite *s, EVP_PKEY *k, uint8_t *out)
{
    size_t len = s->npk;
    int ok = s->ec ? EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, out, s->npk, &len)
                   : EVP_PKEY_get_raw_public_key(k, out, &len);
    if (ok <= 0 || len != s->npk)
        die("public key export");
}

static EVP_PKEY *import_pub(const bench_suite *s, const uint8_t *pk)
{
    EVP_PKEY *k = NULL;
    if (!s->ec)
        return EVP_PKEY_new_raw_public_key_ex(NULL, s->group, NULL, pk, s->npk);
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)s->group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pk, s->npk);
    params[2] = OSSL_PARAM_construct_end();
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!c || EVP_PKEY_fromdata_init(c) <= 0 ||
        EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        k = NULL;
    EVP_PKEY_CTX_free(c);
    return k;
}

static EVP_PKEY *keygen(const bench_suite *s)
{
    return s->ec ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", s->group)
                 : EVP_PKEY_Q_keygen(NULL, NULL, s->group);
}

static void bare_seal(const bench_suite *s, const bare_keys *k, const uint8_t *pt, uint8_t *enc,
                      uint8_t *ct)
{
    uint8_t key[32], nonce[12];
    int l = 0;
    EVP_PKEY *eph = keygen(s);
    if (!eph)
        die("keygen");
    export_pub(s, eph, enc);
    bare_kem_and_schedule(s, eph, k->pk_r, enc, k->pkrm, key, nonce);
    EVP_PKEY_free(eph);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c || EVP_EncryptInit_ex2(c, k->cipher, key, nonce, NULL) <= 0 ||
        EVP_EncryptUpdate(c, ct, &l, pt, MSG_LEN) <= 0 || EVP_EncryptFinal_ex(c, ct + l, &l) <= 0 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, ct + MSG_LEN) <= 0)
        die("seal");
    EVP_CIPHER_CTX_free(c);
}

static void bare_open(const bench_suite *s, const bare_keys *k, const uint8_t *enc,
                      const uint8_t *ct, uint8_t *pt)
{
    uint8_t key[32], nonce[12];
    int l = 0;
    EVP_PKEY *pk_e = import_pub(s, enc);
    if (!pk_e)
        die("import");
    bare_kem_and_schedule(s, k->sk_r, pk_e, enc, k->pkrm, key, nonce);
    EVP_PKEY_free(pk_e);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c || EVP_DecryptInit_ex2(c, k->cipher, key, nonce, NULL) <= 0 ||
        EVP_DecryptUpdate(c, pt, &l, ct, MSG_LEN) <= 0 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(ct + MSG_LEN)) <= 0 ||
        EVP_DecryptFinal_ex(c, pt + l, &l) <= 0)
        die("open");
    EVP_CIPHER_CTX_free(c);
}

/* ---- Measurement --------------------------------------------------------- */

typedef struct ctx {
    const bench_suite *s;
    veil_hpke_key *sk_r, *pk_r;
    bare_keys bare;
    veil_hpke_params params;
    uint8_t pt[MSG_LEN], ct[MSG_LEN + 16], out[MSG_LEN], enc[VEIL_HPKE_MAX_ENC];
} ctx;

static void veil_once(ctx *c)
{
    size_t enc_len = 0, ct_len = 0, pt_len = 0;
    if (!veil_ok(veil_hpke_seal_once(&c->params, c->pk_r, NULL, 0, c->pt, MSG_LEN, c->enc,
                                     sizeof c->enc, &enc_len, c->ct, sizeof c->ct, &ct_len)) ||
        !veil_ok(veil_hpke_open_once(&c->params, c->sk_r, c->enc, enc_len, NULL, 0, c->ct, ct_len,
                                     c->out, sizeof c->out, &pt_len)) ||
        pt_len != MSG_LEN)
        die("veil seal+open");
}

static void bare_once(ctx *c)
{
    bare_seal(c->s, &c->bare, c->pt, c->enc, c->ct);
    bare_open(c->s, &c->bare, c->enc, c->ct, c->out);
}

/* One round: the two sides alternate operation by operation (veil, bare,
 * bare, veil, ...), each operation timed on its own, so a burst of load
 * from elsewhere lands on both sides alike. Runs until the round has used
 * `secs` of measured time, MAX_ITERS pairs, or 4*secs of wall-clock time.
 * A side that is not run reports 0. */
static void round_rates(ctx *c, double secs, int run_veil, int run_bare, double *veil_rate,
                        double *bare_rate)
{
    const double w0 = clock_s(CLOCK_MONOTONIC);
    double tv = 0, tb = 0;
    long n = 0;
    while (n < MAX_ITERS && tv + tb < secs && clock_s(CLOCK_MONOTONIC) - w0 < 4 * secs) {
        for (int k = 0; k < 2; k++) {
            const int veil_turn = (k == 0) == (n % 2 == 0);
            if (veil_turn ? !run_veil : !run_bare)
                continue;
            double t0 = clock_s(g_clock);
            if (veil_turn)
                veil_once(c);
            else
                bare_once(c);
            double dt = clock_s(g_clock) - t0;
            if (veil_turn)
                tv += dt;
            else
                tb += dt;
        }
        n++;
    }
    *veil_rate = tv > 0 ? n / tv : 0;
    *bare_rate = tb > 0 ? n / tb : 0;
}

static void setup(ctx *c, const bench_suite *s)
{
    uint8_t sk[VEIL_HPKE_MAX_SK];
    size_t len = 0;
    memset(c, 0, sizeof *c);
    c->s = s;
    for (size_t i = 0; i < MSG_LEN; i++)
        c->pt[i] = (uint8_t)i;
    c->params.suite = s->suite;
    c->params.mode = VEIL_HPKE_MODE_BASE;
    /* One recipient key pair, held by both sides. */
    if (!veil_ok(veil_hpke_key_generate(s->suite.kem, &c->sk_r)) ||
        !veil_ok(veil_hpke_key_public(c->sk_r, c->bare.pkrm, sizeof c->bare.pkrm, &len)) ||
        !veil_ok(veil_hpke_key_from_public(s->suite.kem, c->bare.pkrm, len, &c->pk_r)) ||
        !veil_ok(veil_hpke_key_private(c->sk_r, sk, sizeof sk, &len)))
        die("key setup");
    if (s->ec) {
        /* The bare recipient key pair: the same scalar, via fromdata. */
        BIGNUM *d = BN_bin2bn(sk, (int)len, NULL);
        OSSL_PARAM params[4];
        uint8_t dle[66];
        if (!d || BN_bn2nativepad(d, dle, (int)len) <= 0)
            die("scalar");
        params[0] =
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)s->group, 0);
        params[1] =
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, c->bare.pkrm, s->npk);
        params[2] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, dle, len);
        params[3] = OSSL_PARAM_construct_end();
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (!pc || EVP_PKEY_fromdata_init(pc) <= 0 ||
            EVP_PKEY_fromdata(pc, &c->bare.sk_r, EVP_PKEY_KEYPAIR, params) <= 0)
            die("EC key import");
        EVP_PKEY_CTX_free(pc);
        BN_free(d);
    } else {
        c->bare.sk_r = EVP_PKEY_new_raw_private_key_ex(NULL, s->group, NULL, sk, len);
    }
    c->bare.pk_r = import_pub(s, c->bare.pkrm);
    c->bare.cipher = EVP_CIPHER_fetch(NULL, s->cipher, NULL);
    if (!c->bare.sk_r || !c->bare.pk_r || !c->bare.cipher)
        die("bare setup");

    /* The baseline must be real HPKE: veil opens what it sealed. */
    size_t pt_len = 0;
    bare_seal(s, &c->bare, c->pt, c->enc, c->ct);
    if (!veil_ok(veil_hpke_open_once(&c->params, c->sk_r, c->enc, s->npk, NULL, 0, c->ct,
                                     MSG_LEN + 16, c->out, sizeof c->out, &pt_len)) ||
        !veil_public_equal(c->out, pt_len, c->pt, MSG_LEN))
        die("cross-check of the bare baseline against veil");
    veil_once(c);
    bare_once(c);
}

static void teardown(ctx *c)
{
    veil_hpke_key_free(c->sk_r);
    veil_hpke_key_free(c->pk_r);
    EVP_PKEY_free(c->bare.sk_r);
    EVP_PKEY_free(c->bare.pk_r);
    EVP_CIPHER_free((EVP_CIPHER *)c->bare.cipher);
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--json] [--check MIN_RATIO] [--ms MS] [--rounds N] [--suite NAME]\n"
            "          [--side veil|bare] [--wall]\n"
            "  --check R   exit 1 if an X25519 ratio (veil/bare) is below R\n"
            "  --ms MS     measured time per round (default 250); --rounds N (default 8)\n"
            "  --side S    run only one side (for profiling with perf)\n"
            "  --wall      time with the wall clock instead of thread CPU time\n",
            argv0);
    return 2;
}

int main(int argc, char **argv)
{
    int json = 0, rounds = 8, run_veil = 1, run_bare = 1;
    double check = 0, ms = 250;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--wall"))
            g_clock = CLOCK_MONOTONIC;
        else if (!strcmp(argv[i], "--check") && i + 1 < argc)
            check = atof(argv[++i]);
        else if (!strcmp(argv[i], "--ms") && i + 1 < argc)
            ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--suite") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--side") && i + 1 < argc) {
            const char *side = argv[++i];
            run_veil = !strcmp(side, "veil");
            run_bare = !strcmp(side, "bare");
            if (!run_veil && !run_bare)
                return usage(argv[0]);
        } else
            return usage(argv[0]);
    }
    if (rounds < 1 || rounds > 100 || ms < 1 || ms > 10000) {
        fprintf(stderr, "hpke bench: --rounds must be 1..100 and --ms 1..10000\n");
        return 2;
    }
    int known = !only;
    for (size_t i = 0; i < NSUITES; i++)
        known |= only && !strcmp(only, suites[i].name);
    if (!known) {
        fprintf(stderr, "hpke bench: unknown suite %s\n", only);
        return 2;
    }
    g_kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (!g_kdf)
        die("HKDF fetch");

    int pass = 1, first = 1;
    double veil_best[NSUITES] = {0}, bare_best[NSUITES] = {0};
    static ctx c;
    if (!json)
        printf("# single-shot seal+open, %d-byte message, best of %d rounds of %.0f ms, sides "
               "alternating per operation (%s)\n",
               MSG_LEN, rounds, ms, g_clock == CLOCK_MONOTONIC ? "wall clock" : "thread CPU time");
    for (size_t i = 0; i < NSUITES; i++) {
        if (only && strcmp(only, suites[i].name) != 0)
            continue;
        setup(&c, &suites[i]);
        for (int r = 0; r < rounds; r++) {
            double v = 0, b = 0;
            round_rates(&c, ms / 1000, run_veil, run_bare, &v, &b);
            veil_best[i] = v > veil_best[i] ? v : veil_best[i];
            bare_best[i] = b > bare_best[i] ? b : bare_best[i];
        }
        teardown(&c);
        double ratio = bare_best[i] > 0 ? veil_best[i] / bare_best[i] : 0;
        if (check > 0 && !suites[i].ec && ratio < check)
            pass = 0;
        if (!json)
            printf("%s 1KiB seal+open: veil %.0f op/s, bare openssl %.0f op/s, ratio %.2f\n",
                   suites[i].name, veil_best[i], bare_best[i], ratio);
    }
    if (json) {
        printf("{\"message_bytes\":%d,\"rounds\":%d,\"ms_per_measurement\":%.0f,"
               "\"clock\":\"%s\",\"results\":[",
               MSG_LEN, rounds, ms, g_clock == CLOCK_MONOTONIC ? "wall" : "thread_cpu");
        for (size_t i = 0; i < NSUITES; i++) {
            if (only && strcmp(only, suites[i].name) != 0)
                continue;
            printf("%s{\"suite\":\"%s\",\"veil_ops_per_s\":%.0f,\"bare_openssl_ops_per_s\":%.0f,"
                   "\"ratio\":%.4f}",
                   first ? "" : ",", suites[i].name, veil_best[i], bare_best[i],
                   bare_best[i] > 0 ? veil_best[i] / bare_best[i] : 0);
            first = 0;
        }
        printf("]");
        if (check > 0)
            printf(",\"check\":%.3f,\"pass\":%s", check, pass ? "true" : "false");
        printf("}\n");
    } else if (check > 0) {
        printf("check: X25519 ratio >= %.2f: %s\n", check, pass ? "pass" : "FAIL");
    }
    EVP_KDF_free(g_kdf);
    return pass ? 0 : 1;
}
