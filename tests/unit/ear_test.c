/* EAR attestation results: sign/verify round trip, and every way a token
 * must be refused (tampered payload, other key, alg none, expiry). */
#include <string.h>

#include "testutil.h"
#include "veil/base64.h"
#include "veil/ear.h"
#include "veil/mem.h"
#include "veil/timeutil.h"

static char claims[] = "{\"measurement\":\"ab\",\"debug\":false}";

static void make_ear(veil_ear *e)
{
    memset(e, 0, sizeof *e);
    strcpy(e->submod, "sev-snp");
    strcpy(e->policy_id, "sha256:00");
    e->tv.instance_identity = 2;
    e->tv.hardware = 2;
    e->tv.executables = 2;
    e->status = veil_ear_vector_status(&e->tv);
    e->iat = 1760000000;
    e->nonce_len = 64; /* the longest eat_nonce */
    memset(e->nonce, 7, 64);
    e->claims_json = claims;
}

static void test_round_trip(void **state)
{
    veil_sign_key *k;
    tu_ok(veil_sign_key_generate(&k));
    veil_ear e, got;
    make_ear(&e);
    veil_buf tok;
    veil_buf_init(&tok, 0);
    tu_ok(veil_ear_sign(&e, k, &tok));
    tu_ok(veil_ear_verify((char *)tok.data, tok.len, k, 1760000100, 3600, &got));
    assert_int_equal(got.status, VEIL_EAR_AFFIRMING);
    assert_string_equal(got.submod, "sev-snp");
    assert_int_equal(got.tv.executables, 2);
    assert_int_equal(got.nonce_len, 64);
    assert_int_equal(got.iat, 1760000000);
    assert_false(got.simulated);
    assert_string_equal(got.claims_json, "{\"debug\":false,\"measurement\":\"ab\"}");
    veil_ear_free(&got);
    /* too old, or from the future */
    assert_int_equal(veil_ear_verify((char *)tok.data, tok.len, k, 1760009999, 3600, &got).cls,
                     VEIL_E_PROTOCOL);
    assert_int_equal(veil_ear_verify((char *)tok.data, tok.len, k, 1759990000, 0, &got).cls,
                     VEIL_E_PROTOCOL);
    veil_buf_free(&tok);
    veil_sign_key_free(k);
}

static void test_refusals(void **state)
{
    veil_sign_key *k, *other;
    tu_ok(veil_sign_key_generate(&k));
    tu_ok(veil_sign_key_generate(&other));
    veil_ear e, got;
    make_ear(&e);
    veil_buf tok;
    veil_buf_init(&tok, 0);
    tu_ok(veil_ear_sign(&e, k, &tok));
    /* another verifier's key */
    assert_int_equal(veil_ear_verify((char *)tok.data, tok.len, other, 1760000000, 0, &got).cls,
                     VEIL_E_CRYPTO);
    /* a payload character changed */
    char *dot = memchr(tok.data, '.', tok.len);
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    assert_false(veil_ok(veil_ear_verify((char *)tok.data, tok.len, k, 1760000000, 0, &got)));
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    /* "alg":"none" with the same payload and no signature */
    veil_buf none;
    veil_buf_init(&none, 0);
    const char *hdr = "{\"alg\":\"none\"}";
    tu_ok(veil_base64url_encode((const uint8_t *)hdr, strlen(hdr), &none));
    size_t payload_len = (size_t)((char *)memchr(dot + 1, '.', tok.len) - dot);
    tu_ok(veil_buf_append(&none, dot, payload_len + 1));
    tu_ok(veil_buf_append(&none, "AA", 2));
    assert_false(veil_ok(veil_ear_verify((char *)none.data, none.len, k, 1760000000, 0, &got)));
    /* not three parts */
    assert_int_equal(veil_ear_verify("a.b", 3, k, 0, 0, &got).cls, VEIL_E_PROTOCOL);
    veil_buf_free(&none);
    veil_buf_free(&tok);
    veil_sign_key_free(k);
    veil_sign_key_free(other);
}

