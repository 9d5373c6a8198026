/* Oblivious HTTP (RFC 9458) and chunked OHTTP (draft-08): the published
 * examples, key configuration lists, suite choice, round trips for every KEM,
 * and the failures a gateway and client must detect. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "veil/mem.h"
#include "veil/ohttp.h"
#include "veil/selftest.h"

static void run_vector_file(const char *rel, size_t min_cases)
{
    size_t len;
    char *text = tu_read_testdata(rel, &len);
    veil_selftest_report rep = {0};
    tu_ok(veil_selftest_ohttp_json(text, len, &rep));
    assert_int_equal(rep.failed, 0);
    assert_true(rep.passed >= min_cases);
    tu_free(text);
}

static void test_rfc9458_appendix_a(void **state)
{
    run_vector_file("ohttp/rfc9458-appendix-a.json", 12);
}

static void test_chunked_draft08_example(void **state)
{
    run_vector_file("chunked-ohttp/draft-08-example.json", 12);
}

static void test_vector_file_in_wrong_format_is_an_error(void **state)
{
    veil_selftest_report rep = {0};
    const char *bad = "{\"examples\": []}";
    assert_int_equal(veil_selftest_ohttp_json(bad, strlen(bad), &rep).cls, VEIL_E_PROTOCOL);
    assert_int_equal(veil_selftest_ohttp_json("nope", 4, &rep).cls, VEIL_E_PROTOCOL);
}

static const char *rfc_config =
    "01002031e1f05a740102115220e9af918f738674aec95f54db6e04eb705aae8e79815500080001000100010003";

static void test_keys_list_skips_unknown_kem(void **state)
{
    veil_buf list, cfg;
    tu_hex(&cfg, rfc_config);
    veil_buf_init(&list, 0);
    /* an entry with an unknown KEM (0x7777) and an opaque key, then the RFC's */
    tu_ok(veil_buf_u16(&list, 9));
    const uint8_t unknown[] = {0x05, 0x77, 0x77, 0xAA, 0xBB, 0x00, 0x04, 0x00, 0x01};
    tu_ok(veil_buf_append(&list, unknown, sizeof unknown));
    tu_ok(veil_buf_u16(&list, (uint16_t)cfg.len));
    tu_ok(veil_buf_append(&list, cfg.data, cfg.len));
    veil_ohttp_keyconfig out[4];
    size_t count, skipped;
    tu_ok(veil_ohttp_keys_decode(list.data, list.len, out, 4, &count, &skipped));
    assert_int_equal(count, 1);
    assert_int_equal(skipped, 1);
    assert_int_equal(out[0].key_id, 1);
    assert_int_equal(out[0].n_algs, 2);
    /* re-encoding the usable config gives the RFC's bytes with its prefix */
    veil_buf again;
    veil_buf_init(&again, 0);
    tu_ok(veil_ohttp_keys_encode(out, 1, &again));
    tu_assert_bytes(again.data + 2, again.len - 2, cfg.data, cfg.len);
    veil_buf_free(&again);
    /* a length running past the end is malformed, not skipped */
    veil_result r = veil_ohttp_keys_decode(list.data, list.len - 1, out, 4, &count, &skipped);
    assert_int_equal(r.cls, VEIL_E_PROTOCOL);
    assert_non_null(strstr(r.msg, "past the end"));
    veil_buf_free(&list);
    veil_buf_free(&cfg);
}

static void expect_config_error(const char *hex, veil_errclass cls, const char *needle)
{
    veil_buf b;
    veil_ohttp_keyconfig cfg;
    tu_hex(&b, hex);
    veil_result r = veil_ohttp_keyconfig_decode(b.data, b.len, &cfg);
    assert_int_equal(r.cls, cls);
    if (!strstr(r.msg, needle))
        fail_msg("message '%s' lacks '%s'", r.msg, needle);
    veil_buf_free(&b);
}

static void test_malformed_key_configs(void **state)
{
    const char *pk = "31e1f05a740102115220e9af918f738674aec95f54db6e04eb705aae8e798155";
    char hex[512];
    snprintf(hex, sizeof hex, "010020%s0000", pk);
    expect_config_error(hex, VEIL_E_PROTOCOL, "multiple of 4");
    snprintf(hex, sizeof hex, "010020%s000600010001", pk);
    expect_config_error(hex, VEIL_E_PROTOCOL, "exceeds");
    snprintf(hex, sizeof hex, "010020%s0004000100010000", pk);
    expect_config_error(hex, VEIL_E_PROTOCOL, "trailing");
    expect_config_error("0100203132", VEIL_E_PROTOCOL, "public key shorter");
    expect_config_error("01", VEIL_E_PROTOCOL, "shorter");
    expect_config_error("019999", VEIL_E_UNSUPPORTED, "KEM");
    /* P-256 point not on the curve */
    snprintf(hex, sizeof hex, "010010%s%s%s00040001000100", "04", pk, pk);
    hex[strlen(hex) - 2] = 0;
    expect_config_error(hex, VEIL_E_PROTOCOL, "not valid");
}

