/* interop_peer — veil's side of the interoperability test (tests/interop).
 *
 * Reads newline-delimited JSON requests on stdin and answers each with exactly
 * one JSON line on stdout. Every byte string is hex. An "id" member in a
 * request is echoed in its answer. A failure of any kind is answered
 * {"error": "...", "class": "..."} and the peer carries on; it never exits on
 * bad input (end of input ends it).
 *
 *   hpke_keygen   {kem, ikm?}            -> {sk, pk}   (DeriveKeyPair with ikm)
 *   hpke_seal     {mode, kem, kdf, aead, pkR, info, psk, psk_id, skS,
 *                  pt, aad | msgs:[{pt, aad}], once?, exports:[{ctx, L}]}
 *                                        -> {enc, ct | cts, exports}
 *   hpke_open     {mode, kem, kdf, aead, skR, enc, info, psk, psk_id, pkS,
 *                  ct, aad | msgs:[{ct, aad}], once?, exports:[{ctx, L}]}
 *                                        -> {pt | pts, exports}
 *   ohttp_gateway_new    {kem, kdf, aead, key_id}
 *                                        -> {key_config, key_config_list}
 *   ohttp_handle         {request}       -> {response}
 *   ohttp_chunked_handle {request, piece} -> {response}
 *
 * "once": true uses the single-shot APIs (one message, no exports). Without
 * pt/ct and msgs nothing is sealed or opened (export-only suites).
 *
 * The gateway is one veil_ohttp_gateway holding every key made by
 * ohttp_gateway_new (a new key with an existing key_id replaces the old one).
 * Its responses are Binary HTTP: status 200, content-type: text/plain, content
 * "veil saw <method> <path> <request content>". */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "veil/bhttp.h"
#include "veil/cursor.h"
#include "veil/hex.h"
#include "veil/hpke.h"
#include "veil/mem.h"
#include "veil/ohttp.h"

#define MAX_LINE ((size_t)64 << 20)
#define MAX_EXPORT_LEN (255 * VEIL_HPKE_MAX_NH)

static veil_ohttp_gateway *gateway;

/* Error messages that name a request field are formatted here; a handler's
 * result is turned into the answer before the next request is read. */
static char errbuf[256];

static veil_result usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return VEIL_ERR(VEIL_E_USAGE, errbuf);
}

/* ---- request fields -------------------------------------------------------- */

static bool has(const json_t *req, const char *key)
{
    json_t *v = json_object_get(req, key);
    return v != NULL && !json_is_null(v);
}

/* A hex string field appended to `out`; an absent field is empty, unless
 * `required`. */
static veil_result get_hex(const json_t *req, const char *key, bool required, veil_buf *out)
{
    json_t *v = json_object_get(req, key);
    if (v == NULL || json_is_null(v))
        return required ? usage_error("peer: missing field \"%s\"", key) : VEIL_OK;
    if (!json_is_string(v))
        return usage_error("peer: field \"%s\" must be a hex string", key);
    veil_result r = veil_hex_decode(json_string_value(v), json_string_length(v), out);
    return veil_ok(r) ? r : usage_error("peer: field \"%s\": %s", key, r.msg);
}

static veil_result get_uint(const json_t *req, const char *key, json_int_t max, json_int_t *out)
{
    json_t *v = json_object_get(req, key);
    if (!json_is_integer(v))
        return usage_error("peer: field \"%s\" must be an integer", key);
    json_int_t i = json_integer_value(v);
    if (i < 0 || i > max)
        return usage_error("peer: field \"%s\" out of range", key);
    *out = i;
    return VEIL_OK;
}

static veil_result get_u16(const json_t *req, const char *key, uint16_t *out)
{
    json_int_t i = 0;
    VEIL_GUARD(get_uint(req, key, 0xFFFF, &i));
    *out = (uint16_t)i;
    return VEIL_OK;
}

/* ---- answers ----------------------------------------------------------------- */

