/* Intel PCS collateral for a TDX quote, in dcap-qvl's QuoteCollateralV3 JSON
 * shape (notes §2.5):
 *   { "pck_crl_issuer_chain": PEM, "root_ca_crl": hex DER, "pck_crl": hex DER,
 *     "tcb_info_issuer_chain": PEM, "tcb_info": "<exact signed tcbInfo JSON text>",
 *     "tcb_info_signature": "<128 hex r||s>",
 *     "qe_identity_issuer_chain": PEM, "qe_identity": "<exact signed enclaveIdentity text>",
 *     "qe_identity_signature": "<128 hex>" }
 *
 * Authenticated before anything in it is believed: every issuer chain must
 * end in the pinned Intel SGX Root CA at the verification time with the root
 * CRL applied; the PCK CRL must be signed by its issuer chain's leaf; the TCB
 * info and QE identity signatures (ECDSA P-256/SHA-256 by the Intel SGX TCB
 * Signing key) are checked over the exact bytes of their text, never a
 * re-serialisation; each item must be current (issueDate <= at <=
 * nextUpdate). Only then is the signed text parsed, strictly. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "attest/tdx_internal.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/timeutil.h"

#define MAX_CHAIN 4 /* certificates in one issuer chain */

/* Collateral problems are recorded in c->error and reported with this
 * sentinel class, so operational failures (OOM, OpenSSL) stay errors. */
#define COL_BAD VEIL_ERR(VEIL_E_PROTOCOL, "tdx collateral: rejected")

