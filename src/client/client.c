/* The verifying client: options, and verification of the gateway
 * (include/veil/client.h, DESIGN.md flow 2b).
 *
 *   1. GET <gateway>/ohttp-keys                   the key list K (bytes)
 *   2. N = 32 random bytes
 *   3. GET <gateway>/v1/attestation?nonce=hex(N)  the evidence document
 *   4. expected REPORT_DATA = SHA-512("veil-gateway-attest-v1" || N || SHA-256(K))
 *   5. veil_verify_evidence(evidence, policy + expected REPORT_DATA)
 *   6. accepted -> the configurations in K are the attested ones; requests
 *      are encapsulated to one of them only
 * Any failure forgets the previous verification: the client fails closed. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client/client_internal.h"
#include "common/json_util.h"
#include "crypto/digest.h"
#include "veil/gateway.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/rand.h"
#include "veil/timeutil.h"

#define DEFAULT_TIMEOUT_MS 600000u
#define DEFAULT_MAX_RESPONSE ((size_t)64 << 20)
#define MAX_KEYS_BODY ((size_t)64 << 10)
#define MAX_POLICY ((size_t)256 << 10)

/* ---- options ------------------------------------------------------------------------------ */

static bool copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* host[:port] of an http(s) URL. */
static bool url_authority(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    if (!p)
        return false;
    p += 3;
    size_t n = strcspn(p, "/?#");
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

void veil_client_free(veil_client *c)
{
    if (!c)
        return;
    client_forget(c);
    veil_buf_free(&c->keys);
    veil_buf_free(&c->evidence);
    veil_buf_free(&c->kms_keys);
    veil_buf_free(&c->kms_doc);
    veil_sign_key_free(c->log_key);
    veil_free_wiped(c->policy_text, c->policy_len + 1);
    veil_free_wiped(c, sizeof *c);
}

static veil_result set_gateway(veil_client *c, const char *url)
{
    VEIL_ENSURE(copy_str(c->gateway_url, sizeof c->gateway_url, url), VEIL_E_USAGE,
                "client: the gateway URL is too long");
    for (size_t n = strlen(c->gateway_url); n > 0 && c->gateway_url[n - 1] == '/'; n--)
        c->gateway_url[n - 1] = '\0';
    VEIL_ENSURE(url_authority(c->gateway_url, c->authority, sizeof c->authority), VEIL_E_USAGE,
                "client: the gateway URL has no host");
    return VEIL_OK;
}

/* Flow 2a settings: the KMS, the key's name, the pinned ledger key, the state. */
static veil_result set_kms(veil_client *c, const veil_client_opts *o)
{
    const char *name = o->kms_key ? o->kms_key : "gw";
    VEIL_GUARD(veil_http_url_check(o->kms_url));
    VEIL_ENSURE(o->ledger_key_pem && o->state_file, VEIL_E_USAGE,
                "client: the KMS path needs the ledger's public key (pinned) and a state file");
    VEIL_ENSURE(copy_str(c->kms_url, sizeof c->kms_url, o->kms_url), VEIL_E_USAGE,
                "client: the KMS URL is too long");
    for (size_t n = strlen(c->kms_url); n > 0 && c->kms_url[n - 1] == '/'; n--)
        c->kms_url[n - 1] = '\0';
    VEIL_ENSURE(name[0] &&
                    strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == strlen(name) &&
                    copy_str(c->kms_key, sizeof c->kms_key, name),
                VEIL_E_USAGE, "client: the KMS key name must be [A-Za-z0-9._-], at most 63");
    VEIL_ENSURE(copy_str(c->state_file, sizeof c->state_file, o->state_file), VEIL_E_USAGE,
                "client: the state file path is too long");
    return veil_sign_key_from_pem((const uint8_t *)o->ledger_key_pem, strlen(o->ledger_key_pem),
                                  &c->log_key);
}

veil_result veil_client_new(const veil_client_opts *o, veil_client **out)
{
    veil_result r = VEIL_OK;
    veil_client *c = NULL;
    VEIL_ENSURE(out, VEIL_E_USAGE, "client: missing argument");
    *out = NULL;
    VEIL_ENSURE(o && o->policy_json && (o->gateway_url || o->kms_url), VEIL_E_USAGE,
                "client: a policy and a gateway URL (or a KMS URL) are required");
    VEIL_ENSURE(o->gateway_url || o->relay_url, VEIL_E_USAGE,
                "client: without a gateway URL, requests need a relay URL");
    if (o->gateway_url)
        VEIL_GUARD(veil_http_url_check(o->gateway_url));
    if (o->relay_url)
        VEIL_GUARD(veil_http_url_check(o->relay_url));
    c = veil_calloc(1, sizeof *c);
    VEIL_ENSURE(c, VEIL_E_NOMEM, "client: out of memory");
    veil_buf_init(&c->keys, MAX_KEYS_BODY);
    veil_buf_init(&c->evidence, VEIL_EVIDENCE_MAX_JSON + 65536);
    veil_buf_init(&c->kms_keys, MAX_KEYS_BODY);
    veil_buf_init(&c->kms_doc, (size_t)1 << 20);
    if (o->gateway_url)
        VEIL_TRY(r, set_gateway(c, o->gateway_url));
    if (o->kms_url)
        VEIL_TRY(r, set_kms(c, o));
    c->direct = o->relay_url == NULL;
    if (c->direct) {
        int n =
            snprintf(c->relay_url, sizeof c->relay_url, "%s%s", c->gateway_url, VEIL_GATEWAY_PATH);
        VEIL_ENSURE_GOTO(r, n > 0 && (size_t)n < sizeof c->relay_url, VEIL_E_USAGE,
                         "client: the gateway URL is too long");
    } else {
        VEIL_ENSURE_GOTO(r, copy_str(c->relay_url, sizeof c->relay_url, o->relay_url), VEIL_E_USAGE,
                         "client: the relay URL is too long");
    }

    /* The policy: the user's reference values. */
    c->policy_len = o->policy_len ? o->policy_len : strlen(o->policy_json);
    VEIL_ENSURE_GOTO(r, c->policy_len <= MAX_POLICY, VEIL_E_USAGE, "client: policy too large");
    c->policy_text = veil_calloc(1, c->policy_len + 1);
    VEIL_ENSURE_GOTO(r, c->policy_text, VEIL_E_NOMEM, "client: out of memory");
    memcpy(c->policy_text, o->policy_json, c->policy_len);
    VEIL_TRY(r, veil_snp_policy_parse(c->policy_text, c->policy_len, &c->policy));
    VEIL_ENSURE_GOTO(r, c->policy.n_measurements > 0, VEIL_E_USAGE,
                     "client: the policy accepts any measurement (no \"measurements\" list); "
                     "the client will not send data to code it cannot identify");
    c->verification_time = o->verification_time;

    c->http.connect_timeout_ms = o->connect_timeout_ms;
    c->http.timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    c->http.max_response = o->max_response ? o->max_response : DEFAULT_MAX_RESPONSE;
    if (o->ca_file) {
        VEIL_ENSURE_GOTO(r, copy_str(c->ca_file, sizeof c->ca_file, o->ca_file), VEIL_E_USAGE,
                         "client: the CA file path is too long");
        c->http.ca_file = c->ca_file;
    }
    c->progress = o->progress;
    c->progress_ctx = o->progress_ctx;
    *out = c;
    c = NULL;
out:
    veil_client_free(c);
    return r;
}

void client_forget(veil_client *c)
{
    c->verified = false;
    veil_buf_clear(&c->keys);
    veil_buf_clear(&c->evidence);
    veil_buf_clear(&c->kms_keys);
    veil_buf_clear(&c->kms_doc);
    veil_wipe(c->nonce, sizeof c->nonce);
    veil_wipe(c->cfgs, sizeof c->cfgs);
    c->n_cfgs = c->cfg_index = 0;
    veil_free(c->ear_claims);
    c->ear_claims = NULL;
    c->have_exchange = false;
}

bool veil_client_verified(const veil_client *c) { return c && c->verified; }

/* ---- verification ------------------------------------------------------------------------ */

/* The error for a refused verdict: static text naming the check (the
 * report carries what was seen). */
veil_result client_refusal(veil_check check)
{
    switch (check) {
    case VEIL_CHECK_FORMAT:
        return VEIL_ERR(VEIL_E_PROTOCOL, "attestation refused: format (malformed evidence)");
    case VEIL_CHECK_CHAIN:
        return VEIL_ERR(VEIL_E_PROTOCOL, "attestation refused: chain (no chain to a trusted root)");
    case VEIL_CHECK_VCEK:
        return VEIL_ERR(VEIL_E_PROTOCOL, "attestation refused: vcek (certificate/report mismatch)");
    case VEIL_CHECK_SIGNATURE:
        return VEIL_ERR(VEIL_E_PROTOCOL, "attestation refused: signature (report signature bad)");
    case VEIL_CHECK_SIMULATED:
        return VEIL_ERR(VEIL_E_PROTOCOL,
                        "attestation refused: simulated (a simulated root the policy does not "
                        "trust)");
    case VEIL_CHECK_MEASUREMENT:
        return VEIL_ERR(VEIL_E_PROTOCOL,
                        "attestation refused: measurement (the gateway runs code the policy "
                        "does not accept)");
    case VEIL_CHECK_TCB:
        return VEIL_ERR(VEIL_E_PROTOCOL, "attestation refused: tcb (below the policy minimum)");
    case VEIL_CHECK_DEBUG:
        return VEIL_ERR(VEIL_E_PROTOCOL, "attestation refused: debug (the guest allows debugging)");
    case VEIL_CHECK_POLICY:
        return VEIL_ERR(VEIL_E_PROTOCOL, "attestation refused: policy (guest policy bits)");
    case VEIL_CHECK_VMPL: return VEIL_ERR(VEIL_E_PROTOCOL, "attestation refused: vmpl");
    case VEIL_CHECK_REPORT_DATA:
        return VEIL_ERR(VEIL_E_PROTOCOL,
                        "attestation refused: report_data (not bound to this nonce and these "
                        "keys)");
    case VEIL_CHECK_HOST_DATA: return VEIL_ERR(VEIL_E_PROTOCOL, "attestation refused: host_data");
    case VEIL_CHECK_ID_KEY: return VEIL_ERR(VEIL_E_PROTOCOL, "attestation refused: id_key");
    case VEIL_CHECK_AUTHOR_KEY: return VEIL_ERR(VEIL_E_PROTOCOL, "attestation refused: author_key");
    case VEIL_CHECK_PRODUCT: return VEIL_ERR(VEIL_E_PROTOCOL, "attestation refused: product");
    default: return VEIL_ERR(VEIL_E_PROTOCOL, "attestation refused (the report names the check)");
    }
}

void client_report_fail(veil_client_report *rep, const char *check, const char *what,
                        const char *detail)
{
    rep->accepted = false;
    if (!rep->failed_check[0])
        snprintf(rep->failed_check, sizeof rep->failed_check, "%s", check);
    if (!rep->reason[0])
        snprintf(rep->reason, sizeof rep->reason, "%s%s%s", what, detail ? ": " : "",
                 detail ? detail : "");
}

void client_report_check(veil_client_report *rep, const char *name, bool passed, const char *detail)
{
    if (rep->n_checks >= sizeof rep->checks / sizeof rep->checks[0])
        return;
    snprintf(rep->checks[rep->n_checks].name, sizeof rep->checks[0].name, "%s", name);
    rep->checks[rep->n_checks].passed = passed;
    snprintf(rep->checks[rep->n_checks].detail, sizeof rep->checks[0].detail, "%s", detail);
    rep->n_checks++;
}

/* GET url; 200 with `media_type` required. A failure is reported as `check`
 * ("gateway", "kms"). */
veil_result client_fetch(veil_client *c, const char *url, const char *media_type, size_t max,
                         veil_buf *out, const char *what, const char *check,
                         veil_client_report *rep)
{
    veil_http_client_response resp;
    veil_http_client_opts o = c->http;
    veil_result r;
    o.max_response = max;
    memset(&resp, 0, sizeof resp);
    r = veil_http_get(url, &o, &resp);
    if (!veil_ok(r)) {
        client_report_fail(rep, check, what, veil_http_failure_name(resp.failure));
        r = !strcmp(check, "kms")
                ? VEIL_ERR(VEIL_E_PROTOCOL, "kms: unreachable (key configuration or ledger "
                                            "proof could not be fetched)")
                : VEIL_ERR(VEIL_E_PROTOCOL, "gateway: unreachable (keys or attestation could "
                                            "not be fetched)");
        goto out;
    }
    if (resp.status != 200 || !veil_http_content_type_is(resp.content_type, media_type)) {
        client_report_fail(rep, check, what,
                           resp.status != 200 ? "answered with an error status"
                                              : "answered with the wrong media type");
        r = !strcmp(check, "kms")
                ? VEIL_ERR(VEIL_E_PROTOCOL, "kms: the key configuration or a ledger proof was "
                                            "answered with an error")
                : VEIL_ERR(VEIL_E_PROTOCOL, "gateway: keys or attestation answered with an "
                                            "error");
        goto out;
    }
    r = veil_buf_append(out, resp.body.data, resp.body.len);
out:
    veil_http_client_response_free(&resp);
    return r;
}

void client_fill_report(veil_client_report *rep, const veil_verification *vr)
{
    rep->simulated = vr->verdict.simulated;
    snprintf(rep->status, sizeof rep->status, "%s", veil_ear_status_name(vr->ear.status));
    for (size_t i = 0; i < vr->verdict.n_trace; i++)
        client_report_check(rep, veil_check_name(vr->verdict.trace[i].check),
                            vr->verdict.trace[i].passed, vr->verdict.trace[i].detail);
    if (vr->have_report) {
        veil_hex_encode(vr->report.measurement, 48, rep->measurement);
        bool masked = true;
        for (size_t i = 0; i < sizeof vr->report.chip_id; i++)
            masked &= vr->report.chip_id[i] == 0;
        if (!masked)
            veil_hex_encode(vr->report.chip_id, 64, rep->chip_id);
    }
    if (!veil_verdict_accepted(&vr->verdict)) {
        snprintf(rep->failed_check, sizeof rep->failed_check, "%s",
                 veil_check_name(vr->verdict.failed));
        snprintf(rep->reason, sizeof rep->reason, "%s", vr->verdict.reason);
    }
}

void client_suite_text(const veil_hpke_suite *s, char *out, size_t cap)
{
    const veil_hpke_kem_info *k = veil_hpke_kem_info_get(s->kem);
    snprintf(out, cap, "%s, %s, %s", k ? k->name : "?", veil_hpke_kdf_name(s->kdf),
             veil_hpke_aead_name(s->aead));
}

/* Flow 2b, steps 1-5: the gateway's key list and fresh evidence bound to it.
 * c->keys / c->cfgs get the attested list. */
static veil_result verify_gateway(veil_client *c, veil_client_report *rep, veil_verification *vr,
                                  size_t *n_cfgs)
{
    veil_result r = VEIL_OK;
    veil_snp_policy *p = NULL;
    veil_evidence ev;
    uint8_t keys_sha[32], ev_sha[32], expected[64];
    char url[CLIENT_URL_MAX + 160], nonce_hex[2 * CLIENT_NONCE_LEN + 1];
    size_t skipped = 0;
    veil_evidence_init(&ev);

    /* 1. The key list, exactly as served. */
    snprintf(url, sizeof url, "%s/ohttp-keys", c->gateway_url);
    VEIL_TRY(r, client_fetch(c, url, VEIL_OHTTP_MT_KEYS, MAX_KEYS_BODY, &c->keys,
                             "GET /ohttp-keys failed", "gateway", rep));
    r = veil_ohttp_keys_decode(c->keys.data, c->keys.len, c->cfgs, CLIENT_MAX_CONFIGS, n_cfgs,
                               &skipped);
    if (!veil_ok(r) || *n_cfgs == 0) {
        client_report_fail(rep, "ohttp-key", "the key list is malformed or offers nothing usable",
                           NULL);
        r = VEIL_ERR(VEIL_E_PROTOCOL, "ohttp-key: the gateway's key list is malformed or "
                                      "offers no usable configuration");
        goto out;
    }
    VEIL_TRY(r, veil_sha256(c->keys.data, c->keys.len, keys_sha));
    veil_hex_encode(keys_sha, 32, rep->keys_sha256);

    /* 2-3. Fresh evidence for a fresh nonce. */
    VEIL_TRY(r, veil_random_bytes(c->nonce, sizeof c->nonce));
    veil_hex_encode(c->nonce, sizeof c->nonce, nonce_hex);
    memcpy(rep->nonce, nonce_hex, sizeof nonce_hex);
    snprintf(url, sizeof url, "%s/v1/attestation?nonce=%s", c->gateway_url, nonce_hex);
    VEIL_TRY(r, client_fetch(c, url, VEIL_HTTP_MT_JSON, VEIL_EVIDENCE_MAX_JSON + 65536,
                             &c->evidence, "GET /v1/attestation failed", "gateway", rep));
    VEIL_TRY(r, veil_sha256(c->evidence.data, c->evidence.len, ev_sha));
    veil_hex_encode(ev_sha, 32, rep->evidence_sha256);
    r = veil_evidence_parse(c->evidence.data, c->evidence.len, &ev);
    if (!veil_ok(r)) {
        client_report_fail(rep, "format", "the evidence bundle is malformed", r.msg);
        r = client_refusal(VEIL_CHECK_FORMAT);
        goto out;
    }
    snprintf(rep->tee, sizeof rep->tee, "%s", ev.tee);

    /* 4-5. The user's policy, with REPORT_DATA pinned to this nonce and key list. */
    VEIL_TRY(r, veil_gateway_report_data(c->nonce, sizeof c->nonce, keys_sha, expected));
    p = veil_calloc(1, sizeof *p);
    VEIL_ENSURE_GOTO(r, p, VEIL_E_NOMEM, "client: out of memory");
    *p = c->policy;
    p->have_report_data = true;
    memcpy(p->report_data, expected, sizeof expected);
    VEIL_TRY(r, veil_verify_evidence(&ev, p, c->verification_time, vr));
    client_fill_report(rep, vr);
    if (!veil_verdict_accepted(&vr->verdict))
        r = client_refusal(vr->verdict.failed);
out:
    veil_evidence_free(&ev);
    veil_free_wiped(p, p ? sizeof *p : 0);
    return r;
}

/* Both flows: keep only the attested configurations that the KMS published
 * with receipts (byte for byte). */
static veil_result keep_receipted(veil_client *c, size_t *n_cfgs, veil_client_report *rep)
{
    veil_ohttp_keyconfig kms[CLIENT_MAX_CONFIGS];
    size_t n_kms = 0, skipped = 0, kept = 0;
    veil_result r = veil_ohttp_keys_decode(c->kms_keys.data, c->kms_keys.len, kms,
                                           CLIENT_MAX_CONFIGS, &n_kms, &skipped);
    for (size_t i = 0; veil_ok(r) && i < *n_cfgs; i++) {
        bool found = false;
        for (size_t j = 0; j < n_kms && !found; j++)
            found = veil_ohttp_keyconfig_equal(&c->cfgs[i], &kms[j]);
        if (found)
            c->cfgs[kept++] = c->cfgs[i];
    }
    veil_wipe(kms, sizeof kms);
    if (!veil_ok(r) || kept == 0) {
        client_report_fail(rep, "receipt",
                           "none of the gateway's attested keys is a configuration the KMS "
                           "published with a receipt",
                           NULL);
        return VEIL_ERR(VEIL_E_PROTOCOL, "receipt: the gateway's attested keys are not in the "
                                         "KMS's ledger");
    }
    *n_cfgs = kept;
    client_report_check(rep, "kms-gateway-keys", true,
                        "the attested key configuration is the one the KMS published");
    return VEIL_OK;
}

/* KMS only: the receipted configurations are the ones to use. */
static veil_result use_receipted(veil_client *c, size_t *n_cfgs, veil_client_report *rep)
{
    size_t skipped = 0;
    uint8_t sha[32];
    VEIL_GUARD(veil_buf_append(&c->keys, c->kms_keys.data, c->kms_keys.len));
    VEIL_GUARD(veil_ohttp_keys_decode(c->keys.data, c->keys.len, c->cfgs, CLIENT_MAX_CONFIGS,
                                      n_cfgs, &skipped));
    VEIL_GUARD(veil_sha256(c->keys.data, c->keys.len, sha));
    veil_hex_encode(sha, 32, rep->keys_sha256);
    snprintf(rep->status, sizeof rep->status, "%s", "receipted");
    return VEIL_OK;
}

static veil_result verify_all(veil_client *c, veil_client_report *rep, veil_verification *vr)
{
    size_t n_cfgs = 0;
    if (c->kms_url[0])
        VEIL_GUARD(client_kms_verify(c, rep));
    if (c->gateway_url[0]) {
        VEIL_GUARD(verify_gateway(c, rep, vr, &n_cfgs));
        if (c->kms_url[0])
            VEIL_GUARD(keep_receipted(c, &n_cfgs, rep));
    } else {
        VEIL_GUARD(use_receipted(c, &n_cfgs, rep));
    }

    /* 6. Requests go only to a verified configuration. */
    if (!veil_ok(veil_ohttp_select(c->cfgs, n_cfgs, &c->cfg_index, &c->suite))) {
        client_report_fail(rep, "ohttp-key",
                           "no verified key configuration offers a supported suite", NULL);
        return VEIL_ERR(VEIL_E_UNSUPPORTED, "ohttp-key: no verified key configuration offers a "
                                            "suite veil supports");
    }
    c->n_cfgs = n_cfgs;
    rep->key_id = c->cfgs[c->cfg_index].key_id;
    client_suite_text(&c->suite, rep->suite, sizeof rep->suite);
    if (vr->ear.claims_json) {
        size_t n = strlen(vr->ear.claims_json);
        c->ear_claims = veil_calloc(1, n + 1);
        VEIL_ENSURE(c->ear_claims, VEIL_E_NOMEM, "client: out of memory");
        memcpy(c->ear_claims, vr->ear.claims_json, n);
    }
    return VEIL_OK;
}

veil_result veil_client_verify(veil_client *c, veil_client_report *report)
{
    veil_client_report local;
    veil_client_report *rep = report ? report : &local;
    veil_verification vr;

    memset(rep, 0, sizeof *rep);
    memset(&vr, 0, sizeof vr);
    VEIL_ENSURE(c, VEIL_E_USAGE, "client: missing argument");
    client_forget(c);
    snprintf(rep->policy_id, sizeof rep->policy_id, "%s", c->policy.id);
    rep->verified_at = c->verification_time ? c->verification_time : (int64_t)time(NULL);
    veil_result r = verify_all(c, rep, &vr);
    if (veil_ok(r)) {
        rep->accepted = true;
        rep->failed_check[0] = '\0';
        rep->reason[0] = '\0';
        c->verified = true;
    } else {
        client_forget(c);
        rep->accepted = false;
        if (!rep->failed_check[0])
            snprintf(rep->failed_check, sizeof rep->failed_check, "%s", "internal");
        if (!rep->reason[0])
            snprintf(rep->reason, sizeof rep->reason, "%s", r.msg ? r.msg : "failed");
    }
    veil_verification_free(&vr);
    return r;
}

/* ---- the report ----------------------------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static veil_result put(veil_buf *out, const char *fmt, ...)
{
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    VEIL_ENSURE(n >= 0, VEIL_E_INTERNAL, "client: format failed");
    return veil_buf_append(out, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

veil_result veil_client_report_text(const veil_client_report *rep, veil_buf *out)
{
    veil_result r = VEIL_OK;
    char when[21];
    VEIL_ENSURE(rep && out, VEIL_E_USAGE, "client: missing argument");
    veil_time_format(rep->verified_at, when);
    if (rep->accepted && rep->tee[0])
        VEIL_TRY(r, put(out, "gateway attestation: VERIFIED (%s)%s\n", rep->status,
                        rep->kms_receipts ? "; KMS receipts: VERIFIED" : ""));
    else if (rep->accepted)
        VEIL_TRY(r, put(out, "KMS receipts: VERIFIED (no gateway attestation asked for)\n"));
    else
        VEIL_TRY(r, put(out, "verification: REFUSED at check \"%s\": %s\n", rep->failed_check,
                        rep->reason));
    if (rep->tee[0])
        VEIL_TRY(r, put(out, "  tee              %s%s\n", rep->tee,
                        rep->simulated ? " (SIMULATED: no hardware protection, no "
                                         "confidentiality)"
                                       : ""));
    if (rep->measurement[0])
        VEIL_TRY(r, put(out, "  measurement      %s\n", rep->measurement));
    VEIL_TRY(r, put(out, "  policy           %s\n", rep->policy_id));
    if (rep->keys_sha256[0])
        VEIL_TRY(r, put(out, "  key config       sha256:%s\n", rep->keys_sha256));
    if (rep->accepted)
        VEIL_TRY(r, put(out, "  encrypting to    key id %u, %s\n", rep->key_id, rep->suite));
    if (rep->evidence_sha256[0])
        VEIL_TRY(r, put(out, "  evidence         sha256:%s\n", rep->evidence_sha256));
    if (rep->kms_receipts)
        VEIL_TRY(r, put(out,
                        "  ledger           log %s, tree size %llu, %u receipts\n"
                        "  release policy   sha256:%s (its ledger entry)\n",
                        rep->kms_log_id, (unsigned long long)rep->kms_tree_size, rep->kms_receipts,
                        rep->kms_policy_sha256));
    if (rep->nonce[0])
        VEIL_TRY(r, put(out, "  fresh nonce      %s\n", rep->nonce));
    VEIL_TRY(r, put(out, "  verified at      %s\n", when));
    for (size_t i = 0; i < rep->n_checks; i++)
        VEIL_TRY(r, put(out, "    %-4s %-18s %s\n", rep->checks[i].passed ? "ok" : "FAIL",
                        rep->checks[i].name, rep->checks[i].detail));
out:
    return r;
}

veil_result veil_client_report_json(const veil_client_report *rep, veil_buf *out)
{
    veil_result r = VEIL_OK;
    char *text = NULL;
    json_t *checks = json_array(), *o = NULL;
    VEIL_ENSURE_GOTO(r, rep && out && checks, VEIL_E_USAGE, "client: missing argument");
    for (size_t i = 0; i < rep->n_checks; i++)
        json_array_append_new(checks,
                              json_pack("{s:s,s:b,s:s}", "check", rep->checks[i].name, "passed",
                                        rep->checks[i].passed, "detail", rep->checks[i].detail));
    o = json_pack("{s:s,s:s,s:b,s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "verdict",
                  rep->accepted ? "accepted" : "refused", "tee", rep->tee, "simulated",
                  rep->simulated, "status", rep->status, "measurement", rep->measurement,
                  "policy_id", rep->policy_id, "keys_sha256", rep->keys_sha256, "evidence_sha256",
                  rep->evidence_sha256, "nonce", rep->nonce, "verified_at",
                  (json_int_t)rep->verified_at);
    VEIL_ENSURE_GOTO(r, o, VEIL_E_NOMEM, "client: out of memory");
    json_object_set(o, "checks", checks);
    if (rep->accepted) {
        json_object_set_new(o, "key_id", json_integer(rep->key_id));
        json_object_set_new(o, "suite", json_string(rep->suite));
    } else {
        json_object_set_new(o, "failed_check", json_string(rep->failed_check));
        json_object_set_new(o, "reason", json_string(rep->reason));
    }
    if (rep->chip_id[0])
        json_object_set_new(o, "chip_id", json_string(rep->chip_id));
    if (rep->kms_receipts)
        json_object_set_new(o, "kms",
                            json_pack("{s:s,s:I,s:i,s:s}", "log_id", rep->kms_log_id, "tree_size",
                                      (json_int_t)rep->kms_tree_size, "receipts",
                                      (int)rep->kms_receipts, "release_policy_sha256",
                                      rep->kms_policy_sha256));
    text = veil_json_dump(o);
    VEIL_ENSURE_GOTO(r, text, VEIL_E_NOMEM, "client: out of memory");
    VEIL_TRY(r, veil_buf_append(out, text, strlen(text)));
out:
    veil_free(text);
    json_decref(o);
    json_decref(checks);
    return r;
}