static veil_result put_hex(json_t *ans, const char *key, const uint8_t *p, size_t n)
{
    char *hex = veil_calloc(2 * n + 1, 1);
    VEIL_ENSURE(hex != NULL, VEIL_E_NOMEM, "peer: out of memory");
    veil_hex_encode(p, n, hex);
    int rc = json_object_set_new(ans, key, json_string(hex));
    veil_free_wiped(hex, 2 * n + 1);
    VEIL_ENSURE(rc == 0, VEIL_E_NOMEM, "peer: out of memory");
    return VEIL_OK;
}

static veil_result append_hex(json_t *arr, const uint8_t *p, size_t n)
{
    json_t *tmp = json_object();
    VEIL_ENSURE(tmp != NULL, VEIL_E_NOMEM, "peer: out of memory");
    veil_result r = put_hex(tmp, "v", p, n);
    if (veil_ok(r) && json_array_append(arr, json_object_get(tmp, "v")) != 0)
        r = VEIL_ERR(VEIL_E_NOMEM, "peer: out of memory");
    json_decref(tmp);
    return r;
}

/* ---- HPKE -------------------------------------------------------------------- */

static veil_result op_hpke_keygen(const json_t *req, json_t *ans)
{
    uint16_t kem = 0;
    veil_hpke_key *key = NULL;
    veil_buf ikm;
    veil_buf_init(&ikm, 0);
    uint8_t sk[VEIL_HPKE_MAX_SK], pk[VEIL_HPKE_MAX_PK];
    size_t sk_len = 0, pk_len = 0;
    veil_result r;
    VEIL_TRY(r, get_u16(req, "kem", &kem));
    if (has(req, "ikm")) {
        VEIL_TRY(r, get_hex(req, "ikm", true, &ikm));
        VEIL_TRY(r, veil_hpke_key_derive(kem, ikm.data, ikm.len, &key));
    } else {
        VEIL_TRY(r, veil_hpke_key_generate(kem, &key));
    }
    VEIL_TRY(r, veil_hpke_key_private(key, sk, sizeof sk, &sk_len));
    VEIL_TRY(r, veil_hpke_key_public(key, pk, sizeof pk, &pk_len));
    VEIL_TRY(r, put_hex(ans, "sk", sk, sk_len));
    VEIL_TRY(r, put_hex(ans, "pk", pk, pk_len));
out:
    veil_wipe(sk, sizeof sk);
    veil_buf_free(&ikm);
    veil_hpke_key_free(key);
    return r;
}

/* The inputs hpke_seal and hpke_open share. */
typedef struct hpke_req {
    veil_hpke_params params;
    veil_buf info, psk, psk_id;
    veil_hpke_key *auth_key; /* skS (seal) or pkS (open), auth modes only */
} hpke_req;

static void hpke_req_init(hpke_req *h)
{
    memset(h, 0, sizeof *h);
    veil_buf_init(&h->info, 0);
    veil_buf_init(&h->psk, 0);
    veil_buf_init(&h->psk_id, 0);
}

static void hpke_req_free(hpke_req *h)
{
    veil_buf_free(&h->info);
    veil_buf_free(&h->psk);
    veil_buf_free(&h->psk_id);
    veil_hpke_key_free(h->auth_key);
}

/* Parse mode, suite, info, psk, psk_id and the auth key (`auth_field` names
 * skS or pkS). Fields a mode does not use must be absent or empty. */
