/* Transparency ledger: RFC 8785 canonical JSON against the RFC's and its
 * reference implementation's vectors; the RFC 9162 Merkle tree against the
 * Certificate Transparency test tree and, exhaustively, an independent
 * reference implementation for every tree of up to 64 leaves; signed tree
 * heads; the SQLite log (batches, reopen, tampering caught by verify_all,
 * SIGKILL at random points); receipts that must fail closed; and the client
 * tree-head state that must catch a fork. */
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/digest.h"
#include "testutil.h"
#include "veil/base64.h"
#include "veil/hex.h"
#include "veil/ledger.h"
#include "veil/mem.h"

/* The fixed log key of the fuzz corpus (tests/fuzz/fuzz_receipt.c holds its
 * public half): a P-384 key made for these tests with
 *   openssl ecparam -name secp384r1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt */
static const char fixture_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDAJEPFkm26uPaYWt9QO\n"
    "9KA8zOWwlKXyMlgQIJnEKZx79xtGXzUI51w/GXPqVUP1opyhZANiAATWLkMBv/G2\n"
    "n4CpanTRAlsdNPxVHZSyftMqoRath1KLi4kzqvQ0ODpz3FPtO8HC5Q6/DVGG/6A6\n"
    "XPV8xSv6snkhpVw3k0HyF2p09WDyHqjvh6uD1u0DiCfownaVYGTOYYo=\n"
    "-----END PRIVATE KEY-----\n";
static const char fixture_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE1i5DAb/xtp+AqWp00QJbHTT8VR2Usn7T\n"
    "KqEWrYdSi4uJM6r0NDg6c9xT7TvBwuUOvw1Rhv+gOlz1fMUr+rJ5IaVcN5NB8hdq\n"
    "dPVg8h6o74erg9btA4gn6MJ2lWBkzmGK\n"
    "-----END PUBLIC KEY-----\n";

static veil_sign_key *key_from(const char *pem)
{
    veil_sign_key *k = NULL;
    tu_ok(veil_sign_key_from_pem((const uint8_t *)pem, strlen(pem), &k));
    return k;
}

