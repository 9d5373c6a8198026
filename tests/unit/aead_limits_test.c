/* AEAD usage limits (veil/aead_ctx.h): nonce KAT (base XOR seq), the epoch
 * key derivation rebuilt independently, millions of records with a low record
 * limit and a paired opener (no nonce ever repeats, every epoch key differs),
 * fail-closed contexts, the block limit, failed opens that do not advance, and
 * the integrity limit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/primitives.h"
#include "testutil.h"
#include "veil/aead_ctx.h"
#include "veil/hpke.h"

static const uint8_t key16[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                  0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
static const uint8_t key32[32] = "0123456789abcdef0123456789abcde";
static const uint8_t base[12] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5,
                                 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};
static const uint8_t aad[] = "hdr";

static void assert_err(veil_result r, veil_errclass cls)
{
    if (r.cls != cls)
        fail_msg("expected %s error, got %s: %s", veil_errclass_name(cls),
                 veil_errclass_name(r.cls), r.msg ? r.msg : "(ok)");
}

static void xor_seq(const uint8_t b[12], uint64_t seq, uint8_t out[12])
{
    memcpy(out, b, 12);
    for (int i = 0; i < 8; i++)
        out[11 - i] ^= (uint8_t)(seq >> (8 * i));
}

/* Independent rebuild of the rotation rule in aead_ctx.h. */
static void next_epoch(const uint8_t *key, size_t nk, uint64_t new_epoch, uint8_t *nkey,
                       uint8_t nbase[12])
{
    uint8_t prk[32], okm[44], info[14 + 8];
    memcpy(info, "veil-aead-next", 14);
    for (int i = 0; i < 8; i++)
        info[14 + i] = (uint8_t)(new_epoch >> (56 - 8 * i));
    tu_ok(veil_hkdf_extract(VEIL_HPKE_KDF_SHA256, (const uint8_t *)"veil-aead-epoch", 15, key, nk,
                            prk, sizeof prk));
    tu_ok(veil_hkdf_expand(VEIL_HPKE_KDF_SHA256, prk, sizeof prk, info, sizeof info, okm, nk + 12));
    memcpy(nkey, okm, nk);
    memcpy(nbase, okm + nk, 12);
}

static veil_aead_ctx *mk(uint16_t id, uint64_t recs, uint64_t blocks, uint64_t fails, int rot)
{
    veil_aead_limits l = {recs, blocks, fails};
    veil_aead_ctx *c = NULL;
    const uint8_t *k = id == VEIL_HPKE_AEAD_AES128GCM ? key16 : key32;
    tu_ok(veil_aead_ctx_new(id, k, id == VEIL_HPKE_AEAD_AES128GCM ? 16 : 32, base, &l, rot, &c));
    return c;
}

/* KAT: record i of epoch 0 is sealed under base XOR i; after a rotation,
 * record 0 of epoch 1 is sealed under the HKDF-derived key and base. */
static void test_nonce_kat(void **state)
{
    static const uint16_t ids[] = {VEIL_HPKE_AEAD_AES128GCM, VEIL_HPKE_AEAD_AES256GCM,
                                   VEIL_HPKE_AEAD_CHACHA20POLY1305};
    for (size_t a = 0; a < 3; a++) {
        uint16_t id = ids[a];
        size_t nk = id == VEIL_HPKE_AEAD_AES128GCM ? 16 : 32;
        const uint8_t *k = nk == 16 ? key16 : key32;
        veil_aead_ctx *c = mk(id, 300, 0, 0, 1);
        uint8_t pt[5] = "hello", got[21], want[21], nonce[12], used[12];
        for (uint64_t i = 0; i < 300; i++) {
            tu_ok(veil_aead_ctx_seal(c, aad, sizeof aad, pt, sizeof pt, got));
            xor_seq(base, i, nonce);
            if (i == 0)
                tu_assert_bytes(nonce, 12, base, 12); /* first nonce is the base */
            tu_ok(veil_aead_ctx_last_nonce(c, used));
            tu_assert_bytes(used, 12, nonce, 12);
            tu_ok(veil_aead_seal(id, k, nonce, aad, sizeof aad, pt, sizeof pt, want));
            tu_assert_bytes(got, sizeof got, want, sizeof want);
        }
        assert_int_equal(veil_aead_ctx_epoch(c), 0);
        uint8_t k1[32], b1[12];
        next_epoch(k, nk, 1, k1, b1);
        for (uint64_t i = 0; i < 3; i++) {
            tu_ok(veil_aead_ctx_seal(c, aad, sizeof aad, pt, sizeof pt, got));
            assert_int_equal(veil_aead_ctx_epoch(c), 1);
            xor_seq(b1, i, nonce);
            tu_ok(veil_aead_seal(id, k1, nonce, aad, sizeof aad, pt, sizeof pt, want));
            tu_assert_bytes(got, sizeof got, want, sizeof want);
        }
        veil_aead_ctx_free(c);
    }
}