static veil_result hpke_req_parse(const json_t *req, hpke_req *h, const char *auth_field,
                                  bool auth_is_private)
{
    json_int_t mode = 0;
    VEIL_GUARD(get_uint(req, "mode", 3, &mode));
    h->params.mode = (uint8_t)mode;
    VEIL_GUARD(get_u16(req, "kem", &h->params.suite.kem));
    VEIL_GUARD(get_u16(req, "kdf", &h->params.suite.kdf));
    VEIL_GUARD(get_u16(req, "aead", &h->params.suite.aead));
    VEIL_GUARD(get_hex(req, "info", false, &h->info));
    VEIL_GUARD(get_hex(req, "psk", false, &h->psk));
    VEIL_GUARD(get_hex(req, "psk_id", false, &h->psk_id));
    h->params.info = h->info.data;
    h->params.info_len = h->info.len;
    h->params.psk = h->psk.data;
    h->params.psk_len = h->psk.len;
    h->params.psk_id = h->psk_id.data;
    h->params.psk_id_len = h->psk_id.len;
    if (has(req, auth_field)) {
        veil_buf k;
        veil_buf_init(&k, 0);
        veil_result r = get_hex(req, auth_field, true, &k);
        if (veil_ok(r))
            r = auth_is_private
                    ? veil_hpke_key_from_private(h->params.suite.kem, k.data, k.len, &h->auth_key)
                    : veil_hpke_key_from_public(h->params.suite.kem, k.data, k.len, &h->auth_key);
        veil_buf_free(&k);
        VEIL_GUARD(r);
    }
    h->params.auth_key = h->auth_key;
    return VEIL_OK;
}

/* Answer "exports": one hex value per {ctx, L} in the request's "exports". */
static veil_result do_exports(const json_t *req, const veil_hpke_ctx *ctx, json_t *ans)
{
    json_t *list = json_object_get(req, "exports");
    if (list == NULL || json_is_null(list))
        return VEIL_OK;
    if (!json_is_array(list))
        return usage_error("peer: \"exports\" must be an array");
    json_t *out_list = json_array();
    VEIL_ENSURE(out_list != NULL, VEIL_E_NOMEM, "peer: out of memory");
    veil_result r = VEIL_OK;
    veil_buf ectx;
    veil_buf_init(&ectx, 0);
    uint8_t *val = NULL;
    size_t i;
    json_t *e;
    json_array_foreach (list, i, e) {
        json_int_t len = 0;
        veil_buf_clear(&ectx);
        VEIL_TRY(r, get_hex(e, "ctx", false, &ectx));
        VEIL_TRY(r, get_uint(e, "L", MAX_EXPORT_LEN, &len));
        val = veil_calloc(len ? (size_t)len : 1, 1);
        VEIL_ENSURE_GOTO(r, val != NULL, VEIL_E_NOMEM, "peer: out of memory");
        VEIL_TRY(r, veil_hpke_export(ctx, ectx.data, ectx.len, val, (size_t)len));
        VEIL_TRY(r, append_hex(out_list, val, (size_t)len));
        veil_free_wiped(val, len ? (size_t)len : 1);
        val = NULL;
    }
    if (json_object_set(ans, "exports", out_list) != 0)
        r = VEIL_ERR(VEIL_E_NOMEM, "peer: out of memory");
out:
    veil_free(val);
    veil_buf_free(&ectx);
    json_decref(out_list);
    return r;
}

/* One message to seal or open: its aad and its input (pt or ct). */
typedef struct msg_in {
    veil_buf aad, data;
} msg_in;

/* The messages of a request: "msgs" (answered with an array) or a single
 * data field and "aad" at top level (answered with one value), or none. */
typedef struct msg_list {
    msg_in *v;
    size_t n;
    bool array;
} msg_list;

static void msg_list_free(msg_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        veil_buf_free(&l->v[i].aad);
        veil_buf_free(&l->v[i].data);
    }
    veil_free(l->v);
    memset(l, 0, sizeof *l);
}

static veil_result msg_list_parse(const json_t *req, const char *data_key, msg_list *l)
{
    memset(l, 0, sizeof *l);
    json_t *msgs = json_object_get(req, "msgs");
    size_t n = 0;
    if (msgs != NULL && !json_is_null(msgs)) {
        if (!json_is_array(msgs))
            return usage_error("peer: \"msgs\" must be an array");
        n = json_array_size(msgs);
        l->array = true;
    } else if (has(req, data_key)) {
        n = 1;
    }
    if (n == 0)
        return VEIL_OK;
    l->v = veil_calloc(n, sizeof *l->v);
    VEIL_ENSURE(l->v != NULL, VEIL_E_NOMEM, "peer: out of memory");
    l->n = n;
    for (size_t i = 0; i < n; i++) {
        veil_buf_init(&l->v[i].aad, 0);
        veil_buf_init(&l->v[i].data, 0);
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *m = l->array ? json_array_get(msgs, i) : req;
        if (!json_is_object(m))
            return usage_error("peer: \"msgs\" entries must be objects");
        VEIL_GUARD(get_hex(m, "aad", false, &l->v[i].aad));
        VEIL_GUARD(get_hex(m, data_key, true, &l->v[i].data));
    }
    return VEIL_OK;
}