#define assert_fails_with(expr, message)                                                           \
    do {                                                                                           \
        veil_result r_ = (expr);                                                                   \
        if (veil_ok(r_))                                                                           \
            fail_msg("%s succeeded; expected \"%s\"", #expr, (message));                           \
        if (strcmp(r_.msg, (message)) != 0)                                                        \
            fail_msg("%s failed with \"%s\"; expected \"%s\"", #expr, r_.msg, (message));          \
    } while (0)

/* ---- temporary directories ------------------------------------------------ */

typedef struct tmpdir {
    char dir[64];
    char path[128]; /* scratch for tmp_path */
} tmpdir;

static void tmp_make(tmpdir *t)
{
    strcpy(t->dir, "/tmp/veil-ledger-test-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
}

static const char *tmp_path(tmpdir *t, const char *name)
{
    snprintf(t->path, sizeof t->path, "%s/%s", t->dir, name);
    return t->path;
}

static void tmp_remove(tmpdir *t)
{
    DIR *d = opendir(t->dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", t->dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(t->dir);
}

/* ---- RFC 8785 ---------------------------------------------------------------- */

static void assert_canonical(const char *in, const char *want)
{
    veil_buf out;
    veil_buf_init(&out, 0);
    tu_ok(veil_jcs_canonicalize((const uint8_t *)in, strlen(in), &out));
    if (!veil_public_equal(out.data, out.len, want, strlen(want)))
        fail_msg("canonical form of %s\n got: %.*s\nwant: %s", in, (int)out.len,
                 (const char *)out.data, want);
    /* idempotent: the canonical form is its own canonical form */
    veil_buf again;
    veil_buf_init(&again, 0);
    tu_ok(veil_jcs_canonicalize(out.data, out.len, &again));
    tu_assert_bytes(again.data, again.len, out.data, out.len);
    veil_buf_free(&again);
    veil_buf_free(&out);
}

/* cyberphone/json-canonicalization testdata/input and testdata/output (the
 * RFC 8785 author's reference test set) and RFC 8785 §3.2.3's sorting
 * example. */
static void test_jcs_reference_vectors(void **state)
{
    (void)state;
    /* arrays.json */
    assert_canonical("[\n  56,\n  {\n    \"d\": true,\n    \"10\": null,\n    \"1\": [ ]\n  }\n]",
                     "[56,{\"1\":[],\"10\":null,\"d\":true}]");
    /* french.json */
    assert_canonical("{\n  \"peach\": \"This sorting order\",\n  \"p\xc3\xa9"
                     "ch\xc3\xa9\": \"is "
                     "wrong according to French\",\n  \"p\xc3\xaa"
                     "che\": \"but canonicalization "
                     "MUST\",\n  \"sin\":   \"ingnore locale\"\n}\n",
                     "{\"peach\":\"This sorting order\",\"p\xc3\xa9"
                     "ch\xc3\xa9\":\"is wrong "
                     "according to French\",\"p\xc3\xaa"
                     "che\":\"but canonicalization MUST\","
                     "\"sin\":\"ingnore locale\"}");
    /* structures.json */
    assert_canonical("{\n  \"1\": {\"f\": {\"f\": \"hi\",\"F\": 5} ,\"\\n\": 56.0},\n  \"10\": { "
                     "},\n  \"\": \"empty\",\n  \"a\": { },\n  \"111\": [ { } ],\n  \"A\": { }\n}",
                     "{\"\":\"empty\",\"1\":{\"\\n\":56,\"f\":{\"F\":5,\"f\":\"hi\"}},\"10\":{},"
                     "\"111\":[{}],\"A\":{},\"a\":{}}");
    /* unicode.json: no normalisation */
    assert_canonical("{\n  \"Unnormalized Unicode\":\"\\u1e0d\\u0307\"\n}\n",
                     "{\"Unnormalized Unicode\":\"\xe1\xb8\x8d\xcc\x87\"}");
    /* values.json */
    assert_canonical(
        "{\n  \"numbers\": [1E30, 4.50, 333333333.33333329, 2e-3, "
        "0.000000000000000000000000001],\n  \"escaping\": "
        "\"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n  \"literals\": "
        "[null, true, false]\n}",
        "{\"escaping\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\",\"literals\":"
        "[null,true,false],\"numbers\":[1e+30,4.5,333333333.3333333,0.002,1e-27]}");
    /* weird.json: UTF-16 order puts U+1F602 (D83D DE02) before U+FB33 */
    assert_canonical(
        "{\n  \"\\u20ac\": \"Euro Sign\",\n  \"1\": \"One\",\n  \"\\u0080\": "
        "\"Control\\u007f\",\n  \"\\ud83d\\ude02\": \"Smiley\",\n  \"\\u00f6\": "
        "\"Latin Small Letter O With Diaeresis\",\n  \"\\ufb33\": \"Hebrew Letter "
        "Dalet With Dagesh\",\n  \"</script>\": \"Browser Challenge\"\n}\n",
        "{\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\xc2\x80\":\"Control\x7f\","
        "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro "
        "Sign\",\"\xf0\x9f\x98\x82\":\"Smiley\",\"\xef\xac\xb3\":\"Hebrew Letter Dalet "
        "With Dagesh\"}");
    /* simpleString.json */
    assert_canonical("    \"this is a test string 1235\"", "\"this is a test string 1235\"");
    /* RFC 8785 §3.2.3 */
    assert_canonical(
        "{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\",\"\\ufb33\":\"Hebrew "
        "Letter Dalet With Dagesh\",\"1\":\"One\",\"\\ud83d\\ude00\":\"Emoji: Grinning "
        "Face\",\"\\u0080\":\"Control\",\"\\u00f6\":\"Latin Small Letter O With "
        "Diaeresis\"}",
        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\",\"\xc3\xb6\":"
        "\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\","
        "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\",\"\xef\xac\xb3\":\"Hebrew Letter "
        "Dalet With Dagesh\"}");
    /* every control character, and the ones left alone */
    assert_canonical("\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \\/\\u007f\"",
                     "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f /\x7f\"");
    /* integers and integral doubles */
    assert_canonical("[0,-0,1,-1,9007199254740992,-9007199254740992,1.0,-0.0,1e2,100]",
                     "[0,0,1,-1,9007199254740992,-9007199254740992,1,0,100,100]");
}

/* RFC 8785 Appendix B: IEEE 754 bit patterns and their ECMAScript text. */
static void test_jcs_numbers(void **state)
{
    (void)state;
    static const struct {
        uint64_t bits;
        const char *text;
    } v[] = {
        {0x0000000000000000ull, "0"},
        {0x8000000000000000ull, "0"},
        {0x0000000000000001ull, "5e-324"},
        {0x8000000000000001ull, "-5e-324"},
        {0x7fefffffffffffffull, "1.7976931348623157e+308"},
        {0xffefffffffffffffull, "-1.7976931348623157e+308"},
        {0x4340000000000000ull, "9007199254740992"},
        {0xc340000000000000ull, "-9007199254740992"},
        {0x4430000000000000ull, "295147905179352830000"},
        {0x44b52d02c7e14af5ull, "9.999999999999997e+22"},
        {0x44b52d02c7e14af6ull, "1e+23"},
        {0x44b52d02c7e14af7ull, "1.0000000000000001e+23"},
        {0x444b1ae4d6e2ef4eull, "999999999999999700000"},
        {0x444b1ae4d6e2ef4full, "999999999999999900000"},
        {0x444b1ae4d6e2ef50ull, "1e+21"},
        {0x3eb0c6f7a0b5ed8cull, "9.999999999999997e-7"},
        {0x3eb0c6f7a0b5ed8dull, "0.000001"},
        {0x41b3de4355555553ull, "333333333.3333332"},
        {0x41b3de4355555554ull, "333333333.33333325"},
        {0x41b3de4355555555ull, "333333333.3333333"},
        {0x41b3de4355555556ull, "333333333.3333334"},
        {0x41b3de4355555557ull, "333333333.33333343"},
        {0xbecbf647612f3696ull, "-0.0000033333333333333333"},
        {0x43143ff3c1cb0959ull, "1424953923781206.2"},
    };
    char out[VEIL_JCS_NUMBER_MAX];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        double d;
        memcpy(&d, &v[i].bits, sizeof d);
        tu_ok(veil_jcs_number(d, out));
        assert_string_equal(out, v[i].text);
    }
    /* NaN and infinity (Appendix B's last rows) are errors */
    uint64_t nan = 0x7fffffffffffffffull, inf = 0x7ff0000000000000ull;
    double d;
    memcpy(&d, &nan, sizeof d);
    assert_int_equal(veil_jcs_number(d, out).cls, VEIL_E_PROTOCOL);
    memcpy(&d, &inf, sizeof d);
    assert_int_equal(veil_jcs_number(d, out).cls, VEIL_E_PROTOCOL);
}

static void test_jcs_refusals(void **state)
{
    (void)state;
    veil_buf out;
    veil_buf_init(&out, 0);
    static const char *bad[] = {
        "{\"a\":1,\"a\":2}",       /* duplicate name */
        "{\"\\u0061\":1,\"a\":2}", /* duplicate after unescaping */
        "[9007199254740993]",      /* beyond ±2^53 */
        "[-9007199254740993]",
        "[1e20]", /* an integer beyond ±2^53 once written canonically */
        "[-9007199254740994.0]",
        "\"\\ud800\"",  /* lone surrogate */
        "\"\xc3\x28\"", /* invalid UTF-8 */
        "{\"a\":1",     /* truncated */
        "[1,]",         /* not JSON */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        veil_result r = veil_jcs_canonicalize((const uint8_t *)bad[i], strlen(bad[i]), &out);
        if (veil_ok(r))
            fail_msg("canonicalised invalid input %zu: %s", i, bad[i]);
        assert_int_equal(out.len, 0);
    }
    assert_fails_with(veil_jcs_canonicalize((const uint8_t *)"[9007199254740993]", 18, &out),
                      "jcs: integer outside ±2^53 is not exact in JSON (RFC 8785 §3.2.2.3)");
    /* nesting: 128 levels are fine, 129 are not */
    char deep[300];
    memset(deep, '[', 129);
    memset(deep + 129, ']', 129);
    assert_int_equal(veil_jcs_canonicalize((const uint8_t *)deep, 258, &out).cls, VEIL_E_PROTOCOL);
    tu_ok(veil_jcs_canonicalize((const uint8_t *)deep + 1, 256, &out));
    veil_buf_free(&out);
}

/* Random JSON values: key order must not matter, and canonicalisation must
 * be a fixed point (canon(parse(canon(x))) == canon(x)). */
static json_t *random_value(unsigned *seed, int depth)
{
    static const char *const names[] = {
        "a", "b",  "\xc3\xb6", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xef\xac\xb3", "1", "10",
        "",  "\r", "A",        "type"};
    int kind = depth > 3 ? rand_r(seed) % 5 : rand_r(seed) % 7;
    switch (kind) {
    case 0: return json_null();
    case 1: return json_boolean(rand_r(seed) & 1);
    case 2: return json_integer((json_int_t)rand_r(seed) - RAND_MAX / 2);
    case 3: {
        double d = (double)rand_r(seed) / (1 + rand_r(seed) % 1000) * ((rand_r(seed) & 1) ? 1 : -1);
        return json_real(d * 1e-3);
    }
    case 4: {
        char s[8];
        int n = rand_r(seed) % 7;
        for (int i = 0; i < n; i++)
            s[i] = (char)(1 + rand_r(seed) % 126);
        return json_stringn(s, (size_t)n);
    }
    case 5: {
        json_t *a = json_array();
        for (int i = rand_r(seed) % 4; i > 0; i--)
            json_array_append_new(a, random_value(seed, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (int i = rand_r(seed) % 6; i > 0; i--)
            json_object_set_new(o, names[rand_r(seed) % 12], random_value(seed, depth + 1));
        return o;
    }
    }
}

/* The same members inserted in reverse order. */
static json_t *reversed(const json_t *v)
{
    if (json_is_array(v)) {
        json_t *a = json_array();
        for (size_t i = 0; i < json_array_size(v); i++)
            json_array_append_new(a, reversed(json_array_get(v, i)));
        return a;
    }
    if (!json_is_object(v))
        return json_deep_copy(v);
    const char *keys[16];
    json_t *vals[16];
    size_t n = 0;
    const char *k;
    json_t *x;
    json_object_foreach ((json_t *)v, k, x) {
        keys[n] = k;
        vals[n++] = x;
    }
    json_t *o = json_object();
    while (n--)
        json_object_set_new(o, keys[n], reversed(vals[n]));
    return o;
}

static void test_jcs_properties(void **state)
{
    (void)state;
    unsigned seed = 20240601;
    for (int i = 0; i < 2000; i++) {
        json_t *v = random_value(&seed, 0), *r = reversed(v);
        veil_buf a, b, c;
        veil_buf_init(&a, 0);
        veil_buf_init(&b, 0);
        veil_buf_init(&c, 0);
        tu_ok(veil_jcs_serialize(v, &a));
        tu_ok(veil_jcs_serialize(r, &b));
        tu_assert_bytes(b.data, b.len, a.data, a.len);
        tu_ok(veil_jcs_canonicalize(a.data, a.len, &c));
        tu_assert_bytes(c.data, c.len, a.data, a.len);
        veil_buf_free(&a);
        veil_buf_free(&b);
        veil_buf_free(&c);
        json_decref(v);
        json_decref(r);
    }
}

/* ---- RFC 9162 Merkle tree: published vectors --------------------------------- */

/* The RFC 6962 test tree used by Certificate Transparency implementations,
 * from transparency-dev/merkle proof/verify_test.go (commit 02194e9a): leaf
 * inputs, the roots of the first 1..8 leaves, and reference proofs. */
static const char *const ct_leaves[8] = {"",
                                         "00",
                                         "10",
                                         "2021",
                                         "3031",
                                         "40414243",
                                         "5051525354555657",
                                         "606162636465666768696a6b6c6d6e6f"};
static const char *const ct_roots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};
#define H_96A2 "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
#define H_5F08 "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
#define H_6B47 "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
#define H_BC1A "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
#define H_CA85 "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
#define H_D37E "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"
#define H_FAC5 "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
#define H_6E34 "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
#define H_0EBC "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
#define H_B086 "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"

typedef struct proof_vector {
    uint64_t a, b; /* inclusion: leaf index, tree size; consistency: sizes */
    const char *hash[4];
} proof_vector;

/* verify_test.go lists inclusion leaves 1-based; these are 0-based. */
static const proof_vector ct_inclusion[] = {
    {0, 8, {H_96A2, H_5F08, H_6B47}},
    {5, 8, {H_BC1A, H_CA85, H_D37E}},
    {2, 3, {H_FAC5}},
    {1, 5, {H_6E34, H_5F08, H_BC1A}},
};
static const proof_vector ct_consistency[] = {
    {1, 8, {H_96A2, H_5F08, H_6B47}},
    {6, 8, {H_0EBC, H_CA85, H_D37E}},
    {2, 5, {H_5F08, H_BC1A}},
    {6, 7, {H_0EBC, H_B086, H_D37E}},
};

static void hex32(const char *hex, uint8_t out[32])
{
    veil_buf b;
    tu_hex(&b, hex);
    assert_int_equal(b.len, 32);
    memcpy(out, b.data, 32);
    veil_buf_free(&b);
}

static void vector_proof(const proof_vector *v, veil_merkle_proof *p)
{
    memset(p, 0, sizeof *p);
    for (; p->len < 4 && v->hash[p->len]; p->len++)
        hex32(v->hash[p->len], p->hash[p->len]);
}

static veil_merkle_tree *ct_tree(void)
{
    veil_merkle_tree *t;
    tu_ok(veil_merkle_tree_new(&t));
    for (int i = 0; i < 8; i++) {
        veil_buf b;
        tu_hex(&b, ct_leaves[i]);
        tu_ok(veil_merkle_tree_append(t, b.data, b.len));
        veil_buf_free(&b);
    }
    return t;
}

static void leaf_of(int i, uint8_t out[32])
{
    veil_buf b;
    tu_hex(&b, ct_leaves[i]);
    tu_ok(veil_merkle_leaf_hash(b.data, b.len, out));
    veil_buf_free(&b);
}

/* The corruptions of verify_test.go's corruptInclusionProof. */
static void inclusion_probes(uint64_t index, uint64_t size, const veil_merkle_proof *p,
                             const uint8_t root[32], const uint8_t leaf[32])
{
    uint8_t empty[32], some[32], wrong_leaf[32];
    veil_merkle_proof q;
    hex32(ct_roots[0], empty);
    hex32("abacaba000000000000000000000000000000000000000000060061e00123456", some);
    tu_ok(veil_merkle_leaf_hash((const uint8_t *)"WrongLeaf", 9, wrong_leaf));
    assert_false(veil_ok(veil_merkle_verify_inclusion(index - 1, size, leaf, p, root)));
    assert_false(veil_ok(veil_merkle_verify_inclusion(index + 1, size, leaf, p, root)));
    assert_false(veil_ok(veil_merkle_verify_inclusion(index ^ 2, size, leaf, p, root)));
    assert_false(veil_ok(veil_merkle_verify_inclusion(index, size * 2, leaf, p, root)));
    assert_false(veil_ok(veil_merkle_verify_inclusion(index, size / 2, leaf, p, root)));
    assert_false(veil_ok(veil_merkle_verify_inclusion(index, size, wrong_leaf, p, root)));
    assert_false(veil_ok(veil_merkle_verify_inclusion(index, size, leaf, p, empty)));
    assert_false(veil_ok(veil_merkle_verify_inclusion(index, size, leaf, p, some)));
    /* trailing / preceding root */
    q = *p;
    memcpy(q.hash[q.len++], root, 32);
    assert_false(veil_ok(veil_merkle_verify_inclusion(index, size, leaf, &q, root)));
    memcpy(q.hash[0], root, 32);
    memcpy(q.hash + 1, p->hash, p->len * 32);
    assert_false(veil_ok(veil_merkle_verify_inclusion(index, size, leaf, &q, root)));
    /* one bit of one step; a step removed; a step inserted */
    for (size_t i = 0; i < p->len; i++) {
        q = *p;
        q.hash[i][0] ^= 8;
        assert_false(veil_ok(veil_merkle_verify_inclusion(index, size, leaf, &q, root)));
    }
    if (p->len > 0) {
        q = *p;
        q.len--;
        assert_false(veil_ok(veil_merkle_verify_inclusion(index, size, leaf, &q, root)));
    }
    if (p->len > 1) {
        q = *p;
        memcpy(q.hash[1], some, 32);
        memcpy(q.hash + 2, p->hash + 1, (p->len - 1) * 32);
        q.len++;
        assert_false(veil_ok(veil_merkle_verify_inclusion(index, size, leaf, &q, root)));
    }
}

static void test_merkle_ct_vectors(void **state)
{
    (void)state;
    veil_merkle_tree *t = ct_tree();
    uint8_t root[32], want[32], r2[32], leaf[32];
    veil_merkle_proof p, got;

    for (uint64_t n = 0; n <= 8; n++) {
        hex32(ct_roots[n], want);
        tu_ok(veil_merkle_tree_root(t, n, root));
        tu_assert_bytes(root, 32, want, 32);
    }
    for (size_t i = 0; i < sizeof ct_inclusion / sizeof ct_inclusion[0]; i++) {
        const proof_vector *v = &ct_inclusion[i];
        vector_proof(v, &p);
        tu_ok(veil_merkle_tree_inclusion_proof(t, v->a, v->b, &got));
        assert_int_equal(got.len, p.len);
        tu_assert_bytes(got.hash[0], got.len * 32, p.hash[0], p.len * 32);
        hex32(ct_roots[v->b], root);
        leaf_of((int)v->a, leaf);
        tu_ok(veil_merkle_verify_inclusion(v->a, v->b, leaf, &p, root));
        inclusion_probes(v->a, v->b, &p, root, leaf);
    }
    for (size_t i = 0; i < sizeof ct_consistency / sizeof ct_consistency[0]; i++) {
        const proof_vector *v = &ct_consistency[i];
        vector_proof(v, &p);
        tu_ok(veil_merkle_tree_consistency_proof(t, v->a, v->b, &got));
        assert_int_equal(got.len, p.len);
        tu_assert_bytes(got.hash[0], got.len * 32, p.hash[0], p.len * 32);
        hex32(ct_roots[v->a], root);
        hex32(ct_roots[v->b], r2);
        tu_ok(veil_merkle_verify_consistency(v->a, v->b, root, r2, &p));
        /* corruptConsistencyProof */
        assert_false(veil_ok(veil_merkle_verify_consistency(v->a - 1, v->b, root, r2, &p)));
        assert_false(veil_ok(veil_merkle_verify_consistency(v->a + 1, v->b, root, r2, &p)));
        assert_false(veil_ok(veil_merkle_verify_consistency(v->a ^ 2, v->b, root, r2, &p)));
        assert_false(veil_ok(veil_merkle_verify_consistency(v->a, v->b * 2, root, r2, &p)));
        assert_false(veil_ok(veil_merkle_verify_consistency(v->a, v->b / 2, root, r2, &p)));
        assert_false(veil_ok(veil_merkle_verify_consistency(v->a, v->b, r2, root, &p)));
        veil_merkle_proof q = p;
        q.len = 0;
        assert_fails_with(veil_merkle_verify_consistency(v->a, v->b, root, r2, &q),
                          "ledger: consistency proof is empty");
        for (size_t j = 0; j < p.len; j++) {
            q = p;
            q.hash[j][0] ^= 16;
            assert_false(veil_ok(veil_merkle_verify_consistency(v->a, v->b, root, r2, &q)));
        }
        q = p;
        memcpy(q.hash[q.len++], r2, 32);
        assert_false(veil_ok(veil_merkle_verify_consistency(v->a, v->b, root, r2, &q)));
        q = p;
        q.len--;
        assert_false(veil_ok(veil_merkle_verify_consistency(v->a, v->b, root, r2, &q)));
    }
    /* TestVerifyConsistency's trivial cases */
    uint8_t e[32];
    hex32(ct_roots[0], e);
    p.len = 0;
    tu_ok(veil_merkle_verify_consistency(0, 0, e, e, &p));
    tu_ok(veil_merkle_verify_consistency(0, 1, e, root, &p));
    tu_ok(veil_merkle_verify_consistency(1, 1, root, root, &p));
    assert_fails_with(veil_merkle_verify_consistency(1, 1, e, root, &p),
                      "ledger: two different roots for the same tree size");
    assert_false(veil_ok(veil_merkle_verify_consistency(1, 0, root, e, &p)));
    assert_false(veil_ok(veil_merkle_verify_consistency(2, 1, root, e, &p)));
    p.len = 1;
    memcpy(p.hash[0], e, 32);
    assert_false(veil_ok(veil_merkle_verify_consistency(0, 0, e, e, &p)));
    assert_false(veil_ok(veil_merkle_verify_consistency(0, 1, e, e, &p)));
    assert_false(veil_ok(veil_merkle_verify_consistency(1, 1, e, e, &p)));
    /* inclusion with an empty proof: only index 0 of a one-leaf tree */
    p.len = 0;
    leaf_of(0, leaf);
    hex32(ct_roots[1], root);
    tu_ok(veil_merkle_verify_inclusion(0, 1, leaf, &p, root));
    assert_false(veil_ok(veil_merkle_verify_inclusion(0, 0, leaf, &p, root)));
    assert_false(veil_ok(veil_merkle_verify_inclusion(1, 1, leaf, &p, root)));
    assert_false(veil_ok(veil_merkle_verify_inclusion(2, 1, leaf, &p, root)));
    veil_merkle_tree_free(t);
}

/* ---- RFC 9162 Merkle tree: exhaustive against a reference ------------------ */

/* An independent, literal transcription of RFC 9162 §2.1 over an array of
 * leaf hashes (no caching, no shared code with the library). */
static void ref_node(const uint8_t *l, const uint8_t *r, uint8_t out[32])
{
    uint8_t buf[65];
    buf[0] = 1;
    memcpy(buf + 1, l, 32);
    memcpy(buf + 33, r, 32);
    tu_ok(veil_sha256(buf, 65, out));
}

static uint64_t ref_k(uint64_t n)
{
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

static void ref_mth(uint8_t (*d)[32], uint64_t n, uint8_t out[32])
{
    if (n == 0) {
        tu_ok(veil_sha256(NULL, 0, out));
    } else if (n == 1) {
        memcpy(out, d[0], 32);
    } else {
        uint64_t k = ref_k(n);
        uint8_t l[32], r[32];
        ref_mth(d, k, l);
        ref_mth(d + k, n - k, r);
        ref_node(l, r, out);
    }
}

static void ref_path(uint64_t m, uint8_t (*d)[32], uint64_t n, veil_merkle_proof *p)
{
    if (n == 1)
        return;
    uint64_t k = ref_k(n);
    if (m < k) {
        ref_path(m, d, k, p);
        ref_mth(d + k, n - k, p->hash[p->len++]);
    } else {
        ref_path(m - k, d + k, n - k, p);
        ref_mth(d, k, p->hash[p->len++]);
    }
}

static void ref_subproof(uint64_t m, uint8_t (*d)[32], uint64_t n, int b, veil_merkle_proof *p)
{
    if (m == n) {
        if (!b)
            ref_mth(d, n, p->hash[p->len++]);
        return;
    }
    uint64_t k = ref_k(n);
    if (m <= k) {
        ref_subproof(m, d, k, b, p);
        ref_mth(d + k, n - k, p->hash[p->len++]);
    } else {
        ref_subproof(m - k, d + k, n - k, 0, p);
        ref_mth(d, k, p->hash[p->len++]);
    }
}

#define EXHAUSTIVE 64

static void test_merkle_exhaustive(void **state)
{
    (void)state;
    uint8_t leaves[EXHAUSTIVE][32], root[32], ref[32], r1[32];
    veil_merkle_tree *t;
    veil_merkle_proof p, want, q;
    tu_ok(veil_merkle_tree_new(&t));
    for (int i = 0; i < EXHAUSTIVE; i++) {
        char e[32];
        int n = snprintf(e, sizeof e, "leaf-%d", i);
        tu_ok(veil_merkle_leaf_hash((const uint8_t *)e, (size_t)n, leaves[i]));
        tu_ok(veil_merkle_tree_append_hash(t, leaves[i]));
    }
    for (uint64_t n = 1; n <= EXHAUSTIVE; n++) {
        ref_mth(leaves, n, ref);
        tu_ok(veil_merkle_tree_root(t, n, root));
        tu_assert_bytes(root, 32, ref, 32);
        for (uint64_t m = 0; m < n; m++) {
            /* every inclusion proof matches the RFC's and verifies ... */
            tu_ok(veil_merkle_tree_inclusion_proof(t, m, n, &p));
            memset(&want, 0, sizeof want);
            ref_path(m, leaves, n, &want);
            assert_int_equal(p.len, want.len);
            if (p.len)
                tu_assert_bytes(p.hash[0], p.len * 32, want.hash[0], want.len * 32);
            tu_ok(veil_merkle_verify_inclusion(m, n, leaves[m], &p, root));
            /* ... and no flipped byte of any step, other leaf, index or
             * size, or missing / extra step does */
            for (size_t s = 0; s < p.len; s++)
                for (size_t b = 0; b < 32; b++) {
                    q = p;
                    q.hash[s][b] ^= 0x01;
                    assert_false(veil_ok(veil_merkle_verify_inclusion(m, n, leaves[m], &q, root)));
                }
            for (uint64_t other = 0; other < n; other++)
                if (other != m)
                    assert_false(
                        veil_ok(veil_merkle_verify_inclusion(other, n, leaves[m], &p, root)));
            assert_false(veil_ok(
                veil_merkle_verify_inclusion(m, n, leaves[(m + 1) % EXHAUSTIVE], &p, root)));
            if (p.len) {
                q = p;
                q.len--;
                assert_false(veil_ok(veil_merkle_verify_inclusion(m, n, leaves[m], &q, root)));
            }
            q = p;
            memcpy(q.hash[q.len++], root, 32);
            assert_false(veil_ok(veil_merkle_verify_inclusion(m, n, leaves[m], &q, root)));
        }
        for (uint64_t m = 1; m <= n; m++) {
            tu_ok(veil_merkle_tree_root(t, m, r1));
            tu_ok(veil_merkle_tree_consistency_proof(t, m, n, &p));
            memset(&want, 0, sizeof want);
            if (m < n)
                ref_subproof(m, leaves, n, 1, &want);
            assert_int_equal(p.len, want.len);
            if (p.len)
                tu_assert_bytes(p.hash[0], p.len * 32, want.hash[0], want.len * 32);
            tu_ok(veil_merkle_verify_consistency(m, n, r1, root, &p));
            if (m == n)
                continue;
            for (size_t s = 0; s < p.len; s++)
                for (size_t b = 0; b < 32; b++) {
                    q = p;
                    q.hash[s][b] ^= 0x01;
                    assert_false(veil_ok(veil_merkle_verify_consistency(m, n, r1, root, &q)));
                }
            q = p;
            q.len--;
            assert_false(veil_ok(veil_merkle_verify_consistency(m, n, r1, root, &q)));
            q = p;
            memcpy(q.hash[q.len++], root, 32);
            assert_false(veil_ok(veil_merkle_verify_consistency(m, n, r1, root, &q)));
            assert_false(veil_ok(veil_merkle_verify_consistency(m, n, root, r1, &p)));
        }
        /* from the empty tree: nothing to prove */
        tu_ok(veil_merkle_tree_consistency_proof(t, 0, n, &p));
        assert_int_equal(p.len, 0);
    }
    /* the step-numbered messages */
    tu_ok(veil_merkle_tree_inclusion_proof(t, 5, 64, &p));
    q = p;
    q.hash[2][7] ^= 1;
    tu_ok(veil_merkle_tree_root(t, 64, root));
    assert_fails_with(veil_merkle_verify_inclusion(5, 64, leaves[5], &q, root),
                      "ledger: inclusion proof does not lead to the signed root");
    q = p;
    q.len--;
    assert_fails_with(veil_merkle_verify_inclusion(5, 64, leaves[5], &q, root),
                      "ledger: inclusion proof has fewer steps than the tree has levels");
    veil_merkle_tree_free(t);
}

/* ---- signed tree heads ---------------------------------------------------------- */

static void test_sth(void **state)
{
    (void)state;
    veil_sign_key *k = key_from(fixture_pem), *pub = key_from(fixture_pub), *other;
    tu_ok(veil_sign_key_generate(&other));
    veil_sth s, back;
    memset(&s, 0, sizeof s);
    s.tree_size = 5;
    s.timestamp_ms = 1700000000123;
    hex32(ct_roots[5], s.root_hash);
    tu_ok(veil_sth_sign(&s, k));
    char tp[44];
    tu_ok(veil_sign_key_thumbprint(pub, tp));
    assert_string_equal(s.log_id, tp);

    /* the documented signed bytes, exactly */
    veil_buf msg, want, json;
    veil_buf_init(&msg, 0);
    veil_buf_init(&want, 0);
    veil_buf_init(&json, 0);
    tu_ok(veil_sth_signed_bytes(&s, &msg));
    char text[512];
    int n = snprintf(text, sizeof text,
                     "{\"log_id\":\"%s\",\"root_hash\":\"Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hi"
                     "ZNQ=\",\"timestamp\":1700000000123,\"tree_size\":5,\"version\":\"veil-sth-"
                     "v1\"}",
                     tp);
    tu_assert_bytes(msg.data, msg.len, (const uint8_t *)text, (size_t)n);

    tu_ok(veil_sth_verify(&s, pub));
    tu_ok(veil_sth_to_json(&s, &json));
    tu_ok(veil_sth_from_json(json.data, json.len, &back));
    assert_memory_equal(&back, &s, sizeof s);
    tu_ok(veil_sth_verify(&back, pub));

    /* every signed field is bound */
    back = s;
    back.tree_size++;
    assert_fails_with(veil_sth_verify(&back, pub),
                      "ledger: tree head signature does not verify under the log key");
    back = s;
    back.timestamp_ms--;
    assert_false(veil_ok(veil_sth_verify(&back, pub)));
    back = s;
    back.root_hash[31] ^= 1;
    assert_false(veil_ok(veil_sth_verify(&back, pub)));
    back = s;
    back.signature[10] ^= 1;
    assert_false(veil_ok(veil_sth_verify(&back, pub)));
    assert_fails_with(veil_sth_verify(&s, other),
                      "ledger: tree head is from another log (log_id is not the pinned key's)");
    back = s;
    tu_ok(veil_sth_sign(&back, other)); /* a genuine head of another log */
    assert_false(veil_ok(veil_sth_verify(&back, pub)));

    /* strict parsing */
    static const char *bad[] = {
        "{}",
        "[]",
        ("{\"log_id\":\"x\",\"root_hash\":\"\",\"signature\":\"\",\"timestamp\":1,"
         "\"tree_size\":1,\"version\":\"veil-sth-v1\"}"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(veil_ok(veil_sth_from_json((const uint8_t *)bad[i], strlen(bad[i]), &back)));
    json_t *o = json_loadb((const char *)json.data, json.len, 0, NULL);
    json_object_set_new(o, "extra", json_true());
    char *extra = json_dumps(o, JSON_COMPACT);
    assert_fails_with(veil_sth_from_json((const uint8_t *)extra, strlen(extra), &back),
                      "ledger: tree head must have exactly log_id, root_hash, signature, "
                      "timestamp, tree_size and version");
    free(extra);
    json_object_del(o, "extra");
    json_object_set_new(o, "tree_size", json_integer(-1));
    extra = json_dumps(o, JSON_COMPACT);
    assert_false(veil_ok(veil_sth_from_json((const uint8_t *)extra, strlen(extra), &back)));
    free(extra);
    json_decref(o);

    veil_buf_free(&msg);
    veil_buf_free(&want);
    veil_buf_free(&json);
    veil_sign_key_free(k);
    veil_sign_key_free(pub);
    veil_sign_key_free(other);
}

/* ---- the SQLite log ------------------------------------------------------------- */

static char *entry_text(int i)
{
    static char buf[160];
    static const char *const kinds[] = {"keyconfig", "policy", "refvalues", "release"};
    snprintf(buf, sizeof buf,
             "{ \"type\": \"%s\", \"name\": \"key-%d\", \"n\": %d, \"z\": [1, {\"b\": 2, \"a\": "
             "\"\\u00e9\"}] }",
             kinds[i % 4], i % 7, i);
    return buf;
}

static void append_n(veil_ledger *l, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        const char *e = entry_text(i);
        uint64_t idx;
        tu_ok(veil_ledger_append(l, e, strlen(e), &idx));
        assert_int_equal(idx, (uint64_t)i);
    }
}

/* A mirror tree holding the same entries as the log. */
static veil_merkle_tree *mirror(veil_ledger *l)
{
    uint64_t size;
    veil_merkle_tree *t;
    tu_ok(veil_ledger_size(l, &size));
    tu_ok(veil_merkle_tree_new(&t));
    for (uint64_t i = 0; i < size; i++) {
        veil_buf e;
        veil_buf_init(&e, 0);
        tu_ok(veil_ledger_entry(l, i, &e));
        tu_ok(veil_merkle_tree_append(t, e.data, e.len));
        veil_buf_free(&e);
    }
    return t;
}

static void test_ledger_log(void **state)
{
    (void)state;
    tmpdir td;
    tmp_make(&td);
    veil_sign_key *k = key_from(fixture_pem), *pub = key_from(fixture_pub), *other;
    tu_ok(veil_sign_key_generate(&other));
    veil_ledger *l;
    char db[128];
    snprintf(db, sizeof db, "%s", tmp_path(&td, "log.db"));
    tu_ok(veil_ledger_open(db, k, &l));

    uint64_t size;
    veil_sth sth;
    tu_ok(veil_ledger_size(l, &size));
    assert_int_equal(size, 0);
    assert_false(veil_ok(veil_ledger_latest_sth(l, &sth)));

    /* entries are stored canonically with seq = index */
    append_n(l, 0, 1);
    veil_buf e;
    veil_buf_init(&e, 0);
    tu_ok(veil_ledger_entry(l, 0, &e));
    const char *want0 = "{\"n\":0,\"name\":\"key-0\",\"seq\":0,\"type\":\"keyconfig\",\"z\":[1,"
                        "{\"a\":\"\xc3\xa9\",\"b\":2}]}";
    tu_assert_bytes(e.data, e.len, (const uint8_t *)want0, strlen(want0));
    tu_ok(veil_ledger_entry_check(e.data, e.len, 0));
    assert_fails_with(veil_ledger_entry_check(e.data, e.len, 1),
                      "ledger: entry \"seq\" is not its leaf index");
    veil_buf_free(&e);

    /* a batch of 40 in one transaction, then 20 single appends */
    const char *batch[40];
    size_t lens[40];
    char store[40][160];
    for (int i = 0; i < 40; i++) {
        strcpy(store[i], entry_text(1 + i));
        batch[i] = store[i];
        lens[i] = strlen(store[i]);
    }
    uint64_t first;
    tu_ok(veil_ledger_append_batch(l, batch, lens, 40, &first));
    assert_int_equal(first, 1);
    append_n(l, 41, 20);
    tu_ok(veil_ledger_size(l, &size));
    assert_int_equal(size, 61);
    tu_ok(veil_ledger_latest_sth(l, &sth));
    assert_int_equal(sth.tree_size, 61);
    tu_ok(veil_sth_verify(&sth, pub));
    /* every committed size has a head: 1, 41, 42, ..., 61 */
    tu_ok(veil_ledger_sth_at(l, 41, &sth));
    assert_false(veil_ok(veil_ledger_sth_at(l, 20, &sth)));

    /* roots and proofs agree with an in-memory mirror at every size */
    veil_merkle_tree *t = mirror(l);
    uint8_t a[32], b[32];
    veil_merkle_proof p, q;
    for (uint64_t n = 0; n <= 61; n++) {
        tu_ok(veil_ledger_root(l, n, a));
        tu_ok(veil_merkle_tree_root(t, n, b));
        tu_assert_bytes(a, 32, b, 32);
        for (uint64_t m = 0; m < n; m++) {
            tu_ok(veil_ledger_inclusion_proof(l, m, n, &p));
            tu_ok(veil_merkle_tree_inclusion_proof(t, m, n, &q));
            assert_int_equal(p.len, q.len);
            assert_memory_equal(p.hash, q.hash, p.len * 32);
            tu_ok(veil_ledger_consistency_proof(l, m + 1, n, &p));
            tu_ok(veil_merkle_tree_consistency_proof(t, m + 1, n, &q));
            assert_int_equal(p.len, q.len);
            assert_memory_equal(p.hash, q.hash, p.len * 32);
        }
    }
    assert_false(veil_ok(veil_ledger_root(l, 62, a)));
    assert_false(veil_ok(veil_ledger_inclusion_proof(l, 61, 61, &p)));
    assert_false(veil_ok(veil_ledger_consistency_proof(l, 1, 62, &p)));
    veil_merkle_tree_free(t);

    /* refused entries, and a bad batch leaves nothing behind */
    static const char *refused[] = {
        "{\"type\":\"other\"}",
        "{\"name\":\"x\"}",
        "[1]",
        "{\"type\":\"policy\",\"seq\":3}",
        "{\"type\":\"policy\",\"type\":\"policy\"}",
        "{\"type\":\"policy\",\"x\":1e999}",
        "{\"type\":\"policy\",\"big\":9007199254740993}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_false(veil_ok(veil_ledger_append(l, refused[i], strlen(refused[i]), NULL)));
    assert_fails_with(veil_ledger_append(l, refused[3], strlen(refused[3]), NULL),
                      "ledger: entry must not carry \"seq\"; the ledger assigns it");
    batch[7] = refused[0];
    lens[7] = strlen(refused[0]);
    assert_false(veil_ok(veil_ledger_append_batch(l, batch, lens, 40, NULL)));
    tu_ok(veil_ledger_size(l, &size));
    assert_int_equal(size, 61);
    tu_ok(veil_ledger_verify_all(l));
    veil_ledger_close(l);

    /* reopen: same log; another key is refused; a public key reads only */
    assert_fails_with(veil_ledger_open(db, other, &l),
                      "ledger: the key does not match this log's log_id");
    tu_ok(veil_ledger_open(db, pub, &l));
    tu_ok(veil_ledger_verify_all(l));
    assert_fails_with(veil_ledger_append(l, store[0], strlen(store[0]), NULL),
                      "ledger: appending needs the log's private key");
    veil_ledger_close(l);
    tu_ok(veil_ledger_open(db, k, &l));
    append_n(l, 61, 3);
    tu_ok(veil_ledger_verify_all(l));
    veil_ledger_close(l);

    veil_sign_key_free(k);
    veil_sign_key_free(pub);
    veil_sign_key_free(other);
    tmp_remove(&td);
}

/* A larger log: proofs at random sizes still match the mirror. */
static void test_ledger_larger(void **state)
{
    (void)state;
    tmpdir td;
    tmp_make(&td);
    veil_sign_key *k = key_from(fixture_pem);
    veil_ledger *l;
    tu_ok(veil_ledger_open(tmp_path(&td, "big.db"), k, &l));
    enum { N = 5000, B = 500 };
    static char text[B][96];
    const char *batch[B];
    size_t lens[B];
    for (int j = 0; j < N / B; j++) {
        for (int i = 0; i < B; i++) {
            lens[i] = (size_t)snprintf(text[i], sizeof text[i],
                                       "{\"type\":\"release\",\"key\":\"k%d\",\"to\":\"tee-%d\"}",
                                       (j * B + i) % 13, j * B + i);
            batch[i] = text[i];
        }
        tu_ok(veil_ledger_append_batch(l, batch, lens, B, NULL));
    }
    veil_merkle_tree *t = mirror(l);
    unsigned seed = 7;
    for (int i = 0; i < 300; i++) {
        uint64_t n = 1 + (uint64_t)rand_r(&seed) % N, m = (uint64_t)rand_r(&seed) % n;
        veil_merkle_proof p, q;
        uint8_t a[32], b[32], leaf[32];
        tu_ok(veil_ledger_inclusion_proof(l, m, n, &p));
        tu_ok(veil_merkle_tree_inclusion_proof(t, m, n, &q));
        assert_int_equal(p.len, q.len);
        assert_memory_equal(p.hash, q.hash, p.len * 32);
        tu_ok(veil_ledger_root(l, n, a));
        tu_ok(veil_merkle_tree_root(t, n, b));
        tu_assert_bytes(a, 32, b, 32);
        veil_buf e;
        veil_buf_init(&e, 0);
        tu_ok(veil_ledger_entry(l, m, &e));
        tu_ok(veil_merkle_leaf_hash(e.data, e.len, leaf));
        tu_ok(veil_merkle_verify_inclusion(m, n, leaf, &p, a));
        veil_buf_free(&e);
        tu_ok(veil_ledger_consistency_proof(l, m + 1, n, &p));
        tu_ok(veil_merkle_tree_root(t, m + 1, b));
        tu_ok(veil_merkle_verify_consistency(m + 1, n, b, a, &p));
    }
    tu_ok(veil_ledger_verify_all(l));
    veil_merkle_tree_free(t);
    veil_ledger_close(l);
    veil_sign_key_free(k);
    tmp_remove(&td);
}

/* Tampering with the file directly (the sqlite3 CLI, as an attacker with
 * write access would) is caught by verify_all, naming what is wrong. */
static void tamper_case(tmpdir *td, const char *sql, const char *want)
{
    char cmd[1024], src[128], dst[128];
    snprintf(src, sizeof src, "%s/log.db", td->dir);
    snprintf(dst, sizeof dst, "%s/tampered.db", td->dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && sqlite3 '%s' \"%s\"", src, dst, dst, sql);
    assert_int_equal(system(cmd), 0);
    veil_sign_key *pub = key_from(fixture_pub);
    veil_ledger *l;
    tu_ok(veil_ledger_open(dst, pub, &l));
    assert_fails_with(veil_ledger_verify_all(l), want);
    veil_ledger_close(l);
    veil_sign_key_free(pub);
    unlink(dst);
}

static void test_ledger_tamper(void **state)
{
    (void)state;
    if (system("command -v sqlite3 >/dev/null 2>&1") != 0)
        skip(); /* scripts/install-deps.sh installs it */
    tmpdir td;
    tmp_make(&td);
    veil_sign_key *k = key_from(fixture_pem);
    veil_ledger *l;
    tu_ok(veil_ledger_open(tmp_path(&td, "log.db"), k, &l));
    append_n(l, 0, 11);
    tu_ok(veil_ledger_verify_all(l));
    veil_ledger_close(l); /* checkpoints the WAL into log.db */

    tamper_case(&td,
                "UPDATE entries SET body = CAST('{\\\"seq\\\":3,\\\"type\\\":\\\"release\\\"}' "
                "AS BLOB) WHERE idx = 3",
                "ledger: a stored leaf hash does not match its entry");
    tamper_case(&td, "UPDATE leaves SET hash = zeroblob(32) WHERE idx = 4",
                "ledger: a stored leaf hash does not match its entry");
    tamper_case(&td,
                "UPDATE entries SET body = CAST(' ' || CAST(body AS TEXT) AS BLOB) WHERE idx = 2",
                "ledger: entry is not in RFC 8785 canonical form");
    tamper_case(&td, "UPDATE subtrees SET hash = zeroblob(32) WHERE level = 2 AND idx = 1",
                "ledger: a stored subtree hash does not match the recomputed tree");
    tamper_case(&td, "UPDATE heads SET signature = zeroblob(96) WHERE tree_size = 7",
                "ledger: tree head signature does not verify under the log key");
    tamper_case(&td, "UPDATE heads SET root_hash = zeroblob(32) WHERE tree_size = 5",
                "ledger: a stored tree head's root does not match the recomputed tree");
    tamper_case(&td, "DELETE FROM heads WHERE tree_size = 11",
                "ledger: no stored tree head covers the latest entries");
    tamper_case(&td, "DELETE FROM entries WHERE idx = 6",
                "ledger: entry indices are not contiguous from 0");
    tamper_case(&td, "DELETE FROM subtrees WHERE level = 1 AND idx = 0",
                "ledger: the number of subtree hashes differs from what the size implies");
    veil_sign_key_free(k);
    tmp_remove(&td);
}

/* A child appends batches in a loop, reporting each committed size through
 * a pipe, and is SIGKILLed at a random moment; the reopened log must verify
 * and be at the last reported size or the one after it (the batch in flight
 * may have committed just before the kill). */
static void test_ledger_crash(void **state)
{
    (void)state;
    enum { KILLS = 20, BATCH = 3 };
    tmpdir td;
    tmp_make(&td);
    char db[128];
    snprintf(db, sizeof db, "%s", tmp_path(&td, "crash.db"));
    veil_sign_key *k = key_from(fixture_pem);
    uint64_t committed = 0;
    unsigned seed = 424242;
    int moved = 0;

    for (int kill_no = 0; kill_no < KILLS; kill_no++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            veil_ledger *l;
            if (!veil_ok(veil_ledger_open(db, k, &l)))
                _exit(2);
            for (int i = 0; i < 1000000; i++) {
                const char *batch[BATCH];
                size_t lens[BATCH];
                char text[BATCH][80];
                for (int j = 0; j < BATCH; j++) {
                    lens[j] =
                        (size_t)snprintf(text[j], sizeof text[j],
                                         "{\"type\":\"release\",\"round\":%d,\"j\":%d}", i, j);
                    batch[j] = text[j];
                }
                uint64_t first;
                if (!veil_ok(veil_ledger_append_batch(l, batch, lens, BATCH, &first)))
                    _exit(3);
                uint64_t size = first + BATCH;
                if (write(fds[1], &size, sizeof size) != (ssize_t)sizeof size)
                    _exit(4);
            }
            _exit(0);
        }
        close(fds[1]);
        struct timespec pause = {0, 5000000L + (long)(rand_r(&seed) % 200) * 1000000L};
        nanosleep(&pause, NULL);
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        uint64_t reported = committed, v;
        while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v)
            reported = v;
        close(fds[0]);

        veil_ledger *l;
        uint64_t size;
        veil_sth sth;
        tu_ok(veil_ledger_open(db, k, &l));
        tu_ok(veil_ledger_verify_all(l));
        tu_ok(veil_ledger_size(l, &size));
        if (size != reported && size != reported + BATCH)
            fail_msg("after kill %d the log has %llu entries; committed were %llu (+%d)", kill_no,
                     (unsigned long long)size, (unsigned long long)reported, BATCH);
        assert_int_equal(size % BATCH, 0);
        if (size) {
            tu_ok(veil_ledger_latest_sth(l, &sth));
            assert_int_equal(sth.tree_size, size);
        }
        moved += size > committed;
        committed = size;
        veil_ledger_close(l);
    }
    assert_true(moved > 0); /* the children did get work committed */
    print_message("crash test: %d kills, %llu entries committed\n", KILLS,
                  (unsigned long long)committed);
    veil_sign_key_free(k);
    tmp_remove(&td);
}

/* ---- receipts ------------------------------------------------------------------- */

static void test_receipts(void **state)
{
    (void)state;
    tmpdir td;
    tmp_make(&td);
    veil_sign_key *k = key_from(fixture_pem), *pub = key_from(fixture_pub), *other;
    tu_ok(veil_sign_key_generate(&other));
    veil_ledger *l;
    tu_ok(veil_ledger_open(tmp_path(&td, "log.db"), k, &l));
    append_n(l, 0, 13);

    veil_buf rc, entry;
    veil_buf_init(&rc, 0);
    veil_buf_init(&entry, 0);
    tu_ok(veil_ledger_receipt(l, 6, &rc));
    tu_ok(veil_ledger_entry(l, 6, &entry));
    veil_receipt_expect exact = {entry.data, entry.len, NULL, 0};
    const char *fields =
        "{\"type\":\"refvalues\",\"name\":\"key-6\",\"z\":[1,{\"a\":\"\\u00e9\",\"b\":2}]}";
    veil_receipt_expect by_fields = {NULL, 0, fields, strlen(fields)};
    veil_receipt got;
    tu_ok(veil_receipt_verify(rc.data, rc.len, pub, &exact, &got));
    assert_int_equal(got.leaf_index, 6);
    assert_int_equal(got.sth.tree_size, 13);
    veil_receipt_free(&got);
    tu_ok(veil_receipt_verify(rc.data, rc.len, pub, &by_fields, NULL));

    /* the written form is canonical and round-trips */
    veil_receipt r;
    veil_buf again;
    veil_buf_init(&again, 0);
    tu_ok(veil_receipt_parse(rc.data, rc.len, &r));
    tu_ok(veil_receipt_write(&r, &again));
    tu_assert_bytes(again.data, again.len, rc.data, rc.len);
    veil_buf_free(&again);

    /* fails closed: no expectation, an empty one, another key */
    veil_receipt_expect none = {NULL, 0, NULL, 0}, empty = {NULL, 0, "{}", 2};
    assert_fails_with(veil_receipt_verify(rc.data, rc.len, pub, &none, NULL),
                      "ledger: receipt verification needs the expected entry or fields");
    assert_false(veil_ok(veil_receipt_verify(rc.data, rc.len, pub, &empty, NULL)));
    assert_fails_with(veil_receipt_verify(rc.data, rc.len, other, &exact, NULL),
                      "ledger: tree head is from another log (log_id is not the pinned key's)");

    /* the entry is not the one the client is about to use */
    veil_buf e7;
    veil_buf_init(&e7, 0);
    tu_ok(veil_ledger_entry(l, 7, &e7));
    veil_receipt_expect wrong = {e7.data, e7.len, NULL, 0};
    assert_fails_with(veil_receipt_verify(rc.data, rc.len, pub, &wrong, NULL),
                      "ledger: receipt entry is not the entry the client expects");
    const char *wf = "{\"name\":\"key-5\"}", *missing = "{\"config\":\"abc\"}";
    veil_receipt_expect wrong_field = {NULL, 0, wf, strlen(wf)};
    veil_receipt_expect missing_field = {NULL, 0, missing, strlen(missing)};
    assert_fails_with(
        veil_receipt_verify(rc.data, rc.len, pub, &wrong_field, NULL),
        "ledger: receipt entry has a field whose value differs from the expected one");
    assert_fails_with(veil_receipt_verify(rc.data, rc.len, pub, &missing_field, NULL),
                      "ledger: receipt entry lacks a field the client expects");

    /* tampering with each part */
    veil_buf out;
    veil_buf_init(&out, 0);
#define REWRITE_AND_EXPECT(mutate, message)                                                        \
    do {                                                                                           \
        veil_receipt m_;                                                                           \
        tu_ok(veil_receipt_parse(rc.data, rc.len, &m_));                                           \
        mutate;                                                                                    \
        veil_buf_clear(&out);                                                                      \
        tu_ok(veil_receipt_write(&m_, &out));                                                      \
        assert_fails_with(veil_receipt_verify(out.data, out.len, pub, &by_fields, NULL), message); \
        veil_receipt_free(&m_);                                                                    \
    } while (0)
    /* an entry byte changed (still canonical): the proof no longer fits */
    REWRITE_AND_EXPECT(m_.entry.data[5] = '8', /* {"n":6 -> {"n":8 */
                       "ledger: inclusion proof does not lead to the signed root");
    REWRITE_AND_EXPECT(m_.inclusion.hash[2][0] ^= 0x80,
                       "ledger: inclusion proof does not lead to the signed root");
    REWRITE_AND_EXPECT(m_.inclusion.len--,
                       "ledger: inclusion proof has fewer steps than the tree has levels");
    REWRITE_AND_EXPECT(m_.sth.signature[0] ^= 1,
                       "ledger: tree head signature does not verify under the log key");
    REWRITE_AND_EXPECT(m_.sth.tree_size = 14,
                       "ledger: tree head signature does not verify under the log key");
    REWRITE_AND_EXPECT(m_.leaf_index = 7, "ledger: entry \"seq\" is not its leaf index");
    REWRITE_AND_EXPECT(m_.leaf_index = 13,
                       "ledger: receipt leaf index is not inside the signed tree");
    /* a re-signed head over a forged root: signature fails for other keys */
    REWRITE_AND_EXPECT(
        do {
            m_.sth.root_hash[0] ^= 1;
            tu_ok(veil_sth_sign(&m_.sth, other));
        } while (0),
        "ledger: tree head is from another log (log_id is not the pinned key's)");
    /* entry not canonical */
    REWRITE_AND_EXPECT(
        do {
            veil_buf_clear(&m_.entry);
            const char *nc = "{\"type\":\"policy\", \"seq\":6}";
            tu_ok(veil_buf_append(&m_.entry, nc, strlen(nc)));
        } while (0),
        "ledger: entry is not in RFC 8785 canonical form");
#undef REWRITE_AND_EXPECT
    veil_receipt_free(&r);

    /* malformed JSON */
    static const char *bad[] = {"", "{", "[]", "{\"entry\":\"x\"}", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(veil_ok(
            veil_receipt_verify((const uint8_t *)bad[i], strlen(bad[i]), pub, &exact, NULL)));

    veil_buf_free(&out);
    veil_buf_free(&e7);
    veil_buf_free(&rc);
    veil_buf_free(&entry);
    veil_ledger_close(l);
    veil_sign_key_free(k);
    veil_sign_key_free(pub);
    veil_sign_key_free(other);
    tmp_remove(&td);
}

/* ---- client tree-head state ------------------------------------------------------ */

static void test_client_state(void **state)
{
    (void)state;
    tmpdir td;
    tmp_make(&td);
    veil_sign_key *k = key_from(fixture_pem), *pub = key_from(fixture_pub);
    veil_ledger *l, *fork;
    char path[128], fork_db[128];
    snprintf(path, sizeof path, "%s", tmp_path(&td, "client.json"));
    snprintf(fork_db, sizeof fork_db, "%s", tmp_path(&td, "fork.db"));
    tu_ok(veil_ledger_open(tmp_path(&td, "log.db"), k, &l));
    /* the same key signing a second history: the split view a fork shows */
    tu_ok(veil_ledger_open(fork_db, k, &fork));
    append_n(l, 0, 10);
    append_n(fork, 0, 9);
    const char *odd = "{\"type\":\"release\",\"to\":\"attacker\"}";
    tu_ok(veil_ledger_append(fork, odd, strlen(odd), NULL));

    veil_ledger_client_state *st;
    veil_sth s10, f10, s20, s5, got;
    veil_merkle_proof p;
    tu_ok(veil_ledger_client_state_load(path, pub, &st)); /* no file yet */
    assert_false(veil_ledger_client_state_get(st, NULL));
    tu_ok(veil_ledger_latest_sth(l, &s10));
    tu_ok(veil_ledger_client_state_update(st, &s10, NULL));
    tu_ok(veil_ledger_client_state_save(st, path));
    veil_ledger_client_state_free(st);

    tu_ok(veil_ledger_client_state_load(path, pub, &st));
    assert_true(veil_ledger_client_state_get(st, &got));
    assert_memory_equal(&got, &s10, sizeof got);

    /* the same head again is fine; the fork's head of the same size is not */
    tu_ok(veil_ledger_client_state_update(st, &s10, NULL));
    tu_ok(veil_ledger_latest_sth(fork, &f10));
    assert_int_equal(f10.tree_size, 10);
    assert_fails_with(
        veil_ledger_client_state_update(st, &f10, NULL),
        "ledger: fork detected: the log signed two different roots for one tree size");

    /* growing: only with a consistency proof that verifies */
    append_n(l, 10, 10);
    tu_ok(veil_ledger_latest_sth(l, &s20));
    assert_fails_with(veil_ledger_client_state_update(st, &s20, NULL),
                      "ledger: a larger tree head needs a consistency proof from the saved one");
    tu_ok(veil_ledger_consistency_proof(l, 9, 20, &p)); /* from the wrong size */
    assert_false(veil_ok(veil_ledger_client_state_update(st, &s20, &p)));
    tu_ok(veil_ledger_consistency_proof(l, 10, 20, &p));
    p.hash[1][5] ^= 1;
    assert_fails_with(veil_ledger_client_state_update(st, &s20, &p),
                      "ledger: fork detected: the consistency proof from the saved tree head to "
                      "the new one does not verify");
    tu_ok(veil_ledger_consistency_proof(l, 10, 20, &p));
    tu_ok(veil_ledger_client_state_update(st, &s20, &p));
    assert_true(veil_ledger_client_state_get(st, &got));
    assert_int_equal(got.tree_size, 20);

    /* the fork grown to 20 cannot prove consistency with what we saw */
    append_n(fork, 10, 10);
    veil_sth fk20;
    tu_ok(veil_ledger_latest_sth(fork, &fk20));
    veil_ledger_client_state *st10;
    tu_ok(veil_ledger_client_state_load(path, pub, &st10)); /* saved at 10 */
    tu_ok(veil_ledger_consistency_proof(fork, 10, 20, &p));
    assert_false(veil_ok(veil_ledger_client_state_update(st10, &fk20, &p)));
    veil_ledger_client_state_free(st10);

    /* a smaller head is a rollback */
    tu_ok(veil_ledger_sth_at(l, 5, &s5));
    assert_fails_with(
        veil_ledger_client_state_update(st, &s5, NULL),
        "ledger: fork or rollback: the new tree head is smaller than one already seen");
    /* a head signed by another key, or tampered, is refused outright */
    veil_sth forged = s20;
    forged.tree_size = 21;
    assert_false(veil_ok(veil_ledger_client_state_update(st, &forged, &p)));

    /* a tampered state file does not load */
    tu_ok(veil_ledger_client_state_save(st, path));
    veil_ledger_client_state_free(st);
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    char text[2048];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    char *ts = strstr(text, "\"tree_size\":20");
    assert_non_null(ts);
    ts[13] = '1'; /* 20 -> 21 */
    rewind(f);
    fwrite(text, 1, n, f);
    fclose(f);
    assert_fails_with(veil_ledger_client_state_load(path, pub, &st),
                      "ledger: tree head signature does not verify under the log key");
    assert_null(st);

    veil_ledger_close(l);
    veil_ledger_close(fork);
    veil_sign_key_free(k);
    veil_sign_key_free(pub);
    tmp_remove(&td);
}

/* The committed fuzz seeds that are meant to be valid still verify under the
 * fixture key (so the fuzzer starts from receipts that reach every check). */
static void test_corpus_receipts(void **state)
{
    (void)state;
    veil_sign_key *pub = key_from(fixture_pub);
    int valid = 0;
    for (int i = 0; i < 16; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tests/fuzz/corpus/receipt/valid-%02d.json", VEIL_SOURCE_DIR,
                 i);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        static uint8_t buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        veil_receipt r;
        tu_ok(veil_receipt_parse(buf, n, &r));
        veil_receipt_expect x = {r.entry.data, r.entry.len, NULL, 0};
        tu_ok(veil_receipt_verify(buf, n, pub, &x, NULL));
        veil_receipt_free(&r);
        valid++;
    }
    assert_true(valid >= 4);
    veil_sign_key_free(pub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jcs_reference_vectors),
        cmocka_unit_test(test_jcs_numbers),
        cmocka_unit_test(test_jcs_refusals),
        cmocka_unit_test(test_jcs_properties),
        cmocka_unit_test(test_merkle_ct_vectors),
        cmocka_unit_test(test_merkle_exhaustive),
        cmocka_unit_test(test_sth),
        cmocka_unit_test(test_ledger_log),
        cmocka_unit_test(test_ledger_larger),
        cmocka_unit_test(test_ledger_tamper),
        cmocka_unit_test(test_ledger_crash),
        cmocka_unit_test(test_receipts),
        cmocka_unit_test(test_client_state),
        cmocka_unit_test(test_corpus_receipts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