static veil_result col_bad(tdx_collateral *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static veil_result col_bad(tdx_collateral *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
    return COL_BAD;
}

/* ---- the outer JSON ------------------------------------------------------------------------ */

static veil_result member_str(tdx_collateral *c, json_t *o, const char *key, const char **s,
                              size_t *len)
{
    json_t *v = json_object_get(o, key);
    *s = NULL; /* set on every path: -O3 cannot see that callers stop on errors */
    *len = 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return col_bad(c, "collateral: \"%s\" is missing or not a non-empty string", key);
    *s = json_string_value(v);
    *len = json_string_length(v);
    return VEIL_OK;
}

static veil_result member_hex(tdx_collateral *c, json_t *o, const char *key, veil_buf *out)
{
    const char *s;
    size_t len;
    VEIL_GUARD(member_str(c, o, key, &s, &len));
    veil_result r = veil_hex_decode(s, len, out);
    if (r.cls == VEIL_E_PROTOCOL)
        return col_bad(c, "collateral: \"%s\" is not hex", key);
    return r;
}

static veil_result member_crl(tdx_collateral *c, json_t *o, const char *key, veil_x509_crl **out)
{
    veil_buf b;
    veil_buf_init(&b, VEIL_TDX_MAX_COLLATERAL);
    veil_result r = member_hex(c, o, key, &b);
    if (veil_ok(r)) {
        r = veil_x509_crl_parse(b.data, b.len, out);
        if (r.cls == VEIL_E_PROTOCOL)
            r = col_bad(c, "collateral: \"%s\" is not a DER CRL (%s)", key, r.msg);
    }
    veil_buf_free(&b);
    return r;
}

/* ---- issuer chains and signatures ---------------------------------------------------------------
 */

typedef struct issuer_chain {
    veil_x509 *certs[MAX_CHAIN];
    size_t n;
} issuer_chain;

static void issuer_chain_free(issuer_chain *ch)
{
    for (size_t i = 0; i < ch->n; i++)
        veil_x509_free(ch->certs[i]);
    ch->n = 0;
}

/* The chain in member `key` verifies from its first certificate to the
 * pinned root at `at` with `crls` applied; `want_cn` (or NULL) is the leaf's
 * subject CN. */
static veil_result verify_issuer_chain(tdx_collateral *c, json_t *o, const char *key, int64_t at,
                                       const veil_x509_crl *const *crls, size_t n_crls,
                                       const char *want_cn, issuer_chain *ch)
{
    veil_result res = VEIL_OK;
    veil_x509 *pinned = NULL;
    veil_x509_chain_status st;
    const char *pem;
    size_t len;
    char cn[64];
    memset(&st, 0, sizeof st);
    VEIL_TRY(res, member_str(c, o, key, &pem, &len));
    VEIL_TRY(res, tdx_pinned_root(&pinned));
    res = veil_x509_parse_all((const uint8_t *)pem, len, ch->certs, MAX_CHAIN, &ch->n);
    if (res.cls == VEIL_E_PROTOCOL) {
        res = col_bad(c, "collateral: \"%s\": %s", key, res.msg);
        goto out;
    }
    VEIL_TRY(res, res);
    if (!tdx_bundle_roots_pinned(ch->certs, ch->n, pinned, cn, sizeof cn)) {
        res = col_bad(c,
                      "collateral: \"%s\" carries a root CN=%.60s that is not the pinned Intel "
                      "SGX Root CA",
                      key, cn);
        goto out;
    }
    veil_x509_verify_opts opts = {at, &pinned, 1, ch->certs + 1, ch->n - 1, crls, n_crls};
    VEIL_TRY(res, veil_x509_verify_chain(ch->certs[0], &opts, &st));
    if (!st.ok) {
        res = col_bad(c, "collateral: \"%s\" does not verify to the Intel SGX Root CA: %s", key,
                      st.detail);
        goto out;
    }
    if (!tdx_bundle_all_used(ch->certs, ch->n, &st, cn, sizeof cn)) {
        res = col_bad(c,
                      "collateral: \"%s\" carries CN=%.60s, which is not part of the verified "
                      "chain",
                      key, cn);
        goto out;
    }
    veil_x509_subject_cn(ch->certs[0], cn, sizeof cn);
    if (want_cn && strcmp(cn, want_cn)) {
        res = col_bad(c, "collateral: \"%s\" is signed by CN=%.60s, not %s", key, cn, want_cn);
        goto out;
    }
out:
    veil_x509_chain_clear(&st);
    return res;
}

/* ECDSA P-256/SHA-256 over the exact text, signature hex r||s. */
static veil_result verify_text_sig(tdx_collateral *c, const veil_x509 *signer, const char *what,
                                   const char *text, size_t text_len, json_t *o,
                                   const char *sig_key)
{
    veil_result res = VEIL_OK;
    veil_pubkey *pub = NULL;
    veil_buf sig;
    const char *hex;
    size_t hex_len;
    veil_buf_init(&sig, 64);
    VEIL_TRY(res, member_str(c, o, sig_key, &hex, &hex_len));
    if (hex_len != 128) {
        res = col_bad(c, "collateral: \"%s\" is not 128 hex digits (r || s)", sig_key);
        goto out;
    }
    VEIL_TRY(res, member_hex(c, o, sig_key, &sig));
    VEIL_TRY(res, veil_x509_pubkey(signer, &pub));
    if (!veil_pubkey_is_ec(pub, "P-256")) {
        res = col_bad(c, "collateral: the TCB Signing key is not ECDSA P-256");
        goto out;
    }
    res = veil_ecdsa_verify_raw(pub, VEIL_DIGEST_SHA256, (const uint8_t *)text, text_len, sig.data,
                                32, sig.data + 32, 32);
    if (res.cls == VEIL_E_CRYPTO)
        res = col_bad(c,
                      "collateral: the %s signature does not verify with the Intel SGX TCB "
                      "Signing key (text altered or signed by another key)",
                      what);
out:
    veil_pubkey_free(pub);
    veil_buf_free(&sig);
    return res;
}

/* ---- the signed JSON: typed getters naming the path ----------------------------------------- */

static veil_result get_hex(tdx_collateral *c, json_t *o, const char *what, const char *key,
                           uint8_t *out, size_t n)
{
    json_t *v = json_object_get(o, key);
    veil_buf b;
    veil_result r = VEIL_OK;
    if (!json_is_string(v) || json_string_length(v) != 2 * n)
        return col_bad(c, "%s: \"%s\" is not %zu hex digits", what, key, 2 * n);
    veil_buf_init(&b, n);
    r = veil_hex_decode(json_string_value(v), 2 * n, &b);
    if (veil_ok(r))
        memcpy(out, b.data, n);
    else if (r.cls == VEIL_E_PROTOCOL)
        r = col_bad(c, "%s: \"%s\" is not hex", what, key);
    veil_buf_free(&b);
    return r;
}

static veil_result get_uint(tdx_collateral *c, json_t *o, const char *what, const char *key,
                            uint32_t max, uint32_t *out)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (json_int_t)max)
        return col_bad(c, "%s: \"%s\" is not an integer 0..%u", what, key, max);
    *out = (uint32_t)json_integer_value(v);
    return VEIL_OK;
}

