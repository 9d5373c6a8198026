/* HPKE (RFC 9180): the official test vectors, round trips for every suite and
 * mode veil implements (including P-384 and HKDF-SHA384, which the vectors
 * lack), and negative cases: authentication failures leave the context
 * usable, the sequence number never wraps, PSK/auth inputs are checked,
 * invalid public keys are refused. Also the raw primitives (RFC 5869 HKDF,
 * AEAD) that the OHTTP layer uses. */
#include <stdio.h>
#include <string.h>

#include "crypto/hpke_internal.h"
#include "crypto/primitives.h"
#include "testutil.h"
#include "veil/mem.h"
#include "veil/selftest.h"

static const uint16_t all_kems[] = {VEIL_HPKE_KEM_P256, VEIL_HPKE_KEM_P384, VEIL_HPKE_KEM_P521,
                                    VEIL_HPKE_KEM_X25519, VEIL_HPKE_KEM_X448};
static const uint16_t all_kdfs[] = {VEIL_HPKE_KDF_SHA256, VEIL_HPKE_KDF_SHA384,
                                    VEIL_HPKE_KDF_SHA512};
static const uint16_t all_aeads[] = {VEIL_HPKE_AEAD_AES128GCM, VEIL_HPKE_AEAD_AES256GCM,
                                     VEIL_HPKE_AEAD_CHACHA20POLY1305, VEIL_HPKE_AEAD_EXPORT_ONLY};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const uint8_t psk[32] = "0123456789abcdef0123456789abcde";
static const uint8_t psk_id[] = "veil test psk";
static const uint8_t info[] = "veil hpke test info";
static const uint8_t aad[] = "associated data";
static const uint8_t msg[] = "a message that is not too short, not too long";

static void print_failure(void *arg, const char *name, const char *why)
{
    print_error("FAIL %s: %s\n", name, why);
}

static void assert_err(veil_result r, veil_errclass cls)
{
    if (r.cls != cls)
        fail_msg("expected %s error, got %s: %s", veil_errclass_name(cls),
                 veil_errclass_name(r.cls), r.msg ? r.msg : "(ok)");
}

/* ---- RFC 9180 vectors ---------------------------------------------------- */

static void test_rfc9180_vectors(void **state)
{
    size_t len = 0;
    char *json = tu_read_testdata("hpke/test-vectors.json", &len);
    veil_selftest_report rep = {0, 0, print_failure, NULL};
    tu_ok(veil_selftest_hpke_json(json, len, &rep));
    tu_free(json);
    assert_int_equal(rep.failed, 0);
    assert_int_equal(rep.passed, 128);
}

static void test_vector_file_format_errors(void **state)
{
    veil_selftest_report rep = {0, 0, NULL, NULL};
    static const char *bad[] = {"",
                                "{}",
                                "[]",
                                "[1]",
                                "[{\"mode\":0}]",
                                "[{\"mode\":0,\"kem_id\":32,\"kdf_id\":1,\"aead_id\":\"x\"}]"};
    for (size_t i = 0; i < COUNT(bad); i++)
        assert_false(veil_ok(veil_selftest_hpke_json(bad[i], strlen(bad[i]), &rep)));
    assert_int_equal(rep.passed + rep.failed, 0);
    /* Well-formed but incomplete case: one failure, not an error. */
    const char *one = "[{\"mode\":0,\"kem_id\":32,\"kdf_id\":1,\"aead_id\":1}]";
    tu_ok(veil_selftest_hpke_json(one, strlen(one), &rep));
    assert_int_equal(rep.failed, 1);
    assert_int_equal(rep.passed, 0);
}

/* ---- Round trips ---------------------------------------------------------- */

typedef struct pair {
    veil_hpke_key *r;   /* recipient key pair */
    veil_hpke_key *r_p; /* recipient public key, deserialised */
    veil_hpke_key *s;   /* sender auth key pair */
    veil_hpke_key *s_p; /* sender public key, deserialised */
} pair;

static void pair_make(pair *p, uint16_t kem)
{
    uint8_t pk[VEIL_HPKE_MAX_PK];
    size_t pk_len = 0;
    tu_ok(veil_hpke_key_generate(kem, &p->r));
    tu_ok(veil_hpke_key_public(p->r, pk, sizeof pk, &pk_len));
    assert_int_equal(pk_len, veil_hpke_kem_info_get(kem)->n_pk);
    tu_ok(veil_hpke_key_from_public(kem, pk, pk_len, &p->r_p));
    assert_false(veil_hpke_key_has_private(p->r_p));
    tu_ok(veil_hpke_key_generate(kem, &p->s));
    tu_ok(veil_hpke_key_public(p->s, pk, sizeof pk, &pk_len));
    tu_ok(veil_hpke_key_from_public(kem, pk, pk_len, &p->s_p));
}

static void pair_free(pair *p)
{
    veil_hpke_key_free(p->r);
    veil_hpke_key_free(p->r_p);
    veil_hpke_key_free(p->s);
    veil_hpke_key_free(p->s_p);
}

