/* Reproduces the RFC 9458 Appendix A example and the chunked-OHTTP draft
 * example byte for byte, value by value, from their JSON transcriptions in
 * ../shared/testdata. Each value checked is one case. */
#include <jansson.h>
#include <string.h>

#include "crypto/hpke_internal.h"
#include "crypto/primitives.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/selftest.h"
#include "wire/ohttp_internal.h"

enum {
    V_SKR,
    V_CONFIG,
    V_REQ,
    V_SKE,
    V_PKE,
    V_INFO,
    V_ENCREQ,
    V_RES,
    V_SECRET,
    V_SALT,
    V_PRK,
    V_KEY,
    V_NONCE,
    V_ENCRES,
    V_COUNT
};

/* Field names, as in the two files (chunked names where they differ). */
static const char *const field_names[V_COUNT] = {
    "gateway_x25519_secret_key_skR",
    "key_config",
    "bhttp_request",
    "client_ephemeral_secret_key_skE",
    "client_ephemeral_public_key_pkE",
    "hpke_info",
    "encapsulated_request",
    "bhttp_response",
    "response_export_secret",
    "response_salt",
    "response_prk",
    "response_aead_key",
    "response_aead_nonce",
    "encapsulated_response",
};

typedef struct example {
    bool chunked;
    veil_buf v[V_COUNT];
    json_t *derived;
    veil_selftest_report *rep;
    const char *prefix;
} example;

static void check(example *ex, const char *what, const uint8_t *got, size_t got_len, int want)
{
    char name[128];
    snprintf(name, sizeof name, "%s %s", ex->prefix, what);
    const veil_buf *w = &ex->v[want];
    veil_selftest_record(ex->rep, name,
                         veil_public_equal(got, got_len, w->data, w->len) ? NULL : "value differs");
}

static void fail_case(example *ex, const char *what, veil_result r)
{
    char name[128];
    snprintf(name, sizeof name, "%s %s", ex->prefix, what);
    veil_selftest_record(ex->rep, name, r.msg ? r.msg : "failed");
}

static veil_result load_fields(example *ex, json_t *vals)
{
    for (int i = 0; i < V_COUNT; i++) {
        const char *key = field_names[i];
        if (ex->chunked && i == V_NONCE)
            key = "response_aead_base_nonce";
        json_t *s = json_object_get(vals, key);
        VEIL_ENSURE(json_is_string(s), VEIL_E_PROTOCOL,
                    "ohttp vectors: a required hex value is missing");
        VEIL_GUARD(veil_hex_decode(json_string_value(s), json_string_length(s), &ex->v[i]));
    }
    return VEIL_OK;
}

/* Sizes of the plaintext pieces in the chunked example, from "derived". */
static size_t chunk_sizes(json_t *derived, const char *part, size_t *sizes, size_t cap)
{
    json_t *chunks = json_object_get(json_object_get(derived, part), "chunks");
    size_t n = 0, i;
    json_t *c;
    json_array_foreach (chunks, i, c) {
        json_t *pb = json_object_get(c, "plaintext_bytes");
        if (n < cap && json_is_integer(pb) && json_integer_value(pb) >= 0)
            sizes[n++] = (size_t)json_integer_value(pb);
    }
    return n;
}

/* The HPKE-level intermediate values, computed directly from the gateway's
 * key and the example's hpke_info, independent of the OHTTP code. */