static veil_result get_time(tdx_collateral *c, json_t *o, const char *what, const char *key,
                            int64_t *out, char *text, size_t cap)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || !veil_ok(veil_time_parse(json_string_value(v), out)))
        return col_bad(c, "%s: \"%s\" is not a time like 2026-02-18T10:58:51Z", what, key);
    if (text)
        snprintf(text, cap, "%s", json_string_value(v));
    return VEIL_OK;
}

static veil_result get_id(tdx_collateral *c, json_t *o, const char *what, const char *want_id,
                          uint32_t want_version)
{
    json_t *id = json_object_get(o, "id"), *ver = json_object_get(o, "version");
    if (!json_is_string(id) || strcmp(json_string_value(id), want_id) || !json_is_integer(ver) ||
        json_integer_value(ver) != want_version)
        return col_bad(c, "%s: not id \"%s\" version %u (a TDX quote needs TDX collateral)", what,
                       want_id, want_version);
    return VEIL_OK;
}

/* issueDate <= at <= nextUpdate */
static veil_result check_window(tdx_collateral *c, json_t *o, const char *what, int64_t at,
                                int64_t *issue, int64_t *next)
{
    char t_at[21], t_lim[21];
    VEIL_GUARD(get_time(c, o, what, "issueDate", issue, NULL, 0));
    VEIL_GUARD(get_time(c, o, what, "nextUpdate", next, NULL, 0));
    veil_time_format(at, t_at);
    if (at < *issue) {
        veil_time_format(*issue, t_lim);
        return col_bad(c, "%s: not yet valid (issueDate %s, verified at %s)", what, t_lim, t_at);
    }
    if (at > *next) {
        veil_time_format(*next, t_lim);
        return col_bad(c, "%s: expired (nextUpdate %s, verified at %s)", what, t_lim, t_at);
    }
    return VEIL_OK;
}

/* {"tcbDate", "tcbStatus", "advisoryIDs"?} shared by every kind of level. */
static veil_result level_common(tdx_collateral *c, json_t *lv, const char *what,
                                veil_tdx_tcb_status *status, char *status_text, size_t st_cap,
                                char *date, size_t date_cap, const json_t **adv)
{
    int64_t t;
    json_t *s = json_object_get(lv, "tcbStatus"), *a = json_object_get(lv, "advisoryIDs");
    VEIL_GUARD(get_time(c, lv, what, "tcbDate", &t, date, date_cap));
    if (!json_is_string(s))
        return col_bad(c, "%s: \"tcbStatus\" is not a string", what);
    snprintf(status_text, st_cap, "%s", json_string_value(s));
    *status = veil_tdx_tcb_status_from_name(json_string_value(s));
    if (a) {
        size_t i;
        json_t *id;
        if (!json_is_array(a))
            return col_bad(c, "%s: \"advisoryIDs\" is not an array", what);
        json_array_foreach (a, i, id) {
            if (!json_is_string(id) || json_string_length(id) >= VEIL_TDX_ADVISORY_LEN)
                return col_bad(c, "%s: an advisory ID is not a short string", what);
        }
    }
    *adv = a;
    return VEIL_OK;
}