static void make_config(uint16_t kem, uint8_t id, const veil_ohttp_symalg *algs, size_t n,
                        veil_ohttp_keyconfig *cfg, veil_hpke_key **key)
{
    tu_ok(veil_hpke_key_generate(kem, key));
    tu_ok(veil_ohttp_keyconfig_for_key(id, *key, algs, n, cfg));
}

static void test_select_picks_strongest_suite(void **state)
{
    veil_ohttp_keyconfig cfgs[3];
    veil_hpke_key *k[3];
    const veil_ohttp_symalg x[] = {{1, 1}, {1, 3}}, p384[] = {{2, 2}, {2, 1}},
                            weird[] = {{1, 0xFFFF}, {9, 1}};
    make_config(VEIL_HPKE_KEM_X25519, 1, x, 2, &cfgs[0], &k[0]);
    make_config(VEIL_HPKE_KEM_P384, 2, p384, 2, &cfgs[1], &k[1]);
    make_config(VEIL_HPKE_KEM_P256, 3, weird, 2, &cfgs[2], &k[2]);
    size_t idx = 99;
    veil_hpke_suite s;
    tu_ok(veil_ohttp_select(cfgs, 3, &idx, &s));
    assert_int_equal(idx, 1); /* not the first: the strongest */
    assert_int_equal(s.kem, VEIL_HPKE_KEM_P384);
    assert_int_equal(s.kdf, VEIL_HPKE_KDF_SHA384);
    assert_int_equal(s.aead, VEIL_HPKE_AEAD_AES256GCM);
    tu_ok(veil_ohttp_select(cfgs, 1, &idx, &s));
    assert_int_equal(s.aead, VEIL_HPKE_AEAD_CHACHA20POLY1305);
    /* export-only and unknown KDFs are never chosen */
    assert_int_equal(veil_ohttp_select(&cfgs[2], 1, &idx, &s).cls, VEIL_E_UNSUPPORTED);
    for (int i = 0; i < 3; i++)
        veil_hpke_key_free(k[i]);
}

typedef struct pair {
    veil_ohttp_keyconfig cfg;
    veil_ohttp_gateway *gw;
    veil_hpke_suite suite;
} pair;

static void pair_init(pair *p, uint16_t kem, uint16_t kdf, uint16_t aead)
{
    veil_hpke_key *key;
    const veil_ohttp_symalg alg = {kdf, aead};
    make_config(kem, 7, &alg, 1, &p->cfg, &key);
    tu_ok(veil_ohttp_gateway_new(&p->gw));
    tu_ok(veil_ohttp_gateway_add(p->gw, &p->cfg, key));
    p->suite = (veil_hpke_suite){kem, kdf, aead};
}

static void single_round_trip(pair *p, const uint8_t *msg, size_t n)
{
    veil_buf enc, req, res, back;
    veil_buf_init(&enc, 0), veil_buf_init(&req, 0), veil_buf_init(&res, 0), veil_buf_init(&back, 0);
    veil_ohttp_client_ctx *cc;
    veil_ohttp_server_ctx *sc;
    tu_ok(veil_ohttp_client_encap(&p->cfg, &p->suite, msg, n, &enc, &cc));
    tu_ok(veil_ohttp_server_decap(p->gw, enc.data, enc.len, &req, &sc, NULL));
    tu_assert_bytes(req.data, req.len, msg, n);
    tu_ok(veil_ohttp_server_encap(sc, msg, n, &res));
    tu_ok(veil_ohttp_client_decap(cc, res.data, res.len, &back));
    tu_assert_bytes(back.data, back.len, msg, n);
    veil_ohttp_client_ctx_free(cc);
    veil_ohttp_server_ctx_free(sc);
    veil_buf_free(&enc), veil_buf_free(&req), veil_buf_free(&res), veil_buf_free(&back);
}

/* Request and response in chunks of `step` plaintext bytes, fed to the
 * reader in pieces of `feed` bytes. */