static veil_result put_outputs(json_t *ans, const msg_list *l, const char *key, const char *akey,
                               veil_buf *outs)
{
    if (l->n == 0)
        return VEIL_OK;
    if (!l->array)
        return put_hex(ans, key, outs[0].data, outs[0].len);
    json_t *arr = json_array();
    VEIL_ENSURE(arr != NULL, VEIL_E_NOMEM, "peer: out of memory");
    veil_result r = VEIL_OK;
    for (size_t i = 0; i < l->n && veil_ok(r); i++)
        r = append_hex(arr, outs[i].data, outs[i].len);
    if (veil_ok(r) && json_object_set(ans, akey, arr) != 0)
        r = VEIL_ERR(VEIL_E_NOMEM, "peer: out of memory");
    json_decref(arr);
    return r;
}

static bool want_once(const json_t *req) { return json_is_true(json_object_get(req, "once")); }

static veil_result op_hpke_seal(const json_t *req, json_t *ans)
{
    hpke_req h;
    hpke_req_init(&h);
    msg_list msgs = {0};
    veil_hpke_key *pk_r = NULL;
    veil_hpke_ctx *ctx = NULL;
    veil_buf pkr, *cts = NULL;
    veil_buf_init(&pkr, 0);
    uint8_t enc[VEIL_HPKE_MAX_ENC];
    size_t enc_len = 0, n_cts = 0;
    veil_result r;
    VEIL_TRY(r, hpke_req_parse(req, &h, "skS", true));
    VEIL_TRY(r, get_hex(req, "pkR", true, &pkr));
    VEIL_TRY(r, veil_hpke_key_from_public(h.params.suite.kem, pkr.data, pkr.len, &pk_r));
    VEIL_TRY(r, msg_list_parse(req, "pt", &msgs));
    cts = veil_calloc(msgs.n ? msgs.n : 1, sizeof *cts);
    VEIL_ENSURE_GOTO(r, cts != NULL, VEIL_E_NOMEM, "peer: out of memory");
    for (n_cts = 0; n_cts < msgs.n; n_cts++) {
        veil_buf_init(&cts[n_cts], 0);
        VEIL_TRY(r, veil_buf_zeros(&cts[n_cts], msgs.v[n_cts].data.len + VEIL_HPKE_TAG_LEN));
    }
    if (want_once(req)) {
        VEIL_ENSURE_GOTO(r, msgs.n == 1 && !msgs.array && !has(req, "exports"), VEIL_E_USAGE,
                         "peer: \"once\" takes one pt and no exports");
        VEIL_TRY(r, veil_hpke_seal_once(&h.params, pk_r, msgs.v[0].aad.data, msgs.v[0].aad.len,
                                        msgs.v[0].data.data, msgs.v[0].data.len, enc, sizeof enc,
                                        &enc_len, cts[0].data, cts[0].len, &cts[0].len));
    } else {
        VEIL_TRY(r, veil_hpke_setup_sender(&h.params, pk_r, enc, sizeof enc, &enc_len, &ctx));
        for (size_t i = 0; i < msgs.n; i++)
            VEIL_TRY(r,
                     veil_hpke_seal(ctx, msgs.v[i].aad.data, msgs.v[i].aad.len, msgs.v[i].data.data,
                                    msgs.v[i].data.len, cts[i].data, cts[i].len, &cts[i].len));
        VEIL_TRY(r, do_exports(req, ctx, ans));
    }
    VEIL_TRY(r, put_hex(ans, "enc", enc, enc_len));
    VEIL_TRY(r, put_outputs(ans, &msgs, "ct", "cts", cts));
out:
    for (size_t i = 0; i < n_cts; i++)
        veil_buf_free(&cts[i]);
    veil_free(cts);
    veil_hpke_ctx_free(ctx);
    veil_hpke_key_free(pk_r);
    veil_buf_free(&pkr);
    msg_list_free(&msgs);
    hpke_req_free(&h);
    return r;
}