/* A 16-entry array of {"svn": 0..255, ...}. */
static veil_result svn_array(tdx_collateral *c, json_t *tcb, const char *what, const char *key,
                             uint8_t out[16])
{
    json_t *arr = json_object_get(tcb, key), *e;
    size_t i;
    if (!json_is_array(arr) || json_array_size(arr) != 16)
        return col_bad(c, "%s: \"%s\" is not 16 components", what, key);
    json_array_foreach (arr, i, e) {
        uint32_t v;
        if (!json_is_object(e))
            return col_bad(c, "%s: \"%s\"[%zu] is not an object", what, key, i);
        VEIL_GUARD(get_uint(c, e, what, "svn", 255, &v));
        out[i] = (uint8_t)v;
    }
    return VEIL_OK;
}

static veil_result parse_platform_levels(tdx_collateral *c, json_t *arr)
{
    size_t i;
    json_t *lv;
    char what[48];
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > TDX_MAX_TCB_LEVELS)
        return col_bad(c, "tcb_info: \"tcbLevels\" is not an array of 1..%d levels",
                       TDX_MAX_TCB_LEVELS);
    json_array_foreach (arr, i, lv) {
        tdx_tcb_level *l = &c->tcb.levels[i];
        json_t *tcb = json_object_get(lv, "tcb");
        uint32_t pcesvn;
        snprintf(what, sizeof what, "tcb_info: tcbLevels[%zu]", i);
        if (!json_is_object(tcb))
            return col_bad(c, "%s: \"tcb\" is not an object", what);
        VEIL_GUARD(svn_array(c, tcb, what, "sgxtcbcomponents", l->sgx));
        VEIL_GUARD(svn_array(c, tcb, what, "tdxtcbcomponents", l->tdx));
        VEIL_GUARD(get_uint(c, tcb, what, "pcesvn", 0xFFFF, &pcesvn));
        l->pcesvn = (uint16_t)pcesvn;
        VEIL_GUARD(level_common(c, lv, what, &l->status, l->status_text, sizeof l->status_text,
                                l->date, sizeof l->date, &l->advisories));
    }
    c->tcb.n_levels = json_array_size(arr);
    return VEIL_OK;
}

/* [{"tcb": {"isvsvn": n}, "tcbDate", "tcbStatus", "advisoryIDs"?}] */
static veil_result parse_isv_levels(tdx_collateral *c, json_t *arr, const char *owner,
                                    tdx_isv_level *out, size_t max, size_t *n)
{
    size_t i;
    json_t *lv;
    char what[64];
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > max)
        return col_bad(c, "%s: \"tcbLevels\" is not an array of 1..%zu levels", owner, max);
    json_array_foreach (arr, i, lv) {
        json_t *tcb = json_object_get(lv, "tcb");
        uint32_t svn;
        snprintf(what, sizeof what, "%s: tcbLevels[%zu]", owner, i);
        if (!json_is_object(tcb))
            return col_bad(c, "%s: \"tcb\" is not an object", what);
        VEIL_GUARD(get_uint(c, tcb, what, "isvsvn", 0xFFFF, &svn));
        out[i].isvsvn = (uint16_t)svn;
        VEIL_GUARD(level_common(c, lv, what, &out[i].status, out[i].status_text,
                                sizeof out[i].status_text, out[i].date, sizeof out[i].date,
                                &out[i].advisories));
    }
    *n = json_array_size(arr);
    return VEIL_OK;
}