static veil_hpke_params params_for(veil_hpke_suite suite, uint8_t mode, const veil_hpke_key *auth)
{
    const int with_psk = mode == VEIL_HPKE_MODE_PSK || mode == VEIL_HPKE_MODE_AUTH_PSK;
    const int with_auth = mode == VEIL_HPKE_MODE_AUTH || mode == VEIL_HPKE_MODE_AUTH_PSK;
    veil_hpke_params p = {.suite = suite, .mode = mode, .info = info, .info_len = sizeof info};
    if (with_psk) {
        p.psk = psk, p.psk_len = sizeof psk;
        p.psk_id = psk_id, p.psk_id_len = sizeof psk_id;
    }
    p.auth_key = with_auth ? auth : NULL;
    return p;
}

static void roundtrip_one(veil_hpke_suite suite, uint8_t mode, const pair *kp)
{
    uint8_t enc[VEIL_HPKE_MAX_ENC], ct[sizeof msg + VEIL_HPKE_TAG_LEN], pt[sizeof msg];
    uint8_t ex_s[100], ex_r[100];
    size_t enc_len = 0, ct_len = 0, pt_len = 0;
    veil_hpke_ctx *s = NULL, *r = NULL;
    veil_hpke_params ps = params_for(suite, mode, kp->s);
    veil_hpke_params pr = params_for(suite, mode, kp->s_p);

    tu_ok(veil_hpke_setup_sender(&ps, kp->r_p, enc, sizeof enc, &enc_len, &s));
    assert_int_equal(enc_len, veil_hpke_kem_info_get(suite.kem)->n_enc);
    tu_ok(veil_hpke_setup_recipient(&pr, kp->r, enc, enc_len, &r));
    assert_memory_equal(veil_hpke_ctx_suite(s), &suite, sizeof suite);

    tu_ok(veil_hpke_export(s, (const uint8_t *)"ctx", 3, ex_s, sizeof ex_s));
    tu_ok(veil_hpke_export(r, (const uint8_t *)"ctx", 3, ex_r, sizeof ex_r));
    assert_memory_equal(ex_s, ex_r, sizeof ex_s);

    if (suite.aead == VEIL_HPKE_AEAD_EXPORT_ONLY) {
        assert_err(veil_hpke_seal(s, aad, sizeof aad, msg, sizeof msg, ct, sizeof ct, &ct_len),
                   VEIL_E_USAGE);
        assert_err(veil_hpke_seal_once(&ps, kp->r_p, aad, sizeof aad, msg, sizeof msg, enc,
                                       sizeof enc, &enc_len, ct, sizeof ct, &ct_len),
                   VEIL_E_USAGE);
    } else {
        for (int i = 0; i < 3; i++) {
            tu_ok(veil_hpke_seal(s, aad, sizeof aad, msg, sizeof msg, ct, sizeof ct, &ct_len));
            assert_int_equal(ct_len, sizeof msg + VEIL_HPKE_TAG_LEN);
            tu_ok(veil_hpke_open(r, aad, sizeof aad, ct, ct_len, pt, sizeof pt, &pt_len));
            tu_assert_bytes(pt, pt_len, msg, sizeof msg);
        }
        /* Single-shot. */
        tu_ok(veil_hpke_seal_once(&ps, kp->r_p, aad, sizeof aad, msg, sizeof msg, enc, sizeof enc,
                                  &enc_len, ct, sizeof ct, &ct_len));
        tu_ok(veil_hpke_open_once(&pr, kp->r, enc, enc_len, aad, sizeof aad, ct, ct_len, pt,
                                  sizeof pt, &pt_len));
        tu_assert_bytes(pt, pt_len, msg, sizeof msg);
    }
    veil_hpke_ctx_free(s);
    veil_hpke_ctx_free(r);
}

static void test_roundtrip_every_suite_and_mode(void **state)
{
    size_t n = 0;
    for (size_t k = 0; k < COUNT(all_kems); k++) {
        pair kp = {0};
        pair_make(&kp, all_kems[k]);
        for (size_t d = 0; d < COUNT(all_kdfs); d++)
            for (size_t a = 0; a < COUNT(all_aeads); a++)
                for (uint8_t mode = 0; mode <= VEIL_HPKE_MODE_AUTH_PSK; mode++) {
                    veil_hpke_suite suite = {all_kems[k], all_kdfs[d], all_aeads[a]};
                    tu_ok(veil_hpke_suite_check(&suite));
                    roundtrip_one(suite, mode, &kp);
                    n++;
                }
        pair_free(&kp);
    }
    assert_int_equal(n, 5 * 3 * 4 * 4);
}