static void test_status_is_worst_tier(void **state)
{
    veil_ear_vector tv = {0};
    assert_int_equal(veil_ear_vector_status(&tv), VEIL_EAR_NONE);
    tv.hardware = 2;
    assert_int_equal(veil_ear_vector_status(&tv), VEIL_EAR_AFFIRMING);
    tv.executables = 33;
    assert_int_equal(veil_ear_vector_status(&tv), VEIL_EAR_WARNING);
    tv.configuration = 96;
    assert_int_equal(veil_ear_vector_status(&tv), VEIL_EAR_CONTRAINDICATED);
}

static void test_key_pem_round_trip(void **state)
{
    veil_sign_key *k, *pub, *priv;
    tu_ok(veil_sign_key_generate(&k));
    veil_buf a, b;
    veil_buf_init(&a, 0);
    veil_buf_init(&b, 0);
    tu_ok(veil_sign_key_private_pem(k, &a));
    tu_ok(veil_sign_key_public_pem(k, &b));
    tu_ok(veil_sign_key_from_pem(a.data, a.len, &priv));
    tu_ok(veil_sign_key_from_pem(b.data, b.len, &pub));
    assert_true(veil_sign_key_has_private(priv));
    assert_false(veil_sign_key_has_private(pub));
    char t1[44], t2[44];
    tu_ok(veil_sign_key_thumbprint(k, t1));
    tu_ok(veil_sign_key_thumbprint(pub, t2));
    assert_string_equal(t1, t2);
    uint8_t sig[VEIL_ES384_SIG_LEN];
    tu_ok(veil_es384_sign(priv, (const uint8_t *)"m", 1, sig));
    tu_ok(veil_es384_verify(pub, (const uint8_t *)"m", 1, sig, sizeof sig));
    assert_int_equal(veil_es384_verify(pub, (const uint8_t *)"n", 1, sig, sizeof sig).cls,
                     VEIL_E_CRYPTO);
    assert_int_equal(veil_es384_sign(pub, (const uint8_t *)"m", 1, sig).cls, VEIL_E_USAGE);
    veil_buf_free(&a);
    veil_buf_free(&b);
    veil_sign_key_free(k);
    veil_sign_key_free(pub);
    veil_sign_key_free(priv);
}

static void test_time_and_base64(void **state)
{
    int64_t t;
    tu_ok(veil_time_parse("2025-06-01T00:00:00Z", &t));
    assert_int_equal(t, 1748736000);
    tu_ok(veil_time_parse("2025-12-10", &t));
    assert_int_equal(t, 1765324800);
    tu_ok(veil_time_parse("@42", &t));
    assert_int_equal(t, 42);
    assert_false(veil_ok(veil_time_parse("2025-13-01T00:00:00Z", &t)));
    assert_false(veil_ok(veil_time_parse("yesterday", &t)));
    char s[21];
    veil_time_format(1748736000, s);
    assert_string_equal(s, "2025-06-01T00:00:00Z");
    /* RFC 4648 §10 */
    veil_buf b;
    veil_buf_init(&b, 0);
    tu_ok(veil_base64_encode((const uint8_t *)"fooba", 5, &b));
    assert_memory_equal(b.data, "Zm9vYmE=", 8);
    veil_buf_clear(&b);
    tu_ok(veil_base64_decode("Zm9vYg==", 8, &b));
    assert_memory_equal(b.data, "foob", 4);
    veil_buf_clear(&b);
    assert_false(veil_ok(veil_base64_decode("Zm9vYh==", 8, &b))); /* non-zero spare bits */
    assert_false(veil_ok(veil_base64_decode("Zm9v=mE=", 8, &b)));
    assert_false(veil_ok(veil_base64url_decode("Zm9vYg==", 8, &b)));
    veil_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),           cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_status_is_worst_tier), cmocka_unit_test(test_key_pem_round_trip),
        cmocka_unit_test(test_time_and_base64),
    };
    return cmocka_run_group_tests_name("ear", tests, NULL, NULL);
}
