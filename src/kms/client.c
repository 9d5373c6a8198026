/* The TEE side of a release over HTTP (include/veil/kms.h,
 * veil_kms_fetch_keys): nonce, ephemeral key, evidence, release, unseal. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/json_util.h"
#include "veil/attester.h"
#include "veil/base64.h"
#include "veil/http.h"
#include "veil/kms.h"
#include "veil/mem.h"

#define URL_MAX 2048

static veil_result url_join(const char *base, const char *path, char *out, size_t cap)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    VEIL_ENSURE((size_t)snprintf(out, cap, "%.*s%s", (int)n, base, path) < cap, VEIL_E_USAGE,
                "kms client: URL too long");
    return veil_http_url_check(out);
}

/* A non-200 answer: the problem's "check" and "detail" into pb. */
static veil_result answer_problem(const veil_http_client_response *resp, const char *what,
                                  veil_kms_problem *pb)
{
    json_t *p = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);
    const char *check = json_string_value(json_object_get(p, "check"));
    const char *detail = json_string_value(json_object_get(p, "detail"));
    snprintf(pb->check, sizeof pb->check, "%s", check ? check : "http");
    snprintf(pb->detail, sizeof pb->detail, "%s: HTTP %ld%s%s", what, resp->status,
             detail ? ": " : "", detail ? detail : "");
    json_decref(p);
    return VEIL_ERR(resp->status >= 500 ? VEIL_E_INTERNAL : VEIL_E_PROTOCOL,
                    "kms client: the KMS refused the request (see the problem's check)");
}

static veil_result b64_field(json_t *o, const char *name, veil_buf *out)
{
    const char *s = json_string_value(json_object_get(o, name));
    VEIL_ENSURE(s != NULL, VEIL_E_PROTOCOL, "kms client: the KMS's answer lacks a member");
    return veil_base64_decode(s, strlen(s), out);
}

static veil_result get_nonce(const char *base, const veil_http_client_opts *opts,
                             uint8_t nonce[VEIL_KMS_NONCE_LEN], veil_kms_problem *pb)
{
    veil_result r = VEIL_OK;
    char url[URL_MAX];
    veil_http_client_response resp;
    veil_buf n;
    json_t *j = NULL;
    memset(&resp, 0, sizeof resp);
    veil_buf_init(&n, 0);
    VEIL_TRY(r, url_join(base, "/v1/attest/nonce", url, sizeof url));
    VEIL_TRY(r, veil_http_post(url, NULL, NULL, 0, opts, &resp));
    if (resp.status != 200) {
        r = answer_problem(&resp, "nonce", pb);
        goto out;
    }
    j = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
    VEIL_TRY(r, b64_field(j, "nonce", &n));
    VEIL_ENSURE_GOTO(r, n.len == VEIL_KMS_NONCE_LEN, VEIL_E_PROTOCOL,
                     "kms client: the KMS's nonce is not 32 bytes");
    memcpy(nonce, n.data, VEIL_KMS_NONCE_LEN);
out:
    json_decref(j);
    veil_buf_free(&n);
    veil_http_client_response_free(&resp);
    return r;
}

/* {"nonce","public_key","evidence"} */
static veil_result release_body(const uint8_t nonce[VEIL_KMS_NONCE_LEN], const uint8_t *pk,
                                size_t pk_len, const veil_buf *evidence, veil_buf *out)
{
    veil_result r = VEIL_OK;
    veil_buf a, b;
    char *text = NULL;
    veil_buf_init(&a, 0);
    veil_buf_init(&b, 0);
    json_t *ev = json_loadb((const char *)evidence->data, evidence->len, 0, NULL), *doc = NULL;
    VEIL_ENSURE_GOTO(r, ev != NULL, VEIL_E_INTERNAL, "kms client: evidence is not JSON");
    VEIL_TRY(r, veil_base64_encode(nonce, VEIL_KMS_NONCE_LEN, &a));
    VEIL_TRY(r, veil_base64_encode(pk, pk_len, &b));
    doc = json_pack("{s:s#,s:s#,s:O}", "nonce", (const char *)a.data, (int)a.len, "public_key",
                    (const char *)b.data, (int)b.len, "evidence", ev);
    text = doc ? veil_json_dump(doc) : NULL;
    VEIL_ENSURE_GOTO(r, text != NULL, VEIL_E_NOMEM, "kms client: out of memory");
    VEIL_TRY(r, veil_buf_append(out, text, strlen(text)));
out:
    veil_free(text);
    json_decref(doc);
    json_decref(ev);
    veil_buf_free(&a);
    veil_buf_free(&b);
    return r;
}