/* DeriveKeyPair is deterministic and its keys reload from their encodings. */
static void test_derive_and_serialize(void **state)
{
    uint8_t ikm[80];
    for (size_t i = 0; i < sizeof ikm; i++)
        ikm[i] = (uint8_t)i;
    for (size_t k = 0; k < COUNT(all_kems); k++) {
        const veil_hpke_kem_info *ki = veil_hpke_kem_info_get(all_kems[k]);
        veil_hpke_key *a = NULL, *b = NULL, *c = NULL;
        uint8_t sk1[VEIL_HPKE_MAX_SK], sk2[VEIL_HPKE_MAX_SK], pk1[VEIL_HPKE_MAX_PK],
            pk2[VEIL_HPKE_MAX_PK];
        size_t l1, l2, m1, m2;
        assert_non_null(ki);
        tu_ok(veil_hpke_key_derive(all_kems[k], ikm, ki->n_sk, &a));
        tu_ok(veil_hpke_key_derive(all_kems[k], ikm, ki->n_sk, &b));
        tu_ok(veil_hpke_key_private(a, sk1, sizeof sk1, &l1));
        tu_ok(veil_hpke_key_private(b, sk2, sizeof sk2, &l2));
        tu_assert_bytes(sk1, l1, sk2, l2);
        assert_int_equal(l1, ki->n_sk);
        tu_ok(veil_hpke_key_from_private(all_kems[k], sk1, l1, &c));
        tu_ok(veil_hpke_key_public(a, pk1, sizeof pk1, &m1));
        tu_ok(veil_hpke_key_public(c, pk2, sizeof pk2, &m2));
        tu_assert_bytes(pk1, m1, pk2, m2);
        assert_int_equal(veil_hpke_key_kem(c), all_kems[k]);
        assert_true(veil_hpke_key_has_private(c));
        /* Short ikm and small output buffers are usage errors. */
        veil_hpke_key *x = NULL;
        assert_err(veil_hpke_key_derive(all_kems[k], ikm, ki->n_sk - 1, &x), VEIL_E_USAGE);
        assert_null(x);
        assert_err(veil_hpke_key_public(a, pk1, ki->n_pk - 1, &m1), VEIL_E_USAGE);
        veil_hpke_key_free(a);
        veil_hpke_key_free(b);
        veil_hpke_key_free(c);
    }
}

/* ---- Negative cases -------------------------------------------------------- */

typedef struct chan {
    pair kp;
    veil_hpke_ctx *s, *r;
    veil_hpke_suite suite;
} chan;

static void chan_open(chan *c, veil_hpke_suite suite)
{
    uint8_t enc[VEIL_HPKE_MAX_ENC];
    size_t enc_len = 0;
    memset(c, 0, sizeof *c);
    c->suite = suite;
    pair_make(&c->kp, suite.kem);
    veil_hpke_params p = params_for(suite, VEIL_HPKE_MODE_BASE, NULL);
    tu_ok(veil_hpke_setup_sender(&p, c->kp.r_p, enc, sizeof enc, &enc_len, &c->s));
    tu_ok(veil_hpke_setup_recipient(&p, c->kp.r, enc, enc_len, &c->r));
}

static void chan_close(chan *c)
{
    veil_hpke_ctx_free(c->s);
    veil_hpke_ctx_free(c->r);
    pair_free(&c->kp);
}

static const veil_hpke_suite x25519_suite = {VEIL_HPKE_KEM_X25519, VEIL_HPKE_KDF_SHA256,
                                             VEIL_HPKE_AEAD_AES128GCM};

static void all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(p[i], 0);
}

static void test_open_failures_keep_context_usable(void **state)
{
    chan c;
    uint8_t ct[sizeof msg + VEIL_HPKE_TAG_LEN], bad[sizeof ct], pt[sizeof msg];
    size_t ct_len = 0, pt_len = 99;
    chan_open(&c, x25519_suite);
    tu_ok(veil_hpke_seal(c.s, aad, sizeof aad, msg, sizeof msg, ct, sizeof ct, &ct_len));

    /* Tampered ciphertext, tampered tag, wrong aad, truncated: each fails,
     * zeroes pt and leaves seq alone. */
    for (int k = 0; k < 4; k++) {
        const uint8_t *a = aad;
        size_t a_len = sizeof aad, len = ct_len;
        memcpy(bad, ct, ct_len);
        if (k == 0)
            bad[3] ^= 1;
        else if (k == 1)
            bad[ct_len - 1] ^= 0x80;
        else if (k == 2)
            a_len--;
        else
            len = VEIL_HPKE_TAG_LEN - 1;
        memset(pt, 0xAA, sizeof pt);
        veil_result r = veil_hpke_open(c.r, a, a_len, bad, len, pt, sizeof pt, &pt_len);
        assert_err(r, VEIL_E_CRYPTO);
        assert_int_equal(pt_len, 0);
        all_zero(pt, sizeof pt);
    }
    /* The next correct open still works: seq did not move. */
    tu_ok(veil_hpke_open(c.r, aad, sizeof aad, ct, ct_len, pt, sizeof pt, &pt_len));
    tu_assert_bytes(pt, pt_len, msg, sizeof msg);
    /* Replaying the same ciphertext now fails (seq moved to 1). */
    assert_err(veil_hpke_open(c.r, aad, sizeof aad, ct, ct_len, pt, sizeof pt, &pt_len),
               VEIL_E_CRYPTO);

    /* A recipient context cannot seal, a sender context cannot open. */
    assert_err(veil_hpke_seal(c.r, NULL, 0, msg, sizeof msg, ct, sizeof ct, &ct_len), VEIL_E_USAGE);
    assert_err(veil_hpke_open(c.s, NULL, 0, ct, ct_len, pt, sizeof pt, &pt_len), VEIL_E_USAGE);
    /* Buffer too small. */
    assert_err(veil_hpke_seal(c.s, NULL, 0, msg, sizeof msg, ct, sizeof msg, &ct_len),
               VEIL_E_USAGE);
    chan_close(&c);
}