static veil_result parse_modules(tdx_collateral *c, json_t *tcb_info)
{
    json_t *mod = json_object_get(tcb_info, "tdxModule");
    json_t *ids = json_object_get(tcb_info, "tdxModuleIdentities"), *e;
    size_t i;
    if (!json_is_object(mod))
        return col_bad(c, "tcb_info: \"tdxModule\" is not an object");
    VEIL_GUARD(get_hex(c, mod, "tcb_info: tdxModule", "mrsigner", c->tcb.module_mrsigner, 48));
    VEIL_GUARD(get_hex(c, mod, "tcb_info: tdxModule", "attributes", c->tcb.module_attributes, 8));
    VEIL_GUARD(
        get_hex(c, mod, "tcb_info: tdxModule", "attributesMask", c->tcb.module_attributes_mask, 8));
    if (!ids)
        return VEIL_OK; /* older TCB info: no per-version module identities */
    if (!json_is_array(ids) || json_array_size(ids) > TDX_MAX_MODULE_IDS)
        return col_bad(c, "tcb_info: \"tdxModuleIdentities\" is not an array of at most %d",
                       TDX_MAX_MODULE_IDS);
    json_array_foreach (ids, i, e) {
        tdx_module_identity *m = &c->tcb.modules[i];
        json_t *id = json_object_get(e, "id");
        char what[64];
        snprintf(what, sizeof what, "tcb_info: tdxModuleIdentities[%zu]", i);
        if (!json_is_string(id) || json_string_length(id) >= sizeof m->id)
            return col_bad(c, "%s: \"id\" is not a short string", what);
        snprintf(m->id, sizeof m->id, "%s", json_string_value(id));
        VEIL_GUARD(get_hex(c, e, what, "mrsigner", m->mrsigner, 48));
        VEIL_GUARD(get_hex(c, e, what, "attributes", m->attributes, 8));
        VEIL_GUARD(get_hex(c, e, what, "attributesMask", m->attributes_mask, 8));
        VEIL_GUARD(parse_isv_levels(c, json_object_get(e, "tcbLevels"), what, m->levels,
                                    TDX_MAX_MODULE_LEVELS, &m->n_levels));
    }
    c->tcb.n_modules = json_array_size(ids);
    return VEIL_OK;
}

/* Parse the signed text strictly (duplicate keys are an error: the signed
 * bytes must mean one thing). */
static veil_result load_text(tdx_collateral *c, const char *what, const char *text, size_t len,
                             json_t **out)
{
    *out = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!*out || !json_is_object(*out))
        return col_bad(c, "%s: the signed text is not a JSON object", what);
    return VEIL_OK;
}

static veil_result parse_tcb_info(tdx_collateral *c, const char *text, size_t len, int64_t at)
{
    const char *what = "tcb_info";
    uint32_t num;
    VEIL_GUARD(load_text(c, what, text, len, &c->tcb_json));
    json_t *o = c->tcb_json;
    VEIL_GUARD(get_id(c, o, what, "TDX", 3));
    VEIL_GUARD(check_window(c, o, what, at, &c->tcb.issue_date, &c->tcb.next_update));
    VEIL_GUARD(get_hex(c, o, what, "fmspc", c->tcb.fmspc, 6));
    VEIL_GUARD(get_hex(c, o, what, "pceId", c->tcb.pceid, 2));
    VEIL_GUARD(get_uint(c, o, what, "tcbEvaluationDataNumber", UINT32_MAX, &num));
    c->tcb.tcb_evaluation_data_number = num;
    VEIL_GUARD(parse_modules(c, o));
    return parse_platform_levels(c, json_object_get(o, "tcbLevels"));
}

static veil_result parse_qe_identity(tdx_collateral *c, const char *text, size_t len, int64_t at)
{
    const char *what = "qe_identity";
    uint32_t num, prodid;
    VEIL_GUARD(load_text(c, what, text, len, &c->qe_json));
    json_t *o = c->qe_json;
    VEIL_GUARD(get_id(c, o, what, "TD_QE", 2));
    VEIL_GUARD(check_window(c, o, what, at, &c->qe.issue_date, &c->qe.next_update));
    VEIL_GUARD(get_uint(c, o, what, "tcbEvaluationDataNumber", UINT32_MAX, &num));
    c->qe.tcb_evaluation_data_number = num;
    VEIL_GUARD(get_hex(c, o, what, "miscselect", c->qe.miscselect, 4));
    VEIL_GUARD(get_hex(c, o, what, "miscselectMask", c->qe.miscselect_mask, 4));
    VEIL_GUARD(get_hex(c, o, what, "attributes", c->qe.attributes, 16));
    VEIL_GUARD(get_hex(c, o, what, "attributesMask", c->qe.attributes_mask, 16));
    VEIL_GUARD(get_hex(c, o, what, "mrsigner", c->qe.mrsigner, 32));
    VEIL_GUARD(get_uint(c, o, what, "isvprodid", 0xFFFF, &prodid));
    c->qe.isvprodid = (uint16_t)prodid;
    return parse_isv_levels(c, json_object_get(o, "tcbLevels"), what, c->qe.levels,
                            TDX_MAX_QE_LEVELS, &c->qe.n_levels);
}