static int cmp12(const void *a, const void *b) { return memcmp(a, b, 12); }
static int cmp32(const void *a, const void *b) { return memcmp(a, b, 32); }

/* Millions of 1-byte records under AES-128-GCM, limit 1000 per key: sealer and opener rotate
 * in step; all nonces are distinct (so no (key, nonce) pair repeats) and
 * every epoch's key, rebuilt independently, differs from all others. */
static void test_many_records(void **state)
{
    const uint64_t target = 3000000, limit = 1000;
    const double max_s = 50.0;
    veil_aead_ctx *s = mk(VEIL_HPKE_AEAD_AES128GCM, limit, 0, 0, 1);
    veil_aead_ctx *o = mk(VEIL_HPKE_AEAD_AES128GCM, limit, 0, 0, 1);
    uint8_t(*nonces)[12] = calloc(target, 12);
    uint8_t(*keys)[32] = calloc(target / limit + 2, 32);
    assert_non_null(nonces);
    assert_non_null(keys);
    uint8_t cur_key[32], cur_base[12];
    memcpy(cur_key, key16, 16);
    memcpy(cur_base, base, 12);
    memcpy(keys[0], key16, 16);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t done = 0;
    for (; done < target; done++) {
        uint8_t pt = (uint8_t)done, ct[17], back = 0, sn[12], on[12];
        tu_ok(veil_aead_ctx_seal(s, aad, sizeof aad, &pt, 1, ct));
        tu_ok(veil_aead_ctx_open(o, aad, sizeof aad, ct, sizeof ct, &back));
        assert_int_equal(back, pt);
        uint64_t ep = veil_aead_ctx_epoch(s);
        assert_int_equal(ep, veil_aead_ctx_epoch(o));
        assert_int_equal(ep, done / limit); /* rotates exactly every `limit` records */
        tu_ok(veil_aead_ctx_last_nonce(s, sn));
        tu_ok(veil_aead_ctx_last_nonce(o, on));
        tu_assert_bytes(sn, 12, on, 12);
        memcpy(nonces[done], sn, 12);
        if (done % limit == 0 && ep > 0) {
            /* First record of a new epoch: rebuild its key and check the
             * nonce and the ciphertext under it. */
            next_epoch(cur_key, 16, ep, cur_key, cur_base);
            memcpy(keys[ep], cur_key, 16);
            uint8_t want[17];
            tu_ok(veil_aead_seal(VEIL_HPKE_AEAD_AES128GCM, cur_key, cur_base, aad, sizeof aad, &pt,
                                 1, want));
            tu_assert_bytes(ct, 17, want, 17);
            tu_assert_bytes(sn, 12, cur_base, 12);
        }
        if (done % 65536 == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if ((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 > max_s)
                break;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double el = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    uint64_t epochs = veil_aead_ctx_epoch(s) + 1;
    print_message("sealed+opened %llu records in %.1f s, %llu epochs\n", (unsigned long long)done,
                  el, (unsigned long long)epochs);
    assert_true(done >= 1000000); /* several hundred rotations at the least */

    qsort(nonces, done, 12, cmp12);
    for (uint64_t i = 1; i < done; i++)
        if (memcmp(nonces[i - 1], nonces[i], 12) == 0)
            fail_msg("nonce repeated");
    qsort(keys, epochs, 32, cmp32);
    for (uint64_t i = 1; i < epochs; i++)
        if (memcmp(keys[i - 1], keys[i], 32) == 0)
            fail_msg("epoch key repeated");
    free(nonces);
    free(keys);
    veil_aead_ctx_free(s);
    veil_aead_ctx_free(o);
}

/* allow_rotation = 0: the record after the limit is refused on both sides. */
static void test_no_rotation_fails_closed(void **state)
{
    veil_aead_ctx *s = mk(VEIL_HPKE_AEAD_CHACHA20POLY1305, 10, 0, 0, 0);
    veil_aead_ctx *o = mk(VEIL_HPKE_AEAD_CHACHA20POLY1305, 10, 0, 0, 0);
    uint8_t pt[3] = "abc", ct[19], back[3];
    for (int i = 0; i < 10; i++) {
        tu_ok(veil_aead_ctx_seal(s, NULL, 0, pt, 3, ct));
        tu_ok(veil_aead_ctx_open(o, NULL, 0, ct, sizeof ct, back));
    }
    veil_result r = veil_aead_ctx_seal(s, NULL, 0, pt, 3, ct);
    assert_err(r, VEIL_E_CRYPTO);
    assert_string_equal(r.msg, "AEAD usage limit reached");
    r = veil_aead_ctx_open(o, NULL, 0, ct, sizeof ct, back);
    assert_err(r, VEIL_E_CRYPTO);
    assert_string_equal(r.msg, "AEAD usage limit reached");
    assert_err(veil_aead_ctx_seal(s, NULL, 0, pt, 3, ct), VEIL_E_CRYPTO); /* stays closed */
    assert_int_equal(veil_aead_ctx_epoch(s), 0);
    veil_aead_ctx_free(s);
    veil_aead_ctx_free(o);
}

/* The block (q + s) limit: 32-byte records cost 2 + 1 blocks; with 10 blocks
 * a key carries 3 of them. */
static void test_block_limit(void **state)
{
    uint8_t pt[32] = {0}, ct[48], back[32];
    veil_aead_ctx *s = mk(VEIL_HPKE_AEAD_AES128GCM, 0, 10, 0, 0);
    for (int i = 0; i < 3; i++)
        tu_ok(veil_aead_ctx_seal(s, NULL, 0, pt, 32, ct));
    assert_err(veil_aead_ctx_seal(s, NULL, 0, pt, 32, ct), VEIL_E_CRYPTO);
    tu_ok(veil_aead_ctx_seal(s, NULL, 0, pt, 0, ct)); /* an empty record (1 block) still fits */
    veil_aead_ctx_free(s);

    s = mk(VEIL_HPKE_AEAD_AES128GCM, 0, 10, 0, 1);
    veil_aead_ctx *o = mk(VEIL_HPKE_AEAD_AES128GCM, 0, 10, 0, 1);
    for (int i = 0; i < 7; i++) {
        tu_ok(veil_aead_ctx_seal(s, aad, sizeof aad, pt, 32, ct)); /* 1 + 2 + 1 = 4 blocks */
        tu_ok(veil_aead_ctx_open(o, aad, sizeof aad, ct, sizeof ct, back));
        assert_int_equal(veil_aead_ctx_epoch(s), (uint64_t)i / 2);
        assert_int_equal(veil_aead_ctx_epoch(o), (uint64_t)i / 2);
    }
    /* A record larger than a whole key's budget is refused, not rotated for. */
    uint8_t big[176], bigct[192];
    memset(big, 0, sizeof big);
    assert_err(veil_aead_ctx_seal(s, NULL, 0, big, sizeof big, bigct), VEIL_E_USAGE);
    assert_int_equal(veil_aead_ctx_epoch(s), 3);
    veil_aead_ctx_free(s);
    veil_aead_ctx_free(o);
}

/* A failed open leaves the opener where it was, also at a rotation point. */
static void test_failed_open_does_not_advance(void **state)
{
    veil_aead_ctx *s = mk(VEIL_HPKE_AEAD_AES128GCM, 2, 0, 0, 1);
    veil_aead_ctx *o = mk(VEIL_HPKE_AEAD_AES128GCM, 2, 0, 0, 1);
    uint8_t ct[4][20], pt[4] = "abcd", back[4];
    for (int i = 0; i < 4; i++)
        tu_ok(veil_aead_ctx_seal(s, aad, sizeof aad, pt, 4, ct[i]));
    tu_ok(veil_aead_ctx_open(o, aad, sizeof aad, ct[0], 20, back));
    ct[1][19] ^= 1;
    memset(back, 0x55, sizeof back);
    assert_err(veil_aead_ctx_open(o, aad, sizeof aad, ct[1], 20, back), VEIL_E_CRYPTO);
    assert_int_equal(back[0] | back[1] | back[2] | back[3], 0); /* zeroed */
    ct[1][19] ^= 1;
    tu_ok(veil_aead_ctx_open(o, aad, sizeof aad, ct[1], 20, back));
    tu_assert_bytes(back, 4, pt, 4);
    /* Record 2 starts epoch 1: a forgery there (and a replay of record 1)
     * must not rotate the opener. */
    ct[2][0] ^= 1;
    assert_err(veil_aead_ctx_open(o, aad, sizeof aad, ct[2], 20, back), VEIL_E_CRYPTO);
    assert_err(veil_aead_ctx_open(o, aad, sizeof aad, ct[1], 20, back), VEIL_E_CRYPTO);
    assert_int_equal(veil_aead_ctx_epoch(o), 0);
    ct[2][0] ^= 1;
    tu_ok(veil_aead_ctx_open(o, aad, sizeof aad, ct[2], 20, back));
    tu_ok(veil_aead_ctx_open(o, aad, sizeof aad, ct[3], 20, back));
    assert_int_equal(veil_aead_ctx_epoch(o), 1);
    veil_aead_ctx_free(s);
    veil_aead_ctx_free(o);
}

/* Integrity limit: after max_failed_opens failures every open is refused. */
static void test_integrity_limit(void **state)
{
    veil_aead_ctx *s = mk(VEIL_HPKE_AEAD_CHACHA20POLY1305, 0, 0, 3, 1);
    veil_aead_ctx *o = mk(VEIL_HPKE_AEAD_CHACHA20POLY1305, 0, 0, 3, 1);
    uint8_t ct[20], pt[4] = "abcd", back[4];
    tu_ok(veil_aead_ctx_seal(s, NULL, 0, pt, 4, ct));
    ct[5] ^= 1;
    for (int i = 0; i < 3; i++) {
        veil_result r = veil_aead_ctx_open(o, NULL, 0, ct, sizeof ct, back);
        assert_err(r, VEIL_E_CRYPTO);
        assert_string_equal(r.msg, "AEAD authentication failed");
    }
    ct[5] ^= 1;
    veil_result r = veil_aead_ctx_open(o, NULL, 0, ct, sizeof ct, back);
    assert_err(r, VEIL_E_CRYPTO);
    assert_string_equal(r.msg, "AEAD integrity limit reached");
    veil_aead_ctx_free(s);
    veil_aead_ctx_free(o);
}

static void test_api_misuse(void **state)
{
    veil_aead_ctx *c = NULL;
    veil_aead_limits def, big;
    tu_ok(veil_aead_default_limits(VEIL_HPKE_AEAD_AES128GCM, &def));
    assert_int_equal(def.max_records, ((uint64_t)1 << 36) - 1);
    assert_int_equal(def.max_blocks, ((uint64_t)1 << 36) - 1);
    assert_int_equal(def.max_failed_opens, UINT64_C(1151796703138937856));
    tu_ok(veil_aead_default_limits(VEIL_HPKE_AEAD_CHACHA20POLY1305, &def));
    assert_int_equal(def.max_failed_opens, UINT64_C(68652433344));
    assert_err(veil_aead_default_limits(VEIL_HPKE_AEAD_EXPORT_ONLY, &def), VEIL_E_UNSUPPORTED);

    tu_ok(veil_aead_default_limits(VEIL_HPKE_AEAD_AES256GCM, &big));
    big.max_records++; /* raising a limit is refused */
    assert_err(veil_aead_ctx_new(VEIL_HPKE_AEAD_AES256GCM, key32, 32, base, &big, 1, &c),
               VEIL_E_USAGE);
    assert_null(c);
    assert_err(veil_aead_ctx_new(VEIL_HPKE_AEAD_AES256GCM, key32, 16, base, NULL, 1, &c),
               VEIL_E_USAGE);
    assert_err(veil_aead_ctx_new(0x0042, key32, 32, base, NULL, 1, &c), VEIL_E_UNSUPPORTED);
    tu_ok(veil_aead_ctx_new(VEIL_HPKE_AEAD_AES256GCM, key32, 32, base, NULL, 1, &c));
    uint8_t n[12], ct[17], pt = 1;
    assert_err(veil_aead_ctx_last_nonce(c, n), VEIL_E_USAGE);
    tu_ok(veil_aead_ctx_seal(c, NULL, 0, &pt, 1, ct));
    assert_err(veil_aead_ctx_open(c, NULL, 0, ct, sizeof ct, &pt), VEIL_E_USAGE); /* one role */
    assert_err(veil_aead_ctx_open(NULL, NULL, 0, ct, sizeof ct, &pt), VEIL_E_USAGE);
    veil_aead_ctx_free(c);
    veil_aead_ctx_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonce_kat),       cmocka_unit_test(test_no_rotation_fails_closed),
        cmocka_unit_test(test_block_limit),     cmocka_unit_test(test_failed_open_does_not_advance),
        cmocka_unit_test(test_integrity_limit), cmocka_unit_test(test_api_misuse),
        cmocka_unit_test(test_many_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