static void test_wrong_recipient_key(void **state)
{
    pair kp = {0}, other = {0};
    uint8_t enc[VEIL_HPKE_MAX_ENC], ct[sizeof msg + VEIL_HPKE_TAG_LEN], pt[sizeof msg];
    size_t enc_len = 0, ct_len = 0, pt_len = 0;
    veil_hpke_params p = params_for(x25519_suite, VEIL_HPKE_MODE_BASE, NULL);
    pair_make(&kp, VEIL_HPKE_KEM_X25519);
    pair_make(&other, VEIL_HPKE_KEM_X25519);
    tu_ok(veil_hpke_seal_once(&p, kp.r_p, aad, sizeof aad, msg, sizeof msg, enc, sizeof enc,
                              &enc_len, ct, sizeof ct, &ct_len));
    memset(pt, 0xAA, sizeof pt);
    assert_err(veil_hpke_open_once(&p, other.r, enc, enc_len, aad, sizeof aad, ct, ct_len, pt,
                                   sizeof pt, &pt_len),
               VEIL_E_CRYPTO);
    all_zero(pt, sizeof pt);
    /* Wrong sender key in auth mode. */
    veil_hpke_params ps = params_for(x25519_suite, VEIL_HPKE_MODE_AUTH, kp.s);
    veil_hpke_params pr = params_for(x25519_suite, VEIL_HPKE_MODE_AUTH, other.s_p);
    tu_ok(veil_hpke_seal_once(&ps, kp.r_p, aad, sizeof aad, msg, sizeof msg, enc, sizeof enc,
                              &enc_len, ct, sizeof ct, &ct_len));
    assert_err(veil_hpke_open_once(&pr, kp.r, enc, enc_len, aad, sizeof aad, ct, ct_len, pt,
                                   sizeof pt, &pt_len),
               VEIL_E_CRYPTO);
    pr.auth_key = kp.s_p;
    tu_ok(veil_hpke_open_once(&pr, kp.r, enc, enc_len, aad, sizeof aad, ct, ct_len, pt, sizeof pt,
                              &pt_len));
    pair_free(&kp);
    pair_free(&other);
}

static void test_sequence_number_never_wraps(void **state)
{
    chan c;
    uint8_t ct[sizeof msg + VEIL_HPKE_TAG_LEN], pt[sizeof msg];
    size_t ct_len = 0, pt_len = 0;
    /* ChaCha20-Poly1305 has no record limit of its own (draft-irtf-cfrg-
     * aead-limits §5.2): only RFC 9180's sequence limit applies */
    chan_open(&c, (veil_hpke_suite){VEIL_HPKE_KEM_X25519, VEIL_HPKE_KDF_SHA256,
                                    VEIL_HPKE_AEAD_CHACHA20POLY1305});

    veil_hpke_ctx_set_seq(c.s, UINT64_MAX - 1);
    veil_result r = veil_hpke_seal(c.s, NULL, 0, msg, sizeof msg, ct, sizeof ct, &ct_len);
    assert_err(r, VEIL_E_CRYPTO);
    assert_string_equal(r.msg, "message limit reached");
    veil_hpke_ctx_set_seq(c.s, UINT64_MAX);
    assert_err(veil_hpke_seal(c.s, NULL, 0, msg, sizeof msg, ct, sizeof ct, &ct_len),
               VEIL_E_CRYPTO);

    /* The last usable number works on both sides, then both refuse. */
    veil_hpke_ctx_set_seq(c.s, UINT64_MAX - 2);
    veil_hpke_ctx_set_seq(c.r, UINT64_MAX - 2);
    tu_ok(veil_hpke_seal(c.s, NULL, 0, msg, sizeof msg, ct, sizeof ct, &ct_len));
    tu_ok(veil_hpke_open(c.r, NULL, 0, ct, ct_len, pt, sizeof pt, &pt_len));
    tu_assert_bytes(pt, pt_len, msg, sizeof msg);
    assert_err(veil_hpke_seal(c.s, NULL, 0, msg, sizeof msg, ct, sizeof ct, &ct_len),
               VEIL_E_CRYPTO);
    assert_err(veil_hpke_open(c.r, NULL, 0, ct, ct_len, pt, sizeof pt, &pt_len), VEIL_E_CRYPTO);
    chan_close(&c);
}

/* AES-GCM keys stop at the draft's limits: 2^36 - 1 records, 2^36 - 1 blocks
 * (q + s), 2^70/1025 failed opens; an HPKE context cannot rotate, so it
 * refuses the record that would pass a limit, on both sides, and keeps
 * refusing. */