static void chunked_round_trip(pair *p, const uint8_t *msg, size_t n, size_t step, size_t feed)
{
    veil_buf wire, req, res, back;
    veil_buf_init(&wire, 0), veil_buf_init(&req, 0), veil_buf_init(&res, 0),
        veil_buf_init(&back, 0);
    veil_ohttp_chunked_client *cc;
    veil_ohttp_chunked_server *sc;
    tu_ok(veil_ohttp_chunked_client_new(&p->cfg, &p->suite, 0, &wire, &cc));
    for (size_t at = 0; at < n; at += step)
        tu_ok(
            veil_ohttp_chunked_client_write(cc, msg + at, n - at < step ? n - at : step, 0, &wire));
    tu_ok(veil_ohttp_chunked_client_write(cc, NULL, 0, 1, &wire));
    assert_int_equal(veil_ohttp_chunked_client_write(cc, msg, 1, 0, &wire).cls, VEIL_E_USAGE);
    tu_ok(veil_ohttp_chunked_server_new(p->gw, 0, &sc));
    for (size_t at = 0; at < wire.len; at += feed)
        tu_ok(veil_ohttp_chunked_server_read(
            sc, wire.data + at, wire.len - at < feed ? wire.len - at : feed, &req, NULL));
    tu_ok(veil_ohttp_chunked_server_finish(sc, &req));
    tu_assert_bytes(req.data, req.len, msg, n);
    for (size_t at = 0; at < n; at += step)
        tu_ok(
            veil_ohttp_chunked_server_write(sc, msg + at, n - at < step ? n - at : step, 0, &res));
    tu_ok(veil_ohttp_chunked_server_write(sc, msg, 0, 1, &res));
    for (size_t at = 0; at < res.len; at += feed)
        tu_ok(veil_ohttp_chunked_client_read(cc, res.data + at,
                                             res.len - at < feed ? res.len - at : feed, &back));
    tu_ok(veil_ohttp_chunked_client_finish(cc, &back));
    tu_assert_bytes(back.data, back.len, msg, n);
    veil_ohttp_chunked_client_free(cc);
    veil_ohttp_chunked_server_free(sc);
    veil_buf_free(&wire), veil_buf_free(&req), veil_buf_free(&res), veil_buf_free(&back);
}

static void test_round_trips_every_kem(void **state)
{
    static const veil_hpke_suite suites[] = {
        {VEIL_HPKE_KEM_X25519, 1, 1}, {VEIL_HPKE_KEM_X25519, 1, 3}, {VEIL_HPKE_KEM_P256, 1, 1},
        {VEIL_HPKE_KEM_P384, 2, 2},   {VEIL_HPKE_KEM_P521, 3, 2},   {VEIL_HPKE_KEM_X448, 3, 3},
    };
    uint8_t msg[3000];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        pair p;
        pair_init(&p, suites[i].kem, suites[i].kdf, suites[i].aead);
        single_round_trip(&p, msg, sizeof msg);
        single_round_trip(&p, msg, 0);
        chunked_round_trip(&p, msg, sizeof msg, 1000, 4096);
        chunked_round_trip(&p, msg, 100, 7, 1);
        chunked_round_trip(&p, msg, 0, 1, 3);
        veil_ohttp_gateway_free(p.gw);
    }
}

static void test_gateway_classifies_failures(void **state)
{
    pair p;
    pair_init(&p, VEIL_HPKE_KEM_X25519, 1, 1);
    veil_buf enc, out;
    veil_buf_init(&enc, 0), veil_buf_init(&out, 0);
    veil_ohttp_client_ctx *cc;
    veil_ohttp_server_ctx *sc = NULL;
    veil_ohttp_decap_error why;
    const uint8_t msg[] = "hello";
    tu_ok(veil_ohttp_client_encap(&p.cfg, &p.suite, msg, sizeof msg, &enc, &cc));

    enc.data[0] ^= 1; /* key id 7 -> 6 */
    assert_false(veil_ok(veil_ohttp_server_decap(p.gw, enc.data, enc.len, &out, &sc, &why)));
    assert_int_equal(why, VEIL_OHTTP_DECAP_UNKNOWN_KEY);
    enc.data[0] ^= 1;
    enc.data[6] = 3; /* AEAD the config does not offer */
    assert_false(veil_ok(veil_ohttp_server_decap(p.gw, enc.data, enc.len, &out, &sc, &why)));
    assert_int_equal(why, VEIL_OHTTP_DECAP_UNSUPPORTED_SUITE);
    enc.data[6] = 1;
    enc.data[enc.len - 1] ^= 0x80;
    veil_result r = veil_ohttp_server_decap(p.gw, enc.data, enc.len, &out, &sc, &why);
    assert_int_equal(r.cls, VEIL_E_CRYPTO);
    assert_int_equal(why, VEIL_OHTTP_DECAP_DECRYPT);
    assert_null(sc);
    for (size_t cut = 0; cut < 7 + 32 + 16; cut++) {
        veil_buf_clear(&out);
        assert_false(veil_ok(veil_ohttp_server_decap(p.gw, enc.data, cut, &out, &sc, &why)));
        assert_int_equal(why, VEIL_OHTTP_DECAP_MALFORMED);
    }
    /* a response shorter than nonce + tag, or tampered, is refused */
    uint8_t shortres[20] = {0};
    assert_int_equal(veil_ohttp_client_decap(cc, shortres, sizeof shortres, &out).cls,
                     VEIL_E_PROTOCOL);
    uint8_t bogus[16 + 16 + 4] = {0};
    assert_int_equal(veil_ohttp_client_decap(cc, bogus, sizeof bogus, &out).cls, VEIL_E_CRYPTO);
    veil_ohttp_client_ctx_free(cc);
    veil_buf_free(&enc), veil_buf_free(&out);
    veil_ohttp_gateway_free(p.gw);
}