static void check_key_schedule(example *ex, const veil_hpke_key *skr, const veil_hpke_suite *suite)
{
    const char *label = ex->chunked ? OHTTP_LABEL_CHUNKED_RESPONSE : OHTTP_LABEL_RESPONSE;
    veil_hpke_params p = {.suite = *suite,
                          .mode = VEIL_HPKE_MODE_BASE,
                          .info = ex->v[V_INFO].data,
                          .info_len = ex->v[V_INFO].len};
    veil_hpke_ctx *ctx = NULL;
    size_t nlen = ohttp_response_nonce_len(suite->aead), nh = veil_hpke_kdf_nh(suite->kdf);
    size_t nk = veil_hpke_aead_nk(suite->aead), enc_len = ex->v[V_PKE].len;
    uint8_t secret[OHTTP_MAX_RESPONSE_NONCE], salt[VEIL_HPKE_MAX_ENC + OHTTP_MAX_RESPONSE_NONCE];
    uint8_t prk[VEIL_HPKE_MAX_NH], key[VEIL_HPKE_MAX_NK], nonce[VEIL_HPKE_NN];
    veil_result r = veil_hpke_setup_recipient(&p, skr, ex->v[V_PKE].data, enc_len, &ctx);
    if (veil_ok(r))
        r = veil_hpke_export(ctx, (const uint8_t *)label, strlen(label), secret, nlen);
    veil_hpke_ctx_free(ctx);
    if (!veil_ok(r) || ex->v[V_ENCRES].len < nlen || enc_len > VEIL_HPKE_MAX_ENC) {
        fail_case(ex, "response_export_secret",
                  veil_ok(r) ? VEIL_ERR(VEIL_E_PROTOCOL, "short") : r);
        return;
    }
    check(ex, "response_export_secret", secret, nlen, V_SECRET);
    memcpy(salt, ex->v[V_PKE].data, enc_len);
    memcpy(salt + enc_len, ex->v[V_ENCRES].data, nlen); /* response_nonce leads the response */
    check(ex, "response_salt", salt, enc_len + nlen, V_SALT);
    r = veil_hkdf_extract(suite->kdf, salt, enc_len + nlen, secret, nlen, prk, nh);
    if (veil_ok(r))
        r = veil_hkdf_expand(suite->kdf, prk, nh, (const uint8_t *)"key", 3, key, nk);
    if (veil_ok(r))
        r = veil_hkdf_expand(suite->kdf, prk, nh, (const uint8_t *)"nonce", 5, nonce, VEIL_HPKE_NN);
    if (!veil_ok(r)) {
        fail_case(ex, "response_prk", r);
        return;
    }
    check(ex, "response_prk", prk, nh, V_PRK);
    check(ex, "response_aead_key", key, nk, V_KEY);
    check(ex, "response_aead_nonce", nonce, VEIL_HPKE_NN, V_NONCE);
}

static void run_single(example *ex, const veil_ohttp_keyconfig *cfg, veil_ohttp_gateway *gw,
                       const veil_hpke_key *eph)
{
    veil_hpke_suite suite = {cfg->kem, cfg->algs[0].kdf, cfg->algs[0].aead};
    veil_ohttp_client_ctx *cc = NULL;
    veil_ohttp_server_ctx *sc = NULL;
    veil_buf encreq, req, encres, res;
    veil_buf_init(&encreq, 0), veil_buf_init(&req, 0), veil_buf_init(&encres, 0),
        veil_buf_init(&res, 0);
    veil_result r = veil_ohttp_client_encap_with(cfg, &suite, eph, ex->v[V_REQ].data,
                                                 ex->v[V_REQ].len, &encreq, &cc);
    veil_ok(r) ? check(ex, "encapsulated_request", encreq.data, encreq.len, V_ENCREQ)
               : fail_case(ex, "encapsulated_request", r);
    r = veil_ohttp_server_decap(gw, ex->v[V_ENCREQ].data, ex->v[V_ENCREQ].len, &req, &sc, NULL);
    veil_ok(r) ? check(ex, "gateway decapsulates request", req.data, req.len, V_REQ)
               : fail_case(ex, "gateway decapsulates request", r);
    if (sc) {
        r = veil_ohttp_server_encap_with(sc, ex->v[V_ENCRES].data, ex->v[V_RES].data,
                                         ex->v[V_RES].len, &encres);
        veil_ok(r) ? check(ex, "encapsulated_response", encres.data, encres.len, V_ENCRES)
                   : fail_case(ex, "encapsulated_response", r);
    }
    if (cc) {
        r = veil_ohttp_client_decap(cc, ex->v[V_ENCRES].data, ex->v[V_ENCRES].len, &res);
        veil_ok(r) ? check(ex, "client decapsulates response", res.data, res.len, V_RES)
                   : fail_case(ex, "client decapsulates response", r);
    }
    veil_ohttp_client_ctx_free(cc);
    veil_ohttp_server_ctx_free(sc);
    veil_buf_free(&encreq), veil_buf_free(&req), veil_buf_free(&encres), veil_buf_free(&res);
}

/* Write `msg` as chunks of the given plaintext sizes (the last one final). */
typedef veil_result (*chunk_write_fn)(void *ctx, const uint8_t *p, size_t n, int final,
                                      veil_buf *out);