static void test_aead_usage_limits(void **state)
{
    (void)state;
    chan c;
    uint8_t ct[sizeof msg + VEIL_HPKE_TAG_LEN], pt[sizeof msg];
    size_t ct_len = 0, pt_len = 0;
    const uint64_t q = ((uint64_t)1 << 36) - 1;
    chan_open(&c, x25519_suite); /* AES-128-GCM */

    /* records: the last one allowed works on both sides, the next is refused */
    veil_hpke_ctx_set_seq(c.s, q - 1);
    veil_hpke_ctx_set_seq(c.r, q - 1);
    tu_ok(veil_hpke_seal(c.s, NULL, 0, msg, sizeof msg, ct, sizeof ct, &ct_len));
    tu_ok(veil_hpke_open(c.r, NULL, 0, ct, ct_len, pt, sizeof pt, &pt_len));
    veil_result r = veil_hpke_seal(c.s, NULL, 0, msg, sizeof msg, ct, sizeof ct, &ct_len);
    assert_err(r, VEIL_E_CRYPTO);
    assert_non_null(strstr(r.msg, "AEAD usage limit"));
    assert_err(veil_hpke_open(c.r, NULL, 0, ct, ct_len, pt, sizeof pt, &pt_len), VEIL_E_CRYPTO);
    chan_close(&c);

    /* blocks: a record costing more than what is left is refused */
    chan_open(&c, x25519_suite);
    size_t cost = (sizeof msg + 15) / 16 + 1;
    veil_hpke_ctx_set_usage(c.s, q - cost, 0);
    tu_ok(veil_hpke_seal(c.s, NULL, 0, msg, sizeof msg, ct, sizeof ct, &ct_len));
    assert_err(veil_hpke_seal(c.s, NULL, 0, msg, 1, ct, sizeof ct, &ct_len), VEIL_E_CRYPTO);

    /* failed opens: at the limit, even a good record is refused */
    veil_hpke_ctx_set_usage(c.r, 0, UINT64_C(1151796703138937856));
    assert_err(veil_hpke_open(c.r, NULL, 0, ct, ct_len, pt, sizeof pt, &pt_len), VEIL_E_CRYPTO);
    chan_close(&c);
}

static void test_psk_and_auth_inputs_checked(void **state)
{
    pair kp = {0};
    uint8_t enc[VEIL_HPKE_MAX_ENC];
    size_t enc_len = 0;
    veil_hpke_ctx *ctx = NULL;
    pair_make(&kp, VEIL_HPKE_KEM_X25519);
    const veil_hpke_suite s = x25519_suite;
    struct {
        uint8_t mode;
        int with_psk, with_psk_id, with_auth;
    } bad[] = {
        {VEIL_HPKE_MODE_PSK, 0, 0, 0},      /* psk mode, nothing given */
        {VEIL_HPKE_MODE_PSK, 1, 0, 0},      /* psk without psk_id */
        {VEIL_HPKE_MODE_PSK, 0, 1, 0},      /* psk_id without psk */
        {VEIL_HPKE_MODE_BASE, 1, 1, 0},     /* psk where none is wanted */
        {VEIL_HPKE_MODE_AUTH, 1, 1, 1},     /* psk in auth mode */
        {VEIL_HPKE_MODE_AUTH_PSK, 0, 0, 1}, /* auth_psk without psk */
        {VEIL_HPKE_MODE_AUTH, 0, 0, 0},     /* auth without auth key */
        {VEIL_HPKE_MODE_AUTH_PSK, 1, 1, 0}, /* auth_psk without auth key */
        {VEIL_HPKE_MODE_BASE, 0, 0, 1},     /* auth key in base mode */
        {4, 0, 0, 0},                       /* unknown mode */
    };
    for (size_t i = 0; i < COUNT(bad); i++) {
        veil_hpke_params p = {
            .suite = s, .mode = bad[i].mode, .info = info, .info_len = sizeof info};
        if (bad[i].with_psk)
            p.psk = psk, p.psk_len = sizeof psk;
        if (bad[i].with_psk_id)
            p.psk_id = psk_id, p.psk_id_len = sizeof psk_id;
        p.auth_key = bad[i].with_auth ? kp.s : NULL;
        assert_err(veil_hpke_setup_sender(&p, kp.r_p, enc, sizeof enc, &enc_len, &ctx),
                   VEIL_E_USAGE);
        assert_null(ctx);
        uint8_t zeros[32] = {0};
        zeros[0] = 9;
        assert_err(veil_hpke_setup_recipient(&p, kp.r, zeros, sizeof zeros, &ctx), VEIL_E_USAGE);
        assert_null(ctx);
    }
    /* Sealing in auth mode needs the sender's private key. */
    veil_hpke_params p = params_for(s, VEIL_HPKE_MODE_AUTH, kp.s_p);
    assert_err(veil_hpke_setup_sender(&p, kp.r_p, enc, sizeof enc, &enc_len, &ctx), VEIL_E_USAGE);
    /* A key of another KEM. */
    veil_hpke_suite p256 = {VEIL_HPKE_KEM_P256, VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_AES128GCM};
    p = params_for(p256, VEIL_HPKE_MODE_BASE, NULL);
    assert_err(veil_hpke_setup_sender(&p, kp.r_p, enc, sizeof enc, &enc_len, &ctx), VEIL_E_USAGE);
    /* enc buffer too small. */
    p = params_for(s, VEIL_HPKE_MODE_BASE, NULL);
    assert_err(veil_hpke_setup_sender(&p, kp.r_p, enc, 31, &enc_len, &ctx), VEIL_E_USAGE);
    pair_free(&kp);
}