/* ---- the whole load ---------------------------------------------------------------------------
 */

static veil_result load(tdx_collateral *c, json_t *o, int64_t at)
{
    veil_result res = VEIL_OK;
    issuer_chain tcb_chain = {0}, qe_chain = {0}, crl_chain = {0};
    const char *tcb_text, *qe_text;
    size_t tcb_len, qe_len;
    VEIL_TRY(res, member_crl(c, o, "root_ca_crl", &c->root_crl));
    VEIL_TRY(res, member_crl(c, o, "pck_crl", &c->pck_crl));
    const veil_x509_crl *root_only[1] = {c->root_crl};
    const veil_x509_crl *both[2] = {c->root_crl, c->pck_crl};
    VEIL_TRY(res, verify_issuer_chain(c, o, "tcb_info_issuer_chain", at, root_only, 1,
                                      "Intel SGX TCB Signing", &tcb_chain));
    VEIL_TRY(res, verify_issuer_chain(c, o, "qe_identity_issuer_chain", at, root_only, 1,
                                      "Intel SGX TCB Signing", &qe_chain));
    /* the PCK CRL must be issued by this chain's leaf (a PCK CA): check_crl
     * finds its issuer among the chain and verifies its signature and window */
    VEIL_TRY(res, verify_issuer_chain(c, o, "pck_crl_issuer_chain", at, both, 2, NULL, &crl_chain));
    veil_x509_subject_cn(crl_chain.certs[0], c->pck_crl_issuer_cn, sizeof c->pck_crl_issuer_cn);
    veil_x509_subject_cn(tcb_chain.certs[0], c->signer_cn, sizeof c->signer_cn);
    VEIL_TRY(res, member_str(c, o, "tcb_info", &tcb_text, &tcb_len));
    VEIL_TRY(res, member_str(c, o, "qe_identity", &qe_text, &qe_len));
    VEIL_TRY(res, verify_text_sig(c, tcb_chain.certs[0], "TCB info", tcb_text, tcb_len, o,
                                  "tcb_info_signature"));
    VEIL_TRY(res, verify_text_sig(c, qe_chain.certs[0], "QE identity", qe_text, qe_len, o,
                                  "qe_identity_signature"));
    VEIL_TRY(res, parse_tcb_info(c, tcb_text, tcb_len, at));
    VEIL_TRY(res, parse_qe_identity(c, qe_text, qe_len, at));
out:
    issuer_chain_free(&tcb_chain);
    issuer_chain_free(&qe_chain);
    issuer_chain_free(&crl_chain);
    return res;
}

veil_result tdx_collateral_load(const uint8_t *json, size_t n, int64_t at, tdx_collateral *c)
{
    veil_result res = VEIL_OK;
    json_t *o = NULL;
    memset(c, 0, sizeof *c);
    VEIL_ENSURE(json != NULL || n == 0, VEIL_E_USAGE, "tdx collateral: NULL input with a length");
    if (n > VEIL_TDX_MAX_COLLATERAL) {
        col_bad(c, "collateral: larger than 1 MiB");
        goto out;
    }
    o = json_loadb((const char *)json, n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        col_bad(c, "collateral: not a JSON object (dcap-qvl QuoteCollateralV3)");
        goto out;
    }
    res = load(c, o, at);
    if (veil_ok(res)) {
        c->ok = true;
    } else if (res.cls == VEIL_E_PROTOCOL || res.cls == VEIL_E_CRYPTO) {
        if (!c->error[0])
            snprintf(c->error, sizeof c->error, "collateral: %s", res.msg);
        res = VEIL_OK;
    }
out:
    json_decref(o);
    return res;
}

void tdx_collateral_free(tdx_collateral *c)
{
    if (!c)
        return;
    veil_x509_crl_free(c->root_crl);
    veil_x509_crl_free(c->pck_crl);
    json_decref(c->tcb_json);
    json_decref(c->qe_json);
    memset(c, 0, sizeof *c);
}