static veil_result write_chunks(chunk_write_fn fn, void *ctx, const veil_buf *msg,
                                const size_t *sizes, size_t n, veil_buf *out)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        VEIL_ENSURE(sizes[i] <= msg->len - at, VEIL_E_PROTOCOL,
                    "ohttp vectors: chunk sizes exceed the message");
        VEIL_GUARD(fn(ctx, msg->data + at, sizes[i], i + 1 == n, out));
        at += sizes[i];
    }
    VEIL_ENSURE(at == msg->len, VEIL_E_PROTOCOL,
                "ohttp vectors: chunk sizes do not cover the message");
    return VEIL_OK;
}

static veil_result client_write(void *c, const uint8_t *p, size_t n, int f, veil_buf *o)
{
    return veil_ohttp_chunked_client_write(c, p, n, f, o);
}

static veil_result server_write(void *c, const uint8_t *p, size_t n, int f, veil_buf *o)
{
    return veil_ohttp_chunked_server_write(c, p, n, f, o);
}

/* The gateway reads the encapsulated request one byte at a time. */
static veil_result server_read_bytewise(veil_ohttp_chunked_server *s, const veil_buf *in,
                                        veil_buf *out)
{
    for (size_t i = 0; i < in->len; i++)
        VEIL_GUARD(veil_ohttp_chunked_server_read(s, in->data + i, 1, out, NULL));
    return veil_ohttp_chunked_server_finish(s, out);
}

static void run_chunked(example *ex, const veil_ohttp_keyconfig *cfg, veil_ohttp_gateway *gw,
                        const veil_hpke_key *eph)
{
    veil_hpke_suite suite = {cfg->kem, cfg->algs[0].kdf, cfg->algs[0].aead};
    size_t req_sizes[16], res_sizes[16];
    size_t nreq = chunk_sizes(ex->derived, "encapsulated_request_parts", req_sizes, 16);
    size_t nres = chunk_sizes(ex->derived, "encapsulated_response_parts", res_sizes, 16);
    veil_ohttp_chunked_client *cc = NULL;
    veil_ohttp_chunked_server *sc = NULL;
    veil_buf encreq, req, encres, res;
    veil_buf_init(&encreq, 0), veil_buf_init(&req, 0), veil_buf_init(&encres, 0),
        veil_buf_init(&res, 0);
    veil_result r = veil_ohttp_chunked_client_new_with(cfg, &suite, eph, 0, &encreq, &cc);
    if (veil_ok(r))
        r = write_chunks(client_write, cc, &ex->v[V_REQ], req_sizes, nreq, &encreq);
    veil_ok(r) ? check(ex, "encapsulated_request", encreq.data, encreq.len, V_ENCREQ)
               : fail_case(ex, "encapsulated_request", r);
    r = veil_ohttp_chunked_server_new(gw, 0, &sc);
    if (veil_ok(r))
        r = server_read_bytewise(sc, &ex->v[V_ENCREQ], &req);
    veil_ok(r) ? check(ex, "gateway reads request byte by byte", req.data, req.len, V_REQ)
               : fail_case(ex, "gateway reads request byte by byte", r);
    size_t nlen = ohttp_response_nonce_len(suite.aead);
    if (veil_ok(r))
        r = ex->v[V_ENCRES].len >= nlen
                ? veil_ohttp_chunked_server_set_nonce(sc, ex->v[V_ENCRES].data, nlen)
                : VEIL_ERR(VEIL_E_PROTOCOL, "encapsulated_response shorter than its nonce");
    if (veil_ok(r))
        r = write_chunks(server_write, sc, &ex->v[V_RES], res_sizes, nres, &encres);
    veil_ok(r) ? check(ex, "encapsulated_response", encres.data, encres.len, V_ENCRES)
               : fail_case(ex, "encapsulated_response", r);
    r = cc ? veil_ohttp_chunked_client_read(cc, ex->v[V_ENCRES].data, ex->v[V_ENCRES].len, &res)
           : VEIL_ERR(VEIL_E_INTERNAL, "no client context");
    if (veil_ok(r))
        r = veil_ohttp_chunked_client_finish(cc, &res);
    veil_ok(r) ? check(ex, "client reads response", res.data, res.len, V_RES)
               : fail_case(ex, "client reads response", r);
    veil_ohttp_chunked_client_free(cc);
    veil_ohttp_chunked_server_free(sc);
    veil_buf_free(&encreq), veil_buf_free(&req), veil_buf_free(&encres), veil_buf_free(&res);
}