static void test_x25519_all_zero_public_key(void **state)
{
    pair kp = {0};
    uint8_t zeros[32] = {0}, enc[VEIL_HPKE_MAX_ENC];
    size_t enc_len = 0;
    veil_hpke_key *zk = NULL;
    veil_hpke_ctx *ctx = NULL;
    veil_hpke_params p = params_for(x25519_suite, VEIL_HPKE_MODE_BASE, NULL);
    pair_make(&kp, VEIL_HPKE_KEM_X25519);

    /* DeserializePublicKey takes any 32 bytes; the DH step must refuse. */
    tu_ok(veil_hpke_key_from_public(VEIL_HPKE_KEM_X25519, zeros, sizeof zeros, &zk));
    assert_err(veil_hpke_setup_sender(&p, zk, enc, sizeof enc, &enc_len, &ctx), VEIL_E_CRYPTO);
    assert_null(ctx);
    assert_err(veil_hpke_setup_recipient(&p, kp.r, zeros, sizeof zeros, &ctx), VEIL_E_CRYPTO);
    assert_null(ctx);
    /* Wrong lengths. */
    veil_hpke_key *x = NULL;
    assert_err(veil_hpke_key_from_public(VEIL_HPKE_KEM_X25519, zeros, 31, &x), VEIL_E_PROTOCOL);
    assert_err(veil_hpke_setup_recipient(&p, kp.r, zeros, 33, &ctx), VEIL_E_PROTOCOL);
    veil_hpke_key_free(zk);
    pair_free(&kp);
}

static void test_p256_invalid_public_keys(void **state)
{
    pair kp = {0};
    uint8_t pk[VEIL_HPKE_MAX_PK], bad[VEIL_HPKE_MAX_PK];
    size_t pk_len = 0;
    veil_hpke_key *k = NULL;
    veil_hpke_ctx *ctx = NULL;
    const veil_hpke_suite s = {VEIL_HPKE_KEM_P256, VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_AES128GCM};
    veil_hpke_params p = params_for(s, VEIL_HPKE_MODE_BASE, NULL);
    pair_make(&kp, VEIL_HPKE_KEM_P256);
    tu_ok(veil_hpke_key_public(kp.r, pk, sizeof pk, &pk_len));
    assert_int_equal(pk_len, 65);

    memcpy(bad, pk, pk_len);
    bad[64] ^= 1; /* y changed: off the curve */
    assert_err(veil_hpke_key_from_public(VEIL_HPKE_KEM_P256, bad, 65, &k), VEIL_E_PROTOCOL);
    assert_null(k);
    assert_err(veil_hpke_setup_recipient(&p, kp.r, bad, 65, &ctx), VEIL_E_PROTOCOL);
    assert_null(ctx);
    /* Wrong lengths, compressed form, identity, bad prefix. */
    assert_err(veil_hpke_key_from_public(VEIL_HPKE_KEM_P256, pk, 64, &k), VEIL_E_PROTOCOL);
    assert_err(veil_hpke_key_from_public(VEIL_HPKE_KEM_P256, pk, 66, &k), VEIL_E_PROTOCOL);
    bad[0] = 0x02 | (pk[64] & 1);
    memcpy(bad + 1, pk + 1, 32);
    assert_err(veil_hpke_key_from_public(VEIL_HPKE_KEM_P256, bad, 33, &k), VEIL_E_PROTOCOL);
    const uint8_t identity[1] = {0};
    assert_err(veil_hpke_key_from_public(VEIL_HPKE_KEM_P256, identity, 1, &k), VEIL_E_PROTOCOL);
    memset(bad, 0, 65);
    bad[0] = 0x04; /* (0, 0) is not on P-256 */
    assert_err(veil_hpke_key_from_public(VEIL_HPKE_KEM_P256, bad, 65, &k), VEIL_E_PROTOCOL);
    memcpy(bad, pk, 65);
    bad[0] = 0x06; /* hybrid form */
    assert_err(veil_hpke_key_from_public(VEIL_HPKE_KEM_P256, bad, 65, &k), VEIL_E_PROTOCOL);
    assert_null(k);
    /* Private scalars 0 and >= order. */
    uint8_t sk[32];
    memset(sk, 0, sizeof sk);
    assert_err(veil_hpke_key_from_private(VEIL_HPKE_KEM_P256, sk, 32, &k), VEIL_E_PROTOCOL);
    memset(sk, 0xFF, sizeof sk);
    assert_err(veil_hpke_key_from_private(VEIL_HPKE_KEM_P256, sk, 32, &k), VEIL_E_PROTOCOL);
    assert_null(k);
    pair_free(&kp);
}