static veil_result open_answer(const veil_http_client_response *resp, const veil_hpke_key *eph,
                               const uint8_t nonce[VEIL_KMS_NONCE_LEN], veil_release_keys *keys,
                               veil_buf *ear, uint64_t *ledger_index)
{
    veil_result r = VEIL_OK;
    veil_buf enc, sealed;
    veil_buf_init(&enc, 0);
    veil_buf_init(&sealed, 0);
    json_t *j = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);
    VEIL_ENSURE_GOTO(r, json_is_object(j), VEIL_E_PROTOCOL, "kms client: the answer is not JSON");
    VEIL_TRY(r, b64_field(j, "enc", &enc));
    VEIL_TRY(r, b64_field(j, "sealed", &sealed));
    VEIL_TRY(r, veil_release_open(eph, nonce, enc.data, enc.len, sealed.data, sealed.len, keys));
    const char *token = json_string_value(json_object_get(j, "ear"));
    if (ear && token)
        VEIL_TRY(r, veil_buf_append(ear, token, strlen(token)));
    if (ledger_index)
        *ledger_index = (uint64_t)json_integer_value(json_object_get(j, "ledger_index"));
out:
    json_decref(j);
    veil_buf_free(&enc);
    veil_buf_free(&sealed);
    return r;
}

veil_result veil_kms_fetch_keys(const char *base_url, const char *name, veil_attester *att,
                                unsigned vmpl, const veil_http_client_opts *opts,
                                veil_release_keys *keys, veil_buf *ear, uint64_t *ledger_index,
                                veil_kms_problem *pb)
{
    veil_result r = VEIL_OK;
    uint8_t nonce[VEIL_KMS_NONCE_LEN], pk[32], rd[64];
    size_t pk_len = 0;
    char url[URL_MAX], path[VEIL_KMS_NAME_MAX + 32];
    veil_hpke_key *eph = NULL;
    veil_evidence ev;
    veil_buf evjson, body;
    veil_http_client_response resp;
    veil_kms_problem scratch;
    if (!pb)
        pb = &scratch;
    memset(pb, 0, sizeof *pb);
    memset(&resp, 0, sizeof resp);
    veil_evidence_init(&ev);
    veil_buf_init(&evjson, VEIL_EVIDENCE_MAX_JSON);
    veil_buf_init(&body, 0);
    memset(keys, 0, sizeof *keys);
    VEIL_ENSURE_GOTO(r, base_url && name && att, VEIL_E_USAGE, "kms client: missing argument");
    VEIL_ENSURE_GOTO(r, strlen(name) <= VEIL_KMS_NAME_MAX, VEIL_E_USAGE,
                     "kms client: key name too long");
    snprintf(path, sizeof path, "/v1/keys/%s/release", name);
    VEIL_TRY(r, url_join(base_url, path, url, sizeof url));

    /* 1. a fresh nonce; 2. an ephemeral key bound into REPORT_DATA */
    VEIL_TRY(r, get_nonce(base_url, opts, nonce, pb));
    VEIL_TRY(r, veil_hpke_key_generate(VEIL_HPKE_KEM_X25519, &eph));
    VEIL_TRY(r, veil_hpke_key_public(eph, pk, sizeof pk, &pk_len));
    VEIL_TRY(r, veil_release_report_data(nonce, pk, pk_len, rd));
    VEIL_TRY(r, veil_attester_evidence(att, rd, vmpl, &ev));
    VEIL_TRY(r, veil_evidence_write(&ev, &evjson));
    /* 3. the release */
    VEIL_TRY(r, release_body(nonce, pk, pk_len, &evjson, &body));
    VEIL_TRY(r, veil_http_post(url, "application/json", body.data, body.len, opts, &resp));
    if (resp.status != 200) {
        r = answer_problem(&resp, "release", pb);
        goto out;
    }
    /* 4. unseal */
    VEIL_TRY(r, open_answer(&resp, eph, nonce, keys, ear, ledger_index));
out:
    if (!veil_ok(r)) {
        veil_release_keys_wipe(keys);
        if (!pb->check[0])
            snprintf(pb->check, sizeof pb->check, "client");
        if (!pb->detail[0])
            snprintf(pb->detail, sizeof pb->detail, "%s", r.msg ? r.msg : "failed");
    }
    veil_hpke_key_free(eph);
    veil_evidence_free(&ev);
    veil_buf_free(&evjson);
    veil_buf_free(&body);
    veil_http_client_response_free(&resp);
    return r;
}