static veil_result op_hpke_open(const json_t *req, json_t *ans)
{
    hpke_req h;
    hpke_req_init(&h);
    msg_list msgs = {0};
    veil_hpke_key *sk_r = NULL;
    veil_hpke_ctx *ctx = NULL;
    veil_buf skr, enc, *pts = NULL;
    veil_buf_init(&skr, 0);
    veil_buf_init(&enc, 0);
    size_t n_pts = 0;
    veil_result r;
    VEIL_TRY(r, hpke_req_parse(req, &h, "pkS", false));
    VEIL_TRY(r, get_hex(req, "skR", true, &skr));
    VEIL_TRY(r, get_hex(req, "enc", true, &enc));
    VEIL_TRY(r, veil_hpke_key_from_private(h.params.suite.kem, skr.data, skr.len, &sk_r));
    VEIL_TRY(r, msg_list_parse(req, "ct", &msgs));
    pts = veil_calloc(msgs.n ? msgs.n : 1, sizeof *pts);
    VEIL_ENSURE_GOTO(r, pts != NULL, VEIL_E_NOMEM, "peer: out of memory");
    for (n_pts = 0; n_pts < msgs.n; n_pts++) {
        veil_buf_init(&pts[n_pts], 0);
        size_t ct_len = msgs.v[n_pts].data.len;
        /* Room for the plaintext (never a NULL buffer, even when empty); a
         * ct shorter than a tag is the library's to reject. */
        size_t pt_len = ct_len > VEIL_HPKE_TAG_LEN ? ct_len - VEIL_HPKE_TAG_LEN : 0;
        VEIL_TRY(r, veil_buf_reserve(&pts[n_pts], pt_len + 1));
        VEIL_TRY(r, veil_buf_zeros(&pts[n_pts], pt_len));
    }
    if (want_once(req)) {
        VEIL_ENSURE_GOTO(r, msgs.n == 1 && !msgs.array && !has(req, "exports"), VEIL_E_USAGE,
                         "peer: \"once\" takes one ct and no exports");
        VEIL_TRY(r, veil_hpke_open_once(&h.params, sk_r, enc.data, enc.len, msgs.v[0].aad.data,
                                        msgs.v[0].aad.len, msgs.v[0].data.data, msgs.v[0].data.len,
                                        pts[0].data, pts[0].len, &pts[0].len));
    } else {
        VEIL_TRY(r, veil_hpke_setup_recipient(&h.params, sk_r, enc.data, enc.len, &ctx));
        for (size_t i = 0; i < msgs.n; i++)
            VEIL_TRY(r,
                     veil_hpke_open(ctx, msgs.v[i].aad.data, msgs.v[i].aad.len, msgs.v[i].data.data,
                                    msgs.v[i].data.len, pts[i].data, pts[i].len, &pts[i].len));
        VEIL_TRY(r, do_exports(req, ctx, ans));
    }
    VEIL_TRY(r, put_outputs(ans, &msgs, "pt", "pts", pts));
out:
    for (size_t i = 0; i < n_pts; i++)
        veil_buf_free(&pts[i]);
    veil_free(pts);
    veil_hpke_ctx_free(ctx);
    veil_hpke_key_free(sk_r);
    veil_buf_free(&skr);
    veil_buf_free(&enc);
    msg_list_free(&msgs);
    hpke_req_free(&h);
    return r;
}

/* ---- OHTTP gateway ------------------------------------------------------------ */