static void test_export_only_and_export_limits(void **state)
{
    chan c;
    uint8_t ct[sizeof msg + VEIL_HPKE_TAG_LEN], pt[sizeof msg];
    size_t ct_len = 0, pt_len = 0;
    const veil_hpke_suite s = {VEIL_HPKE_KEM_X25519, VEIL_HPKE_KDF_SHA256,
                               VEIL_HPKE_AEAD_EXPORT_ONLY};
    chan_open(&c, s);
    veil_result r = veil_hpke_seal(c.s, NULL, 0, msg, sizeof msg, ct, sizeof ct, &ct_len);
    assert_err(r, VEIL_E_USAGE);
    assert_non_null(strstr(r.msg, "export-only"));
    memset(ct, 0, sizeof ct);
    assert_err(veil_hpke_open(c.r, NULL, 0, ct, sizeof ct, pt, sizeof pt, &pt_len), VEIL_E_USAGE);

    /* L up to 255*Nh works; one more is refused. */
    const size_t max = 255 * 32;
    uint8_t *big = veil_calloc(max + 1, 1), *big2 = veil_calloc(max, 1);
    assert_non_null(big);
    assert_non_null(big2);
    tu_ok(veil_hpke_export(c.s, NULL, 0, big, max));
    tu_ok(veil_hpke_export(c.r, NULL, 0, big2, max));
    assert_memory_equal(big, big2, max);
    assert_err(veil_hpke_export(c.s, NULL, 0, big, max + 1), VEIL_E_USAGE);
    /* exporter_context up to VEIL_HPKE_MAX_INFO; longer is refused. */
    uint8_t *ec = veil_calloc(VEIL_HPKE_MAX_INFO + 1, 1);
    assert_non_null(ec);
    tu_ok(veil_hpke_export(c.s, ec, VEIL_HPKE_MAX_INFO, big, 32));
    tu_ok(veil_hpke_export(c.r, ec, VEIL_HPKE_MAX_INFO, big2, 32));
    assert_memory_equal(big, big2, 32);
    assert_err(veil_hpke_export(c.s, ec, VEIL_HPKE_MAX_INFO + 1, big, 32), VEIL_E_USAGE);
    veil_free(ec);
    veil_free(big);
    veil_free(big2);
    chan_close(&c);
}

static void test_unsupported_ids(void **state)
{
    veil_hpke_key *k = NULL;
    const veil_hpke_suite bad[] = {
        {0x0030, 1, 1}, {0x0000, 1, 1},      {0x0020, 0x0004, 1},
        {0x0020, 0, 1}, {0x0020, 1, 0x0004}, {0x0020, 1, 0},
    };
    for (size_t i = 0; i < COUNT(bad); i++)
        assert_err(veil_hpke_suite_check(&bad[i]), VEIL_E_UNSUPPORTED);
    assert_err(veil_hpke_key_generate(0x0030, &k), VEIL_E_UNSUPPORTED);
    assert_err(
        veil_hpke_key_derive(0x0030, (const uint8_t *)"0123456789abcdef0123456789abcdef", 32, &k),
        VEIL_E_UNSUPPORTED);
    assert_err(veil_hpke_key_from_public(0x0022, psk, 32, &k), VEIL_E_UNSUPPORTED);
    assert_null(k);
    assert_null(veil_hpke_kem_info_get(0x0030));
    assert_int_equal(veil_hpke_kdf_nh(4), 0);
    assert_int_equal(veil_hpke_aead_nk(4), SIZE_MAX);
    assert_int_equal(veil_hpke_aead_nk(VEIL_HPKE_AEAD_EXPORT_ONLY), 0);
    assert_string_equal(veil_hpke_kem_info_get(VEIL_HPKE_KEM_P384)->name,
                        "DHKEM(P-384, HKDF-SHA384)");
    assert_string_equal(veil_hpke_kdf_name(VEIL_HPKE_KDF_SHA384), "HKDF-SHA384");
    assert_string_equal(veil_hpke_aead_name(VEIL_HPKE_AEAD_CHACHA20POLY1305), "ChaCha20Poly1305");

    /* A setup with an unsupported KDF fails before doing any work. */
    pair kp = {0};
    uint8_t enc[VEIL_HPKE_MAX_ENC];
    size_t enc_len = 0;
    veil_hpke_ctx *ctx = NULL;
    pair_make(&kp, VEIL_HPKE_KEM_X25519);
    veil_hpke_params p = params_for((veil_hpke_suite){0x0020, 0x0004, 1}, 0, NULL);
    assert_err(veil_hpke_setup_sender(&p, kp.r_p, enc, sizeof enc, &enc_len, &ctx),
               VEIL_E_UNSUPPORTED);
    p.suite = (veil_hpke_suite){0x0020, 1, 0x0042};
    assert_err(veil_hpke_setup_recipient(&p, kp.r, enc, 32, &ctx), VEIL_E_UNSUPPORTED);
    assert_null(ctx);
    pair_free(&kp);
    veil_hpke_key_free(NULL);
    veil_hpke_ctx_free(NULL);
}

/* ---- Primitives for OHTTP ---------------------------------------------------- */