/* Build a chunked request of three 10-byte chunks and a final one. */
static void chunked_request(pair *p, veil_buf *wire, size_t *chunk_ends)
{
    veil_ohttp_chunked_client *cc;
    const uint8_t part[10] = "0123456789";
    veil_buf_init(wire, 0);
    tu_ok(veil_ohttp_chunked_client_new(&p->cfg, &p->suite, 0, wire, &cc));
    for (int i = 0; i < 3; i++) {
        tu_ok(veil_ohttp_chunked_client_write(cc, part, sizeof part, 0, wire));
        chunk_ends[i] = wire->len;
    }
    tu_ok(veil_ohttp_chunked_client_write(cc, part, 4, 1, wire));
    chunk_ends[3] = wire->len;
    veil_ohttp_chunked_client_free(cc);
}

static veil_result server_consume(pair *p, const uint8_t *w, size_t n, size_t max_chunk)
{
    veil_ohttp_chunked_server *sc;
    veil_buf out;
    veil_buf_init(&out, 0);
    tu_ok(veil_ohttp_chunked_server_new(p->gw, max_chunk, &sc));
    veil_result r = veil_ohttp_chunked_server_read(sc, w, n, &out, NULL);
    if (veil_ok(r))
        r = veil_ohttp_chunked_server_finish(sc, &out);
    veil_ohttp_chunked_server_free(sc);
    veil_buf_free(&out);
    return r;
}

static void test_chunked_truncation_and_tampering(void **state)
{
    pair p;
    pair_init(&p, VEIL_HPKE_KEM_X25519, 1, 1);
    veil_buf w;
    size_t ends[4];
    chunked_request(&p, &w, ends);
    tu_ok(server_consume(&p, w.data, w.len, 0));
    /* dropping the final chunk is truncation, not a short message */
    veil_result r = server_consume(&p, w.data, ends[2], 0);
    assert_int_equal(r.cls, VEIL_E_PROTOCOL);
    assert_non_null(strstr(r.msg, "truncated"));
    /* every cut inside the stream fails */
    for (size_t cut = 0; cut < w.len; cut++)
        assert_false(veil_ok(server_consume(&p, w.data, cut, 0)));
    /* extra bytes after the final chunk break its tag */
    tu_ok(veil_buf_u8(&w, 0));
    assert_int_equal(server_consume(&p, w.data, w.len, 0).cls, VEIL_E_CRYPTO);
    w.len--;
    /* a non-final chunk presented as final (zero length inserted) fails */
    veil_buf moved;
    veil_buf_init(&moved, 0);
    tu_ok(veil_buf_append(&moved, w.data, ends[1]));
    tu_ok(veil_buf_u8(&moved, 0));
    tu_ok(veil_buf_append(&moved, w.data + ends[1] + 1, ends[2] - ends[1] - 1));
    assert_int_equal(server_consume(&p, moved.data, moved.len, 0).cls, VEIL_E_CRYPTO);
    /* chunks larger than the reader's limit are refused */
    r = server_consume(&p, w.data, w.len, 20);
    assert_int_equal(r.cls, VEIL_E_PROTOCOL);
    assert_non_null(strstr(r.msg, "limit"));
    veil_buf_free(&moved);
    veil_buf_free(&w);
    veil_ohttp_gateway_free(p.gw);
}