static void run_example(example *ex)
{
    veil_ohttp_keyconfig cfg;
    veil_ohttp_gateway *gw = NULL;
    veil_hpke_key *skr = NULL, *gw_key = NULL, *eph = NULL;
    veil_buf enc_cfg;
    veil_buf_init(&enc_cfg, 0);
    veil_result r = veil_ohttp_keyconfig_decode(ex->v[V_CONFIG].data, ex->v[V_CONFIG].len, &cfg);
    if (veil_ok(r))
        r = veil_ohttp_keyconfig_encode(&cfg, &enc_cfg);
    veil_ok(r) ? check(ex, "key_config decodes and re-encodes", enc_cfg.data, enc_cfg.len, V_CONFIG)
               : fail_case(ex, "key_config decodes and re-encodes", r);
    const veil_buf *sk = &ex->v[V_SKR], *ske = &ex->v[V_SKE];
    if (veil_ok(r))
        r = veil_hpke_key_from_private(cfg.kem, sk->data, sk->len, &skr);
    if (veil_ok(r))
        r = veil_hpke_key_from_private(cfg.kem, sk->data, sk->len, &gw_key);
    if (veil_ok(r))
        r = veil_hpke_key_from_private(cfg.kem, ske->data, ske->len, &eph);
    if (veil_ok(r))
        r = veil_ohttp_gateway_new(&gw);
    if (veil_ok(r) && veil_ok(r = veil_ohttp_gateway_add(gw, &cfg, gw_key)))
        gw_key = NULL; /* now owned by the gateway */
    if (!veil_ok(r)) {
        fail_case(ex, "keys", r);
        goto out;
    }
    uint8_t info[OHTTP_MAX_INFO], pke[VEIL_HPKE_MAX_PK];
    size_t pke_len = 0;
    ohttp_header h = {cfg.key_id, {cfg.kem, cfg.algs[0].kdf, cfg.algs[0].aead}};
    const char *label = ex->chunked ? OHTTP_LABEL_CHUNKED_REQUEST : OHTTP_LABEL_REQUEST;
    check(ex, "hpke_info", info, ohttp_build_info(label, &h, info), V_INFO);
    r = veil_hpke_key_public(eph, pke, sizeof pke, &pke_len);
    veil_ok(r) ? check(ex, "client_ephemeral_public_key_pkE", pke, pke_len, V_PKE)
               : fail_case(ex, "client_ephemeral_public_key_pkE", r);
    check_key_schedule(ex, skr, &h.suite);
    if (ex->chunked)
        run_chunked(ex, &cfg, gw, eph);
    else
        run_single(ex, &cfg, gw, eph);
out:
    veil_buf_free(&enc_cfg);
    veil_hpke_key_free(skr);
    veil_hpke_key_free(gw_key);
    veil_hpke_key_free(eph);
    veil_ohttp_gateway_free(gw);
}

veil_result veil_selftest_ohttp_json(const char *json, size_t len, veil_selftest_report *rep)
{
    json_error_t err;
    json_t *root = json_loadb(json, len, 0, &err);
    VEIL_ENSURE(root != NULL, VEIL_E_PROTOCOL, "ohttp vectors: the file is not valid JSON");
    example ex = {.rep = rep};
    for (int i = 0; i < V_COUNT; i++)
        veil_buf_init(&ex.v[i], 0);
    json_t *vals = json_object_get(root, "rfc");
    ex.prefix = "rfc9458";
    if (!vals) {
        vals = json_object_get(root, "rfc_like_values");
        ex.chunked = true;
        ex.prefix = "chunked-ohttp";
    }
    ex.derived = json_object_get(root, "derived");
    veil_result r = json_is_object(vals)
                        ? load_fields(&ex, vals)
                        : VEIL_ERR(VEIL_E_PROTOCOL, "ohttp vectors: neither an RFC 9458 Appendix A "
                                                    "nor a chunked-OHTTP example file");
    if (veil_ok(r) && ex.chunked && !json_is_object(ex.derived))
        r = VEIL_ERR(VEIL_E_PROTOCOL, "ohttp vectors: chunked example lacks its chunk split");
    if (veil_ok(r))
        run_example(&ex);
    for (int i = 0; i < V_COUNT; i++)
        veil_buf_free(&ex.v[i]);
    json_decref(root);
    return r;
}