static veil_result op_gateway_new(const json_t *req, json_t *ans)
{
    uint16_t kem = 0;
    json_int_t key_id = 0;
    veil_ohttp_symalg alg = {0};
    veil_ohttp_keyconfig cfg;
    veil_hpke_key *key = NULL;
    veil_buf one, list;
    veil_buf_init(&one, 0);
    veil_buf_init(&list, 0);
    veil_result r;
    VEIL_TRY(r, get_u16(req, "kem", &kem));
    VEIL_TRY(r, get_u16(req, "kdf", &alg.kdf));
    VEIL_TRY(r, get_u16(req, "aead", &alg.aead));
    VEIL_TRY(r, get_uint(req, "key_id", 255, &key_id));
    VEIL_TRY(r, veil_hpke_key_generate(kem, &key));
    VEIL_TRY(r, veil_ohttp_keyconfig_for_key((uint8_t)key_id, key, &alg, 1, &cfg));
    if (gateway == NULL)
        VEIL_TRY(r, veil_ohttp_gateway_new(&gateway));
    veil_ohttp_gateway_remove(gateway, (uint8_t)key_id);
    VEIL_TRY(r, veil_ohttp_gateway_add(gateway, &cfg, key));
    key = NULL; /* the gateway owns it now */
    VEIL_TRY(r, veil_ohttp_keyconfig_encode(&cfg, &one));
    VEIL_TRY(r, veil_ohttp_gateway_keys(gateway, &list));
    VEIL_TRY(r, put_hex(ans, "key_config", one.data, one.len));
    VEIL_TRY(r, put_hex(ans, "key_config_list", list.data, list.len));
out:
    veil_hpke_key_free(key);
    veil_buf_free(&one);
    veil_buf_free(&list);
    return r;
}

static const char *decap_error_name(veil_ohttp_decap_error why)
{
    switch (why) {
    case VEIL_OHTTP_DECAP_OK: return "ok";
    case VEIL_OHTTP_DECAP_MALFORMED: return "malformed";
    case VEIL_OHTTP_DECAP_UNKNOWN_KEY: return "unknown_key";
    case VEIL_OHTTP_DECAP_UNSUPPORTED_SUITE: return "unsupported_suite";
    case VEIL_OHTTP_DECAP_DECRYPT: return "decrypt";
    }
    return "?";
}

/* The gateway's application: decode the Binary HTTP request and build the
 * response (status 200, content-type: text/plain, "veil saw ..."). */
static veil_result build_response(const veil_buf *inner, veil_bhttp_msg **res)
{
    veil_bhttp_msg *rq = NULL;
    veil_result r;
    *res = NULL;
    VEIL_TRY(r, veil_bhttp_decode(inner->data, inner->len, NULL, &rq));
    VEIL_ENSURE_GOTO(r, veil_bhttp_is_request(rq), VEIL_E_PROTOCOL,
                     "peer: the inner message is not a request");
    size_t content_len = 0;
    const uint8_t *content = veil_bhttp_content(rq, &content_len);
    const char *method = veil_bhttp_method(rq), *path = veil_bhttp_path(rq);
    VEIL_TRY(r, veil_bhttp_response_new(200, res));
    VEIL_TRY(r, veil_bhttp_add_header(*res, "content-type", 12, "text/plain", 10));
    VEIL_TRY(r, veil_bhttp_set_content(*res, "veil saw ", 9));
    VEIL_TRY(r, veil_bhttp_append_content(*res, method, strlen(method)));
    VEIL_TRY(r, veil_bhttp_append_content(*res, " ", 1));
    VEIL_TRY(r, veil_bhttp_append_content(*res, path, strlen(path)));
    VEIL_TRY(r, veil_bhttp_append_content(*res, " ", 1));
    if (content_len > 0)
        VEIL_TRY(r, veil_bhttp_append_content(*res, content, content_len));
out:
    if (!veil_ok(r)) {
        veil_bhttp_msg_free(*res);
        *res = NULL;
    }
    veil_bhttp_msg_free(rq);
    return r;
}