static void test_chunked_response_truncation(void **state)
{
    pair p;
    pair_init(&p, VEIL_HPKE_KEM_X25519, 1, 1);
    veil_buf req, body, res, out;
    veil_buf_init(&req, 0), veil_buf_init(&body, 0), veil_buf_init(&res, 0), veil_buf_init(&out, 0);
    veil_ohttp_chunked_client *cc;
    veil_ohttp_chunked_server *sc;
    tu_ok(veil_ohttp_chunked_client_new(&p.cfg, &p.suite, 0, &req, &cc));
    tu_ok(veil_ohttp_chunked_client_write(cc, (const uint8_t *)"q", 1, 1, &req));
    tu_ok(veil_ohttp_chunked_server_new(p.gw, 0, &sc));
    assert_int_equal(veil_ohttp_chunked_server_write(sc, NULL, 0, 1, &res).cls, VEIL_E_USAGE);
    tu_ok(veil_ohttp_chunked_server_read(sc, req.data, req.len, &body, NULL));
    assert_true(veil_ohttp_chunked_server_ready(sc));
    tu_ok(veil_ohttp_chunked_server_write(sc, (const uint8_t *)"abc", 3, 0, &res));
    size_t first = res.len;
    tu_ok(veil_ohttp_chunked_server_write(sc, (const uint8_t *)"de", 2, 1, &res));
    tu_ok(veil_ohttp_chunked_client_read(cc, res.data, first, &out));
    assert_int_equal(out.len, 3); /* the first chunk is released before the end */
    veil_result r = veil_ohttp_chunked_client_finish(cc, &out);
    assert_int_equal(r.cls, VEIL_E_PROTOCOL);
    assert_non_null(strstr(r.msg, "truncated"));
    /* the failure is sticky */
    assert_false(veil_ok(veil_ohttp_chunked_client_read(cc, res.data + first, 1, &out)));
    veil_ohttp_chunked_client_free(cc);
    veil_ohttp_chunked_server_free(sc);
    veil_buf_free(&req), veil_buf_free(&body), veil_buf_free(&res), veil_buf_free(&out);
    veil_ohttp_gateway_free(p.gw);
}

static void test_gateway_key_set(void **state)
{
    pair p;
    pair_init(&p, VEIL_HPKE_KEM_X25519, 1, 1);
    veil_hpke_key *other;
    veil_ohttp_keyconfig cfg2;
    const veil_ohttp_symalg alg = {1, 1};
    make_config(VEIL_HPKE_KEM_X25519, 7, &alg, 1, &cfg2, &other);
    assert_int_equal(veil_ohttp_gateway_add(p.gw, &cfg2, other).cls, VEIL_E_USAGE); /* id reuse */
    cfg2.key_id = 8;
    cfg2.public_key[0] ^= 1;
    assert_int_equal(veil_ohttp_gateway_add(p.gw, &cfg2, other).cls, VEIL_E_USAGE); /* mismatch */
    cfg2.public_key[0] ^= 1;
    tu_ok(veil_ohttp_gateway_add(p.gw, &cfg2, other));
    veil_buf keys;
    veil_buf_init(&keys, 0);
    tu_ok(veil_ohttp_gateway_keys(p.gw, &keys));
    veil_ohttp_keyconfig got[4];
    size_t n, skipped;
    tu_ok(veil_ohttp_keys_decode(keys.data, keys.len, got, 4, &n, &skipped));
    assert_int_equal(n, 2);
    veil_ohttp_gateway_remove(p.gw, 7);
    veil_buf_clear(&keys);
    tu_ok(veil_ohttp_gateway_keys(p.gw, &keys));
    tu_ok(veil_ohttp_keys_decode(keys.data, keys.len, got, 4, &n, &skipped));
    assert_int_equal(n, 1);
    assert_int_equal(got[0].key_id, 8);
    veil_buf_free(&keys);
    veil_ohttp_gateway_free(p.gw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc9458_appendix_a),
        cmocka_unit_test(test_chunked_draft08_example),
        cmocka_unit_test(test_vector_file_in_wrong_format_is_an_error),
        cmocka_unit_test(test_keys_list_skips_unknown_kem),
        cmocka_unit_test(test_malformed_key_configs),
        cmocka_unit_test(test_select_picks_strongest_suite),
        cmocka_unit_test(test_round_trips_every_kem),
        cmocka_unit_test(test_gateway_classifies_failures),
        cmocka_unit_test(test_chunked_truncation_and_tampering),
        cmocka_unit_test(test_chunked_response_truncation),
        cmocka_unit_test(test_gateway_key_set),
    };
    return cmocka_run_group_tests_name("ohttp", tests, NULL, NULL);
}