/* RFC 5869 Appendix A.1 (SHA-256) and A.3 (empty salt and info). */
static void test_hkdf_rfc5869(void **state)
{
    veil_buf ikm, salt, inf, want_prk, want_okm;
    uint8_t prk[32], okm[42];
    tu_hex(&ikm, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    tu_hex(&salt, "000102030405060708090a0b0c");
    tu_hex(&inf, "f0f1f2f3f4f5f6f7f8f9");
    tu_hex(&want_prk, "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
    tu_hex(&want_okm, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf3400720"
                      "8d5b887185865");
    tu_ok(veil_hkdf_extract(VEIL_HPKE_KDF_SHA256, salt.data, salt.len, ikm.data, ikm.len, prk,
                            sizeof prk));
    tu_assert_bytes(prk, sizeof prk, want_prk.data, want_prk.len);
    tu_ok(veil_hkdf_expand(VEIL_HPKE_KDF_SHA256, prk, sizeof prk, inf.data, inf.len, okm,
                           sizeof okm));
    tu_assert_bytes(okm, sizeof okm, want_okm.data, want_okm.len);

    veil_buf_free(&want_prk);
    veil_buf_free(&want_okm);
    tu_hex(&want_prk, "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04");
    tu_hex(&want_okm, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395"
                      "faa4b61a96c8");
    tu_ok(veil_hkdf_extract(VEIL_HPKE_KDF_SHA256, NULL, 0, ikm.data, ikm.len, prk, sizeof prk));
    tu_assert_bytes(prk, sizeof prk, want_prk.data, want_prk.len);
    tu_ok(veil_hkdf_expand(VEIL_HPKE_KDF_SHA256, prk, sizeof prk, NULL, 0, okm, sizeof okm));
    tu_assert_bytes(okm, sizeof okm, want_okm.data, want_okm.len);

    assert_err(veil_hkdf_extract(VEIL_HPKE_KDF_SHA256, NULL, 0, ikm.data, ikm.len, prk, 31),
               VEIL_E_USAGE);
    assert_err(veil_hkdf_expand(VEIL_HPKE_KDF_SHA256, prk, 32, NULL, 0, okm, 0), VEIL_E_USAGE);
    assert_err(veil_hkdf_extract(9, NULL, 0, ikm.data, ikm.len, prk, 32), VEIL_E_UNSUPPORTED);
    veil_buf *all[] = {&ikm, &salt, &inf, &want_prk, &want_okm};
    for (size_t i = 0; i < COUNT(all); i++)
        veil_buf_free(all[i]);
}

static void test_aead_primitives(void **state)
{
    static const uint8_t key[32] = {1, 2, 3}, nonce[12] = {4, 5, 6};
    uint8_t ct[sizeof msg + 16], pt[sizeof msg];
    for (size_t a = 0; a < 3; a++) {
        tu_ok(veil_aead_seal(all_aeads[a], key, nonce, aad, sizeof aad, msg, sizeof msg, ct));
        tu_ok(veil_aead_open(all_aeads[a], key, nonce, aad, sizeof aad, ct, sizeof ct, pt));
        assert_memory_equal(pt, msg, sizeof msg);
        /* In place: open over the ciphertext buffer itself. */
        uint8_t inplace[sizeof ct];
        memcpy(inplace, ct, sizeof ct);
        tu_ok(veil_aead_open(all_aeads[a], key, nonce, aad, sizeof aad, inplace, sizeof inplace,
                             inplace));
        assert_memory_equal(inplace, msg, sizeof msg);
        /* A bad tag zeroes the output. */
        ct[sizeof ct - 1] ^= 1;
        memset(pt, 0xAA, sizeof pt);
        assert_err(veil_aead_open(all_aeads[a], key, nonce, aad, sizeof aad, ct, sizeof ct, pt),
                   VEIL_E_CRYPTO);
        all_zero(pt, sizeof pt);
    }
    /* AES-128-GCM known answer: NIST GCM test case 2 (zero key, zero IV). */
    static const uint8_t zero[16] = {0};
    veil_buf want;
    uint8_t out[32];
    tu_hex(&want, "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf");
    tu_ok(veil_aead_seal(VEIL_HPKE_AEAD_AES128GCM, zero, zero, NULL, 0, zero, 16, out));
    tu_assert_bytes(out, sizeof out, want.data, want.len);
    veil_buf_free(&want);
    assert_err(veil_aead_seal(VEIL_HPKE_AEAD_EXPORT_ONLY, key, nonce, NULL, 0, msg, 1, ct),
               VEIL_E_USAGE);
    assert_err(veil_aead_open(7, key, nonce, NULL, 0, ct, sizeof ct, pt), VEIL_E_UNSUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc9180_vectors),
        cmocka_unit_test(test_vector_file_format_errors),
        cmocka_unit_test(test_roundtrip_every_suite_and_mode),
        cmocka_unit_test(test_derive_and_serialize),
        cmocka_unit_test(test_open_failures_keep_context_usable),
        cmocka_unit_test(test_wrong_recipient_key),
        cmocka_unit_test(test_sequence_number_never_wraps),
        cmocka_unit_test(test_aead_usage_limits),
        cmocka_unit_test(test_psk_and_auth_inputs_checked),
        cmocka_unit_test(test_x25519_all_zero_public_key),
        cmocka_unit_test(test_p256_invalid_public_keys),
        cmocka_unit_test(test_export_only_and_export_limits),
        cmocka_unit_test(test_unsupported_ids),
        cmocka_unit_test(test_hkdf_rfc5869),
        cmocka_unit_test(test_aead_primitives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