static veil_result op_ohttp_handle(const json_t *req, json_t *ans)
{
    veil_buf encreq, inner, bres, encres;
    veil_buf_init(&encreq, 0);
    veil_buf_init(&inner, 0);
    veil_buf_init(&bres, 0);
    veil_buf_init(&encres, 0);
    veil_ohttp_server_ctx *sc = NULL;
    veil_bhttp_msg *res = NULL;
    veil_ohttp_decap_error why = VEIL_OHTTP_DECAP_OK;
    veil_result r;
    VEIL_ENSURE_GOTO(r, gateway != NULL, VEIL_E_USAGE, "peer: no gateway (ohttp_gateway_new)");
    VEIL_TRY(r, get_hex(req, "request", true, &encreq));
    r = veil_ohttp_server_decap(gateway, encreq.data, encreq.len, &inner, &sc, &why);
    if (!veil_ok(r)) {
        json_object_set_new(ans, "why", json_string(decap_error_name(why)));
        goto out;
    }
    VEIL_TRY(r, build_response(&inner, &res));
    VEIL_TRY(r, veil_bhttp_encode(res, VEIL_BHTTP_KNOWN_LENGTH, &bres));
    VEIL_TRY(r, veil_ohttp_server_encap(sc, bres.data, bres.len, &encres));
    VEIL_TRY(r, put_hex(ans, "response", encres.data, encres.len));
out:
    veil_bhttp_msg_free(res);
    veil_ohttp_server_ctx_free(sc);
    veil_buf_free(&encreq);
    veil_buf_free(&inner);
    veil_buf_free(&bres);
    veil_buf_free(&encres);
    return r;
}

/* Chunked: the request is fed in pieces of `piece` bytes; the response is an
 * indeterminate-length Binary HTTP message streamed in three chunks (head,
 * content, end — the last one final). */
static veil_result op_ohttp_chunked_handle(const json_t *req, json_t *ans)
{
    veil_buf encreq, inner, part, encres;
    veil_buf_init(&encreq, 0);
    veil_buf_init(&inner, 0);
    veil_buf_init(&part, 0);
    veil_buf_init(&encres, 0);
    veil_ohttp_chunked_server *sc = NULL;
    veil_bhttp_msg *res = NULL;
    veil_ohttp_decap_error why = VEIL_OHTTP_DECAP_OK;
    json_int_t piece = 0;
    veil_result r;
    VEIL_ENSURE_GOTO(r, gateway != NULL, VEIL_E_USAGE, "peer: no gateway (ohttp_gateway_new)");
    VEIL_TRY(r, get_hex(req, "request", true, &encreq));
    VEIL_TRY(r, get_uint(req, "piece", 1 << 20, &piece));
    VEIL_ENSURE_GOTO(r, piece > 0, VEIL_E_USAGE, "peer: \"piece\" must be at least 1");
    VEIL_TRY(r, veil_ohttp_chunked_server_new(gateway, 0, &sc));
    for (size_t off = 0; off < encreq.len; off += (size_t)piece) {
        size_t n = encreq.len - off < (size_t)piece ? encreq.len - off : (size_t)piece;
        r = veil_ohttp_chunked_server_read(sc, encreq.data + off, n, &inner, &why);
        if (!veil_ok(r)) {
            json_object_set_new(ans, "why", json_string(decap_error_name(why)));
            goto out;
        }
    }
    VEIL_TRY(r, veil_ohttp_chunked_server_finish(sc, &inner));
    VEIL_ENSURE_GOTO(r, veil_ohttp_chunked_server_ready(sc), VEIL_E_INTERNAL,
                     "peer: request finished but the server is not ready");
    VEIL_TRY(r, build_response(&inner, &res));
    size_t content_len = 0;
    const uint8_t *content = veil_bhttp_content(res, &content_len);

    VEIL_TRY(r, veil_bhttp_encode_head(res, &part));
    VEIL_TRY(r, veil_ohttp_chunked_server_write(sc, part.data, part.len, 0, &encres));
    veil_buf_clear(&part);
    VEIL_TRY(r, veil_bhttp_encode_chunk(content, content_len, &part));
    VEIL_TRY(r, veil_ohttp_chunked_server_write(sc, part.data, part.len, 0, &encres));
    veil_buf_clear(&part);
    VEIL_TRY(r, veil_bhttp_encode_end(NULL, &part));
    VEIL_TRY(r, veil_ohttp_chunked_server_write(sc, part.data, part.len, 1, &encres));
    VEIL_TRY(r, put_hex(ans, "response", encres.data, encres.len));
out:
    veil_bhttp_msg_free(res);
    veil_ohttp_chunked_server_free(sc);
    veil_buf_free(&encreq);
    veil_buf_free(&inner);
    veil_buf_free(&part);
    veil_buf_free(&encres);
    return r;
}

/* ---- main loop ----------------------------------------------------------------- */

typedef struct op {
    const char *name;
    veil_result (*fn)(const json_t *req, json_t *ans);
} op;

static const op ops[] = {
    {"hpke_keygen", op_hpke_keygen},   {"hpke_seal", op_hpke_seal},
    {"hpke_open", op_hpke_open},       {"ohttp_gateway_new", op_gateway_new},
    {"ohttp_handle", op_ohttp_handle}, {"ohttp_chunked_handle", op_ohttp_chunked_handle},
};

static json_t *handle_line(const uint8_t *line, size_t len)
{
    json_t *ans = json_object();
    if (ans == NULL)
        return NULL;
    json_error_t jerr;
    json_t *req = json_loadb((const char *)line, len, 0, &jerr);
    veil_result r = VEIL_OK;
    if (!json_is_object(req)) {
        r = usage_error("peer: request is not a JSON object (%s)", req ? "wrong type" : jerr.text);
    } else {
        json_t *id = json_object_get(req, "id");
        if (id != NULL)
            json_object_set(ans, "id", id);
        const char *name = json_string_value(json_object_get(req, "op"));
        const op *found = NULL;
        for (size_t i = 0; name != NULL && i < sizeof ops / sizeof ops[0]; i++)
            if (strcmp(ops[i].name, name) == 0)
                found = &ops[i];
        r = found ? found->fn(req, ans) : usage_error("peer: unknown or missing \"op\"");
    }
    if (!veil_ok(r)) {
        /* Keep "id" and "why"; drop any partial result. */
        json_object_del(ans, "enc");
        json_object_del(ans, "ct");
        json_object_del(ans, "cts");
        json_object_del(ans, "pt");
        json_object_del(ans, "pts");
        json_object_del(ans, "exports");
        json_object_del(ans, "response");
        json_object_set_new(ans, "error", json_string(r.msg ? r.msg : "unknown error"));
        json_object_set_new(ans, "class", json_string(veil_errclass_name(r.cls)));
    }
    json_decref(req);
    return ans;
}

int main(void)
{
    veil_buf line;
    veil_buf_init(&line, MAX_LINE);
    int c = 0, status = 0;
    bool too_long = false;
    while (c != EOF) {
        c = getc(stdin);
        if (c != EOF && c != '\n') {
            uint8_t b = (uint8_t)c;
            if (!too_long && !veil_ok(veil_buf_append(&line, &b, 1)))
                too_long = true;
            continue;
        }
        if (line.len == 0 && !too_long)
            continue; /* blank line, or the end */
        json_t *ans = NULL;
        if (too_long) {
            ans = json_pack("{s:s, s:s}", "error", "peer: request line too long", "class", "usage");
        } else {
            ans = handle_line(line.data, line.len);
        }
        if (ans == NULL || json_dumpf(ans, stdout, JSON_COMPACT) != 0 ||
            fputc('\n', stdout) == EOF || fflush(stdout) != 0)
            status = 1;
        json_decref(ans);
        veil_buf_clear(&line);
        too_long = false;
        if (status != 0)
            break;
    }
    veil_buf_free(&line);
    veil_ohttp_gateway_free(gateway);
    return status;
}
